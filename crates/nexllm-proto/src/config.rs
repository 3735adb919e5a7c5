//! [`Config`]: the key, the base URL, default headers, retries, timeouts and limits.

use std::fmt;
use std::time::Duration;

use http::Uri;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::Error;

/// The NexLLM API base URL, used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://www.nexllm.ai/v1";

/// The environment variable [`Config::from_env`] reads the API key from.
pub const API_KEY_ENV: &str = "NEXLLM_API_KEY";

/// The environment variable [`Config::from_env`] reads the base URL from.
pub const BASE_URL_ENV: &str = "NEXLLM_BASE_URL";

/// Retries after the first attempt, as the official OpenAI SDKs default to.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// Everything a client needs to know to call the API.
///
/// ```
/// use std::time::Duration;
/// use nexllm_proto::Config;
///
/// let config = Config::new("sk-test")
///     .base_url("http://127.0.0.1:4000/v1")
///     .max_retries(5)
///     .total_timeout(Some(Duration::from_secs(30)))
///     .header("x-team", "search")
///     .unwrap();
/// assert_eq!(
///     config.endpoint("chat/completions").unwrap(),
///     "http://127.0.0.1:4000/v1/chat/completions"
/// );
/// // The key never shows up in Debug output.
/// assert!(!format!("{config:?}").contains("sk-test"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    api_key: Option<String>,
    /// The base URL, as given (checked when a request is built).
    pub base_url: String,
    /// Extra headers sent with every request.
    pub headers: HeaderMap,
    /// How many times a failed attempt is retried (default 2; 0 disables retries).
    pub max_retries: u32,
    /// The deadlines.
    pub timeouts: Timeouts,
    /// The buffer limits.
    pub limits: Limits,
}

/// The deadlines of a call. See `docs/errors-and-retries.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The whole call: every attempt and every wait between them. Default 10 minutes.
    /// `None` means no limit.
    pub total: Option<Duration>,
    /// Establishing a connection (TCP and TLS), applied by the transport's
    /// connector. Default 5 s.
    pub connect: Duration,
    /// From sending a request to receiving the response head. Default `None`
    /// (a non-streaming answer of a slow model can take minutes; `total` bounds it).
    pub first_byte: Option<Duration>,
    /// The longest gap between two reads of a response body. Default 600 s,
    /// openai-python's read timeout: a reasoning model streams nothing while
    /// it thinks (OpenAI's Chat Completions sends no keep-alive then, and a
    /// gateway sends the response head before the first token), and minutes
    /// of silence before the first chunk are normal for it. A shorter idle
    /// timeout cuts such a stream and retries it, paying for the thinking again.
    pub idle: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            total: Some(Duration::from_secs(600)),
            connect: Duration::from_secs(5),
            first_byte: None,
            idle: Some(Duration::from_secs(600)),
        }
    }
}

/// Limits on buffers a server can grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest non-streaming response body accepted, and the most a
    /// stream's assembled answer may hold
    /// ([`StreamAccumulator::held_bytes`](crate::stream::StreamAccumulator::held_bytes):
    /// its text plus 64 bytes per choice of a chunk, tool-call fragment and
    /// log probability entry); a stream ends with `Error::LimitExceeded`
    /// naming `"streamed answer"` after the chunk that passed it (so by at
    /// most one event), keeping every chunk it delivered. Default 64 MiB.
    pub max_body_bytes: usize,
    /// The largest single SSE line or event accepted. Default 16 MiB.
    pub max_event_bytes: usize,
    /// The longest server-requested delay (`Retry-After`) the SDK waits
    /// before retrying; a longer one fails the call with the delay in the error.
    /// Default 60 s.
    pub max_retry_after: Duration,
    /// The most choices (distinct choice `index`es) a stream may open.
    /// Default 1,024 (OpenAI allows `n` up to 128). A chunk that would open
    /// one more is refused, not delivered: the stream ends with
    /// `Error::LimitExceeded` (`what` `"streamed answer"`, `unit`
    /// `"choices"`) in its place, keeping every chunk delivered before it.
    /// Each choice costs a search by its index for every chunk that carries
    /// it; this bounds that work.
    pub max_choices: usize,
    /// The most tool calls a stream's assembled answer may hold, over all its
    /// choices. Default 1,024. A chunk that would open one more is refused,
    /// not delivered: the stream ends with `Error::LimitExceeded` (`what`
    /// `"streamed answer"`, `unit` `"tool calls"`) in its place, keeping
    /// every chunk delivered before it. Each tool-call fragment costs a search
    /// among its choice's calls; this bounds that work.
    pub max_tool_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024 * 1024,
            max_event_bytes: crate::sse::DEFAULT_MAX_EVENT_BYTES,
            max_retry_after: Duration::from_secs(60),
            max_choices: 1024,
            max_tool_calls: 1024,
        }
    }
}

impl Config {
    /// A configuration for the NexLLM API with this key and every default.
    pub fn new(api_key: impl Into<String>) -> Self {
        Config {
            api_key: Some(api_key.into()),
            base_url: DEFAULT_BASE_URL.to_owned(),
            headers: HeaderMap::new(),
            max_retries: DEFAULT_MAX_RETRIES,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
        }
    }

    /// A configuration with no key (for servers that need none, such as a local model).
    pub fn without_key() -> Self {
        let mut c = Config::new("");
        c.api_key = None;
        c
    }

    /// Reads `NEXLLM_API_KEY` and, when set, `NEXLLM_BASE_URL`.
    ///
    /// This is the only place in `nexllm-proto` that reads the environment.
    /// An absent or empty key is an [`Error::InvalidRequest`] naming `api_key`.
    pub fn from_env() -> Result<Self, Error> {
        #[allow(
            clippy::disallowed_methods,
            reason = "the one documented place that reads the environment"
        )]
        let key = std::env::var(API_KEY_ENV).unwrap_or_default();
        if key.trim().is_empty() {
            return Err(Error::invalid_request(
                "api_key",
                "is not set: set the NEXLLM_API_KEY environment variable",
            ));
        }
        let mut config = Config::new(key.trim());
        #[allow(
            clippy::disallowed_methods,
            reason = "the one documented place that reads the environment"
        )]
        if let Ok(base) = std::env::var(BASE_URL_ENV) {
            if !base.trim().is_empty() {
                config = config.base_url(base.trim());
            }
        }
        Ok(config)
    }

    /// Sets the base URL, e.g. `http://127.0.0.1:4000/v1`. It is checked when a
    /// request is built.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Adds a header sent with every request (for instance `OpenAI-Organization`
    /// or a gateway's routing header). Fails on an invalid name or value.
    ///
    /// A value that looks like a credential is marked sensitive (HTTP/2 never
    /// indexes it, and `Debug` of the request shows it as `Sensitive`): one
    /// whose header name contains `auth`, `key`, `token`, `secret` or
    /// `cookie` (`Authorization`, `Proxy-Authorization`, `x-api-key`,
    /// `api-key`, `cf-aig-authorization`, ...).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::invalid_request("headers", format!("has an invalid header name {name:?}"))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_request("headers", format!("has an invalid value for header {name}"))
        })?;
        // Header names are lower case here.
        let secret = ["auth", "key", "token", "secret", "cookie"];
        if secret.iter().any(|part| name.as_str().contains(part)) {
            value.set_sensitive(true);
        }
        self.headers.append(name, value);
        Ok(self)
    }

    /// Sets how many times a failed attempt is retried (default 2; 0 disables retries).
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Replaces all deadlines at once.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the deadline of the whole call (all attempts and waits); `None` for none.
    #[must_use]
    pub fn total_timeout(mut self, total: Option<Duration>) -> Self {
        self.timeouts.total = total;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, connect: Duration) -> Self {
        self.timeouts.connect = connect;
        self
    }

    /// Sets the time allowed between sending a request and its response head.
    #[must_use]
    pub fn first_byte_timeout(mut self, first_byte: Option<Duration>) -> Self {
        self.timeouts.first_byte = first_byte;
        self
    }

    /// Sets the longest allowed gap between body reads (stream chunks); `None` for none.
    #[must_use]
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.timeouts.idle = idle;
        self
    }

    /// Replaces the buffer limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The API key, if any. Handle with care: never log it.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// Joins the base URL with an endpoint path such as `chat/completions`.
    ///
    /// Right with and without a trailing slash and with any path prefix:
    /// `https://host/openai/v1/` + `chat/completions` is
    /// `https://host/openai/v1/chat/completions`. A query string on the base
    /// URL is kept after the path.
    pub fn endpoint(&self, path: &str) -> Result<Uri, Error> {
        join_url(&self.base_url, path)
    }
}

fn join_url(base: &str, path: &str) -> Result<Uri, Error> {
    let base = base.trim();
    let invalid = |why: &str| Error::invalid_request("base_url", format!("{base:?} {why}"));
    let parsed: Uri = base.parse().map_err(|_| invalid("is not a valid URL"))?;
    match parsed.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(invalid("must start with http:// or https://")),
        None => return Err(invalid("must be absolute (start with http:// or https://)")),
    }
    let authority = parsed.authority().ok_or_else(|| invalid("has no host"))?;
    if authority.host().is_empty() {
        return Err(invalid("has no host"));
    }
    // `http` keeps a port it cannot read (`:99999`) as text and answers no
    // port for it: the request would go to the scheme's default port.
    let host_and_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, rest)| rest);
    let port = host_and_port
        .get(authority.host().len()..)
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or_default();
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return Err(invalid("has a port that is not a number from 0 to 65535"));
    }
    let prefix = parsed.path().trim_end_matches('/');
    let path = path.trim_start_matches('/');
    let mut joined = format!(
        "{}://{}{}/{}",
        parsed.scheme_str().unwrap_or("https"),
        authority,
        prefix,
        path
    );
    if let Some(query) = parsed.query() {
        joined.push('?');
        joined.push_str(query);
    }
    joined
        .parse()
        .map_err(|_| invalid("cannot be joined with the endpoint path"))
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Config")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("headers", &header_names)
            .field("max_retries", &self.max_retries)
            .field("timeouts", &self.timeouts)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_urls() {
        let table = [
            (
                "https://www.nexllm.ai/v1",
                "https://www.nexllm.ai/v1/chat/completions",
            ),
            (
                "https://www.nexllm.ai/v1/",
                "https://www.nexllm.ai/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:4000/v1",
                "http://127.0.0.1:4000/v1/chat/completions",
            ),
            (
                "https://host/openai/v1/",
                "https://host/openai/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:9000/v/case-1",
                "http://127.0.0.1:9000/v/case-1/chat/completions",
            ),
            (
                "http://localhost:8080",
                "http://localhost:8080/chat/completions",
            ),
            (
                "http://localhost:8080/",
                "http://localhost:8080/chat/completions",
            ),
            ("  https://host/v1  ", "https://host/v1/chat/completions"),
            (
                "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
                "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
            ),
        ];
        for (base, want) in table {
            let uri = Config::new("k")
                .base_url(base)
                .endpoint("chat/completions")
                .unwrap();
            assert_eq!(uri.to_string(), want, "{base}");
            let uri = Config::new("k")
                .base_url(base)
                .endpoint("/chat/completions")
                .unwrap();
            assert_eq!(uri.to_string(), want, "{base} with a leading slash");
        }
    }

    #[test]
    fn keeps_every_port_in_range() {
        for port in [1, 443, 8080, 65535] {
            let uri = Config::new("k")
                .base_url(format!("http://127.0.0.1:{port}/v1"))
                .endpoint("models")
                .unwrap();
            assert_eq!(uri.port_u16(), Some(port));
        }
        for base in ["http://[::1]:8080/v1", "http://user:pw@host:8080/v1"] {
            let uri = Config::new("k").base_url(base).endpoint("models").unwrap();
            assert_eq!(uri.port_u16(), Some(8080), "{base}");
        }
        for base in ["http://[::1]:99999/v1", "http://user:pw@host:99999/v1"] {
            assert!(
                Config::new("k").base_url(base).endpoint("models").is_err(),
                "{base}"
            );
        }
    }

    #[test]
    fn rejects_bad_base_urls() {
        // A port out of range would be dropped, and the request sent to port 80 or 443.
        for base in [
            "",
            "nexllm.ai/v1",
            "ftp://host/v1",
            "http://",
            "not a url",
            "http://127.0.0.1:99999/v1",
            "https://host:65536/v1",
        ] {
            let err = Config::new("k")
                .base_url(base)
                .endpoint("chat/completions")
                .unwrap_err();
            match err {
                Error::InvalidRequest(e) => assert_eq!(e.field, "base_url", "{base}"),
                other => panic!("{base}: {other:?}"),
            }
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let config = Config::new("sk-very-secret-123")
            .header("x-api-key", "also-secret")
            .unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("sk-very-secret-123"), "{shown}");
        assert!(!shown.contains("also-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("x-api-key"));
    }

    #[test]
    fn credential_headers_are_marked_sensitive() {
        let mut c = Config::new("k");
        for name in [
            "Authorization",
            "Proxy-Authorization",
            "x-api-key",
            "api-key",
            "cf-aig-authorization",
            "x-auth-token",
            "x-client-secret",
            "Cookie",
            "OpenAI-Organization",
            "x-request-route",
        ] {
            c = c.header(name, "v").unwrap();
        }
        let sensitive: Vec<&str> = c
            .headers
            .iter()
            .filter(|(_, value)| value.is_sensitive())
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            sensitive,
            [
                "authorization",
                "proxy-authorization",
                "x-api-key",
                "api-key",
                "cf-aig-authorization",
                "x-auth-token",
                "x-client-secret",
                "cookie"
            ]
        );
    }

    #[test]
    fn header_rejects_invalid_input() {
        assert!(Config::new("k").header("bad name", "v").is_err());
        assert!(Config::new("k").header("x-ok", "line\nbreak").is_err());
        let c = Config::new("k").header("x-ok", "fine").unwrap();
        assert_eq!(c.headers["x-ok"], "fine");
    }

    #[test]
    fn defaults_match_the_official_sdks() {
        let c = Config::new("k");
        assert_eq!(c.max_retries, 2);
        assert_eq!(c.timeouts.total, Some(Duration::from_secs(600)));
        assert_eq!(c.timeouts.connect, Duration::from_secs(5));
        assert_eq!(c.timeouts.idle, Some(Duration::from_secs(600)));
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
    }
}
