//! The futures of [`Queue::put`], [`Queue::get`] and [`Queue::join`].

use super::{PutError, Queue, QueueShutDown};
use crate::kernel::listener::Listener;
use crate::kernel::semaphore::{Closed, PendingAcquire, RawSemaphore};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future returned by [`Queue::put`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let q = aiosync::Queue::new(1);
/// let put: aiosync::Put<'_, u8> = q.put(7);
/// put.await.unwrap();
/// assert_eq!(q.len(), 1);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Put<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    /// A place (`slots`). Withdrawn in `Drop`: a place handed to it goes back through the
    /// queue, which may keep it to pay for a shrink (Q2).
    place: PendingAcquire<&'a RawSemaphore>,
}

impl<'a, T> Put<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>, item: T) -> Self {
        Put {
            queue,
            item: Some(item),
            place: PendingAcquire::new(&queue.slots, 1),
        }
    }

    /// The item of a put that did not complete.
    pub(super) fn take_item(&mut self) -> T {
        self.item.take().expect("Put polled after completion")
    }
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let q = this.queue;
        // Q4: before a place is taken or waited for.
        q.reentry.check();
        if !this.place.is_queued() && q.is_shutdown() {
            return Poll::Ready(Err(PutError::ShutDown(this.take_item())));
        }
        match this.place.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(Closed)) => Poll::Ready(Err(PutError::ShutDown(this.take_item()))),
            Poll::Ready(Ok(())) => Poll::Ready(q.insert(this.take_item())),
        }
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        // Only a queued put can hold a place it has not used (one handed to it while it
        // was still waiting to run); the uncontended path pays one branch.
        if self.place.is_queued() {
            let handed = self.place.withdraw();
            if handed > 0 {
                if self.queue.reentry.inside() {
                    // Dropped inside the comparator, whose caller holds the lock: that
                    // put or get returns the places before it unlocks (Q4).
                    self.queue.reentry.give_back(handed);
                } else {
                    self.queue.return_places(handed);
                }
            }
        }
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").finish_non_exhaustive()
    }
}

/// The future returned by [`Queue::get`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let q = aiosync::Queue::new(0);
/// q.try_put(7).unwrap();
/// let get: aiosync::Get<'_, u8> = q.get();
/// assert_eq!(get.await, Ok(7));
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Get<'a, T> {
    queue: &'a Queue<T>,
    /// An item (`items`), withdrawn when dropped: an item earmarked for it goes to the
    /// next getter.
    item: PendingAcquire<&'a RawSemaphore>,
}

impl<'a, T> Get<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Get {
            queue,
            item: PendingAcquire::new(&queue.items, 1),
        }
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Q4: before an item is taken or waited for.
        this.queue.reentry.check();
        match this.item.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(Closed)) => Poll::Ready(Err(QueueShutDown(()))),
            Poll::Ready(Ok(())) => Poll::Ready(this.queue.remove()),
        }
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").finish_non_exhaustive()
    }
}

/// The future returned by [`Queue::join`].
///
/// ```
/// # futures_lite::future::block_on(async {
/// let q = aiosync::Queue::new(0);
/// q.put(1).await.unwrap();
/// let join: aiosync::Join<'_, i32> = q.join();
/// q.get().await.unwrap();
/// q.task_done().unwrap();
/// join.await;
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Join<'a, T> {
    listener: Listener<&'a Queue<T>>,
}

impl<'a, T> Join<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Join {
            listener: Listener::new(queue),
        }
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let listener = &mut self.get_mut().listener;
        listener.host().reentry.check();
        listener.poll(cx, |_, inner| inner.joined()).map(drop)
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").finish_non_exhaustive()
    }
}
