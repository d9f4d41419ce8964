//! Event: conversion only (the flag and its waiters are the core's `aiosync::Event`).

use crate::bridge::{self, mapped, mode, wait_timeout_arg, Mode};
use crate::repr;
use aiosync::Event as CoreEvent;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

/// An event flag shared by threads and any number of asyncio event loops.
///
/// `Event()` takes no arguments.
#[pyclass(frozen, weakref, module = "aiosync", name = "Event")]
pub(crate) struct Event {
    ev: Arc<CoreEvent>,
}

#[pymethods]
impl Event {
    /// Accepts any arguments: `__init__` checks them, as for a class written in Python
    /// (so its errors name `Event.__init__()`).
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "()")]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Event {
            ev: Arc::new(CoreEvent::new()),
        }
    }

    /// Takes no arguments.
    fn __init__(&self) {}

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
    ///
    /// Cancel safety: a cancelled asyncio wait only stops waiting.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp),
            Mode::Blocking => self.wait_blocking(py, timeout)?.into_py_any(py),
        }
    }

    /// The asyncio form of `wait`, whatever the context.
    ///
    /// Cancel safety: a cancelled wait only stops waiting.
    #[pyo3(name = "wait_async")]
    fn wait_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        self.wait_async(py, lp)
    }

    /// The threading form of `wait`, whatever the context.
    #[pyo3(name = "wait_blocking", signature = (timeout=None))]
    fn wait_blocking_py(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.wait_blocking(py, timeout)
    }

    /// threading's `<threading.Event at 0x…: set>` nested in asyncio's
    /// `<… object at 0x… [set]>` (`[unset, waiters:2]` while some wait).
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let ev = &slf.get().ev;
        let state = if ev.is_set() { "set" } else { "unset" };
        repr::nested(slf.as_any(), state, &repr::extras(state, ev.waiters()))
    }
}

impl Event {
    /// The core event.
    pub(crate) fn core(&self) -> &Arc<CoreEvent> {
        &self.ev
    }

    fn wait_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if self.ev.is_set() {
            let t = true.into_py_any(py)?;
            return Ok(bridge::ready_once(py, t, "Event.wait()")?.into_any());
        }
        bridge::waiter(
            py,
            lp,
            Some("Event.wait()"),
            mapped(self.ev.clone(), |e| e.wait(), |py, ()| true.into_py_any(py)),
        )
    }

    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = wait_timeout_arg(timeout)?;
        if self.ev.is_set() {
            return Ok(true);
        }
        Ok(bridge::block(py, self.ev.wait(), t)?.is_some())
    }
}
