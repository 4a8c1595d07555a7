//! Eloquent models in jobs, against PHP's worker on Laravel 8, 10 and 13.
//!
//! The fixture app dispatches `ModelJob` (a user, a collection of users, an empty collection) and
//! `ModelGoneJob` (`$deleteWhenMissingModels = true`) twice each, once onto a queue PHP's
//! `queue:work` empties and once onto a queue larq empties; then user 1's row is deleted. Both
//! workers must then do the same: `ModelJob` for user 1 fails at once with PHP's
//! `ModelNotFoundException`, `ModelGoneJob` is deleted without a trace, and a `ModelJob` whose
//! user exists runs with the collection's missing row left out, in the collection's order.

use crate::support::laravel;

use std::sync::Mutex;

use laravel::{laravel_tests, App, Serial};
use larq::db::{Database, Target};
use larq::failed::FailedJobStore;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::model::{Model, ModelIdentifier, Models};
use larq::queue::RedisQueue;
use larq::worker::{Worker, WorkerOptions};
use redis::Commands;
use serde_json::{json, Value as Json};
use sqlx::Row;

static SERIAL: Serial = Serial::new();

/// What the Rust handlers saw, one entry per run (set per test under `SERIAL`).
static SEEN: Mutex<Vec<Json>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct User {
    id: i64,
    name: String,
}

impl sqlx::FromRow<'_, sqlx::any::AnyRow> for User {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
        })
    }
}

impl Model for User {
    const CLASS: &'static str = "App\\Models\\User";
    const TABLE: &'static str = "users";
    const SELECT: &'static str = "id, name";
}

#[derive(serde::Deserialize)]
struct ModelJob {
    user: ModelIdentifier,
    users: ModelIdentifier,
    nobody: ModelIdentifier,
}

impl Job for ModelJob {
    const CLASS: &'static str = "App\\Jobs\\ModelJob";
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let models = ctx.models()?;
        let user: User = models.find(&self.user).await?;
        let users: Vec<User> = models.find_all(&self.users).await?;
        let nobody: Vec<User> = models.find_all(&self.nobody).await?;
        SEEN.lock().unwrap().push(json!({
            "user": [user.id, user.name],
            "users": users.iter().map(|u| u.name.clone()).collect::<Vec<_>>(),
            "nobody": nobody.len(),
        }));
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct ModelGoneJob {
    user: ModelIdentifier,
}

impl Job for ModelGoneJob {
    const CLASS: &'static str = "App\\Jobs\\ModelGoneJob";
    // The PHP class declares it; Laravel 9-12 leave a property equal to its default out of the
    // command, so the twin repeats it (13 reads the payload's copy instead).
    const DELETE_WHEN_MISSING_MODELS: Option<bool> = Some(true);
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        let user: User = ctx.models()?.find(&self.user).await?;
        SEEN.lock()
            .unwrap()
            .push(json!({"gone_job_ran_for": user.id}));
        Ok(())
    }
}

/// The names of the users a recorded PHP job's collection property held, in its order: the
/// recorder walks the job as `serialize()` does, so the restored collection is written back as
/// a `ModelIdentifier` whose `id` lists the keys of the rows PHP found.
fn php_collection_names(record: &Json, property: &str) -> Vec<&'static str> {
    fn ints(v: &Json, out: &mut Vec<i64>) {
        match v {
            Json::Object(o) if o.get("t") == Some(&json!("int")) => {
                out.extend(o.get("v").and_then(Json::as_i64))
            }
            Json::Object(o) => o.values().for_each(|v| ints(v, out)),
            Json::Array(a) => a.iter().for_each(|v| ints(v, out)),
            _ => {}
        }
    }
    let identifier = &laravel::prop(record, property)["v"];
    let id = identifier["props"]
        .as_array()
        .and_then(|props| props.iter().find(|p| p["name"] == "id"))
        .map(|p| p["v"].clone())
        .unwrap_or(Json::Null);
    let mut keys = Vec::new();
    ints(&id, &mut keys);
    keys.into_iter()
        .map(|k| ["?", "Ada", "Grace", "Linus"][usize::try_from(k).unwrap_or(0).min(3)])
        .collect()
}

laravel_tests!(async missing_models_are_treated_as_php_treats_them => missing_models; 8 10 13);

async fn missing_models(major: u8) {
    let _serial = SERIAL.lock().await;
    let Some(app) = App::start_version(major) else {
        return;
    };
    SEEN.lock().unwrap().clear();
    // One of each for PHP's worker and for larq, then a job whose user stays; then user 1 goes.
    app.php_in_app(
        r#"
        use App\Models\User;
        use Illuminate\Database\Eloquent\Collection;
        foreach (['php', 'larq'] as $q) {
            App\Jobs\ModelJob::dispatch(User::find(1), User::findMany([3, 2, 1]), new Collection())->onQueue($q);
            App\Jobs\ModelGoneJob::dispatch(User::find(1))->onQueue($q);
            App\Jobs\ModelJob::dispatch(User::find(2), new Collection([User::find(3), User::find(1), User::find(2)]), new Collection())->onQueue($q);
        }
        Illuminate\Support\Facades\DB::table('users')->where('id', 1)->delete();
        "#,
    );
    app.artisan(&[
        "queue:work",
        "redis",
        "--queue=php",
        "--stop-when-empty",
        "--sleep=0",
    ]);

    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .unwrap();
    let db = Database::open(
        Target::sqlite_file(&app.db()),
        2,
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    Worker::builder(
        queue,
        Registry::new().with::<ModelJob>().with::<ModelGoneJob>(),
    )
    .failed_store(FailedJobStore::on(&db))
    .models(Models::new(db.clone(), "sqlite"))
    .options(WorkerOptions {
        queues: vec!["larq".to_owned()],
        stop_when_empty: true,
        sleep: std::time::Duration::from_millis(50),
        memory_mb: 0,
        laravel_version: major,
        ..WorkerOptions::default()
    })
    .build()
    .run()
    .await
    .unwrap();

    // Both queues are empty: nothing left waiting or reserved.
    let mut conn = app.conn(0);
    for q in ["php", "larq"] {
        for key in [
            app.queue_key(q),
            format!("{}:reserved", app.queue_key(q)),
            format!("{}:delayed", app.queue_key(q)),
        ] {
            let left: usize = conn.llen(&key).or_else(|_| conn.zcard(&key)).unwrap();
            assert_eq!(left, 0, "{key}");
        }
    }

    // One failed row per worker, for the ModelJob whose user is gone, with PHP's exception.
    let rows = FailedJobStore::on(&db).all().await.unwrap();
    let mut by_queue: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let payload: Json = serde_json::from_str(&r.payload).unwrap();
            let first_line = r.exception.lines().next().unwrap_or_default();
            let head = first_line
                .split(" in ")
                .next()
                .unwrap_or_default()
                .to_owned();
            (
                r.queue.clone(),
                payload["displayName"].as_str().unwrap().to_owned(),
                head,
            )
        })
        .collect();
    by_queue.sort();
    let expected = |q: &str| {
        (
            q.to_owned(),
            "App\\Jobs\\ModelJob".to_owned(),
            "Illuminate\\Database\\Eloquent\\ModelNotFoundException: No query results for model [App\\Models\\User].".to_owned(),
        )
    };
    assert_eq!(
        by_queue,
        vec![expected("larq"), expected("php")],
        "{rows:#?}"
    );

    // The job whose user stayed ran in both, its collection without the missing row.
    let theirs = app.records();
    assert_eq!(
        theirs.len(),
        1,
        "PHP ran only the job whose user exists: {theirs:#?}"
    );
    let php_users = php_collection_names(&theirs[0], "users");
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![json!({"user": [2, "Grace"], "users": ["Linus", "Grace"], "nobody": 0})],
        "larq ran only the job whose user exists"
    );
    assert_eq!(
        php_users,
        ["Linus", "Grace"],
        "PHP's collection, in its order: {:#}",
        theirs[0]
    );
}

/// The captured `model_job` of each version decodes into typed identifiers: a model, a
/// collection in its order, and an empty collection (no class); Laravel 8 writes no
/// `collectionClass`.
#[test]
fn captured_model_identifiers_decode_on_every_version() {
    for major in [8u8, 10, 13] {
        let path = laravel::app_dir().join(format!("../corpus/laravel-{major}/model_job.json"));
        let payload: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let command = payload["data"]["command"].as_str().unwrap();
        let job: ModelJob = larq::php::from_bytes(command.as_bytes())
            .unwrap_or_else(|e| panic!("laravel {major}: {e}"));
        assert_eq!(
            job.user,
            ModelIdentifier::one(User::CLASS, 1).on_connection("sqlite"),
            "laravel {major}"
        );
        assert_eq!(
            job.users,
            ModelIdentifier::many(User::CLASS, [3, 2, 1]).on_connection("sqlite"),
            "laravel {major}"
        );
        assert!(job.nobody.class.is_none() && job.nobody.is_collection());
        // Written back, the identifier is the bytes PHP wrote (9+; 8's class has four
        // properties, larq writes the fifth as 9+ do).
        if major > 8 {
            let start = command.find("O:45:").unwrap();
            let written = larq::php::to_vec(&job.user).unwrap();
            assert!(
                command.as_bytes()[start..].starts_with(&written),
                "laravel {major}"
            );
        }
    }
}
