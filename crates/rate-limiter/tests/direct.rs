//! The shared limiter: FIFO waiting, cancel safety, decisions, reconfiguration.

use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::{
    Algorithm, CheckError, ManualClock, Quota, QuotaError, RateLimiter, TokioClock,
};

const ALL: [Algorithm; 3] = [
    Algorithm::Gcra,
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
];

#[tokio::test(start_paused = true)]
async fn until_ready_is_fifo_for_every_algorithm() {
    for algorithm in ALL {
        let limiter = Arc::new(
            RateLimiter::build(
                Quota::per_second(10).unwrap().allow_burst(1).unwrap(),
                algorithm,
                TokioClock::new(),
            )
            .unwrap(),
        );
        limiter.until_ready().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (limiter, order) = (Arc::clone(&limiter), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                limiter.until_ready().await;
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            (0..6).collect::<Vec<_>>(),
            "{algorithm:?}"
        );
        assert_eq!(limiter.algorithm(), algorithm);
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_takes_nothing() {
    for algorithm in ALL {
        let limiter =
            RateLimiter::build(Quota::per_second(1).unwrap(), algorithm, TokioClock::new())
                .unwrap();
        limiter.until_ready().await;
        let start = tokio::time::Instant::now();
        assert!(
            tokio::time::timeout(Duration::from_millis(500), limiter.until_ready())
                .await
                .is_err()
        );
        limiter.until_ready().await;
        // A limit of one per window: the sliding estimate needs the whole previous window
        // to fade out, so its second request waits two windows.
        let expected = if algorithm == Algorithm::SlidingWindow {
            2
        } else {
            1
        };
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(expected),
            "{algorithm:?}"
        );
        assert!(
            limiter.until_n_ready(2).await.is_err(),
            "more than the burst never fits"
        );
    }
}

#[test]
fn peek_answers_like_check_without_counting() {
    for algorithm in ALL {
        let clock = ManualClock::new();
        let limiter =
            RateLimiter::build(Quota::per_second(2).unwrap(), algorithm, clock.clone()).unwrap();
        for _ in 0..5 {
            assert!(limiter.peek().is_ok());
        }
        limiter.check_n(2).unwrap();
        let peeked = limiter.peek().unwrap_err();
        assert_eq!(limiter.check().unwrap_err(), peeked, "{algorithm:?}");
        assert!(matches!(
            limiter.check_n(3),
            Err(CheckError::ExceedsLimit(_))
        ));
        assert_eq!(limiter.check_n(0), Ok(()));
    }
}

#[test]
fn decisions_carry_what_headers_need() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::build(
        Quota::per_second(4).unwrap(),
        Algorithm::FixedWindow,
        clock.clone(),
    )
    .unwrap();
    clock.advance(Duration::from_millis(250));
    let d = limiter.check_decision();
    assert!(d.allowed);
    assert_eq!(
        (d.limit, d.remaining, d.reset_after),
        (4, 3, Duration::from_millis(750))
    );
    limiter.check_n(3).unwrap();
    let d = limiter.check_decision();
    assert_eq!(
        (d.allowed, d.remaining, d.retry_after),
        (false, 0, Some(Duration::from_millis(750)))
    );
    let gcra = RateLimiter::build(
        Quota::per_second(4).unwrap(),
        Algorithm::Gcra,
        clock.clone(),
    )
    .unwrap();
    let d = gcra.check_n_decision(4);
    assert_eq!(
        (d.allowed, d.remaining, d.reset_after),
        (true, 0, Duration::from_secs(1))
    );
    let d = gcra.check_decision();
    assert_eq!(
        (d.allowed, d.retry_after),
        (false, Some(Duration::from_millis(250)))
    );
}

#[test]
fn set_quota_never_grants_a_fresh_burst() {
    for algorithm in ALL {
        let clock = ManualClock::new();
        let limiter =
            RateLimiter::build(Quota::per_second(5).unwrap(), algorithm, clock.clone()).unwrap();
        limiter.check_n(5).unwrap();
        limiter.set_quota(Quota::per_second(6).unwrap()).unwrap();
        assert!(
            limiter.check_n(2).is_err(),
            "{algorithm:?}: five of six already used"
        );
        assert_eq!(limiter.quota(), Quota::per_second(6).unwrap());
    }
    let windowed = RateLimiter::build(
        Quota::per_second(5).unwrap(),
        Algorithm::SlidingWindow,
        ManualClock::new(),
    )
    .unwrap();
    let too_big = Quota::per_second(5_000_000).unwrap();
    assert_eq!(
        windowed.set_quota(too_big),
        Err(QuotaError::BurstTooLargeForWindow { burst: 5_000_000 })
    );
    assert_eq!(
        windowed.quota(),
        Quota::per_second(5).unwrap(),
        "the old quota stays"
    );
}

#[test]
fn fixed_window_admits_twice_at_a_boundary_and_sliding_does_not() {
    let q = Quota::per_second(10).unwrap();
    let (c1, c2) = (ManualClock::new(), ManualClock::new());
    let fixed = RateLimiter::build(q, Algorithm::FixedWindow, c1.clone()).unwrap();
    let sliding = RateLimiter::build(q, Algorithm::SlidingWindow, c2.clone()).unwrap();
    for c in [&c1, &c2] {
        c.advance(Duration::from_millis(990));
    }
    assert!(fixed.check_n(10).is_ok() && sliding.check_n(10).is_ok());
    for c in [&c1, &c2] {
        c.advance(Duration::from_millis(20));
    }
    assert!(fixed.check_n(10).is_ok(), "20 within 20 ms");
    assert!(sliding.check_n(10).is_err());
}
