//! Laravel's Redis `DurationLimiter`: a fixed window counted in one Redis hash, on the app's
//! default Redis connection (not the cache store), as `RateLimitedWithRedis` and
//! `ThrottlesExceptionsWithRedis` use it.
//!
//! The window lives in the hash `<redis prefix><name>` with the fields `start` and `end` (unix
//! seconds) and `count`, and expires after twice the window. PHP and larq workers counting in the
//! same hash share one limit, so larq keeps those fields and their meaning exactly; the scripts
//! below are larq's own.

use crate::cache::CacheError;
use crate::queue::{RedisConnection, RedisEndpoint};

/// What both scripts read first. KEYS[1] the hash; ARGV: now (fractional seconds), now (whole
/// seconds), window, maximum. `open` says whether `now` falls in the stored window.
const READ_WINDOW: &str = r"
local hash = KEYS[1]
local now, second = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, most = tonumber(ARGV[3]), tonumber(ARGV[4])
local first = tonumber(redis.call('HGET', hash, 'start'))
local last = tonumber(redis.call('HGET', hash, 'end'))
local open = first ~= nil and last ~= nil and now >= first and now <= last
";

/// Counts one more in the window, opening a new one when there is none or the old one ended.
/// Returns {acquired (1/0), window end, remaining}.
const ACQUIRE: &str = r"
if open then
  local count = redis.call('HINCRBY', hash, 'count', 1)
  local acquired = 0
  if count <= most then acquired = 1 end
  return {acquired, last, most - count}
end
redis.call('HSET', hash, 'start', second, 'end', second + window, 'count', 1)
redis.call('EXPIRE', hash, window * 2)
return {1, second + window, most - 1}
";

/// Reads the window without counting. Returns {window end, remaining} (no window, or an ended
/// one: the maximum remains).
const PEEK: &str = r"
if open then
  return {last, most - tonumber(redis.call('HGET', hash, 'count') or '0')}
end
return {second + window, most}
";

/// The scripts, built and hashed once (`EVALSHA` after the first call).
static SCRIPTS: std::sync::LazyLock<[redis::Script; 2]> = std::sync::LazyLock::new(|| {
    [
        redis::Script::new(&format!("{READ_WINDOW}{ACQUIRE}")),
        redis::Script::new(&format!("{READ_WINDOW}{PEEK}")),
    ]
});

/// Where a window stands after [`DurationLimiter::acquire`] or [`DurationLimiter::peek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Whether the call got a place in the window (always true for a peek with room).
    pub acquired: bool,
    /// When the window ends (unix seconds): `decaysAt`.
    pub decays_at: i64,
    /// Places left (0 or less: full).
    pub remaining: i64,
}

/// Windows on the app's default Redis connection, under its key prefix. Cheap to clone.
#[derive(Clone)]
pub struct DurationLimiter {
    conn: RedisConnection,
    prefix: String,
}

impl std::fmt::Debug for DurationLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurationLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl DurationLimiter {
    /// Connect to the app's default Redis connection (`REDIS_HOST`/`REDIS_DB`); `prefix` is
    /// its key prefix (`REDIS_PREFIX`, `laravel_database_` by default up to Laravel 11).
    pub async fn connect_to(
        endpoint: &RedisEndpoint,
        prefix: impl Into<String>,
    ) -> Result<DurationLimiter, CacheError> {
        let conn = endpoint.connect().await.map_err(CacheError::Connect)?;
        Ok(DurationLimiter {
            conn,
            prefix: prefix.into(),
        })
    }

    /// [`DurationLimiter::connect_to`] a single server's URL.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
    ) -> Result<DurationLimiter, CacheError> {
        Self::connect_to(&RedisEndpoint::node(url), prefix).await
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn eval(
        &self,
        script: &redis::Script,
        op: &'static str,
        name: &str,
        max: u64,
        window: u64,
    ) -> Result<Vec<i64>, CacheError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        script
            .key(self.key(name))
            .arg(format!("{:.4}", now.as_secs_f64()))
            .arg(now.as_secs())
            .arg(window)
            .arg(max)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|source| CacheError::Redis { op, source })
    }

    /// `acquire()`: take a place in the window `name` of `max` places per `window` seconds.
    pub async fn acquire(&self, name: &str, max: u64, window: u64) -> Result<Window, CacheError> {
        let r = self
            .eval(&SCRIPTS[0], "limiter acquire", name, max, window)
            .await?;
        Ok(Window {
            acquired: r.first().copied() == Some(1),
            decays_at: r.get(1).copied().unwrap_or(0),
            remaining: r.get(2).copied().unwrap_or(0).max(0),
        })
    }

    /// `tooManyAttempts()`: the window as it stands, nothing counted; full when
    /// `remaining <= 0`.
    pub async fn peek(&self, name: &str, max: u64, window: u64) -> Result<Window, CacheError> {
        let r = self
            .eval(&SCRIPTS[1], "limiter peek", name, max, window)
            .await?;
        let remaining = r.get(1).copied().unwrap_or(0);
        Ok(Window {
            acquired: remaining > 0,
            decays_at: r.first().copied().unwrap_or(0),
            remaining,
        })
    }

    /// `clear()`: the window goes.
    pub async fn clear(&self, name: &str) -> Result<(), CacheError> {
        redis::cmd("DEL")
            .arg(self.key(name))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|source| CacheError::Redis {
                op: "limiter clear",
                source,
            })
    }
}
