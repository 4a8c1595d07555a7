//! `larq restart`: `php artisan queue:restart`. It stores the current unix time under the cache key
//! `illuminate:queue:restart` in the app's Redis cache store, exactly as `Cache::forever()` does for
//! a number (a plain `SET` of the digits, no expiry). Every worker, PHP's `queue:work` and
//! `larq work` alike, read that key when it started and stops (after its current job) once the value
//! changes; the process supervisor then starts it again with the new code. With the `file` store
//! it writes the entry into the app's file cache instead ([`crate::cache::FileCache`]), with the
//! `database` store (Laravel 11+'s default) the `cache` row ([`crate::cache::DatabaseCache`]).

use anyhow::{bail, Result};
use clap::Args;

use crate::app::AppCache;
use crate::cache::RESTART_KEY;

use super::app::{block_on, AppArgs};

/// `larq restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub app: AppArgs,
}

/// Run `larq restart`.
pub fn run(args: RestartArgs) -> Result<()> {
    let app = args.app.load()?;
    let now = crate::queue::now() as i64;
    block_on(async {
        match app.cache().await? {
            // Redis: a plain SET; file, database: the entry Laravel's store would write.
            AppCache::Store(cache) => cache.forever_int(RESTART_KEY, now).await?,
            AppCache::Unavailable(reason) => bail!("{reason}: cannot broadcast queue:restart"),
        }
        anyhow::Ok(())
    })??;
    println!("Broadcasting queue restart signal.");
    Ok(())
}
