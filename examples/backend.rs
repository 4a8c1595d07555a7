//! A deployment's whole backend binary: the job structs, and `larq::cli::run`.
//!
//! The Laravel app dispatches `SomeJob::dispatch($userId, $param)`; this program runs those jobs
//! and has every `larq` subcommand besides (`failed`, `size`, `restart`, ...):
//!
//! ```text
//! cargo run --example backend -- work --env php-fixtures/app/.env --stop-when-empty
//! ```
//!
//! `larq new DIR` scaffolds a crate of this shape, with one struct per job class.
use larq::{Job, JobContext, JobError, Registry};

#[derive(serde::Deserialize)]
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

fn main() -> std::process::ExitCode {
    larq::cli::run(Registry::new().with::<SomeJob>())
}
