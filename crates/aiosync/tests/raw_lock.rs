//! `aiosync::raw::RawLock`: who may acquire and release, self-deadlock refusal, cancel-safe handoff, exact counters.

mod common;

use aiosync::raw::{Holder, LockError, RawLock};
use aiosync::NotOwnerError;
use common::raw::*;
use common::*;
use std::sync::{mpsc, Arc, Barrier as StdBarrier};
use std::thread;
use std::time::Duration;

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
