//! `cargo xtask ci`: everything CI checks, runnable locally with the same result.

use crate::command::{cargo, exec};
use crate::{fuzz, tidy};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut fuzz_seconds: u64 = 20;
    let mut with_fuzz = true;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--no-fuzz" => with_fuzz = false,
            "--fuzz-seconds" => {
                fuzz_seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--fuzz-seconds needs a number")?;
            }
            other => return Err(format!("ci: unknown option {other:?}")),
        }
    }

    step("fmt");
    exec(&mut cargo(&["fmt", "--all", "--check"]))?;

    step("clippy (warnings denied)");
    exec(&mut cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("tests");
    exec(&mut cargo(&["test", "--workspace"]))?;
    step("tests with every feature (proptest strategies)");
    exec(&mut cargo(&[
        "test",
        "-p",
        "nexllm-proto",
        "--all-features",
    ]))?;

    step("rustdoc (warnings denied)");
    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--all-features"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    exec(&mut doc)?;

    step("tidy");
    tidy::run()?;

    if with_fuzz {
        step("fuzz (short runs)");
        fuzz::run_all_briefly(fuzz_seconds)?;
    }

    step("ci passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}
