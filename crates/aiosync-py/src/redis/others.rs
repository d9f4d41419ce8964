//! RLock, RWLock and Event of `aiosync.redis`: conversion only (the owner, hold count
//! and flag are the `aiosync-redis` crate's).

use super::{blocking_timeout, error, Lock};
use crate::bridge::{self, mapped_with, mode, wait_timeout_arg, Mode};
use crate::owners;
use aiosync_redis as core;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

/// An awaitable on `lp` for `fut`, a release already under way: None, or its error.
pub(super) fn unit_waiter(
    py: Python<'_>,
    lp: Bound<'_, PyAny>,
    fut: impl std::future::Future<Output = Result<(), core::Error>> + Send + 'static,
) -> PyResult<Py<PyAny>> {
    bridge::waiter(
        py,
        lp,
        None,
        mapped_with(
            Arc::new(parking_lot::Mutex::new(Some(fut))),
            |slot| {
                let fut = slot.lock().take();
                async move {
                    match fut {
                        Some(f) => f.await,
                        None => Ok(()),
                    }
                }
            },
            |py, r| {
                r.map_err(error)?;
                Ok(py.None())
            },
            false,
        ),
    )
}

/// A reentrant lock across processes: one owner (thread or asyncio task) at a time, any
/// number of levels.
#[pyclass(frozen, module = "aiosync.redis", name = "_RLock")]
pub(crate) struct RLock {
    inner: Arc<core::RLock>,
}

impl RLock {
    pub(super) fn new(inner: core::RLock) -> RLock {
        RLock {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl RLock {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// asyncio (in a running loop, no arguments): an awaitable giving True, the task the
    /// owner. threading: True, or False if `blocking=False` found it taken or the
    /// timeout passed; the thread the owner.
    ///
    /// Cancel safety: a cancelled asyncio acquire leaves the queue.
    #[pyo3(signature = (blocking = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, blocking: bool, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, !blocking || timeout.is_some())? {
            Mode::Async(lp) => self.acquire_async_in(py, lp),
            Mode::Blocking => self
                .acquire_blocking(py, blocking, timeout)?
                .into_py_any(py),
        }
    }

    /// The asyncio form of `acquire`, whatever the context.
    fn acquire_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        self.acquire_async_in(py, lp)
    }

    /// The threading form of `acquire`, whatever the context.
    #[pyo3(signature = (blocking = true, timeout = None))]
    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let t = blocking_timeout(blocking, timeout)?;
        let owner = owners::thread().owner();
        let r = if !blocking {
            py.detach(|| self.inner.try_lock_as(owner))
        } else {
            // Held by `owner` already: another level at once, without a round trip.
            match bridge::block(py, self.inner.lock_as(owner), t)? {
                Some(r) => r.map(Some),
                None => Ok(None),
            }
        };
        Ok(r.map_err(error)?.is_some())
    }

    /// Drops one level of the calling task's (else thread's) hold; the last releases the
    /// lock (raising LeaseLost if its lease was lost). RuntimeError if the caller does
    /// not hold it.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let owner = owners::owning(py, |o| self.inner.levels(o) > 0)?
            .map(|h| h.owner())
            .ok_or_else(|| error(core::Error::NotOwner))?;
        py.detach(|| self.inner.release_as(owner)).map_err(error)
    }

    /// The asyncio form of `release()` (for `async with`): an awaitable, the last
    /// level's round trip made on the client's I/O thread.
    ///
    /// Cancel safety: the level is dropped once this is called.
    fn _release_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        let owner = owners::owning(py, |o| self.inner.levels(o) > 0)?
            .map(|h| h.owner())
            .ok_or_else(|| error(core::Error::NotOwner))?;
        unit_waiter(py, lp, self.inner.release_as_async(owner))
    }

    /// The fencing token of the caller's hold, or None if it does not hold the lock.
    #[getter]
    fn token(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        Ok(owners::owning(py, |o| self.inner.levels(o) > 0)?
            .and_then(|h| self.inner.token_of(h.owner())))
    }

    /// Raises LeaseLost once the lease of the current hold is lost; RuntimeError if
    /// nobody in this process holds it.
    fn check(&self) -> PyResult<()> {
        self.inner.check().map_err(error)
    }

    /// Whether the caller holds it (threading.RLock's private `_is_owned`).
    fn _is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(owners::owning(py, |o| self.inner.levels(o) > 0)?.is_some())
    }

    /// Calls `callback` on the running loop once the current hold's lease is lost (never
    /// if it is released first): False if nobody here holds it.
    fn _on_lost(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<bool> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        Ok(match self.inner.watch() {
            Some(w) => {
                super::watch::on_loss(w, lp.unbind(), callback);
                true
            }
            None => false,
        })
    }

    fn __repr__(&self) -> String {
        format!("<aiosync.redis.RLock {:?}>", self.inner.name())
    }
}

impl RLock {
    fn acquire_async_in(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let owner = owners::task(py, &lp, "RLock")?.owner();
        bridge::waiter(
            py,
            lp,
            Some("RLock.acquire()"),
            mapped_with(
                self.inner.clone(),
                move |l| l.lock_as(owner),
                |py, r| {
                    r.map_err(error)?;
                    true.into_py_any(py)
                },
                true,
            ),
        )
    }
}

/// A readers-writer lock across processes: `reader_lock` and `writer_lock`.
#[pyclass(frozen, module = "aiosync.redis", name = "_RWLock")]
pub(crate) struct RWLock {
    reader: Py<Lock>,
    writer: Py<Lock>,
}

impl RWLock {
    pub(super) fn new(reader: Lock, writer: Lock) -> RWLock {
        Python::attach(|py| RWLock {
            reader: Py::new(py, reader).expect("allocate the reader side"),
            writer: Py::new(py, writer).expect("allocate the writer side"),
        })
    }
}

#[pymethods]
impl RWLock {
    /// The shared side: each hold is one reader.
    #[getter]
    fn reader_lock(&self, py: Python<'_>) -> Py<Lock> {
        self.reader.clone_ref(py)
    }

    /// The exclusive side.
    #[getter]
    fn writer_lock(&self, py: Python<'_>) -> Py<Lock> {
        self.writer.clone_ref(py)
    }
}

/// An event across processes: `set()` wakes every waiter of every client.
#[pyclass(frozen, module = "aiosync.redis", name = "_Event")]
pub(crate) struct Event {
    inner: Arc<core::Event>,
}

impl Event {
    pub(super) fn new(inner: core::Event) -> Event {
        Event {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl Event {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether it is set: one round trip.
    fn is_set(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| self.inner.is_set()).map_err(error)
    }

    /// Sets it and wakes every waiter of every client.
    fn set(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.set()).map(drop).map_err(error)
    }

    /// Resets it.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.clear()).map_err(error)
    }

    /// asyncio (in a running loop, no timeout): an awaitable giving True once set.
    /// threading: waits up to `timeout` seconds (None: no limit); whether it was set.
    ///
    /// Cancel safety: a cancelled wait only stops waiting.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async_in(py, lp),
            Mode::Blocking => self.wait_blocking(py, timeout)?.into_py_any(py),
        }
    }

    /// The asyncio form of `wait`, whatever the context.
    fn wait_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        self.wait_async_in(py, lp)
    }

    /// The threading form of `wait`, whatever the context.
    #[pyo3(signature = (timeout = None))]
    fn wait_blocking(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let t = wait_timeout_arg(timeout)?;
        match bridge::block(py, self.inner.wait(), t)? {
            Some(r) => r.map(|()| true).map_err(error),
            None => Ok(false),
        }
    }

    fn __repr__(&self) -> String {
        format!("<aiosync.redis.Event {:?}>", self.inner.name())
    }
}

impl Event {
    fn wait_async_in(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        bridge::waiter(
            py,
            lp,
            Some("Event.wait()"),
            mapped_with(
                self.inner.clone(),
                |e| e.wait(),
                |py, r| {
                    r.map_err(error)?;
                    true.into_py_any(py)
                },
                true,
            ),
        )
    }
}
