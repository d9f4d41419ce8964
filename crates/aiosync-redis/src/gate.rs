//! The gate every counted primitive is made of (see `scripts.rs`): acquiring a weight of
//! it in FIFO order, and the waiter that leaves the queue when dropped.

use crate::client::{Shared, Via};
use crate::hold::{local_deadline, Hold, HoldState, LeaseWatch};
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
    /// held, hd, queue, qw, seq, fence, extra, waiter prefix.
    keys: [String; 8],
    maxlease: String,
    /// The capacity given at creation (a Semaphore's value, 1 for a Lock).
    capacity: u64,
    /// Holds taken by `acquire` spelled without a guard, by owner (see [`Gate::keep`]).
    kept: Mutex<Vec<(OwnerId, Hold)>>,
}

impl Gate {
    pub(crate) fn new(shared: Arc<Shared>, kind: &str, name: &str, capacity: u64) -> Gate {
        let base = format!("{}:{kind}:{{{name}}}", shared.namespace);
        let keys = ["held", "hd", "queue", "qw", "seq", "fence", "extra", "w:"]
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

    /// One run of the acquire script, waiting for the server until `deadline`:
    /// `Ok(Ok(hold))`, or `Ok(Err(retry))` with the time a restart quarantine has left
    /// (zero when simply busy). `used` is `id`'s: set once a request for it is sent.
    fn attempt(
        self: &Arc<Self>,
        id: &str,
        weight: u64,
        enqueue: bool,
        deadline: Option<Instant>,
        used: &AtomicBool,
    ) -> Result<Result<Hold, Duration>, Error> {
        self.attempt_via(id, weight, enqueue, Via::Wait(deadline), used)
            .expect("a waiting run always runs")
    }

    /// As [`Gate::attempt`], made as `via` says (`None`: not made).
    fn attempt_via(
        self: &Arc<Self>,
        id: &str,
        weight: u64,
        enqueue: bool,
        via: Via,
        used: &AtomicBool,
    ) -> Option<Result<Result<Hold, Duration>, Error>> {
        let sent = Instant::now();
        let s = &self.shared;
        let r: Result<Vec<i64>, Error> = s.run_via(via, |c| {
            // The first request for `id` skips the script's look for its entries (a
            // retry, even of a request whose reply was lost, does not).
            let fresh = !used.swap(true, Ordering::Relaxed);
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
                .arg(s.longest_lease_ms())
                .arg(if fresh { "1" } else { "0" })
                .invoke(c)
        })?;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        if let Some(&longest) = r.get(2) {
            s.saw_lease_ms(longest);
        }
        let (token, retry) = (r.first().copied().unwrap_or(-1), r.get(1).copied());
        if token < 0 {
            let retry = Duration::from_millis(retry.unwrap_or(0).max(0) as u64);
            return Some(Ok(Err(retry)));
        }
        let state = Arc::new(HoldState::new(
            id,
            &self.keys[0],
            token as u64,
            local_deadline(sent, s.lease),
        ));
        s.add_hold(id, state.clone());
        Some(Ok(Ok(Hold::new(self.clone(), state))))
    }

    /// Runs the release script for `id` (leaving the queue first with `withdraw`): true if
    /// `id` held the gate.
    pub(crate) fn release_id(
        &self,
        id: &str,
        withdraw: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        self.release_via(id, withdraw, Via::Wait(deadline))
            .expect("a waiting run always runs")
    }

    /// As [`Gate::release_id`], made as `via` says (`None`: not made).
    pub(crate) fn release_via(
        &self,
        id: &str,
        withdraw: bool,
        via: Via,
    ) -> Option<Result<bool, Error>> {
        let s = &self.shared;
        let r: Result<i64, Error> = s.run_via(via, |c| {
            let mut inv = s.scripts.release.prepare_invoke();
            for k in &self.keys {
                inv.key(k);
            }
            inv.key(&self.maxlease)
                .arg(id)
                .arg(self.capacity)
                .arg(s.lease_ms())
                .arg(s.wake_prefix())
                .arg(if withdraw { "1" } else { "0" })
                .arg(s.server_start_ms())
                .arg(s.longest_lease_ms())
                .invoke(c)
        })?;
        Some(r.map(|r| r == 1))
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
            inv.key(&self.maxlease)
                .arg(n)
                .arg(self.capacity)
                .arg(s.lease_ms())
                .arg(s.wake_prefix())
                .arg(s.server_start_ms())
                .arg(s.longest_lease_ms())
                .invoke(c)
        })
    }

    pub(crate) fn try_acquire(self: &Arc<Self>, weight: u64) -> Result<Option<Hold>, Error> {
        let id = self.shared.next_waiter_id();
        Ok(self
            .attempt(&id, weight, false, None, &AtomicBool::new(false))?
            .ok())
    }

    /// Waits for `weight` of the gate on any executor. Each round trip is made inline
    /// while the server answers at once (see [`Via::Fast`]), else on the client's I/O
    /// thread, so that the executor's thread never waits long on the server.
    pub(crate) async fn acquire(self: &Arc<Self>, weight: u64) -> Result<Hold, Error> {
        let mut waiter = AsyncWaiter::new(self.clone());
        loop {
            // Clear before the check: a wake sent after it is kept for the wait below.
            waiter.event.clear();
            // Inline while the server answers at once, else on the I/O thread.
            let fast = self.attempt_via(&waiter.id, weight, true, Via::Fast, &waiter.used);
            let outcome = match fast {
                Some(r) => Some(r),
                None => {
                    let (gate, id) = (self.clone(), waiter.id.clone());
                    // Whether the fast try sent a request; the job's own retries see its
                    // first send. The waiter awaits the job before trying again.
                    let used = AtomicBool::new(waiter.used.load(Ordering::Relaxed));
                    waiter.used.store(true, Ordering::Relaxed);
                    let pending = self
                        .shared
                        .submit(move || gate.attempt(&id, weight, true, None, &used));
                    waiter.in_flight = true;
                    let outcome = pending.outcome().await;
                    waiter.in_flight = false;
                    outcome
                }
            };
            match outcome {
                Some(Ok(Ok(hold))) => {
                    waiter.granted = true;
                    return Ok(hold);
                }
                Some(Ok(Err(_retry))) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(crate::client::job_panicked()),
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
            .run(|c| redis::cmd("GET").arg(&self.keys[6]).query(c))?;
        Ok(self.capacity + extra.unwrap_or(0))
    }

    /// How many holders the gate has on the server and their total weight.
    pub(crate) fn held(&self) -> Result<(u64, u64), Error> {
        let s = &self.shared;
        // Each entry is "TOKEN:WEIGHT" (see `scripts.rs`).
        let vs: Vec<String> = s.run(|c| redis::cmd("HVALS").arg(&self.keys[1]).query(c))?;
        let weight = |v: &String| v.rsplit(':').next().and_then(|w| w.parse::<u64>().ok());
        Ok((vs.len() as u64, vs.iter().filter_map(weight).sum()))
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

/// A queued acquisition: leaves the queue (and passes on a grant that reached it) when
/// dropped without having taken its hold.
struct Waiter<'a> {
    gate: &'a Arc<Gate>,
    weight: u64,
    id: String,
    event: Arc<Event>,
    granted: std::cell::Cell<bool>,
    retry: std::cell::Cell<Duration>,
    /// A request for `id` was sent (see [`Gate::attempt`]).
    used: AtomicBool,
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
            used: AtomicBool::new(false),
        }
    }

    fn step(&self, deadline: Option<Instant>) -> Result<Option<Hold>, Error> {
        match self
            .gate
            .attempt(&self.id, self.weight, true, deadline, &self.used)?
        {
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
            withdraw(self.gate, &self.id);
        }
    }
}

/// Takes waiter `id` out of the queue, passing on a grant that reached it. Never long: a
/// timed wait must not be stretched by a silent server. Known down: left to the
/// heartbeat; else tried for a bounded time, then left to the heartbeat.
fn withdraw(gate: &Arc<Gate>, id: &str) {
    if !gate.shared.is_disconnected() {
        let by = Instant::now() + gate.shared.beat().min(WITHDRAW_BOUND);
        if gate.release_id(id, true, Some(by)).is_ok() {
            return;
        }
    }
    gate.shared
        .defer(withdraw_later(gate.clone(), id.to_owned()));
}

/// A queued acquisition of an async caller: as [`Waiter`], but it leaves the queue from
/// the I/O thread (after any attempt of its own still under way there).
struct AsyncWaiter {
    gate: Arc<Gate>,
    id: String,
    event: Arc<Event>,
    granted: bool,
    /// An attempt submitted to the I/O thread may still run: the withdrawal must follow it
    /// there (jobs run in order), not overtake it on the fast connection.
    in_flight: bool,
    /// A request for `id` was sent (see [`Gate::attempt`]), or handed to the I/O thread.
    used: AtomicBool,
}

impl AsyncWaiter {
    fn new(gate: Arc<Gate>) -> AsyncWaiter {
        let id = gate.shared.next_waiter_id();
        let event = gate.shared.add_waiter(&id);
        AsyncWaiter {
            gate,
            id,
            event,
            granted: false,
            in_flight: false,
            used: AtomicBool::new(false),
        }
    }
}

impl Drop for AsyncWaiter {
    fn drop(&mut self) {
        self.gate.shared.remove_waiter(&self.id);
        if !self.granted {
            if !self.in_flight {
                if let Some(Ok(_)) = self.gate.release_via(&self.id, true, Via::Fast) {
                    return;
                }
            }
            let (gate, id) = (self.gate.clone(), std::mem::take(&mut self.id));
            // Jobs run in order: this one after the attempt it may have left running.
            drop(self.gate.shared.submit(move || withdraw(&gate, &id)));
        }
    }
}
