//! Queue, LifoQueue and PriorityQueue: one core queue of Python objects. Who may put or
//! get, the bound, shutdown and close are the core's; this file converts.

mod args;
mod item;
mod reentry;

use crate::bridge::Flag;
use crate::bridge::{self, mapped_with, mode, Mode, PyPoll};
use crate::errors;
use aiosync::{Queue as CoreQueue, QueueShutDown, TryGetError, TryPutError};
use args::{queue_timeout, Maxsize};
use item::{put_error, python_lt, refusal, shut_down, PyItem};
use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyGenericAlias, PyList, PyTuple, PyType};
use reentry::{compared, refuse_inside, Compared};
use std::fmt::Write as _;
use std::sync::Arc;

type Q = CoreQueue<PyItem>;

/// Which order a queue keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// A queue shared by threads and any number of asyncio event loops.
#[pyclass(frozen, subclass, module = "aiosync._aiosync", name = "Queue")]
pub(crate) struct Queue {
    q: Arc<Q>,
    /// Priority queues compare with Python code: every call detaches first.
    detach: bool,
    /// `maxsize` as given (`None`: the default 0); the core holds the bound it means.
    /// Locked only through [`Queue::given`], never while waiting with the GIL held.
    given: Mutex<Option<Py<PyAny>>>,
}

impl Queue {
    fn create(kind: Kind) -> Queue {
        let q = match kind {
            Kind::Fifo => CoreQueue::new(0),
            Kind::Lifo => CoreQueue::lifo(0),
            Kind::Priority => CoreQueue::priority_by(0, python_lt),
        };
        Queue {
            q: Arc::new(q),
            detach: kind == Kind::Priority,
            given: Mutex::new(None),
        }
    }

    fn run<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Q) -> R + Send) -> R {
        if self.detach {
            py.detach(|| f(&self.q))
        } else {
            f(&self.q)
        }
    }

    /// The lock of `given`, waited for with the GIL released: its holder may itself be
    /// waiting (detached) for the core's lock, which a comparing thread holds while it
    /// waits for the GIL.
    fn given(&self, py: Python<'_>) -> MutexGuard<'_, Option<Py<PyAny>>> {
        loop {
            if let Some(g) = self.given.try_lock() {
                return g;
            }
            py.detach(|| drop(self.given.lock()));
        }
    }

    /// `RuntimeError` inside this queue's own comparison: every call that takes the
    /// core's lock (or `given`'s, whose holder may wait for the core's) checks it first.
    fn refuse_inside(&self) -> PyResult<()> {
        refuse_inside(&self.q)
    }

    fn set_maxsize_to(&self, py: Python<'_>, m: Maxsize) -> PyResult<()> {
        self.refuse_inside()?;
        // Both under `given`'s lock, so the bound read back is the core's.
        let mut given = self.given(py);
        self.run(py, |q| q.set_maxsize(m.bound));
        *given = m.given;
        Ok(())
    }

    fn maxsize_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        Ok(match &*self.given(py) {
            Some(v) => v.clone_ref(py),
            None => 0i32.into_pyobject(py)?.into_any().unbind(),
        })
    }

    /// Lazy, like asyncio's coroutines: nothing happens until it is awaited, so a put or
    /// get cancelled before it runs neither inserts nor loses an item.
    fn put_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        item: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        let item = PyItem(item);
        let p = mapped_with(
            self.q.clone(),
            move |q| Compared::new(q, q.put(item)),
            |py, r| r?.map(|()| py.None()).map_err(|e| put_error(py, e)),
            self.detach,
        );
        bridge::waiter(py, lp, Some("Queue.put()"), p)
    }

    fn get_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        let p = mapped_with(
            self.q.clone(),
            |q| Compared::new(q, q.get()),
            |py, r: PyResult<Result<PyItem, QueueShutDown>>| match r? {
                Ok(v) => Ok(v.0),
                Err(_) => Err(shut_down(py)),
            },
            self.detach,
        );
        bridge::waiter(py, lp, Some("Queue.get()"), p)
    }

    /// queue.Queue's `put`: `timeout` is read only where it reads it (`block` true, a
    /// bounded queue).
    fn put_blocking(
        &self,
        py: Python<'_>,
        item: Py<PyAny>,
        block: bool,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.refuse_inside()?;
        let t = if block && self.q.maxsize() != 0 {
            queue_timeout(timeout)?
        } else {
            None
        };
        let r = match compared(|| self.run(py, |q| q.try_put(PyItem(item))))? {
            // The put future keeps the item: only a completed put inserts it.
            Err(TryPutError::Full(item)) if block => {
                return match bridge::block(py, Compared::new(&self.q, self.q.put(item)), t)? {
                    Some(r) => r?.map_err(|e| put_error(py, e)),
                    None => Err(errors::queue_full(py, "queue is full")),
                };
            }
            r => r,
        };
        r.map_err(|e| match e {
            TryPutError::Full(_) => errors::queue_full(py, "queue is full"),
            TryPutError::ShutDown(_) => shut_down(py),
            TryPutError::Unordered(_) => refusal(),
        })
    }

    /// queue.Queue's `get`: `timeout` is read only with `block` true.
    fn get_blocking(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        let t = if block { queue_timeout(timeout)? } else { None };
        let r = match compared(|| self.run(py, |q| q.try_get()))? {
            Err(TryGetError::Empty) if block => {
                match bridge::block(py, Compared::new(&self.q, self.q.get()), t)? {
                    Some(r) => r?.map_err(|_| TryGetError::ShutDown),
                    None => Err(TryGetError::Empty),
                }
            }
            r => r,
        };
        match r {
            Ok(v) => Ok(v.0),
            Err(TryGetError::Empty) => Err(errors::queue_empty(py, "queue is empty")),
            Err(TryGetError::ShutDown) => Err(shut_down(py)),
        }
    }

    fn join_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        if self.run(py, |q| q.unfinished_tasks() == 0 || q.is_closed()) {
            return Ok(bridge::ready_none(py).into_any());
        }
        let p: Box<dyn PyPoll> = mapped_with(
            self.q.clone(),
            |q| q.join(),
            |py, ()| Ok(py.None()),
            self.detach,
        );
        bridge::waiter(py, lp, Some("Queue.join()"), p)
    }

    /// An awaitable that runs `f` on the core queue when first stepped (named `what` in
    /// the never-awaited warning). Made without a running loop too (`asyncio.run(
    /// q.aclose())` calls it before the loop starts): it completes in its first step, so
    /// it never asks the loop for a future.
    fn when_awaited(
        &self,
        py: Python<'_>,
        what: &'static str,
        f: fn(&Q) -> PyResult<()>,
    ) -> PyResult<Py<PyAny>> {
        let lp = match bridge::running_loop(py)? {
            Some(lp) => lp,
            None => py.None().into_bound(py),
        };
        let p = mapped_with(
            self.q.clone(),
            move |q| async move { f(q) },
            |py, r: PyResult<()>| r.map(|()| py.None()),
            self.detach,
        );
        bridge::waiter(py, lp, Some(what), p)
    }

    /// asyncio's `maxsize=… _queue=[…] _getters[n] _putters[n] tasks=n shutdown`.
    fn format(&self, py: Python<'_>) -> PyResult<String> {
        // `maxsize_object` refuses a call from inside the comparison.
        let mut s = format!("maxsize={}", self.maxsize_object(py)?.bind(py).repr()?);
        // Copied under the core's lock, shown (running Python's repr) after it.
        let items = self.run(py, |q| {
            q.snapshot(|item| Python::attach(|py| item.0.clone_ref(py)))
        });
        if !items.is_empty() {
            write!(s, " _queue={}", PyList::new(py, items)?.repr()?).ok();
        }
        let (getters, putters, tasks, shutdown) = self.run(py, |q| {
            (
                q.waiting_getters(),
                q.waiting_putters(),
                q.unfinished_tasks(),
                q.is_shutdown(),
            )
        });
        if getters > 0 {
            write!(s, " _getters[{getters}]").ok();
        }
        if putters > 0 {
            write!(s, " _putters[{putters}]").ok();
        }
        if tasks > 0 {
            write!(s, " tasks={tasks}").ok();
        }
        if shutdown {
            s.push_str(" shutdown");
        }
        Ok(s)
    }
}

fn running(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    bridge::running_loop(py)?.ok_or_else(|| PyRuntimeError::new_err("no running event loop"))
}

#[pymethods]
impl Queue {
    /// Accepts any arguments: `__init__` reads them, as for a class written in Python,
    /// so a subclass's own `__init__` may take others and call `super().__init__(maxsize)`.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "(*args, **kwargs)")]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Queue::create(Kind::Fifo)
    }

    /// `maxsize`: an int or a float; not above zero means unbounded. Read back as given.
    #[pyo3(signature = (maxsize = Maxsize::DEFAULT))]
    fn __init__(&self, py: Python<'_>, maxsize: Maxsize) -> PyResult<()> {
        self.set_maxsize_to(py, maxsize)
    }

    /// `Queue[int]`, as asyncio's and queue's classes allow.
    #[classmethod]
    fn __class_getitem__(cls: &Bound<'_, PyType>, item: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Ok(PyGenericAlias::new(cls.py(), cls.as_any(), item)?
            .into_any()
            .unbind())
    }

    /// asyncio: `await q.put(item)`. queue.Queue: `q.put(item, block=True, timeout=None)`.
    ///
    /// Cancel safety (asyncio form): a cancelled put inserts nothing; the item stays the
    /// caller's.
    #[pyo3(signature = (item, block=None, timeout=None))]
    fn put(
        &self,
        py: Python<'_>,
        item: Py<PyAny>,
        block: Option<Flag>,
        timeout: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, block.is_some() || timeout.is_some())? {
            Mode::Async(lp) => self.put_async(py, lp, item),
            Mode::Blocking => {
                self.put_blocking(py, item, block.is_none_or(|b| b.0), timeout.as_ref())?;
                Ok(py.None())
            }
        }
    }

    /// asyncio: `await q.get()`. queue.Queue: `q.get(block=True, timeout=None)`.
    ///
    /// Cancel safety (asyncio form): a cancelled get takes no item; one handed to it goes
    /// to the next getter.
    #[pyo3(signature = (block=None, timeout=None))]
    fn get(
        &self,
        py: Python<'_>,
        block: Option<Flag>,
        timeout: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, block.is_some() || timeout.is_some())? {
            Mode::Async(lp) => self.get_async(py, lp),
            Mode::Blocking => self.get_blocking(py, block.is_none_or(|b| b.0), timeout.as_ref()),
        }
    }

    fn put_nowait(&self, py: Python<'_>, item: Py<PyAny>) -> PyResult<()> {
        self.put_blocking(py, item, false, None)
    }

    fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get_blocking(py, false, None)
    }

    /// The asyncio form of `put(item)` whatever the caller.
    ///
    /// Cancel safety: a cancelled put inserts nothing; the item stays the caller's.
    #[pyo3(name = "put_async")]
    fn put_async_py(&self, py: Python<'_>, item: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let lp = running(py)?;
        self.put_async(py, lp, item)
    }

    /// The asyncio form of `get()` whatever the caller.
    ///
    /// Cancel safety: a cancelled get takes no item; one handed to it goes to the next
    /// getter.
    #[pyo3(name = "get_async")]
    fn get_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = running(py)?;
        self.get_async(py, lp)
    }

    /// The queue.Queue form of `put(item, block, timeout)` whatever the caller.
    #[pyo3(
        name = "put_blocking",
        signature = (item, block=Flag(true), timeout=None),
        text_signature = "($self, item, block=True, timeout=None)"
    )]
    fn put_blocking_py(
        &self,
        py: Python<'_>,
        item: Py<PyAny>,
        block: Flag,
        timeout: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.put_blocking(py, item, block.0, timeout.as_ref())
    }

    /// The queue.Queue form of `get(block, timeout)` whatever the caller.
    #[pyo3(
        name = "get_blocking",
        signature = (block=Flag(true), timeout=None),
        text_signature = "($self, block=True, timeout=None)"
    )]
    fn get_blocking_py(
        &self,
        py: Python<'_>,
        block: Flag,
        timeout: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.get_blocking(py, block.0, timeout.as_ref())
    }

    /// Marks one item as processed.
    fn task_done(&self, py: Python<'_>) -> PyResult<()> {
        self.refuse_inside()?;
        self.run(py, |q| q.task_done())
            .map_err(|_| PyValueError::new_err("task_done() called too many times"))
    }

    /// asyncio: `await q.join()`. queue.Queue: `q.join()` (blocks).
    ///
    /// Cancel safety (asyncio form): cancelling it changes nothing in the queue.
    fn join(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match mode(py, false)? {
            Mode::Async(lp) => self.join_async(py, lp),
            Mode::Blocking => {
                self.join_blocking_py(py)?;
                Ok(py.None())
            }
        }
    }

    /// The asyncio form of `join()` whatever the caller. Cancel safety: cancelling it
    /// changes nothing in the queue.
    #[pyo3(name = "join_async")]
    fn join_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let lp = running(py)?;
        self.join_async(py, lp)
    }

    /// The queue.Queue form of `join()` whatever the caller: blocks until every item
    /// put was marked done (or the queue is closed).
    #[pyo3(name = "join_blocking")]
    fn join_blocking_py(&self, py: Python<'_>) -> PyResult<()> {
        self.refuse_inside()?;
        bridge::block(py, self.q.join(), None)?;
        Ok(())
    }

    /// Stops puts; getters drain what is left (or, with `immediate`, nothing) then fail.
    #[pyo3(signature = (immediate=false))]
    fn shutdown(&self, py: Python<'_>, immediate: bool) -> PyResult<()> {
        self.refuse_inside()?;
        // Dropping items needs the GIL: the core drops them after releasing its lock.
        self.run(py, |q| q.shutdown(immediate));
        Ok(())
    }

    /// janus's `close()`: `shutdown(immediate=True)`, and every `join()` (now or later)
    /// returns, whatever is left unfinished.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.refuse_inside()?;
        self.run(py, |q| q.close());
        Ok(())
    }

    /// Whether the queue is shut down (by `close()` or `shutdown()`), as janus's and
    /// culsans' `closed` report it.
    #[getter]
    fn closed(&self) -> bool {
        self.q.is_shutdown()
    }

    /// janus's `await q.wait_closed()`: `RuntimeError` if the queue was not closed (or
    /// shut down); nothing to wait for otherwise (aiosync has no notifier tasks).
    ///
    /// Cancel safety: it acts in its first step, without waiting.
    fn wait_closed(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.when_awaited(py, "Queue.wait_closed()", |q| {
            if q.is_shutdown() {
                Ok(())
            } else {
                Err(PyRuntimeError::new_err("Waiting for non-closed queue"))
            }
        })
    }

    /// janus's `await q.aclose()`: `close()` then `wait_closed()`, when awaited (as a
    /// coroutine: a `RuntimeWarning` and nothing done if it is never awaited).
    ///
    /// Cancel safety: it acts in its first step, without waiting: cancelled before it
    /// runs, it does nothing.
    fn aclose(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.refuse_inside()?;
        self.when_awaited(py, "Queue.aclose()", |q| {
            refuse_inside(q)?;
            q.close();
            Ok(())
        })
    }

    fn qsize(&self, py: Python<'_>) -> PyResult<usize> {
        self.refuse_inside()?;
        Ok(self.run(py, |q| q.len()))
    }

    fn empty(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.qsize(py)? == 0)
    }

    fn full(&self, py: Python<'_>) -> PyResult<bool> {
        self.refuse_inside()?;
        Ok(self.run(py, |q| q.is_full()))
    }

    /// The bound as given (`1.3`, `-1`); settable (growing wakes waiting putters, in
    /// order; shrinking keeps the items in, and puts wait until under the new bound).
    #[getter]
    fn get_maxsize(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.maxsize_object(py)
    }

    #[setter]
    fn set_maxsize(&self, py: Python<'_>, value: Maxsize) -> PyResult<()> {
        self.set_maxsize_to(py, value)
    }

    /// Items put and not yet marked done (queue.Queue's attribute, janus's property).
    #[getter]
    fn unfinished_tasks(&self, py: Python<'_>) -> PyResult<usize> {
        self.refuse_inside()?;
        Ok(self.run(py, |q| q.unfinished_tasks()))
    }

    /// asyncio's private name of `unfinished_tasks`.
    #[getter]
    fn _unfinished_tasks(&self, py: Python<'_>) -> PyResult<usize> {
        self.unfinished_tasks(py)
    }

    #[getter]
    fn is_shutdown(&self) -> bool {
        self.q.is_shutdown()
    }

    /// asyncio's `<Queue at 0x… maxsize=0 _queue=[…] _getters[n] _putters[n] tasks=n>`.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let name = slf.get_type().name()?;
        let at = slf.as_ptr() as usize;
        Ok(format!("<{name} at {at:#x} {}>", slf.get().format(py)?))
    }

    /// asyncio's `<Queue maxsize=0 …>` (the repr without the address).
    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let name = slf.get_type().name()?;
        Ok(format!("<{name} {}>", slf.get().format(py)?))
    }
}

/// A last-in first-out queue.
#[pyclass(frozen, extends = Queue, subclass, module = "aiosync._aiosync", name = "LifoQueue")]
pub(crate) struct LifoQueue;

#[pymethods]
impl LifoQueue {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "(*args, **kwargs)")]
    fn new(
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyClassInitializer<Self> {
        PyClassInitializer::from(Queue::create(Kind::Lifo)).add_subclass(LifoQueue)
    }
}

/// A priority queue: the smallest item (by `<`) comes out first. A put or get whose
/// comparison raises (`TypeError` for items that cannot be ordered) raises that error
/// and leaves the queue as it was; a call into the queue from its own `__lt__` raises
/// `RuntimeError`.
#[pyclass(frozen, extends = Queue, subclass, module = "aiosync._aiosync", name = "PriorityQueue")]
pub(crate) struct PriorityQueue;

#[pymethods]
impl PriorityQueue {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "(*args, **kwargs)")]
    fn new(
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyClassInitializer<Self> {
        PyClassInitializer::from(Queue::create(Kind::Priority)).add_subclass(PriorityQueue)
    }
}
