//! The integration tests' backend: [`backend.rs`](backend.rs)'s `SomeJob` handler, plus one JSON
//! line per run appended to the file `LARQ_RECORD_FILE` names, so a test of a real process (kills,
//! outages, PHP and larq on one queue) can tell which jobs ran and how often.
//!
//! It lives here, not in the `larq` binary, so the product has no handler and no variable that
//! only tests read. The tests build it with `cargo build --example recording_backend`
//! (`tests/integration/support/bins.rs`).

use std::io::Write;

use larq::{Job, JobContext, JobError, Registry};

/// The seed app's `App\Jobs\SomeJob(int $userId, string $someParam)`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SomeJob {
    user_id: i64,
    some_param: String,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        println!(
            "Processing user ID: {} with param: {}",
            self.user_id, self.some_param
        );
        record(&self, ctx)
    }
}

/// The fixture app's `App\Jobs\FailingJob(int $n)`: records the run, then throws
/// `RuntimeException("boom <n>")` as the PHP class does, so release, backoff and failure can be
/// compared with PHP's worker on one queue.
#[derive(serde::Deserialize)]
struct FailingJob {
    n: i64,
}

impl Job for FailingJob {
    const CLASS: &'static str = "App\\Jobs\\FailingJob";

    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let as_run = SomeJob {
            user_id: self.n,
            some_param: String::new(),
        };
        write_record(Self::CLASS, &as_run, ctx)?;
        Err(JobError::with_class(
            "RuntimeException",
            format!("boom {}", self.n),
        ))
    }
}

/// One `write` per line on an `O_APPEND` file, so a `kill -9` leaves whole lines; the parameter is
/// borrowed, not cloned into a JSON value (it can be megabytes).
fn record(job: &SomeJob, ctx: &JobContext) -> Result<(), JobError> {
    write_record(SomeJob::CLASS, job, ctx)
}

fn write_record(class: &str, job: &SomeJob, ctx: &JobContext) -> Result<(), JobError> {
    let Some(path) = std::env::var_os("LARQ_RECORD_FILE") else {
        return Ok(());
    };
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Record<'a> {
        class: &'a str,
        uuid: Option<&'a str>,
        attempts: i64,
        user_id: i64,
        some_param: &'a str,
    }
    let mut line = serde_json::to_vec(&Record {
        class,
        uuid: ctx.uuid(),
        attempts: ctx.attempts(),
        user_id: job.user_id,
        some_param: &job.some_param,
    })
    .map_err(|e| JobError::new(format!("cannot record the run: {e}")))?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    larq::cli::run(Registry::new().with::<SomeJob>().with::<FailingJob>())
}
