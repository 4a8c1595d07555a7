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

    /// The raw values of several entries in one `MGET` (split by slot on a cluster).
    pub async fn many(&self, names: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for name in names {
            cmd.arg(self.key(name));
        }
        cmd.query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache many"))
    }

    /// Store a value given as PHP's `serialize()` of it the way `RedisStore::put` (`SETEX`, at
    /// least one second) or `RedisStore::forever` (`SET`) does: a finite number is written as its
    /// plain text (`i:5;` becomes `5`, which PHP reads back as the string `"5"`), anything else
    /// serialized, so `b:1;` for `true`.
    pub async fn put_serialized(
        &self,
        name: &str,
        serialized: &[u8],
        ttl: Option<u64>,
    ) -> Result<(), CacheError> {
        let value = stored_form(serialized);
        let mut cmd = match ttl {
            Some(secs) => {
                let mut c = redis::cmd("SETEX");
                c.arg(self.key(name)).arg(secs.max(1));
                c
            }
            None => {
                let mut c = redis::cmd("SET");
                c.arg(self.key(name));
                c
            }
        };
        cmd.arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache put"))
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
        self.put_serialized(name, format!("i:{value};").as_bytes(), None)
            .await
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

    /// `RedisLock::acquire`: take the lock `name` for `owner` unless someone holds it
    /// (`SET NX`, with `EX seconds` when `seconds` > 0); whether it was taken.
    pub async fn acquire_lock(
        &self,
        name: &str,
        owner: &str,
        seconds: u64,
    ) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(name)).arg(owner);
        if seconds > 0 {
            cmd.arg("EX").arg(seconds);
        }
        cmd.arg("NX");
        let set: Option<String> = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache lock"))?;
        Ok(set.is_some())
    }

    /// `RedisStore::add`: store the integer `value` for `seconds` (at least 1) unless the entry
    /// exists, in one script as PHP does; whether it was stored.
    pub async fn add_int(&self, name: &str, value: i64, seconds: u64) -> Result<bool, CacheError> {
        let script = redis::Script::new(
            "return redis.call('exists',KEYS[1])<1 and redis.call('setex',KEYS[1],ARGV[2],ARGV[1])",
        );
        let added: Option<String> = script
            .key(self.key(name))
            .arg(value)
            .arg(seconds.max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache add"))?;
        Ok(added.is_some())
    }

    /// `RedisStore::put` of an integer for `seconds` (at least 1).
    pub async fn put_int(&self, name: &str, value: i64, seconds: u64) -> Result<(), CacheError> {
        redis::cmd("SETEX")
            .arg(self.key(name))
            .arg(seconds.max(1))
            .arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache put"))
    }

    /// `RedisStore::increment`: `INCRBY`, which keeps the entry's lifetime.
    pub async fn increment(&self, name: &str, by: i64) -> Result<i64, CacheError> {
        redis::cmd("INCRBY")
            .arg(self.key(name))
            .arg(by)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("cache increment"))
    }

    /// Delete the lock `name` only while its value is `owner` (`RedisLock::release`: one script,
    /// so no other owner's lock taken in between is deleted).
    pub async fn release_lock(&self, name: &str, owner: &str) -> Result<(), CacheError> {
        let script = redis::Script::new(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        );
        script
            .key(self.key(name))
            .arg(owner)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(Self::err("cache release lock"))
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

/// What Laravel's Redis store writes for a serialized value: the number itself for an integer, a
/// finite float or a numeric string (`is_numeric($value) && is_finite($value)`), else the
/// serialized bytes.
fn stored_form(serialized: &[u8]) -> &[u8] {
    let number = if let Some(body) = serialized
        .strip_prefix(b"i:")
        .and_then(|r| r.strip_suffix(b";"))
    {
        Some(body)
    } else if let Some(body) = serialized
        .strip_prefix(b"d:")
        .and_then(|r| r.strip_suffix(b";"))
    {
        // INF, -INF and NAN are serialized as words; they are not finite and stay serialized.
        Some(body).filter(|b| b.iter().all(|c| c.is_ascii_digit() || b".-+eE".contains(c)))
    } else {
        super::string_body(serialized).filter(|b| super::is_numeric(b))
    };
    number.unwrap_or(serialized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stored_plain_and_the_rest_serialized() {
        assert_eq!(stored_form(b"i:1;"), b"1");
        assert_eq!(stored_form(b"i:-42;"), b"-42");
        assert_eq!(stored_form(b"d:1.5;"), b"1.5");
        assert_eq!(stored_form(b"d:INF;"), b"d:INF;");
        assert_eq!(stored_form(b"d:NAN;"), b"d:NAN;");
        assert_eq!(stored_form(b"b:1;"), b"b:1;");
        assert_eq!(stored_form(b"s:2:\"12\";"), b"12");
        assert_eq!(stored_form(b"s:3:\"1e3\";"), b"1e3");
        assert_eq!(stored_form(b"s:3:\"abc\";"), b"s:3:\"abc\";");
        assert_eq!(stored_form(b"s:1:\".\";"), b"s:1:\".\";");
        assert_eq!(stored_form(b"s:0:\"\";"), b"s:0:\"\";");
        assert_eq!(stored_form(b"N;"), b"N;");
    }

    #[test]
    fn is_numeric_follows_php8() {
        for yes in [
            &b"1"[..],
            b" 1",
            b"1 ",
            b"-1.5",
            b".5",
            b"5.",
            b"1e5",
            b"+1E-3",
        ] {
            assert!(
                super::super::is_numeric(yes),
                "{:?}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b""[..],
            b" ",
            b".",
            b"e5",
            b"1e",
            b"0x1A",
            b"1 1",
            b"abc",
            b"--1",
        ] {
            assert!(
                !super::super::is_numeric(no),
                "{:?}",
                String::from_utf8_lossy(no)
            );
        }
    }
}
