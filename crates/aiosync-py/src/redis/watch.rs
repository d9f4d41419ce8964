//! A hold's lease watched without a Python task: the watch's future is polled by its own
//! wakes (on whichever thread wakes it: the releaser's, the heartbeat's, the watchdog's),
//! and only a lost lease runs Python, scheduling a callback on the holder's loop. A
//! release ends the watch with no Python at all, which is what makes `async with` cheap
//! (with a task per hold it cost clearly more than `with`; see the README's benchmark).

use aiosync_redis as core;
use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

type Ended = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The watch's future, the holder's loop and the callback for it.
type Watching = (Ended, Py<PyAny>, Py<PyAny>);

/// The watch of one hold, and what to call on its loop if the lease is lost.
struct OnLoss {
    slot: Mutex<Option<Watching>>,
    /// A wake came: poll again (set before taking `slot`, so a wake that finds `slot`
    /// taken is seen by the thread that holds it).
    again: AtomicBool,
}

impl OnLoss {
    fn run(self: &Arc<Self>) {
        self.again.store(true, Ordering::SeqCst);
        while self.again.load(Ordering::SeqCst) {
            // Taken: its holder (this thread, re-entered from the poll, or another)
            // polls again after it lets go.
            let Some(mut slot) = self.slot.try_lock() else {
                return;
            };
            self.again.store(false, Ordering::SeqCst);
            let Some((fut, _, _)) = slot.as_mut() else {
                return;
            };
            let waker = Waker::from(self.clone());
            let lost = match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Pending => continue,
                Poll::Ready(lost) => lost,
            };
            let (_, event_loop, callback) = slot.take().expect("matched above");
            drop(slot);
            if lost {
                Python::attach(|py| {
                    let r = event_loop
                        .bind(py)
                        .call_method1(intern!(py, "call_soon_threadsafe"), (callback,));
                    // A closed loop has no task left to cancel.
                    if let Err(e) = r {
                        if !e.is_instance_of::<PyRuntimeError>(py) {
                            e.write_unraisable(py, None);
                        }
                    }
                });
            }
            return;
        }
    }
}

impl Wake for OnLoss {
    fn wake(self: Arc<Self>) {
        self.run()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.run()
    }
}

/// Calls `callback` on `event_loop` (`call_soon_threadsafe`) once `watch` reports the
/// lease lost; drops it, uncalled, once the hold is released in time.
pub(super) fn on_loss(watch: core::LeaseWatch, event_loop: Py<PyAny>, callback: Py<PyAny>) {
    let fut: Ended = Box::pin(async move { watch.ended().await });
    let w = Arc::new(OnLoss {
        slot: Mutex::new(Some((fut, event_loop, callback))),
        again: AtomicBool::new(false),
    });
    w.run();
}
