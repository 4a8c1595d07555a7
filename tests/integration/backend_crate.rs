//! The README's program, as a team would start: a new crate outside this repository that depends
//! on larq by path, whose `main.rs` is the README's first Rust block. It must build, and its binary
//! must drain jobs the real Laravel app dispatched, with `work --env <app>/.env --stop-when-empty`.
//!
//! The crate is built offline against this repository's `Cargo.lock` (the same dependency
//! versions, already fetched for larq itself) into this repository's target directory, so only
//! larq and the new crate are compiled.

use crate::support::bins;
use crate::support::laravel;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The first fenced Rust block of the README.
fn readme_program() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("```rust\n")
        .expect("a ```rust block in the README")
        + 8;
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[test]
fn the_readme_program_builds_in_a_crate_of_its_own_and_drains_what_laravel_dispatched() {
    let Some(app) = laravel::App::start() else {
        return;
    };
    let krate = tempfile::tempdir().unwrap();
    let larq = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        krate.path().join("Cargo.toml"),
        format!(
            r#"[package]
name = "some-backend"
version = "0.1.0"
edition = "2021"

[dependencies]
larq = {{ path = "{larq}" }}
serde = {{ version = "1", features = ["derive"] }}

[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false

[workspace]
"#
        ),
    )
    .unwrap();
    std::fs::copy(
        Path::new(larq).join("Cargo.lock"),
        krate.path().join("Cargo.lock"),
    )
    .unwrap();
    std::fs::create_dir(krate.path().join("src")).unwrap();
    let program = readme_program();
    assert!(
        program.contains("larq::cli::run(Registry::new().with::<SomeJob>())"),
        "{program}"
    );
    std::fs::write(krate.path().join("src/main.rs"), &program).unwrap();
    let target = target_dir().join("external");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(krate.path())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the README's program does not build in a crate of its own:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let dispatched = app.dispatch(
        "SomeJob",
        &[
            "--count=3",
            "--user-id=7",
            "--increment",
            "--param=own-crate",
        ],
    );
    assert_eq!(dispatched.len(), 3);
    let env_file = laravel::app_dir().join(".env");
    let out = app
        .command(&target.join("debug/some-backend"))
        .envs(bins::LARQ_ENV)
        .arg("work")
        .arg("--env")
        .arg(&env_file)
        .arg("--stop-when-empty")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in 7..10 {
        assert!(
            stdout.contains(&format!("Processing user ID: {id} with param: own-crate")),
            "{stdout}"
        );
    }
    use redis::Commands;
    let left: i64 = app.conn(0).llen("laravel_database_queues:default").unwrap();
    assert_eq!(left, 0, "the queue is drained");
    // The same binary has the operator commands too.
    let size = app
        .command(&target.join("debug/some-backend"))
        .envs(bins::LARQ_ENV)
        .args(["size", "--env"])
        .arg(&env_file)
        .output()
        .unwrap();
    assert!(
        size.status.success(),
        "{}",
        String::from_utf8_lossy(&size.stderr)
    );
}
