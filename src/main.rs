//! The `larq` binary: parse the command line, run it, report errors with their whole context.
//!
//! The subcommands live in `cli/`, part of the binary rather than the library, so `anyhow` stays
//! at this edge and the library keeps its typed errors.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
