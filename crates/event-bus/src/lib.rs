//! Typed in-process pub/sub with per-subscriber overflow policies.
//!
//! An [`EventBus`] is a registry of named topics, each bound to one event type. A [`Topic<T>`]
//! handle publishes without lookups; each [`Subscriber<T>`] picks its own [`Overflow`] policy,
//! so on one topic a dashboard can `Lag`, an audit log can `Block` (lossless), and a metrics
//! sampler can `DropNewest`, and only the `Block` subscriber ever holds a publisher back.
//!
//! - Events are stored once as `Arc<T>` and numbered; subscribers get [`Event<T>`].
//! - Lag is reported as one non-terminal `Lagged { missed }` per gap, never a dead stream.
//! - Receive with `recv().await`, `try_recv()`, `blocking_recv()`, `recv_many()`, or as a
//!   [`futures_core::Stream`] that surfaces lag as an item.
//! - Publisher-side filters, wildcard subscriptions (`"orders.*"`), replay of the last `k`
//!   events, and metrics per topic and per subscriber.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use tidewater_event_bus::{EventBus, Overflow, RecvError, Start, SubscribeOptions};
//!
//! let bus = EventBus::new();
//! let ticks = bus.topic::<u64>("ticks").unwrap();
//! ticks.publish(1); // no subscribers yet: returns 0, the topic still retains it
//!
//! let mut lossless = ticks
//!     .subscribe_with(SubscribeOptions { capacity: 8, overflow: Overflow::Block, start: Start::Last(1) })
//!     .unwrap();
//! let mut lagging = ticks
//!     .subscribe_with(SubscribeOptions { capacity: 2, overflow: Overflow::Lag, start: Start::Now })
//!     .unwrap();
//!
//! for i in 2..=3 {
//!     ticks.publish_async(i).await.unwrap(); // waits only for `lossless`
//! }
//! ticks.publish(4);
//! assert_eq!(*lossless.recv().await.unwrap(), 1); // replayed, then 2, 3, 4
//! // `lagging` holds at most 2 events: 2 was skipped, and it is told so, once.
//! assert_eq!(lagging.recv().await.unwrap_err(), RecvError::Lagged { missed: 1 });
//! assert_eq!(*lagging.recv().await.unwrap(), 3);
//! assert_eq!(ticks.metrics().published, 4);
//! # }
//! ```
//!
//! See `docs/event-bus.md` in the repository for choosing a policy and a comparison with
//! `tokio::sync::broadcast` and `async-broadcast`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bus;
mod core;
mod error;
mod event;
mod gate;
mod mailbox;
mod metrics;
mod options;
mod pattern;
mod ring;
mod subscriber;
mod sync;
mod topic;
mod waiter;

pub use bus::EventBus;
pub use error::{Lagged, PublishError, RecvError, SubscribeError, TopicError, TryRecvError};
pub use event::Event;
pub use metrics::{SubscriberMetrics, TopicMetrics};
pub use options::{
    DEFAULT_SUBSCRIBER_CAPACITY, DEFAULT_TOPIC_CAPACITY, MAX_CAPACITY, MAX_TOPIC_CAPACITY,
    Overflow, Start, SubscribeOptions, TopicOptions,
};
pub use subscriber::Subscriber;
pub use topic::{Publish, Topic};
