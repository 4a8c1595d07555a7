//! The worker side of `bench/latency_load.sh`: a deployment's binary (`larq::cli::run`, so the
//! same current-thread runtime, reserve loop and flags as `backend work`) whose `App\Jobs\EchoJob`
//! handler records how long ago the job was pushed.
//!
//! `examples/latency.rs load` stamps each EchoJob's public `$float` with its push time (unix
//! seconds, µs precision). When `handle` starts, this handler appends `now - float` in
//! milliseconds as one line to the file named by `LATENCY_RECORD` — a file rather than stdout so
//! the measured worker never waits on a pipe its reader has not drained, and so the latency is
//! taken where the job starts, not where its output line arrives. `App\Jobs\SomeJob` (the
//! backlog) is a no-op that prints nothing, so a 100,000-job backlog costs only the queue work.
//!
//! ```text
//! LATENCY_RECORD=/tmp/lat.txt cargo run --release --example latency_worker -- \
//!     work redis --env php-fixtures/app/.env --queue high,default --block-for 1 --concurrency 64
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use larq::{Job, JobContext, JobError, Registry};

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The record file, opened once on the first EchoJob; `None` when `LATENCY_RECORD` is unset or
/// cannot be opened (said once on stderr: the harness then reports the jobs as not seen).
fn record_file() -> &'static Option<Mutex<File>> {
    static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os("LATENCY_RECORD")?;
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => Some(Mutex::new(file)),
            Err(e) => {
                eprintln!(
                    "latency_worker: cannot open {}: {e}",
                    path.to_string_lossy()
                );
                None
            }
        }
    })
}

/// The fixture app's EchoJob; only `$float` (the push time) matters here.
#[derive(serde::Deserialize)]
struct EchoJob {
    float: f64,
}

impl Job for EchoJob {
    const CLASS: &'static str = "App\\Jobs\\EchoJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        let ms = (now_f() - self.float) * 1000.0;
        if let Some(file) = record_file() {
            if let Ok(mut file) = file.lock() {
                // One write per line on an O_APPEND file: lines never interleave.
                let _ = file.write_all(format!("{ms:.3}\n").as_bytes());
            }
        }
        Ok(())
    }
}

/// The backlog's job: no output, so the backlog measures the queue and not the terminal.
#[derive(serde::Deserialize)]
struct SomeJob {}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    larq::cli::run(Registry::new().with::<EchoJob>().with::<SomeJob>())
}
