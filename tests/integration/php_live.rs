//! Live direction larq → PHP: Rust values are serialized by larq into Laravel job payloads, pushed
//! onto a private Redis the way Laravel pushes, and run by the real `php artisan queue:work` of the
//! app in `php-fixtures/`. `App\Jobs\EchoJob` records the properties it received (a value tree
//! written by PHP from the live, unserialized object), and every property must equal what Rust sent.
//! On Laravel 8, 10 and 13 (PHP 8.2 and 8.4), each payload in that version's shape.

use crate::support::laravel::{laravel_tests, App};

use std::collections::BTreeMap;

use larq::php::{self, tree, Value};
use serde::Serialize;
use serde_json::{json, Value as Json};

/// The Rust twin of `App\Jobs\EchoJob`'s public properties.
#[derive(Serialize, Clone)]
#[serde(rename = "App\\Jobs\\EchoJob")]
struct EchoJob {
    int: i64,
    float: f64,
    string: String,
    bool: bool,
    null: Option<i64>,
    list: Vec<i64>,
    nested: BTreeMap<String, Json>,
}

/// Every scalar edge case the fixtures cover, spread over a handful of jobs.
fn cases() -> Vec<EchoJob> {
    let floats = [
        0.1,
        1e100,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        123.0,
        5e-324,
        2.2250738585072014e-308,
        1e16,
        1e17,
        1.5e-5,
        1.0 / 3.0,
        f64::MAX,
    ];
    let ints = [0, 1, -1, i64::MAX, i64::MIN, 42];
    let strings = [
        "",
        "plain",
        "héllo wörld",
        "中文字符 and emoji 🎉🚀",
        "quotes \" ' and ;{} and : too",
        "NUL \0 inside \0\0",
        "slash / backslash \\ newline \n tab \t",
    ];
    let mut nested = BTreeMap::new();
    nested.insert("10".to_owned(), json!("ten (int key)"));
    nested.insert("010".to_owned(), json!("oh-ten (string key)"));
    nested.insert("-1".to_owned(), json!(false));
    nested.insert("a".to_owned(), json!([1, [2, {"b": null}], "x"]));
    nested.insert("".to_owned(), json!("empty key"));
    (0..floats.len())
        .map(|i| EchoJob {
            int: ints[i % ints.len()],
            float: floats[i],
            string: strings[i % strings.len()].to_owned(),
            bool: i % 2 == 0,
            null: None,
            list: (0..i as i64)
                .map(|n| n * if i % 2 == 0 { 1 } else { -1 })
                .collect(),
            nested: nested.clone(),
        })
        .collect()
}

/// A payload shaped exactly like Laravel `major`'s Redis payload for an object job (8 and 10
/// share one shape; 13 adds `deleteWhenMissingModels`, `data.batchId`, `createdAt`, `delay`).
fn payload(major: u8, uuid: &str, command: &[u8]) -> String {
    let command = std::str::from_utf8(command).expect("EchoJob commands are UTF-8");
    if major >= 13 {
        return json!({
            "uuid": uuid,
            "displayName": "App\\Jobs\\EchoJob",
            "job": "Illuminate\\Queue\\CallQueuedHandler@call",
            "maxTries": null,
            "maxExceptions": null,
            "failOnTimeout": false,
            "backoff": null,
            "timeout": null,
            "retryUntil": null,
            "deleteWhenMissingModels": false,
            "data": {"commandName": "App\\Jobs\\EchoJob", "command": command, "batchId": null},
            "createdAt": larq::queue::now(),
            "id": format!("larqlive{uuid:0>24}"),
            "attempts": 0,
            "delay": null
        })
        .to_string();
    }
    json!({
        "uuid": uuid,
        "displayName": "App\\Jobs\\EchoJob",
        "job": "Illuminate\\Queue\\CallQueuedHandler@call",
        "maxTries": null,
        "maxExceptions": null,
        "failOnTimeout": false,
        "backoff": null,
        "timeout": null,
        "retryUntil": null,
        "data": {"commandName": "App\\Jobs\\EchoJob", "command": command},
        "id": format!("larqlive{uuid:0>24}"),
        "attempts": 0
    })
    .to_string()
}

laravel_tests!(sync php_queue_work_runs_what_larq_serialized => runs_what_larq_serialized; 8 10 13);

fn runs_what_larq_serialized(major: u8) {
    let Some(app) = App::start_version(major) else {
        return;
    };
    let mut conn = app.conn(0);
    let mut sent: BTreeMap<String, Json> = BTreeMap::new();
    for (i, job) in cases().iter().enumerate() {
        let command = php::to_vec(job).expect("larq serializes EchoJob");
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        // What larq sent, as a tree, straight from the bytes it wrote.
        sent.insert(
            uuid.clone(),
            tree::to_tree(&Value::parse(&command).expect("our bytes parse")),
        );
        let body = payload(major, &uuid, &command);
        // Laravel's push: the payload and one notify token.
        redis::pipe()
            .rpush(app.queue_key("default"), &body)
            .rpush(app.queue_key("default:notify"), 1)
            .exec(&mut conn)
            .expect("push");
    }

    app.artisan(&[
        "queue:work",
        "redis",
        "--stop-when-empty",
        "--sleep=0",
        "--tries=1",
    ]);

    let lines: Vec<Json> = app.records();
    assert_eq!(
        lines.len(),
        sent.len(),
        "PHP ran {} of {} jobs",
        lines.len(),
        sent.len()
    );
    for line in &lines {
        let uuid = line["uuid"].as_str().expect("uuid");
        let ours = &sent[uuid];
        assert_eq!(line["class"], "App\\Jobs\\EchoJob");
        assert_eq!(line["attempts"], 1);
        let theirs = line["props"]["props"].as_array().expect("recorded props");
        for prop in ours["props"].as_array().expect("our props") {
            let name = &prop["name"];
            let got = theirs
                .iter()
                .find(|p| &p["name"] == name)
                .unwrap_or_else(|| panic!("{uuid}: PHP has no {name}"));
            assert_eq!(
                got["v"], prop["v"],
                "{uuid}: property {name} differs between Rust and PHP"
            );
        }
    }
    let left: i64 = redis::cmd("LLEN")
        .arg(app.queue_key("default"))
        .query(&mut conn)
        .expect("llen");
    let reserved: i64 = redis::cmd("ZCARD")
        .arg(app.queue_key("default:reserved"))
        .query(&mut conn)
        .expect("zcard");
    assert_eq!((left, reserved), (0, 0), "jobs left in Redis");
}
