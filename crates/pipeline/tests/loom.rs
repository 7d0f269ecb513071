//! loom models of the stage hand-off queue (`handoff::BatchQueue`), the core every pair of
//! stages shares. Run with:
//! `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tidewater-pipeline --test loom`
#![cfg(tidewater_loom)]

use std::future::poll_fn;

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use tidewater_pipeline::handoff::BatchQueue;

fn push_all(q: &BatchQueue<u32>, items: &[u32]) -> Result<(), Vec<u32>> {
    let mut buf = items.to_vec();
    match block_on(poll_fn(|cx| q.poll_push(cx, &mut buf))) {
        Ok(()) => Ok(()),
        Err(_) => Err(buf),
    }
}

fn pop_until_end(q: &BatchQueue<u32>, max: usize) -> Vec<u32> {
    let mut got = Vec::new();
    while block_on(poll_fn(|cx| q.poll_pop(cx, max, &mut got))).is_some() {}
    got
}

/// Close/drain never loses an item and no wake-up is lost: a producer pushing more than the
/// capacity (so it must wait for room) and then closing, and a consumer popping in batches until
/// the end, finish with every item received exactly once, in order. A lost wake-up on either
/// side shows up as a loom deadlock.
#[test]
fn drain_delivers_everything_in_order() {
    loom::model(|| {
        let q = Arc::new(BatchQueue::new(2));
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                assert!(push_all(&q, &[1, 2, 3]).is_ok());
                assert!(push_all(&q, &[4]).is_ok());
                q.close();
            })
        };
        let got = pop_until_end(&q, 2);
        producer.join().unwrap();
        assert_eq!(got, vec![1, 2, 3, 4]);
        let c = q.counts();
        assert_eq!((c.pushed, c.popped, c.dropped), (4, 4, 0));
    });
}

/// The producer's low-water wake at its edge: with capacity 1 the low-water mark is 0, so a
/// waiting producer must be woken exactly when a pop empties the queue. Three items force it to
/// wait twice; a wake skipped at the mark shows up as a loom deadlock.
#[test]
fn low_water_wake_is_never_lost() {
    loom::model(|| {
        let q = Arc::new(BatchQueue::new(1));
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                assert!(push_all(&q, &[1, 2, 3]).is_ok());
                q.close();
            })
        };
        let got = pop_until_end(&q, 1);
        producer.join().unwrap();
        assert_eq!(got, vec![1, 2, 3]);
    });
}

/// Abort accounting: while a producer pushes (waiting for room) and a consumer pops one batch
/// and then aborts, every item is exactly one of popped, dropped-and-counted by `abort`, or left
/// in the producer's buffer (returned to it). The producer is never left waiting.
#[test]
fn abort_counts_every_item_once() {
    loom::model(|| {
        let q = Arc::new(BatchQueue::new(2));
        let producer = {
            let q = Arc::clone(&q);
            thread::spawn(move || match push_all(&q, &[1, 2, 3]) {
                Ok(()) => 0,
                Err(left) => left.len() as u64,
            })
        };
        let mut got = Vec::new();
        let _ = block_on(poll_fn(|cx| q.poll_pop(cx, 1, &mut got)));
        let dropped = q.abort();
        let returned = producer.join().unwrap();
        let popped = got.len() as u64;
        assert_eq!(
            popped + dropped + returned,
            3,
            "popped {popped} dropped {dropped} returned {returned}"
        );
        let c = q.counts();
        assert_eq!(c.pushed, c.popped + c.dropped);
        assert_eq!((c.popped, c.dropped), (popped, dropped));
    });
}

/// No lost wake-up across three threads: the consumer waits on an empty queue while the
/// producer pushes and a third thread (the producer's owner) closes it; the consumer always
/// wakes and sees the pushed item before the end.
#[test]
fn waiting_consumer_sees_push_then_close() {
    loom::model(|| {
        let q = Arc::new(BatchQueue::new(1));
        let consumer = {
            let q = Arc::clone(&q);
            thread::spawn(move || pop_until_end(&q, 4))
        };
        let pusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || assert!(push_all(&q, &[7]).is_ok()))
        };
        pusher.join().unwrap();
        q.close();
        assert_eq!(consumer.join().unwrap(), vec![7]);
    });
}
