//! `Config::from_env` reads the process environment, which a running test
//! cannot change safely (and this workspace forbids `unsafe`): each case
//! re-runs this test binary with its own `NEXLLM_API_KEY` and
//! `NEXLLM_BASE_URL`, and the child checks what `from_env` makes of them.
//! It has its own `main` (`harness = false`), so that the child's half is not
//! a test of its own that passes without checking anything.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::print_stdout,
    reason = "test helpers fail loudly; the child reads its case from the environment; \
              the child tells the parent on stdout that it checked its case"
)]

use std::process::Command;

use nexllm_proto::config::{API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL};
use nexllm_proto::{Config, Error};

/// Set only in a child: `KEY BASE_URL` as `from_env` must read them, or
/// `no-key` when it must fail.
const EXPECT: &str = "NEXLLM_TEST_FROM_ENV_EXPECT";
/// What a child prints once it has checked its case.
const CHECKED: &str = "from_env case checked";

fn main() {
    match std::env::var(EXPECT) {
        Ok(expected) => from_env_child(&expected),
        Err(_) => {
            from_env_reads_the_key_and_the_base_url();
            println!("test from_env_reads_the_key_and_the_base_url ... ok");
        }
    }
}

/// The child's half of [`from_env_reads_the_key_and_the_base_url`].
fn from_env_child(expected: &str) {
    match (Config::from_env(), expected.split_once(' ')) {
        (Ok(config), Some((key, base_url))) => {
            assert_eq!(config.api_key(), Some(key));
            assert_eq!(config.base_url, base_url);
        }
        (Err(Error::InvalidRequest(e)), None) => assert_eq!(e.field, "api_key"),
        (got, _) => panic!("expected {expected:?}, got {got:?}"),
    }
    println!("{CHECKED}");
}

fn from_env_reads_the_key_and_the_base_url() {
    let local = "http://127.0.0.1:4000/v1";
    let cases: &[(Option<&str>, Option<&str>, String)] = &[
        (Some("sk-1"), None, format!("sk-1 {DEFAULT_BASE_URL}")),
        (Some(" sk-1\n"), Some(local), format!("sk-1 {local}")),
        (
            Some("sk-1"),
            Some("  http://h/v1  "),
            "sk-1 http://h/v1".into(),
        ),
        // Set to blanks counts as unset.
        (Some("sk-1"), Some(" "), format!("sk-1 {DEFAULT_BASE_URL}")),
        (Some("sk-1"), Some(""), format!("sk-1 {DEFAULT_BASE_URL}")),
        (None, Some(local), "no-key".into()),
        (Some("  "), None, "no-key".into()),
    ];
    for (key, base_url, expected) in cases {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child.env(EXPECT, expected);
        for (name, value) in [(API_KEY_ENV, key), (BASE_URL_ENV, base_url)] {
            match value {
                Some(value) => child.env(name, value),
                None => child.env_remove(name),
            };
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(CHECKED),
            "{key:?} {base_url:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
