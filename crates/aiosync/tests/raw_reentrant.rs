//! `aiosync::raw::RawReentrantLock`: levels, re-entry policy, release-all/relock, FIFO handoff between owners, exact counters.

mod common;

use aiosync::raw::{Holder, LockError, RawReentrantLock, Reentry};
use aiosync::{NotOwnerError, OwnerId};
use common::raw::*;
use common::*;
use std::sync::{mpsc, Arc};

// ---------------------------------------------------------------------------------------
// RawReentrantLock
// ---------------------------------------------------------------------------------------

#[test]
fn reentrant_levels_and_reentry_policy() {
    let lock = RawReentrantLock::new();
    let (a, b) = (task(), task());
    for level in 1..=3 {
        assert_eq!(lock.try_lock(&a, Reentry::Allow), Ok(true));
        assert_eq!(lock.levels_of(a.owner()), level);
    }
    assert_eq!(
        lock.try_lock(&a, Reentry::Refuse),
        Err(LockError::Reentered)
    );
    assert_eq!(
        lock.lock_blocking(&a, Reentry::Refuse, None, false),
        Err(LockError::Reentered)
    );
    assert_eq!(lock.levels_of(a.owner()), 3, "a refusal adds no level");
    assert!(lock.is_owned_by(a.owner()));

    // Another owner: neither gets in nor releases.
    assert_eq!(lock.try_lock(&b, Reentry::Allow), Ok(false));
    assert_eq!(lock.try_lock(&b, Reentry::Refuse), Ok(false));
    assert_eq!(lock.unlock(b.owner()), Err(NotOwnerError));
    assert_eq!(lock.release_all(b.owner()), Err(NotOwnerError));
    assert_eq!(lock.levels_of(b.owner()), 0);
    assert_eq!(
        lock.levels_of(a.owner()),
        3,
        "a refused release changes nothing"
    );

    lock.unlock(a.owner()).unwrap();
    lock.unlock(a.owner()).unwrap();
    assert!(lock.is_locked(), "one level left");
    assert_eq!(lock.try_lock(&b, Reentry::Allow), Ok(false));
    lock.unlock(a.owner()).unwrap();
    assert!(!lock.is_locked());
    assert_eq!(lock.unlock(a.owner()), Err(NotOwnerError));

    // Fresh acquires with `Refuse` are fine: only re-entry is refused.
    assert_eq!(lock.try_lock(&b, Reentry::Refuse), Ok(true));
    assert_eq!(lock.levels_of(b.owner()), 1);
    lock.unlock(b.owner()).unwrap();
}

#[test]
fn reentrant_async_reentry_policy() {
    let lock = RawReentrantLock::new();
    let a = task();
    let mut f = Hand::new(lock.lock(a, Reentry::Refuse));
    assert_eq!(f.ready(), Ok(()));
    let mut g = Hand::new(lock.lock(a, Reentry::Refuse));
    assert_eq!(g.ready(), Err(LockError::Reentered));
    let mut h = Hand::new(lock.lock(a, Reentry::Allow));
    assert_eq!(h.ready(), Ok(()));
    assert_eq!(lock.levels_of(a.owner()), 2);
    assert_eq!(lock.release_all(a.owner()), Ok(2));
}

#[test]
fn reentrant_release_all_returns_levels_and_unlocks() {
    let lock = RawReentrantLock::new();
    let (a, b) = (task(), task());
    for _ in 0..4 {
        lock.try_lock(&a, Reentry::Allow).unwrap();
    }
    assert_eq!(lock.release_all(a.owner()), Ok(4));
    assert!(!lock.is_locked());
    assert_eq!(lock.levels_of(a.owner()), 0);
    assert_eq!(lock.release_all(a.owner()), Err(NotOwnerError));
    assert_eq!(lock.try_lock(&b, Reentry::Refuse), Ok(true));
    assert_eq!(lock.release_all(b.owner()), Ok(1));
}

#[test]
fn reentrant_relock_blocking_waits_and_restores_levels() {
    let lock = Arc::new(RawReentrantLock::new());
    let me = Holder::thread();
    for _ in 0..3 {
        lock.try_lock(&me, Reentry::Allow).unwrap();
    }
    let levels = lock.release_all(me.owner()).unwrap();
    assert_eq!(levels, 3);

    // Another thread holds it meanwhile; the relock waits for it.
    let (tx, rx) = mpsc::channel();
    let l2 = lock.clone();
    let t = spawn_bounded(move || {
        let other = Holder::thread();
        assert_eq!(l2.try_lock(&other, Reentry::Refuse), Ok(true));
        tx.send(()).unwrap();
        wait_until("the relock queues", || l2.has_waiters());
        assert!(l2.is_owned_by(other.owner()), "the relock did not barge in");
        l2.unlock(other.owner()).unwrap();
    });
    rx.recv_timeout(LIMIT).unwrap();
    lock.relock_blocking(&me, levels);
    t.join();
    assert_eq!(lock.levels_of(me.owner()), 3);
    for _ in 0..3 {
        lock.unlock(me.owner()).unwrap();
    }
    assert!(!lock.is_locked());
}

#[test]
fn reentrant_relock_adds_to_levels_taken_meanwhile() {
    let lock = RawReentrantLock::new();
    let a = task();
    lock.try_lock(&a, Reentry::Allow).unwrap();
    lock.try_lock(&a, Reentry::Allow).unwrap();
    let saved = lock.release_all(a.owner()).unwrap();
    // The same owner takes it again before the relock (blocking form).
    lock.try_lock(&a, Reentry::Allow).unwrap();
    lock.relock_blocking(&a, saved);
    assert_eq!(lock.levels_of(a.owner()), 3);

    // The async form, likewise.
    let saved = lock.release_all(a.owner()).unwrap();
    assert_eq!(saved, 3);
    lock.try_lock(&a, Reentry::Allow).unwrap();
    let mut f = Hand::new(lock.relock(a, saved));
    assert_eq!(f.ready(), Ok(()));
    assert_eq!(lock.levels_of(a.owner()), 4);
    assert_eq!(lock.release_all(a.owner()), Ok(4));
    assert!(!lock.is_locked());
}

#[test]
fn reentrant_async_relock_waits_for_the_other_owner() {
    let lock = RawReentrantLock::new();
    let (a, b) = (task(), task());
    for _ in 0..2 {
        lock.try_lock(&a, Reentry::Allow).unwrap();
    }
    let saved = lock.release_all(a.owner()).unwrap();
    lock.try_lock(&b, Reentry::Allow).unwrap();
    let mut f = Hand::new(lock.relock(a, saved));
    f.pending();
    assert!(lock.is_owned_by(b.owner()));
    lock.unlock(b.owner()).unwrap();
    assert_eq!(f.wakes(), 1);
    assert_eq!(f.ready(), Ok(()));
    assert_eq!(lock.levels_of(a.owner()), 2);
    assert_eq!(lock.release_all(a.owner()), Ok(2));
}

#[test]
fn reentrant_blocking_refuses_only_a_hold_of_this_loop_thread() {
    let lock = Arc::new(RawReentrantLock::new());
    let t = task(); // a task of this thread's loop
    let me = Holder::thread();
    assert_eq!(
        lock.lock_blocking(&me, Reentry::Allow, None, true),
        Ok(true)
    );
    lock.unlock(me.owner()).unwrap();

    assert_eq!(lock.try_lock(&t, Reentry::Allow), Ok(true));
    assert_eq!(
        lock.lock_blocking(&me, Reentry::Allow, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert!(!lock.has_waiters());
    assert_eq!(
        lock.lock_blocking(&me, Reentry::Allow, Some(SHORT), false),
        Ok(false),
        "no loop runs: an ordinary timed wait"
    );
    // The owner itself re-enters without waiting, loop or not; a refusal is Reentered.
    assert_eq!(lock.lock_blocking(&t, Reentry::Allow, None, true), Ok(true));
    assert_eq!(
        lock.lock_blocking(&t, Reentry::Refuse, None, true),
        Err(LockError::Reentered)
    );
    assert_eq!(lock.levels_of(t.owner()), 2);
    // Another thread, with a loop of its own, just waits.
    let l2 = lock.clone();
    let r = spawn_bounded(move || {
        l2.lock_blocking(&Holder::thread(), Reentry::Allow, Some(SHORT), true)
    })
    .join();
    assert_eq!(r, Ok(false));
    assert_eq!(lock.release_all(t.owner()), Ok(2));
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
}

#[test]
fn reentrant_fifo_handoff_between_owners() {
    let lock = RawReentrantLock::new();
    let (a, b, c, d) = (task(), task(), task(), task());
    lock.try_lock(&a, Reentry::Allow).unwrap();
    lock.try_lock(&a, Reentry::Allow).unwrap();
    let mut fb = Hand::new(lock.lock(b, Reentry::Refuse));
    let mut fc = Hand::new(lock.lock(c, Reentry::Refuse));
    let mut fd = Hand::new(lock.lock(d, Reentry::Refuse));
    fb.pending();
    fc.pending();
    fd.pending();

    lock.unlock(a.owner()).unwrap();
    assert_eq!(fb.wakes(), 0, "one level left: still held");
    lock.unlock(a.owner()).unwrap();
    assert_eq!((fb.wakes(), fc.wakes(), fd.wakes()), (1, 0, 0));
    fc.pending(); // not its turn, although the lock is free
    assert_eq!(lock.try_lock(&a, Reentry::Allow), Ok(false), "no barging");
    assert_eq!(fb.ready(), Ok(()));
    assert!(lock.is_owned_by(b.owner()));

    lock.unlock(b.owner()).unwrap();
    assert_eq!((fc.wakes(), fd.wakes()), (1, 0));
    fd.pending();
    assert_eq!(fc.ready(), Ok(()));
    assert!(lock.is_owned_by(c.owner()));
    lock.unlock(c.owner()).unwrap();
    assert_eq!(fd.ready(), Ok(()));
    lock.unlock(d.owner()).unwrap();
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
}

#[test]
fn reentrant_cancelled_lock_future_leaks_nothing() {
    let lock = RawReentrantLock::new();
    let (a, b, c, d) = (task(), task(), task(), task());
    lock.try_lock(&a, Reentry::Allow).unwrap();
    let mut fb = Hand::new(lock.lock(b, Reentry::Allow));
    let mut fc = Hand::new(lock.lock(c, Reentry::Allow));
    let mut fd = Hand::new(lock.lock(d, Reentry::Allow));
    fb.pending();
    fc.pending();
    fd.pending();
    drop(fc); // withdrawn while queued
    lock.unlock(a.owner()).unwrap();
    assert_eq!(fb.wakes(), 1);
    drop(fb); // withdrawn after it was woken
    assert_eq!(fd.wakes(), 1, "the turn went on to the next waiter");
    assert_eq!(fd.ready(), Ok(()));
    assert_eq!(lock.levels_of(d.owner()), 1);
    assert_eq!(lock.levels_of(b.owner()), 0);
    assert_eq!(lock.levels_of(c.owner()), 0);
    lock.unlock(d.owner()).unwrap();
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
    // A future dropped unpolled, and one dropped after it completed, change nothing.
    drop(lock.lock(a, Reentry::Allow));
    let mut done = Hand::new(lock.lock(a, Reentry::Allow));
    assert_eq!(done.ready(), Ok(()));
    drop(done);
    assert_eq!(lock.levels_of(a.owner()), 1);
    lock.unlock(a.owner()).unwrap();
    assert!(!lock.is_locked());
}

#[test]
fn reentrant_two_queued_requests_of_one_owner_share_the_hold() {
    let lock = RawReentrantLock::new();
    let (a, x) = (task(), task());
    lock.try_lock(&a, Reentry::Allow).unwrap();
    let mut f1 = Hand::new(lock.lock(x, Reentry::Allow));
    let mut f2 = Hand::new(lock.lock(x, Reentry::Allow));
    let mut f3 = Hand::new(lock.lock(x, Reentry::Refuse));
    f1.pending();
    f2.pending();
    f3.pending();
    lock.unlock(a.owner()).unwrap();
    assert_eq!(f1.ready(), Ok(()));
    // Still queued, but their owner holds the lock now: one more level, or the refusal.
    assert_eq!(f2.ready(), Ok(()));
    assert_eq!(f3.ready(), Err(LockError::Reentered));
    assert_eq!(lock.levels_of(x.owner()), 2);
    assert!(!lock.has_waiters(), "the queued places were given up");
    assert_eq!(lock.release_all(x.owner()), Ok(2));
    assert!(!lock.is_locked());
}

#[test]
fn reentrant_exact_counter_with_threads_and_tasks() {
    const ROUNDS: usize = 400;
    let lock = Arc::new(RawReentrantLock::new());
    let count = Arc::new(Racy::default());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (lock, count) = (lock.clone(), count.clone());
            spawn_bounded(move || {
                let me = Holder::thread();
                for _ in 0..ROUNDS {
                    let got = lock.lock_blocking(&me, Reentry::Refuse, None, false);
                    assert_eq!(got, Ok(true));
                    assert_eq!(lock.try_lock(&me, Reentry::Allow), Ok(true));
                    assert_eq!(lock.levels_of(me.owner()), 2);
                    count.bump();
                    lock.unlock(me.owner()).unwrap();
                    lock.unlock(me.owner()).unwrap();
                }
            })
        })
        .collect();
    let (l, c) = (lock.clone(), count.clone());
    run_mt(4, async move {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (lock, count) = (l.clone(), c.clone());
                tokio::spawn(async move {
                    let id = OwnerId::new_unique();
                    for i in 0..ROUNDS {
                        lock.lock(Holder::task(id), Reentry::Refuse).await.unwrap();
                        lock.lock(Holder::task(id), Reentry::Allow).await.unwrap();
                        assert_eq!(lock.levels_of(id), 2);
                        count.bump();
                        if i % 2 == 0 {
                            assert_eq!(lock.release_all(id), Ok(2));
                        } else {
                            lock.unlock(id).unwrap();
                            lock.unlock(id).unwrap();
                        }
                        if i % 16 == 0 {
                            tokio::task::yield_now().await;
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
        t.join();
    }
    assert_eq!(count.get(), 8 * ROUNDS as u64);
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
}
