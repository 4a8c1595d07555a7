//! Chains, PHP vs larq: the fixture app dispatches `Bus::chain([ChainStep 1,2,3])->onQueue('chains')
//! ->catch(closure)` twice, on two private Redis servers. On one, PHP's `queue:work --once` runs the
//! first link; on the other, larq does. The next link each leaves in `queues:chains` must be the
//! same job (same payload fields, same command properties; the catch closure larq carries over is
//! byte-exact, PHP's is re-signed), and the rest of the chain then runs in PHP or in larq alike.
//! On Laravel 8, 10 and 13: each writes its own payload fields and leaves out default properties
//! from 10 on, and larq's link must follow.

use crate::support::laravel;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use laravel::{laravel_tests, App, Serial};
use larq::bus::BusFeatures;
use larq::failed::FailedJobStore;
use larq::job::{Job, JobContext, JobError, Registry};
use larq::php::{tree, Value};
use larq::queue::RedisQueue;
use larq::worker::{Worker, WorkerOptions};
use serde_json::Value as Json;

static RAN: Mutex<Vec<i64>> = Mutex::new(Vec::new());
static FAIL_STEP: AtomicI64 = AtomicI64::new(0);
static SERIAL: Serial = Serial::new();

#[derive(serde::Deserialize)]
struct ChainStep {
    step: i64,
}

impl Job for ChainStep {
    const CLASS: &'static str = "App\\Jobs\\ChainStep";
    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
        if self.step == FAIL_STEP.load(Ordering::SeqCst) {
            ctx.fail(format!("step {} failed", self.step));
            return Ok(());
        }
        RAN.lock().unwrap().push(self.step);
        Ok(())
    }
}

async fn larq_work(app: &App, once: bool) {
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .expect("connect");
    let failed = FailedJobStore::sqlite(&app.db()).await.expect("sqlite");
    let worker = Worker::builder(queue, Registry::new().with::<ChainStep>())
        .failed_store(failed)
        .bus(BusFeatures::new("default"))
        .options(WorkerOptions {
            queues: vec!["chains".into()],
            once,
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

fn chain_list(app: &App) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(app.queue_key("chains"))
        .arg(0)
        .arg(-1)
        .query(&mut app.conn(0))
        .unwrap()
}

fn unqualified(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let next_ident = chars
            .get(i + 1)
            .is_some_and(|n| n.is_alphabetic() || *n == '_');
        if c == '\\' && !prev_ident && next_ident {
            continue;
        }
        out.push(c);
    }
    out
}

/// The closure inside a SerializableClosure(Signed(Native)) with the per-process parts (`self`
/// object hash, signature) left out.
fn closure_summary(v: &Value<'_>) -> Json {
    let signed = v
        .as_object()
        .and_then(|o| o.get("serializable"))
        .and_then(Value::as_object)
        .expect("Signed");
    let native = Value::parse(signed.get("serializable").unwrap().as_bytes().unwrap()).unwrap();
    let native = native.as_object().unwrap();
    let mut out = serde_json::Map::new();
    for p in &native.props {
        if p.name() == b"function" {
            // PHP re-exports the source with names fully qualified (`info(` → `\info(`); larq
            // keeps the original text (and so its signature): compare without leading `\`.
            let text = String::from_utf8_lossy(p.value.as_bytes().unwrap()).into_owned();
            out.insert("function".into(), Json::String(unqualified(&text)));
        } else if p.name() != b"self" {
            out.insert(
                String::from_utf8_lossy(p.name()).into_owned(),
                tree::to_tree(&p.value),
            );
        }
    }
    Json::Object(out)
}

/// A payload and its command, with identities and closure signatures masked.
fn normalized(payload: &str) -> (Json, Json, Vec<Json>) {
    let mut p: Json = serde_json::from_str(payload).unwrap();
    let command = p["data"]["command"].as_str().unwrap().to_owned();
    for k in ["uuid", "id"] {
        p[k] = Json::String(format!("<{k}>"));
    }
    // Laravel 13's dispatch time: PHP's link and larq's are pushed seconds apart.
    if let Some(at) = p.get("createdAt").and_then(Json::as_i64) {
        let now = larq::queue::now() as i64;
        assert!((now - 60..=now).contains(&at), "createdAt {at}");
        p["createdAt"] = Json::String("<createdAt>".into());
    }
    p["data"]["command"] = Json::Null;
    let keys: Vec<Json> = p
        .as_object()
        .unwrap()
        .keys()
        .map(|k| Json::String(k.clone()))
        .collect();
    let v = Value::parse(command.as_bytes()).unwrap();
    let obj = v.as_object().unwrap();
    let mut props = serde_json::Map::new();
    let mut closures = Vec::new();
    for prop in &obj.props {
        let name = String::from_utf8_lossy(prop.name()).into_owned();
        if name == "chainCatchCallbacks" {
            if let Value::Array(items) = &prop.value {
                closures = items.iter().map(|(_, c)| closure_summary(c)).collect();
            }
            continue;
        }
        props.insert(name, tree::to_tree(&prop.value));
    }
    p["keys"] = Json::Array(keys);
    (p, Json::Object(props), closures)
}

laravel_tests!(async larq_continues_a_chain_as_php_does => continues_a_chain; 8 10 13);

async fn continues_a_chain(major: u8) {
    let _serial = SERIAL.lock().await;
    RAN.lock().unwrap().clear();
    let Some(php_app) = App::start_version(major) else {
        return;
    };
    let Some(larq_app) = App::start_version(major) else {
        return;
    };

    // Same dispatch on both.
    php_app.dispatch("chain", &[]);
    larq_app.dispatch("chain", &[]);
    let first = chain_list(&larq_app);
    assert_eq!(first.len(), 1);
    let first_payload: Json = serde_json::from_str(&first[0]).unwrap();
    let first_command = first_payload["data"]["command"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_value = Value::parse(first_command.as_bytes()).unwrap();
    let first_catch = first_value
        .as_object()
        .unwrap()
        .get("chainCatchCallbacks")
        .unwrap()
        .to_bytes();

    // Link 1: PHP on one, larq on the other.
    php_app.artisan(&[
        "queue:work",
        "redis",
        "--queue=chains",
        "--once",
        "--sleep=0",
    ]);
    larq_work(&larq_app, true).await;
    assert_eq!(*RAN.lock().unwrap(), [1]);

    let php_next = chain_list(&php_app);
    let larq_next = chain_list(&larq_app);
    assert_eq!(php_next.len(), 1, "PHP dispatched the next link");
    assert_eq!(larq_next.len(), 1, "larq dispatched the next link");
    let (php_payload, php_props, php_closures) = normalized(&php_next[0]);
    let (larq_payload, larq_props, larq_closures) = normalized(&larq_next[0]);
    assert_eq!(larq_payload, php_payload, "payload fields");
    assert_eq!(larq_props, php_props, "command properties");
    assert_eq!(larq_closures, php_closures, "catch closures");
    assert_eq!(larq_closures.len(), 1);
    // larq moved the catch callbacks byte for byte.
    let larq_cmd: Json = serde_json::from_str(&larq_next[0]).unwrap();
    let larq_value =
        Value::parse(larq_cmd["data"]["command"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(
        larq_value
            .as_object()
            .unwrap()
            .get("chainCatchCallbacks")
            .unwrap()
            .to_bytes(),
        first_catch
    );
    assert_ne!(larq_cmd["uuid"], first_payload["uuid"], "a new uuid");
    assert_eq!(larq_cmd["attempts"], 0);

    // The rest of larq's chain runs in PHP: PHP accepts the link larq rewrote.
    larq_app.artisan(&[
        "queue:work",
        "redis",
        "--queue=chains",
        "--stop-when-empty",
        "--sleep=0",
    ]);
    let steps: Vec<i64> = larq_app
        .records()
        .iter()
        .map(|r| laravel::prop(r, "step")["v"]["v"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [2, 3], "PHP ran links 2 and 3 after larq ran link 1");
    assert!(chain_list(&larq_app).is_empty());

    // The rest of PHP's chain runs in larq.
    larq_work(&php_app, false).await;
    assert_eq!(*RAN.lock().unwrap(), [1, 2, 3]);
    assert!(chain_list(&php_app).is_empty());

    // A failing link with a catch callback: failed, chain dropped, the note says PHP's catch
    // callback did not run.
    let Some(fail_app) = App::start_version(major) else {
        return;
    };
    fail_app.dispatch("chain", &[]);
    FAIL_STEP.store(1, Ordering::SeqCst);
    larq_work(&fail_app, true).await;
    FAIL_STEP.store(0, Ordering::SeqCst);
    assert!(
        chain_list(&fail_app).is_empty(),
        "no next link after a failure"
    );
    let rows = FailedJobStore::sqlite(&fail_app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].exception.contains("step 1 failed")
            && rows[0]
                .exception
                .contains("1 catch callback (PHP closures)"),
        "{}",
        rows[0].exception
    );
}
