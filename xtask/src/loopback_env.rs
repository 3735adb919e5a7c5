//! Keeping the caller's proxy settings away from calls to loopback servers.
//!
//! Both SDK transports (and ureq) honour `HTTP_PROXY`, `HTTPS_PROXY` and
//! `ALL_PROXY` (either case), as curl does, and none of them exempts
//! 127.0.0.1 unless `NO_PROXY` says so: with a proxy set, a call to a server
//! this xtask started on loopback would go to the proxy, or fail. Programs
//! whose calls go to such a server run without those variables; programs that
//! reach the network (installers, `cargo`) keep them.

use std::process::Command;

use nexllm_proto::proxy_env::PROXY_VARIABLES;

/// Removes the proxy variables from `cmd`'s environment, so that its calls to
/// a loopback server go straight to it.
pub(crate) fn without_proxy(cmd: &mut Command) -> &mut Command {
    for var in PROXY_VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

/// Fails unless `cmd` runs without any of the proxy variables.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_without_proxy(cmd: &Command) {
    let envs: Vec<_> = cmd.get_envs().collect();
    for var in PROXY_VARIABLES {
        assert!(
            envs.contains(&(std::ffi::OsStr::new(var), None)),
            "{var} is not removed: {envs:?}"
        );
    }
}

/// For a test of an in-process client: whether this run of the test binary
/// has a proxy that refuses every connection in all the proxy variables.
/// When it has not, runs the test `test` (its full path, e.g.
/// `interop::http::tests::x`) again in a child process that has, fails when
/// the child fails, and answers false: the caller then returns.
#[cfg(test)]
#[track_caller]
pub(crate) fn under_a_dead_proxy(test: &str) -> bool {
    const MARKER: &str = "XTASK_TEST_UNDER_A_DEAD_PROXY";
    if std::env::var_os(MARKER).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no test binary: {e}"));
    let mut child = Command::new(exe);
    child
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(MARKER, "1")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for var in PROXY_VARIABLES {
        // Port 1 on loopback: nothing listens, every connection is refused.
        child.env(var, "http://127.0.0.1:1");
    }
    let out = child
        .output()
        .unwrap_or_else(|e| panic!("cannot run {test} again: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed with a dead proxy in the environment ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
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
        assert_without_proxy(&cmd);
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs.contains(&(
            std::ffi::OsStr::new("NEXLLM_BASE_URL"),
            Some(std::ffi::OsStr::new("http://127.0.0.1:9/v1"))
        )));
    }
}
