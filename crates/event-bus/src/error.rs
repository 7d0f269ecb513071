//! Typed errors: every failure a caller can cause or observe has a variant here.

use std::fmt;

/// Returned by [`EventBus::topic`](crate::EventBus::topic) and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicError {
    /// The name is already registered with a different event type.
    TypeMismatch {
        /// The topic name.
        name: String,
        /// The type the topic was created with.
        existing: &'static str,
        /// The type that was asked for.
        requested: &'static str,
    },
    /// The topic name is empty, has an empty segment (`"a..b"`), or contains a wildcard.
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A wildcard pattern is malformed (empty segment, or `>` not in last position).
    InvalidPattern {
        /// The rejected pattern.
        pattern: String,
    },
    /// A topic capacity is zero or above [`MAX_TOPIC_CAPACITY`](crate::MAX_TOPIC_CAPACITY),
    /// or a wildcard subscriber's capacity is zero or above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    InvalidCapacity {
        /// The rejected capacity.
        capacity: usize,
    },
    /// The bus was closed with [`EventBus::close`](crate::EventBus::close).
    BusClosed,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TypeMismatch {
                name,
                existing,
                requested,
            } => write!(
                f,
                "topic `{name}` carries `{existing}` events, not `{requested}`; \
                 use another topic name or the existing type"
            ),
            Self::InvalidName { name } => write!(
                f,
                "invalid topic name `{name}`: use non-empty dot-separated segments without `*` or `>`"
            ),
            Self::InvalidPattern { pattern } => write!(
                f,
                "invalid topic pattern `{pattern}`: use non-empty dot-separated segments, \
                 `*` for one segment and `>` (last only) for the rest"
            ),
            Self::InvalidCapacity { capacity } => write!(
                f,
                "invalid capacity {capacity}: use 1..={} for a topic (its ring is allocated up \
                 front) or 1..={} for a wildcard subscriber",
                crate::MAX_TOPIC_CAPACITY,
                crate::MAX_CAPACITY
            ),
            Self::BusClosed => f.write_str("the event bus is closed; no new topics can be created"),
        }
    }
}

impl std::error::Error for TopicError {}

/// Returned by [`Topic::subscribe_with`](crate::Topic::subscribe_with) for options that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The subscriber capacity is zero or above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    InvalidCapacity {
        /// The rejected capacity.
        capacity: usize,
    },
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCapacity { capacity } => write!(
                f,
                "invalid subscriber capacity {capacity}: use 1..={}",
                crate::MAX_CAPACITY
            ),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// A subscriber fell behind and `missed` events were skipped for it (`Overflow::Lag`).
///
/// Not terminal: the next receive continues with the oldest event still available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lagged {
    /// How many events this subscriber will never see.
    pub missed: u64,
}

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subscriber lagged and skipped {} events; receiving continues",
            self.missed
        )
    }
}

impl std::error::Error for Lagged {}

/// Returned by [`Subscriber::recv`](crate::Subscriber::recv) and
/// [`Subscriber::blocking_recv`](crate::Subscriber::blocking_recv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// The subscriber skipped `missed` events; call `recv` again to continue (not terminal).
    Lagged {
        /// How many events were skipped.
        missed: u64,
    },
    /// The topic is closed and every event queued for this subscriber has been received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lagged { missed } => Lagged { missed: *missed }.fmt(f),
            Self::Closed => f.write_str("topic closed and all its events were received"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Returned by [`Subscriber::try_recv`](crate::Subscriber::try_recv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No event is available right now.
    Empty,
    /// The subscriber skipped `missed` events; receiving continues (not terminal).
    Lagged {
        /// How many events were skipped.
        missed: u64,
    },
    /// The topic is closed and every event queued for this subscriber has been received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no event available yet"),
            Self::Lagged { missed } => Lagged { missed: *missed }.fmt(f),
            Self::Closed => f.write_str("topic closed and all its events were received"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// Returned by the publish methods once the topic is closed; hands the event back.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishError<T>(pub T);

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublishError(..)")
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("topic closed; the event was not published and is returned")
    }
}

impl<T> std::error::Error for PublishError<T> {}
