//! Job middleware shared by PHP and larq workers on one queue, on Laravel 8, 10 and 13.
//!
//! The fixture's `OverlapJob` declares `WithoutOverlapping('shared')->releaseAfter(1)` in its
//! `middleware()` method and `LimitedJob` declares `RateLimited('larq-fixture')` (3 a minute,
//! registered in the app's `AppServiceProvider`); the Rust twins declare the same. PHP's
//! `queue:work` and larq then work the same Redis queue with the same cache store: never two
//! `OverlapJob`s at once across both, and at most 3 `LimitedJob`s a minute across both, the rest
//! released as PHP releases them. The unknown-middleware policy runs on the captured
//! `middleware_job` payload (a custom `App\Middleware\Tagged` beside `WithoutOverlapping`).

use crate::support::laravel;
use crate::support::redis_support::TestRedis;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use laravel::{laravel_tests, App, Serial};
use larq::cache::CacheStore;
use larq::failed::FailedJobStore;
use larq::job::middleware::{ThrottlesExceptions, WithoutOverlapping};
use larq::job::{Job, JobContext, JobError, Limit, Middleware, Registry};
use larq::limiter::DurationLimiter;
use larq::middleware::{MiddlewarePolicies, UnknownMiddleware};
use larq::queue::{RedisQueue, RedisQueueOptions};
use larq::worker::{Worker, WorkerOptions};
use serde_json::{json, Value as Json};

static SERIAL: Serial = Serial::new();

/// Where the Rust handlers record (one JSON line per run); set per test under `SERIAL`.
static RECORDS: Mutex<Option<PathBuf>> = Mutex::new(None);

fn record(line: Json) {
    let path = RECORDS.lock().unwrap().clone().expect("records path set");
    crate::support::lines::append_line(&path, &line.to_string());
}

fn larq_records(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn now_f() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[derive(serde::Deserialize)]
struct OverlapJob {
    n: i64,
    millis: u64,
}

impl Job for OverlapJob {
    const CLASS: &'static str = "App\\Jobs\\OverlapJob";
    fn middleware(&self) -> Vec<Middleware> {
        vec![Middleware::WithoutOverlapping(
            WithoutOverlapping::new("shared").release_after(1),
        )]
    }
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let start = now_f();
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        record(json!({"n": self.n, "start": start, "end": now_f(), "attempts": ctx.attempts()}));
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct LimitedJob {
    n: i64,
    /// `RateLimitedWithRedis` instead (10+ leave the default `false` out of the command).
    #[serde(default)]
    redis: bool,
}

impl Job for LimitedJob {
    const CLASS: &'static str = "App\\Jobs\\LimitedJob";
    fn middleware(&self) -> Vec<Middleware> {
        let limited = larq::job::middleware::RateLimited::new("larq-fixture");
        vec![Middleware::RateLimited(if self.redis {
            limited.with_redis()
        } else {
            limited
        })]
    }
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        record(json!({"n": self.n}));
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct ThrottledJob {
    n: i64,
    /// `ThrottlesExceptionsWithRedis` instead.
    #[serde(default)]
    redis: bool,
}

impl Job for ThrottledJob {
    const CLASS: &'static str = "App\\Jobs\\ThrottledJob";
    fn middleware(&self) -> Vec<Middleware> {
        let throttle = ThrottlesExceptions::new(2, 60);
        vec![Middleware::ThrottlesExceptions(if self.redis {
            throttle.with_redis()
        } else {
            throttle
        })]
    }
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        record(json!({"n": self.n}));
        Err(JobError::new(format!("throttled {}", self.n)))
    }
}

/// `php artisan queue:work ...` for `app`, in the background.
fn php_worker(app: &App, args: &[&str]) -> Child {
    let mut c = laravel::artisan_command_for(app.major, args);
    c.envs(
        app.command(Path::new("php"))
            .get_envs()
            .filter_map(|(k, v)| Some((k, v?))),
    );
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Where the app keeps its cache, for PHP (`CACHE_DRIVER`/`CACHE_STORE`) and larq alike.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    /// The skeleton's Redis store: counters on the `cache` connection (DB 1), locks on its
    /// `lock_connection`, `default` (DB 0).
    Redis,
    /// The `database` store: the `cache` and `cache_locks` tables of the app's SQLite file.
    Database,
    /// The `file` store, in a directory beside the app's SQLite file.
    File,
}

/// Every file under `dir`.
fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The `file` store's directory for `app`.
fn file_cache_dir(app: &App) -> PathBuf {
    app.db().with_file_name("file-cache")
}

/// The `file` store as `app`'s version names its entries.
fn file_cache(app: &App) -> larq::cache::FileCache {
    larq::cache::FileCache::new(file_cache_dir(app))
        .with_lock_prefix(larq::Laravel::nearest(app.major).file_lock_prefix())
}

/// Make the app's PHP side use `store`.
fn use_store(app: &App, store: Store) {
    let var = larq::Laravel::nearest(app.major).cache_store_var();
    match store {
        Store::Redis => {}
        Store::Database => app.set_env(var, "database"),
        Store::File => {
            app.set_env(var, "file");
            app.set_env(
                "CACHE_FILE_PATH",
                &file_cache_dir(app).display().to_string(),
            );
        }
    }
}

async fn larq_worker(app: &App, registry: Registry, options: WorkerOptions) {
    larq_worker_on(app, Store::Redis, registry, options).await
}

async fn larq_worker_on(app: &App, store: Store, registry: Registry, options: WorkerOptions) {
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .unwrap();
    let (cache, locks) = match store {
        Store::Redis => (
            CacheStore::connect(&app.url(1), laravel::cache_prefix(app.major))
                .await
                .unwrap(),
            CacheStore::connect(&app.url(0), laravel::cache_prefix(app.major))
                .await
                .unwrap(),
        ),
        Store::Database => {
            let laravel = larq::Laravel::nearest(app.major);
            let db = larq::db::Database::open(
                larq::db::Target::sqlite_file(&app.db()),
                2,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            let cache = CacheStore::from(
                larq::cache::DatabaseCache::new(
                    &db,
                    larq::cache::DatabaseCacheOptions {
                        prefix: laravel.cache_prefix("Laravel"),
                        table: "cache".to_owned(),
                        lock_table: "cache_locks".to_owned(),
                        laravel,
                    },
                )
                .unwrap(),
            );
            (cache.clone(), cache)
        }
        Store::File => {
            let cache = CacheStore::from(file_cache(app));
            (cache.clone(), cache)
        }
    };
    // The default connection, under the Redis prefix: where the `...WithRedis` middleware count.
    let windows = DurationLimiter::connect(&app.url(0), app.prefix())
        .await
        .unwrap();
    Worker::builder(queue, registry)
        .failed_store(FailedJobStore::sqlite(&app.db()).await.unwrap())
        .cache(cache)
        .lock_store(locks)
        .duration_limiter(windows)
        .options(WorkerOptions {
            // The test process holds every integration test: its RSS is no job's.
            memory_mb: 0,
            laravel_version: app.major,
            ..options
        })
        .build()
        .run()
        .await
        .unwrap();
}

laravel_tests!(async without_overlapping_holds_across_php_and_larq => overlap_shared; 8 10 13);
laravel_tests!(async without_overlapping_on_the_database_store_holds_across_php_and_larq => overlap_database_shared; 8 10 13);
laravel_tests!(async without_overlapping_on_the_file_store_holds_across_php_and_larq => overlap_file_shared; 8 10 13);

async fn overlap_shared(major: u8) {
    overlap_shared_on(major, Store::Redis).await
}

async fn overlap_database_shared(major: u8) {
    overlap_shared_on(major, Store::Database).await
}

async fn overlap_file_shared(major: u8) {
    overlap_shared_on(major, Store::File).await
}

async fn overlap_shared_on(major: u8, store: Store) {
    let _serial = SERIAL.lock().await;
    let Some(app) = App::start_version(major) else {
        return;
    };
    use_store(&app, store);
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("larq.jsonl");
    *RECORDS.lock().unwrap() = Some(mine.clone());
    const JOBS: usize = 10;
    app.php_in_app(&format!(
        "for ($i = 0; $i < {JOBS}; $i++) {{ App\\Jobs\\OverlapJob::dispatch($i, 300); }}"
    ));
    let mut php = php_worker(&app, &["queue:work", "redis", "--sleep=0", "--tries=0"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while app.records().len() + larq_records(&mine).len() < JOBS && Instant::now() < deadline {
        larq_worker_on(
            &app,
            store,
            Registry::new().with::<OverlapJob>(),
            WorkerOptions {
                max_time: Duration::from_secs(2),
                sleep: Duration::from_millis(100),
                tries: 0,
                ..WorkerOptions::default()
            },
        )
        .await;
    }
    // Between jobs the PHP worker holds no lock: stopping it here loses nothing.
    let _ = php.kill();
    let _ = php.wait();

    let mut runs: Vec<(f64, f64, i64, i64, &str)> = Vec::new();
    let theirs = app.records();
    for r in &theirs {
        let n = laravel::prop(r, "n")["v"]["v"].as_i64().unwrap();
        runs.push((
            r["start"].as_f64().unwrap(),
            r["end"].as_f64().unwrap(),
            n,
            r["attempts"].as_i64().unwrap(),
            "php",
        ));
    }
    let ours = larq_records(&mine);
    for r in &ours {
        runs.push((
            r["start"].as_f64().unwrap(),
            r["end"].as_f64().unwrap(),
            r["n"].as_i64().unwrap(),
            r["attempts"].as_i64().unwrap(),
            "larq",
        ));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ns: Vec<i64> = runs.iter().map(|r| r.2).collect();
    ns.sort_unstable();
    assert_eq!(
        ns,
        (0..JOBS as i64).collect::<Vec<_>>(),
        "each job once: {runs:?}"
    );
    for w in runs.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "two OverlapJobs ran at once: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    assert!(
        runs.iter().any(|r| r.4 == "php") && runs.iter().any(|r| r.4 == "larq"),
        "both workers ran some: {runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.3 > 1),
        "jobs that met the lock were released and ran later: {runs:?}"
    );
    let locks: Vec<String> = match store {
        Store::Redis => redis::cmd("KEYS")
            .arg("*laravel-queue-overlap*")
            .query(&mut app.conn(0))
            .unwrap(),
        Store::Database => {
            let db = larq::db::Database::open(
                larq::db::Target::sqlite_file(&app.db()),
                1,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            sqlx::query_scalar(
                "SELECT \"key\" FROM cache_locks WHERE \"key\" LIKE '%laravel-queue-overlap%'",
            )
            .fetch_all(db.pool())
            .await
            .unwrap()
        }
        // A released file lock is a deleted entry.
        Store::File => {
            let cache = file_cache(&app);
            let name = WithoutOverlapping::new("shared").lock_name("App\\Jobs\\OverlapJob");
            let lock = cache.path(&cache.lock_name(&name));
            walkdir(&file_cache_dir(&app))
                .into_iter()
                .filter(|p| *p == lock)
                .map(|p| p.display().to_string())
                .collect()
        }
    };
    assert!(locks.is_empty(), "every lock released: {locks:?}");
}

/// The delayed jobs' due times (`{prefix}queues:default:delayed` scores).
fn delayed_scores(app: &App) -> Vec<f64> {
    let pairs: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(format!("{}:delayed", app.queue_key("default")))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut app.conn(0))
        .unwrap();
    pairs.into_iter().map(|(_, s)| s).collect()
}

laravel_tests!(async rate_limited_counts_php_and_larq_together => rate_limit_shared; 8 10 13);
laravel_tests!(async rate_limited_with_redis_counts_php_and_larq_together => rate_limit_redis_shared; 8 10 13);

laravel_tests!(async rate_limited_on_the_database_store_counts_php_and_larq_together => rate_limit_database_shared; 8 10 13);
laravel_tests!(async rate_limited_on_the_file_store_counts_php_and_larq_together => rate_limit_file_shared; 8 10 13);

async fn rate_limit_shared(major: u8) {
    rate_limit_shared_on(major, false, Store::Redis).await
}

async fn rate_limit_redis_shared(major: u8) {
    rate_limit_shared_on(major, true, Store::Redis).await
}

async fn rate_limit_database_shared(major: u8) {
    rate_limit_shared_on(major, false, Store::Database).await
}

async fn rate_limit_file_shared(major: u8) {
    rate_limit_shared_on(major, false, Store::File).await
}

/// `redis`: the `RateLimitedWithRedis` twin, counted in a Redis window on the default
/// connection instead of the cache store's entries; `store`: the app's cache store.
async fn rate_limit_shared_on(major: u8, redis: bool, store: Store) {
    let _serial = SERIAL.lock().await;
    let Some(app) = App::start_version(major) else {
        return;
    };
    use_store(&app, store);
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("larq.jsonl");
    *RECORDS.lock().unwrap() = Some(mine.clone());
    let registry = || {
        Registry::new()
            .with::<LimitedJob>()
            .limiter("larq-fixture", |_| Limit::per_minute(3).into())
    };
    let once = || WorkerOptions {
        stop_when_empty: true,
        sleep: Duration::ZERO,
        ..WorkerOptions::default()
    };
    // PHP runs two: two hits of the limit's three.
    app.php_in_app(&format!(
        "App\\Jobs\\LimitedJob::dispatch(1, {redis}); App\\Jobs\\LimitedJob::dispatch(2, {redis});"
    ));
    app.artisan(&["queue:work", "redis", "--stop-when-empty", "--sleep=0"]);
    assert_eq!(app.records().len(), 2);
    // larq runs the third and releases the rest until the minute is over.
    app.php_in_app(&format!(
        "for ($i = 3; $i <= 5; $i++) {{ App\\Jobs\\LimitedJob::dispatch($i, {redis}); }}"
    ));
    let before = now_f();
    larq_worker_on(&app, store, registry(), once()).await;
    let ours = larq_records(&mine);
    assert_eq!(ours.len(), 1, "larq ran one: {ours:?}");
    let larq_due = delayed_scores(&app);
    assert_eq!(larq_due.len(), 2, "larq released the other two");
    // PHP sees the same count: its next one is released too.
    app.php_in_app(&format!("App\\Jobs\\LimitedJob::dispatch(6, {redis});"));
    app.artisan(&["queue:work", "redis", "--stop-when-empty", "--sleep=0"]);
    assert_eq!(
        app.records().len(),
        2,
        "PHP ran no more: the limit is shared"
    );
    let all_due = delayed_scores(&app);
    assert_eq!(all_due.len(), 3);
    let php_due: Vec<f64> = all_due
        .iter()
        .filter(|s| !larq_due.contains(s))
        .copied()
        .collect();
    // Both release until the window's timer ends, plus 3 s (the window began with PHP's first
    // run, a few seconds ago).
    for due in all_due {
        let wait = due - before;
        assert!((40.0..=64.0).contains(&wait), "released for {wait} s");
    }
    if let (Some(p), Some(l)) = (php_due.first(), larq_due.first()) {
        assert!((p - l).abs() <= 3.0, "PHP released to {p}, larq to {l}");
    }
}

/// The captured `middleware_job` payload on a private Redis: `App\Middleware\Tagged` (no larq
/// implementation) and `WithoutOverlapping('order-5')->releaseAfter(10)`.
async fn run_middleware_job(
    policies: MiddlewarePolicies,
    lock_taken: bool,
) -> (TestRedis, Vec<String>, Vec<(String, f64)>, String) {
    let redis = TestRedis::start().expect("redis-server");
    let payload = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("php-fixtures/corpus/laravel-8/middleware_job.json"),
    )
    .unwrap();
    let mut conn = redis.conn(0);
    let _: () = redis::cmd("RPUSH")
        .arg("laravel_database_queues:default")
        .arg(&payload)
        .query(&mut conn)
        .unwrap();
    let cache = CacheStore::connect(&redis.url(0), "cache:").await.unwrap();
    let lock = "cache:laravel-queue-overlap:App\\Jobs\\MiddlewareJob:order-5";
    if lock_taken {
        let _: () = redis::cmd("SET")
            .arg(lock)
            .arg("php-owner")
            .query(&mut conn)
            .unwrap();
    }
    let queue = RedisQueue::connect(&redis.url(0), RedisQueueOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let failed = FailedJobStore::sqlite(&dir.path().join("f.sqlite"))
        .await
        .unwrap();
    failed.ensure_table().await.unwrap();
    let metrics = larq::metrics::Metrics::new();
    Worker::builder(queue, Registry::new().with::<MiddlewareJob>())
        .metrics(std::sync::Arc::clone(&metrics))
        .failed_store(failed.clone())
        .cache(cache)
        .middleware_policies(policies)
        .options(WorkerOptions {
            once: true,
            sleep: Duration::ZERO,
            memory_mb: 0,
            ..WorkerOptions::default()
        })
        .build()
        .run()
        .await
        .unwrap();
    let exceptions = failed
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exception)
        .collect();
    let delayed: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("laravel_database_queues:default:delayed")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut conn)
        .unwrap();
    (redis, exceptions, delayed, metrics.render().await)
}

static RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(serde::Deserialize)]
struct MiddlewareJob {}

impl Job for MiddlewareJob {
    const CLASS: &'static str = "App\\Jobs\\MiddlewareJob";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn middleware_larq_cannot_apply_follows_the_policy() {
    static ONE: Serial = Serial::new();
    let _one = ONE.lock().await;
    // Default: fail, naming the class.
    let ran = RAN.load(std::sync::atomic::Ordering::SeqCst);
    let (_r, failed, delayed, metrics) =
        run_middleware_job(MiddlewarePolicies::default(), false).await;
    assert!(
        metrics.contains("larq_middleware_unapplied_total{policy=\"fail\"} 1\n"),
        "{metrics}"
    );
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("Larq\\Queue\\UnsupportedMiddleware")
            && failed[0].contains("App\\Middleware\\Tagged"),
        "{}",
        failed[0]
    );
    assert!(delayed.is_empty());
    assert_eq!(
        RAN.load(std::sync::atomic::Ordering::SeqCst),
        ran,
        "not run"
    );

    // Hand back: untouched, in :delayed, nothing failed, not run.
    let policies = MiddlewarePolicies::new(UnknownMiddleware::Fail)
        .class("App\\Middleware\\Tagged", UnknownMiddleware::HandBack);
    let (_r, failed, delayed, metrics) = run_middleware_job(policies, false).await;
    assert!(metrics.contains("larq_middleware_unapplied_total{policy=\"hand_back\"} 1\n"));
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(delayed.len(), 1);
    assert_eq!(
        RAN.load(std::sync::atomic::Ordering::SeqCst),
        ran,
        "not run"
    );

    // Run without Tagged: WithoutOverlapping still applies. The lock is free: it runs.
    let without = || {
        MiddlewarePolicies::new(UnknownMiddleware::Fail)
            .class("App\\Middleware\\Tagged", UnknownMiddleware::RunWithout)
    };
    let (r, failed, delayed, metrics) = run_middleware_job(without(), false).await;
    assert!(metrics.contains("larq_middleware_unapplied_total{policy=\"run_without\"} 1\n"));
    assert!(
        failed.is_empty() && delayed.is_empty(),
        "{failed:?} {delayed:?}"
    );
    assert_eq!(
        RAN.load(std::sync::atomic::Ordering::SeqCst),
        ran + 1,
        "ran"
    );
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("*overlap*")
        .query(&mut r.conn(0))
        .unwrap();
    assert!(left.is_empty(), "the lock was released: {left:?}");

    // The lock is held by another worker: released for its releaseAfter (10 s), not run.
    let at = now_f();
    let (_r, failed, delayed, _) = run_middleware_job(without(), true).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(delayed.len(), 1);
    let wait = delayed[0].1 - at;
    assert!((9.0..=12.0).contains(&wait), "released for {wait} s");
    assert_eq!(
        RAN.load(std::sync::atomic::Ordering::SeqCst),
        ran + 1,
        "not run again"
    );
}

laravel_tests!(async throttles_exceptions_count_php_and_larq_together => throttles_shared; 8 10 13);
laravel_tests!(async throttles_exceptions_with_redis_count_php_and_larq_together => throttles_redis_shared; 8 10 13);

async fn throttles_shared(major: u8) {
    throttles_shared_on(major, false).await
}

async fn throttles_redis_shared(major: u8) {
    throttles_shared_on(major, true).await
}

/// Four `ThrottledJob`s (2 exceptions per 60 s for the class), one run at a time, PHP and larq
/// in turn: the first two runs throw and are released at once (backoff 0) with the count at 1
/// and 2; the next two find the count at its maximum and are released, unrun, until the window
/// ends (plus 3 s on the cache store), by PHP and by larq alike. `redis`: the
/// `ThrottlesExceptionsWithRedis` twin.
async fn throttles_shared_on(major: u8, redis: bool) {
    let _serial = SERIAL.lock().await;
    let Some(app) = App::start_version(major) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("larq.jsonl");
    *RECORDS.lock().unwrap() = Some(mine.clone());
    app.php_in_app(&format!(
        "for ($i = 0; $i < 4; $i++) {{ App\\Jobs\\ThrottledJob::dispatch($i, {redis}); }}"
    ));
    let started = now_f();
    for _ in 0..2 {
        app.artisan(&["queue:work", "redis", "--once", "--tries=0"]);
        larq_worker(
            &app,
            Registry::new().with::<ThrottledJob>(),
            WorkerOptions {
                once: true,
                tries: 0,
                ..WorkerOptions::default()
            },
        )
        .await;
    }
    assert_eq!(
        (app.records().len(), larq_records(&mine).len()),
        (1, 1),
        "one run each before the class had 2 exceptions"
    );
    let delayed: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(format!("{}:delayed", app.queue_key("default")))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut app.conn(0))
        .unwrap();
    let mut held_back: Vec<f64> = delayed
        .iter()
        .map(|(_, due)| *due)
        .filter(|due| *due > started + 30.0)
        .collect();
    held_back.sort_by(f64::total_cmp);
    assert_eq!(
        held_back.len(),
        2,
        "PHP and larq each held one back: {delayed:?}"
    );
    assert!(
        held_back[1] - held_back[0] <= 3.0 && held_back[1] <= now_f() + 64.0,
        "both until the same window's end + 3 s: {held_back:?}"
    );
    // No job failed: a throttled exception releases the job instead.
    let failed = FailedJobStore::sqlite(&app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SomeJob {
    some_param: String,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        record(json!({"ran": self.some_param}));
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct FailFastJob {
    n: i64,
}

impl Job for FailFastJob {
    const CLASS: &'static str = "App\\Jobs\\FailFastJob";
    fn middleware(&self) -> Vec<Middleware> {
        vec![Middleware::FailOnException(vec![
            "RuntimeException".to_owned()
        ])]
    }
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        record(json!({"ran": format!("fail fast {}", self.n)}));
        // JobError::new's class is RuntimeException, the class FailOnException names.
        Err(JobError::new(format!("fail fast {}", self.n)))
    }
}

/// Laravel 13's dispatch-time middleware (`->through([Skip::when(...), Release::when(...)])`,
/// evaluated when dispatched, serialized in the command) and `FailOnException` from a class's
/// `middleware()`: PHP's worker and larq each get the same four jobs and must end them alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_release_and_fail_on_exception_match_php_on_laravel_13() {
    let _serial = SERIAL.lock().await;
    let Some(app) = App::start_version(13) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("larq.jsonl");
    *RECORDS.lock().unwrap() = Some(mine.clone());
    app.php_in_app(
        r#"
        use Illuminate\Queue\Middleware\Release;
        use Illuminate\Queue\Middleware\Skip;
        foreach (['php', 'larq'] as $q) {
            App\Jobs\SomeJob::dispatch(1, 'skipped')->through([Skip::when(true)])->onQueue($q);
            App\Jobs\SomeJob::dispatch(2, 'released')->through([Release::when(true, 30)])->onQueue($q);
            App\Jobs\SomeJob::dispatch(3, 'runs')->through([Skip::when(false), Release::unless(true)])->onQueue($q);
            App\Jobs\FailFastJob::dispatch(4)->onQueue($q);
        }
        "#,
    );
    let started = now_f();
    app.artisan(&[
        "queue:work",
        "redis",
        "--queue=php",
        "--stop-when-empty",
        "--sleep=0",
    ]);
    larq_worker(
        &app,
        Registry::new().with::<SomeJob>().with::<FailFastJob>(),
        WorkerOptions {
            queues: vec!["larq".to_owned()],
            stop_when_empty: true,
            sleep: Duration::ZERO,
            ..WorkerOptions::default()
        },
    )
    .await;

    // The same handlers ran: the unskipped SomeJob, and FailFastJob once.
    let mut theirs: Vec<String> = app
        .records()
        .iter()
        .map(|r| match r["class"].as_str() {
            Some("App\\Jobs\\SomeJob") => laravel::prop(r, "someParam")["v"]["v"]
                .as_str()
                .unwrap()
                .to_owned(),
            _ => "fail fast 4".to_owned(),
        })
        .collect();
    theirs.sort();
    let mut ours: Vec<String> = larq_records(&mine)
        .iter()
        .map(|r| r["ran"].as_str().unwrap().to_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, theirs);
    assert_eq!(theirs, ["fail fast 4", "runs"]);

    // The released one waits 30 s on each queue; nothing else is left.
    let mut conn = app.conn(0);
    for q in ["php", "larq"] {
        let due: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(format!("{}:delayed", app.queue_key(q)))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(&mut conn)
            .unwrap();
        assert_eq!(due.len(), 1, "{q}: {due:?}");
        let wait = due[0].1 - started;
        assert!((25.0..=40.0).contains(&wait), "{q}: released for {wait} s");
        let ready: usize = redis::cmd("LLEN")
            .arg(app.queue_key(q))
            .query(&mut conn)
            .unwrap();
        assert_eq!(ready, 0, "{q}");
    }
    // FailOnException failed FailFastJob on its first attempt, on both sides (the row keeps the
    // payload as it was pushed: a job released once would show attempts=1).
    let failed = FailedJobStore::sqlite(&app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    let mut rows: Vec<(String, String)> = failed
        .iter()
        .map(|r| {
            let payload: Json = serde_json::from_str(&r.payload).unwrap();
            (
                r.queue.clone(),
                format!(
                    "{} attempts={}",
                    r.exception.split(" in ").next().unwrap_or_default(),
                    payload["attempts"]
                ),
            )
        })
        .collect();
    rows.sort();
    let expected = |q: &str| {
        (
            q.to_owned(),
            "RuntimeException: fail fast 4 attempts=0".to_owned(),
        )
    };
    assert_eq!(rows, vec![expected("larq"), expected("php")], "{failed:#?}");
}
