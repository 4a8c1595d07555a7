//! Laravel's `failed_jobs` table (the `database-uuids` provider, wire spec §5).
//!
//! Rows written here are the ones `php artisan queue:failed` lists and `queue:retry` re-queues:
//! `uuid` (the payload's), `connection`, `queue`, `payload` (the raw body as popped), `exception`
//! (`Class: message in file:line` + a stack trace line) and `failed_at` (`Y-m-d H:i:s`, UTC).
//!
//! larq's guarantee is stricter than Laravel's: the worker writes the row **before** it removes the
//! job from Redis, so a crash in between leaves the job reserved (it comes back and fails again)
//! instead of losing it. That crash can make the same uuid fail twice; the second write updates
//! the existing row instead of tripping the unique index.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::config::{percent_encode, DatabaseSettings};

/// A failed-jobs database error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailedError {
    /// `DB_CONNECTION` names a driver larq does not speak.
    #[error("unsupported DB_CONNECTION {0:?} (larq supports sqlite, mysql, mariadb, pgsql)")]
    Unsupported(String),
    /// Connecting or querying failed (the message never includes the password).
    #[error("failed_jobs ({backend}): {source}")]
    Database {
        /// `sqlite`, `mysql` or `pgsql`.
        backend: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
}

/// The SQL dialect of a connection (the queue's `jobs` table shares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Mysql,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
            Backend::Postgres => "pgsql",
        }
    }
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

/// The app's `failed_jobs` table.
#[derive(Debug, Clone)]
pub struct FailedJobStore {
    pool: AnyPool,
    backend: Backend,
    table: String,
}

impl FailedJobStore {
    /// Connect to the database `DB_*` describes.
    pub async fn connect(settings: &DatabaseSettings) -> Result<FailedJobStore, FailedError> {
        let (backend, url) = database_url(settings)?;
        FailedJobStore::connect_url(backend, &url).await
    }

    /// Connect to a SQLite file (tests, small deployments).
    pub async fn sqlite(path: &std::path::Path) -> Result<FailedJobStore, FailedError> {
        FailedJobStore::connect_url(Backend::Sqlite, &sqlite_url(path)).await
    }

    async fn connect_url(backend: Backend, url: &str) -> Result<FailedJobStore, FailedError> {
        let pool = open_pool(url, 4, 10)
            .await
            .map_err(|source| FailedError::Database {
                backend: backend.name(),
                source: redact(source),
            })?;
        Ok(FailedJobStore {
            pool,
            backend,
            table: "failed_jobs".to_owned(),
        })
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
        for stmt in sql.split("; ") {
            sqlx::query(stmt)
                .execute(&self.pool)
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

    /// Record a failed job. If a row with its uuid exists (the same job failed before and larq
    /// crashed before removing it from Redis), that row is updated instead.
    pub async fn log(&self, job: &FailedJob<'_>) -> Result<(), FailedError> {
        let failed_at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        let payload = String::from_utf8_lossy(job.payload);
        let p = self.placeholders(6);
        let ts = |ph: &str| match self.backend {
            Backend::Postgres => format!("CAST({ph} AS TIMESTAMP)"),
            _ => ph.to_owned(),
        };
        let insert = format!(
            "INSERT INTO {} (uuid, connection, queue, payload, exception, failed_at) VALUES ({}, {}, {}, {}, {}, {})",
            self.table, p[0], p[1], p[2], p[3], p[4], ts(&p[5])
        );
        let inserted = sqlx::query(&insert)
            .bind(job.uuid)
            .bind(job.connection)
            .bind(job.queue)
            .bind(payload.as_ref())
            .bind(job.exception)
            .bind(&failed_at)
            .execute(&self.pool)
            .await;
        let Err(insert_err) = inserted else {
            return Ok(());
        };
        if !self.exists(job.uuid).await? {
            return Err(self.db_err()(insert_err));
        }
        let update = format!(
            "UPDATE {} SET connection = {}, queue = {}, payload = {}, exception = {}, failed_at = {} WHERE uuid = {}",
            self.table, p[0], p[1], p[2], p[3], ts(&p[4]), p[5]
        );
        sqlx::query(&update)
            .bind(job.connection)
            .bind(job.queue)
            .bind(payload.as_ref())
            .bind(job.exception)
            .bind(&failed_at)
            .bind(job.uuid)
            .execute(&self.pool)
            .await
            .map_err(self.db_err())?;
        Ok(())
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
            .fetch_one(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(self.db_err())?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete every row (`queue:flush`); returns how many there were.
    pub async fn flush(&self) -> Result<u64, FailedError> {
        let done = sqlx::query(&format!("DELETE FROM {}", self.table))
            .execute(&self.pool)
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

/// One sqlx pool for the app's database, shared by `failed_jobs`, `job_batches` and the database
/// queue so the connection rules (drivers, limits, timeouts) live in one place.
pub(crate) async fn open_pool(
    url: &str,
    max_connections: u32,
    acquire_timeout_secs: u64,
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(std::time::Duration::from_secs(acquire_timeout_secs))
        .connect(url)
        .await
}

/// The sqlx URL of a SQLite file, created when missing.
pub(crate) fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

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

/// sqlx's configuration errors can quote the connection URL; keep only a generic message then.
pub(crate) fn redact(e: sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Configuration(_) => {
            sqlx::Error::Configuration("invalid database connection settings".into())
        }
        other => other,
    }
}

pub(crate) fn database_url(s: &DatabaseSettings) -> Result<(Backend, String), FailedError> {
    let backend = match s.connection.as_str() {
        "sqlite" => Backend::Sqlite,
        "mysql" | "mariadb" => Backend::Mysql,
        "pgsql" | "postgres" | "postgresql" => Backend::Postgres,
        other => return Err(FailedError::Unsupported(other.to_owned())),
    };
    if let Some(url) = &s.url {
        let url = url.expose();
        // Laravel's URLs use `pgsql://`/`mariadb://`; sqlx wants its own scheme names.
        let url = if let Some(rest) = url.strip_prefix("pgsql://") {
            format!("postgres://{rest}")
        } else if let Some(rest) = url.strip_prefix("mariadb://") {
            format!("mysql://{rest}")
        } else {
            url.to_owned()
        };
        return Ok((backend, url));
    }
    let auth = if s.password.expose().is_empty() {
        percent_encode(&s.username)
    } else {
        format!(
            "{}:{}",
            percent_encode(&s.username),
            percent_encode(s.password.expose())
        )
    };
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rw", s.database),
        Backend::Mysql => format!(
            "mysql://{auth}@{}:{}/{}",
            s.host,
            s.port.unwrap_or(3306),
            s.database
        ),
        Backend::Postgres => format!(
            "postgres://{auth}@{}:{}/{}",
            s.host,
            s.port.unwrap_or(5432),
            s.database
        ),
    };
    Ok((backend, url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(conn: &str) -> DatabaseSettings {
        DatabaseSettings {
            connection: conn.to_owned(),
            url: None,
            host: "db".to_owned(),
            port: None,
            database: "app".to_owned(),
            username: "u".to_owned(),
            password: Secret::new("p:w"),
        }
    }

    #[test]
    fn urls_from_db_settings() {
        assert_eq!(
            database_url(&settings("mysql")).unwrap().1,
            "mysql://u:p%3Aw@db:3306/app"
        );
        assert_eq!(
            database_url(&settings("pgsql")).unwrap().1,
            "postgres://u:p%3Aw@db:5432/app"
        );
        assert!(database_url(&settings("sqlsrv")).is_err());
    }

    #[tokio::test]
    async fn sqlite_insert_then_duplicate_uuid_updates() {
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
        store.log(&job).await.unwrap();
        job.exception = "RuntimeException: b in x:2";
        store.log(&job).await.unwrap();
        let rows = store.all().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].exception, "RuntimeException: b in x:2");
        assert_eq!(rows[0].payload, r#"{"attempts":0}"#);
        assert_eq!(rows[0].failed_at.len(), 19, "{}", rows[0].failed_at);
    }
}
