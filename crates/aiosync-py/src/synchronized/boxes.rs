//! Where `synchronized` finds an owner's locks (its `_ObjectLocks` box), made on first
//! use and at most once: an instance's in its `__dict__`, a class's in its own namespace
//! (a subclass gets its own), and an owner that takes neither (`__slots__`, builtins) in a
//! table keyed by `id(owner)` — freed with the owner through a weak reference, or, if the
//! owner cannot be weakly referenced either, kept only while some call holds or waits for
//! its lock (the caller then `_leave_box`-es it).
//!
//! Which lock belongs to which Python object is a question of Python identity (ids,
//! `__dict__`, weak references), so it lives here; who may take that lock is the core's.

use super::{own_box, OwnBox};
use aiosync::raw::{Holder, RawReentrantLock, Reentry};
use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple, PyType, PyWeakrefReference};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Serialises making boxes, so that racing threads make one per owner. Reentrant per
/// thread: making a box may run Python code (a factory, a finalizer) that makes another.
static CREATING: RawReentrantLock = RawReentrantLock::new();

/// Holds [`CREATING`] for this thread until dropped.
struct Creating;

impl Creating {
    fn enter(py: Python<'_>) -> Creating {
        // Waited for without the GIL: the holder may need it to finish.
        py.detach(|| {
            let taken = CREATING.lock_blocking(&Holder::thread(), Reentry::Allow, None, false);
            debug_assert!(matches!(taken, Ok(true)));
        });
        Creating
    }
}

impl Drop for Creating {
    fn drop(&mut self) {
        let released = CREATING.unlock(Holder::thread().owner());
        debug_assert!(released.is_ok());
    }
}

/// One owner's box in the table.
struct Entry {
    locks: Py<PyAny>,
    /// `Some(n)`: the owner cannot be weakly referenced; `n` calls use the box.
    users: Option<usize>,
    /// The weak reference whose callback removes this entry.
    weak: Option<Py<PyAny>>,
}

/// Boxes of owners without a `__dict__`, by `id(owner)`. Only Rust runs under its lock:
/// entries taken out are dropped (which may run Python code) after it is released.
static BY_ID: LazyLock<Mutex<HashMap<usize, Entry>>> = LazyLock::new(Default::default);

fn table() -> std::sync::MutexGuard<'static, HashMap<usize, Entry>> {
    // A panic under this lock leaves the map whole (no Python code runs under it).
    BY_ID.lock().unwrap_or_else(|p| p.into_inner())
}

/// `owner`'s entry, counting one more user if it is use-counted.
fn lookup(py: Python<'_>, key: usize) -> Option<(Py<PyAny>, bool)> {
    let mut t = table();
    let e = t.get_mut(&key)?;
    let counted = match &mut e.users {
        Some(n) => {
            *n += 1;
            true
        }
        None => false,
    };
    Some((e.locks.clone_ref(py), counted))
}

fn is_attr_refusal(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyAttributeError>(py) || e.is_instance_of::<PyTypeError>(py)
}

/// `owner`'s box and whether it is use-counted (then `_leave_box(owner)` after the call).
/// `key` is the attribute name boxes are kept under; `factory()` makes a box.
#[pyfunction]
pub(crate) fn _box_of(
    owner: &Bound<'_, PyAny>,
    key: &Bound<'_, PyString>,
    factory: &Bound<'_, PyAny>,
) -> PyResult<(Py<PyAny>, bool)> {
    let py = owner.py();
    if let Ok(cls) = owner.cast::<PyType>() {
        if let Some(found) = class_box(cls, key, factory)? {
            return Ok((found, false));
        }
    } else if let Some(found) = instance_box(owner, key, factory)? {
        return Ok((found, false));
    }
    let id = owner.as_ptr() as usize;
    if let Some(found) = lookup(py, id) {
        return Ok(found);
    }
    let _creating = Creating::enter(py);
    if let Some(found) = lookup(py, id) {
        return Ok(found);
    }
    let locks = factory.call0()?.unbind();
    let weak = match PyWeakrefReference::new_with(owner, forget_callback(py, id)?) {
        Ok(w) => Some(w.into_any().unbind()),
        Err(e) if e.is_instance_of::<PyTypeError>(py) => None,
        Err(e) => return Err(e),
    };
    let counted = weak.is_none();
    let entry = Entry {
        locks: locks.clone_ref(py),
        users: counted.then_some(1),
        weak,
    };
    let replaced = table().insert(id, entry);
    debug_assert!(replaced.is_none(), "made under CREATING after a miss");
    drop(replaced);
    Ok((locks, counted))
}

/// A class's box, in its own namespace; `None` if the class refuses the attribute.
fn class_box(
    cls: &Bound<'_, PyType>,
    key: &Bound<'_, PyString>,
    factory: &Bound<'_, PyAny>,
) -> PyResult<Option<Py<PyAny>>> {
    let py = cls.py();
    let own = |cls: &Bound<'_, PyType>| -> PyResult<Option<Py<PyAny>>> {
        let ns = cls.getattr(intern!(py, "__dict__"))?;
        let got = ns.call_method1(intern!(py, "get"), (key,))?;
        Ok((!got.is_none()).then(|| got.unbind()))
    };
    if let Some(b) = own(cls)? {
        return Ok(Some(b));
    }
    let _creating = Creating::enter(py);
    if let Some(b) = own(cls)? {
        return Ok(Some(b));
    }
    let made = factory.call0()?;
    // `type.__setattr__`, past any metaclass override, as for an instance below.
    let set = py
        .get_type::<PyType>()
        .getattr(intern!(py, "__setattr__"))?
        .call1((cls, key, &made));
    match set {
        Ok(_) => own(cls),
        Err(e) if is_attr_refusal(py, &e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An instance's box, in its `__dict__`; `None` if it has no `__dict__` (or refuses it).
fn instance_box(
    owner: &Bound<'_, PyAny>,
    key: &Bound<'_, PyString>,
    factory: &Bound<'_, PyAny>,
) -> PyResult<Option<Py<PyAny>>> {
    let py = owner.py();
    match own_box(owner, key)? {
        OwnBox::Found(b) => return Ok(Some(b.unbind())),
        OwnBox::NoDict => return Ok(None),
        OwnBox::Missing => {}
    }
    let _creating = Creating::enter(py);
    match own_box(owner, key)? {
        OwnBox::Found(b) => return Ok(Some(b.unbind())),
        OwnBox::NoDict => return Ok(None),
        OwnBox::Missing => {}
    }
    let made = factory.call0()?;
    // `object.__setattr__`: the instance's own `__setattr__` is not the synchronizer's.
    // SAFETY: all three are live objects borrowed for the call; the function returns 0, or
    // -1 with an exception set (fetched below).
    let rc = unsafe { ffi::PyObject_GenericSetAttr(owner.as_ptr(), key.as_ptr(), made.as_ptr()) };
    if rc != 0 {
        let e = PyErr::fetch(py);
        return if is_attr_refusal(py, &e) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(match own_box(owner, key)? {
        OwnBox::Found(b) => Some(b.unbind()),
        OwnBox::NoDict | OwnBox::Missing => None,
    })
}

/// The callback of an owner's weak reference: drops its entry (only its own: the id may
/// name a new object by the time a late callback runs).
fn forget_callback(py: Python<'_>, id: usize) -> PyResult<Bound<'_, PyCFunction>> {
    PyCFunction::new_closure(
        py,
        None,
        None,
        move |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
            let weak = args.get_item(0)?;
            let gone = {
                let mut t = table();
                let mine = t
                    .get(&id)
                    .and_then(|e| e.weak.as_ref())
                    .is_some_and(|w| w.is(&weak));
                if mine {
                    t.remove(&id)
                } else {
                    None
                }
            };
            drop(gone);
            Ok(())
        },
    )
}

/// One use-counted call on `owner`'s box is over (after `_box_of` said `counted`).
#[pyfunction]
pub(crate) fn _leave_box(owner: &Bound<'_, PyAny>) -> PyResult<()> {
    let id = owner.as_ptr() as usize;
    let gone = {
        let mut t = table();
        let Some(Entry { users: Some(n), .. }) = t.get_mut(&id) else {
            return Err(PyTypeError::new_err("no use-counted box for this object"));
        };
        *n -= 1;
        if *n == 0 {
            t.remove(&id)
        } else {
            None
        }
    };
    drop(gone);
    Ok(())
}

/// For tests: `owner`'s box in the table, if any (`None` for owners with a `__dict__`).
#[pyfunction]
pub(crate) fn _registered_box(py: Python<'_>, owner: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    let id = owner.as_ptr() as usize;
    table().get(&id).map(|e| e.locks.clone_ref(py))
}

/// For tests: `(entries, use-counted entries)` in the table.
#[pyfunction]
pub(crate) fn _box_table_len() -> (usize, usize) {
    let t = table();
    (t.len(), t.values().filter(|e| e.users.is_some()).count())
}
