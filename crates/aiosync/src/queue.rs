//! A multi-producer multi-consumer queue (FIFO, LIFO or priority) with `task_done`/`join`
//! and `shutdown`.

use crate::kernel::semaphore::{Acquire, Closed, RawSemaphore, Refused, MAX_PERMITS};
use crate::kernel::{block, NodeState, WaitList, Wakers};
use crate::sync::{lock, AtomicBool, Lock, Ordering};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

const NONE: usize = usize::MAX;

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
    inner: Lock<Inner<T>>,
    /// One permit per item a get may take: never more than the items stored.
    items: RawSemaphore,
    /// One permit per free place (bounded queues only).
    slots: RawSemaphore,
    maxsize: usize,
    /// Mirrors `Inner::shutdown` for a lock-free early check.
    shut: AtomicBool,
}

struct Inner<T> {
    store: Store<T>,
    /// Items put and not yet marked done.
    unfinished: usize,
    shutdown: bool,
    /// Tasks in `join`, released together when `unfinished` reaches zero.
    joiners: WaitList,
}

enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Other(Box<dyn Container<T>>),
}

/// Any ordering a queue can keep (the priority queue is one).
trait Container<T>: Send {
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
    fn push(&mut self, item: T) {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(v) => v.push(item),
            Store::Other(c) => c.push(item),
        }
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        match self {
            Store::Fifo(q) => q.pop_front(),
            Store::Lifo(v) => v.pop(),
            Store::Other(c) => c.pop(),
        }
    }
    fn len(&self) -> usize {
        match self {
            Store::Fifo(q) => q.len(),
            Store::Lifo(v) => v.len(),
            Store::Other(c) => c.len(),
        }
    }
    fn take_all(&mut self) -> Vec<T> {
        match self {
            Store::Fifo(q) => q.drain(..).collect(),
            Store::Lifo(v) => std::mem::take(v),
            Store::Other(c) => c.take_all(),
        }
    }
}

/// The queue was shut down. A failed put gives its item back in `.0`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

/// Why [`Queue::try_put`] (or a put that timed out) did not insert; the item comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue was full (for the whole timeout, if any).
    Full(T),
    /// The queue was shut down.
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::ShutDown(v) => v,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("queue is full"),
            TryPutError::ShutDown(_) => f.write_str("queue is shut down"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::try_get`] (or a get that timed out) returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// The queue was empty (for the whole timeout, if any).
    Empty,
    /// The queue was shut down and is empty.
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue is empty"),
            TryGetError::ShutDown => f.write_str("queue is shut down"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// [`Queue::task_done`] was called more times than items were put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}

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
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Number of items in the queue.
    pub fn len(&self) -> usize {
        lock(&self.inner).store.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `maxsize` items (never, if unbounded).
    pub fn is_full(&self) -> bool {
        self.bounded() && self.len() >= self.maxsize
    }

    /// Whether [`Queue::shutdown`] was called.
    pub fn is_shutdown(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Items put and not yet marked done with [`Queue::task_done`].
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
        Put {
            queue: self,
            item: Some(item),
            acquire: Acquire::new(1),
        }
    }

    /// Puts an item, blocking the current thread while the queue is full.
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
        Get {
            queue: self,
            acquire: Acquire::new(1),
        }
    }

    /// Takes an item, blocking the current thread while the queue is empty.
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
        wakers.wake_all();
        Ok(())
    }

    /// Waits until every item put has been marked done with [`Queue::task_done`] (or
    /// dropped by an immediate shutdown).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only removes its waiter.
    pub fn join(&self) -> Join<'_, T> {
        Join {
            queue: self,
            key: NONE,
        }
    }

    /// Blocking form of [`Queue::join`].
    pub fn join_blocking(&self) {
        block::block_on(self.join(), None);
    }

    /// Blocking form of [`Queue::join`] giving up after `timeout`; returns whether all
    /// work was done.
    pub fn join_blocking_timeout(&self, timeout: Duration) -> bool {
        block::block_on(self.join(), block::deadline(timeout)).is_some()
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
        self.items.close();
        self.slots.close();
        wakers.wake_all();
        // Items may run arbitrary code when dropped: not under the lock.
        drop(dropped);
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

/// The future returned by [`Queue::put`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Put<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    acquire: Acquire,
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let q = this.queue;
        if q.bounded() {
            if !this.acquire.is_queued() && q.is_shutdown() {
                let item = this.item.take().expect("Put polled after completion");
                return Poll::Ready(Err(QueueShutDown(item)));
            }
            match this.acquire.poll(&q.slots, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(Closed)) => {
                    let item = this.item.take().expect("Put polled after completion");
                    return Poll::Ready(Err(QueueShutDown(item)));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
        let item = this.item.take().expect("Put polled after completion");
        Poll::Ready(q.insert(item))
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        self.acquire.cancel(&self.queue.slots);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").finish_non_exhaustive()
    }
}

/// The future returned by [`Queue::get`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Get<'a, T> {
    queue: &'a Queue<T>,
    acquire: Acquire,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.acquire.poll(&this.queue.items, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(Closed)) => Poll::Ready(Err(QueueShutDown(()))),
            Poll::Ready(Ok(())) => Poll::Ready(this.queue.remove()),
        }
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        self.acquire.cancel(&self.queue.items);
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").finish_non_exhaustive()
    }
}

/// The future returned by [`Queue::join`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Join<'a, T> {
    queue: &'a Queue<T>,
    key: usize,
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut inner = lock(&this.queue.inner);
        if this.key == NONE {
            if inner.unfinished == 0 {
                return Poll::Ready(());
            }
            this.key = inner.joiners.push(0, cx.waker());
            return Poll::Pending;
        }
        if inner.joiners[this.key].state == NodeState::Granted {
            inner.joiners.remove(this.key);
            this.key = NONE;
            return Poll::Ready(());
        }
        inner.joiners.set_waker(this.key, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if self.key != NONE {
            lock(&self.queue.inner).joiners.remove(self.key);
        }
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").finish_non_exhaustive()
    }
}
