//! One topic's shared state: the ring, the attached mailboxes, and the publish protocol.
//!
//! Publishing is serialized by the ring's tail lock (see `ring.rs`), which makes sequence
//! numbers dense. A topic with queue subscribers (mailboxes) also publishes under one mutex per
//! topic (`state`), held around the ring write and the deliveries to the queues, which gives
//! every subscriber the events in publish order; the ring's `SLOW` flag, set exactly while
//! there are mailboxes, tells publishers to take it. Lossless ring readers (gates) hold
//! publishers back through the ring's `gate_limit`, a mirror of `State::gate_limit` checked
//! under the tail lock: a publish below it needs no state lock, and one that reaches it takes
//! the state lock to re-read the gates and to wait or convert. While the next sequence number
//! is at or past the limit no publish gets past the tail lock, so under the state lock it
//! stays put until the limit is raised. The locks cover only bookkeeping: payloads are moved,
//! never cloned, and subscribers never take the state lock to receive.

use crate::event::Event;
use crate::gate::Gate;
use crate::mailbox::Mailbox;
use crate::metrics::{SubscriberCounters, TopicCounters, TopicMetrics};
use crate::options::Overflow;
use crate::ring::{Cursor, Displaced, Ring};
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, lock};
use crate::waiter::Waiter;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

/// What a publisher hands over.
pub(crate) enum Payload<T> {
    Owned(T),
    Shared(Arc<T>),
}

impl<T> Payload<T> {
    fn value(&self) -> &T {
        match self {
            Self::Owned(value) => value,
            Self::Shared(value) => value,
        }
    }
}

/// What a subscriber filter that panicked threw, resumed on the publisher once its locks are
/// released.
type Panic = Box<dyn Any + Send>;

/// Outcome of one attempt at a lossless publish.
pub(crate) enum Lossless<T> {
    Published(usize),
    /// A `Block` subscriber is full; the waiter is registered with it.
    Blocked(T, Arc<SubscriberCounters>),
    Closed(T),
}

struct Attached<T> {
    mailbox: Arc<Mailbox<T>>,
    /// The topic name, for wildcard subscriptions (`None` for direct ones).
    tag: Option<Arc<String>>,
}

/// Who holds a lossless publish back (see `State::find_full`).
enum Full {
    /// The mailbox at this index.
    Mailbox(usize),
    /// The gates whose cached limit is reached.
    Gates,
}

impl<T> Attached<T> {
    /// Whether a lossless publish must find room here: a live `Block` subscriber whose filter
    /// (its answer recorded for this publish, `kept`) keeps the event.
    fn takes(&self, kept: bool) -> bool {
        let mb = &self.mailbox;
        mb.overflow == Overflow::Block && mb.is_alive() && kept
    }
}

struct State<T> {
    mailboxes: Vec<Attached<T>>,
    /// How many attached mailboxes are `Overflow::Block`.
    lossless: usize,
    /// How many attached mailboxes have a filter.
    filtered: usize,
    /// The filters' answers for the publish under way, one per mailbox, or empty when no
    /// mailbox has a filter (see `run_filters`).
    keep: Vec<bool>,
    closed: bool,
    /// Mirror of the ring's `SLOW` flag: there are mailboxes.
    slow: bool,
    /// Gates of the lossless ring readers, each with the sequence number it let publishing
    /// reach (exclusive) when last read, and the smallest of those: a publisher reads a gate
    /// again only when the next sequence number reaches it, and then only that gate.
    gates: Vec<(Arc<Gate<T>>, u64)>,
    gate_limit: u64,
    /// Counters of the live direct subscribers (ring readers and mailboxes).
    subscribers: Vec<Arc<SubscriberCounters>>,
    /// The sum of the queue subscribers publishes reached (the ring counts its readers).
    reached: u64,
}

impl<T> State<T> {
    /// Rereads the gates that hold event `next` back; whether all of them now let it through.
    fn recheck_gates(&mut self, next: u64, ring: &Ring<T>) -> bool {
        for (gate, limit) in &mut self.gates {
            if *limit <= next {
                *limit = gate.limit();
            }
        }
        self.update_limit(ring);
        next < self.gate_limit
    }

    /// Runs each live subscriber's filter once on `value` and records its answer for the
    /// publish under way: the room check, the reservations, their giving back and the
    /// delivery all follow that one answer (a filter need not answer the same twice). Costs
    /// nothing when no mailbox has a filter. A filter that panics counts as "not for it", so
    /// the publish goes on for everyone else and reserves nothing for it; the first panic is
    /// returned, for the caller to resume once it has released its locks.
    fn run_filters(&mut self, value: &T) -> Option<Panic> {
        self.keep.clear();
        if self.filtered == 0 {
            return None;
        }
        let mut panic = None;
        for a in &self.mailboxes {
            let keep = match &a.mailbox.filter {
                None => true,
                Some(_) if !a.mailbox.is_alive() => false,
                Some(keep) => catch_unwind(AssertUnwindSafe(|| keep(value))).unwrap_or_else(|p| {
                    panic.get_or_insert(p);
                    false
                }),
            };
            self.keep.push(keep);
        }
        panic
    }

    /// The answer `run_filters` recorded for mailbox `i` (`true` without filters).
    fn kept(&self, i: usize) -> bool {
        self.keep.get(i).copied().unwrap_or(true)
    }

    /// For a lossless publish as event `next` (its filters run): the first `Block` subscriber
    /// with no room for it, or `None` when all have room (a slot is then reserved for it in
    /// every wildcard queue it is for). When one is full, gives back the slots reserved so far.
    fn find_full(&mut self, next: u64, ring: &Ring<T>) -> Option<Full> {
        if self.lossless > 0 {
            for (i, a) in self.mailboxes.iter().enumerate() {
                if a.takes(self.kept(i)) && !a.mailbox.has_room(a.tag.is_some()) {
                    self.unreserve(i);
                    return Some(Full::Mailbox(i));
                }
            }
        }
        if next >= self.gate_limit && !self.recheck_gates(next, ring) {
            self.unreserve(self.mailboxes.len());
            return Some(Full::Gates);
        }
        None
    }

    /// For a lossless publish of event `next` that a gate holds back: registers `waiter` with
    /// the first gate still full (its subscriber's counters), or `None` when all have room now.
    fn register_with_full_gate(
        &self,
        next: u64,
        waiter: &dyn Fn() -> Waiter,
    ) -> Option<Arc<SubscriberCounters>> {
        self.gates
            .iter()
            .find(|(gate, limit)| *limit <= next && !gate.has_room_or_register(next, waiter))
            .map(|(gate, _)| Arc::clone(&gate.counters))
    }

    /// Gives back the slots a lossless publish reserved in the wildcard queues among the
    /// first `checked` mailboxes (a queue found dead now may keep its slot: nobody reads it).
    fn unreserve(&self, checked: usize) {
        for (i, a) in self.mailboxes[..checked].iter().enumerate() {
            if a.tag.is_some() && a.takes(self.kept(i)) {
                a.mailbox.unreserve();
            }
        }
    }

    /// Recomputes the smallest cached gate limit and mirrors it in the ring. Only a new gate
    /// lowers it, and that happens under the tail lock.
    fn update_limit(&mut self, ring: &Ring<T>) {
        self.gate_limit = self.gates.iter().map(|g| g.1).min().unwrap_or(u64::MAX);
        ring.gate_limit.store(self.gate_limit, Ordering::Release);
    }

    fn prune(&mut self) {
        let lossless = &mut self.lossless;
        let filtered = &mut self.filtered;
        self.mailboxes.retain(|a| {
            let alive = a.mailbox.is_alive();
            if !alive && a.mailbox.overflow == Overflow::Block {
                *lossless -= 1;
            }
            if !alive && a.mailbox.filter.is_some() {
                *filtered -= 1;
            }
            alive
        });
    }

    fn retire(&mut self, counters: &Arc<SubscriberCounters>, topic: &TopicCounters) {
        if let Some(i) = self
            .subscribers
            .iter()
            .position(|c| Arc::ptr_eq(c, counters))
        {
            self.subscribers.swap_remove(i);
            topic.retire(counters);
        }
    }
}

pub(crate) struct Core<T> {
    pub(crate) name: Arc<str>,
    /// The capacity the topic was created with (default subscriber capacity).
    pub(crate) capacity: usize,
    pub(crate) ring: Ring<T>,
    state: Mutex<State<T>>,
    /// Live ring readers: every publish reaches them.
    ring_readers: AtomicUsize,
    next_id: AtomicU64,
    /// Live `Topic` handles; the last one to go closes the topic.
    pub(crate) handles: AtomicUsize,
    pub(crate) counters: TopicCounters,
}

impl<T: Send + Sync + 'static> Core<T> {
    pub(crate) fn new(name: Arc<str>, capacity: usize) -> Self {
        Self {
            name,
            capacity,
            ring: Ring::new(capacity),
            state: Mutex::new(State {
                mailboxes: Vec::new(),
                lossless: 0,
                filtered: 0,
                keep: Vec::new(),
                gates: Vec::new(),
                gate_limit: u64::MAX,
                closed: false,
                slow: false,
                subscribers: Vec::new(),
                reached: 0,
            }),
            ring_readers: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            handles: AtomicUsize::new(1),
            counters: TopicCounters::default(),
        }
    }

    /// Publishes without waiting: full `Block` subscribers are not reached (and count a drop).
    #[inline]
    pub(crate) fn publish(&self, payload: Payload<T>) -> usize {
        match self.ring.lock_fast() {
            Some(tail) => {
                let (reached, _, displaced) = tail.publish(payload, false, &self.ring_readers);
                drop(displaced);
                reached
            }
            None => self.publish_slow(payload),
        }
    }

    /// [`publish`](Self::publish) when the fast path is closed: mailboxes, the gates' limit
    /// reached, or the topic closed.
    #[inline(never)]
    fn publish_slow(&self, payload: Payload<T>) -> usize {
        loop {
            if let Some(tail) = self.ring.lock_fast() {
                let (reached, _, displaced) = tail.publish(payload, false, &self.ring_readers);
                drop(displaced);
                return reached;
            }
            let mut state = lock(&self.state);
            if state.closed {
                drop(state);
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return 0;
            }
            if self.ring.next_seq() >= state.gate_limit {
                self.convert_full_gates(&mut state);
            }
            if !state.slow {
                // No mailbox, and every gate has room (the limit was raised): publish on the
                // fast path.
                drop(state);
                continue;
            }
            let panic = state.run_filters(payload.value());
            let (reached, displaced) = self.publish_locked(&mut state, payload, false);
            drop(state);
            drop(displaced);
            if let Some(panic) = panic {
                resume_unwind(panic);
            }
            return reached;
        }
    }

    /// Publishes if every `Block` subscriber the event is for has room; otherwise registers
    /// `waiter` with the first full one and hands the payload back.
    #[inline]
    pub(crate) fn try_publish_lossless(
        &self,
        value: T,
        waiter: &dyn Fn() -> Waiter,
    ) -> Lossless<T> {
        match self.ring.lock_fast() {
            Some(tail) => {
                let (reached, _, displaced) =
                    tail.publish(Payload::Owned(value), false, &self.ring_readers);
                drop(displaced);
                Lossless::Published(reached)
            }
            None => self.try_publish_lossless_slow(value, waiter),
        }
    }

    /// [`try_publish_lossless`](Self::try_publish_lossless) when the fast path is closed.
    #[inline(never)]
    fn try_publish_lossless_slow(&self, value: T, waiter: &dyn Fn() -> Waiter) -> Lossless<T> {
        loop {
            // Below the gates' limit and without mailboxes nothing holds the publish back.
            if let Some(tail) = self.ring.lock_fast() {
                let (reached, _, displaced) =
                    tail.publish(Payload::Owned(value), false, &self.ring_readers);
                drop(displaced);
                return Lossless::Published(reached);
            }
            let mut state = lock(&self.state);
            if state.closed {
                return Lossless::Closed(value);
            }
            // Either no publish bypasses this lock (the flag is set: there are mailboxes), or
            // `next` reached the gates' limit, so no publish gets past the tail lock until the
            // limit is raised under this lock: either way `next` stays put while it is held.
            let next = self.ring.next_seq();
            if !state.slow {
                if next < state.gate_limit || state.recheck_gates(next, &self.ring) {
                    continue; // room: publish on the fast path
                }
                match state.register_with_full_gate(next, waiter) {
                    Some(blocker) => return Lossless::Blocked(value, blocker),
                    None => continue,
                }
            }
            // Wildcard queues are fed by several topics, so a publish reserves its slot in each
            // of them (see `Mailbox::has_room`). Room is checked first without registering; only
            // once every reservation is given back does the publisher register with the full
            // subscriber (which may have room by then: try again).
            let mut panic = state.run_filters(&value);
            while let Some(full) = state.find_full(next, &self.ring) {
                if let Some(panic) = panic.take() {
                    // A filter panicked and the publish would wait: it ends here, publishing
                    // nothing (no reservation is held), and the panic reaches the publisher.
                    drop(state);
                    resume_unwind(panic);
                }
                let registered = match full {
                    Full::Mailbox(i) => {
                        let mb = &state.mailboxes[i].mailbox;
                        (!mb.has_room_or_register(waiter)).then(|| Arc::clone(&mb.counters))
                    }
                    Full::Gates => state.register_with_full_gate(next, waiter),
                };
                if let Some(blocker) = registered {
                    return Lossless::Blocked(value, blocker);
                }
            }
            let lossless = state.lossless > 0;
            let (reached, displaced) =
                self.publish_locked(&mut state, Payload::Owned(value), lossless);
            drop(state);
            drop(displaced);
            if let Some(panic) = panic {
                resume_unwind(panic);
            }
            return Lossless::Published(reached);
        }
    }

    /// Publishes event `next_seq()` to the subscribers `run_filters` found it is for (the
    /// caller ran them on this payload under this lock). `reserved`: a lossless publish that
    /// reserved a slot in every wildcard `Block` queue it is for (see `try_publish_lossless`).
    fn publish_locked(
        &self,
        state: &mut State<T>,
        payload: Payload<T>,
        reserved: bool,
    ) -> (usize, Displaced<T>) {
        let share = !state.mailboxes.is_empty();
        let tail = self.ring.lock_tail();
        let seq = tail.seq();
        let (readers, shared, displaced) = tail.publish(payload, share, &self.ring_readers);
        let mut reached = readers;
        if let Some(value) = shared {
            let mut dead = false;
            for (i, a) in state.mailboxes.iter().enumerate() {
                if !a.mailbox.is_alive() {
                    dead = true;
                } else if state.kept(i) {
                    let event = Event {
                        seq,
                        value: Arc::clone(&value),
                        topic: a.tag.clone(),
                    };
                    let filled =
                        reserved && a.tag.is_some() && a.mailbox.overflow == Overflow::Block;
                    if a.mailbox.offer(event, filled) {
                        reached += 1;
                    }
                }
            }
            if dead {
                state.prune();
                self.clear_slow_if_idle(state);
            }
        }
        state.reached += (reached - readers) as u64;
        (reached, displaced)
    }

    /// For a non-waiting publish: a full lossless ring reader cannot be skipped in the shared
    /// ring, so each one becomes a queue subscriber holding exactly the events it has not taken
    /// (the publish then finds that queue full and drops the event for it, as for any full
    /// `Block` queue).
    #[cold]
    fn convert_full_gates(&self, state: &mut State<T>) {
        let next = self.ring.next_seq();
        if state.recheck_gates(next, &self.ring) {
            return;
        }
        // The queues must get every event after the ones they are preloaded with: publishers
        // go through this lock from now on (none gets past the tail lock meanwhile: `next` is
        // at the gates' limit until `update_limit` below raises it).
        self.set_slow(state);
        let mut i = 0;
        while i < state.gates.len() {
            if state.gates[i].1 > next {
                i += 1;
                continue;
            }
            let (gate, _) = state.gates.swap_remove(i);
            let mailbox = gate.convert(|taken, in_hand| {
                let capacity = usize::try_from(gate.capacity).unwrap_or(usize::MAX);
                let mailbox = Arc::new(Mailbox::new(
                    capacity,
                    Overflow::Block,
                    None,
                    Arc::clone(&gate.counters),
                ));
                let mut untaken = Vec::new();
                self.ring.retained_from(taken, &mut untaken);
                mailbox.preload(untaken, in_hand);
                mailbox
            });
            self.ring_readers.fetch_sub(1, Ordering::Relaxed);
            state.lossless += 1;
            state.mailboxes.push(Attached { mailbox, tag: None });
        }
        state.update_limit(&self.ring);
    }

    /// Adds a ring reader starting `last` events back (its id, cursor and counters).
    pub(crate) fn add_reader(
        &self,
        capacity: usize,
        last: usize,
    ) -> (u64, Cursor<T>, Arc<SubscriberCounters>) {
        self.register_reader(capacity, last, |_, _, counters| Arc::clone(counters))
    }

    /// Adds a lossless ring reader of `capacity` starting `last` events back (its id, cursor
    /// and gate).
    pub(crate) fn add_gated_reader(
        &self,
        capacity: usize,
        last: usize,
    ) -> (u64, Cursor<T>, Arc<Gate<T>>) {
        self.register_reader(capacity, last, |state, cursor, counters| {
            let gate = Arc::new(Gate::new(
                cursor.capacity,
                cursor.next,
                Arc::clone(counters),
            ));
            state
                .gates
                .push((Arc::clone(&gate), cursor.next + cursor.capacity));
            state.update_limit(&self.ring);
            gate
        })
    }

    /// Registers a ring reader under the state lock and runs `extra` there too (a gate's
    /// registration), so no publish falls between the reader's start and its gate.
    fn register_reader<X>(
        &self,
        capacity: usize,
        last: usize,
        extra: impl FnOnce(&mut State<T>, &Cursor<T>, &Arc<SubscriberCounters>) -> X,
    ) -> (u64, Cursor<T>, X) {
        let counters = Arc::new(SubscriberCounters::default());
        let capacity = capacity as u64;
        let mut state = lock(&self.state);
        // Under the tail lock: no publish falls between the start and the count of readers
        // (or, for a gate, the lowered limit that makes publishers look at it).
        let tail = self.ring.lock_tail();
        let cursor = Cursor {
            next: tail.start((last as u64).min(capacity)),
            capacity,
            local: Vec::new(),
            batch: 0,
        };
        let out = extra(&mut state, &cursor, &counters);
        self.ring_readers.fetch_add(1, Ordering::Relaxed);
        drop(tail);
        state.subscribers.push(counters);
        drop(state);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (id, cursor, out)
    }

    /// Removes a dropped lossless ring reader (or the queue it was converted into) and
    /// releases the publishers waiting for it.
    pub(crate) fn remove_gated_reader(&self, id: u64, gate: &Arc<Gate<T>>) {
        let mut state = lock(&self.state);
        if let Some(i) = state.gates.iter().position(|g| Arc::ptr_eq(&g.0, gate)) {
            state.gates.swap_remove(i);
            // Uncounted before the limit rises: a publisher past the old limit gets through
            // the tail lock without this lock, and its read of the limit (Acquire, pairing
            // with `update_limit`'s Release) makes it count the readers without this one.
            // Otherwise a publish the full subscriber never had room for would report it.
            self.ring_readers.fetch_sub(1, Ordering::Relaxed);
            state.update_limit(&self.ring);
        } else if let Some(mailbox) = gate.converted() {
            mailbox.detach();
            state.prune();
        }
        self.clear_slow_if_idle(&mut state);
        state.retire(&gate.counters, &self.counters);
        drop(state);
        self.ring.unregister(id);
        gate.release_all();
    }

    pub(crate) fn remove_reader(&self, id: u64, counters: &Arc<SubscriberCounters>) {
        let mut state = lock(&self.state);
        self.ring_readers.fetch_sub(1, Ordering::Relaxed);
        state.retire(counters, &self.counters);
        drop(state);
        self.ring.unregister(id);
    }

    /// Attaches a mailbox, first replaying up to `last` retained events into it. A direct
    /// mailbox (`tag == None`) attached to a closed topic is closed at once.
    pub(crate) fn attach(&self, mailbox: Arc<Mailbox<T>>, tag: Option<Arc<String>>, last: usize) {
        let mut state = lock(&self.state);
        if state.closed {
            if tag.is_none() {
                mailbox.close();
            }
            return;
        }
        // From here on every publish takes the state lock, so it reaches the new mailbox,
        // and the start below stays the next sequence number while the lock is held.
        self.set_slow(&mut state);
        let mut replay = Vec::new();
        let from = self.ring.start(last as u64);
        self.ring.retained_from(from, &mut replay);
        // The filter runs on each replayed event; if it panics, the subscriber is not
        // attached and the topic is left as without it (the flag cleared if no queue is left).
        let replayed = catch_unwind(AssertUnwindSafe(|| {
            for (seq, value) in replay {
                if mailbox.accepts(&value) {
                    let _ = mailbox.offer(
                        Event {
                            seq,
                            value,
                            topic: tag.clone(),
                        },
                        false,
                    );
                }
            }
        }));
        if let Err(panic) = replayed {
            self.clear_slow_if_idle(&mut state);
            drop(state);
            resume_unwind(panic);
        }
        if mailbox.overflow == Overflow::Block {
            state.lossless += 1;
        }
        state.filtered += usize::from(mailbox.filter.is_some());
        if tag.is_none() {
            state.subscribers.push(Arc::clone(&mailbox.counters));
        }
        state.mailboxes.push(Attached { mailbox, tag });
    }

    /// Removes a dropped direct mailbox subscriber.
    pub(crate) fn detach(&self, mailbox: &Arc<Mailbox<T>>) {
        let mut state = lock(&self.state);
        state.prune();
        self.clear_slow_if_idle(&mut state);
        state.retire(&mailbox.counters, &self.counters);
    }

    /// Sends publishers through the state lock (held by the caller): a mailbox is about to be
    /// attached. Taking the tail lock waits out a publisher already past the flag.
    fn set_slow(&self, state: &mut State<T>) {
        if !state.slow {
            self.ring.lock_tail().set_slow(true);
            state.slow = true;
        }
    }

    /// Lets publishers bypass the state lock again once no mailbox is left.
    fn clear_slow_if_idle(&self, state: &mut State<T>) {
        if state.slow && state.mailboxes.is_empty() {
            self.ring.lock_tail().set_slow(false);
            state.slow = false;
        }
    }

    /// Closes the topic: publishing stops, subscribers drain what they hold, then see `Closed`.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        if state.closed {
            return;
        }
        state.closed = true;
        let readers = self.ring.close();
        let mailboxes = std::mem::take(&mut state.mailboxes);
        state.lossless = 0;
        state.filtered = 0;
        let gates: Vec<_> = state.gates.iter().map(|g| Arc::clone(&g.0)).collect();
        drop(state);
        for (_, reader) in readers {
            reader.wake();
        }
        for gate in gates {
            gate.release_all();
        }
        for a in mailboxes {
            // Wildcard subscribers outlive one topic: they are only detached from it, and
            // this topic's publishers waiting for one are woken to get their events back.
            if a.tag.is_none() {
                a.mailbox.close();
            } else {
                a.mailbox.wake_publishers();
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    pub(crate) fn metrics(&self) -> TopicMetrics {
        let state = lock(&self.state);
        let mut m = self
            .counters
            .snapshot(state.subscribers.iter().map(|c| &**c));
        m.published = self.ring.next_seq();
        m.reached = self.ring.reached.load(Ordering::Relaxed) + state.reached;
        m
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.state).subscribers.len()
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use crate::sync::lock;
    use crate::{EventBus, Overflow, Start, SubscribeOptions, Topic, TopicOptions};
    use futures::FutureExt;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    fn opts(capacity: usize, overflow: Overflow) -> SubscribeOptions {
        SubscribeOptions {
            capacity,
            overflow,
            start: Start::Now,
        }
    }

    /// Whether a publish would take the tail lock alone (no `SLOW` flag, below the mirrored
    /// gate limit).
    fn fast(topic: &Topic<u64>) -> bool {
        topic.core().ring.lock_fast().is_some()
    }

    /// Once the subscribers that close the fast path are gone, publishers bypass the topic
    /// lock again: the gate limit mirror rises when the last lossless ring reader leaves (also
    /// one that held a publisher at its limit, or was converted into a queue), and the `SLOW`
    /// flag is cleared when the last queue subscriber leaves.
    #[test]
    fn the_fast_path_reopens_when_the_subscribers_closing_it_leave() {
        let t = Topic::<u64>::new("t", TopicOptions { capacity: 4 }).unwrap();
        assert!(fast(&t));
        let gated = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        assert!(fast(&t), "below its limit");
        assert_eq!(t.publish(0), 1);
        assert!(!fast(&t), "at its limit");
        drop(gated);
        assert!(fast(&t), "the limit rises with the last gate gone");

        let filtered = t
            .subscribe_filtered_with(opts(4, Overflow::Lag), |_| true)
            .unwrap();
        assert!(!fast(&t), "a queue needs the topic lock");
        drop(filtered);
        assert!(fast(&t), "the flag is cleared with the last queue gone");

        let mut converted = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        assert_eq!(t.publish(1), 1);
        assert_eq!(
            t.publish(2),
            0,
            "full: converted into a queue, dropped for it"
        );
        assert!(!fast(&t), "the converted queue needs the topic lock");
        assert_eq!(*converted.try_recv().unwrap(), 1);
        drop(converted);
        assert!(fast(&t), "nothing left that needs the topic lock");
        assert_eq!(t.publish(3), 0);
    }

    /// How many attached queues have a filter, counted from the list, and the topic's count.
    fn filtered(topic: &Topic<u64>) -> (usize, usize) {
        let state = lock(&topic.core().state);
        let listed = state
            .mailboxes
            .iter()
            .filter(|a| a.mailbox.filter.is_some());
        (listed.count(), state.filtered)
    }

    /// `State::filtered` (which lets `run_filters` skip the filters) counts exactly the
    /// attached filtered queues while they come and go: a subscriber pruned by its own drop or
    /// by a publish, one left alone, a closed topic. Too low, a filtered subscriber would get
    /// events unfiltered (the remaining one below sees an odd number). The publish that prunes
    /// a dead filtered queue also pins that the filters' answers (`keep`) are read against
    /// the mailbox list they were recorded for: pruning before the delivery shifts the dead
    /// queue's "no" onto the next subscriber (reached 1 instead of 2).
    #[test]
    fn the_filtered_count_follows_the_filtered_subscribers() {
        let t = Topic::<u64>::new("t", TopicOptions { capacity: 4 }).unwrap();
        let even = |v: &u64| v.is_multiple_of(2);
        let mut a = t
            .subscribe_filtered_with(opts(8, Overflow::Lag), even)
            .unwrap();
        let b = t
            .subscribe_filtered_with(opts(8, Overflow::Block), even)
            .unwrap();
        let c = t
            .subscribe_filtered_with(opts(8, Overflow::DropNewest), even)
            .unwrap();
        let plain = t.subscribe_with(opts(8, Overflow::DropNewest)).unwrap();
        assert_eq!(filtered(&t), (3, 3));
        drop(b); // pruned by its own detach
        assert_eq!(filtered(&t), (2, 2));
        // Dropped without the topic noticing yet: the next publish prunes it.
        // (`c` is the second queue left.)
        let c_queue = Arc::clone(&lock(&t.core().state).mailboxes[1].mailbox);
        c_queue.detach();
        assert_eq!(filtered(&t), (2, 2));
        assert_eq!(t.publish(0), 2);
        assert_eq!(filtered(&t), (1, 1));
        drop(plain);
        assert_eq!(filtered(&t), (1, 1));
        for v in 1..6 {
            t.publish(v);
        }
        assert_eq!(drain(&mut a), [0, 2, 4], "still filtered");
        drop(c);
        t.close();
        assert_eq!(filtered(&t), (0, 0));
    }

    /// A filter that panics while replaying `Start::Last` events: the panic resumes from the
    /// subscribe call, and the topic is left as without that subscriber (its fast path open
    /// again, the other subscribers unaffected). The fast path used to stay closed: the
    /// `SLOW` flag set for the queue stayed set with no queue left.
    #[test]
    fn a_filter_panicking_in_the_replay_leaves_the_fast_path_open() {
        let t = Topic::<u64>::new("t", TopicOptions { capacity: 4 }).unwrap();
        let mut ring = t.subscribe();
        for v in 0..3 {
            t.publish(v);
        }
        let start = SubscribeOptions {
            start: Start::Last(4),
            ..opts(4, Overflow::Lag)
        };
        let subscribed = catch_unwind(AssertUnwindSafe(|| {
            t.subscribe_filtered_with(start, |v| {
                assert!(*v != 1, "the filter panics on 1");
                true
            })
        }));
        assert!(subscribed.is_err(), "the panic reached the subscriber");
        assert_eq!(filtered(&t), (0, 0));
        assert!(fast(&t), "no queue left: the fast path is open");
        assert_eq!(t.publish(3), 1);
        assert_eq!(drain(&mut ring), [0, 1, 2, 3]);
        assert_eq!(t.subscriber_count(), 1);
    }

    /// Slots reserved in the topic's queues, summed.
    fn reserved(topic: &Topic<u64>) -> usize {
        let state = lock(&topic.core().state);
        state.mailboxes.iter().map(|a| a.mailbox.reserved()).sum()
    }

    /// Everything `sub` holds now.
    fn drain(sub: &mut crate::Subscriber<u64>) -> Vec<u64> {
        std::iter::from_fn(|| sub.try_recv().ok().map(|e| *e)).collect()
    }

    /// A filter that answers differently on every call (a sampling filter: "every 2nd
    /// event") is called once per publish, and its one answer decides both whether a lossless
    /// publish must find room for the subscriber and whether it is queued there. Evaluated
    /// twice, it said "not for it" to the room check and "for it" to the delivery, and a
    /// lossless publish dropped the event at the full `Block` queue.
    #[test]
    fn a_lossless_publish_asks_each_filter_once() {
        let bus = EventBus::new();
        let t = bus.topic::<u64>("a.x").unwrap();
        let mut wild = bus
            .subscribe_pattern::<u64>("a.*", opts(1, Overflow::Block))
            .unwrap();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let calls = AtomicUsize::new(0);
        let k = Arc::clone(&kept);
        let mut sampled = t
            .subscribe_filtered_with(opts(1, Overflow::Block), move |v| {
                let keep = calls.fetch_add(1, Ordering::Relaxed) % 2 == 1;
                if keep {
                    k.lock().unwrap().push(*v);
                }
                keep
            })
            .unwrap();
        let mut got = Vec::new();
        let mut wild_got = Vec::new();
        for pair in 0..8 {
            for v in [2 * pair, 2 * pair + 1] {
                let published = t.publish_async(v).now_or_never();
                assert!(
                    matches!(published, Some(Ok(_))),
                    "event {v}: the lossless publish found room everywhere"
                );
                wild_got.extend(drain(&mut wild));
                assert_eq!(reserved(&t), 0, "event {v}: every reservation filled");
            }
            got.extend(drain(&mut sampled));
        }
        assert_eq!(got, *kept.lock().unwrap(), "every kept event delivered");
        assert_eq!(got.len(), 8);
        assert_eq!(sampled.metrics().dropped, 0);
        assert_eq!(wild_got, (0..16).collect::<Vec<_>>());
    }

    /// A filter that panics inside a publish: the other subscribers still get the event, the
    /// wildcard queue slot reserved for it is filled (not left taken for good), and the panic
    /// reaches the publisher. Later lossless publishes find the room.
    #[test]
    fn a_panicking_filter_leaves_no_reservation_and_misses_no_one_else() {
        let bus = EventBus::new();
        let t = bus.topic::<u64>("a.x").unwrap();
        // Before the wildcard queue: its filter runs before that queue is offered the event.
        let mut lag = t.subscribe_filtered(|v| {
            assert!(*v != 7, "the Lag filter panics on 7");
            true
        });
        let mut wild = bus
            .subscribe_pattern::<u64>("a.*", opts(1, Overflow::Block))
            .unwrap();
        // After the wildcard queue: its filter runs after that queue's slot is reserved.
        let mut block = t
            .subscribe_filtered_with(opts(2, Overflow::Block), |v| {
                assert!(*v != 8, "the Block filter panics on 8");
                true
            })
            .unwrap();
        let mut ring = t.subscribe();

        for v in [7, 8] {
            let lossless = catch_unwind(AssertUnwindSafe(|| t.publish_async(v).now_or_never()));
            assert!(
                lossless.is_err(),
                "event {v}: the panic reached the publisher"
            );
            assert_eq!(reserved(&t), 0, "event {v}: no slot left reserved");
            assert_eq!(
                drain(&mut wild),
                [v],
                "event {v}: the wildcard queue has it"
            );
            assert_eq!(drain(&mut ring), [v]);
        }
        assert_eq!(drain(&mut lag), [8]);
        assert_eq!(drain(&mut block), [7]);

        let plain = catch_unwind(AssertUnwindSafe(|| t.publish(8)));
        assert!(
            plain.is_err(),
            "a non-waiting publish: the panic reached the publisher"
        );
        assert_eq!(reserved(&t), 0);
        assert_eq!(drain(&mut wild), [8]);
        assert_eq!(drain(&mut lag), [8]);
        assert_eq!(drain(&mut ring), [8]);

        for v in [1, 2] {
            let later = t.publish_async(v).now_or_never();
            assert!(matches!(later, Some(Ok(4))), "event {v}: room everywhere");
            assert_eq!(reserved(&t), 0);
            assert_eq!(drain(&mut wild), [v]);
        }
        assert_eq!(drain(&mut block), [1, 2]);
        assert_eq!(drain(&mut lag), [1, 2]);
        assert_eq!(drain(&mut ring), [1, 2]);
    }
}
