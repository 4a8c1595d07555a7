//! The backend the seed app needs: handles `App\Jobs\SomeJob(int $userId, string $someParam)`
//! dispatched by Laravel, with `queue:work`'s flags.
//!
//! ```text
//! cargo run --example backend -- --env php-fixtures/app/.env --stop-when-empty
//! ```
//!
//! The flags and their handling are the `larq work` subcommand's (included from
//! `src/cli/work.rs`); only the registry is this example's own.

#[path = "../src/cli/work.rs"]
#[allow(dead_code)]
mod work;

use clap::Parser;
use larq::job::{Job, JobContext, JobError, Registry};

/// The PHP class's properties, by their PHP names.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SomeJob {
    user_id: i64,
    some_param: String,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        println!(
            "Processing user ID: {} with param: {}",
            self.user_id, self.some_param
        );
        Ok(())
    }
}

#[derive(Parser)]
#[command(
    name = "backend",
    about = "larq example backend: runs App\\Jobs\\SomeJob"
)]
struct Cli {
    #[command(flatten)]
    work: work::WorkArgs,
}

fn main() {
    let cli = Cli::parse();
    let registry = Registry::new().with::<SomeJob>();
    if let Err(e) = work::run_with(cli.work, registry) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
