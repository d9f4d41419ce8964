//! A lock with one owner and nested levels, owners given explicitly.

use super::{Holder, LockError};
use crate::kernel::block;
use crate::kernel::semaphore::{Acquire, AsRawSemaphore, PendingAcquire, RawSemaphore};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::task::{NotOwnerError, OwnerId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Whether an owner that already holds a lock may take it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    /// Count one more level (an RLock).
    Allow,
    /// Fail with [`LockError::Reentered`]: the caller expects a plain lock, and waiting
    /// for itself would never end.
    Refuse,
}

/// A lock held by one owner at a time, which may hold it at several levels.
///
/// | field | meaning | changed by |
/// | --- | --- | --- |
/// | `owner` | the owning [`OwnerId`], or 0 | the owner only: set after it took the permit, cleared before it gives it back |
/// | `levels` | nesting depth | the owner only |
/// | `thread` | the holder's thread word (see [`Holder`]), or 0 | as `owner` |
///
/// A caller compares `owner` with its own id only; the value can equal its id only if it
/// stored it itself, so relaxed loads are enough.
///
/// ```
/// use aiosync::raw::{Holder, RawReentrantLock, Reentry};
/// use aiosync::OwnerId;
///
/// let lock = RawReentrantLock::new();
/// let a = Holder::task(OwnerId::new_unique());
/// let b = Holder::task(OwnerId::new_unique());
/// assert_eq!(lock.try_lock(&a, Reentry::Allow), Ok(true));
/// assert_eq!(lock.try_lock(&b, Reentry::Allow), Ok(false));
/// assert!(lock.unlock(b.owner()).is_err()); // not the owner
/// lock.unlock(a.owner()).unwrap();
/// assert!(!lock.is_locked());
/// ```
pub struct RawReentrantLock {
    sem: RawSemaphore,
    owner: AtomicU64,
    levels: AtomicUsize,
    thread: AtomicU64,
}

impl Default for RawReentrantLock {
    fn default() -> Self {
        RawReentrantLock::new()
    }
}

impl RawReentrantLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> RawReentrantLock {
        RawReentrantLock {
            sem: RawSemaphore::new(1),
            owner: AtomicU64::new(0),
            levels: AtomicUsize::new(0),
            thread: AtomicU64::new(0),
        }
    }

    /// An unlocked lock.
    #[cfg(loom)]
    pub fn new() -> RawReentrantLock {
        RawReentrantLock {
            sem: RawSemaphore::new(1),
            owner: AtomicU64::new(0),
            levels: AtomicUsize::new(0),
            thread: AtomicU64::new(0),
        }
    }

    /// If `owner` holds the lock: one more level, or the refusal.
    #[inline]
    fn reenter(&self, owner: OwnerId, reentry: Reentry) -> Option<Result<(), LockError>> {
        if self.owner.load(Ordering::Relaxed) != owner.as_u64() {
            return None;
        }
        Some(match reentry {
            Reentry::Allow => {
                self.levels.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Reentry::Refuse => Err(LockError::Reentered),
        })
    }

    /// Records a fresh acquire of `levels` levels (the permit is taken).
    #[inline]
    fn took(&self, holder: &Holder, levels: usize) {
        self.levels.store(levels, Ordering::Relaxed);
        self.thread.store(holder.word(), Ordering::Relaxed);
        self.owner.store(holder.owner.as_u64(), Ordering::Relaxed);
    }

    /// Takes the lock (or one more level) if possible at once. `Ok(false)`: held by
    /// another owner, or others queue first.
    ///
    /// # Errors
    /// [`LockError::Reentered`] if `holder` holds it and `reentry` refuses.
    #[inline]
    pub fn try_lock(&self, holder: &Holder, reentry: Reentry) -> Result<bool, LockError> {
        if let Some(r) = self.reenter(holder.owner, reentry) {
            return r.map(|()| true);
        }
        if self.sem.try_acquire_one() {
            self.took(holder, 1);
            return Ok(true);
        }
        Ok(false)
    }

    /// Takes the lock (or one more level) for `holder`, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; a lock handed to it
    /// meanwhile goes to the next waiter.
    pub fn lock(&self, holder: Holder, reentry: Reentry) -> RawReentrantLockFuture<'_> {
        RawReentrantLockFuture {
            pending: PendingAcquire::new(self, 1),
            holder,
            reentry,
            levels: 1,
        }
    }

    /// Takes the lock (or one more level), blocking the thread for at most `timeout`
    /// (`None`: no limit). Returns whether it got it.
    ///
    /// # Errors
    /// [`LockError::Reentered`] as [`try_lock`](Self::try_lock);
    /// [`LockError::WouldDeadlock`] if it would have to wait while `loop_running` (an
    /// event loop runs on this thread) and the holder took it on this thread.
    pub fn lock_blocking(
        &self,
        holder: &Holder,
        reentry: Reentry,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        if self.try_lock(holder, reentry)? {
            return Ok(true);
        }
        self.check_blocking(holder, loop_running)?;
        Ok(self.acquire_blocking(holder, 1, timeout))
    }

    /// Whether `holder` may wait for the lock blocking its thread (for a caller that
    /// drives the wait itself, after a failed [`try_lock`](Self::try_lock)).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if `loop_running` (an event loop runs on this thread)
    /// and the holder took the lock on this thread.
    #[inline]
    pub fn check_blocking(&self, holder: &Holder, loop_running: bool) -> Result<(), LockError> {
        let held_here = holder.blocked_by(self.thread.load(Ordering::Relaxed), loop_running);
        holder.check_blocking(held_here, &self.sem, loop_running)
    }

    fn acquire_blocking(&self, holder: &Holder, levels: usize, timeout: Option<Duration>) -> bool {
        let got = match timeout.map(block::deadline) {
            None | Some(None) => {
                self.sem.acquire_forever(1);
                true
            }
            Some(deadline) => self.sem.acquire_blocking(1, deadline).is_ok(),
        };
        if got {
            self.took(holder, levels);
        }
        got
    }

    /// Leaves one level held by `owner`; the last one unlocks.
    ///
    /// # Errors
    /// [`NotOwnerError`] if `owner` does not hold the lock.
    #[inline]
    pub fn unlock(&self, owner: OwnerId) -> Result<(), NotOwnerError> {
        if !self.is_owned_by(owner) {
            return Err(NotOwnerError);
        }
        if self.levels.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.give_back();
        }
        Ok(())
    }

    /// Leaves one level of whoever holds the lock. Caller must hold a level (a guard).
    #[inline]
    pub(crate) fn unlock_held(&self) {
        debug_assert!(
            self.levels.load(Ordering::Relaxed) > 0,
            "a guard holds a level"
        );
        if self.levels.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.give_back();
        }
    }

    /// Clears the owner, then returns the permit (the next owner records itself after).
    fn give_back(&self) {
        self.owner.store(0, Ordering::Relaxed);
        self.thread.store(0, Ordering::Relaxed);
        self.sem.release(1);
    }

    /// Leaves every level `owner` holds at once and returns how many (a condition wait
    /// gives them back with [`relock`](Self::relock)).
    ///
    /// # Errors
    /// [`NotOwnerError`] if `owner` does not hold the lock.
    pub fn release_all(&self, owner: OwnerId) -> Result<usize, NotOwnerError> {
        if !self.is_owned_by(owner) {
            return Err(NotOwnerError);
        }
        let levels = self.levels.swap(0, Ordering::Relaxed);
        self.give_back();
        Ok(levels)
    }

    /// Takes the lock back at `levels` levels after [`release_all`](Self::release_all).
    ///
    /// # Cancel safety
    ///
    /// As [`lock`](Self::lock).
    pub fn relock(&self, holder: Holder, levels: usize) -> RawReentrantLockFuture<'_> {
        RawReentrantLockFuture {
            pending: PendingAcquire::new(self, 1),
            holder,
            reentry: Reentry::Allow,
            levels,
        }
    }

    /// Blocking form of [`relock`](Self::relock) (no time limit, as threading's).
    pub fn relock_blocking(&self, holder: &Holder, levels: usize) {
        if self.reenter(holder.owner, Reentry::Allow).is_some() {
            // Taken again meanwhile by the same owner: add the saved levels.
            self.levels.fetch_add(levels - 1, Ordering::Relaxed);
            return;
        }
        self.acquire_blocking(holder, levels, None);
    }

    /// The current owner as a holder (for a typed guard, whose owner holds the lock).
    pub(crate) fn holder(&self) -> Option<Holder> {
        let owner = OwnerId::from_raw(self.owner.load(Ordering::Relaxed))?;
        let word = self.thread.load(Ordering::Relaxed);
        Some(Holder {
            owner,
            thread: word >> 1,
            task: word & 1 == 1,
        })
    }

    /// Whether `owner` holds the lock.
    #[inline]
    pub fn is_owned_by(&self, owner: OwnerId) -> bool {
        self.owner.load(Ordering::Relaxed) == owner.as_u64()
    }

    /// How many levels `owner` holds (0 if it does not hold the lock).
    pub fn levels_of(&self, owner: OwnerId) -> usize {
        if self.is_owned_by(owner) {
            self.levels.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether anyone holds the lock (or it is being handed over).
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
    pub fn waiters(&self) -> usize {
        self.sem.waiters()
    }

    /// How many levels its current owner holds, 0 when unlocked (a snapshot, for
    /// display: to decide anything, ask [`levels_of`](Self::levels_of) as the owner).
    ///
    /// ```
    /// use aiosync::raw::{Holder, RawReentrantLock, Reentry};
    /// let lock = RawReentrantLock::new();
    /// let me = Holder::thread();
    /// lock.try_lock(&me, Reentry::Allow).unwrap();
    /// lock.try_lock(&me, Reentry::Allow).unwrap();
    /// assert_eq!(lock.levels(), 2);
    /// ```
    pub fn levels(&self) -> usize {
        if self.owner.load(Ordering::Relaxed) == 0 {
            0
        } else {
            self.levels.load(Ordering::Relaxed)
        }
    }

    /// One poll of an acquire of `levels` levels by `holder`.
    pub(crate) fn poll_lock(
        &self,
        holder: &Holder,
        reentry: Reentry,
        levels: usize,
        acquire: &mut Acquire,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), LockError>> {
        // Also when queued: another request of the same owner may have taken the lock
        // meanwhile (two lock futures of one task in flight at once).
        if self.is_owned_by(holder.owner) {
            acquire.cancel(&self.sem);
            let r = self.reenter(holder.owner, reentry).expect("owned");
            if r.is_ok() && levels > 1 {
                self.levels.fetch_add(levels - 1, Ordering::Relaxed);
            }
            return Poll::Ready(r);
        }
        match acquire.poll_open(&self.sem, cx) {
            Poll::Ready(()) => {
                self.took(holder, levels);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn cancel(&self, acquire: &mut Acquire) {
        acquire.cancel(&self.sem);
    }
}

impl AsRawSemaphore for RawReentrantLock {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl fmt::Debug for RawReentrantLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawReentrantLock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// The future returned by [`RawReentrantLock::lock`] and [`RawReentrantLock::relock`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RawReentrantLockFuture<'a> {
    /// Withdraws the acquire when dropped while queued.
    pending: PendingAcquire<&'a RawReentrantLock>,
    holder: Holder,
    reentry: Reentry,
    levels: usize,
}

impl Future for RawReentrantLockFuture<'_> {
    type Output = Result<(), LockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (lock, acquire) = this.pending.split();
        lock.poll_lock(&this.holder, this.reentry, this.levels, acquire, cx)
    }
}

impl fmt::Debug for RawReentrantLockFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawReentrantLockFuture")
            .finish_non_exhaustive()
    }
}
