//! The crate's own hot paths: the hand-off queue, and one stage of each engine.
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_pipeline::Pipeline;
use tidewater_pipeline::handoff::BatchQueue;

const ITEMS: u64 = 100_000;

fn handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("handoff");
    g.throughput(Throughput::Elements(256));
    g.bench_function("push_pop_batch_256", |b| {
        let q = BatchQueue::new(1024);
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf: Vec<u64> = Vec::with_capacity(256);
        let mut out: Vec<u64> = Vec::with_capacity(256);
        b.iter(|| {
            buf.extend(0..256);
            let _ = q.poll_push(&mut cx, &mut buf);
            let _ = q.poll_pop(&mut cx, 256, &mut out);
            black_box(out.len());
            out.clear();
        });
    });
    g.finish();
}

fn one_stage(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("one_stage");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("filter", |b| {
        b.iter(|| {
            rt.block_on(
                Pipeline::from_iter(0..ITEMS)
                    .filter(|x| !x.is_multiple_of(3))
                    .collect(),
            )
            .map(|(v, _)| v.len())
        });
    });
    g.bench_function("map_c1", |b| {
        b.iter(|| {
            rt.block_on(
                Pipeline::from_iter(0..ITEMS)
                    .map(1, |x| async move { x + 1 })
                    .collect(),
            )
            .map(|(v, _)| v.len())
        });
    });
    g.bench_function("map_c16", |b| {
        b.iter(|| {
            rt.block_on(
                Pipeline::from_iter(0..ITEMS)
                    .map(16, |x| async move { x + 1 })
                    .collect(),
            )
            .map(|(v, _)| v.len())
        });
    });
    g.bench_function("map_blocking_c2", |b| {
        b.iter(|| {
            rt.block_on(
                Pipeline::from_iter(0..ITEMS)
                    .map_blocking(2, |x| x + 1)
                    .collect(),
            )
            .map(|(v, _)| v.len())
        });
    });
    g.finish();
}

criterion_group!(benches, handoff, one_stage);
criterion_main!(benches);
