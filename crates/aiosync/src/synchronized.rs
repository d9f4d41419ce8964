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

use crate::{Lock, Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard};
use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
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

/// The two locks of one object or type.
struct Entry {
    /// Sync functions: reentrant, owned by the thread.
    blocking: ReentrantMutex<()>,
    /// Async functions: held across awaits.
    aio: Mutex<()>,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            blocking: ReentrantMutex::new(()),
            aio: Mutex::new(()),
        }
    }
}

/// An object's address and type name, or a type's name alone (`addr` 0: no reference
/// is null). Two types may share a name (two versions of one crate); they then share
/// locks only at the same address.
#[derive(Clone, Copy, Debug)]
struct Key {
    addr: usize,
    ty: &'static str,
    /// Depends on `addr` only for objects, on `ty` only for types.
    hash: u64,
}

impl Key {
    #[inline]
    fn instance<T: ?Sized>(obj: &T) -> Key {
        let addr = (obj as *const T).cast::<()>() as usize;
        Key {
            addr,
            ty: std::any::type_name::<T>(),
            hash: mix(addr as u64),
        }
    }

    fn of_type(ty: &'static str) -> Key {
        // FNV-1a: short strings, one call per lock.
        let h = ty.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Key {
            addr: 0,
            ty,
            hash: mix(h),
        }
    }
}

/// Spreads an address's few varying bits over the whole word (the map takes its bucket
/// from the low bits, its tag from the top ones, the shard from the middle).
#[inline]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        // The same name may sit at two addresses (one copy per codegen unit).
        self.addr == other.addr && (std::ptr::eq(self.ty, other.ty) || self.ty == other.ty)
    }
}

impl Eq for Key {}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a key's precomputed hash through.
#[derive(Clone, Copy, Default)]
struct KeyHash;

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("keys hash as one u64")
    }
}

/// A key registered in the map, and how many registrations point at its entry.
struct Slot {
    /// From `Box::leak`; freed (or pooled) when `users` drops to 0.
    entry: NonNull<Entry>,
    users: usize,
}

/// A key registered in a shard's inline slots. The entry outlives the key: it stays
/// allocated, unlocked, for the next key to use the slot.
struct Near {
    /// `None`: vacant.
    key: Option<Key>,
    users: usize,
    /// From `Box::leak`, allocated on first use, never freed (a fixed number per shard).
    entry: Option<NonNull<Entry>>,
}

/// One shard of the registry. A key lives in `near` or in `far`, never both.
struct Table {
    /// Scanned first: few objects are locked at once, and a scan of these beats hashing.
    near: [Near; NEAR],
    /// Keys that found `near` full.
    far: HashMap<Key, Slot, KeyHash>,
    /// Unused entries of `far` kept to spare an allocation; all unlocked.
    #[allow(clippy::vec_box)] // the boxes are what is reused: entries must not move
    free: Vec<Box<Entry>>,
}

// SAFETY: the table owns the entries its slots point to, and an `Entry` is Send + Sync.
unsafe impl Send for Table {}

const SHARDS: usize = 64;
/// Inline slots per shard.
const NEAR: usize = 4;
/// Entries kept for reuse per shard's map.
const POOL: usize = 4;

/// One shard on its own cache lines, so shards do not contend through false sharing.
#[repr(align(128))]
struct Shard(parking_lot::Mutex<Table>);

static REGISTRY: [Shard; SHARDS] = [const {
    Shard(parking_lot::Mutex::new(Table {
        near: [const {
            Near {
                key: None,
                users: 0,
                entry: None,
            }
        }; NEAR],
        far: HashMap::with_hasher(KeyHash),
        free: Vec::new(),
    }))
}; SHARDS];

#[inline]
fn shard(key: &Key) -> &'static parking_lot::Mutex<Table> {
    &REGISTRY[(key.hash >> 40) as usize % SHARDS].0
}

#[allow(clippy::vec_box)] // see `Table::free`
fn new_entry(free: &mut Vec<Box<Entry>>) -> NonNull<Entry> {
    NonNull::from(Box::leak(
        free.pop().unwrap_or_else(|| Box::new(Entry::new())),
    ))
}

/// One user of a registry entry: keeps the entry alive and registered while it lives.
struct Registration {
    entry: NonNull<Entry>,
    key: Key,
}

// SAFETY: a registration only shares `&Entry`, and `Entry` is Sync.
unsafe impl Send for Registration {}
// SAFETY: as above.
unsafe impl Sync for Registration {}

impl Registration {
    fn new(key: Key) -> Registration {
        let mut table = shard(&key).lock();
        let Table { near, far, free } = &mut *table;
        let entry = if let Some(n) = near.iter_mut().find(|n| n.key == Some(key)) {
            n.users += 1;
            n.entry.expect("a registered slot has an entry")
        } else if let Some(slot) = far.get_mut(&key) {
            slot.users += 1;
            slot.entry
        } else if let Some(n) = near.iter_mut().find(|n| n.key.is_none()) {
            n.key = Some(key);
            n.users = 1;
            *n.entry.get_or_insert_with(|| new_entry(free))
        } else {
            let entry = new_entry(free);
            far.insert(key, Slot { entry, users: 1 });
            entry
        };
        Registration { entry, key }
    }

    /// The registered entry, for as long as the caller says.
    ///
    /// # Safety
    /// The caller must not use the reference after this registration is dropped.
    #[inline]
    unsafe fn entry(&self) -> &'static Entry {
        // SAFETY: the entry lives while its key has users, and this is one of them.
        unsafe { self.entry.as_ref() }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut unused = None;
        {
            let mut table = shard(&self.key).lock();
            let Table { near, far, free } = &mut *table;
            if let Some(n) = near.iter_mut().find(|n| n.key == Some(self.key)) {
                n.users -= 1;
                if n.users == 0 {
                    // Every lock in the entry is free: guards and lock futures are dropped
                    // before their registrations.
                    n.key = None;
                }
                return;
            }
            let MapEntry::Occupied(mut slot) = far.entry(self.key) else {
                unreachable!("a registration keeps its key registered");
            };
            slot.get_mut().users -= 1;
            if slot.get().users == 0 {
                let entry = slot.remove().entry;
                // SAFETY: from `Box::leak` in `new_entry`; the last user is leaving, and
                // every lock in it is free (as above).
                let entry = unsafe { Box::from_raw(entry.as_ptr()) };
                if free.len() < POOL {
                    free.push(entry);
                } else {
                    unused = Some(entry);
                }
            }
        }
        // Freed outside the shard lock.
        drop(unused);
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
        REGISTRY
            .iter()
            .map(|s| {
                let t = s.0.lock();
                t.near.iter().filter(|n| n.key.is_some()).count() + t.far.len()
            })
            .sum()
    }
}
