//! Dispatching from Rust: [`Dispatcher`] pushes a Rust value as a Laravel job that a real
//! `php artisan queue:work` (or larq) runs.
//!
//! What PHP's `dispatch(new SomeJob(...))` writes, larq writes (`Illuminate\Queue\Queue::createObjectPayload`): the command
//! is the job object serialized with the `Queueable` properties PHP expects after the job's own
//! (`job`, `connection`, `queue`, `chainConnection`, `chainQueue`, `chainCatchCallbacks`, `delay`,
//! `afterCommit`, `middleware`, `chained`, Laravel 8's order), and the envelope carries a fresh
//! uuid v4, `displayName`, `CallQueuedHandler@call`, the tries/backoff/timeout options, a 32
//! character `id` and `attempts` 0. A delay goes to `:delayed` like Laravel's `later`.
//!
//! ```no_run
//! # async fn demo(queue: std::sync::Arc<larq::RedisQueue>) -> Result<(), larq::dispatch::DispatchError> {
//! use larq::dispatch::{Dispatcher, PendingJob};
//!
//! #[derive(serde::Serialize)]
//! #[serde(rename = "App\\Jobs\\SomeJob", rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! let dispatcher = Dispatcher::new(queue, "default");
//! let job = PendingJob::new(&SomeJob { user_id: 42, some_param: "hello".into() })?
//!     .on_queue("emails")
//!     .tries(3)
//!     .backoff([10, 30]);
//! dispatcher.dispatch(job).await?;
//! # Ok(()) }
//! ```
//!
//! What larq cannot know about a PHP class it does not see: methods (`backoff()`, `retryUntil()`,
//! `displayName()`, `uniqueId()`), interfaces (`ShouldBeEncrypted`, `ShouldBeUnique`) and property
//! defaults. Set the matching options ([`PendingJob::encrypted`], [`PendingJob::tries`] ...)
//! yourself; a unique lock is not taken by a Rust dispatch.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use crate::crypt::{CryptError, Encrypter};
use crate::payload::queueable::QUEUEABLE_PROPERTIES;
use crate::payload::Payload;
use crate::php::{self, Key, Object, Property, Value};
use crate::queue::{Queue, QueueError, RedisQueue};

/// Why a job could not be dispatched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The Rust value could not be written as a PHP object.
    #[error("cannot serialize the job: {0}")]
    Serialize(#[from] php::Error),
    /// The value is not an object (a struct or a map with a class name).
    #[error("a job must serialize to a PHP object, not {0}")]
    NotAnObject(&'static str),
    /// Laravel puts the command inside JSON, which cannot hold non-UTF-8 bytes; PHP's
    /// `json_encode` refuses such a payload too.
    #[error("the {0} command holds bytes that are not UTF-8; encrypt the job or send text")]
    NotUtf8(String),
    /// `encrypted()` was asked for, but the dispatcher has no key.
    #[error("the {0} job is to be encrypted, but the dispatcher has no APP_KEY")]
    NoKey(String),
    /// Encrypting failed.
    #[error(transparent)]
    Crypt(#[from] CryptError),
    /// Redis refused the push.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The job names a connection this dispatcher does not push to.
    #[error("the {class} job asks for connection {connection:?}, which this dispatcher does not know (known: {known})")]
    UnknownConnection {
        /// The job class.
        class: String,
        /// The connection it names.
        connection: String,
        /// The connections the dispatcher knows.
        known: String,
    },
}

/// The options PHP reads from the job object at dispatch time (`$tries`, `$backoff`, ...) and the
/// ones set by `onQueue()`/`delay()`, for a job dispatched from Rust.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOptions {
    /// `onConnection()`: written into the command's `connection` property.
    pub connection: Option<String>,
    /// `onQueue()`: the queue pushed to, also written into the command's `queue` property.
    pub queue: Option<String>,
    /// `delay()` in seconds: the job goes to `:delayed`.
    pub delay: Option<u64>,
    /// `$tries` → payload `maxTries`.
    pub tries: Option<i64>,
    /// `$maxExceptions` → payload `maxExceptions`.
    pub max_exceptions: Option<i64>,
    /// `$failOnTimeout` → payload `failOnTimeout`.
    pub fail_on_timeout: bool,
    /// `$backoff` → payload `backoff` (`"10,30"`).
    pub backoff: Option<String>,
    /// `$timeout` → payload `timeout`.
    pub timeout: Option<i64>,
    /// `retryUntil()` as unix seconds → payload `retryUntil`.
    pub retry_until: Option<i64>,
    /// `ShouldBeEncrypted`: the command is encrypted with the app key.
    pub encrypt: bool,
    /// `displayName()`; the class name when unset.
    pub display_name: Option<String>,
    /// `$deleteWhenMissingModels` → payload `deleteWhenMissingModels` (Laravel 13's payload).
    pub delete_when_missing_models: bool,
    /// `$batchId` (`Batchable`) → payload `data.batchId` (Laravel 13's payload).
    pub batch_id: Option<String>,
}

/// One job to dispatch: its PHP class, its serialized properties and its options.
#[derive(Debug, Clone)]
pub struct PendingJob {
    object: Object<'static>,
    options: JobOptions,
}

fn opt_string(v: &Option<String>) -> Value<'static> {
    match v {
        Some(s) => Value::String(Cow::Owned(s.clone().into_bytes())),
        None => Value::Null,
    }
}

/// Set a public property in place, or append it.
pub(crate) fn set_prop(obj: &mut Object<'static>, name: &str, value: Value<'static>) {
    match obj.get_mut(name) {
        Some(slot) => *slot = value,
        None => obj.props.push(Property::public(name, value)),
    }
}

/// A PHP list (`a:n:{i:0;…}`) of byte strings.
pub(crate) fn string_list(items: impl IntoIterator<Item = Vec<u8>>) -> Value<'static> {
    Value::Array(
        items
            .into_iter()
            .enumerate()
            .map(|(i, s)| (Key::Int(i as i64), Value::String(Cow::Owned(s))))
            .collect(),
    )
}

impl PendingJob {
    /// A job from a serde value whose name is the PHP class
    /// (`#[serde(rename = "App\\Jobs\\SomeJob")]`).
    pub fn new<T: Serialize + ?Sized>(job: &T) -> Result<PendingJob, DispatchError> {
        PendingJob::from_value(php::to_value(job)?)
    }

    /// A job of class `class` from a struct or map, whatever its serde name.
    pub fn with_class<T: Serialize + ?Sized>(
        class: &str,
        job: &T,
    ) -> Result<PendingJob, DispatchError> {
        let bytes = php::to_vec_as(class, job)?;
        PendingJob::from_value(Value::parse(&bytes)?.into_owned())
    }

    /// A job from an object tree (e.g. one read back from another payload).
    pub fn from_value(value: Value<'static>) -> Result<PendingJob, DispatchError> {
        match value {
            Value::Object(object) => Ok(PendingJob {
                object,
                options: JobOptions::default(),
            }),
            other => Err(DispatchError::NotAnObject(other.type_name())),
        }
    }

    /// The PHP class.
    pub fn class(&self) -> &str {
        &self.object.class
    }

    /// The options so far.
    pub fn options(&self) -> &JobOptions {
        &self.options
    }

    /// Replace all options at once.
    pub fn with_options(mut self, options: JobOptions) -> PendingJob {
        self.options = options;
        self
    }

    /// `onQueue($queue)`.
    pub fn on_queue(mut self, queue: impl Into<String>) -> PendingJob {
        self.options.queue = Some(queue.into());
        self
    }

    /// `onConnection($connection)`.
    pub fn on_connection(mut self, connection: impl Into<String>) -> PendingJob {
        self.options.connection = Some(connection.into());
        self
    }

    /// `delay($seconds)`.
    pub fn delay(mut self, seconds: u64) -> PendingJob {
        self.options.delay = Some(seconds);
        self
    }

    /// `$tries` (0 = unlimited).
    pub fn tries(mut self, tries: i64) -> PendingJob {
        self.options.tries = Some(tries);
        self
    }

    /// `$maxExceptions`.
    pub fn max_exceptions(mut self, n: i64) -> PendingJob {
        self.options.max_exceptions = Some(n);
        self
    }

    /// `$backoff` as a list of seconds (`[10, 30]` → `"10,30"`).
    pub fn backoff(mut self, seconds: impl IntoIterator<Item = u64>) -> PendingJob {
        let list: Vec<String> = seconds.into_iter().map(|s| s.to_string()).collect();
        self.options.backoff = Some(list.join(","));
        self
    }

    /// `$timeout`.
    pub fn timeout(mut self, seconds: i64) -> PendingJob {
        self.options.timeout = Some(seconds);
        self
    }

    /// `$failOnTimeout`.
    pub fn fail_on_timeout(mut self, yes: bool) -> PendingJob {
        self.options.fail_on_timeout = yes;
        self
    }

    /// `retryUntil()` as unix seconds.
    pub fn retry_until(mut self, unix_seconds: i64) -> PendingJob {
        self.options.retry_until = Some(unix_seconds);
        self
    }

    /// `ShouldBeEncrypted`: encrypt the command with the dispatcher's key.
    pub fn encrypted(mut self) -> PendingJob {
        self.options.encrypt = true;
        self
    }

    /// The command object with the `Queueable` properties filled in, as PHP serializes it.
    fn command(&self, chain: Option<ChainFields>) -> Object<'static> {
        let mut obj = self.object.clone();
        // Missing Queueable properties are added with their defaults, in Laravel 8's order.
        for name in QUEUEABLE_PROPERTIES {
            if obj.get(name).is_none() {
                let default = match name {
                    "middleware" | "chained" => Value::Array(Vec::new()),
                    _ => Value::Null,
                };
                obj.props.push(Property::public(name, default));
            }
        }
        if self.options.connection.is_some() {
            set_prop(&mut obj, "connection", opt_string(&self.options.connection));
        }
        if self.options.queue.is_some() {
            set_prop(&mut obj, "queue", opt_string(&self.options.queue));
        }
        if let Some(d) = self.options.delay {
            set_prop(&mut obj, "delay", Value::Int(d.min(i64::MAX as u64) as i64));
        }
        if let Some(chain) = chain {
            set_prop(&mut obj, "chained", string_list(chain.chained));
            if chain.connection.is_some() {
                set_prop(&mut obj, "chainConnection", opt_string(&chain.connection));
            }
            if chain.queue.is_some() {
                set_prop(&mut obj, "chainQueue", opt_string(&chain.queue));
            }
            // PendingChain::dispatch sets the catch callbacks, `[]` when there are none.
            set_prop(&mut obj, "chainCatchCallbacks", Value::Array(Vec::new()));
        }
        obj
    }

    /// `serialize($job)` of this job as PHP would write it at dispatch (no chain).
    pub fn command_bytes(&self) -> Vec<u8> {
        Value::Object(self.command(None)).to_bytes()
    }
}

struct ChainFields {
    chained: Vec<Vec<u8>>,
    connection: Option<String>,
    queue: Option<String>,
}

/// `Bus::chain([...])`: jobs that run one after the other, each dispatched when the previous one
/// succeeded (by PHP's worker or larq's, whichever owns the class).
#[derive(Debug, Clone)]
pub struct Chain {
    jobs: Vec<PendingJob>,
    queue: Option<String>,
    connection: Option<String>,
}

impl Chain {
    /// A chain of these jobs, first to last.
    pub fn new(jobs: impl IntoIterator<Item = PendingJob>) -> Chain {
        Chain {
            jobs: jobs.into_iter().collect(),
            queue: None,
            connection: None,
        }
    }

    /// `->onQueue()`: the queue of every link that does not name its own.
    pub fn on_queue(mut self, queue: impl Into<String>) -> Chain {
        self.queue = Some(queue.into());
        self
    }

    /// `->onConnection()`: the connection of every link that does not name its own.
    pub fn on_connection(mut self, connection: impl Into<String>) -> Chain {
        self.connection = Some(connection.into());
        self
    }
}

/// What a dispatch pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// The payload uuid.
    pub uuid: String,
    /// The Redis payload id, or the database row id.
    pub id: String,
    /// The queue it went to.
    pub queue: String,
    /// The JSON pushed.
    pub payload: String,
}

/// Pushes jobs onto one Laravel Redis queue connection, as PHP's `dispatch()` does.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    queue: Arc<Queue>,
    default_queue: String,
    encrypter: Option<Encrypter>,
    aliases: Vec<(String, String)>,
    laravel_version: u8,
}

impl Dispatcher {
    /// A dispatcher for a Redis connection; `default_queue` is the connection's `queue` setting
    /// (`REDIS_QUEUE`, usually `default`), used for jobs that name none.
    pub fn new(queue: Arc<RedisQueue>, default_queue: impl Into<String>) -> Dispatcher {
        Dispatcher::for_queue(Arc::new(Queue::Redis(queue)), default_queue)
    }

    /// A dispatcher for any queue connection the worker works (Redis or the database `jobs`
    /// table), so chains and batches continue on the connection their first job came from.
    pub fn for_queue(queue: Arc<Queue>, default_queue: impl Into<String>) -> Dispatcher {
        Dispatcher {
            queue,
            default_queue: default_queue.into(),
            encrypter: None,
            aliases: Vec::new(),
            laravel_version: 8,
        }
    }

    /// Write the payload shape of this Laravel major version (default 8; 8 to 12 share one
    /// shape, 13 adds fields: [`Payload::add_laravel_13_fields`]).
    pub fn with_laravel_version(mut self, laravel_version: u8) -> Dispatcher {
        self.laravel_version = laravel_version;
        self
    }

    /// The Laravel major version whose payloads this dispatcher writes.
    pub fn laravel_version(&self) -> u8 {
        self.laravel_version
    }

    /// Encrypt `ShouldBeEncrypted` jobs with the app's key.
    pub fn with_encrypter(mut self, encrypter: Encrypter) -> Dispatcher {
        self.encrypter = Some(encrypter);
        self
    }

    /// Another connection name of the app that uses the same Redis server and prefix, with its
    /// own default queue (the fixture app's `redis-high` → `high`): jobs naming it are pushed here.
    pub fn with_connection(
        mut self,
        name: impl Into<String>,
        default_queue: impl Into<String>,
    ) -> Dispatcher {
        self.aliases.push((name.into(), default_queue.into()));
        self
    }

    /// The encrypter, if any.
    pub fn encrypter(&self) -> Option<&Encrypter> {
        self.encrypter.as_ref()
    }

    /// The queue a job goes to: its own, else its connection's default.
    fn target_queue(&self, class: &str, options: &JobOptions) -> Result<String, DispatchError> {
        let connection_default = match options.connection.as_deref().filter(|c| !c.is_empty()) {
            None => self.default_queue.clone(),
            Some(c) if c == self.queue.connection_name() => self.default_queue.clone(),
            Some(c) => match self.aliases.iter().find(|(name, _)| name == c) {
                Some((_, q)) => q.clone(),
                None => return Err(self.unknown_connection(class, c)),
            },
        };
        Ok(options
            .queue
            .clone()
            .filter(|q| !q.is_empty())
            .unwrap_or(connection_default))
    }

    fn unknown_connection(&self, class: &str, connection: &str) -> DispatchError {
        let mut known = vec![self.queue.connection_name().to_owned()];
        known.extend(self.aliases.iter().map(|(n, _)| n.clone()));
        DispatchError::UnknownConnection {
            class: class.to_owned(),
            connection: connection.to_owned(),
            known: known.join(", "),
        }
    }

    /// Whether a connection name is one this dispatcher pushes to.
    pub fn knows_connection(&self, connection: &str) -> bool {
        connection.is_empty()
            || connection == self.queue.connection_name()
            || self.aliases.iter().any(|(n, _)| n == connection)
    }

    /// Build the payload JSON for a serialized command (used for new jobs and chain links).
    pub fn payload_for(
        &self,
        class: &str,
        command: &[u8],
        options: &JobOptions,
    ) -> Result<Payload, DispatchError> {
        let command = if options.encrypt {
            let enc = self
                .encrypter
                .as_ref()
                .ok_or_else(|| DispatchError::NoKey(class.to_owned()))?;
            enc.encrypt_command(command)?
        } else {
            String::from_utf8(command.to_vec())
                .map_err(|_| DispatchError::NotUtf8(class.to_owned()))?
        };
        let mut payload = Payload::for_command(class, command);
        if let Some(name) = &options.display_name {
            payload.display_name = Some(name.clone());
        }
        payload.max_tries = options.tries;
        payload.max_exceptions = options.max_exceptions;
        payload.fail_on_timeout = Some(options.fail_on_timeout);
        payload.backoff = options.backoff.clone();
        payload.timeout = options.timeout;
        payload.retry_until = options.retry_until;
        if crate::laravel::Laravel::nearest(self.laravel_version).writes_13_payload_fields() {
            payload.add_laravel_13_fields(
                crate::queue::now().min(i64::MAX as u64) as i64,
                options.delay.map(|d| d.min(i64::MAX as u64) as i64),
                options.batch_id.clone(),
                options.delete_when_missing_models,
            );
        }
        Ok(payload)
    }

    /// Push a finished command (serialized object bytes) with its options: `later` when it has a
    /// delay, else `push`.
    pub async fn push_command(
        &self,
        class: &str,
        command: &[u8],
        options: &JobOptions,
    ) -> Result<Dispatched, DispatchError> {
        let queue = self.target_queue(class, options)?;
        let mut payload = self.payload_for(class, command, options)?;
        if let Queue::Database(db) = &*self.queue {
            // The database driver's payload has no id or attempts: the row holds both.
            payload.id = None;
            payload.attempts = None;
            let json = payload.to_json();
            let row = db
                .later(&queue, options.delay.unwrap_or(0), json.as_bytes())
                .await?;
            return Ok(Dispatched {
                uuid: payload.uuid.unwrap_or_default(),
                id: row.to_string(),
                queue,
                payload: json,
            });
        }
        if let Queue::RabbitMq(_) = &*self.queue {
            // The package's payload: `id` is a uuid (its `getRandomId`), and the attempts
            // travel in the message's `laravel.attempts` header, not in the body.
            payload.id = Some(uuid::Uuid::new_v4().to_string());
            payload.attempts = None;
        }
        let json = payload.to_json();
        match options.delay {
            Some(delay) => self.queue.later(&queue, delay, json.as_bytes()).await?,
            None => {
                self.queue.push(&queue, json.as_bytes()).await?;
            }
        }
        Ok(Dispatched {
            uuid: payload.uuid.unwrap_or_default(),
            id: payload.id.unwrap_or_default(),
            queue,
            payload: json,
        })
    }

    /// `dispatch($job)`.
    pub async fn dispatch(&self, job: PendingJob) -> Result<Dispatched, DispatchError> {
        let command = job.command_bytes();
        self.push_command(job.class(), &command, &job.options).await
    }

    /// `Bus::chain([...])->dispatch()`: the first job is pushed with the others serialized into
    /// its `chained` property; each later link is pushed when the one before succeeds.
    pub async fn dispatch_chain(&self, chain: Chain) -> Result<Dispatched, DispatchError> {
        let mut jobs = chain.jobs.into_iter();
        let Some(mut first) = jobs.next() else {
            return Err(DispatchError::NotAnObject("an empty chain"));
        };
        // Each later link is `serialize($job)` as it stands: its own queue/connection or none.
        let chained: Vec<Vec<u8>> = jobs.map(|j| j.command_bytes()).collect();
        if chain.connection.is_some() && first.options.connection.is_none() {
            first.options.connection = chain.connection.clone();
        }
        if chain.queue.is_some() && first.options.queue.is_none() {
            first.options.queue = chain.queue.clone();
        }
        let command = Value::Object(first.command(Some(ChainFields {
            chained,
            connection: chain.connection,
            queue: chain.queue,
        })))
        .to_bytes();
        self.push_command(first.class(), &command, &first.options)
            .await
    }
}

/// Read the options PHP's `createPayload` would take from a job object's properties: `tries`,
/// `maxExceptions`, `failOnTimeout`, `backoff` (int or list), `timeout`, `retryUntil` (int), and
/// `delay` (int seconds). Methods of the PHP class (`backoff()`, `retryUntil()`) are not visible in
/// the serialized object and so are not applied.
pub fn options_from_command(obj: &Object<'_>) -> JobOptions {
    let int = |name: &str| match obj.get(name) {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::String(s)) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
        _ => None,
    };
    let string = |name: &str| match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    };
    let backoff = match obj.get("backoff") {
        Some(Value::Int(i)) => Some(i.to_string()),
        Some(Value::String(s)) => Some(String::from_utf8_lossy(s).into_owned()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|(_, v)| match v {
                    Value::Int(i) => i.to_string(),
                    Value::String(s) => String::from_utf8_lossy(s).into_owned(),
                    Value::Float(f) => (f.value as i64).to_string(),
                    _ => "0".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    JobOptions {
        connection: string("connection"),
        queue: string("queue"),
        delay: obj.get("delay").and_then(delay_seconds),
        tries: int("tries"),
        max_exceptions: int("maxExceptions"),
        fail_on_timeout: matches!(obj.get("failOnTimeout"), Some(Value::Bool(true))),
        backoff,
        timeout: int("timeout"),
        retry_until: int("retryUntil"),
        encrypt: matches!(obj.get("shouldBeEncrypted"), Some(Value::Bool(true))),
        display_name: None,
        delete_when_missing_models: matches!(
            obj.get("deleteWhenMissingModels"),
            Some(Value::Bool(true))
        ),
        batch_id: string("batchId").filter(|s| !s.is_empty()),
    }
}

/// A job's `delay` property as seconds from now: an int, a Carbon/DateTime in UTC (`date` +
/// `timezone` "UTC"/"+00:00"), or a DateInterval without years/months. Other forms (local time
/// zones, months) are not interpreted: `None`, i.e. no delay.
fn delay_seconds(v: &Value<'_>) -> Option<u64> {
    match v {
        Value::Int(i) => Some((*i).max(0) as u64),
        Value::Object(o) => {
            let text = |name: &str| o.get(name).and_then(Value::as_str);
            let int = |name: &str| o.get(name).and_then(Value::as_i64).unwrap_or(0);
            if let (Some(date), Some(tz)) = (text("date"), text("timezone")) {
                if !matches!(tz, "UTC" | "+00:00" | "Z") {
                    return None;
                }
                let at = chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S%.f")
                    .ok()?
                    .and_utc()
                    .timestamp();
                return Some((at - chrono::Utc::now().timestamp()).max(0) as u64);
            }
            if o.get("invert").is_some() && int("y") == 0 && int("m") == 0 && int("invert") == 0 {
                let secs = int("d") * 86_400 + int("h") * 3_600 + int("i") * 60 + int("s");
                return Some(secs.max(0) as u64);
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename = "App\\Jobs\\SomeJob", rename_all = "camelCase")]
    struct SomeJob {
        user_id: i64,
        some_param: String,
    }

    #[test]
    fn command_matches_what_laravel_8_writes() {
        // The corpus's some_job.json command, byte for byte.
        let job = PendingJob::new(&SomeJob {
            user_id: 42,
            some_param: "hello".into(),
        })
        .unwrap();
        let corpus = include_str!("../php-fixtures/corpus/laravel-8/some_job.json");
        let payload = Payload::from_slice(corpus.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(job.command_bytes()).unwrap(),
            payload.data.command.unwrap()
        );
    }

    #[test]
    fn queue_and_delay_are_written_into_the_command() {
        let job = PendingJob::new(&SomeJob {
            user_id: 1,
            some_param: "x".into(),
        })
        .unwrap()
        .on_queue("emails")
        .delay(30);
        let bytes = job.command_bytes();
        let v = Value::parse(&bytes).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.get("queue").and_then(Value::as_str), Some("emails"));
        assert_eq!(obj.get("delay").and_then(Value::as_i64), Some(30));
        assert_eq!(obj.props.len(), 12);
    }

    #[test]
    fn options_are_read_from_properties() {
        let bytes = br#"O:1:"X":5:{s:5:"tries";i:3;s:7:"backoff";a:2:{i:0;i:5;i:1;i:10;}s:7:"timeout";i:9;s:5:"queue";s:1:"q";s:5:"delay";i:4;}"#;
        let v = Value::parse(bytes).unwrap();
        let o = options_from_command(v.as_object().unwrap());
        assert_eq!(o.tries, Some(3));
        assert_eq!(o.backoff.as_deref(), Some("5,10"));
        assert_eq!(o.timeout, Some(9));
        assert_eq!(o.queue.as_deref(), Some("q"));
        assert_eq!(o.delay, Some(4));
        assert!(!o.encrypt);
    }

    #[test]
    fn delays_from_ints_carbon_and_intervals() {
        let corpus = |name: &str| {
            let path = format!(
                "{}/php-fixtures/corpus/laravel-8/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let p = Payload::from_slice(&std::fs::read(path).unwrap()).unwrap();
            p.data.command.unwrap()
        };
        let delay = |name: &str| {
            let c = corpus(name);
            let v = Value::parse(c.as_bytes()).unwrap();
            options_from_command(v.as_object().unwrap()).delay
        };
        assert_eq!(delay("delayed_seconds_job"), Some(60));
        assert_eq!(delay("delayed_interval_job"), Some(90));
        // The corpus Carbon is 2030-01-02 03:04:05 UTC.
        let expected = 1_893_553_445 - chrono::Utc::now().timestamp();
        let got = delay("delayed_carbon_job").unwrap() as i64;
        assert!((got - expected).abs() <= 2, "{got} vs {expected}");
        assert_eq!(delay("some_job"), None);
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(matches!(
            PendingJob::new(&5),
            Err(DispatchError::NotAnObject("integer"))
        ));
    }
}
