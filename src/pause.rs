//! Paused queues (`php artisan queue:pause`, `queue:resume`; `Queue::pause()`, `pauseFor()`,
//! `pauseAll()`, `resume()`, `resumeAll()` on Laravel's `QueueManager`).
//!
//! A pause is an entry in the app's cache store, so every worker on every host sees it:
//!
//! * `illuminate:queue:paused:{connection}:{queue}` holds PHP's `true` while one queue is paused,
//!   stored forever (`pause`) or for a number of seconds (`pauseFor`, which forgets the key for
//!   0 or less, as `Cache::put` does). Laravel 12.40 brought it.
//! * `illuminate:queues:paused` holds `true` while every queue of every connection is paused
//!   (`queue:pause --all`, Laravel 13). Resuming all leaves the queues paused one by one paused:
//!   the two switches are independent.
//!
//! The worker (`Worker::getNextJob`) reads the pause state before every pop, in one round: the
//! pause-all key, then the keys of all its `--queue`s at once (`Cache::many`). It skips a paused
//! queue (no migration of its delayed jobs, no blocking pop) and goes on to the next; when every
//! queue is paused the round finds no job, so the worker sleeps `--sleep`, and a
//! `--stop-when-empty` worker exits as if the queues were empty. Laravel 8–11 have none of this
//! and never read the keys; neither does larq for them.
//!
//! A value counts as "paused" when PHP's cast to bool of what the store gives back is true: the
//! store writes `b:1;` (PHP's `serialize(true)`) on Redis and on the file store; Redis keeps a
//! number plain (`1`, read back as the string `"1"`), so `1` there is paused, `0` is not.

use crate::cache::is_numeric;
use crate::cache::{CacheError, CacheStore};

/// The cache key that pauses every queue on every connection (Laravel 13's `pauseAll`).
pub const PAUSE_ALL_KEY: &str = "illuminate:queues:paused";

/// PHP's `serialize(true)`: what `Cache::forever($key, true)` stores on Redis and in a file.
pub const PAUSED_VALUE: &[u8] = b"b:1;";

/// The cache key that pauses `queue` on `connection`.
pub fn queue_key(connection: &str, queue: &str) -> String {
    format!("illuminate:queue:paused:{connection}:{queue}")
}

/// Whether workers of this Laravel major version skip paused queues (12.40 and later; larq treats
/// all of 12 so, since an older 12 app has no `queue:pause` to write the key).
pub fn version_pauses(laravel_version: u8) -> bool {
    crate::laravel::Laravel::nearest(laravel_version).has_queue_pause()
}

/// Whether this Laravel major version has the pause-all switch (`queue:pause --all`).
pub fn version_pauses_all(laravel_version: u8) -> bool {
    crate::laravel::Laravel::nearest(laravel_version).has_queue_pause_all()
}

/// `queue:pause`'s `connection:queue` argument as `ParsesQueue` reads it: split at the first
/// `:`; no `:` names a queue on `default_connection`; an empty queue name (and `"0"`, which PHP
/// reads as false) is `default`.
pub fn parse_queue_argument(argument: &str, default_connection: &str) -> (String, String) {
    let (connection, queue) = match argument.split_once(':') {
        Some((connection, queue)) => (connection, queue),
        None => (default_connection, argument),
    };
    let queue = if queue.is_empty() || queue == "0" {
        "default"
    } else {
        queue
    };
    (connection.to_owned(), queue.to_owned())
}

/// The app's paused queues: read and write them as PHP's `QueueManager` does.
#[derive(Debug, Clone)]
pub struct QueuePauses {
    store: CacheStore,
    laravel_version: u8,
}

impl QueuePauses {
    /// Pauses in the app's cache store (the one `Cache::store()` returns, with its prefix).
    pub fn new(store: CacheStore, laravel_version: u8) -> QueuePauses {
        QueuePauses {
            store,
            laravel_version,
        }
    }

    /// The physical key (Redis) or file (file store) of a queue's pause, for messages.
    pub fn key(&self, connection: &str, queue: &str) -> String {
        self.store.key(&queue_key(connection, queue))
    }

    /// Pause a queue until it is resumed (`Queue::pause`).
    pub async fn pause(&self, connection: &str, queue: &str) -> Result<(), CacheError> {
        self.store
            .put_serialized(&queue_key(connection, queue), PAUSED_VALUE, None)
            .await
    }

    /// Pause a queue for `seconds` (`Queue::pauseFor`); 0 resumes it, as `Cache::put` forgets a
    /// key given no lifetime.
    pub async fn pause_for(
        &self,
        connection: &str,
        queue: &str,
        seconds: u64,
    ) -> Result<(), CacheError> {
        let name = queue_key(connection, queue);
        if seconds == 0 {
            return self.store.forget(&name).await;
        }
        self.store
            .put_serialized(&name, PAUSED_VALUE, Some(seconds))
            .await
    }

    /// Resume a queue paused by [`QueuePauses::pause`] or [`QueuePauses::pause_for`].
    pub async fn resume(&self, connection: &str, queue: &str) -> Result<(), CacheError> {
        self.store.forget(&queue_key(connection, queue)).await
    }

    /// Pause every queue on every connection (`Queue::pauseAll`).
    pub async fn pause_all(&self) -> Result<(), CacheError> {
        self.store
            .put_serialized(PAUSE_ALL_KEY, PAUSED_VALUE, None)
            .await
    }

    /// Lift [`QueuePauses::pause_all`]; queues paused one by one stay paused.
    pub async fn resume_all(&self) -> Result<(), CacheError> {
        self.store.forget(PAUSE_ALL_KEY).await
    }

    /// Whether a queue is paused, by itself or by the pause-all switch (`Queue::isPaused`);
    /// always false for a Laravel version without pauses.
    pub async fn is_paused(&self, connection: &str, queue: &str) -> Result<bool, CacheError> {
        let Some(keys) = PauseKeys::new(connection, &[queue.to_owned()], self.laravel_version)
        else {
            return Ok(false);
        };
        let mut paused = Vec::new();
        keys.read(&self.store, &mut paused).await?;
        Ok(paused.first().copied().unwrap_or(false))
    }
}

/// The pause keys of one worker's queues, named once when the worker is built so that each
/// reserve round costs one read ([`CacheStore::many`]: one `MGET` on Redis) and no formatting.
#[derive(Debug, Clone)]
pub(crate) struct PauseKeys {
    /// The pause-all key first when the version has it, then one key per queue in order.
    names: Vec<String>,
    /// Whether `names[0]` is the pause-all key.
    all: bool,
}

impl PauseKeys {
    /// The keys for `queues` on `connection`; `None` when this Laravel version has no pauses.
    pub(crate) fn new(connection: &str, queues: &[String], laravel_version: u8) -> Option<Self> {
        if !version_pauses(laravel_version) {
            return None;
        }
        let all = version_pauses_all(laravel_version);
        let names = all
            .then(|| PAUSE_ALL_KEY.to_owned())
            .into_iter()
            .chain(queues.iter().map(|q| queue_key(connection, q)))
            .collect();
        Some(PauseKeys { names, all })
    }

    /// Read the pause state of every queue in one round: `paused[i]` says whether queue `i` is
    /// paused (all of them when the pause-all switch is on), as `getPausedQueues` decides.
    pub(crate) async fn read(
        &self,
        store: &CacheStore,
        paused: &mut Vec<bool>,
    ) -> Result<(), CacheError> {
        let values = store.many(&self.names).await?;
        let plain_numbers = matches!(store, CacheStore::Redis(_));
        let mut states = values
            .iter()
            .map(|v| v.as_deref().is_some_and(|v| is_paused(v, plain_numbers)));
        let everything = self.all && states.next().unwrap_or(false);
        paused.clear();
        paused.extend(states.map(|p| everything || p));
        Ok(())
    }
}

/// Whether a stored value reads as `true` in PHP once the store has decoded it. `plain_numbers`:
/// the store returns numeric text as it is (Redis), else every value is unserialized.
pub fn is_paused(stored: &[u8], plain_numbers: bool) -> bool {
    if plain_numbers && is_numeric(stored) {
        // A numeric string: only "0" is false ("" is not numeric).
        return stored != b"0";
    }
    crate::cache::php_truthy(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laravels() {
        assert_eq!(
            queue_key("redis", "default"),
            "illuminate:queue:paused:redis:default"
        );
        assert_eq!(PAUSE_ALL_KEY, "illuminate:queues:paused");
    }

    #[test]
    fn the_argument_is_parsed_as_parses_queue_does() {
        let p = |a| parse_queue_argument(a, "redis");
        assert_eq!(p("redis:default"), ("redis".into(), "default".into()));
        assert_eq!(p("database:emails"), ("database".into(), "emails".into()));
        assert_eq!(p("emails"), ("redis".into(), "emails".into()));
        assert_eq!(p("redis:"), ("redis".into(), "default".into()));
        assert_eq!(p("redis:0"), ("redis".into(), "default".into()));
        assert_eq!(p("a:b:c"), ("a".into(), "b:c".into()));
        assert_eq!(p(":x"), ("".into(), "x".into()));
    }

    #[test]
    fn truthiness_follows_php() {
        for (stored, redis, want) in [
            (&b"b:1;"[..], true, true),
            (b"b:1;", false, true),
            (b"b:0;", true, false),
            (b"i:1;", false, true),
            (b"i:0;", false, false),
            (b"i:-3;", true, true),
            // Redis keeps numbers plain; the file store would fail to unserialize them.
            (b"1", true, true),
            (b"0", true, false),
            (b"0.0", true, true),
            (b"1", false, false),
            (b"d:0;", false, false),
            (b"d:0.5;", false, true),
            (b"d:NAN;", false, true),
            (b"s:1:\"0\";", false, false),
            (b"s:0:\"\";", false, false),
            (b"s:3:\"yes\";", false, true),
            (b"N;", true, false),
            (b"a:0:{}", false, false),
            (b"a:1:{i:0;i:0;}", false, true),
            (b"O:8:\"stdClass\":0:{}", false, true),
            (b"", true, false),
            (b"garbage", true, false),
        ] {
            assert_eq!(
                is_paused(stored, redis),
                want,
                "{} (redis: {redis})",
                String::from_utf8_lossy(stored)
            );
        }
    }

    #[test]
    fn versions() {
        assert!(PauseKeys::new("redis", &["default".into()], 10).is_none());
        assert!(PauseKeys::new("redis", &["default".into()], 11).is_none());
        let twelve = PauseKeys::new("redis", &["a".into(), "b".into()], 12).unwrap();
        assert_eq!(
            twelve.names,
            [
                "illuminate:queue:paused:redis:a",
                "illuminate:queue:paused:redis:b"
            ]
        );
        let thirteen = PauseKeys::new("database", &["a".into()], 13).unwrap();
        assert_eq!(
            thirteen.names,
            [
                "illuminate:queues:paused",
                "illuminate:queue:paused:database:a"
            ]
        );
    }

    #[tokio::test]
    async fn the_file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::file(dir.path());
        let pauses = QueuePauses::new(store.clone(), 13);
        let keys = PauseKeys::new("redis", &["a".into(), "b".into()], 13).unwrap();
        let mut paused = Vec::new();
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [false, false]);

        pauses.pause("redis", "b").await.unwrap();
        assert_eq!(
            std::fs::read(store.key(&queue_key("redis", "b"))).unwrap(),
            b"9999999999b:1;"
        );
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [false, true]);
        assert!(pauses.is_paused("redis", "b").await.unwrap());
        assert!(!pauses.is_paused("redis", "a").await.unwrap());

        pauses.pause_all().await.unwrap();
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [true, true]);
        pauses.resume_all().await.unwrap();
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [false, true], "resume-all keeps single pauses");

        pauses.resume("redis", "b").await.unwrap();
        pauses.pause_for("redis", "a", 60).await.unwrap();
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [true, false]);
        pauses.pause_for("redis", "a", 0).await.unwrap();
        keys.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [false, false], "pauseFor(0) forgets");

        // Laravel 12 has no pause-all: its workers never read that key.
        pauses.pause_all().await.unwrap();
        let twelve = PauseKeys::new("redis", &["a".into()], 12).unwrap();
        twelve.read(&store, &mut paused).await.unwrap();
        assert_eq!(paused, [false]);
    }
}
