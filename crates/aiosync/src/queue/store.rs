//! Where a queue keeps its items: FIFO, LIFO, or any [`Container`] (the priority heap).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The items of one queue, in the order gets take them.
pub(super) enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Other(Box<dyn Container<T>>),
}

/// Any ordering a queue can keep (the priority queue is one).
pub(super) trait Container<T>: Send {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    fn take_all(&mut self) -> Vec<T>;
}

impl<T: Ord + Send> Container<T> for BinaryHeap<Reverse<T>> {
    fn push(&mut self, item: T) {
        BinaryHeap::push(self, Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
    fn take_all(&mut self) -> Vec<T> {
        self.drain().map(|Reverse(v)| v).collect()
    }
}

impl<T> Store<T> {
    #[inline]
    pub(super) fn push(&mut self, item: T) {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(v) => v.push(item),
            Store::Other(c) => c.push(item),
        }
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
}
