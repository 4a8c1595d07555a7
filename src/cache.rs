//! The app's cache store, whichever Laravel store it is: where `php artisan queue:restart` writes
//! its signal, where `maxExceptions` counts a job's exceptions and where unique locks live.
//!
//! Laravel picks one store per app (`CACHE_DRIVER`, `CACHE_STORE` from 11). A worker that reads
//! the signal from another store than the one PHP writes never restarts on a deploy, so larq
//! reaches the app's own store: [`CacheStore::Redis`] (`redis`) or [`CacheStore::File`]
//! (`file`, the Laravel 8–10 skeleton's default), with room for the `database` store Laravel 11+
//! uses by default. [`crate::app::App::cache`] chooses it from the settings.

pub mod file;
pub mod redis;

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
        }
    }

    /// Whether counters ([`CacheStore::count`], [`CacheStore::count_exception`]) work on this
    /// store in larq: `maxExceptions` and hand-back limits are only kept where they do.
    pub fn has_counters(&self) -> bool {
        matches!(self, CacheStore::Redis(_))
    }

    /// The raw value of an entry (`None`: missing or expired).
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            CacheStore::Redis(s) => s.get(name).await,
            CacheStore::File(s) => Ok(s.get(name, crate::queue::now()).await?),
        }
    }

    /// Store an integer with no expiry, as `Cache::forever($key, $int)` does (`queue:restart`).
    pub async fn forever_int(&self, name: &str, value: i64) -> Result<(), CacheError> {
        match self {
            CacheStore::Redis(s) => s.forever_int(name, value).await,
            CacheStore::File(s) => Ok(s.forever_int(name, value).await?),
        }
    }

    /// Count one exception of a job, as `markJobAsFailedIfWillExceedMaxExceptions` does.
    pub async fn count_exception(&self, uuid: &str) -> Result<i64, CacheError> {
        match self {
            CacheStore::Redis(s) => s.count_exception(uuid).await,
            CacheStore::File(_) => Err(self.unsupported("counters")),
        }
    }

    /// Increment a counter that expires `ttl` seconds after it was created; returns the count.
    pub async fn count(&self, name: &str, ttl: u64) -> Result<i64, CacheError> {
        match self {
            CacheStore::Redis(s) => s.count(name, ttl).await,
            CacheStore::File(_) => Err(self.unsupported("counters")),
        }
    }

    /// Release a lock only if `owner` still holds it, as Laravel's `Lock::release` does (a lock
    /// that expired and was taken by another dispatch stays); whether it was deleted.
    pub async fn release_lock(&self, name: &str, owner: &str) -> Result<bool, CacheError> {
        match self {
            CacheStore::Redis(s) => s.release_lock(name, owner).await,
            CacheStore::File(s) => {
                // The file store's lock is a cache entry holding the serialized owner string.
                let held = s.get(name, crate::queue::now()).await?;
                let mine =
                    crate::php::to_vec(owner).map_err(|_| self.unsupported("lock owners"))?;
                if held.as_deref() == Some(&mine[..]) {
                    s.forget(name).await?;
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Delete an entry.
    pub async fn forget(&self, name: &str) -> Result<(), CacheError> {
        match self {
            CacheStore::Redis(s) => s.forget(name).await,
            CacheStore::File(s) => Ok(s.forget(name).await?),
        }
    }

    /// The physical key (Redis) or file path (file) of an entry, for messages and tests.
    pub fn key(&self, name: &str) -> String {
        match self {
            CacheStore::Redis(s) => s.key(name),
            CacheStore::File(s) => s.path(name).display().to_string(),
        }
    }

    fn unsupported(&self, what: &'static str) -> CacheError {
        CacheError::Unsupported {
            store: self.driver(),
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_lock_is_released_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::file(dir.path());
        let name = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77";
        // The entry Laravel's FileStore writes for a lock: no expiry, the owner serialized.
        let path = std::path::PathBuf::from(store.key(name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"9999999999s:5:\"owner\";").unwrap();
        assert!(!store.release_lock(name, "other").await.unwrap());
        assert!(path.exists(), "another owner's lock stays");
        assert!(store.release_lock(name, "owner").await.unwrap());
        assert!(!path.exists());
    }
}
