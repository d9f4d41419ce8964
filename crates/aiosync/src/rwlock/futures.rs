//! The futures of `RwLock`: plain and `Arc` acquires, and the upgrade.

use super::{
    RwLock, RwLockReadGuard, RwLockReadGuardArc, RwLockUpgradableReadGuard, RwLockWriteGuard,
    RwLockWriteGuardArc, UPGRADABLE,
};
use crate::kernel::semaphore::PendingAcquire;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

macro_rules! lock_future {
    ($(#[$doc:meta])* $name:ident, $guard:ident) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless you `.await` or poll them"]
        pub struct $name<'a, T: ?Sized> {
            /// Withdrawn when dropped: what was handed to it goes to the next waiters.
            pub(super) pending: PendingAcquire<&'a RwLock<T>>,
        }

        impl<'a, T: ?Sized> Future for $name<'a, T> {
            type Output = $guard<'a, T>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                match this.pending.poll_open(cx) {
                    Poll::Ready(()) => Poll::Ready($guard::new(this.pending.owner())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        impl<T: ?Sized> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

lock_future!(
    /// The future returned by [`RwLock::read`].
    Read,
    RwLockReadGuard
);
lock_future!(
    /// The future returned by [`RwLock::write`].
    Write,
    RwLockWriteGuard
);
lock_future!(
    /// The future returned by [`RwLock::upgradable_read`].
    UpgradableRead,
    RwLockUpgradableReadGuard
);

macro_rules! arc_future {
    ($(#[$doc:meta])* $name:ident, $guard:ident) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless you `.await` or poll them"]
        pub struct $name<T: ?Sized> {
            /// Withdrawn when dropped; its `Arc` moves into the guard.
            pub(super) pending: PendingAcquire<Arc<RwLock<T>>>,
        }

        impl<T: ?Sized> Unpin for $name<T> {}

        impl<T: ?Sized> Future for $name<T> {
            type Output = $guard<T>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                match this.pending.poll_open(cx) {
                    Poll::Ready(()) => Poll::Ready($guard(this.pending.take_owner())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        impl<T: ?Sized> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

arc_future!(
    /// The future returned by [`RwLock::read_arc`].
    ReadArc,
    RwLockReadGuardArc
);
arc_future!(
    /// The future returned by [`RwLock::write_arc`].
    WriteArc,
    RwLockWriteGuardArc
);

/// The future returned by [`RwLockUpgradableReadGuard::upgrade`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Upgrade<'a, T: ?Sized> {
    pub(super) pending: PendingAcquire<&'a RwLock<T>>,
    pub(super) done: bool,
}

impl<'a, T: ?Sized> Future for Upgrade<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.pending.poll_open(cx) {
            Poll::Ready(()) => {
                this.done = true;
                Poll::Ready(RwLockWriteGuard::new(this.pending.owner()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for Upgrade<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            // Withdrawn first (what it gathered goes back), then the upgradable read lock
            // that moved into this future is given back too.
            self.pending.cancel();
            self.pending.owner().sem.release(UPGRADABLE);
        }
    }
}

impl<T: ?Sized> fmt::Debug for Upgrade<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade").finish_non_exhaustive()
    }
}
