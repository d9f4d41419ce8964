//! A reentrant mutex owned by a thread (blocking calls) or a task (async calls).

use crate::kernel::semaphore::{Acquire, AsRawSemaphore, PendingAcquire, RawSemaphore};
use crate::raw::{Holder, RawReentrantLock, Reentry};
use crate::task::{NoTaskIdError, NotOwnerError, OwnerId};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A mutex that its owner may lock again while holding it; guards give `&T` (wrap the
/// value in a `Cell`/`RefCell` for mutation).
///
/// The owner is the current thread for blocking calls ([`lock_blocking`]) and the current
/// async task for [`lock`]. A task's identity comes from [`task::scope`](crate::task::scope)
/// (or tokio's task id with the `tokio` feature); where none is known, [`lock`] fails with
/// [`NoTaskIdError`] instead of risking a silent self-deadlock.
///
/// Like parking_lot's, a `ReentrantMutex<T>` is `Sync` for any `T: Send`, so
/// `ReentrantMutex<RefCell<T>>` works; its guards are then not `Send` (a guard moved to
/// another thread would share `&T` with the owner re-entering). When `T: Sync` the guards
/// are `Send`, so a task holding one across an `.await` can run on a multi-threaded runtime.
///
/// [`lock`]: ReentrantMutex::lock
/// [`lock_blocking`]: ReentrantMutex::lock_blocking
///
/// # Examples
///
/// ```
/// use aiosync::ReentrantMutex;
/// use std::cell::Cell;
///
/// let m = ReentrantMutex::new(Cell::new(0));
/// let outer = m.lock_blocking();
/// let inner = m.lock_blocking(); // same thread: fine
/// inner.set(inner.get() + 1);
/// drop(inner);
/// assert_eq!(outer.get(), 1);
/// ```
pub struct ReentrantMutex<T: ?Sized> {
    /// Every ownership rule: the typed layer only derives owners and hands out `&T`.
    pub(crate) raw: RawReentrantLock,
    value: T,
}

// SAFETY: `&T` is handed out only through guards; they are `Send` only if `T: Sync`, so
// without it every `&T` stays on the thread of its owner, one owner at a time.
unsafe impl<T: ?Sized + Send> Sync for ReentrantMutex<T> {}

impl<T> ReentrantMutex<T> {
    /// Creates an unlocked reentrant mutex.
    pub fn new(value: T) -> ReentrantMutex<T> {
        ReentrantMutex {
            raw: RawReentrantLock::new(),
            value,
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    /// Locks as the current async task, waiting asynchronously.
    ///
    /// # Errors
    /// [`NoTaskIdError`] when the task has no identity (see the type's docs).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; a lock handed to it goes to
    /// the next waiter.
    ///
    /// ```
    /// use aiosync::{task, ReentrantMutex};
    /// # futures_lite::future::block_on(async {
    /// let m = ReentrantMutex::new(());
    /// assert!(m.lock().await.is_err()); // no task identity here
    /// task::scope(async {
    ///     let _a = m.lock().await.unwrap();
    ///     let _b = m.lock().await.unwrap();
    /// })
    /// .await;
    /// # });
    /// ```
    pub fn lock(&self) -> ReentrantLock<'_, T> {
        ReentrantLock {
            owner: None,
            pending: PendingAcquire::new(self, 1),
        }
    }

    /// Locks as the current thread, blocking it.
    pub fn lock_blocking(&self) -> ReentrantMutexGuard<'_, T> {
        self.lock_blocking_inner(Holder::thread(), None)
            .expect("no deadline")
    }

    /// Locks as the current thread, blocking it for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = std::sync::Arc::new(aiosync::ReentrantMutex::new(()));
    /// let g = m.lock_blocking();
    /// let m2 = m.clone();
    /// let other = std::thread::spawn(move || m2.lock_blocking_timeout(Duration::from_millis(1)).is_none());
    /// assert!(other.join().unwrap());
    /// assert!(m.lock_blocking_timeout(Duration::from_millis(1)).is_some()); // owner re-enters
    /// # drop(g);
    /// ```
    pub fn lock_blocking_timeout(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_blocking_inner(Holder::thread(), Some(timeout))
    }

    /// Locks as the current task (or thread, outside any task) if that is possible at once.
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        let holder = match OwnerId::current_task() {
            Some(task) => Holder::task(task),
            None => Holder::thread(),
        };
        self.try_lock_inner(holder)
    }

    /// Whether any owner holds the lock.
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether `owner` holds the lock.
    pub fn is_owned_by(&self, owner: OwnerId) -> bool {
        self.raw.is_owned_by(owner)
    }

    /// Returns a mutable reference to the value: `&mut self` proves no one holds it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// Locks through an `Arc` as the current async task, giving an owned guard.
    ///
    /// # Cancel safety
    ///
    /// As [`ReentrantMutex::lock`].
    pub fn lock_arc(self: &Arc<Self>) -> ReentrantLockArc<T> {
        ReentrantLockArc {
            owner: None,
            pending: PendingAcquire::new(self.clone(), 1),
        }
    }

    /// Blocking form of [`ReentrantMutex::lock_arc`] (owner: the current thread).
    pub fn lock_arc_blocking(self: &Arc<Self>) -> ReentrantMutexGuardArc<T> {
        let g = self.lock_blocking();
        std::mem::forget(g);
        ReentrantMutexGuardArc(self.clone(), PhantomData)
    }

    fn lock_blocking_inner(
        &self,
        holder: Holder,
        timeout: Option<Duration>,
    ) -> Option<ReentrantMutexGuard<'_, T>> {
        // No event loop is known to run here: the typed API never refuses a blocking wait.
        let got = self
            .raw
            .lock_blocking(&holder, Reentry::Allow, timeout, false)
            .expect("re-entry is allowed and no loop is named");
        got.then(|| self.guard())
    }

    fn try_lock_inner(&self, holder: Holder) -> Option<ReentrantMutexGuard<'_, T>> {
        let got = self.raw.try_lock(&holder, Reentry::Allow);
        got.expect("re-entry is allowed").then(|| self.guard())
    }

    /// A guard for one level the caller has just taken.
    #[inline]
    pub(crate) fn guard(&self) -> ReentrantMutexGuard<'_, T> {
        ReentrantMutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    /// Leaves one level; the last one unlocks. Only guards call it: they hold a level.
    #[inline]
    fn unlock_one(&self) {
        self.raw.unlock_held();
    }

    fn poll_lock(
        &self,
        holder: &mut Option<Holder>,
        acquire: &mut Acquire,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), NoTaskIdError>> {
        let h = match *holder {
            Some(h) => h,
            None => match OwnerId::current_task() {
                Some(id) => *holder.insert(Holder::task(id)),
                None => return Poll::Ready(Err(NoTaskIdError)),
            },
        };
        self.raw
            .poll_lock(&h, Reentry::Allow, 1, acquire, cx)
            .map(|r| {
                r.expect("re-entry is allowed");
                Ok(())
            })
    }
}

/// Locking as an explicit [`OwnerId`]: an id can be copied to another thread, so these need
/// `T: Sync` (two threads might then share `&T`).
impl<T: ?Sized + Sync> ReentrantMutex<T> {
    /// Locks as `owner`, waiting asynchronously. For callers that track their own
    /// identities (language bindings, custom executors).
    ///
    /// # Cancel safety
    ///
    /// As [`ReentrantMutex::lock`].
    pub fn lock_as(&self, owner: OwnerId) -> ReentrantLock<'_, T> {
        ReentrantLock {
            owner: Some(Holder::task(owner)),
            pending: PendingAcquire::new(self, 1),
        }
    }

    /// Locks as `owner`, blocking the current thread for at most `timeout` (`None`: no limit).
    pub fn lock_blocking_as(
        &self,
        owner: OwnerId,
        timeout: Option<Duration>,
    ) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_blocking_inner(Holder::task(owner), timeout)
    }

    /// Locks as `owner` if that is possible at once.
    pub fn try_lock_as(&self, owner: OwnerId) -> Option<ReentrantMutexGuard<'_, T>> {
        self.try_lock_inner(Holder::task(owner))
    }

    /// Leaves one level held by `owner`, for callers that forget guards and track
    /// ownership themselves (a binding's `release()`).
    ///
    /// # Errors
    /// [`NotOwnerError`] if `owner` does not hold the lock.
    ///
    /// ```
    /// use aiosync::{OwnerId, ReentrantMutex};
    /// let m = ReentrantMutex::new(());
    /// let me = OwnerId::new_unique();
    /// std::mem::forget(m.try_lock_as(me).unwrap());
    /// assert!(m.unlock_as(OwnerId::new_unique()).is_err());
    /// m.unlock_as(me).unwrap();
    /// assert!(!m.is_locked());
    /// ```
    pub fn unlock_as(&self, owner: OwnerId) -> Result<(), NotOwnerError> {
        self.raw.unlock(owner)
    }

    /// How many levels `owner` holds (0 if it does not hold the lock).
    pub fn levels_of(&self, owner: OwnerId) -> usize {
        self.raw.levels_of(owner)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantMutex")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> AsRawSemaphore for ReentrantMutex<T> {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        self.raw.raw_semaphore()
    }
}

impl<T: Default> Default for ReentrantMutex<T> {
    fn default() -> Self {
        ReentrantMutex::new(T::default())
    }
}

/// The future returned by [`ReentrantMutex::lock`] and [`ReentrantMutex::lock_as`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReentrantLock<'a, T: ?Sized> {
    owner: Option<Holder>,
    /// Withdrawn when dropped: a lock handed to it goes to the next waiter.
    pending: PendingAcquire<&'a ReentrantMutex<T>>,
}

impl<'a, T: ?Sized> Future for ReentrantLock<'a, T> {
    type Output = Result<ReentrantMutexGuard<'a, T>, NoTaskIdError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mutex: &'a ReentrantMutex<T> = this.pending.owner();
        let (_, acquire) = this.pending.split();
        mutex.poll_lock(&mut this.owner, acquire, cx).map(|r| {
            r.map(|()| ReentrantMutexGuard {
                mutex,
                _not_send: PhantomData,
            })
        })
    }
}

impl<T: ?Sized> fmt::Debug for ReentrantLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantLock").finish_non_exhaustive()
    }
}

/// The future returned by [`ReentrantMutex::lock_arc`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReentrantLockArc<T: ?Sized> {
    owner: Option<Holder>,
    /// Withdrawn when dropped, as [`ReentrantLock`]'s; its `Arc` moves into the guard.
    pending: PendingAcquire<Arc<ReentrantMutex<T>>>,
}

impl<T: ?Sized> Unpin for ReentrantLockArc<T> {}

impl<T: ?Sized> Future for ReentrantLockArc<T> {
    type Output = Result<ReentrantMutexGuardArc<T>, NoTaskIdError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (m, acquire) = this.pending.split();
        m.poll_lock(&mut this.owner, acquire, cx)
            .map(|r| r.map(|()| ReentrantMutexGuardArc(this.pending.take_owner(), PhantomData)))
    }
}

impl<T: ?Sized> fmt::Debug for ReentrantLockArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantLockArc").finish_non_exhaustive()
    }
}

/// Holds one level of a [`ReentrantMutex`]; leaves it when dropped.
#[must_use = "if unused the ReentrantMutex will immediately unlock"]
pub struct ReentrantMutexGuard<'a, T: ?Sized> {
    mutex: &'a ReentrantMutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: moving or sharing a guard shares `&T` with the owner's thread: fine if `T: Sync`.
unsafe impl<T: ?Sized + Sync> Send for ReentrantMutexGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for ReentrantMutexGuard<'_, T> {}

impl<'a, T: ?Sized> ReentrantMutexGuard<'a, T> {
    /// The mutex this guard holds a level of.
    pub fn source(guard: &Self) -> &'a ReentrantMutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Drop for ReentrantMutexGuard<'_, T> {
    fn drop(&mut self) {
        // A guard always holds one level of the lock.
        self.mutex.unlock_one()
    }
}

impl<T: ?Sized> Deref for ReentrantMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.mutex.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An owned guard for a [`ReentrantMutex`] in an `Arc`.
#[must_use = "if unused the ReentrantMutex will immediately unlock"]
pub struct ReentrantMutexGuardArc<T: ?Sized>(Arc<ReentrantMutex<T>>, PhantomData<*const ()>);

// SAFETY: as for `ReentrantMutexGuard`.
unsafe impl<T: ?Sized + Send + Sync> Send for ReentrantMutexGuardArc<T> {}
// SAFETY: as for `ReentrantMutexGuard`.
unsafe impl<T: ?Sized + Send + Sync> Sync for ReentrantMutexGuardArc<T> {}

impl<T: ?Sized> Drop for ReentrantMutexGuardArc<T> {
    fn drop(&mut self) {
        self.0.unlock_one()
    }
}

impl<T: ?Sized> Deref for ReentrantMutexGuardArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutexGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
