//! OpenAI's own schema: Stoplight Prism serving OpenAI's published spec
//! validates every request body the SDK produces; a 422 means our serializer
//! broke the schema. Prism's answers (generated from the spec's response
//! schemas) must decode, too.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nexllm_proto::types::ChatCompletionRequest;
use nexllm_proto::{Config, decode, encode};
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};

use super::process::{Server, free_port, run_logged};
use super::report::{Report, ensure};
use super::{Context, bodies, generated, http};

const SUITE: &str = "prism";
const KEY: &str = "sk-prism";
const TIMEOUT: Duration = Duration::from_secs(30);

/// Generates the Prism spec, starts Prism, runs every check, stops Prism.
pub(crate) fn run(
    ctx: &Context,
    prism_script: &Path,
    tools_bin: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let spec_dir = &ctx.spec_dir;
    let spec = ctx.run_dir.join("openai-chat.prism.json");
    let mut rewrite = Command::new(tools_bin.join("python"));
    rewrite
        .arg(spec_dir.join("make-prism-spec.py"))
        .arg(spec_dir.join("openai-openapi.yaml"))
        .arg(&spec);
    run_logged(
        &mut rewrite,
        &ctx.run_dir.join("prism-spec.log"),
        Duration::from_secs(300),
    )?;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}/v1");
    let mut prism = Command::new("node");
    prism
        .arg(prism_script)
        .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(&spec);
    let mut server = Server::start("prism", &mut prism, &ctx.run_dir.join("prism.log"))?;
    let models_url = format!("{base}/models");
    let took = server.wait_until_ready(Duration::from_secs(180), || {
        http::get(&models_url, Some(KEY), Duration::from_secs(5))
            .is_ok_and(|r| r.status.is_success())
    })?;
    eprintln!("   prism is ready ({:.0}s)", took.as_secs_f64());

    let config = Config::new(KEY).base_url(base.as_str());
    let chat_url = format!("{base}/chat/completions");

    report.check(
        &format!("{SUITE}: the rewritten spec makes Prism validate bodies"),
        || {
            // Without the rewrite Prism accepts anything; a body without
            // `messages` must be refused, or every other check proves nothing.
            let r = http::post_json(&chat_url, Some(KEY), br#"{"model":"gpt-4o"}"#, TIMEOUT)?;
            ensure(r.status.as_u16() == 422, || {
                format!(
                    "a body without messages got {}, not 422: {}",
                    r.status, r.body
                )
            })?;
            ensure(r.body.contains("messages"), || {
                format!("the 422 does not name `messages`: {}", r.body)
            })
        },
    );

    report.check(&format!("{SUITE}: Prism checks nested rules too"), || {
        // A valid shape with an out-of-range temperature and an unknown role.
        let bad =
            br#"{"model":"gpt-4o","temperature":5,"messages":[{"role":"robot","content":"hi"}]}"#;
        let r = http::post_json(&chat_url, Some(KEY), bad, TIMEOUT)?;
        ensure(r.status.as_u16() == 422, || {
            format!("an invalid body got {}, not 422: {}", r.status, r.body)
        })?;
        let found = violations(&r.body);
        ensure(
            found.contains("temperature") && found.contains("messages"),
            || format!("the 422 does not name temperature and messages:\n{found}"),
        )
    });

    report.check(
        &format!("{SUITE}: a request without a key gets 401"),
        || {
            let body = serde_json::to_vec(&bodies::catalogue("gpt-4o-mini")[0].1)
                .map_err(|e| e.to_string())?;
            let r = http::post_json(&chat_url, None, &body, TIMEOUT)?;
            ensure(r.status.as_u16() == 401, || {
                format!("got {} without a key: {}", r.status, r.body)
            })
        },
    );

    report.check(&format!("{SUITE}: GET /models decodes"), || {
        let request = encode::models_request(&config).map_err(|e| e.to_string())?;
        let r = http::send(request.map(|b| b.to_vec()), TIMEOUT)?;
        let models =
            decode::models(r.status, &r.headers, r.body.as_bytes()).map_err(|e| e.to_string())?;
        ensure(!models.data.is_empty(), || "an empty model list".to_owned())
    });

    for (name, request) in bodies::catalogue("gpt-4o-mini") {
        report.check(&format!("{SUITE}: body passes the schema: {name}"), || {
            send_valid(&config, &request)
        });
    }

    let cases = ctx.cases;
    report.check(
        &format!("{SUITE}: {cases} generated requests all pass the schema (proptest)"),
        || property(&config, cases),
    );

    server.stop();
    Ok(())
}

/// Encodes `request` as the SDK does, sends it, and requires a 200 whose
/// body decodes as a completion.
fn send_valid(config: &Config, request: &ChatCompletionRequest) -> Result<(), String> {
    let mut encoded = encode::chat_request(config, request)
        .map_err(|e| format!("the SDK refused the request: {e}"))?;
    if request.is_stream() {
        // Prism cannot answer `Accept: text/event-stream` (it fails with 500
        // after validating); the body, which is what we check, is unchanged.
        encoded.headers_mut().insert(
            ::http::header::ACCEPT,
            ::http::HeaderValue::from_static("application/json"),
        );
    }
    let body = encoded.body().clone();
    let r = http::send(encoded.map(|b| b.to_vec()), TIMEOUT)?;
    if r.status.as_u16() == 422 {
        return Err(format!(
            "OpenAI's schema rejects the body:\n{}\nthe body: {}",
            violations(&r.body),
            excerpt(&String::from_utf8_lossy(&body), 1500)
        ));
    }
    if !r.status.is_success() {
        return Err(format!("status {}: {}", r.status, excerpt(&r.body, 500)));
    }
    if request.is_stream() {
        // Prism does not stream: it answers a streaming request with the
        // JSON example. Validation is what we are here for.
        return Ok(());
    }
    decode::chat_completion(r.status, &r.headers, r.body.as_bytes())
        .map(|_| ())
        .map_err(|e| format!("Prism's answer did not decode: {e}"))
}

/// Generated requests, each sent to Prism; a failure is shrunk to a small
/// request before it is reported.
fn property(config: &Config, cases: u32) -> Result<(), String> {
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&generated::request(), |request| {
        send_valid(config, &request).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, request)) => Err(format!(
            "a generated request broke the schema: {reason}\nthe smallest such request: {request:?}"
        )),
        Err(TestError::Abort(reason)) => Err(format!("the property was aborted: {reason}")),
    }
}

/// The `validation` list of Prism's 422 body, one violation a line.
fn violations(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return excerpt(body, 1500);
    };
    let Some(list) = value.get("validation").and_then(|v| v.as_array()) else {
        return excerpt(body, 1500);
    };
    list.iter()
        .map(|v| {
            let location = v
                .get("location")
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .unwrap_or_default();
            let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("?");
            format!("  {location}: {message}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push_str("...");
    }
    out
}
