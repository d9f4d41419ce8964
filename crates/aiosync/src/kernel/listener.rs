//! Listen, re-check, wait: the one-shot wait of every primitive that hands out no permits.
//!
//! event-listener's shape, over a [`WaitList`]: a [`Listener`] queues a node, the condition
//! is checked again under the same lock the notifier takes (so a notification cannot slip
//! between the check and the queueing), and only then does the caller wait. The listener
//! withdraws its node in its own `Drop`, and a notification it received but never consumed
//! goes where the primitive says ([`Waitable::withdrawn`]): nobody has to remember to.

use super::{block, Node, NodeState, WaitList, Wakers, NIL};
use crate::sync::{lock, Instant, Lock, LockGuard};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::task::{Context, Poll, Waker};

/// A primitive whose waiters a [`Listener`] queues: where its wait list lives, under which
/// lock, and what a listener that leaves early owes the others.
///
/// The list may be the whole of what the lock guards (`Lock<WaitList<_>>` implements this
/// trait as it is) or one field of a larger state (a queue's joiners, a barrier's parties),
/// so the condition a listener re-checks can be read under the same lock.
pub(crate) trait Waitable {
    /// What the primitive's internal lock guards.
    type Locked;

    /// What each of its nodes carries: `()` for a plain one-shot wait (an event, a
    /// condition, a join), a party's role and index for a barrier.
    type Payload;

    /// The internal lock the wait list lives under.
    fn wait_lock(&self) -> &Lock<Self::Locked>;

    /// The wait list inside the locked state.
    fn list(locked: &mut Self::Locked) -> &mut WaitList<Self::Payload>;

    /// Runs with the lock held after a listener that is going away took its `node` out of
    /// the list without having consumed it (dropped, or timed out). Collect wakers into
    /// `wakers`; they are called once the lock is released. By default nothing is owed.
    fn withdrawn(locked: &mut Self::Locked, node: &Node<Self::Payload>, wakers: &mut Wakers) {
        let _ = (locked, node, wakers);
    }

    /// Whether the calling thread runs inside the primitive's own callback, under its
    /// lock (a queue's comparator): a listener dropped there is forgotten, not withdrawn
    /// (see [`Listener::withdraw`]). Only for a primitive whose listeners owe nothing
    /// when they leave. By default never.
    #[inline]
    fn reentered(&self) -> bool {
        false
    }
}

impl<T> Waitable for Lock<WaitList<T>> {
    type Locked = WaitList<T>;
    type Payload = T;

    #[inline]
    fn wait_lock(&self) -> &Lock<WaitList<T>> {
        self
    }

    #[inline]
    fn list(locked: &mut WaitList<T>) -> &mut WaitList<T> {
        locked
    }
}

/// A [`Waitable::withdrawn`] for primitives whose grants are notifications (a condition
/// variable): one that reached a listener which then left goes to the next waiter, so a
/// `notify(1)` is never lost to a cancelled wait.
pub(crate) fn pass_on<T>(list: &mut WaitList<T>, node: &Node<T>, wakers: &mut Wakers) {
    if node.state == NodeState::Granted {
        if let Some(head) = list.head() {
            list.finish(head, NodeState::Granted, wakers);
        }
    }
}

/// One waiter of a [`Waitable`] primitive: a node key in its wait list, reached through `P`
/// (`&'a X` for a borrowing future, `Arc<X>` for an owned one).
///
/// Not queued until the first [`poll`](Listener::poll) finds the condition false (or
/// [`listen`](Listener::listen) queues it eagerly); withdrawn when dropped.
pub(crate) struct Listener<P>
where
    P: Deref,
    P::Target: Waitable,
{
    host: P,
    /// Key of its node in the host's list; `NIL` while not queued.
    key: usize,
}

impl<P> Listener<P>
where
    P: Deref,
    P::Target: Waitable,
{
    /// A listener of `host`, not queued yet.
    #[inline]
    pub(crate) const fn new(host: P) -> Self {
        Listener { host, key: NIL }
    }

    /// The primitive listened to.
    #[inline]
    pub(crate) fn host(&self) -> &P::Target {
        &self.host
    }

    /// How it reaches the primitive: for `P = &'a X`, a copy keeps the full lifetime `'a`.
    #[inline]
    pub(crate) fn source(&self) -> &P {
        &self.host
    }

    /// Whether its node is in the list (so dropping it has work to do).
    #[inline]
    pub(crate) fn is_queued(&self) -> bool {
        self.key != NIL
    }

    /// Locks the host and gives access to its state and to this listener's node, for a
    /// primitive whose poll is more than "ready or not" (a barrier).
    #[inline]
    pub(crate) fn lock(&mut self) -> ListenerGuard<'_, P::Target> {
        ListenerGuard {
            locked: lock(self.host.wait_lock()),
            key: &mut self.key,
        }
    }
}

/// The plain one-shot wait: a node that carries nothing of its own (the payload's
/// default), finished by a notification or by the condition turning true.
impl<P> Listener<P>
where
    P: Deref,
    P::Target: Waitable,
    <P::Target as Waitable>::Payload: Default,
{
    /// Queues it now with a no-op waker, before the caller gives up a lock of its own (a
    /// condition wait queues before it unlocks the mutex, so no notify is missed); the
    /// first poll stores the real waker.
    pub(crate) fn listen(&mut self) {
        let mut guard = self.lock();
        if guard.key().is_none() {
            guard.listen(Default::default(), Waker::noop());
        }
    }

    /// Listen, re-check, wait. `ready` is the condition, read with the host locked: before
    /// the listener queues (true: `Ready(None)`, nothing was queued) and at every later
    /// poll. A queued listener is also ready once its node was finished (`Granted` or
    /// `Broken`); it then leaves the list and returns the node (`Ready(Some(node))`).
    #[inline]
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        ready: impl FnOnce(&P::Target, &mut <P::Target as Waitable>::Locked) -> bool,
    ) -> Poll<Option<Node<<P::Target as Waitable>::Payload>>> {
        let host: &P::Target = &self.host;
        let mut guard: ListenerGuard<'_, P::Target> = ListenerGuard {
            locked: lock(host.wait_lock()),
            key: &mut self.key,
        };
        // The guard is released before the caller gets the node, so its waker is dropped
        // (which may run foreign code) outside the lock (I4).
        guard.poll(cx, |locked| ready(host, locked))
    }

    /// Blocks the calling thread until [`poll`](Listener::poll) is ready, or until
    /// `deadline` (if any) passes: then the listener is withdrawn, as if dropped, and the
    /// result is `None`.
    pub(crate) fn wait_blocking(
        &mut self,
        mut ready: impl FnMut(&P::Target, &mut <P::Target as Waitable>::Locked) -> bool,
        deadline: Option<Instant>,
    ) -> Option<Option<Node<<P::Target as Waitable>::Payload>>> {
        let done = block::block_on(
            std::future::poll_fn(|cx| self.poll(cx, &mut ready)),
            deadline,
        );
        if done.is_none() {
            self.withdraw();
        }
        done
    }
}

impl<P> Listener<P>
where
    P: Deref,
    P::Target: Waitable,
{
    /// Takes its node out of the list, if queued, and lets the host pass on what it was
    /// owed ([`Waitable::withdrawn`]). What `Drop` does; also for a wait that gives up.
    ///
    /// Called inside the host's own callback ([`Waitable::reentered`]), whose caller
    /// holds the lock, it forgets the node instead of taking the lock again: the node
    /// stays in the list (its slot is not reused; a later release wakes its waker for
    /// nothing).
    pub(crate) fn withdraw(&mut self) {
        if self.key == NIL {
            return;
        }
        if self.host.reentered() {
            self.key = NIL;
            return;
        }
        let mut wakers = Wakers::new();
        let node = {
            let mut locked = lock(self.host.wait_lock());
            let node = <P::Target as Waitable>::list(&mut locked).remove(self.key);
            self.key = NIL;
            <P::Target as Waitable>::withdrawn(&mut locked, &node, &mut wakers);
            node
        };
        // The node's own waker is dropped outside the lock too: a drop may run foreign
        // code (need the GIL), as a wake may.
        drop(node);
        // I4: (1) the host's guard ended with its block; (2) a listener is dropped or
        // withdrawn by its owner's future, which holds no internal lock.
        wakers.wake_all();
    }
}

impl<P> Drop for Listener<P>
where
    P: Deref,
    P::Target: Waitable,
{
    #[inline]
    fn drop(&mut self) {
        if self.key != NIL {
            self.withdraw();
        }
    }
}

impl<P> fmt::Debug for Listener<P>
where
    P: Deref,
    P::Target: Waitable,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("queued", &self.is_queued())
            .finish_non_exhaustive()
    }
}

/// A [`Listener`] with its host locked: the host's state (through `Deref`) and the
/// listener's node, for primitives that write their own poll.
///
/// Nodes taken out with [`take`](ListenerGuard::take) still hold their waker: drop them
/// after the guard, so the waker is not dropped under the lock (I4).
pub(crate) struct ListenerGuard<'l, H: Waitable + ?Sized> {
    locked: LockGuard<'l, H::Locked>,
    key: &'l mut usize,
}

impl<H: Waitable + ?Sized> ListenerGuard<'_, H> {
    /// The host's wait list.
    #[inline]
    pub(crate) fn list(&mut self) -> &mut WaitList<H::Payload> {
        H::list(&mut self.locked)
    }

    /// The listener's node key, if it is queued.
    #[inline]
    pub(crate) fn key(&self) -> Option<usize> {
        (*self.key != NIL).then_some(*self.key)
    }

    /// Queues the listener at the back of the list, its node carrying `payload` (a
    /// barrier party's role).
    pub(crate) fn listen(&mut self, payload: H::Payload, waker: &Waker) {
        debug_assert!(self.key().is_none(), "a listener queues once");
        *self.key = self.list().push(payload, waker);
    }

    /// Takes the listener's node out of the list: it is no longer queued, and its `Drop`
    /// owes nothing. The caller reads what the node was told (`state`, `payload`).
    pub(crate) fn take(&mut self) -> Option<Node<H::Payload>> {
        let key = self.key()?;
        *self.key = NIL;
        Some(self.list().remove(key))
    }

    /// Stores the newest waker of the still-queued listener. A `Woken` node runs now, so
    /// its wake did its work: it waits again, and the next wake may push it (I2).
    pub(crate) fn wait_again(&mut self, waker: &Waker) {
        let Some(key) = self.key() else { return };
        let list = self.list();
        if list[key].state == NodeState::Woken {
            list[key].state = NodeState::Waiting;
        }
        list.set_waker(key, waker);
    }
}

impl<H: Waitable + ?Sized> ListenerGuard<'_, H>
where
    H::Payload: Default,
{
    /// [`Listener::poll`] with the host already locked.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        ready: impl FnOnce(&mut H::Locked) -> bool,
    ) -> Poll<Option<Node<H::Payload>>> {
        let Some(key) = self.key() else {
            // Re-checked under the lock the notifier takes: a notification either came
            // before (then `ready` sees it) or will find this node queued.
            if ready(&mut self.locked) {
                return Poll::Ready(None);
            }
            self.listen(H::Payload::default(), cx.waker());
            return Poll::Pending;
        };
        let finished = matches!(
            self.list()[key].state,
            NodeState::Granted | NodeState::Broken
        );
        if finished || ready(&mut self.locked) {
            return Poll::Ready(self.take());
        }
        self.wait_again(cx.waker());
        Poll::Pending
    }
}

impl<H: Waitable + ?Sized> Deref for ListenerGuard<'_, H> {
    type Target = H::Locked;

    #[inline]
    fn deref(&self) -> &H::Locked {
        &self.locked
    }
}

impl<H: Waitable + ?Sized> DerefMut for ListenerGuard<'_, H> {
    #[inline]
    fn deref_mut(&mut self) -> &mut H::Locked {
        &mut self.locked
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A host that passes an unconsumed grant on, as a condition variable does.
    struct Relay(Lock<WaitList<()>>);

    impl Waitable for Relay {
        type Locked = WaitList<()>;
        type Payload = ();
        fn wait_lock(&self) -> &Lock<WaitList<()>> {
            &self.0
        }
        fn list(list: &mut WaitList<()>) -> &mut WaitList<()> {
            list
        }
        fn withdrawn(list: &mut WaitList<()>, node: &Node<()>, wakers: &mut Wakers) {
            pass_on(list, node, wakers)
        }
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn ready_before_queueing_queues_nothing() {
        let host = Lock::new(WaitList::<()>::new());
        let mut l = Listener::new(&host);
        assert!(matches!(l.poll(&mut cx(), |_, _| true), Poll::Ready(None)));
        assert!(!l.is_queued());
        assert!(lock(&host).is_empty());
    }

    #[test]
    fn a_grant_completes_and_drop_withdraws() {
        let host = Lock::new(WaitList::<()>::new());
        let mut l = Listener::new(&host);
        assert!(l.poll(&mut cx(), |_, _| false).is_pending());
        assert_eq!(lock(&host).len(), 1);
        let mut wakers = Wakers::new();
        lock(&host).finish_all(NodeState::Granted, &mut wakers);
        match l.poll(&mut cx(), |_, _| false) {
            Poll::Ready(Some(node)) => assert_eq!(node.state, NodeState::Granted),
            _ => panic!("a granted listener is ready"),
        }
        let mut waiting = Listener::new(&host);
        assert!(waiting.poll(&mut cx(), |_, _| false).is_pending());
        drop(waiting);
        assert!(lock(&host).is_empty(), "dropping withdraws the node");
    }

    #[test]
    fn an_unconsumed_grant_is_passed_on() {
        let host = Relay(Lock::new(WaitList::new()));
        let (mut first, mut second) = (Listener::new(&host), Listener::new(&host));
        first.listen();
        second.listen();
        let mut wakers = Wakers::new();
        {
            let mut list = lock(&host.0);
            let head = list.head().unwrap();
            list.finish(head, NodeState::Granted, &mut wakers);
        }
        drop(first);
        assert!(matches!(
            second.poll(&mut cx(), |_, _| false),
            Poll::Ready(Some(_))
        ));
    }

    #[test]
    fn a_timed_out_blocking_wait_withdraws() {
        let host = Lock::new(WaitList::<()>::new());
        let mut l = Listener::new(&host);
        let deadline = block::deadline(std::time::Duration::from_millis(1));
        assert!(l.wait_blocking(|_, _| false, deadline).is_none());
        assert!(!l.is_queued());
        assert!(lock(&host).is_empty());
    }
}
