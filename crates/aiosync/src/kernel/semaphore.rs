//! The counting-permit state machine under `Mutex`, `ReentrantMutex` and `Semaphore`.

use super::{block, thread_tag, NodeState, WaitList, Wakers};
use crate::sync::{lock, spin_loop, yield_now, AtomicBool, AtomicUsize, Instant, Lock, Ordering};
use std::task::{Context, Poll};

/// Set while the wait list is non-empty; every acquire and release then goes through it.
const QUEUED: usize = 1;
/// One permit in `state`.
const ONE: usize = 2;
const NONE: usize = usize::MAX;

/// Largest number of permits a semaphore can hold.
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// Permits plus a wait list.
///
/// `state`:
///
/// | bits | meaning |
/// | --- | --- |
/// | 0 (`QUEUED`) | the wait list holds at least one waiter; only changed with the list locked |
/// | 1.. | free permits |
///
/// Free permits and `QUEUED` both set means a release woke a waiter that has not
/// run yet (it may lose the race to a running thread until it starves), or the permits
/// are too few for the head waiter.
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    /// Once set, an acquire that finds too few free permits fails instead of waiting.
    closed: AtomicBool,
    list: Lock<WaitList>,
}

/// An acquire refused because the semaphore was closed and too few permits were free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Why a blocking acquire came back empty-handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    TimedOut,
    Closed,
}

impl std::fmt::Debug for RawSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSemaphore")
            .field("permits", &self.available())
            .finish()
    }
}

impl RawSemaphore {
    #[cfg(not(loom))]
    pub(crate) const fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "too many permits");
        RawSemaphore {
            state: AtomicUsize::new(permits * ONE),
            closed: AtomicBool::new(false),
            list: Lock::new(WaitList::new()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "too many permits");
        RawSemaphore {
            state: AtomicUsize::new(permits * ONE),
            closed: AtomicBool::new(false),
            list: Lock::new(WaitList::new()),
        }
    }

    /// Whether the wait list holds anyone.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.state.load(Ordering::Acquire) & QUEUED != 0
    }

    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// The uncontended path for one permit: a single compare-exchange.
    #[inline]
    pub(crate) fn try_acquire_one(&self) -> bool {
        match self
            .state
            .compare_exchange(ONE, 0, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => true,
            Err(s) => s & QUEUED == 0 && s >= ONE && self.try_acquire(1),
        }
    }

    /// Takes `n` permits if they are free and nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & QUEUED != 0 || s / ONE < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s - n * ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(a) => s = a,
            }
        }
    }

    /// Takes `n` free permits whether or not anyone is queued. Caller must hold the list.
    fn take(&self, n: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s / ONE < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s - n * ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(a) => s = a,
            }
        }
    }

    /// Takes up to `n` free permits, returning how many. Caller must hold the list.
    fn take_up_to(&self, n: usize) -> usize {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let k = (s / ONE).min(n);
            if k == 0 {
                return 0;
            }
            match self.state.compare_exchange_weak(
                s,
                s - k * ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return k,
                Err(a) => s = a,
            }
        }
    }

    /// Takes every free permit, returning how many.
    pub(crate) fn drain(&self) -> usize {
        self.take_up_to(usize::MAX)
    }

    /// From now on, acquires that find too few free permits fail with [`Closed`]; current
    /// waiters are woken to find out.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let mut wakers = Wakers::new();
        {
            let mut list = lock(&self.list);
            let mut cur = list.head();
            while let Some(k) = cur {
                cur = list.next_of(k);
                let node = &mut list[k];
                if node.state == NodeState::Waiting {
                    node.state = NodeState::Woken;
                    if let Some(w) = node.waker.take() {
                        wakers.push(w);
                    }
                }
            }
        }
        wakers.wake_all();
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Returns `n` permits.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        // Release: the holder's writes happen-before the next acquirer's reads.
        let prev = self.state.fetch_add(n * ONE, Ordering::AcqRel);
        if prev & QUEUED != 0 {
            self.release_slow();
        }
    }

    #[cold]
    fn release_slow(&self) {
        let mut wakers = Wakers::new();
        self.dispatch_locked(&mut wakers);
        wakers.wake_all();
    }

    /// Returns `n` permits, collecting the wakers to call instead of calling them: for a
    /// caller that holds a lock of its own (a waker must never run under a lock).
    pub(crate) fn release_collect(&self, n: usize, wakers: &mut Wakers) {
        let prev = self.state.fetch_add(n * ONE, Ordering::AcqRel);
        if prev & QUEUED != 0 {
            self.dispatch_locked(wakers);
        }
    }

    fn dispatch_locked(&self, wakers: &mut Wakers) {
        let mut list = lock(&self.list);
        self.dispatch(&mut list, wakers);
    }

    /// Permits handed to a queued waiter that is still waiting for the rest (only ever
    /// the head). They are neither free nor held by a guard.
    pub(crate) fn handed_partially(&self) -> usize {
        let list = lock(&self.list);
        list.head().map_or(0, |h| list[h].got)
    }

    /// Takes `n` permits ignoring the queue, after taking back a part handed to the head
    /// (an upgrade outranks every waiter). Returns whether it got them.
    pub(crate) fn try_take_urgent(&self, n: usize) -> bool {
        let mut wakers = Wakers::new();
        let ok = {
            let mut list = lock(&self.list);
            self.reclaim_partial(&mut list);
            let ok = self.take(n);
            if !ok {
                // The part taken back goes where it belongs again.
                self.dispatch(&mut list, &mut wakers);
            }
            ok
        };
        wakers.wake_all();
        ok
    }

    /// Takes back permits handed to the head so far. Caller must hold the list.
    fn reclaim_partial(&self, list: &mut WaitList) {
        if let Some(h) = list.head() {
            let got = std::mem::take(&mut list[h].got);
            if got > 0 {
                self.state.fetch_add(got * ONE, Ordering::AcqRel);
            }
        }
    }

    /// Serves the wait list after permits came back. Caller must hold the list.
    ///
    /// A starving head (see `FAIR_TIMEOUT`) is handed permits directly, in FIFO order, so
    /// no running thread can take them first. Otherwise the permits stay free and the
    /// waiters they would satisfy, in FIFO order, are woken to come and take them.
    fn dispatch(&self, list: &mut WaitList, wakers: &mut Wakers) {
        let Some(head) = list.head() else { return };
        if list.head_starving() {
            let mut cur = Some(head);
            while let Some(k) = cur {
                let node = &mut list[k];
                let got = self.take_up_to(node.need - node.got);
                node.got += got;
                if node.got < node.need {
                    break;
                }
                cur = list.next_of(k);
                let need = list[k].need;
                list.finish(k, NodeState::Granted, need, wakers);
            }
            if list.is_empty() {
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        } else {
            let mut free = self.available();
            let mut cur = Some(head);
            while let Some(k) = cur {
                let node = &mut list[k];
                let need = node.need - node.got;
                if need > free {
                    break;
                }
                free -= need;
                if node.state == NodeState::Waiting {
                    node.state = NodeState::Woken;
                    if let Some(w) = &node.waker {
                        wakers.push(w.clone());
                    }
                }
                cur = list.next_of(k);
            }
        }
    }

    /// Blocks the calling thread until `n` permits are taken (never closed, no deadline).
    #[inline]
    pub(crate) fn acquire_forever(&self, n: usize) {
        let r = self.acquire_blocking(n, None);
        debug_assert!(r.is_ok(), "only closed semaphores refuse");
    }

    /// Blocks the calling thread until `n` permits are taken, or `deadline` passes.
    pub(crate) fn acquire_blocking(
        &self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<(), Refused> {
        if self.try_acquire(n) {
            return Ok(());
        }
        // Spin briefly while nobody is queued: a short critical section ends sooner than
        // a park/unpark round trip.
        // Under loom every spin is a scheduling point: spinning only multiplies the states.
        const SPINS: u32 = if cfg!(loom) { 0 } else { 10 };
        for i in 0..SPINS {
            if self.state.load(Ordering::Relaxed) & QUEUED != 0 {
                break;
            }
            if i < 3 {
                for _ in 0..(2 << i) {
                    spin_loop();
                }
            } else {
                yield_now();
            }
            if self.try_acquire(n) {
                return Ok(());
            }
        }
        self.block_on_acquire(Acquire::new(n), deadline)
    }

    /// Blocking form of an upgrade: queued ahead of everyone (see [`Acquire::urgent`]).
    pub(crate) fn acquire_urgent_blocking(
        &self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<(), Refused> {
        if self.take(n) {
            return Ok(());
        }
        self.block_on_acquire(Acquire::urgent(n), deadline)
    }

    fn block_on_acquire(&self, mut acq: Acquire, deadline: Option<Instant>) -> Result<(), Refused> {
        let done = block::block_on(std::future::poll_fn(|cx| acq.poll(self, cx)), deadline);
        if done.is_none() {
            acq.cancel(self);
        }
        match done {
            Some(Ok(())) => Ok(()),
            Some(Err(Closed)) => Err(Refused::Closed),
            None => Err(Refused::TimedOut),
        }
    }
}

/// One acquire of `n` permits in progress: the state of a future that does not borrow
/// its semaphore, so owned (`Arc`) futures can hold it too.
///
/// The owner must call [`Acquire::cancel`] when it drops a pending acquire.
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
            key: NONE,
            urgent: false,
        }
    }

    /// An acquire that queues ahead of every waiter.
    pub(crate) const fn urgent(n: usize) -> Self {
        Acquire {
            n,
            key: NONE,
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
        self.key != NONE
    }

    /// Polls for the permits. `Err(Closed)` only after [`RawSemaphore::close`].
    #[inline]
    pub(crate) fn poll(
        &mut self,
        sem: &RawSemaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        if self.key == NONE {
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
        if self.key == NONE {
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
                // Permits handed so far to the old head (only the head is ever handed a
                // part) would be out of reach of the upgrade: take them back.
                sem.reclaim_partial(&mut list);
                list.push_front(self.n, cx.waker())
            } else {
                list.push(self.n, cx.waker())
            };
            if was_empty || self.urgent {
                sem.state.fetch_or(QUEUED, Ordering::AcqRel);
                // A release that ran before QUEUED was set did not look at the list, and
                // an upgrade may have just taken permits back: take what is free.
                if sem.take(self.n) {
                    list.remove(self.key);
                    self.key = NONE;
                    if list.is_empty() {
                        sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(()));
                }
            } else if sem.available() > 0 && list.head_is_waiting() {
                // Queued behind others while permits are free (it may not overtake them),
                // and no woken head will pass them on: wake the ones they serve.
                let mut wakers = Wakers::new();
                sem.dispatch(&mut list, &mut wakers);
                drop(list);
                wakers.wake_all();
            }
            return Poll::Pending;
        }
        let key = self.key;
        let node = &list[key];
        match node.state {
            NodeState::Granted => {
                list.remove(key);
                self.key = NONE;
                Poll::Ready(Ok(()))
            }
            NodeState::Woken | NodeState::Waiting => {
                if node.state == NodeState::Woken || list.head() == Some(key) {
                    let need = node.need - node.got;
                    if sem.take(need) {
                        list.remove(key);
                        self.key = NONE;
                        if list.is_empty() {
                            sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
                        } else if sem.available() > 0 && list.head_is_waiting() {
                            // Permits left over and the new head was not woken (it queued
                            // after the wake): serve it. Woken ones pass leftovers on
                            // themselves, so a woken batch is not walked again per member.
                            let mut wakers = Wakers::new();
                            sem.dispatch(&mut list, &mut wakers);
                            drop(list);
                            wakers.wake_all();
                        }
                        return Poll::Ready(Ok(()));
                    }
                    if sem.is_closed() {
                        drop(list);
                        self.cancel(sem);
                        return Poll::Ready(Err(Closed));
                    }
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
    fn may_barge(&self, sem: &RawSemaphore, list: &mut WaitList) -> bool {
        if self.urgent || list.is_empty() {
            return true;
        }
        let Some(head) = list.head() else { return true };
        let head_need = list[head].need - list[head].got;
        head_need <= sem.available() && !list.has_thread(thread_tag()) && !list.head_starving()
    }

    /// Withdraws a pending acquire: whatever it was handed goes to the next waiters.
    pub(crate) fn cancel(&mut self, sem: &RawSemaphore) {
        if self.key == NONE {
            return;
        }
        let mut wakers = Wakers::new();
        {
            let mut list = lock(&sem.list);
            let node = list.remove(self.key);
            self.key = NONE;
            if list.is_empty() {
                sem.state.fetch_and(!QUEUED, Ordering::Relaxed);
            }
            if node.got > 0 {
                sem.state.fetch_add(node.got * ONE, Ordering::AcqRel);
            }
            // Whatever it held goes back, and whoever it held up (a head the free permits
            // did not cover, now gone) may now be served.
            sem.dispatch(&mut list, &mut wakers);
        }
        wakers.wake_all();
    }
}
