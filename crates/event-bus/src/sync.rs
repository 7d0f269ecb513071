//! The loom shim: every synchronization primitive of the core comes from here.
//!
//! Normally these are `std`'s types; under `--cfg tidewater_loom` they are loom's, so the
//! loom models in `tests/loom.rs` explore every interleaving of the real ring, mailbox and
//! wake-up code.

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};
#[cfg(not(tidewater_loom))]
pub(crate) use std::thread;

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};
#[cfg(tidewater_loom)]
pub(crate) use loom::thread;

/// Locks `mutex`, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before it can panic (user callbacks run outside locks), so a poisoned lock
/// still guards valid state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Locks `lock` for reading, ignoring poisoning (see [`lock`]).
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    match lock.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Locks `lock` for writing, ignoring poisoning (see [`lock`]).
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    match lock.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
