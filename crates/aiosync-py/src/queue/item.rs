//! The items of a queue, how a priority queue compares them, and what a refused put
//! raises.

use crate::errors;
use aiosync::PutError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::cell::RefCell;
use std::cmp::Ordering;

/// One Python object in a queue.
pub(crate) struct PyItem(pub(crate) Py<PyAny>);

thread_local! {
    /// The exception of the last comparison on this thread that could not order two items
    /// (their `__lt__` raised). A refused put takes it on the same thread, in the same
    /// call: the core compares under its lock inside the put, and the binding turns its
    /// result into Python's right after.
    static REFUSAL: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// A priority queue's comparator: `a < b` in Python, as `heapq` asks it. The core only
/// asks whether `a` goes first, so "not less" is `Greater`; an exception means the two
/// cannot be ordered (the core then refuses the put and leaves the queue as it was).
///
/// Comparing runs Python code, so it attaches to the interpreter; every operation of a
/// priority queue therefore detaches first, so no thread ever waits for the queue's
/// internal lock while holding the GIL that a comparing thread needs.
pub(crate) fn python_lt(a: &PyItem, b: &PyItem) -> Option<Ordering> {
    Python::attach(|py| match a.0.bind(py).lt(b.0.bind(py)) {
        Ok(true) => Some(Ordering::Less),
        Ok(false) => Some(Ordering::Greater),
        Err(e) => {
            REFUSAL.with(|r| *r.borrow_mut() = Some(e));
            None
        }
    })
}

/// What a put the core refused as unordered raises: the comparison's own exception
/// (`TypeError: '<' not supported ...`, or whatever a custom `__lt__` raised).
pub(crate) fn refusal() -> PyErr {
    REFUSAL
        .with(|r| r.borrow_mut().take())
        .unwrap_or_else(|| PyTypeError::new_err("item cannot be ordered with the queue's items"))
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
