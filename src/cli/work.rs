//! `larq work`: `php artisan queue:work` for the `redis` and `database` connections.
//!
//! Flags mirror `queue:work`'s (same names, same defaults); a few larq ones are added
//! (`--env`, `--concurrency`, `--retry-after`, `--block-for`, `--log-format`, `--laravel-version`,
//! `--create-failed-table`). Settings come from the app's `.env` (`--env`) and the process
//! environment. The handlers are the deployment's: [`crate::cli::run`] hands its registry here.
//!
//! `--metrics ADDR` serves `/metrics` and `/health` with [`crate::metrics::http::serve`]; the
//! server lives in the library so that embedders who build their own worker get the same endpoint
//! in two lines. The progress line is the binary's own (`progress.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::app::{App, QueueOverrides, WorkerSetup};
use crate::job::Registry;
use crate::metrics::Metrics;
use crate::middleware::{MiddlewarePolicies, UnknownMiddleware};
use crate::worker::{StopReason, Worker, WorkerOptions};
use crate::wrappers::{HandBack, WrapperPolicies, WrapperPolicy};

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Laravel's `Processing:`/`Processed:`/`Failed:` lines on stdout; warnings on stderr.
    Text,
    /// One JSON object per event on stdout (tracing).
    Json,
}

/// `larq work [connection] [options]`.
#[derive(Debug, Clone, Args)]
pub struct WorkArgs {
    /// The queue connection to work (default: QUEUE_CONNECTION): `redis` or `database`.
    pub connection: Option<String>,
    /// The PHP app's .env file to read settings from (process variables override it).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// Queues to work, in priority order (default: REDIS_QUEUE / DB_QUEUE, else `default`).
    #[arg(long, value_delimiter = ',')]
    pub queue: Vec<String>,
    /// Worker name (accepted for compatibility; unused).
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Process one job (or wait once if there is none), then stop.
    #[arg(long)]
    pub once: bool,
    /// Stop when the queues are empty.
    #[arg(long)]
    pub stop_when_empty: bool,
    /// Deprecated alias of --backoff (the larger of the two applies when both are numbers).
    #[arg(long, default_value_t = 0)]
    pub delay: u64,
    /// Seconds to wait before retrying a job that threw (comma list: 10,30,60).
    #[arg(long, default_value = "0")]
    pub backoff: String,
    /// Stop after this many jobs (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_jobs: u64,
    /// Stop after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_time: u64,
    /// Work even while the app is down for maintenance (`php artisan down`: the app's
    /// storage/framework/down exists).
    #[arg(long)]
    pub force: bool,
    /// Stop with status 12 at this resident memory in MB.
    #[arg(long, default_value_t = 128)]
    pub memory: u64,
    /// Seconds to sleep when no job is available (fractions allowed).
    #[arg(long, default_value_t = 3.0)]
    pub sleep: f64,
    /// Seconds to rest after each job (fractions allowed).
    #[arg(long, default_value_t = 0.0)]
    pub rest: f64,
    /// Seconds a job may run (the payload's timeout wins; 0: none).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Seconds past its timeout a handler may take to stop before the worker exits with status 1
    /// for its supervisor to restart it (only blocking handler code takes that long; 0: never).
    #[arg(long, default_value_t = 5)]
    pub stuck_grace: u64,
    /// Attempts before a job fails (the payload's maxTries wins; 0: unlimited).
    #[arg(long, default_value_t = 1)]
    pub tries: i64,
    /// Seconds a reservation lasts (default REDIS_QUEUE_RETRY_AFTER / DB_QUEUE_RETRY_AFTER, else 90).
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Seconds to block on an empty Redis queue instead of sleeping (config queue.redis.block_for).
    #[arg(long)]
    pub block_for: Option<u64>,
    /// Jobs to run at once in this process.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Threads that run the worker and its handlers. 1 (the default) keeps the loop, the Redis
    /// connection and every handler on one thread: no hand-offs between threads, which is the
    /// fastest for I/O-bound handlers (a handler that computes or blocks for long should use
    /// `tokio::task::spawn_blocking`, or run with more threads).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The app's Laravel major version (8–13): key prefixes, the default cache store and database
    /// connection, messages [default: detected from the app of --env (its composer.lock or
    /// vendor/laravel/framework), else 13]
    #[arg(long, value_name = "N", env = "LARQ_LARAVEL_VERSION", value_parser = clap::value_parser!(u8).range(8..=13))]
    pub laravel_version: Option<u8>,
    /// Create the failed_jobs table if it does not exist (demos on a fresh SQLite file).
    #[arg(long)]
    pub create_failed_table: bool,
    /// Queues whose PHP-only jobs (mail, notifications, closures, broadcasts, listeners without a
    /// Rust handler) are handed back untouched for PHP workers instead of failed (`*`: all).
    #[arg(long, value_delimiter = ',')]
    pub hand_back: Vec<String>,
    /// Seconds before a handed-back job is due again.
    #[arg(long, default_value_t = 10)]
    pub hand_back_delay: u64,
    /// Hand-backs of one job before it fails (0: no limit).
    #[arg(long, default_value_t = 360)]
    pub hand_back_max: u64,
    /// What happens to a job with job middleware larq cannot apply (a custom PHP class, a
    /// RateLimited limiter not registered in larq): fail, hand-back or run-without; for one
    /// middleware, CLASS=POLICY (a limiter: RateLimited:NAME=POLICY). Repeatable; default fail.
    #[arg(long, value_name = "[CLASS=]POLICY")]
    pub unknown_middleware: Vec<String>,
    /// Serve Prometheus metrics (GET /metrics) and a health check (GET /health) over HTTP on this
    /// address, e.g. 127.0.0.1:9000 (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", env = "LARQ_METRICS")]
    pub metrics: Option<String>,
    /// A payload larger than this many bytes fails unrun with a message (0: no limit); the
    /// default, 16 MiB, keeps one runaway payload from stopping the worker on --memory.
    #[arg(long, value_name = "BYTES", default_value_t = crate::worker::DEFAULT_MAX_PAYLOAD_BYTES)]
    pub max_payload_bytes: u64,
    /// The live progress line on stderr: auto (when stderr is a terminal and --log-format is
    /// text), on (also with json; a plain line every 10 s when stderr is not a terminal), off.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = crate::cli::progress::ProgressMode::Auto)]
    pub progress: crate::cli::progress::ProgressMode,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match format {
            LogFormat::Text => "warn",
            LogFormat::Json => "info",
        })
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && format == LogFormat::Text);
    let _ = match format {
        LogFormat::Text => builder.with_writer(std::io::stderr).try_init(),
        LogFormat::Json => builder.json().with_writer(std::io::stdout).try_init(),
    };
}

/// `larq work` with the deployment's registry; returns `queue:work`'s exit status for the reason
/// the worker stopped (memory: 12).
pub fn run(args: WorkArgs, registry: Registry) -> anyhow::Result<i32> {
    init_logging(args.log_format);
    let code = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(work(args, registry))?
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        // The loop runs on a runtime thread, not on this one, so waking it is not a hand-off
        // between this thread and the runtime's. `Runtime::spawn`, not `tokio::spawn`: this
        // thread is not inside the runtime yet, and `tokio::spawn` would panic ("there is no
        // reactor running").
        let task = runtime.spawn(work(args, registry));
        runtime
            .block_on(task)
            .context("the worker task ended abnormally")??
    };
    Ok(code)
}

/// What start-up leaves running: the worker, and the metrics endpoint and progress line beside it.
struct Started {
    worker: Worker,
    stop_server: tokio::sync::oneshot::Sender<()>,
    server: Option<tokio::task::JoinHandle<()>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

async fn work(args: WorkArgs, registry: Registry) -> anyhow::Result<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    // Listen for SIGTERM/SIGINT before connecting anywhere: without a handler a stop during
    // start-up (a slow or silent Redis or database) would kill the process outright. These
    // streams stay open until the worker stops, so no signal falls between them and the worker's
    // own handlers, which take over once it runs (an unread stream only buffers).
    let mut term = signal(SignalKind::terminate()).context("cannot install a SIGTERM handler")?;
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install a SIGINT handler")?;
    let started = tokio::select! {
        started = start(args, registry) => started?,
        _ = term.recv() => return Ok(stopped_during_start_up("SIGTERM")),
        _ = interrupt.recv() => return Ok(stopped_during_start_up("SIGINT")),
    };
    let Started {
        worker,
        stop_server,
        server,
        ticker,
    } = started;
    let result = worker.run().await;
    drop((term, interrupt));
    if let Some(ticker) = ticker {
        ticker.abort();
        let _ = ticker.await;
        crate::cli::progress::clear();
    }
    // The endpoint stops with the worker (a scrape in progress gets a moment to finish).
    let _ = stop_server.send(());
    if let Some(server) = server {
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }
    let reason = result?;
    tracing::info!(?reason, "worker stopped");
    Ok(reason.exit_code())
}

/// A stop signal before the worker took any job: nothing to finish, a clean exit.
fn stopped_during_start_up(signal: &str) -> i32 {
    tracing::info!(signal, "stop signal during start-up: no job was taken");
    StopReason::Signal.exit_code()
}

async fn start(args: WorkArgs, registry: Registry) -> anyhow::Result<Started> {
    let laravel = crate::laravel::resolve(args.laravel_version, args.env.as_deref());
    let app = App::load(args.env.as_deref(), laravel)?;
    // Listen before connecting anywhere: a taken port is an operator error to report at once.
    let listener = match args.metrics.as_deref().filter(|a| !a.is_empty()) {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics {addr}: cannot listen on that address"))?,
        ),
        None => None,
    };
    let progress = crate::cli::progress::sink(args.progress, args.log_format == LogFormat::Text);
    let metrics = (listener.is_some() || progress.is_some()).then(Metrics::new);
    let mut wrappers = WrapperPolicies::new();
    for q in &args.hand_back {
        wrappers = if q == "*" {
            wrappers.default_policy(WrapperPolicy::HandBack)
        } else {
            wrappers.queue(q.clone(), WrapperPolicy::HandBack)
        };
    }
    wrappers.hand_back = HandBack {
        delay: args.hand_back_delay,
        max: args.hand_back_max,
    };
    let mut middleware = MiddlewarePolicies::default();
    for spec in &args.unknown_middleware {
        let (class, policy) = match spec.rsplit_once('=') {
            Some((class, policy)) => (Some(class), policy),
            None => (None, spec.as_str()),
        };
        let policy: UnknownMiddleware = policy
            .parse()
            .map_err(|e| anyhow::anyhow!("--unknown-middleware {spec}: {e}"))?;
        middleware = match class {
            Some(class) => middleware.class(class.trim_start_matches('\\'), policy),
            None => MiddlewarePolicies::new(policy).merge(middleware),
        };
    }
    // `--delay` is the old name of `--backoff`; the larger single value wins, as in queue:work.
    let backoff = match (args.backoff.trim().parse::<u64>(), args.delay) {
        (Ok(b), d) if d > b => d.to_string(),
        _ => args.backoff.clone(),
    };
    let options = WorkerOptions {
        queues: args.queue.clone(),
        sleep: Duration::from_secs_f64(args.sleep.max(0.0)),
        rest: Duration::from_secs_f64(args.rest.max(0.0)),
        tries: args.tries,
        backoff,
        timeout: args.timeout,
        max_jobs: args.max_jobs,
        max_time: Duration::from_secs(args.max_time),
        memory_mb: args.memory,
        stop_when_empty: args.stop_when_empty,
        once: args.once,
        concurrency: args.concurrency,
        handle_signals: true,
        laravel_version: laravel.major(),
        stuck_handler_grace: (args.stuck_grace > 0).then(|| Duration::from_secs(args.stuck_grace)),
        max_payload_bytes: args.max_payload_bytes,
        maintenance_file: None,
    };
    let setup = WorkerSetup {
        connection: args.connection.clone(),
        options,
        queue: QueueOverrides {
            retry_after: args.retry_after,
            block_for: args.block_for,
            // One database connection per job in flight, two for the loop.
            max_connections: Some(
                u32::try_from(args.concurrency.saturating_add(2))
                    .unwrap_or(u32::MAX)
                    .max(4),
            ),
            prefetch: None,
        },
        wrappers,
        middleware,
        create_failed_table: args.create_failed_table,
        force: args.force,
        metrics: metrics.clone(),
        // Laravel's lines with `--log-format text`; with `json` the tracing events are the output.
        sink: (args.log_format == LogFormat::Text)
            .then(|| Arc::new(crate::cli::lines::LaravelLines) as Arc<dyn crate::worker::Sink>),
    };
    let worker = app.worker(registry, setup).await?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match (listener, &metrics) {
        (Some(listener), Some(metrics)) => {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics and /health");
                if args.log_format == LogFormat::Text {
                    eprintln!("Metrics: http://{addr}/metrics, health: http://{addr}/health");
                }
            }
            Some(tokio::spawn(crate::metrics::http::serve(
                listener,
                Arc::clone(metrics),
                async move {
                    let _ = server_stopped.await;
                },
            )))
        }
        _ => None,
    };
    let ticker = match (progress, &metrics) {
        (Some(sink), Some(metrics)) => Some(tokio::spawn(crate::cli::progress::run(
            Arc::clone(metrics),
            sink,
        ))),
        _ => None,
    };
    Ok(Started {
        worker,
        stop_server,
        server,
        ticker,
    })
}
