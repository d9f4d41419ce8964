//! Condition waits over a lock defined outside aiosync ([`ExternalLock`]): a language
//! binding's lock object (Python's `threading.Lock`), or another crate's lock.

use super::{Condition, Notified};
use std::fmt;
use std::time::Duration;

/// A lock defined outside aiosync that a [`Condition`] can release while it waits and
/// take back afterwards: what Python's `threading.Condition` asks of its lock
/// (`_is_owned`, `_release_save`, `_acquire_restore`).
///
/// An implementation says only how to tell ownership, release and re-acquire; the
/// protocol is the condition's ([`Condition::wait_external_blocking`]):
///
/// - nobody waits or notifies without holding the lock ([`ExternalLock::is_owned`]);
/// - the waiter is queued *before* the lock is released, so a notification sent between
///   the release and the wait is not missed;
/// - the lock is always taken back before the wait returns: after a notification, a
///   timeout, an error of the waiting step, or a panic;
/// - a notification that reaches a waiter as it gives up goes to the next waiter.
///
/// Waits over an external lock are blocking only: re-acquiring a lock the core knows
/// nothing of can only be done by blocking the thread, so there is no future form.
///
/// # Examples
///
/// A lock with no guard, `lock()` / `unlock()` as a binding's lock object has:
///
/// ```
/// use aiosync::{Condition, ExternalLock};
/// use std::convert::Infallible;
/// use std::sync::{Condvar, Mutex};
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct FlagLock {
///     locked: Mutex<bool>,
///     freed: Condvar,
/// }
///
/// impl FlagLock {
///     fn lock(&self) {
///         let mut locked = self.locked.lock().unwrap();
///         while *locked {
///             locked = self.freed.wait(locked).unwrap();
///         }
///         *locked = true;
///     }
///     fn unlock(&self) {
///         *self.locked.lock().unwrap() = false;
///         self.freed.notify_one();
///     }
/// }
///
/// impl ExternalLock for FlagLock {
///     type Saved = ();
///     type Error = Infallible;
///     // No owner: held by anyone means held (as `threading.Condition` probes a Lock).
///     fn is_owned(&self) -> Result<bool, Infallible> {
///         Ok(*self.locked.lock().unwrap())
///     }
///     fn release_save(&self) -> Result<(), Infallible> {
///         self.unlock();
///         Ok(())
///     }
///     fn acquire_restore(&self, (): ()) -> Result<(), Infallible> {
///         self.lock();
///         Ok(())
///     }
/// }
///
/// let (lock, cond) = (FlagLock::default(), Condition::new());
/// lock.lock();
/// let notified = cond.wait_external_blocking(&lock, Some(Duration::from_millis(1)));
/// assert_eq!(notified, Ok(false)); // nobody notified
/// assert_eq!(lock.is_owned(), Ok(true)); // held again all the same
/// ```
pub trait ExternalLock {
    /// What [`release_save`](ExternalLock::release_save) hands to
    /// [`acquire_restore`](ExternalLock::acquire_restore): for a reentrant lock, its owner
    /// and level count; `()` for a plain lock.
    type Saved;
    /// The lock's own error (a binding's exception).
    type Error;

    /// Whether the caller holds the lock, so may wait and notify. A lock with no notion
    /// of owner answers whether it is held at all.
    fn is_owned(&self) -> Result<bool, Self::Error>;

    /// Releases the lock completely (every level of a reentrant one). Called only after
    /// [`is_owned`](ExternalLock::is_owned) said yes; on an error the wait ends at once
    /// and the lock is assumed still held.
    fn release_save(&self) -> Result<Self::Saved, Self::Error>;

    /// Takes the lock back as it was before `release_save`, blocking until it can.
    fn acquire_restore(&self, saved: Self::Saved) -> Result<(), Self::Error>;
}

/// Why a condition wait or notify over an [`ExternalLock`] failed.
///
/// ```
/// use aiosync::ExternalLockError;
/// let e = ExternalLockError::Interrupted { error: "Ctrl-C", restore: None };
/// assert_eq!(e.to_string(), "the wait was interrupted: Ctrl-C");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExternalLockError<E> {
    /// The caller does not hold the lock: nothing was released, waited for or woken.
    NotHeld,
    /// The lock failed: in `is_owned` or `release_save` (nothing was waited for, the lock
    /// is as it was), or in `acquire_restore` (the wait is over; the lock is not held).
    Lock(E),
    /// The waiting step of [`Condition::wait_external_blocking_with`] failed with `error`.
    /// The lock was taken back, unless that failed too (`restore`).
    Interrupted {
        /// The waiting step's error.
        error: E,
        /// The error of taking the lock back afterwards, if that failed too.
        restore: Option<E>,
    },
}

impl<E: fmt::Display> fmt::Display for ExternalLockError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalLockError::NotHeld => f.write_str("the lock is not held by the caller"),
            ExternalLockError::Lock(e) => write!(f, "the lock failed: {e}"),
            ExternalLockError::Interrupted {
                error,
                restore: None,
            } => {
                write!(f, "the wait was interrupted: {error}")
            }
            ExternalLockError::Interrupted {
                error,
                restore: Some(r),
            } => write!(
                f,
                "the wait was interrupted ({error}), then taking the lock back failed: {r}"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ExternalLockError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExternalLockError::NotHeld => None,
            ExternalLockError::Lock(e) | ExternalLockError::Interrupted { error: e, .. } => Some(e),
        }
    }
}

/// A wait in progress over an external lock: the lock is released, the waiter queued.
/// Dropping it (a panic in the waiting step) withdraws the waiter, then takes the lock
/// back, so the caller's lock is held again whatever happens.
struct ExternalWait<'a, L: ExternalLock + ?Sized> {
    listener: Option<Notified<'a>>,
    lock: &'a L,
    saved: Option<L::Saved>,
}

impl<L: ExternalLock + ?Sized> ExternalWait<'_, L> {
    /// Ends the wait: withdraws the waiter, then takes the lock back.
    fn finish(mut self) -> Result<(), L::Error> {
        // Withdrawn before the relock, which may block for long: a notification that came
        // as the waiter gave up goes to the next waiter now.
        self.listener = None;
        let saved = self.saved.take().expect("taken back only once");
        self.lock.acquire_restore(saved)
    }
}

impl<L: ExternalLock + ?Sized> Drop for ExternalWait<'_, L> {
    fn drop(&mut self) {
        self.listener = None;
        if let Some(saved) = self.saved.take() {
            // Unwinding from the waiting step: the lock comes back; an error here has
            // nowhere to go but the panic already on its way.
            let _ = self.lock.acquire_restore(saved);
        }
    }
}

impl Condition {
    /// Releases an [`ExternalLock`] the caller holds, waits for a notification (for at
    /// most `timeout`; `None`: no limit), then takes the lock back — also on a timeout.
    /// Returns whether a notification came.
    ///
    /// The waiter is queued before the lock is released, so a notification sent by a
    /// thread that takes the lock right after the release is not missed.
    ///
    /// # Errors
    ///
    /// [`ExternalLockError::NotHeld`] if the caller does not hold the lock;
    /// [`ExternalLockError::Lock`] with the lock's own error (see there for what state
    /// each failure leaves).
    ///
    /// ```
    /// # use aiosync::{Condition, ExternalLock};
    /// # use std::convert::Infallible;
    /// # use std::sync::{Condvar, Mutex};
    /// # #[derive(Default)]
    /// # struct FlagLock { locked: Mutex<bool>, freed: Condvar }
    /// # impl FlagLock {
    /// #     fn lock(&self) {
    /// #         let mut l = self.locked.lock().unwrap();
    /// #         while *l { l = self.freed.wait(l).unwrap(); }
    /// #         *l = true;
    /// #     }
    /// #     fn unlock(&self) { *self.locked.lock().unwrap() = false; self.freed.notify_one(); }
    /// # }
    /// # impl ExternalLock for FlagLock {
    /// #     type Saved = ();
    /// #     type Error = Infallible;
    /// #     fn is_owned(&self) -> Result<bool, Infallible> { Ok(*self.locked.lock().unwrap()) }
    /// #     fn release_save(&self) -> Result<(), Infallible> { self.unlock(); Ok(()) }
    /// #     fn acquire_restore(&self, (): ()) -> Result<(), Infallible> { self.lock(); Ok(()) }
    /// # }
    /// use aiosync::ExternalLockError;
    /// use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    ///
    /// let (lock, cond, ready) = (FlagLock::default(), Condition::new(), AtomicBool::new(false));
    /// assert_eq!(cond.wait_external_blocking(&lock, None), Err(ExternalLockError::NotHeld));
    /// std::thread::scope(|s| {
    ///     lock.lock();
    ///     s.spawn(|| {
    ///         lock.lock(); // free once the waiter waits
    ///         ready.store(true, Relaxed);
    ///         cond.notify_external(&lock, 1).unwrap();
    ///         lock.unlock();
    ///     });
    ///     while !ready.load(Relaxed) {
    ///         cond.wait_external_blocking(&lock, None).unwrap();
    ///     }
    ///     lock.unlock();
    /// });
    /// ```
    pub fn wait_external_blocking<L: ExternalLock + ?Sized>(
        &self,
        lock: &L,
        timeout: Option<Duration>,
    ) -> Result<bool, ExternalLockError<L::Error>> {
        self.wait_external_blocking_with(lock, |notified| {
            Ok(crate::block_on(notified, timeout).is_some())
        })
    }

    /// [`Condition::wait_external_blocking`] with the waiting step supplied by the caller:
    /// `wait` gets the queued waiter (a future that completes on a notification) once the
    /// lock is released, and says whether a notification came — for a binding that blocks
    /// with its interpreter lock released and checks for signals between slices. After
    /// `wait` returns (or panics) the waiter is withdrawn, passing on a notification it
    /// did not report, and the lock is taken back.
    ///
    /// # Errors
    ///
    /// As [`Condition::wait_external_blocking`], and [`ExternalLockError::Interrupted`]
    /// if `wait` fails (the lock is taken back first).
    ///
    /// ```
    /// # use aiosync::{Condition, ExternalLock};
    /// # use std::sync::{Condvar, Mutex};
    /// # #[derive(Default)]
    /// # struct FlagLock { locked: Mutex<bool>, freed: Condvar }
    /// # impl FlagLock {
    /// #     fn lock(&self) {
    /// #         let mut l = self.locked.lock().unwrap();
    /// #         while *l { l = self.freed.wait(l).unwrap(); }
    /// #         *l = true;
    /// #     }
    /// #     fn unlock(&self) { *self.locked.lock().unwrap() = false; self.freed.notify_one(); }
    /// # }
    /// # impl ExternalLock for FlagLock {
    /// #     type Saved = ();
    /// #     type Error = &'static str;
    /// #     fn is_owned(&self) -> Result<bool, &'static str> { Ok(*self.locked.lock().unwrap()) }
    /// #     fn release_save(&self) -> Result<(), &'static str> { self.unlock(); Ok(()) }
    /// #     fn acquire_restore(&self, (): ()) -> Result<(), &'static str> { self.lock(); Ok(()) }
    /// # }
    /// use aiosync::ExternalLockError;
    ///
    /// let (lock, cond) = (FlagLock::default(), Condition::new());
    /// lock.lock();
    /// // A waiting step interrupted (say, by Ctrl-C) ends the wait with the lock held.
    /// let r = cond.wait_external_blocking_with(&lock, |_notified| Err("interrupted"));
    /// assert_eq!(r, Err(ExternalLockError::Interrupted { error: "interrupted", restore: None }));
    /// assert_eq!(lock.is_owned(), Ok(true));
    /// assert_eq!(cond.waiters(), 0);
    /// ```
    pub fn wait_external_blocking_with<L, F>(
        &self,
        lock: &L,
        wait: F,
    ) -> Result<bool, ExternalLockError<L::Error>>
    where
        L: ExternalLock + ?Sized,
        F: FnOnce(&mut Notified<'_>) -> Result<bool, L::Error>,
    {
        if !lock.is_owned().map_err(ExternalLockError::Lock)? {
            return Err(ExternalLockError::NotHeld);
        }
        // Queued before the release: a notification sent right after it is not missed.
        let listener = self.register();
        let saved = match lock.release_save() {
            Ok(saved) => saved,
            // Withdrawn (a notification it got meanwhile goes on); the lock was not
            // released, so nothing is taken back.
            Err(e) => return Err(ExternalLockError::Lock(e)),
        };
        // From here on the lock is taken back whatever happens, a panic of `wait` too.
        let mut pending = ExternalWait {
            listener: Some(listener),
            lock,
            saved: Some(saved),
        };
        let waited = wait(pending.listener.as_mut().expect("queued above"));
        let restored = pending.finish();
        match (waited, restored) {
            (Ok(notified), Ok(())) => Ok(notified),
            (Ok(_), Err(e)) => Err(ExternalLockError::Lock(e)),
            (Err(error), restored) => Err(ExternalLockError::Interrupted {
                error,
                restore: restored.err(),
            }),
        }
    }

    /// Wakes up to `n` waiters, oldest first, if the caller holds `lock` (Python's rule:
    /// notify only with the lock held). Returns how many it woke.
    ///
    /// # Errors
    ///
    /// [`ExternalLockError::NotHeld`] if the caller does not hold the lock (nobody is
    /// woken); [`ExternalLockError::Lock`] if `is_owned` failed.
    ///
    /// ```
    /// use aiosync::{Condition, ExternalLock, ExternalLockError};
    /// use std::cell::Cell;
    ///
    /// /// A lock of one thread's code, for the example: held or not.
    /// struct Flag(Cell<bool>);
    /// impl ExternalLock for Flag {
    ///     type Saved = ();
    ///     type Error = ();
    ///     fn is_owned(&self) -> Result<bool, ()> { Ok(self.0.get()) }
    ///     fn release_save(&self) -> Result<(), ()> { Ok(self.0.set(false)) }
    ///     fn acquire_restore(&self, (): ()) -> Result<(), ()> { Ok(self.0.set(true)) }
    /// }
    ///
    /// let (lock, cond) = (Flag(Cell::new(false)), Condition::new());
    /// assert_eq!(cond.notify_external(&lock, 1), Err(ExternalLockError::NotHeld));
    /// lock.0.set(true);
    /// assert_eq!(cond.notify_external(&lock, 1), Ok(0)); // held; nobody waits
    /// ```
    pub fn notify_external<L: ExternalLock + ?Sized>(
        &self,
        lock: &L,
        n: usize,
    ) -> Result<usize, ExternalLockError<L::Error>> {
        if !lock.is_owned().map_err(ExternalLockError::Lock)? {
            return Err(ExternalLockError::NotHeld);
        }
        Ok(self.notify(n))
    }
}
