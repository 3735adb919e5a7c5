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
//! - every published crate's package holds its README, both licenses and its sources;
//! - the code in the guides compiles: every `docs/*.md` guide and every README is a
//!   doctest of the `docs/` crate (`nexllm-docs`) or of its own crate, every fenced block
//!   names its language (an untyped block is Rust to rustdoc), and a Rust block is
//!   `ignore` only after the line [`IGNORE_MARKER`] (async-openai code, which we do not
//!   depend on).

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

    let docs = root.join("docs");
    let docs_manifest = read(&docs.join("Cargo.toml"))?;
    if !docs_manifest.contains("[lints]\nworkspace = true") {
        problems.push("docs/Cargo.toml does not inherit the workspace lints".into());
    }
    for file in rust_files(&docs.join("src"))? {
        check_module_doc(&root, &file, &mut problems)?;
        check_module_name(&root, &file, &mut problems);
    }
    check_guides_are_doctests(&root, &mut problems)?;

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

/// The line that must come right before a ```` ```rust,ignore ```` block of a guide.
const IGNORE_MARKER: &str = "<!-- async-openai, not compiled -->";

/// Every guide and README is included by the docs crate (or, for a crate README, by
/// its own crate as a `#[cfg(doctest)]` item), and its fenced blocks follow the rules
/// of [`check_fences`].
fn check_guides_are_doctests(root: &Path, problems: &mut Vec<String>) -> Result<(), String> {
    let docs_lib = read(&root.join("docs").join("src").join("lib.rs"))?;
    let mut markdown = vec![root.join("README.md")];

    let mut guides = Vec::new();
    for entry in
        std::fs::read_dir(root.join("docs")).map_err(|e| format!("cannot read docs/: {e}"))?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "md") {
            guides.push(path);
        }
    }
    guides.sort();
    for guide in guides {
        let name = guide
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !docs_lib.contains(&format!("include_str!(\"../{name}\")")) {
            problems.push(format!(
                "docs/{name} is not included in docs/src/lib.rs, so its code is not compiled"
            ));
        }
        markdown.push(guide);
    }
    if !docs_lib.contains("include_str!(\"../../README.md\")") {
        problems.push(
            "README.md is not included in docs/src/lib.rs, so its code is not compiled".into(),
        );
    }

    for krate in ALL_CRATES {
        let dir = root.join("crates").join(krate);
        let readme = dir.join("README.md");
        if !readme.is_file() {
            continue; // reported above
        }
        let own_lib = read(&dir.join("src").join("lib.rs")).unwrap_or_default();
        let included = docs_lib
            .contains(&format!("include_str!(\"../../crates/{krate}/README.md\")"))
            || (own_lib.contains("#[cfg(doctest)]")
                && own_lib.contains("include_str!(\"../README.md\")"));
        if !included {
            problems.push(format!(
                "crates/{krate}/README.md is a doctest of neither docs/src/lib.rs nor its crate, so its code is not compiled"
            ));
        }
        markdown.push(readme);
    }

    for file in markdown {
        check_fences(&relative(root, &file), &read(&file)?, problems);
    }
    Ok(())
}

/// Fenced blocks name their language, and a Rust block is `ignore` only after [`IGNORE_MARKER`].
///
/// Fences are read as CommonMark reads them (and so rustdoc): three or more backticks
/// or tildes open a block, which only a fence of the same character, at least as long
/// and without an info string, closes.
fn check_fences(name: &str, text: &str, problems: &mut Vec<String>) {
    // The character and length of the fence of the block we are in.
    let mut open: Option<(char, usize)> = None;
    let mut previous = "";
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((fence_char, fence_len, info)) = fence(trimmed) {
            let info = info.trim();
            match open {
                Some((c, len)) => {
                    if fence_char == c && fence_len >= len && info.is_empty() {
                        open = None;
                    }
                }
                None => {
                    open = Some((fence_char, fence_len));
                    let tokens: Vec<&str> = info
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|t| !t.is_empty())
                        .collect();
                    if tokens.is_empty() {
                        problems.push(format!(
                            "{name}:{}: a fenced block without a language is Rust to rustdoc; write ```text (or the language)",
                            number + 1
                        ));
                    } else if is_rust_block(&tokens)
                        && tokens
                            .iter()
                            .any(|t| *t == "ignore" || t.starts_with("ignore-"))
                        && previous.trim() != IGNORE_MARKER
                    {
                        problems.push(format!(
                            "{name}:{}: an `ignore`d Rust block is not compiled; make it compile (`no_run` if it needs a server), or mark async-openai code with the line `{IGNORE_MARKER}` before it",
                            number + 1
                        ));
                    }
                }
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
}

/// A code fence: three or more backticks or tildes, and the info string after them.
fn fence(line: &str) -> Option<(char, usize, &str)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = line.chars().take_while(|x| *x == c).count();
    let info = line.get(len..)?;
    // A backtick fence's info string has no backtick (else it is inline code).
    (len >= 3 && !(c == '`' && info.contains('`'))).then_some((c, len, info))
}

/// Whether rustdoc treats a block with these info-string tokens as Rust, as rustdoc
/// decides it: `rust` makes it Rust; a doctest attribute does too when no unknown
/// token came before it; a block of attributes alone is Rust.
fn is_rust_block(tokens: &[&str]) -> bool {
    const ATTRIBUTES: &[&str] = &[
        "ignore",
        "no_run",
        "should_panic",
        "compile_fail",
        "test_harness",
        "standalone_crate",
    ];
    let mut seen_rust = false;
    let mut seen_other = false;
    for token in tokens {
        if *token == "rust" {
            seen_rust = true;
        } else if ATTRIBUTES.contains(token)
            || token.starts_with("ignore-")
            || token.starts_with("edition")
        {
            seen_rust = !seen_other;
        } else {
            seen_other = true;
        }
    }
    seen_rust || !seen_other
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fence_problems(text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        check_fences("guide.md", text, &mut problems);
        problems
    }

    #[test]
    fn compiled_and_foreign_blocks_pass() {
        let text = "```rust\nlet a = 1;\n```\n\n```rust,no_run\nf();\n```\n\n```sh\ncargo test\n```\n\n```python\nprint(1)\n```\n";
        assert_eq!(fence_problems(text), Vec::<String>::new());
    }

    #[test]
    fn ignored_rust_needs_the_marker_on_the_line_before() {
        let unmarked = "Some text.\n\n```rust,ignore\nlet a = 1;\n```\n";
        let problems = fence_problems(unmarked);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("guide.md:3: an `ignore`d Rust block"),
            "{problems:?}"
        );

        let marked = format!("Some text.\n\n{IGNORE_MARKER}\n```rust,ignore\nlet a = 1;\n```\n");
        assert_eq!(fence_problems(&marked), Vec::<String>::new());
        // Attributes alone make a Rust block too.
        assert_eq!(fence_problems("```ignore\nx\n```\n").len(), 1);
        assert_eq!(fence_problems("```no_run,ignore-wasm32\nx\n```\n").len(), 1);
    }

    #[test]
    fn ignored_rust_is_found_whatever_the_token_order_or_fence() {
        // Each of these is an ignored Rust doctest to rustdoc.
        for block in [
            "```ignore,rust\nx\n```\n",
            "```text,ignore,rust\nx\n```\n",
            "```ignore,text\nx\n```\n",
            "~~~rust,ignore\nx\n~~~\n",
            "````rust,ignore\nx\n````\n",
        ] {
            assert_eq!(fence_problems(block).len(), 1, "{block:?}");
        }
        // And these are not Rust at all.
        for block in [
            "```sh,ignore\nx\n```\n",
            "```rust,text,ignore\nx\n```\n",
            "```text,no_run,rust,ignore\nx\n```\n",
        ] {
            assert_eq!(fence_problems(block), Vec::<String>::new(), "{block:?}");
        }
        // An untyped tilde fence is Rust to rustdoc too.
        assert_eq!(fence_problems("~~~\nx\n~~~\n").len(), 1);
    }

    #[test]
    fn a_shorter_fence_inside_a_longer_one_does_not_close_it() {
        let text = "````markdown\n```rust,ignore\nx\n```\n````\n\n```rust,ignore\ny\n```\n";
        let problems = fence_problems(text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("guide.md:7:"), "{problems:?}");
    }

    #[test]
    fn untyped_fences_are_reported_and_closing_fences_are_not() {
        let problems = fence_problems("```\nascii art\n```\n\n```text\nok\n```\n");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("guide.md:1: a fenced block without a language"));
    }

    #[test]
    fn the_repository_guides_pass() {
        let mut problems = Vec::new();
        check_guides_are_doctests(&project_root(), &mut problems).unwrap();
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_guide_missing_from_the_docs_crate_is_reported() {
        let root = std::env::temp_dir().join(format!("nexllm-tidy-{}", std::process::id()));
        std::fs::create_dir_all(root.join("docs").join("src")).unwrap();
        std::fs::write(root.join("README.md"), "# x\n").unwrap();
        std::fs::write(root.join("docs").join("kept.md"), "```rust\n```\n").unwrap();
        std::fs::write(root.join("docs").join("new-guide.md"), "text\n").unwrap();
        std::fs::write(
            root.join("docs").join("src").join("lib.rs"),
            "#[doc = include_str!(\"../kept.md\")]\n#[doc = include_str!(\"../../README.md\")]\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        check_guides_are_doctests(&root, &mut problems).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            problems,
            ["docs/new-guide.md is not included in docs/src/lib.rs, so its code is not compiled"]
        );
    }
}
