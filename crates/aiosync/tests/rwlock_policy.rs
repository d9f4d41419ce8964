//! `RwLock` readers share, writers exclude, and the writer-preferring FIFO policy (no starvation either way).
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

use aiosync::{Barrier, RwLock};
use common::rwlock::*;
use common::*;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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
