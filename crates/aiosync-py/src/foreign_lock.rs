//! A lock object from outside aiosync under a Condition (`threading.Lock`,
//! `threading.RLock`, any object with `acquire()` and `release()`): called as
//! `threading.Condition` calls it. Conversion only: the condition protocol over it (queue,
//! release, wait, take back, who may wait or notify) is the core's (`aiosync::ExternalLock`).

use crate::bridge;
use crate::condition::not_held;
use aiosync::{Condition as CoreCondition, ExternalLock, ExternalLockError};
use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use std::time::Duration;

/// A condition variable over a lock from outside aiosync.
pub(crate) struct ForeignParts {
    pub(crate) cond: CoreCondition,
    pub(crate) lock: ForeignLock,
}

impl ForeignParts {
    /// A threading wait for at most `timeout`: whether it was notified.
    pub(crate) fn wait(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<bool> {
        self.cond
            .wait_external_blocking_with(&self.lock.with_gil(py), |notified| {
                // With the GIL released; Ctrl-C ends it (the core then takes the lock back).
                Ok(bridge::block(py, notified, timeout)?.is_some())
            })
            .map_err(|e| foreign_error(py, e, "wait"))
    }

    /// `notify(n)`: only with the lock held, as threading's.
    pub(crate) fn notify(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.cond
            .notify_external(&self.lock.with_gil(py), n)
            .map(drop)
            .map_err(|e| foreign_error(py, e, "notify"))
    }

    /// The error of an asyncio form (there is none over a foreign lock).
    pub(crate) fn no_async_form(&self) -> PyErr {
        PyTypeError::new_err(format!(
            "Condition over a {} has no asyncio form: taking that lock back after a wait \
             would block the event loop; use aiosync.Lock or aiosync.RLock, or the \
             threading forms (with cond, cond.wait(timeout), cond.wait_blocking())",
            self.lock.type_name
        ))
    }
}

/// The error of a wait or notify over a foreign lock: its own exception, or threading's.
fn foreign_error(py: Python<'_>, e: ExternalLockError<PyErr>, what: &str) -> PyErr {
    match e {
        ExternalLockError::NotHeld => not_held(what),
        ExternalLockError::Lock(e) => e,
        ExternalLockError::Interrupted {
            error,
            restore: None,
        } => error,
        // As a `finally:` that raises: the later error, the first as its context.
        ExternalLockError::Interrupted {
            error,
            restore: Some(restore),
        } => bridge::chained(py, restore, error),
        other => PyRuntimeError::new_err(format!("Condition.{what}() failed: {other:?}")),
    }
}

/// The lock's methods, looked up once when the Condition is made, as `threading.Condition`
/// does (it exports `acquire` and `release`, and prefers the lock's `_release_save`,
/// `_acquire_restore` and `_is_owned` where it has them).
pub(crate) struct ForeignLock {
    acquire: Py<PyAny>,
    release: Py<PyAny>,
    release_save: Option<Py<PyAny>>,
    acquire_restore: Option<Py<PyAny>>,
    is_owned: Option<Py<PyAny>>,
    /// `module.qualname` of the lock's type, for error messages.
    type_name: String,
}

/// The attribute `name` of `obj`, `None` where it has none (`hasattr`'s rule: only an
/// `AttributeError` means absent).
fn optional(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Py<PyAny>>> {
    match obj.getattr(name) {
        Ok(m) => Ok(Some(m.unbind())),
        Err(e) if e.is_instance_of::<PyAttributeError>(obj.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

impl ForeignLock {
    /// Takes `lock`'s methods. An object without `acquire` and `release` is refused
    /// (`TypeError`), and so is a lock whose `acquire` is a coroutine function
    /// (`asyncio.Lock`): it cannot be taken back by a thread, and an aiosync lock already
    /// serves every event loop.
    pub(crate) fn new(lock: &Bound<'_, PyAny>) -> PyResult<ForeignLock> {
        let py = lock.py();
        let t = lock.get_type();
        let type_name = format!("{}.{}", t.module()?, t.qualname()?);
        let (Some(acquire), Some(release)) =
            (optional(lock, "acquire")?, optional(lock, "release")?)
        else {
            return Err(PyTypeError::new_err(format!(
                "Condition needs a lock with acquire() and release(), not {type_name}"
            )));
        };
        let is_coroutine = py.import("inspect")?.getattr("iscoroutinefunction")?;
        if is_coroutine.call1((acquire.bind(py),))?.is_truthy()? {
            return Err(PyTypeError::new_err(format!(
                "Condition cannot use {type_name}: its acquire() is a coroutine, bound to \
                 one event loop; use aiosync.Lock, which serves threads and every loop"
            )));
        }
        Ok(ForeignLock {
            acquire,
            release,
            release_save: optional(lock, "_release_save")?,
            acquire_restore: optional(lock, "_acquire_restore")?,
            is_owned: optional(lock, "_is_owned")?,
            type_name,
        })
    }

    /// `acquire(*args)`: the threading form, with only the arguments given.
    pub(crate) fn acquire(
        &self,
        py: Python<'_>,
        blocking: bool,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match (blocking, timeout) {
            (true, None) => self.acquire.call0(py),
            (false, None) => self.acquire.call1(py, (false,)),
            (b, Some(t)) => self.acquire.call1(py, (b, t)),
        }
    }

    /// The lock as the core sees it, for calls made with the GIL held.
    pub(crate) fn with_gil<'a, 'py>(&'a self, py: Python<'py>) -> Calls<'a, 'py> {
        Calls { py, lock: self }
    }
}

/// A [`ForeignLock`] with the GIL: the core's [`ExternalLock`]. Each method calls into
/// Python; its exceptions come back as the core's `Lock` / `Interrupted` errors.
pub(crate) struct Calls<'a, 'py> {
    py: Python<'py>,
    lock: &'a ForeignLock,
}

impl ExternalLock for Calls<'_, '_> {
    /// `_release_save()`'s value (an RLock's owner and count), else `None`.
    type Saved = Py<PyAny>;
    type Error = PyErr;

    fn is_owned(&self) -> PyResult<bool> {
        let py = self.py;
        match &self.lock.is_owned {
            Some(is_owned) => is_owned.bind(py).call0()?.is_truthy(),
            None => {
                // threading.Condition's probe: a lock the caller could take was not held.
                if self.lock.acquire.bind(py).call1((false,))?.is_truthy()? {
                    self.lock.release.call0(py)?;
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
        }
    }

    fn release_save(&self) -> PyResult<Py<PyAny>> {
        match &self.lock.release_save {
            Some(release_save) => release_save.call0(self.py),
            None => {
                self.lock.release.call0(self.py)?;
                Ok(self.py.None())
            }
        }
    }

    fn acquire_restore(&self, saved: Py<PyAny>) -> PyResult<()> {
        match &self.lock.acquire_restore {
            Some(acquire_restore) => acquire_restore.call1(self.py, (saved,)).map(drop),
            None => self.lock.acquire.call0(self.py).map(drop),
        }
    }
}
