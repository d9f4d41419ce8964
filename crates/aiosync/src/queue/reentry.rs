//! Calls into a queue from its own comparator (Q4): refused with a panic, never a
//! deadlock, and a comparator that panics leaves the queue as it was.
//!
//! A priority queue runs its comparator under its internal lock, which is not reentrant.
//! While it does, the queue records which thread compares (a small per-thread number in
//! an atomic); every operation that would take the lock reads it first and panics when it
//! is the calling thread's own. The record is written and cleared only by the thread
//! holding the lock, so a thread reading its own number back is inside the comparator:
//! no other thread can make it appear or vanish under it (a relaxed load suffices).

use crate::kernel::thread_tag;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a comparator panicked with, held while the queue puts itself right, then resumed.
pub(super) type Panic = Box<dyn Any + Send + 'static>;

/// The panic message of a call into a queue from its own comparator.
pub(super) const MESSAGE: &str = "aiosync::Queue: called from its own comparator";

/// Which thread runs the queue's comparator now, and what it gave back meanwhile.
pub(super) struct Reentry {
    /// The [`thread_tag`] of the thread running the comparator; 0 while none does.
    comparing: AtomicU64,
    /// Places handed to a waiting put that was dropped inside the comparator: its drop
    /// cannot take the lock to give them back, so the lock holder (the put or get that
    /// compares) returns them before it unlocks.
    places: AtomicUsize,
}

impl Reentry {
    pub(super) fn new() -> Reentry {
        Reentry {
            comparing: AtomicU64::new(0),
            places: AtomicUsize::new(0),
        }
    }

    /// Whether the calling thread is inside this queue's comparator. One relaxed load when
    /// nobody compares; the thread's own number is only looked up when somebody does.
    #[inline]
    pub(super) fn inside(&self) -> bool {
        let t = self.comparing.load(Ordering::Relaxed);
        t != 0 && t == thread_tag()
    }

    /// Panics if the calling thread is inside this queue's comparator: what every
    /// operation that takes the queue's lock does first.
    #[inline]
    pub(super) fn check(&self) {
        if self.inside() {
            reentered();
        }
    }

    /// Runs `f`, which calls the comparator, with the calling thread recorded as the one
    /// comparing, and catches its panic. The record is cleared when `f` returns or
    /// unwinds. Caller holds the queue's lock.
    #[inline]
    pub(super) fn compare<R>(&self, f: impl FnOnce() -> R) -> Result<R, Panic> {
        let _comparing = Comparing::enter(self);
        catch_unwind(AssertUnwindSafe(f))
    }

    /// `n` places that a put dropped inside the comparator gives back (see `places`).
    pub(super) fn give_back(&self, n: usize) {
        self.places.fetch_add(n, Ordering::Relaxed);
    }

    /// The places given back inside the comparator since the last call, for the lock
    /// holder to return. Only the comparing thread adds to them, before this call on the
    /// same thread, so a relaxed load sees them.
    #[inline]
    pub(super) fn take_given_back(&self) -> usize {
        if self.places.load(Ordering::Relaxed) == 0 {
            0
        } else {
            self.places.swap(0, Ordering::Relaxed)
        }
    }
}

/// Records the calling thread as the one comparing until dropped (also when the
/// comparator unwinds).
struct Comparing<'a>(&'a Reentry);

impl<'a> Comparing<'a> {
    #[inline]
    fn enter(r: &'a Reentry) -> Comparing<'a> {
        debug_assert_eq!(
            r.comparing.load(Ordering::Relaxed),
            0,
            "one comparator at a time"
        );
        r.comparing.store(thread_tag(), Ordering::Relaxed);
        Comparing(r)
    }
}

impl Drop for Comparing<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.comparing.store(0, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn reentered() -> ! {
    std::panic::panic_any(MESSAGE)
}
