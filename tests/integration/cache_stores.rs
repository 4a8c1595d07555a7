//! The `database` cache store, larq against real Laravel 13 (whose default store it is), 10 and 8:
//! the fixture app run by that version's PHP (`php-fixtures/bin/php-for`) and larq share one
//! SQLite file, `<app>/database/database.sqlite`, and its `cache` and `cache_locks` tables.
//!
//! * `queue:restart` writes the row larq's store reads, and `larq restart` the row PHP's
//!   `Cache::get` reads (the binary finds the version in the app's `composer.lock` and, for 13,
//!   the store and the database by default);
//! * the lock row PHP takes when it dispatches a unique job is deleted by larq after the job (by
//!   its owner, as 13 does, when the job carries it);
//! * `maxExceptions` counts in the `cache` table the same way on both sides, PHP then larq and
//!   larq then PHP.
//!
//! Beside them: `larq migrate` makes the tables 13 uses, the store's SQL on PostgreSQL and
//! MariaDB, and the owner-checked release on Redis. The helpers are this module's own. Without the version's root (scripts/laravel-roots.sh) a
//! test skips with a notice, and fails under `CI=true`.

use crate::support::bins;
use crate::support::php as php_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use larq::app::{App, AppCache, WorkerSetup};
use larq::cache::RESTART_KEY;
use larq::config::Env;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::unique::Unique;
use larq::worker::WorkerOptions;
use larq::Laravel;
use serde_json::Value as Json;
use sqlx::Row;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_app() -> PathBuf {
    repo().join("php-fixtures/app")
}

/// Whether PHP with Laravel `version` runs here: the machine's PHP for 8, a root made by
/// scripts/laravel-roots.sh for 10 and 13. Under `CI=true` a missing one is a failure.
fn laravel_available(version: u8) -> bool {
    if !php_support::php_available() {
        return false;
    }
    let suite = match version {
        10 => "trixie",
        13 => "sid",
        _ => return true,
    };
    let roots = std::env::var_os("LARQ_ROOTS").unwrap_or_else(|| "/var/lib/larq/roots".into());
    let php = Path::new(&roots).join(suite).join("usr/bin/php");
    // A symlink into the root (`/etc/alternatives/php`) need not resolve from outside it.
    let ok = php.symlink_metadata().is_ok();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "no Laravel {version} root at {}, and CI=true: run scripts/laravel-roots.sh",
                php.display()
            );
        }
        eprintln!(
            "notice: no Laravel {version} root ({}); skipping (it would fail under CI=true)",
            php.display()
        );
    }
    ok
}

/// One app directory for one Laravel version: `.env`, `composer.lock` (so larq detects the
/// version) and `database/database.sqlite` with the fixture's tables (cache ones included).
struct LiveApp {
    laravel: Laravel,
    dir: tempfile::TempDir,
}

impl LiveApp {
    fn start(version: u8) -> Option<LiveApp> {
        if !laravel_available(version) {
            return None;
        }
        let laravel = Laravel::new(version).expect("a known version");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("database")).unwrap();
        let release = match version {
            13 => "v13.31.0",
            10 => "v10.48.29",
            _ => "v8.83.26",
        };
        std::fs::write(
            dir.path().join("composer.lock"),
            format!(r#"{{"packages":[{{"name":"laravel/framework","version":"{release}"}}]}}"#),
        )
        .unwrap();
        // What the app's .env says: 10 names its store (its default is `file`) and SQLite (its
        // default is `mysql`); 13's defaults are the database store on database.sqlite.
        let env = if version >= 11 {
            "APP_NAME=Laravel\n".to_owned()
        } else {
            format!(
                "APP_NAME=Laravel\n{}=database\nDB_CONNECTION=sqlite\nQUEUE_CONNECTION=database\n",
                laravel.cache_store_var()
            )
        };
        std::fs::write(dir.path().join(".env"), env).unwrap();
        let app = LiveApp { laravel, dir };
        app.artisan(&["larq:setup-db"]);
        Some(app)
    }

    /// The app directory alone, its tables not made (for `larq migrate` to make them).
    fn bare(version: u8) -> Option<LiveApp> {
        if !laravel_available(version) {
            return None;
        }
        let laravel = Laravel::new(version).expect("a known version");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("database")).unwrap();
        std::fs::write(
            dir.path().join("composer.lock"),
            r#"{"packages":[{"name":"laravel/framework","version":"v13.31.0"}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join(".env"), "APP_NAME=Laravel\n").unwrap();
        Some(LiveApp { laravel, dir })
    }

    fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("database/database.sqlite")
    }

    /// The prefix larq derives for the version from `APP_NAME=Laravel`, given to PHP as
    /// `CACHE_PREFIX` (the fixture's config/cache.php has 8's default).
    fn prefix(&self) -> String {
        self.laravel.cache_prefix("Laravel")
    }

    /// PHP of this version with the app's environment (its database, the database store and
    /// queue, no Redis).
    fn php(&self, args: &[&std::ffi::OsStr]) -> Command {
        let mut c = Command::new(repo().join("php-fixtures/bin/php-for"));
        c.arg(self.laravel.major().to_string())
            .args(args)
            .current_dir(fixture_app())
            .env_remove("CACHE_DRIVER")
            .env_remove("CACHE_STORE")
            .env(self.laravel.cache_store_var(), "database")
            .env("CACHE_PREFIX", self.prefix())
            .env("DB_CONNECTION", "sqlite")
            .env("DB_DATABASE", self.db())
            .env("QUEUE_CONNECTION", "database")
            .env("REDIS_PORT", "1")
            .env("LOG_PATH", self.dir.path().join("laravel.log"))
            .env("LARQ_RECORD_FILE", self.dir.path().join("record.jsonl"));
        c
    }

    fn run(&self, mut c: Command, what: &str) -> String {
        let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn artisan(&self, args: &[&str]) -> String {
        let mut all = vec![fixture_app().join("artisan").into_os_string()];
        all.extend(args.iter().map(|a| a.into()));
        let all: Vec<&std::ffi::OsStr> = all.iter().map(|a| a.as_os_str()).collect();
        self.run(
            self.php(&all),
            &format!("artisan {args:?} ({})", self.laravel),
        )
    }

    /// Run `body` in the booted app; its stdout.
    fn php_in_app(&self, body: &str) -> String {
        let script = self.dir.path().join("script.php");
        let app = fixture_app();
        std::fs::write(
            &script,
            format!(
                "<?php\nrequire '{dir}/vendor/autoload.php';\n$app = require '{dir}/bootstrap/app.php';\n$app->make(Illuminate\\Contracts\\Console\\Kernel::class)->bootstrap();\n{body}\n",
                dir = app.display()
            ),
        )
        .unwrap();
        self.run(
            self.php(&[script.as_os_str()]),
            &format!("php script ({})", self.laravel),
        )
    }

    /// larq's view of the app, from the same `.env` (and nothing from the process environment).
    fn larq_app(&self) -> App {
        let text = std::fs::read_to_string(self.env_file()).unwrap();
        let env = Env::from_dotenv_str(&text, []).expect(".env");
        App::from_env(&env, Some(self.dir.path()), self.laravel).expect("app")
    }

    async fn pool(&self) -> sqlx::AnyPool {
        larq::db::Target::sqlite_file(&self.db())
            .open_pool(1, std::time::Duration::from_secs(10))
            .await
            .expect("sqlite")
    }

    /// `(key, value, expiration)` of every row of `table`, by key.
    async fn rows(&self, table: &str) -> Vec<(String, String, i64)> {
        let column = if table == "cache" { "value" } else { "owner" };
        sqlx::query(&format!(
            "SELECT \"key\", {column}, expiration FROM {table} ORDER BY \"key\""
        ))
        .fetch_all(&self.pool().await)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    }

    /// The uuids of the jobs in the `jobs` table, oldest first.
    async fn job_uuids(&self) -> Vec<String> {
        sqlx::query("SELECT payload FROM jobs ORDER BY id")
            .fetch_all(&self.pool().await)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let payload: Json = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
                payload["uuid"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    async fn failed_uuids(&self) -> Vec<String> {
        sqlx::query("SELECT uuid FROM failed_jobs ORDER BY id")
            .fetch_all(&self.pool().await)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// One `larq work --once` on the `database` connection, in this process.
    async fn larq_work_once(&self) {
        let registry = Registry::new().with::<UniqueJob>().with::<ExceptionsJob>();
        let setup = WorkerSetup {
            connection: Some("database".to_owned()),
            options: WorkerOptions {
                once: true,
                sleep: std::time::Duration::ZERO,
                // The test process holds every integration test: its RSS is no job's.
                memory_mb: 0,
                ..WorkerOptions::default()
            },
            ..WorkerSetup::default()
        };
        let mut setup = setup;
        setup.options.handle_signals = false;
        let worker = self
            .larq_app()
            .worker(registry, setup)
            .await
            .expect("worker");
        worker.run().await.expect("worker run");
    }
}

fn now() -> i64 {
    larq::queue::now() as i64
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct UniqueJob {
    product_id: i64,
}

impl Job for UniqueJob {
    const CLASS: &'static str = "App\\Jobs\\UniqueJob";
    const UNIQUE: Option<Unique> = Some(Unique::UntilProcessed);
    fn unique_id(&self) -> Option<String> {
        Some(format!("product-{}", self.product_id))
    }
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct ExceptionsJob {}

impl Job for ExceptionsJob {
    const CLASS: &'static str = "App\\Jobs\\ExceptionsJob";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        Err(JobError::new("counted"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_signal_crosses_php_and_larq_on_the_database_store() {
    for version in [13, 10, 8] {
        let Some(app) = LiveApp::start(version) else {
            continue;
        };
        let before = now();
        app.artisan(&["queue:restart"]);
        let after = now();
        let key = format!("{}illuminate:queue:restart", app.prefix());
        let rows = app.rows("cache").await;
        assert_eq!(rows.len(), 1, "{version}: {rows:?}");
        let (row_key, value, expiration) = &rows[0];
        assert_eq!(row_key, &key, "{version}: no separator after the prefix");
        let written: i64 = value
            .strip_prefix("i:")
            .and_then(|v| v.strip_suffix(';'))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{version}: {value}"));
        assert!((before..=after).contains(&written), "{version}: {written}");
        // `forever` is ten years from the write.
        assert_eq!(*expiration, written + 315_360_000, "{version}");

        let AppCache::Store(cache) = app.larq_app().cache(false).await.unwrap() else {
            panic!("{version}: larq sees no cache store");
        };
        assert_eq!(cache.driver(), "database", "{version}");
        assert_eq!(
            cache.get(RESTART_KEY).await.unwrap(),
            Some(value.clone().into_bytes()),
            "{version}"
        );

        // The binary, with nothing but the app directory: the version from composer.lock, the
        // store and the database from the .env or the version's defaults.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = bins::larq()
            .args(["restart", "--env"])
            .arg(app.env_file())
            .env_remove("LARQ_LARAVEL_VERSION")
            .env_remove("CACHE_DRIVER")
            .env_remove("CACHE_STORE")
            .env_remove("DB_CONNECTION")
            .env_remove("DB_DATABASE")
            .env_remove("QUEUE_CONNECTION")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{version}: larq restart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = app.php_in_app(
            "echo json_encode(Illuminate\\Support\\Facades\\Cache::get('illuminate:queue:restart'));",
        );
        let seen: i64 = seen
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{version}: {seen}"));
        assert!(
            seen > written,
            "{version}: PHP reads larq's {seen}, not {written}"
        );
        assert_eq!(
            cache.get(RESTART_KEY).await.unwrap(),
            Some(format!("i:{seen};").into_bytes()),
            "{version}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_lock_php_takes_is_released_by_larq() {
    for version in [13, 10, 8] {
        let Some(app) = LiveApp::start(version) else {
            continue;
        };
        app.php_in_app("App\\Jobs\\UniqueJob::dispatch(77);");
        let locks = app.rows("cache_locks").await;
        let expected = if version >= 11 {
            format!(
                "{}laravel_unique_job:App\\Jobs\\UniqueJob:product-77",
                app.prefix()
            )
        } else {
            format!(
                "{}laravel_unique_job:App\\Jobs\\UniqueJobproduct-77",
                app.prefix()
            )
        };
        assert_eq!(locks.len(), 1, "{version}: {locks:?}");
        assert_eq!(locks[0].0, expected, "{version}");
        let larq_locks = app.larq_app().unique_locks().await.unwrap().expect("locks");
        assert_eq!(
            larq_locks.key("App\\Jobs\\UniqueJob", "product-77"),
            expected,
            "{version}"
        );
        // A second dispatch is dropped while the lock is held.
        app.php_in_app("App\\Jobs\\UniqueJob::dispatch(77);");
        assert_eq!(app.job_uuids().await.len(), 1, "{version}");

        app.larq_work_once().await;
        assert_eq!(app.job_uuids().await, Vec::<String>::new(), "{version}");
        assert_eq!(
            app.rows("cache_locks").await,
            vec![],
            "{version}: larq released the lock"
        );
        // And PHP may dispatch it again.
        app.php_in_app("App\\Jobs\\UniqueJob::dispatch(77);");
        assert_eq!(app.rows("cache_locks").await.len(), 1, "{version}");

        // A lock that changed hands since this dispatch (it ran out, another dispatch took it):
        // 13's job carries its lock's owner and releases only that; 10 force-releases.
        sqlx::query("UPDATE cache_locks SET owner = 'another-dispatch'")
            .execute(&app.pool().await)
            .await
            .unwrap();
        app.larq_work_once().await;
        let left = app.rows("cache_locks").await.len();
        assert_eq!(left, usize::from(version >= 13), "{version}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_exceptions_count_in_the_cache_table_as_php_counts() {
    for version in [13, 10, 8] {
        let Some(app) = LiveApp::start(version) else {
            continue;
        };
        // PHP counts the first exception, larq the second and fails the job.
        app.php_in_app("App\\Jobs\\ExceptionsJob::dispatch();");
        let uuid = app.job_uuids().await.remove(0);
        let started = now();
        app.artisan(&["queue:work", "database", "--once"]);
        let key = format!("{}job-exceptions:{uuid}", app.prefix());
        let rows = app.rows("cache").await;
        let counter = rows
            .iter()
            .find(|r| r.0 == key)
            .unwrap_or_else(|| panic!("{version}: {rows:?}"));
        assert_eq!(counter.1, "i:1;", "{version}");
        assert!(
            (started + 86_400..=now() + 86_400).contains(&counter.2),
            "{version}: a day: {counter:?}"
        );
        app.larq_work_once().await;
        assert_eq!(app.failed_uuids().await, vec![uuid.clone()], "{version}");
        assert!(
            !app.rows("cache").await.iter().any(|r| r.0 == key),
            "{version}: the counter is forgotten with the failure"
        );

        // larq counts the first, PHP reads larq's row, counts the second and fails it.
        app.php_in_app("App\\Jobs\\ExceptionsJob::dispatch();");
        let second = app.job_uuids().await.remove(0);
        app.larq_work_once().await;
        let key = format!("{}job-exceptions:{second}", app.prefix());
        let rows = app.rows("cache").await;
        let counter = rows
            .iter()
            .find(|r| r.0 == key)
            .unwrap_or_else(|| panic!("{version}: {rows:?}"));
        assert_eq!(counter.1, "i:1;", "{version}: larq wrote what PHP writes");
        assert_eq!(
            app.job_uuids().await,
            vec![second.clone()],
            "{version}: released"
        );
        app.artisan(&["queue:work", "database", "--once"]);
        assert_eq!(app.failed_uuids().await, vec![uuid, second], "{version}");
        assert!(
            !app.rows("cache").await.iter().any(|r| r.0 == key),
            "{version}"
        );
    }
}

/// `larq migrate` in a Laravel 13 app directory makes `cache:table`'s tables too (the store is
/// the default there), and PHP's database store works on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn larq_migrate_makes_the_cache_tables_laravel_13_uses() {
    let Some(app) = LiveApp::bare(13) else {
        return;
    };
    let out = bins::larq()
        .args(["migrate", "--env"])
        .arg(app.env_file())
        .env_remove("LARQ_LARAVEL_VERSION")
        .env_remove("CACHE_DRIVER")
        .env_remove("CACHE_STORE")
        .env_remove("DB_CONNECTION")
        .env_remove("DB_DATABASE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("failed_jobs, cache, cache_locks"),
        "{stdout}"
    );
    let indexes: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'cache%' ORDER BY name",
    )
    .fetch_all(&app.pool().await)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(
        indexes,
        ["cache_expiration_index", "cache_locks_expiration_index"]
    );
    app.artisan(&["queue:restart"]);
    app.php_in_app("App\\Jobs\\UniqueJob::dispatch(5);");
    assert_eq!(app.rows("cache").await.len(), 1);
    assert_eq!(app.rows("cache_locks").await.len(), 1);
}

/// The store's SQL on the servers (the live tests above run SQLite): PostgreSQL and MariaDB, in
/// tables `larq migrate` makes there as `cache:table` would, under names of this test's own.
#[tokio::test]
async fn the_database_store_on_postgres_and_mariadb() {
    use larq::cache::{CacheStore, DatabaseCache, DatabaseCacheOptions};
    use larq::db::{Database, Target};

    let servers = [
        std::env::var("LARQ_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        std::env::var("LARQ_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
    ];
    for url in servers {
        let target = Target::from_url(&url).unwrap();
        let db = match Database::open(target, 2, std::time::Duration::from_secs(10)).await {
            Ok(db) => db,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{url}: {e}, and CI=true")
            }
            Err(e) => {
                eprintln!("notice: {e}; skipping (it would fail under CI=true)");
                continue;
            }
        };
        let n = std::process::id();
        let (table, locks) = (format!("larq_cache_{n}"), format!("larq_cache_locks_{n}"));
        for name in [&table, &locks] {
            sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                .execute(db.pool())
                .await
                .unwrap();
        }
        let cache = DatabaseCache::new(
            &db,
            DatabaseCacheOptions {
                prefix: "laravel-cache-".to_owned(),
                table: table.clone(),
                lock_table: locks.clone(),
                laravel: Laravel::NEWEST,
            },
        )
        .unwrap();
        // `larq migrate`'s tables, 13's schema (twice: it is idempotent).
        for _ in 0..2 {
            cache.create_tables(Laravel::NEWEST).await.unwrap();
        }
        let store = CacheStore::from(cache);
        let backend = db.backend().name();
        store.forever_int(RESTART_KEY, 1_764_000_000).await.unwrap();
        store.forever_int(RESTART_KEY, 1_764_000_001).await.unwrap();
        assert_eq!(
            store.get(RESTART_KEY).await.unwrap(),
            Some(b"i:1764000001;".to_vec()),
            "{backend}"
        );
        store
            .put_bool("illuminate:queue:paused:redis:default", true, Some(60))
            .await
            .unwrap();
        assert_eq!(
            store
                .get("illuminate:queue:paused:redis:default")
                .await
                .unwrap(),
            Some(b"b:1;".to_vec()),
            "{backend}"
        );
        // A NUL byte: base64 on PostgreSQL, as PHP writes it there; raw on MariaDB.
        store
            .put_serialized("nul", b"s:3:\"a\0b\";", None)
            .await
            .unwrap();
        assert_eq!(
            store.get("nul").await.unwrap(),
            Some(b"s:3:\"a\0b\";".to_vec()),
            "{backend}"
        );
        assert_eq!(store.count_exception("u").await.unwrap(), 1, "{backend}");
        assert_eq!(store.count_exception("u").await.unwrap(), 2, "{backend}");
        assert_eq!(store.count("c", 60).await.unwrap(), 1, "{backend}");
        store.forget("job-exceptions:u").await.unwrap();
        assert_eq!(
            store.get("job-exceptions:u").await.unwrap(),
            None,
            "{backend}"
        );
        sqlx::query(&larq_dialect(
            db.backend(),
            &format!(
                "INSERT INTO {locks} ({}, owner, expiration) VALUES (?, 'o', 9)",
                quoted_key(db.backend())
            ),
        ))
        .bind("laravel-cache-laravel_unique_job:App\\Jobs\\U:7")
        .execute(db.pool())
        .await
        .unwrap();
        store
            .force_release("laravel_unique_job:App\\Jobs\\U:7")
            .await
            .unwrap();
        let left: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {locks}"))
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "{backend}");
        // Job middleware's primitives: a lock taken once (again by its owner), `add` only
        // when missing, `increment` of an existing number only, `put`.
        let lock = "laravel-queue-overlap:App\\Jobs\\O:k";
        assert!(
            store.acquire_lock(lock, "a", 60).await.unwrap(),
            "{backend}"
        );
        assert!(
            !store.acquire_lock(lock, "b", 60).await.unwrap(),
            "{backend}"
        );
        assert!(
            store.acquire_lock(lock, "a", 60).await.unwrap(),
            "{backend}"
        );
        store.release_lock(lock, "a").await.unwrap();
        assert!(store.acquire_lock(lock, "b", 0).await.unwrap(), "{backend}");
        store.release_lock(lock, "b").await.unwrap();
        assert!(store.add_int("hits", 0, 60).await.unwrap(), "{backend}");
        assert!(!store.add_int("hits", 5, 60).await.unwrap(), "{backend}");
        assert_eq!(store.increment("hits", 1).await.unwrap(), 1, "{backend}");
        assert_eq!(store.increment("hits", 1).await.unwrap(), 2, "{backend}");
        assert_eq!(store.increment("none", 1).await.unwrap(), 0, "{backend}");
        store.put_int("hits", 7, 60).await.unwrap();
        assert_eq!(
            store.get("hits").await.unwrap(),
            Some(b"i:7;".to_vec()),
            "{backend}"
        );
        for name in [&table, &locks] {
            sqlx::query(&format!("DROP TABLE {name}"))
                .execute(db.pool())
                .await
                .unwrap();
        }
    }
}

fn quoted_key(backend: larq::db::Backend) -> &'static str {
    if backend == larq::db::Backend::Mysql {
        "`key`"
    } else {
        "\"key\""
    }
}

/// `?` placeholders as `$n` on PostgreSQL.
fn larq_dialect(backend: larq::db::Backend, sql: &str) -> String {
    if backend != larq::db::Backend::Postgres {
        return sql.to_owned();
    }
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Laravel 13's release of a unique lock by its owner, on the Redis store: a compare-and-delete.
#[tokio::test]
async fn a_redis_lock_is_released_only_by_its_owner() {
    let Some(redis) = crate::support::redis_server::TestRedis::start() else {
        return;
    };
    let store = larq::cache::CacheStore::connect(&redis.url(0), "laravel-database-laravel-cache-")
        .await
        .unwrap();
    let key = "laravel-database-laravel-cache-laravel_unique_job:App\\Jobs\\U:7";
    let exists = |conn: &mut redis::Connection| -> bool {
        redis::cmd("EXISTS").arg(key).query::<u8>(conn).unwrap() == 1
    };
    let mut conn = redis.conn(0);
    redis::cmd("SET")
        .arg(key)
        .arg("owner-1")
        .exec(&mut conn)
        .unwrap();
    let name = "laravel_unique_job:App\\Jobs\\U:7";
    store.release_lock(name, "owner-2").await.unwrap();
    assert!(exists(&mut conn), "another owner's lock stays");
    store.release_lock(name, "owner-1").await.unwrap();
    assert!(!exists(&mut conn));
}
