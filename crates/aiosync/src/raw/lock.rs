//! An unowned lock that records the thread of its holder.

use super::{Holder, LockError};
use crate::kernel::block;
use crate::kernel::semaphore::{Acquire, AsRawSemaphore, PendingAcquire, RawSemaphore};
use crate::sync::{AtomicU64, Ordering};
use crate::task::NotOwnerError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A lock without data whose holder is not checked on release (Python's `Lock`: any
/// thread or task may release it), but recorded, so a blocking acquire that could never
/// succeed is refused.
///
/// `holder`:
///
/// | value | meaning |
/// | --- | --- |
/// | 0 | not held (or the lock is being handed to a waiter that has not run yet) |
/// | `thread << 1 \| task` | held; taken on `thread`, by a task if the low bit is set |
///
/// It is stored by the acquirer after it took the permit and swapped to 0 by the
/// releaser before it gives the permit back, so two racing releases cannot both succeed.
///
/// ```
/// use aiosync::raw::{Holder, RawLock};
/// let lock = RawLock::new();
/// let me = Holder::thread();
/// assert!(lock.try_lock(&me));
/// assert!(!lock.try_lock(&me));
/// lock.unlock().unwrap();
/// assert!(lock.unlock().is_err()); // not locked any more
/// ```
pub struct RawLock {
    sem: RawSemaphore,
    holder: AtomicU64,
}

impl Default for RawLock {
    fn default() -> Self {
        RawLock::new()
    }
}

impl RawLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> RawLock {
        RawLock {
            sem: RawSemaphore::new(1),
            holder: AtomicU64::new(0),
        }
    }

    /// An unlocked lock.
    #[cfg(loom)]
    pub fn new() -> RawLock {
        RawLock {
            sem: RawSemaphore::new(1),
            holder: AtomicU64::new(0),
        }
    }

    /// Takes the lock for `holder` if it is free and nobody queues for it.
    #[inline]
    pub fn try_lock(&self, holder: &Holder) -> bool {
        if self.sem.try_acquire_one() {
            self.took(holder);
            true
        } else {
            false
        }
    }

    #[inline]
    fn took(&self, holder: &Holder) {
        self.holder.store(holder.word(), Ordering::Relaxed);
    }

    /// Takes the lock for `holder`, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; a lock handed to it
    /// meanwhile goes to the next waiter.
    pub fn lock(&self, holder: Holder) -> RawLockFuture<'_> {
        RawLockFuture {
            pending: PendingAcquire::new(self, 1),
            holder,
        }
    }

    /// Takes the lock for `holder`, blocking the thread for at most `timeout` (`None`:
    /// no limit). Returns whether it got it.
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if it would have to wait while `loop_running` (an
    /// event loop runs on this thread) and the lock was taken on this thread.
    pub fn lock_blocking(
        &self,
        holder: &Holder,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        if self.try_lock(holder) {
            return Ok(true);
        }
        self.check_blocking(holder, loop_running)?;
        let got = match timeout.map(block::deadline) {
            None | Some(None) => {
                self.sem.acquire_forever(1);
                true
            }
            Some(deadline) => self.sem.acquire_blocking(1, deadline).is_ok(),
        };
        if got {
            self.took(holder);
        }
        Ok(got)
    }

    /// Whether `holder` may wait for the lock blocking its thread (for a caller that
    /// drives the wait itself, after a failed [`try_lock`](Self::try_lock)).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if `loop_running` (an event loop runs on this thread)
    /// and the lock was taken on this thread: its holder could never run to release it.
    #[inline]
    pub fn check_blocking(&self, holder: &Holder, loop_running: bool) -> Result<(), LockError> {
        let held_here = holder.blocked_by(self.holder.load(Ordering::Relaxed), loop_running);
        holder.check_blocking(held_here, &self.sem, loop_running)
    }

    /// Releases the lock, whoever holds it.
    ///
    /// # Errors
    /// [`NotOwnerError`] if it is not locked.
    #[inline]
    pub fn unlock(&self) -> Result<(), NotOwnerError> {
        // Forget the holder first: the next taker records itself after the release, and
        // of two racing releases only the one that saw it non-zero gives a permit back.
        if self.holder.swap(0, Ordering::Relaxed) == 0 {
            return Err(NotOwnerError);
        }
        self.sem.release(1);
        Ok(())
    }

    /// Whether the lock is held (or being handed over).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.sem.available() == 0
    }

    /// Whether anyone waits for it.
    #[inline]
    pub fn has_waiters(&self) -> bool {
        self.sem.has_waiters()
    }

    /// How many acquires wait for it now (a snapshot, for display).
    ///
    /// ```
    /// let lock = aiosync::raw::RawLock::new();
    /// assert_eq!(lock.waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.sem.waiters()
    }

    pub(crate) fn poll_lock(
        &self,
        holder: &Holder,
        acquire: &mut Acquire,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let polled = acquire.poll_open(&self.sem, cx);
        if polled.is_ready() {
            self.took(holder);
        }
        polled
    }

    pub(crate) fn cancel(&self, acquire: &mut Acquire) {
        acquire.cancel(&self.sem);
    }
}

impl fmt::Debug for RawLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawLock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// The future returned by [`RawLock::lock`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RawLockFuture<'a> {
    /// Withdraws the acquire when dropped while queued.
    pending: PendingAcquire<&'a RawLock>,
    holder: Holder,
}

impl Future for RawLockFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let (lock, acquire) = this.pending.split();
        lock.poll_lock(&this.holder, acquire, cx)
    }
}

impl AsRawSemaphore for RawLock {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl fmt::Debug for RawLockFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawLockFuture").finish_non_exhaustive()
    }
}
