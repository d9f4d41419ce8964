//! The guards of `RwLock`: read, upgradable read and write, borrowed and `Arc`-owned.

use super::{RwLock, Upgrade, UPGRADABLE, WRITE};
use crate::kernel::semaphore::PendingAcquire;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A shared read lock on a [`RwLock`]; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

/// An upgradable read lock on a [`RwLock`]; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockUpgradableReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

/// The write lock on a [`RwLock`]; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    pub(super) fn new(lock: &'a RwLock<T>) -> Self {
        RwLockReadGuard {
            lock,
            _marker: PhantomData,
        }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    pub(super) fn new(lock: &'a RwLock<T>) -> Self {
        RwLockWriteGuard {
            lock,
            _marker: PhantomData,
        }
    }

    /// Turns the write lock into a read lock, letting waiting readers in, with no writer
    /// in between.
    ///
    /// ```
    /// use aiosync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let mut w = lock.write_blocking();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn downgrade(guard: Self) -> RwLockReadGuard<'a, T> {
        let lock = guard.lock;
        std::mem::forget(guard);
        lock.sem.release(WRITE - 1);
        RwLockReadGuard::new(lock)
    }

    /// Turns the write lock into an upgradable read lock.
    pub fn downgrade_to_upgradable(guard: Self) -> RwLockUpgradableReadGuard<'a, T> {
        let lock = guard.lock;
        std::mem::forget(guard);
        lock.sem.release(WRITE - UPGRADABLE);
        RwLockUpgradableReadGuard::new(lock)
    }
}

impl<'a, T: ?Sized> RwLockUpgradableReadGuard<'a, T> {
    pub(super) fn new(lock: &'a RwLock<T>) -> Self {
        RwLockUpgradableReadGuard {
            lock,
            _marker: PhantomData,
        }
    }

    /// Turns it into a plain read lock (another upgradable reader or a writer may then go).
    pub fn downgrade(guard: Self) -> RwLockReadGuard<'a, T> {
        let lock = guard.lock;
        std::mem::forget(guard);
        lock.sem.release(UPGRADABLE - 1);
        RwLockReadGuard::new(lock)
    }

    /// Upgrades to a write lock, waiting for the other readers to leave. The upgrade goes
    /// ahead of every queued writer and reader.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes releases the upgradable lock too (the guard
    /// was moved into it), and nothing else leaks.
    pub fn upgrade(guard: Self) -> Upgrade<'a, T> {
        let lock = guard.lock;
        std::mem::forget(guard);
        Upgrade {
            pending: PendingAcquire::urgent(lock, WRITE - UPGRADABLE),
            done: false,
        }
    }

    /// Blocking form of [`RwLockUpgradableReadGuard::upgrade`].
    ///
    /// ```
    /// use aiosync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(1);
    /// let up = lock.upgradable_read_blocking();
    /// let mut w = RwLockUpgradableReadGuard::upgrade_blocking(up);
    /// *w += 1;
    /// ```
    pub fn upgrade_blocking(guard: Self) -> RwLockWriteGuard<'a, T> {
        let lock = guard.lock;
        std::mem::forget(guard);
        let r = lock.sem.acquire_urgent_blocking(WRITE - UPGRADABLE, None);
        debug_assert!(r.is_ok());
        RwLockWriteGuard::new(lock)
    }

    /// Upgrades at once if no other reader holds the lock; otherwise gives the guard back.
    ///
    /// ```
    /// use aiosync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(1);
    /// let up = lock.upgradable_read_blocking();
    /// let r = lock.read_blocking();
    /// let up = RwLockUpgradableReadGuard::try_upgrade(up).unwrap_err();
    /// drop(r);
    /// assert!(RwLockUpgradableReadGuard::try_upgrade(up).is_ok());
    /// ```
    pub fn try_upgrade(guard: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
        if guard.lock.sem.try_take_urgent(WRITE - UPGRADABLE) {
            let lock = guard.lock;
            std::mem::forget(guard);
            Ok(RwLockWriteGuard::new(lock))
        } else {
            Err(guard)
        }
    }
}

macro_rules! guard_impls {
    ($guard:ident, $permits:expr) => {
        impl<T: ?Sized> Drop for $guard<'_, T> {
            fn drop(&mut self) {
                // The guard holds exactly these permits.
                self.lock.sem.release($permits);
            }
        }

        impl<T: ?Sized> Deref for $guard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard holds at least a read lock.
                unsafe { &*self.lock.value.get() }
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    };
}

guard_impls!(RwLockReadGuard, 1);
guard_impls!(RwLockUpgradableReadGuard, UPGRADABLE);
guard_impls!(RwLockWriteGuard, WRITE);

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard holds the lock exclusively.
        unsafe { &mut *self.lock.value.get() }
    }
}

/// An owned read guard for a [`RwLock`] in an `Arc`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuardArc<T: ?Sized>(pub(super) Arc<RwLock<T>>);

/// An owned write guard for a [`RwLock`] in an `Arc`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuardArc<T: ?Sized>(pub(super) Arc<RwLock<T>>);

// SAFETY: a read guard gives `&T` on whichever thread holds it.
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockReadGuardArc<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLockReadGuardArc<T> {}
// SAFETY: the write guard gives `&mut T` to its one holder.
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockWriteGuardArc<T> {}
// SAFETY: sharing the write guard shares `&T`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLockWriteGuardArc<T> {}

macro_rules! arc_guard_impls {
    ($guard:ident, $permits:expr) => {
        impl<T: ?Sized> Drop for $guard<T> {
            fn drop(&mut self) {
                // The guard holds exactly these permits.
                self.0.sem.release($permits);
            }
        }

        impl<T: ?Sized> Deref for $guard<T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard holds at least a read lock.
                unsafe { &*self.0.value.get() }
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    };
}

arc_guard_impls!(RwLockReadGuardArc, 1);
arc_guard_impls!(RwLockWriteGuardArc, WRITE);

impl<T: ?Sized> RwLockWriteGuardArc<T> {
    /// Turns the write lock into a read lock, letting waiting readers in, with no writer
    /// in between.
    pub fn downgrade(guard: Self) -> RwLockReadGuardArc<T> {
        let guard = std::mem::ManuallyDrop::new(guard);
        // SAFETY: the guard is never dropped, so its `Arc` is moved out exactly once.
        let lock = unsafe { std::ptr::read(&guard.0) };
        lock.sem.release(WRITE - 1);
        RwLockReadGuardArc(lock)
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuardArc<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard holds the lock exclusively.
        unsafe { &mut *self.0.value.get() }
    }
}
