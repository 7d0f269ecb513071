//! tidewater-event-bus against `tokio::sync::broadcast` and `async-broadcast`.
//!
//! - `event_bus/lossless_1p4s`: 1 publisher, 4 subscribers, u64 events, capacity 1024, nothing
//!   may be lost: tidewater `Overflow::Block` + `publish_async` vs async-broadcast (publisher
//!   awaits `broadcast_direct`).
//! - `event_bus/lag_1p4s`: same shape, publisher never waits, slow subscribers lag:
//!   tidewater `Overflow::Lag` vs tokio broadcast. Throughput is in published events; how many
//!   each implementation actually delivered is printed per benchmark (`delivered ...`, summed over
//!   [`REPORT_RUNS`] runs after the measurement).
//! - `event_bus/drain_{1,16,64}`: one thread publishes 256 events then drains every
//!   subscriber (the tokio PR #8357 shape); throughput in deliveries. `tidewater` uses
//!   `try_recv` like tokio; `tidewater_try_recv_with` visits events in place (no per-event
//!   reference counting), the fastest way to drain.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tidewater_event_bus::{Overflow, Start, SubscribeOptions, Topic, TopicOptions};

const CAPACITY: usize = 1024;
const SUBSCRIBERS: usize = 4;

fn events() -> u64 {
    // `cargo test --benches` runs every bench once: keep that smoke run short.
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime for benchmarks")
}

fn topic() -> Topic<u64> {
    Topic::new("bench", TopicOptions { capacity: CAPACITY }).expect("valid capacity")
}

fn tidewater_lossless(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async {
        let topic = topic();
        let options = SubscribeOptions {
            capacity: CAPACITY,
            overflow: Overflow::Block,
            start: Start::Now,
        };
        let tasks: Vec<_> = (0..SUBSCRIBERS)
            .map(|_| {
                let mut sub = topic.subscribe_with(options).expect("valid options");
                tokio::spawn(async move {
                    let (mut got, mut sum) = (0u64, 0u64);
                    while let Ok(event) = sub.recv().await {
                        got += 1;
                        sum = sum.wrapping_add(*event);
                    }
                    black_box(sum);
                    got
                })
            })
            .collect();
        for i in 0..n {
            topic.publish_async(i).await.expect("open topic");
        }
        drop(topic);
        let mut total = 0;
        for t in tasks {
            let got = t.await.expect("subscriber task");
            assert_eq!(got, n, "lossless subscriber missed events");
            total += got;
        }
        total
    })
}

fn async_broadcast_lossless(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async {
        let (tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
        let tasks: Vec<_> = (0..SUBSCRIBERS)
            .map(|_| {
                let mut rx = rx.new_receiver();
                tokio::spawn(async move {
                    let (mut got, mut sum) = (0u64, 0u64);
                    while let Ok(v) = rx.recv_direct().await {
                        got += 1;
                        sum = sum.wrapping_add(v);
                    }
                    black_box(sum);
                    got
                })
            })
            .collect();
        drop(rx);
        for i in 0..n {
            tx.broadcast_direct(i).await.expect("open channel");
        }
        drop(tx);
        let mut total = 0;
        for t in tasks {
            let got = t.await.expect("subscriber task");
            assert_eq!(got, n, "lossless receiver missed events");
            total += got;
        }
        total
    })
}

fn tidewater_lag(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(async {
        let topic = topic();
        let tasks: Vec<_> = (0..SUBSCRIBERS)
            .map(|_| {
                let mut sub = topic.subscribe();
                tokio::spawn(async move {
                    let mut got = 0u64;
                    loop {
                        match sub.recv().await {
                            Ok(event) => {
                                got += 1;
                                black_box(*event);
                            }
                            Err(tidewater_event_bus::RecvError::Lagged { .. }) => {}
                            Err(tidewater_event_bus::RecvError::Closed) => break got,
                        }
                    }
                })
            })
            .collect();
        for i in 0..n {
            topic.publish(i);
        }
        drop(topic);
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("subscriber task");
        }
        total
    })
}

fn tokio_lag(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    use tokio::sync::broadcast::error::RecvError;
    rt.block_on(async {
        let (tx, _) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let tasks: Vec<_> = (0..SUBSCRIBERS)
            .map(|_| {
                let mut rx = tx.subscribe();
                tokio::spawn(async move {
                    let mut got = 0u64;
                    loop {
                        match rx.recv().await {
                            Ok(v) => {
                                got += 1;
                                black_box(v);
                            }
                            Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => break got,
                        }
                    }
                })
            })
            .collect();
        for i in 0..n {
            let _ = tx.send(i);
        }
        drop(tx);
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("subscriber task");
        }
        total
    })
}

/// Runs `f` `iters` times; returns the total time and the total deliveries.
fn timed(iters: u64, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let mut total = Duration::ZERO;
    let mut delivered = 0;
    for _ in 0..iters {
        let start = Instant::now();
        delivered += f();
        total += start.elapsed();
    }
    (total, delivered)
}

/// Runs of the lag workload behind each printed `delivered` line: how much a lagging
/// subscriber gets depends on how the scheduler shares the cores between it and the
/// publisher, so one run on a shared machine swings several-fold either way.
const REPORT_RUNS: u64 = 10;

fn lossless(c: &mut Criterion) {
    let rt = runtime();
    let n = events();
    let mut group = c.benchmark_group("event_bus/lossless_1p4s");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(n * SUBSCRIBERS as u64));
    group.bench_function("tidewater", |b| {
        b.iter_custom(|iters| timed(iters, || tidewater_lossless(&rt, n)).0);
    });
    group.bench_function("async_broadcast", |b| {
        b.iter_custom(|iters| timed(iters, || async_broadcast_lossless(&rt, n)).0);
    });
    group.finish();
}

fn lag(c: &mut Criterion) {
    let rt = runtime();
    let n = events();
    let mut group = c.benchmark_group("event_bus/lag_1p4s");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(n));
    let report = |name: &str, (time, delivered): (Duration, u64)| {
        eprintln!(
            "event_bus/lag_1p4s/{name}: delivered {delivered} of {} in {:.1} ms ({:.2}M delivered/s, {REPORT_RUNS} runs)",
            n * SUBSCRIBERS as u64 * REPORT_RUNS,
            time.as_secs_f64() * 1e3,
            delivered as f64 / time.as_secs_f64() / 1e6
        );
    };
    group.bench_function("tidewater", |b| {
        b.iter_custom(|iters| timed(iters, || tidewater_lag(&rt, n)).0);
    });
    report("tidewater", timed(REPORT_RUNS, || tidewater_lag(&rt, n)));
    group.bench_function("tokio_broadcast", |b| {
        b.iter_custom(|iters| timed(iters, || tokio_lag(&rt, n)).0);
    });
    report("tokio_broadcast", timed(REPORT_RUNS, || tokio_lag(&rt, n)));
    group.finish();
}

const BURST: u64 = 256;

fn drain(c: &mut Criterion) {
    for subscribers in [1usize, 16, 64] {
        let mut group = c.benchmark_group(format!("event_bus/drain_{subscribers}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(300));
        group.throughput(Throughput::Elements(BURST * subscribers as u64));

        let topic = topic();
        let mut subs: Vec<_> = (0..subscribers).map(|_| topic.subscribe()).collect();
        group.bench_function(BenchmarkId::from_parameter("tidewater"), |b| {
            b.iter(|| {
                for i in 0..BURST {
                    topic.publish(i);
                }
                for sub in &mut subs {
                    while let Ok(event) = sub.try_recv() {
                        black_box(event);
                    }
                }
            });
        });

        let topic = self::topic();
        let mut subs: Vec<_> = (0..subscribers).map(|_| topic.subscribe()).collect();
        group.bench_function(
            BenchmarkId::from_parameter("tidewater_try_recv_with"),
            |b| {
                b.iter(|| {
                    for i in 0..BURST {
                        topic.publish(i);
                    }
                    for sub in &mut subs {
                        let mut sum = 0u64;
                        let _ = sub.try_recv_with(usize::MAX, |_, v| sum = sum.wrapping_add(*v));
                        black_box(sum);
                    }
                });
            },
        );

        let (tx, _) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let mut rxs: Vec<_> = (0..subscribers).map(|_| tx.subscribe()).collect();
        group.bench_function(BenchmarkId::from_parameter("tokio_broadcast"), |b| {
            b.iter(|| {
                for i in 0..BURST {
                    let _ = tx.send(i);
                }
                for rx in &mut rxs {
                    while let Ok(v) = rx.try_recv() {
                        black_box(v);
                    }
                }
            });
        });
        group.finish();
    }
}

#[allow(missing_docs)] // generated by criterion's macro
mod group {
    criterion::criterion_group!(benches, super::drain, super::lossless, super::lag);
}
criterion_main!(group::benches);
