//! CPU-bound work on dedicated threads, from sync code, with a panic that does not take the
//! pool (or the process) down.
//!
//! Run: `cargo run -p tidewater-worker-pool --example blocking`

use std::time::Duration;

use tidewater_worker_pool::{BlockingPool, JobError};

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = BlockingPool::builder()
        .workers(2)
        .queue_capacity(8)
        .name("cpu")
        .build()?;

    let handles: Vec<_> = (20..26)
        .map(|n| pool.execute(move || fib(n)))
        .collect::<Result<_, _>>()?;
    let broken = pool.execute(|| -> u64 { panic!("bad input") })?;

    for handle in handles {
        println!("fib = {}", handle.wait()?);
    }
    match broken.wait() {
        Err(JobError::Panicked(message)) => {
            println!("a job panicked ({message}); the pool lives on");
        }
        other => println!("unexpected: {other:?}"),
    }
    let report = pool.shutdown(Duration::from_secs(5));
    println!(
        "completed {} panicked {}",
        report.completed, report.panicked
    );
    Ok(())
}
