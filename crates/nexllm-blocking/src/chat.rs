//! [`Chat`]: `POST /chat/completions`, whole ([`Chat::create`]) or streamed
//! ([`Chat::create_stream`]).

use std::borrow::Cow;

use nexllm_proto::exchange::{Exchange, Outcome, StreamFront};
use nexllm_proto::{ChatCompletion, ChatCompletionRequest, Error};

use crate::call::{Call, run_to_end};
use crate::client::ClientInner;
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

    /// Sends the request and returns the whole completion, blocking until it
    /// has arrived.
    ///
    /// The request is sent with `stream` off whatever it says. Retries,
    /// `Retry-After` and deadlines follow the client's [`Config`](crate::Config).
    pub fn create(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, Error> {
        Ok(self.create_with_response(request)?.data)
    }

    /// Like [`create`](Self::create), and also returns the response's status,
    /// headers (request id, `x-ratelimit-*`) and attempt count.
    pub fn create_with_response(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ApiResponse<ChatCompletion>, Error> {
        let request = with_stream(request, false);
        let mut call = self.start(&request)?;
        match run_to_end(&mut call)? {
            Outcome::Completion(completion) => Ok(api_response(&call, *completion)),
            _ => Err(Error::decode("the call ended without a completion", "")),
        }
    }

    /// Sends the request with `stream: true` and returns the stream of chunks,
    /// an [`Iterator`] of `Result<ChatCompletionChunk, Error>`.
    ///
    /// Returns once the first chunk has arrived (or the stream ended without
    /// one), so every failure before any content, retries included, is
    /// returned here; a failure after that ends the stream with an error item,
    /// and [`ChatStream::accumulated`] keeps what arrived. Dropping the stream
    /// cancels the request and closes its connection.
    pub fn create_stream(&self, request: &ChatCompletionRequest) -> Result<ChatStream, Error> {
        let request = with_stream(request, true);
        let mut call = self.start(&request)?;
        let first_event = call.next_event();
        let front = StreamFront::open(call.exchange(), first_event)?;
        Ok(ChatStream::new(call, front))
    }

    fn start(&self, request: &ChatCompletionRequest) -> Result<Call, Error> {
        let config = &self.client.config;
        let span = tracing::debug_span!(
            "nexllm.chat",
            method = "POST",
            endpoint = "chat/completions",
            model = %request.model,
            stream = request.stream == Some(true),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            request_id = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        Call::start(self.client, span, &|now, seed| {
            Exchange::chat(config, request, now, seed)
        })
    }
}

/// The value with the status, headers and attempts of the call's last response.
pub(crate) fn api_response<T>(call: &Call, data: T) -> ApiResponse<T> {
    let exchange = call.exchange();
    ApiResponse {
        data,
        status: exchange.response_status().unwrap_or(http::StatusCode::OK),
        headers: exchange.response_headers().cloned().unwrap_or_default(),
        attempts: exchange.attempts(),
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

#[cfg(test)]
mod tests {
    use nexllm_proto::Message;

    use super::*;

    #[test]
    fn stream_is_set_as_each_method_needs() {
        let plain = ChatCompletionRequest::new("m", vec![Message::user("hi")]);
        assert!(matches!(with_stream(&plain, false), Cow::Borrowed(_)));
        let streamed = with_stream(&plain, true);
        assert_eq!(streamed.stream, Some(true));
        assert!(matches!(with_stream(&streamed, true), Cow::Borrowed(_)));

        let with_usage = plain.clone().stream(true).include_usage(true);
        let whole = with_stream(&with_usage, false);
        assert_eq!(whole.stream, None);
        assert_eq!(whole.stream_options, None);
    }
}
