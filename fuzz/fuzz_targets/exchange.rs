//! Fuzzes the `Exchange` state machine with arbitrary inputs and time jumps:
//! it never panics, never sends more than max_retries + 1 requests, never asks
//! to wait past its total deadline, and always ends once time runs out; with
//! chunks lent (as the transports' `next_chunk_ref` reads them), each
//! `ChunkLent` has its chunk to read.
#![no_main]

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use nexllm_proto::exchange::ChunkDelivery;
use nexllm_proto::{
    Action, ChatCompletionRequest, Config, Exchange, Message, TransportError, TransportErrorKind,
};

fuzz_target!(|data: &[u8]| {
    let Some((&control, script)) = data.split_first() else { return };
    let max_retries = u32::from(control % 4);
    let total = Duration::from_secs(u64::from(control >> 4) + 1);
    let config = Config::new("k")
        .max_retries(max_retries)
        .total_timeout(Some(total))
        .idle_timeout(Some(Duration::from_millis(500)))
        .first_byte_timeout(Some(Duration::from_millis(700)));
    let stream = control & 8 != 0;
    let request = ChatCompletionRequest::new("m", vec![Message::user("x")]).stream(stream);
    let start = Instant::now();
    let deadline = start + total;
    let Ok(mut ex) = Exchange::chat(&config, &request, start, u64::from(control)) else { return };
    if control & 4 != 0 {
        ex.set_chunk_delivery(ChunkDelivery::Lent);
    }
    let mut now = start;
    let mut sends = 0u32;
    let mut attempt = None;
    let mut done = false;
    let mut input = script.iter().copied();
    for _ in 0..100_000 {
        match ex.poll() {
            Some(Action::Send { attempt: a, .. }) => {
                sends += 1;
                attempt = Some(a);
            }
            Some(Action::Wait(wait)) => {
                if let Some(until) = wait.until {
                    assert!(until <= deadline, "waits past the total deadline");
                }
                // Feed the next input from the script, or let time run out.
                let Some(op) = input.next() else {
                    now = wait.until.unwrap_or(deadline).max(now);
                    ex.handle_timeout(now);
                    continue;
                };
                let arg = input.next().unwrap_or(0);
                now += Duration::from_millis(u64::from(arg) * 10);
                let Some(a) = attempt else { continue };
                match op % 8 {
                    0 => {
                        let status = StatusCode::from_u16(200 + u16::from(arg) % 400).unwrap_or(StatusCode::OK);
                        let mut headers = HeaderMap::new();
                        if let Ok(v) = HeaderValue::from_str(&(arg % 5).to_string()) {
                            headers.insert("retry-after", v);
                        }
                        ex.handle_head(a, status, headers, now);
                    }
                    1 | 2 => {
                        let len = usize::from(arg).min(input.len());
                        let bytes: Vec<u8> = input.by_ref().take(len).collect();
                        ex.handle_body(a, &bytes, now);
                    }
                    3 => ex.handle_end(a, now),
                    4 => ex.handle_transport_error(a, TransportError::new(TransportErrorKind::Reset, "x"), now),
                    5 => ex.handle_connect_timeout(a, now),
                    6 => ex.handle_timeout(now),
                    _ => ex.cancel(now),
                }
            }
            Some(Action::Done(_)) => done = true,
            Some(Action::ChunkLent) => {
                assert!(ex.lent_chunk().is_some(), "a lent chunk that is not there");
            }
            Some(Action::Chunk(_) | Action::Abandon(_)) => {}
            None => break,
        }
    }
    assert!(done, "the exchange never ended");
    assert!(sends <= max_retries + 1, "{sends} sends");
});
