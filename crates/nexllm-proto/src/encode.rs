//! Turning a request into an `http::Request`: validation, then encoding.
