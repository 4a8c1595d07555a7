//! The `larq` command line as a library function, so a deployment's binary is its job structs and
//! one call:
//!
//! ```no_run
//! use larq::{Job, JobContext, JobError, Registry};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! impl Job for SomeJob {
//!     const CLASS: &'static str = "App\\Jobs\\SomeJob";
//!     async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
//!         println!("Processing user ID: {} with param: {}", self.user_id, self.some_param);
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     larq::cli::run(Registry::new().with::<SomeJob>())
//! }
//! ```
//!
//! That binary has every subcommand of `larq` (`work` with `queue:work`'s flags, `failed`, `size`,
//! `monitor`, `clear`, `restart`, `pause`, `resume`, `inspect`, `dispatch`, `migrate`, `codegen`, `new`, ...);
//! `work` runs the registry's handlers. The `larq` binary itself is this with an empty registry.
//!
//! One module per subcommand, each with its clap arguments and a `run`. Errors here are `anyhow`
//! (this is the command line's edge); the library layers below return typed errors that say what
//! and where. Behind the `cli` cargo feature (on by default).

mod app;
mod clear;
mod codegen;
mod completions;
mod dispatch;
mod failed;
mod inspect;
mod lines;
mod migrate;
mod monitor;
mod new;
mod pause;
mod progress;
mod restart;
mod size;
mod status;
mod work;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::job::Registry;

/// Laravel's queue worker, in Rust.
#[derive(Debug, Parser)]
#[command(
    name = "larq",
    version,
    about = "Laravel's queue worker, in Rust",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, named like their artisan counterparts where one exists.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Pause job processing for a queue, PHP and larq workers (like `queue:pause`; Laravel 12.40+).
    Pause(pause::PauseArgs),
    /// Resume job processing for a paused queue (like `queue:resume`).
    #[command(alias = "continue")]
    Resume(pause::ResumeArgs),
    /// Print a Rust struct and a Job impl skeleton for the job class in a captured payload.
    Codegen(codegen::CodegenArgs),
    /// Create a backend crate: a job module per captured payload's class, main.rs, tests, README.
    New(new::NewArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Push a job (JSON properties) that a PHP worker runs, like `SomeJob::dispatch(...)`.
    Dispatch(dispatch::DispatchArgs),
}

/// Parse the process arguments, run the chosen subcommand (`work` with `registry`'s handlers) and
/// return the process's exit status: `queue:work`'s for `work` (0, or 12 for `--memory`), 1 with
/// the error and its causes on stderr when a command fails.
pub fn run(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    match run_command(cli.command, registry) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("Error: {}", report(&e));
            ExitCode::from(1)
        }
    }
}

fn run_command(command: Command, registry: Registry) -> anyhow::Result<i32> {
    let done = |r: anyhow::Result<()>| r.map(|()| 0);
    match command {
        Command::Inspect(args) => done(inspect::run(args)),
        Command::Work(args) => work::run(args, registry),
        Command::Migrate(args) => done(migrate::run(args)),
        Command::Failed(args) => done(failed::run(args)),
        Command::Size(args) => done(size::run(args)),
        Command::Monitor(args) => done(monitor::run(args)),
        Command::Clear(args) => done(clear::run(args)),
        Command::Restart(args) => done(restart::run(args)),
        Command::Pause(args) => done(pause::run_pause(args)),
        Command::Resume(args) => done(pause::run_resume(args)),
        Command::Codegen(args) => done(codegen::run(args)),
        Command::New(args) => done(new::run(args)),
        Command::Completions(args) => done(completions::run(args)),
        Command::Dispatch(args) => done(dispatch::run(args)),
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message already
/// carries (several library errors, and sqlx's, print their source in their own message too).
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let inner = std::io::Error::other("1045 access denied");
        let e = anyhow::Error::new(inner)
            .context("failed_jobs (mysql): 1045 access denied")
            .context("cannot open the failed_jobs database");
        assert_eq!(
            report(&e),
            "cannot open the failed_jobs database: failed_jobs (mysql): 1045 access denied"
        );
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("cannot write");
        assert_eq!(report(&e), "cannot write: disk full");
    }
}
