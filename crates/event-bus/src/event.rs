//! The event handed to subscribers: a sequence number and a shared payload.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// One published event as a subscriber receives it.
///
/// The payload is stored once, in an [`Arc`], and shared by every subscriber: publishing to
/// 64 subscribers never clones `T`. `Event` dereferences to `T`.
///
/// `seq` numbers the events of one topic from 0 in publish order; a subscriber sees them in
/// increasing order (gaps mean filtered, lagged or dropped events). Wildcard subscribers
/// receive events of several topics; their sequence numbers increase per topic, and
/// [`Event::topic`] names the topic.
pub struct Event<T> {
    pub(crate) seq: u64,
    pub(crate) value: Arc<T>,
    pub(crate) topic: Option<Arc<String>>,
}

impl<T> Event<T> {
    /// The topic-wide sequence number of this event (0 for the first event published).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The shared payload.
    #[must_use]
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }

    /// Takes the shared payload out of the event.
    #[must_use]
    pub fn into_arc(self) -> Arc<T> {
        self.value
    }

    /// The topic name, for events received through a wildcard subscription
    /// ([`EventBus::subscribe_pattern`](crate::EventBus::subscribe_pattern)); `None` otherwise.
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref().map(String::as_str)
    }
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        Self {
            seq: self.seq,
            value: Arc::clone(&self.value),
            topic: self.topic.clone(),
        }
    }
}

impl<T> Deref for Event<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("seq", &self.seq).field("value", &*self.value);
        if let Some(topic) = &self.topic {
            d.field("topic", topic);
        }
        d.finish()
    }
}
