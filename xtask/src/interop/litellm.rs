//! LiteLLM's proxy: a real third-party gateway with mock models
//! (`xtask/interop/litellm/config.yaml`), a custom-auth hook (real 401s,
//! per-key request limits) and a provider that fails mid-stream. The `nexllm`
//! binary runs against it with both transports, and so do the examples.
//!
//! What LiteLLM does differently, and what is asserted about it: its usage
//! chunk still has one choice with an empty delta; error `code`s are strings
//! (`"429"`); the request id comes in `x-litellm-call-id`; a stream that
//! fails midway carries `data: {"error": ...}` and ends without `[DONE]`.
//!
//! The programs run without the caller's proxy variables ([`without_proxy`]):
//! their calls go to the proxy on loopback.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nexllm_proto::types::{ChatCompletion, FinishReason};

use super::process::{Server, free_port};
use super::report::{Report, ensure};
use super::sdk::{self, Finished, Sdk, TRANSPORTS};
use super::{Context, http};
use crate::loopback_env::without_proxy;

const SUITE: &str = "litellm";
/// The key the custom-auth hook accepts without limits.
const KEY: &str = "sk-interop";
/// What `mock-chat` answers.
const REPLY: &str = "Hello from LiteLLM, the interop proxy.";
/// What `mock-mid-stream-failure` sends before it fails.
const PARTIAL: &str = "Partial answer before the failure";
/// The error the failing provider raises mid-stream.
const MID_STREAM_ERROR: &str = "the upstream connection broke mid-stream";
/// The deadline of one program run.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Starts the proxy, runs every check, stops the proxy.
pub(crate) fn run(
    ctx: &Context,
    litellm: &Path,
    sdk: &Sdk,
    report: &mut Report,
) -> Result<(), String> {
    let config_dir = ctx.root.join("xtask").join("interop").join("litellm");
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}/v1");
    let mut cmd = Command::new(litellm);
    cmd.arg("--config")
        .arg(config_dir.join("config.yaml"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--num_workers", "1"])
        .current_dir(&config_dir)
        .env("LITELLM_MASTER_KEY", master_key())
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .env("DISABLE_ADMIN_UI", "True")
        .env("NO_DOCS", "True")
        .env("NO_REDOC", "True")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_HOST")
        .env_remove("OPENAI_API_KEY");
    let mut server = Server::start("litellm", &mut cmd, &ctx.run_dir.join("litellm.log"))?;
    let health = format!("http://127.0.0.1:{port}/health/liveliness");
    let took = server.wait_until_ready(Duration::from_secs(300), || {
        http::get(&health, None, Duration::from_secs(5)).is_ok_and(|r| r.status.is_success())
    })?;
    eprintln!("   litellm is ready ({:.0}s)", took.as_secs_f64());

    report.check(
        &format!("{SUITE}: LiteLLM's answers still differ as documented"),
        || quirks(&base),
    );
    let proxy = Proxy { sdk, base };
    for transport in TRANSPORTS {
        cli_checks(&proxy, transport, report);
    }
    for (transport, name, program) in &sdk.examples {
        example_checks(&proxy, transport, name, program, report);
    }
    if !server.is_running() {
        report.fail(
            &format!("{SUITE}: the proxy stayed up"),
            &format!("it exited during the checks:\n{}", server.log_tail(30)),
        );
    }
    server.stop();
    Ok(())
}

struct Proxy<'a> {
    sdk: &'a Sdk,
    base: String,
}

impl Proxy<'_> {
    /// Runs `nexllm chat ARGS` with this transport and key.
    fn chat(&self, transport: &str, key: &str, args: &[&str]) -> Result<Finished, String> {
        sdk::run(&mut self.chat_command(transport, key, args), RUN_TIMEOUT)
    }

    /// `nexllm chat ARGS` with this transport and key, against the proxy
    /// whatever the caller's environment holds.
    fn chat_command(&self, transport: &str, key: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.sdk.cli);
        cmd.arg("chat")
            .args(args)
            .args(["--transport", transport, "--base-url", &self.base])
            .args(["--timeout", "60"])
            .env("NEXLLM_API_KEY", key)
            .env_remove("NEXLLM_BASE_URL")
            .env_remove("NEXLLM_MODEL");
        without_proxy(&mut cmd);
        cmd
    }

    /// Runs an example program with this model and key.
    fn example(&self, program: &Path, model: &str, key: &str) -> Result<Finished, String> {
        sdk::run(&mut self.example_command(program, model, key), RUN_TIMEOUT)
    }

    /// An example program with this model and key, against the proxy
    /// whatever the caller's environment holds.
    fn example_command(&self, program: &Path, model: &str, key: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("Say hello")
            .env("NEXLLM_BASE_URL", &self.base)
            .env("NEXLLM_API_KEY", key)
            .env("NEXLLM_MODEL", model);
        without_proxy(&mut cmd);
        cmd
    }
}

fn cli_checks(proxy: &Proxy<'_>, transport: &str, report: &mut Report) {
    let name = |what: &str| format!("{SUITE}: nexllm --transport {transport}: {what}");

    report.check(&name("non-streaming chat"), || {
        let out = proxy.chat(
            transport,
            KEY,
            &["Say hello", "-m", "mock-chat", "--no-stream", "--json"],
        )?;
        out.expect_exit(0)?;
        let completion = out.completion()?;
        expect_reply(&completion, REPLY)?;
        let usage = completion.usage.as_ref().ok_or("no usage")?;
        ensure(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens,
            ) == (10, 20, 30),
            || format!("usage {usage:?}, LiteLLM's mock reports 10 + 20 = 30"),
        )
    });

    report.check(&name("stream with stream_options.include_usage"), || {
        let out = proxy.chat(
            transport,
            KEY,
            &["Say hello", "-m", "mock-chat", "--json", "--usage"],
        )?;
        out.expect_exit(0)?;
        let completion = out.completion()?;
        // LiteLLM's usage chunk carries one choice with an empty delta: it
        // must add nothing (no second choice, no text, no lost finish reason).
        expect_reply(&completion, REPLY)?;
        let usage = completion
            .usage
            .as_ref()
            .ok_or("the usage chunk was lost")?;
        ensure(
            usage.completion_tokens > 0
                && usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
            || format!("implausible usage {usage:?}"),
        )?;
        ensure(out.stderr.contains("tokens: "), || {
            format!("--usage printed no usage line: {:?}", out.stderr)
        })
    });

    report.check(&name("a wrong key is a 401, not retried"), || {
        let out = proxy.chat(
            transport,
            "sk-wrong",
            &["hi", "-m", "mock-chat", "--no-stream"],
        )?;
        out.expect_exit(1)?;
        let error = error_line(&out)?;
        ensure(
            error.starts_with("401 Unauthorized (401): invalid api key"),
            || format!("error {error:?}"),
        )?;
        ensure(!error.contains("attempts"), || {
            format!("a 401 was retried: {error:?}")
        })
    });

    report.check(
        &name("an injected 429 without retry-after is retried, then reported"),
        || {
            let out = proxy.chat(
                transport,
                KEY,
                &[
                    "hi",
                    "-m",
                    "mock-rate-limited",
                    "--no-stream",
                    "--max-retries",
                    "2",
                ],
            )?;
            out.expect_exit(1)?;
            let error = error_line(&out)?;
            // The code is LiteLLM's string "429"; the id is x-litellm-call-id.
            ensure(error.starts_with("429 Too Many Requests (429): "), || {
                format!("error {error:?}")
            })?;
            ensure(error.ends_with("after 3 attempts"), || {
                format!("not retried twice: {error:?}")
            })?;
            ensure(!error.contains("retry after"), || {
                format!("a retry-after appeared from nowhere: {error:?}")
            })?;
            expect_request_id(error)
        },
    );

    report.check(&name("a per-key limit's 429 carries retry-after"), || {
        let key = format!("sk-interop-limited-{transport}");
        let first = proxy.chat(transport, &key, &["hi", "-m", "mock-chat", "--no-stream"])?;
        first.expect_exit(0)?;
        let out = proxy.chat(
            transport,
            &key,
            &["hi", "-m", "mock-chat", "--no-stream", "--max-retries", "0"],
        )?;
        out.expect_exit(1)?;
        let error = error_line(&out)?;
        ensure(
            error.starts_with("429 Too Many Requests (429): Rate limit exceeded"),
            || format!("error {error:?}"),
        )?;
        ensure(error.contains("(retry after 60s)"), || {
            format!("the retry-after header was not read: {error:?}")
        })?;
        expect_request_id(error)
    });

    report.check(&name("an injected 500 is retried, then reported"), || {
        let out = proxy.chat(
            transport,
            KEY,
            &[
                "hi",
                "-m",
                "mock-server-error",
                "--no-stream",
                "--max-retries",
                "1",
            ],
        )?;
        out.expect_exit(1)?;
        let error = error_line(&out)?;
        ensure(
            error.starts_with("500 Internal Server Error (500): "),
            || format!("error {error:?}"),
        )?;
        ensure(error.ends_with("after 2 attempts"), || {
            format!("not retried once: {error:?}")
        })
    });

    report.check(
        &name("an error before the first chunk (529) is retried"),
        || {
            let out = proxy.chat(
                transport,
                KEY,
                &["hi", "-m", "mock-stream-error", "--max-retries", "1"],
            )?;
            out.expect_exit(1)?;
            let error = error_line(&out)?;
            ensure(error.starts_with("529 (529): "), || {
                format!("error {error:?}")
            })?;
            ensure(error.ends_with("after 2 attempts"), || {
                format!("a stream that failed before its first chunk was not retried: {error:?}")
            })?;
            ensure(out.stdout.trim().is_empty(), || {
                format!("text was printed: {:?}", out.stdout)
            })
        },
    );

    report.check(
        &name("an error in the middle of a stream keeps the partial answer"),
        || {
            let out = proxy.chat(
                transport,
                KEY,
                &["hi", "-m", "mock-mid-stream-failure", "--json"],
            )?;
            out.expect_exit(1)?;
            let error = error_line(&out)?;
            ensure(error.contains(MID_STREAM_ERROR), || {
                format!("error {error:?}")
            })?;
            ensure(!error.contains("attempts"), || {
                format!("a stream was retried after chunks reached the caller: {error:?}")
            })?;
            let completion = out.completion()?;
            let content = first_content(&completion);
            ensure(content == PARTIAL, || {
                format!("the partial answer is {content:?}, expected {PARTIAL:?}")
            })
        },
    );

    report.check(&name("an unknown model is a 400, not retried"), || {
        let out = proxy.chat(
            transport,
            KEY,
            &["hi", "-m", "no-such-model", "--no-stream"],
        )?;
        out.expect_exit(1)?;
        let error = error_line(&out)?;
        ensure(error.starts_with("400 Bad Request (400): "), || {
            format!("error {error:?}")
        })?;
        ensure(error.contains("Invalid model name"), || {
            format!("error {error:?}")
        })?;
        ensure(!error.contains("attempts"), || {
            format!("retried: {error:?}")
        })
    });
}

fn example_checks(
    proxy: &Proxy<'_>,
    transport: &str,
    name: &str,
    program: &Path,
    report: &mut Report,
) {
    let label = |what: &str| format!("{SUITE}: example {transport}/{name}: {what}");
    // The examples print the answer first, then details (request id,
    // attempts, usage) on stdout or stderr, each in its own words.
    let first_line = |out: &Finished| {
        out.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let all = |out: &Finished| format!("{}\n{}", out.stdout, out.stderr);
    match name {
        "chat" => {
            report.check(&label("answer, request id and attempts"), || {
                let out = proxy.example(program, "mock-chat", KEY)?;
                out.expect_exit(0)?;
                ensure(first_line(&out) == REPLY, || {
                    format!("stdout {:?}", out.stdout)
                })?;
                let text = all(&out);
                let id = find_uuid(&text).ok_or_else(|| {
                    format!("no x-litellm-call-id exposed as the request id: {text:?}")
                })?;
                ensure(
                    text.contains("1 attempt") || text.contains("attempts: 1"),
                    || format!("attempts not reported as 1 (id {id}): {text:?}"),
                )
            });
            report.check(&label("a wrong key fails with 401"), || {
                let out = proxy.example(program, "mock-chat", "sk-wrong")?;
                ensure(out.code != Some(0), || {
                    "succeeded with a wrong key".to_owned()
                })?;
                ensure(out.stderr.contains("401"), || {
                    format!("stderr {:?}", out.stderr)
                })
            });
        }
        "stream" => {
            report.check(&label("streamed answer and usage"), || {
                let out = proxy.example(program, "mock-chat", KEY)?;
                out.expect_exit(0)?;
                ensure(first_line(&out) == REPLY, || {
                    format!("stdout {:?}", out.stdout)
                })?;
                ensure(all(&out).contains("tokens"), || {
                    format!("no usage printed: {:?}", all(&out))
                })
            });
            report.check(&label("a stream that breaks midway"), || {
                let out = proxy.example(program, "mock-mid-stream-failure", KEY)?;
                ensure(out.stdout.contains(PARTIAL), || {
                    format!("the partial answer was lost: {:?}", out.stdout)
                })?;
                ensure(all(&out).contains(MID_STREAM_ERROR), || {
                    format!("the error was not reported: {:?}", all(&out))
                })
            });
        }
        _ => {}
    }
}

fn error_line(out: &Finished) -> Result<&str, String> {
    out.error_line()
        .ok_or_else(|| format!("no `error:` line on stderr: {:?}", out.stderr))
}

fn first_content(completion: &ChatCompletion) -> &str {
    completion
        .choices
        .first()
        .and_then(|c| c.message.content.as_deref())
        .unwrap_or_default()
}

/// One choice, with this content and finish reason `stop`.
fn expect_reply(completion: &ChatCompletion, reply: &str) -> Result<(), String> {
    ensure(completion.choices.len() == 1, || {
        format!("{} choices, expected 1", completion.choices.len())
    })?;
    let content = first_content(completion);
    ensure(content == reply, || {
        format!("content {content:?}, expected {reply:?}")
    })?;
    let finish = completion
        .choices
        .first()
        .and_then(|c| c.finish_reason.clone());
    ensure(finish == Some(FinishReason::Stop), || {
        format!("finish_reason {finish:?}, expected stop")
    })
}

/// The error names LiteLLM's call id (a UUID) as its request id.
fn expect_request_id(error: &str) -> Result<(), String> {
    let id = error
        .split("[request id ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .ok_or_else(|| format!("no request id in {error:?}"))?;
    ensure(find_uuid(id) == Some(id), || {
        format!("the request id {id:?} is not LiteLLM's call id (a UUID)")
    })
}

/// The first UUID-shaped word (8-4-4-4-12 hex digits) in `text`.
fn find_uuid(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|word| {
            let groups: Vec<usize> = word.split('-').map(str::len).collect();
            groups == [8, 4, 4, 4, 12]
        })
}

/// A master key for this run (LiteLLM refuses to start without one).
fn master_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!(
        "sk-interop-master-{:016x}{:08x}",
        hasher.finish(),
        std::process::id()
    )
}

/// The raw answers: the differences docs/interop.md describes (and the SDK
/// handles) are still LiteLLM's behaviour.
fn quirks(base: &str) -> Result<(), String> {
    let url = format!("{base}/chat/completions");
    let timeout = Duration::from_secs(30);
    let plain = http::post_json(
        &url,
        Some(KEY),
        br#"{"model":"mock-chat","messages":[{"role":"user","content":"hi"}]}"#,
        timeout,
    )?;
    ensure(plain.status.as_u16() == 200, || {
        format!("status {}: {}", plain.status, plain.body)
    })?;
    ensure(
        plain.header("x-litellm-call-id").is_some() && plain.header("x-request-id").is_none(),
        || format!("id headers changed: {:?}", plain.headers),
    )?;
    let streamed = http::post_json(
        &url,
        Some(KEY),
        br#"{"model":"mock-chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
        timeout,
    )?;
    let events: Vec<serde_json::Value> = streamed
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    let usage_chunk = events
        .iter()
        .find(|e| e.get("usage").is_some_and(|u| !u.is_null()))
        .ok_or_else(|| format!("no usage chunk in {:?}", streamed.body))?;
    let choices = usage_chunk
        .get("choices")
        .and_then(|c| c.as_array())
        .map_or(0, Vec::len);
    ensure(choices == 1, || {
        format!("LiteLLM's usage chunk now has {choices} choices: {usage_chunk}")
    })?;
    let error = http::post_json(
        &url,
        Some(KEY),
        br#"{"model":"mock-rate-limited","messages":[{"role":"user","content":"hi"}]}"#,
        timeout,
    )?;
    let code: serde_json::Value = serde_json::from_str(&error.body)
        .map_err(|e| format!("the 429 body is not JSON ({e}): {}", error.body))?;
    ensure(
        code.pointer("/error/code") == Some(&serde_json::json!("429")),
        || {
            format!(
                "the error code is no longer the string \"429\": {}",
                error.body
            )
        },
    )?;
    let failing = http::post_json(
        &url,
        Some(KEY),
        br#"{"model":"mock-mid-stream-failure","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        timeout,
    )?;
    ensure(
        failing.body.contains("data: {\"error\"") && !failing.body.contains("[DONE]"),
        || format!("the mid-stream failure looks different: {:?}", failing.body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_env::assert_without_proxy;

    #[test]
    fn the_programs_ignore_the_callers_proxy() {
        let sdk = Sdk {
            cli: "nexllm".into(),
            examples: Vec::new(),
        };
        let proxy = Proxy {
            sdk: &sdk,
            base: "http://127.0.0.1:9/v1".to_owned(),
        };
        assert_without_proxy(&proxy.chat_command("hyper", KEY, &["hi"]));
        assert_without_proxy(&proxy.example_command(Path::new("chat"), "mock-chat", KEY));
    }

    #[test]
    fn uuids_are_found_and_checked() {
        let text = "request id 2d975731-e99f-466f-bd64-8bd0234e497c, 1 attempt";
        assert_eq!(
            find_uuid(text),
            Some("2d975731-e99f-466f-bd64-8bd0234e497c")
        );
        assert_eq!(find_uuid("req_123 abc-def"), None);
        assert!(
            expect_request_id(
                "429 (429): x [request id 2d975731-e99f-466f-bd64-8bd0234e497c] after 3 attempts"
            )
            .is_ok()
        );
        assert!(expect_request_id("429 (429): x [request id req_1]").is_err());
        assert!(expect_request_id("429 (429): x").is_err());
    }
}
