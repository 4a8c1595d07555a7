//! Laravel's `redis` cache store: plain keys under the cache prefix, values as PHP's cache writes
//! them (integers as their decimal text, so `INCR` works on them).

use crate::queue::{RedisConnection, RedisEndpoint};

use super::CacheError;

/// The app's cache store on Redis (`CACHE_DRIVER=redis`, Laravel's `RedisStore`).
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Connect to the cache connection; `prefix` is the full physical prefix (`{P}{C}:` for
    /// Laravel ≤ 10, see [`crate::config::Settings::cache_key`]).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<RedisStore, CacheError> {
        Self::connect_to(&RedisEndpoint::node(url), prefix).await
    }

    /// Connect to the cache connection on a Redis server or a Redis Cluster (each cache command
    /// touches one key, so any key works on a cluster).
    pub async fn connect_to(
        endpoint: &RedisEndpoint,
        prefix: impl Into<String>,
    ) -> Result<RedisStore, CacheError> {
        let conn = endpoint.connect().await.map_err(CacheError::Connect)?;
        Ok(RedisStore {
            conn,
            prefix: prefix.into(),
        })
    }

    /// The physical key of a cache entry.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn err(op: &'static str) -> impl FnOnce(redis::RedisError) -> CacheError {
        move |source| CacheError::Redis { op, source }
    }

    /// The raw value of an entry.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, CacheError> {
        redis::cmd("GET")
            .arg(self.key(name))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache get"))
    }

    /// Count one exception for a job the way `markJobAsFailedIfWillExceedMaxExceptions` does: a
    /// falsy counter is reset to 0 for a day, then incremented; returns the new count.
    pub async fn count_exception(&self, uuid: &str) -> Result<i64, CacheError> {
        let name = format!("job-exceptions:{uuid}");
        let current = self.get(&name).await?;
        let falsy = matches!(current.as_deref(), None | Some(b"") | Some(b"0"));
        let mut conn = self.conn.clone();
        if falsy {
            redis::cmd("SETEX")
                .arg(self.key(&name))
                .arg(86_400)
                .arg(0)
                .exec_async(&mut conn)
                .await
                .map_err(Self::err("cache put"))?;
        }
        redis::cmd("INCRBY")
            .arg(self.key(&name))
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(Self::err("cache increment"))
    }

    /// Store an entry with no expiry the way Laravel's Redis store does for a number
    /// (`Cache::forever`: a plain `SET` of its decimal text). `larq restart` writes the restart
    /// signal with it, so PHP and larq workers both see the change.
    pub async fn forever_int(&self, name: &str, value: i64) -> Result<(), CacheError> {
        redis::cmd("SET")
            .arg(self.key(name))
            .arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache put"))
    }

    /// Increment a counter that expires `ttl` seconds after it was created; returns the count.
    pub async fn count(&self, name: &str, ttl: u64) -> Result<i64, CacheError> {
        let key = self.key(name);
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("INCR")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(Self::err("cache count"))?;
        if n == 1 {
            // Only the first increment sets the lifetime (no EXPIRE NX: Redis 6 lacks it).
            redis::cmd("EXPIRE")
                .arg(&key)
                .arg(ttl)
                .exec_async(&mut conn)
                .await
                .map_err(Self::err("cache count"))?;
        }
        Ok(n)
    }

    /// Delete a lock if its value is still `owner` (`RedisLock::release`: the lock's value is the
    /// bare owner token); whether it was deleted. One script, so no other owner can slip in
    /// between the check and the delete.
    pub async fn release_lock(&self, name: &str, owner: &str) -> Result<bool, CacheError> {
        let deleted: i64 = redis::Script::new(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        )
        .key(self.key(name))
        .arg(owner)
        .invoke_async(&mut self.conn.clone())
        .await
        .map_err(Self::err("cache lock release"))?;
        Ok(deleted == 1)
    }

    /// Delete an entry.
    pub async fn forget(&self, name: &str) -> Result<(), CacheError> {
        redis::cmd("DEL")
            .arg(self.key(name))
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache forget"))
    }
}
