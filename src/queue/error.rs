//! What can go wrong with a queue, for every driver: connecting, a command or query, a script
//! reply, a queue name a Redis Cluster cannot hold.

/// A queue operation failed, with the operation and queue it happened in (both drivers).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The connection URL is invalid (the URL itself is never printed: it may hold a password).
    #[error("invalid Redis connection settings: {0}")]
    Config(String),
    /// Redis could not be reached: refused, unreachable, or silent past the connect timeout.
    #[error("cannot connect to Redis at {server}: {source}")]
    Connect {
        /// `host:port` (or the socket path, or the cluster's seed nodes); never the password.
        server: String,
        /// The client error.
        source: redis::RedisError,
    },
    /// Redis accepted the connection but did not answer within the timeout.
    #[error("cannot connect to Redis at {server}: no answer within {} s (is it a Redis server, and not stalled?)", .timeout.as_secs())]
    ConnectTimeout {
        /// `host:port`.
        server: String,
        /// How long larq waited.
        timeout: std::time::Duration,
    },
    /// The queue's database could not be opened.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A Redis command or script failed.
    #[error("redis {op}{}: {source}", on_queue(.queue))]
    Redis {
        /// What larq was doing (`reserve`, `delete`, ...).
        op: &'static str,
        /// The queue name.
        queue: String,
        /// The client error.
        source: redis::RedisError,
    },
    /// A query of the database driver failed (the message never includes the password).
    #[error("{backend} {op}{}: {source}", on_queue(.queue))]
    Database {
        /// What larq was doing (`reserve`, `delete`, ...).
        op: &'static str,
        /// The queue name.
        queue: String,
        /// `sqlite`, `mysql` or `pgsql`.
        backend: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
    /// The queue's keys would hash to different slots of a Redis Cluster, so its scripts could
    /// not run there (the server would answer `CROSSSLOT`).
    #[error("queue {queue:?} cannot be used on a Redis Cluster: its keys ({prefix}queues:{queue}, :delayed, :reserved, :notify) hash to different slots; name it with a hash tag, e.g. {{{queue}}}, as Laravel requires on a cluster (13.5+ keeps an untagged {queue:?} under those same keys)")]
    CrossSlot {
        /// The queue name.
        queue: String,
        /// The connection's key prefix.
        prefix: String,
    },
    /// The reserve script answered something that is not its documented reply.
    #[error("unexpected reply from the {op} script on queue {queue:?}")]
    Protocol {
        /// The script.
        op: &'static str,
        /// The queue name.
        queue: String,
    },
    /// A queue name the driver cannot store faithfully (empty, or longer than the `jobs.queue`
    /// column holds). Refused before anything is written, so no job lands on another queue.
    #[error("queue name {queue:?} cannot be used: {reason}")]
    QueueName {
        /// The name as given (cut to 300 characters in this value).
        queue: String,
        /// Why.
        reason: &'static str,
    },
    /// A RabbitMQ connection, method or publish failed.
    #[error(transparent)]
    Amqp(crate::amqp::AmqpError),
    /// A failed job's stored payload that `queue:retry`'s rewrite cannot take (not a JSON
    /// object); nothing was pushed.
    #[error("the failed job's payload cannot be pushed back: {reason}")]
    RetryPayload {
        /// What is wrong with it.
        reason: String,
    },
}

/// ` on queue "name"`, or nothing for an operation that is not about one queue.
fn on_queue(queue: &str) -> String {
    if queue.is_empty() {
        String::new()
    } else {
        format!(" on queue {queue:?}")
    }
}

impl QueueError {
    /// Whether the error means the connection is gone (Laravel's worker quits then; a supervisor
    /// restarts it).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            QueueError::Connect { source, .. } => {
                source.is_connection_dropped()
                    || source.is_io_error()
                    || source.is_connection_refusal()
                    || source.is_timeout()
            }
            QueueError::ConnectTimeout { .. } => true,
            QueueError::Db(e) => e.is_unreachable(),
            QueueError::Redis { source, .. } => {
                source.is_connection_dropped() || source.is_io_error()
            }
            QueueError::Amqp(e) => e.is_connection_lost(),
            QueueError::Database { source, .. } => matches!(
                source,
                sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut
            ),
            _ => false,
        }
    }

    /// Whether SQLite refused the statement because another connection held the file's lock past
    /// the busy timeout (`SQLITE_BUSY`/`SQLITE_LOCKED`, "database is locked"). Nothing was
    /// written, so the statement may run again; a finished job's delete should, rather than
    /// leave the job to run a second time after `retry_after`.
    pub fn is_busy(&self) -> bool {
        match self {
            QueueError::Database {
                backend: "sqlite",
                source: sqlx::Error::Database(e),
                ..
            } => e
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
            _ => false,
        }
    }
}
