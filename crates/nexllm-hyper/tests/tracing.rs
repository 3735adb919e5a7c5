//! What the client records with tracing: the call's method, model, status, attempts,
//! request id and latency, and never the API key or any message content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails the test loudly

use std::io::Write;
use std::sync::{Arc, Mutex};

use nexllm_hyper::{ChatCompletionRequest, Client, Config, Message, Proxy};
use nexllm_mock::MockServer;
use tracing_subscriber::fmt::format::FmtSpan;

const KEY: &str = "sk-tracing-secret-0123456789";
const SECRET_TEXT: &str = "my confidential prompt text";

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn spans_carry_call_facts_but_never_the_key_or_content() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::builder().api_key(KEY).start().await.unwrap();
    let config = Config::new(KEY)
        .base_url(server.base_url())
        .header("x-mock-fault", "fail-first=1;status=500;retry-after-ms=5")
        .unwrap();
    let client = Client::builder()
        .config(config)
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let request = ChatCompletionRequest::new("mock-echo", vec![Message::user(SECRET_TEXT)]);
    let completion = client.chat().create(&request).await.unwrap();
    assert_eq!(completion.content(), Some(SECRET_TEXT));
    let stream = client.chat().create_stream(&request).await.unwrap();
    assert_eq!(stream.finish().await.unwrap().content(), Some(SECRET_TEXT));
    // A failing call records the error's kind and status only.
    let unknown = ChatCompletionRequest::new("no-such-model", vec![Message::user(SECRET_TEXT)]);
    assert!(client.chat().create(&unknown).await.is_err());

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "nexllm.chat",
        "method=\"POST\"",
        "model=mock-echo",
        "stream=true",
        "status=200",
        "status=404",
        "attempts=2",
        "request_id=\"req_mock_",
        "latency_ms=",
        "sending request",
        "waiting before the next attempt",
        "call failed",
    ] {
        assert!(
            output.contains(expected),
            "{expected:?} missing from:\n{output}"
        );
    }
    assert!(!output.contains(KEY), "the key was logged:\n{output}");
    assert!(
        !output.contains("sk-tracing"),
        "part of the key was logged:\n{output}"
    );
    assert!(
        !output.contains("confidential"),
        "message content was logged:\n{output}"
    );
}
