//! Properties of the request lifecycle under any sequence of failures and timings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test helpers fail loudly; the fake clock needs one real Instant to start from"
)]

use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use nexllm_proto::exchange::{Action, ChunkDelivery, Exchange};
use nexllm_proto::types::{ChatCompletionRequest, Message};
use nexllm_proto::{Config, TransportError, TransportErrorKind};
use proptest::prelude::*;

/// What happens to one attempt.
#[derive(Debug, Clone)]
enum Event {
    Status(u16, Option<u32>),
    Reset,
    ConnectTimeout,
    Silence,
    StreamCut(usize),
    Ok,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            prop::sample::select(vec![400u16, 408, 409, 429, 500, 502, 503, 529]),
            prop::option::of(0u32..200)
        )
            .prop_map(|(s, r)| Event::Status(s, r)),
        Just(Event::Reset),
        Just(Event::ConnectTimeout),
        Just(Event::Silence),
        (0usize..3).prop_map(Event::StreamCut),
        Just(Event::Ok),
    ]
}

fn chunk(i: usize) -> String {
    format!(
        "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}}}}]}}\n\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sends_at_most_max_retries_plus_one_never_waits_past_the_deadline_and_ends(
        max_retries in 0u32..5,
        total_secs in 1u64..120,
        idle_secs in 1u64..30,
        stream in any::<bool>(),
        seed in any::<u64>(),
        events in prop::collection::vec(event(), 1..12),
        delays_ms in prop::collection::vec(0u64..20_000, 12),
        delivery in prop_oneof![
            Just(ChunkDelivery::Owned),
            Just(ChunkDelivery::Lent),
            Just(ChunkDelivery::AccumulateOnly),
        ],
    ) {
        let start = Instant::now();
        let config = Config::new("k")
            .max_retries(max_retries)
            .total_timeout(Some(Duration::from_secs(total_secs)))
            .idle_timeout(Some(Duration::from_secs(idle_secs)))
            .first_byte_timeout(Some(Duration::from_secs(idle_secs)));
        let deadline = start + Duration::from_secs(total_secs);
        let request = ChatCompletionRequest::new("m", vec![Message::user("x")]).stream(stream);
        let mut ex = Exchange::chat(&config, &request, start, seed).unwrap();
        ex.set_chunk_delivery(delivery);
        let mut now = start;
        let mut sends = 0u32;
        let mut done = false;
        let mut attempt = None;
        let mut next_event = 0usize;
        for _step in 0..10_000 {
            match ex.poll() {
                Some(Action::Send { attempt: a, .. }) => {
                    sends += 1;
                    attempt = Some(a);
                    // Something happens to this attempt after a random delay.
                    let ev = events.get(next_event).cloned().unwrap_or(Event::Silence);
                    now += Duration::from_millis(delays_ms[next_event % delays_ms.len()]);
                    next_event += 1;
                    ex.handle_timeout(now);
                    match ev {
                        Event::Status(code, retry_after) => {
                            let mut h = HeaderMap::new();
                            if let Some(r) = retry_after { h.insert("retry-after", r.to_string().parse().unwrap()); }
                            ex.handle_head(a, StatusCode::from_u16(code).unwrap(), h, now);
                            ex.handle_body(a, b"{\"error\":{\"message\":\"x\"}}", now);
                            ex.handle_end(a, now);
                        }
                        Event::Reset => ex.handle_transport_error(a, TransportError::new(TransportErrorKind::Reset, "x"), now),
                        Event::ConnectTimeout => ex.handle_connect_timeout(a, now),
                        Event::Silence => {}
                        Event::StreamCut(n) => {
                            ex.handle_head(a, StatusCode::OK, HeaderMap::new(), now);
                            for i in 0..n { ex.handle_body(a, chunk(i).as_bytes(), now); }
                            ex.handle_end(a, now);
                        }
                        Event::Ok => {
                            ex.handle_head(a, StatusCode::OK, HeaderMap::new(), now);
                            let body = if stream {
                                format!("{}data: [DONE]\n\n", chunk(0))
                            } else {
                                r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#.to_owned()
                            };
                            ex.handle_body(a, body.as_bytes(), now);
                            ex.handle_end(a, now);
                        }
                    }
                }
                Some(Action::Wait(w)) => {
                    match w.until {
                        Some(until) => {
                            prop_assert!(until <= deadline, "asked to wait until {:?} past the deadline", until - start);
                            prop_assert!(until >= now, "a deadline in the past");
                            now = until;
                            ex.handle_timeout(now);
                        }
                        None => prop_assert!(false, "a total deadline is set, so every wait has one"),
                    }
                }
                Some(Action::Abandon(a)) => prop_assert!(Some(a) == attempt || attempt.is_some()),
                Some(Action::Chunk(_)) => prop_assert_eq!(delivery, ChunkDelivery::Owned),
                Some(Action::ChunkLent) => {
                    prop_assert_eq!(delivery, ChunkDelivery::Lent);
                    prop_assert!(ex.lent_chunk().is_some());
                }
                Some(Action::Done(result)) => {
                    done = true;
                    if let Err(e) = &result {
                        prop_assert!(e.attempts() <= max_retries + 1);
                    }
                }
                None => break,
            }
        }
        prop_assert!(done, "the exchange never ended");
        prop_assert!(sends <= max_retries + 1, "{} sends with max_retries {}", sends, max_retries);

    }
}
