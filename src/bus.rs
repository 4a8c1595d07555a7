//! What Laravel's bus does around a job besides running it: continuing chains, batch bookkeeping,
//! releasing unique locks, and the policy for framework wrappers only PHP can run.
//!
//! [`BusFeatures`] gathers the pieces ([`crate::chain`], [`crate::batch`], [`crate::unique`],
//! [`crate::wrappers`]) and the worker calls it at the points `CallQueuedHandler` does
//! (`CallQueuedHandler::call`, `ensureNextJobInChainIsDispatched`, `ensureSuccessfulBatchJobIsRecorded`): before the handler (`ShouldBeUniqueUntilProcessing` lock, cancelled batch), after a
//! handler that did not release the job (unique lock, next chain link **before** the job is
//! deleted, batch success), and when a job fails for good (unique lock, batch failure, a note in
//! failed_jobs about PHP callbacks that could not run).
//!
//! ```no_run
//! # async fn demo(queue: larq::RedisQueue, registry: larq::Registry, locks: larq::unique::UniqueLocks,
//! #               batches: larq::batch::BatchRepository) {
//! use larq::bus::BusFeatures;
//! use larq::wrappers::{WrapperPolicies, WrapperPolicy};
//!
//! let bus = BusFeatures::new("default")
//!     .batches(batches)
//!     .unique_locks(locks)
//!     .wrappers(WrapperPolicies::new().queue("mail", WrapperPolicy::HandBack));
//! let worker = larq::Worker::builder(queue, registry).bus(bus).build();
//! # }
//! ```

use std::sync::Arc;

use crate::batch::{self, BatchRepository};
use crate::cache::CacheStore;
use crate::chain;
use crate::dispatch::Dispatcher;
use crate::job::{exceptions, JobError, Registry, Resolved};
use crate::payload::queueable::Queueable;
use crate::payload::Payload;
use crate::queue::{Queue, ReservedJob};
use crate::unique::{Unique, UniqueLocks};
use crate::wrappers::{self, WrapperPolicies, WrapperPolicy};

/// Chains, batches, unique locks and wrapper policies for a worker.
#[derive(Debug, Clone)]
pub struct BusFeatures {
    default_queue: String,
    dispatcher: Option<Dispatcher>,
    batches: Option<BatchRepository>,
    locks: Option<UniqueLocks>,
    wrappers: WrapperPolicies,
    counter: Option<CacheStore>,
    skip_cancelled: bool,
}

/// What to do before running a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Before {
    Run,
    /// The job's batch was cancelled: complete it without running the handler.
    Skip,
}

/// What the wrapper policy did with a job only PHP can run.
#[derive(Debug)]
pub(crate) enum HandedBack {
    /// The policy is `fail` (or the job is not PHP-only): fail it as usual.
    No,
    /// Put back for PHP.
    Yes,
    /// Handed back too often: fail with this error.
    Exhausted(JobError),
}

/// The job's batch: its `batchId` property, else the payload's (Laravel 10+ writes it there too).
fn batch_id(queueable: &Queueable, payload: &Payload) -> Option<String> {
    queueable
        .batch_id
        .clone()
        .or_else(|| payload.data.batch_id.clone().filter(|s| !s.is_empty()))
}

impl BusFeatures {
    /// Features for a connection whose default queue (`REDIS_QUEUE`) is `default_queue`; chain
    /// links that name no queue go there. Nothing but chains is on until configured.
    pub fn new(default_queue: impl Into<String>) -> BusFeatures {
        BusFeatures {
            default_queue: default_queue.into(),
            dispatcher: None,
            batches: None,
            locks: None,
            wrappers: WrapperPolicies::default(),
            counter: None,
            skip_cancelled: true,
        }
    }

    /// Push chain links with this dispatcher (default: one on the worker's own queue connection,
    /// with the registry's encrypter).
    pub fn dispatcher(mut self, dispatcher: Dispatcher) -> BusFeatures {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Keep `job_batches` up to date.
    pub fn batches(mut self, repository: BatchRepository) -> BusFeatures {
        self.batches = Some(repository);
        self
    }

    /// Release unique-job locks.
    pub fn unique_locks(mut self, locks: UniqueLocks) -> BusFeatures {
        self.locks = Some(locks);
        self
    }

    /// Wrapper policies per queue.
    pub fn wrappers(mut self, policies: WrapperPolicies) -> BusFeatures {
        self.wrappers = policies;
        self
    }

    /// Count hand-backs per job in this cache store (enables [`wrappers::HandBack::max`]).
    pub fn hand_back_counter(mut self, cache: CacheStore) -> BusFeatures {
        self.counter = Some(cache);
        self
    }

    /// Whether the bus ends jobs of a cancelled batch unrun: it has a batch repository and
    /// was not told otherwise.
    pub fn skips_cancelled_batches(&self) -> bool {
        self.skip_cancelled && self.batches.is_some()
    }

    /// Whether jobs of a cancelled batch are skipped (default true; see [`crate::batch`]).
    pub fn skip_cancelled_batches(mut self, skip: bool) -> BusFeatures {
        self.skip_cancelled = skip;
        self
    }

    /// Fill in the default dispatcher from the worker's queue (called by the worker builder); its
    /// chain links have the payload shape of the worker's Laravel version.
    pub(crate) fn with_default_dispatcher(
        mut self,
        queue: &Arc<Queue>,
        registry: &Registry,
        laravel_version: u8,
    ) -> BusFeatures {
        if self.dispatcher.is_none() {
            let mut d = Dispatcher::for_queue(Arc::clone(queue), self.default_queue.clone())
                .with_laravel_version(laravel_version);
            if let Some(enc) = registry.encrypter() {
                d = d.with_encrypter(enc.clone());
            }
            self.dispatcher = Some(d);
        }
        self
    }

    async fn release_lock(&self, payload: &Payload, resolved: &Resolved) {
        let Some(locks) = &self.locks else { return };
        let class = payload.data.command_name.as_deref().unwrap_or_default();
        let id = resolved
            .unique_id()
            .unwrap_or_else(|| resolved.queueable().unique_id.clone().unwrap_or_default());
        let owner = resolved.queueable().unique_lock_owner.as_deref();
        if let Err(e) = locks.release_owned(class, &id, owner).await {
            tracing::warn!(error = %e, class, unique_id = %id, "cannot release the unique lock");
        }
    }

    /// Before the handler: release a `ShouldBeUniqueUntilProcessing` lock; skip a job of a
    /// cancelled batch.
    pub(crate) async fn before_run(
        &self,
        payload: &Payload,
        resolved: &Resolved,
        attempts: i64,
    ) -> Before {
        if resolved.unique() == Some(Unique::UntilProcessing) {
            let version = self.locks.as_ref().map_or(8, UniqueLocks::laravel_version);
            let guarded =
                crate::laravel::Laravel::nearest(version).guards_until_processing_release();
            if !guarded || attempts <= 1 || resolved.queueable().unique_lock_owner.is_some() {
                self.release_lock(payload, resolved).await;
            }
        }
        if let (true, Some(repo)) = (self.skip_cancelled, &self.batches) {
            if let Some(id) = batch_id(resolved.queueable(), payload) {
                match repo.find(&id).await {
                    Ok(Some(row)) if row.cancelled_at.is_some() => {
                        tracing::info!(batch = %id, "the job's batch was cancelled; skipping it");
                        return Before::Skip;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, batch = %id, "cannot read the batch"),
                }
            }
        }
        Before::Run
    }

    /// After a handler that did not release the job (success, `delete()`): release the unique
    /// lock, dispatch the next chain link, record the batch success. An error (the next link
    /// could not be pushed) is the job's exception, as a failing `dispatch()` is in PHP.
    pub(crate) async fn after_success(
        &self,
        payload: &Payload,
        resolved: &Resolved,
    ) -> Result<(), JobError> {
        if resolved.unique() == Some(Unique::UntilProcessed) {
            self.release_lock(payload, resolved).await;
        }
        if let Some(next) = chain::next_link(resolved.queueable()).map_err(|e| {
            JobError::with_class("Larq\\Queue\\ChainError", e.to_string()).permanent()
        })? {
            let Some(dispatcher) = &self.dispatcher else {
                return Err(JobError::new("no dispatcher to continue the chain"));
            };
            let mut options = next.options.clone();
            // The next link is encrypted if it asks to be, or if this link was (the interface
            // `ShouldBeEncrypted` is not visible in a serialized object).
            let encrypted = payload
                .data
                .command
                .as_deref()
                .is_some_and(|c| !c.starts_with("O:") && !c.starts_with("C:"));
            options.encrypt |= encrypted && dispatcher.encrypter().is_some();
            let pushed = dispatcher
                .push_command(&next.class, &next.command, &options)
                .await
                .map_err(|e| {
                    JobError::new(format!("cannot dispatch the next job in the chain: {e}"))
                })?;
            tracing::info!(next = %next.class, uuid = %pushed.uuid, queue = %pushed.queue, "dispatched the next job in the chain");
        }
        self.record_batch(payload, resolved.queueable(), None).await;
        Ok(())
    }

    async fn record_batch(&self, payload: &Payload, queueable: &Queueable, failed: Option<&str>) {
        let Some(repo) = &self.batches else { return };
        let Some(id) = batch_id(queueable, payload) else {
            return;
        };
        let uuid = payload.uuid.as_deref().unwrap_or_default();
        let result = match failed {
            None => repo.record_success(&id, uuid).await,
            Some(_) => repo.record_failure(&id, uuid).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, batch = %id, "cannot update job_batches");
        }
    }

    /// A note for the failed_jobs exception text about PHP callbacks larq could not run (chain
    /// catch callbacks, batch catch/finally callbacks).
    pub(crate) async fn failure_note(
        &self,
        registry: &Registry,
        payload: &Payload,
    ) -> Option<String> {
        let command = registry.command_bytes(payload).ok()?;
        let queueable = Queueable::from_command(&command).unwrap_or_default();
        let mut notes = Vec::new();
        if let Some(n) = chain::catch_note(queueable.catch_callbacks()) {
            notes.push(n);
        }
        if let Some(repo) = &self.batches {
            if let Some(id) = batch_id(&queueable, payload) {
                if let Ok(Some(row)) = repo.find(&id).await {
                    notes.extend(batch::failure_note(&row));
                }
            }
        }
        (!notes.is_empty()).then(|| notes.join("\n"))
    }

    /// After a job failed for good: release a `ShouldBeUnique` lock, record the batch failure.
    pub(crate) async fn after_failure(
        &self,
        registry: &Registry,
        payload: &Payload,
        resolved: Option<&Resolved>,
    ) {
        if let Some(resolved) = resolved {
            if resolved.unique() == Some(Unique::UntilProcessed) {
                self.release_lock(payload, resolved).await;
            }
        }
        let read;
        let queueable = match resolved {
            Some(r) => r.queueable(),
            None => match registry.command_bytes(payload) {
                Ok(c) => {
                    read = Queueable::from_command(&c).unwrap_or_default();
                    &read
                }
                Err(_) => return,
            },
        };
        self.record_batch(payload, queueable, Some("failed")).await;
    }

    /// Seconds a handed-back job waits before it is due again.
    pub(crate) fn hand_back_delay(&self) -> u64 {
        self.wrappers.hand_back.delay
    }

    /// Apply the wrapper policy to a job larq cannot run because only PHP can.
    pub(crate) async fn hand_back(
        &self,
        queue: &Queue,
        job: &ReservedJob,
        payload: &Payload,
    ) -> HandedBack {
        if !wrappers::is_php_only_payload(payload)
            || self.wrappers.for_queue(&job.queue) != WrapperPolicy::HandBack
        {
            return HandedBack::No;
        }
        let policy = self.wrappers.hand_back;
        if let (Some(cache), Some(uuid), true) =
            (&self.counter, payload.uuid.as_deref(), policy.max > 0)
        {
            let name = format!("larq:handed-back:{uuid}");
            match cache.count(&name, 86_400).await {
                Ok(n) if n as u64 > policy.max => {
                    let _ = cache.forget(&name).await;
                    return HandedBack::Exhausted(
                        JobError::with_class(
                            exceptions::UNKNOWN,
                            format!(
                                "{} ({}) can only run in PHP, and no PHP worker took it after {} hand-backs on queue {}",
                                payload.data.command_name.as_deref().unwrap_or_default(),
                                payload.resolve_name(),
                                policy.max,
                                job.queue
                            ),
                        )
                        .permanent(),
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot count the hand-back"),
            }
        }
        match queue.hand_back(job, policy.delay).await {
            Ok(true) => HandedBack::Yes,
            Ok(false) => {
                tracing::warn!("hand back: the reservation had already expired");
                HandedBack::Yes
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot hand the job back; it stays reserved until retry_after");
                HandedBack::Yes
            }
        }
    }
}
