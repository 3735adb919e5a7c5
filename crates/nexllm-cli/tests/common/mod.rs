//! Running the real `nexllm` binary against nexllm-mock.

#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test support: a failure here is a failed test"
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use nexllm_mock::MockServer;

/// Both transports, as `--transport` values.
pub(crate) const TRANSPORTS: [&str; 2] = ["hyper", "blocking"];

/// What a run of the binary produced.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit status (`None` when killed by a signal).
    pub(crate) status: Option<i32>,
    /// Everything written to stdout.
    pub(crate) stdout: String,
    /// Everything written to stderr.
    pub(crate) stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Run {
        Run {
            status: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Asserts a successful run with nothing on stderr, and returns stdout.
    #[track_caller]
    pub(crate) fn success(&self) -> &str {
        assert_eq!(self.status, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        &self.stdout
    }

    /// Asserts the exit status and one `error: ` line on stderr, and returns that line.
    #[track_caller]
    pub(crate) fn failure(&self, status: i32) -> &str {
        assert_eq!(self.status, Some(status), "{self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            !line.contains('\n'),
            "more than one line on stderr: {self:#?}"
        );
        assert!(line.starts_with("error: "), "{self:#?}");
        line
    }

    /// stdout parsed as one JSON document.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:#?}"))
    }
}

/// The binary, with a clean environment: no key, model, base URL or log settings
/// from the person running the tests, stdin empty.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexllm"));
    for var in [
        "NEXLLM_API_KEY",
        "NEXLLM_BASE_URL",
        "NEXLLM_MODEL",
        "RUST_LOG",
    ]
    .into_iter()
    .chain(nexllm_proto::proxy_env::PROXY_VARIABLES)
    {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs the binary with these arguments against `server` (by `NEXLLM_BASE_URL`).
pub(crate) fn nexllm(server: &MockServer, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.env("NEXLLM_BASE_URL", server.base_url()).args(args);
    run(cmd)
}

/// Runs the binary with these arguments and this text on stdin.
pub(crate) fn nexllm_with_stdin(server: &MockServer, args: &[&str], stdin: &str) -> Run {
    let mut cmd = command();
    cmd.env("NEXLLM_BASE_URL", server.base_url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Run::from_output(child.wait_with_output().unwrap())
}

/// Runs the binary with these arguments and a stdout that nobody reads: a
/// pipe whose reader has already exited, so every write to it fails with
/// `EPIPE` (as under `nexllm … | head -0` once `head` is gone). The run's
/// `stdout` is empty.
#[cfg(unix)]
pub(crate) fn nexllm_with_closed_stdout(server: &MockServer, args: &[&str]) -> Run {
    // `true` exits without reading its stdin; once it has, the write end
    // handed to `nexllm` is a pipe without a reader.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let closed = reader.stdin.take().unwrap();
    assert!(reader.wait().unwrap().success());
    let mut cmd = command();
    cmd.env("NEXLLM_BASE_URL", server.base_url())
        .args(args)
        .stdout(Stdio::from(closed))
        .stderr(Stdio::piped());
    let output = cmd.spawn().unwrap().wait_with_output().unwrap();
    Run::from_output(output)
}

/// Runs a prepared command to its end.
pub(crate) fn run(mut cmd: Command) -> Run {
    Run::from_output(cmd.output().unwrap())
}

/// A base URL on which nothing listens.
pub(crate) fn dead_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// Writes `body` to a fresh temporary file and returns its path.
pub(crate) fn temp_file(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nexllm-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A request body offering one `get_weather` tool to `mock-tools`.
pub(crate) fn weather_request() -> serde_json::Value {
    serde_json::json!({
        "model": "mock-tools",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }
            }
        }]
    })
}
