//! Helpers shared by the `queue_*.rs` tests: a seeded PRNG, drop-counting items and an exact-ids check.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An item that counts, per id, how many times it was dropped.
pub struct Tracked {
    pub id: usize,
    pub drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

pub fn drop_counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

pub fn drops_of(d: &[AtomicUsize]) -> Vec<usize> {
    d.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// Sorts and checks `got` is exactly `0..n` (every id once, none missing or extra).
#[track_caller]
pub fn assert_exactly_ids(mut got: Vec<u64>, n: u64) {
    let len = got.len();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), len, "an item was received twice");
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "items lost");
}
