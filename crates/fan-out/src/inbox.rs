//! Where spawned items leave their results: any thread pushes, the driver takes them all at
//! once. Also counts completions, so the driver (and the loom model) can check that every
//! started item reported exactly once.

use crate::signal::Signal;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, lock};

/// See the module docs.
#[derive(Debug)]
pub struct Inbox<T> {
    items: Mutex<Vec<T>>,
    completed: AtomicUsize,
    signal: Arc<Signal>,
}

impl<T> Inbox<T> {
    /// An empty inbox notifying `signal`.
    #[must_use]
    pub fn new(signal: Arc<Signal>) -> Self {
        Self {
            items: Mutex::new(Vec::new()),
            completed: AtomicUsize::new(0),
            signal,
        }
    }

    /// The signal this inbox notifies.
    #[must_use]
    pub fn signal(&self) -> &Arc<Signal> {
        &self.signal
    }

    /// Any thread: deposit one result and wake the driver.
    pub fn push(&self, item: T) {
        lock(&self.items).push(item);
        self.completed.fetch_add(1, Ordering::SeqCst);
        self.signal.notify();
    }

    /// Driver: move every deposited result into `into` (which should be empty, so the two
    /// vectors trade their allocations).
    pub fn take_all(&self, into: &mut Vec<T>) {
        std::mem::swap(&mut *lock(&self.items), into);
    }

    /// Whether any result is waiting.
    #[must_use]
    pub fn has_items(&self) -> bool {
        !lock(&self.items).is_empty()
    }

    /// How many results were ever pushed.
    #[must_use]
    pub fn completed(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }
}
