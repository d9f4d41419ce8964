//! Helpers shared by the `rwlock_*.rs` tests: a busy wait and a two-field value that shows lost or torn updates.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Busy-waits `d` (a critical section that takes a while without yielding the CPU).
pub fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Two fields a writer updates one after the other: readers must always see them equal.
#[derive(Debug, Default)]
pub struct Pair {
    pub a: u64,
    pub b: u64,
}

/// A non-atomic read-modify-write of both fields: concurrent writers would lose updates.
pub fn bump(p: &mut Pair) {
    let a = black_box(p.a);
    p.a = a + 1;
    let b = black_box(p.b);
    p.b = b + 1;
}
