//! A reentrant mutex owned by a thread (blocking calls) or a task (async calls).

use crate::kernel::block;
use crate::kernel::semaphore::{Acquire, RawSemaphore};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
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
    sem: RawSemaphore,
    /// The owning `OwnerId`, or 0. Compared with the caller's id only: it can equal the
    /// caller's only if the caller stored it, so a relaxed load is enough.
    owner: AtomicU64,
    /// Nesting depth; only changed by the owner.
    count: AtomicUsize,
    value: T,
}

// SAFETY: `&T` is handed out only through guards; they are `Send` only if `T: Sync`, so
// without it every `&T` stays on the thread of its owner, one owner at a time.
unsafe impl<T: ?Sized + Send> Sync for ReentrantMutex<T> {}

impl<T> ReentrantMutex<T> {
    /// Creates an unlocked reentrant mutex.
    pub fn new(value: T) -> ReentrantMutex<T> {
        ReentrantMutex {
            sem: RawSemaphore::new(1),
            owner: AtomicU64::new(0),
            count: AtomicUsize::new(0),
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
            mutex: self,
            owner: None,
            acquire: Acquire::new(1),
        }
    }

    /// Locks as the current thread, blocking it.
    pub fn lock_blocking(&self) -> ReentrantMutexGuard<'_, T> {
        self.lock_blocking_inner(OwnerId::current_thread(), None)
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
        self.lock_blocking_inner(OwnerId::current_thread(), Some(timeout))
    }

    /// Locks as the current task (or thread, outside any task) if that is possible at once.
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        self.try_lock_inner(OwnerId::current())
    }

    /// Whether any owner holds the lock.
    pub fn is_locked(&self) -> bool {
        self.sem.available() == 0
    }

    /// Whether `owner` holds the lock.
    pub fn is_owned_by(&self, owner: OwnerId) -> bool {
        self.owner.load(Ordering::Relaxed) == owner.as_u64()
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
            mutex: Some(self.clone()),
            owner: None,
            acquire: Acquire::new(1),
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
        owner: OwnerId,
        timeout: Option<Duration>,
    ) -> Option<ReentrantMutexGuard<'_, T>> {
        if self.reenter(owner) || self.sem.try_acquire_one() {
            return Some(self.guard_after_acquire(owner));
        }
        let deadline = timeout.and_then(block::deadline);
        if timeout.is_some() && deadline.is_none() {
            // A timeout too large to represent: no limit.
            self.sem.acquire_forever(1);
        } else if self.sem.acquire_blocking(1, deadline).is_err() {
            return None;
        }
        Some(self.guard_after_acquire(owner))
    }

    fn try_lock_inner(&self, owner: OwnerId) -> Option<ReentrantMutexGuard<'_, T>> {
        (self.reenter(owner) || self.sem.try_acquire_one()).then(|| self.guard_after_acquire(owner))
    }

    /// If `owner` holds the lock, counts one more level and says so.
    #[inline]
    fn reenter(&self, owner: OwnerId) -> bool {
        if self.owner.load(Ordering::Relaxed) == owner.as_u64() {
            self.count.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Records the owner after `reenter` or a fresh acquire.
    #[inline]
    fn guard_after_acquire(&self, owner: OwnerId) -> ReentrantMutexGuard<'_, T> {
        if self.count.load(Ordering::Relaxed) == 0 {
            self.owner.store(owner.as_u64(), Ordering::Relaxed);
            self.count.store(1, Ordering::Relaxed);
        }
        ReentrantMutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    /// Leaves one level; the last one unlocks.
    #[inline]
    fn unlock_one(&self) {
        if self.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.owner.store(0, Ordering::Relaxed);
            self.sem.release(1);
        }
    }

    fn poll_lock(
        &self,
        owner: &mut Option<OwnerId>,
        acquire: &mut Acquire,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), NoTaskIdError>> {
        let id = match *owner {
            Some(id) => id,
            None => match OwnerId::current_task() {
                Some(id) => {
                    *owner = Some(id);
                    id
                }
                None => return Poll::Ready(Err(NoTaskIdError)),
            },
        };
        // Also when queued: another request of the same owner may have taken the lock
        // meanwhile (two lock futures of one task in flight at once).
        if self.owner.load(Ordering::Relaxed) == id.as_u64() {
            acquire.cancel(&self.sem);
            self.reenter(id);
            return Poll::Ready(Ok(()));
        }
        match acquire.poll_open(&self.sem, cx) {
            Poll::Ready(()) => {
                self.owner.store(id.as_u64(), Ordering::Relaxed);
                self.count.store(1, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
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
            mutex: self,
            owner: Some(owner),
            acquire: Acquire::new(1),
        }
    }

    /// Locks as `owner`, blocking the current thread for at most `timeout` (`None`: no limit).
    pub fn lock_blocking_as(
        &self,
        owner: OwnerId,
        timeout: Option<Duration>,
    ) -> Option<ReentrantMutexGuard<'_, T>> {
        self.lock_blocking_inner(owner, timeout)
    }

    /// Locks as `owner` if that is possible at once.
    pub fn try_lock_as(&self, owner: OwnerId) -> Option<ReentrantMutexGuard<'_, T>> {
        self.try_lock_inner(owner)
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
        if !self.is_owned_by(owner) {
            return Err(NotOwnerError);
        }
        self.unlock_one();
        Ok(())
    }

    /// How many levels `owner` holds (0 if it does not hold the lock).
    pub fn levels_of(&self, owner: OwnerId) -> usize {
        if self.is_owned_by(owner) {
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantMutex")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
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
    mutex: &'a ReentrantMutex<T>,
    owner: Option<OwnerId>,
    acquire: Acquire,
}

impl<'a, T: ?Sized> Future for ReentrantLock<'a, T> {
    type Output = Result<ReentrantMutexGuard<'a, T>, NoTaskIdError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.mutex
            .poll_lock(&mut this.owner, &mut this.acquire, cx)
            .map(|r| {
                r.map(|()| ReentrantMutexGuard {
                    mutex: this.mutex,
                    _not_send: PhantomData,
                })
            })
    }
}

impl<T: ?Sized> Drop for ReentrantLock<'_, T> {
    fn drop(&mut self) {
        self.acquire.cancel(&self.mutex.sem);
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
    mutex: Option<Arc<ReentrantMutex<T>>>,
    owner: Option<OwnerId>,
    acquire: Acquire,
}

impl<T: ?Sized> Unpin for ReentrantLockArc<T> {}

impl<T: ?Sized> Future for ReentrantLockArc<T> {
    type Output = Result<ReentrantMutexGuardArc<T>, NoTaskIdError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let m = this.mutex.as_ref().expect("polled after completion");
        m.poll_lock(&mut this.owner, &mut this.acquire, cx)
            .map(|r| r.map(|()| ReentrantMutexGuardArc(this.mutex.take().unwrap(), PhantomData)))
    }
}

impl<T: ?Sized> Drop for ReentrantLockArc<T> {
    fn drop(&mut self) {
        if let Some(m) = &self.mutex {
            self.acquire.cancel(&m.sem);
        }
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
