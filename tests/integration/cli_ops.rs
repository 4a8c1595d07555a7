//! The operator commands (`larq failed`, `size`, `monitor`, `clear`, `restart`) run as a binary
//! against a private redis-server and a temp SQLite database, side by side with the real Laravel app
//! in `php-fixtures/` (its `queue:failed`, `queue:work`, `larq:dispatch`), pointed at the same Redis
//! and the same SQLite file.
//!
//! Tests needing PHP or Redis skip with a notice when they are missing, and fail under `CI=true`.
//! The two-way ones (failed rows, restart) run per Laravel version ([`Setup::for_laravel`]): PHP of
//! that version, and larq told the version with `--laravel-version`.

use crate::support::bins;
use crate::support::laravel::{self, laravel_tests};
use crate::support::php as php_support;
use crate::support::redis_server as redis_support;
use crate::support::some_job;
use crate::support::wait::wait_exit;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use redis_support::TestRedis;
use serde_json::Value as Json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn app_dir() -> PathBuf {
    root().join("php-fixtures/app")
}

/// A private Redis, a temp SQLite file and a `.env` that points larq at both, the way a Laravel
/// app's `.env` would.
struct Setup {
    redis: TestRedis,
    dir: tempfile::TempDir,
    db: PathBuf,
    env_file: PathBuf,
    /// The Laravel version of the PHP side.
    major: u8,
    /// Given to every larq command as `--laravel-version` (not by [`Setup::new`], whose tests
    /// give larq flags of their own).
    laravel_flag: Option<u8>,
}

impl Setup {
    /// A setup whose PHP is Laravel `major` and whose larq commands get `--laravel-version
    /// major`; `None` (skip) when that version or Redis is missing outside CI.
    fn for_laravel(major: u8) -> Option<Setup> {
        if !laravel::version_available(major) {
            return None;
        }
        let mut s = Setup::new()?;
        s.major = major;
        s.laravel_flag = Some(major);
        Some(s)
    }

    fn new() -> Option<Setup> {
        let redis = TestRedis::start()?;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.sqlite");
        let env_file = dir.path().join(".env");
        std::fs::write(
            &env_file,
            format!(
                "APP_NAME=Laravel\nAPP_KEY=base64:bGFycSBmaXh0dXJlczogdGVzdCBrZXksIHB1YmxpYyE=\nQUEUE_CONNECTION=redis\nREDIS_HOST=127.0.0.1\nREDIS_PORT={}\nDB_CONNECTION=sqlite\nDB_DATABASE={}\n",
                redis.port,
                db.display()
            ),
        )
        .unwrap();
        Some(Setup {
            redis,
            dir,
            db,
            env_file,
            major: 8,
            laravel_flag: None,
        })
    }

    /// `larq <args> --env <.env>`, with the process environment cleared of the app's variables
    /// (they would win over the file).
    fn larq_cmd(&self, args: &[&str]) -> Command {
        self.cmd_of(Path::new(env!("CARGO_BIN_EXE_larq")), args)
    }

    /// [`Setup::larq_cmd`] with the tests' backend (`examples/recording_backend.rs`: larq's
    /// command line with the `App\Jobs\SomeJob` handler).
    fn backend_cmd(&self, args: &[&str]) -> Command {
        self.cmd_of(&bins::recording_backend(), args)
    }

    fn backend_ok(&self, args: &[&str]) -> String {
        let out = self.backend_cmd(args).output().expect("run the backend");
        assert!(
            out.status.success(),
            "backend {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn cmd_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = bins::command(program);
        // The width Laravel 10+'s `queue:failed` lines are filled to (PHP and larq alike).
        cmd.args(args)
            .arg("--env")
            .arg(&self.env_file)
            .env("COLUMNS", "80");
        if let Some(v) = self.laravel_flag {
            cmd.args(["--laravel-version", &v.to_string()]);
        }
        for var in [
            "REDIS_HOST",
            "REDIS_PORT",
            "REDIS_URL",
            "REDIS_PREFIX",
            "REDIS_DB",
            "REDIS_CACHE_DB",
            "DB_CONNECTION",
            "DB_DATABASE",
            "DB_URL",
            "DATABASE_URL",
            "QUEUE_CONNECTION",
            "REDIS_QUEUE",
            "APP_NAME",
            "CACHE_PREFIX",
            "QUEUE_FAILED_DRIVER",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn larq(&self, args: &[&str]) -> Output {
        self.larq_cmd(args).output().expect("run larq")
    }

    fn larq_ok(&self, args: &[&str]) -> String {
        let out = self.larq(args);
        assert!(
            out.status.success(),
            "larq {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn php_cmd(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.app_env(&mut cmd);
        cmd
    }

    /// The fixture app's environment pointed at this setup's Redis and database.
    fn app_env(&self, cmd: &mut Command) {
        cmd.env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", self.redis.port.to_string())
            .env("DB_DATABASE", &self.db)
            .env("LOG_PATH", self.dir.path().join("laravel.log"))
            .env("LARQ_RECORD_FILE", self.dir.path().join("records.jsonl"))
            .env("COLUMNS", "80");
    }

    fn artisan(&self, args: &[&str]) -> String {
        self.artisan_env(args, &[])
    }

    /// `php artisan <args>` with more environment variables for the app.
    fn artisan_env(&self, args: &[&str], env: &[(&str, &Path)]) -> String {
        let mut cmd = laravel::artisan_command_for(self.major, args);
        self.app_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        laravel::run(cmd, &format!("artisan {args:?}"))
    }

    /// `php-fixtures/bin/dispatch`; returns the uuids of the queued jobs.
    fn dispatch(&self, args: &[&str]) -> Vec<String> {
        let out = self
            .php_cmd(&root().join("php-fixtures/bin/dispatch"), args)
            .env("LARQ_LARAVEL", self.major.to_string())
            .output()
            .expect("dispatch");
        assert!(
            out.status.success(),
            "dispatch {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let j: Json = serde_json::from_str(l).unwrap();
                j["uuid"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn records(&self) -> Vec<Json> {
        std::fs::read_to_string(self.dir.path().join("records.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn rows(&self) -> Vec<larq::failed::FailedRow> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = larq::FailedJobStore::sqlite(&self.db).await.unwrap();
            store.ensure_table().await.unwrap();
            store.all().await.unwrap()
        })
    }

    fn lrange(&self, queue: &str) -> Vec<String> {
        use redis::Commands;
        self.redis
            .conn(0)
            .lrange(
                format!("{}queues:{queue}", laravel::redis_prefix(self.major)),
                0,
                -1,
            )
            .unwrap()
    }
}

/// What PHP's `queue:retry` would push for a stored payload (its resetAttempts, run by the PHP of
/// Laravel `major`).
fn php_reset_attempts(major: u8, payload: &str) -> String {
    laravel::run_php_for(
        major,
        "<?php $p = json_decode(file_get_contents($argv[1]), true); if (isset($p['attempts'])) { $p['attempts'] = 0; } echo json_encode($p);",
        &[&{
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), payload).unwrap();
            let (_, path) = f.keep().unwrap();
            path.to_string_lossy().into_owned()
        }],
    )
    .expect("the version was there a moment ago")
}

laravel_tests!(sync larq_failed_rows_are_listed_by_artisan_and_retried_onto_php => larq_rows_listed_and_retried; 8 10 13);

fn larq_rows_listed_and_retried(major: u8) {
    let Some(s) = Setup::for_laravel(major) else {
        return;
    };
    s.artisan(&["larq:setup-db"]);
    let uuid = s.dispatch(&["SomeJob", "--user-id=7", "--param=retry-me"])[0].clone();
    // No handler registered: larq fails the job into failed_jobs.
    s.larq_ok(&["work", "--stop-when-empty", "--sleep=0"]);
    let rows = s.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].uuid, uuid);

    let listed = s.larq_ok(&["failed", "list"]);
    // 8 prints a table, 10+ a line per job (the console components).
    assert_eq!(listed.contains("| ID "), major < 10, "{listed}");
    let line = listed.lines().find(|l| l.contains(&uuid)).expect(&listed);
    for cell in ["redis", "default", "App\\Jobs\\SomeJob", &rows[0].failed_at] {
        assert!(line.contains(cell), "{cell} not in {line}");
    }
    let php_listed = s.artisan(&["queue:failed"]);
    let php_line = php_listed
        .lines()
        .find(|l| l.contains(&uuid))
        .expect(&php_listed);
    assert_eq!(
        php_line, line,
        "larq's row must read like artisan's:\n{php_listed}\n{listed}"
    );

    let shown = s.larq_ok(&["failed", "show", &uuid]);
    assert!(shown.contains("Larq\\Queue\\UnknownJob"), "{shown}");
    assert!(shown.contains("userId: 7"), "{shown}");

    let expected_payload = php_reset_attempts(major, &rows[0].payload);
    let out = s.larq_ok(&["failed", "retry", &uuid]);
    assert!(
        out.contains(&format!(
            "The failed job [{uuid}] has been pushed back onto the queue!"
        )),
        "{out}"
    );
    assert_eq!(s.lrange("default"), vec![expected_payload]);
    assert!(s.rows().is_empty());
    let php_empty = s.artisan(&["queue:failed"]);
    if major >= 10 {
        assert!(php_empty.contains("No failed jobs found."), "{php_empty}");
        assert_eq!(s.larq_ok(&["failed", "list"]), php_empty);
    } else {
        assert!(php_empty.contains("No failed jobs!"), "{php_empty}");
    }

    s.artisan(&["queue:work", "redis", "--stop-when-empty"]);
    let records = s.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["uuid"], uuid.as_str());
    assert_eq!(records[0]["attempts"], 1, "attempts were reset to 0");
    assert!(s.lrange("default").is_empty());
}

laravel_tests!(sync php_failed_rows_are_retried_by_larq_retry_all => php_rows_retried_by_larq; 8 10 13);

fn php_rows_retried_by_larq(major: u8) {
    let Some(s) = Setup::for_laravel(major) else {
        return;
    };
    s.artisan(&["larq:setup-db"]);
    let a = s.dispatch(&["FailingJob", "--n=1", "--tries=1"])[0].clone();
    let b = s.dispatch(&["FailingJob", "--n=2", "--tries=1", "--queue=other"])[0].clone();
    s.artisan(&[
        "queue:work",
        "redis",
        "--queue=default,other",
        "--stop-when-empty",
    ]);
    let rows = s.rows();
    assert_eq!(rows.len(), 2, "PHP failed both");

    let listed = s.larq_ok(&["failed", "list"]);
    let pos_a = listed.find(&a).expect(&listed);
    let pos_b = listed.find(&b).expect(&listed);
    assert!(pos_b < pos_a, "newest first, like queue:failed:\n{listed}");
    let shown = s.larq_ok(&["failed", "show", &a]);
    assert!(shown.contains("RuntimeException: boom 1"), "{shown}");

    // --queue narrows `all` to one queue.
    let expected_b = php_reset_attempts(major, &rows.iter().find(|r| r.uuid == b).unwrap().payload);
    s.larq_ok(&["failed", "retry", "all", "--queue=other"]);
    assert_eq!(s.lrange("other"), vec![expected_b]);
    assert_eq!(s.rows().len(), 1);

    let expected_a = php_reset_attempts(major, &s.rows()[0].payload);
    let out = s.larq_ok(&["failed", "retry", "all"]);
    assert!(out.contains(&a), "{out}");
    assert_eq!(s.lrange("default"), vec![expected_a]);
    assert!(s.rows().is_empty());

    // PHP runs both again (attempt 1 each) and they fail again under the same uuids.
    s.artisan(&[
        "queue:work",
        "redis",
        "--queue=default,other",
        "--stop-when-empty",
    ]);
    let retried: Vec<(String, i64)> = s
        .records()
        .iter()
        .skip(2)
        .map(|r| {
            (
                r["uuid"].as_str().unwrap().to_owned(),
                r["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(retried.len(), 2, "{retried:?}");
    assert!(retried.iter().all(|(_, attempts)| *attempts == 1));
    let mut uuids: Vec<String> = s.rows().into_iter().map(|r| r.uuid).collect();
    uuids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(uuids, want);
}

#[test]
fn retry_forget_flush_without_php() {
    let Some(s) = Setup::new() else { return };
    let stored =
        std::fs::read_to_string(root().join("php-fixtures/corpus/laravel-8/some_job.json"))
            .unwrap()
            .trim()
            .replace("\"attempts\":0", "\"attempts\":3");
    let payload: Json = serde_json::from_str(&stored).unwrap();
    let uuid = payload["uuid"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = |uuid: &str, queue: &str, body: &str| {
        rt.block_on(async {
            let store = larq::FailedJobStore::sqlite(&s.db).await.unwrap();
            store.ensure_table().await.unwrap();
            store
                .log(&larq::failed::FailedJob {
                    uuid,
                    connection: "redis",
                    queue,
                    payload: body.as_bytes(),
                    exception: "RuntimeException: boom in /app/Jobs/SomeJob.php:12\nStack trace:\n#0 {main}",
                })
                .await
                .unwrap();
        })
    };
    log(&uuid, "default", &stored);
    log(
        "other-uuid",
        "low",
        r#"{"uuid":"other-uuid","job":"App\\Jobs\\Legacy@handle","data":{"a":"é/"}}"#,
    );
    log(
        "third-uuid",
        "default",
        r#"{"uuid":"third-uuid","attempts":1}"#,
    );
    log(
        "elsewhere",
        "default",
        r#"{"uuid":"elsewhere","attempts":1}"#,
    );
    rt.block_on(async {
        // A row of a connection larq does not know.
        let store = larq::FailedJobStore::sqlite(&s.db).await.unwrap();
        store
            .log(&larq::failed::FailedJob {
                uuid: "sqs-row",
                connection: "sqs",
                queue: "default",
                payload: br#"{"uuid":"sqs-row","attempts":1}"#,
                exception: "E: x in y:1",
            })
            .await
            .unwrap();
    });

    // Unknown ids and unknown connections: reported, rows kept, exit 1.
    let out = s.larq(&["failed", "retry", "nope", "sqs-row"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unable to find failed job with ID [nope]."),
        "{err}"
    );
    assert!(err.contains("--redis-connections"), "{err}");
    assert_eq!(s.rows().len(), 5);

    s.larq_ok(&["failed", "retry", &uuid]);
    let pushed = s.lrange("default");
    assert_eq!(pushed.len(), 1);
    let pushed_json: Json = serde_json::from_str(&pushed[0]).unwrap();
    assert_eq!(pushed_json["attempts"], 0);
    assert_eq!(pushed_json["uuid"], uuid.as_str());
    assert_eq!(pushed_json["id"], payload["id"], "id unchanged");
    // One notify token per pushed job, as Laravel's push script leaves.
    use redis::Commands;
    let tokens: i64 = s
        .redis
        .conn(0)
        .llen("laravel_database_queues:default:notify")
        .unwrap();
    assert_eq!(tokens, 1);
    let out = s.backend_ok(&["work", "--stop-when-empty", "--sleep=0"]);
    assert!(
        out.contains("Processing user ID: 42 with param: hello"),
        "{out}"
    );

    // The string payload keeps its data, PHP-encoded (\u00e9, \/); it has no attempts key.
    s.larq_ok(&["failed", "retry", "other-uuid"]);
    assert_eq!(
        s.lrange("low"),
        vec![r#"{"uuid":"other-uuid","job":"App\\Jobs\\Legacy@handle","data":{"a":"\u00e9\/"}}"#]
    );

    let out = s.larq(&["failed", "forget", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(s
        .larq_ok(&["failed", "forget", "third-uuid"])
        .contains("Failed job deleted successfully!"));
    assert_eq!(s.rows().len(), 2);
    assert!(s
        .larq_ok(&["failed", "flush"])
        .contains("All failed jobs deleted successfully!"));
    assert!(s.rows().is_empty());
    assert!(s.larq_ok(&["failed", "list"]).contains("No failed jobs!"));
}

/// Parse a Symfony-style table into rows of trimmed cells (header row excluded).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn size_monitor_clear_on_known_contents() {
    let Some(s) = Setup::new() else { return };
    let cli = |args: &[&str]| s.redis.cli(args);
    for i in 0..3 {
        cli(&[
            "RPUSH",
            "laravel_database_queues:default",
            &format!("{{\"r\":{i}}}"),
        ]);
        cli(&["RPUSH", "laravel_database_queues:default:notify", "1"]);
    }
    let later = (larq::queue::now() + 3600).to_string();
    cli(&[
        "ZADD",
        "laravel_database_queues:default:delayed",
        &later,
        "d1",
    ]);
    cli(&[
        "ZADD",
        "laravel_database_queues:default:delayed",
        &later,
        "d2",
    ]);
    cli(&[
        "ZADD",
        "laravel_database_queues:default:reserved",
        &later,
        "x1",
    ]);
    cli(&["RPUSH", "laravel_database_queues:emails", "e1"]);

    let rows = table_rows(&s.larq_ok(&["size"]));
    assert_eq!(
        rows,
        vec![
            vec!["redis", "default", "3", "2", "1", "6"],
            vec!["redis", "emails", "1", "0", "0", "1"],
        ]
    );
    let rows = table_rows(&s.larq_ok(&["size", "emails,nothing"]));
    assert_eq!(rows[0][5], "1");
    assert_eq!(rows[1], vec!["redis", "nothing", "0", "0", "0", "0"]);

    // Laravel flags ALERT at size >= max.
    let out = s.larq(&["monitor", "default,redis:emails", "--max", "6"]);
    assert_eq!(out.status.code(), Some(3));
    let rows = table_rows(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows[0], vec!["redis", "default", "6", "ALERT"]);
    assert_eq!(rows[1], vec!["redis", "emails", "1", "OK"]);
    let out = s.larq(&["monitor", "default,emails", "--max", "7"]);
    assert_eq!(out.status.code(), Some(0));
    let out = s.larq(&["monitor", "sqs:default"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis-connections"));
    assert_eq!(
        s.larq(&["monitor", "sqs:default", "--redis-connections=redis,sqs"])
            .status
            .code(),
        Some(0)
    );

    let out = s.larq_ok(&["clear"]);
    assert_eq!(out.trim(), "Cleared 6 jobs from the [default] queue");
    assert_eq!(
        cli(&[
            "EXISTS",
            "laravel_database_queues:default",
            "laravel_database_queues:default:delayed",
            "laravel_database_queues:default:reserved",
            "laravel_database_queues:default:notify"
        ])
        .trim(),
        "0"
    );
    let out = s.larq_ok(&["clear", "redis", "--queue=emails"]);
    assert_eq!(out.trim(), "Cleared 1 jobs from the [emails] queue");
    assert_eq!(cli(&["DBSIZE"]).trim(), "0");
}

laravel_tests!(sync restart_stops_running_php_and_larq_workers => restart_stops_workers; 8 10 13);

fn restart_stops_workers(major: u8) {
    // On 8, larq's own worker is tested even where PHP is missing; 10 and 13 are about their PHP.
    let setup = match major {
        8 => Setup::new().map(|mut s| {
            s.laravel_flag = Some(8);
            s
        }),
        _ => Setup::for_laravel(major),
    };
    let Some(s) = setup else { return };
    let php = major != 8 || php_support::php_available();
    assert!(s.rows().is_empty()); // creates the SQLite file and failed_jobs for larq work
    let mut workers: Vec<(&str, Child)> = Vec::new();
    workers.push((
        "larq work",
        s.larq_cmd(&["work", "--sleep=0.2"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    if php {
        s.artisan(&["larq:setup-db"]);
        let mut cmd = laravel::artisan_command_for(major, &["queue:work", "redis", "--sleep=1"]);
        s.app_env(&mut cmd);
        workers.push((
            "php artisan queue:work",
            cmd.stdout(Stdio::null()).spawn().unwrap(),
        ));
    }
    // Let both read the current (absent) restart value.
    std::thread::sleep(Duration::from_secs(3));
    for (name, child) in &mut workers {
        assert!(child.try_wait().unwrap().is_none(), "{name} stopped early");
    }
    let before = larq::queue::now();
    let out = s.larq_ok(&["restart"]);
    assert_eq!(out.trim(), "Broadcasting queue restart signal.");
    let stored = s.redis.cli_db(
        1,
        &[
            "GET",
            &format!("{}illuminate:queue:restart", laravel::cache_prefix(major)),
        ],
    );
    let stored: u64 = stored.trim().parse().expect("digits");
    assert!(stored >= before && stored <= larq::queue::now());
    for (name, mut child) in workers {
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{name} did not exit cleanly after larq restart: {status:?}"
        );
    }
}

/// `CACHE_DRIVER=file`, the Laravel 8 skeleton's default: the restart signal is a file under the
/// app's `storage/framework/cache/data` (here beside the test's `.env`, which larq takes as the
/// app directory). `php artisan queue:restart` stops larq, and `larq restart` stops PHP's
/// `queue:work`: each writes the entry where the other looks.
#[test]
fn restart_through_the_file_cache_reaches_php_and_larq() {
    if !php_support::php_available() {
        return;
    }
    let Some(s) = Setup::new() else { return };
    assert!(s.rows().is_empty());
    s.artisan(&["larq:setup-db"]);
    let cache_dir = s.dir.path().join("storage/framework/cache/data");
    let start_workers = || -> Vec<(&str, Child)> {
        let mut php = vec![app_dir().join("artisan").to_string_lossy().into_owned()];
        php.extend(["queue:work", "redis", "--sleep=1"].map(String::from));
        let php: Vec<&str> = php.iter().map(String::as_str).collect();
        let workers = vec![
            (
                "larq work",
                s.larq_cmd(&["work", "--sleep=0.2"])
                    .env("CACHE_DRIVER", "file")
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            ),
            (
                "php artisan queue:work",
                s.php_cmd(Path::new("php"), &php)
                    .env("CACHE_DRIVER", "file")
                    .env("CACHE_FILE_PATH", &cache_dir)
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            ),
        ];
        // Let both read the current restart value (PHP boots in about a second).
        std::thread::sleep(Duration::from_secs(3));
        workers
    };
    let entry = larq::cache::FileCache::new(&cache_dir).path(larq::cache::RESTART_KEY);
    for round in ["php artisan queue:restart", "larq restart"] {
        let mut workers = start_workers();
        for (name, child) in &mut workers {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{round}: {name} stopped early"
            );
        }
        let before = larq::queue::now();
        if round == "larq restart" {
            let out = s
                .larq_cmd(&["restart"])
                .env("CACHE_DRIVER", "file")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            s.artisan_env(
                &["queue:restart"],
                &[
                    ("CACHE_DRIVER", Path::new("file")),
                    ("CACHE_FILE_PATH", &cache_dir),
                ],
            );
        }
        // The entry as Laravel's FileStore keeps it: forever, the time serialized.
        let contents = String::from_utf8(std::fs::read(&entry).unwrap()).unwrap();
        let stamp: u64 = contents
            .strip_prefix("9999999999i:")
            .and_then(|v| v.strip_suffix(';'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{round}: {contents:?}"));
        assert!(
            stamp >= before && stamp <= larq::queue::now(),
            "{round}: {stamp}"
        );
        for (name, mut child) in workers {
            let status = wait_exit(&mut child, Duration::from_secs(10));
            assert!(
                status.is_some_and(|st| st.success()),
                "{name} did not exit cleanly after {round}: {status:?}"
            );
        }
        // The next round's restart must be a change: a new second.
        std::thread::sleep(Duration::from_millis(1100));
    }
}

/// `php artisan down` (on a storage directory of the test's own) pauses `larq work`: a job pushed
/// meanwhile waits; `php artisan up` lets it run. `--force` works through maintenance mode.
#[test]
fn maintenance_mode_pauses_larq_work_unless_forced() {
    if !php_support::php_available() {
        return;
    }
    let Some(s) = Setup::new() else { return };
    assert!(s.rows().is_empty());
    // The app's storage as larq sees it: beside the .env it was given.
    let storage = s.dir.path().join("storage");
    std::fs::create_dir_all(storage.join("framework")).unwrap();
    let artisan = |cmd: &str| s.artisan_env(&[cmd], &[("APP_STORAGE_PATH", &storage)]);
    let queued = || -> i64 {
        s.redis
            .cli_db(0, &["LLEN", "laravel_database_queues:default"])
            .trim()
            .parse()
            .unwrap()
    };
    artisan("down");
    assert!(storage.join("framework/down").exists());
    let log = s.dir.path().join("larq.out");
    let mut larq = s
        .backend_cmd(&["work", "--sleep=0.2"])
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    s.dispatch(&["SomeJob", "--user-id=41", "--param=while-down"]);
    std::thread::sleep(Duration::from_secs(3));
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!out.contains("Processing"), "ran while down: {out}");
    assert_eq!(queued(), 1, "the job waits while the app is down");
    artisan("up");
    let ran = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("Processing user ID: 41 with param: while-down")
    });
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(larq.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut larq, Duration::from_secs(10));
    assert!(
        ran,
        "not run after `php artisan up`: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
    // --force: down, yet the job runs.
    artisan("down");
    s.dispatch(&["SomeJob", "--user-id=42", "--param=forced"]);
    let out = s.backend_ok(&["work", "--force", "--stop-when-empty", "--sleep=0.2"]);
    assert!(
        out.contains("Processing user ID: 42 with param: forced"),
        "{out}"
    );
    assert_eq!(queued(), 0);
    artisan("up");
}

#[test]
fn completions_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bins::larq().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for word in ["failed", "monitor", "restart", "codegen", "stop-when-empty"] {
            assert!(text.contains(word), "{shell}: {word}");
        }
    }
    let out = bins::larq().args(["monitor", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("[default: 1000]"), "{help}");
    assert!(help.contains("--redis-connections"), "{help}");
    let out = bins::larq()
        .args(["monitor", "q", "--max", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max"));
}

/// Every flag `larq work --help` lists, each given to the real binary once (with a job to run),
/// so a flag that breaks start-up cannot ship unnoticed (`--threads 2` once panicked before the
/// runtime started: "there is no reactor running"). A flag added to `work` without a row here
/// fails the test.
#[test]
fn every_documented_work_flag_runs_a_job_through_the_binary() {
    let Some(s) = Setup::new() else { return };
    // An empty file is an empty SQLite database (larq opens it, it does not create it).
    std::fs::write(&s.db, b"").unwrap();
    let runs: &[(&str, &[&str])] = &[
        ("connection", &["redis"]),
        ("--env", &[]), // every run passes --env (Setup::larq_cmd)
        ("--queue", &["--queue=high,default"]),
        ("--name", &["--name", "flags"]),
        ("--once", &["--once"]),
        ("--stop-when-empty", &[]), // every run but --once passes it
        ("--delay", &["--delay", "2"]),
        ("--backoff", &["--backoff", "1,5,10"]),
        ("--max-jobs", &["--max-jobs", "1"]),
        ("--max-time", &["--max-time", "60"]),
        ("--force", &["--force"]),
        ("--memory", &["--memory", "512"]),
        ("--sleep", &["--sleep", "0.1"]),
        ("--rest", &["--rest", "0.01"]),
        ("--timeout", &["--timeout", "30"]),
        ("--stuck-grace", &["--stuck-grace", "2"]),
        ("--tries", &["--tries", "3"]),
        ("--retry-after", &["--retry-after", "30"]),
        ("--block-for", &["--block-for", "1"]),
        ("--concurrency", &["--concurrency", "4"]),
        ("--threads", &["--threads", "2"]),
        ("--threads", &["--threads", "4", "--concurrency", "8"]),
        ("--log-format", &["--log-format", "json"]),
        ("--laravel-version", &["--laravel-version", "10"]),
        ("--create-failed-table", &["--create-failed-table"]),
        ("--hand-back", &["--hand-back", "*"]),
        ("--hand-back-delay", &["--hand-back-delay", "5"]),
        ("--hand-back-max", &["--hand-back-max", "3"]),
        (
            "--unknown-middleware",
            &[
                "--unknown-middleware",
                "hand-back",
                "--unknown-middleware",
                "App\\Middleware\\Tagged=run-without",
            ],
        ),
        ("--metrics", &["--metrics", "127.0.0.1:0"]),
        ("--progress", &["--progress", "on"]),
        ("--max-payload-bytes", &["--max-payload-bytes", "1000000"]),
    ];
    let help = s.larq_ok(&["work", "--help"]);
    let documented: std::collections::BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .filter(|w| !matches!(*w, "--help" | "--version"))
        .collect();
    for flag in &documented {
        assert!(
            runs.iter().any(|(f, _)| f == flag),
            "larq work {flag} has no run in this test"
        );
    }
    for (n, (flag, args)) in runs.iter().enumerate() {
        if !flag.starts_with("--") || documented.contains(flag) {
            let param = format!("flag-{n}");
            let payload = some_job::some_job_payload(n as i64, &param).to_json();
            s.redis
                .cli_db(0, &["RPUSH", "laravel_database_queues:default", &payload]);
            s.redis
                .cli_db(0, &["RPUSH", "laravel_database_queues:default:notify", "1"]);
            let mut all = vec!["work"];
            if *flag != "--sleep" {
                all.push("--sleep=0.1");
            }
            if *flag != "--once" {
                all.push("--stop-when-empty");
            }
            all.extend_from_slice(args);
            let mut child = s
                .backend_cmd(&all)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn larq");
            let status = wait_exit(&mut child, Duration::from_secs(30));
            let out = child.wait_with_output().expect("larq output");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                status.is_some_and(|st| st.success()),
                "larq {all:?}: {status:?}\n{stdout}\n{stderr}"
            );
            assert!(
                stdout.contains(&format!("Processing user ID: {n} with param: {param}")),
                "larq {all:?} did not run the job:\n{stdout}\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "larq {all:?}: {stderr}");
            assert_eq!(
                s.redis
                    .cli_db(0, &["LLEN", "laravel_database_queues:default"])
                    .trim(),
                "0"
            );
            assert_eq!(
                s.redis
                    .cli_db(0, &["ZCARD", "laravel_database_queues:default:reserved"])
                    .trim(),
                "0"
            );
        }
    }
}
