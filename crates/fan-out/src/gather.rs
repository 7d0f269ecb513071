//! Scatter/gather over alternatives: the first success, the first `k` successes, and a
//! hedged request.

use std::fmt;
use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;

use crate::config::ErrorPolicy;
use crate::engine::poll_isolated;
use crate::error::ItemError;
use crate::fan_out::FanOut;

/// Fewer successes than needed: what succeeded and every failure, by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEnough<T, E> {
    /// How many successes were needed.
    pub needed: usize,
    /// The successes that did arrive, with their positions.
    pub succeeded: Vec<(usize, T)>,
    /// Every failure (error, panic), with its position.
    pub failures: Vec<(usize, ItemError<E>)>,
}

impl<T, E: fmt::Display> fmt::Display for NotEnough<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needed {} successes, got {} ({} failed)",
            self.needed,
            self.succeeded.len(),
            self.failures.len()
        )?;
        if let Some((i, e)) = self.failures.first() {
            write!(f, "; first failure: #{i} {e}")?;
        }
        Ok(())
    }
}

impl<T: fmt::Debug, E: fmt::Debug + fmt::Display> std::error::Error for NotEnough<T, E> {}

/// Runs all `futures` at once and returns the first success; the others are dropped
/// (cancelled) at that moment. Panics count as failures.
///
/// # Errors
/// [`NotEnough`] with every failure when none succeeds (also when `futures` is empty).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_fan_out::first_ok;
///
/// let replicas = [Err("down"), Ok("replica 1"), Ok("replica 2")]
///     .map(|answer| async move { answer });
/// assert_eq!(first_ok(replicas).await.unwrap(), "replica 1");
/// # }
/// ```
pub async fn first_ok<I, Fut, T, E>(futures: I) -> Result<T, NotEnough<T, E>>
where
    I: IntoIterator<Item = Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    let mut winners = quorum(1, futures).await?;
    match winners.pop() {
        Some((_, value)) => Ok(value),
        // `quorum(1, ..)` returns exactly one success or an error.
        None => Err(NotEnough {
            needed: 1,
            succeeded: Vec::new(),
            failures: Vec::new(),
        }),
    }
}

/// Runs all `futures` at once and returns the first `k` successes (with their positions,
/// in completion order) as soon as they are in; the rest are dropped. Gives up as soon as
/// too many have failed for `k` to be reachable.
///
/// # Errors
/// [`NotEnough`] when fewer than `k` succeed (immediately, without running anything, when
/// `k` exceeds the number of futures).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_fan_out::quorum;
///
/// let votes = [Ok(1), Err("no"), Ok(3), Ok(4)].map(|v| async move { v });
/// let got = quorum(2, votes).await.unwrap();
/// assert_eq!(got, vec![(0, 1), (2, 3)]);
/// # }
/// ```
pub async fn quorum<I, Fut, T, E>(k: usize, futures: I) -> Result<Vec<(usize, T)>, NotEnough<T, E>>
where
    I: IntoIterator<Item = Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    let futures: Vec<Fut> = futures.into_iter().collect();
    let n = futures.len();
    let mut succeeded = Vec::new();
    let mut failures = Vec::new();
    if k == 0 {
        return Ok(succeeded);
    }
    let Some(limit) = NonZeroUsize::new(n).filter(|_| k <= n) else {
        return Err(NotEnough {
            needed: k,
            succeeded,
            failures,
        });
    };
    let mut outcomes = FanOut::new(limit)
        .unordered()
        .error_policy(ErrorPolicy::CollectAll)
        .stream(futures, |fut| fut);
    while let Some((index, outcome)) = poll_fn(|cx| Pin::new(&mut outcomes).poll_next(cx)).await {
        match outcome {
            Ok(value) => {
                succeeded.push((index, value));
                if succeeded.len() == k {
                    return Ok(succeeded);
                }
            }
            Err(error) => {
                failures.push((index, error));
                if failures.len() > n - k {
                    break;
                }
            }
        }
    }
    Err(NotEnough {
        needed: k,
        succeeded,
        failures,
    })
}

/// A hedged request: starts `make_attempt()`, and if it has not succeeded after `delay`
/// (or fails earlier), starts a second attempt; the first success wins and the other
/// attempt is dropped. Needs a tokio runtime with its timer enabled.
///
/// # Errors
/// [`NotEnough`] with both failures (positions 0 and 1) when both attempts fail.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use tidewater_fan_out::hedged;
///
/// let mut calls = 0;
/// let answer = hedged(Duration::from_millis(50), || {
///     calls += 1;
///     let slow = calls == 1; // the first attempt hangs on a bad replica
///     async move {
///         if slow { tokio::time::sleep(Duration::from_secs(60)).await; }
///         Ok::<_, ()>(if slow { "first" } else { "backup" })
///     }
/// })
/// .await;
/// assert_eq!(answer.unwrap(), "backup");
/// # }
/// ```
pub async fn hedged<M, Fut, T, E>(
    delay: Duration,
    mut make_attempt: M,
) -> Result<T, NotEnough<T, E>>
where
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempts: [Pin<Box<Option<Fut>>>; 2] = [Box::pin(Some(make_attempt())), Box::pin(None)];
    let mut started = 1;
    let mut failures = Vec::new();
    let mut timer = Box::pin(tokio::time::sleep(delay));
    poll_fn(|cx| {
        loop {
            let backup_due =
                started == 1 && (!failures.is_empty() || timer.as_mut().poll(cx).is_ready());
            if backup_due {
                attempts[1].set(Some(make_attempt()));
                started = 2;
            }
            for (position, attempt) in attempts.iter_mut().enumerate() {
                let Some(fut) = attempt.as_mut().as_pin_mut() else {
                    continue;
                };
                if let Poll::Ready(outcome) = poll_isolated(fut, cx) {
                    attempt.set(None);
                    match outcome {
                        Ok(value) => return Poll::Ready(Ok(value)),
                        Err(error) => failures.push((position, error)),
                    }
                }
            }
            if failures.len() == 2 {
                return Poll::Ready(Err(NotEnough {
                    needed: 1,
                    succeeded: Vec::new(),
                    failures: std::mem::take(&mut failures),
                }));
            }
            // A first failure before the delay starts the backup at once.
            if started == 2 || failures.is_empty() {
                return Poll::Pending;
            }
        }
    })
    .await
}
