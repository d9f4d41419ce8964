//! The locks `synchronized` keeps per function, object or class: conversion only; the
//! per-task re-entry rule (refused, or allowed for `reentrant=True`) is the core's
//! (`aiosync::raw::RawReentrantLock` with `Reentry`).

use crate::bridge::{self, mapped, ready_none};
use crate::locks::RLock;
use crate::owners;
use aiosync::raw::{LockError, RawReentrantLock, Reentry};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::sync::Arc;

const REENTERED: &str = "synchronized async code re-entered by the task that holds its lock; \
this would deadlock (use synchronized(reentrant=True) for a per-task reentrant lock)";

/// The locks of one owner: `sync` (an RLock, for sync callables and `with`) and one
/// task-owned async lock shared by plain and reentrant entries (`async def`, `async with`).
#[pyclass(
    frozen,
    weakref,
    subclass,
    module = "aiosync._aiosync",
    name = "_ObjectLocks"
)]
pub(crate) struct ObjectLocks {
    sync: Py<RLock>,
    task_lock: Arc<RawReentrantLock>,
}

pub(crate) fn refused(e: LockError) -> PyErr {
    match e {
        LockError::Reentered => PyRuntimeError::new_err(REENTERED),
        other => owners::lock_error(other, "synchronized"),
    }
}

impl ObjectLocks {
    pub(crate) fn sync_lock(&self) -> &Py<RLock> {
        &self.sync
    }
    pub(crate) fn task_lock(&self) -> &Arc<RawReentrantLock> {
        &self.task_lock
    }
}

#[pymethods]
impl ObjectLocks {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        Ok(ObjectLocks {
            sync: Py::new(py, RLock::create())?,
            task_lock: Arc::new(RawReentrantLock::new()),
        })
    }

    /// The RLock sync callables and `with synchronized(obj)` take.
    #[getter]
    fn sync(&self, py: Python<'_>) -> Py<RLock> {
        self.sync.clone_ref(py)
    }

    /// Awaitable: takes the async lock for the current task. A task that holds it
    /// already gets one more level if `reentrant`, else `RuntimeError` at once.
    ///
    /// Cancel safety: a cancelled enter takes nothing and leaves its place to the next.
    #[pyo3(signature = (reentrant=false))]
    fn enter(&self, py: Python<'_>, reentrant: bool) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        let h = owners::task(py, &lp, "synchronized async code")?;
        let reentry = if reentrant {
            Reentry::Allow
        } else {
            Reentry::Refuse
        };
        if self.task_lock.try_lock(&h, reentry).map_err(refused)? {
            return Ok(ready_none(py).into_any());
        }
        bridge::waiter(
            py,
            lp,
            None,
            mapped(
                self.task_lock.clone(),
                move |l| l.lock(h, reentry),
                |py, r| r.map(|()| py.None()).map_err(refused),
            ),
        )
    }

    /// Leaves one level the current task holds of the async lock.
    fn leave(&self, py: Python<'_>) -> PyResult<()> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        let h = owners::task(py, &lp, "synchronized async code")?;
        self.task_lock
            .unlock(h.owner())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// Whether the async lock is held.
    fn locked(&self) -> bool {
        self.task_lock.is_locked()
    }

    /// Whether the current task holds the async lock.
    fn held_by_current_task(&self, py: Python<'_>) -> PyResult<bool> {
        let Some(lp) = bridge::running_loop(py)? else {
            return Ok(false);
        };
        let task = bridge::current_task(py, &lp)?;
        if task.is_none() {
            return Ok(false);
        }
        let h = owners::task(py, &lp, "synchronized async code")?;
        Ok(self.task_lock.is_owned_by(h.owner()))
    }

    fn __repr__(&self) -> String {
        let state = if self.locked() { "locked" } else { "unlocked" };
        format!("<aiosync._ObjectLocks [async {state}]>")
    }
}
