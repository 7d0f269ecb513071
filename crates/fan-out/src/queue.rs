//! The sink behind streams and `for_each`: a bounded queue of outcomes, in input order
//! (through the [`Reorder`] window) or in completion order.

use std::collections::VecDeque;

use crate::driver::Sink;
use crate::engine::Outcome;
use crate::error::{ItemError, Stop};
use crate::reorder::Reorder;

/// `None` marks an index whose failure was skipped, so the ordered window can move past it.
type Entry<R, E> = Option<Outcome<R, E>>;

/// See the module docs.
pub(crate) enum Queue<R, E> {
    /// Input order: an item may start only if its index fits a window of `2 × limit`
    /// positions from the oldest undelivered one.
    Ordered(Reorder<Entry<R, E>>),
    /// Completion order, at most `limit` finished outcomes waiting.
    Unordered {
        queue: VecDeque<(usize, Outcome<R, E>)>,
        limit: usize,
    },
}

impl<R, E> Queue<R, E> {
    pub(crate) fn new(ordered: bool, limit: usize) -> Self {
        if ordered {
            Self::Ordered(Reorder::new(limit.saturating_mul(2)))
        } else {
            Self::Unordered {
                queue: VecDeque::new(),
                limit,
            }
        }
    }

    /// The next outcome to deliver, if any.
    pub(crate) fn pop(&mut self) -> Option<(usize, Outcome<R, E>)> {
        match self {
            Self::Ordered(reorder) => loop {
                let index = reorder.next_index();
                if let Some(outcome) = reorder.pop()? {
                    return Some((index, outcome));
                }
            },
            Self::Unordered { queue, .. } => queue.pop_front(),
        }
    }

    fn put(&mut self, index: usize, entry: Entry<R, E>) {
        match self {
            Self::Ordered(reorder) => {
                // The driver starts an index only while it fits the window and reports each
                // index once, so the insert cannot be refused.
                let inserted = reorder.insert(index, entry);
                debug_assert!(inserted.is_ok(), "index {index} outside the reorder window");
            }
            Self::Unordered { queue, .. } => {
                if let Some(outcome) = entry {
                    queue.push_back((index, outcome));
                }
            }
        }
    }
}

impl<R, E> Sink<R, E> for Queue<R, E> {
    fn has_room(&self, index: usize) -> bool {
        match self {
            Self::Ordered(reorder) => reorder.admits(index),
            Self::Unordered { queue, limit } => queue.len() < *limit,
        }
    }

    fn item(&mut self, index: usize, outcome: Outcome<R, E>) {
        self.put(index, Some(outcome));
    }

    fn skipped(&mut self, index: usize, _error: ItemError<E>) {
        self.put(index, None);
    }

    fn unfinished(&mut self, index: usize, stop: Stop) {
        self.put(index, Some(Err(ItemError::Cancelled(stop))));
    }
}
