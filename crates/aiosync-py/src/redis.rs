//! `aiosync._aiosync.redis` (re-exported as `aiosync.redis`): conversion only; the lock,
//! its queue, leases and tokens are the `aiosync-redis` crate's.

use crate::bridge::{self, mapped_with, mode, Mode};
use aiosync_redis as core;
use parking_lot::Mutex;
use pyo3::exceptions::{PyConnectionError, PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::sync::Arc;
use std::time::Duration;

pyo3::create_exception!(
    redis,
    LeaseLost,
    PyException,
    "The lease of a hold ran out, or another owner holds the lock now."
);

/// Registers the submodule `redis` on the extension module `m`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let sub = PyModule::new(py, "redis")?;
    sub.add_class::<Client>()?;
    sub.add_class::<Lock>()?;
    sub.add_class::<Hold>()?;
    sub.add("LeaseLost", py.get_type::<LeaseLost>())?;
    m.add_submodule(&sub)
}

fn error(e: core::Error) -> PyErr {
    match e {
        core::Error::LeaseLost => LeaseLost::new_err("the lease of this hold was lost"),
        core::Error::Config(s) => PyValueError::new_err(s),
        other => PyConnectionError::new_err(other.to_string()),
    }
}

/// A connection to one Redis server, shared by every thread and event loop.
#[pyclass(frozen, module = "aiosync.redis", name = "Client")]
pub(crate) struct Client {
    inner: core::Client,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (url, *, namespace = "aiosync".to_owned(), lease = 10.0))]
    fn new(py: Python<'_>, url: String, namespace: String, lease: f64) -> PyResult<Self> {
        if !(lease.is_finite() && lease > 0.0) {
            return Err(PyValueError::new_err(
                "lease must be a positive number of seconds",
            ));
        }
        let lease = Duration::from_secs_f64(lease);
        let inner = py
            .detach(|| core::Client::open(&url, &namespace, lease))
            .map_err(error)?;
        Ok(Client { inner })
    }

    /// The lock named `name` in this client's namespace.
    #[pyo3(name = "Lock")]
    fn lock(&self, name: &str) -> Lock {
        Lock {
            inner: Arc::new(self.inner.lock(name)),
        }
    }

    /// The lease in seconds.
    #[getter]
    fn lease(&self) -> f64 {
        self.inner.lease().as_secs_f64()
    }

    /// For failure tests: stop (or restart) renewing leases, as a crashed holder would.
    fn _suspend_heartbeat(&self, suspended: bool) {
        self.inner.suspend_heartbeat(suspended);
    }
}

/// A FIFO lock shared by every client of the same server and namespace.
#[pyclass(frozen, module = "aiosync.redis", name = "Lock")]
pub(crate) struct Lock {
    inner: Arc<core::Lock>,
}

fn hold_value(py: Python<'_>, r: Result<core::Hold, core::Error>) -> PyResult<Py<PyAny>> {
    let hold = r.map_err(error)?;
    Ok(Py::new(py, Hold::new(hold))?.into_any())
}

#[pymethods]
impl Lock {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// asyncio (in a running loop, no arguments): an awaitable giving a Hold.
    /// threading: waits (up to `timeout` seconds; None or -1 is no limit), giving a
    /// Hold, or False if `blocking=False` found it taken or the timeout passed.
    ///
    /// Cancel safety: a cancelled asyncio acquire leaves the queue, passing on a lock
    /// handed to it meanwhile.
    #[pyo3(signature = (blocking = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, blocking: bool, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, !blocking || timeout.is_some())? {
            Mode::Async(lp) => self.acquire_async_in(py, lp),
            Mode::Blocking => self.acquire_blocking(py, blocking, timeout),
        }
    }

    /// The asyncio form of `acquire`, whatever the context.
    fn acquire_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?
            .ok_or_else(|| PyRuntimeError::new_err("no running event loop"))?;
        self.acquire_async_in(py, lp)
    }

    /// The threading form of `acquire`, whatever the context.
    #[pyo3(signature = (blocking = true, timeout = None))]
    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let t = match timeout {
            None => None,
            Some(-1.0) => None,
            Some(t) if t < 0.0 || t.is_nan() => {
                return Err(PyValueError::new_err(
                    "timeout value must be a non-negative number",
                ))
            }
            Some(t) => Some(Duration::from_secs_f64(t)),
        };
        if !blocking {
            if timeout.is_some() {
                return Err(PyValueError::new_err(
                    "can't specify a timeout for a non-blocking call",
                ));
            }
            return match py.detach(|| self.inner.try_lock()).map_err(error)? {
                Some(h) => hold_value(py, Ok(h)),
                None => false.into_py_any(py),
            };
        }
        match bridge::block(py, self.inner.lock(), t)? {
            Some(r) => hold_value(py, r),
            None => false.into_py_any(py),
        }
    }

    fn __repr__(&self) -> String {
        format!("<aiosync.redis.Lock {:?}>", self.inner.name())
    }
}

impl Lock {
    fn acquire_async_in(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        // Polled with the GIL released: a poll may make a round trip to the server.
        bridge::waiter(
            py,
            lp,
            Some("Lock.acquire()"),
            mapped_with(self.inner.clone(), |l| l.lock(), hold_value, true),
        )
    }
}

/// One acquisition: truthy, with its fencing `token`; `release()` ends it.
#[pyclass(frozen, module = "aiosync.redis", name = "Hold")]
pub(crate) struct Hold {
    token: u64,
    inner: Mutex<Option<core::Hold>>,
}

impl Hold {
    fn new(h: core::Hold) -> Hold {
        Hold {
            token: h.token(),
            inner: Mutex::new(Some(h)),
        }
    }
}

#[pymethods]
impl Hold {
    /// The fencing token: greater than every token given before for this lock name.
    #[getter]
    fn token(&self) -> u64 {
        self.token
    }

    /// Raises LeaseLost once this holder can no longer be sure it holds the lock.
    fn check(&self) -> PyResult<()> {
        match &*self.inner.lock() {
            Some(h) => h.check().map_err(error),
            None => Err(PyRuntimeError::new_err("hold already released")),
        }
    }

    /// Releases the lock, handing it to the next waiter; raises LeaseLost if the lease
    /// was lost (the lock, someone else's now, is left alone).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let h = self
            .inner
            .lock()
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("hold already released"))?;
        py.detach(|| h.release()).map_err(error)
    }

    /// Whether it has not been released yet.
    #[getter]
    fn held(&self) -> bool {
        self.inner.lock().is_some()
    }

    fn __bool__(&self) -> bool {
        true
    }

    fn __repr__(&self) -> String {
        let state = if self.held() { "held" } else { "released" };
        format!("<aiosync.redis.Hold token={} {state}>", self.token)
    }
}
