//! `aiosync::raw::RawRwLock` with threads: blocking refusal on a loop thread, and exact counters with threads and tasks.

mod common;

use aiosync::raw::{Holder, LockError, RawRwLock, Upgrade};
use aiosync::OwnerId;
use common::raw::*;
use common::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn rw_blocking_refuses_only_a_hold_of_this_loop_thread() {
    let rw = Arc::new(RawRwLock::new());
    let me = Holder::thread();
    let t = task(); // a task of this thread's loop
    assert_eq!(rw.try_write(&t, Upgrade::Refuse), Ok(true));
    assert_eq!(
        rw.read_blocking(&me, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        rw.write_blocking(&me, Upgrade::Refuse, Some(LIMIT), true),
        Err(LockError::WouldDeadlock)
    );
    assert!(!rw.has_waiters());
    assert_eq!(rw.read_blocking(&me, Some(SHORT), false), Ok(false));
    // The holder itself: its own holds never count against it.
    assert_eq!(rw.read_blocking(&t, None, true), Ok(true));
    assert_eq!(rw.write_blocking(&t, Upgrade::Refuse, None, true), Ok(true));
    assert_eq!(rw.levels_of(t.owner()), (1, 2));
    // Another thread with its own loop just waits.
    let rw2 = rw.clone();
    let r = spawn_bounded(move || rw2.read_blocking(&Holder::thread(), Some(SHORT), true)).join();
    assert_eq!(r, Ok(false));
    rw.release_write(t.owner()).unwrap();
    rw.release_write(t.owner()).unwrap();
    // A read hold of this thread's task: reading needs no wait, writing would.
    assert_eq!(rw.read_blocking(&me, None, true), Ok(true));
    rw.release_read(me.owner()).unwrap();
    assert_eq!(
        rw.write_blocking(&me, Upgrade::Refuse, None, true),
        Err(LockError::WouldDeadlock)
    );
    // An upgrade blocked by another task of this thread: refused, and withdrawn.
    let u = task();
    assert!(rw.try_read(&u));
    assert_eq!(
        rw.write_blocking(&u, Upgrade::Allow, None, true),
        Err(LockError::WouldDeadlock)
    );
    assert_eq!(
        rw.try_write(&t, Upgrade::Allow),
        Ok(false),
        "the refused upgrade is no longer pending"
    );
    rw.release_read(u.owner()).unwrap();
    rw.release_read(t.owner()).unwrap();
    assert!(!rw.is_locked());
}

/// State shared by the mixed read/write stress test: a pair a writer moves together,
/// and who is inside.
#[derive(Default)]
struct RwShared {
    rw: RawRwLock,
    a: Racy,
    b: Racy,
    writes: AtomicU64,
    upgrades: AtomicU64,
    readers_in: AtomicUsize,
    writer_in: AtomicUsize,
}

impl RwShared {
    fn write_section(&self) {
        assert_eq!(
            self.writer_in.fetch_add(1, Ordering::SeqCst),
            0,
            "two writers"
        );
        assert_eq!(
            self.readers_in.load(Ordering::SeqCst),
            0,
            "reader and writer"
        );
        self.a.bump();
        self.b.bump();
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.writer_in.fetch_sub(1, Ordering::SeqCst);
    }

    fn read_section(&self) {
        self.readers_in.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            self.writer_in.load(Ordering::SeqCst),
            0,
            "reader and writer"
        );
        assert_eq!(self.a.get(), self.b.get(), "a torn write was seen");
        self.readers_in.fetch_sub(1, Ordering::SeqCst);
    }

    /// After a write section while still holding the write lock: read as the writer,
    /// downgrade, read, leave.
    fn downgrade_and_read(&self, owner: OwnerId, also_read: bool) {
        assert!(also_read, "the writer also reads");
        self.rw.release_write(owner).unwrap();
        assert_eq!(self.rw.levels_of(owner), (1, 0));
        self.read_section();
        self.rw.release_read(owner).unwrap();
    }

    fn step_blocking(&self, me: &Holder, op: usize) {
        let rw = &self.rw;
        match op % 4 {
            0 => {
                assert_eq!(
                    rw.write_blocking(me, Upgrade::Refuse, None, false),
                    Ok(true)
                );
                self.write_section();
                rw.release_write(me.owner()).unwrap();
            }
            1 => {
                assert_eq!(rw.read_blocking(me, None, false), Ok(true));
                self.read_section();
                rw.release_read(me.owner()).unwrap();
            }
            2 => {
                assert_eq!(
                    rw.write_blocking(me, Upgrade::Refuse, None, false),
                    Ok(true)
                );
                self.write_section();
                let also = rw.try_read(me);
                self.downgrade_and_read(me.owner(), also);
            }
            _ => {
                assert_eq!(rw.read_blocking(me, None, false), Ok(true));
                self.read_section();
                match rw.write_blocking(me, Upgrade::Allow, None, false) {
                    Ok(true) => {
                        self.upgrades.fetch_add(1, Ordering::Relaxed);
                        self.write_section();
                        rw.release_write(me.owner()).unwrap();
                    }
                    Err(LockError::UpgradeRefused) => {}
                    other => panic!("unexpected upgrade result {other:?}"),
                }
                rw.release_read(me.owner()).unwrap();
            }
        }
    }

    async fn step_async(&self, id: OwnerId, op: usize) {
        let rw = &self.rw;
        match op % 4 {
            0 => {
                rw.write(Holder::task(id), Upgrade::Refuse).await.unwrap();
                self.write_section();
                rw.release_write(id).unwrap();
            }
            1 => {
                rw.read(Holder::task(id)).await.unwrap();
                self.read_section();
                rw.release_read(id).unwrap();
            }
            2 => {
                rw.write(Holder::task(id), Upgrade::Refuse).await.unwrap();
                self.write_section();
                rw.read(Holder::task(id)).await.unwrap(); // covered: no wait
                self.downgrade_and_read(id, true);
            }
            _ => {
                rw.read(Holder::task(id)).await.unwrap();
                self.read_section();
                match rw.write(Holder::task(id), Upgrade::Allow).await {
                    Ok(()) => {
                        self.upgrades.fetch_add(1, Ordering::Relaxed);
                        self.write_section();
                        rw.release_write(id).unwrap();
                    }
                    Err(LockError::UpgradeRefused) => {}
                    Err(e) => panic!("unexpected upgrade error {e:?}"),
                }
                rw.release_read(id).unwrap();
            }
        }
    }
}

#[test]
fn rw_exact_counters_with_threads_and_tasks() {
    const ROUNDS: usize = 300;
    let shared = Arc::new(RwShared::default());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = shared.clone();
            spawn_bounded(move || {
                let me = Holder::thread();
                for r in 0..ROUNDS {
                    s.step_blocking(&me, i + r);
                }
            })
        })
        .collect();
    let s = shared.clone();
    run_mt(4, async move {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    let id = OwnerId::new_unique();
                    for r in 0..ROUNDS {
                        s.step_async(id, i + r).await;
                        if r % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join();
    }
    let writes = shared.writes.load(Ordering::Relaxed);
    // Ops 0 and 2 always write: half of all steps; op 3 writes when its upgrade wins.
    let upgrades = shared.upgrades.load(Ordering::Relaxed);
    assert_eq!(writes, (8 * ROUNDS / 2) as u64 + upgrades);
    assert_eq!(
        shared.a.get(),
        writes,
        "lost update: two writers were inside"
    );
    assert_eq!(shared.b.get(), writes);
    assert!(!shared.rw.is_locked());
    assert_eq!(shared.rw.read_holders(), 0);
    assert!(!shared.rw.has_waiters());
}
