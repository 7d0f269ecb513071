//! The shared ring: the last `2^k` events of a topic, stored once as `Arc<T>`.
//!
//! Slots are grouped in chunks of up to [`CHUNK`] behind one mutex each, so a reader copies
//! every available event of a chunk into its private buffer with one lock, and a publisher
//! writes one slot under one lock. `tail` packs the next sequence number with two flags; every
//! change to it is a read-modify-write, which totally orders publishing, closing and a reader
//! announcing that it sleeps (no lost wake-up without relying on `SeqCst` fences).
//!
//! Readers never gate the writer: a reader that finds its next slot overwritten (its sequence
//! is newer than expected) has lagged and jumps forward, counting exactly what it skipped.

use crate::error::TryRecvError;
use crate::event::Event;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::waiter::Waiter;
use std::sync::Arc;

/// Slots per chunk (one lock covers a chunk).
const CHUNK: usize = 16;
/// `tail` bit: some reader registered a waiter and must be woken by the next publish.
const WAITING: u64 = 1;
/// `tail` bit: the topic is closed.
const CLOSED: u64 = 2;
/// `tail` increment for one published event.
const STEP: u64 = 4;

struct Slot<T> {
    seq: u64,
    value: Option<Arc<T>>,
}

pub(crate) struct Ring<T> {
    chunks: Box<[Mutex<Vec<Slot<T>>>]>,
    /// `slots - 1`; the slot count is a power of two.
    mask: u64,
    /// `log2(chunk length)`.
    chunk_shift: u32,
    /// `(next sequence << 2) | CLOSED | WAITING`.
    tail: AtomicU64,
    /// Readers to wake on the next publish or on close, keyed by subscriber id.
    waiters: Mutex<Vec<(u64, Waiter)>>,
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
                Mutex::new(
                    (0..chunk_len)
                        .map(|_| Slot {
                            seq: u64::MAX,
                            value: None,
                        })
                        .collect(),
                )
            })
            .collect();
        Self {
            chunks,
            mask: slots as u64 - 1,
            chunk_shift: chunk_len.trailing_zeros(),
            tail: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
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

    fn chunk_of(&self, seq: u64) -> (&Mutex<Vec<Slot<T>>>, usize) {
        let idx = seq & self.mask;
        let chunk = &self.chunks[(idx >> self.chunk_shift) as usize];
        (chunk, (idx & ((1 << self.chunk_shift) - 1)) as usize)
    }

    /// Stores event `seq` (the caller holds the topic's publish lock and `seq == next_seq()`),
    /// without making it visible yet. Returns a shared handle when `share` is set, and what the
    /// slot held before (drop it after releasing the publish lock).
    pub(crate) fn write(&self, seq: u64, value: T, share: bool) -> (Option<Arc<T>>, Displaced<T>) {
        let (chunk, offset) = self.chunk_of(seq);
        let mut slots = lock(chunk);
        let slot = &mut slots[offset];
        slot.seq = seq;
        // Reuse the old allocation when no subscriber still holds the displaced event.
        let displaced = match slot.value.as_mut().and_then(Arc::get_mut) {
            Some(old) => Displaced {
                _value: Some(std::mem::replace(old, value)),
                _arc: None,
            },
            None => Displaced {
                _value: None,
                _arc: slot.value.replace(Arc::new(value)),
            },
        };
        let shared = if share { slot.value.clone() } else { None };
        (shared, displaced)
    }

    /// Stores an already shared event (see [`Ring::write`]).
    pub(crate) fn write_arc(&self, seq: u64, value: Arc<T>) -> Option<Arc<T>> {
        let (chunk, offset) = self.chunk_of(seq);
        let mut slots = lock(chunk);
        let slot = &mut slots[offset];
        slot.seq = seq;
        slot.value.replace(value)
    }

    /// Makes the event written last visible and wakes sleeping readers.
    pub(crate) fn advance(&self) {
        let prev = self.tail.fetch_add(STEP, Ordering::AcqRel);
        if prev & WAITING != 0 {
            self.wake_readers();
        }
    }

    /// Closes the ring: readers drain what is retained for them, then see `Closed`.
    pub(crate) fn close(&self) {
        self.tail.fetch_or(CLOSED, Ordering::AcqRel);
        self.wake_readers();
    }

    fn wake_readers(&self) {
        let mut waiters = lock(&self.waiters);
        self.tail.fetch_and(!WAITING, Ordering::AcqRel);
        // Waking only schedules the reader; doing it under the lock keeps the list's
        // allocation for the next round instead of reallocating on every publish.
        for (_, waiter) in waiters.drain(..) {
            waiter.wake();
        }
    }

    /// Registers `waiter` for subscriber `id`, then returns whether it must still sleep:
    /// `false` when an event at or after `next` was published, or the ring closed, meanwhile.
    pub(crate) fn register(&self, id: u64, next: u64, waiter: Waiter) -> bool {
        let mut waiters = lock(&self.waiters);
        match waiters.iter_mut().find(|(owner, _)| *owner == id) {
            Some(entry) if entry.1.same_as(&waiter) => {}
            Some(entry) => entry.1 = waiter,
            None => waiters.push((id, waiter)),
        }
        let tail = self.tail.fetch_or(WAITING, Ordering::AcqRel);
        drop(waiters);
        tail / STEP <= next && tail & CLOSED == 0
    }

    /// Forgets the waiter of subscriber `id` (it was dropped).
    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.waiters).retain(|(owner, _)| *owner != id);
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
            let slots = lock(chunk);
            let slot = &slots[offset];
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
        let slots = lock(chunk);
        let window = &slots[offset..offset + available];
        // Events `next..end` were all written before `tail` was read; a slot holding a newer
        // sequence number was overwritten since, and ends the run of events still retained.
        let fresh = window
            .iter()
            .zip(next..)
            .take_while(|(slot, seq)| slot.seq == *seq)
            .count();
        if fresh == 0 {
            return match window.first() {
                Some(slot) if slot.value.is_some() && slot.seq > next => {
                    // Overwritten after `tail` was read: the writer has stored `slot.seq`, so
                    // the window of events still retained ends there.
                    Err(Self::lag(&mut cursor.next, slot.seq + 1 - keep))
                }
                _ => Err(TryRecvError::Empty),
            };
        }
        let local = &mut cursor.local;
        // A slot's sequence number is set only together with its value, so every slot of
        // the run holds one.
        local.extend(window[..fresh].iter().rev().map(|slot| slot.value.clone()));
        drop(slots);
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
        let slots = lock(chunk);
        let mut count = 0;
        for (slot, seq) in slots[offset..]
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
