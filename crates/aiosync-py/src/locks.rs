//! Lock and RLock: conversion only. Who may proceed (the holder, re-entry, release by a
//! non-owner, the blocking wait that could never end) is the core's `aiosync::raw`.

use crate::bridge::{self, mapped, no_loop, ready, ready_none};
use crate::bridge::{Flag, IntFlag};
use crate::owners;
use crate::repr;
use aiosync::raw::{Holder, LockError, RawLock, RawReentrantLock, Reentry};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::Arc;
use std::time::Duration;

/// A lock shared by threads and any number of asyncio event loops.
///
/// `Lock()` takes no arguments.
#[pyclass(frozen, weakref, module = "aiosync", name = "Lock")]
pub(crate) struct Lock {
    l: Arc<RawLock>,
}

impl Lock {
    pub(crate) fn create() -> Lock {
        Lock {
            l: Arc::new(RawLock::new()),
        }
    }

    /// The core lock (a Condition shares it).
    pub(crate) fn raw(&self) -> &Arc<RawLock> {
        &self.l
    }

    /// An awaitable acquire giving `value`. Lazy: nothing happens until it is awaited
    /// (as an asyncio coroutine), so an acquire cancelled before it runs takes nothing.
    fn acquire_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let h = owners::thread();
        bridge::waiter(
            py,
            lp,
            Some("Lock.acquire()"),
            mapped(
                self.l.clone(),
                move |l| l.lock(h),
                move |py, ()| Ok(value.clone_ref(py)),
            ),
        )
    }

    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let h = owners::thread();
        if self.l.try_lock(&h) {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        self.l
            .check_blocking(&h, owners::loop_running(py)?)
            .map_err(|e| owners::lock_error(e, "Lock"))?;
        Ok(bridge::block(py, self.l.lock(h), timeout)?.is_some())
    }
}

#[pymethods]
impl Lock {
    /// Accepts any arguments: `__init__` checks them, as for a class written in Python
    /// (so its errors name `Lock.__init__()`, as asyncio's and threading's do).
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "()")]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Lock::create()
    }

    /// Takes no arguments.
    fn __init__(&self) {}

    /// asyncio: `await lock.acquire()`. threading: `lock.acquire(blocking=True, timeout=-1)`.
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
            |lp, value| self.acquire_async(py, lp, value),
            |b, t| self.acquire_blocking(py, b, t),
        )
    }

    /// The asyncio form of `acquire()` whatever the caller: an awaitable giving True, on
    /// the loop running in this thread (`RuntimeError` without one).
    ///
    /// Cancel safety: as `acquire`.
    #[pyo3(name = "acquire_async")]
    fn acquire_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        bridge::async_form(py, |lp, value| self.acquire_async(py, lp, value))
    }

    /// The threading form of `acquire()` whatever the caller: blocks (releasing the GIL),
    /// returns whether it got the lock. A wait that could never end (this thread's running
    /// loop holds it) raises `RuntimeError`.
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

    fn release(&self) -> PyResult<()> {
        self.l
            .unlock()
            .map_err(|_| PyRuntimeError::new_err("Lock is not acquired."))
    }

    fn locked(&self) -> bool {
        self.l.is_locked()
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_blocking(py, true, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release()
    }

    /// `async with lock`: takes it (at once, without yielding, when it is free).
    ///
    /// Cancel safety: as `acquire`.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.l.try_lock(&owners::thread()) {
            return Ok(ready_none(py).into_any());
        }
        let lp = bridge::running_loop(py)?.ok_or_else(no_loop)?;
        self.acquire_async(py, lp, py.None())
    }

    /// Releases it (the end of `async with`).
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release()?;
        Ok(ready_none(py).into_any())
    }

    /// threading's `<unlocked _thread.lock object at 0x…>` and asyncio's
    /// `<asyncio.locks.Lock object at 0x… [locked, waiters:1]>` in one:
    /// `<locked aiosync.Lock object at 0x… [locked, waiters:1]>`.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let l = &slf.get().l;
        let state = if l.is_locked() { "locked" } else { "unlocked" };
        repr::lock(slf.as_any(), state, "", &repr::extras(state, l.waiters()))
    }
}

/// A reentrant lock: owned by the thread (threading calls) or the asyncio task (asyncio
/// calls) that acquired it, which may acquire it again.
///
/// `RLock()` takes no arguments.
#[pyclass(frozen, weakref, module = "aiosync", name = "RLock")]
pub(crate) struct RLock {
    m: Arc<RawReentrantLock>,
}

fn unheld() -> PyErr {
    PyRuntimeError::new_err("cannot release un-acquired lock")
}

fn refused(e: LockError) -> PyErr {
    owners::lock_error(e, "RLock")
}

impl RLock {
    pub(crate) fn create() -> RLock {
        RLock {
            m: Arc::new(RawReentrantLock::new()),
        }
    }

    /// The core lock (a Condition shares it).
    pub(crate) fn raw(&self) -> &Arc<RawReentrantLock> {
        &self.m
    }

    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let h = owners::thread();
        if self.m.try_lock(&h, Reentry::Allow).map_err(refused)? {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        self.m
            .check_blocking(&h, owners::loop_running(py)?)
            .map_err(refused)?;
        match bridge::block(py, self.m.lock(h, Reentry::Allow), timeout)? {
            Some(r) => r.map(|()| true).map_err(refused),
            None => Ok(false),
        }
    }

    /// An awaitable acquire owned by the task that calls it (also when another task
    /// awaits it: `asyncio.wait_for` and `gather` wrap it in a task of their own);
    /// `eager` tries at once (`async with`).
    fn acquire_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
        eager: bool,
    ) -> PyResult<Py<PyAny>> {
        let h = owners::task(py, &lp, "RLock")?;
        if eager && self.m.try_lock(&h, Reentry::Allow).map_err(refused)? {
            return Ok(ready(py, value)?.into_any());
        }
        bridge::waiter(
            py,
            lp,
            Some("RLock.acquire()"),
            mapped(
                self.m.clone(),
                move |m| m.lock(h, Reentry::Allow),
                move |py, r| r.map(|()| value.clone_ref(py)).map_err(refused),
            ),
        )
    }

    /// The caller's identity that holds it (its task first, then its thread).
    fn holder(&self, py: Python<'_>) -> PyResult<Option<Holder>> {
        owners::owning(py, |o| self.m.is_owned_by(o))
    }
}

#[pymethods]
impl RLock {
    /// Accepts any arguments: `__init__` checks them, as for a class written in Python.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "()")]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        RLock::create()
    }

    /// Takes no arguments.
    fn __init__(&self) {}

    /// asyncio: `await rlock.acquire()` (owner: the task). threading:
    /// `rlock.acquire(blocking=True, timeout=-1)` (owner: the thread).
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

    /// The asyncio form of `acquire()` whatever the caller: an awaitable giving True, on
    /// the loop running in this thread (`RuntimeError` without one).
    ///
    /// Cancel safety: as `acquire`.
    #[pyo3(name = "acquire_async")]
    fn acquire_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        bridge::async_form(py, |lp, value| self.acquire_async(py, lp, value, false))
    }

    /// The threading form of `acquire()` whatever the caller: blocks (releasing the GIL),
    /// returns whether it got the lock. A wait that could never end (this thread's running
    /// loop holds it) raises `RuntimeError`.
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

    /// Leaves one level; only the owner may.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.holder(py)?.ok_or_else(unheld)?;
        self.m.unlock(h.owner()).map_err(|_| unheld())
    }

    fn locked(&self) -> bool {
        self.m.is_locked()
    }

    /// Whether the caller (its task or thread) holds it.
    fn _is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.holder(py)?.is_some())
    }

    /// Releases every level the caller holds, returning how many (threading.Condition
    /// gives them back through `_acquire_restore`).
    fn _release_save(&self, py: Python<'_>) -> PyResult<usize> {
        let h = self.holder(py)?.ok_or_else(unheld)?;
        self.m.release_all(h.owner()).map_err(|_| unheld())
    }

    /// Takes back the levels `_release_save` gave up, as the calling thread.
    fn _acquire_restore(&self, py: Python<'_>, levels: usize) {
        let h = owners::thread();
        let m = &self.m;
        py.detach(|| m.relock_blocking(&h, levels.max(1)));
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_blocking(py, true, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.m
            .unlock(owners::thread().owner())
            .map_err(|_| unheld())
    }

    /// `async with lock`: takes it (at once, without yielding, when it is free).
    ///
    /// Cancel safety: as `acquire`.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(no_loop)?;
        self.acquire_async(py, lp, py.None(), true)
    }

    /// Releases it (the end of `async with`).
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(no_loop)?;
        let h = owners::task(py, &lp, "RLock")?;
        self.m.unlock(h.owner()).map_err(|_| unheld())?;
        Ok(ready_none(py).into_any())
    }

    /// threading's format: `<locked aiosync.RLock object count=2 at 0x…>` (the count is
    /// the owner's levels; the owner, a thread or a task, is not shown).
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let m = &slf.get().m;
        let state = if m.is_locked() { "locked" } else { "unlocked" };
        repr::lock(slf.as_any(), state, &format!(" count={}", m.levels()), "")
    }
}
