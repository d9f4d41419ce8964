//! Argument rules shared by the classes: timeouts, and whether a call runs in its
//! asyncio or its threading form.

use super::event_loop::running_loop;
use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use std::time::Duration;

/// A `blocking` / `block` argument: any object, taken by its truth value, as threading
/// and queue take it (`acquire(0)`, `put(x, 1)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(pub(crate) bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Flag {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Flag> {
        obj.is_truthy().map(Flag)
    }
}

/// A `blocking` argument of a lock's `acquire`, an integer as `threading.Lock` takes it:
/// `acquire(0)` is non-blocking, `acquire("x")` a `TypeError`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntFlag(pub(crate) bool);

impl<'a, 'py> FromPyObject<'a, 'py> for IntFlag {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<IntFlag> {
        // Through `__index__`: bools and ints, not floats or strings.
        Ok(IntFlag(obj.extract::<i64>()? != 0))
    }
}

impl From<IntFlag> for Flag {
    fn from(f: IntFlag) -> Flag {
        Flag(f.0)
    }
}

/// The longest timeout threading accepts (`threading.TIMEOUT_MAX` on 64-bit platforms);
/// a longer one is an `OverflowError`, as there.
pub(crate) const TIMEOUT_MAX: f64 = 9_223_372_036.0;

fn too_large() -> PyErr {
    PyOverflowError::new_err("timeout value is too large")
}

/// A timeout in the threading style: `None` or negative (-1) is no limit.
pub(crate) fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(-1.0) => Ok(None),
        Some(t) if t < 0.0 || t.is_nan() => Err(PyValueError::new_err(
            "timeout value must be a non-negative number",
        )),
        Some(t) if t > TIMEOUT_MAX => Err(too_large()),
        Some(t) => Ok(Some(
            Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        )),
    }
}

/// A wait timeout in the threading style: `None` is no limit, a negative one is zero
/// (`threading.Event.wait(-1)` returns at once).
pub(crate) fn wait_timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(PyValueError::new_err("timeout must be a number")),
        Some(t) if t > TIMEOUT_MAX => Err(too_large()),
        Some(t) => Ok(Some(
            Duration::try_from_secs_f64(t.max(0.0)).unwrap_or(Duration::MAX),
        )),
    }
}

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

/// How an `acquire(blocking, timeout)` reads its timeout, which threading's classes do
/// differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeouts {
    /// `threading.Lock` / `RLock`: -1 is no limit, another negative one a `ValueError`,
    /// and a timeout other than -1 with `blocking=False` a `ValueError`.
    Lock,
    /// `threading.Semaphore`: a negative timeout is zero (try once, do not wait), and
    /// any timeout with `blocking=False` is a `ValueError`.
    Semaphore,
}

/// Validates `acquire(blocking, timeout)` as the threading class `rule` names does.
fn blocking_args(
    blocking: Option<Flag>,
    timeout: Option<f64>,
    rule: Timeouts,
) -> PyResult<(bool, Option<Duration>)> {
    let blocking = blocking.is_none_or(|b| b.0);
    let (t, refused) = match rule {
        Timeouts::Lock => {
            let t = timeout_arg(timeout)?;
            (t, t.is_some())
        }
        Timeouts::Semaphore => (wait_timeout_arg(timeout)?, timeout.is_some()),
    };
    if !blocking && refused {
        return Err(PyValueError::new_err(
            "can't specify a timeout for a non-blocking call",
        ));
    }
    Ok((blocking, t))
}

/// `x_async()`: the asyncio form whatever the caller, on the loop running in this thread
/// (`RuntimeError` without one); `asyncio(lp, True)` makes the awaitable.
pub(crate) fn async_form(
    py: Python<'_>,
    asyncio: impl FnOnce(Bound<'_, PyAny>, Py<PyAny>) -> PyResult<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let lp = running_loop(py)?.ok_or_else(no_loop)?;
    asyncio(lp, true.into_py_any(py)?)
}

/// `acquire_blocking(blocking=True, timeout=-1)`: threading's form whatever the caller,
/// with `threading.Lock`'s argument rules.
pub(crate) fn blocking_form(
    blocking: Flag,
    timeout: Option<f64>,
    threading: impl FnOnce(bool, Option<Duration>) -> PyResult<bool>,
) -> PyResult<bool> {
    blocking_form_as(Timeouts::Lock, blocking, timeout, threading)
}

/// As [`blocking_form`], with the timeout rules of `rule`.
pub(crate) fn blocking_form_as(
    rule: Timeouts,
    blocking: Flag,
    timeout: Option<f64>,
    threading: impl FnOnce(bool, Option<Duration>) -> PyResult<bool>,
) -> PyResult<bool> {
    let (b, t) = blocking_args(Some(blocking), timeout, rule)?;
    threading(b, t)
}

/// The error of an asyncio-only call made outside a running loop.
pub(crate) fn no_loop() -> PyErr {
    PyRuntimeError::new_err("no running event loop")
}

/// `acquire(blocking=None, timeout=None)` as asyncio and threading both spell it: the
/// asyncio form (`asyncio(lp)`, an awaitable giving True) when no threading-style
/// argument is given and a loop runs in this thread, else the threading form
/// (`threading(blocking, timeout)`, a bool) with `threading.Lock`'s argument rules.
pub(crate) fn contextual_acquire(
    py: Python<'_>,
    blocking: Option<Flag>,
    timeout: Option<f64>,
    asyncio: impl FnOnce(Bound<'_, PyAny>, Py<PyAny>) -> PyResult<Py<PyAny>>,
    threading: impl FnOnce(bool, Option<Duration>) -> PyResult<bool>,
) -> PyResult<Py<PyAny>> {
    contextual_acquire_as(Timeouts::Lock, py, blocking, timeout, asyncio, threading)
}

/// As [`contextual_acquire`], with the timeout rules of `rule`.
pub(crate) fn contextual_acquire_as(
    rule: Timeouts,
    py: Python<'_>,
    blocking: Option<Flag>,
    timeout: Option<f64>,
    asyncio: impl FnOnce(Bound<'_, PyAny>, Py<PyAny>) -> PyResult<Py<PyAny>>,
    threading: impl FnOnce(bool, Option<Duration>) -> PyResult<bool>,
) -> PyResult<Py<PyAny>> {
    match mode(py, blocking.is_some() || timeout.is_some())? {
        Mode::Async(lp) => asyncio(lp, true.into_py_any(py)?),
        Mode::Blocking => {
            let (b, t) = blocking_args(blocking, timeout, rule)?;
            threading(b, t)?.into_py_any(py)
        }
    }
}
