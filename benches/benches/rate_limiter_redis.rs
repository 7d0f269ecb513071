//! Rate limits through one real Redis: tidewater's store (one script call per check),
//! a hand-written redis-cell-style GCRA script called the same way, and tidewater's lease
//! mode, with 1 and 16 concurrent callers.
//!
//! Criterion measures the time per check (throughput is its inverse); after the criterion
//! groups a latency table (checks/s, p50, p99 per check) is printed. Needs
//! `TIDEWATER_REDIS_URL` (`cargo xtask bench` starts a server); without it the file says it
//! skipped, except under `CI=true`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use redis::aio::ConnectionManager;
use tidewater_rate_limiter::Quota;
use tidewater_rate_limiter_redis::{RedisKeyedRateLimiter, RedisStore};
use tokio::runtime::Runtime;

/// A GCRA script as users write by hand today (float seconds, server time), the usual
/// alternative to a Redis module: one EVALSHA per check, like tidewater's store.
const HAND_WRITTEN_GCRA: &str = r"
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + emission
if new_tat - burst * emission > now then
  return {0, math.ceil((new_tat - burst * emission - now) * 1000000)}
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return {1, 0}
";

/// Keys the callers spread over (a few hot keys, where round trips add up); the quota
/// admits nearly every check.
const KEYS: u64 = 64;
const CALLERS: [usize; 2] = [1, 16];

fn quota() -> Quota {
    Quota::per_second(100_000)
        .and_then(|q| q.allow_burst(10_000))
        .expect("valid quota")
}

/// One way of asking Redis for a check.
#[derive(Clone)]
enum Subject {
    Tidewater(Arc<RedisKeyedRateLimiter<u64>>),
    HandScript(ConnectionManager, Arc<redis::Script>, String),
}

impl Subject {
    async fn check(&self, key: u64) -> bool {
        match self {
            Self::Tidewater(limiter) => limiter.check_key(&key).await.is_ok(),
            Self::HandScript(connection, script, prefix) => {
                let mut connection = connection.clone();
                let (allowed, _wait): (u8, u64) = script
                    .key(format!("{prefix}{key}"))
                    .arg(10.0e-6_f64)
                    .arg(10_000)
                    .invoke_async(&mut connection)
                    .await
                    .expect("hand-written script");
                allowed == 1
            }
        }
    }
}

async fn subjects(url: &str) -> Vec<(&'static str, Subject)> {
    let store = |prefix: &str| {
        RedisStore::builder(url)
            .prefix(prefix)
            .timeout(Duration::from_secs(5))
            .connect()
    };
    let plain =
        RedisKeyedRateLimiter::with_store(quota(), store("bench:tw:").await.expect("connect"))
            .expect("quota");
    let leased =
        RedisKeyedRateLimiter::builder(quota(), store("bench:lease:").await.expect("connect"))
            .lease(NonZeroU32::new(32).expect("non-zero"))
            // At 10 µs per token the default max age (320 µs) is shorter than a round trip.
            .lease_max_age(Duration::from_secs(1))
            .build()
            .expect("quota");
    let client = redis::Client::open(url).expect("url");
    let connection = ConnectionManager::new(client).await.expect("connect");
    vec![
        ("tidewater", Subject::Tidewater(Arc::new(plain))),
        (
            "hand_written_script",
            Subject::HandScript(
                connection,
                Arc::new(redis::Script::new(HAND_WRITTEN_GCRA)),
                "bench:hand:".to_owned(),
            ),
        ),
        ("tidewater_lease32", Subject::Tidewater(Arc::new(leased))),
    ]
}

/// Runs `total` checks split over `callers` tasks; returns the elapsed time and, if asked,
/// each check's latency.
async fn run(
    subject: &Subject,
    callers: usize,
    total: u64,
    record: bool,
) -> (Duration, Vec<Duration>) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let subject = subject.clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    let began = Instant::now();
                    black_box(subject.check(i % KEYS).await);
                    if record {
                        latencies.push(began.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("caller task"));
    }
    (start.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn criterion_groups(c: &mut Criterion, rt: &Runtime, subjects: &[(&'static str, Subject)]) {
    for callers in CALLERS {
        let mut group = c.benchmark_group(format!("rate_limiter_redis/checks_{callers}_callers"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
        for (name, subject) in subjects {
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| rt.block_on(run(subject, callers, iters, false)).0);
            });
        }
        group.finish();
    }
}

fn latency_table(rt: &Runtime, subjects: &[(&'static str, Subject)], total: u64) {
    println!("\nrate_limiter_redis latency, {total} checks per row, one Redis on loopback:");
    println!("| implementation | callers | checks/s | p50 | p99 | round trips |");
    println!("|---|--:|--:|--:|--:|--:|");
    for callers in CALLERS {
        for (name, subject) in subjects {
            let before = trips(subject);
            let (elapsed, mut latencies) = rt.block_on(run(subject, callers, total, true));
            latencies.sort_unstable();
            let trips = trips(subject).map(|t| (t - before.unwrap_or(0)).to_string());
            println!(
                "| {name} | {callers} | {:.0} | {:.1} µs | {:.1} µs | {} |",
                total as f64 / elapsed.as_secs_f64(),
                percentile(&latencies, 0.50).as_secs_f64() * 1e6,
                percentile(&latencies, 0.99).as_secs_f64() * 1e6,
                trips.unwrap_or_else(|| total.to_string()),
            );
        }
    }
}

fn trips(subject: &Subject) -> Option<u64> {
    match subject {
        Subject::Tidewater(limiter) => Some(limiter.metrics().round_trips),
        Subject::HandScript(..) => None,
    }
}

fn main() {
    let Ok(url) = std::env::var("TIDEWATER_REDIS_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but TIDEWATER_REDIS_URL is not set: the Redis benchmark must run"
        );
        println!(
            "SKIPPED rate_limiter_redis: TIDEWATER_REDIS_URL is not set (`cargo xtask bench` starts a redis-server)"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let subjects = rt.block_on(subjects(&url));
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion, &rt, &subjects);
    criterion.final_summary();
    // Under `cargo test --bench` (smoke mode) a short table proves the path works.
    latency_table(&rt, &subjects, if bench_mode { 20_000 } else { 200 });
}
