//! Integration tests for condition waits over the raw layer: `Condition::wait_raw` and
//! `wait_raw_blocking` over `RawLock` and `RawReentrantLock` (every level released and
//! taken back, no missed notification, FIFO, `RawWait::cancel`, drops), and
//! `wait_reentrant` / `wait_reentrant_blocking` over a `ReentrantMutex` with nested guards.

mod common;

use aiosync::raw::{Holder, RawLock, RawReentrantLock, Reentry, Relock};
use aiosync::{task, Condition, NotOwnerError, OwnerId, RawWait, RawWaitError, ReentrantMutex};
use common::*;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

/// A wait that is meant to time out.
const SHORT: Duration = Duration::from_millis(20);

/// A fresh task identity running on this thread.
fn task_holder() -> Holder {
    Holder::task(OwnerId::new_unique())
}

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

/// Takes a reentrant lock at `levels` levels for `holder`.
fn take(lock: &RawReentrantLock, holder: &Holder, levels: usize) {
    for _ in 0..levels {
        assert_eq!(lock.try_lock(holder, Reentry::Allow), Ok(true));
    }
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

// ---------------------------------------------------------------------------------------
// wait_raw_blocking
// ---------------------------------------------------------------------------------------

#[test]
fn wait_raw_blocking_times_out_with_every_level_back() {
    let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    let me = Holder::thread();
    take(&lock, &me, 2);
    let w = cond.wait_raw_blocking(&lock, me).unwrap();
    assert!(!lock.is_locked());
    assert_eq!(cond.waiters(), 1);
    assert!(!w.wait(Some(SHORT)), "nobody notified");
    assert_eq!(lock.levels_of(me.owner()), 2);
    assert_eq!(cond.waiters(), 0, "the timed-out waiter left");
    assert_eq!(lock.release_all(me.owner()), Ok(2));
}

#[test]
fn wait_raw_blocking_notified_by_another_thread() {
    let lock = Arc::new(RawReentrantLock::new());
    let cond = Arc::new(Condition::new());
    let me = Holder::thread();
    take(&lock, &me, 3);
    let (l2, c2) = (lock.clone(), cond.clone());
    let w = cond.wait_raw_blocking(&*lock, me).unwrap();
    let notifier = spawn_bounded(move || {
        let other = Holder::thread();
        // Only possible because the waiter released every level.
        let got = l2.lock_blocking(&other, Reentry::Refuse, Some(LIMIT), false);
        let woke = c2.notify_one();
        l2.unlock(other.owner()).unwrap();
        (got, woke)
    });
    assert!(w.wait(Some(LIMIT)), "notified");
    assert_eq!(notifier.join(), (Ok(true), true));
    assert_eq!(lock.levels_of(me.owner()), 3);
    assert_eq!(lock.release_all(me.owner()), Ok(3));
}

#[test]
fn wait_raw_blocking_listener_driven_by_hand() {
    let (lock, cond) = (RawLock::new(), Condition::new());
    let me = Holder::thread();
    assert!(lock.try_lock(&me));
    let mut w = cond.wait_raw_blocking(&lock, me).unwrap();
    let probe = Probe::new();
    assert!(probe.poll(std::pin::Pin::new(w.listener())).is_pending());
    assert!(cond.notify_one());
    assert_eq!(probe.wakes(), 1);
    assert_eq!(
        probe.poll(std::pin::Pin::new(w.listener())),
        Poll::Ready(())
    );
    assert!(
        !lock.is_locked(),
        "still released until the wait is dropped"
    );
    drop(w);
    assert!(lock.is_locked());
    lock.unlock().unwrap();
}

#[test]
fn wait_raw_blocking_takes_the_lock_back_when_the_thread_panics() {
    let lock = Arc::new(RawReentrantLock::new());
    let cond = Arc::new(Condition::new());
    let (l2, c2) = (lock.clone(), cond.clone());
    let levels = spawn_bounded(move || {
        let me = Holder::thread();
        take(&l2, &me, 2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _w = c2.wait_raw_blocking(&*l2, me).unwrap();
            assert!(!l2.is_locked());
            panic!("interrupted while waiting");
        }));
        assert!(r.is_err());
        let levels = l2.levels_of(me.owner());
        l2.release_all(me.owner()).unwrap();
        levels
    })
    .join();
    assert_eq!(levels, 2);
    assert_eq!(cond.waiters(), 0);
    assert!(!lock.is_locked());
}

#[test]
fn wait_raw_blocking_panic_waits_for_the_lock_held_by_another() {
    let lock = Arc::new(RawLock::new());
    let cond = Arc::new(Condition::new());
    let (tx, rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (l2, c2) = (lock.clone(), cond.clone());
    let waiter = spawn_bounded(move || {
        let me = Holder::thread();
        assert!(l2.try_lock(&me));
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _w = c2.wait_raw_blocking(&*l2, me).unwrap();
            tx.send(()).unwrap();
            go_rx.recv_timeout(LIMIT).unwrap();
            panic!("interrupted while waiting");
        }));
        assert!(r.is_err());
        let held = l2.is_locked();
        l2.unlock().map(|()| held)
    });
    rx.recv_timeout(LIMIT).unwrap();
    let other = Holder::thread();
    assert!(lock.try_lock(&other), "released while waiting");
    go_tx.send(()).unwrap();
    wait_until("the panicking waiter queues for the lock", || {
        lock.has_waiters()
    });
    lock.unlock().unwrap();
    assert_eq!(waiter.join(), Ok(true), "the lock came back to the waiter");
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------------------------------
// wait_reentrant / wait_reentrant_blocking
// ---------------------------------------------------------------------------------------

#[test]
fn wait_reentrant_releases_every_nested_level_while_waiting() {
    let m = Arc::new(ReentrantMutex::new(AtomicU64::new(0)));
    let c = Arc::new(Condition::new());
    let x = OwnerId::new_unique();
    let g1 = m.try_lock_as(x).unwrap();
    let g2 = m.try_lock_as(x).unwrap();
    assert_eq!(m.levels_of(x), 2);
    let mut w = Hand::new(c.wait_reentrant(g2));
    w.pending();
    assert!(!m.is_locked(), "both levels released while waiting");
    let (m2, c2) = (m.clone(), c.clone());
    let woke = spawn_bounded(move || {
        let g = m2
            .lock_blocking_timeout(LIMIT)
            .expect("another thread can lock while the owner waits");
        g.fetch_add(1, Ordering::Relaxed);
        c2.notify_one()
    })
    .join();
    assert!(woke);
    assert_eq!(w.wakes(), 1);
    let g2 = w.ready();
    assert_eq!(m.levels_of(x), 2, "all back after");
    assert_eq!(g2.load(Ordering::Relaxed), 1);
    assert_eq!(g1.load(Ordering::Relaxed), 1);
    drop(g2);
    assert_eq!(m.levels_of(x), 1);
    drop(g1);
    assert!(!m.is_locked());
}

#[test]
fn wait_reentrant_in_a_scoped_tokio_task() {
    let m = Arc::new(ReentrantMutex::new(AtomicU64::new(0)));
    let c = Arc::new(Condition::new());
    let (tx, rx) = mpsc::channel();
    let (m2, c2) = (m.clone(), c.clone());
    let notifier = spawn_bounded(move || {
        rx.recv_timeout(LIMIT).unwrap();
        let g = m2.lock_blocking(); // only once the task released both levels
        g.store(7, Ordering::Relaxed);
        c2.notify_one()
    });
    let (m3, c3) = (m.clone(), c.clone());
    run_mt(2, async move {
        tokio::spawn(task::scope(async move {
            let me = OwnerId::current_task().unwrap();
            let g1 = m3.lock().await.unwrap();
            let g2 = m3.lock().await.unwrap();
            tx.send(()).unwrap();
            let g2 = c3.wait_reentrant(g2).await;
            assert_eq!(m3.levels_of(me), 2);
            assert_eq!(g1.load(Ordering::Relaxed), 7);
            drop(g2);
            drop(g1);
        }))
        .await
        .unwrap();
    });
    assert!(notifier.join(), "the task was queued before it released");
    assert!(!m.is_locked());
}

#[test]
fn wait_reentrant_blocking_with_nested_guards() {
    let m = Arc::new(ReentrantMutex::new(AtomicU64::new(0)));
    let c = Arc::new(Condition::new());
    let me = OwnerId::current_thread();
    let g1 = m.lock_blocking();
    let g2 = m.lock_blocking();
    let (m2, c2) = (m.clone(), c.clone());
    let notifier = spawn_bounded(move || {
        let g = m2
            .lock_blocking_timeout(LIMIT)
            .expect("released while waiting");
        g.fetch_add(1, Ordering::Relaxed);
        c2.notify_one()
    });
    let (g2, notified) = c.wait_reentrant_blocking(g2, Some(LIMIT));
    assert!(notified);
    assert!(notifier.join());
    assert_eq!(m.levels_of(me), 2);
    assert_eq!(g1.load(Ordering::Relaxed), 1);
    drop(g2);
    drop(g1);
    assert!(!m.is_locked());
}

#[test]
fn wait_reentrant_blocking_timeout_keeps_every_level() {
    let m = Arc::new(ReentrantMutex::new(()));
    let c = Condition::new();
    let me = OwnerId::current_thread();
    let g1 = m.lock_blocking();
    let g2 = m.lock_blocking();
    let g3 = m.lock_blocking();
    let (g3, notified) = c.wait_reentrant_blocking(g3, Some(SHORT));
    assert!(!notified);
    assert_eq!(m.levels_of(me), 3);
    assert_eq!(c.waiters(), 0);
    let m2 = m.clone();
    let other = spawn_bounded(move || m2.try_lock().is_some()).join();
    assert!(!other, "held again by its owner");
    drop((g3, g2, g1));
    assert!(!m.is_locked());
}

/// A `ReentrantWait` over one of several nested guards, dropped while waiting: the
/// other guards of the owner are still alive, so the lock must not end up another
/// owner's while they are (their drops would release that owner's levels).
#[test]
fn dropped_reentrant_wait_keeps_outer_guards_valid() {
    let m = ReentrantMutex::new(());
    let c = Condition::new();
    let (x, y) = (OwnerId::new_unique(), OwnerId::new_unique());
    let g1 = m.try_lock_as(x).unwrap();
    let g2 = m.try_lock_as(x).unwrap();
    let mut w = Hand::new(c.wait_reentrant(g2));
    w.pending();
    drop(w); // e.g. a select! or a timeout around the wait
    let gy = m.try_lock_as(y);
    assert!(
        gy.is_none(),
        "another owner got the lock while x's guard is alive"
    );
    drop(g1);
    assert!(!m.is_locked());
}

// ---------------------------------------------------------------------------------------
// Producers and consumers: threads and tasks, blocking and async waits, one condition
// ---------------------------------------------------------------------------------------

/// Items counted under a reentrant raw lock; consumers wait on `cond` while none is there.
#[derive(Default)]
struct Stock {
    lock: RawReentrantLock,
    cond: Condition,
    items: AtomicU64,
    done: AtomicBool,
    taken: AtomicU64,
}

impl Stock {
    /// Adds one item; the caller holds the lock.
    fn put_locked(&self) {
        let v = black_box(self.items.load(Ordering::Relaxed));
        self.items.store(v + 1, Ordering::Relaxed);
        self.cond.notify_one();
    }

    /// Takes one item if there is one; the caller holds the lock.
    fn take_locked(&self) -> bool {
        let v = black_box(self.items.load(Ordering::Relaxed));
        if v == 0 {
            return false;
        }
        self.items.store(v - 1, Ordering::Relaxed);
        self.taken.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn consume_blocking(&self) {
        let me = Holder::thread();
        loop {
            assert_eq!(
                self.lock.lock_blocking(&me, Reentry::Refuse, None, false),
                Ok(true)
            );
            while !self.take_locked() {
                if self.done.load(Ordering::Relaxed) {
                    self.lock.unlock(me.owner()).unwrap();
                    return;
                }
                let w = self.cond.wait_raw_blocking(&self.lock, me).unwrap();
                assert!(w.wait(Some(LIMIT)), "a notification was lost");
            }
            self.lock.unlock(me.owner()).unwrap();
        }
    }

    /// Tells the consumers to stop once no item is left.
    fn finish(&self) {
        let me = Holder::thread();
        assert_eq!(
            self.lock.lock_blocking(&me, Reentry::Refuse, None, false),
            Ok(true)
        );
        self.done.store(true, Ordering::Relaxed);
        self.cond.notify_all();
        self.lock.unlock(me.owner()).unwrap();
    }

    async fn consume(&self) {
        let id = OwnerId::new_unique();
        loop {
            self.lock
                .lock(Holder::task(id), Reentry::Refuse)
                .await
                .unwrap();
            while !self.take_locked() {
                if self.done.load(Ordering::Relaxed) {
                    self.lock.unlock(id).unwrap();
                    return;
                }
                let r = within(self.cond.wait_raw(&self.lock, Holder::task(id))).await;
                assert_eq!(r, Ok(()));
            }
            self.lock.unlock(id).unwrap();
        }
    }
}

#[test]
fn producers_and_consumers_mixing_threads_and_tasks() {
    const ITEMS: u64 = 500;
    let stock = Arc::new(Stock::default());
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let s = stock.clone();
            spawn_bounded(move || s.consume_blocking())
        })
        .collect();
    let s = stock.clone();
    let producer = spawn_bounded(move || {
        let me = Holder::thread();
        for _ in 0..ITEMS {
            assert_eq!(
                s.lock.lock_blocking(&me, Reentry::Refuse, None, false),
                Ok(true)
            );
            s.put_locked();
            s.lock.unlock(me.owner()).unwrap();
        }
    });
    let s = stock.clone();
    run_mt(3, async move {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.consume().await })
            })
            .collect();
        let p = s.clone();
        tokio::spawn(async move {
            let id = OwnerId::new_unique();
            for i in 0..ITEMS {
                p.lock
                    .lock(Holder::task(id), Reentry::Refuse)
                    .await
                    .unwrap();
                p.put_locked();
                p.lock.unlock(id).unwrap();
                if i % 8 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
        .await
        .unwrap();
        // Both producers done: the consumers drain what is left, then stop.
        tokio::task::spawn_blocking(move || {
            producer.join();
            s.finish();
        })
        .await
        .unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for c in consumers {
        c.join();
    }
    assert_eq!(stock.taken.load(Ordering::Relaxed), 2 * ITEMS);
    assert_eq!(stock.items.load(Ordering::Relaxed), 0);
    assert!(!stock.lock.is_locked());
    assert_eq!(stock.cond.waiters(), 0);
}
