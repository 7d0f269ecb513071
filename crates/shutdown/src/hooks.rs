//! Phase hooks: async functions run when a phase begins.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use crate::phase::Phase;
use crate::report::Outcome;

type HookFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pub(crate) struct Hook {
    pub(crate) phase: Phase,
    pub(crate) name: Cow<'static, str>,
    pub(crate) run: Box<dyn FnOnce() -> HookFuture + Send>,
}

impl Hook {
    pub(crate) fn new(
        phase: Phase,
        name: Cow<'static, str>,
        run: impl FnOnce() -> HookFuture + Send + 'static,
    ) -> Hook {
        Hook {
            phase,
            name,
            run: Box::new(run),
        }
    }
}
