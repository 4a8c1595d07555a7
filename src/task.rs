//! Plain task queues on RabbitMQ: no Laravel, no PHP serialization, a body of the producer's own
//! format.
//!
//! Services that hand work to each other over RabbitMQ usually agree on a queue name and a JSON
//! body, publish persistently to a durable queue and expect the consumer to acknowledge a task
//! only once it is done. This module is the consumer side of that contract, in the spirit of
//! [`crate::job`]: a handler is keyed by queue instead of by PHP class, a [`Task`] is a serde
//! struct decoded from the JSON body (a raw handler gets the bytes as they came), and a
//! [`TaskWorker`] consumes with prefetch, acks after the handler, retries or dead-letters a
//! failure, and answers the message's `reply_to` so the dispatcher learns the outcome.
//!
//! ```no_run
//! use larq::amqp::AmqpEndpoint;
//! use larq::task::{Task, TaskContext, TaskError, TaskRegistry, TaskWorker, TaskWorkerOptions};
//!
//! #[derive(serde::Deserialize)]
//! struct Resize { image: String, width: u32 }
//!
//! impl Task for Resize {
//!     const QUEUE: &'static str = "images.resize";
//!     type Output = serde_json::Value;
//!     async fn handle(self, ctx: &TaskContext) -> Result<serde_json::Value, TaskError> {
//!         if self.width == 0 {
//!             // No retry can mend this: fail now, whatever the tries.
//!             return Err(TaskError::new("width 0").permanent());
//!         }
//!         println!("resizing {} to {} (attempt {})", self.image, self.width, ctx.attempt());
//!         Ok(serde_json::json!({ "thumbnail": format!("{}.{}.jpg", self.image, self.width) }))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), larq::task::TaskWorkerError> {
//!     let registry = TaskRegistry::new()
//!         .with::<Resize>()
//!         .with_raw("audit.raw", |body: Vec<u8>, _ctx| async move {
//!             println!("{} bytes", body.len());
//!             Ok::<_, TaskError>(())
//!         });
//!     let options = TaskWorkerOptions {
//!         concurrency: 8,
//!         tries: 3,
//!         backoff: vec![5, 30],
//!         ..TaskWorkerOptions::default()
//!     };
//!     let endpoint = AmqpEndpoint::new("127.0.0.1", 5672, "guest", "guest", "/", false, 0);
//!     TaskWorker::new(endpoint, registry, options).run().await
//! }
//! ```
//!
//! # The wire contract
//!
//! * **A task** is any message on the handler's queue: the body is the handler's input (JSON for a
//!   [`Task`], anything for a raw handler); `reply_to` and `correlation_id` are optional. The
//!   header [`ATTEMPTS_HEADER`] (`x-larq-attempts`, an integer) holds the attempts already made;
//!   a producer leaves it out (0). Attempt numbers start at 1.
//! * **A retry** is the same body and properties published again with `x-larq-attempts` = the
//!   attempts made, through a delay queue `<queue>.delay.<ms>` (durable, `x-message-ttl` = the
//!   backoff, dead-lettered back to `<queue>` through the default exchange, `x-expires` twice the
//!   TTL), as [`crate::queue::rabbitmq`] delays a Laravel job; with backoff 0 straight to the
//!   queue. The broker confirms the retry before the delivery is acknowledged.
//! * **A reply** (when the task has a `reply_to`) is a JSON [`TaskReply`] published persistently
//!   to the default exchange with routing key = `reply_to` and the task's `correlation_id`,
//!   confirmed by the broker *before* the task is acknowledged or rejected, one per task that
//!   finished (done or failed for good; a retry sends none):
//!   `{"status":"done","result":<the handler's output>,"attempts":1}` or
//!   `{"status":"failed","error":{"kind":"handler","message":"..."},"attempts":3}`.
//! * **A task that failed for good** is rejected without requeue when its queue has a
//!   dead-letter exchange ([`DeadLetter`]), so the broker dead-letters it (with its `x-death`
//!   header); otherwise it is *parked*: published, confirmed, to the durable queue
//!   `<queue>.failed` with [`ATTEMPTS_HEADER`], [`ERROR_HEADER`], [`ERROR_KIND_HEADER`] and
//!   [`FAILED_AT_HEADER`] added, then acknowledged. Nothing is dropped.
//!
//! docs/tasks.md has the failure rules in full and what is left out.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;

use lapin::types::AMQPValue;
use lapin::BasicProperties;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod worker;

pub use self::worker::{
    DeadLetter, QueueSettings, TaskWorker, TaskWorkerError, TaskWorkerHandle, TaskWorkerOptions,
};

/// The header holding the attempts a task has already made (an integer; absent means 0). larq
/// writes it on every retry and on a parked task, so attempts survive the trip through the
/// broker; a producer that wants a task to start with fewer tries left may set it.
pub const ATTEMPTS_HEADER: &str = "x-larq-attempts";

/// On a parked task (`<queue>.failed`): the last error's message.
pub const ERROR_HEADER: &str = "x-larq-error";

/// On a parked task: the last error's [`TaskErrorKind`] (`handler`, `undecodable`, `panic`,
/// `timeout`, `output`).
pub const ERROR_KIND_HEADER: &str = "x-larq-error-kind";

/// On a parked task: when it failed, in Unix seconds.
pub const FAILED_AT_HEADER: &str = "x-larq-failed-at";

/// The suffix of the queue a task that failed for good is parked in, on a queue without a
/// dead-letter exchange (`thumbnails` → `thumbnails.failed`).
pub const FAILED_SUFFIX: &str = ".failed";

/// A task type decoded from a JSON body: the Rust side of a producer's message format.
///
/// Implement it for a `#[derive(Deserialize)]` struct; unknown fields are ignored unless the
/// struct says `#[serde(deny_unknown_fields)]`. A body that does not decode fails the task at
/// once (no retry could mend it), with serde's message and position in the log and the reply.
pub trait Task: DeserializeOwned + Send + 'static {
    /// The queue this type's tasks arrive on (declared durable if it does not exist).
    const QUEUE: &'static str;

    /// What a reply carries as `result` (`()` gives `null`).
    type Output: Serialize + Send + 'static;

    /// Do the task. An `Err` is retried per the worker's tries and backoff (unless it is
    /// [`TaskError::permanent`]); a panic counts as an `Err`, never as a crash of the worker.
    fn handle(
        self,
        ctx: &TaskContext,
    ) -> impl Future<Output = Result<Self::Output, TaskError>> + Send;
}

/// What kind of failure a [`TaskError`] is; replies and parked tasks name it, so a dispatcher can
/// tell a bad message from a bad day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The handler returned an error.
    Handler,
    /// The body did not decode into the handler's type (never retried).
    Undecodable,
    /// The handler panicked.
    Panic,
    /// The handler ran longer than [`TaskWorkerOptions::timeout`].
    Timeout,
    /// The handler's output could not be serialized for the reply (never retried: it would
    /// fail the same way).
    Output,
}

impl TaskErrorKind {
    /// The name replies and headers use.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskErrorKind::Handler => "handler",
            TaskErrorKind::Undecodable => "undecodable",
            TaskErrorKind::Panic => "panic",
            TaskErrorKind::Timeout => "timeout",
            TaskErrorKind::Output => "output",
        }
    }
}

/// Why a task failed, with where it was raised (for the log line).
///
/// Any `std::error::Error` converts into it with `?`; the location recorded is where the `?` (or
/// [`TaskError::new`]) was written.
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
    file: &'static str,
    line: u32,
    permanent: bool,
}

impl TaskError {
    /// A handler error with a message; retried per the worker's tries.
    #[track_caller]
    pub fn new(message: impl Into<String>) -> TaskError {
        TaskError::of_kind(TaskErrorKind::Handler, message)
    }

    #[track_caller]
    fn of_kind(kind: TaskErrorKind, message: impl Into<String>) -> TaskError {
        let at = Location::caller();
        TaskError {
            kind,
            message: message.into(),
            file: at.file(),
            line: at.line(),
            permanent: false,
        }
    }

    /// A body the handler's type cannot take: serde's message, with what kind of problem it is
    /// and where (`line 1 column 7`). Permanent.
    #[track_caller]
    pub fn undecodable(type_name: &str, e: &serde_json::Error) -> TaskError {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax => "the body is not JSON",
            Category::Eof => "the body ends inside its JSON",
            Category::Data => "the body's JSON does not fit",
            Category::Io => "the body could not be read",
        };
        TaskError::of_kind(
            TaskErrorKind::Undecodable,
            format!("{what} (decoding {type_name}): {e}"),
        )
        .permanent()
    }

    /// Fail the task now, whatever its tries (a retry could not succeed).
    pub fn permanent(mut self) -> TaskError {
        self.permanent = true;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the task must fail without retries.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// `file:line` where the error was made.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} error: {} at {}:{}",
            self.kind.as_str(),
            self.message,
            self.file,
            self.line
        )
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    #[track_caller]
    fn from(e: E) -> TaskError {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        TaskError::new(message)
    }
}

/// What a running task can see: its queue, its attempt and the message's properties.
#[derive(Debug, Clone)]
pub struct TaskContext {
    queue: Arc<str>,
    attempt: u32,
    tries: u32,
    redelivered: bool,
    properties: Arc<BasicProperties>,
}

impl TaskContext {
    /// A context (the worker builds these; public for testing handlers without a broker).
    pub fn new(
        queue: &str,
        attempt: u32,
        tries: u32,
        redelivered: bool,
        properties: BasicProperties,
    ) -> TaskContext {
        TaskContext {
            queue: queue.into(),
            attempt,
            tries,
            redelivered,
            properties: Arc::new(properties),
        }
    }

    /// The queue the task came from.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Attempts including this one: 1 on the first run ([`ATTEMPTS_HEADER`] + 1). A delivery
    /// the broker gave again after a crash keeps the number of the run that crashed.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many attempts the task gets on this queue.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Whether an `Err` now fails the task for good (no tries left).
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.tries
    }

    /// Whether the broker delivered this message before (a consumer died or closed with it
    /// unacknowledged), so a handler with side effects can check whether they happened.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// The message's `correlation_id`, which a reply carries back.
    pub fn correlation_id(&self) -> Option<&str> {
        self.properties
            .correlation_id()
            .as_ref()
            .map(|s| s.as_str())
    }

    /// The message's `reply_to`: the routing key (on the default exchange) of the reply.
    pub fn reply_to(&self) -> Option<&str> {
        self.properties.reply_to().as_ref().map(|s| s.as_str())
    }

    /// The message's `message_id`, if the producer set one.
    pub fn message_id(&self) -> Option<&str> {
        self.properties.message_id().as_ref().map(|s| s.as_str())
    }

    /// One header of the message.
    pub fn header(&self, name: &str) -> Option<&AMQPValue> {
        self.properties.headers().as_ref()?.inner().get(name)
    }

    /// All of the message's properties, as the broker delivered them.
    pub fn properties(&self) -> &BasicProperties {
        &self.properties
    }
}

/// What a reply's `status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    /// The handler returned `Ok`; `result` is its output.
    Done,
    /// The task failed for good (parked or dead-lettered); `error` says why.
    Failed,
}

/// The error part of a failed task's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyError {
    /// What kind of failure ([`TaskErrorKind`]).
    pub kind: TaskErrorKind,
    /// The error's message (for an undecodable body, serde's, with line and column).
    pub message: String,
}

/// The JSON body larq publishes to a task's `reply_to`; public so a Rust dispatcher can decode
/// it with serde.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReply {
    /// `done` or `failed`.
    pub status: ReplyStatus,
    /// The handler's output (`null` when it failed or returned `()`).
    #[serde(default)]
    pub result: serde_json::Value,
    /// Why it failed (absent when done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
    /// The attempts made, this one included.
    pub attempts: u32,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A handler with its type erased, so one registry holds JSON and raw handlers.
type Handler =
    dyn Fn(Vec<u8>, TaskContext) -> BoxFuture<Result<serde_json::Value, TaskError>> + Send + Sync;

/// The queues a worker consumes and the handler for each.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    handlers: BTreeMap<String, Arc<Handler>>,
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("queues", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn output<O: Serialize>(out: O) -> Result<serde_json::Value, TaskError> {
    serde_json::to_value(out).map_err(|e| {
        TaskError::of_kind(
            TaskErrorKind::Output,
            format!("the handler's output cannot be serialized: {e}"),
        )
        .permanent()
    })
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> TaskRegistry {
        TaskRegistry::default()
    }

    /// Handle `T::QUEUE` with `T`, decoding each body as JSON (a later registration for the same
    /// queue replaces it).
    pub fn register<T: Task>(&mut self) -> &mut TaskRegistry {
        let handler = |body: Vec<u8>, ctx: TaskContext| -> BoxFuture<_> {
            Box::pin(async move {
                let task: T = serde_json::from_slice(&body)
                    .map_err(|e| TaskError::undecodable(std::any::type_name::<T>(), &e))?;
                output(task.handle(&ctx).await?)
            })
        };
        self.handlers.insert(T::QUEUE.to_owned(), Arc::new(handler));
        self
    }

    /// [`TaskRegistry::register`], by value.
    pub fn with<T: Task>(mut self) -> TaskRegistry {
        self.register::<T>();
        self
    }

    /// Handle `queue` with `handler`, which gets the body's bytes as they came (any format) and
    /// the context; its output is the reply's `result`.
    pub fn register_raw<F, Fut, O>(&mut self, queue: &str, handler: F) -> &mut TaskRegistry
    where
        F: Fn(Vec<u8>, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
        O: Serialize + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased = move |body: Vec<u8>, ctx: TaskContext| -> BoxFuture<_> {
            let handler = Arc::clone(&handler);
            Box::pin(async move { output(handler(body, ctx).await?) })
        };
        self.handlers.insert(queue.to_owned(), Arc::new(erased));
        self
    }

    /// [`TaskRegistry::register_raw`], by value.
    pub fn with_raw<F, Fut, O>(mut self, queue: &str, handler: F) -> TaskRegistry
    where
        F: Fn(Vec<u8>, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
        O: Serialize + Send + 'static,
    {
        self.register_raw(queue, handler);
        self
    }

    /// Whether `queue` has a handler.
    pub fn contains(&self, queue: &str) -> bool {
        self.handlers.contains_key(queue)
    }

    /// The queues with a handler, in name order (the order the worker starts consuming them).
    pub fn queues(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Run `queue`'s handler on `body` here, without a broker: the decode, the handler and the
    /// output as the worker runs them (for testing handlers). A queue without a handler is a
    /// permanent error.
    pub async fn run(
        &self,
        queue: &str,
        body: Vec<u8>,
        ctx: TaskContext,
    ) -> Result<serde_json::Value, TaskError> {
        match self.handlers.get(queue) {
            Some(h) => h(body, ctx).await,
            None => Err(TaskError::new(format!("no handler for queue {queue:?}")).permanent()),
        }
    }

    fn handler(&self, queue: &str) -> Option<Arc<Handler>> {
        self.handlers.get(queue).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Double {
        n: i64,
    }

    impl Task for Double {
        const QUEUE: &'static str = "double";
        type Output = i64;
        async fn handle(self, ctx: &TaskContext) -> Result<i64, TaskError> {
            if self.n < 0 {
                return Err(TaskError::new(format!(
                    "negative on attempt {}",
                    ctx.attempt()
                )));
            }
            Ok(self.n * 2)
        }
    }

    fn ctx() -> TaskContext {
        TaskContext::new("double", 1, 3, false, BasicProperties::default())
    }

    fn run(
        registry: &TaskRegistry,
        queue: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, TaskError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(registry.run(queue, body.to_vec(), ctx()))
    }

    #[test]
    fn json_tasks_decode_run_and_serialize_their_output() {
        let r = TaskRegistry::new().with::<Double>();
        assert_eq!(run(&r, "double", br#"{"n":21}"#).unwrap(), 42);
        let e = run(&r, "double", br#"{"n":-1}"#).unwrap_err();
        assert_eq!(e.kind(), TaskErrorKind::Handler);
        assert!(!e.is_permanent());
        assert_eq!(e.message(), "negative on attempt 1");
        assert!(e.location().contains("task.rs:"), "{}", e.location());
    }

    #[test]
    fn undecodable_bodies_fail_permanently_with_serde_position() {
        let r = TaskRegistry::new().with::<Double>();
        let cases: [(&[u8], &str); 3] = [
            (
                br#"{"n":"x"}"#,
                "the body's JSON does not fit (decoding larq::task::tests::Double): invalid type: string \"x\", expected i64 at line 1 column 8",
            ),
            (b"not json", "the body is not JSON (decoding larq::task::tests::Double): expected ident at line 1 column 2"),
            (br#"{"n":1"#, "the body ends inside its JSON (decoding larq::task::tests::Double): EOF while parsing an object at line 1 column 6"),
        ];
        for (body, want) in cases {
            let e = run(&r, "double", body).unwrap_err();
            assert_eq!(e.kind(), TaskErrorKind::Undecodable);
            assert!(e.is_permanent());
            assert_eq!(e.message(), want);
        }
    }

    #[test]
    fn raw_handlers_get_the_bytes_and_unknown_queues_fail() {
        let r = TaskRegistry::new().with_raw("bytes", |body: Vec<u8>, _ctx| async move {
            Ok::<_, TaskError>(body.len())
        });
        assert_eq!(run(&r, "bytes", b"\xff\x00abc").unwrap(), 5);
        assert!(r.contains("bytes") && !r.contains("double"));
        assert!(run(&r, "double", b"{}").unwrap_err().is_permanent());
    }

    #[test]
    fn replies_have_the_documented_shape() {
        let done = TaskReply {
            status: ReplyStatus::Done,
            result: serde_json::json!({"doubled": 4}),
            error: None,
            attempts: 1,
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"status":"done","result":{"doubled":4},"attempts":1}"#
        );
        let failed = TaskReply {
            status: ReplyStatus::Failed,
            result: serde_json::Value::Null,
            error: Some(ReplyError {
                kind: TaskErrorKind::Panic,
                message: "boom".into(),
            }),
            attempts: 3,
        };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            text,
            r#"{"status":"failed","result":null,"error":{"kind":"panic","message":"boom"},"attempts":3}"#
        );
        assert_eq!(serde_json::from_str::<TaskReply>(&text).unwrap(), failed);
    }
}
