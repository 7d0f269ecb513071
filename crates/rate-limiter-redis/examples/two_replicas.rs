//! Two "replicas" of a service share one limit through one Redis.
//!
//! ```text
//! redis-server --port 6379 &          # or any Redis you run
//! cargo run -p tidewater-rate-limiter-redis --example two_replicas
//! ```
//!
//! Each replica has its own connection and its own limiter, as two processes would; both
//! hammer the same client key. Together they admit the quota's burst of 20 and no more.
//! Set `TIDEWATER_REDIS_URL` to use another server.

use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::Quota;
use tidewater_rate_limiter_redis::{FailurePolicy, RedisKeyedRateLimiter, RedisStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("TIDEWATER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // A fresh prefix per run, so earlier runs' buckets do not count.
    let prefix = format!("two-replicas-example:{}:", std::process::id());
    // 20 requests of burst, then one per second, for every client key.
    let quota = Quota::per_second(1)?.allow_burst(20)?;

    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let store = RedisStore::builder(&url)
            .prefix(prefix.as_str())
            .timeout(Duration::from_millis(200))
            .connect()
            .await?;
        let limiter = RedisKeyedRateLimiter::builder(quota, store)
            .on_failure(FailurePolicy::FailClosed)
            .build()?;
        replicas.push((name, Arc::new(limiter)));
    }

    let mut tasks = Vec::new();
    for (name, limiter) in &replicas {
        let (name, limiter) = (*name, Arc::clone(limiter));
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0;
            for _ in 0..25 {
                if limiter.check_key("client-42").await.is_ok() {
                    admitted += 1;
                }
            }
            (name, admitted)
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (name, admitted) = task.await?;
        println!("{name}: admitted {admitted} of 25");
        total += admitted;
    }
    println!("together: {total} (the quota's burst is {})", quota.burst());

    let (_, a) = &replicas[0];
    let decision = a.check_key_decision("client-42").await?;
    println!("a 51st request: {decision:?}");
    for (header, value) in decision.headers() {
        println!("  {header}: {value}");
    }
    Ok(())
}
