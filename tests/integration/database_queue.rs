//! The `database` queue driver against the real servers on the machine (PostgreSQL, MariaDB) and
//! SQLite files: the table operations, two workers sharing a table, failed jobs, kill -9
//! recovery, the real Laravel app dispatching to SQLite for `larq work database`, and a PHP
//! `queue:work database` sharing one table with larq.
//!
//! Each test uses its own table (`larq_t_<pid>_<n>`) or SQLite file and drops it afterwards, so
//! tests run in parallel with each other and with other suites. A missing server is skipped with a
//! notice, except under `CI=true`, where it fails.

use crate::support::bins;
use crate::support::laravel::{self, laravel_tests};
use crate::support::php as php_support;
use crate::support::probe as probe_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use larq::failed::FailedJobStore;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::payload::Payload;
use larq::queue::{DatabaseQueue, DatabaseQueueOptions};
use larq::worker::{StopReason, Worker, WorkerOptions};
use php_support::php_available;
use probe_support::{
    assert_shared_each_once, child_retry_after, now_f, options, php_record_uuids, records,
    registry, run_child_worker, wait_for,
};

// ---- databases ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Mysql,
    Postgres,
}

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn server_url(kind: Kind) -> String {
    match kind {
        Kind::Sqlite => unreachable!(),
        Kind::Mysql => std::env::var("LARQ_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
        Kind::Postgres => std::env::var("LARQ_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
    }
}

/// One test's database: a URL and a table of its own, dropped on drop (with the whole database
/// when the test made one of its own, [`TestDb::open_own`]).
struct TestDb {
    kind: Kind,
    url: String,
    table: String,
    dir: tempfile::TempDir,
    /// The server database this test created (and drops), if any.
    own_database: Option<String>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// `None` (after a notice) when the server is not reachable outside CI; a panic under CI.
    async fn open(kind: Kind) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let table = format!(
            "larq_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let url = match kind {
            Kind::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("q.sqlite").display()
            ),
            _ => server_url(kind),
        };
        let db = TestDb {
            kind,
            url,
            table,
            dir,
            own_database: None,
        };
        db.probe_and_create().await.then_some(db)
    }

    /// Like [`TestDb::open`], but on a server in a database of the test's own
    /// (`larq_ops_<pid>_<n>`, created here through the server's `test` database and dropped on
    /// drop), as tests/failed_db.rs does, so nothing else on the server can meet its rows.
    async fn open_own(kind: Kind) -> Option<TestDb> {
        if kind == Kind::Sqlite {
            return TestDb::open(kind).await;
        }
        let name = format!(
            "larq_ops_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        sqlx::any::install_default_drivers();
        let admin = async {
            let admin = sqlx::AnyPool::connect(&server_url(kind)).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await?;
            admin.close().await;
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), admin).await {
            Ok(Ok(())) => {}
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connect timed out".to_owned(),
                };
                if in_ci() {
                    panic!("{kind:?} is not reachable and CI=true: {why}");
                }
                eprintln!("notice: {kind:?} not reachable ({why}); skipping (this would fail under CI=true)");
                return None;
            }
        }
        let base = server_url(kind);
        let (server, _) = base.rsplit_once('/').expect("a database in the URL");
        let db = TestDb {
            kind,
            url: format!("{server}/{name}"),
            table: "jobs".to_owned(),
            dir: tempfile::tempdir().unwrap(),
            own_database: Some(name),
        };
        db.probe_and_create().await.then_some(db)
    }

    /// Connect and create the jobs table; false (after a notice) when the server is not
    /// reachable outside CI, a panic under CI.
    async fn probe_and_create(&self) -> bool {
        let (db, kind) = (self, self.kind);
        let probe = tokio::time::timeout(Duration::from_secs(10), db.queue_opts(90, 1)).await;
        match probe {
            Ok(Ok(q)) => {
                q.create_jobs_table().await.unwrap();
                true
            }
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connect timed out".to_owned(),
                };
                if in_ci() {
                    panic!("{kind:?} is not reachable and CI=true: {why}");
                }
                eprintln!("notice: {kind:?} not reachable ({why}); skipping (this would fail under CI=true)");
                false
            }
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("q.sqlite")
    }

    async fn queue_opts(
        &self,
        retry_after: u64,
        conns: u32,
    ) -> Result<DatabaseQueue, larq::queue::QueueError> {
        DatabaseQueue::connect_url(
            &self.url,
            DatabaseQueueOptions {
                table: self.table.clone(),
                retry_after,
                max_connections: conns,
                ..DatabaseQueueOptions::default()
            },
        )
        .await
    }

    async fn queue(&self, retry_after: u64) -> DatabaseQueue {
        self.queue_opts(retry_after, 6).await.unwrap()
    }

    /// The first row's `reserved_at` (whole seconds, as the driver stamped it).
    async fn first_reserved_at(&self) -> Option<i64> {
        use sqlx::Row;
        let q = self.queue(90).await;
        let cast = match self.kind {
            Kind::Mysql => "SIGNED",
            Kind::Sqlite => "INTEGER",
            _ => "BIGINT",
        };
        let sql = format!(
            "SELECT CAST(reserved_at AS {cast}) FROM {} ORDER BY id LIMIT 1",
            self.table
        );
        let row = sqlx::query(&sql).fetch_one(q.pool()).await.unwrap();
        row.try_get::<Option<i64>, _>(0).unwrap()
    }

    /// `(id, attempts, reserved_at is not null)` of every row, by id.
    async fn rows(&self) -> Vec<(i64, i64, bool)> {
        use sqlx::Row;
        let q = self.queue(90).await;
        let cast = if self.kind == Kind::Mysql {
            "SIGNED"
        } else {
            "BIGINT"
        };
        let sql = format!(
            "SELECT CAST(id AS {cast}), CAST(attempts AS {cast}), CASE WHEN reserved_at IS NULL THEN 0 ELSE 1 END FROM {} ORDER BY id",
            self.table
        );
        let sql = if self.kind == Kind::Sqlite {
            sql.replace("BIGINT", "INTEGER")
        } else {
            sql
        };
        sqlx::query(&sql)
            .fetch_all(q.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let reserved: i64 = r
                    .try_get::<i32, _>(2)
                    .map(i64::from)
                    .or_else(|_| r.try_get::<i64, _>(2))
                    .unwrap();
                (r.try_get(0).unwrap(), r.try_get(1).unwrap(), reserved == 1)
            })
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kind == Kind::Sqlite {
            return;
        }
        let url = self.url.clone();
        let table = self.table.clone();
        let own = self.own_database.clone();
        let kind = self.kind;
        // A thread of its own: drop may run inside a runtime, which cannot block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Some(name) = own {
                    let drop = if kind == Kind::Postgres {
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    } else {
                        format!("DROP DATABASE IF EXISTS {name}")
                    };
                    if let Ok(admin) = sqlx::AnyPool::connect(&server_url(kind)).await {
                        let _ = sqlx::query(&drop).execute(&admin).await;
                    }
                    return;
                }
                if let Ok(q) = DatabaseQueue::connect_url(
                    &url,
                    DatabaseQueueOptions {
                        table,
                        max_connections: 1,
                        ..DatabaseQueueOptions::default()
                    },
                )
                .await
                {
                    let _ = q.drop_table().await;
                }
            });
        })
        .join();
    }
}

// ---- jobs and records -----------------------------------------------------------------------

/// A payload shaped like the database driver's: the probe without `id` and `attempts`.
fn probe(tag: &str, n: i64, mode: &str, secs: f64, edit: impl FnOnce(&mut Payload)) -> String {
    probe_support::probe(tag, n, mode, secs, |p| {
        p.id = None;
        p.attempts = None;
        edit(p);
    })
}

// ---- the table operations -------------------------------------------------------------------

async fn operations(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    // retry_after 3 s: long enough that no reservation expires between the steps below on a
    // loaded machine (1 s did, once), short enough to wait out at the end.
    let q = db.queue(3).await;
    let a = probe("ops", 1, "ok", 0.0, |_| {});
    let b = probe("ops", 2, "ok", 0.0, |_| {});
    let c = probe("ops", 3, "ok", 0.0, |_| {});
    let id_a = q.push("default", a.as_bytes()).await.unwrap();
    let id_b = q.push("default", b.as_bytes()).await.unwrap();
    let id_c = q.push("default", c.as_bytes()).await.unwrap();
    assert!(
        id_a > 0 && id_b > id_a && id_c > id_b,
        "{id_a} {id_b} {id_c}"
    );
    q.later("default", 60, b"{\"later\":true}").await.unwrap();
    q.push("other", b"{}").await.unwrap();
    assert_eq!(q.size("default").await.unwrap(), 4);
    assert_eq!(q.size("other").await.unwrap(), 1);

    // Oldest first, attempts counted in the column, payload untouched.
    let ja = q.reserve("default").await.unwrap().unwrap();
    assert_eq!((ja.row_id, ja.attempts), (Some(id_a), 1));
    assert_eq!(ja.original, a.as_bytes());
    let jb = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(jb.row_id, Some(id_b));
    assert_eq!(db.rows().await[0], (id_a, 1, true));

    // Release: the row is replaced by a new one with the counted attempts, available after delay.
    assert!(q.release(&ja, 0).await.unwrap());
    let rows = db.rows().await;
    assert!(!rows.iter().any(|r| r.0 == id_a));
    let (new_a, attempts, reserved) = *rows.last().unwrap();
    assert!(new_a > id_c);
    assert_eq!((attempts, reserved), (1, false));
    assert_eq!(q.size("default").await.unwrap(), 4);
    assert!(
        !q.release(&ja, 0).await.unwrap(),
        "a second release finds nothing to release"
    );

    // Next: c (lower id than the released copy), then the copy with attempts 2.
    let jc = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(jc.row_id, Some(id_c));
    let ja2 = q.reserve("default").await.unwrap().unwrap();
    assert_eq!((ja2.row_id, ja2.attempts), (Some(new_a), 2));
    assert_eq!(ja2.original, a.as_bytes());
    assert!(
        q.reserve("default").await.unwrap().is_none(),
        "the delayed row is not due"
    );

    // Delete by id; only once.
    assert!(q.delete(&jc).await.unwrap());
    assert!(!q.delete(&jc).await.unwrap());

    // b's reservation expires after retry_after (3 s): it is taken again with attempts 2, and
    // the first holder's late delete no longer removes it.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let mut again = Vec::new();
    while let Some(j) = q.reserve("default").await.unwrap() {
        again.push(j);
    }
    let jb2 = again
        .iter()
        .find(|j| j.row_id == Some(id_b))
        .expect("b comes back");
    assert_eq!(jb2.attempts, 2);
    assert!(!q.delete(&jb).await.unwrap(), "stale reservation");
    assert!(q.delete(jb2).await.unwrap());
    assert_eq!(
        q.size("default").await.unwrap(),
        2,
        "a's copy and the delayed row"
    );
    assert_eq!(q.clear("default").await.unwrap(), 2);
    assert_eq!(q.size("default").await.unwrap(), 0);
    assert_eq!(q.size("other").await.unwrap(), 1, "clear is per queue");
}

/// `sizes` splits `size` by state, as `larq work --metrics` reports it.
async fn sizes_by_state(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    let q = db.queue(90).await;
    for n in 1..=3 {
        let p = probe("sizes", n, "ok", 0.0, |_| {});
        q.push("default", p.as_bytes()).await.unwrap();
    }
    q.later("default", 60, b"{\"later\":true}").await.unwrap();
    q.push("other", b"{}").await.unwrap();
    let first = q.reserve("default").await.unwrap().unwrap();
    q.reserve("default").await.unwrap().unwrap();
    let sizes = q.sizes("default").await.unwrap();
    assert_eq!((sizes.ready, sizes.delayed, sizes.reserved), (1, 1, 2));
    assert_eq!(sizes.total(), q.size("default").await.unwrap());
    let other = q.sizes("other").await.unwrap();
    assert_eq!((other.ready, other.delayed, other.reserved), (1, 0, 0));
    // Released with a delay: reserved → delayed.
    assert!(q.release(&first, 60).await.unwrap());
    let sizes = q.sizes("default").await.unwrap();
    assert_eq!((sizes.ready, sizes.delayed, sizes.reserved), (1, 2, 1));
}

#[tokio::test]
async fn sizes_by_state_sqlite() {
    sizes_by_state(Kind::Sqlite).await;
}

#[tokio::test]
async fn sizes_by_state_mariadb() {
    sizes_by_state(Kind::Mysql).await;
}

#[tokio::test]
async fn sizes_by_state_postgres() {
    sizes_by_state(Kind::Postgres).await;
}

#[tokio::test]
async fn operations_sqlite() {
    operations(Kind::Sqlite).await;
}

#[tokio::test]
async fn operations_mariadb() {
    operations(Kind::Mysql).await;
}

#[tokio::test]
async fn operations_postgres() {
    operations(Kind::Postgres).await;
}

#[tokio::test]
async fn skip_locked_where_the_server_supports_it() {
    for kind in [Kind::Mysql, Kind::Postgres] {
        let Some(db) = TestDb::open(kind).await else {
            continue;
        };
        let q = db.queue(90).await;
        // Both servers on this machine are new enough (MariaDB 10.11, PostgreSQL 15).
        assert_eq!(
            q.lock_clause(),
            "FOR UPDATE SKIP LOCKED",
            "{kind:?} {}",
            q.server_version()
        );
    }
    let Some(db) = TestDb::open(Kind::Sqlite).await else {
        return;
    };
    assert_eq!(db.queue(90).await.lock_clause(), "");
}

// ---- two workers, one table -----------------------------------------------------------------

async fn two_workers_share_1000_jobs(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    const N: i64 = 1000;
    let tag = format!("two-{}", db.table);
    let q = db.queue(90).await;
    for n in 1..=N {
        q.push("default", probe(&tag, n, "ok", 0.0, |_| {}).as_bytes())
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let mut opts = options();
        opts.concurrency = 4;
        // Each worker has its own pool: two workers as far as the server can tell.
        let worker = Worker::builder(db.queue(90).await, registry())
            .options(opts)
            .build();
        tasks.push(tokio::spawn(worker.run()));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StopReason::Empty);
    }
    let runs = records(&tag);
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for r in runs.iter().filter(|r| r.event == "done") {
        *seen.entry(r.n).or_default() += 1;
        assert_eq!(r.attempts, 1);
    }
    assert_eq!(seen.len() as i64, N, "none lost");
    assert!(seen.values().all(|&c| c == 1), "none twice");
    assert_eq!(q.size("default").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_1000_jobs_mariadb() {
    two_workers_share_1000_jobs(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_1000_jobs_postgres() {
    two_workers_share_1000_jobs(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_1000_jobs_sqlite() {
    two_workers_share_1000_jobs(Kind::Sqlite).await;
}

// ---- deletes deferred to the next reserve ---------------------------------------------------

/// `settle_and_reserve` (what the worker sends when it defers finished jobs' deletes): per job,
/// in the order given, whether its row was still ours and is now deleted; the deletes happen
/// before the reserve, so a finished job whose reservation expired is deleted, never handed out
/// again by the same call; a stale attempt count deletes nothing.
async fn settle_and_reserve_deletes_first(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    let q = db.queue(90).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(
            q.push("default", format!("{{\"n\":{n}}}").as_bytes())
                .await
                .unwrap(),
        );
    }
    let (none, first) = q.settle_and_reserve("default", &[], 3).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(
        first
            .iter()
            .map(|j| (j.row_id, j.attempts))
            .collect::<Vec<_>>(),
        ids[..3].iter().map(|&id| (Some(id), 1)).collect::<Vec<_>>()
    );
    // retry_after 0: every reservation above has expired for this handle, so its reserve would
    // take rows 1–3 again if the deletes did not come first.
    let expired = db.queue(0).await;
    let mut stale = first[2].clone();
    stale.attempts = 7;
    let (deleted, next) = expired
        .settle_and_reserve("default", &[&first[1], &stale, &first[0]], 10)
        .await
        .unwrap();
    assert_eq!(deleted, [true, false, true], "in the order given");
    assert_eq!(
        next.iter()
            .map(|j| (j.row_id, j.attempts))
            .collect::<Vec<_>>(),
        [(Some(ids[2]), 2), (Some(ids[3]), 1), (Some(ids[4]), 1)],
        "the expired row 3 again with one more attempt, then 4 and 5; not 1 or 2"
    );
    assert_eq!(next[1].original, br#"{"n":4}"#);
    // The first reservation of row 3 is no longer ours; deletes alone (n = 0) reserve nothing.
    let (deleted, none) = q
        .settle_and_reserve("default", &[&first[2], &next[0], &next[1], &next[2]], 0)
        .await
        .unwrap();
    assert_eq!(deleted, [false, true, true, true]);
    assert!(none.is_empty());
    assert_eq!(q.size("default").await.unwrap(), 0);
    let (deleted, none) = q
        .settle_and_reserve("default", &[&next[0]], 0)
        .await
        .unwrap();
    assert_eq!((deleted, none.len()), (vec![false], 0), "already gone");
}

#[tokio::test]
async fn settle_and_reserve_deletes_first_sqlite() {
    settle_and_reserve_deletes_first(Kind::Sqlite).await;
}

#[tokio::test]
async fn settle_and_reserve_deletes_first_postgres() {
    settle_and_reserve_deletes_first(Kind::Postgres).await;
}

#[tokio::test]
async fn settle_and_reserve_deletes_first_mariadb() {
    settle_and_reserve_deletes_first(Kind::Mysql).await;
}

// ---- failing --------------------------------------------------------------------------------

async fn failing_job_is_released_then_failed(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    let tag = format!("fail-{}", db.table);
    let q = db.queue(90).await;
    let payload = probe(&tag, 7, "fail", 0.0, |p| p.max_tries = Some(2));
    let first_id = q.push("default", payload.as_bytes()).await.unwrap();
    let store = FailedJobStore::sqlite(&db.dir.path().join("failed.sqlite"))
        .await
        .unwrap();
    store.ensure_table().await.unwrap();
    let reason = Worker::builder(db.queue(90).await, registry())
        .failed_store(store.clone())
        .options(options())
        .build()
        .run()
        .await
        .unwrap();
    assert_eq!(reason, StopReason::Empty);
    let attempts: Vec<i64> = records(&tag).iter().map(|r| r.attempts).collect();
    assert_eq!(attempts, [1, 2]);
    let failed = store.all().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].connection, "database");
    assert_eq!(failed[0].queue, "default");
    assert_eq!(
        failed[0].payload, payload,
        "failed_jobs stores the row's payload"
    );
    assert!(
        failed[0].exception.contains("boom 7"),
        "{}",
        failed[0].exception
    );
    assert_eq!(q.size("default").await.unwrap(), 0);
    assert!(first_id > 0);
}

#[tokio::test]
async fn failing_job_is_released_then_failed_sqlite() {
    failing_job_is_released_then_failed(Kind::Sqlite).await;
}

#[tokio::test]
async fn failing_job_is_released_then_failed_postgres() {
    failing_job_is_released_then_failed(Kind::Postgres).await;
}

#[tokio::test]
async fn failing_job_is_released_then_failed_mariadb() {
    failing_job_is_released_then_failed(Kind::Mysql).await;
}

// ---- kill -9 --------------------------------------------------------------------------------

/// Not a test on its own: with `LARQ_CHILD_DB_URL` set it runs a worker (signals installed) for
/// the kill -9 tests, which start this test binary as a child process.
#[test]
fn child_worker() {
    let Ok(url) = std::env::var("LARQ_CHILD_DB_URL") else {
        return;
    };
    let table = std::env::var("LARQ_CHILD_TABLE").unwrap();
    let retry_after = child_retry_after();
    run_child_worker(async {
        let queue = DatabaseQueue::connect_url(
            &url,
            DatabaseQueueOptions {
                table,
                retry_after,
                ..DatabaseQueueOptions::default()
            },
        )
        .await
        .unwrap();
        let concurrency = std::env::var("LARQ_CHILD_CONCURRENCY")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        Worker::builder(queue, registry())
            .options(WorkerOptions {
                sleep: Duration::from_millis(100),
                handle_signals: true,
                memory_mb: 0,
                concurrency,
                ..WorkerOptions::default()
            })
            .build()
    })
}

fn spawn_child(db: &TestDb, retry_after: u64) -> std::process::Child {
    spawn_child_with(db, retry_after, 1)
}

fn spawn_child_with(db: &TestDb, retry_after: u64, concurrency: usize) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "database_queue::child_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LARQ_CHILD_DB_URL", &db.url)
        .env("LARQ_CHILD_TABLE", &db.table)
        .env("LARQ_CHILD_RETRY_AFTER", retry_after.to_string())
        .env("LARQ_CHILD_CONCURRENCY", concurrency.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn kill_9_then_the_job_runs_again_with_attempts_2(kind: Kind) {
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    let file = db.dir.path().join("records.jsonl");
    let tag = format!("file:{}", file.display());
    let q = db.queue(2).await;
    q.push(
        "default",
        probe(&tag, 1, "sleep_first", 30.0, |p| p.max_tries = Some(3)).as_bytes(),
    )
    .await
    .unwrap();
    let mut child = spawn_child(&db, 2);
    assert!(wait_for(Duration::from_secs(20), || !records(&tag).is_empty()));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = now_f();
    let rows = db.rows().await;
    assert_eq!(rows.len(), 1, "the row is kept, not lost");
    assert_eq!((rows[0].1, rows[0].2), (1, true), "reserved, attempts 1");
    let reserved_at = db.first_reserved_at().await.expect("reserved_at is set");
    let mut child = spawn_child(&db, 2);
    let ran = wait_for(Duration::from_secs(20), || {
        records(&tag).iter().any(|r| r.event == "done")
    });
    // The handler records "done" before it returns; the delete follows. Let it land before the
    // kill (a kill between the two would rightly leave the row reserved for another run).
    let settle = Instant::now();
    while ran && q.size("default").await.unwrap() > 0 && settle.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let runs = records(&tag);
    assert!(ran, "{runs:?}");
    assert_eq!(
        runs.iter()
            .map(|r| (r.attempts, r.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "start"), (2, "start"), (2, "done")]
    );
    assert!(runs[1].at >= killed_at - 1.0);
    // Due again once reserved_at <= now - retry_after (whole seconds): compare with the stamp
    // itself, which may be a second earlier than the handler's start.
    assert!(
        runs[1].at.floor() >= (reserved_at + 2) as f64,
        "not before retry_after: {runs:?}, reserved_at {reserved_at}"
    );
    assert_eq!(q.size("default").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_the_job_runs_again_with_attempts_2_sqlite() {
    kill_9_then_the_job_runs_again_with_attempts_2(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_the_job_runs_again_with_attempts_2_postgres() {
    kill_9_then_the_job_runs_again_with_attempts_2(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_the_job_runs_again_with_attempts_2_mariadb() {
    kill_9_then_the_job_runs_again_with_attempts_2(Kind::Mysql).await;
}

/// The worker defers a finished job's delete to its next reserve (one commit for both). A
/// `kill -9` between a job's end and that commit leaves its row reserved, so the job runs again
/// after `retry_after`, as after a kill in Laravel's window between the handler and its delete.
/// Killed eight times at random points while draining 3,000 jobs at concurrency 16 on
/// PostgreSQL: every job ran, and only jobs whose rows were reserved at a kill (running, or
/// finished with the delete not yet committed) ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_deferred_deletes_in_flight_loses_none_postgres() {
    use crate::support::rng::Rng;
    use crate::support::some_job::some_job_payload;
    use sqlx::Row;
    const N: usize = 3000;
    const KILLS: usize = 8;
    let Some(db) = TestDb::open(Kind::Postgres).await else {
        return;
    };
    let file = db.dir.path().join("records.jsonl");
    let tag = format!("file:{}", file.display());
    let q = Arc::new(db.queue(2).await);
    let mut all = std::collections::HashSet::new();
    let mut payloads = Vec::new();
    for n in 1..=N as i64 {
        let mut p = some_job_payload(n, &tag);
        p.id = None;
        p.attempts = None;
        // A job killed mid-run comes back with attempt 2 (or more); it must run, not fail.
        p.max_tries = Some(10);
        all.insert(p.uuid.clone().unwrap());
        payloads.push(p.to_json());
    }
    let mut pushers = Vec::new();
    for chunk in payloads.chunks(N / 6 + 1) {
        let (q, chunk) = (Arc::clone(&q), chunk.to_vec());
        pushers.push(tokio::spawn(async move {
            for p in chunk {
                q.push("default", p.as_bytes()).await.unwrap();
            }
        }));
    }
    for p in pushers {
        p.await.unwrap();
    }
    // The uuid of every recorded run. Sixteen jobs append to the file at once and a record is
    // more than one write, so two can share a line: read each line as a stream of JSON values.
    // A record torn by a kill ends its stream (that job's row was still reserved, so it runs
    // again and is recorded then).
    let runs = || -> Vec<String> {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut uuids = Vec::new();
        for line in text.lines() {
            let stream = serde_json::Deserializer::from_str(line).into_iter::<probe_support::Rec>();
            uuids.extend(stream.map_while(Result::ok).map(|r| r.uuid));
        }
        uuids
    };
    let reserved = || async {
        let sql = format!(
            "SELECT payload FROM {} WHERE reserved_at IS NOT NULL",
            db.table
        );
        sqlx::query(&sql)
            .fetch_all(q.pool())
            .await
            .unwrap()
            .iter()
            .filter_map(|r| {
                Payload::from_slice(&r.try_get::<String, _>(0).ok()?.into_bytes())
                    .ok()?
                    .uuid
            })
            .collect::<Vec<String>>()
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill points seed: {seed}");
    let mut rng = Rng(seed);
    let mut in_flight = std::collections::HashSet::new();
    let mut finished_not_deleted = 0;
    for _ in 0..KILLS {
        let before = runs().len();
        let mut child = spawn_child_with(&db, 2, 16);
        let step = 1 + rng.below((N / KILLS / 2) as u64) as usize;
        wait_for(Duration::from_secs(20), || runs().len() >= before + step);
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // A record torn by the kill must not glue itself to the next child's first line.
        let text = std::fs::read(&file).unwrap_or_default();
        if text.last().is_some_and(|&c| c != b'\n') {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            f.write_all(b"\n").unwrap();
        }
        // Reserved now and run in this life: finished, its delete not yet committed.
        let ran: std::collections::HashSet<String> = runs().into_iter().skip(before).collect();
        let held = reserved().await;
        finished_not_deleted += held.iter().filter(|u| ran.contains(*u)).count();
        in_flight.extend(held);
    }
    assert!(runs().len() < N, "the kills must land mid-run; raise N");
    // Last life, not killed: it finishes everything, the rows left reserved included.
    let mut child = spawn_child_with(&db, 2, 16);
    let settle = Instant::now();
    // Generous: a debug build beside other builds on two cores can take most of a minute.
    while settle.elapsed() < Duration::from_secs(180)
        && !(q.size("default").await.unwrap() == 0
            && runs()
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len()
                >= N)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let runs = runs();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for uuid in &runs {
        *count.entry(uuid.as_str()).or_default() += 1;
    }
    let missing = all
        .iter()
        .filter(|u| !count.contains_key(u.as_str()))
        .count();
    assert_eq!(
        missing,
        0,
        "jobs never ran; rows left (id, attempts, reserved): {:?}; {} runs",
        db.rows().await,
        runs.len()
    );
    assert_eq!(q.size("default").await.unwrap(), 0, "rows left");
    let bad: Vec<_> = count
        .iter()
        .filter(|(u, n)| **n > 1 && !in_flight.contains(**u))
        .collect();
    assert!(
        bad.is_empty(),
        "ran twice without being reserved at a kill: {bad:?}"
    );
    let repeats = runs.len() - count.len();
    assert!(
        repeats <= in_flight.len(),
        "{repeats} repeats, {} in flight",
        in_flight.len()
    );
    println!(
        "{N} jobs, {KILLS} kills: {} runs, {repeats} repeats; {} rows reserved at the kills, {finished_not_deleted} of them finished with the delete not yet committed",
        runs.len(),
        in_flight.len()
    );
}

// ---- the real Laravel app (SQLite, PostgreSQL, MariaDB) -------------------------------------------------------

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/app")
}

/// The fixture app of Laravel `major` on the test's database, with no Redis needed (array
/// cache): its SQLite file, or the server's database with the test's own table as
/// `DB_QUEUE_TABLE`. `program` "php" is that version's PHP (`php-for`); a script such as
/// `bin/dispatch` is told the version in `LARQ_LARAVEL`.
fn laravel(major: u8, db: &TestDb, program: &str, args: &[&str]) -> Command {
    let mut cmd = if program == "php" {
        let mut c = bins::command(laravel::php_for());
        c.arg(major.to_string());
        c
    } else {
        bins::command(program)
    };
    cmd.args(args)
        .env("LARQ_LARAVEL", major.to_string())
        .env("QUEUE_CONNECTION", "database")
        .env("CACHE_DRIVER", "array")
        .env("CACHE_STORE", "array")
        .env("REDIS_PORT", "1"); // nothing here may need Redis
    match db.kind {
        Kind::Sqlite => {
            cmd.env("DB_CONNECTION", "sqlite")
                .env("DB_DATABASE", db.sqlite_path());
        }
        Kind::Postgres | Kind::Mysql => {
            let s = ServerSettings::of(&db.url);
            let driver = if db.kind == Kind::Postgres {
                "pgsql"
            } else {
                "mysql"
            };
            cmd.env("DB_CONNECTION", driver)
                .env("DB_HOST", s.host)
                .env("DB_PORT", s.port)
                .env("DB_DATABASE", s.database)
                .env("DB_USERNAME", s.user)
                .env("DB_PASSWORD", s.password)
                .env("DB_QUEUE_TABLE", &db.table);
        }
    }
    cmd
}

/// The parts of a `scheme://user[:password]@host[:port]/database` URL the PHP app's `DB_*` take.
struct ServerSettings {
    host: String,
    port: String,
    database: String,
    user: String,
    password: String,
}

impl ServerSettings {
    fn of(url: &str) -> ServerSettings {
        let (scheme, rest) = url.split_once("://").expect("scheme://");
        let rest = rest.split('?').next().unwrap_or_default();
        let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = rest.split_once('/').unwrap_or((rest, "test"));
        let default_port = if scheme.starts_with("postgres") {
            "5432"
        } else {
            "3306"
        };
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, default_port));
        ServerSettings {
            host: host.to_owned(),
            port: port.to_owned(),
            database: database.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// `count` SomeJobs (userId 1..=count, someParam `tag`) through Laravel's `database` connection,
/// in one transaction: the JSON line Laravel's dispatch reported for each.
fn dispatch(major: u8, db: &TestDb, count: usize, tag: &str) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/bin/dispatch");
    let out = laravel(
        major,
        db,
        script.to_str().unwrap(),
        &[
            "SomeJob",
            &count.to_string(),
            "--connection=database",
            "--user-id=1",
            "--increment",
            "--transaction",
            &format!("--param={tag}"),
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "dispatch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

laravel_tests!(async larq_migrate_then_laravel_dispatches_and_larq_work_database_runs_each_once => migrate_dispatch_work; 8 10 13);

/// Laravel `major` dispatches into the tables `larq migrate` made, and larq works them.
async fn migrate_dispatch_work(major: u8) {
    if !laravel::version_available(major) {
        return;
    }
    let Some(db) = TestDb::open(Kind::Sqlite).await else {
        return;
    };
    let larq = env!("CARGO_BIN_EXE_larq");
    std::fs::remove_file(db.sqlite_path()).unwrap();
    // Our migration creates the tables Laravel then uses (twice: it is idempotent).
    for _ in 0..2 {
        let out = laravel(8, &db, larq, &["migrate"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dispatched = dispatch(major, &db, 100, "laravel100");
    assert_eq!(dispatched.len(), 100);
    assert!(dispatched.iter().all(|d| d["connection"] == "database"));
    let backend = bins::recording_backend();
    let out = laravel(
        8,
        &db,
        backend.to_str().unwrap(),
        &["work", "database", "--stop-when-empty", "--sleep=0"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut users: Vec<i64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Processing user ID: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, (1..=100).collect::<Vec<_>>(), "each once");
    // The bracketed id in Laravel's lines is the row id, as Laravel's dispatch reported it.
    let ids: Vec<String> = dispatched
        .iter()
        .map(|d| d["id"].to_string().trim_matches('"').to_owned())
        .collect();
    for id in &ids {
        assert!(
            stdout.contains(&format!("][{id}] Processed:")),
            "row id {id} in {stdout}"
        );
    }
    let q = DatabaseQueue::connect_url(&db.url, DatabaseQueueOptions::default())
        .await
        .unwrap();
    assert_eq!(q.size("default").await.unwrap(), 0);
}

/// PHP's `queue:work database` and larq take jobs from one table that the real Laravel app filled.
///
/// On PostgreSQL and MariaDB both workers lock rows with `FOR UPDATE SKIP LOCKED` (Laravel 8.83
/// picks it by server version, as larq does): every job runs exactly once and nothing fails.
///
/// SQLite has no row locks, and Laravel's transactions are deferred (read, then write), so while
/// any other connection writes (larq, or a second PHP worker), SQLite refuses some of PHP's
/// writes with "database is locked". On a pop that is harmless; on the delete after a job ran,
/// Laravel leaves the row reserved, and after `retry_after` it comes back with attempts 2 and
/// (with `--tries=1`) fails without running. So there: every job runs exactly once, and the jobs
/// that hit that PHP error also end in failed_jobs as attempted too many times.
async fn php_worker_and_larq_share_one_table(major: u8, kind: Kind, n: usize) {
    if !laravel::version_available(major) {
        return;
    }
    let Some(db) = TestDb::open(kind).await else {
        return;
    };
    const RETRY_AFTER: u64 = 3;
    let tag = format!("shared-{kind:?}-{major}");
    let started = Instant::now();
    let dispatched: std::collections::HashSet<String> = dispatch(major, &db, n, &tag)
        .iter()
        .map(|d| d["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(dispatched.len(), n);
    let dispatch_time = started.elapsed();
    let php_records = db.dir.path().join("php.jsonl");
    let artisan = app_dir().join("artisan");
    let mut php = laravel(
        major,
        &db,
        "php",
        &[
            artisan.to_str().unwrap(),
            "queue:work",
            "database",
            "--sleep=0",
            "--tries=1",
        ],
    )
    .env("LARQ_RECORD_FILE", &php_records)
    .env("DB_QUEUE_RETRY_AFTER", RETRY_AFTER.to_string())
    .env("LOG_PATH", db.dir.path().join("laravel.log"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // PHP boots in about a second; let it take some jobs first so both workers really share.
    let php_started = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&php_records)
            .map(|s| s.lines().count() >= 20)
            .unwrap_or(false)
    });
    assert!(php_started, "the PHP worker ran no job in 30 s");
    let opts = |retry_after| DatabaseQueueOptions {
        retry_after,
        // The PHP app's table: `jobs` in the SQLite file, the test's own on a server.
        table: if kind == Kind::Sqlite {
            "jobs".to_owned()
        } else {
            db.table.clone()
        },
        max_connections: 10,
        ..DatabaseQueueOptions::default()
    };
    let q = DatabaseQueue::connect_url(&db.url, opts(RETRY_AFTER))
        .await
        .unwrap();
    // larq's failed_jobs: on SQLite the app's own table in the same file (PHP's failures land
    // there too); beside a server, a SQLite file of the test's own (PHP's failures would go to
    // the server's failed_jobs, and its log, which is checked below).
    let store = match kind {
        Kind::Sqlite => FailedJobStore::sqlite(&db.sqlite_path()).await.unwrap(),
        _ => {
            let store = FailedJobStore::sqlite(&db.dir.path().join("failed.sqlite"))
                .await
                .unwrap();
            store.ensure_table().await.unwrap();
            store
        }
    };
    let mut wopts = options();
    // Every job costs commits; on a server larq overlaps them (SQLite has one writer anyway).
    wopts.concurrency = if kind == Kind::Sqlite { 2 } else { 8 };
    wopts.stop_when_empty = false;
    let worker = Worker::builder(
        DatabaseQueue::connect_url(&db.url, opts(RETRY_AFTER))
            .await
            .unwrap(),
        registry(),
    )
    .failed_store(store.clone())
    .options(wopts)
    .build();
    let handle = worker.handle();
    let task = tokio::spawn(worker.run());
    // Until the table is empty (rows PHP could not delete on SQLite come back after
    // retry_after). On SQLite this poll is a third connection on the file: on a slow disk its
    // read may itself meet "database is locked", which only means "not known yet".
    let limit = Duration::from_secs(60 + n as u64 / 20);
    while !matches!(q.size("default").await, Ok(0)) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    handle.stop();
    task.await.unwrap().unwrap();
    // SAFETY: a signal to our own child; queue:work stops after its current job on SIGTERM.
    unsafe { libc::kill(php.id() as i32, libc::SIGTERM) };
    let _ = php.wait();
    let left = q.size("default").await.unwrap();
    let by_larq: Vec<String> = records(&tag).into_iter().map(|r| r.uuid).collect();
    let by_php = php_record_uuids(&php_records);
    let failed = store.all().await.unwrap();
    let log = std::fs::read_to_string(db.dir.path().join("laravel.log")).unwrap_or_default();
    // 8: "database is locked (SQL: delete ...)", 10+: "database is locked (Connection: sqlite,
    // [Database: …, ]SQL: delete ...)" (each entry names it twice: message and exception).
    let php_delete_refused = log
        .match_indices("database is locked (")
        .filter(|(at, m)| {
            log[at + m.len()..]
                .split(')')
                .next()
                .is_some_and(|inside| inside.contains("SQL: delete"))
        })
        .count();
    eprintln!(
        "{kind:?}, Laravel {major}, {n} jobs: dispatch {dispatch_time:?}, total {:?}; larq ran {}, php ran {}; failed_jobs {} (PHP deletes SQLite refused: {php_delete_refused})",
        started.elapsed(),
        by_larq.len(),
        by_php.len(),
        failed.len()
    );
    assert_eq!(left, 0, "rows left after {limit:?}");
    // From Laravel 13, `DatabaseQueue::pop` fails a job it selected but could not mark reserved;
    // on SQLite that is "database is locked" while larq (or any other worker) writes. Such a job
    // lands in failed_jobs: it ran once all the same when PHP's delete of its row failed too,
    // or not at all (it waits in failed_jobs for `queue:retry`), never twice.
    let locked_at_pop = |f: &larq::failed::FailedRow| {
        major >= 13
            && f.exception.contains("database is locked")
            && f.exception.contains("markJobAsReserved")
    };
    let not_run: Vec<&String> = failed
        .iter()
        .filter(|f| locked_at_pop(f) && !by_larq.contains(&f.uuid) && !by_php.contains(&f.uuid))
        .map(|f| &f.uuid)
        .collect();
    let ran_or_failed: std::collections::HashSet<&String> = by_larq
        .iter()
        .chain(&by_php)
        .chain(not_run.iter().copied())
        .collect();
    assert_eq!(ran_or_failed.len(), n, "every job ran or is in failed_jobs");
    assert_shared_each_once(&by_larq, &by_php, n - not_run.len(), &dispatched);
    if kind != Kind::Sqlite {
        assert!(failed.is_empty(), "{failed:?}");
        assert!(!log.contains(".ERROR:"), "PHP logged errors: {log}");
    }
    // Every other failed_jobs row is a job that ran once and whose reservation PHP could not
    // clear.
    for f in &failed {
        assert!(
            by_php.contains(&f.uuid) || by_larq.contains(&f.uuid) || locked_at_pop(f),
            "{f:?}"
        );
        assert!(
            f.exception.contains("attempted too many times") || locked_at_pop(f),
            "{}",
            f.exception
        );
    }
    assert!(
        failed.iter().filter(|f| !locked_at_pop(f)).count() <= php_delete_refused,
        "{:?}\n{:?}",
        failed
            .iter()
            .map(|f| f.exception.lines().take(12).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        log.lines()
            .filter(|l| l.contains("locked"))
            .map(|l| l.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
    );
}

laravel_tests!(async php_worker_and_larq_share_one_sqlite_table_none_lost_none_twice => share_one_sqlite_table; 8 10 13);

/// 2,000 jobs by default on Laravel 8 (SQLite writes one transaction at a time, so PHP's deletes
/// wait on larq's; about 30 s here), 500 on 10 and 13 (the same race, a quarter of the time); the
/// issue's 10,000 with `LARQ_DB_SHARED_JOBS=10000`.
async fn share_one_sqlite_table(major: u8) {
    let n = std::env::var("LARQ_DB_SHARED_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if major == 8 { 2000 } else { 500 });
    php_worker_and_larq_share_one_table(major, Kind::Sqlite, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_worker_and_larq_share_10000_jobs_on_postgres_none_lost_none_twice() {
    php_worker_and_larq_share_one_table(8, Kind::Postgres, 10_000).await;
}

/// Laravel 13 and larq on PostgreSQL (row locks, no SQLite "database is locked"): strictly none
/// lost, none twice, no failed_jobs row; 1,000 jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_worker_and_larq_share_1000_jobs_on_postgres_on_laravel_13() {
    php_worker_and_larq_share_one_table(13, Kind::Postgres, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_worker_and_larq_share_10000_jobs_on_mariadb_none_lost_none_twice() {
    php_worker_and_larq_share_one_table(8, Kind::Mysql, 10_000).await;
}

// ---- larq migrate on the servers ------------------------------------------------------------

/// `larq migrate` twice into a schema (PostgreSQL) or database (MariaDB) of its own, then the
/// columns Laravel's migrations would have made are checked in information_schema.
async fn migrate_creates_laravel_tables(kind: Kind) {
    use sqlx::Row;
    let Some(_db) = TestDb::open(kind).await else {
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&server_url(kind)).await.unwrap();
    let name = format!(
        "larq_m_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let (create, drop, url) = match kind {
        Kind::Postgres => (
            format!("CREATE SCHEMA {name}"),
            format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            format!("{}?options=-c%20search_path%3D{name}", server_url(kind)),
        ),
        _ => (
            format!("CREATE DATABASE {name}"),
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("{}/{name}", server_url(kind).rsplit_once('/').unwrap().0),
        ),
    };
    sqlx::query(&create).execute(&admin).await.unwrap();
    let connection = if kind == Kind::Postgres {
        "pgsql"
    } else {
        "mysql"
    };
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = bins::larq()
            .arg("migrate")
            .env("DB_CONNECTION", connection)
            .env("DB_URL", &url)
            .output()
            .unwrap();
        outputs.push(out);
    }
    let text = if kind == Kind::Postgres {
        "VARCHAR(64)"
    } else {
        "CHAR(64)"
    };
    let columns = sqlx::query(&format!(
        "SELECT CAST(table_name AS {text}), CAST(column_name AS {text}), CAST(data_type AS {text}) FROM information_schema.columns WHERE table_schema = '{name}' ORDER BY 1, 2"
    ))
    .fetch_all(&admin)
    .await;
    sqlx::query(&drop).execute(&admin).await.unwrap();
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let columns: Vec<(String, String, String)> = columns
        .unwrap()
        .iter()
        .map(|r| {
            let s = |i: usize| {
                r.try_get::<String, _>(i)
                    .or_else(|_| {
                        r.try_get::<Vec<u8>, _>(i)
                            .map(|b| String::from_utf8(b).unwrap())
                    })
                    .unwrap()
            };
            (s(0), s(1), s(2))
        })
        .collect();
    let of = |table: &str| -> Vec<(String, String)> {
        columns
            .iter()
            .filter(|c| c.0 == table)
            .map(|c| (c.1.clone(), c.2.clone()))
            .collect()
    };
    let jobs = of("jobs");
    let expected_jobs: &[(&str, &str)] = if kind == Kind::Postgres {
        &[
            ("attempts", "smallint"),
            ("available_at", "integer"),
            ("created_at", "integer"),
            ("id", "bigint"),
            ("payload", "text"),
            ("queue", "character varying"),
            ("reserved_at", "integer"),
        ]
    } else {
        &[
            ("attempts", "tinyint"),
            ("available_at", "int"),
            ("created_at", "int"),
            ("id", "bigint"),
            ("payload", "longtext"),
            ("queue", "varchar"),
            ("reserved_at", "int"),
        ]
    };
    assert_eq!(
        jobs,
        expected_jobs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(of("job_batches").len(), 10, "{columns:?}");
    assert_eq!(of("failed_jobs").len(), 7, "{columns:?}");
}

#[tokio::test]
async fn migrate_creates_laravel_tables_postgres() {
    migrate_creates_laravel_tables(Kind::Postgres).await;
}

#[tokio::test]
async fn migrate_creates_laravel_tables_mariadb() {
    migrate_creates_laravel_tables(Kind::Mysql).await;
}

// ---- chains on the database connection ------------------------------------------------------

static CHAIN_RAN: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());

/// The fixture app's `App\Jobs\ChainStep(int $step)`; as dispatched from Rust it also carries a
/// tag so parallel tests keep their records apart.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename = "App\\Jobs\\ChainStep")]
struct ChainStep {
    step: i64,
}

impl Job for ChainStep {
    const CLASS: &'static str = "App\\Jobs\\ChainStep";
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        CHAIN_RAN
            .lock()
            .unwrap()
            .push((ctx.queue().to_owned(), self.step));
        Ok(())
    }
}

laravel_tests!(async chains_continue_on_the_database_connection_in_larq_and_in_php => chains_on_the_database; 8 10 13);

/// A chain dispatched from Rust onto the `jobs` table runs link by link in larq (the next link is
/// inserted into the same table), and the same kind of chain runs in PHP's `queue:work database`.
/// On Laravel `major`: larq's dispatcher and worker write that version's payloads; PHP is that
/// version's (queue names carry the version: the versions run side by side).
async fn chains_on_the_database(major: u8) {
    use larq::bus::BusFeatures;
    use larq::dispatch::{Chain, Dispatcher, PendingJob};
    let Some(db) = TestDb::open(Kind::Sqlite).await else {
        return;
    };
    let q = Arc::new(larq::queue::Queue::from(db.queue(90).await));
    let dispatcher = Dispatcher::for_queue(Arc::clone(&q), "default").with_laravel_version(major);
    let (larq_chain, php_chain) = (format!("larq-chain-{major}"), format!("php-chain-{major}"));
    let chain = |queue: &str| {
        Chain::new((1..=3).map(|step| PendingJob::new(&ChainStep { step }).unwrap()))
            .on_queue(queue)
            .on_connection("database")
    };
    let first = dispatcher.dispatch_chain(chain(&larq_chain)).await.unwrap();
    let row: i64 = first.id.parse().expect("the row id");
    assert!(row > 0);
    let payload: serde_json::Value = serde_json::from_str(&first.payload).unwrap();
    assert!(
        payload.get("id").is_none() && payload.get("attempts").is_none(),
        "{payload}"
    );
    let worker = Worker::builder(db.queue(90).await, Registry::new().with::<ChainStep>())
        .bus(BusFeatures::new("default"))
        .options(WorkerOptions {
            queues: vec![larq_chain.clone()],
            laravel_version: major,
            ..options()
        })
        .build();
    assert_eq!(worker.run().await.unwrap(), StopReason::Empty);
    let ran: Vec<i64> = CHAIN_RAN
        .lock()
        .unwrap()
        .iter()
        .filter(|(queue, _)| *queue == larq_chain)
        .map(|(_, step)| *step)
        .collect();
    assert_eq!(ran, [1, 2, 3]);
    assert_eq!(q.size(&larq_chain).await.unwrap(), 0);

    if !laravel::version_available(major) {
        return;
    }
    dispatcher.dispatch_chain(chain(&php_chain)).await.unwrap();
    let records = db.dir.path().join("php-chain.jsonl");
    let artisan = app_dir().join("artisan");
    let out = laravel(
        major,
        &db,
        "php",
        &[
            artisan.to_str().unwrap(),
            "queue:work",
            "database",
            &format!("--queue={php_chain}"),
            "--stop-when-empty",
        ],
    )
    .env("LARQ_RECORD_FILE", &records)
    .env("DB_QUEUE_TABLE", &db.table)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<i64> = std::fs::read_to_string(&records)
        .unwrap_or_else(|e| {
            panic!(
                "no records ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["attempts"], 1, "{v}");
            v["props"]["props"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "step")
                .map(|p| p["v"]["v"].as_i64().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [1, 2, 3], "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(q.size(&php_chain).await.unwrap(), 0);
}

// ---- the operator commands' operations through `Queue` (size, monitor, clear, retry) ---------

/// One `jobs` row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobRow {
    id: i64,
    queue: String,
    payload: String,
    attempts: i64,
    reserved_at: Option<i64>,
    available_at: i64,
    created_at: i64,
}

impl TestDb {
    /// Every row of the test's jobs table, by id, read with SQL of the test's own.
    async fn job_rows(&self) -> Vec<JobRow> {
        use sqlx::Row;
        let q = self.queue(90).await;
        let int = |col: &str| match self.kind {
            Kind::Mysql => format!("CAST({col} AS SIGNED)"),
            Kind::Postgres => format!("CAST({col} AS BIGINT)"),
            Kind::Sqlite => col.to_owned(),
        };
        let sql = format!(
            "SELECT {}, queue, payload, {}, {}, {}, {} FROM {} ORDER BY id",
            int("id"),
            int("attempts"),
            int("reserved_at"),
            int("available_at"),
            int("created_at"),
            self.table
        );
        let text = |r: &sqlx::any::AnyRow, i: usize| -> String {
            r.try_get::<String, _>(i)
                .or_else(|_| {
                    r.try_get::<Vec<u8>, _>(i)
                        .map(|b| String::from_utf8(b).unwrap())
                })
                .unwrap()
        };
        sqlx::query(&sql)
            .fetch_all(q.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| JobRow {
                id: r.try_get(0).unwrap(),
                queue: text(r, 1),
                payload: text(r, 2),
                attempts: r.try_get(3).unwrap(),
                reserved_at: r.try_get(4).unwrap(),
                available_at: r.try_get(5).unwrap(),
                created_at: r.try_get(6).unwrap(),
            })
            .collect()
    }

    /// The test's table behind the `Queue` enum, as the CLI holds it.
    async fn operator_queue(&self) -> larq::queue::Queue {
        larq::queue::Queue::from(self.queue(90).await)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Queue::size` is Laravel's `count(*) where queue = ?`: ready, delayed and reserved rows of
/// that queue and no other (what `queue:size` prints and `queue:monitor` compares with --max);
/// `sizes` splits the same rows as 12.x's pending/delayed/reserved sizes; `queue_names` lists
/// the queues with rows.
async fn size_counts_every_row_of_the_queue(kind: Kind) {
    let Some(db) = TestDb::open_own(kind).await else {
        return;
    };
    let q = db.operator_queue().await;
    assert_eq!(q.size("default").await.unwrap(), 0, "an empty table");
    for n in 1..=3 {
        q.push("default", probe("size", n, "ok", 0.0, |_| {}).as_bytes())
            .await
            .unwrap();
    }
    q.later("default", 300, b"{\"later\":true}").await.unwrap();
    q.push("emails", b"{}").await.unwrap();
    let held = q.reserve("default").await.unwrap().expect("a ready row");
    // What the table holds: 4 rows of `default` (one reserved, one delayed), 1 of `emails`.
    let rows = db.job_rows().await;
    let of = |queue: &str| rows.iter().filter(|r| r.queue == queue).count() as u64;
    assert_eq!((of("default"), of("emails")), (4, 1));
    assert_eq!(rows.iter().filter(|r| r.reserved_at.is_some()).count(), 1);
    assert_eq!(q.size("default").await.unwrap(), of("default"));
    assert_eq!(q.size("emails").await.unwrap(), of("emails"));
    assert_eq!(q.size("nothing-here").await.unwrap(), 0);
    let sizes = q.sizes("default").await.unwrap();
    assert_eq!((sizes.ready, sizes.delayed, sizes.reserved), (2, 1, 1));
    assert_eq!(sizes.total(), 4);
    assert_eq!(q.queue_names().await.unwrap(), ["default", "emails"]);
    // The figure monitor reads follows the table: a finished job leaves it.
    assert!(q.delete(&held).await.unwrap());
    assert_eq!(q.size("default").await.unwrap(), 3);
    assert_eq!(db.job_rows().await.len(), 4, "the table agrees");
}

#[tokio::test]
async fn size_counts_every_row_of_the_queue_sqlite() {
    size_counts_every_row_of_the_queue(Kind::Sqlite).await;
}

#[tokio::test]
async fn size_counts_every_row_of_the_queue_postgres() {
    size_counts_every_row_of_the_queue(Kind::Postgres).await;
}

#[tokio::test]
async fn size_counts_every_row_of_the_queue_mariadb() {
    size_counts_every_row_of_the_queue(Kind::Mysql).await;
}

/// `Queue::clear` is Laravel's `delete where queue = ?`: every row of that queue goes, reserved
/// and delayed ones too, other queues' rows stay untouched, and it returns the number deleted.
/// A refused name deletes nothing.
async fn clear_deletes_the_queue_rows_and_counts_them(kind: Kind) {
    let Some(db) = TestDb::open_own(kind).await else {
        return;
    };
    let q = db.operator_queue().await;
    for n in 1..=3 {
        q.push("default", probe("clear", n, "ok", 0.0, |_| {}).as_bytes())
            .await
            .unwrap();
    }
    q.later("default", 300, b"{}").await.unwrap();
    q.push("emails", b"{\"keep\":1}").await.unwrap();
    q.push("emails", b"{\"keep\":2}").await.unwrap();
    let held = q.reserve("default").await.unwrap().expect("a ready row");
    let kept: Vec<JobRow> = db
        .job_rows()
        .await
        .into_iter()
        .filter(|r| r.queue == "emails")
        .collect();
    for bad in ["", &"q".repeat(256)] {
        let err = q.clear(bad).await.unwrap_err();
        assert!(
            matches!(err, larq::queue::QueueError::QueueName { .. }),
            "{err}"
        );
    }
    assert_eq!(
        db.job_rows().await.len(),
        6,
        "a refused name deletes nothing"
    );
    assert_eq!(q.clear("default").await.unwrap(), 4);
    assert_eq!(
        db.job_rows().await,
        kept,
        "only the other queue's rows, as they were"
    );
    assert_eq!(
        q.clear("default").await.unwrap(),
        0,
        "nothing left to clear"
    );
    // The worker that held a cleared row finds nothing to delete.
    assert!(!q.delete(&held).await.unwrap());
    assert_eq!(q.size("emails").await.unwrap(), 2);
}

#[tokio::test]
async fn clear_deletes_the_queue_rows_and_counts_them_sqlite() {
    clear_deletes_the_queue_rows_and_counts_them(Kind::Sqlite).await;
}

#[tokio::test]
async fn clear_deletes_the_queue_rows_and_counts_them_postgres() {
    clear_deletes_the_queue_rows_and_counts_them(Kind::Postgres).await;
}

#[tokio::test]
async fn clear_deletes_the_queue_rows_and_counts_them_mariadb() {
    clear_deletes_the_queue_rows_and_counts_them(Kind::Mysql).await;
}

/// `Queue::retry_failed` is `queue:retry` on the database driver: the stored payload, with
/// `attempts` reset when set and re-encoded as PHP's `json_encode`, becomes a new row as
/// `buildDatabaseRecord` makes it (queue, payload, attempts 0, reserved_at NULL, available_at =
/// created_at = now), whose id is the job id returned; the next reserve takes it as attempt 1.
/// A payload that is not a JSON object, or a name the column would cut, adds no row.
async fn retry_failed_inserts_a_fresh_row(kind: Kind) {
    let Some(db) = TestDb::open_own(kind).await else {
        return;
    };
    let q = db.operator_queue().await;
    // A Redis-shaped payload (it has `attempts`), with what json_encode escapes.
    let redis_shaped = r#"{"uuid":"r-1","displayName":"App\\Jobs\\SomeJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"commandName":"App\\Jobs\\SomeJob","command":"s:2:\"é\";"},"backoff":null,"tags":{},"id":"abc","attempts":3}"#;
    // A database payload (no attempts).
    let db_shaped = probe("retry", 1, "ok", 0.0, |_| {});
    let before = unix_now();
    let first = q
        .retry_failed("retried", redis_shaped.as_bytes())
        .await
        .unwrap();
    let second = q
        .retry_failed("retried", db_shaped.as_bytes())
        .await
        .unwrap();
    let after = unix_now();
    assert_eq!(
        first.payload,
        r#"{"uuid":"r-1","displayName":"App\\Jobs\\SomeJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"commandName":"App\\Jobs\\SomeJob","command":"s:2:\"\u00e9\";"},"backoff":null,"tags":[],"id":"abc","attempts":0}"#
    );
    let rows = db.job_rows().await;
    assert_eq!(rows.len(), 2);
    for (row, pushed) in rows.iter().zip([&first, &second]) {
        assert_eq!(
            pushed.job_id,
            Some(row.id.to_string()),
            "the row id is the job id"
        );
        assert_eq!(row.queue, "retried");
        assert_eq!(row.payload, pushed.payload);
        assert_eq!(row.attempts, 0);
        assert_eq!(row.reserved_at, None);
        assert!(
            (before..=after).contains(&row.available_at),
            "{row:?} not in {before}..={after}"
        );
        assert_eq!(row.created_at, row.available_at, "ready now");
    }
    let db_json: serde_json::Value = serde_json::from_str(&rows[1].payload).unwrap();
    assert_eq!(
        db_json,
        serde_json::from_str::<serde_json::Value>(&db_shaped).unwrap(),
        "a database payload keeps every value"
    );
    assert!(db_json.get("attempts").is_none(), "and gains no attempts");
    let job = q.reserve("retried").await.unwrap().expect("ready now");
    assert_eq!((job.row_id, job.attempts), (Some(rows[0].id), 1));
    assert_eq!(job.original, first.payload.as_bytes());
    // Refused: nothing is written.
    for bad in [&b"null"[..], b"[1]", b"{"] {
        let err = q.retry_failed("retried", bad).await.unwrap_err();
        assert!(
            matches!(err, larq::queue::QueueError::RetryPayload { .. }),
            "{err}"
        );
    }
    let long = "q".repeat(256);
    for name in ["", long.as_str()] {
        let err = q.retry_failed(name, b"{}").await.unwrap_err();
        assert!(
            matches!(err, larq::queue::QueueError::QueueName { .. }),
            "{err}"
        );
    }
    assert_eq!(db.job_rows().await.len(), 2, "no row for a refused retry");
    // 255 characters is what the column holds, and what is stored.
    let longest = "é".repeat(255);
    q.push_raw(&longest, b"{}").await.unwrap();
    assert_eq!(db.job_rows().await[2].queue, longest);
}

#[tokio::test]
async fn retry_failed_inserts_a_fresh_row_sqlite() {
    retry_failed_inserts_a_fresh_row(Kind::Sqlite).await;
}

#[tokio::test]
async fn retry_failed_inserts_a_fresh_row_postgres() {
    retry_failed_inserts_a_fresh_row(Kind::Postgres).await;
}

#[tokio::test]
async fn retry_failed_inserts_a_fresh_row_mariadb() {
    retry_failed_inserts_a_fresh_row(Kind::Mysql).await;
}

/// The whole `queue:retry` path against the real Laravel app: Laravel dispatches a SomeJob onto
/// the database connection, larq reserves it and fails it (failed_jobs row, job row deleted),
/// then retries it from failed_jobs as `larq failed retry` will (find, `Queue::retry_failed`,
/// forget), and PHP's own `queue:work database` runs the pushed-back row as attempt 1.
async fn php_runs_a_job_larq_retried(major: u8, kind: Kind) {
    if !laravel::version_available(major) {
        return;
    }
    let Some(db) = TestDb::open_own(kind).await else {
        return;
    };
    let q = db.operator_queue().await;
    let tag = format!("retried-{kind:?}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/bin/dispatch");
    let out = laravel(
        major,
        &db,
        script.to_str().unwrap(),
        &[
            "SomeJob",
            "1",
            "--connection=database",
            "--user-id=7",
            &format!("--param={tag}"),
        ],
    )
    .env("DB_QUEUE_TABLE", &db.table)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "dispatch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dispatched: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let uuid = dispatched["uuid"].as_str().unwrap().to_owned();

    // larq's worker path for a failure: the job row goes, the raw body lands in failed_jobs.
    let job = q.reserve("default").await.unwrap().expect("Laravel's row");
    let store = FailedJobStore::sqlite(&db.dir.path().join("failed.sqlite"))
        .await
        .unwrap();
    store.ensure_table().await.unwrap();
    assert!(q.delete(&job).await.unwrap());
    store
        .log(&larq::failed::FailedJob {
            uuid: &uuid,
            connection: "database",
            queue: &job.queue,
            payload: &job.original,
            exception: "RuntimeException: boom in x.php:1\nStack trace:\n#0 {main}",
        })
        .await
        .unwrap();
    assert!(db.job_rows().await.is_empty());

    // What `larq failed retry <uuid>` will do.
    let row = store.find(&uuid).await.unwrap().expect("the failed row");
    let retried = q
        .retry_failed(&row.queue, row.payload.as_bytes())
        .await
        .unwrap();
    assert!(store.forget(&uuid).await.unwrap());
    let rows = db.job_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].queue.as_str(),
            rows[0].attempts,
            rows[0].reserved_at
        ),
        ("default", 0, None)
    );
    assert_eq!(retried.job_id, Some(rows[0].id.to_string()));

    let records = db.dir.path().join("php.jsonl");
    let artisan = app_dir().join("artisan");
    let out = laravel(
        major,
        &db,
        "php",
        &[
            artisan.to_str().unwrap(),
            "queue:work",
            "database",
            "--once",
            "--tries=1",
        ],
    )
    .env("LARQ_RECORD_FILE", &records)
    .env("DB_QUEUE_TABLE", &db.table)
    .env("LOG_PATH", db.dir.path().join("laravel.log"))
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("Processing user ID: 7 with param: {tag}")),
        "{stdout}"
    );
    let ran: Vec<serde_json::Value> = std::fs::read_to_string(&records)
        .unwrap_or_else(|e| panic!("no record ({e}): {stdout}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0]["uuid"], uuid.as_str(), "the same job");
    assert_eq!(ran[0]["attempts"], 1, "attempts start again");
    assert!(db.job_rows().await.is_empty(), "PHP deleted the row");
}

laravel_tests!(async php_runs_a_job_larq_retried_sqlite => larq_retried_sqlite; 8 10 13);

async fn larq_retried_sqlite(major: u8) {
    php_runs_a_job_larq_retried(major, Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_runs_a_job_larq_retried_postgres() {
    php_runs_a_job_larq_retried(8, Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_runs_a_job_larq_retried_mariadb() {
    php_runs_a_job_larq_retried(8, Kind::Mysql).await;
}

/// The `Total` column of `larq size`'s row for the `database` connection's `default` queue.
fn size_total(out: &str) -> Option<u64> {
    out.lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .find(|cells| cells.get(1) == Some(&"database") && cells.get(2) == Some(&"default"))
        .and_then(|cells| cells.get(6)?.parse().ok())
}

/// `size`, `monitor`, `failed retry` and `clear` through the `larq` binary on the `database`
/// connection, the way `queue:size`, `queue:monitor`, `queue:retry` and `queue:clear` work on it.
async fn operator_commands_work_the_database_connection(kind: Kind) {
    if !php_available() {
        return;
    }
    // A database of its own: failed_jobs must hold this test's rows only.
    let Some(db) = TestDb::open_own(kind).await else {
        return;
    };
    let larq = env!("CARGO_BIN_EXE_larq");
    if kind == Kind::Sqlite {
        std::fs::remove_file(db.sqlite_path()).unwrap();
    }
    let run = |args: &[&str]| {
        let out = laravel(8, &db, larq, args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "larq {args:?}: {out}{err}");
        out
    };
    ok(&["migrate"]);
    assert_eq!(dispatch(8, &db, 3, "ops").len(), 3);
    assert_eq!(
        size_total(&ok(&["size", "--connection", "database"])),
        Some(3)
    );
    // queue:monitor: ALERT (exit 3) at or above --max.
    let (code, out, _) = run(&["monitor", "database:default", "--max", "3"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("ALERT"), "{out}");
    let (code, out, _) = run(&["monitor", "database:default", "--max", "10"]);
    assert_eq!(code, Some(0), "{out}");
    // The larq binary has no handlers: the three jobs fail into failed_jobs.
    ok(&["work", "database", "--stop-when-empty", "--sleep=0"]);
    assert_eq!(
        size_total(&ok(&["size", "--connection", "database"])),
        Some(0)
    );
    let retried = ok(&["failed", "retry", "all"]);
    assert_eq!(
        retried.matches("has been pushed back").count(),
        3,
        "{retried}"
    );
    assert_eq!(
        size_total(&ok(&["size", "--connection", "database"])),
        Some(3)
    );
    let failed_list = ok(&["failed", "list"]);
    assert!(
        !failed_list.contains("SomeJob"),
        "rows are forgotten: {failed_list}"
    );
    // Pushed back with attempts 0, as queue:retry does: the next reserve counts the first.
    let table = if kind == Kind::Sqlite {
        "jobs".to_owned()
    } else {
        db.table.clone()
    };
    let q = DatabaseQueue::connect_url(
        &db.url,
        DatabaseQueueOptions {
            table,
            ..DatabaseQueueOptions::default()
        },
    )
    .await
    .unwrap();
    let job = q.reserve("default").await.unwrap().expect("a retried job");
    assert_eq!(job.attempts, 1);
    let cleared = ok(&["clear", "database", "--force"]);
    assert!(cleared.contains("Cleared 3 jobs"), "{cleared}");
    assert_eq!(
        size_total(&ok(&["size", "--connection", "database"])),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_the_database_connection_sqlite() {
    operator_commands_work_the_database_connection(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_the_database_connection_postgres() {
    operator_commands_work_the_database_connection(Kind::Postgres).await;
}
