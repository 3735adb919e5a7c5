//! The SDK's programs under test: the `nexllm` binary (both transports) and
//! the transport crates' `chat` and `stream` examples, built once and run
//! with a deadline, their output captured for the checks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nexllm_proto::types::ChatCompletion;
use serde_json::Value;

use crate::command::{cargo, exec};

/// The transports the `nexllm` binary offers (`--transport`).
pub(crate) const TRANSPORTS: &[&str] = &["hyper", "blocking"];

/// The crates whose `chat` and `stream` examples are run.
const EXAMPLE_CRATES: &[(&str, &str)] =
    &[("nexllm-hyper", "hyper"), ("nexllm-blocking", "blocking")];

/// The most output kept from one program.
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// The built programs.
#[derive(Debug, Clone)]
pub(crate) struct Sdk {
    /// The `nexllm` binary.
    pub(crate) cli: PathBuf,
    /// `(transport, example name, program)` for each example found.
    pub(crate) examples: Vec<(&'static str, &'static str, PathBuf)>,
}

impl Sdk {
    /// Builds the `nexllm` binary and the examples (debug profile). The
    /// examples are found in `cargo metadata` (their target names may differ
    /// from their file names).
    pub(crate) fn build(metadata: &Value, target_dir: &Path) -> Result<Sdk, String> {
        exec(&mut cargo(&[
            "build",
            "-p",
            "nexllm-cli",
            "--bin",
            "nexllm",
        ]))?;
        let mut examples = Vec::new();
        for (krate, transport) in EXAMPLE_CRATES {
            let targets = example_targets(metadata, krate);
            if targets.is_empty() {
                eprintln!("   {krate} has no chat/stream examples yet; skipping them");
                continue;
            }
            let mut args = vec!["build", "-p", krate];
            for (_, target) in &targets {
                args.extend(["--example", target.as_str()]);
            }
            exec(&mut cargo(&args))?;
            for (role, target) in targets {
                let path = target_dir.join("debug").join("examples").join(target);
                examples.push((*transport, role, path));
            }
        }
        Ok(Sdk {
            cli: target_dir.join("debug").join("nexllm"),
            examples,
        })
    }
}

/// `(role, target name)` of the examples of `krate` whose file is
/// `examples/chat.rs` or `examples/stream.rs`.
fn example_targets(metadata: &Value, krate: &str) -> Vec<(&'static str, String)> {
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(package) = packages
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(krate))
    else {
        return Vec::new();
    };
    let targets = package
        .get("targets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut found = Vec::new();
    for role in ["chat", "stream"] {
        let file = format!("examples/{role}.rs");
        let target = targets.iter().find(|t| {
            let is_example = t
                .get("kind")
                .and_then(Value::as_array)
                .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
            let path = t
                .get("src_path")
                .and_then(Value::as_str)
                .unwrap_or_default();
            is_example && path.ends_with(&file)
        });
        if let Some(name) = target.and_then(|t| t.get("name")).and_then(Value::as_str) {
            found.push((role, name.to_owned()));
        }
    }
    found
}

/// A program that finished (or was killed at its deadline).
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    /// The exit code; `None` when it was killed.
    pub(crate) code: Option<i32>,
    /// What it printed on stdout.
    pub(crate) stdout: String,
    /// What it printed on stderr.
    pub(crate) stderr: String,
}

impl Finished {
    /// The error the CLI prints when a call fails: `error: <Display>`, one
    /// line (the CLI escapes control characters of a server's message), to the end.
    pub(crate) fn error_line(&self) -> Option<&str> {
        let start = if self.stderr.starts_with("error: ") {
            0
        } else {
            self.stderr.rfind("\nerror: ")? + 1
        };
        self.stderr
            .get(start..)
            .and_then(|s| s.strip_prefix("error: "))
            .map(str::trim_end)
    }

    /// The `ChatCompletion` printed by `--json`.
    pub(crate) fn completion(&self) -> Result<ChatCompletion, String> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            format!(
                "stdout is not a ChatCompletion ({e}): {:?}; stderr: {:?}",
                self.stdout, self.stderr
            )
        })
    }

    /// Fails unless the program exited with `code`.
    pub(crate) fn expect_exit(&self, code: i32) -> Result<(), String> {
        if self.code == Some(code) {
            Ok(())
        } else {
            Err(format!(
                "exit code {:?}, expected {code}; stdout: {:?}; stderr: {:?}",
                self.code, self.stdout, self.stderr
            ))
        }
    }
}

/// A program running, its output collected by two threads.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    started: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts `cmd` with stdout and stderr captured.
    pub(crate) fn start(cmd: &mut Command) -> Result<Running, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(Source::Out(out), Arc::clone(&stdout)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(Source::Err(err), Arc::clone(&stderr)));
        }
        Ok(Running {
            child,
            started: Instant::now(),
            stdout,
            stderr,
            readers,
        })
    }

    /// Waits until stdout holds at least `bytes` bytes, the program exits, or
    /// `timeout` passes; answers whether the bytes arrived.
    pub(crate) fn wait_for_stdout(&mut self, bytes: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if text(&self.stdout).len() >= bytes {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (killing the program at `timeout`) and collects its output.
    pub(crate) fn finish(mut self, timeout: Duration) -> Finished {
        let deadline = self.started + timeout;
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Finished {
            code,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to completion within `timeout`.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Finished, String> {
    Ok(Running::start(cmd)?.finish(timeout))
}

enum Source {
    Out(ChildStdout),
    Err(ChildStderr),
}

fn collect(source: Source, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader: Box<dyn Read + Send> = match source {
            Source::Out(out) => Box::new(out),
            Source::Err(err) => Box::new(err),
        };
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(buf.get(..n).unwrap_or_default());
            // Append whole UTF-8 sequences only (an invalid one is replaced).
            let valid = match std::str::from_utf8(&pending) {
                Ok(s) => s.len(),
                Err(e) => e.valid_up_to() + e.error_len().unwrap_or(0),
            };
            if let Ok(mut text) = into.lock() {
                if text.len() < OUTPUT_LIMIT {
                    text.push_str(&String::from_utf8_lossy(
                        pending.get(..valid).unwrap_or_default(),
                    ));
                }
            }
            pending.drain(..valid);
        }
        if !pending.is_empty() {
            if let Ok(mut text) = into.lock() {
                text.push_str(&String::from_utf8_lossy(&pending));
            }
        }
    })
}

fn text(shared: &Arc<Mutex<String>>) -> String {
    shared.lock().map(|s| s.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(stderr: &str) -> Finished {
        Finished {
            code: Some(1),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn the_error_runs_to_the_end_of_stderr() {
        let out = finished(
            "warning: something\nerror: 429 Too Many Requests (429): first line\n\nsecond line [request id abc] after 3 attempts\n",
        );
        assert_eq!(
            out.error_line(),
            Some(
                "429 Too Many Requests (429): first line\n\nsecond line [request id abc] after 3 attempts"
            )
        );
        assert_eq!(
            finished("error: 401 Unauthorized").error_line(),
            Some("401 Unauthorized")
        );
        assert_eq!(finished("all good\n").error_line(), None);
    }

    #[test]
    fn output_is_captured_and_the_deadline_kills() {
        let out = run(
            Command::new("sh").args(["-c", "printf 'h\\303\\251llo'; echo oops >&2"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(out.code, Some(0));
        assert_eq!(out.stdout, "héllo");
        assert_eq!(out.stderr, "oops\n");

        let started = Instant::now();
        let out = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap();
        assert_eq!(out.code, None, "killed at the deadline");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
