//! `larq migrate`: create Laravel's queue tables (`jobs`, `job_batches`, `failed_jobs`, and
//! `cache`/`cache_locks` when the app's cache store is `database`) in the app's database, for
//! deployments that use the `database` queue without PHP's migrations.
//!
//! The SQL is larq's own, matching what Laravel's migrations create on each server; tables that
//! already exist are left alone, so running it twice (or after `php artisan migrate`) is harmless.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::app::{App, AppCache};
use crate::cache::CacheStore;
use crate::failed::FailedJobStore;
use crate::queue::{DatabaseQueue, DatabaseQueueOptions};

/// `larq migrate [options]`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The PHP app's .env file to read DB_* settings from (process variables override it).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// The jobs table (default: DB_QUEUE_TABLE or `jobs`).
    #[arg(long)]
    pub table: Option<String>,
    /// The app's Laravel major version (8–13), for the default database connection when
    /// DB_CONNECTION is unset (mysql up to 10, sqlite from 11) [default: detected from the app
    /// of --env (its composer.lock or vendor/laravel/framework), else 13]
    #[arg(long, value_name = "N", env = "LARQ_LARAVEL_VERSION", value_parser = clap::value_parser!(u8).range(8..=13))]
    pub laravel_version: Option<u8>,
}

/// Create the tables.
pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(migrate(args))
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let laravel = crate::laravel::resolve(args.laravel_version, args.env.as_deref());
    let app = App::load(args.env.as_deref(), laravel)?;
    let settings = app.settings();
    let db = &settings.database;
    if db.connection == "sqlite" && db.url.is_none() && db.database != ":memory:" {
        // Laravel's `migrate` offers to create a missing SQLite file; we just create it.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&db.database)
            .with_context(|| format!("cannot create the SQLite file {}", db.database))?;
    }
    let table = args
        .table
        .clone()
        .unwrap_or_else(|| settings.database_queue.table.clone());
    let queue = DatabaseQueue::connect(
        db,
        DatabaseQueueOptions {
            table: table.clone(),
            max_connections: 1,
            ..DatabaseQueueOptions::default()
        },
    )
    .await
    .context("cannot open the database")?;
    queue.create_tables().await?;
    let failed = FailedJobStore::connect(db)
        .await
        .context("cannot open the database for failed_jobs")?;
    failed.ensure_table().await?;
    // The database cache store (Laravel 11+'s default) needs `cache:table`'s tables.
    let mut cache_tables = String::new();
    if settings.cache_store() == "database" {
        match app.cache(false).await? {
            AppCache::Store(CacheStore::Database(cache)) => {
                cache.create_tables(laravel).await?;
                cache_tables = format!(
                    ", {}, {}",
                    settings.database_cache.table, settings.database_cache.lock_table
                );
            }
            AppCache::Unavailable(reason) => {
                eprintln!("The cache tables were not created: {reason}.")
            }
            AppCache::Store(_) => {}
        }
    }
    println!(
        "Migrated ({}): {table}, job_batches, failed_jobs{cache_tables}",
        queue.backend_name()
    );
    Ok(())
}
