//! Unique jobs (`ShouldBeUnique`, `ShouldBeUniqueUntilProcessing`; Laravel's `Illuminate\Bus\UniqueLock`).
//!
//! When PHP dispatches a unique job it takes a cache lock (`SET key owner EX uniqueFor NX`) and
//! silently drops the dispatch if the lock is held. The worker that runs the job must release it:
//!
//! * `ShouldBeUnique` ([`Unique::UntilProcessed`]): after the handler returns without releasing the
//!   job (success, `delete()` or `fail()`), and when the job fails for good. A job released back to
//!   the queue (an exception with tries left, or `release()`) keeps its lock.
//! * `ShouldBeUniqueUntilProcessing` ([`Unique::UntilProcessing`]): just before the handler runs
//!   (Laravel 8–10: right after unserializing; not on failure).
//!
//! The payload does not say whether a class is unique, nor which `uniqueId()` it has, so the Rust
//! handler declares it: [`crate::Job::UNIQUE`] and [`crate::Job::unique_id`] (else the command's
//! `uniqueId` property, else `''`).
//!
//! Lock key on the cache store's lock connection (Redis `default`, DB 0 in the skeleton):
//! `{P}{C}:laravel_unique_job:<Class><uniqueId>` for Laravel 8–10, `{P}{C}laravel_unique_job:<Class>:<uniqueId>`
//! for 11.x (12.54+'s xxh128 of `displayName()` is not implemented). Release is Laravel's
//! `forceRelease`: a plain `DEL`, whoever the owner.

use crate::cache::CacheError;
use crate::cache::CacheStore;

pub use crate::job::Unique;

/// The cache name of a unique job's lock (without the store prefix).
pub(crate) fn lock_name(class: &str, unique_id: &str, laravel_version: u8) -> String {
    if laravel_version >= 11 {
        format!("laravel_unique_job:{class}:{unique_id}")
    } else {
        format!("laravel_unique_job:{class}{unique_id}")
    }
}

/// The app's lock store: releases unique-job locks.
#[derive(Debug, Clone)]
pub struct UniqueLocks {
    store: CacheStore,
    laravel_version: u8,
}

impl UniqueLocks {
    /// Locks in `store`, which must point at the cache store's **lock** connection (Redis DB 0 in
    /// the skeleton, not the cache DB) with the cache prefix (`Settings::cache_key("")`).
    pub fn new(store: CacheStore, laravel_version: u8) -> UniqueLocks {
        UniqueLocks {
            store,
            laravel_version,
        }
    }

    /// The physical key of a job's lock.
    pub fn key(&self, class: &str, unique_id: &str) -> String {
        self.store
            .key(&lock_name(class, unique_id, self.laravel_version))
    }

    /// `forceRelease()` the lock of a job.
    pub async fn release(&self, class: &str, unique_id: &str) -> Result<(), CacheError> {
        self.store
            .forget(&lock_name(class, unique_id, self.laravel_version))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_follow_the_version() {
        assert_eq!(
            lock_name("App\\Jobs\\UniqueJob", "product-77", 8),
            "laravel_unique_job:App\\Jobs\\UniqueJobproduct-77"
        );
        assert_eq!(
            lock_name("App\\Jobs\\UniqueJob", "product-77", 11),
            "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"
        );
    }
}
