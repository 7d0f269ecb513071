//! The loom shim: every synchronization primitive of the lock-free core comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the
//! model checker can explore every interleaving of the real code (see `tests/loom.rs` and the
//! `loom_models` modules in `src/shard.rs` and `src/live.rs`).

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};
