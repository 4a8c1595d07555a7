//! Unique jobs, PHP vs larq: the fixture's `UniqueJob` (`ShouldBeUnique`, `uniqueId()` =
//! `product-<id>`) takes `laravel_database_laravel_cache:laravel_unique_job:App\Jobs\UniqueJobproduct-77`
//! in Redis DB 0 when dispatched. After PHP's worker runs it the lock is gone, and so it must be
//! after larq's; a released job keeps it; a failed job drops it; `ShouldBeUniqueUntilProcessing`
//! drops it before the handler runs. On Laravel 8, 10 and 13: the key follows the version
//! (`...:laravel_unique_job:<Class>:<id>` from 11, under each version's prefixes), and 13 releases
//! by the owner the job carries (`uniqueLockOwner`): a lock another dispatch owns stays.

use crate::support::laravel;

use std::sync::atomic::{AtomicU8, Ordering};

use laravel::{laravel_tests, App, Serial};
use larq::bus::BusFeatures;
use larq::cache::CacheStore;
use larq::failed::FailedJobStore;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::queue::RedisQueue;
use larq::unique::{Unique, UniqueLocks};
use larq::worker::{Worker, WorkerOptions};

/// The lock of `UniqueJob(77)` on Laravel `major` (as PHP takes it at dispatch).
fn lock(major: u8) -> String {
    let name = if major >= 11 {
        "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"
    } else {
        "laravel_unique_job:App\\Jobs\\UniqueJobproduct-77"
    };
    format!("{}{name}", laravel::cache_prefix(major))
}

static SERIAL: Serial = Serial::new();

/// 0: succeed, 1: release, 2: fail.
static MODE: AtomicU8 = AtomicU8::new(0);
static LOCK_SEEN: AtomicU8 = AtomicU8::new(9);
/// Where `UntilProcessing`'s handler looks: the app's Redis port and the lock key.
static LOOK: std::sync::Mutex<(u16, String)> = std::sync::Mutex::new((0, String::new()));

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
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        match MODE.load(Ordering::SeqCst) {
            1 => ctx.release(0),
            2 => return Err(JobError::new("unique job failed")),
            _ => {}
        }
        Ok(())
    }
}

/// The same class declared `ShouldBeUniqueUntilProcessing`: the handler looks at the lock.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntilProcessing {
    product_id: i64,
}

impl Job for UntilProcessing {
    const CLASS: &'static str = "App\\Jobs\\UniqueJob";
    const UNIQUE: Option<Unique> = Some(Unique::UntilProcessing);
    fn unique_id(&self) -> Option<String> {
        Some(format!("product-{}", self.product_id))
    }
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        let (port, lock) = LOOK.lock().unwrap().clone();
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/0"))
            .unwrap()
            .get_connection()
            .unwrap();
        let exists: u8 = redis::cmd("EXISTS").arg(lock).query(&mut c).unwrap();
        LOCK_SEEN.store(exists, Ordering::SeqCst);
        Ok(())
    }
}

async fn larq_work(app: &App, registry: Registry) {
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .expect("connect");
    let locks = CacheStore::connect(&app.url(0), laravel::cache_prefix(app.major))
        .await
        .unwrap();
    let worker = Worker::builder(queue, registry)
        .failed_store(FailedJobStore::sqlite(&app.db()).await.unwrap())
        .bus(BusFeatures::new("default").unique_locks(UniqueLocks::new(locks, app.major)))
        .options(WorkerOptions {
            once: true,
            sleep: std::time::Duration::ZERO,
            // The test process holds every integration test: its RSS is no job's.
            memory_mb: 0,
            laravel_version: app.major,
            ..WorkerOptions::default()
        })
        .build();
    worker.run().await.expect("worker");
}

fn lock_exists(app: &App) -> bool {
    let n: u8 = redis::cmd("EXISTS")
        .arg(lock(app.major))
        .query(&mut app.conn(0))
        .unwrap();
    n == 1
}

fn unique_keys(app: &App) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*laravel_unique_job*")
        .query(&mut app.conn(0))
        .unwrap();
    keys.sort();
    keys
}

laravel_tests!(async unique_locks_are_released_as_php_releases_them => released_as_php_releases_them; 8 10 13);

async fn released_as_php_releases_them(major: u8) {
    let _serial = SERIAL.lock().await;
    let Some(php_app) = App::start_version(major) else {
        return;
    };
    let Some(larq_app) = App::start_version(major) else {
        return;
    };
    for app in [&php_app, &larq_app] {
        assert_eq!(app.dispatch("unique_job", &[]).len(), 1);
        // The lock holds: a second dispatch is dropped by Laravel.
        assert_eq!(app.dispatch("unique_job", &[]).len(), 0);
        assert!(lock_exists(app), "PHP took the lock at dispatch");
    }
    php_app.artisan(&["queue:work", "redis", "--once", "--sleep=0"]);
    MODE.store(0, Ordering::SeqCst);
    larq_work(&larq_app, Registry::new().with::<UniqueJob>()).await;
    assert_eq!(unique_keys(&larq_app), unique_keys(&php_app));
    assert!(
        !lock_exists(&larq_app),
        "larq released the lock after success"
    );
    // PHP can dispatch it again now.
    assert_eq!(larq_app.dispatch("unique_job", &[]).len(), 1);

    // Released: the lock stays.
    MODE.store(1, Ordering::SeqCst);
    larq_work(&larq_app, Registry::new().with::<UniqueJob>()).await;
    assert!(lock_exists(&larq_app), "a released job keeps its lock");
    // Failed for good (tries 1): the lock goes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    MODE.store(2, Ordering::SeqCst);
    larq_work(&larq_app, Registry::new().with::<UniqueJob>()).await;
    let failed = FailedJobStore::sqlite(&larq_app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "the job failed");
    assert!(!lock_exists(&larq_app), "a failed job releases its lock");

    // ShouldBeUniqueUntilProcessing: gone before the handler runs.
    assert_eq!(larq_app.dispatch("unique_job", &[]).len(), 1);
    assert!(lock_exists(&larq_app));
    *LOOK.lock().unwrap() = (larq_app.redis.port, lock(major));
    larq_work(&larq_app, Registry::new().with::<UntilProcessing>()).await;
    assert_eq!(
        LOCK_SEEN.load(Ordering::SeqCst),
        0,
        "the lock was gone inside the handler"
    );
    assert!(!lock_exists(&larq_app));

    // The job's lock expired and another dispatch took it (another owner): 8 and 10 force the
    // release and delete it anyway; 13 releases by the owner the job carries and leaves it.
    MODE.store(0, Ordering::SeqCst);
    for app in [&php_app, &larq_app] {
        assert_eq!(app.dispatch("unique_job", &[]).len(), 1);
        let _: () = redis::cmd("SET")
            .arg(lock(major))
            .arg("another-owner")
            .query(&mut app.conn(0))
            .unwrap();
    }
    php_app.artisan(&["queue:work", "redis", "--once", "--sleep=0"]);
    larq_work(&larq_app, Registry::new().with::<UniqueJob>()).await;
    assert_eq!(
        lock_exists(&php_app),
        major >= 13,
        "PHP's release of another owner's lock"
    );
    assert_eq!(
        lock_exists(&larq_app),
        lock_exists(&php_app),
        "larq releases another owner's lock as PHP does"
    );
}
