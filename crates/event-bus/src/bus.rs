//! `EventBus`: the registry of named, typed topics and of wildcard subscriptions.

use crate::error::TopicError;
use crate::mailbox::{AnyMailbox, Mailbox};
use crate::metrics::SubscriberCounters;
use crate::options::{MAX_CAPACITY, Start, SubscribeOptions, TopicOptions};
use crate::pattern::{Pattern, check_name};
use crate::subscriber::Subscriber;
use crate::topic::Topic;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use std::any::{Any, TypeId};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A topic seen without its event type.
trait AnyTopic: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn close(&self);
}

impl<T: Send + Sync + 'static> AnyTopic for Topic<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn close(&self) {
        Topic::close(self);
    }
}

struct Entry {
    type_name: &'static str,
    topic: Box<dyn AnyTopic>,
}

struct PatternSub {
    pattern: Pattern,
    type_id: TypeId,
    mailbox: Arc<dyn AnyMailbox>,
    last: usize,
}

#[derive(Default)]
struct Registry {
    topics: DashMap<Arc<str>, Entry>,
    /// Wildcard subscriptions. Lock order: `patterns`, then `topics`, then a topic's state.
    patterns: Mutex<Vec<PatternSub>>,
    closed: AtomicBool,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let patterns = self
            .patterns
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for sub in patterns.drain(..) {
            sub.mailbox.close();
        }
    }
}

/// A registry of named, typed topics.
///
/// `EventBus` is a cheap handle (`Clone`). [`topic`](Self::topic) returns the [`Topic`] for a
/// name, creating it on first use; the handle then publishes without any lookup. A name is
/// bound to one event type: asking for it with another type is a [`TopicError`], never a
/// panic. [`subscribe_pattern`](Self::subscribe_pattern) subscribes to every topic of one type
/// whose name matches a wildcard pattern, including topics created later.
///
/// Topic names are dot-separated segments (`"orders.eu.paid"`); in patterns `*` matches one
/// segment and a final `>` matches one or more.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_event_bus::{EventBus, SubscribeOptions, TopicError};
/// #[derive(Debug)]
/// struct Order { id: u64 }
///
/// let bus = EventBus::new();
/// let mut all_orders = bus.subscribe_pattern::<Order>("orders.*", SubscribeOptions::default()).unwrap();
/// let eu = bus.topic::<Order>("orders.eu").unwrap();
/// eu.publish(Order { id: 7 });
/// let event = all_orders.recv().await.unwrap();
/// assert_eq!((event.id, event.topic()), (7, Some("orders.eu")));
///
/// // The name is taken by `Order` events.
/// assert!(matches!(bus.topic::<String>("orders.eu"), Err(TopicError::TypeMismatch { .. })));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct EventBus {
    inner: Arc<Registry>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("topics", &self.inner.topics.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// An empty bus.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic `name` carrying `T` events, created with default options on first use.
    ///
    /// # Errors
    /// [`TopicError::TypeMismatch`] if `name` carries another type, [`TopicError::InvalidName`]
    /// for a malformed name, [`TopicError::BusClosed`] to create a topic on a closed bus.
    pub fn topic<T: Send + Sync + 'static>(&self, name: &str) -> Result<Topic<T>, TopicError> {
        self.topic_with(name, TopicOptions::default())
    }

    /// As [`topic`](Self::topic); `options` apply only if this call creates the topic.
    ///
    /// # Errors
    /// As [`topic`](Self::topic), and [`TopicError::InvalidCapacity`] for a bad capacity.
    pub fn topic_with<T: Send + Sync + 'static>(
        &self,
        name: &str,
        options: TopicOptions,
    ) -> Result<Topic<T>, TopicError> {
        if let Some(entry) = self.inner.topics.get(name) {
            return downcast(name, &entry);
        }
        check_name(name)?;
        let mut patterns = self.open_patterns()?;
        match self.inner.topics.entry(Arc::from(name)) {
            MapEntry::Occupied(entry) => downcast(name, entry.get()),
            MapEntry::Vacant(slot) => {
                let topic = Topic::<T>::new(name, options)?;
                patterns.retain(|sub| sub.mailbox.is_alive());
                let tag = Arc::new(name.to_owned());
                for sub in patterns.iter() {
                    if sub.type_id == TypeId::of::<T>()
                        && sub.pattern.matches(name)
                        && let Ok(mailbox) =
                            Arc::clone(&sub.mailbox).as_any().downcast::<Mailbox<T>>()
                    {
                        topic
                            .core()
                            .attach(mailbox, Some(Arc::clone(&tag)), sub.last);
                    }
                }
                let handle = topic.clone();
                slot.insert(Entry {
                    type_name: std::any::type_name::<T>(),
                    topic: Box::new(topic),
                });
                Ok(handle)
            }
        }
    }

    /// Subscribes to every topic of type `T` whose name matches `pattern` (`"orders.*"`,
    /// `"metrics.>"`), now and as they are created. Events carry their topic name
    /// ([`Event::topic`](crate::Event::topic)). Topics of other types are ignored.
    ///
    /// The subscriber's capacity and policy cover all matched topics together; `start`
    /// replays from each topic's retained events. It ends (`Closed`) when the bus closes or
    /// every bus handle is dropped; a single topic closing only detaches it.
    ///
    /// # Errors
    /// [`TopicError::InvalidPattern`] for a malformed pattern, [`TopicError::InvalidCapacity`]
    /// for a subscriber capacity of 0 or above [`MAX_CAPACITY`], [`TopicError::BusClosed`].
    pub fn subscribe_pattern<T: Send + Sync + 'static>(
        &self,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<Subscriber<T>, TopicError> {
        let parsed = Pattern::parse(pattern)?;
        if options.capacity == 0 || options.capacity > MAX_CAPACITY {
            return Err(TopicError::InvalidCapacity {
                capacity: options.capacity,
            });
        }
        let last = match options.start {
            Start::Now => 0,
            Start::Last(k) => k.min(options.capacity),
        };
        let counters = Arc::new(SubscriberCounters::default());
        let mailbox = Arc::new(Mailbox::<T>::new(
            options.capacity,
            options.overflow,
            None,
            counters,
        ));
        let mut patterns = self.open_patterns()?;
        for entry in &self.inner.topics {
            if parsed.matches(entry.key())
                && let Some(topic) = entry.value().topic.as_any().downcast_ref::<Topic<T>>()
            {
                let tag = Arc::new(entry.key().to_string());
                topic.core().attach(Arc::clone(&mailbox), Some(tag), last);
            }
        }
        patterns.retain(|sub| sub.mailbox.is_alive());
        patterns.push(PatternSub {
            pattern: parsed,
            type_id: TypeId::of::<T>(),
            mailbox: Arc::clone(&mailbox) as Arc<dyn AnyMailbox>,
            last,
        });
        Ok(Subscriber::from_mailbox(mailbox, None))
    }

    /// Locks the wildcard list (the registry's creation lock), unless the bus is closed.
    fn open_patterns(&self) -> Result<MutexGuard<'_, Vec<PatternSub>>, TopicError> {
        let patterns = self
            .inner
            .patterns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.is_closed() {
            return Err(TopicError::BusClosed);
        }
        Ok(patterns)
    }

    /// The names of the registered topics (in no particular order).
    #[must_use]
    pub fn topic_names(&self) -> Vec<String> {
        self.inner
            .topics
            .iter()
            .map(|e| e.key().to_string())
            .collect()
    }

    /// Closes the bus and every topic in it: no topic can be created any more, subscribers
    /// (wildcard ones included) drain what they hold and then see `Closed`. Idempotent.
    pub fn close(&self) {
        let mut patterns = self
            .inner
            .patterns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.closed.store(true, Ordering::Release);
        for entry in &self.inner.topics {
            entry.value().topic.close();
        }
        for sub in patterns.drain(..) {
            sub.mailbox.close();
        }
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

fn downcast<T: Send + Sync + 'static>(name: &str, entry: &Entry) -> Result<Topic<T>, TopicError> {
    match entry.topic.as_any().downcast_ref::<Topic<T>>() {
        Some(topic) => Ok(topic.clone()),
        None => Err(TopicError::TypeMismatch {
            name: name.to_owned(),
            existing: entry.type_name,
            requested: std::any::type_name::<T>(),
        }),
    }
}
