//! The binaries tests run: `larq` itself (`CARGO_BIN_EXE_larq`), and the example backends, which
//! cargo builds for `cargo test` but not for `cargo test --test NAME`, so they are built here once
//! per test process (a no-op when they are up to date).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// What every larq binary a test spawns gets unless the test sets it again: Laravel 8's
/// conventions (the key shapes and defaults the tests were written against, larq's default before
/// it detected versions; the fixture app reveals no version, so larq would take the newest) and
/// the fixture app's cache store, `redis` (`php-fixtures/app/config/cache.php`'s default, which
/// larq cannot read; 8's own default would be `file`). Set again *after* an `env_clear()`.
pub const LARQ_ENV: [(&str, &str); 2] = [("LARQ_LARAVEL_VERSION", "8"), ("CACHE_DRIVER", "redis")];

/// `program` (`larq` or an example backend) with [`LARQ_ENV`].
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    c.envs(LARQ_ENV);
    c
}

/// The `larq` binary with [`LARQ_ENV`].
pub fn larq() -> Command {
    command(env!("CARGO_BIN_EXE_larq"))
}

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
