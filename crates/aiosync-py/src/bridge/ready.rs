//! An awaitable that is already done: the uncontended fast paths return it instead of
//! driving a core future.

use super::waiter::never_awaited;
use pyo3::exceptions::{PyBaseException, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// An awaitable that is already done: `await` gives `value` without yielding to the loop.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Ready")]
pub(crate) struct Ready {
    value: Py<PyAny>,
    /// The call that made it, for the warning given if it is dropped untouched (`None`
    /// for the shared ones, which never warn).
    what: Option<&'static str>,
    touched: AtomicBool,
}

impl Drop for Ready {
    fn drop(&mut self) {
        if let (false, Some(what)) = (*self.touched.get_mut(), self.what) {
            never_awaited(what);
        }
    }
}

/// A ready awaitable of its own, which warns if it is never awaited (the fast path of a
/// call whose slow path gives a [`Waiter`](super::waiter::Waiter)).
pub(crate) fn ready_once(
    py: Python<'_>,
    value: Py<PyAny>,
    what: &'static str,
) -> PyResult<Py<Ready>> {
    Py::new(
        py,
        Ready {
            value,
            what: Some(what),
            touched: AtomicBool::new(false),
        },
    )
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<()>> {
        if self.what.is_some() {
            self.touched.store(true, Ordering::Relaxed);
        }
        // Finishing with None needs no exception object: "exhausted" is enough.
        if self.value.is_none(py) {
            return Ok(None);
        }
        Err(PyStopIteration::new_err((self.value.clone_ref(py),)))
    }
    #[pyo3(signature = (_value=None))]
    fn send(&self, py: Python<'_>, _value: Option<Py<PyAny>>) -> PyResult<Option<()>> {
        self.__next__(py)
    }
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &self,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.touched.store(true, Ordering::Relaxed);
        Err(throw_arg(typ, val))
    }
    fn close(&self) {
        self.touched.store(true, Ordering::Relaxed);
    }
}

/// The exception a coroutine's `throw(typ, val, tb)` asks to raise.
pub(crate) fn throw_arg(typ: Bound<'_, PyAny>, val: Option<Bound<'_, PyAny>>) -> PyErr {
    match val {
        Some(v) if !v.is_none() => PyErr::from_value(v),
        _ => match typ.call0() {
            Ok(inst) if inst.is_instance_of::<PyBaseException>() => PyErr::from_value(inst),
            _ => PyErr::from_value(typ),
        },
    }
}

/// A shared ready awaitable for `None` (a release, a set event).
pub(crate) fn ready_none(py: Python<'_>) -> Py<Ready> {
    static R: PyOnceLock<Py<Ready>> = PyOnceLock::new();
    R.get_or_init(py, || {
        Py::new(
            py,
            Ready {
                value: py.None(),
                what: None,
                touched: AtomicBool::new(true),
            },
        )
        .expect("alloc")
    })
    .clone_ref(py)
}

/// A ready awaitable for any other value.
pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<Ready>> {
    Py::new(
        py,
        Ready {
            value,
            what: None,
            touched: AtomicBool::new(true),
        },
    )
}
