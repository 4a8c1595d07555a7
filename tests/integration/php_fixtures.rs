//! The captured corpora (`php-fixtures/corpus/laravel-<major>/`): payloads a real Laravel 8, 10 and
//! 13 app stored, byte for byte, each beside an expectation PHP wrote from the live job object.
//!
//! For every `<name>.json`: the payload is valid JSON, its `data.command` (decrypted with the
//! fixture app's key when encrypted) parses, the value tree equals `<name>.expect.json`'s `command`,
//! the tree converts back to the same bytes, and the parsed value writes back byte-identically.
//! Malformed variants of every fixture (truncated, wrong lengths, bad UTF-8) fail with an offset.

use std::path::{Path, PathBuf};

use larq::crypt::Encrypter;
use larq::php::{self, tree, Value};
use serde_json::Value as Json;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures")
}

use crate::support::php as php_support;

/// The Laravel majors whose corpus is committed (and that `php-fixtures/bin/php-for` runs).
const VERSIONS: [u8; 3] = [8, 10, 13];

fn corpus_dir(major: u8) -> PathBuf {
    fixtures_dir().join(format!("corpus/laravel-{major}"))
}

/// Every captured payload of every committed corpus, sorted by name (`laravel-N/name`). An empty
/// corpus is a failure: they are committed.
fn corpus() -> Vec<(String, Vec<u8>)> {
    VERSIONS
        .iter()
        .flat_map(|&v| {
            corpus_in(&corpus_dir(v))
                .into_iter()
                .map(move |(name, raw)| (format!("laravel-{v}/{name}"), raw))
        })
        .collect()
}

fn corpus_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            // `.amqp.json` (a RabbitMQ message's envelope) and `queues.json` are not payloads.
            n.ends_with(".json")
                && !n.ends_with(".expect.json")
                && !n.ends_with(".amqp.json")
                && !n.ends_with("/queues.json")
        })
        .map(|p| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect();
    out.sort();
    // The Redis corpus has 71 payloads per version, the RabbitMQ one 17.
    assert!(
        out.len() >= 17,
        "the corpus has only {} payloads",
        out.len()
    );
    out
}

/// The fixture app's APP_KEY, read from its environment file.
fn app_key() -> String {
    for name in [".env", ".env.testing", ".env.example"] {
        let path = fixtures_dir().join("app").join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if let Some(v) = line.trim().strip_prefix("APP_KEY=") {
                    return v.trim().trim_matches('"').to_owned();
                }
            }
        }
    }
    panic!("no APP_KEY in php-fixtures/app/.env*");
}

/// The serialized command of a payload, decrypted when needed; None for string payloads.
fn command_of(payload: &Json, enc: &Encrypter) -> Option<(Vec<u8>, bool)> {
    let cmd = payload.pointer("/data/command")?.as_str()?;
    if cmd.starts_with("O:") {
        Some((cmd.as_bytes().to_vec(), false))
    } else {
        let plain = enc
            .decrypt_command(cmd)
            .unwrap_or_else(|e| panic!("decrypt: {e}"));
        Some((plain, true))
    }
}

#[test]
fn every_fixture_of_every_version_decodes_matches_php_and_writes_back_identically() {
    for v in VERSIONS {
        check_corpus(&corpus_dir(v));
    }
}

/// The RabbitMQ captures (`corpus/laravel-N/rabbitmq/`, the fixture app's `rabbitmq`
/// connection): every message body decodes, matches what PHP put in and writes back identically,
/// like the Redis corpus.
#[test]
fn every_rabbitmq_capture_of_every_version_decodes_and_matches_php() {
    for v in VERSIONS {
        check_corpus(&corpus_dir(v).join("rabbitmq"));
    }
}

/// Live direction PHP → larq, per version: the real Laravel app dispatches every shape again,
/// now, into a private Redis; larq decodes each fresh payload and it equals what PHP put in. Also
/// proves the capture still reproduces the committed corpus up to uuids, ids, ciphertexts and
/// signatures.
#[test]
fn fresh_capture_from_laravel_8_decodes_and_matches_the_committed_corpus() {
    fresh_capture(8);
}

#[test]
fn fresh_capture_from_laravel_10_decodes_and_matches_the_committed_corpus() {
    fresh_capture(10);
}

#[test]
fn fresh_capture_from_laravel_13_decodes_and_matches_the_committed_corpus() {
    fresh_capture(13);
}

fn fresh_capture(major: u8) {
    if !php_support::php_available()
        || !redis_server_available()
        || !crate::support::laravel::version_available(major)
    {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new(fixtures_dir().join("capture"))
        .arg(out.path())
        .env("LARQ_LARAVEL", major.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run php-fixtures/capture");
    assert!(
        status.success(),
        "php-fixtures/capture (Laravel {major}) failed"
    );
    check_corpus(out.path());
    let cmp = std::process::Command::new(fixtures_dir().join("bin/compare-corpus"))
        .arg(corpus_dir(major))
        .arg(out.path())
        .output()
        .expect("run compare-corpus");
    assert!(
        cmp.status.success(),
        "a fresh capture differs from the committed corpus beyond uuids/ids/signatures:\n{}{}",
        String::from_utf8_lossy(&cmp.stdout),
        String::from_utf8_lossy(&cmp.stderr)
    );
}

fn redis_server_available() -> bool {
    let ok = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server missing and CI=true"
        );
        eprintln!("notice: redis-server not found; skipping a live capture test");
    }
    ok
}

fn check_corpus(dir: &Path) {
    let enc = Encrypter::new(&app_key(), "", None).expect("fixture APP_KEY");
    let mut checked_against_php = 0;
    for (name, raw) in corpus_in(dir) {
        let payload: Json = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some((command, encrypted)) = command_of(&payload, &enc) else {
            // String payload (`Queue::push('Class@method', $data)`): no serialized command.
            assert!(
                payload.get("data").is_some(),
                "{name}: neither data.command nor data"
            );
            continue;
        };
        // The envelope reads with larq's payload model, whatever fields this version adds.
        let model = larq::payload::Payload::from_slice(&raw)
            .unwrap_or_else(|e| panic!("{}/{name}: payload: {e}", dir.display()));
        assert_eq!(
            model.display_name.as_deref(),
            payload.get("displayName").and_then(Json::as_str),
            "{name}: displayName"
        );
        let value = Value::parse(&command).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value.to_bytes(), command, "{name}: write-back differs");
        let tree = tree::to_tree(&value);
        let rebuilt = tree::from_tree(&tree).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            rebuilt.to_bytes(),
            command,
            "{name}: tree round trip differs"
        );
        // The untyped serde path reads every fixture too.
        php::from_bytes::<Json>(&command).unwrap_or_else(|e| panic!("{name}: from_bytes: {e}"));

        let expect_path = dir.join(format!("{name}.expect.json"));
        if let Ok(text) = std::fs::read_to_string(&expect_path) {
            let expect: Json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.expect: {e}"));
            if let Some(want) = expect.get("command") {
                assert_eq!(
                    &tree, want,
                    "{name}: decoded tree differs from what PHP put in"
                );
                checked_against_php += 1;
            }
            if let Some(enc_flag) = expect.get("encrypted").and_then(Json::as_bool) {
                assert_eq!(enc_flag, encrypted, "{name}: encrypted flag");
            }
            for key in ["displayName", "commandName"] {
                if let Some(want) = expect.get(key) {
                    let got = if key == "commandName" {
                        payload.pointer("/data/commandName")
                    } else {
                        payload.get(key)
                    };
                    assert_eq!(got, Some(want), "{name}: {key}");
                }
            }
        }
    }
    assert!(
        checked_against_php >= 15,
        "only {checked_against_php} fixtures had a PHP expectation"
    );
}

#[test]
fn malformed_variants_fail_with_an_offset() {
    let enc = Encrypter::new(&app_key(), "", None).expect("fixture APP_KEY");
    for (name, raw) in corpus() {
        let payload: Json = serde_json::from_slice(&raw).expect("valid JSON");
        let Some((command, _)) = command_of(&payload, &enc) else {
            continue;
        };
        // Truncations at several points: never a panic, always an error with an offset.
        for cut in [1, command.len() / 3, command.len() / 2, command.len() - 1] {
            let e = Value::parse(&command[..cut]).expect_err("truncated input parsed");
            assert!(e.offset().is_some_and(|o| o <= cut), "{name}@{cut}: {e}");
            assert!(e.to_string().contains("at byte"), "{name}: {e}");
            let e =
                php::from_bytes::<Json>(&command[..cut]).expect_err("truncated input deserialized");
            assert!(e.to_string().contains("at byte"), "{name}: {e}");
        }
        // A wrong length on the first string: declared one byte longer than it is.
        let text = command.clone();
        if let Some(pos) = find(&text, b"s:") {
            let end = pos
                + 2
                + text[pos + 2..]
                    .iter()
                    .position(|&b| b == b':')
                    .expect("length ends");
            let len: usize = std::str::from_utf8(&text[pos + 2..end])
                .unwrap()
                .parse()
                .unwrap();
            let mut bad = text[..pos + 2].to_vec();
            bad.extend_from_slice((len + 1).to_string().as_bytes());
            bad.extend_from_slice(&text[end..]);
            let e = Value::parse(&bad).expect_err("wrong length parsed");
            assert!(e.offset().is_some(), "{name}: {e}");
        }
    }
    // Bad UTF-8 in the JSON envelope is a JSON error, not a crash.
    let (_, raw) = corpus().into_iter().next().expect("one fixture");
    let mut bad = raw.clone();
    let at = bad.len() / 2;
    bad[at] = 0xff;
    assert!(serde_json::from_slice::<Json>(&bad).is_err());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
