//! The fixture Laravel app pointed at a private Redis and a scratch SQLite file, for the
//! `tests/laravel_*.rs` differential tests (PHP's worker vs larq's on the same dispatch).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use super::redis_support::TestRedis;

/// One app instance: its own Redis server, database and record file.
pub struct App {
    /// The private Redis.
    pub redis: TestRedis,
    scratch: tempfile::TempDir,
}

/// The fixture app directory.
pub fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/app")
}

impl App {
    /// Start Redis and create the tables; `None` when PHP or Redis is missing outside CI.
    pub fn start() -> Option<App> {
        if !super::php_support::php_available() {
            return None;
        }
        let redis = TestRedis::start()?;
        let app = App {
            redis,
            scratch: tempfile::tempdir().expect("tempdir"),
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
            .env("LOG_PATH", self.scratch.path().join("laravel.log"));
        c
    }

    /// Run `php artisan ...`, asserting success; returns stdout.
    pub fn artisan(&self, args: &[&str]) -> String {
        let mut c = artisan_command(args);
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
        let mut c = self.command(Path::new("php"));
        c.arg(&script);
        run(c, "php script")
    }

    /// The recorded lines so far.
    pub fn records(&self) -> Vec<Json> {
        std::fs::read_to_string(self.record_file())
            .unwrap_or_default()
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

/// `php artisan <args>` of the fixture app; the caller adds the environment that points it at
/// its Redis and database.
pub fn artisan_command(args: &[&str]) -> Command {
    let mut c = Command::new("php");
    c.arg(app_dir().join("artisan")).args(args);
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
