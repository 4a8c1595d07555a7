//! Queue events for observers: the moments Laravel's worker raises `Looping`, `JobProcessing`,
//! `JobProcessed`, `JobExceptionOccurred`, `JobReleasedAfterException`, `JobFailed` and
//! `WorkerStopping`, as methods of a Rust trait.
//!
//! No PHP runs inside larq, so the app's own listeners (`Queue::failing`, Telescope, error
//! trackers) never hear about the jobs larq runs. A deployment that wants its logging, tracing or
//! alerts there implements [`QueueObserver`] and registers it with
//! [`crate::job::Registry::observe`]; the worker calls it at the points PHP's raises the event,
//! in PHP's order (a job that fails for good: `job_failed`, then `job_exception_occurred`).
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use larq::job::events::{JobEvent, QueueObserver};
//! use larq::job::{JobError, Registry};
//!
//! #[derive(Default)]
//! struct Alerts { failed: AtomicU64 }
//!
//! impl QueueObserver for Alerts {
//!     fn job_failed(&self, job: &JobEvent<'_>, error: &JobError) {
//!         self.failed.fetch_add(1, Ordering::Relaxed);
//!         eprintln!("ALERT {} on {} failed: {error}", job.name, job.queue);
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.observe(Alerts::default());
//! ```
//!
//! The methods are plain functions called on the worker's task: keep them short, and hand slow
//! work (an HTTP call to a pager) to a task of your own. An observer that panics is logged and
//! skipped; the job and the worker go on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::job::JobError;
use crate::payload::Payload;

/// What the worker tells observers; every method does nothing unless implemented.
pub trait QueueObserver: Send + Sync + 'static {
    /// `Looping`: the worker is about to look for jobs. Returning `false` (as a PHP listener
    /// returning false from `Queue::looping` does) makes it pause for one `--sleep` instead, and
    /// check its stop conditions as an idle worker would.
    fn looping(&self, connection: &str, queues: &[String]) -> bool {
        let _ = (connection, queues);
        true
    }

    /// `JobProcessing`: a job was reserved and is about to run (raised even when it then fails
    /// unrun: too many attempts, no handler, an undecodable payload).
    fn job_processing(&self, job: &JobEvent<'_>) {
        let _ = job;
    }

    /// `JobProcessed`: the handler returned without an error, whatever it then asked for
    /// (release, delete, fail), or its middleware ended the job without it.
    fn job_processed(&self, job: &JobEvent<'_>) {
        let _ = job;
    }

    /// `JobExceptionOccurred`: the handler returned an error, panicked, or a step after it
    /// (the next chain link, the batch) failed.
    fn job_exception_occurred(&self, job: &JobEvent<'_>, error: &JobError) {
        let _ = (job, error);
    }

    /// `JobReleasedAfterException` (Laravel 9+): after an exception the job went back to the
    /// queue, due in `delay` seconds.
    fn job_released_after_exception(&self, job: &JobEvent<'_>, delay: u64) {
        let _ = (job, delay);
    }

    /// `JobFailed`: the job failed for good; its `failed_jobs` row is written.
    fn job_failed(&self, job: &JobEvent<'_>, error: &JobError) {
        let _ = (job, error);
    }

    /// `WorkerStopping`: the worker has finished its jobs in flight and is about to return,
    /// with `status`, the exit status `queue:work` would have (0, 12 for `--memory`, 1), and
    /// why (`signal`, `memory`, `restart`, `empty`, `max_time`, `max_jobs`, `once`, `forced`).
    fn worker_stopping(&self, status: i32, reason: &str) {
        let _ = (status, reason);
    }
}

/// The job an event is about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JobEvent<'a> {
    /// The queue connection's name (`redis`).
    pub connection: &'a str,
    /// The queue (`default`).
    pub queue: &'a str,
    /// The driver's job id (the payload's `id`, or the database row's id), printable.
    pub job_id: &'a str,
    /// The job's display name (`App\Jobs\SomeJob`), printable.
    pub name: &'a str,
    /// Attempts including this one.
    pub attempts: i64,
    /// The decoded payload (empty when it could not be decoded).
    pub payload: &'a Payload,
    /// The payload's bytes as reserved.
    pub raw: &'a [u8],
}

/// The registered observers, each call shielded from a panicking one.
#[derive(Clone, Default)]
pub(crate) struct Observers(Vec<Arc<dyn QueueObserver>>);

impl Observers {
    pub(crate) fn push(&mut self, observer: Arc<dyn QueueObserver>) {
        self.0.push(observer);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Call `f` on every observer; a panic in one is logged and the others still run.
    pub(crate) fn each(&self, event: &'static str, f: impl Fn(&dyn QueueObserver)) {
        for observer in &self.0 {
            if catch_unwind(AssertUnwindSafe(|| f(observer.as_ref()))).is_err() {
                tracing::error!(event, "a queue observer panicked; the worker goes on");
            }
        }
    }

    /// `Looping`: whether every observer lets the worker look for jobs (a panicking one does).
    pub(crate) fn looping(&self, connection: &str, queues: &[String]) -> bool {
        let mut go = true;
        for observer in &self.0 {
            match catch_unwind(AssertUnwindSafe(|| observer.looping(connection, queues))) {
                Ok(yes) => go &= yes,
                Err(_) => tracing::error!(
                    event = "looping",
                    "a queue observer panicked; the worker goes on"
                ),
            }
        }
        go
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl QueueObserver for Counting {
        fn looping(&self, _: &str, _: &[String]) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            false
        }
        fn worker_stopping(&self, _: i32, _: &str) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Panicking;

    impl QueueObserver for Panicking {
        fn looping(&self, _: &str, _: &[String]) -> bool {
            panic!("observer bug")
        }
        fn worker_stopping(&self, _: i32, _: &str) {
            panic!("observer bug")
        }
    }

    #[test]
    fn a_panicking_observer_is_skipped_and_the_others_still_hear() {
        let counting = Arc::new(Counting::default());
        let mut all = Observers::default();
        all.push(Arc::new(Panicking));
        all.push(counting.clone());
        assert!(!all.looping("redis", &["default".to_owned()]));
        all.each("worker_stopping", |o| o.worker_stopping(0, "empty"));
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        let mut only_panicking = Observers::default();
        only_panicking.push(Arc::new(Panicking));
        assert!(
            only_panicking.looping("redis", &[]),
            "a panic does not pause the worker"
        );
    }
}
