//! RLock: a Lock with a local owner and hold count.

use crate::hold::{Hold, LeaseWatch};
use crate::lock::Lock;
use crate::Error;
use aiosync::OwnerId;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

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
