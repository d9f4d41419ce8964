//! `#[synchronized]` and `synchronized(&obj)`: per function, per object, per type, on an
//! `impl` block; sync (reentrant, thread-owned) and async (held across awaits); the
//! registry never leaks.
//!
//! The tests take one file-wide lock in turn, so each can check that the global registry
//! is empty when it ends.

mod common;

use aiosync::{synchronized, Synchronized};
use common::{runtime, LIMIT};
use futures_lite::future::{block_on, poll_once};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How long a call that must stay blocked is watched (it cannot finish, whatever the load).
const BLOCKED: Duration = Duration::from_millis(50);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn assert_registry_empty() {
    assert_eq!(aiosync::__private::registry_len(), 0, "registry leaked");
}

/// Read, let others run, write: loses updates unless calls exclude each other.
fn racy_add(n: &AtomicUsize) {
    let v = n.load(Relaxed);
    std::thread::yield_now();
    n.store(v + 1, Relaxed);
}

async fn racy_add_async(n: &AtomicUsize) {
    let v = n.load(Relaxed);
    tokio::task::yield_now().await;
    n.store(v + 1, Relaxed);
}

/// Runs `f` on a new thread; `Some(result)` if it returns within `wait`.
fn on_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> impl FnMut(Duration) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    move |wait| rx.recv_timeout(wait).ok()
}

const THREADS: usize = 8;
const CALLS: usize = 500;

fn hammer(f: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| (0..CALLS).for_each(|_| f()));
        }
    });
}

// ---- per function ----

static FREE_COUNT: AtomicUsize = AtomicUsize::new(0);

#[synchronized]
fn free_add() {
    racy_add(&FREE_COUNT);
}

static FREE_ASYNC_COUNT: AtomicUsize = AtomicUsize::new(0);

#[synchronized]
async fn free_add_async() {
    racy_add_async(&FREE_ASYNC_COUNT).await;
}

#[synchronized]
fn factorial(n: u64) -> u64 {
    if n == 0 {
        1
    } else {
        n * factorial(n - 1) // reentrant on this thread
    }
}

#[test]
fn free_fn_excludes_threads() {
    let _s = serial();
    hammer(free_add);
    assert_eq!(FREE_COUNT.load(Relaxed), THREADS * CALLS);
    assert_registry_empty(); // per-function locks live in the function, not the registry
}

#[test]
fn free_async_fn_holds_its_lock_across_awaits() {
    let _s = serial();
    runtime(4).block_on(async {
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..CALLS / 5 {
                        free_add_async().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(FREE_ASYNC_COUNT.load(Relaxed), THREADS * CALLS / 5);
    assert_registry_empty();
}

#[test]
fn free_fn_is_reentrant() {
    let _s = serial();
    let mut done = on_thread(|| factorial(10));
    assert_eq!(done(LIMIT), Some(3_628_800));
}

// ---- per object ----

#[derive(Default)]
struct Counter {
    n: AtomicUsize,
}

impl Counter {
    #[synchronized]
    fn add(&self) {
        racy_add(&self.n);
    }

    #[synchronized]
    fn add_twice(&self) {
        self.add(); // another synchronized method of the same object, same thread
        self.add();
    }

    #[synchronized]
    async fn add_async(&self) {
        racy_add_async(&self.n).await;
    }

    #[synchronized]
    async fn get_async(&self) -> usize {
        self.n.load(Relaxed)
    }

    #[synchronized]
    fn add_arc(self: Arc<Self>) -> usize {
        racy_add(&self.n);
        let n = self.n.load(Relaxed);
        drop(self); // the body may still move the receiver
        n
    }
}

#[test]
fn method_excludes_threads_on_one_object() {
    let _s = serial();
    let c = Counter::default();
    hammer(|| c.add());
    assert_eq!(c.n.load(Relaxed), THREADS * CALLS);
    assert_registry_empty();
}

#[test]
fn async_method_excludes_tasks_on_one_object() {
    let _s = serial();
    let c = Arc::new(Counter::default());
    runtime(4).block_on(async {
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..CALLS / 5 {
                        c.add_async().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(c.n.load(Relaxed), THREADS * CALLS / 5);
    assert_registry_empty();
}

#[test]
fn arc_receiver_locks_the_object() {
    let _s = serial();
    let c = Arc::new(Counter::default());
    hammer(|| {
        c.clone().add_arc();
    });
    assert_eq!(c.n.load(Relaxed), THREADS * CALLS);
    // It is the object's lock: the guard form on the pointee holds it off.
    let guard = synchronized(&*c).lock_blocking();
    let c2 = c.clone();
    let mut done = on_thread(move || c2.add_arc());
    assert_eq!(done(BLOCKED), None);
    drop(guard);
    assert_eq!(done(LIMIT), Some(THREADS * CALLS + 1));
    assert_registry_empty();
}

#[test]
fn two_objects_do_not_exclude_each_other() {
    let _s = serial();
    let a = Arc::new(Counter::default());
    let b = Arc::new(Counter::default());
    let held = synchronized(&*a).lock_blocking();

    let b2 = b.clone();
    let mut other = on_thread(move || b2.add());
    assert_eq!(other(LIMIT), Some(()), "b waited for a's lock");
    assert_eq!(b.n.load(Relaxed), 1);

    let a2 = a.clone();
    let mut same = on_thread(move || a2.add());
    assert_eq!(
        same(BLOCKED),
        None,
        "a's method ran while a's lock was held"
    );
    assert_eq!(a.n.load(Relaxed), 0);
    drop(held);
    assert_eq!(same(LIMIT), Some(()));
    assert_eq!(a.n.load(Relaxed), 1);
    assert_registry_empty();
}

#[test]
fn guard_form_excludes_other_threads_and_times_out() {
    let _s = serial();
    let a = Arc::new(Counter::default());
    let held = synchronized(&*a).lock_blocking();
    let a2 = a.clone();
    let mut other = on_thread(move || {
        synchronized(&*a2)
            .lock_blocking_timeout(Duration::from_millis(5))
            .is_none()
    });
    assert_eq!(other(LIMIT), Some(true));
    // The timed-out waiter left the registry; the holder is still in it.
    assert_eq!(aiosync::__private::registry_len(), 1);
    drop(held);
    assert_registry_empty();
}

#[test]
fn async_guard_form_shares_the_async_methods_lock() {
    let _s = serial();
    let a = Counter::default();
    let b = Counter::default();
    block_on(async {
        let held = synchronized(&a).lock().await;
        // The other object: runs at once.
        assert_eq!(poll_once(b.get_async()).await, Some(0));
        // The same object: waits for the guard.
        let mut call = pin!(a.get_async());
        assert_eq!(poll_once(&mut call).await, None);
        assert_eq!(aiosync::__private::registry_len(), 1);
        drop(held);
        assert_eq!(call.await, 0);
    });
    assert_registry_empty();
}

#[test]
fn async_guard_is_send_across_awaits_on_a_multi_thread_runtime() {
    let _s = serial();
    let c = Arc::new(Counter::default());
    runtime(4).block_on(async {
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..CALLS / 5 {
                        let _g = synchronized(&*c).lock().await;
                        racy_add_async(&c.n).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(c.n.load(Relaxed), THREADS * CALLS / 5);
    assert_registry_empty();
}

#[test]
fn sync_methods_are_reentrant() {
    let _s = serial();
    let c = Arc::new(Counter::default());
    let c2 = c.clone();
    let mut done = on_thread(move || {
        c2.add_twice();
        let _g = synchronized(&*c2).lock_blocking();
        c2.add_twice(); // under the guard form, too
    });
    assert_eq!(
        done(LIMIT),
        Some(()),
        "nested synchronized calls deadlocked"
    );
    assert_eq!(c.n.load(Relaxed), 4);
    // Reentrant across threads still excludes.
    hammer(|| c.add_twice());
    assert_eq!(c.n.load(Relaxed), 4 + 2 * THREADS * CALLS);
    assert_registry_empty();
}

#[test]
fn sync_and_async_locks_of_an_object_are_separate() {
    let _s = serial();
    let a = Counter::default();
    let blocking = synchronized(&a).lock_blocking();
    assert_eq!(block_on(poll_once(a.get_async())), Some(0));
    drop(blocking);
    assert_registry_empty();
}

// A struct and its first field share an address: their locks must still differ, or an
// async method calling the field's async method would wait for itself.
#[derive(Default)]
struct Outer {
    inner: Counter,
}

impl Outer {
    #[synchronized]
    async fn inner_get(&self) -> usize {
        self.inner.get_async().await
    }
}

#[test]
fn an_object_and_its_first_field_have_separate_locks() {
    let _s = serial();
    let o = Outer::default();
    assert_eq!(
        std::ptr::addr_of!(o).cast::<u8>(),
        std::ptr::addr_of!(o.inner).cast::<u8>()
    );
    assert_eq!(block_on(poll_once(o.inner_get())), Some(0));
    assert_registry_empty();
}

// ---- per type ----

struct Config;

static CONFIG_COUNT: AtomicUsize = AtomicUsize::new(0);

impl Config {
    #[synchronized(Self)]
    fn add() {
        racy_add(&CONFIG_COUNT);
    }

    #[synchronized(Self)]
    fn add_via_other() {
        Self::add(); // another fn of the same type: same lock, reentrant
    }

    #[synchronized(Self)]
    async fn add_async() {
        racy_add_async(&CONFIG_COUNT).await;
    }
}

struct Other;

impl Other {
    #[synchronized(Self)]
    fn touch() {}
}

#[test]
fn per_type_lock_excludes_and_is_shared_by_the_types_fns() {
    let _s = serial();
    CONFIG_COUNT.store(0, Relaxed);
    hammer(|| {
        Config::add();
        Config::add_via_other();
    });
    assert_eq!(CONFIG_COUNT.load(Relaxed), 2 * THREADS * CALLS);

    let held = Synchronized::of_type::<Config>().lock_blocking();
    let mut other_type = on_thread(Other::touch);
    assert_eq!(other_type(LIMIT), Some(()), "another type's lock was taken");
    let mut same_type = on_thread(Config::add_via_other);
    assert_eq!(same_type(BLOCKED), None, "Config's lock did not exclude");
    drop(held);
    assert_eq!(same_type(LIMIT), Some(()));
    assert_registry_empty();
}

#[test]
fn per_type_async_lock() {
    let _s = serial();
    CONFIG_COUNT.store(0, Relaxed);
    runtime(4).block_on(async {
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..CALLS / 5 {
                        Config::add_async().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let held = Synchronized::of_type::<Config>().lock().await;
        let mut call = pin!(Config::add_async());
        assert!(poll_once(&mut call).await.is_none());
        drop(held);
        call.await;
    });
    assert_eq!(CONFIG_COUNT.load(Relaxed), THREADS * CALLS / 5 + 1);
    assert_registry_empty();
}

// ---- on an impl block ----

// `#[synchronized]` on the block: the fns without `self` share the type's lock, the
// methods lock their object, and a fn with its own attribute keeps it.
#[derive(Default)]
struct Ledger {
    n: AtomicUsize, // not zero-sized: each ledger has an address, and a lock, of its own
}

static LEDGER_COUNT: AtomicUsize = AtomicUsize::new(0);

#[synchronized]
impl Ledger {
    /// Holds the type's lock until told to return, or until the test drops `release`.
    fn hold(entered: mpsc::Sender<()>, release: mpsc::Receiver<()>) {
        entered.send(()).unwrap();
        let _ = release.recv();
    }

    fn add() {
        racy_add(&LEDGER_COUNT);
    }

    fn add_via_other() {
        Self::add(); // same lock, same thread: reentrant
    }

    async fn add_async() {
        racy_add_async(&LEDGER_COUNT).await;
    }

    fn add_to(&self) {
        racy_add(&self.n);
    }

    #[synchronized]
    fn own_lock() {} // its own per-function lock, not the type's
}

trait Tally {
    fn tally();
}

#[synchronized]
impl Tally for Ledger {
    fn tally() {
        racy_add(&LEDGER_COUNT);
    }
}

#[test]
fn impl_block_gives_one_lock_per_type_and_one_per_object() {
    let _s = serial();
    LEDGER_COUNT.store(0, Relaxed);

    // One associated fn of the block holds off another.
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let mut holder = on_thread(move || Ledger::hold(entered_tx, release_rx));
    entered.recv_timeout(LIMIT).unwrap();
    let mut add = on_thread(Ledger::add);
    assert_eq!(
        add(BLOCKED),
        None,
        "`add` ran while `hold` held the type's lock"
    );
    let mut tally = on_thread(Ledger::tally);
    assert_eq!(tally(BLOCKED), None, "the trait impl's fn has another lock");
    // Methods lock their object, not the type; a fn with its own attribute keeps it.
    let a = Arc::new(Ledger::default());
    let a2 = a.clone();
    let mut method = on_thread(move || a2.add_to());
    assert_eq!(
        method(LIMIT),
        Some(()),
        "a method waited for the type's lock"
    );
    let mut own = on_thread(Ledger::own_lock);
    assert_eq!(
        own(LIMIT),
        Some(()),
        "a fn with its own attribute was wrapped twice"
    );
    release.send(()).unwrap();
    assert_eq!(holder(LIMIT), Some(()));
    assert_eq!(add(LIMIT), Some(()));
    assert_eq!(tally(LIMIT), Some(()));
    assert_eq!(LEDGER_COUNT.load(Relaxed), 2);

    // It is the lock of `#[synchronized(Self)]` and `Synchronized::of_type`.
    let held = Synchronized::of_type::<Ledger>().lock_blocking();
    let mut via_other = on_thread(Ledger::add_via_other);
    assert_eq!(via_other(BLOCKED), None);
    drop(held);
    assert_eq!(via_other(LIMIT), Some(()));

    // Two objects: one's lock does not hold off the other's methods.
    let b = Arc::new(Ledger::default());
    let held = synchronized(&*a).lock_blocking();
    let b2 = b.clone();
    let mut other = on_thread(move || b2.add_to());
    assert_eq!(other(LIMIT), Some(()), "b waited for a's lock");
    let a2 = a.clone();
    let mut same = on_thread(move || a2.add_to());
    assert_eq!(
        same(BLOCKED),
        None,
        "a's method ran while a's lock was held"
    );
    drop(held);
    assert_eq!(same(LIMIT), Some(()));
    assert_eq!((a.n.load(Relaxed), b.n.load(Relaxed)), (2, 1));

    // Under load, the associated fns exclude each other.
    hammer(|| {
        Ledger::add();
        Ledger::tally();
        Ledger::add_via_other();
    });
    assert_eq!(LEDGER_COUNT.load(Relaxed), 3 + 3 * THREADS * CALLS);

    // The async fns take the type's async lock.
    block_on(async {
        let held = Synchronized::of_type::<Ledger>().lock().await;
        let mut call = pin!(Ledger::add_async());
        assert!(poll_once(&mut call).await.is_none());
        drop(held);
        call.await;
    });
    assert_eq!(LEDGER_COUNT.load(Relaxed), 4 + 3 * THREADS * CALLS);
    assert_registry_empty();
}

// ---- the registry ----

#[test]
fn registry_holds_an_entry_only_while_held_or_waited_for() {
    let _s = serial();
    let objects: Vec<Counter> = (0..100).map(|_| Counter::default()).collect();
    let guards: Vec<_> = objects
        .iter()
        .map(|o| synchronized(o).lock_blocking())
        .collect();
    assert_eq!(aiosync::__private::registry_len(), 100);
    drop(guards);
    assert_registry_empty();

    // A registration without a lock counts until dropped.
    let s = synchronized(&objects[0]);
    assert_eq!(aiosync::__private::registry_len(), 1);
    drop(s);
    assert_registry_empty();

    // A cancelled async waiter leaves too.
    block_on(async {
        let held = synchronized(&objects[0]).lock().await;
        let mut waiter = Box::pin(synchronized(&objects[0]).lock());
        assert!(poll_once(&mut waiter).await.is_none());
        assert_eq!(aiosync::__private::registry_len(), 1); // one entry, two users
        drop(waiter);
        drop(held);
    });
    assert_registry_empty();

    // Many calls on many objects from many threads.
    hammer(|| objects.iter().take(10).for_each(Counter::add));
    assert_registry_empty();
}

#[test]
fn a_panicking_method_releases_its_lock() {
    struct Bomb(#[allow(dead_code)] u8); // not zero-sized: it has an address of its own
    impl Bomb {
        #[synchronized]
        fn explode(&self) {
            panic!("boom");
        }
    }
    let _s = serial();
    let bomb = Arc::new(Bomb(0));
    let b2 = bomb.clone();
    assert!(std::thread::spawn(move || b2.explode()).join().is_err());
    assert_registry_empty();
    let b3 = bomb.clone();
    let mut again = on_thread(move || synchronized(&*b3).lock_blocking_timeout(LIMIT).is_some());
    assert_eq!(again(LIMIT), Some(true));
}

#[test]
fn guard_form_refuses_pointers() {
    let _s = serial();
    let c = Arc::new(Counter::default());
    let by_ref = &*c;
    let arc_err = std::panic::catch_unwind(|| drop(synchronized(&c))).unwrap_err();
    let msg = arc_err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("alloc::sync::Arc<"), "{msg}");
    assert!(std::panic::catch_unwind(|| drop(synchronized(&by_ref))).is_err());
    assert!(std::panic::catch_unwind(|| drop(synchronized(&Box::new(1)))).is_err());
    drop(synchronized(by_ref)); // the object itself
    assert_registry_empty();
}

trait Poke {
    fn poke(&self);
}

// A method of a pointer type: each copy of the reference would get its own lock.
impl Poke for &Counter {
    #[synchronized]
    fn poke(&self) {}
}

#[test]
fn a_method_of_a_pointer_type_panics_instead_of_not_locking() {
    let _s = serial();
    let c = Counter::default();
    let err = std::panic::catch_unwind(|| (&c).poke()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("a pointer type"), "{msg}");
    assert_registry_empty();
}
