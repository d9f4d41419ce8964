//! Integration tests for `aiosync::Mutex`: stress runs mixing OS threads with tokio tasks
//! (and a non-tokio executor) on the same lock with exact counts, FIFO order of tasks on
//! one thread, cancelled async waits under contention, and fairness: a blocking or async
//! waiter is not starved by two threads hammering the lock.

mod common;

use aiosync::Mutex;
use common::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Threads and tasks on one lock
// ---------------------------------------------------------------------------------------

#[test]
fn threads_and_tokio_tasks_exact_count() {
    const THREADS: u64 = 4;
    const THREAD_ITERS: u64 = 10_000;
    const TASKS: u64 = 16;
    const TASK_ITERS: u64 = 2_000;
    let m = Arc::new(Mutex::new(0u64));

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..THREAD_ITERS {
                    let mut g = m.lock_blocking();
                    let v = black_box(*g);
                    *g = black_box(v + 1);
                }
            })
        })
        .collect();

    let m2 = m.clone();
    run_mt(2, async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let m = m2.clone();
                tokio::spawn(async move {
                    for i in 0..TASK_ITERS {
                        let mut g = m.lock().await;
                        let v = black_box(*g);
                        if (i + t) % 64 == 0 {
                            // Hold the lock across a suspension point now and then.
                            tokio::task::yield_now().await;
                        }
                        *g = black_box(v + 1);
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
    assert!(!m.is_locked());
    assert_eq!(
        *m.lock_blocking(),
        THREADS * THREAD_ITERS + TASKS * TASK_ITERS
    );
}

#[test]
fn futures_lite_block_on_and_threads_exact_count() {
    // A non-tokio executor on its own threads shares the lock with blocking threads.
    const N: u64 = 5_000;
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let m = m.clone();
            thread::spawn(move || {
                if i % 2 == 0 {
                    for _ in 0..N {
                        let mut g = m.lock_blocking();
                        let v = black_box(*g);
                        *g = v + 1;
                    }
                } else {
                    futures_lite::future::block_on(async {
                        for _ in 0..N {
                            let mut g = m.lock().await;
                            let v = black_box(*g);
                            futures_lite::future::yield_now().await;
                            *g = v + 1;
                        }
                    });
                }
            })
        })
        .collect();
    for h in hs {
        join_within(h, LIMIT);
    }
    assert_eq!(*m.lock_blocking(), 4 * N);
}

#[test]
fn tasks_on_current_thread_runtime_are_fifo() {
    // One thread, many tasks: the order they queue in is the order they get the lock.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let order = rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let m = Arc::new(Mutex::new(Vec::new()));
            let g = m.lock().await;
            let mut hs = Vec::new();
            for i in 0..20 {
                let m = m.clone();
                hs.push(tokio::spawn(async move {
                    m.lock().await.push(i);
                }));
                // Let task `i` run until it queues before spawning the next one.
                tokio::task::yield_now().await;
            }
            drop(g);
            for h in hs {
                h.await.unwrap();
            }
            let v = m.lock().await.clone();
            v
        })
        .await
        .expect("timed out")
    });
    assert_eq!(order, (0..20).collect::<Vec<_>>());
}

#[test]
fn cancelled_async_waits_under_contention_lose_nothing() {
    // Tasks that give up (timeout) while threads hammer the lock: nothing is leaked,
    // the count stays exact and the lock ends up free.
    const N: u64 = 3_000;
    let m = Arc::new(Mutex::new(0u64));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..N {
                    let mut g = m.lock_blocking();
                    *g += 1;
                }
            })
        })
        .collect();
    let m2 = m.clone();
    let done2 = done.clone();
    run_mt(2, async move {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let m = m2.clone();
                let done = done2.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        // Either completes or is dropped mid-wait.
                        let r = tokio::time::timeout(Duration::from_micros(50), m.lock()).await;
                        if let Ok(mut g) = r {
                            *g += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    for t in threads {
        join_within(t, LIMIT);
    }
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
    assert_eq!(*m.lock_blocking(), 2 * N + done.load(Ordering::Relaxed));
}

// ---------------------------------------------------------------------------------------
// Fairness between threads
// ---------------------------------------------------------------------------------------

/// Starts two threads that lock in a tight loop until `stop`, and returns once each of
/// them has taken the lock many times (so both are contending, not just starting up).
fn hammer(m: &Arc<Mutex<u64>>, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<u64>> {
    let progress: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let hs = (0..2)
        .map(|i| {
            let (m, stop, progress) = (m.clone(), stop.clone(), progress.clone());
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut g = m.lock_blocking();
                    *g = black_box(*g + 1);
                    drop(g);
                    n += 1;
                    progress[i].store(n, Ordering::Relaxed);
                }
                n
            })
        })
        .collect();
    // Bounded: each hammer must get the lock 1000 times while the other one hammers too.
    let deadline = Instant::now() + LIMIT;
    while progress.iter().any(|p| p.load(Ordering::Relaxed) < 1_000) {
        assert!(
            Instant::now() < deadline,
            "a hammer thread starved: {:?}",
            progress
        );
        thread::yield_now();
    }
    hs
}

#[test]
fn blocking_waiter_not_starved_by_two_hammering_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers = hammer(&m, &stop);

    let (tx, rx) = mpsc::channel();
    let third = {
        let m = m.clone();
        thread::spawn(move || {
            for _ in 0..50 {
                let t0 = Instant::now();
                let mut g = m.lock_blocking();
                *g += 1;
                drop(g);
                if tx.send(t0.elapsed()).is_err() {
                    return;
                }
            }
        })
    };
    let mut worst = Duration::ZERO;
    for i in 0..50 {
        let waited = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("third thread starved at acquisition {i}"));
        worst = worst.max(waited);
    }
    stop.store(true, Ordering::Relaxed);
    join_within(third, LIMIT);
    let counts: Vec<u64> = hammers.into_iter().map(|h| join_within(h, LIMIT)).collect();
    assert_eq!(*m.lock_blocking(), counts.iter().sum::<u64>() + 50);
    eprintln!("worst wait of the third thread: {worst:?}");
}

#[test]
fn async_waiter_not_starved_by_two_hammering_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers = hammer(&m, &stop);
    let m2 = m.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(async move {
        for _ in 0..50 {
            match tokio::time::timeout(Duration::from_secs(5), m2.lock()).await {
                Ok(mut g) => *g += 1,
                Err(_) => return false,
            }
        }
        true
    });
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = hammers.into_iter().map(|h| join_within(h, LIMIT)).collect();
    assert!(ok, "async waiter starved");
    assert_eq!(*m.lock_blocking(), counts.iter().sum::<u64>() + 50);
}
