//! Laravel's `database` queue driver: the `jobs` table (`Illuminate\Queue\DatabaseQueue`), with SQL of our own.
//!
//! A row is one job: `queue` (plain name), `payload` (JSON without `id`/`attempts`), `attempts`,
//! `reserved_at`, `available_at`, `created_at` (unix seconds). PHP workers and larq can share a
//! table because both take a row the same way: in one transaction, select the oldest row of the
//! queue that is available (`reserved_at is null and available_at <= now`) or whose reservation
//! expired (`reserved_at <= now - retry_after`), lock it, set `reserved_at = now` and
//! `attempts = old + 1`, commit. A worker with several free slots takes up to that many rows in
//! one such transaction ([`DatabaseQueue::reserve_many`]): each commit costs a disk flush, and
//! commits are most of what a job costs here.
//!
//! How the row is locked depends on the server, as in Laravel:
//!
//! * PostgreSQL ≥ 9.5, MySQL ≥ 8.0.1, MariaDB ≥ 10.6: `FOR UPDATE SKIP LOCKED`, so concurrent
//!   workers take different rows instead of queueing behind one lock.
//! * Older MySQL/MariaDB and PostgreSQL: plain `FOR UPDATE` (workers wait for each other).
//! * SQLite has no row locks. We start the transaction with `BEGIN IMMEDIATE`, which takes the
//!   database's write lock before the select, so two workers can never read the same free row.
//!   (PHP's deferred `BEGIN` is safe too: SQLite refuses the second writer's upgrade.)
//!
//! Where ours differs from Laravel's, on purpose:
//!
//! * **Delete and release only touch the reservation we hold**: `where id = ? and attempts = ?`.
//!   Every reservation increments `attempts`, so when ours expired and another worker took the row,
//!   our late delete or release changes nothing and reports `false` (Laravel deletes by id alone,
//!   and its release inserts the copy even when the row was gone, which can queue a job twice).
//! * Attempts are read back as a number however the column is typed (`tinyint unsigned` on MySQL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row};

use super::redis::QueueSizes;
use super::{now, QueueError, Reservation, ReservedJob};
use crate::config::DatabaseSettings;
use crate::db::{redact, Backend, Database, Target};

/// How one database queue connection behaves (`config/queue.php` → `connections.database`).
#[derive(Debug, Clone)]
pub struct DatabaseQueueOptions {
    /// The jobs table (`DB_QUEUE_TABLE`, default `jobs`): letters, digits and `_` only.
    pub table: String,
    /// Seconds a reservation lasts before the row is handed out again (`DB_QUEUE_RETRY_AFTER`).
    pub retry_after: u64,
    /// Connection name stored in failed_jobs (`database`).
    pub connection_name: String,
    /// Pooled connections (the worker reserves on one and deletes/releases on others).
    pub max_connections: u32,
}

impl Default for DatabaseQueueOptions {
    fn default() -> Self {
        DatabaseQueueOptions {
            table: "jobs".to_owned(),
            retry_after: 90,
            connection_name: "database".to_owned(),
            max_connections: 5,
        }
    }
}

/// The statements, written once per connection for its dialect and table.
#[derive(Debug, Clone)]
struct Statements {
    select_next: String,
    /// PostgreSQL only (empty elsewhere): deletes the finished rows and reserves the next ones
    /// in one statement, so one round trip and one commit ([`settle_and_reserve_statement`]).
    settle_and_reserve: String,
    delete: String,
    insert: String,
    size: String,
    sizes: String,
    clear: String,
    queue_names: String,
}

/// One Laravel database queue connection (a `jobs` table).
#[derive(Debug, Clone)]
pub struct DatabaseQueue {
    pool: AnyPool,
    backend: Backend,
    server_version: String,
    lock: &'static str,
    /// MariaDB: a batch of finished rows is deleted in one `DELETE … RETURNING` (see
    /// [`delete_returning`]); MySQL and SQLite delete them one statement each, in one
    /// transaction.
    delete_returning: bool,
    /// The connection [`DatabaseQueue::settle_and_reserve`] runs on, kept between calls with
    /// when it was last used. A connection taken from the pool is pinged first (sqlx's
    /// `test_before_acquire`): one round trip more per worker loop than its statements need.
    /// Given back to the pool after an error (the pool tests it before anyone reuses it), and
    /// not reused after [`HELD_IDLE`] (the server may have closed it meanwhile). Clones share
    /// it; a caller that finds it in use takes a connection from the pool instead of waiting.
    held: Arc<tokio::sync::Mutex<Option<Held>>>,
    sql: Statements,
    options: DatabaseQueueOptions,
}

/// The kept reserve connection and when it was last used.
type Held = (PoolConnection<Any>, Instant);

/// How long the kept reserve connection may sit unused and still be used without a ping.
const HELD_IDLE: Duration = Duration::from_secs(5);

/// The number of `?` an id list of `k` rows is written with: the next power of two, the rest
/// filled with the last row again. A statement per exact length would give each connection up
/// to `--concurrency` prepared statements per kind, more than sqlx's cache of 100 holds at
/// high concurrency (each miss is a prepare, one more round trip); this way there are at most
/// a handful per kind.
fn padded(k: usize) -> usize {
    k.max(1).next_power_of_two()
}

/// Characters the `queue` column holds (`varchar(255)` in Laravel's migration).
const QUEUE_COLUMN_CHARS: usize = 255;

/// Whether a table name is safe to put into SQL unquoted.
pub(crate) fn valid_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 64
}

/// The leading `x.y.z` of a version string as numbers (missing parts are 0).
fn version_triple(v: &str) -> (u64, u64, u64) {
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .take_while(|p| !p.is_empty())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The lock clause Laravel's `getLockForPopping` picks for a server version string.
fn lock_clause(backend: Backend, version: &str) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => {
            // `server_version` is like "15.20 (Debian 15.20-0+deb12u1)" or "9.4.26".
            if version_triple(version) >= (9, 5, 0) {
                " FOR UPDATE SKIP LOCKED"
            } else {
                " FOR UPDATE"
            }
        }
        Backend::Mysql => {
            if version.contains("MariaDB") {
                // MariaDB used to report "5.5.5-10.x" for old clients.
                let v = version.strip_prefix("5.5.5-").unwrap_or(version);
                if version_triple(v) >= (10, 6, 0) {
                    " FOR UPDATE SKIP LOCKED"
                } else {
                    " FOR UPDATE"
                }
            } else if version_triple(version) >= (8, 0, 1) {
                " FOR UPDATE SKIP LOCKED"
            } else {
                " FOR UPDATE"
            }
        }
    }
}

/// `?` placeholders, numbered `$n` for PostgreSQL.
pub(crate) fn dialect(backend: Backend, sql: &str) -> String {
    if backend != Backend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

fn statements(backend: Backend, table: &str, lock: &str) -> Statements {
    // Any's MySQL side cannot decode unsigned tinyint/bigint, so numbers come back as signed.
    let (id, attempts) = match backend {
        Backend::Mysql => ("CAST(id AS SIGNED)", "CAST(attempts AS SIGNED)"),
        Backend::Postgres => ("CAST(id AS BIGINT)", "CAST(attempts AS BIGINT)"),
        Backend::Sqlite => ("id", "attempts"),
    };
    // SQLite (≥ 3.35) and PostgreSQL return the new id; MySQL reports it as last_insert_id.
    let returning = if backend == Backend::Mysql {
        ""
    } else {
        " RETURNING id"
    };
    let s = |sql: String| dialect(backend, &sql);
    Statements {
        select_next: s(format!(
            "SELECT {id}, {attempts}, payload FROM {table} WHERE queue = ? AND ((reserved_at IS NULL AND available_at <= ?) OR (reserved_at <= ?)) ORDER BY id ASC LIMIT ?{lock}"
        )),
        settle_and_reserve: if backend == Backend::Postgres {
            settle_and_reserve_statement(table, lock)
        } else {
            String::new()
        },
        delete: s(format!("DELETE FROM {table} WHERE id = ? AND attempts = ?")),
        insert: s(format!(
            "INSERT INTO {table} (queue, payload, attempts, reserved_at, available_at, created_at) VALUES (?, ?, ?, NULL, ?, ?){returning}"
        )),
        size: s(format!("SELECT COUNT(*) FROM {table} WHERE queue = ?")),
        // COUNT of a CASE, not SUM: it is a BIGINT on every server (SUM is DECIMAL on MySQL).
        sizes: s(format!(
            "SELECT COUNT(CASE WHEN reserved_at IS NULL AND available_at <= ? THEN 1 END), COUNT(CASE WHEN reserved_at IS NULL AND available_at > ? THEN 1 END), COUNT(reserved_at) FROM {table} WHERE queue = ?"
        )),
        clear: s(format!("DELETE FROM {table} WHERE queue = ?")),
        queue_names: format!("SELECT DISTINCT queue FROM {table}"),
    }
}

/// PostgreSQL's settle-and-reserve, one statement for every batch size (the ids and attempt
/// counts are bound as comma-separated text, not as a list of `?` per row, so the connection
/// prepares it once and reuses it):
///
/// * `d` deletes the finished rows we still hold (`id` and `attempts` both match, as
///   [`DatabaseQueue::delete`]), reporting their ids;
/// * `r` reserves up to `$7` rows exactly as Laravel's pop selects them, locking them in an
///   `ARRAY(SELECT … FOR UPDATE SKIP LOCKED)` (evaluated once, as an init plan) and updating
///   those ids. The rows `d` deletes are left out by id: every part of one statement sees the
///   snapshot from before it, so without that a finished job whose reservation expired could be
///   deleted and handed out again in one go. A row `d` did not delete (no longer ours) is
///   selected as any other, so the effect is the deletes first, then the reserve.
///
/// The statement is one implicit transaction, so a crash leaves either all of it or none.
/// Columns: kind (0 deleted, 1 reserved), id, attempts (of the deleted reservation, or after
/// this one), payload.
fn settle_and_reserve_statement(table: &str, lock: &str) -> String {
    let ids = "CAST(string_to_array(CAST($2 AS text), ',') AS bigint[])";
    let attempts = "CAST(string_to_array(CAST($3 AS text), ',') AS bigint[])";
    format!(
        "WITH d AS (DELETE FROM {table} WHERE id = ANY({ids}) AND (id, attempts) IN (SELECT * FROM unnest({ids}, {attempts})) RETURNING id, attempts), \
         r AS (UPDATE {table} SET reserved_at = $4, attempts = attempts + 1 WHERE id = ANY(ARRAY(\
         SELECT id FROM {table} WHERE queue = $1 AND ((reserved_at IS NULL AND available_at <= $5) OR (reserved_at <= $6)) AND id NOT IN (SELECT id FROM d) ORDER BY id ASC LIMIT $7{lock}\
         )) RETURNING id, attempts, payload) \
         SELECT CAST(0 AS BIGINT), CAST(id AS BIGINT), CAST(attempts AS BIGINT), CAST('' AS text) FROM d \
         UNION ALL SELECT CAST(1 AS BIGINT), CAST(id AS BIGINT), CAST(attempts AS BIGINT), payload FROM r"
    )
}

/// MariaDB's batched delete of finished rows (each only while our reservation holds it), which
/// names the rows it deleted (`DELETE … RETURNING`, MariaDB ≥ 10.0.5; MySQL has no such clause).
fn delete_returning(table: &str, k: usize) -> String {
    let pairs = vec!["(id = ? AND attempts = ?)"; k].join(" OR ");
    format!(
        "DELETE FROM {table} WHERE {pairs} RETURNING CAST(id AS SIGNED), CAST(attempts AS SIGNED)"
    )
}

/// The update that marks the `k` rows just selected as reserved, in one statement.
fn mark_reserved(backend: Backend, table: &str, k: usize) -> String {
    let marks = vec!["?"; k].join(", ");
    dialect(
        backend,
        &format!(
            "UPDATE {table} SET reserved_at = ?, attempts = attempts + 1 WHERE id IN ({marks})"
        ),
    )
}

/// A column that is text on one server and a blob on another (MySQL reports `longtext` as a blob).
pub(crate) fn bytes_column(row: &AnyRow, index: usize) -> Result<Vec<u8>, sqlx::Error> {
    match row.try_get::<String, _>(index) {
        Ok(s) => Ok(s.into_bytes()),
        Err(_) => row.try_get::<Vec<u8>, _>(index),
    }
}

impl DatabaseQueue {
    /// Connect to the database the app's `DB_*` settings (or `DB_URL`) describe.
    pub async fn connect(
        settings: &DatabaseSettings,
        options: DatabaseQueueOptions,
    ) -> Result<DatabaseQueue, QueueError> {
        DatabaseQueue::open(Target::from_settings(settings)?, options).await
    }

    /// Connect by URL: `sqlite://path?mode=rwc`, `mysql://` / `mariadb://`, `postgres://` /
    /// `pgsql://`.
    pub async fn connect_url(
        url: &str,
        options: DatabaseQueueOptions,
    ) -> Result<DatabaseQueue, QueueError> {
        DatabaseQueue::open(Target::from_url(url)?, options).await
    }

    /// Connect to `target` with a pool of its own (`options.max_connections`).
    pub async fn open(
        target: Target,
        options: DatabaseQueueOptions,
    ) -> Result<DatabaseQueue, QueueError> {
        let db = Database::open(
            target,
            options.max_connections,
            std::time::Duration::from_secs(30),
        )
        .await?;
        DatabaseQueue::on(&db, options).await
    }

    /// The queue in an open database, sharing its pool (the app's one pool; it should allow a
    /// connection per job in flight).
    pub async fn on(
        db: &Database,
        options: DatabaseQueueOptions,
    ) -> Result<DatabaseQueue, QueueError> {
        let backend = db.backend();
        if !valid_identifier(&options.table) {
            return Err(QueueError::Config(format!(
                "invalid jobs table name {:?} (letters, digits and _ only)",
                options.table
            )));
        }
        let err = |op: &'static str| {
            move |source| QueueError::Database {
                op,
                queue: String::new(),
                backend: backend.name(),
                source: redact(source),
            }
        };
        let pool = db.pool().clone();
        let server_version = match backend {
            Backend::Sqlite => String::new(),
            Backend::Mysql => sqlx::query("SELECT VERSION()")
                .fetch_one(&pool)
                .await
                .and_then(|r| bytes_column(&r, 0))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(err("server version"))?,
            Backend::Postgres => sqlx::query("SHOW server_version")
                .fetch_one(&pool)
                .await
                .and_then(|r| r.try_get::<String, _>(0))
                .map_err(err("server version"))?,
        };
        let lock = lock_clause(backend, &server_version);
        let delete_returning = backend == Backend::Mysql && server_version.contains("MariaDB");
        Ok(DatabaseQueue {
            sql: statements(backend, &options.table, lock),
            pool,
            backend,
            server_version,
            lock,
            delete_returning,
            held: Arc::default(),
            options,
        })
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &DatabaseQueueOptions {
        &self.options
    }

    /// The connection name failed_jobs records (`database`).
    pub fn connection_name(&self) -> &str {
        &self.options.connection_name
    }

    /// `sqlite`, `mysql` or `pgsql`: which dialect this connection speaks.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The server's version string (empty for SQLite), which chose the lock clause.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// The lock clause of the reserve query (`FOR UPDATE SKIP LOCKED`, `FOR UPDATE` or none).
    pub fn lock_clause(&self) -> &'static str {
        self.lock.trim()
    }

    /// The connection pool, for callers that need other tables in the same database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn err<'q>(
        &self,
        op: &'static str,
        queue: &'q str,
    ) -> impl FnOnce(sqlx::Error) -> QueueError + 'q {
        let backend = self.backend.name();
        move |source| QueueError::Database {
            op,
            queue: queue.to_owned(),
            backend,
            source: redact(source),
        }
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock before reading).
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            _ => self.pool.begin().await,
        }
    }

    async fn insert<'e, E>(
        &self,
        executor: E,
        queue: &str,
        payload: &[u8],
        attempts: i64,
        delay: u64,
    ) -> Result<i64, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let now = now() as i64;
        let available_at = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        let payload = String::from_utf8_lossy(payload);
        let query = sqlx::query(&self.sql.insert)
            .bind(queue)
            .bind(payload.as_ref())
            .bind(attempts)
            .bind(available_at)
            .bind(now);
        if self.backend != Backend::Mysql {
            let row = query.fetch_one(executor).await?;
            row.try_get::<i64, _>(0)
        } else {
            let done = query.execute(executor).await?;
            Ok(done.last_insert_id().unwrap_or(0))
        }
    }

    /// Laravel's `push`: insert a row ready now (`attempts` 0); returns its id, the job id.
    pub async fn push(&self, queue: &str, payload: &[u8]) -> Result<i64, QueueError> {
        self.later(queue, 0, payload).await
    }

    /// Laravel's `later`: insert a row available `delay` seconds from now; returns its id.
    pub async fn later(&self, queue: &str, delay: u64, payload: &[u8]) -> Result<i64, QueueError> {
        self.insert(&self.pool, queue, payload, 0, delay)
            .await
            .map_err(self.err("push", queue))
    }

    /// Laravel's `pop`: in one transaction, take the oldest available or expired-reserved row of
    /// `queue`, set `reserved_at = now` and `attempts = old + 1`.
    pub async fn reserve(&self, queue: &str) -> Result<Option<ReservedJob>, QueueError> {
        Ok(self.settle_and_reserve(queue, &[], 1).await?.1.pop())
    }

    /// Up to `n` jobs in one transaction, each reserved exactly as [`DatabaseQueue::reserve`]
    /// reserves one: the same as `n` pops in a row, with one commit instead of `n` (what a
    /// worker with several free slots pays per job is mostly commits).
    pub async fn reserve_many(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        Ok(self.settle_and_reserve(queue, &[], n.max(1)).await?.1)
    }

    /// Delete the `finished` jobs' rows, then reserve up to `n` rows of `queue`, under one commit:
    /// what the worker loop sends when it defers finished jobs' deletes to its next reserve
    /// ([`crate::queue::Queue::defers_deletes`]). A commit waits for the disk and a statement for
    /// a round trip, and these are most of what a job costs on this driver; deleting with the
    /// next reserve makes them one per loop instead of one per job plus one per loop.
    ///
    /// Returns, in `finished` order, whether each row was still ours and is now deleted (as
    /// [`DatabaseQueue::delete`]: `id` and `attempts` must match), and the reserved jobs in id
    /// order. The deletes come first: a finished job whose reservation expired while its delete
    /// waited is deleted, never handed out again by the same call. Nothing is written when it
    /// fails (one transaction), so the caller may send the same deletes again.
    ///
    /// PostgreSQL: one statement (`settle_and_reserve_statement`). MariaDB: one
    /// `DELETE … RETURNING` for the batch, then the select with the lock clause and the update.
    /// MySQL and SQLite: a delete per row, then the same; SQLite takes the write lock first.
    pub async fn settle_and_reserve(
        &self,
        queue: &str,
        finished: &[&ReservedJob],
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), QueueError> {
        let held = finished
            .iter()
            .map(|job| Ok((Self::held(job)?, job.attempts)))
            .collect::<Result<Vec<(i64, i64)>, QueueError>>()?;
        if held.is_empty() && n == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let op = if n == 0 { "delete" } else { "reserve" };
        // Another caller on the kept connection: take one from the pool rather than wait.
        let mut slot = self.held.try_lock().ok();
        let kept = slot
            .as_mut()
            .and_then(|slot| slot.take())
            .filter(|(_, used)| used.elapsed() < HELD_IDLE)
            .map(|(conn, _)| conn);
        let mut conn = match kept {
            Some(conn) => conn,
            None => self.pool.acquire().await.map_err(self.err(op, queue))?,
        };
        let res = match self.backend {
            Backend::Postgres => {
                self.settle_in_one_statement(&mut conn, queue, &held, n)
                    .await
            }
            _ => self.settle_in_transaction(&mut conn, queue, &held, n).await,
        };
        if res.is_ok() {
            if let Some(slot) = slot.as_mut() {
                **slot = Some((conn, Instant::now()));
            }
        }
        res.map_err(self.err(op, queue))
    }

    /// PostgreSQL's [`DatabaseQueue::settle_and_reserve`]: one prepared statement, one round
    /// trip, its own implicit transaction.
    async fn settle_in_one_statement(
        &self,
        conn: &mut AnyConnection,
        queue: &str,
        held: &[(i64, i64)],
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), sqlx::Error> {
        let now = now() as i64;
        let retry_after = i64::try_from(self.options.retry_after).unwrap_or(i64::MAX);
        let list = |f: fn(&(i64, i64)) -> i64| {
            held.iter()
                .map(|pair| f(pair).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let rows = sqlx::query(&self.sql.settle_and_reserve)
            .bind(queue)
            .bind(list(|p| p.0))
            .bind(list(|p| p.1))
            .bind(now)
            .bind(now)
            .bind(now.saturating_sub(retry_after))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
        let mut deleted = std::collections::HashSet::new();
        let mut jobs = Vec::with_capacity(n);
        for row in &rows {
            let kind: i64 = row.try_get(0)?;
            let id: i64 = row.try_get(1)?;
            if kind == 0 {
                // By reservation, not by id: the same row can be in `held` twice, once for a
                // reservation that expired while its job ran on and once for the one after it.
                deleted.insert((id, row.try_get::<i64, _>(2)?));
                continue;
            }
            jobs.push(ReservedJob {
                queue: queue.to_owned(),
                original: bytes_column(row, 3)?,
                reserved: Vec::new(),
                attempts: row.try_get(2)?,
                reservation: Reservation::Row,
                row_id: Some(id),
                delivery: None,
            });
        }
        // RETURNING follows no order; hand jobs out oldest first, as one pop after another would.
        jobs.sort_by_key(|j| j.row_id);
        let still_held = held.iter().map(|pair| deleted.contains(pair)).collect();
        Ok((still_held, jobs))
    }

    /// [`DatabaseQueue::settle_and_reserve`] on MySQL/MariaDB and SQLite: the deletes, then the
    /// select with the lock clause and the update of exactly the rows it returned, in one
    /// transaction. Deletes alone go out without `BEGIN`/`COMMIT` when one statement does them.
    async fn settle_in_transaction(
        &self,
        conn: &mut AnyConnection,
        queue: &str,
        held: &[(i64, i64)],
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), sqlx::Error> {
        if n == 0 && (held.len() == 1 || self.delete_returning) {
            return Ok((self.delete_rows(conn, held).await?, Vec::new()));
        }
        let mut tx = match self.backend {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            _ => conn.begin().await?,
        };
        let deleted = self.delete_rows(&mut tx, held).await?;
        let jobs = if n > 0 {
            self.take(&mut tx, queue, n).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok((deleted, jobs))
    }

    /// Delete the rows we still hold (`id` and `attempts` match), saying for each whether it was.
    async fn delete_rows(
        &self,
        conn: &mut sqlx::AnyConnection,
        held: &[(i64, i64)],
    ) -> Result<Vec<bool>, sqlx::Error> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        if self.delete_returning && held.len() > 1 {
            let sql = delete_returning(&self.options.table, padded(held.len()));
            let mut delete = sqlx::query(&sql);
            let last = held[held.len() - 1];
            for (id, attempts) in held
                .iter()
                .chain(std::iter::repeat(&last))
                .take(padded(held.len()))
            {
                delete = delete.bind(*id).bind(*attempts);
            }
            let rows = delete.fetch_all(&mut *conn).await?;
            let mut deleted = std::collections::HashSet::with_capacity(rows.len());
            for row in &rows {
                deleted.insert((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?));
            }
            return Ok(held.iter().map(|pair| deleted.contains(pair)).collect());
        }
        let mut deleted = Vec::with_capacity(held.len());
        for (id, attempts) in held {
            let done = sqlx::query(&self.sql.delete)
                .bind(*id)
                .bind(*attempts)
                .execute(&mut *conn)
                .await?;
            deleted.push(done.rows_affected() == 1);
        }
        Ok(deleted)
    }

    /// Select the oldest `n` available or expired-reserved rows with the lock clause, then set
    /// `reserved_at = now, attempts = attempts + 1` on exactly those rows, in the caller's
    /// transaction. The rows are locked (SQLite: the write lock is held) from the select to the
    /// commit, so no other worker can take them in between and `attempts + 1` is the `old + 1`
    /// we hand out.
    async fn take(
        &self,
        conn: &mut sqlx::AnyConnection,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, sqlx::Error> {
        let now = now() as i64;
        let retry_after = i64::try_from(self.options.retry_after).unwrap_or(i64::MAX);
        let rows = sqlx::query(&self.sql.select_next)
            .bind(queue)
            .bind(now)
            .bind(now.saturating_sub(retry_after))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            let attempts: i64 = row.try_get::<i64, _>(1)?.saturating_add(1);
            jobs.push(ReservedJob {
                queue: queue.to_owned(),
                original: bytes_column(row, 2)?,
                reserved: Vec::new(),
                attempts,
                reservation: Reservation::Row,
                row_id: Some(id),
                delivery: None,
            });
        }
        if jobs.is_empty() {
            return Ok(jobs);
        }
        // Rows are distinct, so the repeated last id of the padding changes nothing.
        let k = padded(jobs.len());
        let sql = mark_reserved(self.backend, &self.options.table, k);
        let mut update = sqlx::query(&sql).bind(now);
        let ids = jobs.iter().map(|job| job.row_id.unwrap_or_default());
        let last = ids.clone().next_back().unwrap_or_default();
        for id in ids.chain(std::iter::repeat(last)).take(k) {
            update = update.bind(id);
        }
        let done = update.execute(&mut *conn).await?;
        if done.rows_affected() != jobs.len() as u64 {
            // Cannot happen while the rows are locked; never hand out a job we do not hold (the
            // caller's transaction is rolled back when it is dropped with this error).
            return Err(sqlx::Error::Protocol(format!(
                "reserved {} of {} selected rows",
                done.rows_affected(),
                jobs.len()
            )));
        }
        Ok(jobs)
    }

    /// The row id and attempt count that identify our reservation.
    fn held(job: &ReservedJob) -> Result<i64, QueueError> {
        job.row_id.ok_or_else(|| {
            QueueError::Config(
                "a job reserved from Redis was handed to the database queue".to_owned(),
            )
        })
    }

    /// Delete a finished (or failed) job's row. False if the row is gone or was reserved again by
    /// another worker after ours expired.
    pub async fn delete(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        let id = Self::held(job)?;
        let done = sqlx::query(&self.sql.delete)
            .bind(id)
            .bind(job.attempts)
            .execute(&self.pool)
            .await
            .map_err(self.err("delete", &job.queue))?;
        Ok(done.rows_affected() == 1)
    }

    /// Laravel's `release`: in one transaction, delete the row and insert a new one with the same
    /// payload, `attempts` = this attempt's count, available `delay` seconds from now. The job id
    /// changes. False (and nothing inserted) if the reservation was no longer ours.
    pub async fn release(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        self.put_back(job, delay, job.attempts, "release").await
    }

    /// Give a reserved job back without consuming the attempt (the new row has the attempts it had
    /// before this reserve), available `delay` seconds from now, so a PHP worker can take it.
    /// False if the reservation was no longer ours.
    pub async fn hand_back(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        let before = job.attempts.saturating_sub(1).max(0);
        self.put_back(job, delay, before, "hand back").await
    }

    async fn put_back(
        &self,
        job: &ReservedJob,
        delay: u64,
        attempts: i64,
        op: &'static str,
    ) -> Result<bool, QueueError> {
        let id = Self::held(job)?;
        let res: Result<bool, sqlx::Error> = async {
            let mut tx = self.begin().await?;
            let done = sqlx::query(&self.sql.delete)
                .bind(id)
                .bind(job.attempts)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            self.insert(&mut *tx, &job.queue, &job.original, attempts, delay)
                .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        res.map_err(self.err(op, &job.queue))
    }

    /// Refuse a queue name a `jobs` row cannot hold as given: empty (Laravel would have used the
    /// connection's default queue instead, so the caller must name it), or longer than the
    /// `queue varchar(255)` column (MySQL/MariaDB outside strict mode would cut it and so put
    /// the job on another queue; PostgreSQL would refuse the insert). Laravel checks neither.
    pub fn check_queue(&self, queue: &str) -> Result<(), QueueError> {
        let reason = if queue.is_empty() {
            "it is empty (name the queue: Laravel would use the connection's default queue)"
        } else if queue.chars().count() > QUEUE_COLUMN_CHARS {
            "it is longer than the 255 characters of the jobs table's queue column"
        } else {
            return Ok(());
        };
        Err(QueueError::QueueName {
            queue: queue.chars().take(300).collect(),
            reason,
        })
    }

    /// Laravel's `pushRaw`: [`DatabaseQueue::push`] after [`DatabaseQueue::check_queue`], so a
    /// name the column would cut never lands on another queue. Returns the row id (what
    /// Laravel's `insertGetId` returns, the job id).
    pub async fn push_raw(&self, queue: &str, payload: &[u8]) -> Result<i64, QueueError> {
        self.check_queue(queue)?;
        self.push(queue, payload).await
    }

    /// The queues that have rows in the table now, sorted (what `larq size` lists when no queue
    /// is named; Laravel has no such call).
    pub async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        let rows = sqlx::query(&self.sql.queue_names)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("list queues", ""))?;
        let mut names = std::collections::BTreeSet::new();
        for row in &rows {
            let name = bytes_column(row, 0).map_err(self.err("list queues", ""))?;
            names.insert(String::from_utf8_lossy(&name).into_owned());
        }
        Ok(names.into_iter().collect())
    }

    /// Laravel's `size` (`count(*) where queue = ?`, the same in 8.x to 12.x): every row of the
    /// queue, ready, delayed and reserved, including rows a worker is running. It is the figure
    /// `queue:monitor` compares with `--max`.
    pub async fn size(&self, queue: &str) -> Result<u64, QueueError> {
        let row = sqlx::query(&self.sql.size)
            .bind(queue)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("size", queue))?;
        let n: i64 = row.try_get(0).map_err(self.err("size", queue))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// [`DatabaseQueue::size`] split by state: ready (available now), delayed (available later)
    /// and reserved (held, including reservations past `retry_after` that the next reserve will
    /// take over), read in one statement.
    pub async fn sizes(&self, queue: &str) -> Result<QueueSizes, QueueError> {
        let now = now() as i64;
        let row = sqlx::query(&self.sql.sizes)
            .bind(now)
            .bind(now)
            .bind(queue)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("size", queue))?;
        let count = |i: usize| -> Result<u64, QueueError> {
            let n: i64 = row.try_get(i).map_err(self.err("size", queue))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(QueueSizes {
            ready: count(0)?,
            delayed: count(1)?,
            reserved: count(2)?,
        })
    }

    /// Laravel's `clear` (`delete where queue = ?`, the same in 8.x to 12.x): delete every row of
    /// the queue, reserved ones too, in one statement; returns how many rows it deleted, which
    /// `queue:clear` prints. A worker still running a job whose row went finds nothing to delete
    /// or release afterwards (our delete and release then report `false`).
    pub async fn clear(&self, queue: &str) -> Result<u64, QueueError> {
        let done = sqlx::query(&self.sql.clear)
            .bind(queue)
            .execute(&self.pool)
            .await
            .map_err(self.err("clear", queue))?;
        Ok(done.rows_affected())
    }

    /// Create the jobs table (this connection's name) and `job_batches` with Laravel's schema if
    /// they do not exist, for apps without PHP migrations. Safe to run again.
    pub async fn create_tables(&self) -> Result<(), QueueError> {
        for stmt in create_statements(self.backend, &self.options.table) {
            sqlx::query(&stmt)
                .execute(&self.pool)
                .await
                .map_err(self.err("create table", ""))?;
        }
        Ok(())
    }

    /// Create only the jobs table (this connection's name), as [`DatabaseQueue::create_tables`]
    /// does, for callers that keep batches elsewhere.
    pub async fn create_jobs_table(&self) -> Result<(), QueueError> {
        let all = create_statements(self.backend, &self.options.table);
        for stmt in all.iter().filter(|s| !s.contains("job_batches")) {
            sqlx::query(stmt)
                .execute(&self.pool)
                .await
                .map_err(self.err("create table", ""))?;
        }
        Ok(())
    }

    /// Drop the jobs table (tests, and undoing `larq migrate`).
    pub async fn drop_table(&self) -> Result<(), QueueError> {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", self.options.table))
            .execute(&self.pool)
            .await
            .map_err(self.err("drop table", ""))?;
        Ok(())
    }
}

/// Laravel's `jobs` and `job_batches` migrations as each grammar writes them (`queue:table`, `queue:batches-table`),
/// made idempotent. `failed_job_ids` is `longtext` as in 9.x+ (8.x's `text` holds less).
fn create_statements(backend: Backend, table: &str) -> Vec<String> {
    match backend {
        Backend::Sqlite => vec![
            format!("CREATE TABLE IF NOT EXISTS {table} (id integer not null primary key autoincrement, queue varchar not null, payload text not null, attempts integer not null, reserved_at integer, available_at integer not null, created_at integer not null)"),
            format!("CREATE INDEX IF NOT EXISTS {table}_queue_index on {table} (queue)"),
            "CREATE TABLE IF NOT EXISTS job_batches (id varchar not null, name varchar not null, total_jobs integer not null, pending_jobs integer not null, failed_jobs integer not null, failed_job_ids text not null, options text, cancelled_at integer, created_at integer not null, finished_at integer, primary key (id))".to_owned(),
        ],
        Backend::Mysql => vec![
            format!("CREATE TABLE IF NOT EXISTS {table} (id bigint unsigned not null auto_increment primary key, queue varchar(255) not null, payload longtext not null, attempts tinyint unsigned not null, reserved_at int unsigned null, available_at int unsigned not null, created_at int unsigned not null, INDEX {table}_queue_index (queue)) default character set utf8mb4 collate 'utf8mb4_unicode_ci'"),
            "CREATE TABLE IF NOT EXISTS job_batches (id varchar(255) not null, name varchar(255) not null, total_jobs int not null, pending_jobs int not null, failed_jobs int not null, failed_job_ids longtext not null, options mediumtext null, cancelled_at int null, created_at int not null, finished_at int null, primary key (id)) default character set utf8mb4 collate 'utf8mb4_unicode_ci'".to_owned(),
        ],
        Backend::Postgres => vec![
            format!("CREATE TABLE IF NOT EXISTS {table} (id bigserial primary key not null, queue varchar(255) not null, payload text not null, attempts smallint not null, reserved_at integer null, available_at integer not null, created_at integer not null)"),
            format!("CREATE INDEX IF NOT EXISTS {table}_queue_index on {table} (queue)"),
            "CREATE TABLE IF NOT EXISTS job_batches (id varchar(255) not null, name varchar(255) not null, total_jobs integer not null, pending_jobs integer not null, failed_jobs integer not null, failed_job_ids text not null, options text null, cancelled_at integer null, created_at integer not null, finished_at integer null, primary key (id))".to_owned(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_clause_follows_the_server_version() {
        let skip = " FOR UPDATE SKIP LOCKED";
        let plain = " FOR UPDATE";
        assert_eq!(lock_clause(Backend::Mysql, "8.0.1"), skip);
        assert_eq!(lock_clause(Backend::Mysql, "8.0.0"), plain);
        assert_eq!(lock_clause(Backend::Mysql, "5.7.44-log"), plain);
        assert_eq!(
            lock_clause(Backend::Mysql, "10.11.19-MariaDB-0+deb12u1"),
            skip
        );
        assert_eq!(lock_clause(Backend::Mysql, "5.5.5-10.6.0-MariaDB"), skip);
        assert_eq!(lock_clause(Backend::Mysql, "5.5.5-10.5.22-MariaDB"), plain);
        assert_eq!(lock_clause(Backend::Mysql, "10.4.1-MariaDB"), plain);
        assert_eq!(
            lock_clause(Backend::Postgres, "15.20 (Debian 15.20-0+deb12u1)"),
            skip
        );
        assert_eq!(lock_clause(Backend::Postgres, "9.5.0"), skip);
        assert_eq!(lock_clause(Backend::Postgres, "9.4.26"), plain);
        assert_eq!(lock_clause(Backend::Sqlite, ""), "");
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            dialect(Backend::Postgres, "a = ? AND b <= ? OR c <= ?"),
            "a = $1 AND b <= $2 OR c <= $3"
        );
        assert_eq!(dialect(Backend::Mysql, "a = ?"), "a = ?");
        let s = statements(Backend::Postgres, "jobs", " FOR UPDATE SKIP LOCKED");
        assert!(
            s.select_next.ends_with("LIMIT $4 FOR UPDATE SKIP LOCKED"),
            "{}",
            s.select_next
        );
        assert!(s.insert.ends_with("RETURNING id"));
    }

    #[test]
    fn many_rows_are_marked_in_one_update() {
        assert_eq!(
            mark_reserved(Backend::Postgres, "jobs", 3),
            "UPDATE jobs SET reserved_at = $1, attempts = attempts + 1 WHERE id IN ($2, $3, $4)"
        );
        assert_eq!(
            mark_reserved(Backend::Mysql, "q", 1),
            "UPDATE q SET reserved_at = ?, attempts = attempts + 1 WHERE id IN (?)"
        );
        let s = statements(Backend::Mysql, "jobs", " FOR UPDATE SKIP LOCKED");
        assert!(
            s.select_next.ends_with("LIMIT ? FOR UPDATE SKIP LOCKED"),
            "{}",
            s.select_next
        );
    }

    #[test]
    fn postgres_settles_and_reserves_in_one_statement_for_every_batch_size() {
        let s = statements(Backend::Postgres, "jobs", " FOR UPDATE SKIP LOCKED");
        let sql = &s.settle_and_reserve;
        assert!(
            sql.starts_with("WITH d AS (DELETE FROM jobs WHERE id = ANY("),
            "{sql}"
        );
        assert!(
            sql.contains("AND id NOT IN (SELECT id FROM d) ORDER BY id ASC LIMIT $7 FOR UPDATE SKIP LOCKED)) RETURNING id, attempts, payload)"),
            "{sql}"
        );
        assert!(!sql.contains('?'), "no list of placeholders per row: {sql}");
        assert!(statements(Backend::Mysql, "jobs", "")
            .settle_and_reserve
            .is_empty());
        assert_eq!(
            delete_returning("q", 2),
            "DELETE FROM q WHERE (id = ? AND attempts = ?) OR (id = ? AND attempts = ?) RETURNING CAST(id AS SIGNED), CAST(attempts AS SIGNED)"
        );
    }

    #[test]
    fn table_names_are_checked() {
        assert!(valid_identifier("jobs"));
        assert!(valid_identifier("_t_2"));
        assert!(!valid_identifier("jobs; drop table x"));
        assert!(!valid_identifier("2jobs"));
        assert!(!valid_identifier(""));
    }

    async fn sqlite_queue(dir: &tempfile::TempDir) -> DatabaseQueue {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("q.sqlite").display()
        );
        DatabaseQueue::connect_url(&url, DatabaseQueueOptions::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_push_reserve_release_delete() {
        let dir = tempfile::tempdir().unwrap();
        let q = sqlite_queue(&dir).await;
        q.create_tables().await.unwrap();
        q.create_tables().await.unwrap(); // idempotent
        let id = q.push("default", br#"{"uuid":"a"}"#).await.unwrap();
        let job = q.reserve("default").await.unwrap().unwrap();
        assert_eq!((job.row_id, job.attempts), (Some(id), 1));
        assert_eq!(job.original, br#"{"uuid":"a"}"#);
        assert!(q.reserve("default").await.unwrap().is_none(), "held");
        assert!(q.release(&job, 0).await.unwrap());
        assert!(!q.release(&job, 0).await.unwrap(), "not ours any more");
        let again = q.reserve("default").await.unwrap().unwrap();
        assert_eq!(again.attempts, 2);
        assert!(again.row_id.unwrap() > id, "release inserts a new row");
        assert!(q.delete(&again).await.unwrap());
        assert_eq!(q.size("default").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn sqlite_reserve_many_takes_the_oldest_rows_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let q = sqlite_queue(&dir).await;
        q.create_jobs_table().await.unwrap();
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(
                q.push("default", format!("{{\"n\":{n}}}").as_bytes())
                    .await
                    .unwrap(),
            );
        }
        q.later("default", 60, b"{}").await.unwrap();
        let first = q.reserve_many("default", 3).await.unwrap();
        assert_eq!(
            first
                .iter()
                .map(|j| (j.row_id, j.attempts))
                .collect::<Vec<_>>(),
            ids[..3].iter().map(|&id| (Some(id), 1)).collect::<Vec<_>>()
        );
        assert_eq!(first[1].original, br#"{"n":1}"#);
        assert!(q.release(&first[0], 0).await.unwrap());
        // The rest, then the released copy with its attempt counted; not the delayed row.
        let rest = q.reserve_many("default", 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|j| j.attempts).collect::<Vec<_>>(),
            [1, 1, 2]
        );
        assert_eq!(rest[0].row_id, Some(ids[3]));
        assert!(q.reserve_many("default", 10).await.unwrap().is_empty());
        for job in first[1..].iter().chain(&rest) {
            assert!(
                q.delete(job).await.unwrap(),
                "each is held with its attempt count"
            );
        }
        assert_eq!(q.size("default").await.unwrap(), 1, "the delayed row");
    }

    #[tokio::test]
    async fn a_locked_sqlite_file_is_busy_so_a_delete_may_run_again() {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::ConnectOptions;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.sqlite");
        let mut holder = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x integer)")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut other = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(std::time::Duration::ZERO)
            .connect()
            .await
            .unwrap();
        let source = sqlx::query("DELETE FROM t")
            .execute(&mut other)
            .await
            .unwrap_err();
        let busy = QueueError::Database {
            op: "delete",
            queue: "default".to_owned(),
            backend: "sqlite",
            source,
        };
        assert!(busy.is_busy(), "{busy}");
        assert!(!busy.is_connection_lost());
        let elsewhere = QueueError::Database {
            op: "delete",
            queue: "default".to_owned(),
            backend: "pgsql",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(!elsewhere.is_busy());
    }
}
