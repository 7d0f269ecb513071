//! The gate of a lossless (`Block`) subscriber that reads the shared ring.
//!
//! Such a subscriber is a ring cursor like a `Lag` one, but publishers never overwrite an event
//! it has not received: a lossless publish first checks that `published - received < capacity`.
//! The subscriber counts every receive in `progress` (an uncontended read-modify-write on a
//! cache line of its own), so room is exact; a publisher reads it only when the next sequence
//! number reaches the limit (received + capacity) it cached for this gate.
//!
//! A lossless publisher that finds the gate full registers here and is woken by the next
//! receive that frees a slot. (Waiting for a quarter of the capacity instead was three times
//! faster when the publisher outruns the subscribers, but a subscriber that receives one event
//! and then waits for that publisher would deadlock it with room free.) `progress` packs the received
//! count with a WAITING bit: the publisher sets the bit and the subscriber counts a receive
//! with read-modify-writes of the same word, so one of them always sees the other (no lost
//! wake-up, without `SeqCst` fences).
//!
//! A non-waiting `publish` that finds the gate full cannot skip this subscriber in the shared
//! ring, so it converts it into a queue subscriber (a [`Mailbox`] preloaded with exactly the
//! events the subscriber has not taken yet) and then drops the event for it, as for any full
//! `Block` queue.

use crate::mailbox::Mailbox;
use crate::mailbox::Padded;
use crate::metrics::SubscriberCounters;
use crate::ring::Cursor;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::waiter::{Waiter, wake_all};
use std::sync::Arc;

/// `progress` bit: a publisher waits for room (`wake_at` says from when).
const WAITING: u64 = 1;
/// `progress` bit: converted into a queue; receives from the batch count in that queue.
const CONVERTED: u64 = 2;
/// `progress` increment for one received event.
const STEP: u64 = 4;

struct State<T> {
    /// The cursor's position: every event before this one is received or in its batch.
    taken: u64,
    /// Publishers waiting for room.
    publishers: Vec<Waiter>,
    /// Set when a non-waiting publish converted the subscriber into a queue subscriber.
    converted: Option<Arc<Mailbox<T>>>,
    /// How many events had been received when it was converted.
    converted_at: u64,
}

pub(crate) struct Gate<T> {
    pub(crate) capacity: u64,
    /// `received * STEP | CONVERTED | WAITING`: every event before `received` has been
    /// received. Written by the subscriber on every receive, read by publishers only when they
    /// reach the limit they cached.
    progress: Padded<AtomicU64>,
    /// Waiting publishers are woken once `received >= wake_at` (written under `state`,
    /// before WAITING is set).
    wake_at: AtomicU64,
    state: Mutex<State<T>>,
    pub(crate) counters: Arc<SubscriberCounters>,
}

impl<T> Gate<T> {
    pub(crate) fn new(capacity: u64, start: u64, counters: Arc<SubscriberCounters>) -> Self {
        Self {
            capacity,
            progress: Padded(AtomicU64::new(start * STEP)),
            wake_at: AtomicU64::new(u64::MAX),
            state: Mutex::new(State {
                taken: start,
                publishers: Vec::new(),
                converted: None,
                converted_at: 0,
            }),
            counters,
        }
    }

    /// Events before this sequence number may be published: received + capacity (a reading
    /// without locking; it only grows).
    pub(crate) fn limit(&self) -> u64 {
        self.progress.0.load(Ordering::Acquire) / STEP + self.capacity
    }

    /// The subscriber received one more event; wakes waiting publishers once enough room is
    /// free.
    #[inline]
    pub(crate) fn received_one(&self) {
        let prev = self.progress.0.fetch_add(STEP, Ordering::AcqRel);
        if prev & CONVERTED != 0 {
            self.received_converted(prev / STEP + 1);
        } else if prev & WAITING != 0 && prev / STEP + 1 >= self.wake_at.load(Ordering::Relaxed) {
            self.wake_publishers();
        }
    }

    /// A receive from the batch taken before the conversion: it frees room in the queue.
    #[cold]
    fn received_converted(&self, received: u64) {
        let state = lock(&self.state);
        let (Some(mailbox), at) = (state.converted.clone(), state.converted_at) else {
            return;
        };
        drop(state);
        mailbox.set_consumed(usize::try_from(received - at).unwrap_or(usize::MAX));
        mailbox.release();
    }

    #[cold]
    fn wake_publishers(&self) {
        let mut state = lock(&self.state);
        self.wake_at.store(u64::MAX, Ordering::Relaxed);
        self.progress.0.fetch_and(!WAITING, Ordering::AcqRel);
        let publishers = std::mem::take(&mut state.publishers);
        drop(state);
        wake_all(publishers);
    }

    /// For a lossless publisher holding the publish lock: whether event `next` fits. If not,
    /// registers `waiter` (made only on this slow path) to be woken when a slot is free or the
    /// subscriber goes away.
    pub(crate) fn has_room_or_register(&self, next: u64, waiter: &dyn Fn() -> Waiter) -> bool {
        let mut state = lock(&self.state);
        // Event `next` fits once `next - capacity + 1` events are received: wake then, at the
        // first freed slot (see the module docs for why not later).
        let wake_at = self.wake_at.load(Ordering::Relaxed);
        self.wake_at
            .store(wake_at.min(next - self.capacity + 1), Ordering::Relaxed);
        let received = self.progress.0.fetch_or(WAITING, Ordering::AcqRel) / STEP;
        if next - received < self.capacity {
            return true; // the subscriber clears WAITING on its next receive
        }
        let waiter = waiter();
        if !state.publishers.iter().any(|w| w.same_as(&waiter)) {
            state.publishers.push(waiter);
        }
        false
    }

    /// The subscriber, its batch used up, reads more of the ring with `read` (which advances
    /// `cursor.next`), serialized with a conversion; `Err` with the queue to receive from
    /// instead once converted.
    pub(crate) fn advance<R>(
        &self,
        cursor: &mut Cursor<T>,
        read: impl FnOnce(&mut Cursor<T>) -> R,
    ) -> Result<R, Arc<Mailbox<T>>> {
        debug_assert!(cursor.local.is_empty());
        let mut state = lock(&self.state);
        if let Some(mailbox) = &state.converted {
            return Err(Arc::clone(mailbox));
        }
        let result = read(cursor);
        state.taken = cursor.next;
        Ok(result)
    }

    /// For a non-waiting publisher holding the publish lock, the gate being full: converts the
    /// subscriber into a queue subscriber built by `make` from the events it has not taken
    /// (`taken..`) and how many taken ones it has not received yet. Wakes waiting publishers,
    /// who then wait on the queue instead.
    pub(crate) fn convert(
        &self,
        make: impl FnOnce(u64, usize) -> Arc<Mailbox<T>>,
    ) -> Arc<Mailbox<T>> {
        let mut state = lock(&self.state);
        // The subscriber may still receive from its batch: those receives count in the queue
        // from now on (see `received_converted`), so its room stays exact.
        let received = self.progress.0.fetch_or(CONVERTED, Ordering::AcqRel) / STEP;
        let in_hand = usize::try_from(state.taken - received).unwrap_or(usize::MAX);
        let mailbox = make(state.taken, in_hand);
        state.converted = Some(Arc::clone(&mailbox));
        state.converted_at = received;
        let publishers = std::mem::take(&mut state.publishers);
        drop(state);
        wake_all(publishers);
        mailbox
    }

    /// The queue this gate was converted into, if any.
    pub(crate) fn converted(&self) -> Option<Arc<Mailbox<T>>> {
        lock(&self.state).converted.clone()
    }

    /// Wakes every waiting publisher (the subscriber went away or the topic closed).
    pub(crate) fn release_all(&self) {
        let publishers = std::mem::take(&mut lock(&self.state).publishers);
        wake_all(publishers);
    }
}
