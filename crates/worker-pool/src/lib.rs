//! Bounded async and blocking worker pools with backpressure, job handles, panic isolation and
//! a drain that accounts for every job.
//!
//! - [`WorkerPool`] runs async jobs on a fixed set of long-lived tokio tasks.
//! - [`BlockingPool`] runs closures on a fixed set of dedicated threads.
//!
//! Both pull from one bounded FIFO queue (crossbeam's `ArrayQueue`), so memory stays bounded
//! and a full queue pushes back on the producer: `submit` waits, `try_submit` hands the job
//! back, `submit_timeout` does either within a limit. Each job gets a [`JobHandle`] (a future,
//! also waitable from sync code) that resolves to its value, [`JobError::Panicked`] or
//! [`JobError::Cancelled`]. `shutdown(grace)` drains with a deadline and returns a
//! [`PoolReport`] counting what completed, panicked, was cancelled or was rejected.
//!
//! See `docs/worker-pool.md` for the full contract.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use tidewater_worker_pool::{TrySubmitError, WorkerPool};
//!
//! let pool = WorkerPool::builder().workers(2).queue_capacity(1).build().unwrap();
//! let first = pool.submit(async { "ran" }).await.unwrap();
//! // The single slot is taken until a worker picks the first job up: the job comes back.
//! match pool.try_submit(async { "ran" }) {
//!     Ok(handle) => handle.detach(),
//!     Err(TrySubmitError::Full(job)) => drop(job),
//!     Err(TrySubmitError::Closed(_)) => unreachable!(),
//! }
//! assert_eq!(first.await, Ok("ran"));
//!
//! let report = pool.shutdown(Duration::from_secs(5)).await;
//! assert!(report.drained_in_time);
//! assert_eq!(report.completed + report.rejected, 2);
//! # }
//! ```
#![deny(unsafe_code)]

#[doc(hidden)]
pub mod admission;
mod async_pool;
mod blocking_pool;
mod config;
mod error;
mod job;
mod park;
mod stamp;
mod stats;
mod sync;
mod task;

pub use async_pool::{AsyncOptions, WorkerPool, WorkerPoolBuilder};
pub use blocking_pool::{BlockingOptions, BlockingPool, BlockingPoolBuilder};
pub use config::{MAX_QUEUE_CAPACITY, MAX_WORKERS, PoolBuilder};
pub use error::{BuildError, PoolClosed, SubmitTimeoutError, TrySubmitError};
pub use job::{JobError, JobHandle};
pub use stats::{Metrics, PoolReport};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The guide's examples (`docs/worker-pool.md`), compiled and run as doc tests. Only compiled
/// for doc tests, so the packaged crate never reads outside its directory.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/worker-pool.md")]
struct GuideDoctests;
