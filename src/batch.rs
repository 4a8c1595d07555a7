//! Job batches (`Bus::batch([...])`; Laravel's `Illuminate\Bus\DatabaseBatchRepository`): the `job_batches` bookkeeping a worker does.
//!
//! A batched job carries its batch's id in the `batchId` property (12.51+: also `data.batchId`).
//! When such a job finishes, Laravel's `CallQueuedHandler` updates its row in `job_batches`, in
//! the same database as `failed_jobs`, and larq does the same:
//!
//! * success (`recordSuccessfulJob`): `pending_jobs − 1`, the job's uuid removed from
//!   `failed_job_ids` (it may have failed before and been retried), and `finished_at = now` when
//!   no job is pending any more;
//! * failure for good (`recordFailedJob`): `failed_jobs + 1`, the uuid added to `failed_job_ids`
//!   (a JSON list), pending left as is; on the batch's first failure, unless the batch allows
//!   failures (its `options` column, PHP-serialized, base64 on PostgreSQL), `cancelled_at` and
//!   `finished_at` are set to now.
//!
//! Each count update runs in one transaction that updates the row first (taking its write lock on
//! every backend, SQLite included) and then reads it, so concurrent workers, PHP's or larq's,
//! never lose an update.
//!
//! What cannot run in Rust: the batch's `then`, `catch` and `finally` callbacks, which are PHP
//! closures stored in `options`. larq logs a warning when one would have run, and a failed job's
//! failed_jobs exception text says the catch callbacks were not run.
//!
//! Jobs of a cancelled batch are skipped: Laravel's `Batchable` jobs conventionally start with
//! `if ($this->batch()->cancelled()) { return; }`, so larq deletes such a job without running its
//! handler and records it as a success, as PHP's early return would.

use serde_json::Value as Json;
use sqlx::{AnyPool, Row};

use crate::config::DatabaseSettings;
use crate::db::{redact, Backend, Database, DbError, Target};
use crate::php::{Key, Value};

/// A `job_batches` error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Connecting failed, or the driver is not supported.
    #[error(transparent)]
    Connect(#[from] DbError),
    /// A query failed.
    #[error("job_batches ({backend}): {source}")]
    Database {
        /// `sqlite`, `mysql` or `pgsql`.
        backend: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
    /// `failed_job_ids` is not a JSON list.
    #[error("job_batches.failed_job_ids of batch {0} is not a JSON list")]
    FailedJobIds(String),
}

/// What the batch's `options` column says larq needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOptions {
    /// `->allowFailures()`.
    pub allow_failures: bool,
    /// How many `then` callbacks (PHP closures) the batch has.
    pub then: usize,
    /// How many `catch` callbacks.
    pub catch: usize,
    /// How many `finally` callbacks.
    pub finally: usize,
}

impl BatchOptions {
    /// Read the `options` column: `serialize($options)`, base64 of it on PostgreSQL.
    pub fn parse(column: &str) -> BatchOptions {
        let decoded;
        let bytes: &[u8] = if !column.contains(':') && !column.contains(';') {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(column.trim()) {
                Ok(d) => {
                    decoded = d;
                    &decoded
                }
                Err(_) => column.as_bytes(),
            }
        } else {
            column.as_bytes()
        };
        let Ok(Value::Array(items)) = Value::parse(bytes) else {
            return BatchOptions::default();
        };
        let get = |name: &str| {
            items
                .iter()
                .find(|(k, _)| matches!(k, Key::Str(s) if s.as_ref() == name.as_bytes()))
                .map(|(_, v)| v)
        };
        let count = |name: &str| match get(name) {
            Some(Value::Array(a)) => a.len(),
            _ => 0,
        };
        BatchOptions {
            allow_failures: matches!(get("allowFailures"), Some(Value::Bool(true)))
                || matches!(get("allowFailures"), Some(Value::Int(i)) if *i != 0),
            then: count("then"),
            catch: count("catch"),
            finally: count("finally"),
        }
    }
}

/// A `job_batches` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// The batch id.
    pub id: String,
    /// `->name()`.
    pub name: String,
    /// Jobs added.
    pub total_jobs: i64,
    /// Jobs not yet succeeded.
    pub pending_jobs: i64,
    /// Jobs failed for good.
    pub failed_jobs: i64,
    /// Uuids of the failed jobs.
    pub failed_job_ids: Vec<String>,
    /// The parsed `options`.
    pub options: BatchOptions,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, when cancelled.
    pub cancelled_at: Option<i64>,
    /// Unix seconds, when finished.
    pub finished_at: Option<i64>,
}

impl BatchRow {
    /// Every job ran once (succeeded or failed): when `finally` callbacks would run.
    pub fn all_ran_once(&self) -> bool {
        self.pending_jobs - self.failed_jobs == 0
    }
}

/// The app's `job_batches` table.
#[derive(Debug, Clone)]
pub struct BatchRepository {
    pool: AnyPool,
    backend: Backend,
    table: String,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl BatchRepository {
    /// Connect to the database `DB_*` describes.
    pub async fn connect(settings: &DatabaseSettings) -> Result<BatchRepository, BatchError> {
        BatchRepository::open(Target::from_settings(settings)?).await
    }

    /// Connect to a SQLite file.
    pub async fn sqlite(path: &std::path::Path) -> Result<BatchRepository, BatchError> {
        BatchRepository::open(Target::sqlite_file(path)).await
    }

    /// Connect to `target` with a pool of its own.
    pub async fn open(target: Target) -> Result<BatchRepository, BatchError> {
        let db = Database::open(target, 4, std::time::Duration::from_secs(10)).await?;
        Ok(BatchRepository::on(&db))
    }

    /// The table in an open database, sharing its pool (the app's one pool).
    pub fn on(db: &Database) -> BatchRepository {
        BatchRepository {
            pool: db.pool().clone(),
            backend: db.backend(),
            table: "job_batches".to_owned(),
        }
    }

    fn db_err(&self) -> impl FnOnce(sqlx::Error) -> BatchError {
        let backend = self.backend.name();
        move |source| BatchError::Database {
            backend,
            source: redact(source),
        }
    }

    fn ph(&self, i: usize) -> String {
        match self.backend {
            Backend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        }
    }

    fn select_sql(&self) -> String {
        format!(
            "SELECT id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at, cancelled_at, finished_at FROM {} WHERE id = {}",
            self.table,
            self.ph(1)
        )
    }

    fn row(&self, r: &sqlx::any::AnyRow) -> Result<BatchRow, BatchError> {
        let get_i = |i: usize| -> Result<i64, sqlx::Error> { r.try_get::<i64, _>(i) };
        let get_oi =
            |i: usize| -> Result<Option<i64>, sqlx::Error> { r.try_get::<Option<i64>, _>(i) };
        let id: String = r.try_get(0).map_err(self.db_err())?;
        let ids: String = r.try_get(5).map_err(self.db_err())?;
        let failed_job_ids = match serde_json::from_str::<Json>(&ids) {
            Ok(Json::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            // An empty PHP array after some re-encoding.
            Ok(Json::Object(m)) if m.is_empty() => Vec::new(),
            _ => return Err(BatchError::FailedJobIds(id)),
        };
        let options: Option<String> = r.try_get(6).map_err(self.db_err())?;
        Ok(BatchRow {
            name: r.try_get(1).map_err(self.db_err())?,
            total_jobs: get_i(2).map_err(self.db_err())?,
            pending_jobs: get_i(3).map_err(self.db_err())?,
            failed_jobs: get_i(4).map_err(self.db_err())?,
            failed_job_ids,
            options: options
                .as_deref()
                .map(BatchOptions::parse)
                .unwrap_or_default(),
            created_at: get_i(7).map_err(self.db_err())?,
            cancelled_at: get_oi(8).map_err(self.db_err())?,
            finished_at: get_oi(9).map_err(self.db_err())?,
            id,
        })
    }

    /// `Bus::findBatch($id)`.
    pub async fn find(&self, id: &str) -> Result<Option<BatchRow>, BatchError> {
        let row = sqlx::query(&self.select_sql())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.db_err())?;
        row.map(|r| self.row(&r)).transpose()
    }

    /// Every row, oldest first (tests, diagnostics).
    pub async fn all(&self) -> Result<Vec<BatchRow>, BatchError> {
        let sql = self.select_sql().replace(
            &format!(" WHERE id = {}", self.ph(1)),
            " ORDER BY created_at, id",
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(self.db_err())?;
        rows.iter().map(|r| self.row(r)).collect()
    }

    /// Update the counts in one transaction: `counts` (an SQL assignment list) first, so the row
    /// is write-locked before it is read; then the new `failed_job_ids`.
    async fn update_counts(
        &self,
        id: &str,
        counts: &str,
        job_uuid: &str,
        add: bool,
    ) -> Result<Option<BatchRow>, BatchError> {
        let mut tx = self.pool.begin().await.map_err(self.db_err())?;
        let update = format!(
            "UPDATE {} SET {counts} WHERE id = {}",
            self.table,
            self.ph(1)
        );
        let done = sqlx::query(&update)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(self.db_err())?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(self.db_err())?;
            return Ok(None);
        }
        let r = sqlx::query(&self.select_sql())
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.db_err())?;
        let mut row = self.row(&r)?;
        let before = row.failed_job_ids.clone();
        if add {
            if !row.failed_job_ids.iter().any(|u| u == job_uuid) {
                row.failed_job_ids.push(job_uuid.to_owned());
            }
        } else {
            row.failed_job_ids.retain(|u| u != job_uuid);
        }
        if row.failed_job_ids != before {
            // json_encode of a list of uuids: `["…","…"]`, the same text serde_json writes.
            let json = serde_json::to_string(&row.failed_job_ids).unwrap_or_else(|_| "[]".into());
            let sql = format!(
                "UPDATE {} SET failed_job_ids = {} WHERE id = {}",
                self.table,
                self.ph(1),
                self.ph(2)
            );
            sqlx::query(&sql)
                .bind(json)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.db_err())?;
        }
        tx.commit().await.map_err(self.db_err())?;
        Ok(Some(row))
    }

    async fn set_times(&self, id: &str, columns: &[&str]) -> Result<(), BatchError> {
        let now = now();
        let sets: Vec<String> = columns.iter().map(|c| format!("{c} = {now}")).collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE id = {}",
            self.table,
            sets.join(", "),
            self.ph(1)
        );
        sqlx::query(&sql)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.db_err())?;
        Ok(())
    }

    /// `Batch::recordSuccessfulJob($uuid)`; returns the row after the update (`None` if the batch
    /// no longer exists, when Laravel does nothing either).
    pub async fn record_success(
        &self,
        id: &str,
        job_uuid: &str,
    ) -> Result<Option<BatchRow>, BatchError> {
        let Some(mut row) = self
            .update_counts(id, "pending_jobs = pending_jobs - 1", job_uuid, false)
            .await?
        else {
            return Ok(None);
        };
        if row.pending_jobs == 0 {
            self.set_times(id, &["finished_at"]).await?;
            row.finished_at = Some(now());
            if row.options.then > 0 {
                tracing::warn!(batch = id, callbacks = row.options.then, "the batch finished; its `then` callbacks are PHP closures and were not run by larq");
            }
        }
        if row.all_ran_once() && row.options.finally > 0 {
            tracing::warn!(batch = id, callbacks = row.options.finally, "every job of the batch ran; its `finally` callbacks are PHP closures and were not run by larq");
        }
        Ok(Some(row))
    }

    /// `Batch::recordFailedJob($uuid, $e)`.
    pub async fn record_failure(
        &self,
        id: &str,
        job_uuid: &str,
    ) -> Result<Option<BatchRow>, BatchError> {
        let Some(mut row) = self
            .update_counts(id, "failed_jobs = failed_jobs + 1", job_uuid, true)
            .await?
        else {
            return Ok(None);
        };
        if row.failed_jobs == 1 && !row.options.allow_failures {
            self.set_times(id, &["cancelled_at", "finished_at"]).await?;
            row.cancelled_at = Some(now());
            row.finished_at = row.cancelled_at;
        }
        if row.all_ran_once() && row.options.finally > 0 {
            tracing::warn!(batch = id, callbacks = row.options.finally, "every job of the batch ran; its `finally` callbacks are PHP closures and were not run by larq");
        }
        Ok(Some(row))
    }

    /// Create the table with Laravel's schema if it does not exist (tests, fresh SQLite files).
    pub async fn ensure_table(&self) -> Result<(), BatchError> {
        let text = match self.backend {
            Backend::Postgres => "text",
            _ => "longtext",
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (id varchar(255) primary key not null, name varchar(255) not null, total_jobs integer not null, pending_jobs integer not null, failed_jobs integer not null, failed_job_ids {text} not null, options {text}, cancelled_at integer, created_at integer not null, finished_at integer)",
            self.table
        );
        sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(self.db_err())?;
        Ok(())
    }
}

/// The note appended to a failed batch job's exception text when the batch has PHP callbacks that
/// Laravel would have run on this failure.
pub fn failure_note(row: &BatchRow) -> Option<String> {
    let mut skipped = Vec::new();
    // The row is read before the failure is recorded: this failure will be the first if none yet.
    if row.failed_jobs == 0 && row.options.catch > 0 {
        skipped.push(format!("{} `catch`", row.options.catch));
    }
    if row.pending_jobs - (row.failed_jobs + 1) == 0 && row.options.finally > 0 {
        skipped.push(format!("{} `finally`", row.options.finally));
    }
    (!skipped.is_empty()).then(|| {
        format!(
            "larq: batch {} has {} callback(s) (PHP closures) that Laravel would run now; they were not run.",
            row.id,
            skipped.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_plain_and_base64() {
        let plain = r#"a:3:{s:4:"then";a:1:{i:0;N;}s:5:"catch";a:0:{}s:13:"allowFailures";b:1;}"#;
        let o = BatchOptions::parse(plain);
        assert_eq!(
            o,
            BatchOptions {
                allow_failures: true,
                then: 1,
                catch: 0,
                finally: 0
            }
        );
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(plain);
        assert_eq!(BatchOptions::parse(&b64), o);
        assert_eq!(BatchOptions::parse("a:0:{}"), BatchOptions::default());
    }

    async fn repo() -> (tempfile::TempDir, BatchRepository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = BatchRepository::sqlite(&dir.path().join("b.sqlite"))
            .await
            .unwrap();
        repo.ensure_table().await.unwrap();
        (dir, repo)
    }

    async fn insert(repo: &BatchRepository, id: &str, total: i64, options: &str) {
        sqlx::query("INSERT INTO job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at) VALUES (?, 'b', ?, ?, 0, '[]', ?, 1)")
            .bind(id)
            .bind(total)
            .bind(total)
            .bind(options)
            .execute(&repo.pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn success_then_finish() {
        let (_d, repo) = repo().await;
        insert(&repo, "b1", 2, "a:0:{}").await;
        let r = repo.record_success("b1", "u1").await.unwrap().unwrap();
        assert_eq!((r.pending_jobs, r.finished_at), (1, None));
        let r = repo.record_success("b1", "u2").await.unwrap().unwrap();
        assert_eq!(r.pending_jobs, 0);
        assert!(repo
            .find("b1")
            .await
            .unwrap()
            .unwrap()
            .finished_at
            .is_some());
        assert!(repo.record_success("nope", "u").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn first_failure_cancels_unless_allowed() {
        let (_d, repo) = repo().await;
        insert(&repo, "strict", 3, "a:1:{s:13:\"allowFailures\";b:0;}").await;
        insert(&repo, "lenient", 3, "a:1:{s:13:\"allowFailures\";b:1;}").await;
        let r = repo.record_failure("strict", "u1").await.unwrap().unwrap();
        assert_eq!((r.pending_jobs, r.failed_jobs), (3, 1));
        assert_eq!(r.failed_job_ids, ["u1"]);
        let row = repo.find("strict").await.unwrap().unwrap();
        assert!(row.cancelled_at.is_some() && row.finished_at.is_some());
        repo.record_failure("lenient", "u1").await.unwrap();
        repo.record_failure("lenient", "u1").await.unwrap();
        let row = repo.find("lenient").await.unwrap().unwrap();
        assert_eq!(row.cancelled_at, None);
        assert_eq!((row.failed_jobs, row.failed_job_ids.len()), (2, 1));
        // A retried job that then succeeds leaves failed_job_ids.
        repo.record_success("lenient", "u1").await.unwrap();
        assert!(repo
            .find("lenient")
            .await
            .unwrap()
            .unwrap()
            .failed_job_ids
            .is_empty());
    }
}
