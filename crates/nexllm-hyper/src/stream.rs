//! [`ChatStream`]: the chunks of a streamed completion as a [`futures_core::Stream`],
//! with the response headers and the completion assembled so far.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, StatusCode};
use nexllm_proto::exchange::{ChunkDelivery, StreamFront};
use nexllm_proto::{ChatCompletion, ChatCompletionChunk, Error};

use crate::driver::{CallDriver, Event};

/// A streamed chat completion: a [`Stream`](futures_core::Stream) of
/// `Result<ChatCompletionChunk, Error>`.
///
/// The stream yields every chunk as soon as it is decoded, then ends (`None`)
/// after `data: [DONE]`, or yields one `Err` and ends. Meanwhile
/// [`accumulated`](Self::accumulated) holds the completion assembled from
/// every chunk so far, also after an error, and [`headers`](Self::headers) the
/// response headers. Dropping the stream cancels the request and closes its
/// connection.
///
/// ```no_run
/// # async fn demo(client: nexllm_hyper::Client) -> Result<(), nexllm_hyper::Error> {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use nexllm_hyper::{ChatCompletionRequest, Message};
///
/// let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Tell me a joke")]);
/// let mut stream = client.chat().create_stream(&request).await?;
/// println!("request id: {:?}", stream.request_id());
/// while let Some(chunk) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
///     for choice in &chunk?.choices {
///         print!("{}", choice.delta.content.as_deref().unwrap_or(""));
///     }
/// }
/// let completion = stream.into_completion();
/// # Ok(())
/// # }
/// ```
///
/// With `futures-util` or `tokio-stream`, `stream.next().await` reads the same.
pub struct ChatStream {
    driver: CallDriver,
    /// What each read returns; the driver only moves the bytes.
    front: StreamFront,
}

impl ChatStream {
    pub(crate) fn new(driver: CallDriver, front: StreamFront) -> Self {
        ChatStream { driver, front }
    }

    /// The headers of the response being streamed (request id, `x-ratelimit-*`, …).
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.driver.exchange().response_headers()
    }

    /// The status of the response being streamed.
    pub fn status(&self) -> Option<StatusCode> {
        self.driver.exchange().response_status()
    }

    /// The request id the server gave (`x-request-id` or a gateway's equivalent).
    pub fn request_id(&self) -> Option<&str> {
        self.driver.exchange().request_id()
    }

    /// How many HTTP attempts the call took.
    pub fn attempts(&self) -> u32 {
        self.driver.exchange().attempts()
    }

    /// The completion assembled from every chunk received so far: content,
    /// tool calls with their arguments joined, finish reasons, usage. After an
    /// error it still holds everything that arrived before it.
    pub fn accumulated(&self) -> &ChatCompletion {
        self.front.accumulated(self.driver.exchange())
    }

    /// Whether the stream has ended (after `[DONE]` or an error).
    pub fn is_ended(&self) -> bool {
        self.front.is_ended()
    }

    /// The error that ended the stream, if it ended with one.
    pub fn error(&self) -> Option<&Error> {
        self.front.error()
    }

    /// The completion assembled so far, ending the stream (a stream still
    /// running is cancelled).
    pub fn into_completion(mut self) -> ChatCompletion {
        self.front.into_completion(self.driver.exchange_mut())
    }

    /// Reads the rest of the stream and returns the whole completion, or the
    /// error that ended the stream (the chunks before it stay in
    /// [`accumulated`](Self::accumulated); use [`next_chunk`](Self::next_chunk)
    /// and [`into_completion`](Self::into_completion) to keep them).
    ///
    /// The chunks still to come are only added to the completion, not handed
    /// out one by one.
    pub async fn finish(mut self) -> Result<ChatCompletion, Error> {
        self.read_rest().await;
        self.front.into_result(self.driver.exchange_mut())
    }

    /// Reads the rest of the stream into the completion only
    /// ([`ChunkDelivery::AccumulateOnly`]); returns how many chunks were
    /// handed out all the same (none).
    async fn read_rest(&mut self) -> usize {
        let mut handed_out = 0;
        while self
            .front
            .needs_event(self.driver.exchange_mut(), ChunkDelivery::AccumulateOnly)
        {
            handed_out += self
                .front
                .accumulate(poll_fn(|cx| self.driver.poll_event(cx)).await);
        }
        handed_out
    }

    /// The next chunk, without needing a `StreamExt` trait: `None` once the stream has ended.
    pub async fn next_chunk(&mut self) -> Option<Result<ChatCompletionChunk, Error>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The next chunk, lent until the next call instead of given: it is
    /// parsed where it is lent from, not moved out to the caller through
    /// the call's layers (in the K = 512 loopback benchmark, 3 % less CPU per
    /// chunk). For a caller that reads each chunk and keeps none (prints it,
    /// adds it up); the chunks are the same as the
    /// [`Stream`](futures_core::Stream)'s, and the two can be mixed. `None`
    /// once the stream has ended.
    ///
    /// ```no_run
    /// # async fn demo(client: nexllm_hyper::Client) -> Result<(), nexllm_hyper::Error> {
    /// use nexllm_hyper::{ChatCompletionRequest, Message};
    ///
    /// let request = ChatCompletionRequest::new("gpt-4o", vec![Message::user("Tell me a joke")]);
    /// let mut stream = client.chat().create_stream(&request).await?;
    /// while let Some(chunk) = stream.next_chunk_ref().await {
    ///     for choice in &chunk?.choices {
    ///         print!("{}", choice.delta.content.as_deref().unwrap_or(""));
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_chunk_ref(&mut self) -> Option<Result<&ChatCompletionChunk, Error>> {
        let event = poll_fn(|cx| self.poll_event_for(ChunkDelivery::Lent, cx)).await;
        self.front.next_lent(self.driver.exchange(), event)
    }

    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<ChatCompletionChunk, Error>>> {
        let event = ready!(self.poll_event_for(ChunkDelivery::Owned, cx));
        Poll::Ready(self.front.next_owned(self.driver.exchange(), event))
    }

    /// Polls for the event of the driver that a read wanting its chunk as
    /// `delivery` needs: `Ready(None)` at once if the front says it needs none.
    fn poll_event_for(
        &mut self,
        delivery: ChunkDelivery,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Event>> {
        if self.front.needs_event(self.driver.exchange_mut(), delivery) {
            self.driver.poll_event(cx)
        } else {
            Poll::Ready(None)
        }
    }
}

impl futures_core::Stream for ChatStream {
    type Item = Result<ChatCompletionChunk, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

impl futures_core::FusedStream for ChatStream {
    fn is_terminated(&self) -> bool {
        self.is_ended()
    }
}

impl fmt::Debug for ChatStream {
    // Chunks and errors quote the conversation (a decode error keeps the
    // offending text), and a `Debug` line may end up in a log: only the
    // state is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.front
            .debug_fields(self.driver.exchange(), &mut f.debug_struct("ChatStream"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    fn assert_sync<T: Sync>() {}

    #[test]
    fn streams_can_move_between_tasks() {
        assert_send::<ChatStream>();
        assert_send::<crate::Client>();
    }

    #[test]
    fn streams_can_be_shared_by_reference() {
        assert_sync::<ChatStream>();
        assert_sync::<crate::Client>();
    }

    /// Answers every request with the same event stream.
    #[derive(Debug)]
    struct Canned(String);

    #[async_trait::async_trait]
    impl crate::Transport for Canned {
        async fn send(
            &self,
            _request: http::Request<bytes::Bytes>,
        ) -> Result<http::Response<crate::Body>, crate::SendError> {
            Ok(http::Response::new(crate::Body::from(self.0.clone())))
        }
    }

    #[tokio::test]
    async fn the_rest_of_a_finished_stream_is_only_added_up() {
        let mut body: String = (0..5)
            .map(|i| {
                format!(
                    "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}}}}]}}\n\n"
                )
            })
            .collect();
        body.push_str("data: [DONE]\n\n");
        let client = crate::Client::builder()
            .config(crate::Config::new("k"))
            .transport(std::sync::Arc::new(Canned(body)))
            .build()
            .unwrap();
        let request = crate::ChatCompletionRequest::new("m", vec![crate::Message::user("hi")]);
        let mut stream = client.chat().create_stream(&request).await.unwrap();
        assert_eq!(stream.read_rest().await, 0, "no chunk handed out");
        assert_eq!(stream.driver.exchange().chunks_delivered(), 5);
        assert!(stream.is_ended());
        assert_eq!(stream.into_completion().content(), Some("w0 w1 w2 w3 w4 "));
    }
}
