//! Integration tests for `Condition::wait_raw_blocking` over `RawLock` and
//! `RawReentrantLock` (timeouts, every level back, notified by another thread, the
//! listener driven by hand, the lock taken back when the waiting thread panics), and
//! producers and consumers mixing threads and tasks, blocking and async raw waits on one
//! condition.

mod common;

use aiosync::raw::{Holder, RawLock, RawReentrantLock, Reentry};
use aiosync::{Condition, OwnerId};
use common::raw::{take, SHORT};
use common::*;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;

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
