//! A resettable event flag.

use crate::kernel::listener::{Listener, Waitable};
use crate::kernel::{block, NodeState, WaitList, Wakers};
use crate::sync::{lock, AtomicBool, Lock, Ordering};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A flag that tasks and threads can wait for, and that can be set and cleared again
/// (Python's `asyncio.Event` / `threading.Event`).
///
/// [`Event::set`] wakes every waiter waiting at that moment, even if [`Event::clear`]
/// follows at once.
///
/// # Examples
///
/// ```
/// use aiosync::Event;
/// use std::sync::Arc;
///
/// let ev = Arc::new(Event::new());
/// let t = {
///     let ev = ev.clone();
///     std::thread::spawn(move || ev.wait_blocking())
/// };
/// ev.set();
/// t.join().unwrap();
/// assert!(ev.is_set());
/// ev.clear();
/// assert!(!ev.is_set());
/// ```
pub struct Event {
    flag: AtomicBool,
    list: Lock<WaitList<()>>,
}

impl Event {
    /// Creates an event that is not set.
    ///
    /// ```
    /// assert!(!aiosync::Event::new().is_set());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            list: Lock::new(WaitList::new()),
        }
    }

    /// Creates an event that is not set.
    #[cfg(loom)]
    pub fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            list: Lock::new(WaitList::new()),
        }
    }

    /// Whether the event is set.
    ///
    /// ```
    /// let ev = aiosync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Sets the event and wakes every current waiter. Returns the number woken.
    ///
    /// ```
    /// let ev = aiosync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn set(&self) -> usize {
        if self.is_set() {
            return 0;
        }
        let mut wakers = Wakers::new();
        let n = {
            let mut list = lock(&self.list);
            // Flag and drain under one lock: a wait that begins after a `clear` that
            // followed this `set` must not be released by it.
            if self.flag.swap(true, Ordering::AcqRel) {
                return 0;
            }
            list.finish_all(NodeState::Granted, &mut wakers)
        };
        // I4: (1) the list guard ended with its block; (2) `set` holds no other lock.
        wakers.wake_all();
        n
    }

    /// How many waits are waiting for the event now (a snapshot, for display).
    ///
    /// ```
    /// assert_eq!(aiosync::Event::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        lock(&self.list).len()
    }

    /// Clears the event; later waits wait for the next [`Event::set`].
    ///
    /// ```
    /// let ev = aiosync::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Waits until the event is set.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only removes its waiter.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let ev = aiosync::Event::new();
    /// ev.set();
    /// ev.wait().await;
    /// # });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            listener: Listener::new(self),
        }
    }

    /// Blocks the current thread until the event is set.
    ///
    /// ```
    /// let ev = aiosync::Event::new();
    /// ev.set();
    /// ev.wait_blocking(); // set already: returns at once
    /// ```
    pub fn wait_blocking(&self) {
        if !self.is_set() {
            Listener::new(self).wait_blocking(|ev, _| ev.is_set(), None);
        }
    }

    /// Blocks the current thread until the event is set or `timeout` passes; returns
    /// whether it was set.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = aiosync::Event::new();
    /// assert!(!ev.wait_blocking_timeout(Duration::from_millis(1)));
    /// ev.set();
    /// assert!(ev.wait_blocking_timeout(Duration::from_millis(1)));
    /// ```
    pub fn wait_blocking_timeout(&self, timeout: Duration) -> bool {
        self.is_set()
            || Listener::new(self)
                .wait_blocking(|ev, _| ev.is_set(), block::deadline(timeout))
                .is_some()
    }
}

/// Waiters queue on the event's list alone; a waiter that leaves owes nothing (`set`
/// releases everyone, so no one else was skipped for it).
impl Waitable for Event {
    type Locked = WaitList<()>;
    type Payload = ();

    #[inline]
    fn wait_lock(&self) -> &Lock<WaitList<()>> {
        &self.list
    }

    #[inline]
    fn list(locked: &mut WaitList<()>) -> &mut WaitList<()> {
        locked
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let ev = aiosync::Event::new();
/// let wait: aiosync::EventWait<'_> = ev.wait();
/// ev.set();
/// wait.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct EventWait<'a> {
    listener: Listener<&'a Event>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // Lock-free first look; the listener checks again under the lock `set` takes.
        if !this.listener.is_queued() && this.listener.host().is_set() {
            return Poll::Ready(());
        }
        this.listener.poll(cx, |ev, _| ev.is_set()).map(drop)
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}
