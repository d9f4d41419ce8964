//! A priority queue's comparator calling back into its own queue: a panic with a clear
//! message instead of a deadlock, and the queue as it was afterwards. A comparator that
//! panics on its own leaves the queue as it was too.

mod common;

use aiosync::{Queue, TryGetError, TryPutError};
use common::{spawn_bounded, Probe};
use futures_lite::future::block_on;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Duration;

const MESSAGE: &str = "aiosync::Queue: called from its own comparator";

type Q = Queue<i32>;
type Hook = Arc<dyn Fn(&Q) + Send + Sync>;
/// One form of a put or get, named.
type Op<R> = (&'static str, Box<dyn Fn(&Q) -> R>);

/// What the comparator of a [`queue`] does besides comparing.
struct Ctl {
    me: OnceLock<Weak<Q>>,
    hook: Mutex<Option<Hook>>,
    /// Whether `in_comparator` was true at every comparison (and there was one).
    inside: AtomicBool,
    compared: AtomicUsize,
}

impl Ctl {
    fn set(&self, hook: impl Fn(&Q) + Send + Sync + 'static) {
        *self.hook.lock().unwrap() = Some(Arc::new(hook));
    }
    fn clear(&self) {
        *self.hook.lock().unwrap() = None;
    }
}

/// A priority queue of `i32` whose comparator runs the hook set on its `Ctl` (the lock of
/// the hook is released before the hook runs, so a panicking hook poisons nothing).
fn queue(maxsize: usize) -> (Arc<Q>, Arc<Ctl>) {
    let ctl = Arc::new(Ctl {
        me: OnceLock::new(),
        hook: Mutex::new(None),
        inside: AtomicBool::new(true),
        compared: AtomicUsize::new(0),
    });
    let c = ctl.clone();
    let q = Arc::new(Queue::priority_by(maxsize, move |a: &i32, b: &i32| {
        c.compared.fetch_add(1, SeqCst);
        let me = c.me.get().and_then(Weak::upgrade).expect("queue alive");
        if !me.in_comparator() {
            c.inside.store(false, SeqCst);
        }
        let hook = c.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(&me);
        }
        a.partial_cmp(b)
    }));
    assert!(ctl.me.set(Arc::downgrade(&q)).is_ok());
    (q, ctl)
}

fn filled(maxsize: usize, items: &[i32]) -> (Arc<Q>, Arc<Ctl>) {
    let (q, ctl) = queue(maxsize);
    for &v in items {
        q.try_put(v).unwrap();
    }
    (q, ctl)
}

fn message(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<&str>() {
        Ok(s) => s.to_string(),
        Err(p) => *p.downcast::<String>().expect("a panic message"),
    }
}

/// Runs `f`, which must panic; returns the message.
#[track_caller]
fn panics<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(p) => message(p),
    }
}

/// Takes every item with `try_get`: they come out smallest first, then the queue is
/// empty (no announced item left over, none missing).
fn drain(q: &Q) -> Vec<i32> {
    let out: Vec<i32> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    out
}

/// Polls a future once, as a task would.
fn poll_once<F: std::future::Future>(f: F) {
    let mut f = Box::pin(f);
    let _ = Probe::new().poll(f.as_mut());
}

const ITEMS: [i32; 6] = [50, 30, 80, 10, 60, 20];
const SORTED: [i32; 6] = [10, 20, 30, 50, 60, 80];

/// Each call that takes the queue's lock, made from the comparator.
fn calls() -> Vec<(&'static str, Hook)> {
    let ms = Duration::from_millis(1);
    let calls: Vec<(&'static str, Hook)> = vec![
        (
            "len",
            Arc::new(|q: &Q| {
                let _ = q.len();
            }),
        ),
        (
            "is_empty",
            Arc::new(|q: &Q| {
                let _ = q.is_empty();
            }),
        ),
        (
            "is_full",
            Arc::new(|q: &Q| {
                let _ = q.is_full();
            }),
        ),
        (
            "is_closed",
            Arc::new(|q: &Q| {
                let _ = q.is_closed();
            }),
        ),
        (
            "unfinished_tasks",
            Arc::new(|q: &Q| {
                let _ = q.unfinished_tasks();
            }),
        ),
        (
            "snapshot",
            Arc::new(|q: &Q| {
                let _ = q.snapshot(|v| *v);
            }),
        ),
        (
            "try_put",
            Arc::new(|q: &Q| {
                let _ = q.try_put(1);
            }),
        ),
        (
            "put_blocking",
            Arc::new(|q: &Q| {
                let _ = q.put_blocking(1);
            }),
        ),
        (
            "put_blocking_timeout",
            Arc::new(move |q: &Q| {
                let _ = q.put_blocking_timeout(1, ms);
            }),
        ),
        (
            "try_get",
            Arc::new(|q: &Q| {
                let _ = q.try_get();
            }),
        ),
        (
            "get_blocking",
            Arc::new(|q: &Q| {
                let _ = q.get_blocking();
            }),
        ),
        (
            "get_blocking_timeout",
            Arc::new(move |q: &Q| {
                let _ = q.get_blocking_timeout(ms);
            }),
        ),
        (
            "task_done",
            Arc::new(|q: &Q| {
                let _ = q.task_done();
            }),
        ),
        ("join_blocking", Arc::new(|q: &Q| q.join_blocking())),
        (
            "join_blocking_timeout",
            Arc::new(move |q: &Q| {
                let _ = q.join_blocking_timeout(ms);
            }),
        ),
        ("set_maxsize", Arc::new(|q: &Q| q.set_maxsize(1))),
        ("shutdown", Arc::new(|q: &Q| q.shutdown(true))),
        ("close", Arc::new(|q: &Q| q.close())),
        ("put future", Arc::new(|q: &Q| poll_once(q.put(1)))),
        ("get future", Arc::new(|q: &Q| poll_once(q.get()))),
        ("join future", Arc::new(|q: &Q| poll_once(q.join()))),
    ];
    calls
}

/// The queue holds `ITEMS` and nothing else happened to it.
#[track_caller]
fn unchanged(q: &Q, ctl: &Ctl, maxsize: usize) {
    ctl.clear();
    assert_eq!(q.len(), ITEMS.len());
    assert_eq!(q.unfinished_tasks(), ITEMS.len());
    assert_eq!(q.maxsize(), maxsize);
    assert!(!q.is_shutdown() && !q.is_closed());
    assert_eq!((q.waiting_getters(), q.waiting_putters()), (0, 0));
}

#[test]
fn a_call_from_the_comparator_panics_and_leaves_the_queue_as_it_was() {
    spawn_bounded(|| {
        for (name, call) in calls() {
            for during_get in [false, true] {
                let maxsize = ITEMS.len() + 1;
                let (q, ctl) = filled(maxsize, &ITEMS);
                let before = q.snapshot(|v| *v);
                let c = call.clone();
                ctl.set(move |q| c(q));
                let msg = if during_get {
                    panics(|| q.try_get())
                } else {
                    panics(|| q.try_put(40))
                };
                assert_eq!(msg, MESSAGE, "{name} (during a get: {during_get})");
                unchanged(&q, &ctl, maxsize);
                assert_eq!(q.snapshot(|v| *v), before, "{name}: heap moved");
                // Still a working queue, from this thread and from another one: the lock
                // was released and the one free place is still there.
                q.try_put(40).unwrap();
                assert!(matches!(q.try_put(41), Err(TryPutError::Full(41))));
                let q2 = q.clone();
                let drained = spawn_bounded(move || drain(&q2)).join();
                assert_eq!(drained, [10, 20, 30, 40, 50, 60, 80], "{name}");
                assert!(ctl.inside.load(SeqCst));
            }
        }
    })
    .join();
}

#[test]
fn the_async_and_blocking_forms_panic_as_well() {
    spawn_bounded(|| {
        let (q, ctl) = filled(0, &ITEMS);
        ctl.set(|q| {
            let _ = q.len();
        });
        assert_eq!(panics(|| q.put_blocking(40)), MESSAGE);
        assert_eq!(panics(|| block_on(q.put(40))), MESSAGE);
        assert_eq!(panics(|| q.get_blocking()), MESSAGE);
        assert_eq!(panics(|| block_on(q.get())), MESSAGE);
        assert_eq!(
            panics(|| q.get_blocking_timeout(Duration::from_millis(1))),
            MESSAGE
        );
        unchanged(&q, &ctl, 0);
        assert_eq!(drain(&q), SORTED);
    })
    .join();
}

#[test]
fn in_comparator_is_true_inside_only() {
    let (q, ctl) = filled(0, &ITEMS);
    assert!(!q.in_comparator());
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    ctl.set(move |q| {
        assert!(q.in_comparator());
        s.fetch_add(1, SeqCst);
    });
    q.try_put(5).unwrap();
    assert!(seen.load(SeqCst) > 0);
    assert!(!q.in_comparator());
    assert!(ctl.inside.load(SeqCst));
    // The Debug form works inside, reading only what needs no lock.
    ctl.set(|q| assert!(format!("{q:?}").starts_with("Queue { maxsize: 0")));
    q.try_put(6).unwrap();
    ctl.clear();
    assert!(format!("{q:?}").contains("len: 8"));
    // A queue that does not compare is never inside.
    let fifo = Queue::new(0);
    fifo.try_put(1).unwrap();
    assert!(!fifo.in_comparator());
}

/// A comparator that panics (on its own) at its `n`th call from now.
fn panic_at(ctl: &Ctl, n: usize) {
    let left = AtomicUsize::new(n);
    ctl.set(move |_| {
        if left.fetch_sub(1, SeqCst) == 0 {
            panic!("boom");
        }
    });
}

#[test]
fn a_comparator_that_panics_in_a_put_changes_nothing() {
    spawn_bounded(|| {
        let maxsize = ITEMS.len() + 1;
        let (q, ctl) = filled(maxsize, &ITEMS);
        let before = q.snapshot(|v| *v);
        // 5 (smallest) climbs to the root: every comparison of its way up, in each form.
        for n in 0..2 {
            let puts: [Op<()>; 4] = [
                (
                    "try_put",
                    Box::new(|q: &Q| {
                        let _ = q.try_put(5);
                    }),
                ),
                (
                    "put_blocking",
                    Box::new(|q: &Q| {
                        let _ = q.put_blocking(5);
                    }),
                ),
                (
                    "put",
                    Box::new(|q: &Q| {
                        let _ = block_on(q.put(5));
                    }),
                ),
                (
                    "put_blocking_timeout",
                    Box::new(|q: &Q| {
                        let _ = q.put_blocking_timeout(5, Duration::from_secs(1));
                    }),
                ),
            ];
            for (name, put) in puts {
                panic_at(&ctl, n);
                assert_eq!(panics(|| put(&q)), "boom", "{name} #{n}");
                unchanged(&q, &ctl, maxsize);
                assert_eq!(q.snapshot(|v| *v), before, "{name} #{n}");
            }
        }
        // The place the panicking puts had is back: one more fits, and no more.
        q.try_put(5).unwrap();
        assert!(matches!(q.try_put(6), Err(TryPutError::Full(6))));
        assert_eq!(drain(&q), [5, 10, 20, 30, 50, 60, 80]);
    })
    .join();
}

#[test]
fn a_comparator_that_panics_in_a_get_changes_nothing() {
    spawn_bounded(|| {
        let (q, ctl) = filled(0, &ITEMS);
        let before = q.snapshot(|v| *v);
        let mut n = 0;
        // Each comparison of the sift-down in turn, until a get compares fewer times.
        let first = loop {
            let gets: [Op<Option<i32>>; 3] = [
                ("try_get", Box::new(|q: &Q| q.try_get().ok())),
                ("get_blocking", Box::new(|q: &Q| q.get_blocking().ok())),
                ("get", Box::new(|q: &Q| block_on(q.get()).ok())),
            ];
            let mut got = None;
            for (name, get) in gets {
                panic_at(&ctl, n);
                match catch_unwind(AssertUnwindSafe(|| get(&q))) {
                    Err(p) => {
                        assert_eq!(message(p), "boom", "{name} #{n}");
                        unchanged(&q, &ctl, 0);
                        assert_eq!(q.snapshot(|v| *v), before, "{name} #{n}");
                    }
                    Ok(v) => {
                        got = v;
                        break;
                    }
                }
            }
            if let Some(v) = got {
                break v;
            }
            n += 1;
        };
        assert!(n >= 2, "a get of six items compares more than {n} times");
        ctl.clear();
        assert_eq!(first, 10);
        assert_eq!(drain(&q), [20, 30, 50, 60, 80]);
        assert_eq!(q.unfinished_tasks(), ITEMS.len());
    })
    .join();
}

#[test]
fn a_panicking_get_gives_its_item_to_the_next_getter() {
    spawn_bounded(|| {
        let (q, ctl) = filled(0, &ITEMS);
        panic_at(&ctl, 0);
        assert_eq!(panics(|| q.try_get()), "boom");
        ctl.clear();
        // Every item is still announced: six gets succeed at once, the seventh waits.
        for v in SORTED {
            assert_eq!(q.get_blocking_timeout(Duration::from_secs(1)), Ok(v));
        }
        assert_eq!(
            q.get_blocking_timeout(Duration::from_millis(5)),
            Err(TryGetError::Empty)
        );
    })
    .join();
}

#[test]
fn other_queues_work_from_inside_the_comparator() {
    spawn_bounded(|| {
        let (q, ctl) = filled(0, &ITEMS);
        let fifo = Arc::new(Queue::new(0));
        let (other, other_ctl) = filled(0, &[3, 1, 2]);
        // The other priority queue compares inside our comparator: its own hook checks it.
        other_ctl.set(|o| assert!(o.in_comparator()));
        let (f, o) = (fifo.clone(), other.clone());
        ctl.set(move |me| {
            assert!(!o.in_comparator() && !f.in_comparator() && me.in_comparator());
            f.try_put(f.len() as i32).unwrap();
            o.try_put(0).unwrap();
            assert_eq!(o.try_get(), Ok(0));
            drop(o.snapshot(|v| *v));
            o.task_done().unwrap();
        });
        q.try_put(5).unwrap();
        assert_eq!(q.try_get(), Ok(5));
        ctl.clear();
        other_ctl.clear();
        assert!(!fifo.is_empty());
        assert_eq!(drain(&other), [1, 2, 3]);
        assert_eq!(drain(&q), SORTED);
    })
    .join();
}

#[test]
fn another_thread_waits_for_the_lock_while_one_compares() {
    let (q, ctl) = filled(0, &ITEMS);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(Some(entered_tx)), Mutex::new(go_rx));
    ctl.set(move |_| {
        // The first comparison only: it stalls until the main thread says go.
        if let Some(tx) = entered_tx.lock().unwrap().take() {
            tx.send(()).unwrap();
            go_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .expect("go");
        }
    });
    let comparing = {
        let q = q.clone();
        spawn_bounded(move || q.try_put(5))
    };
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the put compares");
    let other = {
        let q = q.clone();
        spawn_bounded(move || {
            // Not inside: lock-free reads answer, and `len` waits for the lock (no panic).
            assert!(!q.in_comparator());
            assert_eq!(q.maxsize(), 0);
            q.len()
        })
    };
    thread::sleep(Duration::from_millis(50));
    go_tx.send(()).unwrap();
    comparing.join().unwrap();
    assert_eq!(other.join(), ITEMS.len() + 1);
    ctl.clear();
    assert_eq!(drain(&q), [5, 10, 20, 30, 50, 60, 80]);
}

#[test]
fn a_waiting_put_dropped_inside_the_comparator_gives_its_place_back() {
    spawn_bounded(|| {
        let maxsize = 5;
        let (q, ctl) = filled(maxsize, &[1, 2, 3, 4, 5]);
        let qs: &'static Q = Box::leak(Box::new(q.clone()));
        type Waiting = Pin<Box<aiosync::Put<'static, i32>>>;
        let slot: Arc<Mutex<Option<Waiting>>> = Arc::new(Mutex::new(None));
        let mut put = Box::pin(qs.put(9));
        assert!(Probe::new().poll(put.as_mut()).is_pending());
        *slot.lock().unwrap() = Some(put);
        // The first free place wakes it and starts its fairness clock; once it has waited
        // past the window, the next place is handed to it.
        assert_eq!(q.try_get(), Ok(1));
        thread::sleep(Duration::from_millis(2));
        assert_eq!(q.try_get(), Ok(2));
        let s = slot.clone();
        ctl.set(move |_| drop(s.lock().unwrap().take()));
        assert_eq!(q.try_get(), Ok(3)); // compares: the put is dropped in there
        ctl.clear();
        assert!(slot.lock().unwrap().is_none());
        // Every place not held by an item is free, the dropped put's too.
        for v in [10, 11, 12] {
            q.try_put(v).unwrap();
        }
        assert!(matches!(q.try_put(13), Err(TryPutError::Full(13))));
        assert_eq!(drain(&q), [4, 5, 10, 11, 12]);
    })
    .join();
}

#[test]
fn a_waiting_join_dropped_inside_the_comparator_is_forgotten() {
    spawn_bounded(|| {
        let (q, ctl) = filled(0, &ITEMS);
        let qs: &'static Q = Box::leak(Box::new(q.clone()));
        type Waiting = Pin<Box<aiosync::Join<'static, i32>>>;
        let slot: Arc<Mutex<Option<Waiting>>> = Arc::new(Mutex::new(None));
        let mut join = Box::pin(qs.join());
        assert!(Probe::new().poll(join.as_mut()).is_pending());
        *slot.lock().unwrap() = Some(join);
        let s = slot.clone();
        ctl.set(move |_| drop(s.lock().unwrap().take()));
        assert_eq!(q.try_get(), Ok(10));
        ctl.clear();
        assert!(slot.lock().unwrap().is_none());
        for _ in drain(&q) {}
        for _ in ITEMS {
            q.task_done().unwrap();
        }
        assert!(q.join_blocking_timeout(Duration::from_secs(1)));
    })
    .join();
}
