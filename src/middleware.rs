//! Running a job through its middleware the way PHP's worker does, with PHP's cache keys.
//!
//! PHP and larq workers often share a queue while a deployment moves over. A `WithoutOverlapping`
//! job must then never run twice at once across both, and a `RateLimited` job class must stay
//! under one limit counted by both; so larq takes the same lock (`laravel-queue-overlap:<Class>:
//! <key>` under the cache prefix, `SET NX [EX]`, released by owner) and counts the same limiter
//! entries (`md5(<limiter><limit key>)` and its `:timer`) in the app's cache store as Laravel's
//! `RateLimiter` does (`ThrottlesExceptions` counts exceptions in the same kind of entries, under
//! `laravel_throttles_exceptions:`). The middleware a job declares ([`crate::job::middleware`]) are applied in
//! order before the handler, like `CallQueuedHandler`'s pipeline: the first that does not pass
//! the job on decides what happens to it ([`Gate`]).
//!
//! What larq cannot apply (a custom PHP middleware class, a limiter not registered on the Rust
//! side, a cache store without locks) follows the [`UnknownMiddleware`] policy of the class:
//! never silently run. Locks and counters live in whichever store the app uses: Redis, the
//! database store's tables, or the file store's files.

use std::collections::HashMap;

use md5::{Digest, Md5};

use crate::cache::{CacheError, CacheStore};
use crate::job::middleware::{
    LimitedJob, Middleware, RateLimited, ThrottlesExceptions, WithoutOverlapping,
};
use crate::job::{exceptions, JobError, Limits, Registry, Resolved};
use crate::laravel::Laravel;
use crate::limiter::DurationLimiter;
use crate::payload::Payload;

/// What to do with a job whose middleware larq cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownMiddleware {
    /// Fail it with a message that names the middleware (the default: a limit nobody enforces
    /// would otherwise go unnoticed).
    #[default]
    Fail,
    /// Put it back on its queue, untouched, for a PHP worker (after the wrapper policy's
    /// hand-back delay).
    HandBack,
    /// Run it without that middleware, logging a warning for each such job.
    RunWithout,
}

impl std::str::FromStr for UnknownMiddleware {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(UnknownMiddleware::Fail),
            "hand-back" | "handback" => Ok(UnknownMiddleware::HandBack),
            "run" | "run-without" => Ok(UnknownMiddleware::RunWithout),
            other => Err(format!(
                "unknown middleware policy {other:?} (fail, hand-back or run-without)"
            )),
        }
    }
}

/// The [`UnknownMiddleware`] policy: one default and exceptions per middleware class (for a
/// limiter, `RateLimited:<name>`).
#[derive(Debug, Clone, Default)]
pub struct MiddlewarePolicies {
    default: UnknownMiddleware,
    per_class: HashMap<String, UnknownMiddleware>,
}

impl MiddlewarePolicies {
    /// Every middleware larq cannot apply gets `policy`.
    pub fn new(policy: UnknownMiddleware) -> MiddlewarePolicies {
        MiddlewarePolicies {
            default: policy,
            per_class: HashMap::new(),
        }
    }

    /// `class` gets `policy` instead of the default.
    pub fn class(mut self, class: impl Into<String>, policy: UnknownMiddleware) -> Self {
        self.per_class.insert(class.into(), policy);
        self
    }

    /// These per-class policies over `self`'s default (the ones in `other` win).
    pub fn merge(mut self, other: MiddlewarePolicies) -> Self {
        self.per_class.extend(other.per_class);
        self
    }

    /// The policy for `class`.
    pub fn for_class(&self, class: &str) -> UnknownMiddleware {
        self.per_class.get(class).copied().unwrap_or(self.default)
    }
}

/// What the middleware decided before the handler.
#[derive(Debug)]
#[must_use]
pub enum Gate {
    /// Run the handler, then give back what the middleware holds ([`Held::release`]), before
    /// the job is deleted, released or failed, as PHP's `finally` does.
    Run(Held),
    /// A middleware released the job (`$job->release($seconds)`): not an exception.
    Release(u64),
    /// A middleware ended the job without running it and without releasing it (`Skip`,
    /// `dontRelease()`): PHP then treats it as processed (deleted, chain continued).
    Done,
    /// The job must fail (the policy for a middleware larq cannot apply).
    Fail(JobError),
    /// Put the job back, untouched, for a PHP worker.
    HandBack,
    /// The cache store failed: the job raised this exception (tries and backoff apply, as when
    /// PHP's middleware throws).
    Error(JobError),
}

/// Locks a running job holds through its middleware, and the exception counts it reports to.
#[derive(Debug, Default)]
pub struct Held {
    locks: Vec<(CacheStore, String, String)>,
    throttles: Vec<Throttle>,
    /// `FailOnException` classes.
    fail_on: Vec<String>,
    run_without: u64,
}

/// A `ThrottlesExceptions` the job passed: where it counts and what it does after the handler.
#[derive(Debug)]
struct Throttle {
    counter: Counter,
    key: String,
    max_attempts: u64,
    decay_seconds: u64,
    retry_after: u64,
}

/// Where a throttle counts: `RateLimiter` entries in the cache store, or a Redis window.
#[derive(Debug)]
enum Counter {
    Cache(CacheStore),
    Redis(DurationLimiter),
}

impl Held {
    /// How many of the job's middleware were left out under the `run-without` policy.
    pub fn run_without(&self) -> u64 {
        self.run_without
    }

    /// Whether a `FailOnException` the job passed says `error` fails it at once.
    pub fn fails_on(&self, error: &JobError) -> bool {
        self.fail_on.iter().any(|class| class == error.class())
    }

    /// What the `ThrottlesExceptions` the job passed do once its handler is done, as PHP's
    /// `catch`/`clear` would: after success (`threw` false) every count is cleared; after an
    /// exception the innermost one counts it and asks for the job to be released for its backoff
    /// (`Some(seconds)`) instead of the worker's exception handling, and the outer ones, which
    /// then see the job return normally, clear theirs. `None` when no throttle took the
    /// exception. A store failure is logged (the count then misses one).
    pub async fn settle(&self, threw: bool) -> Option<u64> {
        let mut release = None;
        for (i, t) in self.throttles.iter().enumerate().rev() {
            let innermost = threw && i + 1 == self.throttles.len();
            if innermost {
                release = Some(t.retry_after);
            }
            let counted = match (&t.counter, innermost) {
                (Counter::Cache(cache), true) => hit(cache, &t.key, t.decay_seconds).await,
                (Counter::Cache(cache), false) => clear(cache, &t.key).await,
                (Counter::Redis(windows), true) => windows
                    .acquire(&t.key, t.max_attempts, t.decay_seconds)
                    .await
                    .map(drop)
                    .map_err(Cannot::from),
                (Counter::Redis(windows), false) => {
                    windows.clear(&t.key).await.map_err(Cannot::from)
                }
            };
            let trouble = match counted {
                Ok(()) => continue,
                Err(Cannot::Store(e)) => e.to_string(),
                Err(Cannot::Apply(why)) => why,
            };
            tracing::warn!(error = %trouble, key = %t.key, "cannot update the ThrottlesExceptions count");
        }
        release
    }

    /// Release the locks (each only while this job still owns it). A failure is logged: the
    /// lock then ends with its expiry, as PHP's would.
    pub async fn release(self) {
        for (cache, name, owner) in self.locks {
            if let Err(e) = cache.release_lock(&name, &owner).await {
                tracing::warn!(error = %e, lock = %cache.lock_key(&name), "cannot release the WithoutOverlapping lock; it stays until it expires");
            }
        }
    }
}

/// Applies job middleware against the app's cache store.
#[derive(Debug, Clone)]
pub struct MiddlewareRunner {
    cache: Option<CacheStore>,
    /// Where locks live: Laravel's Redis store takes them on its `lock_connection` (the
    /// `default` connection in the skeleton, not the cache DB its counters use).
    locks: Option<CacheStore>,
    /// The default Redis connection's windows, for the `...WithRedis` middleware.
    windows: Option<DurationLimiter>,
    /// Whether the bus already ends jobs of cancelled batches unrun, before any middleware
    /// (so `SkipIfBatchCancelled` has nothing left to do).
    batch_skip: bool,
    policies: MiddlewarePolicies,
    laravel: Laravel,
}

/// Why a middleware could not be applied.
enum Cannot {
    /// The policy decides.
    Apply(String),
    /// The store failed.
    Store(CacheError),
}

impl From<CacheError> for Cannot {
    fn from(e: CacheError) -> Cannot {
        match e {
            CacheError::Unsupported { .. } => Cannot::Apply(e.to_string()),
            other => Cannot::Store(other),
        }
    }
}

impl MiddlewareRunner {
    /// A runner on the app's cache store for counters and `locks` for locks (`None`: the
    /// cache store; no store at all: only `Skip` and the policy work).
    pub fn new(
        cache: Option<CacheStore>,
        locks: Option<CacheStore>,
        policies: MiddlewarePolicies,
        laravel: impl Into<Laravel>,
    ) -> MiddlewareRunner {
        MiddlewareRunner {
            locks: locks.or_else(|| cache.clone()),
            cache,
            windows: None,
            batch_skip: false,
            policies,
            laravel: laravel.into(),
        }
    }

    /// Count `RateLimitedWithRedis` and `ThrottlesExceptionsWithRedis` in `windows` (the app's
    /// default Redis connection); without it they follow the unknown-middleware policy.
    pub fn with_duration_limiter(mut self, windows: DurationLimiter) -> MiddlewareRunner {
        self.windows = Some(windows);
        self
    }

    /// Say that the bus ends jobs of cancelled batches before their middleware, which is what
    /// `SkipIfBatchCancelled` asks (without it that middleware follows the policy).
    pub fn with_batch_skip(mut self, skips: bool) -> MiddlewareRunner {
        self.batch_skip = skips;
        self
    }

    /// The Redis windows of `connection` (`None`: the default connection).
    fn windows(&self, connection: &Option<String>) -> Result<&DurationLimiter, Cannot> {
        if let Some(other) = connection.as_deref().filter(|c| *c != "default") {
            return Err(Cannot::Apply(format!(
                "larq counts Redis limits on the default Redis connection only, not {:?}",
                crate::display::printable(other, crate::display::FIELD_LIMIT)
            )));
        }
        self.windows.as_ref().ok_or_else(|| {
            Cannot::Apply("the worker has no Redis connection for Redis limiters".to_owned())
        })
    }

    /// Apply the job's middleware in order; the first that stops the job decides.
    pub async fn enter(&self, registry: &Registry, payload: &Payload, resolved: &Resolved) -> Gate {
        let list = resolved.middleware();
        let mut held = Held::default();
        if list.is_empty() {
            return Gate::Run(held);
        }
        let class = payload.data.command_name.as_deref().unwrap_or_default();
        for m in &list {
            let step = match m {
                Middleware::Skip(true) => Ok(Some(Gate::Done)),
                Middleware::Skip(false) | Middleware::Release(None) => Ok(None),
                Middleware::Release(Some(delay)) => Ok(Some(Gate::Release(*delay))),
                Middleware::SkipIfBatchCancelled if self.batch_skip => Ok(None),
                Middleware::SkipIfBatchCancelled => Err(Cannot::Apply(
                    "the worker does not skip jobs of cancelled batches (no batch repository, or skip_cancelled_batches(false))".to_owned(),
                )),
                Middleware::FailOnException(classes) => {
                    held.fail_on.extend(classes.iter().cloned());
                    Ok(None)
                }
                Middleware::WithoutOverlapping(w) => self.overlap(w, payload, &mut held).await,
                Middleware::RateLimited(r) => self.rate_limit(r, registry, payload, resolved).await,
                Middleware::ThrottlesExceptions(t) => self.throttle(t, payload, &mut held).await,
                Middleware::Unknown(other) => Err(Cannot::Apply(format!(
                    "larq does not implement the job middleware {}",
                    crate::display::printable(other, crate::display::FIELD_LIMIT)
                ))),
            };
            let stop = match step {
                Ok(None) => continue,
                Ok(Some(gate)) => gate,
                Err(Cannot::Store(e)) => Gate::Error(JobError::with_class(
                    "Larq\\Queue\\MiddlewareStoreFailed",
                    format!("the cache store failed while applying the job middleware: {e}"),
                )),
                Err(Cannot::Apply(why)) => match self.policies.for_class(&policy_name(m)) {
                    UnknownMiddleware::RunWithout => {
                        tracing::warn!(job = %class, middleware = %policy_name(m), reason = %why, "running the job without a middleware larq cannot apply (policy run-without)");
                        held.run_without += 1;
                        continue;
                    }
                    UnknownMiddleware::HandBack => Gate::HandBack,
                    UnknownMiddleware::Fail => Gate::Fail(
                        JobError::with_class(
                            exceptions::UNSUPPORTED_MIDDLEWARE,
                            format!("{why}; the policy for {} is fail (see docs/laravel-features.md, job middleware)", policy_name(m)),
                        )
                        .permanent(),
                    ),
                },
            };
            // What earlier middleware took is given back: the job does not run. A throttle the
            // job passed sees a middleware inside it end the job normally: it clears its count.
            if matches!(stop, Gate::Release(_) | Gate::Done) {
                held.settle(false).await;
            }
            held.release().await;
            return stop;
        }
        Gate::Run(held)
    }

    fn store(&self) -> Result<&CacheStore, Cannot> {
        self.cache
            .as_ref()
            .ok_or_else(|| Cannot::Apply("the worker has no cache store".to_owned()))
    }

    /// `WithoutOverlapping::handle`: take the lock or release (or, without a release delay,
    /// end) the job.
    async fn overlap(
        &self,
        w: &WithoutOverlapping,
        payload: &Payload,
        held: &mut Held,
    ) -> Result<Option<Gate>, Cannot> {
        let cache = self
            .locks
            .as_ref()
            .ok_or_else(|| Cannot::Apply("the worker has no cache store".to_owned()))?;
        let class = payload.data.command_name.as_deref().unwrap_or_default();
        let display = payload.resolve_name();
        let job_name = if self.laravel.overlap_key_hashes_display_name() && display != class {
            format!("{:032x}", xxhash_rust::xxh3::xxh3_128(display.as_bytes()))
        } else {
            class.to_owned()
        };
        let name = w.lock_name(&job_name);
        let owner = owner();
        if cache.acquire_lock(&name, &owner, w.expires_after).await? {
            held.locks.push((cache.clone(), name, owner));
            return Ok(None);
        }
        Ok(Some(match w.release_after {
            Some(delay) => Gate::Release(delay),
            None => Gate::Done,
        }))
    }

    /// `ThrottlesExceptions::handle` up to `$next`: release the job while the key has had too
    /// many exceptions in its window, else let it through and remember the key for afterwards
    /// ([`Held::settle`]).
    async fn throttle(
        &self,
        t: &ThrottlesExceptions,
        payload: &Payload,
        held: &mut Held,
    ) -> Result<Option<Gate>, Cannot> {
        let class = payload.data.command_name.as_deref().unwrap_or_default();
        let display = payload.resolve_name();
        let xxh128 = self.laravel.throttle_key_hashes_display_name();
        let job_name = if xxh128 { display } else { class };
        let uuid = payload.uuid.as_deref().unwrap_or_default();
        let key = t.cache_key(job_name, uuid, xxh128);
        let now = crate::queue::now() as i64;
        let counter = match &t.redis {
            Some(connection) => {
                // ThrottlesExceptionsWithRedis: released until the window ends (no 3 s here).
                let windows = self.windows(connection)?;
                let window = windows.peek(&key, t.max_attempts, t.decay_seconds).await?;
                if window.remaining <= 0 {
                    return Ok(Some(Gate::Release((window.decays_at - now).max(0) as u64)));
                }
                Counter::Redis(windows.clone())
            }
            None => {
                let cache = self.store()?;
                if too_many_attempts(cache, &key, t.max_attempts).await? {
                    let available_at = int_entry(cache, &format!("{key}:timer"))
                        .await?
                        .unwrap_or(0);
                    return Ok(Some(Gate::Release((available_at - now).max(0) as u64 + 3)));
                }
                Counter::Cache(cache.clone())
            }
        };
        held.throttles.push(Throttle {
            counter,
            key,
            max_attempts: t.max_attempts,
            decay_seconds: t.decay_seconds,
            retry_after: t.retry_after_minutes.saturating_mul(60),
        });
        Ok(None)
    }

    /// `RateLimited::handle` with the limiter registered on the Rust side.
    async fn rate_limit(
        &self,
        r: &RateLimited,
        registry: &Registry,
        payload: &Payload,
        resolved: &Resolved,
    ) -> Result<Option<Gate>, Cannot> {
        let Some(rule) = registry.limiter_rule(&r.limiter) else {
            return Err(Cannot::Apply(format!(
                "no rate limiter {:?} is registered in larq (Registry::limiter)",
                crate::display::printable(&r.limiter, crate::display::FIELD_LIMIT)
            )));
        };
        let job = LimitedJob {
            class: payload.data.command_name.as_deref().unwrap_or_default(),
            command: resolved.command(),
            payload,
        };
        let limits = match rule(&job) {
            Limits::Unlimited => return Ok(None),
            Limits::Limited(limits) => limits,
        };
        let keys: Vec<(String, &crate::job::Limit)> = limits
            .iter()
            .map(|l| (limiter_key(&r.limiter, &l.key), l))
            .collect();
        if let Some(connection) = &r.redis {
            return self.rate_limit_redis(r, connection, &keys).await;
        }
        let cache = self.store()?;
        if self.laravel.rate_limits_checked_before_hits() {
            for (key, limit) in &keys {
                if too_many_attempts(cache, key, limit.max_attempts).await? {
                    return Ok(Some(self.limited_gate(cache, r, key).await?));
                }
            }
            for (key, limit) in &keys {
                hit(cache, key, limit.decay_seconds).await?;
            }
        } else {
            for (key, limit) in &keys {
                if too_many_attempts(cache, key, limit.max_attempts).await? {
                    return Ok(Some(self.limited_gate(cache, r, key).await?));
                }
                hit(cache, key, limit.decay_seconds).await?;
            }
        }
        Ok(None)
    }

    /// `RateLimitedWithRedis::handleJob`: a Redis window per limit; 13 first checks that every
    /// window has room, then takes a place in each, earlier versions take them one by one.
    async fn rate_limit_redis(
        &self,
        r: &RateLimited,
        connection: &Option<String>,
        keys: &[(String, &crate::job::Limit)],
    ) -> Result<Option<Gate>, Cannot> {
        let windows = self.windows(connection)?;
        if self.laravel.rate_limits_checked_before_hits() {
            for (key, limit) in keys {
                let window = windows
                    .peek(key, limit.max_attempts, limit.decay_seconds)
                    .await?;
                if window.remaining <= 0 {
                    return Ok(Some(redis_limited_gate(r, window.decays_at)));
                }
            }
        }
        for (key, limit) in keys {
            let window = windows
                .acquire(key, limit.max_attempts, limit.decay_seconds)
                .await?;
            if !window.acquired {
                return Ok(Some(redis_limited_gate(r, window.decays_at)));
            }
        }
        Ok(None)
    }

    /// A limited job: released until the window ends (plus PHP's 3 s), or ended.
    async fn limited_gate(
        &self,
        cache: &CacheStore,
        r: &RateLimited,
        key: &str,
    ) -> Result<Gate, Cannot> {
        if !r.should_release {
            return Ok(Gate::Done);
        }
        if let Some(delay) = r.release_after {
            return Ok(Gate::Release(delay));
        }
        let available_at = int_entry(cache, &format!("{key}:timer"))
            .await?
            .unwrap_or(0);
        let now = crate::queue::now() as i64;
        Ok(Gate::Release((available_at - now).max(0) as u64 + 3))
    }
}

/// A job a Redis window held back: released until the window ends plus PHP's 3 s (13:
/// `releaseAfter` when set), or ended (`dontRelease()`).
fn redis_limited_gate(r: &RateLimited, decays_at: i64) -> Gate {
    if !r.should_release {
        return Gate::Done;
    }
    if let Some(delay) = r.release_after {
        return Gate::Release(delay);
    }
    let now = crate::queue::now() as i64;
    Gate::Release((decays_at - now).max(0) as u64 + 3)
}

/// The policy name of a middleware: its class, or `RateLimited:<limiter>` for a limiter.
fn policy_name(m: &Middleware) -> String {
    match m {
        Middleware::RateLimited(r) => format!("RateLimited:{}", r.limiter),
        Middleware::WithoutOverlapping(_) => "WithoutOverlapping".to_owned(),
        Middleware::ThrottlesExceptions(_) => "ThrottlesExceptions".to_owned(),
        Middleware::Unknown(class) => class.clone(),
        other => format!("{other:?}"),
    }
}

/// A lock owner as Laravel makes one (`Str::random(16)`: letters and digits).
fn owner() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..16].to_owned()
}

/// `md5($limiterName.$limit->key)`: the entry the limiter counts in (hex has nothing
/// `cleanRateLimiterKey` would change).
fn limiter_key(limiter: &str, key: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(limiter.as_bytes());
    md5.update(key.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// An entry holding an integer (the Redis store keeps it as digits; other stores serialize).
async fn int_entry(cache: &CacheStore, name: &str) -> Result<Option<i64>, Cannot> {
    Ok(cache
        .get(name)
        .await?
        .as_deref()
        .and_then(crate::cache::php_int))
}

/// `RateLimiter::tooManyAttempts`: at the limit while the window's timer lives; a count whose
/// timer is gone is reset.
async fn too_many_attempts(cache: &CacheStore, key: &str, max: u64) -> Result<bool, Cannot> {
    let attempts = int_entry(cache, key).await?.unwrap_or(0);
    if attempts >= max as i64 {
        if int_entry(cache, &format!("{key}:timer")).await?.is_some() {
            return Ok(true);
        }
        cache.forget(key).await?;
    }
    Ok(false)
}

/// `RateLimiter::clear`: the count and its timer go.
async fn clear(cache: &CacheStore, key: &str) -> Result<(), Cannot> {
    cache.forget(key).await?;
    cache.forget(&format!("{key}:timer")).await?;
    Ok(())
}

/// `RateLimiter::hit`: start the window's timer and count once.
async fn hit(cache: &CacheStore, key: &str, decay: u64) -> Result<(), Cannot> {
    let now = crate::queue::now() as i64;
    cache
        .add_int(&format!("{key}:timer"), now + decay as i64, decay)
        .await?;
    let added = cache.add_int(key, 0, decay).await?;
    let hits = cache.increment(key, 1).await?;
    if !added && hits == 1 {
        cache.put_int(key, 1, decay).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_keys_are_php_md5() {
        // php -r 'echo md5("backups"."user-7");'
        assert_eq!(
            limiter_key("backups", "user-7"),
            "3d310107883d6c014aa09175df0d59dc"
        );
    }

    #[test]
    fn display_names_hash_as_php_xxh128() {
        // php -r 'echo hash("xxh128", "Send the newsletter");'
        assert_eq!(
            format!(
                "{:032x}",
                xxhash_rust::xxh3::xxh3_128(b"Send the newsletter")
            ),
            "95f25618c003b1dbdafda4460c2e0bf3"
        );
    }

    #[test]
    fn policies_fall_back_to_the_default() {
        let p = MiddlewarePolicies::new(UnknownMiddleware::HandBack)
            .class("App\\Middleware\\Tagged", UnknownMiddleware::RunWithout);
        assert_eq!(
            p.for_class("App\\Middleware\\Tagged"),
            UnknownMiddleware::RunWithout
        );
        assert_eq!(p.for_class("App\\Other"), UnknownMiddleware::HandBack);
        assert_eq!("hand-back".parse(), Ok(UnknownMiddleware::HandBack));
    }
}
