//! With every feature on, each module of the facade resolves to its crate and works.
#![cfg(all(
    feature = "token-bucket",
    feature = "rate-limiter",
    feature = "rate-limiter-redis",
    feature = "worker-pool",
    feature = "fan-out",
    feature = "pipeline",
    feature = "shutdown",
    feature = "event-bus"
))]

use std::time::Duration;

#[test]
fn token_bucket_resolves() {
    let bucket = tidewater::token_bucket::TokenBucket::builder()
        .capacity(2)
        .refill(1, Duration::from_secs(3600))
        .build()
        .expect("valid bucket");
    assert!(bucket.try_acquire(2).is_ok());
    assert!(bucket.try_acquire(1).is_err());
}

#[test]
fn rate_limiter_resolves() {
    assert!(tidewater::rate_limiter::Quota::per_second(10).is_ok());
    assert!(tidewater::rate_limiter::Quota::per_second(0).is_err());
}

#[tokio::test]
async fn rate_limiter_redis_resolves() {
    // A lazy store needs no server; a bad URL is a typed error, not a panic.
    use tidewater::rate_limiter_redis::{RedisStore, SetupError};
    assert!(matches!(
        RedisStore::builder("not a url").connect_lazy(),
        Err(SetupError::InvalidUrl { .. })
    ));
    assert!(
        RedisStore::builder("redis://127.0.0.1:1")
            .connect_lazy()
            .is_ok()
    );
}

#[test]
fn worker_pool_resolves() {
    let pool = tidewater::worker_pool::BlockingPool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .expect("valid pool");
    let handle = pool.execute(|| 6 * 7).expect("pool is open");
    assert_eq!(handle.wait(), Ok(42));
    assert_eq!(pool.shutdown(Duration::from_secs(1)).completed, 1);
}

#[tokio::test]
async fn fan_out_resolves() {
    let answers = [Err("down"), Ok(1), Ok(2)].map(|a| async move { a });
    assert_eq!(tidewater::fan_out::first_ok(answers).await, Ok(1));
}

#[tokio::test]
async fn pipeline_resolves() {
    let (out, report) = tidewater::pipeline::Pipeline::from_iter(1..=3u32)
        .map(2, |x| async move { x * 10 })
        .collect()
        .await
        .expect("pipeline runs");
    assert_eq!(out, vec![10, 20, 30]);
    assert!(report.is_balanced());
}

#[tokio::test]
async fn shutdown_resolves() {
    use tidewater::shutdown::{Reason, Shutdown, Signals};
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .build()
        .expect("valid shutdown");
    assert!(shutdown.trigger(Reason::requested("test")));
    assert_eq!(shutdown.wait().await.exit_code(), 0);
}

#[test]
fn event_bus_resolves() {
    let bus = tidewater::event_bus::EventBus::new();
    let topic = bus.topic::<u8>("t").expect("new topic");
    let mut sub = topic.subscribe();
    assert_eq!(topic.publish(7), 1);
    assert_eq!(*sub.try_recv().expect("one event"), 7);
}
