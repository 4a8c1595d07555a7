//! `queue:work`'s lines on the terminal: the [`Sink`] `larq work` installs with `--log-format
//! text` (the default), so the worker's job states read as Laravel's:
//!
//! ```text
//! [2026-11-23 08:49:56][MPzGtxsf0Y2qsluisQZWfyp6Re0MdzBs] Processing: App\Jobs\SomeJob
//! [2026-11-23 08:49:56][MPzGtxsf0Y2qsluisQZWfyp6Re0MdzBs] Processed:  App\Jobs\SomeJob
//! ```
//!
//! Job lines go to stdout through [`super::status::print_line`], which keeps them from mixing
//! with the progress line; trouble goes to stderr.

use crate::worker::Sink;

/// Laravel's lines on stdout/stderr.
#[derive(Debug, Default)]
pub struct LaravelLines;

impl Sink for LaravelLines {
    fn job(&self, status: &str, id: &str, name: &str) {
        // `{status}:` left-aligned in 11 columns, as Laravel pads it.
        let pad = 10usize.saturating_sub(status.len());
        super::status::print_line(format_args!(
            "[{}][{id}] {status}:{:pad$} {name}",
            timestamp(),
            ""
        ));
    }

    fn queue_paused(&self, queue: &str, paused: bool) {
        let state = if paused { "PAUSED" } else { "RESUMED" };
        super::status::print_line(format_args!(
            "[{}] Queue {} {state}",
            timestamp(),
            crate::display::printable(queue, crate::display::FIELD_LIMIT)
        ));
    }

    fn problem(&self, id: Option<&str>, text: &str) {
        match id {
            Some(id) => eprintln!("[{}][{id}] {text}", timestamp()),
            None => eprintln!("[{}] {text}", timestamp()),
        }
    }
}

/// `Y-m-d H:i:s` for the lines; formatted once per second per thread (formatting it for every
/// line was a visible share of a busy worker's time).
fn timestamp() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now.timestamp() {
            *last = (now.timestamp(), now.format("%Y-%m-%d %H:%M:%S").to_string());
        }
        last.1.clone()
    })
}
