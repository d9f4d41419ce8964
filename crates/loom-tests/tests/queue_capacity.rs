//! Loom models of a queue's changing bound and of `close`: `set_maxsize` racing gets,
//! blocked and withdrawn puts (the places must add up exactly, Q1/Q2 of `Queue`), and a
//! joiner released by `close`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p aiosync-loom-tests --release --test queue_capacity`
#![cfg(loom)]

use aiosync_loom_tests::{both_modes, model};

use aiosync::{Queue, TryPutError};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

/// Empties `q`, then checks it takes exactly `maxsize` items: no place lost or made up.
fn assert_room_is_exactly(q: &Queue<u32>, maxsize: u32) {
    while q.try_get().is_ok() {}
    for i in 0..maxsize {
        assert!(q.try_put(100 + i).is_ok(), "a place was lost");
    }
    assert!(
        matches!(q.try_put(999), Err(TryPutError::Full(_))),
        "a place was made up"
    );
}

#[test]
fn queue_grow_releases_a_blocked_putter() {
    both_modes(|| {
        let q = Arc::new(Queue::new(1));
        q.try_put(1u32).unwrap();
        let q2 = q.clone();
        let putter = thread::spawn(move || q2.put_blocking(2).unwrap());
        q.set_maxsize(2);
        putter.join().unwrap();
        assert_eq!(q.len(), 2);
        assert_room_is_exactly(&q, 2);
    });
}

#[test]
fn queue_shrink_racing_a_get_keeps_the_bound_exact() {
    both_modes(|| {
        let q = Arc::new(Queue::new(2));
        q.try_put(1u32).unwrap();
        q.try_put(2).unwrap();
        let q2 = q.clone();
        let resizer = thread::spawn(move || q2.set_maxsize(1));
        assert_eq!(q.get_blocking(), Ok(1));
        resizer.join().unwrap();
        // One item left, one allowed: full, whichever ran first.
        assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
        assert_room_is_exactly(&q, 1);
    });
}

/// A put queued for a place, then dropped, while a get frees a place (handed straight to
/// the put in the fair mode) and the bound shrinks: whatever the put held comes back
/// through the queue and pays the shrink's debt.
#[test]
fn queue_shrink_racing_a_withdrawn_put() {
    both_modes(|| {
        let q = Arc::new(Queue::new(2));
        q.try_put(1u32).unwrap();
        q.try_put(2).unwrap();
        let q2 = q.clone();
        let putter = thread::spawn(move || {
            let mut put = pin!(q2.put(3));
            let _ = put.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            // Dropped here, queued, maybe handed a place meanwhile.
        });
        assert_eq!(q.get_blocking(), Ok(1));
        q.set_maxsize(1);
        putter.join().unwrap();
        // Either the put got in before it was dropped (then two items are in), or not.
        let len = q.len();
        assert!(len == 1 || len == 2, "{len} items");
        // Q2: no room while the queue holds its new maxsize or more.
        assert!(matches!(q.try_put(4), Err(TryPutError::Full(4))));
        assert_room_is_exactly(&q, 1);
    });
}

#[test]
fn queue_close_releases_a_blocked_joiner() {
    model(|| {
        let q = Arc::new(Queue::new(0));
        q.try_put(1u32).unwrap();
        q.try_get().unwrap(); // taken, never marked done
        let q2 = q.clone();
        let joiner = thread::spawn(move || q2.join_blocking());
        q.close();
        joiner.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 1);
    });
}
