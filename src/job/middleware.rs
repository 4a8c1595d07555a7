//! What a job's middleware says: Laravel's job middleware as values.
//!
//! A PHP job meets its middleware two ways: the class's `middleware()` method (code, which only
//! the Rust twin can repeat: [`crate::Job::middleware`]) and the `middleware` property that
//! `->through([...])` fills at dispatch, serialized inside `data.command`. Both arrive here as
//! [`Middleware`] values, the method's first, as `CallQueuedHandler` merges them; the worker then
//! applies them against the app's cache store ([`crate::middleware`]), under the keys PHP uses, so
//! PHP and larq workers on one queue share one overlap lock and one rate limit.

use crate::php::{Object, Value};

/// Laravel's `WithoutOverlapping` class.
pub const WITHOUT_OVERLAPPING: &str = "Illuminate\\Queue\\Middleware\\WithoutOverlapping";
/// Laravel's `RateLimited` class.
pub const RATE_LIMITED: &str = "Illuminate\\Queue\\Middleware\\RateLimited";
/// Laravel's `RateLimitedWithRedis` class.
pub const RATE_LIMITED_WITH_REDIS: &str = "Illuminate\\Queue\\Middleware\\RateLimitedWithRedis";
/// Laravel's `ThrottlesExceptionsWithRedis` class.
pub const THROTTLES_EXCEPTIONS_WITH_REDIS: &str =
    "Illuminate\\Queue\\Middleware\\ThrottlesExceptionsWithRedis";
/// Laravel's `ThrottlesExceptions` class.
pub const THROTTLES_EXCEPTIONS: &str = "Illuminate\\Queue\\Middleware\\ThrottlesExceptions";
/// Laravel 13's `Release` class (`Release::when(...)`, evaluated at dispatch).
pub const RELEASE: &str = "Illuminate\\Queue\\Middleware\\Release";
/// Laravel's `SkipIfBatchCancelled` class.
pub const SKIP_IF_BATCH_CANCELLED: &str = "Illuminate\\Queue\\Middleware\\SkipIfBatchCancelled";
/// Laravel 13's `FailOnException` class (holds a closure, so it only comes from a class's
/// `middleware()` method: [`Middleware::FailOnException`] in the Rust twin).
pub const FAIL_ON_EXCEPTION: &str = "Illuminate\\Queue\\Middleware\\FailOnException";
/// Laravel 13's `Skip` class (`Skip::when(...)`, evaluated at dispatch).
pub const SKIP: &str = "Illuminate\\Queue\\Middleware\\Skip";

/// One job middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Middleware {
    /// `WithoutOverlapping`: one job per key at a time.
    WithoutOverlapping(WithoutOverlapping),
    /// `RateLimited`: a named limiter's limits.
    RateLimited(RateLimited),
    /// `ThrottlesExceptions`: after too many exceptions in a window, hold the job class back.
    ThrottlesExceptions(ThrottlesExceptions),
    /// `Skip`: delete the job unrun when `skip` is true.
    Skip(bool),
    /// `Release` (13): when `Some(seconds)`, release the job unrun for that long.
    Release(Option<u64>),
    /// `SkipIfBatchCancelled`: a job of a cancelled batch ends unrun.
    SkipIfBatchCancelled,
    /// `FailOnException([...])` (13): an error of one of these exception classes (compared
    /// by name, so no subclasses) fails the job at once, whatever its tries.
    FailOnException(Vec<String>),
    /// A class larq does not implement: what happens to the job is the
    /// [`crate::middleware::UnknownMiddleware`] policy's choice.
    Unknown(String),
}

/// `new WithoutOverlapping($key)` and its builder calls. While one job holds the lock, the others
/// with the same key are released for `release_after` seconds (or, after `dont_release`, deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithoutOverlapping {
    /// `$key`.
    pub key: String,
    /// `$releaseAfter`: seconds a job that found the lock taken waits; `None`: `dontRelease()`.
    pub release_after: Option<u64>,
    /// `$expiresAfter`: the lock's lifetime in seconds; 0 keeps it until released.
    pub expires_after: u64,
    /// `$prefix` (`laravel-queue-overlap:`).
    pub prefix: String,
    /// `$shareKey` (`shared()`, Laravel 9+): one lock for every class using the key.
    pub share_key: bool,
}

impl WithoutOverlapping {
    /// `new WithoutOverlapping($key)`: released for 0 s when the lock is taken, no expiry.
    pub fn new(key: impl Into<String>) -> WithoutOverlapping {
        WithoutOverlapping {
            key: key.into(),
            release_after: Some(0),
            expires_after: 0,
            prefix: "laravel-queue-overlap:".to_owned(),
            share_key: false,
        }
    }

    /// `->releaseAfter($seconds)`.
    pub fn release_after(mut self, seconds: u64) -> WithoutOverlapping {
        self.release_after = Some(seconds);
        self
    }

    /// `->dontRelease()`: a job that finds the lock taken is deleted instead.
    pub fn dont_release(mut self) -> WithoutOverlapping {
        self.release_after = None;
        self
    }

    /// `->expireAfter($seconds)`.
    pub fn expire_after(mut self, seconds: u64) -> WithoutOverlapping {
        self.expires_after = seconds;
        self
    }

    /// `->withPrefix($prefix)`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> WithoutOverlapping {
        self.prefix = prefix.into();
        self
    }

    /// `->shared()`.
    pub fn shared(mut self) -> WithoutOverlapping {
        self.share_key = true;
        self
    }

    /// The lock's cache name for a job of `class`, as `getLockKey` builds it.
    pub fn lock_name(&self, class: &str) -> String {
        if self.share_key {
            format!("{}{}", self.prefix, self.key)
        } else {
            format!("{}{class}:{}", self.prefix, self.key)
        }
    }

    fn from_object(obj: &Object<'_>) -> WithoutOverlapping {
        let mut m = WithoutOverlapping::new(text(obj.get("key")).unwrap_or_default());
        m.release_after = match obj.get("releaseAfter") {
            None | Some(Value::Null) => None,
            Some(v) => Some(seconds(v)),
        };
        m.expires_after = obj.get("expiresAfter").map_or(0, seconds);
        if let Some(prefix) = text(obj.get("prefix")) {
            m.prefix = prefix;
        }
        m.share_key = matches!(obj.get("shareKey"), Some(Value::Bool(true)));
        m
    }
}

/// `new RateLimited($limiterName)`: the limits of a limiter registered under that name
/// ([`crate::Registry::limiter`], PHP's `RateLimiter::for`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// `$limiterName`.
    pub limiter: String,
    /// `$shouldRelease`: a limited job is released (true) or deleted (`dontRelease()`).
    pub should_release: bool,
    /// `$releaseAfter` (Laravel 13): the release delay instead of the time until the limit resets.
    pub release_after: Option<u64>,
    /// `RateLimitedWithRedis`: counted in a Redis `DurationLimiter` on a Redis connection (the
    /// name, `None` for the default) instead of the cache store.
    pub redis: Option<Option<String>>,
}

impl RateLimited {
    /// `new RateLimited($name)`.
    pub fn new(limiter: impl Into<String>) -> RateLimited {
        RateLimited {
            limiter: limiter.into(),
            should_release: true,
            release_after: None,
            redis: None,
        }
    }

    /// `new RateLimitedWithRedis($name)`: the same limits, counted on the default Redis
    /// connection.
    pub fn with_redis(mut self) -> RateLimited {
        self.redis = Some(None);
        self
    }

    /// `->dontRelease()`.
    pub fn dont_release(mut self) -> RateLimited {
        self.should_release = false;
        self
    }

    /// `->releaseAfter($seconds)` (Laravel 13).
    pub fn release_after(mut self, seconds: u64) -> RateLimited {
        self.release_after = Some(seconds);
        self
    }

    fn from_object(obj: &Object<'_>) -> RateLimited {
        RateLimited {
            limiter: text(obj.get("limiterName")).unwrap_or_default(),
            should_release: !matches!(obj.get("shouldRelease"), Some(Value::Bool(false))),
            release_after: match obj.get("releaseAfter") {
                None | Some(Value::Null) => None,
                Some(v) => Some(seconds(v)).filter(|s| *s > 0),
            },
            redis: (obj.class.as_ref() == RATE_LIMITED_WITH_REDIS)
                .then(|| text(obj.get("connectionName"))),
        }
    }
}

/// `new ThrottlesExceptions($maxAttempts, $decay)` and its builder calls: once the jobs sharing
/// its key have thrown `max_attempts` times within `decay_seconds`, the next ones are released
/// until the window ends (plus 3 s), unrun; a job that throws is released for `backoff` minutes
/// instead of going through the worker's exception handling, and one that succeeds clears the
/// count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlesExceptions {
    /// `$maxAttempts`: exceptions allowed per window.
    pub max_attempts: u64,
    /// The window in seconds (`$decayMinutes * 60` up to Laravel 12, `$decaySeconds` in 13).
    pub decay_seconds: u64,
    /// `$retryAfterMinutes` (`->backoff($minutes)`): the release delay after an exception.
    pub retry_after_minutes: u64,
    /// `$key` (`->by($key)`); `None`: the job class.
    pub key: Option<String>,
    /// `$byJob` (`->byJob()`): one count per job (its uuid).
    pub by_job: bool,
    /// `$prefix` (`laravel_throttles_exceptions:`).
    pub prefix: String,
    /// `ThrottlesExceptionsWithRedis`: counted in a Redis `DurationLimiter` on a Redis
    /// connection (the name, `None` for the default) instead of the cache store.
    pub redis: Option<Option<String>>,
}

impl ThrottlesExceptions {
    /// `new ThrottlesExceptions($maxAttempts, ...)` with the window in seconds (Laravel 8–12
    /// take minutes: `new ThrottlesExceptions(10, 5)` is `new(10, 300)`).
    pub fn new(max_attempts: u64, decay_seconds: u64) -> ThrottlesExceptions {
        ThrottlesExceptions {
            max_attempts,
            decay_seconds,
            retry_after_minutes: 0,
            key: None,
            by_job: false,
            prefix: "laravel_throttles_exceptions:".to_owned(),
            redis: None,
        }
    }

    /// `new ThrottlesExceptionsWithRedis(...)`: the same count, on the default Redis
    /// connection.
    pub fn with_redis(mut self) -> ThrottlesExceptions {
        self.redis = Some(None);
        self
    }

    /// `->backoff($minutes)`.
    pub fn backoff(mut self, minutes: u64) -> ThrottlesExceptions {
        self.retry_after_minutes = minutes;
        self
    }

    /// `->by($key)`.
    pub fn by(mut self, key: impl Into<String>) -> ThrottlesExceptions {
        self.key = Some(key.into());
        self
    }

    /// `->byJob()`.
    pub fn by_job(mut self) -> ThrottlesExceptions {
        self.by_job = true;
        self
    }

    /// `->withPrefix($prefix)`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> ThrottlesExceptions {
        self.prefix = prefix.into();
        self
    }

    /// The limiter entry it counts in, as `getKey` builds it: the key, else the job's uuid
    /// (`byJob`), else a hash of the job: `md5(class)` up to Laravel 12, `xxh128` of the
    /// display name (the class when it has no `displayName()`) in 13.
    pub fn cache_key(&self, job_name: &str, uuid: &str, xxh128: bool) -> String {
        if let Some(key) = self.key.as_deref().filter(|k| !k.is_empty()) {
            return format!("{}{key}", self.prefix);
        }
        if self.by_job {
            return format!("{}{uuid}", self.prefix);
        }
        let hash = if xxh128 {
            format!("{:032x}", xxhash_rust::xxh3::xxh3_128(job_name.as_bytes()))
        } else {
            use md5::{Digest, Md5};
            Md5::digest(job_name.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        format!("{}{hash}", self.prefix)
    }

    /// A serialized one; `None` when it carries callbacks (`when`, `deleteWhen`, `failWhen`,
    /// `report`), which are PHP code larq cannot run.
    fn from_object(obj: &Object<'_>) -> Option<ThrottlesExceptions> {
        let set = |name: &str| match obj.get(name) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
        };
        if [
            "whenCallback",
            "reportCallback",
            "deleteWhenCallbacks",
            "failWhenCallbacks",
        ]
        .iter()
        .any(|n| set(n))
        {
            return None;
        }
        let decay_seconds = match (obj.get("decaySeconds"), obj.get("decayMinutes")) {
            (Some(s), _) => seconds(s),
            (None, Some(m)) => seconds(m).saturating_mul(60),
            (None, None) => 600,
        };
        let mut t =
            ThrottlesExceptions::new(obj.get("maxAttempts").map_or(10, seconds), decay_seconds);
        t.retry_after_minutes = obj.get("retryAfterMinutes").map_or(0, seconds);
        t.key = text(obj.get("key")).filter(|k| !k.is_empty());
        t.by_job = matches!(obj.get("byJob"), Some(Value::Bool(true)));
        if let Some(prefix) = text(obj.get("prefix")) {
            t.prefix = prefix;
        }
        t.redis = (obj.class.as_ref() == THROTTLES_EXCEPTIONS_WITH_REDIS)
            .then(|| text(obj.get("connectionName")));
        Some(t)
    }
}

/// One limit a limiter returns (`Limit::perMinute(60)->by($key)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// `->by($key)`; empty when not given.
    pub key: String,
    /// Runs allowed per window.
    pub max_attempts: u64,
    /// The window in seconds.
    pub decay_seconds: u64,
}

impl Limit {
    /// `Limit::perSecond($n)` (Laravel 11+).
    pub fn per_second(max_attempts: u64) -> Limit {
        Limit::every(max_attempts, 1)
    }

    /// `Limit::perMinute($n)`.
    pub fn per_minute(max_attempts: u64) -> Limit {
        Limit::every(max_attempts, 60)
    }

    /// `Limit::perMinutes($minutes, $n)`.
    pub fn per_minutes(minutes: u64, max_attempts: u64) -> Limit {
        Limit::every(max_attempts, minutes * 60)
    }

    /// `Limit::perHour($n)`.
    pub fn per_hour(max_attempts: u64) -> Limit {
        Limit::every(max_attempts, 3600)
    }

    /// `Limit::perDay($n)`.
    pub fn per_day(max_attempts: u64) -> Limit {
        Limit::every(max_attempts, 86_400)
    }

    fn every(max_attempts: u64, decay_seconds: u64) -> Limit {
        Limit {
            key: String::new(),
            max_attempts,
            decay_seconds,
        }
    }

    /// `->by($key)`: a separate window per key (per user, per tenant, ...).
    pub fn by(mut self, key: impl Into<String>) -> Limit {
        self.key = key.into();
        self
    }
}

/// What a limiter answers for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limits {
    /// `Limit::none()`: run.
    Unlimited,
    /// One or more limits, each checked and counted.
    Limited(Vec<Limit>),
}

impl From<Limit> for Limits {
    fn from(limit: Limit) -> Limits {
        Limits::Limited(vec![limit])
    }
}

impl From<Vec<Limit>> for Limits {
    fn from(limits: Vec<Limit>) -> Limits {
        Limits::Limited(limits)
    }
}

/// The job a limiter is asked about (PHP passes the job object to the `RateLimiter::for`
/// closure): its class, its serialized command and its payload.
#[derive(Debug, Clone, Copy)]
pub struct LimitedJob<'a> {
    /// `data.commandName`.
    pub class: &'a str,
    /// The serialized command (decrypted).
    pub command: &'a [u8],
    /// The whole payload.
    pub payload: &'a crate::payload::Payload,
}

impl LimitedJob<'_> {
    /// The command decoded into the job's Rust struct, for a limit keyed by its data
    /// (`->by($job->user->id)`).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::php::Error> {
        crate::php::from_bytes(self.command)
    }
}

/// A named limiter's rule: PHP's `RateLimiter::for($name, fn ($job) => ...)` closure, written
/// again in Rust because PHP closures cannot cross.
pub type LimiterFn = dyn Fn(&LimitedJob<'_>) -> Limits + Send + Sync;

/// The middleware serialized in a command's `middleware` property, in order. Anything that is
/// not an object of a known class is [`Middleware::Unknown`] (with `?` for a non-object).
pub fn from_property(value: Option<&Value<'_>>) -> Vec<Middleware> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .map(|(_, item)| match item {
            Value::Object(obj) => from_object(obj),
            other => Middleware::Unknown(format!("({})", other.type_name())),
        })
        .collect()
}

/// One serialized middleware object.
pub fn from_object(obj: &Object<'_>) -> Middleware {
    match obj.class.as_ref() {
        WITHOUT_OVERLAPPING => Middleware::WithoutOverlapping(WithoutOverlapping::from_object(obj)),
        RATE_LIMITED | RATE_LIMITED_WITH_REDIS => {
            Middleware::RateLimited(RateLimited::from_object(obj))
        }
        SKIP => Middleware::Skip(matches!(obj.get("skip"), Some(Value::Bool(true)))),
        RELEASE => Middleware::Release(
            matches!(obj.get("release"), Some(Value::Bool(true)))
                .then(|| obj.get("releaseAfter").map_or(0, seconds)),
        ),
        SKIP_IF_BATCH_CANCELLED => Middleware::SkipIfBatchCancelled,
        THROTTLES_EXCEPTIONS | THROTTLES_EXCEPTIONS_WITH_REDIS => {
            ThrottlesExceptions::from_object(obj).map_or_else(
                || Middleware::Unknown(obj.class.to_string()),
                Middleware::ThrottlesExceptions,
            )
        }
        other => Middleware::Unknown(other.to_owned()),
    }
}

/// The middleware of a serialized command (its `middleware` property).
pub fn from_command(command: &[u8]) -> Vec<Middleware> {
    match Value::parse(command) {
        Ok(Value::Object(obj)) => from_property(obj.get("middleware")),
        _ => Vec::new(),
    }
}

fn text(value: Option<&Value<'_>>) -> Option<String> {
    match value? {
        Value::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Seconds as PHP keeps them here: an int (negative counts as 0) or a numeric string.
fn seconds(value: &Value<'_>) -> u64 {
    match value {
        Value::Int(i) => u64::try_from(*i).unwrap_or(0),
        Value::String(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_follow_get_lock_key() {
        let m = WithoutOverlapping::new("order-5");
        assert_eq!(
            m.lock_name("App\\Jobs\\X"),
            "laravel-queue-overlap:App\\Jobs\\X:order-5"
        );
        assert_eq!(
            m.shared().with_prefix("p:").lock_name("App\\Jobs\\X"),
            "p:order-5"
        );
    }

    #[test]
    fn throttle_keys_follow_get_key() {
        let t = ThrottlesExceptions::new(10, 600);
        // php -r 'echo md5("App\\Jobs\\X");'
        assert_eq!(
            t.cache_key("App\\Jobs\\X", "u-1", false),
            "laravel_throttles_exceptions:7781db6daae9e0fe6cfe3e6446273bf7"
        );
        assert_eq!(
            t.clone().by_job().cache_key("App\\Jobs\\X", "u-1", false),
            "laravel_throttles_exceptions:u-1"
        );
        assert_eq!(
            t.by("k")
                .with_prefix("p:")
                .cache_key("App\\Jobs\\X", "u-1", true),
            "p:k"
        );
    }

    #[test]
    fn a_serialized_throttle_reads_minutes_or_seconds_and_refuses_callbacks() {
        // `~` stands for the NUL bytes of protected property names.
        let command = |props: &str| {
            format!(
                r#"O:1:"X":1:{{s:10:"middleware";a:1:{{i:0;O:47:"Illuminate\Queue\Middleware\ThrottlesExceptions":{props}}}}}"#
            )
            .replace('~', "\0")
        };
        let eight = command(
            r#"3:{s:14:"~*~maxAttempts";i:3;s:15:"~*~decayMinutes";i:2;s:20:"~*~retryAfterMinutes";i:1;}"#,
        );
        assert_eq!(
            from_command(eight.as_bytes()),
            vec![Middleware::ThrottlesExceptions(
                ThrottlesExceptions::new(3, 120).backoff(1)
            )]
        );
        let thirteen = command(r#"2:{s:15:"~*~decaySeconds";i:30;s:8:"~*~byJob";b:1;}"#);
        assert_eq!(
            from_command(thirteen.as_bytes()),
            vec![Middleware::ThrottlesExceptions(
                ThrottlesExceptions::new(10, 30).by_job()
            )]
        );
        let redis = format!(
            r#"O:1:"X":1:{{s:10:"middleware";a:1:{{i:0;O:56:"Illuminate\Queue\Middleware\ThrottlesExceptionsWithRedis":{}}}}}"#,
            r#"1:{s:17:"~*~connectionName";s:5:"limit";}"#
        )
        .replace('~', "\0");
        assert_eq!(
            from_command(redis.as_bytes()),
            vec![Middleware::ThrottlesExceptions(ThrottlesExceptions {
                redis: Some(Some("limit".to_owned())),
                ..ThrottlesExceptions::new(10, 600)
            })]
        );
        let with_callback = command(r#"1:{s:15:"~*~whenCallback";s:1:"f";}"#);
        assert_eq!(
            from_command(with_callback.as_bytes()),
            vec![Middleware::Unknown(THROTTLES_EXCEPTIONS.to_owned())]
        );
    }

    #[test]
    fn a_dont_release_null_is_kept_apart_from_zero() {
        let command = br#"O:1:"X":1:{s:10:"middleware";a:2:{i:0;O:46:"Illuminate\Queue\Middleware\WithoutOverlapping":4:{s:3:"key";s:1:"k";s:12:"releaseAfter";N;s:12:"expiresAfter";i:30;s:6:"prefix";s:2:"p:";}i:1;O:9:"App\Other":0:{}}}"#;
        let m = from_command(command);
        assert_eq!(
            m,
            vec![
                Middleware::WithoutOverlapping(
                    WithoutOverlapping::new("k")
                        .dont_release()
                        .expire_after(30)
                        .with_prefix("p:")
                ),
                Middleware::Unknown("App\\Other".to_owned()),
            ]
        );
    }
}
