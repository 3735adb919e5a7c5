//! OpenAI-shaped error answers: `{"error": {"message", "type", "param", "code"}}`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::fault::StatusFault;

/// An error answer the server sends.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReply {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) error_type: String,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<String>,
}

impl ErrorReply {
    /// A 400 `invalid_request_error`.
    pub(crate) fn invalid(
        param: Option<&str>,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            error_type: "invalid_request_error".to_owned(),
            param: param.map(str::to_owned),
            code: code.map(str::to_owned),
        }
    }

    /// An error of this status with OpenAI's usual type, code and message for it.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let (error_type, code, message) = match status.as_u16() {
            400 => (
                "invalid_request_error",
                None,
                "Bad request (injected by nexllm-mock).",
            ),
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
            403 => (
                "permission_error",
                None,
                "You are not allowed to sample from this model.",
            ),
            404 => ("invalid_request_error", None, "Not found."),
            408 => ("timeout_error", None, "Request timed out."),
            409 => (
                "invalid_request_error",
                None,
                "Conflict: another request is in progress.",
            ),
            422 => ("invalid_request_error", None, "Unprocessable request."),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for requests per min (RPM): Limit 10000. Please try again in 1s.",
            ),
            503 => (
                "server_error",
                None,
                "The engine is currently overloaded, please try again later.",
            ),
            500..=599 => (
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!",
            ),
            _ => (
                "invalid_request_error",
                None,
                "Request failed (injected by nexllm-mock).",
            ),
        };
        Self {
            status,
            message: message.to_owned(),
            error_type: error_type.to_owned(),
            param: None,
            code: code.map(str::to_owned),
        }
    }

    /// The error an injected [`StatusFault`] describes.
    pub(crate) fn from_fault(fault: &StatusFault) -> Self {
        let mut reply = Self::for_status(fault.status);
        if let Some(message) = &fault.message {
            reply.message.clone_from(message);
        }
        if let Some(error_type) = &fault.error_type {
            reply.error_type.clone_from(error_type);
        }
        if fault.code.is_some() {
            reply.code.clone_from(&fault.code);
        }
        if fault.param.is_some() {
            reply.param.clone_from(&fault.param);
        }
        reply
    }

    /// The `{"error": {..}}` value.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    /// The `{"error": {..}}` body as bytes.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        let mut body = self.to_json().to_string().into_bytes();
        body.push(b'\n');
        body
    }
}
