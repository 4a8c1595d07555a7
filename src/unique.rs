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
//! Lock name: [`Laravel::unique_lock_name`] (`laravel_unique_job:<Class><uniqueId>` for Laravel
//! 8–10, `laravel_unique_job:<Class>:<uniqueId>` from 11; 12.54+'s xxh128 of a `displayName()`
//! the job class defines is not implemented), under the cache prefix of the store's lock side:
//! the Redis store's lock connection (`default`, DB 0 in the skeleton), a `cache_locks` row for
//! the database store, a file for the file store. Release is Laravel's `forceRelease`: the lock
//! goes whoever owns it, unless the job carries the lock's owner (Laravel 13's `uniqueLockOwner`):
//! then it goes only while that owner still holds it, as `restoreLock($key, $owner)->release()`.

use crate::cache::CacheError;
use crate::cache::CacheStore;
use crate::laravel::Laravel;

pub use crate::job::Unique;

/// The app's lock store: releases unique-job locks.
#[derive(Debug, Clone)]
pub struct UniqueLocks {
    store: CacheStore,
    laravel: Laravel,
}

impl UniqueLocks {
    /// Locks in `store`, which must point at the cache store's **lock** side (Redis: the lock
    /// connection, DB 0 in the skeleton, not the cache DB) with the cache prefix
    /// (`Settings::cache_key("")` for Redis).
    pub fn new(store: CacheStore, laravel: impl Into<Laravel>) -> UniqueLocks {
        UniqueLocks {
            store,
            laravel: laravel.into(),
        }
    }

    /// The lock store (WithoutOverlapping takes its locks there too).
    pub fn store(&self) -> &CacheStore {
        &self.store
    }

    /// The Laravel major version whose lock names and release rules these follow.
    pub fn laravel_version(&self) -> u8 {
        self.laravel.major()
    }

    /// The physical key of a job's lock.
    pub fn key(&self, class: &str, unique_id: &str) -> String {
        self.store
            .lock_key(&self.laravel.unique_lock_name(class, unique_id))
    }

    /// `forceRelease()` the lock of a job.
    pub async fn release(&self, class: &str, unique_id: &str) -> Result<(), CacheError> {
        self.release_owned(class, unique_id, None).await
    }

    /// Release the lock of a job the way its Laravel does: with `owner` (the job's non-empty
    /// `uniqueLockOwner`) only while that owner holds it, else `forceRelease()`.
    pub async fn release_owned(
        &self,
        class: &str,
        unique_id: &str,
        owner: Option<&str>,
    ) -> Result<(), CacheError> {
        let name = self.laravel.unique_lock_name(class, unique_id);
        match owner.filter(|o| !o.is_empty()) {
            Some(owner) => self.store.release_lock(&name, owner).await,
            None => self.store.force_release(&name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_follow_the_version() {
        let locks = |v: u8| UniqueLocks::new(CacheStore::file("/c"), v);
        assert_eq!(
            locks(8)
                .laravel
                .unique_lock_name("App\\Jobs\\UniqueJob", "product-77"),
            "laravel_unique_job:App\\Jobs\\UniqueJobproduct-77"
        );
        assert_eq!(
            locks(11)
                .laravel
                .unique_lock_name("App\\Jobs\\UniqueJob", "product-77"),
            "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"
        );
    }
}
