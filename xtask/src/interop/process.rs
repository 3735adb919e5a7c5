//! Processes we start: installers with a deadline, and servers that are
//! stopped by their pid when the guard drops.
//!
//! Children stay in our process group, so a Ctrl-C in the terminal reaches
//! them too; to stop one we signal its pid and then every descendant it
//! started (found through `/proc`), so a server that forks workers or a build
//! that runs compilers is stopped whole. Every wait has a deadline.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// How long a stopped server may take to exit before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// Runs `cmd` to completion with its output in `log`, killing it (and its
/// process group) when it is still running after `timeout`.
pub(crate) fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration) -> Result<(), String> {
    let what = describe(cmd);
    let mut child = spawn_logged(cmd, log)?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "`{what}` failed ({status}); the end of {}:\n{}",
                    log.display(),
                    tail(log, 30)
                ));
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_tree(child.id());
                let _ = child.kill();
                let _ = wait_with_deadline(&mut child, GRACE);
                return Err(format!(
                    "`{what}` did not finish within {}s and was killed; the end of {}:\n{}",
                    timeout.as_secs(),
                    log.display(),
                    tail(log, 30)
                ));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(format!("waiting for `{what}`: {e}")),
        }
    }
}

/// A server we started. Dropping it stops it: SIGTERM to its pid, then
/// SIGKILL to it and its descendants after a grace period.
#[derive(Debug)]
pub(crate) struct Server {
    name: String,
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Server {
    /// Starts `cmd` with its output in `log`.
    pub(crate) fn start(name: &str, cmd: &mut Command, log: &Path) -> Result<Server, String> {
        let child = spawn_logged(cmd, log)?;
        eprintln!("   started {name} (pid {})", child.id());
        Ok(Server {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            exited: None,
        })
    }

    /// Waits until `ready` answers true, failing when the server exits first
    /// or `timeout` passes.
    pub(crate) fn wait_until_ready(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let deadline = started + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return Err(format!(
                    "{} exited before it was ready ({status}); the end of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 40)
                ));
            }
            if ready() {
                return Ok(started.elapsed());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} was not ready within {}s; the end of {}:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display(),
                    tail(&self.log, 40)
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub(crate) fn kill_now(&mut self) {
        if self.exited.is_some() {
            return;
        }
        kill_tree(self.child.id());
        let _ = self.child.kill();
        self.exited = wait_with_deadline(&mut self.child, GRACE);
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exited = Some(status);
                false
            }
            _ => true,
        }
    }

    /// The last lines of the server's log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// Stops the server: SIGTERM to its pid, then SIGKILL to whatever of it
    /// and its descendants is left after the grace period.
    pub(crate) fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        let pid = self.child.id();
        let family = descendants(pid);
        signal(&[pid], "TERM");
        self.exited = wait_with_deadline(&mut self.child, GRACE);
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = wait_with_deadline(&mut self.child, GRACE);
        }
        // Workers that outlived their parent.
        let alive: Vec<u32> = family.into_iter().filter(|p| is_alive(*p)).collect();
        if !alive.is_empty() {
            signal(&alive, "KILL");
            let deadline = Instant::now() + GRACE;
            while alive.iter().any(|p| is_alive(*p)) && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        eprintln!("   stopped {} (pid {pid})", self.name);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1 (bound, read, released).
pub(crate) fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free local port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free local port: {e}"))
}

/// The last `lines` lines of a log file (at most 64 KiB are read).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("({} cannot be read)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The command line, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child, String> {
    let what = describe(cmd);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    eprintln!("   $ {what}  (output in {})", log.display());
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("could not start `{what}`: {e}"))
}

/// SIGKILL to `pid` and every process descended from it.
fn kill_tree(pid: u32) {
    let mut family = descendants(pid);
    family.push(pid);
    signal(&family, "KILL");
}

/// Sends `signal` to these pids. Failures are ignored: a process may be gone.
fn signal(pids: &[u32], signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--"])
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every process whose chain of parents leads to `root` (from `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while let (Some(&parent), true) = (family.get(i), family.len() < 4096) {
        family.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    family.retain(|p| *p != root);
    family
}

/// The parent pid from `/proc/<pid>/stat` (the field after the `(comm)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.get(stat.rfind(')')? + 1..)?;
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_comm = stat.get(stat.rfind(')')? + 1..)?.to_owned();
            after_comm
                .split_whitespace()
                .next()
                .map(|state| state != "Z")
        })
        .unwrap_or(false)
}

fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_server_takes_its_children_along() {
        let dir = std::env::temp_dir().join(format!("nexllm-interop-test-{}", std::process::id()));
        let log = dir.join("server.log");
        // A parent with a child of its own, which SIGTERM to the parent leaves behind.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 60 & echo started; wait"]);
        let mut server = Server::start("test server", &mut cmd, &log).unwrap();
        server
            .wait_until_ready(Duration::from_secs(30), || {
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started"))
            })
            .unwrap();
        let pid = server.child.id();
        let children = descendants(pid);
        assert_eq!(children.len(), 1, "the sleep: {children:?}");
        drop(server);
        assert!(!is_alive(pid));
        assert!(children.iter().all(|c| !is_alive(*c)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_command_past_its_deadline_is_killed() {
        let log =
            std::env::temp_dir().join(format!("nexllm-interop-run-{}.log", std::process::id()));
        let err = run_logged(
            Command::new("sleep").arg("30"),
            &log,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.contains("did not finish within"), "{err}");
        assert!(run_logged(&mut Command::new("true"), &log, Duration::from_secs(30)).is_ok());
        assert!(run_logged(&mut Command::new("false"), &log, Duration::from_secs(30)).is_err());
        let _ = std::fs::remove_file(log);
    }
}
