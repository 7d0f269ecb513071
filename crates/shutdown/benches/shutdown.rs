//! The crate's own hot paths: the signal check, guards, scopes, tracked spawn.
//!
//! `cargo bench -p tidewater-shutdown --bench shutdown -- --quick`
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_shutdown::{Shutdown, Signals};

fn quiet() -> Shutdown {
    Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .build()
        .expect("no signals: cannot fail")
}

fn hot_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("shutdown_hot");
    group.throughput(Throughput::Elements(1));
    let shutdown = quiet();
    let signal = shutdown.signal();
    group.bench_function("is_triggered", |b| {
        b.iter(|| black_box(&signal).is_triggered());
    });
    group.bench_function("shutdown_is_triggered", |b| {
        b.iter(|| black_box(&shutdown).is_triggered());
    });
    group.bench_function("guard_create_drop", |b| {
        b.iter(|| drop(black_box(shutdown.guard("request"))));
    });
    group.bench_function("signal_token_child", |b| {
        b.iter(|| black_box(signal.token()));
    });
    group.finish();
}

fn spawn(c: &mut Criterion) {
    const TASKS: u64 = 10_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("shutdown_spawn");
    group.throughput(Throughput::Elements(TASKS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("spawn_complete_10k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let shutdown = quiet();
                for _ in 0..TASKS {
                    shutdown.spawn("t", |_s| async {}).expect("open");
                }
                shutdown.root().idle().await;
            });
        });
    });
    group.finish();
}

criterion_group!(benches, hot_paths, spawn);
criterion_main!(benches);
