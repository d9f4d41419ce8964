//! Lock, Semaphore and RwLock: handles on a gate (see `gate.rs`) with a weight; RLock: a
//! Lock with a local owner and hold count.

use crate::gate::Gate;
use crate::hold::{Hold, LeaseWatch};
use crate::Error;
use aiosync::OwnerId;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lock shared by every client of the same server and namespace, granted in FIFO
/// order; also each side of an [`RwLock`]. Get one with [`Client::lock`](crate::Client::lock).
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
    gate: Arc<Gate>,
    weight: u64,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.gate.name)
            .finish()
    }
}

impl Lock {
    pub(crate) fn from_gate(gate: Arc<Gate>, weight: u64) -> Lock {
        Lock { gate, weight }
    }

    /// The lock's name.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// assert_eq!(client.lock("orders").name(), "orders");
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.gate.name
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
        self.gate.try_acquire(self.weight)
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
        self.gate.acquire(self.weight).await
    }

    /// Waits for the lock, blocking the thread.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock_blocking(&self) -> Result<Hold, Error> {
        self.gate
            .acquire_blocking(self.weight, None)
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
        self.gate
            .acquire_blocking(self.weight, Some(Instant::now() + timeout))
    }

    /// Keeps `hold` as `owner`'s, for code spelled `acquire()` … `release()` without a
    /// guard (the Python binding): [`Lock::release_kept`] gives it back.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// use aiosync::OwnerId;
    /// let lock = client.lock("orders");
    /// lock.keep(OwnerId::current_thread(), lock.lock_blocking()?);
    /// lock.release_kept(OwnerId::current_thread())?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn keep(&self, owner: OwnerId, hold: Hold) {
        self.gate.keep(owner, hold);
    }

    /// Releases the latest hold kept for `owner`, else (as `threading.Lock` lets any
    /// thread release) the oldest one kept by anyone; `Err(NotHeld)` if none is kept.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// use aiosync::OwnerId;
    /// let lock = client.lock("orders");
    /// assert!(lock.release_kept(OwnerId::current_thread()).is_err());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn release_kept(&self, owner: OwnerId) -> Result<(), Error> {
        match self.gate.take_kept(owner, true) {
            Some(h) => h.release(),
            None => Err(Error::NotHeld),
        }
    }

    /// As [`Lock::release_kept`], the round trip made on the client's I/O thread (see
    /// [`Hold::release_async`]); the hold is taken back at once.
    ///
    /// # Cancel safety
    ///
    /// The release is under way once this is called; dropping the future only stops
    /// waiting for its outcome.
    pub fn release_kept_async(
        &self,
        owner: OwnerId,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        let hold = self.gate.take_kept(owner, true);
        let pending = hold.map(Hold::release_async);
        async move {
            match pending {
                Some(p) => p.await,
                None => Err(Error::NotHeld),
            }
        }
    }

    /// Releases the kept hold whose fencing token is `token`; `Err(NotHeld)` if none is.
    pub fn release_kept_token(&self, token: u64) -> Result<(), Error> {
        match self.gate.take_kept_token(token) {
            Some(h) => h.release(),
            None => Err(Error::NotHeld),
        }
    }

    /// Whether a hold with fencing token `token` is kept by this handle.
    pub fn keeps_token(&self, token: u64) -> bool {
        self.gate.keeps_token(token)
    }

    /// The watch of the kept hold whose fencing token is `token`.
    pub fn kept_watch(&self, token: u64) -> Option<LeaseWatch> {
        self.gate.kept_watch(token)
    }

    /// How many holds this handle keeps (for `owner`, or for anyone).
    pub fn kept(&self, owner: Option<OwnerId>) -> usize {
        self.gate.kept_by(owner)
    }

    /// Whether anyone (any client) holds this gate now: one round trip.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// let hold = lock.lock_blocking()?;
    /// assert!(lock.locked()?);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool, Error> {
        let (_, weight) = self.gate.held()?;
        Ok(weight > 0)
    }
}

/// A counting semaphore shared across processes, granted in FIFO order: each holder
/// takes one permit. Get one with [`Client::semaphore`](crate::Client::semaphore).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let sem = client.semaphore("downloads", 2);
/// let a = sem.acquire_blocking()?;
/// let b = sem.acquire_blocking()?;
/// assert!(sem.try_acquire()?.is_none());
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Semaphore {
    lock: Lock,
    bounded: bool,
}

impl Semaphore {
    pub(crate) fn new(gate: Gate, bounded: bool) -> Semaphore {
        Semaphore {
            lock: Lock::from_gate(Arc::new(gate), 1),
            bounded,
        }
    }

    /// The permits as a [`Lock`] handle (each "lock" is one permit): for the forms with
    /// a timeout, [`Lock::keep`] and the like.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// let permit = sem.permits().lock_blocking_timeout(std::time::Duration::from_secs(1))?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn permits(&self) -> &Lock {
        &self.lock
    }

    /// Whether [`Semaphore::add_permits`] is refused.
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// Takes a permit if one is free and nobody waits, without waiting.
    pub fn try_acquire(&self) -> Result<Option<Hold>, Error> {
        self.lock.try_lock()
    }

    /// Waits for a permit, on any executor.
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`]: a dropped wait leaves the queue and passes on a permit granted
    /// to it meanwhile.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// let permit = aiosync::block_on(sem.acquire(), None).expect("no timeout")?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn acquire(&self) -> Result<Hold, Error> {
        self.lock.lock().await
    }

    /// Waits for a permit, blocking the thread.
    pub fn acquire_blocking(&self) -> Result<Hold, Error> {
        self.lock.lock_blocking()
    }

    /// Waits for a permit until `timeout`, blocking the thread; `None` if none came.
    pub fn acquire_blocking_timeout(&self, timeout: Duration) -> Result<Option<Hold>, Error> {
        self.lock.lock_blocking_timeout(timeout)
    }

    /// Adds `n` permits for good, for every client (what `threading.Semaphore.release()`
    /// does without a matching acquire), and grants the waiters they let in; returns the
    /// number of permits now. `Err(TooManyReleases)` on a bounded semaphore.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// assert_eq!(sem.add_permits(1)?, 3);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn add_permits(&self, n: u64) -> Result<u64, Error> {
        if self.bounded {
            return Err(Error::TooManyReleases);
        }
        self.lock.gate.add(n)
    }

    /// Whether every permit is taken now (a new acquire would wait): one round trip.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 1);
    /// let permit = sem.acquire_blocking()?;
    /// assert!(sem.locked()?);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool, Error> {
        let (taken, _) = self.lock.gate.held()?;
        Ok(taken >= self.lock.gate.capacity_now()?)
    }

    /// How many permits are taken now, over every client: one round trip.
    pub fn taken(&self) -> Result<u64, Error> {
        Ok(self.lock.gate.held()?.0)
    }
}

/// A readers-writer lock shared across processes: many readers or one writer, in FIFO
/// order. Get one with [`Client::rwlock`](crate::Client::rwlock).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let rw = client.rwlock("catalog");
/// let w = rw.writer().lock_blocking()?;
/// assert!(rw.reader().try_lock()?.is_none());
/// w.release()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RwLock {
    reader: Lock,
    writer: Lock,
}

impl RwLock {
    pub(crate) fn new(gate: Arc<Gate>) -> RwLock {
        RwLock {
            reader: Lock::from_gate(gate.clone(), 1),
            writer: Lock::from_gate(gate, crate::scripts::RW_CAPACITY),
        }
    }

    /// The shared side: each hold is one reader.
    pub fn reader(&self) -> &Lock {
        &self.reader
    }

    /// The exclusive side: a hold excludes every reader and other writer.
    pub fn writer(&self) -> &Lock {
        &self.writer
    }
}

/// A reentrant lock across processes: the [`Lock`] of the same name, which one owner (a
/// thread, or an async task) may take again while it holds it. Get one with
/// [`Client::rlock`](crate::Client::rlock).
///
/// The hold count is local: the server sees one hold, released when the count drops to
/// zero. The guard-less forms (`*_as`, [`RLock::release_as`]) name the owner
/// explicitly, for bindings with their own notion of a task.
#[derive(Clone, Debug)]
pub struct RLock {
    lock: Lock,
    state: Arc<Mutex<Option<Owned>>>,
}

#[derive(Debug)]
struct Owned {
    owner: OwnerId,
    count: usize,
    hold: Hold,
}

/// One level of an [`RLock`]: the lock is released when the last level is dropped.
#[must_use = "if unused the level is released at once"]
#[derive(Debug)]
pub struct RLockGuard {
    rlock: RLock,
    owner: OwnerId,
    token: u64,
}

impl RLockGuard {
    /// The fencing token of the outermost acquisition.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// `Err(LeaseLost)` once the lease of the hold is lost.
    pub fn check(&self) -> Result<(), Error> {
        self.rlock.check()
    }
}

impl Drop for RLockGuard {
    fn drop(&mut self) {
        let _ = self.rlock.release_as(self.owner);
    }
}

impl RLock {
    pub(crate) fn new(lock: Lock) -> RLock {
        RLock {
            lock,
            state: Arc::new(Mutex::new(None)),
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        self.lock.name()
    }

    /// Another level for `owner` if it holds the lock already: its token.
    fn reenter(&self, owner: OwnerId) -> Option<u64> {
        let mut st = self.state.lock();
        match st.as_mut() {
            Some(o) if o.owner == owner => {
                o.count += 1;
                Some(o.hold.token())
            }
            _ => None,
        }
    }

    fn enter(&self, owner: OwnerId, hold: Hold) -> u64 {
        let token = hold.token();
        *self.state.lock() = Some(Owned {
            owner,
            count: 1,
            hold,
        });
        token
    }

    fn guard(&self, owner: OwnerId, token: u64) -> RLockGuard {
        RLockGuard {
            rlock: self.clone(),
            owner,
            token,
        }
    }

    /// Takes a level for `owner` without waiting: its token, or `None` if another owner
    /// (here or in another process) holds the lock.
    pub fn try_lock_as(&self, owner: OwnerId) -> Result<Option<u64>, Error> {
        if let Some(t) = self.reenter(owner) {
            return Ok(Some(t));
        }
        Ok(self.lock.try_lock()?.map(|h| self.enter(owner, h)))
    }

    /// Waits for a level for `owner`, on any executor: its token.
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`]; a level already held by `owner` is taken without waiting.
    pub async fn lock_as(&self, owner: OwnerId) -> Result<u64, Error> {
        if let Some(t) = self.reenter(owner) {
            return Ok(t);
        }
        let hold = self.lock.lock().await?;
        Ok(self.enter(owner, hold))
    }

    /// Waits for a level for `owner` (until `timeout`, if given), blocking the thread.
    pub fn lock_blocking_as(
        &self,
        owner: OwnerId,
        timeout: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        if let Some(t) = self.reenter(owner) {
            return Ok(Some(t));
        }
        let hold = match timeout {
            None => Some(self.lock.lock_blocking()?),
            Some(t) => self.lock.lock_blocking_timeout(t)?,
        };
        Ok(hold.map(|h| self.enter(owner, h)))
    }

    /// Drops one level of `owner`; the last one releases the lock (and may then report
    /// `LeaseLost`). `Err(NotOwner)` if `owner` does not hold it.
    pub fn release_as(&self, owner: OwnerId) -> Result<(), Error> {
        let mut st = self.state.lock();
        match st.as_mut() {
            Some(o) if o.owner == owner => {
                o.count -= 1;
                if o.count > 0 {
                    return Ok(());
                }
            }
            _ => return Err(Error::NotOwner),
        }
        let o = st.take().expect("checked above");
        drop(st);
        o.hold.release()
    }

    /// The watch of the current hold, if this process holds the lock.
    pub fn watch(&self) -> Option<LeaseWatch> {
        self.state.lock().as_ref().map(|o| o.hold.watch())
    }

    /// The fencing token of the current hold, if `owner` holds the lock.
    pub fn token_of(&self, owner: OwnerId) -> Option<u64> {
        match &*self.state.lock() {
            Some(o) if o.owner == owner => Some(o.hold.token()),
            _ => None,
        }
    }

    /// As [`RLock::release_as`], the last level's round trip made on the client's I/O
    /// thread (see [`Hold::release_async`]).
    ///
    /// # Cancel safety
    ///
    /// The level is dropped once this is called; dropping the future only stops waiting
    /// for the outcome of the release.
    pub fn release_as_async(
        &self,
        owner: OwnerId,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        let last = {
            let mut st = self.state.lock();
            match st.as_mut() {
                Some(o) if o.owner == owner => {
                    o.count -= 1;
                    if o.count == 0 {
                        Ok(st.take().map(|o| o.hold.release_async()))
                    } else {
                        Ok(None)
                    }
                }
                _ => Err(Error::NotOwner),
            }
        };
        async move {
            match last? {
                Some(p) => p.await,
                None => Ok(()),
            }
        }
    }

    /// Whether `owner` holds the lock, and how many levels.
    pub fn levels(&self, owner: OwnerId) -> usize {
        match &*self.state.lock() {
            Some(o) if o.owner == owner => o.count,
            _ => 0,
        }
    }

    /// `Err(LeaseLost)` once the lease of the current hold is lost; `Err(NotHeld)` if
    /// nobody in this process holds it.
    pub fn check(&self) -> Result<(), Error> {
        match &*self.state.lock() {
            Some(o) => o.hold.check(),
            None => Err(Error::NotHeld),
        }
    }

    /// Waits for a level as the current task (see [`aiosync::task`]) or thread.
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`].
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.rlock("orders");
    /// aiosync::block_on(aiosync::task::scope(async {
    ///     let outer = lock.lock().await?;
    ///     let inner = lock.lock().await?; // the same task: at once
    ///     Ok::<_, aiosync_redis::Error>(())
    /// }), None);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn lock(&self) -> Result<RLockGuard, Error> {
        let owner = OwnerId::current();
        let token = self.lock_as(owner).await?;
        Ok(self.guard(owner, token))
    }

    /// Waits for a level as the calling thread, blocking it.
    pub fn lock_blocking(&self) -> Result<RLockGuard, Error> {
        let owner = OwnerId::current_thread();
        let token = self
            .lock_blocking_as(owner, None)?
            .expect("no timeout, so a hold");
        Ok(self.guard(owner, token))
    }

    /// Waits for a level as the calling thread until `timeout`; `None` if it did not come.
    pub fn lock_blocking_timeout(&self, timeout: Duration) -> Result<Option<RLockGuard>, Error> {
        let owner = OwnerId::current_thread();
        Ok(self
            .lock_blocking_as(owner, Some(timeout))?
            .map(|t| self.guard(owner, t)))
    }

    /// Takes a level as the calling thread without waiting.
    pub fn try_lock(&self) -> Result<Option<RLockGuard>, Error> {
        let owner = OwnerId::current_thread();
        Ok(self.try_lock_as(owner)?.map(|t| self.guard(owner, t)))
    }
}
