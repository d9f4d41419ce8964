//! RWLock (aiorwlock's surface): conversion only; per-owner holds, reentrancy, downgrade,
//! the upgrade refusal and the deadlock rule are the core's (`aiosync::raw::RawRwLock`).

use crate::bridge::{self, mapped, ready_none};
use crate::bridge::{Flag, IntFlag};
use crate::owners;
use aiosync::raw::{Holder, LockError, RawRwLock, Upgrade};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;
use std::time::Duration;

/// A read-write lock shared by threads and any number of event loops.
///
/// Many readers or one writer; a waiting writer blocks new readers, and the readers
/// queued meanwhile go in together after it (writer-preferring FIFO). Ownership is per
/// asyncio task (per thread outside tasks), as in aiorwlock: a writer may take the read
/// lock too, and a reader asking for the write lock gets `RuntimeError` (an upgrade
/// would deadlock). As in aiorwlock, an asyncio acquire belongs to the task that awaits
/// it: `asyncio.create_task(rw.writer_lock.acquire())` makes that task the writer (and
/// on Python 3.11, so does `asyncio.wait_for`, which awaits in a task of its own).
///
/// `RWLock(fast=False)` (the default), as aiorwlock's: an asyncio acquire that gets the
/// lock without waiting (uncontended, or re-entered) yields once to the event loop before
/// it returns, so a task that loops on acquire and release lets the other tasks of its
/// loop run; a task cancelled during that yield does not keep the lock. `fast=True`:
/// such an acquire returns at once, without yielding.
#[pyclass(frozen, weakref, module = "aiosync._aiosync", name = "RWLock")]
pub(crate) struct RWLock {
    reader: Py<RWSide>,
    writer: Py<RWSide>,
}

/// `rwlock.reader_lock` or `rwlock.writer_lock`.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_RWLockSide")]
pub(crate) struct RWSide {
    rw: Arc<RawRwLock>,
    write: bool,
    /// Not `fast`: an asyncio acquire that did not wait yields once to the loop.
    settle: bool,
}

fn unheld() -> PyErr {
    PyRuntimeError::new_err("Cannot release an un-acquired lock")
}

fn refused(e: LockError) -> PyErr {
    owners::lock_error(e, "RWLock")
}

impl RWSide {
    fn try_take(&self, h: &Holder) -> Result<bool, LockError> {
        if self.write {
            self.rw.try_write(h, Upgrade::Refuse)
        } else {
            Ok(self.rw.try_read(h))
        }
    }

    /// An awaitable acquire giving `value`, owned by the task that awaits it; not `fast`,
    /// it yields once to the loop if it got the lock without waiting, and releases it if
    /// cancelled during that yield.
    fn acquire_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        value: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let write = self.write;
        let rw = self.rw.clone();
        let settle = self.settle;
        let start = move |h: Holder| {
            let owner = h.owner();
            let acquire = mapped(
                rw.clone(),
                move |rw| {
                    if write {
                        rw.write(h, Upgrade::Refuse)
                    } else {
                        rw.read(h)
                    }
                },
                move |py, r| r.map(|()| value.clone_ref(py)).map_err(refused),
            );
            if !settle {
                return acquire;
            }
            // The level this acquire took, given back if its result is never delivered.
            bridge::undoable(acquire, move || {
                let released = if write {
                    rw.release_write(owner)
                } else {
                    rw.release_read(owner)
                };
                debug_assert!(released.is_ok(), "the acquire had taken it");
            })
        };
        let acquire = owners::deferred(owners::caller, start);
        let what = Some("RWLock acquire()");
        if self.settle {
            bridge::settling_waiter(py, lp, what, acquire)
        } else {
            bridge::waiter(py, lp, what, acquire)
        }
    }

    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> PyResult<bool> {
        let h = owners::caller(py)?;
        if self.try_take(&h).map_err(refused)? {
            return Ok(true);
        }
        if !blocking {
            return Ok(false);
        }
        self.rw
            .check_blocking(&h, owners::loop_running(py)?)
            .map_err(refused)?;
        let fut = if self.write {
            self.rw.write(h, Upgrade::Refuse)
        } else {
            self.rw.read(h)
        };
        match bridge::block(py, fut, timeout)? {
            Some(r) => r.map(|()| true).map_err(refused),
            None => Ok(false),
        }
    }

    fn release_as(&self, py: Python<'_>) -> PyResult<()> {
        let write = self.write;
        let rw = &self.rw;
        let holder = owners::owning(py, |o| {
            let (reads, writes) = rw.levels_of(o);
            if write {
                writes > 0
            } else {
                reads > 0
            }
        })?
        .ok_or_else(unheld)?;
        let r = if write {
            rw.release_write(holder.owner())
        } else {
            rw.release_read(holder.owner())
        };
        r.map_err(|_| unheld())
    }
}

#[pymethods]
impl RWSide {
    /// Writer side: a writer holds it. Reader side: readers hold it (a writer that also
    /// took the read lock counts), as aiorwlock's.
    #[getter]
    fn locked(&self) -> bool {
        if self.write {
            self.rw.is_write_locked()
        } else {
            self.rw.read_holders() > 0
        }
    }

    /// asyncio: `await lock.acquire()`. threading: `acquire(blocking=True, timeout=-1)`.
    /// Unless the RWLock is `fast`, an asyncio acquire that did not wait yields once to
    /// the loop before it returns (as aiorwlock's).
    ///
    /// Cancel safety: a cancelled asyncio acquire takes nothing and leaves its place to
    /// the next waiter; cancelled during the yield after it got the lock, it releases it.
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

    /// The asyncio form of `acquire()` whatever the caller: an awaitable giving True.
    ///
    /// Cancel safety: as `acquire`.
    #[pyo3(name = "acquire_async")]
    fn acquire_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        bridge::async_form(py, |lp, value| self.acquire_async(py, lp, value))
    }

    /// The threading form of `acquire()` whatever the caller: blocks, returns whether it
    /// got the lock.
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

    /// Leaves one level held by the caller (its task, or its thread).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.release_as(py)
    }

    /// `async with lock:` takes it for the current task: as `await lock.acquire()` (with
    /// its yield unless `fast`); `fast` and uncontended, it never yields.
    ///
    /// Cancel safety: as `acquire`.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
        if self.settle {
            return self.acquire_async(py, lp, py.None());
        }
        let h = owners::caller(py)?;
        if self.try_take(&h).map_err(refused)? {
            return Ok(ready_none(py).into_any());
        }
        self.acquire_async(py, lp, py.None())
    }

    /// Releases the level `async with` took (never waits).
    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.release_as(py)?;
        Ok(ready_none(py).into_any())
    }

    /// `with lock:` takes it for the calling thread, blocking.
    fn __enter__(&self, py: Python<'_>) -> PyResult<()> {
        self.acquire_blocking(py, true, None).map(drop)
    }

    /// Releases the level `with` took.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.release_as(py)
    }

    /// aiorwlock's: `<ReaderLock: [locked]>`, `<WriterLock: [unlocked]>`.
    fn __repr__(&self) -> String {
        let kind = if self.write { "Writer" } else { "Reader" };
        let state = if self.locked() { "locked" } else { "unlocked" };
        format!("<{kind}Lock: [{state}]>")
    }
}

#[pymethods]
impl RWLock {
    /// An unlocked RWLock; `fast=True` leaves out the yield after an acquire that did
    /// not wait (see the class).
    #[new]
    #[pyo3(signature = (*, fast=false))]
    fn new(py: Python<'_>, fast: bool) -> PyResult<Self> {
        let rw = Arc::new(RawRwLock::new());
        let side = |write| RWSide {
            rw: rw.clone(),
            write,
            settle: !fast,
        };
        Ok(RWLock {
            reader: Py::new(py, side(false))?,
            writer: Py::new(py, side(true))?,
        })
    }

    /// The lock for read (shared) access.
    #[getter]
    fn reader_lock(&self, py: Python<'_>) -> Py<RWSide> {
        self.reader.clone_ref(py)
    }

    /// The lock for write (exclusive) access.
    #[getter]
    fn writer_lock(&self, py: Python<'_>) -> Py<RWSide> {
        self.writer.clone_ref(py)
    }

    /// `reader_lock`'s other name (aiorwlock has both).
    #[getter]
    fn reader(&self, py: Python<'_>) -> Py<RWSide> {
        self.reader.clone_ref(py)
    }

    /// `writer_lock`'s other name (aiorwlock has both).
    #[getter]
    fn writer(&self, py: Python<'_>) -> Py<RWSide> {
        self.writer.clone_ref(py)
    }

    /// aiorwlock's: `<RWLock: <ReaderLock: [unlocked]> <WriterLock: [unlocked]>>`.
    fn __repr__(&self) -> String {
        format!(
            "<RWLock: {} {}>",
            self.reader.get().__repr__(),
            self.writer.get().__repr__()
        )
    }
}
