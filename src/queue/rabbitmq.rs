//! Laravel's queue on RabbitMQ, in the wire format of the package Laravel apps use for it,
//! `vladimir-yuldashev/laravel-queue-rabbitmq` (v13.3 and v14.5 write the same messages), so a
//! PHP `queue:work rabbitmq` and larq share one queue.
//!
//! * **A message** is Laravel's JSON payload with a top-level `id` (a uuid, apart from `uuid`)
//!   and no `attempts`; properties `content_type: application/json`, `delivery_mode: 2`,
//!   `correlation_id` = the payload's `id`; the header table `laravel.attempts` holds the
//!   attempts already made (0 on the first push). A job's attempt is that header + 1.
//! * **Routing**: the exchange `RABBITMQ_EXCHANGE` (default: the default exchange `""`) with the
//!   routing key `sprintf(exchange_routing_key, queue)`. Without an exchange the destination
//!   queue is declared durable on first use, after a passive check, with the package's
//!   arguments (priority, dead-letter for `reroute_failed`, quorum).
//! * **Delay** (`later`, a release with backoff): the message goes to a durable queue
//!   `<queue>.delay.<ms>` whose `x-message-ttl` is the delay and whose dead-letter route is the
//!   real queue, so the broker moves it back when the time is up.
//! * **Done**: ack. **Release**: publish the body again with the attempts made so far, wait for
//!   the broker's confirm, then ack the delivery (a crash in between repeats the job, never loses
//!   it). **Failed**: reject without requeue (the broker dead-letters it when the queue has a
//!   dead-letter exchange), after the failed_jobs row is written.
//!
//! Where larq differs from the package, on purpose:
//!
//! * It consumes (`basic_consume`, prefetch = `--concurrency`) instead of polling `basic_get`.
//! * A job that timed out and is not failed is published again with its attempt counted, then
//!   acked. PHP's worker is killed on a timeout; the broker then redelivers the message with the
//!   same header, so a job that always times out is retried forever without reaching its
//!   tries. Redis and the database driver count such an attempt; so does larq here.
//! * With an exchange configured, the queue larq consumes is declared if missing and bound to
//!   the exchange with its routing key (the package leaves both to `rabbitmq:queue-bind`).
//! * Heartbeats are on (30 s unless `RABBITMQ_HEARTBEAT` says otherwise) and a broken connection
//!   is reopened ([`crate::amqp`]); the package's worker exits and waits for its supervisor.
//!
//! What the package does that larq does not: a command object's public `priority` property as
//! the message priority (it unserializes the command on push; larq reads no PHP properties on
//! push). `prioritize_delayed`'s priority = attempts is written.

use std::sync::Arc;

use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use super::{QueueError, QueueSizes, Reservation, ReservedJob};
use crate::amqp::{self, AmqpEndpoint, AmqpError, AmqpLink, Session};

/// How one `rabbitmq` queue connection behaves (`config/queue.php` → `connections.rabbitmq`,
/// `options.queue`), with the package's defaults.
#[derive(Debug, Clone)]
pub struct RabbitMqQueueOptions {
    /// Connection name stored in failed_jobs (`rabbitmq`).
    pub connection_name: String,
    /// `options.queue.exchange`: where jobs are published (`""`: the default exchange).
    pub exchange: String,
    /// `options.queue.exchange_type` (`direct`), used when larq declares the exchange.
    pub exchange_type: String,
    /// `options.queue.exchange_routing_key`: a `%s` pattern for the routing key (`%s`).
    pub exchange_routing_key: String,
    /// `options.queue.prioritize_delayed`: queues get `x-max-priority` and messages the
    /// attempts as priority.
    pub prioritize_delayed: bool,
    /// `options.queue.queue_max_priority` (2).
    pub queue_max_priority: u8,
    /// `options.queue.reroute_failed`: queues get a dead-letter route for failed jobs.
    pub reroute_failed: bool,
    /// `options.queue.failed_exchange` (`""`).
    pub failed_exchange: String,
    /// `options.queue.failed_routing_key`: a `%s` pattern (`%s.failed`).
    pub failed_routing_key: String,
    /// `options.queue.quorum`: declare quorum queues.
    pub quorum: bool,
    /// Seconds an idle worker waits for a delivery before its loop looks around (stop signals,
    /// restart, pause).
    pub block_for: u64,
}

impl Default for RabbitMqQueueOptions {
    fn default() -> Self {
        RabbitMqQueueOptions {
            connection_name: "rabbitmq".to_owned(),
            exchange: String::new(),
            exchange_type: "direct".to_owned(),
            exchange_routing_key: "%s".to_owned(),
            prioritize_delayed: false,
            queue_max_priority: 2,
            reroute_failed: false,
            failed_exchange: String::new(),
            failed_routing_key: "%s.failed".to_owned(),
            quorum: false,
            block_for: 1,
        }
    }
}

/// A delivery the worker holds: acknowledging it is how a job leaves the queue.
#[derive(Clone)]
pub struct Delivery {
    acker: lapin::Acker,
    /// The broker delivered it before (a consumer died or handed it back unacknowledged).
    pub redelivered: bool,
    /// The connection session it came on (a new session cannot acknowledge it).
    pub session: u64,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("redelivered", &self.redelivered)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// One Laravel `rabbitmq` queue connection.
#[derive(Debug)]
pub struct RabbitMqQueue {
    link: AmqpLink,
    options: RabbitMqQueueOptions,
    tag: String,
}

/// `ltrim(sprintf($pattern, $queue), '.')`, the package's routing key rule.
fn fill(pattern: &str, queue: &str) -> String {
    pattern
        .replacen("%s", queue, 1)
        .trim_start_matches('.')
        .to_owned()
}

impl RabbitMqQueue {
    /// A queue on the broker at `endpoint`; nothing is opened until the first call.
    /// `prefetch` bounds the deliveries held unacknowledged per consumed queue (the worker's
    /// `--concurrency`).
    pub fn new(
        endpoint: AmqpEndpoint,
        prefetch: u16,
        options: RabbitMqQueueOptions,
    ) -> RabbitMqQueue {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        RabbitMqQueue {
            link: AmqpLink::new(endpoint, prefetch),
            options,
            tag: format!("larq-{host}-{}", std::process::id()),
        }
    }

    /// Open the connection now, so a wrong address or password fails at start.
    pub async fn connect(&self) -> Result<(), QueueError> {
        self.session().await.map(drop)
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &RabbitMqQueueOptions {
        &self.options
    }

    /// The connection name failed_jobs records.
    pub fn connection_name(&self) -> &str {
        &self.options.connection_name
    }

    /// The broker, for messages.
    pub fn server(&self) -> &str {
        self.link.endpoint().server()
    }

    async fn session(&self) -> Result<Arc<Session>, QueueError> {
        Ok(self.link.session().await?)
    }

    /// The routing key (and, without an exchange, the queue) a job for `queue` is published to.
    pub fn routing_key(&self, queue: &str) -> String {
        fill(&self.options.exchange_routing_key, queue)
    }

    /// The arguments the package declares `queue` with.
    fn queue_arguments(&self, queue: &str) -> FieldTable {
        let o = &self.options;
        let mut args = FieldTable::default();
        if o.prioritize_delayed && !o.quorum && o.queue_max_priority > 1 {
            args.insert(
                amqp::key("x-max-priority"),
                amqp::php_int(i64::from(o.queue_max_priority)),
            );
        }
        if o.reroute_failed {
            args.insert(
                amqp::key("x-dead-letter-exchange"),
                amqp::short(&o.failed_exchange),
            );
            args.insert(
                amqp::key("x-dead-letter-routing-key"),
                amqp::short(&fill(&o.failed_routing_key, queue)),
            );
        }
        if o.quorum {
            args.insert(amqp::key("x-queue-type"), amqp::short("quorum"));
        }
        args
    }

    /// Refuse a name AMQP cannot carry before any I/O.
    pub fn check_queue(&self, queue: &str) -> Result<(), QueueError> {
        if queue.is_empty() {
            return Err(QueueError::QueueName {
                queue: String::new(),
                reason:
                    "it is empty (name the queue: Laravel would use the connection's default queue)",
            });
        }
        // The longest delay queue name, `<queue>.delay.<ms>`, must fit too.
        if queue.len() + ".delay.".len() + 20 > 255 {
            return Err(QueueError::QueueName {
                queue: queue.chars().take(300).collect(),
                reason: "too long for AMQP with a delay suffix (255 bytes)",
            });
        }
        Ok(())
    }

    /// Make sure the queue jobs for `queue` land in exists, as the package's push does (and,
    /// with an exchange, that the exchange exists).
    async fn ensure_destination(&self, s: &Session, queue: &str) -> Result<(), QueueError> {
        let key = self.routing_key(queue);
        if self.options.exchange.is_empty() {
            s.ensure_queue(&key, &self.queue_arguments(&key)).await?;
        } else {
            s.declare_exchange(&self.options.exchange, &self.options.exchange_type)
                .await?;
        }
        Ok(())
    }

    /// Publish a job body with `attempts` already made, ready now or after `delay` seconds.
    async fn publish_job(
        &self,
        queue: &str,
        body: &[u8],
        attempts: i64,
        delay: u64,
    ) -> Result<(), QueueError> {
        self.check_queue(queue)?;
        let s = self.session().await?;
        self.ensure_destination(&s, queue).await?;
        let mut laravel = FieldTable::default();
        laravel.insert(amqp::key("attempts"), amqp::php_int(attempts));
        let mut headers = FieldTable::default();
        headers.insert(amqp::key("laravel"), AMQPValue::FieldTable(laravel));
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers);
        if let Some(id) = super::payload_id(body) {
            props = props.with_correlation_id(id.as_str().into());
        }
        if self.options.prioritize_delayed {
            props = props.with_priority(u8::try_from(attempts.clamp(0, 255)).unwrap_or(255));
        }
        let key = self.routing_key(queue);
        let ttl_ms = delay.saturating_mul(1000);
        if ttl_ms == 0 {
            s.publish(&self.options.exchange, &key, body, props).await?;
            return Ok(());
        }
        let delay_queue = format!("{queue}.delay.{ttl_ms}");
        let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
        let mut args = FieldTable::default();
        args.insert(
            amqp::key("x-dead-letter-exchange"),
            amqp::short(&self.options.exchange),
        );
        args.insert(amqp::key("x-dead-letter-routing-key"), amqp::short(&key));
        args.insert(amqp::key("x-message-ttl"), amqp::php_int(ttl));
        args.insert(amqp::key("x-expires"), amqp::php_int(ttl.saturating_mul(2)));
        s.declare_queue(&delay_queue, &args).await?;
        s.publish("", &delay_queue, body, props).await?;
        Ok(())
    }

    /// Laravel's `pushRaw`: publish ready now, with `laravel.attempts` 0.
    pub async fn push(&self, queue: &str, payload: &[u8]) -> Result<(), QueueError> {
        self.publish_job(queue, payload, 0, 0).await
    }

    /// Laravel's `later`: ready `delay` seconds from now (through the delay queue).
    pub async fn later(&self, queue: &str, delay: u64, payload: &[u8]) -> Result<(), QueueError> {
        self.publish_job(queue, payload, 0, delay).await
    }

    /// Start consuming `queue` in the current session (declared first if missing; with an
    /// exchange, bound to it).
    async fn consuming(&self, s: &Session, queue: &str) -> Result<(), QueueError> {
        self.check_queue(queue)?;
        s.ensure_queue(queue, &self.queue_arguments(queue)).await?;
        if !self.options.exchange.is_empty() {
            self.ensure_destination(s, queue).await?;
            s.bind(queue, &self.options.exchange, &self.routing_key(queue))
                .await?;
        }
        s.consume(queue, &format!("{}-{queue}", self.tag)).await?;
        Ok(())
    }

    /// Up to `n` jobs that arrived for `queue`, without waiting (the first call starts the
    /// consumer; its deliveries arrive in the background).
    pub async fn reserve_many(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        let s = self.session().await?;
        self.consuming(&s, queue).await?;
        // A delivery of a session that broke since it arrived cannot be acknowledged: the broker
        // has already put it back, so running it would only run it twice.
        Ok(s.take(queue, n)
            .into_iter()
            .filter(|d| d.acker.usable())
            .map(|d| reserved(queue, d, s.generation))
            .collect())
    }

    /// [`RabbitMqQueue::reserve_many`] for a queue that comes before the one the worker is
    /// about to take from (`--queue high,low`): when nothing of `queue` is buffered but the
    /// broker still holds ready jobs of it, its next delivery is on its way (an ack just made
    /// room), so wait for it briefly instead of letting a lower queue's job in first, as
    /// Laravel's pop in queue order would not. One passive declare per call.
    pub async fn reserve_before_lower(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        let s = self.session().await?;
        self.consuming(&s, queue).await?;
        if s.buffered(queue) == 0 {
            if s.ready_count(queue).await?.unwrap_or(0) == 0 {
                return Ok(Vec::new());
            }
            s.wait_for(queue, std::time::Duration::from_millis(50))
                .await;
        }
        self.reserve_many(queue, n).await
    }

    /// Wait up to `secs` for a delivery on any consumed queue (starting the consumer of `queue`
    /// first); true if one is waiting.
    pub async fn wait_for_delivery(&self, queue: &str, secs: u64) -> Result<bool, QueueError> {
        let s = self.session().await?;
        self.consuming(&s, queue).await?;
        // Nothing delivered is "empty" only when the broker says so too: after a reconnect,
        // or on a loaded machine, ready jobs may take longer than the wait to arrive, and a
        // `--stop-when-empty` worker must not stop on them (PHP's basic_get asks the broker).
        let mut rounds = 0;
        loop {
            let delivered = s.wait(std::time::Duration::from_secs(secs)).await;
            if delivered && !s.is_broken() {
                return Ok(true);
            }
            // A delivery of a session that broke cannot be acknowledged (the broker put it
            // back), and the reserve that follows would open a new session whose consumer has
            // delivered nothing yet: report the outage, so the worker reconnects and waits again
            // instead of taking an empty reserve for an empty queue.
            if let Some(reason) = s.broken_because() {
                // Nothing came because the connection broke: an outage, not an empty queue.
                return Err(AmqpError::Lost {
                    server: self.server().to_owned(),
                    reason,
                }
                .into());
            }
            rounds += 1;
            let ready = s.ready_count(queue).await?.unwrap_or(0);
            if ready == 0 || rounds >= 10 {
                return Ok(false);
            }
        }
    }

    /// Resolve when a delivery is waiting on any consumed queue, or the session broke (the
    /// next reserve then reconnects); never, before the first session. For a worker whose
    /// slots are partly busy: it takes the new job now instead of after `--sleep`.
    pub async fn arrival(&self) {
        let current = self.link.current();
        match current {
            Some(s) => {
                while !s.wait(std::time::Duration::from_secs(3600)).await && !s.is_broken() {}
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Acknowledge: the job is done. False if the delivery's connection is gone (the broker
    /// already gave it back to the queue, so it will run again).
    pub async fn delete(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        let Some(d) = &job.delivery else {
            return Ok(false);
        };
        Ok(d.acker
            .ack(BasicAckOptions::default())
            .await
            .unwrap_or(false))
    }

    /// The package's `markAsFailed`: reject without requeue (dead-lettered when the queue has a
    /// dead-letter exchange, else dropped; the failed_jobs row is the record).
    pub async fn delete_failed(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        let Some(d) = &job.delivery else {
            return Ok(false);
        };
        Ok(d.acker
            .reject(BasicRejectOptions { requeue: false })
            .await
            .unwrap_or(false))
    }

    /// Publish the job again with `attempts` made, after `delay` seconds, then acknowledge the
    /// delivery. If the publish fails the delivery is given back unacknowledged (requeued with
    /// its old header), so the job is not lost and not held.
    async fn republish(
        &self,
        job: &ReservedJob,
        attempts: i64,
        delay: u64,
    ) -> Result<bool, QueueError> {
        let Some(d) = &job.delivery else {
            return Ok(false);
        };
        if !d.acker.usable() {
            return Ok(false);
        }
        if let Err(e) = self
            .publish_job(&job.queue, &job.original, attempts, delay)
            .await
        {
            let _ = d
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await;
            return Err(e);
        }
        Ok(d.acker
            .ack(BasicAckOptions::default())
            .await
            .unwrap_or(false))
    }

    /// The package's `release($delay)`: the same body again with this attempt counted.
    pub async fn release(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        self.republish(job, job.attempts, delay).await
    }

    /// Give the job back without counting this attempt: requeued as it is (delay 0) or
    /// published again with the attempts it came with.
    pub async fn hand_back(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        if delay > 0 {
            return self
                .republish(job, job.attempts.saturating_sub(1).max(0), delay)
                .await;
        }
        let Some(d) = &job.delivery else {
            return Ok(false);
        };
        Ok(d.acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .unwrap_or(false))
    }

    /// A job that timed out and was not failed: back on the queue with the attempt counted
    /// (see the module docs).
    pub async fn after_timeout(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        self.republish(job, job.attempts, 0).await
    }

    /// The package's `size`: ready messages (a passive declare's count; 0 for a missing queue).
    /// Unacknowledged and delayed messages are not counted, as in the package.
    pub async fn size(&self, queue: &str) -> Result<u64, QueueError> {
        self.check_queue(queue)?;
        let s = self.session().await?;
        Ok(u64::from(s.ready_count(queue).await?.unwrap_or(0)))
    }

    /// [`RabbitMqQueue::size`] as the split `queue:monitor` shows: all ready.
    pub async fn sizes(&self, queue: &str) -> Result<QueueSizes, QueueError> {
        let ready = self.size(queue).await?;
        Ok(QueueSizes {
            ready,
            ..QueueSizes::default()
        })
    }

    /// The package's `purge` (what `queue:clear` does on it): drop every ready message.
    pub async fn clear(&self, queue: &str) -> Result<u64, QueueError> {
        self.check_queue(queue)?;
        let s = self.session().await?;
        Ok(u64::from(s.purge(queue).await?))
    }

    /// Close the connection: deliveries taken but not acknowledged, and those still buffered,
    /// go back to their queues (the worker calls this after its jobs in flight finished).
    pub async fn close(&self) {
        self.link.close().await;
    }
}

/// A delivery as a reserved job: the attempt is the `laravel.attempts` header + 1 (1 without
/// headers), as the package's `RabbitMQJob::attempts()` counts.
fn reserved(queue: &str, d: lapin::message::Delivery, session: u64) -> ReservedJob {
    let made = d
        .properties
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get("laravel") {
            Some(AMQPValue::FieldTable(l)) => l.inner().get("attempts").and_then(amqp::int_value),
            _ => None,
        })
        .unwrap_or(0);
    ReservedJob {
        queue: queue.to_owned(),
        original: d.data,
        reserved: Vec::new(),
        attempts: made.saturating_add(1),
        reservation: Reservation::Delivery,
        row_id: None,
        delivery: Some(Delivery {
            acker: d.acker,
            redelivered: d.redelivered,
            session,
        }),
    }
}

impl From<AmqpError> for QueueError {
    fn from(e: AmqpError) -> QueueError {
        QueueError::Amqp(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_follow_the_package() {
        assert_eq!(fill("%s", "emails"), "emails");
        assert_eq!(fill("application-x.%s", "emails"), "application-x.emails");
        assert_eq!(fill(".%s", "emails"), "emails");
        assert_eq!(fill("%s.failed", "default"), "default.failed");
    }

    #[test]
    fn queue_arguments_follow_the_options() {
        let q = |o: RabbitMqQueueOptions| {
            RabbitMqQueue::new(AmqpEndpoint::from_uri("amqp://localhost"), 1, o)
        };
        assert!(q(RabbitMqQueueOptions::default())
            .queue_arguments("default")
            .inner()
            .is_empty());
        let all = q(RabbitMqQueueOptions {
            prioritize_delayed: true,
            reroute_failed: true,
            failed_exchange: "failed".into(),
            ..RabbitMqQueueOptions::default()
        })
        .queue_arguments("default");
        let a = all.inner();
        assert_eq!(a.get("x-max-priority"), Some(&AMQPValue::LongInt(2)));
        assert_eq!(
            a.get("x-dead-letter-routing-key"),
            Some(&amqp::short("default.failed"))
        );
        let quorum = q(RabbitMqQueueOptions {
            prioritize_delayed: true,
            quorum: true,
            ..RabbitMqQueueOptions::default()
        })
        .queue_arguments("default");
        assert!(quorum.inner().get("x-max-priority").is_none());
        assert_eq!(
            quorum.inner().get("x-queue-type"),
            Some(&amqp::short("quorum"))
        );
    }
}
