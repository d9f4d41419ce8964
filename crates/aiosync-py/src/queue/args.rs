//! The arguments of queue calls: `maxsize` (read back as given, the core holding the
//! bound it means) and queue.Queue's `timeout`.

use crate::bridge::timeout_arg;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyFloat;
use std::time::Duration;

/// A `maxsize` argument: an int (anything with `__index__`) or a real number (anything
/// `float()` takes). As in asyncio and queue, one that is not above zero means
/// unbounded, and a fractional one rounds up (`1.3` holds two items: a put waits while
/// `qsize() >= maxsize`).
pub(crate) struct Maxsize {
    /// The core's bound (0: unbounded), at most `aiosync::MAX_PERMITS`, which no queue
    /// can tell from unbounded.
    pub(crate) bound: usize,
    /// The object given, read back by the `maxsize` property; `None`: the default, 0.
    pub(crate) given: Option<Py<PyAny>>,
}

impl Maxsize {
    /// The default: unbounded, read back as 0.
    pub(crate) const DEFAULT: Maxsize = Maxsize {
        bound: 0,
        given: None,
    };
}

const MAX: usize = aiosync::MAX_PERMITS;

fn bound_of_int(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    match obj.extract::<i64>() {
        Ok(n) if n <= 0 => Ok(0),
        Ok(n) => Ok(usize::try_from(n).unwrap_or(MAX).min(MAX)),
        // Too large for 64 bits: its sign decides.
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            Ok(if obj.gt(0)? { MAX } else { 0 })
        }
        Err(e) => Err(e),
    }
}

fn bound_of_float(f: f64) -> usize {
    // NaN compares false with everything: never full, as in asyncio and queue.
    if f.is_nan() || f <= 0.0 {
        0
    } else if f >= MAX as f64 {
        MAX
    } else {
        f.ceil() as usize
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Maxsize {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Maxsize> {
        let obj = obj.to_owned();
        let is_int = obj.hasattr(pyo3::intern!(obj.py(), "__index__"))?;
        let bound = if is_int && !obj.is_instance_of::<PyFloat>() {
            bound_of_int(&obj)?
        } else {
            match obj.extract::<f64>() {
                Ok(f) => bound_of_float(f),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "maxsize must be an int or a float, not '{}'",
                        obj.get_type().name()?
                    )))
                }
            }
        };
        Ok(Maxsize {
            bound,
            given: Some(obj.unbind()),
        })
    }
}

/// queue.Queue's `timeout` for a call that will wait if it must: `None` waits forever,
/// a negative one is a `ValueError` (as queue.Queue raises it, even when the call then
/// need not wait). Callers read it only where queue.Queue does: with `block` true, and
/// for a put only on a bounded queue.
pub(crate) fn queue_timeout(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(t) = timeout else { return Ok(None) };
    let t: f64 = t.extract()?;
    if t < 0.0 {
        return Err(PyValueError::new_err(
            "'timeout' must be a non-negative number",
        ));
    }
    timeout_arg(Some(t))
}
