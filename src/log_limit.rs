//! Say a recurring complaint once per interval, not once per occurrence.
//!
//! When a shared resource breaks (the failed_jobs database turns read-only, a cache goes away),
//! every job that needs it hits the same error. Logging each one buries the first, useful line
//! under thousands of copies and fills the disk; saying it once per interval, with how many were
//! left out, tells the operator the same thing.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The state of one recurring complaint.
#[derive(Debug)]
pub(crate) struct LogLimit {
    interval: Duration,
    state: Mutex<Option<Window>>,
}

#[derive(Debug)]
struct Window {
    logged_at: Instant,
    left_out: u64,
}

impl LogLimit {
    /// At most one line per `interval`.
    pub(crate) const fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            state: Mutex::new(None),
        }
    }

    /// One more occurrence: `Some(n)` when this one is to be logged, `n` being how many were left
    /// out since the last logged one; `None` when it is to be left out.
    pub(crate) fn occurred(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.as_mut() {
            Some(w) if w.logged_at.elapsed() < self.interval => {
                w.left_out += 1;
                None
            }
            Some(w) => {
                let left_out = w.left_out;
                *w = Window {
                    logged_at: Instant::now(),
                    left_out: 0,
                };
                Some(left_out)
            }
            None => {
                *state = Some(Window {
                    logged_at: Instant::now(),
                    left_out: 0,
                });
                Some(0)
            }
        }
    }

    /// The trouble is over: true if it had occurred (so the recovery is worth a line); the next
    /// occurrence is logged at once.
    pub(crate) fn cleared(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let limit = LogLimit::new(Duration::from_millis(200));
        assert_eq!(limit.occurred(), Some(0));
        assert_eq!(limit.occurred(), None);
        assert_eq!(limit.occurred(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limit.occurred(), Some(2));
        assert!(limit.cleared());
        assert!(!limit.cleared());
        assert_eq!(limit.occurred(), Some(0));
    }
}
