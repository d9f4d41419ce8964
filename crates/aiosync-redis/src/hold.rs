//! Hold: one acquisition of a gate, with its lease and fencing token; LeaseWatch: tells
//! when that lease is lost. HoldState is what the heartbeat and the watchdog share.

use crate::client::{Shared, Via};
use crate::gate::Gate;
use crate::Error;
use aiosync::Event;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The holder's view of its lease ends before the server's: the server's clock starts at
/// the latest when the script runs, after `sent`; the margin covers clock-rate drift.
pub(crate) fn local_deadline(sent: Instant, lease: Duration) -> Instant {
    sent + lease - lease / 50
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
    pub(crate) fn new(id: &str, held_key: &str, token: u64, deadline: Instant) -> HoldState {
        HoldState {
            id: id.to_owned(),
            held_key: held_key.to_owned(),
            token,
            deadline: Mutex::new(deadline),
            lost: AtomicBool::new(false),
            released: AtomicBool::new(false),
            lost_event: Event::new(),
        }
    }

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
    pub(crate) fn new(gate: Arc<Gate>, state: Arc<HoldState>) -> Hold {
        Hold {
            gate,
            state,
            released: false,
        }
    }

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

    /// As [`Hold::release`], for async callers: the round trip is made inline while the
    /// server answers at once (within 10 ms), else on the client's I/O thread, so that an
    /// executor's thread never waits long on the server.
    ///
    /// # Cancel safety
    ///
    /// The release is under way as soon as this is called; dropping the future only
    /// stops waiting for its outcome.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// aiosync::block_on(async {
    ///     let hold = lock.lock().await?;
    ///     hold.release_async().await
    /// }, None).expect("no timeout")?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn release_async(mut self) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        let lost = self.begin_release();
        let (gate, state) = (self.gate.clone(), self.state.clone());
        let fast = gate
            .release_via(&state.id, false, Via::Fast)
            .map(|mine| end_release(&state, lost, mine));
        let pending = fast.is_none().then(|| {
            let gate = gate.clone();
            gate.shared.clone().submit(move || {
                let mine = gate.release_id(&state.id, false, None);
                end_release(&state, lost, mine)
            })
        });
        async move {
            match (fast, pending) {
                (Some(r), _) => r,
                (None, Some(p)) => p
                    .outcome()
                    .await
                    .unwrap_or_else(|| Err(crate::client::job_panicked())),
                (None, None) => unreachable!("a release is either made or submitted"),
            }
        }
    }

    fn release_inner(&mut self) -> Result<(), Error> {
        let lost = self.begin_release();
        let mine = self.gate.release_id(&self.state.id, false, None);
        end_release(&self.state, lost, mine)
    }

    /// The local half of a release: whether the lease was already lost. From here on the
    /// hold's fate is fixed: `lost`, or released in time.
    fn begin_release(&mut self) -> bool {
        self.released = true;
        self.gate.shared.remove_hold(&self.state.id);
        let lost = self.state.is_lost();
        self.state.released.store(true, Ordering::SeqCst);
        self.state.lost_event.set();
        lost
    }
}

/// The outcome of a release from the script's answer (`mine`: whether the server still
/// named this holder). The script compares and deletes even when the lease was lost
/// locally: if the server still names us, the place is ours to free; if not, it is left.
fn end_release(state: &HoldState, lost: bool, mine: Result<bool, Error>) -> Result<(), Error> {
    if lost || !mine? {
        state.mark_lost();
        Err(Error::LeaseLost)
    } else {
        Ok(())
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
