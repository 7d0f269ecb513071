//! `batch(max_items, max_wait)`: groups items into `Vec`s of at most `max_items`, flushing a
//! partial batch `max_wait` after its first item arrived, even if no more input comes.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::link::{Inlet, Outlet};
use crate::run::StageCtx;

enum Step {
    Flush,
    Done,
}

pub(crate) async fn run<T>(
    mut inlet: Inlet<T>,
    outlet: Outlet<Vec<T>>,
    ctx: StageCtx,
    max_items: usize,
    max_wait: Duration,
) {
    let m = &*ctx.metrics;
    let hint = outlet.batch_hint();
    let mut staged: VecDeque<T> = VecDeque::new();
    let mut staging: Vec<T> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut input_done = false;
    // The deadline of `current`; `None` while it is empty (or if `max_wait` is too far away to
    // represent, in which case only size and end of input flush).
    let mut deadline: Option<Instant> = None;
    let mut timer = pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        // Every wait here is for input (or the timer while input is missing): idle time.
        let mut idle_since: Option<Instant> = None;
        let mut pulls = 0u32;
        let step = poll_fn(|cx| {
            loop {
                while let Some(item) = staged.pop_front() {
                    if current.is_empty() {
                        deadline = Instant::now().checked_add(max_wait);
                        if let Some(at) = deadline {
                            Sleep::reset(timer.as_mut(), at);
                        }
                    }
                    current.push(item);
                    if current.len() >= max_items {
                        out.push(std::mem::replace(
                            &mut current,
                            Vec::with_capacity(max_items.min(1024)),
                        ));
                        deadline = None;
                    }
                }
                // Hand full batches on once they hold about a queue batch of items.
                if out.len().saturating_mul(max_items) >= hint {
                    return Poll::Ready(Step::Flush);
                }
                if !input_done {
                    match inlet.poll_recv(cx, &mut staging) {
                        Poll::Ready(Some(_)) => {
                            staged.extend(staging.drain(..));
                            pulls += 1;
                            if pulls >= 8 {
                                return Poll::Ready(Step::Flush);
                            }
                            continue;
                        }
                        Poll::Ready(None) => input_done = true,
                        Poll::Pending => {}
                    }
                }
                if input_done {
                    if !current.is_empty() {
                        out.push(std::mem::take(&mut current));
                    }
                    return Poll::Ready(Step::Done);
                }
                if deadline.is_some() && timer.as_mut().poll(cx).is_ready() {
                    out.push(std::mem::take(&mut current));
                    deadline = None;
                }
                if !out.is_empty() {
                    return Poll::Ready(Step::Flush);
                }
                idle_since.get_or_insert_with(Instant::now);
                return Poll::Pending;
            }
        })
        .await;
        if let Some(t0) = idle_since {
            m.add_idle(t0.elapsed());
        }
        if ctx.ctrl.is_aborted() {
            m.add_dropped(staged.len() + current.len() + out.iter().map(Vec::len).sum::<usize>());
            return;
        }
        let items: usize = out.iter().map(Vec::len).sum();
        let batches = out.len();
        let sent = outlet.send(&mut out, m).await;
        let left: usize = out.iter().map(Vec::len).sum();
        m.add_out(items - left, batches - out.len());
        if sent.is_err() {
            m.add_dropped(left + staged.len() + current.len());
            return;
        }
        if matches!(step, Step::Done) {
            return;
        }
        tokio::task::consume_budget().await;
    }
}
