//! Queue events for observers, compared with the events PHP's worker raises on the same jobs,
//! on Laravel 8, 10 and 13.
//!
//! The fixture app writes a line per queue event when `LARQ_EVENTS_FILE` is set (its
//! `AppServiceProvider`); a Rust observer on larq's registry writes the same lines. The same
//! jobs (a `SomeJob` that succeeds, a `FailingJob` that throws on both of its two tries) go onto
//! a queue for each worker, and the two sequences must match.

use crate::support::laravel;

use std::path::Path;
use std::sync::{Arc, Mutex};

use laravel::{laravel_tests, App};
use larq::job::events::{JobEvent, QueueObserver};
use larq::job::{Job, JobContext, JobError, Registry};
use larq::queue::RedisQueue;
use larq::worker::{Worker, WorkerOptions};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SomeJob {
    user_id: i64,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        assert!(self.user_id > 0);
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct FailingJob {
    n: i64,
}

impl Job for FailingJob {
    const CLASS: &'static str = "App\\Jobs\\FailingJob";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        Err(JobError::new(format!("boom {}", self.n)))
    }
}

/// Writes what it hears as the fixture app's listeners write it, and counts `Looping`.
#[derive(Clone, Default)]
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    loops: Arc<Mutex<u32>>,
    /// Answer `false` to `Looping`.
    refuse: bool,
}

impl Lines {
    fn add(&self, event: &str, job: &JobEvent<'_>) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{event} {}", job.name));
    }
}

impl QueueObserver for Lines {
    fn looping(&self, connection: &str, queues: &[String]) -> bool {
        assert_eq!((connection, queues), ("redis", &["larq".to_owned()][..]));
        *self.loops.lock().unwrap() += 1;
        !self.refuse
    }
    fn job_processing(&self, job: &JobEvent<'_>) {
        self.add("JobProcessing", job);
    }
    fn job_processed(&self, job: &JobEvent<'_>) {
        self.add("JobProcessed", job);
    }
    fn job_exception_occurred(&self, job: &JobEvent<'_>, error: &JobError) {
        assert!(error.message().starts_with("boom"), "{error}");
        self.add("JobExceptionOccurred", job);
    }
    fn job_released_after_exception(&self, job: &JobEvent<'_>, delay: u64) {
        assert_eq!(delay, 0);
        self.add("JobReleasedAfterException", job);
    }
    fn job_failed(&self, job: &JobEvent<'_>, error: &JobError) {
        assert!(error.message().starts_with("boom"), "{error}");
        self.add("JobFailed", job);
    }
    fn worker_stopping(&self, status: i32, reason: &str) {
        assert_eq!(reason, "empty", "--stop-when-empty");
        self.lines
            .lock()
            .unwrap()
            .push(format!("WorkerStopping {status}"));
    }
}

laravel_tests!(async observers_hear_what_php_listeners_hear => observers; 8 10 13);

async fn observers(major: u8) {
    let Some(app) = App::start_version(major) else {
        return;
    };
    app.php_in_app(
        r#"
        foreach (['php', 'larq'] as $q) {
            App\Jobs\SomeJob::dispatch(7, 'events')->onQueue($q);
            App\Jobs\FailingJob::dispatch(1, 2, [0])->onQueue($q);
        }
        "#,
    );
    let dir = tempfile::tempdir().unwrap();
    let php_file = dir.path().join("php-events.txt");
    let mut c = laravel::artisan_command_for(
        major,
        &[
            "queue:work",
            "redis",
            "--queue=php",
            "--stop-when-empty",
            "--sleep=0",
        ],
    );
    c.envs(
        app.command(Path::new("php"))
            .get_envs()
            .filter_map(|(k, v)| Some((k, v?))),
    )
    .env("LARQ_EVENTS_FILE", &php_file);
    laravel::run(c, "queue:work with event listeners");
    let theirs: Vec<String> = std::fs::read_to_string(&php_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let observer = Lines::default();
    larq_worker(&app, major, &observer).await;
    let mut ours = observer.lines.lock().unwrap().clone();
    if major < 9 {
        // Laravel 8 has no JobReleasedAfterException; larq tells observers on every version.
        ours.retain(|l| !l.starts_with("JobReleasedAfterException"));
    }
    assert_eq!(
        ours, theirs,
        "larq's observer (left) and PHP's listeners (right)"
    );
    assert!(
        *observer.loops.lock().unwrap() >= 3,
        "Looping is asked every round"
    );

    // A Looping observer that says no pauses the worker instead of reserving; a paused
    // `--stop-when-empty` worker stops, as PHP's pauseWorker does, and the job stays queued.
    app.php_in_app("App\\Jobs\\SomeJob::dispatch(8, 'waits')->onQueue('larq');");
    let refusing = Lines {
        refuse: true,
        ..Lines::default()
    };
    larq_worker(&app, major, &refusing).await;
    assert_eq!(
        *refusing.lines.lock().unwrap(),
        ["WorkerStopping 0"],
        "nothing reserved while Looping says no"
    );
    let waiting: usize = redis::Commands::llen(&mut app.conn(0), app.queue_key("larq")).unwrap();
    assert_eq!(waiting, 1);
}

async fn larq_worker(app: &App, major: u8, observer: &Lines) {
    let mut registry = Registry::new().with::<SomeJob>().with::<FailingJob>();
    registry.observe(observer.clone());
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .unwrap();
    Worker::builder(queue, registry)
        .options(WorkerOptions {
            queues: vec!["larq".to_owned()],
            stop_when_empty: true,
            sleep: std::time::Duration::from_millis(20),
            memory_mb: 0,
            laravel_version: major,
            ..WorkerOptions::default()
        })
        .build()
        .run()
        .await
        .unwrap();
}
