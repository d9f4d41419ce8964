//! `obj.method` for a synchronized method: [`SynchronizedMethod`], a bound method that is
//! also the context manager of the lock its calls take.

use super::{Args, Synchronized};
use pyo3::basic::CompareOp;
use pyo3::exceptions::PyAttributeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use std::sync::OnceLock;

/// A synchronized function bound to an instance (`obj.method`), as Python binds a
/// function: `__func__` (the decorated function) and `__self__`, calls with `__self__`
/// first, equality and hash by both, pickled as `getattr(obj, name)`, other attributes
/// read from the function, and `inspect.ismethod` true (its `__class__` says
/// `types.MethodType`, as wrapt's bound wrappers do). `__wrapped__` is the undecorated
/// function bound to the same instance.
///
/// It is also a context manager: `with obj.method:` takes the lock `obj.method()` takes
/// for a sync method (the instance's RLock), and `async with obj.method:` the one an
/// `async def` method's call takes (the instance's task-owned lock), as
/// `with synchronized(obj):` and `async with synchronized(obj):` do.
#[pyclass(
    frozen,
    weakref,
    module = "aiosync._aiosync",
    name = "_SynchronizedMethod"
)]
pub(crate) struct SynchronizedMethod {
    func: Py<Synchronized>,
    obj: Py<PyAny>,
    /// `func`'s context for `obj`, made on the first `with`.
    ctx: OnceLock<Py<PyAny>>,
}

impl SynchronizedMethod {
    pub(crate) fn new(func: Py<Synchronized>, obj: Py<PyAny>) -> SynchronizedMethod {
        SynchronizedMethod {
            func,
            obj,
            ctx: OnceLock::new(),
        }
    }

    /// The context manager of `with` on this bound method (made once).
    fn ctx<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(ctx) = self.ctx.get() {
            return Ok(ctx.bind(py).clone());
        }
        let made = self.func.get().context_for(self.obj.bind(py))?;
        Ok(self.ctx.get_or_init(|| made.unbind()).bind(py).clone())
    }
}

/// `types.MethodType`.
fn method_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static T: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    T.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("types")?.getattr("MethodType")?.unbind())
    })
    .map(|t| t.bind(py))
}

#[pymethods]
impl SynchronizedMethod {
    /// Calls the function with `__self__` first (taking its lock, as the function does).
    ///
    /// Cancel safety (async): see `_SynchronizedCall`.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let obj = self.obj.bind(py);
        self.func.get().call(py, Args::Bound(obj, args), kwargs)
    }

    /// The decorated function (what the class holds).
    #[getter(__func__)]
    fn func(&self, py: Python<'_>) -> Py<Synchronized> {
        self.func.clone_ref(py)
    }

    /// The instance it is bound to.
    #[getter(__self__)]
    fn obj(&self, py: Python<'_>) -> Py<PyAny> {
        self.obj.clone_ref(py)
    }

    /// The undecorated function, bound to the same instance.
    #[getter(__wrapped__)]
    fn wrapped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.func.bind(py).getattr(intern!(py, "__wrapped__"))?;
        let obj = self.obj.bind(py);
        if !inner.get_type().hasattr(intern!(py, "__get__"))? {
            return Ok(inner);
        }
        inner.call_method1(intern!(py, "__get__"), (obj, obj.get_type()))
    }

    /// Attributes as a bound method has them: its own (`__func__`, `__self__`, ...), else
    /// the function's (see `__getattr__`); `__doc__` and `__module__` are the function's,
    /// and `__class__` says `types.MethodType`.
    fn __getattribute__<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        match &*name.to_cow()? {
            "__class__" => return method_type(py).cloned(),
            // The type's own would shadow the function's.
            "__doc__" | "__module__" => return slf.get().func.bind(py).as_any().getattr(name),
            _ => {}
        }
        // SAFETY: both are live objects borrowed for the call; a new reference, or NULL
        // with an exception set, comes back.
        let own = unsafe { ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr()) };
        // SAFETY: `own` is a new reference or NULL (then the exception is fetched).
        unsafe { Bound::from_owned_ptr_or_err(py, own) }
    }

    /// What the bound method does not have, read from the function (`__name__`,
    /// `__qualname__`, `__code__`, `__annotations__`, anything set on it).
    fn __getattr__<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.func.bind(py).as_any().getattr(name).map_err(|e| {
            if e.is_instance_of::<PyAttributeError>(py) {
                PyAttributeError::new_err(format!("'method' object has no attribute '{name}'"))
            } else {
                e
            }
        })
    }

    /// Equal to a bound method of the same function and the very same instance.
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<SynchronizedMethod>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let same = self.obj.is(&other.obj) && self.func.is(&other.func);
        match op {
            CompareOp::Eq => Ok(same.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!same).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }

    /// By the instance's identity and the function, as a bound method's.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let h = self.func.bind(py).hash()?;
        Ok((self.obj.as_ptr() as isize).rotate_right(4) ^ h)
    }

    /// `getattr(obj, name)`: a bound method pickles (and copies) as its lookup.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Py<PyTuple>)> {
        let getattr = py.import("builtins")?.getattr(intern!(py, "getattr"))?;
        let name = self.func.bind(py).getattr(intern!(py, "__name__"))?;
        let args = PyTuple::new(py, [self.obj.bind(py).clone(), name])?;
        Ok((getattr, args.unbind()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let func = self.func.bind(py);
        let name = match func.getattr(intern!(py, "__qualname__")) {
            Ok(n) => n.str()?.to_string(),
            Err(_) => "?".to_owned(),
        };
        Ok(format!(
            "<bound method {name} of {}>",
            self.obj.bind(py).repr()?
        ))
    }

    /// `with obj.method:` takes the instance's lock that sync calls take, and gives it.
    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ctx = self.ctx(py)?;
        Ok(ctx.call_method0(intern!(py, "__enter__"))?.unbind())
    }

    /// Releases what `with obj.method:` took.
    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let ctx = self.ctx(py)?;
        Ok(ctx.call_method1(intern!(py, "__exit__"), args)?.unbind())
    }

    /// `async with obj.method:` takes the instance's async lock (task-owned) that
    /// `async def` calls take, awaiting it.
    ///
    /// Cancel safety: cancelled while waiting for the lock, it takes nothing.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ctx = self.ctx(py)?;
        Ok(ctx.call_method0(intern!(py, "__aenter__"))?.unbind())
    }

    /// Releases what `async with obj.method:` took (an awaitable that never waits).
    #[pyo3(signature = (*args))]
    fn __aexit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let ctx = self.ctx(py)?;
        Ok(ctx.call_method1(intern!(py, "__aexit__"), args)?.unbind())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.func)?;
        visit.call(&self.obj)?;
        if let Some(ctx) = self.ctx.get() {
            visit.call(ctx)?;
        }
        Ok(())
    }
}
