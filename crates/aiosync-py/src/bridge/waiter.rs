//! The asyncio form of every wait: an awaitable that drives a core future, yielding an
//! asyncio future each time it must wait.

use super::owned::PyPoll;
use super::ready::throw_arg;
use super::waker::LoopWaker;
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyRuntimeWarning, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use std::task::{Context, Poll, Waker};

struct WaiterState {
    /// The operation; `None` once it completed or was dropped.
    inner: Option<Box<dyn PyPoll>>,
    /// The exception of the first `throw` whose `cancel()` asked to finish the operation
    /// first; raised when it completes. `Some` only while `inner` is.
    thrown: Option<PyErr>,
    /// Whether it was stepped, thrown into or closed: a waiter dropped untouched was never
    /// awaited.
    touched: bool,
    /// Whether a step yielded an asyncio future (the operation had to wait).
    waited: bool,
    /// A settling waiter's result, held back for one loop iteration after an operation
    /// that completed without waiting; `inner` is kept meanwhile, to be undone if the
    /// result is never delivered. `Some` only while `inner` is.
    settled: Option<Py<PyAny>>,
}

/// An awaitable that drives a core future from asyncio: each time the future is not
/// ready, it yields a fresh asyncio future that the core's waker resolves.
///
/// # Cancellation
///
/// `close()` and being dropped always drop the core future, whose cancel path passes on
/// anything it had been handed. `throw(typ, val, tb)` (how asyncio cancels a task) first
/// asks it through [`PyPoll::cancel`]:
/// - `false`: the future is dropped and the thrown exception raised at once;
/// - `true`: the operation must still finish (a Condition wait re-taking its lock). The
///   exception is remembered (the first one, if thrown again) and `throw` steps exactly
///   as `send` does, returning the next asyncio future to wait on. When the operation
///   completes, the remembered exception is raised instead of its result; if the
///   operation itself failed, its own error is raised, with the remembered exception as
///   its `__context__` (as Python does for an error raised in a `finally` block).
///
/// # Settling (aiorwlock's yield after acquire)
///
/// A settling waiter ([`settling_waiter`]) whose operation completes without having
/// waited (no asyncio future yielded) yields once more to the loop, a bare `yield` as
/// `asyncio.sleep(0)` makes, and delivers the result on the next step, so that a task
/// looping on an uncontended acquire lets the other tasks of its loop run. A `throw`
/// (cancellation), `close()` or drop during that yield undoes the completed operation
/// ([`PyPoll::undo`]: a lock taken is released) and, for `throw`, raises the exception.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Waiter")]
pub(crate) struct Waiter {
    event_loop: Py<PyAny>,
    state: Mutex<WaiterState>,
    /// The call that made it (`"Lock.acquire()"`), named in the `RuntimeWarning` given
    /// when it is dropped without being awaited; `None`: no warning (`__aenter__`, which
    /// `async with` always awaits).
    what: Option<&'static str>,
    /// Yield once to the loop after an operation that completed without waiting.
    settle: bool,
}

impl Waiter {
    pub(crate) fn new(
        event_loop: Bound<'_, PyAny>,
        what: Option<&'static str>,
        inner: Box<dyn PyPoll>,
        settle: bool,
    ) -> Waiter {
        Waiter {
            event_loop: event_loop.unbind(),
            state: Mutex::new(WaiterState {
                inner: Some(inner),
                thrown: None,
                touched: false,
                waited: false,
                settled: None,
            }),
            what,
            settle,
        }
    }

    /// One step of the awaitable: a future to yield, or `None` when it finished with
    /// None (the caller ends the iteration; a value ends it through StopIteration).
    fn step(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut st = self.state.lock();
        st.touched = true;
        if let Some(v) = st.settled.take() {
            // The loop ran once since the operation completed: deliver its result.
            let inner = st.inner.take();
            drop(st);
            drop(inner);
            return finished(py, v);
        }
        let Some(inner) = st.inner.as_mut() else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited aiosync waiter",
            ));
        };
        // First without a waker of its own: most awaits finish at once. The core futures
        // re-check their state on every poll, so a wake that hits this no-op waker is
        // seen by the second poll below.
        let first = inner.poll(py, &mut Context::from_waker(Waker::noop()));
        let lw = LoopWaker::new(self.event_loop.clone_ref(py));
        let polled = match first {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => {
                let waker = Waker::from(lw.clone());
                inner.poll(py, &mut Context::from_waker(&waker))
            }
        };
        match polled {
            Poll::Ready(Ok(v)) if self.settle && !st.waited && st.thrown.is_none() => {
                // Completed without waiting: hold the result back for one loop iteration.
                st.settled = Some(v);
                Ok(Some(py.None()))
            }
            Poll::Ready(r) => {
                st.inner = None;
                let thrown = st.thrown.take();
                drop(st);
                if let Some(thrown) = thrown {
                    return Err(after_cancel(py, thrown, r));
                }
                finished(py, r?)
            }
            Poll::Pending => {
                st.waited = true;
                drop(st);
                let fut = self
                    .event_loop
                    .bind(py)
                    .call_method0(intern!(py, "create_future"))?;
                // What `Future.__await__` does before it yields: asyncio's Task checks it.
                fut.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
                lw.arm(py, &fut);
                Ok(Some(fut.unbind()))
            }
        }
    }

    /// Drops the operation (running its cancel path, or undoing it if it completed and
    /// its result was held back) and any remembered exception.
    fn drop_inner(&self) {
        let (mut inner, thrown, settled) = {
            let mut st = self.state.lock();
            st.touched = true;
            (st.inner.take(), st.thrown.take(), st.settled.take())
        };
        // Outside the state lock: dropping may release the GIL (a detached `Mapped`), and
        // another thread may be waiting for this lock while holding the GIL; undoing wakes
        // other waiters.
        if let (Some(inner), Some(_)) = (inner.as_mut(), &settled) {
            inner.undo();
        }
        drop(inner);
        drop(thrown);
        drop(settled);
    }
}

/// The end of the awaitable with `v`: `None` (finished with None, no exception object
/// needed), or `StopIteration(v)`.
fn finished(py: Python<'_>, v: Py<PyAny>) -> PyResult<Option<Py<PyAny>>> {
    if v.is_none(py) {
        return Ok(None);
    }
    Err(PyStopIteration::new_err((v,)))
}

/// What a cancelled operation raises once it has finished: the thrown exception, or its
/// own error chained onto it.
fn after_cancel(py: Python<'_>, thrown: PyErr, result: PyResult<Py<PyAny>>) -> PyErr {
    match result {
        Ok(_) => thrown,
        Err(own) if own.value(py).is(thrown.value(py)) => own,
        Err(own) => chained(py, own, thrown),
    }
}

/// `later` raised while `first` propagated: `later` with `first` as its `__context__`,
/// as Python chains an error raised in a `finally` block.
pub(crate) fn chained(py: Python<'_>, later: PyErr, first: PyErr) -> PyErr {
    // Best effort: an exception that refuses a context is raised without one.
    let _ = later
        .value(py)
        .setattr(intern!(py, "__context__"), first.value(py));
    later
}

#[pymethods]
impl Waiter {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // `await` drives it through here: finishing with None raises nothing.
        self.step(py)
    }
    #[pyo3(signature = (_value=None))]
    fn send(&self, py: Python<'_>, _value: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        self.step(py)?.ok_or_else(|| PyStopIteration::new_err(()))
    }
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let exc = throw_arg(typ, val);
        // `Some(exc)`: raise it now; `None`: the operation is finishing, keep stepping.
        let raise_now = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            match st.inner.as_mut() {
                // Settling: the operation completed; it is undone and the exception raised.
                Some(_) if st.settled.is_some() => Some(exc),
                // Already finishing a cancellation: it was asked once; keep the first.
                Some(_) if st.thrown.is_some() => None,
                Some(inner) => {
                    if inner.cancel() {
                        st.thrown = Some(exc);
                        None
                    } else {
                        Some(exc)
                    }
                }
                None => Some(exc),
            }
        };
        if let Some(exc) = raise_now {
            self.drop_inner();
            return Err(exc);
        }
        self.step(py)?.ok_or_else(|| PyStopIteration::new_err(()))
    }
    fn close(&self) {
        self.drop_inner();
    }
    /// An awaitable is always true, so `if lock.acquire():` in sync code on a loop's
    /// thread would go on as if it held the lock: warn where it happens.
    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        if let Some(what) = self.what {
            let msg = format!(
                "aiosync {what} returned an awaitable, which is always true: await it, or \
                 use the _blocking form for a blocking call"
            );
            let msg = std::ffi::CString::new(msg).unwrap_or_default();
            PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &msg, 1)?;
        }
        Ok(true)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let untouched = !self.state.get_mut().touched;
        self.drop_inner();
        if let (true, Some(what)) = (untouched, self.what) {
            never_awaited(what);
        }
    }
}

/// Warns as Python does for a coroutine that is never awaited: the call made an
/// awaitable (a loop runs in this thread) and nothing was done.
pub(crate) fn never_awaited(what: &str) {
    runtime_warning(&format!(
        "aiosync {what} was never awaited: with an event loop running in this thread it \
         returns an awaitable and does nothing until awaited (for a blocking call here, \
         use the _blocking form)"
    ));
}

/// A `RuntimeWarning` from a deallocator; one that a filter turns into an error is
/// reported as unraisable (nothing can raise there).
fn runtime_warning(msg: &str) {
    // Called by Python's deallocator, with the GIL held: attaching is free.
    Python::attach(|py| {
        let Ok(msg) = std::ffi::CString::new(msg) else {
            return;
        };
        let category = py.get_type::<PyRuntimeWarning>();
        if let Err(e) = PyErr::warn(py, &category, &msg, 1) {
            // A filter turned it into an error: nowhere to raise it from here.
            e.write_unraisable(py, None);
        }
    });
}

/// Returns an awaitable for `inner` on the running loop `lp`; `what` names the call in
/// the warning given if it is never awaited (`None`: never warn).
pub(crate) fn waiter(
    py: Python<'_>,
    lp: Bound<'_, PyAny>,
    what: Option<&'static str>,
    inner: Box<dyn PyPoll>,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Waiter::new(lp, what, inner, false))?.into_any())
}

/// As [`waiter`], settling: if `inner` completes without waiting, the awaitable yields
/// once to the loop before it gives the result, and undoes the operation if it is
/// cancelled or closed meanwhile (aiorwlock's yield after an acquire, see [`Waiter`]).
pub(crate) fn settling_waiter(
    py: Python<'_>,
    lp: Bound<'_, PyAny>,
    what: Option<&'static str>,
    inner: Box<dyn PyPoll>,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Waiter::new(lp, what, inner, true))?.into_any())
}
