//! Loom models of the owner-aware raw layer and the protocols over it: read/write holds
//! of two owners (with a writer that also reads and downgrades), a condition wait's
//! relock racing its cancel and a notification, a barrier's leader racing an abort, and
//! the dual lock's task hold released by two at once and its thread and task holds
//! excluding each other.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p aiosync-loom-tests --release`
#![cfg(loom)]

use aiosync_loom_tests::{both_modes, model, poll_once};

use aiosync::raw::{
    Holder, LockError, RawDualLock, RawLock, RawReentrantLock, RawRwLock, Reentry, Upgrade,
};
use aiosync::{Arrival, Barrier, Condition, RawWaitError};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::task::Poll;

/// Data a lock protects: loom reports any access not ordered by the lock.
struct Guarded(UnsafeCell<u32>);

// SAFETY: every access goes through `UnsafeCell::with{,_mut}` under the lock being
// modelled; loom checks that claim on every interleaving.
unsafe impl Sync for Guarded {}

impl Guarded {
    fn new() -> Guarded {
        Guarded(UnsafeCell::new(0))
    }
    /// Caller holds a write lock.
    fn bump(&self) {
        // SAFETY: a write hold excludes every other access (checked by loom).
        self.0.with_mut(|v| unsafe { *v += 1 });
    }
    /// Caller holds a read (or write) lock.
    fn get(&self) -> u32 {
        // SAFETY: a read hold excludes writers (checked by loom).
        self.0.with(|v| unsafe { *v })
    }
}

#[test]
fn rw_read_and_write_of_two_owners() {
    both_modes(|| {
        let rw = Arc::new(RawRwLock::new());
        let data = Arc::new(Guarded::new());
        let (rw2, data2) = (rw.clone(), data.clone());
        let writer = thread::spawn(move || {
            let me = Holder::thread();
            let got = rw2.write_blocking(&me, Upgrade::Refuse, None, false);
            assert_eq!(got, Ok(true));
            data2.bump();
            rw2.release_write(me.owner()).unwrap();
        });
        let me = Holder::thread();
        assert_eq!(rw.read_blocking(&me, None, false), Ok(true));
        let seen = data.get();
        assert!(seen <= 1);
        assert!(!rw.is_write_locked(), "a reader is inside");
        rw.release_read(me.owner()).unwrap();
        writer.join().unwrap();
        assert!(!rw.is_locked());
        assert_eq!(rw.read_holders(), 0);
        assert_eq!(data.get(), 1);
        assert_eq!(
            rw.try_write(&me, Upgrade::Refuse),
            Ok(true),
            "no permit leaked"
        );
        rw.release_write(me.owner()).unwrap();
    });
}

#[test]
fn rw_writer_also_reads_then_downgrades_racing_a_reader() {
    both_modes(|| {
        let rw = Arc::new(RawRwLock::new());
        let data = Arc::new(Guarded::new());
        let (rw2, data2) = (rw.clone(), data.clone());
        let writer = thread::spawn(move || {
            let me = Holder::thread();
            let got = rw2.write_blocking(&me, Upgrade::Refuse, None, false);
            assert_eq!(got, Ok(true));
            data2.bump();
            let mine = data2.get();
            assert!(rw2.try_read(&me), "the writer also reads");
            rw2.release_write(me.owner()).unwrap(); // downgrade: still reading
            assert_eq!(rw2.levels_of(me.owner()), (1, 0));
            assert_eq!(data2.get(), mine, "no writer got in after the downgrade");
            rw2.release_read(me.owner()).unwrap();
        });
        let me = Holder::thread();
        assert_eq!(rw.read_blocking(&me, None, false), Ok(true));
        let _ = data.get();
        rw.release_read(me.owner()).unwrap();
        // A writer gets in only when no read hold (the downgraded one too) is left.
        if rw.try_write(&me, Upgrade::Refuse) == Ok(true) {
            data.bump();
            rw.release_write(me.owner()).unwrap();
        }
        writer.join().unwrap();
        assert!(!rw.is_locked());
        assert_eq!(rw.read_holders(), 0);
        assert!(!rw.is_write_locked());
    });
}

/// Two readers that both ask to upgrade: at most one waits (the other is refused and
/// leaves), so neither waits for the other, and the upgraded writer is alone.
#[test]
fn rw_two_readers_upgrading() {
    both_modes(|| {
        let rw = Arc::new(RawRwLock::new());
        let data = Arc::new(Guarded::new());
        let reader = |rw: &RawRwLock, data: &Guarded| {
            let me = Holder::thread();
            assert_eq!(rw.read_blocking(&me, None, false), Ok(true));
            let upgraded = match rw.write_blocking(&me, Upgrade::Allow, None, false) {
                Ok(got) => {
                    assert!(got, "no time limit");
                    data.bump();
                    rw.release_write(me.owner()).unwrap();
                    true
                }
                Err(e) => {
                    assert_eq!(e, LockError::UpgradeRefused);
                    false
                }
            };
            let _ = data.get();
            rw.release_read(me.owner()).unwrap();
            upgraded
        };
        let (rw2, data2) = (rw.clone(), data.clone());
        let other = thread::spawn(move || reader(&rw2, &data2));
        let mine = reader(&rw, &data);
        let theirs = other.join().unwrap();
        assert!(mine || theirs, "a refusal means the other was upgrading");
        assert_eq!(data.get(), u32::from(mine) + u32::from(theirs));
        assert!(!rw.is_locked());
        assert!(!rw.has_waiters());
    });
}

#[test]
fn raw_lock_racing_double_unlock() {
    model(|| {
        let lock = Arc::new(RawLock::new());
        assert!(lock.try_lock(&Holder::thread()));
        let l2 = lock.clone();
        let t = thread::spawn(move || l2.unlock().is_ok());
        let mine = lock.unlock().is_ok();
        let theirs = t.join().unwrap();
        assert!(mine != theirs, "exactly one release succeeds");
        assert!(lock.try_lock(&Holder::thread()));
        assert!(!lock.try_lock(&Holder::thread()), "one permit, not two");
    });
}

/// A task hold of the dual lock, which anyone may release, released by two threads at
/// once: exactly one gives the permit back.
#[test]
fn dual_lock_task_hold_racing_double_unlock() {
    model(|| {
        let lock = Arc::new(RawDualLock::new());
        let task = Holder::task(aiosync::OwnerId::new_unique());
        assert_eq!(lock.try_lock(&task), Ok(true));
        let l2 = lock.clone();
        let t = thread::spawn(move || l2.unlock(&Holder::thread()).is_ok());
        let mine = lock.unlock(&Holder::thread()).is_ok();
        let theirs = t.join().unwrap();
        assert!(mine != theirs, "exactly one release succeeds");
        let me = Holder::thread();
        assert_eq!(lock.try_lock(&me), Ok(true));
        assert_eq!(lock.try_lock(&task), Ok(false), "one permit, not two");
        lock.unlock(&me).unwrap();
    });
}

/// A thread's nested hold and a task's hold (its acquire on another thread, released by
/// a third party) exclude each other: loom checks every access to the data.
#[test]
fn dual_lock_thread_and_task_holds_exclude_each_other() {
    both_modes(|| {
        let lock = Arc::new(RawDualLock::new());
        let data = Arc::new(Guarded::new());
        let (l2, d2) = (lock.clone(), data.clone());
        let tasks = thread::spawn(move || {
            let task = Holder::task(aiosync::OwnerId::new_unique());
            assert_eq!(loom::future::block_on(l2.lock(task)), Ok(()));
            d2.bump();
            // Anyone may release a task hold: here its thread, not the task.
            l2.unlock(&Holder::thread()).unwrap();
        });
        let me = Holder::thread();
        assert_eq!(lock.lock_blocking(&me, None, false), Ok(true));
        assert_eq!(lock.try_lock(&me), Ok(true), "a thread nests");
        data.bump();
        lock.unlock(&me).unwrap();
        let seen = data.get();
        lock.unlock(&me).unwrap();
        tasks.join().unwrap();
        assert!((1..=2).contains(&seen));
        assert_eq!(data.get(), 2);
        assert!(!lock.is_locked());
    });
}

/// `wait_raw`, then either a second poll or a cancel, racing a thread that takes the
/// lock and notifies once. Another listener queues behind the wait: the notification
/// must end with exactly one of them, and the waiter must hold its levels again.
#[test]
fn condition_relock_racing_cancel_and_notify() {
    both_modes(|| {
        let lock = Arc::new(RawReentrantLock::new());
        let cond = Arc::new(Condition::new());
        let me = Holder::thread();
        for _ in 0..2 {
            assert_eq!(lock.try_lock(&me, Reentry::Allow), Ok(true));
        }
        let mut wait = cond.wait_raw(&*lock, me);
        assert!(poll_once(&mut wait).is_pending(), "nobody notified yet");
        let mut behind = cond.listen();

        let (lock2, cond2) = (lock.clone(), cond.clone());
        let notifier = thread::spawn(move || {
            let other = Holder::thread();
            let got = lock2.lock_blocking(&other, Reentry::Refuse, None, false);
            assert_eq!(got, Ok(true));
            cond2.notify_one();
            lock2.unlock(other.owner()).unwrap();
        });

        let result = match poll_once(&mut wait) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                // Listening, or notified and waiting for the lock: cancel either way.
                assert!(wait.cancel());
                loom::future::block_on(&mut wait)
            }
        };
        drop(wait);
        assert!(matches!(result, Ok(()) | Err(RawWaitError::Cancelled)));
        assert_eq!(lock.levels_of(me.owner()), 2, "every level back, once");
        // Released before joining: the notifier may still wait for the lock.
        assert_eq!(lock.release_all(me.owner()), Ok(2));
        notifier.join().unwrap();

        let behind_notified = poll_once(&mut behind).is_ready();
        assert_ne!(
            result.is_ok(),
            behind_notified,
            "the one notification went to exactly one waiter ({result:?})"
        );
        assert_eq!(cond.waiters(), usize::from(!behind_notified));
        drop(behind);
        assert!(!lock.is_locked());
        assert!(!lock.has_waiters());
    });
}

/// Two parties of a leading barrier (the last one leads and completes) racing an abort.
#[test]
fn barrier_leader_racing_abort() {
    model(|| {
        let b = Arc::new(Barrier::with_leader(2).unwrap());
        /// (led, ended well)
        fn party(b: &Barrier) -> (bool, bool) {
            match loom::future::block_on(b.wait_lead()) {
                Ok(Arrival::Lead(lead)) => (true, lead.complete().is_ok()),
                Ok(Arrival::Released(r)) => {
                    assert!(!r.is_leader());
                    (false, true)
                }
                Err(_) => (false, false),
            }
        }
        let b2 = b.clone();
        let other = thread::spawn(move || party(&b2));
        let b3 = b.clone();
        let aborter = thread::spawn(move || b3.abort());
        let mine = party(&b);
        let theirs = other.join().unwrap();
        aborter.join().unwrap();

        let leads = [mine, theirs].iter().filter(|p| p.0).count();
        assert!(leads <= 1, "one leader at most: {mine:?} {theirs:?}");
        for (me, them) in [(mine, theirs), (theirs, mine)] {
            if me.0 && !me.1 {
                assert!(!them.1, "the lead failed, yet a party was released");
            }
            if !me.0 && me.1 {
                assert!(them.0 && them.1, "released without a completed lead");
            }
        }
        assert!(b.is_broken(), "an abort lasts until a reset");
        assert!(loom::future::block_on(b.wait_lead()).is_err());
    });
}
