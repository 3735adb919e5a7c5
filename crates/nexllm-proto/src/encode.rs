//! Turning a request into an `http::Request`: validation, then encoding.
//!
//! Nothing here does I/O: the result is a complete `http::Request<Bytes>`
//! (method, absolute URI, headers, JSON body) that any HTTP stack can send.
//!
//! ```
//! use nexllm_proto::Config;
//! use nexllm_proto::encode::chat_request;
//! use nexllm_proto::types::{ChatCompletionRequest, Message};
//!
//! let config = Config::new("sk-test").base_url("http://127.0.0.1:4000/v1");
//! let request = ChatCompletionRequest::new("gpt-4o-mini", vec![Message::user("Hi")]).stream(true);
//! let http_request = chat_request(&config, &request).unwrap();
//! assert_eq!(http_request.method(), "POST");
//! assert_eq!(http_request.uri(), "http://127.0.0.1:4000/v1/chat/completions");
//! assert_eq!(http_request.headers()["accept"], "text/event-stream");
//! assert!(http_request.headers()["authorization"].is_sensitive());
//! ```

use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT as USER_AGENT_HEADER,
};
use http::{Method, Request};

use crate::config::Config;
use crate::error::Error;
use crate::types::ChatCompletionRequest;

/// The `User-Agent` this SDK sends: `nexllm/<version>`.
pub const USER_AGENT: &str = concat!("nexllm/", env!("CARGO_PKG_VERSION"));

/// The endpoint path of chat completions, relative to the base URL.
pub const CHAT_COMPLETIONS_PATH: &str = "chat/completions";

/// The endpoint path of the model list, relative to the base URL.
pub const MODELS_PATH: &str = "models";

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// Builds `POST {base}/chat/completions` for `request`.
///
/// The request is validated first ([`ChatCompletionRequest::validate`]), so
/// an invalid one fails here with [`Error::InvalidRequest`] before any I/O.
/// Headers: `Authorization: Bearer <key>` (marked sensitive; only when the
/// config has a non-empty key), `Content-Type: application/json`, `Accept`
/// (`text/event-stream` when `stream` is `true`, else `application/json`),
/// `User-Agent` ([`USER_AGENT`]), then the config's headers, each of which
/// replaces a default of the same name.
pub fn chat_request(
    config: &Config,
    request: &ChatCompletionRequest,
) -> Result<Request<Bytes>, Error> {
    request.validate()?;
    let uri = config.endpoint(CHAT_COMPLETIONS_PATH)?;
    let body = serde_json::to_vec(request).map_err(|e| {
        Error::invalid_request("request", format!("could not be encoded as JSON: {e}"))
    })?;
    let accept = if request.is_stream() {
        EVENT_STREAM
    } else {
        JSON
    };
    let mut headers = default_headers(config, accept)?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    apply_config_headers(&mut headers, config);
    build(Method::POST, uri, headers, Bytes::from(body))
}

/// Builds `GET {base}/models`, with the same authentication and headers as
/// [`chat_request`] and an empty body.
pub fn models_request(config: &Config) -> Result<Request<Bytes>, Error> {
    let uri = config.endpoint(MODELS_PATH)?;
    let mut headers = default_headers(config, JSON)?;
    apply_config_headers(&mut headers, config);
    build(Method::GET, uri, headers, Bytes::new())
}

/// `Authorization` (when there is a key), `Accept` and `User-Agent`.
fn default_headers(config: &Config, accept: &'static str) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::with_capacity(8);
    if let Some(key) = config.api_key().filter(|key| !key.is_empty()) {
        // The error never quotes the key. A bearer token is visible ASCII:
        // HTTP would carry other bytes, but servers read them differently
        // (and ureq refuses them), so refuse them here, before anything is sent.
        let refused = || {
            Error::invalid_request(
                "api_key",
                "contains characters that cannot be sent in an HTTP header",
            )
        };
        if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(refused());
        }
        let mut value = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| refused())?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
    Ok(headers)
}

/// Adds the config's headers; a name the config sets replaces the default
/// of that name (all of the config's values for it are kept).
fn apply_config_headers(headers: &mut HeaderMap, config: &Config) {
    for name in config.headers.keys() {
        headers.remove(name);
        for value in config.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
}

fn build(
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Request<Bytes>, Error> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|e| {
            Error::invalid_request("base_url", format!("gives an invalid request: {e}"))
        })?;
    *request.headers_mut() = headers;
    Ok(request)
}
