//! `larq pause` and `larq resume`: `php artisan queue:pause` and `queue:resume` (Laravel 12.40+,
//! `--all` from 13). They write the same cache entries PHP's `QueueManager` writes (see
//! [`crate::pause`]) into the app's cache store, so PHP's workers and larq's alike stop taking
//! jobs from the queue after their current one, and take them again once it is resumed.
//!
//! `--for SECONDS` is larq's addition: artisan has no such option, but `Queue::pauseFor()` does
//! exactly this (the entry expires by itself), and a pause that lifts itself is what an operator
//! holding off a flaky API for a while wants from a shell.

use anyhow::{bail, Result};
use clap::Args;

use crate::app::AppCache;
use crate::pause::{parse_queue_argument, version_pauses, version_pauses_all, QueuePauses};

use super::app::{block_on, App, AppArgs};

/// `larq pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The queue to pause, as `connection:queue` (`default` when the queue is left out, the
    /// app's default connection when there is no `:`)
    pub queue: Option<String>,
    /// Pause job processing for all queues on all connections (Laravel 13)
    #[arg(long, conflicts_with_all = ["queue", "seconds"])]
    pub all: bool,
    /// Resume by itself after this many seconds (`Queue::pauseFor`; 0 resumes now)
    #[arg(long = "for", value_name = "SECONDS")]
    pub seconds: Option<u64>,
    #[command(flatten)]
    pub app: AppArgs,
}

/// `larq resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The queue that should resume processing, as `connection:queue`
    pub queue: Option<String>,
    /// Resume job processing for all queues on all connections (Laravel 13); queues paused one
    /// by one stay paused
    #[arg(long, conflicts_with = "queue")]
    pub all: bool,
    #[command(flatten)]
    pub app: AppArgs,
}

/// Run `larq pause`.
pub fn run_pause(args: PauseArgs) -> Result<()> {
    let app = args.app.load()?;
    let target = target(&app, args.queue.as_deref(), args.all)?;
    let message = block_on(async {
        let pauses = open(&app).await?;
        anyhow::Ok(match (&target, args.seconds) {
            (None, _) => {
                pauses.pause_all().await?;
                "Job processing on all queues across all connections has been paused.".to_owned()
            }
            (Some((connection, queue)), None) => {
                pauses.pause(connection, queue).await?;
                format!("Job processing on queue [{connection}:{queue}] has been paused.")
            }
            (Some((connection, queue)), Some(0)) => {
                pauses.pause_for(connection, queue, 0).await?;
                format!("Job processing on queue [{connection}:{queue}] has been resumed.")
            }
            (Some((connection, queue)), Some(seconds)) => {
                pauses.pause_for(connection, queue, seconds).await?;
                format!(
                    "Job processing on queue [{connection}:{queue}] has been paused for {seconds} seconds."
                )
            }
        })
    })??;
    println!("{message}");
    Ok(())
}

/// Run `larq resume`.
pub fn run_resume(args: ResumeArgs) -> Result<()> {
    let app = args.app.load()?;
    let target = target(&app, args.queue.as_deref(), args.all)?;
    let message = block_on(async {
        let pauses = open(&app).await?;
        anyhow::Ok(match &target {
            None => {
                pauses.resume_all().await?;
                "Job processing on all queues across all connections has been resumed.".to_owned()
            }
            Some((connection, queue)) => {
                pauses.resume(connection, queue).await?;
                format!("Job processing on queue [{connection}:{queue}] has been resumed.")
            }
        })
    })??;
    println!("{message}");
    Ok(())
}

/// The queue named (`None`: all of them), refused where the app's Laravel cannot pause it: a
/// pause no worker of that version reads would only mislead.
fn target(app: &App, queue: Option<&str>, all: bool) -> Result<Option<(String, String)>> {
    let version = app.app.laravel_version();
    if !version_pauses(version) {
        bail!("Laravel {version} has no queue pausing (queue:pause came with 12.40); give --laravel-version if the app is newer");
    }
    if all {
        if !version_pauses_all(version) {
            bail!("Laravel {version} has no pause for all queues (queue:pause --all came with 13); name a queue");
        }
        return Ok(None);
    }
    match queue {
        Some(q) => Ok(Some(parse_queue_argument(q, app.default_connection()))),
        None => bail!("A queue name is required unless the --all option is used."),
    }
}

/// The app's pauses in its cache store.
async fn open(app: &App) -> Result<QueuePauses> {
    let version = app.app.laravel_version();
    match app.cache().await? {
        AppCache::Store(cache) => Ok(QueuePauses::new(cache, version)),
        AppCache::Unavailable(reason) => bail!("{reason}: cannot pause or resume queues"),
    }
}
