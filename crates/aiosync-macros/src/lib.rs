//! Proc macros of [aiosync](https://docs.rs/aiosync). Use them through that crate
//! (`aiosync::synchronized`, on by default with its `macros` feature): the code they
//! generate calls into it.

#![warn(missing_docs, rust_2018_idioms)]

mod blocking;
mod synchronized;
mod unblock;

use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;

/// Expands an attribute on an `impl` block with `expand`; on error, emits the error next to
/// the untouched item without the per-method `#[attr(...)]` markers, which no one else
/// reads, so the only message the user sees is ours.
pub(crate) fn expand_impl_attr(
    args: TokenStream2,
    item: TokenStream2,
    attr: &str,
    expand: fn(TokenStream2, TokenStream2) -> syn::Result<TokenStream2>,
) -> TokenStream2 {
    match expand(args, item.clone()) {
        Ok(out) => out,
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(strip_method_attrs(item, attr));
            out
        }
    }
}

fn strip_method_attrs(item: TokenStream2, attr: &str) -> TokenStream2 {
    let Ok(mut block) = syn::parse2::<syn::ItemImpl>(item.clone()) else {
        return item;
    };
    for item in &mut block.items {
        if let syn::ImplItem::Fn(f) = item {
            f.attrs.retain(|a| !a.path().is_ident(attr));
        }
    }
    block.into_token_stream()
}

/// Lets one caller at a time run the function (or each function of an `impl` block): a
/// lock taken on entry and released on return, without a lock for you to declare or
/// store.
///
/// | on | the lock is |
/// | --- | --- |
/// | a free `fn` / `async fn`, or an associated fn without `self` | one per function |
/// | a method taking `&self` (also `self: Arc<Self>`, `self: Pin<&Self>`, ...) | one per object, shared with `aiosync::synchronized(&obj)` |
/// | anything, with `#[synchronized(Type)]` (say `#[synchronized(Self)]`) | one per type, shared with `Synchronized::of_type::<Type>()` |
/// | an associated fn without `self`, in an `impl` block marked `#[synchronized]` | one per type, as with `#[synchronized(Self)]` |
///
/// On a single fn, the attribute sees only the function, not the `impl` around it, so an
/// associated fn without `self` looks like a free fn and gets its own lock. For one lock
/// per type, put `#[synchronized]` on the `impl` block (inherent or of a trait): each fn
/// of the block is synchronized as if it had `#[synchronized]`, except that the fns
/// without `self` share the type's lock. A fn of the block with its own
/// `#[synchronized]` or `#[synchronized(Type)]` keeps that lock instead; other items
/// (consts, types) are left alone. Or write `#[synchronized(Self)]` on each fn that should
/// share the type's lock.
///
/// A plain `fn` gets a reentrant lock owned by the calling thread, so a synchronized
/// method may call another synchronized method of the same object (or itself) without
/// deadlocking. An `async fn` gets an async lock, taken inside the future and held
/// across its `.await`s, so the whole body is serialised across tasks of any runtime and
/// threads; it is not reentrant (an async method awaiting another synchronized async
/// method of the same object waits for itself). The blocking and async locks of an
/// object are separate: a sync method and an async method of one object do not exclude
/// each other.
///
/// The lock of an object lives in a global registry keyed by its address and type, only
/// while someone holds it or waits for it, so there is no field to add and nothing
/// leaks. An object moved to another address is another object; zero-sized values have
/// no address of their own, so their "instances" may share one lock.
///
/// # Examples
///
/// ```
/// use aiosync::synchronized;
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
///
/// #[derive(Default)]
/// struct Account {
///     balance: AtomicUsize,
/// }
///
/// impl Account {
///     // One lock per account: the read and the write cannot interleave with another call.
///     #[synchronized]
///     fn deposit(&self, amount: usize) {
///         let old = self.balance.load(Relaxed);
///         std::thread::yield_now();
///         self.balance.store(old + amount, Relaxed);
///     }
///
///     // Reentrant: a synchronized method may call another one on the same thread.
///     #[synchronized]
///     fn deposit_twice(&self, amount: usize) {
///         self.deposit(amount);
///         self.deposit(amount);
///     }
///
///     // Async: the lock is held across the await.
///     #[synchronized]
///     async fn deposit_later(&self, amount: usize) {
///         let old = self.balance.load(Relaxed);
///         futures_lite::future::yield_now().await;
///         self.balance.store(old + amount, Relaxed);
///     }
/// }
///
/// let account = Account::default();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| (0..100).for_each(|_| account.deposit_twice(1)));
///     }
/// });
/// assert_eq!(account.balance.load(Relaxed), 800);
///
/// futures_lite::future::block_on(account.deposit_later(2));
/// assert_eq!(account.balance.load(Relaxed), 802);
///
/// // A block that shares the lock of the sync methods of `account`:
/// let _guard = aiosync::synchronized(&account).lock_blocking();
/// account.deposit(1); // same thread: reentrant
/// ```
///
/// One lock per function, and one per type:
///
/// ```
/// use aiosync::synchronized;
///
/// #[synchronized]
/// fn log_line(line: &str) {
///     println!("{line}"); // whole lines, never interleaved
/// }
///
/// struct Config;
///
/// impl Config {
///     #[synchronized(Self)]
///     fn reload() {}
///
///     #[synchronized(Self)]
///     fn save() {} // excludes `reload`: same type, same lock
/// }
///
/// log_line("hello");
/// Config::reload();
/// let _guard = aiosync::Synchronized::of_type::<Config>().lock_blocking();
/// Config::save(); // reentrant on this thread
/// ```
///
/// On an `impl` block: one lock for the type's associated fns, one per object for its
/// methods.
///
/// ```
/// use aiosync::synchronized;
/// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
///
/// static CREATED: AtomicU32 = AtomicU32::new(0);
///
/// struct Session {
///     id: u32,
///     hits: AtomicU32,
/// }
///
/// #[synchronized]
/// impl Session {
///     // Excludes every other fn without `self` of this block: the type's lock.
///     fn create() -> Session {
///         let id = CREATED.load(Relaxed);
///         std::thread::yield_now();
///         CREATED.store(id + 1, Relaxed);
///         Session { id, hits: AtomicU32::new(0) }
///     }
///
///     fn created() -> u32 {
///         CREATED.load(Relaxed)
///     }
///
///     // A method: the object's lock, so two sessions do not wait for each other.
///     fn hit(&self) -> u32 {
///         let n = self.hits.load(Relaxed);
///         std::thread::yield_now();
///         self.hits.store(n + 1, Relaxed);
///         n + 1
///     }
///
///     // Its own attribute wins: a lock for this fn alone.
///     #[synchronized]
///     fn log(line: &str) {
///         println!("{line}");
///     }
/// }
///
/// let sessions: Vec<Session> = std::thread::scope(|s| {
///     let handles: Vec<_> = (0..4).map(|_| s.spawn(Session::create)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(Session::created(), 4);
/// let mut ids: Vec<u32> = sessions.iter().map(|s| s.id).collect();
/// ids.sort();
/// assert_eq!(ids, [0, 1, 2, 3]); // no two sessions got the same id
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| (0..100).for_each(|_| { sessions[0].hit(); }));
///     }
/// });
/// assert_eq!(sessions[0].hits.load(Relaxed), 400);
/// Session::log("done");
///
/// // The same lock as `#[synchronized(Self)]` and `Synchronized::of_type`:
/// let _guard = aiosync::Synchronized::of_type::<Session>().lock_blocking();
/// assert_eq!(Session::created(), 4); // reentrant on this thread
/// ```
///
/// # Errors at compile time
///
/// Where a lock cannot help, the attribute refuses: a method taking `&mut self` (the
/// borrow checker already makes that call exclusive) or `self` by value (the call owns
/// the object), a `const fn`, a bodiless trait method, and items that are neither
/// functions nor `impl` blocks. On an `impl` block it refuses the same fns, each with
/// its own error (give such a fn `#[synchronized(Self)]`, or move it to another block),
/// and takes no argument.
///
/// ```compile_fail
/// struct Counter(u32);
/// impl Counter {
///     #[aiosync::synchronized] // error: `&mut self` is already exclusive
///     fn bump(&mut self) {
///         self.0 += 1;
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn synchronized(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    synchronized::expand(args.into(), item.into()).into()
}

/// Generates a blocking API from an inherent `impl` block of async fns: `BlockingT`, which
/// holds a `T` and an [`aiosync::facade::Runtime`](https://docs.rs/aiosync), with one
/// blocking fn per async fn, of the same name and arguments (borrowed ones included).
/// Feature `facade` of aiosync.
///
/// | async fn | blocking fn |
/// | --- | --- |
/// | `async fn f(&self, ..) -> R` | `fn f(&self, ..) -> Result<R, CallError>` |
/// | `async fn f(&mut self, ..) -> …Result<R, E>` | `fn f(&mut self, ..) -> …Result<R, E>` (`E: From<CallError>`, as `io::Error` is) |
/// | `async fn f(..) -> Self` (or `Result<Self, E>`) | `fn f(..) -> Result<BlockingT, CallError>` (or `Result<BlockingT, E>`), on the default runtime, and `fn f_on(rt: &Runtime, ..)` |
/// | `#[blocking(iter)] async fn f(&self, ..) -> S` (`S: Stream`, or `Result<S, E>`) | `fn f(&self, ..) -> Result<Iter<S>, CallError>` (or `Result<Iter<S>, E>`): an `Iterator` |
/// | `#[blocking(future)] async fn f(&self, ..) -> R` | also `fn f_future(&self, ..) -> Task<R>`: spawned over a clone of `T` (`T: Clone`, owned arguments) |
/// | `#[blocking(skip)]`, or a fn that is not async | nothing |
///
/// `BlockingT` also has `new(T)` (on the default runtime), `with_runtime(T, Runtime)`,
/// `get_ref`, `get_mut`, `into_inner`, `runtime()`, and `aio()`: a `BlockingTAio` view
/// whose `&self` methods are the async fns, polled with the runtime's context entered so
/// that any executor can poll them (no "there is no reactor running"). The attribute takes `name = BlockingT` (the generated type's name),
/// `runtime = path::to::fn` (a `fn() -> Runtime` for `new` and the constructors; default
/// `Runtime::shared`) and `vis = pub(crate)` (default `pub`).
///
/// Every call behaves as [`Runtime::block_on`](https://docs.rs/aiosync): polled on the
/// calling thread when it is a plain one, forwarded to the runtime thread from inside
/// a tokio context, `CallError::InRuntime` on the runtime's own thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// pub struct Greeter {
///     greeting: String,
/// }
///
/// #[aiosync::blocking]
/// impl Greeter {
///     pub async fn connect(greeting: &str) -> std::io::Result<Self> {
///         Ok(Greeter { greeting: greeting.to_owned() })
///     }
///
///     pub async fn greet(&self, name: &str) -> String {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         format!("{}, {name}!", self.greeting)
///     }
///
///     #[blocking(iter)]
///     pub async fn countdown(&self, from: u32) -> impl aiosync::facade::Stream<Item = u32> {
///         futures_lite::stream::iter((0..=from).rev())
///     }
/// }
///
/// let g = BlockingGreeter::connect("Hello")?;
/// assert_eq!(g.greet("world")?, "Hello, world!");
/// assert_eq!(g.countdown(2)?.collect::<Vec<_>>(), [2, 1, 0]);
/// // The async API of the same value, on an executor that knows nothing of tokio:
/// assert_eq!(futures_lite::future::block_on(g.aio().greet("async")), "Hello, async!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors at compile time
///
/// A future that is not `Send`, a borrowed argument of a `future` method, a trait or
/// generic `impl`, or an unknown option, each with an error naming the method.
///
/// ```compile_fail
/// struct Counter(std::rc::Rc<u32>);
/// #[aiosync::blocking]
/// impl Counter {
///     async fn get(&self) -> u32 { *self.0 } // error: the future is not `Send`
/// }
/// ```
#[proc_macro_attribute]
pub fn blocking(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    blocking::expand(args.into(), item.into()).into()
}

/// The reverse of [`macro@blocking`]: from an inherent `impl T` of blocking fns, generates
/// `AsyncT` (cheap to clone, holding the `T` in an `Arc<aiosync::RwLock<T>>`) whose async
/// methods run each fn on a bounded pool (`aiosync::facade::unblock`: tokio's blocking
/// pool, that of the current runtime or of the shared facade runtime). Feature `facade`.
///
/// | blocking fn | async fn |
/// | --- | --- |
/// | `fn f(&self, ..) -> R` | `async fn f(&self, ..) -> Result<R, CallError>`, under a read lock |
/// | `fn f(&mut self, ..) -> …Result<R, E>` | `async fn f(&self, ..) -> …Result<R, E>` (`E: From<CallError>`), under the write lock |
/// | `fn f(..) -> Self` (or `Result<Self, E>`) | `async fn f(..) -> Result<AsyncT, CallError>` (or `Result<AsyncT, E>`) |
/// | `#[unblock(iter)] fn f(&self, ..) -> impl Iterator<Item = X>` | `fn f(&self, ..) -> IterStream<X>`: a `Stream`, fed through a bounded aiosync `Queue`; dropping it stops the producer after the current item |
///
/// Arguments must be owned (the call runs on another thread). A panic of the fn is resumed
/// in the task that awaits it. **A call cancelled after it started** (its future dropped
/// while the fn runs) is not interrupted: the fn runs to its end on the pool thread,
/// holding the lock, and its result is dropped; a call cancelled before it started never
/// runs. `AsyncT` also has `new(T)` and `lock()`.
///
/// ```
/// use futures_lite::StreamExt;
///
/// pub struct Disk {
///     files: Vec<String>,
/// }
///
/// #[aiosync::unblock]
/// impl Disk {
///     pub fn open(n: usize) -> Self {
///         Disk { files: (0..n).map(|i| format!("file{i}")).collect() }
///     }
///     pub fn count(&self) -> usize {
///         std::thread::sleep(std::time::Duration::from_millis(1)); // blocking work
///         self.files.len()
///     }
///     pub fn add(&mut self, name: String) {
///         self.files.push(name);
///     }
///     #[unblock(iter)]
///     pub fn list(&self) -> impl Iterator<Item = String> + '_ {
///         self.files.iter().cloned()
///     }
/// }
///
/// futures_lite::future::block_on(async {
///     let disk = AsyncDisk::open(2).await?;
///     disk.add("notes".into()).await?;
///     assert_eq!(disk.count().await?, 3);
///     assert_eq!(disk.list().collect::<Vec<_>>().await, ["file0", "file1", "notes"]);
///     Ok::<(), aiosync::facade::CallError>(())
/// })?;
/// # Ok::<(), aiosync::facade::CallError>(())
/// ```
#[proc_macro_attribute]
pub fn unblock(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    unblock::expand(args.into(), item.into()).into()
}
