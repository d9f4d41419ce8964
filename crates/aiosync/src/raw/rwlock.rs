//! A read-write lock with per-owner hold counts, owners given explicitly.

use super::{Holder, LockError};
use crate::kernel::block;
use crate::kernel::semaphore::{AsRawSemaphore, PendingAcquire, RawSemaphore, MAX_PERMITS};
use crate::sync::{lock, Lock};
use crate::task::{NotOwnerError, OwnerId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Permits a write hold takes: all of them. A read hold takes one.
const WRITE: usize = MAX_PERMITS;

/// What a reader asking for the write lock gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// [`LockError::UpgradeRefused`] (aiorwlock's rule: the upgrade could deadlock).
    Refuse,
    /// Wait, ahead of every queued waiter, for the other readers to leave; refused only
    /// while another reader is already upgrading (the two would wait for each other).
    Allow,
}

/// A read-write lock whose holds belong to owners: many readers or one writer,
/// writer-preferring FIFO (the policy of [`RwLock`](crate::RwLock)), plus per-owner rules:
///
/// - an owner that holds the lock (to read or to write) and asks to read again counts one
///   more read level without waiting: a writer may also read;
/// - a writer asking to write again counts one more write level;
/// - releasing the last write level while read levels remain downgrades to a read hold,
///   with no writer in between;
/// - a reader asking to write is refused or upgraded, as [`Upgrade`] says;
/// - a release by an owner without such a hold is refused ([`NotOwnerError`]).
///
/// Blocking acquires refuse to wait when that could never end (see [`crate::raw`]).
///
/// ```
/// use aiosync::raw::{Holder, RawRwLock, Upgrade, LockError};
/// use aiosync::OwnerId;
///
/// let rw = RawRwLock::new();
/// let (a, b) = (Holder::task(OwnerId::new_unique()), Holder::task(OwnerId::new_unique()));
/// assert_eq!(rw.try_write(&a, Upgrade::Refuse), Ok(true));
/// assert!(rw.try_read(&a)); // the writer also reads
/// assert!(!rw.try_read(&b));
/// rw.release_write(a.owner()).unwrap(); // still reading: downgraded
/// assert!(rw.try_read(&b));
/// assert_eq!(rw.try_write(&b, Upgrade::Refuse), Err(LockError::UpgradeRefused));
/// rw.release_read(a.owner()).unwrap();
/// rw.release_read(b.owner()).unwrap();
/// assert!(!rw.is_locked());
/// ```
pub struct RawRwLock {
    sem: RawSemaphore,
    /// # Safety
    /// Never held while a waker runs or while the semaphore is polled (a waker may need
    /// a lock — the GIL — whose holder waits for this one).
    holds: Lock<Holds>,
}

/// Owner ids are counters or addresses: spread them with one multiplication.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
struct Holds {
    owners: HashMap<u64, Hold, BuildHasherDefault<IdHasher>>,
    /// Owners with at least one read level.
    readers: usize,
    /// Owners with at least one write level (0 or 1).
    writers: usize,
    /// The owner whose upgrade is pending, or 0.
    upgrading: u64,
}

struct Hold {
    /// The holder's thread word (see [`Holder`]).
    word: u64,
    reads: usize,
    writes: usize,
    /// Permits the hold has taken: 1 (reading) or `WRITE`.
    permits: usize,
}

/// What an acquire must still wait for after the owner's holds were looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Nothing: a hold of the owner covered it.
    Covered,
    /// A fresh hold of `permits` permits.
    Fresh(usize),
    /// An upgrade: the permits a write needs beyond the owner's read permit.
    Upgrade(usize),
}

/// A read or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write(Upgrade),
}

impl Default for RawRwLock {
    fn default() -> Self {
        RawRwLock::new()
    }
}

impl RawRwLock {
    /// An unlocked lock.
    pub fn new() -> RawRwLock {
        RawRwLock {
            sem: RawSemaphore::new(WRITE),
            holds: Lock::new(Holds::default()),
        }
    }

    /// Looks at the owner's holds; takes a free fresh hold at once when it can.
    fn begin(&self, holder: &Holder, kind: Kind) -> Result<Need, LockError> {
        let id = holder.owner().as_u64();
        let mut holds = lock(&self.holds);
        let holds = &mut *holds;
        if let Some(hold) = holds.owners.get_mut(&id) {
            return match kind {
                Kind::Read => {
                    hold.reads += 1;
                    if hold.reads == 1 {
                        holds.readers += 1;
                    }
                    Ok(Need::Covered)
                }
                Kind::Write(_) if hold.writes > 0 => {
                    hold.writes += 1;
                    Ok(Need::Covered)
                }
                Kind::Write(Upgrade::Refuse) => Err(LockError::UpgradeRefused),
                Kind::Write(Upgrade::Allow) => {
                    if holds.upgrading != 0 {
                        return Err(LockError::UpgradeRefused);
                    }
                    holds.upgrading = id;
                    Ok(Need::Upgrade(WRITE - hold.permits))
                }
            };
        }
        let permits = match kind {
            Kind::Read => 1,
            Kind::Write(_) => WRITE,
        };
        // The fast path under the same lock: taking permits never runs a waker.
        let free = if permits == 1 {
            self.sem.try_acquire_one()
        } else {
            self.sem.try_acquire(permits)
        };
        if free {
            holds.record(holder, kind, permits);
            return Ok(Need::Covered);
        }
        Ok(Need::Fresh(permits))
    }

    /// Records the permits an acquire waited for; returns permits to give back (a hold
    /// of the same owner that completed meanwhile already covers it).
    fn finish(&self, holder: &Holder, kind: Kind, need: Need) {
        let extra = {
            let mut holds = lock(&self.holds);
            match need {
                Need::Covered => 0,
                Need::Upgrade(got) => {
                    holds.upgrading = 0;
                    let hold = holds
                        .owners
                        .get_mut(&holder.owner().as_u64())
                        .expect("an upgrading owner holds a read lock");
                    hold.permits += got;
                    hold.writes = 1;
                    holds.writers += 1;
                    0
                }
                Need::Fresh(permits) => holds.record(holder, kind, permits),
            }
        };
        if extra > 0 {
            self.sem.release(extra);
        }
    }

    /// Undoes [`begin`](Self::begin)'s bookkeeping for an acquire that gave up.
    fn abandon(&self, need: Need) {
        if let Need::Upgrade(_) = need {
            lock(&self.holds).upgrading = 0;
        }
    }

    /// Whether `holder` may wait for the lock blocking its thread (for a caller that
    /// drives the wait itself, after a failed `try_*`).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] if `loop_running` (an event loop runs on this thread)
    /// and another owner's hold was taken on this thread.
    pub fn check_blocking(&self, holder: &Holder, loop_running: bool) -> Result<(), LockError> {
        if !loop_running {
            return Ok(());
        }
        let me = holder.owner().as_u64();
        let held_here = lock(&self.holds)
            .owners
            .iter()
            .any(|(&id, h)| id != me && holder.blocked_by(h.word, loop_running));
        holder.check_blocking(held_here, &self.sem, loop_running)
    }

    /// Takes a read hold (or one more read level) if possible at once.
    pub fn try_read(&self, holder: &Holder) -> bool {
        match self.begin(holder, Kind::Read) {
            Ok(Need::Covered) => true,
            Ok(need) => self.try_finish(holder, Kind::Read, need),
            Err(_) => unreachable!("reads are never refused"),
        }
    }

    /// Takes a write hold (or one more write level) if possible at once.
    ///
    /// # Errors
    /// [`LockError::UpgradeRefused`] for a reader, as `upgrade` says.
    pub fn try_write(&self, holder: &Holder, upgrade: Upgrade) -> Result<bool, LockError> {
        match self.begin(holder, Kind::Write(upgrade))? {
            Need::Covered => Ok(true),
            need => Ok(self.try_finish(holder, Kind::Write(upgrade), need)),
        }
    }

    fn try_finish(&self, holder: &Holder, kind: Kind, need: Need) -> bool {
        let got = match need {
            Need::Covered => true,
            Need::Fresh(n) => self.sem.try_acquire(n),
            Need::Upgrade(n) => self.sem.try_take_urgent(n),
        };
        if got {
            self.finish(holder, kind, need);
        } else {
            self.abandon(need);
        }
        got
    }

    /// Takes a read hold for `holder`, waiting asynchronously. Never fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place; permits handed to it go on.
    pub fn read(&self, holder: Holder) -> RawRwLockFuture<'_> {
        self.future(holder, Kind::Read)
    }

    /// Takes a write hold for `holder`, waiting asynchronously.
    ///
    /// # Errors
    /// The future fails with [`LockError::UpgradeRefused`] for a reader, as `upgrade` says.
    ///
    /// # Cancel safety
    ///
    /// As [`read`](Self::read); a cancelled upgrade leaves the read hold as it was.
    pub fn write(&self, holder: Holder, upgrade: Upgrade) -> RawRwLockFuture<'_> {
        self.future(holder, Kind::Write(upgrade))
    }

    fn future(&self, holder: Holder, kind: Kind) -> RawRwLockFuture<'_> {
        RawRwLockFuture {
            lock: self,
            holder,
            kind,
            pending: None,
        }
    }

    /// Blocking form of [`read`](Self::read), for at most `timeout` (`None`: no limit).
    ///
    /// # Errors
    /// [`LockError::WouldDeadlock`] (see [`crate::raw`]).
    pub fn read_blocking(
        &self,
        holder: &Holder,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        self.blocking(holder, Kind::Read, timeout, loop_running)
    }

    /// Blocking form of [`write`](Self::write), for at most `timeout` (`None`: no limit).
    ///
    /// # Errors
    /// [`LockError::UpgradeRefused`] as [`write`](Self::write);
    /// [`LockError::WouldDeadlock`] (see [`crate::raw`]).
    pub fn write_blocking(
        &self,
        holder: &Holder,
        upgrade: Upgrade,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        self.blocking(holder, Kind::Write(upgrade), timeout, loop_running)
    }

    fn blocking(
        &self,
        holder: &Holder,
        kind: Kind,
        timeout: Option<Duration>,
        loop_running: bool,
    ) -> Result<bool, LockError> {
        let need = self.begin(holder, kind)?;
        let (n, urgent) = match need {
            Need::Covered => return Ok(true),
            Need::Fresh(n) => (n, false),
            Need::Upgrade(n) => (n, true),
        };
        if let Err(e) = self.check_blocking(holder, loop_running) {
            self.abandon(need);
            return Err(e);
        }
        let deadline = timeout.and_then(block::deadline);
        let got = if urgent {
            self.sem.acquire_urgent_blocking(n, deadline).is_ok()
        } else if deadline.is_none() {
            self.sem.acquire_forever(n);
            true
        } else {
            self.sem.acquire_blocking(n, deadline).is_ok()
        };
        if got {
            self.finish(holder, kind, need);
        } else {
            self.abandon(need);
        }
        Ok(got)
    }

    /// Leaves one read level of `owner`; the last level of its last hold unlocks.
    ///
    /// # Errors
    /// [`NotOwnerError`] if `owner` holds no read level.
    pub fn release_read(&self, owner: OwnerId) -> Result<(), NotOwnerError> {
        self.release(owner, Kind::Read)
    }

    /// Leaves one write level of `owner`; releasing the last one while read levels
    /// remain downgrades the hold to a read hold (no writer gets in between).
    ///
    /// # Errors
    /// [`NotOwnerError`] if `owner` holds no write level.
    pub fn release_write(&self, owner: OwnerId) -> Result<(), NotOwnerError> {
        self.release(owner, Kind::Write(Upgrade::Refuse))
    }

    fn release(&self, owner: OwnerId, kind: Kind) -> Result<(), NotOwnerError> {
        let id = owner.as_u64();
        let back = {
            let mut holds = lock(&self.holds);
            let holds = &mut *holds;
            let hold = holds.owners.get_mut(&id).ok_or(NotOwnerError)?;
            match kind {
                Kind::Read if hold.reads > 0 => {
                    hold.reads -= 1;
                    if hold.reads == 0 {
                        holds.readers -= 1;
                    }
                }
                Kind::Write(_) if hold.writes > 0 => {
                    hold.writes -= 1;
                    if hold.writes == 0 {
                        holds.writers -= 1;
                    }
                }
                _ => return Err(NotOwnerError),
            }
            if hold.reads == 0 && hold.writes == 0 {
                let permits = hold.permits;
                holds.owners.remove(&id);
                permits
            } else if hold.writes == 0 && hold.permits == WRITE {
                // Still reading: keep one permit, let the readers queued meanwhile in.
                hold.permits = 1;
                WRITE - 1
            } else {
                0
            }
        };
        // Given back after the holds lock is released: the release may run wakers.
        if back > 0 {
            self.sem.release(back);
        }
        Ok(())
    }

    /// `(read levels, write levels)` that `owner` holds.
    pub fn levels_of(&self, owner: OwnerId) -> (usize, usize) {
        lock(&self.holds)
            .owners
            .get(&owner.as_u64())
            .map_or((0, 0), |h| (h.reads, h.writes))
    }

    /// How many owners hold read levels (a writer that also reads counts).
    pub fn read_holders(&self) -> usize {
        lock(&self.holds).readers
    }

    /// Whether an owner holds write levels.
    pub fn is_write_locked(&self) -> bool {
        lock(&self.holds).writers > 0
    }

    /// Whether any owner holds the lock.
    pub fn is_locked(&self) -> bool {
        !lock(&self.holds).owners.is_empty()
    }

    /// Whether anyone waits for it.
    pub fn has_waiters(&self) -> bool {
        self.sem.has_waiters()
    }
}

impl Holds {
    /// Records a fresh hold of `permits`; returns permits to give back if the owner got
    /// a hold meanwhile (two reads of one owner in flight at once).
    fn record(&mut self, holder: &Holder, kind: Kind, permits: usize) -> usize {
        let id = holder.owner().as_u64();
        let hold = self.owners.entry(id).or_insert(Hold {
            word: holder.word(),
            reads: 0,
            writes: 0,
            permits: 0,
        });
        let extra = if hold.permits > 0 {
            permits
        } else {
            hold.permits = permits;
            0
        };
        match kind {
            Kind::Read => {
                hold.reads += 1;
                if hold.reads == 1 {
                    self.readers += 1;
                }
            }
            Kind::Write(_) => {
                hold.writes += 1;
                if hold.writes == 1 {
                    self.writers += 1;
                }
            }
        }
        extra
    }
}

impl fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRwLock")
            .field("read_holders", &self.read_holders())
            .field("write_locked", &self.is_write_locked())
            .finish()
    }
}

/// The future returned by [`RawRwLock::read`] and [`RawRwLock::write`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RawRwLockFuture<'a> {
    lock: &'a RawRwLock,
    holder: Holder,
    kind: Kind,
    /// What it waits for, once the owner's holds were looked at; withdraws the acquire
    /// when dropped while queued.
    pending: Option<(Need, PendingAcquire<&'a RawRwLock>)>,
}

impl Future for RawRwLockFuture<'_> {
    type Output = Result<(), LockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rw = this.lock;
        if this.pending.is_none() {
            let need = rw.begin(&this.holder, this.kind)?;
            let acquire = match need {
                Need::Covered => return Poll::Ready(Ok(())),
                Need::Fresh(n) => PendingAcquire::new(rw, n),
                Need::Upgrade(n) => PendingAcquire::urgent(rw, n),
            };
            this.pending = Some((need, acquire));
        }
        let (need, acquire) = this.pending.as_mut().expect("set above");
        match acquire.poll_open(cx) {
            Poll::Ready(()) => {
                let need = *need;
                this.pending = None;
                rw.finish(&this.holder, this.kind, need);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RawRwLockFuture<'_> {
    fn drop(&mut self) {
        if let Some((need, acquire)) = self.pending.take() {
            // Withdrawn first, then the upgrade mark it held is cleared.
            drop(acquire);
            self.lock.abandon(need);
        }
    }
}

impl AsRawSemaphore for RawRwLock {
    #[inline]
    fn raw_semaphore(&self) -> &RawSemaphore {
        &self.sem
    }
}

impl fmt::Debug for RawRwLockFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRwLockFuture").finish_non_exhaustive()
    }
}
