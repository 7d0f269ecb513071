//! Hot paths of tidewater-fan-out: trivial items through each entry point, and a slow head
//! item in front of an ordered stream (the reorder buffer at work).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tidewater_fan_out::FanOut;

const ITEMS: u64 = 10_000;

fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

fn entry_points(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("fan_out_crate/trivial_10k");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(200));
    g.measurement_time(Duration::from_secs(1));
    for (name, ordered) in [("run_ordered", true), ("run_unordered", false)] {
        g.bench_function(name, |b| {
            let mut fan = FanOut::new(limit(64));
            if !ordered {
                fan = fan.unordered();
            }
            b.iter(|| {
                rt.block_on(async {
                    let out = fan.run(0..ITEMS, |i| async move { Ok::<_, ()>(i) }).await;
                    black_box(out.map(|v| v.len()).unwrap_or(0))
                })
            });
        });
    }
    g.bench_function("stream_ordered", |b| {
        let fan = FanOut::new(limit(64));
        b.iter(|| {
            rt.block_on(async {
                let n = fan
                    .stream(0..ITEMS, |i| async move {
                        tokio::task::yield_now().await;
                        Ok::<_, ()>(i)
                    })
                    .count()
                    .await;
                black_box(n)
            })
        });
    });
    g.bench_function("for_each_unordered", |b| {
        let fan = FanOut::new(limit(64)).unordered();
        b.iter(|| {
            rt.block_on(async {
                let mut sum = 0u64;
                let _ = fan
                    .for_each(
                        0..ITEMS,
                        |i| async move { Ok::<_, ()>(i) },
                        |_, r| {
                            sum += r.unwrap_or(0);
                            std::future::ready(())
                        },
                    )
                    .await;
                black_box(sum)
            })
        });
    });
    g.finish();
}

criterion_group!(benches, entry_points);
criterion_main!(benches);
