//! Scatter/gather with bounded concurrency: run an async function over many inputs with at
//! most `limit` in flight, in input or completion order, with an error policy, per-item
//! timeouts, a deadline, a cancellation token and per-item panic isolation, either inside
//! the calling task (may borrow) or as tokio tasks over every core.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::num::NonZeroUsize;
//! use std::time::Duration;
//! use tidewater_fan_out::{ErrorPolicy, FanOut, ItemError};
//!
//! let fan = FanOut::new(NonZeroUsize::new(8).unwrap())
//!     .error_policy(ErrorPolicy::CollectAll)
//!     .item_timeout(Duration::from_secs(5));
//! let result = fan
//!     .run(0..10u32, |x| async move {
//!         if x == 3 { Err("three") } else { Ok(x * 2) }
//!     })
//!     .await;
//! let report = result.unwrap_err();
//! assert_eq!(report.failures, vec![(3, ItemError::Failed("three"))]);
//! assert_eq!(report.completed.len(), 9);
//! # }
//! ```
//!
//! Also: [`first_ok`], [`quorum`] and [`hedged`] for scatter/gather of alternatives, and
//! [`par_fan_out`] for CPU-bound closures on rayon. See `docs/fan-out.md` for the guide.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod collect;
mod config;
mod driver;
mod engine;
mod error;
mod fan_out;
mod gather;
mod in_task;
mod inbox;
mod inputs;
mod par;
mod queue;
mod ready;
mod reorder;
mod signal;
mod spawned;
mod stream;
mod sync;

pub use config::ErrorPolicy;
pub use error::{FanOutError, ItemError, Stop};
pub use fan_out::{FanOut, InTask, Spawned};
pub use gather::{NotEnough, first_ok, hedged, quorum};
pub use inputs::{InputSource, IntoInputs, IterInputs, StreamInputs, from_stream};
pub use par::par_fan_out;

// The README's and the guide's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/fan-out.md")]
struct GuideDoctests;

/// The tokio-free core, public only for the loom models in `tests/loom.rs`. Not a stable
/// API.
#[doc(hidden)]
pub mod __core {
    pub use crate::inbox::Inbox;
    pub use crate::ready::{ReadyPage, SlotWaker};
    pub use crate::reorder::Reorder;
    pub use crate::signal::Signal;
}
