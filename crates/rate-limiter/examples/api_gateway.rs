//! A toy API gateway: a per-client rate limit answered with HTTP headers, a shared global
//! limit, and an adaptive concurrency limit in front of a backend.

use std::time::Duration;

use tidewater_rate_limiter::{AdaptiveLimiter, KeyedRateLimiter, Quota, RateLimiter};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_client = KeyedRateLimiter::<String>::new(Quota::per_second(2)?);
    let global = RateLimiter::new(Quota::per_second(1000)?);
    let backend = AdaptiveLimiter::builder()
        .initial(4)
        .ceiling(32)
        .latency_threshold(Duration::from_millis(200))
        .build()?;

    for (i, client) in ["alice", "alice", "alice", "bob"].into_iter().enumerate() {
        let decision = per_client.check_key_decision(&client.to_owned());
        if !decision.allowed || global.check().is_err() {
            println!("request {i} from {client}: 429");
            for (name, value) in decision.headers() {
                println!("    {name}: {value}");
            }
            continue;
        }
        let permit = backend.acquire().await;
        println!(
            "request {i} from {client}: 200 (backend limit {})",
            backend.limit()
        );
        permit.success();
    }
    Ok(())
}
