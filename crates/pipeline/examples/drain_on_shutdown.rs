//! A service-style pipeline: a producer feeds a channel, stages parse, score and batch, and a
//! shutdown signal drains everything already inside before the report is printed.
//!
//! `cargo run -p tidewater-pipeline --example drain_on_shutdown`

use std::time::Duration;

use tidewater_pipeline::{CancelMode, CancellationToken, ErrorPolicy, Pipeline};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), tidewater_pipeline::PipelineError> {
    let (tx, rx) = mpsc::channel::<String>(256);
    let producer = tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let line = if sent.is_multiple_of(97) {
                "garbage".to_owned()
            } else {
                sent.to_string()
            };
            if tx.send(line).await.is_err() {
                return sent; // the pipeline closed its input on shutdown
            }
            sent += 1;
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
    });

    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        // In a real service: tokio::signal::ctrl_c().await
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal.cancel();
    });

    let mut rows = 0usize;
    let report = Pipeline::from_receiver(rx)
        .cancel_on(shutdown, CancelMode::Drain)
        .try_map(8, ErrorPolicy::Skip, |line: String| async move {
            line.parse::<u64>()
        })
        .name("parse")
        .map_blocking(2, |n| (n, n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48))
        .name("score")
        .batch(64, Duration::from_millis(10))
        .name("batch")
        .for_each(|batch| {
            rows += batch.len();
            async move { tokio::time::sleep(Duration::from_millis(1)).await }
        })
        .await?;

    let sent = producer.await.unwrap_or(0);
    println!("{report}");
    println!(
        "sent {sent}, stored {rows}, bottleneck: {:?}",
        report.bottleneck().map(|s| &s.name)
    );
    assert_eq!(
        report.admitted(),
        sent,
        "every line that was sent was taken in"
    );
    assert!(report.is_balanced());
    Ok(())
}
