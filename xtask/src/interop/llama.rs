//! llama.cpp's `llama-server` with SmolLM2-135M-Instruct: a real model that
//! generates tokens. Content must arrive over many chunks, the usage chunk
//! (`choices: []`) must agree with the non-streaming usage for the same seed
//! and prompt, `max_tokens` must end with `length`, a wrong key must be a
//! 401, and killing the server mid-stream must give a truncated-stream error
//! with the partial text kept.
//!
//! The CLI runs and the in-process client ignore the caller's proxy
//! variables: the server is on loopback.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nexllm_blocking::{
    ChatCompletionRequest, Client, Config, Error, FinishReason, Message, Proxy, StreamErrorKind,
};
use serde_json::json;

use super::process::{Server, free_port};
use super::report::{Report, ensure};
use super::sdk::{self, Finished, Running, Sdk, TRANSPORTS};
use super::{Context, http};
use crate::loopback_env::without_proxy;

const SUITE: &str = "llama";
const KEY: &str = "sk-llama-interop";
const MODEL: &str = "smollm2";
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// A prompt SmolLM2 answers at length.
const LONG_PROMPT: &str = "Write a long story about a dragon who learns to bake bread.";

/// Starts llama-server, runs the checks, stops it (and restarts it after
/// each check that kills it).
pub(crate) fn run(
    ctx: &Context,
    server_bin: &Path,
    model: &Path,
    sdk: &Sdk,
    report: &mut Report,
) -> Result<(), String> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}/v1");
    let llama = Llama {
        ctx,
        server_bin,
        model,
        port,
    };
    let mut server = llama.start("llama-server")?;

    let same_request = ctx.run_dir.join("llama-seeded-request.json");
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "List five fruits, one per line."}],
        "seed": 42,
        "temperature": 0,
        "max_tokens": 40
    });
    std::fs::write(&same_request, body.to_string())
        .map_err(|e| format!("writing {}: {e}", same_request.display()))?;

    report.check(
        &format!(
            "{SUITE}: the SDK's stream: content over many chunks, usage chunk with no choices"
        ),
        || stream_shape(&base),
    );

    for transport in TRANSPORTS {
        let name = |what: &str| format!("{SUITE}: nexllm --transport {transport}: {what}");
        report.check(
            &name("streamed usage equals non-streaming usage (same seed and prompt)"),
            || {
                let streamed = cli(
                    sdk,
                    &base,
                    transport,
                    KEY,
                    &["--request", path_str(&same_request)?, "--json", "--usage"],
                )?;
                streamed.expect_exit(0)?;
                let whole = cli(
                    sdk,
                    &base,
                    transport,
                    KEY,
                    &[
                        "--request",
                        path_str(&same_request)?,
                        "--json",
                        "--no-stream",
                    ],
                )?;
                whole.expect_exit(0)?;
                let (streamed, whole) = (streamed.completion()?, whole.completion()?);
                let (s_usage, w_usage) = (
                    streamed
                        .usage
                        .clone()
                        .ok_or("the stream reported no usage")?,
                    whole.usage.clone().ok_or("the answer reported no usage")?,
                );
                ensure(
                    (s_usage.prompt_tokens, s_usage.completion_tokens)
                        == (w_usage.prompt_tokens, w_usage.completion_tokens)
                        && s_usage.completion_tokens > 0,
                    || format!("streamed usage {s_usage:?}, non-streaming usage {w_usage:?}"),
                )?;
                let (s_text, w_text) = (content(&streamed), content(&whole));
                ensure(!s_text.is_empty() && s_text == w_text, || {
                    format!("same seed, different text: streamed {s_text:?}, whole {w_text:?}")
                })
            },
        );

        for (mode, stream_flag) in [("non-streaming", "--no-stream"), ("streaming", "--usage")] {
            report.check(
                &name(&format!("max_tokens ends with length ({mode})")),
                || {
                    let out = cli(
                        sdk,
                        &base,
                        transport,
                        KEY,
                        &[
                            LONG_PROMPT,
                            "-m",
                            MODEL,
                            "--max-tokens",
                            "5",
                            "--json",
                            stream_flag,
                        ],
                    )?;
                    out.expect_exit(0)?;
                    let completion = out.completion()?;
                    let finish = completion
                        .choices
                        .first()
                        .and_then(|c| c.finish_reason.clone());
                    ensure(finish == Some(FinishReason::Length), || {
                        format!("finish_reason {finish:?}, expected length")
                    })?;
                    let usage = completion.usage.ok_or("no usage")?;
                    ensure(usage.completion_tokens == 5, || {
                        format!("{} completion tokens, expected 5", usage.completion_tokens)
                    })
                },
            );
        }

        report.check(&name("a wrong key is a 401"), || {
            let out = cli(
                sdk,
                &base,
                transport,
                "sk-wrong",
                &["hi", "-m", MODEL, "--no-stream"],
            )?;
            out.expect_exit(1)?;
            let error = out
                .error_line()
                .ok_or_else(|| format!("no error line: {:?}", out.stderr))?;
            ensure(error.starts_with("401 Unauthorized"), || {
                format!("error {error:?}")
            })?;
            ensure(!error.contains("attempts"), || {
                format!("retried: {error:?}")
            })
        });
    }

    // The kills come last: each one needs the server started again.
    for transport in TRANSPORTS {
        report.check(
            &format!("{SUITE}: nexllm --transport {transport}: the server killed mid-stream"),
            || {
                let mut cmd = cli_command(
                    sdk,
                    &base,
                    transport,
                    KEY,
                    &[LONG_PROMPT, "-m", MODEL, "--max-tokens", "2000"],
                );
                let mut running = Running::start(&mut cmd)?;
                let started = running.wait_for_stdout(40, Duration::from_secs(120));
                server.kill_now();
                let out = running.finish(Duration::from_secs(60));
                ensure(started, || {
                    format!("no text arrived before the kill: {out:?}")
                })?;
                expect_truncated_cli(&out)
            },
        );
        server = llama.start("llama-server (again)")?;
    }

    report.check(
        &format!("{SUITE}: the SDK's stream: killed mid-stream, the partial text is kept"),
        || {
            let client = client(&base, KEY)?;
            let request = ChatCompletionRequest::new(MODEL, vec![Message::user(LONG_PROMPT)])
                .max_tokens(2000)
                .include_usage(true);
            let mut stream = client
                .chat()
                .create_stream(&request)
                .map_err(|e| e.to_string())?;
            let mut received = String::new();
            let mut chunks = 0;
            let mut outcome = None;
            for chunk in &mut stream {
                match chunk {
                    Ok(chunk) => {
                        chunks += 1;
                        received
                            .extend(chunk.choices.iter().filter_map(|c| c.delta.content.clone()));
                        if chunks == 10 {
                            server.kill_now();
                        }
                    }
                    Err(e) => outcome = Some(e),
                }
            }
            let kept = stream.into_completion();
            let kept_text = content(&kept);
            let mut problems = Vec::new();
            if received.is_empty() || kept_text != received {
                problems.push(format!(
                    "received {received:?}, the completion kept {kept_text:?}"
                ));
            }
            match outcome {
                None => problems.push(format!(
                    "the stream ended cleanly after {chunks} chunks although the server was killed"
                )),
                Some(Error::Stream(e)) if e.kind == StreamErrorKind::Truncated => {}
                Some(error) => {
                    problems.push(format!("expected a truncated-stream error, got {error:?}"));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        },
    );

    server.stop();
    Ok(())
}

struct Llama<'a> {
    ctx: &'a Context,
    server_bin: &'a Path,
    model: &'a Path,
    port: u16,
}

impl Llama<'_> {
    fn start(&self, name: &str) -> Result<Server, String> {
        let mut cmd = Command::new(self.server_bin);
        cmd.arg("-m")
            .arg(self.model)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--api-key", KEY, "--alias", MODEL])
            .args(["-c", "2048", "-np", "1", "-t", "2", "--no-webui"]);
        let mut server = Server::start(name, &mut cmd, &self.ctx.run_dir.join("llama-server.log"))?;
        let health = format!("http://127.0.0.1:{}/health", self.port);
        let took = server.wait_until_ready(Duration::from_secs(120), || {
            http::get(&health, None, Duration::from_secs(5)).is_ok_and(|r| r.status.is_success())
        })?;
        eprintln!("   {name} is ready ({:.0}s)", took.as_secs_f64());
        Ok(server)
    }
}

/// The SDK's own stream: many content chunks, then a usage chunk without choices.
fn stream_shape(base: &str) -> Result<(), String> {
    let client = client(base, KEY)?;
    let request = ChatCompletionRequest::new(
        MODEL,
        vec![Message::user(
            "Name three colours and say why you like them.",
        )],
    )
    .max_tokens(60)
    .seed(7)
    .temperature(0.0)
    .include_usage(true);
    let mut stream = client
        .chat()
        .create_stream(&request)
        .map_err(|e| e.to_string())?;
    let mut content_chunks = 0;
    let mut text = String::new();
    let mut usage_chunk = None;
    for chunk in &mut stream {
        let chunk = chunk.map_err(|e| e.to_string())?;
        for choice in &chunk.choices {
            if let Some(piece) = choice.delta.content.as_deref().filter(|p| !p.is_empty()) {
                content_chunks += 1;
                text.push_str(piece);
            }
        }
        if chunk.usage.is_some() {
            usage_chunk = Some(chunk);
        }
    }
    ensure(content_chunks >= 5, || {
        format!("the content came in {content_chunks} chunks: {text:?}")
    })?;
    let usage_chunk = usage_chunk.ok_or("no usage chunk although include_usage was set")?;
    ensure(usage_chunk.choices.is_empty(), || {
        format!(
            "llama.cpp's usage chunk has choices: {:?}",
            usage_chunk.choices
        )
    })?;
    let completion = stream.into_completion();
    ensure(content(&completion) == text, || {
        format!("accumulated {:?}, received {text:?}", content(&completion))
    })?;
    let usage = completion.usage.ok_or("the completion lost the usage")?;
    ensure(
        usage.completion_tokens as usize >= content_chunks.min(60),
        || format!("usage {usage:?} for {content_chunks} content chunks"),
    )
}

/// The CLI after the server was killed mid-stream: exit 1, a truncated-stream
/// error, not retried, and the text printed before it kept. Every problem is
/// reported, not only the first.
fn expect_truncated_cli(out: &Finished) -> Result<(), String> {
    let mut problems = Vec::new();
    if out.code != Some(1) {
        problems.push(format!("exit code {:?}, expected 1", out.code));
    }
    match out.error_line() {
        None => problems.push(format!("no error line: {:?}", out.stderr)),
        Some(error) => {
            if !error.contains("cut short") {
                problems.push(format!("not a truncated-stream error: {error:?}"));
            }
            if error.contains("attempts") {
                problems.push(format!("retried: {error:?}"));
            }
        }
    }
    if out.stdout.trim().len() < 40 {
        problems.push(format!("the partial text was not kept: {:?}", out.stdout));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The blocking client, without a proxy whatever the environment says.
fn client(base: &str, key: &str) -> Result<Client, String> {
    Client::builder()
        .config(
            Config::new(key)
                .base_url(base)
                .total_timeout(Some(Duration::from_secs(120))),
        )
        .proxy(Proxy::none())
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))
}

fn content(completion: &nexllm_blocking::ChatCompletion) -> String {
    completion
        .choices
        .first()
        .and_then(|c| c.message.content.clone())
        .unwrap_or_default()
}

fn cli_command(sdk: &Sdk, base: &str, transport: &str, key: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(&sdk.cli);
    cmd.arg("chat")
        .args(args)
        .args(["--transport", transport, "--base-url", base])
        .args(["--timeout", "150"])
        .env("NEXLLM_API_KEY", key)
        .env_remove("NEXLLM_BASE_URL")
        .env_remove("NEXLLM_MODEL");
    without_proxy(&mut cmd);
    cmd
}

fn cli(
    sdk: &Sdk,
    base: &str,
    transport: &str,
    key: &str,
    args: &[&str],
) -> Result<Finished, String> {
    sdk::run(
        &mut cli_command(sdk, base, transport, key, args),
        RUN_TIMEOUT,
    )
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_env::{assert_without_proxy, under_a_dead_proxy};

    #[test]
    fn the_cli_runs_ignore_the_callers_proxy() {
        let sdk = Sdk {
            cli: "nexllm".into(),
            examples: Vec::new(),
        };
        let cmd = cli_command(&sdk, "http://127.0.0.1:9/v1", "blocking", KEY, &["hi"]);
        assert_without_proxy(&cmd);
    }

    #[test]
    fn the_client_ignores_the_proxy_variables() {
        if !under_a_dead_proxy("interop::llama::tests::the_client_ignores_the_proxy_variables") {
            return;
        }
        let server = nexllm_mock::MockServer::start_blocking().unwrap();
        let models = client(&server.base_url(), "sk-test")
            .unwrap()
            .models()
            .list();
        server.shutdown_blocking();
        assert!(!models.unwrap().data.is_empty());
    }
}
