//! `Semaphore` deterministic poll tests: FIFO (multi-permit) acquires, wake-ups, cancel-safe handoff of gathered permits.

mod common;

use aiosync::Semaphore;
use common::*;
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::Duration;

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
