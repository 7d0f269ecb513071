//! Paces a burst of simulated requests through one bucket from several tasks, showing
//! the FIFO wait, `acquire_within` shedding, a live rate change, and the final counts.
//!
//! Run: `cargo run -p tidewater-token-bucket --example paced_requests`
//! Options: `--requests N` (default 60), `--rate R` per second (default 20), `--burst B` (default 5).

use std::time::{Duration, Instant};

use tidewater_token_bucket::{AcquireWithinError, TokenBucket};

struct Options {
    requests: u32,
    rate: u32,
    burst: u32,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        requests: 60,
        rate: 20,
        burst: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u32 = value
            .parse()
            .map_err(|_| format!("{flag} expects a number, got {value:?}"))?;
        match flag.as_str() {
            "--requests" => options.requests = number,
            "--rate" => options.rate = number,
            "--burst" => options.burst = number,
            _ => {
                return Err(format!(
                    "unknown option {flag}; use --requests, --rate or --burst"
                ));
            }
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    let bucket = TokenBucket::builder()
        .capacity(options.burst)
        .refill(options.rate, Duration::from_secs(1))
        .build()?;
    println!(
        "bucket: burst {}, {} per second; sending {} requests from 16 tasks",
        options.burst, options.rate, options.requests
    );

    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..16u32 {
        let bucket = bucket.clone();
        let share = options.requests / 16 + u32::from(worker < options.requests % 16);
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut shed) = (0u32, 0u32);
            for _ in 0..share {
                // Interactive traffic: give up rather than queue for more than 300 ms.
                match bucket.acquire_within(1, Duration::from_millis(300)).await {
                    Ok(()) => sent += 1,
                    Err(AcquireWithinError::WouldWait { .. }) => {
                        shed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok((sent, shed))
        }));
    }

    // Halfway through, an operator doubles the rate; tokens in the bucket carry over.
    let rerate = {
        let bucket = bucket.clone();
        let doubled = options.rate.saturating_mul(2);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            bucket
                .set_refill(doubled, Duration::from_secs(1))
                .map(|()| doubled)
        })
    };

    let (mut sent, mut shed) = (0, 0);
    for task in tasks {
        let (s, d) = task.await??;
        sent += s;
        shed += d;
    }
    let doubled = rerate.await??;
    let elapsed = start.elapsed();
    println!("rate raised to {doubled}/s after 1 s");
    println!(
        "sent {sent}, shed {shed} of {} in {elapsed:.2?} ({:.1} sent/s); {} tokens left",
        options.requests,
        f64::from(sent) / elapsed.as_secs_f64(),
        bucket.available()
    );
    assert_eq!(
        sent + shed,
        options.requests,
        "every request is either sent or shed"
    );
    Ok(())
}
