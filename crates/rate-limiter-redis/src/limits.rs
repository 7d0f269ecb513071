//! A quota as the server script counts it: an interval in nanoseconds and a capacity.

use std::time::Duration;

use tidewater_rate_limiter::Quota;

use crate::error::SetupError;

/// The script counts time as nanoseconds in Lua doubles, exact below 2^53.
const MAX_REFILL_NANOS: u128 = 1 << 53;

/// The parameters sent with every script call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) interval_nanos: u64,
    pub(crate) capacity: u32,
}

impl Limits {
    pub(crate) fn of(quota: &Quota) -> Result<Self, SetupError> {
        let interval = quota.replenish_interval();
        let refill = interval.as_nanos() * u128::from(quota.burst());
        if refill >= MAX_REFILL_NANOS {
            return Err(SetupError::QuotaTooLong {
                refill: interval.saturating_mul(quota.burst()),
            });
        }
        Ok(Self {
            interval_nanos: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            capacity: quota.burst(),
        })
    }

    pub(crate) fn interval(self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }
}
