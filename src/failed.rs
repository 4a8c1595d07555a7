//! Laravel's `failed_jobs` table (the `database-uuids` provider, `Illuminate\Queue\Failed\DatabaseUuidFailedJobProvider`).
//!
//! Rows written here are the ones `php artisan queue:failed` lists and `queue:retry` re-queues:
//! `uuid` (the payload's), `connection`, `queue`, `payload` (the raw body as popped), `exception`
//! (`Class: message in file:line` + a stack trace line) and `failed_at` (`Y-m-d H:i:s`, UTC).
//!
//! larq's guarantee is stricter than Laravel's: the worker writes the row **before** it removes the
//! job from Redis, so a crash in between leaves the job reserved (it comes back and fails again)
//! instead of losing it. That crash can make the same uuid fail twice; the second write finds the
//! first row and keeps it, as Laravel's unique index on `uuid` would, and says so.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::config::DatabaseSettings;
use crate::db::{redact, Backend, Database, DbError, Target};

/// A failed-jobs database error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailedError {
    /// The database could not be opened (the settings, or the server).
    #[error(transparent)]
    Open(#[from] DbError),
    /// A query failed (the message never includes the password).
    #[error("failed_jobs ({backend}): {source}")]
    Database {
        /// `sqlite`, `mysql` or `pgsql`.
        backend: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
}

/// One failed job, as the worker hands it over.
#[derive(Debug, Clone)]
pub struct FailedJob<'a> {
    /// The payload's uuid (the worker makes one up if the payload has none).
    pub uuid: &'a str,
    /// Connection name (`redis`).
    pub connection: &'a str,
    /// Queue name without `queues:`.
    pub queue: &'a str,
    /// The raw body as popped.
    pub payload: &'a [u8],
    /// PHP-shaped exception text.
    pub exception: &'a str,
}

/// What [`FailedJobStore::log`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// A new row.
    Inserted,
    /// A row with this uuid was already there and is kept as it is: the job failed before and
    /// was not removed (larq crashed in between), or another job carries the same uuid. Laravel's
    /// unique index on `uuid` refuses a second row, so the first stands.
    AlreadyThere,
}

/// How often a store whose writes fail may reopen its connections: often enough that a database
/// that became writable again is used within seconds, seldom enough that a database that stays
/// broken is not hammered by one reconnect per failed job.
const REOPEN_INTERVAL: Duration = Duration::from_secs(2);

/// The app's `failed_jobs` table.
///
/// Cheap to clone; clones share the pool. A write that fails reopens the pool (at most every
/// 2 s) and is tried once more: a connection opened while the database could not
/// be written (a read-only SQLite file, a server in read-only mode, a dead TCP connection) would
/// otherwise keep failing after the cause is gone, until the worker is restarted.
#[derive(Debug, Clone)]
pub struct FailedJobStore {
    target: Arc<Target>,
    pool: Arc<RwLock<AnyPool>>,
    reopened: Arc<Mutex<Option<Instant>>>,
    backend: Backend,
    table: String,
}

impl FailedJobStore {
    /// Connect to the database `DB_*` describes.
    pub async fn connect(settings: &DatabaseSettings) -> Result<FailedJobStore, FailedError> {
        FailedJobStore::open(Target::from_settings(settings)?).await
    }

    /// Connect to a SQLite file, created when missing (tests, small deployments).
    pub async fn sqlite(path: &std::path::Path) -> Result<FailedJobStore, FailedError> {
        FailedJobStore::open(Target::sqlite_file(path)).await
    }

    /// Connect to `target` with a pool of its own.
    pub async fn open(target: Target) -> Result<FailedJobStore, FailedError> {
        Ok(FailedJobStore::on(
            &Database::open(target, 4, POOL_ACQUIRE_TIMEOUT).await?,
        ))
    }

    /// The table in an open database, sharing its pool (the app's one pool).
    pub fn on(db: &Database) -> FailedJobStore {
        FailedJobStore {
            backend: db.backend(),
            target: Arc::new(db.target().clone()),
            pool: Arc::new(RwLock::new(db.pool().clone())),
            reopened: Arc::new(Mutex::new(None)),
            table: "failed_jobs".to_owned(),
        }
    }

    /// The current pool (a cheap handle; never held across a reopen).
    fn pool(&self) -> AnyPool {
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replace the pool with a fresh one, unless that was done less than [`REOPEN_INTERVAL`] ago;
    /// true when a new pool is in place.
    async fn reopen(&self) -> bool {
        {
            let mut at = self.reopened.lock().unwrap_or_else(PoisonError::into_inner);
            if at.is_some_and(|t| t.elapsed() < REOPEN_INTERVAL) {
                return false;
            }
            *at = Some(Instant::now());
        }
        match self.target.open_pool(4, POOL_ACQUIRE_TIMEOUT).await {
            Ok(pool) => {
                let old = std::mem::replace(
                    &mut *self.pool.write().unwrap_or_else(PoisonError::into_inner),
                    pool,
                );
                // Connections in use finish their statement; idle ones close now.
                drop(old);
                tracing::debug!(
                    server = self.target.server(),
                    "failed_jobs: connections reopened"
                );
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "failed_jobs: cannot reopen the connections");
                false
            }
        }
    }

    fn db_err(&self) -> impl FnOnce(sqlx::Error) -> FailedError {
        let backend = self.backend.name();
        move |source| FailedError::Database {
            backend,
            source: redact(source),
        }
    }

    /// Create the table with Laravel's schema if it does not exist (tests and fresh SQLite files;
    /// an app normally has it from its migrations).
    pub async fn ensure_table(&self) -> Result<(), FailedError> {
        let sql = match self.backend {
            Backend::Sqlite => "CREATE TABLE IF NOT EXISTS failed_jobs (id integer primary key autoincrement not null, uuid varchar not null, connection text not null, queue text not null, payload text not null, exception text not null, failed_at datetime default CURRENT_TIMESTAMP not null); CREATE UNIQUE INDEX IF NOT EXISTS failed_jobs_uuid_unique on failed_jobs (uuid)",
            Backend::Mysql => "CREATE TABLE IF NOT EXISTS failed_jobs (id bigint unsigned not null auto_increment primary key, uuid varchar(255) not null, connection text not null, queue text not null, payload longtext not null, exception longtext not null, failed_at timestamp default CURRENT_TIMESTAMP not null, UNIQUE KEY failed_jobs_uuid_unique (uuid))",
            Backend::Postgres => "CREATE TABLE IF NOT EXISTS failed_jobs (id bigserial primary key not null, uuid varchar(255) not null, connection text not null, queue text not null, payload text not null, exception text not null, failed_at timestamp(0) without time zone default CURRENT_TIMESTAMP not null, CONSTRAINT failed_jobs_uuid_unique UNIQUE (uuid))",
        };
        let pool = self.pool();
        for stmt in sql.split("; ") {
            sqlx::query(stmt)
                .execute(&pool)
                .await
                .map_err(self.db_err())?;
        }
        Ok(())
    }

    fn placeholders(&self, n: usize) -> Vec<String> {
        (1..=n)
            .map(|i| match self.backend {
                Backend::Postgres => format!("${i}"),
                _ => "?".to_owned(),
            })
            .collect()
    }

    /// Record a failed job. If a row with its uuid exists, that row is kept and
    /// [`Recorded::AlreadyThere`] says so. A write that fails reopens the connections and is
    /// tried once more (see [`FailedJobStore`]).
    pub async fn log(&self, job: &FailedJob<'_>) -> Result<Recorded, FailedError> {
        let first = match self.insert(job).await {
            Ok(()) => return Ok(Recorded::Inserted),
            Err(e) => e,
        };
        if let Ok(true) = self.exists(job.uuid).await {
            return Ok(Recorded::AlreadyThere);
        }
        if !self.reopen().await {
            return Err(self.db_err()(first));
        }
        match self.insert(job).await {
            Ok(()) => Ok(Recorded::Inserted),
            Err(_) if self.exists(job.uuid).await.unwrap_or(false) => Ok(Recorded::AlreadyThere),
            Err(e) => Err(self.db_err()(e)),
        }
    }

    async fn insert(&self, job: &FailedJob<'_>) -> Result<(), sqlx::Error> {
        let failed_at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        let payload = String::from_utf8_lossy(job.payload);
        let p = self.placeholders(6);
        let failed_at_ph = match self.backend {
            Backend::Postgres => format!("CAST({} AS TIMESTAMP)", p[5]),
            _ => p[5].clone(),
        };
        let insert = format!(
            "INSERT INTO {} (uuid, connection, queue, payload, exception, failed_at) VALUES ({}, {}, {}, {}, {}, {})",
            self.table, p[0], p[1], p[2], p[3], p[4], failed_at_ph
        );
        sqlx::query(&insert)
            .bind(job.uuid)
            .bind(job.connection)
            .bind(job.queue)
            .bind(payload.as_ref())
            .bind(job.exception)
            .bind(&failed_at)
            .execute(&self.pool())
            .await
            .map(|_| ())
    }

    /// Whether a row with this uuid exists.
    pub async fn exists(&self, uuid: &str) -> Result<bool, FailedError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE uuid = {}",
            self.table,
            self.placeholders(1)[0]
        );
        let row: AnyRow = sqlx::query(&sql)
            .bind(uuid)
            .fetch_one(&self.pool())
            .await
            .map_err(self.db_err())?;
        let n: i64 = row.try_get(0).map_err(self.db_err())?;
        Ok(n > 0)
    }

    /// All rows as (uuid, queue, payload, exception), oldest first (tests, diagnostics).
    pub async fn all(&self) -> Result<Vec<FailedRow>, FailedError> {
        let sql = format!(
            "SELECT uuid, connection, queue, payload, exception, CAST(failed_at AS CHAR(19)) FROM {} ORDER BY id",
            self.table
        );
        let sql = if self.backend == Backend::Postgres {
            sql.replace("CHAR(19)", "VARCHAR(19)")
        } else {
            sql
        };
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool())
            .await
            .map_err(self.db_err())?;
        rows.iter()
            .map(row_to_failed)
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(self.db_err())
    }

    /// One row by uuid (`queue:retry`/`queue:failed` address rows by uuid in `database-uuids`).
    pub async fn find(&self, uuid: &str) -> Result<Option<FailedRow>, FailedError> {
        let sql = format!(
            "SELECT uuid, connection, queue, payload, exception, CAST(failed_at AS {}) FROM {} WHERE uuid = {}",
            self.char19(),
            self.table,
            self.placeholders(1)[0]
        );
        let row = sqlx::query(&sql)
            .bind(uuid)
            .fetch_optional(&self.pool())
            .await
            .map_err(self.db_err())?;
        row.map(|r| row_to_failed(&r))
            .transpose()
            .map_err(self.db_err())
    }

    /// Delete one row by uuid (`queue:forget`); false when no row had it.
    pub async fn forget(&self, uuid: &str) -> Result<bool, FailedError> {
        let sql = format!(
            "DELETE FROM {} WHERE uuid = {}",
            self.table,
            self.placeholders(1)[0]
        );
        let done = sqlx::query(&sql)
            .bind(uuid)
            .execute(&self.pool())
            .await
            .map_err(self.db_err())?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete every row (`queue:flush`); returns how many there were.
    pub async fn flush(&self) -> Result<u64, FailedError> {
        let done = sqlx::query(&format!("DELETE FROM {}", self.table))
            .execute(&self.pool())
            .await
            .map_err(self.db_err())?;
        Ok(done.rows_affected())
    }

    fn char19(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "VARCHAR(19)",
            _ => "CHAR(19)",
        }
    }
}

/// How long a query waits for a free connection of the pool.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A text column. MySQL/MariaDB send TEXT columns with the BLOB type id, which sqlx's Any driver
/// only decodes as bytes; those are UTF-8 (Laravel writes JSON and exception text).
fn text(row: &AnyRow, index: usize) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(index) {
        Ok(s) => Ok(s),
        Err(_) => row
            .try_get::<Vec<u8>, _>(index)
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}

/// A row read back from `failed_jobs`.
#[derive(Debug, Clone)]
pub struct FailedRow {
    /// Payload uuid.
    pub uuid: String,
    /// Connection name.
    pub connection: String,
    /// Queue name.
    pub queue: String,
    /// Raw payload.
    pub payload: String,
    /// Exception text.
    pub exception: String,
    /// `Y-m-d H:i:s`.
    pub failed_at: String,
}

fn row_to_failed(r: &AnyRow) -> Result<FailedRow, sqlx::Error> {
    Ok(FailedRow {
        uuid: text(r, 0)?,
        connection: text(r, 1)?,
        queue: text(r, 2)?,
        payload: text(r, 3)?,
        exception: text(r, 4)?,
        failed_at: text(r, 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_a_second_row_with_the_same_uuid_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = FailedJobStore::sqlite(&dir.path().join("f.sqlite"))
            .await
            .unwrap();
        store.ensure_table().await.unwrap();
        let mut job = FailedJob {
            uuid: "u-1",
            connection: "redis",
            queue: "default",
            payload: br#"{"attempts":0}"#,
            exception: "RuntimeException: a in x:1",
        };
        assert_eq!(store.log(&job).await.unwrap(), Recorded::Inserted);
        job.exception = "RuntimeException: b in x:2";
        assert_eq!(store.log(&job).await.unwrap(), Recorded::AlreadyThere);
        let rows = store.all().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].exception, "RuntimeException: a in x:1");
        assert_eq!(rows[0].payload, r#"{"attempts":0}"#);
        assert_eq!(rows[0].failed_at.len(), 19, "{}", rows[0].failed_at);
    }
}
