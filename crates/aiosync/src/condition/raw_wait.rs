//! Condition waits over any [`Relock`] lock with explicit holders, and over
//! [`ReentrantMutex`]: the whole wait / release / re-acquire / cancel protocol.

use super::{Condition, Notified};
use crate::raw::{Holder, Relock, RelockState};
use crate::reentrant::{ReentrantMutex, ReentrantMutexGuard};
use crate::task::NotOwnerError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Why a [`RawWait`] ended without a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawWaitError {
    /// The holder did not hold the lock: nothing was released or waited for.
    NotHeld,
    /// [`RawWait::cancel`] was called; the lock has been taken back.
    Cancelled,
}

impl fmt::Display for RawWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RawWaitError::NotHeld => "cannot wait on un-acquired lock",
            RawWaitError::Cancelled => "the condition wait was cancelled",
        })
    }
}

impl std::error::Error for RawWaitError {}

enum Phase<'a> {
    Start,
    Listening(Notified<'a>, usize),
    Relocking(usize, RelockState),
    Done,
}

impl Condition {
    /// Releases every level `holder` holds of `lock`, waits for a notification, then
    /// takes them all back: the condition protocol for bindings and raw-layer users.
    ///
    /// # Cancel safety
    ///
    /// Two ways to stop it. [`RawWait::cancel`] (what an asyncio cancellation does): the
    /// waiter is withdrawn, the lock is taken back, then the future ends with
    /// [`RawWaitError::Cancelled`]; a notification it had received goes to the next
    /// waiter. Dropping the future withdraws it too (passing a notification on) but does
    /// not take the lock back.
    ///
    /// ```
    /// use aiosync::raw::{Holder, RawLock};
    /// use aiosync::Condition;
    /// # futures_lite::future::block_on(async {
    /// let (lock, cond) = (RawLock::new(), Condition::new());
    /// let me = Holder::thread();
    /// assert!(lock.try_lock(&me));
    /// let wait = cond.wait_raw(&lock, me);
    /// let notify = async {
    ///     lock.lock(me).await; // the waiter released it
    ///     cond.notify_one();
    ///     lock.unlock().unwrap();
    /// };
    /// let (r, ()) = futures_lite::future::zip(wait, notify).await;
    /// assert_eq!(r, Ok(()));
    /// assert!(lock.is_locked()); // taken back
    /// # });
    /// ```
    pub fn wait_raw<'a, L: Relock>(&'a self, lock: &'a L, holder: Holder) -> RawWait<'a, L> {
        RawWait {
            cond: self,
            lock,
            holder,
            phase: Phase::Start,
            notified: false,
            cancelled: false,
        }
    }

    /// Starts a blocking wait: queues the waiter, then releases every level `holder`
    /// holds of `lock`. Wait on [`RawWaitBlocking::listener`] (it completes on a
    /// notification); dropping the returned value takes the lock back, so even an
    /// interrupted wait (Ctrl-C, a panic) leaves the lock held as before.
    ///
    /// # Errors
    /// [`NotOwnerError`] if `holder` does not hold the lock.
    ///
    /// ```
    /// use aiosync::raw::{Holder, RawReentrantLock, Reentry};
    /// use aiosync::Condition;
    /// use std::time::Duration;
    /// let (lock, cond) = (RawReentrantLock::new(), Condition::new());
    /// let me = Holder::thread();
    /// lock.try_lock(&me, Reentry::Allow).unwrap();
    /// lock.try_lock(&me, Reentry::Allow).unwrap();
    /// let w = cond.wait_raw_blocking(&lock, me).unwrap();
    /// assert!(!lock.is_locked()); // every level released while waiting
    /// assert!(!w.wait(Some(Duration::from_millis(1)))); // nobody notified
    /// assert_eq!(lock.levels_of(me.owner()), 2); // both levels back
    /// ```
    pub fn wait_raw_blocking<'a, L: Relock>(
        &'a self,
        lock: &'a L,
        holder: Holder,
    ) -> Result<RawWaitBlocking<'a, L>, NotOwnerError> {
        if !lock.is_held_by(&holder) {
            return Err(NotOwnerError);
        }
        // Queued before the release: a notification sent right after it is not missed.
        let listener = self.register();
        let levels = lock.release_all(&holder)?;
        Ok(RawWaitBlocking {
            listener,
            lock,
            holder,
            levels,
        })
    }

    /// Wakes up to `n` waiters, oldest first, if `holder` holds `lock` (the rule of
    /// Python's conditions: notify only with the lock held). Returns how many it woke.
    ///
    /// # Errors
    /// [`NotOwnerError`] if `holder` does not hold the lock; nobody is woken.
    ///
    /// ```
    /// use aiosync::raw::{Holder, RawLock};
    /// use aiosync::Condition;
    /// let (lock, cond) = (RawLock::new(), Condition::new());
    /// let me = Holder::thread();
    /// assert!(cond.notify_raw(&lock, &me, 1).is_err());
    /// assert!(lock.try_lock(&me));
    /// assert_eq!(cond.notify_raw(&lock, &me, 1), Ok(0));
    /// ```
    pub fn notify_raw<L: Relock>(
        &self,
        lock: &L,
        holder: &Holder,
        n: usize,
    ) -> Result<usize, NotOwnerError> {
        if !lock.is_held_by(holder) {
            return Err(NotOwnerError);
        }
        Ok(self.notify(n))
    }

    /// Releases the reentrant mutex (every level its owner holds, as Python's
    /// `threading.Condition` does with an `RLock`), waits for a notification, then takes
    /// every level back.
    ///
    /// `T: Sync` because other guards of the same owner stay alive while the lock is
    /// released, so another owner may share `&T` with them meanwhile.
    ///
    /// # Cancel safety
    ///
    /// As [`Condition::wait`]: dropping the future withdraws the waiter (passing on a
    /// notification it had received), and this guard's level is then not held. If the
    /// owner holds outer levels (other guards still alive), dropping the unfinished future
    /// blocks the thread until those levels are back, so the outer guards stay valid.
    ///
    /// ```
    /// use aiosync::{task, Condition, ReentrantMutex};
    /// # futures_lite::future::block_on(task::scope(async {
    /// let (m, c) = (ReentrantMutex::new(()), Condition::new());
    /// let g = m.lock().await.unwrap();
    /// let notify = async {
    ///     c.notify_one();
    /// };
    /// let (g, ()) = futures_lite::future::zip(c.wait_reentrant(g), notify).await;
    /// assert!(m.is_locked());
    /// # drop(g);
    /// # }));
    /// ```
    pub fn wait_reentrant<'a, T: ?Sized + Sync>(
        &'a self,
        guard: ReentrantMutexGuard<'a, T>,
    ) -> ReentrantWait<'a, T> {
        let mutex = ReentrantMutexGuard::source(&guard);
        let holder = mutex.raw.holder().expect("a guard's mutex has an owner");
        // The guard's level is now the wait's: it is taken back with the others.
        std::mem::forget(guard);
        ReentrantWait {
            mutex,
            wait: self.wait_raw(&mutex.raw, holder),
        }
    }

    /// Blocking form of [`Condition::wait_reentrant`], for at most `timeout` (`None`: no
    /// limit). Returns the guard (always held again) and whether a notification came.
    pub fn wait_reentrant_blocking<'a, T: ?Sized + Sync>(
        &'a self,
        guard: ReentrantMutexGuard<'a, T>,
        timeout: Option<Duration>,
    ) -> (ReentrantMutexGuard<'a, T>, bool) {
        let mutex = ReentrantMutexGuard::source(&guard);
        let holder = mutex.raw.holder().expect("a guard's mutex has an owner");
        std::mem::forget(guard);
        let wait = self
            .wait_raw_blocking(&mutex.raw, holder)
            .expect("a guard's owner holds the lock");
        let notified = wait.wait(timeout);
        (mutex.guard(), notified)
    }
}

/// The future returned by [`Condition::wait_raw`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RawWait<'a, L: Relock> {
    cond: &'a Condition,
    lock: &'a L,
    holder: Holder,
    phase: Phase<'a>,
    notified: bool,
    cancelled: bool,
}

impl<L: Relock> RawWait<'_, L> {
    /// Asks the wait to stop. Returns `true` if it must still be polled to completion (it
    /// takes the lock back, then ends with [`RawWaitError::Cancelled`]); `false` if it had
    /// not started (nothing was released; polled anyway, it ends with `Cancelled`) or has
    /// finished.
    pub fn cancel(&mut self) -> bool {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Listening(notified, levels) => {
                // Withdrawn: a notification it received meanwhile goes to the next waiter.
                drop(notified);
                self.phase = Phase::Relocking(levels, RelockState::new());
                self.cancelled = true;
                true
            }
            phase @ Phase::Relocking(..) => {
                self.phase = phase;
                self.cancelled = true;
                true
            }
            Phase::Start => {
                // Never started: nothing was released; a later poll says so.
                self.cancelled = true;
                false
            }
            Phase::Done => false,
        }
    }
}

impl<L: Relock> Future for RawWait<'_, L> {
    type Output = Result<(), RawWaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Start => {
                    if !this.lock.is_held_by(&this.holder) {
                        this.phase = Phase::Done;
                        return Poll::Ready(Err(RawWaitError::NotHeld));
                    }
                    // Queued before the release: no notification is missed.
                    let listener = this.cond.register();
                    match this.lock.release_all(&this.holder) {
                        Ok(levels) => this.phase = Phase::Listening(listener, levels),
                        Err(NotOwnerError) => {
                            this.phase = Phase::Done;
                            return Poll::Ready(Err(RawWaitError::NotHeld));
                        }
                    }
                }
                Phase::Listening(listener, levels) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.notified = true;
                    this.phase = Phase::Relocking(*levels, RelockState::new());
                }
                Phase::Relocking(levels, state) => {
                    if this
                        .lock
                        .poll_relock(&this.holder, *levels, state, cx)
                        .is_pending()
                    {
                        return Poll::Pending;
                    }
                    this.phase = Phase::Done;
                    if !this.cancelled {
                        return Poll::Ready(Ok(()));
                    }
                    if this.notified {
                        // Notified, then cancelled: the notification goes to the next one.
                        this.cond.notify(1);
                    }
                    return Poll::Ready(Err(RawWaitError::Cancelled));
                }
                Phase::Done if this.cancelled && !this.notified => {
                    return Poll::Ready(Err(RawWaitError::Cancelled));
                }
                Phase::Done => panic!("RawWait polled after completion"),
            }
        }
    }
}

impl<L: Relock> RawWait<'_, L> {
    /// How many levels the wait gave up (0 before it started or after it ended).
    fn levels(&self) -> usize {
        match &self.phase {
            Phase::Listening(_, levels) | Phase::Relocking(levels, _) => *levels,
            Phase::Start | Phase::Done => 0,
        }
    }

    /// Ends an unfinished wait at once, blocking the thread until all but `give_up` of
    /// the levels it released are held again (for a typed owner whose outer guards must
    /// stay valid while the guard the wait consumed is gone).
    fn finish_blocking(&mut self, give_up: usize) {
        let levels = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Listening(listener, levels) => {
                drop(listener); // passes on a notification received meanwhile
                levels
            }
            Phase::Relocking(levels, mut state) => {
                self.lock.cancel_relock(&mut state);
                if self.notified {
                    self.cond.notify(1);
                }
                levels
            }
            Phase::Start | Phase::Done => return,
        };
        if levels > give_up {
            self.lock.relock_blocking(&self.holder, levels - give_up);
        }
    }
}

impl<L: Relock> Drop for RawWait<'_, L> {
    fn drop(&mut self) {
        if let Phase::Relocking(_, state) = &mut self.phase {
            self.lock.cancel_relock(state);
            if self.notified {
                // Notified, then dropped before the lock was back: pass it on.
                self.cond.notify(1);
            }
        }
    }
}

impl<L: Relock> fmt::Debug for RawWait<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawWait").finish_non_exhaustive()
    }
}

/// A blocking condition wait in progress, from [`Condition::wait_raw_blocking`]: the
/// lock is released; dropping this takes it back.
#[must_use = "dropping it takes the lock back at once"]
pub struct RawWaitBlocking<'a, L: Relock> {
    listener: Notified<'a>,
    lock: &'a L,
    holder: Holder,
    levels: usize,
}

impl<'a, L: Relock> RawWaitBlocking<'a, L> {
    /// The waiter: a future that completes on a notification (for a caller that drives
    /// it itself, e.g. with signal checks between slices).
    pub fn listener(&mut self) -> &mut Notified<'a> {
        &mut self.listener
    }

    /// Blocks until notified or until `timeout` passes, then takes the lock back.
    /// Returns whether a notification came.
    pub fn wait(mut self, timeout: Option<Duration>) -> bool {
        crate::block_on(&mut self.listener, timeout).is_some()
    }
}

impl<L: Relock> Drop for RawWaitBlocking<'_, L> {
    fn drop(&mut self) {
        self.lock.relock_blocking(&self.holder, self.levels);
    }
}

impl<L: Relock> fmt::Debug for RawWaitBlocking<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawWaitBlocking").finish_non_exhaustive()
    }
}

/// The future returned by [`Condition::wait_reentrant`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReentrantWait<'a, T: ?Sized> {
    mutex: &'a ReentrantMutex<T>,
    wait: RawWait<'a, crate::raw::RawReentrantLock>,
}

impl<'a, T: ?Sized> Future for ReentrantWait<'a, T> {
    type Output = ReentrantMutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.wait).poll(cx) {
            Poll::Ready(r) => {
                r.expect("a guard's owner holds the lock and the wait is never cancelled");
                Poll::Ready(this.mutex.guard())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for ReentrantWait<'_, T> {
    fn drop(&mut self) {
        if self.wait.levels() > 1 {
            // Outer guards of the owner are alive and must stay valid: take their levels
            // back (this blocks the thread, see the method docs); the consumed guard's
            // level stays released.
            self.wait.finish_blocking(1);
        }
    }
}

impl<T: ?Sized> fmt::Debug for ReentrantWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReentrantWait").finish_non_exhaustive()
    }
}
