//! The `rabbitmq` queue connection with larq alone: the messages larq publishes (the
//! `vladimir-yuldashev/laravel-queue-rabbitmq` format), a worker that drains, releases and fails
//! through the broker, twenty `kill -9`s that lose nothing, and the broker closing every
//! connection under a running worker. Each test has a vhost of its own ([`Vhost`]).
//! `rabbitmq_php.rs` shares queues with the real Laravel app.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use larq::dispatch::{Dispatcher, PendingJob};
use larq::queue::{Queue, RabbitMqQueue, RabbitMqQueueOptions};

use crate::support::bins;
use crate::support::rabbitmq::Vhost;
use crate::support::wait::{wait_exit, wait_for};

/// A dispatcher on the vhost's `rabbitmq` connection, as `larq dispatch` makes it.
fn dispatcher(vhost: &Vhost) -> Dispatcher {
    let queue = RabbitMqQueue::new(vhost.endpoint(), 1, RabbitMqQueueOptions::default());
    Dispatcher::for_queue(Arc::new(Queue::from(queue)), "default").with_laravel_version(8)
}

async fn dispatch_some_jobs(d: &Dispatcher, from: i64, to: i64) -> Vec<String> {
    let mut uuids = Vec::new();
    for n in from..to {
        let job = PendingJob::with_class(
            "App\\Jobs\\SomeJob",
            &serde_json::json!({"userId": n, "someParam": format!("p{n}")}),
        )
        .unwrap();
        uuids.push(d.dispatch(job).await.unwrap().uuid);
    }
    uuids
}

/// The recording backend's runs: (class, uuid, attempts, userId) per line.
fn runs(file: &Path) -> Vec<(String, String, i64, i64)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["class"].as_str().unwrap_or("").to_owned(),
                v["uuid"].as_str().unwrap_or("").to_owned(),
                v["attempts"].as_i64().unwrap_or(-1),
                v["userId"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// `recording_backend work` on the vhost, with a SQLite failed_jobs and the file cache store
/// in `dir`.
fn worker(vhost: &Vhost, dir: &Path, args: &[&str]) -> Child {
    let db = dir.join("app.sqlite");
    if !db.exists() {
        std::fs::write(&db, b"").unwrap();
    }
    bins::command(bins::recording_backend())
        .arg("work")
        .args(["--create-failed-table", "--sleep", "1"])
        .args(args)
        .envs(vhost.env())
        .env("DB_CONNECTION", "sqlite")
        .env("DB_DATABASE", &db)
        .env("CACHE_DRIVER", "file")
        .env("LARQ_CACHE_FILE_PATH", dir.join("cache"))
        .env("LARQ_RECORD_FILE", dir.join("runs.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the recording backend")
}

fn stderr_of(mut child: Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    let _ = child.wait();
    s
}

#[tokio::test]
async fn messages_carry_the_packages_properties_and_header() {
    let Some(vhost) = Vhost::new("format") else {
        return;
    };
    let d = dispatcher(&vhost);
    let sent = d
        .dispatch(
            PendingJob::with_class(
                "App\\Jobs\\SomeJob",
                &serde_json::json!({"userId": 1, "someParam": "x"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&sent.payload).unwrap();
    assert!(payload.get("attempts").is_none(), "{payload}");
    let id = payload["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a uuid, as the package's getRandomId: {id}");
    assert_ne!(id, payload["uuid"].as_str().unwrap());

    let link = larq::amqp::AmqpLink::new(vhost.endpoint(), 1);
    let s = link.session().await.unwrap();
    s.consume("default", "format-test").await.unwrap();
    assert!(s.wait(Duration::from_secs(5)).await);
    let got = s.take("default", 1).pop().unwrap();
    assert_eq!(
        got.data,
        sent.payload.as_bytes(),
        "the body is the payload, byte for byte"
    );
    let p = &got.properties;
    assert_eq!(
        p.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(p.correlation_id().as_ref().unwrap().as_str(), id);
    let headers = p.headers().as_ref().unwrap();
    let laravel = match headers.inner().get("laravel") {
        Some(lapin::types::AMQPValue::FieldTable(t)) => t.clone(),
        other => panic!("laravel header: {other:?}"),
    };
    assert_eq!(
        laravel.inner().get("attempts"),
        Some(&lapin::types::AMQPValue::LongInt(0)),
        "php-amqplib writes a PHP int as I (int32)"
    );
    link.close().await;

    // A delayed job waits in `<queue>.delay.<ms>` and comes back by the dead-letter route.
    d.dispatch(
        PendingJob::with_class(
            "App\\Jobs\\SomeJob",
            &serde_json::json!({"userId": 2, "someParam": "late"}),
        )
        .unwrap()
        .delay(1),
    )
    .await
    .unwrap();
    let q = vhost.queues();
    assert_eq!(q.get("default.delay.1000"), Some(&(1, 0)), "{q:?}");
    assert!(
        wait_for(Duration::from_secs(10), || vhost
            .queues()
            .get("default")
            .is_some_and(|(ready, _)| *ready == 2)),
        "the delayed job reached the queue: {:?}",
        vhost.queues()
    );
}

#[tokio::test]
async fn larq_drains_releases_and_fails_through_the_broker() {
    let Some(vhost) = Vhost::new("drain") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&vhost);
    let uuids = dispatch_some_jobs(&d, 0, 300).await;
    let failing = d
        .dispatch(
            PendingJob::with_class("App\\Jobs\\FailingJob", &serde_json::json!({"n": 7}))
                .unwrap()
                .tries(3)
                .backoff([1]),
        )
        .await
        .unwrap();
    let mut child = worker(&vhost, dir.path(), &["--concurrency", "4"]);
    let file = dir.path().join("runs.jsonl");
    let done = wait_for(Duration::from_secs(60), || {
        let r = runs(&file);
        r.iter().filter(|r| r.0.ends_with("FailingJob")).count() >= 3
            && r.iter().filter(|r| r.0.ends_with("SomeJob")).count() >= 300
    });
    // Let the third failure's row and reject land, then stop as a supervisor would.
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let err = stderr_of(child);
    assert!(done, "not everything ran: {:?}\n{err}", runs(&file).len());
    assert!(status.is_some_and(|s| s.success()), "{err}");

    let r = runs(&file);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for run in r.iter().filter(|r| r.0.ends_with("SomeJob")) {
        assert_eq!(run.2, 1, "first attempt: {run:?}");
        *seen.entry(run.1.as_str()).or_default() += 1;
    }
    assert_eq!(seen.len(), 300);
    assert!(uuids.iter().all(|u| seen.get(u.as_str()) == Some(&1)));
    let attempts: Vec<i64> = r
        .iter()
        .filter(|r| r.0.ends_with("FailingJob"))
        .map(|r| r.2)
        .collect();
    assert_eq!(
        attempts,
        [1, 2, 3],
        "released twice with the header counted"
    );

    // The failed_jobs row, on the rabbitmq connection; the message was rejected, not kept.
    let out = bins::command(bins::recording_backend())
        .args(["failed", "list"])
        .envs(vhost.env())
        .env("DB_CONNECTION", "sqlite")
        .env("DB_DATABASE", dir.path().join("app.sqlite"))
        .env("COLUMNS", "300")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    let line = listed
        .lines()
        .find(|l| l.contains(&failing.uuid))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        line.contains("rabbitmq") && line.contains("default"),
        "{line}"
    );
    let q = vhost.queues();
    assert_eq!(q.get("default"), Some(&(0, 0)), "{q:?}");
}

#[tokio::test]
async fn twenty_kill_9s_lose_nothing() {
    let Some(vhost) = Vhost::new("kill9") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&vhost);
    const JOBS: i64 = 6_000;
    const CONCURRENCY: usize = 8;
    let uuids = dispatch_some_jobs(&d, 0, JOBS).await;
    let file = dir.path().join("runs.jsonl");
    let mut rng = crate::support::rng::Rng(15);
    let mut kills = 0;
    for _ in 0..20 {
        let before = runs(&file).len();
        let mut child = worker(
            &vhost,
            dir.path(),
            &["--concurrency", &CONCURRENCY.to_string()],
        );
        // Kill mid-run: once this worker has run some jobs, after a random extra moment.
        wait_for(Duration::from_secs(20), || runs(&file).len() > before + 20);
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
        if runs(&file).len() as i64 >= JOBS {
            break;
        }
    }
    let mut last = worker(
        &vhost,
        dir.path(),
        &["--concurrency", "8", "--stop-when-empty"],
    );
    let status = wait_exit(&mut last, Duration::from_secs(120));
    let err = stderr_of(last);
    assert!(status.is_some_and(|s| s.success()), "{err}");

    let r = runs(&file);
    let mut count: HashMap<&str, i64> = HashMap::new();
    for run in &r {
        *count.entry(run.1.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = uuids
        .iter()
        .filter(|u| !count.contains_key(u.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} jobs lost after {kills} kills",
        missing.len()
    );
    let repeats: i64 = count.values().map(|c| c - 1).sum();
    // Only deliveries unacknowledged at a kill come back: at most the prefetch per kill.
    assert!(
        repeats <= kills * CONCURRENCY as i64,
        "{repeats} repeats after {kills} kills of a worker holding at most {CONCURRENCY}"
    );
    // A crash is not an attempt on this driver (the package's rule: the header only grows
    // on a release), so every run says attempt 1.
    assert!(r.iter().all(|run| run.2 == 1));
    assert!(
        kills >= 10,
        "the queue drained before enough kills: {kills}"
    );
    eprintln!("{kills} kills, {repeats} repeats, {} jobs", uuids.len());
    let q = vhost.queues();
    assert_eq!(q.get("default"), Some(&(0, 0)), "{q:?}");
}

#[tokio::test]
async fn the_broker_closing_every_connection_does_not_stop_the_worker() {
    let Some(vhost) = Vhost::new("close") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&vhost);
    const JOBS: i64 = 6_000;
    let uuids = dispatch_some_jobs(&d, 0, JOBS).await;
    drop(d);
    let file = dir.path().join("runs.jsonl");
    let mut child = worker(
        &vhost,
        dir.path(),
        &["--concurrency", "4", "--stop-when-empty"],
    );
    assert!(wait_for(Duration::from_secs(30), || runs(&file).len() > 300));
    vhost.close_all_connections();
    let closed_at = runs(&file).len();
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let err = stderr_of(child);
    assert!(status.is_some_and(|s| s.success()), "{err}");
    assert!(
        (closed_at as i64) < JOBS,
        "the connections were closed after the queue drained"
    );
    let r = runs(&file);
    let ran: std::collections::HashSet<&str> = r.iter().map(|r| r.1.as_str()).collect();
    assert!(
        uuids.iter().all(|u| ran.contains(u.as_str())),
        "{} of {JOBS} ran; queues {:?}\n{err}",
        ran.len(),
        vhost.queues()
    );
    assert_eq!(
        err.matches("the RabbitMQ connection broke").count(),
        1,
        "the break is said once:\n{err}"
    );
    assert!(err.contains("reconnected to RabbitMQ"), "{err}");
    let q = vhost.queues();
    assert_eq!(q.get("default"), Some(&(0, 0)), "{q:?}");
}

/// `queue:pause` (12+) on the rabbitmq connection: the worker takes nothing from the paused queue
/// and does not spin on the deliveries its consumer already holds; `resume` lets them run.
#[tokio::test]
async fn a_paused_rabbitmq_queue_is_left_alone_without_spinning() {
    let Some(vhost) = Vhost::new("pause") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&vhost);
    dispatch_some_jobs(&d, 0, 5).await;
    let cache = dir.path().join("cache");
    let larq = |args: &[&str]| {
        let out = bins::command(bins::recording_backend())
            .args(args)
            .envs(vhost.env())
            .env("LARQ_LARAVEL_VERSION", "13")
            .env("CACHE_STORE", "file")
            .env("LARQ_CACHE_FILE_PATH", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    larq(&["pause", "rabbitmq:default"]);
    let db = dir.path().join("app.sqlite");
    std::fs::write(&db, b"").unwrap();
    let mut child = bins::command(bins::recording_backend())
        .args([
            "work",
            "--sleep",
            "1",
            "--concurrency",
            "2",
            "--create-failed-table",
        ])
        .envs(vhost.env())
        .env("LARQ_LARAVEL_VERSION", "13")
        .env("CACHE_STORE", "file")
        .env("LARQ_CACHE_FILE_PATH", &cache)
        .env("DB_CONNECTION", "sqlite")
        .env("DB_DATABASE", &db)
        .env("LARQ_RECORD_FILE", dir.path().join("runs.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = dir.path().join("runs.jsonl");
    std::thread::sleep(Duration::from_secs(4));
    let ticks = cpu_ticks(child.id());
    assert!(runs(&file).is_empty(), "a paused queue ran jobs");
    // A spinning loop would burn ~4 s; polling once a second costs a few hundredths.
    assert!(
        ticks < 100,
        "the paused worker used {ticks} CPU ticks in 4 s"
    );
    larq(&["resume", "rabbitmq:default"]);
    let ran = wait_for(Duration::from_secs(20), || runs(&file).len() == 5);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_exit(&mut child, Duration::from_secs(20));
    let err = stderr_of(child);
    assert!(ran, "resumed jobs ran: {}\n{err}", runs(&file).len());
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

// ---- in-process workers on the library API ---------------------------------------------------

mod in_process {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use larq::amqp::AmqpEndpoint;
    use larq::queue::{Queue, RabbitMqQueue, RabbitMqQueueOptions};
    use larq::worker::Worker;

    use crate::support::ports::fresh_port;
    use crate::support::probe::{self, records, run_until};
    use crate::support::rabbitmq::Vhost;

    fn queue_on(endpoint: AmqpEndpoint, prefetch: u16) -> Queue {
        Queue::from(RabbitMqQueue::new(
            endpoint,
            prefetch,
            RabbitMqQueueOptions::default(),
        ))
    }

    /// A probe payload in the package's shape (no `attempts` in the body).
    fn probe(tag: &str, n: i64, mode: &str, secs: f64, timeout: Option<i64>) -> String {
        probe::probe(tag, n, mode, secs, |p| {
            p.attempts = None;
            p.max_tries = Some(3);
            p.timeout = timeout;
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_job_comes_back_at_once_with_the_attempt_counted() {
        let Some(vhost) = Vhost::new("timeout") else {
            return;
        };
        let q = queue_on(vhost.endpoint(), 2);
        q.push(
            "default",
            probe("rmq-timeout", 1, "sleep_first", 30.0, Some(1)).as_bytes(),
        )
        .await
        .unwrap();
        let worker = Worker::builder(q, probe::registry())
            .options(larq::worker::WorkerOptions {
                stop_when_empty: false,
                ..probe::options()
            })
            .build();
        run_until(worker, Duration::from_secs(30), || {
            records("rmq-timeout").iter().any(|r| r.event == "done")
        })
        .await;
        let r = records("rmq-timeout");
        let starts: Vec<i64> = r
            .iter()
            .filter(|r| r.event == "start")
            .map(|r| r.attempts)
            .collect();
        assert_eq!(starts, [1, 2], "timed out on 1, ran again as 2: {r:?}");
        assert!(r.iter().any(|r| r.event == "done" && r.attempts == 2));
        assert_eq!(vhost.queues().get("default"), Some(&(0, 0)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queues_are_taken_in_priority_order_and_a_panic_is_a_failure() {
        let Some(vhost) = Vhost::new("priority") else {
            return;
        };
        // What `App::worker` asks for with two queues and --concurrency 1.
        let q = queue_on(vhost.endpoint(), 2);
        for n in 0..20 {
            q.push("low", probe("rmq-prio", n, "ok", 0.0, None).as_bytes())
                .await
                .unwrap();
        }
        for n in 100..120 {
            q.push("high", probe("rmq-prio", n, "ok", 0.0, None).as_bytes())
                .await
                .unwrap();
        }
        q.push(
            "high",
            probe("rmq-prio", 999, "panic", 0.0, None).as_bytes(),
        )
        .await
        .unwrap();
        let worker = Worker::builder(q, probe::registry())
            .options(larq::worker::WorkerOptions {
                queues: vec!["high".into(), "low".into()],
                ..probe::options()
            })
            .build();
        run_until(worker, Duration::from_secs(30), || {
            records("rmq-prio")
                .iter()
                .filter(|r| r.event == "done")
                .count()
                >= 40
        })
        .await;
        let order: Vec<i64> = records("rmq-prio")
            .iter()
            .filter(|r| r.event == "done")
            .map(|r| r.n)
            .collect();
        assert_eq!(order.len(), 40, "{order:?}");
        assert!(
            order[..20].iter().all(|n| *n >= 100),
            "high first: {order:?}"
        );
        // The panicking job ran 3 times (tries 3, released in between), then was rejected.
        let panics = records("rmq-prio")
            .iter()
            .filter(|r| r.n == 999 && r.event == "start")
            .count();
        assert_eq!(panics, 3);
        let queues = vhost.queues();
        assert_eq!(queues.get("high"), Some(&(0, 0)), "{queues:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queue_deleted_under_the_worker_is_declared_again_and_worked() {
        let Some(vhost) = Vhost::new("deleted") else {
            return;
        };
        let q = queue_on(vhost.endpoint(), 2);
        q.push(
            "default",
            probe("rmq-deleted", 1, "ok", 0.0, None).as_bytes(),
        )
        .await
        .unwrap();
        let pusher = queue_on(vhost.endpoint(), 1);
        let worker = Worker::builder(q, probe::registry())
            .options(larq::worker::WorkerOptions {
                stop_when_empty: false,
                ..probe::options()
            })
            .build();
        let handle = worker.handle();
        let task = tokio::spawn(worker.run());
        assert!(crate::support::wait::wait_for(
            Duration::from_secs(20),
            || !records("rmq-deleted").is_empty()
        ));
        // The broker cancels the consumer of a deleted queue: the worker must notice, not sit
        // on a dead consumer.
        let out = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", "-p", &vhost.name, "default"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        std::thread::sleep(Duration::from_millis(500));
        pusher
            .push(
                "default",
                probe("rmq-deleted", 2, "ok", 0.0, None).as_bytes(),
            )
            .await
            .unwrap();
        let ran = crate::support::wait::wait_for(Duration::from_secs(20), || {
            records("rmq-deleted")
                .iter()
                .any(|r| r.n == 2 && r.event == "done")
        });
        handle.stop();
        task.await.unwrap().unwrap();
        assert!(ran, "the job pushed after the delete ran");
    }

    /// With one slot busy on a long job and `--sleep 3`, a job that arrives runs at once in the
    /// free slot: the wait for a finished job also ends on a delivery.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_wakes_a_partly_busy_worker() {
        let Some(vhost) = Vhost::new("wake") else {
            return;
        };
        let q = queue_on(vhost.endpoint(), 2);
        let pusher = queue_on(vhost.endpoint(), 1);
        q.push(
            "default",
            probe("rmq-wake", 1, "sleep", 6.0, None).as_bytes(),
        )
        .await
        .unwrap();
        let worker = Worker::builder(q, probe::registry())
            .options(larq::worker::WorkerOptions {
                stop_when_empty: false,
                concurrency: 2,
                sleep: Duration::from_secs(3),
                ..probe::options()
            })
            .build();
        let handle = worker.handle();
        let task = tokio::spawn(worker.run());
        assert!(crate::support::wait::wait_for(
            Duration::from_secs(20),
            || { !records("rmq-wake").is_empty() }
        ));
        // Let the loop settle into its wait (found the queue empty with a slot free).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pushed = std::time::Instant::now();
        pusher
            .push("default", probe("rmq-wake", 2, "ok", 0.0, None).as_bytes())
            .await
            .unwrap();
        let ran = crate::support::wait::wait_for(Duration::from_secs(10), || {
            records("rmq-wake")
                .iter()
                .any(|r| r.n == 2 && r.event == "done")
        });
        let took = pushed.elapsed();
        handle.stop();
        task.await.unwrap().unwrap();
        assert!(ran);
        assert!(
            took < Duration::from_millis(1500),
            "the second job waited {took:?} (--sleep is 3 s, the first job 6 s)"
        );
    }

    /// A TCP relay between larq and the broker whose open connections can be cut silently
    /// (forward nothing, close nothing, forever), as a dead NAT entry or a hung peer does;
    /// connections made after the cut work.
    struct Relay {
        port: u16,
        cuts: Arc<AtomicU64>,
    }

    impl Relay {
        fn start(to: u16) -> Relay {
            let port = fresh_port();
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            let cuts = Arc::new(AtomicU64::new(0));
            let s = Arc::clone(&cuts);
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    let born = s.load(Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                        continue;
                    };
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        let s = Arc::clone(&s);
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            let mut dead = false;
                            loop {
                                let Ok(n) = from.read(&mut buf) else { return };
                                // Once the line went silent, this connection stays dead: bytes
                                // are swallowed and its sockets are never closed (leaked), so
                                // the client can learn of it only from missing heartbeats.
                                dead |= s.load(Ordering::SeqCst) > born;
                                if dead {
                                    if n == 0 {
                                        std::mem::forget(from);
                                        std::mem::forget(to);
                                        return;
                                    }
                                    continue;
                                }
                                if n == 0 {
                                    let _ = to.shutdown(std::net::Shutdown::Write);
                                    return;
                                }
                                if to.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        });
                    }
                }
            });
            Relay { port, cuts }
        }

        fn cut(&self) {
            self.cuts.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missed_heartbeats_end_the_session_and_the_worker_reconnects() {
        let Some(vhost) = Vhost::new("heartbeat") else {
            return;
        };
        let relay = Relay::start(5672);
        // Heartbeats every second through the relay.
        let endpoint = AmqpEndpoint::new(
            "127.0.0.1",
            relay.port,
            "guest",
            "guest",
            &vhost.name,
            false,
            1,
        );
        let q = queue_on(endpoint, 2);
        q.push("default", probe("rmq-hb", 1, "ok", 0.0, None).as_bytes())
            .await
            .unwrap();
        let direct = queue_on(vhost.endpoint(), 1);
        let worker = Worker::builder(q, probe::registry())
            .options(larq::worker::WorkerOptions {
                stop_when_empty: false,
                ..probe::options()
            })
            .build();
        let handle = worker.handle();
        let task = tokio::spawn(worker.run());
        assert!(crate::support::wait::wait_for(
            Duration::from_secs(20),
            || { !records("rmq-hb").is_empty() }
        ));
        // The line goes silent: nothing closes, only heartbeats stop arriving. New connections
        // through the relay work; the old one stays dead.
        relay.cut();
        let cut_at = std::time::Instant::now();
        direct
            .push("default", probe("rmq-hb", 2, "ok", 0.0, None).as_bytes())
            .await
            .unwrap();
        let ran = crate::support::wait::wait_for(Duration::from_secs(30), || {
            records("rmq-hb")
                .iter()
                .any(|r| r.n == 2 && r.event == "done")
        });
        let noticed_after = cut_at.elapsed();
        handle.stop();
        task.await.unwrap().unwrap();
        assert!(
            ran,
            "the job pushed after the line went silent ran: the dead session was noticed"
        );
        // Through the dead line alone nothing could arrive: the job ran on a new session,
        // opened once heartbeats were missed (about two intervals of 1 s).
        assert!(
            noticed_after >= Duration::from_millis(900),
            "too fast for a heartbeat timeout ({noticed_after:?}): did the cut work?"
        );
        eprintln!("missed heartbeats noticed; the job ran {noticed_after:?} after the cut");
    }
}
