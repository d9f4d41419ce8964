//! `RwLock` upgradable reads: sharing, upgrades ahead of queued writers, downgrades, cancelled upgrades.

mod common;

use aiosync::{RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use common::rwlock::*;
use common::*;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// 4. Upgradable reads
// ---------------------------------------------------------------------------------------

#[test]
fn upgradable_shares_with_readers_and_excludes_writers_and_upgradables() {
    let lock = RwLock::new(5);
    let up = lock.try_upgradable_read().unwrap();
    assert!(lock.is_locked());
    assert!(!lock.is_write_locked());
    let r = lock
        .try_read()
        .expect("a reader must share with an upgradable");
    let r2 = lock.read_blocking_timeout(LIMIT).expect("reader blocked");
    assert_eq!(*up + *r + *r2, 15);
    assert!(lock.try_upgradable_read().is_none());
    assert!(lock.try_write().is_none());
    assert!(lock
        .upgradable_read_blocking_timeout(Duration::from_millis(10))
        .is_none());
    assert!(lock
        .write_blocking_timeout(Duration::from_millis(10))
        .is_none());
    drop((r, r2));
    // Still excluded without the readers: the upgradable alone is enough.
    assert!(lock.try_upgradable_read().is_none());
    assert!(lock.try_write().is_none());

    // A second upgradable waits (async), and goes in when the first leaves.
    let (c, w) = counting_waker();
    let mut u2 = pin!(lock.upgradable_read());
    pending(u2.as_mut(), &w);
    drop(up);
    assert_eq!(wakes(&c), 1);
    let up2 = ready(u2.as_mut(), &w);
    assert_eq!(*up2, 5);
    assert!(lock.try_write().is_none());
    drop(up2);
    assert!(lock.try_write().is_some());
}

/// The upgrade waits for the reader to leave and then goes in ahead of the writer (and
/// the reader) that queued before it.
#[test]
fn upgrade_waits_for_readers_and_goes_ahead_of_queued_writer() {
    let lock = RwLock::new(0u32);
    let up = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let (cw, kw) = counting_waker();
    let (cr, kr) = counting_waker();
    let (cu, ku) = counting_waker();
    let mut w = pin!(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &kr);

    let mut upg = pin!(RwLockUpgradableReadGuard::upgrade(up));
    pending(upg.as_mut(), &ku);
    assert_eq!(*r, 0);
    drop(r);

    assert_eq!(wakes(&cu), 1, "upgrade not woken when the reader left");
    assert_eq!((wakes(&cw), wakes(&cr)), (0, 0));
    pending(w.as_mut(), &kw);
    pending(r2.as_mut(), &kr);
    let mut g = ready(upg.as_mut(), &ku);
    *g = 1;
    pending(w.as_mut(), &kw);
    drop(g);

    // Then the FIFO queue resumes: the writer, then the reader.
    assert_eq!((wakes(&cw), wakes(&cr)), (1, 0));
    pending(r2.as_mut(), &kr);
    let mut g = ready(w.as_mut(), &kw);
    assert_eq!(*g, 1, "the writer ran before the upgrade");
    *g = 2;
    drop(g);
    assert_eq!(*ready(r2.as_mut(), &kr), 2);
}

#[test]
fn upgrade_blocking_waits_for_a_reader_on_another_thread() {
    let lock = Arc::new(RwLock::new(0u32));
    let r = lock.read_blocking();
    let (tx, rx) = mpsc::channel();
    let t = {
        let lock = lock.clone();
        thread::spawn(move || {
            let up = lock.upgradable_read_blocking();
            tx.send("upgradable").unwrap();
            let mut w = RwLockUpgradableReadGuard::upgrade_blocking(up);
            *w = 9;
            tx.send("upgraded").unwrap();
        })
    };
    assert_eq!(rx.recv_timeout(LIMIT), Ok("upgradable"));
    // Still a reader here: the upgrade cannot have completed.
    assert!(rx.recv_timeout(Duration::from_millis(30)).is_err());
    assert_eq!(*r, 0);
    drop(r);
    assert_eq!(rx.recv_timeout(LIMIT), Ok("upgraded"));
    join_within(t, LIMIT);
    assert_eq!(*lock.read_blocking(), 9);
}

#[test]
fn try_upgrade_fails_with_readers_and_succeeds_without() {
    let lock = RwLock::new(String::from("a"));
    let up = lock.upgradable_read_blocking();
    let r = lock.read_blocking();
    let up = RwLockUpgradableReadGuard::try_upgrade(up).expect_err("upgraded beside a reader");
    // The guard came back intact: still upgradable, still excluding other upgradables.
    assert_eq!(*up, "a");
    assert!(lock.try_upgradable_read().is_none());
    drop(r);
    let mut w = RwLockUpgradableReadGuard::try_upgrade(up).expect("no reader left");
    assert!(lock.is_write_locked());
    assert!(lock.try_read().is_none());
    w.push('b');
    drop(w);
    assert_eq!(*lock.try_read().unwrap(), "ab");
}

/// Sets up: an upgradable read held, no reader, and a queued writer that has been
/// *starving* (waited past the ~0.5 ms fairness timeout) when the last reader left, so the
/// release handed it every free permit while it still waits for the upgradable one.
/// The sleep only makes sure the fairness clock has run out; the outcome asserted by the
/// callers does not depend on it.
fn upgradable_with_starving_writer_queued<R>(
    f: impl FnOnce(&RwLock<u32>, RwLockUpgradableReadGuard<'_, u32>) -> R,
) -> R {
    let lock = RwLock::new(0u32);
    let up = lock.try_upgradable_read().unwrap();
    let r1 = lock.try_read().unwrap();
    let r2 = lock.try_read().unwrap();
    let (_, kw) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    drop(r1); // the first release looks at the head writer: its fairness clock starts
    thread::sleep(Duration::from_millis(2));
    drop(r2); // the writer now starves: it is handed what is free
    let out = f(&lock, up);
    // Whatever `f` did, the writer gets the lock once the upgradable side is gone.
    let mut g = ready(w.as_mut(), &kw);
    *g += 1;
    drop(g);
    drop(w);
    assert!(!lock.is_locked());
    out
}

/// `upgrade()` (async) reclaims the permits a starving writer was handed and completes
/// at once: no reader holds the lock.
#[test]
fn upgrade_goes_ahead_of_a_starving_writer() {
    upgradable_with_starving_writer_queued(|lock, up| {
        let (c, k) = counting_waker();
        let mut upg = pin!(RwLockUpgradableReadGuard::upgrade(up));
        let mut g = ready(upg.as_mut(), &k);
        assert_eq!(wakes(&c), 0);
        assert!(lock.is_write_locked());
        *g = 10;
    });
    upgradable_with_starving_writer_queued(|lock, up| {
        let mut g = RwLockUpgradableReadGuard::upgrade_blocking(up);
        assert!(lock.is_write_locked());
        *g = 10;
    });
}

/// `try_upgrade` is documented to succeed whenever no other reader holds the lock. With a
/// starving writer queued it fails although no reader is left: the permits the writer was
/// handed are counted as held, and `try_upgrade` (unlike `upgrade`) does not reclaim them.
#[test]
fn try_upgrade_succeeds_without_readers_even_with_a_starving_writer_queued() {
    upgradable_with_starving_writer_queued(|lock, up| {
        let mut g = RwLockUpgradableReadGuard::try_upgrade(up)
            .expect("try_upgrade failed although no reader holds the lock");
        assert!(lock.is_write_locked());
        *g = 10;
    });
}

/// Same root cause, smaller symptom: `is_write_locked()` reports a writer while only an
/// upgradable read is held (the starving writer was handed part of the permits only).
#[test]
fn is_write_locked_is_false_with_only_an_upgradable_held_and_a_starving_writer_queued() {
    upgradable_with_starving_writer_queued(|lock, up| {
        assert!(
            !lock.is_write_locked(),
            "is_write_locked() with only an upgradable read held"
        );
        drop(up);
    });
}

#[test]
fn upgradable_downgrade_lets_another_upgradable_and_then_a_writer_in() {
    let lock = RwLock::new(1);
    let up = lock.try_upgradable_read().unwrap();
    let (cu, ku) = counting_waker();
    let mut u2 = pin!(lock.upgradable_read());
    pending(u2.as_mut(), &ku);

    let r = RwLockUpgradableReadGuard::downgrade(up);
    assert_eq!(
        wakes(&cu),
        1,
        "downgrade did not wake the waiting upgradable"
    );
    let up2 = ready(u2.as_mut(), &ku);
    assert_eq!(*r + *up2, 2);
    drop(up2);

    // A writer still waits for the downgraded reader, and only for it.
    let (cw, kw) = counting_waker();
    let mut w = pin!(lock.write());
    pending(w.as_mut(), &kw);
    drop(r);
    assert_eq!(wakes(&cw), 1);
    let mut g = ready(w.as_mut(), &kw);
    *g = 2;
    drop(g);

    // And from the blocking side: downgrade lets a write_blocking_timeout elsewhere proceed
    // once the reader is gone, but not before.
    let up = lock.upgradable_read_blocking();
    let r = RwLockUpgradableReadGuard::downgrade(up);
    assert!(
        lock.try_upgradable_read().is_some(),
        "downgrade kept the upgradable slot"
    );
    assert!(lock.try_write().is_none());
    drop(r);
    assert_eq!(*lock.try_write().unwrap(), 2);
}

#[test]
fn write_guard_downgrade_keeps_the_value_and_lets_queued_readers_in() {
    let lock = RwLock::new(0);
    let mut w = lock.write_blocking();
    *w = 42;
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let (cw, kw) = counting_waker();
    let mut r1 = pin!(lock.read());
    let mut r2 = pin!(lock.read());
    let mut w2 = pin!(lock.write());
    pending(r1.as_mut(), &k1);
    pending(r2.as_mut(), &k2);
    pending(w2.as_mut(), &kw);

    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 42);
    assert_eq!((wakes(&c1), wakes(&c2), wakes(&cw)), (1, 1, 0));
    let g1 = ready(r1.as_mut(), &k1);
    let g2 = ready(r2.as_mut(), &k2);
    assert_eq!((*g1, *g2), (42, 42));
    // No writer in between: the queued writer still waits for all three readers.
    pending(w2.as_mut(), &kw);
    drop((r, g1));
    pending(w2.as_mut(), &kw);
    drop(g2);
    assert_eq!(wakes(&cw), 1);
    let g = ready(w2.as_mut(), &kw);
    assert_eq!(*g, 42);
}

#[test]
fn write_guard_downgrade_to_upgradable_keeps_the_value_and_can_upgrade_again() {
    let lock = RwLock::new(0);
    let mut w = lock.write_blocking();
    *w = 7;
    let (cr, kr) = counting_waker();
    let (cu, ku) = counting_waker();
    let mut r1 = pin!(lock.read());
    let mut u = pin!(lock.upgradable_read());
    pending(r1.as_mut(), &kr);
    pending(u.as_mut(), &ku);

    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert_eq!(*up, 7);
    assert_eq!(
        wakes(&cr),
        1,
        "reader not let in by downgrade_to_upgradable"
    );
    let g1 = ready(r1.as_mut(), &kr);
    assert_eq!(*g1, 7);
    // Another upgradable and any writer stay out.
    pending(u.as_mut(), &ku);
    assert_eq!(wakes(&cu), 0);
    assert!(lock.try_write().is_none());

    // Upgrade again: waits for the reader, ahead of the queued upgradable.
    let (cg, kg) = counting_waker();
    let mut upg = pin!(RwLockUpgradableReadGuard::upgrade(up));
    pending(upg.as_mut(), &kg);
    drop(g1);
    assert_eq!(wakes(&cg), 1);
    let mut w = ready(upg.as_mut(), &kg);
    *w = 8;
    pending(u.as_mut(), &ku);
    drop(w);
    assert_eq!(*ready(u.as_mut(), &ku), 8);
}

/// A pending upgrade future holds the upgradable lock (the guard moved into it):
/// dropping it releases that lock too, so a queued writer can go in.
#[test]
fn dropping_a_pending_upgrade_releases_the_upgradable_lock() {
    let lock = RwLock::new(0);
    let up = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let (cw, kw) = counting_waker();
    let mut w = pin!(lock.write());
    pending(w.as_mut(), &kw);
    let (_, ku) = counting_waker();
    let mut upg = Box::pin(RwLockUpgradableReadGuard::upgrade(up));
    pending(upg.as_mut(), &ku);
    drop(upg);
    // The reader still holds: the writer waits for it only.
    pending(w.as_mut(), &kw);
    drop(r);
    assert_eq!(wakes(&cw), 1);
    *ready(w.as_mut(), &kw) = 1;
    assert!(!lock.is_locked(), "the upgradable lock leaked");

    // Without a writer queued: the upgradable slot is free again at once.
    let up = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let mut upg = Box::pin(RwLockUpgradableReadGuard::upgrade(up));
    pending(upg.as_mut(), &ku);
    drop(upg);
    let up2 = lock
        .try_upgradable_read()
        .expect("upgradable lock leaked by dropped upgrade");
    drop((up2, r));
    assert!(lock.try_write().is_some());

    // An upgrade future dropped without ever being polled releases it too.
    let up = lock.try_upgradable_read().unwrap();
    drop(RwLockUpgradableReadGuard::upgrade(up));
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

/// Threads and tasks take upgradable reads, read the counter and upgrade to write it
/// back + 1: exact because upgradable reads exclude each other and the upgrade lets no
/// writer in between. Readers meanwhile check the invariant.
#[test]
fn upgrade_read_modify_write_is_exact_across_threads_and_tasks() {
    const N: u64 = 1500;
    let lock = Arc::new(RwLock::new(Pair::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let lock = lock.clone();
            thread::spawn(move || {
                for i in 0..N {
                    let up = lock.upgradable_read_blocking();
                    let seen = up.a;
                    let mut w = if (i + t) % 3 == 0 {
                        match RwLockUpgradableReadGuard::try_upgrade(up) {
                            Ok(w) => w,
                            Err(up) => RwLockUpgradableReadGuard::upgrade_blocking(up),
                        }
                    } else {
                        RwLockUpgradableReadGuard::upgrade_blocking(up)
                    };
                    assert_eq!(w.a, seen, "a writer got in during the upgrade");
                    w.a = seen + 1;
                    w.b = seen + 1;
                }
            })
        })
        .collect();
    let reader = {
        let (lock, stop) = (lock.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let g = lock.read_blocking();
                assert_eq!(g.a, g.b);
            }
        })
    };
    run_mt(2, async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    for i in 0..N {
                        let up = lock.upgradable_read().await;
                        let seen = up.a;
                        if i % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                        let mut w = RwLockUpgradableReadGuard::upgrade(up).await;
                        assert_eq!(w.a, seen, "a writer got in during the upgrade");
                        w.a = seen + 1;
                        w.b = seen + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        join_within(t, LIMIT);
    }
    stop.store(true, Ordering::Release);
    join_within(reader, LIMIT);
    let g = lock.read_blocking();
    assert_eq!((g.a, g.b), (4 * N, 4 * N));
}
