//! Integration tests for `Condition::wait_reentrant` / `wait_reentrant_blocking` over a
//! `ReentrantMutex` with nested guards: every level released while waiting and taken
//! back after (threads, scoped tokio tasks, timeouts), and a dropped wait keeping the
//! owner's outer guards valid.

mod common;

use aiosync::{task, Condition, OwnerId, ReentrantMutex};
use common::raw::SHORT;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

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
