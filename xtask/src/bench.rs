//! `cargo xtask bench`: this SDK against its peers, printed as one table.
//!
//! 1. Times a clean build of `nexllm-proto` (its own empty target folder) and counts
//!    the crates it compiles.
//! 2. Builds the bench crate `bench/` in release mode. It is outside the workspace,
//!    so its peers (async-openai, reqwest, eventsource-stream, sse-stream) are
//!    compiled only here, never by `cargo build` or `cargo test --workspace`.
//! 3. Runs it: SSE decoding, stream parsing, allocations, end to end over loopback.
//!
//! `--update-docs` replaces the table in `docs/performance.md` (between its
//! `<!-- bench:begin -->` and `<!-- bench:end -->` markers) with this run's.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::command::{cargo, exec};
use crate::project_root;

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut update_docs = false;
    let mut skip_proto_build = false;
    let mut passed: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--update-docs" => update_docs = true,
            "--no-proto-build" => skip_proto_build = true,
            "--quick" => passed.push(arg.clone()),
            "--runs" | "--e2e-runs" | "--only" => {
                let value = it.next().ok_or(format!("bench: {arg} needs a value"))?;
                passed.push(arg.clone());
                passed.push(value.clone());
            }
            other => {
                return Err(format!(
                    "bench: unexpected argument {other:?}\n\
                     usage: cargo xtask bench [--quick] [--runs N] [--e2e-runs N] [--only PARTS] \
                     [--no-proto-build] [--update-docs]"
                ));
            }
        }
    }
    let root = project_root();
    let started = Instant::now();

    if !skip_proto_build {
        let (seconds, crates) = proto_clean_build(&root)?;
        eprintln!(
            "xtask: nexllm-proto clean build: {seconds:.1} s, {crates} crates besides itself"
        );
        passed.extend([
            "--proto-build-secs".to_owned(),
            format!("{seconds:.2}"),
            "--proto-crates".to_owned(),
            crates.to_string(),
        ]);
    }

    let manifest = root.join("bench").join("Cargo.toml");
    // Not `--locked`: the peers are pinned with `=` in bench/Cargo.toml, and the lock
    // file must not fail the bench when a transport adds a dependency.
    exec(cargo(&["build", "--release", "--manifest-path"]).arg(&manifest))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("bench").join("target"));
    let binary = target.join("release").join("nexllm-bench");

    let report = root.join("bench").join("target").join("report.md");
    std::fs::create_dir_all(report.parent().unwrap_or(&root))
        .map_err(|e| format!("cannot create bench/target: {e}"))?;
    let mut bench = Command::new(&binary);
    bench
        .current_dir(&root)
        .arg("all")
        .args(&passed)
        .arg("--out")
        .arg(&report);
    exec(&mut bench)?;

    if update_docs {
        let text = std::fs::read_to_string(&report)
            .map_err(|e| format!("cannot read {}: {e}", report.display()))?;
        update_performance_doc(&root.join("docs").join("performance.md"), &text)?;
    }
    eprintln!(
        "xtask: bench done in {:.0} s (build included)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds `nexllm-proto` (dev profile, as `cargo build` does) into an empty target
/// folder and returns the wall time and how many other crates it compiled. Sources
/// are fetched first, so the time is compiling only.
fn proto_clean_build(root: &Path) -> Result<(f64, usize), String> {
    exec(&mut cargo(&["fetch", "--locked"]))?;
    let target = root.join("bench").join("target").join("proto-clean-build");
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| format!("cannot empty {}: {e}", target.display()))?;
    }
    let mut build = cargo(&["build", "--locked", "--offline", "-p", "nexllm-proto"]);
    build.env("CARGO_TARGET_DIR", &target);
    eprintln!(
        "$ CARGO_TARGET_DIR={} cargo build -p nexllm-proto",
        target.display()
    );
    let start = Instant::now();
    let output = build
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("the clean build of nexllm-proto failed:\n{log}"));
    }
    let crates = log
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
        .filter(|l| !l.starts_with("nexllm-proto "))
        .count();
    Ok((seconds, crates))
}

/// Puts `report` between the markers of `doc`.
fn update_performance_doc(doc: &Path, report: &str) -> Result<(), String> {
    let text =
        std::fs::read_to_string(doc).map_err(|e| format!("cannot read {}: {e}", doc.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} has no {BEGIN} ... {END} markers",
            doc.display()
        ));
    };
    if end < begin {
        return Err(format!("{}: {END} comes before {BEGIN}", doc.display()));
    }
    let updated = format!(
        "{}{BEGIN}\n{}\n{}",
        &text[..begin],
        report.trim_end(),
        &text[end..]
    );
    std::fs::write(doc, updated).map_err(|e| format!("cannot write {}: {e}", doc.display()))?;
    eprintln!("xtask: updated {}", doc.display());
    Ok(())
}
