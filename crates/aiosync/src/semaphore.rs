//! A counting semaphore, optionally bounded.

use crate::kernel::block;
use crate::kernel::semaphore::{AsRawSemaphore, PendingAcquire, RawSemaphore};
use crate::sync::{AtomicUsize, Ordering};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::kernel::semaphore::MAX_PERMITS;

/// A counting semaphore usable from async tasks (any runtime) and OS threads at once.
///
/// Acquires are served in FIFO order, and one that asks for many permits
/// ([`Semaphore::acquire_many`]) keeps its place: later, smaller acquires queue behind it
/// instead of starving it. As with [`Mutex`](crate::Mutex), a running thread may take free
/// permits ahead of waiters on other threads for at most about half a millisecond.
///
/// A semaphore made with [`Semaphore::bounded`] refuses to hold more permits than it
/// started with: [`Semaphore::add_permits`] past that returns an error (Python's
/// `BoundedSemaphore`).
///
/// # Examples
///
/// ```
/// use aiosync::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let a = sem.try_acquire().unwrap();
/// let b = sem.acquire_blocking();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// # drop(b);
/// ```
pub struct Semaphore {
    sem: RawSemaphore,
    /// Free permits plus permits held by guards; changes only on `add_permits` and `forget`.
    total: AtomicUsize,
    /// The most `total` may reach (`MAX_PERMITS` when unbounded).
    bound: usize,
}

/// The error of [`Semaphore::add_permits`] when the semaphore would hold more permits than
/// its bound.
///
/// ```
/// let sem = aiosync::Semaphore::bounded(1);
/// let err = sem.add_permits(1).unwrap_err();
/// assert_eq!(err.bound, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermitOverflowError {
    /// Permits the semaphore may hold at most.
    pub bound: usize,
}

impl fmt::Display for PermitOverflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "semaphore released too many times (it may hold at most {} permits)",
            self.bound
        )
    }
}

impl std::error::Error for PermitOverflowError {}

impl Semaphore {
    /// Creates a semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`].
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            sem: RawSemaphore::new(permits),
            total: AtomicUsize::new(permits),
            bound: MAX_PERMITS,
        }
    }

    /// Creates a semaphore with `permits` free permits.
    #[cfg(loom)]
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            sem: RawSemaphore::new(permits),
            total: AtomicUsize::new(permits),
            bound: MAX_PERMITS,
        }
    }

    /// Creates a semaphore that may never hold more than `permits` permits.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::bounded(1);
    /// sem.acquire_blocking().forget();
    /// sem.add_permits(1).unwrap();
    /// assert!(sem.add_permits(1).is_err()); // would make 2 > 1
    /// ```
    pub fn bounded(permits: usize) -> Semaphore {
        let mut s = Semaphore::new(permits);
        s.bound = permits;
        s
    }

    /// The number of permits free right now.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(2);
    /// let _g = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.sem.available()
    }

    /// Whether acquires are queued (then a new acquire waits even if permits are free:
    /// they are on their way to the queued ones).
    ///
    /// ```
    /// assert!(!aiosync::Semaphore::new(1).has_waiters());
    /// ```
    pub fn has_waiters(&self) -> bool {
        self.sem.has_waiters()
    }

    /// How many acquires wait now (a snapshot, for display).
    ///
    /// ```
    /// assert_eq!(aiosync::Semaphore::new(1).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.sem.waiters()
    }

    /// The bound given to [`Semaphore::bounded`], if any.
    ///
    /// ```
    /// assert_eq!(aiosync::Semaphore::bounded(2).bound(), Some(2));
    /// assert_eq!(aiosync::Semaphore::new(2).bound(), None);
    /// ```
    pub fn bound(&self) -> Option<usize> {
        (self.bound != MAX_PERMITS).then_some(self.bound)
    }

    /// Adds `n` permits, waking waiters they satisfy.
    ///
    /// # Errors
    /// [`PermitOverflowError`] (and nothing added) if the semaphore would then hold more
    /// than its bound, counting permits held by guards.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(0);
    /// sem.add_permits(2).unwrap();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) -> Result<(), PermitOverflowError> {
        let mut t = self.total.load(Ordering::Relaxed);
        loop {
            let new = match t.checked_add(n) {
                Some(v) if v <= self.bound => v,
                _ => return Err(PermitOverflowError { bound: self.bound }),
            };
            match self
                .total
                .compare_exchange_weak(t, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(a) => t = a,
            }
        }
        if n > 0 {
            self.sem.release(n);
        }
        Ok(())
    }

    /// Acquires one permit, waiting asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future gives up its place in the queue; permits already
    /// handed to it go to the next waiters.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let sem = aiosync::Semaphore::new(1);
    /// let g = sem.acquire().await;
    /// assert_eq!(sem.available_permits(), 0);
    /// # drop(g); });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Acquires `n` permits at once, waiting asynchronously. It keeps its place in the
    /// FIFO queue: smaller acquires that come later wait behind it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Semaphore::acquire`]; permits it had gathered go back.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let sem = aiosync::Semaphore::new(5);
    /// let g = sem.acquire_many(3).await;
    /// assert_eq!(g.permits(), 3);
    /// assert_eq!(sem.available_permits(), 2);
    /// # });
    /// ```
    ///
    /// # Panics
    /// If `n` exceeds the bound (or [`MAX_PERMITS`]): such an acquire could never succeed.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        self.check(n);
        Acquire {
            pending: PendingAcquire::new(self, n),
        }
    }

    /// Acquires one permit, blocking the current thread.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(1);
    /// let g = sem.acquire_blocking();
    /// assert_eq!(g.permits(), 1);
    /// ```
    pub fn acquire_blocking(&self) -> SemaphoreGuard<'_> {
        self.acquire_many_blocking(1)
    }

    /// Acquires `n` permits, blocking the current thread.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(2);
    /// assert_eq!(sem.acquire_many_blocking(2).permits(), 2);
    /// ```
    pub fn acquire_many_blocking(&self, n: usize) -> SemaphoreGuard<'_> {
        self.check(n);
        self.sem.acquire_forever(n);
        SemaphoreGuard { sem: self, n }
    }

    /// Acquires one permit, blocking the current thread for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = aiosync::Semaphore::new(0);
    /// assert!(sem.acquire_blocking_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn acquire_blocking_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.acquire_many_blocking_timeout(1, timeout)
    }

    /// Acquires `n` permits, blocking the current thread for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = aiosync::Semaphore::new(1);
    /// assert!(sem.acquire_many_blocking_timeout(2, Duration::from_millis(1)).is_none());
    /// ```
    pub fn acquire_many_blocking_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Option<SemaphoreGuard<'_>> {
        self.check(n);
        self.sem
            .acquire_blocking(n, block::deadline(timeout))
            .is_ok()
            .then(|| SemaphoreGuard { sem: self, n })
    }

    /// Takes one permit if one is free and nobody is queued.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(1);
    /// let g = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// # drop(g);
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is queued.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).is_none());
    /// assert!(sem.try_acquire_many(2).is_some());
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphoreGuard<'_>> {
        self.sem
            .try_acquire(n)
            .then(|| SemaphoreGuard { sem: self, n })
    }

    /// Acquires one permit through an `Arc`, giving an owned guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Semaphore::acquire`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let sem = Arc::new(aiosync::Semaphore::new(1));
    /// let g = sem.acquire_arc().await;
    /// std::thread::spawn(move || drop(g)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArc {
        self.acquire_many_arc(1)
    }

    /// Acquires `n` permits through an `Arc`, giving an owned guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Semaphore::acquire`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures_lite::future::block_on(async {
    /// let sem = Arc::new(aiosync::Semaphore::new(3));
    /// let g = sem.acquire_many_arc(2).await;
    /// assert_eq!(g.permits(), 2);
    /// # });
    /// ```
    pub fn acquire_many_arc(self: &Arc<Self>, n: usize) -> AcquireArc {
        self.check(n);
        AcquireArc {
            pending: PendingAcquire::new(self.clone(), n),
        }
    }

    /// Blocking form of [`Semaphore::acquire_arc`].
    ///
    /// ```
    /// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
    /// let g = sem.acquire_arc_blocking();
    /// std::thread::spawn(move || drop(g)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn acquire_arc_blocking(self: &Arc<Self>) -> SemaphoreGuardArc {
        self.sem.acquire_forever(1);
        SemaphoreGuardArc {
            sem: Some(self.clone()),
            n: 1,
        }
    }

    /// Takes one permit through an `Arc` if one is free and nobody is queued.
    ///
    /// ```
    /// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
    /// let g = sem.try_acquire_arc().unwrap();
    /// assert!(sem.try_acquire_arc().is_none());
    /// # drop(g);
    /// ```
    pub fn try_acquire_arc(self: &Arc<Self>) -> Option<SemaphoreGuardArc> {
        self.sem.try_acquire(1).then(|| SemaphoreGuardArc {
            sem: Some(self.clone()),
            n: 1,
        })
    }

    #[inline]
    fn check(&self, n: usize) {
        assert!(
            n <= self.bound,
            "cannot acquire {n} permits from a semaphore that holds at most {}",
            self.bound
        );
    }

    fn forget_permits(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::Relaxed);
    }
}

impl AsRawSemaphore for Semaphore {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("bound", &self.bound())
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let sem = aiosync::Semaphore::new(1);
/// let fut: aiosync::Acquire<'_> = sem.acquire();
/// let _g = fut.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire<'a> {
    /// Withdrawn when dropped: permits handed to it go to the next waiters.
    pending: PendingAcquire<&'a Semaphore>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphoreGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.pending.poll_open(cx) {
            Poll::Ready(()) => Poll::Ready(SemaphoreGuard {
                sem: this.pending.owner(),
                n: this.pending.permits(),
            }),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").finish_non_exhaustive()
    }
}

/// The future returned by [`Semaphore::acquire_arc`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
/// let fut: aiosync::AcquireArc = sem.acquire_arc();
/// let _g = fut.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AcquireArc {
    /// Withdrawn when dropped, as [`Acquire`]'s; its `Arc` moves into the guard.
    pending: PendingAcquire<Arc<Semaphore>>,
}

impl Future for AcquireArc {
    type Output = SemaphoreGuardArc;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.pending.is_spent(),
            "AcquireArc polled after completion"
        );
        match this.pending.poll_open(cx) {
            Poll::Ready(()) => Poll::Ready(SemaphoreGuardArc {
                n: this.pending.permits(),
                sem: Some(this.pending.take_owner()),
            }),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for AcquireArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireArc").finish_non_exhaustive()
    }
}

/// Holds permits of a [`Semaphore`]; gives them back when dropped.
///
/// ```
/// let sem = aiosync::Semaphore::new(1);
/// let g: aiosync::SemaphoreGuard<'_> = sem.acquire_blocking();
/// drop(g);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "if unused the permits are released at once"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphoreGuard<'_> {
    /// How many permits this guard holds.
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(3);
    /// assert_eq!(sem.acquire_many_blocking(2).permits(), 2);
    /// ```
    pub fn permits(&self) -> usize {
        self.n
    }

    /// Keeps the permits out of the semaphore for good (the guard does not give them back).
    ///
    /// ```
    /// let sem = aiosync::Semaphore::new(1);
    /// sem.acquire_blocking().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.sem.forget_permits(self.n);
        self.n = 0;
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.sem.release(self.n);
        }
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("permits", &self.n)
            .finish()
    }
}

/// An owned guard for permits of a [`Semaphore`] in an `Arc`.
///
/// ```
/// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
/// let g: aiosync::SemaphoreGuardArc = sem.acquire_arc_blocking();
/// drop(g);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "if unused the permits are released at once"]
pub struct SemaphoreGuardArc {
    sem: Option<Arc<Semaphore>>,
    n: usize,
}

impl SemaphoreGuardArc {
    /// How many permits this guard holds.
    ///
    /// ```
    /// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
    /// assert_eq!(sem.acquire_arc_blocking().permits(), 1);
    /// ```
    pub fn permits(&self) -> usize {
        self.n
    }

    /// Keeps the permits out of the semaphore for good.
    ///
    /// ```
    /// let sem = std::sync::Arc::new(aiosync::Semaphore::new(1));
    /// sem.acquire_arc_blocking().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        if let Some(s) = self.sem.take() {
            s.forget_permits(self.n);
        }
    }
}

impl Drop for SemaphoreGuardArc {
    fn drop(&mut self) {
        if let Some(s) = self.sem.take() {
            if self.n > 0 {
                s.sem.release(self.n);
            }
        }
    }
}

impl fmt::Debug for SemaphoreGuardArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuardArc")
            .field("permits", &self.n)
            .finish()
    }
}
