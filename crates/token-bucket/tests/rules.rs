//! Every rule of the bucket, on a manual clock.
#![cfg(not(tidewater_loom))]

use std::time::Duration;

use tidewater_token_bucket::{ConfigError, ManualClock, TokenBucket, TryAcquireError};

const SEC: Duration = Duration::from_secs(1);

fn bucket(capacity: u32, tokens: u32, every: Duration) -> (TokenBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::builder()
        .capacity(capacity)
        .refill(tokens, every)
        .clock(clock.clone())
        .build()
        .unwrap();
    (bucket, clock)
}

#[test]
fn a_full_bucket_grants_its_burst_then_paces() {
    let (b, clock) = bucket(3, 1, SEC);
    assert_eq!(b.available(), 3);
    assert!(b.try_acquire(2).is_ok());
    assert!(b.try_acquire(1).is_ok());
    assert_eq!(
        b.try_acquire(1),
        Err(TryAcquireError::Insufficient { retry_after: SEC })
    );
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        b.try_acquire(1),
        Err(TryAcquireError::Insufficient {
            retry_after: Duration::from_millis(1)
        })
    );
    clock.advance(Duration::from_millis(1));
    assert!(b.try_acquire(1).is_ok());
}

#[test]
fn retry_after_is_exact_for_multi_token_requests() {
    let (b, clock) = bucket(4, 2, SEC); // a token every 500 ms
    assert!(b.try_acquire(4).is_ok());
    let wait = b.try_acquire(3).unwrap_err().retry_after().unwrap();
    assert_eq!(wait, Duration::from_millis(1500));
    clock.advance(wait);
    assert!(b.try_acquire(3).is_ok());
}

#[test]
fn long_idle_never_accrues_more_than_capacity() {
    let (b, clock) = bucket(5, 1, SEC);
    assert!(b.try_acquire(5).is_ok());
    clock.advance(Duration::from_secs(3600 * 24 * 365));
    assert_eq!(b.available(), 5);
    assert!(b.try_acquire(5).is_ok());
    assert!(b.try_acquire(1).is_err());
}

#[test]
fn initial_tokens_default_to_full_and_can_be_set() {
    let clock = ManualClock::new();
    let b = TokenBucket::builder()
        .capacity(4)
        .refill(1, SEC)
        .initial(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(b.available(), 1);
    clock.advance(SEC * 2);
    assert_eq!(b.available(), 3);
}

#[test]
fn zero_tokens_always_succeed_and_change_nothing() {
    let (b, _clock) = bucket(1, 1, SEC);
    assert!(b.try_acquire(1).is_ok());
    assert!(b.try_acquire(0).is_ok());
    assert!(b.peek(0).is_ok());
    assert_eq!(b.available(), 0);
}

#[test]
fn more_than_capacity_is_a_typed_error() {
    let (b, _clock) = bucket(3, 1, SEC);
    assert_eq!(
        b.try_acquire(4),
        Err(TryAcquireError::ExceedsCapacity {
            requested: 4,
            capacity: 3
        })
    );
    assert_eq!(b.try_acquire(4).unwrap_err().retry_after(), None);
    let err = b.acquire_blocking(4).unwrap_err();
    assert_eq!((err.requested, err.capacity), (4, 3));
    assert!(err.to_string().contains("at most 3"));
}

#[test]
fn bad_configuration_is_a_typed_error_never_a_panic() {
    let cases: Vec<(Result<TokenBucket<ManualClock>, ConfigError>, ConfigError)> = vec![
        (
            TokenBucket::builder()
                .refill(1, SEC)
                .clock(ManualClock::new())
                .build(),
            ConfigError::CapacityNotSet,
        ),
        (
            TokenBucket::builder()
                .capacity(1)
                .clock(ManualClock::new())
                .build(),
            ConfigError::RefillNotSet,
        ),
        (
            TokenBucket::builder()
                .capacity(0)
                .refill(1, SEC)
                .clock(ManualClock::new())
                .build(),
            ConfigError::ZeroCapacity,
        ),
        (
            TokenBucket::builder()
                .capacity(1)
                .refill(0, SEC)
                .clock(ManualClock::new())
                .build(),
            ConfigError::ZeroRefillTokens,
        ),
        (
            TokenBucket::builder()
                .capacity(1)
                .refill(1, Duration::ZERO)
                .clock(ManualClock::new())
                .build(),
            ConfigError::ZeroRefillPeriod,
        ),
        (
            TokenBucket::builder()
                .capacity(2)
                .refill(1, SEC)
                .initial(3)
                .clock(ManualClock::new())
                .build(),
            ConfigError::InitialExceedsCapacity {
                initial: 3,
                capacity: 2,
            },
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got.unwrap_err(), want);
        assert!(!want.to_string().is_empty());
    }
    let too_long = TokenBucket::builder()
        .capacity(1)
        .refill(1, Duration::MAX)
        .clock(ManualClock::new())
        .build();
    assert!(matches!(too_long, Err(ConfigError::PeriodTooLong { .. })));
    let too_fast = TokenBucket::builder()
        .capacity(1)
        .refill(u32::MAX, Duration::from_nanos(1))
        .clock(ManualClock::new())
        .build();
    assert!(matches!(too_fast, Err(ConfigError::RateTooHigh { .. })));
}

#[test]
fn clock_readings_near_overflow_do_not_wrap() {
    let clock = ManualClock::starting_at(u64::MAX - 5);
    let b = TokenBucket::builder()
        .capacity(2)
        .refill(1, Duration::from_nanos(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(b.try_acquire(2).is_ok());
    clock.advance(Duration::from_nanos(100)); // saturates at u64::MAX
    assert_eq!(b.available(), 2);
    assert!(b.try_acquire(2).is_ok());
    clock.advance(Duration::MAX);
    assert!(
        b.try_acquire(1).is_err(),
        "a saturated clock stops time, it does not refill"
    );
}

#[test]
fn a_clock_going_backwards_reads_as_no_time_passed() {
    let (b, clock) = bucket(1, 1, SEC);
    clock.set(10_000_000_000);
    assert!(b.try_acquire(1).is_ok());
    clock.set(0);
    assert!(b.try_acquire(1).is_err());
    assert_eq!(b.available(), 0);
}

#[test]
fn peek_answers_without_consuming() {
    let (b, _clock) = bucket(2, 1, SEC);
    assert!(b.peek(2).is_ok());
    assert!(b.peek(2).is_ok());
    assert!(b.try_acquire(2).is_ok());
    assert_eq!(
        b.peek(1),
        Err(TryAcquireError::Insufficient { retry_after: SEC })
    );
}

#[test]
fn status_reports_remaining_and_time_to_full() {
    let (b, _clock) = bucket(4, 4, SEC); // 250 ms per token
    let (remaining, full_after) = b.try_acquire_status(3).unwrap();
    assert_eq!(remaining, 1);
    assert_eq!(full_after, Duration::from_millis(750));
    let status = b.status();
    assert_eq!(
        (status.available, status.capacity, status.waiting),
        (1, 4, 0)
    );
    assert_eq!(status.full_after, Duration::from_millis(750));
}

#[test]
fn set_refill_carries_tokens_over_exactly() {
    let (b, clock) = bucket(10, 1, SEC);
    assert!(b.try_acquire(6).is_ok()); // 4 left, 6 missing
    b.set_refill(2, SEC).unwrap();
    assert_eq!(
        b.available(),
        4,
        "a rate change neither loses nor invents tokens"
    );
    assert_eq!(b.interval(), Duration::from_millis(500));
    clock.advance(Duration::from_millis(500));
    assert_eq!(b.available(), 5, "and refills at the new rate");
    b.set_refill(1, SEC * 10).unwrap();
    assert_eq!(b.available(), 5);
    clock.advance(SEC * 10);
    assert_eq!(b.available(), 6);
}

#[test]
fn set_refill_many_times_wraps_the_epoch_ring_safely() {
    let (b, clock) = bucket(100, 1, SEC);
    assert!(b.try_acquire(50).is_ok());
    for i in 0..100u32 {
        b.set_refill(1 + i % 7, SEC).unwrap();
        assert_eq!(b.available(), 50);
    }
    clock.advance(SEC * 1000);
    assert_eq!(b.available(), 100);
}

#[test]
fn set_refill_rejects_bad_rates_and_keeps_the_old_one() {
    let (b, _clock) = bucket(2, 1, SEC);
    assert_eq!(b.set_refill(0, SEC), Err(ConfigError::ZeroRefillTokens));
    assert_eq!(
        b.set_refill(1, Duration::ZERO),
        Err(ConfigError::ZeroRefillPeriod)
    );
    assert_eq!(b.interval(), SEC);
}

#[test]
fn clones_share_one_bucket() {
    let (b, _clock) = bucket(2, 1, SEC);
    let other = b.clone();
    assert!(b.try_acquire(1).is_ok());
    assert!(other.try_acquire(1).is_ok());
    assert!(b.try_acquire(1).is_err());
}

#[test]
fn contended_threads_never_exceed_capacity() {
    let (b, _clock) = bucket(1000, 1, SEC);
    let granted: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = &b;
                s.spawn(move || (0..1000).filter(|_| b.try_acquire(1).is_ok()).count())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| u32::try_from(h.join().unwrap()).unwrap())
            .sum()
    });
    assert_eq!(granted, 1000);
}
