//! The one error type of the SDK: [`Error`], and the parts it is made of.
//!
//! Every failure, whichever layer noticed it, ends up as an [`Error`]. The
//! variants say *when* the failure happened: the server answered with an error
//! ([`Error::Api`]), the connection failed ([`Error::Transport`]), a deadline
//! passed ([`Error::Timeout`]), a body did not parse ([`Error::Decode`]), a
//! stream broke ([`Error::Stream`]), a buffer limit was reached
//! ([`Error::LimitExceeded`]) or the request was rejected before any I/O
//! ([`Error::InvalidRequest`]).

use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// How many characters of a raw body an error keeps (more is cut, with `…`).
pub const RAW_EXCERPT_CHARS: usize = 512;

/// Any failure of a call to the API.
///
/// `Display` writes one line meant for a person, for instance
/// `401 Unauthorized (invalid_api_key): Incorrect API key provided [request id req_123]`.
///
/// Each variant boxes what it carries, so an `Error` is two words and a
/// `Result` of a lent chunk and an `Error` is no larger: the stream returns
/// one per chunk, and the error, which keeps everything the server said, is
/// rare. Match and read it as usual (`Error::Api(e) => e.status`); build one
/// from its part with `Error::from` or `.into()`:
///
/// ```
/// use nexllm_proto::{Error, TimeoutError, TimeoutKind};
/// use std::time::Duration;
///
/// let error: Error = TimeoutError::new(TimeoutKind::Idle, Duration::from_secs(30)).into();
/// match &error {
///     Error::Timeout(timeout) => assert_eq!(timeout.kind, TimeoutKind::Idle),
///     other => panic!("{other}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error: an HTTP error status, a `200` whose
    /// body is an error object, or an error event inside a stream.
    Api(Box<ApiError>),
    /// The connection failed: DNS, connect, TLS, reset, or another I/O error.
    Transport(Box<TransportError>),
    /// A deadline passed (see [`TimeoutKind`]).
    Timeout(Box<TimeoutError>),
    /// A body arrived but could not be understood. Keeps the offending text.
    Decode(Box<DecodeError>),
    /// A stream ended in a way that is not an API error: cut short before
    /// `[DONE]`, or not an event stream at all.
    Stream(Box<StreamError>),
    /// A buffer reached its configured limit (an endless line, a huge body).
    LimitExceeded(Box<LimitError>),
    /// The request was rejected before any I/O (empty model, no messages,
    /// a parameter out of range, an invalid base URL or header).
    InvalidRequest(Box<InvalidRequestError>),
    /// The call was cancelled by the caller before it finished.
    Cancelled,
}

impl Error {
    /// The HTTP status of an API error, when there is one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => e.status,
            _ => None,
        }
    }

    /// The request id the server gave (`x-request-id` or a compatible header), when known.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::Stream(e) => e.request_id.as_deref(),
            Error::Decode(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// How many HTTP attempts were made before this error was returned (0
    /// when it was raised before any attempt, or is not tied to a call).
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Api(e) => e.attempts,
            Error::Transport(e) => e.attempts,
            Error::Timeout(e) => e.attempts,
            Error::Decode(e) => e.attempts,
            Error::Stream(e) => e.attempts,
            Error::LimitExceeded(e) => e.attempts,
            Error::InvalidRequest(_) | Error::Cancelled => 0,
        }
    }

    /// Records how many attempts the call made; used by the exchange.
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        match &mut self {
            Error::Api(e) => e.attempts = attempts,
            Error::Transport(e) => e.attempts = attempts,
            Error::Timeout(e) => e.attempts = attempts,
            Error::Decode(e) => e.attempts = attempts,
            Error::Stream(e) => e.attempts = attempts,
            Error::LimitExceeded(e) => e.attempts = attempts,
            Error::InvalidRequest(_) | Error::Cancelled => {}
        }
        self
    }

    /// Records the request id of the response this error came from, when the
    /// error does not know it yet.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<&str>) -> Self {
        let Some(id) = request_id else { return self };
        let slot = match &mut self {
            Error::Api(e) => &mut e.request_id,
            Error::Stream(e) => &mut e.request_id,
            Error::Decode(e) => &mut e.request_id,
            _ => return self,
        };
        if slot.is_none() {
            *slot = Some(id.to_owned());
        }
        self
    }

    /// A short, stable name for the variant (`"api"`, `"transport"`, `"timeout"`,
    /// `"decode"`, `"stream"`, `"limit"`, `"invalid_request"`, `"cancelled"`):
    /// safe to log, unlike the message, which may quote a body.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Error::Api(_) => "api",
            Error::Transport(_) => "transport",
            Error::Timeout(_) => "timeout",
            Error::Decode(_) => "decode",
            Error::Stream(_) => "stream",
            Error::LimitExceeded(_) => "limit",
            Error::InvalidRequest(_) => "invalid_request",
            Error::Cancelled => "cancelled",
        }
    }

    /// The delay the server asked for before another try (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// A shorthand for an [`Error::InvalidRequest`] naming the field at fault.
    pub fn invalid_request(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidRequest(Box::new(InvalidRequestError {
            field,
            reason: reason.into(),
        }))
    }

    /// A shorthand for an [`Error::Decode`] about `what`, keeping an excerpt of `raw`.
    pub fn decode(what: impl Into<String>, raw: &str) -> Self {
        Error::Decode(Box::new(DecodeError {
            message: what.into(),
            raw: excerpt(raw),
            request_id: None,
            attempts: 0,
        }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => e.fmt(f),
            Error::Transport(e) => e.fmt(f),
            Error::Timeout(e) => e.fmt(f),
            Error::Decode(e) => e.fmt(f),
            Error::Stream(e) => e.fmt(f),
            Error::LimitExceeded(e) => e.fmt(f),
            Error::InvalidRequest(e) => e.fmt(f),
            Error::Cancelled => f.write_str("the call was cancelled"),
        }
    }
}

/// `From` each part of an [`Error`] to its variant (boxed).
macro_rules! from_part {
    ($($part:ident => $variant:ident),* $(,)?) => {$(
        impl From<$part> for Error {
            fn from(error: $part) -> Self {
                Error::$variant(Box::new(error))
            }
        }
    )*};
}

from_part!(
    ApiError => Api,
    TransportError => Transport,
    TimeoutError => Timeout,
    DecodeError => Decode,
    StreamError => Stream,
    LimitError => LimitExceeded,
    InvalidRequestError => InvalidRequest,
);

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Stream(stream) => stream
                .cause
                .as_ref()
                .map(|cause| cause as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

fn write_attempts(f: &mut fmt::Formatter<'_>, attempts: u32) -> fmt::Result {
    if attempts > 1 {
        write!(f, " after {attempts} attempts")?;
    }
    Ok(())
}

fn write_request_id(f: &mut fmt::Formatter<'_>, request_id: Option<&str>) -> fmt::Result {
    if let Some(id) = request_id {
        write!(f, " [request id {id}]")?;
    }
    Ok(())
}

/// Which family of HTTP status an [`ApiError`] belongs to, as the official SDKs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400: the request was malformed or a parameter is invalid.
    BadRequest,
    /// 401: the API key is missing or wrong.
    Authentication,
    /// 403: the key may not use this resource or model.
    PermissionDenied,
    /// 404: unknown model or path.
    NotFound,
    /// 409: a conflicting request (retried).
    Conflict,
    /// 422: the request was understood but cannot be processed.
    UnprocessableEntity,
    /// 429: rate limit or quota reached.
    RateLimit,
    /// 5xx: the server or an upstream provider failed.
    InternalServer,
    /// Any other status, or an error without a status (an error event in a stream,
    /// an error object in a `200` body).
    Other,
}

impl ApiErrorKind {
    /// The kind for an HTTP status.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            409 => Self::Conflict,
            422 => Self::UnprocessableEntity,
            429 => Self::RateLimit,
            500..=599 => Self::InternalServer,
            _ => Self::Other,
        }
    }
}

/// An error code from an error body. Servers send it as a string
/// (`"invalid_api_key"`, LiteLLM's `"429"`) or as a number (vLLM's `400`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// A textual code.
    Text(String),
    /// A numeric code.
    Number(i64),
}

impl ErrorCode {
    /// The code as text, whichever form it came in.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ErrorCode::Text(s) => std::borrow::Cow::Borrowed(s),
            ErrorCode::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Text(s) => f.write_str(s),
            ErrorCode::Number(n) => write!(f, "{n}"),
        }
    }
}

/// An error the server reported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status, or `None` for an error event inside a `200` stream.
    pub status: Option<StatusCode>,
    /// The status family.
    pub kind: ApiErrorKind,
    /// The readable message (from the body, or the status text when the body has none).
    pub message: String,
    /// The error `type`, e.g. `invalid_request_error`.
    pub error_type: Option<String>,
    /// The parameter the error is about, e.g. `temperature`.
    pub param: Option<String>,
    /// The error `code`, e.g. `invalid_api_key` or `rate_limit_exceeded`.
    pub code: Option<ErrorCode>,
    /// The request id (`x-request-id`, or a gateway's equivalent).
    pub request_id: Option<String>,
    /// The delay the server asked for (`retry-after-ms` or `Retry-After`).
    pub retry_after: Option<Duration>,
    /// The raw body, cut to a readable length ([`RAW_EXCERPT_CHARS`]).
    pub raw_body: String,
    /// How many attempts were made in all.
    pub attempts: u32,
}

impl ApiError {
    /// A new error with the given status and message and nothing else set.
    pub fn new(status: Option<StatusCode>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: status.map_or(ApiErrorKind::Other, ApiErrorKind::from_status),
            message: message.into(),
            error_type: None,
            param: None,
            code: None,
            request_id: None,
            retry_after: None,
            raw_body: String::new(),
            attempts: 0,
        }
    }

    /// Whether the error code is the given text (numeric codes compare as their decimal text).
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_ref().is_some_and(|c| c.as_text() == code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => {
                write!(f, "{}", status.as_u16())?;
                if let Some(reason) = status.canonical_reason() {
                    write!(f, " {reason}")?;
                }
            }
            None => f.write_str("API error")?,
        }
        match (&self.code, &self.error_type) {
            (Some(code), _) => write!(f, " ({code})")?,
            (None, Some(ty)) => write!(f, " ({ty})")?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {})", DisplayDuration(after))?;
        }
        write_request_id(f, self.request_id.as_deref())?;
        write_attempts(f, self.attempts)
    }
}

/// What kind of connection failure a transport saw. Transports classify;
/// the core decides what to do: all of these are retried, except a proxy
/// that refused the credentials (see [`TransportError::proxy_status`]) and
/// [`Request`](Self::Request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Resolving the host name failed.
    Dns,
    /// The TCP connection could not be made (refused, unreachable, connect timeout).
    Connect,
    /// The TLS handshake failed (including certificate verification).
    Tls,
    /// The connection was closed or reset by the peer.
    Reset,
    /// Any other I/O or protocol error while sending or receiving.
    Io,
    /// A proxy refused or failed the tunnel, or could not be reached, or
    /// refused a plain `http://` request sent to it as a forward proxy (407).
    Proxy,
    /// The transport could not write this request on its connection, before
    /// sending it whole: for instance a header line too long for the framing
    /// a forward proxy needs. Sending the same request again would fail the
    /// same way, so it is not retried.
    Request,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Dns => "could not resolve the host",
            Self::Connect => "could not connect",
            Self::Tls => "TLS handshake failed",
            Self::Reset => "the connection was closed",
            Self::Io => "I/O error",
            Self::Proxy => "the proxy failed",
            Self::Request => "could not send the request",
        }
    }
}

/// A connection failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportError {
    /// The class of failure.
    pub kind: TransportErrorKind,
    /// The transport's description (never contains the API key).
    pub message: String,
    /// How many attempts were made in all.
    pub attempts: u32,
    /// The status a proxy answered the `CONNECT` of a tunnel with, when it
    /// refused to open it and the transport knows the status, or `407` when
    /// a forward proxy refused a plain `http://` request (kind
    /// [`Proxy`](TransportErrorKind::Proxy)). A `407 Proxy Authentication
    /// Required` is not retried: the proxy credentials are wrong or missing,
    /// and asking again cannot help.
    pub proxy_status: Option<StatusCode>,
}

impl TransportError {
    /// A new transport error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
            attempts: 0,
            proxy_status: None,
        }
    }

    /// A proxy answered the `CONNECT` of a tunnel with `status` (not 2xx):
    /// a [`Proxy`](TransportErrorKind::Proxy) error that keeps the status.
    pub fn proxy_refused(status: StatusCode, message: impl Into<String>) -> Self {
        TransportError {
            proxy_status: Some(status),
            ..TransportError::new(TransportErrorKind::Proxy, message)
        }
    }
}

impl std::error::Error for TransportError {}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        write_attempts(f, self.attempts)
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The connection was not established in time.
    Connect,
    /// The response head did not arrive in time after the request was sent.
    FirstByte,
    /// No body bytes arrived for the configured gap while reading a response.
    Idle,
    /// The whole call (all attempts and waits) took longer than allowed.
    Total,
}

/// A deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutError {
    /// Which deadline.
    pub kind: TimeoutKind,
    /// The configured length of that deadline.
    pub after: Duration,
    /// How many attempts were made in all.
    pub attempts: u32,
}

impl TimeoutError {
    /// A new timeout error.
    pub fn new(kind: TimeoutKind, after: Duration) -> Self {
        TimeoutError {
            kind,
            after,
            attempts: 0,
        }
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = DisplayDuration(self.after);
        match self.kind {
            TimeoutKind::Connect => write!(f, "timed out connecting after {after}")?,
            TimeoutKind::FirstByte => {
                write!(f, "no response within {after} of sending the request")?
            }
            TimeoutKind::Idle => write!(f, "the server sent nothing for {after}")?,
            TimeoutKind::Total => write!(f, "the call did not finish within {after}")?,
        }
        write_attempts(f, self.attempts)
    }
}

/// A body that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// What was expected and what went wrong.
    pub message: String,
    /// The offending text, cut to [`RAW_EXCERPT_CHARS`].
    pub raw: String,
    /// The request id of the response, when known.
    pub request_id: Option<String>,
    /// How many attempts were made in all.
    pub attempts: u32,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not decode the response: {}", self.message)?;
        if !self.raw.is_empty() {
            write!(f, " in {:?}", self.raw)?;
        }
        write_request_id(f, self.request_id.as_deref())?;
        write_attempts(f, self.attempts)
    }
}

/// How a stream went wrong, when it was not an API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The body ended before `data: [DONE]` while some choice had no finish reason.
    Truncated,
    /// A streaming request was answered with something that is not an event
    /// stream and not an error.
    NotAStream,
}

/// A stream that broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamError {
    /// What happened.
    pub kind: StreamErrorKind,
    /// A readable description.
    pub message: String,
    /// How many chunks had been received before it broke.
    pub chunks_received: u64,
    /// The request id of the response, when known.
    pub request_id: Option<String>,
    /// How many attempts were made in all.
    pub attempts: u32,
    /// The connection failure that cut the stream, when that is what did:
    /// a reset or an I/O error after some chunks had arrived. Also
    /// [`std::error::Error::source`] of the [`Error`].
    pub cause: Option<TransportError>,
}

impl StreamError {
    /// A new stream error.
    pub fn new(kind: StreamErrorKind, message: impl Into<String>, chunks_received: u64) -> Self {
        StreamError {
            kind,
            message: message.into(),
            chunks_received,
            request_id: None,
            attempts: 0,
            cause: None,
        }
    }

    /// A stream cut by a connection failure after `chunks_received` chunks had
    /// reached the caller: [`StreamErrorKind::Truncated`], naming the cause.
    ///
    /// ```
    /// use nexllm_proto::error::{StreamError, StreamErrorKind, TransportError, TransportErrorKind};
    ///
    /// let reset = TransportError::new(TransportErrorKind::Reset, "connection reset by peer");
    /// let error = StreamError::cut_by(reset, 7);
    /// assert_eq!(error.kind, StreamErrorKind::Truncated);
    /// assert_eq!(error.chunks_received, 7);
    /// assert!(error.to_string().contains("after 7 chunks"));
    /// assert!(error.to_string().contains("connection reset by peer"));
    /// assert!(error.cause.is_some());
    /// ```
    pub fn cut_by(cause: TransportError, chunks_received: u64) -> Self {
        let message = format!(
            "the stream was cut short after {chunks_received} chunk{} ({cause})",
            if chunks_received == 1 { "" } else { "s" }
        );
        StreamError {
            cause: Some(cause),
            ..StreamError::new(StreamErrorKind::Truncated, message, chunks_received)
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        write_request_id(f, self.request_id.as_deref())?;
        write_attempts(f, self.attempts)
    }
}

/// A buffer that reached its limit, or a streamed answer that would hold
/// more entries (choices, tool calls) than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitError {
    /// What grew too large, e.g. `"SSE line"`, `"response body"` or
    /// `"streamed answer"`.
    pub what: &'static str,
    /// The limit, in [`unit`](Self::unit)s.
    pub limit: usize,
    /// What the limit counts: `"bytes"` for a buffer, `"choices"`
    /// ([`Limits::max_choices`](crate::Limits::max_choices)) or
    /// `"tool calls"` ([`Limits::max_tool_calls`](crate::Limits::max_tool_calls))
    /// for the entries of a streamed answer.
    pub unit: &'static str,
    /// How many attempts were made in all.
    pub attempts: u32,
}

impl LimitError {
    /// A new limit error for a limit in bytes.
    pub fn new(what: &'static str, limit: usize) -> Self {
        Self::count(what, limit, "bytes")
    }

    /// A new limit error for a limit on how many `unit`s (`"choices"`,
    /// `"tool calls"`) `what` may hold.
    pub fn count(what: &'static str, limit: usize, unit: &'static str) -> Self {
        LimitError {
            what,
            limit,
            unit,
            attempts: 0,
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unit == "bytes" {
            write!(
                f,
                "the {} is larger than the limit of {} bytes",
                self.what, self.limit
            )?;
        } else {
            write!(
                f,
                "the {} would hold more than the limit of {} {}",
                self.what, self.limit, self.unit
            )?;
        }
        write_attempts(f, self.attempts)
    }
}

/// A request rejected before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidRequestError {
    /// The field at fault, named as in the JSON (`temperature`, `messages`, `base_url`).
    pub field: &'static str,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for InvalidRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: `{}` {}", self.field, self.reason)
    }
}

/// Cuts `raw` to at most [`RAW_EXCERPT_CHARS`] characters, adding `…` when cut.
pub fn excerpt(raw: &str) -> String {
    match raw.char_indices().nth(RAW_EXCERPT_CHARS) {
        None => raw.to_owned(),
        Some((cut, _)) => {
            let mut s = String::with_capacity(cut + 3);
            s.push_str(&raw[..cut]);
            s.push('…');
            s
        }
    }
}

/// Formats a duration for people: `1.5s`, `250ms`, `2m`.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.as_millis() < 1000 {
            write!(f, "{}ms", d.as_millis())
        } else if d.as_secs() < 120 {
            let secs = d.as_secs_f64();
            if (secs - secs.round()).abs() < 0.0005 {
                write!(f, "{}s", secs.round())
            } else {
                write!(f, "{secs:.1}s")
            }
        } else {
            write!(f, "{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_and_a_result_of_a_reference_are_two_words() {
        // The stream hands out `Result<&ChatCompletionChunk, Error>` per chunk:
        // with the payloads inline it was 168 bytes, copied at every step.
        assert_eq!(std::mem::size_of::<Error>(), 16);
        assert_eq!(std::mem::size_of::<Result<&u8, Error>>(), 16);
        assert_eq!(std::mem::size_of::<Option<Result<&u8, Error>>>(), 16);
    }

    #[test]
    fn each_part_converts_into_its_variant() {
        let limit: Error = LimitError::new("SSE line", 8).into();
        assert_eq!(limit.kind_name(), "limit");
        let api: Error = ApiError::new(Some(StatusCode::NOT_FOUND), "no such model").into();
        assert_eq!(api.status(), Some(StatusCode::NOT_FOUND));
        let cut: Error = StreamError::new(StreamErrorKind::Truncated, "cut short", 3).into();
        assert_eq!(cut.kind_name(), "stream");
    }

    #[test]
    fn api_error_reads_like_a_sentence() {
        let mut e = ApiError::new(Some(StatusCode::UNAUTHORIZED), "Incorrect API key provided");
        e.code = Some(ErrorCode::Text("invalid_api_key".into()));
        e.request_id = Some("req_123".into());
        assert_eq!(
            Error::Api(Box::new(e)).to_string(),
            "401 Unauthorized (invalid_api_key): Incorrect API key provided [request id req_123]"
        );
    }

    #[test]
    fn attempts_are_shown_only_when_retried() {
        let mut e = ApiError::new(Some(StatusCode::TOO_MANY_REQUESTS), "slow down");
        e.code = Some(ErrorCode::Text("rate_limit_exceeded".into()));
        let err = Error::Api(Box::new(e))
            .with_attempts(3)
            .with_request_id(Some("r1"));
        assert_eq!(
            err.to_string(),
            "429 Too Many Requests (rate_limit_exceeded): slow down [request id r1] after 3 attempts"
        );
        assert_eq!(err.attempts(), 3);
        assert_eq!(err.request_id(), Some("r1"));
        let once = Error::Timeout(Box::new(TimeoutError::new(
            TimeoutKind::Idle,
            Duration::from_secs(60),
        )))
        .with_attempts(1);
        assert_eq!(once.to_string(), "the server sent nothing for 60s");
    }

    #[test]
    fn numeric_codes_compare_as_text() {
        let mut e = ApiError::new(Some(StatusCode::TOO_MANY_REQUESTS), "x");
        e.code = Some(ErrorCode::Number(429));
        assert!(e.code_is("429"));
        assert!(!e.code_is("insufficient_quota"));
    }

    #[test]
    fn status_kinds() {
        let table = [
            (400, ApiErrorKind::BadRequest),
            (401, ApiErrorKind::Authentication),
            (403, ApiErrorKind::PermissionDenied),
            (404, ApiErrorKind::NotFound),
            (409, ApiErrorKind::Conflict),
            (422, ApiErrorKind::UnprocessableEntity),
            (429, ApiErrorKind::RateLimit),
            (500, ApiErrorKind::InternalServer),
            (503, ApiErrorKind::InternalServer),
            (529, ApiErrorKind::InternalServer),
            (418, ApiErrorKind::Other),
        ];
        for (code, kind) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(ApiErrorKind::from_status(status), kind, "{code}");
        }
    }

    #[test]
    fn excerpt_cuts_on_char_boundaries() {
        let long = "é".repeat(RAW_EXCERPT_CHARS + 10);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), RAW_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }
}
