//! Integration tests for `aiosync::ReentrantMutex`: re-entry by the owning thread, task
//! scope or explicit `OwnerId`, exclusion of every other owner, cancel-safe handoff, and
//! exact counters with threads and scoped tokio tasks on one lock.

mod common;

use aiosync::task::{self, NoTaskIdError, OwnerId};
use aiosync::ReentrantMutex;
use common::*;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

/// A counter whose increment is a non-atomic read-modify-write: lost updates show when
/// two owners are inside the lock at once.
#[derive(Debug, Default)]
struct Racy(AtomicU64);

impl Racy {
    fn bump(&self) {
        let v = black_box(self.0.load(Ordering::Relaxed));
        self.0.store(black_box(v + 1), Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Asks another thread whether it can take the lock right now (`try_lock`) and within
/// `wait` (`lock_blocking_timeout`).
fn other_thread_can_lock<T: Send + Sync + 'static>(
    m: &Arc<ReentrantMutex<T>>,
    wait: Duration,
) -> (bool, bool) {
    let m = m.clone();
    join_within(
        thread::spawn(move || {
            let a = m.try_lock().is_some();
            let b = m.lock_blocking_timeout(wait).is_some();
            (a, b)
        }),
        LIMIT,
    )
}

// ---------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------

#[test]
fn same_thread_nests_and_last_guard_unlocks() {
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let me = OwnerId::current_thread();
    assert!(!m.is_locked());
    let g1 = m.lock_blocking();
    let g2 = m.try_lock().expect("owner re-enters with try_lock");
    let g3 = m
        .lock_blocking_timeout(Duration::from_millis(1))
        .expect("owner re-enters with lock_blocking_timeout");
    g3.bump();
    assert!(m.is_locked());
    assert!(m.is_owned_by(me));
    assert_eq!(
        other_thread_can_lock(&m, Duration::from_millis(20)),
        (false, false)
    );

    drop(g3);
    assert!(m.is_locked());
    assert_eq!(
        other_thread_can_lock(&m, Duration::from_millis(5)),
        (false, false)
    );
    drop(g1); // not the last one: order of drops does not matter
    assert!(m.is_locked());
    assert!(m.is_owned_by(me));
    assert_eq!(
        other_thread_can_lock(&m, Duration::from_millis(5)),
        (false, false)
    );
    g2.bump();
    drop(g2);
    assert!(!m.is_locked());
    assert!(!m.is_owned_by(me));
    assert_eq!(
        other_thread_can_lock(&m, Duration::from_millis(5)),
        (true, true)
    );
    assert_eq!(m.lock_blocking().get(), 2);
}

#[test]
fn blocked_thread_gets_lock_after_last_guard() {
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let g1 = m.lock_blocking();
    let g2 = m.lock_blocking();
    let (tx, rx) = mpsc::channel();
    let t = {
        let m = m.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            let g = m.lock_blocking();
            g.bump();
            let g2 = m.lock_blocking(); // re-entry in the other thread too
            g2.bump();
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    g1.bump();
    drop(g1);
    // While `g2` is held the other thread cannot have entered.
    assert!(m.is_owned_by(OwnerId::current_thread()));
    assert_eq!(g2.get(), 1);
    drop(g2);
    join_within(t, LIMIT);
    assert!(!m.is_locked());
    assert_eq!(m.lock_blocking().get(), 3);
}

#[test]
fn timeouts_leave_no_trace() {
    let m = Arc::new(ReentrantMutex::new(()));
    let g = m.lock_blocking();
    let t0 = Instant::now();
    assert_eq!(
        other_thread_can_lock(&m, Duration::from_millis(30)),
        (false, false)
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let other = OwnerId::new_unique();
    assert!(m.lock_blocking_as(other, Some(Duration::ZERO)).is_none());
    assert!(m.is_owned_by(OwnerId::current_thread()));
    drop(g);
    assert!(!m.is_locked());
    assert!(m.try_lock_as(other).is_some());
    // A timeout too large to represent means no limit.
    assert!(m.lock_blocking_as(other, Some(Duration::MAX)).is_some());
}

#[test]
fn threads_exact_count_with_nesting() {
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..10_000 {
                    let a = m.lock_blocking();
                    a.bump();
                    let b = m.lock_blocking();
                    b.bump();
                    drop(a);
                    let c = m.try_lock().expect("owner re-enters");
                    c.bump();
                }
            })
        })
        .collect();
    for h in hs {
        join_within(h, LIMIT);
    }
    assert!(!m.is_locked());
    assert_eq!(m.lock_blocking().get(), 4 * 10_000 * 3);
}

// ---------------------------------------------------------------------------------------
// Task identity
// ---------------------------------------------------------------------------------------

#[test]
fn async_lock_without_task_identity_is_an_error() {
    let m = Arc::new(ReentrantMutex::new(()));
    assert_eq!(OwnerId::current_task(), None);
    let r = futures_lite::future::block_on(m.lock());
    assert_eq!(r.err(), Some(NoTaskIdError));
    assert!(!m.is_locked());
    let r = futures_lite::future::block_on(m.lock_arc());
    assert!(matches!(r, Err(NoTaskIdError)));
    assert!(!m.is_locked());

    // Also when the lock is held elsewhere: an error at once, not a hang.
    let g = m.lock_blocking();
    let (_, w) = counting_waker();
    let mut f = pin!(m.lock());
    assert!(matches!(ready(f.as_mut(), &w), Err(NoTaskIdError)));
    drop(g);
    assert!(!m.is_locked());
    assert!(!NoTaskIdError.to_string().is_empty());
}

#[test]
fn async_lock_in_unscoped_tokio_task() {
    let m = Arc::new(ReentrantMutex::new(()));
    let m2 = m.clone();
    let ok = run_mt(2, async move {
        tokio::spawn(async move { m2.lock().await.is_ok() })
            .await
            .unwrap()
    });
    // Without the `tokio` feature a plain tokio task has no identity.
    assert_eq!(ok, cfg!(feature = "tokio"));
    assert!(!m.is_locked());
}

#[test]
fn scope_gives_identity_and_reentry() {
    let m = ReentrantMutex::new(Racy::default());
    futures_lite::future::block_on(task::scope(async {
        let me = OwnerId::current_task().expect("scope has an identity");
        assert_eq!(OwnerId::current(), me);
        let a = m.lock().await.unwrap();
        let b = m.lock().await.unwrap();
        let c = m.try_lock().expect("scope re-enters with try_lock");
        a.bump();
        b.bump();
        c.bump();
        assert!(m.is_owned_by(me));
        assert!(!m.is_owned_by(OwnerId::current_thread()));
        drop((a, c));
        assert!(m.is_locked());
        drop(b);
        assert!(!m.is_locked());
    }));
    assert_eq!(OwnerId::current_task(), None, "scope identity leaked");
    assert_eq!(m.into_inner().get(), 3);
}

#[test]
fn scope_id_is_stable_and_unique() {
    let s1 = task::scope(async { OwnerId::current_task() });
    let s2 = task::scope(async { OwnerId::current_task() });
    let (id1, id2) = (s1.id(), s2.id());
    assert_ne!(id1, id2);
    assert_ne!(id1, OwnerId::current_thread());
    assert!(format!("{s1:?}").contains("Scoped"));
    assert_eq!(futures_lite::future::block_on(s1), Some(id1));
    assert_eq!(futures_lite::future::block_on(s2), Some(id2));
    assert_ne!(OwnerId::new_unique(), OwnerId::new_unique());
}

#[test]
fn different_scopes_exclude_each_other_deterministic() {
    let m = ReentrantMutex::new(0u32);
    let (_, w) = counting_waker();

    // Scope A locks and lets the guard outlive its future: A's id still owns the lock.
    let mut a = pin!(task::scope(async { m.lock().await.unwrap() }));
    let a_id = a.id();
    let ga = ready(a.as_mut(), &w);
    assert!(m.is_owned_by(a_id));

    // Scope B must wait.
    let (cb, wb) = counting_waker();
    let mut b = pin!(task::scope(async { *m.lock().await.unwrap() + 1 }));
    let b_id = b.id();
    pending(b.as_mut(), &wb);
    pending(b.as_mut(), &wb);
    // A nested scope is another owner, too.
    let nested = futures_lite::future::block_on(task::scope(async {
        task::scope(async { m.try_lock().is_some() }).await
    }));
    assert!(!nested);
    // A's identity, given explicitly, re-enters.
    let again = m.try_lock_as(a_id).expect("owner id re-enters");
    drop(again);
    assert!(m.is_owned_by(a_id));
    assert_eq!(wakes(&cb), 0);

    drop(ga);
    assert_eq!(wakes(&cb), 1, "waiting scope not woken");
    assert_eq!(ready(b.as_mut(), &wb), 1);
    assert!(!m.is_locked());
    assert!(!m.is_owned_by(b_id));
}

#[test]
fn scoped_tasks_on_multi_thread_runtime_exact_count() {
    const TASKS: u64 = 16;
    const ITERS: u64 = 1_000;
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let m2 = m.clone();
    run_mt(2, async move {
        let hs: Vec<_> = (0..TASKS)
            .map(|t| {
                let m = m2.clone();
                tokio::spawn(task::scope(async move {
                    for i in 0..ITERS {
                        let a = m.lock().await.unwrap();
                        let v = black_box(a.0.load(Ordering::Relaxed));
                        if (i + t) % 16 == 0 {
                            // Hold the lock across a suspension point (and maybe a move to
                            // another worker thread).
                            tokio::task::yield_now().await;
                        }
                        let b = m.lock().await.unwrap();
                        b.0.store(v + 1, Ordering::Relaxed);
                        drop(a);
                        b.bump();
                    }
                }))
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert!(!m.is_locked());
    assert_eq!(m.lock_blocking().get(), TASKS * ITERS * 2);
}

#[test]
fn threads_and_scoped_tasks_exact_count() {
    const THREADS: u64 = 4;
    const THREAD_ITERS: u64 = 10_000;
    const TASKS: u64 = 8;
    const TASK_ITERS: u64 = 2_000;
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..THREAD_ITERS {
                    let a = m.lock_blocking();
                    let b = m.lock_blocking();
                    b.bump();
                    drop(a);
                }
            })
        })
        .collect();
    let m2 = m.clone();
    run_mt(2, async move {
        let hs: Vec<_> = (0..TASKS)
            .map(|_| {
                let m = m2.clone();
                tokio::spawn(task::scope(async move {
                    for i in 0..TASK_ITERS {
                        let a = m.lock().await.unwrap();
                        let v = black_box(a.get());
                        if i % 32 == 0 {
                            tokio::task::yield_now().await;
                        }
                        let b = m.lock().await.unwrap();
                        b.0.store(v + 1, Ordering::Relaxed);
                        drop(b);
                    }
                }))
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    for t in threads {
        join_within(t, LIMIT);
    }
    assert!(!m.is_locked());
    assert_eq!(
        m.lock_blocking().get(),
        THREADS * THREAD_ITERS + TASKS * TASK_ITERS
    );
}

// ---------------------------------------------------------------------------------------
// Explicit owners
// ---------------------------------------------------------------------------------------

#[test]
fn lock_as_explicit_owner_id() {
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let o1 = OwnerId::new_unique();
    let o2 = OwnerId::new_unique();
    let (_, w) = counting_waker();

    let mut f1 = pin!(m.lock_as(o1));
    let g1 = ready(f1.as_mut(), &w).unwrap();
    assert!(m.is_owned_by(o1));
    // The same id re-enters from any thread: ownership is the id, not the thread.
    let t = {
        let m = m.clone();
        thread::spawn(move || {
            let g = m
                .lock_blocking_as(o1, Some(Duration::from_millis(1)))
                .is_some();
            let h = m.try_lock_as(o2).is_some();
            let i = m.try_lock().is_some();
            (g, h, i)
        })
    };
    assert_eq!(join_within(t, LIMIT), (true, false, false));
    assert!(
        m.is_owned_by(o1),
        "a nested guard dropped elsewhere unlocked it"
    );

    let (c2, w2) = counting_waker();
    let mut f2 = pin!(m.lock_as(o2));
    pending(f2.as_mut(), &w2);
    let mut f1b = pin!(m.lock_as(o1));
    let g1b = ready(f1b.as_mut(), &w).unwrap();
    g1b.bump();
    drop(g1);
    assert_eq!(wakes(&c2), 0);
    pending(f2.as_mut(), &w2);
    drop(g1b);
    assert_eq!(wakes(&c2), 1);
    let g2 = ready(f2.as_mut(), &w2).unwrap();
    assert!(m.is_owned_by(o2));
    assert!(!m.is_owned_by(o1));
    assert!(m.try_lock_as(o1).is_none());
    let g2b = m.lock_blocking_as(o2, None).unwrap();
    g2b.bump();
    drop((g2, g2b));
    assert!(!m.is_locked());
    assert_eq!(m.lock_blocking().get(), 2);
}

#[test]
fn woken_lock_as_dropped_passes_lock_on() {
    let m = ReentrantMutex::new(());
    let g = m.lock_blocking();
    let (ca, wa) = counting_waker();
    let (cb, wb) = counting_waker();
    let (cc, wc) = counting_waker();
    let mut a = Box::pin(m.lock_as(OwnerId::new_unique()));
    let mut b = Box::pin(m.lock_as(OwnerId::new_unique()));
    let mut c = Box::pin(m.lock_as(OwnerId::new_unique()));
    pending(a.as_mut(), &wa);
    pending(b.as_mut(), &wb);
    pending(c.as_mut(), &wc);
    drop(b); // pending, dropped: skipped
    drop(g);
    assert_eq!(wakes(&ca), 1);
    drop(a); // woken, dropped: passes on
    assert_eq!(wakes(&cb), 0);
    assert_eq!(wakes(&cc), 1, "lock not passed on past cancelled waiters");
    let gc = ready(c.as_mut(), &wc).unwrap();
    drop(gc);
    drop(c);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

/// Two lock requests of one scope in flight at once while another owner holds the lock:
/// when the first is granted, the second is a re-entry of the owner and should complete.
#[test]
fn concurrent_requests_of_one_scope_both_complete() {
    let m = ReentrantMutex::new(());
    let g = m.lock_blocking();
    let (_, w) = counting_waker();
    let mut s = pin!(task::scope(async {
        let (a, b) = futures_lite::future::zip(m.lock(), m.lock()).await;
        a.is_ok() && b.is_ok()
    }));
    pending(s.as_mut(), &w);
    drop(g);
    let mut done = None;
    for _ in 0..10 {
        if let Poll::Ready(v) = poll(s.as_mut(), &w) {
            done = Some(v);
            break;
        }
    }
    assert_eq!(done, Some(true), "scope deadlocked on its own lock");
}

// ---------------------------------------------------------------------------------------
// Owned guards and the rest of the API
// ---------------------------------------------------------------------------------------

#[test]
fn lock_arc_and_lock_arc_blocking() {
    let m = Arc::new(ReentrantMutex::new(Racy::default()));
    let g = m.lock_arc_blocking();
    let g2 = m.lock_arc_blocking(); // re-entry through an Arc
    g.bump();
    assert!(m.is_locked());
    drop(g);
    assert!(m.is_locked());
    // An owned guard may be dropped on another thread; the last one unlocks.
    join_within(thread::spawn(move || drop(g2)), LIMIT);
    assert!(!m.is_locked());

    let m2 = m.clone();
    run_mt(2, async move {
        let g = task::scope(async { m2.lock_arc().await.unwrap() }).await;
        g.bump();
        assert!(m2.is_locked());
        assert!(m2.try_lock().is_none());
        // Owned guards can move into a spawned task.
        tokio::spawn(async move { drop(g) }).await.unwrap();
        assert!(!m2.is_locked());
        // A plain tokio task has an identity only with the `tokio` feature.
        let m3 = m2.clone();
        let ok = tokio::spawn(async move { m3.lock_arc().await.is_ok() })
            .await
            .unwrap();
        assert_eq!(ok, cfg!(feature = "tokio"));
        assert!(!m2.is_locked());
    });
    assert_eq!(m.lock_blocking().get(), 2);
    assert_eq!(Arc::strong_count(&m), 1);
}

#[test]
fn get_mut_into_inner_debug_default() {
    let mut m = ReentrantMutex::new(vec![1]);
    m.get_mut().push(2);
    assert_eq!(format!("{m:?}"), "ReentrantMutex { locked: false, .. }");
    {
        let g = m.lock_blocking();
        assert_eq!(format!("{m:?}"), "ReentrantMutex { locked: true, .. }");
        assert_eq!(format!("{g:?}"), "[1, 2]");
        assert_eq!(g.len(), 2);
    }
    assert!(!m.is_locked());
    assert_eq!(m.into_inner(), vec![1, 2]);
    let d: ReentrantMutex<u8> = ReentrantMutex::default();
    assert_eq!(*d.lock_blocking(), 0);
    let f = d.lock();
    assert!(format!("{f:?}").starts_with("ReentrantLock"));
    drop(f);
    let a = Arc::new(ReentrantMutex::new(3));
    let g = a.lock_arc_blocking();
    assert_eq!(format!("{g:?}"), "3");
    drop(g);
    assert!(format!("{:?}", a.lock_arc()).starts_with("ReentrantLockArc"));
    assert!(!a.is_locked());
}

#[test]
fn send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<ReentrantMutex<u32>>();
    sync::<ReentrantMutex<u32>>();
    send::<aiosync::ReentrantMutexGuard<'static, u32>>();
    send::<aiosync::ReentrantLock<'static, u32>>();
    send::<task::Scoped<std::future::Ready<()>>>();
}
