//! `rate_limit` paces a stage through a shared token bucket (feature `token-bucket`).
#![cfg(feature = "token-bucket")]

use std::time::Duration;

use tidewater_pipeline::Pipeline;
use tidewater_token_bucket::{TokenBucket, TokioClock};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn rate_limit_paces_items_on_tokio_time() {
    let bucket = TokenBucket::builder()
        .capacity(10)
        .refill(10, Duration::from_secs(1))
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let start = Instant::now();
    let (out, report) = Pipeline::from_iter(0..50u32)
        .rate_limit(&bucket)
        .name("pace")
        .collect()
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out, (0..50).collect::<Vec<_>>());
    // 10 at once (full bucket), then 10 per second for the other 40.
    assert!(
        took >= Duration::from_millis(3_900) && took <= Duration::from_millis(4_100),
        "{took:?}"
    );
    let pace = report.stage("pace").unwrap();
    assert_eq!((pace.items_in, pace.items_out), (50, 50));
}

#[tokio::test(start_paused = true)]
async fn pipelines_sharing_a_bucket_share_the_budget() {
    let bucket = TokenBucket::builder()
        .capacity(5)
        .refill(5, Duration::from_secs(1))
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let start = Instant::now();
    let a = Pipeline::from_iter(0..15u32).rate_limit(&bucket).collect();
    let b = Pipeline::from_iter(0..15u32).rate_limit(&bucket).collect();
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.unwrap().0.len() + b.unwrap().0.len(), 30);
    let took = start.elapsed();
    // 5 at once, then 25 more at 5 per second.
    assert!(
        took >= Duration::from_millis(4_900) && took <= Duration::from_millis(5_100),
        "{took:?}"
    );
}
