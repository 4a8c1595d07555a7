//! The integration tests, one module per area, in one test binary: one link of larq and its
//! dependencies instead of one per file (see the README's "Test suite" for the build time and
//! target size this saves). `cargo test --test integration reliability_faults::` runs one area.
//!
//! They need Redis, PHP with the fixture Laravel app, PostgreSQL and MariaDB; without them a test
//! skips with a notice, except under `CI=true`, where a missing dependency fails it.

mod support;

mod backend_crate;
mod cache_stores;
mod cli_codegen;
mod cli_new;
mod cli_ops;
mod crypt_php;
mod database_queue;
mod dotenv_corpus;
mod failed_db;
mod fuzz_regressions;
mod hostile_payloads;
mod laravel_batch;
mod laravel_chain;
mod laravel_defaults;
mod laravel_dispatch;
mod laravel_events;
mod laravel_middleware;
mod laravel_models;
mod laravel_unique;
mod laravel_wrappers;
mod metrics;
mod php_de;
mod php_differential;
mod php_fixtures;
mod php_live;
mod php_roundtrip;
mod queue_pause;
mod rabbitmq_php;
mod rabbitmq_queue;
mod rabbitmq_tasks;
mod redis_cluster;
mod redis_queue;
mod redis_tls;
mod redis_worker;
mod reliability_faults;
mod reliability_fuzz;
