//! The loom shim: every synchronization primitive of the hand-off core comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the loom
//! models in `tests/loom.rs` explore every interleaving of the real queue code.

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
