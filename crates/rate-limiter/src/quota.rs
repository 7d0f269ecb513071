//! [`Quota`]: how many requests, per how long, with how much burst.

use std::fmt;
use std::time::Duration;

use tidewater_token_bucket::{ConfigError, Gcra};

/// The most requests a window algorithm counts per window (20 bits of its packed state).
pub const MAX_WINDOW_LIMIT: u32 = (1 << 20) - 1;
/// The longest window a window algorithm supports, in microseconds (42 bits, about 50 days).
pub(crate) const MAX_WINDOW_MICROS: u64 = (1 << 42) - 1;

/// A rate: `tokens` requests per `period`, with bursts of up to `burst` at once.
///
/// Built with [`per_second`](Self::per_second), [`per_minute`](Self::per_minute),
/// [`per_hour`](Self::per_hour) or [`with_period`](Self::with_period), then optionally
/// [`allow_burst`](Self::allow_burst). Every constructor validates its input and returns a
/// [`QuotaError`] instead of panicking.
///
/// For the window algorithms the same quota reads as "at most `burst` requests per window
/// of `burst` replenish intervals": `per_second(100)` is 100 per one-second window.
///
/// ```
/// use std::time::Duration;
/// use tidewater_rate_limiter::Quota;
///
/// let api = Quota::per_second(50)?.allow_burst(100)?; // 50/s sustained, bursts of 100
/// assert_eq!(api.burst(), 100);
/// let slow = Quota::with_period(Duration::from_millis(250))?; // one every 250 ms
/// assert_eq!(slow.replenish_interval(), Duration::from_millis(250));
/// assert!(Quota::per_second(0).is_err());
/// # Ok::<(), tidewater_rate_limiter::QuotaError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    tokens: u32,
    period: Duration,
    burst: u32,
}

impl Quota {
    /// `n` requests per second, bursts of `n`.
    ///
    /// # Errors
    /// [`QuotaError::Zero`] for `n == 0`; [`QuotaError::TooFast`] above 10^9 per second.
    pub fn per_second(n: u32) -> Result<Self, QuotaError> {
        Self::new(n, Duration::from_secs(1), n)
    }

    /// `n` requests per minute, bursts of `n`.
    ///
    /// # Errors
    /// [`QuotaError::Zero`] for `n == 0`, or another [`QuotaError`] out of range.
    pub fn per_minute(n: u32) -> Result<Self, QuotaError> {
        Self::new(n, Duration::from_secs(60), n)
    }

    /// `n` requests per hour, bursts of `n`.
    ///
    /// # Errors
    /// [`QuotaError::Zero`] for `n == 0`, or another [`QuotaError`] out of range.
    pub fn per_hour(n: u32) -> Result<Self, QuotaError> {
        Self::new(n, Duration::from_secs(3600), n)
    }

    /// One request every `period`, bursts of one.
    ///
    /// # Errors
    /// [`QuotaError::ZeroPeriod`], [`QuotaError::TooFast`] below one nanosecond, or
    /// [`QuotaError::TooSlow`] for periods of years.
    pub fn with_period(period: Duration) -> Result<Self, QuotaError> {
        Self::new(1, period, 1)
    }

    /// The same rate with bursts of up to `burst` requests at once.
    ///
    /// # Errors
    /// [`QuotaError::Zero`] for `burst == 0`, [`QuotaError::TooSlow`] when refilling the
    /// whole burst would take years.
    pub fn allow_burst(self, burst: u32) -> Result<Self, QuotaError> {
        Self::new(self.tokens, self.period, burst)
    }

    fn new(tokens: u32, period: Duration, burst: u32) -> Result<Self, QuotaError> {
        let quota = Self {
            tokens,
            period,
            burst,
        };
        quota.gcra()?;
        Ok(quota)
    }

    /// The most requests allowed at once.
    #[must_use]
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Requests replenished per [`period`](Self::period).
    #[must_use]
    pub const fn tokens(&self) -> u32 {
        self.tokens
    }

    /// The period over which [`tokens`](Self::tokens) requests are replenished.
    #[must_use]
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// Time to replenish one request.
    #[must_use]
    pub fn replenish_interval(&self) -> Duration {
        self.gcra().map_or(Duration::ZERO, |g| g.interval())
    }

    /// The window the window algorithms use: the time to replenish the whole burst,
    /// rounded to the microsecond.
    #[must_use]
    pub fn window(&self) -> Duration {
        Duration::from_micros(self.window_micros())
    }

    pub(crate) fn gcra(&self) -> Result<Gcra, QuotaError> {
        Gcra::new(self.burst, self.tokens, self.period).map_err(QuotaError::from)
    }

    fn window_micros(&self) -> u64 {
        let nanos =
            self.period.as_nanos() * u128::from(self.burst) / u128::from(self.tokens.max(1));
        u64::try_from((nanos + 500) / 1000).unwrap_or(u64::MAX)
    }

    /// `(limit, window in µs)` for the window algorithms, validated.
    pub(crate) fn window_params(&self) -> Result<(u32, u64), QuotaError> {
        if self.burst > MAX_WINDOW_LIMIT {
            return Err(QuotaError::BurstTooLargeForWindow { burst: self.burst });
        }
        match self.window_micros() {
            0 => Err(QuotaError::WindowTooShort),
            w if w > MAX_WINDOW_MICROS => Err(QuotaError::TooSlow),
            w => Ok((self.burst, w)),
        }
    }
}

/// A [`Quota`] could not be built: which parameter is out of range, and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaError {
    /// A count (requests per period, or burst) of zero.
    Zero,
    /// A period of zero.
    ZeroPeriod,
    /// More than one request per nanosecond.
    TooFast,
    /// Replenishing the burst would take longer than supported (years, or about 50 days
    /// for the window algorithms).
    TooSlow,
    /// The window algorithms count at most [`MAX_WINDOW_LIMIT`] requests per window.
    BurstTooLargeForWindow {
        /// The burst asked for.
        burst: u32,
    },
    /// The window algorithms need a window of at least one microsecond.
    WindowTooShort,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => f.write_str("quota of zero requests: allow at least 1 request (and a burst of at least 1)"),
            Self::ZeroPeriod => f.write_str("quota period is zero: use a positive Duration"),
            Self::TooFast => f.write_str("quota is faster than 1 request per nanosecond: use a longer period"),
            Self::TooSlow => {
                f.write_str("quota replenishes too slowly (years to refill the burst): use a shorter period or a smaller burst")
            }
            Self::BurstTooLargeForWindow { burst } => write!(
                f,
                "burst {burst} is above the window algorithms' limit of {MAX_WINDOW_LIMIT} per window: use Algorithm::Gcra or a smaller burst"
            ),
            Self::WindowTooShort => f.write_str("window shorter than 1 microsecond: use a slower quota or Algorithm::Gcra"),
        }
    }
}

impl std::error::Error for QuotaError {}

impl From<ConfigError> for QuotaError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::ZeroRefillPeriod => Self::ZeroPeriod,
            ConfigError::RateTooHigh { .. } => Self::TooFast,
            ConfigError::PeriodTooLong { .. } => Self::TooSlow,
            _ => Self::Zero,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_quotas_are_typed_errors() {
        assert_eq!(Quota::per_second(0), Err(QuotaError::Zero));
        assert_eq!(Quota::per_minute(0), Err(QuotaError::Zero));
        assert_eq!(
            Quota::with_period(Duration::ZERO),
            Err(QuotaError::ZeroPeriod)
        );
        assert_eq!(Quota::per_second(u32::MAX), Err(QuotaError::TooFast));
        assert_eq!(Quota::with_period(Duration::MAX), Err(QuotaError::TooSlow));
        assert_eq!(
            Quota::per_second(1).and_then(|q| q.allow_burst(0)),
            Err(QuotaError::Zero)
        );
        assert_eq!(
            Quota::per_hour(1).and_then(|q| q.allow_burst(u32::MAX)),
            Err(QuotaError::TooSlow)
        );
    }

    #[test]
    fn windows_follow_the_burst() {
        let q = Quota::per_second(10).unwrap();
        assert_eq!(q.window(), Duration::from_secs(1));
        assert_eq!(q.window_params(), Ok((10, 1_000_000)));
        let q = q.allow_burst(5).unwrap();
        assert_eq!(q.window(), Duration::from_millis(500));
        let big = Quota::per_second(2_000_000).unwrap();
        assert_eq!(
            big.window_params(),
            Err(QuotaError::BurstTooLargeForWindow { burst: 2_000_000 })
        );
        let tiny = Quota::per_second(1_000_000_000)
            .unwrap()
            .allow_burst(1)
            .unwrap();
        assert_eq!(tiny.window_params(), Err(QuotaError::WindowTooShort));
    }
}
