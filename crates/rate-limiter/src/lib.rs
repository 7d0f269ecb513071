//! Rate limits and concurrency limits in one place: quotas for one shared limit or per key
//! (with memory bounded by construction), three counting algorithms, HTTP-ready decisions,
//! run-time reconfiguration, and FIFO-fair, cancel-safe concurrency limits — fixed or
//! adaptive (AIMD).
//!
//! # A shared limit
//! ```
//! use tidewater_rate_limiter::{Quota, RateLimiter};
//!
//! let limiter = RateLimiter::new(Quota::per_second(100)?.allow_burst(10)?);
//! match limiter.check() {
//!     Ok(()) => { /* serve */ }
//!     Err(limited) => println!("429, retry after {:?}", limited.retry_after),
//! }
//! # Ok::<(), tidewater_rate_limiter::QuotaError>(())
//! ```
//!
//! # Per key, with headers
//! ```
//! use tidewater_rate_limiter::{KeyedRateLimiter, Quota};
//!
//! let per_client = KeyedRateLimiter::<u32>::new(Quota::per_minute(60)?);
//! let decision = per_client.check_key_decision(&42);
//! assert!(decision.allowed);
//! let headers = decision.headers(); // RateLimit-Limit / -Remaining / -Reset (+ Retry-After)
//! assert_eq!(headers[0], ("RateLimit-Limit", "60".to_string()));
//! # Ok::<(), tidewater_rate_limiter::QuotaError>(())
//! ```
//!
//! # Concurrency
//! ```
//! use tidewater_rate_limiter::ConcurrencyLimiter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tidewater_rate_limiter::LimitError> {
//! let db = ConcurrencyLimiter::new(8)?;
//! let _permit = db.acquire().await; // at most 8 queries at once, FIFO
//! # Ok(())
//! # }
//! ```
//!
//! All time is read through the [`Clock`] of `tidewater-token-bucket`, so every algorithm
//! runs deterministically on a [`ManualClock`] in tests. Guarantees and memory bounds are
//! in `docs/rate-limiter.md`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adaptive;
mod algorithm;
mod concurrency;
mod decision;
mod direct;
mod error;
mod keyed;
mod limit;
mod quota;
mod sync;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod window;

#[cfg(all(test, tidewater_loom))]
mod loom_models;

pub use adaptive::{AdaptiveBuilder, AdaptiveConfigError, AdaptiveLimiter, AdaptivePermit};
pub use algorithm::Algorithm;
pub use concurrency::{ConcurrencyLimiter, LimitError, MAX_CONCURRENCY, OwnedPermit, Permit};
pub use decision::Decision;
pub use direct::RateLimiter;
pub use error::{CheckError, ExceedsLimit, KeyedError, RateLimited};
pub use keyed::{KeyedBuilder, KeyedRateLimiter, WhenFull};
pub use quota::{MAX_WINDOW_LIMIT, Quota, QuotaError};
pub use tidewater_token_bucket::{Clock, DefaultClock, ManualClock, MonotonicClock, TokioClock};
