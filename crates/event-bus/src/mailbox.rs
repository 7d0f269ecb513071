//! A subscriber's own queue, for subscriptions the shared ring cannot serve: lossless
//! (`Block`), `DropNewest`, filtered, wildcard, and capacities above the topic's.
//!
//! The publisher pushes shared `Arc<T>` handles under a per-subscriber mutex, so subscribers
//! never contend with each other. The subscriber swaps the whole queue out under one lock and
//! then receives from its private batch without locking, publishing how many of the batch it
//! has received through `consumed` (a plain store). Queued plus pulled-but-unreceived events
//! never exceed `capacity`.

use crate::error::TryRecvError;
use crate::event::Event;
use crate::metrics::SubscriberCounters;
use crate::options::Overflow;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, fence, lock};
use crate::waiter::{Waiter, wake_all};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

/// Keeps a value on its own cache line (no false sharing with its neighbours).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// A publisher-side predicate: events it rejects are never queued for the subscriber.
pub(crate) type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

struct State<T> {
    queue: VecDeque<Event<T>>,
    /// Events pulled into the subscriber's batch and not yet received.
    in_hand: usize,
    /// Slots promised to lossless publishers of other topics (a wildcard queue is fed by
    /// several topics, each under its own publish lock): taken when one finds room, filled by
    /// its publish, or given back if that publish waits for someone else after all.
    reserved: usize,
    /// Events skipped for a `Lag` subscriber, reported by its next receive.
    missed: u64,
    closed: bool,
    /// The subscriber is gone; publishers stop waiting for it.
    detached: bool,
    subscriber: Option<Waiter>,
    publishers: Vec<Waiter>,
}

pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    /// Mirror of `queue.len() + in_hand`, for lock-free room checks by lossless publishers
    /// (only publishers raise it, under the lock, so a reading below capacity stays true for
    /// the publish that follows while the topic's publish lock is held). Not used for a
    /// wildcard queue: publishers of other topics do not hold that lock, so they reserve.
    held: AtomicUsize,
    /// How many events of the pulled batch the subscriber has received (written only by it).
    /// On its own cache line: the subscriber writes it on every receive, and publishers read
    /// it only when a queue looks full.
    consumed: Padded<AtomicUsize>,
    /// A lossless publisher waits for room (a hint for the subscriber to release room early).
    publisher_waiting: AtomicBool,
    /// Cleared when the subscriber is dropped, so publishers prune the mailbox.
    alive: AtomicBool,
    capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) filter: Option<Filter<T>>,
    pub(crate) counters: Arc<SubscriberCounters>,
}

impl<T> Mailbox<T> {
    pub(crate) fn new(
        capacity: usize,
        overflow: Overflow,
        filter: Option<Filter<T>>,
        counters: Arc<SubscriberCounters>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                in_hand: 0,
                reserved: 0,
                missed: 0,
                closed: false,
                detached: false,
                subscriber: None,
                publishers: Vec::new(),
            }),
            held: AtomicUsize::new(0),
            consumed: Padded(AtomicUsize::new(0)),
            publisher_waiting: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            capacity,
            overflow,
            filter,
            counters,
        }
    }

    /// Fills a new queue with `events` (oldest first), `in_hand` more counting as pulled by
    /// the subscriber and not yet received.
    pub(crate) fn preload(&self, events: Vec<(u64, Arc<T>)>, in_hand: usize) {
        let mut state = lock(&self.state);
        state
            .queue
            .extend(events.into_iter().map(|(seq, value)| Event {
                seq,
                value,
                topic: None,
            }));
        state.in_hand = in_hand;
        self.held
            .store(state.queue.len() + in_hand, Ordering::Release);
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Whether the filter keeps `value` (for a replay; a publish runs the filters once each
    /// through the topic's `run_filters`).
    pub(crate) fn accepts(&self, value: &T) -> bool {
        self.filter.as_ref().is_none_or(|keep| keep(value))
    }

    /// Queues `event` under this subscriber's policy and wakes the subscriber. Returns
    /// `false` when it was not queued: full (`DropNewest`, or `Block` on a non-waiting
    /// publish; counted as dropped), or closed. `reserved`: the publisher reserved the slot
    /// (see [`has_room_or_register`](Self::has_room_or_register)); it fills it.
    pub(crate) fn offer(&self, event: Event<T>, reserved: bool) -> bool {
        let mut state = lock(&self.state);
        if reserved {
            debug_assert!(state.reserved > 0, "filling a slot that was not reserved");
            state.reserved = state.reserved.saturating_sub(1);
        }
        if state.closed || state.detached {
            return false;
        }
        let mut displaced = None;
        if !reserved && self.unreceived(&state) >= self.capacity {
            match self.overflow {
                Overflow::Lag => {
                    state.missed += 1;
                    self.counters.add_lagged(1);
                    match state.queue.pop_front() {
                        Some(oldest) => displaced = Some(oldest),
                        // Everything held is already pulled by the subscriber: skip this one.
                        None => return false,
                    }
                }
                Overflow::DropNewest | Overflow::Block => {
                    self.counters.add_dropped(1);
                    return false;
                }
            }
        }
        state.queue.push_back(event);
        self.held
            .store(state.queue.len() + state.in_hand, Ordering::Release);
        let subscriber = state.subscriber.take();
        drop(state);
        drop(displaced);
        if let Some(waiter) = subscriber {
            waiter.wake();
        }
        true
    }

    /// Queued plus pulled-but-unreceived events, plus reserved slots (never underestimated).
    fn unreceived(&self, state: &State<T>) -> usize {
        let held = state.queue.len() + state.in_hand + state.reserved;
        if held < self.capacity {
            return held; // an upper bound is enough to know there is room
        }
        let consumed = self.consumed.0.load(Ordering::Acquire);
        state.queue.len() + state.reserved + state.in_hand.saturating_sub(consumed)
    }

    /// The subscriber has received `n` events of its current batch.
    pub(crate) fn set_consumed(&self, n: usize) {
        self.consumed.0.store(n, Ordering::Release);
    }

    /// Wakes waiting lossless publishers, if any: the subscriber freed room. Called on every
    /// receive, not once enough room is free: a subscriber that receives one event and then
    /// waits for its publisher would otherwise leave it asleep with room free (loom:
    /// `a_waiting_publisher_wakes_at_the_first_free_queue_slot`).
    pub(crate) fn release(&self) {
        // Pairs with the fence in `has_room_or_register`: the subscriber stored `consumed`,
        // the publisher stored `publisher_waiting`; with a fence on each side between its
        // store and its load, at least one sees the other's, so a publisher never sleeps
        // through room freed mid-batch (loom: `queued_block_wakes_its_publisher_mid_batch`).
        fence(Ordering::SeqCst);
        if self.publisher_waiting.load(Ordering::Relaxed) {
            let mut state = lock(&self.state);
            self.publisher_waiting.store(false, Ordering::Relaxed);
            let publishers = std::mem::take(&mut state.publishers);
            drop(state);
            wake_all(publishers);
        }
    }

    /// For a lossless publisher: whether one more event fits.
    ///
    /// With `reserve` (a queue fed by several topics, whose publishers do not share a lock)
    /// a `true` also reserves the slot, under this queue's lock: the publish must then fill
    /// it with `offer(_, true)` or give it back with [`unreserve`](Self::unreserve).
    /// Otherwise the caller's publish lock keeps the room until its publish.
    pub(crate) fn has_room(&self, reserve: bool) -> bool {
        if !reserve {
            let held = self.held.load(Ordering::Acquire);
            if held < self.capacity
                || held.saturating_sub(self.consumed.0.load(Ordering::Acquire)) < self.capacity
            {
                return true;
            }
        }
        let mut state = lock(&self.state);
        if state.closed || state.detached || self.unreceived(&state) < self.capacity {
            state.reserved += usize::from(reserve);
            return true;
        }
        false
    }

    /// For a lossless publisher that found no room with [`has_room`](Self::has_room) (and
    /// holds no reservation): registers `waiter` to be woken when the subscriber frees room
    /// or goes away, unless there is room now (`true`: the publisher tries again).
    pub(crate) fn has_room_or_register(&self, waiter: &dyn Fn() -> Waiter) -> bool {
        let mut state = lock(&self.state);
        if state.closed || state.detached || self.unreceived(&state) < self.capacity {
            return true;
        }
        let waiter = waiter();
        let pushed = !state.publishers.iter().any(|w| w.same_as(&waiter));
        if pushed {
            state.publishers.push(waiter);
        }
        self.publisher_waiting.store(true, Ordering::Relaxed);
        // See `release`: announce the wait, then look at `consumed` once more.
        fence(Ordering::SeqCst);
        if self.unreceived(&state) < self.capacity {
            if pushed {
                state.publishers.pop();
            }
            return true;
        }
        false
    }

    /// Gives back a slot reserved by `has_room(true)` whose publish did not happen, waking
    /// publishers that may be waiting for it.
    pub(crate) fn unreserve(&self) {
        let mut state = lock(&self.state);
        debug_assert!(
            state.reserved > 0,
            "giving back a slot that was not reserved"
        );
        state.reserved = state.reserved.saturating_sub(1);
        let publishers = std::mem::take(&mut state.publishers);
        drop(state);
        wake_all(publishers);
    }

    /// Slots reserved by lossless publishers and not yet filled or given back.
    #[cfg(all(test, not(tidewater_loom)))]
    pub(crate) fn reserved(&self) -> usize {
        lock(&self.state).reserved
    }

    /// Moves the queued events into the subscriber's (empty) batch `local`.
    ///
    /// Reports a pending lag first (it precedes every queued event). When nothing is queued
    /// and `waiter` is given, registers it under the same lock, so no publish is missed.
    pub(crate) fn take(
        &self,
        local: &mut VecDeque<Event<T>>,
        waiter: Option<&dyn Fn() -> Waiter>,
    ) -> Result<(), TryRecvError> {
        debug_assert!(local.is_empty());
        let mut state = lock(&self.state);
        state.in_hand = 0;
        self.consumed.0.store(0, Ordering::Release);
        self.publisher_waiting.store(false, Ordering::Relaxed);
        if state.missed > 0 {
            let missed = std::mem::take(&mut state.missed);
            self.held.store(state.queue.len(), Ordering::Release);
            let publishers = std::mem::take(&mut state.publishers);
            drop(state);
            wake_all(publishers);
            return Err(TryRecvError::Lagged { missed });
        }
        std::mem::swap(&mut state.queue, local);
        state.in_hand = local.len();
        self.held.store(state.in_hand, Ordering::Release);
        let result = if !local.is_empty() {
            Ok(())
        } else if state.closed {
            Err(TryRecvError::Closed)
        } else {
            if let Some(waiter) = waiter {
                state.subscriber = Some(waiter());
            }
            Err(TryRecvError::Empty)
        };
        let publishers = std::mem::take(&mut state.publishers);
        drop(state);
        wake_all(publishers);
        result
    }

    /// Closes the mailbox: the subscriber drains what is queued, then sees `Closed`.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        let mut waiters = std::mem::take(&mut state.publishers);
        waiters.extend(state.subscriber.take());
        drop(state);
        wake_all(waiters);
    }

    /// Wakes every waiting publisher so that each looks again: a topic feeding this wildcard
    /// queue closed, and its publishers must get their events back.
    pub(crate) fn wake_publishers(&self) {
        let publishers = std::mem::take(&mut lock(&self.state).publishers);
        wake_all(publishers);
    }

    /// The subscriber is gone: drop what is queued and release waiting publishers.
    pub(crate) fn detach(&self) {
        self.alive.store(false, Ordering::Release);
        let mut state = lock(&self.state);
        state.detached = true;
        let queue = std::mem::take(&mut state.queue);
        let publishers = std::mem::take(&mut state.publishers);
        state.subscriber = None;
        drop(state);
        drop(queue);
        wake_all(publishers);
    }
}

/// A mailbox seen without its event type: what the wildcard registry needs.
pub(crate) trait AnyMailbox: Send + Sync {
    fn is_alive(&self) -> bool;
    fn close(&self);
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Send + Sync + 'static> AnyMailbox for Mailbox<T> {
    fn is_alive(&self) -> bool {
        Mailbox::is_alive(self)
    }
    fn close(&self) {
        Mailbox::close(self);
    }
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
