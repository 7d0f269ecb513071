//! The loom shim: every synchronization primitive of the tokio-free core comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the
//! model checker explores every interleaving of the real code (see `tests/loom.rs`).

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

/// Locks a mutex, ignoring poisoning: the data behind our locks is always left consistent
/// (every critical section is a push, a swap or a clone), so a panic elsewhere cannot
/// corrupt it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
