//! Operator metrics for a running worker: what Prometheus scrapes, what a supervisor's health probe
//! asks, and what the `larq work` progress line shows.
//!
//! A [`Metrics`] is attached to a worker with [`crate::worker::WorkerBuilder::metrics`]; a worker
//! without one pays nothing. With one, each job costs one read-locked map lookup (no allocation once
//! its class and queue were seen) and a few relaxed atomic adds; everything else (queue sizes, the
//! text format) is done when someone asks, at scrape time.
//!
//! ```no_run
//! # async fn demo(queue: larq::queue::RedisQueue, registry: larq::Registry) {
//! use larq::metrics::Metrics;
//! let metrics = Metrics::new();
//! let worker = larq::Worker::builder(queue, registry).metrics(metrics.clone()).build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await.unwrap();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(larq::metrics::http::serve(listener, metrics, async {
//!     let _ = stopped.await;
//! }));
//! let reason = worker.run().await;
//! let _ = stop.send(());
//! let _ = server.await;
//! # }
//! ```
//!
//! Every metric name, type and label is listed in `docs/operations.md` (Metrics and health).

pub mod http;
pub mod text;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::queue::{Queue, QueueError, QueueSizes};
use text::Kind;

/// Upper bounds (seconds) of the job duration histogram's buckets, 1 ms to 60 s (`--timeout`'s
/// default); longer jobs land in `+Inf`.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Most `(class, queue)` label sets kept. Class names come from payloads, which anyone who can
/// push to the queue writes; past this many, new classes are counted under [`OTHER_CLASS`] so a
/// flood of made-up names cannot grow memory or the scrape without bound.
pub const MAX_SERIES: usize = 1000;

/// The class label of jobs counted after [`MAX_SERIES`] was reached.
pub const OTHER_CLASS: &str = "(other)";

/// How long a scrape or a health probe waits for the queue backend's sizes.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a size read is reused: however often `/metrics`, `/health` and the progress line ask,
/// the backend sees at most one size read (one round trip per queue) per this period. It matters
/// most for the `database` connection, whose pool the worker needs for its own queries.
pub const SIZES_REUSE: Duration = Duration::from_secs(1);

/// The least time the last contact with the queue backend stays fresh for `/health`.
pub const MIN_HEALTH_WINDOW: Duration = Duration::from_secs(10);

/// How a job's run ended; each run counts in exactly one (the first one reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Left the queue without failing: the handler returned (or deleted the job).
    Processed,
    /// Recorded in failed_jobs (or dropped with the `null` failed driver) and deleted.
    Failed,
    /// Put back with a delay for another attempt (an exception with tries left, or the handler's
    /// own release).
    Released,
    /// A PHP-only job given back untouched for PHP workers (`--hand-back`).
    HandedBack,
    /// Ran past its timeout and was left reserved; it comes back after `retry_after`.
    TimedOut,
}

const OUTCOMES: [(Outcome, &str, &str); 5] = [
    (
        Outcome::Processed,
        "larq_jobs_processed_total",
        "Jobs that left the queue without failing (the handler returned or deleted the job).",
    ),
    (
        Outcome::Failed,
        "larq_jobs_failed_total",
        "Jobs that failed (recorded in failed_jobs and deleted).",
    ),
    (
        Outcome::Released,
        "larq_jobs_released_total",
        "Job runs that ended with the job released back onto its queue for another attempt.",
    ),
    (
        Outcome::HandedBack,
        "larq_jobs_handed_back_total",
        "PHP-only jobs handed back untouched for PHP workers (--hand-back).",
    ),
    (
        Outcome::TimedOut,
        "larq_jobs_timed_out_total",
        "Job runs that passed their timeout and were left reserved until retry_after.",
    ),
];

/// The `policy` label values of `larq_middleware_unapplied_total`.
pub const UNAPPLIED_POLICIES: [&str; 3] = ["fail", "hand_back", "run_without"];

/// Counters and duration histogram of one `(class, queue)` label set.
#[derive(Debug, Default)]
struct Series {
    outcomes: [AtomicU64; 5],
    /// Per bucket, not cumulative; the last is `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Series {
    fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

/// Series by queue, then class: two `&str` lookups, so the hot path never builds a key.
#[derive(Debug, Default)]
struct SeriesMap {
    by_queue: HashMap<Box<str>, HashMap<Box<str>, Arc<Series>>>,
    len: usize,
}

impl SeriesMap {
    fn get(&self, class: &str, queue: &str) -> Option<&Arc<Series>> {
        self.by_queue.get(queue)?.get(class)
    }
}

/// What the worker tells the metrics about itself when it is built.
#[derive(Debug)]
struct Bound {
    queue: Arc<Queue>,
    queues: Vec<String>,
    concurrency: usize,
    health_window: Duration,
}

/// Sizes of each worked queue, in priority order.
type SizesByQueue = Vec<(String, QueueSizes)>;

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;

/// A worker's counters, shared between the worker (which counts) and whoever reads them (the
/// HTTP endpoint, the progress line). One `Metrics` belongs to one worker.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    start_time: SystemTime,
    series: RwLock<SeriesMap>,
    in_flight: AtomicI64,
    /// Jobs whose middleware larq could not apply, by what the policy did (see
    /// [`UNAPPLIED_POLICIES`]).
    unapplied_middleware: [AtomicU64; 3],
    state: AtomicU8,
    /// Milliseconds since `started` of the last successful contact with the backend, plus one
    /// (0: never).
    last_contact: AtomicU64,
    worker: OnceLock<Bound>,
    /// The last successful size read and when it finished; readers queue on the lock, so only one
    /// read runs at a time.
    sizes: tokio::sync::Mutex<Option<(Instant, SizesByQueue)>>,
}

/// Why the queue sizes could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// No worker was built with these metrics yet, so there is no queue to ask.
    #[error("no worker is attached to these metrics")]
    Unbound,
    /// The backend did not answer in time.
    #[error("the queue backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend answered with an error.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Totals over every class and queue, for a one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// [`Outcome::Processed`] runs.
    pub processed: u64,
    /// [`Outcome::Failed`] runs.
    pub failed: u64,
    /// [`Outcome::Released`] runs.
    pub released: u64,
    /// [`Outcome::HandedBack`] runs.
    pub handed_back: u64,
    /// [`Outcome::TimedOut`] runs.
    pub timed_out: u64,
    /// Jobs running now.
    pub in_flight: u64,
}

impl Totals {
    /// Runs that ended, whatever the outcome (what a jobs-per-second rate counts).
    pub fn finished(&self) -> u64 {
        self.processed + self.failed + self.released + self.handed_back + self.timed_out
    }
}

/// The answer to a health probe: `ok` decides 200 or 503, `body` is a small JSON object saying why.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Healthy: the worker loop runs and the queue backend answered recently.
    pub ok: bool,
    /// `{"status":"ok"|"unavailable","state":...,"reason":...,...}`.
    pub body: String,
}

impl Metrics {
    /// Empty metrics, to attach to a worker with [`crate::worker::WorkerBuilder::metrics`].
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics {
            started: Instant::now(),
            start_time: SystemTime::now(),
            series: RwLock::default(),
            in_flight: AtomicI64::new(0),
            unapplied_middleware: Default::default(),
            state: AtomicU8::new(IDLE),
            last_contact: AtomicU64::new(0),
            worker: OnceLock::new(),
            sizes: tokio::sync::Mutex::new(None),
        })
    }

    /// Learn what the worker works: its queue connection, queue names, `--concurrency` and
    /// `--sleep` (its builder calls this; a second worker is ignored). The metrics take these
    /// values rather than the worker's options so that they stay below the worker.
    pub(crate) fn bind(
        &self,
        queue: Arc<Queue>,
        queues: Vec<String>,
        concurrency: usize,
        sleep: Duration,
    ) {
        let idle_wait = sleep.max(Duration::from_secs(queue.block_for().unwrap_or(0)));
        let _ = self.worker.set(Bound {
            queue,
            queues,
            concurrency,
            health_window: (idle_wait * 2).max(MIN_HEALTH_WINDOW),
        });
    }

    /// The worker loop started.
    pub(crate) fn set_running(&self) {
        self.state.store(RUNNING, Relaxed);
    }

    /// The worker loop is stopping (draining its jobs in flight, or done).
    pub(crate) fn set_stopping(&self) {
        self.state.store(STOPPING, Relaxed);
    }

    /// The queue backend just answered.
    pub(crate) fn contact(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_contact.store(ms + 1, Relaxed);
    }

    /// Time since the queue backend last answered; `None` if it never did.
    pub fn since_contact(&self) -> Option<Duration> {
        match self.last_contact.load(Relaxed) {
            0 => None,
            ms => Some(
                self.started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }

    /// A job was reserved and starts; the tracker counts its outcome and duration once, and takes
    /// it out of the in-flight gauge when dropped (however the run ends, even aborted). The worker
    /// calls it for every job; it is public for code that runs jobs outside [`crate::Worker`] and
    /// for the benches. No allocation once `(class, queue)` was seen.
    pub fn job_started(self: &Arc<Self>, class: &str, queue: &str) -> JobTracker {
        self.in_flight.fetch_add(1, Relaxed);
        JobTracker {
            series: self.series(class, queue),
            metrics: Arc::clone(self),
            started: Instant::now(),
            done: AtomicBool::new(false),
        }
    }

    fn series(&self, class: &str, queue: &str) -> Arc<Series> {
        let read = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = read.get(class, queue) {
            return Arc::clone(s);
        }
        drop(read);
        let mut map = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let class = if map.len >= MAX_SERIES && map.get(class, queue).is_none() {
            OTHER_CLASS
        } else {
            class
        };
        if let Some(s) = map.get(class, queue) {
            return Arc::clone(s);
        }
        map.len += 1;
        let series = Arc::new(Series::default());
        map.by_queue
            .entry(queue.into())
            .or_default()
            .insert(class.into(), Arc::clone(&series));
        series
    }

    /// Every series, sorted by queue then class (stable scrape output).
    fn all_series(&self) -> Vec<(String, String, Arc<Series>)> {
        let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = map
            .by_queue
            .iter()
            .flat_map(|(queue, classes)| {
                classes.iter().map(move |(class, series)| {
                    (queue.to_string(), class.to_string(), Arc::clone(series))
                })
            })
            .collect();
        drop(map);
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    /// A job met middleware larq cannot apply, and its policy did `policy` (one of
    /// [`UNAPPLIED_POLICIES`]; anything else is not counted).
    pub fn middleware_unapplied(&self, policy: &str, n: u64) {
        if let Some(at) = UNAPPLIED_POLICIES.iter().position(|p| *p == policy) {
            self.unapplied_middleware[at].fetch_add(n, Relaxed);
        }
    }

    /// Totals over every label set, and the jobs in flight.
    pub fn totals(&self) -> Totals {
        let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut t = Totals {
            in_flight: u64::try_from(self.in_flight.load(Relaxed)).unwrap_or(0),
            ..Totals::default()
        };
        for series in map.by_queue.values().flat_map(HashMap::values) {
            let n = |o: Outcome| series.outcomes[o as usize].load(Relaxed);
            t.processed += n(Outcome::Processed);
            t.failed += n(Outcome::Failed);
            t.released += n(Outcome::Released);
            t.handed_back += n(Outcome::HandedBack);
            t.timed_out += n(Outcome::TimedOut);
        }
        t
    }

    /// `--concurrency` of the attached worker (0 before one is built).
    pub fn concurrency(&self) -> usize {
        self.worker.get().map_or(0, |b| b.concurrency)
    }

    /// Whether the worker loop is running and not stopping.
    pub fn is_running(&self) -> bool {
        self.state.load(Relaxed) == RUNNING
    }

    /// Ready, delayed and reserved jobs of each queue the worker works: read now (one round trip
    /// per queue), or the last read when it is less than [`SIZES_REUSE`] old. Waiting for another
    /// caller's read and reading both count against `limit`. A successful read counts as contact
    /// with the backend.
    pub async fn queue_sizes(
        &self,
        limit: Duration,
    ) -> Result<Vec<(String, QueueSizes)>, MetricsError> {
        let bound = self.worker.get().ok_or(MetricsError::Unbound)?;
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = tokio::time::timeout_at(deadline, self.sizes.lock())
            .await
            .map_err(|_| MetricsError::Timeout(limit))?;
        if let Some((at, sizes)) = last.as_ref() {
            if at.elapsed() < SIZES_REUSE {
                return Ok(sizes.clone());
            }
        }
        let read = async {
            let mut sizes = Vec::with_capacity(bound.queues.len());
            for name in &bound.queues {
                sizes.push((name.clone(), bound.queue.sizes(name).await?));
            }
            Ok::<_, QueueError>(sizes)
        };
        let sizes = tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| MetricsError::Timeout(limit))??;
        self.contact();
        *last = Some((Instant::now(), sizes.clone()));
        Ok(sizes)
    }

    /// The health verdict: ok when the worker loop runs (not starting, not stopping) and the queue
    /// backend answered within the health window, `max(2 × max(--sleep, block_for), 10 s)`. When
    /// the last answer is older (the loop may be busy with long jobs), the backend is asked once
    /// (a size read, [`BACKEND_TIMEOUT`]) and its answer decides.
    pub async fn health(&self) -> Health {
        let state = match self.state.load(Relaxed) {
            IDLE => "starting",
            RUNNING => "running",
            _ => "stopping",
        };
        let mut reason = None;
        if state != "running" {
            reason = Some(format!("the worker is {state}"));
        } else if let Some(bound) = self.worker.get() {
            let fresh = self
                .since_contact()
                .is_some_and(|age| age <= bound.health_window);
            if !fresh {
                if let Err(e) = self.queue_sizes(BACKEND_TIMEOUT).await {
                    tracing::debug!(error = %e, "health: the queue backend did not answer");
                    reason = Some(format!("the queue backend did not answer: {e}"));
                }
            }
        } else {
            reason = Some("no worker is attached".to_owned());
        }
        let mut body = serde_json::json!({
            "status": if reason.is_none() { "ok" } else { "unavailable" },
            "state": state,
            "in_flight": self.in_flight.load(Relaxed).max(0),
            "last_contact_seconds": self.since_contact().map(|d| d.as_secs_f64()),
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
        });
        if let (Some(reason), Some(map)) = (&reason, body.as_object_mut()) {
            map.insert("reason".to_owned(), reason.as_str().into());
        }
        Health {
            ok: reason.is_none(),
            body: body.to_string(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, reading the queue sizes now.
    pub async fn render(&self) -> String {
        let sizes = self.queue_sizes(BACKEND_TIMEOUT).await;
        if let Err(e) = &sizes {
            tracing::debug!(error = %e, "metrics: cannot read the queue sizes");
        }
        self.render_with(sizes.ok().as_deref())
    }

    fn render_with(&self, sizes: Option<&[(String, QueueSizes)]>) -> String {
        use text::{family, histogram, sample_f64, sample_u64};
        let mut out = String::with_capacity(4096);
        let bound = self.worker.get();

        family(
            &mut out,
            "larq_worker_info",
            Kind::Gauge,
            "The worker: larq version, queue connection and queues in priority order (always 1).",
        );
        let connection = bound.map_or("", |b| b.queue.connection_name());
        let queues = bound.map(|b| b.queues.join(",")).unwrap_or_default();
        sample_u64(
            &mut out,
            "larq_worker_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("connection", connection),
                ("queues", &queues),
            ],
            1,
        );
        family(
            &mut out,
            "larq_worker_running",
            Kind::Gauge,
            "1 while the worker loop runs; 0 before it starts and once it is stopping.",
        );
        sample_u64(
            &mut out,
            "larq_worker_running",
            &[],
            u64::from(self.is_running()),
        );
        family(
            &mut out,
            "larq_worker_uptime_seconds",
            Kind::Gauge,
            "Seconds since the worker process set up its metrics.",
        );
        sample_f64(
            &mut out,
            "larq_worker_uptime_seconds",
            &[],
            self.started.elapsed().as_secs_f64(),
        );
        family(
            &mut out,
            "larq_worker_concurrency",
            Kind::Gauge,
            "Jobs the worker runs at once at most (--concurrency).",
        );
        sample_u64(
            &mut out,
            "larq_worker_concurrency",
            &[],
            self.concurrency() as u64,
        );
        family(
            &mut out,
            "larq_jobs_in_flight",
            Kind::Gauge,
            "Jobs running now.",
        );
        sample_u64(
            &mut out,
            "larq_jobs_in_flight",
            &[],
            u64::try_from(self.in_flight.load(Relaxed)).unwrap_or(0),
        );
        family(
            &mut out,
            "larq_middleware_unapplied_total",
            Kind::Counter,
            "Job middleware larq could not apply (unknown class, unregistered limiter, store without locks), by what the policy did.",
        );
        for (policy, n) in UNAPPLIED_POLICIES.iter().zip(&self.unapplied_middleware) {
            sample_u64(
                &mut out,
                "larq_middleware_unapplied_total",
                &[("policy", policy)],
                n.load(Relaxed),
            );
        }
        family(&mut out, "larq_queue_backend_up", Kind::Gauge, "1 if the queue backend answered this scrape's size reads in time, else 0 (and no larq_queue_jobs samples).");
        sample_u64(
            &mut out,
            "larq_queue_backend_up",
            &[],
            u64::from(sizes.is_some()),
        );
        family(&mut out, "larq_queue_last_contact_seconds", Kind::Gauge, "Seconds since the queue backend last answered the worker or a scrape (absent before the first answer).");
        if let Some(age) = self.since_contact() {
            sample_f64(
                &mut out,
                "larq_queue_last_contact_seconds",
                &[],
                age.as_secs_f64(),
            );
        }
        family(&mut out, "larq_queue_jobs", Kind::Gauge, "Jobs in each worked queue, read at scrape time: ready (waiting), delayed (not due yet), reserved (held by a worker).");
        for (queue, s) in sizes.unwrap_or_default() {
            for (state, n) in [
                ("ready", s.ready),
                ("delayed", s.delayed),
                ("reserved", s.reserved),
            ] {
                sample_u64(
                    &mut out,
                    "larq_queue_jobs",
                    &[("queue", queue.as_str()), ("state", state)],
                    n,
                );
            }
        }

        let all = self.all_series();
        for (outcome, name, help) in OUTCOMES {
            family(&mut out, name, Kind::Counter, help);
            for (queue, class, series) in &all {
                sample_u64(
                    &mut out,
                    name,
                    &[("class", class.as_str()), ("queue", queue.as_str())],
                    series.outcomes[outcome as usize].load(Relaxed),
                );
            }
        }
        family(
            &mut out,
            "larq_job_duration_seconds",
            Kind::Histogram,
            "Seconds from a job's reservation to its outcome (any outcome), by class and queue.",
        );
        for (queue, class, series) in &all {
            let counts: Vec<u64> = series.buckets.iter().map(|b| b.load(Relaxed)).collect();
            let sum = series.sum_nanos.load(Relaxed) as f64 / 1e9;
            histogram(
                &mut out,
                "larq_job_duration_seconds",
                &[("class", class.as_str()), ("queue", queue.as_str())],
                &DURATION_BUCKETS,
                &counts,
                sum,
            );
        }

        family(
            &mut out,
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since the unix epoch, in seconds.",
        );
        let start = self
            .start_time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        sample_f64(
            &mut out,
            "process_start_time_seconds",
            &[],
            start.as_secs_f64(),
        );
        if let Some(rss) = resident_bytes() {
            family(
                &mut out,
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory size in bytes.",
            );
            sample_u64(&mut out, "process_resident_memory_bytes", &[], rss);
        }
        out
    }
}

/// Resident set size from `/proc/self/statm` (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// One job's run, as the metrics see it: counted in flight from its creation to its drop, and in
/// the first outcome reported for it.
#[derive(Debug)]
pub struct JobTracker {
    metrics: Arc<Metrics>,
    series: Arc<Series>,
    started: Instant,
    done: AtomicBool,
}

impl JobTracker {
    /// Count the run's outcome and duration; later calls for the same run are ignored (a handler
    /// that releases its job is "Released" even though Laravel then prints "Processed").
    pub fn finish(&self, outcome: Outcome) {
        if !self.done.swap(true, Relaxed) {
            self.series.record(outcome, self.started.elapsed());
        }
    }
}

impl Drop for JobTracker {
    fn drop(&mut self) {
        self.metrics.in_flight.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outcome_wins_and_in_flight_follows_the_tracker() {
        let m = Metrics::new();
        let t = m.job_started("App\\Jobs\\A", "default");
        assert_eq!(m.totals().in_flight, 1);
        t.finish(Outcome::Released);
        t.finish(Outcome::Processed);
        drop(t);
        let totals = m.totals();
        assert_eq!(totals.in_flight, 0);
        assert_eq!(totals.released, 1);
        assert_eq!(totals.processed, 0);
        assert_eq!(totals.finished(), 1);
        // Dropped without an outcome (aborted): only leaves the in-flight gauge.
        drop(m.job_started("App\\Jobs\\A", "default"));
        assert_eq!(m.totals(), totals);
    }

    #[test]
    fn label_sets_are_capped() {
        let m = Metrics::new();
        for i in 0..MAX_SERIES + 5 {
            m.job_started(&format!("C{i}"), "q").finish(Outcome::Failed);
        }
        m.job_started("C0", "q").finish(Outcome::Failed);
        let all = m.all_series();
        assert_eq!(all.len(), MAX_SERIES + 1);
        let other = all.iter().find(|(_, c, _)| c == OTHER_CLASS).unwrap();
        assert_eq!(other.2.outcomes[Outcome::Failed as usize].load(Relaxed), 5);
        assert_eq!(m.totals().failed, MAX_SERIES as u64 + 6);
    }

    #[test]
    fn durations_land_in_their_bucket() {
        let s = Series::default();
        s.record(Outcome::Processed, Duration::from_micros(500));
        s.record(Outcome::Processed, Duration::from_millis(1));
        s.record(Outcome::Processed, Duration::from_millis(70));
        s.record(Outcome::Processed, Duration::from_secs(61));
        let counts: Vec<u64> = s.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts[0], 2, "≤ 1 ms");
        assert_eq!(counts[6], 1, "≤ 100 ms");
        assert_eq!(counts[DURATION_BUCKETS.len()], 1, "+Inf");
        assert_eq!(counts.iter().sum::<u64>(), 4);
    }

    #[test]
    fn rendering_escapes_labels_and_lists_every_family() {
        let m = Metrics::new();
        m.job_started("App\\Jobs\\\"Quoted\"", "de\nfault")
            .finish(Outcome::Processed);
        let sizes = [(
            "default".to_owned(),
            QueueSizes {
                ready: 3,
                delayed: 2,
                reserved: 1,
            },
        )];
        let out = m.render_with(Some(&sizes));
        assert!(out.contains(
            "larq_jobs_processed_total{class=\"App\\\\Jobs\\\\\\\"Quoted\\\"\",queue=\"de\\nfault\"} 1\n"
        ), "{out}");
        assert!(out.contains("larq_queue_jobs{queue=\"default\",state=\"delayed\"} 2\n"));
        assert!(out.contains("larq_queue_backend_up 1\n"));
        assert!(out.contains("larq_job_duration_seconds_count{class=\"App\\\\Jobs\\\\\\\"Quoted\\\"\",queue=\"de\\nfault\"} 1\n"));
        for (_, name, _) in OUTCOMES {
            assert_eq!(out.matches(&format!("# TYPE {name} counter\n")).count(), 1);
        }
        assert!(out.ends_with('\n'));
        let down = m.render_with(None);
        assert!(down.contains("larq_queue_backend_up 0\n"));
        assert!(!down.contains("larq_queue_jobs{"));
    }

    #[tokio::test]
    async fn health_needs_a_running_bound_worker() {
        let m = Metrics::new();
        let h = m.health().await;
        assert!(!h.ok);
        assert!(h.body.contains("\"state\":\"starting\""), "{}", h.body);
        m.set_running();
        let h = m.health().await;
        assert!(!h.ok, "no worker attached");
        m.set_stopping();
        assert!(!m.health().await.ok);
        assert!(m.since_contact().is_none());
        m.contact();
        assert!(m
            .since_contact()
            .is_some_and(|d| d < Duration::from_secs(1)));
    }
}
