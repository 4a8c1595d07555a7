//! The consumer loop of task queues: deliveries from every registered queue, at most
//! `concurrency` handlers at a time, each delivery acknowledged, retried, parked or dead-lettered
//! only after the broker confirmed whatever replaces it (the reply, the retry, the parked copy).
//!
//! The loop holds no delivery it could lose: a delivery is acknowledged or rejected on the
//! connection that brought it, and when that connection dies first the broker gives the message
//! to a consumer again. So the only repeats are tasks that were running (or waiting in the
//! prefetch buffer) when a connection broke or the process was killed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{
    ReplyError, ReplyStatus, TaskContext, TaskError, TaskErrorKind, TaskRegistry, TaskReply,
    ATTEMPTS_HEADER, ERROR_HEADER, ERROR_KIND_HEADER, FAILED_AT_HEADER, FAILED_SUFFIX,
};
use crate::amqp::{self, AmqpEndpoint, AmqpError, AmqpLink, Session};
use crate::log_limit::LogLimit;

/// Where a task that failed for good goes on one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetter {
    /// No dead-letter exchange: a failure is retried per tries and backoff, and a task out of
    /// tries is parked in `<queue>.failed` (durable) with the error in its headers.
    #[default]
    None,
    /// larq declares this exchange (durable, `direct`), declares the queue with
    /// `x-dead-letter-exchange` = it and `x-dead-letter-routing-key` = the queue's name, and binds
    /// `<queue>.failed` to it with that key, so a dead-lettered task always has somewhere to go.
    /// A failed task is rejected at its first failure: the dead-letter exchange is the team's
    /// retry or parking policy (a wait queue that dead-letters back, an alerting consumer), and
    /// the broker's `x-death` header counts its rounds. A queue that already exists with other
    /// arguments fails the worker's start (`PRECONDITION_FAILED`), never silently.
    Exchange(String),
    /// The queue's dead-lettering is set up by someone else (a broker policy, or whoever
    /// declared it with `x-dead-letter-exchange`): larq uses the queue as it is and rejects a
    /// failed task at its first failure, trusting the broker to route it. Only say so when it is
    /// true: without a dead-letter route the broker drops a rejected message.
    Policy,
}

impl DeadLetter {
    fn rejects(&self) -> bool {
        !matches!(self, DeadLetter::None)
    }
}

/// One queue's own rules, over the worker's defaults.
#[derive(Debug, Clone, Default)]
pub struct QueueSettings {
    /// Attempts a task gets on this queue (the worker's [`TaskWorkerOptions::tries`] if `None`).
    pub tries: Option<u32>,
    /// Seconds before each retry on this queue (the worker's [`TaskWorkerOptions::backoff`] if
    /// `None`).
    pub backoff: Option<Vec<u64>>,
    /// Where a task that failed for good goes.
    pub dead_letter: DeadLetter,
}

/// How a [`TaskWorker`] runs. The defaults are `queue:work`'s: one task at a time, one try, no
/// backoff, no timeout.
#[derive(Debug, Clone)]
pub struct TaskWorkerOptions {
    /// Handlers running at once, and each queue consumer's prefetch (`basic_qos`): the broker
    /// sends a consumer at most this many unacknowledged tasks.
    pub concurrency: u16,
    /// Attempts a task gets (its first run included); 0 is no limit, as Laravel's `--tries=0`.
    pub tries: u32,
    /// Seconds to wait before each retry, Laravel's `--backoff` list: the n-th retry waits the
    /// n-th value, and the last value repeats (empty: retry at once).
    pub backoff: Vec<u64>,
    /// A handler running longer fails with [`TaskErrorKind::Timeout`] (retried per tries). It is
    /// cancelled at its next `.await`; a handler that blocks its thread cannot be cancelled.
    pub timeout: Option<Duration>,
    /// Stop on SIGTERM/SIGINT: take no new task, let the running ones finish, then close the
    /// connection (unacknowledged tasks go back to their queues). A second signal aborts the
    /// running tasks, which go back too. Off for a worker embedded in a program that handles
    /// signals itself (use [`TaskWorker::handle`]).
    pub handle_signals: bool,
    /// Rules for single queues, by name.
    pub queues: BTreeMap<String, QueueSettings>,
}

impl Default for TaskWorkerOptions {
    fn default() -> Self {
        TaskWorkerOptions {
            concurrency: 1,
            tries: 1,
            backoff: Vec::new(),
            timeout: None,
            handle_signals: true,
            queues: BTreeMap::new(),
        }
    }
}

impl TaskWorkerOptions {
    /// Set `queue`'s own rules.
    pub fn queue(mut self, queue: &str, settings: QueueSettings) -> TaskWorkerOptions {
        self.queues.insert(queue.to_owned(), settings);
        self
    }
}

/// Why a [`TaskWorker`] stopped other than by a stop request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskWorkerError {
    /// The registry has no handler, so there is no queue to consume.
    #[error("the task registry has no handlers: there is no queue to consume")]
    NoQueues,
    /// The first connection failed (a wrong address or password should stop the start, not be
    /// retried forever); later breaks are reconnected.
    #[error(transparent)]
    Connect(AmqpError),
    /// The broker refused a queue or exchange as larq declares it (it exists with other
    /// arguments or another type, or the user may not declare it).
    #[error("cannot set up task queue {queue:?}: {source}")]
    Setup {
        /// The task queue.
        queue: String,
        /// The broker's refusal.
        source: AmqpError,
    },
    /// A signal handler could not be installed.
    #[error("cannot install the {0} handler: {1}")]
    Signal(&'static str, #[source] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    Drain,
    Force,
}

/// Stops a running [`TaskWorker`] from another task (what SIGTERM does).
#[derive(Debug, Clone)]
pub struct TaskWorkerHandle {
    stop: Arc<watch::Sender<Stop>>,
}

impl TaskWorkerHandle {
    /// Take no new task, finish the running ones, then close the connection (SIGTERM).
    pub fn stop(&self) {
        self.stop.send_if_modified(|s| {
            let was = *s;
            if was == Stop::Running {
                *s = Stop::Drain;
            }
            was == Stop::Running
        });
    }

    /// Stop now: abort the running tasks and close the connection; the broker puts them back on
    /// their queues unacknowledged, so they run again (a second SIGTERM).
    pub fn force_stop(&self) {
        self.stop.send_replace(Stop::Force);
    }

    fn terminate(&self) {
        if *self.stop.borrow() == Stop::Running {
            self.stop();
        } else {
            self.force_stop();
        }
    }
}

struct Inner {
    link: AmqpLink,
    registry: TaskRegistry,
    options: TaskWorkerOptions,
    stop: Arc<watch::Sender<Stop>>,
    tag: String,
    /// "Cannot reach RabbitMQ", said once a minute while it lasts.
    unreachable: LogLimit,
}

/// The rules that apply on one queue.
struct Rules<'a> {
    tries: u32,
    backoff: &'a [u64],
    dead_letter: &'a DeadLetter,
}

impl Inner {
    fn rules(&self, queue: &str) -> Rules<'_> {
        let own = self.options.queues.get(queue);
        Rules {
            tries: own.and_then(|q| q.tries).unwrap_or(self.options.tries),
            backoff: own
                .and_then(|q| q.backoff.as_deref())
                .unwrap_or(&self.options.backoff),
            dead_letter: own.map_or(&DeadLetter::None, |q| &q.dead_letter),
        }
    }
}

/// Consumes the registry's queues until stopped: see the [module docs](crate::task).
pub struct TaskWorker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TaskWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskWorker")
            .field("link", &self.inner.link)
            .field("registry", &self.inner.registry)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl TaskWorker {
    /// A worker for the broker at `endpoint`; nothing is opened until [`TaskWorker::run`].
    pub fn new(
        endpoint: AmqpEndpoint,
        registry: TaskRegistry,
        options: TaskWorkerOptions,
    ) -> TaskWorker {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let (stop, _) = watch::channel(Stop::Running);
        TaskWorker {
            inner: Arc::new(Inner {
                link: AmqpLink::new(endpoint, options.concurrency),
                registry,
                options,
                stop: Arc::new(stop),
                tag: format!("larq-task-{host}-{}", std::process::id()),
                unreachable: LogLimit::new(Duration::from_secs(60)),
            }),
        }
    }

    /// A handle to stop the worker from elsewhere.
    pub fn handle(&self) -> TaskWorkerHandle {
        TaskWorkerHandle {
            stop: Arc::clone(&self.inner.stop),
        }
    }

    fn install_signals(&self) -> Result<(), TaskWorkerError> {
        use tokio::signal::unix::{signal, SignalKind};
        for (name, kind) in [
            ("SIGTERM", SignalKind::terminate()),
            ("SIGINT", SignalKind::interrupt()),
        ] {
            let mut stream = signal(kind).map_err(|e| TaskWorkerError::Signal(name, e))?;
            let handle = self.handle();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tracing::info!(signal = name, "signal received");
                    handle.terminate();
                }
            });
        }
        Ok(())
    }

    /// Declare what each queue needs and start its consumer, in `session`.
    async fn prepare(&self, s: &Session, queues: &[String]) -> Result<(), (String, AmqpError)> {
        for queue in queues {
            let at = |e: AmqpError| (queue.clone(), e);
            match self.inner.rules(queue).dead_letter {
                DeadLetter::Exchange(exchange) => {
                    let failed = format!("{queue}{FAILED_SUFFIX}");
                    s.declare_exchange(exchange, "direct").await.map_err(at)?;
                    s.ensure_queue(&failed, &FieldTable::default())
                        .await
                        .map_err(at)?;
                    s.bind(&failed, exchange, queue).await.map_err(at)?;
                    let mut args = FieldTable::default();
                    args.insert(amqp::key("x-dead-letter-exchange"), amqp::short(exchange));
                    args.insert(amqp::key("x-dead-letter-routing-key"), amqp::short(queue));
                    s.declare_queue(queue, &args).await.map_err(at)?;
                }
                DeadLetter::None => {
                    s.ensure_queue(queue, &FieldTable::default())
                        .await
                        .map_err(at)?;
                    // Where tasks out of tries are parked: there before the first needs it.
                    s.ensure_queue(&format!("{queue}{FAILED_SUFFIX}"), &FieldTable::default())
                        .await
                        .map_err(at)?;
                }
                DeadLetter::Policy => {
                    s.ensure_queue(queue, &FieldTable::default())
                        .await
                        .map_err(at)?;
                }
            }
            s.consume(queue, &format!("{}-{queue}", self.inner.tag))
                .await
                .map_err(at)?;
        }
        Ok(())
    }

    /// Consume every registered queue until a stop request (or SIGTERM, with
    /// [`TaskWorkerOptions::handle_signals`]); then wait for the running tasks and close the
    /// connection. Returns `Ok` after a stop; an error when the first connection or a queue's
    /// setup is refused (a refusal on a later session stops the worker too, after its running
    /// tasks). Later connection breaks are reconnected with backoff, logged once.
    pub async fn run(&self) -> Result<(), TaskWorkerError> {
        let inner = &self.inner;
        let queues: Vec<String> = inner.registry.queues().map(str::to_owned).collect();
        if queues.is_empty() {
            return Err(TaskWorkerError::NoQueues);
        }
        if inner.options.handle_signals {
            self.install_signals()?;
        }
        let limit = usize::from(inner.options.concurrency.max(1));
        let mut stop = inner.stop.subscribe();
        let mut running: JoinSet<()> = JoinSet::new();
        // The session whose queues are declared and consumed (0: none yet).
        let mut prepared = 0u64;
        let mut pause = Duration::from_millis(250);
        let mut next = 0usize;
        let mut failure = None;
        loop {
            while running.try_join_next().is_some() {}
            if *stop.borrow_and_update() != Stop::Running {
                break;
            }
            let ready = match inner.link.session().await {
                Ok(s) if s.generation == prepared => Ok(s),
                Ok(s) => match self.prepare(&s, &queues).await {
                    Ok(()) => {
                        tracing::info!(server = %inner.link.endpoint().server(), queues = ?queues, session = s.generation, "consuming task queues");
                        prepared = s.generation;
                        Ok(s)
                    }
                    Err((queue, e)) if prepared == 0 => {
                        inner.link.close().await;
                        return Err(TaskWorkerError::Setup { queue, source: e });
                    }
                    Err((queue, e)) if !e.is_connection_lost() => {
                        // Refused on a later session (someone redeclared a queue): stop, but
                        // let the running tasks finish first.
                        failure = Some(TaskWorkerError::Setup { queue, source: e });
                        break;
                    }
                    Err((_, e)) => Err(e),
                },
                Err(e) if prepared == 0 => return Err(TaskWorkerError::Connect(e)),
                Err(e) => Err(e),
            };
            let session = match ready {
                Ok(s) => {
                    pause = Duration::from_millis(250);
                    s
                }
                Err(e) => {
                    if let Some(left_out) = inner.unreachable.occurred() {
                        tracing::warn!(error = %e, retry_in = ?pause, left_out, "cannot reach RabbitMQ; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s != Stop::Running) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let free = limit.saturating_sub(running.len());
            if free == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stop.wait_for(|s| *s != Stop::Running) => {}
                }
                continue;
            }
            // Take from the queues in turn, starting one further each round, so one busy queue
            // cannot starve the others.
            let mut took = 0;
            for i in 0..queues.len() {
                let queue = &queues[(next + i) % queues.len()];
                for delivery in session.take(queue, free - took) {
                    running.spawn(process(Arc::clone(inner), queue.clone(), delivery));
                    took += 1;
                }
                if took == free {
                    break;
                }
            }
            next = (next + 1) % queues.len();
            if took == 0 {
                tokio::select! {
                    _ = session.wait(Duration::from_secs(5)) => {}
                    _ = stop.wait_for(|s| *s != Stop::Running) => {}
                }
            }
        }
        if !running.is_empty() {
            tracing::info!(
                running = running.len(),
                "stopping: waiting for the running tasks"
            );
        }
        loop {
            tokio::select! {
                joined = running.join_next() => if joined.is_none() { break },
                _ = stop.wait_for(|s| *s == Stop::Force) => {
                    tracing::warn!(running = running.len(), "forced stop: the running tasks go back to their queues");
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    break;
                }
            }
        }
        inner.link.close().await;
        match failure {
            Some(e) => Err(e),
            None => {
                tracing::info!("task worker stopped");
                Ok(())
            }
        }
    }
}

/// The attempts a task made before this delivery ([`ATTEMPTS_HEADER`]; 0 without it).
fn attempts_made(properties: &BasicProperties) -> u32 {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPTS_HEADER))
        .and_then(amqp::int_value)
        .map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// Laravel's backoff rule: the wait before the retry that follows failed attempt `attempt`.
fn backoff_for(backoff: &[u64], attempt: u32) -> u64 {
    let i = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    backoff
        .get(i)
        .or_else(|| backoff.last())
        .copied()
        .unwrap_or(0)
}

/// Whether a failure on attempt `attempt` ends the task.
fn out_of_tries(error: &TaskError, attempt: u32, tries: u32) -> bool {
    error.is_permanent() || (tries > 0 && attempt >= tries)
}

/// The message's properties with `extra` headers set over its own.
fn with_headers(properties: &BasicProperties, extra: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert(amqp::key(name), value.clone());
    }
    properties.clone().with_headers(headers)
}

/// One delivery, from its handler to its ack (or reject).
async fn process(inner: Arc<Inner>, queue: String, delivery: Delivery) {
    let rules = inner.rules(&queue);
    let attempt = attempts_made(&delivery.properties).saturating_add(1);
    let ctx = TaskContext::new(
        &queue,
        attempt,
        rules.tries,
        delivery.redelivered,
        delivery.properties.clone(),
    );
    let result = match inner.registry.handler(&queue) {
        None => Err(TaskError::new(format!("no handler for queue {queue:?}")).permanent()),
        Some(handler) => {
            let mut task = tokio::spawn(handler(delivery.data.clone(), ctx));
            let _abort = crate::spawned::AbortOnDrop(task.abort_handle());
            let joined = match inner.options.timeout {
                Some(limit) => tokio::time::timeout(limit, &mut task).await.map_err(|_| {
                    task.abort();
                    TaskError::of_kind(
                        TaskErrorKind::Timeout,
                        format!("the task ran longer than {} s", limit.as_secs_f64()),
                    )
                }),
                None => Ok((&mut task).await),
            };
            match joined {
                Err(timeout) => Err(timeout),
                Ok(Err(join)) => Err(TaskError::of_kind(
                    TaskErrorKind::Panic,
                    format!(
                        "the handler panicked: {}",
                        crate::spawned::panic_message(join)
                    ),
                )),
                Ok(Ok(result)) => result,
            }
        }
    };
    let correlation_id = delivery
        .properties
        .correlation_id()
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    match result {
        Ok(value) => {
            tracing::debug!(queue, attempt, correlation_id, "task done");
            let reply = TaskReply {
                status: ReplyStatus::Done,
                result: value,
                error: None,
                attempts: attempt,
            };
            if send_reply(&inner, &queue, &delivery, &reply).await {
                settle(&queue, &delivery, Settle::Ack).await;
            }
        }
        Err(error)
            if !out_of_tries(&error, attempt, rules.tries) && !rules.dead_letter.rejects() =>
        {
            let delay = backoff_for(rules.backoff, attempt);
            tracing::warn!(queue, attempt, tries = rules.tries, retry_in_s = delay, correlation_id, kind = error.kind().as_str(), at = %error.location(), error = %error, "task failed; retrying");
            match retry(&inner, &queue, &delivery, attempt, delay).await {
                Ok(()) => settle(&queue, &delivery, Settle::Ack).await,
                Err(e) => {
                    tracing::warn!(queue, correlation_id, error = %e, "cannot publish the retry; the task goes back to its queue as it came");
                    settle(&queue, &delivery, Settle::Requeue).await;
                }
            }
        }
        Err(error) => {
            let reply = TaskReply {
                status: ReplyStatus::Failed,
                result: serde_json::Value::Null,
                error: Some(ReplyError {
                    kind: error.kind(),
                    message: error.message().to_owned(),
                }),
                attempts: attempt,
            };
            if rules.dead_letter.rejects() {
                tracing::error!(queue, attempt, correlation_id, kind = error.kind().as_str(), at = %error.location(), error = %error, "task failed; rejected to the queue's dead-letter exchange");
                if send_reply(&inner, &queue, &delivery, &reply).await {
                    settle(&queue, &delivery, Settle::Reject).await;
                }
                return;
            }
            let parked = format!("{queue}{FAILED_SUFFIX}");
            tracing::error!(queue, attempt, correlation_id, kind = error.kind().as_str(), at = %error.location(), error = %error, parked_in = parked, "task failed; parked");
            match park(&inner, &parked, &delivery, attempt, &error).await {
                Ok(()) => {
                    if send_reply(&inner, &queue, &delivery, &reply).await {
                        settle(&queue, &delivery, Settle::Ack).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(queue, correlation_id, error = %e, "cannot park the failed task; it goes back to its queue as it came");
                    settle(&queue, &delivery, Settle::Requeue).await;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack,
    Reject,
    Requeue,
}

/// End the delivery on the connection that brought it. If that connection is gone the broker
/// already put the message back, and it runs again: said, not an error.
async fn settle(queue: &str, delivery: &Delivery, how: Settle) {
    let done = match how {
        Settle::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Settle::Reject => {
            delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
        }
        Settle::Requeue => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
    };
    if !matches!(done, Ok(true)) {
        tracing::warn!(queue, settle = ?how, "the connection that brought the task is gone: the broker gives it to a consumer again");
    }
}

/// Publish the reply, if the task asked for one. False when the task must not be settled: the
/// reply did not reach the broker because the connection failed, so the delivery goes back
/// (requeued here, or by the broker when the connection is gone) and the task runs again.
/// A reply nobody can receive (no queue by the `reply_to` name) is logged and dropped: running
/// the task again would not create the queue.
async fn send_reply(inner: &Inner, queue: &str, delivery: &Delivery, reply: &TaskReply) -> bool {
    let Some(reply_to) = delivery.properties.reply_to().as_ref() else {
        return true;
    };
    let body = match serde_json::to_vec(reply) {
        Ok(b) => b,
        Err(e) => {
            // A serde_json::Value always serializes; kept for completeness.
            tracing::error!(queue, error = %e, "cannot serialize the reply");
            return true;
        }
    };
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    if let Some(id) = delivery.properties.correlation_id() {
        props = props.with_correlation_id(id.clone());
    }
    let sent = match inner.link.session().await {
        Ok(s) => s.publish("", reply_to.as_str(), &body, props).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => true,
        Err(e @ AmqpError::NotTaken { .. }) | Err(e @ AmqpError::Name { .. }) => {
            tracing::warn!(queue, reply_to = reply_to.as_str(), error = %e, "the reply cannot be delivered; dropped");
            true
        }
        Err(e) => {
            tracing::warn!(queue, reply_to = reply_to.as_str(), error = %e, "cannot publish the reply; the task goes back to its queue and runs again");
            settle(queue, delivery, Settle::Requeue).await;
            false
        }
    }
}

/// Why a retry or a parked copy was not published.
#[derive(Debug, thiserror::Error)]
enum NotSent {
    /// The delivery's connection closed: the broker has the task back, a copy would repeat it.
    #[error("the task's connection closed before its copy was published")]
    Gone,
    #[error(transparent)]
    Amqp(#[from] AmqpError),
}

/// Publish the task again with `attempt` counted, to run after `delay` seconds.
async fn retry(
    inner: &Inner,
    queue: &str,
    delivery: &Delivery,
    attempt: u32,
    delay: u64,
) -> Result<(), NotSent> {
    if !delivery.acker.usable() {
        // Its connection is gone: the broker has it back already, and a copy would be a repeat.
        return Err(NotSent::Gone);
    }
    let s = inner.link.session().await?;
    let props = with_headers(
        &delivery.properties,
        &[(ATTEMPTS_HEADER, amqp::php_int(i64::from(attempt)))],
    );
    let ttl_ms = delay.saturating_mul(1000);
    if ttl_ms == 0 {
        return Ok(s.publish("", queue, &delivery.data, props).await?);
    }
    let delay_queue = format!("{queue}.delay.{ttl_ms}");
    let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
    let mut args = FieldTable::default();
    args.insert(amqp::key("x-dead-letter-exchange"), amqp::short(""));
    args.insert(amqp::key("x-dead-letter-routing-key"), amqp::short(queue));
    args.insert(amqp::key("x-message-ttl"), amqp::php_int(ttl));
    args.insert(amqp::key("x-expires"), amqp::php_int(ttl.saturating_mul(2)));
    s.declare_queue(&delay_queue, &args).await?;
    Ok(s.publish("", &delay_queue, &delivery.data, props).await?)
}

/// Publish the failed task to `parked` (declared durable if missing), with the error in its
/// headers.
async fn park(
    inner: &Inner,
    parked: &str,
    delivery: &Delivery,
    attempt: u32,
    error: &TaskError,
) -> Result<(), NotSent> {
    if !delivery.acker.usable() {
        return Err(NotSent::Gone);
    }
    let s = inner.link.session().await?;
    s.ensure_queue(parked, &FieldTable::default()).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let props = with_headers(
        &delivery.properties,
        &[
            (ATTEMPTS_HEADER, amqp::php_int(i64::from(attempt))),
            (ERROR_HEADER, amqp::short(error.message())),
            (ERROR_KIND_HEADER, amqp::short(error.kind().as_str())),
            (FAILED_AT_HEADER, amqp::php_int(now)),
        ],
    );
    Ok(s.publish("", parked, &delivery.data, props).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_laravel() {
        assert_eq!(backoff_for(&[], 1), 0);
        assert_eq!(backoff_for(&[5], 1), 5);
        assert_eq!(backoff_for(&[5], 4), 5);
        assert_eq!(backoff_for(&[1, 10, 60], 2), 10);
        assert_eq!(backoff_for(&[1, 10, 60], 9), 60);
    }

    #[test]
    fn tries_end_a_task_unless_unlimited() {
        let e = TaskError::new("x");
        assert!(!out_of_tries(&e, 1, 3));
        assert!(out_of_tries(&e, 3, 3));
        assert!(!out_of_tries(&e, 1000, 0));
        assert!(out_of_tries(&TaskError::new("x").permanent(), 1, 0));
    }

    #[test]
    fn attempts_come_from_the_header_of_any_integer_width() {
        let with = |v: AMQPValue| {
            let mut h = FieldTable::default();
            h.insert(amqp::key(ATTEMPTS_HEADER), v);
            BasicProperties::default().with_headers(h)
        };
        assert_eq!(attempts_made(&BasicProperties::default()), 0);
        assert_eq!(attempts_made(&with(AMQPValue::LongInt(2))), 2);
        assert_eq!(attempts_made(&with(AMQPValue::ShortShortUInt(4))), 4);
        assert_eq!(attempts_made(&with(amqp::short("3"))), 3);
        assert_eq!(attempts_made(&with(AMQPValue::LongInt(-5))), 0);
        let p = with_headers(
            &with(AMQPValue::LongInt(1)),
            &[(ATTEMPTS_HEADER, amqp::php_int(2))],
        );
        assert_eq!(attempts_made(&p), 2);
    }

    #[test]
    fn per_queue_rules_override_the_defaults() {
        let options = TaskWorkerOptions {
            tries: 3,
            backoff: vec![1],
            ..TaskWorkerOptions::default()
        }
        .queue(
            "images",
            QueueSettings {
                tries: Some(5),
                dead_letter: DeadLetter::Exchange("dlx".into()),
                ..QueueSettings::default()
            },
        );
        let w = TaskWorker::new(
            AmqpEndpoint::from_uri("amqp://localhost"),
            TaskRegistry::new(),
            options,
        );
        let r = w.inner.rules("images");
        assert_eq!((r.tries, r.backoff), (5, &[1][..]));
        assert!(r.dead_letter.rejects());
        let r = w.inner.rules("other");
        assert_eq!(r.tries, 3);
        assert!(!r.dead_letter.rejects());
    }
}
