//! tidewater-shutdown vs tokio-util's `CancellationToken` and `TaskTracker`, same workloads.
//!
//! `cargo bench -p tidewater-benches --bench shutdown -- --quick`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_shutdown::{Reason, Shutdown, Signals};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const CHECKS: u64 = 1_000;
const SPAWNS: u64 = 100_000;
const WAITERS: usize = 10_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn quiet() -> Shutdown {
    Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .build()
        .expect("no signals: cannot fail")
}

/// The hot check inside a worker loop: lock-free load vs tokio-util's mutex.
fn is_triggered(c: &mut Criterion) {
    let mut group = c.benchmark_group("shutdown/is_triggered");
    group.throughput(Throughput::Elements(CHECKS));
    let shutdown = Shutdown::new();
    let signal = shutdown.signal();
    group.bench_function("tidewater", |b| {
        b.iter(|| {
            let mut hits = 0_u32;
            for _ in 0..CHECKS {
                hits += u32::from(black_box(&signal).is_triggered());
            }
            hits
        });
    });
    let token = CancellationToken::new();
    group.bench_function("tokio_util", |b| {
        b.iter(|| {
            let mut hits = 0_u32;
            for _ in 0..CHECKS {
                hits += u32::from(black_box(&token).is_cancelled());
            }
            hits
        });
    });
    group.finish();
}

/// Spawn 100,000 trivial tracked tasks and wait until all completed.
fn spawn_complete(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("shutdown/spawn_complete_100k");
    group.throughput(Throughput::Elements(SPAWNS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("tidewater", |b| {
        b.iter(|| {
            rt.block_on(async {
                let shutdown = quiet();
                for _ in 0..SPAWNS {
                    shutdown
                        .spawn("trivial", |_signal| async {})
                        .expect("open scope");
                }
                shutdown.root().idle().await;
            });
        });
    });
    group.bench_function("tokio_util_task_tracker", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tracker = TaskTracker::new();
                for _ in 0..SPAWNS {
                    tracker.spawn(async {});
                }
                tracker.close();
                tracker.wait().await;
            });
        });
    });
    group.finish();
}

/// 10,000 tasks parked on the signal; time from the trigger until every one has finished.
fn trigger_waiters(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("shutdown/trigger_10k_waiters");
    group.throughput(Throughput::Elements(WAITERS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    let parked = |count: &Arc<AtomicUsize>| {
        let count = Arc::clone(count);
        async move {
            while count.load(Ordering::Acquire) < WAITERS {
                tokio::task::yield_now().await;
            }
        }
    };
    group.bench_function("tidewater", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let shutdown = quiet();
                    let count = Arc::new(AtomicUsize::new(0));
                    for _ in 0..WAITERS {
                        let count = Arc::clone(&count);
                        shutdown
                            .spawn("waiter", move |signal| async move {
                                let cancelled = signal.cancelled();
                                count.fetch_add(1, Ordering::Release);
                                cancelled.await;
                            })
                            .expect("open scope");
                    }
                    parked(&count).await;
                    let start = Instant::now();
                    shutdown.trigger(Reason::requested("bench"));
                    black_box(shutdown.wait().await);
                    start.elapsed()
                });
            }
            total
        });
    });
    group.bench_function("tokio_util", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let token = CancellationToken::new();
                    let tracker = TaskTracker::new();
                    let count = Arc::new(AtomicUsize::new(0));
                    for _ in 0..WAITERS {
                        let count = Arc::clone(&count);
                        let token = token.clone();
                        tracker.spawn(async move {
                            let cancelled = token.cancelled();
                            count.fetch_add(1, Ordering::Release);
                            cancelled.await;
                        });
                    }
                    parked(&count).await;
                    let start = Instant::now();
                    token.cancel();
                    tracker.close();
                    tracker.wait().await;
                    start.elapsed()
                });
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, is_triggered, spawn_complete, trigger_waiters);
criterion_main!(benches);
