//! `par_fan_out`: CPU-bound closures on rayon, with the fan-out error policies and results
//! in input order.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelIterator};

use crate::config::ErrorPolicy;
use crate::engine::panicked;
use crate::error::{FanOutError, ItemError, Stop};
use crate::sync::{AtomicBool, Ordering};

/// What happened to one input.
enum Slot<R, E> {
    Done(R),
    Failed(ItemError<E>),
    /// Not run because fail-fast had already stopped the run.
    NotRun,
}

/// Runs the CPU-bound `f` over `inputs` on rayon's thread pool (the one installed, or the
/// global one) and returns the results in input order.
///
/// Policies as in [`FanOut`](crate::FanOut): under [`ErrorPolicy::FailFast`] the items not
/// yet begun when the first failure is seen are not run (items already running on other
/// threads finish); [`ErrorPolicy::CollectAll`] runs everything; [`ErrorPolicy::Skip`]
/// returns only the successes. A panic in `f` is caught and becomes
/// [`ItemError::Panicked`] for that input only.
///
/// # Errors
/// A [`FanOutError`] with every failure by index and every completed result; items not
/// run after a fail-fast stop are listed in `unfinished`.
///
/// ```
/// use tidewater_fan_out::{ErrorPolicy, par_fan_out};
///
/// let squares = par_fan_out(0..1000u32, ErrorPolicy::FailFast, |x| Ok::<_, ()>(x * x));
/// assert_eq!(squares.unwrap()[999], 998_001);
/// ```
pub fn par_fan_out<I, T, R, E, F>(
    inputs: I,
    policy: ErrorPolicy,
    f: F,
) -> Result<Vec<R>, FanOutError<E, R>>
where
    I: IntoParallelIterator<Item = T>,
    I::Iter: IndexedParallelIterator,
    T: Send,
    R: Send,
    E: Send,
    F: Fn(T) -> Result<R, E> + Sync + Send,
{
    let stopped = AtomicBool::new(false);
    let any_failed = AtomicBool::new(false);
    let fail_fast = policy == ErrorPolicy::FailFast;
    let slots: Vec<Slot<R, E>> = inputs
        .into_par_iter()
        .map(|input| {
            if fail_fast && stopped.load(Ordering::Relaxed) {
                return Slot::NotRun;
            }
            let failure = match catch_unwind(AssertUnwindSafe(|| f(input))) {
                Ok(Ok(value)) => return Slot::Done(value),
                Ok(Err(error)) => ItemError::Failed(error),
                Err(payload) => panicked(&*payload),
            };
            any_failed.store(true, Ordering::Relaxed);
            if fail_fast {
                stopped.store(true, Ordering::Relaxed);
            }
            Slot::Failed(failure)
        })
        .collect();
    // The collect above joined every worker, so this load sees every store.
    if !any_failed.load(Ordering::Relaxed) || policy == ErrorPolicy::Skip {
        return Ok(slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Done(value) => Some(value),
                _ => None,
            })
            .collect());
    }
    let pulled = slots.len();
    let mut report = FanOutError {
        stop: None,
        failures: Vec::new(),
        completed: Vec::new(),
        unfinished: Vec::new(),
        pulled,
    };
    for (index, slot) in slots.into_iter().enumerate() {
        match slot {
            Slot::Done(value) => report.completed.push((index, value)),
            Slot::Failed(error) => report.failures.push((index, error)),
            Slot::NotRun => report.unfinished.push(index),
        }
    }
    if fail_fast {
        report.stop = report
            .failures
            .first()
            .map(|(index, _)| Stop::FailFast { index: *index });
    }
    Err(report)
}
