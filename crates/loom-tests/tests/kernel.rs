//! Loom models of the kernel: every interleaving (up to the preemption bound) of the
//! blocking and async front-ends over one wait list.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p aiosync-loom-tests --release`
#![cfg(loom)]

use aiosync_loom_tests::{both_modes, model};

use aiosync::{Barrier, Condition, Event, Mutex, Queue, RwLock, Semaphore};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

#[test]
fn mutex_blocking_and_async_exclude() {
    both_modes(|| {
        let m = Arc::new(Mutex::new(0u32));
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut g = m2.lock_blocking();
            *g += 1;
        });
        loom::future::block_on(async {
            let mut g = m.lock().await;
            *g += 1;
        });
        t.join().unwrap();
        assert_eq!(*m.try_lock().expect("lock left held"), 2);
    });
}

#[test]
fn mutex_three_threads() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || *m.lock_blocking() += 1)
            })
            .collect();
        *m.lock_blocking() += 1;
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*m.try_lock().unwrap(), 3);
    });
}

#[test]
fn mutex_cancelled_waiter_passes_lock_on() {
    both_modes(|| {
        let m = Arc::new(Mutex::new(0u32));
        let g = m.lock_blocking();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            // Queue, then give up while the lock may be in flight to us.
            let mut fut = pin!(m2.lock());
            let waker = std::task::Waker::noop();
            if let Poll::Ready(mut g) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                *g += 1;
            }
        });
        let m3 = m.clone();
        let waiter = thread::spawn(move || *m3.lock_blocking() += 10);
        drop(g);
        t.join().unwrap();
        waiter.join().unwrap();
        let v = *m.try_lock().expect("lock leaked by a cancelled waiter");
        assert!(v == 10 || v == 11, "{v}");
    });
}

#[test]
fn semaphore_multi_permit() {
    both_modes(|| {
        let s = Arc::new(Semaphore::new(3));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            let g = s2.acquire_many_blocking(2);
            assert_eq!(g.permits(), 2);
        });
        loom::future::block_on(async {
            let _g = s.acquire_many(2).await;
        });
        t.join().unwrap();
        assert_eq!(s.available_permits(), 3);
    });
}

#[test]
fn event_set_wakes_waiter() {
    model(|| {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        let t = thread::spawn(move || e2.wait_blocking());
        e.set();
        t.join().unwrap();
    });
}

#[test]
fn event_set_then_clear_still_wakes_queued_waiter() {
    model(|| {
        let e = Arc::new(Event::new());
        let mut w = pin!(e.wait());
        let waker = std::task::Waker::noop();
        assert!(w
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        let e2 = e.clone();
        let t = thread::spawn(move || {
            e2.set();
            e2.clear();
        });
        t.join().unwrap();
        assert!(w.as_mut().poll(&mut Context::from_waker(waker)).is_ready());
    });
}

#[test]
fn condition_notify_is_not_lost() {
    model(|| {
        let pair = Arc::new((Mutex::new(false), Condition::new()));
        let p2 = pair.clone();
        let t = thread::spawn(move || {
            let (m, c) = &*p2;
            *m.lock_blocking() = true;
            c.notify_one();
        });
        let (m, c) = &*pair;
        let g = c.wait_for_blocking(m.lock_blocking(), |ready| *ready);
        assert!(*g);
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn barrier_two_parties() {
    model(|| {
        let b = Arc::new(Barrier::new(2));
        let b2 = b.clone();
        let t = thread::spawn(move || b2.wait_blocking().unwrap().index());
        let mine = loom::future::block_on(b.wait()).unwrap().index();
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 1);
    });
}

#[test]
fn semaphore_two_waiters_one_release_of_two() {
    both_modes(|| {
        let s = Arc::new(Semaphore::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.acquire_blocking().forget())
            })
            .collect();
        s.add_permits(2).unwrap();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(s.available_permits(), 0);
    });
}

#[test]
fn queue_put_and_get_across_threads() {
    both_modes(|| {
        let q = Arc::new(Queue::new(1));
        let q2 = q.clone();
        let producer = thread::spawn(move || {
            q2.put_blocking(1u32).unwrap();
            q2.put_blocking(2u32).unwrap();
        });
        let a = q.get_blocking().unwrap();
        let b = loom::future::block_on(q.get()).unwrap();
        producer.join().unwrap();
        assert_eq!((a, b), (1, 2));
        assert!(q.is_empty());
    });
}

#[test]
fn rwlock_writer_excludes_reader() {
    both_modes(|| {
        let l = Arc::new(RwLock::new((0u32, 0u32)));
        let l2 = l.clone();
        let w = thread::spawn(move || {
            let mut g = l2.write_blocking();
            g.0 += 1;
            g.1 += 1;
        });
        let r = *l.read_blocking();
        assert_eq!(r.0, r.1);
        w.join().unwrap();
        assert_eq!(*l.try_read().unwrap(), (1, 1));
    });
}

/// Two waiters of one thread (one task polling two acquires, as one event loop would):
/// the one queued second must not be left asleep when both permits come back.
#[test]
fn semaphore_two_waiters_on_one_thread() {
    both_modes(|| {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        let t = thread::spawn(move || s2.add_permits(2).unwrap());
        loom::future::block_on(async {
            let mut a = pin!(s.acquire());
            let mut b = pin!(s.acquire());
            let (mut got_a, mut got_b) = (None, None);
            std::future::poll_fn(|cx| {
                if got_a.is_none() {
                    if let Poll::Ready(g) = a.as_mut().poll(cx) {
                        got_a = Some(g);
                    }
                }
                if got_b.is_none() {
                    if let Poll::Ready(g) = b.as_mut().poll(cx) {
                        got_b = Some(g);
                    }
                }
                if got_a.is_some() && got_b.is_some() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        });
        t.join().unwrap();
        assert_eq!(s.available_permits(), 2);
    });
}

/// `join` over the kernel listener: registered, re-checked and released by the last
/// `task_done` on another thread, whichever runs first.
#[test]
fn queue_join_released_by_task_done() {
    model(|| {
        let q = Arc::new(Queue::new(0));
        q.try_put(1u32).unwrap();
        let q2 = q.clone();
        let t = thread::spawn(move || {
            q2.get_blocking().unwrap();
            q2.task_done().unwrap();
        });
        q.join_blocking();
        assert_eq!(q.unfinished_tasks(), 0);
        t.join().unwrap();
    });
}

/// A listener dropped while `set` runs withdraws cleanly: nothing is left queued, and a
/// later wait sees the flag.
#[test]
fn event_wait_dropped_while_set() {
    model(|| {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        let t = thread::spawn(move || {
            let mut w = pin!(e2.wait());
            let waker = std::task::Waker::noop();
            let _ = w.as_mut().poll(&mut Context::from_waker(waker));
        });
        e.set();
        t.join().unwrap();
        loom::future::block_on(e.wait());
    });
}

/// An owned lock future cancelled while the lock may be in flight to it passes it on
/// (its `PendingAcquire` withdraws itself on drop).
#[test]
fn mutex_cancelled_arc_waiter_passes_lock_on() {
    both_modes(|| {
        // `lock_arc` takes a std `Arc`; its count is not part of the model.
        let m = std::sync::Arc::new(Mutex::new(0u32));
        let g = m.lock_blocking();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut fut = pin!(m2.lock_arc());
            let waker = std::task::Waker::noop();
            if let Poll::Ready(mut g) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                *g += 1;
            }
        });
        drop(g);
        t.join().unwrap();
        assert!(
            m.try_lock().is_some(),
            "lock leaked by a cancelled owned waiter"
        );
    });
}
