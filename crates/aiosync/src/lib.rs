//! Synchronization primitives that work from OS threads and from async tasks of any
//! runtime, on the same object at the same time.
//!
//! | type | what it is |
//! | --- | --- |
//! | [`Mutex`] | mutual exclusion with `&mut T` access |
//! | [`ReentrantMutex`] | a mutex its owner (thread or task) may lock again |
//! | [`RwLock`] | many readers or one writer; upgradable reads |
//! | [`Semaphore`] | counting permits, optionally bounded, multi-permit acquires |
//! | [`Event`] | a flag to wait for, which can be set and cleared again |
//! | [`Condition`] | a condition variable for [`Mutex`] (and the raw layer's locks, and any [`ExternalLock`]) |
//! | [`Queue`] | FIFO, LIFO or priority queue with backpressure, `task_done`/`join`, `shutdown`/`close`, a bound that can change |
//! | [`Barrier`] | a reusable rendezvous for N parties, with abort and reset |
//! | `facade`, `#[blocking]`, `#[unblock]` (feature `facade`) | a blocking API generated from an async one (on a tokio runtime thread), and the reverse |
//! | [`#[synchronized]`](macro@synchronized), [`synchronized()`] | one caller at a time in a fn or method (a lock per function, object or type), and a guard sharing it |
//!
//! Every waiting operation comes in four forms: `x()` returns a future (cancel safe,
//! runtime-independent), `x_blocking()` parks the thread, `x_blocking_timeout(d)` gives
//! up after `d`, and `try_x()` never waits.
//!
//! ```
//! use aiosync::Mutex;
//! use std::sync::Arc;
//!
//! let m = Arc::new(Mutex::new(Vec::new()));
//! let t = {
//!     let m = m.clone();
//!     std::thread::spawn(move || m.lock_blocking().push("thread"))
//! };
//! futures_lite::future::block_on(async { m.lock().await.push("task") });
//! t.join().unwrap();
//! assert_eq!(m.lock_blocking().len(), 2);
//! ```
//!
//! # Fairness
//!
//! Waiters queue in FIFO order and are served in that order. A newcomer never overtakes
//! a queued waiter of its own thread (so the tasks of one single-threaded executor are
//! served exactly in order). Against waiters on other threads, a running thread may take
//! a free lock first, which keeps contention between threads from turning into one
//! context switch per operation, but only until the first waiter has waited about half
//! a millisecond: then the lock is handed to it directly.
//!
//! # When not to use it
//!
//! - Only threads, never async: `std::sync` or `parking_lot` are a little leaner.
//! - Only one tokio runtime, and you need tokio's strict FIFO handoff on every release,
//!   or owned permits with tokio's API: `tokio::sync`.
//! - Message passing fits better than shared state: use a channel.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod barrier;
mod condition;
mod event;
#[cfg(all(feature = "facade", not(loom)))]
pub mod facade;
mod kernel;
mod mutex;
mod queue;
pub mod raw;
mod reentrant;
mod rwlock;
mod semaphore;
mod sync;
#[cfg(all(feature = "macros", not(loom)))]
mod synchronized;
pub mod task;

pub use barrier::{
    Arrival, Barrier, BarrierState, BarrierWait, BarrierWaitResult, BrokenBarrierError, Lead,
    LeadWait, ZeroPartiesError,
};
pub use condition::{
    Condition, ConditionWait, ExternalLock, ExternalLockError, Notified, RawWait, RawWaitBlocking,
    RawWaitError, ReentrantWait,
};
pub use event::{Event, EventWait};
pub use mutex::{Lock, LockArc, Mutex, MutexGuard, MutexGuardArc};
pub use queue::{
    Get, Join, Put, PutError, Queue, QueueShutDown, TaskDoneError, TryGetError, TryPutError,
};
pub use reentrant::{
    ReentrantLock, ReentrantLockArc, ReentrantMutex, ReentrantMutexGuard, ReentrantMutexGuardArc,
};
pub use rwlock::reentrant::{
    ReentrantRwLock, ReentrantRwLockFuture, ReentrantRwLockReadGuard, ReentrantRwLockWriteGuard,
};
/// The owner-aware read-write lock's parts that name what a future takes.
pub mod reentrant_rwlock {
    pub use crate::rwlock::reentrant::{Exclusive, Mode, Shared};
}
pub use rwlock::{
    Read, ReadArc, RwLock, RwLockReadGuard, RwLockReadGuardArc, RwLockUpgradableReadGuard,
    RwLockWriteGuard, RwLockWriteGuardArc, UpgradableRead, Upgrade, Write, WriteArc,
};
pub use semaphore::{
    Acquire, AcquireArc, PermitOverflowError, Semaphore, SemaphoreGuard, SemaphoreGuardArc,
    MAX_PERMITS,
};
pub use task::{NoTaskIdError, NotOwnerError, OwnerId};
// The attribute and the guard-form function share a name: macros have their own namespace.
#[cfg(all(feature = "macros", not(loom)))]
pub use aiosync_macros::synchronized;
#[cfg(all(feature = "macros", not(loom)))]
#[doc(hidden)]
pub use synchronized::__private;
#[cfg(all(feature = "macros", not(loom)))]
pub use synchronized::{
    synchronized, Synchronized, SynchronizedAsyncGuard, SynchronizedGuard, SynchronizedLock,
};

#[cfg(loom)]
#[doc(hidden)]
pub use kernel::set_always_fair;
// The scoped forwarding of `facade`, for the loom models.
#[cfg(all(feature = "facade", feature = "macros", not(loom)))]
pub use aiosync_macros::{blocking, unblock};
#[cfg(loom)]
#[doc(hidden)]
pub use kernel::scoped::{forward_scoped, Forwarded};

/// Runs a future to completion on the current thread, parking it between polls (the
/// driver behind every `_blocking` method). Gives up after `timeout`, if one is given,
/// dropping the future (every aiosync future is cancel safe) and returning `None`.
///
/// Never call it from inside an async task: it blocks the task's executor thread.
///
/// ```
/// let ev = aiosync::Event::new();
/// ev.set();
/// assert_eq!(aiosync::block_on(ev.wait(), None), Some(()));
/// let ev = aiosync::Event::new();
/// assert_eq!(aiosync::block_on(ev.wait(), Some(std::time::Duration::from_millis(1))), None);
/// ```
pub fn block_on<F: std::future::Future>(
    fut: F,
    timeout: Option<std::time::Duration>,
) -> Option<F::Output> {
    match timeout {
        None => kernel::block::block_on(fut, None),
        Some(d) => match kernel::block::deadline(d) {
            Some(deadline) => kernel::block::block_on(fut, Some(deadline)),
            None => kernel::block::block_on(fut, None),
        },
    }
}
