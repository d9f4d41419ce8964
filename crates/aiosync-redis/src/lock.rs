//! Lock: a FIFO lock across processes; Hold: one acquisition, with its fencing token.

use crate::client::Shared;
use crate::Error;
use aiosync::Event;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The keys of one lock (see the table in `scripts.rs`).
pub(crate) struct Keys {
    owner: String,
    queue: String,
    fence: String,
    seq: String,
    /// Prefix of the waiters' liveness keys.
    waiter: String,
}

/// A lock shared by every client of the same server and namespace, granted in FIFO
/// order. Get one with [`Client::lock`](crate::Client::lock).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let lock = client.lock("orders");
/// if let Some(hold) = lock.try_lock()? {
///     hold.check()?; // still ours?
///     hold.release()?;
/// }
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Lock {
    shared: Arc<Shared>,
    name: Arc<str>,
    keys: Arc<Keys>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("name", &self.name).finish()
    }
}

impl Lock {
    pub(crate) fn new(shared: Arc<Shared>, name: &str) -> Lock {
        let base = format!("{}:lock:{{{name}}}", shared.namespace);
        let keys = Keys {
            owner: format!("{base}:owner"),
            queue: format!("{base}:queue"),
            fence: format!("{base}:fence"),
            seq: format!("{base}:seq"),
            waiter: format!("{base}:w:"),
        };
        Lock {
            shared,
            name: name.into(),
            keys: Arc::new(keys),
        }
    }

    /// The lock's name.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// assert_eq!(client.lock("orders").name(), "orders");
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the lock if it is free and nobody waits for it, without waiting.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// match client.lock("orders").try_lock()? {
    ///     Some(hold) => hold.release()?,
    ///     None => println!("busy"),
    /// }
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<Hold>, Error> {
        let id = self.shared.next_waiter_id();
        self.attempt(&id, false)
    }

    /// Waits for the lock, on any executor. Each poll that re-checks makes one blocking
    /// round trip to the server (tens of microseconds on a local network); the waits
    /// between them sleep on an [`aiosync::Event`] woken by the client's pub/sub thread.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the queue; if a release handed the lock to it in the
    /// meantime, it passes the lock on to the next waiter. So it works under any timeout
    /// combinator, and nothing is leaked.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// let hold = aiosync::block_on(lock.lock(), None).expect("no timeout")?;
    /// hold.release()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn lock(&self) -> Result<Hold, Error> {
        let waiter = Waiter::new(self);
        loop {
            // Clear before the check: a wake sent after it is kept for the wait below.
            waiter.event.clear();
            if let Some(hold) = waiter.step()? {
                return Ok(hold);
            }
            waiter.event.wait().await;
        }
    }

    /// Waits for the lock, blocking the thread.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock_blocking(&self) -> Result<Hold, Error> {
        self.wait_blocking(None)
            .map(|h| h.expect("no deadline, so a hold"))
    }

    /// Waits for the lock until `timeout` has passed (a deadline: re-checks do not
    /// extend it), blocking the thread; `None` if it did not come in time, and the
    /// waiter has then left the queue.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", Duration::from_secs(5))?;
    /// if let Some(hold) = client.lock("orders").lock_blocking_timeout(Duration::from_millis(500))? {
    ///     hold.release()?;
    /// }
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock_blocking_timeout(&self, timeout: Duration) -> Result<Option<Hold>, Error> {
        self.wait_blocking(Some(Instant::now() + timeout))
    }

    fn wait_blocking(&self, deadline: Option<Instant>) -> Result<Option<Hold>, Error> {
        let waiter = Waiter::new(self);
        loop {
            waiter.event.clear();
            if let Some(hold) = waiter.step()? {
                return Ok(Some(hold));
            }
            // The heartbeat re-wakes every beat; the cap only guards a stalled heartbeat.
            let mut wait = self.shared.beat() * 2;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                wait = wait.min(left);
            }
            waiter.event.wait_blocking_timeout(wait);
        }
    }

    /// One run of the acquire script for waiter `id`.
    fn attempt(&self, id: &str, enqueue: bool) -> Result<Option<Hold>, Error> {
        let sent = Instant::now();
        let s = &self.shared;
        let k = &self.keys;
        let token: i64 = s.run(|c| {
            s.scripts
                .acquire
                .key(&k.owner)
                .key(&k.queue)
                .key(&k.fence)
                .key(&k.seq)
                .arg(id)
                .arg(s.lease.as_millis() as u64)
                .arg(if enqueue { "1" } else { "0" })
                .arg(s.wake_prefix())
                .arg(&k.waiter)
                .invoke(c)
        })?;
        if token < 0 {
            return Ok(None);
        }
        let state = Arc::new(HoldState {
            id: id.to_owned(),
            keys: self.keys.clone(),
            token: token as u64,
            deadline: Mutex::new(local_deadline(sent, s.lease)),
            lost: AtomicBool::new(false),
        });
        s.add_hold(id, state.clone());
        Ok(Some(Hold {
            shared: s.clone(),
            state,
            released: false,
        }))
    }

    fn run_release(&self, script: &redis::Script, id: &str) -> Result<i64, Error> {
        run_release(&self.shared, &self.keys, script, id)
    }
}

fn run_release(shared: &Shared, k: &Keys, script: &redis::Script, id: &str) -> Result<i64, Error> {
    shared.run(|c| {
        script
            .key(&k.owner)
            .key(&k.queue)
            .key(&k.fence)
            .arg(id)
            .arg(shared.lease.as_millis() as u64)
            .arg(shared.wake_prefix())
            .arg(&k.waiter)
            .invoke(c)
    })
}

/// The holder's view of its lease ends before the server's: the server's clock starts at
/// the latest when the script runs, after `sent`; the margin covers clock-rate drift.
fn local_deadline(sent: Instant, lease: Duration) -> Instant {
    sent + lease - lease / 50
}

/// A queued acquisition: leaves the queue (and passes on a lock handed to it) on drop.
struct Waiter<'a> {
    lock: &'a Lock,
    id: String,
    event: Arc<Event>,
    granted: std::cell::Cell<bool>,
}

impl<'a> Waiter<'a> {
    fn new(lock: &'a Lock) -> Waiter<'a> {
        let id = lock.shared.next_waiter_id();
        // Register before the first attempt, so a handoff's message finds the event.
        let event = lock.shared.add_waiter(&id);
        Waiter {
            lock,
            id,
            event,
            granted: std::cell::Cell::new(false),
        }
    }

    fn step(&self) -> Result<Option<Hold>, Error> {
        let hold = self.lock.attempt(&self.id, true)?;
        self.granted.set(hold.is_some());
        Ok(hold)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.lock.shared.remove_waiter(&self.id);
        if !self.granted.get() {
            let scripts = &self.lock.shared.scripts;
            // Best effort: if the server is unreachable, the queue entry dies with its
            // liveness key after one lease.
            let _ = self.lock.run_release(&scripts.withdraw, &self.id);
        }
    }
}

/// The state of one hold that the heartbeat shares.
pub(crate) struct HoldState {
    id: String,
    keys: Arc<Keys>,
    token: u64,
    /// When this holder's view of the lease ends, unless renewed.
    deadline: Mutex<Instant>,
    /// Set when a renewal found another owner (or none).
    lost: AtomicBool,
}

impl HoldState {
    pub(crate) fn renew(&self, shared: &Shared) {
        if self.is_lost() {
            return;
        }
        let sent = Instant::now();
        let r: Result<i64, Error> = shared.run(|c| {
            shared
                .scripts
                .renew
                .key(&self.keys.owner)
                .arg(&self.id)
                .arg(shared.lease.as_millis() as u64)
                .invoke(c)
        });
        match r {
            Ok(1) => {
                let mut d = self.deadline.lock();
                // A renewal that came back after the old view ended cannot revive it.
                if Instant::now() < *d {
                    *d = local_deadline(sent, shared.lease);
                }
            }
            Ok(_) => self.lost.store(true, Ordering::SeqCst),
            // Unreachable: the local deadline will pass if this goes on.
            Err(_) => {}
        }
    }

    fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return true;
        }
        if Instant::now() >= *self.deadline.lock() {
            self.lost.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// One acquisition of a [`Lock`]: the lock is held (and its lease renewed by the
/// client's heartbeat) until [`Hold::release`] or drop.
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let hold = client.lock("orders").lock_blocking()?;
/// let token = hold.token(); // pass it to the storage, which rejects older tokens
/// hold.check()?;            // Err(LeaseLost) once the lease is gone
/// hold.release()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct Hold {
    shared: Arc<Shared>,
    state: Arc<HoldState>,
    released: bool,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("token", &self.state.token)
            .field("lost", &self.state.is_lost())
            .finish()
    }
}

impl Hold {
    /// The fencing token of this acquisition: greater than every token given before for
    /// the same lock name, even across a server restart that lost the data (it never
    /// falls below the server's clock in microseconds).
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let a = client.lock("orders").lock_blocking()?;
    /// let first = a.token();
    /// a.release()?;
    /// assert!(client.lock("orders").lock_blocking()?.token() > first);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.state.token
    }

    /// `Err(LeaseLost)` once this holder can no longer be sure it holds the lock: a
    /// renewal found another owner, or the local view of the lease ran out.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// hold.check()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        if self.state.is_lost() {
            Err(Error::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Releases the lock and hands it to the next waiter. `Err(LeaseLost)` if the lease
    /// was lost: the lock then belongs to someone else (or nobody) and is left untouched.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// client.lock("orders").lock_blocking()?.release()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn release(mut self) -> Result<(), Error> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), Error> {
        self.released = true;
        self.shared.remove_hold(&self.state.id);
        let lost = self.state.is_lost();
        // Compare-and-delete even when lost locally: if the server still names us, the
        // lock is ours to free; if not, the script leaves it alone.
        let r = run_release(
            &self.shared,
            &self.state.keys,
            &self.shared.scripts.release,
            &self.state.id,
        )?;
        if lost || r == 0 {
            Err(Error::LeaseLost)
        } else {
            Ok(())
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_inner();
        }
    }
}
