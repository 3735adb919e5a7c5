//! `nexllm models`: the model ids the server offers.

use std::io;

use crate::answer::ctrl_c;
use crate::backend::Backend;
use crate::cli::ModelsArgs;
use crate::connection::config_from_args;
use crate::failure::Failure;
use crate::render::write_models;

/// Lists the models, one id a line (or the whole list with `--json`).
pub(crate) async fn run(args: ModelsArgs) -> Result<(), Failure> {
    let config = config_from_args(&args.connection)?;
    let backend = Backend::new(args.connection.transport, config)?;
    let models = tokio::select! {
        biased;
        () = ctrl_c() => return Err(Failure::Interrupted),
        models = backend.list_models() => models?,
    };
    write_models(&mut io::stdout().lock(), &models, args.json)?;
    Ok(())
}
