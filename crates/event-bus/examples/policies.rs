//! One topic, three subscribers with three overflow policies.
//!
//! `cargo run -p tidewater-event-bus --example policies`

use tidewater_event_bus::{EventBus, Overflow, RecvError, Start, SubscribeOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = EventBus::new();
    let ticks = bus.topic::<u64>("market.ticks")?;

    let opts = |overflow| SubscribeOptions {
        capacity: 4,
        overflow,
        start: Start::Now,
    };
    let mut audit = ticks.subscribe_with(opts(Overflow::Block))?; // lossless
    let mut dashboard = ticks.subscribe_with(opts(Overflow::Lag))?; // freshest data
    let mut sampler = ticks.subscribe_with(opts(Overflow::DropNewest))?; // first few only

    let auditor = tokio::spawn(async move {
        let mut n = 0;
        while audit.recv().await.is_ok() {
            n += 1;
        }
        n
    });
    for price in 0..20 {
        // Waits for `audit` only; the other two never hold the publisher back.
        ticks.publish_async(price).await?;
        tokio::task::yield_now().await;
    }
    ticks.close();

    loop {
        match dashboard.recv().await {
            Ok(tick) => println!("dashboard: tick #{} = {}", tick.seq(), *tick),
            Err(RecvError::Lagged { missed }) => println!("dashboard: skipped {missed} ticks"),
            Err(RecvError::Closed) => break,
        }
    }
    let mut sampled = Vec::new();
    while let Ok(tick) = sampler.recv().await {
        sampled.push(*tick);
    }
    println!(
        "sampler kept {sampled:?}, dropped {}",
        sampler.metrics().dropped
    );
    println!("auditor received {} of 20", auditor.await?);
    println!("topic metrics: {:?}", ticks.metrics());
    Ok(())
}
