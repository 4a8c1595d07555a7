//! `larq monitor <queues> --max N`: `php artisan queue:monitor` for Redis queues.
//!
//! Prints each queue's size (Laravel's `size()`: ready + delayed + reserved) with `OK` or `ALERT`;
//! a queue is `ALERT` when its size is **at least** `--max`, as in Laravel. Where artisan fires a
//! `QueueBusy` event (PHP listeners), larq exits with status 3 so cron jobs and health checks can
//! react; 0 means every queue is below the threshold, 1 is an error.

use anyhow::{bail, Result};
use clap::Args;

use super::app::{block_on, table, AppArgs};

/// The exit status when at least one queue is at or over `--max`.
pub const ALERT_EXIT: i32 = 3;

/// `larq monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The queues to monitor, comma separated, each `queue` or `connection:queue`
    /// (e.g. `redis:default,redis:emails`) [required]
    #[arg(value_name = "QUEUES", value_delimiter = ',', required = true)]
    pub queues: Vec<String>,
    /// The maximum number of jobs that can be on the queue before it is flagged ALERT (size >= max)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max: u64,
    #[command(flatten)]
    pub app: AppArgs,
}

/// Run `larq monitor`; exits with [`ALERT_EXIT`] when a queue is busy.
pub fn run(args: MonitorArgs) -> Result<()> {
    let app = args.app.load()?;
    let mut targets = Vec::new();
    for spec in &args.queues {
        let (connection, queue) = match spec.split_once(':') {
            Some((c, q)) => (c.to_owned(), q.to_owned()),
            None => (app.default_connection().to_owned(), spec.clone()),
        };
        if queue.is_empty() || connection.is_empty() {
            bail!("QUEUES: {spec:?} is not `queue` or `connection:queue`");
        }
        app.check_connection(&connection)?;
        targets.push((connection, queue));
    }
    let (rows, busy) = block_on(async {
        let mut rows = Vec::new();
        let mut busy = false;
        let mut open: Vec<(String, crate::queue::Queue)> = Vec::new();
        for (connection, queue) in &targets {
            if !open.iter().any(|(c, _)| c == connection) {
                let q = app.queue(connection).await?;
                open.push((connection.clone(), q));
            }
            let Some((_, q)) = open.iter().find(|(c, _)| c == connection) else {
                continue;
            };
            q.check_queue(queue)?;
            let size = q.size(queue).await?;
            let alert = size >= args.max;
            busy |= alert;
            rows.push(vec![
                connection.clone(),
                queue.clone(),
                size.to_string(),
                if alert { "ALERT" } else { "OK" }.to_owned(),
            ]);
        }
        anyhow::Ok((rows, busy))
    })??;
    print!(
        "{}",
        table(&["Connection", "Queue", "Size", "Status"], &rows)
    );
    if busy {
        std::process::exit(ALERT_EXIT);
    }
    Ok(())
}
