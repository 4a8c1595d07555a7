//! One PHP app, as larq reaches it: its settings (the app's `.env`, then the process environment,
//! read for one Laravel version) turned into connected parts.
//!
//! Every `larq` subcommand and every embedder goes through [`App`], so what the app's settings
//! mean (which queue driver, which cache store holds `queue:restart`, whether failed jobs are
//! recorded, where unique locks live) is decided in one place, not once per command:
//!
//! ```no_run
//! # async fn demo() -> Result<(), larq::app::AppError> {
//! use larq::app::{App, WorkerSetup};
//! use larq::Registry;
//!
//! let app = App::load(Some(std::path::Path::new("/srv/app/.env")), 10)?;
//! let worker = app.worker(Registry::new(), WorkerSetup::default()).await?;
//! worker.run().await.ok();
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use crate::amqp::AmqpEndpoint;
use crate::batch::BatchRepository;
use crate::bus::BusFeatures;
use crate::cache::{CacheStore, DatabaseCache, DatabaseCacheOptions};
use crate::config::{ConfigError, Env, Settings};
use crate::crypt::Encrypter;
use crate::db::{Database, DbError, Target};
use crate::failed::{FailedError, FailedJobStore};
use crate::job::Registry;
use crate::laravel::Laravel;
use crate::limiter::DurationLimiter;
use crate::metrics::Metrics;
use crate::model::Models;
use crate::queue::{
    DatabaseQueue, DatabaseQueueOptions, Queue, QueueError, RabbitMqQueue, RabbitMqQueueOptions,
    RedisQueue, RedisQueueOptions,
};

/// How long a query waits for a free connection of the app's pool.
const DB_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
use crate::unique::UniqueLocks;
use crate::worker::{Sink, Worker, WorkerOptions};
use crate::wrappers::WrapperPolicies;

/// Why a part of the app could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The settings could not be read or make no sense.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The connection's driver is not one larq works.
    #[error("larq works Laravel's `redis` and `database` queue connections, not {0:?} (set QUEUE_CONNECTION or name the connection)")]
    UnsupportedConnection(String),
    /// The connection's queue could not be opened.
    #[error("cannot open the queue of connection {connection:?}: {source}")]
    Queue {
        /// The connection name.
        connection: String,
        /// Why.
        source: QueueError,
    },
    /// The app's cache store could not be opened.
    #[error("cannot open the app's cache store: {0}")]
    Cache(String),
    /// The app's database could not be opened.
    #[error(transparent)]
    Database(#[from] DbError),
    /// `failed_jobs` could not be opened.
    #[error(
        "cannot open the failed_jobs table (set QUEUE_FAILED_DRIVER=null to run without one): {0}"
    )]
    Failed(#[from] FailedError),
}

/// A PHP app's settings, and the parts built from them. Cheap to clone; clones share the app's
/// database pool.
#[derive(Debug, Clone)]
pub struct App {
    settings: Settings,
    laravel: Laravel,
    /// The app's database, opened on first use and shared by `failed_jobs`, `job_batches` and
    /// the `jobs` table.
    database: Arc<tokio::sync::OnceCell<Database>>,
}

/// What a run refines of a connection's configured settings (`queue:work`'s flags).
#[derive(Debug, Clone, Default)]
pub struct QueueOverrides {
    /// `--retry-after` instead of the connection's `retry_after`.
    pub retry_after: Option<u64>,
    /// `--block-for` instead of the connection's `block_for` (Redis).
    pub block_for: Option<u64>,
    /// Connections to the database (database driver); a worker wants one per job in flight.
    pub max_connections: Option<u32>,
    /// Deliveries a RabbitMQ consumer holds unacknowledged (a worker: its `--concurrency`).
    pub prefetch: Option<u32>,
}

/// The app's cache store as larq can reach it: where `queue:restart` is written, and (Redis and
/// database stores) the `maxExceptions` counters and unique locks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AppCache {
    /// `redis`: the cache connection of the app's Redis; `file`: the app's
    /// `storage/framework/cache/data`; `database`: the `cache` table of the app's database.
    Store(CacheStore),
    /// A store larq does not read; the reason says what is not seen.
    Unavailable(String),
}

/// Why the database cache store could not be had.
enum Refused {
    /// Settings larq does not follow (another connection): the store is unavailable.
    Unsupported(String),
    /// The database or the tables' names failed.
    Failed(String),
}

/// How to build a worker beyond the app and the registry: which connection and `queue:work`'s
/// options. The default works the app's default connection and queue with `queue:work`'s
/// defaults, signals included (SIGTERM finishes the job in flight, as a supervisor expects).
#[derive(Clone)]
pub struct WorkerSetup {
    /// The connection to work (`None`: `QUEUE_CONNECTION`).
    pub connection: Option<String>,
    /// `queue:work`'s options; empty `queues` means the connection's default queue.
    pub options: WorkerOptions,
    /// Refinements of the connection's settings.
    pub queue: QueueOverrides,
    /// What to do with PHP-only jobs (mail, notifications, ...) per queue.
    pub wrappers: WrapperPolicies,
    /// What to do with a job whose middleware larq cannot apply.
    pub middleware: crate::middleware::MiddlewarePolicies,
    /// Create `failed_jobs` when missing (fresh SQLite files, demos).
    pub create_failed_table: bool,
    /// Work even while the app is down for maintenance (`queue:work --force`).
    pub force: bool,
    /// Count into these metrics (`/metrics`, `/health`, the progress line).
    pub metrics: Option<Arc<Metrics>>,
    /// Where the worker's operator lines go (none: only `tracing` events).
    pub sink: Option<Arc<dyn Sink>>,
}

impl Default for WorkerSetup {
    fn default() -> WorkerSetup {
        WorkerSetup {
            connection: None,
            options: WorkerOptions {
                handle_signals: true,
                ..WorkerOptions::default()
            },
            queue: QueueOverrides::default(),
            wrappers: WrapperPolicies::default(),
            middleware: Default::default(),
            create_failed_table: false,
            force: false,
            metrics: None,
            sink: None,
        }
    }
}

impl App {
    /// Read `env_file` (when given) and the process environment, whose variables win as they do
    /// for Laravel; `laravel` (a [`Laravel`] or a major version number) decides defaults, key
    /// prefixes and messages ([`crate::laravel::resolve`] finds it in the app).
    pub fn load(env_file: Option<&Path>, laravel: impl Into<Laravel>) -> Result<App, AppError> {
        let env = match env_file {
            Some(path) => Env::from_file_and_process(path)?,
            None => Env::from_process(),
        };
        // The app's directory anchors relative paths (SQLite file, storage/) as Laravel's base
        // path does.
        let app_dir = env_file.and_then(Path::parent).map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
        App::from_env(&env, app_dir, laravel)
    }

    /// The app of already-read variables.
    pub fn from_env(
        env: &Env,
        app_dir: Option<&Path>,
        laravel: impl Into<Laravel>,
    ) -> Result<App, AppError> {
        let laravel = laravel.into();
        Ok(App {
            settings: Settings::from_env(env, app_dir, laravel)?,
            laravel,
            database: Arc::default(),
        })
    }

    /// The settings as read.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The Laravel major version the app runs.
    pub fn laravel_version(&self) -> u8 {
        self.laravel.major()
    }

    /// The Laravel version whose conventions apply.
    pub fn laravel(&self) -> Laravel {
        self.laravel
    }

    /// `QUEUE_CONNECTION` (when unset: `database` from Laravel 11, else `redis`).
    pub fn default_connection(&self) -> &str {
        &self.settings.queue_connection
    }

    /// The queue a connection works when none is named (`REDIS_QUEUE`, `DB_QUEUE`).
    pub fn default_queue(&self, connection: &str) -> &str {
        if connection == "database" {
            &self.settings.database_queue.queue
        } else if connection == "rabbitmq" {
            &self.settings.rabbitmq.queue
        } else {
            &self.settings.default_queue
        }
    }

    /// The app's encrypter (`APP_KEY`, `APP_PREVIOUS_KEYS`) for `ShouldBeEncrypted` jobs; `None`
    /// without a key, or with a key that is not usable (logged: encrypted jobs then fail).
    pub fn encrypter(&self) -> Option<Encrypter> {
        let key = self.settings.app_key.as_ref()?;
        let previous = self
            .settings
            .app_previous_keys
            .as_ref()
            .map(|k| k.expose().to_owned())
            .unwrap_or_default();
        match Encrypter::new(key.expose(), &previous, None) {
            Ok(enc) => Some(enc),
            Err(e) => {
                tracing::warn!(error = %e, "APP_KEY is not usable; encrypted jobs will fail");
                None
            }
        }
    }

    /// The app's database (`DB_*`, `DB_URL`), opened on the first call with room for
    /// `max_connections` (later calls share that pool whatever they ask for: the first caller
    /// should be the one that needs the most, the worker of the `database` connection).
    pub async fn database(&self, max_connections: u32) -> Result<Database, AppError> {
        let db = self
            .database
            .get_or_try_init(|| async {
                let target = Target::from_settings(&self.settings.database)?;
                Database::open(target, max_connections.max(4), DB_ACQUIRE_TIMEOUT).await
            })
            .await?;
        Ok(db.clone())
    }

    /// A loader for the models jobs carry, on the app's database (`DB_*`), which it opens at
    /// its first load into the pool `failed_jobs` and the others share. `None` when the
    /// settings name a driver larq does not speak.
    pub fn models(&self) -> Option<Models> {
        match Target::from_settings(&self.settings.database) {
            Ok(target) => Some(Models::lazy(
                target,
                Arc::clone(&self.database),
                &self.settings.database.connection,
                4,
                DB_ACQUIRE_TIMEOUT,
            )),
            Err(e) => {
                tracing::debug!(error = %e, "no model loader: the database settings are not usable");
                None
            }
        }
    }

    /// The queue of `connection`: the `redis` driver on the app's Redis (`REDIS_*`), or the
    /// `database` driver on its database (`DB_*`).
    pub async fn queue(
        &self,
        connection: &str,
        overrides: &QueueOverrides,
    ) -> Result<Queue, AppError> {
        let s = &self.settings;
        let err = |source| AppError::Queue {
            connection: connection.to_owned(),
            source,
        };
        match connection {
            "database" => {
                let options = DatabaseQueueOptions {
                    table: s.database_queue.table.clone(),
                    retry_after: overrides
                        .retry_after
                        .unwrap_or(s.database_queue.retry_after),
                    connection_name: connection.to_owned(),
                    max_connections: overrides.max_connections.unwrap_or(4).max(1),
                };
                let db = self.database(options.max_connections + 2).await?;
                Ok(DatabaseQueue::on(&db, options).await.map_err(err)?.into())
            }
            "redis" => Ok(self.redis_queue(connection, overrides).await?.into()),
            "rabbitmq" => {
                let r = &s.rabbitmq;
                let endpoint = AmqpEndpoint::new(
                    &r.host,
                    r.port,
                    &r.user,
                    r.password.expose(),
                    &r.vhost,
                    r.secure,
                    r.heartbeat,
                );
                let options = RabbitMqQueueOptions {
                    connection_name: connection.to_owned(),
                    exchange: r.exchange.clone(),
                    exchange_type: r.exchange_type.clone(),
                    exchange_routing_key: r.exchange_routing_key.clone(),
                    prioritize_delayed: r.prioritize_delayed,
                    queue_max_priority: r.queue_max_priority,
                    reroute_failed: r.reroute_failed,
                    failed_exchange: r.failed_exchange.clone(),
                    failed_routing_key: r.failed_routing_key.clone(),
                    quorum: r.quorum,
                    block_for: overrides.block_for.unwrap_or(1).max(1),
                };
                let prefetch = overrides
                    .prefetch
                    .unwrap_or(1)
                    .clamp(1, u32::from(u16::MAX)) as u16;
                let queue = RabbitMqQueue::new(endpoint, prefetch, options);
                queue.connect().await.map_err(err)?;
                Ok(queue.into())
            }
            other => Err(AppError::UnsupportedConnection(other.to_owned())),
        }
    }

    /// The app's Redis (`REDIS_*`) as the queue of `connection`, a connection with the `redis`
    /// driver (the operator commands name others that share the server).
    pub async fn redis_queue(
        &self,
        connection: &str,
        overrides: &QueueOverrides,
    ) -> Result<RedisQueue, AppError> {
        let s = &self.settings;
        let endpoint = s.redis.queue_endpoint()?;
        RedisQueue::connect_to(
            &endpoint,
            RedisQueueOptions {
                prefix: s.redis.prefix.clone(),
                retry_after: overrides.retry_after.unwrap_or(s.retry_after),
                block_for: overrides.block_for.or(s.block_for),
                migration_batch_size: None,
                connection_name: connection.to_owned(),
            },
        )
        .await
        .map_err(|source| AppError::Queue {
            connection: connection.to_owned(),
            source,
        })
    }

    /// The app's cache store ([`Settings::cache_store`]: the one the app names, else the
    /// version's default). A Redis or database store that cannot be reached is an error, except
    /// when `optional` (a database-queue worker can run without it, as the warning says).
    pub async fn cache(&self, optional: bool) -> Result<AppCache, AppError> {
        let s = &self.settings;
        let var = self.laravel.cache_store_var();
        match s.cache_store() {
            "file" => Ok(match &s.cache_file_path {
                Some(dir) => AppCache::Store(CacheStore::from(
                    crate::cache::FileCache::new(dir)
                        .with_lock_prefix(self.laravel.file_lock_prefix()),
                )),
                None => AppCache::Unavailable(
                    "the app's cache is file but its directory is unknown (give --env or LARQ_CACHE_FILE_PATH)".to_owned(),
                ),
            }),
            "redis" => {
                let endpoint = s.redis.cache_endpoint()?;
                let opened = CacheStore::connect_to(&endpoint, s.cache_key("")).await;
                match opened {
                    Ok(cache) => Ok(AppCache::Store(cache)),
                    Err(e) if optional => Ok(AppCache::Unavailable(format!(
                        "no Redis cache ({e}); set {var} to say which store the app uses"
                    ))),
                    Err(e) => Err(AppError::Cache(e.to_string())),
                }
            }
            "database" => match self.database_cache(s.database_cache.connection.as_deref()).await {
                Ok(cache) => Ok(AppCache::Store(cache)),
                Err(Refused::Unsupported(reason)) => Ok(AppCache::Unavailable(reason)),
                Err(Refused::Failed(e)) if optional => Ok(AppCache::Unavailable(format!(
                    "no database cache ({e}); set {var} to say which store the app uses"
                ))),
                Err(Refused::Failed(e)) if s.cache_driver.is_none() => Err(AppError::Cache(format!(
                    "{e} (the database store is {}'s default when {var} is unset: set {var}, or give --laravel-version)",
                    self.laravel
                ))),
                Err(Refused::Failed(e)) => Err(AppError::Cache(e)),
            },
            driver => Ok(AppCache::Unavailable(format!(
                "the app's cache store is {driver}, which larq does not read"
            ))),
        }
    }

    /// The `database` cache store on the app's database, when `connection` (the store's
    /// `DB_CACHE_CONNECTION` or lock connection) is unset or names the default connection: larq
    /// reaches only the one database the `DB_*` settings describe.
    async fn database_cache(&self, connection: Option<&str>) -> Result<CacheStore, Refused> {
        let s = &self.settings;
        if let Some(other) = connection.filter(|c| *c != s.database.connection) {
            return Err(Refused::Unsupported(format!(
                "the app's database cache is on connection {other:?}, and larq reaches only the default connection {:?}",
                s.database.connection
            )));
        }
        let db = self
            .database(4)
            .await
            .map_err(|e| Refused::Failed(e.to_string()))?;
        let store = DatabaseCache::new(
            &db,
            DatabaseCacheOptions {
                prefix: s.cache_prefix.clone(),
                table: s.database_cache.table.clone(),
                lock_table: s.database_cache.lock_table.clone(),
                laravel: self.laravel,
            },
        )
        .map_err(|e| Refused::Failed(e.to_string()))?;
        Ok(store.into())
    }

    /// `failed_jobs` in the app's database; `None` when `QUEUE_FAILED_DRIVER=null`.
    pub async fn failed_store(&self) -> Result<Option<FailedJobStore>, AppError> {
        if self.settings.failed_driver == "null" {
            return Ok(None);
        }
        Ok(Some(
            FailedJobStore::connect(&self.settings.database).await?,
        ))
    }

    /// `job_batches` in the app's database; `None` (logged) when failed jobs are not recorded or
    /// the table's database cannot be reached: jobs still run, their batches are not updated.
    pub async fn batches(&self) -> Option<BatchRepository> {
        if self.settings.failed_driver == "null" {
            return None;
        }
        match self.database(4).await {
            Ok(db) => Some(BatchRepository::on(&db)),
            Err(e) => {
                tracing::warn!(error = %e, "job_batches is not reachable; batches are not updated");
                None
            }
        }
    }

    /// Unique locks (`ShouldBeUnique`) on the cache store's lock side: Laravel's `default` Redis
    /// connection for the `redis` store, the `cache_locks` table for `database`; `None` for the
    /// other stores.
    pub async fn unique_locks(&self) -> Result<Option<UniqueLocks>, AppError> {
        let s = &self.settings;
        let locks = match s.cache_store() {
            "redis" => {
                let endpoint = s.redis.queue_endpoint()?;
                CacheStore::connect_to(&endpoint, s.cache_key(""))
                    .await
                    .map_err(|e| AppError::Cache(format!("the lock connection: {e}")))?
            }
            "database" => {
                let connection = s
                    .database_cache
                    .lock_connection
                    .as_deref()
                    .or(s.database_cache.connection.as_deref());
                match self.database_cache(connection).await {
                    Ok(store) => store,
                    Err(Refused::Unsupported(reason)) => {
                        tracing::warn!("{reason}: unique locks are not released by larq");
                        return Ok(None);
                    }
                    Err(Refused::Failed(e)) => {
                        return Err(AppError::Cache(format!("the lock table: {e}")))
                    }
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(UniqueLocks::new(locks, self.laravel)))
    }

    /// A worker for `registry`, wired as `php artisan queue:work` is: the connection's queue, the
    /// app's encrypter, the restart signal and `maxExceptions` counters in its cache store,
    /// chains, batches, unique locks, `failed_jobs`, and the maintenance-mode file.
    pub async fn worker(
        &self,
        mut registry: Registry,
        setup: WorkerSetup,
    ) -> Result<Worker, AppError> {
        let connection = setup
            .connection
            .clone()
            .unwrap_or_else(|| self.default_connection().to_owned());
        if !matches!(connection.as_str(), "redis" | "database" | "rabbitmq") {
            return Err(AppError::UnsupportedConnection(connection));
        }
        let is_database = connection == "database";
        if let Some(enc) = self.encrypter() {
            registry.set_encrypter(enc);
        }
        let mut options = setup.options;
        if options.queues.is_empty() {
            options.queues = vec![self.default_queue(&connection).to_owned()];
        }
        options.laravel_version = self.laravel.major();
        options.maintenance_file = if setup.force {
            None
        } else {
            self.settings.maintenance_file.clone()
        };
        let mut overrides = setup.queue.clone();
        if overrides.prefetch.is_none() {
            // RabbitMQ: one unacknowledged delivery per slot. With several queues, one more per
            // consumer, so that when a slot frees the first queue's next delivery is already
            // here and `--queue high,low` takes high first as Laravel's pops do (with exactly
            // one per slot, the ack's round trip lets a waiting low job in ahead of it).
            let extra = usize::from(options.queues.len() > 1);
            overrides.prefetch =
                Some(u32::try_from(options.concurrency.saturating_add(extra)).unwrap_or(u32::MAX));
        }
        let queue = self.queue(&connection, &overrides).await?;
        // On a Redis Cluster, refuse queue names without a hash tag now rather than on the first
        // script.
        for name in &options.queues {
            queue.check_queue(name).map_err(|source| AppError::Queue {
                connection: connection.clone(),
                source,
            })?;
        }
        let mut builder =
            Worker::builder(queue, registry).middleware_policies(setup.middleware.clone());
        let mut bus = BusFeatures::new(self.default_queue(&connection)).wrappers(setup.wrappers);
        match self.cache(is_database).await? {
            AppCache::Store(cache) if cache.has_counters() => {
                builder = builder.cache(cache.clone());
                bus = bus.hand_back_counter(cache);
                if let Some(locks) = self.unique_locks().await? {
                    builder = builder.lock_store(locks.store().clone());
                    bus = bus.unique_locks(locks);
                }
            }
            AppCache::Store(cache) => {
                tracing::info!(
                    store = cache.driver(),
                    "queue:restart and queue:pause are read from the app's cache store"
                );
                tracing::warn!(
                    store = cache.driver(),
                    "maxExceptions and unique locks on this cache store are not seen by larq"
                );
                builder = builder.cache(cache);
            }
            AppCache::Unavailable(reason) => {
                tracing::warn!(
                    "{reason}: queue:restart, queue:pause, maxExceptions and unique locks are not seen by larq"
                );
            }
        }
        if let Some(repo) = self.batches().await {
            bus = bus.batches(repo);
        }
        builder = builder.bus(bus);
        // `...WithRedis` job middleware count on the default Redis connection: there is one
        // when the app queues or caches on Redis.
        if connection == "redis" || self.settings.cache_store() == "redis" {
            match self.settings.redis.queue_endpoint() {
                Ok(endpoint) => {
                    match DurationLimiter::connect_to(&endpoint, self.settings.redis.prefix.clone())
                        .await
                    {
                        Ok(windows) => builder = builder.duration_limiter(windows),
                        Err(e) => {
                            tracing::warn!(error = %e, "no Redis connection for RateLimitedWithRedis / ThrottlesExceptionsWithRedis: jobs using them follow the unknown-middleware policy")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no Redis connection for RateLimitedWithRedis / ThrottlesExceptionsWithRedis")
                }
            }
        }
        if let Some(models) = self.models() {
            builder = builder.models(models);
        }
        if let Some(store) = self.failed_store().await? {
            if setup.create_failed_table {
                store.ensure_table().await?;
            }
            builder = builder.failed_store(store);
        }
        if let Some(metrics) = setup.metrics {
            builder = builder.metrics(metrics);
        }
        if let Some(sink) = setup.sink {
            builder = builder.sink(sink);
        }
        Ok(builder.options(options).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Laravel 13 app on a fresh SQLite file with the `cache:table` tables.
    async fn app_13(extra: &[(&str, &str)]) -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("database/database.sqlite");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let target = crate::db::Target::sqlite_file(&db);
        let pool = target
            .open_pool(1, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        for sql in [
            "CREATE TABLE cache (\"key\" varchar primary key, value text not null, expiration integer not null)",
            "CREATE TABLE cache_locks (\"key\" varchar primary key, owner varchar not null, expiration integer not null)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let mut pairs = vec![("APP_NAME", "Shop")];
        pairs.extend_from_slice(extra);
        let env = Env::from_pairs(pairs);
        let app = App::from_env(&env, Some(dir.path()), 13).unwrap();
        (dir, app)
    }

    #[tokio::test]
    async fn laravel_13_defaults_to_the_database_store_in_database_sqlite() {
        let (_dir, app) = app_13(&[]).await;
        let AppCache::Store(cache) = app.cache(false).await.unwrap() else {
            panic!("no store")
        };
        assert_eq!(cache.driver(), "database");
        assert_eq!(
            cache.key("illuminate:queue:restart"),
            "shop-cache-illuminate:queue:restart"
        );
        cache
            .forever_int(crate::cache::RESTART_KEY, 42)
            .await
            .unwrap();
        assert_eq!(
            cache.get(crate::cache::RESTART_KEY).await.unwrap(),
            Some(b"i:42;".to_vec())
        );
        let locks = app.unique_locks().await.unwrap().expect("locks");
        assert_eq!(
            locks.key("App\\Jobs\\U", "7"),
            "shop-cache-laravel_unique_job:App\\Jobs\\U:7"
        );
        locks.release("App\\Jobs\\U", "7").await.unwrap();
    }

    /// The loader `App::worker` gives handlers reads the app's own database, opened at the
    /// first load (a worker whose jobs load no model never connects).
    #[tokio::test]
    async fn models_load_from_the_apps_database() {
        use crate::model::{Model, ModelIdentifier};
        use sqlx::Row;
        struct User(String);
        impl sqlx::FromRow<'_, sqlx::any::AnyRow> for User {
            fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
                Ok(User(row.try_get("name")?))
            }
        }
        impl Model for User {
            const CLASS: &'static str = "App\\Models\\User";
            const TABLE: &'static str = "users";
            const SELECT: &'static str = "id, name";
        }
        let (dir, app) = app_13(&[]).await;
        let db = dir.path().join("database/database.sqlite");
        let pool = crate::db::Target::sqlite_file(&db)
            .open_pool(1, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        for sql in [
            "CREATE TABLE users (id integer primary key, name varchar not null)",
            "INSERT INTO users (id, name) VALUES (5, 'Ada')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let models = app.models().expect("sqlite is a driver larq speaks");
        assert!(app.database.get().is_none(), "not opened before a load");
        let id = ModelIdentifier::one(User::CLASS, 5).on_connection("sqlite");
        let user: User = models.find(&id).await.unwrap();
        assert_eq!(user.0, "Ada");
        assert!(
            app.database.get().is_some(),
            "opened into the app's shared pool"
        );
    }

    #[tokio::test]
    async fn another_cache_connection_is_unavailable_not_guessed() {
        let (_dir, app) = app_13(&[("DB_CACHE_CONNECTION", "pgsql")]).await;
        match app.cache(false).await.unwrap() {
            AppCache::Unavailable(reason) => assert!(reason.contains("\"pgsql\""), "{reason}"),
            AppCache::Store(s) => panic!("{s:?}"),
        }
        assert!(app.unique_locks().await.unwrap().is_none());
        let (_dir, app) = app_13(&[("DB_CACHE_CONNECTION", "sqlite")]).await;
        assert!(matches!(
            app.cache(false).await.unwrap(),
            AppCache::Store(_)
        ));
    }
}
