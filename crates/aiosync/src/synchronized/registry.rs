//! The registry of per-object and per-type locks: 64 shards of four inline slots and an
//! overflow map, an entry living only while someone holds or waits for its locks.

use crate::{Mutex, ReentrantMutex};
use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::ptr::NonNull;

/// The two locks of one object or type.
pub(super) struct Entry {
    /// Sync functions: reentrant, owned by the thread.
    pub(super) blocking: ReentrantMutex<()>,
    /// Async functions: held across awaits.
    pub(super) aio: Mutex<()>,
}

impl Entry {
    fn new() -> Entry {
        Entry {
            blocking: ReentrantMutex::new(()),
            aio: Mutex::new(()),
        }
    }
}

/// An object's address and type name, or a type's name alone (`addr` 0: no reference
/// is null). Two types may share a name (two versions of one crate); they then share
/// locks only at the same address.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    addr: usize,
    ty: &'static str,
    /// Depends on `addr` only for objects, on `ty` only for types.
    hash: u64,
}

impl Key {
    #[inline]
    pub(super) fn instance<T: ?Sized>(obj: &T) -> Key {
        let addr = (obj as *const T).cast::<()>() as usize;
        Key {
            addr,
            ty: std::any::type_name::<T>(),
            hash: mix(addr as u64),
        }
    }

    pub(super) fn of_type(ty: &'static str) -> Key {
        // FNV-1a: short strings, one call per lock.
        let h = ty.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Key {
            addr: 0,
            ty,
            hash: mix(h),
        }
    }
}

/// Spreads an address's few varying bits over the whole word (the map takes its bucket
/// from the low bits, its tag from the top ones, the shard from the middle).
#[inline]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        // The same name may sit at two addresses (one copy per codegen unit).
        self.addr == other.addr && (std::ptr::eq(self.ty, other.ty) || self.ty == other.ty)
    }
}

impl Eq for Key {}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a key's precomputed hash through.
#[derive(Clone, Copy, Default)]
struct KeyHash;

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("keys hash as one u64")
    }
}

/// A key registered in the map, and how many registrations point at its entry.
struct Slot {
    /// From `Box::leak`; freed (or pooled) when `users` drops to 0.
    entry: NonNull<Entry>,
    users: usize,
}

/// A key registered in a shard's inline slots. The entry outlives the key: it stays
/// allocated, unlocked, for the next key to use the slot.
struct Near {
    /// `None`: vacant.
    key: Option<Key>,
    users: usize,
    /// From `Box::leak`, allocated on first use, never freed (a fixed number per shard).
    entry: Option<NonNull<Entry>>,
}

/// One shard of the registry. A key lives in `near` or in `far`, never both.
struct Table {
    /// Scanned first: few objects are locked at once, and a scan of these beats hashing.
    near: [Near; NEAR],
    /// Keys that found `near` full.
    far: HashMap<Key, Slot, KeyHash>,
    /// Unused entries of `far` kept to spare an allocation; all unlocked.
    #[allow(clippy::vec_box)] // the boxes are what is reused: entries must not move
    free: Vec<Box<Entry>>,
}

// SAFETY: the table owns the entries its slots point to, and an `Entry` is Send + Sync.
unsafe impl Send for Table {}

const SHARDS: usize = 64;
/// Inline slots per shard.
const NEAR: usize = 4;
/// Entries kept for reuse per shard's map.
const POOL: usize = 4;

/// One shard on its own cache lines, so shards do not contend through false sharing.
#[repr(align(128))]
struct Shard(parking_lot::Mutex<Table>);

static REGISTRY: [Shard; SHARDS] = [const {
    Shard(parking_lot::Mutex::new(Table {
        near: [const {
            Near {
                key: None,
                users: 0,
                entry: None,
            }
        }; NEAR],
        far: HashMap::with_hasher(KeyHash),
        free: Vec::new(),
    }))
}; SHARDS];

#[inline]
fn shard(key: &Key) -> &'static parking_lot::Mutex<Table> {
    &REGISTRY[(key.hash >> 40) as usize % SHARDS].0
}

#[allow(clippy::vec_box)] // see `Table::free`
fn new_entry(free: &mut Vec<Box<Entry>>) -> NonNull<Entry> {
    NonNull::from(Box::leak(
        free.pop().unwrap_or_else(|| Box::new(Entry::new())),
    ))
}

/// One user of a registry entry: keeps the entry alive and registered while it lives.
pub(super) struct Registration {
    entry: NonNull<Entry>,
    pub(super) key: Key,
}

// SAFETY: a registration only shares `&Entry`, and `Entry` is Sync.
unsafe impl Send for Registration {}
// SAFETY: as above.
unsafe impl Sync for Registration {}

impl Registration {
    pub(super) fn new(key: Key) -> Registration {
        let mut table = shard(&key).lock();
        let Table { near, far, free } = &mut *table;
        let entry = if let Some(n) = near.iter_mut().find(|n| n.key == Some(key)) {
            n.users += 1;
            n.entry.expect("a registered slot has an entry")
        } else if let Some(slot) = far.get_mut(&key) {
            slot.users += 1;
            slot.entry
        } else if let Some(n) = near.iter_mut().find(|n| n.key.is_none()) {
            n.key = Some(key);
            n.users = 1;
            *n.entry.get_or_insert_with(|| new_entry(free))
        } else {
            let entry = new_entry(free);
            far.insert(key, Slot { entry, users: 1 });
            entry
        };
        Registration { entry, key }
    }

    /// The registered entry, for as long as the caller says.
    ///
    /// # Safety
    /// The caller must not use the reference after this registration is dropped.
    #[inline]
    pub(super) unsafe fn entry(&self) -> &'static Entry {
        // SAFETY: the entry lives while its key has users, and this is one of them.
        unsafe { self.entry.as_ref() }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut unused = None;
        {
            let mut table = shard(&self.key).lock();
            let Table { near, far, free } = &mut *table;
            if let Some(n) = near.iter_mut().find(|n| n.key == Some(self.key)) {
                n.users -= 1;
                if n.users == 0 {
                    // Every lock in the entry is free: guards and lock futures are dropped
                    // before their registrations.
                    n.key = None;
                }
                return;
            }
            let MapEntry::Occupied(mut slot) = far.entry(self.key) else {
                unreachable!("a registration keeps its key registered");
            };
            slot.get_mut().users -= 1;
            if slot.get().users == 0 {
                let entry = slot.remove().entry;
                // SAFETY: from `Box::leak` in `new_entry`; the last user is leaving, and
                // every lock in it is free (as above).
                let entry = unsafe { Box::from_raw(entry.as_ptr()) };
                if free.len() < POOL {
                    free.push(entry);
                } else {
                    unused = Some(entry);
                }
            }
        }
        // Freed outside the shard lock.
        drop(unused);
    }
}

/// How many objects and types have a registered entry (held or waited for).
pub(super) fn len() -> usize {
    REGISTRY
        .iter()
        .map(|s| {
            let t = s.0.lock();
            t.near.iter().filter(|n| n.key.is_some()).count() + t.far.len()
        })
        .sum()
}
