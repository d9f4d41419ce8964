//! Integration tests for `aiosync::Condition` with `aiosync::Mutex`: FIFO notification,
//! notifications not stored, a cancelled notified waiter passing its notification on, and
//! other cancellations (drops, a tokio timeout). Blocking timeouts, predicates and a
//! producer/consumer mixing threads and tokio tasks: `condition_timeouts_predicates.rs`.

mod common;

use aiosync::{Condition, ConditionWait, Mutex, MutexGuard};
use common::*;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// helpers

/// A hand-polled condition waiter.
struct Waiter<'a, T> {
    probe: Probe,
    fut: Pin<Box<ConditionWait<'a, T>>>,
}

impl<'a, T> Waiter<'a, T> {
    fn poll(&mut self) -> Poll<MutexGuard<'a, T>> {
        self.probe.poll(self.fut.as_mut())
    }
}

/// Locks `m` (which must be free), starts `c.wait(guard)` and polls it once, so the
/// waiter is queued and the lock released. Waiters made one after another queue in order.
fn queue_waiter<'a, T>(m: &'a Mutex<T>, c: &'a Condition) -> Waiter<'a, T> {
    let g = m
        .try_lock()
        .expect("the mutex is free when a waiter queues");
    let before = c.waiters();
    let mut w = Waiter {
        probe: Probe::new(),
        fut: Box::pin(c.wait(g)),
    };
    assert!(w.poll().is_pending(), "no notification yet");
    assert!(!m.is_locked(), "the first poll releases the lock");
    assert_eq!(c.waiters(), before + 1);
    w
}

// ---------------------------------------------------------------------------------------
// notify

#[test]
fn notify_without_waiters_returns_zero_and_is_not_stored() {
    let m = Mutex::new(0u32);
    let c = Condition::new();
    assert_eq!(c.notify(3), 0);
    assert!(!c.notify_one());
    assert_eq!(c.notify_all(), 0);
    assert_eq!(c.waiters(), 0);

    // A waiter arriving afterwards does not see those notifications.
    let mut w = queue_waiter(&m, &c);
    assert!(w.poll().is_pending());
    assert_eq!(w.probe.wakes(), 0);

    let (g, notified) = c.wait_blocking_timeout(m.try_lock().unwrap(), Duration::from_millis(5));
    assert!(!notified);
    drop(g);

    assert_eq!(c.notify(1), 1);
    let g = match w.poll() {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("notified waiter did not complete"),
    };
    assert_eq!(*g, 0);
}

#[test]
fn notify_n_wakes_exactly_n_in_fifo_order() {
    let m = Mutex::new(Vec::<usize>::new());
    let c = Condition::new();
    let mut ws: Vec<Waiter<'_, Vec<usize>>> = (0..5).map(|_| queue_waiter(&m, &c)).collect();
    assert_eq!(c.waiters(), 5);

    assert_eq!(c.notify(2), 2);
    assert_eq!(c.waiters(), 3);
    let wakes: Vec<usize> = ws.iter().map(|w| w.probe.wakes()).collect();
    assert_eq!(
        wakes,
        [1, 1, 0, 0, 0],
        "the two oldest waiters, and only they"
    );
    for w in &mut ws[2..] {
        assert!(w.poll().is_pending(), "not notified");
    }

    // Waiter 0 takes the lock back at once; waiter 1 then has to wait for it.
    let mut g0 = match ws[0].poll() {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("waiter 0 was notified and the lock is free"),
    };
    assert!(m.is_locked());
    g0.push(0);
    assert!(ws[1].poll().is_pending(), "notified, but the lock is held");
    let before = ws[1].probe.wakes();
    drop(g0);
    assert!(
        ws[1].probe.wakes() > before,
        "unlocking wakes the re-locking waiter"
    );
    let mut g1 = match ws[1].poll() {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("waiter 1 should get the lock"),
    };
    g1.push(1);
    drop(g1);

    // The rest, one at a time, still in order.
    for i in 2..5 {
        assert_eq!(c.notify(1), 1);
        for (j, w) in ws.iter().enumerate().skip(i) {
            let expect = usize::from(j == i);
            assert_eq!(w.probe.wakes(), expect, "notify(1) #{i} woke waiter {j}?");
        }
        let mut g = match ws[i].poll() {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("waiter {i} should complete"),
        };
        g.push(i);
    }
    assert_eq!(c.waiters(), 0);
    assert_eq!(*m.try_lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn notify_more_than_waiting_returns_the_number_woken() {
    let m = Mutex::new(());
    let c = Condition::new();
    let mut ws: Vec<_> = (0..3).map(|_| queue_waiter(&m, &c)).collect();
    assert_eq!(c.notify(10), 3);
    assert_eq!(c.notify(10), 0, "the surplus was not stored");
    for w in &mut ws {
        assert_eq!(w.probe.wakes(), 1);
        assert!(w.poll().is_ready());
        // The guard is dropped at once, so the next one gets the lock.
    }
}

#[test]
fn notify_all_wakes_every_current_waiter_only() {
    let m = Mutex::new(0usize);
    let c = Condition::new();
    let mut ws: Vec<_> = (0..4).map(|_| queue_waiter(&m, &c)).collect();
    assert_eq!(c.notify_all(), 4);
    assert_eq!(c.waiters(), 0);

    // A waiter that queues after notify_all waits for the next one.
    let mut late = queue_waiter(&m, &c);

    for w in &mut ws {
        assert_eq!(w.probe.wakes(), 1);
        match w.poll() {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("notified waiter must complete"),
        }
    }
    assert_eq!(*m.try_lock().unwrap(), 4);
    assert!(late.poll().is_pending());
    assert_eq!(late.probe.wakes(), 0);
    assert!(c.notify_one());
    assert!(late.poll().is_ready());
}

// ---------------------------------------------------------------------------------------
// cancellation

#[test]
fn notified_then_dropped_waiter_passes_the_notification_on() {
    let m = Mutex::new(());
    let c = Condition::new();
    let w0 = queue_waiter(&m, &c);
    let mut w1 = queue_waiter(&m, &c);
    let mut w2 = queue_waiter(&m, &c);

    assert_eq!(c.notify(1), 1);
    assert_eq!(w0.probe.wakes(), 1);
    assert_eq!(w1.probe.wakes(), 0);

    drop(w0); // cancelled before it saw its notification
    assert_eq!(
        w1.probe.wakes(),
        1,
        "the notification moved to the next waiter"
    );
    assert_eq!(w2.probe.wakes(), 0, "and only to it");
    assert_eq!(c.waiters(), 1);
    assert!(
        !m.is_locked(),
        "the cancelled waiter does not hold the lock"
    );

    assert!(w1.poll().is_ready(), "the next waiter completes");
    assert!(w2.poll().is_pending());
    assert!(c.notify_one());
    assert!(w2.poll().is_ready());
}

#[test]
fn dropped_waiter_without_notification_just_leaves() {
    let m = Mutex::new(());
    let c = Condition::new();
    let w0 = queue_waiter(&m, &c);
    let mut w1 = queue_waiter(&m, &c);
    drop(w0);
    assert_eq!(c.waiters(), 1);
    assert_eq!(w1.probe.wakes(), 0, "no notification to pass on");
    assert_eq!(c.notify(1), 1, "the remaining waiter is first in line");
    assert!(w1.poll().is_ready());
}

#[test]
fn notification_of_last_dropped_waiter_is_not_stored() {
    let m = Mutex::new(());
    let c = Condition::new();
    let w0 = queue_waiter(&m, &c);
    assert!(c.notify_one());
    drop(w0);
    assert_eq!(c.waiters(), 0);
    let mut late = queue_waiter(&m, &c);
    assert!(
        late.poll().is_pending(),
        "nothing was stored for a later waiter"
    );
    assert_eq!(late.probe.wakes(), 0);
}

#[test]
fn unpolled_wait_just_releases_the_guard() {
    let m = Mutex::new(());
    let c = Condition::new();
    let w = c.wait(m.try_lock().unwrap());
    assert!(m.is_locked(), "the guard is held until the first poll");
    assert_eq!(c.waiters(), 0);
    drop(w);
    assert!(!m.is_locked());
    assert_eq!(c.notify_all(), 0);
}

#[test]
fn dropped_while_relocking_leaves_the_mutex_usable() {
    let m = Mutex::new(());
    let c = Condition::new();
    let mut w = queue_waiter(&m, &c);
    let holder = m.try_lock().unwrap();
    assert!(c.notify_one());
    assert!(w.poll().is_pending(), "notified, waiting for the lock");
    drop(w);
    drop(holder);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some(), "no one is left queued for the lock");
}

#[tokio::test]
async fn tokio_timeout_cancels_wait() {
    let m = Mutex::new(());
    let c = Condition::new();
    let g = m.lock().await;
    let r = tokio::time::timeout(Duration::from_millis(10), c.wait(g)).await;
    assert!(r.is_err());
    assert_eq!(c.waiters(), 0, "the timed-out waiter left");
    assert!(!m.is_locked(), "a cancelled wait gave up the guard");
    let _g = within(m.lock()).await;
}
