//! The lock-free core: phase state machine, guard counting and the trigger reason.
//!
//! Tokio-free so loom can explore it (`tests/loom.rs`). Phase and guard count share one word,
//! so "a guard is admitted" and "draining started" are ordered by a single compare-and-swap:
//! either the guard got in before the trigger (and the drain waits for it), or it is refused.

use crate::phase::Phase;
use crate::reason::Reason;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};

const PHASE_MASK: usize = 0b111;
const GUARD_ONE: usize = 1 << 3;

/// The shared state machine behind a [`Shutdown`](crate::Shutdown).
///
/// Exposed (hidden) only so the loom models in `tests/loom.rs` can drive it directly.
#[doc(hidden)]
#[derive(Debug)]
pub struct Core {
    /// Low 3 bits: the [`Phase`]; the rest: the number of live guards.
    state: AtomicUsize,
    /// Written once, by the winner of the trigger, *before* the phase leaves `Running`.
    reason: Mutex<Option<Reason>>,
    forced: AtomicBool,
}

impl Default for Core {
    fn default() -> Self {
        Core::new()
    }
}

impl Core {
    /// A core in [`Phase::Running`] with no guards.
    #[must_use]
    pub fn new() -> Core {
        Core {
            state: AtomicUsize::new(Phase::Running as usize),
            reason: Mutex::new(None),
            forced: AtomicBool::new(false),
        }
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        Phase::from_bits(self.state.load(Ordering::Acquire) & PHASE_MASK)
    }

    /// Whether shutdown was triggered (the phase left `Running`). One atomic load.
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        self.state.load(Ordering::Acquire) & PHASE_MASK != Phase::Running as usize
    }

    /// Admit one guard, unless shutdown has been triggered.
    ///
    /// # Errors
    /// The phase the shutdown is in, when it is past `Running` (or the count would overflow,
    /// reported as the current phase `Running`).
    pub fn try_acquire_guard(&self) -> Result<(), Phase> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let phase = Phase::from_bits(current & PHASE_MASK);
            if phase != Phase::Running {
                return Err(phase);
            }
            let Some(next) = current.checked_add(GUARD_ONE) else {
                return Err(phase);
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Release one guard admitted by [`try_acquire_guard`](Self::try_acquire_guard).
    ///
    /// Returns `true` when this was the last live guard and shutdown has been triggered: the
    /// caller must wake whoever waits for the drain. Exactly one release returns `true` per drain.
    pub fn release_guard(&self) -> bool {
        let previous = self.state.fetch_sub(GUARD_ONE, Ordering::AcqRel);
        debug_assert!(previous >= GUARD_ONE, "guard released twice");
        previous >> 3 == 1 && previous & PHASE_MASK != Phase::Running as usize
    }

    /// The number of live guards.
    #[must_use]
    pub fn live_guards(&self) -> usize {
        self.state.load(Ordering::Acquire) >> 3
    }

    /// True once shutdown was triggered and no guard is live. Stays true: no guard can be
    /// admitted after the trigger.
    #[must_use]
    pub fn guards_drained(&self) -> bool {
        let state = self.state.load(Ordering::Acquire);
        state & PHASE_MASK != Phase::Running as usize && state >> 3 == 0
    }

    /// Record `reason` and move to [`Phase::Draining`]. Returns `true` for the one caller that
    /// triggered; later calls change nothing. Once [`is_triggered`](Self::is_triggered) is
    /// true, [`reason`](Self::reason) is `Some`.
    pub fn trigger(&self, reason: Reason) -> bool {
        {
            let mut slot = match self.reason.lock() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            if slot.is_some() {
                return false;
            }
            *slot = Some(reason);
        }
        // Only the writer of the reason gets here, so the phase is still `Running` unless
        // someone advanced it without a reason (not done by this crate).
        self.advance(Phase::Draining).is_ok()
    }

    /// The reason shutdown was triggered, if it was.
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        match self.reason.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Move forward to `to`. `Ok(previous)` for the one caller that made this transition;
    /// `Err(current)` if the phase is already `to` or later (phases never move backwards).
    ///
    /// # Errors
    /// The current phase when it is already at or past `to`.
    pub fn advance(&self, to: Phase) -> Result<Phase, Phase> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let phase = Phase::from_bits(current & PHASE_MASK);
            if phase >= to {
                return Err(phase);
            }
            let next = (current & !PHASE_MASK) | to as usize;
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(phase),
                Err(actual) => current = actual,
            }
        }
    }

    /// Ask the driver to skip to `Aborting`. Returns `true` for the first caller.
    pub fn force(&self) -> bool {
        !self.forced.swap(true, Ordering::AcqRel)
    }

    /// Whether [`force`](Self::force) was called.
    #[must_use]
    pub fn is_forced(&self) -> bool {
        self.forced.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;

    #[test]
    fn guards_are_refused_after_trigger_and_drain_is_reported_once() {
        let core = Core::new();
        assert!(core.try_acquire_guard().is_ok());
        assert!(core.try_acquire_guard().is_ok());
        assert!(!core.release_guard(), "not triggered yet");
        assert!(core.trigger(Reason::requested("test")));
        assert!(!core.trigger(Reason::Deadline), "second trigger is a no-op");
        assert_eq!(core.reason(), Some(Reason::requested("test")));
        assert_eq!(core.try_acquire_guard(), Err(Phase::Draining));
        assert!(!core.guards_drained());
        assert!(
            core.release_guard(),
            "last guard after trigger wakes the drain"
        );
        assert!(core.guards_drained());
    }

    #[test]
    fn phases_only_move_forward() {
        let core = Core::new();
        assert_eq!(core.advance(Phase::Cancelling), Ok(Phase::Running));
        assert_eq!(core.advance(Phase::Draining), Err(Phase::Cancelling));
        assert_eq!(core.advance(Phase::Cancelling), Err(Phase::Cancelling));
        assert_eq!(core.advance(Phase::Done), Ok(Phase::Cancelling));
        assert_eq!(core.phase(), Phase::Done);
    }

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Acquire,
        Release,
        Trigger,
        Advance(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Acquire),
            Just(Op::Release),
            Just(Op::Trigger),
            (1u8..5).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The core agrees with a plain (phase, count) reference model.
        #[test]
        fn core_matches_reference_model(ops in proptest::collection::vec(op(), 1..64)) {
            let core = Core::new();
            let (mut phase, mut guards) = (Phase::Running, 0_usize);
            for op in ops {
                match op {
                    Op::Acquire => {
                        let got = core.try_acquire_guard();
                        if phase == Phase::Running {
                            prop_assert_eq!(got, Ok(()));
                            guards += 1;
                        } else {
                            prop_assert_eq!(got, Err(phase));
                        }
                    }
                    Op::Release if guards > 0 => {
                        guards -= 1;
                        prop_assert_eq!(core.release_guard(), guards == 0 && phase != Phase::Running);
                    }
                    Op::Release => {}
                    Op::Trigger => {
                        let won = core.trigger(Reason::Deadline);
                        prop_assert_eq!(won, phase == Phase::Running);
                        if won {
                            phase = Phase::Draining;
                        }
                    }
                    Op::Advance(to) => {
                        let to = Phase::from_bits(usize::from(to));
                        let got = core.advance(to);
                        if phase < to {
                            prop_assert_eq!(got, Ok(phase));
                            phase = to;
                        } else {
                            prop_assert_eq!(got, Err(phase));
                        }
                    }
                }
                prop_assert_eq!(core.phase(), phase);
                prop_assert_eq!(core.live_guards(), guards);
                prop_assert_eq!(core.guards_drained(), phase != Phase::Running && guards == 0);
            }
        }
    }
}
