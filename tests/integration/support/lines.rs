//! Append-only record files: handlers in tests append one line per run, and tests read back the
//! complete lines.

use std::io::Write;
use std::path::Path;

/// Append `line` and a newline to the file at `path` (created when missing).
pub fn append_line(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}
