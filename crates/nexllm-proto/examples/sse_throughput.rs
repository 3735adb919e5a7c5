//! Measures `SseDecoder` throughput on a realistic OpenAI-style stream of
//! 20,000 chunks read 16 KiB at a time, against a plain `memchr` scan for
//! `\n` over the same reads. Run with
//! `cargo run --release -p nexllm-proto --example sse_throughput`.
#![allow(
    clippy::print_stdout,
    reason = "an example that reports its measurements"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "measuring needs the clock; the library itself never reads it"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use nexllm_proto::sse::SseDecoder;

const CHUNKS: usize = 20_000;
const READ: usize = 16 * 1024;
const ROUNDS: usize = 15;

/// A stream shaped like OpenAI's: one `data:` line per chunk, a usage chunk and `[DONE]`.
fn stream() -> Vec<u8> {
    let words = [
        "Hello",
        " world",
        ",",
        " how",
        " are",
        " you",
        " today",
        "?",
        " \u{e9}t\u{e9}",
        " 42",
    ];
    let mut body = String::new();
    for i in 0..CHUNKS {
        let word = words[i % words.len()];
        body.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion.chunk\",\
             \"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\
             \"system_fingerprint\":\"fp_eb9dce56a8\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\
             \"logprobs\":null,\"finish_reason\":null}}],\"usage\":null,\"obfuscation\":\"{i:x}\"}}\n\n"
        ));
    }
    body.push_str("data: {\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":20000,\"total_tokens\":20019}}\n\n");
    body.push_str("data: [DONE]\n\n");
    body.into_bytes()
}

/// The fastest of `ROUNDS` runs of `work`, and what it returned.
fn best(mut work: impl FnMut() -> usize) -> (Duration, usize) {
    let mut fastest = Duration::MAX;
    let mut result = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        result = black_box(work());
        fastest = fastest.min(start.elapsed());
    }
    (fastest, result)
}

fn main() {
    let body = stream();
    let mb = body.len() as f64 / 1e6;

    let (scan, lines) = best(|| {
        let mut lines = 0;
        for read in body.chunks(READ) {
            lines += memchr::memchr_iter(b'\n', black_box(read)).count();
        }
        lines
    });

    // Splitting into lines (a memchr call per line, the lines touched).
    let (split, _) = best(|| {
        let mut total = 0;
        for read in body.chunks(READ) {
            let mut rest = black_box(read);
            while let Some(end) = memchr::memchr(b'\n', rest) {
                total += black_box(&rest[..end]).len();
                rest = &rest[end + 1..];
            }
        }
        total
    });

    // The floor for owned output: each non-empty line checked as UTF-8 and copied into a String.
    let (owned, _) = best(|| {
        let mut total = 0;
        for read in body.chunks(READ) {
            let mut rest = black_box(read);
            while let Some(end) = memchr::memchr(b'\n', rest) {
                if end > 0 {
                    if let Ok(line) = std::str::from_utf8(&rest[..end]) {
                        total += black_box(line.to_owned()).len();
                    }
                }
                rest = &rest[end + 1..];
            }
        }
        total
    });

    let (decode, events) = best(|| {
        let mut decoder = SseDecoder::new();
        let mut events = 0;
        let mut bytes = 0;
        for read in body.chunks(READ) {
            decoder.feed(black_box(read));
            while let Ok(Some(event)) = decoder.next_event() {
                bytes += event.data().len();
                events += 1;
            }
        }
        decoder.finish();
        black_box(bytes);
        events
    });

    let per_second = |time: Duration| mb / time.as_secs_f64();
    println!(
        "stream: {:.2} MB, {events} events, {lines} lines, {READ}-byte reads, best of {ROUNDS}",
        mb
    );
    let row = |name: &str, time: Duration| {
        println!(
            "{name:<44} {:>8.1} MB/s {:>7.1} ns/event {:>6.2}x the scan",
            per_second(time),
            time.as_nanos() as f64 / events as f64,
            time.as_secs_f64() / scan.as_secs_f64()
        );
    };
    row("memchr scan counting '\\n'", scan);
    row("memchr line split (one call per line)", split);
    row("line split + UTF-8 check + copy to String", owned);
    row("SseDecoder (feed + next_event)", decode);
}
