//! An async + blocking mutex.

use crate::kernel::block;
use crate::kernel::semaphore::{AsRawSemaphore, PendingAcquire, RawSemaphore};
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A mutual-exclusion lock usable from async tasks (any runtime) and OS threads at once.
///
/// Waiters are served in FIFO order. A running thread may take a free lock ahead of
/// waiters that live on *other* threads, but never ahead of a waiter on its own thread
/// and never once the first waiter has waited about half a millisecond: then the lock is
/// handed to it directly. That keeps contention between threads fast without starving
/// anyone.
///
/// # Examples
///
/// ```
/// use aiosync::Mutex;
/// use std::sync::Arc;
///
/// let counter = Arc::new(Mutex::new(0));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = counter.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *counter.lock_blocking() += 1;
///             }
///         })
///     })
///     .collect();
/// # futures_lite::future::block_on(async {
/// for _ in 0..1000 {
///     *counter.lock().await += 1; // a task shares the same lock
/// }
/// # });
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(*counter.lock_blocking(), 5000);
/// ```
pub struct Mutex<T: ?Sized> {
    sem: RawSemaphore,
    /// # Safety
    /// Only accessed through a guard, which exists only while the lock is held.
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one holder at a time, so `T: Send` is enough.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; `T` itself is never shared between threads at once.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// ```
    /// let m = aiosync::Mutex::new(5);
    /// assert_eq!(*m.lock_blocking(), 5);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            sem: RawSemaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// Creates an unlocked mutex holding `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            sem: RawSemaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    ///
    /// ```
    /// let m = aiosync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the lock, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future before it completes gives up its place in the
    /// queue; if the lock had already been handed to it, the lock goes to the next waiter.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let m = aiosync::Mutex::new(1);
    /// *m.lock().await += 1;
    /// assert_eq!(*m.lock().await, 2);
    /// # });
    /// ```
    #[inline]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            pending: PendingAcquire::new(self, 1),
        }
    }

    /// Acquires the lock, blocking the current thread.
    ///
    /// Never call this from an async task that may hold the lock itself: it would wait
    /// for itself.
    ///
    /// ```
    /// let m = aiosync::Mutex::new(1);
    /// *m.lock_blocking() += 1;
    /// assert_eq!(*m.lock_blocking(), 2);
    /// ```
    #[inline]
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        if !self.sem.try_acquire_one() {
            self.sem.acquire_forever(1);
        }
        MutexGuard::new(self)
    }

    /// Acquires the lock, blocking the current thread for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = aiosync::Mutex::new(());
    /// let g = m.lock_blocking();
    /// assert!(m.lock_blocking_timeout(Duration::from_millis(1)).is_none());
    /// drop(g);
    /// assert!(m.lock_blocking_timeout(Duration::from_millis(1)).is_some());
    /// ```
    pub fn lock_blocking_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        if self.sem.try_acquire_one()
            || self
                .sem
                .acquire_blocking(1, block::deadline(timeout))
                .is_ok()
        {
            Some(MutexGuard::new(self))
        } else {
            None
        }
    }

    /// Acquires the lock if it is free and nobody is queued for it.
    ///
    /// ```
    /// let m = aiosync::Mutex::new(());
    /// let g = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sem.try_acquire_one().then(|| MutexGuard::new(self))
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    ///
    /// ```
    /// let m = aiosync::Mutex::new(());
    /// let g = m.lock_blocking();
    /// assert!(m.is_locked());
    /// drop(g);
    /// assert!(!m.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.sem.available() == 0
    }

    /// Returns a mutable reference to the value: `&mut self` proves no one else holds it.
    ///
    /// ```
    /// let mut m = aiosync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(*m.lock_blocking(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Releases a lock whose guard was forgotten. Used by the Condition and bindings.
    ///
    /// # Safety
    /// The lock must be held, and its guard must not be dropped afterwards.
    pub(crate) unsafe fn force_unlock(&self) {
        self.sem.release(1)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the lock through an `Arc`, giving a guard that owns a reference count
    /// (so it can be moved into a spawned task).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Mutex::lock`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let m = Arc::new(aiosync::Mutex::new(0));
    /// let mut g = m.lock_arc().await;
    /// *g += 1;
    /// drop(g);
    /// assert_eq!(*m.lock_blocking(), 1);
    /// # });
    /// ```
    pub fn lock_arc(self: &Arc<Self>) -> LockArc<T> {
        LockArc {
            pending: PendingAcquire::new(self.clone(), 1),
        }
    }

    /// Blocking form of [`Mutex::lock_arc`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(aiosync::Mutex::new(0));
    /// let g = m.lock_arc_blocking();
    /// std::thread::spawn(move || drop(g)).join().unwrap();
    /// assert!(!m.is_locked());
    /// ```
    pub fn lock_arc_blocking(self: &Arc<Self>) -> MutexGuardArc<T> {
        if !self.sem.try_acquire_one() {
            self.sem.acquire_forever(1);
        }
        MutexGuardArc(self.clone())
    }

    /// Blocking form of [`Mutex::lock_arc`] with a timeout.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let m = Arc::new(aiosync::Mutex::new(()));
    /// let g = m.lock_arc_blocking();
    /// assert!(m.lock_arc_blocking_timeout(Duration::from_millis(1)).is_none());
    /// drop(g);
    /// assert!(m.lock_arc_blocking_timeout(Duration::from_millis(1)).is_some());
    /// ```
    pub fn lock_arc_blocking_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<MutexGuardArc<T>> {
        if self.sem.try_acquire_one()
            || self
                .sem
                .acquire_blocking(1, block::deadline(timeout))
                .is_ok()
        {
            Some(MutexGuardArc(self.clone()))
        } else {
            None
        }
    }

    /// Acquires the lock through an `Arc` if it is free and nobody is queued for it.
    ///
    /// ```
    /// let m = std::sync::Arc::new(aiosync::Mutex::new(()));
    /// let g = m.try_lock_arc().unwrap();
    /// assert!(m.try_lock_arc().is_none());
    /// # drop(g);
    /// ```
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<MutexGuardArc<T>> {
        self.sem
            .try_acquire_one()
            .then(|| MutexGuardArc(self.clone()))
    }
}

impl<T: ?Sized> AsRawSemaphore for Mutex<T> {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`Mutex::lock`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let m = aiosync::Mutex::new(1);
/// let fut: aiosync::Lock<'_, i32> = m.lock();
/// assert_eq!(*fut.await, 1);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Lock<'a, T: ?Sized> {
    /// Withdrawn when dropped: a lock handed to it goes to the next waiter.
    pending: PendingAcquire<&'a Mutex<T>>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.pending.poll_open(cx) {
            Poll::Ready(()) => Poll::Ready(MutexGuard::new(this.pending.owner())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

/// The future returned by [`Mutex::lock_arc`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let m = std::sync::Arc::new(aiosync::Mutex::new(1));
/// let fut: aiosync::LockArc<i32> = m.lock_arc();
/// assert_eq!(*fut.await, 1);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct LockArc<T: ?Sized> {
    /// Withdrawn when dropped, as [`Lock`]'s; its `Arc` moves into the guard.
    pending: PendingAcquire<Arc<Mutex<T>>>,
}

impl<T: ?Sized> Unpin for LockArc<T> {}

impl<T: ?Sized> Future for LockArc<T> {
    type Output = MutexGuardArc<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.pending.is_spent(), "LockArc polled after completion");
        match this.pending.poll_open(cx) {
            Poll::Ready(()) => Poll::Ready(MutexGuardArc(this.pending.take_owner())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockArc").finish_non_exhaustive()
    }
}

/// Holds a [`Mutex`] locked; unlocks when dropped.
///
/// ```
/// let m = aiosync::Mutex::new(1);
/// let mut g: aiosync::MutexGuard<'_, i32> = m.lock_blocking();
/// *g += 1;
/// drop(g); // unlocks
/// assert_eq!(*m.lock_blocking(), 2);
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    // Send (unlike std's guard) so it can be held across an `.await` in a spawned task:
    // unlocking from another thread is fine here.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _marker: PhantomData,
        }
    }

    /// The mutex this guard holds.
    ///
    /// ```
    /// let m = aiosync::Mutex::new(());
    /// let g = m.lock_blocking();
    /// assert!(std::ptr::eq(aiosync::MutexGuard::source(&g), &m));
    /// ```
    pub fn source(guard: &Self) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a MutexGuard always holds the lock.
        unsafe { self.mutex.force_unlock() }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// An owned guard for a [`Mutex`] in an `Arc`; unlocks when dropped.
///
/// ```
/// let m = std::sync::Arc::new(aiosync::Mutex::new(1));
/// let g: aiosync::MutexGuardArc<i32> = m.lock_arc_blocking();
/// std::thread::spawn(move || drop(g)).join().unwrap();
/// assert!(!m.is_locked());
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuardArc<T: ?Sized>(Arc<Mutex<T>>);

// SAFETY: the guard gives `&mut T` to one holder; it may move where `T` may.
unsafe impl<T: ?Sized + Send> Send for MutexGuardArc<T> {}
// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuardArc<T> {}

impl<T: ?Sized> MutexGuardArc<T> {
    /// The mutex this guard holds.
    ///
    /// ```
    /// use aiosync::MutexGuardArc;
    /// let m = std::sync::Arc::new(aiosync::Mutex::new(()));
    /// let g = m.lock_arc_blocking();
    /// assert!(std::sync::Arc::ptr_eq(MutexGuardArc::source(&g), &m));
    /// ```
    pub fn source(guard: &Self) -> &Arc<Mutex<T>> {
        &guard.0
    }
}

impl<T: ?Sized> Drop for MutexGuardArc<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a MutexGuardArc always holds the lock.
        unsafe { self.0.force_unlock() }
    }
}

impl<T: ?Sized> Deref for MutexGuardArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.0.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuardArc<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
