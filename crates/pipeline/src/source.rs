//! Source stages: pull from an iterator, a stream or a tokio channel into the first queue.
//!
//! A source stops early when the run is aborted, or when the drain token fires: it then closes
//! its queue so everything already inside drains through.

use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::task::Poll;

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::link::Outlet;
use crate::run::StageCtx;

impl StageCtx {
    /// `true` if the source should stop taking items (drain or abort).
    fn source_should_stop(&self) -> bool {
        if self.ctrl.is_aborted() {
            return true;
        }
        let drained = self
            .ctrl
            .drain
            .as_ref()
            .is_some_and(tokio_util::sync::CancellationToken::is_cancelled);
        if drained {
            self.ctrl.drained.store(true, Ordering::Relaxed);
        }
        drained
    }

    /// A panic while taking the next item: that item counts as taken in and failed.
    fn source_panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.metrics.add_in(1);
        self.panicked(payload);
    }

    /// Hands a batch the source took on; `false` if the pipeline is gone.
    async fn hand_on<T>(&self, out: &Outlet<T>, buf: &mut Vec<T>) -> bool {
        let n = buf.len();
        self.metrics.add_in(n);
        let result = out.send(buf, &self.metrics).await;
        let left = buf.len();
        self.metrics.add_out(n - left, n - left);
        if result.is_err() {
            self.metrics.add_dropped(left);
            buf.clear();
            return false;
        }
        true
    }
}

pub(crate) async fn from_iter<I: Iterator>(mut iter: I, out: Outlet<I::Item>, ctx: StageCtx) {
    let batch = out.batch_hint();
    let mut buf = Vec::with_capacity(batch);
    loop {
        if ctx.source_should_stop() {
            return;
        }
        if let Err(payload) =
            catch_unwind(AssertUnwindSafe(|| buf.extend(iter.by_ref().take(batch))))
        {
            // Items taken before the panic still go through.
            ctx.hand_on(&out, &mut buf).await;
            ctx.source_panicked(&*payload);
            return;
        }
        let exhausted = buf.len() < batch;
        if buf.is_empty() || !ctx.hand_on(&out, &mut buf).await || exhausted {
            return;
        }
        tokio::task::consume_budget().await;
    }
}

enum Pulled {
    More,
    End,
    Stop,
}

pub(crate) async fn from_stream<S: Stream>(stream: S, out: Outlet<S::Item>, ctx: StageCtx) {
    let batch = out.batch_hint();
    let mut buf = Vec::with_capacity(batch);
    let mut stream = pin!(stream);
    let abort = ctx.ctrl.abort.clone();
    let mut aborted = pin!(abort.cancelled());
    let drain = ctx.ctrl.drain.clone().unwrap_or_default();
    let mut drained = pin!(drain.cancelled());
    loop {
        if ctx.source_should_stop() {
            return;
        }
        let mut idle_since: Option<Instant> = None;
        let pulled = poll_fn(|cx| {
            while buf.len() < batch {
                let next = catch_unwind(AssertUnwindSafe(|| stream.as_mut().poll_next(cx)));
                match next {
                    Ok(Poll::Ready(Some(item))) => buf.push(item),
                    Ok(Poll::Ready(None)) => return Poll::Ready(Ok(Pulled::End)),
                    Ok(Poll::Pending) if buf.is_empty() => {
                        let stop = aborted.as_mut().poll(cx).is_ready()
                            || drained.as_mut().poll(cx).is_ready();
                        if stop {
                            return Poll::Ready(Ok(Pulled::Stop));
                        }
                        idle_since.get_or_insert_with(Instant::now);
                        return Poll::Pending;
                    }
                    Ok(Poll::Pending) => break,
                    Err(payload) => return Poll::Ready(Err(payload)),
                }
            }
            Poll::Ready(Ok(Pulled::More))
        })
        .await;
        if let Some(t0) = idle_since {
            ctx.metrics.add_idle(t0.elapsed());
        }
        let carry_on = ctx.hand_on(&out, &mut buf).await;
        match pulled {
            Ok(Pulled::More) if carry_on => tokio::task::consume_budget().await,
            Ok(Pulled::Stop) => {
                ctx.source_should_stop();
                return;
            }
            Ok(_) => return,
            Err(payload) => return ctx.source_panicked(&*payload),
        }
    }
}

pub(crate) async fn from_receiver<T>(mut rx: mpsc::Receiver<T>, out: Outlet<T>, ctx: StageCtx) {
    let batch = out.batch_hint();
    let mut buf = Vec::with_capacity(batch);
    let abort = ctx.ctrl.abort.clone();
    let mut aborted = pin!(abort.cancelled());
    let drain = ctx.ctrl.drain.clone().unwrap_or_default();
    let mut drained = pin!(drain.cancelled());
    let mut closing = false;
    loop {
        if ctx.ctrl.is_aborted() {
            return;
        }
        if !closing && ctx.source_should_stop() {
            // Senders now get an error; what they already sent is drained in.
            rx.close();
            closing = true;
        }
        let mut idle_since: Option<Instant> = None;
        let got = poll_fn(|cx| match rx.poll_recv_many(cx, &mut buf, batch) {
            Poll::Ready(n) => Poll::Ready(Some(n)),
            Poll::Pending if aborted.as_mut().poll(cx).is_ready() => Poll::Ready(None),
            Poll::Pending if !closing && drained.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Some(usize::MAX))
            }
            Poll::Pending => {
                idle_since.get_or_insert_with(Instant::now);
                Poll::Pending
            }
        })
        .await;
        if let Some(t0) = idle_since {
            ctx.metrics.add_idle(t0.elapsed());
        }
        match got {
            None | Some(0) => return,
            Some(usize::MAX) => {}
            Some(_) => {
                if !ctx.hand_on(&out, &mut buf).await {
                    return;
                }
                tokio::task::consume_budget().await;
            }
        }
    }
}
