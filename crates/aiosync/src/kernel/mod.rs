//! The kernel: one FIFO wait list that every primitive is written over.
//!
//! A waiter is a [`Node`] in a [`WaitList`], woken through a [`Waker`]. That one
//! abstraction covers an async task of any runtime and a thread parked by
//! [`block::block_on`], so each primitive is written once, as a state machine, and both
//! front-ends drive the same future.
//!
//! The rules every primitive follows are numbered, and each line that relies on one
//! cites it (`// I4: ...`):
//!
//! - I1–I3 and I7–I8 are [`RawSemaphore`](semaphore::RawSemaphore)'s (partial grants,
//!   the `QUEUED` bit, FIFO service, grants on cancel);
//! - I2 and I4–I6 are [`WaitList`]'s (wakes in flight, no waker under the lock, stable
//!   keys, exact counts).
//!
//! One-shot waits (an event, a queue's `join`, a condition, a barrier) go through
//! [`listener::Listener`]; permit waits through [`semaphore::PendingAcquire`]. Both
//! withdraw themselves in `Drop`, so no primitive keeps a cancel rule by hand.
//!
//! What a waiter is besides its place in line is its primitive's business, so a list is
//! generic over the payload `P` each node carries: [`semaphore::Permits`] for a permit
//! wait, a barrier's `Party` (its role and arrival index), `()` for a plain listener.

pub(crate) mod block;
pub(crate) mod listener;
#[cfg(any(feature = "facade", loom))]
pub(crate) mod scoped;
pub(crate) mod semaphore;

use crate::sync::{now, thread_local, Instant};
use slab::Slab;
use smallvec::SmallVec;
use std::cell::Cell;
use std::task::Waker;
use std::time::Duration;

/// How long the head waiter may watch running threads take a free resource before the
/// next release hands it over directly (parking_lot's eventual fairness).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const FAIR_TIMEOUT: Duration = Duration::from_micros(500);

/// No node: the end of a list link, and the key of a waiter that is not queued.
pub(crate) const NIL: usize = usize::MAX;

/// `head_starving` reads the clock on its first asks, then on one ask in `CLOCK_EVERY`.
const CLOCK_ALWAYS: u32 = 4;
const CLOCK_EVERY: u32 = 8;

/// A small stable number for the calling OS thread (cheaper than `ThreadId`).
#[inline]
pub(crate) fn thread_tag() -> u64 {
    thread_local! {
        static TAG: Cell<u64> = const { Cell::new(0) };
    }
    TAG.with(|t| {
        let v = t.get();
        if v != 0 {
            return v;
        }
        let v = next_id();
        t.set(v);
        v
    })
}

thread_local! {
    // Whether this thread runs one executor whose tasks should hand resources to each
    // other first (see `local_handoff`).
    static LOCAL_HANDOFF: Cell<bool> = const { Cell::new(false) };
}

/// Whether releases made on this thread prefer this thread's own waiters (within the
/// fairness window): set by a thread that runs a single event loop (the Python binding
/// does it for asyncio loop threads), off by default.
#[inline]
pub(crate) fn local_handoff() -> bool {
    LOCAL_HANDOFF.with(Cell::get)
}

/// Sets [`local_handoff`] for the calling thread.
pub(crate) fn set_local_handoff(on: bool) {
    LOCAL_HANDOFF.with(|c| c.set(on));
}

/// Fresh ids for threads and task scopes, from one counter so they never collide.
pub(crate) fn next_id() -> u64 {
    // Not modelled under loom: ids only need to be unique, never ordered.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What the holder of a [`Node`] has been told.
///
/// Every change happens with the list's lock held. The node's owner (the future holding
/// its key) reads the state when it polls, and only the owner removes the node (I5).
///
/// | state | linked | set by | waker | the owner's next poll |
/// | --- | --- | --- | --- | --- |
/// | `Waiting` | yes | `push`; the owner, polled while `Woken` | stored in the node | waits on |
/// | `Woken` | yes | a release, `close` or barrier admission that found it may go | cloned or taken by the setter, who wakes it (I2) | retries; back to `Waiting` if it still cannot go |
/// | `Granted` | no (`finish`); yes for a released barrier party (`mark`) | a handoff, a notification, `set`, the last `task_done` | taken by the setter, unless `Woken` (I2) | takes the result (its payload) and removes the node |
/// | `Broken` | yes (`mark`) | barrier abort/reset | as `Granted` | fails and removes the node |
///
/// Rule: never set `Woken` without waking the node, and never wake a `Woken` node
/// again (I2). The first half prevents a lost wake-up (a `finish` that skips the waker
/// of a `Woken` node relies on the wake already in flight); the second a wake per
/// release for a waiter that has not run yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Queued, nothing happened yet.
    Waiting,
    /// Asked to retry: the resource looked free when it was woken (still queued).
    Woken,
    /// Handed what it waited for (unlinked from the list).
    Granted,
    /// Refused: the primitive broke (barrier abort/reset); unlinked.
    Broken,
}

/// One waiter: its place in the FIFO order, how to wake it, what it was told, and the
/// primitive's own data about it (`payload`).
#[derive(Debug)]
pub(crate) struct Node<P> {
    prev: usize,
    next: usize,
    linked: bool,
    pub(crate) waker: Option<Waker>,
    /// `thread_tag()` of the thread that queued it.
    pub(crate) thread: u64,
    /// When it was first passed over as the head waiter. Set lazily: a clock read costs
    /// more than an uncontended handoff, and most waiters are served before they need it.
    since: Option<Instant>,
    /// How often its starvation was asked about since (see `head_starving`).
    looks: u32,
    /// Once it starved, it stays so.
    starving: bool,
    /// What the primitive keeps about this waiter (permits wanted and handed, a barrier
    /// party's role); the list itself never reads it.
    pub(crate) payload: P,
    pub(crate) state: NodeState,
}

/// A FIFO list of waiters, stored in a slab so inserting reuses memory and removal is O(1).
///
/// Always behind a primitive's internal lock (`Lock<WaitList<P>>`, or a field of the
/// state that lock guards); every method assumes it is held. Each node carries a `P`
/// (see [`Node::payload`]).
///
/// # Invariants
///
/// - **I2: a `Woken` node has a wake in flight; nobody else pushes its waker.** Whoever
///   sets `Woken` wakes the node (after unlocking); `finish` and `mark` then only change
///   its state, which the woken owner reads when it polls. The owner sets it back to
///   `Waiting` when it polls and must wait again, and only then may a waker be pushed.
///   Prevents both a lost wake-up and a wake per release for one sleeping waiter.
/// - **I4: no waker is called with the list lock held.** Wakers are collected into a
///   [`Wakers`] under the lock and called by [`WakeList::wake_all`] after it is released
///   (and with no other internal lock held). A waker may need the GIL, and the thread
///   holding the GIL may be waiting for this lock: calling it here could deadlock.
/// - **I5: a key stays valid while its owner holds it.** Only the owner of a key (the
///   future or listener it was returned to) calls `remove` on it; everyone else only
///   `unlink`s, `finish`es or `mark`s it. A granted node therefore stays in the slab until
///   its owner has read what it was handed, and a slot is never reused under a live key.
/// - **I6: `len` and `threads` count exactly the linked nodes**, each under the thread it
///   was queued from, so the "never overtake a waiter of your own thread" rule and
///   `is_empty` are O(1) and never scan.
#[derive(Debug)]
pub(crate) struct WaitList<P> {
    nodes: Slab<Node<P>>,
    head: usize,
    tail: usize,
    len: usize,
    /// How many linked waiters each thread has: the "no overtaking a waiter of your own
    /// thread" rule asks this on every contended acquire, so it must not scan the list.
    threads: SmallVec<[(u64, usize); 4]>,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> WaitList<P> {
    pub(crate) const fn new() -> Self {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            len: 0,
            threads: SmallVec::new_const(),
        }
    }

    /// Number of linked (still waiting) nodes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // I6: maintained by `insert` and `unlink`, the only places links change.
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn head(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    #[inline]
    pub(crate) fn next_of(&self, key: usize) -> Option<usize> {
        let n = self.nodes[key].next;
        (n != NIL).then_some(n)
    }

    /// Whether a linked waiter was queued from thread `tag`.
    #[inline]
    pub(crate) fn has_thread(&self, tag: u64) -> bool {
        // I6: one entry per thread with linked waiters, so this scans threads, not nodes.
        self.threads.iter().any(|&(t, _)| t == tag)
    }

    /// Whether a node of thread `tag` was granted what it waited for and has not taken
    /// it yet (its future has not run since): a scan of the slab, for slow paths only.
    pub(crate) fn has_unclaimed_grant_of(&self, tag: u64) -> bool {
        self.nodes
            .iter()
            .any(|(_, n)| n.thread == tag && n.state == NodeState::Granted)
    }

    /// Whether the head waiter has waited long enough that it must be served next.
    ///
    /// Its clock starts the first time a release or a running thread asks. A clock read
    /// costs more than an uncontended handoff, so once asks come often only some of them
    /// read it (the timeout is "about" half a millisecond); a verdict of starving sticks.
    pub(crate) fn head_starving(&mut self) -> bool {
        let Some(h) = self.head() else { return false };
        let node = &mut self.nodes[h];
        if node.starving {
            return true;
        }
        match node.since {
            Some(since) => {
                node.looks = node.looks.saturating_add(1);
                // The first few looks always read the clock (releases may be rare); after
                // that they come fast, and one in CLOCK_EVERY is precise enough.
                if node.looks > CLOCK_ALWAYS && node.looks % CLOCK_EVERY != 0 && !cfg!(loom) {
                    return false;
                }
                node.starving = starving(since);
                node.starving
            }
            None => {
                let t = now();
                node.since = Some(t);
                // Loom models force fairness from the first look.
                node.starving = cfg!(loom) && starving(t);
                node.starving
            }
        }
    }

    /// Whether the head waiter is waiting and has not been woken yet.
    #[inline]
    pub(crate) fn head_is_waiting(&self) -> bool {
        self.head()
            .is_some_and(|h| self.nodes[h].state == NodeState::Waiting)
    }

    /// Appends a waiter carrying `payload` and returns its key.
    pub(crate) fn push(&mut self, payload: P, waker: &Waker) -> usize {
        self.insert(payload, waker, false)
    }

    /// Puts a waiter first in line (an upgrade that already excludes everyone behind it).
    pub(crate) fn push_front(&mut self, payload: P, waker: &Waker) -> usize {
        self.insert(payload, waker, true)
    }

    fn insert(&mut self, payload: P, waker: &Waker, front: bool) -> usize {
        let thread = thread_tag();
        let (prev, next) = if front {
            (NIL, self.head)
        } else {
            (self.tail, NIL)
        };
        let key = self.nodes.insert(Node {
            prev,
            next,
            linked: true,
            waker: Some(waker.clone()),
            thread,
            since: None,
            looks: 0,
            starving: false,
            payload,
            state: NodeState::Waiting,
        });
        if prev == NIL {
            self.head = key;
        } else {
            self.nodes[prev].next = key;
        }
        if next == NIL {
            self.tail = key;
        } else {
            self.nodes[next].prev = key;
        }
        self.len += 1;
        match self.threads.iter_mut().find(|(t, _)| *t == thread) {
            Some((_, n)) => *n += 1,
            None => self.threads.push((thread, 1)),
        }
        key
    }

    /// Takes a node out of the FIFO order; it stays in the slab for its owner to read (I5).
    pub(crate) fn unlink(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        if !node.linked {
            return;
        }
        node.linked = false;
        let (prev, next, thread) = (node.prev, node.next, node.thread);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        // I6: the counts follow the links.
        self.len -= 1;
        if let Some(i) = self.threads.iter().position(|&(t, _)| t == thread) {
            self.threads[i].1 -= 1;
            if self.threads[i].1 == 0 {
                self.threads.swap_remove(i);
            }
        }
    }

    /// Unlinks (if needed) and frees a node, returning it. Only the key's owner calls it
    /// (I5). The node still holds its waker unless it was taken: drop the node after the
    /// lock where that is easy, as a waker's drop may run foreign code.
    pub(crate) fn remove(&mut self, key: usize) -> Node<P> {
        self.unlink(key);
        self.nodes.remove(key)
    }

    /// Unlinks a waiting node, marks it `state` and collects its waker. What it was
    /// handed goes in its payload, written before this call.
    pub(crate) fn finish(&mut self, key: usize, state: NodeState, wakers: &mut Wakers) {
        self.unlink(key);
        self.mark(key, state, wakers);
    }

    /// Marks a node `state` and collects its waker, leaving it in the list (a released
    /// barrier party still counts until it leaves).
    pub(crate) fn mark(&mut self, key: usize, state: NodeState, wakers: &mut Wakers) {
        let node = &mut self.nodes[key];
        let was = node.state;
        node.state = state;
        // I2: a `Woken` node has a wake in flight already; it will poll and see the new
        // state, so its waker is not pushed a second time.
        if was != NodeState::Woken {
            if let Some(w) = node.waker.take() {
                wakers.push(w);
            }
        }
    }

    /// Stores the newest waker of a still-waiting node.
    #[inline]
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        let node = &mut self.nodes[key];
        match &node.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => node.waker = Some(waker.clone()),
        }
    }

    /// Finishes every linked node with `state`, in FIFO order; returns how many.
    pub(crate) fn finish_all(&mut self, state: NodeState, wakers: &mut Wakers) -> usize {
        let mut n = 0;
        while let Some(h) = self.head() {
            self.finish(h, state, wakers);
            n += 1;
        }
        n
    }
}

impl<P> std::ops::Index<usize> for WaitList<P> {
    type Output = Node<P>;
    #[inline]
    fn index(&self, key: usize) -> &Node<P> {
        &self.nodes[key]
    }
}

impl<P> std::ops::IndexMut<usize> for WaitList<P> {
    #[inline]
    fn index_mut(&mut self, key: usize) -> &mut Node<P> {
        &mut self.nodes[key]
    }
}

#[cfg(not(loom))]
fn starving(since: Instant) -> bool {
    now().saturating_duration_since(since) >= FAIR_TIMEOUT
}

#[cfg(loom)]
fn starving(_since: Instant) -> bool {
    ALWAYS_FAIR.with(Cell::get)
}

// A plain (not loom) thread-local: loom runs a whole model on the test's own thread, and
// tests run in parallel must not see each other's setting.
#[cfg(loom)]
std::thread_local! {
    static ALWAYS_FAIR: Cell<bool> = const { Cell::new(false) };
}

/// Loom models only: make every head waiter count as starving, to explore handoffs.
#[cfg(loom)]
#[doc(hidden)]
pub fn set_always_fair(on: bool) {
    ALWAYS_FAIR.with(|c| c.set(on))
}

/// Wakers collected under a lock, called after it is released.
pub(crate) type Wakers = WakeList;

/// Wakers collected under an internal lock, to be called once it is released (I4).
#[derive(Default)]
pub(crate) struct WakeList(SmallVec<[Waker; 4]>);

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        WakeList(SmallVec::new())
    }

    #[inline]
    pub(crate) fn push(&mut self, w: Waker) {
        self.0.push(w)
    }

    /// Calls every waker.
    ///
    /// # Contract (I4)
    ///
    /// 1. the lock the wakers were collected under has been released;
    /// 2. the caller holds no other internal lock of this crate either.
    ///
    /// Each call site answers both clauses in a comment.
    #[inline]
    pub(crate) fn wake_all(self) {
        for w in self.0 {
            w.wake();
        }
    }
}
