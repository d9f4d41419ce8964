//! The reverse of [`Iter`](super::Iter): a blocking iterator read as a [`Stream`], its
//! items produced on a bounded pool and handed over through a bounded aiosync [`Queue`].

use super::{unblock, Stream, Task};
use crate::{Queue, QueueShutDown};
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How many produced items may wait for the stream's reader.
const BOUND: usize = 16;

type Item<T> = Result<T, Box<dyn Any + Send>>;
type Next<T> = Pin<Box<dyn Future<Output = Result<Item<T>, QueueShutDown>> + Send>>;

/// A [`Stream`] of the items a blocking producer emits on a pool thread (see
/// [`iter_stream`]). Dropping it stops the producer after the item it is on; a panic of
/// the producer is resumed in the task that polls the stream.
#[must_use = "streams do nothing unless polled; dropping it stops the producer"]
pub struct IterStream<T> {
    queue: Arc<Queue<Item<T>>>,
    next: Option<Next<T>>,
    // Dropped with the stream: cancels the producer if it has not started yet.
    _producer: Task<()>,
}

impl<T> std::fmt::Debug for IterStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IterStream")
            .field("queued", &self.queue.len())
            .finish()
    }
}

/// Runs `produce` on a bounded pool (as [`unblock`]) and streams what it emits: `emit`
/// returns `false` once the stream has been dropped, and the producer should stop then.
/// Items wait in a bounded queue (16), so a slow reader slows the producer down.
///
/// ```
/// use aiosync::facade::iter_stream;
/// use futures_lite::StreamExt;
///
/// let squares = iter_stream(|emit| {
///     for n in 1..=3u32 {
///         if !emit(n * n) {
///             break; // the stream was dropped
///         }
///     }
/// });
/// let v: Vec<u32> = futures_lite::future::block_on(squares.collect());
/// assert_eq!(v, [1, 4, 9]);
/// ```
pub fn iter_stream<T, F>(produce: F) -> IterStream<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn FnMut(T) -> bool) + Send + 'static,
{
    let queue = Arc::new(Queue::new(BOUND));
    let q = queue.clone();
    let producer = unblock(move || {
        let mut emit = |item: T| q.put_blocking(Ok(item)).is_ok();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| produce(&mut emit))) {
            let _ = q.put_blocking(Err(payload));
        }
        // The end: the reader takes what is queued, then sees the shutdown.
        q.shutdown(false);
    });
    IterStream {
        queue,
        next: None,
        _producer: producer,
    }
}

/// # Cancel safety
///
/// A `poll_next` that returned `Pending` keeps its place: the item it waits for is not
/// lost if the stream is polled again, and is dropped with the stream otherwise.
impl<T: Send + 'static> Stream for IterStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let next = this.next.get_or_insert_with(|| {
            let q = this.queue.clone();
            Box::pin(async move { q.get().await })
        });
        match next.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                this.next = None;
                match out {
                    Ok(Ok(item)) => Poll::Ready(Some(item)),
                    Ok(Err(payload)) => std::panic::resume_unwind(payload),
                    Err(QueueShutDown(())) => Poll::Ready(None),
                }
            }
        }
    }
}

impl<T> Drop for IterStream<T> {
    fn drop(&mut self) {
        // Immediate: the producer's next `emit` returns false, queued items are dropped.
        self.queue.shutdown(true);
    }
}
