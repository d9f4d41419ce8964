//! `aiosync::raw::RawRwLock`: readers share, writers exclude, upgrades and their policy, release rules, levels.

mod common;

use aiosync::raw::{Holder, LockError, RawRwLock, Upgrade};
use aiosync::NotOwnerError;
use common::raw::*;
use common::*;
use std::sync::{Arc, Barrier as StdBarrier};

// ---------------------------------------------------------------------------------------
// RawRwLock
// ---------------------------------------------------------------------------------------

#[test]
fn rw_readers_share_and_exclude_writers() {
    const READERS: usize = 3;
    let rw = Arc::new(RawRwLock::new());
    // Every reader must be inside at once to pass `inside`: a lock that serialized
    // readers would hang them there (and fail the bounded join).
    let inside = Arc::new(StdBarrier::new(READERS + 1));
    let leave = Arc::new(StdBarrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (rw, inside, leave) = (rw.clone(), inside.clone(), leave.clone());
            spawn_bounded(move || {
                let me = Holder::thread();
                assert_eq!(rw.read_blocking(&me, Some(LIMIT), false), Ok(true));
                inside.wait();
                leave.wait();
                rw.release_read(me.owner()).unwrap();
            })
        })
        .collect();
    inside.wait();
    assert_eq!(rw.read_holders(), READERS);
    assert!(!rw.is_write_locked());
    let w = task();
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(false));
    assert_eq!(
        rw.write_blocking(&w, Upgrade::Refuse, Some(SHORT), false),
        Ok(false)
    );
    assert!(!rw.has_waiters(), "the timed-out writer left");
    assert!(rw.try_read(&task()), "readers still get in");
    leave.wait();
    for r in readers {
        r.join();
    }
    assert_eq!(rw.read_holders(), 1);
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(false));
}

#[test]
fn rw_queued_writer_holds_back_new_readers_but_not_re_entry() {
    let rw = RawRwLock::new();
    let (a, b, w) = (task(), task(), task());
    assert!(rw.try_read(&a));
    let mut writer = Hand::new(rw.write(w, Upgrade::Refuse));
    writer.pending();
    assert!(!rw.try_read(&b), "writer-preferring: a new reader waits");
    let mut reader = Hand::new(rw.read(b));
    reader.pending();
    assert!(rw.try_read(&a), "a reader's second level never waits");
    assert_eq!(rw.levels_of(a.owner()), (2, 0));
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 0);
    rw.release_read(a.owner()).unwrap();
    assert_eq!((writer.wakes(), reader.wakes()), (1, 0));
    assert_eq!(writer.ready(), Ok(()));
    reader.pending();
    rw.release_write(w.owner()).unwrap();
    assert_eq!(reader.ready(), Ok(()));
    rw.release_read(b.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_writer_excludes_everyone_else() {
    let rw = Arc::new(RawRwLock::new());
    let (w, r) = (task(), task());
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert!(rw.is_write_locked());
    assert!(rw.is_locked());
    assert_eq!(rw.read_holders(), 0);
    assert_eq!(rw.levels_of(w.owner()), (0, 1));
    assert!(!rw.try_read(&r));
    assert_eq!(rw.try_write(&r, Upgrade::Allow), Ok(false));
    assert_eq!(rw.read_blocking(&r, Some(SHORT), false), Ok(false));
    let rw2 = rw.clone();
    let other = spawn_bounded(move || {
        let me = Holder::thread();
        (
            rw2.read_blocking(&me, Some(SHORT), false),
            rw2.write_blocking(&me, Upgrade::Refuse, Some(SHORT), false),
        )
    })
    .join();
    assert_eq!(other, (Ok(false), Ok(false)));
    assert_eq!(rw.levels_of(r.owner()), (0, 0));
    // A second write level of the writer.
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert_eq!(rw.levels_of(w.owner()), (0, 2));
    rw.release_write(w.owner()).unwrap();
    assert!(rw.is_write_locked());
    assert!(!rw.try_read(&r));
    rw.release_write(w.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(rw.try_read(&r));
    rw.release_read(r.owner()).unwrap();
}

#[test]
fn rw_writer_also_reads_and_release_order_does_not_matter() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    assert!(rw.try_read(&a), "the writer also reads");
    assert!(rw.try_read(&a));
    assert_eq!(rw.levels_of(a.owner()), (2, 1));
    assert_eq!(rw.read_holders(), 1, "one owner, however many levels");
    // Leaving the reads first keeps the write lock.
    rw.release_read(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.levels_of(a.owner()), (0, 1));
    assert!(rw.is_write_locked());
    assert_eq!(rw.read_holders(), 0);
    assert!(!rw.try_read(&b));
    rw.release_write(a.owner()).unwrap();
    assert!(!rw.is_locked());
    assert_eq!(rw.try_write(&b, Upgrade::Refuse), Ok(true));
    rw.release_write(b.owner()).unwrap();
}

#[test]
fn rw_release_write_while_reading_downgrades() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    let mut reader = Hand::new(rw.read(b));
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    reader.pending();
    writer.pending();
    assert!(rw.try_read(&a));

    rw.release_write(a.owner()).unwrap();
    assert_eq!(rw.levels_of(a.owner()), (1, 0), "still reading");
    assert!(!rw.is_write_locked());
    assert!(rw.is_locked());
    assert_eq!(reader.wakes(), 1, "the queued reader gets in");
    assert_eq!(reader.ready(), Ok(()));
    assert_eq!(rw.read_holders(), 2);
    assert_eq!(writer.wakes(), 0, "a writer does not");
    writer.pending();
    assert_eq!(rw.try_write(&task(), Upgrade::Refuse), Ok(false));

    rw.release_read(b.owner()).unwrap();
    assert_eq!(writer.wakes(), 0, "the downgraded hold still reads");
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 1);
    assert_eq!(writer.ready(), Ok(()));
    assert_eq!(rw.levels_of(c.owner()), (0, 1));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(!rw.has_waiters());
}

#[test]
fn rw_upgrade_refused_by_policy() {
    let rw = RawRwLock::new();
    let a = task();
    assert!(rw.try_read(&a));
    assert_eq!(
        rw.try_write(&a, Upgrade::Refuse),
        Err(LockError::UpgradeRefused)
    );
    assert_eq!(
        rw.write_blocking(&a, Upgrade::Refuse, None, false),
        Err(LockError::UpgradeRefused)
    );
    let mut f = Hand::new(rw.write(a, Upgrade::Refuse));
    assert_eq!(f.ready(), Err(LockError::UpgradeRefused));
    assert_eq!(
        rw.levels_of(a.owner()),
        (1, 0),
        "the read hold is untouched"
    );
    // Alone, an allowed upgrade succeeds at once.
    assert_eq!(rw.try_write(&a, Upgrade::Allow), Ok(true));
    assert_eq!(rw.levels_of(a.owner()), (1, 1));
    assert!(rw.is_write_locked());
    rw.release_write(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_upgrade_waits_for_other_readers_ahead_of_queued_writers() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    writer.pending();
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();

    // A second upgrader while one is pending: both would wait for each other.
    assert_eq!(
        rw.try_write(&b, Upgrade::Allow),
        Err(LockError::UpgradeRefused)
    );
    let mut up_b = Hand::new(rw.write(b, Upgrade::Allow));
    assert_eq!(up_b.ready(), Err(LockError::UpgradeRefused));
    assert_eq!(
        rw.write_blocking(&b, Upgrade::Allow, Some(LIMIT), false),
        Err(LockError::UpgradeRefused)
    );
    assert_eq!(rw.levels_of(b.owner()), (1, 0));

    rw.release_read(b.owner()).unwrap();
    assert_eq!(up.wakes(), 1, "the upgrade goes first");
    assert_eq!(writer.wakes(), 0);
    assert_eq!(up.ready(), Ok(()));
    assert_eq!(rw.levels_of(a.owner()), (1, 1));
    assert!(rw.is_write_locked());
    assert!(!rw.try_read(&b));
    writer.pending();

    rw.release_write(a.owner()).unwrap(); // downgrade: a still reads
    assert_eq!(writer.wakes(), 0);
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.wakes(), 1);
    assert_eq!(writer.ready(), Ok(()));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
    assert!(!rw.has_waiters());
}

#[test]
fn rw_cancelled_upgrade_leaves_the_read_hold_intact() {
    let rw = RawRwLock::new();
    let (a, b, c) = (task(), task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();
    drop(up);
    assert_eq!(rw.levels_of(a.owner()), (1, 0));
    assert_eq!(rw.read_holders(), 2);
    assert!(!rw.has_waiters());
    // The pending upgrade was withdrawn: another reader may try one now.
    assert_eq!(rw.try_write(&b, Upgrade::Allow), Ok(false));

    // Cancelled after the other reader left (the upgrade was served): nothing leaks.
    let mut writer = Hand::new(rw.write(c, Upgrade::Refuse));
    writer.pending();
    let mut up = Hand::new(rw.write(a, Upgrade::Allow));
    up.pending();
    rw.release_read(b.owner()).unwrap();
    assert_eq!(up.wakes(), 1);
    drop(up);
    assert_eq!(rw.levels_of(a.owner()), (1, 0), "still a reader only");
    assert!(!rw.is_write_locked());
    assert_eq!(writer.wakes(), 0, "a still reads: the writer waits");
    writer.pending();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(writer.ready(), Ok(()));
    rw.release_write(c.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_blocking_upgrade_timeout_keeps_the_read_hold() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert!(rw.try_read(&a));
    assert!(rw.try_read(&b));
    assert_eq!(
        rw.write_blocking(&a, Upgrade::Allow, Some(SHORT), false),
        Ok(false)
    );
    assert_eq!(rw.levels_of(a.owner()), (1, 0));
    assert!(!rw.has_waiters());
    // The timed-out upgrade no longer counts as pending.
    assert_eq!(rw.try_write(&b, Upgrade::Allow), Ok(false));
    rw.release_read(b.owner()).unwrap();
    assert_eq!(rw.try_write(&a, Upgrade::Allow), Ok(true));
    rw.release_write(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert!(!rw.is_locked());
}

#[test]
fn rw_blocking_upgrade_from_another_thread() {
    let rw = Arc::new(RawRwLock::new());
    let b = task();
    assert!(rw.try_read(&b));
    let rw2 = rw.clone();
    let t = spawn_bounded(move || {
        let me = Holder::thread();
        assert!(rw2.try_read(&me));
        let r = rw2.write_blocking(&me, Upgrade::Allow, Some(LIMIT), false);
        let levels = rw2.levels_of(me.owner());
        rw2.release_write(me.owner()).unwrap();
        rw2.release_read(me.owner()).unwrap();
        (r, levels)
    });
    wait_until("the upgrade queues", || rw.has_waiters());
    assert!(!rw.is_write_locked());
    rw.release_read(b.owner()).unwrap();
    assert_eq!(t.join(), (Ok(true), (1, 1)));
    assert!(!rw.is_locked());
}

#[test]
fn rw_release_by_non_owner_is_refused() {
    let rw = RawRwLock::new();
    let (r, w, x) = (task(), task(), task());
    assert_eq!(rw.release_read(x.owner()), Err(NotOwnerError));
    assert_eq!(rw.release_write(x.owner()), Err(NotOwnerError));
    assert!(rw.try_read(&r));
    assert_eq!(rw.release_write(r.owner()), Err(NotOwnerError), "a reader");
    assert_eq!(rw.release_read(x.owner()), Err(NotOwnerError));
    rw.release_read(r.owner()).unwrap();
    assert_eq!(
        rw.release_read(r.owner()),
        Err(NotOwnerError),
        "released twice"
    );
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    assert_eq!(rw.release_read(w.owner()), Err(NotOwnerError), "a writer");
    assert_eq!(rw.release_write(x.owner()), Err(NotOwnerError));
    assert_eq!(rw.levels_of(w.owner()), (0, 1), "refusals changed nothing");
    assert!(rw.is_write_locked());
    rw.release_write(w.owner()).unwrap();
    assert!(!rw.is_locked());
    assert_eq!(rw.release_write(w.owner()), Err(NotOwnerError));
}

#[test]
fn rw_levels_and_holder_counts() {
    let rw = RawRwLock::new();
    let (a, b) = (task(), task());
    assert_eq!(
        (rw.read_holders(), rw.is_write_locked(), rw.is_locked()),
        (0, false, false)
    );
    for _ in 0..3 {
        assert!(rw.try_read(&a));
    }
    assert!(rw.try_read(&b));
    assert_eq!(rw.levels_of(a.owner()), (3, 0));
    assert_eq!(rw.levels_of(b.owner()), (1, 0));
    assert_eq!(rw.read_holders(), 2);
    rw.release_read(a.owner()).unwrap();
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.read_holders(), 2);
    rw.release_read(a.owner()).unwrap();
    assert_eq!(rw.read_holders(), 1);
    assert_eq!(rw.levels_of(a.owner()), (0, 0));
    rw.release_read(b.owner()).unwrap();
    assert!(!rw.is_locked());
    // Every permit came back: a writer gets in at once.
    assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
    rw.release_write(a.owner()).unwrap();
}

#[test]
fn rw_two_reads_of_one_owner_in_flight_share_one_hold() {
    let rw = RawRwLock::new();
    let (w, x) = (task(), task());
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    let mut r1 = Hand::new(rw.read(x));
    let mut r2 = Hand::new(rw.read(x));
    r1.pending();
    r2.pending();
    rw.release_write(w.owner()).unwrap();
    assert_eq!(r1.ready(), Ok(()));
    assert_eq!(r2.ready(), Ok(()));
    assert_eq!(rw.levels_of(x.owner()), (2, 0));
    assert_eq!(rw.read_holders(), 1);
    rw.release_read(x.owner()).unwrap();
    rw.release_read(x.owner()).unwrap();
    assert!(!rw.is_locked());
    // No permit was kept twice: a writer gets in at once.
    assert_eq!(rw.try_write(&w, Upgrade::Refuse), Ok(true));
    rw.release_write(w.owner()).unwrap();
}
