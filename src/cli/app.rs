//! What the operator commands (`failed`, `size`, `monitor`, `clear`, `restart`) share: finding the
//! PHP app's settings the way `larq work` does, opening its queue, cache and failed_jobs table, and
//! printing tables the way artisan (Symfony's console) does.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::app::AppCache;
use crate::app::QueueOverrides;
use crate::config::Settings;
use crate::failed::FailedJobStore;
use crate::queue::Queue;

/// Where the PHP app's settings come from; the same flags as `larq work`.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// The PHP app's .env file (APP_NAME, REDIS_*, DB_*, ...); variables set in the process
    /// environment win over it [default: process environment only]
    #[arg(long, value_name = "PATH", global = true)]
    pub env: Option<PathBuf>,
    /// The app's Laravel major version (8–13): key prefixes, the default cache store and database
    /// connection, messages [default: detected from the app of --env (its composer.lock or
    /// vendor/laravel/framework), else 13]
    #[arg(long, value_name = "N", global = true, env = "LARQ_LARAVEL_VERSION", value_parser = clap::value_parser!(u8).range(8..=13))]
    pub laravel_version: Option<u8>,
    /// Queue connections (config/queue.php names) that use the `redis` driver on the REDIS_*
    /// server, comma separated; rows and queues of other connections are refused
    /// [default: redis and QUEUE_CONNECTION]
    #[arg(long, value_name = "NAMES", value_delimiter = ',', global = true)]
    pub redis_connections: Vec<String>,
}

/// The app (see [`crate::app::App`]) plus the flags that refine it for the operator commands.
pub struct App {
    /// The app: settings and the parts built from them.
    pub app: crate::app::App,
    /// Settings from `.env` and the process environment.
    pub settings: Settings,
    redis_connections: Vec<String>,
}

impl AppArgs {
    /// Read the settings as `larq work` does (`--env`, then the process environment).
    pub fn load(&self) -> Result<App> {
        let laravel = crate::laravel::resolve(self.laravel_version, self.env.as_deref());
        let app =
            crate::app::App::load(self.env.as_deref(), laravel).with_context(|| {
                match &self.env {
                    Some(path) => format!("--env {}", path.display()),
                    None => "the process environment".to_owned(),
                }
            })?;
        let settings = app.settings().clone();
        let mut redis_connections = if self.redis_connections.is_empty() {
            vec!["redis".to_owned(), settings.queue_connection.clone()]
        } else {
            self.redis_connections.clone()
        };
        redis_connections.dedup();
        Ok(App {
            app,
            settings,
            redis_connections,
        })
    }
}

impl App {
    /// The app's Laravel major version (`--laravel-version`): which version's output to print.
    pub fn laravel_version(&self) -> u8 {
        self.app.laravel_version()
    }

    /// The connection to use when none is named (`QUEUE_CONNECTION`; unset: `database` from
    /// Laravel 11, else `redis`).
    pub fn default_connection(&self) -> &str {
        self.app.default_connection()
    }

    /// Refuse a connection larq cannot reach, naming the flag that would allow it.
    pub fn check_connection(&self, connection: &str) -> Result<()> {
        if connection == "database"
            || connection == "rabbitmq"
            || self.redis_connections.iter().any(|c| c == connection)
        {
            return Ok(());
        }
        bail!(
            "queue connection {connection:?} is not one larq knows (known: database, rabbitmq, {}; add a connection that uses the REDIS_* server with --redis-connections)",
            self.redis_connections.join(", ")
        )
    }

    /// Open the queue of a (checked) connection: `database` on the app's database (`DB_*`), the
    /// others on the app's Redis under their own name.
    pub async fn queue(&self, connection: &str) -> Result<Queue> {
        self.check_connection(connection)?;
        let overrides = QueueOverrides::default();
        if connection == "database" || connection == "rabbitmq" {
            return Ok(self.app.queue(connection, &overrides).await?);
        }
        Ok(self.app.redis_queue(connection, &overrides).await?.into())
    }

    /// The queue a connection works when none is named (`DB_QUEUE` for `database`,
    /// `RABBITMQ_QUEUE` for `rabbitmq`, else `REDIS_QUEUE`).
    pub fn default_queue(&self, connection: &str) -> &str {
        if connection == "database" || connection == "rabbitmq" {
            self.app.default_queue(connection)
        } else {
            &self.settings.default_queue
        }
    }

    /// Open the app's cache store (restart signal).
    pub async fn cache(&self) -> Result<AppCache> {
        Ok(self.app.cache(false).await?)
    }

    /// Open `failed_jobs` in the app's database.
    pub async fn failed_store(&self) -> Result<FailedJobStore> {
        FailedJobStore::connect(&self.settings.database)
            .await
            .context("cannot open the failed_jobs database (DB_CONNECTION, DB_DATABASE, ...)")
    }
}

/// A multi-thread-free runtime for one command: these commands do a handful of round trips.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Render rows as Symfony console's default table style (what artisan's `$this->table()` prints).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let rule = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::from("|");
        for (w, cell) in widths.iter().zip(cells) {
            let pad = w - cell.chars().count();
            s.push(' ');
            s.push_str(cell);
            s.push_str(&" ".repeat(pad + 1));
            s.push('|');
        }
        s.push('\n');
        s
    };
    let mut out = rule.clone();
    out.push_str(&line(&mut headers.iter().copied()));
    out.push_str(&rule);
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out.push_str(&rule);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_symfony() {
        let t = table(
            &["Queue", "Size"],
            &[
                vec!["default".into(), "3".into()],
                vec!["é".into(), "12".into()],
            ],
        );
        let expected = "+---------+------+\n| Queue   | Size |\n+---------+------+\n| default | 3    |\n| é       | 12   |\n+---------+------+\n";
        assert_eq!(t, expected);
    }
}
