//! `cargo xtask demo`: nexllm-mock on a loopback port and the real `nexllm` binary
//! against it — a streamed chat, a `--json` completion, a tool-call round trip,
//! the model list and an error. No key, no network.
//!
//! The mock runs in this process; each step runs the binary as a user would,
//! shows the command line, and lets its output through to the terminal. A step
//! whose exit status is not the expected one fails the demo, and so does an
//! error step whose error is not the one it provokes.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nexllm_mock::MockServer;

use crate::command::{cargo, exec};
use crate::loopback_env::without_proxy;

/// The tool of the round trip, as the request body declares it.
const WEATHER_TOOL: &str = r#"{"type": "function", "function": {
      "name": "get_weather",
      "description": "The current weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#;

/// The question of the round trip.
const WEATHER_QUESTION: &str = r#"{"role": "user", "content": "What is the weather in Paris?"}"#;

/// Variables of the caller's environment the demo's `nexllm` runs must not
/// see, besides the proxy ones ([`without_proxy`]).
const IGNORED_ENV: &[&str] = &["NEXLLM_API_KEY", "NEXLLM_MODEL"];

/// What our pretend weather service answers.
const WEATHER_RESULT: &str = "18°C and sunny";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "demo: unexpected argument {arg:?} (the demo takes none)"
        ));
    }
    let binary = build_cli()?;
    let server =
        MockServer::start_blocking().map_err(|e| format!("cannot start nexllm-mock: {e}"))?;
    let demo = Demo {
        binary,
        base_url: server.base_url(),
    };
    let result = demo.steps();
    server.shutdown_blocking();
    result?;
    println!(
        "\nDone: nexllm-mock is shut down. Point NEXLLM_BASE_URL and NEXLLM_API_KEY at a real server to do the same for real."
    );
    Ok(())
}

/// Builds `nexllm` with the profile this xtask was built with, and returns its path.
fn build_cli() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let profile_dir = exe
        .parent()
        .ok_or("the xtask binary has no parent folder")?
        .to_path_buf();
    let mut build = cargo(&["build", "--quiet", "-p", "nexllm-cli"]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    exec(&mut build)?;
    let binary = profile_dir.join(format!("nexllm{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "built nexllm-cli, but {} is not there",
            binary.display()
        ))
    }
}

struct Demo {
    binary: PathBuf,
    base_url: String,
}

impl Demo {
    fn steps(&self) -> Result<(), String> {
        println!(
            "nexllm-mock is listening on {} (in this process).",
            self.base_url
        );
        println!("Every command below runs the real `nexllm` binary with no API key and");
        println!("  export NEXLLM_BASE_URL={}", self.base_url);

        section("The models the server offers");
        self.show(&["models"], None, 0)?;

        section("A streamed chat: the answer is printed as it arrives");
        self.show(
            &[
                "chat",
                "-m",
                "mock-echo",
                "--usage",
                "Stream this sentence back to me, word by word.",
            ],
            None,
            0,
        )?;

        section("The whole ChatCompletion as JSON");
        self.show(
            &["chat", "-m", "mock-echo", "--no-stream", "--json", "hello"],
            None,
            0,
        )?;

        section("A tool call round trip, step 1: the model asks for get_weather");
        let step1 = format!(
            "{{\n  \"model\": \"mock-tools\",\n  \"messages\": [{WEATHER_QUESTION}],\n  \"tools\": [{WEATHER_TOOL}]\n}}"
        );
        let answer = self
            .show(&["chat", "--request", "-"], Some(&step1), 0)?
            .stdout;
        let call = ToolCall::parse(&answer)
            .ok_or_else(|| format!("step 1 printed no tool call: {answer:?}"))?;

        section("Step 2: we run the tool and send its result back");
        let step2 = format!(
            "{{\n  \"model\": \"mock-tools\",\n  \"messages\": [\n    {WEATHER_QUESTION},\n    \
             {{\"role\": \"assistant\", \"tool_calls\": [{{\"id\": {id}, \"type\": \"function\", \
             \"function\": {{\"name\": {name}, \"arguments\": {arguments}}}}}]}},\n    \
             {{\"role\": \"tool\", \"tool_call_id\": {id}, \"content\": {result}}}\n  ],\n  \
             \"tools\": [{WEATHER_TOOL}]\n}}",
            id = json_string(&call.id),
            name = json_string(&call.name),
            arguments = json_string(&call.arguments),
            result = json_string(WEATHER_RESULT),
        );
        self.show(&["chat", "--request", "-"], Some(&step2), 0)?;

        section("Errors are one line on stderr, with the request id and exit status 1");
        let failed = self.show(
            &[
                "chat",
                "-m",
                "mock-echo",
                "--max-retries",
                "1",
                "--header",
                "x-mock-fault: status=429;retry-after-ms=200",
                "hello",
            ],
            None,
            1,
        )?;
        expect_rate_limit_error(&failed.stderr)
    }

    /// `nexllm args…` against the mock, whatever the caller's environment holds:
    /// no key or model of theirs, and no proxy (the SDK honours `HTTP_PROXY` and
    /// friends, which would send the loopback calls to a proxy, or fail them).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args).env("NEXLLM_BASE_URL", &self.base_url);
        for var in IGNORED_ENV {
            cmd.env_remove(var);
        }
        without_proxy(&mut cmd);
        cmd
    }

    /// Shows and runs `nexllm args…` (with `stdin` as a here-document), lets its
    /// output through, checks its exit status and returns its output.
    fn show(&self, args: &[&str], stdin: Option<&str>, want_status: i32) -> Result<Ran, String> {
        let shown: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        match stdin {
            Some(body) => println!("$ nexllm {} <<'EOF'\n{body}\nEOF", shown.join(" ")),
            None => println!("$ nexllm {}", shown.join(" ")),
        }
        flush();

        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        if let (Some(body), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(body.as_bytes())
                .map_err(|e| format!("cannot write the request body: {e}"))?;
        }
        // stderr is copied by a thread of its own, so that neither pipe fills up
        // while the other is read.
        let stderr = child
            .stderr
            .take()
            .map(|from| std::thread::spawn(move || pass_through(from, std::io::stderr())));
        let stdout = match child.stdout.take() {
            Some(from) => pass_through(from, std::io::stdout()),
            None => Ok(String::new()),
        };
        let stderr = match stderr {
            Some(copier) => copier
                .join()
                .unwrap_or_else(|_| Err("the stderr copier panicked".to_owned())),
            None => Ok(String::new()),
        };
        let (stdout, stderr) = (stdout?, stderr?);
        let status = child
            .wait()
            .map_err(|e| format!("nexllm did not finish: {e}"))?;
        match status.code() {
            Some(code) if code == want_status => {
                if code != 0 {
                    println!("(exit status {code})");
                }
                Ok(Ran { stdout, stderr })
            }
            _ => Err(format!(
                "`nexllm {}` ended with {status}, expected exit status {want_status}",
                shown.join(" ")
            )),
        }
    }
}

/// What a `nexllm` run printed.
struct Ran {
    stdout: String,
    stderr: String,
}

/// Copies a child's output to ours as it arrives (so a stream shows live) and
/// returns all of it.
fn pass_through(mut from: impl Read, mut to: impl Write) -> Result<String, String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = from
            .read(&mut buf)
            .map_err(|e| format!("cannot read nexllm's output: {e}"))?;
        let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else {
            break;
        };
        seen.extend_from_slice(bytes);
        let _ = to.write_all(bytes);
        let _ = to.flush();
    }
    Ok(String::from_utf8_lossy(&seen).into_owned())
}

/// The error step's stderr: the rate limit the `x-mock-fault` header asks the
/// mock for, in one line, with the request id, after the one retry
/// `--max-retries 1` allows. Any other failure (a refused connection, a
/// proxy, a bad flag) fails the demo.
fn expect_rate_limit_error(stderr: &str) -> Result<(), String> {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect();
    let ok = match errors.as_slice() {
        [line] => {
            line.starts_with("error: 429 Too Many Requests (rate_limit_exceeded): ")
                && line.contains("[request id ")
                && line.ends_with("after 2 attempts")
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the error step should fail with one `error: 429 Too Many Requests \
             (rate_limit_exceeded): … [request id …] after 2 attempts` line; stderr was {stderr:?}"
        ))
    }
}

/// A tool call as `nexllm chat` prints it: `[tool call ID] NAME(ARGUMENTS)`.
#[derive(Debug, PartialEq)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

impl ToolCall {
    fn parse(output: &str) -> Option<ToolCall> {
        let line = output.lines().find(|l| l.starts_with("[tool call "))?;
        let rest = line.strip_prefix("[tool call ")?;
        let (id, call) = rest.split_once("] ")?;
        let (name, arguments) = call.split_once('(')?;
        let arguments = arguments.strip_suffix(')')?;
        Some(ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        })
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `arg` as a POSIX shell word (quoted only when it needs to be).
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn section(title: &str) {
    println!("\n# {title}");
}

fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runs_ignore_the_callers_key_model_and_proxy() {
        let demo = Demo {
            binary: PathBuf::from("nexllm"),
            base_url: "http://127.0.0.1:9/v1".to_owned(),
        };
        let cmd = demo.command(&["models"]);
        let envs: Vec<_> = cmd.get_envs().collect();
        for var in [
            "NEXLLM_API_KEY",
            "NEXLLM_MODEL",
            "HTTP_PROXY",
            "https_proxy",
            "ALL_PROXY",
        ] {
            assert!(
                envs.contains(&(std::ffi::OsStr::new(var), None)),
                "{var} is not removed: {envs:?}"
            );
        }
        assert!(envs.contains(&(
            std::ffi::OsStr::new("NEXLLM_BASE_URL"),
            Some(std::ffi::OsStr::new("http://127.0.0.1:9/v1"))
        )));
    }

    #[test]
    fn the_error_step_wants_the_rate_limit_it_provokes() {
        let printed = "error: 429 Too Many Requests (rate_limit_exceeded): Rate limit reached for \
            requests per min (RPM): Limit 10000. Please try again in 1s. (retry after 200ms) \
            [request id req_mock_7] after 2 attempts\n";
        assert_eq!(expect_rate_limit_error(printed), Ok(()));
        for other in [
            "",
            "error: the proxy failed: Connection refused (os error 111)\n",
            "error: cannot connect to http://127.0.0.1:9/v1: Connection refused\n",
            "error: unexpected argument '--max-retries'\n",
            // Not retried as --max-retries 1 asks.
            "error: 429 Too Many Requests (rate_limit_exceeded): Rate limit reached \
             [request id req_mock_1]\n",
        ] {
            assert!(expect_rate_limit_error(other).is_err(), "{other:?}");
        }
    }

    #[test]
    fn parses_the_printed_tool_call() {
        let call =
            ToolCall::parse("[tool call call_1] get_weather({\"city\":\"Paris\"})\n").unwrap();
        assert_eq!(call.id, "call_1");
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments, r#"{"city":"Paris"}"#);
        assert!(ToolCall::parse("just text\n").is_none());
    }

    #[test]
    fn escapes_json_strings() {
        assert_eq!(json_string(r#"{"a":"b\c"}"#), r#""{\"a\":\"b\\c\"}""#);
        assert_eq!(json_string("18°C\n\u{1}"), "\"18°C\\n\\u0001\"");
    }

    #[test]
    fn quotes_shell_words() {
        assert_eq!(shell_quote("mock-echo"), "mock-echo");
        assert_eq!(shell_quote("hello world"), "'hello world'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
