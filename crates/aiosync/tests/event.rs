//! Integration tests for `aiosync::Event`: the flag, `set()` waking every current waiter
//! even if `clear()` follows at once, cancellation, timeouts, and threads and tasks
//! waiting on one event.

mod common;

use aiosync::{Event, EventWait};
use common::*;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// helpers

/// Polls `inner`, and sends on `registered` the first time it returns `Pending` (so the
/// waiter is known to be queued).
async fn report_pending<F: Future + Unpin>(
    mut inner: F,
    registered: mpsc::Sender<()>,
) -> F::Output {
    let mut registered = Some(registered);
    std::future::poll_fn(move |cx| {
        let p = Pin::new(&mut inner).poll(cx);
        if p.is_pending() {
            if let Some(tx) = registered.take() {
                tx.send(()).unwrap();
            }
        }
        p
    })
    .await
}

// ---------------------------------------------------------------------------------------
// the flag

#[test]
fn set_clear_is_set() {
    let ev = Event::new();
    assert!(!ev.is_set());
    assert_eq!(ev.set(), 0, "nobody waits");
    assert!(ev.is_set());
    assert_eq!(ev.set(), 0, "setting a set event wakes nobody");
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
    ev.clear();
    assert!(!ev.is_set(), "clearing twice is fine");
    ev.set();
    assert!(ev.is_set());

    let d = Event::default();
    assert!(!d.is_set());
    assert!(format!("{d:?}").contains("set: false"), "{d:?}");
    assert!(format!("{ev:?}").contains("set: true"), "{ev:?}");
}

#[test]
fn static_event_is_const() {
    static EV: Event = Event::new();
    EV.set();
    assert!(EV.is_set());
    EV.wait_blocking();
}

#[test]
fn wait_returns_at_once_when_set() {
    let ev = Event::new();
    ev.set();
    let p = Probe::new();
    let mut w = pin!(ev.wait());
    assert_eq!(p.poll(w.as_mut()), Poll::Ready(()));
    assert_eq!(p.wakes(), 0);
    ev.wait_blocking();
    assert!(ev.wait_blocking_timeout(Duration::ZERO));
    assert!(ev.wait_blocking_timeout(Duration::from_millis(1)));
    futures_lite::future::block_on(ev.wait());
}

// ---------------------------------------------------------------------------------------
// set wakes every current waiter

#[test]
fn set_then_clear_still_completes_every_current_waiter() {
    let ev = Event::new();
    let probes: Vec<Probe> = (0..4).map(|_| Probe::new()).collect();
    let mut waits: Vec<Pin<Box<EventWait<'_>>>> = (0..4).map(|_| Box::pin(ev.wait())).collect();
    for (p, w) in probes.iter().zip(&mut waits) {
        assert_eq!(p.poll(w.as_mut()), Poll::Pending);
    }
    for p in &probes {
        assert_eq!(p.wakes(), 0);
    }

    assert_eq!(ev.set(), 4, "set reports every waiter it woke");
    ev.clear();
    assert!(!ev.is_set());

    for (p, w) in probes.iter().zip(&mut waits) {
        assert_eq!(p.wakes(), 1, "each waiter is woken exactly once");
        assert_eq!(
            p.poll(w.as_mut()),
            Poll::Ready(()),
            "a waiter present at set() completes although the event was cleared"
        );
    }
}

#[test]
fn waiters_arriving_after_clear_wait_for_the_next_set() {
    let ev = Event::new();
    let early = Probe::new();
    let mut w_early = pin!(ev.wait());
    assert!(early.poll(w_early.as_mut()).is_pending());

    ev.set();
    ev.clear();

    let late = Probe::new();
    let mut w_late = pin!(ev.wait());
    assert!(
        late.poll(w_late.as_mut()).is_pending(),
        "arrived after clear(): waits"
    );
    assert!(!ev.wait_blocking_timeout(Duration::from_millis(5)));
    assert!(late.poll(w_late.as_mut()).is_pending());
    assert_eq!(late.wakes(), 0);

    assert_eq!(early.poll(w_early.as_mut()), Poll::Ready(()));

    assert_eq!(ev.set(), 1, "only the late waiter is still waiting");
    assert_eq!(late.wakes(), 1);
    assert_eq!(late.poll(w_late.as_mut()), Poll::Ready(()));
}

#[test]
fn newest_waker_is_the_one_woken() {
    let ev = Event::new();
    let (first, second) = (Probe::new(), Probe::new());
    let mut w = pin!(ev.wait());
    assert!(first.poll(w.as_mut()).is_pending());
    assert!(second.poll(w.as_mut()).is_pending());
    assert_eq!(ev.set(), 1, "re-polling does not queue a second waiter");
    assert_eq!(first.wakes(), 0, "a replaced waker is not called");
    assert_eq!(second.wakes(), 1);
    assert_eq!(second.poll(w.as_mut()), Poll::Ready(()));
}

// ---------------------------------------------------------------------------------------
// cancellation and timeouts

#[test]
fn dropped_waiter_is_removed_and_not_counted() {
    let ev = Event::new();
    let probes: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    let mut waits: Vec<Option<Pin<Box<EventWait<'_>>>>> =
        (0..3).map(|_| Some(Box::pin(ev.wait()))).collect();
    for (p, w) in probes.iter().zip(&mut waits) {
        assert!(p.poll(w.as_mut().unwrap().as_mut()).is_pending());
    }
    // A future that was never polled holds no place either.
    drop(ev.wait());

    waits[1] = None; // cancel the middle waiter
    assert_eq!(ev.set(), 2, "the dropped waiter is not counted");
    assert_eq!(probes[1].wakes(), 0, "the dropped waiter is not woken");
    for i in [0, 2] {
        assert_eq!(probes[i].wakes(), 1);
        let w = waits[i].as_mut().unwrap().as_mut();
        assert_eq!(probes[i].poll(w), Poll::Ready(()));
    }
}

#[test]
fn dropping_every_waiter_leaves_none() {
    let ev = Event::new();
    for _ in 0..100 {
        let p = Probe::new();
        let mut w = Box::pin(ev.wait());
        assert!(p.poll(w.as_mut()).is_pending());
    }
    assert_eq!(ev.set(), 0, "all 100 cancelled waiters were removed");
}

#[test]
fn wait_blocking_timeout_false_then_true() {
    let ev = Arc::new(Event::new());

    let start = Instant::now();
    assert!(!ev.wait_blocking_timeout(Duration::from_millis(30)));
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "returned false after {:?}, before the timeout",
        start.elapsed()
    );
    assert_eq!(
        ev.set(),
        0,
        "a timed-out blocking wait leaves no waiter behind"
    );
    ev.clear();

    // Now set from another thread while this one waits (long timeout: it must be the set
    // that ends the wait).
    let (tx, rx) = mpsc::channel::<()>();
    let setter = {
        let ev = ev.clone();
        spawn_bounded(move || {
            rx.recv().unwrap();
            ev.set()
        })
    };
    tx.send(()).unwrap();
    let start = Instant::now();
    assert!(ev.wait_blocking_timeout(LIMIT));
    assert!(start.elapsed() < LIMIT);
    assert!(setter.join() <= 1);
    assert!(ev.is_set());
}

#[tokio::test]
async fn tokio_timeout_cancels_wait() {
    let ev = Event::new();
    let r = tokio::time::timeout(Duration::from_millis(10), ev.wait()).await;
    assert!(r.is_err(), "nobody set the event");
    assert_eq!(ev.set(), 0, "the timed-out future withdrew its waiter");
    within(ev.wait()).await;
}

// ---------------------------------------------------------------------------------------
// threads and tasks at once

#[test]
fn threads_and_tasks_are_all_released_by_one_set() {
    const BLOCKING_THREADS: usize = 3;
    const POLLING_THREADS: usize = 2;
    const TASKS: usize = 4;

    let ev = Arc::new(Event::new());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();

    // Waiters that report when they are certainly queued.
    let (reg_tx, reg_rx) = mpsc::channel::<()>();
    // `wait_blocking` threads only report that they are about to wait.
    let (arrive_tx, arrive_rx) = mpsc::channel::<()>();

    let blocking: Vec<_> = (0..BLOCKING_THREADS)
        .map(|_| {
            let (ev, arrive) = (ev.clone(), arrive_tx.clone());
            spawn_bounded(move || {
                arrive.send(()).unwrap();
                ev.wait_blocking();
                ev.is_set()
            })
        })
        .collect();
    let polling: Vec<_> = (0..POLLING_THREADS)
        .map(|_| {
            let (ev, reg) = (ev.clone(), reg_tx.clone());
            spawn_bounded(move || {
                futures_lite::future::block_on(report_pending(ev.wait(), reg));
                true
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (ev, reg) = (ev.clone(), reg_tx.clone());
            rt.spawn(async move {
                report_pending(ev.wait(), reg).await;
            })
        })
        .collect();

    for _ in 0..POLLING_THREADS + TASKS {
        reg_rx.recv_timeout(LIMIT).expect("a waiter did not queue");
    }
    for _ in 0..BLOCKING_THREADS {
        arrive_rx
            .recv_timeout(LIMIT)
            .expect("a thread did not start");
    }

    let woken = ev.set();
    assert!(
        woken >= POLLING_THREADS + TASKS,
        "set() woke {woken}, but {} waiters were known to be queued",
        POLLING_THREADS + TASKS
    );
    assert!(woken <= POLLING_THREADS + TASKS + BLOCKING_THREADS);

    for t in blocking {
        assert!(t.join());
    }
    for t in polling {
        assert!(t.join());
    }
    rt.block_on(within(async {
        for t in tasks {
            t.await.unwrap();
        }
    }));
    assert!(ev.is_set(), "nobody cleared it");
}

#[test]
fn ping_pong_between_a_thread_and_a_task_loses_no_wakeup() {
    // A fresh pair of events per round (no `clear`), so a wakeup lost anywhere hangs.
    const ROUNDS: usize = 2000;
    let rounds: Arc<Vec<(Event, Event)>> =
        Arc::new((0..ROUNDS).map(|_| (Event::new(), Event::new())).collect());

    let thread = {
        let rounds = rounds.clone();
        spawn_bounded(move || {
            let mut woken = 0;
            for (ping, pong) in rounds.iter() {
                ping.wait_blocking();
                woken += pong.set();
            }
            woken
        })
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let task_woken = rt.block_on(within(async {
        let mut woken = 0;
        for (ping, pong) in rounds.iter() {
            woken += ping.set();
            pong.wait().await;
        }
        woken
    }));
    let thread_woken = thread.join();
    assert!(task_woken <= ROUNDS && thread_woken <= ROUNDS);
    assert!(rounds.iter().all(|(a, b)| a.is_set() && b.is_set()));
}

/// The same ping-pong reusing two events with `clear`: a stale `set()` releasing a wait
/// that began after a `clear()` (see `wait_begun_after_clear_is_not_released_by_an_earlier_set`)
/// used to hang it about one run in fifty.
#[test]
fn ping_pong_reusing_events_with_clear() {
    const ROUNDS: usize = 2000;
    const RUNS: usize = 200;
    for _ in 0..RUNS {
        let ping = Arc::new(Event::new());
        let pong = Arc::new(Event::new());
        let thread = {
            let (ping, pong) = (ping.clone(), pong.clone());
            spawn_bounded(move || {
                for _ in 0..ROUNDS {
                    ping.wait_blocking();
                    ping.clear();
                    pong.set();
                }
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(within(async {
            for _ in 0..ROUNDS {
                ping.set();
                pong.wait().await;
                pong.clear();
            }
        }));
        thread.join();
    }
}

#[test]
fn set_and_clear_race_never_strands_a_waiter() {
    // Several threads wait in a loop while one thread sets and clears; each waiter counts
    // its completed waits. After the last `set` (without clear) every waiter must finish.
    const WAITERS: usize = 3;
    const TOGGLES: usize = 500;
    let ev = Arc::new(Event::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (ev, stop) = (ev.clone(), stop.clone());
            spawn_bounded(move || {
                let mut n = 0usize;
                loop {
                    ev.wait_blocking();
                    n += 1;
                    if stop.load(Ordering::SeqCst) {
                        return n;
                    }
                }
            })
        })
        .collect();

    for _ in 0..TOGGLES {
        ev.set();
        ev.clear();
    }
    stop.store(true, Ordering::SeqCst);
    ev.set(); // stays set: every waiter sees `stop` on its next round
    for w in waiters {
        assert!(w.join() >= 1);
    }
}

// ---------------------------------------------------------------------------------------
// set() racing clear()

mod stale_set {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{RawWaker, RawWakerVTable};

    /// Runs while a waker is cloned: `EventWait::poll` clones its waker with the event's
    /// internal list lock held, so this is how a test holds that lock for a moment.
    type Hook = Box<dyn Fn()>;

    unsafe fn hook_clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` points to a `Hook` that outlives the waker (see the test).
        let hook = unsafe { &*(data as *const Hook) };
        hook();
        RawWaker::new(std::ptr::null(), &NOOP_VTABLE)
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn noop_clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &NOOP_VTABLE)
    }
    static HOOK_VTABLE: RawWakerVTable = RawWakerVTable::new(hook_clone, noop, noop, noop);
    static NOOP_VTABLE: RawWakerVTable = RawWakerVTable::new(noop_clone, noop, noop, noop);

    /// Sequence (the clone hook runs inside waiter H's first poll, list lock held):
    /// 1. thread S calls `set()`; the hook waits (at most 10 ms) to see the flag stored;
    /// 2. H's poll returns (lock released), then `clear()` returns;
    /// 3. a new wait W starts: the event is clear;
    /// 4. S's `set()` finishes.
    ///
    /// W began after `clear()` returned and no `set()` began after that, so W must stay
    /// pending (threading.Event / asyncio.Event semantics: the flag and the waiter list
    /// change together). `set()` once stored the flag before taking the list lock, so S's
    /// drain could grant W too. Now the flag is swapped under the list lock: S cannot
    /// store it while H holds the lock, and W stays pending.
    #[test]
    fn wait_begun_after_clear_is_not_released_by_an_earlier_set() {
        for iteration in 0..50 {
            let ev = Arc::new(Event::new());
            let setter: Rc<RefCell<Option<Bounded<usize>>>> = Rc::default();
            let saw_flag = Rc::new(std::cell::Cell::new(false));
            let hook: Hook = {
                let (ev, setter, saw_flag) = (ev.clone(), setter.clone(), saw_flag.clone());
                Box::new(move || {
                    let s = {
                        let ev = ev.clone();
                        spawn_bounded(move || ev.set())
                    };
                    let give_up = Instant::now() + Duration::from_millis(10);
                    while !ev.is_set() && Instant::now() < give_up {
                        std::hint::spin_loop();
                    }
                    saw_flag.set(ev.is_set());
                    *setter.borrow_mut() = Some(s);
                })
            };
            // SAFETY: the vtable's functions uphold the RawWaker contract (its clones are
            // no-op wakers), and `hook` outlives `waker`, which is dropped first.
            let waker = unsafe {
                Waker::from_raw(RawWaker::new(
                    &hook as *const Hook as *const (),
                    &HOOK_VTABLE,
                ))
            };
            let mut h = pin!(ev.wait());
            assert!(h
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            drop(waker);
            let setter = setter.borrow_mut().take().expect("hook ran");
            if !saw_flag.get() {
                // set() did not store the flag while H held the list lock: no race.
                setter.join();
                continue;
            }
            ev.clear();

            let p = Probe::new();
            let mut w = pin!(ev.wait()); // begins after clear() returned
            assert!(p.poll(w.as_mut()).is_pending());
            let woken = setter.join();
            assert!(!ev.is_set());
            assert_eq!(
                woken, 1,
                "iteration {iteration}: set() should wake only H, the waiter present when it began"
            );
            assert!(
                p.poll(w.as_mut()).is_pending(),
                "iteration {iteration}: a wait begun after clear() completed without a new set()"
            );
        }
    }
}
