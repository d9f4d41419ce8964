//! The items of a queue, how a priority queue compares them, and what a refused put
//! raises.

use super::reentry;
use crate::errors;
use aiosync::PutError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::cmp::Ordering;

/// One Python object in a queue.
pub(crate) struct PyItem(pub(crate) Py<PyAny>);

/// A priority queue's comparator: `a < b` in Python, as `heapq` asks it. The core only
/// asks whether `a` goes first, so "not less" is `Greater`. An exception (a `TypeError`
/// for items that cannot be ordered, whatever a custom `__lt__` raised, the
/// `RuntimeError` of a call back into the queue) ends the put or get that compared,
/// which raises it: the core leaves the queue as it was (see [`reentry::raise`]).
///
/// Comparing runs Python code, so it attaches to the interpreter; every operation of a
/// priority queue therefore detaches first, so no thread ever waits for the queue's
/// internal lock while holding the GIL that a comparing thread needs.
pub(crate) fn python_lt(a: &PyItem, b: &PyItem) -> Option<Ordering> {
    match Python::attach(|py| a.0.bind(py).lt(b.0.bind(py))) {
        Ok(true) => Some(Ordering::Less),
        Ok(false) => Some(Ordering::Greater),
        Err(e) => reentry::raise(e),
    }
}

/// What a put the core refused as unordered raises. [`python_lt`] never refuses (its
/// exceptions end the put instead), so this is only a fallback.
pub(crate) fn refusal() -> PyErr {
    PyTypeError::new_err("item cannot be ordered with the queue's items")
}

pub(crate) fn shut_down(py: Python<'_>) -> PyErr {
    errors::queue_shut_down(py, "queue is shut down")
}

/// A failed waiting put, as Python sees it.
pub(crate) fn put_error(py: Python<'_>, e: PutError<PyItem>) -> PyErr {
    match e {
        PutError::ShutDown(_) => shut_down(py),
        PutError::Unordered(_) => refusal(),
    }
}
