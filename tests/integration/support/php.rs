//! Finding the real PHP the conformance tests compare against.

use std::process::Command;

/// True when `php` runs. Under `CI=true` a missing PHP is a failure, never a silent skip: CI
/// installs it, so its absence means the run proves nothing.
pub fn php_available() -> bool {
    let ok = Command::new("php")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("php is not installed, and CI=true: install php-cli (see .ci/run)");
        }
        eprintln!(
            "notice: php not found; skipping a PHP conformance test (it would fail under CI=true)"
        );
    }
    ok
}

#[allow(dead_code)] // not every test binary that includes this module runs scripts
/// Run a PHP script (passed on stdin-free `-r`-less file form) with arguments, returning stdout.
pub fn run_php(script: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("script.php");
    std::fs::write(&path, script).expect("write script");
    let out = Command::new("php")
        .arg(&path)
        .args(args)
        .output()
        .expect("run php");
    assert!(
        out.status.success(),
        "php failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("php output is UTF-8")
}
