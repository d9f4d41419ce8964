//! Helpers shared by the `raw_*.rs`, `condition_raw*.rs` and `condition_reentrant.rs` tests of the owner-aware raw layer: a short timeout, a fresh task holder, taking a reentrant lock at several levels, and a racy counter.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use aiosync::raw::{Holder, RawReentrantLock, Reentry};
use aiosync::OwnerId;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A wait that is meant to time out.
pub const SHORT: Duration = Duration::from_millis(20);

/// A fresh task identity running on this thread.
pub fn task() -> Holder {
    Holder::task(OwnerId::new_unique())
}

/// Takes a reentrant lock at `levels` levels for `holder`.
pub fn take(lock: &RawReentrantLock, holder: &Holder, levels: usize) {
    for _ in 0..levels {
        assert_eq!(lock.try_lock(holder, Reentry::Allow), Ok(true));
    }
}

/// A counter whose increment is a non-atomic read-modify-write: lost updates show when
/// two owners are inside the lock at once.
#[derive(Debug, Default)]
pub struct Racy(pub AtomicU64);

impl Racy {
    pub fn bump(&self) {
        let v = black_box(self.0.load(Ordering::Relaxed));
        self.0.store(black_box(v + 1), Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
