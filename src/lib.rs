//! # larq: Laravel's queue worker, in Rust
//!
//! A Laravel app dispatches `SomeJob::dispatch($userId, $param)`; larq picks the job up from the same
//! queue `php artisan queue:work` would (Redis, the database `jobs` table, or RabbitMQ through the
//! `vladimir-yuldashev/laravel-queue-rabbitmq` connection), decodes the
//! PHP-serialized job object straight into a Rust struct, and runs your handler with Laravel's
//! semantics (attempts, tries, backoff, timeouts, chains, batches, unique locks, failed_jobs), side
//! by side with PHP workers. A deployment's whole backend binary:
//!
//! ```no_run
//! use larq::{Job, JobContext, JobError, Registry};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! impl Job for SomeJob {
//!     const CLASS: &'static str = "App\\Jobs\\SomeJob";
//!     async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
//!         println!("Processing user ID: {} with param: {}", self.user_id, self.some_param);
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     larq::cli::run(Registry::new().with::<SomeJob>())
//! }
//! ```
//!
//! `backend work --env /srv/app/.env` works the app's queues with `queue:work`'s flags; the same
//! binary has `failed`, `size`, `restart` and the other operator commands ([`cli`], cargo feature
//! `cli`, on by default). To build the worker yourself, [`App`] turns the app's settings into a
//! wired [`Worker`]. And the format alone:
//!
//! ```
//! # #[derive(serde::Deserialize)] #[serde(rename_all = "camelCase")]
//! # struct SomeJob { user_id: i64, some_param: String }
//! let command = br#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:42;s:9:"someParam";s:3:"abc";}"#;
//! let job: SomeJob = larq::php::from_bytes(command)?;
//! assert_eq!(job.user_id, 42);
//! # Ok::<(), larq::php::Error>(())
//! ```
//!
//! Map of the crate, from the bottom up: [`php`] is the serde data format for PHP's
//! `serialize()`; [`payload`] the JSON envelope Laravel pushes (and the `Queueable` properties
//! inside the command), [`crypt`] Laravel's encrypter; [`amqp`] a RabbitMQ connection that
//! reopens itself; [`queue`] the Redis, database and RabbitMQ drivers,
//! [`cache`] the app's cache store, [`db`] its SQL database, [`model`] the Eloquent models jobs
//! carry (`ModelIdentifier`, loaded from that database), [`failed`] the `failed_jobs` table;
//! [`job`] the trait your job structs implement and the registry that maps PHP classes to them
//! (and holds the [`job::events`] observers told of each job as PHP's queue events would be);
//! [`bus`] continues chains ([`chain`]), keeps `job_batches` ([`batch`]), releases unique locks
//! ([`unique`]) and applies the policy for framework wrappers ([`wrappers`]); [`middleware`] runs
//! a job through its job middleware (`WithoutOverlapping`, `RateLimited`, `ThrottlesExceptions`, their Redis variants on
//! [`limiter`]'s windows) under PHP's cache keys;
//! [`dispatch`] pushes
//! Rust values as Laravel jobs; [`worker`] is `queue:work`'s loop, which skips the queues
//! [`pause`] says are paused; [`task`] consumes plain RabbitMQ task queues (no Laravel: a
//! handler per queue, JSON or raw bodies, acks, retries, dead-lettering and replies) on the
//! self-healing connection of [`amqp`]; [`metrics`] counts what a worker
//! does for Prometheus, health probes and the progress line; [`config`] reads the PHP app's `.env`,
//! [`laravel`] says what differs between Laravel releases (prefixes, defaults, key shapes) and
//! [`app`] wires it all; [`cli`] is the command line; [`display`] makes payload text safe to
//! print.
#![deny(missing_docs)]

pub mod amqp;
pub mod app;
pub mod batch;
pub mod bus;
pub mod cache;
pub mod chain;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod crypt;
pub mod db;
pub mod dispatch;
pub mod display;
pub mod failed;
pub mod job;
pub mod laravel;
pub mod limiter;
mod log_limit;
pub mod metrics;
pub mod middleware;
pub mod model;
pub mod pause;
pub mod payload;
pub mod php;
pub mod queue;
mod spawned;
pub mod task;
pub mod unique;
pub mod worker;
pub mod wrappers;

pub use app::{App, WorkerSetup};
pub use bus::BusFeatures;
pub use cache::CacheStore;
pub use config::{Env, Settings};
pub use dispatch::{Chain, Dispatcher, PendingJob};
pub use failed::FailedJobStore;
pub use job::{Job, JobContext, JobError, Listener, Registry};
pub use laravel::Laravel;
pub use payload::Payload;
pub use queue::{DatabaseQueue, Queue, RedisQueue, ReservedJob};
pub use worker::{StopReason, Worker, WorkerHandle, WorkerOptions};
