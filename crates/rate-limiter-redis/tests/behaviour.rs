//! One behaviour suite, the same test bodies run against each store: the in-memory
//! `KeyedRateLimiter` of tidewater-rate-limiter and the Redis-backed limiter.
//!
//! Quotas are chosen so that the real time a test takes cannot change an answer: with
//! one token per second or slower, a test would have to stall for a second between two
//! checks to see a refill.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::{Decision, KeyedError, KeyedRateLimiter, Quota};
use tidewater_rate_limiter_redis::{RedisKeyedRateLimiter, RedisLimitError, RedisStore};

/// A refusal, in terms both stores share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    RateLimited(Duration),
    ExceedsLimit { requested: u32, limit: u32 },
}

/// The keyed limiter API the suite drives.
trait Limiter: Send + Sync + 'static {
    fn check(&self, key: &str, n: u32) -> impl Future<Output = Result<(), Refusal>> + Send;
    fn decision(&self, key: &str, n: u32) -> impl Future<Output = Decision> + Send;
    fn peek(&self, key: &str, n: u32) -> impl Future<Output = Result<(), Refusal>> + Send;
    fn until_ready(&self, key: &str) -> impl Future<Output = Result<(), Refusal>> + Send;
}

fn from_memory(e: KeyedError) -> Refusal {
    match e {
        KeyedError::RateLimited(r) => Refusal::RateLimited(r.retry_after),
        KeyedError::ExceedsLimit(x) => Refusal::ExceedsLimit {
            requested: x.requested,
            limit: x.limit,
        },
        other => panic!("the in-memory limiter has no key cap here: {other}"),
    }
}

fn from_redis(e: RedisLimitError) -> Refusal {
    match e {
        RedisLimitError::RateLimited(r) => Refusal::RateLimited(r.retry_after),
        RedisLimitError::ExceedsLimit(x) => Refusal::ExceedsLimit {
            requested: x.requested,
            limit: x.limit,
        },
        other => panic!("the Redis store failed: {other}"),
    }
}

impl Limiter for KeyedRateLimiter<String> {
    async fn check(&self, key: &str, n: u32) -> Result<(), Refusal> {
        self.check_key_n(&key.to_owned(), n).map_err(from_memory)
    }
    async fn decision(&self, key: &str, n: u32) -> Decision {
        self.check_key_n_decision(&key.to_owned(), n)
    }
    async fn peek(&self, key: &str, n: u32) -> Result<(), Refusal> {
        self.peek_key_n(&key.to_owned(), n).map_err(from_memory)
    }
    async fn until_ready(&self, key: &str) -> Result<(), Refusal> {
        self.until_key_ready(&key.to_owned())
            .await
            .map_err(from_memory)
    }
}

impl Limiter for RedisKeyedRateLimiter<str> {
    async fn check(&self, key: &str, n: u32) -> Result<(), Refusal> {
        self.check_key_n(key, n).await.map_err(from_redis)
    }
    async fn decision(&self, key: &str, n: u32) -> Decision {
        self.check_key_n_decision(key, n)
            .await
            .map_err(from_redis)
            .expect("n fits the burst")
    }
    async fn peek(&self, key: &str, n: u32) -> Result<(), Refusal> {
        self.peek_key_n(key, n).await.map_err(from_redis)
    }
    async fn until_ready(&self, key: &str) -> Result<(), Refusal> {
        self.until_key_ready(key).await.map_err(from_redis)
    }
}

/// Five requests of burst, one more per second.
fn five_per_5s() -> Quota {
    Quota::per_second(1)
        .and_then(|q| q.allow_burst(5))
        .expect("valid quota")
}

fn assert_wait_within(refusal: Result<(), Refusal>, most: Duration) {
    match refusal {
        Err(Refusal::RateLimited(wait)) => {
            assert!(
                wait > Duration::ZERO && wait <= most,
                "retry_after {wait:?} not in (0, {most:?}]"
            );
        }
        other => panic!("expected a rate-limited refusal, got {other:?}"),
    }
}

async fn burst_then_refuse(limiter: impl Limiter) {
    for i in 0..5 {
        assert_eq!(
            limiter.check("k", 1).await,
            Ok(()),
            "request {i} of the burst"
        );
    }
    assert_wait_within(limiter.check("k", 1).await, Duration::from_secs(1));
}

async fn keys_are_independent(limiter: impl Limiter) {
    assert_eq!(limiter.check("a", 5).await, Ok(()));
    assert!(limiter.check("a", 1).await.is_err());
    assert_eq!(limiter.check("b", 5).await, Ok(()), "b has its own bucket");
}

async fn check_n_is_all_or_nothing(limiter: impl Limiter) {
    assert_eq!(limiter.check("k", 3).await, Ok(()));
    // 2 of 3 tokens are there: nothing is taken, and the wait is for the missing one.
    assert_wait_within(limiter.check("k", 3).await, Duration::from_secs(1));
    assert_eq!(
        limiter.check("k", 2).await,
        Ok(()),
        "the refused request took nothing"
    );
}

async fn above_the_burst_never_fits(limiter: impl Limiter) {
    assert_eq!(
        limiter.check("k", 6).await,
        Err(Refusal::ExceedsLimit {
            requested: 6,
            limit: 5
        })
    );
    assert_eq!(
        limiter.check("k", 5).await,
        Ok(()),
        "the impossible request took nothing"
    );
}

async fn zero_always_passes(limiter: impl Limiter) {
    assert_eq!(limiter.check("k", 5).await, Ok(()));
    assert_eq!(limiter.check("k", 0).await, Ok(()));
}

async fn peek_counts_nothing(limiter: impl Limiter) {
    assert_eq!(limiter.peek("k", 5).await, Ok(()));
    assert_eq!(limiter.peek("k", 5).await, Ok(()));
    assert_eq!(limiter.check("k", 5).await, Ok(()));
    assert_wait_within(limiter.peek("k", 1).await, Duration::from_secs(1));
    assert_eq!(
        limiter.peek("k", 6).await,
        Err(Refusal::ExceedsLimit {
            requested: 6,
            limit: 5
        })
    );
}

async fn decisions_carry_the_headers(limiter: impl Limiter) {
    let first = limiter.decision("k", 1).await;
    assert!(first.allowed);
    assert_eq!(
        (first.limit, first.remaining, first.retry_after),
        (5, 4, None)
    );
    assert!(first.reset_after > Duration::ZERO && first.reset_after <= Duration::from_secs(1));
    let rest = limiter.decision("k", 4).await;
    assert!(rest.allowed);
    assert_eq!(rest.remaining, 0);
    assert!(
        rest.reset_after > Duration::from_secs(4) && rest.reset_after <= Duration::from_secs(5)
    );
    let refused = limiter.decision("k", 1).await;
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    let wait = refused.retry_after.expect("a refusal says when to retry");
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    let names: Vec<_> = refused
        .headers()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(names.contains(&"Retry-After"), "headers: {names:?}");
}

async fn until_ready_waits_for_the_refill(limiter: impl Limiter) {
    // Burst 1 here; the quota is set by the caller to 20 per second.
    assert_eq!(limiter.check("k", 1).await, Ok(()));
    for _ in 0..3 {
        assert_eq!(limiter.until_ready("k").await, Ok(()));
    }
}

async fn concurrent_checks_never_exceed_the_burst(limiter: impl Limiter) {
    let limiter = Arc::new(limiter);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let mut admitted = 0_u32;
                for _ in 0..10 {
                    if limiter.check("hot", 1).await.is_ok() {
                        admitted += 1;
                    }
                }
                admitted
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    // 80 attempts within far less than the 1 s a sixth token takes to accrue.
    assert_eq!(total, 5);
}

fn memory(quota: Quota) -> KeyedRateLimiter<String> {
    KeyedRateLimiter::new(quota)
}

async fn redis(test: &str, quota: Quota) -> Option<RedisKeyedRateLimiter<str>> {
    let url = common::redis_url(test)?;
    let store = RedisStore::builder(&url)
        .prefix(common::unique_prefix(test))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to the Redis under test");
    Some(RedisKeyedRateLimiter::with_store(quota, store).expect("quota fits"))
}

/// Runs one body against both stores, as two tests.
macro_rules! against_both_stores {
    ($($body:ident => $quota:expr;)*) => {
        mod in_memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body(memory($quota)).await;
                }
            )*
        }
        mod on_redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    if let Some(limiter) = redis(stringify!($body), $quota).await {
                        super::$body(limiter).await;
                    }
                }
            )*
        }
    };
}

against_both_stores! {
    burst_then_refuse => five_per_5s();
    keys_are_independent => five_per_5s();
    check_n_is_all_or_nothing => five_per_5s();
    above_the_burst_never_fits => five_per_5s();
    zero_always_passes => five_per_5s();
    peek_counts_nothing => five_per_5s();
    decisions_carry_the_headers => five_per_5s();
    until_ready_waits_for_the_refill => Quota::per_second(20).expect("valid").allow_burst(1).expect("valid");
    concurrent_checks_never_exceed_the_burst => five_per_5s();
}
