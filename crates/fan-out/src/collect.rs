//! The sink behind `run`: every outcome placed by index (ordered) or in completion order.
//! `run` never needs a reorder window: results land directly in their final position, so
//! the engine always stays filled to the limit.

use crate::config::ErrorPolicy;
use crate::driver::Sink;
use crate::engine::Outcome;
use crate::error::{FanOutError, ItemError, Stop};

/// See the module docs.
pub(crate) struct Collect<R, E> {
    ordered: bool,
    by_index: Vec<Option<R>>,
    in_completion_order: Vec<(usize, R)>,
    failures: Vec<(usize, ItemError<E>)>,
    unfinished: Vec<usize>,
}

impl<R, E> Collect<R, E> {
    pub(crate) fn new(ordered: bool) -> Self {
        Self {
            ordered,
            by_index: Vec::new(),
            in_completion_order: Vec::new(),
            failures: Vec::new(),
            unfinished: Vec::new(),
        }
    }

    /// The final answer of a run.
    pub(crate) fn finish(
        self,
        policy: ErrorPolicy,
        stop: Option<Stop>,
        pulled: usize,
    ) -> Result<Vec<R>, FanOutError<E, R>> {
        let clean = stop.is_none() && (self.failures.is_empty() || policy == ErrorPolicy::Skip);
        if clean {
            return Ok(if self.ordered {
                self.by_index.into_iter().flatten().collect()
            } else {
                self.in_completion_order
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect()
            });
        }
        let mut completed: Vec<(usize, R)> = if self.ordered {
            self.by_index
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| r.map(|r| (i, r)))
                .collect()
        } else {
            self.in_completion_order
        };
        completed.sort_unstable_by_key(|(i, _)| *i);
        let mut failures = self.failures;
        failures.sort_unstable_by_key(|(i, _)| *i);
        let mut unfinished = self.unfinished;
        unfinished.sort_unstable();
        Err(FanOutError {
            stop,
            failures,
            completed,
            unfinished,
            pulled,
        })
    }
}

impl<R, E> Sink<R, E> for Collect<R, E> {
    fn has_room(&self, _index: usize) -> bool {
        true
    }

    fn item(&mut self, index: usize, outcome: Outcome<R, E>) {
        match outcome {
            Ok(value) if self.ordered => {
                if index >= self.by_index.len() {
                    self.by_index.resize_with(index + 1, || None);
                }
                self.by_index[index] = Some(value);
            }
            Ok(value) => self.in_completion_order.push((index, value)),
            Err(error) => self.failures.push((index, error)),
        }
    }

    fn skipped(&mut self, index: usize, error: ItemError<E>) {
        // Kept so a run that later stops (deadline, cancellation) still reports them.
        self.failures.push((index, error));
    }

    fn unfinished(&mut self, index: usize, _stop: Stop) {
        self.unfinished.push(index);
    }
}
