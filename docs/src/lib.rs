//! The code of the guides in `docs/` and of the READMEs, compiled (and, where it needs no
//! key or server we do not start, run) by `cargo test`: each guide is the documentation of
//! one `#[cfg(doctest)]` module below, so its ```` ```rust ```` blocks are doctests.
//!
//! Blocks that need a real key or server are `rust,no_run` (compiled, not run). A block
//! fenced `rust,ignore` must follow the line `<!-- async-openai, not compiled -->`:
//! async-openai code, which we do not depend on. `cargo xtask tidy` checks both rules and
//! that every guide in `docs/` is included here. The README of `nexllm-blocking` is a
//! doctest of that crate already, so it is not repeated here.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// `docs/architecture.md`.
#[cfg(doctest)]
#[doc = include_str!("../architecture.md")]
pub mod architecture {}

/// `docs/embedding.md`.
#[cfg(doctest)]
#[doc = include_str!("../embedding.md")]
pub mod embedding {}

/// `docs/errors-and-retries.md`.
#[cfg(doctest)]
#[doc = include_str!("../errors-and-retries.md")]
pub mod errors_and_retries {}

/// `docs/interop.md`.
#[cfg(doctest)]
#[doc = include_str!("../interop.md")]
pub mod interop {}

/// `docs/migrating.md`.
#[cfg(doctest)]
#[doc = include_str!("../migrating.md")]
pub mod migrating {}

/// `docs/performance.md`.
#[cfg(doctest)]
#[doc = include_str!("../performance.md")]
pub mod performance {}

/// `docs/testing.md`.
#[cfg(doctest)]
#[doc = include_str!("../testing.md")]
pub mod testing {}

/// `docs/transports.md`.
#[cfg(doctest)]
#[doc = include_str!("../transports.md")]
pub mod transports {}

/// The repository's `README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// `crates/nexllm-proto/README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../crates/nexllm-proto/README.md")]
pub mod proto_readme {}

/// `crates/nexllm-hyper/README.md` (its quick start is `no_run`: `nexllm-hyper`'s own
/// tests run that block, which is `examples/quickstart.rs`, against nexllm-mock).
#[cfg(doctest)]
#[doc = include_str!("../../crates/nexllm-hyper/README.md")]
pub mod hyper_readme {}

/// `crates/nexllm-mock/README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../crates/nexllm-mock/README.md")]
pub mod mock_readme {}

/// `crates/nexllm-cli/README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../crates/nexllm-cli/README.md")]
pub mod cli_readme {}

/// `crates/nexllm-scenarios/README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../crates/nexllm-scenarios/README.md")]
pub mod scenarios_readme {}
