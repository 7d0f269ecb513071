//! The shared ring: the last `2^k` events of a topic, stored once as `Arc<T>`.
//!
//! Slots are grouped in chunks of up to [`CHUNK`] behind one reader-writer lock each (on its
//! own cache line), so a reader copies every available event of a chunk into its private
//! buffer with one read lock, and a publisher writes one slot under one write lock. Readers
//! only read slots, so they share a chunk: lagging readers resume at the oldest retained
//! event, which is in the chunk the publisher writes next, so they meet there, and taking
//! the reference counts of a batch is their longest critical section (each count is a cache
//! miss); with a mutex they queued behind each other there and often went to sleep on it.
//! Everything that changes a chunk (publishing, closing, registering or removing a waiter)
//! takes the write lock; "the lock" of a chunk below means the write lock.
//!
//! `tail` packs the next sequence number with two flags, and every change to it is made while
//! holding the lock of the chunk its sequence number falls in (the *tail lock*, see
//! [`TailLock`]): a publisher locks that chunk, checks that `tail` still points into it, writes
//! the slot and stores the new `tail`. That one lock thus excludes readers of the slot,
//! serializes publishers (sequence numbers stay dense) and orders the store of `tail`, so a
//! publish of a topic with only ring readers costs one lock and no other read-modify-write.
//! A reader that finds nothing new registers its waiter in the same chunk, under the same
//! lock, after checking `tail` once more; the publisher of that event sees it there (no lost
//! wake-up, without fences). Only the chunk `tail` points into ever holds waiters: each
//! publish wakes those of its chunk.
//!
//! The `SLOW` flag sends publishers through the topic's state lock: it is set while the topic
//! has queue subscribers (mailboxes), which a publish must deliver to. Setting it under the
//! tail lock waits out a publisher that is past the check. Lossless ring readers (gates) only
//! need the next sequence number to stay below `gate_limit`, which the publisher checks under
//! the tail lock; only a publish that reaches it goes through the state lock.
//!
//! Readers never gate the writer: a reader that finds its next slot overwritten (its sequence
//! is newer than expected) has lagged and jumps forward, counting exactly what it skipped.

use crate::core::Payload;
use crate::error::TryRecvError;
use crate::event::Event;
use crate::mailbox::Padded;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, RwLock, RwLockWriteGuard, read, write};
use crate::waiter::Waiter;
use std::sync::Arc;

/// Slots per chunk (one lock covers a chunk). The loom build uses 2, so that models with a
/// handful of events cross chunk boundaries.
#[cfg(not(tidewater_loom))]
const CHUNK: usize = 16;
#[cfg(tidewater_loom)]
const CHUNK: usize = 2;
/// `tail` bit: publishers must take the topic's state lock (see the module docs).
const SLOW: u64 = 1;
/// `tail` bit: the topic is closed.
const CLOSED: u64 = 2;
/// `tail` increment for one published event.
const STEP: u64 = 4;

struct Slot<T> {
    seq: u64,
    value: Option<Arc<T>>,
}

struct Chunk<T> {
    slots: Vec<Slot<T>>,
    /// Readers to wake on the next publish or on close, keyed by subscriber id (empty unless
    /// `tail` points into this chunk).
    waiters: Vec<(u64, Waiter)>,
}

pub(crate) struct Ring<T> {
    chunks: Box<[Padded<RwLock<Chunk<T>>>]>,
    /// `slots - 1`; the slot count is a power of two.
    mask: u64,
    /// `log2(chunk length)`.
    chunk_shift: u32,
    /// `(next sequence << 2) | CLOSED | SLOW`, changed only under the tail lock.
    tail: AtomicU64,
    /// The sum over publishes of the ring readers each reached (a metric), changed only under
    /// the tail lock, so a load and a store suffice.
    pub(crate) reached: AtomicU64,
    /// Events before this sequence number fit in every lossless reader's gate: the topic's
    /// cached minimum of the gates' limits (`u64::MAX` without gates). Lowered only under the
    /// tail lock (a new gate), raised under the topic's state lock.
    pub(crate) gate_limit: AtomicU64,
}

/// The tail lock: the lock of the chunk the next event goes to, held while `tail` points into
/// it. `tail` cannot change while it is held.
pub(crate) struct TailLock<'a, T> {
    ring: &'a Ring<T>,
    chunk: RwLockWriteGuard<'a, Chunk<T>>,
    tail: u64,
}

/// A ring reader's private position and prefetched events.
pub(crate) struct Cursor<T> {
    pub(crate) next: u64,
    pub(crate) capacity: u64,
    /// Prefetched payloads of the consecutive events `next - local.len() .. next`, newest
    /// first (so receiving is a `Vec::pop`). Every entry is `Some` (see [`Ring::refill`]); the
    /// `Option` only lets the refill copy slots without a per-event branch.
    pub(crate) local: Vec<Option<Arc<T>>>,
    /// Received events not yet added to the shared `delivered` counter, plus `local.len()`:
    /// the subscriber counts a whole batch at once instead of storing to shared memory on
    /// every receive.
    pub(crate) batch: u64,
}

impl<T> Cursor<T> {
    /// Events received since they were last counted.
    #[inline]
    pub(crate) fn received(&self) -> u64 {
        self.batch - self.local.len() as u64
    }

    /// Takes the events received since they were last counted (the caller counts them).
    #[inline]
    pub(crate) fn take_received(&mut self) -> u64 {
        let received = self.received();
        self.batch -= received;
        received
    }

    /// The oldest prefetched event.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Event<T>> {
        loop {
            let seq = self.next - self.local.len() as u64;
            if let Some(value) = self.local.pop()? {
                return Some(Event {
                    seq,
                    value,
                    topic: None,
                });
            }
        }
    }
}

/// What a publish displaced from its slot, dropped by the caller after every lock is released.
pub(crate) struct Displaced<T> {
    _value: Option<T>,
    _arc: Option<Arc<T>>,
}

impl<T> Displaced<T> {
    pub(crate) fn from_arc(arc: Option<Arc<T>>) -> Self {
        Self {
            _value: None,
            _arc: arc,
        }
    }
}

impl<T> Ring<T> {
    /// A ring retaining at least `capacity` events (rounded up to a power of two, `>= 1`).
    pub(crate) fn new(capacity: usize) -> Self {
        let slots = capacity.max(1).next_power_of_two();
        let chunk_len = slots.min(CHUNK);
        let chunks = (0..slots / chunk_len)
            .map(|_| {
                Padded(RwLock::new(Chunk {
                    slots: (0..chunk_len)
                        .map(|_| Slot {
                            seq: u64::MAX,
                            value: None,
                        })
                        .collect(),
                    waiters: Vec::new(),
                }))
            })
            .collect();
        Self {
            chunks,
            mask: slots as u64 - 1,
            chunk_shift: chunk_len.trailing_zeros(),
            tail: AtomicU64::new(0),
            reached: AtomicU64::new(0),
            gate_limit: AtomicU64::new(u64::MAX),
        }
    }

    /// How many events the ring retains.
    pub(crate) fn slots(&self) -> u64 {
        self.mask + 1
    }

    /// The sequence number the next publish gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.tail.load(Ordering::Acquire) / STEP
    }

    #[inline]
    fn chunk_index(&self, seq: u64) -> usize {
        ((seq & self.mask) >> self.chunk_shift) as usize
    }

    fn chunk_of(&self, seq: u64) -> (&RwLock<Chunk<T>>, usize) {
        let chunk = &self.chunks[self.chunk_index(seq)].0;
        (chunk, (seq & ((1 << self.chunk_shift) - 1)) as usize)
    }

    /// Takes the tail lock (see [`TailLock`]).
    #[inline(always)]
    pub(crate) fn lock_tail(&self) -> TailLock<'_, T> {
        let mut tail = self.tail.load(Ordering::Acquire);
        loop {
            let chunk = write(self.chunk_of(tail / STEP).0);
            // Whoever moved `tail` out of this chunk held this lock, so this load sees it.
            let now = self.tail.load(Ordering::Acquire);
            if self.chunk_index(now / STEP) == self.chunk_index(tail / STEP) {
                return TailLock {
                    ring: self,
                    chunk,
                    tail: now,
                };
            }
            tail = now;
        }
    }

    /// The tail lock, unless a flag sends publishers through the topic's state lock or the
    /// next event does not fit in some lossless reader's gate (as far as the topic knows).
    #[inline(always)]
    pub(crate) fn lock_fast(&self) -> Option<TailLock<'_, T>> {
        let tail = self.lock_tail();
        (tail.tail & (SLOW | CLOSED) == 0 && tail.seq() < self.gate_limit.load(Ordering::Acquire))
            .then_some(tail)
    }

    /// Closes the ring: readers drain what is retained for them, then see `Closed`. Returns
    /// the waiting readers, to wake.
    pub(crate) fn close(&self) -> Vec<(u64, Waiter)> {
        let mut tail = self.lock_tail();
        tail.store(tail.tail | CLOSED);
        std::mem::take(&mut tail.chunk.waiters)
    }

    /// Registers `waiter` for subscriber `id`, then returns whether it must still sleep:
    /// `false` when an event at or after `next` was published, or the ring closed, meanwhile.
    pub(crate) fn register(&self, id: u64, next: u64, waiter: Waiter) -> bool {
        let mut chunk = write(self.chunk_of(next).0);
        let tail = self.tail.load(Ordering::Acquire);
        if tail / STEP > next || tail & CLOSED != 0 {
            return false;
        }
        // `tail` is `next`, in this chunk: its publisher or a close takes this lock next.
        let waiters = &mut chunk.waiters;
        match waiters.iter_mut().find(|(owner, _)| *owner == id) {
            Some(entry) if entry.1.same_as(&waiter) => {}
            Some(entry) => entry.1 = waiter,
            None => waiters.push((id, waiter)),
        }
        true
    }

    /// Forgets the waiter of subscriber `id` (it was dropped). Only the chunk `tail` points
    /// into holds waiters; if `tail` moves on meanwhile, its publisher has woken them all.
    pub(crate) fn unregister(&self, id: u64) {
        let tail = self.tail.load(Ordering::Acquire);
        write(self.chunk_of(tail / STEP).0)
            .waiters
            .retain(|(owner, _)| *owner != id);
    }

    /// Where a reader starts: at the next event, or up to `last` retained events back.
    pub(crate) fn start(&self, last: u64) -> u64 {
        let next = self.next_seq();
        next - last.min(next).min(self.slots())
    }

    /// Clones the retained events `from..` (oldest first) into `out`.
    pub(crate) fn retained_from(&self, from: u64, out: &mut Vec<(u64, Arc<T>)>) {
        let next = self.next_seq();
        for seq in from.max(next.saturating_sub(self.slots()))..next {
            let (chunk, offset) = self.chunk_of(seq);
            let chunk = read(chunk);
            let slot = &chunk.slots[offset];
            if let (true, Some(value)) = (slot.seq == seq, &slot.value) {
                out.push((seq, Arc::clone(value)));
            }
        }
    }

    /// Refills `cursor.local` with the available events of the chunk holding `cursor.next`:
    /// one tail read and one lock for up to [`CHUNK`] events, whose reference counts are
    /// taken in one tight pass (newest first, so receiving is a `Vec::pop`).
    ///
    /// `Err(Lagged)` moves the cursor to the oldest event it may still see and reports exactly
    /// how many it skipped; `Err(Empty)` / `Err(Closed)` when nothing is left.
    pub(crate) fn refill(&self, cursor: &mut Cursor<T>) -> Result<(), TryRecvError> {
        debug_assert!(cursor.local.is_empty());
        let tail = self.tail.load(Ordering::Acquire);
        let end = tail / STEP;
        let next = cursor.next;
        if next >= end {
            return Err(if tail & CLOSED != 0 {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        }
        let keep = cursor.capacity.min(self.slots());
        if end - next > keep {
            return Err(Self::lag(&mut cursor.next, end - keep));
        }
        let (chunk, offset) = self.chunk_of(next);
        // At most the rest of this chunk, and never past `end` (`end - next <= slots`).
        let available = (end - next).min((1u64 << self.chunk_shift) - offset as u64) as usize;
        let chunk = read(chunk);
        let window = &chunk.slots[offset..offset + available];
        // Events `next..end` were all written before `tail` was read. Publishers overwrite in
        // sequence order, so if the oldest of them is still there, they all are.
        match window.first() {
            Some(slot) if slot.seq == next => {}
            Some(slot) if slot.value.is_some() && slot.seq > next => {
                // Overwritten after `tail` was read: the writer has stored `slot.seq`, so the
                // window of events still retained ends there.
                return Err(Self::lag(&mut cursor.next, slot.seq + 1 - keep));
            }
            _ => return Err(TryRecvError::Empty),
        }
        debug_assert!(window.iter().zip(next..).all(|(slot, seq)| slot.seq == seq));
        let fresh = window.len();
        // A slot's sequence number is set only together with its value, so every slot of
        // the window holds one.
        cursor
            .local
            .extend(window.iter().rev().map(|slot| slot.value.clone()));
        drop(chunk);
        cursor.batch += fresh as u64;
        cursor.next = next + fresh as u64;
        Ok(())
    }

    /// Hands up to `max` available events of the chunk holding `*next` to `sink`, in place,
    /// under the chunk lock; advances `*next` past them and returns how many.
    pub(crate) fn read_chunk(
        &self,
        next: &mut u64,
        capacity: u64,
        max: usize,
        mut sink: impl FnMut(u64, &Arc<T>),
    ) -> Result<usize, TryRecvError> {
        let tail = self.tail.load(Ordering::Acquire);
        let end = tail / STEP;
        if *next >= end {
            return Err(if tail & CLOSED != 0 {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        }
        let keep = capacity.min(self.slots());
        if end - *next > keep {
            return Err(Self::lag(next, end - keep));
        }
        let (chunk, offset) = self.chunk_of(*next);
        let chunk_end = *next - offset as u64 + (1 << self.chunk_shift);
        let chunk = read(chunk);
        let mut count = 0;
        for (slot, seq) in chunk.slots[offset..]
            .iter()
            .zip(*next..end.min(chunk_end))
            .take(max)
        {
            match &slot.value {
                Some(value) if slot.seq == seq => {
                    sink(seq, value);
                    *next = seq + 1;
                    count += 1;
                }
                Some(_) if slot.seq > seq && count == 0 => {
                    // Overwritten after `tail` was read: the writer has stored `slot.seq`, so
                    // the window of events still retained ends there.
                    return Err(Self::lag(next, slot.seq + 1 - keep));
                }
                _ => break,
            }
        }
        if count == 0 {
            Err(TryRecvError::Empty)
        } else {
            Ok(count)
        }
    }

    fn lag(next: &mut u64, resume: u64) -> TryRecvError {
        let missed = resume - *next;
        *next = resume;
        TryRecvError::Lagged { missed }
    }
}

impl<T> TailLock<'_, T> {
    /// The sequence number the next publish gets.
    pub(crate) fn seq(&self) -> u64 {
        self.tail / STEP
    }

    /// Where a reader starts: at the next event, or up to `last` retained events back.
    pub(crate) fn start(&self, last: u64) -> u64 {
        let next = self.seq();
        next - last.min(next).min(self.ring.slots())
    }

    /// Sets or clears the `SLOW` flag.
    pub(crate) fn set_slow(&mut self, slow: bool) {
        self.store(if slow {
            self.tail | SLOW
        } else {
            self.tail & !SLOW
        });
    }

    fn store(&mut self, tail: u64) {
        self.tail = tail;
        self.ring.tail.store(tail, Ordering::Release);
    }

    /// Publishes event [`seq`](Self::seq): stores it, counts the `readers` it reaches, makes it
    /// visible, releases the lock and wakes the readers waiting for it. Returns the readers
    /// reached, a shared handle when `share` is set, and what the slot held before (drop it
    /// after releasing every lock: its destructor is the user's code).
    #[inline(always)]
    pub(crate) fn publish(
        mut self,
        payload: Payload<T>,
        share: bool,
        readers: &AtomicUsize,
    ) -> (usize, Option<Arc<T>>, Displaced<T>) {
        let seq = self.seq();
        let (_, offset) = self.ring.chunk_of(seq);
        let slot = &mut self.chunk.slots[offset];
        slot.seq = seq;
        let displaced = match payload {
            // Reuse the old allocation when no subscriber still holds the displaced event.
            Payload::Owned(value) => match slot.value.as_mut().and_then(Arc::get_mut) {
                Some(old) => Displaced {
                    _value: Some(std::mem::replace(old, value)),
                    _arc: None,
                },
                None => Displaced::from_arc(slot.value.replace(Arc::new(value))),
            },
            Payload::Shared(value) => Displaced::from_arc(slot.value.replace(value)),
        };
        let shared = if share { slot.value.clone() } else { None };
        // Counted under the tail lock, where a subscription adds its ring reader, so the sum
        // is exact; publishers are serialized here, so a load and a store suffice.
        let readers = readers.load(Ordering::Relaxed);
        let reached = &self.ring.reached;
        reached.store(
            reached.load(Ordering::Relaxed) + readers as u64,
            Ordering::Relaxed,
        );
        self.store(self.tail + STEP);
        if self.chunk.waiters.is_empty() {
            drop(self.chunk);
        } else {
            wake_readers(self.chunk);
        }
        (readers, shared, displaced)
    }
}

/// Wakes the readers waiting in `chunk`, after releasing its lock.
#[cold]
fn wake_readers<T>(mut chunk: RwLockWriteGuard<'_, Chunk<T>>) {
    let waiters = std::mem::take(&mut chunk.waiters);
    drop(chunk);
    for (_, waiter) in waiters {
        waiter.wake();
    }
}
