//! Polling with a deadline, for tests that watch another process or server.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Poll `cond` every 25 ms for up to `limit`; its last answer.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    wait_for_value(limit, || cond().then_some(())).is_some()
}

/// Poll `probe` every 25 ms for up to `limit`; the first value it gives.
pub fn wait_for_value<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Wait up to `limit` for the child to exit; a child still running then is killed (and reaped)
/// and `None` says it did not exit by itself.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let status = wait_for_value(limit, || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}
