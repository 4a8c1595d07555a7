//! # larq: Laravel's queue worker, in Rust
//!
//! A Laravel app dispatches `SomeJob::dispatch($userId, $param)`; larq picks the job up from the same
//! Redis queue `php artisan queue:work` would, decodes the PHP-serialized job object straight into a
//! Rust struct, and runs your handler with Laravel's semantics (attempts, tries, backoff, timeouts,
//! failed_jobs), side by side with PHP workers.
//!
//! ```
//! use serde::Deserialize;
//!
//! // The PHP class `App\Jobs\SomeJob { public int $userId; public string $someParam; }`
//! #[derive(Deserialize, Debug)]
//! #[serde(rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! let command = br#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:42;s:9:"someParam";s:3:"abc";}"#;
//! let job: SomeJob = larq::php::from_bytes(command)?;
//! assert_eq!(job.user_id, 42);
//! # Ok::<(), larq::php::Error>(())
//! ```
//!
//! Map of the crate: [`php`] is the serde data format for PHP's `serialize()`; [`payload`] the
//! JSON envelope Laravel pushes; [`queue`] the Redis and database drivers; [`job`] the trait your job structs
//! implement and the registry that maps PHP classes to them; [`worker`] `queue:work`'s loop;
//! [`failed`] the `failed_jobs` table; [`config`] the PHP app's `.env`; [`dispatch`] pushes Rust
//! values as Laravel jobs; [`bus`] continues chains ([`chain`]), keeps `job_batches` ([`batch`]),
//! releases unique locks ([`unique`]) and applies the policy for framework wrappers
//! ([`wrappers`]); [`metrics`] counts what a worker does for Prometheus, health probes and the
//! progress line; [`display`] makes payload text safe to print.
#![deny(missing_docs)]

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
mod log_limit;
pub mod metrics;
pub mod payload;
pub mod php;
pub mod queue;
pub mod unique;
pub mod worker;
pub mod wrappers;

pub use bus::BusFeatures;
pub use config::{Env, Settings};
pub use dispatch::{Chain, Dispatcher, PendingJob};
pub use failed::FailedJobStore;
pub use job::{Job, JobContext, JobError, Registry};
pub use payload::Payload;
pub use queue::{RedisQueue, ReservedJob};
pub use worker::{Worker, WorkerOptions};
