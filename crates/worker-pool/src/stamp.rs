//! Time-stamps for the queue-wait metric and the idle search: two per job, so they must be
//! cheap. With the `quanta` feature (default) a stamp is a raw reading of the CPU's time-stamp
//! counter, converted to nanoseconds only when metrics are read; without it, nanoseconds since
//! the pool started, from `std::time::Instant`.

use std::time::Duration;

/// A pool's clock. Stamps from one clock compare with each other, not with another's.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    #[cfg(feature = "quanta")]
    clock: quanta::Clock,
    #[cfg(not(feature = "quanta"))]
    origin: std::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(feature = "quanta")]
            clock: quanta::Clock::new(),
            #[cfg(not(feature = "quanta"))]
            origin: std::time::Instant::now(),
        }
    }

    /// Now, in ticks.
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        #[cfg(feature = "quanta")]
        return self.clock.raw();
        #[cfg(not(feature = "quanta"))]
        return u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
    }

    /// Ticks from `earlier` to `later`; zero if the counter appears to go backwards (two
    /// cores' counters may disagree slightly).
    #[inline]
    pub(crate) fn between(earlier: u64, later: u64) -> u64 {
        later.saturating_sub(earlier)
    }

    /// A number of ticks as nanoseconds.
    pub(crate) fn nanos(&self, ticks: u64) -> u64 {
        #[cfg(feature = "quanta")]
        return self.clock.delta_as_nanos(0, ticks);
        #[cfg(not(feature = "quanta"))]
        return ticks;
    }

    /// A duration as a number of ticks (at least one).
    pub(crate) fn ticks(&self, duration: Duration) -> u64 {
        // Scale through a large span so the ratio keeps its precision.
        const SPAN: u64 = 1 << 32;
        let span_nanos = u128::from(self.nanos(SPAN).max(1));
        let ticks = duration.as_nanos() * u128::from(SPAN) / span_nanos;
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}
