//! A waker that wakes an asyncio task: it resolves the future the task is waiting on,
//! on that future's own event loop.

use aiosync::OwnerId;
use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::sync::Arc;
use std::task::Wake;

/// Wakes an asyncio task: resolves its current future on the loop's thread.
///
/// The future is made only once a poll returned Pending; a wake that comes before it is
/// stored is remembered and applied when it is.
pub(crate) struct LoopWaker {
    event_loop: Py<PyAny>,
    /// The loop's thread (`OwnerId::current_thread` numbering): a wake from it may
    /// resolve directly instead of through `call_soon_threadsafe`.
    thread: u64,
    slot: Mutex<Slot>,
}

/// What a wake finds: the future to resolve, or a note that the wake came first.
#[derive(Default)]
struct Slot {
    future: Option<Py<PyAny>>,
    woken: bool,
}

/// `_resolve` as a Python callable, for `call_soon_threadsafe`.
fn resolve_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || {
        Ok::<_, PyErr>(wrap_pyfunction!(_resolve, py)?.into_any().unbind())
    })
    .map(|f| f.bind(py))
}

/// Sets a future's result unless it is done (cancelled) already.
#[pyfunction]
fn _resolve(fut: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = fut.py();
    if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
    }
    Ok(())
}

impl LoopWaker {
    /// A waker for a task of `event_loop`, which runs on the calling thread.
    pub(crate) fn new(event_loop: Py<PyAny>) -> Arc<LoopWaker> {
        Arc::new(LoopWaker {
            event_loop,
            thread: OwnerId::current_thread().as_u64(),
            slot: Mutex::new(Slot::default()),
        })
    }

    /// Hands over the future the task now waits on, unless a wake already came: then
    /// it is resolved at once, so the task runs again.
    pub(crate) fn arm(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        let woken = {
            let mut slot = self.slot.lock();
            if slot.woken {
                true
            } else {
                slot.future = Some(fut.clone().unbind());
                false
            }
        };
        if woken {
            // Woken between the poll and now; resolved outside the slot lock, which a
            // concurrent wake takes.
            self.resolve(py, fut);
        }
    }

    fn wake_now(&self) {
        let fut = {
            let mut slot = self.slot.lock();
            match slot.future.take() {
                Some(f) => f,
                None => {
                    slot.woken = true;
                    return;
                }
            }
        };
        Python::attach(|py| self.resolve(py, fut.bind(py)))
    }

    fn resolve(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        let r = if OwnerId::current_thread().as_u64() == self.thread {
            // On the loop's own thread (inside a task or callback): resolve directly.
            _resolve(fut)
        } else {
            resolve_fn(py).and_then(|f| {
                self.event_loop
                    .bind(py)
                    .call_method1(intern!(py, "call_soon_threadsafe"), (f, fut))
                    .map(drop)
            })
        };
        // A closed loop has no task left to wake.
        if let Err(e) = r {
            if !e.is_instance_of::<PyRuntimeError>(py) {
                e.write_unraisable(py, None);
            }
        }
    }
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_now()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_now()
    }
}
