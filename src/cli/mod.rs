//! The `larq` command line: one module per subcommand, each with its clap arguments and a `run`.
//!
//! Errors here are `anyhow` (this is the binary's edge); the library layers below return typed
//! errors that say what and where.

pub mod inspect;
pub mod migrate;
pub mod work;

use clap::{Parser, Subcommand};

/// Laravel's queue worker, in Rust.
#[derive(Debug, Parser)]
#[command(
    name = "larq",
    version,
    about = "Laravel's queue worker, in Rust",
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, named like their artisan counterparts where one exists.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode a Laravel job payload (or a bare serialized string) and print it.
    Inspect(inspect::InspectArgs),
    /// Work Laravel's Redis or database queues like `php artisan queue:work`.
    Work(work::WorkArgs),
    /// Create the jobs, job_batches and failed_jobs tables like Laravel's migrations.
    Migrate(migrate::MigrateArgs),
}

/// Parse the process arguments and run the chosen subcommand.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Work(args) => work::run(args),
        Command::Migrate(args) => migrate::run(args),
    }
}
