//! A toy crawler: fetch pages with at most 4 in flight, a per-page timeout, and every
//! failure reported by index.

use std::num::NonZeroUsize;
use std::time::Duration;

use tidewater_fan_out::{ErrorPolicy, FanOut, ItemError};

async fn fetch(id: u32) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(u64::from(id % 5) * 10)).await;
    match id {
        7 => Err(format!("page {id}: 404")),
        9 => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(String::new())
        }
        _ => Ok(format!("page {id}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let fan = FanOut::new(NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN))
        .error_policy(ErrorPolicy::CollectAll)
        .item_timeout(Duration::from_millis(200));
    match fan.run(0..12u32, fetch).await {
        Ok(pages) => println!("all {} pages fetched", pages.len()),
        Err(report) => {
            println!("{report}");
            for (index, error) in &report.failures {
                match error {
                    ItemError::TimedOut(after) => println!("  #{index}: timed out after {after:?}"),
                    other => println!("  #{index}: {other}"),
                }
            }
            println!("  {} pages fetched", report.completed.len());
        }
    }
}
