//! Seeded chaos tests of `Mutex` and `ReentrantMutex` (see `common/chaos.rs` for seeds and settings).

mod common;

use aiosync::task::{self, OwnerId};
use aiosync::{Mutex, ReentrantMutex};
use common::chaos::*;
use common::runtime;
use futures_lite::future::poll_once;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

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
