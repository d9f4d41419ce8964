//! Event, Barrier and the core of Condition.

use crate::aio::{self, mapped, ready_true, timeout_arg, wait_timeout_arg};
use crate::errors;
use crate::locks::{mode, Mode};
use aiosync::{Barrier as CoreBarrier, Condition as CoreCondition, Event as CoreEvent};
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

/// An event flag shared by threads and any number of asyncio event loops.
#[pyclass(frozen, module = "aiosync._aiosync", name = "Event")]
pub(crate) struct Event {
    ev: Arc<CoreEvent>,
}

#[pymethods]
impl Event {
    #[new]
    fn new() -> Self {
        Event {
            ev: Arc::new(CoreEvent::new()),
        }
    }

    fn is_set(&self) -> bool {
        self.ev.is_set()
    }

    /// Sets the flag and wakes every current waiter (even if `clear()` follows at once).
    fn set(&self) {
        self.ev.set();
    }

    fn clear(&self) {
        self.ev.clear();
    }

    /// asyncio: `await ev.wait()` gives True. threading: `ev.wait(timeout=None)` gives
    /// whether the flag was set.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp),
            Mode::Blocking => self.wait_blocking(py, timeout)?.into_py_any(py),
        }
    }

    /// The asyncio form of `wait`, whatever the context.
    fn _wait_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = aio::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        self.wait_async(py, lp)
    }

    /// The threading form of `wait`, whatever the context.
    #[pyo3(signature = (timeout=None))]
    fn _wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.wait_blocking(py, timeout)
    }

    fn __repr__(&self) -> String {
        format!(
            "<aiosync.Event [{}]>",
            if self.is_set() { "set" } else { "unset" }
        )
    }
}

impl Event {
    fn wait_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if self.ev.is_set() {
            return Ok(ready_true(py).into_any());
        }
        aio::waiter(
            py,
            lp,
            mapped(self.ev.clone(), |e| e.wait(), |py, ()| true.into_py_any(py)),
        )
    }

    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = wait_timeout_arg(timeout)?;
        if self.ev.is_set() {
            return Ok(true);
        }
        Ok(aio::block(py, self.ev.wait(), t)?.is_some())
    }
}

/// A barrier for a fixed number of parties, shared by threads and event loops.
#[pyclass(frozen, module = "aiosync._aiosync", name = "Barrier")]
pub(crate) struct Barrier {
    b: Arc<CoreBarrier>,
    /// threading.Barrier's `action` and a second barrier the parties pass after it ran:
    /// the action runs before anyone leaves the round, and if it raises, the others get
    /// BrokenBarrierError (threading's rules).
    action: Option<(Py<PyAny>, Arc<CoreBarrier>)>,
    timeout: Option<f64>,
}

fn wait_result(
    py: Python<'_>,
    r: Result<aiosync::BarrierWaitResult, aiosync::BrokenBarrierError>,
) -> PyResult<Py<PyAny>> {
    match r {
        Ok(r) => r.index().into_py_any(py),
        Err(_) => Err(errors::broken_barrier(py, "barrier is broken")),
    }
}

#[pymethods]
impl Barrier {
    #[new]
    #[pyo3(signature = (parties, action=None, timeout=None))]
    fn new(
        py: Python<'_>,
        parties: i64,
        action: Option<Py<PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        if parties < 1 {
            return Err(PyValueError::new_err("parties must be >= 1"));
        }
        timeout_arg(timeout)?;
        let parties = parties as usize;
        Ok(Barrier {
            b: Arc::new(CoreBarrier::new(parties)),
            action: action
                .filter(|a| !a.is_none(py))
                .map(|a| (a, Arc::new(CoreBarrier::new(parties)))),
            timeout,
        })
    }

    /// asyncio: `await barrier.wait()`; threading: `barrier.wait(timeout=None)`. Gives
    /// this party's arrival index, 0 to parties-1.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp),
            Mode::Blocking => self.wait_blocking(py, timeout.or(self.timeout)),
        }
    }

    fn _wait_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = aio::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        self.wait_async(py, lp)
    }

    #[pyo3(signature = (timeout=None))]
    fn _wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.wait_blocking(py, timeout.or(self.timeout))
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self._wait_async(py)
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> Py<PyAny> {
        aio::ready_none(py).into_any()
    }

    /// Breaks the barrier: current and later waits fail until `reset()`. In a running
    /// loop it returns an awaitable, as asyncio's coroutine does.
    fn abort(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.b.abort();
        if let Some((_, gate)) = &self.action {
            gate.abort();
        }
        done(py)
    }

    /// Back to the empty state; parties waiting now get BrokenBarrierError. In a running
    /// loop it returns an awaitable, as asyncio's coroutine does.
    fn reset(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.b.reset();
        if let Some((_, gate)) = &self.action {
            gate.reset();
        }
        done(py)
    }

    #[getter]
    fn parties(&self) -> usize {
        self.b.parties()
    }

    #[getter]
    fn n_waiting(&self) -> usize {
        self.b.n_waiting()
    }

    #[getter]
    fn broken(&self) -> bool {
        self.b.is_broken() || self.action.as_ref().is_some_and(|(_, g)| g.is_broken())
    }

    fn __repr__(&self) -> String {
        format!(
            "<aiosync.Barrier [parties={}, n_waiting={}, broken={}]>",
            self.parties(),
            self.n_waiting(),
            if self.broken() { "True" } else { "False" }
        )
    }
}

/// `None` for a threading caller, a done awaitable for an asyncio one.
fn done(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(match aio::running_loop(py)? {
        Some(_) => aio::ready_none(py).into_any(),
        None => py.None(),
    })
}

impl Barrier {
    fn wait_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        aio::waiter(py, lp, mapped(self.b.clone(), |b| b.wait(), wait_result))
    }

    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let t = wait_timeout_arg(timeout)?;
        let wait = |b: &CoreBarrier| {
            py.detach(|| match t {
                None => b.wait_blocking(),
                Some(d) => b.wait_blocking_timeout(d),
            })
        };
        let r = wait(&self.b);
        let Some((action, gate)) = &self.action else {
            return wait_result(py, r);
        };
        let Ok(w) = r else {
            gate.abort();
            return wait_result(py, r);
        };
        if w.is_leader() {
            if let Err(e) = action.call0(py) {
                self.b.abort();
                gate.abort();
                return Err(e);
            }
        }
        // Nobody leaves the round before the action ran (and succeeded).
        match wait(gate) {
            Ok(_) => w.index().into_py_any(py),
            Err(_) => Err(errors::broken_barrier(py, "barrier is broken")),
        }
    }
}

/// The waiter list of a Condition; the lock handling lives in Python (`aiosync._condition`).
#[pyclass(frozen, module = "aiosync._aiosync", name = "_ConditionCore")]
pub(crate) struct ConditionCore {
    c: Arc<CoreCondition>,
}

type Listening = aio::Owned<CoreCondition, aiosync::Notified<'static>>;

/// A waiter registered by `_ConditionCore.listen()`: it holds its place in line from then on.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Listener")]
pub(crate) struct Listener {
    inner: Mutex<Option<Listening>>,
}

#[pymethods]
impl ConditionCore {
    #[new]
    fn new() -> Self {
        ConditionCore {
            c: Arc::new(CoreCondition::new()),
        }
    }

    /// Queues a waiter now (call it before releasing the lock).
    fn listen(&self) -> Listener {
        Listener {
            inner: Mutex::new(Some(aio::Owned::new(self.c.clone(), |c| c.listen()))),
        }
    }

    /// Wakes up to `n` waiters, oldest first; returns how many.
    fn notify(&self, n: usize) -> usize {
        self.c.notify(n)
    }

    fn notify_all(&self) -> usize {
        self.c.notify_all()
    }

    #[getter]
    fn waiters(&self) -> usize {
        self.c.waiters()
    }
}

struct ListenPoll(Listening);

impl aio::PyPoll for ListenPoll {
    fn poll(
        &mut self,
        py: Python<'_>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<PyResult<Py<PyAny>>> {
        self.0.poll_inner(cx).map(|()| true.into_py_any(py))
    }
}

#[pymethods]
impl Listener {
    /// Awaitable: done when notified (True). Cancelling passes a notification on.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let inner = self.take()?;
        let lp = aio::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        aio::waiter(py, lp, Box::new(ListenPoll(inner)))
    }

    /// Blocks until notified or the timeout passes; returns whether notified.
    #[pyo3(signature = (timeout=None))]
    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = wait_timeout_arg(timeout)?;
        let mut inner = self.take()?;
        Ok(aio::block(py, std::future::poll_fn(move |cx| inner.poll_inner(cx)), t)?.is_some())
    }

    /// Gives up the place in line (passing on a notification it had received).
    fn cancel(&self) {
        drop(self.inner.lock().take());
    }
}

impl Listener {
    fn take(&self) -> PyResult<Listening> {
        self.inner
            .lock()
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this condition waiter was already used"))
    }
}
