//! Options of topics and subscriptions.

/// The largest topic or subscriber capacity (2^30 events).
pub const MAX_CAPACITY: usize = 1 << 30;

/// The largest topic capacity (2^24 events). A topic's ring of retained events is allocated
/// up front, 16 bytes per slot (256 MiB at this bound), so a larger one is refused rather
/// than risking an allocation that aborts the process. Subscriber queues grow on demand and
/// go up to [`MAX_CAPACITY`].
pub const MAX_TOPIC_CAPACITY: usize = 1 << 24;

/// The default topic capacity: how many recent events a topic retains for replay and for
/// lagging subscribers.
pub const DEFAULT_TOPIC_CAPACITY: usize = 1024;

/// The default subscriber capacity.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 1024;

/// What happens when an event arrives for a subscriber whose queue already holds `capacity`
/// unreceived events. Chosen per subscriber; policies mix freely on one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// Skip the oldest queued events. The subscriber then receives one `Lagged { missed }`
    /// and continues with the oldest event still available. Never holds a publisher back.
    #[default]
    Lag,
    /// Lossless: [`Topic::publish_async`](crate::Topic::publish_async) and
    /// [`Topic::blocking_publish`](crate::Topic::blocking_publish) wait until this subscriber
    /// has room. The non-blocking [`Topic::publish`](crate::Topic::publish) does not wait: it
    /// reports this subscriber as not reached and counts the event in its `dropped` metric.
    Block,
    /// Keep the queued events and drop the new one for this subscriber, counting it in its
    /// `dropped` metric. Never holds a publisher back.
    DropNewest,
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Start {
    /// With the next event published after subscribing.
    #[default]
    Now,
    /// With the last `k` events the topic still retains (at most the topic capacity), then
    /// everything published after subscribing.
    Last(usize),
}

/// Options for [`Topic::subscribe_with`](crate::Topic::subscribe_with).
///
/// ```
/// use tidewater_event_bus::{Overflow, Start, SubscribeOptions};
/// let opts = SubscribeOptions { capacity: 64, overflow: Overflow::Block, start: Start::Last(8) };
/// let same_but_lag = SubscribeOptions { overflow: Overflow::Lag, ..opts };
/// # let _ = same_but_lag;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscribeOptions {
    /// How many unreceived events may wait for this subscriber (1..=[`MAX_CAPACITY`]).
    pub capacity: usize,
    /// What happens when `capacity` events are waiting and another one arrives.
    pub overflow: Overflow,
    /// Where the subscription starts.
    pub start: Start,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_SUBSCRIBER_CAPACITY,
            overflow: Overflow::Lag,
            start: Start::Now,
        }
    }
}

impl SubscribeOptions {
    /// Lossless options (`Overflow::Block`) with the given capacity.
    #[must_use]
    pub fn lossless(capacity: usize) -> Self {
        Self {
            capacity,
            overflow: Overflow::Block,
            start: Start::Now,
        }
    }
}

/// Options for [`EventBus::topic_with`](crate::EventBus::topic_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicOptions {
    /// How many recent events the topic retains (1..=[`MAX_TOPIC_CAPACITY`]): the replay window
    /// for [`Start::Last`] and the largest capacity served by the shared ring. Rounded up to
    /// a power of two internally; subscriber capacities are always honoured exactly.
    pub capacity: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_TOPIC_CAPACITY,
        }
    }
}
