//! Rust dispatches, PHP runs: `larq::Dispatcher` and `larq dispatch` push SomeJob, a delayed
//! EchoJob, a FailingJob with tries, an encrypted EchoJob and a chain of EchoJobs; the real
//! `php artisan queue:work` runs them, and the fixture jobs record the properties they received.
//! On Laravel 8, 10 and 13, the dispatcher writing that version's payload.

use crate::support::laravel;

use std::collections::BTreeMap;
use std::sync::Arc;

use laravel::{laravel_tests, prop, App};
use larq::dispatch::{Chain, Dispatcher, PendingJob};
use larq::php::{tree, Value};
use larq::queue::RedisQueue;
use serde::Serialize;
use serde_json::{json, Value as Json};

#[derive(Serialize)]
#[serde(rename = "App\\Jobs\\SomeJob", rename_all = "camelCase")]
struct SomeJob {
    user_id: i64,
    some_param: String,
}

#[derive(Serialize, Clone)]
#[serde(rename = "App\\Jobs\\EchoJob")]
struct EchoJob {
    int: i64,
    float: f64,
    string: String,
    list: Vec<i64>,
    nested: BTreeMap<String, Json>,
}

#[derive(Serialize)]
#[serde(rename = "App\\Jobs\\FailingJob")]
struct FailingJob {
    n: i64,
}

fn echo(i: i64) -> EchoJob {
    let mut nested = BTreeMap::new();
    nested.insert("10".into(), json!("int key"));
    nested.insert("k".into(), json!([i, "x"]));
    EchoJob {
        int: i,
        float: i as f64 + 0.25,
        string: format!("link {i} / héllo"),
        list: (0..i).collect(),
        nested,
    }
}

fn tree_of(command: &[u8]) -> Json {
    tree::to_tree(&Value::parse(command).expect("our bytes parse"))
}

/// Every property Rust sent is what PHP recorded. From Laravel 10 the recorder (the job's
/// `__serialize`) leaves out properties at their declared default: a `Queueable` property Rust
/// sent as null or `[]` may be missing from the record.
fn assert_same_props(sent: &Json, record: &Json, what: &str) {
    let recorded = record["props"]["props"].as_array().expect("recorded props");
    for p in sent["props"].as_array().expect("props") {
        let name = p["name"].as_str().expect("name");
        if name == "job" {
            continue; // the recorder nulls the live queue job
        }
        let Some(got) = recorded.iter().find(|r| r["name"] == name) else {
            let default = p["v"]["t"] == "null" || p["v"] == json!({"t": "array", "items": []});
            assert!(
                default && larq::payload::queueable::is_plumbing(name),
                "{what}: PHP has no property {name} ({})",
                p["v"]
            );
            continue;
        };
        assert_eq!(got["v"], p["v"], "{what}: property {name}");
    }
}

laravel_tests!(async php_runs_what_rust_dispatched => runs_what_rust_dispatched; 8 10 13);

async fn runs_what_rust_dispatched(major: u8) {
    let Some(app) = App::start_version(major) else {
        return;
    };
    let queue = RedisQueue::connect(&app.url(0), app.queue_options())
        .await
        .expect("connect");
    let encrypter = larq::crypt::Encrypter::new(
        "base64:bGFycSBmaXh0dXJlczogdGVzdCBrZXksIHB1YmxpYyE=",
        "",
        None,
    )
    .expect("key");
    let dispatcher = Dispatcher::new(Arc::new(queue), "default")
        .with_encrypter(encrypter)
        .with_laravel_version(major);

    // SomeJob, exactly as PHP would have written it.
    let some = PendingJob::new(&SomeJob {
        user_id: 42,
        some_param: "from rust".into(),
    })
    .unwrap()
    .tries(3)
    .backoff([10, 30])
    .timeout(20);
    let some_tree = tree_of(&some.command_bytes());
    let some_sent = dispatcher.dispatch(some).await.expect("dispatch SomeJob");
    let payload: Json = serde_json::from_str(&some_sent.payload).unwrap();
    assert_eq!(payload["maxTries"], 3);
    assert_eq!(payload["backoff"], "10,30");
    assert_eq!(payload["timeout"], 20);
    assert_eq!(payload["attempts"], 0);
    assert_eq!(payload["id"].as_str().unwrap().len(), 32);
    assert_eq!(some_sent.uuid.len(), 36);
    assert_eq!(&some_sent.uuid[14..15], "4", "uuid v4");
    // The fields of this version's payload, in its order (the corpus's SomeJob).
    let corpus: Json = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/php-fixtures/corpus/laravel-{major}/some_job.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Json| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&payload), keys(&corpus), "payload fields");
    assert_eq!(keys(&payload["data"]), keys(&corpus["data"]), "data fields");
    if major >= 13 {
        let now = larq::queue::now() as i64;
        let at = payload["createdAt"].as_i64().unwrap();
        assert!((now - 5..=now).contains(&at), "createdAt {at}");
        assert_eq!(payload["delay"], Json::Null);
    }

    // A delayed job lands in :delayed, due in 2 s.
    let delayed = PendingJob::new(&echo(7)).unwrap().delay(2);
    let delayed_tree = tree_of(&delayed.command_bytes());
    let before = larq::queue::now();
    let delayed_sent = dispatcher
        .dispatch(delayed)
        .await
        .expect("dispatch delayed");
    let mut conn = app.conn(0);
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(app.queue_key("default:delayed"))
        .arg(&delayed_sent.payload)
        .query(&mut conn)
        .unwrap();
    let score = score.expect("the delayed job is in :delayed") as u64;
    if major >= 13 {
        let p: Json = serde_json::from_str(&delayed_sent.payload).unwrap();
        assert_eq!(p["delay"], 2, "13 writes the delay into the payload");
    }
    assert!(score >= before + 2 && score <= before + 3, "score {score}");

    // A FailingJob with tries 3 and backoff 0: PHP must try it three times (its --tries is 1).
    let failing = PendingJob::new(&FailingJob { n: 9 })
        .unwrap()
        .tries(3)
        .backoff([0]);
    let failing_sent = dispatcher
        .dispatch(failing)
        .await
        .expect("dispatch failing");

    // An encrypted EchoJob.
    let secret = PendingJob::new(&echo(3)).unwrap().encrypted();
    let secret_tree = tree_of(&secret.command_bytes());
    let secret_sent = dispatcher
        .dispatch(secret)
        .await
        .expect("dispatch encrypted");
    let sp: Json = serde_json::from_str(&secret_sent.payload).unwrap();
    assert!(!sp["data"]["command"].as_str().unwrap().starts_with("O:"));

    // A chain of three EchoJobs on queue "chains".
    let links: Vec<EchoJob> = (1..=3).map(echo).collect();
    let chain = Chain::new(links.iter().map(|l| PendingJob::new(l).unwrap())).on_queue("chains");
    let chain_sent = dispatcher
        .dispatch_chain(chain)
        .await
        .expect("dispatch chain");
    assert_eq!(chain_sent.queue, "chains");

    // And one from the shell.
    let cli = app.larq(&[
        "dispatch",
        "App\\Jobs\\SomeJob",
        "--props",
        r#"{"userId": 5, "someParam": "from the shell"}"#,
        "--tries",
        "2",
        "--laravel-version",
        &major.to_string(),
    ]);
    let cli: Json = serde_json::from_str(cli.trim()).expect("larq dispatch prints JSON");
    let pushed: Vec<String> = redis::cmd("LRANGE")
        .arg(app.queue_key("default"))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    let cli_payload: Json = pushed
        .iter()
        .map(|p| serde_json::from_str::<Json>(p).unwrap())
        .find(|p| p["uuid"] == cli["uuid"])
        .expect("larq dispatch pushed to default");
    assert_eq!(
        keys(&cli_payload),
        keys(&corpus),
        "larq dispatch's payload fields"
    );

    std::thread::sleep(std::time::Duration::from_millis(2200));
    app.artisan(&[
        "queue:work",
        "redis",
        "--queue=default,chains",
        "--stop-when-empty",
        "--sleep=0",
        "--tries=1",
    ]);

    let records = app.records();
    let by_uuid = |uuid: &str| -> Vec<&Json> {
        records
            .iter()
            .filter(|r| r["uuid"].as_str() == Some(uuid))
            .collect()
    };
    let some_rec = by_uuid(&some_sent.uuid);
    assert_eq!(some_rec.len(), 1, "SomeJob ran once");
    assert_same_props(&some_tree, some_rec[0], "SomeJob");
    let delayed_rec = by_uuid(&delayed_sent.uuid);
    assert_eq!(delayed_rec.len(), 1, "the delayed job ran once");
    assert_same_props(&delayed_tree, delayed_rec[0], "delayed EchoJob");
    let secret_rec = by_uuid(&secret_sent.uuid);
    assert_eq!(secret_rec.len(), 1, "the encrypted job ran once");
    assert_same_props(&secret_tree, secret_rec[0], "encrypted EchoJob");
    let attempts: Vec<i64> = by_uuid(&failing_sent.uuid)
        .iter()
        .map(|r| r["attempts"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "maxTries 3 from the payload");
    let cli_rec = by_uuid(cli["uuid"].as_str().unwrap());
    assert_eq!(cli_rec.len(), 1);
    assert_eq!(prop(cli_rec[0], "someParam")["v"]["v"], "from the shell");
    assert_eq!(prop(cli_rec[0], "userId")["v"]["v"], 5);

    // The chain ran in order, each link on "chains", with Rust's values.
    let chain_recs: Vec<&Json> = records
        .iter()
        .filter(|r| r["class"] == "App\\Jobs\\EchoJob" && prop(r, "queue")["v"]["v"] == "chains")
        .collect();
    assert_eq!(chain_recs.len(), 3, "three chain links ran: {records:#?}");
    for (link, rec) in links.iter().zip(&chain_recs) {
        let sent = tree_of(&PendingJob::new(link).unwrap().command_bytes());
        for name in ["int", "float", "string", "list", "nested"] {
            let ours = sent["props"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap();
            assert_eq!(prop(rec, name)["v"], ours["v"], "chain link {name}");
        }
        assert_eq!(prop(rec, "chainQueue")["v"]["v"], "chains");
    }
    assert_eq!(chain_recs[0]["uuid"], chain_sent.uuid);

    let left: i64 = redis::cmd("EVAL")
        .arg("return redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('llen', KEYS[3])")
        .arg(3)
        .arg(app.queue_key("default"))
        .arg(app.queue_key("default:delayed"))
        .arg(app.queue_key("chains"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
}
