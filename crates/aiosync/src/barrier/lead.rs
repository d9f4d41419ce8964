//! The leader phase: the last arrival of a round runs an action between the fill and
//! the release, for threads and tasks alike; a failing action breaks the barrier.

use super::{
    Arrived, Barrier, BarrierWait, BarrierWaitResult, BrokenBarrierError, ZeroPartiesError,
};
use crate::kernel::Wakers;
use crate::sync::lock;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

impl Barrier {
    /// Creates a barrier whose last arrival of each round runs `action` before anyone of
    /// the round is released (Python's `threading.Barrier(parties, action)`). If the
    /// action panics, the barrier breaks: the others get [`BrokenBarrierError`].
    ///
    /// # Panics
    /// If `parties` is zero.
    ///
    /// ```
    /// use aiosync::Barrier;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let r = rounds.clone();
    /// let b = Arc::new(Barrier::with_action(2, move || {
    ///     r.fetch_add(1, Ordering::SeqCst);
    /// }));
    /// let b2 = b.clone();
    /// let t = std::thread::spawn(move || b2.wait_blocking().unwrap());
    /// futures_lite::future::block_on(b.wait()).unwrap(); // a task and a thread
    /// t.join().unwrap();
    /// assert_eq!(rounds.load(Ordering::SeqCst), 1);
    /// ```
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        let mut b = Barrier::new(parties);
        b.leads = true;
        b.action = Some(Box::new(action));
        b
    }

    /// Creates a barrier whose last arrival of each round is handed a [`Lead`] by
    /// [`Barrier::wait_lead`]: the round is released only when the lead completes (for a
    /// binding whose action needs its own context to run, such as a Python callable).
    ///
    /// # Errors
    /// [`ZeroPartiesError`] if `parties` is zero.
    pub fn with_leader(parties: usize) -> Result<Barrier, ZeroPartiesError> {
        let mut b = Barrier::try_new(parties)?;
        b.leads = true;
        Ok(b)
    }

    /// Waits until all parties have arrived; the last arrival of a leading barrier gets
    /// [`Arrival::Lead`] instead of being released (on other barriers, as
    /// [`Barrier::wait`]).
    ///
    /// # Cancel safety
    ///
    /// As [`Barrier::wait`]. A [`Lead`] dropped without [`Lead::complete`] breaks the
    /// barrier, so a cancelled leader never strands its round.
    ///
    /// ```
    /// use aiosync::{Arrival, Barrier};
    /// # futures_lite::future::block_on(async {
    /// let b = Barrier::with_leader(1).unwrap();
    /// let arrival = b.wait_lead().await.unwrap();
    /// match arrival {
    ///     Arrival::Lead(lead) => assert!(lead.complete().unwrap().is_leader()),
    ///     Arrival::Released(_) => unreachable!("the only party leads"),
    /// }
    /// # });
    /// ```
    pub fn wait_lead(&self) -> LeadWait<'_> {
        LeadWait { wait: self.wait() }
    }

    /// Blocking form of [`Barrier::wait_lead`], for at most `timeout` (`None`: no limit).
    /// A timeout breaks the barrier, as [`Barrier::wait_blocking_timeout`] does.
    pub fn wait_lead_blocking(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Arrival<'_>, BrokenBarrierError> {
        let mut wait = self.wait_lead();
        match crate::block_on(&mut wait, timeout) {
            Some(r) => r,
            None => wait.wait.give_up().map(Arrival::Released),
        }
    }
}

/// How a [`Barrier::wait_lead`] ended.
#[derive(Debug)]
pub enum Arrival<'a> {
    /// The round was released: this party's result.
    Released(BarrierWaitResult),
    /// This party arrived last: run the round's action, then [`Lead::complete`] (or
    /// [`Lead::fail`]) to release (or break) the round.
    Lead(Lead<'a>),
}

/// The leader's hold on a full round: nobody of the round goes on until it completes.
#[must_use = "dropping a Lead breaks the barrier"]
pub struct Lead<'a> {
    barrier: &'a Barrier,
    done: bool,
}

impl<'a> Lead<'a> {
    pub(crate) fn new(barrier: &'a Barrier) -> Lead<'a> {
        Lead {
            barrier,
            done: false,
        }
    }

    /// Releases the round; the leader's index is the last one.
    ///
    /// # Errors
    /// [`BrokenBarrierError`] if the round broke meanwhile (an abort, a reset, a party
    /// that timed out or withdrew): then every party of it gets the error.
    pub fn complete(mut self) -> Result<BarrierWaitResult, BrokenBarrierError> {
        self.done = true;
        let parties = self.barrier.parties;
        let mut wakers = Wakers::new();
        let result = {
            let mut inner = lock(&self.barrier.inner);
            inner.leading = false;
            if inner.broken || inner.resetting || inner.filling + 1 != parties {
                // The round cannot complete as it was filled: nobody of it goes on.
                if !inner.resetting {
                    inner.broken = true;
                    inner.break_waiters(true, &mut wakers);
                } else if inner.filling == 0 && inner.draining == 0 {
                    // A reset whose broken parties all left while this one led: done.
                    inner.resetting = false;
                    inner.admit_blocked(&mut wakers);
                }
                Err(BrokenBarrierError)
            } else {
                inner.release(parties, &mut wakers);
                if inner.draining == 0 {
                    // Nobody else of the round will leave (one party): admit arrivals now.
                    inner.admit_blocked(&mut wakers);
                }
                Ok(BarrierWaitResult {
                    index: parties - 1,
                    parties,
                })
            }
        };
        wakers.wake_all();
        result
    }

    /// Breaks the barrier (the action failed): every waiter, and every later wait until
    /// [`Barrier::reset`], gets [`BrokenBarrierError`].
    pub fn fail(mut self) {
        self.done = true;
        self.break_round();
    }

    fn break_round(&self) {
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.barrier.inner);
            inner.leading = false;
            inner.broken = true;
            inner.break_waiters(true, &mut wakers);
        }
        wakers.wake_all();
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.break_round();
        }
    }
}

impl fmt::Debug for Lead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lead").finish_non_exhaustive()
    }
}

/// The future returned by [`Barrier::wait_lead`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct LeadWait<'a> {
    wait: BarrierWait<'a>,
}

impl<'a> Future for LeadWait<'a> {
    type Output = Result<Arrival<'a>, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.wait.poll_arrival(cx).map(|r| {
            r.map(|arrived| match arrived {
                Arrived::Released(r) => Arrival::Released(r),
                Arrived::Lead => Arrival::Lead(Lead::new(this.wait.listener.source())),
            })
        })
    }
}

impl fmt::Debug for LeadWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadWait").finish_non_exhaustive()
    }
}
