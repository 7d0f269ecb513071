//! Redis-specific behaviour: replicas sharing one limit, lease accounting, key expiry,
//! and what the failure policies answer when Redis is down or restarts.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::Quota;
use tidewater_rate_limiter_redis::{
    FailurePolicy, RedisKeyedRateLimiter, RedisLimitError, RedisRateLimiter, RedisStore,
    SetupError, StoreFailure,
};

/// `burst` requests, then one more every 72 s: nothing refills while a test runs.
fn hourly(burst: u32) -> Quota {
    Quota::per_hour(50)
        .and_then(|q| q.allow_burst(burst))
        .expect("valid quota")
}

async fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to the Redis under test")
}

/// Hammers `key` from `tasks` tasks on each limiter; returns how many were admitted.
async fn hammer(limiters: &[Arc<RedisKeyedRateLimiter<str>>], tasks: usize, each: usize) -> usize {
    let mut handles = Vec::new();
    for limiter in limiters {
        for _ in 0..tasks {
            let limiter = Arc::clone(limiter);
            handles.push(tokio::spawn(async move {
                let mut admitted = 0;
                for _ in 0..each {
                    match limiter.check_key("shared").await {
                        Ok(()) => admitted += 1,
                        Err(RedisLimitError::RateLimited(_)) => {}
                        Err(other) => panic!("unexpected refusal: {other}"),
                    }
                }
                admitted
            }));
        }
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("task");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_admit_more_than_the_quota_together() {
    let Some(url) = common::redis_url("two_replicas") else {
        return;
    };
    let prefix = common::unique_prefix("two_replicas");
    // Two limiters on two connections: two replicas of a service.
    let a = Arc::new(
        RedisKeyedRateLimiter::with_store(hourly(50), store(&url, &prefix).await).expect("quota"),
    );
    let b = Arc::new(
        RedisKeyedRateLimiter::with_store(hourly(50), store(&url, &prefix).await).expect("quota"),
    );
    let admitted = hammer(&[Arc::clone(&a), Arc::clone(&b)], 8, 20).await;
    assert_eq!(admitted, 50, "320 attempts against a burst of 50");
    assert_eq!(a.metrics().round_trips + b.metrics().round_trips, 320);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_cut_round_trips_and_stay_within_the_quota() {
    let Some(url) = common::redis_url("leases") else {
        return;
    };
    let prefix = common::unique_prefix("leases");
    let replica = |store| {
        RedisKeyedRateLimiter::builder(hourly(100), store)
            .lease(NonZeroU32::new(10).expect("non-zero"))
            .build::<str>()
            .map(Arc::new)
            .expect("quota")
    };
    let a = replica(store(&url, &prefix).await);
    let b = replica(store(&url, &prefix).await);
    let admitted = hammer(&[Arc::clone(&a), Arc::clone(&b)], 4, 30).await;
    // Every admission spent a shared token, and no token refills during the test.
    assert!(admitted <= 100, "admitted {admitted} of a burst of 100");
    let (ma, mb) = (a.metrics(), b.metrics());
    let leased = ma.leased_tokens + mb.leased_tokens;
    let from_lease = ma.served_from_lease + mb.served_from_lease;
    // Leased tokens are either handed out or still held; none are invented.
    assert!(
        from_lease <= leased,
        "{from_lease} served from {leased} leased"
    );
    // Exact accounting: Redis handed out exactly the burst, each token either admitted
    // by the round trip that took it or leased (then handed out, or still held).
    let direct = admitted as u64 - from_lease;
    assert_eq!(
        direct + leased,
        100,
        "{direct} admitted by round trips + {leased} leased"
    );
    // 100 tokens in batches of up to 10 need far fewer than 100 round trips to hand out.
    assert!(
        from_lease >= 50,
        "only {from_lease} of {admitted} admissions came from leases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_lease_hands_out_exactly_its_batch() {
    let Some(url) = common::redis_url("lone_lease") else {
        return;
    };
    let limiter = RedisKeyedRateLimiter::builder(
        hourly(30),
        store(&url, &common::unique_prefix("lone_lease")).await,
    )
    .lease(NonZeroU32::new(10).expect("non-zero"))
    .build::<str>()
    .expect("quota");
    for i in 0..30 {
        assert!(limiter.check_key("k").await.is_ok(), "request {i} of 30");
    }
    assert!(matches!(
        limiter.check_key("k").await,
        Err(RedisLimitError::RateLimited(_))
    ));
    let m = limiter.metrics();
    // Three batches of 10 (one request each plus 9 leased), then one refused call.
    assert_eq!(
        (m.round_trips, m.served_from_lease, m.leased_tokens),
        (4, 27, 27)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_when_their_bucket_is_full_again() {
    let Some(url) = common::redis_url("expiry") else {
        return;
    };
    let prefix = common::unique_prefix("expiry");
    // 1 per second, burst 2: two requests leave the bucket 2 s from full. The key must
    // live until then (and not much longer): its TTL is read well within the first second.
    let quota = Quota::per_second(1)
        .and_then(|q| q.allow_burst(2))
        .expect("valid");
    let limiter =
        RedisKeyedRateLimiter::with_store(quota, store(&url, &prefix).await).expect("quota");
    limiter.check_key_n("k", 2).await.expect("burst");
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k"))
        .query_async(&mut connection)
        .await
        .expect("PTTL");
    assert!(
        (1_000..=2_001).contains(&ttl),
        "TTL {ttl} ms: a key lives until its bucket is full (2 s after the write), no less"
    );
    // A peek writes nothing.
    limiter.peek_key_n("other", 1).await.expect("fresh key");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}other"))
        .query_async(&mut connection)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holding_something_else_is_a_server_failure_not_a_panic() {
    let Some(url) = common::redis_url("foreign_value") else {
        return;
    };
    let prefix = common::unique_prefix("foreign_value");
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let (): () = redis::cmd("SET")
        .arg(format!("{prefix}k"))
        .arg("not a bucket")
        .query_async(&mut connection)
        .await
        .expect("SET");
    let limiter = RedisKeyedRateLimiter::builder(hourly(5), store(&url, &prefix).await)
        .on_failure(FailurePolicy::FailClosed)
        .build::<str>()
        .expect("quota");
    match limiter.check_key("k").await {
        Err(RedisLimitError::Unavailable(StoreFailure::Server { message })) => {
            assert!(message.contains("does not hold a GCRA state"), "{message}");
        }
        other => panic!("expected a server failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_limiter_is_one_named_shared_limit() {
    let Some(url) = common::redis_url("direct") else {
        return;
    };
    let prefix = common::unique_prefix("direct");
    let a =
        RedisRateLimiter::new("upstream", hourly(3), store(&url, &prefix).await).expect("quota");
    let b =
        RedisRateLimiter::new("upstream", hourly(3), store(&url, &prefix).await).expect("quota");
    a.check_n(2).await.expect("2 of 3");
    b.check().await.expect("the last one");
    assert!(matches!(
        a.check().await,
        Err(RedisLimitError::RateLimited(_))
    ));
    assert!(matches!(
        b.peek_n(1).await,
        Err(RedisLimitError::RateLimited(_))
    ));
    let decision = b.check_n_decision(1).await.expect("decided");
    assert!(!decision.allowed);
}

#[tokio::test]
async fn bad_setup_is_a_typed_error() {
    assert!(matches!(
        RedisStore::connect("not a url").await,
        Err(SetupError::InvalidUrl { .. })
    ));
    let closed = format!("redis://127.0.0.1:{}", common::free_port());
    assert!(matches!(
        RedisStore::builder(&closed)
            .timeout(Duration::from_millis(300))
            .connect()
            .await,
        Err(SetupError::Unreachable(_))
    ));
    assert!(matches!(
        RedisStore::builder(&closed)
            .timeout(Duration::ZERO)
            .connect_lazy(),
        Err(SetupError::Zero { .. })
    ));
    let store = RedisStore::builder(&closed).connect_lazy().expect("lazy");
    // A burst refilling over 1,000 days cannot be counted exactly by the server script.
    let too_long = Quota::per_hour(1)
        .and_then(|q| q.allow_burst(24_000))
        .expect("valid quota");
    assert!(matches!(
        RedisKeyedRateLimiter::<str>::with_store(too_long, store),
        Err(SetupError::QuotaTooLong { .. })
    ));
}

/// Builds one limiter per policy on a store pointed at `url`.
fn limiters_for_each_policy(url: &str) -> [RedisKeyedRateLimiter<str>; 3] {
    let store = RedisStore::builder(url)
        .prefix(common::unique_prefix("policies"))
        .timeout(Duration::from_millis(300))
        .connect_lazy()
        .expect("lazy store");
    let with = |policy| {
        RedisKeyedRateLimiter::builder(hourly(100), store.clone())
            .on_failure(policy)
            .build::<str>()
            .expect("quota")
    };
    let fallback = Quota::per_hour(2).expect("valid");
    [
        with(FailurePolicy::FailOpen),
        with(FailurePolicy::FailClosed),
        with(FailurePolicy::Fallback(fallback)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_follows_the_policy_without_hanging() {
    let closed = format!("redis://127.0.0.1:{}", common::free_port());
    let [open, closed_policy, fallback] = limiters_for_each_policy(&closed);
    assert_eq!(open.check_key("k").await, Ok(()));
    assert_eq!(open.metrics().failed_open, 1);
    match closed_policy.check_key("k").await {
        Err(RedisLimitError::Unavailable(
            StoreFailure::Connection { .. } | StoreFailure::Timeout { .. },
        )) => {}
        other => panic!("FailClosed must refuse with the failure, got {other:?}"),
    }
    // The local fallback quota (2 per hour) decides.
    assert_eq!(fallback.check_key("k").await, Ok(()));
    assert_eq!(fallback.check_key("k").await, Ok(()));
    assert!(matches!(
        fallback.check_key("k").await,
        Err(RedisLimitError::RateLimited(_))
    ));
    assert_eq!(fallback.metrics().fell_back, 3);
    // Waiting never hangs on a dead store either.
    assert!(matches!(
        closed_policy.until_key_ready("k").await,
        Err(RedisLimitError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_follows_the_policy_then_recovers() {
    let port = common::free_port();
    let Some(server) = common::OwnServer::start("restart", port).await else {
        return;
    };
    let [open, closed, fallback] = limiters_for_each_policy(&server.url());
    for limiter in [&open, &closed, &fallback] {
        assert_eq!(limiter.check_key("k").await, Ok(()));
        assert_eq!(limiter.metrics().store_failures, 0);
    }
    server.kill();
    assert_eq!(open.check_key("k").await, Ok(()));
    assert_eq!(open.metrics().failed_open, 1);
    assert!(matches!(
        closed.check_key("k").await,
        Err(RedisLimitError::Unavailable(_))
    ));
    assert_eq!(fallback.check_key("k").await, Ok(()));
    assert_eq!(fallback.metrics().fell_back, 1);

    let Some(_server) = common::OwnServer::start("restart", port).await else {
        return;
    };
    // The connection manager reconnects in the background; each check in between follows
    // the policy, so poll the strict one until Redis answers again.
    let mut recovered = false;
    for _ in 0..100 {
        if closed.check_key("k").await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "FailClosed never got an answer from the restarted Redis"
    );
    let failures = open.metrics().store_failures;
    let mut open_recovered = false;
    for _ in 0..100 {
        open.check_key("k").await.expect("fail open always admits");
        if open.metrics().store_failures == failures {
            open_recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        open_recovered,
        "FailOpen kept failing after Redis came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_check_in_lease_mode_takes_nothing_from_the_shared_limit() {
    let Some(url) = common::redis_url("zero_lease") else {
        return;
    };
    let prefix = common::unique_prefix("zero_lease");
    let leasing = RedisKeyedRateLimiter::builder(hourly(10), store(&url, &prefix).await)
        .lease(NonZeroU32::new(5).expect("non-zero"))
        .build::<str>()
        .expect("quota");
    leasing.check_key_n("k", 0).await.expect("n = 0 passes");
    assert_eq!(
        leasing.metrics().leased_tokens,
        0,
        "nothing leased for n = 0"
    );
    // Another replica still sees the whole burst.
    let other =
        RedisKeyedRateLimiter::with_store(hourly(10), store(&url, &prefix).await).expect("quota");
    other
        .peek_key_n("k", 10)
        .await
        .expect("the burst is intact");
}
