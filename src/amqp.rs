//! A RabbitMQ (AMQP 0-9-1) connection that heals itself, shared by the Laravel `rabbitmq` queue
//! connection ([`crate::queue::rabbitmq`]) and plain task queues ([`crate::task`]).
//!
//! The complaints users of PHP's RabbitMQ queue packages raise most are consumers that stay up
//! but dead after a missed heartbeat or a broken connection. Here every channel and consumer
//! belongs to one [`Session`]; the first error anywhere in it (the connection closed by the
//! broker, missed heartbeats, a channel closed by a failed declare, a consumer cancelled because
//! its queue was deleted) marks the whole session broken, and the next call opens a new one.
//! Deliveries taken under the old session cannot be acknowledged any more (their `Acker` is
//! poisoned, so acking one is a no-op, never an ack of the wrong message on the new channel);
//! the broker already put them back on their queue when the old connection died, so nothing is
//! lost and the only repeats are deliveries that were unacknowledged at the break.
//!
//! Publishing always waits for the broker's confirm, so `Ok` means the broker has the message
//! (written to disk for a durable queue): a job is acknowledged only after its replacement
//! (a release, a retry) is safe.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::{mpsc, Notify};

/// How long a connect (TCP, TLS and the AMQP handshake) may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds between heartbeats when the settings name none: the broker then closes a connection
/// that went silent for two of them, and so do we.
pub const DEFAULT_HEARTBEAT: u16 = 30;

/// What went wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpError {
    /// The broker could not be reached, refused the login, or did not answer in time.
    #[error("cannot connect to RabbitMQ at {server}: {reason}")]
    Connect {
        /// `host:port/vhost`, never the password.
        server: String,
        /// What the client said.
        reason: String,
    },
    /// An AMQP method failed (the broker closed the channel or connection, or the socket broke).
    #[error("rabbitmq {op}{}: {source}", on(.target))]
    Op {
        /// What larq was doing (`publish`, `declare`, `consume`, ...).
        op: &'static str,
        /// The queue or exchange it was about.
        target: String,
        /// The client's error (boxed: lapin's error is large, and every queue result carries it).
        source: Box<lapin::Error>,
    },
    /// The broker refused a published message (a negative confirm) or returned it as
    /// unroutable (`mandatory`: no queue is bound to the exchange and routing key).
    #[error("rabbitmq did not take the message for exchange {exchange:?}, routing key {routing_key:?}: {reason}")]
    NotTaken {
        /// The exchange (`""` is the default exchange).
        exchange: String,
        /// The routing key.
        routing_key: String,
        /// `nack` or the broker's return reason.
        reason: String,
    },
    /// The session broke while larq waited on it (the next call reconnects).
    #[error("the RabbitMQ connection to {server} broke: {reason}")]
    Lost {
        /// `host:port/vhost`.
        server: String,
        /// What ended it.
        reason: String,
    },
    /// A name longer than AMQP's 255-byte short string, or otherwise unusable.
    #[error("{what} {name:?} cannot be used: {reason}")]
    Name {
        /// `queue`, `exchange`, `routing key`.
        what: &'static str,
        /// The name (cut to 300 characters).
        name: String,
        /// Why.
        reason: &'static str,
    },
}

fn on(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" on {target:?}")
    }
}

impl AmqpError {
    /// Whether the error means the session is gone (the next call reconnects), as opposed to a
    /// refusal that would happen again on a new connection.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            AmqpError::Connect { .. } | AmqpError::Lost { .. } => true,
            AmqpError::Op { source, .. } => !matches!(
                source.kind(),
                lapin::ErrorKind::ProtocolError(e)
                    if e.get_id() == 404 || e.get_id() == 406 || e.get_id() == 403
            ),
            _ => false,
        }
    }

    fn op(op: &'static str, target: &str, source: lapin::Error) -> AmqpError {
        AmqpError::Op {
            op,
            target: target.to_owned(),
            source: Box::new(source),
        }
    }
}

/// Check a queue, exchange or routing key name against AMQP's short-string limit.
pub fn check_name(what: &'static str, name: &str) -> Result<(), AmqpError> {
    if name.len() > 255 {
        return Err(AmqpError::Name {
            what,
            name: name.chars().take(300).collect(),
            reason: "longer than AMQP's 255-byte limit",
        });
    }
    Ok(())
}

/// Where the broker is: the `amqp://` URI (with the password) and how to name it in messages.
#[derive(Clone)]
pub struct AmqpEndpoint {
    uri: String,
    server: String,
}

impl std::fmt::Debug for AmqpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpEndpoint")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl AmqpEndpoint {
    /// An endpoint from the parts Laravel's RabbitMQ config names (`RABBITMQ_HOST`, `_PORT`,
    /// `_USER`, `_PASSWORD`, `_VHOST`). `secure` speaks TLS (`amqps://`, certificates checked
    /// against the webpki roots); `heartbeat` 0 takes [`DEFAULT_HEARTBEAT`].
    pub fn new(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        vhost: &str,
        secure: bool,
        heartbeat: u16,
    ) -> AmqpEndpoint {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let scheme = if secure { "amqps" } else { "amqp" };
        let heartbeat = if heartbeat == 0 {
            DEFAULT_HEARTBEAT
        } else {
            heartbeat
        };
        let uri = format!(
            "{scheme}://{}:{}@{host}:{port}/{}?heartbeat={heartbeat}",
            enc(user),
            enc(password),
            enc(vhost)
        );
        AmqpEndpoint {
            uri,
            server: format!(
                "{host}:{port}{}{vhost}",
                if vhost.starts_with('/') { "" } else { "/" }
            ),
        }
    }

    /// An endpoint from a full `amqp://user:pass@host:port/vhost?heartbeat=N` URI.
    pub fn from_uri(uri: &str) -> AmqpEndpoint {
        let server = uri
            .split_once("://")
            .map(|(_, rest)| rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest))
            .unwrap_or(uri);
        let server = server.split('?').next().unwrap_or(server).to_owned();
        AmqpEndpoint {
            uri: uri.to_owned(),
            server,
        }
    }

    /// `host:port/vhost`, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// One connection and its channels; every consumer started on it stops with it.
pub struct Session {
    connection: Connection,
    /// Consumers, with `basic_qos` set once.
    consume: Channel,
    /// Publishes and declares, in confirm mode.
    publish: Channel,
    /// Set by the first error anywhere in the session.
    broken: Arc<AtomicBool>,
    /// Why it broke, for the log line.
    why: Arc<Mutex<Option<String>>>,
    /// Woken by every delivery and by the break.
    notify: Arc<Notify>,
    /// Queues known to exist (checked or declared in this session).
    known: Mutex<HashSet<String>>,
    /// The channel passive declares use (`None` until the first, and after a 404 closed it).
    inspect: tokio::sync::Mutex<Option<Channel>>,
    /// Each consumed queue's deliveries, in arrival order.
    buffers: Mutex<HashMap<String, mpsc::UnboundedReceiver<lapin::message::Delivery>>>,
    /// Counts sessions, so a log line can say which one broke.
    pub generation: u64,
}

impl Session {
    /// Why the session broke (`None` while it works).
    pub fn broken_because(&self) -> Option<String> {
        if !self.is_broken() {
            return None;
        }
        let why = self.why.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Some(why.unwrap_or_else(|| "the connection closed".to_owned()))
    }

    /// Whether an error has ended this session.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
            || !self.connection.status().connected()
            // A working channel the broker closed (soft errors do not break the session by
            // themselves: see the events listener in `AmqpLink::open`).
            || !self.publish.status().connected()
            || !self.consume.status().connected()
    }

    fn breaks(&self, reason: impl std::fmt::Display) {
        let mut why = self.why.lock().unwrap_or_else(|p| p.into_inner());
        if why.is_none() {
            *why = Some(reason.to_string());
        }
        self.broken.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Mark the session broken when `result` failed in a way a new connection would mend.
    fn watch<T>(&self, result: Result<T, AmqpError>) -> Result<T, AmqpError> {
        if let Err(e) = &result {
            if e.is_connection_lost() || matches!(e, AmqpError::Op { .. }) {
                // Any failed method closes at least its channel: start over.
                self.breaks(e);
            }
        }
        result
    }

    /// Whether the queue exists, from a passive declare on a channel of its own (a 404 closes
    /// the channel it happens on, which must not be a working one). `Some(ready messages)`.
    pub async fn ready_count(&self, queue: &str) -> Result<Option<u32>, AmqpError> {
        check_name("queue", queue)?;
        // One channel kept for these checks (a 404 closes it; the next check opens another).
        let mut inspect = self.inspect.lock().await;
        let ch = match inspect.as_ref().filter(|c| c.status().connected()) {
            Some(ch) => ch.clone(),
            None => {
                let ch = self.connection.create_channel().await;
                let ch = self.watch(ch.map_err(|e| AmqpError::op("open channel", queue, e)))?;
                *inspect = Some(ch.clone());
                ch
            }
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match ch
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => Ok(Some(q.message_count())),
            Err(e) if is_code(&e, 404) => {
                *inspect = None;
                Ok(None)
            }
            Err(e) => {
                *inspect = None;
                self.watch(Err(AmqpError::op("check queue", queue, e)))
            }
        }
    }

    /// Declare `queue` (durable) with `arguments` unless it exists; the check comes first, as
    /// the PHP package does, so a queue someone declared with other arguments is used as it is
    /// instead of failing with `PRECONDITION_FAILED`.
    pub async fn ensure_queue(&self, queue: &str, arguments: &FieldTable) -> Result<(), AmqpError> {
        if self.known_queue(queue) {
            return Ok(());
        }
        if self.ready_count(queue).await?.is_none() {
            self.declare_queue(queue, arguments).await?;
        }
        self.remember(queue);
        Ok(())
    }

    fn known_queue(&self, queue: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(queue)
    }

    fn remember(&self, queue: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(queue.to_owned());
    }

    /// Declare `queue` durable with `arguments` (always sent: a delay queue's TTL must be its).
    pub async fn declare_queue(
        &self,
        queue: &str,
        arguments: &FieldTable,
    ) -> Result<(), AmqpError> {
        check_name("queue", queue)?;
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let r = self
            .publish
            .queue_declare(queue.into(), options, arguments.clone())
            .await
            .map(drop)
            .map_err(|e| AmqpError::op("declare queue", queue, e));
        self.watch(r)
    }

    /// Bind `queue` to `exchange` with `routing_key` (the broker ignores a binding it has).
    pub async fn bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), AmqpError> {
        let r = self
            .publish
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| AmqpError::op("bind queue", queue, e));
        self.watch(r)
    }

    /// Declare a durable exchange of `kind` (`direct`, `topic`, `fanout`, `headers`).
    pub async fn declare_exchange(&self, exchange: &str, kind: &str) -> Result<(), AmqpError> {
        check_name("exchange", exchange)?;
        let options = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let kind = match kind {
            "topic" => lapin::ExchangeKind::Topic,
            "fanout" => lapin::ExchangeKind::Fanout,
            "headers" => lapin::ExchangeKind::Headers,
            _ => lapin::ExchangeKind::Direct,
        };
        let r = self
            .publish
            .exchange_declare(exchange.into(), kind, options, FieldTable::default())
            .await
            .map_err(|e| AmqpError::op("declare exchange", exchange, e));
        self.watch(r)
    }

    /// Publish persistently and wait for the broker's confirm. `mandatory`: a message no queue
    /// takes is an error ([`AmqpError::NotTaken`]), not silently dropped.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), AmqpError> {
        check_name("exchange", exchange)?;
        check_name("routing key", routing_key)?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let sent = self
            .publish
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                body,
                properties,
            )
            .await;
        let confirm = match sent {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        };
        let confirm = self.watch(confirm.map_err(|e| AmqpError::op("publish", routing_key, e)))?;
        let not_taken = |reason: String| AmqpError::NotTaken {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            reason,
        };
        match confirm {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(not_taken(format!(
                "returned as {} {}",
                returned.reply_code, returned.reply_text
            ))),
            Confirmation::Nack(_) => Err(not_taken("the broker answered nack".to_owned())),
        }
    }

    /// Delete every ready message of `queue`; how many (0 when the queue does not exist).
    pub async fn purge(&self, queue: &str) -> Result<u32, AmqpError> {
        if self.ready_count(queue).await?.is_none() {
            return Ok(0);
        }
        let r = self
            .publish
            .queue_purge(queue.into(), QueuePurgeOptions::default())
            .await
            .map_err(|e| AmqpError::op("purge", queue, e));
        self.watch(r)
    }

    /// Start consuming `queue` (manual acks) unless this session already does. Deliveries wait
    /// in a buffer that [`Session::take`] empties; at most the channel's prefetch are unacked.
    pub async fn consume(&self, queue: &str, tag: &str) -> Result<(), AmqpError> {
        if self
            .buffers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(queue)
        {
            return Ok(());
        }
        let consumer = self
            .consume
            .basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| AmqpError::op("consume", queue, e));
        let mut consumer = self.watch(consumer)?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.buffers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(queue.to_owned(), rx);
        let broken = Arc::clone(&self.broken);
        let why = Arc::clone(&self.why);
        let notify = Arc::clone(&self.notify);
        let name = queue.to_owned();
        tokio::spawn(async move {
            let reason = loop {
                match consumer.next().await {
                    Some(Ok(delivery)) => {
                        if tx.send(delivery).is_err() {
                            // The session was dropped: its connection closes with it.
                            return;
                        }
                        notify.notify_one();
                    }
                    Some(Err(e)) => break format!("the consumer of {name:?} failed: {e}"),
                    None => break format!("the broker cancelled the consumer of {name:?}"),
                }
            };
            let mut w = why.lock().unwrap_or_else(|p| p.into_inner());
            if w.is_none() {
                *w = Some(reason);
            }
            drop(w);
            broken.store(true, Ordering::SeqCst);
            notify.notify_one();
        });
        Ok(())
    }

    /// Up to `n` deliveries that arrived for `queue`, without waiting.
    pub fn take(&self, queue: &str, n: usize) -> Vec<lapin::message::Delivery> {
        let mut buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        if let Some(rx) = buffers.get_mut(queue) {
            while out.len() < n {
                match rx.try_recv() {
                    Ok(d) => out.push(d),
                    Err(_) => break,
                }
            }
        }
        out
    }

    /// How many deliveries for `queue` wait in its buffer.
    pub fn buffered(&self, queue: &str) -> usize {
        let buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        buffers.get(queue).map_or(0, |rx| rx.len())
    }

    /// Wait up to `timeout` for a delivery of `queue` itself (or the session to break); true
    /// if one is waiting.
    pub async fn wait_for(&self, queue: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.buffered(queue) > 0 {
                return true;
            }
            if self.is_broken() {
                return false;
            }
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                return self.buffered(queue) > 0;
            }
            // Another queue's delivery may have taken the wake-up: pass it on.
            if self.has_deliveries() {
                self.notify.notify_one();
                tokio::task::yield_now().await;
            }
        }
    }

    /// Whether any consumed queue has a delivery waiting.
    pub fn has_deliveries(&self) -> bool {
        let buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        buffers.values().any(|rx| !rx.is_empty())
    }

    /// Wait up to `timeout` for a delivery on any consumed queue, or for the session to break;
    /// true if a delivery is waiting.
    pub async fn wait(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.has_deliveries() {
                return true;
            }
            if self.is_broken() {
                return false;
            }
            // A wake-up may be left over from a delivery already taken: look again.
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                return self.has_deliveries();
            }
        }
    }

    /// Stop consuming and close the connection: the broker puts every unacknowledged delivery
    /// (taken or still buffered) back on its queue.
    pub async fn close(&self) {
        self.broken.store(true, Ordering::SeqCst);
        let _ = self.connection.close(200, "OK".into()).await;
    }
}

fn is_soft(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p)
        if matches!(p.kind(), lapin::protocol::AMQPErrorKind::Soft(_)))
}

fn is_code(e: &lapin::Error, code: u16) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.get_id() == code)
}

/// A connection to one broker that reopens itself: [`AmqpLink::session`] hands out the live
/// session, or opens a new one when the last broke, logging the break once.
pub struct AmqpLink {
    endpoint: AmqpEndpoint,
    /// Unacknowledged deliveries per consumer (`basic_qos` prefetch count).
    prefetch: u16,
    current: Mutex<Option<Arc<Session>>>,
    opening: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl std::fmt::Debug for AmqpLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpLink")
            .field("endpoint", &self.endpoint)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl AmqpLink {
    /// A link that connects on first use; `prefetch` bounds each consumer's unacked deliveries.
    pub fn new(endpoint: AmqpEndpoint, prefetch: u16) -> AmqpLink {
        AmqpLink {
            endpoint,
            prefetch: prefetch.max(1),
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// The broker, for messages.
    pub fn endpoint(&self) -> &AmqpEndpoint {
        &self.endpoint
    }

    /// Change the prefetch for sessions opened from now on (the worker sets it to its
    /// concurrency before the first session).
    pub fn set_prefetch(&mut self, prefetch: u16) {
        self.prefetch = prefetch.max(1);
    }

    /// The session now, broken or not, without opening one.
    pub fn current(&self) -> Option<Arc<Session>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn live(&self) -> Option<Arc<Session>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().filter(|s| !s.is_broken()).cloned()
    }

    /// The current session, or a new one if there is none or it broke.
    pub async fn session(&self) -> Result<Arc<Session>, AmqpError> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let _opening = self.opening.lock().await;
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let old = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(old) = &old {
            let why = old
                .why
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "the connection closed".to_owned());
            tracing::warn!(server = %self.endpoint.server, session = old.generation, reason = %why, "the RabbitMQ connection broke; reconnecting (its unacknowledged deliveries go back to their queues)");
        }
        let session = Arc::new(self.open().await?);
        if old.is_some() {
            tracing::warn!(server = %self.endpoint.server, session = session.generation, "reconnected to RabbitMQ");
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&session));
        Ok(session)
    }

    async fn open(&self) -> Result<Session, AmqpError> {
        let server = self.endpoint.server.clone();
        let connect_err = |reason: String| AmqpError::Connect {
            server: server.clone(),
            reason,
        };
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(&self.endpoint.uri, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| connect_err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| connect_err(e.to_string()))?;
        let opened = async {
            let consume = connection.create_channel().await?;
            consume
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await?;
            let publish = connection.create_channel().await?;
            publish
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>((consume, publish))
        }
        .await;
        let (consume, publish) = opened.map_err(|e| connect_err(e.to_string()))?;
        let broken = Arc::new(AtomicBool::new(false));
        let why = Arc::new(Mutex::new(None));
        let notify = Arc::new(Notify::new());
        {
            let broken = Arc::clone(&broken);
            let why = Arc::clone(&why);
            let notify = Arc::clone(&notify);
            let mut events = connection.events_listener();
            tokio::spawn(async move {
                while let Some(event) = events.next().await {
                    if let lapin::Event::Error(e) = event {
                        // A channel the broker closed with a soft error (a passive declare's
                        // 404 closes the inspect channel) is that channel's business: the
                        // session's own channels report theirs through the failed call
                        // (`watch`) or the consumer stream. Only the connection's end breaks it.
                        if is_soft(&e) {
                            continue;
                        }
                        let mut w = why.lock().unwrap_or_else(|p| p.into_inner());
                        if w.is_none() {
                            *w = Some(e.to_string());
                        }
                        drop(w);
                        broken.store(true, Ordering::SeqCst);
                        notify.notify_one();
                    }
                }
            });
        }
        Ok(Session {
            connection,
            consume,
            publish,
            broken,
            why,
            notify,
            known: Mutex::new(HashSet::new()),
            inspect: tokio::sync::Mutex::new(None),
            buffers: Mutex::new(HashMap::new()),
            generation: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
        })
    }

    /// Close the current session, if any (graceful shutdown: unacked deliveries go back).
    pub async fn close(&self) {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(s) = current {
            s.close().await;
        }
    }
}

/// A header table value as an integer, whatever integer type the producer chose (php-amqplib
/// writes `I`, int32; other clients `l`, `b`, ...); strings of digits are taken too.
pub fn int_value(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::ShortString(s) => s.as_str().trim().parse().ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// An integer as php-amqplib encodes a PHP int in a table: `I` (int32) when it fits, else `l`.
pub fn php_int(v: i64) -> AMQPValue {
    match i32::try_from(v) {
        Ok(small) => AMQPValue::LongInt(small),
        Err(_) => AMQPValue::LongLongInt(v),
    }
}

/// A short string table value.
pub fn short(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// A field name.
pub fn key(s: &str) -> ShortString {
    s.into()
}

/// Reading single messages, for tools and tests that look into a queue (a parked task's
/// headers, a reply) without starting a consumer.
impl Session {
    /// Take the next ready message of `queue` (`basic_get`, acknowledged on delivery), or `None`
    /// when the queue is empty or does not exist. On a channel of its own, as
    /// [`Session::ready_count`], so a missing queue closes no working channel.
    pub async fn get(&self, queue: &str) -> Result<Option<lapin::message::Delivery>, AmqpError> {
        check_name("queue", queue)?;
        let ch = self
            .connection
            .create_channel()
            .await
            .map_err(|e| AmqpError::op("open channel", queue, e))?;
        let options = lapin::options::BasicGetOptions { no_ack: true };
        match ch.basic_get(queue.into(), options).await {
            Ok(got) => {
                let _ = ch.close(200, "OK".into()).await;
                Ok(got.map(|m| m.delivery))
            }
            Err(e) if is_code(&e, 404) => Ok(None),
            Err(e) => self.watch(Err(AmqpError::op("get", queue, e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_hides_the_password_and_encodes_the_vhost() {
        let e = AmqpEndpoint::new("mq", 5672, "gu@st", "p/w", "/", false, 0);
        assert_eq!(e.server(), "mq:5672/");
        assert_eq!(e.uri, "amqp://gu%40st:p%2Fw@mq:5672/%2F?heartbeat=30");
        assert!(!format!("{e:?}").contains("p/w"));
        let e = AmqpEndpoint::new("mq", 5671, "u", "p", "prod", true, 10);
        assert_eq!(e.server(), "mq:5671/prod");
        assert!(e.uri.starts_with("amqps://") && e.uri.ends_with("?heartbeat=10"));
    }

    #[test]
    fn header_integers_of_any_width() {
        assert_eq!(int_value(&AMQPValue::LongInt(3)), Some(3));
        assert_eq!(int_value(&AMQPValue::LongLongInt(1 << 40)), Some(1 << 40));
        assert_eq!(int_value(&AMQPValue::ShortShortUInt(7)), Some(7));
        assert_eq!(int_value(&AMQPValue::LongString("12".into())), Some(12));
        assert_eq!(int_value(&AMQPValue::Boolean(true)), None);
        assert_eq!(php_int(5), AMQPValue::LongInt(5));
        assert_eq!(php_int(1 << 40), AMQPValue::LongLongInt(1 << 40));
    }

    #[test]
    fn long_names_are_refused() {
        assert!(check_name("queue", &"q".repeat(255)).is_ok());
        assert!(check_name("queue", &"q".repeat(256)).is_err());
    }
}
