//! The `larq` binary: the library's command line with no job handlers of its own.
//!
//! Every subcommand works as is (`failed`, `size`, `monitor`, `clear`, `restart`, `inspect`,
//! `dispatch`, `migrate`, `codegen`, ...). `larq work` runs jobs only for the classes a registry
//! names, and this one names none: a deployment builds its own binary, the same one line with its
//! job structs registered (`examples/backend.rs`, `larq new`). Jobs without a handler here are
//! failed (or handed back to PHP with `--hand-back`).

fn main() -> std::process::ExitCode {
    larq::cli::run(larq::Registry::new())
}
