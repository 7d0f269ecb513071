//! The loom shim: every synchronization primitive the core uses comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so
//! `cargo xtask loom` can explore every interleaving of the real code (docs/testing.md).

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
