//! The core of RWLock: the per-task ownership rules live in Python (`aiosync._rwlock`).

use crate::aio::{self, mapped, timeout_arg};
use aiosync::{RwLock, RwLockReadGuardArc, RwLockWriteGuardArc};
use parking_lot::Mutex;
use pyo3::prelude::*;
use std::sync::Arc;

// The guards are held only for their `Drop`, which releases the lock.
#[allow(dead_code)]
enum Held {
    Read(RwLockReadGuardArc<()>),
    Write(RwLockWriteGuardArc<()>),
}

/// One held read or write lock; `release()` gives it back.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_RwGuard")]
pub(crate) struct RwGuard {
    held: Mutex<Option<Held>>,
}

impl RwGuard {
    fn new(h: Held) -> RwGuard {
        RwGuard {
            held: Mutex::new(Some(h)),
        }
    }
}

#[pymethods]
impl RwGuard {
    fn release(&self) -> PyResult<()> {
        match self.held.lock().take() {
            Some(h) => {
                drop(h);
                Ok(())
            }
            None => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Cannot release an un-acquired lock",
            )),
        }
    }

    /// Turns a write guard into a read guard (no writer in between).
    fn downgrade(&self) -> PyResult<()> {
        let mut held = self.held.lock();
        match held.take() {
            Some(Held::Write(g)) => {
                *held = Some(Held::Read(RwLockWriteGuardArc::downgrade(g)));
                Ok(())
            }
            other => {
                *held = other;
                Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "not a held write lock",
                ))
            }
        }
    }

    #[getter]
    fn write(&self) -> bool {
        matches!(*self.held.lock(), Some(Held::Write(_)))
    }
}

/// A writer-preferring FIFO read-write lock (see `aiosync::RwLock`).
#[pyclass(frozen, module = "aiosync._aiosync", name = "_RwCore")]
pub(crate) struct RwCore {
    l: Arc<RwLock<()>>,
}

fn guard(py: Python<'_>, h: Held) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, RwGuard::new(h))?.into_any())
}

#[pymethods]
impl RwCore {
    #[new]
    fn new() -> Self {
        RwCore {
            l: Arc::new(RwLock::new(())),
        }
    }

    fn try_read(&self) -> Option<RwGuard> {
        self.l.try_read_arc().map(|g| RwGuard::new(Held::Read(g)))
    }

    fn try_write(&self) -> Option<RwGuard> {
        self.l.try_write_arc().map(|g| RwGuard::new(Held::Write(g)))
    }

    /// Awaitable giving a read guard.
    fn read_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = aio::running_loop(py)?
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no running event loop"))?;
        let l = self.l.clone();
        aio::waiter(
            py,
            lp,
            mapped(
                self.l.clone(),
                move |_| l.read_arc(),
                |py, g| guard(py, Held::Read(g)),
            ),
        )
    }

    /// Awaitable giving the write guard.
    fn write_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = aio::running_loop(py)?
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no running event loop"))?;
        let l = self.l.clone();
        aio::waiter(
            py,
            lp,
            mapped(
                self.l.clone(),
                move |_| l.write_arc(),
                |py, g| guard(py, Held::Write(g)),
            ),
        )
    }

    /// Blocks for a read guard, or None after `timeout`.
    #[pyo3(signature = (timeout=None))]
    fn read_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<RwGuard>> {
        let t = timeout_arg(timeout)?;
        let l = &self.l;
        Ok(py
            .detach(|| aiosync::block_on(l.read_arc(), t))
            .map(|g| RwGuard::new(Held::Read(g))))
    }

    /// Blocks for the write guard, or None after `timeout`.
    #[pyo3(signature = (timeout=None))]
    fn write_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<RwGuard>> {
        let t = timeout_arg(timeout)?;
        let l = &self.l;
        Ok(py
            .detach(|| aiosync::block_on(l.write_arc(), t))
            .map(|g| RwGuard::new(Held::Write(g))))
    }

    #[getter]
    fn write_locked(&self) -> bool {
        self.l.is_write_locked()
    }

    #[getter]
    fn locked(&self) -> bool {
        self.l.is_locked()
    }
}
