//! The `larq` command line: one module per subcommand, each with its clap arguments and a `run`.
//!
//! Errors here are `anyhow` (this is the binary's edge); the library layers below return typed
//! errors that say what and where.

pub mod app;
pub mod clear;
pub mod codegen;
pub mod completions;
pub mod dispatch;
pub mod failed;
pub mod inspect;
pub mod migrate;
pub mod monitor;
pub mod restart;
pub mod size;
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
    /// List, show, retry, forget or flush failed jobs (`queue:failed`, `queue:retry`, ...).
    Failed(failed::FailedArgs),
    /// Show how many jobs each queue holds (ready, delayed, reserved, total).
    Size(size::SizeArgs),
    /// Monitor the size of the specified queues (like `queue:monitor`; exit 3 on ALERT).
    Monitor(monitor::MonitorArgs),
    /// Delete all of the jobs from the specified queue (like `queue:clear`).
    Clear(clear::ClearArgs),
    /// Restart queue worker daemons after their current job, PHP and larq (like `queue:restart`).
    Restart(restart::RestartArgs),
    /// Print a Rust struct and a Job impl skeleton for the job class in a captured payload.
    Codegen(codegen::CodegenArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Push a job (JSON properties) that a PHP worker runs, like `SomeJob::dispatch(...)`.
    Dispatch(dispatch::DispatchArgs),
}

/// Parse the process arguments and run the chosen subcommand.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Work(args) => work::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Failed(args) => failed::run(args),
        Command::Size(args) => size::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Clear(args) => clear::run(args),
        Command::Restart(args) => restart::run(args),
        Command::Codegen(args) => codegen::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Dispatch(args) => dispatch::run(args),
    }
}
