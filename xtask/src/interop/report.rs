//! The checks' results: printed as they finish, counted at the end.

use std::time::Instant;

/// Every check run so far.
#[derive(Debug, Default)]
pub(crate) struct Report {
    passed: usize,
    failures: Vec<String>,
}

impl Report {
    /// Runs one check and records its result.
    pub(crate) fn check(&mut self, name: &str, check: impl FnOnce() -> Result<(), String>) {
        let started = Instant::now();
        let result = check();
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                self.passed += 1;
                eprintln!("   ok      {name} ({secs:.1}s)");
            }
            Err(message) => self.fail(name, &message),
        }
    }

    /// Records a failure that is not one check's (a server that did not start).
    pub(crate) fn fail(&mut self, name: &str, message: &str) {
        eprintln!("   FAILED  {name}\n{}", indent(message));
        self.failures.push(format!("{name}: {message}"));
    }

    /// How many checks passed.
    pub(crate) fn passed(&self) -> usize {
        self.passed
    }

    /// The failures, each `name: message`.
    pub(crate) fn failures(&self) -> &[String] {
        &self.failures
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("           {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Ok` when `condition` holds, else the error `message()` describes.
pub(crate) fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}
