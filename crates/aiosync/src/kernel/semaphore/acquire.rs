//! One acquire in progress: [`Acquire`], the state machine, and [`PendingAcquire`], the
//! owner that withdraws it when dropped.

use super::{Closed, Permits, RawSemaphore, ONE, QUEUED};
use crate::kernel::{thread_tag, NodeState, WaitList, Wakers, NIL};
use crate::sync::{lock, Ordering};
use std::ops::Deref;
use std::task::{Context, Poll};

/// One acquire of `n` permits in progress: the state of a future that does not borrow
/// its semaphore.
///
/// Whoever holds a queued `Acquire` must call [`Acquire::cancel`] before dropping it, or
/// its node (and any permits handed to it) stays in the list for good. Prefer
/// [`PendingAcquire`], which keeps that rule in its own `Drop`.
#[derive(Debug)]
pub(crate) struct Acquire {
    n: usize,
    key: usize,
    /// Queue first, ahead of every waiter (an upgrade).
    urgent: bool,
}

impl Acquire {
    #[inline]
    pub(crate) const fn new(n: usize) -> Self {
        Acquire {
            n,
            key: NIL,
            urgent: false,
        }
    }

    /// An acquire that queues ahead of every waiter.
    pub(crate) const fn urgent(n: usize) -> Self {
        Acquire {
            n,
            key: NIL,
            urgent: true,
        }
    }

    /// How many permits this acquire asks for.
    #[inline]
    pub(crate) fn permits(&self) -> usize {
        self.n
    }

    /// Whether a pending future holds a place in the wait list (so `cancel` has work).
    #[inline]
    pub(crate) fn is_queued(&self) -> bool {
        self.key != NIL
    }

    /// Polls for the permits. `Err(Closed)` only after [`RawSemaphore::close`].
    ///
    /// Poll with no internal lock held: the poll may wake other waiters (I4).
    #[inline]
    pub(crate) fn poll(
        &mut self,
        sem: &RawSemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        if self.key == NIL {
            let ok = if self.n == 1 {
                sem.try_acquire_one()
            } else {
                sem.try_acquire(self.n)
            };
            if ok {
                return Poll::Ready(Ok(()));
            }
        }
        self.poll_slow(sem, cx)
    }

    /// [`Acquire::poll`] for a semaphore that is never closed.
    #[inline]
    pub(crate) fn poll_open(&mut self, sem: &RawSemaphore, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll(sem, cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(Closed)) => unreachable!("this semaphore is never closed"),
            Poll::Pending => Poll::Pending,
        }
    }

    #[cold]
    fn poll_slow(&mut self, sem: &RawSemaphore, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let mut list = lock(&sem.list);
        if self.key == NIL {
            if self.may_barge(sem, &mut list) && sem.take(self.n) {
                return Poll::Ready(Ok(()));
            }
            if sem.is_closed() {
                // Closed: what is left is drained first come, first served; then refuse.
                return Poll::Ready(if sem.take(self.n) {
                    Ok(())
                } else {
                    Err(Closed)
                });
            }
            let was_empty = list.is_empty();
            self.key = if self.urgent {
                // I1: permits handed so far to the old head would be out of reach of the
                // upgrade, and only the head may hold a part: take them back.
                sem.reclaim_partial(&mut list);
                list.push_front(Permits::wanted(self.n), cx.waker())
            } else {
                list.push(Permits::wanted(self.n), cx.waker())
            };
            if was_empty || self.urgent {
                // I3: set under the lock, by the push that made the list non-empty.
                sem.state.fetch_or(QUEUED, Ordering::AcqRel);
                // Taken only after QUEUED is set: a release that ran before it did not
                // look at the list, and its permits would otherwise sit free while this
                // waiter sleeps (the lost wake-up I3 rules out). An upgrade may also
                // have just taken permits back.
                if sem.take(self.n) {
                    list.remove(self.key);
                    self.key = NIL;
                    // I3: cleared by whoever unlinks the last waiter.
                    if list.is_empty() {
                        sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(()));
                }
            } else if sem.available() > 0 && list.head_is_waiting() {
                // Queued behind others while permits are free (I7: it may not overtake
                // them), and no woken head will pass them on: wake the ones they serve.
                let mut wakers = Wakers::new();
                sem.dispatch(&mut list, &mut wakers);
                drop(list);
                // I4: (1) the list guard was dropped just above; (2) `poll`'s contract.
                wakers.wake_all();
            }
            return Poll::Pending;
        }
        let key = self.key;
        let node = &list[key];
        match node.state {
            NodeState::Granted => {
                list.remove(key);
                self.key = NIL;
                Poll::Ready(Ok(()))
            }
            NodeState::Woken | NodeState::Waiting => {
                // I7: a woken waiter was served its turn; the head's turn is always now.
                if node.state == NodeState::Woken || list.head() == Some(key) {
                    // I1: `got` is non-zero only for the head.
                    let need = node.payload.missing();
                    if sem.take(need) {
                        list.remove(key);
                        self.key = NIL;
                        if list.is_empty() {
                            // I3: cleared by whoever unlinks the last waiter.
                            sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
                        } else if sem.available() > 0 && list.head_is_waiting() {
                            // Permits left over and the new head was not woken (it queued
                            // after the wake): serve it. Woken ones pass leftovers on
                            // themselves, so a woken batch is not walked again per member.
                            let mut wakers = Wakers::new();
                            sem.dispatch(&mut list, &mut wakers);
                            drop(list);
                            // I4: (1) the list guard was dropped just above; (2) `poll`'s
                            // contract.
                            wakers.wake_all();
                        }
                        return Poll::Ready(Ok(()));
                    }
                    if sem.is_closed() {
                        drop(list);
                        self.cancel(sem);
                        return Poll::Ready(Err(Closed));
                    }
                    // I2: it runs now, so the wake did its work: a later release may wake it
                    // again.
                    list[key].state = NodeState::Waiting;
                }
                list.set_waker(key, cx.waker());
                Poll::Pending
            }
            NodeState::Broken => unreachable!("semaphore waiters are never refused"),
        }
    }

    /// Whether a newcomer may take free permits ahead of the queue. Caller holds the list.
    ///
    /// Only in the race right after a release, and not ahead of a waiter of its own
    /// thread (that keeps one event loop's order exactly FIFO), nor ahead of a head that
    /// has waited too long, nor when the free permits do not even cover the head (taking
    /// some would only starve a large acquire, or a writer).
    ///
    /// These are the only exceptions to FIFO service (I7).
    fn may_barge(&self, sem: &RawSemaphore, list: &mut WaitList<Permits>) -> bool {
        if self.urgent || list.is_empty() {
            return true;
        }
        let Some(head) = list.head() else { return true };
        // I1: what the head still lacks.
        let head_need = list[head].payload.missing();
        head_need <= sem.available() && !list.has_thread(thread_tag()) && !list.head_starving()
    }

    /// Withdraws a pending acquire: whatever it was handed goes to the next waiters (I8).
    /// Call it with no internal lock held (it may wake waiters, I4).
    pub(crate) fn cancel(&mut self, sem: &RawSemaphore) {
        self.leave(sem, true);
    }

    /// Withdraws a pending acquire and returns the permits it had been handed, which are
    /// now the caller's: I8 then binds the caller, who must give them back (or use them).
    /// For a primitive that decides where returned permits go (a queue that shrank takes
    /// them back instead of freeing them). Call it as [`cancel`](Self::cancel).
    pub(crate) fn withdraw(&mut self, sem: &RawSemaphore) -> usize {
        self.leave(sem, false)
    }

    /// `cancel` (`give_back`) or `withdraw`: unlinks the node and serves the list again.
    fn leave(&mut self, sem: &RawSemaphore, give_back: bool) -> usize {
        if self.key == NIL {
            return 0;
        }
        let mut wakers = Wakers::new();
        let got = {
            let mut list = lock(&sem.list);
            let node = list.remove(self.key);
            self.key = NIL;
            // I3: cleared by whoever unlinks the last waiter.
            if list.is_empty() {
                sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
            }
            // I8: a partial grant (I1: it was the head) or a full one (`Granted`) goes
            // back, before the list is served again, unless the caller takes it over.
            let got = node.payload.got;
            if give_back && got > 0 {
                sem.state.fetch_add(got * ONE, Ordering::AcqRel);
            }
            // Whatever it held goes back, and whoever it held up (a head the free permits
            // did not cover, now gone) may now be served.
            sem.dispatch(&mut list, &mut wakers);
            if give_back {
                0
            } else {
                got
            }
        };
        // I4: (1) the list guard ended with its block; (2) `cancel`'s contract.
        wakers.wake_all();
        got
    }
}

/// What a [`PendingAcquire`] reaches its semaphore through: the semaphore itself, or a
/// primitive built on one (a mutex, a read-write lock).
pub(crate) trait AsRawSemaphore {
    /// The semaphore acquires of this primitive queue on.
    fn raw_semaphore(&self) -> &RawSemaphore;
}

impl AsRawSemaphore for RawSemaphore {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        self
    }
}

/// An [`Acquire`] together with the semaphore it waits on, reached through `P` (`&'a X`
/// for a borrowing future, `Arc<X>` for an owned one). Dropping it while queued withdraws
/// the acquire, and whatever it was handed goes to the next waiters: the futures that
/// hold one need no `Drop` of their own.
pub(crate) struct PendingAcquire<P>
where
    P: Deref,
    P::Target: AsRawSemaphore,
{
    /// `None` once [`take_owner`](Self::take_owner) moved it into a guard.
    owner: Option<P>,
    acquire: Acquire,
}

impl<P> PendingAcquire<P>
where
    P: Deref,
    P::Target: AsRawSemaphore,
{
    /// An acquire of `n` permits of `owner`'s semaphore, not started yet.
    #[inline]
    pub(crate) const fn new(owner: P, n: usize) -> Self {
        PendingAcquire {
            owner: Some(owner),
            acquire: Acquire::new(n),
        }
    }

    /// An acquire that queues ahead of every waiter (see [`Acquire::urgent`]).
    #[inline]
    pub(crate) const fn urgent(owner: P, n: usize) -> Self {
        PendingAcquire {
            owner: Some(owner),
            acquire: Acquire::urgent(n),
        }
    }

    /// The primitive acquired from.
    ///
    /// # Panics
    /// After [`take_owner`](Self::take_owner).
    #[inline]
    pub(crate) fn owner(&self) -> &P {
        self.owner.as_ref().expect("polled after completion")
    }

    /// Moves the owner out (an `Arc` into the guard) once the acquire completed; the
    /// pending acquire is spent, and its drop does nothing.
    ///
    /// # Panics
    /// If called twice.
    #[inline]
    pub(crate) fn take_owner(&mut self) -> P {
        debug_assert!(!self.acquire.is_queued(), "taken while still queued");
        self.owner.take().expect("polled after completion")
    }

    /// Whether [`take_owner`](Self::take_owner) ended it (a future polled after completion).
    #[inline]
    pub(crate) fn is_spent(&self) -> bool {
        self.owner.is_none()
    }

    /// How many permits it asks for.
    #[inline]
    pub(crate) fn permits(&self) -> usize {
        self.acquire.permits()
    }

    /// Whether it holds a place in the wait list.
    #[inline]
    pub(crate) fn is_queued(&self) -> bool {
        self.acquire.is_queued()
    }

    /// Polls for the permits (see [`Acquire::poll`]).
    ///
    /// # Panics
    /// After [`take_owner`](Self::take_owner).
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let owner = self.owner.as_ref().expect("polled after completion");
        self.acquire.poll(owner.raw_semaphore(), cx)
    }

    /// [`PendingAcquire::poll`] for a semaphore that is never closed.
    #[inline]
    pub(crate) fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let owner = self.owner.as_ref().expect("polled after completion");
        self.acquire.poll_open(owner.raw_semaphore(), cx)
    }

    /// The primitive and the bare [`Acquire`], for a helper that takes `&mut Acquire`
    /// (the raw layer's `poll_lock`). Poll or cancel it only against this primitive's
    /// semaphore: the drop still cancels it there.
    ///
    /// # Panics
    /// After [`take_owner`](Self::take_owner).
    #[inline]
    pub(crate) fn split(&mut self) -> (&P::Target, &mut Acquire) {
        let owner = self.owner.as_ref().expect("polled after completion");
        (owner, &mut self.acquire)
    }

    /// Withdraws it now rather than on drop (its owner got what it wanted another way);
    /// it may be polled again afterwards, as a fresh acquire.
    #[inline]
    pub(crate) fn cancel(&mut self) {
        if let Some(owner) = &self.owner {
            self.acquire.cancel(owner.raw_semaphore());
        }
    }

    /// Withdraws it now and returns the permits it had been handed, which the caller
    /// now owns (see [`Acquire::withdraw`]); 0 if it was not queued.
    #[inline]
    pub(crate) fn withdraw(&mut self) -> usize {
        match &self.owner {
            Some(owner) if self.acquire.is_queued() => self.acquire.withdraw(owner.raw_semaphore()),
            _ => 0,
        }
    }
}

impl<P> Drop for PendingAcquire<P>
where
    P: Deref,
    P::Target: AsRawSemaphore,
{
    #[inline]
    fn drop(&mut self) {
        // Only a queued acquire has anything to give back; the uncontended path pays
        // one branch.
        if self.acquire.is_queued() {
            if let Some(owner) = &self.owner {
                self.acquire.cancel(owner.raw_semaphore());
            }
        }
    }
}

impl<P> std::fmt::Debug for PendingAcquire<P>
where
    P: Deref,
    P::Target: AsRawSemaphore,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAcquire")
            .field("acquire", &self.acquire)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn dropping_a_granted_acquire_passes_the_permits_on() {
        let sem = RawSemaphore::new(0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = PendingAcquire::new(&sem, 2);
        let mut second = PendingAcquire::new(&sem, 2);
        assert!(first.poll(&mut cx).is_pending());
        assert!(second.poll(&mut cx).is_pending());
        sem.release(2);
        drop(first); // whether handed over or only woken, the two permits go on
        assert!(second.poll(&mut cx).is_ready());
        assert!(!sem.has_waiters());
        assert_eq!(sem.available(), 0);
    }

    #[test]
    fn the_arc_form_moves_its_owner_out() {
        let sem = std::sync::Arc::new(RawSemaphore::new(1));
        let mut cx = Context::from_waker(Waker::noop());
        let mut pending = PendingAcquire::new(sem.clone(), 1);
        assert!(pending.poll(&mut cx).is_ready());
        let owner = pending.take_owner();
        assert!(pending.is_spent());
        drop(pending);
        owner.release(1);
        assert_eq!(sem.available(), 1);
    }
}
