//! Multi-stage async pipelines whose stages really run at the same time.
//!
//! A chain of stream combinators runs in one task, so its stages never overlap; hand-written
//! chains of tasks and channels overlap but cost microseconds per item and lose what is in
//! flight when the program stops. Here every stage is its own tokio task (CPU-bound stages use
//! tokio's blocking threads), stages are joined by bounded queues that move items in batches
//! when the next stage is behind, and every run returns a [`PipelineReport`] that accounts for
//! every item, per stage.
//!
//! - Sources: [`Pipeline::from_iter`], [`Pipeline::from_stream`], [`Pipeline::from_receiver`].
//! - Stages: [`map`](Pipeline::map) (ordered), [`map_unordered`](Pipeline::map_unordered),
//!   [`map_blocking`](Pipeline::map_blocking), [`try_map`](Pipeline::try_map) with an
//!   [`ErrorPolicy`], [`filter`](Pipeline::filter), [`filter_map`](Pipeline::filter_map),
//!   [`flat_map`](Pipeline::flat_map), [`inspect`](Pipeline::inspect),
//!   [`batch`](Pipeline::batch) (by size or time), `rate_limit` (feature `token-bucket`),
//!   [`buffer`](Pipeline::buffer) and [`name`](Pipeline::name).
//! - Sinks: [`collect`](Pipeline::collect), [`for_each`](Pipeline::for_each),
//!   [`run_into`](Pipeline::run_into), [`into_stream`](Pipeline::into_stream).
//! - Cancellation: [`Pipeline::cancel_on`] with [`CancelMode::Drain`] (finish what is inside)
//!   or [`CancelMode::Abort`] (stop now, count what was dropped).
//!
//! ```
//! use std::time::Duration;
//! use tidewater_pipeline::{ErrorPolicy, Pipeline};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), tidewater_pipeline::PipelineError> {
//! let (batches, report) = Pipeline::from_iter(0..1_000u32)
//!     .try_map(16, ErrorPolicy::Skip, |x| async move {
//!         if x % 100 == 7 { Err(format!("bad item {x}")) } else { Ok(x * 2) }
//!     })
//!     .name("parse")
//!     .map_blocking(2, |x| u64::from(x).pow(2))
//!     .name("square")
//!     .batch(100, Duration::from_millis(10))
//!     .collect()
//!     .await?;
//! assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 990);
//! let parse = report.stage("parse").expect("named stage");
//! assert_eq!((parse.items_in, parse.errors), (1_000, 10));
//! assert!(report.is_balanced());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
#[doc(hidden)]
pub mod handoff;
mod link;
mod metrics;
mod policy;
mod report;
mod run;
mod sink;
mod source;
mod stage_async;
mod stage_batch;
mod stage_sync;
mod sync;

pub use builder::{DEFAULT_BUFFER, Pipeline};
pub use error::{BoxError, ConfigProblem, PipelineError, PipelineErrorKind};
pub use policy::{CancelMode, ErrorPolicy, Failed};
pub use report::{Outcome, PipelineReport, StageReport};
pub use sink::PipelineStream;
pub use tokio_util::sync::CancellationToken;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
