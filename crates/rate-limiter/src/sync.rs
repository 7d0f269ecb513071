//! The loom shim: the synchronization the lock-free cores use comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the
//! models in `loom_models.rs` explore every interleaving of the real window counters and
//! permit accounting.

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
#[cfg(not(tidewater_loom))]
pub(crate) use std::thread::yield_now;

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};
#[cfg(tidewater_loom)]
pub(crate) use loom::thread::yield_now;
