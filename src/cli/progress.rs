//! The live progress line of `larq work`: jobs per second over the last few seconds, totals,
//! jobs in flight and the depth of the worked queues, redrawn in place on stderr.
//!
//! When it shows (`--progress`):
//!
//! * `auto` (default): stderr is a terminal and `--log-format text`. Under a supervisor, systemd,
//!   cron or `docker run` without `-t`, stderr is a pipe or a file, so nothing is drawn, no task
//!   runs and the worker keeps no counters for it.
//! * `on`: also with `--log-format json`; and when stderr is *not* a terminal, a plain
//!   `larq progress: ...` line every 10 seconds instead of the in-place line.
//! * `off`: never.
//!
//! The line is drawn at most 4 times a second, only when its text changed, cut to the terminal's
//! width so it never wraps. The worker's job lines wipe it before they print (see
//! `cli/status.rs`), so they never run into it; the next redraw puts it back under them.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use super::status;
use crate::metrics::{Metrics, Totals};
use crate::queue::QueueSizes;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// When stderr is a terminal and the log format is text.
    Auto,
    /// Always: in place on a terminal, else a plain line every 10 seconds.
    On,
    /// Never.
    Off,
}

/// Where the progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Redrawn in place on a terminal.
    Terminal,
    /// A plain line now and then (stderr is a file or a pipe).
    Plain,
}

/// The sink for a mode, or `None` when nothing is shown.
pub fn sink(mode: ProgressMode, text_log: bool) -> Option<Sink> {
    let terminal =
        std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    match mode {
        ProgressMode::Off => None,
        ProgressMode::Auto if terminal && text_log => Some(Sink::Terminal),
        ProgressMode::Auto => None,
        ProgressMode::On if terminal => Some(Sink::Terminal),
        ProgressMode::On => Some(Sink::Plain),
    }
}

/// How far back the jobs-per-second rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Finished-job counts over the last [`RATE_WINDOW`].
#[derive(Debug, Default)]
pub struct Rate {
    samples: VecDeque<(Instant, u64)>,
}

impl Rate {
    /// Add a sample and return jobs per second since the oldest one in the window (0 until half a
    /// second of samples exists).
    pub fn update(&mut self, now: Instant, finished: u64) -> f64 {
        self.samples.push_back((now, finished));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| now.duration_since(t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let Some(&(t0, n0)) = self.samples.front() else {
            return 0.0;
        };
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.5 {
            0.0
        } else {
            finished.saturating_sub(n0) as f64 / dt
        }
    }
}

/// The line's text: `12.5 jobs/s | 1234 processed | 5 failed | running 1/4 | queue 40 ready`
/// (released, handed back, timed out, delayed and reserved only when not 0), cut to `width`
/// characters. `sizes` is the sum over the worked queues (`None`: unknown).
pub fn line(
    rate: f64,
    totals: &Totals,
    concurrency: usize,
    sizes: Option<QueueSizes>,
    width: usize,
) -> String {
    let mut parts = vec![
        format!("{rate:.1} jobs/s"),
        format!("{} processed", totals.processed),
        format!("{} failed", totals.failed),
    ];
    if totals.released > 0 {
        parts.push(format!("{} released", totals.released));
    }
    if totals.handed_back > 0 {
        parts.push(format!("{} handed back", totals.handed_back));
    }
    if totals.timed_out > 0 {
        parts.push(format!("{} timed out", totals.timed_out));
    }
    parts.push(format!("running {}/{concurrency}", totals.in_flight));
    parts.push(match sizes {
        Some(s) => {
            let mut depth = format!("queue {} ready", s.ready);
            if s.delayed > 0 {
                depth.push_str(&format!(", {} delayed", s.delayed));
            }
            if s.reserved > 0 {
                depth.push_str(&format!(", {} reserved", s.reserved));
            }
            depth
        }
        None => "queue ?".to_owned(),
    });
    let text = parts.join(" | ");
    text.chars().take(width).collect()
}

/// Columns of the terminal on stderr (80 when it cannot be told).
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize struct we pass; on error it is left zeroed.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

async fn summed_sizes(metrics: &Metrics) -> Option<QueueSizes> {
    let sizes = metrics.queue_sizes(Duration::from_secs(1)).await.ok()?;
    Some(
        sizes
            .iter()
            .fold(QueueSizes::default(), |acc, (_, s)| QueueSizes {
                ready: acc.ready + s.ready,
                delayed: acc.delayed + s.delayed,
                reserved: acc.reserved + s.reserved,
            }),
    )
}

/// Draw the progress until the task is aborted (when the worker stops); then call [`clear`].
pub async fn run(metrics: Arc<Metrics>, sink: Sink) {
    let (tick, sizes_every) = match sink {
        Sink::Terminal => (Duration::from_millis(250), 8),
        Sink::Plain => (Duration::from_secs(10), 1),
    };
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rate = Rate::default();
    let mut sizes = None;
    let mut shown = String::new();
    for n in 0u64.. {
        interval.tick().await;
        if n % sizes_every == 0 {
            sizes = summed_sizes(&metrics).await;
        }
        let totals = metrics.totals();
        let per_sec = rate.update(Instant::now(), totals.finished());
        match sink {
            Sink::Terminal => {
                let text = line(
                    per_sec,
                    &totals,
                    metrics.concurrency(),
                    sizes,
                    terminal_width().saturating_sub(1),
                );
                if text != shown {
                    status::show(&text);
                    shown = text;
                }
            }
            Sink::Plain => {
                if n > 0 {
                    let text = line(per_sec, &totals, metrics.concurrency(), sizes, 400);
                    eprintln!("larq progress: {text}");
                }
            }
        }
    }
}

/// Wipe the line (the worker stopped).
pub fn clear() {
    status::clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_window() {
        let mut r = Rate::default();
        let t0 = Instant::now();
        assert_eq!(r.update(t0, 0), 0.0);
        assert_eq!(
            r.update(t0 + Duration::from_millis(250), 5),
            0.0,
            "too early"
        );
        assert_eq!(r.update(t0 + Duration::from_secs(1), 10), 10.0);
        assert_eq!(r.update(t0 + Duration::from_secs(2), 30), 15.0);
        // Ten seconds later the first samples have left the window.
        let rate = r.update(t0 + Duration::from_secs(12), 30);
        assert_eq!(rate, 0.0);
    }

    #[test]
    fn the_line_shows_what_happened_and_fits() {
        let totals = Totals {
            processed: 1234,
            failed: 5,
            released: 2,
            handed_back: 0,
            timed_out: 0,
            in_flight: 1,
        };
        let sizes = QueueSizes {
            ready: 40,
            delayed: 3,
            reserved: 1,
        };
        assert_eq!(
            line(12.46, &totals, 4, Some(sizes), 200),
            "12.5 jobs/s | 1234 processed | 5 failed | 2 released | running 1/4 | queue 40 ready, 3 delayed, 1 reserved"
        );
        assert_eq!(line(0.0, &totals, 4, None, 20), "0.0 jobs/s | 1234 pr");
        assert!(line(0.0, &totals, 1, None, 200).ends_with("| queue ?"));
        let idle = Totals::default();
        assert_eq!(
            line(0.0, &idle, 1, Some(QueueSizes::default()), 200),
            "0.0 jobs/s | 0 processed | 0 failed | running 0/1 | queue 0 ready"
        );
    }
}
