//! The receiving end: `recv`, `try_recv`, `blocking_recv`, `recv_many` and `Stream`.

use crate::core::Core;
use crate::error::{Lagged, RecvError, TryRecvError};
use crate::event::Event;
use crate::gate::Gate;
use crate::mailbox::Mailbox;
use crate::metrics::{SubscriberCounters, SubscriberMetrics};
use crate::ring::Cursor;
use crate::sync::thread;
use crate::waiter::Waiter;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

// A plain tag (no niche): the receive hot path tests it with one compare.
#[repr(u8)]
enum Source<T: Send + Sync + 'static> {
    /// An unfiltered `Lag` subscriber reading the topic's shared ring.
    Ring {
        core: Arc<Core<T>>,
        id: u64,
        cursor: Cursor<T>,
    },
    /// An unfiltered `Block` subscriber reading the shared ring; its `gate` holds lossless
    /// publishers back.
    Gated {
        core: Arc<Core<T>>,
        id: u64,
        cursor: Cursor<T>,
        gate: Arc<Gate<T>>,
    },
    /// A subscriber with its own queue; `core` is `None` for wildcard subscriptions.
    Mailbox {
        mailbox: Arc<Mailbox<T>>,
        core: Option<Arc<Core<T>>>,
        local: VecDeque<Event<T>>,
        /// Events of the current batch received so far.
        consumed: usize,
    },
}

/// Receives the events of one topic (or, from
/// [`EventBus::subscribe_pattern`](crate::EventBus::subscribe_pattern), of every matching topic).
///
/// # Guarantees
/// - **Order**: events arrive in publish order; `Event::seq` never goes backwards (per topic).
/// - **Lag is not an error state**: under `Overflow::Lag`, a receive returns
///   `Lagged { missed }` once for each gap, then continues; the `missed` counts add up to
///   exactly the events this subscriber skipped.
/// - **Lossless**: under `Overflow::Block`, every event published with
///   [`Topic::publish_async`](crate::Topic::publish_async) or
///   [`Topic::blocking_publish`](crate::Topic::blocking_publish) is received.
/// - **Cancel safety**: [`recv`](Self::recv) and [`recv_many`](Self::recv_many) are cancel safe;
///   dropping their futures loses nothing. The [`Stream`](futures_core::Stream) impl is the
///   same poll function, so it is cancel safe as well.
/// - **No busy waiting**: an idle subscriber sleeps until an event or close wakes it.
/// - **Memory**: a subscriber holds at most `capacity` unreceived events (plus, for ring
///   subscribers, the events the topic retains anyway).
///
/// Dropping a subscriber unsubscribes it at once; a publisher waiting for it is released.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_event_bus::{EventBus, RecvError};
/// let bus = EventBus::new();
/// let topic = bus.topic::<String>("greetings").unwrap();
/// let mut sub = topic.subscribe();
/// topic.publish("hello".to_string());
/// let event = sub.recv().await.unwrap();
/// assert_eq!((event.seq(), event.as_str()), (0, "hello"));
/// topic.close();
/// assert_eq!(sub.recv().await.unwrap_err(), RecvError::Closed);
/// # }
/// ```
pub struct Subscriber<T: Send + Sync + 'static> {
    source: Source<T>,
    /// A lag found while collecting a batch, reported by the next receive.
    pending_lag: Option<u64>,
    counters: Arc<SubscriberCounters>,
}

impl<T: Send + Sync + 'static> Subscriber<T> {
    pub(crate) fn from_ring(core: Arc<Core<T>>, capacity: usize, last: usize) -> Self {
        let (id, cursor, counters) = core.add_reader(capacity, last);
        Self {
            source: Source::Ring { core, id, cursor },
            pending_lag: None,
            counters,
        }
    }

    /// A lossless (`Block`) subscriber reading the shared ring, gating its publishers.
    pub(crate) fn gated(core: Arc<Core<T>>, capacity: usize, last: usize) -> Self {
        let (id, cursor, gate) = core.add_gated_reader(capacity, last);
        let counters = Arc::clone(&gate.counters);
        Self {
            source: Source::Gated {
                core,
                id,
                cursor,
                gate,
            },
            pending_lag: None,
            counters,
        }
    }

    pub(crate) fn from_mailbox(mailbox: Arc<Mailbox<T>>, core: Option<Arc<Core<T>>>) -> Self {
        let counters = Arc::clone(&mailbox.counters);
        Self {
            source: Source::Mailbox {
                mailbox,
                core,
                local: VecDeque::new(),
                consumed: 0,
            },
            pending_lag: None,
            counters,
        }
    }

    /// The next event, `waiter` registered (made lazily) when there is none yet.
    #[inline]
    fn next(&mut self, waiter: Option<&dyn Fn() -> Waiter>) -> Result<Event<T>, TryRecvError> {
        // Checked by value: the field is written only when a lag is actually pending, which
        // keeps the common path free of stores to anything but the batch itself.
        if let Some(missed) = self.pending_lag {
            self.pending_lag = None;
            return Err(TryRecvError::Lagged { missed });
        }
        match &mut self.source {
            Source::Ring { core, id, cursor } => loop {
                if let Some(event) = cursor.pop() {
                    break Ok(event);
                }
                // The batch is used up: count it once (see `Subscriber::metrics`).
                self.counters.add_delivered(cursor.take_received());
                match core.ring.refill(cursor) {
                    Ok(()) => {}
                    Err(TryRecvError::Empty) => match waiter {
                        Some(w) if !core.ring.register(*id, cursor.next, w()) => {}
                        _ => break Err(TryRecvError::Empty),
                    },
                    Err(TryRecvError::Lagged { missed }) => {
                        self.counters.add_lagged(missed);
                        break Err(TryRecvError::Lagged { missed });
                    }
                    Err(e) => break Err(e),
                }
            },
            Source::Gated { .. } => self.next_gated(waiter),
            Source::Mailbox {
                mailbox,
                local,
                consumed,
                ..
            } => {
                let result = pop_mailbox(mailbox, local, consumed, waiter);
                if result.is_ok() {
                    self.counters.add_delivered(1);
                }
                result
            }
        }
    }

    /// [`next`](Self::next) for a lossless ring reader: every receive is counted in its gate
    /// (exact room for publishers), and a batch is refilled through the gate, which may have
    /// converted the subscriber into a queue subscriber (see `gate.rs`).
    fn next_gated(
        &mut self,
        waiter: Option<&dyn Fn() -> Waiter>,
    ) -> Result<Event<T>, TryRecvError> {
        let Source::Gated {
            core,
            id,
            cursor,
            gate,
        } = &mut self.source
        else {
            return self.next(waiter);
        };
        loop {
            if let Some(event) = cursor.pop() {
                gate.received_one();
                return Ok(event);
            }
            self.counters.add_delivered(cursor.take_received());
            match gate.advance(cursor, |c| core.ring.refill(c)) {
                Ok(Ok(())) => {}
                Ok(Err(TryRecvError::Empty)) => match waiter {
                    Some(w) if !core.ring.register(*id, cursor.next, w()) => {}
                    _ => return Err(TryRecvError::Empty),
                },
                // The gate keeps publishers from overwriting what it has not received, so the
                // ring never reports a lag here.
                Ok(Err(e)) => return Err(e),
                Err(mailbox) => {
                    core.ring.unregister(*id);
                    self.source = Source::Mailbox {
                        mailbox,
                        core: Some(Arc::clone(core)),
                        local: VecDeque::new(),
                        consumed: 0,
                    };
                    return self.next(waiter);
                }
            }
        }
    }

    /// Receives the next event without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is available yet, [`TryRecvError::Lagged`] once per
    /// gap for a lagging subscriber (then receiving continues), [`TryRecvError::Closed`] when
    /// the topic is closed and everything was received.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Event<T>, TryRecvError> {
        self.next(None)
    }

    /// Polls for the next event; the building block of [`recv`](Self::recv) and the `Stream`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event<T>, RecvError>> {
        match self.next(Some(&|| Waiter::Task(cx.waker().clone()))) {
            Ok(event) => Poll::Ready(Ok(event)),
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Lagged { missed }) => Poll::Ready(Err(RecvError::Lagged { missed })),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
        }
    }

    /// Waits for the next event.
    ///
    /// Cancel safe: dropping the future before it completes loses no event.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] once per gap for a lagging subscriber (call `recv` again to
    /// continue), [`RecvError::Closed`] when the topic is closed and everything was received.
    pub async fn recv(&mut self) -> Result<Event<T>, RecvError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Waits for at least one event, then moves up to `max` available events into `buf`
    /// without waiting further. Returns how many it added (0 only when `max` is 0).
    ///
    /// Cancel safe: dropping the future before it completes loses no event.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), when no event was added. A lag met after some events were
    /// added ends the batch and is reported by the next receive.
    pub async fn recv_many(
        &mut self,
        buf: &mut Vec<Event<T>>,
        max: usize,
    ) -> Result<usize, RecvError> {
        if max == 0 {
            return Ok(0);
        }
        buf.push(self.recv().await?);
        let mut added = 1;
        while added < max {
            match self.next(None) {
                Ok(event) => buf.push(event),
                Err(TryRecvError::Lagged { missed }) => {
                    self.pending_lag = Some(missed);
                    break;
                }
                Err(_) => break,
            }
            added += 1;
        }
        Ok(added)
    }

    /// Visits up to `max` available events in place, without waiting and without touching
    /// their reference counts: `visit(seq, &event)` runs while the events' storage is locked,
    /// so keep it short (it briefly holds back publishers of this topic). Returns how many
    /// events were visited; they count as received. The fastest way to drain a subscriber.
    ///
    /// ```
    /// # let topic = tidewater_event_bus::Topic::<u64>::new("t", Default::default()).unwrap();
    /// let mut sub = topic.subscribe();
    /// for i in 0..10 { topic.publish(i); }
    /// let mut sum = 0;
    /// assert_eq!(sub.try_recv_with(usize::MAX, |_seq, v| sum += v), Ok(10));
    /// assert_eq!(sum, 45);
    /// ```
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv), when no event was visited. A lag met after some
    /// events were visited ends the batch and is reported by the next receive.
    pub fn try_recv_with<F>(&mut self, max: usize, mut visit: F) -> Result<usize, TryRecvError>
    where
        F: FnMut(u64, &T),
    {
        let mut visited = 0;
        // Visited events not counted through a ring batch (see `Cursor::batch`).
        let mut uncounted = 0;
        let mut result = Ok(());
        while visited < max {
            if let Some(missed) = self.pending_lag.take() {
                result = Err(TryRecvError::Lagged { missed });
                break;
            }
            let step = match &mut self.source {
                // One at a time through `next`, which counts what it receives.
                Source::Gated { .. } => self.next(None).map(|event| {
                    visit(event.seq, &event);
                    (1, 0)
                }),
                Source::Ring { core, cursor, .. } => {
                    if let Some(event) = cursor.pop() {
                        visit(event.seq, &event);
                        Ok((1, 0))
                    } else {
                        core.ring
                            .read_chunk(
                                &mut cursor.next,
                                cursor.capacity,
                                max - visited,
                                |seq, v| {
                                    visit(seq, v);
                                },
                            )
                            .map(|n| (n, n))
                            .inspect_err(|e| {
                                // Counted here: a queue counts its lags as it displaces
                                // events, and `next` counts a ring refill's.
                                if let TryRecvError::Lagged { missed } = e {
                                    self.counters.add_lagged(*missed);
                                }
                            })
                    }
                }
                Source::Mailbox {
                    mailbox,
                    local,
                    consumed,
                    ..
                } => pop_mailbox(mailbox, local, consumed, None).map(|event| {
                    visit(event.seq, &event);
                    (1, 1)
                }),
            };
            match step {
                Ok((n, count)) => {
                    visited += n;
                    uncounted += count;
                }
                Err(TryRecvError::Lagged { missed }) => {
                    result = Err(TryRecvError::Lagged { missed });
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if visited > 0 {
            self.counters.add_delivered(uncounted as u64);
            if let Err(TryRecvError::Lagged { missed }) = result {
                self.pending_lag = Some(missed);
            }
            return Ok(visited);
        }
        result.map(|()| 0)
    }

    /// Blocks the current thread until the next event. For synchronous code; inside an async
    /// runtime use [`recv`](Self::recv).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn blocking_recv(&mut self) -> Result<Event<T>, RecvError> {
        loop {
            match self.next(Some(&Waiter::current_thread)) {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Empty) => thread::park(),
                Err(TryRecvError::Lagged { missed }) => return Err(RecvError::Lagged { missed }),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
            }
        }
    }

    /// This subscriber's counters.
    #[must_use]
    pub fn metrics(&self) -> SubscriberMetrics {
        let mut metrics = self.counters.snapshot();
        if let Source::Ring { cursor, .. } | Source::Gated { cursor, .. } = &self.source {
            metrics.delivered += cursor.received();
        }
        metrics
    }
}

/// The next event of a mailbox subscriber: from its batch, else from a fresh batch.
fn pop_mailbox<T>(
    mailbox: &Mailbox<T>,
    local: &mut VecDeque<Event<T>>,
    consumed: &mut usize,
    waiter: Option<&dyn Fn() -> Waiter>,
) -> Result<Event<T>, TryRecvError> {
    if local.is_empty() {
        mailbox.take(local, waiter)?;
        *consumed = 0;
    }
    let event = local.pop_front().ok_or(TryRecvError::Empty)?;
    *consumed += 1;
    mailbox.set_consumed(*consumed);
    // Every freed slot wakes a waiting lossless publisher (see `Mailbox::release`).
    mailbox.release();
    Ok(event)
}

impl<T: Send + Sync + 'static> futures_core::Stream for Subscriber<T> {
    /// An event, or a non-terminal report that events were skipped. The stream ends when the
    /// topic is closed and every event was received.
    type Item = Result<Event<T>, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(|result| match result {
            Ok(event) => Some(Ok(event)),
            Err(RecvError::Lagged { missed }) => Some(Err(Lagged { missed })),
            Err(RecvError::Closed) => None,
        })
    }
}

impl<T: Send + Sync + 'static> Drop for Subscriber<T> {
    fn drop(&mut self) {
        match &mut self.source {
            Source::Ring { core, id, cursor } => {
                // Count the batch before the topic keeps this subscriber's totals.
                self.counters.add_delivered(cursor.take_received());
                core.remove_reader(*id, &self.counters);
            }
            Source::Gated {
                core,
                id,
                cursor,
                gate,
            } => {
                self.counters.add_delivered(cursor.take_received());
                core.remove_gated_reader(*id, gate);
            }
            Source::Mailbox { mailbox, core, .. } => {
                mailbox.detach();
                if let Some(core) = core {
                    core.detach(mailbox);
                }
            }
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::Ring { .. } => "ring",
            Source::Gated { .. } => "lossless ring",
            Source::Mailbox { core: Some(_), .. } => "queue",
            Source::Mailbox { core: None, .. } => "wildcard",
        };
        f.debug_struct("Subscriber")
            .field("kind", &kind)
            .field("metrics", &self.metrics())
            .finish()
    }
}
