//! `aiosync._aiosync.redis` (re-exported as `aiosync.redis`): conversion only; the gates,
//! their queues, leases, tokens, kept holds and reentrancy are the `aiosync-redis`
//! crate's.

mod others;
mod watch;

use crate::bridge::{self, mapped_with, mode, Mode};
use crate::owners;
use aiosync_redis as core;
use parking_lot::Mutex;
use pyo3::exceptions::{PyConnectionError, PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use others::{Event, RLock, RWLock};

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
    sub.add_class::<RLock>()?;
    sub.add_class::<RWLock>()?;
    sub.add_class::<Event>()?;
    sub.add("LeaseLost", py.get_type::<LeaseLost>())?;
    m.add_submodule(&sub)
}

pub(crate) fn error(e: core::Error) -> PyErr {
    match e {
        core::Error::LeaseLost => LeaseLost::new_err("the lease of this hold was lost"),
        core::Error::Config(s) => PyValueError::new_err(s),
        core::Error::TooManyReleases => PyValueError::new_err(e.to_string()),
        core::Error::NotHeld | core::Error::NotOwner => PyRuntimeError::new_err(e.to_string()),
        other => PyConnectionError::new_err(other.to_string()),
    }
}

/// A threading-style timeout (None or -1: no limit) and `blocking` checked together.
pub(crate) fn blocking_timeout(blocking: bool, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    let t = bridge::timeout_arg(timeout)?;
    if !blocking && t.is_some() {
        return Err(PyValueError::new_err(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    Ok(t)
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
        Lock::new(self.inner.lock(name), Kind::Lock)
    }

    /// The reentrant lock named `name` (the same lock as `Lock(name)` across processes).
    #[pyo3(name = "RLock")]
    fn rlock(&self, name: &str) -> RLock {
        RLock::new(self.inner.rlock(name))
    }

    /// The semaphore named `name` with `value` permits.
    #[pyo3(name = "Semaphore", signature = (name, value = 1))]
    fn semaphore(&self, name: &str, value: i64) -> PyResult<Lock> {
        let v = permits(value)?;
        Ok(Lock::semaphore(self.inner.semaphore(name, v)))
    }

    /// As `Semaphore`, but releasing more than was acquired is a `ValueError`.
    #[pyo3(name = "BoundedSemaphore", signature = (name, value = 1))]
    fn bounded_semaphore(&self, name: &str, value: i64) -> PyResult<Lock> {
        let v = permits(value)?;
        Ok(Lock::semaphore(self.inner.bounded_semaphore(name, v)))
    }

    /// The readers-writer lock named `name`.
    #[pyo3(name = "RWLock")]
    fn rwlock(&self, name: &str) -> RWLock {
        let rw = self.inner.rwlock(name);
        RWLock::new(
            Lock::new(rw.reader().clone(), Kind::Reader),
            Lock::new(rw.writer().clone(), Kind::Writer),
        )
    }

    /// The event named `name`.
    #[pyo3(name = "Event")]
    fn event(&self, name: &str) -> Event {
        Event::new(self.inner.event(name))
    }

    /// The lease in seconds.
    #[getter]
    fn lease(&self) -> f64 {
        self.inner.lease().as_secs_f64()
    }

    /// Writes `value` under `key` with `token` if `token` is at least the stored one:
    /// whether it was written.
    fn fenced_set(
        &self,
        py: Python<'_>,
        key: &str,
        value: &Bound<'_, PyAny>,
        token: i128,
    ) -> PyResult<bool> {
        let token = u64::try_from(token)
            .map_err(|_| PyValueError::new_err("a fencing token is not negative"))?;
        let value = fenced_value(value)?;
        py.detach(|| self.inner.fenced_set(key, value, token))
            .map_err(error)
    }

    /// The value under `key` and the token it was written with, or None.
    fn fenced_get(
        &self,
        py: Python<'_>,
        key: &str,
    ) -> PyResult<Option<(Py<pyo3::types::PyBytes>, u64)>> {
        let got = py.detach(|| self.inner.fenced_get(key)).map_err(error)?;
        Ok(got.map(|(v, t)| (pyo3::types::PyBytes::new(py, &v).unbind(), t)))
    }

    /// For failure tests: stop (or restart) renewing leases, as a crashed holder would.
    fn _suspend_heartbeat(&self, suspended: bool) {
        self.inner.suspend_heartbeat(suspended);
    }
}

/// A fenced store's value: bytes (or bytearray) as they are, a str as UTF-8.
fn fenced_value(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = value.cast::<pyo3::types::PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<pyo3::types::PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<pyo3::types::PyByteArray>() {
        return Ok(b.to_vec());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "a fenced value is bytes or str, not {}",
        value.get_type().name()?
    )))
}

fn permits(value: i64) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| PyValueError::new_err("semaphore initial value must be >= 0"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lock,
    Semaphore,
    Reader,
    Writer,
}

/// A Lock, a Semaphore (each hold one permit) or a side of an RWLock, shared by every
/// client of the same server and namespace.
#[pyclass(frozen, module = "aiosync.redis", name = "_Gate")]
pub(crate) struct Lock {
    inner: Arc<core::Lock>,
    sem: Option<core::Semaphore>,
    kind: Kind,
}

impl Lock {
    fn new(inner: core::Lock, kind: Kind) -> Lock {
        Lock {
            inner: Arc::new(inner),
            sem: None,
            kind,
        }
    }

    fn semaphore(sem: core::Semaphore) -> Lock {
        Lock {
            inner: Arc::new(sem.permits().clone()),
            sem: Some(sem),
            kind: Kind::Semaphore,
        }
    }

    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Lock => "Lock",
            Kind::Semaphore => "Semaphore",
            Kind::Reader => "RWLock.reader_lock",
            Kind::Writer => "RWLock.writer_lock",
        }
    }
}

/// Keeps a fresh hold for `owner` and gives its Python view.
fn kept(
    py: Python<'_>,
    lock: &core::Lock,
    owner: aiosync::OwnerId,
    h: core::Hold,
) -> PyResult<Py<PyAny>> {
    let view = Hold::new(lock.clone(), &h);
    lock.keep(owner, h);
    Ok(Py::new(py, view)?.into_any())
}

#[pymethods]
impl Lock {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// asyncio (in a running loop, no arguments): an awaitable giving a Hold.
    /// threading: waits (up to `timeout` seconds; None or -1 is no limit), giving a
    /// Hold, or False if `blocking=False` found it taken or the timeout passed. The hold
    /// is kept for the calling task or thread, for `release()`.
    ///
    /// Cancel safety: a cancelled asyncio acquire leaves the queue, passing on a grant
    /// that reached it meanwhile.
    #[pyo3(signature = (blocking = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, blocking: bool, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, !blocking || timeout.is_some())? {
            Mode::Async(lp) => self.acquire_async_in(py, lp),
            Mode::Blocking => self.acquire_blocking(py, blocking, timeout),
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
    ) -> PyResult<Py<PyAny>> {
        let t = blocking_timeout(blocking, timeout)?;
        let owner = owners::thread().owner();
        let got = if blocking {
            match bridge::block(py, self.inner.lock(), t)? {
                Some(r) => Some(r.map_err(error)?),
                None => None,
            }
        } else {
            py.detach(|| self.inner.try_lock()).map_err(error)?
        };
        match got {
            Some(h) => kept(py, &self.inner, owner, h),
            None => false.into_py_any(py),
        }
    }

    /// Releases the latest hold the calling task or thread took (else any this object
    /// keeps). Without one: a Semaphore gains a permit for good, a BoundedSemaphore
    /// raises ValueError, a Lock RuntimeError. Raises LeaseLost if the hold's lease was
    /// lost (the lock, someone else's now, is left alone).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        // The caller's task if it keeps a hold here, else its thread (then anyone's).
        let owner = match owners::owning(py, |o| self.inner.kept(Some(o)) > 0)? {
            Some(h) => h.owner(),
            None => owners::thread().owner(),
        };
        match py.detach(|| self.inner.release_kept(owner)) {
            Err(core::Error::NotHeld) => match &self.sem {
                Some(s) if s.is_bounded() => Err(PyValueError::new_err(
                    "BoundedSemaphore released too many times",
                )),
                Some(s) => py.detach(|| s.add_permits(1)).map(drop).map_err(error),
                None => Err(PyRuntimeError::new_err(format!(
                    "release of an unheld redis {}",
                    self.what()
                ))),
            },
            r => r.map_err(error),
        }
    }

    /// The asyncio form of `release()` (for `async with`): an awaitable, the round trip
    /// made on the client's I/O thread. A Semaphore without a hold gains a permit.
    ///
    /// Cancel safety: the release is under way once this is called.
    fn _release_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        let owner = match owners::owning(py, |o| self.inner.kept(Some(o)) > 0)? {
            Some(h) => h.owner(),
            None if self.inner.kept(None) == 0 => {
                // Nothing kept: the threading rules (a permit for good, or an error).
                self.release(py)?;
                return Ok(bridge::ready_none(py).into_any());
            }
            None => owners::thread().owner(),
        };
        others::unit_waiter(py, lp, self.inner.release_kept_async(owner))
    }

    /// Whether any client holds it now (a Semaphore: whether every permit is taken):
    /// one round trip.
    fn locked(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| match &self.sem {
            Some(s) => s.locked(),
            None => self.inner.locked(),
        })
        .map_err(error)
    }

    fn __repr__(&self) -> String {
        format!("<aiosync.redis.{} {:?}>", self.what(), self.inner.name())
    }
}

impl Lock {
    fn acquire_async_in(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let owner = owners::task(py, &lp, self.what())?.owner();
        let lock = self.inner.clone();
        // Polled with the GIL released: a poll may make a round trip to the server.
        bridge::waiter(
            py,
            lp,
            Some("acquire()"),
            mapped_with(
                self.inner.clone(),
                |l| l.lock(),
                move |py, r| kept(py, &lock, owner, r.map_err(error)?),
                true,
            ),
        )
    }
}

/// One acquisition: truthy, with its fencing `token`; `release()` ends it.
#[pyclass(frozen, module = "aiosync.redis", name = "Hold")]
pub(crate) struct Hold {
    token: u64,
    lock: core::Lock,
    watch: core::LeaseWatch,
    released: Mutex<bool>,
}

impl Hold {
    fn new(lock: core::Lock, h: &core::Hold) -> Hold {
        Hold {
            token: h.token(),
            lock,
            watch: h.watch(),
            released: Mutex::new(false),
        }
    }
}

#[pymethods]
impl Hold {
    /// The fencing token: greater than every token given before for this name.
    #[getter]
    fn token(&self) -> u64 {
        self.token
    }

    /// Raises LeaseLost once this holder can no longer be sure it holds the lock.
    fn check(&self) -> PyResult<()> {
        if !self.held() {
            return Err(PyRuntimeError::new_err("hold already released"));
        }
        if self.watch.is_lost() {
            return Err(error(core::Error::LeaseLost));
        }
        Ok(())
    }

    /// Whether the lease was lost.
    #[getter]
    fn lost(&self) -> bool {
        self.watch.is_lost()
    }

    /// Releases the hold, granting the next waiters; raises LeaseLost if the lease was
    /// lost (the lock, someone else's now, is left alone).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        match py.detach(|| self.lock.release_kept_token(self.token)) {
            Err(core::Error::NotHeld) => Err(PyRuntimeError::new_err("hold already released")),
            r => {
                *self.released.lock() = true;
                r.map_err(error)
            }
        }
    }

    /// Whether it has not been released yet.
    #[getter]
    fn held(&self) -> bool {
        !*self.released.lock() && self.lock.keeps_token(self.token)
    }

    /// Calls `callback` on the running loop once the lease is lost (never if the hold is
    /// released first); no task watches meanwhile.
    fn _on_lost(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        watch::on_loss(self.watch.clone(), lp.unbind(), callback);
        Ok(())
    }

    fn __bool__(&self) -> bool {
        true
    }

    fn __repr__(&self) -> String {
        let state = if self.held() { "held" } else { "released" };
        format!("<aiosync.redis.Hold token={} {state}>", self.token)
    }
}
