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
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use nexllm_proto::proxy_env::{
    check_proxy_url, for_destination, no_proxy_matches, proxy_credentials_refused,
    with_default_scheme,
};
use nexllm_proto::{Error, TransportError, TransportErrorKind};
use tokio::net::TcpStream;
use tower_service::Service;

pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Which proxy the default transport uses.
///
/// The default is [`Proxy::from_env`], which follows curl's rules, as the
/// blocking client does ([`nexllm_proto::proxy_env`]). Only `http://` proxy
/// URLs are supported.
#[derive(Clone)]
pub struct Proxy {
    routes: Option<Arc<Routes>>,
    source: &'static str,
}

/// Where destinations of each scheme go.
struct Routes {
    http: Route,
    https: Route,
}

enum Route {
    Direct,
    /// Through this proxy, except to hosts the `NO_PROXY` list names.
    Via {
        matcher: Box<Matcher>,
        no_proxy: String,
    },
    /// The proxy the settings name cannot be used: a call through it fails
    /// with this, rather than going direct behind the user's back.
    Unusable(String),
}

impl Route {
    fn via(url: &str, no_proxy: String) -> Route {
        match check_proxy_url(url) {
            Ok(()) => Route::Via {
                // Only the proxy's URL and credentials come from the matcher;
                // which hosts bypass it is decided here, with `NO_PROXY`.
                matcher: Box::new(Matcher::builder().all(url.to_owned()).build()),
                no_proxy,
            },
            Err(why) => Route::Unusable(format!("the proxy {why}")),
        }
    }
}

impl Proxy {
    /// Proxies from the environment, read now: `HTTPS_PROXY` for `https://`
    /// URLs, `HTTP_PROXY` for `http://` URLs (either falls back to `ALL_PROXY`;
    /// lower-case names work too; the upper-case `HTTP_PROXY` is ignored when
    /// `REQUEST_METHOD` says the process is a CGI script), except for hosts
    /// listed in `NO_PROXY` (domain suffixes, IP addresses, CIDR ranges, `*`).
    /// A proxy URL that cannot be used fails the calls that would go through
    /// it, with a [`TransportErrorKind::Proxy`](nexllm_proto::TransportErrorKind::Proxy) error.
    pub fn from_env() -> Proxy {
        Proxy::from_vars(|name| std::env::var(name).ok(), "environment")
    }

    /// The proxies an environment gives (`env` reads one variable).
    pub(crate) fn from_vars(env: impl Fn(&str) -> Option<String>, source: &'static str) -> Proxy {
        let route = |https: bool| match for_destination(https, &env) {
            None => Route::Direct,
            Some((url, no_proxy)) => Route::via(&with_default_scheme(url.trim()), no_proxy),
        };
        Proxy {
            routes: Some(Arc::new(Routes {
                http: route(false),
                https: route(true),
            })),
            source,
        }
    }

    /// No proxy, whatever the environment says.
    pub fn none() -> Proxy {
        Proxy {
            routes: None,
            source: "none",
        }
    }

    /// Every request through this proxy (`http://[user:password@]host:port`),
    /// except hosts in `no_proxy` (the `NO_PROXY` syntax; `""` for none).
    pub fn all(url: &str, no_proxy: &str) -> Result<Proxy, Error> {
        let url = url.trim();
        check_proxy_url(url).map_err(|why| Error::invalid_request("proxy", why.to_owned()))?;
        let route = || Route::via(url, no_proxy.to_owned());
        Ok(Proxy {
            routes: Some(Arc::new(Routes {
                http: route(),
                https: route(),
            })),
            source: "explicit",
        })
    }

    /// The proxy a request to `dst` goes through, if any (and usable).
    pub(crate) fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        decide(self.routes.as_deref(), dst).ok().flatten()
    }

    /// Why a request to `dst` cannot be made: the proxy named for it cannot be used.
    pub(crate) fn unusable_for(&self, dst: &Uri) -> Option<TransportError> {
        decide(self.routes.as_deref(), dst)
            .err()
            .map(|why| TransportError::new(TransportErrorKind::Proxy, why))
    }
}

/// How a connection to `dst` is made: `Ok(None)` directly, `Ok(Some(..))`
/// through that proxy, `Err` when the proxy named for it cannot be used.
fn decide(routes: Option<&Routes>, dst: &Uri) -> Result<Option<Intercept>, String> {
    let Some(routes) = routes else {
        return Ok(None);
    };
    let route = if dst.scheme_str() == Some("https") {
        &routes.https
    } else {
        &routes.http
    };
    match route {
        Route::Direct => Ok(None),
        Route::Unusable(why) => Err(why.clone()),
        Route::Via { matcher, no_proxy } => {
            if dst
                .host()
                .is_some_and(|host| no_proxy_matches(no_proxy, host))
            {
                Ok(None)
            } else {
                Ok(matcher.intercept(dst))
            }
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::from_env()
    }
}

impl fmt::Debug for Proxy {
    // The proxy URLs may carry credentials: show only where the settings came from.
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

/// Opens TCP connections, directly or through the proxy the settings pick.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    routes: Option<Arc<Routes>>,
}

impl ProxyConnector {
    pub(crate) fn new(http: HttpConnector, proxy: &Proxy) -> Self {
        ProxyConnector {
            http,
            routes: proxy.routes.clone(),
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
        let decision = decide(self.routes.as_deref(), &dst);
        let mut http = self.http.clone();
        Box::pin(async move {
            let intercept = decision.map_err(|why| Box::new(ProxyFailure(why)) as BoxError)?;
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
                let credentials_given = intercept.basic_auth().is_some();
                if let Some(auth) = intercept.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                poll_fn(|cx| tunnel.poll_ready(cx))
                    .await
                    .map_err(|e| tunnel_failure(&e, credentials_given))?;
                let io = tunnel
                    .call(dst)
                    .await
                    .map_err(|e| tunnel_failure(&e, credentials_given))?;
                Ok(ProxiedIo::direct(io))
            } else {
                poll_fn(|cx| http.poll_ready(cx))
                    .await
                    .map_err(|e| unreachable_proxy(&e))?;
                let io = http
                    .call(proxy_uri)
                    .await
                    .map_err(|e| unreachable_proxy(&e))?;
                Ok(ProxiedIo::forward(io))
            }
        })
    }
}

/// How hyper-util's tunnel shows a `407 Proxy Authentication Required` answer to its `CONNECT`.
const TUNNEL_407: &str = "tunnel error: proxy authorization required";

/// How hyper-util's tunnel shows a failure to connect to the proxy (the cause follows).
const TUNNEL_CONNECT_FAILED: &str = "tunnel error: failed to create underlying connection";

/// Sorts a failure of hyper-util's tunnel. Its error type is private, so
/// the cases are told by their text.
fn tunnel_failure(error: &(dyn StdError + 'static), credentials_given: bool) -> BoxError {
    match error.to_string().as_str() {
        TUNNEL_407 => Box::new(proxy_credentials_refused(credentials_given)),
        TUNNEL_CONNECT_FAILED => match error.source() {
            Some(cause) => unreachable_proxy(cause),
            None => unreachable_proxy(error),
        },
        _ => proxy_failure(error),
    }
}

/// The proxy could not be reached (`error` is the connector's reason), said
/// as the blocking client says it.
fn unreachable_proxy(error: &(dyn StdError + 'static)) -> BoxError {
    Box::new(ProxyFailure(format!(
        "could not connect to the proxy: {}",
        with_causes(error)
    )))
}

/// Describes a proxy failure with its causes (which never include the proxy's credentials).
fn proxy_failure(error: &dyn StdError) -> BoxError {
    Box::new(ProxyFailure(with_causes(error)))
}

/// `error` and its causes on one line.
fn with_causes(error: &dyn StdError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
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
    use std::collections::HashMap;

    use super::*;

    /// Where a connection to `dst` goes: `"direct"`, the proxy's host, or
    /// `"unusable"`.
    fn route(proxy: &Proxy, dst: &str) -> String {
        match decide(proxy.routes.as_deref(), &dst.parse().unwrap()) {
            Ok(None) => "direct".to_owned(),
            Ok(Some(intercept)) => intercept.uri().host().unwrap_or("").to_owned(),
            Err(_) => "unusable".to_owned(),
        }
    }

    fn from(vars: &[(&str, &str)]) -> Proxy {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Proxy::from_vars(move |name| map.get(name).cloned(), "test")
    }

    #[test]
    fn explicit_proxies_are_checked() {
        assert!(Proxy::all("http://proxy.local:3128", "").is_ok());
        assert!(Proxy::all("socks5://proxy.local:1080", "").is_err());
        assert!(Proxy::all("not a url", "").is_err());
    }

    #[test]
    fn no_proxy_hosts_bypass_the_proxy() {
        let proxy = Proxy::all("http://user:pw@proxy.local:3128", "localhost,.internal").unwrap();
        let hit = decide(
            proxy.routes.as_deref(),
            &"https://api.example.com/v1".parse().unwrap(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(hit.uri().host(), Some("proxy.local"));
        assert!(hit.basic_auth().is_some());
        assert_eq!(route(&proxy, "http://localhost:8080/v1"), "direct");
        assert_eq!(route(&proxy, "https://svc.internal/v1"), "direct");
    }

    #[test]
    fn the_environment_is_read_as_curl_and_the_blocking_client_read_it() {
        let api = "https://api.example.com/v1";
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let table: [Case<'_>; 10] = [
            (&[("HTTPS_PROXY", "http://p:1")], api, "p"),
            // A CGI script ignores only the upper-case HTTP_PROXY.
            (
                &[("HTTPS_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")],
                api,
                "p",
            ),
            (
                &[("HTTP_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")],
                "http://x/v1",
                "direct",
            ),
            (
                &[("HTTPS_PROXY", ""), ("https_proxy", "http://p:1")],
                api,
                "p",
            ),
            (&[("HTTPS_PROXY", " http://p:1 ")], api, "p"),
            (
                &[
                    ("HTTPS_PROXY", "http://p:1"),
                    ("NO_PROXY", ""),
                    ("no_proxy", "example.com"),
                ],
                api,
                "direct",
            ),
            (
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")],
                "https://127.0.0.1:8443/v1",
                "direct",
            ),
            (
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*.example.com")],
                api,
                "direct",
            ),
            (
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "[::1]")],
                "https://[::1]:8443/v1",
                "direct",
            ),
            // A proxy that cannot be used fails the call; it never goes direct.
            (
                &[
                    ("HTTPS_PROXY", "ftp://u:secret@p:1"),
                    ("ALL_PROXY", "http://all:2"),
                ],
                api,
                "unusable",
            ),
        ];
        for (vars, dst, want) in table {
            assert_eq!(route(&from(vars), dst), want, "{vars:?} {dst}");
        }
        assert_eq!(
            route(&from(&[("HTTPS_PROXY", "http://p q:1")]), api),
            "unusable"
        );
        assert_eq!(
            route(&from(&[("http_proxy", "plain:3128")]), "http://x/v1"),
            "plain"
        );
        assert_eq!(route(&from(&[]), api), "direct");
    }

    #[test]
    fn debug_hides_proxy_credentials() {
        let proxy = Proxy::all("http://user:hunter2@proxy.local:3128", "").unwrap();
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(Proxy::none().routes.is_none());
    }
}
