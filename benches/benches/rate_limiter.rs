//! tidewater-rate-limiter against its peers, same quota, same criterion group.
//!
//! - `direct_allowed` / `direct_denied`: one shared limit, real (quanta) clocks, vs governor direct.
//! - `keyed_10k`: `check_key` round-robin over 10,000 `u64` keys (all present), vs
//!   governor's keyed limiter on its `DashMap` store.
//! - `concurrency`: acquire + release of an uncontended permit, vs tokio's `Semaphore`.
//! - Memory per key (printed, not timed): heap bytes per live `u64` key beyond the key
//!   itself, counted by a wrapping global allocator, for both keyed limiters.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidewater_rate_limiter::{ConcurrencyLimiter, KeyedRateLimiter, Quota, RateLimiter};

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KEYS: u64 = 10_000;
const FAST_PER_SEC: u32 = 1_000_000_000;
const BURST: u32 = 1_000_000;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

fn tide_fast() -> Quota {
    Quota::per_second(FAST_PER_SEC)
        .and_then(|q| q.allow_burst(BURST))
        .expect("valid quota")
}

fn gov_fast() -> governor::Quota {
    governor::Quota::per_second(nz(FAST_PER_SEC)).allow_burst(nz(BURST))
}

fn direct_allowed(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/direct_allowed");
    group.throughput(Throughput::Elements(1));
    let tide = RateLimiter::new(tide_fast());
    group.bench_function("tidewater", |b| b.iter(|| black_box(tide.check()).is_ok()));
    let gov = governor::RateLimiter::direct(gov_fast());
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_ok()));
    group.finish();
}

fn direct_denied(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/direct_denied");
    group.throughput(Throughput::Elements(1));
    let tide = RateLimiter::new(Quota::per_hour(1).expect("valid quota"));
    assert!(tide.check().is_ok());
    group.bench_function("tidewater", |b| b.iter(|| black_box(tide.check()).is_err()));
    let gov = governor::RateLimiter::direct(governor::Quota::per_hour(nz(1)));
    assert!(gov.check().is_ok());
    group.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_err()));
    group.finish();
}

fn keyed_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/keyed_10k");
    group.throughput(Throughput::Elements(1));
    let tide = KeyedRateLimiter::<u64>::new(tide_fast());
    let gov = governor::RateLimiter::dashmap(gov_fast());
    for k in 0..KEYS {
        assert!(tide.check_key(&k).is_ok() && gov.check_key(&k).is_ok());
    }
    let mut k = 0;
    group.bench_function("tidewater", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            black_box(tide.check_key(&k)).is_ok()
        });
    });
    let mut k = 0;
    group.bench_function("governor", |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            black_box(gov.check_key(&k)).is_ok()
        });
    });
    group.finish();
}

fn concurrency(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limiter/concurrency");
    group.throughput(Throughput::Elements(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let tide = ConcurrencyLimiter::new(16).expect("valid limit");
    group.bench_function("tidewater", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(tide.acquire().await));
                }
                start.elapsed()
            })
        });
    });
    let sem = tokio::sync::Semaphore::new(16);
    group.bench_function("tokio_semaphore", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(sem.acquire().await.expect("open")));
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

/// Heap bytes per key beyond the 8-byte key, after inserting `n` distinct keys.
fn bytes_per_key(n: u64, insert: impl Fn(u64)) -> f64 {
    let before = ALLOCATED.load(Ordering::Relaxed);
    for k in 0..n {
        insert(k);
    }
    let grown = ALLOCATED.load(Ordering::Relaxed) - before;
    grown as f64 / n as f64 - 8.0
}

fn memory_per_key(_: &mut Criterion) {
    // Smoke runs (`cargo test --bench`, unoptimized) measure one small size only.
    let sizes: &[u64] = if cfg!(debug_assertions) {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    for &n in sizes {
        let tide = KeyedRateLimiter::<u64>::new(tide_fast());
        let t = bytes_per_key(n, |k| assert!(tide.check_key(&k).is_ok()));
        drop(tide);
        let gov = governor::RateLimiter::dashmap(gov_fast());
        let g = bytes_per_key(n, |k| assert!(gov.check_key(&k).is_ok()));
        drop(gov);
        println!(
            "rate_limiter/memory_per_key/{n}: tidewater {t:.1} B, governor {g:.1} B (beyond the 8-byte key)"
        );
    }
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
    targets = memory_per_key, direct_allowed, direct_denied, keyed_10k, concurrency
}
criterion_main!(benches);
