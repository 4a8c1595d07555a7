//! Handlers run on tasks of their own, so a panic or an abort ends the handler, not the worker
//! (the Laravel worker and the task worker both do this): what a panicked task said, and a
//! guard that aborts the handler when the job's own task is dropped (a forced stop).

/// The text a panicked task left (`&str` or `String` payloads), or the join error's.
pub(crate) fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned()),
        Err(e) => e.to_string(),
    }
}

/// Aborts a spawned handler when the task processing its job is dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
