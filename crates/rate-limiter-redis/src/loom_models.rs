//! loom models of the lease table: tokens are conserved under every interleaving.
//!
//! Run with `RUSTFLAGS="--cfg tidewater_loom" cargo test --release -p
//! tidewater-rate-limiter-redis --lib loom` (or `cargo xtask loom`).

use std::time::{Duration, Instant};

use loom::sync::Arc;
use loom::thread;

use crate::lease::{LeaseConfig, LeaseTable};
use crate::metrics::Counters;

const AGE: Duration = Duration::from_secs(1);

fn table() -> Arc<(LeaseTable, Counters)> {
    Arc::new((
        LeaseTable::new(LeaseConfig {
            size: 4,
            max_age: Some(AGE),
        }),
        Counters::default(),
    ))
}

/// Every token deposited is exactly one of: held, served, or counted expired.
fn assert_conserved(shared: &(LeaseTable, Counters), key: &str) {
    let m = shared.1.snapshot();
    let held = u64::from(shared.0.held(key));
    assert_eq!(
        m.leased_tokens,
        held + m.served_from_lease + m.expired_lease_tokens,
        "leased {} != held {held} + served {} + expired {}",
        m.leased_tokens,
        m.served_from_lease,
        m.expired_lease_tokens
    );
}

/// Two takers race a depositor: no token is served twice or lost, and a taker is only
/// ever served what was deposited.
#[test]
fn takes_racing_a_deposit_serve_each_token_once() {
    loom::model(|| {
        let shared = table();
        let t0 = Instant::now();
        shared.0.deposit("k", 1, (t0, AGE), &shared.1);
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.0.take("k", 1, (t0, AGE), false, &shared.1).is_some())
            })
            .collect();
        shared.0.deposit("k", 1, (t0, AGE), &shared.1);
        let served = takers
            .into_iter()
            .map(|t| t.join().expect("taker"))
            .filter(|&s| s)
            .count();
        assert!(served <= 2);
        assert_conserved(&shared, "k");
    });
}

/// A taker finds an expired lease while a depositor adds fresh tokens: the fresh tokens
/// survive (held, or served), and only the stale ones are counted expired.
#[test]
fn an_expiring_lease_never_swallows_a_fresh_deposit() {
    loom::model(|| {
        let shared = table();
        let t0 = Instant::now();
        shared.0.deposit("k", 3, (t0, AGE), &shared.1);
        let late = t0 + AGE * 2;
        let taker = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.0.take("k", 1, (late, AGE), false, &shared.1))
        };
        shared.0.deposit("k", 2, (late, AGE), &shared.1);
        let served = taker.join().expect("taker");
        assert_conserved(&shared, "k");
        let m = shared.1.snapshot();
        assert_eq!(m.expired_lease_tokens, 3, "exactly the stale tokens expire");
        let fresh_left = u64::from(shared.0.held("k")) + u64::from(served.is_some());
        assert_eq!(fresh_left, 2, "the fresh deposit is held or served");
    });
}
