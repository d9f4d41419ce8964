//! The errors of queue operations.

#[cfg(doc)]
use super::Queue;
use std::fmt;

/// The queue was shut down: the error of a get on a shut-down, empty queue (`T = ()`),
/// and of a put that [`PutError`] names (which gives its item back).
///
/// ```
/// let q = aiosync::Queue::<u8>::new(0);
/// q.shutdown(false);
/// # futures_lite::future::block_on(async {
/// assert_eq!(q.get().await, Err(aiosync::QueueShutDown(())));
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

const UNORDERED: &str = "item cannot be ordered with the items in the queue";

/// Why a waiting put ([`Queue::put`], [`Queue::put_blocking`]) did not insert; the item
/// comes back.
///
/// ```
/// use aiosync::{PutError, Queue};
/// let q = Queue::priority_by(0, f64::partial_cmp);
/// q.put_blocking(1.0).unwrap();
/// assert!(matches!(q.put_blocking(f64::NAN), Err(PutError::Unordered(v)) if v.is_nan()));
/// q.shutdown(false);
/// assert!(matches!(q.put_blocking(2.0), Err(PutError::ShutDown(2.0))));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue was (or got) shut down.
    ShutDown(T),
    /// A priority queue's comparator could not order the item with those it was compared
    /// with ([`Queue::priority_by`]); the queue is as it was before the put.
    Unordered(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = aiosync::Queue::new(0);
    /// q.shutdown(false);
    /// assert_eq!(q.put_blocking('a').unwrap_err().into_inner(), 'a');
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::ShutDown(v) | PutError::Unordered(v) => v,
        }
    }
}

impl<T> From<QueueShutDown<T>> for PutError<T> {
    fn from(QueueShutDown(v): QueueShutDown<T>) -> Self {
        PutError::ShutDown(v)
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutError::Unordered(_) => f.write_str("Unordered(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::ShutDown(_) => f.write_str("queue is shut down"),
            PutError::Unordered(_) => f.write_str(UNORDERED),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why [`Queue::try_put`] (or a put that timed out) did not insert; the item comes back.
///
/// ```
/// use aiosync::{Queue, TryPutError};
/// let q = Queue::new(1);
/// q.try_put(1).unwrap();
/// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue was full (for the whole timeout, if any).
    Full(T),
    /// The queue was shut down.
    ShutDown(T),
    /// A priority queue's comparator could not order the item (see
    /// [`PutError::Unordered`]).
    Unordered(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = aiosync::Queue::new(1);
    /// q.try_put('a').unwrap();
    /// assert_eq!(q.try_put('b').unwrap_err().into_inner(), 'b');
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::ShutDown(v) | TryPutError::Unordered(v) => v,
        }
    }
}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(e: PutError<T>) -> Self {
        match e {
            PutError::ShutDown(v) => TryPutError::ShutDown(v),
            PutError::Unordered(v) => TryPutError::Unordered(v),
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            TryPutError::Unordered(_) => f.write_str("Unordered(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("queue is full"),
            TryPutError::ShutDown(_) => f.write_str("queue is shut down"),
            TryPutError::Unordered(_) => f.write_str(UNORDERED),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::try_get`] (or a get that timed out) returned no item.
///
/// ```
/// use aiosync::{Queue, TryGetError};
/// let q = Queue::<u8>::new(0);
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// The queue was empty (for the whole timeout, if any).
    Empty,
    /// The queue was shut down and is empty.
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("queue is empty"),
            TryGetError::ShutDown => f.write_str("queue is shut down"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// [`Queue::task_done`] was called more times than items were put.
///
/// ```
/// let q = aiosync::Queue::<u8>::new(0);
/// assert_eq!(q.task_done(), Err(aiosync::TaskDoneError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
