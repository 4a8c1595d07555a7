//! `larq size [queues]`: how many jobs each queue (Redis or the database `jobs` table) holds, split into ready, delayed and
//! reserved; `Total` is what Laravel's `Queue::size()` returns (the three together).

use anyhow::Result;
use clap::Args;

use super::app::{block_on, table, AppArgs};

/// `larq size`.
#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Queues to measure, comma separated [default: every queue that has keys under the
    /// connection's prefix, plus REDIS_QUEUE]
    #[arg(value_name = "QUEUES", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// The queue connection [default: QUEUE_CONNECTION, else redis]
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    #[command(flatten)]
    pub app: AppArgs,
}

/// Run `larq size`.
pub fn run(args: SizeArgs) -> Result<()> {
    let app = args.app.load()?;
    let connection = args
        .connection
        .clone()
        .unwrap_or_else(|| app.default_connection().to_owned());
    let rows = block_on(async {
        let queue = app.queue(&connection).await?;
        let mut names = args.queues.clone();
        if names.is_empty() {
            names = queue.queue_names().await?;
            let default = app.default_queue(&connection).to_owned();
            if !names.contains(&default) {
                names.insert(0, default);
            }
        }
        let mut rows = Vec::new();
        for name in names {
            queue.check_queue(&name)?;
            let s = queue.sizes(&name).await?;
            rows.push(vec![
                connection.clone(),
                name,
                s.ready.to_string(),
                s.delayed.to_string(),
                s.reserved.to_string(),
                s.total().to_string(),
            ]);
        }
        anyhow::Ok(rows)
    })??;
    print!(
        "{}",
        table(
            &[
                "Connection",
                "Queue",
                "Ready",
                "Delayed",
                "Reserved",
                "Total"
            ],
            &rows
        )
    );
    Ok(())
}
