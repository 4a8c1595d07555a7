//! Plain task queues ([`larq::task`]) on the shared broker: `examples/task_backend.rs` consumes
//! what `php-fixtures/bin/publish-task` (php-amqplib) or the test itself publishes, and the test
//! reads back the runs it recorded, the replies, the parked and dead-lettered tasks. Each test
//! has a vhost of its own ([`Vhost`]); the backend's handlers are `double` (JSON: doubles `n`,
//! fails, panics or sleeps on request) and `bytes` (raw).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use larq::amqp::{self, AmqpLink};
use serde_json::Value as Json;

use crate::support::php::php_available;
use crate::support::rabbitmq::Vhost;
use crate::support::wait::{wait_exit, wait_for};

/// `examples/task_backend.rs`, built once per test process (`cargo test --test` does not build
/// examples).
fn task_backend() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
                .expect("the test binary lives in target/<profile>/deps");
            let release = dir.file_name() == Some("release".as_ref());
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--example", "task_backend"])
                .args(release.then_some("--release"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build --example task_backend");
            assert!(
                status.success(),
                "cargo build --example task_backend failed"
            );
            dir.join("examples").join("task_backend")
        })
        .clone()
}

/// A vhost, and PHP with php-amqplib for the producer; `None` (a skip) outside CI when either
/// is missing, a failure under `CI=true`.
fn setup(tag: &str, with_php: bool) -> Option<(Vhost, tempfile::TempDir)> {
    if with_php {
        if !php_available() {
            return None;
        }
        if !Path::new("/usr/share/php/PhpAmqpLib/autoload.php").exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("php-amqplib is missing, and CI=true: apt-get install php-amqplib");
            }
            eprintln!("notice: php-amqplib missing; skipping a task-queue test (it would fail under CI=true)");
            return None;
        }
    }
    let vhost = Vhost::new(tag)?;
    Some((vhost, tempfile::tempdir().unwrap()))
}

/// The task backend running on a vhost; killed on drop if still running.
struct Backend {
    child: Option<Child>,
    log: PathBuf,
}

impl Backend {
    /// Start it with `env` (TASK_* options) and wait until it consumes.
    fn start(vhost: &Vhost, dir: &Path, name: &str, env: &[(&str, &str)]) -> Backend {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(task_backend())
            .envs(vhost.env())
            .env("TASK_RECORD_FILE", dir.join("runs.jsonl"))
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn the task backend");
        let mut b = Backend {
            child: Some(child),
            log,
        };
        let consuming = wait_for(Duration::from_secs(30), || {
            b.log().contains("consuming task queues") || b.exited()
        });
        assert!(
            consuming && !b.exited(),
            "the task backend did not start consuming:\n{}",
            b.log()
        );
        b
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// SIGTERM, then its exit status within `limit` (killed and `None` if it hangs).
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take()?;
        wait_exit(&mut child, limit)
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One recorded run of a handler.
#[derive(Debug, Clone)]
struct Run {
    queue: String,
    task: Json,
    attempt: u64,
    correlation_id: Option<String>,
    redelivered: bool,
    pid: u64,
    at_ms: u64,
}

fn runs(dir: &Path) -> Vec<Run> {
    std::fs::read_to_string(dir.join("runs.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .map(|v| Run {
            queue: v["queue"].as_str().unwrap_or("").to_owned(),
            task: v["task"].clone(),
            attempt: v["attempt"].as_u64().unwrap_or(0),
            correlation_id: v["correlation_id"].as_str().map(str::to_owned),
            redelivered: v["redelivered"].as_bool().unwrap_or(false),
            pid: v["pid"].as_u64().unwrap_or(0),
            at_ms: v["at_ms"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// `php-fixtures/bin/publish-task` on the vhost; its JSON lines. Panics when it fails.
fn publish_task(vhost: &Vhost, args: &[&str]) -> Vec<Json> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/bin/publish-task");
    let out = Command::new("php")
        .arg(script)
        .args(args)
        .envs(vhost.env())
        .output()
        .expect("run publish-task");
    assert!(
        out.status.success(),
        "publish-task {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("publish-task prints JSON lines"))
        .collect()
}

/// Replies read back by publish-task: correlation id → the decoded reply.
fn replies_of(lines: &[Json]) -> Vec<(String, Json)> {
    lines
        .iter()
        .filter(|l| l.get("seq").is_none())
        .map(|l| {
            let body: Json =
                serde_json::from_str(l["body"].as_str().unwrap()).expect("a reply is JSON");
            (l["correlation_id"].as_str().unwrap_or("").to_owned(), body)
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every message now in `queue`, taken (acknowledged) from the broker.
fn drain(vhost: &Vhost, queue: &str) -> Vec<lapin::message::Delivery> {
    runtime().block_on(async {
        let link = AmqpLink::new(vhost.endpoint(), 1);
        let s = link.session().await.unwrap();
        let mut out = Vec::new();
        while let Some(d) = s.get(queue).await.unwrap() {
            out.push(d);
        }
        link.close().await;
        out
    })
}

/// Publish `bodies` to `queue` from Rust (declaring `reply_to` durable when given), each with
/// correlation id `c-<i>`.
fn publish_rust(vhost: &Vhost, queue: &str, bodies: &[&str], reply_to: Option<&str>) {
    runtime().block_on(async {
        let link = AmqpLink::new(vhost.endpoint(), 1);
        let s = link.session().await.unwrap();
        if let Some(r) = reply_to {
            s.declare_queue(r, &FieldTable::default()).await.unwrap();
        }
        for (i, body) in bodies.iter().enumerate() {
            let mut props = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_correlation_id(format!("c-{i}").as_str().into());
            if let Some(r) = reply_to {
                props = props.with_reply_to(r.into());
            }
            s.publish("", queue, body.as_bytes(), props).await.unwrap();
        }
        link.close().await;
    });
}

fn header<'a>(d: &'a lapin::message::Delivery, name: &str) -> Option<&'a AMQPValue> {
    d.properties.headers().as_ref()?.inner().get(name)
}

fn header_str(d: &lapin::message::Delivery, name: &str) -> String {
    match header(d, name) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_owned(),
        other => panic!("header {name}: {other:?}"),
    }
}

fn ready(vhost: &Vhost, queue: &str) -> (u64, u64) {
    vhost.queues().get(queue).copied().unwrap_or((0, 0))
}

#[test]
fn php_producer_tasks_each_run_once_and_every_reply_matches_its_correlation_id() {
    let Some((vhost, dir)) = setup("tasks-php", true) else {
        return;
    };
    let _worker = Backend::start(&vhost, dir.path(), "w", &[("TASK_CONCURRENCY", "8")]);
    let n = 300;
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq}}",
            &format!("--count={n}"),
            "--reply-to=replies",
            "--correlation-id=task-{seq}",
            "--wait-replies",
            "--timeout=60",
        ],
    );
    let published: HashMap<String, i64> = lines
        .iter()
        .filter(|l| l.get("seq").is_some())
        .map(|l| {
            (
                l["correlation_id"].as_str().unwrap().to_owned(),
                l["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(published.len(), n);
    let replies = replies_of(&lines);
    assert_eq!(replies.len(), n, "one reply per task");
    let mut answered = HashSet::new();
    for (id, reply) in &replies {
        let seq = published[id];
        assert_eq!(
            reply,
            &serde_json::json!({"status": "done", "result": {"n": seq, "doubled": seq * 2}, "attempts": 1}),
            "the reply for {id}"
        );
        assert!(answered.insert(id.clone()), "{id} answered twice");
    }
    let runs = runs(dir.path());
    let mut per_n: BTreeMap<i64, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        per_n
            .entry(r.task["n"].as_i64().unwrap())
            .or_default()
            .push(r);
    }
    assert_eq!(per_n.len(), n, "every task ran");
    for (seq, rs) in &per_n {
        assert_eq!(rs.len(), 1, "task {seq} ran {} times", rs.len());
        assert_eq!(
            rs[0].correlation_id.as_deref(),
            Some(format!("task-{seq}").as_str())
        );
        assert_eq!((rs[0].attempt, rs[0].redelivered), (1, false));
    }
    assert_eq!(ready(&vhost, "double"), (0, 0));
}

#[test]
fn a_raw_handler_gets_the_body_as_published() {
    let Some((vhost, dir)) = setup("tasks-raw", true) else {
        return;
    };
    let _worker = Backend::start(&vhost, dir.path(), "w", &[]);
    let lines = publish_task(
        &vhost,
        &[
            "--queue=bytes",
            "--body=not json at all {seq}",
            "--content-type=application/octet-stream",
            "--count=3",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    let replies = replies_of(&lines);
    assert_eq!(replies.len(), 3);
    for (_, reply) in replies {
        assert_eq!(reply["status"], "done");
        assert_eq!(reply["result"]["len"], "not json at all 1".len());
    }
    assert!(runs(dir.path()).iter().all(|r| r.queue == "bytes"));
}

#[test]
fn a_failing_task_on_a_queue_with_a_dead_letter_exchange_is_dead_lettered_after_one_attempt() {
    let Some((vhost, dir)) = setup("tasks-dlx", false) else {
        return;
    };
    let worker = Backend::start(
        &vhost,
        dir.path(),
        "w",
        &[
            ("TASK_DEAD_LETTER", "tasks.dlx"),
            ("TASK_TRIES", "3"),
            ("TASK_BACKOFF", "0"),
        ],
    );
    // larq declared the queue with the dead-letter route, and the dead-letter queue bound to it.
    let args = vhost.queue_arguments("double").to_vec();
    assert!(
        args.iter().any(|a| a.to_string().contains("tasks.dlx")),
        "{args:?}"
    );
    publish_rust(
        &vhost,
        "double",
        &[r#"{"n":7,"fail":true}"#, r#"{"n":8}"#],
        Some("replies"),
    );
    assert!(
        wait_for(Duration::from_secs(20), || ready(&vhost, "double.failed").0
            == 1
            && ready(&vhost, "replies").0 == 2),
        "queues: {:?}\n{}",
        vhost.queues(),
        worker.log()
    );
    let dead = drain(&vhost, "double.failed");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].data, br#"{"n":7,"fail":true}"#);
    let Some(AMQPValue::FieldArray(deaths)) = header(&dead[0], "x-death") else {
        panic!("no x-death: {:?}", dead[0].properties);
    };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else {
        panic!("{deaths:?}");
    };
    let field = |k: &str| match death.inner().get(k) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    };
    assert_eq!(
        (field("reason"), field("queue")),
        ("rejected".into(), "double".into())
    );
    assert!(
        header(&dead[0], "x-larq-attempts").is_none(),
        "rejected as it came"
    );
    let sevens: Vec<_> = runs(dir.path())
        .into_iter()
        .filter(|r| r.task["n"] == 7)
        .collect();
    assert_eq!(sevens.len(), 1, "one attempt, not the tries: {sevens:?}");
    let replies: HashMap<String, Json> = drain(&vhost, "replies")
        .iter()
        .map(|d| {
            (
                d.properties.correlation_id().as_ref().unwrap().to_string(),
                serde_json::from_slice(&d.data).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        replies["c-0"],
        serde_json::json!({"status": "failed", "result": null,
            "error": {"kind": "handler", "message": "told to fail on 7"}, "attempts": 1})
    );
    assert_eq!(replies["c-1"]["status"], "done");
    assert!(worker
        .log()
        .contains("rejected to the queue's dead-letter exchange"));
}

#[test]
fn with_a_dead_letter_policy_php_tasks_that_fail_are_dead_lettered() {
    let Some((vhost, dir)) = setup("tasks-policy", true) else {
        return;
    };
    // The team's topology: a policy gives `double` its dead-letter route, to a queue of theirs.
    runtime().block_on(async {
        let link = AmqpLink::new(vhost.endpoint(), 1);
        let s = link.session().await.unwrap();
        s.declare_exchange("team.dlx", "fanout").await.unwrap();
        s.declare_queue("team.dead", &FieldTable::default())
            .await
            .unwrap();
        s.bind("team.dead", "team.dlx", "").await.unwrap();
        link.close().await;
    });
    let policy = Command::new("rabbitmqctl")
        .args(["-q", "set_policy", "-p", &vhost.name, "dlx", "^double$"])
        .arg(r#"{"dead-letter-exchange":"team.dlx"}"#)
        .args(["--apply-to", "queues"])
        .status()
        .unwrap();
    assert!(policy.success());
    let worker = Backend::start(
        &vhost,
        dir.path(),
        "w",
        &[("TASK_DEAD_LETTER", "policy"), ("TASK_TRIES", "3")],
    );
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq},\"fail\":true}",
            "--count=3",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    for (_, reply) in replies_of(&lines) {
        assert_eq!(reply["status"], "failed");
        assert_eq!(reply["attempts"], 1);
    }
    assert!(
        wait_for(Duration::from_secs(10), || ready(&vhost, "team.dead").0
            == 3),
        "{:?}\n{}",
        vhost.queues(),
        worker.log()
    );
    assert_eq!(runs(dir.path()).len(), 3, "each failed once");
    assert!(
        !vhost.queues().contains_key("double.failed"),
        "nothing parked by larq"
    );
}

#[test]
fn without_a_dead_letter_exchange_a_failing_task_is_retried_tries_times_with_backoff_then_parked() {
    let Some((vhost, dir)) = setup("tasks-retry", true) else {
        return;
    };
    let worker = Backend::start(
        &vhost,
        dir.path(),
        "w",
        &[("TASK_TRIES", "3"), ("TASK_BACKOFF", "1,2")],
    );
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq},\"fail\":true}",
            "--start=40",
            "--correlation-id=retry-{seq}",
            "--header=x-team:kept",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    let replies = replies_of(&lines);
    assert_eq!(
        replies,
        vec![(
            "retry-40".to_owned(),
            serde_json::json!({"status": "failed", "result": null,
                "error": {"kind": "handler", "message": "told to fail on 40"}, "attempts": 3})
        )],
        "one reply, when the task is out of tries"
    );
    let runs = runs(dir.path());
    assert_eq!(
        runs.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(runs
        .iter()
        .all(|r| r.correlation_id.as_deref() == Some("retry-40")));
    let gaps: Vec<u64> = runs.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    assert!(
        gaps[0] >= 950 && gaps[1] >= 1950,
        "backoff 1 s then 2 s: {gaps:?}"
    );
    // The waits are the delay queues' TTLs (`double.delay.1000`, `double.delay.2000`); they
    // expire (x-expires, twice the TTL) soon after, so the gaps above are what is left to see.
    let parked = drain(&vhost, "double.failed");
    assert_eq!(parked.len(), 1, "{}", worker.log());
    let p = &parked[0];
    assert_eq!(p.data, br#"{"n":40,"fail":true}"#);
    assert_eq!(
        header(p, "x-larq-attempts").and_then(amqp::int_value),
        Some(3)
    );
    assert_eq!(header_str(p, "x-larq-error"), "told to fail on 40");
    assert_eq!(header_str(p, "x-larq-error-kind"), "handler");
    assert!(header(p, "x-larq-failed-at")
        .and_then(amqp::int_value)
        .is_some());
    assert_eq!(
        header_str(p, "x-team"),
        "kept",
        "the producer's headers stay"
    );
    assert_eq!(
        p.properties.correlation_id().as_ref().map(|c| c.as_str()),
        Some("retry-40")
    );
    assert_eq!(ready(&vhost, "double"), (0, 0));
    let log = worker.log();
    assert_eq!(log.matches("task failed; retrying").count(), 2, "{log}");
    assert!(log.contains("task failed; parked"), "{log}");
}

#[test]
fn a_malformed_body_fails_at_once_with_serdes_message_and_the_worker_goes_on() {
    let Some((vhost, dir)) = setup("tasks-malformed", true) else {
        return;
    };
    let mut worker = Backend::start(&vhost, dir.path(), "w", &[("TASK_TRIES", "3")]);
    let mut replies = Vec::new();
    for body in [r#"{"n":"x"}"#, "not json", r#"{"n":1"#, r#"{"n":5}"#] {
        let lines = publish_task(
            &vhost,
            &[
                "--queue=double",
                &format!("--body={body}"),
                "--reply-to=replies",
                "--wait-replies",
                "--timeout=30",
            ],
        );
        replies.extend(replies_of(&lines).into_iter().map(|(_, r)| r));
    }
    let expected = [
        "the body's JSON does not fit (decoding task_backend::Double): invalid type: string \"x\", expected i64 at line 1 column 8",
        "the body is not JSON (decoding task_backend::Double): expected ident at line 1 column 2",
        "the body ends inside its JSON (decoding task_backend::Double): EOF while parsing an object at line 1 column 6",
    ];
    for (reply, message) in replies.iter().zip(expected) {
        assert_eq!(
            reply,
            &serde_json::json!({"status": "failed", "result": null,
                "error": {"kind": "undecodable", "message": message}, "attempts": 1}),
        );
    }
    assert_eq!(replies[3]["status"], "done");
    assert!(!worker.exited(), "the worker goes on");
    let log = worker.log();
    assert!(log.contains("expected i64 at line 1 column 8"), "{log}");
    assert!(!log.contains("retrying"), "never retried: {log}");
    let parked = drain(&vhost, "double.failed");
    assert_eq!(parked.len(), 3);
    assert_eq!(header_str(&parked[1], "x-larq-error-kind"), "undecodable");
    assert_eq!(
        header(&parked[1], "x-larq-attempts").and_then(amqp::int_value),
        Some(1)
    );
}

#[test]
fn a_panicking_handler_fails_its_task_and_the_worker_keeps_working() {
    let Some((vhost, dir)) = setup("tasks-panic", true) else {
        return;
    };
    let mut worker = Backend::start(
        &vhost,
        dir.path(),
        "w",
        &[
            ("TASK_TRIES", "2"),
            ("TASK_BACKOFF", "0"),
            ("TASK_CONCURRENCY", "4"),
        ],
    );
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq},\"panic\":true}",
            "--start=900",
            "--count=2",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    for (_, reply) in replies_of(&lines) {
        assert_eq!(reply["status"], "failed");
        assert_eq!(reply["attempts"], 2);
        assert_eq!(reply["error"]["kind"], "panic");
        assert!(reply["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the handler panicked: told to panic on 90"));
    }
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq}}",
            "--count=50",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    assert!(replies_of(&lines)
        .iter()
        .all(|(_, r)| r["status"] == "done"));
    assert!(!worker.exited(), "the worker is still up");
    let runs = runs(dir.path());
    assert_eq!(
        runs.iter().filter(|r| r.task["n"] == 900).count(),
        2,
        "tried twice"
    );
    assert_eq!(drain(&vhost, "double.failed").len(), 2);
    assert_eq!(
        worker.terminate(Duration::from_secs(10)).map(|s| s.code()),
        Some(Some(0))
    );
}

#[test]
fn a_task_over_its_timeout_fails_as_timed_out() {
    let Some((vhost, dir)) = setup("tasks-timeout", true) else {
        return;
    };
    let _worker = Backend::start(&vhost, dir.path(), "w", &[("TASK_TIMEOUT_MS", "300")]);
    let lines = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":3,\"sleep_ms\":5000}",
            "--reply-to=replies",
            "--wait-replies",
            "--timeout=30",
        ],
    );
    let replies = replies_of(&lines);
    assert_eq!(replies[0].1["error"]["kind"], "timeout");
    assert_eq!(
        replies[0].1["error"]["message"],
        "the task ran longer than 0.3 s"
    );
    assert_eq!(drain(&vhost, "double.failed").len(), 1);
}

#[test]
fn a_worker_killed_with_sigkill_mid_run_loses_no_task() {
    let Some((vhost, dir)) = setup("tasks-kill", true) else {
        return;
    };
    let n = 200;
    let options = [("TASK_CONCURRENCY", "8")];
    let mut first = Backend::start(&vhost, dir.path(), "first", &options);
    let published = publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq},\"sleep_ms\":40}",
            &format!("--count={n}"),
            "--reply-to=replies",
            "--correlation-id=k-{seq}",
        ],
    );
    assert_eq!(published.len(), n);
    assert!(wait_for(Duration::from_secs(30), || runs(dir.path()).len() >= 60));
    first.kill9();
    let killed_pid = runs(dir.path())[0].pid;
    let before = runs(dir.path()).len();
    assert!(before < n, "killed mid-run ({before} of {n} started)");
    // The broker gives the dead consumer's unacknowledged tasks back.
    assert!(wait_for(Duration::from_secs(10), || ready(
        &vhost, "double"
    )
    .1 == 0));
    let second = Backend::start(&vhost, dir.path(), "second", &options);
    assert!(
        wait_for(Duration::from_secs(60), || ready(&vhost, "double")
            == (0, 0)
            && ready(&vhost, "replies").0 as usize >= n),
        "{:?}\n{}",
        vhost.queues(),
        second.log()
    );
    let runs = runs(dir.path());
    let mut per_n: BTreeMap<i64, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        per_n
            .entry(r.task["n"].as_i64().unwrap())
            .or_default()
            .push(r);
    }
    assert_eq!(per_n.len(), n, "no task lost");
    let repeated: Vec<_> = per_n.iter().filter(|(_, rs)| rs.len() > 1).collect();
    assert!(
        repeated.len() <= 8,
        "only the prefetch held at the kill runs again: {repeated:?}"
    );
    for (seq, rs) in &repeated {
        assert_eq!(rs.len(), 2, "task {seq}");
        assert_eq!(rs[0].pid, killed_pid);
        assert!(rs[1].redelivered, "the repeat of {seq} is a redelivery");
    }
    let replies: Vec<(String, Json)> = drain(&vhost, "replies")
        .iter()
        .map(|d| {
            (
                d.properties.correlation_id().as_ref().unwrap().to_string(),
                serde_json::from_slice(&d.data).unwrap(),
            )
        })
        .collect();
    let ids: HashSet<&str> = replies.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), n, "every task answered");
    assert!(replies.iter().all(|(_, r)| r["status"] == "done"));
    assert!(replies.len() - n <= 8, "{} replies", replies.len());
}

#[test]
fn sigterm_finishes_the_running_tasks_then_closes_the_connection() {
    let Some((vhost, dir)) = setup("tasks-term", true) else {
        return;
    };
    let mut worker = Backend::start(&vhost, dir.path(), "w", &[("TASK_CONCURRENCY", "4")]);
    publish_task(
        &vhost,
        &[
            "--queue=double",
            "--body={\"n\":{seq},\"sleep_ms\":1500}",
            "--count=8",
            "--reply-to=replies",
        ],
    );
    assert!(wait_for(Duration::from_secs(20), || runs(dir.path()).len() == 4));
    let status = worker.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", worker.log());
    assert_eq!(runs(dir.path()).len(), 4, "no new task after the signal");
    assert_eq!(ready(&vhost, "replies").0, 4, "the running four finished");
    assert_eq!(ready(&vhost, "double"), (4, 0), "the rest wait, none held");
    assert!(wait_for(Duration::from_secs(5), || vhost.connections() == 0));
    let log = worker.log();
    assert!(
        log.contains("stopping: waiting for the running tasks"),
        "{log}"
    );
    let _second = Backend::start(&vhost, dir.path(), "second", &[("TASK_CONCURRENCY", "4")]);
    assert!(wait_for(Duration::from_secs(20), || ready(
        &vhost, "replies"
    )
    .0 == 8));
    let runs = runs(dir.path());
    let ns: HashSet<i64> = runs.iter().map(|r| r.task["n"].as_i64().unwrap()).collect();
    assert_eq!((runs.len(), ns.len()), (8, 8), "each ran once");
}

#[test]
fn the_worker_reconnects_when_the_broker_closes_its_connection() {
    let Some((vhost, dir)) = setup("tasks-reconnect", true) else {
        return;
    };
    let mut worker = Backend::start(&vhost, dir.path(), "w", &[("TASK_CONCURRENCY", "4")]);
    let args = |start: &str| {
        vec![
            "--queue=double".to_owned(),
            "--body={\"n\":{seq}}".to_owned(),
            "--count=50".to_owned(),
            format!("--start={start}"),
            "--reply-to=replies".to_owned(),
            "--wait-replies".to_owned(),
            "--timeout=60".to_owned(),
        ]
    };
    let a = args("1");
    let lines = publish_task(&vhost, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(replies_of(&lines).len(), 50);
    vhost.close_all_connections();
    assert!(
        wait_for(Duration::from_secs(20), || vhost.connections() == 1
            && worker.log().matches("consuming task queues").count() == 2),
        "{}",
        worker.log()
    );
    let b = args("51");
    let lines = publish_task(&vhost, &b.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(replies_of(&lines).len(), 50);
    assert!(!worker.exited());
    assert_eq!(runs(dir.path()).len(), 100);
    let log = worker.log();
    assert_eq!(log.matches("reconnected to RabbitMQ").count(), 1, "{log}");
    assert_eq!(vhost.connections(), 1, "the old connection is not kept");
}

#[test]
fn a_queue_declared_without_the_dead_letter_route_stops_the_start_with_the_brokers_refusal() {
    let Some((vhost, dir)) = setup("tasks-refused", false) else {
        return;
    };
    // Someone declared `double` plainly; larq would need it with x-dead-letter-exchange.
    runtime().block_on(async {
        let link = AmqpLink::new(vhost.endpoint(), 1);
        let s = link.session().await.unwrap();
        s.declare_queue("double", &FieldTable::default())
            .await
            .unwrap();
        link.close().await;
    });
    let log = dir.path().join("w.log");
    let mut child = Command::new(task_backend())
        .envs(vhost.env())
        .env("TASK_DEAD_LETTER", "tasks.dlx")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(
        log.contains("cannot set up task queue \"double\"") && log.contains("PRECONDITION_FAILED"),
        "{log}"
    );
    assert_eq!(vhost.connections(), 0);
}
