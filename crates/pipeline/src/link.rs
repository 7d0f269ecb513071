//! The two ends of a hand-off queue as the stages hold them: the producer's `Outlet` closes the
//! queue when dropped, the consumer's `Inlet` aborts it when dropped and counts what it dropped.
//! So a stage that stops for any reason (done, abort, failure, panic) releases its neighbours.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::handoff::{Aborted, BatchQueue};
use crate::metrics::StageMetrics;

/// The largest batch a stage takes from its input queue at once.
pub(crate) fn batch_hint(capacity: usize) -> usize {
    (capacity / 2).clamp(1, 512)
}

pub(crate) struct Outlet<T> {
    queue: Arc<BatchQueue<T>>,
}

impl<T> Outlet<T> {
    pub(crate) fn new(queue: Arc<BatchQueue<T>>) -> Self {
        Self { queue }
    }

    pub(crate) fn batch_hint(&self) -> usize {
        batch_hint(self.queue.capacity())
    }

    /// Hands every item of `buf` on, waiting for room (counted as `blocked`). On `Err` the items
    /// not accepted are still in `buf`.
    pub(crate) async fn send(
        &self,
        buf: &mut Vec<T>,
        metrics: &StageMetrics,
    ) -> Result<(), Aborted> {
        let mut waited_since = None;
        let result = poll_fn(|cx| {
            let p = self.queue.poll_push(cx, buf);
            if p.is_pending() && waited_since.is_none() {
                waited_since = Some(Instant::now());
            }
            p
        })
        .await;
        if let Some(t0) = waited_since {
            metrics.add_blocked(t0.elapsed());
        }
        result
    }
}

impl<T> Drop for Outlet<T> {
    fn drop(&mut self) {
        self.queue.close();
    }
}

pub(crate) struct Inlet<T> {
    queue: Arc<BatchQueue<T>>,
    metrics: Arc<StageMetrics>,
    max: usize,
}

impl<T> Inlet<T> {
    pub(crate) fn new(queue: Arc<BatchQueue<T>>, metrics: Arc<StageMetrics>) -> Self {
        let max = batch_hint(queue.capacity());
        Self {
            queue,
            metrics,
            max,
        }
    }

    pub(crate) fn metrics(&self) -> &Arc<StageMetrics> {
        &self.metrics
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Polls for a batch (appended to `out`, counted in `items_in`); `Ready(None)` at the end.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<T>,
    ) -> Poll<Option<usize>> {
        let p = self.queue.poll_pop(cx, self.max, out);
        if let Poll::Ready(Some(n)) = p {
            self.metrics.add_in(n);
        }
        p
    }

    /// Waits for a batch (the wait counts as `idle`); `None` at the end.
    pub(crate) async fn recv(&mut self, out: &mut Vec<T>) -> Option<usize> {
        if let Some(n) = self.queue.try_pop(self.max, out) {
            self.metrics.add_in(n);
            return Some(n);
        }
        let t0 = Instant::now();
        let got = poll_fn(|cx| self.poll_recv(cx, out)).await;
        self.metrics.add_idle(t0.elapsed());
        got
    }
}

impl<T> Drop for Inlet<T> {
    fn drop(&mut self) {
        let left = usize::try_from(self.queue.abort()).unwrap_or(usize::MAX);
        if left > 0 {
            self.metrics.add_in(left);
            self.metrics.add_dropped(left);
        }
    }
}
