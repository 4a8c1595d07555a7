//! `larq restart`: `php artisan queue:restart`. It stores the current unix time under the cache key
//! `illuminate:queue:restart` in the app's Redis cache store, exactly as `Cache::forever()` does for
//! a number (a plain `SET` of the digits, no expiry). Every worker, PHP's `queue:work` and
//! `larq work` alike, read that key when it started and stops (after its current job) once the value
//! changes; the process supervisor then starts it again with the new code.

use anyhow::Result;
use clap::Args;

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
    block_on(async {
        let cache = app.cache().await?;
        cache
            .forever_int(RESTART_KEY, larq::queue::redis::now() as i64)
            .await?;
        anyhow::Ok(())
    })??;
    println!("Broadcasting queue restart signal.");
    Ok(())
}
