//! Jobs and handlers: the Rust side of a PHP job class.
//!
//! A Laravel app dispatches `new App\Jobs\SomeJob(42, 'x')`; the payload carries the PHP class name
//! (`data.commandName`) and the object's serialized properties (`data.command`). In Rust, a job is
//! a serde struct with the same properties that implements [`Job`]; the [`Registry`] maps class
//! names to those types, decodes the command with [`crate::php::from_bytes`] and runs `handle`.
//!
//! ```
//! use larq::job::{Job, JobContext, JobError, Registry};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! impl Job for SomeJob {
//!     const CLASS: &'static str = "App\\Jobs\\SomeJob";
//!     async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
//!         if self.user_id < 0 {
//!             ctx.release(30); // try again in 30 s, as `$this->release(30)`
//!             return Ok(());
//!         }
//!         println!("Processing user ID: {} with param: {}", self.user_id, self.some_param);
//!         Ok(())
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register::<SomeJob>();
//! assert!(registry.contains("App\\Jobs\\SomeJob"));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::crypt::Encrypter;
use crate::model::{ModelError, Models};
use crate::payload::queueable::Queueable;
use crate::payload::Payload;

pub mod events;
mod listener;
pub mod middleware;

pub use self::listener::Listener;
pub use self::middleware::{Limit, Limits, Middleware};

/// Which of Laravel's unique interfaces the PHP class implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// `ShouldBeUnique`: locked until the job is processed (succeeded or failed).
    UntilProcessed,
    /// `ShouldBeUniqueUntilProcessing`: locked until the job starts.
    UntilProcessing,
}

/// A queued job type: the Rust twin of a PHP job class.
///
/// Implement it for a `#[derive(Deserialize)]` struct whose fields are the PHP class's properties
/// (Laravel's own `job`, `connection`, `queue`, ... can be left out: unknown properties are
/// skipped). `handle` can be written as an `async fn`.
pub trait Job: DeserializeOwned + Send + 'static {
    /// The PHP class this type answers to, as in `data.commandName` (`App\Jobs\SomeJob`).
    const CLASS: &'static str;

    /// Run the job. An `Err` counts as an exception: the worker retries or fails the job per its
    /// tries, backoff and maxExceptions, as `queue:work` does.
    fn handle(self, ctx: &mut JobContext) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Called once the job has failed for good (the PHP job's `failed($e)` method), after the
    /// failed_jobs row is written. Not called when the command could not be decoded.
    fn failed(self, ctx: &JobContext, error: &JobError) -> impl Future<Output = ()> + Send {
        let _ = (ctx, error);
        async {}
    }

    /// The PHP class's `middleware()` method: job middleware the worker applies before
    /// `handle`, ahead of any the payload carries (`->through([...])`), with the keys PHP uses
    /// (see [`crate::middleware`]). PHP cannot tell larq what the method returns, so the Rust
    /// twin repeats it.
    fn middleware(&self) -> Vec<Middleware> {
        Vec::new()
    }

    /// Whether the PHP class implements `ShouldBeUnique` (or `ShouldBeUniqueUntilProcessing`).
    /// The payload does not say so, so the handler does: larq then releases the
    /// `laravel_unique_job:` lock when Laravel would (see [`crate::unique`]).
    const UNIQUE: Option<Unique> = None;

    /// The PHP class's declared `$deleteWhenMissingModels`: what happens when a model the job
    /// carries is gone (delete silently, or fail at once). Laravel 13 puts it in the payload,
    /// which wins; up to 12 PHP reads the class's default, which the command carries only on 8
    /// (9+ leave out properties equal to their default), so the Rust twin repeats it. `None`:
    /// read the command's property as that version writes it.
    const DELETE_WHEN_MISSING_MODELS: Option<bool> = None;

    /// The PHP class's `uniqueId()`, for unique jobs whose id comes from a method; `None` reads the
    /// `uniqueId` property instead (and `''` when there is none, as Laravel does).
    fn unique_id(&self) -> Option<String> {
        None
    }
}

/// An exception from a job, shaped like PHP's so failed_jobs shows something `queue:failed` can
/// display: `Class: message in file:line`.
///
/// Any `std::error::Error` converts into it with `?`; the location recorded is where the `?` (or
/// [`JobError::new`]) was written.
pub struct JobError {
    class: Cow<'static, str>,
    message: String,
    file: Cow<'static, str>,
    line: u32,
    permanent: bool,
    /// A model's row was gone when the handler loaded it ([`crate::model::ModelError::NotFound`]).
    missing_model: bool,
}

/// Exception class names larq writes for failures that have no PHP exception of their own.
pub mod exceptions {
    /// A handler returned an error built from a message.
    pub const HANDLER: &str = "RuntimeException";
    /// A handler panicked.
    pub const PANIC: &str = "Larq\\Queue\\HandlerPanicked";
    /// The payload or its command could not be decoded.
    pub const UNDECODABLE: &str = "Larq\\Queue\\UndecodableJob";
    /// No handler is registered for the class.
    pub const UNKNOWN: &str = "Larq\\Queue\\UnknownJob";
    /// Laravel's exception for a job tried too often or for too long.
    pub const MAX_ATTEMPTS: &str = "Illuminate\\Queue\\MaxAttemptsExceededException";
    /// Laravel 10.10+'s timeout exception.
    pub const TIMEOUT: &str = "Illuminate\\Queue\\TimeoutExceededException";
    /// `$this->fail('message')`.
    pub const MANUAL: &str = "Illuminate\\Queue\\ManuallyFailedException";
    /// The job's middleware cannot be applied by larq and its policy is `fail`.
    pub const UNSUPPORTED_MIDDLEWARE: &str = "Larq\\Queue\\UnsupportedMiddleware";
    /// A serialized model's row is gone (see [`crate::model`]).
    pub const MODEL_NOT_FOUND: &str = crate::model::MODEL_NOT_FOUND;
}

impl JobError {
    /// An error with a message (`RuntimeException`, like PHP's generic one).
    #[track_caller]
    pub fn new(message: impl Into<String>) -> JobError {
        JobError::with_class(exceptions::HANDLER, message)
    }

    /// An error with an explicit exception class name.
    #[track_caller]
    pub fn with_class(class: impl Into<Cow<'static, str>>, message: impl Into<String>) -> JobError {
        let at = Location::caller();
        JobError {
            class: class.into(),
            message: message.into(),
            file: Cow::Borrowed(at.file()),
            line: at.line(),
            permanent: false,
            missing_model: false,
        }
    }

    /// Fail the job at once, whatever its tries (a retry could not succeed: the payload is broken).
    pub fn permanent(mut self) -> JobError {
        self.permanent = true;
        self
    }

    /// Record a location other than the caller's (e.g. a panic's).
    pub fn at(mut self, file: impl Into<Cow<'static, str>>, line: u32) -> JobError {
        self.file = file.into();
        self.line = line;
        self
    }

    /// The exception class name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the job must fail without retries.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// Whether a model the job carried was gone when the handler loaded it: the worker then
    /// deletes the job (`deleteWhenMissingModels`) or fails it at once, as PHP's worker does
    /// when unserializing the command throws `ModelNotFoundException`.
    pub fn is_missing_model(&self) -> bool {
        self.missing_model
    }

    /// The text PHP's `(string) $exception` would give, for failed_jobs.exception.
    pub fn to_php_string(&self) -> String {
        format!(
            "{}: {} in {}:{}\nStack trace:\n#0 {{main}}",
            self.class, self.message, self.file, self.line
        )
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self, self.file, self.line)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for JobError {
    #[track_caller]
    fn from(e: E) -> JobError {
        // A missing model keeps PHP's exception class, and the worker's treatment of it.
        let any: &dyn std::any::Any = &e;
        if let Some(missing @ crate::model::ModelError::NotFound { .. }) = any.downcast_ref() {
            let mut err = JobError::with_class(exceptions::MODEL_NOT_FOUND, missing.to_string());
            err.missing_model = true;
            return err;
        }
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        JobError::new(message)
    }
}

/// What a handler asked for besides returning.
#[derive(Debug)]
pub(crate) enum Action {
    Release(u64),
    Fail(JobError),
    Delete,
}

/// What a running job can see and do: Laravel's `InteractsWithQueue` (`attempts()`, `release()`,
/// `fail()`, `delete()`), plus the payload.
#[derive(Debug)]
pub struct JobContext {
    attempts: i64,
    queue: String,
    connection: String,
    payload: Arc<Payload>,
    raw: Arc<[u8]>,
    models: Option<Models>,
    pub(crate) action: Option<Action>,
}

impl JobContext {
    /// A context for a job (the worker builds these; public for testing handlers).
    pub fn new(
        payload: Arc<Payload>,
        raw: Arc<[u8]>,
        attempts: i64,
        queue: impl Into<String>,
        connection: impl Into<String>,
    ) -> JobContext {
        JobContext {
            attempts,
            queue: queue.into(),
            connection: connection.into(),
            payload,
            raw,
            models: None,
            action: None,
        }
    }

    /// The same context with a model loader (the worker's, when it has one).
    pub fn with_models(mut self, models: Option<Models>) -> JobContext {
        self.models = models;
        self
    }

    /// The app's models (see [`crate::model`]): [`ModelError::NoDatabase`] when the worker
    /// was built without a database for them.
    pub fn models(&self) -> Result<&Models, ModelError> {
        self.models.as_ref().ok_or(ModelError::NoDatabase)
    }

    /// Attempts including this one: 1 on the first run.
    pub fn attempts(&self) -> i64 {
        self.attempts
    }

    /// The payload's uuid.
    pub fn uuid(&self) -> Option<&str> {
        self.payload.uuid.as_deref()
    }

    /// The driver's job id (what `queue:work` prints).
    pub fn job_id(&self) -> Option<&str> {
        self.payload.id.as_deref()
    }

    /// The queue name (`default`).
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The connection name (`redis`).
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The parsed payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload bytes as popped.
    pub fn raw_body(&self) -> &[u8] {
        &self.raw
    }

    /// Put the job back to run again after `delay` seconds (`$this->release($delay)`). The job keeps
    /// its attempt count.
    pub fn release(&mut self, delay: u64) {
        self.action = Some(Action::Release(delay));
    }

    /// Fail the job now, whatever its tries (`$this->fail('reason')`).
    #[track_caller]
    pub fn fail(&mut self, message: impl Into<String>) {
        self.action = Some(Action::Fail(JobError::with_class(
            exceptions::MANUAL,
            message,
        )));
    }

    /// Fail the job now with a given error.
    pub fn fail_with(&mut self, error: JobError) {
        self.action = Some(Action::Fail(error));
    }

    /// Remove the job without running it again (`$this->delete()`).
    pub fn delete(&mut self) {
        self.action = Some(Action::Delete);
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A job type with its type erased, so the registry can hold many.
pub(crate) trait Handler: Send + Sync {
    fn handle<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), JobError>>;

    fn failed<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a JobContext,
        error: &'a JobError,
    ) -> BoxFuture<'a, ()>;

    /// The middleware the decoded command's [`Job::middleware`] returns.
    fn middleware(&self, command: &[u8]) -> Vec<Middleware> {
        let _ = command;
        Vec::new()
    }

    /// `ShouldBeUnique` mode of the class, if any.
    fn unique(&self) -> Option<Unique> {
        None
    }

    /// The class's [`Job::DELETE_WHEN_MISSING_MODELS`].
    fn delete_when_missing_models(&self) -> Option<bool> {
        None
    }

    /// The `uniqueId()` a decoded command gives, if the handler knows one.
    fn unique_id(&self, command: &[u8]) -> Option<String> {
        let _ = command;
        None
    }
}

struct Typed<J>(PhantomData<fn() -> J>);

fn decode<J: Job>(command: &[u8]) -> Result<J, JobError> {
    crate::php::from_bytes::<J>(command).map_err(|e| {
        JobError::with_class(
            exceptions::UNDECODABLE,
            format!("cannot decode the {} command: {e}", J::CLASS),
        )
        .permanent()
    })
}

impl<J: Job> Handler for Typed<J> {
    fn handle<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { decode::<J>(command)?.handle(ctx).await })
    }

    fn failed<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a JobContext,
        error: &'a JobError,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(job) = decode::<J>(command) {
                job.failed(ctx, error).await;
            }
        })
    }

    fn unique(&self) -> Option<Unique> {
        J::UNIQUE
    }

    fn delete_when_missing_models(&self) -> Option<bool> {
        J::DELETE_WHEN_MISSING_MODELS
    }

    fn middleware(&self, command: &[u8]) -> Vec<Middleware> {
        decode::<J>(command)
            .map(|job| job.middleware())
            .unwrap_or_default()
    }

    fn unique_id(&self, command: &[u8]) -> Option<String> {
        decode::<J>(command).ok()?.unique_id()
    }
}

/// A job ready to run: its handler and its decoded-to-bytes command.
#[derive(Clone)]
pub struct Resolved {
    handler: Arc<dyn Handler>,
    command: Arc<[u8]>,
    /// The command's trait properties, read on first use (only chains, batches and unique locks
    /// need them) and then shared by every step that does.
    queueable: Arc<std::sync::OnceLock<Queueable>>,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("command_len", &self.command.len())
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// Decode the command and run the handler.
    pub async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        self.handler.handle(&self.command, ctx).await
    }

    /// Decode the command again and run the job's `failed` hook.
    pub async fn failed(&self, ctx: &JobContext, error: &JobError) {
        self.handler.failed(&self.command, ctx, error).await
    }

    /// The serialized command object (decrypted when it was encrypted).
    pub fn command(&self) -> &[u8] {
        &self.command
    }

    /// The command's `Queueable`/`Batchable` properties, read once. A command that cannot be
    /// read has none (its handler reports the decode error).
    pub fn queueable(&self) -> &Queueable {
        self.queueable
            .get_or_init(|| Queueable::from_command(&self.command).unwrap_or_default())
    }

    /// The handler's `ShouldBeUnique` mode.
    pub fn unique(&self) -> Option<Unique> {
        self.handler.unique()
    }

    /// The handler's [`Job::DELETE_WHEN_MISSING_MODELS`].
    pub fn delete_when_missing_models(&self) -> Option<bool> {
        self.handler.delete_when_missing_models()
    }

    /// The unique id from the handler's [`Job::unique_id`], if it has one.
    pub fn unique_id(&self) -> Option<String> {
        self.handler.unique_id(&self.command)
    }

    /// The job's middleware as `CallQueuedHandler` merges it: the class's own
    /// ([`Job::middleware`]) first, then the command's `middleware` property.
    pub fn middleware(&self) -> Vec<Middleware> {
        let mut all = self.handler.middleware(&self.command);
        all.extend(middleware::from_property(Some(
            &self.queueable().middleware,
        )));
        all
    }
}

/// The PHP classes this worker can run, by `data.commandName`.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
    /// Queued event listeners by `Listener\Class@method` (see [`crate::wrappers`]).
    pub(crate) listeners: HashMap<String, Arc<dyn Handler>>,
    encrypter: Option<Encrypter>,
    limiters: HashMap<String, Arc<middleware::LimiterFn>>,
    observers: events::Observers,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut classes: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        classes.sort_unstable();
        f.debug_struct("Registry")
            .field("classes", &classes)
            .field("encrypter", &self.encrypter.is_some())
            .field("limiters", &self.limiters.keys().collect::<Vec<_>>())
            .field("observers", &!self.observers.is_empty())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Answer `J::CLASS` with `J` (a later registration of the same class replaces it).
    pub fn register<J: Job>(&mut self) -> &mut Registry {
        self.handlers
            .insert(J::CLASS.to_owned(), Arc::new(Typed::<J>(PhantomData)));
        self
    }

    /// Builder form of [`Registry::register`].
    pub fn with<J: Job>(mut self) -> Registry {
        self.register::<J>();
        self
    }

    /// Register the rate limiter `name` (PHP's `RateLimiter::for($name, ...)`), which
    /// `RateLimited($name)` middleware applies. A job naming a limiter registered on neither side
    /// runs unlimited, as in PHP.
    pub fn limiter(
        mut self,
        name: impl Into<String>,
        rule: impl Fn(&middleware::LimitedJob<'_>) -> Limits + Send + Sync + 'static,
    ) -> Registry {
        self.limiters.insert(name.into(), Arc::new(rule));
        self
    }

    /// Tell `observer` about every job the worker runs on this registry, at the points PHP's
    /// worker raises its queue events (see [`events`]). Several observers hear each event in
    /// the order they were added.
    pub fn observe(&mut self, observer: impl events::QueueObserver) -> &mut Registry {
        self.observers.push(Arc::new(observer));
        self
    }

    /// The observers [`Registry::observe`] added.
    pub(crate) fn observers(&self) -> &events::Observers {
        &self.observers
    }

    /// The limiter registered under `name`.
    pub fn limiter_rule(&self, name: &str) -> Option<&middleware::LimiterFn> {
        self.limiters.get(name).map(|f| f.as_ref())
    }

    /// Decrypt `ShouldBeEncrypted` commands with the app's key.
    pub fn set_encrypter(&mut self, encrypter: Encrypter) -> &mut Registry {
        self.encrypter = Some(encrypter);
        self
    }

    /// The encrypter set with [`Registry::set_encrypter`].
    pub fn encrypter(&self) -> Option<&Encrypter> {
        self.encrypter.as_ref()
    }

    /// Whether a class has a handler.
    pub fn contains(&self, class: &str) -> bool {
        self.handlers.contains_key(class)
    }

    /// The registered class names, sorted.
    pub fn classes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Find the handler for a payload and get its command bytes (decrypting if needed). Errors are
    /// permanent: neither an unknown class nor a broken command gets better on retry.
    pub fn resolve(&self, payload: &Payload) -> Result<Resolved, JobError> {
        // PHP's worker resolves `job` ("Class@method") from its container and calls it; only
        // CallQueuedHandler@call runs data.command. Running the command for any other `job`
        // would run a job PHP refuses (`Target class [App\Evil] does not exist.`) or runs
        // differently.
        if payload.job.as_deref() != Some(crate::payload::CALL_QUEUED_HANDLER) {
            let job = crate::display::printable(
                payload.job.as_deref().unwrap_or("(none)"),
                crate::display::FIELD_LIMIT,
            );
            return Err(JobError::with_class(
                exceptions::UNKNOWN,
                format!(
                    "the payload's job is {job}, not {}: PHP's worker would call that instead of running data.command, so larq does not run it",
                    crate::payload::CALL_QUEUED_HANDLER
                ),
            )
            .permanent());
        }
        let Some(class) = payload.data.command_name.as_deref() else {
            let what = payload.job.as_deref().unwrap_or("(no job)");
            return Err(JobError::with_class(
                exceptions::UNKNOWN,
                format!(
                    "the payload has no data.commandName (job {what}); larq runs object jobs only"
                ),
            )
            .permanent());
        };
        if class == crate::payload::framework::CALL_QUEUED_LISTENER {
            let bytes = self.command_bytes(payload)?;
            return listener::resolve_listener(self, payload, &bytes);
        }
        let Some(handler) = self.handlers.get(class) else {
            let message =
                crate::payload::framework::php_only_message(class, payload.resolve_name())
                    .unwrap_or_else(|| {
                        format!(
                            "no handler is registered for {}",
                            crate::display::printable(class, crate::display::FIELD_LIMIT)
                        )
                    });
            return Err(JobError::with_class(exceptions::UNKNOWN, message).permanent());
        };
        // A plain command is copied once, straight into the shared buffer (through a Vec it
        // would be copied twice, and a payload can be megabytes).
        let command: Arc<[u8]> = match payload.data.command.as_deref() {
            Some(c) if c.starts_with("O:") || c.starts_with("C:") => Arc::from(c.as_bytes()),
            _ => self.command_bytes(payload)?.into(),
        };
        Ok(Resolved {
            handler: Arc::clone(handler),
            command,
            queueable: Arc::default(),
        })
    }

    /// Build a [`Resolved`] for a handler found elsewhere (listeners).
    pub(crate) fn resolved(handler: Arc<dyn Handler>, command: &[u8]) -> Resolved {
        Resolved {
            handler,
            command: command.into(),
            queueable: Arc::default(),
        }
    }

    /// The payload's serialized command object, decrypted when it is encrypted. Errors are
    /// permanent (a broken or foreign-key command does not get better on retry).
    pub fn command_bytes(&self, payload: &Payload) -> Result<Vec<u8>, JobError> {
        let class = payload.data.command_name.as_deref().unwrap_or("(no class)");
        let Some(command) = payload.data.command.as_deref() else {
            return Err(JobError::with_class(
                exceptions::UNDECODABLE,
                format!("the {class} payload has no data.command string"),
            )
            .permanent());
        };
        if command.starts_with("O:") || command.starts_with("C:") {
            Ok(command.as_bytes().to_vec())
        } else if let Some(enc) = &self.encrypter {
            enc.decrypt_command(command).map_err(|e| {
                JobError::with_class(
                    exceptions::UNDECODABLE,
                    format!("cannot decrypt the {class} command: {e}"),
                )
                .permanent()
            })
        } else {
            Err(JobError::with_class(
                exceptions::UNDECODABLE,
                format!("the {class} command is not a serialized object (encrypted? set APP_KEY)"),
            )
            .permanent())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        user_id: i64,
    }

    impl Job for Probe {
        const CLASS: &'static str = "App\\Jobs\\Probe";
        async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
            if self.user_id == 0 {
                return Err(JobError::new("zero"));
            }
            ctx.release(u64::try_from(self.user_id).unwrap_or(0));
            Ok(())
        }
    }

    fn payload(class: &str, command: &str) -> Payload {
        Payload::for_command(class, command)
    }

    fn ctx(p: Payload) -> JobContext {
        JobContext::new(Arc::new(p), Arc::from(&b"{}"[..]), 1, "default", "redis")
    }

    #[tokio::test]
    async fn runs_a_registered_job() {
        let reg = Registry::new().with::<Probe>();
        let p = payload(
            "App\\Jobs\\Probe",
            r#"O:14:"App\Jobs\Probe":1:{s:6:"userId";i:5;}"#,
        );
        let mut c = ctx(p.clone());
        reg.resolve(&p).unwrap().run(&mut c).await.unwrap();
        assert!(matches!(c.action, Some(Action::Release(5))));
    }

    #[tokio::test]
    async fn decode_errors_are_permanent_and_name_the_field() {
        let reg = Registry::new().with::<Probe>();
        let p = payload(
            "App\\Jobs\\Probe",
            r#"O:14:"App\Jobs\Probe":1:{s:6:"userId";s:1:"x";}"#,
        );
        let err = reg
            .resolve(&p)
            .unwrap()
            .run(&mut ctx(p.clone()))
            .await
            .unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.class(), exceptions::UNDECODABLE);
        assert!(err.message().contains("userId"), "{}", err.message());
    }

    #[test]
    fn unknown_class_is_permanent() {
        let err = Registry::new()
            .resolve(&payload("App\\Jobs\\Nope", "O:1:\"X\":0:{}"))
            .unwrap_err();
        assert!(err.is_permanent());
        assert!(err.message().contains("App\\Jobs\\Nope"));
    }

    #[test]
    fn php_string_shape_and_location() {
        let e = JobError::new("boom");
        let s = e.to_php_string();
        assert!(s.starts_with("RuntimeException: boom in "), "{s}");
        assert!(s.contains("src/job.rs:"), "{s}");
        assert!(s.ends_with("\nStack trace:\n#0 {main}"));
    }

    #[test]
    fn std_errors_convert_with_their_chain() {
        fn parse() -> Result<i32, JobError> {
            Ok("x".parse::<i32>()?)
        }
        assert!(parse().unwrap_err().message().contains("invalid digit"));
    }
}
