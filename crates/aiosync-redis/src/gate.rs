//! The gate every counted primitive is made of (see `scripts.rs`): acquiring a weight of
//! it in FIFO order, the waiter that leaves the queue when dropped, and the hold with its
//! lease and fencing token.

use crate::client::Shared;
use crate::Error;
use aiosync::{Event, OwnerId};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The keys of one gate, in the order the scripts take them.
pub(crate) struct Gate {
    pub(crate) shared: Arc<Shared>,
    pub(crate) name: Arc<str>,
    /// held, hw, ht, queue, qw, seq, fence, extra, waiter prefix.
    keys: [String; 9],
    maxlease: String,
    /// The capacity given at creation (a Semaphore's value, 1 for a Lock).
    capacity: u64,
    /// Holds taken by `acquire` spelled without a guard, by owner (see [`Gate::keep`]).
    kept: Mutex<Vec<(OwnerId, Hold)>>,
}

impl Gate {
    pub(crate) fn new(shared: Arc<Shared>, kind: &str, name: &str, capacity: u64) -> Gate {
        let base = format!("{}:{kind}:{{{name}}}", shared.namespace);
        let keys = [
            "held", "hw", "ht", "queue", "qw", "seq", "fence", "extra", "w:",
        ]
        .map(|k| format!("{base}:{k}"));
        Gate {
            maxlease: format!("{}:maxlease", shared.namespace),
            shared,
            name: name.into(),
            keys,
            capacity,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// One run of the acquire script: `Ok(Ok(hold))`, or `Ok(Err(retry))` with the time a
    /// restart quarantine has left (zero when simply busy).
    fn attempt(
        self: &Arc<Self>,
        id: &str,
        weight: u64,
        enqueue: bool,
        deadline: Option<Instant>,
    ) -> Result<Result<Hold, Duration>, Error> {
        let sent = Instant::now();
        let s = &self.shared;
        let r: Vec<i64> = s.run_by(deadline, |c| {
            let mut inv = s.scripts.acquire.prepare_invoke();
            for k in &self.keys {
                inv.key(k);
            }
            inv.key(&self.maxlease)
                .arg(id)
                .arg(weight)
                .arg(self.capacity)
                .arg(s.lease_ms())
                .arg(if enqueue { "1" } else { "0" })
                .arg(s.wake_prefix())
                .arg(s.server_start_ms())
                .invoke(c)
        })?;
        let (token, retry) = (r.first().copied().unwrap_or(-1), r.get(1).copied());
        if token < 0 {
            return Ok(Err(Duration::from_millis(retry.unwrap_or(0).max(0) as u64)));
        }
        let state = Arc::new(HoldState {
            id: id.to_owned(),
            held_key: self.keys[0].clone(),
            token: token as u64,
            deadline: Mutex::new(local_deadline(sent, s.lease)),
            lost: AtomicBool::new(false),
            released: AtomicBool::new(false),
            lost_event: Event::new(),
        });
        s.add_hold(id, state.clone());
        Ok(Ok(Hold {
            gate: self.clone(),
            state,
            released: false,
        }))
    }

    /// Runs the release script for `id` (leaving the queue first with `withdraw`): true if
    /// `id` held the gate.
    fn release_id(
        &self,
        id: &str,
        withdraw: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        let s = &self.shared;
        let r: i64 = s.run_by(deadline, |c| {
            let mut inv = s.scripts.release.prepare_invoke();
            for k in &self.keys {
                inv.key(k);
            }
            inv.arg(id)
                .arg(self.capacity)
                .arg(s.lease_ms())
                .arg(s.wake_prefix())
                .arg(if withdraw { "1" } else { "0" })
                .invoke(c)
        })?;
        Ok(r == 1)
    }

    /// Adds `n` permits for good (a Semaphore's `release` without a hold); returns the
    /// capacity now.
    pub(crate) fn add(&self, n: u64) -> Result<u64, Error> {
        let s = &self.shared;
        s.run(|c| {
            let mut inv = s.scripts.add.prepare_invoke();
            for k in &self.keys {
                inv.key(k);
            }
            inv.arg(n)
                .arg(self.capacity)
                .arg(s.lease_ms())
                .arg(s.wake_prefix())
                .invoke(c)
        })
    }

    pub(crate) fn try_acquire(self: &Arc<Self>, weight: u64) -> Result<Option<Hold>, Error> {
        let id = self.shared.next_waiter_id();
        Ok(self.attempt(&id, weight, false, None)?.ok())
    }

    pub(crate) async fn acquire(self: &Arc<Self>, weight: u64) -> Result<Hold, Error> {
        let waiter = Waiter::new(self, weight);
        loop {
            // Clear before the check: a wake sent after it is kept for the wait below.
            waiter.event.clear();
            if let Some(hold) = waiter.step(None)? {
                return Ok(hold);
            }
            // Woken by a handoff's message, else by the heartbeat's recheck each beat.
            waiter.event.wait().await;
        }
    }

    pub(crate) fn acquire_blocking(
        self: &Arc<Self>,
        weight: u64,
        deadline: Option<Instant>,
    ) -> Result<Option<Hold>, Error> {
        let waiter = Waiter::new(self, weight);
        loop {
            waiter.event.clear();
            match waiter.step(deadline) {
                Ok(Some(hold)) => return Ok(Some(hold)),
                Ok(None) => {}
                // The deadline passed while the server did not answer: a timeout.
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                Err(e) => return Err(e),
            }
            // The heartbeat re-wakes every beat; the cap only guards a stalled heartbeat.
            let mut wait = self.shared.beat() * 2;
            if !waiter.retry.get().is_zero() {
                wait = wait.min(waiter.retry.get());
            }
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

    /// Keeps `hold` as `owner`'s, for bindings whose `acquire()` gives no guard.
    pub(crate) fn keep(&self, owner: OwnerId, hold: Hold) {
        self.kept.lock().push((owner, hold));
    }

    /// Takes back the latest hold kept for `owner`, else (`any_owner`) the oldest kept.
    pub(crate) fn take_kept(&self, owner: OwnerId, any_owner: bool) -> Option<Hold> {
        let mut kept = self.kept.lock();
        let at = match kept.iter().rposition(|(o, _)| *o == owner) {
            Some(i) => i,
            None if any_owner && !kept.is_empty() => 0,
            None => return None,
        };
        Some(kept.remove(at).1)
    }

    /// Takes back the kept hold with fencing token `token`.
    pub(crate) fn take_kept_token(&self, token: u64) -> Option<Hold> {
        let mut kept = self.kept.lock();
        let at = kept.iter().position(|(_, h)| h.token() == token)?;
        Some(kept.remove(at).1)
    }

    pub(crate) fn kept_watch(&self, token: u64) -> Option<LeaseWatch> {
        let kept = self.kept.lock();
        kept.iter()
            .find(|(_, h)| h.token() == token)
            .map(|(_, h)| h.watch())
    }

    /// Whether the hold with fencing token `token` is kept.
    pub(crate) fn keeps_token(&self, token: u64) -> bool {
        self.kept.lock().iter().any(|(_, h)| h.token() == token)
    }

    /// How many holds are kept (for `locked()`-style questions asked locally).
    pub(crate) fn kept_by(&self, owner: Option<OwnerId>) -> usize {
        let kept = self.kept.lock();
        match owner {
            Some(o) => kept.iter().filter(|(k, _)| *k == o).count(),
            None => kept.len(),
        }
    }

    /// The capacity with the permits added since creation: one round trip.
    pub(crate) fn capacity_now(&self) -> Result<u64, Error> {
        let extra: Option<u64> = self
            .shared
            .run(|c| redis::cmd("GET").arg(&self.keys[7]).query(c))?;
        Ok(self.capacity + extra.unwrap_or(0))
    }

    /// How many holders the gate has on the server and their total weight.
    pub(crate) fn held(&self) -> Result<(u64, u64), Error> {
        let s = &self.shared;
        let ws: Vec<u64> = s.run(|c| redis::cmd("HVALS").arg(&self.keys[1]).query(c))?;
        Ok((ws.len() as u64, ws.iter().sum()))
    }
}

/// A dropped waiter's withdrawal, for the heartbeat to retry until the server answers;
/// given up once the waiter's liveness key must have ended (one lease), as the script
/// drops dead waiters itself then.
fn withdraw_later(gate: Arc<Gate>, id: String) -> crate::client::Deferred {
    let until = Instant::now() + gate.shared.lease;
    Box::new(move || {
        let by = Instant::now() + gate.shared.beat().min(WITHDRAW_BOUND);
        gate.release_id(&id, true, Some(by)).is_ok() || Instant::now() >= until
    })
}

/// The longest a dropped waiter spends leaving the queue when the server does not answer
/// (its entry then dies with its liveness key, after one lease).
const WITHDRAW_BOUND: Duration = Duration::from_millis(200);

/// The holder's view of its lease ends before the server's: the server's clock starts at
/// the latest when the script runs, after `sent`; the margin covers clock-rate drift.
fn local_deadline(sent: Instant, lease: Duration) -> Instant {
    sent + lease - lease / 50
}

/// A queued acquisition: leaves the queue (and passes on a grant that reached it) when
/// dropped without having taken its hold.
struct Waiter<'a> {
    gate: &'a Arc<Gate>,
    weight: u64,
    id: String,
    event: Arc<Event>,
    granted: std::cell::Cell<bool>,
    retry: std::cell::Cell<Duration>,
}

impl<'a> Waiter<'a> {
    fn new(gate: &'a Arc<Gate>, weight: u64) -> Waiter<'a> {
        let id = gate.shared.next_waiter_id();
        // Register before the first attempt, so a handoff's message finds the event.
        let event = gate.shared.add_waiter(&id);
        Waiter {
            gate,
            weight,
            id,
            event,
            granted: std::cell::Cell::new(false),
            retry: std::cell::Cell::new(Duration::ZERO),
        }
    }

    fn step(&self, deadline: Option<Instant>) -> Result<Option<Hold>, Error> {
        match self.gate.attempt(&self.id, self.weight, true, deadline)? {
            Ok(hold) => {
                self.granted.set(true);
                Ok(Some(hold))
            }
            Err(retry) => {
                self.retry.set(retry);
                Ok(None)
            }
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.gate.shared.remove_waiter(&self.id);
        if !self.granted.get() {
            // Best effort: if the server is unreachable, the queue entry dies with its
            // liveness key after one lease.
            // Never long: a timed wait must not be stretched by a silent server. Known
            // down: left to the heartbeat; else tried for a bounded time.
            if !self.gate.shared.is_disconnected() {
                let by = Instant::now() + self.gate.shared.beat().min(WITHDRAW_BOUND);
                if self.gate.release_id(&self.id, true, Some(by)).is_ok() {
                    return;
                }
            }
            self.gate
                .shared
                .defer(withdraw_later(self.gate.clone(), self.id.clone()));
        }
    }
}

/// The state of one hold that the heartbeat and the watchdog share.
pub(crate) struct HoldState {
    id: String,
    held_key: String,
    token: u64,
    /// When this holder's view of the lease ends, unless renewed.
    deadline: Mutex<Instant>,
    /// Set when a renewal found another owner (or none), or the deadline passed.
    lost: AtomicBool,
    /// Set when the hold was released (so its watches end).
    released: AtomicBool,
    /// Set when lost or released.
    lost_event: Event,
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
                .key(&self.held_key)
                .arg(&self.id)
                .arg(shared.lease_ms())
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
            Ok(_) => self.mark_lost(),
            // Unreachable: the local deadline will pass if this goes on.
            Err(_) => {}
        }
    }

    fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
        self.lost_event.set();
    }

    /// Whether lost; marks it so when the local deadline has passed.
    pub(crate) fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return true;
        }
        if Instant::now() >= *self.deadline.lock() {
            self.mark_lost();
            return true;
        }
        false
    }

    pub(crate) fn deadline(&self) -> Instant {
        *self.deadline.lock()
    }
}

/// One acquisition of a Lock, a Semaphore's permit or a side of an RWLock: held (and its
/// lease renewed by the client's heartbeat) until [`Hold::release`] or drop.
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let hold = client.lock("orders").lock_blocking()?;
/// let token = hold.token(); // pass it to the storage, which rejects older tokens
/// hold.check()?;            // Err(LeaseLost) once the lease is gone
/// hold.release()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[must_use = "if unused the hold is released at once"]
pub struct Hold {
    gate: Arc<Gate>,
    state: Arc<HoldState>,
    released: bool,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("name", &self.gate.name)
            .field("token", &self.state.token)
            .field("lost", &self.state.is_lost())
            .finish()
    }
}

impl Hold {
    /// The fencing token of this acquisition: greater than every token given before for
    /// the same name, even across a server restart that lost the data (it never falls
    /// below the server's clock in microseconds).
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

    /// `Err(LeaseLost)` once this holder can no longer be sure it holds: a renewal found
    /// another owner, or the local view of the lease ran out.
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

    /// A handle that tells when this hold's lease is lost; it outlives the hold.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// let watch = hold.watch();
    /// assert!(!watch.is_lost());
    /// // elsewhere: `watch.lost().await` ends once the lease is gone.
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch(self.state.clone())
    }

    /// Releases the hold and grants the next waiters. `Err(LeaseLost)` if the lease was
    /// lost: the gate then belongs to someone else (or nobody) and is left untouched.
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
        self.gate.shared.remove_hold(&self.state.id);
        let lost = self.state.is_lost();
        self.state.released.store(true, Ordering::SeqCst);
        self.state.lost_event.set();
        // From here on the hold's fate is fixed: `lost`, or released in time.
        // Compare-and-delete even when lost locally: if the server still names us, the
        // place is ours to free; if not, the script leaves it alone.
        let mine = self.gate.release_id(&self.state.id, false, None)?;
        if lost || !mine {
            self.state.mark_lost();
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

/// Tells when a [`Hold`]'s lease is lost (a renewal found another owner, or the holder's
/// view of the lease ran out while renewals failed). Cheap to clone.
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let hold = client.lock("orders").lock_blocking()?;
/// let watch = hold.watch();
/// std::thread::spawn(move || {
///     aiosync::block_on(watch.lost(), None);
///     eprintln!("lease lost: stop writing");
/// });
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct LeaseWatch(Arc<HoldState>);

impl std::fmt::Debug for LeaseWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseWatch")
            .field("lost", &self.0.is_lost())
            .finish()
    }
}

impl LeaseWatch {
    /// Whether the lease is lost.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// assert!(!hold.watch().is_lost());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.0.is_lost()
    }

    /// Ends once the lease is lost (on any executor). The client's watchdog marks a hold
    /// lost at its local deadline even while the server does not answer.
    ///
    /// # Cancel safety
    ///
    /// It only waits: dropping it changes nothing.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// let watch = hold.watch();
    /// drop(hold); // released: never lost, so `lost()` would wait for ever
    /// assert!(!watch.is_lost());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn lost(&self) {
        if !self.ended().await {
            std::future::pending::<()>().await;
        }
    }

    /// Ends once the lease is lost (true) or the hold released (false), whichever comes
    /// first.
    ///
    /// # Cancel safety
    ///
    /// It only waits: dropping it changes nothing.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// let watch = hold.watch();
    /// hold.release()?;
    /// assert_eq!(aiosync::block_on(watch.ended(), None), Some(false));
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn ended(&self) -> bool {
        loop {
            if self.0.released.load(Ordering::SeqCst) {
                return self.0.lost.load(Ordering::SeqCst);
            }
            if self.0.is_lost() {
                return true;
            }
            self.0.lost_event.wait().await;
        }
    }
}
