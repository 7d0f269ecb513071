//! tidewater-token-bucket against governor, same quota, same criterion group.
//!
//! - `allowed`: uncontended checks that pass (a fast rate keeps the bucket from running dry).
//! - `denied`: checks against an empty bucket that refills once an hour.
//! - `contended_2_threads`: two threads hammer one bucket; threads start outside the timing.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use tidewater_token_bucket::TokenBucket;

const BURST: u32 = 1_000_000;
const FAST_PER_SEC: u32 = 1_000_000_000;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

fn fast_tidewater() -> TokenBucket {
    TokenBucket::builder()
        .capacity(BURST)
        .refill(FAST_PER_SEC, Duration::from_secs(1))
        .build()
        .expect("valid quota")
}

fn fast_governor() -> governor::DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(nz(FAST_PER_SEC)).allow_burst(nz(BURST)))
}

fn allowed(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/allowed");
    group.throughput(Throughput::Elements(1));
    let tide = fast_tidewater();
    group.bench_function("tidewater", |b| {
        b.iter(|| black_box(tide.try_acquire(1)).is_ok());
    });
    let gov = fast_governor();
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_ok()));
    group.finish();
}

fn denied(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/denied");
    group.throughput(Throughput::Elements(1));
    let tide = TokenBucket::builder()
        .capacity(1)
        .refill(1, Duration::from_secs(3600))
        .build()
        .expect("valid quota");
    assert!(tide.try_acquire(1).is_ok());
    group.bench_function("tidewater", |b| {
        b.iter(|| black_box(tide.try_acquire(1)).is_err());
    });
    let gov = RateLimiter::direct(Quota::per_hour(nz(1)));
    assert!(gov.check().is_ok());
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_err()));
    group.finish();
}

/// Runs `op` `iters` times split over two threads; only the racing part is timed.
fn two_threads(iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(3);
    let per_thread = iters.div_ceil(2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..per_thread {
                    op();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins both threads.
        start
    })
    .elapsed()
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket/contended_2_threads");
    group.throughput(Throughput::Elements(1));
    let tide = fast_tidewater();
    group.bench_function("tidewater", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                black_box(tide.try_acquire(1)).ok();
            })
        });
    });
    let gov = fast_governor();
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                black_box(gov.check()).ok();
            })
        });
    });
    group.finish();
}

criterion_group!(benches, allowed, denied, contended);
criterion_main!(benches);
