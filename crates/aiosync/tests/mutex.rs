//! Integration tests for `aiosync::Mutex`: deterministic poll tests of the FIFO queue and
//! its cancel-safe handoff. Timeouts, owned guards and the rest of the API:
//! `mutex_timeouts_api.rs`; threads and tokio tasks on one lock and fairness:
//! `mutex_threads_tasks.rs`.

mod common;

use aiosync::{Mutex, MutexGuardArc};
use common::*;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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
