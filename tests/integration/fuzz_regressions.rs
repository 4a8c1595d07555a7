//! The fuzzers' memory: every input a fuzz target ever crashed on, kept under
//! `fuzz/regressions/<target>/`, and the captured Laravel corpus the fuzzers are seeded from, replayed
//! in an ordinary `cargo test` through the fuzz targets' own bodies (`fuzz/replay.rs`, included
//! below), so a fixed crash stays fixed on machines without cargo-fuzz or a nightly toolchain.
//!
//! Every input goes through both targets (`parse` and `deserialize`), whichever found it: it costs
//! microseconds and a crash in one stage often has a sibling in the other. A replay fails on a panic
//! (larq's, or the bodies' own checks: write-back identity, error offset within the input, error
//! message bounded by the input's size). All inputs run before the test reports, so one failure
//! names every failing file.
//!
//! `scripts/fuzz.sh` copies each new crash into `fuzz/regressions/<target>/`; commit it with the fix.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use larq::crypt::Encrypter;
use serde_json::Value as Json;

#[path = "../../fuzz/replay.rs"]
mod replay;

/// The fuzz targets whose crashes are kept; each has a directory under `fuzz/regressions/`.
const TARGETS: [&str; 2] = ["parse", "deserialize"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Both targets' bodies on one input; `Err` with the panic's message when one of them panics.
fn replay_both(data: &[u8]) -> Result<(), String> {
    caught(|| {
        let _ = replay::parse(data);
        let _ = replay::deserialize(data);
    })
}

/// Runs `f`, turning a panic into `Err` with its message.
fn caught(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// The saved crash inputs of one target: every file of its directory but dotfiles (`.gitkeep`)
/// and READMEs. A missing directory is a failure: it is committed, and without it new crashes
/// would have nowhere to go.
fn regression_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fuzz/regressions").join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with('.') && !name.starts_with("README")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The fixture app's APP_KEY, read from its environment file (the encrypted fixture needs it).
fn app_key() -> String {
    let path = root().join("php-fixtures/app/.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("APP_KEY="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no APP_KEY in {}", path.display()))
}

/// What `scripts/fuzz.sh` seeds the fuzzers with, plus the raw payloads: for each captured
/// `php-fixtures/corpus/laravel-8/<name>.json`, the whole payload and its serialized command (for an
/// encrypted command, the decrypted string and the command inside it).
fn corpus_inputs() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("php-fixtures/corpus/laravel-8");
    let enc = Encrypter::new(&app_key(), "", None).expect("the fixture APP_KEY is valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".json") && !n.ends_with(".expect.json")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let payload: Json = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(command) = payload.pointer("/data/command").and_then(Json::as_str) {
            if command.starts_with("O:") {
                out.push((format!("{name} data.command"), command.as_bytes().to_vec()));
            } else {
                let plain = enc
                    .decrypt(command)
                    .unwrap_or_else(|e| panic!("{name}: decrypt: {e}"));
                let inner = enc
                    .decrypt_command(command)
                    .unwrap_or_else(|e| panic!("{name}: decrypt: {e}"));
                out.push((format!("{name} data.command decrypted"), plain));
                out.push((format!("{name} data.command decrypted, inner"), inner));
            }
        }
        out.push((name, raw));
    }
    out
}

/// Replays every input, then fails once, naming each input that panicked.
fn replay_all(inputs: impl IntoIterator<Item = (String, Vec<u8>)>) -> usize {
    let mut count = 0;
    let mut failures = Vec::new();
    for (name, bytes) in inputs {
        count += 1;
        if let Err(message) = replay_both(&bytes) {
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}

#[test]
fn saved_fuzz_crashes_replay_without_panicking() {
    assert!(
        root().join("fuzz/regressions/README.md").is_file(),
        "fuzz/regressions/README.md is committed"
    );
    let mut count = 0;
    for target in TARGETS {
        let inputs = regression_inputs(target)
            .into_iter()
            .map(|(path, bytes)| (path.display().to_string(), bytes));
        count += replay_all(inputs);
    }
    eprintln!("replayed {count} saved crash inputs through both targets");
}

#[test]
fn the_seed_corpus_replays_without_panicking() {
    let count = replay_all(corpus_inputs());
    // 35 captured payloads, each with its command: a corpus that moved or shrank must be noticed.
    assert!(count >= 60, "only {count} corpus inputs were replayed");
}

/// The replay is not vacuous: its checks fire on a panic, and the seeds do reach the parts of the
/// bodies past parsing (the typed target accepts a real Laravel job).
#[test]
fn the_replay_reports_panics_and_reaches_the_typed_target() {
    assert_eq!(caught(|| panic!("planted")), Err("planted".to_owned()));
    assert_eq!(caught(|| {}), Ok(()));

    let some_job = corpus_inputs()
        .into_iter()
        .find(|(name, _)| name.ends_with("some_job.json data.command"))
        .map(|(_, bytes)| bytes)
        .expect("the corpus has some_job");
    assert!(replay::parse(&some_job).is_ok(), "some_job parses");
    let [untyped, typed] = replay::deserialize(&some_job);
    assert!(
        untyped.is_ok(),
        "some_job deserializes untyped: {untyped:?}"
    );
    assert!(typed.is_ok(), "some_job deserializes as a Job: {typed:?}");
    assert!(
        replay::parse(b"a:99999999999:{}").is_err(),
        "a hostile count is rejected, not allocated"
    );
}
