//! [`Call`]: one [`Exchange`] driven over ureq on the calling thread.
//!
//! The drive loop of `nexllm_proto::exchange`, written for blocking I/O: every
//! `Wait` is exactly one blocking operation, bounded by the deadline it must
//! respect:
//!
//! - an attempt to send: look the host up and connect (each within ureq's
//!   connect timeout, cut to the wait's deadline), write the request and read
//!   the response head, every read and write bounded by the wait's deadline
//!   (first byte or total) through [`IoDeadline`]; a `407` head from the
//!   forward proxy of a plain `http://` call is the proxy's refusal, a failed
//!   attempt, not the server's answer;
//! - a body read: bounded by the idle timeout counted from the start of the
//!   read, by the total deadline, and after `[DONE]` by the drain deadline;
//! - a backoff: `std::thread::sleep` until the wait's deadline.
//!
//! The idle gap is counted from the start of each read, not from the previous
//! one, so time the caller spends between two `next()` calls of a stream is
//! not held against the server: only its silence while we wait for it is.

use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use nexllm_proto::exchange::{Action, AttemptId, Exchange, Outcome, Wait, WaitReason};
use nexllm_proto::{Error, TransportError, TransportErrorKind};
use tracing::Span;
use ureq::{Agent, BodyReader};

use crate::client::ClientInner;
use crate::io_deadline::IoDeadline;
use crate::proxy::ViaProxy;
use crate::seed::next_seed;
use crate::transport_error::{Failure, forward_proxy_refusal};

/// How many bytes one body read asks for.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The longest connect timeout handed to ureq, which adds it to an `Instant`
/// (and panics if that overflows): a year, as good as none.
const LONGEST_CONNECT_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the drive loop hands up: a chunk, a lent chunk, or the end of the call.
pub(crate) use nexllm_proto::exchange::CallEvent as Event;

/// The I/O of the current attempt.
enum InFlight {
    /// Nothing: before the first attempt, during a backoff, after the end.
    Idle,
    /// The exchange asked for this request to be sent; it goes out at the next wait.
    ToSend {
        attempt: AttemptId,
        request: http::Request<Bytes>,
    },
    /// The head arrived; the body is read from here.
    Body {
        attempt: AttemptId,
        reader: BodyReader<'static>,
    },
}

impl InFlight {
    fn attempt(&self) -> Option<AttemptId> {
        match self {
            InFlight::Idle => None,
            InFlight::ToSend { attempt, .. } | InFlight::Body { attempt, .. } => Some(*attempt),
        }
    }
}

/// One call in progress: the exchange and the I/O of its current attempt.
///
/// Dropping it drops the body reader of the attempt in flight, which closes
/// its connection (ureq returns a connection to its pool only after reading a
/// body to its end).
pub(crate) struct Call {
    exchange: Exchange,
    agent: Agent,
    api_key: Option<String>,
    via_proxy: Option<ViaProxy>,
    connect_timeout: Duration,
    idle_timeout: Option<Duration>,
    total_deadline: Option<Instant>,
    in_flight: InFlight,
    buffer: Box<[u8]>,
    span: Span,
    attempt_sent_at: Option<Instant>,
    finished: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("attempts", &self.exchange.attempts())
            .field("in_flight", &self.in_flight.attempt())
            .finish_non_exhaustive()
    }
}

/// Makes the exchange for a call; given the start instant and a seed.
pub(crate) type MakeExchange<'a> = &'a dyn Fn(Instant, u64) -> Result<Exchange, Error>;

impl Call {
    /// Starts a call: the exchange is made here (so an invalid request fails
    /// before any I/O), nothing is sent until [`Call::next_event`].
    pub(crate) fn start(
        client: &ClientInner,
        span: Span,
        make_exchange: MakeExchange<'_>,
    ) -> Result<Call, Error> {
        let config = &client.config;
        let now = Instant::now();
        let exchange = match make_exchange(now, next_seed()) {
            Ok(exchange) => exchange.with_wall_clock(SystemTime::now()),
            Err(error) => {
                span.in_scope(|| tracing::debug!("request rejected before sending"));
                return Err(error);
            }
        };
        if let Some(error) = &client.unusable {
            span.in_scope(|| tracing::debug!(error = %error, "the proxy cannot be used"));
            return Err(Error::Transport(Box::new(error.clone())));
        }
        let total_deadline = config
            .timeouts
            .total
            .and_then(|total| exchange.started().checked_add(total));
        Ok(Call {
            exchange,
            agent: client.agent.clone(),
            api_key: config.api_key().map(str::to_owned),
            via_proxy: client.via_proxy,
            connect_timeout: config.timeouts.connect,
            idle_timeout: config.timeouts.idle,
            total_deadline,
            in_flight: InFlight::Idle,
            buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            span,
            attempt_sent_at: None,
            finished: false,
        })
    }

    /// The exchange, for its getters (headers, request id, accumulated completion).
    pub(crate) fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// The exchange, to change how it hands out chunks or to take its completion.
    pub(crate) fn exchange_mut(&mut self) -> &mut Exchange {
        &mut self.exchange
    }

    /// Drives the call until it has a chunk or its result for the caller.
    /// `None` once the result has been handed out.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        let span = self.span.clone();
        let _entered = span.enter();
        loop {
            let Some(action) = self.exchange.poll() else {
                self.finished = true;
                return None;
            };
            match action {
                Action::Send { attempt, request } => {
                    tracing::debug!(attempt = attempt.number(), "sending request");
                    self.span.record("attempts", attempt.number());
                    self.in_flight = InFlight::ToSend {
                        attempt,
                        request: *request,
                    };
                }
                Action::Abandon(attempt) => {
                    if self.in_flight.attempt() == Some(attempt) {
                        self.in_flight = InFlight::Idle;
                    }
                }
                Action::Chunk(chunk) => return Some(Event::Chunk(chunk)),
                Action::ChunkLent => return Some(Event::ChunkLent),
                Action::Done(result) => {
                    self.finish(&result);
                    return Some(Event::Done(result));
                }
                Action::Wait(wait) => self.wait(wait),
            }
        }
    }

    /// Does the one blocking thing the wait is about.
    fn wait(&mut self, wait: Wait) {
        match std::mem::replace(&mut self.in_flight, InFlight::Idle) {
            InFlight::ToSend { attempt, request } => self.send(attempt, request, wait.until),
            InFlight::Body { attempt, reader } => self.read(attempt, reader, wait),
            InFlight::Idle => self.pause(wait),
        }
    }

    /// Sends one attempt and reads its response head.
    fn send(&mut self, attempt: AttemptId, request: http::Request<Bytes>, until: Option<Instant>) {
        let now = Instant::now();
        self.attempt_sent_at = Some(now);
        let (parts, body) = request.into_parts();
        let uri = parts.uri.clone();
        let request = http::Request::from_parts(parts, &body[..]);
        // The connection must also be up by the wait's deadline; a connect cut
        // short by it is reported as that deadline, not as a connect timeout,
        // even when ureq gives up a little before it (it counts whole
        // milliseconds and splits the time between a host's addresses).
        // The host name lookup gets the same bound: ureq's resolver is
        // otherwise bounded by the total deadline alone.
        let left = until.map(|until| until.saturating_duration_since(now));
        let cut_by_deadline = left.is_some_and(|left| left < self.connect_timeout);
        let connect = left
            .map_or(self.connect_timeout, |left| self.connect_timeout.min(left))
            .min(LONGEST_CONNECT_TIMEOUT);
        let request = self
            .agent
            .configure_request(request)
            .timeout_resolve(Some(connect))
            .timeout_connect(Some(connect))
            .timeout_global(
                self.total_deadline
                    .map(|deadline| deadline.saturating_duration_since(now)),
            )
            .build();
        let result = {
            let _deadline = IoDeadline::enter(until);
            self.agent.run(request)
        };
        match result {
            Ok(response) => {
                let now = Instant::now();
                let (parts, body) = response.into_parts();
                if let Some(error) = forward_proxy_refusal(parts.status, &uri, self.via_proxy) {
                    // The proxy refused the request: a failed attempt, not an
                    // answer of the server. Dropping the body closes the connection.
                    drop(body);
                    self.fail(attempt, Failure::Transport(error), until);
                    return;
                }
                tracing::debug!(
                    attempt = attempt.number(),
                    status = parts.status.as_u16(),
                    request_id = nexllm_proto::decode::request_id(&parts.headers),
                    latency_ms = self.attempt_latency_ms(now),
                    "response head"
                );
                self.in_flight = InFlight::Body {
                    attempt,
                    reader: body.into_reader(),
                };
                self.exchange
                    .handle_head(attempt, parts.status, parts.headers, now);
            }
            Err(error) => {
                let failure =
                    match Failure::from_ureq(error, self.api_key.as_deref(), self.via_proxy) {
                        Failure::ConnectTimeout if cut_by_deadline => Failure::Deadline,
                        failure => failure,
                    };
                self.fail(attempt, failure, until);
            }
        }
    }

    /// Reads the next piece of the body. The idle deadline counts from now (not
    /// from the exchange's last read, which the caller's own work may have
    /// pushed into the past); the drain deadline after `[DONE]` is the exchange's.
    fn read(&mut self, attempt: AttemptId, mut reader: BodyReader<'static>, wait: Wait) {
        let started = Instant::now();
        let idle_deadline = self.idle_timeout.and_then(|idle| started.checked_add(idle));
        let drain_deadline = wait.until.filter(|_| wait.reason == WaitReason::Drain);
        let deadline = earliest(earliest(idle_deadline, self.total_deadline), drain_deadline);
        let result = loop {
            let _deadline = IoDeadline::enter(deadline);
            match reader.read(&mut self.buffer) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let now = Instant::now();
        match result {
            // The body is complete; ureq has already put the connection back in its pool.
            Ok(0) => self.exchange.handle_end(attempt, now),
            Ok(read) => match self.buffer.get(..read) {
                Some(bytes) => {
                    self.exchange.handle_body(attempt, bytes, now);
                    self.in_flight = InFlight::Body { attempt, reader };
                }
                None => {
                    let error = TransportError::new(
                        TransportErrorKind::Io,
                        "the body reader claimed more bytes than it was given room for",
                    );
                    self.exchange.handle_transport_error(attempt, error, now);
                }
            },
            Err(error) => {
                drop(reader);
                let failure =
                    Failure::from_body_read(error, self.api_key.as_deref(), self.via_proxy);
                self.fail(attempt, failure, deadline);
            }
        }
    }

    /// Nothing is in flight: a backoff, or the total deadline.
    fn pause(&mut self, wait: Wait) {
        match wait.until {
            Some(until) => {
                if wait.reason == WaitReason::Backoff {
                    let delay = until.saturating_duration_since(Instant::now());
                    tracing::debug!(delay_ms = millis(delay), "waiting before the next attempt");
                }
                sleep_until(until);
                self.exchange.handle_timeout(Instant::now());
            }
            None => {
                // Not reached: the exchange waits without a deadline only while
                // an attempt is in flight. Ending the call beats blocking forever.
                self.lost_attempt();
                if self.exchange.current_attempt().is_none() {
                    self.exchange.cancel(Instant::now());
                }
            }
        }
    }

    /// Reports a failed send or read. `deadline` is the one the I/O was bounded by.
    fn fail(&mut self, attempt: AttemptId, failure: Failure, deadline: Option<Instant>) {
        self.in_flight = InFlight::Idle;
        let deadline_passed = deadline.is_some_and(|d| Instant::now() >= d);
        match &failure {
            Failure::ConnectTimeout => {
                tracing::debug!(attempt = attempt.number(), "connect timed out")
            }
            Failure::Deadline => tracing::debug!(attempt = attempt.number(), "a deadline passed"),
            Failure::Transport(error) => tracing::debug!(
                attempt = attempt.number(),
                kind = ?error.kind,
                error = %error.message,
                "attempt failed"
            ),
        }
        match failure {
            Failure::ConnectTimeout if !deadline_passed => {
                self.exchange
                    .handle_connect_timeout(attempt, Instant::now());
            }
            Failure::ConnectTimeout | Failure::Deadline => {
                // The deadline that ran out is `deadline` or, later, the total
                // one ureq was given. Socket timeouts do not wake early, but the
                // exchange must see the deadline passed to act on it.
                if let Some(deadline) = deadline {
                    sleep_until(deadline);
                }
                self.exchange.handle_timeout(Instant::now());
            }
            Failure::Transport(error) => {
                self.exchange
                    .handle_transport_error(attempt, error, Instant::now());
            }
        }
        self.lost_attempt();
    }

    /// If the exchange still waits on an attempt whose I/O is gone (a timeout
    /// of the OS that no deadline of ours explains), it is told the connection failed.
    fn lost_attempt(&mut self) {
        if matches!(self.in_flight, InFlight::Idle) {
            if let Some(attempt) = self.exchange.current_attempt() {
                let error = TransportError::new(TransportErrorKind::Io, "the connection timed out");
                self.exchange
                    .handle_transport_error(attempt, error, Instant::now());
            }
        }
    }
}

impl Call {
    fn attempt_latency_ms(&self, now: Instant) -> u64 {
        self.attempt_sent_at
            .map_or(0, |sent| millis(now.saturating_duration_since(sent)))
    }

    /// The call is over: drops the I/O and records the outcome on the span.
    fn finish(&mut self, result: &Result<Outcome, Error>) {
        self.finished = true;
        self.in_flight = InFlight::Idle;
        let latency_ms = millis(Instant::now().saturating_duration_since(self.exchange.started()));
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

impl Drop for Call {
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Blocks the thread until `until`.
fn sleep_until(until: Instant) {
    let now = Instant::now();
    if until > now {
        std::thread::sleep(until - now);
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Drives a whole (non-streaming) call to its outcome.
pub(crate) fn run_to_end(call: &mut Call) -> Result<Outcome, Error> {
    while let Some(event) = call.next_event() {
        if let Event::Done(result) = event {
            return result;
        }
    }
    // Not reached: the exchange always ends with `Done`.
    Err(Error::Cancelled)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use nexllm_proto::{Config, TimeoutKind};
    use ureq::Timeout;
    use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
    use ureq::unversioned::transport::time::Duration as UreqDuration;
    use ureq::unversioned::transport::{
        ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
    };

    use super::*;
    use crate::http_agent::{AgentOptions, build_with};
    use crate::io_deadline::DeadlineConnector;
    use crate::models::Models;
    use crate::resolver::HostResolver;

    /// A name server that never answers: each lookup waits out the timeout
    /// ureq gives it (a minute at most), then fails as ureq's own resolver does.
    #[derive(Debug)]
    struct SilentResolver;

    impl Resolver for SilentResolver {
        fn resolve(
            &self,
            _uri: &http::Uri,
            _config: &ureq::config::Config,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let hang = Duration::from_secs(60);
            let wait = match timeout.after {
                UreqDuration::Exact(after) => after.min(hang),
                UreqDuration::NotHappening => hang,
            };
            std::thread::sleep(wait);
            Err(ureq::Error::Timeout(timeout.reason))
        }
    }

    /// A network where no connection is ever answered, as ureq's TCP
    /// connector meets it: it gives up with `Timeout::Connect` a little
    /// before the time it was given runs out (whole milliseconds, and a
    /// share for each address of the host).
    #[derive(Debug)]
    struct UnansweredConnector;

    impl Connector for UnansweredConnector {
        type Out = Box<dyn Transport>;

        fn connect(
            &self,
            details: &ConnectionDetails<'_>,
            _chained: Option<()>,
        ) -> Result<Option<Self::Out>, ureq::Error> {
            let budget = match details.timeout.after {
                UreqDuration::Exact(after) => after.min(Duration::from_secs(60)),
                UreqDuration::NotHappening => Duration::from_secs(60),
            };
            std::thread::sleep(budget.saturating_sub(Duration::from_millis(5)));
            Err(ureq::Error::Timeout(Timeout::Connect))
        }
    }

    /// Lists models with `config` over `agent`: the error and how long it
    /// took, or a failure after 10 s (the default total deadline is 10
    /// minutes, so only a shorter deadline ends it sooner).
    fn list_failing(config: Config, agent: Agent) -> (Error, Duration) {
        let client = ClientInner {
            config,
            agent,
            unusable: None,
            via_proxy: None,
        };
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = Models::new(&client).list();
            let _ = sender.send((result, started.elapsed()));
        });
        match receiver.recv_timeout(Duration::from_secs(10)) {
            Ok((Err(error), took)) => (error, took),
            Ok((Ok(models), _)) => panic!("listed without a network: {models:?}"),
            Err(_) => panic!("the call was not cut short"),
        }
    }

    fn list_without_dns(config: Config) -> (Error, Duration) {
        let connector = DefaultConnector::new().chain(DeadlineConnector);
        let agent = build_with(AgentOptions::default(), connector, SilentResolver);
        list_failing(config, agent)
    }

    fn list_without_answers(config: Config) -> (Error, Duration) {
        let agent = build_with(
            AgentOptions::default(),
            UnansweredConnector,
            HostResolver::default(),
        );
        list_failing(config, agent)
    }

    fn timeout_kind(error: &Error) -> TimeoutKind {
        match error {
            Error::Timeout(timeout) => timeout.kind,
            other => panic!("not a timeout: {other:?}"),
        }
    }

    #[test]
    fn the_connect_timeout_bounds_the_host_name_lookup() {
        let config = Config::new("sk-test")
            .base_url("http://nexllm-test-host.invalid/v1")
            .connect_timeout(Duration::from_millis(100))
            .max_retries(1);
        let (error, took) = list_without_dns(config);
        assert_eq!(timeout_kind(&error), TimeoutKind::Connect, "{error:?}");
        assert_eq!(error.attempts(), 2, "a connect timeout is retried");
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }

    #[test]
    fn the_first_byte_deadline_bounds_the_host_name_lookup() {
        let config = Config::new("sk-test")
            .base_url("http://nexllm-test-host.invalid/v1")
            .first_byte_timeout(Some(Duration::from_millis(100)))
            .max_retries(0);
        let (error, took) = list_without_dns(config);
        assert_eq!(timeout_kind(&error), TimeoutKind::FirstByte, "{error:?}");
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }

    #[test]
    fn earliest_picks_the_nearer_deadline() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert_eq!(earliest(Some(now), Some(later)), Some(now));
        assert_eq!(earliest(Some(later), Some(now)), Some(now));
        assert_eq!(earliest(None, Some(now)), Some(now));
        assert_eq!(earliest(Some(now), None), Some(now));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn a_connect_cut_short_by_a_deadline_fails_as_that_deadline() {
        // The connect timeout (5 s) is far; the deadline cuts the connect.
        let first_byte = Config::new("sk-test")
            .base_url("http://127.0.0.1:9/v1")
            .first_byte_timeout(Some(Duration::from_millis(100)))
            .max_retries(0);
        let (error, took) = list_without_answers(first_byte);
        assert_eq!(timeout_kind(&error), TimeoutKind::FirstByte, "{error:?}");
        assert!(took >= Duration::from_millis(100), "{took:?}");

        let total = Config::new("sk-test")
            .base_url("http://127.0.0.1:9/v1")
            .total_timeout(Some(Duration::from_millis(100)));
        let (error, took) = list_without_answers(total);
        assert_eq!(timeout_kind(&error), TimeoutKind::Total, "{error:?}");
        assert_eq!(error.attempts(), 1);
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }

    #[test]
    fn a_connect_that_outlasts_the_connect_timeout_is_a_connect_timeout() {
        let config = Config::new("sk-test")
            .base_url("http://127.0.0.1:9/v1")
            .connect_timeout(Duration::from_millis(50))
            .first_byte_timeout(Some(Duration::from_secs(5)))
            .max_retries(0);
        let (error, _) = list_without_answers(config);
        assert_eq!(timeout_kind(&error), TimeoutKind::Connect, "{error:?}");
    }
}
