//! proptest: random acquire/advance/re-rate sequences against a simple reference
//! bucket that counts tokens in exact rational arithmetic. Same answers expected.
#![cfg(not(tidewater_loom))]

use std::time::Duration;

use proptest::prelude::*;
use tidewater_token_bucket::{ManualClock, TokenBucket, TryAcquireError};

/// The obvious bucket: a token count, refilled by elapsed time / interval, capped.
/// Kept in units of nanoseconds-of-refill so it is exact.
struct Reference {
    capacity: u64,
    interval: u64,
    /// Accrued refill in nanoseconds (tokens * interval), at most capacity * interval.
    fill: u64,
    last: u64,
}

impl Reference {
    fn advance(&mut self, now: u64) {
        let elapsed = now - self.last;
        self.fill = (self.fill + elapsed).min(self.capacity * self.interval);
        self.last = now;
    }

    fn try_acquire(&mut self, now: u64, n: u64) -> Result<(), Option<u64>> {
        self.advance(now);
        if n > self.capacity {
            return Err(None);
        }
        let need = n * self.interval;
        if self.fill >= need {
            self.fill -= need;
            Ok(())
        } else {
            Err(Some(need - self.fill))
        }
    }

    fn available(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.fill / self.interval
    }

    fn rerate(&mut self, now: u64, interval: u64) {
        self.advance(now);
        // Keep the token balance: fill is tokens * interval.
        let tokens_scaled =
            u128::from(self.fill) * u128::from(interval) / u128::from(self.interval);
        self.fill = u64::try_from(tokens_scaled).unwrap();
        self.interval = interval;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(u32),
    Advance(u64),
    Available,
    Rerate(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..6).prop_map(Op::Acquire),
        3 => (0u64..3_000).prop_map(Op::Advance),
        1 => Just(Op::Available),
        1 => (1u64..5).prop_map(|k| Op::Rerate(k * 100)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bucket_matches_reference(capacity in 1u32..6, interval in 1u64..5, ops in proptest::collection::vec(op(), 1..60)) {
        let interval = interval * 100;
        let clock = ManualClock::new();
        let bucket = TokenBucket::builder()
            .capacity(capacity)
            .refill(1, Duration::from_nanos(interval))
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut reference = Reference { capacity: u64::from(capacity), interval, fill: u64::from(capacity) * interval, last: 0 };
        let mut now = 0;
        for op in ops {
            match op {
                Op::Acquire(n) => {
                    let got = bucket.try_acquire(n);
                    let want = reference.try_acquire(now, u64::from(n));
                    match (got, want) {
                        (Ok(()), Ok(())) => {}
                        (Err(TryAcquireError::Insufficient { retry_after }), Err(Some(wait))) => {
                            prop_assert_eq!(retry_after, Duration::from_nanos(wait));
                        }
                        (Err(TryAcquireError::ExceedsCapacity { .. }), Err(None)) => {}
                        (got, want) => prop_assert!(false, "bucket {:?} vs reference {:?} at {}", got, want, now),
                    }
                }
                Op::Advance(by) => {
                    now += by;
                    clock.advance(Duration::from_nanos(by));
                }
                Op::Available => prop_assert_eq!(u64::from(bucket.available()), reference.available(now)),
                Op::Rerate(new_interval) => {
                    bucket.set_refill(1, Duration::from_nanos(new_interval)).unwrap();
                    reference.rerate(now, new_interval);
                }
            }
        }
    }
}
