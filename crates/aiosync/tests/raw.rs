//! Integration tests for the owner-aware raw layer (`aiosync::raw`): `RawLock`,
//! `RawReentrantLock` and `RawRwLock` — who may acquire and release, the re-entry,
//! upgrade and self-deadlock errors, cancel-safe FIFO handoff, and exact counters with
//! OS threads and tokio tasks on one lock.

mod common;

use aiosync::raw::{Holder, LockError, RawLock, RawReentrantLock, RawRwLock, Reentry, Upgrade};
use aiosync::{NotOwnerError, OwnerId};
use common::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier as StdBarrier};
use std::thread;
use std::time::Duration;

/// A wait that is meant to time out.
const SHORT: Duration = Duration::from_millis(20);

/// A fresh task identity running on this thread.
fn task() -> Holder {
    Holder::task(OwnerId::new_unique())
}

/// A counter whose increment is a non-atomic read-modify-write: lost updates show when
/// two owners are inside the lock at once.
#[derive(Debug, Default)]
struct Racy(AtomicU64);

impl Racy {
    fn bump(&self) {
        let v = black_box(self.0.load(Ordering::Relaxed));
        self.0.store(black_box(v + 1), Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------
// RawLock
// ---------------------------------------------------------------------------------------

#[test]
fn raw_lock_try_lock_and_unlock() {
    let lock = RawLock::new();
    let me = Holder::thread();
    assert!(!lock.is_locked());
    assert!(lock.try_lock(&me));
    assert!(lock.is_locked());
    assert!(!lock.try_lock(&me), "a RawLock is not reentrant");
    assert!(!lock.try_lock(&task()), "held: nobody else gets it either");
    lock.unlock().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(
        lock.unlock(),
        Err(NotOwnerError),
        "unlock of an unlocked lock"
    );
    assert!(!lock.is_locked(), "a refused unlock gives nothing back");
    assert!(lock.try_lock(&task()));
    assert!(!lock.try_lock(&task()), "still exactly one permit");
    lock.unlock().unwrap();
}

#[test]
fn raw_lock_is_released_by_anyone() {
    let lock = Arc::new(RawLock::new());
    assert!(lock.try_lock(&Holder::thread()));
    let l2 = lock.clone();
    spawn_bounded(move || l2.unlock()).join().unwrap();
    assert!(!lock.is_locked());
    assert!(lock.try_lock(&task()));
}

#[test]
fn raw_lock_racing_double_unlock_gives_exactly_one_ok() {
    let lock = Arc::new(RawLock::new());
    for round in 0..200 {
        assert!(lock.try_lock(&Holder::thread()));
        let start = Arc::new(StdBarrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, start) = (lock.clone(), start.clone());
                spawn_bounded(move || {
                    start.wait();
                    lock.unlock().is_ok()
                })
            })
            .collect();
        let oks = racers
            .into_iter()
            .map(Bounded::join)
            .filter(|&ok| ok)
            .count();
        assert_eq!(oks, 1, "round {round}: exactly one release succeeds");
        assert!(!lock.is_locked());
        // Two successful releases would have left two permits: both would get in.
        assert!(lock.try_lock(&task()));
        assert!(
            !lock.try_lock(&task()),
            "round {round}: a permit was doubled"
        );
        lock.unlock().unwrap();
    }
}

#[test]
fn raw_lock_blocking_refuses_only_a_hold_of_this_loop_thread() {
    let lock = Arc::new(RawLock::new());
    let me = Holder::thread();

    // Free: nothing to wait for, even where a loop runs.
    assert_eq!(lock.lock_blocking(&me, None, true), Ok(true));
    lock.unlock().unwrap();

    // Held by a task of this thread's loop: waiting could never end.
    assert!(lock.try_lock(&task()));
    assert_eq!(
        lock.lock_blocking(&me, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        lock.lock_blocking(&me, Some(LIMIT), true),
        Err(LockError::WouldDeadlock)
    );
    assert!(!lock.has_waiters(), "a refused acquire never queues");
    // No loop runs here: an ordinary timed wait.
    assert_eq!(lock.lock_blocking(&me, Some(SHORT), false), Ok(false));
    // Another thread, with a loop of its own: the hold was not taken there.
    let l2 = lock.clone();
    let r = spawn_bounded(move || l2.lock_blocking(&Holder::thread(), Some(SHORT), true)).join();
    assert_eq!(r, Ok(false));
    assert!(!lock.has_waiters(), "timed-out waiters left the queue");
    lock.unlock().unwrap();
    assert!(!lock.is_locked(), "no timed-out waiter was handed the lock");

    // Held on another thread: a loop thread here may wait, and gets it on release.
    let (tx, rx) = mpsc::channel();
    let l2 = lock.clone();
    let t = spawn_bounded(move || {
        assert!(l2.try_lock(&Holder::thread()));
        tx.send(()).unwrap();
        wait_until("the main thread queues", || l2.has_waiters());
        l2.unlock().unwrap();
    });
    rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(lock.lock_blocking(&me, Some(LIMIT), true), Ok(true));
    t.join();
    // Taken on this thread now: a second blocking acquire here is refused.
    assert_eq!(
        lock.lock_blocking(&task(), None, true),
        Err(LockError::WouldDeadlock)
    );
    lock.unlock().unwrap();
}

/// A lock released to a queued task of this thread is as good as held on this thread:
/// that task can only take it (and release it) when this thread's loop runs again, so a
/// blocking acquire here could never end (it queues behind the task, which it blocks).
#[test]
fn raw_lock_blocking_refuses_a_lock_reserved_for_a_task_of_this_thread() {
    let lock = Arc::new(RawLock::new());
    let l2 = lock.clone();
    spawn_bounded(move || assert!(l2.try_lock(&Holder::thread()))).join();
    let mut queued = Hand::new(lock.lock(task())); // a task of this thread's loop
    queued.pending();
    lock.unlock().unwrap(); // the lock is now the queued task's turn
    assert_eq!(queued.wakes(), 1);
    assert_eq!(
        lock.lock_blocking(&Holder::thread(), Some(SHORT), true),
        Err(LockError::WouldDeadlock),
        "the loop thread would wait for a task only it can run"
    );
    queued.ready();
    lock.unlock().unwrap();
}

/// As above, after a starving release *handed* the lock to the task (its node left the
/// queue, its future has not run yet): still refused, not a hang.
#[test]
fn raw_lock_blocking_refuses_a_lock_handed_to_a_task_of_this_thread() {
    let lock = Arc::new(RawLock::new());
    let l2 = lock.clone();
    spawn_bounded(move || assert!(l2.try_lock(&Holder::thread()))).join();
    let mut queued = Hand::new(lock.lock(task()));
    queued.pending();
    // The release wakes the waiter and starts its clock; a thread takes the free lock
    // first (allowed before the waiter starves) and holds it past the fairness timeout,
    // so its release hands the lock to the waiter directly.
    lock.unlock().unwrap();
    let l3 = lock.clone();
    spawn_bounded(move || {
        assert_eq!(
            l3.lock_blocking(&Holder::thread(), Some(LIMIT), false),
            Ok(true)
        );
        thread::sleep(Duration::from_millis(5));
        l3.unlock().unwrap();
    })
    .join();
    assert!(lock.is_locked(), "handed to the waiter, not left free");
    assert!(!lock.has_waiters());
    assert_eq!(
        lock.lock_blocking(&Holder::thread(), Some(SHORT), true),
        Err(LockError::WouldDeadlock)
    );
    queued.ready();
    lock.unlock().unwrap();
}

#[test]
fn raw_lock_async_acquire_records_a_holder() {
    let lock = RawLock::new();
    assert!(lock.try_lock(&task()));
    let mut f = Hand::new(lock.lock(task()));
    f.pending();
    lock.unlock().unwrap();
    assert_eq!(f.wakes(), 1);
    f.ready();
    assert!(lock.is_locked());
    // The future recorded its holder: the release is accepted, and only once.
    lock.unlock().unwrap();
    assert_eq!(lock.unlock(), Err(NotOwnerError));
}

#[test]
fn raw_lock_cancelled_future_passes_the_lock_on() {
    let lock = RawLock::new();
    assert!(lock.try_lock(&task()));
    let mut b = Hand::new(lock.lock(task()));
    let mut c = Hand::new(lock.lock(task()));
    let mut d = Hand::new(lock.lock(task()));
    b.pending();
    c.pending();
    d.pending();
    drop(c); // withdrawn while queued: nothing to pass on
    assert_eq!(d.wakes(), 0);
    lock.unlock().unwrap();
    assert_eq!(b.wakes(), 1, "the head is woken");
    assert_eq!(d.wakes(), 0, "only the head");
    assert!(!lock.try_lock(&task()), "nobody overtakes the queue");
    drop(b); // cancelled after it was woken: its turn goes on
    assert_eq!(d.wakes(), 1, "the cancelled head passed the lock on");
    d.ready();
    lock.unlock().unwrap();
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
}

/// As above, with the head waiting long enough that the release hands the lock to it
/// directly (the head has been looked at once before, at least 0.5 ms earlier). The
/// assertions hold on either path; the sleep only chooses which one runs.
#[test]
fn raw_lock_cancelled_after_direct_handoff_passes_the_lock_on() {
    let lock = RawLock::new();
    assert!(lock.try_lock(&task()));
    let mut b = Hand::new(lock.lock(task()));
    let mut x = Hand::new(lock.lock(task()));
    let mut c = Hand::new(lock.lock(task()));
    b.pending();
    x.pending();
    c.pending();
    drop(x); // serves the list: starts the head's clock
    thread::sleep(Duration::from_millis(2));
    lock.unlock().unwrap();
    assert_eq!(b.wakes(), 1);
    assert!(lock.is_locked(), "handed to (or reserved for) the head");
    drop(b);
    assert_eq!(c.wakes(), 1, "what the head was handed went on");
    c.ready();
    lock.unlock().unwrap();
    assert!(!lock.is_locked());
    assert!(lock.try_lock(&task()));
    lock.unlock().unwrap();
}

#[test]
fn raw_lock_exact_counter_with_threads_and_tasks() {
    const ROUNDS: usize = 500;
    let lock = Arc::new(RawLock::new());
    let count = Arc::new(Racy::default());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (lock, count) = (lock.clone(), count.clone());
            spawn_bounded(move || {
                for _ in 0..ROUNDS {
                    assert_eq!(lock.lock_blocking(&Holder::thread(), None, false), Ok(true));
                    count.bump();
                    lock.unlock().unwrap();
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
                    for i in 0..ROUNDS {
                        lock.lock(task()).await;
                        count.bump();
                        lock.unlock().unwrap();
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

// ---------------------------------------------------------------------------------------
// RawRwLock
// ---------------------------------------------------------------------------------------

#[test]
fn rw_readers_share_and_exclude_writers() {
    const READERS: usize = 3;
    let rw = Arc::new(RawRwLock::new());
    // Every reader must be inside at once to pass `inside`: a lock that serialized
    // readers would hang them there (and fail the bounded join).
    let inside = Arc::new(StdBarrier::new(READERS + 1));
    let leave = Arc::new(StdBarrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (rw, inside, leave) = (rw.clone(), inside.clone(), leave.clone());
            spawn_bounded(move || {
                let me = Holder::thread();
                assert_eq!(rw.read_blocking(&me, Some(LIMIT), false), Ok(true));
                inside.wait();
                leave.wait();
                rw.release_read(me.owner()).unwrap();
            })
        })
        .collect();
    inside.wait();
    assert_eq!(rw.read_holders(), READERS);
    assert!(!rw.is_write_locked());
    let w = task();
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(false));
    assert_eq!(
        rw.write_blocking(&w, Upgrade::Refuse, Some(SHORT), false),
        Ok(false)
    );
    assert!(!rw.has_waiters(), "the timed-out writer left");
    assert!(rw.try_read(&task()), "readers still get in");
    leave.wait();
    for r in readers {
        r.join();
    }
    assert_eq!(rw.read_holders(), 1);
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(false));
}

#[test]
fn rw_queued_writer_holds_back_new_readers_but_not_re_entry() {
    let rw = RawRwLock::new();
    let (a, b, w) = (task(), task(), task());
    assert!(rw.try_read(&a));
    let mut writer = Hand::new(rw.write(w, Upgrade::Refuse));
    writer.pending();
    assert!(!rw.try_read(&b), "writer-preferring: a new reader waits");
    let mut reader = Hand::new(rw.read(b));
    reader.pending();
    assert!(rw.try_read(&a), "a reader's second level never waits");
    assert_eq!(rw.levels_of(a.owner()), (2, 0));
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 0);
    rw.release_read(a.owner()).unwrap();
    assert_eq!((writer.wakes(), reader.wakes()), (1, 0));
    assert_eq!(writer.ready(), Ok(()));
    reader.pending();
    rw.release_write(w.owner()).unwrap();
    assert_eq!(reader.ready(), Ok(()));
    rw.release_read(b.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_writer_excludes_everyone_else() {
    let rw = Arc::new(RawRwLock::new());
    let (w, r) = (task(), task());
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert!(rw.is_write_locked());
    assert!(rw.is_locked());
    assert_eq!(rw.read_holders(), 0);
    assert_eq!(rw.levels_of(w.owner()), (0, 1));
    assert!(!rw.try_read(&r));
    assert_eq!(rw.try_write(&r, Upgrade::Allow), Ok(false));
    assert_eq!(rw.read_blocking(&r, Some(SHORT), false), Ok(false));
    let rw2 = rw.clone();
    let other = spawn_bounded(move || {
        let me = Holder::thread();
        (
            rw2.read_blocking(&me, Some(SHORT), false),
            rw2.write_blocking(&me, Upgrade::Refuse, Some(SHORT), false),
        )
    })
    .join();
    assert_eq!(other, (Ok(false), Ok(false)));
    assert_eq!(rw.levels_of(r.owner()), (0, 0));
    // A second write level of the writer.
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert_eq!(rw.levels_of(w.owner()), (0, 2));
    rw.release_write(w.owner()).unwrap();
    assert!(rw.is_write_locked());
    assert!(!rw.try_read(&r));
    rw.release_write(w.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(rw.try_read(&r));
    rw.release_read(r.owner()).unwrap();
}

#[test]
fn rw_writer_also_reads_and_release_order_does_not_matter() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    assert!(rw.try_read(&a), "the writer also reads");
    assert!(rw.try_read(&a));
    assert_eq!(rw.levels_of(a.owner()), (2, 1));
    assert_eq!(rw.read_holders(), 1, "one owner, however many levels");
    // Leaving the reads first keeps the write lock.
    rw.release_read(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.levels_of(a.owner()), (0, 1));
    assert!(rw.is_write_locked());
    assert_eq!(rw.read_holders(), 0);
    assert!(!rw.try_read(&b));
    rw.release_write(a.owner()).unwrap();
    assert!(!rw.is_locked());
    assert_eq!(rw.try_write(&b, Upgrade::Refuse), Ok(true));
    rw.release_write(b.owner()).unwrap();
}

#[test]
fn rw_release_write_while_reading_downgrades() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    let mut reader = Hand::new(rw.read(b));
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    reader.pending();
    writer.pending();
    assert!(rw.try_read(&a));

    rw.release_write(a.owner()).unwrap();
    assert_eq!(rw.levels_of(a.owner()), (1, 0), "still reading");
    assert!(!rw.is_write_locked());
    assert!(rw.is_locked());
    assert_eq!(reader.wakes(), 1, "the queued reader gets in");
    assert_eq!(reader.ready(), Ok(()));
    assert_eq!(rw.read_holders(), 2);
    assert_eq!(writer.wakes(), 0, "a writer does not");
    writer.pending();
    assert_eq!(rw.try_write(&task(), Upgrade::Refuse), Ok(false));

    rw.release_read(b.owner()).unwrap();
    assert_eq!(writer.wakes(), 0, "the downgraded hold still reads");
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 1);
    assert_eq!(writer.ready(), Ok(()));
    assert_eq!(rw.levels_of(c.owner()), (0, 1));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(!rw.has_waiters());
}

#[test]
fn rw_upgrade_refused_by_policy() {
    let rw = RawRwLock::new();
    let a = task();
    assert!(rw.try_read(&a));
    assert_eq!(
        rw.try_write(&a, Upgrade::Refuse),
        Err(LockError::UpgradeRefused)
    );
    assert_eq!(
        rw.write_blocking(&a, Upgrade::Refuse, None, false),
        Err(LockError::UpgradeRefused)
    );
    let mut f = Hand::new(rw.write(a, Upgrade::Refuse));
    assert_eq!(f.ready(), Err(LockError::UpgradeRefused));
    assert_eq!(
        rw.levels_of(a.owner()),
        (1, 0),
        "the read hold is untouched"
    );
    // Alone, an allowed upgrade succeeds at once.
    assert_eq!(rw.try_write(&a, Upgrade::Allow), Ok(true));
    assert_eq!(rw.levels_of(a.owner()), (1, 1));
    assert!(rw.is_write_locked());
    rw.release_write(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_upgrade_waits_for_other_readers_ahead_of_queued_writers() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    writer.pending();
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();

    // A second upgrader while one is pending: both would wait for each other.
    assert_eq!(
        rw.try_write(&b, Upgrade::Allow),
        Err(LockError::UpgradeRefused)
    );
    let mut up_b = Hand::new(rw.write(b, Upgrade::Allow));
    assert_eq!(up_b.ready(), Err(LockError::UpgradeRefused));
    assert_eq!(
        rw.write_blocking(&b, Upgrade::Allow, Some(LIMIT), false),
        Err(LockError::UpgradeRefused)
    );
    assert_eq!(rw.levels_of(b.owner()), (1, 0));

    rw.release_read(b.owner()).unwrap();
    assert_eq!(up.wakes(), 1, "the upgrade goes first");
    assert_eq!(writer.wakes(), 0);
    assert_eq!(up.ready(), Ok(()));
    assert_eq!(rw.levels_of(a.owner()), (1, 1));
    assert!(rw.is_write_locked());
    assert!(!rw.try_read(&b));
    writer.pending();

    rw.release_write(a.owner()).unwrap(); // downgrade: a still reads
    assert_eq!(writer.wakes(), 0);
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 1);
    assert_eq!(writer.ready(), Ok(()));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(!rw.has_waiters());
}

#[test]
fn rw_cancelled_upgrade_leaves_the_read_hold_intact() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();
    drop(up);
    assert_eq!(rw.levels_of(a.owner()), (1, 0));
    assert_eq!(rw.read_holders(), 2);
    assert!(!rw.has_waiters());
    // The pending upgrade was withdrawn: another reader may try one now.
    assert_eq!(rw.try_write(&b, Upgrade::Allow), Ok(false));

    // Cancelled after the other reader left (the upgrade was served): nothing leaks.
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    writer.pending();
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();
    rw.release_read(b.owner()).unwrap();
    assert_eq!(up.wakes(), 1);
    drop(up);
    assert_eq!(rw.levels_of(a.owner()), (1, 0), "still a reader only");
    assert!(!rw.is_write_locked());
    assert_eq!(writer.wakes(), 0, "a still reads: the writer waits");
    writer.pending();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.ready(), Ok(()));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_blocking_upgrade_timeout_keeps_the_read_hold() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    assert_eq!(
        rw.write_blocking(&a, Upgrade::Allow, Some(SHORT), false),
        Ok(false)
    );
    assert_eq!(rw.levels_of(a.owner()), (1, 0));
    assert!(!rw.has_waiters());
    // The timed-out upgrade no longer counts as pending.
    assert_eq!(rw.try_write(&b, Upgrade::Allow), Ok(false));
    rw.release_read(b.owner()).unwrap();
    assert_eq!(rw.try_write(&a, Upgrade::Allow), Ok(true));
    rw.release_write(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_blocking_upgrade_from_another_thread() {
    let rw = Arc::new(RawRwLock::new());
    let b = task();
    assert!(rw.try_read(&b));
    let rw2 = rw.clone();
    let t = spawn_bounded(move || {
        let me = Holder::thread();
        assert!(rw2.try_read(&me));
        let r = rw2.write_blocking(&me, Upgrade::Allow, Some(LIMIT), false);
        let levels = rw2.levels_of(me.owner());
        rw2.release_write(me.owner()).unwrap();
        rw2.release_read(me.owner()).unwrap();
        (r, levels)
    });
    wait_until("the upgrade queues", || rw.has_waiters());
    assert!(!rw.is_write_locked());
    rw.release_read(b.owner()).unwrap();
    assert_eq!(t.join(), (Ok(true), (1, 1)));
    assert!(!rw.is_locked());
}

#[test]
fn rw_release_by_non_owner_is_refused() {
    let rw = RawRwLock::new();
    let (r, w, x) = (task(), task(), task());
    assert_eq!(rw.release_read(x.owner()), Err(NotOwnerError));
    assert_eq!(rw.release_write(x.owner()), Err(NotOwnerError));
    assert!(rw.try_read(&r));
    assert_eq!(rw.release_write(r.owner()), Err(NotOwnerError), "a reader");
    assert_eq!(rw.release_read(x.owner()), Err(NotOwnerError));
    rw.release_read(r.owner()).unwrap();
    assert_eq!(
        rw.release_read(r.owner()),
        Err(NotOwnerError),
        "released twice"
    );
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert_eq!(rw.release_read(w.owner()), Err(NotOwnerError), "a writer");
    assert_eq!(rw.release_write(x.owner()), Err(NotOwnerError));
    assert_eq!(rw.levels_of(w.owner()), (0, 1), "refusals changed nothing");
    assert!(rw.is_write_locked());
    rw.release_write(w.owner()).unwrap();
    assert!(!rw.is_locked());
    assert_eq!(rw.release_write(w.owner()), Err(NotOwnerError));
}

#[test]
fn rw_levels_and_holder_counts() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert_eq!(
        (rw.read_holders(), rw.is_write_locked(), rw.is_locked()),
        (0, false, false)
    );
    for _ in 0..3 {
        assert!(rw.try_read(&a));
    }
    assert!(rw.try_read(&b));
    assert_eq!(rw.levels_of(a.owner()), (3, 0));
    assert_eq!(rw.levels_of(b.owner()), (1, 0));
    assert_eq!(rw.read_holders(), 2);
    rw.release_read(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.read_holders(), 2);
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.read_holders(), 1);
    assert_eq!(rw.levels_of(a.owner()), (0, 0));
    rw.release_read(b.owner()).unwrap();
    assert!(!rw.is_locked());
    // Every permit came back: a writer gets in at once.
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    rw.release_write(a.owner()).unwrap();
}

#[test]
fn rw_two_reads_of_one_owner_in_flight_share_one_hold() {
    let rw = RawRwLock::new();
    let (w, x) = (task(), task());
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    let mut r1 = Hand::new(rw.read(x));
    let mut r2 = Hand::new(rw.read(x));
    r1.pending();
    r2.pending();
    rw.release_write(w.owner()).unwrap();
    assert_eq!(r1.ready(), Ok(()));
    assert_eq!(r2.ready(), Ok(()));
    assert_eq!(rw.levels_of(x.owner()), (2, 0));
    assert_eq!(rw.read_holders(), 1);
    rw.release_read(x.owner()).unwrap();
    rw.release_read(x.owner()).unwrap();
    assert!(!rw.is_locked());
    // No permit was kept twice: a writer gets in at once.
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    rw.release_write(w.owner()).unwrap();
}

#[test]
fn rw_blocking_refuses_only_a_hold_of_this_loop_thread() {
    let rw = Arc::new(RawRwLock::new());
    let me = Holder::thread();
    let t = task(); // a task of this thread's loop
    assert_eq!(rw.try_write(&t, Upgrade::Refuse), Ok(true));
    assert_eq!(
        rw.read_blocking(&me, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        rw.write_blocking(&me, Upgrade::Refuse, Some(LIMIT), true),
        Err(LockError::WouldDeadlock)
    );
    assert!(!rw.has_waiters());
    assert_eq!(rw.read_blocking(&me, Some(SHORT), false), Ok(false));
    // The holder itself: its own holds never count against it.
    assert_eq!(rw.read_blocking(&t, None, true), Ok(true));
    assert_eq!(rw.write_blocking(&t, Upgrade::Refuse, None, true), Ok(true));
    assert_eq!(rw.levels_of(t.owner()), (1, 2));
    // Another thread with its own loop just waits.
    let rw2 = rw.clone();
    let r = spawn_bounded(move || rw2.read_blocking(&Holder::thread(), Some(SHORT), true)).join();
    assert_eq!(r, Ok(false));
    rw.release_write(t.owner()).unwrap();
    rw.release_write(t.owner()).unwrap();
    // A read hold of this thread's task: reading needs no wait, writing would.
    assert_eq!(rw.read_blocking(&me, None, true), Ok(true));
    rw.release_read(me.owner()).unwrap();
    assert_eq!(
        rw.write_blocking(&me, Upgrade::Refuse, None, true),
        Err(LockError::WouldDeadlock)
    );
    // An upgrade blocked by another task of this thread: refused, and withdrawn.
    let u = task();
    assert!(rw.try_read(&u));
    assert_eq!(
        rw.write_blocking(&u, Upgrade::Allow, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        rw.try_write(&t, Upgrade::Allow),
        Ok(false),
        "the refused upgrade is no longer pending"
    );
    rw.release_read(u.owner()).unwrap();
    rw.release_read(t.owner()).unwrap();
    assert!(!rw.is_locked());
}

/// State shared by the mixed read/write stress test: a pair a writer moves together,
/// and who is inside.
#[derive(Default)]
struct RwShared {
    rw: RawRwLock,
    a: Racy,
    b: Racy,
    writes: AtomicU64,
    upgrades: AtomicU64,
    readers_in: AtomicUsize,
    writer_in: AtomicUsize,
}

impl RwShared {
    fn write_section(&self) {
        assert_eq!(
            self.writer_in.fetch_add(1, Ordering::SeqCst),
            0,
            "two writers"
        );
        assert_eq!(
            self.readers_in.load(Ordering::SeqCst),
            0,
            "reader and writer"
        );
        self.a.bump();
        self.b.bump();
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.writer_in.fetch_sub(1, Ordering::SeqCst);
    }

    fn read_section(&self) {
        self.readers_in.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            self.writer_in.load(Ordering::SeqCst),
            0,
            "reader and writer"
        );
        assert_eq!(self.a.get(), self.b.get(), "a torn write was seen");
        self.readers_in.fetch_sub(1, Ordering::SeqCst);
    }

    /// After a write section while still holding the write lock: read as the writer,
    /// downgrade, read, leave.
    fn downgrade_and_read(&self, owner: OwnerId, also_read: bool) {
        assert!(also_read, "the writer also reads");
        self.rw.release_write(owner).unwrap();
        assert_eq!(self.rw.levels_of(owner), (1, 0));
        self.read_section();
        self.rw.release_read(owner).unwrap();
    }

    fn step_blocking(&self, me: &Holder, op: usize) {
        let rw = &self.rw;
        match op % 4 {
            0 => {
                assert_eq!(
                    rw.write_blocking(me, Upgrade::Refuse, None, false),
                    Ok(true)
                );
                self.write_section();
                rw.release_write(me.owner()).unwrap();
            }
            1 => {
                assert_eq!(rw.read_blocking(me, None, false), Ok(true));
                self.read_section();
                rw.release_read(me.owner()).unwrap();
            }
            2 => {
                assert_eq!(
                    rw.write_blocking(me, Upgrade::Refuse, None, false),
                    Ok(true)
                );
                self.write_section();
                let also = rw.try_read(me);
                self.downgrade_and_read(me.owner(), also);
            }
            _ => {
                assert_eq!(rw.read_blocking(me, None, false), Ok(true));
                self.read_section();
                match rw.write_blocking(me, Upgrade::Allow, None, false) {
                    Ok(true) => {
                        self.upgrades.fetch_add(1, Ordering::Relaxed);
                        self.write_section();
                        rw.release_write(me.owner()).unwrap();
                    }
                    Err(LockError::UpgradeRefused) => {}
                    other => panic!("unexpected upgrade result {other:?}"),
                }
                rw.release_read(me.owner()).unwrap();
            }
        }
    }

    async fn step_async(&self, id: OwnerId, op: usize) {
        let rw = &self.rw;
        match op % 4 {
            0 => {
                rw.write(Holder::task(id), Upgrade::Refuse).await.unwrap();
                self.write_section();
                rw.release_write(id).unwrap();
            }
            1 => {
                rw.read(Holder::task(id)).await.unwrap();
                self.read_section();
                rw.release_read(id).unwrap();
            }
            2 => {
                rw.write(Holder::task(id), Upgrade::Refuse).await.unwrap();
                self.write_section();
                rw.read(Holder::task(id)).await.unwrap(); // covered: no wait
                self.downgrade_and_read(id, true);
            }
            _ => {
                rw.read(Holder::task(id)).await.unwrap();
                self.read_section();
                match rw.write(Holder::task(id), Upgrade::Allow).await {
                    Ok(()) => {
                        self.upgrades.fetch_add(1, Ordering::Relaxed);
                        self.write_section();
                        rw.release_write(id).unwrap();
                    }
                    Err(LockError::UpgradeRefused) => {}
                    Err(e) => panic!("unexpected upgrade error {e:?}"),
                }
                rw.release_read(id).unwrap();
            }
        }
    }
}

#[test]
fn rw_exact_counters_with_threads_and_tasks() {
    const ROUNDS: usize = 300;
    let shared = Arc::new(RwShared::default());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = shared.clone();
            spawn_bounded(move || {
                let me = Holder::thread();
                for r in 0..ROUNDS {
                    s.step_blocking(&me, i + r);
                }
            })
        })
        .collect();
    let s = shared.clone();
    run_mt(4, async move {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    let id = OwnerId::new_unique();
                    for r in 0..ROUNDS {
                        s.step_async(id, i + r).await;
                        if r % 16 == 0 {
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
    let writes = shared.writes.load(Ordering::Relaxed);
    // Ops 0 and 2 always write: half of all steps; op 3 writes when its upgrade wins.
    let upgrades = shared.upgrades.load(Ordering::Relaxed);
    assert_eq!(writes, (8 * ROUNDS / 2) as u64 + upgrades);
    assert_eq!(
        shared.a.get(),
        writes,
        "lost update: two writers were inside"
    );
    assert_eq!(shared.b.get(), writes);
    assert!(!shared.rw.is_locked());
    assert_eq!(shared.rw.read_holders(), 0);
    assert!(!shared.rw.has_waiters());
}
