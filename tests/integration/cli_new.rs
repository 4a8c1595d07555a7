//! `larq new` as a team would start with it: scaffold a crate from captured payloads, build it
//! outside this repository, run the crate's own tests, and work what the real Laravel app
//! dispatched with the crate's binary.
//!
//! The scaffold depends on this checkout (`--path`) and is built offline against this
//! repository's `Cargo.lock` into `<target>/external`, like tests/backend_crate.rs, so only larq
//! and the new crate are compiled.

use crate::support::bins;
use crate::support::laravel;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> PathBuf {
    root().join("php-fixtures/corpus/laravel-8").join(name)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn larq_new(args: &[&std::ffi::OsStr]) -> Output {
    bins::larq()
        .arg("new")
        .args(args)
        .output()
        .expect("run larq new")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Make the scaffold build like this repository: its lock file (same dependency versions, all
/// already fetched) and its dev profile (the shared `external` target directory then reuses the
/// dependencies' artifacts). A user's crate needs neither.
fn prepare_offline_build(krate: &Path) {
    std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).expect("copy Cargo.lock");
    let manifest = krate.join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).expect("the scaffold's Cargo.toml");
    toml.push_str(
        "\n[profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.\"*\"]\ndebug = false\n",
    );
    std::fs::write(&manifest, toml).expect("write Cargo.toml");
}

/// `cargo <args> --offline` in the scaffold, into the shared external target directory.
fn cargo(krate: &Path, args: &[&str]) -> Output {
    let started = Instant::now();
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target_dir().join("external"))
        .output()
        .expect("run cargo");
    eprintln!("cargo {args:?} in the scaffold: {:.1?}", started.elapsed());
    out
}

/// The generated sources are what rustfmt would write (a new user's `cargo fmt` changes
/// nothing). Skipped with a notice where rustfmt is not installed.
fn assert_rustfmt_clean(krate: &Path) {
    if Command::new("rustfmt").arg("--version").output().is_err() {
        eprintln!("notice: rustfmt not found; not checking the scaffold's formatting");
        return;
    }
    let out = Command::new("rustfmt")
        .args([
            "--check",
            "--edition",
            "2021",
            "src/main.rs",
            "tests/payloads.rs",
        ])
        .current_dir(krate)
        .output()
        .expect("run rustfmt");
    assert!(
        out.status.success(),
        "rustfmt would change the scaffold:\n{}",
        text(&out)
    );
}

#[test]
fn a_scaffold_from_captured_payloads_builds_passes_its_tests_and_works_laravels_jobs() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let krate = scratch.path().join("my-backend");
    let mut args: Vec<&std::ffi::OsStr> =
        vec![krate.as_os_str(), "--path".as_ref(), root().as_os_str()];
    let payloads: Vec<PathBuf> = [
        "some_job.json",
        "objects_job.json",
        "reserved_some_job.json",
        "enums_job.json",
    ]
    .iter()
    .map(|f| corpus(f))
    .collect();
    for p in &payloads {
        args.push("--payload".as_ref());
        args.push(p.as_os_str());
    }
    let out = larq_new(&args);
    assert!(out.status.success(), "larq new failed:\n{}", text(&out));

    // One module per class (the two SomeJob payloads share one), each payload copied as is.
    for file in [
        "Cargo.toml",
        "README.md",
        ".gitignore",
        "src/main.rs",
        "src/some_job.rs",
        "src/objects_job.rs",
        "src/enums_job.rs",
        "tests/payloads.rs",
    ] {
        assert!(krate.join(file).is_file(), "no {file}:\n{}", text(&out));
    }
    for (copy, original) in [
        ("some_job.json", "some_job.json"),
        ("some_job-2.json", "reserved_some_job.json"),
        ("objects_job.json", "objects_job.json"),
        ("enums_job.json", "enums_job.json"),
    ] {
        assert_eq!(
            std::fs::read(krate.join("tests/payloads").join(copy)).expect(copy),
            std::fs::read(corpus(original)).expect(original),
            "{copy}"
        );
    }
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("name = \"my-backend\""), "{manifest}");
    assert!(
        manifest.contains(&format!("larq = {{ path = \"{}\" }}", root().display())),
        "{manifest}"
    );
    assert!(!manifest.contains("[workspace]"), "{manifest}");
    let main = std::fs::read_to_string(krate.join("src/main.rs")).expect("main.rs");
    for with in [
        ".with::<some_job::SomeJob>()",
        ".with::<objects_job::ObjectsJob>()",
        ".with::<enums_job::EnumsJob>()",
    ] {
        assert!(main.contains(with), "{main}");
    }
    let readme = std::fs::read_to_string(krate.join("README.md")).expect("README.md");
    for line in [
        "cargo run -- work --env /path/to/app/.env",
        "cargo build --release",
        "command=/usr/local/bin/my-backend work --env",
        "ExecStart=/usr/local/bin/my-backend work --env",
        "cargo run -- codegen",
    ] {
        assert!(readme.contains(line), "the README lacks {line:?}");
    }
    assert_rustfmt_clean(&krate);

    // The directory is not empty now: a second `larq new` must not write into it.
    let again = larq_new(&[krate.as_os_str()]);
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));

    prepare_offline_build(&krate);
    let build = cargo(&krate, &["build", "--quiet"]);
    assert!(
        build.status.success(),
        "the scaffold does not build:\n{}",
        text(&build)
    );
    let tests = cargo(&krate, &["test"]);
    let tests_out = text(&tests);
    assert!(
        tests.status.success(),
        "the scaffold's tests fail:\n{tests_out}"
    );
    for name in [
        "some_job_payloads_decode",
        "objects_job_payloads_decode",
        "enums_job_payloads_decode",
    ] {
        assert!(
            tests_out.contains(&format!("test {name} ... ok")),
            "{name} did not pass:\n{tests_out}"
        );
    }

    let Some(app) = laravel::App::start() else {
        return;
    };
    let dispatched = app.dispatch(
        "SomeJob",
        &["--count=3", "--user-id=7", "--increment", "--param=x"],
    );
    assert_eq!(dispatched.len(), 3);
    let bin = target_dir().join("external/debug/my-backend");
    let out = app
        .command(&bin)
        .envs(bins::LARQ_ENV)
        .arg("work")
        .arg("--env")
        .arg(laravel::app_dir().join(".env"))
        .arg("--stop-when-empty")
        .output()
        .expect("run the scaffold's binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    // The generated handler prints each job as decoded into its struct, the worker Laravel's line.
    for id in 7..10 {
        assert!(
            stdout.contains(&format!(
                "App\\Jobs\\SomeJob (attempt 1): SomeJob {{ user_id: {id}, some_param: \"x\" }}"
            )),
            "job {id} did not reach its struct:\n{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("Processed:  App\\Jobs\\SomeJob").count(),
        3,
        "{stdout}"
    );
    use redis::Commands;
    let left: i64 = app
        .conn(0)
        .llen("laravel_database_queues:default")
        .expect("LLEN");
    assert_eq!(left, 0, "the queue is drained");
}

#[test]
fn without_payloads_the_scaffold_is_the_some_job_example_and_builds() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let krate = scratch.path().join("example-backend");
    let out = larq_new(&[krate.as_os_str(), "--path".as_ref(), root().as_os_str()]);
    assert!(out.status.success(), "larq new failed:\n{}", text(&out));
    let main = std::fs::read_to_string(krate.join("src/main.rs")).expect("main.rs");
    assert!(
        main.contains("larq::cli::run(Registry::new().with::<some_job::SomeJob>())"),
        "{main}"
    );
    assert!(krate.join("tests/payloads/some_job.json").is_file());
    assert_rustfmt_clean(&krate);
    prepare_offline_build(&krate);
    let tests = cargo(&krate, &["test"]);
    assert!(
        tests.status.success(),
        "the example scaffold's tests fail:\n{}",
        text(&tests)
    );
    assert!(
        text(&tests).contains("test some_job_payloads_decode ... ok"),
        "{}",
        text(&tests)
    );
}

#[test]
fn bad_input_writes_nothing() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let krate = scratch.path().join("backend");
    // A string payload has no job object to generate from.
    let out = larq_new(&[
        krate.as_os_str(),
        "--payload".as_ref(),
        corpus("string_payload.json").as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no data.command"), "{}", text(&out));
    // An encrypted command needs the app's key, which a test in the crate would not have.
    let out = larq_new(&[
        krate.as_os_str(),
        "--payload".as_ref(),
        corpus("encrypted_job.json").as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("encrypted"), "{}", text(&out));
    let out = larq_new(&[
        krate.as_os_str(),
        "--payload".as_ref(),
        scratch.path().join("missing.json").as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.json"), "{}", text(&out));
    assert!(
        !krate.exists(),
        "a failed `larq new` left {}",
        krate.display()
    );
}
