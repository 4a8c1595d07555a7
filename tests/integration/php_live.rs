//! Live direction larq → PHP: Rust values are serialized by larq into Laravel job payloads, pushed
//! onto a private Redis the way Laravel pushes, and run by the real `php artisan queue:work` of the
//! app in `php-fixtures/`. `App\Jobs\EchoJob` records the properties it received (a value tree
//! written by PHP from the live, unserialized object), and every property must equal what Rust sent.

use crate::support::php as php_support;
use crate::support::redis_server as redis_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/app")
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

/// A payload shaped exactly like Laravel 8's Redis payload for an object job.
fn payload(uuid: &str, command: &[u8]) -> String {
    let command = std::str::from_utf8(command).expect("EchoJob commands are UTF-8");
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

#[test]
fn php_queue_work_runs_what_larq_serialized() {
    if !php_support::php_available() {
        return;
    }
    let Some(redis) = redis_support::TestRedis::start() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let record = scratch.path().join("record.jsonl");
    let db = scratch.path().join("db.sqlite");
    let artisan = |args: &[&str]| {
        let out = Command::new("php")
            .arg(app_dir().join("artisan"))
            .args(args)
            .env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", redis.port.to_string())
            .env("DB_DATABASE", &db)
            .env("LARQ_RECORD_FILE", &record)
            .env("LOG_PATH", scratch.path().join("laravel.log"))
            .output()
            .expect("run artisan");
        assert!(
            out.status.success(),
            "artisan {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    artisan(&["larq:setup-db"]);

    let mut conn = redis.conn(0);
    let mut sent: BTreeMap<String, Json> = BTreeMap::new();
    for (i, job) in cases().iter().enumerate() {
        let command = php::to_vec(job).expect("larq serializes EchoJob");
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        // What larq sent, as a tree, straight from the bytes it wrote.
        sent.insert(
            uuid.clone(),
            tree::to_tree(&Value::parse(&command).expect("our bytes parse")),
        );
        let body = payload(&uuid, &command);
        // Laravel's push: the payload and one notify token.
        redis::pipe()
            .rpush("laravel_database_queues:default", &body)
            .rpush("laravel_database_queues:default:notify", 1)
            .exec(&mut conn)
            .expect("push");
    }

    artisan(&[
        "queue:work",
        "redis",
        "--stop-when-empty",
        "--sleep=0",
        "--tries=1",
    ]);

    let text = std::fs::read_to_string(&record).expect("EchoJob recorded nothing");
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("record line"))
        .collect();
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
        .arg("laravel_database_queues:default")
        .query(&mut conn)
        .expect("llen");
    let reserved: i64 = redis::cmd("ZCARD")
        .arg("laravel_database_queues:default:reserved")
        .query(&mut conn)
        .expect("zcard");
    assert_eq!((left, reserved), (0, 0), "jobs left in Redis");
}
