//! Dispatch-to-handle latency for a trickle of jobs, for larq and for PHP's `queue:work`.
//!
//! Both modes push the same kind of job: an `App\Jobs\EchoJob` (a class of the fixture app) whose
//! public `$float` property holds the push time (unix seconds, µs precision), through the same
//! push script Laravel uses (RPUSH job + RPUSH notify token), one every `--interval-ms`.
//!
//! * `larq`: a worker runs in this process with `block_for` set (it waits on the notify list, as
//!   `block_for` does in Laravel); its handler records `now - pushed_at` when `handle` starts.
//! * `php`: starts `php artisan queue:work redis --sleep=S` (Laravel's polling; the fixture app has
//!   `block_for => null`) and timestamps each `Processed:` line as it arrives on the pipe, so the
//!   figure includes PHP's handle and delete (a no-op job: well under a millisecond).
//!
//! * `load` (for `bench/latency_load.sh`): the workers are separate processes this harness starts
//!   and stops: `--larq-cmd` (a binary like `examples/latency_worker.rs`, whose EchoJob handler
//!   appends its latency to the file this harness names in `LATENCY_RECORD`) and/or `--php-procs`
//!   copies of `--php-cmd` (`php artisan queue:work ...`, each `Processed:` line timestamped on
//!   arrival, as in `php` mode). Optionally, once the workers are up, a backlog is put in place
//!   with `COPY` (`--backlog-from KEY --backlog-queue Q`: KEY and KEY's notify copy become queue
//!   Q), and with `--while-backlog` the trickle stops as soon as Q's ready list is empty, so every
//!   measured job was pushed while the backlog was still there. `--per-tick K` pushes K jobs per
//!   tick for a steady stream. Prints a line per kind of worker that handled jobs.
//!
//! ```text
//! cargo run --release --example latency -- larq --port 6390 --n 200 --interval-ms 10
//! cargo run --release --example latency -- php --port 6390 --app php-fixtures/app --sleep 3
//! cargo run --release --example latency -- load --port 6390 --n 500 --interval-ms 5 \
//!     --push-queue high --backlog-from bench:payloads --backlog-queue default --while-backlog \
//!     --larq-cmd "target/release/examples/latency_worker work redis --queue high,default"
//! ```
//! Prints one line per worker kind: `mode=… n=… p50_ms=… p99_ms=… max_ms=…` (in `load` mode
//! prefixed with `scenario=LABEL who=larq|php`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use larq::job::{Job, JobContext, JobError, Registry};
use larq::payload::Payload;
use larq::php::{Object, Property, Value};
use larq::queue::{RedisQueue, RedisQueueOptions};
use larq::worker::{Worker, WorkerOptions};

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

static SEEN: Mutex<Vec<f64>> = Mutex::new(Vec::new());

/// The fixture app's EchoJob; only `$float` (the push time) matters here.
#[derive(serde::Deserialize)]
struct EchoJob {
    float: f64,
}

impl Job for EchoJob {
    const CLASS: &'static str = "App\\Jobs\\EchoJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        let latency = now_f() - self.float;
        if let Ok(mut seen) = SEEN.lock() {
            seen.push(latency);
        }
        Ok(())
    }
}

/// An EchoJob payload stamped with the current time; returns (payload id, JSON).
fn stamped_job() -> (String, String) {
    let mut obj = Object::new("App\\Jobs\\EchoJob");
    obj.props = vec![
        Property::public("float", Value::from(now_f())),
        Property::public("job", Value::Null),
    ];
    let command = String::from_utf8_lossy(&Value::Object(obj).to_bytes()).into_owned();
    let payload = Payload::for_command("App\\Jobs\\EchoJob", command);
    (payload.id.clone().unwrap_or_default(), payload.to_json())
}

struct Args {
    mode: String,
    port: u16,
    n: usize,
    interval: Duration,
    block_for: u64,
    app: String,
    sleep: String,
    /// `load`: jobs pushed per tick.
    per_tick: usize,
    /// `load`: the queue the trickle goes to.
    push_queue: String,
    /// `load`: the larq worker's command line (whitespace-separated, no quoting).
    larq_cmd: Option<String>,
    /// `load`: PHP's worker command line, started `php_procs` times.
    php_cmd: Option<String>,
    php_procs: usize,
    /// `load`: a list of payloads (and `KEY:notify`-less: see `backlog_notify`) copied into
    /// `backlog_queue` once the workers are up.
    backlog_from: Option<String>,
    backlog_notify: Option<String>,
    backlog_queue: String,
    while_backlog: bool,
    /// `load`: the queue keys' prefix (`{REDIS_PREFIX}queues:`).
    prefix: String,
    warmup: Duration,
    /// `load`: pause between putting the backlog in place and the first push, so a polling
    /// worker has seen the backlog before the trickle starts.
    settle: Duration,
    wait: Duration,
    label: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or(
        "usage: latency larq|php|load [--port N] [--n N] [--interval-ms N] [--block-for S] \
         [--app DIR] [--sleep S] [load: --per-tick K --push-queue Q --larq-cmd CMD --php-cmd CMD \
         --php-procs K --backlog-from KEY --backlog-notify KEY --backlog-queue Q --while-backlog \
         --prefix P --warmup-ms MS --settle-ms MS --wait-s S --label NAME]",
    )?;
    let mut args = Args {
        mode,
        port: 6379,
        n: 200,
        interval: Duration::from_millis(10),
        block_for: 1,
        app: "php-fixtures/app".to_owned(),
        sleep: "3".to_owned(),
        per_tick: 1,
        push_queue: "default".to_owned(),
        larq_cmd: None,
        php_cmd: None,
        php_procs: 0,
        backlog_from: None,
        backlog_notify: None,
        backlog_queue: "default".to_owned(),
        while_backlog: false,
        prefix: "laravel_database_queues:".to_owned(),
        warmup: Duration::from_millis(500),
        settle: Duration::ZERO,
        wait: Duration::from_secs(30),
        label: "load".to_owned(),
    };
    while let Some(flag) = it.next() {
        if flag == "--while-backlog" {
            args.while_backlog = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(bad)?,
            "--n" => args.n = value.parse().map_err(bad)?,
            "--interval-ms" => args.interval = Duration::from_millis(value.parse().map_err(bad)?),
            "--block-for" => args.block_for = value.parse().map_err(bad)?,
            "--app" => args.app = value,
            "--sleep" => args.sleep = value,
            "--per-tick" => args.per_tick = value.parse().map_err(bad)?,
            "--push-queue" => args.push_queue = value,
            "--larq-cmd" => args.larq_cmd = Some(value),
            "--php-cmd" => args.php_cmd = Some(value),
            "--php-procs" => args.php_procs = value.parse().map_err(bad)?,
            "--backlog-from" => args.backlog_from = Some(value),
            "--backlog-notify" => args.backlog_notify = Some(value),
            "--backlog-queue" => args.backlog_queue = value,
            "--prefix" => args.prefix = value,
            "--warmup-ms" => args.warmup = Duration::from_millis(value.parse().map_err(bad)?),
            "--settle-ms" => args.settle = Duration::from_millis(value.parse().map_err(bad)?),
            "--wait-s" => args.wait = Duration::from_secs(value.parse().map_err(bad)?),
            "--label" => args.label = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.interval.is_zero() || args.per_tick == 0 {
        return Err("--interval-ms and --per-tick must be at least 1".to_owned());
    }
    Ok(args)
}

/// `p50`/`p99`/`max` of `ms` (sorted in place), `NaN` when empty.
fn quantiles(ms: &mut [f64]) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if ms.is_empty() {
            f64::NAN
        } else {
            ms[((ms.len() as f64 - 1.0) * q).round() as usize]
        }
    };
    (pick(0.5), pick(0.99), pick(1.0))
}

fn report(mode: &str, mut ms: Vec<f64>, expected: usize) {
    let (p50, p99, max) = quantiles(&mut ms);
    println!(
        "mode={mode} n={}/{expected} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3}",
        ms.len()
    );
}

async fn push_trickle(queue: &RedisQueue, args: &Args, sent: &Mutex<HashMap<String, f64>>) {
    let mut tick = tokio::time::interval(args.interval);
    for _ in 0..args.n {
        tick.tick().await;
        let (id, json) = stamped_job();
        if let Ok(mut sent) = sent.lock() {
            sent.insert(id, now_f());
        }
        if let Err(e) = queue.push("default", json.as_bytes()).await {
            eprintln!("push failed: {e}");
        }
    }
}

async fn run_larq(args: &Args) -> Result<(), String> {
    let url = format!("redis://127.0.0.1:{}/0", args.port);
    let options = RedisQueueOptions {
        block_for: Some(args.block_for),
        ..RedisQueueOptions::default()
    };
    let worker_queue = RedisQueue::connect(&url, options.clone())
        .await
        .map_err(|e| e.to_string())?;
    let pusher = RedisQueue::connect(&url, options)
        .await
        .map_err(|e| e.to_string())?;
    let worker = Worker::builder(worker_queue, Registry::new().with::<EchoJob>())
        .options(WorkerOptions {
            sleep: Duration::from_secs(3),
            memory_mb: 0,
            ..WorkerOptions::default()
        })
        .build();
    let handle = worker.handle();
    let task = tokio::spawn(worker.run());
    // Let the worker reach its blocking wait before the first push.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Mutex::new(HashMap::new());
    push_trickle(&pusher, args, &sent).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while SEEN.lock().map(|s| s.len()).unwrap_or(0) < args.n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    let ms: Vec<f64> = SEEN
        .lock()
        .map(|s| s.iter().map(|l| l * 1000.0).collect())
        .unwrap_or_default();
    report(&format!("larq(block_for={})", args.block_for), ms, args.n);
    Ok(())
}

async fn run_php(args: &Args) -> Result<(), String> {
    let url = format!("redis://127.0.0.1:{}/0", args.port);
    let pusher = RedisQueue::connect(&url, RedisQueueOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut child = Command::new("php")
        .arg(format!("{}/artisan", args.app))
        .args(["queue:work", "redis", &format!("--sleep={}", args.sleep)])
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", args.port.to_string())
        .env("QUEUE_CONNECTION", "redis")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start php: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let done: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let reader_done = Arc::clone(&done);
    // `[2024-01-01 00:00:00][ID] Processed:  App\Jobs\EchoJob`, timestamped on arrival.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let at = now_f();
            if !line.contains("Processed:") {
                continue;
            }
            let id = line
                .split(']')
                .nth(1)
                .and_then(|s| s.strip_prefix('['))
                .unwrap_or("");
            if let Ok(mut d) = reader_done.lock() {
                d.insert(id.to_owned(), at);
            }
        }
    });
    // PHP boots the framework before its first pop; start the trickle once it is up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = Mutex::new(HashMap::new());
    push_trickle(&pusher, args, &sent).await;
    let sleep_s: f64 = args.sleep.parse().unwrap_or(3.0);
    let deadline = Instant::now() + Duration::from_secs_f64(sleep_s + 10.0);
    while done.lock().map(|d| d.len()).unwrap_or(0) < args.n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let sent = sent.into_inner().unwrap_or_default();
    let ms: Vec<f64> = done
        .lock()
        .map(|d| {
            d.iter()
                .filter_map(|(id, at)| sent.get(id).map(|t| (at - t) * 1000.0))
                .collect()
        })
        .unwrap_or_default();
    report(&format!("php(--sleep={})", args.sleep), ms, args.n);
    Ok(())
}

/// A worker process of `load` mode: the command line split on whitespace.
fn spawn_worker(
    cmd: &str,
    port: u16,
    record: Option<&std::path::Path>,
    stderr: &std::path::Path,
) -> Result<std::process::Child, String> {
    let mut words = cmd.split_whitespace();
    let program = words.next().ok_or("an empty worker command")?;
    let err = std::fs::File::create(stderr)
        .map_err(|e| format!("cannot create {}: {e}", stderr.display()))?;
    let mut command = Command::new(program);
    command
        .args(words)
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", port.to_string())
        .stdin(Stdio::null())
        .stderr(err);
    match record {
        // larq: its latencies go to the record file; its output lines are not needed.
        Some(path) => command.env("LATENCY_RECORD", path).stdout(Stdio::null()),
        None => command.stdout(Stdio::piped()),
    };
    command
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))
}

/// Stop a worker: SIGTERM first (larq finishes its running jobs, PHP its current one), SIGKILL
/// after two seconds. A worker that had already exited is reported with its stderr, since the
/// figures of that run lack its jobs.
fn stop_worker(child: &mut std::process::Child, stderr: &std::path::Path) -> Result<(), String> {
    if let Ok(Some(status)) = child.try_wait() {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(format!(
            "a worker exited early ({status}); its stderr ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a pid this process spawned and has not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// PHP 8's `[date][ID] Processed:  Class` lines of `stdout`, each timestamped on arrival, into
/// `done` (payload id → arrival time).
fn read_processed(
    stdout: std::process::ChildStdout,
    done: Arc<Mutex<HashMap<String, f64>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let at = now_f();
            if !line.contains("Processed:") {
                continue;
            }
            let id = line
                .split(']')
                .nth(1)
                .and_then(|s| s.strip_prefix('['))
                .unwrap_or("");
            if let Ok(mut d) = done.lock() {
                d.insert(id.to_owned(), at);
            }
        }
    })
}

/// Lines (one latency in ms each) the larq worker appended to the record file so far.
fn read_record(path: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn run_load(args: &Args) -> Result<(), String> {
    let url = format!("redis://127.0.0.1:{}/0", args.port);
    let pusher = RedisQueue::connect(&url, RedisQueueOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let record = std::env::temp_dir().join(format!("latency-record-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&record);
    let mut children = Vec::new();
    let done: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let mut readers = Vec::new();
    if let Some(cmd) = &args.larq_cmd {
        let err = record.with_extension("larq.err");
        children.push((spawn_worker(cmd, args.port, Some(&record), &err)?, err));
    }
    if let Some(cmd) = &args.php_cmd {
        for _ in 0..args.php_procs {
            let err = record.with_extension(format!("php{}.err", children.len()));
            let mut child = spawn_worker(cmd, args.port, None, &err)?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            readers.push(read_processed(stdout, Arc::clone(&done)));
            children.push((child, err));
        }
    }
    // Workers boot (PHP's framework: about a second here) before anything is queued.
    tokio::time::sleep(args.warmup).await;
    let result = measure(args, &pusher, &record, &done).await;
    let mut stopped = Ok(());
    for (child, err) in &mut children {
        stopped = stopped.and(stop_worker(child, err));
        let _ = std::fs::remove_file(err);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let _ = std::fs::remove_file(&record);
    result.and(stopped)
}

async fn measure(
    args: &Args,
    pusher: &RedisQueue,
    record: &std::path::Path,
    done: &Mutex<HashMap<String, f64>>,
) -> Result<(), String> {
    if let Some(from) = &args.backlog_from {
        let to = format!("{}{}", args.prefix, args.backlog_queue);
        let copied = redis_cli(args.port, &["COPY", from, &to, "REPLACE"])?;
        if copied != "1" {
            return Err(format!("COPY {from} {to}: {copied}"));
        }
        if let Some(notify) = &args.backlog_notify {
            redis_cli(
                args.port,
                &["COPY", notify, &format!("{to}:notify"), "REPLACE"],
            )?;
        }
        tokio::time::sleep(args.settle).await;
    }
    let backlog_at_start = pusher
        .sizes(&args.backlog_queue)
        .await
        .map(|s| s.ready)
        .unwrap_or(0);
    let sent: Mutex<HashMap<String, f64>> = Mutex::new(HashMap::new());
    let mut tick = tokio::time::interval(args.interval);
    let mut pushed = 0;
    let mut backlog_at_end = 0;
    let started = Instant::now();
    while pushed < args.n {
        tick.tick().await;
        if args.while_backlog {
            backlog_at_end = pusher
                .sizes(&args.backlog_queue)
                .await
                .map_err(|e| e.to_string())?
                .ready;
            if backlog_at_end == 0 {
                break;
            }
        }
        for _ in 0..args.per_tick.min(args.n - pushed) {
            let (id, json) = stamped_job();
            if let Ok(mut sent) = sent.lock() {
                sent.insert(id, now_f());
            }
            pusher
                .push(&args.push_queue, json.as_bytes())
                .await
                .map_err(|e| format!("push failed: {e}"))?;
            pushed += 1;
        }
    }
    let trickle_s = started.elapsed().as_secs_f64();
    let sent = sent.into_inner().unwrap_or_default();
    let php_latencies = || -> Vec<f64> {
        done.lock()
            .map(|d| {
                d.iter()
                    .filter_map(|(id, at)| sent.get(id).map(|t| (at - t) * 1000.0))
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + args.wait;
    while read_record(record).len() + php_latencies().len() < pushed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let larq = read_record(record);
    let php = php_latencies();
    let handled = larq.len() + php.len();
    println!(
        "scenario={} pushed={pushed} over {trickle_s:.2} s ({} per {} ms) to {:?}; backlog {:?}: {backlog_at_start} at start{}; handled: larq {}, php {}, missing {}",
        args.label,
        args.per_tick,
        args.interval.as_millis(),
        args.push_queue,
        args.backlog_queue,
        if args.while_backlog {
            format!(", {backlog_at_end} when the trickle stopped")
        } else {
            String::new()
        },
        larq.len(),
        php.len(),
        pushed.saturating_sub(handled),
    );
    for (who, mut ms, present) in [
        ("larq", larq, args.larq_cmd.is_some()),
        ("php", php, args.php_procs > 0),
    ] {
        if present {
            let n = ms.len();
            let (p50, p99, max) = quantiles(&mut ms);
            println!(
                "scenario={} who={who} n={n}/{pushed} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3}",
                args.label
            );
        }
    }
    let missing = pushed.saturating_sub(handled);
    if missing > 0 {
        return Err(format!(
            "{missing} of {pushed} jobs were not handled within --wait-s {}",
            args.wait.as_secs()
        ));
    }
    Ok(())
}

fn main() {
    let result = parse_args().and_then(|args| {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(async {
            match args.mode.as_str() {
                "larq" => run_larq(&args).await,
                "php" => run_php(&args).await,
                "load" => run_load(&args).await,
                other => Err(format!("unknown mode {other}")),
            }
        })
    });
    if let Err(e) = result {
        eprintln!("latency: {e}");
        std::process::exit(1);
    }
}
