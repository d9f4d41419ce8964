//! Driving a future on the calling thread: the blocking front-end of every primitive.

use crate::sync::{current_thread, now, park, park_timeout, thread_local, Instant, Thread};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    // One waker per thread, made once: a blocking wait allocates nothing.
    static WAKER: Waker = Waker::from(Arc::new(Unparker(current_thread())));
}

/// Polls `fut` on this thread, parking between polls, until it is ready or `deadline`
/// passes. On timeout the future is dropped, so its cancel path runs (nothing it was
/// handed is lost).
pub(crate) fn block_on<F: Future>(fut: F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut fut = pin!(fut);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return Some(v);
            }
            match deadline {
                None => park(),
                Some(d) => {
                    let t = now();
                    if t >= d {
                        // One last look: it may have been handed over just now.
                        return match fut.as_mut().poll(&mut cx) {
                            Poll::Ready(v) => Some(v),
                            Poll::Pending => None,
                        };
                    }
                    park_timeout(d - t);
                }
            }
        }
    })
}

/// The deadline `d` from now, or `None` (wait forever) if it is too far to represent.
pub(crate) fn deadline(d: std::time::Duration) -> Option<Instant> {
    now().checked_add(d)
}
