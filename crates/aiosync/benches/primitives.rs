//! Criterion benchmarks: aiosync against tokio::sync, async-lock, parking_lot and std.
//!
//! Every group runs its implementations side by side in one run, so the ratios between
//! them are what to read. Every reported time is the time of **one** lock (or acquire)
//! plus its release: the benchmarks use `iter_custom` and scale the measured duration to
//! the number of iterations criterion asked for.
//!
//! ```text
//! cargo bench -p aiosync --bench primitives
//! ```
//!
//! Groups:
//! - `uncontended_lock`: one thread, lock + unlock in a loop; the async APIs are awaited
//!   inside one `futures_lite::future::block_on` per sample, so executor cost is amortized.
//! - `contended_async_100_tasks`: 100 tokio tasks on a 2-worker multi-thread runtime, each
//!   incrementing a shared counter under the lock; `tiny` holds the lock for the increment
//!   only, `yield` also calls `tokio::task::yield_now().await` while holding it.
//! - `contended_blocking_4_threads`: 4 OS threads incrementing a shared counter under the
//!   lock, started together by a `Barrier`.
//! - `semaphore`: uncontended acquire + release, then 100 tokio tasks sharing 4 permits
//!   and 4 OS threads sharing 2 permits.
//!
//! Every contended run checks that the counter ends exact (and, for semaphores, that no
//! more holders than permits were ever inside at once).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_lite::future::block_on;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

mod common;
use common::{per_worker, runtime, scale};

/// Tasks in the contended async groups.
const TASKS: u64 = 100;
/// Threads in the contended blocking groups.
const THREADS: u64 = 4;
/// Permits of the semaphore shared by 100 tasks.
const TASK_PERMITS: usize = 4;
/// Permits of the semaphore shared by 4 threads (fewer than the threads, so they contend).
const THREAD_PERMITS: usize = 2;

/// Times `iters` lock + unlock cycles of an async mutex awaited inside one `block_on`.
macro_rules! uncontended_async {
    ($iters:expr, $mutex:expr, $m:ident => $lock:expr) => {{
        let $m = $mutex;
        block_on(async {
            let start = Instant::now();
            for _ in 0..$iters {
                let $m = black_box(&$m);
                let mut g = $lock;
                *g += 1;
                drop(g);
            }
            let elapsed = start.elapsed();
            black_box(&$m);
            elapsed
        })
    }};
}

/// Times `iters` lock + unlock cycles of a blocking mutex.
macro_rules! uncontended_blocking {
    ($iters:expr, $mutex:expr, $m:ident => $lock:expr) => {{
        let $m = $mutex;
        let start = Instant::now();
        for _ in 0..$iters {
            let $m = black_box(&$m);
            let mut g = $lock;
            *g += 1;
            drop(g);
        }
        let elapsed = start.elapsed();
        black_box(&$m);
        elapsed
    }};
}

/// 100 tasks on `rt`, together doing at least `iters` lock + increment + unlock cycles
/// (optionally yielding to the scheduler while holding the lock). Returns the time scaled
/// to `iters` operations and checks the counter.
macro_rules! contended_async {
    ($rt:expr, $iters:expr, $yield_inside:expr, $mutex:expr, $m:ident => $lock:expr) => {{
        let iters: u64 = $iters;
        let per_task = per_worker(iters, TASKS);
        let mutex = Arc::new($mutex);
        let elapsed = $rt.block_on(async {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    let $m = mutex.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            let mut g = $lock;
                            *g += 1;
                            if $yield_inside {
                                tokio::task::yield_now().await;
                            }
                            drop(g);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task panicked");
            }
            start.elapsed()
        });
        let done = per_task * TASKS;
        let Ok(mutex) = Arc::try_unwrap(mutex) else {
            panic!("mutex still shared");
        };
        assert_eq!(mutex.into_inner(), done, "lost update");
        scale(elapsed, iters, done)
    }};
}

/// 4 OS threads, started together, doing at least `iters` lock + increment + unlock
/// cycles in all. Returns the time scaled to `iters` operations and checks the counter.
macro_rules! contended_blocking {
    ($iters:expr, $mutex:expr, $m:ident => $lock:expr) => {{
        let iters: u64 = $iters;
        let per_thread = per_worker(iters, THREADS);
        let $m = $mutex;
        let barrier = Barrier::new(THREADS as usize + 1);
        let mut start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let $m = &$m;
                    barrier.wait();
                    for _ in 0..per_thread {
                        let mut g = $lock;
                        *g += 1;
                        drop(g);
                    }
                });
            }
            barrier.wait();
            start = Instant::now();
        });
        let elapsed = start.elapsed();
        let done = per_thread * THREADS;
        assert_eq!($m.into_inner_checked(), done, "lost update");
        scale(elapsed, iters, done)
    }};
}

/// Uniform `into_inner` for the mutexes of `contended_blocking!`.
trait IntoInnerChecked {
    fn into_inner_checked(self) -> u64;
}

impl IntoInnerChecked for aiosync::Mutex<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for parking_lot::Mutex<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for std::sync::Mutex<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner().expect("poisoned")
    }
}

impl IntoInnerChecked for async_lock::Mutex<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for tokio::sync::Mutex<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

fn uncontended_lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended_lock");
    g.throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    g.bench_function(BenchmarkId::new("aiosync", "lock"), |b| {
        b.iter_custom(
            |iters| uncontended_async!(iters, aiosync::Mutex::new(0u64), m => m.lock().await),
        )
    });
    g.bench_function(BenchmarkId::new("async_lock", "lock"), |b| {
        b.iter_custom(
            |iters| uncontended_async!(iters, async_lock::Mutex::new(0u64), m => m.lock().await),
        )
    });
    g.bench_function(BenchmarkId::new("tokio", "lock"), |b| {
        b.iter_custom(
            |iters| uncontended_async!(iters, tokio::sync::Mutex::new(0u64), m => m.lock().await),
        )
    });
    g.bench_function(BenchmarkId::new("aiosync", "lock_blocking"), |b| {
        b.iter_custom(
            |iters| uncontended_blocking!(iters, aiosync::Mutex::new(0u64), m => m.lock_blocking()),
        )
    });
    g.bench_function(BenchmarkId::new("aiosync", "try_lock"), |b| {
        b.iter_custom(|iters| {
            uncontended_blocking!(iters, aiosync::Mutex::new(0u64), m => m.try_lock().unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("parking_lot", "lock"), |b| {
        b.iter_custom(
            |iters| uncontended_blocking!(iters, parking_lot::Mutex::new(0u64), m => m.lock()),
        )
    });
    g.bench_function(BenchmarkId::new("std", "lock"), |b| {
        b.iter_custom(|iters| {
            uncontended_blocking!(iters, std::sync::Mutex::new(0u64), m => m.lock().unwrap())
        })
    });
    g.finish();
}

fn contended_async_100_tasks(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("contended_async_100_tasks");
    g.throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    for (variant, yield_inside) in [("tiny", false), ("yield", true)] {
        g.bench_function(BenchmarkId::new("aiosync", variant), |b| {
            b.iter_custom(|iters| {
                contended_async!(rt, iters, yield_inside, aiosync::Mutex::new(0u64),
                    m => m.lock().await)
            })
        });
        g.bench_function(BenchmarkId::new("tokio", variant), |b| {
            b.iter_custom(|iters| {
                contended_async!(rt, iters, yield_inside, tokio::sync::Mutex::new(0u64),
                    m => m.lock().await)
            })
        });
        g.bench_function(BenchmarkId::new("async_lock", variant), |b| {
            b.iter_custom(|iters| {
                contended_async!(rt, iters, yield_inside, async_lock::Mutex::new(0u64),
                    m => m.lock().await)
            })
        });
    }
    g.finish();
}

fn contended_blocking_4_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended_blocking_4_threads");
    g.throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("aiosync", "lock_blocking"), |b| {
        b.iter_custom(
            |iters| contended_blocking!(iters, aiosync::Mutex::new(0u64), m => m.lock_blocking()),
        )
    });
    g.bench_function(BenchmarkId::new("parking_lot", "lock"), |b| {
        b.iter_custom(
            |iters| contended_blocking!(iters, parking_lot::Mutex::new(0u64), m => m.lock()),
        )
    });
    g.bench_function(BenchmarkId::new("std", "lock"), |b| {
        b.iter_custom(
            |iters| contended_blocking!(iters, std::sync::Mutex::new(0u64), m => m.lock().unwrap()),
        )
    });
    g.bench_function(BenchmarkId::new("async_lock", "lock_blocking"), |b| {
        b.iter_custom(|iters| {
            contended_blocking!(iters, async_lock::Mutex::new(0u64), m => m.lock_blocking())
        })
    });
    // tokio's blocking_lock hands the lock over on every release (a context switch per
    // operation), so it is about three orders of magnitude slower: criterion's iteration
    // count adapts to that, so each sample runs far fewer operations (a smaller K), and
    // the time is still reported per operation.
    g.bench_function(BenchmarkId::new("tokio", "blocking_lock"), |b| {
        b.iter_custom(|iters| {
            contended_blocking!(iters, tokio::sync::Mutex::new(0u64), m => m.blocking_lock())
        })
    });
    g.finish();
}

/// A shared count of operations plus the number of holders inside at once.
#[derive(Default)]
struct Inside {
    now: AtomicUsize,
    ops: AtomicU64,
}

impl Inside {
    #[inline]
    fn enter(&self, permits: usize) {
        let was = self.now.fetch_add(1, Ordering::Relaxed);
        assert!(was < permits, "more holders than permits");
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// 100 tasks sharing a semaphore of 4 permits; see `contended_async!`.
macro_rules! semaphore_tasks {
    ($rt:expr, $iters:expr, $yield_inside:expr, $sem:expr, $s:ident => $acquire:expr) => {{
        let iters: u64 = $iters;
        let per_task = per_worker(iters, TASKS);
        let sem = Arc::new($sem);
        let inside = Arc::new(Inside::default());
        let elapsed = $rt.block_on(async {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    let $s = sem.clone();
                    let inside = inside.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            let g = $acquire;
                            inside.enter(TASK_PERMITS);
                            if $yield_inside {
                                tokio::task::yield_now().await;
                            }
                            inside.leave();
                            drop(g);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task panicked");
            }
            start.elapsed()
        });
        let done = per_task * TASKS;
        assert_eq!(inside.ops.load(Ordering::Relaxed), done, "lost operation");
        scale(elapsed, iters, done)
    }};
}

/// 4 threads sharing a semaphore of 2 permits; see `contended_blocking!`.
macro_rules! semaphore_threads {
    ($iters:expr, $sem:expr, $s:ident => $acquire:expr) => {{
        let iters: u64 = $iters;
        let per_thread = per_worker(iters, THREADS);
        let $s = $sem;
        let inside = Inside::default();
        let barrier = Barrier::new(THREADS as usize + 1);
        let mut start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    let $s = &$s;
                    barrier.wait();
                    for _ in 0..per_thread {
                        let g = $acquire;
                        inside.enter(THREAD_PERMITS);
                        inside.leave();
                        drop(g);
                    }
                });
            }
            barrier.wait();
            start = Instant::now();
        });
        let elapsed = start.elapsed();
        let done = per_thread * THREADS;
        assert_eq!(inside.ops.load(Ordering::Relaxed), done, "lost operation");
        scale(elapsed, iters, done)
    }};
}

/// Times `iters` acquire + release cycles awaited inside one `block_on`.
macro_rules! semaphore_uncontended {
    ($iters:expr, $sem:expr, $s:ident => $acquire:expr) => {{
        let $s = $sem;
        block_on(async {
            let start = Instant::now();
            for _ in 0..$iters {
                let $s = black_box(&$s);
                let g = $acquire;
                drop(black_box(g));
            }
            start.elapsed()
        })
    }};
}

fn semaphore(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("semaphore");
    g.throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    g.bench_function(BenchmarkId::new("aiosync", "uncontended"), |b| {
        b.iter_custom(|iters| {
            semaphore_uncontended!(iters, aiosync::Semaphore::new(1), s => s.acquire().await)
        })
    });
    g.bench_function(BenchmarkId::new("tokio", "uncontended"), |b| {
        b.iter_custom(|iters| {
            semaphore_uncontended!(iters, tokio::sync::Semaphore::new(1),
                s => s.acquire().await.unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("async_lock", "uncontended"), |b| {
        b.iter_custom(|iters| {
            semaphore_uncontended!(iters, async_lock::Semaphore::new(1), s => s.acquire().await)
        })
    });

    g.measurement_time(Duration::from_secs(3));
    for (variant, yield_inside) in [
        ("tasks100_permits4", false),
        ("tasks100_permits4_yield", true),
    ] {
        g.bench_function(BenchmarkId::new("aiosync", variant), |b| {
            b.iter_custom(|iters| {
                semaphore_tasks!(rt, iters, yield_inside, aiosync::Semaphore::new(TASK_PERMITS),
                    s => s.acquire().await)
            })
        });
        g.bench_function(BenchmarkId::new("tokio", variant), |b| {
            b.iter_custom(|iters| {
                semaphore_tasks!(rt, iters, yield_inside,
                    tokio::sync::Semaphore::new(TASK_PERMITS),
                    s => s.acquire().await.unwrap())
            })
        });
        g.bench_function(BenchmarkId::new("async_lock", variant), |b| {
            b.iter_custom(|iters| {
                semaphore_tasks!(rt, iters, yield_inside,
                    async_lock::Semaphore::new(TASK_PERMITS),
                    s => s.acquire().await)
            })
        });
    }

    g.bench_function(BenchmarkId::new("aiosync", "threads4_permits2"), |b| {
        b.iter_custom(|iters| {
            semaphore_threads!(iters, aiosync::Semaphore::new(THREAD_PERMITS),
                s => s.acquire_blocking())
        })
    });
    g.bench_function(BenchmarkId::new("async_lock", "threads4_permits2"), |b| {
        b.iter_custom(|iters| {
            semaphore_threads!(iters, async_lock::Semaphore::new(THREAD_PERMITS),
                s => s.acquire_blocking())
        })
    });
    // tokio's Semaphore has no blocking acquire: drive its future on the thread.
    g.bench_function(BenchmarkId::new("tokio", "threads4_permits2"), |b| {
        b.iter_custom(|iters| {
            semaphore_threads!(iters, tokio::sync::Semaphore::new(THREAD_PERMITS),
                s => block_on(s.acquire()).unwrap())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = uncontended_lock, contended_async_100_tasks, contended_blocking_4_threads, semaphore
}
criterion_main!(benches);
