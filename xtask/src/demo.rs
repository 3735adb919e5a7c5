//! `cargo xtask demo`: the README's first command (filled in by the CLI work).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("the demo is not built yet".into())
}
