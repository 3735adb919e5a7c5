//! [`Proxy`]: which HTTP proxy the client uses, from `HTTPS_PROXY` /
//! `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` or given explicitly.
//!
//! A client talks to one origin (its base URL; redirects are not followed),
//! so the choice is made once, when the client is built: the variable that
//! matches the base URL's scheme, unless `NO_PROXY` lists its host. Then:
//!
//! - for an `https://` base URL, ureq tunnels each connection through the
//!   proxy with `CONNECT host:443`, and TLS runs inside the tunnel;
//! - for a plain `http://` one, the client connects to the proxy itself and
//!   writes each request in absolute form (`POST http://host:port/v1/chat/completions
//!   HTTP/1.1`), with `Proxy-Authorization: Basic ...` when the proxy URL has
//!   credentials, in place of any `Proxy-Authorization` header the
//!   configuration sets (the `forward_proxy` module). Forward proxies
//!   expect that, and many (squid by default) refuse `CONNECT` to any port
//!   but 443. The proxy looks the host up, not the client.

use std::fmt;

use http::Uri;
use nexllm_proto::proxy_env::{
    check_proxy_url, for_destination, no_proxy_matches, with_default_scheme,
};
use nexllm_proto::{Error, TransportError, TransportErrorKind};

/// Which proxy the client uses.
///
/// The default is [`Proxy::from_env`], which follows curl's rules. Only
/// `http://` proxy URLs are supported.
#[derive(Clone)]
pub struct Proxy {
    choice: Choice,
}

#[derive(Clone)]
enum Choice {
    FromEnv,
    None,
    All { url: String, no_proxy: String },
}

impl Proxy {
    /// Proxies from the environment, read when the client is built:
    /// `HTTPS_PROXY` for an `https://` base URL, `HTTP_PROXY` for an `http://`
    /// one (either falls back to `ALL_PROXY`; lower-case names work too; the
    /// upper-case `HTTP_PROXY` is ignored when `REQUEST_METHOD` says the
    /// process is a CGI script), except when `NO_PROXY` lists the host
    /// (domain suffixes, IP addresses, CIDR ranges, `*`).
    pub fn from_env() -> Proxy {
        Proxy {
            choice: Choice::FromEnv,
        }
    }

    /// No proxy, whatever the environment says.
    pub fn none() -> Proxy {
        Proxy {
            choice: Choice::None,
        }
    }

    /// Every request through this proxy (`http://[user:password@]host:port`),
    /// except to hosts in `no_proxy` (the `NO_PROXY` syntax; `""` for none).
    pub fn all(url: &str, no_proxy: &str) -> Result<Proxy, Error> {
        let url = url.trim();
        check_proxy_url(url).map_err(|why| Error::invalid_request("proxy", why.to_owned()))?;
        Ok(Proxy {
            choice: Choice::All {
                url: url.to_owned(),
                no_proxy: no_proxy.to_owned(),
            },
        })
    }

    /// The ureq proxy for a client whose base URL is `base_url`: `Ok(None)`
    /// to connect directly, `Err` when the proxy chosen cannot be used.
    pub(crate) fn for_base_url(
        &self,
        base_url: &str,
    ) -> Result<Option<ureq::Proxy>, TransportError> {
        let (url, no_proxy) = match &self.choice {
            Choice::None => return Ok(None),
            Choice::All { url, no_proxy } => (url.clone(), no_proxy.clone()),
            Choice::FromEnv => {
                let env = |name: &str| std::env::var(name).ok();
                let https = base_url.trim().to_ascii_lowercase().starts_with("https://");
                match for_destination(https, env) {
                    Some(found) => found,
                    None => return Ok(None),
                }
            }
        };
        let Ok(target) = base_url.trim().parse::<Uri>() else {
            // An invalid base URL fails every call before any I/O anyway.
            return Ok(None);
        };
        if target
            .host()
            .is_some_and(|host| no_proxy_matches(&no_proxy, host))
        {
            return Ok(None);
        }
        let unusable =
            |why: &str| TransportError::new(TransportErrorKind::Proxy, format!("the proxy {why}"));
        let url = with_default_scheme(url.trim());
        check_proxy_url(&url).map_err(unusable)?;
        ureq::Proxy::new(&url)
            .map(Some)
            .map_err(|_| unusable("URL is not valid"))
    }
}

/// What a call's failures need to know about the proxy it goes through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViaProxy {
    /// Whether the proxy URL carries credentials.
    pub(crate) credentials: bool,
}

impl ViaProxy {
    pub(crate) fn new(proxy: &ureq::Proxy) -> ViaProxy {
        ViaProxy {
            credentials: proxy.username().is_some() || proxy.password().is_some(),
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::from_env()
    }
}

impl fmt::Debug for Proxy {
    // A proxy URL may carry credentials: show only where the setting comes from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.choice {
            Choice::FromEnv => "environment",
            Choice::None => "none",
            Choice::All { .. } => "explicit",
        };
        f.debug_struct("Proxy")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_proxies_must_be_http() {
        assert!(Proxy::all("http://user:pass@proxy:3128", "").is_ok());
        for bad in [
            "socks5://proxy:1080",
            "https://proxy:443",
            "not a url",
            "http://",
        ] {
            let error = Proxy::all(bad, "").unwrap_err();
            assert!(
                matches!(error, Error::InvalidRequest(ref e) if e.field == "proxy"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_base_url_host_decides() {
        let proxy = Proxy::all("http://proxy:3128", "localhost,10.0.0.0/8").unwrap();
        assert!(
            proxy
                .for_base_url("https://api.example.com/v1")
                .unwrap()
                .is_some()
        );
        assert!(
            proxy
                .for_base_url("http://localhost:8080/v1")
                .unwrap()
                .is_none()
        );
        assert!(proxy.for_base_url("http://10.2.3.4/v1").unwrap().is_none());
        assert!(
            Proxy::none()
                .for_base_url("https://api.example.com/v1")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn debug_never_shows_credentials() {
        let proxy = Proxy::all("http://user:hunter2@proxy:3128", "").unwrap();
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("explicit"));
    }
}
