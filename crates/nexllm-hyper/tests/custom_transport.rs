//! A scripted [`Transport`] double under a paused tokio clock: the client waits
//! on tokio's timers (Retry-After, idle timeout) and reports what the
//! transport says (resets, connect timeouts), with no sockets and no real waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail loudly

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use nexllm_hyper::{
    Body, ChatCompletionRequest, Client, Config, Error, Message, SendError, TimeoutKind, Transport,
    TransportError, TransportErrorKind,
};
use tokio::time::Instant;

const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

fn chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
         \"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// What the double answers to one request.
enum Reply {
    Whole(StatusCode, Vec<(&'static str, &'static str)>, &'static str),
    /// A 200 event stream: these frames, then the body ends (or hangs when `hang`).
    Stream {
        frames: Vec<String>,
        hang: bool,
    },
    Fail(SendError),
}

#[derive(Default)]
struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    sent: Mutex<Vec<(Instant, http::Request<Bytes>)>>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Scripted {
    fn new(replies: Vec<Reply>) -> Arc<Self> {
        Arc::new(Scripted {
            replies: Mutex::new(replies.into()),
            sent: Mutex::new(Vec::new()),
        })
    }

    fn sent_at(&self) -> Vec<Instant> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(at, _)| *at)
            .collect()
    }
}

#[async_trait::async_trait]
impl Transport for Scripted {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Body>, SendError> {
        self.sent.lock().unwrap().push((Instant::now(), request));
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted reply");
        match reply {
            Reply::Whole(status, headers, body) => {
                let mut response = http::Response::new(Body::from(body));
                *response.status_mut() = status;
                for (name, value) in headers {
                    response
                        .headers_mut()
                        .insert(name, http::HeaderValue::from_static(value));
                }
                Ok(response)
            }
            Reply::Stream { frames, hang } => {
                let frames = frames.into_iter().map(Bytes::from).collect();
                let mut response = http::Response::new(Body::from_stream(Frames { frames, hang }));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/event-stream"),
                );
                response
                    .headers_mut()
                    .insert("x-request-id", http::HeaderValue::from_static("req_double"));
                Ok(response)
            }
            Reply::Fail(error) => Err(error),
        }
    }
}

/// Yields its frames, then ends or never answers again.
struct Frames {
    frames: VecDeque<Bytes>,
    hang: bool,
}

impl futures_core::Stream for Frames {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.frames.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None if self.hang => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

fn client(transport: Arc<Scripted>, config: Config) -> Client {
    Client::builder()
        .config(config)
        .transport(transport)
        .build()
        .unwrap()
}

fn request() -> ChatCompletionRequest {
    ChatCompletionRequest::new("m", vec![Message::user("hello")])
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_on_tokio_clock() {
    let real_start = std::time::Instant::now();
    let transport = Scripted::new(vec![
        Reply::Whole(
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "7"), ("content-type", "application/json")],
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        ),
        Reply::Whole(StatusCode::OK, vec![("x-request-id", "req_2")], COMPLETION),
    ]);
    let client = client(Arc::clone(&transport), Config::new("sk-double"));
    let response = client
        .chat()
        .create_with_response(&request())
        .await
        .unwrap();
    assert_eq!(response.data.content(), Some("Hi there"));
    assert_eq!(response.attempts(), 2);
    assert_eq!(response.request_id(), Some("req_2"));

    let sent = transport.sent_at();
    assert_eq!(sent.len(), 2);
    let waited = sent[1] - sent[0];
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_millis(7050),
        "waited {waited:?} on the virtual clock"
    );
    assert!(
        real_start.elapsed() < Duration::from_secs(5),
        "the test waited for real"
    );
    let requests = transport.sent.lock().unwrap();
    let keys: Vec<_> = requests
        .iter()
        .map(|(_, r)| r.headers()["idempotency-key"].clone())
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert!(requests[0].1.headers()["authorization"].is_sensitive());
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_runs_on_tokio_clock_and_keeps_the_partial_stream() {
    let transport = Scripted::new(vec![Reply::Stream {
        frames: vec![chunk("Hel", None), chunk("lo", None)],
        hang: true,
    }]);
    let config = Config::new("sk-double").idle_timeout(Some(Duration::from_secs(30)));
    let client = client(transport, config);
    let started = Instant::now();
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    assert_eq!(stream.request_id(), Some("req_double"));
    let mut texts = Vec::new();
    let error = loop {
        match stream.next_chunk().await {
            Some(Ok(chunk)) => texts.push(chunk.choices[0].delta.content.clone().unwrap()),
            Some(Err(error)) => break error,
            None => panic!("the stream ended without the idle timeout"),
        }
    };
    match &error {
        Error::Timeout(e) => assert_eq!(e.kind, TimeoutKind::Idle),
        other => panic!("{other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_millis(30_050),
        "{waited:?}"
    );
    assert_eq!(texts, ["Hel", "lo"]);
    assert_eq!(stream.accumulated().content(), Some("Hello"));
    assert_eq!(stream.error(), Some(&error));
}

#[tokio::test(start_paused = true)]
async fn frames_split_anywhere_make_the_same_stream() {
    let body = format!(
        "{}{}data: [DONE]\n\n",
        chunk("Hi", None),
        chunk(" there", Some("stop"))
    );
    // Split into 3-byte frames, across every boundary.
    let frames: Vec<String> = body
        .as_bytes()
        .chunks(3)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(
        frames.concat(),
        body,
        "the split must be on char boundaries"
    );
    let transport = Scripted::new(vec![Reply::Stream {
        frames,
        hang: false,
    }]);
    let client = client(transport, Config::new("sk-double"));
    let stream = client.chat().create_stream(&request()).await.unwrap();
    let completion = stream.finish().await.unwrap();
    assert_eq!(completion.content(), Some("Hi there"));
}

#[tokio::test(start_paused = true)]
async fn transport_failures_are_retried_then_reported() {
    let reset = TransportError::new(TransportErrorKind::Reset, "connection reset by peer");
    let transport = Scripted::new(vec![
        Reply::Fail(SendError::Transport(reset.clone())),
        Reply::Whole(StatusCode::OK, vec![], COMPLETION),
    ]);
    let completion = client(Arc::clone(&transport), Config::new("sk-double"))
        .chat()
        .create(&request())
        .await
        .unwrap();
    assert_eq!(completion.content(), Some("Hi there"));
    assert_eq!(transport.sent_at().len(), 2);

    let transport = Scripted::new(vec![Reply::Fail(SendError::ConnectTimeout)]);
    let config = Config::new("sk-double")
        .connect_timeout(Duration::from_millis(250))
        .max_retries(0);
    match client(transport, config).chat().create(&request()).await {
        Err(Error::Timeout(e)) => {
            assert_eq!(e.kind, TimeoutKind::Connect);
            assert_eq!(e.after, Duration::from_millis(250));
        }
        other => panic!("{other:?}"),
    }

    let transport = Scripted::new(vec![Reply::Fail(SendError::Transport(reset))]);
    match client(transport, Config::new("sk-double").max_retries(0))
        .models()
        .list()
        .await
    {
        Err(Error::Transport(e)) => {
            assert_eq!(e.kind, TransportErrorKind::Reset);
            assert_eq!(e.attempts, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_request_never_reaches_the_transport() {
    let transport = Scripted::new(vec![]);
    let error = client(Arc::clone(&transport), Config::new("sk-double"))
        .chat()
        .create_stream(&ChatCompletionRequest::new("m", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRequest(_)), "{error:?}");
    assert!(transport.sent_at().is_empty());
}
