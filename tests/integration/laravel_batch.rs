//! Batches, PHP vs larq: the same `Bus::batch([...])` dispatch is worked once by PHP's
//! `queue:work` and once by larq, each on its own Redis and SQLite; the `job_batches` rows must end
//! up the same (ids and timestamps aside), and `failed_job_ids` must name the job in failed_jobs.
//! On Laravel 8, 10 and 13, each with the `job_batches` table its `larq:setup-db` creates.

use crate::support::laravel;

use std::sync::Mutex;

use laravel::{laravel_tests, App, Serial};
use larq::batch::{BatchRepository, BatchRow};
use larq::bus::BusFeatures;
use larq::failed::FailedJobStore;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::queue::RedisQueue;
use larq::worker::{Worker, WorkerOptions};
use serde_json::{json, Value as Json};

static RAN: Mutex<Vec<i64>> = Mutex::new(Vec::new());
static SERIAL: Serial = Serial::new();

#[derive(serde::Deserialize)]
struct BatchStep {
    n: i64,
}

impl Job for BatchStep {
    const CLASS: &'static str = "App\\Jobs\\BatchStep";
    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        RAN.lock().unwrap().push(self.n);
        if self.n < 0 {
            return Err(JobError::new(format!("batch step {} failed", self.n)));
        }
        Ok(())
    }
}

async fn larq_work(app: &App) {
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .expect("connect");
    let worker = Worker::builder(queue, Registry::new().with::<BatchStep>())
        .failed_store(FailedJobStore::sqlite(&app.db()).await.unwrap())
        .bus(BusFeatures::new("default").batches(BatchRepository::sqlite(&app.db()).await.unwrap()))
        .options(WorkerOptions {
            stop_when_empty: true,
            sleep: std::time::Duration::ZERO,
            // The test process holds every integration test: its RSS is no job's.
            memory_mb: 0,
            laravel_version: app.major,
            ..WorkerOptions::default()
        })
        .build();
    worker.run().await.expect("worker");
}

fn php_work(app: &App) {
    app.artisan(&[
        "queue:work",
        "redis",
        "--stop-when-empty",
        "--sleep=0",
        "--tries=1",
    ]);
}

/// The row without its identities and times, plus whether failed_job_ids are the failed_jobs uuids.
async fn summary(app: &App) -> Vec<Json> {
    let repo = BatchRepository::sqlite(&app.db()).await.unwrap();
    let failed: Vec<String> = FailedJobStore::sqlite(&app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uuid)
        .collect();
    repo.all()
        .await
        .unwrap()
        .into_iter()
        .map(|r: BatchRow| {
            let mut ids = r.failed_job_ids.clone();
            ids.sort();
            let mut f = failed.clone();
            f.sort();
            json!({
                "name": r.name,
                "total_jobs": r.total_jobs,
                "pending_jobs": r.pending_jobs,
                "failed_jobs": r.failed_jobs,
                "failed_job_ids_are_failed_jobs": ids == f,
                "failed_job_ids": r.failed_job_ids.len(),
                "options": format!("{:?}", r.options),
                "cancelled": r.cancelled_at.is_some(),
                "finished": r.finished_at.is_some(),
                "cancelled_is_finished": r.cancelled_at.is_none() || r.cancelled_at == r.finished_at,
            })
        })
        .collect()
}

fn strict_batch(app: &App, allow_failures: bool) {
    let allow = if allow_failures {
        "->allowFailures()"
    } else {
        ""
    };
    app.php_in_app(&format!(
        "Illuminate\\Support\\Facades\\Bus::batch([new App\\Jobs\\BatchStep(-1), new App\\Jobs\\BatchStep(2), new App\\Jobs\\BatchStep(3)])->name('with failure'){allow}->dispatch();"
    ));
}

laravel_tests!(async job_batches_rows_match_php => rows_match_php; 8 10 13);

async fn rows_match_php(major: u8) {
    let _serial = SERIAL.lock().await;
    RAN.lock().unwrap().clear();
    // The fixture's batch (two jobs, allowFailures, a then callback): both succeed.
    let Some(php_app) = App::start_version(major) else {
        return;
    };
    let Some(larq_app) = App::start_version(major) else {
        return;
    };
    php_app.dispatch("batch", &[]);
    larq_app.dispatch("batch", &[]);
    php_work(&php_app);
    larq_work(&larq_app).await;
    let php = summary(&php_app).await;
    let larq = summary(&larq_app).await;
    assert_eq!(larq, php);
    assert_eq!(php[0]["pending_jobs"], 0);
    assert_eq!(php[0]["finished"], true);
    assert!(php[0]["options"].as_str().unwrap().contains("then: 1"));
    assert_eq!(RAN.lock().unwrap().len(), 2);

    // A batch that does not allow failures: the first job fails, the batch is cancelled; larq
    // skips the other two (PHP's BatchStep does not check cancelled(), but both count them as
    // done, which is what an early `return` in a Batchable job does).
    for allow in [false, true] {
        let Some(php_app) = App::start_version(major) else {
            return;
        };
        let Some(larq_app) = App::start_version(major) else {
            return;
        };
        strict_batch(&php_app, allow);
        strict_batch(&larq_app, allow);
        RAN.lock().unwrap().clear();
        php_work(&php_app);
        larq_work(&larq_app).await;
        let php = summary(&php_app).await;
        let larq = summary(&larq_app).await;
        assert_eq!(larq, php, "allowFailures {allow}");
        assert_eq!(php[0]["failed_jobs"], 1);
        assert_eq!(php[0]["failed_job_ids_are_failed_jobs"], true);
        assert_eq!(php[0]["cancelled"], !allow);
        let ran = RAN.lock().unwrap().clone();
        if allow {
            assert_eq!(ran, [-1, 2, 3]);
            assert_eq!(php[0]["pending_jobs"], 1);
        } else {
            assert_eq!(ran, [-1], "jobs of the cancelled batch were skipped");
            assert_eq!(php[0]["pending_jobs"], 1);
        }
    }
}
