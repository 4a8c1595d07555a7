//! The `.env` corpus (`php-fixtures/dotenv/`): every `NAME.env` beside `NAME.expect.json`, which
//! the real vlucas/phpdotenv wrote (`php-fixtures/dotenv/dump.php`). larq must read each file as
//! Laravel would: the same value for every name, the same names, and a refusal (with phpdotenv's
//! wording) exactly where phpdotenv throws.
//!
//! A second test reruns `dump.php` and compares its output with the committed expectations, so a
//! corpus edit without regenerating them, or a phpdotenv upgrade that reads files differently, is
//! caught. Under `CI=true` a missing PHP or phpdotenv fails that test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;

use larq::config::{parse_dotenv_with, Env};
use serde_json::Value as Json;

use crate::support::php as php_support;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("php-fixtures/dotenv")
}

/// Every `.env` file of the corpus, sorted. An empty or small corpus is a failure: it is committed.
fn corpus() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the .env corpus has only {} files",
        files.len()
    );
    files
}

fn expect_path(env_file: &Path) -> PathBuf {
    env_file.with_extension("expect.json")
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The simulated process environment both phpdotenv and larq are given.
fn process_env() -> Vec<(String, String)> {
    let json = read_json(&corpus_dir().join("process-env.json"));
    json.as_object()
        .expect("process-env.json is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
        .collect()
}

/// What is wrong with larq's reading of one file (empty when it agrees with phpdotenv).
fn check_file(file: &Path, process: &[(String, String)]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let expect = read_json(&expect_path(file));
    let env = Env::from_dotenv_str(&text, process.iter().cloned());
    let mut problems = Vec::new();
    if let Some(error) = expect.get("error") {
        let php_message = error["message"].as_str().unwrap_or_default();
        match env {
            Ok(_) => problems.push(format!("accepted; phpdotenv throws {php_message:?}")),
            Err((line, message)) => {
                let ours = format!("Failed to parse dotenv file. {message}");
                if ours != php_message {
                    problems.push(format!(
                        "line {line}: message {ours:?}, phpdotenv {php_message:?}"
                    ));
                }
            }
        }
        return problems;
    }
    let vars = expect["vars"].as_object().expect("vars is an object");
    let env = match env {
        Ok(env) => env,
        Err((line, message)) => return vec![format!("refused at line {line}: {message}")],
    };
    for (name, want) in vars {
        let got = env.raw(name);
        if got != want.as_str() {
            problems.push(format!("{name}: larq {got:?}, phpdotenv {want}"));
        }
    }
    // The same names, in the same order: nothing swallowed by phpdotenv may appear in larq.
    let lookup = |name: &str| {
        process
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match parse_dotenv_with(&text, &lookup) {
        Ok(entries) => {
            let ours: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            let theirs: Vec<&str> = vars.keys().map(String::as_str).collect();
            if ours != theirs {
                problems.push(format!("names: larq {ours:?}, phpdotenv {theirs:?}"));
            }
        }
        Err(e) => problems.push(format!("parse_dotenv_with refused: {e:?}")),
    }
    problems
}

#[test]
fn larq_reads_every_corpus_file_as_phpdotenv_does() {
    let process = process_env();
    let mut failures = Vec::new();
    for file in corpus() {
        for problem in check_file(&file, &process) {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "larq disagrees with phpdotenv:\n{}",
        failures.join("\n")
    );
}

/// True when Debian's phpdotenv is installed. Under `CI=true` its absence is a failure.
fn phpdotenv_available() -> bool {
    let ok = Path::new("/usr/share/php/Dotenv/autoload.php").is_file();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("phpdotenv is not installed, and CI=true: apt-get install php-vlucas-phpdotenv (scripts/setup.sh)");
        }
        eprintln!("notice: phpdotenv not found; skipping the regeneration check (it would fail under CI=true)");
    }
    ok
}

#[test]
fn committed_expectations_are_what_phpdotenv_writes() {
    if !php_support::php_available() || !phpdotenv_available() {
        return;
    }
    let dump = corpus_dir().join("dump.php");
    let mut stale = Vec::new();
    for file in corpus() {
        let out = Command::new("php")
            .arg(&dump)
            .arg(&file)
            .output()
            .expect("run php");
        assert!(
            out.status.success(),
            "dump.php {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(expect_path(&file)).expect("read expectation");
        if out.stdout != committed {
            stale.push(format!(
                "{}: phpdotenv now writes\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "regenerate with `php php-fixtures/dotenv/dump.php --write` and review:\n{}",
        stale.join("\n")
    );
}
