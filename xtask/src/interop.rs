//! `cargo xtask interop`: the SDK against real OpenAI-compatible servers on
//! 127.0.0.1, in this order:
//!
//! 1. **prism**: Stoplight Prism serving OpenAI's published spec checks every
//!    kind of request body the SDK produces, and generated ones (proptest).
//! 2. **litellm**: LiteLLM's proxy with mock models, a custom-auth hook and a
//!    provider that fails mid-stream; the `nexllm` binary (both transports)
//!    and the transport crates' examples run against it.
//! 3. **llama**: llama.cpp's `llama-server` with SmolLM2-135M-Instruct, a real
//!    model that generates tokens.
//!
//! What is missing is installed into a cache outside the clone (see
//! [`install`]); the installs run in parallel with the earlier suites. Every
//! process started is stopped by its pid (with its descendants), also when a
//! check fails, and every wait is bounded. Logs go to `target/interop/`.

mod bodies;
mod generated;
mod http;
mod install;
mod litellm;
mod llama;
mod prism;
mod process;
mod report;
mod sdk;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use install::Cache;
use report::Report;
use sdk::Sdk;

/// The three suites, in the order they run.
const SUITES: &[&str] = &["prism", "litellm", "llama"];

/// What every suite needs to know.
#[derive(Debug)]
pub(crate) struct Context {
    /// The workspace root.
    pub(crate) root: PathBuf,
    /// The folder holding OpenAI's spec and the script that readies it for Prism.
    pub(crate) spec_dir: PathBuf,
    /// Where logs and generated files go (`target/interop`).
    pub(crate) run_dir: PathBuf,
    /// How many generated requests the schema property sends.
    pub(crate) cases: u32,
}

#[derive(Debug)]
struct Options {
    suites: Vec<String>,
    cache: Option<PathBuf>,
    cases: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        suites: SUITES.iter().map(|s| (*s).to_owned()).collect(),
        cache: None,
        cases: 256,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--only" => {
                let list = it.next().ok_or("--only needs a list, e.g. prism,litellm")?;
                options.suites = list.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(bad) = options
                    .suites
                    .iter()
                    .find(|s| !SUITES.contains(&s.as_str()))
                {
                    return Err(format!(
                        "interop: unknown suite {bad:?} (known: {SUITES:?})"
                    ));
                }
            }
            "--cache" => {
                options.cache = Some(PathBuf::from(it.next().ok_or("--cache needs a folder")?));
            }
            "--cases" => {
                options.cases = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--cases needs a number")?;
            }
            other => {
                return Err(format!(
                    "interop: unknown option {other:?}\n\
                     usage: cargo xtask interop [--only prism,litellm,llama] [--cache DIR] [--cases N]"
                ));
            }
        }
    }
    Ok(options)
}

/// Runs the suites; fails when any check failed.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let options = parse(args)?;
    let wants = |suite: &str| options.suites.iter().any(|s| s == suite);
    let root = crate::project_root();
    let spec_dir = spec_dir(&root)?;
    let metadata = cargo_metadata()?;
    let target_dir = metadata
        .get("target_directory")
        .and_then(|t| t.as_str())
        .map(PathBuf::from)
        .ok_or("cargo metadata has no target_directory")?;
    let run_dir = target_dir.join("interop");
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    let cache_root = match options.cache.clone() {
        Some(dir) => dir,
        None => Cache::default_root()?,
    };
    eprintln!(
        "interop: suites {:?}, cache {}, logs {}",
        options.suites,
        cache_root.display(),
        run_dir.display()
    );
    let cache = Cache::new(cache_root, run_dir.join("logs"));
    let ctx = Context {
        root: root.clone(),
        spec_dir,
        run_dir,
        cases: options.cases,
    };
    let mut report = Report::default();

    // PyYAML, cmake and ninja: wanted by the Prism spec rewrite and by the
    // llama.cpp build, installed once by whichever asks first.
    let tools = OnceLock::new();
    let python_tools = || -> Result<PathBuf, String> {
        tools.get_or_init(|| install::python_tools(&cache)).clone()
    };

    std::thread::scope(|scope| {
        // The installs run in the background while the earlier suites run.
        if wants("prism") || wants("llama") {
            // Whoever needs the tools next waits for this one install.
            scope.spawn(|| python_tools().map(drop));
        }
        let prism_install = wants("prism").then(|| {
            scope.spawn(|| {
                let script = install::prism(&cache, &root.join("xtask/interop/prism"))?;
                Ok::<_, String>((script, python_tools()?))
            })
        });
        let litellm_install = wants("litellm").then(|| {
            scope.spawn(|| {
                install::litellm(&cache, &root.join("xtask/interop/litellm/constraints.txt"))
            })
        });
        let llama_install = wants("llama").then(|| {
            scope.spawn(|| {
                let tools_bin = python_tools()?;
                let model = install::smollm2(&cache, &tools_bin)?;
                let server = install::llama_server(&cache, &tools_bin)?;
                Ok::<_, String>((server, model))
            })
        });

        let sdk = if wants("litellm") || wants("llama") {
            section("building the nexllm binary and the examples", started);
            match Sdk::build(&metadata, &target_dir) {
                Ok(sdk) => Some(sdk),
                Err(e) => {
                    report.fail("build the SDK programs", &e);
                    None
                }
            }
        } else {
            None
        };

        if let Some(install) = prism_install {
            section("prism: OpenAI's schema", started);
            let result = join(install)
                .and_then(|(script, tools_bin)| prism::run(&ctx, &script, &tools_bin, &mut report));
            if let Err(e) = result {
                report.fail("prism", &e);
            }
        }
        if let Some(install) = litellm_install {
            section("litellm: LiteLLM's proxy", started);
            let result = join(install).and_then(|litellm| match &sdk {
                Some(sdk) => litellm::run(&ctx, &litellm, sdk, &mut report),
                None => Err("the SDK programs did not build".to_owned()),
            });
            if let Err(e) = result {
                report.fail("litellm", &e);
            }
        }
        if let Some(install) = llama_install {
            section("llama: llama.cpp's llama-server with SmolLM2-135M", started);
            let result = join(install).and_then(|(server, model)| match &sdk {
                Some(sdk) => llama::run(&ctx, &server, &model, sdk, &mut report),
                None => Err("the SDK programs did not build".to_owned()),
            });
            if let Err(e) = result {
                report.fail("llama", &e);
            }
        }
    });

    let failed = report.failures().len();
    eprintln!(
        "\ninterop took {:.0}s; logs in {}",
        started.elapsed().as_secs_f64(),
        ctx.run_dir.display()
    );
    for failure in report.failures() {
        eprintln!("  failed: {}", failure.lines().next().unwrap_or_default());
    }
    println!("interop: {} passed, {failed} failed", report.passed());
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} interop check(s) failed"))
    }
}

fn section(name: &str, started: Instant) {
    eprintln!("\n==> {name} (at {:.0}s)", started.elapsed().as_secs_f64());
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
    handle
        .join()
        .unwrap_or_else(|_| Err("the install thread panicked".to_owned()))
}

/// `xtask/interop/openai-spec/` in the repository (OpenAI's spec, kept so that
/// nothing outside the clone is needed), or `$NEXLLM_SPEC_DIR`.
fn spec_dir(root: &Path) -> Result<PathBuf, String> {
    let dir = match std::env::var_os("NEXLLM_SPEC_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("xtask").join("interop").join("openai-spec"),
    };
    for file in ["openai-openapi.yaml", "make-prism-spec.py"] {
        if !dir.join(file).is_file() {
            return Err(format!(
                "{} is missing (set NEXLLM_SPEC_DIR to a folder holding openai-openapi.yaml and make-prism-spec.py)",
                dir.join(file).display()
            ));
        }
    }
    Ok(dir)
}

/// `cargo metadata` of the workspace (target folder, example targets).
fn cargo_metadata() -> Result<serde_json::Value, String> {
    let out = crate::command::output(&mut crate::command::cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
    ]))?;
    serde_json::from_str(&out).map_err(|e| format!("cargo metadata: {e}"))
}
