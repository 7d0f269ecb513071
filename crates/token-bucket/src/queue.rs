//! The FIFO queue of waiting acquirers, free of any runtime so loom can explore it.
//!
//! Only the head of the queue holds a reservation in the bucket; the others cost nothing
//! but their entry (no timer, no polling). When the head's tokens are due it leaves and,
//! under the same lock, reserves for the next waiter and wakes it: one timer for the
//! whole queue, and no gap in which a later caller could slip in ahead of a waiter.

use std::collections::VecDeque;
use std::task::Waker;

use crate::state::BucketState;
use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering};

/// What a waiter should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The tokens are the caller's.
    Granted,
    /// The caller is the head: sleep this many nanoseconds, then poll again.
    Sleep(u64),
    /// Somebody is ahead: wait for the waker.
    Parked,
    /// The capacity shrank below the request while it waited; it left the queue.
    TooLarge,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    tokens: u32,
    /// Tokens reserved in the bucket for this entry (only the head holds any). Fewer than
    /// `tokens` when it became the head while the capacity was below its request.
    reserved: u32,
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
struct Entries {
    queue: VecDeque<Entry>,
    next_id: u64,
    /// Tokens requested by waiters behind the head (not yet reserved).
    unreserved: u64,
}

/// The waiters of one bucket, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    entries: Mutex<Entries>,
    /// Mirrors the queue length so the uncontended path checks it without the lock.
    len: AtomicUsize,
}

impl WaitQueue {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Nothing user-supplied runs under this lock, so poisoning cannot leave it torn.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether nobody is waiting (a hint: a waiter may arrive right after).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// Number of waiters.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Nanoseconds until `tokens` would be granted to a caller joining the back now.
    pub(crate) fn predicted_wait(&self, bucket: &BucketState, now: u64, tokens: u32) -> u64 {
        let entries = self.lock();
        predict(bucket, now, entries.unreserved, tokens)
    }

    /// Joins the back of the queue. Returns the waiter's id, or `None` if it was granted
    /// at once (it arrived at an empty queue and its tokens were already due).
    /// With `max_wait`, refuses (returning the predicted wait) instead of joining when the
    /// wait would be longer.
    pub(crate) fn join(
        &self,
        bucket: &BucketState,
        now: u64,
        tokens: u32,
        max_wait: Option<u64>,
        waker: &Waker,
    ) -> Result<(Option<u64>, Progress), u64> {
        let mut entries = self.lock();
        if let Some(max_wait) = max_wait {
            let predicted = predict(bucket, now, entries.unreserved, tokens);
            if predicted > max_wait {
                return Err(predicted);
            }
        }
        if entries.queue.is_empty() {
            let (wait, reserved) = bucket.reserve(now, tokens);
            if reserved < tokens {
                // The capacity shrank below the request since the caller checked it.
                bucket.unreserve(now, reserved);
                return Ok((None, Progress::TooLarge));
            }
            if wait == 0 {
                return Ok((None, Progress::Granted));
            }
            let id = entries.push(tokens, waker);
            if let Some(head) = entries.queue.front_mut() {
                head.reserved = reserved;
            }
            self.len.store(entries.queue.len(), Ordering::Release);
            return Ok((Some(id), Progress::Sleep(wait)));
        }
        entries.unreserved += u64::from(tokens);
        let id = entries.push(tokens, waker);
        self.len.store(entries.queue.len(), Ordering::Release);
        Ok((Some(id), Progress::Parked))
    }

    /// Polls waiter `id`: granted if it is the head and its tokens are due.
    pub(crate) fn poll(&self, bucket: &BucketState, now: u64, id: u64, waker: &Waker) -> Progress {
        let mut entries = self.lock();
        let Some(position) = entries.queue.iter().position(|e| e.id == id) else {
            // Entries leave only through their owner (grant or cancel), which then forgets
            // its id; an unknown id cannot be polled.
            debug_assert!(false, "polled waiter {id} is not queued");
            return Progress::Granted;
        };
        if entries.queue[position].tokens > bucket.capacity() {
            drop(entries);
            self.cancel(bucket, now, id);
            return Progress::TooLarge;
        }
        if position == 0 {
            let head = &mut entries.queue[0];
            if head.reserved < head.tokens {
                // It became the head while the capacity was below its request, which fits
                // again: reserve the rest before it can be granted.
                let (_, more) = bucket.reserve(now, head.tokens - head.reserved);
                head.reserved += more;
            }
            if let Some(wait) = bucket.debt_remaining(now) {
                entries.queue[0].set_waker(waker);
                return Progress::Sleep(wait);
            }
            entries.queue.pop_front();
            let next = self.hand_off(&mut entries, bucket, now);
            drop(entries);
            wake(next);
            return Progress::Granted;
        }
        entries.queue[position].set_waker(waker);
        Progress::Parked
    }

    /// Removes waiter `id` (its future was dropped), returning a pending reservation to
    /// the bucket and passing the head on if it was the head.
    pub(crate) fn cancel(&self, bucket: &BucketState, now: u64, id: u64) {
        let mut entries = self.lock();
        let Some(position) = entries.queue.iter().position(|e| e.id == id) else {
            return;
        };
        let Some(entry) = entries.queue.remove(position) else {
            return;
        };
        if position == 0 {
            bucket.refund_pending(now, entry.reserved);
            let next = self.hand_off(&mut entries, bucket, now);
            drop(entries);
            wake(next);
        } else {
            entries.unreserved -= u64::from(entry.tokens);
            self.len.store(entries.queue.len(), Ordering::Release);
        }
    }

    /// Wakes every waiter so each re-checks its request against new limits (rare).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .lock()
            .queue
            .iter()
            .filter_map(|e| e.waker.clone())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Makes the new front (if any) the head: reserves its tokens and returns its waker.
    fn hand_off(&self, entries: &mut Entries, bucket: &BucketState, now: u64) -> Option<Waker> {
        self.len.store(entries.queue.len(), Ordering::Release);
        let tokens = entries.queue.front()?.tokens;
        entries.unreserved -= u64::from(tokens);
        let (_, mut reserved) = bucket.reserve(now, tokens);
        if reserved < tokens {
            // Its request exceeds the capacity now: hold nothing for it. Woken, it fails
            // with `TooLarge`, or reserves in full if the capacity has grown back by then.
            bucket.unreserve(now, reserved);
            reserved = 0;
        }
        let head = entries.queue.front_mut()?;
        head.reserved = reserved;
        head.waker.take()
    }
}

impl Entries {
    fn push(&mut self, tokens: u32, waker: &Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back(Entry {
            id,
            tokens,
            reserved: 0,
            waker: Some(waker.clone()),
        });
        id
    }
}

impl Entry {
    fn set_waker(&mut self, waker: &Waker) {
        match &self.waker {
            Some(current) if current.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The wait for `tokens` behind `queued` unreserved tokens, from the bucket's state.
fn predict(bucket: &BucketState, now: u64, queued: u64, tokens: u32) -> u64 {
    let (gcra, tat) = bucket.snapshot(now);
    let ahead = queued.saturating_add(u64::from(tokens));
    let end = tat
        .max(now)
        .saturating_add(ahead.saturating_mul(gcra.interval_nanos()));
    gcra.due(end).saturating_sub(now)
}
