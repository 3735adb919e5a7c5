//! Getting one answer: streamed or whole, shown as it comes, stoppable with Ctrl-C.
//!
//! Both the one-shot `nexllm chat` and the interactive chat use [`get_answer`];
//! what differs is what they do with the [`Answer`] afterwards.

use std::future::Future;
use std::io::{self, Write};

use nexllm_proto::Error;
use nexllm_proto::stream::StreamAccumulator;
use nexllm_proto::types::{ChatCompletion, ChatCompletionRequest};

use crate::backend::Backend;
use crate::render::{StreamPrinter, write_completion_text};

/// How to show the answer while it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    /// Text on stdout: streamed text flushed per chunk, or the whole answer at once.
    Text,
    /// Nothing while it arrives (the caller prints the JSON document at the end).
    Quiet,
}

/// How an answer ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The answer is complete.
    Complete,
    /// The call failed; for a stream, after the chunks in the completion.
    Failed(Error),
    /// Ctrl-C (or the caller's stop signal) ended it.
    Stopped,
}

/// One answer: what arrived, and how it ended.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The completion: the whole answer, or the chunks of a stream assembled
    /// so far (empty when nothing arrived).
    pub(crate) completion: ChatCompletion,
    /// Whether anything of the answer arrived.
    pub(crate) received: bool,
    /// How it ended.
    pub(crate) ending: Ending,
}

/// Sends `request` (a stream when it asks for one) and shows the answer on
/// `out` as `display` says, until it ends or `stop` resolves.
///
/// Errors of the call are in [`Answer::ending`]; the `Err` case is only a
/// failure to write to `out` while the answer arrived (the call is then
/// abandoned) or after it was complete. Once the call has failed or been
/// stopped, that ending is what the caller must report: a failure to write
/// what was received is dropped, as the call's own failure outranks it.
pub(crate) async fn get_answer<W: Write>(
    backend: &Backend,
    request: &ChatCompletionRequest,
    display: Display,
    out: W,
    stop: impl Future<Output = ()>,
) -> io::Result<Answer> {
    let stop = std::pin::pin!(stop);
    if request.is_stream() {
        stream_answer(backend, request, display, out, stop).await
    } else {
        whole_answer(backend, request, display, out, stop).await
    }
}

async fn whole_answer<W: Write>(
    backend: &Backend,
    request: &ChatCompletionRequest,
    display: Display,
    mut out: W,
    stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> io::Result<Answer> {
    let result = tokio::select! {
        biased;
        () = stop => None,
        result = backend.create(request) => Some(result),
    };
    Ok(match result {
        None => Answer {
            completion: ChatCompletion::default(),
            received: false,
            ending: Ending::Stopped,
        },
        Some(Ok(completion)) => {
            if display == Display::Text {
                write_completion_text(&mut out, &completion)?;
            }
            Answer {
                completion,
                received: true,
                ending: Ending::Complete,
            }
        }
        Some(Err(error)) => Answer {
            completion: ChatCompletion::default(),
            received: false,
            ending: Ending::Failed(error),
        },
    })
}

async fn stream_answer<W: Write>(
    backend: &Backend,
    request: &ChatCompletionRequest,
    display: Display,
    out: W,
    mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> io::Result<Answer> {
    let mut accumulator = StreamAccumulator::new();
    let mut printer = (display == Display::Text).then(|| StreamPrinter::new(out));

    let ending = 'call: {
        let opened = tokio::select! {
            biased;
            () = stop.as_mut() => break 'call Ending::Stopped,
            opened = backend.create_stream(request) => opened,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(error) => break 'call Ending::Failed(error),
        };
        loop {
            let item = tokio::select! {
                biased;
                () = stop.as_mut() => break 'call Ending::Stopped,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(chunk)) => {
                    accumulator.push(&chunk);
                    if let Some(printer) = printer.as_mut() {
                        printer.chunk(&chunk)?;
                    }
                }
                Some(Err(error)) => break 'call Ending::Failed(error),
                None => break 'call Ending::Complete,
            }
        }
    };

    let received = accumulator.chunks() > 0;
    let completion = accumulator.into_completion();
    if let Some(printer) = printer.as_mut() {
        let shown = match ending {
            // A stream that failed still shows the tool calls and other
            // choices it received: they were not printed as they arrived.
            Ending::Complete | Ending::Failed(_) => printer.finish(&completion),
            Ending::Stopped => printer.interrupted(),
        };
        // A failed or stopped call keeps its own ending (and exit status)
        // when stdout is closed or cannot be written.
        if matches!(ending, Ending::Complete) {
            shown?;
        }
    }
    Ok(Answer {
        completion,
        received,
        ending,
    })
}

/// Resolves when the user presses Ctrl-C (SIGINT). If no handler can be
/// installed, never resolves (the default Ctrl-C behaviour then ends the process).
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
