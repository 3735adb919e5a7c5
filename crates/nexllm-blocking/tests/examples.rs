//! The README's quick start, as written: the examples run against nexllm-mock
//! with `NEXLLM_BASE_URL` and `NEXLLM_API_KEY` set, and the README shows their
//! code verbatim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail the test loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nexllm_mock::MockServer;

const KEY: &str = "sk-test";

/// `cargo test` builds the examples next to the test binaries:
/// `target/<profile>/examples/<name>`, the tests being in `target/<profile>/deps`.
fn example(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(Path::parent).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

fn run(name: &str, server: &MockServer, args: &[&str]) -> Output {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .env("NEXLLM_BASE_URL", server.base_url())
        .env("NEXLLM_API_KEY", KEY)
        .env_remove("NEXLLM_MODEL");
    for var in nexllm_proto::proxy_env::PROXY_VARIABLES {
        command.env_remove(var);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_chat_example_prints_the_answer() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let output = run("blocking_chat", &server, &["Say", "it", "back"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Say it back\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("request id req_mock_1, 1 attempt(s)"),
        "{stderr}"
    );
    let body = server.requests()[0].body_json().unwrap();
    assert_eq!(body["model"], "mock-echo");
}

#[test]
fn the_stream_example_prints_the_answer_and_the_usage() {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let output = run("blocking_stream", &server, &["one", "two", "three"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "one two three\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(" tokens"), "{stderr}");
    let body = server.requests()[0].body_json().unwrap();
    assert_eq!(body["stream"], true);
}

/// The example's code from its first `use` on: what the README shows.
fn example_code(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.rs"));
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("\nuse ").unwrap() + 1;
    text[start..].to_owned()
}

#[test]
fn the_readme_shows_the_examples_verbatim() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in ["chat", "stream"] {
        let block = format!("```rust,no_run\n{}```", example_code(name));
        assert!(
            readme.contains(&block),
            "README.md does not show examples/{name}.rs as it is"
        );
    }
    for command in [
        "cargo run -p nexllm-mock -- --port 8080 --api-key sk-test",
        "export NEXLLM_BASE_URL=http://127.0.0.1:8080/v1 NEXLLM_API_KEY=sk-test",
        "cargo run -p nexllm-blocking --example blocking_chat -- \"Say it back\"",
        "cargo run -p nexllm-blocking --example blocking_stream -- \"one two three\"",
    ] {
        assert!(readme.contains(command), "README.md lost {command:?}");
    }
}
