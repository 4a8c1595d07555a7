//! `larq restart`: `php artisan queue:restart`. It stores the current unix time under the cache key
//! `illuminate:queue:restart` in the app's Redis cache store, exactly as `Cache::forever()` does for
//! a number (a plain `SET` of the digits, no expiry). Every worker, PHP's `queue:work` and
//! `larq work` alike, read that key when it started and stops (after its current job) once the value
//! changes; the process supervisor then starts it again with the new code. With `CACHE_DRIVER=file`
//! it writes the entry into the app's file cache instead ([`larq::file_cache`]).

use anyhow::{Context, Result};
use clap::Args;

use larq::file_cache::FileCache;
use larq::worker::RESTART_KEY;

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
    let now = larq::queue::redis::now() as i64;
    block_on(async {
        if app.settings.cache_driver.as_deref() == Some("file") {
            // CACHE_DRIVER=file: the entry Laravel's FileStore would write.
            let dir = app.settings.cache_file_path.as_ref().context(
                "CACHE_DRIVER is file but the cache directory is unknown: give --env (the app's .env) or LARQ_CACHE_FILE_PATH",
            )?;
            FileCache::new(dir).forever_int(RESTART_KEY, now).await?;
        } else {
            app.cache().await?.forever_int(RESTART_KEY, now).await?;
        }
        anyhow::Ok(())
    })??;
    println!("Broadcasting queue restart signal.");
    Ok(())
}
