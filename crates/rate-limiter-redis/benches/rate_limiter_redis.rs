//! The crate's own hot paths against a real Redis (`TIDEWATER_REDIS_URL`): a check that is
//! one round trip, a read-only peek, and a check answered from a local lease. Side-by-side
//! comparisons with a hand-written script live in the workspace's `benches/` crate.
#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tidewater_rate_limiter::Quota;
use tidewater_rate_limiter_redis::{RedisKeyedRateLimiter, RedisStore};

fn quota() -> Quota {
    Quota::per_second(1_000_000)
        .and_then(|q| q.allow_burst(1_000_000))
        .expect("valid quota")
}

fn paths(c: &mut Criterion) {
    let Ok(url) = std::env::var("TIDEWATER_REDIS_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but TIDEWATER_REDIS_URL is not set"
        );
        println!("SKIPPED rate_limiter_redis benches: TIDEWATER_REDIS_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = |prefix: &'static str| {
        rt.block_on(
            RedisStore::builder(&url)
                .prefix(prefix)
                .timeout(Duration::from_secs(5))
                .connect(),
        )
        .expect("connect")
    };
    let plain: RedisKeyedRateLimiter<str> =
        RedisKeyedRateLimiter::with_store(quota(), store("bench-own:plain:")).expect("quota");
    let leased: RedisKeyedRateLimiter<str> =
        RedisKeyedRateLimiter::builder(quota(), store("bench-own:lease:"))
            .lease(NonZeroU32::new(1024).expect("non-zero"))
            .lease_max_age(Duration::from_secs(60))
            .build()
            .expect("quota");

    let mut group = c.benchmark_group("rate_limiter_redis/own");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(300));
    group.bench_function("check_round_trip", |b| {
        b.iter(|| rt.block_on(async { black_box(plain.check_key("k").await.is_ok()) }));
    });
    group.bench_function("peek_round_trip", |b| {
        b.iter(|| rt.block_on(async { black_box(plain.peek_key_n("k", 1).await.is_ok()) }));
    });
    group.bench_function("check_from_lease", |b| {
        b.iter(|| rt.block_on(async { black_box(leased.check_key("hot").await.is_ok()) }));
    });
    group.finish();
}

criterion_group!(benches, paths);
criterion_main!(benches);
