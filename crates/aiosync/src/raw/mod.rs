//! The owner-aware raw layer: lock state with explicit owners and no data.
//!
//! This is `lock_api`'s raw/typed split applied to ownership. The types here take the
//! identity of whoever acquires or releases as an explicit [`Holder`] and carry no `T`;
//! the typed API ([`ReentrantMutex`](crate::ReentrantMutex), [`Condition`](crate::Condition)
//! over it) derives holders from the current thread or task, and a language binding derives
//! them from its own notion of thread and task. Every rule about who may proceed lives here,
//! once:
//!
//! | type | rule |
//! | --- | --- |
//! | [`RawLock`] | one holder at a time, released by anyone, release of an unlocked lock refused |
//! | [`RawReentrantLock`] | one owner, nested levels; re-entry allowed or refused per call ([`Reentry`]); release by a non-owner refused; release-all / relock for condition waits |
//! | [`RawDualLock`] | Python's `Condition()` lock for both worlds: a thread's hold is a [`RawReentrantLock`]'s (owned, nested), a task's hold a [`RawLock`]'s (released by anyone), and a task re-entering its own hold is refused |
//! | [`RawRwLock`] | many readers or one writer, per-owner hold counts: a writer may also read, releasing the write lock while still reading downgrades, a read→write upgrade is refused or allowed ([`Upgrade`]) |
//! | [`Relock`] | what [`Condition::wait_raw`](crate::Condition::wait_raw) needs of a lock: release every level, wait, take them all back (also after a cancel) |
//!
//! # Self-deadlocks are errors
//!
//! Each lock records the OS thread a hold was taken on. A *blocking* acquire that would
//! have to wait on a thread where an event loop is running (the caller says so), while
//! a hold taken on that same thread is in the way, or a waiter queued from that thread
//! (a task of that loop: the blocking wait could not pass it, and it could not run),
//! could never end: the code that must release it can only run on that thread, which
//! the wait blocks. Such a call fails with [`LockError::WouldDeadlock`] instead of
//! hanging. A task re-entering a lock it holds,
//! when the call refuses re-entry, fails with [`LockError::Reentered`].
//!
//! ```
//! use aiosync::raw::{Holder, RawReentrantLock, Reentry, LockError};
//! use aiosync::OwnerId;
//!
//! let lock = RawReentrantLock::new();
//! let task = Holder::task(OwnerId::new_unique());
//! assert_eq!(lock.try_lock(&task, Reentry::Allow), Ok(true));
//! assert_eq!(lock.try_lock(&task, Reentry::Allow), Ok(true)); // two levels
//! assert_eq!(lock.try_lock(&task, Reentry::Refuse), Err(LockError::Reentered));
//! // This thread runs the task's event loop: blocking here could never succeed.
//! let me = Holder::thread();
//! assert_eq!(lock.lock_blocking(&me, Reentry::Allow, None, true), Err(LockError::WouldDeadlock));
//! assert_eq!(lock.release_all(task.owner()), Ok(2));
//! ```

mod dual;
mod lock;
mod reentrant;
mod relock;
mod rwlock;

pub use dual::{RawDualLock, RawDualLockFuture};
pub use lock::{RawLock, RawLockFuture};
pub use reentrant::{RawReentrantLock, RawReentrantLockFuture, Reentry};
pub use relock::{Relock, RelockState};
pub use rwlock::{RawRwLock, RawRwLockFuture, Upgrade};

use crate::kernel::semaphore::RawSemaphore;
use crate::kernel::thread_tag;
use crate::task::OwnerId;
use std::fmt;

/// Who acquires or releases: an owner identity, the OS thread the call runs on, and
/// whether the owner is a task (else the thread itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    owner: OwnerId,
    thread: u64,
    task: bool,
}

impl Holder {
    /// The calling OS thread, acting for itself.
    ///
    /// ```
    /// use aiosync::raw::Holder;
    /// assert_eq!(Holder::thread(), Holder::thread());
    /// assert!(!Holder::thread().is_task());
    /// ```
    #[inline]
    pub fn thread() -> Holder {
        // One thread-local read: a thread's owner id is its tag.
        let thread = thread_tag();
        Holder {
            owner: OwnerId::from_raw(thread).expect("thread tags start at 1"),
            thread,
            task: false,
        }
    }

    /// A task with identity `owner`, running on the calling OS thread.
    #[inline]
    pub fn task(owner: OwnerId) -> Holder {
        Holder {
            owner,
            thread: thread_tag(),
            task: true,
        }
    }

    /// The owner identity.
    #[inline]
    pub fn owner(&self) -> OwnerId {
        self.owner
    }

    /// Whether the owner is a task.
    #[inline]
    pub fn is_task(&self) -> bool {
        self.task
    }

    /// The thread word recorded with a hold: never zero (thread tags start at 1).
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.thread << 1 | u64::from(self.task)
    }

    /// Whether a hold recorded as `word` blocks a blocking wait of this holder for good:
    /// it was taken on this same thread, where an event loop runs (`loop_running`).
    #[inline]
    pub(crate) fn blocked_by(&self, word: u64, loop_running: bool) -> bool {
        loop_running && word != 0 && word >> 1 == self.thread
    }

    /// The self-deadlock rule, once for every raw lock: a blocking wait of this holder on
    /// `sem` could never end if an event loop runs on its thread (`loop_running`) and
    /// either a hold was taken on this thread (`held_here`) or a task of this thread
    /// queued for (or was just handed) the lock first.
    pub(crate) fn check_blocking(
        &self,
        held_here: bool,
        sem: &RawSemaphore,
        loop_running: bool,
    ) -> Result<(), LockError> {
        if loop_running && (held_here || sem.has_waiter_of_thread(self.thread)) {
            return Err(LockError::WouldDeadlock);
        }
        Ok(())
    }
}

/// Why an acquire was refused without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockError {
    /// The owner already holds the lock and the call refused re-entry (it would wait
    /// for itself).
    Reentered,
    /// A blocking wait on the thread whose running event loop holds the lock: the
    /// holder could never run to release it.
    WouldDeadlock,
    /// A reader asked for the write lock while the policy refuses upgrades, or while
    /// another reader is already upgrading (both would wait for each other).
    UpgradeRefused,
    /// An async acquire for "the current task" ran where the task has no identity (see
    /// [`task::scope`](crate::task::scope)): it could not tell re-entry from contention.
    NoTaskId,
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockError::Reentered => {
                "the lock is already held by this owner; re-entering it would deadlock"
            }
            LockError::WouldDeadlock => {
                "a blocking acquire on the thread whose running event loop holds the lock \
                 would deadlock"
            }
            LockError::UpgradeRefused => "Cannot upgrade RWLock from read to write",
            LockError::NoTaskId => "the current async task has no identity (see task::scope)",
        })
    }
}

impl std::error::Error for LockError {}
