//! A scripted [`Transport`] double under a paused tokio clock: the client waits
//! on tokio's timers (Retry-After, idle timeout) and reports what the
//! transport says (resets, connect timeouts), with no sockets and no real waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail loudly

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use nexllm_hyper::nexllm_proto::exchange::MAX_DRAIN_TIME;
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
    /// A 200 event stream whose head comes after `head_after`, then each frame
    /// after its delay (tokio's clock), then nothing more (the body hangs).
    Timed {
        head_after: Duration,
        frames: Vec<(Duration, String)>,
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
                Ok(event_stream(Body::from_stream(Frames { frames, hang })))
            }
            Reply::Timed { head_after, frames } => {
                tokio::time::sleep(head_after).await;
                let frames = frames
                    .into_iter()
                    .map(|(delay, frame)| (delay, Bytes::from(frame)))
                    .collect();
                Ok(event_stream(Body::from_stream(TimedFrames {
                    frames,
                    sleep: None,
                })))
            }
            Reply::Fail(error) => Err(error),
        }
    }
}

/// A 200 `text/event-stream` response with this body.
fn event_stream(body: Body) -> http::Response<Body> {
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert("x-request-id", http::HeaderValue::from_static("req_double"));
    response
}

/// Yields each frame once its delay has passed on tokio's clock (counted from
/// the previous frame), then never answers again.
struct TimedFrames {
    frames: VecDeque<(Duration, Bytes)>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl futures_core::Stream for TimedFrames {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some((delay, _)) = self.frames.front() else {
            return Poll::Pending;
        };
        let delay = *delay;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        Poll::Ready(self.frames.pop_front().map(|(_, frame)| Ok(frame)))
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
async fn a_body_held_open_after_done_ends_the_stream_after_the_drain_time() {
    // `[DONE]`, then keep-alive comments every 300 ms for a minute and a body
    // that never ends: the stream ends well MAX_DRAIN_TIME after `[DONE]`,
    // not when the idle deadline (30 s after the last comment) passes.
    let mut frames = vec![(
        Duration::ZERO,
        format!("{}data: [DONE]\n\n", chunk("all", Some("stop"))),
    )];
    frames.extend((0..200).map(|_| (Duration::from_millis(300), ": keep-alive\n\n".to_owned())));
    let transport = Scripted::new(vec![Reply::Timed {
        head_after: Duration::ZERO,
        frames,
    }]);
    let config = Config::new("sk-double").idle_timeout(Some(Duration::from_secs(30)));
    let client = client(transport, config);
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    let chunk = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("all"));
    let done_at = Instant::now();
    assert!(stream.next_chunk().await.is_none(), "the stream ends well");
    let waited = done_at.elapsed();
    assert!(
        waited >= MAX_DRAIN_TIME && waited < MAX_DRAIN_TIME + Duration::from_millis(50),
        "{waited:?}"
    );
    assert!(stream.is_ended());
    assert_eq!(stream.error(), None);
    assert_eq!(stream.accumulated().content(), Some("all"));
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

/// Reads the stream to its error; the content of each chunk with the virtual
/// time (since `started`) it arrived at, and the error.
async fn read_until_error(
    stream: &mut nexllm_hyper::ChatStream,
    started: Instant,
) -> (Vec<(String, Duration)>, Error) {
    let mut chunks = Vec::new();
    loop {
        match stream.next_chunk().await {
            Some(Ok(chunk)) => chunks.push((
                chunk.choices[0].delta.content.clone().unwrap(),
                started.elapsed(),
            )),
            Some(Err(error)) => return (chunks, error),
            None => panic!("the stream ended without an error"),
        }
    }
}

fn assert_between(value: Duration, low: Duration, what: &str) {
    assert!(
        value >= low && value < low + Duration::from_millis(50),
        "{what}: {value:?}, expected {low:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn chunks_that_keep_coming_never_time_out_and_a_stall_times_out_at_its_deadline() {
    // Idle timeout 30 s; a chunk every 20 s for 80 s (each gap under the timeout,
    // the whole stream far over it), then silence: the timeout must come 30 s
    // after the last chunk, at 110 s, not before and not later.
    let secs = Duration::from_secs;
    let frames = [("a", 0), ("b", 20), ("c", 20), ("d", 20), ("e", 20)]
        .into_iter()
        .map(|(text, after)| (secs(after), chunk(text, None)))
        .collect();
    let transport = Scripted::new(vec![Reply::Timed {
        head_after: Duration::ZERO,
        frames,
    }]);
    let config = Config::new("sk-double").idle_timeout(Some(secs(30)));
    let started = Instant::now();
    let mut stream = client(transport, config)
        .chat()
        .create_stream(&request())
        .await
        .unwrap();
    let (chunks, error) = read_until_error(&mut stream, started).await;
    let texts: Vec<&str> = chunks.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(texts, ["a", "b", "c", "d", "e"]);
    for (i, (_, at)) in chunks.iter().enumerate() {
        assert_between(*at, secs(20 * i as u64), "chunk arrival");
    }
    match &error {
        Error::Timeout(e) => assert_eq!(e.kind, TimeoutKind::Idle),
        other => panic!("{other:?}"),
    }
    assert_between(started.elapsed(), secs(110), "idle timeout");
    assert_eq!(stream.accumulated().content(), Some("abcde"));
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_holds_while_chunks_keep_coming() {
    // Idle 30 s, total 45 s, a chunk every 20 s: the idle deadline keeps moving
    // past the total one, which must end the stream at 45 s.
    let secs = Duration::from_secs;
    let frames = (0..10)
        .map(|i| (secs(if i == 0 { 0 } else { 20 }), chunk("x", None)))
        .collect();
    let transport = Scripted::new(vec![Reply::Timed {
        head_after: Duration::ZERO,
        frames,
    }]);
    let config = Config::new("sk-double")
        .idle_timeout(Some(secs(30)))
        .total_timeout(Some(secs(45)));
    let started = Instant::now();
    let mut stream = client(transport, config)
        .chat()
        .create_stream(&request())
        .await
        .unwrap();
    let (chunks, error) = read_until_error(&mut stream, started).await;
    assert_eq!(chunks.len(), 3, "chunks at 0, 20 and 40 s");
    match &error {
        Error::Timeout(e) => assert_eq!(e.kind, TimeoutKind::Total),
        other => panic!("{other:?}"),
    }
    assert_between(started.elapsed(), secs(45), "total timeout");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_moves_earlier_is_kept() {
    // While the head is awaited the only deadline is the total one (10 min); the
    // head comes at 5 s, one chunk with it, then silence: the idle timeout
    // (an earlier deadline than the one the timer was set for) fires at 35 s.
    let secs = Duration::from_secs;
    let transport = Scripted::new(vec![Reply::Timed {
        head_after: secs(5),
        frames: vec![(Duration::ZERO, chunk("only", None))],
    }]);
    let config = Config::new("sk-double").idle_timeout(Some(secs(30)));
    let started = Instant::now();
    let mut stream = client(transport, config)
        .chat()
        .create_stream(&request())
        .await
        .unwrap();
    assert_between(started.elapsed(), secs(5), "head");
    let (chunks, error) = read_until_error(&mut stream, started).await;
    assert_eq!(chunks.len(), 1);
    match &error {
        Error::Timeout(e) => assert_eq!(e.kind, TimeoutKind::Idle),
        other => panic!("{other:?}"),
    }
    assert_between(started.elapsed(), secs(35), "idle timeout");
}

/// A transport whose body is fed by a tokio channel, the natural way to bridge
/// another HTTP stack: every frame it yields spends the caller's tokio
/// cooperative budget.
#[derive(Debug)]
struct ChannelBody {
    rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Result<Bytes, TransportError>>>>,
}

struct Received(tokio::sync::mpsc::UnboundedReceiver<Result<Bytes, TransportError>>);

impl futures_core::Stream for Received {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[async_trait::async_trait]
impl Transport for ChannelBody {
    async fn send(
        &self,
        _request: http::Request<Bytes>,
    ) -> Result<http::Response<Body>, SendError> {
        let rx = self.rx.lock().unwrap().take().expect("one request");
        Ok(event_stream(Body::from_stream(Received(rx))))
    }
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_fires_after_a_body_spent_the_tasks_budget() {
    // 300 frames ready at once, then silence: tokio's budget runs out while
    // they are read, and the idle timer is first polled then. It must still
    // be registered, and fire 30 s after the last frame.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..300 {
        tx.send(Ok(Bytes::from(chunk(&format!("w{i} "), None))))
            .unwrap();
    }
    let client = Client::builder()
        .config(Config::new("sk").idle_timeout(Some(Duration::from_secs(30))))
        .transport(Arc::new(ChannelBody {
            rx: Mutex::new(Some(rx)),
        }))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    let (chunks, error) = tokio::time::timeout(Duration::from_secs(3600), async {
        let mut chunks = 0;
        loop {
            match stream.next_chunk().await {
                Some(Ok(_)) => chunks += 1,
                Some(Err(error)) => return (chunks, Some(error)),
                None => return (chunks, None),
            }
        }
    })
    .await
    .expect("the idle timeout ends the stream");
    assert_eq!(chunks, 300);
    assert!(
        matches!(&error, Some(Error::Timeout(e)) if e.kind == TimeoutKind::Idle),
        "{error:?}"
    );
    assert_between(started.elapsed(), Duration::from_secs(30), "idle timeout");
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_fires_when_first_polled_without_budget() {
    let transport = Scripted::new(vec![Reply::Stream {
        frames: vec![chunk("a", None)],
        hang: true,
    }]);
    let config = Config::new("sk").idle_timeout(Some(Duration::from_secs(30)));
    let client = client(transport, config);
    let started = Instant::now();
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    assert!(stream.next_chunk().await.unwrap().is_ok());
    // Spend the task's budget first, as any task doing tokio I/O may have.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..1000 {
        tx.send(()).unwrap();
    }
    let mut spent = false;
    let next = std::future::poll_fn(|cx| {
        if !spent {
            spent = true;
            while let Poll::Ready(Some(())) = rx.poll_recv(cx) {}
        }
        futures_core::Stream::poll_next(Pin::new(&mut stream), cx)
    });
    let result = tokio::time::timeout(Duration::from_secs(300), next)
        .await
        .expect("the idle timeout ends the stream");
    assert!(
        matches!(&result, Some(Err(Error::Timeout(e))) if e.kind == TimeoutKind::Idle),
        "{result:?}"
    );
    assert_between(started.elapsed(), Duration::from_secs(30), "idle timeout");
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_holds_for_a_reader_that_always_finds_data_waiting() {
    // A body that has data whenever it is read (here 200 chunks queued at
    // once) and a reader slower than the server (1 s per chunk): the total
    // deadline (10 s) must end the stream at the first read after it, not
    // once the queue runs dry (at 200 s).
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..200 {
        tx.send(Ok(Bytes::from(chunk(&format!("w{i} "), None))))
            .unwrap();
    }
    let config = Config::new("sk")
        .idle_timeout(Some(Duration::from_secs(30)))
        .total_timeout(Some(Duration::from_secs(10)));
    let client = Client::builder()
        .config(config)
        .transport(Arc::new(ChannelBody {
            rx: Mutex::new(Some(rx)),
        }))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    let mut chunks = 0;
    let error = loop {
        match stream.next_chunk().await {
            Some(Ok(_)) => chunks += 1,
            Some(Err(error)) => break error,
            None => panic!("the stream ended without an error"),
        }
        tokio::time::advance(Duration::from_secs(1)).await;
    };
    assert!(
        matches!(&error, Error::Timeout(e) if e.kind == TimeoutKind::Total),
        "{error:?}"
    );
    assert_eq!(chunks, 11, "chunks read at 0 to 10 s");
    assert_between(
        started.elapsed(),
        Duration::from_secs(11),
        "the first read after the total deadline",
    );
    drop(tx);
}

/// A transport that answers its one request with this event-stream body.
#[derive(Debug)]
struct OneBody {
    body: Mutex<Option<Body>>,
}

#[async_trait::async_trait]
impl Transport for OneBody {
    async fn send(
        &self,
        _request: http::Request<Bytes>,
    ) -> Result<http::Response<Body>, SendError> {
        let body = self.body.lock().unwrap().take().expect("one request");
        Ok(event_stream(body))
    }
}

/// The receiving end of a bounded tokio channel as a body stream.
struct BoundedReceived(tokio::sync::mpsc::Receiver<Result<Bytes, TransportError>>);

impl futures_core::Stream for BoundedReceived {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_total_deadline_holds_while_a_body_floods_keep_alive_comments() {
    // A server that sends keep-alive comments faster than they are read, and
    // nothing else: every read finds data (until the task's tokio budget is
    // spent, when the timer cannot fire either). Real time, as a paused clock
    // only moves when nothing can run: the total deadline (200 ms) must end the
    // stream; the guard only catches a stream that never ends.
    // More room than the 128 reads of a task's budget, so reads never empty it.
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tx.send(Ok(Bytes::from(chunk("first", None))))
        .await
        .unwrap();
    let flood =
        tokio::spawn(
            async move { while tx.send(Ok(Bytes::from(": keep-alive\n\n"))).await.is_ok() {} },
        );
    let config = Config::new("sk").total_timeout(Some(Duration::from_millis(200)));
    let client = Client::builder()
        .config(config)
        .transport(Arc::new(OneBody {
            body: Mutex::new(Some(Body::from_stream(BoundedReceived(rx)))),
        }))
        .build()
        .unwrap();
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    assert!(stream.next_chunk().await.unwrap().is_ok());
    let next = tokio::time::timeout(Duration::from_secs(60), stream.next_chunk())
        .await
        .expect("the total deadline ends the stream");
    assert!(
        matches!(&next, Some(Err(Error::Timeout(e))) if e.kind == TimeoutKind::Total),
        "{next:?}"
    );
    drop(stream);
    flood.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn debug_shows_the_state_of_a_stream_never_its_content() {
    let transport = Scripted::new(vec![Reply::Stream {
        frames: vec![
            chunk("private words", None),
            "data: {\"choices\": \"more private words\n\n".to_owned(),
        ],
        hang: false,
    }]);
    let client = client(transport, Config::new("sk-double").max_retries(0));
    let mut stream = client.chat().create_stream(&request()).await.unwrap();
    let shown = format!("{stream:?}");
    assert!(!shown.contains("private"), "{shown}");
    assert!(shown.contains("chunk_buffered: true"), "{shown}");
    let first = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(
        first.choices[0].delta.content.as_deref(),
        Some("private words")
    );
    let error = stream.next_chunk().await.unwrap().unwrap_err();
    assert!(
        format!("{error:?}").contains("more private words"),
        "{error:?}"
    );
    let shown = format!("{stream:?}");
    assert!(!shown.contains("private"), "{shown}");
    assert!(shown.contains("ended: Some(\"failed\")"), "{shown}");
}

#[test]
fn options_of_the_default_transport_are_refused_with_a_transport_of_your_own() {
    let tls = || {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    };
    let builder = || {
        Client::builder()
            .config(Config::new("sk-double"))
            .transport(Scripted::new(Vec::new()))
    };
    let table: [(&str, nexllm_hyper::ClientBuilder); 5] = [
        (
            "pool_idle_timeout",
            builder().pool_idle_timeout(Some(Duration::from_secs(1))),
        ),
        (
            "pool_max_idle_per_host",
            builder().pool_max_idle_per_host(1),
        ),
        ("http2", builder().http2(false)),
        ("proxy", builder().proxy(nexllm_hyper::Proxy::none())),
        ("tls_config", builder().tls_config(tls())),
    ];
    for (option, builder) in table {
        match builder.build() {
            Err(Error::InvalidRequest(e)) => {
                assert_eq!(e.field, option);
                assert!(e.reason.contains("ClientBuilder::transport"), "{e}");
            }
            other => panic!("{option}: {other:?}"),
        }
    }
    assert!(builder().build().is_ok());
}
