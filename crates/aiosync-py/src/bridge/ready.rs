//! An awaitable that is already done: the uncontended fast paths return it instead of
//! driving a core future.

use pyo3::exceptions::{PyBaseException, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;

/// An awaitable that is already done: `await` gives `value` without yielding to the loop.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Ready")]
pub(crate) struct Ready {
    value: Py<PyAny>,
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
        Err(throw_arg(typ, val))
    }
    fn close(&self) {}
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

/// A shared ready awaitable for `True`: an uncontended acquire allocates nothing.
pub(crate) fn ready_true(py: Python<'_>) -> Py<Ready> {
    static R: PyOnceLock<Py<Ready>> = PyOnceLock::new();
    R.get_or_init(py, || {
        Py::new(
            py,
            Ready {
                value: true.into_py_any(py).expect("bool"),
            },
        )
        .expect("alloc")
    })
    .clone_ref(py)
}

/// A shared ready awaitable for `None` (a release, a set event).
pub(crate) fn ready_none(py: Python<'_>) -> Py<Ready> {
    static R: PyOnceLock<Py<Ready>> = PyOnceLock::new();
    R.get_or_init(py, || {
        Py::new(py, Ready { value: py.None() }).expect("alloc")
    })
    .clone_ref(py)
}

/// A ready awaitable for any other value.
pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<Ready>> {
    Py::new(py, Ready { value })
}
