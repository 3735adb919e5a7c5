//! Fuzzes response and error-body decoding: any status, headers and body give
//! a value or an error, never a panic; an error keeps at most a bounded excerpt.
#![no_main]

use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use nexllm_proto::decode;
use nexllm_proto::error::RAW_EXCERPT_CHARS;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let code = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let Ok(status) = StatusCode::from_u16(code) else { return };
    let (header_bytes, body) = data[2..].split_at(usize::from(data[2] % 32).min(data.len() - 2));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(header_bytes) {
        headers.insert("x-request-id", v.clone());
        headers.insert("retry-after", v);
    }
    let _ = decode::chat_completion(status, &headers, body);
    let _ = decode::models(status, &headers, body);
    let error = decode::api_error(status, &headers, body);
    assert!(error.raw_body.chars().count() <= RAW_EXCERPT_CHARS + 1);
    let _ = error.to_string();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = decode::error_from_value(&value);
    }
});
