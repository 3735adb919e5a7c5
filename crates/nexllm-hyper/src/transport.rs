//! [`Transport`]: the seam between the client and an HTTP stack, and the [`Body`] it returns.
//!
//! The client drives the protocol core and asks its transport for one thing:
//! send this request, give me the response head and a body to read. Plug in
//! your own HTTP stack or a test double by implementing [`Transport`] and
//! passing it to [`ClientBuilder::transport`](crate::ClientBuilder::transport).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use nexllm_proto::TransportError;

/// Moves one request to the server and hands back the response head and body.
///
/// A transport does no retries, no status handling, no timeouts other than
/// the connect timeout and no decoding: the client does all of that, the same
/// way for every transport. Implementations must be cheap to share: the
/// client keeps one behind an `Arc` and calls it from many tasks at once.
///
/// Dropping the returned future, or the returned [`Body`], must cancel the
/// request and release (or close) its connection.
///
/// ```
/// use nexllm_hyper::{Body, SendError, Transport};
///
/// /// Answers every request with the same JSON body.
/// #[derive(Debug)]
/// struct Canned(&'static str);
///
/// #[async_trait::async_trait]
/// impl Transport for Canned {
///     async fn send(
///         &self,
///         _request: http::Request<bytes::Bytes>,
///     ) -> Result<http::Response<Body>, SendError> {
///         Ok(http::Response::new(Body::from(self.0)))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Transport: fmt::Debug + Send + Sync + 'static {
    /// Sends `request` and resolves once the response head has arrived. The
    /// body is read afterwards through the returned [`Body`].
    ///
    /// Every status is a response, not an error: return `Ok` for a 429 or a
    /// 500 too, so the client can read the error body.
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Body>, SendError>;
}

/// Why a [`Transport`] could not deliver a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection failed (DNS, connect, TLS, proxy, reset, I/O).
    Transport(TransportError),
    /// The connector gave up connecting after the configured connect timeout.
    ConnectTimeout,
}

impl From<TransportError> for SendError {
    fn from(error: TransportError) -> Self {
        SendError::Transport(error)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transport(error) => error.fmt(f),
            SendError::ConnectTimeout => f.write_str("timed out connecting"),
        }
    }
}

impl std::error::Error for SendError {}

type BoxedBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = TransportError> + Send>>;

/// A response body as a [`Transport`] returns it: any [`http_body::Body`] of
/// [`Bytes`] whose errors are [`TransportError`]s.
///
/// Build one from bytes (`Body::from("...")`), from a stream of byte chunks
/// ([`Body::from_stream`], handy for test doubles) or from any `http_body::Body`
/// ([`Body::new`]).
pub struct Body {
    inner: Inner,
}

/// What a [`Body`] reads from.
enum Inner {
    /// hyper's own body, as [`HyperTransport`](crate::HyperTransport)
    /// answers: read where it is, without a box of its own or a call through
    /// a vtable per frame (with many streams on one thread, the box was one
    /// more cold cache line per chunk).
    Hyper(hyper::body::Incoming),
    /// Any other body.
    Boxed(BoxedBody),
}

impl Body {
    /// Wraps any body of bytes.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = TransportError> + Send + 'static,
    {
        Body {
            inner: Inner::Boxed(Box::pin(body)),
        }
    }

    /// hyper's response body, its errors told apart by
    /// [`classify_body_error`](crate::hyper_transport::classify_body_error).
    pub(crate) fn hyper(body: hyper::body::Incoming) -> Self {
        Body {
            inner: Inner::Hyper(body),
        }
    }

    /// A body with no bytes.
    pub fn empty() -> Self {
        Body::from(Bytes::new())
    }

    /// A body read from a stream of byte chunks; the stream ending ends the body.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: futures_core::Stream<Item = Result<Bytes, TransportError>> + Send + 'static,
    {
        Body::new(StreamBody {
            stream: Box::pin(stream),
        })
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(self))
            .finish_non_exhaustive()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        match &mut self.inner {
            Inner::Hyper(body) => Pin::new(body).poll_frame(cx).map(|frame| {
                frame
                    .map(|frame| frame.map_err(|e| crate::hyper_transport::classify_body_error(&e)))
            }),
            Inner::Boxed(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Hyper(body) => body.is_end_stream(),
            Inner::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Hyper(body) => body.size_hint(),
            Inner::Boxed(body) => body.size_hint(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::new(WholeBody { bytes: Some(bytes) })
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

/// A body that is one buffer.
struct WholeBody {
    bytes: Option<Bytes>,
}

impl http_body::Body for WholeBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        Poll::Ready(
            self.bytes
                .take()
                .filter(|b| !b.is_empty())
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.bytes.as_ref().map_or(0, Bytes::len);
        SizeHint::with_exact(u64::try_from(len).unwrap_or(u64::MAX))
    }
}

/// A body fed by a stream of chunks.
struct StreamBody<S> {
    stream: Pin<Box<S>>,
}

impl<S> http_body::Body for StreamBody<S>
where
    S: futures_core::Stream<Item = Result<Bytes, TransportError>>,
{
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        self.stream
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|result| result.map(Frame::data)))
    }
}
