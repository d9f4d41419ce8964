//! A lock that is an RLock to threads and a plain lock to tasks.

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

/// The lock of Python's `Condition()` for code of both worlds: `threading.Condition()`
/// makes an RLock, `asyncio.Condition()` a Lock, and this is each of them to its side.
///
/// - A **thread hold** (a [`Holder::thread`] took it) is owned and nested: the thread may
///   take it again (one more level), and only that thread may release it.
/// - A **task hold** (a [`Holder::task`] took it) is a plain lock hold, as asyncio's
///   `Lock`: anyone may release it, wait under it or notify under it (a condition wait
///   then takes it back as the waiter), and nobody re-enters it: the task that holds it
///   asking again gets [`LockError::Reentered`] at once (it would wait for itself).
///
/// | field | meaning | changed by |
/// | --- | --- | --- |
/// | `word` | the hold's thread word (`thread << 1 \| task`, see [`Holder`]), or 0 | stored by the taker after it took the permit; cleared by the releaser before it gives the permit back — for a task hold with a compare-exchange, so of two racing releases one wins |
/// | `owner` | the [`OwnerId`] that took it, or 0 | as `word` (stored before it, cleared after it) |
/// | `levels` | a thread hold's nesting depth (1 for a task hold) | the owning thread; the taker |
///
/// ```
/// use aiosync::raw::{Holder, LockError, RawDualLock};
/// use aiosync::OwnerId;
///
/// let lock = RawDualLock::new();
/// let me = Holder::thread();
/// assert_eq!(lock.try_lock(&me), Ok(true));
/// assert_eq!(lock.try_lock(&me), Ok(true)); // a thread re-enters
/// lock.unlock(&me).unwrap();
/// lock.unlock(&me).unwrap();
///
/// let (a, b) = (Holder::task(OwnerId::new_unique()), Holder::task(OwnerId::new_unique()));
/// assert_eq!(lock.try_lock(&a), Ok(true));
/// assert_eq!(lock.try_lock(&a), Err(LockError::Reentered)); // a task does not
/// lock.unlock(&b).unwrap(); // anyone releases a task hold
/// assert!(!lock.is_locked());
/// ```
pub struct RawDualLock {
    sem: RawSemaphore,
    word: AtomicU64,
    owner: AtomicU64,
    levels: AtomicUsize,
}

impl Default for RawDualLock {
    fn default() -> Self {
        RawDualLock::new()
    }
}

/// Whether a thread word is a task's.
#[inline]
fn is_task_word(word: u64) -> bool {
    word & 1 == 1
}

impl RawDualLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> RawDualLock {
        RawDualLock {
            sem: RawSemaphore::new(1),
            word: AtomicU64::new(0),
            owner: AtomicU64::new(0),
            levels: AtomicUsize::new(0),
        }
    }

    /// An unlocked lock.
    #[cfg(loom)]
    pub fn new() -> RawDualLock {
        RawDualLock {
            sem: RawSemaphore::new(1),
            word: AtomicU64::new(0),
            owner: AtomicU64::new(0),
            levels: AtomicUsize::new(0),
        }
    }

    /// If `holder` holds the lock: one more level (a thread), or the refusal (a task).
    #[inline]
    fn reenter(&self, holder: &Holder) -> Option<Result<(), LockError>> {
        if holder.is_task() {
            // Others may clear a task hold: it is this task's only while `word` is set
            // (the owner is cleared after it).
            let held = self.word.load(Ordering::Acquire) != 0
                && self.owner.load(Ordering::Acquire) == holder.owner.as_u64();
            return held.then_some(Err(LockError::Reentered));
        }
        // A thread hold changes only in its owner's hands.
        if self.owner.load(Ordering::Relaxed) != holder.owner.as_u64() {
            return None;
        }
        self.levels.fetch_add(1, Ordering::Relaxed);
        Some(Ok(()))
    }

    /// Records a fresh acquire of `levels` levels (the permit is taken).
    #[inline]
    fn took(&self, holder: &Holder, levels: usize) {
        self.levels.store(levels, Ordering::Relaxed);
        self.owner.store(holder.owner.as_u64(), Ordering::Relaxed);
        self.word.store(holder.word(), Ordering::Release);
    }

    /// Clears a thread hold (its owner's call) and gives the permit back.
    fn give_back(&self) {
        self.owner.store(0, Ordering::Relaxed);
        self.word.store(0, Ordering::Release);
        self.sem.release(1);
    }

    /// Releases the task hold recorded as `word`, if it still is: whoever wins the
    /// compare-exchange gives the permit back.
    fn release_task_hold(&self, word: u64) -> bool {
        if self
            .word
            .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.owner.store(0, Ordering::Release);
        self.levels.store(0, Ordering::Relaxed);
        self.sem.release(1);
        true
    }

    /// Takes the lock (a thread: or one more level) if possible at once. `Ok(false)`:
    /// held by another, or others queue first.
    ///
    /// # Errors
    /// [`LockError::Reentered`] if `holder` is a task that holds it.
    #[inline]
    pub fn try_lock(&self, holder: &Holder) -> Result<bool, LockError> {
        if let Some(r) = self.reenter(holder) {
            return r.map(|()| true);
        }
        if self.sem.try_acquire_one() {
            self.took(holder, 1);
            return Ok(true);
        }
        Ok(false)
    }

    /// Takes the lock (a thread: or one more level) for `holder`, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; a lock handed to it
    /// meanwhile goes to the next waiter.
    pub fn lock(&self, holder: Holder) -> RawDualLockFuture<'_> {
        RawDualLockFuture {
            pending: PendingAcquire::new(self, 1),
            holder,
            levels: 1,
            relock: false,
        }
    }

    /// Takes the lock for `holder`, blocking the thread for at most `timeout` (`None`:
    /// no limit). Returns whether it got it.
    ///
    /// # Errors
    /// [`LockError::Reentered`] as [`try_lock`](Self::try_lock);
    /// [`LockError::WouldDeadlock`] if it would have to wait while `loop_running` (an
    /// event loop runs on this thread) and the lock was taken on this thread.
    pub fn lock_blocking(
        &self,
        holder: &Holder,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        if self.try_lock(holder)? {
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
    /// and the lock was taken on this thread.
    #[inline]
    pub fn check_blocking(&self, holder: &Holder, loop_running: bool) -> Result<(), LockError> {
        let held_here = holder.blocked_by(self.word.load(Ordering::Acquire), loop_running);
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

    /// Releases on behalf of `releaser`: one level of a thread hold that `releaser` owns,
    /// or a task hold, whoever took it.
    ///
    /// # Errors
    /// [`NotOwnerError`] if it is not locked, or a thread other than `releaser` holds it.
    pub fn unlock(&self, releaser: &Holder) -> Result<(), NotOwnerError> {
        loop {
            let word = self.word.load(Ordering::Acquire);
            if word == 0 {
                return Err(NotOwnerError);
            }
            if is_task_word(word) {
                if self.release_task_hold(word) {
                    return Ok(());
                }
                continue; // released or re-taken meanwhile: look again
            }
            if self.owner.load(Ordering::Relaxed) != releaser.owner.as_u64() {
                return Err(NotOwnerError);
            }
            if self.levels.fetch_sub(1, Ordering::Relaxed) == 1 {
                self.give_back();
            }
            return Ok(());
        }
    }

    /// Releases every level on behalf of `releaser` (as [`unlock`](Self::unlock) decides
    /// who may) and returns how many (a condition wait takes them back with
    /// [`relock`](Self::relock)).
    ///
    /// # Errors
    /// As [`unlock`](Self::unlock).
    pub fn release_all(&self, releaser: &Holder) -> Result<usize, NotOwnerError> {
        loop {
            let word = self.word.load(Ordering::Acquire);
            if word == 0 {
                return Err(NotOwnerError);
            }
            if is_task_word(word) {
                if self.release_task_hold(word) {
                    return Ok(1);
                }
                continue;
            }
            if self.owner.load(Ordering::Relaxed) != releaser.owner.as_u64() {
                return Err(NotOwnerError);
            }
            let levels = self.levels.swap(0, Ordering::Relaxed);
            self.give_back();
            return Ok(levels);
        }
    }

    /// Takes the lock back at `levels` levels for `holder` after
    /// [`release_all`](Self::release_all) (a task takes one).
    ///
    /// # Cancel safety
    ///
    /// As [`lock`](Self::lock).
    pub fn relock(&self, holder: Holder, levels: usize) -> RawDualLockFuture<'_> {
        RawDualLockFuture {
            pending: PendingAcquire::new(self, 1),
            holder,
            levels: if holder.is_task() { 1 } else { levels },
            relock: true,
        }
    }

    /// Blocking form of [`relock`](Self::relock) (no time limit, as threading's).
    pub fn relock_blocking(&self, holder: &Holder, levels: usize) {
        if !holder.is_task() && self.owner.load(Ordering::Relaxed) == holder.owner.as_u64() {
            // Taken again meanwhile by the same thread: add the saved levels.
            self.levels.fetch_add(levels, Ordering::Relaxed);
            return;
        }
        let levels = if holder.is_task() { 1 } else { levels };
        self.acquire_blocking(holder, levels, None);
    }

    /// Whether `holder` may act under the lock (wait, notify): it is a task hold (anyone
    /// may), or a thread hold of `holder`.
    pub fn is_held_by(&self, holder: &Holder) -> bool {
        let word = self.word.load(Ordering::Acquire);
        word != 0
            && (is_task_word(word) || self.owner.load(Ordering::Relaxed) == holder.owner.as_u64())
    }

    /// Whether `owner` took the hold there is now (a thread: owns it; a task: took it).
    #[inline]
    pub fn is_owned_by(&self, owner: OwnerId) -> bool {
        self.word.load(Ordering::Acquire) != 0
            && self.owner.load(Ordering::Relaxed) == owner.as_u64()
    }

    /// How many levels the hold there is now has, 0 when unlocked (a snapshot, for
    /// display).
    pub fn levels(&self) -> usize {
        if self.word.load(Ordering::Acquire) == 0 {
            0
        } else {
            self.levels.load(Ordering::Relaxed)
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

    /// One poll of an acquire (or relock) of `levels` levels by `holder`.
    pub(crate) fn poll_lock(
        &self,
        holder: &Holder,
        levels: usize,
        relock: bool,
        acquire: &mut Acquire,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), LockError>> {
        // Also when queued: another request of the same thread may have taken the lock
        // meanwhile. A task relocking never counts as re-entering: anyone may release a
        // task hold, so it waits in line.
        if !(relock && holder.is_task()) {
            if let Some(r) = self.reenter(holder) {
                acquire.cancel(&self.sem);
                if r.is_ok() && levels > 1 {
                    self.levels.fetch_add(levels - 1, Ordering::Relaxed);
                }
                return Poll::Ready(r);
            }
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

impl AsRawSemaphore for RawDualLock {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl fmt::Debug for RawDualLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawDualLock")
            .field("locked", &self.is_locked())
            .field("levels", &self.levels())
            .finish()
    }
}

/// The future returned by [`RawDualLock::lock`] and [`RawDualLock::relock`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RawDualLockFuture<'a> {
    /// Withdraws the acquire when dropped while queued.
    pending: PendingAcquire<&'a RawDualLock>,
    holder: Holder,
    levels: usize,
    relock: bool,
}

impl Future for RawDualLockFuture<'_> {
    type Output = Result<(), LockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (lock, acquire) = this.pending.split();
        lock.poll_lock(&this.holder, this.levels, this.relock, acquire, cx)
    }
}

impl fmt::Debug for RawDualLockFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawDualLockFuture").finish_non_exhaustive()
    }
}
