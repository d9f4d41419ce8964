//! Integration tests for `aiosync::Mutex`: deterministic poll tests of the FIFO queue and
//! its cancel-safe handoff, timeouts, owned guards, and stress runs mixing OS threads with
//! tokio tasks on the same lock.

mod common;

use aiosync::{Mutex, MutexGuardArc};
use common::*;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// A thread that holds `m` until told to let go.
struct Holder {
    release: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl Holder {
    fn new<T: Send + 'static>(m: &Arc<Mutex<T>>) -> Holder {
        let (held_tx, held_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let m = m.clone();
        let thread = thread::spawn(move || {
            let g = m.lock_blocking();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(LIMIT);
            drop(g);
        });
        held_rx.recv_timeout(LIMIT).expect("holder did not lock");
        Holder { release, thread }
    }

    fn release(self) {
        self.release.send(()).unwrap();
        join_within(self.thread, LIMIT);
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic poll tests
// ---------------------------------------------------------------------------------------

#[test]
fn waiters_on_one_thread_are_served_in_fifo_order() {
    const N: usize = 6;
    let m = Mutex::new(Vec::new());
    let g = m.try_lock().unwrap();

    let mut futs: Vec<Option<Pin<Box<_>>>> = (0..N).map(|_| Some(Box::pin(m.lock()))).collect();
    let wk: Vec<_> = (0..N).map(|_| counting_waker()).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&wk) {
        pending(f.as_mut().unwrap().as_mut(), w);
    }
    drop(g);

    for i in 0..N {
        // Only waiter `i` was woken, and only it can complete, whatever the poll order.
        assert!(wakes(&wk[i].0) >= 1, "waiter {i} not woken on release");
        for (j, (c, _)) in wk.iter().enumerate().skip(i + 1) {
            assert_eq!(wakes(c), 0, "waiter {j} woken out of turn (head is {i})");
        }
        for j in (i + 1..N).rev() {
            pending(futs[j].as_mut().unwrap().as_mut(), &wk[j].1);
        }
        let mut f = futs[i].take().unwrap();
        let mut guard = ready(f.as_mut(), &wk[i].1);
        drop(f);
        guard.push(i);
        // While a guard is held the later waiters still wait.
        for j in (i + 1..N).rev() {
            pending(futs[j].as_mut().unwrap().as_mut(), &wk[j].1);
        }
        drop(guard);
    }
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), (0..N).collect::<Vec<_>>());
}

#[test]
fn newcomer_on_same_thread_does_not_overtake_queued_waiter() {
    let m = Mutex::new(0);
    let g = m.try_lock().unwrap();
    let (ca, wa) = counting_waker();
    let (_, wb) = counting_waker();
    let mut a = pin!(m.lock());
    pending(a.as_mut(), &wa);

    drop(g);
    // The lock is free or handed to `a`, but `a` has not run yet: nobody on this thread
    // may take it first.
    assert_eq!(wakes(&ca), 1);
    assert!(m.try_lock().is_none(), "try_lock overtook a queued waiter");
    assert!(
        m.lock_blocking_timeout(Duration::from_millis(5)).is_none(),
        "lock_blocking_timeout overtook a queued waiter of its own thread"
    );
    let mut b = pin!(m.lock());
    pending(b.as_mut(), &wb);

    let mut ga = ready(a.as_mut(), &wa);
    *ga += 1;
    pending(b.as_mut(), &wb);
    drop(ga);
    let gb = ready(b.as_mut(), &wb);
    assert_eq!(*gb, 1);
    drop(gb);
    assert!(!m.is_locked());
}

#[test]
fn waker_is_called_on_release() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    let (c, w) = counting_waker();
    let mut f = pin!(m.lock());
    pending(f.as_mut(), &w);
    pending(f.as_mut(), &w); // a second poll does not wake by itself
    assert_eq!(wakes(&c), 0);
    drop(g);
    assert_eq!(wakes(&c), 1);
    let _g = ready(f.as_mut(), &w);
    assert!(m.is_locked());
}

#[test]
fn newest_waker_is_the_one_woken() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    let (c1, w1) = counting_waker();
    let (c2, w2) = counting_waker();
    let mut f = pin!(m.lock());
    pending(f.as_mut(), &w1);
    pending(f.as_mut(), &w2);
    drop(g);
    assert_eq!(wakes(&c1), 0, "stale waker woken");
    assert_eq!(wakes(&c2), 1, "current waker not woken");
    let _g = ready(f.as_mut(), &w2);
}

#[test]
fn woken_waiter_dropped_passes_lock_to_next() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    drop(g);
    assert_eq!(wakes(&ca), 1);
    assert_eq!(wakes(&cb), 0);
    drop(a); // woken, never polled again
    assert_eq!(
        wakes(&cb),
        1,
        "next waiter not woken when the woken one was dropped"
    );
    let gb = ready(b.as_mut(), &wb);
    assert!(m.is_locked());
    drop(gb);
    drop(b);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn woken_last_waiter_dropped_leaves_lock_free() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    let (c, w) = counting_waker();
    let mut a = Box::pin(m.lock());
    pending(a.as_mut(), &w);
    drop(g);
    assert_eq!(wakes(&c), 1);
    drop(a);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some(), "lock lost with a cancelled waiter");
}

/// The head waiter is passed over by a barging thread; once it has waited past the
/// fairness timeout the next release hands the lock to it directly. If it is then dropped
/// without running, the lock must go on to the next waiter.
///
/// The barge is only allowed within ~0.5 ms of the release that woke the head, so the
/// set-up is retried until the other thread makes it in time (asserted when it does).
#[test]
fn handed_over_waiter_dropped_passes_lock_to_next() {
    for _ in 0..100 {
        if handed_over_then_dropped(true) && handed_over_then_dropped(false) {
            return;
        }
    }
    panic!("could not get a thread to barge past the head waiter in 100 attempts");
}

/// One attempt; `false` if the other thread did not barge in time (nothing asserted).
fn handed_over_then_dropped(with_next_waiter: bool) -> bool {
    let m = Mutex::new(0u32);
    let g = m.lock_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    pending(a.as_mut(), &wa);
    if with_next_waiter {
        pending(b.as_mut(), &wb);
    }
    let go = AtomicBool::new(false);
    let got = AtomicBool::new(false);
    let release = AtomicBool::new(false);
    let barged = thread::scope(|s| {
        let t = s.spawn(|| {
            let deadline = Instant::now() + LIMIT;
            while !go.load(Ordering::Acquire) && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            let Some(mut g) = m.lock_blocking_timeout(Duration::from_millis(20)) else {
                return;
            };
            *g += 1;
            got.store(true, Ordering::Release);
            while !release.load(Ordering::Acquire) && Instant::now() < deadline {
                thread::yield_now();
            }
        });
        drop(g); // wakes `a`; the lock is free for a moment
        go.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_millis(50);
        while !got.load(Ordering::Acquire) && !t.is_finished() && Instant::now() < deadline {
            thread::yield_now();
        }
        if !got.load(Ordering::Acquire) {
            release.store(true, Ordering::Release);
            return false;
        }
        // The other thread holds the lock, taken ahead of `a`.
        assert_eq!(wakes(&ca), 1);
        pending(a.as_mut(), &wa);
        if with_next_waiter {
            pending(b.as_mut(), &wb);
        }
        thread::sleep(Duration::from_millis(5)); // `a` now starves
        release.store(true, Ordering::Release);
        t.join().unwrap();
        true
    });
    if !barged {
        return false;
    }
    // The release handed the lock to `a` directly.
    assert_eq!(wakes(&ca), 2, "starving head not woken by the handover");
    assert!(m.is_locked(), "lock not handed to the starving head");
    assert!(m.try_lock().is_none());
    drop(a);
    if with_next_waiter {
        assert_eq!(wakes(&cb), 1, "handed-over lock not passed on");
        let mut gb = ready(b.as_mut(), &wb);
        *gb += 1;
        drop(gb);
    } else {
        assert!(
            !m.is_locked(),
            "handed-over lock lost with the dropped waiter"
        );
    }
    drop(b);
    assert!(!m.is_locked());
    let expected = if with_next_waiter { 2 } else { 1 };
    assert_eq!(*m.try_lock().expect("lock lost"), expected);
    true
}

#[test]
fn pending_waiter_dropped_is_skipped() {
    let m = Mutex::new(0);
    let g = m.lock_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let (cc, wc) = counting_waker();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    let mut c = Box::pin(m.lock());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    pending(c.as_mut(), &wc);
    drop(b); // never woken: simply leaves the queue

    drop(g);
    assert_eq!(wakes(&ca), 1);
    assert_eq!(wakes(&cc), 0);
    let ga = ready(a.as_mut(), &wa);
    pending(c.as_mut(), &wc);
    drop(ga);
    assert_eq!(wakes(&cb), 0);
    assert_eq!(
        wakes(&cc),
        1,
        "the waiter after a dropped one was not woken"
    );
    let gc = ready(c.as_mut(), &wc);
    drop(gc);
    drop((a, c));
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn all_pending_waiters_dropped_leave_no_trace() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    let (_, w) = counting_waker();
    let mut fs: Vec<_> = (0..4).map(|_| Box::pin(m.lock())).collect();
    for f in &mut fs {
        pending(f.as_mut(), &w);
    }
    drop(fs);
    assert!(m.is_locked());
    drop(g);
    assert!(!m.is_locked());
    // Nobody queued: the fast paths work again.
    assert!(m.try_lock().is_some());
    let mut f = pin!(m.lock());
    let _g = ready(f.as_mut(), &w);
}

#[test]
fn lock_arc_pending_dropped_passes_lock_on() {
    let m = Arc::new(Mutex::new(0));
    let g = m.lock_arc_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(m.lock_arc());
    let mut b = Box::pin(m.lock_arc());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    drop(g);
    assert_eq!(wakes(&ca), 1);
    drop(a);
    assert_eq!(wakes(&cb), 1);
    let mut gb: MutexGuardArc<i32> = ready(b.as_mut(), &wb);
    *gb = 7;
    drop(gb);
    assert_eq!(*m.try_lock().unwrap(), 7);
    // The future dropped after completion releases nothing twice.
    drop(b);
    assert!(!m.is_locked());
    assert_eq!(Arc::strong_count(&m), 1);
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

#[test]
fn lock_blocking_timeout_none_when_held_elsewhere_some_when_free() {
    let m = Arc::new(Mutex::new(1));
    let holder = Holder::new(&m);
    let t0 = Instant::now();
    assert!(m.lock_blocking_timeout(Duration::from_millis(30)).is_none());
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "gave up before the timeout"
    );
    assert!(m.is_locked());
    holder.release();
    assert!(!m.is_locked(), "the timed-out waiter left the lock taken");
    let g = m.lock_blocking_timeout(Duration::from_millis(30)).unwrap();
    assert_eq!(*g, 1);
}

#[test]
fn lock_blocking_timeout_on_own_held_lock_times_out() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    assert!(m.lock_blocking_timeout(Duration::from_millis(10)).is_none());
    assert!(m.lock_blocking_timeout(Duration::ZERO).is_none());
    drop(g);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
    assert!(m.lock_blocking_timeout(Duration::ZERO).is_some());
    // A timeout too large to represent means no limit; the lock is free so it returns.
    assert!(m.lock_blocking_timeout(Duration::MAX).is_some());
}

#[test]
fn lock_blocking_timeout_succeeds_when_released_during_wait() {
    let m = Arc::new(Mutex::new(0));
    let holder = Holder::new(&m);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let m = m.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            let g = m.lock_blocking_timeout(LIMIT);
            g.map(|mut g| {
                *g += 1;
                *g
            })
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    holder.release();
    assert_eq!(join_within(waiter, LIMIT), Some(1));
    assert!(!m.is_locked());
}

#[test]
fn timed_out_waiter_leaves_no_trace_for_async_waiter() {
    let m = Arc::new(Mutex::new(()));
    let g = m.lock_blocking();
    let (c, w) = counting_waker();
    let mut f = Box::pin(m.lock());
    pending(f.as_mut(), &w);
    let t = {
        let m = m.clone();
        thread::spawn(move || m.lock_blocking_timeout(Duration::from_millis(20)).is_none())
    };
    assert!(join_within(t, LIMIT), "should have timed out");
    drop(g);
    assert_eq!(wakes(&c), 1, "release skipped the queued async waiter");
    let g = ready(f.as_mut(), &w);
    drop(g);
    drop(f);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn lock_arc_blocking_timeout() {
    let m = Arc::new(Mutex::new(3));
    let g = m.lock_arc_blocking();
    let t = {
        let m = m.clone();
        thread::spawn(move || {
            m.lock_arc_blocking_timeout(Duration::from_millis(10))
                .is_none()
        })
    };
    assert!(join_within(t, LIMIT));
    assert!(m.try_lock_arc().is_none());
    drop(g);
    let g = m
        .lock_arc_blocking_timeout(Duration::from_millis(10))
        .unwrap();
    assert_eq!(*g, 3);
    assert!(Arc::ptr_eq(MutexGuardArc::source(&g), &m));
}

// ---------------------------------------------------------------------------------------
// Threads and tasks on one lock
// ---------------------------------------------------------------------------------------

#[test]
fn threads_and_tokio_tasks_exact_count() {
    const THREADS: u64 = 4;
    const THREAD_ITERS: u64 = 10_000;
    const TASKS: u64 = 16;
    const TASK_ITERS: u64 = 2_000;
    let m = Arc::new(Mutex::new(0u64));

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..THREAD_ITERS {
                    let mut g = m.lock_blocking();
                    let v = black_box(*g);
                    *g = black_box(v + 1);
                }
            })
        })
        .collect();

    let m2 = m.clone();
    run_mt(2, async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let m = m2.clone();
                tokio::spawn(async move {
                    for i in 0..TASK_ITERS {
                        let mut g = m.lock().await;
                        let v = black_box(*g);
                        if (i + t) % 64 == 0 {
                            // Hold the lock across a suspension point now and then.
                            tokio::task::yield_now().await;
                        }
                        *g = black_box(v + 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        join_within(t, LIMIT);
    }
    assert!(!m.is_locked());
    assert_eq!(
        *m.lock_blocking(),
        THREADS * THREAD_ITERS + TASKS * TASK_ITERS
    );
}

#[test]
fn futures_lite_block_on_and_threads_exact_count() {
    // A non-tokio executor on its own threads shares the lock with blocking threads.
    const N: u64 = 5_000;
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let m = m.clone();
            thread::spawn(move || {
                if i % 2 == 0 {
                    for _ in 0..N {
                        let mut g = m.lock_blocking();
                        let v = black_box(*g);
                        *g = v + 1;
                    }
                } else {
                    futures_lite::future::block_on(async {
                        for _ in 0..N {
                            let mut g = m.lock().await;
                            let v = black_box(*g);
                            futures_lite::future::yield_now().await;
                            *g = v + 1;
                        }
                    });
                }
            })
        })
        .collect();
    for h in hs {
        join_within(h, LIMIT);
    }
    assert_eq!(*m.lock_blocking(), 4 * N);
}

#[test]
fn tasks_on_current_thread_runtime_are_fifo() {
    // One thread, many tasks: the order they queue in is the order they get the lock.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let order = rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let m = Arc::new(Mutex::new(Vec::new()));
            let g = m.lock().await;
            let mut hs = Vec::new();
            for i in 0..20 {
                let m = m.clone();
                hs.push(tokio::spawn(async move {
                    m.lock().await.push(i);
                }));
                // Let task `i` run until it queues before spawning the next one.
                tokio::task::yield_now().await;
            }
            drop(g);
            for h in hs {
                h.await.unwrap();
            }
            let v = m.lock().await.clone();
            v
        })
        .await
        .expect("timed out")
    });
    assert_eq!(order, (0..20).collect::<Vec<_>>());
}

#[test]
fn cancelled_async_waits_under_contention_lose_nothing() {
    // Tasks that give up (timeout) while threads hammer the lock: nothing is leaked,
    // the count stays exact and the lock ends up free.
    const N: u64 = 3_000;
    let m = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..N {
                    let mut g = m.lock_blocking();
                    *g += 1;
                }
            })
        })
        .collect();
    let m2 = m.clone();
    let done2 = done.clone();
    run_mt(2, async move {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let m = m2.clone();
                let done = done2.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        // Either completes or is dropped mid-wait.
                        let r = tokio::time::timeout(Duration::from_micros(50), m.lock()).await;
                        if let Ok(mut g) = r {
                            *g += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    for t in threads {
        join_within(t, LIMIT);
    }
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
    assert_eq!(*m.lock_blocking(), 2 * N + done.load(Ordering::Relaxed));
}

// ---------------------------------------------------------------------------------------
// Fairness between threads
// ---------------------------------------------------------------------------------------

/// Starts two threads that lock in a tight loop until `stop`, and returns once each of
/// them has taken the lock many times (so both are contending, not just starting up).
fn hammer(m: &Arc<Mutex<u64>>, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<u64>> {
    let progress: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let hs = (0..2)
        .map(|i| {
            let (m, stop, progress) = (m.clone(), stop.clone(), progress.clone());
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut g = m.lock_blocking();
                    *g = black_box(*g + 1);
                    drop(g);
                    n += 1;
                    progress[i].store(n, Ordering::Relaxed);
                }
                n
            })
        })
        .collect();
    // Bounded: each hammer must get the lock 1000 times while the other one hammers too.
    let deadline = Instant::now() + LIMIT;
    while progress.iter().any(|p| p.load(Ordering::Relaxed) < 1_000) {
        assert!(
            Instant::now() < deadline,
            "a hammer thread starved: {:?}",
            progress
        );
        thread::yield_now();
    }
    hs
}

#[test]
fn blocking_waiter_not_starved_by_two_hammering_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers = hammer(&m, &stop);

    let (tx, rx) = mpsc::channel();
    let third = {
        let m = m.clone();
        thread::spawn(move || {
            for _ in 0..50 {
                let t0 = Instant::now();
                let mut g = m.lock_blocking();
                *g += 1;
                drop(g);
                if tx.send(t0.elapsed()).is_err() {
                    return;
                }
            }
        })
    };
    let mut worst = Duration::ZERO;
    for i in 0..50 {
        let waited = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("third thread starved at acquisition {i}"));
        worst = worst.max(waited);
    }
    stop.store(true, Ordering::Relaxed);
    join_within(third, LIMIT);
    let counts: Vec<u64> = hammers.into_iter().map(|h| join_within(h, LIMIT)).collect();
    assert_eq!(*m.lock_blocking(), counts.iter().sum::<u64>() + 50);
    eprintln!("worst wait of the third thread: {worst:?}");
}

#[test]
fn async_waiter_not_starved_by_two_hammering_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers = hammer(&m, &stop);
    let m2 = m.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(async move {
        for _ in 0..50 {
            match tokio::time::timeout(Duration::from_secs(5), m2.lock()).await {
                Ok(mut g) => *g += 1,
                Err(_) => return false,
            }
        }
        true
    });
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = hammers.into_iter().map(|h| join_within(h, LIMIT)).collect();
    assert!(ok, "async waiter starved");
    assert_eq!(*m.lock_blocking(), counts.iter().sum::<u64>() + 50);
}

// ---------------------------------------------------------------------------------------
// Owned guards and the rest of the API
// ---------------------------------------------------------------------------------------

#[test]
fn lock_arc_blocking_guard_moves_into_thread() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let mut g = m.lock_arc_blocking();
    g.push(1);
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        g.push(2);
        // Still held while the thread owns the guard.
        rx.recv_timeout(LIMIT).unwrap();
        drop(g);
    });
    assert!(m.is_locked());
    assert!(m.try_lock().is_none());
    tx.send(()).unwrap();
    join_within(t, LIMIT);
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), vec![1, 2]);
}

#[test]
fn lock_arc_guard_moves_into_spawned_task() {
    let m = Arc::new(Mutex::new(0u32));
    let m2 = m.clone();
    run_mt(2, async move {
        let mut g = m2.lock_arc().await;
        *g += 1;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rx.await.unwrap();
            *g += 1;
            drop(g);
        });
        assert!(m2.try_lock().is_none());
        tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(*m2.lock().await, 2);
        // An owned guard also moves from a task to a thread.
        let g = m2.lock_arc().await;
        tokio::task::spawn_blocking(move || drop(g)).await.unwrap();
        assert!(!m2.is_locked());
    });
    assert_eq!(Arc::try_unwrap(m).unwrap().into_inner(), 2);
}

#[test]
fn try_lock_arc_and_source() {
    let m = Arc::new(Mutex::new(5));
    let g = m.try_lock_arc().unwrap();
    assert!(m.try_lock_arc().is_none());
    assert!(Arc::ptr_eq(MutexGuardArc::source(&g), &m));
    assert_eq!(format!("{g:?}"), "5");
    drop(g);
    assert!(m.try_lock_arc().is_some());
}

#[test]
fn get_mut_into_inner_is_locked_try_lock() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().push('b');
    assert!(!m.is_locked());
    {
        let mut g = m.try_lock().unwrap();
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        g.push('c');
        assert!(std::ptr::eq(aiosync::MutexGuard::source(&g), &m));
    }
    assert!(!m.is_locked());
    assert_eq!(m.into_inner(), "abc");

    let m: Mutex<u8> = Mutex::default();
    assert_eq!(*m.lock_blocking(), 0);
    let m = Mutex::from(9u8);
    assert_eq!(m.into_inner(), 9);
}

#[test]
fn unsized_mutex() {
    let m: Arc<Mutex<[u32]>> = Arc::new(Mutex::new([1, 2, 3]));
    m.lock_blocking()[1] = 5;
    assert_eq!(&*m.try_lock().unwrap(), &[1, 5, 3]);
}

#[test]
fn debug_output_locked_and_unlocked() {
    let m = Mutex::new(42);
    assert_eq!(format!("{m:?}"), "Mutex { value: 42 }");
    let g = m.lock_blocking();
    assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
    assert_eq!(format!("{g:?}"), "42");
    assert_eq!(format!("{g}"), "42");
    drop(g);
    // Debug does not leave the lock held.
    assert!(!m.is_locked());
    let f = m.lock();
    assert!(format!("{f:?}").starts_with("Lock"));
    drop(f);
    let a = Arc::new(Mutex::new(1));
    assert!(format!("{:?}", a.lock_arc()).starts_with("LockArc"));
    assert!(!a.is_locked());
}

#[test]
fn send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Mutex<u32>>();
    sync::<Mutex<u32>>();
    sync::<Mutex<std::cell::Cell<u32>>>(); // Send is enough for Sync, as std's Mutex
    send::<aiosync::MutexGuard<'static, u32>>();
    send::<MutexGuardArc<u32>>();
    send::<aiosync::Lock<'static, u32>>();
    send::<aiosync::LockArc<u32>>();
}
