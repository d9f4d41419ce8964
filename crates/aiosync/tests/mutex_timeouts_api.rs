//! Integration tests for `aiosync::Mutex`: blocking lock timeouts (held elsewhere, by
//! the caller itself, released during the wait, no trace left for async waiters), owned
//! guards (`lock_arc*` guards moving into threads and tasks), and the rest of the API.

mod common;

use aiosync::{Mutex, MutexGuardArc};
use common::*;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// A thread that holds `m` until told to let go.
struct Holder {
    release: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl Holder {
    fn new<T: Send + 'static>(m: &Arc<Mutex<T>>) -> Holder {
        let (held_tx, held_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let m = m.clone();
        let thread = thread::spawn(move || {
            let g = m.lock_blocking();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(LIMIT);
            drop(g);
        });
        held_rx.recv_timeout(LIMIT).expect("holder did not lock");
        Holder { release, thread }
    }

    fn release(self) {
        self.release.send(()).unwrap();
        join_within(self.thread, LIMIT);
    }
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

#[test]
fn lock_blocking_timeout_none_when_held_elsewhere_some_when_free() {
    let m = Arc::new(Mutex::new(1));
    let holder = Holder::new(&m);
    let t0 = Instant::now();
    assert!(m.lock_blocking_timeout(Duration::from_millis(30)).is_none());
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "gave up before the timeout"
    );
    assert!(m.is_locked());
    holder.release();
    assert!(!m.is_locked(), "the timed-out waiter left the lock taken");
    let g = m.lock_blocking_timeout(Duration::from_millis(30)).unwrap();
    assert_eq!(*g, 1);
}

#[test]
fn lock_blocking_timeout_on_own_held_lock_times_out() {
    let m = Mutex::new(());
    let g = m.lock_blocking();
    assert!(m.lock_blocking_timeout(Duration::from_millis(10)).is_none());
    assert!(m.lock_blocking_timeout(Duration::ZERO).is_none());
    drop(g);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
    assert!(m.lock_blocking_timeout(Duration::ZERO).is_some());
    // A timeout too large to represent means no limit; the lock is free so it returns.
    assert!(m.lock_blocking_timeout(Duration::MAX).is_some());
}

#[test]
fn lock_blocking_timeout_succeeds_when_released_during_wait() {
    let m = Arc::new(Mutex::new(0));
    let holder = Holder::new(&m);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let m = m.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            let g = m.lock_blocking_timeout(LIMIT);
            g.map(|mut g| {
                *g += 1;
                *g
            })
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    holder.release();
    assert_eq!(join_within(waiter, LIMIT), Some(1));
    assert!(!m.is_locked());
}

#[test]
fn timed_out_waiter_leaves_no_trace_for_async_waiter() {
    let m = Arc::new(Mutex::new(()));
    let g = m.lock_blocking();
    let (c, w) = counting_waker();
    let mut f = Box::pin(m.lock());
    pending(f.as_mut(), &w);
    let t = {
        let m = m.clone();
        thread::spawn(move || m.lock_blocking_timeout(Duration::from_millis(20)).is_none())
    };
    assert!(join_within(t, LIMIT), "should have timed out");
    drop(g);
    assert_eq!(wakes(&c), 1, "release skipped the queued async waiter");
    let g = ready(f.as_mut(), &w);
    drop(g);
    drop(f);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn lock_arc_blocking_timeout() {
    let m = Arc::new(Mutex::new(3));
    let g = m.lock_arc_blocking();
    let t = {
        let m = m.clone();
        thread::spawn(move || {
            m.lock_arc_blocking_timeout(Duration::from_millis(10))
                .is_none()
        })
    };
    assert!(join_within(t, LIMIT));
    assert!(m.try_lock_arc().is_none());
    drop(g);
    let g = m
        .lock_arc_blocking_timeout(Duration::from_millis(10))
        .unwrap();
    assert_eq!(*g, 3);
    assert!(Arc::ptr_eq(MutexGuardArc::source(&g), &m));
}

// ---------------------------------------------------------------------------------------
// Owned guards and the rest of the API
// ---------------------------------------------------------------------------------------

#[test]
fn lock_arc_blocking_guard_moves_into_thread() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let mut g = m.lock_arc_blocking();
    g.push(1);
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        g.push(2);
        // Still held while the thread owns the guard.
        rx.recv_timeout(LIMIT).unwrap();
        drop(g);
    });
    assert!(m.is_locked());
    assert!(m.try_lock().is_none());
    tx.send(()).unwrap();
    join_within(t, LIMIT);
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), vec![1, 2]);
}

#[test]
fn lock_arc_guard_moves_into_spawned_task() {
    let m = Arc::new(Mutex::new(0u32));
    let m2 = m.clone();
    run_mt(2, async move {
        let mut g = m2.lock_arc().await;
        *g += 1;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rx.await.unwrap();
            *g += 1;
            drop(g);
        });
        assert!(m2.try_lock().is_none());
        tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(*m2.lock().await, 2);
        // An owned guard also moves from a task to a thread.
        let g = m2.lock_arc().await;
        tokio::task::spawn_blocking(move || drop(g)).await.unwrap();
        assert!(!m2.is_locked());
    });
    assert_eq!(Arc::try_unwrap(m).unwrap().into_inner(), 2);
}

#[test]
fn try_lock_arc_and_source() {
    let m = Arc::new(Mutex::new(5));
    let g = m.try_lock_arc().unwrap();
    assert!(m.try_lock_arc().is_none());
    assert!(Arc::ptr_eq(MutexGuardArc::source(&g), &m));
    assert_eq!(format!("{g:?}"), "5");
    drop(g);
    assert!(m.try_lock_arc().is_some());
}

#[test]
fn get_mut_into_inner_is_locked_try_lock() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().push('b');
    assert!(!m.is_locked());
    {
        let mut g = m.try_lock().unwrap();
        assert!(m.is_locked());
        assert!(m.try_lock().is_none());
        g.push('c');
        assert!(std::ptr::eq(aiosync::MutexGuard::source(&g), &m));
    }
    assert!(!m.is_locked());
    assert_eq!(m.into_inner(), "abc");

    let m: Mutex<u8> = Mutex::default();
    assert_eq!(*m.lock_blocking(), 0);
    let m = Mutex::from(9u8);
    assert_eq!(m.into_inner(), 9);
}

#[test]
fn unsized_mutex() {
    let m: Arc<Mutex<[u32]>> = Arc::new(Mutex::new([1, 2, 3]));
    m.lock_blocking()[1] = 5;
    assert_eq!(&*m.try_lock().unwrap(), &[1, 5, 3]);
}

#[test]
fn debug_output_locked_and_unlocked() {
    let m = Mutex::new(42);
    assert_eq!(format!("{m:?}"), "Mutex { value: 42 }");
    let g = m.lock_blocking();
    assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
    assert_eq!(format!("{g:?}"), "42");
    assert_eq!(format!("{g}"), "42");
    drop(g);
    // Debug does not leave the lock held.
    assert!(!m.is_locked());
    let f = m.lock();
    assert!(format!("{f:?}").starts_with("Lock"));
    drop(f);
    let a = Arc::new(Mutex::new(1));
    assert!(format!("{:?}", a.lock_arc()).starts_with("LockArc"));
    assert!(!a.is_locked());
}

#[test]
fn send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Mutex<u32>>();
    sync::<Mutex<u32>>();
    sync::<Mutex<std::cell::Cell<u32>>>(); // Send is enough for Sync, as std's Mutex
    send::<aiosync::MutexGuard<'static, u32>>();
    send::<MutexGuardArc<u32>>();
    send::<aiosync::Lock<'static, u32>>();
    send::<aiosync::LockArc<u32>>();
}
