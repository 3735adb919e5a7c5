//! Requests the server received, kept for assertions.

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

/// One request as the server received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// The `x-request-id` the server answered with.
    pub request_id: String,
}

impl RecordedRequest {
    /// The body parsed as JSON, or `None` when it is not valid JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The value of a header as text, or `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
