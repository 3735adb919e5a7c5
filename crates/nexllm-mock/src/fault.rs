//! Faults the mock can inject, and the `x-mock-fault` spec grammar that selects them.
//!
//! A spec is a list of items separated by `;`, each `key` or `key=value`, for example
//! `status=429;retry-after=1` or `fail-first=2;status=503`. The crate README lists
//! every key.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use http::StatusCode;

/// One fault to inject into a response.
///
/// Faults are chosen per request (the `x-mock-fault` header or a `mock-fault:<spec>`
/// model name) or queued with [`MockServer::push_script`](crate::MockServer::push_script).
/// Several faults combine with [`Fault::All`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status, an OpenAI-shaped error body and optional retry headers.
    Status(StatusFault),
    /// Fail the first `attempts` attempts of one call with `failure`, then answer normally.
    ///
    /// Attempts are counted per `Idempotency-Key` header (and spec) when the client sends
    /// one, else per spec string; a scripted step stays queued until it has failed
    /// `attempts` times and is consumed by the successful attempt.
    FailFirst {
        /// How many attempts fail before one succeeds.
        attempts: u32,
        /// The failure used for each failing attempt.
        failure: Box<Fault>,
    },
    /// Wait this long before sending the response head.
    DelayHead(Duration),
    /// Close the TCP connection without writing a response head.
    CloseBeforeHead,
    /// Abort the connection after this many stream chunks (a non-streamed body is cut in
    /// half). The chunked body never ends cleanly.
    CloseAfterChunks(usize),
    /// Wait this long between stream events (before the body of a non-streamed answer).
    StallBetweenChunks(Duration),
    /// Send a `data: {"error": {..}}` event after this many chunks, then end the stream
    /// without `[DONE]`.
    ErrorEventAfterChunks(usize),
    /// Send a chunk that is not valid JSON after this many chunks, then continue. A
    /// non-streamed answer gets a 200 body that is not valid JSON.
    MalformedChunkAfter(usize),
    /// Write the body in frames of these sizes, ignoring event boundaries.
    SplitFrames(SplitPattern),
    /// End SSE lines with `\r\n` instead of `\n`.
    Crlf,
    /// Write the body one byte per frame.
    OneByteAtATime,
    /// After the first event, start a line that never ends (and a non-streamed body that
    /// never ends); the server keeps writing until the client hangs up.
    EndlessLine,
    /// Answer with status 200, `content-type: application/json` and an error body, even for
    /// a stream request.
    JsonErrorForStream,
    /// End the stream without the final `data: [DONE]` event.
    NoDone,
    /// After `data: [DONE]`, keep the body open, sending a `: keep-alive` comment
    /// every 100 ms, until the client hangs up (streams only).
    KeepOpenAfterDone,
    /// Apply all of these faults together.
    All(Vec<Fault>),
}

/// An error answer: status, the OpenAI error fields and the retry headers to send.
///
/// Fields left `None` get the values OpenAI uses for that status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusFault {
    /// The HTTP status to answer with: a final status (200 to 999). A 1xx cannot be
    /// sent as a final response (the `x-mock-fault` spec refuses one).
    pub status: StatusCode,
    /// `error.message`.
    pub message: Option<String>,
    /// `error.type`.
    pub error_type: Option<String>,
    /// `error.code`.
    pub code: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
    /// The `Retry-After` header value, sent as is (seconds or an HTTP date).
    pub retry_after: Option<String>,
    /// The `retry-after-ms` header value.
    pub retry_after_ms: Option<u64>,
    /// The `x-should-retry` header value.
    pub should_retry: Option<bool>,
    /// Send this text as the body instead of the JSON error (a proxy's HTML page, say).
    pub raw_body: Option<String>,
}

impl StatusFault {
    /// An error answer with this status and default fields.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            message: None,
            error_type: None,
            code: None,
            param: None,
            retry_after: None,
            retry_after_ms: None,
            should_retry: None,
            raw_body: None,
        }
    }

    /// Sets `error.message`.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets `error.type`.
    #[must_use]
    pub fn error_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = Some(error_type.into());
        self
    }

    /// Sets `error.code`.
    #[must_use]
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `error.param`.
    #[must_use]
    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sends a `Retry-After` header with this value.
    #[must_use]
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// Sends a `retry-after-ms` header.
    #[must_use]
    pub fn retry_after_ms(mut self, millis: u64) -> Self {
        self.retry_after_ms = Some(millis);
        self
    }

    /// Sends an `x-should-retry` header.
    #[must_use]
    pub fn should_retry(mut self, should_retry: bool) -> Self {
        self.should_retry = Some(should_retry);
        self
    }

    /// Sends this text as the body instead of a JSON error.
    #[must_use]
    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.raw_body = Some(body.into());
        self
    }
}

impl From<StatusFault> for Fault {
    fn from(fault: StatusFault) -> Self {
        Fault::Status(fault)
    }
}

/// How [`Fault::SplitFrames`] cuts the body into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitPattern {
    /// Frame sizes used in turn, repeating; zeros are treated as one.
    Sizes(Vec<usize>),
    /// Frame sizes between 1 and 16 bytes drawn from a deterministic generator with this seed.
    Seeded(u64),
}

impl SplitPattern {
    /// An endless sequence of frame sizes, each at least one.
    pub(crate) fn sizes(&self) -> FrameSizes {
        match self {
            SplitPattern::Sizes(sizes) => FrameSizes::Cycle {
                sizes: if sizes.is_empty() {
                    vec![1]
                } else {
                    sizes.clone()
                },
                next: 0,
            },
            SplitPattern::Seeded(seed) => FrameSizes::Seeded {
                state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            },
        }
    }
}

/// Iterator over frame sizes (never ends, never yields zero).
#[derive(Debug)]
pub(crate) enum FrameSizes {
    Cycle { sizes: Vec<usize>, next: usize },
    Seeded { state: u64 },
}

impl Iterator for FrameSizes {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            FrameSizes::Cycle { sizes, next } => {
                let size = sizes.get(*next).copied().unwrap_or(1).max(1);
                *next = (*next + 1) % sizes.len().max(1);
                Some(size)
            }
            FrameSizes::Seeded { state } => {
                // xorshift64: deterministic, good enough to scatter frame boundaries.
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                Some((*state % 16) as usize + 1)
            }
        }
    }
}

/// Why a fault spec could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpecError {
    item: String,
    reason: &'static str,
}

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid fault spec item `{}`: {}",
            self.item, self.reason
        )
    }
}

impl std::error::Error for FaultSpecError {}

impl FromStr for Fault {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Fault::parse(spec)
    }
}

impl Fault {
    /// Parses a fault spec such as `status=429;retry-after=1` (grammar in the crate README).
    pub fn parse(spec: &str) -> Result<Fault, FaultSpecError> {
        let mut status: Option<StatusFault> = None;
        let mut status_keys_seen = false;
        let mut fail_first: Option<u32> = None;
        let mut others = Vec::new();
        for item in spec
            .split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (key, value) = match item.split_once('=') {
                Some((key, value)) => (key.trim(), Some(value.trim())),
                None => (item, None),
            };
            let err = |reason| FaultSpecError {
                item: item.to_owned(),
                reason,
            };
            let need = || value.ok_or_else(|| err("needs a value"));
            let status_fault =
                status.get_or_insert_with(|| StatusFault::new(StatusCode::INTERNAL_SERVER_ERROR));
            match key {
                "status" => {
                    let code = need()?
                        .parse::<u16>()
                        .map_err(|_| err("expects an HTTP status code"))?;
                    status_fault.status = StatusCode::from_u16(code)
                        .ok()
                        .filter(|status| !status.is_informational())
                        .ok_or_else(|| err("expects a final HTTP status code (200 to 999)"))?;
                    status_keys_seen = true;
                }
                "message" => {
                    status_fault.message = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "type" => {
                    status_fault.error_type = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "code" => {
                    status_fault.code = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "param" => {
                    status_fault.param = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "retry-after" => {
                    status_fault.retry_after = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "retry-after-ms" => {
                    let millis = need()?
                        .parse::<u64>()
                        .map_err(|_| err("expects milliseconds"))?;
                    status_fault.retry_after_ms = Some(millis);
                    status_keys_seen = true;
                }
                "should-retry" => {
                    let flag = need()?
                        .parse::<bool>()
                        .map_err(|_| err("expects true or false"))?;
                    status_fault.should_retry = Some(flag);
                    status_keys_seen = true;
                }
                "raw-body" => {
                    status_fault.raw_body = Some(need()?.to_owned());
                    status_keys_seen = true;
                }
                "fail-first" => {
                    let attempts = need()?.parse::<u32>().map_err(|_| err("expects a count"))?;
                    fail_first = Some(attempts);
                }
                "delay-head" => others.push(Fault::DelayHead(
                    parse_duration(need()?)
                        .ok_or_else(|| err("expects a duration like 200ms or 2s"))?,
                )),
                "close-before-head" => others.push(Fault::CloseBeforeHead),
                "close-after" => others.push(Fault::CloseAfterChunks(
                    parse_count(need()?).ok_or_else(|| err("expects a count"))?,
                )),
                "stall" => others.push(Fault::StallBetweenChunks(
                    parse_duration(need()?)
                        .ok_or_else(|| err("expects a duration like 200ms or 2s"))?,
                )),
                "error-event-after" => others.push(Fault::ErrorEventAfterChunks(
                    parse_count(need()?).ok_or_else(|| err("expects a count"))?,
                )),
                "malformed-after" => others.push(Fault::MalformedChunkAfter(
                    parse_count(need()?).ok_or_else(|| err("expects a count"))?,
                )),
                "split" => others
                    .push(Fault::SplitFrames(parse_split(need()?).ok_or_else(
                        || err("expects sizes like 7 or 3,5,1, or seed:N"),
                    )?)),
                "crlf" => others.push(Fault::Crlf),
                "one-byte" => others.push(Fault::OneByteAtATime),
                "endless-line" => others.push(Fault::EndlessLine),
                "json-error-200" => others.push(Fault::JsonErrorForStream),
                "no-done" => others.push(Fault::NoDone),
                "keep-open-after-done" => others.push(Fault::KeepOpenAfterDone),
                _ => return Err(err("unknown key (see the nexllm-mock README for the list)")),
            }
        }
        if status_keys_seen {
            if let Some(status) = status {
                others.insert(0, Fault::Status(status));
            }
        }
        let combined = |mut faults: Vec<Fault>| match faults.len() {
            1 => faults.pop().unwrap_or(Fault::All(Vec::new())),
            _ => Fault::All(faults),
        };
        match fail_first {
            Some(attempts) => {
                let failure = if others.is_empty() {
                    Fault::Status(StatusFault::new(StatusCode::INTERNAL_SERVER_ERROR))
                } else {
                    combined(others)
                };
                Ok(Fault::FailFirst {
                    attempts,
                    failure: Box::new(failure),
                })
            }
            None if others.is_empty() => Err(FaultSpecError {
                item: spec.to_owned(),
                reason: "names no fault",
            }),
            None => Ok(combined(others)),
        }
    }
}

fn parse_count(value: &str) -> Option<usize> {
    value.parse().ok()
}

fn parse_duration(value: &str) -> Option<Duration> {
    if let Some(millis) = value.strip_suffix("ms") {
        millis.trim().parse().ok().map(Duration::from_millis)
    } else if let Some(secs) = value.strip_suffix('s') {
        secs.trim().parse().ok().map(Duration::from_secs)
    } else {
        value.parse().ok().map(Duration::from_millis)
    }
}

fn parse_split(value: &str) -> Option<SplitPattern> {
    if let Some(seed) = value.strip_prefix("seed:") {
        return seed.trim().parse().ok().map(SplitPattern::Seeded);
    }
    let sizes = value
        .split(',')
        .map(|size| size.trim().parse::<usize>().ok().filter(|size| *size > 0))
        .collect::<Option<Vec<_>>>()?;
    Some(SplitPattern::Sizes(sizes))
}

/// The faults that apply to one attempt, after `FailFirst` was decided.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResolvedFaults {
    pub(crate) status: Option<StatusFault>,
    pub(crate) close_before_head: bool,
    pub(crate) delivery: Delivery,
}

/// How the body of a response is delivered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delivery {
    pub(crate) delay_head: Option<Duration>,
    pub(crate) close_after: Option<usize>,
    pub(crate) stall: Option<Duration>,
    pub(crate) error_event_after: Option<usize>,
    pub(crate) malformed_after: Option<usize>,
    pub(crate) split: Option<SplitPattern>,
    pub(crate) crlf: bool,
    pub(crate) endless_line: bool,
    pub(crate) json_error_200: bool,
    pub(crate) no_done: bool,
    pub(crate) keep_open_after_done: bool,
}

impl ResolvedFaults {
    /// Resolves `fault` for an attempt that had `previous_attempts` attempts before it.
    /// Returns the faults and the largest `FailFirst` count met (0 when none).
    pub(crate) fn resolve(fault: &Fault, previous_attempts: u32) -> (ResolvedFaults, u32) {
        let mut resolved = ResolvedFaults::default();
        let mut max_attempts = 0;
        resolved.add(fault, previous_attempts, &mut max_attempts);
        (resolved, max_attempts)
    }

    fn add(&mut self, fault: &Fault, previous_attempts: u32, max_attempts: &mut u32) {
        let delivery = &mut self.delivery;
        match fault {
            Fault::Status(status) => {
                if self.status.is_none() {
                    self.status = Some(status.clone());
                }
            }
            Fault::FailFirst { attempts, failure } => {
                *max_attempts = (*max_attempts).max(*attempts);
                if previous_attempts < *attempts {
                    self.add(failure, previous_attempts, max_attempts);
                }
            }
            Fault::DelayHead(delay) => delivery.delay_head = Some(*delay),
            Fault::CloseBeforeHead => self.close_before_head = true,
            Fault::CloseAfterChunks(count) => delivery.close_after = Some(*count),
            Fault::StallBetweenChunks(stall) => delivery.stall = Some(*stall),
            Fault::ErrorEventAfterChunks(count) => delivery.error_event_after = Some(*count),
            Fault::MalformedChunkAfter(count) => delivery.malformed_after = Some(*count),
            Fault::SplitFrames(pattern) => delivery.split = Some(pattern.clone()),
            Fault::Crlf => delivery.crlf = true,
            Fault::OneByteAtATime => delivery.split = Some(SplitPattern::Sizes(vec![1])),
            Fault::EndlessLine => delivery.endless_line = true,
            Fault::JsonErrorForStream => delivery.json_error_200 = true,
            Fault::NoDone => delivery.no_done = true,
            Fault::KeepOpenAfterDone => delivery.keep_open_after_done = true,
            Fault::All(faults) => {
                for fault in faults {
                    self.add(fault, previous_attempts, max_attempts);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_with_retry_headers() {
        let fault =
            Fault::parse("status=429; retry-after=1; retry-after-ms=1500; should-retry=false")
                .unwrap();
        let expected = StatusFault::new(StatusCode::TOO_MANY_REQUESTS)
            .retry_after("1")
            .retry_after_ms(1500)
            .should_retry(false);
        assert_eq!(fault, Fault::Status(expected));
    }

    #[test]
    fn fail_first_wraps_the_other_items() {
        let fault = Fault::parse("fail-first=2;status=503").unwrap();
        assert_eq!(
            fault,
            Fault::FailFirst {
                attempts: 2,
                failure: Box::new(Fault::Status(StatusFault::new(
                    StatusCode::SERVICE_UNAVAILABLE
                )))
            }
        );
        let fault = Fault::parse("fail-first=1").unwrap();
        assert!(
            matches!(fault, Fault::FailFirst { attempts: 1, failure } if matches!(*failure, Fault::Status(ref s) if s.status == StatusCode::INTERNAL_SERVER_ERROR))
        );
    }

    #[test]
    fn parses_every_stream_fault() {
        let fault = Fault::parse(
            "close-after=3;stall=200ms;error-event-after=2;malformed-after=1;split=3,5;crlf;one-byte;endless-line;json-error-200;no-done;keep-open-after-done;close-before-head;delay-head=2s",
        )
        .unwrap();
        let Fault::All(faults) = fault else {
            panic!("expected All")
        };
        assert_eq!(faults.len(), 13);
        assert_eq!(faults.first(), Some(&Fault::CloseAfterChunks(3)));
        assert_eq!(
            faults.get(1),
            Some(&Fault::StallBetweenChunks(Duration::from_millis(200)))
        );
        assert_eq!(
            faults.get(4),
            Some(&Fault::SplitFrames(SplitPattern::Sizes(vec![3, 5])))
        );
        assert_eq!(faults.get(10), Some(&Fault::KeepOpenAfterDone));
        assert_eq!(
            faults.get(12),
            Some(&Fault::DelayHead(Duration::from_secs(2)))
        );
        assert_eq!(
            Fault::parse("split=seed:42").unwrap(),
            Fault::SplitFrames(SplitPattern::Seeded(42))
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for spec in [
            "",
            "status=abc",
            "status=42",
            "status=100",
            "status=101",
            "bogus",
            "stall=fast",
            "split=0",
            "close-after",
            "should-retry=maybe",
        ] {
            assert!(Fault::parse(spec).is_err(), "{spec} should be rejected");
        }
        let err = Fault::parse("status=200;nope=1").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn fail_first_resolves_by_attempt() {
        let fault = Fault::parse("fail-first=2;status=503").unwrap();
        for (previous, fails) in [(0, true), (1, true), (2, false), (5, false)] {
            let (resolved, max) = ResolvedFaults::resolve(&fault, previous);
            assert_eq!(max, 2);
            assert_eq!(resolved.status.is_some(), fails, "attempt {previous}");
        }
    }

    #[test]
    fn seeded_sizes_are_deterministic_and_bounded() {
        let a: Vec<usize> = SplitPattern::Seeded(7).sizes().take(100).collect();
        let b: Vec<usize> = SplitPattern::Seeded(7).sizes().take(100).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|size| (1..=16).contains(size)));
        let cycle: Vec<usize> = SplitPattern::Sizes(vec![2, 0, 3]).sizes().take(4).collect();
        assert_eq!(cycle, vec![2, 1, 3, 2]);
    }
}
