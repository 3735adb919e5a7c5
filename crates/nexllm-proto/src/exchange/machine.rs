//! [`Exchange`]: one logical call (every attempt of it) as a state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};

use super::action::{Action, AttemptId, ChunkDelivery, Outcome, Wait, WaitReason};
use super::jitter::Jitter;
use super::retry::{
    RetryDecision, decide_retry, status_is_retryable, transport_error_is_retryable,
};
use super::retry_after::server_retry_delay;
use crate::config::{Config, Limits, Timeouts};
use crate::error::{
    Error, LimitError, StreamError, StreamErrorKind, TimeoutError, TimeoutKind, TransportError,
};
use crate::stream::{ChatStreamDecoder, StreamAccumulator};
use crate::types::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};

/// The header that carries the same key on every attempt of one call, so a
/// server that supports it can recognise a retry of a request it already ran.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The header that tells the server which retry this is (`0` on the first attempt).
pub const RETRY_COUNT_HEADER: &str = "x-nexllm-retry-count";

/// After `[DONE]`, the rest of the body is read for at most this long, so that
/// the connection can be reused; then the call ends and the connection is
/// abandoned. A server ends the body right after `[DONE]`; one that keeps it
/// open (keep-alive comments, a stall) would otherwise hold the caller's
/// finished stream until the idle or total deadline.
pub const MAX_DRAIN_TIME: Duration = Duration::from_secs(1);

/// After `[DONE]`, at most this many bytes of the rest of the body are read
/// (and dropped) before the connection is abandoned instead.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// What the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Chat,
    ChatStream,
    ListModels,
}

/// The request every attempt sends (rebuilt per attempt: `http::Request` is not `Clone`).
#[derive(Debug)]
struct RequestTemplate {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug)]
enum State {
    /// The next poll sends a new attempt.
    Ready,
    /// Sent; waiting for the response head.
    AwaitingHead {
        attempt: AttemptId,
        sent_at: Instant,
    },
    /// Reading a whole body: a non-streaming answer, or an error body.
    ReadingBody {
        attempt: AttemptId,
        status: StatusCode,
        body: Vec<u8>,
        last_read: Instant,
    },
    /// Reading a successful event stream.
    Streaming {
        attempt: AttemptId,
        decoder: Box<ChatStreamDecoder>,
        last_read: Instant,
        body_ended: bool,
        decoder_finished: bool,
        /// The decoder answered that it needs more bytes, and none came since:
        /// asking it again before the next input would find nothing.
        needs_bytes: bool,
    },
    /// `[DONE]` was seen; reading the rest of the body so the connection can
    /// be reused (as the official SDKs do). Its end ends the call; so does
    /// passing [`MAX_DRAIN_TIME`] (from `[DONE]`, `until`) or [`MAX_DRAIN_BYTES`]
    /// (`drained`), or the idle deadline, which abandon the connection.
    Draining {
        attempt: AttemptId,
        last_read: Instant,
        until: Instant,
        drained: usize,
    },
    /// Pausing before the next attempt.
    Backoff { until: Instant },
    /// `Done` has been queued.
    Finished,
}

/// One logical API call, all attempts included, as a deterministic state machine.
///
/// Create it with [`Exchange::chat`] or [`Exchange::list_models`], then drive it:
/// after creating it and after every `handle_*` input, call [`poll`](Self::poll)
/// until it returns [`Action::Wait`] (or `None` once the call is over), doing
/// what each action says. See the [module docs](super) for the full loop.
// The fields in this order (`repr(C)`): those read for every chunk first
// (with many calls on one thread, each cache line of an exchange is a miss
// per chunk), then the accumulator (its own per-chunk fields first), then
// what a call reads only at its start, its end or a retry.
#[derive(Debug)]
#[repr(C)]
pub struct Exchange {
    state: State,
    queue: VecDeque<Action>,
    /// The latest instant any input carried.
    now: Instant,
    total_deadline: Option<Instant>,
    chunks_delivered: u64,
    /// How chunks are handed out.
    delivery: ChunkDelivery,
    done_taken: bool,
    /// Read for every chunk (`max_body_bytes`), as `timeouts` is (`idle`).
    limits: Limits,
    timeouts: Timeouts,
    accumulator: Option<StreamAccumulator>,
    attempts: u32,
    max_retries: u32,
    operation: Operation,
    template: RequestTemplate,
    started: Instant,
    wall_clock_at_start: Option<SystemTime>,
    jitter: Jitter,
    idempotency_key: Option<HeaderValue>,
    response_status: Option<StatusCode>,
    response_headers: Option<HeaderMap>,
    /// What a complete stream holds (the request's `n` and `include_usage`).
    expected_choices: u32,
    expect_usage: bool,
}

impl Exchange {
    /// A chat call. Streaming when `request.stream == Some(true)`.
    ///
    /// The request is validated and encoded here, so an invalid request fails
    /// before any I/O. `now` is the start of the call (the total deadline counts
    /// from it); `seed` drives backoff jitter and the idempotency key.
    pub fn chat(
        config: &Config,
        request: &ChatCompletionRequest,
        now: Instant,
        seed: u64,
    ) -> Result<Self, Error> {
        let http_request = crate::encode::chat_request(config, request)?;
        let expected_choices = request.n.unwrap_or(1);
        let expect_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let operation = if request.stream == Some(true) {
            Operation::ChatStream
        } else {
            Operation::Chat
        };
        let mut exchange = Self::new(operation, http_request, config, now, seed);
        exchange.expected_choices = expected_choices;
        exchange.expect_usage = expect_usage;
        Ok(exchange)
    }

    /// A `GET /models` call.
    pub fn list_models(config: &Config, now: Instant, seed: u64) -> Result<Self, Error> {
        let http_request = crate::encode::models_request(config)?;
        Ok(Self::new(
            Operation::ListModels,
            http_request,
            config,
            now,
            seed,
        ))
    }

    /// Tells the exchange the wall-clock time that corresponds to the `now` it
    /// was created with. Without it, a `Retry-After` given as an HTTP date is
    /// ignored (delta-seconds and `retry-after-ms` work regardless).
    #[must_use]
    pub fn with_wall_clock(mut self, wall_clock_now: SystemTime) -> Self {
        self.wall_clock_at_start = Some(wall_clock_now);
        self
    }

    fn new(
        operation: Operation,
        request: http::Request<Bytes>,
        config: &Config,
        now: Instant,
        seed: u64,
    ) -> Self {
        let (parts, body) = request.into_parts();
        let mut jitter = Jitter::new(seed);
        let idempotency_key = (parts.method == Method::POST).then(|| {
            let key = format!(
                "nexllm-{:016x}{:016x}",
                jitter.next_u64(),
                jitter.next_u64()
            );
            HeaderValue::from_str(&key).unwrap_or(HeaderValue::from_static("nexllm"))
        });
        let timeouts = config.timeouts;
        Exchange {
            operation,
            template: RequestTemplate {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            },
            max_retries: config.max_retries,
            timeouts,
            limits: config.limits,
            started: now,
            wall_clock_at_start: None,
            total_deadline: timeouts.total.and_then(|t| now.checked_add(t)),
            jitter,
            idempotency_key,
            attempts: 0,
            state: State::Ready,
            queue: VecDeque::new(),
            done_taken: false,
            accumulator: (operation == Operation::ChatStream).then(|| {
                StreamAccumulator::new()
                    .max_choices(config.limits.max_choices)
                    .max_tool_calls(config.limits.max_tool_calls)
            }),
            delivery: ChunkDelivery::Owned,
            chunks_delivered: 0,
            response_status: None,
            response_headers: None,
            now,
            expected_choices: 1,
            expect_usage: false,
        }
    }

    // ----- getters -----

    /// Whether this is a streaming call.
    pub fn is_streaming(&self) -> bool {
        self.operation == Operation::ChatStream
    }

    /// How many attempts have been sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The attempt in flight, if one is.
    pub fn current_attempt(&self) -> Option<AttemptId> {
        match &self.state {
            State::AwaitingHead { attempt, .. }
            | State::ReadingBody { attempt, .. }
            | State::Streaming { attempt, .. }
            | State::Draining { attempt, .. } => Some(*attempt),
            State::Ready | State::Backoff { .. } | State::Finished => None,
        }
    }

    /// The status of the latest response head.
    pub fn response_status(&self) -> Option<StatusCode> {
        self.response_status
    }

    /// The headers of the latest response (request id, `x-ratelimit-*`, …).
    pub fn response_headers(&self) -> Option<&HeaderMap> {
        self.response_headers.as_ref()
    }

    /// The request id of the latest response (`x-request-id` or a gateway's equivalent).
    pub fn request_id(&self) -> Option<&str> {
        self.response_headers
            .as_ref()
            .and_then(crate::decode::request_id)
    }

    /// The idempotency key sent with every attempt (POST calls only).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_ref().and_then(|v| v.to_str().ok())
    }

    /// For a streaming call, the completion assembled from every chunk handed
    /// out so far: after an error too, so nothing received is lost.
    pub fn accumulated(&self) -> Option<&ChatCompletion> {
        self.accumulator.as_ref().map(StreamAccumulator::completion)
    }

    /// The completion assembled so far, moved out (see
    /// [`accumulated`](Self::accumulated)); `None` for a call that is not a
    /// stream, or once taken.
    pub fn take_accumulated(&mut self) -> Option<ChatCompletion> {
        self.accumulator
            .take()
            .map(StreamAccumulator::into_completion)
    }

    /// How the chunks of a streaming call are handed out from now on (see
    /// [`ChunkDelivery`]; the default is [`ChunkDelivery::Owned`]). It may be
    /// changed between any two calls. Chunks that are only accumulated count
    /// in [`chunks_delivered`](Self::chunks_delivered) too (a stream cut
    /// after some is not retried, as it would add them twice). Does nothing
    /// for a call that is not a stream.
    pub fn set_chunk_delivery(&mut self, delivery: ChunkDelivery) {
        self.delivery = delivery;
    }

    /// The chunk announced by the last [`Action::ChunkLent`], until the next
    /// call to the exchange; `None` at any other time.
    pub fn lent_chunk(&self) -> Option<&ChatCompletionChunk> {
        match &self.state {
            State::Streaming { decoder, .. } => decoder.lent_chunk(),
            _ => None,
        }
    }

    /// How many chunks have been handed to the caller (or, with
    /// [`ChunkDelivery::AccumulateOnly`], added to the completion).
    pub fn chunks_delivered(&self) -> u64 {
        self.chunks_delivered
    }

    /// When the call started.
    pub fn started(&self) -> Instant {
        self.started
    }

    // ----- inputs -----

    /// The response head of `attempt` arrived.
    pub fn handle_head(
        &mut self,
        attempt: AttemptId,
        status: StatusCode,
        headers: HeaderMap,
        now: Instant,
    ) {
        self.observe(now);
        if !matches!(self.state, State::AwaitingHead { attempt: a, .. } if a == attempt) {
            return;
        }
        self.response_status = Some(status);
        self.response_headers = Some(headers);
        self.state = if status.is_success() && self.operation == Operation::ChatStream {
            State::Streaming {
                attempt,
                decoder: Box::new(
                    ChatStreamDecoder::with_max_event_bytes(self.limits.max_event_bytes)
                        .max_choices(self.limits.max_choices)
                        .expecting(self.expected_choices, self.expect_usage),
                ),
                last_read: now,
                body_ended: false,
                decoder_finished: false,
                needs_bytes: false,
            }
        } else {
            State::ReadingBody {
                attempt,
                status,
                body: Vec::new(),
                last_read: now,
            }
        };
    }

    /// Body bytes of `attempt` arrived.
    ///
    /// Transports that read the body as [`Bytes`] (hyper's frames) can hand
    /// them over with [`handle_body_bytes`](Self::handle_body_bytes) instead,
    /// which spares a stream one copy of each large read.
    pub fn handle_body(&mut self, attempt: AttemptId, bytes: &[u8], now: Instant) {
        self.on_body(attempt, bytes, now);
    }

    /// [`handle_body`](Self::handle_body) for bytes that are already a
    /// [`Bytes`], as hyper hands out body frames: the same outcome, and a
    /// stream decodes the complete lines of a large read where they are
    /// (see [`ChatStreamDecoder::feed_bytes`]) instead of copying them. The
    /// limits are the same: [`Limits::max_event_bytes`] per event of a
    /// stream, [`Limits::max_body_bytes`] for a whole body.
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// use bytes::Bytes;
    /// use http::{HeaderMap, StatusCode};
    /// use nexllm_proto::exchange::{Action, Exchange};
    /// use nexllm_proto::{ChatCompletionRequest, Config, Message};
    ///
    /// let config = Config::new("sk-test");
    /// let request = ChatCompletionRequest::new("gpt-4o-mini", vec![Message::user("Hi")]).stream(true);
    /// let now = Instant::now(); // the transport reads the clock, never the core
    /// let mut exchange = Exchange::chat(&config, &request, now, 7)?;
    /// let Some(Action::Send { attempt, .. }) = exchange.poll() else { unreachable!() };
    /// exchange.handle_head(attempt, StatusCode::OK, HeaderMap::new(), now);
    /// let frame = Bytes::from_static(
    ///     b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
    /// );
    /// exchange.handle_body_bytes(attempt, frame, now);
    /// let Some(Action::Chunk(chunk)) = exchange.poll() else { unreachable!() };
    /// assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("Hi"));
    /// # Ok::<(), nexllm_proto::Error>(())
    /// ```
    #[inline]
    pub fn handle_body_bytes(&mut self, attempt: AttemptId, bytes: Bytes, now: Instant) {
        self.on_body(attempt, bytes, now);
    }

    /// `handle_body` and `handle_body_bytes`, each compiled for its input.
    #[inline]
    fn on_body<P: BodyPiece>(&mut self, attempt: AttemptId, piece: P, now: Instant) {
        self.observe(now);
        let limit = self.limits.max_body_bytes;
        match &mut self.state {
            State::ReadingBody {
                attempt: a,
                body,
                last_read,
                ..
            } if *a == attempt => {
                *last_read = now;
                let bytes = piece.as_slice();
                if body.len().saturating_add(bytes.len()) > limit {
                    let attempt = *a;
                    self.queue.push_back(Action::Abandon(attempt));
                    let error =
                        Error::LimitExceeded(Box::new(LimitError::new("response body", limit)));
                    self.fail_final(error);
                } else {
                    body.extend_from_slice(bytes);
                }
            }
            State::Streaming {
                attempt: a,
                decoder,
                last_read,
                needs_bytes,
                ..
            } if *a == attempt => {
                *last_read = now;
                *needs_bytes = false;
                piece.feed(decoder);
            }
            State::Draining {
                attempt: a,
                last_read,
                until,
                drained,
            } if *a == attempt => {
                *last_read = now;
                *drained = drained.saturating_add(piece.as_slice().len());
                if *drained > MAX_DRAIN_BYTES || now >= *until {
                    // The answer is complete; a tail past the drain limits is not
                    // read. The time is checked here too: bytes that keep coming
                    // may never let the transport's wait time out.
                    let attempt = *a;
                    self.queue.push_back(Action::Abandon(attempt));
                    self.finish(Ok(Outcome::StreamEnded));
                }
            }
            _ => {}
        }
    }

    /// The body of `attempt` ended cleanly.
    pub fn handle_end(&mut self, attempt: AttemptId, now: Instant) {
        self.observe(now);
        match std::mem::replace(&mut self.state, State::Finished) {
            State::ReadingBody {
                attempt: a,
                status,
                body,
                ..
            } if a == attempt => {
                self.on_complete_body(status, &body, now);
            }
            State::Streaming {
                attempt: a,
                decoder,
                last_read,
                decoder_finished,
                ..
            } if a == attempt => {
                self.state = State::Streaming {
                    attempt: a,
                    decoder,
                    last_read,
                    body_ended: true,
                    decoder_finished,
                    needs_bytes: false,
                };
            }
            State::Draining { attempt: a, .. } if a == attempt => {
                self.finish(Ok(Outcome::StreamEnded))
            }
            other => self.state = other,
        }
    }

    /// `attempt` failed in the transport (connect, TLS, reset, I/O).
    pub fn handle_transport_error(
        &mut self,
        attempt: AttemptId,
        error: TransportError,
        now: Instant,
    ) {
        self.observe(now);
        self.on_attempt_failure(attempt, Error::Transport(Box::new(error)), now);
    }

    /// The transport's connector gave up connecting for `attempt` after the
    /// configured connect timeout.
    pub fn handle_connect_timeout(&mut self, attempt: AttemptId, now: Instant) {
        self.observe(now);
        let error = Error::Timeout(Box::new(TimeoutError::new(
            TimeoutKind::Connect,
            self.timeouts.connect,
        )));
        self.on_attempt_failure(attempt, error, now);
    }

    /// A deadline given by [`Action::Wait`] may have passed. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        if matches!(self.state, State::Finished) {
            return;
        }
        if let Some(deadline) = self.total_deadline {
            if now >= deadline {
                if let Some(attempt) = self.current_attempt() {
                    self.queue.push_back(Action::Abandon(attempt));
                }
                if let State::Draining { .. } = self.state {
                    // After `[DONE]` the answer is complete; only the tail of
                    // the body is missing, as when the idle deadline passes here.
                    self.finish(Ok(Outcome::StreamEnded));
                    return;
                }
                let total = self.timeouts.total.unwrap_or_default();
                self.fail_final(Error::Timeout(Box::new(TimeoutError::new(
                    TimeoutKind::Total,
                    total,
                ))));
                return;
            }
        }
        match &self.state {
            State::Backoff { until } if now >= *until => self.state = State::Ready,
            State::AwaitingHead { attempt, sent_at } => {
                if let Some(limit) = self.timeouts.first_byte {
                    if now >= deadline_after(*sent_at, limit) {
                        let attempt = *attempt;
                        let error = Error::Timeout(Box::new(TimeoutError::new(
                            TimeoutKind::FirstByte,
                            limit,
                        )));
                        self.on_attempt_failure(attempt, error, now);
                    }
                }
            }
            State::ReadingBody {
                attempt, last_read, ..
            }
            | State::Streaming {
                attempt, last_read, ..
            } => {
                if let Some(limit) = self.timeouts.idle {
                    if now >= deadline_after(*last_read, limit) {
                        let attempt = *attempt;
                        let error =
                            Error::Timeout(Box::new(TimeoutError::new(TimeoutKind::Idle, limit)));
                        self.on_attempt_failure(attempt, error, now);
                    }
                }
            }
            State::Draining {
                attempt,
                last_read,
                until,
                ..
            } => {
                let idle_passed = self
                    .timeouts
                    .idle
                    .is_some_and(|limit| now >= deadline_after(*last_read, limit));
                if now >= *until || idle_passed {
                    // The answer is complete; only the tail of the body is missing.
                    self.queue.push_back(Action::Abandon(*attempt));
                    self.finish(Ok(Outcome::StreamEnded));
                }
            }
            _ => {}
        }
    }

    /// The caller gave up on the call. The attempt in flight is abandoned and
    /// the call ends with [`Error::Cancelled`].
    pub fn cancel(&mut self, now: Instant) {
        self.observe(now);
        if matches!(self.state, State::Finished) {
            return;
        }
        if let Some(attempt) = self.current_attempt() {
            self.queue.push_back(Action::Abandon(attempt));
        }
        self.finish(Err(Error::Cancelled));
    }

    // ----- output -----

    /// The next action. Call after creating the exchange and after every input,
    /// until it returns [`Action::Wait`]; `None` once [`Action::Done`] has been returned.
    pub fn poll(&mut self) -> Option<Action> {
        if let Some(action) = self.queue.pop_front() {
            if matches!(action, Action::Done(_)) {
                self.done_taken = true;
            }
            return Some(action);
        }
        if self.done_taken {
            return None;
        }
        match &mut self.state {
            State::Ready => Some(self.send_attempt()),
            State::Streaming { .. } => self.poll_stream(),
            _ => Some(Action::Wait(self.next_wait())),
        }
    }

    fn send_attempt(&mut self) -> Action {
        self.attempts += 1;
        let attempt = AttemptId(self.attempts);
        let mut request = http::Request::new(self.template.body.clone());
        *request.method_mut() = self.template.method.clone();
        *request.uri_mut() = self.template.uri.clone();
        *request.headers_mut() = self.template.headers.clone();
        if let Some(key) = &self.idempotency_key {
            request
                .headers_mut()
                .insert(HeaderName::from_static(IDEMPOTENCY_KEY_HEADER), key.clone());
        }
        request.headers_mut().insert(
            HeaderName::from_static(RETRY_COUNT_HEADER),
            HeaderValue::from(self.attempts - 1),
        );
        // The send instant is the instant of the input that led here; deadlines
        // count from it. (`poll` takes no time: the last known time is kept.)
        let sent_at = self.now;
        self.state = State::AwaitingHead { attempt, sent_at };
        Action::Send {
            attempt,
            request: Box::new(request),
        }
    }

    fn poll_stream(&mut self) -> Option<Action> {
        loop {
            let State::Streaming {
                decoder,
                body_ended,
                decoder_finished,
                attempt,
                last_read,
                needs_bytes,
            } = &mut self.state
            else {
                return Some(Action::Wait(self.next_wait()));
            };
            if *needs_bytes {
                return Some(Action::Wait(self.next_wait()));
            }
            let limit = self.limits.max_body_bytes;
            if (self.accumulator.as_ref()).is_some_and(|acc| acc.held_bytes() > limit) {
                // A server that streams without end: the answer so far is kept.
                let attempt = *attempt;
                self.queue.push_back(Action::Abandon(attempt));
                let error = LimitError::new("streamed answer", limit);
                self.fail_final(Error::LimitExceeded(Box::new(error)));
                return self.poll();
            }
            let next = if self.delivery == ChunkDelivery::Owned {
                let next = decoder.next_chunk();
                match &next {
                    Ok(Some(chunk)) => {
                        let delivered = &mut self.chunks_delivered;
                        take_in(&mut self.accumulator, delivered, (chunk, false)).and(next)
                    }
                    _ => next,
                }
            } else {
                match decoder.next_lent() {
                    Ok(Some((chunk, repeat))) => {
                        let delivered = &mut self.chunks_delivered;
                        match take_in(&mut self.accumulator, delivered, (chunk, repeat)) {
                            Err(refused) => Err(refused),
                            Ok(()) if self.delivery == ChunkDelivery::Lent => {
                                *needs_bytes =
                                    awaits_bytes(decoder, *body_ended, &self.accumulator, limit);
                                return Some(Action::ChunkLent);
                            }
                            Ok(()) => continue,
                        }
                    }
                    Ok(None) => Ok(None),
                    Err(error) => Err(error),
                }
            };
            // The chunk is moved once, from the decoder's answer into the action.
            match next {
                Ok(Some(chunk)) => {
                    *needs_bytes = awaits_bytes(decoder, *body_ended, &self.accumulator, limit);
                    return Some(Action::Chunk(chunk));
                }
                Err(error) => {
                    let attempt = *attempt;
                    self.queue.push_back(Action::Abandon(attempt));
                    self.fail_final(error);
                    return self.poll();
                }
                Ok(None) => {}
            }
            if *decoder_finished {
                self.finish(Ok(Outcome::StreamEnded));
                return self.poll();
            }
            if decoder.saw_done() {
                if *body_ended {
                    self.finish(Ok(Outcome::StreamEnded));
                } else {
                    self.state = State::Draining {
                        attempt: *attempt,
                        last_read: *last_read,
                        until: deadline_after(self.now, MAX_DRAIN_TIME),
                        drained: 0,
                    };
                }
                return self.poll();
            }
            if !*body_ended {
                *needs_bytes = true;
                return Some(Action::Wait(self.next_wait()));
            }
            *decoder_finished = true;
            if let Err(error) = decoder.finish() {
                let attempt = *attempt;
                let cut_before_anything = matches!(&error, Error::Stream(e) if e.kind == StreamErrorKind::Truncated)
                    && self.chunks_delivered == 0;
                if cut_before_anything {
                    // Nothing reached the caller: as good as a dropped connection, so retry.
                    // The backoff counts from the input that ended the body (the
                    // latest time known), not from the last read before it.
                    let now = self.now;
                    self.on_attempt_failure(attempt, error, now);
                } else {
                    self.fail_final(error);
                }
                return self.poll();
            }
        }
    }

    fn next_wait(&self) -> Wait {
        let mut wait = Wait {
            until: self.total_deadline,
            reason: if self.total_deadline.is_some() {
                WaitReason::Total
            } else {
                WaitReason::Input
            },
        };
        let mut consider = |until: Instant, reason: WaitReason| {
            if wait.until.is_none_or(|current| until < current) {
                wait = Wait {
                    until: Some(until),
                    reason,
                };
            }
        };
        match &self.state {
            State::Backoff { until } => consider(*until, WaitReason::Backoff),
            State::AwaitingHead { sent_at, .. } => {
                if let Some(limit) = self.timeouts.first_byte {
                    consider(deadline_after(*sent_at, limit), WaitReason::FirstByte);
                }
            }
            State::ReadingBody { last_read, .. } | State::Streaming { last_read, .. } => {
                if let Some(limit) = self.timeouts.idle {
                    consider(deadline_after(*last_read, limit), WaitReason::Idle);
                }
            }
            State::Draining {
                last_read, until, ..
            } => {
                consider(*until, WaitReason::Drain);
                if let Some(limit) = self.timeouts.idle {
                    consider(deadline_after(*last_read, limit), WaitReason::Idle);
                }
            }
            State::Ready | State::Finished => {}
        }
        wait
    }

    // ----- decisions -----

    fn on_complete_body(&mut self, status: StatusCode, body: &[u8], now: Instant) {
        let headers = self.response_headers.clone().unwrap_or_default();
        if status.is_success() {
            let result = match self.operation {
                Operation::ListModels => {
                    crate::decode::models(status, &headers, body).map(Outcome::Models)
                }
                // A streaming request answered 2xx is read as a stream; this is a plain chat.
                Operation::Chat | Operation::ChatStream => {
                    crate::decode::chat_completion(status, &headers, body)
                        .map(|completion| Outcome::Completion(Box::new(completion)))
                }
            };
            match result {
                Ok(outcome) => self.finish(Ok(outcome)),
                Err(error) => self.fail_final(error),
            }
            return;
        }
        let mut api_error = crate::decode::api_error(status, &headers, body);
        let wall_clock = self
            .wall_clock_at_start
            .and_then(|w| w.checked_add(now.saturating_duration_since(self.started)));
        api_error.retry_after = server_retry_delay(&headers, wall_clock);
        if api_error.request_id.is_none() {
            api_error.request_id = crate::decode::request_id(&headers).map(str::to_owned);
        }
        let retryable = status_is_retryable(status, &headers, Some(&api_error));
        let server_delay = api_error.retry_after;
        let error = Error::Api(Box::new(api_error));
        if retryable {
            self.retry_or_fail(error, server_delay, now);
        } else {
            self.fail_final(error);
        }
    }

    /// A failure of the attempt itself (transport, timeout): retried unless a
    /// chunk has already reached the caller, or the failure is one that
    /// retrying cannot fix ([`transport_error_is_retryable`]).
    fn on_attempt_failure(&mut self, attempt: AttemptId, error: Error, now: Instant) {
        if self.current_attempt() != Some(attempt) {
            return; // stale: that attempt was abandoned already
        }
        if let State::Draining { .. } = self.state {
            // [DONE] was seen: the answer is whole; a broken tail changes nothing.
            self.finish(Ok(Outcome::StreamEnded));
            return;
        }
        self.queue.push_back(Action::Abandon(attempt));
        if self.chunks_delivered > 0 {
            // Part of the answer reached the caller, so it is never retried. A
            // connection failure here means the stream was cut short: say so, and
            // keep the transport's reason as the cause. A stall keeps its own
            // (more precise) idle-timeout error.
            let error = match error {
                Error::Transport(cause) => {
                    Error::Stream(Box::new(StreamError::cut_by(*cause, self.chunks_delivered)))
                }
                other => other,
            };
            self.fail_final(error);
        } else if matches!(&error, Error::Transport(cause) if !transport_error_is_retryable(cause))
        {
            self.fail_final(error);
        } else {
            self.retry_or_fail(error, None, now);
        }
    }

    fn retry_or_fail(&mut self, error: Error, server_delay: Option<Duration>, now: Instant) {
        let retries_done = self.attempts.saturating_sub(1);
        match decide_retry(
            retries_done,
            self.max_retries,
            server_delay,
            self.limits.max_retry_after,
            &mut self.jitter,
        ) {
            RetryDecision::OutOfRetries | RetryDecision::DelayTooLong(_) => self.fail_final(error),
            RetryDecision::RetryAfter(delay) => {
                let until = deadline_after(now, delay);
                if self
                    .total_deadline
                    .is_some_and(|deadline| until >= deadline)
                {
                    // Waiting would pass the total deadline: fail now with the real reason.
                    self.fail_final(error);
                } else if delay.is_zero() {
                    self.state = State::Ready;
                } else {
                    self.state = State::Backoff { until };
                }
            }
        }
    }

    fn fail_final(&mut self, error: Error) {
        let error = error
            .with_request_id(self.request_id())
            .with_attempts(self.attempts);
        self.finish(Err(error));
    }

    fn finish(&mut self, result: Result<Outcome, Error>) {
        self.state = State::Finished;
        self.queue.push_back(Action::Done(result));
    }

    /// Records the time an input carried (time never goes backwards here).
    fn observe(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }
}

/// Body bytes as a transport hands them over: a slice, or a `Bytes`.
trait BodyPiece {
    fn as_slice(&self) -> &[u8];
    /// Feeds the bytes to a stream's decoder.
    fn feed(self, decoder: &mut ChatStreamDecoder);
}

impl BodyPiece for &[u8] {
    fn as_slice(&self) -> &[u8] {
        self
    }

    fn feed(self, decoder: &mut ChatStreamDecoder) {
        decoder.feed(self);
    }
}

impl BodyPiece for Bytes {
    fn as_slice(&self) -> &[u8] {
        self
    }

    fn feed(self, decoder: &mut ChatStreamDecoder) {
        decoder.feed_bytes(self);
    }
}

/// Adds a chunk of the stream to the accumulated answer and counts it as
/// delivered, or refuses it when it passes the limits on choices and tool
/// calls (it is then not delivered: the stream ends with the answer before it).
/// A lent chunk that `repeats` the one before it but for its text
/// ([`ChatStreamDecoder::next_lent`]) adds only that text: the accumulator
/// took the one before.
fn take_in(
    accumulator: &mut Option<StreamAccumulator>,
    delivered: &mut u64,
    (chunk, repeats): (&ChatCompletionChunk, bool),
) -> Result<(), Error> {
    if let Some(acc) = accumulator {
        let taken = if repeats {
            acc.try_push_repeat(chunk)
        } else {
            acc.try_push(chunk)
        };
        taken.map_err(Error::from)?;
    }
    *delivered += 1;
    Ok(())
}

/// After a chunk was taken from `decoder`: whether the next poll may wait
/// for body bytes at once, because the decoder has nothing more to give
/// until it is fed ([`ChatStreamDecoder::awaits_input`]) and the stream
/// goes on (the body has not ended, the answer is within its limit). The
/// next poll then skips a read of the decoder that would find nothing.
#[inline]
fn awaits_bytes(
    decoder: &ChatStreamDecoder,
    body_ended: bool,
    accumulator: &Option<StreamAccumulator>,
    limit: usize,
) -> bool {
    !body_ended
        && decoder.awaits_input()
        && accumulator
            .as_ref()
            .is_none_or(|acc| acc.held_bytes() <= limit)
}

fn deadline_after(start: Instant, duration: Duration) -> Instant {
    // An absurd duration saturates to "a year away" rather than overflowing.
    start
        .checked_add(duration)
        .or_else(|| start.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(start)
}
