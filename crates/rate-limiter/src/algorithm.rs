//! [`Algorithm`]: how a [`RateLimiter`](crate::RateLimiter) counts.

/// The counting algorithm of a [`RateLimiter`](crate::RateLimiter).
///
/// | | smooth | boundary burst | state | waits |
/// |---|---|---|---|---|
/// | [`Gcra`](Self::Gcra) | yes: one request per interval after the burst | none | 8 bytes | FIFO, exact |
/// | [`SlidingWindow`](Self::SlidingWindow) | mostly | none beyond the estimate | 8 bytes | FIFO |
/// | [`FixedWindow`](Self::FixedWindow) | no: all of a window at its start | up to 2x at a window edge | 8 bytes | FIFO |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// Generic Cell Rate Algorithm (a continuous token bucket), through
    /// `tidewater-token-bucket`: bursts of up to `burst`, then one request per replenish
    /// interval. The right default: precise, smooth, and its waits are exact.
    #[default]
    Gcra,
    /// At most `burst` requests per aligned window (`burst` replenish intervals long).
    /// Simple and what many APIs document, but a client can use a whole window at its end
    /// and another at the start of the next: up to twice the limit across a boundary.
    FixedWindow,
    /// The weighted two-window counter: the previous window's count weighted by how much
    /// of it still overlaps a sliding window ending now, plus the current window's count.
    /// Smooths the fixed window's boundary burst without keeping a log of requests.
    SlidingWindow,
}
