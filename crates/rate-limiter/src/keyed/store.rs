//! Per-key GCRA state with memory bounded by construction.
//!
//! # The store seam
//! [`Store`] is the small interface the keyed limiter needs from wherever its per-key
//! state lives: run a closure on one key's [`GcraCell`] (creating it full if absent),
//! look at a key without creating it, count, forget idle keys, and re-express every cell
//! after a rate change. [`MemoryStore`] is the in-process implementation; a shared store
//! (Redis, for limits across processes) is planned behind the same seam.
//!
//! # Generations instead of sweeps
//! Each shard keeps two maps: `current` (keys touched since the shard's generation
//! started) and `previous` (keys touched in the generation before, and not since). A hit
//! in `previous` moves the key to `current`. Once a generation is older than the time a
//! bucket needs to refill (`tolerance`) plus the idle horizon, every key still in
//! `previous` has had a full bucket for at least the horizon — indistinguishable from a
//! key never seen — so the whole map is dropped at once: `current` becomes `previous` and
//! a new empty `current` starts. That rotation is O(1) under the shard lock (the old map
//! is freed after the lock is released), it is triggered by inserts (each insert checks
//! its own shard and one other shard in turn), and no sweep of the map ever runs under a
//! lock. An idle key is gone between one and two generations after its bucket filled.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockWriteGuard};

use tidewater_token_bucket::{GcraCell, SharedRate};

/// What to do with a new key when `max_keys` keys are already tracked and none is free to
/// forget yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WhenFull {
    /// Refuse the request with [`KeyedError::TooManyKeys`](crate::KeyedError::TooManyKeys):
    /// existing keys keep their exact state (no key ever gets a fresh burst early).
    #[default]
    Reject,
    /// Make room by forgetting the least recently used generation of keys of the new key's
    /// shard (or of another shard if that one is empty): the new key is served, and a
    /// forgotten key that comes back starts with a full bucket. Eviction is O(1) under
    /// the shard lock, however many keys it frees.
    EvictOldest,
}

/// The key table was full and configured to refuse new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Where keyed state lives. `now` is the limiter's timeline in nanoseconds, read before
/// the call; `clock` reads it afresh. A thread may be preempted between reading `now` and
/// taking a shard lock, so `now` can be older than another thread's check that completed
/// before it: whatever forgets keys or creates a cell reads `clock` under the lock instead.
pub(crate) trait Store<K> {
    /// Runs `f` on `key`'s cell and the instant it acts at, creating a full cell if the
    /// key is new.
    fn with_cell<R>(
        &self,
        key: &K,
        now: u64,
        clock: &dyn Fn() -> u64,
        rate: &SharedRate,
        f: impl FnOnce(&GcraCell, u64) -> R,
    ) -> Result<R, Full>;
    /// Runs `f` on `key`'s cell if it is tracked, without creating or moving it.
    fn peek_cell<R>(&self, key: &K, f: impl FnOnce(Option<&GcraCell>) -> R) -> R;
    /// Keys tracked now.
    fn len(&self) -> usize;
    /// Forgets every key whose bucket has been full for at least the horizon.
    fn retain_recent(&self, clock: &dyn Fn() -> u64, rate: &SharedRate);
    /// Records a rate change at `now` (before it is published) from `old_tolerance`.
    fn rate_changing(&self, now: u64, old_tolerance: u64, new_tolerance: u64);
    /// Re-expresses every cell under the rate's current parameters.
    fn migrate_all(&self, now: u64, rate: &SharedRate);
}

struct Generations<K, S> {
    current: HashMap<K, GcraCell, S>,
    previous: HashMap<K, GcraCell, S>,
    started: u64,
}

/// Keeps each shard's lock on its own cache line.
#[repr(align(128))]
struct Shard<K, S>(RwLock<Generations<K, S>>);

/// The in-process store: sharded maps of 8-byte cells with generational eviction.
pub(crate) struct MemoryStore<K, S> {
    shards: Box<[Shard<K, S>]>,
    shard_bits: u32,
    /// Seeds the cheap hash that picks a shard, so shard choice is not predictable.
    seed: u64,
    len: AtomicUsize,
    max_keys: Option<NonZeroUsize>,
    when_full: WhenFull,
    horizon: u64,
    /// No generation may be dropped before this instant plus the horizon: the latest
    /// moment at which a bucket touched under an earlier rate may still be refilling.
    settle_at: AtomicU64,
    cursor: AtomicUsize,
}

impl<K, S> std::fmt::Debug for MemoryStore<K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("len", &self.len.load(Ordering::Relaxed))
            .field("max_keys", &self.max_keys)
            .field("when_full", &self.when_full)
            .field("horizon_nanos", &self.horizon)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> MemoryStore<K, S> {
    pub(crate) fn new(
        hasher: &S,
        shards: usize,
        horizon: u64,
        max_keys: Option<NonZeroUsize>,
        when_full: WhenFull,
    ) -> Self {
        let count = shards.clamp(1, 1 << 12).next_power_of_two();
        let shard_bits = count.trailing_zeros();
        let seed = hasher.hash_one(0x7469_6465_7761_7465_u64) | 1;
        let shards = (0..count)
            .map(|_| {
                Shard(RwLock::new(Generations {
                    current: HashMap::with_hasher(hasher.clone()),
                    previous: HashMap::with_hasher(hasher.clone()),
                    started: 0,
                }))
            })
            .collect();
        Self {
            shards,
            shard_bits,
            seed,
            len: AtomicUsize::new(0),
            max_keys,
            when_full,
            horizon,
            settle_at: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
        }
    }

    pub(crate) fn max_keys(&self) -> Option<NonZeroUsize> {
        self.max_keys
    }

    #[inline]
    fn shard_of(&self, key: &K) -> usize {
        if self.shard_bits == 0 {
            return 0;
        }
        let mut h = ShardHasher(self.seed);
        key.hash(&mut h);
        // The top bits of a multiplicative hash are its best mixed.
        #[allow(clippy::cast_possible_truncation)]
        let index = (h.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.shard_bits)) as usize;
        index
    }

    fn write(&self, shard: usize) -> RwLockWriteGuard<'_, Generations<K, S>> {
        self.shards[shard]
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops `previous` if every key in it is free to forget. Returns the dropped map so
    /// the caller frees it after releasing the lock.
    ///
    /// `now` may be stale (it only decides whether a rotation is due, which a stale `now`
    /// answers conservatively), but the new generation's start is read from `clock` under
    /// the lock: every key in `current` was last touched at an instant read before a
    /// critical section that ended before this one, so at or before it. A stale start
    /// would let the next rotation drop a key touched after it while still refilling.
    fn rotate_if_due(
        &self,
        g: &mut Generations<K, S>,
        now: u64,
        clock: &dyn Fn() -> u64,
        rate: &SharedRate,
    ) -> Option<HashMap<K, GcraCell, S>> {
        let period = rate
            .current()
            .tolerance_nanos()
            .saturating_add(self.horizon);
        let settle = self
            .settle_at
            .load(Ordering::Acquire)
            .saturating_add(self.horizon);
        if now < g.started.saturating_add(period) || now < settle {
            return None;
        }
        g.started = clock().max(now);
        if g.current.is_empty() && g.previous.is_empty() {
            return None;
        }
        let fresh = HashMap::with_hasher(g.current.hasher().clone());
        let dropped = std::mem::replace(&mut g.previous, std::mem::replace(&mut g.current, fresh));
        self.len.fetch_sub(dropped.len(), Ordering::AcqRel);
        Some(dropped)
    }

    /// Takes one slot of the key budget, if any is left.
    fn reserve_slot(&self) -> bool {
        match self.max_keys {
            None => {
                self.len.fetch_add(1, Ordering::AcqRel);
                true
            }
            Some(max) => self
                .len
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max.get()).then_some(n + 1)
                })
                .is_ok(),
        }
    }

    /// Rotates one other shard, in turn, if it is free and due: keeps shards that only see
    /// hits from holding idle keys forever.
    fn sweep_one(&self, now: u64, clock: &dyn Fn() -> u64, rate: &SharedRate) {
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) & (self.shards.len() - 1);
        let dropped = match self.shards[i].0.try_write() {
            Ok(mut g) => self.rotate_if_due(&mut g, now, clock, rate),
            Err(_) => None,
        };
        drop(dropped);
    }

    /// Frees the least recently used generation of another shard that is not busy,
    /// giving its slots back. Returns whether it freed anything.
    fn evict_elsewhere(&self, skip: usize) -> bool {
        for step in 1..self.shards.len() {
            let i = (skip + step) & (self.shards.len() - 1);
            if let Ok(mut g) = self.shards[i].0.try_write()
                && let Some(evicted) = self.evict_generation(&mut g)
            {
                drop(g);
                drop(evicted);
                return true;
            }
        }
        false
    }

    /// Takes the least recently used generation out of a shard (`previous`, or `current`
    /// if that is all there is) and gives its slots back. O(1) under the lock; the caller
    /// frees the map after releasing it.
    fn evict_generation(&self, g: &mut Generations<K, S>) -> Option<HashMap<K, GcraCell, S>> {
        if g.previous.is_empty() {
            if g.current.is_empty() {
                return None;
            }
            let fresh = HashMap::with_hasher(g.current.hasher().clone());
            g.previous = std::mem::replace(&mut g.current, fresh);
        }
        let fresh = HashMap::with_hasher(g.previous.hasher().clone());
        let evicted = std::mem::replace(&mut g.previous, fresh);
        self.len.fetch_sub(evicted.len(), Ordering::AcqRel);
        Some(evicted)
    }

    /// The slow path: the key is not in `current` of its shard.
    ///
    /// Acts at an instant read under the shard lock, not at the caller's `now`: the key may
    /// have been forgotten by a rotation that happened after `now` was read (its bucket was
    /// full by then), and a cell created full at the older `now` would refill early.
    #[cold]
    fn insert_path<R>(
        &self,
        shard: usize,
        key: &K,
        now: u64,
        clock: &dyn Fn() -> u64,
        rate: &SharedRate,
        f: impl FnOnce(&GcraCell, u64) -> R,
    ) -> Result<R, Full> {
        self.sweep_one(now, clock, rate);
        let mut attempts = 0;
        loop {
            // Declared before the guard so that, dropped in reverse order, a retired map is
            // freed after the lock is released on every return path.
            let dropped;
            let mut g = self.write(shard);
            let now = clock().max(now);
            dropped = self.rotate_if_due(&mut g, now, clock, rate);
            if let Some(cell) = g.current.get(key) {
                return Ok(f(cell, now));
            }
            if let Some(cell) = g.previous.remove(key) {
                let out = f(&cell, now);
                g.current.insert(key.clone(), cell);
                return Ok(out);
            }
            if self.reserve_slot() {
                let cell = GcraCell::full(rate, now);
                let out = f(&cell, now);
                g.current.insert(key.clone(), cell);
                drop(g);
                drop(dropped);
                return Ok(out);
            }
            if self.when_full == WhenFull::Reject {
                return Err(Full);
            }
            // Make room: forget this shard's least recently used generation at once
            // (O(1), no per-key scan), or another shard's if this one holds nothing.
            let evicted = self.evict_generation(&mut g);
            if evicted.is_some() {
                drop(g);
                drop((evicted, dropped));
                continue;
            }
            drop(g);
            drop(dropped);
            attempts += 1;
            if !self.evict_elsewhere(shard) || attempts > 8 {
                return Err(Full);
            }
        }
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone> Store<K> for MemoryStore<K, S> {
    #[inline]
    fn with_cell<R>(
        &self,
        key: &K,
        now: u64,
        clock: &dyn Fn() -> u64,
        rate: &SharedRate,
        f: impl FnOnce(&GcraCell, u64) -> R,
    ) -> Result<R, Full> {
        let shard = self.shard_of(key);
        {
            let g = self.shards[shard]
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(cell) = g.current.get(key) {
                return Ok(f(cell, now));
            }
        }
        self.insert_path(shard, key, now, clock, rate, f)
    }

    fn peek_cell<R>(&self, key: &K, f: impl FnOnce(Option<&GcraCell>) -> R) -> R {
        let g = self.shards[self.shard_of(key)]
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f(g.current.get(key).or_else(|| g.previous.get(key)))
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    fn retain_recent(&self, clock: &dyn Fn() -> u64, rate: &SharedRate) {
        let horizon = self.horizon;
        for shard in 0..self.shards.len() {
            let mut g = self.write(shard);
            let now = clock();
            let dropped = self.rotate_if_due(&mut g, now, clock, rate);
            let before = g.current.len() + g.previous.len();
            let keep = |_: &K, cell: &mut GcraCell| {
                let (gcra, tat) = cell.snapshot(rate, now);
                gcra.full_after_nanos(tat, now) > 0 || tat.saturating_add(horizon) > now
            };
            g.current.retain(keep);
            g.previous.retain(keep);
            g.current.shrink_to_fit();
            g.previous.shrink_to_fit();
            let after = g.current.len() + g.previous.len();
            drop(g);
            drop(dropped);
            self.len.fetch_sub(before - after, Ordering::AcqRel);
        }
    }

    fn rate_changing(&self, now: u64, old_tolerance: u64, new_tolerance: u64) {
        self.settle_at.fetch_max(
            now.saturating_add(old_tolerance.max(new_tolerance)),
            Ordering::AcqRel,
        );
    }

    fn migrate_all(&self, now: u64, rate: &SharedRate) {
        for shard in 0..self.shards.len() {
            let g = self.shards[shard]
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for cell in g.current.values().chain(g.previous.values()) {
                cell.migrate(rate, now);
            }
        }
    }
}

/// A small keyed multiplicative hash used only to pick a shard; the maps themselves use
/// the limiter's `BuildHasher` (random `SipHash` by default), so lookups stay
/// flood-resistant.
struct ShardHasher(u64);

impl Hasher for ShardHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0xA076_1D64_78BD_642F);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
