//! The bridge between aiosync's wakers and asyncio: awaitables that poll a core future,
//! and a waker that resolves an asyncio future on its own event loop.

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{intern, IntoPyObjectExt};
use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A small number for the calling OS thread.
pub(crate) fn thread_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TAG: Cell<u64> = const { Cell::new(0) };
    }
    TAG.with(|t| {
        if t.get() == 0 {
            t.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// `asyncio._get_running_loop`, cached.
fn get_running_loop_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || {
        Ok(py.import("asyncio")?.getattr("_get_running_loop")?.unbind())
    })
    .map(|f| f.bind(py))
}

/// The event loop running in this thread, if any.
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    let lp = get_running_loop_fn(py)?.call0()?;
    Ok((!lp.is_none()).then_some(lp))
}

/// The current asyncio task (must be called with a running loop).
pub(crate) fn current_task<'py>(
    py: Python<'py>,
    lp: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = F.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("current_task")?.unbind())
    })?;
    f.bind(py).call1((lp,))
}

/// A timeout in the threading style: `None` or negative (-1) is no limit.
pub(crate) fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(-1.0) => Ok(None),
        Some(t) if t < 0.0 || t.is_nan() => Err(pyo3::exceptions::PyValueError::new_err(
            "timeout value must be a non-negative number",
        )),
        Some(t) => Ok(Some(
            Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX),
        )),
    }
}

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
    fn __next__(&self, py: Python<'_>) -> PyResult<()> {
        Err(PyStopIteration::new_err((self.value.clone_ref(py),)))
    }
    #[pyo3(signature = (_value=None))]
    fn send(&self, py: Python<'_>, _value: Option<Py<PyAny>>) -> PyResult<()> {
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
fn throw_arg(typ: Bound<'_, PyAny>, val: Option<Bound<'_, PyAny>>) -> PyErr {
    match val {
        Some(v) if !v.is_none() => PyErr::from_value(v),
        _ => match typ.call0() {
            Ok(inst) if inst.is_instance_of::<pyo3::exceptions::PyBaseException>() => {
                PyErr::from_value(inst)
            }
            _ => PyErr::from_value(typ),
        },
    }
}

/// Shared ready awaitables for `True` and `None`: an uncontended acquire allocates nothing.
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

pub(crate) fn ready_none(py: Python<'_>) -> Py<Ready> {
    static R: PyOnceLock<Py<Ready>> = PyOnceLock::new();
    R.get_or_init(py, || {
        Py::new(py, Ready { value: py.None() }).expect("alloc")
    })
    .clone_ref(py)
}

pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<Ready>> {
    Py::new(py, Ready { value })
}

/// A core future the awaitable drives; its output is already a Python value.
pub(crate) trait PyPoll: Send {
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>>;
}

/// A future that borrows from an `Arc` it keeps alive (so it can live in a Python object).
pub(crate) struct Owned<P: ?Sized + 'static, F> {
    // Declared first and dropped explicitly before `owner`, which it borrows.
    fut: ManuallyDrop<Pin<Box<F>>>,
    _owner: Arc<P>,
}

impl<P: ?Sized + Send + Sync + 'static, F: Future> Owned<P, F> {
    /// `make` gets a reference that lives as long as this value (the `Arc` keeps it).
    pub(crate) fn new(owner: Arc<P>, make: impl FnOnce(&'static P) -> F) -> Self {
        // SAFETY: the pointee is kept alive by `_owner` until after `fut` is dropped (see
        // Drop), it never moves (it is behind an `Arc`), and the reference never leaves
        // this value: outputs are turned into Python values by the `PyPoll` impls, which
        // never return anything that borrows it.
        let r: &'static P = unsafe { &*Arc::as_ptr(&owner) };
        Owned {
            fut: ManuallyDrop::new(Box::pin(make(r))),
            _owner: owner,
        }
    }

    pub(crate) fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl<P: ?Sized + 'static, F> Drop for Owned<P, F> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, while `_owner` still keeps the borrowed value alive.
        unsafe { ManuallyDrop::drop(&mut self.fut) }
    }
}

// SAFETY: `Owned` is `F` plus an `Arc<P>`; it is sent where both may go.
unsafe impl<P: ?Sized + Send + Sync + 'static, F: Send> Send for Owned<P, F> {}

/// Adapts an `Owned` future with a function from its output to a Python result.
pub(crate) struct Mapped<P: ?Sized + 'static, F, M> {
    fut: Owned<P, F>,
    map: M,
    /// Poll with the GIL released (the future may run Python code under its own lock).
    detach: bool,
}

impl<P, F, M> PyPoll for Mapped<P, F, M>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send,
{
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        let polled = if self.detach {
            let waker = cx.waker().clone();
            let fut = &mut self.fut;
            py.detach(move || fut.poll_inner(&mut Context::from_waker(&waker)))
        } else {
            self.fut.poll_inner(cx)
        };
        match polled {
            Poll::Ready(v) => Poll::Ready((self.map)(py, v)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A core future borrowing from `owner`, its output turned into a Python value by `map`.
pub(crate) fn mapped<P, F, M>(
    owner: Arc<P>,
    make: impl FnOnce(&'static P) -> F,
    map: M,
) -> Box<dyn PyPoll>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send + 'static,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
{
    mapped_with(owner, make, map, false)
}

/// As [`mapped`], optionally polling with the GIL released.
pub(crate) fn mapped_with<P, F, M>(
    owner: Arc<P>,
    make: impl FnOnce(&'static P) -> F,
    map: M,
    detach: bool,
) -> Box<dyn PyPoll>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send + 'static,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
{
    Box::new(Mapped {
        fut: Owned::new(owner, make),
        map,
        detach,
    })
}

/// Wakes an asyncio task: resolves its future on the loop's thread.
struct LoopWaker {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    thread: u64,
}

fn resolve_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || {
        Ok::<_, PyErr>(wrap_pyfunction!(_resolve, py)?.into_any().unbind())
    })
    .map(|f| f.bind(py))
}

/// Sets a future's result unless it is done (cancelled) already.
#[pyfunction]
fn _resolve(fut: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = fut.py();
    if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
    }
    Ok(())
}

impl LoopWaker {
    fn wake_now(&self) {
        Python::attach(|py| {
            let fut = self.future.bind(py);
            let r = if thread_tag() == self.thread {
                // On the loop's own thread (inside a task or callback): resolve directly.
                _resolve(fut)
            } else {
                resolve_fn(py).and_then(|f| {
                    self.event_loop
                        .bind(py)
                        .call_method1(intern!(py, "call_soon_threadsafe"), (f, fut))
                        .map(drop)
                })
            };
            // A closed loop has no task left to wake.
            if let Err(e) = r {
                if !e.is_instance_of::<PyRuntimeError>(py) {
                    e.write_unraisable(py, None);
                }
            }
        })
    }
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_now()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_now()
    }
}

struct WaiterState {
    inner: Option<Box<dyn PyPoll>>,
}

/// An awaitable that drives a core future from asyncio: each time the future is not
/// ready, it yields a fresh asyncio future that the core's waker resolves.
///
/// Cancellation (`throw`, `close`, or being dropped) drops the core future, whose cancel
/// path passes on anything it had been handed.
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Waiter")]
pub(crate) struct Waiter {
    event_loop: Py<PyAny>,
    state: Mutex<WaiterState>,
}

impl Waiter {
    pub(crate) fn new(event_loop: Bound<'_, PyAny>, inner: Box<dyn PyPoll>) -> Waiter {
        Waiter {
            event_loop: event_loop.unbind(),
            state: Mutex::new(WaiterState { inner: Some(inner) }),
        }
    }

    fn step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut st = self.state.lock();
        let Some(inner) = st.inner.as_mut() else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited aiosync waiter",
            ));
        };
        let lp = self.event_loop.bind(py);
        let fut = lp.call_method0(intern!(py, "create_future"))?;
        let waker = Waker::from(Arc::new(LoopWaker {
            event_loop: self.event_loop.clone_ref(py),
            future: fut.clone().unbind(),
            thread: thread_tag(),
        }));
        match inner.poll(py, &mut Context::from_waker(&waker)) {
            Poll::Ready(r) => {
                st.inner = None;
                drop(st);
                Err(PyStopIteration::new_err((r?,)))
            }
            Poll::Pending => {
                // What `Future.__await__` does before it yields: asyncio's Task checks it.
                fut.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
                Ok(fut.unbind())
            }
        }
    }

    fn cancel(&self) {
        let inner = self.state.lock().inner.take();
        drop(inner);
    }
}

#[pymethods]
impl Waiter {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }
    #[pyo3(signature = (_value=None))]
    fn send(&self, py: Python<'_>, _value: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &self,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.cancel();
        Err(throw_arg(typ, val))
    }
    fn close(&self) {
        self.cancel();
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Returns an awaitable for `make` on the running loop `lp`.
pub(crate) fn waiter(
    py: Python<'_>,
    lp: Bound<'_, PyAny>,
    inner: Box<dyn PyPoll>,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Waiter::new(lp, inner))?.into_any())
}
