//! The queue's places: storing and taking items, and a bound that changes in use (Q1, Q2).

use super::store::Refused;
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
            let mut inner = self.locked();
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
    /// and the queue is as it was; so it is when the comparator panics, and the panic
    /// goes on once the queue's lock is released (the item dropped after it too).
    #[inline]
    pub(super) fn insert(&self, item: T) -> Result<(), PutError<T>> {
        let mut wakers = Wakers::new();
        let (r, panic) = {
            let mut inner = lock(&self.inner);
            let (r, panic) = if inner.shutdown {
                (Err(PutError::ShutDown(item)), None)
            } else {
                match inner.store.push(item, &self.reentry) {
                    Ok(()) => (Ok(()), None),
                    Err(Refused::Unordered(item)) => (Err(PutError::Unordered(item)), None),
                    // The item rides out of the lock as a refusal; the panic goes on then.
                    Err(Refused::Panicked(item, p)) => (Err(PutError::Unordered(item)), Some(p)),
                }
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
            self.settle_given_back(&mut inner, &mut wakers);
            (r, panic)
        };
        // I4: (1) the queue's guard and the lists' guards (inside `release_collect`) have
        // all ended; (2) a put holds no other lock.
        wakers.wake_all();
        if let Some(p) = panic {
            drop(r);
            std::panic::resume_unwind(p);
        }
        r
    }

    /// Takes an item whose permit was acquired. If the comparator panics, nothing is
    /// taken, the permit is given back, and the panic goes on once the lock is released.
    #[inline]
    pub(super) fn remove(&self) -> Result<T, QueueShutDown> {
        let mut wakers = Wakers::new();
        let (item, panic) = {
            let mut inner = lock(&self.inner);
            let (item, panic) = match inner.store.pop(&self.reentry) {
                Ok(item) => (item, None),
                Err(p) => (None, Some(p)),
            };
            if item.is_some() {
                // Q2: under the lock, so a shrink running now sees this place either
                // still held or already back, never in between.
                self.free_places(&mut inner, 1, &mut wakers);
            } else if panic.is_some() {
                // Q3: the item is still stored, so it is announced again (the next getter
                // may take it).
                self.items.release_collect(1, &mut wakers);
            }
            self.settle_given_back(&mut inner, &mut wakers);
            (item, panic)
        };
        // I4: (1) the queue's guard ended with its block; (2) a get holds no other lock.
        wakers.wake_all();
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        // None: an immediate shutdown emptied the queue under us.
        item.ok_or(QueueShutDown(()))
    }

    /// Returns the places a put dropped inside the comparator gave back (Q1, Q2): the
    /// comparator runs only inside `insert` and `remove`, which call this before they
    /// release the lock. Caller holds the queue's lock.
    #[inline]
    fn settle_given_back(&self, inner: &mut Inner<T>, wakers: &mut Wakers) {
        let n = self.reentry.take_given_back();
        if n > 0 {
            self.free_places(inner, n, wakers);
        }
    }
}
