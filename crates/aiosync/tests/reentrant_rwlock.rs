//! The typed owner-aware read-write lock (`ReentrantRwLock`): a writer also reads,
//! re-entry per owner, downgrade with no writer in between, the upgrade policy, cancel
//! safety, owners derived from threads and tasks, and a seeded stress with exact counts.

mod common;

use aiosync::raw::{LockError, Upgrade};
use aiosync::{task, OwnerId, ReentrantRwLock};
use common::*;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn a_writer_also_reads_and_others_wait_for_both_levels() {
    let rw = Arc::new(ReentrantRwLock::new(AtomicU64::new(0)));
    let w = rw.write_blocking().unwrap();
    let r = rw.read_blocking();
    let w2 = rw.write_blocking().unwrap();
    let me = w.owner();
    assert_eq!(rw.levels_of(me), (1, 2));
    w2.fetch_add(1, Ordering::Relaxed);
    let other = rw.clone();
    let blocked = spawn_bounded(move || other.read_blocking_timeout(SHORT).is_none());
    assert!(
        blocked.join(),
        "another thread may not read while this one writes"
    );
    drop((w, w2));
    // Downgraded: this thread still reads, so another reader fits but no writer.
    assert!(!rw.is_write_locked() && rw.is_locked());
    let other = rw.clone();
    let (reads, writes) = spawn_bounded(move || {
        let reads = other.read_blocking_timeout(SHORT).is_some();
        let writes = other.write_blocking_timeout(SHORT).unwrap().is_some();
        (reads, writes)
    })
    .join();
    assert!(reads && !writes);
    assert_eq!(r.load(Ordering::Relaxed), 1);
    drop(r);
    assert!(!rw.is_locked());
    assert_eq!(rw.levels_of(me), (0, 0));
}

#[test]
fn downgrade_leaves_a_read_hold_with_no_writer_between() {
    let rw = Arc::new(ReentrantRwLock::new(()));
    let w = rw.write_blocking().unwrap();
    let (tx, rx) = mpsc::channel();
    let other = rw.clone();
    let writer = spawn_bounded(move || {
        tx.send(()).unwrap();
        let g = other.write_blocking().unwrap();
        drop(g);
    });
    rx.recv_timeout(LIMIT).unwrap();
    let r = w.downgrade();
    assert!(!rw.is_write_locked(), "downgraded at once");
    assert_eq!(rw.read_holders(), 1);
    drop(r);
    writer.join();
    assert!(!rw.is_locked());
}

#[test]
fn upgrades_follow_the_policy() {
    let refuse = ReentrantRwLock::new(());
    let r = refuse.read_blocking();
    assert_eq!(
        refuse.write_blocking().err(),
        Some(LockError::UpgradeRefused)
    );
    assert_eq!(refuse.try_write().err(), Some(LockError::UpgradeRefused));
    assert_eq!(
        refuse.read_holders(),
        1,
        "a refused upgrade keeps the read hold"
    );
    drop(r);

    // Allowed: waits for the other reader only.
    let allow = Arc::new(ReentrantRwLock::with_upgrade((), Upgrade::Allow));
    let (held, leave) = (mpsc::channel(), mpsc::channel::<()>());
    let other = allow.clone();
    let reader = spawn_bounded(move || {
        let g = other.read_blocking();
        held.0.send(()).unwrap();
        leave.1.recv_timeout(LIMIT).unwrap();
        drop(g);
    });
    held.1.recv_timeout(LIMIT).unwrap();
    let r = allow.read_blocking();
    assert!(allow.write_blocking_timeout(SHORT).unwrap().is_none());
    assert_eq!(
        allow.read_holders(),
        2,
        "a timed-out upgrade keeps the read hold"
    );
    leave.0.send(()).unwrap();
    let w = allow.write_blocking().unwrap();
    assert!(allow.is_write_locked());
    reader.join();
    drop((w, r));
    assert!(!allow.is_locked());
}

#[test]
fn async_owners_are_tasks_and_a_cancelled_wait_takes_nothing() {
    let rw = ReentrantRwLock::new(7);
    let nowhere = futures_lite::future::block_on(rw.read());
    assert_eq!(nowhere.err(), Some(LockError::NoTaskId));

    let mut writer = Hand::new(task::scope(async {
        let w = rw.write().await.unwrap();
        let r = rw.read().await.unwrap(); // the same task: at once
        assert_eq!((*w, *r), (7, 7));
        (w, r)
    }));
    let (w, r) = match writer.poll() {
        std::task::Poll::Ready(g) => g,
        std::task::Poll::Pending => panic!("an uncontended write is ready at once"),
    };
    let mut reader = Hand::new(task::scope(async { rw.read().await.map(|g| *g) }));
    assert!(
        reader.poll().is_pending(),
        "another task waits for the writer"
    );
    drop(reader); // cancelled while queued
    drop((w, r));
    assert!(!rw.is_locked());
    // Nothing was left queued: a writer gets in at once.
    drop(rw.try_write().unwrap().expect("free, with no one queued"));
    let got = futures_lite::future::block_on(task::scope(async { *rw.read().await.unwrap() }));
    assert_eq!(got, 7);
}

#[test]
fn explicit_owners_share_nothing_but_the_lock() {
    let rw = ReentrantRwLock::new(());
    let (a, b) = (OwnerId::new_unique(), OwnerId::new_unique());
    let ra = futures_lite::future::block_on(rw.read_as(a)).unwrap();
    let rb = futures_lite::future::block_on(rw.read_as(b)).unwrap();
    let mut wa = Hand::new(rw.write_as(a));
    // `a` reads, and upgrades are refused.
    match wa.poll() {
        std::task::Poll::Ready(r) => assert_eq!(r.err(), Some(LockError::UpgradeRefused)),
        std::task::Poll::Pending => panic!("a refused upgrade does not wait"),
    }
    drop((ra, rb));
    let mut wb = Hand::new(rw.write_as(b));
    let wb = match wb.poll() {
        std::task::Poll::Ready(g) => g.unwrap(),
        std::task::Poll::Pending => panic!("free"),
    };
    assert_eq!(rw.levels_of(b), (0, 1));
    assert_eq!(rw.levels_of(a), (0, 0));
    drop(wb);
    assert!(!rw.is_locked());
}

/// A small deterministic generator: the stress is repeatable from its seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn seeded_stress_threads_and_tasks_keep_exclusion_and_exact_counts() {
    let seed: u64 = std::env::var("AIOSYNC_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234);
    const OPS: u64 = 400;
    let rw = Arc::new(ReentrantRwLock::new((
        AtomicIsize::new(0),
        AtomicU64::new(0),
    )));
    let mut threads = Vec::new();
    for t in 0..3u64 {
        let rw = rw.clone();
        threads.push(spawn_bounded(move || {
            let mut s = seed.wrapping_add(t * 0x9e37_79b9) | 1;
            for _ in 0..OPS {
                match next(&mut s) % 3 {
                    0 => {
                        let w = rw.write_blocking().unwrap();
                        assert_eq!(w.0.fetch_add(1, Ordering::SeqCst), 0, "two writers");
                        let again = rw.read_blocking(); // nested read under the write
                        again.1.fetch_add(1, Ordering::Relaxed);
                        assert_eq!(w.0.fetch_sub(1, Ordering::SeqCst), 1);
                        drop(w);
                        drop(again);
                    }
                    1 => {
                        let w = rw.write_blocking().unwrap();
                        w.1.fetch_add(1, Ordering::Relaxed);
                        let r = w.downgrade();
                        assert_eq!(r.0.load(Ordering::SeqCst), 0, "a writer inside a read");
                    }
                    _ => {
                        let r = rw.read_blocking();
                        let r2 = rw.read_blocking();
                        assert_eq!(r2.0.load(Ordering::SeqCst), 0, "a writer inside a read");
                        drop((r, r2));
                    }
                }
            }
        }));
    }
    let rt = runtime(2);
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let rw = rw.clone();
            rt.spawn(task::scope(async move {
                let mut s = seed.wrapping_add(1000 + t) | 1;
                for _ in 0..OPS {
                    if next(&mut s) % 2 == 0 {
                        let w = rw.write().await.unwrap();
                        assert_eq!(w.0.fetch_add(1, Ordering::SeqCst), 0, "two writers");
                        tokio::task::yield_now().await;
                        w.1.fetch_add(1, Ordering::Relaxed);
                        assert_eq!(w.0.fetch_sub(1, Ordering::SeqCst), 1);
                    } else {
                        let r = rw.read().await.unwrap();
                        tokio::task::yield_now().await;
                        assert_eq!(r.0.load(Ordering::SeqCst), 0, "a writer inside a read");
                    }
                }
            }))
        })
        .collect();
    for t in threads {
        t.join();
    }
    rt.block_on(async {
        for t in tasks {
            tokio::time::timeout(LIMIT, t)
                .await
                .unwrap_or_else(|_| panic!("seed {seed}: a task never finished"))
                .unwrap();
        }
    });
    assert!(!rw.is_locked(), "seed {seed}");
    let mut rw = Arc::try_unwrap(rw).expect("all users are done");
    assert_eq!(rw.get_mut().0.load(Ordering::SeqCst), 0);
    // Every write happened exactly once: replay the choices.
    let mut expected = 0;
    for t in 0..3u64 {
        let mut s = seed.wrapping_add(t * 0x9e37_79b9) | 1;
        expected += (0..OPS).filter(|_| next(&mut s) % 3 != 2).count() as u64;
    }
    for t in 0..4u64 {
        let mut s = seed.wrapping_add(1000 + t) | 1;
        expected += (0..OPS).filter(|_| next(&mut s) % 2 == 0).count() as u64;
    }
    assert_eq!(
        rw.get_mut().1.load(Ordering::Relaxed),
        expected,
        "seed {seed}"
    );
}
