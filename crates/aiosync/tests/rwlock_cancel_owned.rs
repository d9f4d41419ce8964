//! `RwLock` cancel safety and timeouts, and owned (`Arc`) guards.

mod common;

use aiosync::{RwLock, RwLockReadGuardArc, RwLockWriteGuardArc};
use common::rwlock::*;
use common::*;
use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc};
use std::task::Context;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// 5. Cancel safety and timeouts
// ---------------------------------------------------------------------------------------

/// A queued writer that is dropped gives up its place: the readers it held back are no
/// longer behind anyone and get in beside the current reader.
#[test]
fn dropped_pending_writer_lets_queued_readers_in_when_polled() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (_, kw) = counting_waker();
    let (_, k2) = counting_waker();
    let (_, k3) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    let mut r3 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    pending(r3.as_mut(), &k3);
    drop(w);
    let g2 = ready(r2.as_mut(), &k2);
    let g3 = ready(r3.as_mut(), &k3);
    assert_eq!(*r1 + *g2 + *g3, 0);
    // Nothing left queued: try_read succeeds again, and after all leave, try_write.
    assert!(lock.try_read().is_some());
    drop((r1, g2, g3));
    assert!(lock.try_write().is_some());
}

/// As above, but checks the readers are *woken*: a task or thread parked behind the
/// dropped writer would otherwise wait for an unrelated release. (Regression test: the
/// cancel path used to re-dispatch only when the node held permits or had been woken.)
#[test]
fn dropped_pending_writer_wakes_queued_readers() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (_, kw) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    drop(w);
    assert_eq!(
        wakes(&c2),
        1,
        "reader queued behind a cancelled writer was not woken"
    );
    let _g2 = ready(r2.as_mut(), &k2);
    drop(r1);
}

/// The same seen from threads: a reader thread parked behind a writer whose
/// `write_blocking_timeout` expires must get in while the lock is still read-held
/// (otherwise two readers that wait for each other, which is legal, would deadlock).
/// (Regression test.)
#[test]
fn timed_out_writer_does_not_strand_the_readers_queued_behind_it() {
    let lock = Arc::new(RwLock::new(()));
    let r1 = lock.read_blocking();
    let writer = {
        let lock = lock.clone();
        thread::spawn(move || {
            lock.write_blocking_timeout(Duration::from_millis(200))
                .is_none()
        })
    };
    // Wait until the writer is queued (then try_read fails).
    let t = Instant::now();
    while lock.try_read().is_some() {
        assert!(t.elapsed() < LIMIT, "writer never queued");
        thread::yield_now();
    }
    let (tx, rx) = mpsc::channel();
    let reader = {
        let lock = lock.clone();
        thread::spawn(move || {
            let _g = lock.read_blocking(); // queues behind the writer
            tx.send(()).unwrap();
        })
    };
    assert!(join_within(writer, LIMIT), "writer got in beside a reader");
    // The writer gave up; r1 is still held. The second reader must get in now.
    let got_in = rx.recv_timeout(Duration::from_secs(2)).is_ok();
    drop(r1); // unblocks the reader either way, so the thread ends
    join_within(reader, LIMIT);
    assert!(got_in, "reader stayed parked behind a writer that gave up");
}

/// A writer that was woken (the lock handed its way) and then dropped before it ran
/// passes the lock on to the readers behind it.
#[test]
fn woken_writer_dropped_passes_the_lock_on() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (cw, kw) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut w = Box::pin(lock.write());
    pending(w.as_mut(), &kw);
    let mut r2 = pin!(lock.read());
    pending(r2.as_mut(), &k2);
    drop(r1);
    assert_eq!((wakes(&cw), wakes(&c2)), (1, 0));
    drop(w); // woken, never ran
    assert_eq!(
        wakes(&c2),
        1,
        "next waiter not woken when the woken writer was dropped"
    );
    let g2 = ready(r2.as_mut(), &k2);
    drop(g2);
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

#[test]
fn dropped_read_and_upgradable_futures_leave_no_trace() {
    let lock = RwLock::new(0);
    let w = lock.try_write().unwrap();
    let (_, k) = counting_waker();
    for _ in 0..100 {
        let mut r = Box::pin(lock.read());
        pending(r.as_mut(), &k);
        let mut u = Box::pin(lock.upgradable_read());
        pending(u.as_mut(), &k);
        let mut w2 = Box::pin(lock.write());
        pending(w2.as_mut(), &k);
    }
    drop(w);
    assert!(!lock.is_locked());
    // Nothing is queued any more: every try_ form succeeds at once.
    assert!(lock.try_read().is_some());
    assert!(lock.try_upgradable_read().is_some());
    assert!(lock.try_write().is_some());
}

#[test]
fn blocking_timeouts_return_none_or_some_and_leave_no_trace() {
    let lock = Arc::new(RwLock::new(1));
    let short = Duration::from_millis(20);

    // Writer held: every other kind times out, taking at least the timeout.
    let w = lock.write_blocking();
    let t = Instant::now();
    assert!(lock.read_blocking_timeout(short).is_none());
    assert!(t.elapsed() >= short);
    assert!(lock.upgradable_read_blocking_timeout(short).is_none());
    assert!(lock.write_blocking_timeout(short).is_none());
    drop(w);
    assert!(!lock.is_locked());
    assert!(lock.try_read().is_some(), "a timed-out waiter left a trace");
    assert!(
        lock.try_write().is_some(),
        "a timed-out waiter left a trace"
    );

    // Reader held: reads and the upgradable succeed at once, writes time out.
    let r = lock.read_blocking();
    assert!(lock.read_blocking_timeout(short).is_some());
    assert!(lock.upgradable_read_blocking_timeout(short).is_some());
    assert!(lock.write_blocking_timeout(short).is_none());
    assert!(
        lock.try_read().is_some(),
        "a timed-out writer still blocks readers"
    );
    drop(r);
    assert!(lock.write_blocking_timeout(short).is_some());

    // A timeout that is still running when the lock is released succeeds.
    let w = lock.write_blocking();
    let (tx, rx) = mpsc::channel();
    let t = {
        let lock = lock.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            lock.read_blocking_timeout(LIMIT).map(|g| *g)
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    drop(w);
    assert_eq!(join_within(t, LIMIT), Some(1));
    assert!(!lock.is_locked());
}

/// Timed-out waiters across threads and tasks, many times over, while the lock changes
/// hands: the lock ends free and the counter exact.
#[test]
fn timeouts_under_contention_leave_the_lock_consistent() {
    let lock = Arc::new(RwLock::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut wrote = 0u64;
                for i in 0..400u64 {
                    let d = Duration::from_micros(50 + (i * 37 + t * 11) % 300);
                    if i % 2 == 0 {
                        if let Some(mut g) = lock.write_blocking_timeout(d) {
                            *g += 1;
                            wrote += 1;
                            spin_for(Duration::from_micros(30));
                        }
                    } else if let Some(g) = lock.read_blocking_timeout(d) {
                        black_box(*g);
                        spin_for(Duration::from_micros(30));
                    }
                }
                wrote
            })
        })
        .collect();
    let task_writes = run_mt(2, async {
        let tasks: Vec<_> = (0..2u64)
            .map(|t| {
                let lock = lock.clone();
                tokio::spawn(async move {
                    let mut wrote = 0u64;
                    for i in 0..400u64 {
                        let d = Duration::from_micros(100 + (i * 53 + t * 7) % 400);
                        if let Ok(mut g) = tokio::time::timeout(d, lock.write()).await {
                            *g += 1;
                            wrote += 1;
                        }
                    }
                    wrote
                })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        n
    });
    let thread_writes: u64 = threads.into_iter().map(|t| join_within(t, LIMIT)).sum();
    assert!(!lock.is_locked(), "a cancelled waiter leaked the lock");
    assert!(
        lock.try_write().is_some(),
        "a cancelled waiter is still queued"
    );
    assert_eq!(*lock.read_blocking(), thread_writes + task_writes);
}

// ---------------------------------------------------------------------------------------
// 6. Owned (Arc) guards
// ---------------------------------------------------------------------------------------

#[test]
fn arc_guards_move_into_threads_and_tasks() {
    let lock = Arc::new(RwLock::new(0u32));

    // A write guard taken here, used and dropped on another thread.
    let mut w: RwLockWriteGuardArc<u32> = lock.write_arc_blocking();
    *w = 1;
    let t = thread::spawn(move || {
        *w += 1;
        drop(w);
    });
    join_within(t, LIMIT);
    assert_eq!(*lock.try_read().unwrap(), 2);

    // A read guard moved into a thread keeps the lock read-held until that thread drops it.
    let r: RwLockReadGuardArc<u32> = lock.read_arc_blocking();
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        let v = *r;
        rx.recv_timeout(LIMIT).unwrap();
        drop(r);
        v
    });
    assert!(
        lock.try_write().is_none(),
        "the moved read guard does not hold the lock"
    );
    assert!(lock.try_read().is_some());
    tx.send(()).unwrap();
    assert_eq!(join_within(t, LIMIT), 2);
    assert!(!lock.is_locked());

    run_mt(2, async {
        // Owned futures taken on one task, guards moved to others.
        let w = lock.write_arc().await;
        let held = lock.clone();
        let r_fut = held.read_arc(); // pending while the writer holds
        let reader = tokio::spawn(async move { *r_fut.await });
        let writer = tokio::spawn(async move {
            let mut w = w;
            *w = 3;
        });
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), 3);

        let guards: Vec<RwLockReadGuardArc<u32>> =
            vec![lock.read_arc().await, lock.read_arc().await];
        assert!(lock.try_write().is_none());
        let lock2 = lock.clone();
        let w_task = tokio::spawn(async move {
            let mut w = lock2.write_arc().await;
            *w += 1;
        });
        let t = tokio::task::spawn_blocking(move || {
            let sum: u32 = guards.iter().map(|g| **g).sum();
            drop(guards);
            sum
        });
        assert_eq!(t.await.unwrap(), 6);
        w_task.await.unwrap();
    });
    assert_eq!(*lock.try_read().unwrap(), 4);
}

#[test]
fn dropped_arc_futures_leave_no_trace() {
    let lock = Arc::new(RwLock::new(0));
    let r = lock.read_arc_blocking();
    let (cw, kw) = counting_waker();
    let (cr, kr) = counting_waker();
    let mut w = lock.write_arc();
    assert!(Pin::new(&mut w)
        .poll(&mut Context::from_waker(&kw))
        .is_pending());
    let mut r2 = lock.read_arc();
    assert!(Pin::new(&mut r2)
        .poll(&mut Context::from_waker(&kr))
        .is_pending());
    drop(r2);
    drop(r);
    assert_eq!((wakes(&cw), wakes(&cr)), (1, 0));
    drop(w); // woken, dropped before it ran
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
    assert_eq!(Arc::strong_count(&lock), 1, "a dropped future kept the Arc");
}
