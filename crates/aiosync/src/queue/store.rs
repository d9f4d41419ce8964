//! Where a queue keeps its items: FIFO, LIFO, or any [`Container`] (the priority heap).

use super::reentry::{Panic, Reentry};
use std::cmp::Ordering;
use std::collections::VecDeque;

/// The items of one queue, in the order gets take them.
pub(super) enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Other(Box<dyn Container<T>>),
}

/// Why a container did not store an item; either way it is as it was, and the item comes
/// back.
pub(super) enum Refused<T> {
    /// The comparator could not order it with an item it met.
    Unordered(T),
    /// The comparator panicked (caught, to be resumed once the queue is right again).
    Panicked(T, Panic),
}

/// Any ordering a queue can keep (the priority queue is one). A container that runs user
/// code while the queue is locked (a comparator) runs it inside [`Reentry::compare`], and
/// leaves itself unchanged when that code panics.
pub(super) trait Container<T>: Send {
    /// Stores `item`, or gives it back, the container unchanged, if it cannot be placed.
    fn push(&mut self, item: T, reentry: &Reentry) -> Result<(), Refused<T>>;
    /// Takes the first item out, or, if the comparator panicked, nothing (the container
    /// unchanged) and the panic.
    fn pop(&mut self, reentry: &Reentry) -> Result<Option<T>, Panic>;
    fn len(&self) -> usize;
    fn take_all(&mut self) -> Vec<T>;
    /// Visits the items in storage order.
    fn for_each(&self, f: &mut dyn FnMut(&T));
}

/// A binary min-heap ordered by a comparator that may fail (Python's `heapq` with `<`):
/// only whether the comparator says `Some(Less)` matters, and `None` means "these two
/// cannot be compared".
///
/// Every comparison of a push or a pop comes before anything moves, so a comparator that
/// panics (or refuses an item) leaves the heap as it was.
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
    fn less(&self, a: &T, b: &T) -> bool {
        (self.cmp)(a, b) == Some(Ordering::Less)
    }

    /// Where a new `item` would settle: the ancestors of the new slot are the ones a
    /// sift-up meets, in that order (moving them down the path does not change who sits
    /// above). `None` if one of them cannot be compared with it. Moves nothing.
    fn settles_at(&self, item: &T) -> Option<usize> {
        let mut pos = self.items.len();
        while pos > 0 {
            let parent = (pos - 1) / 2;
            match (self.cmp)(item, &self.items[parent]) {
                Some(Ordering::Less) => pos = parent,
                Some(_) => break,
                None => return None,
            }
        }
        Some(pos)
    }

    /// Where the last item would settle once moved to the root in place of the first (a
    /// sift-down over the other `len - 1` items, the same comparisons in the same order).
    /// Moves nothing: the children a sift-down meets are still in their own places, and
    /// the item moving down is compared where it lies now.
    fn sinks_to(&self) -> usize {
        let len = self.items.len() - 1;
        let moving = &self.items[len];
        let mut pos = 0;
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                return pos;
            }
            let right = left + 1;
            let child = if right < len && self.less(&self.items[right], &self.items[left]) {
                right
            } else {
                left
            };
            if !self.less(&self.items[child], moving) {
                return pos;
            }
            pos = child;
        }
    }
}

impl<T, F> Container<T> for Heap<T, F>
where
    T: Send,
    F: Fn(&T, &T) -> Option<Ordering> + Send,
{
    fn push(&mut self, item: T, reentry: &Reentry) -> Result<(), Refused<T>> {
        // Every comparison first, nothing moved yet: one that fails (or panics) leaves
        // the heap as it was.
        let pos = match reentry.compare(|| self.settles_at(&item)) {
            Ok(Some(pos)) => pos,
            Ok(None) => return Err(Refused::Unordered(item)),
            Err(panic) => return Err(Refused::Panicked(item, panic)),
        };
        self.items.push(item);
        let mut hole = self.items.len() - 1;
        while hole > pos {
            let parent = (hole - 1) / 2;
            self.items.swap(hole, parent);
            hole = parent;
        }
        Ok(())
    }

    fn pop(&mut self, reentry: &Reentry) -> Result<Option<T>, Panic> {
        if self.items.len() <= 1 {
            return Ok(self.items.pop());
        }
        // Every comparison first (the root's place is known before anything moves), so a
        // comparator that panics loses no item and leaves the order as it was.
        let end = reentry.compare(|| self.sinks_to())?;
        let top = self.items.swap_remove(0);
        // The last item, now at the root, goes down the path from the root to `end`, each
        // item on it moving up one level: the path is the ancestors of `end`, read from
        // the bits of `end + 1` below its highest.
        let node = end + 1;
        let depth = usize::BITS - 1 - node.leading_zeros();
        let mut pos = 0;
        for level in (0..depth).rev() {
            let child = (node >> level) - 1;
            self.items.swap(pos, child);
            pos = child;
        }
        Ok(Some(top))
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
    pub(super) fn push(&mut self, item: T, reentry: &Reentry) -> Result<(), Refused<T>> {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(v) => v.push(item),
            Store::Other(c) => return c.push(item, reentry),
        }
        Ok(())
    }
    /// Takes the first item; only a priority heap's comparator may panic (then nothing
    /// was taken).
    #[inline]
    pub(super) fn pop(&mut self, reentry: &Reentry) -> Result<Option<T>, Panic> {
        Ok(match self {
            Store::Fifo(q) => q.pop_front(),
            Store::Lifo(v) => v.pop(),
            Store::Other(c) => return c.pop(reentry),
        })
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
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    type Cmp = fn(&f64, &f64) -> Option<Ordering>;

    fn heap() -> Heap<f64, Cmp> {
        Heap::new(f64::partial_cmp)
    }

    fn drain<F: Fn(&f64, &f64) -> Option<Ordering> + Send>(h: &mut Heap<f64, F>) -> Vec<f64> {
        let r = Reentry::new();
        std::iter::from_fn(|| h.pop(&r).ok().flatten()).collect()
    }

    #[test]
    fn pops_smallest_first() {
        let (mut h, r) = (heap(), Reentry::new());
        for v in [5.0, 1.0, 4.0, 2.0, 3.0, 0.5, 7.0, 6.0, 0.0] {
            assert!(h.push(v, &r).is_ok());
        }
        assert_eq!(drain(&mut h), [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn a_refused_item_leaves_the_heap_as_it_was() {
        let (mut h, r) = (heap(), Reentry::new());
        for v in [3.0, 1.0, 2.0, 0.0] {
            assert!(h.push(v, &r).is_ok());
        }
        let before = h.items.clone();
        assert!(matches!(h.push(f64::NAN, &r), Err(Refused::Unordered(v)) if v.is_nan()));
        assert_eq!(h.items, before);
        // The first item meets no comparison: a heap of one NaN is accepted.
        let mut single = heap();
        assert!(single.push(f64::NAN, &r).is_ok());
    }

    #[test]
    fn a_comparator_that_panics_in_a_pop_moves_nothing() {
        let left = AtomicUsize::new(usize::MAX);
        let mut h = Heap::new(|a: &f64, b: &f64| {
            let n = left
                .load(Relaxed)
                .checked_sub(1)
                .expect("no comparisons left");
            left.store(n, Relaxed);
            a.partial_cmp(b)
        });
        let r = Reentry::new();
        for v in 0..40 {
            assert!(h.push(f64::from((v * 17) % 40), &r).is_ok());
        }
        for n in 0..8 {
            let before = h.items.clone();
            left.store(n, Relaxed);
            assert!(h.pop(&r).is_err(), "panics on comparison {n}");
            assert_eq!(h.items, before);
        }
        left.store(usize::MAX, Relaxed);
        assert_eq!(drain(&mut h), (0..40).map(f64::from).collect::<Vec<_>>());
    }
}
