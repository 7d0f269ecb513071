//! [`Decision`]: the full answer of a check, ready for `RateLimit-*` HTTP headers.

use std::time::Duration;

/// Everything a check decided, in one snapshot: enough to write the IETF `RateLimit-*`
/// headers and `Retry-After`.
///
/// ```
/// use tidewater_rate_limiter::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(2)?);
/// let d = limiter.check_decision();
/// assert!(d.allowed);
/// assert_eq!((d.limit, d.remaining), (2, 1));
/// for (name, value) in d.headers() {
///     println!("{name}: {value}"); // RateLimit-Limit: 2, RateLimit-Remaining: 1, RateLimit-Reset: 1
/// }
/// # Ok::<(), tidewater_rate_limiter::QuotaError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request passed (and was counted).
    pub allowed: bool,
    /// The most requests allowed at once (the burst, or the window's limit).
    pub limit: u32,
    /// Requests that would still pass right now, after this one.
    pub remaining: u32,
    /// Time until the limit is whole again (nothing counted against it).
    pub reset_after: Duration,
    /// For a refused request, the wait after which it would pass; `None` when it was
    /// allowed, or when it can never pass (more than the limit at once, or no key room).
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// The standard header name/value pairs: `RateLimit-Limit`, `RateLimit-Remaining`,
    /// `RateLimit-Reset` (seconds, rounded up) and, for a refused request that may retry,
    /// `Retry-After` (seconds, rounded up, at least 1).
    #[must_use]
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", ceil_secs(self.reset_after).to_string()),
        ];
        if let (false, Some(wait)) = (self.allowed, self.retry_after) {
            headers.push(("Retry-After", ceil_secs(wait).max(1).to_string()));
        }
        headers
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_up_and_only_denials_carry_retry_after() {
        let allowed = Decision {
            allowed: true,
            limit: 10,
            remaining: 3,
            reset_after: Duration::from_millis(1500),
            retry_after: None,
        };
        assert_eq!(
            allowed.headers(),
            vec![
                ("RateLimit-Limit", "10".to_owned()),
                ("RateLimit-Remaining", "3".to_owned()),
                ("RateLimit-Reset", "2".to_owned()),
            ]
        );
        let denied = Decision {
            allowed: false,
            remaining: 0,
            retry_after: Some(Duration::from_millis(10)),
            ..allowed
        };
        assert_eq!(denied.headers()[3], ("Retry-After", "1".to_owned()));
        let never = Decision {
            retry_after: None,
            ..denied
        };
        assert_eq!(never.headers().len(), 3);
    }
}
