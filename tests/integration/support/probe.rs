//! The worker tests' harness, shared by `tests/integration/redis_worker.rs` and `tests/integration/database_queue.rs` so
//! both drivers are judged by the same probe job and the same records: a `Tests\Probe` job whose
//! `mode` says what its handler does, the fixture app's `App\Jobs\SomeJob`, and a record of every
//! run (in memory, or in a JSON-lines file when the worker is a child process).
#![allow(dead_code)] // each test binary uses part of it

pub use super::wait::wait_for;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use larq::job::{Job, JobContext, JobError, Registry};
use larq::payload::Payload;
use larq::php::{Object, Property, Value};
use larq::worker::{StopReason, Worker, WorkerOptions};

/// One run of a job as its handler saw it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rec {
    /// The test's tag (`file:<path>` records go to that file).
    pub tag: String,
    /// The probe's `n` (SomeJob: its userId).
    pub n: i64,
    /// The attempt number the worker gave the handler.
    pub attempts: i64,
    /// `start` or `done`.
    pub event: String,
    /// Unix time, seconds.
    pub at: f64,
    /// The payload uuid (SomeJob only).
    #[serde(default)]
    pub uuid: String,
}

static RECORDS: Mutex<Vec<Rec>> = Mutex::new(Vec::new());

/// Now as unix seconds with a fraction.
pub fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Record a run without a uuid.
pub fn record(tag: &str, n: i64, attempts: i64, event: &str) {
    record_uuid(tag, n, attempts, event, "");
}

/// Record a run: in memory, or appended to the file a `file:` tag names.
pub fn record_uuid(tag: &str, n: i64, attempts: i64, event: &str, uuid: &str) {
    let rec = Rec {
        tag: tag.to_owned(),
        n,
        attempts,
        event: event.to_owned(),
        at: now_f(),
        uuid: uuid.to_owned(),
    };
    if let Some(path) = tag.strip_prefix("file:") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{}", serde_json::to_string(&rec).unwrap()).unwrap();
    } else {
        RECORDS.lock().unwrap().push(rec);
    }
}

/// Every run recorded under `tag`, in order.
pub fn records(tag: &str) -> Vec<Rec> {
    if let Some(path) = tag.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    }
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.tag == tag)
        .cloned()
        .collect()
}

/// The test job: `mode` is ok | fail | panic | sleep (secs) | sleep_first (sleep on attempt 1) |
/// block (secs of `std::thread::sleep`: blocking code without an `.await`) | release (secs) |
/// fail_first_seen (fail unless this n ran before).
#[derive(serde::Deserialize)]
pub struct Probe {
    tag: String,
    n: i64,
    mode: String,
    secs: f64,
}

impl Job for Probe {
    const CLASS: &'static str = "Tests\\Probe";

    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let seen_before = records(&self.tag)
            .iter()
            .any(|r| r.n == self.n && r.event == "start");
        record(&self.tag, self.n, ctx.attempts(), "start");
        let sleep = Duration::from_secs_f64(self.secs);
        match self.mode.as_str() {
            "fail" => return Err(JobError::new(format!("boom {}", self.n))),
            "fail_first_seen" if !seen_before => return Err(JobError::new("first run fails")),
            "panic" => panic!("kaboom {}", self.n),
            "sleep" => tokio::time::sleep(sleep).await,
            "block" => std::thread::sleep(sleep),
            "sleep_first" if ctx.attempts() == 1 => tokio::time::sleep(sleep).await,
            "release" if ctx.attempts() == 1 => ctx.release(self.secs as u64),
            _ => {}
        }
        record(&self.tag, self.n, ctx.attempts(), "done");
        Ok(())
    }
}

/// The fixture app's `App\Jobs\SomeJob`, recording its userId and uuid under tag `someParam`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SomeJob {
    user_id: i64,
    some_param: String,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let uuid = ctx.uuid().unwrap_or("").to_owned();
        record_uuid(
            &self.some_param,
            self.user_id,
            ctx.attempts(),
            "done",
            &uuid,
        );
        Ok(())
    }
}

/// Probe and SomeJob.
pub fn registry() -> Registry {
    Registry::new().with::<Probe>().with::<SomeJob>()
}

/// A Laravel-8-shaped payload for a Probe (Redis shape: with `id` and `attempts`), with options
/// set by `edit`.
pub fn probe(tag: &str, n: i64, mode: &str, secs: f64, edit: impl FnOnce(&mut Payload)) -> String {
    let mut obj = Object::new("Tests\\Probe");
    obj.props = vec![
        Property::public("tag", Value::String(tag.as_bytes().to_vec().into())),
        Property::public("n", Value::Int(n)),
        Property::public("mode", Value::String(mode.as_bytes().to_vec().into())),
        Property::public("secs", Value::from(secs)),
        Property::public("job", Value::Null),
        Property::public("middleware", Value::Array(vec![])),
    ];
    let command = String::from_utf8(Value::Object(obj).to_bytes()).unwrap();
    let mut p = Payload::for_command("Tests\\Probe", command);
    edit(&mut p);
    p.to_json()
}

/// Worker options for in-process tests: quick polling, stop when empty, no memory limit.
pub fn options() -> WorkerOptions {
    WorkerOptions {
        sleep: Duration::from_millis(100),
        stop_when_empty: true,
        // All tests share this process; its RSS says nothing about one worker.
        memory_mb: 0,
        ..WorkerOptions::default()
    }
}

/// Run a worker until `done()` holds (then stop it) or `limit` passes.
pub async fn run_until(
    worker: Worker,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> StopReason {
    let handle = worker.handle();
    let task = tokio::spawn(worker.run());
    let started = Instant::now();
    while !done() && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop();
    task.await.unwrap().unwrap()
}

/// The `uuid` of each JSON line: what `larq:dispatch` printed, or what a PHP worker recorded.
pub fn uuids_of_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The uuids a PHP worker recorded (`LARQ_RECORD_FILE`), in order.
pub fn php_record_uuids(path: &Path) -> Vec<String> {
    uuids_of_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

/// `LARQ_CHILD_RETRY_AFTER`, which the kill -9 tests hand their child worker.
pub fn child_retry_after() -> u64 {
    std::env::var("LARQ_CHILD_RETRY_AFTER")
        .unwrap()
        .parse()
        .unwrap()
}

/// The body of a child-process worker (`child_worker` in a test binary): build the worker on a
/// runtime of its own, run it until it stops, and exit with its exit code.
///
/// `LARQ_CHILD_THREADS=1` gives it the `larq` binary's default one-thread runtime.
pub fn run_child_worker(worker: impl std::future::Future<Output = Worker>) -> ! {
    let rt = if std::env::var("LARQ_CHILD_THREADS").as_deref() == Ok("1") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Runtime::new().unwrap()
    };
    let reason = rt.block_on(async { worker.await.run().await.unwrap() });
    println!("child stopped: {reason:?}");
    std::process::exit(reason.exit_code());
}

/// PHP and larq shared `n` dispatched jobs: both took part, every job ran, none twice, none that
/// was not dispatched.
pub fn assert_shared_each_once(
    by_larq: &[String],
    by_php: &[String],
    n: usize,
    dispatched: &HashSet<String>,
) {
    assert!(
        !by_larq.is_empty() && !by_php.is_empty(),
        "both took part: larq {} php {}",
        by_larq.len(),
        by_php.len()
    );
    let mut all: Vec<&String> = by_larq.iter().chain(by_php.iter()).collect();
    assert_eq!(
        all.len(),
        n,
        "larq {} + php {} runs",
        by_larq.len(),
        by_php.len()
    );
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no job ran twice");
    assert!(all.iter().all(|u| dispatched.contains(*u)), "none lost");
}
