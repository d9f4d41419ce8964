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

mod common;

use aiosync::task::{self, OwnerId};
use aiosync::{
    Barrier, BarrierWaitResult, Condition, Event, Mutex, Queue, ReentrantMutex, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard, Semaphore, SemaphoreGuard,
    SemaphoreGuardArc,
};
use common::{runtime, LIMIT};
use futures_lite::future::{poll_once, zip};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::time::timeout;

/// OS threads per scenario (plus a coordinator thread where a scenario needs one).
const THREADS: usize = 4;
/// tokio tasks per scenario.
const TASKS: usize = 6;
/// tokio worker threads.
const WORKERS: usize = 2;
/// Seconds each scenario runs unless `AIOSYNC_CHAOS_SECS` says otherwise.
const DEFAULT_SECS: f64 = 1.0;
/// How much longer than its running time the watchdog gives a scenario.
const WATCHDOG_SLACK: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Seeds, settings and the watchdog

/// A small deterministic PRNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    /// A short timeout for a blocking call: zero a quarter of the time, else up to 2 ms.
    fn short(&mut self) -> Duration {
        match self.below(4) {
            0 => Duration::ZERO,
            1 => Duration::from_micros(self.below(200)),
            _ => Duration::from_micros(self.below(2000)),
        }
    }
    /// A short timeout for an async call (tokio's timer ticks in milliseconds).
    fn ashort(&mut self) -> Duration {
        match self.below(4) {
            0 => Duration::ZERO,
            _ => Duration::from_micros(self.below(3000)),
        }
    }
}

fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The run's seed: `AIOSYNC_CHAOS_SEED`, or a random one (the same for every scenario).
fn base_seed() -> u64 {
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

fn chaos_secs() -> Duration {
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
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What every worker of a scenario knows: its name, seeds, and when to stop.
#[derive(Clone, Copy)]
struct Ctx {
    name: &'static str,
    base: u64,
    seed: u64,
    deadline: Instant,
}

impl Ctx {
    fn rng(&self, worker: usize) -> Rng {
        let mut r = Rng::new(self.seed ^ (worker as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
        r.next();
        r
    }
    /// Whether the random phase of the scenario is still on.
    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
    /// Names the scenario and how to replay it, for every failure message.
    fn tag(&self) -> String {
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

macro_rules! check_eq {
    ($ctx:expr, $left:expr, $right:expr, $($msg:tt)+) => {
        assert_eq!($left, $right, "{}: {}", $ctx.tag(), format_args!($($msg)+))
    };
}

/// Runs one scenario on its own thread under a watchdog: a hang fails the test.
fn run(name: &'static str, body: impl FnOnce(Ctx) + Send + 'static) {
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
fn mixed<S, TF, AF, Fut>(
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
fn wait_until(ctx: Ctx, what: &str, mut f: impl FnMut() -> bool) {
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
async fn wait_until_async(ctx: Ctx, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        check!(ctx, start.elapsed() < LIMIT, "stuck waiting for {what}");
        tokio::task::yield_now().await;
    }
}

/// A random pause inside a critical section of a thread: nothing, a yield, a spin, or
/// rarely a sleep (so that others' timeouts expire).
fn pause(rng: &mut Rng) {
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
async fn apause(rng: &mut Rng) {
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

// ---------------------------------------------------------------------------------------
// Mutex

struct MutexState {
    m: Arc<Mutex<u64>>,
    /// Holders right now: must never exceed 1.
    inside: AtomicUsize,
    /// Critical sections completed.
    done: AtomicU64,
}

fn mutex_enter(ctx: Ctx, st: &MutexState) {
    let before = st.inside.fetch_add(1, SeqCst);
    check!(
        ctx,
        before == 0,
        "{} holders of the Mutex at once",
        before + 1
    );
    check!(ctx, st.m.is_locked(), "a held Mutex says it is unlocked");
}

fn mutex_section(ctx: Ctx, st: &MutexState, v: &mut u64, rng: &mut Rng) {
    mutex_enter(ctx, st);
    let read = *v;
    pause(rng);
    *v = read + 1;
    st.inside.fetch_sub(1, SeqCst);
}

async fn mutex_section_async(ctx: Ctx, st: &MutexState, v: &mut u64, rng: &mut Rng) {
    mutex_enter(ctx, st);
    let read = *v;
    apause(rng).await;
    *v = read + 1;
    st.inside.fetch_sub(1, SeqCst);
}

#[test]
fn mutex() {
    run("mutex", |ctx| {
        let st = Arc::new(MutexState {
            m: Arc::new(Mutex::new(0)),
            inside: AtomicUsize::new(0),
            done: AtomicU64::new(0),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, _, mut rng| {
                let mut mine = 0;
                while ctx.running() {
                    let g = match rng.below(6) {
                        0 => st.m.try_lock(),
                        1 | 2 => st.m.lock_blocking_timeout(rng.short()),
                        3 => Some(st.m.lock_blocking()),
                        4 => aiosync::block_on(st.m.lock(), Some(rng.short())),
                        _ => {
                            if let Some(mut g) = st.m.lock_arc_blocking_timeout(rng.short()) {
                                mutex_section(ctx, st, &mut g, &mut rng);
                                mine += 1;
                            }
                            continue;
                        }
                    };
                    if let Some(mut g) = g {
                        mutex_section(ctx, st, &mut g, &mut rng);
                        mine += 1;
                    }
                }
                st.done.fetch_add(mine, SeqCst);
            },
            TASKS,
            move |st, _, mut rng| async move {
                let mut mine = 0;
                while ctx.running() {
                    let g = match rng.below(6) {
                        0 => st.m.try_lock(),
                        1 | 2 => timeout(rng.ashort(), st.m.lock()).await.ok(),
                        3 => Some(st.m.lock().await),
                        4 => poll_once(st.m.lock()).await,
                        _ => {
                            if let Ok(mut g) = timeout(rng.ashort(), st.m.lock_arc()).await {
                                mutex_section_async(ctx, &st, &mut g, &mut rng).await;
                                mine += 1;
                            }
                            continue;
                        }
                    };
                    if let Some(mut g) = g {
                        mutex_section_async(ctx, &st, &mut g, &mut rng).await;
                        mine += 1;
                    }
                }
                st.done.fetch_add(mine, SeqCst);
            },
        );
        let done = st.done.load(SeqCst);
        check!(ctx, !st.m.is_locked(), "Mutex still locked at the end");
        check_eq!(ctx, st.inside.load(SeqCst), 0, "holders left");
        let g = st.m.try_lock();
        check!(ctx, g.is_some(), "try_lock fails on an idle Mutex");
        check_eq!(
            ctx,
            *g.unwrap(),
            done,
            "lost updates (value vs critical sections)"
        );
        check!(ctx, done > 0, "no critical section at all");
        eprintln!("chaos `mutex`: {done} critical sections");
    });
}

// ---------------------------------------------------------------------------------------
// ReentrantMutex

struct ReentrantState {
    m: ReentrantMutex<AtomicU64>,
    inside: AtomicUsize,
    /// Increments made, one per level entered.
    done: AtomicU64,
}

/// One level's critical section: a read-modify-write with a pause in the middle.
fn reentrant_bump(v: &AtomicU64, rng: &mut Rng) {
    let read = v.load(SeqCst);
    pause(rng);
    v.store(read + 1, SeqCst);
}

async fn reentrant_bump_async(v: &AtomicU64, rng: &mut Rng) {
    let read = v.load(SeqCst);
    apause(rng).await;
    v.store(read + 1, SeqCst);
}

fn reentrant_enter(ctx: Ctx, st: &ReentrantState, owner: OwnerId) {
    let before = st.inside.fetch_add(1, SeqCst);
    check!(
        ctx,
        before == 0,
        "{} owners of the ReentrantMutex",
        before + 1
    );
    check!(
        ctx,
        st.m.is_owned_by(owner),
        "is_owned_by false for the owner"
    );
    check_eq!(ctx, st.m.levels_of(owner), 1, "levels after the first lock");
}

#[test]
fn reentrant_mutex() {
    run("reentrant_mutex", |ctx| {
        let st = Arc::new(ReentrantState {
            m: ReentrantMutex::new(AtomicU64::new(0)),
            inside: AtomicUsize::new(0),
            done: AtomicU64::new(0),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, _, mut rng| {
                let owner = OwnerId::current_thread();
                let mut mine = 0;
                while ctx.running() {
                    let outer = match rng.below(4) {
                        0 => st.m.try_lock(),
                        1 | 2 => st.m.lock_blocking_timeout(rng.short()),
                        _ => Some(st.m.lock_blocking()),
                    };
                    let Some(outer) = outer else { continue };
                    reentrant_enter(ctx, st, owner);
                    reentrant_bump(&outer, &mut rng);
                    mine += 1;
                    let mut levels = vec![outer];
                    for _ in 0..rng.below(4) {
                        // The owner re-enters at once, whatever the form.
                        let g = match rng.below(3) {
                            0 => st.m.try_lock(),
                            1 => st.m.lock_blocking_timeout(Duration::ZERO),
                            _ => Some(st.m.lock_blocking()),
                        };
                        check!(ctx, g.is_some(), "the owning thread could not re-enter");
                        levels.push(g.unwrap());
                        check_eq!(ctx, st.m.levels_of(owner), levels.len(), "nesting depth");
                        reentrant_bump(&levels[0], &mut rng);
                        mine += 1;
                    }
                    while levels.len() > 1 {
                        levels.pop();
                        check_eq!(ctx, st.m.levels_of(owner), levels.len(), "depth on unwind");
                        check!(ctx, st.m.is_locked(), "unlocked while levels remain");
                    }
                    st.inside.fetch_sub(1, SeqCst);
                    drop(levels);
                }
                st.done.fetch_add(mine, SeqCst);
            },
            TASKS,
            move |st, _, mut rng| {
                task::scope(async move {
                    let owner = OwnerId::current_task().expect("scope gives an id");
                    let mut mine = 0;
                    while ctx.running() {
                        let outer = match rng.below(4) {
                            0 => st.m.try_lock(),
                            1 => timeout(rng.ashort(), st.m.lock())
                                .await
                                .ok()
                                .map(|r| r.expect("task id")),
                            2 => poll_once(st.m.lock()).await.map(|r| r.expect("task id")),
                            _ => Some(st.m.lock().await.expect("task in a scope has an id")),
                        };
                        let Some(outer) = outer else { continue };
                        reentrant_enter(ctx, &st, owner);
                        reentrant_bump_async(&outer, &mut rng).await;
                        mine += 1;
                        let mut levels = vec![outer];
                        for _ in 0..rng.below(4) {
                            let g = match rng.below(3) {
                                0 => st.m.try_lock(),
                                1 => poll_once(st.m.lock()).await.map(|r| r.expect("task id")),
                                _ => Some(st.m.lock().await.expect("task id")),
                            };
                            check!(ctx, g.is_some(), "the owning task could not re-enter");
                            levels.push(g.unwrap());
                            check_eq!(ctx, st.m.levels_of(owner), levels.len(), "nesting depth");
                            reentrant_bump_async(&levels[0], &mut rng).await;
                            mine += 1;
                        }
                        while levels.len() > 1 {
                            levels.pop();
                            check_eq!(ctx, st.m.levels_of(owner), levels.len(), "depth on unwind");
                        }
                        st.inside.fetch_sub(1, SeqCst);
                        drop(levels);
                    }
                    st.done.fetch_add(mine, SeqCst);
                })
            },
        );
        let done = st.done.load(SeqCst);
        check!(
            ctx,
            !st.m.is_locked(),
            "ReentrantMutex still locked at the end"
        );
        let g = st.m.try_lock();
        check!(ctx, g.is_some(), "try_lock fails on an idle ReentrantMutex");
        check_eq!(ctx, g.unwrap().load(SeqCst), done, "lost updates");
        check!(ctx, done > 0, "no critical section at all");
        eprintln!("chaos `reentrant_mutex`: {done} increments");
    });
}

// ---------------------------------------------------------------------------------------
// Semaphore (plain and bounded; multi-permit acquires, forget + add_permits)

struct SemState {
    sem: Arc<Semaphore>,
    permits: usize,
    in_use: AtomicUsize,
    done: AtomicU64,
}

/// Either kind of guard.
enum Permit<'a> {
    Ref(SemaphoreGuard<'a>),
    Owned(SemaphoreGuardArc),
}

impl Permit<'_> {
    fn permits(&self) -> usize {
        match self {
            Permit::Ref(g) => g.permits(),
            Permit::Owned(g) => g.permits(),
        }
    }
    fn forget(self) {
        match self {
            Permit::Ref(g) => g.forget(),
            Permit::Owned(g) => g.forget(),
        }
    }
}

fn sem_enter(ctx: Ctx, st: &SemState, p: &Permit<'_>, k: usize) {
    check_eq!(
        ctx,
        p.permits(),
        k,
        "guard holds the wrong number of permits"
    );
    let before = st.in_use.fetch_add(k, SeqCst);
    check!(
        ctx,
        before + k <= st.permits,
        "{} permits in use of {}",
        before + k,
        st.permits
    );
}

/// Gives the permits back: by dropping the guard, or by forgetting them and adding them.
fn sem_leave(ctx: Ctx, st: &SemState, p: Permit<'_>, k: usize, rng: &mut Rng) {
    st.in_use.fetch_sub(k, SeqCst);
    if rng.chance(15) {
        p.forget();
        let r = st.sem.add_permits(k);
        check!(
            ctx,
            r.is_ok(),
            "add_permits({k}) after forget failed: {r:?}"
        );
    } else {
        drop(p);
    }
}

fn sem_scenario(name: &'static str, bounded: bool) {
    run(name, move |ctx| {
        const N: usize = 5;
        let st = Arc::new(SemState {
            sem: Arc::new(if bounded {
                Semaphore::bounded(N)
            } else {
                Semaphore::new(N)
            }),
            permits: N,
            in_use: AtomicUsize::new(0),
            done: AtomicU64::new(0),
        });
        let rt = runtime(WORKERS);
        let many = |rng: &mut Rng| {
            if rng.chance(10) {
                N
            } else {
                1 + rng.below(3) as usize
            }
        };
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, _, mut rng| {
                let mut mine = 0;
                while ctx.running() {
                    let k = many(&mut rng);
                    let sem = &st.sem;
                    let (p, k) = match rng.below(7) {
                        0 => (sem.try_acquire_many(k).map(Permit::Ref), k),
                        1 | 2 => (
                            sem.acquire_many_blocking_timeout(k, rng.short())
                                .map(Permit::Ref),
                            k,
                        ),
                        3 => (Some(Permit::Ref(sem.acquire_many_blocking(k))), k),
                        4 => (
                            aiosync::block_on(sem.acquire_many(k), Some(rng.short()))
                                .map(Permit::Ref),
                            k,
                        ),
                        5 => (sem.try_acquire().map(Permit::Ref), 1),
                        _ => (Some(Permit::Owned(sem.acquire_arc_blocking())), 1),
                    };
                    let Some(p) = p else { continue };
                    sem_enter(ctx, st, &p, k);
                    pause(&mut rng);
                    sem_leave(ctx, st, p, k, &mut rng);
                    mine += 1;
                }
                st.done.fetch_add(mine, SeqCst);
            },
            TASKS,
            move |st, _, mut rng| async move {
                let mut mine = 0;
                while ctx.running() {
                    let k = many(&mut rng);
                    let sem = &st.sem;
                    let p = match rng.below(6) {
                        0 => sem.try_acquire_many(k).map(Permit::Ref),
                        1 | 2 => timeout(rng.ashort(), sem.acquire_many(k))
                            .await
                            .ok()
                            .map(Permit::Ref),
                        3 => Some(Permit::Ref(sem.acquire_many(k).await)),
                        4 => poll_once(sem.acquire_many(k)).await.map(Permit::Ref),
                        _ => timeout(rng.ashort(), sem.acquire_many_arc(k))
                            .await
                            .ok()
                            .map(Permit::Owned),
                    };
                    let Some(p) = p else { continue };
                    sem_enter(ctx, &st, &p, k);
                    apause(&mut rng).await;
                    sem_leave(ctx, &st, p, k, &mut rng);
                    mine += 1;
                }
                st.done.fetch_add(mine, SeqCst);
            },
        );
        let done = st.done.load(SeqCst);
        check_eq!(
            ctx,
            st.in_use.load(SeqCst),
            0,
            "permits still counted in use"
        );
        check_eq!(
            ctx,
            st.sem.available_permits(),
            N,
            "permits not back to the initial count"
        );
        check!(ctx, !st.sem.has_waiters(), "waiters left on the Semaphore");
        check!(
            ctx,
            st.sem.try_acquire_many(N).is_some(),
            "all permits not acquirable"
        );
        if bounded {
            check!(
                ctx,
                st.sem.add_permits(1).is_err(),
                "bound exceeded by add_permits"
            );
        }
        check!(ctx, done > 0, "no acquire at all");
        eprintln!("chaos `{name}`: {done} acquires");
    });
}

#[test]
fn semaphore() {
    sem_scenario("semaphore", false);
}

#[test]
fn bounded_semaphore() {
    sem_scenario("bounded_semaphore", true);
}

// ---------------------------------------------------------------------------------------
// Event: rounds of clear / set; every party must pass every round, and only after its set

struct EventState {
    ev: Event,
    /// The round being played (0: none yet).
    round: AtomicU64,
    /// The round whose `set` has been called.
    set_round: AtomicU64,
    acks: AtomicUsize,
    stop: AtomicBool,
    rounds: AtomicU64,
    passes: AtomicU64,
    parties: usize,
}

/// The coordinator: clear, open a round, pause, set, wait for every party to pass.
fn event_coordinator(ctx: Ctx, st: &EventState, rng: &mut Rng) {
    let mut r = 0;
    loop {
        r += 1;
        st.ev.clear();
        st.acks.store(0, SeqCst);
        st.round.store(r, SeqCst);
        // Let some parties queue before the set, and some arrive after it.
        match rng.below(4) {
            0 => {}
            1 => thread::yield_now(),
            2 => thread::sleep(Duration::from_micros(rng.below(300))),
            _ => thread::sleep(Duration::from_micros(rng.below(3000))),
        }
        st.set_round.store(r, SeqCst);
        st.ev.set();
        wait_until(ctx, "every party to pass the set Event", || {
            st.acks.load(SeqCst) == st.parties
        });
        if !ctx.running() {
            st.rounds.store(r, SeqCst);
            st.stop.store(true, SeqCst);
            return;
        }
    }
}

/// A party has passed round `r`.
fn event_passed(ctx: Ctx, st: &EventState, r: u64) {
    check_eq!(
        ctx,
        st.set_round.load(SeqCst),
        r,
        "a wait returned before the round's set (Event was cleared)"
    );
    st.passes.fetch_add(1, SeqCst);
    st.acks.fetch_add(1, SeqCst);
}

#[test]
fn event() {
    run("event", |ctx| {
        let st = Arc::new(EventState {
            ev: Event::new(),
            round: AtomicU64::new(0),
            set_round: AtomicU64::new(0),
            acks: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            rounds: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            parties: THREADS + TASKS,
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS + 1,
            |st, id, mut rng| {
                if id == THREADS {
                    return event_coordinator(ctx, st, &mut rng);
                }
                let mut last = 0;
                loop {
                    wait_until(ctx, "the next Event round", || {
                        st.round.load(SeqCst) > last || st.stop.load(SeqCst)
                    });
                    let r = st.round.load(SeqCst);
                    if r == last {
                        return; // stopped
                    }
                    last = r;
                    let start = Instant::now();
                    match rng.below(4) {
                        0 => {
                            while !st.ev.wait_blocking_timeout(rng.short()) {
                                check!(ctx, start.elapsed() < LIMIT, "Event never set (timed)");
                            }
                        }
                        1 => st.ev.wait_blocking(),
                        2 => {
                            while aiosync::block_on(st.ev.wait(), Some(rng.short())).is_none() {
                                check!(ctx, start.elapsed() < LIMIT, "Event never set (block_on)");
                            }
                        }
                        _ => wait_until(ctx, "is_set", || st.ev.is_set()),
                    }
                    event_passed(ctx, st, r);
                }
            },
            TASKS,
            move |st, _, mut rng| async move {
                let mut last = 0;
                loop {
                    wait_until_async(ctx, "the next Event round", || {
                        st.round.load(SeqCst) > last || st.stop.load(SeqCst)
                    })
                    .await;
                    let r = st.round.load(SeqCst);
                    if r == last {
                        return;
                    }
                    last = r;
                    let start = Instant::now();
                    match rng.below(4) {
                        0 => {
                            while timeout(rng.ashort(), st.ev.wait()).await.is_err() {
                                check!(ctx, start.elapsed() < LIMIT, "Event never set (timeout)");
                            }
                        }
                        1 => st.ev.wait().await,
                        2 => {
                            // A waiter queued and dropped, then a real one.
                            let _ = poll_once(st.ev.wait()).await;
                            st.ev.wait().await;
                        }
                        _ => {
                            // Two waiters of one task, one of them cut short.
                            let t = rng.ashort();
                            let ((), _) = zip(st.ev.wait(), timeout(t, st.ev.wait())).await;
                        }
                    }
                    event_passed(ctx, &st, r);
                }
            },
        );
        let rounds = st.rounds.load(SeqCst);
        check_eq!(
            ctx,
            st.passes.load(SeqCst),
            rounds * st.parties as u64,
            "passes != parties x rounds"
        );
        check!(ctx, rounds > 0, "no round played");
        st.ev.clear();
        check_eq!(ctx, st.ev.set(), 0, "waiters left on the Event");
        check!(ctx, st.ev.is_set(), "Event not set after set()");
        eprintln!("chaos `event`: {rounds} rounds");
    });
}

// ---------------------------------------------------------------------------------------
// Condition: producers add tokens and notify; consumers wait for tokens and take them

#[derive(Default)]
struct Tokens {
    tokens: u64,
    produced: u64,
    consumed: u64,
    done: bool,
}

struct CondState {
    m: Mutex<Tokens>,
    c: Condition,
    producers_left: AtomicUsize,
    taken: AtomicU64,
}

/// Thread 0, 1 and every other task produce; the rest consume.
fn is_producer(id: usize) -> bool {
    if id < THREADS {
        id < 2
    } else {
        (id - THREADS - 1) % 2 == 0
    }
}

const COND_PRODUCERS: usize = 2 + TASKS.div_ceil(2);

fn notify_k(c: &Condition, k: u64, rng: &mut Rng) {
    match rng.below(3) {
        0 => {
            c.notify(k as usize);
        }
        1 => {
            c.notify_all();
        }
        _ => {
            for _ in 0..k {
                c.notify_one();
            }
        }
    }
}

/// Adds `k` tokens; notifies under the lock or after it.
fn produce(g: &mut Tokens, k: u64) {
    g.tokens += k;
    g.produced += k;
}

fn ready(t: &mut Tokens) -> bool {
    t.tokens > 0 || t.done
}

/// Takes a token if there is one; returns whether the consumer should stop.
fn consume(g: &mut Tokens, mine: &mut u64) -> bool {
    if g.tokens > 0 {
        g.tokens -= 1;
        g.consumed += 1;
        *mine += 1;
        false
    } else {
        g.done
    }
}

/// After the producers stop: the consumers, most of them asleep, must take every token
/// left without help (a notification lost on a cancelled waiter would strand tokens),
/// then they are told to stop.
fn cond_coordinator(ctx: Ctx, st: &CondState) {
    wait_until(ctx, "the producers to stop", || {
        st.producers_left.load(SeqCst) == 0
    });
    wait_until(
        ctx,
        "consumers to take the last tokens (a lost notification?)",
        || st.m.lock_blocking().tokens == 0,
    );
    st.m.lock_blocking().done = true;
    st.c.notify_all();
}

#[test]
fn condition() {
    run("condition", |ctx| {
        let st = Arc::new(CondState {
            m: Mutex::new(Tokens::default()),
            c: Condition::new(),
            producers_left: AtomicUsize::new(COND_PRODUCERS),
            taken: AtomicU64::new(0),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS + 1,
            |st, id, mut rng| {
                if id == THREADS {
                    return cond_coordinator(ctx, st);
                }
                if is_producer(id) {
                    while ctx.running() {
                        let k = 1 + rng.below(3);
                        let g = match rng.below(3) {
                            0 => Some(st.m.lock_blocking()),
                            1 => st.m.lock_blocking_timeout(rng.short()),
                            _ => st.m.try_lock(),
                        };
                        let Some(mut g) = g else { continue };
                        produce(&mut g, k);
                        if rng.chance(50) {
                            notify_k(&st.c, k, &mut rng);
                            drop(g);
                        } else {
                            drop(g);
                            notify_k(&st.c, k, &mut rng);
                        }
                        if rng.chance(30) {
                            thread::sleep(Duration::from_micros(rng.below(500)));
                        }
                    }
                    st.producers_left.fetch_sub(1, SeqCst);
                    return;
                }
                let mut mine = 0;
                loop {
                    let g = st.m.lock_blocking();
                    let mut g = match rng.below(5) {
                        0 => st.c.wait_for_blocking(g, ready),
                        1 => st.c.wait_for_blocking_timeout(g, rng.short(), ready).0,
                        2 => st.c.wait_blocking_timeout(g, rng.short()).0,
                        3 => {
                            let mut g = g;
                            while !ready(&mut g) {
                                g = st.c.wait_blocking(g);
                            }
                            g
                        }
                        _ => g, // just look
                    };
                    if consume(&mut g, &mut mine) {
                        break;
                    }
                }
                st.taken.fetch_add(mine, SeqCst);
            },
            TASKS,
            move |st, id, mut rng| async move {
                if is_producer(id) {
                    while ctx.running() {
                        let k = 1 + rng.below(3);
                        let g = match rng.below(3) {
                            0 => Some(st.m.lock().await),
                            1 => timeout(rng.ashort(), st.m.lock()).await.ok(),
                            _ => st.m.try_lock(),
                        };
                        let Some(mut g) = g else { continue };
                        produce(&mut g, k);
                        if rng.chance(50) {
                            notify_k(&st.c, k, &mut rng);
                            drop(g);
                        } else {
                            drop(g);
                            notify_k(&st.c, k, &mut rng);
                        }
                        if rng.chance(30) {
                            tokio::task::yield_now().await;
                        }
                    }
                    st.producers_left.fetch_sub(1, SeqCst);
                    return;
                }
                let mut mine = 0;
                loop {
                    let g = st.m.lock().await;
                    let mut g = match rng.below(5) {
                        0 => st.c.wait_for(g, ready).await,
                        1 => match timeout(rng.ashort(), st.c.wait_for(g, ready)).await {
                            Ok(g) => g,
                            Err(_) => continue, // cancelled: the lock is not held
                        },
                        2 => match timeout(rng.ashort(), st.c.wait(g)).await {
                            Ok(g) => g,
                            Err(_) => continue,
                        },
                        3 => {
                            // Queued (and the lock given up) by one poll, then dropped.
                            match poll_once(st.c.wait(g)).await {
                                Some(g) => g,
                                None => continue,
                            }
                        }
                        _ => {
                            let mut g = g;
                            while !ready(&mut g) {
                                g = st.c.wait(g).await;
                            }
                            g
                        }
                    };
                    if consume(&mut g, &mut mine) {
                        break;
                    }
                }
                st.taken.fetch_add(mine, SeqCst);
            },
        );
        let g = st.m.try_lock();
        check!(ctx, g.is_some(), "Mutex of the Condition still locked");
        let g = g.unwrap();
        check_eq!(ctx, g.tokens, 0, "tokens left");
        check_eq!(ctx, g.consumed, g.produced, "consumed != produced");
        check_eq!(
            ctx,
            st.taken.load(SeqCst),
            g.produced,
            "tokens taken by workers"
        );
        check!(ctx, g.produced > 0, "nothing produced");
        check_eq!(ctx, st.c.waiters(), 0, "waiters left on the Condition");
        check_eq!(
            ctx,
            st.c.notify_all(),
            0,
            "notify_all woke someone at the end"
        );
        eprintln!("chaos `condition`: {} tokens", g.produced);
    });
}

// ---------------------------------------------------------------------------------------
// Barrier: rounds; odd rounds are gated (one party arrives only after all others are
// queued, and those first withdraw a few cancelled waits), even rounds are free-for-all

/// What a round produced.
#[derive(Default)]
struct RoundRec {
    /// Bit i: a party got index i.
    indices: u64,
    leaders: usize,
    /// Parties that arrived for real (gated rounds).
    arrived: usize,
}

struct BarrierState {
    b: Barrier,
    parties: usize,
    /// The last round to play; lowered once the time is up.
    last_round: AtomicU64,
    rounds: std::sync::Mutex<HashMap<u64, RoundRec>>,
}

impl BarrierState {
    fn arrived(&self, r: u64) -> usize {
        self.rounds.lock().unwrap().get(&r).map_or(0, |x| x.arrived)
    }
    fn arrive(&self, r: u64) {
        self.rounds.lock().unwrap().entry(r).or_default().arrived += 1;
    }
    fn record(&self, ctx: Ctx, r: u64, res: BarrierWaitResult) {
        check_eq!(
            ctx,
            res.is_leader(),
            res.index() + 1 == self.parties,
            "leader vs index"
        );
        check!(
            ctx,
            res.index() < self.parties,
            "index {} out of range",
            res.index()
        );
        {
            let mut rounds = self.rounds.lock().unwrap();
            let rec = rounds.entry(r).or_default();
            let bit = 1u64 << res.index();
            check!(
                ctx,
                rec.indices & bit == 0,
                "index {} twice in round {r}",
                res.index()
            );
            rec.indices |= bit;
            rec.leaders += usize::from(res.is_leader());
        }
        if res.is_leader() && !ctx.running() {
            // Everyone may already be in round r + 1, but none can be past it: it needs
            // this party.
            self.last_round.fetch_min(r + 1, SeqCst);
        }
    }
    /// The party that arrives last in gated round `r`.
    fn gate(&self, r: u64) -> usize {
        ((r / 2) as usize) % self.parties
    }
}

fn barrier_ok(
    ctx: Ctx,
    r: Result<BarrierWaitResult, aiosync::BrokenBarrierError>,
) -> BarrierWaitResult {
    match r {
        Ok(r) => r,
        Err(e) => panic!("{}: Barrier broken: {e}", ctx.tag()),
    }
}

#[test]
fn barrier() {
    run("barrier", |ctx| {
        let parties = THREADS + TASKS;
        let st = Arc::new(BarrierState {
            b: Barrier::new(parties),
            parties,
            last_round: AtomicU64::new(u64::MAX),
            rounds: std::sync::Mutex::new(HashMap::new()),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, id, mut rng| {
                let mut r = 0;
                while r <= st.last_round.load(SeqCst) {
                    let gated = r % 2 == 1;
                    if gated && st.gate(r) == id {
                        wait_until(ctx, "the other parties to queue", || {
                            st.arrived(r) == st.parties - 1 && st.b.n_waiting() == st.parties - 1
                        });
                    } else if gated {
                        for _ in 0..rng.below(3) {
                            // The round cannot complete yet: the wait must time out (and
                            // withdraw).
                            let probe = aiosync::block_on(st.b.wait(), Some(rng.short()));
                            check!(ctx, probe.is_none(), "a withdrawn wait passed round {r}");
                        }
                        st.arrive(r);
                    } else {
                        pause(&mut rng);
                    }
                    let res = barrier_ok(
                        ctx,
                        match rng.below(3) {
                            0 => st.b.wait_blocking(),
                            1 => st.b.wait_blocking_timeout(LIMIT),
                            _ => aiosync::block_on(st.b.wait(), Some(LIMIT))
                                .unwrap_or_else(|| panic!("{}: barrier wait hung", ctx.tag())),
                        },
                    );
                    if gated && st.gate(r) == id {
                        check!(ctx, res.is_leader(), "the gating party was not last");
                    }
                    st.record(ctx, r, res);
                    r += 1;
                }
            },
            TASKS,
            move |st, id, mut rng| async move {
                let mut r = 0;
                while r <= st.last_round.load(SeqCst) {
                    let gated = r % 2 == 1;
                    if gated && st.gate(r) == id {
                        wait_until_async(ctx, "the other parties to queue", || {
                            st.arrived(r) == st.parties - 1 && st.b.n_waiting() == st.parties - 1
                        })
                        .await;
                    } else if gated {
                        for _ in 0..rng.below(3) {
                            let passed = if rng.chance(50) {
                                timeout(rng.ashort(), st.b.wait()).await.is_ok()
                            } else {
                                poll_once(st.b.wait()).await.is_some()
                            };
                            check!(ctx, !passed, "a cancelled wait passed round {r}");
                        }
                        st.arrive(r);
                    } else {
                        apause(&mut rng).await;
                    }
                    let res = match timeout(LIMIT, st.b.wait()).await {
                        Ok(res) => barrier_ok(ctx, res),
                        Err(_) => panic!("{}: barrier wait hung in round {r}", ctx.tag()),
                    };
                    if gated && st.gate(r) == id {
                        check!(ctx, res.is_leader(), "the gating party was not last");
                    }
                    st.record(ctx, r, res);
                    r += 1;
                }
            },
        );
        let last = st.last_round.load(SeqCst);
        check!(ctx, last < u64::MAX, "never stopped");
        let rounds = st.rounds.lock().unwrap();
        check_eq!(ctx, rounds.len() as u64, last + 1, "rounds recorded");
        let all = (1u64 << parties) - 1;
        for r in 0..=last {
            let rec = &rounds[&r];
            check_eq!(
                ctx,
                rec.indices,
                all,
                "indices of round {r} (bit per index)"
            );
            check_eq!(ctx, rec.leaders, 1, "leaders of round {r}");
        }
        check_eq!(ctx, st.b.n_waiting(), 0, "parties left waiting");
        check!(ctx, !st.b.is_broken(), "Barrier broken at the end");
        eprintln!("chaos `barrier`: {} rounds", last + 1);
    });
}

// ---------------------------------------------------------------------------------------
// RwLock: reads, writes and upgradable reads, with upgrades and downgrades

struct RwState {
    l: RwLock<u64>,
    readers: AtomicUsize,
    writers: AtomicUsize,
    upgradable: AtomicUsize,
    max_readers: AtomicUsize,
    /// Write sections completed (only changed under the write lock).
    writes: AtomicU64,
    ops: AtomicU64,
}

/// A lock held in one of the three modes.
enum Held<'a> {
    Read(RwLockReadGuard<'a, u64>),
    Write(RwLockWriteGuard<'a, u64>),
    Upgradable(RwLockUpgradableReadGuard<'a, u64>),
}

impl RwState {
    /// Counts a mode just entered and checks it is compatible with the others.
    fn enter(&self, ctx: Ctx, held: &Held<'_>) {
        match held {
            Held::Read(g) => {
                let n = self.readers.fetch_add(1, SeqCst) + 1;
                self.max_readers.fetch_max(n, SeqCst);
                check_eq!(
                    ctx,
                    self.writers.load(SeqCst),
                    0,
                    "a reader next to a writer"
                );
                check_eq!(
                    ctx,
                    **g,
                    self.writes.load(SeqCst),
                    "a reader saw a partial write"
                );
            }
            Held::Upgradable(g) => {
                let before = self.upgradable.fetch_add(1, SeqCst);
                check_eq!(ctx, before, 0, "two upgradable readers at once");
                check_eq!(
                    ctx,
                    self.writers.load(SeqCst),
                    0,
                    "upgradable next to a writer"
                );
                check_eq!(
                    ctx,
                    **g,
                    self.writes.load(SeqCst),
                    "an upgradable saw a partial write"
                );
            }
            Held::Write(_) => {
                let before = self.writers.fetch_add(1, SeqCst);
                check_eq!(ctx, before, 0, "two writers at once");
                check_eq!(
                    ctx,
                    self.readers.load(SeqCst),
                    0,
                    "a writer next to readers"
                );
                check_eq!(
                    ctx,
                    self.upgradable.load(SeqCst),
                    0,
                    "a writer next to an upgradable"
                );
                check!(
                    ctx,
                    self.l.is_write_locked(),
                    "is_write_locked false for a writer"
                );
            }
        }
    }
    /// Uncounts a mode about to be left (before the guard goes or changes).
    fn leave(&self, held: &Held<'_>) {
        let c = match held {
            Held::Read(_) => &self.readers,
            Held::Write(_) => &self.writers,
            Held::Upgradable(_) => &self.upgradable,
        };
        c.fetch_sub(1, SeqCst);
    }
}

/// The write section: a read-modify-write with a pause in the middle.
fn rw_write(st: &RwState, g: &mut RwLockWriteGuard<'_, u64>, rng: &mut Rng) {
    let v = **g;
    pause(rng);
    **g = v + 1;
    st.writes.fetch_add(1, SeqCst);
}

async fn rw_write_async(st: &RwState, g: &mut RwLockWriteGuard<'_, u64>, rng: &mut Rng) {
    let v = **g;
    apause(rng).await;
    **g = v + 1;
    st.writes.fetch_add(1, SeqCst);
}

/// Plays one lock session from a thread: random mode changes until the guard is dropped.
fn rw_session_thread(ctx: Ctx, st: &RwState, first: Held<'_>, rng: &mut Rng) {
    let mut held = Some(first);
    for step in 0.. {
        let Some(mut h) = held.take() else { break };
        st.enter(ctx, &h);
        if let Held::Write(g) = &mut h {
            rw_write(st, g, rng);
        } else {
            pause(rng);
        }
        st.leave(&h);
        if step >= 4 {
            break; // drops h
        }
        held = match (h, rng.below(5)) {
            (Held::Write(g), 0) => Some(Held::Read(RwLockWriteGuard::downgrade(g))),
            (Held::Write(g), 1) => Some(Held::Upgradable(
                RwLockWriteGuard::downgrade_to_upgradable(g),
            )),
            (Held::Upgradable(g), 0) => Some(Held::Read(RwLockUpgradableReadGuard::downgrade(g))),
            (Held::Upgradable(g), 1) => match RwLockUpgradableReadGuard::try_upgrade(g) {
                Ok(w) => Some(Held::Write(w)),
                Err(g) => Some(Held::Upgradable(g)),
            },
            (Held::Upgradable(g), 2) => {
                Some(Held::Write(RwLockUpgradableReadGuard::upgrade_blocking(g)))
            }
            (Held::Upgradable(g), 3) => {
                // Gives the upgradable lock up too if the time runs out.
                aiosync::block_on(RwLockUpgradableReadGuard::upgrade(g), Some(rng.short()))
                    .map(Held::Write)
            }
            _ => None,
        };
    }
}

async fn rw_session_async(ctx: Ctx, st: &RwState, first: Held<'_>, rng: &mut Rng) {
    let mut held = Some(first);
    for step in 0.. {
        let Some(mut h) = held.take() else { break };
        st.enter(ctx, &h);
        if let Held::Write(g) = &mut h {
            rw_write_async(st, g, rng).await;
        } else {
            apause(rng).await;
        }
        st.leave(&h);
        if step >= 4 {
            break;
        }
        held = match (h, rng.below(6)) {
            (Held::Write(g), 0) => Some(Held::Read(RwLockWriteGuard::downgrade(g))),
            (Held::Write(g), 1) => Some(Held::Upgradable(
                RwLockWriteGuard::downgrade_to_upgradable(g),
            )),
            (Held::Upgradable(g), 0) => Some(Held::Read(RwLockUpgradableReadGuard::downgrade(g))),
            (Held::Upgradable(g), 1) => match RwLockUpgradableReadGuard::try_upgrade(g) {
                Ok(w) => Some(Held::Write(w)),
                Err(g) => Some(Held::Upgradable(g)),
            },
            (Held::Upgradable(g), 2) => {
                Some(Held::Write(RwLockUpgradableReadGuard::upgrade(g).await))
            }
            (Held::Upgradable(g), 3) => {
                timeout(rng.ashort(), RwLockUpgradableReadGuard::upgrade(g))
                    .await
                    .ok()
                    .map(Held::Write)
            }
            (Held::Upgradable(g), 4) => poll_once(RwLockUpgradableReadGuard::upgrade(g))
                .await
                .map(Held::Write),
            _ => None,
        };
    }
}

#[test]
fn rwlock() {
    run("rwlock", |ctx| {
        let st = Arc::new(RwState {
            l: RwLock::new(0),
            readers: AtomicUsize::new(0),
            writers: AtomicUsize::new(0),
            upgradable: AtomicUsize::new(0),
            max_readers: AtomicUsize::new(0),
            writes: AtomicU64::new(0),
            ops: AtomicU64::new(0),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, _, mut rng| {
                let l = &st.l;
                while ctx.running() {
                    let t = rng.short();
                    let form = rng.below(4);
                    // Reads are the most common, as in real use.
                    let held = match (rng.below(6), form) {
                        (0..=2, 0) => l.try_read().map(Held::Read),
                        (0..=2, 1) => l.read_blocking_timeout(t).map(Held::Read),
                        (0..=2, 2) => Some(Held::Read(l.read_blocking())),
                        (0..=2, _) => aiosync::block_on(l.read(), Some(t)).map(Held::Read),
                        (3..=4, 0) => l.try_write().map(Held::Write),
                        (3..=4, 1) => l.write_blocking_timeout(t).map(Held::Write),
                        (3..=4, 2) => Some(Held::Write(l.write_blocking())),
                        (3..=4, _) => aiosync::block_on(l.write(), Some(t)).map(Held::Write),
                        (_, 0) => l.try_upgradable_read().map(Held::Upgradable),
                        (_, 1) => l.upgradable_read_blocking_timeout(t).map(Held::Upgradable),
                        (_, 2) => Some(Held::Upgradable(l.upgradable_read_blocking())),
                        (_, _) => {
                            aiosync::block_on(l.upgradable_read(), Some(t)).map(Held::Upgradable)
                        }
                    };
                    if let Some(h) = held {
                        rw_session_thread(ctx, st, h, &mut rng);
                        st.ops.fetch_add(1, SeqCst);
                    }
                }
            },
            TASKS,
            move |st, _, mut rng| async move {
                let l = &st.l;
                while ctx.running() {
                    let t = rng.ashort();
                    let form = rng.below(4);
                    let held = match (rng.below(6), form) {
                        (0..=2, 0) => l.try_read().map(Held::Read),
                        (0..=2, 1) => timeout(t, l.read()).await.ok().map(Held::Read),
                        (0..=2, 2) => Some(Held::Read(l.read().await)),
                        (0..=2, _) => poll_once(l.read()).await.map(Held::Read),
                        (3..=4, 0) => l.try_write().map(Held::Write),
                        (3..=4, 1) => timeout(t, l.write()).await.ok().map(Held::Write),
                        (3..=4, 2) => Some(Held::Write(l.write().await)),
                        (3..=4, _) => poll_once(l.write()).await.map(Held::Write),
                        (_, 0) => l.try_upgradable_read().map(Held::Upgradable),
                        (_, 1) => timeout(t, l.upgradable_read())
                            .await
                            .ok()
                            .map(Held::Upgradable),
                        (_, 2) => Some(Held::Upgradable(l.upgradable_read().await)),
                        (_, _) => poll_once(l.upgradable_read()).await.map(Held::Upgradable),
                    };
                    if let Some(h) = held {
                        rw_session_async(ctx, &st, h, &mut rng).await;
                        st.ops.fetch_add(1, SeqCst);
                    }
                }
            },
        );
        let writes = st.writes.load(SeqCst);
        check!(ctx, !st.l.is_locked(), "RwLock still locked at the end");
        for (c, what) in [
            (&st.readers, "readers"),
            (&st.writers, "writers"),
            (&st.upgradable, "upgradable"),
        ] {
            check_eq!(ctx, c.load(SeqCst), 0, "{what} still counted");
        }
        {
            let w = st.l.try_write();
            check!(ctx, w.is_some(), "try_write fails on an idle RwLock");
            check_eq!(
                ctx,
                *w.unwrap(),
                writes,
                "lost updates (value vs write sections)"
            );
        }
        // Readers share, from two threads, and exclude a writer.
        {
            let r1 = st.l.try_read();
            check!(ctx, r1.is_some(), "try_read fails on an idle RwLock");
            let shared = thread::scope(|s| s.spawn(|| st.l.try_read().is_some()).join().unwrap());
            check!(ctx, shared, "a second reader (other thread) was refused");
            let up = st.l.try_upgradable_read();
            check!(
                ctx,
                up.is_some(),
                "an upgradable reader was refused next to a reader"
            );
            check!(
                ctx,
                st.l.try_write().is_none(),
                "a writer got in next to readers"
            );
        }
        let max_readers = st.max_readers.load(SeqCst);
        check!(ctx, writes > 0, "no write at all");
        eprintln!(
            "chaos `rwlock`: {} sessions, {writes} writes, up to {max_readers} readers at once",
            st.ops.load(SeqCst)
        );
    });
}

// ---------------------------------------------------------------------------------------
// Queue (FIFO, LIFO, priority): random puts, gets, task_done and join; then drain

#[derive(Clone, Copy, PartialEq)]
enum Order {
    Fifo,
    Lifo,
    Priority,
}

struct QueueState {
    q: Queue<u64>,
    order: Order,
    workers: usize,
    /// Items put (successfully) by each worker: its ids are `item(w, 0..count)`.
    put_by: Vec<AtomicU64>,
    puts: AtomicU64,
    gets: AtomicU64,
    /// Workers done putting.
    producers_done: AtomicUsize,
    got: std::sync::Mutex<Vec<u64>>,
}

fn item(worker: usize, seq: u64) -> u64 {
    ((worker as u64) << 32) | seq
}

/// One consumer's view: what it got, and per producer the last sequence number seen.
struct Consumer {
    got: Vec<u64>,
    last: HashMap<u64, u64>,
    /// Items got whose task_done is still owed.
    owed: usize,
}

impl Consumer {
    fn new() -> Consumer {
        Consumer {
            got: Vec::new(),
            last: HashMap::new(),
            owed: 0,
        }
    }

    fn got(&mut self, ctx: Ctx, st: &QueueState, v: u64, rng: &mut Rng) {
        let (producer, seq) = (v >> 32, v & 0xFFFF_FFFF);
        check!(
            ctx,
            (producer as usize) < st.workers,
            "an item nobody put: {v:#x}"
        );
        if st.order == Order::Fifo {
            // Items of one producer leave a FIFO queue in the order they were put.
            if let Some(&prev) = self.last.get(&producer) {
                check!(
                    ctx,
                    seq > prev,
                    "FIFO order broken: producer {producer} item {seq} after {prev}"
                );
            }
            self.last.insert(producer, seq);
        }
        self.got.push(v);
        st.gets.fetch_add(1, SeqCst);
        if rng.chance(70) {
            self.done(ctx, st);
        } else {
            self.owed += 1;
        }
    }

    fn done(&mut self, ctx: Ctx, st: &QueueState) {
        let r = st.q.task_done();
        check!(
            ctx,
            r.is_ok(),
            "task_done refused with items outstanding: {r:?}"
        );
    }

    fn pay(&mut self, ctx: Ctx, st: &QueueState) {
        for _ in 0..std::mem::take(&mut self.owed) {
            self.done(ctx, st);
        }
    }

    fn finish(mut self, ctx: Ctx, st: &QueueState) {
        self.pay(ctx, st);
        st.got.lock().unwrap().append(&mut self.got);
    }
}

/// Whether the drain is over: every worker done putting and every item got.
fn drained(st: &QueueState) -> bool {
    st.producers_done.load(SeqCst) == st.workers && st.gets.load(SeqCst) == st.puts.load(SeqCst)
}

fn queue_scenario(name: &'static str, order: Order, maxsize: usize) {
    run(name, move |ctx| {
        let workers = THREADS + TASKS;
        let st = Arc::new(QueueState {
            q: match order {
                Order::Fifo => Queue::new(maxsize),
                Order::Lifo => Queue::lifo(maxsize),
                Order::Priority => Queue::priority(maxsize),
            },
            order,
            workers,
            put_by: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            producers_done: AtomicUsize::new(0),
            got: std::sync::Mutex::new(Vec::new()),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, id, mut rng| {
                let q = &st.q;
                let mut seq = 0;
                let mut me = Consumer::new();
                while ctx.running() {
                    match rng.below(10) {
                        0..=3 => {
                            let v = item(id, seq);
                            let ok = match rng.below(3) {
                                0 => q.try_put(v).is_ok(),
                                1 => q.put_blocking_timeout(v, rng.short()).is_ok(),
                                _ => aiosync::block_on(q.put(v), Some(rng.short()))
                                    .is_some_and(|r| r.is_ok()),
                            };
                            if ok {
                                seq += 1;
                                st.puts.fetch_add(1, SeqCst);
                            }
                        }
                        4..=7 => {
                            let v = match rng.below(3) {
                                0 => q.try_get().ok(),
                                1 => q.get_blocking_timeout(rng.short()).ok(),
                                _ => aiosync::block_on(q.get(), Some(rng.short()))
                                    .and_then(|r| r.ok()),
                            };
                            if let Some(v) = v {
                                me.got(ctx, st, v, &mut rng);
                            }
                        }
                        8 => {
                            q.join_blocking_timeout(rng.short());
                        }
                        _ => me.pay(ctx, st),
                    }
                }
                st.put_by[id].store(seq, SeqCst);
                me.pay(ctx, st);
                st.producers_done.fetch_add(1, SeqCst);
                let start = Instant::now();
                while !drained(st) {
                    check!(ctx, start.elapsed() < LIMIT, "queue drain stuck");
                    if let Ok(v) = q.get_blocking_timeout(rng.short()) {
                        me.got(ctx, st, v, &mut rng);
                    }
                }
                me.finish(ctx, st);
            },
            TASKS,
            move |st, id, mut rng| async move {
                let q = &st.q;
                let mut seq = 0;
                let mut me = Consumer::new();
                while ctx.running() {
                    match rng.below(10) {
                        0..=3 => {
                            let v = item(id, seq);
                            let ok = match rng.below(3) {
                                0 => q.try_put(v).is_ok(),
                                1 => matches!(timeout(rng.ashort(), q.put(v)).await, Ok(Ok(()))),
                                _ => matches!(poll_once(q.put(v)).await, Some(Ok(()))),
                            };
                            if ok {
                                seq += 1;
                                st.puts.fetch_add(1, SeqCst);
                            }
                        }
                        4..=7 => {
                            let v = match rng.below(3) {
                                0 => q.try_get().ok(),
                                1 => timeout(rng.ashort(), q.get())
                                    .await
                                    .ok()
                                    .and_then(|r| r.ok()),
                                _ => poll_once(q.get()).await.and_then(|r| r.ok()),
                            };
                            if let Some(v) = v {
                                me.got(ctx, &st, v, &mut rng);
                            }
                        }
                        8 => {
                            let _ = timeout(rng.ashort(), q.join()).await;
                        }
                        _ => me.pay(ctx, &st),
                    }
                }
                st.put_by[id].store(seq, SeqCst);
                me.pay(ctx, &st);
                st.producers_done.fetch_add(1, SeqCst);
                let start = Instant::now();
                while !drained(&st) {
                    check!(ctx, start.elapsed() < LIMIT, "queue drain stuck");
                    if let Ok(Ok(v)) = timeout(rng.ashort(), q.get()).await {
                        me.got(ctx, &st, v, &mut rng);
                    }
                }
                me.finish(ctx, &st);
            },
        );
        let mut got = std::mem::take(&mut *st.got.lock().unwrap());
        got.sort_unstable();
        let mut expected: Vec<u64> = (0..workers)
            .flat_map(|w| (0..st.put_by[w].load(SeqCst)).map(move |s| item(w, s)))
            .collect();
        expected.sort_unstable();
        if got != expected {
            let dup = got.windows(2).filter(|w| w[0] == w[1]).count();
            let g: std::collections::HashSet<_> = got.iter().copied().collect();
            let e: std::collections::HashSet<_> = expected.iter().copied().collect();
            let lost: Vec<_> = e.difference(&g).take(5).collect();
            let extra: Vec<_> = g.difference(&e).take(5).collect();
            panic!(
                "{}: items not delivered exactly once: {} put, {} got, {dup} duplicated, \
                 lost (first 5) {lost:x?}, never put {extra:x?}",
                ctx.tag(),
                expected.len(),
                got.len()
            );
        }
        let q = &st.q;
        check_eq!(ctx, q.len(), 0, "items left in the queue");
        check_eq!(
            ctx,
            q.unfinished_tasks(),
            0,
            "unfinished tasks after matching task_done"
        );
        check!(
            ctx,
            q.join_blocking_timeout(LIMIT),
            "join_blocking did not return"
        );
        let joined = rt.block_on(async { timeout(LIMIT, q.join()).await.is_ok() });
        check!(ctx, joined, "join().await did not return");
        check!(
            ctx,
            q.task_done().is_err(),
            "task_done accepted one call too many"
        );
        check!(
            ctx,
            q.try_get().is_err(),
            "try_get found an item after the drain"
        );
        check!(ctx, !expected.is_empty(), "no item put");
        eprintln!("chaos `{name}`: {} items", expected.len());
    });
}

#[test]
fn queue_fifo() {
    queue_scenario("queue_fifo", Order::Fifo, 4);
}

#[test]
fn queue_lifo() {
    queue_scenario("queue_lifo", Order::Lifo, 2);
}

#[test]
fn queue_priority() {
    queue_scenario("queue_priority", Order::Priority, 5);
}
