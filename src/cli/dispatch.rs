//! `larq dispatch`: push a Laravel job from the shell, as `SomeJob::dispatch(...)` would.
//!
//! ```text
//! larq dispatch 'App\Jobs\SomeJob' --props '{"userId":42,"someParam":"hello"}' --queue high --tries 3
//! larq dispatch 'App\Jobs\ChainStep' --props '{"step":1}' \
//!     --chain '[{"class":"App\\Jobs\\ChainStep","props":{"step":2}}]' --chain-queue chains
//! ```
//!
//! The JSON object's keys become the job's public properties in the order given (integers stay
//! integers, `1.0` a float). Prints one JSON line: uuid, id, queue, displayName.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{Map, Value as Json};

use crate::app::{App, QueueOverrides};
use crate::dispatch::{Chain, Dispatcher, PendingJob};

/// `larq dispatch <class> [options]`.
#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// The PHP job class (`App\Jobs\SomeJob`).
    pub class: String,
    /// The job's properties as a JSON object.
    #[arg(long, default_value = "{}")]
    pub props: String,
    /// The PHP app's .env file to read settings from (process variables override it).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// `onQueue()` (default: REDIS_QUEUE or `default`).
    #[arg(long)]
    pub queue: Option<String>,
    /// `onConnection()`: written into the job (it is pushed to this Redis connection regardless).
    #[arg(long)]
    pub connection: Option<String>,
    /// `delay()` in seconds.
    #[arg(long)]
    pub delay: Option<u64>,
    /// `$tries`.
    #[arg(long)]
    pub tries: Option<i64>,
    /// `$maxExceptions`.
    #[arg(long)]
    pub max_exceptions: Option<i64>,
    /// `$backoff` (comma list of seconds).
    #[arg(long, value_delimiter = ',')]
    pub backoff: Vec<u64>,
    /// `$timeout`.
    #[arg(long)]
    pub timeout: Option<i64>,
    /// `retryUntil()` as unix seconds.
    #[arg(long)]
    pub retry_until: Option<i64>,
    /// `$failOnTimeout`.
    #[arg(long)]
    pub fail_on_timeout: bool,
    /// `ShouldBeEncrypted`: encrypt the command with APP_KEY.
    #[arg(long)]
    pub encrypt: bool,
    /// Jobs to chain after this one: a JSON list of `{"class": ..., "props": {...}}`.
    #[arg(long)]
    pub chain: Option<String>,
    /// `Bus::chain(...)->onQueue()`.
    #[arg(long)]
    pub chain_queue: Option<String>,
    /// `Bus::chain(...)->onConnection()`.
    #[arg(long)]
    pub chain_connection: Option<String>,
    /// The app's Laravel major version (8–13): key prefixes, the default cache store and database
    /// connection, messages [default: detected from the app of --env (its composer.lock or
    /// vendor/laravel/framework), else 13]
    #[arg(long, value_name = "N", env = "LARQ_LARAVEL_VERSION", value_parser = clap::value_parser!(u8).range(8..=13))]
    pub laravel_version: Option<u8>,
}

fn props(json: &str, what: &str) -> anyhow::Result<Map<String, Json>> {
    match serde_json::from_str::<Json>(json).with_context(|| format!("{what} is not JSON"))? {
        Json::Object(m) => Ok(m),
        other => bail!("{what} must be a JSON object, not {other}"),
    }
}

/// Run `larq dispatch`.
pub fn run(args: DispatchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(args))
}

async fn dispatch(args: DispatchArgs) -> anyhow::Result<()> {
    let laravel = crate::laravel::resolve(args.laravel_version, args.env.as_deref());
    let app = App::load(args.env.as_deref(), laravel)?;
    let settings = app.settings();
    let named = args
        .connection
        .clone()
        .unwrap_or_else(|| app.default_connection().to_owned());
    let (mut dispatcher, default_queue) = if named == "rabbitmq" {
        // Published with the broker's confirm: `Ok` means RabbitMQ has the job.
        let queue = app
            .queue(&named, &QueueOverrides::default())
            .await
            .context("cannot connect to RabbitMQ")?;
        let default_queue = app.default_queue(&named).to_owned();
        (
            Dispatcher::for_queue(Arc::new(queue), default_queue.clone()),
            default_queue,
        )
    } else {
        let queue = app
            .redis_queue("redis", &QueueOverrides::default())
            .await
            .context("cannot connect to the queue's Redis")?;
        (
            Dispatcher::new(Arc::new(queue), settings.default_queue.clone()),
            settings.default_queue.clone(),
        )
    };
    dispatcher = dispatcher.with_laravel_version(laravel.major());
    if let Some(enc) = app.encrypter() {
        dispatcher = dispatcher.with_encrypter(enc);
    }
    for c in [&args.connection, &args.chain_connection]
        .into_iter()
        .flatten()
    {
        // A connection name given here is taken to live on this same queue server.
        dispatcher = dispatcher.with_connection(c.clone(), default_queue.clone());
    }
    let mut job = PendingJob::with_class(&args.class, &props(&args.props, "--props")?)?;
    if let Some(q) = &args.queue {
        job = job.on_queue(q.clone());
    }
    if let Some(c) = &args.connection {
        job = job.on_connection(c.clone());
    }
    if let Some(d) = args.delay {
        job = job.delay(d);
    }
    if let Some(t) = args.tries {
        job = job.tries(t);
    }
    if let Some(m) = args.max_exceptions {
        job = job.max_exceptions(m);
    }
    if !args.backoff.is_empty() {
        job = job.backoff(args.backoff.iter().copied());
    }
    if let Some(t) = args.timeout {
        job = job.timeout(t);
    }
    if let Some(r) = args.retry_until {
        job = job.retry_until(r);
    }
    if args.fail_on_timeout {
        job = job.fail_on_timeout(true);
    }
    if args.encrypt {
        job = job.encrypted();
    }
    let dispatched = match &args.chain {
        None => dispatcher.dispatch(job).await?,
        Some(chain) => {
            let links: Vec<Json> = serde_json::from_str(chain).context("--chain is not JSON")?;
            let mut jobs = vec![job];
            for (i, link) in links.iter().enumerate() {
                let class = link["class"]
                    .as_str()
                    .with_context(|| format!("--chain[{i}] has no \"class\""))?;
                let p = match &link["props"] {
                    Json::Null => Map::new(),
                    Json::Object(m) => m.clone(),
                    other => bail!("--chain[{i}].props must be an object, not {other}"),
                };
                jobs.push(PendingJob::with_class(class, &p)?);
            }
            let mut chain = Chain::new(jobs);
            if let Some(q) = &args.chain_queue {
                chain = chain.on_queue(q.clone());
            }
            if let Some(c) = &args.chain_connection {
                chain = chain.on_connection(c.clone());
            }
            dispatcher.dispatch_chain(chain).await?
        }
    };
    println!(
        "{}",
        serde_json::json!({
            "uuid": dispatched.uuid,
            "id": dispatched.id,
            "queue": dispatched.queue,
            "displayName": args.class,
        })
    );
    Ok(())
}
