//! Framework wrappers: a queued listener runs in Rust with the event PHP recorded; a queued
//! mailable fails with a clear message under the default policy, and under `hand-back` goes back
//! untouched (same bytes, attempts not consumed) and is then sent by PHP's worker; a job handed
//! back too often fails. On Laravel 8, 10 and 13.

use crate::support::laravel;

use std::sync::Mutex;

use laravel::{laravel_tests, prop, App, Serial};
use larq::bus::BusFeatures;
use larq::cache::CacheStore;
use larq::failed::FailedJobStore;
use larq::job::{JobContext, JobError, Registry};
use larq::queue::RedisQueue;
use larq::worker::{Worker, WorkerOptions};
use larq::wrappers::{HandBack, Listener, WrapperPolicies, WrapperPolicy};

static EVENTS: Mutex<Vec<(i64, String)>> = Mutex::new(Vec::new());
static SERIAL: Serial = Serial::new();

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderShipped {
    order_id: i64,
    carrier: String,
}

struct SendShipmentNotification;

impl Listener for SendShipmentNotification {
    const CLASS: &'static str = "App\\Listeners\\SendShipmentNotification";
    type Event = OrderShipped;
    async fn handle(event: OrderShipped, _ctx: &mut JobContext) -> Result<(), JobError> {
        EVENTS.lock().unwrap().push((event.order_id, event.carrier));
        Ok(())
    }
}

async fn larq_work(app: &App, registry: Registry, policies: WrapperPolicies) {
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .expect("connect");
    let cache = CacheStore::connect(&app.url(1), laravel::cache_prefix(app.major))
        .await
        .unwrap();
    let worker = Worker::builder(queue, registry)
        .failed_store(FailedJobStore::sqlite(&app.db()).await.unwrap())
        .bus(
            BusFeatures::new("default")
                .wrappers(policies)
                .hand_back_counter(cache),
        )
        .options(WorkerOptions {
            once: true,
            sleep: std::time::Duration::ZERO,
            // The test process holds every integration test: its RSS is no job's.
            memory_mb: 0,
            laravel_version: app.major,
            ..WorkerOptions::default()
        })
        .build();
    worker.run().await.expect("worker");
}

fn queued(app: &App) -> (Vec<String>, Vec<String>, i64) {
    let mut c = app.conn(0);
    let ready: Vec<String> = redis::cmd("LRANGE")
        .arg(app.queue_key("default"))
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let delayed: Vec<String> = redis::cmd("ZRANGE")
        .arg(app.queue_key("default:delayed"))
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let reserved: i64 = redis::cmd("ZCARD")
        .arg(app.queue_key("default:reserved"))
        .query(&mut c)
        .unwrap();
    (ready, delayed, reserved)
}

async fn failed_rows(app: &App) -> Vec<larq::failed::FailedRow> {
    FailedJobStore::sqlite(&app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap()
}

laravel_tests!(async listeners_run_in_rust_and_php_only_wrappers_follow_the_policy => wrappers_follow_the_policy; 8 10 13);

async fn wrappers_follow_the_policy(major: u8) {
    let _serial = SERIAL.lock().await;
    EVENTS.lock().unwrap().clear();
    // Listener: PHP's worker and larq's see the same event.
    let Some(php_app) = App::start_version(major) else {
        return;
    };
    let Some(larq_app) = App::start_version(major) else {
        return;
    };
    php_app.dispatch("listener", &[]);
    larq_app.dispatch("listener", &[]);
    php_app.artisan(&["queue:work", "redis", "--once", "--sleep=0"]);
    let mut reg = Registry::new();
    reg.register_listener::<SendShipmentNotification>();
    larq_work(&larq_app, reg, WrapperPolicies::new()).await;
    let recorded = &php_app.records()[0];
    let php_event = (
        prop(recorded, "orderId")["v"]["v"].as_i64().unwrap(),
        prop(recorded, "carrier")["v"]["v"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(*EVENTS.lock().unwrap(), [php_event]);
    assert_eq!(queued(&larq_app), queued(&php_app));
    assert_eq!(queued(&larq_app), (vec![], vec![], 0));
    assert!(failed_rows(&larq_app).await.is_empty());

    // A listener without a Rust handler, a mailable: fail with a clear message by default.
    let Some(app) = App::start_version(major) else {
        return;
    };
    app.dispatch("mailable", &[]);
    larq_work(&app, Registry::new(), WrapperPolicies::new()).await;
    let rows = failed_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].exception.contains("Illuminate\\Mail\\SendQueuedMailable (App\\Mail\\OrderShippedMail) can only run in PHP"),
        "{}",
        rows[0].exception
    );

    // hand-back: the very bytes go back (attempts 0), and PHP's worker then sends the mail.
    let Some(app) = App::start_version(major) else {
        return;
    };
    app.dispatch("mailable", &[]);
    let (original, _, _) = queued(&app);
    let mut policies = WrapperPolicies::new().queue("default", WrapperPolicy::HandBack);
    policies.hand_back = HandBack { delay: 0, max: 2 };
    larq_work(&app, Registry::new(), policies.clone()).await;
    let (ready, delayed, reserved) = queued(&app);
    assert_eq!((ready.len(), reserved), (0, 0));
    assert_eq!(delayed, original, "handed back byte for byte");
    assert!(failed_rows(&app).await.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    app.artisan(&["queue:work", "redis", "--once", "--sleep=0"]);
    assert_eq!(queued(&app), (vec![], vec![], 0), "PHP sent the mail");
    assert!(
        failed_rows(&app).await.is_empty(),
        "PHP saw attempts 1 and succeeded"
    );

    // With only larq workers, a handed-back job fails after `max` hand-backs.
    let Some(app) = App::start_version(major) else {
        return;
    };
    app.dispatch("mailable", &[]);
    for round in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        larq_work(&app, Registry::new(), policies.clone()).await;
        let rows = failed_rows(&app).await;
        if round < 2 {
            assert!(rows.is_empty(), "round {round}");
        } else {
            assert_eq!(rows.len(), 1);
            assert!(
                rows[0]
                    .exception
                    .contains("no PHP worker took it after 2 hand-backs"),
                "{}",
                rows[0].exception
            );
        }
    }
    assert_eq!(queued(&app), (vec![], vec![], 0));
}
