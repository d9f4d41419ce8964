//! Exceptions defined in Python (`aiosync._errors`) so they subclass both the asyncio
//! and the threading/queue ones.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

fn class<'py>(
    py: Python<'py>,
    name: &'static str,
    cell: &'static PyOnceLock<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("aiosync._errors")?.getattr(name)?.unbind())
    })
    .map(|c| c.bind(py).clone())
}

macro_rules! error {
    ($fn:ident, $name:literal) => {
        pub(crate) fn $fn(py: Python<'_>, msg: &str) -> PyErr {
            static C: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            match class(py, $name, &C).and_then(|c| c.call1((msg,))) {
                Ok(e) => PyErr::from_value(e),
                Err(e) => e,
            }
        }
    };
}

error!(broken_barrier, "BrokenBarrierError");
error!(queue_empty, "QueueEmpty");
error!(queue_full, "QueueFull");
error!(queue_shut_down, "QueueShutDown");
