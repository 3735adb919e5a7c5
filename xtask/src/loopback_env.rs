//! Keeping the caller's proxy settings away from calls to loopback servers.
//!
//! Both SDK transports (and ureq) honour `HTTP_PROXY`, `HTTPS_PROXY` and
//! `ALL_PROXY` (either case), as curl does, and none of them exempts
//! 127.0.0.1 unless `NO_PROXY` says so: with a proxy set, a call to a server
//! this xtask started on loopback would go to the proxy, or fail. Programs
//! whose calls go to such a server run without those variables; programs that
//! reach the network (installers, `cargo`) keep them.

use std::process::Command;

/// The proxy variables of the caller's environment.
pub(crate) const PROXY_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Removes the proxy variables from `cmd`'s environment, so that its calls to
/// a loopback server go straight to it.
pub(crate) fn without_proxy(cmd: &mut Command) -> &mut Command {
    for var in PROXY_ENV {
        cmd.env_remove(var);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proxy_variable_is_removed() {
        let mut cmd = Command::new("true");
        cmd.env("HTTP_PROXY", "http://127.0.0.1:1")
            .env("NEXLLM_BASE_URL", "http://127.0.0.1:9/v1");
        without_proxy(&mut cmd);
        let envs: Vec<_> = cmd.get_envs().collect();
        for var in PROXY_ENV {
            assert!(
                envs.contains(&(std::ffi::OsStr::new(var), None)),
                "{var} is not removed: {envs:?}"
            );
        }
        assert!(envs.contains(&(
            std::ffi::OsStr::new("NEXLLM_BASE_URL"),
            Some(std::ffi::OsStr::new("http://127.0.0.1:9/v1"))
        )));
    }
}
