//! Which failures are retried, and after how long.
//!
//! The rules follow the official OpenAI SDKs: connection failures (except a
//! proxy refusing its credentials, or a request the transport cannot
//! write), timeouts, 408, 409, 429 and 5xx are retried; `x-should-retry:
//! true|false` overrides the status rule; a 429 whose code is `insufficient_quota` is not retried
//! (waiting does not add credit). A server-requested delay is honoured when
//! it is above zero and at most [`Limits::max_retry_after`](crate::Limits);
//! a longer one fails the call at once, with the delay in the error, rather
//! than sleeping for minutes behind the caller's back.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::backoff::backoff_delay;
use super::jitter::Jitter;
use crate::error::{ApiError, TransportError, TransportErrorKind};

/// Whether an error response may be retried.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use nexllm_proto::exchange::status_is_retryable;
///
/// let none = HeaderMap::new();
/// assert!(status_is_retryable(StatusCode::TOO_MANY_REQUESTS, &none, None));
/// assert!(!status_is_retryable(StatusCode::BAD_REQUEST, &none, None));
/// let mut h = HeaderMap::new();
/// h.insert("x-should-retry", "true".parse().unwrap());
/// assert!(status_is_retryable(StatusCode::BAD_REQUEST, &h, None));
/// ```
pub fn status_is_retryable(
    status: StatusCode,
    headers: &HeaderMap,
    error: Option<&ApiError>,
) -> bool {
    match headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        && error.is_some_and(|e| e.code_is("insufficient_quota"))
    {
        return false;
    }
    matches!(status.as_u16(), 408 | 409 | 429 | 500..=599)
}

/// Whether a connection failure may be retried: every one may, except a
/// proxy answering `407 Proxy Authentication Required` (to a tunnel's
/// `CONNECT` or to a request sent to it as a forward proxy), which says the
/// proxy credentials are wrong or missing (a configuration error that asking
/// again cannot fix), and a [`Request`](TransportErrorKind::Request) error:
/// the transport could not write this request, and would not the next time.
///
/// ```
/// use http::StatusCode;
/// use nexllm_proto::exchange::transport_error_is_retryable;
/// use nexllm_proto::{TransportError, TransportErrorKind};
///
/// let refused = TransportError::new(TransportErrorKind::Connect, "connection refused");
/// assert!(transport_error_is_retryable(&refused));
/// let bad_gateway = TransportError::proxy_refused(StatusCode::BAD_GATEWAY, "502 Bad Gateway");
/// assert!(transport_error_is_retryable(&bad_gateway));
/// let auth = TransportError::proxy_refused(
///     StatusCode::PROXY_AUTHENTICATION_REQUIRED,
///     "407 Proxy Authentication Required",
/// );
/// assert!(!transport_error_is_retryable(&auth));
/// let unsendable = TransportError::new(TransportErrorKind::Request, "a header line is too long");
/// assert!(!transport_error_is_retryable(&unsendable));
/// ```
pub fn transport_error_is_retryable(error: &TransportError) -> bool {
    error.kind != TransportErrorKind::Request
        && error.proxy_status != Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
}

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RetryDecision {
    /// Wait this long, then send the next attempt.
    RetryAfter(Duration),
    /// No retries are left.
    OutOfRetries,
    /// The server asked for a longer delay than we are willing to wait.
    DelayTooLong(Duration),
}

/// Decides the delay before retry number `retries_done + 1`.
pub(crate) fn decide_retry(
    retries_done: u32,
    max_retries: u32,
    server_delay: Option<Duration>,
    max_server_delay: Duration,
    jitter: &mut Jitter,
) -> RetryDecision {
    if retries_done >= max_retries {
        return RetryDecision::OutOfRetries;
    }
    match server_delay {
        Some(d) if d > max_server_delay => RetryDecision::DelayTooLong(d),
        Some(d) if !d.is_zero() => RetryDecision::RetryAfter(d),
        _ => RetryDecision::RetryAfter(backoff_delay(retries_done + 1, jitter)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn status_table() {
        let none = HeaderMap::new();
        let table = [
            (200, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (408, true),
            (409, true),
            (422, false),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
            (529, true),
        ];
        for (code, want) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_is_retryable(status, &none, None), want, "{code}");
        }
    }

    #[test]
    fn should_retry_header_overrides_status() {
        assert!(!status_is_retryable(
            StatusCode::INTERNAL_SERVER_ERROR,
            &with("x-should-retry", "false"),
            None
        ));
        assert!(status_is_retryable(
            StatusCode::BAD_REQUEST,
            &with("x-should-retry", "true"),
            None
        ));
        assert!(status_is_retryable(
            StatusCode::BAD_REQUEST,
            &with("x-should-retry", " TRUE "),
            None
        ));
        // Anything else is ignored: the status rule decides, either way.
        assert!(!status_is_retryable(
            StatusCode::BAD_REQUEST,
            &with("x-should-retry", "maybe"),
            None
        ));
        assert!(status_is_retryable(
            StatusCode::INTERNAL_SERVER_ERROR,
            &with("x-should-retry", "maybe"),
            None
        ));
    }

    #[test]
    fn insufficient_quota_is_final() {
        let mut e = ApiError::new(
            Some(StatusCode::TOO_MANY_REQUESTS),
            "You exceeded your current quota",
        );
        e.code = Some(ErrorCode::Text("insufficient_quota".into()));
        assert!(!status_is_retryable(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            Some(&e)
        ));
        e.code = Some(ErrorCode::Text("rate_limit_exceeded".into()));
        assert!(status_is_retryable(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            Some(&e)
        ));
    }

    #[test]
    fn retry_decisions() {
        let max = Duration::from_secs(60);
        let mut j = Jitter::new(1);
        assert_eq!(
            decide_retry(2, 2, None, max, &mut j),
            RetryDecision::OutOfRetries
        );
        assert_eq!(
            decide_retry(0, 2, Some(Duration::from_secs(1)), max, &mut j),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            decide_retry(0, 2, Some(Duration::from_secs(120)), max, &mut j),
            RetryDecision::DelayTooLong(Duration::from_secs(120))
        );
        assert_eq!(
            decide_retry(0, 2, Some(Duration::from_secs(60)), max, &mut j),
            RetryDecision::RetryAfter(Duration::from_secs(60))
        );
        // Zero falls back to backoff (0.375..=0.5 s for the first retry).
        match decide_retry(0, 2, Some(Duration::ZERO), max, &mut j) {
            RetryDecision::RetryAfter(d) => {
                assert!(d >= Duration::from_millis(375) && d <= Duration::from_millis(500))
            }
            other => panic!("{other:?}"),
        }
    }
}
