//! `cargo xtask tidy`: the conventions of ../shared/STYLE.md, checked mechanically.
//!
//! - every Rust source file of a crate starts with a `//!` module doc;
//! - every crate has a README.md, and every library crate an `examples/` folder;
//! - library crates deny missing docs and forbid unsafe code;
//! - every crate inherits the workspace lints;
//! - no module is called `utils`, `helpers` or `misc`;
//! - `nexllm-proto` touches no clock, sleep, socket, file, environment, process or
//!   RNG outside `Config::from_env` and its `#[cfg(test)]` modules (which, by our
//!   convention, come last in a file), and depends on no I/O crate;
//! - every published crate's package holds its README, both licenses and its sources.

use std::path::{Path, PathBuf};

use crate::command::{cargo, output};
use crate::project_root;

const LIBRARY_CRATES: &[&str] = &[
    "nexllm-proto",
    "nexllm-hyper",
    "nexllm-blocking",
    "nexllm-mock",
];
const ALL_CRATES: &[&str] = &[
    "nexllm-proto",
    "nexllm-hyper",
    "nexllm-blocking",
    "nexllm-mock",
    "nexllm-cli",
    "nexllm-scenarios",
];
const FORBIDDEN_MODULE_NAMES: &[&str] = &["utils", "util", "helpers", "helper", "misc"];

/// Calls that would make the core non-deterministic or do I/O.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "thread::sleep",
    "thread::spawn",
    "std::net",
    "std::fs",
    "std::process",
    "std::io::stdin",
    "std::env::var",
    "env::var",
    "rand::",
    "tokio",
    "getrandom",
];

/// Crates that must never appear under nexllm-proto.
const FORBIDDEN_CORE_DEPS: &[&str] = &[
    "tokio", "hyper", "ureq", "futures", "rustls", "reqwest", "mio",
];

pub(crate) fn run() -> Result<(), String> {
    let root = project_root();
    let mut problems = Vec::new();

    for krate in ALL_CRATES {
        let dir = root.join("crates").join(krate);
        if !dir.join("README.md").is_file() {
            problems.push(format!("crates/{krate} has no README.md"));
        }
        let manifest = read(&dir.join("Cargo.toml"))?;
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "crates/{krate}/Cargo.toml does not inherit the workspace lints"
            ));
        }
        for file in rust_files(&dir.join("src"))? {
            check_module_doc(&root, &file, &mut problems)?;
            check_module_name(&root, &file, &mut problems);
        }
    }
    for file in rust_files(&root.join("xtask").join("src"))? {
        check_module_doc(&root, &file, &mut problems)?;
        check_module_name(&root, &file, &mut problems);
    }
    for krate in LIBRARY_CRATES {
        let dir = root.join("crates").join(krate);
        let has_example = rust_files(&dir.join("examples"))
            .map(|f| !f.is_empty())
            .unwrap_or(false);
        if !has_example {
            problems.push(format!("crates/{krate} has no examples/"));
        }
        let lib = read(&dir.join("src").join("lib.rs"))?;
        for attr in ["#![deny(missing_docs)]", "#![forbid(unsafe_code)]"] {
            if !lib.contains(attr) {
                problems.push(format!("crates/{krate}/src/lib.rs lacks {attr}"));
            }
        }
    }

    check_core_is_deterministic(&root, &mut problems)?;
    check_core_dependencies(&mut problems)?;
    check_package_contents(&mut problems)?;

    if problems.is_empty() {
        eprintln!("tidy: ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("tidy found {} problem(s)", problems.len()))
    }
}

fn check_module_doc(root: &Path, file: &Path, problems: &mut Vec<String>) -> Result<(), String> {
    let text = read(file)?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        problems.push(format!(
            "{} does not start with a `//!` module doc",
            relative(root, file)
        ));
    }
    Ok(())
}

fn check_module_name(root: &Path, file: &Path, problems: &mut Vec<String>) {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = file
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if stem == "mod" { parent } else { stem };
    if FORBIDDEN_MODULE_NAMES.contains(&name.as_str()) {
        problems.push(format!(
            "{} is a `{name}` module: name modules for what they do",
            relative(root, file)
        ));
    }
}

fn check_core_is_deterministic(root: &Path, problems: &mut Vec<String>) -> Result<(), String> {
    let src = root.join("crates").join("nexllm-proto").join("src");
    for file in rust_files(&src)? {
        let text = read(&file)?;
        let is_config = file.file_name().is_some_and(|n| n == "config.rs");
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break; // test modules come last
            }
            if code.starts_with("//") {
                continue;
            }
            for forbidden in FORBIDDEN_IN_CORE {
                let allowed = is_config && forbidden.contains("env::var");
                if line.contains(forbidden) && !allowed {
                    problems.push(format!(
                        "{}:{}: nexllm-proto must not use `{forbidden}` (time, randomness and I/O come in as arguments)",
                        relative(root, &file),
                        number + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_core_dependencies(problems: &mut Vec<String>) -> Result<(), String> {
    let tree = output(&mut cargo(&[
        "tree",
        "-p",
        "nexllm-proto",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--all-features",
    ]))?;
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if FORBIDDEN_CORE_DEPS
            .iter()
            .any(|bad| name == *bad || name.starts_with(&format!("{bad}-")))
        {
            problems.push(format!("nexllm-proto depends on {name}, an I/O crate"));
        }
    }
    Ok(())
}

/// The crates we publish, and what each package must contain.
const PUBLISHED: &[(&str, &[&str])] = &[
    ("nexllm-proto", &["src/lib.rs", "examples/std_tcp.rs"]),
    ("nexllm-hyper", &["src/lib.rs", "examples/chat.rs"]),
    ("nexllm-blocking", &["src/lib.rs", "examples/chat.rs"]),
    ("nexllm-mock", &["src/lib.rs", "src/main.rs"]),
    ("nexllm-cli", &["src/main.rs"]),
];

/// `cargo package --list` of every published crate holds its README, both
/// license files, its manifest and its sources, and nothing from `target/`.
fn check_package_contents(problems: &mut Vec<String>) -> Result<(), String> {
    for (krate, extra) in PUBLISHED {
        let list = output(&mut cargo(&[
            "package",
            "--list",
            "--allow-dirty",
            "-p",
            krate,
        ]))?;
        let files: Vec<&str> = list.lines().map(str::trim).collect();
        for required in ["Cargo.toml", "README.md", "LICENSE-MIT", "LICENSE-APACHE"]
            .iter()
            .chain(extra.iter())
        {
            if !files.contains(required) {
                problems.push(format!("the {krate} package lacks {required}"));
            }
        }
        if let Some(bad) = files
            .iter()
            .find(|f| f.starts_with("target/") || f.contains("/target/"))
        {
            problems.push(format!("the {krate} package contains build output: {bad}"));
        }
    }
    Ok(())
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
