//! `synchronized`'s decorated callables: [`Synchronized`], what `@synchronized` gives for
//! a function or method, [`SynchronizedMethod`], that callable bound to an instance, and
//! [`SynchronizedCall`], the coroutine of one async call. A plain `@synchronized` (no
//! options) on a sync or `async def` function or method takes its locks here: the
//! `_ObjectLocks` boxes that [`boxes`] finds or makes; anything out of the ordinary (no box
//! yet, no `__dict__`, a class, options) goes to the Python path of
//! `python/aiosync/_synchronized.py`. Both callables are also their own context managers
//! (`with func:`, `with obj.method:`, `async with obj.amethod:`), through the context the
//! Python side gives for an owner.

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
use std::ptr;
use std::sync::OnceLock;

/// A function or method under `@synchronized`; made and given its metadata
/// (`functools.update_wrapper`) by `aiosync._synchronized`.
///
/// Under a plain `@synchronized` (`direct`), calling it takes the lock of its owner: its
/// own (`locks`, a function or static method) or the instance's (the box in the first
/// argument's `__dict__` under `key`). A sync function runs holding the box's RLock; an
/// `async def` gives a coroutine that holds the box's task-owned async lock while it runs.
/// Calls whose owner has no box in its `__dict__` (not made yet, `__slots__`, a class) go
/// to `fallback`, the Python path, as every call does when not `direct` (options, class
/// methods, async generators).
///
/// It is also a context manager: `with func:` / `async with func:` take the lock that
/// `context(None)` (a function's) gives, and bound to an instance
/// ([`SynchronizedMethod`]) the one `context(instance)` gives.
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
    /// Whether calls take the locks here (a plain `@synchronized`) or go to `fallback`.
    direct: bool,
    /// `context(owner)`: the context manager of `with` on this callable (`owner`: the
    /// instance it is bound to, or `None`).
    context: Py<PyAny>,
    /// `context(None)`, made on the first `with`.
    own_context: OnceLock<Py<PyAny>>,
}

/// A call's positional arguments.
#[derive(Clone, Copy)]
pub(crate) enum Args<'a, 'py> {
    /// As given (the owner, if any, first): a call of the function itself.
    Given(&'a Bound<'py, PyTuple>),
    /// The owner, then these: a call of a bound method.
    Bound(&'a Bound<'py, PyAny>, &'a Bound<'py, PyTuple>),
}

impl<'py> Args<'_, 'py> {
    /// The first argument: the owner of a method call.
    fn owner(&self) -> Option<Bound<'py, PyAny>> {
        match self {
            Args::Given(t) => t.get_item(0).ok(),
            Args::Bound(o, _) => Some((*o).clone()),
        }
    }

    /// The owner of a bound call (kept apart), and the arguments as a tuple.
    fn split(&self) -> (Option<Bound<'py, PyAny>>, Bound<'py, PyTuple>) {
        match self {
            Args::Given(t) => (None, (*t).clone()),
            Args::Bound(o, rest) => (Some((*o).clone()), (*rest).clone()),
        }
    }

    /// `f(*args, **kwargs)`; a bound call without a tuple of its own (vectorcall).
    fn call(
        &self,
        f: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (owner, rest) = match self {
            Args::Given(t) => return f.call(*t, kwargs),
            Args::Bound(o, rest) => (*o, *rest),
        };
        let py = f.py();
        let n = rest.len();
        // Slot 0 is free for the callee (PY_VECTORCALL_ARGUMENTS_OFFSET), then the owner
        // and the rest; all borrowed from `owner` and `rest`, which outlive the call.
        let mut stack = [ptr::null_mut(); 8];
        let mut heap = Vec::new();
        let argv: &mut [*mut ffi::PyObject] = if n + 2 <= stack.len() {
            &mut stack[..n + 2]
        } else {
            heap.resize(n + 2, ptr::null_mut());
            &mut heap
        };
        argv[1] = owner.as_ptr();
        for (slot, item) in argv[2..].iter_mut().zip(rest.iter_borrowed()) {
            *slot = item.as_ptr();
        }
        let kw = kwargs.map_or(ptr::null_mut(), |k| k.as_ptr());
        let nargsf = (n + 1) | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
        // SAFETY: `argv[1..]` holds `n + 1` live borrowed objects and `argv[0]` may be
        // overwritten by the callee (the offset flag); `kw` is a dict or NULL. A new
        // reference, or NULL with an exception set, comes back.
        let r = unsafe { ffi::PyObject_VectorcallDict(f.as_ptr(), argv[1..].as_ptr(), nargsf, kw) };
        // SAFETY: `r` is a new reference or NULL (then the exception is fetched).
        unsafe { Bound::from_owned_ptr_or_err(py, r) }
    }
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
    fn route<'py>(&self, py: Python<'py>, args: Args<'_, 'py>) -> PyResult<Route<'py>> {
        if !self.direct {
            return Ok(Route::Python);
        }
        if let Some(own) = &self.locks {
            return Ok(Route::Native(own.bind(py).clone()));
        }
        let Some(owner) = args.owner() else {
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
        args: Args<'_, '_>,
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
            args.split(),
            kwargs,
        );
        Ok(Py::new(py, call)?.into_any())
    }

    /// A sync call: `func(*args, **kwargs)` holding the box's RLock (per thread).
    fn call_sync(
        &self,
        py: Python<'_>,
        locks: &Bound<'_, ObjectLocks>,
        args: Args<'_, '_>,
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
        let result = args.call(self.func.bind(py), kwargs);
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
    /// The decorated form of `func`: `fallback` is the Python path, `key` the box
    /// attribute, `locks` the function's own box (`None` for a method), `direct` whether
    /// calls may take the locks here, `context(owner)` the context manager of `with`.
    #[new]
    #[pyo3(signature = (func, fallback, key, context, locks=None, is_async=false, direct=true))]
    fn new(
        func: Py<PyAny>,
        fallback: Py<PyAny>,
        key: Py<PyString>,
        context: Py<PyAny>,
        locks: Option<Py<ObjectLocks>>,
        is_async: bool,
        direct: bool,
    ) -> Self {
        Synchronized {
            func,
            fallback,
            key,
            locks,
            is_async,
            direct,
            context,
            own_context: OnceLock::new(),
        }
    }

    /// Calls the function holding its owner's lock: a sync function's result, or for an
    /// `async def` its coroutine, which takes the lock when it starts.
    ///
    /// Cancel safety (async): see `_SynchronizedCall`.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        self.call(py, Args::Given(args), kwargs)
    }

    /// Binds to an instance as a function does: `obj.method` is a bound method (a
    /// `_SynchronizedMethod`, which is also a context manager).
    fn __get__(
        slf: Bound<'_, Self>,
        obj: Option<Bound<'_, PyAny>>,
        _owner: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(slf.into_any().unbind());
        };
        let py = slf.py();
        Ok(Py::new(py, SynchronizedMethod::new(slf.unbind(), obj.unbind()))?.into_any())
    }

    /// `with func:` takes the lock its calls take (a method's needs its instance:
    /// `with obj.method:`), and gives that lock.
    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ctx = self.own_context(py)?;
        Ok(ctx.call_method0(intern!(py, "__enter__"))?.unbind())
    }

    /// Releases what `with func:` took.
    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let ctx = self.own_context(py)?;
        Ok(ctx.call_method1(intern!(py, "__exit__"), args)?.unbind())
    }

    /// `async with func:` takes the async lock its `async def` calls take (the function's
    /// task-owned lock), awaiting it; gives what `async with synchronized(...)` gives.
    ///
    /// Cancel safety: cancelled while waiting for the lock, it takes nothing.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ctx = self.own_context(py)?;
        Ok(ctx.call_method0(intern!(py, "__aenter__"))?.unbind())
    }

    /// Releases what `async with func:` took (an awaitable that never waits).
    #[pyo3(signature = (*args))]
    fn __aexit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let ctx = self.own_context(py)?;
        Ok(ctx.call_method1(intern!(py, "__aexit__"), args)?.unbind())
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
        visit.call(&self.context)?;
        if let Some(ctx) = self.own_context.get() {
            visit.call(ctx)?;
        }
        Ok(())
    }
}

/// Marks `_Synchronized` as a method descriptor (`Py_TPFLAGS_METHOD_DESCRIPTOR`), as a
/// function is: `obj.method()` then calls it with `obj` first without making a bound
/// method at all. Its `__get__` keeps the flag's promise: `f.__get__(obj)(*a)` is
/// `f(obj, *a)`, and `f.__get__(None)` is `f`.
pub(crate) fn mark_method_descriptor(ty: &Bound<'_, PyType>) {
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is the live type object pyo3 made for `_Synchronized`; the flag is set
    // once, at module initialisation, before any instance exists, and `PyType_Modified`
    // drops whatever the interpreter cached about the type.
    unsafe {
        (*tp).tp_flags |= ffi::Py_TPFLAGS_METHOD_DESCRIPTOR;
        ffi::PyType_Modified(tp);
    }
}

impl Synchronized {
    /// A call with `args`: through the locks here, or the Python path.
    pub(crate) fn call(
        &self,
        py: Python<'_>,
        args: Args<'_, '_>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        match self.route(py, args)? {
            Route::Native(locks) if self.is_async => self.call_async(py, Some(locks), args, kwargs),
            Route::Native(locks) => self.call_sync(py, &locks, args, kwargs),
            // The first async call on an instance is a coroutine of this kind too.
            Route::Create if self.is_async => self.call_async(py, None, args, kwargs),
            Route::Create | Route::Python => {
                Ok(args.call(self.fallback.bind(py), kwargs)?.unbind())
            }
        }
    }

    /// `context(None)`: what `with` on the function itself takes (made once).
    fn own_context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(ctx) = self.own_context.get() {
            return Ok(ctx.bind(py).clone());
        }
        // Racing threads may both ask; `context(None)` gives them the same object.
        let made = self.context.bind(py).call1((py.None(),))?;
        Ok(self
            .own_context
            .get_or_init(|| made.unbind())
            .bind(py)
            .clone())
    }

    /// `context(owner)`: what `with` on this callable bound to `owner` takes.
    pub(crate) fn context_for<'py>(
        &self,
        owner: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.context.bind(owner.py()).call1((owner,))
    }
}

// CPython API that pyo3-ffi leaves out.
extern "C" {
    /// An attribute found through a type's MRO, borrowed, without raising (`object.h`).
    fn _PyType_Lookup(tp: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

mod bound;
mod boxes;
mod call;
pub(crate) use bound::SynchronizedMethod;
pub(crate) use boxes::{_box_of, _box_table_len, _leave_box, _registered_box};
pub(crate) use call::SynchronizedCall;
