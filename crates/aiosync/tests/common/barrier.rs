//! Helpers shared by `barrier.rs` and `barrier_abort_timeout.rs`: a hand-polled
//! `BarrierWait` with its own counting waker.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use super::{counting_waker, poll, wakes, CountingWaker};
use aiosync::{Barrier, BarrierWait, BarrierWaitResult, BrokenBarrierError};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};

pub type WaitOutput = Result<BarrierWaitResult, BrokenBarrierError>;

/// A hand-polled `BarrierWait` with its own counting waker.
pub struct Party<'a> {
    count: Arc<CountingWaker>,
    waker: Waker,
    fut: Pin<Box<BarrierWait<'a>>>,
}

impl<'a> Party<'a> {
    pub fn new(b: &'a Barrier) -> Party<'a> {
        let (count, waker) = counting_waker();
        Party {
            count,
            waker,
            fut: Box::pin(b.wait()),
        }
    }

    /// A new party, polled once: it must queue (the round is not full).
    pub fn queued(b: &'a Barrier) -> Party<'a> {
        let before = b.n_waiting();
        let mut p = Party::new(b);
        assert!(p.poll().is_pending(), "the round is not full yet");
        assert_eq!(b.n_waiting(), before + 1);
        p
    }

    pub fn poll(&mut self) -> Poll<WaitOutput> {
        poll(self.fut.as_mut(), &self.waker)
    }

    pub fn wakes(&self) -> usize {
        wakes(&self.count)
    }

    pub fn ready(&mut self) -> WaitOutput {
        match self.poll() {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("party should be done"),
        }
    }
}
