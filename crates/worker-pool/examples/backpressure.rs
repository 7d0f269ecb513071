//! A producer faster than its workers: `submit` waits for queue space, `try_submit` sheds
//! load, and `shutdown` reports what happened to every job.
//!
//! Run: `cargo run -p tidewater-worker-pool --example backpressure`

use std::time::Duration;

use tidewater_worker_pool::{TrySubmitError, WorkerPool};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = WorkerPool::builder()
        .workers(2)
        .queue_capacity(4)
        .name("ingest")
        .build()?;

    // Waits whenever the 4 slots are taken: memory stays bounded however fast we produce.
    let mut handles = Vec::new();
    for i in 0..10u64 {
        handles.push(
            pool.submit(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                i * 10
            })
            .await?,
        );
    }

    // Sheds load instead of waiting: the job comes back to us when the queue is full.
    let mut shed = 0;
    for i in 0..10u64 {
        match pool.try_submit(async move { i }) {
            Ok(handle) => handle.detach(),
            Err(TrySubmitError::Full(_job)) => shed += 1,
            Err(TrySubmitError::Closed(_job)) => break,
        }
    }

    let mut total = 0;
    for handle in handles {
        total += handle.await?;
    }
    let report = pool.shutdown(Duration::from_secs(1)).await;
    println!("sum = {total}, shed = {shed}");
    println!(
        "completed {} panicked {} cancelled {} rejected {}",
        report.completed, report.panicked, report.cancelled, report.rejected
    );
    println!("metrics: {:?}", pool.metrics());
    Ok(())
}
