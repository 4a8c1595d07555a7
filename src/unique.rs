//! Unique jobs (`ShouldBeUnique`, `ShouldBeUniqueUntilProcessing`; Laravel's `Illuminate\Bus\UniqueLock`).
//!
//! When PHP dispatches a unique job it takes a cache lock (`SET key owner EX uniqueFor NX`) and
//! silently drops the dispatch if the lock is held. The worker that runs the job must release it:
//!
//! * `ShouldBeUnique` ([`Unique::UntilProcessed`]): after the handler returns without releasing the
//!   job (success, `delete()` or `fail()`), and when the job fails for good. A job released back to
//!   the queue (an exception with tries left, or `release()`) keeps its lock.
//! * `ShouldBeUniqueUntilProcessing` ([`Unique::UntilProcessing`]): just before the handler runs
//!   (Laravel 8–10: right after unserializing; not on failure). 13 releases it there only on
//!   the job's first attempt or when the job carries the lock's owner.
//!
//! The payload does not say whether a class is unique, nor which `uniqueId()` it has, so the Rust
//! handler declares it: [`crate::Job::UNIQUE`] and [`crate::Job::unique_id`] (else the command's
//! `uniqueId` property, else `''`).
//!
//! Lock key on the cache store's lock connection (Redis `default`, DB 0 in the skeleton):
//! `{P}{C}:laravel_unique_job:<Class><uniqueId>` for Laravel 8–10, `{P}{C}laravel_unique_job:<Class>:<uniqueId>`
//! from 11 (13's xxh128 of `displayName()`, used when the class has a `displayName()` method, is
//! not implemented: the class is not visible to larq, so the key is always the class name's).
//! Release up to 12 is Laravel's `forceRelease`: a plain `DEL`, whoever the owner. 13 releases by
//! owner: the job carries `uniqueLockOwner`, and only a lock that owner still holds is deleted
//! ([`UniqueLocks::release_owned`]).

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

    /// The Laravel major version whose lock names and release rules these follow.
    pub fn laravel_version(&self) -> u8 {
        self.laravel_version
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

    /// Release the lock of a job as its Laravel version does: from 13, a job that carries the
    /// lock's owner (`uniqueLockOwner`, set when PHP took the lock) releases only a lock that
    /// owner still holds, so a lock that expired and was taken by a later dispatch stays;
    /// without an owner (or before 13), `forceRelease()`.
    pub async fn release_owned(
        &self,
        class: &str,
        unique_id: &str,
        owner: Option<&str>,
    ) -> Result<(), CacheError> {
        // version: 13's UniqueLock::release restores the lock by owner; 8 to 11 force it.
        match owner.filter(|o| !o.is_empty() && self.laravel_version >= 13) {
            Some(owner) => {
                let name = lock_name(class, unique_id, self.laravel_version);
                if !self.store.release_lock(&name, owner).await? {
                    tracing::info!(lock = %self.store.key(&name), "the unique lock has another owner now; left in place");
                }
                Ok(())
            }
            None => self.release(class, unique_id).await,
        }
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
