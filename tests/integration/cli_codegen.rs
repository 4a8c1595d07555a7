//! `larq codegen` against the captured corpus.
//!
//! Each `tests/codegen/<fixture>.rs` is what `larq codegen php-fixtures/corpus/laravel-8/<fixture>.json`
//! prints (the snapshot test checks that byte for byte; `LARQ_BLESS=1` rewrites them). The same
//! files are `include!`d below, so this test binary only builds if the generated code compiles
//! against the larq crate, and the tests then decode each fixture's real `data.command` into the
//! generated types and compare the fields with the PHP-side expectation (`<fixture>.expect.json`).

use crate::support::bins;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

#[allow(dead_code)]
mod some_job {
    include!("../codegen/some_job.rs");
}
#[allow(dead_code)]
mod data_job {
    include!("../codegen/data_job.rs");
}
#[allow(dead_code)]
mod enums_job {
    include!("../codegen/enums_job.rs");
}
#[allow(dead_code)]
mod objects_job {
    include!("../codegen/objects_job.rs");
}
#[allow(dead_code)]
mod echo_job {
    include!("../codegen/echo_job.rs");
}

const SNAPSHOTS: &[&str] = &[
    "some_job",
    "data_job",
    "enums_job",
    "objects_job",
    "echo_job",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> PathBuf {
    root().join("php-fixtures/corpus/laravel-8").join(name)
}

fn codegen(fixture: &Path) -> std::process::Output {
    bins::larq()
        .arg("codegen")
        .arg(fixture)
        .env_remove("APP_KEY")
        .env_remove("APP_PREVIOUS_KEYS")
        .output()
        .expect("run larq codegen")
}

#[test]
fn generated_code_matches_the_snapshots() {
    let bless = std::env::var("LARQ_BLESS").as_deref() == Ok("1");
    for name in SNAPSHOTS {
        let out = codegen(&corpus(&format!("{name}.json")));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let generated = String::from_utf8(out.stdout).expect("UTF-8 code");
        let snapshot = root().join("tests/codegen").join(format!("{name}.rs"));
        if bless {
            std::fs::write(&snapshot, &generated).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&snapshot).expect("snapshot");
        assert_eq!(
            generated, expected,
            "{name}: `larq codegen` output changed; rerun with LARQ_BLESS=1 if intended"
        );
    }
}

/// The serialized command of a corpus payload.
fn command(name: &str) -> Vec<u8> {
    let payload: Json =
        serde_json::from_slice(&std::fs::read(corpus(&format!("{name}.json"))).unwrap()).unwrap();
    payload["data"]["command"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// The value-tree node of a top-level property in PHP's expectation.
fn expected(name: &str, prop: &str) -> Json {
    let e: Json =
        serde_json::from_slice(&std::fs::read(corpus(&format!("{name}.expect.json"))).unwrap())
            .unwrap();
    e["command"]["props"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == prop)
        .unwrap_or_else(|| panic!("{name} has no property {prop}"))["v"]
        .clone()
}

fn string_of(node: &Json) -> String {
    node["v"].as_str().expect("a UTF-8 string node").to_owned()
}

#[test]
fn some_job_decodes_into_the_generated_struct() {
    use larq::job::Job;
    let job: some_job::SomeJob = larq::php::from_bytes(&command("some_job")).unwrap();
    assert_eq!(
        Some(job.user_id),
        expected("some_job", "userId")["v"].as_i64()
    );
    assert_eq!(
        job.some_param,
        string_of(&expected("some_job", "someParam"))
    );
    assert_eq!(some_job::SomeJob::CLASS, "App\\Jobs\\SomeJob");
}

#[test]
fn data_job_decodes_keys_strings_and_nested_maps() {
    let job: data_job::DataJob = larq::php::from_bytes(&command("data_job")).unwrap();
    for (field, value) in [
        ("utf8", &job.utf8),
        ("quotes", &job.quotes),
        ("nul", &job.nul),
        ("controls", &job.controls),
        ("slashes", &job.slashes),
        ("empty", &job.empty),
        ("priv", &job.priv_),
    ] {
        assert_eq!(value, &string_of(&expected("data_job", field)), "{field}");
    }
    // Every key of `$keys` (int and string keys alike) with its value.
    let keys = expected("data_job", "keys");
    let items = keys["items"].as_array().unwrap();
    assert_eq!(job.keys.len(), items.len());
    for item in items {
        let key = match &item[0] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(job.keys.get(&key), Some(&string_of(&item[1])), "key {key}");
    }
    let sparse = expected("data_job", "sparse");
    for item in sparse["items"].as_array().unwrap() {
        let k = item[0].as_i64().unwrap();
        assert_eq!(job.sparse.get(&k), Some(&string_of(&item[1])));
    }
    let deepest = &expected("data_job", "prot")["items"][0][1]["items"][0][1]["items"][0][1];
    assert_eq!(job.prot["deep"]["deeper"]["deepest"], string_of(deepest));
    assert!(job.empty_array.is_empty());
    assert_eq!(
        job.list.len(),
        expected("data_job", "list")["items"]
            .as_array()
            .unwrap()
            .len()
    );
}

#[test]
fn enums_job_decodes_cases_into_generated_enums() {
    let job: enums_job::EnumsJob = larq::php::from_bytes(&command("enums_job")).unwrap();
    assert_eq!(
        format!("{:?}", job.status),
        expected("enums_job", "status")["case"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:?}", job.priority),
        expected("enums_job", "priority")["case"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:?}", job.suit),
        expected("enums_job", "suit")["case"].as_str().unwrap()
    );
    assert_eq!(job.many.len(), 3);
}

#[test]
fn objects_job_decodes_nested_objects_and_references() {
    let job: objects_job::ObjectsJob = larq::php::from_bytes(&command("objects_job")).unwrap();
    let money = expected("objects_job", "money");
    let prop = |name: &str| {
        money["props"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["v"]
            .clone()
    };
    assert_eq!(job.money.currency, string_of(&prop("currency")));
    assert_eq!(Some(job.money.cents), prop("cents")["v"].as_i64());
    // `$sameMoney` is `r:` to the same object: it decodes to equal values.
    assert_eq!(job.same_money.cents, job.money.cents);
    assert_eq!(job.counter_ref, job.counter);
}

#[test]
fn echo_job_decodes_scalars() {
    let job: echo_job::EchoJob = larq::php::from_bytes(&command("echo_job")).unwrap();
    assert_eq!(Some(job.int), expected("echo_job", "int")["v"].as_i64());
    assert_eq!(Some(job.float), expected("echo_job", "float")["v"].as_f64());
    assert_eq!(job.string, string_of(&expected("echo_job", "string")));
    assert_eq!(Some(job.bool), expected("echo_job", "bool")["v"].as_bool());
    assert!(job.null.is_none());
    let list: Vec<i64> = expected("echo_job", "list")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[1]["v"].as_i64().unwrap())
        .collect();
    assert_eq!(job.list, list);
}

#[test]
fn encrypted_payload_needs_the_key_and_decrypts_with_it() {
    let fixture = corpus("encrypted_job.json");
    let out = codegen(&fixture);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--app-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bins::larq()
        .arg("codegen")
        .arg(&fixture)
        .arg("--env")
        .arg(root().join("php-fixtures/app/.env"))
        .env_remove("APP_KEY")
        .env_remove("APP_PREVIOUS_KEYS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap();
    let e: Json =
        serde_json::from_slice(&std::fs::read(corpus("encrypted_job.expect.json")).unwrap())
            .unwrap();
    let class = e["command"]["class"].as_str().unwrap();
    assert!(
        code.contains(&format!("const CLASS: &'static str = {class:?};")),
        "{code}"
    );
}

#[test]
fn every_corpus_command_generates_something() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("php-fixtures/corpus/laravel-8")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".expect.json") {
            continue;
        }
        let payload: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let command = payload.pointer("/data/command").and_then(Json::as_str);
        let plain = command.is_some_and(|c| c.starts_with("O:"));
        let out = codegen(&path);
        assert_eq!(
            out.status.success(),
            plain,
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if plain {
            let code = String::from_utf8(out.stdout).unwrap();
            assert!(code.contains("impl Job for "), "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} fixtures generated code");
}
