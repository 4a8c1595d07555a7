//! The last resort for a timeout: a handler that does not stop.
//!
//! A timed-out job's task is aborted, which takes effect at its next `.await`. Handler code that
//! blocks (a synchronous HTTP client, `std::thread::sleep`, a long computation) never reaches one:
//! on the default one-thread runtime it holds the whole worker, timers included, so nothing
//! inside the runtime can even notice the timeout; on a larger runtime it holds one thread for
//! good. PHP's worker answers every timeout by killing its own process (`EXIT_ERROR`, 1) and
//! leaving the restart to its supervisor. larq does that only when it has to: a plain OS thread
//! watches the deadlines of running handlers and ends the process with status 1 when one is
//! still running `grace` after its timeout. The jobs in flight stay in `:reserved` (or reserved
//! rows) and come back after `retry_after` with one more attempt, as after a `kill -9`; past its
//! tries the timed-out job then fails unrun with Laravel's "may have previously timed out".

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::sink::Sink;

/// Deadlines of the handlers that are running, shared with the watching thread.
struct Deadlines {
    running: Mutex<Running>,
    /// Woken when a deadline is added, so the thread never sleeps past the earliest one.
    changed: Condvar,
    /// Told why the process ends.
    sink: Option<Arc<dyn Sink>>,
}

#[derive(Default)]
struct Running {
    next_key: u64,
    jobs: HashMap<u64, Deadline>,
    /// The watching thread has been started (lazily: a worker that never times a job starts none).
    watching: bool,
    /// When the thread wakes next on its own; a deadline before it must wake the thread.
    wakes_at: Option<Instant>,
}

struct Deadline {
    /// Timeout plus grace: past it the handler is stuck.
    kill_at: Instant,
    timeout: Duration,
    name: String,
    id: String,
}

/// Watches the handlers of one worker; dropped with the worker, which ends its thread.
pub(crate) struct Watchdog {
    deadlines: Arc<Deadlines>,
    grace: Duration,
}

/// A running handler's deadline; dropping it (the handler returned, or its task was aborted and
/// dropped) takes the deadline back. Lives inside the handler's task for that reason.
pub(crate) struct Armed {
    deadlines: Arc<Deadlines>,
    key: u64,
}

impl Watchdog {
    /// `grace`: how long past its timeout a handler may take to stop before the process ends.
    pub(crate) fn new(grace: Duration, sink: Option<Arc<dyn Sink>>) -> Watchdog {
        Watchdog {
            deadlines: Arc::new(Deadlines {
                running: Mutex::default(),
                changed: Condvar::new(),
                sink,
            }),
            grace,
        }
    }

    /// Watch a handler that may run for `timeout`.
    pub(crate) fn arm(&self, timeout: Duration, name: &str, id: &str) -> Armed {
        let mut running = lock(&self.deadlines.running);
        let key = running.next_key;
        running.next_key += 1;
        let kill_at = Instant::now() + timeout + self.grace;
        // Jobs with the usual timeout end later than the thread's next look: no wake-up (no
        // syscall, no thread switch) per job.
        let wake = running.wakes_at.is_some_and(|at| kill_at < at);
        running.jobs.insert(
            key,
            Deadline {
                kill_at,
                timeout,
                name: name.to_owned(),
                id: id.to_owned(),
            },
        );
        if !running.watching {
            running.watching = true;
            let weak = Arc::downgrade(&self.deadlines);
            let spawned = std::thread::Builder::new()
                .name("larq-watchdog".to_owned())
                .spawn(move || watch(weak));
            if let Err(e) = spawned {
                // Without the thread timeouts still abort cooperative handlers; only a stuck
                // one goes unnoticed. Try again with the next job.
                running.watching = false;
                tracing::error!(error = %e, "could not start the timeout watchdog thread");
            }
        }
        drop(running);
        if wake {
            self.deadlines.changed.notify_one();
        }
        Armed {
            deadlines: Arc::clone(&self.deadlines),
            key,
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        lock(&self.deadlines.running).jobs.remove(&self.key);
    }
}

/// The deadline map stays consistent under a panic elsewhere (inserts and removes are single
/// calls), so a poisoned lock is still usable.
fn lock(m: &Mutex<Running>) -> std::sync::MutexGuard<'_, Running> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long the thread sleeps at most between looks, so it notices its worker is gone.
const IDLE_LOOK: Duration = Duration::from_secs(1);

fn watch(deadlines: Weak<Deadlines>) {
    loop {
        let Some(shared) = deadlines.upgrade() else {
            return; // the worker is gone
        };
        let mut running = lock(&shared.running);
        let now = Instant::now();
        if let Some(stuck) = running.jobs.values().find(|d| d.kill_at <= now) {
            end_process(stuck, shared.sink.as_deref());
        }
        let wait = running
            .jobs
            .values()
            .map(|d| d.kill_at.saturating_duration_since(now))
            .min()
            .unwrap_or(IDLE_LOOK)
            .min(IDLE_LOOK);
        running.wakes_at = Some(now + wait);
        let (running, _) = shared
            .changed
            .wait_timeout(running, wait)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(running);
    }
}

/// What PHP does on every timeout: report it and exit with `EXIT_ERROR`.
fn end_process(stuck: &Deadline, sink: Option<&dyn Sink>) -> ! {
    let message = format!(
        "{} ran past its timeout of {} s and did not stop (blocking code without an .await cannot \
         be aborted); exiting with status 1 so the supervisor starts a fresh worker. The jobs in \
         flight stay reserved and run again after retry_after.",
        stuck.name,
        stuck.timeout.as_secs()
    );
    tracing::error!(job_id = %stuck.id, job = %stuck.name, "{message}");
    if let Some(sink) = sink {
        sink.problem(Some(&stuck.id), &format!("Timed out: {message}"));
    }
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_taken_back_when_the_handler_ends() {
        let dog = Watchdog::new(Duration::from_secs(60), None);
        let a = dog.arm(Duration::from_secs(1), "A", "1");
        let b = dog.arm(Duration::from_secs(1), "B", "2");
        assert_eq!(lock(&dog.deadlines.running).jobs.len(), 2);
        drop(a);
        let left: Vec<String> = lock(&dog.deadlines.running)
            .jobs
            .values()
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(left, ["B"]);
        drop(b);
        assert!(lock(&dog.deadlines.running).jobs.is_empty());
    }

    #[test]
    fn the_thread_ends_with_its_worker() {
        let dog = Watchdog::new(Duration::from_secs(60), None);
        drop(dog.arm(Duration::from_secs(1), "A", "1"));
        let weak = Arc::downgrade(&dog.deadlines);
        drop(dog);
        // Only the thread's short-lived upgrades can keep it alive now.
        let started = Instant::now();
        while weak.strong_count() > 0 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(weak.strong_count(), 0);
    }
}
