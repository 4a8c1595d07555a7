//! A one-line status redrawn in place on stderr (the `larq work` progress line), and the one rule
//! that keeps it from mixing with the worker's job lines on the same terminal: whoever prints a
//! job line first wipes the status line, and both happen under stdout's lock.
//!
//! The line is process-wide state (there is one terminal), hence the static flag. While no status
//! line was ever drawn, [`print_line`] costs one relaxed atomic load more than `println!`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a status line is on screen (the cursor is at its start).
static SHOWN: AtomicBool = AtomicBool::new(false);

/// Erase the current terminal line and put the cursor at its start.
const WIPE: &str = "\r\x1b[2K";

/// Draw `text` as the status line on stderr, replacing the previous one. The cursor is left at the
/// start of the line, so output that does not go through [`print_line`] (a handler's own
/// `println!`) overwrites it instead of being glued to its end. `text` must fit the terminal's
/// width: a wrapped line cannot be redrawn in place.
pub fn show(text: &str) {
    // stdout's lock first, as in `print_line`: a job line can never land between the wipe and
    // the redraw.
    let _stdout = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{WIPE}{text}\r");
    let _ = err.flush();
    SHOWN.store(true, Ordering::Relaxed);
}

/// Wipe the status line if one is shown (when the worker stops).
pub fn clear() {
    let _stdout = std::io::stdout().lock();
    wipe();
}

fn wipe() {
    if SHOWN.swap(false, Ordering::Relaxed) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{WIPE}");
        let _ = err.flush();
    }
}

/// `println!` for the worker's per-job lines: wipes the status line first, then writes the line;
/// the next redraw puts the status back below it. Write errors (a closed pipe) are ignored: a job
/// must not fail because nobody reads its log line.
pub fn print_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if SHOWN.load(Ordering::Relaxed) {
        // stdout and stderr share the terminal: what stdout buffered must be out before the wipe.
        let _ = out.flush();
        wipe();
    }
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
}
