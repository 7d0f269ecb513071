//! The loom shim: the lease table's locks and the counters come from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the
//! models in `loom_models.rs` explore every interleaving of the real lease table.

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};
