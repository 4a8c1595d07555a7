//! `queue:work`: the worker loop with Laravel 8's semantics (wire spec §4).
//!
//! Per iteration: delete the jobs that finished, migrate due delayed and expired reserved jobs
//! (at most once a second per queue), reserve jobs in
//! strict queue priority (up to `--concurrency` in flight), run each with its timeout, then the stop
//! checks in Laravel's order (signal, memory, restart, empty, max time, max jobs).
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
//! On Redis a finished job's delete is handed to the loop and sent in the same script call as
//! the next migration and reserve ([`crate::queue::RedisQueue::delete_migrate_reserve`]), deletes
//! first; the job reports
//! `Processed` only once that call has returned, as Laravel's worker does after its `ZREM`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;

mod watchdog;

use crate::bus::{Before, BusFeatures, HandedBack};
use crate::cache::{CacheError, CacheStore, RESTART_KEY};
use crate::display::{printable, FIELD_LIMIT, MESSAGE_LIMIT};
use crate::failed::{FailedJob, FailedJobStore, Recorded};
use crate::job::{exceptions, Action, JobContext, JobError, Registry, Resolved};
use crate::log_limit::LogLimit;
use crate::metrics::{JobTracker, Metrics, Outcome};
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

/// How the worker reports jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Laravel 8's lines on stdout: `[2026-11-23 08:49:56][id] Processing: App\Jobs\SomeJob`.
    Laravel,
    /// Only `tracing` events (the binary renders them as JSON lines with `--log-format json`).
    Tracing,
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
    /// Line output or tracing events.
    pub output: Output,
    /// Laravel major version whose messages to mimic (8: MaxAttemptsExceededException on timeout).
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
            output: Output::Laravel,
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
    options: WorkerOptions,
    /// Finished jobs' deletes, carried by the loop's next reserve call (Redis only).
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
}

/// A finished job's delete, waiting for the loop to send it along with its next reserve.
struct PendingDelete {
    /// Shared with the job's run, not copied: a payload can be megabytes.
    job: Arc<ReservedJob>,
    /// `Some(still reserved)` once deleted, `None` if the delete could not be sent.
    done: oneshot::Sender<Option<bool>>,
}

/// Deletes handed from job tasks to the worker loop, so that one script call deletes the jobs
/// that just finished and reserves the next ones (one round trip per loop instead of one per
/// delete plus one per reserve). The job's task waits for its delete before it reports
/// `Processed`, as Laravel's worker does.
#[derive(Default)]
struct Deletes {
    pending: Mutex<Vec<PendingDelete>>,
    queued: Notify,
}

impl Deletes {
    fn push(&self, delete: PendingDelete) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(delete);
        self.queued.notify_one();
    }

    fn take(&self) -> Vec<PendingDelete> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keep deletes a failed call did not make, for the next one (no wake-up: the loop is
    /// already backing off).
    fn put_back(&self, deletes: Vec<PendingDelete>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let newer = std::mem::replace(&mut *pending, deletes);
        pending.extend(newer);
    }
}

/// Deletes grouped by queue, in the order the queues first appear.
fn by_queue(deletes: Vec<PendingDelete>) -> Vec<(String, Vec<PendingDelete>)> {
    let mut groups: Vec<(String, Vec<PendingDelete>)> = Vec::new();
    for delete in deletes {
        match groups.iter_mut().find(|(q, _)| *q == delete.job.queue) {
            Some((_, group)) => group.push(delete),
            None => groups.push((delete.job.queue.clone(), vec![delete])),
        }
    }
    groups
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
    options: WorkerOptions,
    metrics: Option<Arc<Metrics>>,
}

impl WorkerBuilder {
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

    /// The app's cache store: the restart signal, and (where the store has counters)
    /// `maxExceptions` counters.
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
        let bus = self
            .bus
            .map(|b| Arc::new(b.with_default_dispatcher(&self.queue, &self.registry)));
        let deletes = self.queue.as_redis().map(|_| Deletes::default());
        let watchdog = options.stuck_handler_grace.map(watchdog::Watchdog::new);
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
                options,
                deletes,
                busy: AtomicUsize::new(0),
                metrics: self.metrics,
                watchdog,
                state: Arc::new(State::default()),
                failed_store_trouble: LogLimit::new(FAILED_STORE_LOG_INTERVAL),
            }),
        }
    }
}

/// The longest wait between two reconnection attempts while Redis is unreachable.
const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(2);

/// How often a busy worker reads the restart key and its resident memory. Laravel reads both
/// after every job; at thousands of jobs a second that is a round trip and a /proc read per job
/// for signals that only need to stop the worker promptly, so a busy larq reads them at most
/// this often (and always when idle).
const RESTART_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// `Y-m-d H:i:s` for the output lines; formatted once per second per thread (formatting it for
/// every line was a visible share of a busy worker's time).
fn timestamp() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now.timestamp() {
            *last = (now.timestamp(), now.format("%Y-%m-%d %H:%M:%S").to_string());
        }
        last.1.clone()
    })
}

/// Resident set size in MB from `/proc/self/statm` (0 where unavailable).
pub fn rss_mb() -> u64 {
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
            options: WorkerOptions::default(),
            metrics: None,
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
        let Some(redis) = self.inner.queue.as_redis() else {
            return;
        };
        for (queue, group) in by_queue(deletes.take()) {
            let members: Vec<&[u8]> = group.iter().map(|d| d.job.reserved.as_slice()).collect();
            let result = retry_while_disconnected(&self.inner.state, || {
                redis.delete_and_reserve(&queue, &members, 0)
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
        loop {
            while let Some(res) = inflight.try_join_next() {
                if let Err(e) = res {
                    tracing::error!(error = %e, "job task ended abnormally");
                }
            }
            if self.inner.state.paused.load(Ordering::SeqCst)
                || self.down_for_maintenance(&mut down)
            {
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
            let polled = free > 0 && !self.inner.state.should_quit.load(Ordering::SeqCst);
            if polled {
                let second = now();
                let migrate = short_pass || migrated_at != second;
                match self.next_jobs(free, inflight.is_empty(), migrate).await {
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
                                "the connection to Redis is back"
                            );
                        }
                        short_pass = jobs.len() < free;
                        for job in jobs {
                            got += 1;
                            popped += 1;
                            let slot = Slot::take(&self.inner);
                            let inner = Arc::clone(&self.inner);
                            inflight.spawn(async move { process(inner, job, slot).await });
                        }
                    }
                    Err(e) => {
                        pop_failed = true;
                        short_pass = true;
                        if e.is_connection_lost() {
                            // Laravel quits here and leaves it to the supervisor; larq keeps its
                            // jobs and reconnects, saying so once per outage.
                            if outage.is_none() {
                                tracing::error!(error = %e, "lost the connection to Redis; retrying with backoff");
                                if opts.output == Output::Laravel {
                                    eprintln!("[{}] {e}; retrying with backoff", timestamp());
                                }
                                outage = Some((Instant::now(), Duration::from_millis(100)));
                            }
                            if let Some((_, backoff)) = outage.as_mut() {
                                self.sleep(*backoff).await;
                                *backoff = (*backoff * 2).min(MAX_RECONNECT_BACKOFF);
                            }
                        } else {
                            tracing::error!(error = %e, "cannot pop a job");
                            if opts.output == Output::Laravel {
                                eprintln!("[{}] {e}", timestamp());
                            }
                            self.sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            } else {
                self.flush_deletes().await;
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
            let idle = found_empty && inflight.is_empty();
            if pop_failed || (!polled && self.inner.state.should_quit.load(Ordering::SeqCst)) {
                // Already waited (backoff), or stopping: the stop checks below say so.
            } else if idle {
                if !opts.stop_when_empty {
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
                }
            }
            if got > 0 && !opts.rest.is_zero() {
                self.sleep(opts.rest).await;
            }
            if let Some(reason) = self
                .stop_reason(idle, started, popped, &last_restart, &mut restart_checked)
                .await
            {
                return Ok(self.finish(&mut inflight, reason).await);
            }
        }
    }

    /// Wait for the jobs in flight, unless a forced stop comes first: then abort them (they stay
    /// reserved) and report [`StopReason::Forced`].
    async fn finish(&self, set: &mut JoinSet<()>, reason: StopReason) -> StopReason {
        if let Some(metrics) = &self.inner.metrics {
            metrics.set_stopping();
        }
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
    ) -> Result<Vec<ReservedJob>, QueueError> {
        let queue = &self.inner.queue;
        let mut finished = match &self.inner.deletes {
            Some(deletes) => by_queue(deletes.take()),
            None => Vec::new(),
        };
        let mut jobs = Vec::new();
        let result = self
            .reserve_pass(n, migrate, &mut jobs, &mut finished)
            .await;
        if let Some(deletes) = &self.inner.deletes {
            // What a failed call did not delete waits for the next one.
            deletes.put_back(finished.into_iter().flat_map(|(_, g)| g).collect());
        }
        result?;
        if jobs.len() >= n {
            return Ok(jobs);
        }
        if jobs.is_empty() && may_block {
            if let (Some(secs), Some(first)) =
                (queue.block_for(), self.inner.options.queues.first())
            {
                if queue.wait_for_notify(first, secs).await? {
                    if let Some(job) = queue.reserve(first).await? {
                        jobs.push(job);
                    }
                }
            }
        }
        Ok(jobs)
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
        jobs: &mut Vec<ReservedJob>,
        finished: &mut Vec<(String, Vec<PendingDelete>)>,
    ) -> Result<(), QueueError> {
        let queue = &self.inner.queue;
        for name in &self.inner.options.queues {
            let want = n - jobs.len();
            if want == 0 {
                break;
            }
            match queue.as_redis() {
                Some(redis) => {
                    let group = finished
                        .iter()
                        .position(|(q, _)| q == name)
                        .map(|at| finished.remove(at).1)
                        .unwrap_or_default();
                    let members: Vec<&[u8]> =
                        group.iter().map(|d| d.job.reserved.as_slice()).collect();
                    match redis
                        .delete_migrate_reserve(name, &members, migrate, want)
                        .await
                    {
                        Ok((deleted, reserved)) => {
                            settle(group, Ok(deleted));
                            jobs.extend(reserved);
                        }
                        Err(e) => {
                            // Not settled: the caller puts these deletes back for the next pass.
                            finished.push((name.clone(), group));
                            return Err(e);
                        }
                    }
                }
                None => {
                    if migrate {
                        queue.migrate(name).await?;
                    }
                    jobs.extend(queue.reserve_many(name, want).await?);
                }
            }
        }
        if let Some(redis) = queue.as_redis() {
            while let Some((name, group)) = finished.last() {
                let members: Vec<&[u8]> = group.iter().map(|d| d.job.reserved.as_slice()).collect();
                let (deleted, _) = redis.delete_and_reserve(name, &members, 0).await?;
                if let Some((_, group)) = finished.pop() {
                    settle(group, Ok(deleted));
                }
            }
        }
        Ok(())
    }
}

/// Tell each finished job's task how its delete went.
fn settle(group: Vec<PendingDelete>, result: Result<Vec<bool>, QueueError>) {
    match result {
        Ok(deleted) => {
            for (delete, still_reserved) in group.into_iter().zip(deleted) {
                let _ = delete.done.send(Some(still_reserved));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = group.len(), "cannot delete finished jobs; they stay reserved and run again after retry_after");
            for delete in group {
                let _ = delete.done.send(None);
            }
        }
    }
}

/// One job's run, with everything it needs to report.
struct Run {
    inner: Arc<Inner>,
    slot: Slot,
    job: Arc<ReservedJob>,
    payload: Arc<Payload>,
    raw: Arc<[u8]>,
    name: String,
    id: String,
    tracker: Option<JobTracker>,
}

impl Run {
    /// Count how this run ended (the first outcome counts; without metrics, nothing happens).
    fn outcome(&self, outcome: Outcome) {
        if let Some(tracker) = &self.tracker {
            tracker.finish(outcome);
        }
    }

    fn say(&self, status: &str) {
        tracing::info!(
            job_id = %self.id,
            uuid = self.payload.uuid.as_deref().unwrap_or(""),
            job = %self.name,
            queue = %self.job.queue,
            attempts = self.job.attempts,
            status,
            "job {status}"
        );
        if self.inner.options.output == Output::Laravel {
            // `{status}:` left-aligned in 11 columns, as Laravel pads it.
            let pad = 10usize.saturating_sub(status.len());
            crate::metrics::status::print_line(format_args!(
                "[{}][{}] {status}:{:pad$} {}",
                timestamp(),
                self.id,
                "",
                self.name
            ));
        }
    }

    fn context(&self) -> JobContext {
        JobContext::new(
            Arc::clone(&self.payload),
            Arc::clone(&self.raw),
            self.job.attempts,
            self.job.queue.clone(),
            self.inner.queue.connection_name().to_owned(),
        )
    }

    fn max_tries(&self) -> i64 {
        self.payload.max_tries.unwrap_or(self.inner.options.tries)
    }

    /// Record the failure, then remove the job, then run the `failed` hook. If the record cannot be
    /// written the job stays reserved and comes back after `retry_after`, so it is never lost.
    async fn fail(&self, error: &JobError, resolved: Option<&Resolved>) {
        if let Some(store) = &self.inner.failed {
            let uuid = self
                .payload
                .uuid
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let mut exception = error.to_php_string();
            if let Some(bus) = &self.inner.bus {
                if let Some(note) = bus.failure_note(&self.inner.registry, &self.payload).await {
                    exception.push_str("\n\n");
                    exception.push_str(&note);
                }
            }
            let row = FailedJob {
                uuid: &uuid,
                connection: self.inner.queue.connection_name(),
                queue: &self.job.queue,
                payload: &self.job.original,
                exception: &exception,
            };
            match store.log(&row).await {
                Ok(recorded) => {
                    if self.inner.failed_store_trouble.cleared() {
                        tracing::warn!("failed_jobs can be written again");
                    }
                    if recorded == Recorded::AlreadyThere {
                        tracing::warn!(job_id = %self.id, %uuid, "failed_jobs already has a row with this uuid; the first row is kept (Laravel's unique index refuses a second)");
                    }
                }
                Err(e) => {
                    // Said once per interval: while the store is broken every failing job
                    // would say the same, and each comes back after retry_after to say it again.
                    if let Some(left_out) = self.inner.failed_store_trouble.occurred() {
                        tracing::error!(error = %e, job_id = %self.id, left_out, "cannot record the failed job; it stays reserved and will come back after retry_after (said at most every 10 s; left_out: how many times since the last line)");
                        if self.inner.options.output == Output::Laravel {
                            eprintln!(
                                "[{}][{}] cannot record the failed job: {e} (it stays reserved; {left_out} more since the last such line)",
                                timestamp(),
                                self.id
                            );
                        }
                    }
                    return;
                }
            }
        }
        if self.remove(false).await.is_none() {
            tracing::error!(job_id = %self.id, "cannot delete the failed job");
        }
        if let Some(bus) = &self.inner.bus {
            bus.after_failure(&self.inner.registry, &self.payload, resolved)
                .await;
        }
        if let Some(resolved) = resolved {
            let resolved = resolved.clone();
            let ctx = self.context();
            let err = JobError::with_class(error.class().to_owned(), error.message().to_owned());
            let hook = tokio::spawn(async move { resolved.failed(&ctx, &err).await });
            if let Err(e) = hook.await {
                tracing::error!(error = %e, job_id = %self.id, "the job's failed hook panicked");
            }
        }
        tracing::warn!(
            job_id = %self.id,
            exception = %printable(&error.to_string(), MESSAGE_LIMIT),
            "job failed"
        );
        self.outcome(Outcome::Failed);
        self.say("Failed");
    }

    /// The handler returned without releasing or failing the job: the bus's after-success steps
    /// (next chain link, batch, unique lock) run **before** the job is deleted; if they fail, that
    /// is the job's exception.
    async fn succeed(&self, resolved: &Resolved) {
        if let Some(bus) = &self.inner.bus {
            if let Err(e) = bus.after_success(&self.payload, resolved).await {
                return Box::pin(self.on_exception(e, None, resolved)).await;
            }
        }
        self.delete().await;
        self.outcome(Outcome::Processed);
        self.say("Processed");
    }

    async fn release(&self, delay: u64) {
        let queue = &self.inner.queue;
        match retry_while_disconnected(&self.inner.state, || queue.release(&self.job, delay)).await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %self.id, "release: the reservation had already expired")
            }
            Err(e) => tracing::error!(error = %e, job_id = %self.id, "cannot release the job"),
        }
        self.outcome(Outcome::Released);
    }

    /// Delete a job that has nothing left to do but report.
    async fn delete(&self) {
        match self.remove(true).await {
            Some(true) => {}
            Some(false) => {
                tracing::warn!(job_id = %self.id, "delete: the reservation had already expired; the job may run again")
            }
            None => tracing::error!(job_id = %self.id, "cannot delete the job"),
        }
    }

    /// Delete the job: on Redis through the loop's next reserve call (see [`Deletes`]), else
    /// directly. `done` says the job has nothing left to do but report, so its slot is free for
    /// the job that call reserves. `Some(still reserved)`, or `None` if it could not be deleted.
    async fn remove(&self, done: bool) -> Option<bool> {
        if let Some(deletes) = &self.inner.deletes {
            if done {
                self.slot.free();
            }
            let (tx, rx) = oneshot::channel();
            deletes.push(PendingDelete {
                job: Arc::clone(&self.job),
                done: tx,
            });
            return rx.await.ok().flatten();
        }
        let queue = &self.inner.queue;
        match retry_while_disconnected(&self.inner.state, || queue.delete(&self.job)).await {
            Ok(still_reserved) => Some(still_reserved),
            Err(e) => {
                tracing::error!(error = %e, job_id = %self.id, "cannot delete the job");
                None
            }
        }
    }

    /// `markJobAsFailedIfWillExceedMaxAttempts` + `...MaxExceptions`: whether the job must fail now.
    async fn will_exceed(&self) -> bool {
        let now = now() as i64;
        let mut fail = match self.payload.retry_until() {
            Some(until) => until <= now,
            None => {
                let max = self.max_tries();
                max > 0 && self.job.attempts >= max
            }
        };
        if let (Some(cache), Some(uuid), Some(max_exceptions)) = (
            self.inner.cache.as_ref().filter(|c| c.has_counters()),
            self.payload.uuid.as_deref(),
            self.payload.max_exceptions,
        ) {
            match cache.count_exception(uuid).await {
                Ok(count) if max_exceptions <= count => {
                    if let Err(e) = cache.forget(&format!("job-exceptions:{uuid}")).await {
                        tracing::warn!(error = %e, "cannot reset the exception counter");
                    }
                    fail = true;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot count the exception"),
            }
        }
        fail
    }

    /// `handleJobException`: fail if tries/retryUntil/maxExceptions say so, else release with backoff.
    async fn on_exception(&self, error: JobError, action: Option<Action>, resolved: &Resolved) {
        tracing::warn!(
            job_id = %self.id,
            exception = %printable(&error.to_string(), MESSAGE_LIMIT),
            attempts = self.job.attempts,
            "job raised an exception"
        );
        if let Some(Action::Fail(e)) = action {
            return self.fail(&e, Some(resolved)).await;
        }
        if error.is_permanent() || self.will_exceed().await {
            return self.fail(&error, Some(resolved)).await;
        }
        let delay = match action {
            Some(Action::Release(d)) => d,
            _ => self
                .payload
                .backoff_for(self.job.attempts)
                .unwrap_or_else(|| pick_backoff(&self.inner.options.backoff, self.job.attempts)),
        };
        if matches!(action, Some(Action::Delete)) {
            self.delete().await;
            self.outcome(Outcome::Processed);
        } else {
            self.release(delay).await;
        }
    }

    /// The timeout path of §4.7: fail if tries/maxExceptions/failOnTimeout say so; otherwise leave
    /// the job reserved so it returns after `retry_after`, as PHP's killed worker does.
    async fn on_timeout(&self, resolved: &Resolved) {
        let error = if self.inner.options.laravel_version >= 10 {
            JobError::with_class(exceptions::TIMEOUT, format!("{} has timed out.", self.name))
        } else {
            JobError::with_class(
                exceptions::MAX_ATTEMPTS,
                max_attempts_message(&self.name, 8),
            )
        };
        let exceed = self.will_exceed().await;
        if exceed || self.payload.fail_on_timeout == Some(true) {
            return self.fail(&error, Some(resolved)).await;
        }
        tracing::warn!(job_id = %self.id, "job timed out; it stays reserved until retry_after");
        self.outcome(Outcome::TimedOut);
        if self.inner.options.output == Output::Laravel {
            eprintln!(
                "[{}][{}] Timed out: {} (left reserved until retry_after)",
                timestamp(),
                self.id,
                self.name
            );
        }
    }
}

/// How long a finished job keeps trying to delete or release itself while Redis is unreachable
/// or the SQLite file stays locked.
/// Past it the job stays reserved and runs again after `retry_after` (at-least-once).
const SETTLE_RETRY_LIMIT: Duration = Duration::from_secs(30);

/// How long those retries go on once the worker was told to stop: a stop during an outage must
/// end the process in seconds (a supervisor's stop timeout is often 10 s), and a job whose delete
/// could not be sent only runs again after `retry_after`, as with any crash.
const SETTLE_RETRY_LIMIT_STOPPING: Duration = Duration::from_secs(2);

/// How often "cannot record the failed job" is said while the failed_jobs store stays broken.
const FAILED_STORE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Run a delete/release again, with backoff, while the error is a lost connection or SQLite's
/// "database is locked": a job that already ran should not run twice just because Redis blinked,
/// or another worker held the SQLite file, while it finished. Both operations are safe to repeat
/// (ZREM of exact bytes; a row is touched only while our reservation holds; a refused SQLite
/// statement wrote nothing). A stop request shortens the retrying to
/// [`SETTLE_RETRY_LIMIT_STOPPING`].
async fn retry_while_disconnected<T, F, Fut>(state: &State, mut op: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, QueueError>>,
{
    let started = Instant::now();
    let mut stop_seen: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        match op().await {
            Err(e) if e.is_connection_lost() || e.is_busy() => {
                if state.should_quit.load(Ordering::SeqCst) {
                    stop_seen.get_or_insert_with(Instant::now);
                }
                let over = started.elapsed() >= SETTLE_RETRY_LIMIT
                    || stop_seen.is_some_and(|at| at.elapsed() >= SETTLE_RETRY_LIMIT_STOPPING);
                if over {
                    return Err(e);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    // A stop request ends the wait, so the shorter limit starts at once.
                    _ = state.wake.notified(), if stop_seen.is_none() => {}
                }
                backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
            }
            result => return result,
        }
    }
}

fn max_attempts_message(name: &str, version: u8) -> String {
    if version >= 10 {
        format!("{name} has been attempted too many times.")
    } else {
        format!(
            "{name} has been attempted too many times or run too long. The job may have previously timed out."
        )
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned()),
        Err(e) => e.to_string(),
    }
}

/// Aborts a spawned handler when the job's own task is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Laravel's `Worker::process` for one reserved job.
async fn process(inner: Arc<Inner>, job: ReservedJob, slot: Slot) {
    let limit = inner.options.max_payload_bytes;
    let too_big = limit > 0 && job.original.len() as u64 > limit;
    let (payload, undecodable) = if too_big {
        let message = format!(
            "the payload is {} bytes, more than --max-payload-bytes {limit}; it was not decoded or run",
            job.original.len()
        );
        (Arc::new(Payload::default()), Some(message))
    } else {
        match Payload::from_slice(&job.original) {
            Ok(payload) => (Arc::new(payload), None),
            Err(e) => (Arc::new(Payload::default()), Some(e.to_string())),
        }
    };
    // Both are only ever shown (output lines, logs, metrics labels, exception messages), and
    // both come from whoever pushed the payload: escaped and cut once, here.
    let name = match payload.resolve_name() {
        "" => "(unknown job)".to_owned(),
        n => printable(n, FIELD_LIMIT).into_owned(),
    };
    // The database driver's job id is the row id (its payload has no `id`).
    let id = match job.row_id {
        Some(row) => row.to_string(),
        None => printable(payload.id.as_deref().unwrap_or_default(), FIELD_LIMIT).into_owned(),
    };
    let tracker = inner
        .metrics
        .as_ref()
        .map(|m| m.job_started(&name, &job.queue));
    let run = Run {
        tracker,
        raw: Arc::from(job.original.as_slice()),
        inner,
        slot,
        job: Arc::new(job),
        payload,
        name,
        id,
    };
    run.say("Processing");
    if let Some(e) = undecodable {
        let err = JobError::with_class(exceptions::UNDECODABLE, e);
        return run.fail(&err, None).await;
    }
    if run.job.reservation == Reservation::Invalid {
        let err = JobError::with_class(
            exceptions::UNDECODABLE,
            "the payload has no numeric top-level \"attempts\" (Laravel's pop script would have dropped it)",
        );
        return run.fail(&err, None).await;
    }
    // The crash-loop check: a job back from a crash or timeout past its tries fails unrun.
    let now = now() as i64;
    let may_run = match run.payload.retry_until() {
        Some(until) => now <= until,
        None => {
            let max = run.max_tries();
            max == 0 || run.job.attempts <= max
        }
    };
    let resolved = match run.inner.registry.resolve(&run.payload) {
        Ok(r) => r,
        Err(e) => {
            if let Some(bus) = &run.inner.bus {
                match bus
                    .hand_back(&run.inner.queue, &run.job, &run.payload)
                    .await
                {
                    HandedBack::Yes => {
                        run.outcome(Outcome::HandedBack);
                        return run.say("Handed back");
                    }
                    HandedBack::Exhausted(e) => return run.fail(&e, None).await,
                    HandedBack::No => {}
                }
            }
            return run.fail(&e, None).await;
        }
    };
    if !may_run {
        let err = JobError::with_class(
            exceptions::MAX_ATTEMPTS,
            max_attempts_message(&run.name, run.inner.options.laravel_version),
        );
        return run.fail(&err, Some(&resolved)).await;
    }
    let timeout = run
        .payload
        .timeout
        .map(|t| u64::try_from(t).unwrap_or(0))
        .unwrap_or(run.inner.options.timeout);
    if let Some(bus) = &run.inner.bus {
        if bus.before_run(&run.payload, &resolved).await == Before::Skip {
            return run.succeed(&resolved).await;
        }
    }
    let mut ctx = run.context();
    let task_resolved = resolved.clone();
    let armed = match &run.inner.watchdog {
        Some(dog) if timeout > 0 => Some(dog.arm(Duration::from_secs(timeout), &run.name, &run.id)),
        _ => None,
    };
    let mut task = tokio::spawn(async move {
        // Dropped with this future: when the handler returns, or when an abort reaches it.
        let _armed = armed;
        let result = task_resolved.run(&mut ctx).await;
        (result, ctx.action.take())
    });
    // If this job's task is aborted (a forced stop), the handler must stop with it.
    let _abort_handler = AbortOnDrop(task.abort_handle());
    let outcome = if timeout > 0 {
        match tokio::time::timeout(Duration::from_secs(timeout), &mut task).await {
            Ok(joined) => Some(joined),
            Err(_) => {
                task.abort();
                None
            }
        }
    } else {
        Some((&mut task).await)
    };
    match outcome {
        None => run.on_timeout(&resolved).await,
        Some(Err(join_error)) => {
            let err = JobError::with_class(
                exceptions::PANIC,
                format!("the handler panicked: {}", panic_message(join_error)),
            );
            run.on_exception(err, None, &resolved).await;
        }
        Some(Ok((Err(err), action))) => run.on_exception(err, action, &resolved).await,
        Some(Ok((Ok(()), action))) => match action {
            Some(Action::Fail(e)) => run.fail(&e, Some(&resolved)).await,
            Some(Action::Release(delay)) => {
                run.release(delay).await;
                run.say("Processed");
            }
            Some(Action::Delete) | None => run.succeed(&resolved).await,
        },
    }
}

#[cfg(test)]
mod tests {
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
