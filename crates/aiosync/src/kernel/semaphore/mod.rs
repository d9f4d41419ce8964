//! The counting-permit state machine under `Mutex`, `ReentrantMutex` and `Semaphore`.

mod acquire;

pub(crate) use acquire::{Acquire, AsRawSemaphore, PendingAcquire};

use super::{block, local_handoff, thread_tag, NodeState, WaitList, Wakers};
use crate::sync::{lock, spin_loop, yield_now, AtomicBool, AtomicUsize, Instant, Lock, Ordering};

/// Set while the wait list is non-empty; every acquire and release then goes through it.
const QUEUED: usize = 1;
/// One permit in `state`.
const ONE: usize = 2;

/// Largest number of permits a semaphore can hold.
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// Permits plus a wait list.
///
/// # Invariants
///
/// Besides the [`WaitList`]'s (I2, I4–I6):
///
/// - **I1: only the head waiter holds a partial grant** (`payload.got > 0` while linked).
///   A starving head is handed permits as they come back, before the next waiter gets
///   any; an upgrade that queues ahead of it first takes them back. Permits held that
///   way are neither free nor a guard's, and are reclaimed from the head only. Prevents
///   two large acquires each holding part of what the other needs (a deadlock).
/// - **I3: `QUEUED` is set iff the list is non-empty, changed only with the list
///   locked.** A release that sees it clear may skip the list: a waiter that queues
///   later sets it under the lock, then takes what is free before it sleeps. Prevents a
///   lost wake-up (permits released between a failed try and the push).
/// - **I7: waiters are served in FIFO order.** A release serves from the head and stops
///   at the first waiter it cannot serve; a newcomer takes free permits past waiters
///   only by the rules of `may_barge` (never past its own thread's waiter, a starving
///   head, or a head the free permits do not cover).
/// - **I8: whatever a cancelled acquire was handed goes on.** `cancel` gives its
///   `payload.got` back and serves the list again, so no permit is lost or leaked;
///   `withdraw` serves the list and hands `got` to its caller, who then owes it (a queue
///   that shrank keeps it, to pay what the shrink could not take at once).
///
/// # `state`
///
/// `permits * ONE | QUEUED`, one word so a compare-exchange sees both at once.
///
/// | `QUEUED` | free permits | meaning |
/// | --- | --- | --- |
/// | 0 | 0 | all held, nobody waits |
/// | 0 | > 0 | free, nobody waits: any acquire may take them with a compare-exchange |
/// | 1 | 0 | all held (or partly handed to the head, I1), waiters queued |
/// | 1 | > 0 | a release woke waiters that have not run yet (a running thread may still take them, until the head starves), or too few for the head; also while a closed semaphore drains |
///
/// Who may change what:
///
/// | change | by | lock | the bug the rule prevents |
/// | --- | --- | --- | --- |
/// | set `QUEUED` | the acquire whose push made the list non-empty, or an urgent one | list | lost wake-up: a release that saw it clear skipped the list (I3) |
/// | clear `QUEUED` | whoever unlinks the last waiter (a served or cancelled acquire, a handoff) | list | a release skipping a waiter that is still queued (I3) |
/// | add permits | `release`, `cancel`, reclaiming a partial grant | none (`fetch_add`) | — (adding never overtakes anyone) |
/// | take permits, `QUEUED` clear | `try_acquire` / `try_acquire_one` | none: the compare-exchange fails if `QUEUED` got set | a newcomer overtaking a waiter that queued first (I7) |
/// | take permits, `QUEUED` set | `take*` from a poll, a handoff, an upgrade, `drain` | list | barging past the queue without the fairness rules (I7) |
pub(crate) struct RawSemaphore {
    /// See the tables above.
    state: AtomicUsize,
    /// Once set, an acquire that finds too few free permits fails instead of waiting.
    closed: AtomicBool,
    list: Lock<WaitList<Permits>>,
}

/// What a queued acquire's node carries: how many permits it asks for and how many it
/// was handed so far.
///
/// `got` is non-zero only for the head while linked (I1), and equals `need` once the
/// node is `Granted`; `cancel` gives it back either way (I8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Permits {
    /// Permits the acquire asks for.
    pub(crate) need: usize,
    /// Permits handed to it so far (taken from `state`, held for it in the node).
    pub(crate) got: usize,
}

impl Permits {
    /// An acquire of `need` permits, handed none yet.
    #[inline]
    pub(crate) const fn wanted(need: usize) -> Self {
        Permits { need, got: 0 }
    }

    /// How many it still lacks.
    #[inline]
    pub(crate) const fn missing(&self) -> usize {
        self.need - self.got
    }
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

    /// How many acquires wait in the list now (a snapshot).
    pub(crate) fn waiters(&self) -> usize {
        if !self.has_waiters() {
            return 0;
        }
        lock(&self.list).len()
    }

    /// Whether a waiter queued from the OS thread `tag` is in the list, or was handed
    /// permits it has not taken yet (on a thread that runs an event loop: one of that
    /// loop's tasks, which a blocking wait there could never overtake nor let run).
    pub(crate) fn has_waiter_of_thread(&self, tag: u64) -> bool {
        let list = lock(&self.list);
        list.has_thread(tag) || list.has_unclaimed_grant_of(tag)
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

    /// Takes `n` free permits whether or not anyone is queued. Caller must hold the list
    /// (I7: the caller decided, under it, that this taker's turn has come).
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
        self.drain_up_to(usize::MAX)
    }

    /// Takes up to `n` free permits, returning how many. A waiter woken for them finds
    /// none and waits again (I2: its wake was in flight, so it runs and re-checks).
    pub(crate) fn drain_up_to(&self, n: usize) -> usize {
        // I7: taking while waiters may be queued happens under the list lock.
        let _list = lock(&self.list);
        self.take_up_to(n)
    }

    /// From now on, acquires that find too few free permits fail with [`Closed`]; current
    /// waiters are woken to find out. Call it with no internal lock held (I4).
    pub(crate) fn close(&self) {
        // Stored before the list is locked: an acquire that checks `closed` under the lock
        // and then queues is still in the list when this walks it.
        self.closed.store(true, Ordering::SeqCst);
        let mut wakers = Wakers::new();
        {
            let mut list = lock(&self.list);
            let mut cur = list.head();
            while let Some(k) = cur {
                cur = list.next_of(k);
                let node = &mut list[k];
                // I2: only `Waiting` nodes; a `Woken` one has a wake in flight.
                if node.state == NodeState::Waiting {
                    node.state = NodeState::Woken;
                    if let Some(w) = node.waker.take() {
                        wakers.push(w);
                    }
                }
            }
        }
        // I4: (1) the list guard ended with its block; (2) `close`'s contract.
        wakers.wake_all();
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Returns `n` permits.
    ///
    /// Call it with no internal lock held (it may wake waiters, I4); a caller that holds
    /// one uses [`release_collect`](Self::release_collect).
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        // Release: the holder's writes happen-before the next acquirer's reads.
        let prev = self.state.fetch_add(n * ONE, Ordering::AcqRel);
        // I3: `QUEUED` clear means nobody was queued when the permits came back, and a
        // waiter queueing from now on takes them itself after it sets the bit.
        if prev & QUEUED != 0 {
            self.release_slow();
        }
    }

    #[cold]
    fn release_slow(&self) {
        let mut wakers = Wakers::new();
        self.dispatch_locked(&mut wakers);
        // I4: (1) `dispatch_locked` released the list; (2) `release`'s callers hold no
        // internal lock (its contract).
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

    /// Permits handed to a queued waiter that is still waiting for the rest. They are
    /// neither free nor held by a guard.
    pub(crate) fn handed_partially(&self) -> usize {
        let list = lock(&self.list);
        // I1: only the head can hold a part.
        list.head().map_or(0, |h| list[h].payload.got)
    }

    /// Takes `n` permits ignoring the queue, after taking back a part handed to the head
    /// (an upgrade outranks every waiter). Returns whether it got them. Call it with no
    /// internal lock held, as [`release`](Self::release).
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
        // I4: (1) the list guard ended with its block; (2) callers hold no internal lock
        // (as for `release`).
        wakers.wake_all();
        ok
    }

    /// Takes back permits handed to the head so far. Caller must hold the list.
    fn reclaim_partial(&self, list: &mut WaitList<Permits>) {
        // I1: reclaim from the head only; nobody else holds a part.
        if let Some(h) = list.head() {
            let got = std::mem::take(&mut list[h].payload.got);
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
    fn dispatch(&self, list: &mut WaitList<Permits>, wakers: &mut Wakers) {
        let Some(head) = list.head() else { return };
        if list.head_starving() {
            let mut cur = Some(head);
            while let Some(k) = cur {
                let permits = &mut list[k].payload;
                permits.got += self.take_up_to(permits.missing());
                // I1, I7: stop at the first waiter not fully served. Everyone before it
                // was granted and unlinked, so the one left holding a part is the head.
                if permits.missing() > 0 {
                    break;
                }
                cur = list.next_of(k);
                // Granted with `got == need`: what `cancel` gives back if it never runs.
                list.finish(k, NodeState::Granted, wakers);
            }
            // I3: cleared under the lock, by whoever unlinked the last waiter.
            if list.is_empty() {
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        } else {
            let mut free = self.available();
            // Batching per thread, where the releasing thread runs one event loop (opted
            // in: `task::set_local_handoff`): while the head does not starve, the first
            // waiter of the releasing thread (a task of its own loop) goes first, so one
            // loop's tasks hand the resource on among themselves without a cross-thread
            // wake-up per release. (Off for work-stealing runtimes, where it would leave
            // the other workers idle.) Among one thread's waiters the order stays FIFO (the
            // first is picked, and a newcomer never passes a waiter of its own thread);
            // the head's clock keeps running, so it is served within `FAIR_TIMEOUT`.
            // It never passes a waiter the free permits could not serve (a writer while
            // readers hold): that one keeps everybody behind it waiting, as in FIFO.
            let mine = thread_tag();
            let mut picked = None;
            if local_handoff() && list.has_thread(mine) {
                let mut cur = Some(head);
                while let Some(k) = cur {
                    if list[k].thread == mine {
                        picked = Some(k);
                        break;
                    }
                    if list[k].payload.missing() > free {
                        break;
                    }
                    cur = list.next_of(k);
                }
            }
            if let Some(k) = picked {
                let node = &mut list[k];
                // I1: not the head, so it holds no part (got == 0) and takes all it needs.
                let need = node.payload.missing();
                if need <= free {
                    free -= need;
                    // I2: wake a `Waiting` one only.
                    if node.state == NodeState::Waiting {
                        node.state = NodeState::Woken;
                        if let Some(w) = &node.waker {
                            wakers.push(w.clone());
                        }
                    }
                } else {
                    picked = None;
                }
            }
            let mut cur = Some(head);
            while let Some(k) = cur {
                if Some(k) == picked {
                    cur = list.next_of(k);
                    continue;
                }
                let node = &mut list[k];
                let need = node.payload.missing();
                // I7: in FIFO order, as far as the free permits go.
                if need > free {
                    break;
                }
                free -= need;
                // I2: wake `Waiting` ones only (a `Woken` one has a wake in flight); the
                // waker stays in the node for a later `finish` or `close`.
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
        if self.try_acquire_spinning(n) {
            return Ok(());
        }
        self.block_on_acquire(PendingAcquire::new(self, n), deadline)
    }

    /// [`try_acquire`](Self::try_acquire), retried for a few spins while nobody is
    /// queued: the first step of a blocking acquire, for callers that then wait their own
    /// way.
    pub(crate) fn try_acquire_spinning(&self, n: usize) -> bool {
        if self.try_acquire(n) {
            return true;
        }
        // Spin briefly while nobody is queued: a short critical section ends sooner than
        // a park/unpark round trip. Once someone queues, spinning could only barge (I7).
        // Under loom every spin is a scheduling point: spinning only multiplies the states.
        const SPINS: u32 = if cfg!(loom) { 0 } else { 10 };
        // Empty under loom on purpose (see above).
        #[cfg_attr(loom, allow(clippy::reversed_empty_ranges))]
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
                return true;
            }
        }
        false
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
        self.block_on_acquire(PendingAcquire::urgent(self, n), deadline)
    }

    fn block_on_acquire(
        &self,
        mut pending: PendingAcquire<&RawSemaphore>,
        deadline: Option<Instant>,
    ) -> Result<(), Refused> {
        // On timeout `pending` is dropped, which withdraws it (passing on what it got).
        match block::block_on(std::future::poll_fn(|cx| pending.poll(cx)), deadline) {
            Some(Ok(())) => Ok(()),
            Some(Err(Closed)) => Err(Refused::Closed),
            None => Err(Refused::TimedOut),
        }
    }
}
