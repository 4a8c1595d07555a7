//! `queue:work`: the worker loop with Laravel 8's semantics (`Illuminate\Queue\Worker`).
//!
//! The loop is here; one job's run is `worker/run.rs`, the batching and retrying of finished
//! jobs' deletes `worker/deletes.rs`, the stuck-handler watchdog `worker/watchdog.rs`.
//!
//! Per iteration: delete the jobs that finished, read which queues are paused (Laravel 12+, one
//! cache read per round, see [`crate::pause`]), migrate due delayed and expired reserved jobs
//! (at most once a second per queue), reserve jobs in
//! strict queue priority (up to `--concurrency` in flight) from the queues not paused, run each
//! with its timeout, then the stop checks in Laravel's order (signal, memory, restart, empty, max
//! time, max jobs).
//!
//! Per job (`Worker::process` in PHP): the crash-loop check (attempts already past tries, or past
//! `retryUntil`, fails without running), the handler, then delete / release with backoff / fail.
//! Failing writes failed_jobs **before** the job leaves `:reserved` (see [`crate::failed`]).
//!
//! Timeouts differ from PHP in one way: PHP SIGKILLs its own process; larq aborts the job's task
//! and keeps going. Either way a timed-out job that is not failed stays in `:reserved` until
//! `retry_after` and then runs again with one more attempt. A handler stuck in blocking code
//! without an `.await` cannot be aborted; when one is still running
//! [`WorkerOptions::stuck_handler_grace`] after its timeout, the watchdog thread
//! (`worker/watchdog.rs`) ends the process with status 1, as PHP would have at the timeout.
//!
//! On Redis (and on the database queue, in one transaction) a finished job's delete is handed
//! to the loop and sent in the same call as the next migration and reserve
//! ([`crate::queue::Queue::settle_and_reserve`]), deletes first; the job reports
//! `Processed` only once that call has returned, as Laravel's worker does after its `ZREM`.
//!
//! On Redis at `--concurrency` 2 and more, each pass reserves at most half the slots, and the
//! jobs (and finished deletes) a pass brings start only once the next call is on its way; a
//! second pass may go out while the first is answered, when finished jobs have freed half the
//! slots. So Redis always has the next call while this process runs the last one's jobs, and
//! neither waits for the other (docs/performance.md: 50% of the Redis-bound limit before, 90%
//! after). A job is still reserved only when a slot is free for it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;

mod deletes;
mod run;
mod sink;
mod watchdog;

pub use self::sink::Sink;

use self::deletes::{
    by_queue, retry_while_disconnected, settle, Deletes, PendingDelete, FAILED_STORE_LOG_INTERVAL,
};
use self::run::process;

use crate::bus::{Before, BusFeatures, HandedBack};
use crate::cache::{CacheError, CacheStore, RESTART_KEY};
use crate::display::{printable, FIELD_LIMIT, MESSAGE_LIMIT};
use crate::failed::{FailedJob, FailedJobStore, Recorded};
use crate::job::events::{JobEvent, QueueObserver};
use crate::job::{exceptions, Action, JobContext, JobError, Registry, Resolved};
use crate::limiter::DurationLimiter;
use crate::log_limit::LogLimit;
use crate::metrics::{JobTracker, Metrics, Outcome};
use crate::middleware::{Gate, MiddlewarePolicies, MiddlewareRunner};
use crate::model::Models;
use crate::pause::PauseKeys;
use crate::payload::{pick_backoff, Payload};
use crate::queue::{now, Queue, QueueError, Reservation, ReservedJob};

/// Errors that stop the worker (everything else is per job and ends in failed_jobs or a log line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Installing a signal handler failed.
    #[error("cannot install the {0} handler: {1}")]
    Signal(&'static str, std::io::Error),
    /// The cache store could not be reached at start.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// `queue:work`'s options.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Queues in priority order (`--queue=high,default`).
    pub queues: Vec<String>,
    /// Seconds to sleep when no job is available (`--sleep`, default 3).
    pub sleep: Duration,
    /// Seconds to rest after each job (`--rest`).
    pub rest: Duration,
    /// Attempts before failing (`--tries`, default 1; the payload's `maxTries` wins; 0 = unlimited).
    pub tries: i64,
    /// Seconds before retrying after an exception (`--backoff`, a comma list like the payload's).
    pub backoff: String,
    /// Seconds a job may run (`--timeout`, default 60; the payload's `timeout` wins; 0 = none).
    pub timeout: u64,
    /// Stop after this many jobs (`--max-jobs`, 0 = no limit).
    pub max_jobs: u64,
    /// Stop after this many seconds (`--max-time`, 0 = no limit).
    pub max_time: Duration,
    /// Stop with status 12 when resident memory reaches this many MB (`--memory`, default 128).
    pub memory_mb: u64,
    /// Stop when the queues are empty (`--stop-when-empty`).
    pub stop_when_empty: bool,
    /// Process one job (or sleep once) and stop (`--once`).
    pub once: bool,
    /// Jobs run at once in this process (`--concurrency`, default 1).
    pub concurrency: usize,
    /// Install SIGTERM/SIGINT/SIGUSR2/SIGCONT handlers (the binary does; embedders may not).
    pub handle_signals: bool,
    /// Laravel major version whose messages to mimic (8: MaxAttemptsExceededException on timeout),
    /// and whether paused queues are skipped (12+; the pause-all switch from 13).
    pub laravel_version: u8,
    /// How long past its timeout a handler may take to stop before the process exits with status
    /// 1 (default 5 s; `None`: never). Only a handler blocked without an `.await` takes longer than
    /// an instant: PHP kills its process at every timeout, larq only then, since a stuck handler
    /// holds the runtime (all of it on the one-thread default) and nothing else can free it.
    pub stuck_handler_grace: Option<Duration>,
    /// The app's maintenance-mode file (`storage/framework/down`, what `php artisan down`
    /// creates): while it exists the worker takes no new jobs, as `queue:work` without `--force`
    /// pauses. `None` (`--force`, or no app directory) ignores maintenance mode.
    pub maintenance_file: Option<std::path::PathBuf>,
    /// A payload larger than this many bytes fails unrun, with a message saying so, before it is
    /// decoded (0: no limit). Decoding costs a few times the payload in memory, so without a
    /// bound one hostile or runaway payload could stop a worker on `--memory`. Default
    /// [`DEFAULT_MAX_PAYLOAD_BYTES`].
    pub max_payload_bytes: u64,
}

/// 16 MiB: hundreds of times any job Laravel's own apps push (their payloads are a few kB), and
/// small enough that its decoding stays well inside `queue:work`'s default `--memory` of 128 MB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 16 << 20;

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            queues: vec!["default".to_owned()],
            sleep: Duration::from_secs(3),
            rest: Duration::ZERO,
            tries: 1,
            backoff: "0".to_owned(),
            timeout: 60,
            max_jobs: 0,
            max_time: Duration::ZERO,
            memory_mb: 128,
            stop_when_empty: false,
            once: false,
            concurrency: 1,
            handle_signals: false,
            laravel_version: 8,
            stuck_handler_grace: Some(Duration::from_secs(5)),
            maintenance_file: None,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

/// Why the worker stopped; [`StopReason::exit_code`] is what `queue:work` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM/SIGINT or [`WorkerHandle::stop`].
    Signal,
    /// `--memory` reached.
    Memory,
    /// `php artisan queue:restart` changed the restart key.
    Restart,
    /// `--stop-when-empty` and nothing to do.
    Empty,
    /// `--max-time` elapsed.
    MaxTime,
    /// `--max-jobs` reached.
    MaxJobs,
    /// `--once` done.
    Once,
    /// The Redis connection was lost. Laravel quits then so its supervisor restarts it; larq's
    /// loop reconnects with backoff instead and no longer stops for this (kept for embedders that
    /// map reasons to exit codes).
    ConnectionLost,
    /// A second SIGTERM/SIGINT (or [`WorkerHandle::force_stop`]) while draining: the jobs in flight
    /// were aborted and stay reserved for a retry after `retry_after`.
    Forced,
}

impl StopReason {
    /// `queue:work`'s exit status: 12 for memory, 1 for a lost connection or a forced stop, else 0.
    pub fn exit_code(self) -> i32 {
        match self {
            StopReason::Memory => 12,
            StopReason::ConnectionLost | StopReason::Forced => 1,
            _ => 0,
        }
    }

    /// A short name for logs and observers (`empty`, `max_time`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Signal => "signal",
            StopReason::Memory => "memory",
            StopReason::Restart => "restart",
            StopReason::Empty => "empty",
            StopReason::MaxTime => "max_time",
            StopReason::MaxJobs => "max_jobs",
            StopReason::Once => "once",
            StopReason::ConnectionLost => "connection_lost",
            StopReason::Forced => "forced",
        }
    }
}

/// The last look at the maintenance-mode file.
#[derive(Debug, Default)]
struct MaintenanceCheck {
    at: Option<Instant>,
    down: bool,
}

#[derive(Debug, Default)]
struct State {
    should_quit: AtomicBool,
    paused: AtomicBool,
    wake: Notify,
    /// Stop without waiting for the jobs in flight (a second SIGTERM); holds a permit.
    force: Notify,
}

/// Control of a running worker from another task (what the signals do).
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    state: Arc<State>,
}

impl WorkerHandle {
    /// Finish the jobs in flight, then stop (SIGTERM).
    pub fn stop(&self) {
        self.state.should_quit.store(true, Ordering::SeqCst);
        self.state.wake.notify_waiters();
    }

    /// Stop now: abort the jobs in flight, which stay in `:reserved` and run again after
    /// `retry_after` (a second SIGTERM/SIGINT). [`Worker::run`] returns [`StopReason::Forced`].
    pub fn force_stop(&self) {
        self.state.should_quit.store(true, Ordering::SeqCst);
        self.state.force.notify_one();
        self.state.wake.notify_waiters();
    }

    /// The first SIGTERM/SIGINT drains, the second forces.
    fn terminate(&self) {
        if self.state.should_quit.load(Ordering::SeqCst) {
            self.force_stop();
        } else {
            self.stop();
        }
    }

    /// Take no new jobs until [`WorkerHandle::resume`] (SIGUSR2).
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
    }

    /// Take jobs again (SIGCONT).
    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
        self.state.wake.notify_waiters();
    }
}

struct Inner {
    queue: Arc<Queue>,
    registry: Arc<Registry>,
    failed: Option<FailedJobStore>,
    cache: Option<CacheStore>,
    bus: Option<Arc<BusFeatures>>,
    /// Applies each job's middleware before its handler.
    middleware: MiddlewareRunner,
    /// Loads the models jobs carry (handlers reach it through their context).
    models: Option<Models>,
    options: WorkerOptions,
    /// Finished jobs' deletes, carried by the loop's next reserve call (Redis and the database queue; see `Queue::defers_deletes`).
    deletes: Option<Deletes>,
    /// Jobs whose slot is taken: reserved and not yet past their handler and delete.
    busy: AtomicUsize,
    metrics: Option<Arc<Metrics>>,
    /// Ends the process when a timed-out handler does not stop (`None` when the options say never).
    watchdog: Option<watchdog::Watchdog>,
    /// Stop requests and pause; shared with every [`WorkerHandle`].
    state: Arc<State>,
    /// "Cannot record the failed job", said once per interval while the store stays broken.
    failed_store_trouble: LogLimit,
    /// Where operator lines go (none: only `tracing` events).
    sink: Option<Arc<dyn Sink>>,
    /// The pause keys of the worker's queues (`None`: the version has no pauses, or no cache).
    pause_keys: Option<PauseKeys>,
    /// "Cannot read which queues are paused", said once per interval while the cache is broken.
    pause_trouble: LogLimit,
}

/// Finished jobs whose deletes a pass made, with whether each was still reserved: told once the
/// loop lets them go on (see `held_settled` in [`Worker::run`]).
type Settled = (Vec<PendingDelete>, Vec<bool>);

/// A second pass sent while the loop still waits for the first (see `ahead` in
/// [`Worker::run`]): how many slots it asked for, and its result once awaited.
struct Ahead {
    want: usize,
    pass: std::pin::Pin<Box<dyn std::future::Future<Output = PassResult> + Send>>,
}

/// What a pass sent ahead brings back: its jobs (or why none), and the deletes it made.
type PassResult = (Result<Vec<ReservedJob>, QueueError>, Vec<Settled>);

/// Which of the worker's queues the last reserve round found paused (in `--queue` order).
#[derive(Debug, Default, Clone)]
struct Paused {
    queues: Vec<bool>,
    /// The state the last round reported, to say each change once (Laravel 13's
    /// `WorkerQueuePaused` / `WorkerQueueResumed`).
    reported: Vec<bool>,
}

impl Paused {
    fn is_paused(&self, index: usize) -> bool {
        self.queues.get(index).copied().unwrap_or(false)
    }

    fn any(&self) -> bool {
        self.queues.iter().any(|p| *p)
    }
}

/// A job's place among `--concurrency`: taken when the loop reserves the job, given back once
/// (when the job only waits for its delete, or when its task ends, whichever is first).
struct Slot {
    inner: Arc<Inner>,
    freed: AtomicBool,
}

impl Slot {
    fn take(inner: &Arc<Inner>) -> Slot {
        inner.busy.fetch_add(1, Ordering::SeqCst);
        Slot {
            inner: Arc::clone(inner),
            freed: AtomicBool::new(false),
        }
    }

    fn free(&self) {
        if !self.freed.swap(true, Ordering::SeqCst) {
            self.inner.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.free();
    }
}

/// A queue worker; build it with [`Worker::builder`].
pub struct Worker {
    inner: Arc<Inner>,
}

/// Assembles a [`Worker`].
pub struct WorkerBuilder {
    queue: Arc<Queue>,
    registry: Arc<Registry>,
    failed: Option<FailedJobStore>,
    cache: Option<CacheStore>,
    bus: Option<BusFeatures>,
    middleware: Option<MiddlewarePolicies>,
    locks: Option<CacheStore>,
    windows: Option<DurationLimiter>,
    models: Option<Models>,
    options: WorkerOptions,
    metrics: Option<Arc<Metrics>>,
    sink: Option<Arc<dyn Sink>>,
}

impl WorkerBuilder {
    /// Send the worker's operator lines (a line per job state, trouble to see at once) to
    /// `sink`. Without one the worker prints nothing; its `tracing` events carry the same facts.
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Count jobs, durations and queue contact into `metrics` (for `/metrics`, `/health` and the
    /// progress line, see [`crate::metrics`]). Without it the worker keeps no counters at all.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Chains, batches, unique locks and wrapper policies (see [`crate::bus`]).
    pub fn bus(mut self, bus: BusFeatures) -> Self {
        self.bus = Some(bus);
        self
    }

    /// What happens to a job whose middleware larq cannot apply (default: it fails, see
    /// [`crate::middleware`]). The middleware it can apply use the [`WorkerBuilder::cache`]
    /// store.
    pub fn middleware_policies(mut self, policies: MiddlewarePolicies) -> Self {
        self.middleware = Some(policies);
        self
    }

    /// Where job middleware takes its locks when not in the [`WorkerBuilder::cache`] store:
    /// Laravel's Redis cache store locks on its `lock_connection` (the `default` Redis
    /// connection in the skeleton) and counts on its `cache` connection.
    pub fn lock_store(mut self, locks: impl Into<CacheStore>) -> Self {
        self.locks = Some(locks.into());
        self
    }

    /// Where `RateLimitedWithRedis` and `ThrottlesExceptionsWithRedis` count: the app's
    /// default Redis connection, under its key prefix (without it they follow the
    /// unknown-middleware policy).
    pub fn duration_limiter(mut self, windows: DurationLimiter) -> Self {
        self.windows = Some(windows);
        self
    }

    /// Where handlers load the Eloquent models their jobs carry
    /// ([`crate::job::JobContext::models`]); a model found missing there deletes or fails the job
    /// as PHP's worker does (see [`crate::model`]).
    pub fn models(mut self, models: Models) -> Self {
        self.models = Some(models);
        self
    }

    /// `queue:work`'s options.
    pub fn options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// Where failed jobs are recorded; without one, failed jobs are only deleted (Laravel's `null`
    /// failed driver).
    pub fn failed_store(mut self, store: FailedJobStore) -> Self {
        self.failed = Some(store);
        self
    }

    /// The app's cache store: the restart signal, paused queues (Laravel 12+, see
    /// [`crate::pause`]), and (where the store has counters) `maxExceptions` counters.
    pub fn cache(mut self, cache: impl Into<CacheStore>) -> Self {
        self.cache = Some(cache.into());
        self
    }

    /// The worker.
    pub fn build(self) -> Worker {
        let mut options = self.options;
        options.concurrency = options.concurrency.max(1);
        if options.queues.is_empty() {
            options.queues.push("default".to_owned());
        }
        let bus = self.bus.map(|b| {
            Arc::new(b.with_default_dispatcher(
                &self.queue,
                &self.registry,
                options.laravel_version,
            ))
        });
        let deletes = self.queue.defers_deletes().then(Deletes::default);
        let mut middleware = MiddlewareRunner::new(
            self.cache.clone(),
            self.locks,
            self.middleware.unwrap_or_default(),
            crate::laravel::Laravel::nearest(options.laravel_version),
        );
        if let Some(windows) = self.windows {
            middleware = middleware.with_duration_limiter(windows);
        }
        middleware =
            middleware.with_batch_skip(bus.as_ref().is_some_and(|b| b.skips_cancelled_batches()));
        let pause_keys = self.cache.as_ref().and_then(|_| {
            PauseKeys::new(
                self.queue.connection_name(),
                &options.queues,
                options.laravel_version,
            )
        });
        let watchdog = options
            .stuck_handler_grace
            .map(|grace| watchdog::Watchdog::new(grace, self.sink.clone()));
        if let Some(metrics) = &self.metrics {
            metrics.bind(
                Arc::clone(&self.queue),
                options.queues.clone(),
                options.concurrency,
                options.sleep,
            );
        }
        Worker {
            inner: Arc::new(Inner {
                queue: self.queue,
                registry: self.registry,
                failed: self.failed,
                cache: self.cache,
                bus,
                middleware,
                models: self.models,
                options,
                deletes,
                busy: AtomicUsize::new(0),
                metrics: self.metrics,
                watchdog,
                state: Arc::new(State::default()),
                failed_store_trouble: LogLimit::new(FAILED_STORE_LOG_INTERVAL),
                sink: self.sink,
                pause_keys,
                pause_trouble: LogLimit::new(FAILED_STORE_LOG_INTERVAL),
            }),
        }
    }
}

/// How many times an idle push-queue worker waits for a delivery that its reserve then did not
/// find before it calls the queue empty: bounded, so a wait that keeps saying "delivered" for
/// deliveries no reserve can take cannot spin the loop.
const PUSH_WAIT_ROUNDS: usize = 3;

/// The longest wait between two reconnection attempts while Redis is unreachable.
const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(2);

/// How often a busy worker reads the restart key and its resident memory. Laravel reads both
/// after every job; at thousands of jobs a second that is a round trip and a /proc read per job
/// for signals that only need to stop the worker promptly, so a busy larq reads them at most
/// this often (and always when idle).
const RESTART_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Resident set size in MB from `/proc/self/statm` (0 where unavailable).
pub(crate) fn rss_mb() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096) / (1024 * 1024)
}

impl Worker {
    /// A worker over `queue` (a [`crate::queue::RedisQueue`], a
    /// [`crate::queue::DatabaseQueue`] or a [`Queue`]) running the classes in `registry`.
    pub fn builder(queue: impl Into<Queue>, registry: Registry) -> WorkerBuilder {
        WorkerBuilder {
            queue: Arc::new(queue.into()),
            registry: Arc::new(registry),
            failed: None,
            cache: None,
            bus: None,
            middleware: None,
            locks: None,
            windows: None,
            models: None,
            options: WorkerOptions::default(),
            metrics: None,
            sink: None,
        }
    }

    /// A handle to stop, pause or resume the worker from elsewhere.
    pub fn handle(&self) -> WorkerHandle {
        WorkerHandle {
            state: Arc::clone(&self.inner.state),
        }
    }

    fn install_signals(&self) -> Result<(), WorkerError> {
        use tokio::signal::unix::{signal, SignalKind};
        type OnSignal = fn(&WorkerHandle);
        let pairs: [(&'static str, SignalKind, OnSignal); 4] = [
            ("SIGTERM", SignalKind::terminate(), WorkerHandle::terminate),
            ("SIGINT", SignalKind::interrupt(), WorkerHandle::terminate),
            ("SIGUSR2", SignalKind::user_defined2(), WorkerHandle::pause),
            (
                "SIGCONT",
                SignalKind::from_raw(libc::SIGCONT),
                WorkerHandle::resume,
            ),
        ];
        for (name, kind, action) in pairs {
            let mut stream = signal(kind).map_err(|e| WorkerError::Signal(name, e))?;
            let handle = self.handle();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tracing::info!(signal = name, "signal received");
                    action(&handle);
                }
            });
        }
        Ok(())
    }

    async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.inner.state.wake.notified() => {}
            _ = self.delete_queued() => {}
        }
    }

    /// Completes when a finished job hands its delete to the loop (never without Redis).
    async fn delete_queued(&self) {
        match &self.inner.deletes {
            Some(deletes) => deletes.queued.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Send the queued deletes on their own (the loop is not about to reserve): one call per
    /// queue, retried while the connection is down.
    async fn flush_deletes(&self) {
        let Some(deletes) = &self.inner.deletes else {
            return;
        };
        let queue = &self.inner.queue;
        for (name, group) in by_queue(deletes.take()) {
            let finished: Vec<&ReservedJob> = group.iter().map(|d| d.job.as_ref()).collect();
            let result = retry_while_disconnected(&self.inner.state, || {
                queue.settle_and_reserve(&name, &finished, false, 0)
            })
            .await;
            settle(group, result.map(|(deleted, _)| deleted));
        }
    }

    /// The restart key's value from whichever store the app uses (`None` when larq sees none);
    /// `Err` when it cannot be read (Redis down), which must not read as a change (that would stop
    /// the worker on every outage once `queue:restart` was ever run).
    async fn restart_value(&self) -> Result<Option<Vec<u8>>, CacheError> {
        match &self.inner.cache {
            Some(cache) => cache.get(RESTART_KEY).await,
            None => Ok(None),
        }
    }

    /// Whether the app is down for maintenance (`php artisan down`), reading the file at most
    /// every [`RESTART_CHECK_INTERVAL`]. `--once` ignores it, as `queue:work --once` does.
    fn down_for_maintenance(&self, check: &mut MaintenanceCheck) -> bool {
        let opts = &self.inner.options;
        let Some(file) = opts.maintenance_file.as_deref().filter(|_| !opts.once) else {
            return false;
        };
        if check
            .at
            .is_none_or(|at| at.elapsed() >= RESTART_CHECK_INTERVAL)
        {
            let down = file.exists();
            if down != check.down {
                if down {
                    tracing::warn!(file = %file.display(), "the app is down for maintenance: no new jobs until `php artisan up` (--force works through it)");
                } else {
                    tracing::info!("the app is up again: taking jobs");
                }
            }
            check.down = down;
            check.at = Some(Instant::now());
        }
        check.down
    }

    /// `Looping`: whether the registry's observers let the worker look for jobs now (a false
    /// makes it pause for this round, as PHP's `daemonShouldRun` does).
    fn observers_let_it_loop(&self) -> bool {
        let observers = self.inner.registry.observers();
        observers.is_empty()
            || observers.looping(
                self.inner.queue.connection_name(),
                &self.inner.options.queues,
            )
    }

    /// Run until a stop condition; returns why (its [`StopReason::exit_code`] is the exit status).
    pub async fn run(self) -> Result<StopReason, WorkerError> {
        if self.inner.options.handle_signals {
            self.install_signals()?;
        }
        if let Some(metrics) = &self.inner.metrics {
            metrics.set_running();
        }
        let opts = &self.inner.options;
        let started = Instant::now();
        let last_restart = match self.restart_value().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the restart signal");
                None
            }
        };
        let mut popped: u64 = 0;
        let mut restart_checked: Option<Instant> = None;
        let mut inflight: JoinSet<()> = JoinSet::new();
        let mut migrated_at: u64 = 0;
        let mut outage: Option<(Instant, Duration)> = None;
        let mut short_pass = true;
        let mut down = MaintenanceCheck::default();
        let mut paused = Paused::default();
        // Jobs the last pass reserved, slots taken, that start once the next pass's call is on
        // its way (see `pipelined`); everywhere the loop does not go straight into a pass, they
        // start at once.
        let mut held: Vec<(ReservedJob, Slot)> = Vec::new();
        // Likewise the deletes the last pass made: their jobs' tasks (which report `Processed`)
        // wake once the next call is on its way, so that call does not wait behind them.
        let mut held_settled: Vec<Settled> = Vec::new();
        // A pass sent while the loop still waits for the previous one, when jobs that finished
        // meanwhile freed half the slots: the server then always has the next call queued, and
        // this process never waits for it with nothing to do. Its result is the next pass's.
        let mut ahead: Option<Ahead> = None;
        // Two reserve calls' worth of work overlap when each pass asks for at most half the
        // slots: while Redis answers one, the jobs of the previous run here. A pass that took
        // every slot would leave the server idle while its jobs run and this process idle while
        // the server answers. No job is reserved before it has a free slot. Redis only: there a
        // pass is one atomic script, while two database passes at once are two transactions on
        // one table, which a full test run showed leaving SQLite rows behind and running
        // MariaDB rows past their tries beside a PHP worker.
        let pipelined =
            self.inner.queue.as_redis().is_some() && opts.concurrency >= 2 && !opts.once;
        let per_pass = if pipelined {
            opts.concurrency.div_ceil(2)
        } else {
            usize::MAX
        };
        loop {
            while let Some(res) = inflight.try_join_next() {
                if let Err(e) = res {
                    tracing::error!(error = %e, "job task ended abnormally");
                }
            }
            if self.inner.state.paused.load(Ordering::SeqCst)
                || self.down_for_maintenance(&mut down)
                || !self.observers_let_it_loop()
            {
                self.take_ahead(&mut ahead, &mut held, &mut held_settled, &mut popped)
                    .await;
                self.spawn_held(&mut held, &mut held_settled, &mut inflight);
                // pauseWorker: `--sleep`, or 1 s when that is 0.
                let nap = if opts.sleep.is_zero() {
                    Duration::from_secs(1)
                } else {
                    opts.sleep
                };
                self.sleep(nap).await;
                self.flush_deletes().await;
                // Laravel's pauseWorker checks the stop conditions as if no job came, so a paused
                // `--stop-when-empty` worker exits.
                if let Some(reason) = self
                    .stop_reason(true, started, popped, &last_restart, &mut restart_checked)
                    .await
                {
                    return Ok(self.finish(&mut inflight, reason).await);
                }
                continue;
            }
            let mut got = 0usize;
            let mut pop_failed = false;
            let budget = if opts.max_jobs > 0 {
                usize::try_from(opts.max_jobs.saturating_sub(popped)).unwrap_or(usize::MAX)
            } else {
                usize::MAX
            };
            let free = opts
                .concurrency
                .saturating_sub(self.inner.busy.load(Ordering::SeqCst))
                .min(budget)
                .min(if opts.once { 1 } else { usize::MAX });
            let quitting = self.inner.state.should_quit.load(Ordering::SeqCst);
            let polled = (free > 0 || ahead.is_some()) && !quitting;
            let mut migrated = false;
            if quitting {
                self.take_ahead(&mut ahead, &mut held, &mut held_settled, &mut popped)
                    .await;
            }
            if polled {
                let second = now();
                let mut settled = Vec::new();
                let (want, migrate, result) = if let Some(sent) = ahead.take() {
                    // Already on its way: its jobs are the ones this round takes.
                    self.spawn_held(&mut held, &mut held_settled, &mut inflight);
                    let mut pass = sent.pass;
                    let snapshot = paused.clone();
                    let (result, mut done) = loop {
                        tokio::select! {
                            biased;
                            done = &mut pass => break done,
                            n = self.half_free(sent.want, per_pass, budget), if ahead.is_none() => {
                                ahead = Some(self.send_ahead(n, snapshot.clone()).await);
                            }
                        }
                    };
                    settled.append(&mut done);
                    (sent.want, false, result)
                } else {
                    let migrate = short_pass || migrated_at != second;
                    let want = free.min(per_pass);
                    let may_block = inflight.is_empty() && held.is_empty();
                    let snapshot = paused.clone();
                    let result = {
                        let mut pass = std::pin::pin!(self.next_jobs(
                            want,
                            may_block,
                            migrate,
                            &mut paused,
                            &mut settled
                        ));
                        // Poll the pass once before the held jobs are spawned: that hands its
                        // call to the connection's writer task, which this one-thread runtime
                        // then runs before them.
                        let early = futures_lite::future::poll_once(&mut pass).await;
                        self.spawn_held(&mut held, &mut held_settled, &mut inflight);
                        match early {
                            Some(result) => result,
                            None => loop {
                                tokio::select! {
                                    biased;
                                    result = &mut pass => break result,
                                    n = self.half_free(want, per_pass, budget), if pipelined && ahead.is_none() => {
                                        ahead = Some(self.send_ahead(n, snapshot.clone()).await);
                                    }
                                }
                            },
                        }
                    };
                    (want, migrate, result)
                };
                migrated = migrate;
                held_settled.append(&mut settled);
                match result {
                    Ok(jobs) => {
                        if let Some(metrics) = &self.inner.metrics {
                            metrics.contact();
                        }
                        if migrate {
                            migrated_at = second;
                        }
                        if let Some((since, _)) = outage.take() {
                            tracing::warn!(
                                after_ms = since.elapsed().as_millis() as u64,
                                "the queue connection is back"
                            );
                        }
                        short_pass = jobs.len() < want;
                        for job in jobs {
                            got += 1;
                            popped += 1;
                            held.push((job, Slot::take(&self.inner)));
                        }
                    }
                    Err(e) => {
                        pop_failed = true;
                        short_pass = true;
                        if e.is_connection_lost() {
                            // Laravel quits here and leaves it to the supervisor; larq keeps its
                            // jobs and reconnects, saying so once per outage.
                            if outage.is_none() {
                                tracing::error!(error = %e, "lost the queue connection; retrying with backoff");
                                if let Some(sink) = &self.inner.sink {
                                    sink.problem(None, &format!("{e}; retrying with backoff"));
                                }
                                outage = Some((Instant::now(), Duration::from_millis(100)));
                            }
                            if let Some((_, backoff)) = outage.as_mut() {
                                self.sleep(*backoff).await;
                                *backoff = (*backoff * 2).min(MAX_RECONNECT_BACKOFF);
                            }
                        } else {
                            tracing::error!(error = %e, "cannot pop a job");
                            if let Some(sink) = &self.inner.sink {
                                sink.problem(None, &e.to_string());
                            }
                            self.sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            } else {
                self.spawn_held(&mut held, &mut held_settled, &mut inflight);
                self.flush_deletes().await;
            }
            // Held jobs wait for the next pass only when the loop goes straight into it: slots
            // are left, nothing to rest or sleep for, and no stop requested.
            let next_pass_now = pipelined
                && got > 0
                && opts.rest.is_zero()
                && (ahead.is_some()
                    || self.inner.busy.load(Ordering::SeqCst) < opts.concurrency
                        && (opts.max_jobs == 0 || popped < opts.max_jobs))
                && !self.inner.state.should_quit.load(Ordering::SeqCst);
            if !next_pass_now {
                self.spawn_held(&mut held, &mut held_settled, &mut inflight);
            }
            if opts.once {
                if got == 0 {
                    self.sleep(opts.sleep).await;
                }
                return Ok(self.finish(&mut inflight, StopReason::Once).await);
            }
            // Empty means a reserve found nothing while nothing ran: a pass that found nothing
            // while jobs were in flight is tried again once they finish (they may queue more).
            let found_empty = polled && !pop_failed && got == 0;
            if found_empty && !migrated {
                // That pass skipped moving due delayed jobs (done at most once a second while
                // passes come back full); a job released for 0 s may be due. Look again, moving
                // them, before calling the queues empty (`--stop-when-empty` would stop with it
                // left behind) or sleeping.
                continue;
            }
            let idle = found_empty && inflight.is_empty() && ahead.is_none();
            if pop_failed || (!polled && self.inner.state.should_quit.load(Ordering::SeqCst)) {
                // Already waited (backoff), or stopping: the stop checks below say so.
            } else if ahead.is_some() {
                // A pass is on its way: the next round takes its jobs.
            } else if idle {
                // A push queue already waited for a delivery in `next_jobs` (unless a queue is
                // paused: then it polls like the others).
                let waited = self.inner.queue.is_push() && !paused.any();
                if !opts.stop_when_empty && !waited {
                    self.sleep(opts.sleep).await;
                }
            } else if found_empty || self.inner.busy.load(Ordering::SeqCst) >= opts.concurrency {
                // Wait for a job to end or hand in its delete; when the queues were empty,
                // also at most `--sleep` (a full worker has nothing to poll for).
                let idle = if found_empty {
                    opts.sleep
                } else {
                    Duration::MAX
                };
                tokio::select! {
                    res = inflight.join_next() => {
                        if let Some(Err(e)) = res {
                            tracing::error!(error = %e, "job task ended abnormally");
                        }
                    }
                    _ = tokio::time::sleep(idle) => {}
                    _ = self.inner.state.wake.notified() => {}
                    _ = self.delete_queued() => {}
                    // A free slot and a delivery: take it now (push queues only).
                    _ = self.inner.queue.arrival(), if found_empty && !paused.any() => {}
                }
            }
            if got > 0 && !opts.rest.is_zero() {
                self.sleep(opts.rest).await;
            }
            if let Some(reason) = self
                .stop_reason(idle, started, popped, &last_restart, &mut restart_checked)
                .await
            {
                // Reserved jobs run before a graceful stop, as any job in flight does.
                self.take_ahead(&mut ahead, &mut held, &mut held_settled, &mut popped)
                    .await;
                self.spawn_held(&mut held, &mut held_settled, &mut inflight);
                return Ok(self.finish(&mut inflight, reason).await);
            }
        }
    }

    /// Completes with how many slots a pass sent ahead may ask for, once finished jobs have freed
    /// at least `per_pass` beyond the `want` of the pass in flight (and the `--max-jobs` budget
    /// allows): each finished job hands in its delete, which is what wakes this.
    async fn half_free(&self, want: usize, per_pass: usize, budget: usize) -> usize {
        let Some(deletes) = &self.inner.deletes else {
            return std::future::pending().await;
        };
        loop {
            deletes.queued.notified().await;
            let free = self
                .inner
                .options
                .concurrency
                .saturating_sub(self.inner.busy.load(Ordering::SeqCst))
                .saturating_sub(want)
                .min(budget.saturating_sub(want));
            // Only with deletes to carry: a pass sent for nothing but free slots would keep an
            // empty queue's worker polling forever (it is never idle while one is out).
            if free >= per_pass
                && deletes.pending() > 0
                && !self.inner.state.should_quit.load(Ordering::SeqCst)
            {
                return per_pass;
            }
        }
    }

    /// Send a pass (the deletes queued now, then a reserve of `n`, no migration, no blocking)
    /// while the loop waits for another: polled once here, so its call is on its way.
    async fn send_ahead(&self, n: usize, paused: Paused) -> Ahead {
        let worker = Worker {
            inner: Arc::clone(&self.inner),
        };
        let mut pass: std::pin::Pin<Box<dyn std::future::Future<Output = PassResult> + Send>> =
            Box::pin(async move {
                let mut settled = Vec::new();
                let result = worker.take_jobs(n, false, &paused, &mut settled).await;
                (result, settled)
            });
        if let Some(done) = futures_lite::future::poll_once(&mut pass).await {
            pass = Box::pin(std::future::ready(done));
        }
        Ahead { want: n, pass }
    }

    /// Wait for a pass sent ahead, if any, and hold its jobs (slots taken) and deletes as a
    /// pass of the loop's own would: before a pause or a stop, its jobs must run too.
    async fn take_ahead(
        &self,
        ahead: &mut Option<Ahead>,
        held: &mut Vec<(ReservedJob, Slot)>,
        held_settled: &mut Vec<Settled>,
        popped: &mut u64,
    ) {
        let Some(sent) = ahead.take() else {
            return;
        };
        let (result, mut settled) = sent.pass.await;
        held_settled.append(&mut settled);
        match result {
            Ok(jobs) => {
                for job in jobs {
                    *popped += 1;
                    held.push((job, Slot::take(&self.inner)));
                }
            }
            // Its deletes went back for the next call; the loop's next pass meets the same
            // trouble and handles it.
            Err(e) => tracing::warn!(error = %e, "a reserve sent ahead failed"),
        }
    }

    /// Tell the finished jobs how the last pass's deletes went, and start the jobs it reserved
    /// (their slots are already taken).
    fn spawn_held(
        &self,
        held: &mut Vec<(ReservedJob, Slot)>,
        settled: &mut Vec<Settled>,
        inflight: &mut JoinSet<()>,
    ) {
        for (group, deleted) in settled.drain(..) {
            settle(group, Ok(deleted));
        }
        for (job, slot) in held.drain(..) {
            // Boxed: a job's run is a large future, and tokio copies a task's future into its
            // cell at spawn and its stage again at completion (a tenth of the worker's CPU at
            // --concurrency 128 went to those copies, by `perf`); a box is one pointer.
            inflight.spawn(Box::pin(process(Arc::clone(&self.inner), job, slot)));
        }
    }

    /// Wait for the jobs in flight, unless a forced stop comes first: then abort them (they stay
    /// reserved) and report [`StopReason::Forced`].
    async fn finish(&self, set: &mut JoinSet<()>, reason: StopReason) -> StopReason {
        if let Some(metrics) = &self.inner.metrics {
            metrics.set_stopping();
        }
        let reason = self.drain(set, reason).await;
        self.inner
            .registry
            .observers()
            .each("worker_stopping", |o| {
                o.worker_stopping(reason.exit_code(), reason.name())
            });
        // Jobs taken but not started (RabbitMQ's prefetched deliveries) go back now.
        self.inner.queue.close().await;
        reason
    }

    async fn drain(&self, set: &mut JoinSet<()>, reason: StopReason) -> StopReason {
        loop {
            self.flush_deletes().await;
            tokio::select! {
                _ = self.delete_queued() => {}
                res = set.join_next() => match res {
                    None => return reason,
                    Some(Err(e)) => tracing::error!(error = %e, "job task ended abnormally"),
                    Some(Ok(())) => {}
                },
                _ = self.inner.state.force.notified() => {
                    tracing::warn!(jobs = set.len(), "forced stop: jobs in flight are aborted and stay reserved until retry_after");
                    set.abort_all();
                    while set.join_next().await.is_some() {}
                    return StopReason::Forced;
                }
            }
        }
    }

    /// Laravel's `stopIfNecessary`, in its order.
    async fn stop_reason(
        &self,
        idle: bool,
        started: Instant,
        popped: u64,
        last_restart: &Option<Vec<u8>>,
        restart_checked: &mut Option<Instant>,
    ) -> Option<StopReason> {
        let opts = &self.inner.options;
        if self.inner.state.should_quit.load(Ordering::SeqCst) {
            return Some(StopReason::Signal);
        }
        // Memory and the restart key are read at most every RESTART_CHECK_INTERVAL while busy.
        let due = idle || restart_checked.is_none_or(|at| at.elapsed() >= RESTART_CHECK_INTERVAL);
        if due {
            *restart_checked = Some(Instant::now());
        }
        if due && opts.memory_mb > 0 && rss_mb() >= opts.memory_mb {
            return Some(StopReason::Memory);
        }
        if due {
            match self.restart_value().await {
                Ok(v) if v != *last_restart => return Some(StopReason::Restart),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "cannot read the restart signal"),
            }
        }
        if opts.stop_when_empty && idle {
            return Some(StopReason::Empty);
        }
        if !opts.max_time.is_zero() && started.elapsed() >= opts.max_time {
            return Some(StopReason::MaxTime);
        }
        if opts.max_jobs > 0 && popped >= opts.max_jobs {
            return Some(StopReason::MaxJobs);
        }
        None
    }

    /// Reserve up to `n` jobs in queue priority order, migrating each queue once first. With
    /// `block_for` set and nothing in flight, an empty first pass waits on the first queue's
    /// notify list once.
    ///
    /// Migration runs when `migrate` says so (the loop asks for it when the second changed or the
    /// last pass came up short): scores are whole seconds, so migrating twice in one second while
    /// the ready list is non-empty only reorders jobs that land at its tail anyway.
    async fn next_jobs(
        &self,
        n: usize,
        may_block: bool,
        migrate: bool,
        paused: &mut Paused,
        settled: &mut Vec<Settled>,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        let queue = &self.inner.queue;
        self.read_pauses(paused).await;
        let mut jobs = self.take_jobs(n, migrate, paused, settled).await?;
        if jobs.len() >= n {
            return Ok(jobs);
        }
        // Only the first queue's pop blocks, as in Laravel; a paused first queue is not popped.
        // A push queue's wait ends on any delivery, a paused queue's too (its consumer keeps
        // what it prefetched): with a queue paused, poll as the other drivers do.
        let push_blocked = queue.is_push() && paused.any();
        if jobs.is_empty() && may_block && !paused.is_paused(0) && !push_blocked {
            if let (Some(secs), Some(first)) =
                (queue.block_for(), self.inner.options.queues.first())
            {
                if queue.is_push() {
                    // A delivery came for one of the queues: take it in priority order. A pass
                    // that then finds nothing (the session broke in between, so its deliveries
                    // went back to the broker) waits again rather than calling the queue empty.
                    for _ in 0..PUSH_WAIT_ROUNDS {
                        if !queue.wait_for_notify(first, secs).await? {
                            break;
                        }
                        let mut none = Vec::new();
                        self.reserve_pass(n, false, paused, &mut jobs, &mut none, settled)
                            .await?;
                        if !jobs.is_empty() {
                            break;
                        }
                    }
                } else if queue.wait_for_notify(first, secs).await? {
                    if let Some(job) = queue.reserve(first).await? {
                        jobs.push(job);
                    }
                }
            }
        }
        Ok(jobs)
    }

    /// One pass without blocking: the queued deletes, then reserve up to `n` (see
    /// [`Worker::reserve_pass`]). Deletes a failed call did not make go back for the next one.
    async fn take_jobs(
        &self,
        n: usize,
        migrate: bool,
        paused: &Paused,
        settled: &mut Vec<Settled>,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        let mut finished = match &self.inner.deletes {
            Some(deletes) => by_queue(deletes.take()),
            None => Vec::new(),
        };
        let mut jobs = Vec::new();
        let result = self
            .reserve_pass(n, migrate, paused, &mut jobs, &mut finished, settled)
            .await;
        if let Some(deletes) = &self.inner.deletes {
            deletes.put_back(finished.into_iter().flat_map(|(_, g)| g).collect());
        }
        result.map(|()| jobs)
    }

    /// Which queues are paused now, read once for the round (Laravel's `getPausedQueues` before
    /// each pop); each change is logged once. When the cache cannot be read every queue counts
    /// as paused for the round, as Laravel's `getNextJob` pops nothing when the read throws: a
    /// paused queue must not run because its pause could not be seen.
    async fn read_pauses(&self, paused: &mut Paused) {
        let (Some(keys), Some(cache)) = (&self.inner.pause_keys, &self.inner.cache) else {
            return;
        };
        match keys.read(cache, &mut paused.queues).await {
            Ok(()) => {
                if self.inner.pause_trouble.cleared() {
                    tracing::warn!("the pause state is readable again");
                }
            }
            Err(e) => {
                paused.queues.clear();
                paused.queues.resize(self.inner.options.queues.len(), true);
                if let Some(left_out) = self.inner.pause_trouble.occurred() {
                    tracing::error!(error = %e, left_out, "cannot read which queues are paused; taking no jobs until it can be read");
                    if let Some(sink) = &self.inner.sink {
                        sink.problem(
                            None,
                            &format!("cannot read which queues are paused ({e}); taking no jobs until it can be read"),
                        );
                    }
                }
                // The state is unknown, not changed: say nothing about the queues.
                return;
            }
        }
        if paused.reported.len() != paused.queues.len() {
            paused.reported.resize(paused.queues.len(), false);
        }
        for (index, (now, before)) in paused
            .queues
            .iter()
            .zip(paused.reported.iter_mut())
            .enumerate()
        {
            if now == before {
                continue;
            }
            *before = *now;
            let Some(name) = self.inner.options.queues.get(index) else {
                continue;
            };
            if *now {
                tracing::info!(queue = %name, "queue paused: taking no jobs from it");
            } else {
                tracing::info!(queue = %name, "queue resumed");
            }
            if let Some(sink) = &self.inner.sink {
                sink.queue_paused(name, *now);
            }
        }
    }

    /// One pass over the queues in priority order: for each, delete its finished jobs, migrate
    /// (when asked) and reserve what is still wanted. On Redis that is one script call per queue,
    /// with the deletes first, so a finished job whose reservation expired while its delete
    /// waited (Redis stalled past `retry_after`) is deleted, not migrated back to run again.
    /// Deletes of queues the pass did not reach are sent on their own. Groups are taken out of
    /// `finished` as they are settled, so on error it holds exactly the deletes still to do.
    async fn reserve_pass(
        &self,
        n: usize,
        migrate: bool,
        paused: &Paused,
        jobs: &mut Vec<ReservedJob>,
        finished: &mut Vec<(String, Vec<PendingDelete>)>,
        settled: &mut Vec<Settled>,
    ) -> Result<(), QueueError> {
        let queue = &self.inner.queue;
        for (index, name) in self.inner.options.queues.iter().enumerate() {
            let want = n - jobs.len();
            if want == 0 {
                break;
            }
            if paused.is_paused(index) {
                // Neither migrated nor popped, as Laravel's pop is never called for it; its
                // finished jobs' deletes go out below.
                continue;
            }
            if index > 0 && queue.is_push() {
                // Laravel pops the queues in order: a higher queue whose next delivery is on
                // its way goes first.
                for (higher_index, higher) in self.inner.options.queues[..index].iter().enumerate()
                {
                    let want = n - jobs.len();
                    if want == 0 || paused.is_paused(higher_index) {
                        continue;
                    }
                    jobs.extend(queue.reserve_before_lower(higher, want).await?);
                }
                if jobs.len() >= n {
                    break;
                }
            }
            let want = n - jobs.len();
            let group = finished
                .iter()
                .position(|(q, _)| q == name)
                .map(|at| finished.remove(at).1)
                .unwrap_or_default();
            let members: Vec<&ReservedJob> = group.iter().map(|d| d.job.as_ref()).collect();
            match queue
                .settle_and_reserve(name, &members, migrate, want)
                .await
            {
                Ok((deleted, reserved)) => {
                    settled.push((group, deleted));
                    jobs.extend(reserved);
                }
                Err(e) => {
                    // Not settled: the caller puts these deletes back for the next pass.
                    finished.push((name.clone(), group));
                    return Err(e);
                }
            }
        }
        while let Some((name, group)) = finished.last() {
            let members: Vec<&ReservedJob> = group.iter().map(|d| d.job.as_ref()).collect();
            let (deleted, _) = queue.settle_and_reserve(name, &members, false, 0).await?;
            if let Some((_, group)) = finished.pop() {
                settled.push((group, deleted));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::run::max_attempts_message;
    use super::*;

    #[test]
    fn messages_follow_the_version() {
        assert_eq!(
            max_attempts_message("App\\Jobs\\X", 8),
            "App\\Jobs\\X has been attempted too many times or run too long. The job may have previously timed out."
        );
        assert_eq!(
            max_attempts_message("X", 10),
            "X has been attempted too many times."
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(StopReason::Memory.exit_code(), 12);
        assert_eq!(StopReason::Restart.exit_code(), 0);
        assert_eq!(StopReason::ConnectionLost.exit_code(), 1);
    }

    #[test]
    fn rss_is_measured() {
        assert!(rss_mb() > 0);
    }
}
