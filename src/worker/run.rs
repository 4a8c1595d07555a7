//! One job's run, as `queue:work`'s `process()` does it: decode and resolve the payload, the
//! crash-loop and tries checks, the bus's steps before and after, the handler under its timeout,
//! then delete, release with backoff, or fail into `failed_jobs`.

// The loop's types (Inner, Slot, the options) and imports: this is the loop's own job step.
use super::*;

/// One job's run, with everything it needs to report.
pub(super) struct Run {
    inner: Arc<Inner>,
    slot: Slot,
    job: Arc<ReservedJob>,
    payload: Arc<Payload>,
    raw: Arc<[u8]>,
    name: String,
    id: String,
    tracker: Option<JobTracker>,
}

impl Run {
    /// Count how this run ended (the first outcome counts; without metrics, nothing happens).
    fn outcome(&self, outcome: Outcome) {
        if let Some(tracker) = &self.tracker {
            tracker.finish(outcome);
        }
    }

    fn say(&self, status: &str) {
        tracing::info!(
            job_id = %self.id,
            uuid = self.payload.uuid.as_deref().unwrap_or(""),
            job = %self.name,
            queue = %self.job.queue,
            attempts = self.job.attempts,
            status,
            "job {status}"
        );
        if let Some(sink) = &self.inner.sink {
            sink.job(status, &self.id, &self.name);
        }
    }

    fn context(&self) -> JobContext {
        JobContext::new(
            Arc::clone(&self.payload),
            Arc::clone(&self.raw),
            self.job.attempts,
            self.job.queue.clone(),
            self.inner.queue.connection_name().to_owned(),
        )
        .with_models(self.inner.models.clone())
    }

    /// Tell the registry's observers about this job (nothing to build when there are none).
    fn notify(&self, event: &'static str, f: impl Fn(&dyn QueueObserver, &JobEvent<'_>)) {
        let observers = self.inner.registry.observers();
        if observers.is_empty() {
            return;
        }
        let job = JobEvent {
            connection: self.inner.queue.connection_name(),
            queue: &self.job.queue,
            job_id: &self.id,
            name: &self.name,
            attempts: self.job.attempts,
            payload: &self.payload,
            raw: &self.raw,
        };
        observers.each(event, |o| f(o, &job));
    }

    fn processed(&self) {
        self.notify("job_processed", |o, job| o.job_processed(job));
    }

    fn exception_occurred(&self, error: &JobError) {
        self.notify("job_exception_occurred", |o, job| {
            o.job_exception_occurred(job, error)
        });
    }

    fn max_tries(&self) -> i64 {
        self.payload.max_tries.unwrap_or(self.inner.options.tries)
    }

    /// Record the failure, then remove the job, then run the `failed` hook. If the record cannot be
    /// written the job stays reserved and comes back after `retry_after`, so it is never lost.
    async fn fail(&self, error: &JobError, resolved: Option<&Resolved>) {
        if let Some(store) = &self.inner.failed {
            let uuid = self
                .payload
                .uuid
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let mut exception = error.to_php_string();
            if let Some(bus) = &self.inner.bus {
                if let Some(note) = bus.failure_note(&self.inner.registry, &self.payload).await {
                    exception.push_str("\n\n");
                    exception.push_str(&note);
                }
            }
            let row = FailedJob {
                uuid: &uuid,
                connection: self.inner.queue.connection_name(),
                queue: &self.job.queue,
                payload: &self.job.original,
                exception: &exception,
            };
            match store.log(&row).await {
                Ok(recorded) => {
                    if self.inner.failed_store_trouble.cleared() {
                        tracing::warn!("failed_jobs can be written again");
                    }
                    if recorded == Recorded::AlreadyThere {
                        tracing::warn!(job_id = %self.id, %uuid, "failed_jobs already has a row with this uuid; the first row is kept (Laravel's unique index refuses a second)");
                    }
                }
                Err(e) => {
                    // Said once per interval: while the store is broken every failing job
                    // would say the same, and each comes back after retry_after to say it again.
                    if let Some(left_out) = self.inner.failed_store_trouble.occurred() {
                        tracing::error!(error = %e, job_id = %self.id, left_out, "cannot record the failed job; it stays reserved and will come back after retry_after (said at most every 10 s; left_out: how many times since the last line)");
                        if let Some(sink) = &self.inner.sink {
                            sink.problem(
                                Some(&self.id),
                                &format!("cannot record the failed job: {e} (it stays reserved; {left_out} more since the last such line)"),
                            );
                        }
                    }
                    return;
                }
            }
        }
        if self.remove(false, true).await.is_none() {
            tracing::error!(job_id = %self.id, "cannot delete the failed job");
        }
        if let Some(bus) = &self.inner.bus {
            bus.after_failure(&self.inner.registry, &self.payload, resolved)
                .await;
        }
        if let Some(resolved) = resolved {
            let resolved = resolved.clone();
            let ctx = self.context();
            let err = JobError::with_class(error.class().to_owned(), error.message().to_owned());
            let hook = tokio::spawn(async move { resolved.failed(&ctx, &err).await });
            if let Err(e) = hook.await {
                tracing::error!(error = %e, job_id = %self.id, "the job's failed hook panicked");
            }
        }
        tracing::warn!(
            job_id = %self.id,
            exception = %printable(&error.to_string(), MESSAGE_LIMIT),
            "job failed"
        );
        self.outcome(Outcome::Failed);
        self.say("Failed");
        self.notify("job_failed", |o, job| o.job_failed(job, error));
    }

    /// The handler returned without releasing or failing the job: the bus's after-success steps
    /// (next chain link, batch, unique lock) run **before** the job is deleted; if they fail, that
    /// is the job's exception.
    async fn succeed(&self, resolved: &Resolved) {
        if let Some(bus) = &self.inner.bus {
            if let Err(e) = bus.after_success(&self.payload, resolved).await {
                return Box::pin(self.on_exception(e, None, resolved)).await;
            }
        }
        // Observers hear before the delete: on Redis and the database queue it rides on the loop's next reserve, which
        // would put the next job's JobProcessing first.
        self.processed();
        self.delete().await;
        self.outcome(Outcome::Processed);
        self.say("Processed");
    }

    async fn release(&self, delay: u64) {
        let queue = &self.inner.queue;
        match retry_while_disconnected(&self.inner.state, || queue.release(&self.job, delay)).await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %self.id, "release: the reservation had already expired")
            }
            Err(e) => tracing::error!(error = %e, job_id = %self.id, "cannot release the job"),
        }
        self.outcome(Outcome::Released);
    }

    fn middleware_unapplied(&self, policy: &str, n: u64) {
        if let (Some(metrics), true) = (&self.inner.metrics, n > 0) {
            metrics.middleware_unapplied(policy, n);
        }
    }

    /// The middleware policy `hand-back`: put the job back untouched for a PHP worker, after
    /// the wrapper policy's hand-back delay.
    async fn hand_back_for_middleware(&self) {
        let delay = self.inner.bus.as_ref().map_or_else(
            || crate::wrappers::HandBack::default().delay,
            |b| b.hand_back_delay(),
        );
        match self.inner.queue.hand_back(&self.job, delay).await {
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, job_id = %self.id, "cannot hand the job back; it stays reserved until retry_after")
            }
        }
        tracing::warn!(job_id = %self.id, job = %self.name, "handed back for a PHP worker: it has middleware larq cannot apply");
        self.outcome(Outcome::HandedBack);
        self.say("Handed back");
    }

    /// Delete a job that has nothing left to do but report.
    async fn delete(&self) {
        match self.remove(true, false).await {
            Some(true) => {}
            Some(false) => {
                tracing::warn!(job_id = %self.id, "delete: the reservation had already expired; the job may run again")
            }
            None => tracing::error!(job_id = %self.id, "cannot delete the job"),
        }
    }

    /// Delete the job: on Redis and the database queue through the loop's next reserve call
    /// (see [`Deletes`]), else directly. `done` says the job has nothing left to do but report, so its slot is free for
    /// the job that call reserves; `failed`, that it is removed as a failed job
    /// ([`crate::queue::Queue::delete_failed`]). `Some(still reserved)`, or `None` if it could
    /// not be deleted.
    async fn remove(&self, done: bool, failed: bool) -> Option<bool> {
        if let Some(deletes) = &self.inner.deletes {
            if done {
                self.slot.free();
            }
            let (tx, rx) = oneshot::channel();
            deletes.push(PendingDelete {
                job: Arc::clone(&self.job),
                done: tx,
            });
            return rx.await.ok().flatten();
        }
        let queue = &self.inner.queue;
        let removed = if failed {
            retry_while_disconnected(&self.inner.state, || queue.delete_failed(&self.job)).await
        } else {
            retry_while_disconnected(&self.inner.state, || queue.delete(&self.job)).await
        };
        match removed {
            Ok(still_reserved) => Some(still_reserved),
            Err(e) => {
                tracing::error!(error = %e, job_id = %self.id, "cannot delete the job");
                None
            }
        }
    }

    /// `markJobAsFailedIfWillExceedMaxAttempts` + `...MaxExceptions`: whether the job must fail now.
    async fn will_exceed(&self) -> bool {
        let now = now() as i64;
        let mut fail = match self.payload.retry_until() {
            Some(until) => until <= now,
            None => {
                let max = self.max_tries();
                max > 0 && self.job.attempts >= max
            }
        };
        if let (Some(cache), Some(uuid), Some(max_exceptions)) = (
            self.inner.cache.as_ref().filter(|c| c.has_counters()),
            self.payload.uuid.as_deref(),
            self.payload.max_exceptions,
        ) {
            match cache.count_exception(uuid).await {
                Ok(count) if max_exceptions <= count => {
                    if let Err(e) = cache.forget(&format!("job-exceptions:{uuid}")).await {
                        tracing::warn!(error = %e, "cannot reset the exception counter");
                    }
                    fail = true;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot count the exception"),
            }
        }
        fail
    }

    /// `handleModelNotFound`: a model the job carries is gone. Deleted silently when the job
    /// says `deleteWhenMissingModels`, else failed at once whatever its tries; either way without
    /// the job's `failed` hook, chain or batch steps, which PHP cannot reach either (they need
    /// the command, whose unserializing is what threw).
    async fn on_missing_model(&self, error: &JobError, resolved: &Resolved) {
        if !self.deletes_when_models_missing(resolved) {
            return self.fail(error, None).await;
        }
        tracing::info!(job_id = %self.id, job = %self.name, "a model the job carries is gone; deleted (deleteWhenMissingModels)");
        self.processed();
        self.delete().await;
        self.outcome(Outcome::Processed);
        self.say("Processed");
    }

    /// Whether PHP would delete this job when a model is missing: Laravel 13 reads the
    /// payload's `deleteWhenMissingModels`; earlier versions the class's default, which the
    /// Rust twin can state ([`crate::job::Job::DELETE_WHEN_MISSING_MODELS`]) and which the
    /// command otherwise shows as that version writes it (8: always; 9+: only when the value
    /// differs from the default, so the default is its opposite).
    fn deletes_when_models_missing(&self, resolved: &Resolved) -> bool {
        let laravel = crate::laravel::Laravel::nearest(self.inner.options.laravel_version);
        if laravel.missing_models_rule_in_payload() {
            return self.payload.delete_when_missing_models.unwrap_or(false);
        }
        if let Some(declared) = resolved.delete_when_missing_models() {
            return declared;
        }
        match resolved.queueable().delete_when_missing_models {
            Some(value) if laravel.serialize_drops_defaults() => !value,
            Some(value) => value,
            None => false,
        }
    }

    /// `handleJobException`: fail if tries/retryUntil/maxExceptions say so, else release with backoff.
    async fn on_exception(&self, error: JobError, action: Option<Action>, resolved: &Resolved) {
        if error.is_missing_model() {
            return self.on_missing_model(&error, resolved).await;
        }
        tracing::warn!(
            job_id = %self.id,
            exception = %printable(&error.to_string(), MESSAGE_LIMIT),
            attempts = self.job.attempts,
            "job raised an exception"
        );
        // PHP's order: a job that fails for good is failed first, then the exception reported.
        if let Some(Action::Fail(e)) = action {
            self.fail(&e, Some(resolved)).await;
            return self.exception_occurred(&error);
        }
        if error.is_permanent() || self.will_exceed().await {
            self.fail(&error, Some(resolved)).await;
            return self.exception_occurred(&error);
        }
        self.exception_occurred(&error);
        let delay = match action {
            Some(Action::Release(d)) => d,
            _ => self
                .payload
                .backoff_for(self.job.attempts)
                .unwrap_or_else(|| pick_backoff(&self.inner.options.backoff, self.job.attempts)),
        };
        if matches!(action, Some(Action::Delete)) {
            self.delete().await;
            self.outcome(Outcome::Processed);
        } else {
            self.release(delay).await;
            self.notify("job_released_after_exception", |o, job| {
                o.job_released_after_exception(job, delay)
            });
        }
    }

    /// The timeout path of `Worker::markJobAsFailedIfWillExceedMaxAttempts` after a timeout: fail if tries/maxExceptions/failOnTimeout say so; otherwise leave
    /// the job reserved so it returns after `retry_after`, as PHP's killed worker does.
    async fn on_timeout(&self, resolved: &Resolved) {
        let laravel = crate::laravel::Laravel::nearest(self.inner.options.laravel_version);
        let error = if laravel.has_timeout_exception() {
            JobError::with_class(exceptions::TIMEOUT, format!("{} has timed out.", self.name))
        } else {
            JobError::with_class(
                exceptions::MAX_ATTEMPTS,
                max_attempts_message(&self.name, 8),
            )
        };
        let exceed = self.will_exceed().await;
        if exceed || self.payload.fail_on_timeout == Some(true) {
            return self.fail(&error, Some(resolved)).await;
        }
        let queue = &self.inner.queue;
        let whereto = if queue.is_push() {
            // A delivery has no retry_after: it goes back now, with this attempt counted.
            match queue.after_timeout(&self.job).await {
                Ok(true) => "back on the queue with this attempt counted",
                Ok(false) => "given back by the broker when the connection closed",
                Err(e) => {
                    tracing::error!(error = %e, job_id = %self.id, "cannot put the timed-out job back; it stays unacknowledged until the connection closes");
                    "left unacknowledged"
                }
            }
        } else {
            "left reserved until retry_after"
        };
        tracing::warn!(job_id = %self.id, "job timed out; {whereto}");
        self.outcome(Outcome::TimedOut);
        if let Some(sink) = &self.inner.sink {
            sink.problem(
                Some(&self.id),
                &format!("Timed out: {} ({whereto})", self.name),
            );
        }
    }
}

pub(super) fn max_attempts_message(name: &str, version: u8) -> String {
    if crate::laravel::Laravel::nearest(version).has_timeout_exception() {
        format!("{name} has been attempted too many times.")
    } else {
        format!(
            "{name} has been attempted too many times or run too long. The job may have previously timed out."
        )
    }
}

/// Laravel's `Worker::process` for one reserved job.
pub(super) async fn process(inner: Arc<Inner>, job: ReservedJob, slot: Slot) {
    let limit = inner.options.max_payload_bytes;
    let too_big = limit > 0 && job.original.len() as u64 > limit;
    let (payload, undecodable) = if too_big {
        let message = format!(
            "the payload is {} bytes, more than --max-payload-bytes {limit}; it was not decoded or run",
            job.original.len()
        );
        (Arc::new(Payload::default()), Some(message))
    } else {
        match Payload::from_slice(&job.original) {
            Ok(payload) => (Arc::new(payload), None),
            Err(e) => (Arc::new(Payload::default()), Some(e.to_string())),
        }
    };
    // Both are only ever shown (output lines, logs, metrics labels, exception messages), and
    // both come from whoever pushed the payload: escaped and cut once, here.
    let name = match payload.resolve_name() {
        "" => "(unknown job)".to_owned(),
        n => printable(n, FIELD_LIMIT).into_owned(),
    };
    // The database driver's job id is the row id (its payload has no `id`).
    let id = match job.row_id {
        Some(row) => row.to_string(),
        None => printable(payload.id.as_deref().unwrap_or_default(), FIELD_LIMIT).into_owned(),
    };
    let tracker = inner
        .metrics
        .as_ref()
        .map(|m| m.job_started(&name, &job.queue));
    let run = Run {
        tracker,
        raw: Arc::from(job.original.as_slice()),
        inner,
        slot,
        job: Arc::new(job),
        payload,
        name,
        id,
    };
    run.say("Processing");
    run.notify("job_processing", |o, job| o.job_processing(job));
    if let Some(e) = undecodable {
        let err = JobError::with_class(exceptions::UNDECODABLE, e);
        return run.fail(&err, None).await;
    }
    if run.job.reservation == Reservation::Invalid {
        let err = JobError::with_class(
            exceptions::UNDECODABLE,
            "the payload has no numeric top-level \"attempts\" (Laravel's pop script would have dropped it)",
        );
        return run.fail(&err, None).await;
    }
    // The crash-loop check: a job back from a crash or timeout past its tries fails unrun.
    let now = now() as i64;
    let may_run = match run.payload.retry_until() {
        Some(until) => now <= until,
        None => {
            let max = run.max_tries();
            max == 0 || run.job.attempts <= max
        }
    };
    let resolved = match run.inner.registry.resolve(&run.payload) {
        Ok(r) => r,
        Err(e) => {
            if let Some(bus) = &run.inner.bus {
                match bus
                    .hand_back(&run.inner.queue, &run.job, &run.payload)
                    .await
                {
                    HandedBack::Yes => {
                        run.outcome(Outcome::HandedBack);
                        return run.say("Handed back");
                    }
                    HandedBack::Exhausted(e) => return run.fail(&e, None).await,
                    HandedBack::No => {}
                }
            }
            return run.fail(&e, None).await;
        }
    };
    if !may_run {
        let err = JobError::with_class(
            exceptions::MAX_ATTEMPTS,
            max_attempts_message(&run.name, run.inner.options.laravel_version),
        );
        return run.fail(&err, Some(&resolved)).await;
    }
    let timeout = run
        .payload
        .timeout
        .map(|t| u64::try_from(t).unwrap_or(0))
        .unwrap_or(run.inner.options.timeout);
    if let Some(bus) = &run.inner.bus {
        if bus
            .before_run(&run.payload, &resolved, run.job.attempts)
            .await
            == Before::Skip
        {
            return run.succeed(&resolved).await;
        }
    }
    // The job's middleware, in order, as CallQueuedHandler's pipeline runs them.
    let held = match run
        .inner
        .middleware
        .enter(&run.inner.registry, &run.payload, &resolved)
        .await
    {
        Gate::Run(held) => {
            run.middleware_unapplied("run_without", held.run_without());
            held
        }
        Gate::Release(delay) => {
            run.release(delay).await;
            run.say("Released by middleware");
            return run.processed();
        }
        Gate::Done => return run.succeed(&resolved).await,
        Gate::Fail(e) => {
            run.middleware_unapplied("fail", 1);
            return run.fail(&e, Some(&resolved)).await;
        }
        Gate::Error(e) => return run.on_exception(e, None, &resolved).await,
        Gate::HandBack => {
            run.middleware_unapplied("hand_back", 1);
            return run.hand_back_for_middleware().await;
        }
    };
    let mut ctx = run.context();
    let task_resolved = resolved.clone();
    let armed = match &run.inner.watchdog {
        Some(dog) if timeout > 0 => Some(dog.arm(Duration::from_secs(timeout), &run.name, &run.id)),
        _ => None,
    };
    let mut task = tokio::spawn(async move {
        // Dropped with this future: when the handler returns, or when an abort reaches it.
        let _armed = armed;
        let result = task_resolved.run(&mut ctx).await;
        (result, ctx.action.take())
    });
    // If this job's task is aborted (a forced stop), the handler must stop with it.
    let _abort_handler = crate::spawned::AbortOnDrop(task.abort_handle());
    let outcome = if timeout > 0 {
        match tokio::time::timeout(Duration::from_secs(timeout), &mut task).await {
            Ok(joined) => Some(joined),
            Err(_) => {
                task.abort();
                None
            }
        }
    } else {
        Some((&mut task).await)
    };
    // PHP releases a WithoutOverlapping lock in a `finally`, before the worker settles the job.
    // A timed-out handler is stopped here, so its lock goes too (PHP's killed worker keeps it
    // until it expires).
    // ThrottlesExceptions: a count cleared after success; after an exception that PHP's pipeline
    // would have seen (not a command larq could not decode, a missing model or a job the handler
    // failed itself), counted, and the job released instead of handled as an exception.
    let threw = match &outcome {
        Some(Err(_)) => Some(true),
        Some(Ok((Err(e), action))) => {
            (!e.is_permanent() && !e.is_missing_model() && !matches!(action, Some(Action::Fail(_))))
                .then_some(true)
        }
        Some(Ok((Ok(()), _))) => Some(false),
        None => None,
    };
    // FailOnException: the job fails at once (PHP calls `$job->fail($e)`, then rethrows).
    if let Some(Ok((Err(e), action))) = &outcome {
        if held.fails_on(e) && !matches!(action, Some(Action::Fail(_))) {
            held.release().await;
            run.fail(e, Some(&resolved)).await;
            return run.exception_occurred(e);
        }
    }
    let throttled = match threw {
        Some(threw) => held.settle(threw).await,
        None => None,
    };
    held.release().await;
    if let Some(delay) = throttled {
        run.release(delay).await;
        run.say("Released by middleware");
        return run.processed();
    }
    match outcome {
        None => run.on_timeout(&resolved).await,
        Some(Err(join_error)) => {
            let err = JobError::with_class(
                exceptions::PANIC,
                format!(
                    "the handler panicked: {}",
                    crate::spawned::panic_message(join_error)
                ),
            );
            run.on_exception(err, None, &resolved).await;
        }
        Some(Ok((Err(err), action))) => run.on_exception(err, action, &resolved).await,
        Some(Ok((Ok(()), action))) => match action {
            Some(Action::Fail(e)) => {
                run.fail(&e, Some(&resolved)).await;
                run.processed();
            }
            Some(Action::Release(delay)) => {
                run.release(delay).await;
                run.say("Processed");
                run.processed();
            }
            Some(Action::Delete) | None => run.succeed(&resolved).await,
        },
    }
}
