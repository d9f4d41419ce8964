//! Barrier: conversion only; the leader phase (the action between the fill and the
//! release) is the core's (`aiosync::Barrier::with_leader`).

use crate::bridge::{self, mapped, mode, timeout_arg, wait_timeout_arg, Mode};
use crate::errors;
use crate::repr;
use aiosync::{
    Arrival, Barrier as CoreBarrier, BarrierState, BarrierWaitResult, BrokenBarrierError,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

/// A barrier for a fixed number of parties, shared by threads and event loops.
///
/// `Barrier(parties, action=None, timeout=None)`: `action` runs in the last arrival of
/// each round before the round is released; `timeout` is the default of threading-style
/// waits.
#[pyclass(frozen, weakref, module = "aiosync", name = "Barrier")]
pub(crate) struct Barrier {
    b: Arc<CoreBarrier>,
    /// threading.Barrier's `action`: run by the last arrival of each round, thread or
    /// task, before anyone of the round is released.
    action: Option<Py<PyAny>>,
    timeout: Option<f64>,
}

fn wait_result(
    py: Python<'_>,
    r: Result<BarrierWaitResult, BrokenBarrierError>,
) -> PyResult<Py<PyAny>> {
    match r {
        Ok(r) => r.index().into_py_any(py),
        Err(_) => Err(errors::broken_barrier(py, "barrier is broken")),
    }
}

/// Runs the action for a round this party leads; a raising action breaks the barrier.
fn lead(
    py: Python<'_>,
    action: &Py<PyAny>,
    arrival: Result<Arrival<'_>, BrokenBarrierError>,
) -> PyResult<Py<PyAny>> {
    match arrival {
        Ok(Arrival::Released(r)) => wait_result(py, Ok(r)),
        Ok(Arrival::Lead(lead)) => match action.call0(py) {
            Ok(_) => wait_result(py, lead.complete()),
            Err(e) => {
                lead.fail();
                Err(e)
            }
        },
        Err(e) => wait_result(py, Err(e)),
    }
}

#[pymethods]
impl Barrier {
    /// Takes the barrier's arguments; any other is left to `__init__` to refuse, as for
    /// a class written in Python (so its errors name `Barrier.__init__()`).
    #[new]
    #[pyo3(
        signature = (parties, action=None, timeout=None, *_args, **_kwargs),
        text_signature = "(parties, action=None, timeout=None)"
    )]
    fn new(
        py: Python<'_>,
        parties: i64,
        action: Option<Py<PyAny>>,
        timeout: Option<f64>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if parties < 1 {
            return Err(PyValueError::new_err("parties must be >= 1"));
        }
        timeout_arg(timeout)?;
        let parties =
            usize::try_from(parties).map_err(|_| PyValueError::new_err("too many parties"))?;
        let action = action.filter(|a| !a.is_none(py));
        let b = match action {
            Some(_) => CoreBarrier::with_leader(parties)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            None => CoreBarrier::new(parties),
        };
        Ok(Barrier {
            b: Arc::new(b),
            action,
            timeout,
        })
    }

    /// Checks the arguments (`__new__` used them).
    #[pyo3(signature = (parties, action=None, timeout=None))]
    fn __init__(&self, parties: i64, action: Option<Py<PyAny>>, timeout: Option<f64>) {
        let _ = (parties, action, timeout);
    }

    /// asyncio: `await barrier.wait()`; threading: `barrier.wait(timeout=None)`. Gives
    /// this party's arrival index, 0 to parties-1.
    ///
    /// Cancel safety: cancelling an asyncio wait while the round fills withdraws this
    /// party; a threading timeout breaks the barrier, as threading's does.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp),
            Mode::Blocking => self.wait_blocking(py, timeout.or(self.timeout)),
        }
    }

    /// The asyncio form of `wait()` whatever the caller: an awaitable giving the arrival
    /// index, on the loop running in this thread (`RuntimeError` without one).
    ///
    /// Cancel safety: as `wait`.
    #[pyo3(name = "wait_async")]
    fn wait_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        self.wait_async(py, lp)
    }

    /// The threading form of `wait(timeout)` whatever the caller: blocks (releasing the
    /// GIL), gives the arrival index; a timeout breaks the barrier.
    #[pyo3(name = "wait_blocking", signature = (timeout=None))]
    fn wait_blocking_py(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.wait_blocking(py, timeout.or(self.timeout))
    }

    /// `async with barrier as index`: waits as `wait()` does. Cancel safety: as `wait`.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.wait_async_py(py)
    }

    /// Does nothing (the end of `async with`).
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> Py<PyAny> {
        bridge::ready_none(py).into_any()
    }

    /// Breaks the barrier: current and later waits fail until `reset()`.
    ///
    /// With an event loop running in this thread it returns an awaitable that breaks the
    /// barrier when awaited, as asyncio's coroutine does (a `RuntimeWarning` if it is
    /// never awaited); otherwise it acts at once and returns None, as threading's.
    ///
    /// Cancel safety: the awaitable acts in one step, without waiting: cancelled before
    /// it runs, it does nothing.
    fn abort(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.act(py, "Barrier.abort()", CoreBarrier::abort)
    }

    /// Back to the empty state; parties waiting now get BrokenBarrierError, parties
    /// arriving meanwhile wait until those have left.
    ///
    /// With an event loop running in this thread it returns an awaitable that resets when
    /// awaited, as asyncio's coroutine does (a `RuntimeWarning` if it is never awaited);
    /// otherwise it acts at once and returns None, as threading's.
    ///
    /// Cancel safety: as `abort`.
    fn reset(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.act(py, "Barrier.reset()", CoreBarrier::reset)
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
        self.b.is_broken()
    }

    /// threading's `<threading.Barrier at 0x…: waiters=1/3>` (or `: broken>`) nested in
    /// asyncio's `<… object at 0x… [filling, waiters:1/3]>` (or `[broken]`); the state
    /// (filling, draining, resetting, broken) is the core barrier's.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let b = &slf.get().b;
        let (state, n, parties) = (b.state(), b.n_waiting(), b.parties());
        if state == BarrierState::Broken {
            return repr::nested(slf.as_any(), "broken", "broken");
        }
        repr::nested(
            slf.as_any(),
            &format!("waiters={n}/{parties}"),
            &format!("{state}, waiters:{n}/{parties}"),
        )
    }
}

impl Barrier {
    /// `abort()` / `reset()`: with a loop running in this thread, an awaitable that calls
    /// `f` when first stepped (named `what` in the never-awaited warning); else `f` now.
    fn act(&self, py: Python<'_>, what: &'static str, f: fn(&CoreBarrier)) -> PyResult<Py<PyAny>> {
        let Some(lp) = bridge::running_loop(py)? else {
            f(&self.b);
            return Ok(py.None());
        };
        bridge::waiter(
            py,
            lp,
            Some(what),
            mapped(
                self.b.clone(),
                move |b| async move { f(b) },
                |py, ()| Ok(py.None()),
            ),
        )
    }

    fn wait_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Some(action) = &self.action else {
            return bridge::waiter(
                py,
                lp,
                Some("Barrier.wait()"),
                mapped(self.b.clone(), |b| b.wait(), wait_result),
            );
        };
        let action = action.clone_ref(py);
        bridge::waiter(
            py,
            lp,
            Some("Barrier.wait()"),
            // The lead is completed (or failed) inside the map, before the future goes.
            mapped(
                self.b.clone(),
                |b| b.wait_lead(),
                move |py, r| lead(py, &action, r),
            ),
        )
    }

    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let t = wait_timeout_arg(timeout)?;
        let b = &*self.b;
        match &self.action {
            None => {
                let r = py.detach(|| match t {
                    None => b.wait_blocking(),
                    Some(d) => b.wait_blocking_timeout(d),
                });
                wait_result(py, r)
            }
            Some(action) => {
                let arrival = py.detach(|| b.wait_lead_blocking(t));
                lead(py, action, arrival)
            }
        }
    }
}
