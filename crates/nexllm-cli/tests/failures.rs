//! Every way `nexllm` can fail, through the real binary against nexllm-mock: the
//! error line, the exit status, what was already received, and the key kept secret.

mod common;

use common::{
    TRANSPORTS, command, dead_base_url, nexllm, nexllm_with_stdin, run, temp_file, weather_request,
};
use nexllm_mock::MockServer;
use serde_json::json;

#[test]
fn a_rate_limit_is_retried_then_reported_in_one_line() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        server.clear_requests();
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "--transport",
                transport,
                "-H",
                "x-mock-fault: status=429;retry-after-ms=1",
                "hi",
            ],
        );
        let line = run.failure(1);
        assert!(
            line.starts_with("error: 429 Too Many Requests (rate_limit_exceeded): "),
            "{transport}: {line}"
        );
        let last_id = server.requests().last().unwrap().request_id.clone();
        assert!(
            line.ends_with(&format!("[request id {last_id}] after 3 attempts")),
            "{transport}: {line}"
        );
        assert_eq!(
            server.requests().len(),
            3,
            "{transport}: 2 retries by default"
        );
        assert_eq!(run.stdout, "", "{transport}");
    }
}

#[test]
fn max_retries_is_honoured_and_a_retry_can_succeed() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        server.reset();
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "--max-retries",
                "0",
                "--transport",
                transport,
                "-H",
                "x-mock-fault: status=503",
                "hi",
            ],
        );
        let line = run.failure(1);
        assert!(
            line.starts_with("error: 503 Service Unavailable"),
            "{transport}: {line}"
        );
        assert!(
            !line.contains("attempts"),
            "{transport}: one attempt: {line}"
        );
        assert_eq!(server.requests().len(), 1, "{transport}");

        server.reset();
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "--transport",
                transport,
                "-H",
                "x-mock-fault: fail-first=2;status=503;retry-after-ms=1",
                "third time lucky",
            ],
        );
        assert_eq!(run.success(), "third time lucky\n", "{transport}");
        assert_eq!(server.requests().len(), 3, "{transport}");
    }
}

#[test]
fn api_errors_exit_with_status_1() {
    let server = MockServer::builder()
        .api_key("sk-right")
        .start_blocking()
        .unwrap();
    for transport in TRANSPORTS {
        let cases: [(&[&str], &str); 4] = [
            (
                &["chat", "-m", "mock-echo", "hi"],
                "error: 401 Unauthorized",
            ),
            (
                &["chat", "-m", "no-such-model", "--api-key", "sk-right", "hi"],
                "error: 404 Not Found (model_not_found): ",
            ),
            (
                &[
                    "chat",
                    "-m",
                    "mock-echo",
                    "--api-key",
                    "sk-right",
                    "-H",
                    "x-mock-fault: status=400;message=bad thing;param=foo;code=invalid_value",
                    "hi",
                ],
                "error: 400 Bad Request (invalid_value): bad thing",
            ),
            (&["models"], "error: 401 Unauthorized"),
        ];
        for (args, want) in cases {
            let mut args = args.to_vec();
            args.extend(["--transport", transport]);
            let run = nexllm(&server, &args);
            let line = run.failure(1);
            assert!(line.starts_with(want), "{transport} {args:?}: {line}");
            assert!(
                line.contains("[request id req_mock_"),
                "{transport}: {line}"
            );
            assert_eq!(run.stdout, "", "{transport}");
        }
    }
}

#[test]
fn an_error_message_with_newlines_and_escapes_stays_on_one_line() {
    let server = MockServer::start_blocking().unwrap();
    let file = temp_file(
        "multiline-error.json",
        &json!({
            "model": "mock-fault:status=400;message=line one\nline two \u{1b}[31mred",
            "messages": [{"role": "user", "content": "hi"}]
        })
        .to_string(),
    );
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "--transport",
                transport,
                "--request",
                file.to_str().unwrap(),
            ],
        );
        let line = run.failure(1);
        assert!(
            line.contains("line one\\nline two \\u{1b}[31mred"),
            "{transport}: {line}"
        );
    }
}

#[test]
fn connection_failures_and_timeouts_exit_with_status_1() {
    let server = MockServer::start_blocking().unwrap();
    let dead = dead_base_url();
    for transport in TRANSPORTS {
        let mut cmd = command();
        cmd.args([
            "chat",
            "-m",
            "mock-echo",
            "--max-retries",
            "0",
            "--base-url",
            &dead,
            "--transport",
            transport,
            "hi",
        ]);
        let run = run(cmd);
        let line = run.failure(1);
        assert!(line.len() > "error: ".len(), "{transport}: {line}");

        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "--max-retries",
                "0",
                "--timeout",
                "0.3",
                "-H",
                "x-mock-fault: delay-head=20s",
                "--transport",
                transport,
                "hi",
            ],
        );
        let line = run.failure(1);
        assert_eq!(
            line, "error: the call did not finish within 300ms",
            "{transport}"
        );
    }
}

#[test]
fn a_stream_cut_midway_keeps_what_was_printed() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        // Chunks: the role, "one", " two", then the connection is aborted.
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-fault:close-after=3",
                "--transport",
                transport,
                "one two three four five",
            ],
        );
        let line = run.failure(1);
        assert!(
            line.contains("cut short after 3 chunks"),
            "{transport}: {line}"
        );
        assert!(!line.contains("attempts"), "not retried: {line}");
        assert_eq!(run.stdout, "one two\n", "{transport}");
    }
}

#[test]
fn a_stream_cut_midway_shows_the_other_choices_and_tool_calls_received() {
    let server = MockServer::start_blocking().unwrap();
    let several = temp_file(
        "cut-choices.json",
        &json!({"model": "mock-fault:close-after=5", "n": 2,
                "messages": [{"role": "user", "content": "one two three four"}]})
        .to_string(),
    );
    let tools = temp_file("cut-tools.json", &weather_request().to_string());
    for transport in TRANSPORTS {
        // Chunks: two roles, "one" for each choice, " two" for the first, then the abort.
        let run = nexllm(
            &server,
            &[
                "chat",
                "--transport",
                transport,
                "--request",
                several.to_str().unwrap(),
            ],
        );
        assert!(
            run.failure(1).contains("cut short"),
            "{transport}: {run:#?}"
        );
        assert_eq!(run.stdout, "one two\n[choice 1]\none\n", "{transport}");

        // Chunks: the call's id and name, then two pieces of its arguments.
        let run = nexllm(
            &server,
            &[
                "chat",
                "--transport",
                transport,
                "-H",
                "x-mock-fault: close-after=3",
                "--request",
                tools.to_str().unwrap(),
            ],
        );
        assert!(
            run.failure(1).contains("cut short"),
            "{transport}: {run:#?}"
        );
        assert!(
            run.stdout.starts_with("[tool call call_mock_")
                && run.stdout.ends_with("] get_weather({\"city\":\"Par)\n"),
            "{transport}: {run:#?}"
        );
    }
}

#[test]
fn json_prints_the_partial_completion_before_the_error() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        for (model, partial) in [
            ("mock-fault:close-after=3", "one two"),
            ("mock-fault:error-event-after=2", "one"),
        ] {
            let run = nexllm(
                &server,
                &[
                    "chat",
                    "--json",
                    "-m",
                    model,
                    "--transport",
                    transport,
                    "one two three four five",
                ],
            );
            let line = run.failure(1).to_owned();
            let doc = run.json();
            assert_eq!(doc["object"], "chat.completion", "{transport} {model}");
            assert!(doc["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
            assert_eq!(
                doc["choices"][0]["message"]["content"], partial,
                "{transport} {model}"
            );
            assert!(
                doc["choices"][0]["finish_reason"].is_null(),
                "{transport} {model}"
            );
            if model.contains("error-event") {
                assert!(line.contains("server_error"), "{transport}: {line}");
            }
        }
    }
}

#[test]
fn an_idle_stream_times_out_after_its_first_chunks() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "--json",
                "-m",
                "mock-fault:stall=20s",
                "--idle-timeout",
                "0.3",
                "--max-retries",
                "0",
                "--transport",
                transport,
                "one two",
            ],
        );
        let line = run.failure(1);
        assert_eq!(
            line, "error: the server sent nothing for 300ms",
            "{transport}"
        );
        assert_eq!(
            run.json()["choices"][0]["message"]["role"],
            "assistant",
            "{transport}"
        );
    }
}

#[test]
fn usage_errors_exit_with_status_2_and_send_nothing() {
    let server = MockServer::start_blocking().unwrap();
    let bad_json = temp_file("bad.json", "{ not json");
    let not_object = temp_file("array.json", "[1, 2]");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["chat", "hi"], "no model"),
        (
            vec!["chat", "-m", "mock-echo", "--header", "no colon", "hi"],
            "--header",
        ),
        (
            vec!["chat", "-m", "mock-echo", "--header", "bad name: v", "hi"],
            "header",
        ),
        (
            vec!["chat", "-m", "mock-echo", "--timeout", "soon", "hi"],
            "--timeout",
        ),
        (
            vec!["chat", "-m", "mock-echo", "--idle-timeout=-1", "hi"],
            "--idle-timeout",
        ),
        (
            vec![
                "chat",
                "-m",
                "mock-echo",
                "--transport",
                "carrier-pigeon",
                "hi",
            ],
            "--transport",
        ),
        (vec!["chat", "-m", "mock-echo", "--bogus", "hi"], "--bogus"),
        (
            vec!["chat", "-m", "mock-echo", "--temperature", "5", "hi"],
            "temperature",
        ),
        (
            vec![
                "chat",
                "-m",
                "mock-echo",
                "--base-url",
                "localhost:1234",
                "hi",
            ],
            "base_url",
        ),
        (
            vec![
                "chat",
                "-m",
                "mock-echo",
                "--request",
                bad_json.to_str().unwrap(),
            ],
            "not valid JSON",
        ),
        (
            vec![
                "chat",
                "-m",
                "mock-echo",
                "--request",
                not_object.to_str().unwrap(),
            ],
            "JSON object",
        ),
        (
            vec![
                "chat",
                "-m",
                "mock-echo",
                "--request",
                "/nonexistent/req.json",
            ],
            "/nonexistent/req.json",
        ),
        (
            vec!["chat", "-m", "mock-echo", "--request", "-", "-"],
            "stdin cannot hold both",
        ),
        (vec!["chat", "-m", "mock-echo"], "the prompt is empty"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, want) in cases {
        let run = nexllm(&server, &args);
        assert_eq!(run.status, Some(2), "{args:?}: {run:#?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains(want),
            "{args:?} should mention {want:?}: {run:#?}"
        );
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let run = nexllm_with_stdin(&server, &["chat", "-m", "mock-echo"], "  \n\n");
    assert_eq!(run.failure(2), "error: the prompt is empty");
    assert!(
        server.requests().is_empty(),
        "nothing may be sent: {:?}",
        server.requests()
    );
}

#[test]
fn the_default_endpoint_needs_a_key() {
    let mut cmd = command();
    cmd.args(["chat", "-m", "gpt-4o", "hi"]);
    let run = run(cmd);
    assert!(run.failure(2).contains("NEXLLM_API_KEY"), "{run:#?}");
}

#[test]
fn the_key_never_appears_in_output_errors_or_logs() {
    const SECRET: &str = "sk-secret-XYZ";
    let server = MockServer::builder()
        .api_key("sk-right-key-123")
        .start_blocking()
        .unwrap();
    for transport in TRANSPORTS {
        for verbosity in [("RUST_LOG", "trace"), ("", "-vv"), ("", "-vvv")] {
            for by_env in [false, true] {
                for args in [
                    &["chat", "-m", "mock-echo", "hi"][..],
                    &["chat", "--no-stream", "-m", "mock-echo", "hi"][..],
                    &["models"][..],
                ] {
                    let mut cmd = command();
                    cmd.env("NEXLLM_BASE_URL", server.base_url())
                        .args(args)
                        .args(["--transport", transport]);
                    if verbosity.0.is_empty() {
                        cmd.arg(verbosity.1);
                    } else {
                        cmd.env(verbosity.0, verbosity.1);
                    }
                    if by_env {
                        cmd.env("NEXLLM_API_KEY", SECRET);
                    } else {
                        cmd.args(["--api-key", SECRET]);
                    }
                    let run = run(cmd);
                    let what = format!("{transport} {verbosity:?} env: {by_env} {args:?}");
                    assert_eq!(run.status, Some(1), "{what}: {run:#?}");
                    assert!(run.stderr.contains("401 Unauthorized"), "{what}: {run:#?}");
                    assert!(!run.stdout.contains(SECRET), "{what}: {run:#?}");
                    assert!(!run.stderr.contains(SECRET), "{what}: {run:#?}");
                    assert!(!run.stderr.contains("secret-XYZ"), "{what}: {run:#?}");
                }
            }
        }

        // A call that works logs no key either.
        let mut cmd = command();
        cmd.env("NEXLLM_BASE_URL", server.base_url())
            .env("RUST_LOG", "trace")
            .env("NEXLLM_API_KEY", "sk-right-key-123")
            .args(["chat", "-m", "mock-echo", "--transport", transport, "fine"]);
        let run = run(cmd);
        assert_eq!(run.status, Some(0), "{transport}: {run:#?}");
        assert_eq!(run.stdout, "fine\n");
        assert!(
            !run.stderr.contains("sk-right-key-123"),
            "{transport}: {run:#?}"
        );
        assert!(!run.stderr.is_empty(), "{transport}: trace logging is on");
    }

    // --help shows where the key comes from, never its value.
    let mut cmd = command();
    cmd.env("NEXLLM_API_KEY", SECRET).args(["chat", "--help"]);
    let run = run(cmd);
    assert!(run.success().contains("NEXLLM_API_KEY"));
    assert!(!run.stdout.contains(SECRET));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_streamed_answer_cleanly() {
    use std::io::Read;
    use std::process::Stdio;

    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let words = "a b c d e f g h i j k l m n o p q r s t";
        let mut child = command()
            .env("NEXLLM_BASE_URL", server.base_url())
            .args([
                "chat",
                "-m",
                "mock-fault:stall=200ms",
                "--transport",
                transport,
                words,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        // The first word is flushed as soon as it arrives: wait for it.
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"a", "{transport}");
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(130), "{transport}: {stderr}");
        assert_eq!(stderr, "error: interrupted\n", "{transport}");
        let shown = format!("a{rest}");
        assert!(
            shown.ends_with('\n'),
            "{transport}: the line is ended: {shown:?}"
        );
        assert!(
            words.starts_with(shown.trim_end()) && shown.trim_end().len() < words.len(),
            "{transport}: a prefix of the answer, not all of it: {shown:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_does_not_hide_a_failed_call() {
    use common::nexllm_with_closed_stdout;

    let server = MockServer::start_blocking().unwrap();
    let tools = temp_file("closed-tools.json", &weather_request().to_string());
    let tools = tools.to_str().unwrap();
    for transport in TRANSPORTS {
        // Each call fails after answering something that is written only
        // once the call has ended: the partial completion of --json, the
        // tool call received before the cut. Writing it fails with EPIPE;
        // the exit status is the call's.
        for args in [
            vec![
                "chat",
                "--json",
                "-m",
                "mock-fault:close-after=3",
                "one two three",
            ],
            vec![
                "chat",
                "--json",
                "-m",
                "mock-fault:error-event-after=2",
                "one two three",
            ],
            vec![
                "chat",
                "-H",
                "x-mock-fault: close-after=3",
                "--request",
                tools,
            ],
            // Nothing to write: the status was already the call's.
            vec![
                "chat",
                "--no-stream",
                "-m",
                "mock-fault:status=500;should-retry=false",
                "hi",
            ],
        ] {
            let args = [&args[..], &["--transport", transport]].concat();
            let run = nexllm_with_closed_stdout(&server, &args);
            run.failure(1);
        }
        // A call that succeeds ends well, however its answer is written.
        for args in [
            vec!["chat", "-m", "mock-echo", "one two three"],
            vec!["chat", "--no-stream", "-m", "mock-echo", "one two three"],
            vec!["chat", "--json", "-m", "mock-echo", "one two three"],
            vec!["chat", "--request", tools],
            vec!["models"],
        ] {
            let args = [&args[..], &["--transport", transport]].concat();
            let run = nexllm_with_closed_stdout(&server, &args);
            assert_eq!(run.status, Some(0), "{args:?}: {run:#?}");
            assert_eq!(run.stderr, "", "{args:?}");
        }
    }
}

#[test]
fn stdin_over_the_input_limit_is_refused_before_sending() {
    let server = MockServer::start_blocking().unwrap();
    // One byte over 64 MiB: without a limit it would be read whole and sent.
    let big = "a".repeat(64 * 1024 * 1024 + 1);
    for (args, want) in [
        (
            &["chat", "-m", "mock-echo"][..],
            "error: the prompt on stdin is over 64 MiB",
        ),
        (
            &["chat", "-m", "mock-echo", "--request", "-", "hi"][..],
            "error: the --request body on stdin is over 64 MiB",
        ),
    ] {
        let run = nexllm_with_stdin(&server, args, &big);
        assert_eq!(run.failure(2), want, "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
    assert!(
        server.requests().is_empty(),
        "{:?}",
        server.requests().len()
    );
}
