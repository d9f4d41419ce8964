//! Semaphore and BoundedSemaphore: conversion only (permits, FIFO and the bound are the
//! core's `aiosync::Semaphore`).

use crate::bridge::{self, mapped, no_loop, ready_none, running_loop, Flag, Timeouts};
use crate::repr;
use aiosync::Semaphore as CoreSemaphore;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;
use std::time::Duration;

/// The permits of a Semaphore, shared with the futures waiting for them.
pub(crate) struct Permits {
    sem: CoreSemaphore,
}

impl Permits {
    fn new(sem: CoreSemaphore) -> Arc<Permits> {
        Arc::new(Permits { sem })
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        match self.sem.try_acquire() {
            Some(g) => {
                g.forget();
                true
            }
            None => false,
        }
    }

    /// An awaitable acquire giving `value`. Lazy: nothing happens until it is awaited
    /// (as an asyncio coroutine), so an acquire cancelled before it runs takes nothing.
    fn acquire_async(
        self: &Arc<Self>,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        bridge::waiter(
            py,
            lp,
            Some("Semaphore.acquire()"),
            mapped(
                self.clone(),
                |p| p.sem.acquire(),
                move |py, g| {
                    g.forget();
                    Ok(value.clone_ref(py))
                },
            ),
        )
    }

    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        if self.try_acquire() {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        Ok(match bridge::block(py, self.sem.acquire(), timeout)? {
            Some(g) => {
                g.forget();
                true
            }
            None => false,
        })
    }
}

/// A counting semaphore shared by threads and any number of asyncio event loops.
///
/// `Semaphore(value=1)`: `value` free permits (`ValueError` if negative).
#[pyclass(frozen, subclass, weakref, module = "aiosync", name = "Semaphore")]
pub(crate) struct Semaphore {
    p: Arc<Permits>,
    bounded: bool,
}

impl Semaphore {
    fn create(value: i64, bounded: bool) -> PyResult<Self> {
        if value < 0 {
            return Err(PyValueError::new_err(
                "Semaphore initial value must be >= 0",
            ));
        }
        let n = usize::try_from(value)
            .ok()
            .filter(|&n| n <= aiosync::MAX_PERMITS)
            .ok_or_else(|| PyValueError::new_err("Semaphore initial value is too large"))?;
        let sem = if bounded {
            CoreSemaphore::bounded(n)
        } else {
            CoreSemaphore::new(n)
        };
        Ok(Semaphore {
            p: Permits::new(sem),
            bounded,
        })
    }
}

#[pymethods]
impl Semaphore {
    /// Takes `value`; any other argument is left to `__init__` to refuse, as for a class
    /// written in Python (so its errors name `Semaphore.__init__()`).
    #[new]
    #[pyo3(signature = (value=1, *_args, **_kwargs), text_signature = "(value=1)")]
    fn new(
        value: i64,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        Semaphore::create(value, false)
    }

    /// Checks the arguments (`__new__` used `value`).
    #[pyo3(signature = (value=1))]
    fn __init__(&self, value: i64) {
        let _ = value;
    }

    /// asyncio: `await sem.acquire()`. threading: `sem.acquire(blocking=True, timeout=None)`,
    /// where a negative timeout does not wait, as in `threading.Semaphore`.
    ///
    /// Cancel safety: a cancelled asyncio acquire takes nothing; a permit handed to it
    /// meanwhile goes to the next waiter.
    #[pyo3(signature = (blocking=None, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: Option<Flag>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        bridge::contextual_acquire_as(
            Timeouts::Semaphore,
            py,
            blocking,
            timeout,
            |lp, value| self.p.acquire_async(py, lp, value),
            |b, t| self.p.acquire_blocking(py, b, t),
        )
    }

    /// The asyncio form of `acquire()` whatever the caller: an awaitable giving True, on
    /// the loop running in this thread (`RuntimeError` without one).
    ///
    /// Cancel safety: as `acquire`.
    #[pyo3(name = "acquire_async")]
    fn acquire_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        bridge::async_form(py, |lp, value| self.p.acquire_async(py, lp, value))
    }

    /// The threading form of `acquire()` whatever the caller: blocks (releasing the GIL)
    /// for at most `timeout` seconds (a negative one: not at all), returns whether it got
    /// a permit.
    #[pyo3(
        name = "acquire_blocking",
        signature = (blocking=Flag(true), timeout=None),
        text_signature = "($self, blocking=True, timeout=None)"
    )]
    fn acquire_blocking_py(
        &self,
        py: Python<'_>,
        blocking: Flag,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        bridge::blocking_form_as(Timeouts::Semaphore, blocking, timeout, |b, t| {
            self.p.acquire_blocking(py, b, t)
        })
    }

    /// Gives back `n` permits (a bounded semaphore refuses to exceed its initial value).
    #[pyo3(signature = (n=1))]
    fn release(&self, n: i64) -> PyResult<()> {
        if n < 1 {
            return Err(PyValueError::new_err("n must be one or more"));
        }
        self.p.sem.add_permits(n as usize).map_err(|_| {
            PyValueError::new_err(if self.bounded {
                "BoundedSemaphore released too many times"
            } else {
                "Semaphore released too many times"
            })
        })
    }

    /// Whether an acquire would have to wait (no permit free, or waiters queued first).
    fn locked(&self) -> bool {
        self.p.sem.available_permits() == 0 || self.p.sem.has_waiters()
    }

    /// Free permits.
    #[getter]
    fn _value(&self) -> usize {
        self.p.sem.available_permits()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.p.acquire_blocking(py, true, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release(1)
    }

    /// `async with sem`: takes a permit (at once, without yielding, when one is free).
    ///
    /// Cancel safety: as `acquire`.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.p.try_acquire() {
            return Ok(ready_none(py).into_any());
        }
        let lp = running_loop(py)?.ok_or_else(no_loop)?;
        self.p.acquire_async(py, lp, py.None())
    }

    /// Gives the permit back (the end of `async with`).
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release(1)?;
        Ok(ready_none(py).into_any())
    }

    /// threading's `<threading.Semaphore at 0x…: value=1>` (a bounded one:
    /// `value=1/3`) nested in asyncio's `<… object at 0x… [unlocked, value:1]>`.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let sem = &this.p.sem;
        let value = sem.available_permits();
        let threading = match sem.bound() {
            Some(bound) if this.bounded => format!("value={value}/{bound}"),
            _ => format!("value={value}"),
        };
        let state = if this.locked() {
            "locked".to_owned()
        } else {
            format!("unlocked, value:{value}")
        };
        repr::nested(
            slf.as_any(),
            &threading,
            &repr::extras(&state, sem.waiters()),
        )
    }
}

/// A semaphore that refuses to be released above its initial value.
///
/// `BoundedSemaphore(value=1)`: `value` free permits, and at most `value` ever.
#[pyclass(frozen, extends = Semaphore, module = "aiosync", name = "BoundedSemaphore")]
pub(crate) struct BoundedSemaphore;

#[pymethods]
impl BoundedSemaphore {
    /// Takes `value`; any other argument is left to `__init__` to refuse.
    #[new]
    #[pyo3(signature = (value=1, *_args, **_kwargs), text_signature = "(value=1)")]
    fn new(
        value: i64,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        Ok(
            PyClassInitializer::from(Semaphore::create(value, true)?)
                .add_subclass(BoundedSemaphore),
        )
    }

    /// Checks the arguments (`__new__` used `value`); errors name
    /// `BoundedSemaphore.__init__()`.
    #[pyo3(signature = (value=1))]
    fn __init__(&self, value: i64) {
        let _ = value;
    }
}
