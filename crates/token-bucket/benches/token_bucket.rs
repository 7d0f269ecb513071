//! The bucket's own hot paths: acquire allowed and denied under each clock, the
//! status reads, and an uncontended async acquire.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_token_bucket::{Clock, ManualClock, MonotonicClock, TokenBucket};

fn fast<C: Clock>(clock: C) -> TokenBucket<C> {
    TokenBucket::builder()
        .capacity(1_000_000)
        .refill(1_000_000_000, Duration::from_secs(1))
        .clock(clock)
        .build()
        .expect("valid quota")
}

fn empty<C: Clock>(clock: C) -> TokenBucket<C> {
    TokenBucket::builder()
        .capacity(1)
        .refill(1, Duration::from_secs(3600))
        .initial(0)
        .clock(clock)
        .build()
        .expect("valid quota")
}

fn try_acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket_own/try_acquire");
    group.throughput(Throughput::Elements(1));
    let default = fast(tidewater_token_bucket::DefaultClock::default());
    group.bench_function("allowed/default_clock", |b| {
        b.iter(|| black_box(default.try_acquire(1)).is_ok());
    });
    let mono = fast(MonotonicClock::new());
    group.bench_function("allowed/monotonic_clock", |b| {
        b.iter(|| black_box(mono.try_acquire(1)).is_ok());
    });
    // A manual clock that never moves: the allowed path then drains the large burst, so
    // refill the bucket between batches by advancing the clock outside the loop.
    let clock = ManualClock::new();
    let manual = fast(clock.clone());
    group.bench_function("allowed/manual_clock", |b| {
        b.iter_batched(
            || clock.advance(Duration::from_millis(1)),
            |()| black_box(manual.try_acquire(1)).is_ok(),
            criterion::BatchSize::SmallInput,
        );
    });
    let denied = empty(tidewater_token_bucket::DefaultClock::default());
    group.bench_function("denied/default_clock", |b| {
        b.iter(|| black_box(denied.try_acquire(1)).is_err());
    });
    let denied_manual = empty(ManualClock::new());
    group.bench_function("denied/manual_clock", |b| {
        b.iter(|| black_box(denied_manual.try_acquire(1)).is_err());
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket_own/reads");
    let bucket = fast(tidewater_token_bucket::DefaultClock::default());
    group.bench_function("available", |b| b.iter(|| black_box(bucket.available())));
    group.bench_function("peek", |b| b.iter(|| black_box(bucket.peek(1)).is_ok()));
    group.bench_function("status", |b| b.iter(|| black_box(bucket.status())));
    group.finish();
}

fn async_acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket_own/acquire_async");
    group.throughput(Throughput::Elements(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let bucket = fast(tidewater_token_bucket::DefaultClock::default());
    group.bench_function("uncontended", |b| {
        b.iter(|| runtime.block_on(async { black_box(bucket.acquire(1).await).is_ok() }));
    });
    group.finish();
}

criterion_group!(benches, try_acquire, reads, async_acquire);
criterion_main!(benches);
