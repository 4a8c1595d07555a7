//! Queue drivers: where jobs wait, how a worker reserves one, and how it lets go of it.
//!
//! Only Laravel's Redis driver is implemented ([`redis`]); the types here are what any driver
//! hands the worker, so the worker does not depend on Redis details.

pub mod redis;

pub use self::redis::{QueueError, RedisQueue, RedisQueueOptions};

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
}

/// A job taken off a queue and held under a reservation that expires after `retry_after`.
#[derive(Debug, Clone)]
pub struct ReservedJob {
    /// Queue name as configured (`default`, not `queues:default`).
    pub queue: String,
    /// The body as it was in the ready list: what failed_jobs stores (Laravel's `getRawBody()`).
    pub original: Vec<u8>,
    /// The exact member of `:reserved`; the only bytes that can delete or release the job.
    pub reserved: Vec<u8>,
    /// Attempts including this one (1 on the first run); 0 when the payload has no count.
    pub attempts: i64,
    /// How the attempt was counted.
    pub reservation: Reservation,
}
