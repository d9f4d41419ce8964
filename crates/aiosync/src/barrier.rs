//! A reusable barrier with abort and reset.

use crate::kernel::{block, NodeState, WaitList, Wakers};
use crate::sync::{lock, Lock};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

const NONE: usize = usize::MAX;

/// A barrier for a fixed number of parties: each waits until all have arrived, then all
/// go on together, and the barrier is ready for the next round (Python's
/// `threading.Barrier` / `asyncio.Barrier`).
///
/// The barrier can be broken with [`Barrier::abort`]: every waiter, and every later wait
/// until [`Barrier::reset`], gets a [`BrokenBarrierError`]. `reset` also breaks the round
/// in progress (its waiters get the error) and makes the barrier usable again.
///
/// # Examples
///
/// ```
/// use aiosync::Barrier;
/// use std::sync::Arc;
///
/// let b = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = b.clone();
///         std::thread::spawn(move || b.wait_blocking().unwrap().index())
///     })
///     .collect();
/// let mut idx: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
/// idx.sort();
/// assert_eq!(idx, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    inner: Lock<Inner>,
}

struct Inner {
    /// The parties of the round being filled, in arrival order.
    list: WaitList,
    broken: bool,
}

/// The error of a wait on a broken barrier (aborted, or reset while the wait was queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("barrier is broken")
    }
}

impl std::error::Error for BrokenBarrierError {}

/// The error of [`Barrier::try_new`] for zero parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroPartiesError;

impl fmt::Display for ZeroPartiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party")
    }
}

impl std::error::Error for ZeroPartiesError {}

/// What a successful [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: usize,
    parties: usize,
}

impl BarrierWaitResult {
    /// This party's arrival index in its round, `0..parties`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this party arrived last and so released the round (exactly one per round).
    pub fn is_leader(&self) -> bool {
        self.index + 1 == self.parties
    }
}

impl Barrier {
    /// Creates a barrier for `parties` parties.
    ///
    /// # Panics
    /// If `parties` is zero; see [`Barrier::try_new`].
    ///
    /// ```
    /// let b = aiosync::Barrier::new(1);
    /// assert!(b.wait_blocking().unwrap().is_leader());
    /// ```
    pub fn new(parties: usize) -> Barrier {
        match Barrier::try_new(parties) {
            Ok(b) => b,
            Err(e) => panic!("Barrier::new(0): {e}"),
        }
    }

    /// Creates a barrier for `parties` parties, or an error if `parties` is zero.
    ///
    /// ```
    /// assert!(aiosync::Barrier::try_new(0).is_err());
    /// ```
    pub fn try_new(parties: usize) -> Result<Barrier, ZeroPartiesError> {
        if parties == 0 {
            return Err(ZeroPartiesError);
        }
        Ok(Barrier {
            parties,
            inner: Lock::new(Inner {
                list: WaitList::new(),
                broken: false,
            }),
        })
    }

    /// The number of parties needed to pass the barrier.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many parties are waiting in the current round.
    pub fn n_waiting(&self) -> usize {
        lock(&self.inner).list.len()
    }

    /// Whether the barrier is broken (aborted and not yet reset).
    pub fn is_broken(&self) -> bool {
        lock(&self.inner).broken
    }

    /// Breaks the barrier: current waiters and later waits fail with
    /// [`BrokenBarrierError`] until [`Barrier::reset`].
    ///
    /// ```
    /// let b = aiosync::Barrier::new(2);
    /// b.abort();
    /// assert!(b.is_broken());
    /// assert!(b.wait_blocking().is_err());
    /// b.reset();
    /// assert!(!b.is_broken());
    /// ```
    pub fn abort(&self) {
        self.break_round(true)
    }

    /// Returns the barrier to its empty, unbroken state; parties waiting in the current
    /// round get [`BrokenBarrierError`].
    pub fn reset(&self) {
        self.break_round(false)
    }

    fn break_round(&self, broken: bool) {
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            inner.broken = broken;
            inner.list.finish_all(NodeState::Broken, &mut wakers);
        }
        wakers.wake_all();
    }

    /// Waits until all parties have arrived.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future while the round is filling withdraws this party
    /// (the round then needs another one). Once the round is released, dropping the
    /// future changes nothing for the others.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let b = aiosync::Barrier::new(2);
    /// let (r1, r2) = futures_lite::future::zip(b.wait(), b.wait()).await;
    /// assert_ne!(r1.unwrap().is_leader(), r2.unwrap().is_leader());
    /// # });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: NONE,
        }
    }

    /// Blocking form of [`Barrier::wait`].
    pub fn wait_blocking(&self) -> Result<BarrierWaitResult, BrokenBarrierError> {
        block::block_on(self.wait(), None).expect("no deadline")
    }

    /// Blocking form of [`Barrier::wait`] giving up after `timeout`. Like Python's
    /// `threading.Barrier`, a timeout breaks the barrier for everyone (the round cannot
    /// complete without this party) and returns [`BrokenBarrierError`].
    pub fn wait_blocking_timeout(
        &self,
        timeout: Duration,
    ) -> Result<BarrierWaitResult, BrokenBarrierError> {
        let mut wait = self.wait();
        match block::block_on(&mut wait, block::deadline(timeout)) {
            Some(r) => r,
            None => wait.give_up(),
        }
    }
}

impl BarrierWait<'_> {
    /// Ends a timed-out wait: keeps a result the round handed over meanwhile, otherwise
    /// breaks the barrier (the round cannot complete without this party).
    fn give_up(&mut self) -> Result<BarrierWaitResult, BrokenBarrierError> {
        let parties = self.barrier.parties;
        let mut wakers = Wakers::new();
        let result = {
            let mut inner = lock(&self.barrier.inner);
            if self.key == NONE {
                return Err(BrokenBarrierError);
            }
            let node = inner.list.remove(self.key);
            self.key = NONE;
            match node.state {
                NodeState::Granted => Ok(BarrierWaitResult {
                    index: node.got,
                    parties,
                }),
                NodeState::Broken => Err(BrokenBarrierError),
                NodeState::Waiting | NodeState::Woken => {
                    inner.broken = true;
                    inner.list.finish_all(NodeState::Broken, &mut wakers);
                    Err(BrokenBarrierError)
                }
            }
        };
        wakers.wake_all();
        result
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &inner.list.len())
            .field("broken", &inner.broken)
            .finish()
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: usize,
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let parties = this.barrier.parties;
        let mut wakers = Wakers::new();
        let result = {
            let mut inner = lock(&this.barrier.inner);
            if this.key == NONE {
                if inner.broken {
                    return Poll::Ready(Err(BrokenBarrierError));
                }
                if inner.list.len() + 1 < parties {
                    this.key = inner.list.push(0, cx.waker());
                    return Poll::Pending;
                }
                // Last to arrive: release the round; earlier parties get 0..parties-1.
                inner.list.finish_all(NodeState::Granted, &mut wakers);
                Ok(BarrierWaitResult {
                    index: parties - 1,
                    parties,
                })
            } else {
                match inner.list[this.key].state {
                    NodeState::Granted | NodeState::Broken => {
                        let node = inner.list.remove(this.key);
                        this.key = NONE;
                        if node.state == NodeState::Broken {
                            Err(BrokenBarrierError)
                        } else {
                            Ok(BarrierWaitResult {
                                index: node.got,
                                parties,
                            })
                        }
                    }
                    _ => {
                        inner.list.set_waker(this.key, cx.waker());
                        return Poll::Pending;
                    }
                }
            }
        };
        wakers.wake_all();
        Poll::Ready(result)
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if self.key != NONE {
            lock(&self.barrier.inner).list.remove(self.key);
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").finish_non_exhaustive()
    }
}
