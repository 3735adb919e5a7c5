//! [`Proxy`]: which HTTP proxy to use, from `HTTPS_PROXY` / `HTTP_PROXY` /
//! `NO_PROXY` or given explicitly, and the connector that applies it.
//!
//! HTTPS destinations go through an HTTP `CONNECT` tunnel (TLS stays end to
//! end); plain HTTP destinations are sent to the proxy in absolute form, with
//! `Proxy-Authorization` when the proxy URL has credentials.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use nexllm_proto::Error;
use tokio::net::TcpStream;
use tower_service::Service;

pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Which proxy the default transport uses.
///
/// The default is [`Proxy::from_env`], which follows curl's rules.
/// Only `http://` proxy URLs are supported.
#[derive(Clone)]
pub struct Proxy {
    matcher: Option<Arc<Matcher>>,
    source: &'static str,
}

impl Proxy {
    /// Proxies from the environment, read now: `HTTPS_PROXY` for `https://`
    /// URLs, `HTTP_PROXY` for `http://` URLs (either falls back to `ALL_PROXY`;
    /// lower-case names work too), except for hosts listed in `NO_PROXY`
    /// (domain suffixes, IP addresses, CIDR ranges, `*`).
    pub fn from_env() -> Proxy {
        Proxy {
            matcher: Some(Arc::new(Matcher::from_env())),
            source: "environment",
        }
    }

    /// No proxy, whatever the environment says.
    pub fn none() -> Proxy {
        Proxy {
            matcher: None,
            source: "none",
        }
    }

    /// Every request through this proxy (`http://[user:password@]host:port`),
    /// except hosts in `no_proxy` (the `NO_PROXY` syntax; `""` for none).
    pub fn all(url: &str, no_proxy: &str) -> Result<Proxy, Error> {
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|_| Error::invalid_request("proxy", "is not a valid URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(Error::invalid_request(
                "proxy",
                "must be an http:// URL with a host",
            ));
        }
        let matcher = Matcher::builder()
            .all(url.trim().to_owned())
            .no(no_proxy.to_owned())
            .build();
        Ok(Proxy {
            matcher: Some(Arc::new(matcher)),
            source: "explicit",
        })
    }

    pub(crate) fn matcher(&self) -> Option<&Arc<Matcher>> {
        self.matcher.as_ref()
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::from_env()
    }
}

impl fmt::Debug for Proxy {
    // The matcher's URLs may carry credentials: show only where the settings came from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A failure to reach the destination through a proxy.
#[derive(Debug)]
pub(crate) struct ProxyFailure(pub(crate) String);

impl fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for ProxyFailure {}

/// Opens TCP connections, directly or through the proxy the matcher picks.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    matcher: Option<Arc<Matcher>>,
}

impl ProxyConnector {
    pub(crate) fn new(http: HttpConnector, proxy: &Proxy) -> Self {
        ProxyConnector {
            http,
            matcher: proxy.matcher().cloned(),
        }
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxiedIo<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call clones the connector and waits for readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let intercept = self.matcher.as_ref().and_then(|m| m.intercept(&dst));
        let mut http = self.http.clone();
        Box::pin(async move {
            let Some(intercept) = intercept else {
                poll_fn(|cx| http.poll_ready(cx)).await?;
                let io = http.call(dst).await?;
                return Ok(ProxiedIo::direct(io));
            };
            let proxy_uri = intercept.uri().clone();
            if proxy_uri.scheme_str() != Some("http") {
                return Err(Box::new(ProxyFailure(format!(
                    "unsupported proxy scheme {:?} (only http:// proxies are supported)",
                    proxy_uri.scheme_str().unwrap_or("")
                ))) as BoxError);
            }
            if dst.scheme_str() == Some("https") {
                let mut tunnel = Tunnel::new(proxy_uri, http);
                if let Some(auth) = intercept.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                poll_fn(|cx| tunnel.poll_ready(cx))
                    .await
                    .map_err(|e| proxy_failure(&e))?;
                let io = tunnel.call(dst).await.map_err(|e| proxy_failure(&e))?;
                Ok(ProxiedIo::direct(io))
            } else {
                poll_fn(|cx| http.poll_ready(cx))
                    .await
                    .map_err(|e| proxy_failure(&e))?;
                let io = http.call(proxy_uri).await.map_err(|e| proxy_failure(&e))?;
                Ok(ProxiedIo::forward(io))
            }
        })
    }
}

/// Describes a proxy failure with its causes (which never include the proxy's credentials).
fn proxy_failure(error: &dyn StdError) -> BoxError {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Box::new(ProxyFailure(message))
}

/// A connection that knows whether it goes to a forward proxy, so the pool
/// sends absolute-form request targets on it.
#[derive(Debug)]
pub(crate) struct ProxiedIo<T> {
    io: T,
    forward_proxy: bool,
}

impl<T> ProxiedIo<T> {
    fn direct(io: T) -> Self {
        ProxiedIo {
            io,
            forward_proxy: false,
        }
    }

    fn forward(io: T) -> Self {
        ProxiedIo {
            io,
            forward_proxy: true,
        }
    }
}

impl<T: Connection> Connection for ProxiedIo<T> {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forward_proxy)
    }
}

impl<T: Read + Unpin> Read for ProxiedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for ProxiedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_proxies_are_checked() {
        assert!(Proxy::all("http://proxy.local:3128", "").is_ok());
        assert!(Proxy::all("socks5://proxy.local:1080", "").is_err());
        assert!(Proxy::all("not a url", "").is_err());
    }

    #[test]
    fn no_proxy_hosts_bypass_the_proxy() {
        let proxy = Proxy::all("http://user:pw@proxy.local:3128", "localhost,.internal").unwrap();
        let matcher = proxy.matcher().unwrap();
        let hit = matcher
            .intercept(&"https://api.example.com/v1".parse().unwrap())
            .unwrap();
        assert_eq!(hit.uri().host(), Some("proxy.local"));
        assert!(hit.basic_auth().is_some());
        assert!(
            matcher
                .intercept(&"http://localhost:8080/v1".parse().unwrap())
                .is_none()
        );
        assert!(
            matcher
                .intercept(&"https://svc.internal/v1".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn debug_hides_proxy_credentials() {
        let proxy = Proxy::all("http://user:hunter2@proxy.local:3128", "").unwrap();
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(Proxy::none().matcher().is_none());
    }
}
