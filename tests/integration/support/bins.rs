//! The binaries tests run: `larq` itself (`CARGO_BIN_EXE_larq`), and the example backends, which
//! cargo builds for `cargo test` but not for `cargo test --test NAME`, so they are built here once
//! per test process (a no-op when they are up to date).

use std::path::PathBuf;
use std::sync::OnceLock;

/// `examples/recording_backend.rs`: every `larq` subcommand, with the `App\Jobs\SomeJob` handler
/// that appends a JSON line per run to `LARQ_RECORD_FILE`.
#[allow(dead_code)]
pub fn recording_backend() -> PathBuf {
    example("recording_backend")
}

/// `examples/backend.rs`: the README's program.
#[allow(dead_code)]
pub fn backend() -> PathBuf {
    example("backend")
}

fn example(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<&'static str>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    // target/debug/deps/<test> -> target/debug/examples/<name>
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples")))
        .expect("the test binary lives in target/<profile>/deps");
    if !built.contains(&name) {
        let release = dir.parent().and_then(|d| d.file_name()) == Some("release".as_ref());
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", name])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
        built.push(name);
    }
    dir.join(name)
}
