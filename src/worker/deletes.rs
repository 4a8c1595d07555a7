//! Finished jobs' deletes: batched into the loop's next reserve call where the queue allows it
//! ([`crate::queue::Queue::defers_deletes`]), and retried while the connection is down, so a job
//! that already ran does not run again just because Redis blinked while it finished.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use super::{State, MAX_RECONNECT_BACKOFF};
use crate::queue::{QueueError, ReservedJob};

/// A finished job's delete, waiting for the loop to send it along with its next reserve.
pub(super) struct PendingDelete {
    /// Shared with the job's run, not copied: a payload can be megabytes.
    pub(super) job: std::sync::Arc<ReservedJob>,
    /// `Some(still reserved)` once deleted, `None` if the delete could not be sent.
    pub(super) done: oneshot::Sender<Option<bool>>,
}

/// Deletes handed from job tasks to the worker loop, so that one script call deletes the jobs
/// that just finished and reserves the next ones (one round trip per loop instead of one per
/// delete plus one per reserve). The job's task waits for its delete before it reports
/// `Processed`, as Laravel's worker does.
#[derive(Default)]
pub(super) struct Deletes {
    pending: Mutex<Vec<PendingDelete>>,
    pub(super) queued: Notify,
}

impl Deletes {
    pub(super) fn push(&self, delete: PendingDelete) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(delete);
        self.queued.notify_one();
    }

    /// How many deletes wait for the loop's next call.
    pub(super) fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(super) fn take(&self) -> Vec<PendingDelete> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keep deletes a failed call did not make, for the next one (no wake-up: the loop is
    /// already backing off).
    pub(super) fn put_back(&self, deletes: Vec<PendingDelete>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let newer = std::mem::replace(&mut *pending, deletes);
        pending.extend(newer);
    }
}

/// Deletes grouped by queue, in the order the queues first appear.
pub(super) fn by_queue(deletes: Vec<PendingDelete>) -> Vec<(String, Vec<PendingDelete>)> {
    let mut groups: Vec<(String, Vec<PendingDelete>)> = Vec::new();
    for delete in deletes {
        match groups.iter_mut().find(|(q, _)| *q == delete.job.queue) {
            Some((_, group)) => group.push(delete),
            None => groups.push((delete.job.queue.clone(), vec![delete])),
        }
    }
    groups
}

/// Tell each finished job's task how its delete went.
pub(super) fn settle(group: Vec<PendingDelete>, result: Result<Vec<bool>, QueueError>) {
    match result {
        Ok(deleted) => {
            for (delete, still_reserved) in group.into_iter().zip(deleted) {
                let _ = delete.done.send(Some(still_reserved));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = group.len(), "cannot delete finished jobs; they stay reserved and run again after retry_after");
            for delete in group {
                let _ = delete.done.send(None);
            }
        }
    }
}

/// How long a finished job keeps trying to delete or release itself while Redis is unreachable
/// or the SQLite file stays locked.
/// Past it the job stays reserved and runs again after `retry_after` (at-least-once).
const SETTLE_RETRY_LIMIT: Duration = Duration::from_secs(30);

/// How long those retries go on once the worker was told to stop: a stop during an outage must
/// end the process in seconds (a supervisor's stop timeout is often 10 s), and a job whose delete
/// could not be sent only runs again after `retry_after`, as with any crash.
const SETTLE_RETRY_LIMIT_STOPPING: Duration = Duration::from_secs(2);

/// How often "cannot record the failed job" is said while the failed_jobs store stays broken.
pub(super) const FAILED_STORE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Run a delete/release again, with backoff, while the error is a lost connection or SQLite's
/// "database is locked": a job that already ran should not run twice just because Redis blinked,
/// or another worker held the SQLite file, while it finished. Both operations are safe to repeat
/// (ZREM of exact bytes; a row is touched only while our reservation holds; a refused SQLite
/// statement wrote nothing). A stop request shortens the retrying to
/// [`SETTLE_RETRY_LIMIT_STOPPING`].
pub(super) async fn retry_while_disconnected<T, F, Fut>(
    state: &State,
    mut op: F,
) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, QueueError>>,
{
    let started = Instant::now();
    let mut stop_seen: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        match op().await {
            Err(e) if e.is_connection_lost() || e.is_busy() => {
                if state.should_quit.load(Ordering::SeqCst) {
                    stop_seen.get_or_insert_with(Instant::now);
                }
                let over = started.elapsed() >= SETTLE_RETRY_LIMIT
                    || stop_seen.is_some_and(|at| at.elapsed() >= SETTLE_RETRY_LIMIT_STOPPING);
                if over {
                    return Err(e);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    // A stop request ends the wait, so the shorter limit starts at once.
                    _ = state.wake.notified(), if stop_seen.is_none() => {}
                }
                backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
            }
            result => return result,
        }
    }
}
