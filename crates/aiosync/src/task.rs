//! Who owns a reentrant lock: a thread, or an async task.
//!
//! Rust has no runtime-neutral notion of "the current task", so aiosync provides one:
//! wrap a task's future in [`scope`] and every poll of it runs with its own [`OwnerId`].
//! With the `tokio` feature, a task spawned on tokio that is not in a scope uses tokio's
//! task id instead.

use crate::kernel::{next_id, thread_tag};
use crate::sync::thread_local;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The identity of a lock owner: an OS thread or an async task.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OwnerId(NonZeroU64);

/// Ids of tokio tasks live above this bit, apart from aiosync's own.
#[cfg(feature = "tokio")]
const TOKIO_BIT: u64 = 1 << 63;

thread_local! {
    static CURRENT_TASK: Cell<u64> = const { Cell::new(0) };
}

impl OwnerId {
    /// The calling OS thread.
    ///
    /// ```
    /// use aiosync::task::OwnerId;
    /// assert_eq!(OwnerId::current_thread(), OwnerId::current_thread());
    /// let other = std::thread::spawn(OwnerId::current_thread).join().unwrap();
    /// assert_ne!(other, OwnerId::current_thread());
    /// ```
    pub fn current_thread() -> OwnerId {
        OwnerId(NonZeroU64::new(thread_tag()).expect("thread tags start at 1"))
    }

    /// The async task being polled on this thread, if it has an identity: the innermost
    /// [`scope`], else (with the `tokio` feature) the current tokio task.
    ///
    /// ```
    /// use aiosync::task::{scope, OwnerId};
    /// # futures_lite::future::block_on(async {
    /// assert!(scope(async { OwnerId::current_task() }).await.is_some());
    /// # });
    /// ```
    pub fn current_task() -> Option<OwnerId> {
        let id = CURRENT_TASK.with(Cell::get);
        if let Some(id) = NonZeroU64::new(id) {
            return Some(OwnerId(id));
        }
        #[cfg(feature = "tokio")]
        if let Some(t) = tokio::task::try_id() {
            return NonZeroU64::new(TOKIO_BIT | tokio_id(t)).map(OwnerId);
        }
        None
    }

    /// The current task if it has an identity, otherwise the current thread.
    pub fn current() -> OwnerId {
        OwnerId::current_task().unwrap_or_else(OwnerId::current_thread)
    }

    /// A fresh identity, never equal to any other.
    pub fn new_unique() -> OwnerId {
        OwnerId(NonZeroU64::new(next_id()).expect("ids start at 1"))
    }

    /// An id chosen by the caller (a binding's own thread or task identities). It must
    /// not be zero; ids from [`OwnerId::new_unique`] and threads are small numbers, so
    /// choose ids from another range (addresses, say) when mixing them on one lock.
    pub fn from_raw(id: u64) -> Option<OwnerId> {
        NonZeroU64::new(id).map(OwnerId)
    }

    /// The id as a number (never zero).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

/// Declares whether the calling thread runs one executor (one event loop) whose tasks
/// should hand locks, permits and items to each other first: a release made on this
/// thread then wakes the thread's own first waiter before the head of the queue, so
/// handoffs batch per executor instead of costing a cross-thread wake-up each, until the
/// head has waited about half a millisecond (then it is served, as always). Among the
/// thread's own waiters the order stays FIFO. Off by default, and best left off on the
/// workers of a work-stealing runtime, which it would leave idle. The Python binding
/// turns it on for asyncio loop threads.
///
/// ```
/// aiosync::task::set_local_handoff(true); // this thread runs a single-threaded executor
/// # aiosync::task::set_local_handoff(false);
/// ```
pub fn set_local_handoff(on: bool) {
    crate::kernel::set_local_handoff(on);
}

/// tokio's task id as a number: its `Hash` writes exactly that `u64`.
#[cfg(feature = "tokio")]
fn tokio_id(id: tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};
    struct Take(u64);
    impl Hasher for Take {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(*b);
            }
        }
        fn write_u64(&mut self, v: u64) {
            self.0 = v;
        }
    }
    let mut h = Take(0);
    id.hash(&mut h);
    h.finish() & !TOKIO_BIT
}

/// Runs `fut` as a task with its own [`OwnerId`]: a [`ReentrantMutex`](crate::ReentrantMutex)
/// locked inside it can be locked again by the same task.
///
/// ```
/// use aiosync::{task, ReentrantMutex};
/// # futures_lite::future::block_on(async {
/// let m = ReentrantMutex::new(1);
/// task::scope(async {
///     let a = m.lock().await.unwrap();
///     let b = m.lock().await.unwrap(); // same task: no deadlock
///     assert_eq!(*a + *b, 2);
/// })
/// .await;
/// # });
/// ```
pub fn scope<F: Future>(fut: F) -> Scoped<F> {
    Scoped {
        id: OwnerId::new_unique(),
        fut,
    }
}

/// The future returned by [`scope`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Scoped<F> {
    id: OwnerId,
    fut: F,
}

impl<F> Scoped<F> {
    /// The identity this scope gives its future.
    pub fn id(&self) -> OwnerId {
        self.id
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Restore(u64);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT_TASK.with(|c| c.set(self.0));
            }
        }
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = Restore(CURRENT_TASK.with(|c| c.replace(this.id.as_u64())));
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped").field("id", &self.id).finish()
    }
}

/// The error of an async reentrant lock attempted where no task identity is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoTaskIdError;

impl fmt::Display for NoTaskIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no task identity for a reentrant async lock: run the task inside \
             aiosync::task::scope(..) (or enable aiosync's `tokio` feature on a tokio runtime)",
        )
    }
}

impl std::error::Error for NoTaskIdError {}

/// A reentrant lock was released by an owner that does not hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotOwnerError;

impl fmt::Display for NotOwnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot release un-acquired lock")
    }
}

impl std::error::Error for NotOwnerError {}
