//! The worker against a private redis-server and an SQLite failed_jobs table: exactly-once
//! processing, retries with backoff, maxExceptions, retryUntil, timeouts, crash recovery after
//! `kill -9`, delays, the restart signal, SIGTERM draining, and the real Laravel app (dispatch,
//! `queue:retry`, `queue:restart`).
//!
//! Jobs are `Tests\Probe` objects whose `mode` says what the handler does; every run is recorded
//! (in memory, or in a JSON-lines file for child processes) with its attempt number and time.

use crate::support::laravel::{self, laravel_tests};
use crate::support::probe as probe_support;
use crate::support::redis_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larq::cache::CacheStore;
use larq::failed::FailedJobStore;
use larq::payload::Payload;
use larq::queue::{RedisQueue, RedisQueueOptions};
use larq::worker::{StopReason, Worker, WorkerOptions};
use probe_support::{
    assert_shared_each_once, child_retry_after, now_f, options, php_record_uuids, probe, records,
    registry, run_child_worker, run_until, uuids_of_lines, wait_for,
};
use redis::Commands;
use redis_server::TestRedis;

const Q: &str = "laravel_database_queues:default";
const CACHE_PREFIX: &str = "laravel_database_laravel_cache:";

struct Env {
    server: TestRedis,
    dir: tempfile::TempDir,
    /// The Laravel version of the app's PHP side: its key prefixes, larq's `laravel_version`.
    major: u8,
}

impl Env {
    fn start() -> Option<Env> {
        Some(Env {
            server: TestRedis::start()?,
            dir: tempfile::tempdir().unwrap(),
            major: 8,
        })
    }

    /// An env for the app on Laravel `major`; `None` when it (or Redis) is missing outside CI.
    fn start_version(major: u8) -> Option<Env> {
        if !laravel::version_available(major) {
            return None;
        }
        let mut env = Env::start()?;
        env.major = major;
        Some(env)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("app.sqlite")
    }

    fn tag(&self, name: &str) -> String {
        format!("{name}-{}", self.server.port)
    }

    /// A record tag for a child-process worker: its runs go to a JSON-lines file in the test's
    /// directory (`records` reads them back).
    fn file_tag(&self) -> String {
        format!("file:{}", self.dir.path().join("records.jsonl").display())
    }

    async fn queue(&self, retry_after: u64) -> RedisQueue {
        RedisQueue::connect(
            &self.server.url(0),
            RedisQueueOptions {
                retry_after,
                prefix: laravel::redis_prefix(self.major).to_owned(),
                ..RedisQueueOptions::default()
            },
        )
        .await
        .unwrap()
    }

    async fn store(&self) -> FailedJobStore {
        let store = FailedJobStore::sqlite(&self.db()).await.unwrap();
        store.ensure_table().await.unwrap();
        store
    }

    async fn worker(&self, retry_after: u64, options: WorkerOptions) -> Worker {
        let cache = CacheStore::connect(&self.server.url(1), laravel::cache_prefix(self.major))
            .await
            .unwrap();
        Worker::builder(self.queue(retry_after).await, registry())
            .failed_store(self.store().await)
            .cache(cache)
            .options(options)
            .build()
    }

    /// The tests' worker options with this env's Laravel version.
    fn options(&self) -> WorkerOptions {
        WorkerOptions {
            laravel_version: self.major,
            ..options()
        }
    }

    fn assert_queue_empty(&self) {
        self.assert_named_queue_empty(&format!(
            "{}queues:default",
            laravel::redis_prefix(self.major)
        ));
    }

    /// Nothing ready, delayed, reserved or waiting to notify under the queue's key.
    fn assert_named_queue_empty(&self, key: &str) {
        let mut c = self.server.conn(0);
        for suffix in ["", ":delayed", ":reserved", ":notify"] {
            let key = format!("{key}{suffix}");
            assert!(!c.exists::<_, bool>(&key).unwrap(), "{key} is not empty");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_jobs_concurrently_exactly_once() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("thousand");
    let q = env.queue(90).await;
    for n in 0..1000 {
        q.push("default", probe(&tag, n, "ok", 0.0, |_| {}).as_bytes())
            .await
            .unwrap();
    }
    let mut opts = options();
    opts.concurrency = 8;
    let reason = env.worker(90, opts).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    let done = records(&tag);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for r in done.iter().filter(|r| r.event == "done") {
        *counts.entry(r.n).or_default() += 1;
        assert_eq!(r.attempts, 1);
    }
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&c| c == 1));
    env.assert_queue_empty();
    assert!(env.store().await.all().await.unwrap().is_empty());
}

/// Deletes of finished jobs ride on the loop's next reserve call, per queue: with two queues,
/// jobs of both finishing at once, and failures mixed in (their delete comes after the
/// failed_jobs row), every job runs once and both queues end empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_queues_deletes_ride_on_reserves_exactly_once() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("twoq");
    let q = env.queue(90).await;
    for n in 0..300 {
        let (queue, mode, secs) = match n % 10 {
            0 => ("high", "fail", 0.0),
            1..=3 => ("high", "sleep", 0.005),
            _ => ("default", "sleep", 0.002),
        };
        q.push(queue, probe(&tag, n, mode, secs, |_| {}).as_bytes())
            .await
            .unwrap();
    }
    let mut opts = options();
    opts.concurrency = 6;
    opts.queues = vec!["high".to_owned(), "default".to_owned()];
    let reason = env.worker(90, opts).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for r in records(&tag).iter().filter(|r| r.event == "start") {
        *counts.entry(r.n).or_default() += 1;
    }
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|&c| c == 1), "a job ran twice");
    assert_eq!(env.store().await.all().await.unwrap().len(), 30);
    env.assert_queue_empty();
    env.assert_named_queue_empty("laravel_database_queues:high");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_is_retried_with_payload_backoff_then_failed() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("failing");
    let payload = probe(&tag, 7, "fail", 0.0, |p| {
        p.max_tries = Some(3);
        p.backoff = Some("1,2".to_owned());
    });
    let uuid = Payload::from_slice(payload.as_bytes())
        .unwrap()
        .uuid
        .unwrap();
    env.queue(90)
        .await
        .push("default", payload.as_bytes())
        .await
        .unwrap();
    let store = env.store().await;
    let mut opts = options();
    opts.stop_when_empty = false;
    let worker = env.worker(90, opts).await;
    run_until(worker, Duration::from_secs(15), || records(&tag).len() >= 3).await;
    let runs = records(&tag);
    assert_eq!(
        runs.iter().map(|r| r.attempts).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // Released with 1 s then 2 s: never earlier than due (scores are whole seconds).
    assert!(runs[1].at.floor() >= runs[0].at.floor() + 1.0, "{runs:?}");
    assert!(runs[2].at.floor() >= runs[1].at.floor() + 2.0, "{runs:?}");
    let rows = store.all().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].uuid, uuid);
    assert_eq!(rows[0].connection, "redis");
    assert_eq!(rows[0].queue, "default");
    assert!(
        rows[0]
            .exception
            .starts_with("RuntimeException: boom 7 in "),
        "{}",
        rows[0].exception
    );
    // The raw body as popped for the last attempt: its attempts is one lower.
    assert_eq!(
        Payload::from_slice(rows[0].payload.as_bytes())
            .unwrap()
            .attempts,
        Some(2)
    );
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_undecodable_and_unknown_jobs_fail_and_the_worker_goes_on() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("mixed");
    let q = env.queue(90).await;
    q.push("default", probe(&tag, 1, "panic", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    let bad = probe(&tag, 2, "ok", 0.0, |p| {
        p.data.command = Some(r#"O:11:"Tests\Probe":1:{s:1:"n";s:3:"two";}"#.to_owned());
    });
    q.push("default", bad.as_bytes()).await.unwrap();
    let unknown = probe(&tag, 3, "ok", 0.0, |p| {
        p.data.command_name = Some("App\\Jobs\\Nobody".to_owned());
    });
    q.push("default", unknown.as_bytes()).await.unwrap();
    q.push("default", br#"{"no":"attempts"}"#).await.unwrap();
    q.push("default", probe(&tag, 5, "ok", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    let reason = env.worker(90, options()).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    let rows = env.store().await.all().await.unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[0]
        .exception
        .starts_with("Larq\\Queue\\HandlerPanicked: the handler panicked: kaboom 1"));
    assert!(
        rows[1].exception.contains("Tests\\Probe.n") && rows[1].exception.contains("at byte"),
        "{}",
        rows[1].exception
    );
    assert!(rows[2]
        .exception
        .contains("no handler is registered for App\\Jobs\\Nobody"));
    assert!(rows[3].exception.contains("attempts"));
    assert_eq!(rows[3].payload, r#"{"no":"attempts"}"#);
    assert!(records(&tag).iter().any(|r| r.n == 5 && r.event == "done"));
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_exceptions_fails_before_tries_run_out() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("maxexc");
    let payload = probe(&tag, 1, "fail", 0.0, |p| {
        p.max_tries = Some(10);
        p.max_exceptions = Some(2);
    });
    let uuid = Payload::from_slice(payload.as_bytes())
        .unwrap()
        .uuid
        .unwrap();
    env.queue(90)
        .await
        .push("default", payload.as_bytes())
        .await
        .unwrap();
    let mut opts = options();
    opts.stop_when_empty = false;
    let worker = env.worker(90, opts).await;
    let store = env.store().await;
    run_until(worker, Duration::from_secs(10), || records(&tag).len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(records(&tag).len(), 2);
    assert_eq!(store.all().await.unwrap().len(), 1);
    let key = format!("{CACHE_PREFIX}job-exceptions:{uuid}");
    assert!(!env.server.conn(1).exists::<_, bool>(&key).unwrap());
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_until_overrides_tries() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("until");
    let until = now_f() as i64 + 4;
    let q = env.queue(90).await;
    q.push(
        "default",
        probe(&tag, 1, "fail", 0.0, |p| {
            p.max_tries = Some(1);
            p.retry_until = Some(until);
            p.backoff = Some("1".to_owned());
        })
        .as_bytes(),
    )
    .await
    .unwrap();
    // Already past its retryUntil: failed without running.
    q.push(
        "default",
        probe(&tag, 2, "ok", 0.0, |p| p.retry_until = Some(until - 100)).as_bytes(),
    )
    .await
    .unwrap();
    let mut opts = options();
    opts.stop_when_empty = false;
    let store = env.store().await;
    let worker = env.worker(90, opts).await;
    let mut conn = env.server.conn(0);
    // Empty for several polls in a row: a single look can fall between two steps of a retry.
    let mut empty_polls = 0;
    let queue_empty = move || {
        let empty = ["", ":delayed", ":reserved"]
            .iter()
            .all(|s| !conn.exists::<_, bool>(format!("{Q}{s}")).unwrap());
        empty_polls = if empty { empty_polls + 1 } else { 0 };
        empty_polls >= 4
    };
    run_until(worker, Duration::from_secs(30), queue_empty).await;
    let runs = records(&tag);
    assert!(
        runs.iter().all(|r| r.n == 1),
        "job 2 must not run: {runs:?}"
    );
    assert!(
        runs.len() >= 2,
        "tries=1 ignored while before retryUntil: {runs:?}"
    );
    assert!(runs.last().unwrap().at as i64 >= until - 2, "{runs:?}");
    let rows = store.all().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().any(|r| r.exception.starts_with(
        "Illuminate\\Queue\\MaxAttemptsExceededException: Tests\\Probe has been attempted too many times"
    )));
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_fail_on_timeout_or_come_back_after_retry_after() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("timeout");
    let q = env.queue(2).await;
    q.push(
        "default",
        probe(&tag, 1, "sleep", 5.0, |p| {
            p.timeout = Some(1);
            p.fail_on_timeout = Some(true);
            p.max_tries = Some(5);
        })
        .as_bytes(),
    )
    .await
    .unwrap();
    q.push(
        "default",
        probe(&tag, 2, "sleep_first", 5.0, |p| {
            p.timeout = Some(1);
            p.max_tries = Some(3);
        })
        .as_bytes(),
    )
    .await
    .unwrap();
    let store = env.store().await;
    let mut opts = options();
    opts.stop_when_empty = false;
    let worker = env.worker(2, opts).await;
    let started = Instant::now();
    run_until(worker, Duration::from_secs(15), || {
        records(&tag).iter().any(|r| r.n == 2 && r.event == "done")
    })
    .await;
    let runs = records(&tag);
    let job1: Vec<_> = runs.iter().filter(|r| r.n == 1).collect();
    assert_eq!(job1.len(), 1, "failOnTimeout: one run only: {runs:?}");
    assert!(
        job1.iter().all(|r| r.event == "start"),
        "aborted, never done"
    );
    let job2: Vec<_> = runs.iter().filter(|r| r.n == 2).collect();
    assert_eq!(
        job2.iter()
            .map(|r| (r.attempts, r.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "start"), (2, "start"), (2, "done")]
    );
    // Attempt 2 only after the reservation (retry_after = 2 s) expired.
    assert!(job2[1].at.floor() >= job2[0].at.floor() + 2.0, "{job2:?}");
    assert!(started.elapsed() < Duration::from_secs(14));
    let rows = store.all().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].exception.starts_with(
        "Illuminate\\Queue\\MaxAttemptsExceededException: Tests\\Probe has been attempted too many times or run too long."
    ));
    env.assert_queue_empty();
}

/// Laravel 10.10+ fails a timed-out job with `TimeoutExceededException` ("... has timed out.");
/// `laravel_version: 10` (`--laravel-version 10`) writes that form, 8 and 9 the one above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_fail_with_timeout_exceeded_exception_for_laravel_10() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("timeout10");
    env.queue(2)
        .await
        .push(
            "default",
            probe(&tag, 1, "sleep", 5.0, |p| {
                p.timeout = Some(1);
                p.fail_on_timeout = Some(true);
                p.max_tries = Some(5);
            })
            .as_bytes(),
        )
        .await
        .unwrap();
    let store = env.store().await;
    let mut opts = options();
    opts.stop_when_empty = false;
    opts.laravel_version = 10;
    let worker = env.worker(2, opts).await;
    let mut failed = false;
    let until = Instant::now() + Duration::from_secs(15);
    let handle = worker.handle();
    let task = tokio::spawn(worker.run());
    while !failed && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        failed = !store.all().await.unwrap().is_empty();
    }
    handle.stop();
    task.await.unwrap().unwrap();
    let rows = store.all().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].exception.starts_with(
            "Illuminate\\Queue\\TimeoutExceededException: Tests\\Probe has timed out."
        ),
        "{}",
        rows[0].exception
    );
    let runs = records(&tag);
    assert_eq!(runs.len(), 1, "one run, aborted: {runs:?}");
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_and_released_jobs_run_no_earlier_than_due() {
    let Some(env) = Env::start() else { return };
    let tag = env.tag("delay");
    let q = env.queue(90).await;
    let pushed = now_f();
    q.later("default", 2, probe(&tag, 1, "ok", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    q.push(
        "default",
        probe(&tag, 2, "release", 2.0, |p| p.max_tries = Some(2)).as_bytes(),
    )
    .await
    .unwrap();
    let mut opts = options();
    opts.stop_when_empty = false;
    let worker = env.worker(90, opts).await;
    run_until(worker, Duration::from_secs(10), || {
        records(&tag).iter().filter(|r| r.event == "done").count() >= 3
    })
    .await;
    let runs = records(&tag);
    let delayed = runs.iter().find(|r| r.n == 1).unwrap();
    assert!(delayed.at.floor() >= pushed.floor() + 2.0, "{runs:?}");
    let released: Vec<_> = runs
        .iter()
        .filter(|r| r.n == 2 && r.event == "start")
        .collect();
    assert_eq!(released.len(), 2);
    assert_eq!(released[1].attempts, 2);
    assert!(
        released[1].at.floor() >= released[0].at.floor() + 2.0,
        "{runs:?}"
    );
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_key_stops_the_worker() {
    let Some(env) = Env::start() else { return };
    let mut opts = options();
    opts.stop_when_empty = false;
    let worker = env.worker(90, opts).await;
    let task = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!task.is_finished());
    let _: () = env
        .server
        .conn(1)
        .set(
            format!("{CACHE_PREFIX}illuminate:queue:restart"),
            1_795_416_382,
        )
        .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped")
        .unwrap()
        .unwrap();
    assert_eq!(reason, StopReason::Restart);
}

// ---- child processes: the real `larq`-style worker in its own process -------------------------

/// Not a test on its own: when `LARQ_CHILD_REDIS` is set this runs a worker (signals installed)
/// for the tests below, which start this test binary as a child process.
#[test]
fn child_worker() {
    let Ok(url) = std::env::var("LARQ_CHILD_REDIS") else {
        return;
    };
    let db = std::env::var("LARQ_CHILD_DB").unwrap();
    let retry_after = child_retry_after();
    run_child_worker(async {
        let queue = RedisQueue::connect(
            &url,
            RedisQueueOptions {
                retry_after,
                ..RedisQueueOptions::default()
            },
        )
        .await
        .unwrap();
        let store = FailedJobStore::sqlite(Path::new(&db)).await.unwrap();
        store.ensure_table().await.unwrap();
        Worker::builder(queue, registry())
            .failed_store(store)
            .sink(std::sync::Arc::new(StderrLines))
            .options(WorkerOptions {
                sleep: Duration::from_millis(100),
                handle_signals: true,
                stuck_handler_grace: Some(Duration::from_secs(1)),
                ..WorkerOptions::default()
            })
            .build()
    })
}

/// The child worker's operator lines on stderr, where the tests read them (the library prints
/// nothing without a sink).
struct StderrLines;

impl larq::worker::Sink for StderrLines {
    fn job(&self, status: &str, id: &str, name: &str) {
        eprintln!("[{id}] {status}: {name}");
    }

    fn problem(&self, id: Option<&str>, text: &str) {
        eprintln!("[{}] {text}", id.unwrap_or(""));
    }
}

fn spawn_child(env: &Env, retry_after: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "redis_worker::child_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LARQ_CHILD_REDIS", env.server.url(0))
        .env("LARQ_CHILD_DB", env.db())
        .env("LARQ_CHILD_RETRY_AFTER", retry_after.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_job_then_it_runs_again_with_attempts_2() {
    let Some(env) = Env::start() else { return };
    let tag = env.file_tag();
    env.queue(2)
        .await
        .push(
            "default",
            probe(&tag, 1, "sleep_first", 30.0, |p| p.max_tries = Some(3)).as_bytes(),
        )
        .await
        .unwrap();
    let mut child = spawn_child(&env, 2);
    assert!(wait_for(Duration::from_secs(20), || !records(&tag).is_empty()));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = now_f();
    assert_eq!(
        env.server
            .conn(0)
            .zcard::<_, i64>(format!("{Q}:reserved"))
            .unwrap(),
        1,
        "the job is held in :reserved, not lost"
    );
    // Its score: the second the reservation expires (reserve time + retry_after, whole seconds).
    let expires: Vec<(Vec<u8>, f64)> = env
        .server
        .conn(0)
        .zrange_withscores(format!("{Q}:reserved"), 0, 0)
        .unwrap();
    let expires = expires[0].1;
    let mut child = spawn_child(&env, 2);
    let ran = wait_for(Duration::from_secs(20), || {
        records(&tag).iter().any(|r| r.event == "done")
    });
    // The handler records "done" before it returns; the delete follows. Let it land before the
    // kill (a kill between the two would rightly leave the job reserved for another run).
    wait_for(Duration::from_secs(10), || {
        env.server
            .conn(0)
            .zcard::<_, i64>(format!("{Q}:reserved"))
            .unwrap_or(1)
            == 0
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(ran, "{:?}", records(&tag));
    let runs = records(&tag);
    assert_eq!(
        runs.iter()
            .map(|r| (r.attempts, r.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "start"), (2, "start"), (2, "done")]
    );
    assert!(runs[1].at >= killed_at - 1.0);
    // Not before the reservation expired (compared with the score itself: the reserve may
    // have been stamped a second earlier than the handler's start).
    assert!(runs[1].at.floor() >= expires, "{runs:?}, expires {expires}");
    assert!(expires >= runs[0].at.floor() + 1.0, "retry_after is 2 s");
    env.assert_queue_empty();
}

/// A handler blocked without an `.await` (`std::thread::sleep`) past its 1 s timeout. Nothing in
/// the runtime can stop it, so the watchdog ends the process with status 1 once the stuck grace
/// (1 s here) has passed, as PHP's worker kills itself at a timeout.
///
/// On the one-thread runtime (the binary's default) the timeout itself never fires: the job
/// stays reserved, and after retry_after the next worker fails it unrun (its only try is used)
/// with Laravel 8's "may have previously timed out". On a two-thread runtime the timeout fires on
/// the other thread and fails the job first, then the watchdog ends the process all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_handler_past_its_timeout_ends_the_process_and_the_job_is_not_lost() {
    for threads in ["1", "2"] {
        let Some(env) = Env::start() else { return };
        let tag = env.file_tag();
        let q = env.queue(2).await;
        q.push(
            "default",
            probe(&tag, 1, "block", 30.0, |p| {
                p.timeout = Some(1);
                p.max_tries = Some(1);
            })
            .as_bytes(),
        )
        .await
        .unwrap();
        let started = Instant::now();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "redis_worker::child_worker",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LARQ_CHILD_REDIS", env.server.url(0))
            .env("LARQ_CHILD_DB", env.db())
            .env("LARQ_CHILD_RETRY_AFTER", "2")
            .env("LARQ_CHILD_THREADS", threads)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Waiting blocks: a thread of its own, so this runtime stays free. A child still running
        // after 25 s (no watchdog) is killed, and the test fails below instead of hanging.
        let (status, stderr) = tokio::task::spawn_blocking(move || {
            let mut child = child;
            let until = Instant::now() + Duration::from_secs(25);
            while child.try_wait().unwrap().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let status = child.wait().unwrap();
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            (status, stderr)
        })
        .await
        .unwrap();
        let took = started.elapsed();
        assert_eq!(status.code(), Some(1), "threads {threads}: {stderr}");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(25),
            "threads {threads}: exited after {took:?} (timeout 1 s + grace 1 s, the blocking sleep is 30 s)"
        );
        assert!(
            stderr.contains("Timed out: Tests\\Probe ran past its timeout of 1 s and did not stop"),
            "threads {threads}: {stderr}"
        );
        let runs: Vec<(i64, String)> = records(&tag)
            .into_iter()
            .map(|r| (r.attempts, r.event))
            .collect();
        assert_eq!(runs, [(1, "start".to_owned())], "threads {threads}");
        let store = env.store().await;
        let reserved = || {
            env.server
                .conn(0)
                .zcard::<_, i64>(format!("{Q}:reserved"))
                .unwrap()
        };
        if threads == "1" {
            assert_eq!(reserved(), 1, "the job is held in :reserved, not lost");
            assert!(store.all().await.unwrap().is_empty(), "not failed yet");
            // The next worker: the job returns after retry_after with attempts 2 > tries 1.
            let mut next = spawn_child(&env, 2);
            let until = Instant::now() + Duration::from_secs(20);
            while store.all().await.unwrap().is_empty() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = next.kill();
            let _ = next.wait();
        }
        let rows = store.all().await.unwrap();
        assert_eq!(rows.len(), 1, "threads {threads}: {rows:?}");
        assert!(
            rows[0]
                .exception
                .contains("has been attempted too many times or run too long"),
            "threads {threads}: {}",
            rows[0].exception
        );
        assert_eq!(records(&tag).len(), 1, "it never ran a second time");
        assert_eq!(reserved(), 0);
        env.assert_queue_empty();
    }
}

/// `queue:work`'s pause and resume: after SIGUSR2 no new job is taken (a job pushed then waits),
/// after SIGCONT it runs; SIGINT then stops the worker with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr2_pauses_sigcont_resumes_sigint_stops() {
    let Some(env) = Env::start() else { return };
    let tag = env.file_tag();
    let q = env.queue(90).await;
    q.push("default", probe(&tag, 1, "ok", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    let mut child = spawn_child(&env, 90);
    let signal = |sig| {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, sig) };
    };
    // Job 1 shows the worker is up and its signal handlers are installed.
    assert!(wait_for(Duration::from_secs(20), || records(&tag)
        .iter()
        .any(|r| r.n == 1 && r.event == "done")));
    signal(libc::SIGUSR2);
    // The worker reads the pause between loop turns (it sleeps 100 ms when idle).
    tokio::time::sleep(Duration::from_millis(500)).await;
    q.push("default", probe(&tag, 2, "ok", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !records(&tag).iter().any(|r| r.n == 2),
        "job 2 ran while paused"
    );
    assert_eq!(
        q.size("default").await.unwrap(),
        1,
        "job 2 waits in the queue"
    );
    signal(libc::SIGCONT);
    assert!(
        wait_for(Duration::from_secs(10), || records(&tag)
            .iter()
            .any(|r| r.n == 2 && r.event == "done")),
        "job 2 did not run after SIGCONT"
    );
    signal(libc::SIGINT);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_running_job_first() {
    let Some(env) = Env::start() else { return };
    let tag = env.file_tag();
    let q = env.queue(90).await;
    q.push("default", probe(&tag, 1, "sleep", 1.5, |_| {}).as_bytes())
        .await
        .unwrap();
    q.push("default", probe(&tag, 2, "ok", 0.0, |_| {}).as_bytes())
        .await
        .unwrap();
    let mut child = spawn_child(&env, 90);
    assert!(wait_for(Duration::from_secs(20), || !records(&tag).is_empty()));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let runs = records(&tag);
    assert_eq!(
        runs.iter()
            .map(|r| (r.n, r.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "start"), (1, "done")],
        "job 1 finished; job 2 was not started"
    );
    assert_eq!(q.size("default").await.unwrap(), 1, "job 2 still queued");
}

// ---- the real Laravel app -------------------------------------------------------------------

fn artisan_command(env: &Env, args: &[&str]) -> Command {
    let mut cmd = laravel::artisan_command_for(env.major, args);
    cmd.env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", env.server.port.to_string())
        .env("DB_DATABASE", env.db())
        .env("QUEUE_CONNECTION", "redis");
    cmd
}

fn artisan(env: &Env, args: &[&str]) -> String {
    laravel::run(artisan_command(env, args), &format!("artisan {args:?}"))
}

laravel_tests!(async laravel_dispatches_1000_some_jobs_larq_runs_each_once => dispatches_1000_larq_runs; 8 10 13);

async fn dispatches_1000_larq_runs(major: u8) {
    let Some(env) = Env::start_version(major) else {
        return;
    };
    let tag = env.tag("laravel1000");
    let out = artisan(
        &env,
        &[
            "larq:dispatch",
            "SomeJob",
            "--count=1000",
            "--user-id=1",
            "--increment",
            &format!("--param={tag}"),
        ],
    );
    assert_eq!(out.lines().count(), 1000);
    let mut opts = env.options();
    opts.concurrency = 4;
    let reason = env.worker(90, opts).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    let mut ids: Vec<i64> = records(&tag).iter().map(|r| r.n).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=1000).collect::<Vec<_>>());
    env.assert_queue_empty();
}

laravel_tests!(async queue_retry_sends_a_failed_job_back_and_queue_restart_stops_larq => retry_and_restart; 8 10 13);

async fn retry_and_restart(major: u8) {
    let Some(env) = Env::start_version(major) else {
        return;
    };
    let tag = env.tag("retry");
    env.queue(90)
        .await
        .push(
            "default",
            probe(&tag, 1, "fail_first_seen", 0.0, |_| {}).as_bytes(),
        )
        .await
        .unwrap();
    let reason = env.worker(90, env.options()).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    assert_eq!(env.store().await.all().await.unwrap().len(), 1);
    assert!(artisan(&env, &["queue:failed"]).contains("Tests\\Probe"));
    artisan(&env, &["queue:retry", "all"]);
    assert!(env.store().await.all().await.unwrap().is_empty());
    let mut opts = env.options();
    opts.stop_when_empty = false;
    let worker = env.worker(90, opts).await;
    let task = tokio::spawn(worker.run());
    assert!(wait_for(Duration::from_secs(10), || records(&tag)
        .iter()
        .any(|r| r.event == "done")));
    let runs = records(&tag);
    assert_eq!(
        runs.last().unwrap().attempts,
        1,
        "queue:retry resets attempts"
    );
    artisan(&env, &["queue:restart"]);
    let reason = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("queue:restart stops larq")
        .unwrap()
        .unwrap();
    assert_eq!(reason, StopReason::Restart);
    env.assert_queue_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_worker_and_larq_share_10000_jobs_none_lost_none_twice() {
    share_jobs(8, 10_000).await;
}

laravel_tests!(async php_worker_and_larq_share_2000_jobs_none_lost_none_twice => share_2000_jobs; 10 13);

/// The same race on Laravel 10 and 13, with a fifth of the jobs.
async fn share_2000_jobs(major: u8) {
    share_jobs(major, 2_000).await;
}

/// PHP's `queue:work` of Laravel `major` and larq drain `n` jobs Laravel dispatched.
async fn share_jobs(major: u8, n: usize) {
    let Some(env) = Env::start_version(major) else {
        return;
    };
    let tag = env.tag("shared");
    let out = artisan(
        &env,
        &[
            "larq:dispatch",
            "SomeJob",
            &format!("--count={n}"),
            "--user-id=1",
            "--increment",
            &format!("--param={tag}"),
        ],
    );
    let dispatched: std::collections::HashSet<String> = uuids_of_lines(&out).into_iter().collect();
    assert_eq!(dispatched.len(), n);
    let php_records = env.dir.path().join("php.jsonl");
    let mut php = artisan_command(
        &env,
        &[
            "queue:work",
            "redis",
            "--stop-when-empty",
            "--sleep=0",
            "--tries=1",
        ],
    )
    .env("LARQ_RECORD_FILE", &php_records)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut opts = env.options();
    opts.concurrency = 2;
    let reason = env.worker(90, opts).await.run().await.unwrap();
    assert_eq!(reason, StopReason::Empty);
    assert!(php.wait().unwrap().success());
    let by_larq: Vec<String> = records(&tag).into_iter().map(|r| r.uuid).collect();
    let by_php = php_record_uuids(&php_records);
    assert_shared_each_once(&by_larq, &by_php, n, &dispatched);
    env.assert_queue_empty();
    assert!(env.store().await.all().await.unwrap().is_empty());
}
