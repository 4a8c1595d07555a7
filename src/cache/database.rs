//! Laravel's `database` cache store (`Illuminate\Cache\DatabaseStore` and `DatabaseLock`), the
//! default store of a Laravel 11+ app.
//!
//! The store keeps one row per entry in the app's database, in the tables `php artisan
//! cache:table` creates (`DB_CACHE_TABLE`, default `cache`; locks in `DB_CACHE_LOCK_TABLE`,
//! default `cache_locks`):
//!
//! * `key`: the cache prefix followed by the name, with no separator in any version
//!   (`laravel-cache-illuminate:queue:restart` in 13);
//! * `value`: the PHP-serialized value (`i:1764000000;`, `b:1;`); one holding a NUL byte is
//!   base64-encoded on PostgreSQL (and on SQLite from 13), and a value with neither `:` nor `;`
//!   is read as base64, as `DatabaseStore::unserialize` does;
//! * `expiration`: unix seconds; an entry whose expiration is not after the current time is
//!   missing. `forever` is a `put` for [`DATABASE_FOREVER_SECONDS`] (ten years), not a sentinel.
//!
//! `increment` on a missing entry does nothing and returns `false` in 8, 10 and 13, which is why
//! `markJobAsFailedIfWillExceedMaxExceptions` first puts `0` for a day; larq's counters do the
//! same in one transaction, with the row locked as `lockForUpdate` locks it.

use super::php_int;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{redact, Backend, Database};
use crate::laravel::{Laravel, DATABASE_FOREVER_SECONDS};
use crate::queue::database::{bytes_column, dialect, valid_identifier};

/// The name prefix of the marker `Cache::flexible` keeps beside an entry (Laravel 11+); a
/// `forget` removes it too, as 13's `DatabaseStore::forgetMany` does.
const FLEXIBLE_CREATED: &str = "illuminate:cache:flexible:created:";

/// A `database` cache store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseCacheError {
    /// A table name larq would not put into SQL.
    #[error("invalid cache table name {0:?} (letters, digits and _ only)")]
    Table(String),
    /// A query failed (the message never includes the connection's password).
    #[error("database cache {op} on {backend}: {source}")]
    Query {
        /// What larq was doing (`get`, `put`, ...).
        op: &'static str,
        /// `sqlite`, `mysql`, `pgsql`.
        backend: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
    /// A counter entry holds something that is not a number (PHP's `increment` gives up then).
    #[error("the cache entry {key:?} is not a number")]
    NotNumeric {
        /// The entry's physical key.
        key: String,
    },
}

impl DatabaseCacheError {
    /// Whether the database could not be reached (an outage, worth retrying).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            DatabaseCacheError::Query {
                source: sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
                ..
            }
        )
    }
}

/// The SQL of one store, built once for its backend and tables.
#[derive(Debug)]
struct Statements {
    backend: Backend,
    table: String,
    lock_table: String,
    select: String,
    select_for_update: String,
    delete_expired: String,
    upsert: String,
    update_value: String,
    forget: String,
    release_lock: String,
    release_owned_lock: String,
    insert_if_missing: String,
    replace_expired: String,
    insert_lock: String,
    take_lock: String,
}

impl Statements {
    fn new(backend: Backend, table: &str, lock_table: &str) -> Statements {
        // `key` is a reserved word on MySQL; Laravel's grammar quotes every identifier.
        let q = |ident: &str| match backend {
            Backend::Mysql => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        };
        let (t, l, k) = (q(table), q(lock_table), q("key"));
        // Any's PostgreSQL and MySQL sides decode only 64-bit integers reliably.
        let expiration = match backend {
            Backend::Mysql => "CAST(expiration AS SIGNED)",
            Backend::Postgres => "CAST(expiration AS BIGINT)",
            Backend::Sqlite => "expiration",
        };
        let for_update = if backend == Backend::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let upsert_tail = match backend {
            Backend::Mysql => {
                " ON DUPLICATE KEY UPDATE value = VALUES(value), expiration = VALUES(expiration)"
                    .to_owned()
            }
            _ => format!(
                " ON CONFLICT ({k}) DO UPDATE SET value = excluded.value, expiration = excluded.expiration"
            ),
        };
        let s = |sql: String| dialect(backend, &sql);
        Statements {
            backend,
            table: table.to_owned(),
            lock_table: lock_table.to_owned(),
            select: s(format!("SELECT value, {expiration} FROM {t} WHERE {k} = ?")),
            select_for_update: s(format!(
                "SELECT value, {expiration} FROM {t} WHERE {k} = ?{for_update}"
            )),
            delete_expired: s(format!("DELETE FROM {t} WHERE {k} = ? AND expiration <= ?")),
            upsert: s(format!(
                "INSERT INTO {t} ({k}, value, expiration) VALUES (?, ?, ?){upsert_tail}"
            )),
            update_value: s(format!("UPDATE {t} SET value = ? WHERE {k} = ?")),
            forget: s(format!("DELETE FROM {t} WHERE {k} IN (?, ?)")),
            release_lock: s(format!("DELETE FROM {l} WHERE {k} = ?")),
            release_owned_lock: s(format!("DELETE FROM {l} WHERE {k} = ? AND owner = ?")),
            insert_if_missing: s(insert_or_ignore(backend, &t, &k, "value")),
            replace_expired: s(format!(
                "UPDATE {t} SET value = ?, expiration = ? WHERE {k} = ? AND expiration <= ?"
            )),
            insert_lock: s(insert_or_ignore(backend, &l, &k, "owner")),
            take_lock: s(format!(
                "UPDATE {l} SET owner = ?, expiration = ? WHERE {k} = ? AND (owner = ? OR expiration <= ?)"
            )),
        }
    }

    /// `cache:table`'s two tables as each grammar writes them, made idempotent: `expiration` an
    /// integer up to 12, an indexed bigint from 13.
    fn create(&self, laravel: Laravel) -> Vec<String> {
        let big = laravel.cache_expiration_is_bigint();
        let mut out = Vec::new();
        for (table, second) in [(&self.table, "value"), (&self.lock_table, "owner")] {
            let index = format!("{table}_expiration_index");
            match self.backend {
                Backend::Mysql => {
                    let (second_type, expiration) = (
                        if second == "value" {
                            "mediumtext"
                        } else {
                            "varchar(255)"
                        },
                        if big { "bigint" } else { "int" },
                    );
                    let index = if big {
                        format!(", INDEX `{index}` (`expiration`)")
                    } else {
                        String::new()
                    };
                    out.push(format!("CREATE TABLE IF NOT EXISTS `{table}` (`key` varchar(255) not null, `{second}` {second_type} not null, `expiration` {expiration} not null, primary key (`key`){index}) default character set utf8mb4 collate 'utf8mb4_unicode_ci'"));
                }
                backend => {
                    let (key_type, second_type) = match (backend, second) {
                        (Backend::Postgres, "value") => ("varchar(255)", "text"),
                        (Backend::Postgres, _) => ("varchar(255)", "varchar(255)"),
                        (_, "value") => ("varchar", "text"),
                        _ => ("varchar", "varchar"),
                    };
                    let expiration = if big && backend == Backend::Postgres {
                        "bigint"
                    } else {
                        "integer"
                    };
                    out.push(format!("CREATE TABLE IF NOT EXISTS \"{table}\" (\"key\" {key_type} not null, \"{second}\" {second_type} not null, \"expiration\" {expiration} not null, primary key (\"key\"))"));
                    if big {
                        out.push(format!("CREATE INDEX IF NOT EXISTS \"{index}\" on \"{table}\" (\"expiration\")"));
                    }
                }
            }
        }
        out
    }
}

/// An insert that does nothing when the key is taken (Laravel's `insertOrIgnore`; 8's `insert`
/// caught on a duplicate key leaves the same rows).
fn insert_or_ignore(backend: Backend, table: &str, key: &str, second: &str) -> String {
    let columns = format!("{table} ({key}, {second}, expiration) VALUES (?, ?, ?)");
    match backend {
        Backend::Mysql => format!("INSERT IGNORE INTO {columns}"),
        Backend::Sqlite => format!("INSERT OR IGNORE INTO {columns}"),
        Backend::Postgres => format!("INSERT INTO {columns} ON CONFLICT ({key}) DO NOTHING"),
    }
}

/// The app's `database` cache store, on the app's shared database pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DatabaseCache {
    db: Database,
    prefix: String,
    base64_nul: bool,
    sql: std::sync::Arc<Statements>,
}

/// Where a [`DatabaseCache`] keeps its rows.
#[derive(Debug, Clone)]
pub struct DatabaseCacheOptions {
    /// `cache.prefix` (`CACHE_PREFIX`), put before every name with no separator.
    pub prefix: String,
    /// The entries' table (`DB_CACHE_TABLE`, default `cache`).
    pub table: String,
    /// The locks' table (`DB_CACHE_LOCK_TABLE`, default `cache_locks`).
    pub lock_table: String,
    /// Whose serialization rules apply (base64 of values with a NUL byte).
    pub laravel: Laravel,
}

impl DatabaseCache {
    /// The store in the tables `options` names of the open database `db`.
    pub fn new(db: &Database, options: DatabaseCacheOptions) -> Result<Self, DatabaseCacheError> {
        for table in [&options.table, &options.lock_table] {
            if !valid_identifier(table) {
                return Err(DatabaseCacheError::Table(table.clone()));
            }
        }
        let backend = db.backend();
        Ok(DatabaseCache {
            db: db.clone(),
            base64_nul: options.laravel.database_cache_base64(backend.name()),
            sql: std::sync::Arc::new(Statements::new(
                backend,
                &options.table,
                &options.lock_table,
            )),
            prefix: options.prefix,
        })
    }

    /// Create the `cache` and `cache_locks` tables (their configured names) as `php artisan
    /// cache:table` and `migrate` would for `laravel`, unless they exist (`larq migrate`).
    pub async fn create_tables(&self, laravel: Laravel) -> Result<(), DatabaseCacheError> {
        for stmt in self.sql.create(laravel) {
            sqlx::query(&stmt)
                .execute(self.db.pool())
                .await
                .map_err(self.err("create table"))?;
        }
        Ok(())
    }

    /// The `key` column of an entry (or of a lock, in the locks' table).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn err(&self, op: &'static str) -> impl FnOnce(sqlx::Error) -> DatabaseCacheError {
        let backend = self.db.backend().name();
        move |source| DatabaseCacheError::Query {
            op,
            backend,
            source: redact(source),
        }
    }

    /// The serialized value of an entry, `None` when it is missing or has expired at `now` (an
    /// expired row is deleted, as `DatabaseStore::get` does).
    pub async fn get(&self, name: &str, now: u64) -> Result<Option<Vec<u8>>, DatabaseCacheError> {
        let key = self.key(name);
        let row = sqlx::query(&self.sql.select)
            .bind(&key)
            .fetch_optional(self.db.pool())
            .await
            .map_err(self.err("get"))?;
        let Some((value, expiration)) = row
            .as_ref()
            .map(entry)
            .transpose()
            .map_err(self.err("get"))?
        else {
            return Ok(None);
        };
        if expiration <= now as i64 {
            sqlx::query(&self.sql.delete_expired)
                .bind(&key)
                .bind(now as i64)
                .execute(self.db.pool())
                .await
                .map_err(self.err("forget"))?;
            return Ok(None);
        }
        Ok(Some(decode_value(value)))
    }

    /// Store an already serialized value for `ttl` seconds (`None`: `forever`, ten years), an
    /// upsert of the row as `DatabaseStore::put` does from 10 (8 inserts, then updates on a
    /// duplicate key: the same row either way).
    pub async fn put_serialized(
        &self,
        name: &str,
        serialized: &[u8],
        ttl: Option<u64>,
        now: u64,
    ) -> Result<(), DatabaseCacheError> {
        let expiration = expiration_at(now, ttl);
        let value = self.encode_value(serialized);
        bind_value(sqlx::query(&self.sql.upsert).bind(self.key(name)), value)
            .bind(expiration)
            .execute(self.db.pool())
            .await
            .map_err(self.err("put"))?;
        Ok(())
    }

    /// Delete an entry (and its `Cache::flexible` marker); a missing one is no error.
    pub async fn forget(&self, name: &str) -> Result<(), DatabaseCacheError> {
        sqlx::query(&self.sql.forget)
            .bind(self.key(name))
            .bind(self.key(&format!("{FLEXIBLE_CREATED}{name}")))
            .execute(self.db.pool())
            .await
            .map_err(self.err("forget"))?;
        Ok(())
    }

    /// `DatabaseLock::forceRelease`: delete the lock's row, whoever owns it.
    pub async fn force_release(&self, name: &str) -> Result<(), DatabaseCacheError> {
        sqlx::query(&self.sql.release_lock)
            .bind(self.key(name))
            .execute(self.db.pool())
            .await
            .map_err(self.err("release lock"))?;
        Ok(())
    }

    /// `DatabaseLock::release`: delete the lock's row only while `owner` holds it.
    pub async fn release_lock(&self, name: &str, owner: &str) -> Result<(), DatabaseCacheError> {
        sqlx::query(&self.sql.release_owned_lock)
            .bind(self.key(name))
            .bind(owner)
            .execute(self.db.pool())
            .await
            .map_err(self.err("release lock"))?;
        Ok(())
    }

    /// `DatabaseStore::add`: store the serialized value for `ttl` seconds unless a live entry
    /// has the name (an expired one is replaced, as 8's update and 13's `get` before
    /// `insertOrIgnore` both do); whether it was stored.
    pub async fn add_serialized(
        &self,
        name: &str,
        serialized: &[u8],
        ttl: u64,
        now: u64,
    ) -> Result<bool, DatabaseCacheError> {
        let key = self.key(name);
        let expiration = expiration_at(now, Some(ttl));
        let inserted = bind_value(
            sqlx::query(&self.sql.insert_if_missing).bind(&key),
            self.encode_value(serialized),
        )
        .bind(expiration)
        .execute(self.db.pool())
        .await
        .map_err(self.err("add"))?
        .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        let replaced = bind_value(
            sqlx::query(&self.sql.replace_expired),
            self.encode_value(serialized),
        )
        .bind(expiration)
        .bind(&key)
        .bind(now as i64)
        .execute(self.db.pool())
        .await
        .map_err(self.err("add"))?
        .rows_affected();
        Ok(replaced > 0)
    }

    /// Open a transaction that holds `key`'s row (`lockForUpdate`; `BEGIN IMMEDIATE` on SQLite)
    /// and read its value (decoded) and expiration.
    async fn read_locked(
        &self,
        key: &str,
    ) -> Result<
        (
            sqlx::Transaction<'static, sqlx::Any>,
            Option<(Vec<u8>, i64)>,
        ),
        DatabaseCacheError,
    > {
        let err = |op| self.err(op);
        let mut tx = match self.db.backend() {
            Backend::Sqlite => self.db.pool().begin_with("BEGIN IMMEDIATE").await,
            _ => self.db.pool().begin().await,
        }
        .map_err(err("increment"))?;
        let row = sqlx::query(&self.sql.select_for_update)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("increment"))?;
        let current = row
            .as_ref()
            .map(entry)
            .transpose()
            .map_err(err("increment"))?
            .map(|(value, expiration)| (decode_value(value), expiration));
        Ok((tx, current))
    }

    /// `DatabaseStore::increment`: add `by` to an existing numeric entry, keeping its
    /// expiration, in one transaction with the row locked; `None` when there is no entry or it
    /// is not a number (PHP's `false`).
    pub async fn increment_existing(
        &self,
        name: &str,
        by: i64,
    ) -> Result<Option<i64>, DatabaseCacheError> {
        let key = self.key(name);
        let err = |op| self.err(op);
        let (mut tx, current) = self.read_locked(&key).await?;
        let current = current.and_then(|(value, _)| php_int(&value));
        let Some(current) = current else {
            return Ok(None);
        };
        let n = current.saturating_add(by);
        bind_value(
            sqlx::query(&self.sql.update_value),
            self.encode_value(format!("i:{n};").as_bytes()),
        )
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(err("increment"))?;
        tx.commit().await.map_err(err("increment"))?;
        Ok(Some(n))
    }

    /// `DatabaseLock::acquire`: insert the lock's row, or take it over when this owner already
    /// holds it or it has expired; whether `owner` holds it now. `seconds` 0 means Laravel's
    /// default lock timeout of a day.
    pub async fn acquire_lock(
        &self,
        name: &str,
        owner: &str,
        seconds: u64,
        now: u64,
    ) -> Result<bool, DatabaseCacheError> {
        let key = self.key(name);
        let lifetime = if seconds > 0 { seconds } else { 86_400 };
        let expiration = expiration_at(now, Some(lifetime));
        let inserted = sqlx::query(&self.sql.insert_lock)
            .bind(&key)
            .bind(owner)
            .bind(expiration)
            .execute(self.db.pool())
            .await
            .map_err(self.err("acquire lock"))?
            .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        let taken = sqlx::query(&self.sql.take_lock)
            .bind(owner)
            .bind(expiration)
            .bind(&key)
            .bind(owner)
            .bind(now as i64)
            .execute(self.db.pool())
            .await
            .map_err(self.err("acquire lock"))?
            .rows_affected();
        Ok(taken > 0)
    }

    /// Count one more of `name` in one transaction, the row locked while it is read and written
    /// (`lockForUpdate`; `BEGIN IMMEDIATE` on SQLite). A missing or expired entry, or with
    /// `reset_falsy` a falsy one (`0`, as `markJobAsFailedIfWillExceedMaxExceptions` tests it),
    /// starts at 1 and lives `ttl` seconds; otherwise the number goes up and the row keeps its
    /// expiration, as `DatabaseStore::increment` leaves it.
    pub async fn increment(
        &self,
        name: &str,
        ttl: u64,
        reset_falsy: bool,
        now: u64,
    ) -> Result<i64, DatabaseCacheError> {
        let key = self.key(name);
        let err = |op| self.err(op);
        let (mut tx, current) = self.read_locked(&key).await?;
        let current = current
            .filter(|(_, expiration)| *expiration > now as i64)
            .map(|(value, _)| value)
            .filter(|value| !reset_falsy || super::php_truthy(value));
        let count = match current {
            None => {
                let value = self.encode_value(b"i:1;");
                bind_value(sqlx::query(&self.sql.upsert).bind(&key), value)
                    .bind(expiration_at(now, Some(ttl)))
                    .execute(&mut *tx)
                    .await
                    .map_err(err("increment"))?;
                1
            }
            Some(value) => {
                let n = php_int(&value)
                    .ok_or_else(|| DatabaseCacheError::NotNumeric { key: key.clone() })?;
                let n = n.saturating_add(1);
                let value = self.encode_value(format!("i:{n};").as_bytes());
                bind_value(sqlx::query(&self.sql.update_value), value)
                    .bind(&key)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("increment"))?;
                n
            }
        };
        tx.commit().await.map_err(err("increment"))?;
        Ok(count)
    }

    /// A serialized value as the column holds it: base64 when it has a NUL byte and this
    /// version does that on this backend.
    fn encode_value(&self, serialized: &[u8]) -> Column {
        use base64::Engine;
        if self.base64_nul && serialized.contains(&0) {
            return Column::Text(base64::engine::general_purpose::STANDARD.encode(serialized));
        }
        match std::str::from_utf8(serialized) {
            Ok(text) => Column::Text(text.to_owned()),
            Err(_) => Column::Bytes(serialized.to_vec()),
        }
    }
}

/// A value to bind: text when it is UTF-8 (every server's `value` column is text), raw bytes
/// otherwise (SQLite and MySQL keep them; PostgreSQL refuses them, as it refuses PHP's).
enum Column {
    Text(String),
    Bytes(Vec<u8>),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_value(query: AnyQuery<'_>, value: Column) -> AnyQuery<'_> {
    match value {
        Column::Text(text) => query.bind(text),
        Column::Bytes(bytes) => query.bind(bytes),
    }
}

/// A row's value and expiration.
fn entry(row: &AnyRow) -> Result<(Vec<u8>, i64), sqlx::Error> {
    Ok((bytes_column(row, 0)?, row.try_get::<i64, _>(1)?))
}

/// The expiration of an entry written at `now` for `ttl` seconds (`None`: `forever`).
fn expiration_at(now: u64, ttl: Option<u64>) -> i64 {
    let seconds = ttl.unwrap_or(DATABASE_FOREVER_SECONDS);
    i64::try_from(now.saturating_add(seconds)).unwrap_or(i64::MAX)
}

/// The column's text as a serialized value: base64-decoded when it has neither `:` nor `;`
/// (every serialized value has one), as `DatabaseStore::unserialize` decides.
fn decode_value(value: Vec<u8>) -> Vec<u8> {
    use base64::Engine;
    if value.contains(&b':') || value.contains(&b';') {
        return value;
    }
    base64::engine::general_purpose::STANDARD
        .decode(&value)
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Target;

    async fn store(laravel: u8) -> (tempfile::TempDir, DatabaseCache) {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::sqlite_file(&dir.path().join("cache.sqlite"));
        let db = Database::open(target, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let cache = DatabaseCache::new(
            &db,
            DatabaseCacheOptions {
                prefix: "laravel-cache-".to_owned(),
                table: "cache".to_owned(),
                lock_table: "cache_locks".to_owned(),
                laravel: Laravel::nearest(laravel),
            },
        )
        .unwrap();
        // Twice: it is idempotent.
        for _ in 0..2 {
            cache
                .create_tables(Laravel::nearest(laravel))
                .await
                .unwrap();
        }
        (dir, cache)
    }

    async fn row(cache: &DatabaseCache, key: &str) -> Option<(String, i64)> {
        sqlx::query("SELECT value, expiration FROM cache WHERE \"key\" = ?")
            .bind(key)
            .fetch_optional(cache.db.pool())
            .await
            .unwrap()
            .map(|r| (r.try_get(0).unwrap(), r.try_get(1).unwrap()))
    }

    #[tokio::test]
    async fn put_get_forget_with_laravels_rows() {
        let (_dir, cache) = store(13).await;
        let now = 1_764_000_000;
        assert_eq!(cache.get("x", now).await.unwrap(), None);
        cache
            .put_serialized("illuminate:queue:restart", b"i:1764000000;", None, now)
            .await
            .unwrap();
        // No separator after the prefix; forever is ten years from now.
        assert_eq!(
            row(&cache, "laravel-cache-illuminate:queue:restart").await,
            Some(("i:1764000000;".to_owned(), 1_764_000_000 + 315_360_000))
        );
        assert_eq!(
            cache.get("illuminate:queue:restart", now).await.unwrap(),
            Some(b"i:1764000000;".to_vec())
        );
        cache
            .put_serialized("p", b"b:1;", Some(60), now)
            .await
            .unwrap();
        assert_eq!(
            cache.get("p", now + 59).await.unwrap(),
            Some(b"b:1;".to_vec())
        );
        // Expired at exactly its expiration, and the row goes.
        assert_eq!(cache.get("p", now + 60).await.unwrap(), None);
        assert_eq!(row(&cache, "laravel-cache-p").await, None);
        cache.forget("illuminate:queue:restart").await.unwrap();
        assert_eq!(
            cache.get("illuminate:queue:restart", now).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn nul_bytes_are_base64_on_sqlite_from_13_only() {
        let value = b"s:3:\"a\0b\";";
        let (_dir, cache) = store(13).await;
        cache.put_serialized("n", value, None, 1).await.unwrap();
        let (stored, _) = row(&cache, "laravel-cache-n").await.unwrap();
        assert_eq!(stored, "czozOiJhAGIiOw==");
        assert_eq!(cache.get("n", 1).await.unwrap(), Some(value.to_vec()));
        let (_dir, cache) = store(10).await;
        cache.put_serialized("n", value, None, 1).await.unwrap();
        assert_eq!(cache.get("n", 1).await.unwrap(), Some(value.to_vec()));
    }

    #[tokio::test]
    async fn counters_start_at_one_and_keep_their_expiration() {
        let (_dir, cache) = store(13).await;
        let now = 1_000;
        // What markJobAsFailedIfWillExceedMaxExceptions leaves: put 0 for a day, increment.
        assert_eq!(
            cache
                .increment("job-exceptions:u", 86_400, true, now)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            row(&cache, "laravel-cache-job-exceptions:u").await,
            Some(("i:1;".to_owned(), now as i64 + 86_400))
        );
        assert_eq!(
            cache
                .increment("job-exceptions:u", 86_400, true, now + 5)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            row(&cache, "laravel-cache-job-exceptions:u").await,
            Some(("i:2;".to_owned(), now as i64 + 86_400))
        );
        // A falsy value restarts the count; an expired one too.
        cache
            .put_serialized("job-exceptions:u", b"i:0;", Some(10), now)
            .await
            .unwrap();
        assert_eq!(
            cache
                .increment("job-exceptions:u", 86_400, true, now)
                .await
                .unwrap(),
            1
        );
        assert_eq!(cache.increment("c", 60, false, now).await.unwrap(), 1);
        assert_eq!(cache.increment("c", 60, false, now + 61).await.unwrap(), 1);
        cache
            .put_serialized("s", b"s:4:\"text\";", None, now)
            .await
            .unwrap();
        assert!(matches!(
            cache.increment("s", 60, true, now).await,
            Err(DatabaseCacheError::NotNumeric { .. })
        ));
    }

    #[tokio::test]
    async fn locks_go_by_key_or_by_key_and_owner() {
        let (_dir, cache) = store(13).await;
        sqlx::query("INSERT INTO cache_locks (\"key\", owner, expiration) VALUES (?, 'o', 9)")
            .bind("laravel-cache-laravel_unique_job:App\\Jobs\\U:7")
            .execute(cache.db.pool())
            .await
            .unwrap();
        // Another owner's lock stays; its owner's goes.
        cache
            .release_lock("laravel_unique_job:App\\Jobs\\U:7", "other")
            .await
            .unwrap();
        assert_eq!(locks(&cache).await, 1);
        cache
            .release_lock("laravel_unique_job:App\\Jobs\\U:7", "o")
            .await
            .unwrap();
        assert_eq!(locks(&cache).await, 0);
        sqlx::query("INSERT INTO cache_locks (\"key\", owner, expiration) VALUES (?, 'o', 9)")
            .bind("laravel-cache-laravel_unique_job:App\\Jobs\\U:7")
            .execute(cache.db.pool())
            .await
            .unwrap();
        cache
            .force_release("laravel_unique_job:App\\Jobs\\U:7")
            .await
            .unwrap();
        assert_eq!(locks(&cache).await, 0);
    }

    async fn locks(cache: &DatabaseCache) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM cache_locks")
            .fetch_one(cache.db.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    #[test]
    fn php_truthiness_and_numbers() {
        for falsy in [
            &b"N;"[..],
            b"b:0;",
            b"i:0;",
            b"d:0;",
            b"d:-0;",
            b"s:0:\"\";",
            b"s:1:\"0\";",
            b"a:0:{}",
            b"junk",
            // What `unserialize` refuses is `false` in PHP.
            b"i:abc;",
            b"s:5:\"ab\";",
        ] {
            assert!(
                !super::super::php_truthy(falsy),
                "{}",
                String::from_utf8_lossy(falsy)
            );
        }
        for truthy in [
            &b"b:1;"[..],
            b"i:3;",
            b"d:0.5;",
            b"s:1:\"a\";",
            b"s:2:\"00\";",
            b"a:1:{i:0;i:0;}",
        ] {
            assert!(
                super::super::php_truthy(truthy),
                "{}",
                String::from_utf8_lossy(truthy)
            );
        }
        assert_eq!(php_int(b"i:-4;"), Some(-4));
        assert_eq!(php_int(b"d:2.9;"), Some(2));
        assert_eq!(php_int(b"s:3:\" 12\";"), Some(12));
        assert_eq!(php_int(b"s:3:\"1e2\";"), Some(100));
        assert_eq!(php_int(b"s:2:\"0x\";"), None);
        assert_eq!(php_int(b"b:1;"), None);
        assert!(
            super::super::is_numeric(b"-1.5e+3 ")
                && super::super::is_numeric(b".5")
                && !super::super::is_numeric(b".")
                && !super::super::is_numeric(b"")
        );
    }

    #[test]
    fn tables_follow_cache_table_per_version() {
        let sqlite = Statements::new(Backend::Sqlite, "cache", "cache_locks");
        // What Laravel 13's SQLite grammar writes (checked with `larq:setup-db` under php-for 13).
        assert_eq!(
            sqlite.create(Laravel::NEWEST)[..2],
            [
                "CREATE TABLE IF NOT EXISTS \"cache\" (\"key\" varchar not null, \"value\" text not null, \"expiration\" integer not null, primary key (\"key\"))",
                "CREATE INDEX IF NOT EXISTS \"cache_expiration_index\" on \"cache\" (\"expiration\")",
            ]
        );
        assert_eq!(
            sqlite.create(Laravel::nearest(10)).len(),
            2,
            "no indexes up to 12"
        );
        let mysql = Statements::new(Backend::Mysql, "cache", "cache_locks").create(Laravel::NEWEST);
        assert!(mysql[1].contains("`owner` varchar(255) not null, `expiration` bigint not null"));
        assert!(mysql[1].contains("INDEX `cache_locks_expiration_index`"));
        let pg =
            Statements::new(Backend::Postgres, "cache", "cache_locks").create(Laravel::nearest(8));
        assert!(pg[0].contains("\"expiration\" integer not null"));
    }

    #[test]
    fn statements_quote_key_per_server() {
        let mysql = Statements::new(Backend::Mysql, "cache", "cache_locks");
        assert!(mysql.upsert.contains("`key`") && mysql.upsert.contains("ON DUPLICATE KEY"));
        assert!(mysql.select_for_update.ends_with("FOR UPDATE"));
        let pg = Statements::new(Backend::Postgres, "cache", "cache_locks");
        assert_eq!(pg.forget, "DELETE FROM \"cache\" WHERE \"key\" IN ($1, $2)");
        assert!(pg.upsert.contains("ON CONFLICT (\"key\")"));
    }
}
