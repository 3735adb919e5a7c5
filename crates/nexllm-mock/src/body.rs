//! The response body: a precomputed list of frames, pauses and aborts, played in order.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::fault::SplitPattern;

/// One step of a response body.
#[derive(Debug, Clone)]
pub(crate) enum BodyStep {
    /// Send these bytes as one frame.
    Data(Bytes),
    /// Send nothing for this long.
    Pause(Duration),
    /// Give the connection a chance to flush before the next frame.
    Flush,
    /// Fail the body, so hyper aborts the connection instead of ending it cleanly.
    Abort,
    /// Send this block again and again, forever.
    Endless(Bytes),
    /// Send this block after every pause of this length, forever.
    Every(Duration, Bytes),
}

/// The error that makes hyper abort a connection mid-body.
#[derive(Debug)]
pub(crate) struct InjectedAbort;

impl fmt::Display for InjectedAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nexllm-mock closed the connection mid-body (injected fault)")
    }
}

impl std::error::Error for InjectedAbort {}

/// A response body that plays a list of [`BodyStep`]s.
pub(crate) struct ScriptedBody {
    steps: VecDeque<BodyStep>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    flushed: bool,
    exact_length: Option<u64>,
}

impl fmt::Debug for ScriptedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedBody")
            .field("steps_left", &self.steps.len())
            .finish()
    }
}

impl ScriptedBody {
    /// A body of `steps`. With `announce_length`, a body made only of data announces its
    /// length (so hyper sends `content-length`); otherwise it is sent chunked.
    pub(crate) fn new(steps: Vec<BodyStep>, announce_length: bool) -> Self {
        let exact_length = if announce_length {
            steps.iter().try_fold(0u64, |total, step| match step {
                BodyStep::Data(bytes) => Some(total + bytes.len() as u64),
                BodyStep::Pause(_) | BodyStep::Flush => Some(total),
                BodyStep::Abort | BodyStep::Endless(_) | BodyStep::Every(..) => None,
            })
        } else {
            None
        };
        Self {
            steps: steps.into(),
            sleep: None,
            flushed: false,
            exact_length,
        }
    }

    /// A complete body sent at once, with `content-length`.
    #[cfg(test)]
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::new(vec![BodyStep::Data(bytes.into())], true)
    }
}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = InjectedAbort;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, InjectedAbort>>> {
        let this = &mut *self;
        loop {
            let Some(step) = this.steps.front() else {
                return Poll::Ready(None);
            };
            match step {
                BodyStep::Data(bytes) => {
                    let bytes = bytes.clone();
                    this.steps.pop_front();
                    if bytes.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                BodyStep::Pause(duration) => {
                    let duration = *duration;
                    if !slept(&mut this.sleep, duration, cx) {
                        return Poll::Pending;
                    }
                    this.steps.pop_front();
                }
                BodyStep::Flush => {
                    if this.flushed {
                        this.flushed = false;
                        this.steps.pop_front();
                    } else {
                        // Returning Pending once makes hyper flush what it has buffered.
                        this.flushed = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                BodyStep::Abort => {
                    this.steps.clear();
                    return Poll::Ready(Some(Err(InjectedAbort)));
                }
                BodyStep::Endless(block) => {
                    return Poll::Ready(Some(Ok(Frame::data(block.clone()))));
                }
                BodyStep::Every(pause, block) => {
                    let block = block.clone();
                    if !slept(&mut this.sleep, *pause, cx) {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(block))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

/// Whether a pause of `duration` is over: starts it in `sleep` on the first
/// call, and clears `sleep` once it has passed (so the next pause starts anew).
fn slept(
    sleep: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    duration: Duration,
    cx: &mut Context<'_>,
) -> bool {
    let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(duration)));
    if timer.as_mut().poll(cx).is_pending() {
        return false;
    }
    *sleep = None;
    true
}

/// Cuts every run of consecutive data steps into frames of the pattern's sizes, with a
/// flush between frames. Pauses and aborts stay where they are.
pub(crate) fn split_frames(steps: Vec<BodyStep>, pattern: &SplitPattern) -> Vec<BodyStep> {
    let mut sizes = pattern.sizes();
    let mut out = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut flush_run = |run: &mut Vec<u8>, out: &mut Vec<BodyStep>| {
        let bytes = Bytes::from(std::mem::take(run));
        let mut offset = 0;
        while offset < bytes.len() {
            let size = sizes.next().unwrap_or(1).max(1);
            let end = (offset + size).min(bytes.len());
            if !out.is_empty() {
                out.push(BodyStep::Flush);
            }
            out.push(BodyStep::Data(bytes.slice(offset..end)));
            offset = end;
        }
    };
    for step in steps {
        match step {
            BodyStep::Data(bytes) => run.extend_from_slice(&bytes),
            other => {
                flush_run(&mut run, &mut out);
                out.push(other);
            }
        }
    }
    flush_run(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(steps: &[BodyStep]) -> Vec<Vec<u8>> {
        steps
            .iter()
            .filter_map(|step| match step {
                BodyStep::Data(bytes) => Some(bytes.to_vec()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn split_crosses_event_boundaries_and_keeps_pauses() {
        let steps = vec![
            BodyStep::Data(Bytes::from_static(b"abcd")),
            BodyStep::Data(Bytes::from_static(b"efg")),
            BodyStep::Pause(Duration::from_millis(5)),
            BodyStep::Data(Bytes::from_static(b"hi")),
        ];
        let split = split_frames(steps, &SplitPattern::Sizes(vec![3]));
        assert_eq!(
            data(&split),
            vec![
                b"abc".to_vec(),
                b"def".to_vec(),
                b"g".to_vec(),
                b"hi".to_vec()
            ]
        );
        assert!(split.iter().any(|step| matches!(step, BodyStep::Pause(_))));
    }

    #[test]
    fn length_is_announced_only_for_plain_data() {
        let body = ScriptedBody::full("hello");
        assert_eq!(body.size_hint().exact(), Some(5));
        let body = ScriptedBody::new(
            vec![BodyStep::Data(Bytes::from_static(b"x")), BodyStep::Abort],
            true,
        );
        assert_eq!(body.size_hint().exact(), None);
    }
}
