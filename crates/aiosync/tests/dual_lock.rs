//! Integration tests for `aiosync::raw::RawDualLock`, the lock of a Python `Condition()`
//! for both worlds: thread holds owned and nested, task holds released by anyone and
//! never re-entered, the self-deadlock refusals, racing releases, and condition waits
//! over it (a thread's levels restored; a task waiting under another task's hold).

mod common;

use aiosync::raw::{Holder, LockError, RawDualLock};
use aiosync::{Condition, NotOwnerError, OwnerId, RawWaitError};
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn task_holder() -> Holder {
    Holder::task(OwnerId::new_unique())
}

#[test]
fn a_thread_hold_nests_and_only_its_thread_releases_it() {
    let lock = Arc::new(RawDualLock::new());
    let me = Holder::thread();
    assert_eq!(lock.try_lock(&me), Ok(true));
    assert_eq!(lock.try_lock(&me), Ok(true));
    assert_eq!(lock.levels(), 2);
    assert!(lock.is_owned_by(me.owner()));
    let l2 = lock.clone();
    let foreign = thread::spawn(move || {
        let other = Holder::thread();
        (
            l2.unlock(&other),
            l2.try_lock(&other),
            l2.is_held_by(&other),
        )
    })
    .join()
    .unwrap();
    assert_eq!(foreign, (Err(NotOwnerError), Ok(false), false));
    assert_eq!(
        lock.unlock(&task_holder()),
        Err(NotOwnerError),
        "nor a task"
    );
    lock.unlock(&me).unwrap();
    assert!(lock.is_locked(), "one level left");
    lock.unlock(&me).unwrap();
    assert!(!lock.is_locked());
    assert_eq!(
        lock.unlock(&me),
        Err(NotOwnerError),
        "released once per level"
    );
}

#[test]
fn a_task_hold_is_released_by_anyone_and_never_reentered() {
    let lock = RawDualLock::new();
    let (a, b) = (task_holder(), task_holder());
    assert_eq!(lock.try_lock(&a), Ok(true));
    assert_eq!(lock.try_lock(&a), Err(LockError::Reentered));
    assert_eq!(
        lock.try_lock(&b),
        Ok(false),
        "another task waits as for a Lock"
    );
    assert!(lock.is_held_by(&b) && lock.is_held_by(&Holder::thread()));
    assert_eq!(lock.levels(), 1);
    lock.unlock(&Holder::thread()).unwrap();
    assert!(!lock.is_locked());
    assert_eq!(lock.unlock(&a), Err(NotOwnerError));
    assert_eq!(
        lock.try_lock(&a),
        Ok(true),
        "free again for its former holder"
    );
    lock.unlock(&a).unwrap();
}

#[test]
fn an_async_task_reentry_is_refused_not_hung() {
    let lock = RawDualLock::new();
    let a = task_holder();
    assert_eq!(lock.try_lock(&a), Ok(true));
    let mut again = Hand::new(lock.lock(a));
    assert_eq!(again.ready(), Err(LockError::Reentered));
    assert_eq!(lock.waiters(), 0, "nothing was queued");
    // A thread hold re-entered through the async form counts one more level.
    lock.unlock(&a).unwrap();
    let me = Holder::thread();
    assert_eq!(lock.try_lock(&me), Ok(true));
    assert_eq!(Hand::new(lock.lock(me)).ready(), Ok(()));
    assert_eq!(lock.release_all(&me), Ok(2));
}

#[test]
fn a_blocking_acquire_under_its_own_loop_s_task_hold_would_deadlock() {
    let lock = RawDualLock::new();
    assert_eq!(lock.try_lock(&task_holder()), Ok(true));
    let me = Holder::thread();
    assert_eq!(
        lock.lock_blocking(&me, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        lock.lock_blocking(&me, Some(Duration::from_millis(10)), false),
        Ok(false),
        "without a running loop it just times out"
    );
}

#[test]
fn waiters_are_served_in_order_across_threads_and_tasks() {
    let lock = Arc::new(RawDualLock::new());
    let a = task_holder();
    assert_eq!(lock.try_lock(&a), Ok(true));
    let mut b = Hand::new(lock.lock(task_holder()));
    b.pending();
    let l2 = lock.clone();
    let t = spawn_bounded(move || {
        let me = Holder::thread();
        assert_eq!(l2.lock_blocking(&me, None, false), Ok(true));
        l2.unlock(&me).unwrap();
    });
    wait_until("the thread queued", || lock.waiters() == 2);
    lock.unlock(&a).unwrap();
    assert_eq!(b.ready(), Ok(()));
    lock.unlock(&Holder::thread()).unwrap(); // b's task hold, released by anyone
    t.join();
    assert!(!lock.is_locked());
}

#[test]
fn racing_releases_of_a_task_hold_give_exactly_one_permit_back() {
    for _ in 0..200 {
        let lock = Arc::new(RawDualLock::new());
        assert_eq!(lock.try_lock(&task_holder()), Ok(true));
        let ok = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (l, ok) = (lock.clone(), ok.clone());
                thread::spawn(move || {
                    if l.unlock(&Holder::thread()).is_ok() {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ok.load(Ordering::SeqCst), 1);
        let me = Holder::thread();
        assert_eq!(lock.try_lock(&me), Ok(true));
        assert_eq!(lock.try_lock(&task_holder()), Ok(false), "one permit only");
        lock.unlock(&me).unwrap();
    }
}

#[test]
fn a_condition_wait_restores_a_thread_s_levels() {
    let (lock, cond) = (Arc::new(RawDualLock::new()), Arc::new(Condition::new()));
    let me = Holder::thread();
    for _ in 0..3 {
        assert_eq!(lock.try_lock(&me), Ok(true));
    }
    let (l2, c2) = (lock.clone(), cond.clone());
    let notifier = spawn_bounded(move || {
        wait_until("the wait queued", || c2.waiters() == 1);
        let other = Holder::thread();
        assert_eq!(l2.lock_blocking(&other, None, false), Ok(true));
        assert_eq!(c2.notify_raw(&*l2, &other, 1), Ok(1));
        l2.unlock(&other).unwrap();
    });
    let w = cond.wait_raw_blocking(&*lock, me).unwrap();
    assert!(w.wait(None), "notified, and the lock taken back");
    notifier.join();
    assert_eq!(lock.levels(), 3);
    assert_eq!(lock.release_all(&me), Ok(3));
}

#[test]
fn a_task_may_wait_under_another_task_s_hold_and_takes_it_back_as_itself() {
    let (lock, cond) = (RawDualLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    assert_eq!(lock.try_lock(&a), Ok(true));
    let mut w = Hand::new(cond.wait_raw(&lock, b));
    w.pending();
    assert!(!lock.is_locked(), "a's hold was released for b's wait");
    assert_eq!(lock.try_lock(&a), Ok(true));
    assert_eq!(cond.notify_raw(&lock, &a, 1), Ok(1));
    w.pending();
    lock.unlock(&a).unwrap();
    assert_eq!(w.ready(), Ok(()));
    assert!(lock.is_owned_by(b.owner()));
    assert_eq!(lock.try_lock(&b), Err(LockError::Reentered));
    lock.unlock(&b).unwrap();
}

#[test]
fn a_thread_may_not_wait_under_another_thread_s_hold() {
    let (lock, cond) = (Arc::new(RawDualLock::new()), Condition::new());
    let l2 = lock.clone();
    thread::spawn(move || assert_eq!(l2.try_lock(&Holder::thread()), Ok(true)))
        .join()
        .unwrap();
    let me = Holder::thread();
    assert!(!lock.is_held_by(&me));
    assert_eq!(
        Hand::new(cond.wait_raw(&*lock, me)).ready(),
        Err(RawWaitError::NotHeld)
    );
    assert_eq!(cond.notify_raw(&*lock, &me, 1), Err(NotOwnerError));
}
