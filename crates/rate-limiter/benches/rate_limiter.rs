//! The crate's own hot paths: each algorithm's check, a hot key, a permit round trip.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_rate_limiter::{Algorithm, ConcurrencyLimiter, KeyedRateLimiter, Quota, RateLimiter};

fn fast() -> Quota {
    Quota::per_second(1_000_000_000)
        .and_then(|q| q.allow_burst(1_000_000))
        .expect("valid quota")
}

fn checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/check");
    group.throughput(Throughput::Elements(1));
    let window = Quota::per_second(1_000_000).expect("valid quota");
    for (name, algorithm, quota) in [
        ("gcra", Algorithm::Gcra, fast()),
        ("fixed_window", Algorithm::FixedWindow, window),
        ("sliding_window", Algorithm::SlidingWindow, window),
    ] {
        let limiter = RateLimiter::with_algorithm(quota, algorithm).expect("valid quota");
        group.bench_function(name, |b| b.iter(|| black_box(limiter.check()).is_ok()));
    }
    group.finish();
}

fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/keyed");
    group.throughput(Throughput::Elements(1));
    let limiter = KeyedRateLimiter::<u64>::new(fast());
    group.bench_function("hot_key", |b| {
        b.iter(|| black_box(limiter.check_key(&7)).is_ok());
    });
    let mut next = 0u64;
    group.bench_function("new_key", |b| {
        b.iter(|| {
            next += 1;
            black_box(limiter.check_key(&next)).is_ok()
        });
    });
    group.finish();
}

fn permits(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/permit");
    group.throughput(Throughput::Elements(1));
    let limiter = ConcurrencyLimiter::new(4).expect("valid limit");
    group.bench_function("try_acquire_release", |b| {
        b.iter(|| drop(black_box(limiter.try_acquire())));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = checks, keyed, permits
}
criterion_main!(benches);
