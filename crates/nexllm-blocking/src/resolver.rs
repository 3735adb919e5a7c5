//! The resolver the agent looks host names up with: ureq's own, with a failed
//! lookup reported as a DNS failure.

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// ureq's [`DefaultResolver`], except that a lookup the system refuses (no
/// such host, no name server) is `ureq::Error::HostNotFound`, which becomes
/// [`TransportErrorKind::Dns`](nexllm_proto::TransportErrorKind::Dns).
/// ureq passes that failure on as a plain I/O error, which would read as
/// `Io`; it keeps `HostNotFound` for a lookup that found no address. A
/// timeout passes through unchanged.
#[derive(Debug, Default)]
pub(crate) struct HostResolver(DefaultResolver);

impl Resolver for HostResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match self.0.resolve(uri, config, timeout) {
            Err(ureq::Error::Io(error)) => {
                tracing::debug!(host = uri.host().unwrap_or(""), %error, "host lookup failed");
                Err(ureq::Error::HostNotFound)
            }
            other => other,
        }
    }
}
