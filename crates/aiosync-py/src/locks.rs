//! Lock, Semaphore, BoundedSemaphore and RLock.

use crate::aio::{self, mapped, ready_none, running_loop, timeout_arg};
use aiosync::{OwnerId, ReentrantMutex, Semaphore as CoreSemaphore};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a call that has an asyncio and a threading form should run.
pub(crate) enum Mode<'py> {
    Async(Bound<'py, PyAny>),
    Blocking,
}

/// Threading-style arguments, or no running loop in this thread, mean blocking.
pub(crate) fn mode(py: Python<'_>, threading_args: bool) -> PyResult<Mode<'_>> {
    if threading_args {
        return Ok(Mode::Blocking);
    }
    Ok(match running_loop(py)? {
        Some(lp) => Mode::Async(lp),
        None => Mode::Blocking,
    })
}

/// Validates `acquire(blocking, timeout)` as `threading.Lock` does.
pub(crate) fn blocking_args(
    blocking: Option<bool>,
    timeout: Option<f64>,
) -> PyResult<(bool, Option<Duration>)> {
    let blocking = blocking.unwrap_or(true);
    let t = timeout_arg(timeout)?;
    if !blocking && t.is_some() {
        return Err(PyValueError::new_err(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    Ok((blocking, t))
}

fn no_loop() -> PyErr {
    PyRuntimeError::new_err("no running event loop")
}

/// Permits plus the thread that last took one: the engine of Lock and the semaphores.
pub(crate) struct Permits {
    sem: CoreSemaphore,
    holder: AtomicU64,
}

impl Permits {
    fn new(sem: CoreSemaphore) -> Arc<Permits> {
        Arc::new(Permits {
            sem,
            holder: AtomicU64::new(0),
        })
    }

    fn took(&self) {
        self.holder.store(aio::thread_tag(), Ordering::Relaxed);
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        match self.sem.try_acquire() {
            Some(g) => {
                g.forget();
                self.took();
                true
            }
            None => false,
        }
    }

    /// An awaitable acquire giving `value`.
    fn acquire_async(
        self: &Arc<Self>,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let me = self.clone();
        aio::waiter(
            py,
            lp,
            mapped(
                self.clone(),
                |p| p.sem.acquire(),
                move |py, g| {
                    g.forget();
                    me.took();
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
        check_own_loop: Option<&str>,
    ) -> PyResult<bool> {
        if self.try_acquire() {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        // A lock held by a task of this thread's own running loop: waiting here blocks
        // that loop, so the holder could never release. (Not for semaphores: any thread
        // may release one.)
        if let Some(what) = check_own_loop {
            if self.holder.load(Ordering::Relaxed) == aio::thread_tag()
                && running_loop(py)?.is_some()
            {
                return Err(PyRuntimeError::new_err(format!(
                    "a blocking {what} acquire on the thread whose running event loop holds \
                     it would deadlock; use `await` (or `async with`) instead"
                )));
            }
        }
        let ok = match aio::block(py, self.sem.acquire(), timeout)? {
            Some(g) => {
                g.forget();
                true
            }
            None => false,
        };
        if ok {
            self.took();
        }
        Ok(ok)
    }
}

/// A lock shared by threads and any number of asyncio event loops.
#[pyclass(frozen, module = "aiosync._aiosync", name = "Lock")]
pub(crate) struct Lock {
    p: Arc<Permits>,
}

#[pymethods]
impl Lock {
    #[new]
    fn new() -> Self {
        Lock {
            p: Permits::new(CoreSemaphore::bounded(1)),
        }
    }

    /// asyncio: `await lock.acquire()`. threading: `lock.acquire(blocking=True, timeout=-1)`.
    #[pyo3(signature = (blocking=None, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: Option<bool>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, blocking.is_some() || timeout.is_some())? {
            // Lazy: nothing happens until it is awaited (as an asyncio coroutine), so an
            // acquire cancelled before it runs cannot leak the lock.
            Mode::Async(lp) => self.p.acquire_async(py, lp, true.into_py_any(py)?),
            Mode::Blocking => {
                let (b, t) = blocking_args(blocking, timeout)?;
                self.p
                    .acquire_blocking(py, b, t, Some("Lock"))?
                    .into_py_any(py)
            }
        }
    }

    fn release(&self) -> PyResult<()> {
        // Forget the holder first: the next taker records itself after this.
        let was = self.p.holder.swap(0, Ordering::Relaxed);
        self.p.sem.add_permits(1).map_err(|_| {
            self.p.holder.store(was, Ordering::Relaxed);
            PyRuntimeError::new_err("Lock is not acquired.")
        })
    }

    fn locked(&self) -> bool {
        self.p.sem.available_permits() == 0
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.p.acquire_blocking(py, true, None, Some("Lock"))
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release()
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.p.try_acquire() {
            return Ok(ready_none(py).into_any());
        }
        let lp = running_loop(py)?.ok_or_else(no_loop)?;
        self.p.acquire_async(py, lp, py.None())
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release()?;
        Ok(ready_none(py).into_any())
    }

    fn __repr__(&self) -> String {
        let state = if self.locked() { "locked" } else { "unlocked" };
        format!("<aiosync.Lock [{state}]>")
    }
}

/// A counting semaphore shared by threads and any number of asyncio event loops.
#[pyclass(frozen, subclass, module = "aiosync._aiosync", name = "Semaphore")]
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
    #[new]
    #[pyo3(signature = (value=1))]
    fn new(value: i64) -> PyResult<Self> {
        Semaphore::create(value, false)
    }

    /// asyncio: `await sem.acquire()`. threading: `sem.acquire(blocking=True, timeout=None)`.
    #[pyo3(signature = (blocking=None, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: Option<bool>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, blocking.is_some() || timeout.is_some())? {
            // Lazy: nothing happens until it is awaited (as an asyncio coroutine), so an
            // acquire cancelled before it runs cannot leak the lock.
            Mode::Async(lp) => self.p.acquire_async(py, lp, true.into_py_any(py)?),
            Mode::Blocking => {
                let (b, t) = blocking_args(blocking, timeout)?;
                self.p.acquire_blocking(py, b, t, None)?.into_py_any(py)
            }
        }
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
        self.p.acquire_blocking(py, true, None, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release(1)
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.p.try_acquire() {
            return Ok(ready_none(py).into_any());
        }
        let lp = running_loop(py)?.ok_or_else(no_loop)?;
        self.p.acquire_async(py, lp, py.None())
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release(1)?;
        Ok(ready_none(py).into_any())
    }

    fn __repr__(&self) -> String {
        let kind = if self.bounded {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        };
        format!("<aiosync.{kind} [value={}]>", self._value())
    }
}

/// A semaphore that refuses to be released above its initial value.
#[pyclass(frozen, extends = Semaphore, module = "aiosync._aiosync", name = "BoundedSemaphore")]
pub(crate) struct BoundedSemaphore;

#[pymethods]
impl BoundedSemaphore {
    #[new]
    #[pyo3(signature = (value=1))]
    fn new(value: i64) -> PyResult<PyClassInitializer<Self>> {
        Ok(
            PyClassInitializer::from(Semaphore::create(value, true)?)
                .add_subclass(BoundedSemaphore),
        )
    }
}

/// The identity of the caller: the current task when a loop runs in this thread and the
/// call is an asyncio one, else the thread.
fn task_owner(py: Python<'_>, lp: &Bound<'_, PyAny>) -> PyResult<OwnerId> {
    let task = aio::current_task(py, lp)?;
    if task.is_none() {
        return Err(PyRuntimeError::new_err(
            "RLock needs a running asyncio task",
        ));
    }
    Ok(OwnerId::from_raw(task.as_ptr() as u64).expect("an object's address is not zero"))
}

/// Threads get small numbers, never a Python object's address.
fn thread_owner() -> OwnerId {
    OwnerId::from_raw(aio::thread_tag()).expect("thread tags start at 1")
}

/// A reentrant lock: owned by the thread (threading calls) or the asyncio task (asyncio
/// calls) that acquired it, which may acquire it again.
#[pyclass(frozen, module = "aiosync._aiosync", name = "RLock")]
pub(crate) struct RLock {
    m: Arc<ReentrantMutex<()>>,
    /// Thread of the last acquirer, to refuse a blocking wait that could never succeed.
    holder_thread: Arc<AtomicU64>,
}

impl RLock {
    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let me = thread_owner();
        if let Some(g) = self.m.try_lock_as(me) {
            std::mem::forget(g);
            self.took();
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        // Held by a task of this thread's own running loop: waiting would block the loop
        // that must release it.
        if self.holder_thread.load(Ordering::Relaxed) == aio::thread_tag()
            && running_loop(py)?.is_some()
        {
            return Err(PyRuntimeError::new_err(
                "a blocking RLock acquire on the thread whose running event loop holds it \
                 (through a task) would deadlock; use `await` (or `async with`) instead",
            ));
        }
        let ok = match aio::block(py, self.m.lock_as(me), timeout)? {
            Some(r) => {
                std::mem::forget(r.expect("an explicit owner needs no task identity"));
                true
            }
            None => false,
        };
        if ok {
            self.took();
        }
        Ok(ok)
    }

    fn took(&self) {
        self.holder_thread
            .store(aio::thread_tag(), Ordering::Relaxed);
    }

    /// Leaves one level held by `o`; the last one forgets the holder thread first.
    fn unlock(&self, o: OwnerId) -> PyResult<()> {
        if self.m.levels_of(o) == 1 {
            self.holder_thread.store(0, Ordering::Relaxed);
        }
        self.m
            .unlock_as(o)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    fn acquire_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
        eager: bool,
    ) -> PyResult<Py<PyAny>> {
        let me = task_owner(py, &lp)?;
        if eager {
            if let Some(g) = self.m.try_lock_as(me) {
                std::mem::forget(g);
                self.took();
                return Ok(aio::ready(py, value)?.into_any());
            }
        }
        let holder = self.holder_thread.clone();
        aio::waiter(
            py,
            lp,
            mapped(
                self.m.clone(),
                move |m| m.lock_as(me),
                move |py, r| {
                    std::mem::forget(r.expect("an explicit owner needs no task identity"));
                    holder.store(aio::thread_tag(), Ordering::Relaxed);
                    Ok(value.clone_ref(py))
                },
            ),
        )
    }

    /// The owner that holds it among the caller's identities (task first, then thread).
    fn holder(&self, py: Python<'_>) -> PyResult<Option<OwnerId>> {
        if let Some(lp) = running_loop(py)? {
            let task = aio::current_task(py, &lp)?;
            if !task.is_none() {
                let t = OwnerId::from_raw(task.as_ptr() as u64).expect("non-null");
                if self.m.is_owned_by(t) {
                    return Ok(Some(t));
                }
            }
        }
        let me = thread_owner();
        Ok(self.m.is_owned_by(me).then_some(me))
    }
}

#[pymethods]
impl RLock {
    #[new]
    fn new() -> Self {
        RLock {
            m: Arc::new(ReentrantMutex::new(())),
            holder_thread: Arc::new(AtomicU64::new(0)),
        }
    }

    /// asyncio: `await rlock.acquire()` (owner: the task). threading:
    /// `rlock.acquire(blocking=True, timeout=-1)` (owner: the thread).
    #[pyo3(signature = (blocking=None, timeout=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        blocking: Option<bool>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, blocking.is_some() || timeout.is_some())? {
            Mode::Async(lp) => self.acquire_async(py, lp, true.into_py_any(py)?, false),
            Mode::Blocking => {
                let (b, t) = blocking_args(blocking, timeout)?;
                self.acquire_blocking(py, b, t)?.into_py_any(py)
            }
        }
    }

    /// Leaves one level; only the owner may.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        match self.holder(py)? {
            Some(o) => self.unlock(o),
            None => Err(PyRuntimeError::new_err("cannot release un-acquired lock")),
        }
    }

    fn locked(&self) -> bool {
        self.m.is_locked()
    }

    /// Whether the caller (its task or thread) holds it.
    fn _is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.holder(py)?.is_some())
    }

    /// Releases every level the caller holds, returning how many (for Condition).
    fn _release_save(&self, py: Python<'_>) -> PyResult<usize> {
        let o = self
            .holder(py)?
            .ok_or_else(|| PyRuntimeError::new_err("cannot release un-acquired lock"))?;
        let n = self.m.levels_of(o);
        for _ in 0..n {
            self.unlock(o)?;
        }
        Ok(n)
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_blocking(py, true, None)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.unlock(thread_owner())
    }

    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = running_loop(py)?.ok_or_else(no_loop)?;
        self.acquire_async(py, lp, py.None(), true)
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let lp = running_loop(py)?.ok_or_else(no_loop)?;
        self.unlock(task_owner(py, &lp)?)?;
        Ok(ready_none(py).into_any())
    }

    fn __repr__(&self) -> String {
        let state = if self.locked() { "locked" } else { "unlocked" };
        format!("<aiosync.RLock [{state}]>")
    }
}
