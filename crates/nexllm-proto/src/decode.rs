//! Turning a response (status, headers, body) into a typed value or an [`crate::Error`].
