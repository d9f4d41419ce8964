//! The owner-aware mode of the read-write lock: holds belong to a thread or a task, which
//! may take the lock again while holding it (every rule is [`RawRwLock`]'s).

use crate::raw::{Holder, LockError, RawRwLock, Upgrade};
use crate::task::OwnerId;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A read-write lock whose holds belong to an owner, the current thread for blocking calls
/// and the current async task for async ones (as [`ReentrantMutex`](crate::ReentrantMutex)):
///
/// - an owner holding the lock (to read or to write) that reads again gets one more read
///   level at once: a writer may also read;
/// - a writer that writes again gets one more write level;
/// - dropping the last write guard while read guards of the same owner remain (or
///   [`downgrade`](ReentrantRwLockWriteGuard::downgrade)) leaves a read hold, with no
///   writer in between;
/// - a reader that asks to write is refused ([`LockError::UpgradeRefused`]) or, built
///   with [`Upgrade::Allow`], waits ahead of every queued waiter for the other readers.
///
/// Since one owner can hold a read and a write guard at once, guards give `&T` only: put
/// what you mutate in a `Mutex`, an atomic or a `Cell`-like type that is `Sync`.
/// Otherwise the policy is [`RwLock`](crate::RwLock)'s: writer-preferring FIFO.
///
/// # Examples
///
/// ```
/// use aiosync::ReentrantRwLock;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let rw = ReentrantRwLock::new(AtomicU32::new(0));
/// let w = rw.write_blocking().unwrap();
/// let r = rw.read_blocking(); // this thread writes, so it may also read
/// w.fetch_add(1, Ordering::Relaxed);
/// let r2 = w.downgrade(); // still reading: no writer gets in between
/// assert_eq!(r.load(Ordering::Relaxed), 1);
/// drop((r, r2));
/// assert!(!rw.is_locked());
/// ```
pub struct ReentrantRwLock<T: ?Sized> {
    raw: RawRwLock,
    upgrade: Upgrade,
    value: T,
}

impl<T> ReentrantRwLock<T> {
    /// An unlocked lock that refuses upgrades (a reader asking to write gets
    /// [`LockError::UpgradeRefused`]).
    pub fn new(value: T) -> ReentrantRwLock<T> {
        ReentrantRwLock::with_upgrade(value, Upgrade::Refuse)
    }

    /// An unlocked lock with the given rule for a reader that asks to write.
    ///
    /// ```
    /// use aiosync::{raw::Upgrade, ReentrantRwLock};
    /// let rw = ReentrantRwLock::with_upgrade((), Upgrade::Allow);
    /// let r = rw.read_blocking();
    /// let w = rw.write_blocking().unwrap(); // the only reader: upgraded at once
    /// assert!(rw.is_write_locked());
    /// drop((w, r));
    /// ```
    pub fn with_upgrade(value: T, upgrade: Upgrade) -> ReentrantRwLock<T> {
        ReentrantRwLock {
            raw: RawRwLock::new(),
            upgrade,
            value,
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// The current task, or (outside any task) the current thread.
fn current() -> Holder {
    OwnerId::current_task().map_or_else(Holder::thread, Holder::task)
}

impl<T: ?Sized> ReentrantRwLock<T> {
    /// Reads as the current async task, waiting asynchronously.
    ///
    /// # Errors
    /// [`LockError::NoTaskId`] when the task has no identity (see
    /// [`task::scope`](crate::task::scope)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue and takes nothing.
    ///
    /// ```
    /// use aiosync::{task, ReentrantRwLock};
    /// # futures_lite::future::block_on(task::scope(async {
    /// let rw = ReentrantRwLock::new(5);
    /// let w = rw.write().await.unwrap();
    /// let r = rw.read().await.unwrap(); // the writing task may also read
    /// assert_eq!((*w, *r), (5, 5));
    /// # }));
    /// ```
    pub fn read(&self) -> ReentrantRwLockFuture<'_, T, Shared> {
        self.future(None)
    }

    /// Writes as the current async task, waiting asynchronously.
    ///
    /// # Errors
    /// [`LockError::NoTaskId`] as [`read`](Self::read); [`LockError::UpgradeRefused`] if the
    /// task reads and the lock refuses upgrades (or another reader is upgrading).
    ///
    /// # Cancel safety
    ///
    /// As [`read`](Self::read); a cancelled upgrade leaves the task's read hold as it was.
    pub fn write(&self) -> ReentrantRwLockFuture<'_, T, Exclusive> {
        self.future(None)
    }

    /// [`read`](Self::read) as `owner`, for callers that track their own identities
    /// (language bindings, custom executors).
    pub fn read_as(&self, owner: OwnerId) -> ReentrantRwLockFuture<'_, T, Shared> {
        self.future(Some(Holder::task(owner)))
    }

    /// [`write`](Self::write) as `owner`.
    pub fn write_as(&self, owner: OwnerId) -> ReentrantRwLockFuture<'_, T, Exclusive> {
        self.future(Some(Holder::task(owner)))
    }

    fn future<M: Mode>(&self, holder: Option<Holder>) -> ReentrantRwLockFuture<'_, T, M> {
        ReentrantRwLockFuture {
            lock: self,
            mode: PhantomData,
            started: holder.map(|h| (h, None)),
        }
    }

    /// Reads as the current thread, blocking it.
    pub fn read_blocking(&self) -> ReentrantRwLockReadGuard<'_, T> {
        let h = Holder::thread();
        let got = self.raw.read_blocking(&h, None, false);
        debug_assert_eq!(got, Ok(true), "reads are never refused; no deadline");
        self.read_guard(h.owner())
    }

    /// Reads as the current thread, blocking it for at most `timeout`.
    pub fn read_blocking_timeout(
        &self,
        timeout: Duration,
    ) -> Option<ReentrantRwLockReadGuard<'_, T>> {
        let h = Holder::thread();
        matches!(self.raw.read_blocking(&h, Some(timeout), false), Ok(true))
            .then(|| self.read_guard(h.owner()))
    }

    /// Writes as the current thread, blocking it.
    ///
    /// # Errors
    /// [`LockError::UpgradeRefused`] as [`write`](Self::write).
    pub fn write_blocking(&self) -> Result<ReentrantRwLockWriteGuard<'_, T>, LockError> {
        let h = Holder::thread();
        self.raw.write_blocking(&h, self.upgrade, None, false)?;
        Ok(self.write_guard(h.owner()))
    }

    /// Writes as the current thread, blocking it for at most `timeout` (`Ok(None)`: timed
    /// out, nothing taken).
    ///
    /// # Errors
    /// [`LockError::UpgradeRefused`] as [`write`](Self::write).
    pub fn write_blocking_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<ReentrantRwLockWriteGuard<'_, T>>, LockError> {
        let h = Holder::thread();
        let got = self
            .raw
            .write_blocking(&h, self.upgrade, Some(timeout), false)?;
        Ok(got.then(|| self.write_guard(h.owner())))
    }

    /// Reads as the current task (or thread, outside any task) if possible at once.
    pub fn try_read(&self) -> Option<ReentrantRwLockReadGuard<'_, T>> {
        let h = current();
        self.raw.try_read(&h).then(|| self.read_guard(h.owner()))
    }

    /// Writes as the current task (or thread, outside any task) if possible at once.
    ///
    /// # Errors
    /// [`LockError::UpgradeRefused`] as [`write`](Self::write).
    pub fn try_write(&self) -> Result<Option<ReentrantRwLockWriteGuard<'_, T>>, LockError> {
        let h = current();
        let got = self.raw.try_write(&h, self.upgrade)?;
        Ok(got.then(|| self.write_guard(h.owner())))
    }

    /// `(read levels, write levels)` that `owner` holds.
    pub fn levels_of(&self, owner: OwnerId) -> (usize, usize) {
        self.raw.levels_of(owner)
    }

    /// Whether any owner holds the lock.
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether an owner holds it to write.
    pub fn is_write_locked(&self) -> bool {
        self.raw.is_write_locked()
    }

    /// How many owners hold read levels.
    pub fn read_holders(&self) -> usize {
        self.raw.read_holders()
    }

    /// Returns a mutable reference to the value: `&mut self` proves no one holds it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    fn read_guard(&self, owner: OwnerId) -> ReentrantRwLockReadGuard<'_, T> {
        ReentrantRwLockReadGuard { lock: self, owner }
    }

    fn write_guard(&self, owner: OwnerId) -> ReentrantRwLockWriteGuard<'_, T> {
        ReentrantRwLockWriteGuard { lock: self, owner }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantRwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantRwLock")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for ReentrantRwLock<T> {
    fn default() -> Self {
        ReentrantRwLock::new(T::default())
    }
}

/// What a [`ReentrantRwLockFuture`] takes: [`Shared`] or [`Exclusive`].
pub trait Mode: sealed::Sealed + Unpin {
    /// The guard it gives.
    type Guard<'a, T: ?Sized + 'a>;
    #[doc(hidden)]
    fn start<T: ?Sized>(lock: &ReentrantRwLock<T>, h: Holder) -> crate::raw::RawRwLockFuture<'_>;
    #[doc(hidden)]
    fn guard<T: ?Sized>(lock: &ReentrantRwLock<T>, owner: OwnerId) -> Self::Guard<'_, T>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Shared {}
    impl Sealed for super::Exclusive {}
}

/// A read hold ([`ReentrantRwLock::read`]).
#[derive(Debug, Clone, Copy)]
pub struct Shared;

/// A write hold ([`ReentrantRwLock::write`]).
#[derive(Debug, Clone, Copy)]
pub struct Exclusive;

impl Mode for Shared {
    type Guard<'a, T: ?Sized + 'a> = ReentrantRwLockReadGuard<'a, T>;
    fn start<T: ?Sized>(lock: &ReentrantRwLock<T>, h: Holder) -> crate::raw::RawRwLockFuture<'_> {
        lock.raw.read(h)
    }
    fn guard<T: ?Sized>(lock: &ReentrantRwLock<T>, owner: OwnerId) -> Self::Guard<'_, T> {
        lock.read_guard(owner)
    }
}

impl Mode for Exclusive {
    type Guard<'a, T: ?Sized + 'a> = ReentrantRwLockWriteGuard<'a, T>;
    fn start<T: ?Sized>(lock: &ReentrantRwLock<T>, h: Holder) -> crate::raw::RawRwLockFuture<'_> {
        lock.raw.write(h, lock.upgrade)
    }
    fn guard<T: ?Sized>(lock: &ReentrantRwLock<T>, owner: OwnerId) -> Self::Guard<'_, T> {
        lock.write_guard(owner)
    }
}

/// The future of [`ReentrantRwLock::read`] and [`ReentrantRwLock::write`] (and their
/// `_as` forms): the guard, or why it was refused.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReentrantRwLockFuture<'a, T: ?Sized, M: Mode> {
    lock: &'a ReentrantRwLock<T>,
    mode: PhantomData<M>,
    /// The owner (found on the first poll for the current task), and the raw acquire once
    /// started; the raw future withdraws itself when dropped.
    started: Option<(Holder, Option<crate::raw::RawRwLockFuture<'a>>)>,
}

impl<'a, T: ?Sized, M: Mode> Future for ReentrantRwLockFuture<'a, T, M> {
    type Output = Result<M::Guard<'a, T>, LockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let lock = this.lock;
        let (h, raw) = match &mut this.started {
            Some(s) => s,
            None => {
                let task = OwnerId::current_task().ok_or(LockError::NoTaskId)?;
                this.started.insert((Holder::task(task), None))
            }
        };
        let raw = raw.get_or_insert_with(|| M::start(lock, *h));
        match Pin::new(raw).poll(cx) {
            Poll::Ready(r) => {
                let owner = h.owner();
                this.started = None;
                Poll::Ready(r.map(|()| M::guard(lock, owner)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized, M: Mode> fmt::Debug for ReentrantRwLockFuture<'_, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantRwLockFuture")
            .field(
                "started",
                &self.started.as_ref().is_some_and(|s| s.1.is_some()),
            )
            .finish_non_exhaustive()
    }
}

/// One read level of a [`ReentrantRwLock`], held by one owner; dropping it leaves the level.
#[must_use = "if unused the lock is released at once"]
pub struct ReentrantRwLockReadGuard<'a, T: ?Sized> {
    lock: &'a ReentrantRwLock<T>,
    owner: OwnerId,
}

/// One write level of a [`ReentrantRwLock`], held by one owner; dropping it leaves the
/// level (downgrading to a read hold if the owner still has read levels).
#[must_use = "if unused the lock is released at once"]
pub struct ReentrantRwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a ReentrantRwLock<T>,
    owner: OwnerId,
}

impl<'a, T: ?Sized> ReentrantRwLockWriteGuard<'a, T> {
    /// Turns this write level into a read level, with no writer in between.
    pub fn downgrade(self) -> ReentrantRwLockReadGuard<'a, T> {
        let (lock, owner) = (self.lock, self.owner);
        // A writer also reads: never waits.
        let read = lock.raw.try_read(&Holder::task(owner));
        debug_assert!(read, "a write hold covers a read");
        drop(self);
        lock.read_guard(owner)
    }

    /// The owner holding this level.
    pub fn owner(&self) -> OwnerId {
        self.owner
    }
}

impl<T: ?Sized> ReentrantRwLockReadGuard<'_, T> {
    /// The owner holding this level.
    pub fn owner(&self) -> OwnerId {
        self.owner
    }
}

impl<T: ?Sized> Deref for ReentrantRwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.value
    }
}

impl<T: ?Sized> Deref for ReentrantRwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.value
    }
}

impl<T: ?Sized> Drop for ReentrantRwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        let left = self.lock.raw.release_read(self.owner);
        debug_assert!(left.is_ok(), "a guard's level is held");
    }
}

impl<T: ?Sized> Drop for ReentrantRwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        let left = self.lock.raw.release_write(self.owner);
        debug_assert!(left.is_ok(), "a guard's level is held");
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantRwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantRwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
