//! Inputs: any `IntoIterator`, or any `Stream` wrapped in [`from_stream`].

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// Something a fan-out can take its inputs from: every `IntoIterator`, and every `Stream`
/// passed through [`from_stream`].
pub trait IntoInputs {
    /// One input.
    type Item;
    /// Where the inputs are pulled from.
    type Source: InputSource<Item = Self::Item>;
    /// Converts into the source.
    fn into_inputs(self) -> Self::Source;
}

/// A source of inputs, polled by the fan-out only when it has room for another item.
pub trait InputSource {
    /// One input.
    type Item;
    /// The next input, `None` when there are no more.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::Item>>;
}

/// The inputs of an iterator (always ready).
#[derive(Debug)]
pub struct IterInputs<I>(I);

impl<I: Iterator> InputSource for IterInputs<I> {
    type Item = I::Item;

    fn poll_input(&mut self, _cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}

impl<I: IntoIterator> IntoInputs for I {
    type Item = I::Item;
    type Source = IterInputs<I::IntoIter>;

    fn into_inputs(self) -> Self::Source {
        IterInputs(self.into_iter())
    }
}

/// Inputs pulled from a [`Stream`]; made by [`from_stream`].
#[derive(Debug)]
pub struct StreamInputs<S>(Pin<Box<S>>);

/// Takes a fan-out's inputs from a `Stream` (pulled only while there is room to start
/// another item, so a slow fan-out applies backpressure to the source).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::num::NonZeroUsize;
/// use tidewater_fan_out::{FanOut, from_stream};
///
/// let source = futures::stream::iter(1..=3u32);
/// let fan = FanOut::new(NonZeroUsize::new(2).unwrap());
/// let out = fan.run(from_stream(source), |x| async move { Ok::<_, ()>(x * 10) }).await;
/// assert_eq!(out.unwrap(), vec![10, 20, 30]);
/// # }
/// ```
pub fn from_stream<S: Stream>(stream: S) -> StreamInputs<S> {
    StreamInputs(Box::pin(stream))
}

impl<S: Stream> InputSource for StreamInputs<S> {
    type Item = S::Item;

    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<S: Stream> IntoInputs for StreamInputs<S> {
    type Item = S::Item;
    type Source = Self;

    fn into_inputs(self) -> Self {
        self
    }
}
