//! Publishes bursts of 256 events and drains 16 subscribers (a profiling target).
use tidewater_event_bus::{Topic, TopicOptions};

fn main() {
    if std::env::args().any(|a| a == "tokio") {
        println!("{}", tokio_variant());
        return;
    }
    if std::env::args().any(|a| a == "lag") {
        lag(std::env::args().any(|a| a == "tk"));
        return;
    }
    let visit = std::env::args().any(|a| a == "visit");
    let topic = Topic::<u64>::new("profile", TopicOptions { capacity: 1024 }).expect("capacity");
    let mut subs: Vec<_> = (0..16).map(|_| topic.subscribe()).collect();
    let mut sum = 0u64;
    for _ in 0..20_000 {
        for i in 0..256 {
            topic.publish(i);
        }
        for sub in &mut subs {
            if visit {
                let _ = sub.try_recv_with(usize::MAX, |_, v| sum = sum.wrapping_add(*v));
            } else {
                while let Ok(event) = sub.try_recv() {
                    sum = sum.wrapping_add(*event);
                }
            }
        }
    }
    println!("{sum}");
}

#[allow(dead_code)]
fn tokio_variant() -> u64 {
    let (tx, _) = tokio::sync::broadcast::channel::<u64>(1024);
    let mut subs: Vec<_> = (0..16).map(|_| tx.subscribe()).collect();
    let mut sum = 0u64;
    for _ in 0..20_000 {
        for i in 0..256 {
            let _ = tx.send(i);
        }
        for sub in &mut subs {
            while let Ok(v) = sub.try_recv() {
                sum = sum.wrapping_add(v);
            }
        }
    }
    sum
}

fn lag(tk: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("rt");
    rt.block_on(async {
        let start = std::time::Instant::now();
        let mut total = 0;
        if tk {
            let (tx, _) = tokio::sync::broadcast::channel::<u64>(1024);
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let mut rx = tx.subscribe();
                    tokio::spawn(async move {
                        let mut got = 0u64;
                        loop {
                            match rx.recv().await {
                                Ok(_) => got += 1,
                                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                                Err(_) => break got,
                            }
                        }
                    })
                })
                .collect();
            for i in 0..1_000_000u64 {
                let _ = tx.send(i);
            }
            drop(tx);
            for t in tasks {
                total += t.await.expect("task");
            }
        } else {
            let topic =
                Topic::<u64>::new("lag", TopicOptions { capacity: 1024 }).expect("capacity");
            let tasks: Vec<_> = (0..4)
                .map(|_| {
                    let mut sub = topic.subscribe();
                    tokio::spawn(async move {
                        let mut got = 0u64;
                        loop {
                            match sub.recv().await {
                                Ok(_) => got += 1,
                                Err(tidewater_event_bus::RecvError::Lagged { .. }) => {}
                                Err(_) => break got,
                            }
                        }
                    })
                })
                .collect();
            for i in 0..1_000_000u64 {
                topic.publish(i);
            }
            drop(topic);
            for t in tasks {
                total += t.await.expect("task");
            }
        }
        println!("delivered {total} in {:?}", start.elapsed());
    });
}
