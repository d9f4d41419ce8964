//! Integration tests for condition waits over a lock defined outside aiosync:
//! `Condition::wait_external_blocking`, `wait_external_blocking_with` and
//! `notify_external` over a test-defined reentrant `ExternalLock` (ownership checked, the
//! saved levels restored, no notification lost between the release and the wait, the lock
//! taken back after a timeout, an error or a panic, and every lock error propagated).

mod common;

use aiosync::{Condition, ExternalLock, ExternalLockError};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

/// A wait that is meant to time out.
const SHORT: Duration = Duration::from_millis(20);

/// The lock's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failed(&'static str);

/// A thread-owned reentrant lock with no guards, as a binding's lock object is: `Saved`
/// is the level count, and each step can be made to fail once, or to run a hook right
/// after the release (inside the window where a notification could be lost).
#[derive(Default)]
struct TestLock {
    state: Mutex<(Option<ThreadId>, usize)>,
    freed: Condvar,
    fail_release: Mutex<Option<Failed>>,
    fail_restore: Mutex<Option<Failed>>,
    after_release: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    restores: AtomicUsize,
}

impl TestLock {
    fn lock(&self) {
        let me = thread::current().id();
        let mut s = self.state.lock().unwrap();
        while s.0.is_some_and(|o| o != me) {
            s = self.freed.wait(s).unwrap();
        }
        *s = (Some(me), s.1 + 1);
    }

    fn unlock(&self) {
        let mut s = self.state.lock().unwrap();
        assert_eq!(s.0, Some(thread::current().id()), "unlocked by its owner");
        s.1 -= 1;
        if s.1 == 0 {
            s.0 = None;
            self.freed.notify_all();
        }
    }

    /// The levels the calling thread holds.
    fn levels(&self) -> usize {
        let s = self.state.lock().unwrap();
        if s.0 == Some(thread::current().id()) {
            s.1
        } else {
            0
        }
    }
}

impl ExternalLock for TestLock {
    type Saved = usize;
    type Error = Failed;

    fn is_owned(&self) -> Result<bool, Failed> {
        Ok(self.levels() > 0)
    }

    fn release_save(&self) -> Result<usize, Failed> {
        if let Some(e) = self.fail_release.lock().unwrap().take() {
            return Err(e);
        }
        let levels = {
            let mut s = self.state.lock().unwrap();
            let levels = s.1;
            *s = (None, 0);
            levels
        };
        self.freed.notify_all();
        if let Some(hook) = self.after_release.lock().unwrap().take() {
            hook();
        }
        Ok(levels)
    }

    fn acquire_restore(&self, levels: usize) -> Result<(), Failed> {
        self.restores.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.fail_restore.lock().unwrap().take() {
            return Err(e);
        }
        let me = thread::current().id();
        let mut s = self.state.lock().unwrap();
        while s.0.is_some() {
            s = self.freed.wait(s).unwrap();
        }
        *s = (Some(me), levels);
        Ok(())
    }
}

#[test]
fn wait_and_notify_without_the_lock_are_refused() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    assert_eq!(
        cond.wait_external_blocking(&lock, None),
        Err(ExternalLockError::NotHeld)
    );
    assert_eq!(
        cond.notify_external(&lock, 1),
        Err(ExternalLockError::NotHeld)
    );
    assert_eq!(cond.waiters(), 0, "nothing was queued");
    assert_eq!(
        lock.restores.load(Ordering::SeqCst),
        0,
        "nothing was released"
    );
}

#[test]
fn timeout_takes_every_level_back() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    lock.lock();
    assert_eq!(cond.wait_external_blocking(&lock, Some(SHORT)), Ok(false));
    assert_eq!(lock.levels(), 2, "both levels back after the timeout");
    assert_eq!(cond.waiters(), 0, "the timed-out waiter withdrew");
    // A zero timeout still releases and re-acquires, as threading's `wait(0)` does.
    assert_eq!(
        cond.wait_external_blocking(&lock, Some(Duration::ZERO)),
        Ok(false)
    );
    assert_eq!(lock.levels(), 2);
    lock.unlock();
    lock.unlock();
}

/// A thread takes the lock the moment the waiter releases it and notifies, before the
/// waiter has begun to wait: the notification is not lost (the waiter was queued first).
#[test]
fn notify_between_release_and_wait_is_not_lost() {
    // 'static for the notifier thread the hook spawns.
    let lock: &'static TestLock = Box::leak(Box::default());
    let cond: &'static Condition = Box::leak(Box::new(Condition::new()));
    *lock.after_release.lock().unwrap() = Some(Box::new(move || {
        let notifier = spawn_bounded(move || {
            lock.lock();
            let woken = cond.notify_external(lock, 1);
            lock.unlock();
            woken
        });
        assert_eq!(notifier.join(), Ok(1), "the waiter was already queued");
    }));
    lock.lock();
    // LIMIT, not None: a lost notification fails the test instead of hanging it.
    assert_eq!(cond.wait_external_blocking(lock, Some(LIMIT)), Ok(true));
    assert_eq!(lock.levels(), 1);
    lock.unlock();
}

/// The same window through `wait_external_blocking_with`: the waiting step itself runs a
/// notifier to completion before it waits.
#[test]
fn waiting_step_sees_a_notification_sent_before_it_waits() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    let r = cond.wait_external_blocking_with(&lock, |notified| {
        thread::scope(|s| {
            s.spawn(|| {
                lock.lock();
                assert_eq!(cond.notify_external(&lock, 1), Ok(1));
                lock.unlock();
            });
        });
        Ok(aiosync::block_on(notified, Some(LIMIT)).is_some())
    });
    assert_eq!(r, Ok(true));
    assert_eq!(lock.levels(), 1);
    lock.unlock();
}

/// Producers and consumers on threads, each consumer waiting in a loop with the lock
/// held: every item is taken exactly once.
#[test]
fn producers_and_consumers_end_exact() {
    const PER_PRODUCER: usize = 200;
    let lock = TestLock::default();
    let cond = Condition::new();
    let items = Mutex::new(0usize); // guarded by `lock`; the std Mutex only satisfies Rust
    let taken = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_PRODUCER {
                    lock.lock();
                    *items.lock().unwrap() += 1;
                    cond.notify_external(&lock, 1).unwrap();
                    lock.unlock();
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..PER_PRODUCER {
                    lock.lock();
                    lock.lock(); // two levels: both released while waiting, both back
                    while *items.lock().unwrap() == 0 {
                        let notified = cond.wait_external_blocking(&lock, Some(LIMIT));
                        assert_eq!(lock.levels(), 2);
                        assert!(notified.is_ok());
                    }
                    *items.lock().unwrap() -= 1;
                    taken.fetch_add(1, Ordering::SeqCst);
                    lock.unlock();
                    lock.unlock();
                }
            });
        }
    });
    assert_eq!(taken.load(Ordering::SeqCst), 2 * PER_PRODUCER);
    assert_eq!(*items.lock().unwrap(), 0);
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn failing_release_propagates_and_waits_for_nothing() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    *lock.fail_release.lock().unwrap() = Some(Failed("release"));
    assert_eq!(
        cond.wait_external_blocking(&lock, None),
        Err(ExternalLockError::Lock(Failed("release")))
    );
    assert_eq!(lock.levels(), 1, "still held: it was never released");
    assert_eq!(
        lock.restores.load(Ordering::SeqCst),
        0,
        "nothing to take back"
    );
    assert_eq!(cond.waiters(), 0, "the waiter withdrew");
    lock.unlock();
}

#[test]
fn failing_restore_propagates() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    *lock.fail_restore.lock().unwrap() = Some(Failed("restore"));
    assert_eq!(
        cond.wait_external_blocking(&lock, Some(SHORT)),
        Err(ExternalLockError::Lock(Failed("restore")))
    );
    assert_eq!(lock.levels(), 0, "the failed restore left it released");
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn failing_waiting_step_takes_the_lock_back() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    let r = cond.wait_external_blocking_with(&lock, |_| Err(Failed("interrupted")));
    assert_eq!(
        r,
        Err(ExternalLockError::Interrupted {
            error: Failed("interrupted"),
            restore: None
        })
    );
    assert_eq!(lock.levels(), 1);
    // Both fail: both errors come back, the later one as `restore`.
    *lock.fail_restore.lock().unwrap() = Some(Failed("restore"));
    let r = cond.wait_external_blocking_with(&lock, |_| Err(Failed("interrupted")));
    assert_eq!(
        r,
        Err(ExternalLockError::Interrupted {
            error: Failed("interrupted"),
            restore: Some(Failed("restore"))
        })
    );
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn panicking_waiting_step_takes_the_lock_back() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = cond.wait_external_blocking_with(&lock, |_| panic!("in the waiting step"));
    }));
    assert!(r.is_err());
    assert_eq!(lock.levels(), 1, "held again after the panic");
    assert_eq!(cond.waiters(), 0, "the waiter withdrew");
    lock.unlock();
}

/// A waiter that gives up (reports no notification) after one arrived passes it on.
#[test]
fn notification_of_a_waiter_that_gave_up_goes_on() {
    let (lock, cond) = (TestLock::default(), Condition::new());
    lock.lock();
    let mut behind = None;
    let r = cond.wait_external_blocking_with(&lock, |_notified| {
        behind = Some(cond.listen()); // queued behind the waiter
        assert_eq!(cond.notify(1), 1); // reaches the waiter, the oldest
        Ok(false) // ... which gives up (a timeout that raced the notification)
    });
    assert_eq!(r, Ok(false));
    assert_eq!(lock.levels(), 1);
    let behind = behind.expect("set in the waiting step");
    assert!(
        behind.wait_blocking(Some(LIMIT)),
        "the notification went on"
    );
    lock.unlock();
}

/// Two external waiters are notified oldest first.
#[test]
fn waiters_are_notified_in_order() {
    let lock = TestLock::default();
    let cond = Condition::new();
    let order = Mutex::new(Vec::new());
    thread::scope(|s| {
        for id in 0..2 {
            // Each waiter is queued before the next starts.
            let queued = cond.waiters();
            let (lock, cond, order) = (&lock, &cond, &order);
            s.spawn(move || {
                lock.lock();
                assert_eq!(cond.wait_external_blocking(lock, Some(LIMIT)), Ok(true));
                order.lock().unwrap().push(id);
                lock.unlock();
            });
            let deadline = std::time::Instant::now() + LIMIT;
            while cond.waiters() == queued {
                assert!(std::time::Instant::now() < deadline, "waiter never queued");
                thread::yield_now();
            }
        }
        for woken in 1..=2 {
            lock.lock();
            assert_eq!(cond.notify_external(&lock, 1), Ok(1));
            lock.unlock();
            // The woken waiter records itself before the next notification.
            let want = woken;
            let deadline = std::time::Instant::now() + LIMIT;
            while order.lock().unwrap().len() < want {
                assert!(std::time::Instant::now() < deadline, "woken waiter stuck");
                thread::yield_now();
            }
        }
    });
    assert_eq!(*order.lock().unwrap(), vec![0, 1]);
}
