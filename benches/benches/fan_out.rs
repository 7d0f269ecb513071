//! tidewater-fan-out against the peers users pick today: futures `buffered` /
//! `buffer_unordered` (one task), tokio `JoinSet` + `Semaphore` (spawned) and rayon
//! `par_iter` (CPU-bound). Same workload for each implementation in a group.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use rayon::prelude::*;
use tidewater_fan_out::{ErrorPolicy, FanOut, par_fan_out};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const ITEMS: u64 = 100_000;
const LIMIT: usize = 64;
const CPU_ITEMS: u64 = 20_000;

fn limit() -> NonZeroUsize {
    NonZeroUsize::new(LIMIT).unwrap_or(NonZeroUsize::MIN)
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().expect("runtime")
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime")
}

fn group<'a>(c: &'a mut Criterion, name: &str, items: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(items));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(200));
    g.measurement_time(Duration::from_secs(1));
    g
}

/// A trivial async item: ready on its first poll.
async fn trivial(i: u64) -> u64 {
    black_box(i).wrapping_mul(2)
}

/// A CPU-bound item: a few hundred nanoseconds of arithmetic.
fn cpu(i: u64) -> u64 {
    let mut x = i | 1;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// One in-task group: tidewater `run` against a futures combinator over the same items.
fn in_task_group<W, WF>(
    c: &mut Criterion,
    name: &str,
    fan: &FanOut,
    work: W,
    peer_name: &str,
    peer: fn(
        futures::stream::Iter<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'static, usize>,
) where
    W: Fn(u64) -> WF + Copy,
    WF: Future<Output = Result<u64, ()>>,
{
    let rt = current_thread();
    let mut g = group(c, name, ITEMS);
    g.bench_function("tidewater", |b| {
        b.iter(|| {
            rt.block_on(async {
                let out = fan.run(0..ITEMS, work).await;
                black_box(out.map(|v| v.len()).unwrap_or(0))
            })
        });
    });
    g.bench_function(peer_name, |b| {
        b.iter(|| rt.block_on(async { black_box(peer(futures::stream::iter(0..ITEMS)).await) }));
    });
    g.finish();
}

fn ordered(c: &mut Criterion) {
    in_task_group(
        c,
        "fan_out/ordered_100k",
        &FanOut::new(limit()),
        |i| async move { Ok(trivial(i).await) },
        "futures_buffered",
        |items| {
            Box::pin(async move {
                let out: Vec<u64> = items.map(trivial).buffered(LIMIT).collect().await;
                out.len()
            })
        },
    );
}

fn unordered(c: &mut Criterion) {
    in_task_group(
        c,
        "fan_out/unordered_100k",
        &FanOut::new(limit()).unordered(),
        |i| async move { Ok(trivial(i).await) },
        "futures_buffer_unordered",
        |items| {
            Box::pin(async move {
                let out: Vec<u64> = items.map(trivial).buffer_unordered(LIMIT).collect().await;
                out.len()
            })
        },
    );
}

/// Items that yield once before answering: every item goes through its waker.
fn yield_once(c: &mut Criterion) {
    async fn item(i: u64) -> u64 {
        tokio::task::yield_now().await;
        trivial(i).await
    }
    in_task_group(
        c,
        "fan_out/yield_once_ordered_100k",
        &FanOut::new(limit()),
        |i| async move { Ok(item(i).await) },
        "futures_buffered",
        |items| {
            Box::pin(async move {
                let out: Vec<u64> = items.map(item).buffered(LIMIT).collect().await;
                out.len()
            })
        },
    );
}

/// Both implementations run inside a runtime task (as in a service), not in `block_on`'s
/// thread, so their spawns take the worker's local queue.
fn spawned(c: &mut Criterion) {
    let rt = multi_thread();
    let mut g = group(c, "fan_out/spawned_100k", ITEMS);
    g.bench_function("tidewater", |b| {
        b.iter(|| {
            let fan = FanOut::new(limit()).unordered().spawned();
            let task = rt.spawn(async move {
                let out = fan
                    .run(0..ITEMS, |i| async move { Ok::<_, ()>(trivial(i).await) })
                    .await;
                out.map(|v| v.len()).unwrap_or(0)
            });
            black_box(rt.block_on(task).unwrap_or(0))
        });
    });
    g.bench_function("tokio_joinset_semaphore", |b| {
        b.iter(|| {
            let task = rt.spawn(async {
                let permits = Arc::new(Semaphore::new(LIMIT));
                let mut set = JoinSet::new();
                let mut out = Vec::with_capacity(ITEMS as usize);
                for i in 0..ITEMS {
                    let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                        break;
                    };
                    set.spawn(async move {
                        let r = trivial(i).await;
                        drop(permit);
                        r
                    });
                    // Reap finished tasks as we go so the set stays O(limit).
                    while let Some(Ok(r)) = set.try_join_next() {
                        out.push(r);
                    }
                }
                while let Some(Ok(r)) = set.join_next().await {
                    out.push(r);
                }
                out.len()
            });
            black_box(rt.block_on(task).unwrap_or(0))
        });
    });
    g.finish();
}

fn cpu_bound(c: &mut Criterion) {
    let inputs: Vec<u64> = (0..CPU_ITEMS).collect();
    let mut g = group(c, "fan_out/cpu_20k", CPU_ITEMS);
    g.bench_function("tidewater", |b| {
        b.iter(|| {
            let out = par_fan_out(&inputs[..], ErrorPolicy::FailFast, |&i| Ok::<_, ()>(cpu(i)));
            black_box(out.map(|v| v.len()).unwrap_or(0))
        });
    });
    g.bench_function("rayon_par_iter", |b| {
        b.iter(|| {
            let out: Vec<u64> = inputs.par_iter().map(|&i| cpu(i)).collect();
            black_box(out.len())
        });
    });
    g.finish();
}

criterion_group!(benches, ordered, unordered, yield_once, spawned, cpu_bound);
criterion_main!(benches);
