//! Seeded chaos tests of `Semaphore` (plain and bounded) and `Event` (see `common/chaos.rs`).

mod common;

use aiosync::{Event, Semaphore, SemaphoreGuard, SemaphoreGuardArc};
use common::chaos::*;
use common::{runtime, LIMIT};
use futures_lite::future::{poll_once, zip};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tokio::time::timeout;

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
