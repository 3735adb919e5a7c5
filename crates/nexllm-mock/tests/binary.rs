//! The `nexllm-mock` binary prints its base URL and serves until stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use common::{CHAT, RawRequest, chat_body};
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_nexllm-mock");

/// Starts the binary with `args` and reads the first line it prints (its base URL).
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BINARY)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first_line = String::new();
    BufReader::new(stdout).read_line(&mut first_line).unwrap();
    (child, first_line)
}

#[tokio::test]
async fn prints_its_base_url_and_serves() {
    let (mut child, first_line) = start(&["--port", "0", "--api-key", "sk-bin"]);
    let base_url = first_line.trim_end();
    let authority = base_url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("{base_url}"));
    let addr: SocketAddr = authority.parse().unwrap();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let body = chat_body("mock-echo", "from the binary", json!({}));
    let denied = RawRequest::post(CHAT, body.clone()).send(addr).await;
    assert_eq!(denied.status, 401);
    let answered = RawRequest::post(CHAT, body)
        .header("authorization", "Bearer sk-bin")
        .send(addr)
        .await;
    assert_eq!(answered.status, 200);
    assert_eq!(
        answered.json()["choices"][0]["message"]["content"],
        "from the binary"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn rejects_unknown_arguments() {
    let output = Command::new(BINARY).arg("--bogus").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bogus"));
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--port"));
}

#[cfg(unix)]
#[test]
fn sigterm_as_soon_as_the_url_is_printed_stops_it_cleanly() {
    // A supervisor may send SIGTERM the moment it has read the base URL; the handler
    // must already be listening then, or the default action kills the process.
    for attempt in 0..100 {
        let (mut child, first_line) = start(&["--port", "0"]);
        assert!(first_line.starts_with("http://127.0.0.1:"), "{first_line}");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "attempt {attempt}: SIGTERM right after the URL line ended it with {status}"
        );
    }
}
