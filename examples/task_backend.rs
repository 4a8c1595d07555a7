//! The task-queue tests' backend: a whole program built on [`larq::task`] the way a team would
//! build theirs (no command line of larq's), with two handlers, and one JSON line per run
//! appended to the file `TASK_RECORD_FILE` names, so a test of a real process (kills, retries,
//! PHP producers) can tell which tasks ran, how often and on which attempt.
//!
//! * queue `double`: `{"n": 21}` replies `{"n":21,"doubled":42}`; `"fail": true` returns an
//!   error, `"panic": true` panics, `"sleep_ms": N` sleeps first (to be killed mid-task).
//! * queue `bytes`: any body (a raw handler); replies `{"len": <bytes>}`.
//!
//! The broker is `RABBITMQ_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_VHOST` (127.0.0.1:5672,
//! guest/guest, `/`), as `php-fixtures/bin/publish-task` reads them. The worker's options come
//! from `TASK_CONCURRENCY` (1), `TASK_TRIES` (1), `TASK_BACKOFF` (`1,5`: seconds), `TASK_TIMEOUT_MS`
//! and `TASK_DEAD_LETTER` (an exchange larq declares for `double`, or `policy`). Logs go to
//! stderr (`RUST_LOG`, default `info,lapin::channel=off`: lapin logs every channel a 404 closes, and larq checks queues with passive declares). SIGTERM finishes the running tasks and exits 0.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use larq::amqp::AmqpEndpoint;
use larq::task::{
    DeadLetter, QueueSettings, Task, TaskContext, TaskError, TaskRegistry, TaskWorker,
    TaskWorkerOptions,
};

/// A task that doubles a number, or fails, panics or dawdles when told to.
#[derive(serde::Deserialize)]
struct Double {
    n: i64,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    sleep_ms: u64,
}

#[derive(serde::Serialize)]
struct Doubled {
    n: i64,
    doubled: i64,
}

impl Task for Double {
    const QUEUE: &'static str = "double";
    type Output = Doubled;

    async fn handle(self, ctx: &TaskContext) -> Result<Doubled, TaskError> {
        record(ctx, serde_json::json!({ "n": self.n }))?;
        if self.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        }
        if self.panic {
            panic!("told to panic on {}", self.n);
        }
        if self.fail {
            return Err(TaskError::new(format!("told to fail on {}", self.n)));
        }
        Ok(Doubled {
            n: self.n,
            doubled: self.n * 2,
        })
    }
}

/// One `write` per line on an `O_APPEND` file, so a `kill -9` leaves whole lines.
fn record(ctx: &TaskContext, what: serde_json::Value) -> Result<(), TaskError> {
    let Some(path) = std::env::var_os("TASK_RECORD_FILE") else {
        return Ok(());
    };
    let mut line = serde_json::to_vec(&serde_json::json!({
        "queue": ctx.queue(),
        "task": what,
        "attempt": ctx.attempt(),
        "correlation_id": ctx.correlation_id(),
        "redelivered": ctx.redelivered(),
        "pid": std::process::id(),
        "at_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    }))?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(&line)?;
    Ok(())
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn number<T: std::str::FromStr>(name: &str, default: &str) -> Result<T, String> {
    let v = var(name, default);
    v.parse()
        .map_err(|_| format!("{name}={v:?} is not a number"))
}

fn options() -> Result<TaskWorkerOptions, String> {
    let backoff = var("TASK_BACKOFF", "1,5")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("TASK_BACKOFF: {s:?} is not a number"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    let timeout: u64 = number("TASK_TIMEOUT_MS", "0")?;
    let mut options = TaskWorkerOptions {
        concurrency: number("TASK_CONCURRENCY", "1")?,
        tries: number("TASK_TRIES", "1")?,
        backoff,
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout)),
        handle_signals: true,
        ..TaskWorkerOptions::default()
    };
    let dead_letter = match var("TASK_DEAD_LETTER", "").as_str() {
        "" => DeadLetter::None,
        "policy" => DeadLetter::Policy,
        exchange => DeadLetter::Exchange(exchange.to_owned()),
    };
    options = options.queue(
        Double::QUEUE,
        QueueSettings {
            dead_letter,
            ..QueueSettings::default()
        },
    );
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lapin::channel=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("task_backend: {e}");
            return ExitCode::from(2);
        }
    };
    let port = match number("RABBITMQ_PORT", "5672") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("task_backend: {e}");
            return ExitCode::from(2);
        }
    };
    let endpoint = AmqpEndpoint::new(
        &var("RABBITMQ_HOST", "127.0.0.1"),
        port,
        &var("RABBITMQ_USER", "guest"),
        &var("RABBITMQ_PASSWORD", "guest"),
        &var("RABBITMQ_VHOST", "/"),
        false,
        0,
    );
    let registry = TaskRegistry::new().with::<Double>().with_raw(
        "bytes",
        |body: Vec<u8>, ctx: TaskContext| async move {
            record(&ctx, serde_json::json!({ "len": body.len() }))?;
            Ok::<_, TaskError>(serde_json::json!({ "len": body.len() }))
        },
    );
    match TaskWorker::new(endpoint, registry, options).run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("task_backend: {e}");
            ExitCode::FAILURE
        }
    }
}
