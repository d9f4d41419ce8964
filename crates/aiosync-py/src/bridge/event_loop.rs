//! Which asyncio loop and task are running in this thread, looked up cheaply.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::cell::RefCell;

/// `asyncio._get_running_loop`, cached.
fn get_running_loop_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || {
        Ok(py.import("asyncio")?.getattr("_get_running_loop")?.unbind())
    })
    .map(|f| f.bind(py))
}

/// Python's ident for the calling OS thread (what `threading.get_ident()` and a loop's
/// `_thread_id` hold).
fn thread_ident() -> u64 {
    // SAFETY: `PyThread_get_thread_ident` has no preconditions: it only reads the OS
    // thread id, needs no GIL and no initialised interpreter state.
    let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    ident as u64
}

thread_local! {
    // The loop last found running on this thread. Valid while its `_thread_id` is this
    // thread's ident: a running loop owns its thread, so code here runs inside it.
    static LAST_LOOP: RefCell<Option<Py<PyAny>>> = const { RefCell::new(None) };
}

/// The event loop running in this thread, if any.
///
/// `asyncio._get_running_loop()` makes a system call on some Python versions (its fork
/// check), so the last loop seen is cached per thread and checked through `_thread_id`.
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    let ident = thread_ident();
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
    // This thread runs one event loop: its releases hand over to its own tasks first
    // (within the core's fairness window), so handoffs batch per loop.
    aiosync::task::set_local_handoff(true);
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

/// The main thread's `threading` ident, found once, when the module is imported (see
/// [`init_main_thread`]).
static MAIN: PyOnceLock<u64> = PyOnceLock::new();

/// Finds the main thread's ident. Run at import: finding it runs Python code, where a
/// pending Ctrl-C would be raised; here it fails the import, while inside a wait it
/// would be lost (and the main thread taken for another, waiting with no signal checks).
pub(crate) fn init_main_thread(py: Python<'_>) -> PyResult<()> {
    MAIN.get_or_try_init(py, || {
        py.import("threading")?
            .call_method0("main_thread")?
            .getattr("ident")?
            .extract::<u64>()
    })?;
    Ok(())
}

/// Whether this is the main thread (the one Python delivers signals to).
pub(crate) fn is_main_thread(py: Python<'_>) -> bool {
    MAIN.get(py).is_some_and(|&main| main == thread_ident())
}
