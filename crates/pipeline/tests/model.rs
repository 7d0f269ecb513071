//! proptest model tests: random pipelines against the same steps on a `Vec`, and the hand-off
//! queue against a `VecDeque`.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use tidewater_pipeline::Pipeline;
use tidewater_pipeline::handoff::{Aborted, BatchQueue};

#[derive(Debug, Clone)]
enum Op {
    Map { add: u64, concurrency: usize },
    MapBlocking { concurrency: usize },
    Filter { modulo: u64 },
    Repeat,
    Rebatch { size: usize },
    Buffer { capacity: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5u64, 1..8usize).prop_map(|(add, concurrency)| Op::Map { add, concurrency }),
        (1..4usize).prop_map(|concurrency| Op::MapBlocking { concurrency }),
        (2..5u64).prop_map(|modulo| Op::Filter { modulo }),
        Just(Op::Repeat),
        (1..9usize).prop_map(|size| Op::Rebatch { size }),
        (1..40usize).prop_map(|capacity| Op::Buffer { capacity }),
    ]
}

fn reference(input: &[u64], ops: &[Op]) -> Vec<u64> {
    let mut v = input.to_vec();
    for op in ops {
        v = match *op {
            Op::Map { add, .. } => v.into_iter().map(|x| x + add).collect(),
            Op::MapBlocking { .. } => v.into_iter().map(|x| x * 2).collect(),
            Op::Filter { modulo } => v
                .into_iter()
                .filter(|x| !x.is_multiple_of(modulo))
                .collect(),
            Op::Repeat => v
                .into_iter()
                .flat_map(|x| vec![x; (x % 3) as usize])
                .collect(),
            Op::Rebatch { .. } | Op::Buffer { .. } => v,
        };
    }
    v
}

fn build(input: Vec<u64>, ops: &[Op]) -> Pipeline<u64> {
    let mut p = Pipeline::from_iter(input);
    for op in ops {
        p = match *op {
            Op::Map { add, concurrency } => p.map(concurrency, move |x| async move {
                tokio::time::sleep(Duration::from_micros(x % 7)).await;
                x + add
            }),
            Op::MapBlocking { concurrency } => p.map_blocking(concurrency, |x| x * 2),
            Op::Filter { modulo } => p.filter(move |x| !x.is_multiple_of(modulo)),
            Op::Repeat => p.flat_map(|x| vec![x; (x % 3) as usize]),
            Op::Rebatch { size } => p.batch(size, Duration::from_micros(50)).flat_map(|b| b),
            Op::Buffer { capacity } => p.buffer(capacity),
        };
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pipeline_matches_the_vec_model(input in prop::collection::vec(0..1_000u64, 0..300), ops in prop::collection::vec(op(), 0..6)) {
        let expected = reference(&input, &ops);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let (out, report) = rt.block_on(build(input.clone(), &ops).collect()).unwrap();
        prop_assert_eq!(out, expected);
        prop_assert!(report.is_balanced(), "{}", report);
        prop_assert_eq!(report.dropped(), 0);
        prop_assert_eq!(report.admitted(), input.len() as u64);
    }

    #[test]
    fn queue_matches_the_deque_model(cap in 1..16usize, ops in prop::collection::vec((0..5u8, 0..20usize), 0..60)) {
        let q = BatchQueue::new(cap);
        let mut model: VecDeque<u32> = VecDeque::new();
        let mut closed = false;
        let mut aborted = false;
        let mut next = 0u32;
        let mut cx = Context::from_waker(Waker::noop());
        for (kind, n) in ops {
            match kind {
                0 | 1 if !closed => {
                    let mut buf: Vec<u32> = (next..next + n as u32).collect();
                    next += n as u32;
                    let r = q.poll_push(&mut cx, &mut buf);
                    if aborted {
                        prop_assert_eq!(r, Poll::Ready(Err(Aborted)));
                        prop_assert_eq!(buf.len(), n);
                    } else {
                        let fit = n.min(cap - model.len());
                        model.extend(next - n as u32..next - (n - fit) as u32);
                        prop_assert_eq!(buf.len(), n - fit);
                        prop_assert_eq!(r.is_ready(), fit == n);
                    }
                }
                2 => {
                    let mut out = Vec::new();
                    let r = q.poll_pop(&mut cx, n, &mut out);
                    let take = n.max(1).min(model.len());
                    let want: Vec<u32> = model.drain(..take).collect();
                    prop_assert_eq!(&out, &want);
                    match r {
                        Poll::Ready(Some(k)) => prop_assert_eq!(k, take),
                        Poll::Ready(None) => prop_assert!(take == 0 && (closed || aborted)),
                        Poll::Pending => prop_assert!(take == 0 && !closed && !aborted),
                    }
                }
                3 => {
                    q.close();
                    closed = true;
                }
                _ => {
                    let dropped = q.abort();
                    prop_assert_eq!(dropped, model.len() as u64);
                    model.clear();
                    aborted = true;
                }
            }
            let c = q.counts();
            prop_assert_eq!(c.pushed, c.popped + c.dropped + model.len() as u64);
            prop_assert_eq!(q.len(), model.len());
        }
    }
}
