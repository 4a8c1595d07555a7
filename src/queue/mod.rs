//! Queue drivers: where jobs wait, how a worker reserves one, and how it lets go of it.
//!
//! Laravel's Redis ([`redis`]) and `jobs` table ([`database`]) drivers are implemented, and the
//! RabbitMQ connection of the package Laravel apps use for it ([`rabbitmq`]). The types here are what any driver hands the worker, and [`Queue`] is the one
//! value the worker holds, so the worker does not depend on either driver's details.

pub mod database;
mod error;
pub mod rabbitmq;
pub mod redis;
pub mod retry;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::database::{DatabaseQueue, DatabaseQueueOptions};
pub use self::error::QueueError;
pub use self::rabbitmq::{RabbitMqQueue, RabbitMqQueueOptions};
pub use self::redis::connection::{RedisConnection, RedisEndpoint};
pub use self::redis::{QueueSizes, RedisQueue, RedisQueueOptions};
pub use self::retry::{retry_payload, RetryPayload};

/// How the reserve step could count the attempt, which decides whether PHP could have read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// `"attempts":N` edited in place: the reserved copy keeps every other byte of the payload.
    InPlace,
    /// The payload was re-encoded by cjson (what Laravel's own pop script always does).
    Reencoded,
    /// The payload has no numeric top-level `attempts` or is not JSON. Laravel's script would have
    /// lost it; ours parks the untouched bytes in `:reserved` so the worker can fail it properly.
    Invalid,
    /// A `jobs` table row: the attempt is counted in its `attempts` column and the payload (which
    /// has no `attempts` of its own) is untouched.
    Row,
    /// A RabbitMQ delivery: the attempt is its `laravel.attempts` header + 1 and the delivery
    /// is held (unacknowledged) by this worker's connection.
    Delivery,
}

/// A job taken off a queue and held under a reservation that expires after `retry_after`.
#[derive(Debug, Clone)]
pub struct ReservedJob {
    /// Queue name as configured (`default`, not `queues:default`).
    pub queue: String,
    /// The body as it was in the ready list: what failed_jobs stores (Laravel's `getRawBody()`).
    pub original: Vec<u8>,
    /// The exact member of `:reserved`; the only bytes that can delete or release the job. Empty
    /// for a database row, which is held by [`ReservedJob::row_id`] and its attempt count.
    pub reserved: Vec<u8>,
    /// Attempts including this one (1 on the first run); 0 when the payload has no count.
    pub attempts: i64,
    /// How the attempt was counted.
    pub reservation: Reservation,
    /// The `jobs.id` of a database job: Laravel's job id for that driver (`None` on Redis).
    pub row_id: Option<i64>,
    /// The RabbitMQ delivery that holds the job (`None` on the other drivers).
    pub delivery: Option<rabbitmq::Delivery>,
}

/// The queue connection a worker works: one of the drivers, behind the operations the worker
/// needs, so the worker loop is written once.
#[derive(Debug)]
pub enum Queue {
    /// Laravel's `redis` driver (shared: a [`crate::dispatch::Dispatcher`] may push through it).
    Redis(Arc<RedisQueue>),
    /// Laravel's `database` driver.
    Database(Arc<DatabaseQueue>),
    /// The `rabbitmq` driver of `vladimir-yuldashev/laravel-queue-rabbitmq`.
    RabbitMq(Arc<RabbitMqQueue>),
}

impl From<RedisQueue> for Queue {
    fn from(q: RedisQueue) -> Queue {
        Queue::Redis(Arc::new(q))
    }
}

impl From<Arc<RedisQueue>> for Queue {
    fn from(q: Arc<RedisQueue>) -> Queue {
        Queue::Redis(q)
    }
}

impl From<DatabaseQueue> for Queue {
    fn from(q: DatabaseQueue) -> Queue {
        Queue::Database(Arc::new(q))
    }
}

impl From<RabbitMqQueue> for Queue {
    fn from(q: RabbitMqQueue) -> Queue {
        Queue::RabbitMq(Arc::new(q))
    }
}

impl Queue {
    /// The connection name failed_jobs records (`redis`, `database`).
    pub fn connection_name(&self) -> &str {
        match self {
            Queue::Redis(q) => q.connection_name(),
            Queue::Database(q) => q.connection_name(),
            Queue::RabbitMq(q) => q.connection_name(),
        }
    }

    /// Seconds a reservation lasts before the job is handed out again.
    pub fn retry_after(&self) -> u64 {
        match self {
            Queue::Redis(q) => q.options().retry_after,
            Queue::Database(q) => q.options().retry_after,
            // Deliveries are held until acknowledged or the connection dies; no expiry.
            Queue::RabbitMq(_) => 0,
        }
    }

    /// Seconds to block on an empty queue (Redis `block_for`); `None` polls.
    pub fn block_for(&self) -> Option<u64> {
        match self {
            Queue::Redis(q) => q.options().block_for,
            Queue::Database(_) => None,
            Queue::RabbitMq(q) => Some(q.options().block_for),
        }
    }

    /// Push a payload ready now.
    pub async fn push(&self, queue: &str, payload: &[u8]) -> Result<(), QueueError> {
        match self {
            Queue::Redis(q) => q.push(queue, payload).await.map(drop),
            Queue::Database(q) => q.push(queue, payload).await.map(drop),
            Queue::RabbitMq(q) => q.push(queue, payload).await,
        }
    }

    /// Push a payload that becomes ready `delay` seconds from now.
    pub async fn later(&self, queue: &str, delay: u64, payload: &[u8]) -> Result<(), QueueError> {
        match self {
            Queue::Redis(q) => q.later(queue, delay, payload).await,
            Queue::Database(q) => q.later(queue, delay, payload).await.map(drop),
            Queue::RabbitMq(q) => q.later(queue, delay, payload).await,
        }
    }

    /// Make due delayed jobs and expired reservations available. The database driver's reserve
    /// query already takes both, so there it does nothing.
    pub async fn migrate(&self, queue: &str) -> Result<u64, QueueError> {
        match self {
            Queue::Redis(q) => q.migrate(queue).await,
            Queue::Database(_) => Ok(0),
            Queue::RabbitMq(_) => Ok(0),
        }
    }

    /// Take the next available job, count the attempt and reserve it until now + retry_after.
    pub async fn reserve(&self, queue: &str) -> Result<Option<ReservedJob>, QueueError> {
        match self {
            Queue::Redis(q) => q.reserve(queue).await,
            Queue::Database(q) => q.reserve(queue).await,
            Queue::RabbitMq(q) => Ok(q.reserve_many(queue, 1).await?.pop()),
        }
    }

    /// Reserve up to `n` jobs at once (Redis: one atomic call; database: one transaction).
    pub async fn reserve_many(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        match self {
            Queue::Redis(q) => q.reserve_many(queue, n).await,
            Queue::Database(q) => q.reserve_many(queue, n).await,
            Queue::RabbitMq(q) => q.reserve_many(queue, n).await,
        }
    }

    /// Wait up to `secs` for a push notification; true if one arrived (Redis only).
    pub async fn wait_for_notify(&self, queue: &str, secs: u64) -> Result<bool, QueueError> {
        match self {
            Queue::Redis(q) => q.wait_for_notify(queue, secs).await,
            Queue::Database(_) => Ok(false),
            Queue::RabbitMq(q) => q.wait_for_delivery(queue, secs).await,
        }
    }

    /// Whether finished jobs' deletes should wait for the loop's next
    /// [`Queue::settle_and_reserve`] instead of going out on their own. On Redis they ride along
    /// in the reserve script (one round trip per loop instead of one per delete plus one per
    /// reserve); on the database driver in the reserve's transaction (one commit per loop
    /// instead of one per job plus one per loop: commits are what a job costs there). A
    /// finished job reports `Processed` only once its delete is committed, and the loop sends
    /// waiting deletes on their own when it is not about to reserve, so the crash window is
    /// Laravel's (a job that ran but whose delete was not yet committed runs again after
    /// `retry_after`) widened by at most one loop pass.
    pub fn defers_deletes(&self) -> bool {
        matches!(self, Queue::Redis(_) | Queue::Database(_))
    }

    /// Delete the `finished` jobs (each: whether it was still reserved), make due delayed jobs and
    /// expired reservations available when `migrate`, then reserve up to `n`: on Redis one script
    /// call, with the deletes first, so a job whose reservation expired while its delete waited
    /// (Redis stalled past `retry_after`) is deleted, not migrated back to run again; on the
    /// database driver one transaction (PostgreSQL: one statement), deletes first for the same
    /// reason ([`DatabaseQueue::settle_and_reserve`]).
    pub async fn settle_and_reserve(
        &self,
        queue: &str,
        finished: &[&ReservedJob],
        migrate: bool,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), QueueError> {
        match self {
            Queue::Redis(q) => {
                let members: Vec<&[u8]> = finished.iter().map(|j| j.reserved.as_slice()).collect();
                q.delete_migrate_reserve(queue, &members, migrate, n).await
            }
            // The reserve query takes expired reservations itself, so there is nothing to
            // migrate; deletes and reserve share one commit.
            Queue::Database(q) => q.settle_and_reserve(queue, finished, n).await,
            Queue::RabbitMq(_) => {
                let mut deleted = Vec::with_capacity(finished.len());
                for job in finished {
                    deleted.push(self.delete(job).await?);
                }
                let jobs = if n > 0 {
                    self.reserve_many(queue, n).await?
                } else {
                    Vec::new()
                };
                Ok((deleted, jobs))
            }
        }
    }

    /// Whether jobs arrive by themselves (RabbitMQ deliveries) rather than by polling: an idle
    /// worker then waits for a delivery instead of sleeping `--sleep`, and any queue's delivery
    /// ends the wait.
    pub fn is_push(&self) -> bool {
        matches!(self, Queue::RabbitMq(_))
    }

    /// Before the worker takes jobs from a lower-priority queue: jobs of the higher `queue`
    /// that are about to arrive (RabbitMQ: ready on the broker, delivery under way), so
    /// `--queue high,low` keeps Laravel's order. Nothing on the polled drivers, whose reserve
    /// already saw the higher queue empty.
    pub async fn reserve_before_lower(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        match self {
            Queue::RabbitMq(q) => q.reserve_before_lower(queue, n).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Resolve when a job has arrived by itself (a RabbitMQ delivery) or the connection needs
    /// the loop's attention; never on the polled drivers.
    pub async fn arrival(&self) {
        match self {
            Queue::RabbitMq(q) => q.arrival().await,
            _ => std::future::pending::<()>().await,
        }
    }

    /// Remove a job that failed (after its failed_jobs row is written): a delete, except on
    /// RabbitMQ, where the package rejects it without requeue so a dead-letter route the queue
    /// may have takes it.
    pub async fn delete_failed(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        match self {
            Queue::RabbitMq(q) => q.delete_failed(job).await,
            _ => self.delete(job).await,
        }
    }

    /// A job timed out and is not failed. Redis and database jobs stay reserved until
    /// `retry_after` (nothing to do); a RabbitMQ delivery has no expiry, so it goes back with
    /// the attempt counted.
    pub async fn after_timeout(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        match self {
            Queue::RabbitMq(q) => q.after_timeout(job).await,
            _ => Ok(true),
        }
    }

    /// Close what must be closed for jobs not started to go back (RabbitMQ: the connection, so
    /// the broker requeues buffered deliveries). Called once the jobs in flight finished.
    pub async fn close(&self) {
        if let Queue::RabbitMq(q) = self {
            q.close().await;
        }
    }

    /// The Redis queue, when this is one (features only Redis has: `sizes`, notify lists).
    pub fn as_redis(&self) -> Option<&Arc<RedisQueue>> {
        match self {
            Queue::Redis(q) => Some(q),
            Queue::Database(_) => None,
            Queue::RabbitMq(_) => None,
        }
    }

    /// Give a reserved job back without consuming the attempt, available `delay` seconds from
    /// now, so another worker (PHP) can take it; false if it was no longer ours.
    pub async fn hand_back(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        match self {
            Queue::Redis(q) => q.hand_back(job, delay).await,
            Queue::Database(q) => q.hand_back(job, delay).await,
            Queue::RabbitMq(q) => q.hand_back(job, delay).await,
        }
    }

    /// Remove a finished job; false if the reservation was no longer ours.
    pub async fn delete(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        match self {
            Queue::Redis(q) => q.delete(job).await,
            Queue::Database(q) => q.delete(job).await,
            Queue::RabbitMq(q) => q.delete(job).await,
        }
    }

    /// Put a reserved job back, available `delay` seconds from now; false if it was no longer ours.
    pub async fn release(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        match self {
            Queue::Redis(q) => q.release(job, delay).await,
            Queue::Database(q) => q.release(job, delay).await,
            Queue::RabbitMq(q) => q.release(job, delay).await,
        }
    }

    /// Laravel's `size($queue)`: the jobs the queue holds, ready, delayed and reserved (Redis:
    /// `LLEN` + two `ZCARD`s in one script; database: `count(*) where queue = ?`). It is what
    /// `queue:size` prints and what `queue:monitor` compares with `--max` (`size >= max` is
    /// ALERT); up to 12.18 it is the only figure monitor reads (12.19+ also shows
    /// [`Queue::sizes`]' parts).
    pub async fn size(&self, queue: &str) -> Result<u64, QueueError> {
        match self {
            Queue::Redis(q) => q.size(queue).await,
            Queue::Database(q) => q.size(queue).await,
            Queue::RabbitMq(q) => q.size(queue).await,
        }
    }

    /// [`Queue::size`] split by state, read at one instant (Redis: one atomic pipeline; database:
    /// one statement), so the parts add up to `size`. The database split is 12.19+'s
    /// `pendingSize`/`delayedSize`/`reservedSize` (which its `queue:monitor` also shows):
    /// ready = not reserved and `available_at <= now`, delayed = not reserved and later,
    /// reserved = `reserved_at` set (expired reservations included).
    pub async fn sizes(&self, queue: &str) -> Result<QueueSizes, QueueError> {
        match self {
            Queue::Redis(q) => q.sizes(queue).await,
            Queue::Database(q) => q.sizes(queue).await,
            Queue::RabbitMq(q) => q.sizes(queue).await,
        }
    }

    /// Laravel's `clear($queue)` (`queue:clear`): delete every job of the queue, reserved ones
    /// included, and return how many were deleted (Redis: the ready list, `:delayed`,
    /// `:reserved` and `:notify` in one script; database: `delete where queue = ?`). The name is
    /// checked first ([`Queue::check_queue`]).
    pub async fn clear(&self, queue: &str) -> Result<u64, QueueError> {
        self.check_queue(queue)?;
        match self {
            Queue::Redis(q) => q.clear(queue).await,
            Queue::Database(q) => q.clear(queue).await,
            Queue::RabbitMq(q) => q.clear(queue).await,
        }
    }

    /// Refuse, before any I/O, a queue name this connection cannot use as given:
    /// [`QueueError::QueueName`] for an empty name on either driver (PHP's `getQueue` would
    /// silently use the connection's default queue; callers resolve the default themselves) or,
    /// on the database driver, one longer than the 255-character `queue` column;
    /// [`QueueError::CrossSlot`] for a Redis Cluster queue without a hash tag.
    pub fn check_queue(&self, queue: &str) -> Result<(), QueueError> {
        match self {
            Queue::Redis(_) if queue.is_empty() => Err(QueueError::QueueName {
                queue: String::new(),
                reason:
                    "it is empty (name the queue: Laravel would use the connection's default queue)",
            }),
            Queue::Redis(q) => q.check_queue(queue),
            Queue::Database(q) => q.check_queue(queue),
            Queue::RabbitMq(q) => q.check_queue(queue),
        }
    }

    /// The queues that hold jobs now, sorted: Redis queues with keys under the prefix (found with
    /// `SCAN`), database queues with rows in the table. For `larq size` without queue names;
    /// Laravel has no such call.
    pub async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        match self {
            Queue::Redis(q) => q.queue_names().await,
            Queue::Database(q) => q.queue_names().await,
            // AMQP cannot list queues; the management API is not assumed.
            Queue::RabbitMq(_) => Ok(Vec::new()),
        }
    }

    /// Laravel's `pushRaw($payload, $queue)`: push bytes exactly as given, ready now, after
    /// [`Queue::check_queue`]. Redis: `RPUSH` onto the ready list plus a notify token, in one
    /// script. Database: a row as `buildDatabaseRecord` makes it: `queue`, `payload`,
    /// `attempts` 0, `reserved_at` NULL, `available_at` = `created_at` = now.
    ///
    /// Returns what Laravel's `pushRaw` returns, the job id: the new row's id on the database
    /// driver (`insertGetId`), the payload's own `id` on Redis (`None` when it has none).
    pub async fn push_raw(
        &self,
        queue: &str,
        payload: &[u8],
    ) -> Result<Option<String>, QueueError> {
        self.check_queue(queue)?;
        match self {
            Queue::Redis(q) => {
                q.push(queue, payload).await?;
                Ok(payload_id(payload))
            }
            Queue::Database(q) => Ok(Some(q.push(queue, payload).await?.to_string())),
            Queue::RabbitMq(q) => {
                q.push(queue, payload).await?;
                Ok(payload_id(payload))
            }
        }
    }

    /// Push a failed job back onto `queue` as `queue:retry` does (`RetryCommand::retryJob`): the
    /// stored `failed_jobs.payload` rewritten by [`retry_payload`] (`attempts` = 0 when set,
    /// PHP's `json_encode`), then [`Queue::push_raw`]. On the database driver the attempt count
    /// lives in the new row's `attempts` column, which starts at 0 whatever the payload says.
    ///
    /// Nothing is pushed when the name is refused or the payload is not a JSON object
    /// ([`QueueError::RetryPayload`]). Deleting the failed_jobs row afterwards (`forget`) is the
    /// caller's step, as in Laravel, and only after this returned `Ok`.
    pub async fn retry_failed(&self, queue: &str, stored: &[u8]) -> Result<RetriedJob, QueueError> {
        self.check_queue(queue)?;
        let rewritten = retry_payload(stored)?;
        let job_id = self.push_raw(queue, rewritten.payload.as_bytes()).await?;
        Ok(RetriedJob {
            job_id,
            payload: rewritten.payload,
            retry_until: rewritten.retry_until,
        })
    }
}

/// What [`Queue::retry_failed`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetriedJob {
    /// The job id `pushRaw` returns: the row id (database) or the payload's `id` (Redis).
    pub job_id: Option<String>,
    /// The exact bytes pushed.
    pub payload: String,
    /// The pushed payload's `retryUntil` (unix seconds). PHP would recompute it when the job's
    /// class has a `retryUntil()` method; larq cannot, so a value in the past means the job will
    /// fail again at once, which a CLI should warn about.
    pub retry_until: Option<i64>,
}

/// The top-level `id` of a JSON payload, as Laravel's Redis `pushRaw` returns it.
fn payload_id(payload: &[u8]) -> Option<String> {
    /// Only `id` is kept; the rest of a large payload is skipped without being built.
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    let json: IdOnly = serde_json::from_slice(payload).ok()?;
    match json.id? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Current unix time in seconds, like PHP's `time()`.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
