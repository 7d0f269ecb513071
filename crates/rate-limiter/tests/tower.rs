//! The tower layers: refusals carry `retry_after`, clones share one limiter, permits are
//! held until the response is ready.
#![cfg(feature = "tower")]

use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::tower::{ConcurrencyLimitLayer, RateLimitLayer, ServiceError};
use tidewater_rate_limiter::{Algorithm, ConcurrencyLimiter, ManualClock, Quota, RateLimiter};
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test]
async fn rate_limit_layer_refuses_with_retry_after_and_clones_share_it() {
    let clock = ManualClock::new();
    let limiter = Arc::new(
        RateLimiter::build(
            Quota::per_second(2).unwrap(),
            Algorithm::Gcra,
            clock.clone(),
        )
        .unwrap(),
    );
    let layer = RateLimitLayer::new(limiter);
    let echo = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
    let mut a = layer.layer(echo);
    let mut b = layer.clone().layer(echo);
    assert_eq!(a.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(b.ready().await.unwrap().call(2).await.unwrap(), 2);
    let err = a.ready().await.unwrap().call(3).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
    assert!(err.to_string().contains("retry after"));
    clock.advance(Duration::from_millis(500));
    assert_eq!(b.ready().await.unwrap().call(4).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn concurrency_layer_sheds_and_releases_when_the_response_is_ready() {
    let limiter = ConcurrencyLimiter::new(1).unwrap();
    let layer = ConcurrencyLimitLayer::new(limiter.clone());
    let slow = service_fn(|d: u64| async move {
        tokio::time::sleep(Duration::from_millis(d)).await;
        Ok::<_, std::io::Error>(d)
    });
    let mut svc = layer.layer(slow);
    let first = svc.ready().await.unwrap().call(10);
    assert_eq!(limiter.in_flight(), 1);
    let shed = svc.ready().await.unwrap().call(1).await;
    assert!(matches!(shed, Err(ServiceError::Overloaded)));
    assert_eq!(first.await.unwrap(), 10);
    assert_eq!(limiter.available(), 1);
    // A dropped response future gives its permit back too.
    drop(svc.ready().await.unwrap().call(10));
    assert_eq!(limiter.available(), 1);
}
