//! The lock a `Condition()` makes for itself: conversion only. That a thread's hold is an
//! RLock's and a task's hold a Lock's (and a task re-entering its own hold is refused) is
//! the core's `aiosync::raw::RawDualLock`.

use crate::bridge::{self, mapped, no_loop, ready, ready_none, Flag, IntFlag};
use crate::owners;
use crate::repr;
use aiosync::raw::{LockError, RawDualLock};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;
use std::time::Duration;

/// The default lock of `Condition()`: to threading calls an `RLock` owned by the
/// thread, to asyncio calls a `Lock` any task may release (a task acquiring it again
/// while it holds it gets `RuntimeError` instead of waiting for itself).
///
/// Private: reached only through its Condition, which delegates `acquire`, `release`,
/// `locked` and the context managers to it.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_DualLock")]
pub(crate) struct DualLock {
    l: Arc<RawDualLock>,
}

fn unheld() -> PyErr {
    PyRuntimeError::new_err("cannot release un-acquired lock")
}

fn refused(e: LockError) -> PyErr {
    owners::lock_error(e, "Condition")
}

impl DualLock {
    pub(crate) fn create() -> DualLock {
        DualLock {
            l: Arc::new(RawDualLock::new()),
        }
    }

    /// The core lock (its Condition shares it).
    pub(crate) fn raw(&self) -> &Arc<RawDualLock> {
        &self.l
    }

    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let h = owners::thread();
        if self.l.try_lock(&h).map_err(refused)? {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        self.l
            .check_blocking(&h, owners::loop_running(py)?)
            .map_err(refused)?;
        match bridge::block(py, self.l.lock(h), timeout)? {
            Some(r) => r.map(|()| true).map_err(refused),
            None => Ok(false),
        }
    }

    /// An awaitable acquire by the task that calls it (the identity a re-entry is told
    /// by); `eager` tries at once (`async with`). Lazy otherwise: nothing happens until
    /// it is awaited.
    fn acquire_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
        eager: bool,
    ) -> PyResult<Py<PyAny>> {
        let h = owners::task(py, &lp, "Condition")?;
        if eager && self.l.try_lock(&h).map_err(refused)? {
            return Ok(ready(py, value)?.into_any());
        }
        bridge::waiter(
            py,
            lp,
            Some("Condition.acquire()"),
            mapped(
                self.l.clone(),
                move |l| l.lock(h),
                move |py, r| r.map(|()| value.clone_ref(py)).map_err(refused),
            ),
        )
    }

    fn release_now(&self) -> PyResult<()> {
        // As the calling thread: a thread hold is its owner's, a task hold anyone's.
        self.l.unlock(&owners::thread()).map_err(|_| unheld())
    }
}

#[pymethods]
impl DualLock {
    /// asyncio: `await lock.acquire()` (a task hold). threading:
    /// `lock.acquire(blocking=True, timeout=-1)` (a hold of the thread, which may nest).
    ///
    /// Cancel safety: a cancelled asyncio acquire takes nothing; a lock handed to it
    /// meanwhile goes to the next waiter.
    #[pyo3(signature = (blocking=None, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: Option<IntFlag>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        bridge::contextual_acquire(
            py,
            blocking.map(Flag::from),
            timeout,
            |lp, value| self.acquire_async(py, lp, value, false),
            |b, t| self.acquire_blocking(py, b, t),
        )
    }

    /// The asyncio form of `acquire()` whatever the caller. Cancel safety: as `acquire`.
    #[pyo3(name = "acquire_async")]
    fn acquire_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        bridge::async_form(py, |lp, value| self.acquire_async(py, lp, value, false))
    }

    /// The threading form of `acquire()` whatever the caller.
    #[pyo3(
        name = "acquire_blocking",
        signature = (blocking=IntFlag(true), timeout=None),
        text_signature = "($self, blocking=True, timeout=None)"
    )]
    fn acquire_blocking_py(
        &self,
        py: Python<'_>,
        blocking: IntFlag,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        bridge::blocking_form(blocking.into(), timeout, |b, t| {
            self.acquire_blocking(py, b, t)
        })
    }

    /// Leaves one level of the calling thread's hold, or a task's hold (anyone may).
    fn release(&self) -> PyResult<()> {
        self.release_now()
    }

    fn locked(&self) -> bool {
        self.l.is_locked()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_blocking(py, true, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release_now()
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(no_loop)?;
        self.acquire_async(py, lp, py.None(), true)
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release_now()?;
        Ok(ready_none(py).into_any())
    }

    /// `<locked aiosync._aiosync._DualLock object count=1 at 0x… [locked]>`.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let l = &slf.get().l;
        let state = if l.is_locked() { "locked" } else { "unlocked" };
        let detail = format!(" count={}", l.levels());
        repr::lock(
            slf.as_any(),
            state,
            &detail,
            &repr::extras(state, l.waiters()),
        )
    }
}
