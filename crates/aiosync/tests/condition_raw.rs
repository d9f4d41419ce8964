//! Integration tests for async condition waits over the raw layer: `Condition::wait_raw`
//! over `RawLock` and `RawReentrantLock` (every level released and taken back, no missed
//! notification, FIFO), `RawWait::cancel`, and drops. The blocking form is tested in
//! `condition_raw_blocking.rs`, waits over a `ReentrantMutex` in `condition_reentrant.rs`.

mod common;

use aiosync::raw::{Holder, RawLock, RawReentrantLock, Reentry, Relock};
use aiosync::{Condition, NotOwnerError, OwnerId, RawWait, RawWaitError};
use common::raw::{take, task as task_holder};
use common::*;
use std::sync::{mpsc, Arc};

/// A hand-polled `wait_raw` of `holder`, polled once: it must be waiting, with the lock
/// released. The caller holds the lock.
fn waiting<'a, L: Relock>(
    cond: &'a Condition,
    lock: &'a L,
    holder: Holder,
) -> Hand<RawWait<'a, L>> {
    let before = cond.waiters();
    let mut w = Hand::new(cond.wait_raw(lock, holder));
    w.pending();
    assert_eq!(cond.waiters(), before + 1);
    assert!(!lock.is_held_by(&holder), "the wait released the lock");
    w
}

// ---------------------------------------------------------------------------------------
// wait_raw
// ---------------------------------------------------------------------------------------

#[test]
fn wait_raw_over_raw_lock_releases_then_takes_it_back() {
    let (lock, cond) = (RawLock::new(), Condition::new());
    let me = task_holder();
    assert!(lock.try_lock(&me));
    let mut w = Hand::new(cond.wait_raw(&lock, me));
    assert!(lock.is_locked(), "nothing happens before the first poll");
    assert_eq!(cond.waiters(), 0);
    w.pending();
    assert!(!lock.is_locked());
    assert_eq!(cond.waiters(), 1);

    let other = task_holder();
    assert!(lock.try_lock(&other));
    assert!(cond.notify_one());
    assert_eq!(w.wakes(), 1);
    w.pending(); // notified; the lock is held by another
    assert_eq!(cond.waiters(), 0);
    lock.unlock().unwrap();
    assert_eq!(w.wakes(), 2, "woken again when the lock came back");
    assert_eq!(w.ready(), Ok(()));
    assert!(lock.is_locked());
    lock.unlock().unwrap();
    assert_eq!(lock.unlock(), Err(NotOwnerError), "taken back exactly once");
}

#[test]
fn wait_raw_over_reentrant_lock_restores_every_level() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    take(&lock, &a, 3);
    let mut w = waiting(&cond, &lock, a);
    assert!(!lock.is_locked(), "every level was released");
    assert_eq!(lock.levels_of(a.owner()), 0);
    assert_eq!(lock.try_lock(&b, Reentry::Refuse), Ok(true));
    assert!(cond.notify_one());
    w.pending();
    lock.unlock(b.owner()).unwrap();
    assert_eq!(w.ready(), Ok(()));
    assert_eq!(lock.levels_of(a.owner()), 3);
    assert_eq!(lock.release_all(a.owner()), Ok(3));
    assert!(!lock.is_locked());
}

#[test]
fn wait_raw_when_not_held_fails_without_waiting() {
    let cond = Condition::new();
    let free = RawLock::new();
    let mut w = Hand::new(cond.wait_raw(&free, task_holder()));
    assert_eq!(w.ready(), Err(RawWaitError::NotHeld));
    assert_eq!(cond.waiters(), 0);
    assert!(!free.is_locked());

    let lock = RawReentrantLock::new();
    let (a, b) = (task_holder(), task_holder());
    take(&lock, &b, 2);
    let mut w = Hand::new(cond.wait_raw(&lock, a));
    assert_eq!(
        w.ready(),
        Err(RawWaitError::NotHeld),
        "held, but by another"
    );
    assert_eq!(cond.waiters(), 0);
    assert_eq!(
        lock.levels_of(b.owner()),
        2,
        "the owner's levels are untouched"
    );
    assert_eq!(cond.notify_all(), 0);

    assert_eq!(
        cond.wait_raw_blocking(&lock, a).err(),
        Some(NotOwnerError),
        "blocking form"
    );
    assert_eq!(cond.wait_raw_blocking(&free, a).err(), Some(NotOwnerError));
    assert_eq!(cond.waiters(), 0);
    assert_eq!(lock.levels_of(b.owner()), 2);
}

#[test]
fn notification_sent_right_after_the_release_is_not_missed() {
    for round in 0..200 {
        let lock = Arc::new(RawLock::new());
        let cond = Arc::new(Condition::new());
        let (tx, rx) = mpsc::channel();
        let (l2, c2) = (lock.clone(), cond.clone());
        let waiter = spawn_bounded(move || {
            let me = Holder::thread();
            assert_eq!(l2.lock_blocking(&me, None, false), Ok(true));
            tx.send(()).unwrap();
            let r = aiosync::block_on(c2.wait_raw(&*l2, me), Some(LIMIT));
            assert!(l2.is_locked(), "taken back");
            l2.unlock().unwrap();
            r
        });
        rx.recv_timeout(LIMIT).unwrap();
        // The waiter holds the lock until its wait has released it: by then it is queued.
        assert_eq!(
            lock.lock_blocking(&Holder::thread(), Some(LIMIT), false),
            Ok(true)
        );
        assert!(cond.notify_one(), "round {round}: the waiter was queued");
        lock.unlock().unwrap();
        assert_eq!(waiter.join(), Some(Ok(())), "round {round}");
    }
}

#[test]
fn wait_raw_in_a_tokio_task_notified_by_a_thread() {
    let lock = Arc::new(RawReentrantLock::new());
    let cond = Arc::new(Condition::new());
    let (l2, c2) = (lock.clone(), cond.clone());
    let (tx, rx) = mpsc::channel();
    let notifier = spawn_bounded(move || {
        rx.recv_timeout(LIMIT).unwrap();
        let me = Holder::thread();
        assert_eq!(
            l2.lock_blocking(&me, Reentry::Refuse, None, false),
            Ok(true)
        );
        let woke = c2.notify_one();
        l2.unlock(me.owner()).unwrap();
        woke
    });
    let (l, c) = (lock.clone(), cond.clone());
    run_mt(2, async move {
        tokio::spawn(async move {
            let id = OwnerId::new_unique();
            l.lock(Holder::task(id), Reentry::Refuse).await.unwrap();
            l.lock(Holder::task(id), Reentry::Allow).await.unwrap();
            tx.send(()).unwrap();
            assert_eq!(c.wait_raw(&*l, Holder::task(id)).await, Ok(()));
            assert_eq!(l.release_all(id), Ok(2));
        })
        .await
        .unwrap();
    });
    assert!(notifier.join(), "the task was queued before it released");
    assert!(!lock.is_locked());
}

#[test]
fn wait_raw_notifications_are_fifo() {
    let (lock, cond) = (RawLock::new(), Condition::new());
    let hs = [task_holder(), task_holder(), task_holder()];
    let mut ws: Vec<_> = hs
        .iter()
        .map(|&h| {
            assert!(lock.try_lock(&h));
            waiting(&cond, &lock, h)
        })
        .collect();
    assert_eq!(cond.notify(1), 1);
    assert_eq!([ws[0].wakes(), ws[1].wakes(), ws[2].wakes()], [1, 0, 0]);
    ws[1].pending();
    ws[2].pending();
    assert_eq!(ws[0].ready(), Ok(()));
    lock.unlock().unwrap();

    assert_eq!(cond.notify(2), 2);
    assert_eq!([ws[1].wakes(), ws[2].wakes()], [1, 1]);
    assert_eq!(ws[1].ready(), Ok(()));
    ws[2].pending(); // notified, waits for the lock
    lock.unlock().unwrap();
    assert_eq!(ws[2].ready(), Ok(()));
    lock.unlock().unwrap();
    assert_eq!(cond.waiters(), 0);
}

// ---------------------------------------------------------------------------------------
// RawWait::cancel
// ---------------------------------------------------------------------------------------

#[test]
fn cancel_while_listening_takes_the_lock_back() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let a = task_holder();
    take(&lock, &a, 2);
    let mut w = waiting(&cond, &lock, a);
    assert!(w.inner().cancel(), "must be polled to take the lock back");
    assert_eq!(cond.waiters(), 0, "withdrawn at once");
    assert_eq!(w.ready(), Err(RawWaitError::Cancelled));
    assert_eq!(lock.levels_of(a.owner()), 2);
    assert!(!cond.notify_one(), "nobody left to notify");
    assert_eq!(lock.release_all(a.owner()), Ok(2));
}

#[test]
fn cancel_while_listening_waits_for_the_lock() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    take(&lock, &a, 2);
    let mut w = waiting(&cond, &lock, a);
    take(&lock, &b, 1);
    assert!(w.inner().cancel());
    w.pending();
    assert!(w.inner().cancel(), "still relocking: poll it on");
    w.pending();
    assert!(lock.is_owned_by(b.owner()));
    lock.unlock(b.owner()).unwrap();
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.ready(), Err(RawWaitError::Cancelled));
    assert_eq!(lock.levels_of(a.owner()), 2);
    assert!(!lock.has_waiters());
    assert_eq!(lock.release_all(a.owner()), Ok(2));
}

#[test]
fn cancel_before_start_or_after_the_end_does_nothing() {
    let (lock, cond) = (RawLock::new(), Condition::new());
    let me = task_holder();
    assert!(lock.try_lock(&me));
    let mut w = Hand::new(cond.wait_raw(&lock, me));
    assert!(!w.inner().cancel(), "not started: nothing to take back");
    assert!(lock.is_locked(), "nothing was released");
    assert_eq!(cond.waiters(), 0);
    // Polled anyway: it ends as cancelled, without touching the lock.
    assert_eq!(w.ready(), Err(RawWaitError::Cancelled));
    assert!(lock.is_locked());
    drop(w);
    assert!(lock.is_locked());

    let mut w = waiting(&cond, &lock, me);
    assert!(cond.notify_one());
    assert_eq!(w.ready(), Ok(()));
    assert!(!w.inner().cancel(), "finished: nothing to do");
    drop(w);
    assert!(lock.is_locked(), "a finished wait keeps the lock");
    lock.unlock().unwrap();
}

#[test]
fn cancel_of_a_notified_listener_passes_the_notification_on() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    take(&lock, &a, 1);
    let mut wa = waiting(&cond, &lock, a);
    take(&lock, &b, 1);
    let mut wb = waiting(&cond, &lock, b);

    assert_eq!(cond.notify(1), 1);
    assert_eq!((wa.wakes(), wb.wakes()), (1, 0));
    // Cancelled before it saw the notification: it goes to the next waiter now.
    assert!(wa.inner().cancel());
    assert_eq!(wb.wakes(), 1, "the second waiter wakes");
    assert_eq!(wa.ready(), Err(RawWaitError::Cancelled));
    assert!(lock.is_owned_by(a.owner()));
    wb.pending(); // notified, waits for the lock
    lock.unlock(a.owner()).unwrap();
    assert_eq!(wb.ready(), Ok(()));
    assert!(lock.is_owned_by(b.owner()));
    lock.unlock(b.owner()).unwrap();
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn cancel_while_relocking_after_a_notification_passes_it_on() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b, c) = (task_holder(), task_holder(), task_holder());
    take(&lock, &a, 2);
    let mut wa = waiting(&cond, &lock, a);
    take(&lock, &b, 1);
    let mut wb = waiting(&cond, &lock, b);
    take(&lock, &c, 1);

    assert!(cond.notify_one());
    wa.pending(); // saw the notification, now waits for c's lock
    assert!(wa.inner().cancel());
    wa.pending();
    assert_eq!(
        wb.wakes(),
        0,
        "the notification is still the first waiter's"
    );
    lock.unlock(c.owner()).unwrap();
    assert_eq!(wa.ready(), Err(RawWaitError::Cancelled));
    assert_eq!(lock.levels_of(a.owner()), 2);
    assert_eq!(wb.wakes(), 1, "handed on once the cancelled wait ended");
    wb.pending();
    assert_eq!(lock.release_all(a.owner()), Ok(2));
    assert_eq!(wb.ready(), Ok(()));
    assert!(lock.is_owned_by(b.owner()));
    lock.unlock(b.owner()).unwrap();
}

// ---------------------------------------------------------------------------------------
// Dropping a RawWait
// ---------------------------------------------------------------------------------------

#[test]
fn drop_while_listening_leaves_the_lock_free() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    take(&lock, &a, 2);
    let w = waiting(&cond, &lock, a);
    drop(w);
    assert_eq!(cond.waiters(), 0);
    assert!(
        !lock.is_locked(),
        "a dropped wait does not take the lock back"
    );
    assert_eq!(lock.levels_of(a.owner()), 0);
    assert_eq!(lock.try_lock(&b, Reentry::Refuse), Ok(true));
    lock.unlock(b.owner()).unwrap();
    assert!(!cond.notify_one());
}

#[test]
fn drop_of_a_notified_listener_passes_the_notification_on() {
    let (lock, cond) = (RawLock::new(), Condition::new());
    let (a, b) = (task_holder(), task_holder());
    assert!(lock.try_lock(&a));
    let wa = waiting(&cond, &lock, a);
    assert!(lock.try_lock(&b));
    let mut wb = waiting(&cond, &lock, b);
    assert!(cond.notify_one());
    drop(wa);
    assert_eq!(wb.wakes(), 1, "the second waiter wakes");
    assert_eq!(wb.ready(), Ok(()));
    lock.unlock().unwrap();
    assert!(!lock.is_locked());
}

#[test]
fn drop_while_relocking_gives_up_its_place_in_the_lock_queue() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b, c) = (task_holder(), task_holder(), task_holder());
    take(&lock, &a, 1);
    let mut wa = waiting(&cond, &lock, a);
    take(&lock, &b, 1);
    assert!(wa.inner().cancel());
    wa.pending(); // queued for the lock
    let mut next = Hand::new(lock.lock(c, Reentry::Refuse));
    next.pending();
    drop(wa);
    lock.unlock(b.owner()).unwrap();
    assert_eq!(next.wakes(), 1, "the dropped relock did not keep the lock");
    assert_eq!(next.ready(), Ok(()));
    assert_eq!(lock.levels_of(a.owner()), 0);
    lock.unlock(c.owner()).unwrap();
    assert!(!lock.is_locked());
    assert!(!lock.has_waiters());
}

/// The condition's promise ("a notification given to a waiter that is then cancelled —
/// its future dropped — is passed to the next waiter rather than lost") must hold also
/// when the waiter is dropped after it saw the notification, while it waits for the lock.
#[test]
fn drop_while_relocking_after_a_notification_passes_it_on() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let (a, b, c) = (task_holder(), task_holder(), task_holder());
    take(&lock, &a, 1);
    let mut wa = waiting(&cond, &lock, a);
    take(&lock, &b, 1);
    let mut wb = waiting(&cond, &lock, b);
    take(&lock, &c, 1);
    assert!(cond.notify_one());
    wa.pending(); // saw the notification, now waits for c's lock
    drop(wa);
    assert_eq!(wb.wakes(), 1, "the second waiter must get the notification");
    lock.unlock(c.owner()).unwrap();
    assert_eq!(wb.ready(), Ok(()));
    lock.unlock(b.owner()).unwrap();
}
