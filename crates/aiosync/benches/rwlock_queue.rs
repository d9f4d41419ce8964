//! Criterion benchmarks for `RwLock` and `Queue`: aiosync against tokio::sync,
//! async-lock, async-channel, parking_lot and std.
//!
//! Every group runs its implementations side by side in one run, so the ratios between
//! them are what to read. The benchmarks use `iter_custom` and scale the measured
//! duration to the number of iterations criterion asked for, so every reported time is
//! the time of **one** operation: one lock + release (RwLock groups) or one item put and
//! taken (Queue groups). Runtimes, locks and channels are built outside the timed part.
//!
//! ```text
//! cargo bench -p aiosync --bench rwlock_queue
//! ```
//!
//! Groups:
//! - `rwlock_read_heavy` (1 operation in 20 is a write, 5%) and `rwlock_write_heavy`
//!   (1 in 2, 50%): every worker reads the shared `u64` under a read lock or increments
//!   it under the write lock. `tasks100`: 100 tokio tasks on a 2-worker multi-thread
//!   runtime (aiosync, tokio, async_lock); `threads4`: 4 OS threads started together by a
//!   `Barrier` (aiosync `*_blocking`, parking_lot, std, async_lock `*_blocking`). Which
//!   operations are writes is a fixed pattern, staggered across workers, so the final
//!   value must equal the number of writes exactly.
//! - `queue_spsc` (1 producer, 1 consumer) and `queue_mpmc_4x4` (4 producers, 4
//!   consumers), all bounded to 64 items, `u64` ids `0..n` put in total. `async`: tokio
//!   tasks on a 2-worker multi-thread runtime (aiosync `put`/`get`, tokio mpsc,
//!   async_channel); `blocking`: OS threads (aiosync `put_blocking`/`get_blocking`,
//!   async_channel `send_blocking`/`recv_blocking`, and for spsc only std's
//!   `sync_channel(64)`, whose receiver cannot be shared). tokio's mpsc has one receiver:
//!   in the 4x4 group its 4 consumers share it behind a `tokio::sync::Mutex` (held across
//!   `recv`), reported as `tokio_mpsc_mutex`. Each consumer takes exactly `n / consumers`
//!   items; the count, sum and sum of squares of everything received must match `0..n`
//!   exactly (every item once).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

mod common;
use common::{per_worker, runtime, scale};

/// Tasks in the async RwLock benchmarks.
const TASKS: u64 = 100;
/// Threads in the blocking RwLock benchmarks.
const THREADS: u64 = 4;
/// Capacity of every queue.
const CAP: usize = 64;
/// One operation in `READ_HEAVY` is a write (5%).
const READ_HEAVY: u64 = 20;
/// One operation in `WRITE_HEAVY` is a write (50%).
const WRITE_HEAVY: u64 = 2;

/// Which operations of one worker are writes: one in `period`, staggered across
/// workers so they do not all write at the same step. A countdown, so the hot loop pays
/// no division.
struct Pattern {
    left: u64,
    period: u64,
}

impl Pattern {
    /// Operations before the first write of `worker`.
    fn first(worker: u64, period: u64) -> u64 {
        (period - worker % period) % period
    }

    fn new(worker: u64, period: u64) -> Pattern {
        Pattern {
            left: Pattern::first(worker, period),
            period,
        }
    }

    #[inline(always)]
    fn next_is_write(&mut self) -> bool {
        if self.left == 0 {
            self.left = self.period - 1;
            true
        } else {
            self.left -= 1;
            false
        }
    }
}

/// The number of writes `workers` workers doing `per` operations each make.
fn expected_writes(per: u64, workers: u64, period: u64) -> u64 {
    (0..workers)
        .map(|w| {
            let first = Pattern::first(w, period);
            if first < per {
                (per - 1 - first) / period + 1
            } else {
                0
            }
        })
        .sum()
}

/// `TASKS` tasks on `rt` doing at least `iters` operations in all, one in `period` a
/// write. Returns the time scaled to `iters` operations and checks the write count.
macro_rules! rwlock_async {
    ($rt:expr, $iters:expr, $period:expr, $lock:expr,
     $l:ident => read: $read:expr, write: $write:expr) => {{
        let iters: u64 = $iters;
        let period: u64 = $period;
        let per_task = per_worker(iters, TASKS);
        let lock = Arc::new($lock);
        let elapsed = $rt.block_on(async {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|w| {
                    let $l = lock.clone();
                    tokio::spawn(async move {
                        let mut pattern = Pattern::new(w, period);
                        for _ in 0..per_task {
                            if pattern.next_is_write() {
                                let mut g = $write;
                                *g += 1;
                            } else {
                                let g = $read;
                                black_box(*g);
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task panicked");
            }
            start.elapsed()
        });
        let Ok(lock) = Arc::try_unwrap(lock) else {
            panic!("lock still shared");
        };
        assert_eq!(
            lock.into_inner_checked(),
            expected_writes(per_task, TASKS, period),
            "lost or extra write"
        );
        scale(elapsed, iters, per_task * TASKS)
    }};
}

/// `THREADS` OS threads, started together, doing at least `iters` operations in all, one
/// in `period` a write. Returns the time scaled to `iters` operations and checks the
/// write count.
macro_rules! rwlock_blocking {
    ($iters:expr, $period:expr, $lock:expr,
     $l:ident => read: $read:expr, write: $write:expr) => {{
        let iters: u64 = $iters;
        let period: u64 = $period;
        let per_thread = per_worker(iters, THREADS);
        let lock = $lock;
        let barrier = Barrier::new(THREADS as usize + 1);
        let mut start = Instant::now();
        std::thread::scope(|s| {
            for w in 0..THREADS {
                let ($l, barrier) = (&lock, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut pattern = Pattern::new(w, period);
                    for _ in 0..per_thread {
                        if pattern.next_is_write() {
                            let mut g = $write;
                            *g += 1;
                        } else {
                            let g = $read;
                            black_box(*g);
                        }
                    }
                });
            }
            barrier.wait();
            start = Instant::now();
        });
        let elapsed = start.elapsed();
        assert_eq!(
            lock.into_inner_checked(),
            expected_writes(per_thread, THREADS, period),
            "lost or extra write"
        );
        scale(elapsed, iters, per_thread * THREADS)
    }};
}

/// Uniform `into_inner` for the locks of the RwLock benchmarks.
trait IntoInnerChecked {
    fn into_inner_checked(self) -> u64;
}

impl IntoInnerChecked for aiosync::RwLock<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for tokio::sync::RwLock<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for async_lock::RwLock<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for parking_lot::RwLock<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner()
    }
}

impl IntoInnerChecked for std::sync::RwLock<u64> {
    fn into_inner_checked(self) -> u64 {
        self.into_inner().expect("poisoned")
    }
}

/// One RwLock group: one write in `period` operations.
fn rwlock_group(c: &mut Criterion, name: &str, period: u64) {
    let rt = runtime();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("aiosync", "tasks100"), |b| {
        b.iter_custom(|iters| {
            rwlock_async!(rt, iters, period, aiosync::RwLock::new(0u64),
                l => read: l.read().await, write: l.write().await)
        })
    });
    g.bench_function(BenchmarkId::new("tokio", "tasks100"), |b| {
        b.iter_custom(|iters| {
            rwlock_async!(rt, iters, period, tokio::sync::RwLock::new(0u64),
                l => read: l.read().await, write: l.write().await)
        })
    });
    g.bench_function(BenchmarkId::new("async_lock", "tasks100"), |b| {
        b.iter_custom(|iters| {
            rwlock_async!(rt, iters, period, async_lock::RwLock::new(0u64),
                l => read: l.read().await, write: l.write().await)
        })
    });

    g.bench_function(BenchmarkId::new("aiosync", "threads4"), |b| {
        b.iter_custom(|iters| {
            rwlock_blocking!(iters, period, aiosync::RwLock::new(0u64),
                l => read: l.read_blocking(), write: l.write_blocking())
        })
    });
    g.bench_function(BenchmarkId::new("parking_lot", "threads4"), |b| {
        b.iter_custom(|iters| {
            rwlock_blocking!(iters, period, parking_lot::RwLock::new(0u64),
                l => read: l.read(), write: l.write())
        })
    });
    g.bench_function(BenchmarkId::new("std", "threads4"), |b| {
        b.iter_custom(|iters| {
            rwlock_blocking!(iters, period, std::sync::RwLock::new(0u64),
                l => read: l.read().unwrap(), write: l.write().unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("async_lock", "threads4"), |b| {
        b.iter_custom(|iters| {
            rwlock_blocking!(iters, period, async_lock::RwLock::new(0u64),
                l => read: l.read_blocking(), write: l.write_blocking())
        })
    });
    g.finish();
}

fn rwlock_read_heavy(c: &mut Criterion) {
    rwlock_group(c, "rwlock_read_heavy", READ_HEAVY);
}

fn rwlock_write_heavy(c: &mut Criterion) {
    rwlock_group(c, "rwlock_write_heavy", WRITE_HEAVY);
}

/// What the consumers received: enough to check that every id of `0..n` came once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Received {
    count: u64,
    sum: u128,
    sum_sq: u128,
}

impl Received {
    #[inline(always)]
    fn add(&mut self, id: u64) {
        let id = u128::from(id);
        self.count += 1;
        self.sum += id;
        self.sum_sq += id * id;
    }

    fn merge(mut self, other: Received) -> Received {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self
    }

    /// What receiving each of `0..n` exactly once gives.
    fn expected(n: u64) -> Received {
        let n = u128::from(n);
        Received {
            count: n as u64,
            sum: n * n.saturating_sub(1) / 2,
            sum_sq: n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6,
        }
    }
}

/// Sizes of one queue run: each producer puts `per_producer` ids, each consumer takes
/// `per_consumer` items, `total` in all.
struct Split {
    per_producer: u64,
    per_consumer: u64,
    total: u64,
}

impl Split {
    fn new(iters: u64, producers: u64, consumers: u64) -> Split {
        let per_producer = per_worker(iters, producers);
        let total = per_producer * producers;
        assert_eq!(total % consumers, 0, "consumers must divide the items");
        Split {
            per_producer,
            per_consumer: total / consumers,
            total,
        }
    }
}

/// `n` handles to one endpoint.
fn fan<T: Clone>(end: T, n: u64) -> Vec<T> {
    vec![end; n as usize]
}

/// Producers and consumers as tokio tasks on `rt`. `$ends` gives `(senders, receivers)`,
/// one per task. Returns the time scaled to `iters` items and checks what was received.
macro_rules! queue_async {
    ($rt:expr, $iters:expr, $producers:expr, $consumers:expr, $ends:expr,
     $tx:ident, $id:ident => $put:expr, $rx:ident => $get:expr) => {{
        let iters: u64 = $iters;
        let split = Split::new(iters, $producers, $consumers);
        let (txs, rxs) = $ends;
        assert_eq!(
            (txs.len() as u64, rxs.len() as u64),
            ($producers, $consumers)
        );
        let Split {
            per_producer,
            per_consumer,
            total,
        } = split;
        let (elapsed, got) = $rt.block_on(async move {
            let start = Instant::now();
            let consumers: Vec<_> = rxs
                .into_iter()
                .map(|$rx| {
                    tokio::spawn(async move {
                        #[allow(unused_mut)]
                        let mut $rx = $rx;
                        let mut got = Received::default();
                        for _ in 0..per_consumer {
                            let v: u64 = $get;
                            got.add(v);
                        }
                        got
                    })
                })
                .collect();
            let producers: Vec<_> = txs
                .into_iter()
                .zip(0u64..)
                .map(|($tx, p)| {
                    tokio::spawn(async move {
                        for $id in p * per_producer..(p + 1) * per_producer {
                            $put;
                        }
                    })
                })
                .collect();
            let mut got = Received::default();
            for h in consumers {
                got = got.merge(h.await.expect("consumer panicked"));
            }
            for h in producers {
                h.await.expect("producer panicked");
            }
            (start.elapsed(), got)
        });
        assert_eq!(got, Received::expected(total), "item lost or duplicated");
        scale(elapsed, iters, total)
    }};
}

/// Producers and consumers as OS threads, started together. See `queue_async!`.
macro_rules! queue_blocking {
    ($iters:expr, $producers:expr, $consumers:expr, $ends:expr,
     $tx:ident, $id:ident => $put:expr, $rx:ident => $get:expr) => {{
        let iters: u64 = $iters;
        let split = Split::new(iters, $producers, $consumers);
        let (txs, rxs) = $ends;
        assert_eq!(
            (txs.len() as u64, rxs.len() as u64),
            ($producers, $consumers)
        );
        let Split {
            per_producer,
            per_consumer,
            total,
        } = split;
        let barrier = Barrier::new(($producers + $consumers) as usize + 1);
        let mut start = Instant::now();
        let got = std::thread::scope(|s| {
            let barrier = &barrier;
            let consumers: Vec<_> = rxs
                .into_iter()
                .map(|$rx| {
                    s.spawn(move || {
                        barrier.wait();
                        let mut got = Received::default();
                        for _ in 0..per_consumer {
                            let v: u64 = $get;
                            got.add(v);
                        }
                        got
                    })
                })
                .collect();
            for ($tx, p) in txs.into_iter().zip(0u64..) {
                s.spawn(move || {
                    barrier.wait();
                    for $id in p * per_producer..(p + 1) * per_producer {
                        $put;
                    }
                });
            }
            barrier.wait();
            start = Instant::now();
            consumers
                .into_iter()
                .map(|h| h.join().expect("consumer panicked"))
                .fold(Received::default(), Received::merge)
        });
        // The scope has joined the producers too.
        let elapsed = start.elapsed();
        assert_eq!(got, Received::expected(total), "item lost or duplicated");
        scale(elapsed, iters, total)
    }};
}

/// Senders and receivers, one per producer and consumer.
type Ends<T, R> = (Vec<T>, Vec<R>);

type AiosyncQueue = Arc<aiosync::Queue<u64>>;

fn aiosync_ends(p: u64, c: u64) -> Ends<AiosyncQueue, AiosyncQueue> {
    let q = Arc::new(aiosync::Queue::new(CAP));
    (fan(q.clone(), p), fan(q, c))
}

fn async_channel_ends(
    p: u64,
    c: u64,
) -> Ends<async_channel::Sender<u64>, async_channel::Receiver<u64>> {
    let (tx, rx) = async_channel::bounded(CAP);
    (fan(tx, p), fan(rx, c))
}

/// One queue group with `p` producers and `c` consumers.
fn queue_group(c: &mut Criterion, name: &str, producers: u64, consumers: u64) {
    let rt = runtime();
    let spsc = producers == 1 && consumers == 1;
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("aiosync", "async"), |b| {
        b.iter_custom(|iters| {
            queue_async!(rt, iters, producers, consumers, aiosync_ends(producers, consumers),
                tx, id => tx.put(id).await.unwrap(),
                rx => rx.get().await.unwrap())
        })
    });
    if spsc {
        g.bench_function(BenchmarkId::new("tokio_mpsc", "async"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAP);
                queue_async!(rt, iters, 1, 1, (vec![tx], vec![rx]),
                    tx, id => tx.send(id).await.unwrap(),
                    rx => rx.recv().await.unwrap())
            })
        });
    } else {
        // One receiver shared by the consumers: the mutex is held across `recv`.
        g.bench_function(BenchmarkId::new("tokio_mpsc_mutex", "async"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAP);
                let rx = Arc::new(tokio::sync::Mutex::new(rx));
                queue_async!(rt, iters, producers, consumers,
                    (fan(tx, producers), fan(rx, consumers)),
                    tx, id => tx.send(id).await.unwrap(),
                    rx => rx.lock().await.recv().await.unwrap())
            })
        });
    }
    g.bench_function(BenchmarkId::new("async_channel", "async"), |b| {
        b.iter_custom(|iters| {
            queue_async!(rt, iters, producers, consumers,
                async_channel_ends(producers, consumers),
                tx, id => tx.send(id).await.unwrap(),
                rx => rx.recv().await.unwrap())
        })
    });

    g.bench_function(BenchmarkId::new("aiosync", "blocking"), |b| {
        b.iter_custom(|iters| {
            queue_blocking!(iters, producers, consumers, aiosync_ends(producers, consumers),
                tx, id => tx.put_blocking(id).unwrap(),
                rx => rx.get_blocking().unwrap())
        })
    });
    g.bench_function(BenchmarkId::new("async_channel", "blocking"), |b| {
        b.iter_custom(|iters| {
            queue_blocking!(iters, producers, consumers,
                async_channel_ends(producers, consumers),
                tx, id => tx.send_blocking(id).unwrap(),
                rx => rx.recv_blocking().unwrap())
        })
    });
    if spsc {
        g.bench_function(BenchmarkId::new("std_sync_channel", "blocking"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAP);
                queue_blocking!(iters, 1, 1, (vec![tx], vec![rx]),
                    tx, id => tx.send(id).unwrap(),
                    rx => rx.recv().unwrap())
            })
        });
    }
    g.finish();
}

fn queue_spsc(c: &mut Criterion) {
    queue_group(c, "queue_spsc", 1, 1);
}

fn queue_mpmc_4x4(c: &mut Criterion) {
    queue_group(c, "queue_mpmc_4x4", 4, 4);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = rwlock_read_heavy, rwlock_write_heavy, queue_spsc, queue_mpmc_4x4
}
criterion_main!(benches);
