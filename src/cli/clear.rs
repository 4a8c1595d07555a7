//! `larq clear [connection] [--queue=]`: `php artisan queue:clear` for a Redis queue. It deletes
//! the ready list, `:delayed`, `:reserved` and `:notify` in one atomic script and prints how many
//! jobs were removed. Unlike artisan in production, it asks no confirmation (`--force` is accepted
//! so artisan command lines keep working).

use anyhow::Result;
use clap::Args;

use super::app::{block_on, AppArgs};

/// `larq clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The name of the queue connection to clear [default: QUEUE_CONNECTION, else redis]
    pub connection: Option<String>,
    /// The name of the queue to clear [default: REDIS_QUEUE, else default]
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// Accepted for artisan compatibility; larq never asks for confirmation
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub app: AppArgs,
}

/// Run `larq clear`.
pub fn run(args: ClearArgs) -> Result<()> {
    let app = args.app.load()?;
    let connection = args
        .connection
        .clone()
        .unwrap_or_else(|| app.default_connection().to_owned());
    let queue_name = args
        .queue
        .clone()
        .unwrap_or_else(|| app.default_queue(&connection).to_owned());
    let count = block_on(async {
        let queue = app.queue(&connection).await?;
        queue.check_queue(&queue_name)?;
        anyhow::Ok(queue.clear(&queue_name).await?)
    })??;
    println!("Cleared {count} jobs from the [{queue_name}] queue");
    Ok(())
}
