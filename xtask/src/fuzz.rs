//! `cargo xtask fuzz`: run the cargo-fuzz targets in `fuzz/` on the nightly toolchain.

use std::path::Path;
use std::process::Command;

use crate::command::{exec, output};
use crate::project_root;

/// Every target in `fuzz/fuzz_targets/`, by file name.
fn targets() -> Result<Vec<String>, String> {
    let dir = project_root().join("fuzz").join("fuzz_targets");
    let mut names = Vec::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds: u64 = 60;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?;
            }
            name if target.is_none() && !name.starts_with('-') => target = Some(name.to_owned()),
            other => return Err(format!("fuzz: unexpected argument {other:?}")),
        }
    }
    let known = targets()?;
    let Some(target) = target else {
        return Err(format!("fuzz: name a target: {}", known.join(", ")));
    };
    if !known.contains(&target) {
        return Err(format!(
            "fuzz: no target {target:?}; targets: {}",
            known.join(", ")
        ));
    }
    ensure_cargo_fuzz()?;
    fuzz_one(&target, seconds)
}

/// Runs every target for `seconds` each (used by `cargo xtask ci`).
pub(crate) fn run_all_briefly(seconds: u64) -> Result<(), String> {
    if !nightly_available() {
        eprintln!(
            "xtask: WARNING: no nightly toolchain on this machine, so the fuzz step is skipped \
             (cargo-fuzz needs nightly; install it with `rustup toolchain install nightly`)"
        );
        return Ok(());
    }
    ensure_cargo_fuzz()?;
    for target in targets()? {
        fuzz_one(&target, seconds)?;
    }
    Ok(())
}

fn fuzz_one(target: &str, seconds: u64) -> Result<(), String> {
    let root = project_root();
    let seed = root.join("fuzz").join("corpus").join("seed").join(target);
    // Work on a copy of the seeds so runs never write into the committed corpus.
    let work = root.join("fuzz").join("corpus").join(target);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    if seed.is_dir() {
        copy_dir(&seed, &work)?;
    }
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&root).args([
        "+nightly",
        "fuzz",
        "run",
        target,
        &work.to_string_lossy(),
        "--",
        &format!("-max_total_time={seconds}"),
        "-rss_limit_mb=2048",
        "-timeout=10",
        "-max_len=65536",
    ]);
    exec(&mut cmd)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_file() {
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, to.join(name))
                    .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

fn nightly_available() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    if output(Command::new("cargo").args(["fuzz", "--version"])).is_ok() {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz from crates.io");
    exec(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}
