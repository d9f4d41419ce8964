//! Framework of the seeded chaos tests (`chaos_*.rs`): seeds, settings, the watchdog, and the thread/task mix.
//!
//! Seeded chaos tests: for each primitive, 4 OS threads and tokio tasks (on a 2-worker
//! multi-thread runtime) use ONE object at once with operations drawn from a seeded PRNG:
//! blocking calls with random short timeouts, async calls cut short by
//! `tokio::time::timeout` or dropped after one poll (cancellation), `try_*` calls, and the
//! untimed forms where they cannot hang a correct program. Then the END STATE is checked
//! exactly: counters equal the number of successful critical sections, permits and
//! waiters are back to their initial state, every queued item came out exactly once.
//!
//! - `AIOSYNC_CHAOS_SEED=<u64>` replays a seed (the operation choices; thread timing is
//!   not reproducible, so a timing-dependent failure may need a few runs). Without it a
//!   random seed is used. Every failure message names the seed.
//! - `AIOSYNC_CHAOS_SECS=<f64>` is how long each scenario runs (default 1 s; the default
//!   run of the whole file takes about 10 s on 2 cores).
//!
//! Every wait has a bound: the scenario runs on its own thread under a watchdog, and every
//! spin or untimed wait inside it fails after [`LIMIT`], so a hang fails the test.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code, unused_macros)]

use super::LIMIT;
use std::future::Future;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// OS threads per scenario (plus a coordinator thread where a scenario needs one).
pub const THREADS: usize = 4;
/// tokio tasks per scenario.
pub const TASKS: usize = 6;
/// tokio worker threads.
pub const WORKERS: usize = 2;
/// Seconds each scenario runs unless `AIOSYNC_CHAOS_SECS` says otherwise.
pub const DEFAULT_SECS: f64 = 1.0;
/// How much longer than its running time the watchdog gives a scenario.
pub const WATCHDOG_SLACK: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Seeds, settings and the watchdog

/// A small deterministic PRNG (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    /// A short timeout for a blocking call: zero a quarter of the time, else up to 2 ms.
    pub fn short(&mut self) -> Duration {
        match self.below(4) {
            0 => Duration::ZERO,
            1 => Duration::from_micros(self.below(200)),
            _ => Duration::from_micros(self.below(2000)),
        }
    }
    /// A short timeout for an async call (tokio's timer ticks in milliseconds).
    pub fn ashort(&mut self) -> Duration {
        match self.below(4) {
            0 => Duration::ZERO,
            _ => Duration::from_micros(self.below(3000)),
        }
    }
}

pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The run's seed: `AIOSYNC_CHAOS_SEED`, or a random one (the same for every scenario).
pub fn base_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("AIOSYNC_CHAOS_SEED") {
        Ok(s) => parse_seed(&s).unwrap_or_else(|| panic!("bad AIOSYNC_CHAOS_SEED {s:?}")),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            Rng::new(t ^ u64::from(std::process::id()).rotate_left(32)).next()
        }
    })
}

pub fn chaos_secs() -> Duration {
    let secs = match std::env::var("AIOSYNC_CHAOS_SECS") {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad AIOSYNC_CHAOS_SECS {s:?}")),
        Err(_) => DEFAULT_SECS,
    };
    Duration::from_secs_f64(secs.max(0.0))
}

/// FNV-1a, to give each scenario its own stream from the one seed.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What every worker of a scenario knows: its name, seeds, and when to stop.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub name: &'static str,
    pub base: u64,
    pub seed: u64,
    pub deadline: Instant,
}

impl Ctx {
    pub fn rng(&self, worker: usize) -> Rng {
        let mut r = Rng::new(self.seed ^ (worker as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
        r.next();
        r
    }
    /// Whether the random phase of the scenario is still on.
    pub fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
    /// Names the scenario and how to replay it, for every failure message.
    pub fn tag(&self) -> String {
        format!(
            "chaos `{}` (replay: AIOSYNC_CHAOS_SEED={} cargo test -p aiosync --test chaos {})",
            self.name, self.base, self.name
        )
    }
}

macro_rules! check {
    ($ctx:expr, $cond:expr, $($msg:tt)+) => {
        assert!($cond, "{}: {}", $ctx.tag(), format_args!($($msg)+))
    };
}
#[allow(unused_imports)]
pub(crate) use check;

macro_rules! check_eq {
    ($ctx:expr, $left:expr, $right:expr, $($msg:tt)+) => {
        assert_eq!($left, $right, "{}: {}", $ctx.tag(), format_args!($($msg)+))
    };
}
#[allow(unused_imports)]
pub(crate) use check_eq;

/// Runs one scenario on its own thread under a watchdog: a hang fails the test.
pub fn run(name: &'static str, body: impl FnOnce(Ctx) + Send + 'static) {
    let secs = chaos_secs();
    let base = base_seed();
    let ctx = Ctx {
        name,
        base,
        seed: Rng::new(base ^ fnv(name)).next(),
        deadline: Instant::now() + secs,
    };
    eprintln!("chaos `{name}`: AIOSYNC_CHAOS_SEED={base} AIOSYNC_CHAOS_SECS={secs:?}");
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("chaos-{name}"))
        .spawn(move || {
            body(ctx);
            let _ = tx.send(());
        })
        .unwrap();
    let limit = secs + WATCHDOG_SLACK;
    match rx.recv_timeout(limit) {
        Ok(()) => {
            handle.join().unwrap();
            eprintln!("chaos `{name}`: passed in {:.2?}", start.elapsed());
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            eprintln!("{}: FAILED (see the panic above)", ctx.tag());
            match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("scenario ended without a result"),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{}: not finished within {limit:?}: a hang (deadlock or lost wake-up), \
             or a worker panicked while others waited for it (see above)",
            ctx.tag()
        ),
    }
}

/// Runs `thread_fn(state, id, rng)` on `threads` OS threads (ids `0..threads`) and
/// `task_fn(state, id, rng)` as `tasks` tokio tasks (ids `threads..`), all at once, and
/// returns when all are done (a panic in any of them is passed on).
pub fn mixed<S, TF, AF, Fut>(
    ctx: Ctx,
    rt: &Runtime,
    state: &Arc<S>,
    threads: usize,
    thread_fn: TF,
    tasks: usize,
    task_fn: AF,
) where
    S: Send + Sync + 'static,
    TF: Fn(&S, usize, Rng) + Sync,
    AF: Fn(Arc<S>, usize, Rng) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    thread::scope(|s| {
        for id in 0..threads {
            let (state, thread_fn) = (&**state, &thread_fn);
            thread::Builder::new()
                .name(format!("chaos-{}-{id}", ctx.name))
                .spawn_scoped(s, move || thread_fn(state, id, ctx.rng(id)))
                .unwrap();
        }
        let handles: Vec<_> = (threads..threads + tasks)
            .map(|id| rt.spawn(task_fn(state.clone(), id, ctx.rng(id))))
            .collect();
        rt.block_on(async {
            for h in handles {
                if let Err(e) = h.await {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        });
    });
}

/// Spins (yielding) until `f()` holds; fails after [`LIMIT`].
pub fn wait_until(ctx: Ctx, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !f() {
        check!(ctx, start.elapsed() < LIMIT, "stuck waiting for {what}");
        spins += 1;
        if spins < 100 {
            thread::yield_now();
        } else {
            thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Async form of [`wait_until`].
pub async fn wait_until_async(ctx: Ctx, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        check!(ctx, start.elapsed() < LIMIT, "stuck waiting for {what}");
        tokio::task::yield_now().await;
    }
}

/// A random pause inside a critical section of a thread: nothing, a yield, a spin, or
/// rarely a sleep (so that others' timeouts expire).
pub fn pause(rng: &mut Rng) {
    match rng.below(32) {
        0..=11 => {}
        12..=23 => thread::yield_now(),
        24..=30 => {
            for _ in 0..rng.below(300) {
                std::hint::spin_loop();
            }
        }
        _ => thread::sleep(Duration::from_micros(rng.below(300))),
    }
}

/// A random pause inside a critical section of a task.
pub async fn apause(rng: &mut Rng) {
    match rng.below(64) {
        0..=23 => {}
        24..=55 => tokio::task::yield_now().await,
        56..=62 => {
            for _ in 0..rng.below(300) {
                std::hint::spin_loop();
            }
        }
        _ => tokio::time::sleep(Duration::from_millis(1)).await,
    }
}
