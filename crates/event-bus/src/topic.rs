//! `Topic<T>`: the publishing handle and the place subscriptions come from.

use crate::core::{Core, Lossless, Payload};
use crate::error::{PublishError, SubscribeError, TopicError};
use crate::mailbox::{Filter, Mailbox};
use crate::metrics::{SubscriberCounters, TopicMetrics};
use crate::options::{MAX_CAPACITY, Overflow, Start, SubscribeOptions, TopicOptions};
use crate::subscriber::Subscriber;
use crate::sync::{Ordering, thread};
use crate::waiter::Waiter;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A typed topic: publish events of type `T` and subscribe to them.
///
/// A `Topic` is a cheap handle (`Clone`); every clone publishes to the same subscribers
/// without looking anything up. Get one from [`EventBus::topic`](crate::EventBus::topic), or
/// create a stand-alone topic with [`Topic::new`]. The topic closes when [`close`](Self::close)
/// is called, when its bus is closed, or when the last handle (including the bus's) is dropped.
///
/// # Guarantees
/// - Every event gets the next sequence number (0, 1, 2, ...) and every subscriber sees the
///   events it receives in that order.
/// - The payload is stored once (`Arc<T>`), however many subscribers receive it.
/// - [`publish`](Self::publish) never waits. Only `Overflow::Block` subscribers ever hold back
///   [`publish_async`](Self::publish_async) / [`blocking_publish`](Self::blocking_publish);
///   `Lag` and `DropNewest` subscribers never do.
/// - Memory: the topic retains its last `capacity` events (the replay window); each subscriber
///   holds at most its own `capacity` unreceived events.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_event_bus::{EventBus, Overflow, SubscribeOptions};
/// let bus = EventBus::new();
/// let prices = bus.topic::<f64>("prices").unwrap();
/// let mut audit = prices.subscribe_with(SubscribeOptions::lossless(16)).unwrap();
/// let mut dashboard = prices.subscribe(); // Overflow::Lag
/// assert_eq!(prices.publish_async(101.5).await.unwrap(), 2);
/// assert_eq!(*audit.recv().await.unwrap(), 101.5);
/// assert_eq!(*dashboard.recv().await.unwrap(), 101.5);
/// # }
/// ```
pub struct Topic<T: Send + Sync + 'static> {
    core: Arc<Core<T>>,
}

impl<T: Send + Sync + 'static> Clone for Topic<T> {
    fn clone(&self) -> Self {
        self.core.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Topic<T> {
    fn drop(&mut self) {
        if self.core.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.core.close();
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name())
            .field("type", &std::any::type_name::<T>())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

fn check_capacity(capacity: usize) -> Result<(), SubscribeError> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(SubscribeError::InvalidCapacity { capacity });
    }
    Ok(())
}

impl<T: Send + Sync + 'static> Topic<T> {
    /// A stand-alone topic, not registered in any bus (any name is accepted).
    ///
    /// # Errors
    /// [`TopicError::InvalidCapacity`] for a capacity of 0 or above
    /// [`MAX_TOPIC_CAPACITY`](crate::MAX_TOPIC_CAPACITY) (the retained ring is allocated up
    /// front).
    pub fn new(name: &str, options: TopicOptions) -> Result<Self, TopicError> {
        if options.capacity == 0 || options.capacity > crate::MAX_TOPIC_CAPACITY {
            return Err(TopicError::InvalidCapacity {
                capacity: options.capacity,
            });
        }
        Ok(Self {
            core: Arc::new(Core::new(Arc::from(name), options.capacity)),
        })
    }

    pub(crate) fn core(&self) -> &Arc<Core<T>> {
        &self.core
    }

    /// The topic name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Publishes `event` without waiting and returns how many subscribers it reached.
    ///
    /// 0 subscribers is not an error. A full `Overflow::Block` subscriber is not reached: the
    /// event is counted in its `dropped` metric (use [`publish_async`](Self::publish_async) to
    /// wait instead). On a closed topic, returns 0 and counts the event in `rejected`.
    #[inline]
    pub fn publish(&self, event: T) -> usize {
        self.core.publish(Payload::Owned(event))
    }

    /// Publishes an already shared event (no new allocation); otherwise as [`publish`](Self::publish).
    pub fn publish_arc(&self, event: Arc<T>) -> usize {
        self.core.publish(Payload::Shared(event))
    }

    /// Publishes `event` once every `Overflow::Block` subscriber it is for has room, and
    /// returns how many subscribers it reached. Other policies never make it wait.
    ///
    /// Cancel safe: the event is published entirely or not at all; dropping the future before
    /// it completes drops the event unpublished.
    ///
    /// # Errors
    /// [`PublishError`] (holding the event) if the topic is or becomes closed first.
    pub fn publish_async(&self, event: T) -> Publish<'_, T> {
        Publish {
            topic: self,
            payload: Some(event),
            waiting: None,
        }
    }

    /// As [`publish_async`](Self::publish_async), blocking the current thread while it waits.
    ///
    /// # Errors
    /// [`PublishError`] (holding the event) if the topic is or becomes closed first.
    pub fn blocking_publish(&self, event: T) -> Result<usize, PublishError<T>> {
        let mut payload = event;
        let mut waiting = None;
        loop {
            match self
                .core
                .try_publish_lossless(payload, &Waiter::current_thread)
            {
                Lossless::Published(n) => {
                    self.record_blocked(waiting.take());
                    return Ok(n);
                }
                Lossless::Blocked(p, blocker) => {
                    payload = p;
                    waiting.get_or_insert_with(|| Blocked::start(blocker));
                    thread::park();
                }
                Lossless::Closed(p) => {
                    self.record_blocked(waiting.take());
                    return Err(PublishError(p));
                }
            }
        }
    }

    fn record_blocked(&self, waiting: Option<Blocked>) {
        if let Some(elapsed) = waiting.and_then(Blocked::finish) {
            self.core.counters.add_blocked(elapsed.1);
            elapsed.0.add_blocked(elapsed.1);
        }
    }

    /// A subscriber with `Overflow::Lag`, the topic's capacity, starting now: the cheapest
    /// kind, reading the topic's shared ring directly.
    #[must_use]
    pub fn subscribe(&self) -> Subscriber<T> {
        Subscriber::from_ring(Arc::clone(&self.core), self.core.capacity, 0)
    }

    /// A subscriber with the given capacity, overflow policy and start position.
    ///
    /// # Errors
    /// [`SubscribeError::InvalidCapacity`] for a capacity of 0 or above [`MAX_CAPACITY`].
    pub fn subscribe_with(
        &self,
        options: SubscribeOptions,
    ) -> Result<Subscriber<T>, SubscribeError> {
        self.subscribe_inner(options, None)
    }

    /// A `Lag` subscriber that only receives events for which `keep` returns `true`.
    ///
    /// `keep` runs on the publishing thread before the event is queued, so rejected events
    /// cost the subscriber nothing (no wake-up, no queue slot). Keep it cheap and
    /// non-blocking. It runs once per publish (a lossless publish that waits for room runs
    /// it again when it retries), and that one answer decides both whether a lossless
    /// publish waits for this subscriber and whether the event is queued, so it need not be
    /// deterministic (a sampling filter is fine). It also runs on each replayed event when
    /// subscribing with [`Start::Last`].
    ///
    /// If `keep` panics, the event is not for this subscriber: the publish goes on for every
    /// other subscriber, leaves no queue room taken, and then the panic resumes on the
    /// publishing thread (a lossless publish that would have to wait for room publishes
    /// nothing and panics at once). A panic during the replay resumes from the subscribe
    /// call.
    #[must_use]
    pub fn subscribe_filtered<F>(&self, keep: F) -> Subscriber<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let mailbox = self.mailbox(SubscribeOptions::default(), Some(Box::new(keep)));
        self.attach(mailbox, 0)
    }

    /// As [`subscribe_filtered`](Self::subscribe_filtered), with options.
    ///
    /// # Errors
    /// [`SubscribeError::InvalidCapacity`] for a capacity of 0 or above [`MAX_CAPACITY`].
    pub fn subscribe_filtered_with<F>(
        &self,
        options: SubscribeOptions,
        keep: F,
    ) -> Result<Subscriber<T>, SubscribeError>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.subscribe_inner(options, Some(Box::new(keep)))
    }

    fn subscribe_inner(
        &self,
        options: SubscribeOptions,
        filter: Option<Filter<T>>,
    ) -> Result<Subscriber<T>, SubscribeError> {
        check_capacity(options.capacity)?;
        let last = match options.start {
            Start::Now => 0,
            Start::Last(k) => k.min(options.capacity),
        };
        // Unfiltered `Lag` and `Block` subscribers within the retained window read the shared
        // ring (a `Block` one gating lossless publishers).
        if filter.is_none() && options.capacity as u64 <= self.core.ring.slots() {
            match options.overflow {
                Overflow::Lag => {
                    return Ok(Subscriber::from_ring(
                        Arc::clone(&self.core),
                        options.capacity,
                        last,
                    ));
                }
                Overflow::Block => {
                    return Ok(Subscriber::gated(
                        Arc::clone(&self.core),
                        options.capacity,
                        last,
                    ));
                }
                Overflow::DropNewest => {}
            }
        }
        Ok(self.attach(self.mailbox(options, filter), last))
    }

    fn mailbox(&self, options: SubscribeOptions, filter: Option<Filter<T>>) -> Arc<Mailbox<T>> {
        let counters = Arc::new(SubscriberCounters::default());
        Arc::new(Mailbox::new(
            options.capacity,
            options.overflow,
            filter,
            counters,
        ))
    }

    fn attach(&self, mailbox: Arc<Mailbox<T>>, last: usize) -> Subscriber<T> {
        self.core.attach(Arc::clone(&mailbox), None, last);
        Subscriber::from_mailbox(mailbox, Some(Arc::clone(&self.core)))
    }

    /// Closes the topic: publishing stops (publish returns 0, lossless publishers get their
    /// event back), subscribers receive what they hold, then `Closed`. Parked receivers and
    /// publishers are woken. Idempotent.
    pub fn close(&self) {
        self.core.close();
    }

    /// Whether the topic is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Live direct subscribers (wildcard subscribers are not counted).
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.core.subscriber_count()
    }

    /// A snapshot of this topic's counters.
    #[must_use]
    pub fn metrics(&self) -> TopicMetrics {
        self.core.metrics()
    }
}

/// Time a lossless publisher spent waiting, and for whom.
struct Blocked {
    blocker: Arc<SubscriberCounters>,
    #[cfg(not(tidewater_loom))]
    since: std::time::Instant,
}

impl Blocked {
    fn start(blocker: Arc<SubscriberCounters>) -> Self {
        Self {
            blocker,
            #[cfg(not(tidewater_loom))]
            since: std::time::Instant::now(),
        }
    }

    #[allow(clippy::unnecessary_wraps)]
    fn finish(self) -> Option<(Arc<SubscriberCounters>, std::time::Duration)> {
        #[cfg(not(tidewater_loom))]
        return Some((self.blocker, self.since.elapsed()));
        #[cfg(tidewater_loom)]
        return Some((self.blocker, std::time::Duration::ZERO));
    }
}

/// The future of [`Topic::publish_async`]: resolves to the number of subscribers reached.
#[must_use = "futures do nothing unless awaited"]
pub struct Publish<'a, T: Send + Sync + 'static> {
    topic: &'a Topic<T>,
    payload: Option<T>,
    waiting: Option<Blocked>,
}

impl<T: Send + Sync + 'static> fmt::Debug for Publish<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("topic", &self.topic.name())
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

// The future never pins `T`: it only moves the event in and out of an `Option`.
impl<T: Send + Sync + 'static> Unpin for Publish<'_, T> {}

impl<T: Send + Sync + 'static> Future for Publish<'_, T> {
    type Output = Result<usize, PublishError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(payload) = this.payload.take() else {
            return Poll::Pending;
        };
        let waker = || Waiter::Task(cx.waker().clone());
        match this.topic.core.try_publish_lossless(payload, &waker) {
            Lossless::Published(n) => {
                this.topic.record_blocked(this.waiting.take());
                Poll::Ready(Ok(n))
            }
            Lossless::Blocked(payload, blocker) => {
                this.payload = Some(payload);
                this.waiting.get_or_insert_with(|| Blocked::start(blocker));
                Poll::Pending
            }
            Lossless::Closed(payload) => {
                this.topic.record_blocked(this.waiting.take());
                Poll::Ready(Err(PublishError(payload)))
            }
        }
    }
}
