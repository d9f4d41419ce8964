//! `#[synchronized]` on methods and `synchronized(&obj)`: per object (sync methods
//! reentrant and thread-owned, async methods held across awaits, the guard form sharing
//! the methods' locks); the registry never leaks, a panicking method releases its lock,
//! pointers are refused. Per function, per type and on an `impl` block:
//! `synchronized_fns_types.rs`.
//!
//! The tests take one file-wide lock in turn, so each can check that the global registry
//! is empty when it ends.

mod common;

use aiosync::synchronized;
use common::synchronized::*;
use common::{runtime, LIMIT};
use futures_lite::future::{block_on, poll_once};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

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
