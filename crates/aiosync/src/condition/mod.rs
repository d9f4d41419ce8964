//! A condition variable that works with [`Mutex`] from tasks and threads, with the raw
//! layer's locks (`raw_wait`) and with locks defined outside aiosync (`external`).

use crate::kernel::listener::{pass_on, Listener, Waitable};
use crate::kernel::{block, Node, NodeState, WaitList, Wakers};
use crate::mutex::{Lock as LockFuture, Mutex, MutexGuard};
use crate::sync::{lock, Lock};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A condition variable: wait, with a [`Mutex`] released, until another task or thread
/// notifies (Python's `asyncio.Condition` / `threading.Condition`, C++'s
/// `condition_variable`).
///
/// Waiters are notified in FIFO order. A notification given to a waiter that is then
/// cancelled (its future dropped, or its blocking wait timed out) is passed to the next
/// waiter rather than lost. As with every condition variable, check the condition in a
/// loop (or use [`Condition::wait_for`]): another holder may change the state between the
/// notification and the moment the waiter gets the lock back.
///
/// Besides [`Mutex`], it works with the raw layer's locks ([`Condition::wait_raw`]) and,
/// for blocking waits, with a lock defined outside aiosync ([`ExternalLock`],
/// [`Condition::wait_external_blocking`]).
///
/// # Examples
///
/// ```
/// use aiosync::{Condition, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condition::new()));
/// let t = {
///     let pair = pair.clone();
///     std::thread::spawn(move || {
///         let (m, c) = &*pair;
///         *m.lock_blocking() = true;
///         c.notify_all();
///     })
/// };
/// let (m, c) = &*pair;
/// let ready = c.wait_for_blocking(m.lock_blocking(), |r| *r);
/// assert!(*ready);
/// # drop(ready);
/// t.join().unwrap();
/// ```
pub struct Condition {
    list: Lock<WaitList<()>>,
}

impl Condition {
    /// Creates a condition variable with no waiters.
    #[cfg(not(loom))]
    pub const fn new() -> Condition {
        Condition {
            list: Lock::new(WaitList::new()),
        }
    }

    /// Creates a condition variable with no waiters.
    #[cfg(loom)]
    pub fn new() -> Condition {
        Condition {
            list: Lock::new(WaitList::new()),
        }
    }

    /// Wakes up to `n` waiters, oldest first. Returns how many were woken.
    ///
    /// ```
    /// let c = aiosync::Condition::new();
    /// assert_eq!(c.notify(3), 0); // nobody waits: notifications are not stored
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        let mut wakers = Wakers::new();
        let mut woken = 0;
        {
            let mut list = lock(&self.list);
            while woken < n {
                let Some(h) = list.head() else { break };
                list.finish(h, NodeState::Granted, &mut wakers);
                woken += 1;
            }
        }
        wakers.wake_all();
        woken
    }

    /// Wakes the oldest waiter, if any. Returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        self.notify(1) == 1
    }

    /// Wakes every current waiter. Returns how many were woken.
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// How many waiters are waiting for a notification.
    pub fn waiters(&self) -> usize {
        lock(&self.list).len()
    }

    /// Releases the guard's lock, waits for a notification, then takes the lock again.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that nothing leaks: dropping the future withdraws the
    /// waiter (passing on a notification it had received) and the lock is then not held
    /// (the guard was given up when the wait began).
    ///
    /// ```
    /// use aiosync::{Condition, Mutex};
    /// # futures_lite::future::block_on(async {
    /// let (m, c) = (Mutex::new(0), Condition::new());
    /// let waiter = async {
    ///     let mut g = m.lock().await;
    ///     while *g == 0 {
    ///         g = c.wait(g).await;
    ///     }
    ///     *g
    /// };
    /// let notifier = async {
    ///     *m.lock().await = 7;
    ///     c.notify_one();
    /// };
    /// let (v, ()) = futures_lite::future::zip(waiter, notifier).await;
    /// assert_eq!(v, 7);
    /// # });
    /// ```
    pub fn wait<'a, T: ?Sized>(&'a self, guard: MutexGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait {
            state: WaitState::Start(self, guard),
        }
    }

    /// Waits until `condition` holds for the locked value, then returns the guard.
    ///
    /// # Cancel safety
    ///
    /// As [`Condition::wait`].
    pub async fn wait_for<'a, T: ?Sized, F>(
        &'a self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while !condition(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Blocking form of [`Condition::wait`].
    pub fn wait_blocking<'a, T: ?Sized>(&'a self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_blocking_timeout_inner(guard, None).0
    }

    /// Blocking form of [`Condition::wait`] giving up after `timeout`. Returns the guard
    /// (the lock is always taken again) and whether a notification arrived in time.
    ///
    /// ```
    /// use aiosync::{Condition, Mutex};
    /// use std::time::Duration;
    /// let (m, c) = (Mutex::new(()), Condition::new());
    /// let (_g, notified) = c.wait_blocking_timeout(m.lock_blocking(), Duration::from_millis(1));
    /// assert!(!notified);
    /// ```
    pub fn wait_blocking_timeout<'a, T: ?Sized>(
        &'a self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        self.wait_blocking_timeout_inner(guard, Some(timeout))
    }

    fn wait_blocking_timeout_inner<'a, T: ?Sized>(
        &'a self,
        guard: MutexGuard<'a, T>,
        timeout: Option<Duration>,
    ) -> (MutexGuard<'a, T>, bool) {
        let deadline = timeout.and_then(block::deadline);
        let mutex = MutexGuard::source(&guard);
        let notified = self.register();
        drop(guard);
        let ok = block::block_on(notified, deadline).is_some();
        (mutex.lock_blocking(), ok)
    }

    /// Blocking form of [`Condition::wait_for`].
    pub fn wait_for_blocking<'a, T: ?Sized, F>(
        &'a self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while !condition(&mut guard) {
            guard = self.wait_blocking(guard);
        }
        guard
    }

    /// Blocking form of [`Condition::wait_for`] giving up after `timeout`. Returns the guard
    /// and whether the condition held.
    pub fn wait_for_blocking_timeout<'a, T: ?Sized, F>(
        &'a self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, bool)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = block::deadline(timeout);
        loop {
            if condition(&mut guard) {
                return (guard, true);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(crate::sync::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return (guard, false);
            }
            guard = self
                .wait_blocking_timeout_inner(guard, deadline.map(|_| left))
                .0;
        }
    }

    /// Queues a waiter now and returns it: it completes on a later notification. For
    /// callers that manage the lock themselves (language bindings): register, unlock,
    /// then wait, and no notification is missed.
    ///
    /// ```
    /// let c = aiosync::Condition::new();
    /// let waiter = c.listen();
    /// assert_eq!(c.notify_one(), true);
    /// assert!(waiter.wait_blocking(None));
    /// ```
    pub fn listen(&self) -> Notified<'_> {
        self.register()
    }

    /// Queues a waiter now (before the caller unlocks), so no notification is missed.
    fn register(&self) -> Notified<'_> {
        let mut listener = Listener::new(self);
        listener.listen();
        Notified { listener }
    }
}

/// A waiter that leaves with a notification it never consumed passes it on.
impl Waitable for Condition {
    type Locked = WaitList<()>;
    type Payload = ();

    fn wait_lock(&self) -> &Lock<WaitList<()>> {
        &self.list
    }

    fn list(list: &mut WaitList<()>) -> &mut WaitList<()> {
        list
    }

    fn withdrawn(list: &mut WaitList<()>, node: &Node<()>, wakers: &mut Wakers) {
        pass_on(list, node, wakers)
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// A waiter queued on a [`Condition`] by [`Condition::listen`]; as a future, it completes
/// when notified.
///
/// # Cancel safety
///
/// Dropping it withdraws the waiter; a notification it had received goes to the next one.
#[must_use = "a listener does nothing unless awaited or waited on"]
pub struct Notified<'a> {
    listener: Listener<&'a Condition>,
}

impl Notified<'_> {
    /// Blocks the current thread until notified, or until `timeout` (if any) passes;
    /// returns whether it was notified.
    pub fn wait_blocking(mut self, timeout: Option<Duration>) -> bool {
        self.listener
            .wait_blocking(|_, _| false, timeout.and_then(block::deadline))
            .is_some()
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified").finish_non_exhaustive()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Only a notification wakes it: there is no condition to re-check.
        self.get_mut().listener.poll(cx, |_, _| false).map(drop)
    }
}

enum WaitState<'a, T: ?Sized> {
    Start(&'a Condition, MutexGuard<'a, T>),
    Notified(Notified<'a>, &'a Mutex<T>),
    /// Notified; taking the lock back (the condition, to pass the notification on if
    /// the future is dropped first).
    Relock(LockFuture<'a, T>, &'a Condition),
    Done,
}

/// The future returned by [`Condition::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ConditionWait<'a, T: ?Sized> {
    state: WaitState<'a, T>,
}

impl<T: ?Sized> Unpin for ConditionWait<'_, T> {}

impl<'a, T: ?Sized> Future for ConditionWait<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, WaitState::Done) {
                WaitState::Start(cond, guard) => {
                    let mutex = MutexGuard::source(&guard);
                    let notified = cond.register();
                    drop(guard);
                    this.state = WaitState::Notified(notified, mutex);
                }
                WaitState::Notified(mut notified, mutex) => {
                    if Pin::new(&mut notified).poll(cx).is_pending() {
                        this.state = WaitState::Notified(notified, mutex);
                        return Poll::Pending;
                    }
                    let cond: &'a Condition = notified.listener.source();
                    this.state = WaitState::Relock(mutex.lock(), cond);
                }
                WaitState::Relock(mut fut, cond) => {
                    if let Poll::Ready(g) = Pin::new(&mut fut).poll(cx) {
                        return Poll::Ready(g);
                    }
                    this.state = WaitState::Relock(fut, cond);
                    return Poll::Pending;
                }
                WaitState::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl<T: ?Sized> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        if let WaitState::Relock(_, cond) = self.state {
            // Notified, then dropped before the lock was back: the notification goes on.
            cond.notify(1);
        }
    }
}

impl<T: ?Sized> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait").finish_non_exhaustive()
    }
}

mod external;
mod raw_wait;
pub use external::{ExternalLock, ExternalLockError};
pub use raw_wait::{RawWait, RawWaitBlocking, RawWaitError, ReentrantWait};
