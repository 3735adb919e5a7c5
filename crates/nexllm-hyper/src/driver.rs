//! The drive loop: runs one [`Exchange`] over a [`Transport`] with tokio timers,
//! as a poll-based state machine shared by whole calls and streams.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http_body::Body as _;
use nexllm_proto::Error;
use nexllm_proto::exchange::{Action, AttemptId, Exchange, Outcome, WaitReason};
use tracing::Span;

use crate::transport::{Body, SendError, Transport};

/// The current time, from tokio's clock so that `tokio::time::pause()` applies.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

type SendFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, SendError>> + Send + 'static>>;

/// What the drive loop hands up: a chunk, a lent chunk, or the end of the call.
pub(crate) use nexllm_proto::exchange::CallEvent as Event;

/// One exchange in flight, with the I/O of its current attempt.
// The fields in this order (`repr(C)`): those read at every poll first, then
// the exchange (its own per-chunk fields first); with many calls on one
// thread each cache line of a call's state is a miss per chunk.
#[repr(C)]
pub(crate) struct CallDriver {
    sending: Option<(AttemptId, Unshared<SendFuture>)>,
    body: Option<(AttemptId, Unshared<Body>)>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The instant `timer` is set for. It may be earlier than the exchange's
    /// current deadline (see [`CallDriver::poll_timer`]), never later.
    timer_deadline: Option<Instant>,
    /// The waker `timer` was last polled with while it was pending: while the
    /// caller's waker stays the same and the timer has not fired, polling the
    /// timer again would change nothing.
    timer_waker: Option<Waker>,
    /// The deadline the timer last fired for.
    fired_for: Option<Instant>,
    /// When the latest input (a response head, body bytes, a failure) was fed
    /// to the exchange, until the next wait has been checked against it.
    fed_at: Option<Instant>,
    finished: bool,
    span: Span,
    exchange: Exchange,
    transport: Arc<dyn Transport>,
    logged_backoff: Option<Instant>,
    attempt_sent_at: Option<Instant>,
}

impl std::fmt::Debug for CallDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallDriver")
            .field("attempts", &self.exchange.attempts())
            .field("sending", &self.sending.as_ref().map(|(a, _)| *a))
            .field("reading", &self.body.as_ref().map(|(a, _)| *a))
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl CallDriver {
    pub(crate) fn new(exchange: Exchange, transport: Arc<dyn Transport>, span: Span) -> Self {
        CallDriver {
            exchange,
            transport,
            sending: None,
            body: None,
            timer: None,
            timer_deadline: None,
            timer_waker: None,
            logged_backoff: None,
            fired_for: None,
            fed_at: None,
            attempt_sent_at: None,
            finished: false,
            span,
        }
    }

    pub(crate) fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    pub(crate) fn exchange_mut(&mut self) -> &mut Exchange {
        &mut self.exchange
    }

    /// Advances the call until it has a chunk or a result for the caller, or
    /// must wait for I/O or a timer. `Ready(None)` once the result was handed out.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        // The call's span, entered only when a subscriber takes it: a
        // disabled span (no subscriber, the usual case) records nothing, and
        // each poll would clone and enter it for nothing.
        if self.span.is_disabled() {
            return self.drive(cx);
        }
        let span = self.span.clone();
        let _entered = span.enter();
        self.drive(cx)
    }

    /// [`poll_event`](Self::poll_event) in the call's span.
    #[inline]
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            // Matched in place, not bound first: an action is as large as a
            // chunk, and binding it cost a copy per poll (three per chunk).
            match self.exchange.poll() {
                None => {
                    self.finished = true;
                    return Poll::Ready(None);
                }
                Some(Action::Send { attempt, request }) => self.start_attempt(attempt, *request),
                Some(Action::Abandon(attempt)) => self.abandon(attempt),
                Some(Action::Chunk(chunk)) => return Poll::Ready(Some(Event::Chunk(chunk))),
                Some(Action::ChunkLent) => return Poll::Ready(Some(Event::ChunkLent)),
                Some(Action::Done(result)) => {
                    self.finish(&result);
                    return Poll::Ready(Some(Event::Done(result)));
                }
                Some(Action::Wait(wait)) => {
                    // A body can have data at every read (a server or a reader
                    // faster than the other): the timer is only polled when
                    // inputs are pending, and a tokio body is pending only once
                    // the task's budget is spent, when the timer cannot fire
                    // either. So check the deadline against the time of the
                    // last input. Each input has just moved the deadlines that
                    // count from it (idle, first byte), so it only ends a call
                    // whose fixed deadline (total, drain) has passed.
                    if let (Some(fed_at), Some(until)) = (self.fed_at.take(), wait.until) {
                        if fed_at >= until {
                            self.exchange.handle_timeout(fed_at);
                            continue;
                        }
                    }
                    if let Some(fed_at) = self.poll_inputs(cx) {
                        self.fed_at = Some(fed_at);
                        continue;
                    }
                    if wait.reason == WaitReason::Backoff && self.logged_backoff != wait.until {
                        self.logged_backoff = wait.until;
                        if let Some(delay) = wait.duration_from(now()) {
                            tracing::debug!(
                                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                                "waiting before the next attempt"
                            );
                        }
                    }
                    match wait.until {
                        None => return Poll::Pending,
                        Some(until) => {
                            if self.poll_timer(until, cx).is_ready() {
                                if self.fired_for == Some(until) {
                                    // The exchange did not act on this deadline: yield
                                    // rather than spin (never expected; its contract says it acts).
                                    cx.waker().wake_by_ref();
                                    return Poll::Pending;
                                }
                                self.fired_for = Some(until);
                                // tokio's clock says the deadline passed, whatever rounding did.
                                self.exchange.handle_timeout(now().max(until));
                                continue;
                            }
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }

    /// Polls the send future and the body; returns the time it was fed at
    /// when one of them fed the exchange.
    fn poll_inputs(&mut self, cx: &mut Context<'_>) -> Option<Instant> {
        if let Some((attempt, future)) = &mut self.sending {
            let attempt = *attempt;
            if let Poll::Ready(result) = future.get_mut().as_mut().poll(cx) {
                self.sending = None;
                let now = now();
                match result {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        tracing::debug!(
                            attempt = attempt.number(),
                            status = parts.status.as_u16(),
                            request_id = nexllm_proto::decode::request_id(&parts.headers),
                            latency_ms = self.attempt_latency_ms(now),
                            "response head"
                        );
                        self.body = Some((attempt, Unshared::new(body)));
                        self.exchange
                            .handle_head(attempt, parts.status, parts.headers, now);
                    }
                    Err(SendError::Transport(error)) => {
                        tracing::debug!(
                            attempt = attempt.number(),
                            kind = ?error.kind,
                            error = %error.message,
                            "attempt failed"
                        );
                        self.exchange.handle_transport_error(attempt, error, now);
                    }
                    Err(SendError::ConnectTimeout) => {
                        tracing::debug!(attempt = attempt.number(), "connect timed out");
                        self.exchange.handle_connect_timeout(attempt, now);
                    }
                }
                return Some(now);
            }
        }
        if let Some((attempt, body)) = &mut self.body {
            let attempt = *attempt;
            if let Poll::Ready(frame) = Pin::new(body.get_mut()).poll_frame(cx) {
                let now = now();
                match frame {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.exchange.handle_body_bytes(attempt, data, now);
                        } else {
                            // Trailers carry nothing the exchange needs; the next poll ends the body.
                            self.exchange.handle_body(attempt, &[], now);
                        }
                    }
                    Some(Err(error)) => {
                        self.body = None;
                        tracing::debug!(
                            attempt = attempt.number(),
                            kind = ?error.kind,
                            error = %error.message,
                            "reading the body failed"
                        );
                        self.exchange.handle_transport_error(attempt, error, now);
                    }
                    None => {
                        self.body = None;
                        self.exchange.handle_end(attempt, now);
                    }
                }
                return Some(now);
            }
        }
        None
    }

    /// Polls the timer of the exchange's deadline `until`.
    ///
    /// The timer is lazy, because the idle deadline moves with every body
    /// frame: when `until` moves later, the timer keeps its earlier instant,
    /// and when that instant comes it is set again for the deadline of the
    /// moment, without waking the exchange. Only a deadline that moves earlier
    /// sets the timer at once. So a stream moves no timer per chunk, and the
    /// timer still fires at the exchange's deadline, never before it.
    fn poll_timer(&mut self, until: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.timer_deadline.is_none_or(|armed| until < armed) {
                    timer.as_mut().reset(tokio::time::Instant::from_std(until));
                    self.timer_deadline = Some(until);
                    self.timer_waker = None;
                }
                timer
            }
            None => {
                self.timer_deadline = Some(until);
                self.timer_waker = None;
                self.timer.insert(Box::pin(tokio::time::sleep_until(
                    tokio::time::Instant::from_std(until),
                )))
            }
        };
        loop {
            if self
                .timer_waker
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
                && !timer.is_elapsed()
            {
                // Pending, with this waker registered: it wakes the caller when the timer fires.
                return Poll::Pending;
            }
            // With the task's cooperative budget spent, tokio's `Sleep` answers
            // Pending without registering the waker (it only asks to be polled
            // again): remember the waker only when the timer took it.
            let registers = tokio::task::coop::has_budget_remaining();
            if timer.as_mut().poll(cx).is_pending() {
                self.timer_waker = registers.then(|| cx.waker().clone());
                return Poll::Pending;
            }
            match self.timer_deadline {
                Some(armed) if armed < until => {
                    // Fired for a deadline that has moved on since: set it for the current one.
                    timer.as_mut().reset(tokio::time::Instant::from_std(until));
                    self.timer_deadline = Some(until);
                    self.timer_waker = None;
                }
                _ => return Poll::Ready(()),
            }
        }
    }

    fn start_attempt(&mut self, attempt: AttemptId, request: http::Request<Bytes>) {
        tracing::debug!(attempt = attempt.number(), "sending request");
        self.attempt_sent_at = Some(now());
        let transport = Arc::clone(&self.transport);
        self.body = None;
        self.sending = Some((
            attempt,
            Unshared::new(Box::pin(async move { transport.send(request).await })),
        ));
    }

    fn abandon(&mut self, attempt: AttemptId) {
        if self.sending.as_ref().is_some_and(|(a, _)| *a == attempt) {
            self.sending = None;
        }
        if self.body.as_ref().is_some_and(|(a, _)| *a == attempt) {
            self.body = None;
        }
    }

    fn attempt_latency_ms(&self, now: Instant) -> u64 {
        self.attempt_sent_at.map_or(0, |sent| {
            u64::try_from(now.saturating_duration_since(sent).as_millis()).unwrap_or(u64::MAX)
        })
    }

    fn finish(&mut self, result: &Result<Outcome, Error>) {
        self.finished = true;
        self.sending = None;
        self.body = None;
        self.timer = None;
        self.timer_deadline = None;
        self.timer_waker = None;
        self.fed_at = None;
        let elapsed = now().saturating_duration_since(self.exchange.started());
        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        if let Some(status) = self.exchange.response_status() {
            self.span.record("status", status.as_u16());
        }
        if let Some(id) = self.exchange.request_id() {
            self.span.record("request_id", id);
        }
        self.span.record("latency_ms", latency_ms);
        let attempts = self.exchange.attempts();
        self.span.record("attempts", attempts);
        match result {
            Ok(_) => tracing::debug!(attempts, latency_ms, "call succeeded"),
            // Only the kind and status: an error's text may quote a body.
            Err(error) => tracing::debug!(
                attempts,
                latency_ms,
                error = error.kind_name(),
                status = error.status().map(|s| s.as_u16()),
                "call failed"
            ),
        }
    }
}

/// A value only ever reached through `&mut`: it makes the driver (and so a
/// [`ChatStream`](crate::ChatStream)) `Sync` although the send future and the
/// body it holds are only `Send`, so `&ChatStream` can be held across an
/// `.await` in a spawned task. Never locked: `get_mut` is a plain borrow.
struct Unshared<T>(Mutex<T>);

impl<T> Unshared<T> {
    fn new(value: T) -> Self {
        Unshared(Mutex::new(value))
    }

    fn get_mut(&mut self) -> &mut T {
        // Never poisoned, as never locked; were it, the value is still whole.
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for CallDriver {
    fn drop(&mut self) {
        if !self.finished {
            let _entered = self.span.enter();
            tracing::debug!(
                attempts = self.exchange.attempts(),
                "call dropped before it finished; request cancelled"
            );
        }
    }
}
