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

thread_local! {
    // The loop last found running on this thread. Valid while its `_thread_id` is this
    // thread's ident: a running loop owns its thread, so code here runs inside it.
    static LAST_LOOP: std::cell::RefCell<Option<Py<PyAny>>> = const { std::cell::RefCell::new(None) };
}

/// The event loop running in this thread, if any.
///
/// `asyncio._get_running_loop()` makes a system call on some Python versions (its fork
/// check), so the last loop seen is cached per thread and checked through `_thread_id`.
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() } as u64;
    let cached = LAST_LOOP.with(|c| c.borrow().as_ref().map(|l| l.clone_ref(py)));
    if let Some(lp) = cached {
        let lp = lp.into_bound(py);
        if let Ok(tid) = lp.getattr(intern!(py, "_thread_id")) {
            if tid.extract::<u64>().ok() == Some(ident) {
                return Ok(Some(lp));
            }
        }
    }
    let lp = get_running_loop_fn(py)?.call0()?;
    if lp.is_none() {
        return Ok(None);
    }
    LAST_LOOP.with(|c| *c.borrow_mut() = Some(lp.clone().unbind()));
    Ok(Some(lp))
}

/// `asyncio.current_task()` for the Python glue, with the cached loop lookup (None
/// outside a running loop or task).
#[pyfunction]
pub(crate) fn _current_task(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(match running_loop(py)? {
        Some(lp) => current_task(py, &lp)?.unbind(),
        None => py.None(),
    })
}

/// `asyncio._get_running_loop()` for the Python glue, through the same cache.
#[pyfunction]
pub(crate) fn _running_loop(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(match running_loop(py)? {
        Some(lp) => lp.unbind(),
        None => py.None(),
    })
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

/// A wait timeout in the threading style: `None` is no limit, a negative one is zero
/// (`threading.Event.wait(-1)` returns at once).
pub(crate) fn wait_timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(pyo3::exceptions::PyValueError::new_err(
            "timeout must be a number",
        )),
        Some(t) => Ok(Some(
            Duration::try_from_secs_f64(t.max(0.0)).unwrap_or(Duration::MAX),
        )),
    }
}

/// Whether this is the main thread (the one Python delivers signals to).
fn is_main_thread(py: Python<'_>) -> bool {
    static MAIN: PyOnceLock<u64> = PyOnceLock::new();
    let main = *MAIN.get_or_init(py, || {
        py.import("threading")
            .and_then(|t| t.call_method0("main_thread"))
            .and_then(|m| m.getattr("ident"))
            .and_then(|i| i.extract::<u64>())
            .unwrap_or(0)
    });
    main == unsafe { pyo3::ffi::PyThread_get_thread_ident() } as u64
}

/// How long a blocking wait on the main thread sleeps between checks for signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(20);

/// Blocks with the GIL released until `fut` completes or `timeout` passes. On the main
/// thread it wakes every few milliseconds to run signal handlers (Ctrl-C), keeping its
/// place in line; if a handler raises, the future is dropped (cancel safe) and the error
/// propagates.
pub(crate) fn block<F>(
    py: Python<'_>,
    fut: F,
    timeout: Option<Duration>,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    if !is_main_thread(py) {
        return Ok(py.detach(|| aiosync::block_on(fut, timeout)));
    }
    let mut fut = Box::pin(fut);
    let r = block_main(py, fut.as_mut(), timeout);
    // Dropping may run its cancel path, which takes the primitive's lock: not with the GIL
    // (a priority queue compares items under that lock with the GIL).
    py.detach(move || drop(fut));
    r
}

fn block_main<F>(
    py: Python<'_>,
    mut fut: Pin<&mut F>,
    timeout: Option<Duration>,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(std::time::Instant::now())
                .min(SIGNAL_SLICE),
            None => SIGNAL_SLICE,
        };
        let f = fut.as_mut();
        if let Some(v) = py.detach(move || aiosync::block_on(f, Some(slice))) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(None);
        }
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
    /// Always `Some` until dropped.
    fut: Option<Owned<P, F>>,
    map: M,
    /// Poll and drop with the GIL released (the future may take a lock under which
    /// Python code runs: a priority queue's comparisons).
    detach: bool,
}

impl<P: ?Sized + 'static, F, M> Drop for Mapped<P, F, M> {
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take() {
            if self.detach {
                // The cancel path takes the queue's lock: never while holding the GIL.
                let fut = SendPtr(fut);
                Python::attach(|py| py.detach(move || drop(fut)));
            } else {
                drop(fut);
            }
        }
    }
}

/// Moves a value into a GIL-released section (it is only dropped there).
struct SendPtr<T>(T);
// SAFETY: used only for `Owned` futures, which are `Send` (see `Owned`'s impl); the
// wrapper exists because `Drop` impls cannot repeat that bound.
unsafe impl<T> Send for SendPtr<T> {}

impl<P, F, M> PyPoll for Mapped<P, F, M>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send,
{
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        let fut = self.fut.as_mut().expect("polled after drop");
        let polled = if self.detach {
            let waker = cx.waker().clone();
            py.detach(move || fut.poll_inner(&mut Context::from_waker(&waker)))
        } else {
            fut.poll_inner(cx)
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
        fut: Some(Owned::new(owner, make)),
        map,
        detach,
    })
}

/// Wakes an asyncio task: resolves its current future on the loop's thread.
///
/// The future is made only once a poll returned Pending; a wake that comes before it is
/// stored is remembered and applied when it is.
struct LoopWaker {
    event_loop: Py<PyAny>,
    thread: u64,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    future: Option<Py<PyAny>>,
    woken: bool,
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
        let fut = {
            let mut slot = self.slot.lock();
            match slot.future.take() {
                Some(f) => f,
                None => {
                    slot.woken = true;
                    return;
                }
            }
        };
        Python::attach(|py| self.resolve(py, fut.bind(py)))
    }

    fn resolve(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
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

    /// One step of the awaitable: a future to yield, or `None` when it finished with
    /// None (the caller ends the iteration; a value ends it through StopIteration).
    fn step(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut st = self.state.lock();
        let Some(inner) = st.inner.as_mut() else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited aiosync waiter",
            ));
        };
        // First without a waker of its own: most awaits finish at once. The core futures
        // re-check their state on every poll, so a wake that hits this no-op waker is
        // seen by the second poll below.
        let first = inner.poll(py, &mut Context::from_waker(Waker::noop()));
        let lw = Arc::new(LoopWaker {
            event_loop: self.event_loop.clone_ref(py),
            thread: thread_tag(),
            slot: Mutex::new(Slot::default()),
        });
        let polled = match first {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => {
                let waker = Waker::from(lw.clone());
                inner.poll(py, &mut Context::from_waker(&waker))
            }
        };
        match polled {
            Poll::Ready(r) => {
                st.inner = None;
                drop(st);
                let v = r?;
                if v.is_none(py) {
                    return Ok(None);
                }
                Err(PyStopIteration::new_err((v,)))
            }
            Poll::Pending => {
                drop(st);
                let fut = self
                    .event_loop
                    .bind(py)
                    .call_method0(intern!(py, "create_future"))?;
                // What `Future.__await__` does before it yields: asyncio's Task checks it.
                fut.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
                let woken = {
                    let mut slot = lw.slot.lock();
                    if slot.woken {
                        true
                    } else {
                        slot.future = Some(fut.clone().unbind());
                        false
                    }
                };
                if woken {
                    // Woken between the poll and now: the task should run again at once.
                    lw.resolve(py, &fut);
                }
                Ok(Some(fut.unbind()))
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
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // `await` drives it through here: finishing with None raises nothing.
        self.step(py)
    }
    #[pyo3(signature = (_value=None))]
    fn send(&self, py: Python<'_>, _value: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        self.step(py)?.ok_or_else(|| PyStopIteration::new_err(()))
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
