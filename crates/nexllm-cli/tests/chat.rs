//! `nexllm chat` and `nexllm models` against nexllm-mock, through the real binary, with both transports.

mod common;

use common::{TRANSPORTS, nexllm, nexllm_with_stdin, temp_file, weather_request};
use nexllm_mock::MockServer;
use serde_json::json;

#[test]
fn streams_the_answer_to_stdout() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "--transport",
                transport,
                "The quick brown fox jumps",
            ],
        );
        assert_eq!(run.success(), "The quick brown fox jumps\n", "{transport}");
        let body = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(body["stream"], true, "{transport}");
        assert_eq!(body["model"], "mock-echo");
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "The quick brown fox jumps"}])
        );
        assert!(body.get("stream_options").is_none(), "{transport}: {body}");
    }
}

#[test]
fn no_stream_prints_the_whole_answer() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "--no-stream",
                "-m",
                "mock-echo",
                "--transport",
                transport,
                "Say this back",
            ],
        );
        assert_eq!(run.success(), "Say this back\n", "{transport}");
        let body = server.requests().last().unwrap().body_json().unwrap();
        assert!(body.get("stream").is_none(), "{transport}: {body}");
    }
}

#[test]
fn json_prints_one_chat_completion_document() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        for streamed in [false, true] {
            let mut args = vec![
                "chat",
                "--json",
                "-m",
                "mock-echo",
                "--transport",
                transport,
            ];
            if !streamed {
                args.push("--no-stream");
            }
            args.push("one two three");
            let run = nexllm(&server, &args);
            run.success();
            let doc = run.json();
            let what = format!("{transport}, streamed: {streamed}");
            assert_eq!(doc["object"], "chat.completion", "{what}");
            assert!(
                doc["id"].as_str().unwrap().starts_with("chatcmpl-mock-"),
                "{what}"
            );
            assert_eq!(doc["model"], "mock-echo", "{what}");
            assert_eq!(doc["choices"][0]["index"], 0, "{what}");
            assert_eq!(doc["choices"][0]["message"]["role"], "assistant", "{what}");
            assert_eq!(
                doc["choices"][0]["message"]["content"], "one two three",
                "{what}"
            );
            assert_eq!(doc["choices"][0]["finish_reason"], "stop", "{what}");
            // A stream asks for its usage, so both documents carry it.
            assert_eq!(doc["usage"]["completion_tokens"], 4, "{what}");
            assert!(doc["usage"]["total_tokens"].as_u64().unwrap() > 4, "{what}");
            let body = server.requests().last().unwrap().body_json().unwrap();
            if streamed {
                assert_eq!(
                    body["stream_options"],
                    json!({"include_usage": true}),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn usage_goes_to_stderr() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        for extra in [None, Some("--no-stream")] {
            let mut args = vec![
                "chat",
                "--usage",
                "-m",
                "mock-echo",
                "--transport",
                transport,
            ];
            args.extend(extra);
            args.push("one two three");
            let run = nexllm(&server, &args);
            assert_eq!(run.status, Some(0), "{run:#?}");
            assert_eq!(run.stdout, "one two three\n", "{transport} {extra:?}");
            // "tokens: P prompt + 4 completion = T total", with T = P + 4.
            let words: Vec<&str> = run.stderr.split_whitespace().collect();
            assert_eq!(words.len(), 9, "{transport} {extra:?}: {}", run.stderr);
            assert_eq!(
                [words[0], words[2], words[3], words[5], words[6], words[8]],
                ["tokens:", "prompt", "+", "completion", "=", "total"]
            );
            let prompt: u64 = words[1].parse().unwrap();
            assert_eq!(words[4], "4", "{transport} {extra:?}");
            assert_eq!(words[7], (prompt + 4).to_string(), "{transport} {extra:?}");
        }
    }
}

#[test]
fn options_shape_the_request() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "-m",
                "mock-echo",
                "-s",
                "Be brief.",
                "--max-tokens",
                "2",
                "--temperature",
                "0.25",
                "--header",
                "x-team: search",
                "-H",
                "X-Trace:a:b",
                "--transport",
                transport,
                "one two three four",
            ],
        );
        // max_tokens 2 cuts the echo to its first word (the mock counts 4 tokens per 3 words).
        assert_eq!(run.success(), "one\n", "{transport}");
        let request = server.requests().last().unwrap().clone();
        let body = request.body_json().unwrap();
        assert_eq!(body["max_tokens"], 2, "{transport}");
        assert_eq!(body["temperature"], 0.25, "{transport}");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "one two three four"}
            ]),
            "{transport}"
        );
        assert_eq!(request.header("x-team"), Some("search"), "{transport}");
        assert_eq!(request.header("x-trace"), Some("a:b"), "{transport}");
        assert_eq!(
            request.header("authorization"),
            None,
            "{transport}: no key given"
        );
    }
}

#[test]
fn the_model_can_come_from_the_environment() {
    let server = MockServer::start_blocking().unwrap();
    let mut cmd = common::command();
    cmd.env("NEXLLM_BASE_URL", server.base_url())
        .env("NEXLLM_MODEL", "gpt-4o")
        .args(["chat", "from the environment"]);
    assert_eq!(common::run(cmd).success(), "from the environment\n");
    let body = server.requests().last().unwrap().body_json().unwrap();
    assert_eq!(body["model"], "gpt-4o");
}

#[test]
fn the_environment_model_does_not_override_a_request_file() {
    let server = MockServer::start_blocking().unwrap();
    let file = temp_file(
        "env-model.json",
        &json!({"model": "mock-echo", "messages": [{"role": "user", "content": "file"}]})
            .to_string(),
    );
    let file = file.to_str().unwrap();
    for (flag, want) in [
        (None, "mock-echo"),
        (Some("aws/claude-haiku-4-5"), "aws/claude-haiku-4-5"),
    ] {
        let mut cmd = common::command();
        cmd.env("NEXLLM_BASE_URL", server.base_url())
            .env("NEXLLM_MODEL", "gpt-4o")
            .args(["chat", "--request", file]);
        if let Some(model) = flag {
            cmd.args(["-m", model]);
        }
        assert_eq!(common::run(cmd).success(), "file\n", "{flag:?}");
        let body = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(body["model"], want, "-m {flag:?}");
    }
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let server = MockServer::start_blocking().unwrap();
    for args in [
        &["chat", "-m", "mock-echo"][..],
        &["chat", "-m", "mock-echo", "-"][..],
    ] {
        let run = nexllm_with_stdin(&server, args, "piped words\nand a second line\n");
        assert_eq!(
            run.success(),
            "piped words\nand a second line\n",
            "{args:?}"
        );
        let body = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            "piped words\nand a second line"
        );
    }
}

#[test]
fn a_request_file_passes_through_and_options_override_it() {
    let server = MockServer::start_blocking().unwrap();
    let file = temp_file(
        "passthrough.json",
        &json!({
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "from the file"}],
            "temperature": 1.5,
            "top_k": 40,
            "provider": {"order": ["a", "b"], "allow_fallbacks": false},
            "metadata": {"run": "42"},
            "seed": 7
        })
        .to_string(),
    );
    let file = file.to_str().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &[
                "chat",
                "--request",
                file,
                "-m",
                "mock-echo",
                "--temperature",
                "0",
                "--transport",
                transport,
            ],
        );
        assert_eq!(run.success(), "from the file\n", "{transport}");
        let body = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(body["model"], "mock-echo", "{transport}");
        assert_eq!(body["temperature"], 0.0, "{transport}");
        assert_eq!(body["top_k"], 40, "{transport}");
        assert_eq!(
            body["provider"],
            json!({"order": ["a", "b"], "allow_fallbacks": false})
        );
        assert_eq!(body["metadata"], json!({"run": "42"}));
        assert_eq!(body["seed"], 7);
        assert_eq!(body["stream"], true);
    }

    // A prompt argument is appended to the file's messages.
    let run = nexllm(
        &server,
        &["chat", "--request", file, "and from the argument"],
    );
    assert_eq!(run.success(), "and from the argument\n");
    let body = server.requests().last().unwrap().body_json().unwrap();
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["messages"].as_array().unwrap().len(), 2);
}

#[test]
fn a_request_body_can_come_from_stdin() {
    let server = MockServer::start_blocking().unwrap();
    let body = json!({"model": "mock-echo", "stream": false, "messages": [{"role": "user", "content": "via stdin"}], "user": "u-1"});
    let run = nexllm_with_stdin(&server, &["chat", "--request", "-"], &body.to_string());
    assert_eq!(run.success(), "via stdin\n");
    let sent = server.requests().last().unwrap().body_json().unwrap();
    assert_eq!(sent["user"], "u-1");
    assert!(
        sent.get("stream").is_none(),
        "the file asked for no stream: {sent}"
    );
}

#[test]
fn metadata_with_any_values_is_sent_as_given() {
    let server = MockServer::start_blocking().unwrap();
    let metadata = json!({"tags": ["a", "b"], "trace_id": 7, "nested": {"k": null}});
    let body = json!({
        "model": "mock-echo",
        "messages": [{"role": "user", "content": "tagged"}],
        "metadata": metadata
    })
    .to_string();
    let file = temp_file("metadata.json", &body);
    let file = file.to_str().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(
            &server,
            &["chat", "--request", file, "--transport", transport],
        );
        assert_eq!(run.success(), "tagged\n", "{transport}");
        let sent = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(sent["metadata"], metadata, "{transport}");
    }
    let run = nexllm_with_stdin(&server, &["chat", "--request", "-"], &body);
    assert_eq!(run.success(), "tagged\n");
    let sent = server.requests().last().unwrap().body_json().unwrap();
    assert_eq!(sent["metadata"], metadata);
}

#[test]
fn a_tool_call_round_trip() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        // Step 1: the model calls the tool.
        let first = temp_file(
            &format!("tools-{transport}.json"),
            &weather_request().to_string(),
        );
        let run = nexllm(
            &server,
            &[
                "chat",
                "--json",
                "--request",
                first.to_str().unwrap(),
                "--transport",
                transport,
            ],
        );
        run.success();
        let completion = run.json();
        assert_eq!(
            completion["choices"][0]["finish_reason"], "tool_calls",
            "{transport}"
        );
        let call = completion["choices"][0]["message"]["tool_calls"][0].clone();
        assert_eq!(call["function"]["name"], "get_weather", "{transport}");
        assert_eq!(
            call["function"]["arguments"], r#"{"city":"Paris"}"#,
            "{transport}"
        );

        // The text view shows the call.
        let text = nexllm(
            &server,
            &[
                "chat",
                "--request",
                first.to_str().unwrap(),
                "--transport",
                transport,
            ],
        );
        assert!(
            text.success().starts_with("[tool call call_")
                && text.stdout.ends_with("get_weather({\"city\":\"Paris\"})\n"),
            "{transport}: {text:#?}"
        );

        // Step 2: send the result back.
        let mut second = weather_request();
        let messages = second["messages"].as_array_mut().unwrap();
        messages.push(completion["choices"][0]["message"].clone());
        messages
            .push(json!({"role": "tool", "tool_call_id": call["id"], "content": "18°C, sunny"}));
        let second = temp_file(
            &format!("tools-result-{transport}.json"),
            &second.to_string(),
        );
        let run = nexllm(
            &server,
            &[
                "chat",
                "--request",
                second.to_str().unwrap(),
                "--transport",
                transport,
            ],
        );
        assert_eq!(
            run.success(),
            "Based on get_weather: 18°C, sunny\n",
            "{transport}"
        );
        let sent = server.requests().last().unwrap().body_json().unwrap();
        assert_eq!(
            sent["messages"][1]["tool_calls"][0]["id"], call["id"],
            "{transport}"
        );
    }
}

#[test]
fn several_choices_are_all_shown() {
    // The same text streamed or not: a `[choice N]` line before each but the first.
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        for stream in [&[][..], &["--no-stream"][..]] {
            let file = temp_file("n2.json", r#"{"n": 2}"#);
            let mut args = vec![
                "chat",
                "-m",
                "mock-echo",
                "--request",
                file.to_str().unwrap(),
                "--transport",
                transport,
            ];
            args.extend_from_slice(stream);
            args.push("red green");
            let run = nexllm(&server, &args);
            assert_eq!(
                run.success(),
                "red green\n[choice 1]\nred green\n",
                "{transport} {stream:?}"
            );
        }
    }
}

#[test]
fn models_lists_ids_or_json() {
    let server = MockServer::start_blocking().unwrap();
    for transport in TRANSPORTS {
        let run = nexllm(&server, &["models", "--transport", transport]);
        let ids: Vec<&str> = run.success().lines().collect();
        assert!(
            ids.contains(&"mock-echo") && ids.contains(&"mock-tools"),
            "{transport}: {ids:?}"
        );

        let run = nexllm(&server, &["models", "--json", "--transport", transport]);
        run.success();
        let list = run.json();
        assert_eq!(list["object"], "list", "{transport}");
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), ids.len(), "{transport}");
        assert_eq!(data[0]["object"], "model", "{transport}");
        assert!(data[0]["owned_by"].is_string(), "{transport}");
    }
}
