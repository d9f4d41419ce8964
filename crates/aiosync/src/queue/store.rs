//! Where a queue keeps its items: FIFO, LIFO, or any [`Container`] (the priority heap).

use std::cmp::Ordering;
use std::collections::VecDeque;

/// The items of one queue, in the order gets take them.
pub(super) enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Other(Box<dyn Container<T>>),
}

/// Any ordering a queue can keep (the priority queue is one).
pub(super) trait Container<T>: Send {
    /// Stores `item`, or gives it back, the container unchanged, if it cannot be placed.
    fn push(&mut self, item: T) -> Result<(), T>;
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    fn take_all(&mut self) -> Vec<T>;
    /// Visits the items in storage order.
    fn for_each(&self, f: &mut dyn FnMut(&T));
}

/// A binary min-heap ordered by a comparator that may fail (Python's `heapq` with `<`):
/// only whether the comparator says `Some(Less)` matters, and `None` means "these two
/// cannot be compared".
pub(super) struct Heap<T, F> {
    items: Vec<T>,
    cmp: F,
}

impl<T, F> Heap<T, F>
where
    F: Fn(&T, &T) -> Option<Ordering>,
{
    pub(super) fn new(cmp: F) -> Self {
        Heap {
            items: Vec::new(),
            cmp,
        }
    }

    /// `a` goes before `b`. A pair that cannot be compared stays where it is (only `pop`
    /// asks this way: every item there was already accepted).
    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        (self.cmp)(&self.items[a], &self.items[b]) == Some(Ordering::Less)
    }

    fn sift_down(&mut self, mut pos: usize) {
        let len = self.items.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                return;
            }
            let right = left + 1;
            let child = if right < len && self.less(right, left) {
                right
            } else {
                left
            };
            if !self.less(child, pos) {
                return;
            }
            self.items.swap(child, pos);
            pos = child;
        }
    }
}

impl<T, F> Container<T> for Heap<T, F>
where
    T: Send,
    F: Fn(&T, &T) -> Option<Ordering> + Send,
{
    fn push(&mut self, item: T) -> Result<(), T> {
        // Every comparison first, nothing moved yet: one that fails leaves the heap as it
        // was. The ancestors of the new slot are the ones a sift-up meets, in that order
        // (moving them down the path does not change who sits above).
        let mut pos = self.items.len();
        while pos > 0 {
            let parent = (pos - 1) / 2;
            match (self.cmp)(&item, &self.items[parent]) {
                Some(Ordering::Less) => pos = parent,
                Some(_) => break,
                None => return Err(item),
            }
        }
        self.items.push(item);
        let mut hole = self.items.len() - 1;
        while hole > pos {
            let parent = (hole - 1) / 2;
            self.items.swap(hole, parent);
            hole = parent;
        }
        Ok(())
    }

    fn pop(&mut self) -> Option<T> {
        let last = self.items.pop()?;
        if self.items.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.items[0], last);
        self.sift_down(0);
        Some(top)
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }

    fn for_each(&self, f: &mut dyn FnMut(&T)) {
        self.items.iter().for_each(f)
    }
}

impl<T> Store<T> {
    /// Stores `item`; only a priority heap may refuse it (and give it back).
    #[inline]
    pub(super) fn push(&mut self, item: T) -> Result<(), T> {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(v) => v.push(item),
            Store::Other(c) => return c.push(item),
        }
        Ok(())
    }
    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        match self {
            Store::Fifo(q) => q.pop_front(),
            Store::Lifo(v) => v.pop(),
            Store::Other(c) => c.pop(),
        }
    }
    pub(super) fn len(&self) -> usize {
        match self {
            Store::Fifo(q) => q.len(),
            Store::Lifo(v) => v.len(),
            Store::Other(c) => c.len(),
        }
    }
    pub(super) fn take_all(&mut self) -> Vec<T> {
        match self {
            Store::Fifo(q) => q.drain(..).collect(),
            Store::Lifo(v) => std::mem::take(v),
            Store::Other(c) => c.take_all(),
        }
    }
    /// Visits the items in storage order: get order (FIFO), put order (LIFO), heap order.
    pub(super) fn for_each(&self, mut f: impl FnMut(&T)) {
        match self {
            Store::Fifo(q) => q.iter().for_each(f),
            Store::Lifo(v) => v.iter().for_each(f),
            Store::Other(c) => c.for_each(&mut f),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    type Cmp = fn(&f64, &f64) -> Option<Ordering>;

    fn heap() -> Heap<f64, Cmp> {
        Heap::new(f64::partial_cmp)
    }

    #[test]
    fn pops_smallest_first() {
        let mut h = heap();
        for v in [5.0, 1.0, 4.0, 2.0, 3.0, 0.5] {
            h.push(v).unwrap();
        }
        let out: Vec<f64> = std::iter::from_fn(|| h.pop()).collect();
        assert_eq!(out, [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn a_refused_item_leaves_the_heap_as_it_was() {
        let mut h = heap();
        for v in [3.0, 1.0, 2.0, 0.0] {
            h.push(v).unwrap();
        }
        let before = h.items.clone();
        assert!(h.push(f64::NAN).unwrap_err().is_nan());
        assert_eq!(h.items, before);
        // The first item meets no comparison: a heap of one NaN is accepted.
        let mut single = heap();
        assert!(single.push(f64::NAN).is_ok());
    }
}
