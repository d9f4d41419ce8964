//! A multi-producer multi-consumer queue (FIFO, LIFO or priority) with `task_done`/`join`,
//! `shutdown`/`close`, and a bound that can change while the queue is in use.

mod capacity;
mod error;
mod futures;
mod lifecycle;
mod ops;
mod reentry;
mod store;

pub use error::{PutError, QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use futures::{Get, Join, Put};

use crate::kernel::listener::Waitable;
use crate::kernel::semaphore::{RawSemaphore, MAX_PERMITS};
use crate::kernel::WaitList;
use crate::sync::{lock, AtomicBool, AtomicUsize, Lock, LockGuard, Ordering};
use reentry::Reentry;
use std::cmp;
use std::collections::VecDeque;
use std::fmt;
use store::{Heap, Store};

/// A queue shared by producers and consumers on threads and async tasks at once (Python's
/// `asyncio.Queue` and `queue.Queue` in one).
///
/// - `Queue::new(maxsize)` is FIFO, [`Queue::lifo`] last-in first-out, [`Queue::priority`]
///   smallest first ([`Queue::priority_by`] with a comparator that may refuse an item).
///   `maxsize` 0 means unbounded; [`Queue::set_maxsize`] changes it at any time.
/// - Backpressure is FIFO on both sides: getters wait for items, putters for room, in
///   arrival order (with the same eventual-fairness rule as [`Mutex`](crate::Mutex)).
/// - [`Queue::task_done`] and [`Queue::join`] track unfinished work.
/// - [`Queue::shutdown`] stops puts; getters drain what is left (or, with `immediate`,
///   the queue is emptied) and then fail with [`QueueShutDown`]. [`Queue::close`] is an
///   immediate shutdown that also releases every `join`, whatever is left unfinished.
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
///
/// # Invariants
///
/// - **Q1: places add up.** The permits of `slots` (free, handed to a waiting putter, or
///   held by a put that has not stored its item yet) plus the items stored equal the
///   capacity (`maxsize`, or [`MAX_PERMITS`] when unbounded) plus `Inner::owed`. Every
///   change to the capacity or to `owed` happens under the queue's lock.
/// - **Q2: nothing is freed while places are owed.** A shrink takes the free places it
///   can at once and owes the rest; every place that comes back afterwards (a get, a put
///   refused after it had its place, a put withdrawn with a place handed to it, a grow)
///   pays `owed` first, under the queue's lock. So once the bound shrank, a put waits
///   until fewer than the new `maxsize` items are stored.
/// - **Q3: `items` announces stored items only.** A permit of `items` is released under
///   the queue's lock, after its item is stored, and withdrawn (`drain`) before an
///   immediate shutdown empties the store.
/// - **Q4: the comparator never calls back in.** The comparator runs under the queue's
///   lock, with the thread running it recorded (`reentry`). Every operation that would
///   take the lock checks that record first, before it takes a permit of either
///   semaphore, and panics instead on that thread; a waiting put or join dropped there
///   gives back what it holds without the lock (places are returned by the put or get
///   that compares, before it unlocks). A comparator that panics changes nothing: the
///   heap compares before it moves an item, a put gives its place back and a get its
///   permit of `items`, and the panic goes on once the lock is released.
///
/// # Panics
///
/// A priority queue's comparator ([`Queue::priority_by`]) runs under the queue's internal
/// lock. Called from inside it, on the same queue, every method that takes that lock
/// panics with "aiosync::Queue: called from its own comparator" rather than deadlock:
/// [`len`](Queue::len), [`is_empty`](Queue::is_empty), [`is_full`](Queue::is_full),
/// [`is_closed`](Queue::is_closed), [`unfinished_tasks`](Queue::unfinished_tasks),
/// [`snapshot`](Queue::snapshot), [`try_put`](Queue::try_put),
/// [`put_blocking`](Queue::put_blocking),
/// [`put_blocking_timeout`](Queue::put_blocking_timeout), [`try_get`](Queue::try_get),
/// [`get_blocking`](Queue::get_blocking),
/// [`get_blocking_timeout`](Queue::get_blocking_timeout),
/// [`task_done`](Queue::task_done), [`join_blocking`](Queue::join_blocking),
/// [`join_blocking_timeout`](Queue::join_blocking_timeout),
/// [`set_maxsize`](Queue::set_maxsize), [`shutdown`](Queue::shutdown),
/// [`close`](Queue::close), and the futures of [`put`](Queue::put), [`get`](Queue::get)
/// and [`join`](Queue::join) when polled. The panic leaves the queue as it was. The
/// lock-free reads ([`maxsize`](Queue::maxsize), [`is_shutdown`](Queue::is_shutdown),
/// [`waiting_getters`](Queue::waiting_getters),
/// [`waiting_putters`](Queue::waiting_putters), [`in_comparator`](Queue::in_comparator))
/// and `Debug` (which then shows less) work there, as does any other queue.
pub struct Queue<T> {
    /// Lock order: taken before either semaphore's list (`insert`, `remove`,
    /// `set_maxsize`, `shutdown`), never while one is held.
    inner: Lock<Inner<T>>,
    /// One permit per item a get may take: never more than the items stored (Q3).
    items: RawSemaphore,
    /// One permit per free place (Q1). An unbounded queue has [`MAX_PERMITS`] places, so
    /// every put takes its place the same way and a bound can be set at any time.
    slots: RawSemaphore,
    /// The bound (0: unbounded), written under the queue's lock, read without it.
    maxsize: AtomicUsize,
    /// Mirrors `Inner::shutdown` for a lock-free early check.
    shut: AtomicBool,
    /// Which thread runs the comparator now (Q4).
    reentry: Reentry,
}

/// What the queue's lock guards (crate-visible because `Waitable::Locked` names it).
pub(crate) struct Inner<T> {
    store: Store<T>,
    /// Items put and not yet marked done.
    unfinished: usize,
    shutdown: bool,
    /// `close()` was called: `join` returns at once.
    closed: bool,
    /// Places a shrink could not take at once, taken from the next ones to come back (Q2).
    owed: usize,
    /// Tasks in `join`, released together when `unfinished` reaches zero (or on `close`).
    joiners: WaitList<()>,
}

/// How many places a queue of bound `maxsize` has (Q1).
#[inline]
fn capacity(maxsize: usize) -> usize {
    if maxsize == 0 {
        MAX_PERMITS
    } else {
        maxsize
    }
}

impl<T> Queue<T> {
    fn with_store(maxsize: usize, store: Store<T>) -> Queue<T> {
        assert!(maxsize <= MAX_PERMITS, "maxsize too large");
        Queue {
            inner: Lock::new(Inner {
                store,
                unfinished: 0,
                shutdown: false,
                closed: false,
                owed: 0,
                joiners: WaitList::new(),
            }),
            items: RawSemaphore::new(0),
            slots: RawSemaphore::new(capacity(maxsize)),
            maxsize: AtomicUsize::new(maxsize),
            shut: AtomicBool::new(false),
            reentry: Reentry::new(),
        }
    }

    /// The queue's lock, once the caller is known not to run inside the comparator (Q4).
    #[inline]
    fn locked(&self) -> LockGuard<'_, Inner<T>> {
        self.reentry.check();
        lock(&self.inner)
    }

    /// A first-in first-out queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Panics
    /// If `maxsize` exceeds [`MAX_PERMITS`].
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
        Queue::priority_by(maxsize, |a: &T, b: &T| Some(a.cmp(b)))
    }

    /// A priority queue ordered by `cmp`, smallest first, where `cmp` may refuse to order
    /// two items (`None`, as `partial_cmp` does for a NaN).
    ///
    /// The items are kept in a binary heap, as Python's `heapq` keeps them: a put
    /// compares its item with the items on its way up the heap (none when the queue is
    /// empty), and only whether `cmp` answers `Some(Less)` matters. A put whose item
    /// cannot be compared with one of them fails with [`PutError::Unordered`] (or
    /// [`TryPutError::Unordered`]), giving the item back and leaving the queue as it was:
    /// no item, task count or place changes. Gets compare items that were all accepted; a
    /// pair `cmp` cannot order there keeps its places.
    ///
    /// `cmp` runs under the queue's internal lock. A call from `cmp` into the same queue
    /// panics instead of deadlocking (see [the type's panics](Queue#panics)), and a `cmp`
    /// that panics leaves the queue as it was: the put or get it ran in panics in turn,
    /// with no item, task count or place changed. Other queues may be used from `cmp`.
    ///
    /// ```
    /// use aiosync::{Queue, TryPutError};
    /// let q = Queue::priority_by(0, f64::partial_cmp);
    /// q.try_put(2.0).unwrap();
    /// q.try_put(1.0).unwrap();
    /// assert!(matches!(q.try_put(f64::NAN), Err(TryPutError::Unordered(v)) if v.is_nan()));
    /// assert_eq!((q.len(), q.unfinished_tasks()), (2, 2)); // unchanged
    /// assert_eq!(q.try_get(), Ok(1.0));
    /// ```
    pub fn priority_by<F>(maxsize: usize, cmp: F) -> Queue<T>
    where
        T: Send + 'static,
        F: Fn(&T, &T) -> Option<cmp::Ordering> + Send + 'static,
    {
        Queue::with_store(maxsize, Store::Other(Box::new(Heap::new(cmp))))
    }

    /// The most items the queue holds (0: unbounded).
    ///
    /// ```
    /// assert_eq!(aiosync::Queue::<u8>::new(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize.load(Ordering::Acquire)
    }

    /// Number of items in the queue.
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.locked().store.len()
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// assert!(aiosync::Queue::<u8>::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `maxsize` items or more (never, if unbounded). It may hold
    /// more after [`Queue::set_maxsize`] shrank it.
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// q.try_put(1).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        let maxsize = self.maxsize();
        maxsize != 0 && self.len() >= maxsize
    }

    /// Whether [`Queue::shutdown`] (or [`Queue::close`]) was called.
    ///
    /// ```
    /// let q = aiosync::Queue::<u8>::new(0);
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// Whether [`Queue::close`] was called.
    ///
    /// ```
    /// let q = aiosync::Queue::<u8>::new(0);
    /// q.shutdown(true);
    /// assert!(!q.is_closed()); // shut down, but `join` still counts tasks
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.locked().closed
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
        self.locked().unfinished
    }

    /// How many gets (tasks or threads) wait for an item now (a snapshot).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = aiosync::Queue::<u8>::new(0);
    /// let mut get = std::pin::pin!(q.get());
    /// assert!(futures_lite::future::poll_once(get.as_mut()).await.is_none());
    /// assert_eq!(q.waiting_getters(), 1);
    /// # });
    /// ```
    pub fn waiting_getters(&self) -> usize {
        self.items.waiters()
    }

    /// How many puts wait for room now (a snapshot).
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let q = aiosync::Queue::new(1);
    /// q.try_put(1).unwrap();
    /// let mut put = std::pin::pin!(q.put(2));
    /// assert!(futures_lite::future::poll_once(put.as_mut()).await.is_none());
    /// assert_eq!(q.waiting_putters(), 1);
    /// # });
    /// ```
    pub fn waiting_putters(&self) -> usize {
        self.slots.waiters()
    }

    /// Whether the calling thread is running this queue's comparator now (a call from
    /// there into the queue would panic). False for every other thread, and everywhere
    /// for a queue that does not compare.
    ///
    /// ```
    /// use aiosync::Queue;
    /// use std::sync::OnceLock;
    ///
    /// static Q: OnceLock<Queue<i32>> = OnceLock::new();
    /// let q = Q.get_or_init(|| {
    ///     Queue::priority_by(0, |a: &i32, b: &i32| {
    ///         let q = Q.get().unwrap();
    ///         assert!(q.in_comparator());
    ///         assert_eq!(q.maxsize(), 0); // lock-free reads work here; `q.len()` would panic
    ///         a.partial_cmp(b)
    ///     })
    /// });
    /// q.try_put(2).unwrap();
    /// q.try_put(1).unwrap(); // compares
    /// assert!(!q.in_comparator());
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    #[inline]
    pub fn in_comparator(&self) -> bool {
        self.reentry.inside()
    }

    /// What `f` makes of each item, in storage order: the order gets take them (FIFO),
    /// the order they were put (LIFO), or the heap's array order (priority).
    ///
    /// `f` runs under the queue's internal lock: it must not call into the queue.
    ///
    /// ```
    /// let q = aiosync::Queue::lifo(0);
    /// for v in [1, 2, 3] {
    ///     q.try_put(v).unwrap();
    /// }
    /// assert_eq!(q.snapshot(|v| *v), [1, 2, 3]);
    /// assert_eq!(q.try_get(), Ok(3));
    /// ```
    pub fn snapshot<R>(&self, mut f: impl FnMut(&T) -> R) -> Vec<R> {
        let inner = self.locked();
        let mut out = Vec::with_capacity(inner.store.len());
        inner.store.for_each(|v| out.push(f(v)));
        out
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

    /// A joiner dropped inside the comparator is forgotten, not withdrawn (Q4).
    #[inline]
    fn reentered(&self) -> bool {
        self.in_comparator()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_comparator() {
            // Its lock is held by this very thread (Q4): only what is read without it.
            return f
                .debug_struct("Queue")
                .field("maxsize", &self.maxsize())
                .field("shutdown", &self.is_shutdown())
                .finish_non_exhaustive();
        }
        let inner = lock(&self.inner);
        f.debug_struct("Queue")
            .field("len", &inner.store.len())
            .field("maxsize", &self.maxsize())
            .field("unfinished", &inner.unfinished)
            .field("shutdown", &inner.shutdown)
            .field("closed", &inner.closed)
            .finish()
    }
}
