//! `larq work --metrics`: the real binary against a private redis-server (and a SQLite `jobs`
//! table), scraped over HTTP the way Prometheus and a health probe would.
//!
//! Every scrape is run through [`Exposition::parse`], a strict reader of the text format 0.0.4
//! (HELP/TYPE placement, label escaping, contiguous families, cumulative histogram buckets), and
//! the counters are compared with what the jobs did (the demo handler's record file, failed_jobs).
//!
//! Needs `redis-server`: skipped with a notice without it, a failure under `CI=true`.

use crate::support::bins;
use crate::support::redis_server;
use crate::support::some_job;
use crate::support::wait::wait_for_value;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use redis_server::TestRedis;

// ---- a strict reader of the exposition format ---------------------------------------------------

/// One sample: metric name, labels (unescaped, in order) and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// A parsed and validated scrape.
#[derive(Debug)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|e| format!("value {s:?}: {e}")),
    }
}

/// Label names and unescaped values, in order.
type Labels = Vec<(String, String)>;

/// `{a="x",b="y"} rest` → labels and the text after the closing brace.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        if !labels.is_empty() {
            rest = rest
                .strip_prefix(',')
                .ok_or_else(|| format!("expected , in {s}"))?;
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} twice"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label value")),
                },
                Some((_, '\n')) => return Err("raw newline in label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
    }
}

impl Exposition {
    /// Parse and check the rules of the format; panics with the offending line.
    fn parse(text: &str) -> Exposition {
        assert!(text.ends_with('\n'), "the body must end with a newline");
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        let mut families_done: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            let fail = |why: &str| -> ! { panic!("{why}: {line:?}\n---\n{text}") };
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kw, name, arg) = (parts.next(), parts.next(), parts.next());
                let Some(name) = name else { continue };
                match kw {
                    Some("HELP") => {
                        if !valid_metric_name(name) {
                            fail("bad metric name in HELP");
                        }
                        let help = arg.unwrap_or("");
                        let mut chars = help.chars();
                        while let Some(c) = chars.next() {
                            if c == '\\' && !matches!(chars.next(), Some('\\') | Some('n')) {
                                fail("bad escape in HELP");
                            }
                        }
                        if helps.insert(name.to_owned(), help.to_owned()).is_some() {
                            fail("HELP twice");
                        }
                    }
                    Some("TYPE") => {
                        if !valid_metric_name(name) {
                            fail("bad metric name in TYPE");
                        }
                        let kind = arg.unwrap_or("");
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            fail("unknown type");
                        }
                        if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                            fail("TYPE twice");
                        }
                        if samples
                            .iter()
                            .any(|s: &Sample| family_of(&s.name, &types) == name)
                        {
                            fail("TYPE after samples of its family");
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                fail("empty line or malformed comment");
            }
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| fail("no value"));
            let name = &line[..name_end];
            if !valid_metric_name(name) {
                fail("bad metric name");
            }
            let (labels, rest) = if line[name_end..].starts_with('{') {
                parse_labels(&line[name_end..]).unwrap_or_else(|e| fail(&e))
            } else {
                (Vec::new(), &line[name_end..])
            };
            let rest = rest.strip_prefix(' ').unwrap_or_else(|| fail("no space"));
            let mut fields = rest.split(' ');
            let value = parse_value(fields.next().unwrap_or("")).unwrap_or_else(|e| fail(&e));
            if let Some(ts) = fields.next() {
                ts.parse::<i64>().unwrap_or_else(|_| fail("bad timestamp"));
            }
            if fields.next().is_some() {
                fail("trailing fields");
            }
            let family = family_of(name, &types).to_owned();
            if current.as_deref() != Some(family.as_str()) {
                if families_done.contains(&family) {
                    fail("family samples not contiguous");
                }
                if let Some(done) = current.replace(family.clone()) {
                    families_done.push(done);
                }
            }
            let key = format!("{name}{labels:?}");
            if !seen.insert(key) {
                fail("duplicate series");
            }
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        let e = Exposition { types, samples };
        e.check_histograms(text);
        e
    }

    fn check_histograms(&self, text: &str) {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let le = s
                    .labels
                    .iter()
                    .find(|(n, _)| n == "le")
                    .map(|(_, v)| parse_value(v).unwrap())
                    .unwrap_or_else(|| panic!("bucket without le: {s:?}"));
                let rest: Vec<_> = s.labels.iter().filter(|(n, _)| n != "le").collect();
                series
                    .entry(format!("{rest:?}"))
                    .or_default()
                    .push((le, s.value));
            }
            for (labels, buckets) in series {
                for pair in buckets.windows(2) {
                    assert!(pair[0].0 < pair[1].0, "le not increasing: {labels}\n{text}");
                    assert!(
                        pair[0].1 <= pair[1].1,
                        "buckets not cumulative: {labels}\n{text}"
                    );
                }
                let last = buckets.last().unwrap();
                assert_eq!(last.0, f64::INFINITY, "no +Inf bucket: {labels}");
                let count = self
                    .samples
                    .iter()
                    .find(|s| {
                        s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels
                    })
                    .unwrap_or_else(|| panic!("no _count for {labels}"));
                assert_eq!(count.value, last.1, "+Inf bucket != _count for {labels}");
                assert!(
                    self.samples
                        .iter()
                        .any(|s| s.name == format!("{family}_sum")
                            && format!("{:?}", s.labels) == labels),
                    "no _sum for {labels}"
                );
            }
        }
    }

    /// The value of the sample with exactly these labels (in any order).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(n, w)| n == k && w == v))
            })
            .map(|s| s.value)
    }

    /// The sum of a metric over all its samples.
    fn total(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }
}

/// The family a sample belongs to: a histogram's `_bucket`/`_sum`/`_count` belong to it.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base;
            }
        }
    }
    name
}

#[test]
fn the_checker_rejects_broken_expositions() {
    let ok = "# HELP a_total A \\\\ b.\n# TYPE a_total counter\na_total{class=\"App\\\\X\",q=\"d\\\"q\\n\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    let e = Exposition::parse(ok);
    assert_eq!(
        e.get("a_total", &[("class", "App\\X"), ("q", "d\"q\n")]),
        Some(1.0)
    );
    for bad in [
        "a{l=\"x\\t\"} 1\n",       // bad escape
        "a{l=\"x} 1\n",            // unterminated
        "a{1l=\"x\"} 1\n",         // bad label name
        "a 1\nb 1\na 2\n",         // not contiguous
        "a 1\na 1\n",              // duplicate
        "a one\n",                 // bad value
        "a 1\n# TYPE a counter\n", // TYPE after samples
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "a 1",                                                            // no final newline
    ] {
        let result = std::panic::catch_unwind(|| Exposition::parse(bad));
        assert!(result.is_err(), "accepted: {bad:?}");
    }
}

// ---- the worker under test --------------------------------------------------------------------

/// A port nobody listens on right now.
fn free_port() -> u16 {
    crate::support::ports::fresh_port()
}

/// Send raw bytes, read the whole answer (the server closes); `None` if the connection failed.
fn http_raw(port: u16, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(request).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8(answer).expect("utf-8 response");
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    http_raw(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n").as_bytes(),
    )
}

fn scrape(port: u16) -> Exposition {
    let (status, body) = get(port, "/metrics").expect("scrape");
    assert_eq!(status, 200, "{body}");
    Exposition::parse(&body)
}

/// Scrape until `done` holds (sizes are reused for up to a second, so waits include them); panics
/// with the last scrape and larq's stderr after `limit`.
fn wait_scrape(
    w: &Worker,
    limit: Duration,
    what: &str,
    done: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = get(w.port, "/metrics").expect("scrape");
        assert_eq!(status, 200, "{body}");
        let e = Exposition::parse(&body);
        if done(&e) {
            return e;
        }
        if Instant::now() > deadline {
            panic!("{what}: not reached\n{body}\n---\n{}", w.stderr_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Worker {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Worker {
    /// `recording_backend work <args> --metrics 127.0.0.1:<port>` (larq's command line with the
    /// SomeJob handler) with `env` only (plus PATH), stdout and
    /// stderr to files in `dir`.
    fn start(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Worker {
        let port = free_port();
        let stderr = dir.join("larq.stderr");
        let mut cmd = bins::command(bins::recording_backend());
        cmd.arg("work")
            .args(args)
            .args(["--metrics", &format!("127.0.0.1:{port}")])
            .env_clear()
            .envs(bins::LARQ_ENV)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(dir.join("larq.stdout")).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn larq");
        let mut w = Worker {
            child,
            port,
            stderr,
        };
        let up = wait_for_value(Duration::from_secs(30), || {
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!("larq exited early ({status}): {}", w.stderr_text());
            }
            get(port, "/health").filter(|(s, _)| *s == 200)
        });
        assert!(up.is_some(), "never healthy: {}", w.stderr_text());
        w
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = wait_for_value(Duration::from_secs(30), || {
            self.child.try_wait().ok().flatten()
        });
        status.unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("larq did not stop on SIGTERM: {}", self.stderr_text())
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn corpus(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("php-fixtures/corpus/laravel-8/{name}.json"));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

/// An `App\Jobs\SomeJob` payload built by larq's own encoder (not captured): distinct uuid and
/// id per call.
fn built_some_job(user_id: i64, param: &str) -> String {
    some_job::some_job_payload(user_id, param).to_json()
}

/// Push with Laravel's push effect: the payload and one notify token.
fn push(redis: &TestRedis, queue: &str, payload: &str) {
    let key = format!("laravel_database_queues:{queue}");
    let mut conn = redis.conn(0);
    redis::pipe()
        .rpush(&key, payload)
        .ignore()
        .rpush(format!("{key}:notify"), 1)
        .ignore()
        .exec(&mut conn)
        .unwrap();
}

const SOME: &str = "App\\Jobs\\SomeJob";
/// A captured class with no handler in the recording backend: it fails on its first attempt.
const FAILING: &str = "App\\Jobs\\EchoJob";
const MAIL: &str = "App\\Mail\\OrderShippedMail";

#[test]
fn redis_worker_counters_sizes_and_health() {
    let Some(mut redis) = TestRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite");
    std::fs::write(&db, b"").unwrap();
    // The demo handler appends a line per run here; the directory does not exist yet, so every
    // run throws (and is released) until the test creates it.
    let record_dir = dir.path().join("records");
    let records = record_dir.join("runs.jsonl");
    let mut worker = Worker::start(
        dir.path(),
        &[
            "redis",
            "--queue=default,other",
            "--create-failed-table",
            "--tries=3",
            "--backoff=5",
            "--sleep=0.1",
            "--memory=0",
            "--hand-back=*",
            "--hand-back-delay=600",
            "--progress=on",
        ],
        &[
            ("REDIS_HOST", "127.0.0.1".to_owned()),
            ("REDIS_PORT", redis.port.to_string()),
            ("DB_CONNECTION", "sqlite".to_owned()),
            ("DB_DATABASE", db.display().to_string()),
            ("LARQ_RECORD_FILE", records.display().to_string()),
        ],
    );
    let port = worker.port;

    // Before any job: every family is there, no series yet.
    let e = scrape(port);
    assert_eq!(e.get("larq_worker_running", &[]), Some(1.0));
    assert_eq!(e.get("larq_jobs_in_flight", &[]), Some(0.0));
    assert_eq!(e.get("larq_queue_backend_up", &[]), Some(1.0));
    assert_eq!(
        e.get(
            "larq_worker_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("connection", "redis"),
                ("queues", "default,other")
            ]
        ),
        Some(1.0)
    );
    for queue in ["default", "other"] {
        for state in ["ready", "delayed", "reserved"] {
            assert_eq!(
                e.get("larq_queue_jobs", &[("queue", queue), ("state", state)]),
                Some(0.0)
            );
        }
    }
    for family in [
        "larq_jobs_processed_total",
        "larq_jobs_failed_total",
        "larq_jobs_released_total",
        "larq_jobs_handed_back_total",
        "larq_jobs_timed_out_total",
    ] {
        assert_eq!(e.types.get(family).map(String::as_str), Some("counter"));
    }
    assert_eq!(
        e.types.get("larq_job_duration_seconds").map(String::as_str),
        Some("histogram")
    );

    // Captured payloads (SomeJob, EchoJob without a handler, a queued mailable that is
    // handed back) and two more SomeJobs from larq's encoder, on two queues.
    push(&redis, "default", &corpus("some_job"));
    push(&redis, "default", &built_some_job(2, "two"));
    push(&redis, "other", &built_some_job(3, "three"));
    push(&redis, "default", &corpus("echo_job"));
    push(&redis, "default", &corpus("mailable"));

    // First attempts: the three SomeJobs throw and are released for 5 s; two of them and the
    // handed-back mail wait in default's :delayed, one in other's.
    let e = wait_scrape(&worker, Duration::from_secs(30), "first attempts", |e| {
        e.total("larq_jobs_released_total") == 3.0
            && e.total("larq_jobs_failed_total") == 1.0
            && e.total("larq_jobs_handed_back_total") == 1.0
            && e.get(
                "larq_queue_jobs",
                &[("queue", "default"), ("state", "delayed")],
            ) == Some(3.0)
    });
    std::fs::create_dir(&record_dir).unwrap();
    assert_eq!(
        e.get(
            "larq_jobs_released_total",
            &[("class", SOME), ("queue", "default")]
        ),
        Some(2.0)
    );
    assert_eq!(
        e.get(
            "larq_jobs_released_total",
            &[("class", SOME), ("queue", "other")]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.get(
            "larq_jobs_failed_total",
            &[("class", FAILING), ("queue", "default")]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.get(
            "larq_jobs_handed_back_total",
            &[("class", MAIL), ("queue", "default")]
        ),
        Some(1.0)
    );
    assert_eq!(e.total("larq_jobs_processed_total"), 0.0);
    assert_eq!(
        e.get(
            "larq_queue_jobs",
            &[("queue", "other"), ("state", "delayed")]
        ),
        Some(1.0)
    );

    // Second attempts (after the backoff) find the record directory and succeed.
    let e = wait_scrape(&worker, Duration::from_secs(60), "second attempts", |e| {
        e.total("larq_jobs_processed_total") == 3.0
            && e.get("larq_jobs_in_flight", &[]) == Some(0.0)
            && e.total("larq_queue_jobs") == 1.0
    });
    let runs = std::fs::read_to_string(&records).unwrap();
    assert_eq!(runs.lines().count(), 3, "the handler ran 3 times: {runs}");
    assert_eq!(
        e.get(
            "larq_jobs_processed_total",
            &[("class", SOME), ("queue", "default")]
        ),
        Some(2.0)
    );
    assert_eq!(
        e.get(
            "larq_jobs_processed_total",
            &[("class", SOME), ("queue", "other")]
        ),
        Some(1.0)
    );
    assert_eq!(e.total("larq_jobs_released_total"), 3.0, "no more releases");
    assert_eq!(e.total("larq_jobs_failed_total"), 1.0);
    assert_eq!(e.total("larq_jobs_timed_out_total"), 0.0);
    // Every run is in the histogram, once.
    let count = |class: &str, queue: &str| {
        e.get(
            "larq_job_duration_seconds_count",
            &[("class", class), ("queue", queue)],
        )
    };
    assert_eq!(count(SOME, "default"), Some(4.0));
    assert_eq!(count(SOME, "other"), Some(2.0));
    assert_eq!(count(FAILING, "default"), Some(1.0));
    assert_eq!(count(MAIL, "default"), Some(1.0));
    // Only the handed-back mail is left.
    for (queue, state, n) in [
        ("default", "ready", 0.0),
        ("default", "delayed", 1.0),
        ("default", "reserved", 0.0),
        ("other", "ready", 0.0),
        ("other", "delayed", 0.0),
        ("other", "reserved", 0.0),
    ] {
        assert_eq!(
            e.get("larq_queue_jobs", &[("queue", queue), ("state", state)]),
            Some(n),
            "{queue} {state}"
        );
    }

    // The endpoint answers only what it serves, and bad clients do not hurt it.
    assert_eq!(get(port, "/nope").map(|r| r.0), Some(404));
    assert_eq!(get(port, "/metrics/extra").map(|r| r.0), Some(404));
    assert_eq!(get(port, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(
        http_raw(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").map(|r| r.0),
        Some(405)
    );
    assert_eq!(
        http_raw(port, b"\x16\x03\x01 garbage\r\n\r\n").map(|r| r.0),
        Some(400)
    );
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(http_raw(port, huge.as_bytes()).map(|r| r.0), Some(431));
    // A client that connects and says nothing does not hold up the others: they are answered
    // while it is still waiting (it has not had its 408 yet).
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(get(port, "/health").map(|r| r.0), Some(200));
    let (_, head) = http_raw(port, b"HEAD /metrics HTTP/1.1\r\n\r\n").unwrap();
    assert!(head.is_empty(), "HEAD has no body");
    silent.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        silent.read(&mut byte).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the silent client is still being waited for"
    );
    // Then it gets its timeout answer.
    silent.set_nonblocking(false).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    silent.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");

    // The queue backend goes away: health turns 503, metrics keep answering.
    redis.stop();
    let (_, body) = wait_for_value(Duration::from_secs(60), || {
        get(port, "/health").filter(|(s, _)| *s == 503)
    })
    .unwrap_or_else(|| {
        panic!(
            "health stayed 200 with Redis down:\n{}",
            worker.stderr_text()
        )
    });
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unavailable", "{body}");
    assert_eq!(health["state"], "running", "{body}");
    let e = scrape(port);
    assert_eq!(e.get("larq_queue_backend_up", &[]), Some(0.0));
    assert_eq!(
        e.total("larq_queue_jobs"),
        0.0,
        "no sizes while Redis is down"
    );
    assert_eq!(e.total("larq_jobs_processed_total"), 3.0);

    let status = worker.stop();
    assert!(status.success(), "{status}: {}", worker.stderr_text());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the endpoint stops with the worker"
    );
    let stderr = worker.stderr_text();
    assert!(
        stderr.contains(&format!("Metrics: http://127.0.0.1:{port}/metrics")),
        "{stderr}"
    );
    // --progress=on with stderr in a file: plain lines every 10 s, never terminal escapes.
    assert!(stderr.contains("larq progress: "), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

#[test]
fn database_worker_reports_its_jobs_table() {
    let Some(_redis_for_cache) = TestRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let payload = corpus("database_job");
    rt.block_on(async {
        let q = larq::queue::DatabaseQueue::connect_url(
            &format!("sqlite://{}?mode=rwc", db.display()),
            larq::queue::DatabaseQueueOptions::default(),
        )
        .await
        .unwrap();
        q.create_tables().await.unwrap();
        q.push("default", payload.as_bytes()).await.unwrap();
        q.later("default", 600, payload.as_bytes()).await.unwrap();
    });
    let mut worker = Worker::start(
        dir.path(),
        &[
            "database",
            "--create-failed-table",
            "--sleep=0.1",
            "--memory=0",
        ],
        &[
            ("DB_CONNECTION", "sqlite".to_owned()),
            ("DB_DATABASE", db.display().to_string()),
            ("REDIS_HOST", "127.0.0.1".to_owned()),
            ("REDIS_PORT", _redis_for_cache.port.to_string()),
        ],
    );
    let e = wait_scrape(&worker, Duration::from_secs(30), "the ready job", |e| {
        e.total("larq_jobs_processed_total") == 1.0 && e.total("larq_queue_jobs") == 1.0
    });
    assert_eq!(
        e.get(
            "larq_jobs_processed_total",
            &[("class", SOME), ("queue", "default")]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.get(
            "larq_worker_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("connection", "database"),
                ("queues", "default")
            ]
        ),
        Some(1.0)
    );
    for (state, n) in [("ready", 0.0), ("delayed", 1.0), ("reserved", 0.0)] {
        assert_eq!(
            e.get("larq_queue_jobs", &[("queue", "default"), ("state", state)]),
            Some(n),
            "{state}"
        );
    }
    assert_eq!(get(worker.port, "/health").map(|r| r.0), Some(200));
    let status = worker.stop();
    assert!(status.success(), "{status}: {}", worker.stderr_text());
}
