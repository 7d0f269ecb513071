//! Hot paths of the worker pools: admission without workers, one async round trip, one
//! blocking round trip, and a burst of 10,000 async jobs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use tidewater_worker_pool::admission::Core;
use tidewater_worker_pool::{BlockingPool, WorkerPool};

fn admission(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_pool_crate/admission");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(1));
    let core = Core::<u64>::new(1024, 1);
    g.bench_function("try_submit_then_pop", |b| {
        b.iter(|| {
            let _ = core.try_submit(black_box(1));
            black_box(core.try_pop())
        });
    });
    g.finish();
}

fn round_trips(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_pool_crate/round_trip");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pool = rt.block_on(async { WorkerPool::builder().workers(2).build().expect("pool") });
    g.bench_function("async_submit_await", |b| {
        b.iter(|| {
            rt.block_on(async {
                let handle = pool.submit(async { black_box(1) }).await.expect("open");
                black_box(handle.await.expect("ran"))
            })
        });
    });
    let blocking = BlockingPool::builder().workers(2).build().expect("pool");
    g.bench_function("blocking_execute_wait", |b| {
        b.iter(|| {
            let handle = blocking.execute(|| black_box(1)).expect("open");
            black_box(handle.wait().expect("ran"))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("worker_pool_crate/burst");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(1));
    g.bench_function("async_10k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(10_000);
                for i in 0..10_000u32 {
                    handles.push(pool.submit(async move { i }).await.expect("open"));
                }
                for handle in handles {
                    black_box(handle.await.expect("ran"));
                }
            });
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    admission(&mut c);
    round_trips(&mut c);
    c.final_summary();
}
