//! The runtime of `#[synchronized]`: the locks of objects and types, and the guard form
//! [`synchronized(&obj)`](synchronized()) that shares them.
//!
//! An object's locks live in a global registry keyed by its address and type name. An
//! entry exists only while someone holds or waits for one of its locks: the first user
//! inserts it, the last one to leave removes it, so no per-object state outlives a call.
//! The registry is split into 64 shards, each a short-held `parking_lot` mutex around
//! four inline slots (scanned, no hashing) and a hash map for the overflow. An
//! uncontended call costs two shard-lock round trips besides its lock and unlock: about
//! 30 ns more than a hand-written lock (49 ns against 19 ns per sync call, measured).
//! A vacated inline slot keeps its (unlocked) pair of locks for the next object, so the
//! registry's memory is bounded by the most objects ever locked at once, plus 256 pairs.
//!
//! This module is left out of loom builds: its statics need the real `parking_lot`.

mod registry;

use crate::{Lock, MutexGuard, ReentrantMutex, ReentrantMutexGuard};
use registry::{Key, Registration};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

/// The locks `#[synchronized]` methods of `obj` take: [`lock_blocking`] shares the lock
/// of its sync methods, [`lock`] the lock of its async methods.
///
/// The two locks are separate, as the methods' are: a block holding one does not
/// exclude the functions that take the other.
///
/// Pass the object itself, the way a method sees it as `self`: inside a method that is
/// `synchronized(self)`, and for an `Arc<T>` `a` it is `synchronized(&*a)`.
///
/// [`lock_blocking`]: Synchronized::lock_blocking
/// [`lock`]: Synchronized::lock
///
/// # Panics
///
/// If `T` is a reference, raw pointer, `Box`, `Rc`, `Arc` or `Pin`: the lock would belong
/// to the pointer (an address on the stack, different for each copy), not the object.
///
/// # Examples
///
/// ```
/// use aiosync::synchronized;
/// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
///
/// struct Stock {
///     apples: AtomicU32,
///     pears: AtomicU32,
/// }
///
/// impl Stock {
///     #[synchronized]
///     fn sell_apple(&self) {
///         self.apples.fetch_sub(1, Relaxed);
///     }
/// }
///
/// let stock = Stock { apples: AtomicU32::new(3), pears: AtomicU32::new(3) };
/// {
///     // No `sell_apple` on another thread can run inside this block.
///     let _guard = synchronized(&stock).lock_blocking();
///     let total = stock.apples.load(Relaxed) + stock.pears.load(Relaxed);
///     assert_eq!(total, 6);
///     stock.sell_apple(); // this thread may: the lock is reentrant
/// }
/// assert_eq!(stock.apples.load(Relaxed), 2);
/// ```
#[track_caller]
pub fn synchronized<T: ?Sized>(obj: &T) -> Synchronized<'_> {
    if is_pointer::<T>() {
        pointer_passed(std::any::type_name::<T>());
    }
    Synchronized::register(Key::instance(obj))
}

/// Whether `T` is a pointer, whose address is not its pointee's.
#[inline]
fn is_pointer<T: ?Sized>() -> bool {
    let ty = std::any::type_name::<T>();
    // A few prefix tests of a constant string: cheap beside the registry lookup.
    POINTERS.iter().any(|p| ty.starts_with(p))
}

/// Type-name prefixes of pointers, which `synchronized` refuses (see its docs).
const POINTERS: [&str; 7] = [
    "&",
    "*const ",
    "*mut ",
    "alloc::boxed::Box<",
    "alloc::rc::Rc<",
    "alloc::sync::Arc<",
    "core::pin::Pin<",
];

#[cold]
#[track_caller]
fn pointer_passed(ty: &str) -> ! {
    panic!(
        "aiosync::synchronized(&obj) was given a `{ty}`: a pointer, whose lock would not be \
         the object's. Pass the object itself: `synchronized(self)` in a method, \
         `synchronized(&*ptr)` for a smart pointer"
    )
}

/// The locks of one object (from [`synchronized()`]) or one type (from
/// [`Synchronized::of_type`]), registered while this value or a guard made from it lives.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let data = vec![1, 2, 3];
/// let guard = aiosync::synchronized(&data).lock().await;
/// drop(guard);
/// # });
/// ```
#[must_use = "a `Synchronized` holds no lock until `lock` or `lock_blocking` is called"]
pub struct Synchronized<'a> {
    reg: Registration,
    _obj: PhantomData<&'a ()>,
}

impl Synchronized<'static> {
    /// The locks of type `T`: those `#[synchronized(T)]` functions take, and the
    /// associated fns without `self` of an `impl T` block marked `#[synchronized]`.
    ///
    /// ```
    /// struct Config;
    ///
    /// impl Config {
    ///     #[aiosync::synchronized(Self)]
    ///     fn reload() {}
    /// }
    ///
    /// #[aiosync::synchronized]
    /// impl Config {
    ///     fn save() {} // the type's lock, too
    /// }
    ///
    /// let _guard = aiosync::Synchronized::of_type::<Config>().lock_blocking();
    /// Config::reload(); // same thread: reentrant
    /// Config::save();
    /// ```
    pub fn of_type<T: ?Sized>() -> Synchronized<'static> {
        Synchronized::register(Key::of_type(std::any::type_name::<T>()))
    }
}

impl<'a> Synchronized<'a> {
    fn register(key: Key) -> Synchronized<'a> {
        Synchronized {
            reg: Registration::new(key),
            _obj: PhantomData,
        }
    }

    /// Takes the lock of the sync `#[synchronized]` functions, blocking the thread.
    ///
    /// It is reentrant and owned by the calling thread: a synchronized method called while
    /// holding the guard, on the same thread, goes through.
    ///
    /// ```
    /// let v = vec![0u8; 4];
    /// let outer = aiosync::synchronized(&v).lock_blocking();
    /// let inner = aiosync::synchronized(&v).lock_blocking(); // same thread: fine
    /// # drop((inner, outer));
    /// ```
    pub fn lock_blocking(self) -> SynchronizedGuard<'a> {
        // SAFETY: the guard keeps the registration, which keeps the entry, and drops
        // the lock level first.
        let level = unsafe { self.reg.entry() }.blocking.lock_blocking();
        SynchronizedGuard {
            level,
            _reg: self.reg,
            _obj: PhantomData,
        }
    }

    /// As [`lock_blocking`](Self::lock_blocking), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = vec![0u8; 4];
    /// let _held = aiosync::synchronized(&v).lock_blocking();
    /// std::thread::scope(|s| {
    ///     let other = s.spawn(|| {
    ///         aiosync::synchronized(&v).lock_blocking_timeout(Duration::from_millis(1)).is_none()
    ///     });
    ///     assert!(other.join().unwrap());
    /// });
    /// ```
    pub fn lock_blocking_timeout(self, timeout: Duration) -> Option<SynchronizedGuard<'a>> {
        // SAFETY: as in `lock_blocking`.
        let level = unsafe { self.reg.entry() }
            .blocking
            .lock_blocking_timeout(timeout)?;
        Some(SynchronizedGuard {
            level,
            _reg: self.reg,
            _obj: PhantomData,
        })
    }

    /// Takes the lock of the `async` `#[synchronized]` functions, waiting asynchronously.
    ///
    /// It is not reentrant: awaiting it while the same task holds it waits forever.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue, and a lock
    /// already handed to it goes to the next waiter.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let v = vec![0u8; 4];
    /// let guard = aiosync::synchronized(&v).lock().await;
    /// let mut again = std::pin::pin!(aiosync::synchronized(&v).lock());
    /// assert!(futures_lite::future::poll_once(&mut again).await.is_none()); // held
    /// drop(guard);
    /// again.await;
    /// # });
    /// ```
    pub fn lock(self) -> SynchronizedLock<'a> {
        // SAFETY: the future keeps the registration and drops the lock future first.
        let lock = unsafe { self.reg.entry() }.aio.lock();
        SynchronizedLock {
            lock: Some(lock),
            reg: Some(self.reg),
            _obj: PhantomData,
        }
    }
}

impl fmt::Debug for Synchronized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Synchronized")
            .field("key", &self.reg.key)
            .finish()
    }
}

/// Holds one level of an object's (or type's) blocking lock; leaves it when dropped.
///
/// From [`Synchronized::lock_blocking`]. Not `Send`: the lock belongs to the thread.
///
/// ```
/// let v = [1, 2];
/// let guard: aiosync::SynchronizedGuard<'_> = aiosync::synchronized(&v).lock_blocking();
/// drop(guard);
/// ```
#[must_use = "if unused the lock will immediately unlock"]
pub struct SynchronizedGuard<'a> {
    // Declared (so dropped) before the registration that keeps the entry alive.
    level: ReentrantMutexGuard<'static, ()>,
    _reg: Registration,
    _obj: PhantomData<(&'a (), *const ())>,
}

impl fmt::Debug for SynchronizedGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SynchronizedGuard")
            .field("level", &self.level)
            .finish()
    }
}

/// The future returned by [`Synchronized::lock`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let v = [1, 2];
/// let fut: aiosync::SynchronizedLock<'_> = aiosync::synchronized(&v).lock();
/// let _guard = fut.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SynchronizedLock<'a> {
    // Declared (so dropped, cancelling the wait) before the registration. `None` once
    // complete, so nothing points at an entry the guard may have released.
    lock: Option<Lock<'static, ()>>,
    reg: Option<Registration>,
    _obj: PhantomData<&'a ()>,
}

impl<'a> Future for SynchronizedLock<'a> {
    type Output = SynchronizedAsyncGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let lock = this
            .lock
            .as_mut()
            .expect("SynchronizedLock polled after completion");
        match Pin::new(lock).poll(cx) {
            Poll::Ready(guard) => {
                this.lock = None;
                Poll::Ready(SynchronizedAsyncGuard {
                    _guard: guard,
                    _reg: this.reg.take().expect("a pending lock is registered"),
                    _obj: PhantomData,
                })
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for SynchronizedLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SynchronizedLock")
            .field("done", &self.lock.is_none())
            .finish()
    }
}

/// Holds an object's (or type's) async lock; releases it when dropped.
///
/// From [`Synchronized::lock`]. `Send`, so a task may hold it across an `.await` on a
/// multi-threaded runtime.
///
/// ```
/// # futures_lite::future::block_on(async {
/// let v = [1, 2];
/// let guard: aiosync::SynchronizedAsyncGuard<'_> = aiosync::synchronized(&v).lock().await;
/// drop(guard);
/// # });
/// ```
#[must_use = "if unused the lock will immediately unlock"]
pub struct SynchronizedAsyncGuard<'a> {
    // Declared (so dropped) before the registration that keeps the entry alive.
    _guard: MutexGuard<'static, ()>,
    _reg: Registration,
    _obj: PhantomData<&'a ()>,
}

impl fmt::Debug for SynchronizedAsyncGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SynchronizedAsyncGuard")
            .finish_non_exhaustive()
    }
}

/// Runtime support for the code `#[synchronized]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// The per-function lock of a sync `#[synchronized]` function (a `static` in its body).
    pub struct FnLock(OnceLock<ReentrantMutex<()>>);

    impl FnLock {
        #[allow(clippy::new_without_default)]
        pub const fn new() -> FnLock {
            FnLock(OnceLock::new())
        }

        #[inline]
        pub fn lock_blocking(&self) -> ReentrantMutexGuard<'_, ()> {
            self.0
                .get_or_init(|| ReentrantMutex::new(()))
                .lock_blocking()
        }
    }

    impl fmt::Debug for FnLock {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("FnLock").finish_non_exhaustive()
        }
    }

    /// The locks of a method's object (`&Self`, whatever the receiver). Unlike
    /// `synchronized`, borrows nothing, so the body may still move a `self: Arc<Self>`.
    ///
    /// # Panics
    /// If `Self` is a pointer type (`impl Trait for &T`, for `Arc<T>`, ...): each copy of
    /// the pointer would have its own lock, so calls would not exclude each other.
    #[inline]
    #[track_caller]
    pub fn instance<T: ?Sized>(obj: &T) -> Synchronized<'static> {
        if is_pointer::<T>() {
            method_of_pointer(std::any::type_name::<T>());
        }
        Synchronized::register(Key::instance(obj))
    }

    #[cold]
    #[track_caller]
    fn method_of_pointer(ty: &str) -> ! {
        panic!(
            "#[synchronized] on a `&self` method of `{ty}`, a pointer type: every copy of the \
             pointer would get its own lock. Put the attribute on the pointee's methods, or \
             use #[synchronized(Self)] for one lock per type"
        )
    }

    /// How many objects and types have a registered entry (held or waited for).
    pub fn registry_len() -> usize {
        registry::len()
    }
}
