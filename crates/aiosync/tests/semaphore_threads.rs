//! `Semaphore` as a limiter shared by OS threads and tokio tasks; owned guards, `Debug`, `Send`/`Sync`.

mod common;

use aiosync::Semaphore;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Threads and tasks sharing a limiter
// ---------------------------------------------------------------------------------------

#[test]
fn limiter_shared_by_threads_and_tasks_never_exceeds_permits() {
    const PERMITS: usize = 3;
    const THREADS: usize = 4;
    const THREAD_ITERS: usize = 10_000;
    const TASKS: usize = 16;
    const TASK_ITERS: usize = 1_500;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let in_use = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));

    let enter = {
        let (in_use, max_seen, total) = (in_use.clone(), max_seen.clone(), total.clone());
        move |n: usize| {
            let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
            assert!(now <= PERMITS, "{now} permits in use, limit {PERMITS}");
            max_seen.fetch_max(now, Ordering::Relaxed);
            total.fetch_add(1, Ordering::Relaxed);
            std::hint::black_box(now);
            in_use.fetch_sub(n, Ordering::SeqCst);
        }
    };

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let sem = sem.clone();
            let enter = enter.clone();
            thread::spawn(move || {
                for i in 0..THREAD_ITERS {
                    let n = if (i + t) % 7 == 0 { 2 } else { 1 };
                    let g = sem.acquire_many_blocking(n);
                    assert_eq!(g.permits(), n);
                    enter(n);
                    drop(g);
                }
            })
        })
        .collect();

    let sem2 = sem.clone();
    let enter2 = enter.clone();
    run_mt(2, async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let sem = sem2.clone();
                let enter = enter2.clone();
                tokio::spawn(async move {
                    for i in 0..TASK_ITERS {
                        let n = if (i + t) % 5 == 0 { PERMITS } else { 1 };
                        if i % 2 == 0 {
                            let g = sem.acquire_many(n).await;
                            assert_eq!(g.permits(), n);
                            enter(n);
                        } else {
                            let g = sem.acquire_many_arc(n).await;
                            assert_eq!(g.permits(), n);
                            // Hold the permits across a suspension point.
                            tokio::task::yield_now().await;
                            enter(n);
                        }
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
    assert_eq!(in_use.load(Ordering::SeqCst), 0);
    assert!(max_seen.load(Ordering::Relaxed) <= PERMITS);
    assert_eq!(
        total.load(Ordering::Relaxed),
        THREADS * THREAD_ITERS + TASKS * TASK_ITERS
    );
    assert_eq!(sem.available_permits(), PERMITS);
    assert!(sem.try_acquire_many(PERMITS).is_some());
}

#[test]
fn limiter_guards_count_holders_exactly() {
    // Same as above, but every holder (thread or task) increments the holder count while
    // it holds its permit, and tasks keep holding across awaits.
    const PERMITS: usize = 2;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let holders = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (sem, holders) = (sem.clone(), holders.clone());
            thread::spawn(move || {
                for _ in 0..10_000 {
                    let _g = sem.acquire_blocking();
                    let h = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(h <= PERMITS, "{h} holders");
                    std::hint::black_box(h);
                    holders.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let (sem2, holders2) = (sem.clone(), holders.clone());
    run_mt(2, async move {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (sem, holders) = (sem2.clone(), holders2.clone());
                tokio::spawn(async move {
                    for _ in 0..2_000 {
                        let _g = sem.acquire().await;
                        let h = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(h <= PERMITS, "{h} holders");
                        tokio::task::yield_now().await;
                        holders.fetch_sub(1, Ordering::SeqCst);
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
    assert_eq!(sem.available_permits(), PERMITS);
}

#[test]
fn blocking_acquire_many_not_starved_by_single_permit_threads() {
    // Two threads take and return single permits in a tight loop; a third asks for all
    // permits at once and must still get them.
    let sem = Arc::new(Semaphore::new(2));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let (sem, stop, progress) = (sem.clone(), stop.clone(), progress.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = sem.acquire_blocking();
                    std::hint::black_box(&g);
                    drop(g);
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    while progress.load(Ordering::Relaxed) < 10_000 {
        assert!(Instant::now() < deadline, "no progress");
        thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    let big = {
        let sem = sem.clone();
        thread::spawn(move || {
            for _ in 0..20 {
                let g = sem.acquire_many_blocking(2);
                assert_eq!(g.permits(), 2);
                drop(g);
                if tx.send(()).is_err() {
                    return;
                }
            }
        })
    };
    for i in 0..20 {
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("acquire_many(2) starved at round {i}"));
    }
    stop.store(true, Ordering::Relaxed);
    join_within(big, LIMIT);
    for h in hammers {
        join_within(h, LIMIT);
    }
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn owned_guards_move_into_threads_and_tasks() {
    let sem = Arc::new(Semaphore::new(2));
    let g = sem.acquire_arc_blocking();
    assert_eq!(g.permits(), 1);
    let t = thread::spawn(move || drop(g));
    join_within(t, LIMIT);
    assert_eq!(sem.available_permits(), 2);

    let sem2 = sem.clone();
    run_mt(2, async move {
        let g = sem2.acquire_many_arc(2).await;
        assert_eq!(sem2.available_permits(), 0);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rx.await.unwrap();
            drop(g);
        });
        assert!(sem2.try_acquire_arc().is_none());
        tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(sem2.available_permits(), 2);
        let g = sem2.acquire_arc().await;
        tokio::task::spawn_blocking(move || drop(g)).await.unwrap();
        assert_eq!(sem2.available_permits(), 2);
    });
}

#[test]
fn debug_output() {
    let sem = Semaphore::bounded(2);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 2, bound: Some(2) }"
    );
    let g = sem.try_acquire().unwrap();
    assert_eq!(format!("{g:?}"), "SemaphoreGuard { permits: 1 }");
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 1, bound: Some(2) }"
    );
    assert_eq!(
        format!("{:?}", Semaphore::new(0)),
        "Semaphore { available_permits: 0, bound: None }"
    );
    let f = sem.acquire();
    assert!(format!("{f:?}").starts_with("Acquire"));
    drop(f);
    let arc = Arc::new(Semaphore::new(1));
    let g = arc.try_acquire_arc().unwrap();
    assert_eq!(format!("{g:?}"), "SemaphoreGuardArc { permits: 1 }");
    drop(g);
    assert!(format!("{:?}", arc.acquire_arc()).starts_with("AcquireArc"));
    assert_eq!(arc.available_permits(), 1);
}

#[test]
fn send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Semaphore>();
    sync::<Semaphore>();
    send::<aiosync::SemaphoreGuard<'static>>();
    send::<aiosync::SemaphoreGuardArc>();
    send::<aiosync::Acquire<'static>>();
    send::<aiosync::AcquireArc>();
}
