//! Integration tests for `aiosync::RwLock`.
//!
//! The policy proven here is the one `RwLock` documents: **writer-preferring FIFO**. A
//! queued writer holds back every reader that arrives after it (writers never starve),
//! and when it leaves, the readers that queued meanwhile go in together (readers never
//! starve). Upgradable reads share with readers, exclude writers and each other, and an
//! upgrade jumps ahead of queued writers.
//!
//! Deterministic poll tests (one thread, counting wakers) check the order; stress runs
//! mix OS threads (`x_blocking`) with tokio tasks (`x().await`) on the same lock.

mod common;

use aiosync::{
    Barrier, RwLock, RwLockReadGuardArc, RwLockUpgradableReadGuard, RwLockWriteGuard,
    RwLockWriteGuardArc,
};
use common::*;
use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Context;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Busy-waits `d` (a critical section that takes a while without yielding the CPU).
fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Two fields a writer updates one after the other: readers must always see them equal.
#[derive(Debug, Default)]
struct Pair {
    a: u64,
    b: u64,
}

/// A non-atomic read-modify-write of both fields: concurrent writers would lose updates.
fn bump(p: &mut Pair) {
    let a = black_box(p.a);
    p.a = a + 1;
    let b = black_box(p.b);
    p.b = b + 1;
}

// ---------------------------------------------------------------------------------------
// 1. Readers share
// ---------------------------------------------------------------------------------------

/// Four threads each take a read lock and then meet at a barrier *while holding it*: the
/// round can only complete if all four hold the lock at the same moment.
#[test]
fn four_reader_threads_hold_the_lock_at_the_same_moment() {
    let lock = Arc::new(RwLock::new(7u32));
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (lock, barrier) = (lock.clone(), barrier.clone());
            thread::spawn(move || {
                let g = lock.read_blocking();
                let met = barrier.wait_blocking_timeout(LIMIT);
                // Every reader still holds its guard here: no writer may get in.
                let writer_excluded = lock.try_write().is_none();
                let upgradable_ok = met.as_ref().is_ok_and(|r| r.is_leader())
                    && lock.try_upgradable_read().is_some();
                let met_again = barrier.wait_blocking_timeout(LIMIT);
                (
                    met.is_ok() && met_again.is_ok(),
                    writer_excluded,
                    upgradable_ok,
                    *g,
                )
            })
        })
        .collect();
    let mut upgradables = 0;
    for h in handles {
        let (met, writer_excluded, upgradable_ok, v) = join_within(h, 2 * LIMIT);
        assert!(met, "readers did not hold the lock together");
        assert!(writer_excluded, "a writer got in beside readers");
        upgradables += usize::from(upgradable_ok);
        assert_eq!(v, 7);
    }
    assert_eq!(upgradables, 1, "an upgradable read must fit beside readers");
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

#[test]
fn four_reader_tasks_hold_the_lock_at_the_same_moment() {
    let lock = Arc::new(RwLock::new(3u32));
    let barrier = Arc::new(Barrier::new(4));
    let sum = run_mt(2, async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                tokio::spawn(async move {
                    let g = lock.read().await;
                    barrier.wait().await.expect("barrier broken");
                    assert!(lock.try_write().is_none(), "a writer got in beside readers");
                    barrier.wait().await.expect("barrier broken");
                    *g
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 12);
    assert!(!lock.is_locked());
}

/// Two threads and two tasks hold read locks at once (one barrier for all four).
#[test]
fn reader_threads_and_reader_tasks_hold_the_lock_together() {
    let lock = Arc::new(RwLock::new(1u32));
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, barrier) = (lock.clone(), barrier.clone());
            thread::spawn(move || {
                let g = lock.read_blocking();
                let met = barrier.wait_blocking_timeout(LIMIT).is_ok();
                met && *g == 1
            })
        })
        .collect();
    run_mt(2, async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                tokio::spawn(async move {
                    let g = lock.read().await;
                    barrier.wait().await.expect("barrier broken");
                    assert_eq!(*g, 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        assert!(
            join_within(t, LIMIT),
            "reader thread did not meet the others"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. Writers exclude
// ---------------------------------------------------------------------------------------

/// Writers on threads and on tokio tasks bump a two-field counter with non-atomic
/// read-modify-writes while readers (a thread and a task) check both fields are equal.
#[test]
fn writers_from_threads_and_tasks_lose_no_update() {
    const N: u64 = 4000;
    let lock = Arc::new(RwLock::new(Pair::default()));
    let stop = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..2)
        .map(|t| {
            let lock = lock.clone();
            thread::spawn(move || {
                for i in 0..N {
                    let mut g = if (i + t) % 5 == 0 {
                        lock.write_blocking_timeout(LIMIT)
                            .expect("writer timed out")
                    } else {
                        lock.write_blocking()
                    };
                    bump(&mut g);
                    if i % 64 == 0 {
                        thread::yield_now(); // hold the lock across a reschedule
                    }
                }
            })
        })
        .collect();
    let reader = {
        let (lock, stop) = (lock.clone(), stop.clone());
        thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) {
                let g = lock.read_blocking();
                assert_eq!(g.a, g.b, "reader saw a half-done write");
                reads += 1;
            }
            reads
        })
    };

    let task_reads = run_mt(2, async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    for i in 0..N {
                        let mut g = lock.write().await;
                        bump(&mut g);
                        if i % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let reader = {
            let (lock, stop) = (lock.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let g = lock.read().await;
                    assert_eq!(g.a, g.b, "reader task saw a half-done write");
                    drop(g);
                    reads += 1;
                    tokio::task::yield_now().await;
                }
                reads
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        tokio::task::spawn_blocking(move || {
            for w in writers {
                join_within(w, LIMIT);
            }
        })
        .await
        .unwrap();
        stop.store(true, Ordering::Release);
        reader.await.unwrap()
    });
    let thread_reads = join_within(reader, LIMIT);
    assert!(thread_reads > 0 && task_reads > 0, "readers never ran");
    let g = lock.read_blocking();
    assert_eq!((g.a, g.b), (4 * N, 4 * N), "lost updates");
    drop(g);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------------------------------
// 3. Policy: writer-preferring FIFO
// ---------------------------------------------------------------------------------------

/// Writer-preferring FIFO, step by step on one thread:
/// a reader holds; a writer queues; a newer reader must wait behind the writer (neither
/// `try_read` nor `read()` gets in); when the first reader leaves the writer goes in; when
/// the writer leaves, all the readers that queued behind it go in together.
#[test]
fn policy_is_writer_preferring_fifo() {
    let lock = RwLock::new(0u32);
    let r1 = lock.try_read().unwrap();

    let (cw, ww) = counting_waker();
    let mut w = pin!(lock.write());
    pending(w.as_mut(), &ww);
    assert!(!lock.is_write_locked());

    // Newer readers must not overtake the queued writer.
    assert!(
        lock.try_read().is_none(),
        "try_read overtook a queued writer"
    );
    assert!(lock.try_upgradable_read().is_none());
    let rw: Vec<_> = (0..3).map(|_| counting_waker()).collect();
    let mut readers: Vec<_> = (0..3).map(|_| Box::pin(lock.read())).collect();
    for (r, (_, wk)) in readers.iter_mut().zip(&rw) {
        pending(r.as_mut(), wk);
    }
    // Not even a reader on another thread (which may otherwise barge).
    thread::scope(|s| {
        s.spawn(|| {
            assert!(lock.try_read().is_none());
            assert!(
                lock.read_blocking_timeout(Duration::from_millis(20))
                    .is_none(),
                "a reader on another thread overtook a queued writer"
            );
        });
    });
    pending(w.as_mut(), &ww);

    drop(r1);
    assert_eq!(wakes(&cw), 1, "writer not woken when the last reader left");
    for (c, _) in &rw {
        assert_eq!(wakes(c), 0, "reader woken ahead of the writer");
    }
    for (r, (_, wk)) in readers.iter_mut().zip(&rw) {
        pending(r.as_mut(), wk);
    }
    let mut g = ready(w.as_mut(), &ww);
    assert!(lock.is_write_locked());
    *g = 1;
    for (r, (_, wk)) in readers.iter_mut().zip(&rw) {
        pending(r.as_mut(), wk);
    }
    drop(g);

    // All the readers queued behind the writer go in together.
    for (c, _) in &rw {
        assert_eq!(wakes(c), 1, "queued reader not woken when the writer left");
    }
    let guards: Vec<_> = readers
        .iter_mut()
        .zip(&rw)
        .map(|(r, (_, wk))| ready(r.as_mut(), wk))
        .collect();
    assert!(guards.iter().all(|g| **g == 1));
    assert!(lock.try_write().is_none());
    drop(guards);
    assert!(!lock.is_locked());
}

/// Lost wake-up (the kernel's, also seen in the queue tests): a writer holds, reader r1
/// waits; the writer leaves, which wakes r1 (the only waiter); before r1 runs, a second
/// reader on the same thread (r2) queues behind it (no overtaking a waiter of its own
/// thread). Once r1 is in, r2 could share the lock, but nothing wakes it until r1 leaves.
#[test]
fn reader_queued_behind_a_woken_reader_is_woken_too() {
    let lock = RwLock::new(0);
    let w = lock.try_write().unwrap();
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut r1 = pin!(lock.read());
    pending(r1.as_mut(), &k1);
    drop(w);
    assert_eq!(wakes(&c1), 1);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    let g1 = ready(r1.as_mut(), &k1);
    assert_eq!(
        wakes(&c2),
        1,
        "second reader not woken although it can share the lock"
    );
    let g2 = ready(r2.as_mut(), &k2);
    assert_eq!(*g1 + *g2, 0);
}

/// The same as a user meets it on a tokio current-thread runtime: a task waiting to read
/// is woken by the writer leaving; the main task (same thread) then asks to read before
/// that task has run; the task gets in and waits for the main task to read too (readers
/// share, so this is legal) — and the main task is never woken: deadlock.
/// (`biased` select: the deadline is checked first, so a late poll cannot hide the hang.)
#[test]
fn two_readers_on_a_single_threaded_runtime_after_a_writer_do_not_deadlock() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lock = Arc::new(RwLock::new(0));
        let both_in = Arc::new(tokio::sync::Barrier::new(2));
        let w = lock.write().await;
        let task = {
            let (lock, both_in) = (lock.clone(), both_in.clone());
            tokio::spawn(async move {
                let g = lock.read().await;
                both_in.wait().await;
                *g
            })
        };
        tokio::task::yield_now().await; // the task runs and waits to read
        drop(w);
        let sleep = tokio::time::sleep(Duration::from_secs(2));
        tokio::select! {
            biased;
            _ = sleep => panic!("second reader never got in (lock is read-held)"),
            g = async {
                let g = lock.read().await;
                both_in.wait().await;
                g
            } => assert_eq!(*g, 0),
        }
        assert_eq!(task.await.unwrap(), 0);
    });
}

/// Two queued writers are served one after the other, in order, with the readers that
/// arrived between them going in between them (FIFO across kinds).
#[test]
fn writers_and_readers_alternate_in_arrival_order() {
    let lock = RwLock::new(Vec::new());
    let g0 = lock.try_write().unwrap();
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let (c3, k3) = counting_waker();
    let mut w1 = pin!(lock.write());
    let mut r2 = pin!(lock.read());
    let mut w3 = pin!(lock.write());
    pending(w1.as_mut(), &k1);
    pending(r2.as_mut(), &k2);
    pending(w3.as_mut(), &k3);
    drop(g0);

    assert_eq!((wakes(&c1), wakes(&c2), wakes(&c3)), (1, 0, 0));
    pending(w3.as_mut(), &k3);
    pending(r2.as_mut(), &k2);
    let mut g1 = ready(w1.as_mut(), &k1);
    g1.push(1);
    drop(g1);

    assert_eq!((wakes(&c2), wakes(&c3)), (1, 0));
    pending(w3.as_mut(), &k3);
    let g2 = ready(r2.as_mut(), &k2);
    assert_eq!(*g2, [1]);
    pending(w3.as_mut(), &k3);
    drop(g2);

    assert_eq!(wakes(&c3), 1);
    let mut g3 = ready(w3.as_mut(), &k3);
    g3.push(3);
    drop(g3);
    assert_eq!(*lock.try_read().unwrap(), [1, 3]);
}

/// With two writer threads keeping the lock (almost) always write-held or wanted, a
/// reader thread and a reader task each still get in, every time, within a bound.
#[test]
fn readers_do_not_starve_while_writers_hammer() {
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, stop) = (lock.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut g = lock.write_blocking();
                    *g += 1;
                    spin_for(Duration::from_micros(20));
                    drop(g);
                    n += 1;
                }
                n
            })
        })
        .collect();

    // Let the writers get going first.
    let t = Instant::now();
    while *lock.read_blocking() < 10 {
        assert!(t.elapsed() < LIMIT, "writers never ran");
        thread::yield_now();
    }
    let mut seen = 0;
    for _ in 0..100 {
        let g = lock
            .read_blocking_timeout(Duration::from_secs(3))
            .expect("reader thread starved by writers");
        assert!(*g >= seen, "value went backwards");
        seen = *g;
    }
    run_mt(1, async {
        for _ in 0..100 {
            let g = tokio::time::timeout(Duration::from_secs(3), lock.read())
                .await
                .expect("reader task starved by writers");
            assert!(*g >= seen);
            seen = *g;
        }
    });
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = writers.into_iter().map(|w| join_within(w, LIMIT)).sum();
    assert_eq!(*lock.read_blocking(), writes);
}

/// Three reader threads whose read sections overlap (so, without writer preference, the
/// lock would never be free) cannot keep a writer thread or a writer task out.
#[test]
fn writers_do_not_starve_while_readers_hammer() {
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, stop, reads) = (lock.clone(), stop.clone(), reads.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = lock.read_blocking();
                    black_box(*g);
                    spin_for(Duration::from_micros(50));
                    drop(g);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t = Instant::now();
    while reads.load(Ordering::Relaxed) < 10 {
        assert!(t.elapsed() < LIMIT, "readers never ran");
        thread::yield_now();
    }
    for _ in 0..50 {
        let mut g = lock
            .write_blocking_timeout(Duration::from_secs(3))
            .expect("writer thread starved by readers");
        *g += 1;
    }
    run_mt(1, async {
        for _ in 0..50 {
            let mut g = tokio::time::timeout(Duration::from_secs(3), lock.write())
                .await
                .expect("writer task starved by readers");
            *g += 1;
        }
    });
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        join_within(r, LIMIT);
    }
    assert_eq!(*lock.read_blocking(), 100);
}

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

// ---------------------------------------------------------------------------------------
// 5. Cancel safety and timeouts
// ---------------------------------------------------------------------------------------

/// A queued writer that is dropped gives up its place: the readers it held back are no
/// longer behind anyone and get in beside the current reader.
#[test]
fn dropped_pending_writer_lets_queued_readers_in_when_polled() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (_, kw) = counting_waker();
    let (_, k2) = counting_waker();
    let (_, k3) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    let mut r3 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    pending(r3.as_mut(), &k3);
    drop(w);
    let g2 = ready(r2.as_mut(), &k2);
    let g3 = ready(r3.as_mut(), &k3);
    assert_eq!(*r1 + *g2 + *g3, 0);
    // Nothing left queued: try_read succeeds again, and after all leave, try_write.
    assert!(lock.try_read().is_some());
    drop((r1, g2, g3));
    assert!(lock.try_write().is_some());
}

/// As above, but checks the readers are *woken*: a task or thread parked behind the
/// dropped writer would otherwise wait for an unrelated release. (Regression test: the
/// cancel path used to re-dispatch only when the node held permits or had been woken.)
#[test]
fn dropped_pending_writer_wakes_queued_readers() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (_, kw) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    drop(w);
    assert_eq!(
        wakes(&c2),
        1,
        "reader queued behind a cancelled writer was not woken"
    );
    let _g2 = ready(r2.as_mut(), &k2);
    drop(r1);
}

/// The same seen from threads: a reader thread parked behind a writer whose
/// `write_blocking_timeout` expires must get in while the lock is still read-held
/// (otherwise two readers that wait for each other, which is legal, would deadlock).
/// (Regression test.)
#[test]
fn timed_out_writer_does_not_strand_the_readers_queued_behind_it() {
    let lock = Arc::new(RwLock::new(()));
    let r1 = lock.read_blocking();
    let writer = {
        let lock = lock.clone();
        thread::spawn(move || {
            lock.write_blocking_timeout(Duration::from_millis(200))
                .is_none()
        })
    };
    // Wait until the writer is queued (then try_read fails).
    let t = Instant::now();
    while lock.try_read().is_some() {
        assert!(t.elapsed() < LIMIT, "writer never queued");
        thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    let reader = {
        let lock = lock.clone();
        thread::spawn(move || {
            let _g = lock.read_blocking(); // queues behind the writer
            tx.send(()).unwrap();
        })
    };
    assert!(join_within(writer, LIMIT), "writer got in beside a reader");
    // The writer gave up; r1 is still held. The second reader must get in now.
    let got_in = rx.recv_timeout(Duration::from_secs(2)).is_ok();
    drop(r1); // unblocks the reader either way, so the thread ends
    join_within(reader, LIMIT);
    assert!(got_in, "reader stayed parked behind a writer that gave up");
}

/// A writer that was woken (the lock handed its way) and then dropped before it ran
/// passes the lock on to the readers behind it.
#[test]
fn woken_writer_dropped_passes_the_lock_on() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (cw, kw) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    drop(r1);
    assert_eq!((wakes(&cw), wakes(&c2)), (1, 0));
    drop(w); // woken, never ran
    assert_eq!(
        wakes(&c2),
        1,
        "next waiter not woken when the woken writer was dropped"
    );
    let g2 = ready(r2.as_mut(), &k2);
    drop(g2);
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

#[test]
fn dropped_read_and_upgradable_futures_leave_no_trace() {
    let lock = RwLock::new(0);
    let w = lock.try_write().unwrap();
    let (_, k) = counting_waker();
    for _ in 0..100 {
        let mut r = Box::pin(lock.read());
        pending(r.as_mut(), &k);
        let mut u = Box::pin(lock.upgradable_read());
        pending(u.as_mut(), &k);
        let mut w2 = Box::pin(lock.write());
        pending(w2.as_mut(), &k);
    }
    drop(w);
    assert!(!lock.is_locked());
    // Nothing is queued any more: every try_ form succeeds at once.
    assert!(lock.try_read().is_some());
    assert!(lock.try_upgradable_read().is_some());
    assert!(lock.try_write().is_some());
}

#[test]
fn blocking_timeouts_return_none_or_some_and_leave_no_trace() {
    let lock = Arc::new(RwLock::new(1));
    let short = Duration::from_millis(20);

    // Writer held: every other kind times out, taking at least the timeout.
    let w = lock.write_blocking();
    let t = Instant::now();
    assert!(lock.read_blocking_timeout(short).is_none());
    assert!(t.elapsed() >= short);
    assert!(lock.upgradable_read_blocking_timeout(short).is_none());
    assert!(lock.write_blocking_timeout(short).is_none());
    drop(w);
    assert!(!lock.is_locked());
    assert!(lock.try_read().is_some(), "a timed-out waiter left a trace");
    assert!(
        lock.try_write().is_some(),
        "a timed-out waiter left a trace"
    );

    // Reader held: reads and the upgradable succeed at once, writes time out.
    let r = lock.read_blocking();
    assert!(lock.read_blocking_timeout(short).is_some());
    assert!(lock.upgradable_read_blocking_timeout(short).is_some());
    assert!(lock.write_blocking_timeout(short).is_none());
    assert!(
        lock.try_read().is_some(),
        "a timed-out writer still blocks readers"
    );
    drop(r);
    assert!(lock.write_blocking_timeout(short).is_some());

    // A timeout that is still running when the lock is released succeeds.
    let w = lock.write_blocking();
    let (tx, rx) = mpsc::channel();
    let t = {
        let lock = lock.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            lock.read_blocking_timeout(LIMIT).map(|g| *g)
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    drop(w);
    assert_eq!(join_within(t, LIMIT), Some(1));
    assert!(!lock.is_locked());
}

/// Timed-out waiters across threads and tasks, many times over, while the lock changes
/// hands: the lock ends free and the counter exact.
#[test]
fn timeouts_under_contention_leave_the_lock_consistent() {
    let lock = Arc::new(RwLock::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut wrote = 0u64;
                for i in 0..400u64 {
                    let d = Duration::from_micros(50 + (i * 37 + t * 11) % 300);
                    if i % 2 == 0 {
                        if let Some(mut g) = lock.write_blocking_timeout(d) {
                            *g += 1;
                            wrote += 1;
                            spin_for(Duration::from_micros(30));
                        }
                    } else if let Some(g) = lock.read_blocking_timeout(d) {
                        black_box(*g);
                        spin_for(Duration::from_micros(30));
                    }
                }
                wrote
            })
        })
        .collect();
    let task_writes = run_mt(2, async {
        let tasks: Vec<_> = (0..2u64)
            .map(|t| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    let mut wrote = 0u64;
                    for i in 0..400u64 {
                        let d = Duration::from_micros(100 + (i * 53 + t * 7) % 400);
                        if let Ok(mut g) = tokio::time::timeout(d, lock.write()).await {
                            *g += 1;
                            wrote += 1;
                        }
                    }
                    wrote
                })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    let thread_writes: u64 = threads.into_iter().map(|t| join_within(t, LIMIT)).sum();
    assert!(!lock.is_locked(), "a cancelled waiter leaked the lock");
    assert!(
        lock.try_write().is_some(),
        "a cancelled waiter is still queued"
    );
    assert_eq!(*lock.read_blocking(), thread_writes + task_writes);
}

// ---------------------------------------------------------------------------------------
// 6. Owned (Arc) guards
// ---------------------------------------------------------------------------------------

#[test]
fn arc_guards_move_into_threads_and_tasks() {
    let lock = Arc::new(RwLock::new(0u32));

    // A write guard taken here, used and dropped on another thread.
    let mut w: RwLockWriteGuardArc<u32> = lock.write_arc_blocking();
    *w = 1;
    let t = thread::spawn(move || {
        *w += 1;
        drop(w);
    });
    join_within(t, LIMIT);
    assert_eq!(*lock.try_read().unwrap(), 2);

    // A read guard moved into a thread keeps the lock read-held until that thread drops it.
    let r: RwLockReadGuardArc<u32> = lock.read_arc_blocking();
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        let v = *r;
        rx.recv_timeout(LIMIT).unwrap();
        drop(r);
        v
    });
    assert!(
        lock.try_write().is_none(),
        "the moved read guard does not hold the lock"
    );
    assert!(lock.try_read().is_some());
    tx.send(()).unwrap();
    assert_eq!(join_within(t, LIMIT), 2);
    assert!(!lock.is_locked());

    run_mt(2, async {
        // Owned futures taken on one task, guards moved to others.
        let w = lock.write_arc().await;
        let held = lock.clone();
        let r_fut = held.read_arc(); // pending while the writer holds
        let reader = tokio::spawn(async move { *r_fut.await });
        let writer = tokio::spawn(async move {
            let mut w = w;
            *w = 3;
        });
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), 3);

        let guards: Vec<RwLockReadGuardArc<u32>> =
            vec![lock.read_arc().await, lock.read_arc().await];
        assert!(lock.try_write().is_none());
        let lock2 = lock.clone();
        let w_task = tokio::spawn(async move {
            let mut w = lock2.write_arc().await;
            *w += 1;
        });
        let t = tokio::task::spawn_blocking(move || {
            let sum: u32 = guards.iter().map(|g| **g).sum();
            drop(guards);
            sum
        });
        assert_eq!(t.await.unwrap(), 6);
        w_task.await.unwrap();
    });
    assert_eq!(*lock.try_read().unwrap(), 4);
}

#[test]
fn dropped_arc_futures_leave_no_trace() {
    let lock = Arc::new(RwLock::new(0));
    let r = lock.read_arc_blocking();
    let (cw, kw) = counting_waker();
    let (cr, kr) = counting_waker();
    let mut w = lock.write_arc();
    assert!(Pin::new(&mut w)
        .poll(&mut Context::from_waker(&kw))
        .is_pending());
    let mut r2 = lock.read_arc();
    assert!(Pin::new(&mut r2)
        .poll(&mut Context::from_waker(&kr))
        .is_pending());
    drop(r2);
    drop(r);
    assert_eq!((wakes(&cw), wakes(&cr)), (1, 0));
    drop(w); // woken, dropped before it ran
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
    assert_eq!(Arc::strong_count(&lock), 1, "a dropped future kept the Arc");
}
