//! The app's cache store, whichever Laravel store it is: where `php artisan queue:restart` writes
//! its signal, where `maxExceptions` counts a job's exceptions and where unique locks live.
//!
//! Laravel picks one store per app (`CACHE_DRIVER`, `CACHE_STORE` from 11). A worker that reads
//! the signal from another store than the one PHP writes never restarts on a deploy, so larq
//! reaches the app's own store: [`CacheStore::Redis`] (`redis`), [`CacheStore::File`] (`file`,
//! the Laravel 8–10 skeleton's default) or [`CacheStore::Database`] (`database`, the default
//! from 11). [`crate::app::App::cache`] chooses it from the settings.
//!
//! Values cross the API PHP-serialized (`i:5;`, `b:1;`), the form every store but Redis keeps;
//! Laravel's Redis store keeps numbers as their bare digits, and [`CacheStore::get`] returns what
//! the store holds.

pub mod database;
pub mod file;
pub mod redis;

pub use self::database::{DatabaseCache, DatabaseCacheError, DatabaseCacheOptions};
pub use self::file::{FileCache, FileCacheError};
pub use self::redis::RedisStore;

use crate::queue::{QueueError, RedisEndpoint};

/// The cache key `queue:restart` writes.
pub const RESTART_KEY: &str = "illuminate:queue:restart";

/// A cache read or write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache's Redis could not be reached.
    #[error(transparent)]
    Connect(QueueError),
    /// A Redis command failed.
    #[error("redis cache {op}: {source}")]
    Redis {
        /// What larq was doing (`get`, `put`, ...).
        op: &'static str,
        /// The client error.
        source: ::redis::RedisError,
    },
    /// The file store could not be read or written.
    #[error(transparent)]
    File(#[from] FileCacheError),
    /// The database store's query failed or found an entry it cannot use.
    #[error(transparent)]
    Database(#[from] DatabaseCacheError),
    /// The store cannot do this (yet); the message says what.
    #[error("the {store} cache store does not support {what} in larq")]
    Unsupported {
        /// `file`, ...
        store: &'static str,
        /// The operation.
        what: &'static str,
    },
}

impl CacheError {
    /// Whether the store could not be reached (an outage), as opposed to a refused operation.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            CacheError::Connect(e) => e.is_connection_lost(),
            CacheError::Redis { source, .. } => {
                source.is_connection_dropped() || source.is_io_error()
            }
            CacheError::Database(e) => e.is_connection_lost(),
            _ => false,
        }
    }
}

/// The app's cache store. Cheap to clone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheStore {
    /// Laravel's `redis` store.
    Redis(RedisStore),
    /// Laravel's `file` store.
    File(FileCache),
    /// Laravel's `database` store.
    Database(DatabaseCache),
}

impl From<RedisStore> for CacheStore {
    fn from(store: RedisStore) -> CacheStore {
        CacheStore::Redis(store)
    }
}

impl From<FileCache> for CacheStore {
    fn from(store: FileCache) -> CacheStore {
        CacheStore::File(store)
    }
}

impl From<DatabaseCache> for CacheStore {
    fn from(store: DatabaseCache) -> CacheStore {
        CacheStore::Database(store)
    }
}

impl CacheStore {
    /// The `redis` store at `url`; `prefix` is the full physical prefix (`{P}{C}:` for
    /// Laravel ≤ 10, see [`crate::config::Settings::cache_key`]).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<CacheStore, CacheError> {
        Ok(RedisStore::connect(url, prefix).await?.into())
    }

    /// The `redis` store on a Redis server or a Redis Cluster.
    pub async fn connect_to(
        endpoint: &RedisEndpoint,
        prefix: impl Into<String>,
    ) -> Result<CacheStore, CacheError> {
        Ok(RedisStore::connect_to(endpoint, prefix).await?.into())
    }

    /// The `file` store rooted at `dir` (Laravel's default: `storage/framework/cache/data`).
    pub fn file(dir: impl Into<std::path::PathBuf>) -> CacheStore {
        CacheStore::File(FileCache::new(dir))
    }

    /// The store's Laravel name.
    pub fn driver(&self) -> &'static str {
        match self {
            CacheStore::Redis(_) => "redis",
            CacheStore::File(_) => "file",
            CacheStore::Database(_) => "database",
        }
    }

    /// Whether counters ([`CacheStore::count`], [`CacheStore::count_exception`]) work on this
    /// store in larq: `maxExceptions` and hand-back limits are only kept where they do.
    pub fn has_counters(&self) -> bool {
        matches!(self, CacheStore::Redis(_) | CacheStore::Database(_))
    }

    /// The value of an entry as the store keeps it (`None`: missing or expired): serialized
    /// (`i:5;`, `b:1;`), except that the Redis store keeps numbers as their digits (`5`).
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = crate::queue::now();
        match self {
            CacheStore::Redis(s) => s.get(name).await,
            CacheStore::File(s) => Ok(s.get(name, now).await?),
            CacheStore::Database(s) => Ok(s.get(name, now).await?),
        }
    }

    /// Store an already PHP-serialized value the way the store's `put` (`ttl` seconds) or
    /// `forever` (`None`) does: Redis `SETEX`/`SET` with numbers as their bare digits (Laravel's
    /// `RedisStore::serialize`), a file of ten digits of expiry and the value, a `cache` row.
    /// A `ttl` of 0 deletes the entry, as `Repository::put` does for a non-positive one.
    pub async fn put_serialized(
        &self,
        name: &str,
        serialized: &[u8],
        ttl: Option<u64>,
    ) -> Result<(), CacheError> {
        if ttl == Some(0) {
            return self.forget(name).await;
        }
        let now = crate::queue::now();
        match self {
            CacheStore::Redis(s) => s.put_serialized(name, serialized, ttl).await,
            CacheStore::File(s) => Ok(s.put_serialized(name, serialized, ttl, now).await?),
            CacheStore::Database(s) => Ok(s.put_serialized(name, serialized, ttl, now).await?),
        }
    }

    /// Store a boolean (`b:1;`/`b:0;`), as `Cache::put($key, true, $ttl)` or `forever` does
    /// (`queue:pause` writes `true`).
    pub async fn put_bool(
        &self,
        name: &str,
        value: bool,
        ttl: Option<u64>,
    ) -> Result<(), CacheError> {
        let serialized: &[u8] = if value { b"b:1;" } else { b"b:0;" };
        self.put_serialized(name, serialized, ttl).await
    }

    /// Store an integer with no expiry, as `Cache::forever($key, $int)` does (`queue:restart`).
    pub async fn forever_int(&self, name: &str, value: i64) -> Result<(), CacheError> {
        self.put_serialized(name, format!("i:{value};").as_bytes(), None)
            .await
    }

    /// The raw values of several entries in one read (Redis: one `MGET`), in the order of `names`.
    pub async fn many(&self, names: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        match self {
            CacheStore::Redis(s) => s.many(names).await,
            CacheStore::File(s) => {
                let now = crate::queue::now();
                let mut values = Vec::with_capacity(names.len());
                for name in names {
                    values.push(s.get(name, now).await?);
                }
                Ok(values)
            }
            CacheStore::Database(s) => {
                let now = crate::queue::now();
                let mut values = Vec::with_capacity(names.len());
                for name in names {
                    values.push(s.get(name, now).await?);
                }
                Ok(values)
            }
        }
    }

    /// Count one exception of a job, as `markJobAsFailedIfWillExceedMaxExceptions` does: a
    /// falsy or missing counter starts again at 0 for a day, then goes up by one; returns it.
    pub async fn count_exception(&self, uuid: &str) -> Result<i64, CacheError> {
        match self {
            CacheStore::Redis(s) => s.count_exception(uuid).await,
            CacheStore::File(_) => Err(self.unsupported("counters")),
            CacheStore::Database(s) => Ok(s
                .increment(
                    &format!("job-exceptions:{uuid}"),
                    86_400,
                    true,
                    crate::queue::now(),
                )
                .await?),
        }
    }

    /// Increment a counter that expires `ttl` seconds after it was created; returns the count.
    pub async fn count(&self, name: &str, ttl: u64) -> Result<i64, CacheError> {
        match self {
            CacheStore::Redis(s) => s.count(name, ttl).await,
            CacheStore::File(_) => Err(self.unsupported("counters")),
            CacheStore::Database(s) => {
                Ok(s.increment(name, ttl, false, crate::queue::now()).await?)
            }
        }
    }

    /// Delete an entry.
    pub async fn forget(&self, name: &str) -> Result<(), CacheError> {
        match self {
            CacheStore::Redis(s) => s.forget(name).await,
            CacheStore::File(s) => Ok(s.forget(name).await?),
            CacheStore::Database(s) => Ok(s.forget(name).await?),
        }
    }

    /// `forceRelease` a lock of the store (unique jobs): the Redis key or file goes, the
    /// database store's `cache_locks` row goes, whoever owns it.
    pub async fn force_release(&self, name: &str) -> Result<(), CacheError> {
        match self {
            CacheStore::Database(s) => Ok(s.force_release(name).await?),
            _ => self.forget(name).await,
        }
    }

    /// Release a lock only while `owner` holds it, as Laravel's `Lock::release` does: a Redis
    /// compare-and-delete, a `cache_locks` row deleted by key and owner, a file whose value is
    /// the serialized owner.
    pub async fn release_lock(&self, name: &str, owner: &str) -> Result<(), CacheError> {
        match self {
            CacheStore::Redis(s) => s.release_lock(name, owner).await,
            CacheStore::Database(s) => Ok(s.release_lock(name, owner).await?),
            CacheStore::File(s) => {
                let name = s.lock_name(name);
                let serialized = format!("s:{}:\"{owner}\";", owner.len());
                match s.get(&name, crate::queue::now()).await? {
                    Some(value) if value == serialized.as_bytes() => Ok(s.forget(&name).await?),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Take the lock `name` for `owner` for `seconds` (0: until released) unless another
    /// owner holds it, as Laravel's `Lock::acquire` does on this store; whether it was taken.
    /// Redis, database (`cache_locks`) and file (`FileStore::add` under `flock`).
    pub async fn acquire_lock(
        &self,
        name: &str,
        owner: &str,
        seconds: u64,
    ) -> Result<bool, CacheError> {
        match self {
            CacheStore::Redis(s) => s.acquire_lock(name, owner, seconds).await,
            CacheStore::Database(s) => Ok(s
                .acquire_lock(name, owner, seconds, crate::queue::now())
                .await?),
            CacheStore::File(s) => Ok(s
                .add_serialized(
                    &s.lock_name(name),
                    format!("s:{}:\"{owner}\";", owner.len()).as_bytes(),
                    seconds,
                    crate::queue::now(),
                )
                .await?),
        }
    }

    /// `Cache::add` of an integer: store it for `seconds` unless the entry exists; whether it
    /// was stored.
    pub async fn add_int(&self, name: &str, value: i64, seconds: u64) -> Result<bool, CacheError> {
        let serialized = format!("i:{value};");
        let now = crate::queue::now();
        match self {
            CacheStore::Redis(s) => s.add_int(name, value, seconds).await,
            CacheStore::Database(s) => Ok(s
                .add_serialized(name, serialized.as_bytes(), seconds, now)
                .await?),
            CacheStore::File(s) => Ok(s
                .add_serialized(name, serialized.as_bytes(), seconds, now)
                .await?),
        }
    }

    /// `Cache::put` of an integer for `seconds`.
    pub async fn put_int(&self, name: &str, value: i64, seconds: u64) -> Result<(), CacheError> {
        let serialized = format!("i:{value};");
        let now = crate::queue::now();
        match self {
            CacheStore::Redis(s) => s.put_int(name, value, seconds).await,
            CacheStore::Database(s) => Ok(s
                .put_serialized(name, serialized.as_bytes(), Some(seconds), now)
                .await?),
            CacheStore::File(s) => Ok(s
                .put_serialized(name, serialized.as_bytes(), Some(seconds), now)
                .await?),
        }
    }

    /// `Cache::increment`: add `by`, keeping the entry's lifetime; the new value.
    pub async fn increment(&self, name: &str, by: i64) -> Result<i64, CacheError> {
        match self {
            CacheStore::Redis(s) => s.increment(name, by).await,
            // PHP's `false` for a missing entry counts as 0 where RateLimiter casts it.
            CacheStore::Database(s) => Ok(s.increment_existing(name, by).await?.unwrap_or(0)),
            CacheStore::File(s) => Ok(s.increment(name, by, crate::queue::now()).await?),
        }
    }

    /// The physical key (Redis), file path (file) or `key` column (database) of an entry, for
    /// messages and tests.
    pub fn key(&self, name: &str) -> String {
        match self {
            CacheStore::Redis(s) => s.key(name),
            CacheStore::File(s) => s.path(name).display().to_string(),
            CacheStore::Database(s) => s.key(name),
        }
    }

    /// Where a lock named `name` lives: as [`CacheStore::key`], the `cache_locks` row's `key`
    /// for the database store.
    pub fn lock_key(&self, name: &str) -> String {
        self.key(name)
    }

    fn unsupported(&self, what: &'static str) -> CacheError {
        CacheError::Unsupported {
            store: self.driver(),
            what,
        }
    }
}

/// The contents of a serialized string `s:N:"...";` whose length matches.
pub(crate) fn string_body(serialized: &[u8]) -> Option<&[u8]> {
    let rest = serialized.strip_prefix(b"s:")?;
    let colon = rest.iter().position(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    let body = rest[colon + 1..]
        .strip_prefix(b"\"")?
        .strip_suffix(b"\";")?;
    (body.len() == len).then_some(body)
}

/// PHP's `(bool) unserialize($s)` for the scalar and array forms; an object is true; what does
/// not unserialize is `false`, which is false.
pub(crate) fn php_truthy(s: &[u8]) -> bool {
    let body = |prefix: &[u8]| s.strip_prefix(prefix).and_then(|r| r.strip_suffix(b";"));
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
    match s.get(..2) {
        Some(b"b:") => matches!(body(b"b:"), Some(b"1")),
        Some(b"i:") => body(b"i:")
            .and_then(text)
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|n| n != 0),
        Some(b"d:") => match body(b"d:") {
            Some(b"NAN") | Some(b"INF") | Some(b"-INF") => true,
            Some(f) => text(f)
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|x| x != 0.0),
            None => false,
        },
        Some(b"s:") => string_body(s).is_some_and(|b| !b.is_empty() && b != b"0"),
        Some(b"a:") => s
            .get(2..)
            .and_then(|r| r.split(|&c| c == b':').next())
            .and_then(text)
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0),
        Some(b"O:") | Some(b"C:") | Some(b"E:") => true,
        _ => false,
    }
}

/// `(int) $value` of a cached number, or `None` when PHP's `is_numeric` says it is not one:
/// serialized integers, floats (truncated toward zero) and numeric strings, and the bare
/// numbers the Redis store keeps (`5`, which PHP's `unserialize` would not read, so its store
/// does not serialize them).
pub(crate) fn php_int(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    if is_numeric(value) {
        let bare = text.trim_matches([' ', '\t', '\n', '\r', '\x0B', '\x0C']);
        return bare.parse::<i64>().ok().or_else(|| {
            bare.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        });
    }
    if let Some(i) = text.strip_prefix("i:").and_then(|t| t.strip_suffix(';')) {
        return i.parse().ok();
    }
    let number = match text.strip_prefix("d:").and_then(|t| t.strip_suffix(';')) {
        Some(d) => d,
        None => {
            let body = text.strip_prefix("s:")?.strip_suffix("\";")?;
            let (_, s) = body.split_once(":\"")?;
            if !is_numeric(s.as_bytes()) {
                return None;
            }
            s.trim_matches([' ', '\t', '\n', '\r', '\x0B', '\x0C'])
        }
    };
    if let Ok(i) = number.parse::<i64>() {
        return Some(i);
    }
    // PHP casts a float to int toward zero, saturating (since 8.x, out of range is undefined;
    // saturating is as good a reading as any).
    number
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(|f| f.trunc() as i64)
}

/// PHP 8's `is_numeric` for a string (the Redis store keeps such values bare, the database store
/// casts them): optional leading whitespace, a sign, digits with an
/// optional fraction and exponent, optional trailing whitespace.
pub(crate) fn is_numeric(s: &[u8]) -> bool {
    let ws = |c: &u8| b" \t\n\r\x0b\x0c".contains(c);
    let start = s.iter().position(|c| !ws(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    let t = s.get(start..end).unwrap_or_default();
    let t = t
        .strip_prefix(b"+")
        .or_else(|| t.strip_prefix(b"-"))
        .unwrap_or(t);
    let (mantissa, exponent) = match t.iter().position(|&c| c == b'e' || c == b'E') {
        Some(at) => (&t[..at], Some(&t[at + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
        Some(at) => (&mantissa[..at], Some(&mantissa[at + 1..])),
        None => (mantissa, None),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && !(int.is_empty() && frac.is_none_or(|f| f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"+")
            .or_else(|| e.strip_prefix(b"-"))
            .unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_integers_in_every_form_a_store_keeps() {
        assert_eq!(php_int(b"5"), Some(5));
        assert_eq!(php_int(b" -3 "), Some(-3));
        assert_eq!(php_int(b"1765000060.7"), Some(1_765_000_060));
        assert_eq!(php_int(b"i:7;"), Some(7));
        assert_eq!(php_int(b"abc"), None);
    }

    #[tokio::test]
    async fn a_file_lock_is_released_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::file(dir.path());
        let name = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77";
        // The entry Laravel's FileStore writes for a lock: no expiry, the owner serialized.
        let path = std::path::PathBuf::from(store.key(name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"9999999999s:5:\"owner\";").unwrap();
        store.release_lock(name, "other").await.unwrap();
        assert!(path.exists(), "another owner's lock stays");
        store.release_lock(name, "owner").await.unwrap();
        assert!(!path.exists());
    }
}
