//! The coroutine of one call of a synchronized `async def`.

use super::Args;
use crate::bridge::{self, chained, throw_arg};
use crate::object_lock::{self, ObjectLocks};
use crate::owners;
use aiosync::raw::Reentry;
use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use std::ptr;

/// Where one async call is.
enum State {
    /// Not holding the lock: made and not yet driven (`None`), or waiting for the lock
    /// (driving the awaitable of `box.enter()`).
    Entering(Option<Py<PyAny>>),
    /// Holding the lock, driving the function's coroutine.
    Running(Py<PyAny>),
    /// Finished, failed or closed: holds nothing.
    Done,
}

/// What drives a step.
enum Input<'py> {
    Send(Bound<'py, PyAny>),
    Throw(PyErr),
}

/// What a step gives: a value to yield to the event loop, or the call's result.
enum Output {
    Yield(Py<PyAny>),
    Return(Py<PyAny>),
}

/// The coroutine of one call of a synchronized `async def` (a `collections.abc.Coroutine`,
/// so asyncio takes it as one): when first driven it takes its owner's async lock for the
/// current task (`box.enter()`; a task that holds it already gets `RuntimeError`), then
/// makes and drives the function's coroutine, and releases the lock when that finishes,
/// fails or is closed.
///
/// Cancel safety: cancelled while waiting for the lock, it takes nothing (the lock's own
/// cancel safety); cancelled while running, the cancellation goes to the function's
/// coroutine and the lock is released when it ends.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_SynchronizedCall")]
pub(crate) struct SynchronizedCall {
    func: Py<PyAny>,
    /// `None`: `func` is the Python path, which takes the lock itself.
    locks: Option<Py<ObjectLocks>>,
    /// The instance of a bound method's call, passed before `args`.
    instance: Option<Py<PyAny>>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
    /// The task that took the lock: `leave` releases as it.
    owner: Mutex<Option<aiosync::OwnerId>>,
    state: Mutex<State>,
}

impl SynchronizedCall {
    /// A call of `func(instance, *args, **kwargs)` (`func(*args, **kwargs)` without an
    /// instance) under `locks` (`None`: the Python path).
    pub(crate) fn new(
        func: Py<PyAny>,
        locks: Option<Py<ObjectLocks>>,
        (instance, args): (Option<Bound<'_, PyAny>>, Bound<'_, PyTuple>),
        kwargs: Option<Py<PyDict>>,
    ) -> SynchronizedCall {
        SynchronizedCall {
            func,
            locks,
            instance: instance.map(Bound::unbind),
            args: args.unbind(),
            kwargs,
            owner: Mutex::new(None),
            state: Mutex::new(State::Entering(None)),
        }
    }
}

/// Sends `input` into `it` (a coroutine or awaitable iterator): `it.send(v)` or
/// `it.throw(e)`, with its StopIteration read as `_PyGen_FetchStopIterationValue` does,
/// so that the usual end of a coroutine makes no exception object.
fn drive(py: Python<'_>, it: &Bound<'_, PyAny>, input: Input<'_>) -> PyResult<Output> {
    let (name, arg) = match input {
        Input::Send(v) => (intern!(py, "send"), v),
        Input::Throw(e) => (
            intern!(py, "throw"),
            e.into_value(py).into_bound(py).into_any(),
        ),
    };
    // SAFETY: all three are live objects; a new reference, or NULL with an exception set.
    let r = unsafe { ffi::PyObject_CallMethodOneArg(it.as_ptr(), name.as_ptr(), arg.as_ptr()) };
    if !r.is_null() {
        // SAFETY: `r` is a new reference.
        let r = unsafe { Bound::from_owned_ptr(py, r) };
        return Ok(Output::Yield(r.unbind()));
    }
    // SAFETY: an exception is set (the call failed); only its type is read.
    if unsafe { ffi::PyErr_ExceptionMatches(ffi::PyExc_StopIteration) } == 0 {
        return Err(PyErr::fetch(py));
    }
    let (mut typ, mut val, mut tb) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // Its replacement is 3.12+ only; this one works on every supported version.
    #[allow(deprecated)]
    // SAFETY: takes the set exception's three new references (or NULLs) into ours.
    let (typ, val, tb) = unsafe {
        ffi::PyErr_Fetch(&mut typ, &mut val, &mut tb);
        (
            Bound::from_owned_ptr_or_opt(py, typ),
            Bound::from_owned_ptr_or_opt(py, val),
            Bound::from_owned_ptr_or_opt(py, tb),
        )
    };
    let exact = typ
        .as_ref()
        .is_some_and(|t| t.is(py.get_type::<PyStopIteration>()));
    let value = match val {
        // `PyErr_SetNone(StopIteration)`: how a coroutine returns None.
        None => py.None(),
        Some(v) if v.is_instance_of::<PyStopIteration>() => {
            v.getattr(intern!(py, "value"))?.unbind()
        }
        // Not normalised (before 3.12): the value itself, unless it is an argument tuple.
        Some(v) if exact && !v.is_instance_of::<PyTuple>() => v.unbind(),
        // An argument tuple, or a subclass: Python builds the exception.
        Some(v) => {
            let typ = typ.map_or(ptr::null_mut(), Bound::into_ptr);
            let tb = tb.map_or(ptr::null_mut(), Bound::into_ptr);
            #[allow(deprecated)]
            // SAFETY: hands back the three references just fetched, as they were.
            unsafe {
                ffi::PyErr_Restore(typ, v.into_ptr(), tb)
            };
            let e = PyErr::fetch(py);
            e.value(py).getattr(intern!(py, "value"))?.unbind()
        }
    };
    Ok(Output::Return(value))
}

impl SynchronizedCall {
    /// The state, for one step or `close`: a step runs Python code that could drive this
    /// coroutine again, which is refused, as Python refuses it for its own coroutines.
    fn state(&self) -> PyResult<MutexGuard<'_, State>> {
        let st = self.state.try_lock();
        st.ok_or_else(|| PyValueError::new_err("coroutine already executing"))
    }

    /// One step: runs until the next value to yield, or to the end.
    fn step(&self, py: Python<'_>, input: Input<'_>) -> PyResult<Output> {
        let mut st = self.state()?;
        let unstarted = matches!(*st, State::Entering(None));
        if unstarted && matches!(&input, Input::Send(v) if !v.is_none()) {
            // Refused without starting, as Python's own coroutines do.
            return Err(PyTypeError::new_err(
                "can't send non-None value to a just-started coroutine",
            ));
        }
        match std::mem::replace(&mut *st, State::Done) {
            State::Entering(None) => {
                if let Input::Throw(e) = input {
                    return Err(e);
                }
                let Some(locks) = &self.locks else {
                    return self.start(py, &mut st);
                };
                // The task is looked up once: it takes the lock here (uncontended) and
                // is the owner `leave` releases as.
                let lp = bridge::running_loop(py)?.ok_or_else(bridge::no_loop)?;
                let h = owners::task(py, &lp, "synchronized async code")?;
                *self.owner.lock() = Some(h.owner());
                let locked = locks.get().task_lock().try_lock(&h, Reentry::Refuse);
                if locked.map_err(object_lock::refused)? {
                    return self.start(py, &mut st);
                }
                let enter = locks.bind(py).call_method0(intern!(py, "enter"))?;
                self.acquiring(py, &mut st, enter, Input::Send(py.None().into_bound(py)))
            }
            State::Entering(Some(e)) => self.acquiring(py, &mut st, e.into_bound(py), input),
            State::Running(coro) => self.running(py, &mut st, coro.into_bound(py), input),
            State::Done => match input {
                Input::Throw(e) => Err(e),
                Input::Send(_) => Err(PyRuntimeError::new_err(
                    "cannot reuse already awaited coroutine",
                )),
            },
        }
    }

    /// Drives the lock's awaitable; once it is done, starts the function.
    fn acquiring(
        &self,
        py: Python<'_>,
        st: &mut State,
        enter: Bound<'_, PyAny>,
        input: Input<'_>,
    ) -> PyResult<Output> {
        match drive(py, &enter, input)? {
            Output::Yield(fut) => {
                *st = State::Entering(Some(enter.unbind()));
                Ok(Output::Yield(fut))
            }
            Output::Return(_) => self.start(py, st),
        }
    }

    /// With the lock held: makes the function's coroutine and drives it first.
    fn start(&self, py: Python<'_>, st: &mut State) -> PyResult<Output> {
        let kwargs = self.kwargs.as_ref().map(|k| k.bind(py));
        let args = self.args.bind(py);
        let args = match &self.instance {
            Some(instance) => Args::Bound(instance.bind(py), args),
            None => Args::Given(args),
        };
        match args.call(self.func.bind(py), kwargs) {
            Ok(coro) => self.running(py, st, coro, Input::Send(py.None().into_bound(py))),
            Err(e) => self.release_after(py, Err(e)).map(Output::Return),
        }
    }

    /// Drives the function's coroutine; releases the lock when it ends.
    fn running(
        &self,
        py: Python<'_>,
        st: &mut State,
        coro: Bound<'_, PyAny>,
        input: Input<'_>,
    ) -> PyResult<Output> {
        match drive(py, &coro, input) {
            Ok(Output::Yield(v)) => {
                *st = State::Running(coro.unbind());
                Ok(Output::Yield(v))
            }
            Ok(Output::Return(v)) => self.release_after(py, Ok(v)).map(Output::Return),
            Err(e) => self.release_after(py, Err(e)).map(Output::Return),
        }
    }

    /// Releases the lock (as the task that took it) after the call ended with `result`.
    fn release_after(&self, py: Python<'_>, result: PyResult<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        let (Some(locks), Some(owner)) = (&self.locks, self.owner.lock().take()) else {
            return result;
        };
        let released = locks
            .get()
            .task_lock()
            .unlock(owner)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()));
        match (result, released) {
            (r, Ok(_)) => r,
            (Ok(_), Err(later)) => Err(later),
            (Err(first), Err(later)) => Err(chained(py, later, first)),
        }
    }
}

/// A step's result as `send` gives it: a value to yield, or StopIteration(result).
fn sent(out: Output) -> PyResult<Py<PyAny>> {
    match out {
        Output::Yield(v) => Ok(v),
        Output::Return(v) => Err(PyStopIteration::new_err((v,))),
    }
}

#[pymethods]
impl SynchronizedCall {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// `send(None)`; a call that finishes with None ends without an exception object.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.step(py, Input::Send(py.None().into_bound(py)))? {
            Output::Yield(v) => Ok(Some(v)),
            Output::Return(v) if v.is_none(py) => Ok(None),
            Output::Return(v) => Err(PyStopIteration::new_err((v,))),
        }
    }

    /// Resumes the call with `value`; the lock is taken on the first step.
    ///
    /// Cancel safety: see the class.
    fn send(&self, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        sent(self.step(py, Input::Send(value))?)
    }

    /// Raises an exception inside the call: in the lock's wait (which then gives up its
    /// place) or in the function's coroutine.
    ///
    /// Cancel safety: see the class.
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        sent(self.step(py, Input::Throw(throw_arg(typ, val)))?)
    }

    /// Stops the call: a wait for the lock gives up its place; a running function's
    /// coroutine is closed and the lock released.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = self.state()?;
        match std::mem::replace(&mut *st, State::Done) {
            State::Entering(None) | State::Done => Ok(()),
            State::Entering(Some(enter)) => enter.bind(py).call_method0("close").map(drop),
            State::Running(coro) => {
                let closed = coro.bind(py).call_method0("close").map(|_| py.None());
                self.release_after(py, closed).map(drop)
            }
        }
    }

    /// The function's name, as a coroutine has it (asyncio shows it in a task's repr).
    #[getter(__name__)]
    fn name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.func.bind(py).getattr(intern!(py, "__name__"))
    }

    /// The function's qualified name, as a coroutine has it.
    #[getter(__qualname__)]
    fn qualname<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.func.bind(py).getattr(intern!(py, "__qualname__"))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.func)?;
        visit.call(&self.locks)?;
        visit.call(&self.instance)?;
        visit.call(&self.args)?;
        visit.call(&self.kwargs)?;
        // Running (the lock is taken): what it holds is in use, so not garbage.
        let Some(st) = self.state.try_lock() else {
            return Ok(());
        };
        match &*st {
            State::Entering(enter) => visit.call(enter)?,
            State::Running(coro) => visit.call(coro)?,
            State::Done => {}
        }
        Ok(())
    }
}
