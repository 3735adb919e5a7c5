//! The examples and the README's quick start, run as a user would against nexllm-mock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fail loudly

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use nexllm_mock::MockServer;

const KEY: &str = "sk-examples-test";

/// The directory cargo puts example binaries in. `cargo test` builds the
/// examples; when this test target was built alone (`--test examples`) they may
/// be missing or older than their source, and are built here.
fn examples_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
            let dir = profile_dir.join("examples");
            let source_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
            let up_to_date = ["quickstart", "chat", "stream", "tools", "custom_transport"]
                .iter()
                .all(|name| {
                    let built = std::fs::metadata(dir.join(name)).and_then(|m| m.modified());
                    let source = std::fs::metadata(source_dir.join(format!("{name}.rs")))
                        .and_then(|m| m.modified());
                    matches!((built, source), (Ok(built), Ok(source)) if built >= source)
                });
            if !up_to_date {
                let status = Command::new(env!("CARGO"))
                    .args(["build", "-p", "nexllm-hyper", "--examples"])
                    .status()
                    .unwrap();
                assert!(status.success(), "building the examples failed");
            }
            dir
        })
        .clone()
}

/// Runs an example against a fresh mock and returns its stdout.
fn run(example: &str, args: &[&str]) -> (String, MockServer) {
    let server = MockServer::builder().api_key(KEY).start_blocking().unwrap();
    let mut command = Command::new(examples_dir().join(example));
    command
        .args(args)
        .env("NEXLLM_API_KEY", KEY)
        .env("NEXLLM_BASE_URL", server.base_url())
        .env_remove("NEXLLM_MODEL");
    for var in nexllm_proto::proxy_env::PROXY_VARIABLES {
        command.env_remove(var);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{example} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, server)
}

#[test]
fn the_readme_quick_start_is_the_quickstart_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    // `no_run`: the nexllm-docs crate compiles it as a doctest; running it would
    // need a real key. This test runs the same code as the quickstart example.
    let fence = "```rust,no_run\n";
    let start = readme
        .find(fence)
        .expect("the quick start block in the README")
        + fence.len();
    let length = readme[start..].find("```").unwrap();
    let block = &readme[start..start + length];
    let example = std::fs::read_to_string(format!("{root}/examples/quickstart.rs")).unwrap();
    let body: Vec<&str> = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.starts_with("#![") || line.is_empty())
        .collect();
    assert_eq!(block.trim_end(), body.join("\n").trim_end());
}

#[test]
fn the_quick_start_works_as_written() {
    let (stdout, server) = run("quickstart", &[]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "Say it back.");
    assert_eq!(lines[1], "Say it back.");
    assert_eq!(lines[2], "request id: req_mock_2");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn the_chat_example_prints_the_answer_and_the_response_facts() {
    let (stdout, _server) = run("chat", &["echo me back"]);
    assert!(stdout.starts_with("echo me back\n"), "{stdout}");
    assert!(
        stdout.contains("request id: req_mock_1, attempts: 1"),
        "{stdout}"
    );
    assert!(stdout.contains("tokens: "), "{stdout}");
}

#[test]
fn the_stream_example_prints_the_stream_and_its_usage() {
    let (stdout, _server) = run("stream", &["one two three"]);
    assert!(stdout.starts_with("one two three\n"), "{stdout}");
    assert!(stdout.contains("finish reason: Some(Stop)"), "{stdout}");
    assert!(stdout.contains("total tokens: "), "{stdout}");
}

#[test]
fn the_tools_example_completes_a_round_trip() {
    let (stdout, server) = run("tools", &[]);
    assert!(
        stdout.contains(r#"tool call get_weather({"city":"Paris"}) -> 18°C and sunny in Paris"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("answer: Based on get_weather: 18°C and sunny in Paris"),
        "{stdout}"
    );
    let second = server.requests()[1].body_json().unwrap();
    assert_eq!(second["messages"][2]["role"], "tool");
}

#[test]
fn the_custom_transport_example_sees_every_request() {
    let (stdout, _server) = run("custom_transport", &[]);
    assert!(
        stdout.contains("#1 POST /v1/chat/completions -> 200 OK"),
        "{stdout}"
    );
    assert!(stdout.contains("#2 GET /v1/models -> 200 OK"), "{stdout}");
    assert!(stdout.contains("answer: through my transport"), "{stdout}");
    assert!(stdout.contains("2 requests sent"), "{stdout}");
    assert!(!stdout.contains(KEY), "{stdout}");
}
