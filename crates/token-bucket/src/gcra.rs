//! The Generic Cell Rate Algorithm as pure arithmetic: no atomics, no clock.
//!
//! A bucket's whole state is one number, the *theoretical arrival time* (TAT): the
//! instant at which the bucket will be full again. Taking `n` tokens pushes it `n`
//! emission intervals later; a request conforms when the pushed TAT is no more than one
//! full bucket (the *tolerance*) ahead of now. Refill is implicit in time passing, so
//! nothing runs in the background and long idle periods can never accrue more than
//! `capacity`.
//!
//! [`Gcra`] is public so that other crates (tidewater-rate-limiter's keyed store, say)
//! keep their own compact per-key state and reuse this one decision function.

use std::time::Duration;

use crate::error::ConfigError;

/// Refilling a full bucket may take at most this long (2^58 ns, about 9.1 years), so
/// that every sum of a timestamp and a span below stays far from `u64` overflow.
pub(crate) const MAX_SPAN_NANOS: u64 = 1 << 58;

/// The parameters of one GCRA bucket: its capacity and the interval between tokens.
///
/// ```
/// use std::time::Duration;
/// use tidewater_token_bucket::Gcra;
///
/// // 10 tokens of burst, refilled at 5 per second: one token every 200 ms.
/// let gcra = Gcra::new(10, 5, Duration::from_secs(1))?;
/// let full = gcra.tat_with_tokens(0, 10); // a full bucket at time 0
/// let grant = gcra.decide(full, 0, 4).expect("4 of 10 tokens are there");
/// assert_eq!(grant.remaining, 6);
/// # Ok::<(), tidewater_token_bucket::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    capacity: u32,
    interval_nanos: u64,
}

/// A conforming request: the new state to store and what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The new theoretical arrival time to store.
    pub tat: u64,
    /// Whole tokens left after this grant.
    pub remaining: u32,
    /// Nanoseconds until the bucket is full again.
    pub full_after_nanos: u64,
}

/// A request that does not conform now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The tokens will have accrued after this many nanoseconds.
    Insufficient {
        /// Nanoseconds to wait.
        retry_after_nanos: u64,
    },
    /// More tokens than the capacity: never conforms.
    ExceedsCapacity,
}

impl Gcra {
    /// Parameters for `capacity` tokens of burst, refilled at `tokens` per `every`.
    ///
    /// The interval between tokens is rounded to the nearest nanosecond.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero capacity, zero tokens, a zero period, a rate above one
    /// token per nanosecond, or a full refill longer than about nine years.
    pub fn new(capacity: u32, tokens: u32, every: Duration) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let interval_nanos = interval_nanos(tokens, every)?;
        let gcra = Self {
            capacity,
            interval_nanos,
        };
        if interval_nanos.saturating_mul(u64::from(capacity)) > MAX_SPAN_NANOS {
            return Err(ConfigError::PeriodTooLong { tokens, every });
        }
        Ok(gcra)
    }

    /// The most tokens the bucket holds (its burst).
    #[must_use]
    #[inline]
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Time between two tokens.
    #[must_use]
    pub const fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }

    /// Time between two tokens, in nanoseconds.
    #[must_use]
    #[inline]
    pub const fn interval_nanos(&self) -> u64 {
        self.interval_nanos
    }

    /// Time to refill an empty bucket, in nanoseconds (the algorithm's tolerance).
    #[must_use]
    #[inline]
    pub const fn tolerance_nanos(&self) -> u64 {
        self.interval_nanos * self.capacity as u64
    }

    /// The state of a bucket holding `tokens` (clamped to the capacity) at time `now`.
    #[must_use]
    pub const fn tat_with_tokens(&self, now: u64, tokens: u32) -> u64 {
        let missing = self.capacity.saturating_sub(tokens);
        now.saturating_add(missing as u64 * self.interval_nanos)
    }

    /// Would taking `n` tokens at `now` from a bucket in state `tat` conform?
    /// Returns the state to store on success. `n == 0` always conforms and changes nothing.
    ///
    /// # Errors
    /// [`Denial::ExceedsCapacity`] when `n` exceeds the capacity, otherwise
    /// [`Denial::Insufficient`] with the wait after which it would conform.
    #[inline]
    pub fn decide(&self, tat: u64, now: u64, n: u32) -> Result<Grant, Denial> {
        let new_tat = self.conform(tat, now, n)?;
        let limit = now.wrapping_add(self.tolerance_nanos());
        Ok(Grant {
            tat: new_tat,
            remaining: self.whole_tokens(limit.wrapping_sub(new_tat)),
            full_after_nanos: new_tat.wrapping_sub(now),
        })
    }

    /// [`decide`](Self::decide) without the report: only the state to store, so the hot
    /// path pays no division.
    ///
    /// # Errors
    /// As [`decide`](Self::decide).
    #[inline]
    pub fn conform(&self, tat: u64, now: u64, n: u32) -> Result<u64, Denial> {
        if n > self.capacity {
            return Err(Denial::ExceedsCapacity);
        }
        // In the documented range (timestamps below 2^62, spans below 2^58) these sums
        // cannot overflow; wrapping keeps the hot path free of saturation checks and
        // still never panics outside that range.
        //
        // Conforms iff `max(tat, now) + cost <= now + tolerance`. As `cost <= tolerance`,
        // that holds whenever `tat < now`, so it is `tat + cost - tolerance <= now`: the
        // clock reading meets the state in one comparison (and one subtraction for the
        // wait), the shortest path from reading the clock to a denial.
        let cost = u64::from(n) * self.interval_nanos;
        let due = tat
            .wrapping_add(cost)
            .saturating_sub(self.tolerance_nanos());
        if due > now {
            return Err(Denial::Insufficient {
                retry_after_nanos: due - now,
            });
        }
        Ok(tat.max(now).wrapping_add(cost))
    }

    /// The state after taking `n` tokens unconditionally, possibly into debt: the caller
    /// owns those tokens from [`Gcra::due`] of the returned state onwards. Used to queue a
    /// waiter so that nobody can take its tokens while it sleeps.
    #[must_use]
    pub fn reserve(&self, tat: u64, now: u64, n: u32) -> u64 {
        tat.max(now)
            .saturating_add(u64::from(n.min(self.capacity)) * self.interval_nanos)
    }

    /// The earliest time at which a bucket in state `tat` is out of debt.
    #[must_use]
    #[inline]
    pub const fn due(&self, tat: u64) -> u64 {
        tat.saturating_sub(self.tolerance_nanos())
    }

    /// Whole tokens in a bucket in state `tat` at `now` (0 while in debt).
    #[must_use]
    #[inline]
    pub fn available(&self, tat: u64, now: u64) -> u32 {
        let limit = now.saturating_add(self.tolerance_nanos());
        self.whole_tokens(limit.saturating_sub(tat.max(now)))
    }

    /// Nanoseconds until a bucket in state `tat` is full, seen at `now`.
    #[must_use]
    pub const fn full_after_nanos(&self, tat: u64, now: u64) -> u64 {
        tat.saturating_sub(now)
    }

    /// Re-express state `tat` under other parameters so the token balance (or debt) at
    /// `now` is unchanged, clamped to the new capacity: a rate change neither loses nor
    /// invents tokens. Debt is rounded up, so rounding never grants a fraction.
    #[must_use]
    pub fn rescale(&self, tat: u64, now: u64, to: &Gcra) -> u64 {
        let behind = i128::from(tat.max(now) - now);
        // The balance in nanoseconds of refill (tokens * interval); negative in debt.
        let fill = i128::from(self.tolerance_nanos()) - behind;
        let fill_to =
            (fill * i128::from(to.interval_nanos)).div_euclid(i128::from(self.interval_nanos));
        let behind_to = (i128::from(to.tolerance_nanos()) - fill_to).max(0);
        now.saturating_add(u64::try_from(behind_to).unwrap_or(u64::MAX))
    }

    #[inline]
    fn whole_tokens(&self, span: u64) -> u32 {
        u32::try_from(span / self.interval_nanos)
            .unwrap_or(u32::MAX)
            .min(self.capacity)
    }

    #[inline]
    pub(crate) const fn with_interval(capacity: u32, interval_nanos: u64) -> Self {
        Self {
            capacity,
            interval_nanos,
        }
    }
}

/// Nanoseconds per token for `tokens` per `every`, validated.
pub(crate) fn interval_nanos(tokens: u32, every: Duration) -> Result<u64, ConfigError> {
    if tokens == 0 {
        return Err(ConfigError::ZeroRefillTokens);
    }
    if every.is_zero() {
        return Err(ConfigError::ZeroRefillPeriod);
    }
    let tokens_wide = u128::from(tokens);
    let interval = (every.as_nanos() + tokens_wide / 2) / tokens_wide;
    if interval == 0 {
        return Err(ConfigError::RateTooHigh { tokens, every });
    }
    match u64::try_from(interval) {
        Ok(i) if i <= MAX_SPAN_NANOS => Ok(i),
        _ => Err(ConfigError::PeriodTooLong { tokens, every }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_sec(capacity: u32, tokens: u32) -> Gcra {
        Gcra::new(capacity, tokens, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn full_bucket_grants_its_capacity_then_denies() {
        let g = per_sec(3, 1);
        let mut tat = g.tat_with_tokens(0, 3);
        for left in (0..3).rev() {
            let grant = g.decide(tat, 0, 1).unwrap();
            assert_eq!(grant.remaining, left);
            tat = grant.tat;
        }
        assert_eq!(
            g.decide(tat, 0, 1),
            Err(Denial::Insufficient {
                retry_after_nanos: 1_000_000_000
            })
        );
    }

    #[test]
    fn idle_time_never_accrues_more_than_capacity() {
        let g = per_sec(2, 1);
        let tat = g.tat_with_tokens(0, 0);
        let much_later = 1_000 * 1_000_000_000;
        assert_eq!(g.available(tat, much_later), 2);
        assert!(g.decide(tat, much_later, 3).is_err());
    }

    #[test]
    fn rescale_preserves_debt_in_tokens() {
        let slow = per_sec(10, 1);
        let fast = per_sec(10, 4);
        let tat = slow.tat_with_tokens(0, 6); // 4 tokens missing
        let moved = slow.rescale(tat, 0, &fast);
        assert_eq!(fast.available(moved, 0), 6);
    }

    #[test]
    fn rescale_clamps_to_a_smaller_capacity_and_keeps_debt() {
        let big = per_sec(10, 1);
        let small = per_sec(4, 1);
        let full = big.tat_with_tokens(0, 10);
        assert_eq!(small.available(big.rescale(full, 0, &small), 0), 4);
        let in_debt = big.reserve(big.tat_with_tokens(0, 0), 0, 2); // 2 tokens of debt
        let moved = big.rescale(in_debt, 0, &small);
        assert_eq!(small.due(moved), 2_000_000_000, "debt carries over");
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let sec = Duration::from_secs(1);
        assert_eq!(Gcra::new(0, 1, sec), Err(ConfigError::ZeroCapacity));
        assert_eq!(Gcra::new(1, 0, sec), Err(ConfigError::ZeroRefillTokens));
        assert_eq!(
            Gcra::new(1, 1, Duration::ZERO),
            Err(ConfigError::ZeroRefillPeriod)
        );
        assert!(matches!(
            Gcra::new(1, u32::MAX, Duration::from_nanos(1)),
            Err(ConfigError::RateTooHigh { .. })
        ));
        assert!(matches!(
            Gcra::new(1, 1, Duration::MAX),
            Err(ConfigError::PeriodTooLong { .. })
        ));
        assert!(matches!(
            Gcra::new(u32::MAX, 1, Duration::from_secs(1)),
            Err(ConfigError::PeriodTooLong { .. })
        ));
    }

    #[test]
    fn large_timestamps_are_exact_and_extreme_ones_never_panic() {
        let g = per_sec(1, 1);
        let late = 1 << 60; // the end of a bucket's timeline (about 36 years)
        assert_eq!(g.available(0, late), 1);
        assert!(g.decide(0, late, 1).is_ok());
        // Past the documented range the answers are unspecified, but nothing panics.
        let near = u64::MAX - 10;
        let _ = g.decide(0, near, 1);
        let _ = g.available(u64::MAX, u64::MAX);
        let _ = g.rescale(u64::MAX, 0, &per_sec(1, 2));
    }
}
