//! Laravel's `file` cache store, for the `queue:restart` signal and paused queues.
//!
//! `CACHE_DRIVER=file` is the Laravel 8–10 skeleton's default, and many apps that queue on Redis
//! keep it. `php artisan queue:restart` then writes the restart time into a file under
//! `storage/framework/cache/data`, not into Redis, and a worker that only looks in Redis would
//! never restart on a deploy (nor see `queue:pause`). This module reads and writes plain entries
//! the way Laravel's `FileStore` does (8 through 13 keep the same layout):
//!
//! * the path of key `k` is `<dir>/<h[0..2]>/<h[2..4]>/<h>`, `h` the hex SHA-1 of `k` (the file
//!   store has no key prefix);
//! * the contents are ten digits of expiry time (`9999999999` for `Cache::forever`, else the unix
//!   time it expires) followed by the PHP-serialized value (`i:1764000000;` for the restart time,
//!   `b:1;` for a pause).
//!
//! The restart signal, queue pauses and unique-lock releases use it; `maxExceptions` counters on a file cache
//! stay unsupported (docs/compatibility.md).

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

/// A file cache read or write failed.
#[derive(Debug, thiserror::Error)]
#[error("file cache {path}: {source}")]
pub struct FileCacheError {
    /// The entry's file.
    pub path: PathBuf,
    /// What the filesystem said.
    pub source: std::io::Error,
}

/// The app's file cache directory (`config('cache.stores.file.path')`).
#[derive(Debug, Clone)]
pub struct FileCache {
    dir: PathBuf,
    /// Put before a lock's name (`file-store-lock:` from Laravel 13; none before).
    lock_prefix: String,
}

impl FileCache {
    /// The store rooted at `dir` (Laravel's default: `<app>/storage/framework/cache/data`).
    pub fn new(dir: impl Into<PathBuf>) -> FileCache {
        FileCache {
            dir: dir.into(),
            lock_prefix: String::new(),
        }
    }

    /// The same store naming its locks `<prefix><name>` (Laravel 13's `file-store-lock:`).
    pub fn with_lock_prefix(mut self, prefix: impl Into<String>) -> FileCache {
        self.lock_prefix = prefix.into();
        self
    }

    /// The entry a lock named `name` lives in.
    pub fn lock_name(&self, name: &str) -> String {
        format!("{}{name}", self.lock_prefix)
    }

    /// The directory entries live under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `key` lives.
    pub fn path(&self, key: &str) -> PathBuf {
        let hash: String = Sha1::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(&hash[0..2]).join(&hash[2..4]).join(&hash)
    }

    /// The serialized value of `key`, or `None` when there is no entry or it has expired at
    /// `now` (unix seconds). Contents without a readable expiry are returned whole: for the
    /// restart signal any change of the file is what counts.
    pub async fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, FileCacheError> {
        let path = self.path(key);
        let contents = match tokio::fs::read(&path).await {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FileCacheError { path, source }),
        };
        Ok(value_at(contents, now))
    }

    /// Store an integer forever, as `Cache::forever($key, $int)` does (`larq restart`).
    pub async fn forever_int(&self, key: &str, value: i64) -> Result<(), FileCacheError> {
        self.put_serialized(key, format!("i:{value};").as_bytes(), None, 0)
            .await
    }

    /// Store a value given as PHP's `serialize()` of it, as `FileStore::put` does: the expiry
    /// `now + ttl` as ten digits (`9999999999` for `None`, for 0 and for anything past it, as
    /// Laravel writes for `forever`), then the serialized value.
    ///
    /// The file is written beside its final name and renamed into place, so a worker reading it
    /// meanwhile sees the old entry or the new one, never half of one.
    pub async fn put_serialized(
        &self,
        key: &str,
        serialized: &[u8],
        ttl: Option<u64>,
        now: u64,
    ) -> Result<(), FileCacheError> {
        let path = self.path(key);
        let mut contents = expiry(ttl, now).into_bytes();
        contents.extend_from_slice(serialized);
        replace_file(&path, &contents)
            .await
            .map_err(|source| FileCacheError { path, source })
    }

    /// `FileStore::add`: with the entry's file locked (`flock`, as PHP's `LockableFile` locks
    /// it), write the value for `ttl` seconds (0: forever) unless a live entry is there;
    /// whether it was written. The write is in place, under the lock, as PHP's is.
    pub async fn add_serialized(
        &self,
        key: &str,
        serialized: &[u8],
        ttl: u64,
        now: u64,
    ) -> Result<bool, FileCacheError> {
        let path = self.path(key);
        let mut contents = expiry(Some(ttl), now).into_bytes();
        contents.extend_from_slice(serialized);
        let at = path.clone();
        tokio::task::spawn_blocking(move || add_locked(&at, &contents, now))
            .await
            .map_err(std::io::Error::other)
            .and_then(|added| added)
            .map_err(|source| FileCacheError { path, source })
    }

    /// `FileStore::increment`: the entry's number plus `by`, written back with its expiry; a
    /// missing or expired entry counts from 0 and is kept forever, as PHP's does.
    pub async fn increment(&self, key: &str, by: i64, now: u64) -> Result<i64, FileCacheError> {
        let path = self.path(key);
        let contents = match tokio::fs::read(&path).await {
            Ok(c) => Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(FileCacheError { path, source }),
        };
        let live = contents.filter(|c| value_at(c.clone(), now).is_some());
        let (digits, current) = match &live {
            Some(c) => (
                String::from_utf8_lossy(&c[..10.min(c.len())]).into_owned(),
                super::php_int(&c[10.min(c.len())..]).unwrap_or(0),
            ),
            None => (expiry(None, now), 0),
        };
        let n = current.saturating_add(by);
        let mut out = digits.into_bytes();
        out.extend_from_slice(format!("i:{n};").as_bytes());
        replace_file(&path, &out)
            .await
            .map_err(|source| FileCacheError { path, source })?;
        Ok(n)
    }
}

/// Write `contents` beside `path` and rename it into place, so a reader sees the old entry or
/// the new one, never half of one.
async fn replace_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let tmp = path.with_extension(format!("larq-{}", std::process::id()));
    tokio::fs::write(&tmp, contents).await?;
    tokio::fs::rename(&tmp, path).await
}

/// [`FileCache::add_serialized`]'s locked part.
fn add_locked(path: &Path, contents: &[u8], now: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // SAFETY: flock on a descriptor this function owns; the lock goes when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut head = Vec::with_capacity(10);
    (&mut file).take(10).read_to_end(&mut head)?;
    let head = String::from_utf8_lossy(&head);
    // PHP's `empty($expire) || now >= $expire`: nothing (or "0") there, or its time is past.
    let free = match head.trim() {
        "" | "0" => true,
        digits => digits.parse::<u64>().is_ok_and(|at| now >= at),
    };
    if !free {
        return Ok(false);
    }
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(contents)?;
    Ok(true)
}

/// The ten expiry digits `FileStore::expiration` writes for a lifetime of `ttl` seconds.
fn expiry(ttl: Option<u64>, now: u64) -> String {
    const LAST: u64 = 9_999_999_999;
    let at = match ttl {
        None | Some(0) => LAST,
        Some(secs) => now.saturating_add(secs).min(LAST),
    };
    format!("{at:010}")
}

impl FileCache {
    /// Delete the entry of `key`, as `Cache::forget` does; a missing entry is no error.
    pub async fn forget(&self, key: &str) -> Result<(), FileCacheError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FileCacheError { path, source }),
        }
    }
}

/// The value part of an entry's contents, unless its expiry has passed.
fn value_at(mut contents: Vec<u8>, now: u64) -> Option<Vec<u8>> {
    let expiry = contents
        .get(..10)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u64>().ok());
    match expiry {
        Some(at) if now >= at => None,
        Some(_) => Some(contents.split_off(10)),
        None => Some(contents),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_laravels_sha1_layout() {
        // A known SHA-1 (FIPS 180-2's "abc"): two levels of two hex digits, then the whole hash.
        // That PHP finds the same file is shown by tests/integration/cli_ops.rs (artisan queue:restart).
        assert_eq!(
            FileCache::new("/d").path("abc"),
            PathBuf::from("/d/a9/99/a9993e364706816aba3e25717850c26c9cd0d89d")
        );
    }

    #[test]
    fn expiry_is_honoured_and_forever_is_forever() {
        assert_eq!(
            value_at(b"9999999999i:5;".to_vec(), 1_764_000_000),
            Some(b"i:5;".to_vec())
        );
        assert_eq!(value_at(b"1764000000i:5;".to_vec(), 1_764_000_000), None);
        assert_eq!(
            value_at(b"1764000001i:5;".to_vec(), 1_764_000_000),
            Some(b"i:5;".to_vec())
        );
        assert_eq!(value_at(b"garbage".to_vec(), 1), Some(b"garbage".to_vec()));
    }

    #[test]
    fn expiry_digits() {
        assert_eq!(expiry(None, 1_764_000_000), "9999999999");
        assert_eq!(expiry(Some(0), 1_764_000_000), "9999999999");
        assert_eq!(expiry(Some(60), 1_764_000_000), "1764000060");
        assert_eq!(expiry(Some(u64::MAX), 1_764_000_000), "9999999999");
        assert_eq!(expiry(Some(5), 7), "0000000012");
    }

    #[tokio::test]
    async fn put_serialized_with_a_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        cache
            .put_serialized("p", b"b:1;", Some(30), 1_764_000_000)
            .await
            .unwrap();
        assert_eq!(std::fs::read(cache.path("p")).unwrap(), b"1764000030b:1;");
        assert_eq!(
            cache.get("p", 1_764_000_029).await.unwrap(),
            Some(b"b:1;".to_vec())
        );
        assert_eq!(cache.get("p", 1_764_000_030).await.unwrap(), None);
    }

    #[tokio::test]
    async fn forever_int_then_get() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        assert_eq!(cache.get("k", 1).await.unwrap(), None);
        cache.forever_int("k", 1_764_000_123).await.unwrap();
        assert_eq!(
            std::fs::read(cache.path("k")).unwrap(),
            b"9999999999i:1764000123;"
        );
        assert_eq!(
            cache.get("k", 1_764_000_200).await.unwrap(),
            Some(b"i:1764000123;".to_vec())
        );
    }

    #[tokio::test]
    async fn add_writes_only_over_nothing_or_an_expired_entry_and_increment_keeps_the_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        let now = 1_764_000_000;
        assert!(cache.add_serialized("a", b"i:0;", 60, now).await.unwrap());
        assert!(!cache
            .add_serialized("a", b"i:9;", 60, now + 59)
            .await
            .unwrap());
        assert_eq!(cache.increment("a", 1, now + 1).await.unwrap(), 1);
        assert_eq!(std::fs::read(cache.path("a")).unwrap(), b"1764000060i:1;");
        assert!(cache
            .add_serialized("a", b"i:5;", 0, now + 60)
            .await
            .unwrap());
        assert_eq!(std::fs::read(cache.path("a")).unwrap(), b"9999999999i:5;");
        // PHP's increment of a missing entry: 0 + by, kept forever.
        assert_eq!(cache.increment("b", 2, now).await.unwrap(), 2);
        assert_eq!(std::fs::read(cache.path("b")).unwrap(), b"9999999999i:2;");
        let locks = FileCache::new(dir.path()).with_lock_prefix("file-store-lock:");
        assert_eq!(locks.lock_name("x"), "file-store-lock:x");
    }

    #[tokio::test]
    async fn put_with_a_ttl_writes_its_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        cache
            .put_serialized("p", b"b:1;", Some(60), 1_764_000_000)
            .await
            .unwrap();
        assert_eq!(std::fs::read(cache.path("p")).unwrap(), b"1764000060b:1;");
        assert_eq!(
            cache.get("p", 1_764_000_059).await.unwrap(),
            Some(b"b:1;".to_vec())
        );
        assert_eq!(cache.get("p", 1_764_000_060).await.unwrap(), None);
    }
}
