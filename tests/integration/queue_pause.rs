//! Paused queues against the real Laravel 13 (`php-fixtures/bin/php-for 13`, the sid root made by
//! scripts/laravel-roots.sh): `artisan queue:pause` / `queue:resume` stop and start a running
//! `larq work`; `larq pause` / `larq resume` stop and start PHP's `queue:work`; a paused queue is
//! an empty one for `--stop-when-empty` on both sides; `--for` expires; the pause-all switch.
//!
//! Each test has its own redis-server and SQLite file. PHP gets the Laravel 13 skeleton's prefixes
//! (`laravel-database-`, `laravel-cache-`) from the environment; larq gets none and derives the
//! same from `--laravel-version 13`, so a test also shows the two agree on the physical keys.
//! Without the Laravel 13 root a test skips with a notice, except under `CI=true`.

use crate::support::bins;
use crate::support::redis_server::TestRedis;
use crate::support::wait::{wait_exit, wait_for};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The physical cache key of `default`'s pause on the `redis` connection under Laravel 13's
/// skeleton prefixes (Redis `laravel-database-`, cache `laravel-cache-`, no colon between).
const DEFAULT_PAUSE_KEY: &str =
    "laravel-database-laravel-cache-illuminate:queue:paused:redis:default";
const PAUSE_ALL_KEY: &str = "laravel-database-laravel-cache-illuminate:queues:paused";

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the Laravel 13 root is there; under `CI=true` its absence fails the test.
fn laravel13_available() -> bool {
    let roots = std::env::var("LARQ_ROOTS").unwrap_or_else(|_| "/var/lib/larq/roots".to_owned());
    let php = Path::new(&roots).join("sid/usr/bin/php");
    let ok = php.exists() || php.is_symlink();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("no Laravel 13 root at {roots}/sid, and CI=true: run scripts/laravel-roots.sh");
        }
        eprintln!(
            "notice: no Laravel 13 root at {roots}/sid; skipping (this would fail under CI=true)"
        );
    }
    ok
}

/// A private Redis, a scratch SQLite file and record file, the fixture app on Laravel 13.
struct Setup {
    redis: TestRedis,
    dir: tempfile::TempDir,
    /// The `file` cache store's directory instead of the Redis cache.
    file_cache: Option<PathBuf>,
}

impl Setup {
    fn start() -> Option<Setup> {
        Self::start_with(false)
    }

    /// With `file_cache`, the app's cache is the `file` store in a directory of the test's.
    fn start_with(file_cache: bool) -> Option<Setup> {
        if !laravel13_available() {
            return None;
        }
        // Built (once per test process) before any test times a worker.
        bins::recording_backend();
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Setup {
            redis: TestRedis::start()?,
            file_cache: file_cache.then(|| dir.path().join("cache")),
            dir,
        };
        s.artisan(&["larq:setup-db"]);
        Some(s)
    }

    fn record_file(&self) -> PathBuf {
        self.dir.path().join("record.jsonl")
    }

    /// The environment both sides share: this test's Redis and database, a Redis cache.
    fn env(&self, cmd: &mut Command) {
        for var in [
            "REDIS_URL",
            "REDIS_PREFIX",
            "REDIS_DB",
            "REDIS_CACHE_DB",
            "REDIS_QUEUE",
            "REDIS_PASSWORD",
            "LARQ_REDIS_CLUSTER",
            "CACHE_PREFIX",
            "DB_URL",
            "DATABASE_URL",
            "DB_QUEUE",
            "QUEUE_FAILED_DRIVER",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("APP_NAME", "Laravel")
            .env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", self.redis.port.to_string())
            .env("DB_CONNECTION", "sqlite")
            .env("DB_DATABASE", self.dir.path().join("db.sqlite"))
            .env("QUEUE_CONNECTION", "redis")
            .env("CACHE_STORE", "redis")
            .env("CACHE_DRIVER", "redis")
            .env_remove("CACHE_FILE_PATH")
            .env_remove("LARQ_CACHE_FILE_PATH")
            .env("LARQ_LARAVEL_VERSION", "13")
            .env("LARQ_RECORD_FILE", self.record_file())
            .env("LOG_PATH", self.dir.path().join("laravel.log"))
            .stdin(Stdio::null());
        if let Some(dir) = &self.file_cache {
            // PHP's config/cache.php reads CACHE_FILE_PATH; larq LARQ_CACHE_FILE_PATH.
            cmd.env("CACHE_STORE", "file")
                .env("CACHE_DRIVER", "file")
                .env("CACHE_FILE_PATH", dir)
                .env("LARQ_CACHE_FILE_PATH", dir);
        }
    }

    /// `php artisan <args>` on Laravel 13, with the skeleton's key prefixes.
    fn artisan_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(root().join("php-fixtures/bin/php-for"));
        cmd.arg("13")
            .arg(root().join("php-fixtures/app/artisan"))
            .args(args)
            .current_dir(root().join("php-fixtures/app"));
        self.env(&mut cmd);
        cmd.env("REDIS_PREFIX", "laravel-database-")
            .env("CACHE_PREFIX", "laravel-cache-");
        cmd
    }

    fn artisan(&self, args: &[&str]) -> String {
        ok(
            self.artisan_cmd(args).output(),
            &format!("artisan {args:?}"),
        )
    }

    /// `larq <args> --laravel-version 13` (the tests' backend: larq's command line with the
    /// `App\Jobs\SomeJob` handler that records each run).
    fn larq_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bins::recording_backend());
        cmd.args(args).args(["--laravel-version", "13"]);
        self.env(&mut cmd);
        cmd
    }

    fn larq(&self, args: &[&str]) -> String {
        ok(self.larq_cmd(args).output(), &format!("larq {args:?}"))
    }

    /// Dispatch `count` SomeJobs from PHP, with extra `larq:dispatch` options.
    fn dispatch(&self, count: usize, extra: &[&str]) {
        let count = format!("--count={count}");
        let mut args = vec!["larq:dispatch", "SomeJob", count.as_str()];
        args.extend_from_slice(extra);
        self.artisan(&args);
    }

    /// How many SomeJobs have run (PHP's and larq's handlers both record).
    fn runs(&self) -> usize {
        std::fs::read_to_string(self.record_file())
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Jobs waiting in a Redis queue's ready list.
    fn ready(&self, queue: &str) -> usize {
        self.redis
            .cli(&["LLEN", &format!("laravel-database-queues:{queue}")])
            .trim()
            .parse()
            .expect("LLEN")
    }

    /// `GET` and `TTL` of a physical key in the cache's Redis DB.
    fn cache_entry(&self, key: &str) -> (String, i64) {
        let value = self.redis.cli_db(1, &["GET", key]).trim().to_owned();
        let ttl = self
            .redis
            .cli_db(1, &["TTL", key])
            .trim()
            .parse()
            .expect("TTL");
        (value, ttl)
    }

    /// PHP's `queue:work --stop-when-empty` on the redis connection; its exit status.
    fn php_work_until_empty(&self, queues: &str) -> Output {
        let out = self
            .artisan_cmd(&[
                "queue:work",
                "redis",
                &format!("--queue={queues}"),
                "--stop-when-empty",
                "--sleep=0",
            ])
            .output()
            .expect("run queue:work");
        assert!(
            out.status.success(),
            "queue:work failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `larq work --stop-when-empty`; checks it exits 0 promptly.
    fn larq_work_until_empty(&self, connection: &str, queues: &str) {
        let started = Instant::now();
        let mut child = self
            .larq_cmd(&[
                "work",
                connection,
                &format!("--queue={queues}"),
                "--stop-when-empty",
                "--sleep=0",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("work.log")).expect("log"))
            .spawn()
            .expect("spawn larq work");
        let status = wait_exit(&mut child, Duration::from_secs(20))
            .expect("larq work --stop-when-empty exits with the queue paused");
        assert!(status.success(), "larq work exited with {status}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}",
            std::fs::read_to_string(self.dir.path().join("work.log")).unwrap_or_default()
        );
    }
}

fn ok(out: std::io::Result<Output>, what: &str) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills a spawned worker when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn artisan_pause_holds_a_running_larq_worker_until_resume() {
    let Some(s) = Setup::start() else { return };
    let out = s.artisan(&["queue:pause", "redis:default"]);
    assert!(out.contains("Job processing on queue [redis:default] has been paused."));
    assert_eq!(s.cache_entry(DEFAULT_PAUSE_KEY), ("b:1;".to_owned(), -1));

    let _worker = Running(
        s.larq_cmd(&["work", "redis", "--sleep=0.2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn larq work"),
    );
    s.dispatch(3, &[]);
    // Several reserve rounds while paused: nothing is taken.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.runs(), 0, "a paused queue's jobs ran");
    assert_eq!(s.ready("default"), 3);

    let out = s.artisan(&["queue:resume", "redis:default"]);
    assert!(out.contains("has been resumed."));
    assert!(
        wait_for(Duration::from_secs(15), || s.runs() == 3),
        "larq did not run the jobs after queue:resume (runs: {})",
        s.runs()
    );
    assert_eq!(s.ready("default"), 0);
}

#[test]
fn stop_when_empty_treats_a_paused_queue_as_empty_like_php() {
    let Some(s) = Setup::start() else { return };
    s.artisan(&["queue:pause", "redis:default"]);
    s.dispatch(2, &[]);
    s.dispatch(1, &["--queue=other"]);

    // larq: runs the queue that is not paused, leaves the paused one, and exits.
    s.larq_work_until_empty("redis", "default,other");
    assert_eq!(s.runs(), 1);
    assert_eq!((s.ready("default"), s.ready("other")), (2, 0));

    // PHP on the same state does the same.
    s.dispatch(1, &["--queue=other"]);
    s.php_work_until_empty("default,other");
    assert_eq!(s.runs(), 2);
    assert_eq!((s.ready("default"), s.ready("other")), (2, 0));

    // Only the paused queue: both exit at once, taking nothing.
    s.larq_work_until_empty("redis", "default");
    s.php_work_until_empty("default");
    assert_eq!(s.runs(), 2);
    assert_eq!(s.ready("default"), 2);
}

#[test]
fn larq_pause_holds_php_and_larq_resume_releases() {
    let Some(s) = Setup::start() else { return };
    // The same entry as artisan's: key, value, no expiry.
    s.artisan(&["queue:pause", "redis:emails"]);
    let out = s.larq(&["pause", "redis:default"]);
    assert_eq!(
        out.trim(),
        "Job processing on queue [redis:default] has been paused."
    );
    let php = s.cache_entry("laravel-database-laravel-cache-illuminate:queue:paused:redis:emails");
    assert_eq!(s.cache_entry(DEFAULT_PAUSE_KEY), php);
    assert_eq!(php, ("b:1;".to_owned(), -1));

    s.dispatch(1, &[]);
    s.php_work_until_empty("default");
    assert_eq!(s.runs(), 0, "PHP ran a job larq paused");
    assert_eq!(s.ready("default"), 1);

    let out = s.larq(&["resume", "redis:default"]);
    assert_eq!(
        out.trim(),
        "Job processing on queue [redis:default] has been resumed."
    );
    assert_eq!(
        s.redis.cli_db(1, &["EXISTS", DEFAULT_PAUSE_KEY]).trim(),
        "0"
    );
    s.php_work_until_empty("default");
    assert_eq!(s.runs(), 1);
    assert_eq!(s.ready("default"), 0);
}

#[test]
fn pause_for_expires_by_itself() {
    let Some(s) = Setup::start() else { return };
    let out = s.larq(&["pause", "redis:default", "--for", "4"]);
    assert!(out.contains("has been paused for 4 seconds."));
    let paused_at = Instant::now();
    let (value, ttl) = s.cache_entry(DEFAULT_PAUSE_KEY);
    assert_eq!(value, "b:1;");
    assert!((1..=4).contains(&ttl), "TTL {ttl}");

    s.dispatch(1, &[]);
    s.php_work_until_empty("default");
    s.larq_work_until_empty("redis", "default");
    assert_eq!(s.runs(), 0);
    assert!(
        paused_at.elapsed() < Duration::from_secs(4),
        "too slow to see the pause before it expired"
    );

    assert!(wait_for(Duration::from_secs(8), || {
        s.redis.cli_db(1, &["EXISTS", DEFAULT_PAUSE_KEY]).trim() == "0"
    }));
    s.larq_work_until_empty("redis", "default");
    assert_eq!(s.runs(), 1);

    // `--for 0` is `pauseFor(..., 0)`: `Cache::put` with no lifetime forgets the key.
    s.larq(&["pause", "redis:default"]);
    s.larq(&["pause", "redis:default", "--for", "0"]);
    assert_eq!(
        s.redis.cli_db(1, &["EXISTS", DEFAULT_PAUSE_KEY]).trim(),
        "0"
    );
}

#[test]
fn pause_all_and_resume_all() {
    let Some(s) = Setup::start() else { return };
    s.artisan(&["queue:pause", "--all"]);
    assert_eq!(s.cache_entry(PAUSE_ALL_KEY), ("b:1;".to_owned(), -1));
    s.dispatch(1, &[]);
    s.dispatch(1, &["--queue=other"]);
    s.larq_work_until_empty("redis", "default,other");
    assert_eq!(s.runs(), 0);

    // larq's switch is the same entry, and resuming all leaves a single pause in place.
    s.artisan(&["queue:resume", "--all"]);
    s.larq(&["pause", "--all"]);
    assert_eq!(s.cache_entry(PAUSE_ALL_KEY), ("b:1;".to_owned(), -1));
    s.larq(&["pause", "redis:default"]);
    let out = s.larq(&["resume", "--all"]);
    assert!(out.contains("all queues across all connections has been resumed."));
    assert_eq!(s.redis.cli_db(1, &["EXISTS", PAUSE_ALL_KEY]).trim(), "0");
    s.php_work_until_empty("default,other");
    assert_eq!(s.runs(), 1, "only the queue not paused by itself runs");
    assert_eq!((s.ready("default"), s.ready("other")), (1, 0));
}

#[test]
fn stored_numbers_read_as_php_reads_them() {
    let Some(s) = Setup::start() else { return };
    s.dispatch(1, &[]);
    // Redis keeps numbers plain: "1" is PHP's truthy "1", "0" its falsy "0".
    s.redis.cli_db(1, &["SET", DEFAULT_PAUSE_KEY, "1"]);
    s.php_work_until_empty("default");
    s.larq_work_until_empty("redis", "default");
    assert_eq!(s.runs(), 0);
    s.redis.cli_db(1, &["SET", DEFAULT_PAUSE_KEY, "i:0;"]);
    s.php_work_until_empty("default");
    assert_eq!(s.runs(), 1, "PHP reads i:0; as not paused");
    s.dispatch(1, &[]);
    s.redis.cli_db(1, &["SET", DEFAULT_PAUSE_KEY, "0"]);
    s.larq_work_until_empty("redis", "default");
    assert_eq!(s.runs(), 2, "larq reads 0 as not paused");
}

#[test]
fn a_paused_database_queue_is_skipped() {
    let Some(s) = Setup::start() else { return };
    s.artisan(&["queue:pause", "database:default"]);
    s.dispatch(2, &["--connection=database"]);
    s.larq_work_until_empty("database", "default");
    assert_eq!(s.runs(), 0, "a paused database queue's jobs ran");
    // The redis connection's queue of the same name is another queue.
    s.dispatch(1, &[]);
    s.larq_work_until_empty("redis", "default");
    assert_eq!(s.runs(), 1);

    s.larq(&["resume", "database:default"]);
    s.larq_work_until_empty("database", "default");
    assert_eq!(s.runs(), 3);
}

#[test]
fn the_file_cache_store_pauses_both_ways() {
    let Some(s) = Setup::start_with(true) else {
        return;
    };
    let dir = s.file_cache.clone().expect("file cache");
    // sha1("illuminate:queue:paused:redis:default"), in FileStore's two-level layout.
    let entry = |key: &str| {
        use sha1::{Digest, Sha1};
        let hash: String = Sha1::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        dir.join(&hash[0..2]).join(&hash[2..4]).join(&hash)
    };
    let default = entry("illuminate:queue:paused:redis:default");
    let other = entry("illuminate:queue:paused:redis:other");

    s.artisan(&["queue:pause", "redis:default"]);
    assert_eq!(
        std::fs::read(&default).expect("PHP's entry"),
        b"9999999999b:1;"
    );
    s.larq(&["pause", "redis:other"]);
    assert_eq!(
        std::fs::read(&other).expect("larq's entry"),
        b"9999999999b:1;"
    );

    s.dispatch(1, &[]);
    s.dispatch(1, &["--queue=other"]);
    s.larq_work_until_empty("redis", "default,other");
    s.php_work_until_empty("default,other");
    assert_eq!(s.runs(), 0);

    s.larq(&["resume", "redis:default"]);
    assert!(!default.exists());
    s.php_work_until_empty("default,other");
    assert_eq!(s.runs(), 1);
    s.artisan(&["queue:resume", "redis:other"]);
    s.larq_work_until_empty("redis", "default,other");
    assert_eq!(s.runs(), 2);
    assert_eq!((s.ready("default"), s.ready("other")), (0, 0));
}

/// Laravel's `getNextJob` pops nothing when reading the pause state throws; larq takes no job
/// while the cache cannot be read, rather than run a queue whose pause it cannot see. (No PHP:
/// the worker as a library, with a file cache whose directory is a plain file.)
#[tokio::test]
async fn an_unreadable_pause_state_takes_no_jobs() {
    use crate::support::probe::{options, registry};
    use crate::support::some_job::some_job_payload;
    use larq::cache::CacheStore;
    use larq::queue::{RedisQueue, RedisQueueOptions};
    use larq::worker::{StopReason, Worker, WorkerOptions};

    let Some(redis) = TestRedis::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"").expect("write");
    let queue = || async {
        RedisQueue::connect(&redis.url(0), RedisQueueOptions::default())
            .await
            .expect("connect")
    };
    queue()
        .await
        .push(
            "default",
            some_job_payload(1, "pause-unreadable").to_json().as_bytes(),
        )
        .await
        .expect("push");
    let opts = WorkerOptions {
        laravel_version: 13,
        ..options()
    };
    let ready = || {
        redis
            .cli(&["LLEN", "laravel_database_queues:default"])
            .trim()
            .to_owned()
    };

    let broken = Worker::builder(queue().await, registry())
        .cache(CacheStore::file(&not_a_dir))
        .options(opts.clone())
        .build();
    assert_eq!(broken.run().await.expect("run"), StopReason::Empty);
    assert_eq!(
        ready(),
        "1",
        "a job ran while the pause state was unreadable"
    );

    // Laravel 11 has no pauses: the same broken cache is never read for them.
    let eleven = Worker::builder(queue().await, registry())
        .cache(CacheStore::file(&not_a_dir))
        .options(WorkerOptions {
            laravel_version: 11,
            ..opts
        })
        .build();
    assert_eq!(eleven.run().await.expect("run"), StopReason::Empty);
    assert_eq!(ready(), "0");
}
