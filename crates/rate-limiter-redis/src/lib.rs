//! Rate limits shared by many processes through Redis.
//!
//! A service running as ten replicas needs one limit for all ten, not ten limits. This
//! crate runs `tidewater-rate-limiter`'s GCRA on the Redis server you already operate:
//!
//! - **[`RedisKeyedRateLimiter`]** (per client, per user, per token) and
//!   **[`RedisRateLimiter`]** (one named limit): the in-memory limiters' API —
//!   `check_key`, `check_key_n`, `peek_key_n`, `until_key_ready`, [`Decision`] for the
//!   `RateLimit-*` headers, `set_quota` — asynchronous, since each check is a round trip.
//! - **One atomic script call per check** ([`RedisStore`]): loaded once and invoked by hash,
//!   on the server's clock (replica clock skew cannot break the limit), with keys that
//!   expire when their bucket is full again (bounded Redis memory).
//! - **Lease mode** (off by default): take a batch of tokens per round trip and hand them out
//!   locally, for a documented, bounded over-admission.
//! - **A failure policy** ([`FailurePolicy`]): fail open, fail closed, or fall back to a
//!   local in-memory limit, after a per-call timeout; [`StoreFailure`] says what happened.
//!
//! ```no_run
//! use tidewater_rate_limiter::Quota;
//! use tidewater_rate_limiter_redis::{RedisKeyedRateLimiter, RedisStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let per_client = RedisKeyedRateLimiter::with_store(Quota::per_minute(600)?, store)?;
//! match per_client.check_key("203.0.113.7").await {
//!     Ok(()) => println!("serve"),
//!     Err(refused) => println!("429, retry after {:?}", refused.retry_after()),
//! }
//! # Ok(()) }
//! ```
//!
//! See `docs/rate-limiter.md` ("Many processes") for the topology, the guarantees and a
//! runnable two-replica example.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod direct;
mod error;
mod keyed;
mod lease;
mod limits;
mod metrics;
mod policy;
mod store;
mod sync;

#[cfg(all(test, tidewater_loom))]
mod loom_models;

pub use direct::{RedisRateLimiter, RedisRateLimiterBuilder};
pub use error::{RedisLimitError, SetupError, StoreFailure};
pub use keyed::{RedisKeyedBuilder, RedisKeyedRateLimiter};
pub use metrics::RedisLimiterMetrics;
pub use policy::FailurePolicy;
pub use store::{RedisStore, RedisStoreBuilder};
pub use tidewater_rate_limiter::{Decision, Quota, QuotaError};
