//! [`Proxy`]: which HTTP proxy the client uses, from `HTTPS_PROXY` /
//! `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` or given explicitly.
//!
//! A client talks to one origin (its base URL; redirects are not followed),
//! so the choice is made once, when the client is built: the variable that
//! matches the base URL's scheme, unless `NO_PROXY` lists its host. ureq then
//! tunnels every connection through the proxy with `CONNECT`.

use std::fmt;
use std::net::IpAddr;

use http::Uri;
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
                match from_env_for(base_url, env) {
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

/// Why a proxy URL cannot be used, if it cannot.
fn check_proxy_url(url: &str) -> Result<(), &'static str> {
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL")?;
    if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
        return Err("must be an http:// URL with a host");
    }
    Ok(())
}

/// curl reads `host:port` as `http://host:port`.
fn with_default_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The proxy URL and the `NO_PROXY` list the environment gives for `base_url`.
fn from_env_for(base_url: &str, env: impl Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let is_cgi = set("REQUEST_METHOD").is_some();
    let https = base_url.trim().to_ascii_lowercase().starts_with("https://");
    let specific = if https {
        set("HTTPS_PROXY").or_else(|| set("https_proxy"))
    } else {
        let upper = if is_cgi { None } else { set("HTTP_PROXY") };
        upper.or_else(|| set("http_proxy"))
    };
    let url = specific
        .or_else(|| set("ALL_PROXY"))
        .or_else(|| set("all_proxy"))?;
    let no_proxy = set("NO_PROXY")
        .or_else(|| set("no_proxy"))
        .unwrap_or_default();
    Some((url, no_proxy))
}

/// Whether the `NO_PROXY` list `list` exempts `host`.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(ip) = host_ip {
                return ip_matches(entry, ip);
            }
            let domain = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            !domain.is_empty()
                && (host == domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.')))
        })
}

/// Whether `entry` (an address or a CIDR range) covers `ip`.
fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let entry = entry.trim_start_matches('[').trim_end_matches(']');
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (entry, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let bits = match prefix.map(str::parse::<u32>) {
                None => 32,
                Some(Ok(bits)) if bits <= 32 => bits,
                Some(_) => return false,
            };
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let bits = match prefix.map(str::parse::<u32>) {
                None => 128,
                Some(Ok(bits)) if bits <= 128 => bits,
                Some(_) => return false,
            };
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        move |name| map.get(name).map(|v| (*v).to_owned())
    }

    #[test]
    fn the_variable_follows_the_scheme() {
        let vars = [
            ("HTTPS_PROXY", "http://secure:1"),
            ("http_proxy", "http://plain:2"),
            ("ALL_PROXY", "http://all:3"),
            ("NO_PROXY", "internal"),
        ];
        assert_eq!(
            from_env_for("https://api.example.com/v1", env(&vars)),
            Some(("http://secure:1".to_owned(), "internal".to_owned()))
        );
        assert_eq!(
            from_env_for("http://api.example.com/v1", env(&vars)),
            Some(("http://plain:2".to_owned(), "internal".to_owned()))
        );
        let only_all = [("all_proxy", "http://all:3")];
        assert_eq!(
            from_env_for("https://x/v1", env(&only_all)).map(|p| p.0),
            Some("http://all:3".to_owned())
        );
        assert_eq!(from_env_for("https://x/v1", env(&[])), None);
        assert_eq!(
            from_env_for("https://x/v1", env(&[("HTTPS_PROXY", " ")])),
            None
        );
    }

    #[test]
    fn cgi_scripts_ignore_the_upper_case_http_proxy() {
        let vars = [
            ("HTTP_PROXY", "http://injected:1"),
            ("REQUEST_METHOD", "GET"),
        ];
        assert_eq!(from_env_for("http://x/v1", env(&vars)), None);
        let vars = [("http_proxy", "http://mine:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(
            from_env_for("http://x/v1", env(&vars)).map(|p| p.0),
            Some("http://mine:1".to_owned())
        );
    }

    #[test]
    fn no_proxy_lists() {
        let table = [
            ("example.com", "example.com", true),
            ("example.com", "api.example.com", true),
            ("example.com", "badexample.com", false),
            (".example.com", "api.example.com", true),
            ("*.example.com", "api.example.com", true),
            ("other.org, example.com", "EXAMPLE.com", true),
            ("*", "anything", true),
            ("", "example.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.1.2.3", false),
            ("10.0.0.0/99", "10.1.2.3", false),
            ("::1", "[::1]", true),
            ("fd00::/8", "[fd12::1]", true),
            ("localhost", "127.0.0.1", false),
        ];
        for (list, host, want) in table {
            assert_eq!(no_proxy_matches(list, host), want, "{list:?} {host:?}");
        }
    }

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
