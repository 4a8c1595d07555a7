//! What differs between the Laravel major versions larq speaks (8 through 13), in one place.
//!
//! larq must find the keys, rows and defaults the PHP side uses, and those moved between
//! releases: the skeleton's key prefixes, the Redis cache store's `:`, the unique-lock name, the
//! variable that names the cache store and its default, the default database connection. Every
//! such rule is a method of [`Laravel`], so a question like "which cache store does an app with no
//! `CACHE_STORE` use?" has one answer, read from the real framework sources (8.83, 10.48, 13.31;
//! 9, 11 and 12 sit between them and follow the release that introduced each change).
//!
//! Which version an app runs is given (`--laravel-version`, `LARQ_LARAVEL_VERSION`) or found in
//! the app itself ([`detect`]); [`resolve`] puts the two together.

use std::path::Path;

/// A Laravel major version whose conventions larq follows. `Copy`, ordered by release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Laravel {
    major: u8,
}

impl std::fmt::Display for Laravel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Laravel {}", self.major)
    }
}

/// Seconds `DatabaseStore::forever` keeps an entry: it is a `put` for ten years (365 × 10 days),
/// the same in 8, 10 and 13.
pub const DATABASE_FOREVER_SECONDS: u64 = 315_360_000;

/// A major version number, read as [`Laravel::nearest`] (so `8` and `13` mean themselves).
impl From<u8> for Laravel {
    fn from(major: u8) -> Laravel {
        Laravel::nearest(major)
    }
}

impl Laravel {
    /// The oldest release larq knows (8).
    pub const OLDEST: Laravel = Laravel { major: 8 };
    /// The newest release larq knows (13): the conventions assumed when nothing says otherwise.
    pub const NEWEST: Laravel = Laravel { major: 13 };

    /// Major version `major`, if larq knows it (8 through 13).
    pub fn new(major: u8) -> Option<Laravel> {
        (Self::OLDEST.major..=Self::NEWEST.major)
            .contains(&major)
            .then_some(Laravel { major })
    }

    /// The known version closest to `major`: older releases read as 8, newer ones as 13 (a
    /// newer release is likelier to keep 13's conventions than to go back to older ones).
    pub fn nearest(major: u8) -> Laravel {
        Laravel {
            major: major.clamp(Self::OLDEST.major, Self::NEWEST.major),
        }
    }

    /// The major version number.
    pub fn major(self) -> u8 {
        self.major
    }

    /// `database.redis.options.prefix` when `REDIS_PREFIX` is unset: `laravel_database_` up to
    /// 11, `laravel-database-` from 12 (13's `config/database.php`:
    /// `Str::slug(APP_NAME).'-database-'`).
    pub fn redis_prefix(self, app_name: &str) -> String {
        if self.major >= 12 {
            format!("{}-database-", slug(app_name, '-'))
        } else {
            format!("{}_database_", slug(app_name, '_'))
        }
    }

    /// `cache.prefix` when `CACHE_PREFIX` is unset: `laravel_cache` in 8, `laravel_cache_` in
    /// 9 to 11, `laravel-cache-` from 12 (13's `config/cache.php`: `Str::slug(APP_NAME).'-cache-'`).
    pub fn cache_prefix(self, app_name: &str) -> String {
        match self.major {
            12.. => format!("{}-cache-", slug(app_name, '-')),
            9.. => format!("{}_cache_", slug(app_name, '_')),
            _ => format!("{}_cache", slug(app_name, '_')),
        }
    }

    /// Whether the Redis cache store puts `:` between a non-empty prefix and the key
    /// (`RedisStore::setPrefix` in 8 and 10 appends it; 13's takes the prefix as is). The
    /// database and file stores never add one.
    pub fn redis_cache_colon(self) -> bool {
        self.major <= 10
    }

    /// The cache name of a unique job's lock (`UniqueLock::getKey`, without the store prefix):
    /// `laravel_unique_job:<Class><uniqueId>` up to 10, `laravel_unique_job:<Class>:<uniqueId>`
    /// from 11. (13 hashes `displayName()` with xxh128 instead of the class when the job class
    /// defines that method, which queued job classes do not unless they add it; not followed.)
    pub fn unique_lock_name(self, class: &str, unique_id: &str) -> String {
        if self.major >= 11 {
            format!("laravel_unique_job:{class}:{unique_id}")
        } else {
            format!("laravel_unique_job:{class}{unique_id}")
        }
    }

    /// The variable `config/cache.php` reads for the default store: `CACHE_DRIVER` up to 10,
    /// `CACHE_STORE` from 11.
    pub fn cache_store_var(self) -> &'static str {
        if self.major >= 11 {
            "CACHE_STORE"
        } else {
            "CACHE_DRIVER"
        }
    }

    /// The other version family's variable, still honoured when the version's own is unset:
    /// an app upgraded to 11+ often keeps its old `config/cache.php`, which reads
    /// `CACHE_DRIVER`, and a value someone set is a better guess than the default.
    pub fn cache_store_fallback_var(self) -> &'static str {
        if self.major >= 11 {
            "CACHE_DRIVER"
        } else {
            "CACHE_STORE"
        }
    }

    /// The default cache store when the variable is unset: `file` up to 10, `database` from 11.
    pub fn default_cache_store(self) -> &'static str {
        if self.major >= 11 {
            "database"
        } else {
            "file"
        }
    }

    /// The default database connection when `DB_CONNECTION` is unset: `mysql` up to 10,
    /// `sqlite` from 11 (13's `config/database.php`), whose file is `database/database.sqlite`.
    pub fn default_db_connection(self) -> &'static str {
        if self.major >= 11 {
            "sqlite"
        } else {
            "mysql"
        }
    }

    /// The default queue connection when `QUEUE_CONNECTION` is unset, as larq reads it: from
    /// 11 the skeleton's `database`; up to 10 the skeleton says `sync`, which is no queue a
    /// worker could take jobs from, so larq keeps `redis` there.
    pub fn default_queue_connection(self) -> &'static str {
        if self.major >= 11 {
            "database"
        } else {
            "redis"
        }
    }

    /// Whether `php artisan queue:pause` exists: it writes `illuminate:queue:paused:<conn>:<queue>`
    /// (`true`, forever) into the cache and workers skip such queues (`QueueManager::pause`: in
    /// 13.31, not in 10.48; it came with 12.40, laravel/framework#57800, so a 12 release before
    /// that lacks it; 13.25 added the all-queues switch `illuminate:queues:paused`).
    pub fn has_queue_pause(self) -> bool {
        self.major >= 12
    }

    /// Whether `queue:pause --all` exists (the all-queues key `illuminate:queues:paused`, 13.25+;
    /// larq treats all of 13 so, since an older 13 app has no command to write the key).
    pub fn has_queue_pause_all(self) -> bool {
        self.major >= 13
    }

    /// Whether `WithoutOverlapping` names the lock of a class that has a `displayName()` method
    /// by `hash('xxh128', displayName())` instead of the class (13's `getLockKey`; 10 uses the
    /// class; 11 and 12 are not checked against here and follow 10).
    pub fn overlap_key_hashes_display_name(self) -> bool {
        self.major >= 13
    }

    /// Whether `SerializesModels` leaves out properties equal to their declared default (9.4+;
    /// 8 writes them all), so a command lacking `deleteWhenMissingModels` may still declare it.
    pub fn serialize_drops_defaults(self) -> bool {
        self.major >= 9
    }

    /// Whether the missing-model rule reads the payload's `deleteWhenMissingModels` (13) rather
    /// than the job class's default property (up to 12).
    pub fn missing_models_rule_in_payload(self) -> bool {
        self.major >= 13
    }

    /// Whether `ThrottlesExceptions` counts a job class under `xxh128` of its display name (13)
    /// rather than `md5` of its class (8, 10; 11 and 12 follow 10 here).
    pub fn throttle_key_hashes_display_name(self) -> bool {
        self.major >= 13
    }

    /// What the `file` cache store puts before a lock's name: `file-store-lock:` in 13, nothing
    /// in 8 and 10 (11 and 12 follow 10 here).
    pub fn file_lock_prefix(self) -> &'static str {
        if self.major >= 13 {
            "file-store-lock:"
        } else {
            ""
        }
    }

    /// Whether `RateLimited` checks every limit before it counts a hit on any (13), rather than
    /// checking and counting each limit in turn (8, 10; 11 and 12 follow 10 here).
    pub fn rate_limits_checked_before_hits(self) -> bool {
        self.major >= 13
    }

    /// Whether a timed-out job fails with `TimeoutExceededException` ("… has timed out.") and
    /// too many attempts read "… has been attempted too many times." (10+), rather than 8's
    /// single `MaxAttemptsExceededException` "… or run too long" message.
    pub fn has_timeout_exception(self) -> bool {
        self.major >= 10
    }

    /// Whether the `database` cache store base64-encodes a serialized value holding a NUL byte
    /// on the database `driver`, Laravel's name (`pgsql`, `sqlite`, `mysql`) (`DatabaseStore::serialize`: PostgreSQL in 8 and 10; PostgreSQL and SQLite
    /// in 13). Reading decodes any value with neither `:` nor `;`, whoever wrote it.
    pub fn database_cache_base64(self, driver: &str) -> bool {
        match driver {
            "pgsql" => true,
            "sqlite" => self.major >= 13,
            _ => false,
        }
    }

    /// The `cache`/`cache_locks` `expiration` column `cache:table` creates: `integer` up to 10,
    /// an indexed `bigInteger` in 13 (the other columns, `key` string primary key, `value`
    /// mediumText, `owner` string, are the same in every version).
    pub fn cache_expiration_is_bigint(self) -> bool {
        self.major >= 13
    }

    /// Whether a payload this version pushes carries `deleteWhenMissingModels`, `data.batchId`,
    /// `createdAt` and, last, `delay` (13; they arrived over 12.x's minor releases, so larq
    /// writes 12 in the older shape, which every 12 reads). See [`Laravel::extra_payload_fields`].
    pub fn writes_13_payload_fields(self) -> bool {
        self.major >= 13
    }

    /// Whether a `ShouldBeUniqueUntilProcessing` lock is released before the handler only on the
    /// first attempt or by the lock's owner (13: a later attempt without an owner may meet the
    /// lock of a newer dispatch), rather than on every attempt (8–12).
    pub fn guards_until_processing_release(self) -> bool {
        self.major >= 13
    }

    /// Whether `queue:failed` prints a line per job with the console components (10+; 9's later
    /// minors too, not checked) rather than 8's table.
    pub fn failed_list_as_lines(self) -> bool {
        self.major >= 10
    }

    /// Whether `queue:failed` shows a job's non-empty `displayName` before its class (13).
    pub fn failed_list_shows_display_name(self) -> bool {
        self.major >= 13
    }

    /// Top-level payload fields this version's `Queue::createPayloadArray` adds beyond 8's
    /// (`uuid`, `displayName`, `job`, `maxTries`, `maxExceptions`, `failOnTimeout`, `backoff`,
    /// `timeout`, `retryUntil`, `data`): 10 adds none; 13 adds `deleteWhenMissingModels`,
    /// `createdAt` (unix seconds) and `data.batchId`.
    pub fn extra_payload_fields(self) -> &'static [&'static str] {
        if self.major >= 13 {
            &["deleteWhenMissingModels", "createdAt", "data.batchId"]
        } else {
            &[]
        }
    }
}

/// Laravel's `Str::slug($title, $separator)`, which derives the default key prefixes from
/// `APP_NAME`, for the ASCII names apps use as `APP_NAME`
/// (non-ASCII letters are kept lower-cased rather than transliterated).
pub fn slug(title: &str, separator: char) -> String {
    let other = if separator == '-' { '_' } else { '-' };
    let replaced = title
        .replace(other, &separator.to_string())
        .replace('@', &format!("{separator}at{separator}"))
        .to_lowercase();
    let mut out = String::new();
    let mut pending_sep = false;
    for c in replaced.chars() {
        if c == separator || c.is_whitespace() {
            pending_sep = true;
        } else if c.is_alphanumeric() {
            if pending_sep && !out.is_empty() {
                out.push(separator);
            }
            pending_sep = false;
            out.push(c);
        }
    }
    out
}

/// The Laravel version of the app in `app_dir`, from its `composer.lock` (the
/// `laravel/framework` package's `version`) or else the installed framework's
/// `vendor/laravel/framework/src/Illuminate/Foundation/Application.php` (`const VERSION`).
/// `None` when neither says (no Composer install, or an unreadable file). A release outside
/// 8–13 reads as the nearest one larq knows, with a warning.
pub fn detect(app_dir: &Path) -> Option<Laravel> {
    let version = std::fs::read_to_string(app_dir.join("composer.lock"))
        .ok()
        .and_then(|text| version_in_lock(&text))
        .or_else(|| {
            let source =
                app_dir.join("vendor/laravel/framework/src/Illuminate/Foundation/Application.php");
            std::fs::read_to_string(source)
                .ok()
                .and_then(|text| version_in_application(&text))
        })?;
    let major = major_of(&version)?;
    let laravel = Laravel::nearest(major);
    if laravel.major != major {
        tracing::warn!(
            found = %version,
            using = laravel.major,
            "the app's Laravel release is not one larq knows; following the nearest"
        );
    }
    Some(laravel)
}

/// The version larq follows: `given` (`--laravel-version` or `LARQ_LARAVEL_VERSION`), else the
/// one [`detect`]ed in the directory of `env_file` (the app's `.env`), else the newest.
pub fn resolve(given: Option<u8>, env_file: Option<&Path>) -> Laravel {
    if let Some(major) = given {
        return Laravel::nearest(major);
    }
    let app_dir = env_file.and_then(Path::parent).map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    match app_dir.and_then(detect) {
        Some(found) => {
            tracing::debug!(laravel = found.major, "Laravel version detected in the app");
            found
        }
        None => Laravel::NEWEST,
    }
}

/// `laravel/framework`'s version in a `composer.lock` text.
fn version_in_lock(text: &str) -> Option<String> {
    let lock: serde_json::Value = serde_json::from_str(text).ok()?;
    lock.get("packages")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some("laravel/framework"))?
        .get("version")?
        .as_str()
        .map(str::to_owned)
}

/// The `const VERSION = '…';` of `Illuminate\Foundation\Application`.
fn version_in_application(text: &str) -> Option<String> {
    let rest = &text[text.find("const VERSION")? + "const VERSION".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &rest[1..];
    Some(body[..body.find(quote)?].to_owned())
}

/// The major number of `v10.48.29`, `13.31.0`, `11.x-dev`.
fn major_of(version: &str) -> Option<u8> {
    let digits: String = version
        .trim_start_matches(['v', 'V'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_like_laravel() {
        assert_eq!(slug("Laravel", '_'), "laravel");
        assert_eq!(slug("My App", '_'), "my_app");
        assert_eq!(slug("My-App  2", '_'), "my_app_2");
        assert_eq!(slug("a@b", '_'), "a_at_b");
        assert_eq!(slug("My App", '-'), "my-app");
    }

    fn v(major: u8) -> Laravel {
        Laravel::new(major).unwrap()
    }

    #[test]
    fn only_known_versions_are_new_and_others_are_clamped() {
        assert_eq!(Laravel::new(7), None);
        assert_eq!(Laravel::new(14), None);
        assert_eq!(Laravel::nearest(7), Laravel::OLDEST);
        assert_eq!(Laravel::nearest(20), Laravel::NEWEST);
        assert!(v(10) < v(11));
    }

    #[test]
    fn prefixes_per_version() {
        assert_eq!(v(8).redis_prefix("My App"), "my_app_database_");
        assert_eq!(v(11).redis_prefix("My App"), "my_app_database_");
        assert_eq!(v(12).redis_prefix("My App"), "my-app-database-");
        assert_eq!(v(8).cache_prefix("Laravel"), "laravel_cache");
        assert_eq!(v(9).cache_prefix("Laravel"), "laravel_cache_");
        assert_eq!(v(11).cache_prefix("Laravel"), "laravel_cache_");
        assert_eq!(v(13).cache_prefix("My App"), "my-app-cache-");
        assert!(v(10).redis_cache_colon());
        assert!(!v(11).redis_cache_colon());
    }

    #[test]
    fn defaults_per_version() {
        assert_eq!(
            (v(10).cache_store_var(), v(10).default_cache_store()),
            ("CACHE_DRIVER", "file")
        );
        assert_eq!(
            (v(11).cache_store_var(), v(11).default_cache_store()),
            ("CACHE_STORE", "database")
        );
        assert_eq!(v(10).default_db_connection(), "mysql");
        assert_eq!(v(13).default_db_connection(), "sqlite");
        assert_eq!(v(13).default_queue_connection(), "database");
        assert!(!v(11).has_queue_pause() && v(12).has_queue_pause());
        assert!(v(13).database_cache_base64("sqlite"));
        assert!(!v(10).database_cache_base64("sqlite"));
        assert!(v(8).database_cache_base64("pgsql"));
        assert!(v(13).extra_payload_fields().contains(&"createdAt"));
        assert!(v(10).extra_payload_fields().is_empty());
    }

    #[test]
    fn unique_lock_names() {
        assert_eq!(
            v(10).unique_lock_name("App\\Jobs\\U", "7"),
            "laravel_unique_job:App\\Jobs\\U7"
        );
        assert_eq!(
            v(11).unique_lock_name("App\\Jobs\\U", "7"),
            "laravel_unique_job:App\\Jobs\\U:7"
        );
    }

    #[test]
    fn versions_from_composer_lock_and_application_php() {
        let lock = r#"{"packages":[{"name":"brick/math","version":"0.12.1"},{"name":"laravel/framework","version":"v10.48.29"}]}"#;
        assert_eq!(version_in_lock(lock).as_deref(), Some("v10.48.29"));
        assert_eq!(version_in_lock(r#"{"packages":[]}"#), None);
        assert_eq!(version_in_lock("not json"), None);
        let php = "class Application extends Container\n{\n    const VERSION = '13.31.0';\n";
        assert_eq!(version_in_application(php).as_deref(), Some("13.31.0"));
        assert_eq!(version_in_application("const VERSION = ;"), None);
        assert_eq!(major_of("v10.48.29"), Some(10));
        assert_eq!(major_of("11.x-dev"), Some(11));
        assert_eq!(major_of("dev-master"), None);
    }

    #[test]
    fn detect_and_resolve_in_an_app_directory() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join(".env");
        assert_eq!(detect(dir.path()), None);
        assert_eq!(resolve(None, Some(&env)), Laravel::NEWEST);
        let framework = dir
            .path()
            .join("vendor/laravel/framework/src/Illuminate/Foundation");
        std::fs::create_dir_all(&framework).unwrap();
        std::fs::write(
            framework.join("Application.php"),
            "<?php\n    const VERSION = '9.52.16';\n",
        )
        .unwrap();
        assert_eq!(detect(dir.path()), Some(v(9)));
        std::fs::write(
            dir.path().join("composer.lock"),
            r#"{"packages":[{"name":"laravel/framework","version":"v11.44.0"}]}"#,
        )
        .unwrap();
        assert_eq!(resolve(None, Some(&env)), v(11));
        assert_eq!(resolve(Some(8), Some(&env)), v(8));
        assert_eq!(resolve(None, None), Laravel::NEWEST);
    }
}
