//! "A chat backend": the SDK client the requests go through, one of two
//! transports behind the same async interface.
//!
//! - [`Transport::Hyper`]: `nexllm_hyper::Client`, awaited directly.
//! - [`Transport::Blocking`]: `nexllm_blocking::Client`, run on a thread of
//!   its own; results and stream chunks come back over channels. So Ctrl-C
//!   stops an answer at once with either transport: the CLI stops listening,
//!   and a blocking stream is dropped (closing its connection) as soon as its
//!   thread has the next chunk to hand over.

use std::thread;

use nexllm_proto::types::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ModelList};
use nexllm_proto::{Config, Error, TransportError, TransportErrorKind};
use tokio::sync::{mpsc, oneshot};

use crate::cli::Transport;

/// How many chunks a blocking stream's thread may read ahead of the display.
const BLOCKING_STREAM_BUFFER: usize = 64;

/// The SDK client that carries the CLI's requests.
#[derive(Debug)]
pub(crate) enum Backend {
    /// The async client.
    Hyper(nexllm_hyper::Client),
    /// The blocking client, called from threads.
    Blocking(nexllm_blocking::Client),
}

impl Backend {
    /// A client of the chosen transport with this configuration.
    pub(crate) fn new(transport: Transport, config: Config) -> Result<Self, Error> {
        Ok(match transport {
            Transport::Hyper => Backend::Hyper(nexllm_hyper::Client::new(config)),
            Transport::Blocking => Backend::Blocking(nexllm_blocking::Client::new(config)),
        })
    }

    /// One whole (non-streamed) completion.
    pub(crate) async fn create(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChatCompletion, Error> {
        match self {
            Backend::Hyper(client) => client.chat().create(request).await,
            Backend::Blocking(client) => {
                let client = client.clone();
                let request = request.clone();
                on_thread(move || client.chat().create(&request)).await
            }
        }
    }

    /// Starts a streamed completion. Errors before the first chunk (an error
    /// status, a connection failure) come back here, after any retries.
    pub(crate) async fn create_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<AnswerStream, Error> {
        match self {
            Backend::Hyper(client) => Ok(AnswerStream::Hyper(Box::new(
                client.chat().create_stream(request).await?,
            ))),
            Backend::Blocking(client) => {
                let client = client.clone();
                let request = request.clone();
                blocking_stream(move || client.chat().create_stream(&request)).await
            }
        }
    }

    /// The models the server offers.
    pub(crate) async fn list_models(&self) -> Result<ModelList, Error> {
        match self {
            Backend::Hyper(client) => client.models().list().await,
            Backend::Blocking(client) => {
                let client = client.clone();
                on_thread(move || client.models().list()).await
            }
        }
    }
}

/// The chunks of a streamed answer, whichever the transport.
#[derive(Debug)]
pub(crate) enum AnswerStream {
    /// The async client's stream (boxed: it holds the whole exchange);
    /// dropping it cancels the call.
    Hyper(Box<nexllm_hyper::ChatStream>),
    /// Chunks from the thread iterating a blocking stream; dropping the
    /// receiver makes the thread drop the stream at its next chunk.
    Blocking(mpsc::Receiver<Result<ChatCompletionChunk, Error>>),
}

impl AnswerStream {
    /// The next chunk; `None` once the stream has ended (after an error too).
    pub(crate) async fn next(&mut self) -> Option<Result<ChatCompletionChunk, Error>> {
        match self {
            AnswerStream::Hyper(stream) => stream.next_chunk().await,
            AnswerStream::Blocking(chunks) => chunks.recv().await,
        }
    }
}

/// Runs a blocking call on a thread of its own and awaits its result.
async fn on_thread<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let (tx, rx) = oneshot::channel();
    spawn(move || {
        // The receiver is gone when the user stopped waiting; nothing to do then.
        let _ = tx.send(call());
    })?;
    rx.await.unwrap_or_else(|_| Err(thread_gone()))
}

/// Opens a blocking stream on a thread of its own, which then forwards its
/// chunks until the stream ends or the receiver is dropped.
async fn blocking_stream(
    open: impl FnOnce() -> Result<nexllm_blocking::ChatStream, Error> + Send + 'static,
) -> Result<AnswerStream, Error> {
    let (opened_tx, opened_rx) = oneshot::channel();
    let (chunk_tx, chunk_rx) = mpsc::channel(BLOCKING_STREAM_BUFFER);
    spawn(move || {
        let stream = match open() {
            Ok(stream) => stream,
            Err(error) => {
                let _ = opened_tx.send(Err(error));
                return;
            }
        };
        if opened_tx.send(Ok(())).is_err() {
            return;
        }
        for item in stream {
            if chunk_tx.blocking_send(item).is_err() {
                return; // the display stopped listening: drop the stream
            }
        }
    })?;
    match opened_rx.await {
        Ok(Ok(())) => Ok(AnswerStream::Blocking(chunk_rx)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(thread_gone()),
    }
}

fn spawn(job: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    thread::Builder::new()
        .name("nexllm-blocking-call".into())
        .spawn(job)
        .map(drop)
        .map_err(|e| {
            Error::Transport(Box::new(TransportError::new(
                TransportErrorKind::Io,
                format!("cannot start a thread for the blocking client: {e}"),
            )))
        })
}

fn thread_gone() -> Error {
    Error::Transport(Box::new(TransportError::new(
        TransportErrorKind::Io,
        "the blocking client's thread ended without an answer",
    )))
}
