//! [`Chat`]: `POST /chat/completions`, whole ([`Chat::create`]) or streamed ([`Chat::create_stream`]).

use std::borrow::Cow;
use std::future::poll_fn;

use nexllm_proto::exchange::{Exchange, Outcome, StreamFront};
use nexllm_proto::{ChatCompletion, ChatCompletionRequest, Error};

use crate::client::ClientInner;
use crate::driver::{CallDriver, Event, now};
use crate::stream::ChatStream;
use nexllm_proto::response::ApiResponse;

/// The Chat Completions endpoint of a [`Client`](crate::Client). Get it with
/// [`Client::chat`](crate::Client::chat).
#[derive(Clone, Copy)]
pub struct Chat<'a> {
    client: &'a ClientInner,
}

impl std::fmt::Debug for Chat<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

impl<'a> Chat<'a> {
    pub(crate) fn new(client: &'a ClientInner) -> Self {
        Chat { client }
    }

    /// Sends the request and returns the whole completion.
    ///
    /// The request is sent with `stream` off whatever it says. Retries,
    /// `Retry-After` and deadlines follow the client's [`Config`](crate::Config).
    pub async fn create(self, request: &ChatCompletionRequest) -> Result<ChatCompletion, Error> {
        Ok(self.create_with_response(request).await?.data)
    }

    /// Like [`create`](Self::create), and also returns the response's status,
    /// headers (request id, `x-ratelimit-*`) and attempt count.
    pub async fn create_with_response(
        self,
        request: &ChatCompletionRequest,
    ) -> Result<ApiResponse<ChatCompletion>, Error> {
        let request = with_stream(request, false);
        let mut driver = self.start(&request)?;
        loop {
            match poll_fn(|cx| driver.poll_event(cx)).await {
                Some(Event::Done(Ok(Outcome::Completion(completion)))) => {
                    let exchange = driver.exchange();
                    return Ok(ApiResponse {
                        data: *completion,
                        status: exchange.response_status().unwrap_or(http::StatusCode::OK),
                        headers: exchange.response_headers().cloned().unwrap_or_default(),
                        attempts: exchange.attempts(),
                    });
                }
                Some(Event::Done(Ok(_))) | None => {
                    return Err(Error::decode("the call ended without a completion", ""));
                }
                Some(Event::Done(Err(error))) => return Err(error),
                // Not a streaming call: no chunks come; ignore defensively.
                Some(Event::Chunk(_) | Event::ChunkLent) => {}
            }
        }
    }

    /// Sends the request with `stream: true` and returns the stream of chunks.
    ///
    /// Resolves once the first chunk has arrived (or the stream ended without
    /// one), so every failure before any content, retries included, is
    /// returned here; failures after that end the stream with an error item,
    /// and [`ChatStream::accumulated`] keeps what arrived. Dropping the stream
    /// cancels the request.
    pub async fn create_stream(self, request: &ChatCompletionRequest) -> Result<ChatStream, Error> {
        let request = with_stream(request, true);
        let mut driver = self.start(&request)?;
        let first_event = poll_fn(|cx| driver.poll_event(cx)).await;
        let front = StreamFront::open(driver.exchange(), first_event)?;
        Ok(ChatStream::new(driver, front))
    }

    fn start(self, request: &ChatCompletionRequest) -> Result<CallDriver, Error> {
        let streaming = request.stream == Some(true);
        let span = tracing::debug_span!(
            "nexllm.chat",
            method = "POST",
            endpoint = "chat/completions",
            model = %request.model,
            stream = streaming,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            request_id = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let config = &self.client.config;
        let exchange = Exchange::chat(config, request, now(), self.client.next_seed())
            .inspect_err(|_| {
                span.in_scope(|| tracing::debug!("request rejected before sending"));
            })?
            .with_wall_clock(std::time::SystemTime::now());
        if let Some(error) = self.client.unusable() {
            // A setting no retry can fix (as for an invalid request): fail before any I/O.
            span.in_scope(|| tracing::debug!(error = %error, "the client cannot make calls"));
            return Err(Error::Transport(Box::new(error.clone())));
        }
        Ok(CallDriver::new(
            exchange,
            std::sync::Arc::clone(&self.client.transport),
            span,
        ))
    }
}

/// The request with `stream` set as the method needs, cloned only when it differs.
fn with_stream(request: &ChatCompletionRequest, stream: bool) -> Cow<'_, ChatCompletionRequest> {
    if stream {
        if request.stream == Some(true) {
            return Cow::Borrowed(request);
        }
        let mut owned = request.clone();
        owned.stream = Some(true);
        Cow::Owned(owned)
    } else {
        if request.stream != Some(true) && request.stream_options.is_none() {
            return Cow::Borrowed(request);
        }
        let mut owned = request.clone();
        owned.stream = None;
        owned.stream_options = None;
        Cow::Owned(owned)
    }
}
