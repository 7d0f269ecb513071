//! The time-stamp taken when a job is queued, for the queue-wait metric: two per job, so it
//! must be cheap. With the `quanta` feature (default) it reads the CPU's time-stamp counter.

#[cfg(feature = "quanta")]
pub(crate) use quanta::Instant as Stamp;
#[cfg(not(feature = "quanta"))]
pub(crate) use std::time::Instant as Stamp;
