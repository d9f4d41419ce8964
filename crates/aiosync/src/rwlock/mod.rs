//! A read-write lock with upgradable reads.

use crate::kernel::block;
use crate::kernel::semaphore::{AsRawSemaphore, PendingAcquire, RawSemaphore, MAX_PERMITS};
use std::cell::UnsafeCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Permits a writer takes: all of them.
const WRITE: usize = MAX_PERMITS;
/// Permits an upgradable reader takes: more than half, so two of them (or one and a
/// writer) can never hold at once, while plain readers (1 each) still fit beside it.
const UPGRADABLE: usize = WRITE / 2 + 1;

/// A read-write lock usable from async tasks (any runtime) and OS threads at once: many
/// readers, or one writer.
///
/// # Policy
///
/// Writer-preferring FIFO: all acquires queue in arrival order. A waiting writer blocks
/// readers that arrive after it (so writers never starve), and when it leaves, the
/// readers that queued meanwhile go in together (so readers never starve either). The
/// same eventual-fairness rule as [`Mutex`](crate::Mutex) lets a running thread take a
/// *free* read lock ahead of a woken waiter on another thread, briefly, but never ahead
/// of a writer that cannot be served yet.
///
/// An upgradable read shares the lock with readers but excludes writers and other
/// upgradable readers; it can be upgraded to a write lock (waiting for the readers to
/// leave, ahead of any queued writer) without letting a writer in between.
///
/// A thread or task that holds a read lock and asks for another one while a writer waits
/// deadlocks, as with every writer-preferring lock.
///
/// # Examples
///
/// ```
/// use aiosync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read_blocking();
///     let r2 = lock.try_read().unwrap(); // readers share
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_none());
/// }
/// *lock.write_blocking() += 1;
/// assert_eq!(*lock.read_blocking(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    sem: RawSemaphore,
    /// # Safety
    /// Shared only through read guards, mutated only through the write guard.
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one writer, or `&T` to readers on many threads.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above: readers on several threads need `T: Sync`, a writer `T: Send`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked read-write lock.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            sem: RawSemaphore::new(WRITE),
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

macro_rules! blocking {
    ($sem:expr, $n:expr) => {
        if !$sem.try_acquire($n) {
            $sem.acquire_forever($n);
        }
    };
    ($sem:expr, $n:expr, $timeout:expr) => {
        $sem.try_acquire($n) || $sem.acquire_blocking($n, block::deadline($timeout)).is_ok()
    };
}

impl<T: ?Sized> RwLock<T> {
    /// Acquires a read lock, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; a lock handed to it is passed on.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let lock = aiosync::RwLock::new(1);
    /// let (a, b) = (lock.read().await, lock.read().await);
    /// assert_eq!(*a + *b, 2);
    /// # });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read {
            pending: PendingAcquire::new(self, 1),
        }
    }

    /// Acquires a read lock, blocking the current thread.
    pub fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        blocking!(self.sem, 1);
        RwLockReadGuard::new(self)
    }

    /// Acquires a read lock, blocking the current thread for at most `timeout`.
    pub fn read_blocking_timeout(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        blocking!(self.sem, 1, timeout).then(|| RwLockReadGuard::new(self))
    }

    /// Acquires a read lock if that is possible at once (no writer holds it or waits).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.sem.try_acquire(1).then(|| RwLockReadGuard::new(self))
    }

    /// Acquires a write lock, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place (readers it held back go in);
    /// a lock handed to it is passed on.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let lock = aiosync::RwLock::new(1);
    /// *lock.write().await += 1;
    /// assert_eq!(*lock.read().await, 2);
    /// # });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write {
            pending: PendingAcquire::new(self, WRITE),
        }
    }

    /// Acquires a write lock, blocking the current thread.
    pub fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        blocking!(self.sem, WRITE);
        RwLockWriteGuard::new(self)
    }

    /// Acquires a write lock, blocking the current thread for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = aiosync::RwLock::new(());
    /// let r = lock.read_blocking();
    /// assert!(lock.write_blocking_timeout(Duration::from_millis(1)).is_none());
    /// drop(r);
    /// assert!(lock.write_blocking_timeout(Duration::from_millis(1)).is_some());
    /// ```
    pub fn write_blocking_timeout(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        blocking!(self.sem, WRITE, timeout).then(|| RwLockWriteGuard::new(self))
    }

    /// Acquires a write lock if the lock is free and nobody waits.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.sem
            .try_acquire(WRITE)
            .then(|| RwLockWriteGuard::new(self))
    }

    /// Acquires an upgradable read lock, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`RwLock::read`].
    ///
    /// ```
    /// use aiosync::{RwLock, RwLockUpgradableReadGuard};
    /// # futures_lite::future::block_on(async {
    /// let lock = RwLock::new(1);
    /// let up = lock.upgradable_read().await;
    /// let r = lock.read().await; // readers still share
    /// assert!(lock.try_upgradable_read().is_none());
    /// drop(r);
    /// let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
    /// *w = 2;
    /// # });
    /// ```
    pub fn upgradable_read(&self) -> UpgradableRead<'_, T> {
        UpgradableRead {
            pending: PendingAcquire::new(self, UPGRADABLE),
        }
    }

    /// Acquires an upgradable read lock, blocking the current thread.
    pub fn upgradable_read_blocking(&self) -> RwLockUpgradableReadGuard<'_, T> {
        blocking!(self.sem, UPGRADABLE);
        RwLockUpgradableReadGuard::new(self)
    }

    /// Acquires an upgradable read lock, blocking the current thread for at most `timeout`.
    pub fn upgradable_read_blocking_timeout(
        &self,
        timeout: Duration,
    ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        blocking!(self.sem, UPGRADABLE, timeout).then(|| RwLockUpgradableReadGuard::new(self))
    }

    /// Acquires an upgradable read lock if that is possible at once.
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        self.sem
            .try_acquire(UPGRADABLE)
            .then(|| RwLockUpgradableReadGuard::new(self))
    }

    /// Acquires a read lock through an `Arc`, giving an owned guard.
    ///
    /// # Cancel safety
    ///
    /// As [`RwLock::read`].
    pub fn read_arc(self: &Arc<Self>) -> ReadArc<T> {
        ReadArc {
            pending: PendingAcquire::new(self.clone(), 1),
        }
    }

    /// Acquires a read lock through an `Arc` if that is possible at once.
    pub fn try_read_arc(self: &Arc<Self>) -> Option<RwLockReadGuardArc<T>> {
        self.sem
            .try_acquire(1)
            .then(|| RwLockReadGuardArc(self.clone()))
    }

    /// Acquires the write lock through an `Arc` if the lock is free and nobody waits.
    pub fn try_write_arc(self: &Arc<Self>) -> Option<RwLockWriteGuardArc<T>> {
        self.sem
            .try_acquire(WRITE)
            .then(|| RwLockWriteGuardArc(self.clone()))
    }

    /// Blocking form of [`RwLock::read_arc`].
    pub fn read_arc_blocking(self: &Arc<Self>) -> RwLockReadGuardArc<T> {
        blocking!(self.sem, 1);
        RwLockReadGuardArc(self.clone())
    }

    /// Acquires a write lock through an `Arc`, giving an owned guard.
    ///
    /// # Cancel safety
    ///
    /// As [`RwLock::write`].
    pub fn write_arc(self: &Arc<Self>) -> WriteArc<T> {
        WriteArc {
            pending: PendingAcquire::new(self.clone(), WRITE),
        }
    }

    /// Blocking form of [`RwLock::write_arc`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(aiosync::RwLock::new(0));
    /// let mut w = lock.write_arc_blocking();
    /// std::thread::spawn(move || *w += 1).join().unwrap();
    /// assert_eq!(*lock.read_blocking(), 1);
    /// ```
    pub fn write_arc_blocking(self: &Arc<Self>) -> RwLockWriteGuardArc<T> {
        blocking!(self.sem, WRITE);
        RwLockWriteGuardArc(self.clone())
    }

    /// Whether a writer holds the lock (or it was handed to one that has not run yet).
    pub fn is_write_locked(&self) -> bool {
        self.held() == WRITE
    }

    /// Whether anyone holds the lock.
    pub fn is_locked(&self) -> bool {
        self.held() > 0
    }

    /// Permits held by guards: neither free nor handed to a writer still waiting for more.
    fn held(&self) -> usize {
        let free = self.sem.available();
        if free == WRITE {
            return 0;
        }
        WRITE - free - self.sem.handed_partially()
    }

    /// Returns a mutable reference to the value: `&mut self` proves no one holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized> AsRawSemaphore for RwLock<T> {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

mod futures;
mod guards;
pub(crate) mod reentrant;
pub use futures::{Read, ReadArc, UpgradableRead, Upgrade, Write, WriteArc};
pub use guards::{
    RwLockReadGuard, RwLockReadGuardArc, RwLockUpgradableReadGuard, RwLockWriteGuard,
    RwLockWriteGuardArc,
};
