//! Counters kept per topic and per subscriber, and the snapshots users read.
//!
//! Counters are plain relaxed atomics: metrics are statistics, not synchronization. A
//! subscriber's `delivered` is written only by that subscriber (a load and a store, not a
//! read-modify-write), and a ring subscriber writes it once per prefetched batch (and when it
//! is dropped), not per receive: a per-receive store measurably slowed draining.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Per-subscriber counters (shared by the subscriber, the publishers and the topic).
#[derive(Debug, Default)]
pub(crate) struct SubscriberCounters {
    delivered: AtomicU64,
    lagged: AtomicU64,
    dropped: AtomicU64,
    blocked_nanos: AtomicU64,
}

impl SubscriberCounters {
    /// Counts `n` more received events. Only the subscriber itself calls this, so a load
    /// and a store (no read-modify-write) keep the count exact.
    pub(crate) fn add_delivered(&self, n: u64) {
        let delivered = self.delivered.load(Ordering::Relaxed);
        self.delivered.store(delivered + n, Ordering::Relaxed);
    }
    pub(crate) fn add_lagged(&self, n: u64) {
        self.lagged.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_blocked(&self, d: Duration) {
        self.blocked_nanos.fetch_add(nanos(d), Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> SubscriberMetrics {
        SubscriberMetrics {
            delivered: self.delivered.load(Ordering::Relaxed),
            lagged: self.lagged.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            publisher_blocked: Duration::from_nanos(self.blocked_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// Per-topic counters.
#[derive(Debug, Default)]
pub(crate) struct TopicCounters {
    pub(crate) rejected: AtomicU64,
    pub(crate) blocked_nanos: AtomicU64,
    /// Counts of direct subscribers that are gone.
    retired: AtomicTotals,
}

#[derive(Debug, Default)]
struct AtomicTotals {
    delivered: AtomicU64,
    lagged: AtomicU64,
    dropped: AtomicU64,
}

impl TopicCounters {
    pub(crate) fn add_blocked(&self, d: Duration) {
        self.blocked_nanos.fetch_add(nanos(d), Ordering::Relaxed);
    }

    /// Keeps the counts of a subscriber that goes away.
    pub(crate) fn retire(&self, sub: &SubscriberCounters) {
        let s = sub.snapshot();
        self.retired
            .delivered
            .fetch_add(s.delivered, Ordering::Relaxed);
        self.retired.lagged.fetch_add(s.lagged, Ordering::Relaxed);
        self.retired.dropped.fetch_add(s.dropped, Ordering::Relaxed);
    }

    /// A snapshot including the live direct subscribers `live`.
    pub(crate) fn snapshot<'a>(
        &self,
        live: impl Iterator<Item = &'a SubscriberCounters>,
    ) -> TopicMetrics {
        let mut m = TopicMetrics {
            published: 0,
            reached: 0,
            delivered: self.retired.delivered.load(Ordering::Relaxed),
            lagged: self.retired.lagged.load(Ordering::Relaxed),
            dropped: self.retired.dropped.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            publisher_blocked: Duration::from_nanos(self.blocked_nanos.load(Ordering::Relaxed)),
            subscribers: 0,
        };
        for sub in live {
            let s = sub.snapshot();
            m.delivered += s.delivered;
            m.lagged += s.lagged;
            m.dropped += s.dropped;
            m.subscribers += 1;
        }
        m
    }
}

/// A snapshot of one subscriber's counters ([`Subscriber::metrics`](crate::Subscriber::metrics)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscriberMetrics {
    /// Events this subscriber received.
    pub delivered: u64,
    /// Events this subscriber skipped under `Overflow::Lag` (the sum of its `missed` counts,
    /// including skips not yet reported by a receive).
    pub lagged: u64,
    /// Events not queued for this subscriber because it was full (`DropNewest`, or `Block`
    /// with the non-waiting `publish`).
    pub dropped: u64,
    /// Time lossless publishers spent waiting for this subscriber to make room.
    pub publisher_blocked: Duration,
}

/// A snapshot of one topic's counters ([`Topic::metrics`](crate::Topic::metrics)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TopicMetrics {
    /// Events published (each has a sequence number).
    pub published: u64,
    /// The sum of what every publish returned: subscribers an event was queued for.
    pub reached: u64,
    /// Events received by this topic's direct subscribers (live and gone). A plain `Lag`
    /// subscriber adds its receives once per prefetched batch (at most 16 events) and when
    /// dropped, so this can trail one that is part-way through a batch; it is exact once every
    /// subscriber has drained or gone. [`SubscriberMetrics::delivered`] is always exact.
    pub delivered: u64,
    /// Events skipped by lagging subscribers (sum of the `missed` counts).
    pub lagged: u64,
    /// Events not queued for full `DropNewest`/`Block` subscribers.
    pub dropped: u64,
    /// Publish calls refused because the topic was closed.
    pub rejected: u64,
    /// Time lossless publishers spent waiting for room.
    pub publisher_blocked: Duration,
    /// Live direct subscribers (wildcard subscribers are not counted).
    pub subscribers: usize,
}
