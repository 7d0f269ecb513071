//! Stages with a synchronous function per item: `filter`, `filter_map`, `flat_map`, `inspect`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::link::{Inlet, Outlet};
use crate::run::StageCtx;

/// Runs `f` on every item. `f` pushes the item's outputs to the buffer it is given and returns
/// `false` if it filtered the item out. `expanding` stages (`flat_map`) may push any number of
/// outputs per item, so the stage tracks which item each output belongs to.
pub(crate) async fn run<T, U, F>(
    mut inlet: Inlet<T>,
    outlet: Outlet<U>,
    ctx: StageCtx,
    expanding: bool,
    mut f: F,
) where
    F: FnMut(T, &mut Vec<U>) -> bool,
{
    let m = &ctx.metrics;
    let mut input = Vec::with_capacity(inlet.max());
    let mut out = Vec::new();
    // For expanding stages: after item k passed, `ends[k]` = how many outputs were buffered.
    let mut ends: Vec<usize> = Vec::new();
    while inlet.recv(&mut input).await.is_some() {
        if ctx.ctrl.is_aborted() {
            m.add_dropped(input.len());
            return;
        }
        let mut items = input.drain(..);
        let mut passed = 0;
        let mut filtered = 0;
        let mut panic = None;
        for item in items.by_ref() {
            match catch_unwind(AssertUnwindSafe(|| f(item, &mut out))) {
                Ok(true) => {
                    passed += 1;
                    if expanding {
                        ends.push(out.len());
                    }
                }
                Ok(false) => filtered += 1,
                Err(payload) => {
                    panic = Some(payload);
                    break;
                }
            }
        }
        let unprocessed = items.len();
        drop(items);
        m.add_filtered(filtered);
        if let Some(payload) = panic {
            m.add_dropped(unprocessed + passed);
            ctx.panicked(&*payload);
            return;
        }
        let emitted = out.len();
        let sent = outlet.send(&mut out, m).await;
        let accepted = emitted - out.len();
        let done = if expanding {
            ends.partition_point(|&end| end <= accepted)
        } else {
            accepted
        };
        ends.clear();
        m.add_out(done, accepted);
        if sent.is_err() {
            m.add_dropped(passed - done);
            return;
        }
        tokio::task::consume_budget().await;
    }
}
