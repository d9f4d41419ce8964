//! A tour of aiosync: a lost-update race and its fix, threads and async tasks sharing one
//! lock, and every primitive at work.
//!
//! Run: `cargo run -p aiosync --example tour` (add `--features facade` for scene 10, the
//! blocking facade)

use aiosync::{
    task, Barrier, Condition, Event, Mutex, Queue, ReentrantMutex, RwLock,
    RwLockUpgradableReadGuard, Semaphore,
};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "facade")]
#[path = "tour/facade.rs"]
mod facade_scene;

const THREADS: u64 = 4;
const TASKS: u64 = 4;
const ROUNDS: u64 = 2_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    lost_update_race();
    threads_and_tasks_share_one_lock(&rt);
    reentrant_mutex(&rt);
    semaphore_limits_concurrency(&rt);
    event_starts_everyone(&rt);
    condition_hands_over_work();
    barrier_rounds(&rt);
    read_write_lock(&rt);
    pipeline_with_join(&rt);
    #[cfg(feature = "facade")]
    facade_scene::blocking_facade();
    #[cfg(not(feature = "facade"))]
    println!("10. (the blocking facade: run with `--features facade`)");
    println!("\nTour done.");
}

/// Read, yield, write: without a lock, increments from several threads get lost.
fn lost_update_race() {
    println!("1. A lost-update race and its fix");
    let racy = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let racy = &racy;
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    let v = racy.load(Ordering::Relaxed);
                    std::thread::yield_now(); // widen the window another thread can use
                    racy.store(v + 1, Ordering::Relaxed);
                }
            });
        }
    });
    let expected = THREADS * ROUNDS;
    println!(
        "   without a lock: {} of {expected} increments survived",
        racy.load(Ordering::Relaxed)
    );

    let counter = Mutex::new(0u64);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let counter = &counter;
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    let mut g = counter.lock_blocking();
                    let v = *g;
                    std::thread::yield_now();
                    *g = v + 1;
                }
            });
        }
    });
    let fixed = counter.into_inner();
    println!("   with aiosync::Mutex: {fixed} of {expected}");
    assert_eq!(fixed, expected);
}

/// The same Mutex, locked by OS threads (blocking) and tokio tasks (async) at once.
fn threads_and_tasks_share_one_lock(rt: &tokio::runtime::Runtime) {
    println!("2. Threads and async tasks share one lock");
    let counter = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    *counter.lock_blocking() += 1;
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = counter.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let mut g = counter.lock().await;
                        let v = *g;
                        tokio::task::yield_now().await; // held across an await
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    for t in threads {
        t.join().expect("thread");
    }
    let total = *counter.lock_blocking();
    println!(
        "   {THREADS} threads + {TASKS} tasks x {ROUNDS}: counter = {total} (expected {})",
        (THREADS + TASKS) * ROUNDS
    );
    assert_eq!(total, (THREADS + TASKS) * ROUNDS);
}

/// A ReentrantMutex: the owning thread, or the owning task, may lock it again.
fn reentrant_mutex(rt: &tokio::runtime::Runtime) {
    println!("3. ReentrantMutex: outer calls inner without deadlock");
    let m = Arc::new(ReentrantMutex::new(Cell::new(0)));
    fn inner(m: &ReentrantMutex<Cell<i32>>) {
        let g = m.lock_blocking();
        g.set(g.get() + 1);
    }
    {
        let outer = m.lock_blocking();
        inner(&m);
        outer.set(outer.get() + 1);
    }
    let m2 = m.clone();
    let depth = rt.block_on(task::scope(async move {
        let a = m2.lock().await.expect("task identity");
        let b = m2.lock().await.expect("same task re-enters");
        b.set(b.get() + 1);
        drop(b);
        a.get()
    }));
    println!("   thread nested twice, then a task nested twice: value = {depth}");
    assert_eq!(depth, 3);
}

/// A Semaphore keeps at most N workers inside, whichever world they come from.
fn semaphore_limits_concurrency(rt: &tokio::runtime::Runtime) {
    println!("4. Semaphore: at most 3 inside at once");
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let enter = |inside: &AtomicUsize, peak: &AtomicUsize| {
        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
    };
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _permit = sem.acquire_blocking();
                    enter(&inside, &peak);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let _permit = sem.acquire().await;
                        enter(&inside, &peak);
                        tokio::task::yield_now().await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    for t in threads {
        t.join().expect("thread");
    }
    let peak = peak.load(Ordering::SeqCst);
    println!("   3 threads + 3 tasks, 200 rounds each: peak inside = {peak}");
    assert!(peak <= 3);
}

/// An Event releases every waiter, thread or task, with one `set`.
fn event_starts_everyone(rt: &tokio::runtime::Runtime) {
    println!("5. Event: one set() releases threads and tasks");
    let go = Arc::new(Event::new());
    let started = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (go, started) = (go.clone(), started.clone());
            std::thread::spawn(move || {
                go.wait_blocking();
                started.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (go, started) = (go.clone(), started.clone());
                tokio::spawn(async move {
                    go.wait().await;
                    started.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        assert_eq!(started.load(Ordering::SeqCst), 0);
        go.set();
        for t in tasks {
            t.await.expect("task");
        }
    });
    for t in threads {
        t.join().expect("thread");
    }
    println!("   started after set(): {}", started.load(Ordering::SeqCst));
    go.clear();
    println!(
        "   after clear(), a wait times out: {}",
        !go.wait_blocking_timeout(Duration::from_millis(10))
    );
}

/// A Condition hands work from a producer thread to a consumer.
fn condition_hands_over_work() {
    println!("6. Condition: a producer hands work to a consumer");
    let state = Arc::new((Mutex::new(Vec::<u32>::new()), Condition::new()));
    let consumer = {
        let state = state.clone();
        std::thread::spawn(move || {
            let (m, c) = &*state;
            let mut sum = 0;
            let mut got = 0;
            while got < 100 {
                let mut items = c.wait_for_blocking(m.lock_blocking(), |q| !q.is_empty());
                for v in items.drain(..) {
                    sum += v;
                    got += 1;
                }
            }
            sum
        })
    };
    let (m, c) = &*state;
    for v in 1..=100 {
        m.lock_blocking().push(v);
        c.notify_one();
    }
    let sum = consumer.join().expect("consumer");
    println!("   consumer summed 1..=100 = {sum}");
    assert_eq!(sum, 5050);
}

/// A Barrier lines up threads and tasks, round after round; abort breaks it.
fn barrier_rounds(rt: &tokio::runtime::Runtime) {
    println!("7. Barrier: 2 threads + 2 tasks meet 3 times");
    let b = Arc::new(Barrier::new(4));
    let leaders = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (b, leaders) = (b.clone(), leaders.clone());
            std::thread::spawn(move || {
                for _ in 0..3 {
                    if b.wait_blocking().expect("not broken").is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (b, leaders) = (b.clone(), leaders.clone());
                tokio::spawn(async move {
                    for _ in 0..3 {
                        if b.wait().await.expect("not broken").is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    for t in threads {
        t.join().expect("thread");
    }
    println!(
        "   rounds completed, one leader each: {}",
        leaders.load(Ordering::SeqCst)
    );
    b.abort();
    println!("   after abort(): wait -> {:?}", b.wait_blocking());
}

/// A RwLock: readers share it (really at the same time), writers get it alone.
fn read_write_lock(rt: &tokio::runtime::Runtime) {
    println!("8. RwLock: readers together, writers alone");
    let config = Arc::new(RwLock::new((0u64, 0u64))); // invariant: both fields equal
    let together = Arc::new(Barrier::new(3));
    // Three readers meet at a barrier while each holds a read lock: only possible if
    // they hold it at the same moment.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (config, together) = (config.clone(), together.clone());
            std::thread::spawn(move || {
                let r = config.read_blocking();
                together
                    .wait_blocking_timeout(Duration::from_secs(10))
                    .expect("readers share the lock");
                r.0 == r.1
            })
        })
        .collect();
    for r in readers {
        assert!(r.join().expect("reader"));
    }
    println!("   3 readers held the read lock at the same moment");
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut w = config.write_blocking();
                    w.0 += 1;
                    w.1 += 1;
                }
            })
        })
        .collect();
    let torn = rt.block_on(async {
        let mut torn = 0;
        for _ in 0..ROUNDS {
            let r = config.read().await;
            if r.0 != r.1 {
                torn += 1;
            }
        }
        torn
    });
    for w in writers {
        w.join().expect("writer");
    }
    // An upgradable read checks, then upgrades without letting another writer in between.
    let up = config.upgradable_read_blocking();
    let mut w = RwLockUpgradableReadGuard::upgrade_blocking(up);
    w.0 += 1;
    w.1 += 1;
    let final_value = *w;
    drop(w);
    println!(
        "   2 writer threads x {ROUNDS} + 1 upgrade while a task read: {final_value:?}, torn reads seen: {torn}"
    );
    assert_eq!(final_value, (2 * ROUNDS + 1, 2 * ROUNDS + 1));
    assert_eq!(torn, 0);
}

/// A producer/consumer pipeline: a bounded Queue between threads and tasks, `join` to
/// know when all work is done, `shutdown` to stop the workers.
fn pipeline_with_join(rt: &tokio::runtime::Runtime) {
    println!("9. Queue: a pipeline with backpressure, join and shutdown");
    let jobs = Arc::new(Queue::new(8));
    let results = Arc::new(Mutex::new(Vec::new()));
    // Two worker threads and two worker tasks take jobs until the queue shuts down.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (jobs, results) = (jobs.clone(), results.clone());
            std::thread::spawn(move || {
                while let Ok(n) = jobs.get_blocking() {
                    results.lock_blocking().push(n * n);
                    jobs.task_done().expect("one task_done per job");
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (jobs, results) = (jobs.clone(), results.clone());
                tokio::spawn(async move {
                    while let Ok(n) = jobs.get().await {
                        results.lock().await.push(n * n);
                        jobs.task_done().expect("one task_done per job");
                    }
                })
            })
            .collect();
        for n in 1..=100u64 {
            jobs.put(n).await.expect("open"); // waits while 8 jobs are queued
        }
        jobs.join().await; // every job processed
        let done = results.lock().await.len();
        println!("   100 jobs through a queue of 8: {done} results when join() returned");
        assert_eq!(done, 100);
        jobs.shutdown(false); // workers drain and stop
        for t in tasks {
            t.await.expect("task");
        }
    });
    for t in threads {
        t.join().expect("thread");
    }
    let sum: u64 = results.lock_blocking().iter().sum();
    println!(
        "   sum of squares 1..=100 = {sum}; a put after shutdown -> {:?}",
        jobs.try_put(0)
    );
    assert_eq!(sum, (1..=100u64).map(|n| n * n).sum());
}
