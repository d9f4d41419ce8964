//! Scoped forwarding: a future that may borrow from the caller's stack, run by someone
//! else (a runtime thread), while the caller blocks until that future has been dropped.
//!
//! It is `std::thread::scope`'s promise made for one future: the executor wants
//! `'static`, the future borrows, and the borrow stays valid because the caller cannot
//! return, or unwind, before the executor has let go of the future.
//!
//! # Protocol
//!
//! 1. The caller boxes an erased wrapper around the future that writes the outcome into a
//!    slot on the caller's stack, and extends its lifetime to `'static` (the one `unsafe`
//!    step, justified at the line).
//! 2. The executor gets a [`Forwarded`]: the box, then a [`SetOnDrop`] of a shared
//!    [`Event`]. Fields drop in declaration order, even while unwinding, so the box (and
//!    with it every borrow) is gone before the event is set, however the executor ends
//!    it: completion, cancellation, or a spawn refused by a closed runtime.
//! 3. The caller waits for the event in a guard whose `Drop` also waits, so neither a
//!    return nor an unwind leaves the frame while the executor may still touch it.
//! 4. The event is shared through an `Arc`, not borrowed: `Event::set` may still be
//!    running when the caller wakes and frees its frame.

use crate::sync::{lock, Lock};
use crate::Event;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::Result as ThreadResult;

/// The erased future an executor runs for a scoped call. Drop it (or run it to the end)
/// and the blocked caller resumes.
#[must_use = "the caller stays blocked until a Forwarded is dropped"]
pub struct Forwarded {
    // Declared first: dropped before `_done` sets the event (protocol step 2).
    fut: Option<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>,
    _done: SetOnDrop,
}

impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarded")
            .field("finished", &self.fut.is_none())
            .finish()
    }
}

struct SetOnDrop(Arc<Event>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

impl Future for Forwarded {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(());
        };
        match fut.as_mut().poll(cx) {
            Poll::Ready(()) => {
                // Let go of the borrows now rather than when the executor drops us.
                self.fut = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Waits for the event when dropped: the caller's frame outlives the forwarded future on
/// every exit path, unwinding included (protocol step 3).
struct WaitOnDrop<'a>(&'a Event);

impl Drop for WaitOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wait_blocking();
    }
}

/// Polls `fut` inside `catch_unwind`, so a panic of the body becomes a value the caller
/// can resume with its payload.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = ThreadResult<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Hands `fut` to `spawn` as a `'static` [`Forwarded`] and blocks until the executor has
/// dropped it. Returns the outcome (`Err` holding a panic's payload), or `None` if the
/// executor dropped the future before it finished.
///
/// `spawn` must not block waiting for the forwarded future (it would wait for itself);
/// handing it to another thread, or dropping it, is what it is for.
pub fn forward_scoped<F, S>(fut: F, spawn: S) -> Option<ThreadResult<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
    S: FnOnce(Forwarded),
{
    let slot: Lock<Option<ThreadResult<F::Output>>> = Lock::new(None);
    let done = Arc::new(Event::new());
    {
        let slot = &slot;
        let body = async move {
            let out = CatchUnwind(Box::pin(fut)).await;
            *lock(slot) = Some(out);
        };
        let body: Pin<Box<dyn Future<Output = ()> + Send + '_>> = Box::pin(body);
        // SAFETY: only the lifetime changes (`'_` to `'static`); the layout of the fat
        // pointer is the same. The borrows it holds (`slot` and whatever `fut` borrows)
        // must stay valid while the box lives, and they do:
        //   * the box lives only inside the `Forwarded` made below, which drops it
        //     before setting `done`, on completion, on cancellation and while
        //     unwinding (field order; protocol step 2);
        //   * this frame does not return or unwind before `done` is set: `wait` waits
        //     for it on the normal path and in its `Drop` on any unwind out of `spawn`
        //     (protocol step 3), and `Event::wait_blocking` itself does not panic;
        //   * `spawn` receives it by value and can neither keep a borrow of it nor
        //     return anything that does (it returns `()`).
        let body: Pin<Box<dyn Future<Output = ()> + Send + 'static>> =
            unsafe { std::mem::transmute(body) };
        let wait = WaitOnDrop(&done);
        spawn(Forwarded {
            fut: Some(body),
            _done: SetOnDrop(done.clone()),
        });
        drop(wait);
    }
    slot.into_inner_value()
}

/// `into_inner` under both the std and the loom lock.
trait IntoInnerValue<T> {
    fn into_inner_value(self) -> T;
}

#[cfg(not(loom))]
impl<T> IntoInnerValue<T> for Lock<T> {
    fn into_inner_value(self) -> T {
        self.into_inner()
    }
}

#[cfg(loom)]
impl<T> IntoInnerValue<T> for Lock<T> {
    fn into_inner_value(self) -> T {
        self.into_inner().unwrap()
    }
}
