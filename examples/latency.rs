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
//! ```text
//! cargo run --release --example latency -- larq --port 6390 --n 200 --interval-ms 10
//! cargo run --release --example latency -- php --port 6390 --app php-fixtures/app --sleep 3
//! ```
//! Prints one line: `mode=… n=… p50_ms=… p99_ms=… max_ms=…`.

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
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: latency larq|php [--port N] [--n N] [--interval-ms N] [--block-for S] [--app DIR] [--sleep S]")?;
    let mut args = Args {
        mode,
        port: 6379,
        n: 200,
        interval: Duration::from_millis(10),
        block_for: 1,
        app: "php-fixtures/app".to_owned(),
        sleep: "3".to_owned(),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--port" => args.port = value.parse().map_err(bad)?,
            "--n" => args.n = value.parse().map_err(bad)?,
            "--interval-ms" => args.interval = Duration::from_millis(value.parse().map_err(bad)?),
            "--block-for" => args.block_for = value.parse().map_err(bad)?,
            "--app" => args.app = value,
            "--sleep" => args.sleep = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn report(mode: &str, mut ms: Vec<f64>, expected: usize) {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if ms.is_empty() {
            f64::NAN
        } else {
            ms[((ms.len() as f64 - 1.0) * q).round() as usize]
        }
    };
    println!(
        "mode={mode} n={}/{expected} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        ms.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
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

fn main() {
    let result = parse_args().and_then(|args| {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(async {
            match args.mode.as_str() {
                "larq" => run_larq(&args).await,
                "php" => run_php(&args).await,
                other => Err(format!("unknown mode {other}")),
            }
        })
    });
    if let Err(e) = result {
        eprintln!("latency: {e}");
        std::process::exit(1);
    }
}
