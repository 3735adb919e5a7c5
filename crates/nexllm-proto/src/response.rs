//! [`ApiResponse`]: a decoded result together with the response it came from
//! (status, headers, request id, rate limits, attempts), and [`RateLimit`].

use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// A decoded value together with the HTTP response it came from.
///
/// Returned by the transports' `*_with_response` methods, such as
/// `client.chat().create_with_response(&request)` in `nexllm-hyper` and
/// `nexllm-blocking`: one type for both, so code moves between them unchanged.
#[derive(Debug, Clone)]
pub struct ApiResponse<T> {
    /// The decoded value (a `ChatCompletion`, a `ModelList`, …).
    pub data: T,
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// The response headers (request id, `x-ratelimit-*`, `openai-processing-ms`, …).
    pub headers: HeaderMap,
    /// How many HTTP attempts the call took (1 when it was not retried).
    pub attempts: u32,
}

impl<T> ApiResponse<T> {
    /// The decoded value.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The decoded value, dropping the rest.
    pub fn into_data(self) -> T {
        self.data
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text, or `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request id the server gave (`x-request-id` or a gateway's equivalent).
    pub fn request_id(&self) -> Option<&str> {
        crate::decode::request_id(&self.headers)
    }

    /// The `x-ratelimit-*` headers, parsed.
    pub fn rate_limit(&self) -> RateLimit {
        RateLimit::from_headers(&self.headers)
    }

    /// How many HTTP attempts the call took.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The same response with the value transformed.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ApiResponse<U> {
        ApiResponse {
            data: f(self.data),
            status: self.status,
            headers: self.headers,
            attempts: self.attempts,
        }
    }
}

/// The rate-limit state a response reported, from OpenAI's `x-ratelimit-*`
/// headers. Each field is `None` when its header is absent or unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// `x-ratelimit-limit-requests`: requests allowed per window.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-remaining-requests`: requests left in this window.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-reset-requests` (such as `1s` or `6m0s`): until the request window resets.
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-limit-tokens`: tokens allowed per window.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-remaining-tokens`: tokens left in this window.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-reset-tokens`: until the token window resets.
    pub reset_tokens: Option<Duration>,
}

impl RateLimit {
    /// Reads the `x-ratelimit-*` headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
        let duration = |name: &str| text(name).and_then(parse_reset);
        RateLimit {
            limit_requests: number("x-ratelimit-limit-requests"),
            remaining_requests: number("x-ratelimit-remaining-requests"),
            reset_requests: duration("x-ratelimit-reset-requests"),
            limit_tokens: number("x-ratelimit-limit-tokens"),
            remaining_tokens: number("x-ratelimit-remaining-tokens"),
            reset_tokens: duration("x-ratelimit-reset-tokens"),
        }
    }
}

/// Parses a reset duration as OpenAI writes it: `1s`, `6m0s`, `20ms`, `1h2m3.5s`,
/// or a bare number of seconds.
fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds = match unit {
            "h" => value * 3600.0,
            "m" => value * 60.0,
            "s" => value,
            "ms" => value / 1000.0,
            "us" | "µs" => value / 1_000_000.0,
            "ns" => value / 1_000_000_000.0,
            _ => return None,
        };
        total = total.checked_add(Duration::try_from_secs_f64(seconds).ok()?)?;
        rest = after;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_reset_durations() {
        let table = [
            ("1s", Some(Duration::from_secs(1))),
            ("6m0s", Some(Duration::from_secs(360))),
            ("20ms", Some(Duration::from_millis(20))),
            ("1h2m3.5s", Some(Duration::from_millis(3_723_500))),
            ("0.5", Some(Duration::from_millis(500))),
            ("", None),
            ("soon", None),
            ("5x", None),
            ("-1s", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_reset(text), want, "{text}");
        }
    }

    #[test]
    fn reads_rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit-requests", "500".parse().unwrap());
        headers.insert("x-ratelimit-remaining-requests", "499".parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", "120ms".parse().unwrap());
        headers.insert("x-ratelimit-remaining-tokens", "lots".parse().unwrap());
        let limits = RateLimit::from_headers(&headers);
        assert_eq!(limits.limit_requests, Some(500));
        assert_eq!(limits.remaining_requests, Some(499));
        assert_eq!(limits.reset_requests, Some(Duration::from_millis(120)));
        assert_eq!(limits.remaining_tokens, None);
        assert_eq!(limits.limit_tokens, None);
    }

    #[test]
    fn maps_the_value_and_keeps_the_rest() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req_1".parse().unwrap());
        let response = ApiResponse {
            data: 2,
            status: StatusCode::OK,
            headers,
            attempts: 3,
        };
        let mapped = response.map(|n| n * 10);
        assert_eq!(mapped.data, 20);
        assert_eq!(mapped.request_id(), Some("req_1"));
        assert_eq!(mapped.header("x-request-id"), Some("req_1"));
        assert_eq!(mapped.attempts(), 3);
    }
}
