//! The end of a queue: `shutdown` (graceful or immediate) and `close`.

use super::Queue;
use crate::kernel::{NodeState, Wakers};
use crate::sync::Ordering;

impl<T> Queue<T> {
    /// Shuts the queue down: every put fails from now on, and waiting putters are
    /// released with their items. Without `immediate`, getters drain the items left and
    /// then fail; with it, the items are dropped at once, the unfinished count drops by
    /// their number, and waiting getters fail.
    ///
    /// ```
    /// use aiosync::{PutError, Queue, QueueShutDown, TryPutError};
    /// let q = Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.shutdown(false);
    /// assert!(matches!(q.try_put(2), Err(TryPutError::ShutDown(2))));
    /// assert!(matches!(q.put_blocking(3), Err(PutError::ShutDown(3))));
    /// assert_eq!(q.get_blocking(), Ok(1));
    /// assert_eq!(q.get_blocking(), Err(QueueShutDown(())));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.stop(immediate, false);
    }

    /// Closes the queue (janus's `close()`): an immediate [`shutdown`](Self::shutdown)
    /// that also releases every [`join`](Self::join), now and later, whatever is left
    /// unfinished (items taken and never marked done would otherwise keep a joiner
    /// waiting forever). [`task_done`](Self::task_done) still counts down.
    ///
    /// ```
    /// use aiosync::{Queue, TryGetError};
    /// let q = Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// q.try_get().unwrap(); // taken, never marked done
    /// q.close();
    /// assert_eq!(q.try_get(), Err(TryGetError::ShutDown)); // item 2 was dropped
    /// q.join_blocking(); // released although one task is unfinished
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn close(&self) {
        self.stop(true, true);
    }

    fn stop(&self, immediate: bool, close: bool) {
        let mut wakers = Wakers::new();
        let dropped = {
            let mut inner = self.locked();
            inner.shutdown = true;
            self.shut.store(true, Ordering::Release);
            let dropped = if immediate {
                // Q3: items stay announced only while stored: withdraw the permits first.
                self.items.drain();
                let dropped = inner.store.take_all();
                inner.unfinished = inner.unfinished.saturating_sub(dropped.len());
                // Q1: the places of the dropped items come back.
                self.free_places(&mut inner, dropped.len(), &mut wakers);
                dropped
            } else {
                Vec::new()
            };
            inner.closed |= close;
            if inner.joined() {
                inner.joiners.finish_all(NodeState::Granted, &mut wakers);
            }
            dropped
        };
        // After the queue's lock is released: `close` wakes waiters itself (I4).
        self.items.close();
        self.slots.close();
        // I4: (1) the queue's guard ended with its block; (2) `stop` holds no other lock.
        wakers.wake_all();
        // Items may run arbitrary code when dropped: not under the lock.
        drop(dropped);
    }
}
