//! `StreamFront`: what each read of a stream returns, over a scripted exchange
//! on a fixed clock, without sockets. The drive loop here plays a transport's:
//! it feeds the next scripted input whenever the exchange waits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test helpers fail loudly; the fixed clock needs one real Instant"
)]

use std::collections::VecDeque;
use std::time::Instant;

use http::{HeaderMap, StatusCode};
use nexllm_proto::exchange::{
    Action, AttemptId, CallEvent, ChunkDelivery, Exchange, Outcome, StreamFront,
};
use nexllm_proto::types::{ChatCompletionChunk, ChatCompletionRequest, Message};
use nexllm_proto::{Config, Error};

/// One input the drive loop feeds when the exchange waits.
enum Input {
    Head(u16),
    Body(String),
    End,
}

/// An exchange with its inputs written down beforehand, and a count of the
/// events its drive loop handed up.
struct ScriptedCall {
    exchange: Exchange,
    now: Instant,
    attempt: Option<AttemptId>,
    script: VecDeque<Input>,
    events: usize,
}

impl ScriptedCall {
    fn new(script: Vec<Input>) -> Self {
        let now = Instant::now();
        let request = ChatCompletionRequest::new("m", vec![Message::user("hi")]).stream(true);
        let config = Config::new("k").max_retries(0);
        ScriptedCall {
            exchange: Exchange::chat(&config, &request, now, 7).unwrap(),
            now,
            attempt: None,
            script: script.into(),
            events: 0,
        }
    }

    /// A 200 stream of one body read per chunk of `words`, then `[DONE]` and the end.
    fn streaming(words: &[&str]) -> Self {
        let mut script = vec![Input::Head(200)];
        script.extend(words.iter().map(|word| Input::Body(chunk_event(word))));
        script.push(Input::Body("data: [DONE]\n\n".to_owned()));
        script.push(Input::End);
        ScriptedCall::new(script)
    }

    /// A 200 stream of one body read per chunk of `words`, then an error event.
    fn failing_after(words: &[&str]) -> Self {
        let mut script = vec![Input::Head(200)];
        script.extend(words.iter().map(|word| Input::Body(chunk_event(word))));
        script.push(Input::Body(ERROR_EVENT.to_owned()));
        ScriptedCall::new(script)
    }

    /// The transport's drive loop: the next event for the caller, or `None`
    /// once the exchange has nothing more.
    fn next_event(&mut self) -> Option<CallEvent> {
        loop {
            let event = match self.exchange.poll()? {
                Action::Send { attempt, .. } => {
                    self.attempt = Some(attempt);
                    continue;
                }
                Action::Abandon(_) => continue,
                Action::Wait(_) => {
                    self.feed_next();
                    continue;
                }
                Action::Chunk(chunk) => CallEvent::Chunk(chunk),
                Action::ChunkLent => CallEvent::ChunkLent,
                Action::Done(result) => CallEvent::Done(result),
            };
            self.events += 1;
            return Some(event);
        }
    }

    fn feed_next(&mut self) {
        let attempt = self.attempt.expect("an attempt in flight");
        match self.script.pop_front().expect("the script ran out") {
            Input::Head(status) => self.exchange.handle_head(
                attempt,
                StatusCode::from_u16(status).unwrap(),
                HeaderMap::new(),
                self.now,
            ),
            Input::Body(body) => self
                .exchange
                .handle_body(attempt, body.as_bytes(), self.now),
            Input::End => self.exchange.handle_end(attempt, self.now),
        }
    }

    /// Creates the stream, as a transport's `create_stream` does.
    fn open(&mut self) -> Result<StreamFront, Error> {
        let first_event = self.next_event();
        StreamFront::open(&self.exchange, first_event)
    }

    /// One owned read, as `Iterator::next` does.
    fn next_owned(
        &mut self,
        front: &mut StreamFront,
    ) -> Option<Result<ChatCompletionChunk, Error>> {
        let event = if front.needs_event(&mut self.exchange, ChunkDelivery::Owned) {
            self.next_event()
        } else {
            None
        };
        front.next_owned(&self.exchange, event)
    }

    /// One lent read, as `next_chunk_ref` does; the chunk's content, and
    /// whether it was lent by the exchange itself.
    fn next_lent(&mut self, front: &mut StreamFront) -> Option<Result<(String, bool), Error>> {
        let event = if front.needs_event(&mut self.exchange, ChunkDelivery::Lent) {
            self.next_event()
        } else {
            None
        };
        let exchange = &self.exchange;
        front.next_lent(exchange, event).map(|read| {
            read.map(|chunk| {
                let from_exchange = exchange
                    .lent_chunk()
                    .is_some_and(|lent| std::ptr::eq(lent, chunk));
                (content(chunk), from_exchange)
            })
        })
    }

    /// The rest of the stream only added up, as `finish` does; how many chunks
    /// were handed out all the same.
    fn read_rest(&mut self, front: &mut StreamFront) -> usize {
        let mut handed_out = 0;
        while front.needs_event(&mut self.exchange, ChunkDelivery::AccumulateOnly) {
            handed_out += front.accumulate(self.next_event());
        }
        handed_out
    }
}

fn chunk_event(content: &str) -> String {
    format!(
        "data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}}}}]}}\n\n",
        serde_json::to_string(content).unwrap()
    )
}

fn content(chunk: &ChatCompletionChunk) -> String {
    chunk.choices[0].delta.content.clone().unwrap_or_default()
}

const ERROR_EVENT: &str =
    "data: {\"error\":{\"message\":\"upstream failed\",\"code\":\"502\"}}\n\n";

#[test]
fn the_first_chunk_is_buffered_and_returned_by_the_first_read_without_driving() {
    let mut call = ScriptedCall::streaming(&["a", "b"]);
    let mut front = call.open().unwrap();
    assert_eq!(call.events, 1, "creating the stream read its first chunk");
    assert!(!front.is_ended());

    assert!(!front.needs_event(&mut call.exchange, ChunkDelivery::Owned));
    let first = front.next_owned(&call.exchange, None).unwrap().unwrap();
    assert_eq!(content(&first), "a");
    assert_eq!(call.events, 1, "the buffered chunk needed no event");

    assert_eq!(content(&call.next_owned(&mut front).unwrap().unwrap()), "b");
    assert!(call.next_owned(&mut front).is_none());
    assert!(front.is_ended());
    assert!(front.error().is_none());
    assert!(
        call.next_owned(&mut front).is_none(),
        "None again after the end"
    );
    assert_eq!(front.accumulated(&call.exchange).content(), Some("ab"));
}

#[test]
fn a_lent_read_lends_the_buffered_chunk_from_the_front_and_the_next_from_the_exchange() {
    let mut call = ScriptedCall::streaming(&["a", "b"]);
    let mut front = call.open().unwrap();
    assert_eq!(
        call.next_lent(&mut front).unwrap().unwrap(),
        ("a".to_owned(), false),
        "the buffered first chunk is held by the front while lent"
    );
    assert_eq!(
        call.next_lent(&mut front).unwrap().unwrap(),
        ("b".to_owned(), true),
        "the next chunk is lent where the exchange parsed it"
    );
    assert!(call.next_lent(&mut front).is_none());
    assert!(front.is_ended());
    assert_eq!(front.accumulated(&call.exchange).content(), Some("ab"));
}

#[test]
fn lent_and_owned_reads_mix() {
    let mut call = ScriptedCall::streaming(&["a", "b", "c", "d"]);
    let mut front = call.open().unwrap();
    assert_eq!(content(&call.next_owned(&mut front).unwrap().unwrap()), "a");
    assert_eq!(call.next_lent(&mut front).unwrap().unwrap().0, "b");
    assert_eq!(content(&call.next_owned(&mut front).unwrap().unwrap()), "c");
    assert_eq!(call.next_lent(&mut front).unwrap().unwrap().0, "d");
    assert!(call.next_owned(&mut front).is_none());
}

#[test]
fn a_chunk_given_to_a_lent_read_is_held_and_a_chunk_lent_to_an_owned_read_is_copied() {
    let mut call = ScriptedCall::streaming(&["a", "b", "c"]);
    let mut front = call.open().unwrap();
    call.next_owned(&mut front).unwrap().unwrap();

    // An exchange that gives what was asked lent: the front holds it.
    assert!(front.needs_event(&mut call.exchange, ChunkDelivery::Lent));
    call.exchange.set_chunk_delivery(ChunkDelivery::Owned);
    let event = call.next_event();
    assert!(matches!(event, Some(CallEvent::Chunk(_))));
    let held = front.next_lent(&call.exchange, event).unwrap().unwrap();
    assert_eq!(content(held), "b");

    // An exchange that lends what was asked owned: the front copies it.
    assert!(front.needs_event(&mut call.exchange, ChunkDelivery::Owned));
    call.exchange.set_chunk_delivery(ChunkDelivery::Lent);
    let event = call.next_event();
    assert!(matches!(event, Some(CallEvent::ChunkLent)));
    let copied = front.next_owned(&call.exchange, event).unwrap().unwrap();
    assert_eq!(content(&copied), "c");
}

#[test]
fn an_error_mid_stream_is_handed_out_once_then_none() {
    let mut call = ScriptedCall::failing_after(&["part"]);
    let mut front = call.open().unwrap();
    assert_eq!(
        content(&call.next_owned(&mut front).unwrap().unwrap()),
        "part"
    );
    match call.next_owned(&mut front) {
        Some(Err(Error::Api(error))) => assert_eq!(error.message, "upstream failed"),
        other => panic!("expected the error, got {other:?}"),
    }
    assert!(front.is_ended());
    assert!(matches!(front.error(), Some(Error::Api(_))));
    assert!(
        call.next_owned(&mut front).is_none(),
        "the error is handed out once"
    );
    assert!(call.next_lent(&mut front).is_none());
    assert_eq!(front.accumulated(&call.exchange).content(), Some("part"));
}

#[test]
fn an_error_mid_stream_read_lent_is_handed_out_once_then_none() {
    let mut call = ScriptedCall::failing_after(&["part"]);
    let mut front = call.open().unwrap();
    assert_eq!(call.next_lent(&mut front).unwrap().unwrap().0, "part");
    assert!(matches!(
        call.next_lent(&mut front),
        Some(Err(Error::Api(_)))
    ));
    assert!(call.next_lent(&mut front).is_none());
    assert!(front.is_ended());
}

#[test]
fn an_error_before_any_chunk_fails_the_opening() {
    let mut call = ScriptedCall::new(vec![
        Input::Head(401),
        Input::Body(
            r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#
                .to_owned(),
        ),
        Input::End,
    ]);
    match call.open() {
        Err(error) => assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED)),
        Ok(front) => panic!("opened: {front:?}"),
    }
}

#[test]
fn a_stream_without_chunks_opens_ended() {
    let mut call = ScriptedCall::streaming(&[]);
    let mut front = call.open().unwrap();
    assert!(front.is_ended());
    assert!(!front.needs_event(&mut call.exchange, ChunkDelivery::Owned));
    assert!(front.next_owned(&call.exchange, None).is_none());
    assert_eq!(
        front.into_result(&mut call.exchange).unwrap().content(),
        None
    );
}

#[test]
fn finishing_hands_no_chunk_out_and_keeps_the_buffered_one() {
    let words = ["w0 ", "w1 ", "w2 ", "w3 ", "w4 "];
    let mut call = ScriptedCall::streaming(&words);
    let mut front = call.open().unwrap();
    assert_eq!(call.read_rest(&mut front), 0, "no chunk handed out");
    assert_eq!(call.exchange.chunks_delivered(), 5);
    assert_eq!(call.events, 2, "the first chunk, then the end");
    assert!(front.is_ended());
    assert!(
        call.next_owned(&mut front).is_none(),
        "the buffered chunk is dropped"
    );
    let completion = front.into_result(&mut call.exchange).unwrap();
    assert_eq!(completion.content(), Some("w0 w1 w2 w3 w4 "));
}

#[test]
fn finishing_a_failed_stream_returns_its_error_and_the_exchange_keeps_the_chunks() {
    let mut call = ScriptedCall::failing_after(&["one ", "two"]);
    let mut front = call.open().unwrap();
    assert_eq!(call.read_rest(&mut front), 0);
    assert!(front.is_ended());
    assert!(matches!(
        front.into_result(&mut call.exchange),
        Err(Error::Api(_))
    ));
    assert_eq!(
        call.exchange.accumulated().unwrap().content(),
        Some("one two")
    );
}

#[test]
fn finishing_an_ended_stream_reads_nothing_more() {
    let mut call = ScriptedCall::streaming(&["a"]);
    let mut front = call.open().unwrap();
    call.next_owned(&mut front).unwrap().unwrap();
    assert!(call.next_owned(&mut front).is_none());
    let events = call.events;
    assert_eq!(call.read_rest(&mut front), 0);
    assert_eq!(call.events, events);
    assert_eq!(
        front.into_result(&mut call.exchange).unwrap().content(),
        Some("a")
    );
}

#[test]
fn accumulating_counts_the_chunks_an_exchange_hands_out_all_the_same() {
    let mut call = ScriptedCall::streaming(&["a", "b"]);
    let mut front = call.open().unwrap();
    assert!(front.needs_event(&mut call.exchange, ChunkDelivery::AccumulateOnly));
    call.exchange.set_chunk_delivery(ChunkDelivery::Owned);
    assert_eq!(front.accumulate(call.next_event()), 1);
    assert!(!front.is_ended());
    assert_eq!(front.accumulate(call.next_event()), 0, "the end");
    assert!(front.is_ended());
    assert_eq!(front.accumulate(None), 0, "nothing after the end");
}

#[test]
fn into_completion_after_a_partial_read_holds_the_chunks_read_so_far() {
    let mut call = ScriptedCall::streaming(&["w0 ", "w1 ", "w2 ", "w3 ", "w4 "]);
    let mut front = call.open().unwrap();
    call.next_owned(&mut front).unwrap().unwrap();
    call.next_owned(&mut front).unwrap().unwrap();
    assert!(!front.is_ended());
    let completion = front.into_completion(&mut call.exchange);
    assert_eq!(completion.content(), Some("w0 w1 "));
    assert!(call.exchange.accumulated().is_none(), "moved out");
}

#[test]
fn the_completion_is_empty_while_the_exchange_has_none() {
    let mut call = ScriptedCall::streaming(&["a"]);
    let front = call.open().unwrap();
    assert_eq!(
        call.exchange.take_accumulated().unwrap().content(),
        Some("a")
    );
    assert!(front.accumulated(&call.exchange).choices.is_empty());
    assert_eq!(front.into_completion(&mut call.exchange).content(), None);
}

#[test]
fn a_call_already_over_opens_an_ended_stream() {
    let mut call = ScriptedCall::streaming(&["a"]);
    while call.next_event().is_some() {}
    let front = StreamFront::open(&call.exchange, None).unwrap();
    assert!(front.is_ended());
    assert!(front.error().is_none());
    let done = StreamFront::open(
        &call.exchange,
        Some(CallEvent::Done(Ok(Outcome::StreamEnded))),
    );
    assert!(done.unwrap().is_ended());
}

/// A transport's stream as its `Debug` sees it.
struct TransportStream<'a>(&'a StreamFront, &'a Exchange);

impl std::fmt::Debug for TransportStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0
            .debug_fields(self.1, &mut f.debug_struct("ChatStream"))
            .finish()
    }
}

#[test]
fn debug_shows_the_state_never_a_chunk_or_an_error() {
    let mut call = ScriptedCall::failing_after(&["secret words"]);
    let mut front = call.open().unwrap();
    assert_eq!(
        format!("{front:?}"),
        "StreamFront { chunk_buffered: true, chunk_held: false, ended: None }"
    );
    call.next_lent(&mut front).unwrap().unwrap();
    assert_eq!(
        format!("{front:?}"),
        "StreamFront { chunk_buffered: false, chunk_held: true, ended: None }"
    );
    assert!(matches!(call.next_owned(&mut front), Some(Err(_))));

    let line = format!("{:?}", TransportStream(&front, &call.exchange));
    assert_eq!(
        line,
        "ChatStream { id: Some(\"c\"), model: Some(\"m\"), status: Some(200), attempts: 1, \
         chunks_received: 1, chunk_buffered: false, ended: Some(\"failed\") }"
    );
    assert!(!format!("{front:?}").contains("secret"));
    assert!(!line.contains("upstream failed"));
}
