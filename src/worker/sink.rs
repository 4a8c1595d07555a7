//! Where the worker's lines for an operator go.
//!
//! The library never prints. `queue:work` prints a line per job state (`Processing`,
//! `Processed`, `Failed`, ...) and a line for trouble an operator must see at once (a lost
//! connection, a failed_jobs table that cannot be written, a handler that would not stop); larq's
//! worker hands each to a [`Sink`], and whoever runs it decides where they go. `larq::cli` installs
//! one that prints Laravel's lines on a terminal; an embedder may log them, count them or drop
//! them. Without a sink, the worker's `tracing` events are all there is.

/// Receives the worker's operator lines. Called from the worker's tasks (and, for a handler that
/// will not stop, from the watchdog thread just before the process exits), so it must be cheap
/// and must not block for long.
pub trait Sink: Send + Sync + 'static {
    /// A job reached a state: `status` is `Processing`, `Processed`, `Failed`, ...; `id` is the
    /// payload's id and `name` its display name, both already escaped and cut for printing.
    fn job(&self, status: &str, id: &str, name: &str);

    /// Trouble an operator should see now; `id` names the job when it is about one.
    fn problem(&self, id: Option<&str>, text: &str);

    /// One of the worker's queues was found paused (`paused`) or resumed (`queue:pause`,
    /// `queue:resume`), said once per change. Laravel 13's worker prints a line for it; the
    /// default says nothing.
    fn queue_paused(&self, queue: &str, paused: bool) {
        let _ = (queue, paused);
    }
}
