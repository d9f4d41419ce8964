//! Criterion benchmark of the blocking facade's per-call overhead: a trivial async fn
//! called through `aiosync::facade::Runtime::block_on` against a hand-written
//! reqwest::blocking-style facade (a runtime thread fed through a channel, one task
//! spawned per call, the result sent back on a oneshot the caller parks on).
//!
//! ```text
//! cargo bench -p aiosync --features facade --bench facade
//! ```
//!
//! Groups (every reported time is one call):
//! - `facade_call/thread1`: one OS thread making calls back to back;
//! - `facade_call/threads4`: 4 OS threads making calls at once (started by a `Barrier`),
//!   the time per call of all calls together.
//!
//! `aiosync_facade` is the fast path (a plain thread: the future is polled on it);
//! `aiosync_forwarded` makes the same calls with another tokio runtime's context entered,
//! so each is forwarded to the facade's runtime thread (the slow path, for comparison).
//!
//! Runtimes and channels are built outside the timed part.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[allow(dead_code)] // `runtime()` is for the other benchmark files
mod common;

/// The async fn under test: no await, so only the facade's overhead is measured.
async fn trivial(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// reqwest::blocking's shape, written by hand: requests go through an unbounded channel
/// to a current-thread runtime on its own thread, which spawns one task per request;
/// the caller parks on a oneshot.
struct ChannelFacade {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChannelFacade {
    fn new() -> ChannelFacade {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                while let Some(job) = rx.recv().await {
                    tokio::spawn(job);
                }
            })
        });
        ChannelFacade {
            tx,
            thread: Some(thread),
        }
    }

    fn call(&self, x: u64) -> u64 {
        let (otx, orx) = tokio::sync::oneshot::channel();
        let job = Box::pin(async move {
            let _ = otx.send(trivial(x).await);
        });
        self.tx.send(job).expect("runtime thread alive");
        futures_lite::future::block_on(orx).expect("reply")
    }
}

impl Drop for ChannelFacade {
    fn drop(&mut self) {
        let (tx, _) = tokio::sync::mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn run_threads(threads: u64, iters: u64, call: &(dyn Fn(u64) -> u64 + Sync)) -> Duration {
    let per = common::per_worker(iters, threads);
    let barrier = Barrier::new(threads as usize + 1);
    let (start, end) = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for i in 0..per {
                    assert_eq!(call(i), i + 1);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        (start, Instant::now())
    });
    common::scale(end - start, iters, per * threads)
}

fn facade_call(c: &mut Criterion) {
    let rt = aiosync::facade::Runtime::new().unwrap();
    let channel = ChannelFacade::new();
    let facade = |x: u64| rt.block_on(trivial(x)).unwrap();
    let reqwest_style = |x: u64| channel.call(x);
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let forwarded = |x: u64| {
        let _in_tokio = other.enter();
        rt.block_on(trivial(x)).unwrap()
    };
    let mut g = c.benchmark_group("facade_call");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for threads in [1u64, 4] {
        let label = if threads == 1 { "thread1" } else { "threads4" };
        g.bench_function(BenchmarkId::new("aiosync_facade", label), |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &facade))
        });
        g.bench_function(BenchmarkId::new("aiosync_forwarded", label), |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &forwarded))
        });
        g.bench_function(BenchmarkId::new("channel_facade", label), |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &reqwest_style))
        });
    }
    g.finish();
    drop(channel);
    drop(rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = facade_call
}
criterion_main!(benches);
