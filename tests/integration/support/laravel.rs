//! The fixture Laravel app pointed at a private Redis and a scratch SQLite file, for the
//! `tests/laravel_*.rs` differential tests (PHP's worker vs larq's on the same dispatch), on any of
//! the real Laravels the machine has: 8 (Debian bookworm, the host's PHP), 10 and 13 (trixie and sid
//! roots made by `scripts/laravel-roots.sh`, entered through `php-fixtures/bin/php-for`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use super::redis_support::TestRedis;

/// One app instance: its own Redis server, database and record file, on one Laravel version.
pub struct App {
    /// The private Redis.
    pub redis: TestRedis,
    /// The Laravel major version running the app's PHP side.
    pub major: u8,
    scratch: tempfile::TempDir,
    /// More environment for the app's PHP processes ([`App::set_env`]).
    extra_env: std::sync::Mutex<Vec<(String, String)>>,
}

/// The Laravel majors the live suite runs against.
pub const VERSIONS: [u8; 3] = [8, 10, 13];

/// Whether PHP with Laravel `major` can run here. A missing version is a failure under CI=true
/// (`.ci/run` makes the roots), a notice elsewhere.
pub fn version_available(major: u8) -> bool {
    if !super::php_support::php_available() {
        return false;
    }
    if major == 8 {
        return true;
    }
    let ok = std::process::Command::new(php_for())
        .args([
            &major.to_string(),
            "-r",
            "exit(class_exists('Redis') ? 0 : 1);",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Laravel {major} does not run here, and CI=true: scripts/laravel-roots.sh makes its root");
        }
        eprintln!("notice: no Laravel {major} root (scripts/laravel-roots.sh); skipping a Laravel {major} test");
    }
    ok
}

/// `php-fixtures/bin/php-for`: PHP with a given Laravel version.
pub fn php_for() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/bin/php-for")
}

/// The Redis key prefix the fixture app has on Laravel `major` (its skeleton's default for
/// `APP_NAME=Laravel`): `laravel_database_` up to 11, `laravel-database-` from 12.
pub fn redis_prefix(major: u8) -> &'static str {
    if major >= 12 {
        "laravel-database-"
    } else {
        "laravel_database_"
    }
}

/// The physical key prefix of the fixture app's Redis cache store on Laravel `major` (Redis
/// prefix, then the cache prefix, with a `:` up to 10): where `queue:restart` and unique locks
/// write.
pub fn cache_prefix(major: u8) -> &'static str {
    match major {
        8 => "laravel_database_laravel_cache:",
        9 | 10 => "laravel_database_laravel_cache_:",
        _ => "laravel-database-laravel-cache-",
    }
}

/// One test per Laravel version, in a module named after the test: `laravel_tests!(async
/// some_test => body; 8 10 13)` makes `some_test::on_laravel_8` ... each calling `body(major)`
/// (an `async fn` for `async`, a plain `fn` for `sync`), so `cargo test some_test` runs every
/// version and `on_laravel_13` one version across the areas.
macro_rules! laravel_tests {
    (async $name:ident => $body:ident; $($v:tt)+) => {
        mod $name {
            $( $crate::support::laravel::laravel_tests!(@async $body $v); )+
        }
    };
    (sync $name:ident => $body:ident; $($v:tt)+) => {
        mod $name {
            $( $crate::support::laravel::laravel_tests!(@sync $body $v); )+
        }
    };
    (@async $body:ident 8) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_laravel_8() {
            super::$body(8).await
        }
    };
    (@async $body:ident 10) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_laravel_10() {
            super::$body(10).await
        }
    };
    (@async $body:ident 13) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_laravel_13() {
            super::$body(13).await
        }
    };
    (@sync $body:ident 8) => {
        #[test]
        fn on_laravel_8() {
            super::$body(8)
        }
    };
    (@sync $body:ident 10) => {
        #[test]
        fn on_laravel_10() {
            super::$body(10)
        }
    };
    (@sync $body:ident 13) => {
        #[test]
        fn on_laravel_13() {
            super::$body(13)
        }
    };
}
pub(crate) use laravel_tests;

/// Serializes the versions of one test whose Rust job handlers report through statics (a test
/// module's `static`s are shared by its `on_laravel_N` tests, which the harness runs in parallel).
pub struct Serial(tokio::sync::Mutex<()>);

impl Serial {
    /// A lock for one test module.
    pub const fn new() -> Serial {
        Serial(tokio::sync::Mutex::const_new(()))
    }

    /// Hold it for the test's body.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }

    /// [`Serial::lock`] from a test without a runtime.
    pub fn blocking_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.blocking_lock()
    }
}

/// The fixture app directory.
pub fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/app")
}

impl App {
    /// Start Redis and create the tables on Laravel 8; `None` when PHP or Redis is missing
    /// outside CI.
    pub fn start() -> Option<App> {
        App::start_version(8)
    }

    /// [`App::start`] on Laravel `major`; `None` when that version is missing outside CI.
    pub fn start_version(major: u8) -> Option<App> {
        if !version_available(major) {
            return None;
        }
        let redis = TestRedis::start()?;
        let app = App {
            redis,
            major,
            scratch: tempfile::tempdir().expect("tempdir"),
            extra_env: Default::default(),
        };
        app.artisan(&["larq:setup-db"]);
        Some(app)
    }

    /// The SQLite database file.
    pub fn db(&self) -> PathBuf {
        self.scratch.path().join("db.sqlite")
    }

    /// The LARQ_RECORD_FILE.
    pub fn record_file(&self) -> PathBuf {
        self.scratch.path().join("record.jsonl")
    }

    /// `program` with this app's environment (its Redis, database, record and log files).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", self.redis.port.to_string())
            .env("DB_DATABASE", self.db())
            .env("LARQ_RECORD_FILE", self.record_file())
            .env("LOG_PATH", self.scratch.path().join("laravel.log"))
            .env("LARQ_LARAVEL_VERSION", self.major.to_string());
        for (k, v) in self.extra_env.lock().unwrap().iter() {
            c.env(k, v);
        }
        c
    }

    /// Give the app's later PHP processes `key=value` too (a cache store, a limit).
    pub fn set_env(&self, key: &str, value: &str) {
        self.extra_env
            .lock()
            .unwrap()
            .push((key.to_owned(), value.to_owned()));
    }

    /// The app's Redis key prefix (`laravel_database_` or, from Laravel 12, `laravel-database-`).
    pub fn prefix(&self) -> &'static str {
        redis_prefix(self.major)
    }

    /// The Redis key of a queue's list (`{prefix}queues:{queue}`).
    pub fn queue_key(&self, queue: &str) -> String {
        format!("{}queues:{queue}", self.prefix())
    }

    /// Options for a library `RedisQueue` on this app's Redis, with its prefix.
    pub fn queue_options(&self) -> larq::queue::RedisQueueOptions {
        larq::queue::RedisQueueOptions {
            prefix: self.prefix().to_owned(),
            ..Default::default()
        }
    }

    /// Run `php artisan ...`, asserting success; returns stdout.
    pub fn artisan(&self, args: &[&str]) -> String {
        let mut c = artisan_command_for(self.major, args);
        c.envs(
            self.command(Path::new("php"))
                .get_envs()
                .filter_map(|(k, v)| Some((k, v?))),
        );
        run(c, &format!("artisan {args:?}"))
    }

    /// `php-fixtures/bin/dispatch <shape> ...`; returns the JSON lines it printed.
    pub fn dispatch(&self, shape: &str, args: &[&str]) -> Vec<Json> {
        let mut all = vec!["larq:dispatch", shape];
        all.extend_from_slice(args);
        self.artisan(&all)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("dispatch line"))
            .collect()
    }

    /// Run the `larq` binary with this app's environment.
    pub fn larq(&self, args: &[&str]) -> String {
        let mut c = self.command(Path::new(env!("CARGO_BIN_EXE_larq")));
        c.envs(super::bins::LARQ_ENV).args(args).env(
            "APP_KEY",
            "base64:bGFycSBmaXh0dXJlczogdGVzdCBrZXksIHB1YmxpYyE=",
        );
        run(c, &format!("larq {args:?}"))
    }

    /// Run a PHP script inside the booted app (the script body may use the facades).
    pub fn php_in_app(&self, body: &str) -> String {
        let script = self.scratch.path().join("script.php");
        let text = format!(
            "<?php\nrequire '{dir}/vendor/autoload.php';\n$app = require '{dir}/bootstrap/app.php';\n$app->make(Illuminate\\Contracts\\Console\\Kernel::class)->bootstrap();\n{body}\n",
            dir = app_dir().display()
        );
        std::fs::write(&script, text).expect("write script");
        let mut c = self.command(&php_for());
        c.arg(self.major.to_string()).arg(&script);
        run(c, "php script")
    }

    /// The recorded lines so far: complete lines only, since a PHP worker may be appending one
    /// while a test polls (a line read half-written once failed a test on a loaded machine).
    pub fn records(&self) -> Vec<Json> {
        let text = std::fs::read_to_string(self.record_file()).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).expect("record line"))
            .collect()
    }

    /// A Redis connection on DB `db`.
    pub fn conn(&self, db: u32) -> redis::Connection {
        self.redis.conn(db)
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u32) -> String {
        self.redis.url(db)
    }
}

/// Run a PHP script file with Laravel `major`'s PHP (its framework at
/// `/usr/share/php/Illuminate` inside the root), asserting success; its stdout. `None` when that
/// version is missing outside CI.
pub fn run_php_for(major: u8, script: &str, args: &[&str]) -> Option<String> {
    if !version_available(major) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("script.php");
    std::fs::write(&path, script).expect("write script");
    let mut c = Command::new(php_for());
    c.arg(major.to_string()).arg(&path).args(args);
    Some(run(c, &format!("PHP of Laravel {major}")))
}

/// `php artisan <args>` of the fixture app on Laravel 8; the caller adds the environment that
/// points it at its Redis and database.
pub fn artisan_command(args: &[&str]) -> Command {
    artisan_command_for(8, args)
}

/// `php artisan <args>` of the fixture app on Laravel `major`.
pub fn artisan_command_for(major: u8, args: &[&str]) -> Command {
    let mut c = Command::new(php_for());
    c.arg(major.to_string())
        .arg(app_dir().join("artisan"))
        .args(args);
    c
}

/// Run `c`, asserting success (`what` names it in the failure); its stdout.
pub fn run(mut c: Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A recorded job's property value tree by name.
pub fn prop<'a>(record: &'a Json, name: &str) -> &'a Json {
    record["props"]["props"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no property {name} in {record}"))
}
