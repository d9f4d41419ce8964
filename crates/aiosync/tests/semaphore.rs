//! Integration tests for `aiosync::Semaphore`: FIFO multi-permit acquires, cancel-safe
//! handoff of (partly) gathered permits, bounds, timeouts, and a limiter shared by OS
//! threads and tokio tasks.

mod common;

use aiosync::{PermitOverflowError, Semaphore, MAX_PERMITS};
use common::*;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Deterministic poll tests
// ---------------------------------------------------------------------------------------

#[test]
fn single_permit_waiters_fifo_on_one_thread() {
    const N: usize = 5;
    let sem = Semaphore::new(1);
    let g = sem.try_acquire().unwrap();
    let mut futs: Vec<Option<Pin<Box<_>>>> =
        (0..N).map(|_| Some(Box::pin(sem.acquire()))).collect();
    let wk: Vec<_> = (0..N).map(|_| counting_waker()).collect();
    for (f, (_, w)) in futs.iter_mut().zip(&wk) {
        pending(f.as_mut().unwrap().as_mut(), w);
    }
    drop(g);
    for i in 0..N {
        assert!(wakes(&wk[i].0) >= 1, "waiter {i} not woken");
        for (j, (c, _)) in wk.iter().enumerate().skip(i + 1) {
            assert_eq!(wakes(c), 0, "waiter {j} woken out of turn");
        }
        for j in (i + 1..N).rev() {
            pending(futs[j].as_mut().unwrap().as_mut(), &wk[j].1);
        }
        // A newcomer on this thread queues behind everyone.
        assert!(sem.try_acquire().is_none());
        let mut newcomer = pin!(sem.acquire());
        pending(newcomer.as_mut(), &wk[i].1);
        let mut f = futs[i].take().unwrap();
        let g = ready(f.as_mut(), &wk[i].1);
        assert_eq!(g.permits(), 1);
        drop(f);
        drop(g);
    }
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn acquire_many_is_not_starved_by_later_small_acquires() {
    let sem = Semaphore::new(3);
    let g2 = sem.try_acquire_many(2).unwrap();
    let g1 = sem.try_acquire().unwrap();
    assert_eq!(sem.available_permits(), 0);

    let (cbig, wbig) = counting_waker();
    let (csmall, wsmall) = counting_waker();
    let (cnew, wnew) = counting_waker();
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    pending(big.as_mut(), &wbig);
    pending(small.as_mut(), &wsmall);

    // One permit back: enough for `small`, not for `big`, which is first in line.
    drop(g1);
    assert_eq!(
        wakes(&csmall),
        0,
        "small acquire woken ahead of the big one"
    );
    pending(small.as_mut(), &wsmall);
    assert!(
        sem.try_acquire().is_none(),
        "try_acquire overtook a queued waiter"
    );
    let mut newcomer = Box::pin(sem.acquire());
    pending(newcomer.as_mut(), &wnew);
    pending(big.as_mut(), &wbig);

    // All three back: `big` goes first.
    drop(g2);
    assert!(wakes(&cbig) >= 1, "big acquire not woken");
    assert_eq!(wakes(&csmall), 0);
    assert_eq!(wakes(&cnew), 0);
    pending(newcomer.as_mut(), &wnew);
    pending(small.as_mut(), &wsmall);
    let gbig = ready(big.as_mut(), &wbig);
    assert_eq!(gbig.permits(), 3);
    assert_eq!(sem.available_permits(), 0);
    pending(small.as_mut(), &wsmall);

    drop(gbig);
    assert!(wakes(&csmall) >= 1);
    assert!(wakes(&cnew) >= 1);
    let a = ready(small.as_mut(), &wsmall);
    let b = ready(newcomer.as_mut(), &wnew);
    assert_eq!(sem.available_permits(), 1);
    drop((a, b));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn acquire_many_order_among_many_sizes() {
    // Queue sizes 2, 1, 3, 1 on one thread; grant permits one at a time and check each
    // waiter completes strictly in queue order.
    let sem = Semaphore::new(0);
    let sizes = [2usize, 1, 3, 1];
    let mut futs: Vec<Option<Pin<Box<_>>>> = sizes
        .iter()
        .map(|&n| Some(Box::pin(sem.acquire_many(n))))
        .collect();
    let (_, w) = counting_waker();
    for f in &mut futs {
        pending(f.as_mut().unwrap().as_mut(), &w);
    }
    let mut done = Vec::new();
    let mut guards = Vec::new();
    for _ in 0..sizes.iter().sum::<usize>() {
        sem.add_permits(1).unwrap();
        for (i, slot) in futs.iter_mut().enumerate().rev() {
            if let Some(f) = slot {
                if let Poll::Ready(g) = poll(f.as_mut(), &w) {
                    assert_eq!(g.permits(), sizes[i]);
                    guards.push(g);
                    done.push(i);
                    *slot = None;
                }
            }
        }
    }
    assert_eq!(done, vec![0, 1, 2, 3]);
    assert_eq!(sem.available_permits(), 0);
    drop(guards);
    assert_eq!(sem.available_permits(), 7);
}

#[test]
fn add_permits_wakes_waiters() {
    let sem = Semaphore::new(0);
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = pin!(sem.acquire());
    let mut b = pin!(sem.acquire_many(2));
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    sem.add_permits(1).unwrap();
    assert_eq!(wakes(&ca), 1);
    assert_eq!(wakes(&cb), 0);
    let ga = ready(a.as_mut(), &wa);
    sem.add_permits(1).unwrap();
    assert_eq!(wakes(&cb), 0, "woken with one of two permits");
    pending(b.as_mut(), &wb);
    sem.add_permits(1).unwrap();
    assert_eq!(wakes(&cb), 1);
    let gb = ready(b.as_mut(), &wb);
    assert_eq!(gb.permits(), 2);
    assert_eq!(sem.available_permits(), 0);
    drop((ga, gb));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn add_permits_wakes_blocked_thread() {
    let sem = Arc::new(Semaphore::new(0));
    let (tx, rx) = mpsc::channel();
    let t = {
        let sem = sem.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            let g = sem.acquire_many_blocking(2);
            g.permits()
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    sem.add_permits(1).unwrap();
    sem.add_permits(1).unwrap();
    assert_eq!(join_within(t, LIMIT), 2);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn woken_acquire_dropped_passes_permits_on() {
    let sem = Semaphore::new(1);
    let g = sem.try_acquire().unwrap();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(sem.acquire());
    let mut b = Box::pin(sem.acquire());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    drop(g);
    assert_eq!(wakes(&ca), 1);
    drop(a);
    assert_eq!(wakes(&cb), 1, "next waiter not woken");
    let gb = ready(b.as_mut(), &wb);
    drop(gb);
    drop(b);
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn handed_over_acquire_dropped_passes_permits_on() {
    let sem = Semaphore::new(2);
    let g1 = sem.try_acquire().unwrap();
    let g2 = sem.try_acquire().unwrap();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(sem.acquire_many(2));
    let mut b = Box::pin(sem.acquire());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    // One permit back is too few for the head: it is passed over and its clock starts.
    drop(g1);
    assert_eq!(wakes(&ca), 0);
    assert_eq!(wakes(&cb), 0, "a later acquire was woken ahead of the head");
    // Past the ~0.5 ms fairness timeout: the next release hands permits over directly.
    thread::sleep(Duration::from_millis(5));
    drop(g2);
    assert_eq!(wakes(&ca), 1);
    assert_eq!(
        sem.available_permits(),
        0,
        "permits not handed to the starving head"
    );
    assert_eq!(wakes(&cb), 0);
    drop(a);
    assert_eq!(
        wakes(&cb),
        1,
        "permits handed to a dropped waiter were not passed on"
    );
    let gb = ready(b.as_mut(), &wb);
    drop(gb);
    drop(b);
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.try_acquire_many(2).is_some());
}

#[test]
fn cancelled_acquire_many_returns_partially_gathered_permits() {
    let sem = Semaphore::new(3);
    let ga = sem.try_acquire().unwrap();
    let gb = sem.try_acquire().unwrap();
    let gc = sem.try_acquire().unwrap();
    let (cbig, wbig) = counting_waker();
    let (csmall, wsmall) = counting_waker();
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    pending(big.as_mut(), &wbig);
    pending(small.as_mut(), &wsmall);
    // A release too small for the head starts its fairness clock...
    drop(ga);
    assert_eq!(sem.available_permits(), 1);
    // ...and once it starves, releases hand it permits one by one.
    thread::sleep(Duration::from_millis(5));
    drop(gb);
    assert_eq!(
        sem.available_permits(),
        0,
        "the starving head should have gathered the 2 free permits"
    );
    assert_eq!(wakes(&cbig), 0, "woken with 2 of 3 permits");
    assert_eq!(wakes(&csmall), 0);
    pending(big.as_mut(), &wbig);
    pending(small.as_mut(), &wsmall);

    drop(big); // gives back the 2 it had gathered
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(wakes(&csmall), 1, "gathered permits not passed on");
    let gs = ready(small.as_mut(), &wsmall);
    assert_eq!(sem.available_permits(), 1);
    drop(gs);
    drop(gc);
    drop(small);
    assert_eq!(sem.available_permits(), 3);
    assert!(sem.try_acquire_many(3).is_some());
}

/// Dropping a queued `acquire_many` that was waiting for more permits than are free must
/// let the waiters behind it use the free permits.
#[test]
fn cancelled_waiting_acquire_many_wakes_next_waiter() {
    let sem = Semaphore::new(3);
    let g2 = sem.try_acquire_many(2).unwrap();
    let _g1 = sem.try_acquire().unwrap();
    let (_, wbig) = counting_waker();
    let (csmall, wsmall) = counting_waker();
    let mut big = Box::pin(sem.acquire_many(3));
    let mut small = Box::pin(sem.acquire());
    pending(big.as_mut(), &wbig);
    pending(small.as_mut(), &wsmall);
    drop(g2); // 2 free; `big` (needs 3) is first, so `small` waits: correct so far
    assert_eq!(wakes(&csmall), 0);
    drop(big); // `small` is now first in line and 2 permits are free
    assert_eq!(
        wakes(&csmall),
        1,
        "waiter behind a cancelled acquire_many never woken (available: {})",
        sem.available_permits()
    );
    let _gs = ready(small.as_mut(), &wsmall);
}

/// The same bug seen from the outside: a task blocked behind a cancelled acquire_many
/// hangs with free permits.
#[test]
fn cancelled_acquire_many_timeout_does_not_strand_task() {
    let sem = Arc::new(Semaphore::new(3));
    let g2 = sem.try_acquire_many(2).unwrap();
    let _g1 = sem.try_acquire().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sem2 = sem.clone();
    let r = rt.block_on(async move {
        let big = {
            let sem = sem2.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_millis(50), sem.acquire_many(3))
                    .await
                    .is_err()
            })
        };
        tokio::task::yield_now().await; // `big` queues first
        let small = {
            let sem = sem2.clone();
            tokio::spawn(async move { sem.acquire().await.permits() })
        };
        tokio::task::yield_now().await; // then `small`
        drop(g2); // 2 free: not enough for `big`
        assert!(big.await.unwrap(), "big acquire should time out");
        tokio::time::timeout(Duration::from_secs(2), small).await
    });
    assert_eq!(
        r.expect("small acquire stranded behind a cancelled acquire_many")
            .unwrap(),
        1
    );
}

#[test]
fn pending_acquire_dropped_is_skipped() {
    let sem = Semaphore::new(1);
    let g = sem.try_acquire().unwrap();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(sem.acquire());
    let mut b = Box::pin(sem.acquire());
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    drop(a);
    drop(g);
    assert_eq!(wakes(&ca), 0);
    assert_eq!(wakes(&cb), 1);
    let gb = ready(b.as_mut(), &wb);
    drop(gb);
    drop(b);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn acquire_arc_pending_dropped_passes_permit_on() {
    let sem = Arc::new(Semaphore::new(1));
    let g = sem.acquire_arc_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let mut a = Box::pin(sem.acquire_arc());
    let mut b = Box::pin(sem.acquire_many_arc(1));
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    drop(g);
    assert_eq!(wakes(&ca), 1);
    drop(a);
    assert_eq!(wakes(&cb), 1);
    let gb = ready(b.as_mut(), &wb);
    assert_eq!(gb.permits(), 1);
    drop(b); // completed: must not release anything
    assert_eq!(sem.available_permits(), 0);
    drop(gb);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(Arc::strong_count(&sem), 1);
}

// ---------------------------------------------------------------------------------------
// Bounds, forget, try_*
// ---------------------------------------------------------------------------------------

#[test]
fn bounded_over_release_is_an_error() {
    let sem = Semaphore::bounded(2);
    assert_eq!(sem.bound(), Some(2));
    assert_eq!(sem.add_permits(1), Err(PermitOverflowError { bound: 2 }));
    assert_eq!(sem.available_permits(), 2);

    // Permits held by a guard still count toward the bound.
    let g = sem.acquire_blocking();
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.add_permits(1), Err(PermitOverflowError { bound: 2 }));
    assert_eq!(
        sem.available_permits(),
        1,
        "a refused add_permits added permits"
    );
    drop(g);
    assert_eq!(sem.available_permits(), 2);

    // Forgotten permits make room.
    sem.acquire_blocking().forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(1).unwrap();
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.add_permits(1).is_err());
    sem.add_permits(0).unwrap();

    let e = PermitOverflowError { bound: 2 };
    assert!(e.to_string().contains('2'));
    let _: &dyn std::error::Error = &e;
}

#[test]
fn bounded_over_release_with_forgotten_many() {
    let sem = Semaphore::bounded(5);
    sem.try_acquire_many(3).unwrap().forget();
    let held = sem.try_acquire_many(2).unwrap();
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.add_permits(4).is_err());
    sem.add_permits(3).unwrap();
    assert!(sem.add_permits(1).is_err());
    drop(held);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn unbounded_add_permits_limit() {
    let sem = Semaphore::new(0);
    assert_eq!(sem.bound(), None);
    sem.add_permits(MAX_PERMITS).unwrap();
    assert!(sem.add_permits(1).is_err());
    assert!(sem.add_permits(usize::MAX).is_err());
    assert_eq!(sem.available_permits(), MAX_PERMITS);
}

#[test]
#[should_panic]
fn new_with_too_many_permits_panics() {
    let _ = Semaphore::new(MAX_PERMITS + 1);
}

#[test]
fn forget_keeps_permits_out() {
    let sem = Semaphore::new(3);
    let g = sem.acquire_many_blocking(2);
    assert_eq!(g.permits(), 2);
    g.forget();
    assert_eq!(sem.available_permits(), 1);
    let arc = Arc::new(Semaphore::new(2));
    arc.try_acquire_arc().unwrap().forget();
    assert_eq!(arc.available_permits(), 1);
    drop(arc.try_acquire_arc().unwrap());
    assert_eq!(arc.available_permits(), 1);
}

#[test]
fn try_acquire_many() {
    let sem = Semaphore::new(3);
    assert!(sem.try_acquire_many(4).is_none());
    let g = sem.try_acquire_many(2).unwrap();
    assert_eq!(g.permits(), 2);
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire_many(2).is_none());
    let g1 = sem.try_acquire_many(1).unwrap();
    assert!(sem.try_acquire().is_none());
    drop((g, g1));
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.try_acquire_many(3).unwrap().permits(), 3);
}

#[test]
fn try_acquire_fails_while_someone_is_queued() {
    let sem = Semaphore::new(3);
    let g = sem.try_acquire_many(3).unwrap();
    let (_, w) = counting_waker();
    let mut big = pin!(sem.acquire_many(3));
    pending(big.as_mut(), &w);
    drop(g);
    // Permits are free (or handed to `big`), but `big` is queued: no overtaking.
    assert!(sem.try_acquire().is_none());
    assert!(sem.try_acquire_many(2).is_none());
    let gb = ready(big.as_mut(), &w);
    assert_eq!(gb.permits(), 3);
}

#[test]
#[should_panic]
fn acquire_many_beyond_bound_panics() {
    let sem = Semaphore::bounded(2);
    drop(sem.acquire_many(3));
}

#[test]
#[should_panic]
fn acquire_many_blocking_beyond_bound_panics() {
    let sem = Semaphore::bounded(2);
    let _ = sem.acquire_many_blocking(3);
}

#[test]
#[should_panic]
fn acquire_many_arc_beyond_bound_panics() {
    let sem = Arc::new(Semaphore::bounded(1));
    drop(sem.acquire_many_arc(2));
}

#[test]
#[should_panic]
fn acquire_many_blocking_timeout_beyond_bound_panics() {
    let sem = Semaphore::bounded(1);
    let _ = sem.acquire_many_blocking_timeout(2, Duration::from_millis(1));
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

#[test]
fn acquire_blocking_timeout_none_when_held_some_when_free() {
    let sem = Arc::new(Semaphore::new(1));
    let (held_tx, held_rx) = mpsc::channel();
    let (rel_tx, rel_rx) = mpsc::channel::<()>();
    let holder = {
        let sem = sem.clone();
        thread::spawn(move || {
            let g = sem.acquire_blocking();
            held_tx.send(()).unwrap();
            let _ = rel_rx.recv_timeout(LIMIT);
            drop(g);
        })
    };
    held_rx.recv_timeout(LIMIT).unwrap();
    let t0 = Instant::now();
    assert!(sem
        .acquire_blocking_timeout(Duration::from_millis(30))
        .is_none());
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(sem.available_permits(), 0);
    rel_tx.send(()).unwrap();
    join_within(holder, LIMIT);
    assert_eq!(sem.available_permits(), 1, "timed-out waiter left a trace");
    let g = sem
        .acquire_blocking_timeout(Duration::from_millis(30))
        .unwrap();
    assert_eq!(g.permits(), 1);
    drop(g);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn acquire_many_blocking_timeout_leaves_no_trace() {
    let sem = Semaphore::new(3);
    let g = sem.try_acquire_many(2).unwrap();
    // 1 free, 2 wanted: times out, takes nothing.
    assert!(sem
        .acquire_many_blocking_timeout(2, Duration::from_millis(10))
        .is_none());
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_some_and(|g| g.permits() == 1));
    drop(g);
    let g = sem
        .acquire_many_blocking_timeout(3, Duration::from_millis(10))
        .unwrap();
    assert_eq!(g.permits(), 3);
    drop(g);
    assert!(sem.acquire_blocking_timeout(Duration::MAX).is_some());
}

#[test]
fn timed_out_starving_acquire_many_returns_gathered_permits() {
    // A blocking acquire_many(4) starves and is handed 3 permits, then times out: it must
    // give all 3 back.
    let sem = Arc::new(Semaphore::new(4));
    let ga = sem.try_acquire().unwrap();
    let gb = sem.try_acquire().unwrap();
    let gc = sem.try_acquire().unwrap();
    let t = {
        let sem = sem.clone();
        thread::spawn(move || {
            sem.acquire_many_blocking_timeout(4, Duration::from_millis(500))
                .is_none()
        })
    };
    // Wait (bounded) until the thread is queued: then the free permit can't be taken.
    let deadline = Instant::now() + LIMIT;
    while let Some(g) = sem.try_acquire() {
        drop(g);
        assert!(Instant::now() < deadline, "waiter never queued");
        thread::yield_now();
    }
    assert_eq!(sem.available_permits(), 1);
    drop(ga); // 2 free, too few: the head is passed over, its clock starts
    thread::sleep(Duration::from_millis(5));
    drop(gb); // the head starves: it is handed all 3 free permits
    assert_eq!(
        sem.available_permits(),
        0,
        "permits not handed to the starving head"
    );
    assert!(join_within(t, LIMIT), "should have timed out");
    assert_eq!(sem.available_permits(), 3, "gathered permits lost");
    drop(gc);
    assert_eq!(sem.available_permits(), 4);
    assert!(sem.try_acquire_many(4).is_some());
}

#[test]
fn other_thread_cannot_barge_past_a_head_the_free_permits_do_not_cover() {
    let sem = Semaphore::new(3);
    let g2 = sem.try_acquire_many(2).unwrap();
    let g1 = sem.try_acquire().unwrap();
    let (cbig, wbig) = counting_waker();
    let mut big = pin!(sem.acquire_many(3));
    pending(big.as_mut(), &wbig);
    drop(g1); // 1 free, `big` needs 3
    let barged = thread::scope(|s| {
        s.spawn(|| {
            sem.acquire_blocking_timeout(Duration::from_millis(20))
                .is_some()
        })
        .join()
        .unwrap()
    });
    assert!(
        !barged,
        "a thread took a permit the queued acquire_many needs"
    );
    // The free permit either stayed free or (the head having waited past the fairness
    // timeout when the thread gave up) was handed to the head: never to the thread.
    assert!(sem.available_permits() <= 1);
    drop(g2);
    assert_eq!(wakes(&cbig), 1);
    let g = ready(big.as_mut(), &wbig);
    assert_eq!(g.permits(), 3);
}

// ---------------------------------------------------------------------------------------
// Threads and tasks sharing a limiter
// ---------------------------------------------------------------------------------------

#[test]
fn limiter_shared_by_threads_and_tasks_never_exceeds_permits() {
    const PERMITS: usize = 3;
    const THREADS: usize = 4;
    const THREAD_ITERS: usize = 10_000;
    const TASKS: usize = 16;
    const TASK_ITERS: usize = 1_500;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let in_use = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));

    let enter = {
        let (in_use, max_seen, total) = (in_use.clone(), max_seen.clone(), total.clone());
        move |n: usize| {
            let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
            assert!(now <= PERMITS, "{now} permits in use, limit {PERMITS}");
            max_seen.fetch_max(now, Ordering::Relaxed);
            total.fetch_add(1, Ordering::Relaxed);
            std::hint::black_box(now);
            in_use.fetch_sub(n, Ordering::SeqCst);
        }
    };

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sem = sem.clone();
            let enter = enter.clone();
            thread::spawn(move || {
                for i in 0..THREAD_ITERS {
                    let n = if (i + t) % 7 == 0 { 2 } else { 1 };
                    let g = sem.acquire_many_blocking(n);
                    assert_eq!(g.permits(), n);
                    enter(n);
                    drop(g);
                }
            })
        })
        .collect();

    let sem2 = sem.clone();
    let enter2 = enter.clone();
    run_mt(2, async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let sem = sem2.clone();
                let enter = enter2.clone();
                tokio::spawn(async move {
                    for i in 0..TASK_ITERS {
                        let n = if (i + t) % 5 == 0 { PERMITS } else { 1 };
                        if i % 2 == 0 {
                            let g = sem.acquire_many(n).await;
                            assert_eq!(g.permits(), n);
                            enter(n);
                        } else {
                            let g = sem.acquire_many_arc(n).await;
                            assert_eq!(g.permits(), n);
                            // Hold the permits across a suspension point.
                            tokio::task::yield_now().await;
                            enter(n);
                        }
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
    assert_eq!(in_use.load(Ordering::SeqCst), 0);
    assert!(max_seen.load(Ordering::Relaxed) <= PERMITS);
    assert_eq!(
        total.load(Ordering::Relaxed),
        THREADS * THREAD_ITERS + TASKS * TASK_ITERS
    );
    assert_eq!(sem.available_permits(), PERMITS);
    assert!(sem.try_acquire_many(PERMITS).is_some());
}

#[test]
fn limiter_guards_count_holders_exactly() {
    // Same as above, but every holder (thread or task) increments the holder count while
    // it holds its permit, and tasks keep holding across awaits.
    const PERMITS: usize = 2;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let holders = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (sem, holders) = (sem.clone(), holders.clone());
            thread::spawn(move || {
                for _ in 0..10_000 {
                    let _g = sem.acquire_blocking();
                    let h = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(h <= PERMITS, "{h} holders");
                    std::hint::black_box(h);
                    holders.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let (sem2, holders2) = (sem.clone(), holders.clone());
    run_mt(2, async move {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (sem, holders) = (sem2.clone(), holders2.clone());
                tokio::spawn(async move {
                    for _ in 0..2_000 {
                        let _g = sem.acquire().await;
                        let h = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(h <= PERMITS, "{h} holders");
                        tokio::task::yield_now().await;
                        holders.fetch_sub(1, Ordering::SeqCst);
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
    assert_eq!(sem.available_permits(), PERMITS);
}

#[test]
fn blocking_acquire_many_not_starved_by_single_permit_threads() {
    // Two threads take and return single permits in a tight loop; a third asks for all
    // permits at once and must still get them.
    let sem = Arc::new(Semaphore::new(2));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let (sem, stop, progress) = (sem.clone(), stop.clone(), progress.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = sem.acquire_blocking();
                    std::hint::black_box(&g);
                    drop(g);
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    while progress.load(Ordering::Relaxed) < 10_000 {
        assert!(Instant::now() < deadline, "no progress");
        thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    let big = {
        let sem = sem.clone();
        thread::spawn(move || {
            for _ in 0..20 {
                let g = sem.acquire_many_blocking(2);
                assert_eq!(g.permits(), 2);
                drop(g);
                if tx.send(()).is_err() {
                    return;
                }
            }
        })
    };
    for i in 0..20 {
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("acquire_many(2) starved at round {i}"));
    }
    stop.store(true, Ordering::Relaxed);
    join_within(big, LIMIT);
    for h in hammers {
        join_within(h, LIMIT);
    }
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn owned_guards_move_into_threads_and_tasks() {
    let sem = Arc::new(Semaphore::new(2));
    let g = sem.acquire_arc_blocking();
    assert_eq!(g.permits(), 1);
    let t = thread::spawn(move || drop(g));
    join_within(t, LIMIT);
    assert_eq!(sem.available_permits(), 2);

    let sem2 = sem.clone();
    run_mt(2, async move {
        let g = sem2.acquire_many_arc(2).await;
        assert_eq!(sem2.available_permits(), 0);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rx.await.unwrap();
            drop(g);
        });
        assert!(sem2.try_acquire_arc().is_none());
        tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(sem2.available_permits(), 2);
        let g = sem2.acquire_arc().await;
        tokio::task::spawn_blocking(move || drop(g)).await.unwrap();
        assert_eq!(sem2.available_permits(), 2);
    });
}

#[test]
fn debug_output() {
    let sem = Semaphore::bounded(2);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 2, bound: Some(2) }"
    );
    let g = sem.try_acquire().unwrap();
    assert_eq!(format!("{g:?}"), "SemaphoreGuard { permits: 1 }");
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 1, bound: Some(2) }"
    );
    assert_eq!(
        format!("{:?}", Semaphore::new(0)),
        "Semaphore { available_permits: 0, bound: None }"
    );
    let f = sem.acquire();
    assert!(format!("{f:?}").starts_with("Acquire"));
    drop(f);
    let arc = Arc::new(Semaphore::new(1));
    let g = arc.try_acquire_arc().unwrap();
    assert_eq!(format!("{g:?}"), "SemaphoreGuardArc { permits: 1 }");
    drop(g);
    assert!(format!("{:?}", arc.acquire_arc()).starts_with("AcquireArc"));
    assert_eq!(arc.available_permits(), 1);
}

#[test]
fn send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Semaphore>();
    sync::<Semaphore>();
    send::<aiosync::SemaphoreGuard<'static>>();
    send::<aiosync::SemaphoreGuardArc>();
    send::<aiosync::Acquire<'static>>();
    send::<aiosync::AcquireArc>();
}
