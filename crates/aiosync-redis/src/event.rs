//! Event: a flag in Redis that every client sees; `set` wakes every waiter by pub/sub.

use crate::client::{Shared, Via};
use crate::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An event shared by every client of the same server and namespace: [`Event::set`]
/// wakes every waiter of every client; [`Event::clear`] resets it. A waiter woken by a
/// `set` returns even if the event was cleared again before it ran (as
/// `threading.Event.wait` does). Get one with [`Client::event`](crate::Client::event).
///
/// Keys (namespace S, name N): `S:event:{N}:flag` (present while set), `:gen` (how many
/// times it was set), `:waiters` (zset of waiter ids, scored by liveness end).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let ready = client.event("ready");
/// ready.clear()?;
/// assert!(!ready.is_set()?);
/// ready.set()?;
/// ready.wait_blocking()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Event {
    shared: Arc<Shared>,
    name: Arc<str>,
    /// flag, generation, waiters.
    keys: Arc<[String; 3]>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("name", &self.name).finish()
    }
}

impl Event {
    pub(crate) fn new(shared: Arc<Shared>, name: &str) -> Event {
        let base = format!("{}:event:{{{name}}}", shared.namespace);
        let keys = ["flag", "gen", "waiters"].map(|k| format!("{base}:{k}"));
        Event {
            shared,
            name: name.into(),
            keys: Arc::new(keys),
        }
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the event is set: one round trip.
    pub fn is_set(&self) -> Result<bool, Error> {
        let k = &self.keys[0];
        self.shared
            .run(|c| redis::cmd("EXISTS").arg(k).query::<i64>(c))
            .map(|n| n == 1)
    }

    /// Sets the event and wakes every waiter, of every client; returns how many waiters
    /// were told.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// client.event("ready").set()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn set(&self) -> Result<u64, Error> {
        let s = &self.shared;
        let k = &self.keys;
        s.run(|c| {
            s.scripts
                .event_set
                .key(&k[0])
                .key(&k[1])
                .key(&k[2])
                .arg(s.wake_prefix())
                .invoke(c)
        })
    }

    /// Resets the event: later waits block until the next [`Event::set`].
    pub fn clear(&self) -> Result<(), Error> {
        let k = &self.keys[0];
        self.shared
            .run(|c| redis::cmd("DEL").arg(k).query::<i64>(c))
            .map(drop)
    }

    /// One check for waiter `id`: `Ok(None)` if set (or set since `seen`), else the
    /// generation to remember.
    fn check(&self, id: &str, seen: Option<i64>) -> Result<Option<i64>, Error> {
        self.check_via(id, seen, Via::Wait(None))
            .expect("a waiting run always runs")
    }

    /// As [`Event::check`], made as `via` says (`None`: not made).
    fn check_via(
        &self,
        id: &str,
        seen: Option<i64>,
        via: Via,
    ) -> Option<Result<Option<i64>, Error>> {
        let s = &self.shared;
        let k = &self.keys;
        let r: Result<Vec<i64>, Error> = s.run_via(via, |c| {
            s.scripts
                .event_wait
                .key(&k[0])
                .key(&k[1])
                .key(&k[2])
                .arg(id)
                .arg(s.lease_ms())
                .arg(seen.unwrap_or(-1))
                .invoke(c)
        })?;
        Some(r.map(|r| match r.as_slice() {
            [0, g, ..] => Some(*g),
            _ => None,
        }))
    }

    /// Waits until the event is set, on any executor.
    ///
    /// # Cancel safety
    ///
    /// It only waits: a dropped wait takes its id out of the waiters' set.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let ready = client.event("ready");
    /// ready.set()?;
    /// aiosync::block_on(ready.wait(), None).expect("no timeout")?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn wait(&self) -> Result<(), Error> {
        let w = EventWaiter::new(self, true);
        let mut seen = None;
        loop {
            w.event.clear();
            // Inline while the server answers at once, else on the client's I/O thread.
            let outcome = match self.check_via(&w.id, seen, Via::Fast) {
                Some(r) => Some(r),
                None => {
                    let (ev, id) = (self.clone(), w.id.clone());
                    self.shared
                        .submit(move || ev.check(&id, seen))
                        .outcome()
                        .await
                }
            };
            match outcome {
                Some(Ok(None)) => return Ok(()),
                Some(Ok(Some(g))) => seen = Some(g),
                Some(Err(e)) => return Err(e),
                None => return Err(crate::client::job_panicked()),
            }
            w.event.wait().await;
        }
    }

    /// Waits until the event is set, blocking the thread.
    pub fn wait_blocking(&self) -> Result<(), Error> {
        self.wait_until(None).map(drop)
    }

    /// Waits until the event is set or `timeout` has passed, blocking the thread: whether
    /// it was set.
    pub fn wait_blocking_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let w = EventWaiter::new(self, false);
        let mut seen = None;
        loop {
            w.event.clear();
            match self.check(&w.id, seen)? {
                None => return Ok(true),
                Some(g) => seen = Some(g),
            }
            let mut wait = self.shared.beat() * 2;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                wait = wait.min(left);
            }
            w.event.wait_blocking_timeout(wait);
        }
    }
}

/// A registered wait: its wake-up event, removed (locally and on the server) on drop.
struct EventWaiter<'a> {
    ev: &'a Event,
    id: String,
    event: Arc<aiosync::Event>,
    /// An async caller's: it leaves from the I/O thread.
    via_io: bool,
}

impl<'a> EventWaiter<'a> {
    fn new(ev: &'a Event, via_io: bool) -> EventWaiter<'a> {
        let id = ev.shared.next_waiter_id();
        let event = ev.shared.add_waiter(&id);
        EventWaiter {
            ev,
            id,
            event,
            via_io,
        }
    }
}

impl Drop for EventWaiter<'_> {
    fn drop(&mut self) {
        self.ev.shared.remove_waiter(&self.id);
        let (ev, id) = (self.ev.clone(), std::mem::take(&mut self.id));
        // Best effort, and bounded: an entry left behind ends with its liveness.
        let leave = move || {
            let by = Instant::now() + ev.shared.beat().min(Duration::from_millis(200));
            let k = &ev.keys[2];
            let _ = ev.shared.run_by(Some(by), |c| {
                redis::cmd("ZREM").arg(k).arg(&id).query::<i64>(c)
            });
        };
        if self.via_io {
            drop(self.ev.shared.submit(leave));
        } else {
            leave();
        }
    }
}
