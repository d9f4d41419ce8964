//! A reusable barrier with abort and reset.

use crate::kernel::listener::{Listener, Waitable};
use crate::kernel::{block, Node, NodeState, WaitList, Wakers};
use crate::sync::{lock, Lock};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

mod fmt_impls;
mod lead;
pub use lead::{Arrival, Lead, LeadWait};

/// A barrier for a fixed number of parties: each waits until all have arrived, then all
/// go on together, and the barrier is ready for the next round (Python's
/// `threading.Barrier` / `asyncio.Barrier`).
///
/// The states are Python's: *filling* (parties arrive), *draining* (the round was
/// released; a party arriving before every released party has returned from its wait
/// waits, and counts in the next round when it next runs), *resetting* and *broken*.
/// [`Barrier::abort`] breaks it: every waiter, and every later wait until
/// [`Barrier::reset`], gets a [`BrokenBarrierError`]. `reset` also breaks the round in
/// progress (its waiters get the error) and makes the barrier usable again.
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
    /// Whether the last arrival leads: it is handed a [`Lead`] (runs the action) before
    /// the round is released.
    leads: bool,
    action: Option<Action>,
}

/// What the leader of each round runs before the round is released.
type Action = Box<dyn Fn() + Send + Sync>;

/// Where a waiting party stands, which says which of `Inner`'s counts it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Counted in the round being filled, waiting for the rest (`Inner::filling`).
    Filling,
    /// Released with its index (node `Granted`), not yet returned from its wait
    /// (`Inner::draining`).
    Draining,
    /// Arrived while the previous round drained or a reset ran: not yet counted in any
    /// round (`Inner::blocked`).
    Blocked,
}

/// What a barrier waiter's node carries (crate-visible because `Waitable::Payload` names
/// it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Party {
    role: Role,
    /// Its arrival index in its round, `0..parties-1`: set when the round is released,
    /// read only from a `Granted` node.
    index: usize,
}

impl Party {
    /// A party that just queued as `role`, not released yet.
    fn arrived(role: Role) -> Self {
        Party { role, index: 0 }
    }
}

/// The states of Python's barriers: filling, draining (released parties still leaving:
/// new arrivals wait), resetting (broken parties still leaving), broken.
pub(crate) struct Inner {
    /// Every waiter, in arrival order, with its role.
    list: WaitList<Party>,
    filling: usize,
    draining: usize,
    blocked: usize,
    resetting: bool,
    broken: bool,
    /// The round is full and its leader runs the action: arrivals wait, as in a drain.
    leading: bool,
}

impl Inner {
    /// Whether a new arrival must wait before it counts in a round.
    fn held_back(&self) -> bool {
        self.draining > 0 || self.resetting || self.leading
    }

    /// A waiter leaves (its wait returned or was dropped): once the last released or
    /// reset party is gone, the barrier fills again and the blocked arrivals count.
    fn leave(&mut self, role: Role, wakers: &mut Wakers) {
        match role {
            Role::Filling => self.filling -= 1,
            Role::Draining => self.draining -= 1,
            Role::Blocked => self.blocked -= 1,
        }
        if role != Role::Blocked
            && self.draining == 0
            && !self.leading
            && (!self.resetting || self.filling == 0)
        {
            self.resetting = false;
            self.admit_blocked(wakers);
        }
    }

    /// Wakes the blocked arrivals: each counts in the round being filled when it next
    /// runs, as a fresh arrival (so a party that has not run yet is not counted, as in
    /// Python's barriers).
    fn admit_blocked(&mut self, wakers: &mut Wakers) {
        if self.blocked == 0 || self.broken {
            return;
        }
        let mut cur = self.list.head();
        while let Some(k) = cur {
            cur = self.list.next_of(k);
            let node = &mut self.list[k];
            if node.payload.role == Role::Blocked && node.state == NodeState::Waiting {
                node.state = NodeState::Woken;
                if let Some(w) = &node.waker {
                    wakers.push(w.clone());
                }
            }
        }
    }

    /// Releases the filling parties with their arrival indices 0..parties-1; the last
    /// arrival (not in the list: it returns at once) takes the last index.
    fn release(&mut self, parties: usize, wakers: &mut Wakers) {
        let mut i = 0;
        let mut cur = self.list.head();
        while let Some(k) = cur {
            cur = self.list.next_of(k);
            if self.list[k].payload.role == Role::Filling {
                self.list[k].payload = Party {
                    role: Role::Draining,
                    index: i,
                };
                self.list.mark(k, NodeState::Granted, wakers);
                i += 1;
            }
        }
        self.draining += self.filling;
        self.filling = 0;
        debug_assert_eq!(i + 1, parties);
    }

    /// Breaks every present waiter (`blocked` too when `all`).
    fn break_waiters(&mut self, all: bool, wakers: &mut Wakers) {
        let mut cur = self.list.head();
        while let Some(k) = cur {
            cur = self.list.next_of(k);
            if all || self.list[k].payload.role != Role::Blocked {
                self.list.mark(k, NodeState::Broken, wakers);
            }
        }
    }
}

/// Where a [`Barrier`] stands: Python's barrier states (`asyncio.Barrier` shows them in
/// its repr; `threading.Barrier` has the same four internally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarrierState {
    /// Parties arrive and count in the round being filled (also while the last arrival
    /// of a leading barrier runs the action: the round is full but not released yet).
    Filling,
    /// The round was released and some of its parties have not returned from their
    /// wait yet: a party arriving now waits, and counts in the next round.
    Draining,
    /// [`Barrier::reset`] broke a round in progress and some of its parties have not
    /// left yet: a party arriving now waits, then fills a new round.
    Resetting,
    /// [`Barrier::abort`] (or a timeout, or a failed action) broke it: every wait fails
    /// until [`Barrier::reset`].
    Broken,
}

impl BarrierState {
    /// The state's name as Python spells it: `"filling"`, `"draining"`, `"resetting"`,
    /// `"broken"`.
    ///
    /// ```
    /// assert_eq!(aiosync::BarrierState::Filling.as_str(), "filling");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BarrierState::Filling => "filling",
            BarrierState::Draining => "draining",
            BarrierState::Resetting => "resetting",
            BarrierState::Broken => "broken",
        }
    }
}

impl fmt::Display for BarrierState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
                filling: 0,
                draining: 0,
                blocked: 0,
                resetting: false,
                broken: false,
                leading: false,
            }),
            leads: false,
            action: None,
        })
    }

    /// The number of parties needed to pass the barrier.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many parties are waiting in the round being filled (0 while the previous
    /// round drains or a reset runs).
    pub fn n_waiting(&self) -> usize {
        let inner = lock(&self.inner);
        if inner.broken || inner.draining > 0 || inner.resetting {
            0
        } else if inner.leading {
            inner.filling + 1
        } else {
            inner.filling
        }
    }

    /// Whether the barrier is broken (aborted and not yet reset).
    pub fn is_broken(&self) -> bool {
        lock(&self.inner).broken
    }

    /// The barrier's state now (a snapshot).
    ///
    /// ```
    /// use aiosync::{Barrier, BarrierState};
    /// let b = Barrier::new(2);
    /// assert_eq!(b.state(), BarrierState::Filling);
    /// b.abort();
    /// assert_eq!(b.state(), BarrierState::Broken);
    /// b.reset();
    /// assert_eq!(b.state(), BarrierState::Filling);
    /// ```
    pub fn state(&self) -> BarrierState {
        let inner = lock(&self.inner);
        if inner.broken {
            BarrierState::Broken
        } else if inner.resetting {
            BarrierState::Resetting
        } else if inner.draining > 0 {
            BarrierState::Draining
        } else {
            BarrierState::Filling
        }
    }

    /// Breaks the barrier: every waiter (including released parties that have not
    /// returned yet) and every later wait fails with [`BrokenBarrierError`] until
    /// [`Barrier::reset`].
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
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            inner.broken = true;
            inner.break_waiters(true, &mut wakers);
        }
        wakers.wake_all();
    }

    /// Returns the barrier to its empty, unbroken state. Parties of the current round,
    /// and released ones that have not returned yet, get [`BrokenBarrierError`]; parties
    /// arriving meanwhile wait until those have left, then fill a new round.
    pub fn reset(&self) {
        let mut wakers = Wakers::new();
        {
            let mut inner = lock(&self.inner);
            inner.broken = false;
            // A round being led is in progress too: its lead must fail.
            if inner.filling + inner.draining > 0 || inner.leading {
                inner.resetting = true;
                inner.break_waiters(false, &mut wakers);
            } else {
                inner.resetting = false;
                inner.admit_blocked(&mut wakers);
            }
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
            listener: Listener::new(self),
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
        let parties = self.listener.host().parties;
        let mut wakers = Wakers::new();
        let result = {
            let mut inner = self.listener.lock();
            let Some(node) = inner.take() else {
                return Err(BrokenBarrierError);
            };
            inner.leave(node.payload.role, &mut wakers);
            match node.state {
                NodeState::Granted => Ok(BarrierWaitResult {
                    index: node.payload.index,
                    parties,
                }),
                NodeState::Broken => Err(BrokenBarrierError),
                NodeState::Waiting | NodeState::Woken => {
                    // The round cannot complete without this party: break it for all.
                    inner.broken = true;
                    inner.break_waiters(true, &mut wakers);
                    Err(BrokenBarrierError)
                }
            }
        };
        wakers.wake_all();
        result
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct BarrierWait<'a> {
    listener: Listener<&'a Barrier>,
}

/// How an arrival ended its wait.
pub(crate) enum Arrived {
    Released(BarrierWaitResult),
    /// Last of a leading barrier's round: the round waits for this party's [`Lead`].
    Lead,
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.poll_arrival(cx) {
            Poll::Ready(Ok(Arrived::Released(r))) => Poll::Ready(Ok(r)),
            Poll::Ready(Ok(Arrived::Lead)) => {
                // Dropped unfinished (the action panicked): the round breaks.
                let barrier = this.listener.host();
                let lead = Lead::new(barrier);
                if let Some(action) = &barrier.action {
                    action();
                }
                Poll::Ready(lead.complete())
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl BarrierWait<'_> {
    pub(crate) fn poll_arrival(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arrived, BrokenBarrierError>> {
        let barrier = self.listener.host();
        let (parties, leads) = (barrier.parties, barrier.leads);
        let mut wakers = Wakers::new();
        let result = {
            let mut inner = self.listener.lock();
            match inner.key() {
                None => {
                    if inner.broken {
                        return Poll::Ready(Err(BrokenBarrierError));
                    }
                    if inner.held_back() {
                        // The previous round is still leaving: wait to be counted.
                        inner.listen(Party::arrived(Role::Blocked), cx.waker());
                        inner.blocked += 1;
                        return Poll::Pending;
                    }
                    if inner.filling + 1 < parties {
                        inner.listen(Party::arrived(Role::Filling), cx.waker());
                        inner.filling += 1;
                        return Poll::Pending;
                    }
                    if leads {
                        // Last to arrive: the round waits for this party to lead it.
                        inner.leading = true;
                        return Poll::Ready(Ok(Arrived::Lead));
                    }
                    // Last to arrive: release the round; earlier parties get 0..parties-1.
                    inner.release(parties, &mut wakers);
                    Ok(Arrived::Released(BarrierWaitResult {
                        index: parties - 1,
                        parties,
                    }))
                }
                Some(k)
                    if inner.list[k].payload.role == Role::Blocked
                        && inner.list[k].state != NodeState::Broken =>
                {
                    if inner.held_back() {
                        inner.wait_again(cx.waker());
                        return Poll::Pending;
                    }
                    // The previous round has left: arrive now, as a fresh party.
                    let node = inner.take();
                    inner.blocked -= 1;
                    drop(inner);
                    drop(node);
                    return self.poll_arrival(cx);
                }
                Some(k) => match inner.list[k].state {
                    NodeState::Granted | NodeState::Broken => {
                        let node = inner.take().expect("queued");
                        inner.leave(node.payload.role, &mut wakers);
                        if node.state == NodeState::Broken {
                            Err(BrokenBarrierError)
                        } else {
                            Ok(Arrived::Released(BarrierWaitResult {
                                index: node.payload.index,
                                parties,
                            }))
                        }
                    }
                    _ => {
                        inner.wait_again(cx.waker());
                        return Poll::Pending;
                    }
                },
            }
        };
        wakers.wake_all();
        Poll::Ready(result)
    }
}

/// A party that leaves (its wait dropped or timed out) is counted out of its round.
impl Waitable for Barrier {
    type Locked = Inner;
    type Payload = Party;

    fn wait_lock(&self) -> &Lock<Inner> {
        &self.inner
    }

    fn list(inner: &mut Inner) -> &mut WaitList<Party> {
        &mut inner.list
    }

    fn withdrawn(inner: &mut Inner, node: &Node<Party>, wakers: &mut Wakers) {
        // A party withdrawing while filling; a released or broken one leaving.
        inner.leave(node.payload.role, wakers);
    }
}
