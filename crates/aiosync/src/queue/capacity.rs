//! The queue's places: storing and taking items, and a bound that changes in use (Q1, Q2).

use super::{capacity, Inner, PutError, Queue, QueueShutDown};
use crate::kernel::semaphore::MAX_PERMITS;
use crate::kernel::Wakers;
use crate::sync::{lock, Ordering};

impl<T> Queue<T> {
    /// Changes the bound (0: unbounded).
    ///
    /// Growing makes room at once: waiting putters are served, in FIFO order, as far as
    /// the new room goes. Shrinking keeps every item already in the queue; from then on a
    /// put waits until fewer than `maxsize` items are stored (the places of the items
    /// taken out are kept back until the queue is under its new bound). A put already
    /// handed its place when the bound shrank still completes.
    ///
    /// # Panics
    /// If `maxsize` exceeds [`MAX_PERMITS`].
    ///
    /// ```
    /// use aiosync::{Queue, TryPutError};
    /// let q = Queue::new(3);
    /// for v in [1, 2, 3] {
    ///     q.try_put(v).unwrap();
    /// }
    /// q.set_maxsize(2); // the three items stay
    /// assert_eq!(q.try_get(), Ok(1));
    /// assert!(matches!(q.try_put(4), Err(TryPutError::Full(4)))); // two left: full
    /// q.set_maxsize(0); // unbounded
    /// q.try_put(4).unwrap();
    /// assert_eq!(q.len(), 3);
    /// ```
    pub fn set_maxsize(&self, maxsize: usize) {
        assert!(maxsize <= MAX_PERMITS, "maxsize too large");
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            // Q1: the capacity changes under the queue's lock only.
            let old = capacity(self.maxsize.load(Ordering::Relaxed));
            let new = capacity(maxsize);
            self.maxsize.store(maxsize, Ordering::Release);
            if new > old {
                // Q2: the new room pays what is owed first; the rest wakes putters (FIFO,
                // served from the head of the slots' list).
                self.free_places(&mut inner, new - old, &mut wakers);
            } else if new < old {
                let cut = old - new;
                // Free places go now (a putter woken for one finds none and waits
                // again); places held by items or handed to putters are owed (Q2).
                let taken = self.slots.drain_up_to(cut);
                inner.owed += cut - taken;
            }
        }
        // I4: (1) the queue's guard ended with its block; (2) `set_maxsize` holds no
        // other lock.
        wakers.wake_all();
    }

    /// `n` places come back: what is owed is paid first (Q2), the rest is freed. Caller
    /// holds the queue's lock (and calls the wakers once it is released, I4).
    #[inline]
    pub(super) fn free_places(&self, inner: &mut Inner<T>, n: usize, wakers: &mut Wakers) {
        let kept = n.min(inner.owed);
        inner.owed -= kept;
        if n > kept {
            self.slots.release_collect(n - kept, wakers);
        }
    }

    /// `n` places handed to a put that went away without using them come back (Q2).
    pub(super) fn return_places(&self, n: usize) {
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            self.free_places(&mut inner, n, &mut wakers);
        }
        // I4: (1) the queue's guard ended with its block; (2) a put's drop holds no lock.
        wakers.wake_all();
    }

    /// Stores an item whose place is already reserved. On failure the place comes back
    /// and the queue is as it was.
    #[inline]
    pub(super) fn insert(&self, item: T) -> Result<(), PutError<T>> {
        let mut wakers = Wakers::new();
        let r = {
            let mut inner = lock(&self.inner);
            let r = if inner.shutdown {
                Err(PutError::ShutDown(item))
            } else {
                inner.store.push(item).map_err(PutError::Unordered)
            };
            match r {
                Ok(()) => {
                    inner.unfinished += 1;
                    // Q3: announced while still under the lock, so a shutdown never finds
                    // an item stored but not yet announced (its getters would give up
                    // while it waits); the wakers run after the lock is released.
                    self.items.release_collect(1, &mut wakers);
                }
                // Q1, Q2: the place goes back (or pays what is owed).
                Err(_) => self.free_places(&mut inner, 1, &mut wakers),
            }
            r
        };
        // I4: (1) the queue's guard and the lists' guards (inside `release_collect`) have
        // all ended; (2) a put holds no other lock.
        wakers.wake_all();
        r
    }

    /// Takes an item whose permit was acquired.
    #[inline]
    pub(super) fn remove(&self) -> Result<T, QueueShutDown> {
        let mut wakers = Wakers::new();
        let item = {
            let mut inner = lock(&self.inner);
            let item = inner.store.pop();
            if item.is_some() {
                // Q2: under the lock, so a shrink running now sees this place either
                // still held or already back, never in between.
                self.free_places(&mut inner, 1, &mut wakers);
            }
            item
        };
        // I4: (1) the queue's guard ended with its block; (2) a get holds no other lock.
        wakers.wake_all();
        // None: an immediate shutdown emptied the queue under us.
        item.ok_or(QueueShutDown(()))
    }
}
