//! Lock-free fixed-window and sliding-window (weighted two-window) counters.
//!
//! The whole state is one `AtomicU64` updated by compare-and-swap:
//! `generation (2 bits) | window index (22) | current count (20) | previous count (20)`.
//! The window index is kept modulo 2^22; a limiter idle for an exact multiple of 2^22
//! windows would read its old counts once, which can only refuse more, never admit more.
//!
//! The parameters (limit and window length) live in a second word with the same 2-bit
//! generation. A change publishes new parameters under the next generation and then
//! re-expresses the state under them; a reader that meets a state of another generation
//! carries its counts over into the current window instead of trusting an index measured
//! in another unit, so a change can never reset the counts (no burst on reconfiguration).

use crate::sync::{AtomicU64, Mutex, Ordering};

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const INDEX_BITS: u32 = 22;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const MICROS_BITS: u32 = 42;
const MICROS_MASK: u64 = (1 << MICROS_BITS) - 1;
const GEN_SHIFT: u32 = 62;

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowKind {
    /// Count per aligned window; the count resets at each window start.
    Fixed,
    /// `previous * (1 - elapsed fraction) + current`, the weighted two-window estimate.
    Sliding,
}

/// Decoded parameters.
#[derive(Debug, Clone, Copy)]
struct Params {
    generation: u64,
    limit: u64,
    window: u64,
}

impl Params {
    fn decode(word: u64) -> Self {
        Self {
            generation: word >> GEN_SHIFT,
            limit: (word >> MICROS_BITS) & COUNT_MASK,
            window: (word & MICROS_MASK) * 1000,
        }
    }

    fn encode(generation: u64, limit: u32, window_micros: u64) -> u64 {
        (generation << GEN_SHIFT)
            | ((u64::from(limit) & COUNT_MASK) << MICROS_BITS)
            | (window_micros & MICROS_MASK)
    }
}

/// What a check decided, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_after: u64,
    /// `None` when allowed or when `n` exceeds the limit.
    pub(crate) retry_after: Option<u64>,
}

/// One window counter: the state word, its parameters and the lock serializing changes.
#[derive(Debug)]
pub(crate) struct WindowCounter {
    kind: WindowKind,
    params: AtomicU64,
    state: AtomicU64,
    change: Mutex<()>,
}

impl WindowCounter {
    /// A counter allowing `limit` (at most 2^20 - 1) per window of `window_micros`.
    pub(crate) fn new(kind: WindowKind, limit: u32, window_micros: u64) -> Self {
        Self {
            kind,
            params: AtomicU64::new(Params::encode(0, limit, window_micros)),
            state: AtomicU64::new(0),
            change: Mutex::new(()),
        }
    }

    pub(crate) fn kind(&self) -> WindowKind {
        self.kind
    }

    fn limit_of(p: Params) -> u32 {
        // Masked to 20 bits.
        #[allow(clippy::cast_possible_truncation)]
        let limit = p.limit as u32;
        limit
    }

    fn load_params(&self) -> Params {
        Params::decode(self.params.load(Ordering::Acquire))
    }

    /// Counts `n` at `now` if the limit allows it.
    pub(crate) fn try_take(&self, now: u64, n: u32) -> Verdict {
        let mut p = self.load_params();
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            if word >> GEN_SHIFT != p.generation {
                // A change re-expressed the state after `p` was read (its parameters are
                // published first, so this reads them), or is doing so now. Never write a
                // state under replaced parameters: readers would carry its counts over
                // unaged, and a full window would refuse everything until the next change.
                p = self.load_params();
            }
            let (curr, prev) = counts(p, word, now);
            let verdict = self.judge(p, curr, prev, now, n);
            if !verdict.allowed || n == 0 {
                return verdict;
            }
            let next = pack(p, now, curr + u64::from(n), prev);
            match self
                .state
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return verdict,
                Err(actual) => word = actual,
            }
        }
    }

    /// What [`try_take`](Self::try_take) would answer, counting nothing.
    pub(crate) fn peek(&self, now: u64, n: u32) -> Verdict {
        let p = self.load_params();
        let (curr, prev) = counts(p, self.state.load(Ordering::Acquire), now);
        self.judge(p, curr, prev, now, n)
    }

    /// Replaces limit and window at `now`, keeping the counts of the current window(s).
    pub(crate) fn set(&self, now: u64, limit: u32, window_micros: u64) {
        let _serial = self
            .change
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.load_params();
        let new = Params::encode((old.generation + 1) & 3, limit, window_micros);
        self.params.store(new, Ordering::Release);
        let new = Params::decode(new);
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            // Counts as of `now` under the parameters the state was written with.
            let (curr, prev) = counts(old, word, now);
            let next = pack(new, now, curr, prev);
            match self
                .state
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    fn judge(&self, p: Params, curr: u64, prev: u64, now: u64, n: u32) -> Verdict {
        let n = u64::from(n);
        let limit = Self::limit_of(p);
        let (w, e) = (p.window, now % p.window);
        let to_end = w - e;
        let verdict = |allowed: bool, used: u128, curr_after: u64, retry_after: Option<u64>| {
            let scaled_limit = u128::from(p.limit) * u128::from(w);
            let free = scaled_limit.saturating_sub(used) / u128::from(w);
            let reset_after = if curr_after > 0 {
                match self.kind {
                    WindowKind::Fixed => to_end,
                    WindowKind::Sliding => to_end + w,
                }
            } else if prev > 0 && self.kind == WindowKind::Sliding {
                to_end
            } else {
                0
            };
            Verdict {
                allowed,
                limit,
                remaining: u32::try_from(free).unwrap_or(u32::MAX),
                reset_after,
                retry_after,
            }
        };
        let weighted_prev = match self.kind {
            WindowKind::Fixed => 0,
            WindowKind::Sliding => u128::from(prev) * u128::from(to_end),
        };
        let used_now = weighted_prev + u128::from(curr) * u128::from(w);
        if n > p.limit {
            return verdict(false, used_now, curr, None);
        }
        let used_after = used_now + u128::from(n) * u128::from(w);
        if used_after <= u128::from(p.limit) * u128::from(w) {
            return verdict(true, used_after, curr + n, None);
        }
        let wait = match self.kind {
            WindowKind::Fixed => to_end,
            WindowKind::Sliding => sliding_wait(p.limit, w, e, curr, prev, n),
        };
        verdict(false, used_now, curr, Some(wait))
    }
}

/// The earliest wait after which `n` more fit the weighted estimate, assuming nothing
/// else is counted meanwhile. The estimate only falls as time passes, so this is exact.
fn sliding_wait(limit: u64, w: u64, e: u64, curr: u64, prev: u64, n: u64) -> u64 {
    let wide = |x: u64| u128::from(x);
    // The first elapsed offset `x` in a window with earlier count `older` at which
    // older * (w - x) <= room * w.
    let first_fit = |older: u64, room: u64| -> u64 {
        if older == 0 {
            return 0;
        }
        let allowed_span = wide(room) * wide(w) / wide(older);
        u64::try_from(wide(w).saturating_sub(allowed_span)).unwrap_or(0)
    };
    if curr + n <= limit {
        // Only the previous window's weight is in the way: it fades within this window.
        first_fit(prev, limit - curr - n).max(e) - e
    } else {
        // Wait for the next window, where the current count becomes the previous one.
        (w - e) + first_fit(curr, limit - n)
    }
}

/// The (current, previous) counts at `now` of a state word, under parameters `p`.
fn counts(p: Params, word: u64, now: u64) -> (u64, u64) {
    let (generation, index, curr, prev) = unpack(word);
    if generation != p.generation {
        // Written under other parameters: carry the counts over, never reset them.
        return (curr, prev);
    }
    match (window_index(p, now).wrapping_sub(index)) & INDEX_MASK {
        0 => (curr, prev),
        1 => (0, curr),
        _ => (0, 0),
    }
}

fn window_index(p: Params, now: u64) -> u64 {
    (now / p.window) & INDEX_MASK
}

fn pack(p: Params, now: u64, curr: u64, prev: u64) -> u64 {
    (p.generation << GEN_SHIFT)
        | (window_index(p, now) << (2 * COUNT_BITS))
        | ((curr & COUNT_MASK) << COUNT_BITS)
        | (prev & COUNT_MASK)
}

fn unpack(word: u64) -> (u64, u64, u64, u64) {
    (
        word >> GEN_SHIFT,
        (word >> (2 * COUNT_BITS)) & INDEX_MASK,
        (word >> COUNT_BITS) & COUNT_MASK,
        word & COUNT_MASK,
    )
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn fixed_window_resets_at_the_boundary() {
        let c = WindowCounter::new(WindowKind::Fixed, 2, 1_000_000);
        assert!(c.try_take(SEC / 2, 2).allowed);
        let denied = c.try_take(SEC / 2, 1);
        assert_eq!(denied.retry_after, Some(SEC / 2));
        assert!(c.try_take(SEC, 2).allowed, "new window");
    }

    #[test]
    fn sliding_window_weights_the_previous_window() {
        let c = WindowCounter::new(WindowKind::Sliding, 10, 1_000_000);
        assert!(c.try_take(0, 10).allowed);
        // At 1.5 s the previous window counts half: 5 used, 5 free.
        assert_eq!(c.peek(SEC + SEC / 2, 0).remaining, 5);
        assert!(c.try_take(SEC + SEC / 2, 5).allowed);
        let denied = c.try_take(SEC + SEC / 2, 1);
        // 10 * (1 - x) + 5 + 1 <= 10  ->  x >= 0.6: 100 ms later.
        assert_eq!(denied.retry_after, Some(SEC / 10));
        assert!(c.try_take(SEC + SEC / 2 + SEC / 10, 1).allowed);
    }

    #[test]
    fn changing_parameters_keeps_the_counts() {
        let c = WindowCounter::new(WindowKind::Fixed, 5, 1_000_000);
        assert!(c.try_take(0, 5).allowed);
        c.set(1, 6, 2_000_000);
        assert!(c.try_take(2, 1).allowed);
        assert!(
            !c.try_take(3, 1).allowed,
            "the five already counted stay counted"
        );
        assert!(c.try_take(2 * SEC, 6).allowed);
    }

    #[test]
    fn too_many_at_once_is_never() {
        let c = WindowCounter::new(WindowKind::Sliding, 3, 1_000_000);
        let v = c.try_take(0, 4);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, None);
    }
}
