//! Puts, gets, `task_done` and `join`, in their async, blocking and `try_` forms.

use super::TryPutError;
use super::{Get, Join, Put, PutError, Queue, QueueShutDown, TaskDoneError, TryGetError};
use crate::kernel::listener::Listener;
use crate::kernel::semaphore::Refused;
use crate::kernel::{block, NodeState, Wakers};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

impl<T> Queue<T> {
    /// Puts an item, waiting asynchronously while the queue is full.
    ///
    /// # Errors
    /// [`PutError::ShutDown`] with the item if the queue is (or gets) shut down;
    /// [`PutError::Unordered`] if a priority queue's comparator refuses it
    /// ([`Queue::priority_by`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a put dropped before it completes has not inserted its item (it is
    /// dropped with the future), and its place in line, or a place handed to it, goes to
    /// the next putter.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = aiosync::Queue::new(1);
    /// q.put("a").await.unwrap();
    /// assert!(q.is_full());
    /// # });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put::new(self, item)
    }

    /// Puts an item, blocking the current thread while the queue is full.
    ///
    /// # Errors
    /// As [`Queue::put`].
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// q.put_blocking(1).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
        match self.put_until(item, None) {
            Ok(r) => r,
            Err(_) => unreachable!("a put without a deadline does not time out"),
        }
    }

    /// Puts an item, blocking the current thread for at most `timeout` while the queue is
    /// full. `TryPutError::Full` means the time ran out.
    ///
    /// ```
    /// use aiosync::TryPutError;
    /// use std::time::Duration;
    /// let q = aiosync::Queue::new(1);
    /// q.put_blocking(1).unwrap();
    /// assert!(matches!(q.put_blocking_timeout(2, Duration::from_millis(1)), Err(TryPutError::Full(2))));
    /// ```
    pub fn put_blocking_timeout(&self, item: T, timeout: Duration) -> Result<(), TryPutError<T>> {
        match self.put_until(item, Some(timeout)) {
            Ok(r) => r.map_err(TryPutError::from),
            Err(item) => Err(TryPutError::Full(item)),
        }
    }

    /// A blocking put: `Ok` with its outcome, or `Err` with the item when `timeout` ran
    /// out.
    fn put_until(&self, item: T, timeout: Option<Duration>) -> Result<Result<(), PutError<T>>, T> {
        // Q4: before a place is taken (a panic then leaves nothing behind).
        self.reentry.check();
        if self.is_shutdown() {
            return Ok(Err(PutError::ShutDown(item)));
        }
        if self.slots.try_acquire_spinning(1) {
            return Ok(self.insert(item));
        }
        // The put future itself, driven on this thread: on timeout it is dropped, and a
        // place handed to it meanwhile comes back through the queue (Q2).
        let deadline = timeout.and_then(block::deadline);
        let mut put = Put::new(self, item);
        match block::block_on(
            std::future::poll_fn(|cx| Pin::new(&mut put).poll(cx)),
            deadline,
        ) {
            Some(r) => Ok(r),
            None => Err(put.take_item()),
        }
    }

    /// Puts an item if there is room at once (and nobody is waiting for room).
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err()); // full
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        // Q4: before a place is taken.
        self.reentry.check();
        if self.is_shutdown() {
            return Err(TryPutError::ShutDown(item));
        }
        if !self.slots.try_acquire(1) {
            return Err(TryPutError::Full(item));
        }
        self.insert(item).map_err(TryPutError::from)
    }

    /// Takes an item, waiting asynchronously while the queue is empty.
    ///
    /// # Errors
    /// [`QueueShutDown`] once the queue is shut down and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is removed only by a get that completes, so dropping the
    /// future never loses one; if an item had been earmarked for it, the next getter is
    /// woken for it.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = aiosync::Queue::new(0);
    /// q.put(5).await.unwrap();
    /// assert_eq!(q.get().await, Ok(5));
    /// # });
    /// ```
    pub fn get(&self) -> Get<'_, T> {
        Get::new(self)
    }

    /// Takes an item, blocking the current thread while the queue is empty.
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.get_blocking(), Ok(1));
    /// ```
    pub fn get_blocking(&self) -> Result<T, QueueShutDown> {
        self.get_blocking_timeout_inner(None)
            .map_err(|_| QueueShutDown(()))
    }

    /// Takes an item, blocking the current thread for at most `timeout`.
    /// `TryGetError::Empty` means the time ran out.
    ///
    /// ```
    /// use aiosync::TryGetError;
    /// use std::time::Duration;
    /// let q = aiosync::Queue::<u8>::new(0);
    /// assert_eq!(q.get_blocking_timeout(Duration::from_millis(1)), Err(TryGetError::Empty));
    /// ```
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<T, TryGetError> {
        self.get_blocking_timeout_inner(Some(timeout))
    }

    fn get_blocking_timeout_inner(&self, timeout: Option<Duration>) -> Result<T, TryGetError> {
        // Q4: before a permit is taken.
        self.reentry.check();
        let deadline = timeout.and_then(block::deadline);
        match self.items.acquire_blocking(1, deadline) {
            Ok(()) => self.remove().map_err(|_| TryGetError::ShutDown),
            Err(Refused::TimedOut) => Err(TryGetError::Empty),
            Err(Refused::Closed) => Err(TryGetError::ShutDown),
        }
    }

    /// Takes an item if one is there at once (and no getter is waiting for it).
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// assert!(q.try_get().is_err()); // empty
    /// ```
    pub fn try_get(&self) -> Result<T, TryGetError> {
        // Q4: before a permit is taken.
        self.reentry.check();
        if self.items.try_acquire(1) {
            return self.remove().map_err(|_| TryGetError::ShutDown);
        }
        if self.is_shutdown() && self.items.available() == 0 {
            Err(TryGetError::ShutDown)
        } else {
            Err(TryGetError::Empty)
        }
    }

    /// Marks one item put earlier as processed; when all are, [`Queue::join`] returns.
    ///
    /// # Errors
    /// [`TaskDoneError`] if called more times than items were put.
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.try_get().unwrap();
    /// q.task_done().unwrap();
    /// assert!(q.task_done().is_err());
    /// q.join_blocking(); // nothing unfinished: returns at once
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = Wakers::new();
        {
            let mut inner = self.locked();
            if inner.unfinished == 0 {
                return Err(TaskDoneError);
            }
            inner.unfinished -= 1;
            if inner.unfinished == 0 {
                inner.joiners.finish_all(NodeState::Granted, &mut wakers);
            }
        }
        // I4: (1) the queue's guard ended with its block; (2) `task_done` holds no other
        // lock.
        wakers.wake_all();
        Ok(())
    }

    /// Waits until every item put has been marked done with [`Queue::task_done`] (or
    /// dropped by an immediate shutdown), or the queue is closed ([`Queue::close`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only removes its waiter.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = aiosync::Queue::new(0);
    /// q.put(1).await.unwrap();
    /// q.get().await.unwrap();
    /// q.task_done().unwrap();
    /// q.join().await; // every item put was marked done
    /// # });
    /// ```
    pub fn join(&self) -> Join<'_, T> {
        Join::new(self)
    }

    /// Blocking form of [`Queue::join`].
    ///
    /// ```
    /// let q = aiosync::Queue::<u8>::new(0);
    /// q.join_blocking(); // nothing unfinished: returns at once
    /// ```
    pub fn join_blocking(&self) {
        self.reentry.check();
        Listener::new(self).wait_blocking(|_, inner| inner.joined(), None);
    }

    /// Blocking form of [`Queue::join`] giving up after `timeout`; returns whether all
    /// work was done (or the queue closed).
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert!(!q.join_blocking_timeout(Duration::from_millis(1)));
    /// ```
    pub fn join_blocking_timeout(&self, timeout: Duration) -> bool {
        self.reentry.check();
        Listener::new(self)
            .wait_blocking(|_, inner| inner.joined(), block::deadline(timeout))
            .is_some()
    }
}

impl<T> super::Inner<T> {
    /// What `join` waits for: no unfinished task, or a closed queue. Becomes true only in
    /// `task_done` and `shutdown`/`close`, which release every joiner under the same lock.
    #[inline]
    pub(super) fn joined(&self) -> bool {
        self.unfinished == 0 || self.closed
    }
}
