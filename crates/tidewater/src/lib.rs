//! **tidewater**: concurrency building blocks for Tokio services, one small crate each, all
//! re-exported here behind a feature per crate.
//!
//! | Module (feature) | Crate | What it is for |
//! |---|---|---|
//! | [`token_bucket`] (`token-bucket`) | [`tidewater-token-bucket`](https://docs.rs/tidewater-token-bucket) | A lock-free GCRA token bucket: sync, FIFO-fair async and blocking acquire |
//! | [`rate_limiter`] (`rate-limiter`) | [`tidewater-rate-limiter`](https://docs.rs/tidewater-rate-limiter) | Keyed rate limits with bounded memory, windows, HTTP decisions, concurrency limits |
//! | [`rate_limiter_redis`] (`rate-limiter-redis`) | [`tidewater-rate-limiter-redis`](https://docs.rs/tidewater-rate-limiter-redis) | The same rate limits shared by many processes through Redis |
//! | [`worker_pool`] (`worker-pool`) | [`tidewater-worker-pool`](https://docs.rs/tidewater-worker-pool) | Bounded async and blocking worker pools with backpressure and a drain report |
//! | [`fan_out`] (`fan-out`) | [`tidewater-fan-out`](https://docs.rs/tidewater-fan-out) | Scatter/gather with bounded concurrency, hedged requests, quorums |
//! | [`pipeline`] (`pipeline`) | [`tidewater-pipeline`](https://docs.rs/tidewater-pipeline) | Multi-stage async pipelines with per-stage concurrency, drain and a report |
//! | [`shutdown`] (`shutdown`) | [`tidewater-shutdown`](https://docs.rs/tidewater-shutdown) | Graceful shutdown in ordered phases with one deadline and a report |
//! | [`event_bus`] (`event-bus`) | [`tidewater-event-bus`](https://docs.rs/tidewater-event-bus) | Typed in-process pub/sub with per-subscriber overflow policies |
//!
//! No feature is on by default: enable the ones you use, or `full` for all of them.
//!
//! ```toml
//! [dependencies]
//! tidewater = { version = "0.1", features = ["pipeline", "shutdown"] }
//! ```
//!
//! Depending on the facade or on the crates themselves is the same code: `tidewater::pipeline`
//! *is* `tidewater_pipeline`.
//!
//! # Example
//!
//! A pipeline paced by a token bucket, drained when the shutdown fires, with progress on the
//! event bus (features `pipeline`, `token-bucket`, `shutdown` and `event-bus`):
//!
#![cfg_attr(
    all(
        feature = "pipeline",
        feature = "token-bucket",
        feature = "shutdown",
        feature = "event-bus"
    ),
    doc = "```"
)]
#![cfg_attr(
    not(all(
        feature = "pipeline",
        feature = "token-bucket",
        feature = "shutdown",
        feature = "event-bus"
    )),
    doc = "```ignore"
)]
//! use std::time::Duration;
//! use tidewater::event_bus::EventBus;
//! use tidewater::pipeline::{CancelMode, Pipeline};
//! use tidewater::shutdown::{Reason, Shutdown, Signals};
//! use tidewater::token_bucket::TokenBucket;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shutdown = Shutdown::builder().signals(Signals::none()).build()?;
//! let bucket = TokenBucket::builder().capacity(50).refill(1_000, Duration::from_secs(1)).build()?;
//! let bus = EventBus::new();
//! let done = bus.topic::<u32>("done")?;
//! let mut watcher = done.subscribe();
//!
//! let signal = shutdown.signal();
//! let (total, report) = {
//!     let pipeline = Pipeline::from_iter(1..=100u32)
//!         .cancel_on(signal.token(), CancelMode::Drain) // Ctrl-C drains: nothing inside is lost
//!         .map(4, move |x| {
//!             let bucket = bucket.clone();
//!             async move {
//!                 bucket.acquire(1).await.ok(); // paced: 1,000 items per second
//!                 x * 2
//!             }
//!         })
//!         .name("double")
//!         .inspect(move |x| { done.publish(*x); });
//!     let (out, report) = pipeline.collect().await?;
//!     (out.iter().sum::<u32>(), report)
//! };
//! shutdown.trigger(Reason::requested("all items done"));
//! let shutdown_report = shutdown.wait().await;
//!
//! assert_eq!(total, 10_100);
//! assert!(report.is_balanced());
//! assert_eq!(*watcher.recv().await?, 2);
//! assert_eq!(shutdown_report.exit_code(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! The end-to-end example puts all seven crates together (a rate-limited intake, a pipeline
//! with a worker-pool stage and hedged backend calls, progress on the event bus, Ctrl-C that
//! drains):
//!
//! ```text
//! cargo run --release -p tidewater --features full --example ingest
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "token-bucket")]
#[cfg_attr(docsrs, doc(cfg(feature = "token-bucket")))]
#[doc(inline)]
pub use tidewater_token_bucket as token_bucket;

#[cfg(feature = "rate-limiter")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limiter")))]
#[doc(inline)]
pub use tidewater_rate_limiter as rate_limiter;

#[cfg(feature = "rate-limiter-redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limiter-redis")))]
#[doc(inline)]
pub use tidewater_rate_limiter_redis as rate_limiter_redis;

#[cfg(feature = "worker-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker-pool")))]
#[doc(inline)]
pub use tidewater_worker_pool as worker_pool;

#[cfg(feature = "fan-out")]
#[cfg_attr(docsrs, doc(cfg(feature = "fan-out")))]
#[doc(inline)]
pub use tidewater_fan_out as fan_out;

#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
#[doc(inline)]
pub use tidewater_pipeline as pipeline;

#[cfg(feature = "shutdown")]
#[cfg_attr(docsrs, doc(cfg(feature = "shutdown")))]
#[doc(inline)]
pub use tidewater_shutdown as shutdown;

#[cfg(feature = "event-bus")]
#[cfg_attr(docsrs, doc(cfg(feature = "event-bus")))]
#[doc(inline)]
pub use tidewater_event_bus as event_bus;

// The README's example is compiled and run as a doc test.
#[cfg(all(doctest, feature = "pipeline"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
