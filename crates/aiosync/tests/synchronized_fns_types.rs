//! `#[synchronized]` per function, per type (`#[synchronized(Self)]`,
//! `Synchronized::of_type`) and on an `impl` block; sync (reentrant, thread-owned) and
//! async (held across awaits). Per object and the registry: `synchronized.rs`.
//!
//! The tests take one file-wide lock in turn, so each can check that the global registry
//! is empty when it ends.

mod common;

use aiosync::{synchronized, Synchronized};
use common::synchronized::*;
use common::{runtime, LIMIT};
use futures_lite::future::{block_on, poll_once};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;

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
