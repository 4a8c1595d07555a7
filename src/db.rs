//! The app's SQL database: which server Laravel's `DB_*` settings (or `DB_URL`) name, and how larq
//! opens a connection pool on it.
//!
//! `failed_jobs`, `job_batches` and the database queue each keep a pool on that database; what to
//! connect to, how long a connection may take and what an error may print (never the password)
//! are decided here once, so the three cannot drift apart.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::config::{percent_encode, DatabaseSettings};

/// How long opening the first connection may take before start-up gives up with a message that
/// names the server (sqlx's own pool would retry silently until its acquire timeout and then
/// report only "pool timed out", hiding why).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The settings name a driver larq does not speak.
    #[error("unsupported database driver {0:?} (larq supports sqlite, mysql, mariadb, pgsql)")]
    Unsupported(String),
    /// The server refused or failed the connection (the message never includes the password).
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// `mysql at host:port`, `sqlite file /path`, ...
        server: String,
        /// The driver error.
        source: sqlx::Error,
    },
    /// The server accepted the connection but did not answer in time.
    #[error("cannot connect to {server}: no answer within {} s", .timeout.as_secs())]
    Timeout {
        /// `mysql at host:port`, ...
        server: String,
        /// How long larq waited.
        timeout: Duration,
    },
}

impl DbError {
    /// Whether the server could not be reached at all (worth retrying later), as opposed to
    /// settings that will never work.
    pub fn is_unreachable(&self) -> bool {
        match self {
            DbError::Connect { source, .. } => {
                matches!(source, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
            }
            DbError::Timeout { .. } => true,
            DbError::Unsupported(_) => false,
        }
    }
}

/// The SQL dialect of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// MySQL or MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// Laravel's driver name (`sqlite`, `mysql`, `pgsql`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
            Backend::Postgres => "pgsql",
        }
    }

    /// The backend of a Laravel driver or URL scheme name.
    fn from_name(name: &str) -> Option<Backend> {
        match name {
            "sqlite" => Some(Backend::Sqlite),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            "pgsql" | "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }
}

/// A database to connect to: its dialect, sqlx's URL for it and a printable name of the server.
///
/// The URL may hold a password, so it is never shown: `Debug` and every error print
/// [`Target::server`] instead.
#[derive(Clone)]
pub struct Target {
    backend: Backend,
    url: String,
    server: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("backend", &self.backend)
            .field("server", &self.server)
            .finish()
    }
}

impl Target {
    /// The database Laravel's settings name. A `DB_URL` wins over the other `DB_*` values and its
    /// scheme decides the driver, as Laravel's URL parser does (`DB_CONNECTION=sqlite` beside
    /// `DB_URL=mysql://...` is a MySQL connection).
    pub fn from_settings(s: &DatabaseSettings) -> Result<Target, DbError> {
        if let Some(url) = &s.url {
            return Target::from_url(url.expose());
        }
        let backend = Backend::from_name(&s.connection)
            .ok_or_else(|| DbError::Unsupported(s.connection.clone()))?;
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
        Ok(Target::new(backend, url))
    }

    /// A database by URL: `sqlite://path?mode=rwc`, `mysql://` / `mariadb://`, `postgres://` /
    /// `pgsql://` (Laravel's scheme names are turned into sqlx's).
    pub fn from_url(url: &str) -> Result<Target, DbError> {
        let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
        let backend =
            Backend::from_name(scheme).ok_or_else(|| DbError::Unsupported(scheme.to_owned()))?;
        let url = match backend {
            Backend::Sqlite => format!("sqlite:{rest}"),
            Backend::Mysql => format!("mysql:{rest}"),
            Backend::Postgres => format!("postgres:{rest}"),
        };
        Ok(Target::new(backend, url))
    }

    /// A SQLite file, created when missing (tests, demos, small deployments).
    pub fn sqlite_file(path: &std::path::Path) -> Target {
        Target::new(
            Backend::Sqlite,
            format!("sqlite://{}?mode=rwc", path.display()),
        )
    }

    fn new(backend: Backend, url: String) -> Target {
        let server = describe(backend, &url);
        Target {
            backend,
            url,
            server,
        }
    }

    /// The SQL dialect.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What to call the server in messages: `mysql at 127.0.0.1:3306`, `sqlite file /app/db.sqlite`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A pool of at most `max_connections`. One connection is opened first, on its own and within
    /// [`CONNECT_TIMEOUT`], so a server that is down or silent fails here with its real cause
    /// instead of sqlx's "pool timed out" after the whole acquire timeout.
    pub async fn open_pool(
        &self,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<AnyPool, DbError> {
        sqlx::any::install_default_drivers();
        let connect_err = |source| DbError::Connect {
            server: self.server.clone(),
            source: redact(source),
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(&self.url)).await {
            Err(_) => {
                return Err(DbError::Timeout {
                    server: self.server.clone(),
                    timeout: CONNECT_TIMEOUT,
                })
            }
            Ok(Err(e)) => return Err(connect_err(e)),
            Ok(Ok(probe)) => {
                let _ = probe.close().await;
            }
        }
        AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect(&self.url)
            .await
            .map_err(connect_err)
    }
}

/// An open database: where it is and a pool of connections to it. Cheap to clone; clones share
/// the pool, so `failed_jobs`, `job_batches` and the `jobs` table of one app use one pool (one
/// set of connections, one place for the limits) instead of one each.
#[derive(Debug, Clone)]
pub struct Database {
    target: std::sync::Arc<Target>,
    pool: AnyPool,
}

impl Database {
    /// Open `target` with at most `max_connections`, each query waiting at most
    /// `acquire_timeout` for a free one.
    pub async fn open(
        target: Target,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Database, DbError> {
        let pool = target.open_pool(max_connections, acquire_timeout).await?;
        Ok(Database {
            target: std::sync::Arc::new(target),
            pool,
        })
    }

    /// Where it is.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The SQL dialect.
    pub fn backend(&self) -> Backend {
        self.target.backend
    }

    /// The pool (a cheap handle).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// `backend at host:port` (the user and password left out) or `sqlite file path`.
fn describe(backend: Backend, url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    if backend == Backend::Sqlite {
        return format!("sqlite file {rest}");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let default_port = if backend == Backend::Mysql {
        3306
    } else {
        5432
    };
    if host.contains(':') && !host.ends_with(']') {
        format!("{} at {host}", backend.name())
    } else {
        format!("{} at {host}:{default_port}", backend.name())
    }
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
        let t = Target::from_settings(&settings("mysql")).unwrap();
        assert_eq!(t.url, "mysql://u:p%3Aw@db:3306/app");
        assert_eq!(t.server(), "mysql at db:3306");
        let t = Target::from_settings(&settings("pgsql")).unwrap();
        assert_eq!(t.url, "postgres://u:p%3Aw@db:5432/app");
        assert!(!format!("{t:?}").contains("p%3Aw"), "{t:?}");
        assert!(matches!(
            Target::from_settings(&settings("sqlsrv")),
            Err(DbError::Unsupported(_))
        ));
    }

    #[test]
    fn a_url_scheme_decides_the_backend_over_db_connection() {
        let mut s = settings("sqlite");
        s.url = Some(Secret::new(
            "mariadb://root:secret@10.0.0.5:3307/app?charset=utf8",
        ));
        let t = Target::from_settings(&s).unwrap();
        assert_eq!(t.backend(), Backend::Mysql);
        assert_eq!(t.url, "mysql://root:secret@10.0.0.5:3307/app?charset=utf8");
        assert_eq!(t.server(), "mysql at 10.0.0.5:3307");
        let t = Target::from_url("pgsql://u@h/db").unwrap();
        assert_eq!(
            (t.backend(), t.url.as_str()),
            (Backend::Postgres, "postgres://u@h/db")
        );
        assert_eq!(t.server(), "pgsql at h:5432");
        let t = Target::from_url("sqlite:///tmp/x.sqlite?mode=rwc").unwrap();
        assert_eq!(t.server(), "sqlite file /tmp/x.sqlite");
        assert!(Target::from_url("sqlsrv://h").is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_server_and_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let t = Target::from_url(&format!("mysql://root:pw@127.0.0.1:{port}/test")).unwrap();
        let started = std::time::Instant::now();
        let e = t.open_pool(1, Duration::from_secs(30)).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("mysql at 127.0.0.1:{port}")),
            "{text}"
        );
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("pw"), "{text}");
        assert!(e.is_unreachable());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
