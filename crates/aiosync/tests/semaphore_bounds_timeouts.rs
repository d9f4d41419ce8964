//! `Semaphore` bounds, `forget`, `try_*`, and blocking timeouts.

mod common;

use aiosync::{PermitOverflowError, Semaphore, MAX_PERMITS};
use common::*;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

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
