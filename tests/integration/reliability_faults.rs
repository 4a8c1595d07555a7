//! Faults, with the real `larq` binary: `kill -9` at random points, Redis going away and coming
//! back, a storm of broken payloads, and SIGTERM during a long job. Each test is bounded in time.
//!
//! The binary is the tests' backend (`examples/recording_backend.rs`: larq's command line with the
//! `App\Jobs\SomeJob` handler), which appends one JSON line per run to `LARQ_RECORD_FILE`; the tests read those lines to see which jobs
//! ran and how often.

use crate::support::bins;
use crate::support::php as php_support;
use crate::support::redis_server;
use crate::support::rng::Rng;
use crate::support::some_job;
use crate::support::wait::{wait_exit, wait_for};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use larq::failed::FailedJobStore;
use larq::payload::Payload;
use larq::php::{Object, Property, Value};
use redis::Commands;
use redis_server::TestRedis;

const Q: &str = "laravel_database_queues:default";

/// A `App\Jobs\SomeJob(userId, someParam)` payload in Laravel 8's shape; returns (uuid, json).
fn some_job(user_id: i64, param: &str) -> (String, String) {
    let p = some_job::some_job_payload(user_id, param);
    (p.uuid.clone().unwrap(), p.to_json())
}

/// Push payloads with Laravel's push effect (job + notify token), pipelined.
fn push_all(conn: &mut redis::Connection, payloads: &[String]) {
    for chunk in payloads.chunks(1000) {
        let mut pipe = redis::pipe();
        for p in chunk {
            pipe.rpush(Q, p)
                .ignore()
                .rpush(format!("{Q}:notify"), 1)
                .ignore();
        }
        pipe.exec(conn).unwrap();
    }
}

struct Env {
    server: TestRedis,
    dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Option<Env> {
        let env = Env {
            server: TestRedis::start()?,
            dir: tempfile::tempdir().unwrap(),
        };
        // An empty file is an empty SQLite database; larq opens it, it does not create it.
        std::fs::write(env.db(), b"").unwrap();
        Some(env)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("app.sqlite")
    }

    /// Where every larq child of this test writes its stderr.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("larq.log")
    }

    /// Everything the larq children logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn records_path(&self) -> PathBuf {
        self.dir.path().join("records.jsonl")
    }

    /// `recording_backend work redis ...` against this Redis and SQLite file.
    fn larq(&self, extra: &[&str]) -> Child {
        self.larq_via(self.server.port, extra)
    }

    /// [`Env::larq`] reaching Redis on `port` (a proxy in front of it).
    fn larq_via(&self, port: u16, extra: &[&str]) -> Child {
        bins::command(bins::recording_backend())
            .args(["work", "redis", "--create-failed-table"])
            .args(["--sleep", "0.05", "--memory", "0"])
            .args(extra)
            .env_clear()
            .envs(bins::LARQ_ENV)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", port.to_string())
            .env("DB_CONNECTION", "sqlite")
            .env("DB_DATABASE", self.db())
            .env("LARQ_RECORD_FILE", self.records_path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            // A file, not a pipe: an unread pipe fills up and blocks the worker's logging.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log_path())
                    .unwrap(),
            )
            .spawn()
            .expect("spawn larq")
    }

    /// How many runs are recorded (whole lines), cheaply enough to poll.
    fn run_count(&self) -> usize {
        std::fs::read(self.records_path())
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    }

    /// (uuid, attempts) of every recorded run; a torn last line (kill -9) is ignored.
    fn runs(&self) -> Vec<(String, i64)> {
        let text = std::fs::read_to_string(self.records_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["uuid"].as_str().unwrap_or_default().to_owned(),
                    v["attempts"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Uuids of the jobs currently in `:reserved`.
    fn reserved_uuids(&self) -> Vec<String> {
        let members: Vec<Vec<u8>> = self
            .server
            .conn(0)
            .zrange(format!("{Q}:reserved"), 0, -1)
            .unwrap();
        members
            .iter()
            .filter_map(|m| Payload::from_slice(m).ok()?.uuid)
            .collect()
    }

    fn queue_keys_left(&self) -> Vec<String> {
        let mut c = self.server.conn(0);
        ["", ":delayed", ":reserved", ":notify"]
            .iter()
            .map(|s| format!("{Q}{s}"))
            .filter(|k| c.exists::<_, bool>(k).unwrap())
            .collect()
    }

    async fn failed_rows(&self) -> Vec<larq::failed::FailedRow> {
        match FailedJobStore::sqlite(&self.db()).await {
            Ok(store) => store.all().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

fn sigterm(child: &Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

#[test]
fn kill_9_fifty_times_while_draining_20000_jobs_loses_none() {
    let Some(env) = Env::start() else { return };
    const N: usize = 20_000;
    const KILLS: usize = 50;
    let jobs: Vec<(String, String)> = (1..=N as i64).map(|n| some_job(n, "kill")).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    push_all(&mut env.server.conn(0), &payloads);

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill points seed: {seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    // Jobs reserved (taken, not yet deleted) when a kill hit: the only ones allowed to run twice.
    let mut in_flight: HashSet<String> = HashSet::new();
    let args = ["--retry-after", "2", "--tries", "0", "--concurrency", "8"];
    for kill in 0..KILLS {
        let mut child = env.larq(&args);
        // Kill once it has run a random number of jobs (at most N / KILLS / 2, so most of the
        // queue is left for the rounds after), a few milliseconds later still; the first few
        // rounds are killed at start-up.
        let before = env.run_count();
        let step = 1 + rng.below((N / KILLS / 2) as u64) as usize;
        if kill >= 3 {
            wait_for(Duration::from_secs(10), || env.run_count() >= before + step);
        }
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        in_flight.extend(env.reserved_uuids());
    }
    let killed_after = env.run_count();
    assert!(
        killed_after < N,
        "the kills must land mid-run (all {N} ran before the last kill); raise N"
    );
    // Last life: no kill; it must finish everything, including the jobs left reserved.
    let mut child = env.larq(&args);
    let finished = wait_for(Duration::from_secs(45), || {
        env.run_count() >= N && env.queue_keys_left().is_empty()
    });
    sigterm(&child);
    let status = child.wait().unwrap();
    let err = env.log();
    assert!(
        finished,
        "not finished after 45 s: {} runs; keys {:?}; {err}",
        env.runs().len(),
        env.queue_keys_left()
    );
    assert!(status.success(), "{status:?} {err}");

    let runs = env.runs();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (uuid, _) in &runs {
        *count.entry(uuid.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = all
        .iter()
        .filter(|u| !count.contains_key(u.as_str()))
        .collect();
    assert!(missing.is_empty(), "{} jobs never ran", missing.len());
    let bad_repeats: Vec<(&&str, &usize)> = count
        .iter()
        .filter(|(u, n)| **n > 1 && !in_flight.contains(**u))
        .collect();
    assert!(
        bad_repeats.is_empty(),
        "jobs ran twice without being in flight at a kill: {bad_repeats:?}"
    );
    assert!(count.keys().all(|u| all.contains(*u)));
    assert!(env.queue_keys_left().is_empty());
    println!(
        "{N} jobs, {KILLS} kills in {:.1} s: {} runs, {} repeats, {} in flight at kills",
        started.elapsed().as_secs_f64(),
        runs.len(),
        runs.len() - N,
        in_flight.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_for_seconds_then_back_larq_resumes_and_loses_nothing() {
    let Some(mut env) = Env::start() else { return };
    const N: i64 = 3000;
    let jobs: Vec<(String, String)> = (1..=N).map(|n| some_job(n, "outage")).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    let (first, second) = payloads.split_at(N as usize / 2);
    push_all(&mut env.server.conn(0), first);
    let mut child = env.larq(&["--retry-after", "60", "--concurrency", "4"]);
    assert!(wait_for(Duration::from_secs(20), || env.run_count() >= first.len()));
    // Stop Redis for 4 s while larq is waiting for more work.
    env.server.stop();
    let down_at = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "larq exited while Redis was down"
    );
    assert!(env.server.start_again(), "redis-server did not come back");
    let downtime = down_at.elapsed();
    push_all(&mut env.server.conn(0), second);
    let done = wait_for(Duration::from_secs(30), || {
        env.run_count() >= N as usize && env.queue_keys_left().is_empty()
    });
    let alive = child.try_wait().unwrap().is_none();
    sigterm(&child);
    let status = child.wait().unwrap();
    let err = env.log();
    assert!(alive, "larq exited after the outage: {err}");
    assert!(
        done,
        "{} of {N} ran after the outage; {err}",
        env.runs().len()
    );
    assert!(status.success(), "{status:?}: {err}");
    let runs = env.runs();
    let uuids: HashSet<String> = runs.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(uuids, all, "every job ran");
    assert_eq!(
        runs.len(),
        N as usize,
        "none twice (nothing was in flight at the outage)"
    );
    let lost_lines = err.matches("lost the queue connection").count();
    assert_eq!(
        lost_lines, 1,
        "the outage is logged once ({downtime:?}): {err}"
    );
    assert!(err.contains("the queue connection is back"), "{err}");
}

/// How many kinds [`broken_payload`] makes.
const BROKEN_KINDS: usize = 11;

/// A broken payload of kind `kind`, unique for `seed` (identical members would collapse in
/// `:reserved`), with the exception class its failed_jobs row must name.
fn broken_payload(kind: usize, seed: usize) -> (String, &'static str) {
    let with_command =
        |command: String| Payload::for_command("App\\Jobs\\SomeJob", command).to_json();
    match kind % BROKEN_KINDS {
        0 => {
            let (_, valid) = some_job(seed as i64, "truncated");
            (valid[..valid.len() / 2].to_owned(), "UndecodableJob")
        }
        1 => (format!("{{not json {seed}"), "UndecodableJob"),
        2 => (
            format!(r#"{{"uuid":"no-attempts-{seed}","job":"x"}}"#),
            "UndecodableJob",
        ),
        3 => (
            format!(r#"{{"uuid":"str-attempts-{seed}","attempts":"one"}}"#),
            "UndecodableJob",
        ),
        4 => (format!("[1,2,{seed}]"), "UndecodableJob"),
        5 => (
            with_command(
                r#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:1;s:9:"someParam";s:500:"short";}"#
                    .into(),
            ),
            "UndecodableJob",
        ),
        6 => (
            with_command(r#"O:16:"App\Jobs\SomeJob":1:{s:6:"userId";a:999999999999:{}}"#.into()),
            "UndecodableJob",
        ),
        7 => {
            let deep = format!("{}i:1;{}", "a:1:{i:0;".repeat(2000), "}".repeat(2000));
            (
                with_command(format!(
                    r#"O:16:"App\Jobs\SomeJob":1:{{s:6:"userId";{deep}}}"#
                )),
                "UndecodableJob",
            )
        }
        8 => (
            format!(
                r#"{{"uuid":"deep-{seed}","attempts":0,"x":{}1{}}}"#,
                "[".repeat(20_000),
                "]".repeat(20_000)
            ),
            "UndecodableJob",
        ),
        9 => (
            with_command(r#"O:16:"App\Jobs\SomeJob":1:{s:6:"userId";s:3:"abc";}"#.into()),
            "UndecodableJob",
        ),
        _ => (
            Payload::for_command("App\\Jobs\\NoSuchJob", r#"O:18:"App\Jobs\NoSuchJob":0:{}"#)
                .to_json(),
            "UnknownJob",
        ),
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_storm_fails_each_broken_job_runs_each_valid_one_memory_flat() {
    let Some(env) = Env::start() else { return };
    const ROUNDS: usize = 6;
    const VALID_PER_ROUND: i64 = 300;
    const BROKEN_PER_SLOT: usize = 2;
    let mut seed = 0usize;
    let mut child = env.larq(&["--concurrency", "4"]);
    let mut valid: HashSet<String> = HashSet::new();
    let mut expected_failures: Vec<(String, &'static str)> = Vec::new();
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        let mut batch = Vec::new();
        for n in 0..VALID_PER_ROUND {
            let (uuid, p) = some_job(round as i64 * 1000 + n, "storm");
            valid.insert(uuid);
            batch.push(p);
            if n % 3 == 0 {
                for _ in 0..BROKEN_PER_SLOT {
                    let (bad, why) = broken_payload(seed, seed);
                    seed += 1;
                    expected_failures.push((bad.clone(), why));
                    batch.push(bad);
                }
            }
        }
        push_all(&mut env.server.conn(0), &batch);
        let want_runs = valid.len();
        let want_failed = expected_failures.len();
        let mut failed = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            failed = env.failed_rows().await.len();
            if env.run_count() >= want_runs && failed >= want_failed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "larq exited in round {round}: {}",
            env.log()
        );
        assert_eq!(env.runs().len(), want_runs, "round {round}: valid jobs run");
        assert_eq!(failed, want_failed, "round {round}: broken jobs failed");
        rss.push(rss_kb(child.id()));
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    assert!(
        env.queue_keys_left().is_empty(),
        "{:?}",
        env.queue_keys_left()
    );

    let runs: HashSet<String> = env.runs().into_iter().map(|(u, _)| u).collect();
    assert_eq!(runs, valid);
    let rows = env.failed_rows().await;
    let mut by_payload: HashMap<&str, Vec<&str>> = HashMap::new();
    for row in &rows {
        by_payload
            .entry(row.payload.as_str())
            .or_default()
            .push(row.exception.as_str());
    }
    for (payload, why) in &expected_failures {
        let exceptions = by_payload
            .get(payload.as_str())
            .unwrap_or_else(|| panic!("no failed_jobs row for {:.80}", payload));
        assert!(
            exceptions
                .iter()
                .all(|e| e.contains(why) && e.len() > why.len() + 20),
            "{:.80}: {exceptions:?}",
            payload
        );
    }
    // Memory: after the first round (allocator warm-up), resident memory stays within 8 MB.
    let warm = rss[0];
    let peak = *rss.iter().max().unwrap();
    println!("RSS per round (kB): {rss:?}");
    assert!(warm > 0);
    assert!(
        peak <= warm + 8 * 1024,
        "RSS grew from {warm} kB to {peak} kB: {rss:?}"
    );
}

// ---- graceful stop: a worker in a child process with a 2-second job --------------------------

/// Not a test on its own: with `LARQ_GRACEFUL_CHILD` set it runs a worker (signals installed)
/// whose `Tests\Nap` jobs sleep for their `secs` and record start/end lines.
#[test]
fn graceful_child() {
    let Ok(url) = std::env::var("LARQ_GRACEFUL_CHILD") else {
        return;
    };
    let record = PathBuf::from(std::env::var("LARQ_GRACEFUL_RECORD").unwrap());
    let timeout: u64 = std::env::var("LARQ_GRACEFUL_TIMEOUT")
        .unwrap()
        .parse()
        .unwrap();
    RECORD.set(record).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reason = rt.block_on(async {
        let queue = larq::queue::RedisQueue::connect(
            &url,
            larq::queue::RedisQueueOptions {
                retry_after: 90,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        larq::worker::Worker::builder(queue, larq::job::Registry::new().with::<Nap>())
            .options(larq::worker::WorkerOptions {
                sleep: Duration::from_millis(100),
                timeout,
                // With the default 1, a timed-out first attempt fails at once (Laravel's rule);
                // 3 leaves it for a retry, which is what these tests look at.
                tries: 3,
                handle_signals: true,
                ..Default::default()
            })
            .build()
            .run()
            .await
            .unwrap()
    });
    std::process::exit(reason.exit_code());
}

static RECORD: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn note(line: &str) {
    if let Some(path) = RECORD.get() {
        crate::support::lines::append_line(path, line);
    }
}

#[derive(serde::Deserialize)]
struct Nap {
    secs: f64,
}

impl larq::job::Job for Nap {
    const CLASS: &'static str = "Tests\\Nap";

    async fn handle(self, _ctx: &mut larq::job::JobContext) -> Result<(), larq::job::JobError> {
        note("start");
        tokio::time::sleep(Duration::from_secs_f64(self.secs)).await;
        note("end");
        Ok(())
    }
}

fn nap(secs: f64) -> String {
    let mut obj = Object::new("Tests\\Nap");
    obj.props = vec![Property::public("secs", Value::from(secs))];
    let command = String::from_utf8(Value::Object(obj).to_bytes()).unwrap();
    Payload::for_command("Tests\\Nap", command).to_json()
}

fn graceful_child_process(env: &Env, timeout: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "reliability_faults::graceful_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LARQ_GRACEFUL_CHILD", env.server.url(0))
        .env("LARQ_GRACEFUL_RECORD", env.records_path())
        .env("LARQ_GRACEFUL_TIMEOUT", timeout.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn notes(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sigterm_lets_a_2_second_job_finish_then_exits_0() {
    let Some(env) = Env::start() else { return };
    push_all(&mut env.server.conn(0), &[nap(2.0)]);
    let mut child = graceful_child_process(&env, 60);
    assert!(wait_for(Duration::from_secs(20), || notes(
        &env.records_path()
    )
    .len()
        == 1));
    let signalled = Instant::now();
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(notes(&env.records_path()), ["start", "end"]);
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert!(
        env.queue_keys_left().is_empty(),
        "the finished job was deleted"
    );
}

#[test]
fn second_sigterm_ends_the_job_and_leaves_it_reserved_for_retry() {
    let Some(env) = Env::start() else { return };
    push_all(&mut env.server.conn(0), &[nap(30.0)]);
    let mut child = graceful_child_process(&env, 60);
    assert!(wait_for(Duration::from_secs(20), || notes(
        &env.records_path()
    )
    .len()
        == 1));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM waits for the job"
    );
    let second = Instant::now();
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(second.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "a forced stop is not a clean exit");
    assert_eq!(
        notes(&env.records_path()),
        ["start"],
        "the job did not finish"
    );
    let reserved: Vec<String> = env
        .server
        .conn(0)
        .zrange(format!("{Q}:reserved"), 0, -1)
        .unwrap();
    assert_eq!(
        reserved.len(),
        1,
        "left reserved, so it comes back after retry_after"
    );
    assert!(reserved[0].contains(r#""attempts":1"#));
}

#[test]
fn sigterm_then_the_job_timeout_ends_it_and_leaves_it_reserved() {
    let Some(env) = Env::start() else { return };
    push_all(&mut env.server.conn(0), &[nap(30.0)]);
    let mut child = graceful_child_process(&env, 2);
    assert!(wait_for(Duration::from_secs(20), || notes(
        &env.records_path()
    )
    .len()
        == 1));
    let signalled = Instant::now();
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the 2 s timeout ended it"
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(notes(&env.records_path()), ["start"]);
    let reserved: i64 = env.server.conn(0).zcard(format!("{Q}:reserved")).unwrap();
    assert_eq!(
        reserved, 1,
        "a timed-out job is left for retry, as PHP's killed worker leaves it"
    );
}

// ---- Redis stalls: the server (or the network to it) stops answering for longer than
// `retry_after`, then carries on. Jobs that finished meanwhile must be deleted, not migrated back
// and failed as MaxAttemptsExceeded; jobs whose reserve reply came back late must not be handed
// out again.

/// Runs per uuid, and whether each job of `all` ran exactly once.
fn each_ran_once(all: &HashSet<String>, runs: &[(String, i64)]) -> Result<(), String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (uuid, _) in runs {
        *count.entry(uuid.as_str()).or_default() += 1;
    }
    let missing = all
        .iter()
        .filter(|u| !count.contains_key(u.as_str()))
        .count();
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    if missing > 0 || !twice.is_empty() {
        return Err(format!(
            "{missing} never ran; {} ran more than once: {:?}",
            twice.len(),
            twice.iter().take(5).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stalls_past_retry_after_during_a_drain_fail_none_and_repeat_none() {
    let Some(env) = Env::start() else { return };
    const N: i64 = 3000;
    let jobs: Vec<(String, String)> = (1..=N).map(|n| some_job(n, "stall")).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    push_all(&mut env.server.conn(0), &payloads);
    // --tries 1: a job handed out a second time fails as MaxAttemptsExceeded, so a repeat shows
    // both in the records and in failed_jobs.
    let mut child = env.larq(&["--retry-after", "2", "--tries", "1", "--concurrency", "8"]);
    for at in [300, 1500] {
        assert!(
            wait_for(Duration::from_secs(30), || env.run_count() >= at),
            "{}",
            env.log()
        );
        // The whole server stops for 4 s, twice retry_after (DEBUG SLEEP blocks every client).
        let reply = env.server.cli(&["DEBUG", "SLEEP", "4"]);
        assert_eq!(reply.trim(), "OK", "DEBUG SLEEP: {reply}");
    }
    let done = wait_for(Duration::from_secs(60), || {
        env.run_count() >= N as usize && env.queue_keys_left().is_empty()
    });
    sigterm(&child);
    let status = child.wait().unwrap();
    let err = env.log();
    assert!(done, "{} of {N} ran: {err}", env.runs().len());
    assert!(status.success(), "{status:?}: {err}");
    let failed = env.failed_rows().await;
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed
            .first()
            .map(|r| r.exception.lines().next().unwrap_or("").to_owned())
    );
    if let Err(e) = each_ran_once(&all, &env.runs()) {
        panic!("{e}\n{err}");
    }
    assert!(!err.contains("already expired"), "{err}");
}

/// A TCP proxy in front of Redis that can stop forwarding (holding what it read) and resume,
/// as a network that blackholes packets for a while and then heals.
struct StallingProxy {
    port: u16,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingProxy {
    fn start(upstream: u16) -> StallingProxy {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stalled);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = Arc::clone(&flag);
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while flag.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        StallingProxy { port, stalled }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `GET path` on `addr`: (status code, body).
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((code, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_stall_past_retry_after_loses_nothing_and_health_reports_it() {
    let Some(env) = Env::start() else { return };
    const N: i64 = 2000;
    let jobs: Vec<(String, String)> = (1..=N).map(|n| some_job(n, "proxy")).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    push_all(&mut env.server.conn(0), &payloads);
    let proxy = StallingProxy::start(env.server.port);
    let mut child = env.larq_via(
        proxy.port,
        &[
            "--retry-after",
            "3",
            "--tries",
            "1",
            "--concurrency",
            "8",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let addr = {
        let mut addr = None;
        wait_for(Duration::from_secs(20), || {
            addr = env
                .log()
                .split("Metrics: http://")
                .nth(1)
                .and_then(|rest| rest.split("/metrics").next())
                .map(str::to_owned);
            addr.is_some()
        });
        addr.unwrap_or_else(|| panic!("no metrics address: {}", env.log()))
    };
    assert!(wait_for(Duration::from_secs(30), || env.run_count() >= 300));
    assert_eq!(http_get(&addr, "/health").map(|(c, _)| c), Some(200));
    // Blackhole the connection to Redis for 15 s, five times retry_after and past the health
    // window (10 s): /health must say so meanwhile.
    proxy.stall(true);
    let stalled_at = Instant::now();
    let mut unhealthy = None;
    while stalled_at.elapsed() < Duration::from_secs(15) {
        if let Some((503, body)) = http_get(&addr, "/health") {
            unhealthy.get_or_insert((stalled_at.elapsed(), body));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let during = env.runs().len();
    proxy.stall(false);
    let done = wait_for(Duration::from_secs(60), || {
        env.run_count() >= N as usize && env.queue_keys_left().is_empty()
    });
    let healthy_again = wait_for(Duration::from_secs(20), || {
        http_get(&addr, "/health").is_some_and(|(c, _)| c == 200)
    });
    sigterm(&child);
    let status = child.wait().unwrap();
    let err = env.log();
    let (when, body) = unhealthy.unwrap_or_else(|| panic!("/health never said 503: {err}"));
    println!("/health 503 after {when:?} of stall: {body}; {during} runs before the resume");
    assert!(body.contains("did not answer"), "{body}");
    assert!(healthy_again, "/health not 200 after the resume: {err}");
    assert!(done, "{} of {N} ran: {err}", env.runs().len());
    assert!(status.success(), "{status:?}: {err}");
    let failed = env.failed_rows().await;
    assert!(failed.is_empty(), "{} failed: {err}", failed.len());
    if let Err(e) = each_ran_once(&all, &env.runs()) {
        panic!("{e}\n{err}");
    }
}

// ---- What one payload costs Redis: larq's reserve against Laravel's own pop, on the same bytes.
// The reserve runs inside Redis and blocks every other client (the PHP app's too) while it runs,
// so no payload may make it cost much more than Laravel's pop does.

/// Microseconds Redis spent on each command since the last `SLOWLOG RESET`, as (args, µs).
fn slowlog(conn: &mut redis::Connection) -> Vec<(Vec<String>, u64)> {
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(100_000)
        .query(conn)
        .unwrap();
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(conn).unwrap();
    entries
        .into_iter()
        .filter_map(|entry| {
            let redis::Value::Array(fields) = entry else {
                return None;
            };
            let micros = match fields.get(2)? {
                redis::Value::Int(n) => u64::try_from(*n).ok()?,
                _ => return None,
            };
            let redis::Value::Array(args) = fields.get(3)? else {
                return None;
            };
            let args = args
                .iter()
                .map(|a| match a {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            Some((args, micros))
        })
        .collect()
}

#[test]
fn no_payload_makes_the_reserve_cost_redis_much_more_than_laravels_pop() {
    if !php_support::php_available() {
        return;
    }
    let Some(env) = Env::start() else { return };
    let mut conn = env.server.conn(0);
    for (k, v) in [
        ("slowlog-log-slower-than", "0"),
        ("slowlog-max-len", "100000"),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(&mut conn)
            .unwrap();
    }
    const MB: usize = 1 << 20;
    let size = 4 * MB;
    let filler = |unit: &str| unit.repeat(size / unit.len());
    let (_, valid_big) = some_job(1, &"x".repeat(size));
    let payloads: Vec<(&str, String)> = vec![
        ("valid SomeJob, 4 MB param", valid_big),
        ("4 MB of [", filler("[")),
        ("4 MB of []", filler("[]")),
        (
            "attempts first, 4 MB array of []",
            format!(r#"{{"attempts":0,"x":[{}[]]}}"#, filler("[],")),
        ),
        (
            "attempts first, 4 MB of escaped quotes",
            format!(r#"{{"attempts":0,"s":"{}"}}"#, filler(r#"\""#)),
        ),
        (
            "attempts twice, 4 MB of {} between",
            format!(
                r#"{{"attempts":0,"x":[{}{{}}],"attempts":0}}"#,
                filler("{},")
            ),
        ),
        ("4 MB nested {\"a\":", filler(r#"{"a":"#)),
        (
            "4 MB of \" then attempts last",
            format!(r#"{{{},"attempts":0}}"#, filler("\"")),
        ),
    ];
    let key = "laravel_database_queues:stress";
    let push = |conn: &mut redis::Connection, payload: &str| {
        let _: () = redis::pipe()
            .rpush(key, payload)
            .rpush(format!("{key}:notify"), 1)
            .query(conn)
            .unwrap();
    };
    let mut worst: f64 = 0.0;
    let mut table = Vec::new();
    let del = |conn: &mut redis::Connection| {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .arg(format!("{key}:reserved"))
            .arg(format!("{key}:notify"))
            .arg(format!("{key}:delayed"))
            .query(conn)
            .unwrap();
    };
    for (name, payload) in &payloads {
        // Each side three times, alternating; the least of each is its cost (other processes
        // on the machine only ever add to a measurement).
        let (mut larq_us, mut laravel_us) = (u64::MAX, u64::MAX);
        for _ in 0..3 {
            let _ = slowlog(&mut conn);
            // larq: the real binary takes the job once (and fails or runs it).
            push(&mut conn, payload);
            let mut child = env.larq(&["--queue", "stress", "--once", "--tries", "0"]);
            let status = child.wait().unwrap();
            assert!(status.success(), "{name}: {status:?} {}", env.log());
            let us = slowlog(&mut conn)
                .into_iter()
                // The reserve: EVALSHA on the ready list asking for at least one job (a
                // deletes-only call asks for 0).
                .filter(|(args, _)| {
                    args.first()
                        .is_some_and(|c| c.eq_ignore_ascii_case("evalsha"))
                        && args.get(3).is_some_and(|k| k == key)
                        && args.get(8).is_some_and(|n| n != "0")
                })
                .map(|(_, us)| us)
                .max()
                .unwrap_or_else(|| panic!("{name}: no reserve in the slowlog"));
            larq_us = larq_us.min(us);
            del(&mut conn);
            // Laravel: its own RedisQueue::pop on the same bytes.
            push(&mut conn, payload);
            let out = Command::new("php")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/app/artisan"))
                .args(["larq:pop", "stress"])
                .env("REDIS_HOST", "127.0.0.1")
                .env("REDIS_PORT", env.server.port.to_string())
                .env("DB_DATABASE", env.db())
                .env("LOG_PATH", env.dir.path().join("laravel.log"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: larq:pop: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let us = slowlog(&mut conn)
                .into_iter()
                .filter(|(args, _)| {
                    args.first().is_some_and(|c| c.eq_ignore_ascii_case("eval"))
                        && args.get(3).is_some_and(|k| k == key)
                })
                .map(|(_, us)| us)
                .max()
                .unwrap_or_else(|| panic!("{name}: no pop in the slowlog"));
            laravel_us = laravel_us.min(us);
            del(&mut conn);
        }
        // A 2 ms allowance for fixed costs, then the ratio.
        let ratio = larq_us as f64 / (laravel_us as f64 + 2000.0);
        worst = worst.max(ratio);
        table.push(format!(
            "{name:40} larq {larq_us:>9} µs  Laravel {laravel_us:>9} µs  ratio {:.2}",
            larq_us as f64 / laravel_us.max(1) as f64
        ));
    }
    println!("{}", table.join("\n"));
    assert!(
        worst <= 3.0,
        "the reserve cost Redis more than 3x Laravel's pop:\n{}",
        table.join("\n")
    );
}

/// A job of a class no handler answers to: it fails at once (no retry), so it exercises the
/// failed_jobs store. Returns (uuid, json).
fn unhandled_job(n: i64) -> (String, String) {
    let mut obj = Object::new("App\\Jobs\\NobodyHandlesThis");
    obj.props = vec![Property::public("n", Value::Int(n))];
    let command = String::from_utf8(Value::Object(obj).to_bytes()).unwrap();
    let p = Payload::for_command("App\\Jobs\\NobodyHandlesThis", command);
    (p.uuid.clone().unwrap(), p.to_json())
}

/// `chattr` on a file; false when the file system or the user cannot (then the test that needs
/// it cannot run: a failure under CI=true, a notice elsewhere).
fn chattr(path: &Path, flag: &str) -> bool {
    Command::new("chattr")
        .arg(flag)
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes the file writable again however the test ends (so the temporary directory can go).
struct Unfreeze<'a>(&'a Path);

impl Drop for Unfreeze<'_> {
    fn drop(&mut self) {
        chattr(self.0, "-i");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_read_only_at_start_then_writable_gets_its_rows_without_a_restart() {
    let Some(env) = Env::start() else { return };
    FailedJobStore::sqlite(&env.db())
        .await
        .unwrap()
        .ensure_table()
        .await
        .unwrap();
    if !chattr(&env.db(), "+i") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chattr +i is not possible here, and CI=true"
        );
        eprintln!("notice: chattr +i is not possible here; skipping");
        return;
    }
    let _unfreeze = Unfreeze(&env.db());
    const N: i64 = 20;
    let jobs: Vec<(String, String)> = (1..=N).map(unhandled_job).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    push_all(&mut env.server.conn(0), &payloads);
    let mut child = env.larq(&["--retry-after", "2", "--concurrency", "4"]);
    // Read-only for 10 s: every job fails, cannot be recorded, stays reserved and comes back
    // every 2 s to fail again (about 100 attempts to record).
    std::thread::sleep(Duration::from_secs(10));
    let said_while_read_only = env.log().matches("cannot record the failed job").count();
    assert!(chattr(&env.db(), "-i"));
    let recorded = wait_for(Duration::from_secs(30), || {
        let rows = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(env.failed_rows())
        });
        rows.len() >= N as usize
    });
    sigterm(&child);
    let status = child.wait().unwrap();
    let log = env.log();
    assert!(
        recorded,
        "{} of {N} rows after the file became writable: {log}",
        env.failed_rows().await.len()
    );
    assert!(status.success(), "{status:?}: {log}");
    let rows = env.failed_rows().await;
    let uuids: HashSet<String> = rows.iter().map(|r| r.uuid.clone()).collect();
    assert_eq!(uuids, all, "one row per failed job");
    assert_eq!(rows.len(), N as usize);
    assert!(
        (1..=3).contains(&said_while_read_only),
        "said once per 10 s, not once per job: {said_while_read_only} lines: {log}"
    );
    assert!(
        env.queue_keys_left().is_empty(),
        "{:?}",
        env.queue_keys_left()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_failure_with_the_same_uuid_keeps_the_first_row_and_warns() {
    let Some(env) = Env::start() else { return };
    let (uuid, first) = unhandled_job(1);
    // The same uuid on a different job (n = 2): Laravel's unique index would refuse its row.
    let (other_uuid, second) = unhandled_job(2);
    let second = second.replace(&other_uuid, &uuid);
    push_all(&mut env.server.conn(0), std::slice::from_ref(&first));
    let status = env.larq(&["--stop-when-empty"]).wait().unwrap();
    assert!(status.success(), "{status:?}: {}", env.log());
    push_all(&mut env.server.conn(0), &[second]);
    let status = env.larq(&["--stop-when-empty"]).wait().unwrap();
    let log = env.log();
    assert!(status.success(), "{status:?}: {log}");
    let rows = env.failed_rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].payload, first, "the first row is kept");
    assert!(
        log.contains("already has a row with this uuid"),
        "the second failure is not silent: {log}"
    );
    assert!(env.queue_keys_left().is_empty(), "the job is not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_redis_outage_exits_within_seconds_and_loses_nothing() {
    let Some(mut env) = Env::start() else { return };
    const N: i64 = 20_000;
    let jobs: Vec<(String, String)> = (1..=N).map(|n| some_job(n, "stop-in-outage")).collect();
    let all: HashSet<String> = jobs.iter().map(|(u, _)| u.clone()).collect();
    let payloads: Vec<String> = jobs.into_iter().map(|(_, p)| p).collect();
    push_all(&mut env.server.conn(0), &payloads);
    let mut child = env.larq(&["--retry-after", "3", "--concurrency", "8"]);
    assert!(wait_for(Duration::from_secs(30), || env.run_count() >= 2000));
    env.server.stop();
    // Let finished jobs meet the outage with their deletes unsent.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let took = signalled.elapsed();
    if status.is_none() {
        let _ = child.kill();
    }
    let log = env.log();
    assert!(
        took < Duration::from_secs(8),
        "SIGTERM during the outage took {took:?} ({status:?}): {log}"
    );
    assert!(status.is_some_and(|s| s.success()), "{status:?}: {log}");
    // Nothing lost: what was reserved or finished-but-undeleted runs again after retry_after.
    assert!(env.server.start_again());
    let mut child = env.larq(&["--retry-after", "3", "--concurrency", "8"]);
    let done = wait_for(Duration::from_secs(60), || {
        env.run_count() >= N as usize && env.queue_keys_left().is_empty()
    });
    sigterm(&child);
    child.wait().unwrap();
    let runs = env.runs();
    let ran: HashSet<String> = runs.iter().map(|(u, _)| u.clone()).collect();
    assert!(done, "{} of {N} ran: {}", ran.len(), env.log());
    assert_eq!(ran, all, "every job ran");
    assert!(
        runs.len() - all.len() <= 64,
        "only jobs in flight or finishing at the outage ran twice: {} repeats",
        runs.len() - all.len()
    );
}

/// A TCP port that accepts connections and never answers, like a stalled Redis or a firewall
/// that lets the handshake through. The connections are held until the test ends.
fn silent_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    port
}

/// `larq work redis` against `REDIS_PORT=port`, no failed_jobs store, stderr piped.
fn larq_at_redis_port(port: u16) -> Child {
    bins::larq()
        .args(["work", "redis"])
        .env_clear()
        .envs(bins::LARQ_ENV)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", port.to_string())
        .env("QUEUE_FAILED_DRIVER", "null")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_redis_that_accepts_but_never_answers_fails_start_up_naming_host_and_port() {
    let port = silent_port();
    let started = Instant::now();
    let mut child = larq_at_redis_port(port);
    let status = wait_exit(&mut child, Duration::from_secs(40));
    let took = started.elapsed();
    if status.is_none() {
        let _ = child.kill();
    }
    let err = stderr_of(child);
    assert!(
        took < Duration::from_secs(25),
        "start-up hung {took:?}: {err}"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("no answer within"), "{err}");
}

#[test]
fn sigterm_during_start_up_exits_0() {
    let port = silent_port();
    let mut child = larq_at_redis_port(port);
    std::thread::sleep(Duration::from_secs(1));
    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let took = signalled.elapsed();
    if status.is_none() {
        let _ = child.kill();
    }
    let err = stderr_of(child);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "a SIGTERM while connecting is a clean stop, not death by signal: {err}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}: {err}");
    assert!(err.contains("stop signal during start-up"), "{err}");
}

#[test]
fn db_url_scheme_decides_the_backend_and_errors_name_it_with_the_cause_once() {
    let port = crate::support::ports::fresh_port();
    let run = |args: &[&str], envs: &[(&str, String)]| {
        let started = Instant::now();
        let mut cmd = bins::larq();
        cmd.args(args)
            .env_clear()
            .envs(bins::LARQ_ENV)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(40));
        if status.is_none() {
            let _ = child.kill();
        }
        (status, started.elapsed(), stderr_of(child))
    };
    let db = [
        ("DB_CONNECTION", "sqlite".to_owned()),
        (
            "DB_URL",
            format!("mysql://root:hunter2secret@127.0.0.1:{port}/test"),
        ),
    ];
    let (status, took, err) = run(&["work", "database", "--stop-when-empty"], &db);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}: {err}");
    assert!(err.contains(&format!("mysql at 127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("sqlite"), "the URL's scheme decides: {err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    assert_eq!(err.matches("refused").count(), 1, "the cause once: {err}");
    let (status, _, err) = run(&["failed", "list"], &db);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(err.contains(&format!("mysql at 127.0.0.1:{port}")), "{err}");
    assert_eq!(err.matches("refused").count(), 1, "the cause once: {err}");
    let redis = [
        ("REDIS_PORT", port.to_string()),
        ("QUEUE_FAILED_DRIVER", "null".to_owned()),
    ];
    let (status, _, err) = run(&["work", "redis", "--stop-when-empty"], &redis);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(err.contains(&format!("Redis at 127.0.0.1:{port}")), "{err}");
    assert_eq!(err.matches("refused").count(), 1, "the cause once: {err}");
}
