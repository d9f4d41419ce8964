//! What a condition wait needs of a lock: release every level, take them all back.

use super::{Holder, RawDualLock, RawLock, RawReentrantLock, Reentry};
use crate::kernel::semaphore::Acquire;
use crate::task::NotOwnerError;
use std::fmt;
use std::task::{Context, Poll};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::RawLock {}
    impl Sealed for super::RawReentrantLock {}
    impl Sealed for super::RawDualLock {}
}

/// A lock that [`Condition::wait_raw`](crate::Condition::wait_raw) can release completely
/// while it waits and take back afterwards: [`RawLock`] (one level, held by anyone),
/// [`RawReentrantLock`] (every level of its owner) and [`RawDualLock`] (every level of
/// a thread's hold; a task's hold, whoever took it).
///
/// The protocol is the core's, not the lock user's: the waiter is queued before the lock
/// is released (no notification is missed), the lock is taken back even when the wait is
/// cancelled, and a notification a cancelled waiter received goes to the next one.
pub trait Relock: Sync + sealed::Sealed {
    /// Whether `holder` may wait: it holds the lock (for a [`RawLock`], which has no
    /// owner: whether it is locked at all, as Python's conditions check).
    fn is_held_by(&self, holder: &Holder) -> bool;

    #[doc(hidden)]
    fn release_all(&self, holder: &Holder) -> Result<usize, NotOwnerError>;

    #[doc(hidden)]
    fn poll_relock(
        &self,
        holder: &Holder,
        levels: usize,
        state: &mut RelockState,
        cx: &mut Context<'_>,
    ) -> Poll<()>;

    #[doc(hidden)]
    fn cancel_relock(&self, state: &mut RelockState);

    #[doc(hidden)]
    fn relock_blocking(&self, holder: &Holder, levels: usize);
}

/// The state of a relock in progress (opaque).
pub struct RelockState(pub(crate) Acquire);

impl RelockState {
    pub(crate) fn new() -> RelockState {
        RelockState(Acquire::new(1))
    }
}

impl fmt::Debug for RelockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelockState").finish_non_exhaustive()
    }
}

impl Relock for RawLock {
    fn is_held_by(&self, _holder: &Holder) -> bool {
        self.is_locked()
    }

    fn release_all(&self, _holder: &Holder) -> Result<usize, NotOwnerError> {
        self.unlock().map(|()| 1)
    }

    fn poll_relock(
        &self,
        holder: &Holder,
        _levels: usize,
        state: &mut RelockState,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.poll_lock(holder, &mut state.0, cx)
    }

    fn cancel_relock(&self, state: &mut RelockState) {
        self.cancel(&mut state.0);
    }

    fn relock_blocking(&self, holder: &Holder, _levels: usize) {
        // No loop named: the relock never refuses, it waits as threading's does.
        let got = self.lock_blocking(holder, None, false);
        debug_assert_eq!(got, Ok(true));
    }
}

impl Relock for RawReentrantLock {
    fn is_held_by(&self, holder: &Holder) -> bool {
        self.is_owned_by(holder.owner())
    }

    fn release_all(&self, holder: &Holder) -> Result<usize, NotOwnerError> {
        RawReentrantLock::release_all(self, holder.owner())
    }

    fn poll_relock(
        &self,
        holder: &Holder,
        levels: usize,
        state: &mut RelockState,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.poll_lock(holder, Reentry::Allow, levels, &mut state.0, cx)
            .map(|r| r.expect("re-entry is allowed"))
    }

    fn cancel_relock(&self, state: &mut RelockState) {
        self.cancel(&mut state.0);
    }

    fn relock_blocking(&self, holder: &Holder, levels: usize) {
        RawReentrantLock::relock_blocking(self, holder, levels);
    }
}

impl Relock for RawDualLock {
    fn is_held_by(&self, holder: &Holder) -> bool {
        RawDualLock::is_held_by(self, holder)
    }

    fn release_all(&self, holder: &Holder) -> Result<usize, NotOwnerError> {
        RawDualLock::release_all(self, holder)
    }

    fn poll_relock(
        &self,
        holder: &Holder,
        levels: usize,
        state: &mut RelockState,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let levels = if holder.is_task() { 1 } else { levels };
        self.poll_lock(holder, levels, true, &mut state.0, cx)
            .map(|r| r.expect("a relock never refuses"))
    }

    fn cancel_relock(&self, state: &mut RelockState) {
        self.cancel(&mut state.0);
    }

    fn relock_blocking(&self, holder: &Holder, levels: usize) {
        RawDualLock::relock_blocking(self, holder, levels);
    }
}
