//! A lock-free GCRA token bucket with synchronous, asynchronous (FIFO-fair, cancel-safe)
//! and blocking acquisition.
//!
//! A [`TokenBucket`] holds up to `capacity` tokens and refills continuously at a fixed
//! rate. Its whole state is one atomic word updated by compare-and-swap: no mutex, no
//! background refill task, no allocation per call. Waiters queue in arrival order behind
//! one timer, and the rate can change at run time without losing or inventing tokens.
//!
//! # Synchronous use
//! ```
//! use std::time::Duration;
//! use tidewater_token_bucket::TokenBucket;
//!
//! let bucket = TokenBucket::builder()
//!     .capacity(10)                         // bursts of up to 10
//!     .refill(100, Duration::from_secs(1))  // 100 per second sustained
//!     .build()?;
//!
//! if let Err(denied) = bucket.try_acquire(1) {
//!     println!("slow down; retry after {:?}", denied.retry_after());
//! }
//! # Ok::<(), tidewater_token_bucket::ConfigError>(())
//! ```
//!
//! # Asynchronous use
//! ```
//! use std::time::Duration;
//! use tidewater_token_bucket::TokenBucket;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bucket = TokenBucket::builder().capacity(1).refill(50, Duration::from_secs(1)).build()?;
//! for request in 0..3 {
//!     bucket.acquire(1).await?; // paced at 50 per second, FIFO among concurrent callers
//!     println!("sending request {request}");
//! }
//! // Shed instead of queueing when the wait would be too long:
//! if bucket.acquire_within(1, Duration::from_millis(1)).await.is_err() {
//!     println!("too busy, answering 429");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Testing with a manual clock
//! ```
//! use std::time::Duration;
//! use tidewater_token_bucket::{ManualClock, TokenBucket, TryAcquireError};
//!
//! let clock = ManualClock::new();
//! let bucket = TokenBucket::builder()
//!     .capacity(2)
//!     .refill(1, Duration::from_secs(1))
//!     .clock(clock.clone())
//!     .build()?;
//! assert!(bucket.try_acquire(2).is_ok());
//! assert_eq!(
//!     bucket.try_acquire(1),
//!     Err(TryAcquireError::Insufficient { retry_after: Duration::from_secs(1) })
//! );
//! clock.advance(Duration::from_secs(1));
//! assert!(bucket.try_acquire(1).is_ok());
//! # Ok::<(), tidewater_token_bucket::ConfigError>(())
//! ```
//!
//! Async tests use [`TokioClock`] with `#[tokio::test(start_paused = true)]`, so waits
//! are exact and instant. See `docs/token-bucket.md` for the algorithm and guarantees.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acquire;
mod blocking;
mod bucket;
mod builder;
mod cell;
mod clock;
mod error;
mod gcra;
mod queue;
mod rate;
mod state;
mod sync;
mod waiter;

#[cfg(all(test, tidewater_loom))]
mod loom_models;

pub use acquire::{Acquire, AcquireWithin};
pub use bucket::{BucketStatus, TokenBucket};
pub use builder::Builder;
pub use cell::GcraCell;
#[cfg(feature = "quanta")]
pub use clock::QuantaClock;
pub use clock::{Clock, DefaultClock, ManualClock, MonotonicClock, TokioClock};
pub use error::{AcquireWithinError, ConfigError, ExceedsCapacity, TryAcquireError};
pub use gcra::{Denial, Gcra, Grant};
pub use rate::SharedRate;

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
