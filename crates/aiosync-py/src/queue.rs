//! Queue, LifoQueue and PriorityQueue: one core queue of Python objects.

use crate::bridge::Flag;
use crate::bridge::{self, mapped_with, mode, timeout_arg, Mode, PyPoll};
use crate::errors;
use aiosync::{PutError, Queue as CoreQueue, QueueShutDown, TryGetError, TryPutError};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::cmp::Ordering;
use std::sync::Arc;

/// A Python object ordered by Python's `<` (for the priority queue).
///
/// Comparing runs Python code, so it attaches to the interpreter; every operation of a
/// priority queue therefore detaches first, so no thread ever waits for the queue's
/// internal lock while holding the GIL that a comparing thread needs.
pub(crate) struct PyOrd(Py<PyAny>);

impl PartialEq for PyOrd {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for PyOrd {}
impl PartialOrd for PyOrd {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PyOrd {
    fn cmp(&self, other: &Self) -> Ordering {
        Python::attach(|py| {
            let (a, b) = (self.0.bind(py), other.0.bind(py));
            // An item that cannot be compared sorts as equal (heapq would raise).
            if a.lt(b).unwrap_or(false) {
                Ordering::Less
            } else if b.lt(a).unwrap_or(false) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
    }
}

type Q = CoreQueue<PyOrd>;

/// A queue shared by threads and any number of asyncio event loops.
#[pyclass(frozen, subclass, module = "aiosync._aiosync", name = "Queue")]
pub(crate) struct Queue {
    q: Arc<Q>,
    /// Priority queues compare with Python code: every call detaches first.
    detach: bool,
}

/// queue.Queue's timeout rule: None waits forever, a negative one is an error.
fn queue_timeout(timeout: Option<f64>) -> PyResult<Option<std::time::Duration>> {
    match timeout {
        Some(t) if t < 0.0 => Err(PyValueError::new_err(
            "'timeout' must be a non-negative number",
        )),
        t => timeout_arg(t),
    }
}

fn shut_down(py: Python<'_>) -> PyErr {
    errors::queue_shut_down(py, "queue is shut down")
}

impl Queue {
    fn create(maxsize: i64, kind: u8) -> Queue {
        let maxsize = usize::try_from(maxsize)
            .unwrap_or(0)
            .min(aiosync::MAX_PERMITS);
        let q = match kind {
            0 => CoreQueue::new(maxsize),
            1 => CoreQueue::lifo(maxsize),
            _ => CoreQueue::priority(maxsize),
        };
        Queue {
            q: Arc::new(q),
            detach: kind == 2,
        }
    }

    fn run<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Q) -> R + Send) -> R {
        if self.detach {
            py.detach(|| f(&self.q))
        } else {
            f(&self.q)
        }
    }

    /// Lazy, like asyncio's coroutines: nothing happens until it is awaited, so a put or
    /// get cancelled before it runs neither inserts nor loses an item.
    fn put_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        item: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let item = PyOrd(item);
        let p = mapped_with(
            self.q.clone(),
            move |q| q.put(item),
            |py, r: Result<(), PutError<PyOrd>>| match r {
                Ok(()) => Ok(py.None()),
                Err(_) => Err(shut_down(py)),
            },
            self.detach,
        );
        bridge::waiter(py, lp, Some("Queue.put()"), p)
    }

    fn get_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let p = mapped_with(
            self.q.clone(),
            |q| q.get(),
            |py, r: Result<PyOrd, QueueShutDown>| match r {
                Ok(v) => Ok(v.0),
                Err(_) => Err(shut_down(py)),
            },
            self.detach,
        );
        bridge::waiter(py, lp, Some("Queue.get()"), p)
    }

    fn put_blocking(
        &self,
        py: Python<'_>,
        item: Py<PyAny>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let t = queue_timeout(timeout)?;
        let r = match self.run(py, |q| q.try_put(PyOrd(item))) {
            // The put future keeps the item: only a completed put inserts it.
            Err(TryPutError::Full(item)) if block => {
                match bridge::block(py, self.q.put(item), t)? {
                    Some(Ok(())) => Ok(()),
                    Some(Err(_)) => return Err(shut_down(py)),
                    None => return Err(errors::queue_full(py, "queue is full")),
                }
            }
            r => r,
        };
        match r {
            Ok(()) => Ok(()),
            Err(TryPutError::Full(_)) => Err(errors::queue_full(py, "queue is full")),
            Err(TryPutError::ShutDown(_)) => Err(shut_down(py)),
            // Only a fallible comparator refuses, and this one sorts as equal instead.
            Err(TryPutError::Unordered(_)) => Err(shut_down(py)),
        }
    }

    fn get_blocking(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let t = queue_timeout(timeout)?;
        let r = match self.run(py, |q| q.try_get()) {
            Err(TryGetError::Empty) if block => match bridge::block(py, self.q.get(), t)? {
                Some(Ok(v)) => Ok(v),
                Some(Err(_)) => Err(TryGetError::ShutDown),
                None => Err(TryGetError::Empty),
            },
            r => r,
        };
        match r {
            Ok(v) => Ok(v.0),
            Err(TryGetError::Empty) => Err(errors::queue_empty(py, "queue is empty")),
            Err(TryGetError::ShutDown) => Err(shut_down(py)),
        }
    }

    fn join_async(&self, py: Python<'_>, lp: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if self.run(py, |q| q.unfinished_tasks()) == 0 {
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
}

fn running(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    bridge::running_loop(py)?.ok_or_else(|| PyRuntimeError::new_err("no running event loop"))
}

#[pymethods]
impl Queue {
    #[new]
    #[pyo3(signature = (maxsize=0))]
    fn new(maxsize: i64) -> Self {
        Queue::create(maxsize, 0)
    }

    /// asyncio: `await q.put(item)`. queue.Queue: `q.put(item, block=True, timeout=None)`.
    #[pyo3(signature = (item, block=None, timeout=None))]
    fn put(
        &self,
        py: Python<'_>,
        item: Py<PyAny>,
        block: Option<Flag>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, block.is_some() || timeout.is_some())? {
            Mode::Async(lp) => self.put_async(py, lp, item),
            Mode::Blocking => {
                self.put_blocking(py, item, block.is_none_or(|b| b.0), timeout)?;
                Ok(py.None())
            }
        }
    }

    /// asyncio: `await q.get()`. queue.Queue: `q.get(block=True, timeout=None)`.
    #[pyo3(signature = (block=None, timeout=None))]
    fn get(
        &self,
        py: Python<'_>,
        block: Option<Flag>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, block.is_some() || timeout.is_some())? {
            Mode::Async(lp) => self.get_async(py, lp),
            Mode::Blocking => self.get_blocking(py, block.is_none_or(|b| b.0), timeout),
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
    /// Cancel safety: a cancelled get takes no item; one handed to it goes back to the
    /// front of the queue.
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
        timeout: Option<f64>,
    ) -> PyResult<()> {
        self.put_blocking(py, item, block.0, timeout)
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
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        self.get_blocking(py, block.0, timeout)
    }

    /// Marks one item as processed.
    fn task_done(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |q| q.task_done())
            .map_err(|_| PyValueError::new_err("task_done() called too many times"))
    }

    /// asyncio: `await q.join()`. queue.Queue: `q.join()` (blocks).
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
    /// put was marked done.
    #[pyo3(name = "join_blocking")]
    fn join_blocking_py(&self, py: Python<'_>) -> PyResult<()> {
        bridge::block(py, self.q.join(), None)?;
        Ok(())
    }

    /// Stops puts; getters drain what is left (or, with `immediate`, nothing) then fail.
    #[pyo3(signature = (immediate=false))]
    fn shutdown(&self, py: Python<'_>, immediate: bool) {
        let q = &self.q;
        // Dropping items needs the GIL: the core drops them after releasing its lock.
        if self.detach {
            py.detach(|| q.shutdown(immediate));
        } else {
            q.shutdown(immediate);
        }
    }

    fn qsize(&self, py: Python<'_>) -> usize {
        self.run(py, |q| q.len())
    }

    fn empty(&self, py: Python<'_>) -> bool {
        self.qsize(py) == 0
    }

    fn full(&self, py: Python<'_>) -> bool {
        self.run(py, |q| q.is_full())
    }

    #[getter]
    fn maxsize(&self) -> usize {
        self.q.maxsize()
    }

    #[getter]
    fn _unfinished_tasks(&self, py: Python<'_>) -> usize {
        self.run(py, |q| q.unfinished_tasks())
    }

    #[getter]
    fn is_shutdown(&self) -> bool {
        self.q.is_shutdown()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<aiosync.Queue maxsize={} qsize={}>",
            self.maxsize(),
            self.qsize(py)
        )
    }
}

/// A last-in first-out queue.
#[pyclass(frozen, extends = Queue, subclass, module = "aiosync._aiosync", name = "LifoQueue")]
pub(crate) struct LifoQueue;

#[pymethods]
impl LifoQueue {
    #[new]
    #[pyo3(signature = (maxsize=0))]
    fn new(maxsize: i64) -> PyClassInitializer<Self> {
        PyClassInitializer::from(Queue::create(maxsize, 1)).add_subclass(LifoQueue)
    }
}

/// A priority queue: the smallest item (by `<`) comes out first.
#[pyclass(frozen, extends = Queue, subclass, module = "aiosync._aiosync", name = "PriorityQueue")]
pub(crate) struct PriorityQueue;

#[pymethods]
impl PriorityQueue {
    #[new]
    #[pyo3(signature = (maxsize=0))]
    fn new(maxsize: i64) -> PyClassInitializer<Self> {
        PyClassInitializer::from(Queue::create(maxsize, 2)).add_subclass(PriorityQueue)
    }
}
