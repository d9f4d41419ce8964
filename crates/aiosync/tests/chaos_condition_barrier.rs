//! Seeded chaos tests of `Condition` and `Barrier` (see `common/chaos.rs`).

mod common;

use aiosync::{Barrier, BarrierWaitResult, Condition, Mutex};
use common::chaos::*;
use common::{runtime, LIMIT};
use futures_lite::future::poll_once;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use tokio::time::timeout;

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
