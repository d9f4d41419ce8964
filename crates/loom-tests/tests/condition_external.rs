//! Loom models of condition waits over a lock defined outside aiosync
//! (`Condition::wait_external_blocking`): a notifier racing the waiter's release and wait
//! loses no notification, and a waiter that gives up as a notification arrives passes it
//! on to the waiter behind it.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p aiosync-loom-tests --release --test condition_external`
#![cfg(loom)]

use aiosync_loom_tests::{model, poll_once};

use aiosync::raw::{Holder, RawLock};
use aiosync::{Condition, ExternalLock, Notified};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::convert::Infallible;

/// The "foreign" lock: a guardless lock with `lock()` / `unlock()` (a [`RawLock`], so
/// loom sees its synchronization), plus a flag it protects.
struct Foreign {
    raw: RawLock,
    ready: UnsafeCell<bool>,
}

// SAFETY: `ready` is only accessed with `raw` held (loom checks it on every interleaving).
unsafe impl Sync for Foreign {}

impl Foreign {
    fn new() -> Foreign {
        Foreign {
            raw: RawLock::new(),
            ready: UnsafeCell::new(false),
        }
    }
    fn lock(&self) {
        let got = self.raw.lock_blocking(&Holder::thread(), None, false);
        assert_eq!(got, Ok(true));
    }
    fn unlock(&self) {
        self.raw.unlock().unwrap();
    }
    /// Caller holds the lock.
    fn set_ready(&self) {
        // SAFETY: the lock is held, which excludes every other access (checked by loom).
        self.ready.with_mut(|r| unsafe { *r = true });
    }
    /// Caller holds the lock.
    fn is_ready(&self) -> bool {
        // SAFETY: as in `set_ready`.
        self.ready.with(|r| unsafe { *r })
    }
}

impl ExternalLock for Foreign {
    type Saved = ();
    type Error = Infallible;
    fn is_owned(&self) -> Result<bool, Infallible> {
        Ok(self.raw.is_locked())
    }
    fn release_save(&self) -> Result<(), Infallible> {
        self.unlock();
        Ok(())
    }
    fn acquire_restore(&self, (): ()) -> Result<(), Infallible> {
        self.lock();
        Ok(())
    }
}

/// The waiter checks a flag in a loop and waits with no timeout; the notifier sets it
/// under the lock and notifies once, at any point of the waiter's check / release /
/// wait. A lost notification leaves the waiter parked forever: loom reports the deadlock.
#[test]
fn external_wait_misses_no_notification() {
    model(|| {
        let lock = Arc::new(Foreign::new());
        let cond = Arc::new(Condition::new());
        let (lock2, cond2) = (lock.clone(), cond.clone());
        let notifier = thread::spawn(move || {
            lock2.lock();
            lock2.set_ready();
            cond2.notify_external(&*lock2, 1).unwrap();
            lock2.unlock();
        });
        lock.lock();
        while !lock.is_ready() {
            let r = cond.wait_external_blocking(&*lock, None);
            assert_eq!(
                r,
                Ok(true),
                "only a notification ends a wait without a limit"
            );
            assert!(lock.raw.is_locked(), "held again after the wait");
        }
        lock.unlock();
        notifier.join().unwrap();
        assert_eq!(cond.waiters(), 0);
    });
}

/// The waiter polls its waiter once and gives up (as a timeout does) while a notifier
/// takes the lock and notifies once; a second listener queues behind the waiter. The one
/// notification ends with exactly one of them, and the waiter holds the lock again.
#[test]
fn external_wait_giving_up_passes_the_notification_on() {
    model(|| {
        let lock = Arc::new(Foreign::new());
        let cond = Arc::new(Condition::new());
        let (lock2, cond2) = (lock.clone(), cond.clone());
        lock.lock();
        let notifier = thread::spawn(move || {
            lock2.lock();
            let woken = cond2.notify_external(&*lock2, 1).unwrap();
            lock2.unlock();
            woken
        });
        let mut behind: Option<Notified<'_>> = None;
        let r = cond.wait_external_blocking_with(&*lock, |notified| {
            behind = Some(cond.listen());
            Ok(poll_once(notified).is_ready())
        });
        let waiter_notified = r.unwrap();
        assert!(lock.raw.is_locked(), "held again after giving up");
        // Released before joining: the notifier may still wait for the lock.
        lock.unlock();
        let woken = notifier.join().unwrap();
        let mut behind = behind.expect("set in the waiting step");
        let behind_notified = poll_once(&mut behind).is_ready();
        // Whenever the notifier has the lock, one of the two is queued.
        assert_eq!(woken, 1);
        assert_ne!(
            waiter_notified, behind_notified,
            "the one notification went to exactly one waiter"
        );
        drop(behind);
        assert_eq!(cond.waiters(), 0);
        assert!(!lock.raw.is_locked());
    });
}
