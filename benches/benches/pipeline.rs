//! Pipelines: tidewater-pipeline against a hand-written chain of tokio tasks joined by
//! `mpsc(1024)` channels and against a single-task `futures` stream chain.
//!
//! `pipeline/three_stages`: 100,000 items through 3 trivial async stages into a `Vec`.
//! `pipeline/cpu_blocking`: a CPU-heavy `map_blocking` stage at concurrency 1 and 2.
#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tidewater_pipeline::Pipeline;
use tokio::sync::mpsc;

const ITEMS: u64 = 100_000;

async fn step(x: u64) -> u64 {
    black_box(x) + 1
}

async fn tidewater(concurrency: usize) -> Vec<u64> {
    let (out, _report) = Pipeline::from_iter(0..ITEMS)
        .map(concurrency, step)
        .map(concurrency, step)
        .map(concurrency, step)
        .collect()
        .await
        .expect("pipeline runs");
    out
}

/// What people write by hand: one task per stage, joined by bounded channels.
async fn hand_mpsc() -> Vec<u64> {
    let (tx0, mut rx0) = mpsc::channel::<u64>(1024);
    let (tx1, mut rx1) = mpsc::channel::<u64>(1024);
    let (tx2, mut rx2) = mpsc::channel::<u64>(1024);
    let (tx3, mut rx3) = mpsc::channel::<u64>(1024);
    let source = tokio::spawn(async move {
        for x in 0..ITEMS {
            if tx0.send(x).await.is_err() {
                break;
            }
        }
    });
    let s1 = tokio::spawn(async move {
        while let Some(x) = rx0.recv().await {
            if tx1.send(step(x).await).await.is_err() {
                break;
            }
        }
    });
    let s2 = tokio::spawn(async move {
        while let Some(x) = rx1.recv().await {
            if tx2.send(step(x).await).await.is_err() {
                break;
            }
        }
    });
    let s3 = tokio::spawn(async move {
        while let Some(x) = rx2.recv().await {
            if tx3.send(step(x).await).await.is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    while let Some(x) = rx3.recv().await {
        out.push(x);
    }
    for t in [source, s1, s2, s3] {
        t.await.expect("stage task");
    }
    out
}

/// One task: lazy stream combinators, 16 in flight per stage.
async fn futures_chain() -> Vec<u64> {
    futures::stream::iter(0..ITEMS)
        .map(step)
        .buffered(16)
        .map(step)
        .buffered(16)
        .map(step)
        .buffered(16)
        .collect()
        .await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn three_stages(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("pipeline/three_stages");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("tidewater", |b| {
        b.iter(|| assert_eq!(rt.block_on(tidewater(1)).len(), 100_000));
    });
    g.bench_function("tidewater_c16", |b| {
        b.iter(|| assert_eq!(rt.block_on(tidewater(16)).len(), 100_000));
    });
    g.bench_function("hand_mpsc_1024", |b| {
        b.iter(|| assert_eq!(rt.block_on(hand_mpsc()).len(), 100_000));
    });
    g.bench_function("futures_chain", |b| {
        b.iter(|| assert_eq!(rt.block_on(futures_chain()).len(), 100_000));
    });
    g.finish();
}

/// About 20 µs of arithmetic that the optimizer cannot skip.
fn heavy(x: u64) -> u64 {
    let mut h = black_box(x) | 1;
    for _ in 0..8_000 {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
    }
    h
}

const CPU_ITEMS: u64 = 2_000;

fn cpu_blocking(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("pipeline/cpu_blocking");
    g.throughput(Throughput::Elements(CPU_ITEMS));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    for concurrency in [1usize, 2] {
        g.bench_function(format!("tidewater_c{concurrency}"), |b| {
            b.iter(|| {
                let (out, _) = rt
                    .block_on(
                        Pipeline::from_iter(0..CPU_ITEMS)
                            .map_blocking(concurrency, heavy)
                            .collect(),
                    )
                    .expect("pipeline runs");
                assert_eq!(out.len() as u64, CPU_ITEMS);
            });
        });
    }
    g.bench_function("futures_chain", |b| {
        b.iter(|| {
            let out: Vec<u64> =
                rt.block_on(futures::stream::iter(0..CPU_ITEMS).map(heavy).collect());
            assert_eq!(out.len() as u64, CPU_ITEMS);
        });
    });
    g.finish();
}

criterion_group!(benches, three_stages, cpu_blocking);
criterion_main!(benches);
