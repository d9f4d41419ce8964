//! A multi-producer multi-consumer queue (FIFO, LIFO or priority) with `task_done`/`join`
//! and `shutdown`.

mod error;
mod futures;
mod store;

pub use error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use futures::{Get, Join, Put};

use crate::kernel::listener::{Listener, Waitable};
use crate::kernel::semaphore::{RawSemaphore, Refused, MAX_PERMITS};
use crate::kernel::{block, NodeState, WaitList, Wakers};
use crate::sync::{lock, AtomicBool, Lock, Ordering};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::time::Duration;
use store::Store;

/// A queue shared by producers and consumers on threads and async tasks at once (Python's
/// `asyncio.Queue` and `queue.Queue` in one).
///
/// - `Queue::new(maxsize)` is FIFO, [`Queue::lifo`] last-in first-out, [`Queue::priority`]
///   smallest first. `maxsize` 0 means unbounded.
/// - Backpressure is FIFO on both sides: getters wait for items, putters for room, in
///   arrival order (with the same eventual-fairness rule as [`Mutex`](crate::Mutex)).
/// - [`Queue::task_done`] and [`Queue::join`] track unfinished work.
/// - [`Queue::shutdown`] stops puts; getters drain what is left (or, with `immediate`,
///   the queue is emptied) and then fail with [`QueueShutDown`].
/// - Cancel safety: an item is only ever removed by a get that completes, so a cancelled
///   get never loses one; a cancelled put never inserts its item.
///
/// # Examples
///
/// ```
/// use aiosync::Queue;
/// use std::sync::Arc;
///
/// let q = Arc::new(Queue::new(2));
/// let producer = {
///     let q = q.clone();
///     std::thread::spawn(move || {
///         for i in 0..10 {
///             q.put_blocking(i).unwrap(); // waits while 2 items are queued
///         }
///     })
/// };
/// let sum: i32 = (0..10).map(|_| q.get_blocking().unwrap()).sum();
/// producer.join().unwrap();
/// assert_eq!(sum, 45);
/// ```
pub struct Queue<T> {
    /// Lock order: taken before either semaphore's list (`insert`, `shutdown`), never
    /// while one is held.
    inner: Lock<Inner<T>>,
    /// One permit per item a get may take: never more than the items stored.
    items: RawSemaphore,
    /// One permit per free place (bounded queues only).
    slots: RawSemaphore,
    maxsize: usize,
    /// Mirrors `Inner::shutdown` for a lock-free early check.
    shut: AtomicBool,
}

/// What the queue's lock guards (crate-visible because `Waitable::Locked` names it).
pub(crate) struct Inner<T> {
    store: Store<T>,
    /// Items put and not yet marked done.
    unfinished: usize,
    shutdown: bool,
    /// Tasks in `join`, released together when `unfinished` reaches zero.
    joiners: WaitList<()>,
}

impl<T> Queue<T> {
    fn with_store(maxsize: usize, store: Store<T>) -> Queue<T> {
        assert!(maxsize <= MAX_PERMITS, "maxsize too large");
        Queue {
            inner: Lock::new(Inner {
                store,
                unfinished: 0,
                shutdown: false,
                joiners: WaitList::new(),
            }),
            items: RawSemaphore::new(0),
            slots: RawSemaphore::new(maxsize),
            maxsize,
            shut: AtomicBool::new(false),
        }
    }

    /// A first-in first-out queue holding at most `maxsize` items (0: unbounded).
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue::with_store(maxsize, Store::Fifo(VecDeque::new()))
    }

    /// A last-in first-out queue (a stack) holding at most `maxsize` items (0: unbounded).
    ///
    /// ```
    /// let q = aiosync::Queue::lifo(0);
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// assert_eq!(q.try_get(), Ok(2));
    /// ```
    pub fn lifo(maxsize: usize) -> Queue<T> {
        Queue::with_store(maxsize, Store::Lifo(Vec::new()))
    }

    /// A priority queue, smallest item first, holding at most `maxsize` items (0: unbounded).
    ///
    /// ```
    /// let q = aiosync::Queue::priority(0);
    /// for v in [3, 1, 2] {
    ///     q.try_put(v).unwrap();
    /// }
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn priority(maxsize: usize) -> Queue<T>
    where
        T: Ord + Send + 'static,
    {
        Queue::with_store(maxsize, Store::Other(Box::new(BinaryHeap::new())))
    }

    #[inline]
    fn bounded(&self) -> bool {
        self.maxsize != 0
    }

    /// The most items the queue holds (0: unbounded).
    ///
    /// ```
    /// assert_eq!(aiosync::Queue::<u8>::new(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Number of items in the queue.
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.inner).store.len()
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// assert!(aiosync::Queue::<u8>::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `maxsize` items (never, if unbounded).
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// q.try_put(1).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.bounded() && self.len() >= self.maxsize
    }

    /// Whether [`Queue::shutdown`] was called.
    ///
    /// ```
    /// let q = aiosync::Queue::<u8>::new(0);
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Items put and not yet marked done with [`Queue::task_done`].
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.try_get().unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1); // until `task_done`
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        lock(&self.inner).unfinished
    }

    /// Puts an item, waiting asynchronously while the queue is full.
    ///
    /// # Errors
    /// [`QueueShutDown`] with the item if the queue is (or gets) shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a put dropped before it completes has not inserted its item (it is
    /// dropped with the future), and its place in line goes to the next putter.
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
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// q.put_blocking(1).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    pub fn put_blocking(&self, item: T) -> Result<(), QueueShutDown<T>> {
        self.put_blocking_timeout_inner(item, None)
            .map_err(|e| QueueShutDown(e.into_inner()))
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
        self.put_blocking_timeout_inner(item, Some(timeout))
    }

    fn put_blocking_timeout_inner(
        &self,
        item: T,
        timeout: Option<Duration>,
    ) -> Result<(), TryPutError<T>> {
        if self.is_shutdown() {
            return Err(TryPutError::ShutDown(item));
        }
        if self.bounded() {
            let deadline = timeout.and_then(block::deadline);
            match self.slots.acquire_blocking(1, deadline) {
                Ok(()) => {}
                Err(Refused::TimedOut) => return Err(TryPutError::Full(item)),
                Err(Refused::Closed) => return Err(TryPutError::ShutDown(item)),
            }
        }
        self.insert(item)
            .map_err(|QueueShutDown(v)| TryPutError::ShutDown(v))
    }

    /// Puts an item if there is room at once (and nobody is waiting for room).
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err()); // full
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        if self.is_shutdown() {
            return Err(TryPutError::ShutDown(item));
        }
        if self.bounded() && !self.slots.try_acquire(1) {
            return Err(TryPutError::Full(item));
        }
        self.insert(item)
            .map_err(|QueueShutDown(v)| TryPutError::ShutDown(v))
    }

    /// Stores an item whose place (if bounded) is already reserved.
    #[inline]
    fn insert(&self, item: T) -> Result<(), QueueShutDown<T>> {
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            if inner.shutdown {
                drop(inner);
                if self.bounded() {
                    self.slots.release(1);
                }
                return Err(QueueShutDown(item));
            }
            inner.store.push(item);
            inner.unfinished += 1;
            // Announced while still under the lock, so a shutdown never finds an item
            // stored but not yet announced (its getters would give up while it waits);
            // the wakers run after the lock is released.
            self.items.release_collect(1, &mut wakers);
        }
        // I4: (1) the queue's guard and the items' list guard (inside `release_collect`)
        // have both ended; (2) a put holds no other lock.
        wakers.wake_all();
        Ok(())
    }

    /// Takes an item whose permit was acquired.
    #[inline]
    fn remove(&self) -> Result<T, QueueShutDown> {
        let item = lock(&self.inner).store.pop();
        match item {
            Some(v) => {
                if self.bounded() {
                    self.slots.release(1);
                }
                Ok(v)
            }
            // An immediate shutdown emptied the queue under us.
            None => Err(QueueShutDown(())),
        }
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
            let mut inner = lock(&self.inner);
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
    /// dropped by an immediate shutdown).
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
        Listener::new(self).wait_blocking(|_, inner| inner.unfinished == 0, None);
    }

    /// Blocking form of [`Queue::join`] giving up after `timeout`; returns whether all
    /// work was done.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert!(!q.join_blocking_timeout(Duration::from_millis(1)));
    /// ```
    pub fn join_blocking_timeout(&self, timeout: Duration) -> bool {
        Listener::new(self)
            .wait_blocking(|_, inner| inner.unfinished == 0, block::deadline(timeout))
            .is_some()
    }

    /// Shuts the queue down: every put fails from now on, and waiting putters are
    /// released with their items. Without `immediate`, getters drain the items left and
    /// then fail; with it, the items are dropped at once, the unfinished count drops by
    /// their number, and waiting getters fail.
    ///
    /// ```
    /// use aiosync::{Queue, QueueShutDown, TryPutError};
    /// let q = Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.shutdown(false);
    /// assert!(matches!(q.try_put(2), Err(TryPutError::ShutDown(2))));
    /// assert_eq!(q.get_blocking(), Ok(1));
    /// assert_eq!(q.get_blocking(), Err(QueueShutDown(())));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut wakers = Wakers::new();
        let dropped = {
            let mut inner = lock(&self.inner);
            inner.shutdown = true;
            self.shut.store(true, Ordering::Release);
            if immediate {
                // Items stay announced only while stored: withdraw the permits first.
                self.items.drain();
                let dropped = inner.store.take_all();
                inner.unfinished = inner.unfinished.saturating_sub(dropped.len());
                if inner.unfinished == 0 {
                    inner.joiners.finish_all(NodeState::Granted, &mut wakers);
                }
                dropped
            } else {
                Vec::new()
            }
        };
        // After the queue's lock is released: `close` wakes waiters itself (I4).
        self.items.close();
        self.slots.close();
        // I4: (1) the queue's guard ended with its block; (2) `shutdown` holds no other
        // lock.
        wakers.wake_all();
        // Items may run arbitrary code when dropped: not under the lock.
        drop(dropped);
    }
}

/// Joiners queue on `Inner::joiners`, under the lock that guards the unfinished count
/// they wait on; a joiner that leaves owes nothing (every joiner is released at once).
impl<T> Waitable for Queue<T> {
    type Locked = Inner<T>;
    type Payload = ();

    #[inline]
    fn wait_lock(&self) -> &Lock<Inner<T>> {
        &self.inner
    }

    #[inline]
    fn list(inner: &mut Inner<T>) -> &mut WaitList<()> {
        &mut inner.joiners
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("Queue")
            .field("len", &inner.store.len())
            .field("maxsize", &self.maxsize)
            .field("unfinished", &inner.unfinished)
            .field("shutdown", &inner.shutdown)
            .finish()
    }
}
