//! `synchronized`'s fast path for a plain `@synchronized` (no options) on a sync or
//! `async def` function or method: [`Synchronized`], the decorated callable, and
//! [`SynchronizedCall`], the coroutine of one async call. The locks are the `_ObjectLocks`
//! boxes that [`boxes`] finds or makes; anything out of the ordinary (no box yet, no
//! `__dict__`, a class) goes to the Python path of `python/aiosync/_synchronized.py`.

use crate::bridge::chained;
use crate::object_lock::ObjectLocks;
use crate::owners;
use aiosync::raw::Reentry;
use pyo3::exceptions::{PyAttributeError, PyRuntimeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

/// A function or method under a plain `@synchronized`; made and given its metadata
/// (`functools.update_wrapper`) by `aiosync._synchronized`.
///
/// Calling it takes the lock of its owner: its own (`locks`, a function or static method)
/// or the instance's (the box in the first argument's `__dict__` under `key`). A sync
/// function runs holding the box's RLock; an `async def` gives a coroutine that holds the
/// box's task-owned async lock while it runs. Calls whose owner has no box in its
/// `__dict__` (not made yet, `__slots__`, a class) go to `fallback`, the Python path.
#[pyclass(
    frozen,
    dict,
    weakref,
    module = "aiosync._aiosync",
    name = "_Synchronized"
)]
pub(crate) struct Synchronized {
    func: Py<PyAny>,
    fallback: Py<PyAny>,
    /// The key of an instance's box in its `__dict__` (`_synchronized._ATTR`).
    key: Py<PyString>,
    /// The function's own locks; `None`: the instance's (a method).
    locks: Option<Py<ObjectLocks>>,
    is_async: bool,
}

/// Who takes a call's lock.
enum Route<'py> {
    /// This fast path, with these locks.
    Native(Bound<'py, ObjectLocks>),
    /// An instance without a box yet: the Python path, which makes it.
    Create,
    /// The Python path (no self, `__slots__`, a class, anything unusual).
    Python,
}

impl Synchronized {
    fn route<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>) -> PyResult<Route<'py>> {
        if let Some(own) = &self.locks {
            return Ok(Route::Native(own.bind(py).clone()));
        }
        let Ok(owner) = args.get_item(0) else {
            return Ok(Route::Python);
        };
        Ok(match own_box(&owner, self.key.bind(py))? {
            OwnBox::Found(b) => b
                .cast_into::<ObjectLocks>()
                .map_or(Route::Python, Route::Native),
            OwnBox::Missing => Route::Create,
            OwnBox::NoDict => Route::Python,
        })
    }

    /// An async call: its coroutine, which runs `func` holding `locks`, or with `None`
    /// runs the Python path's coroutine (which makes the box and takes it).
    fn call_async(
        &self,
        py: Python<'_>,
        locks: Option<Bound<'_, ObjectLocks>>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        // `**kwargs` is a copy in Python: the caller may change its dict before awaiting.
        let kwargs = match kwargs {
            Some(k) if !k.is_empty() => Some(k.copy()?.unbind()),
            _ => None,
        };
        let func = locks.as_ref().map_or(&self.fallback, |_| &self.func);
        let call = SynchronizedCall::new(
            func.clone_ref(py),
            locks.map(Bound::unbind),
            args.clone().unbind(),
            kwargs,
        );
        Ok(Py::new(py, call)?.into_any())
    }

    /// A sync call: `func(*args, **kwargs)` holding the box's RLock (per thread).
    fn call_sync(
        &self,
        py: Python<'_>,
        locks: &Bound<'_, ObjectLocks>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        // Kept for the whole call: the box could leave the `__dict__` meanwhile.
        let rlock = locks.get().sync_lock().bind(py).clone();
        let raw = rlock.get().raw();
        let h = owners::thread();
        if !matches!(raw.try_lock(&h, Reentry::Allow), Ok(true)) {
            // Contended (or refused): the RLock's own blocking acquire, rules and errors.
            rlock.call_method0(intern!(py, "__enter__"))?;
        }
        let result = self.func.bind(py).call(args, kwargs);
        // Released also when the call raised, as `with box.sync:` does.
        let released = raw
            .unlock(h.owner())
            .map_err(|_| PyRuntimeError::new_err("cannot release un-acquired lock"));
        match (result, released) {
            (Ok(v), Ok(())) => Ok(v.unbind()),
            (Err(e), Ok(())) => Err(e),
            (Ok(_), Err(later)) => Err(later),
            (Err(first), Err(later)) => Err(chained(py, later, first)),
        }
    }
}

/// What an owner keeps under the box key.
enum OwnBox<'py> {
    /// Not a plain instance with a `__dict__` (a class, `__slots__`, something else of that
    /// name on its class): the Python path decides (its registry).
    NoDict,
    /// An instance without a box yet.
    Missing,
    /// What its `__dict__` holds under the key.
    Found(Bound<'py, PyAny>),
}

/// The value under `key` in `owner`'s instance `__dict__`, read without making Python
/// materialise that dict (which would slow every later attribute access on `owner`).
fn own_box<'py>(owner: &Bound<'py, PyAny>, key: &Bound<'py, PyString>) -> PyResult<OwnBox<'py>> {
    let py = owner.py();
    if owner.is_instance_of::<PyType>() {
        return Ok(OwnBox::NoDict);
    }
    // SAFETY: `owner` is alive, so its type is; both pointers are only read, with the GIL
    // held. `_PyType_Lookup` gives a borrowed reference (or NULL, no exception set), used
    // below only before any Python code runs.
    let (has_dict, on_class) = unsafe {
        let tp = ffi::Py_TYPE(owner.as_ptr());
        ((*tp).tp_dictoffset != 0, _PyType_Lookup(tp, key.as_ptr()))
    };
    if !has_dict {
        return Ok(OwnBox::NoDict);
    }
    // SAFETY: a live object (see above); the new reference keeps it so.
    let on_class = (!on_class.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, on_class) });
    if on_class
        .as_ref()
        .is_some_and(|c| !c.is_instance_of::<ObjectLocks>())
    {
        // Something else of that name on the class (a descriptor?): the registry.
        return Ok(OwnBox::NoDict);
    }
    // Generic lookup: the instance's own value, else the class's (a class's box, which is
    // no descriptor). `__getattr__` and `__getattribute__` overrides are skipped.
    // SAFETY: both are live objects; a new reference or NULL with an exception comes back.
    let got = unsafe { ffi::PyObject_GenericGetAttr(owner.as_ptr(), key.as_ptr()) };
    // SAFETY: `got` is a new reference or NULL (then the exception is fetched).
    match unsafe { Bound::from_owned_ptr_or_err(py, got) } {
        Ok(v) if on_class.as_ref().is_some_and(|c| c.is(&v)) => Ok(OwnBox::Missing),
        Ok(v) => Ok(OwnBox::Found(v)),
        Err(e) if e.is_instance_of::<PyAttributeError>(py) => Ok(OwnBox::Missing),
        Err(e) => Err(e),
    }
}

#[pymethods]
impl Synchronized {
    #[new]
    #[pyo3(signature = (func, fallback, key, locks=None, is_async=false))]
    fn new(
        func: Py<PyAny>,
        fallback: Py<PyAny>,
        key: Py<PyString>,
        locks: Option<Py<ObjectLocks>>,
        is_async: bool,
    ) -> Self {
        Synchronized {
            func,
            fallback,
            key,
            locks,
            is_async,
        }
    }

    /// Calls the function holding its owner's lock: a sync function's result, or for an
    /// `async def` its coroutine, which takes the lock when it starts.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        match self.route(py, args)? {
            Route::Native(locks) if self.is_async => self.call_async(py, Some(locks), args, kwargs),
            Route::Native(locks) => self.call_sync(py, &locks, args, kwargs),
            // The first async call on an instance is a coroutine of this kind too.
            Route::Create if self.is_async => self.call_async(py, None, args, kwargs),
            Route::Create | Route::Python => {
                Ok(self.fallback.bind(py).call(args, kwargs)?.unbind())
            }
        }
    }

    /// Binds to an instance as a function does (`obj.method` is a bound method).
    fn __get__(
        slf: Bound<'_, Self>,
        obj: Option<Bound<'_, PyAny>>,
        _owner: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(slf.into_any().unbind());
        };
        let py = slf.py();
        // SAFETY: both pointers are live objects (borrowed for the call); `PyMethod_New`
        // takes its own references and returns a new one, or NULL with an exception set.
        let bound = unsafe { PyMethod_New(slf.as_ptr(), obj.as_ptr()) };
        // SAFETY: `bound` is a new reference or NULL (then the exception is fetched).
        Ok(unsafe { Bound::from_owned_ptr_or_err(py, bound) }?.unbind())
    }

    /// The function's own locks (`None` for a method: the instance's).
    #[getter]
    fn _locks(&self, py: Python<'_>) -> Option<Py<ObjectLocks>> {
        self.locks.as_ref().map(|l| l.clone_ref(py))
    }

    /// Pickled (and copied) by reference, as a function is: its qualified name.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(slf.getattr(intern!(slf.py(), "__qualname__"))?.unbind())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.getattr(intern!(slf.py(), "__qualname__"))?;
        Ok(format!("<synchronized function {name}>"))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.func)?;
        visit.call(&self.fallback)?;
        visit.call(&self.locks)?;
        Ok(())
    }
}

// CPython API that pyo3-ffi leaves out.
extern "C" {
    /// `types.MethodType(func, obj)` (`classobject.h`).
    fn PyMethod_New(func: *mut ffi::PyObject, obj: *mut ffi::PyObject) -> *mut ffi::PyObject;
    /// An attribute found through a type's MRO, borrowed, without raising (`object.h`).
    fn _PyType_Lookup(tp: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

mod boxes;
mod call;
pub(crate) use boxes::{_box_of, _box_table_len, _leave_box, _registered_box};
pub(crate) use call::SynchronizedCall;
