//! Seeded chaos tests of `RwLock`: reads, writes, upgradable reads, upgrades and downgrades (see `common/chaos.rs`).

mod common;

use aiosync::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
use common::chaos::*;
use common::runtime;
use futures_lite::future::poll_once;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use tokio::time::timeout;

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
