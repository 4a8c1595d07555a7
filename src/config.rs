//! Settings from the PHP app's own `.env` and the process environment.
//!
//! A larq deployed beside a Laravel app must find the same Redis keys, cache keys and database the
//! PHP side uses, and those are derived from the app's environment (`APP_NAME` → key prefixes,
//! `REDIS_*`, `CACHE_PREFIX`, `DB_*`). Reading the app's `.env` means a deployment needs no second
//! file that could drift. As with Laravel's own loader, a variable set in the process environment
//! wins over the `.env` file.
//!
//! Secrets (passwords, `APP_KEY`) live in [`Secret`], whose `Debug` prints `***`, so no settings
//! dump or log line can leak them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::queue::redis::RedisEndpoint;

/// Why settings could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The `.env` file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the `.env` file is malformed.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A variable has a value that cannot be used.
    #[error("{name}: {message}")]
    Invalid {
        /// The variable.
        name: String,
        /// What is wrong with it (never the value of a secret).
        message: String,
    },
}

/// A string that must never be printed (passwords, keys, URLs with credentials).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (a connection string, a decrypter).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A flat view of the app's environment: `.env` values overlaid with the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment only.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// A `.env` file, overlaid with the process environment (which wins, as in Laravel).
    pub fn from_file_and_process(path: &Path) -> Result<Env, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut vars = parse_dotenv(&text).map_err(|(line, message)| ConfigError::Syntax {
            path: path.to_owned(),
            line,
            message,
        })?;
        vars.extend(std::env::vars());
        Ok(Env { vars })
    }

    /// An environment from explicit pairs (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable the way Laravel's `env()` reads it: `null`/`(null)` is unset, `empty`/`(empty)`
    /// is the empty string.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.vars.get(name).map(String::as_str) {
            Some("null") | Some("(null)") => None,
            Some("empty") | Some("(empty)") => Some(""),
            other => other,
        }
    }

    fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    fn parse_num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                message: "not a number".to_owned(),
            }),
        }
    }
}

/// Parse the `.env` format phpdotenv accepts in practice: `KEY=value`, optional `export `,
/// `#` comments (whole line, or after whitespace in an unquoted value), single quotes (literal),
/// double quotes (escapes `\n \t \" \\ \$`, may span lines) and `${VAR}` expansion in unquoted and
/// double-quoted values. Errors carry the 1-based line number.
pub fn parse_dotenv(text: &str) -> Result<HashMap<String, String>, (usize, String)> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            return Err((line_no, "expected KEY=VALUE".to_owned()));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err((line_no, format!("invalid variable name {key:?}")));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_owned(),
                None => return Err((line_no, "unterminated single quote".to_owned())),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut buf = body.to_owned();
            let raw = loop {
                if let Some(end) = closing_double_quote(&buf) {
                    break buf[..end].to_owned();
                }
                match lines.get(i) {
                    Some(next) => {
                        buf.push('\n');
                        buf.push_str(next);
                        i += 1;
                    }
                    None => return Err((line_no, "unterminated double quote".to_owned())),
                }
            };
            expand(&unescape(&raw), &vars)
        } else {
            let mut v = rest;
            if let Some(pos) = v.find(" #").or_else(|| v.find("\t#")) {
                v = &v[..pos];
            }
            expand(v.trim(), &vars)
        };
        vars.insert(key.to_owned(), value);
    }
    Ok(vars)
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut j = 0;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') => out.push_str("\\$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `${VAR}` from earlier lines or the process environment; `\$` stays a literal `$`.
fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        if rest[..pos].ends_with('\\') {
            out.push_str(&rest[..pos - 1]);
            out.push('$');
            rest = &rest[pos + 1..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(body) = after.strip_prefix('{') {
            if let Some(end) = body.find('}') {
                let name = &body[..end];
                if let Some(v) = vars.get(name).cloned().or_else(|| std::env::var(name).ok()) {
                    out.push_str(&v);
                }
                rest = &body[end + 1..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Laravel's `Str::slug($title, $separator)` for the ASCII names apps use as `APP_NAME`
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

/// Where the Redis connections point and how their keys are prefixed.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The queue connection (`default`: `REDIS_DB`), as a `redis://`/`rediss://` URL.
    pub url: Secret,
    /// The cache connection (`cache`: `REDIS_CACHE_DB`), where the restart signal and the
    /// `job-exceptions:` counters live.
    pub cache_url: Secret,
    /// `{P}`: `database.redis.options.prefix`, applied by phpredis to every key.
    pub prefix: String,
    /// `LARQ_REDIS_CLUSTER`: the seed nodes when the app's Redis is a Redis Cluster (the app
    /// lists its servers under `redis.clusters` in config/database.php), else `None`. Queue and
    /// cache then share the cluster, which has only database 0.
    pub cluster: Option<Vec<Secret>>,
    /// `LARQ_REDIS_CA_CERT`: a PEM file with the CA certificate(s) that signed the Redis servers'
    /// TLS certificates, for a private CA (else the public web roots are trusted).
    pub ca_cert: Option<PathBuf>,
}

impl RedisSettings {
    /// Where the queue connection (`default`) is.
    pub fn queue_endpoint(&self) -> Result<RedisEndpoint, ConfigError> {
        self.endpoint(&self.url)
    }

    /// Where the cache connection (`cache`) is: the restart signal and exception counters.
    pub fn cache_endpoint(&self) -> Result<RedisEndpoint, ConfigError> {
        self.endpoint(&self.cache_url)
    }

    fn endpoint(&self, url: &Secret) -> Result<RedisEndpoint, ConfigError> {
        let endpoint = match &self.cluster {
            Some(seeds) => RedisEndpoint::cluster(seeds.iter().map(|s| s.expose().to_owned())),
            None => RedisEndpoint::node(url.expose()),
        };
        match &self.ca_cert {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok(endpoint.with_ca_cert(pem))
            }
            None => Ok(endpoint),
        }
    }
}

/// The app's database connection, for `failed_jobs`.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DB_CONNECTION`: `sqlite`, `mysql`, `mariadb`, `pgsql`.
    pub connection: String,
    /// `DATABASE_URL`/`DB_URL`, when the app configures the connection by URL.
    pub url: Option<Secret>,
    /// `DB_HOST`.
    pub host: String,
    /// `DB_PORT`.
    pub port: Option<u16>,
    /// `DB_DATABASE` (for SQLite: the file, made absolute against the app directory).
    pub database: String,
    /// `DB_USERNAME`.
    pub username: String,
    /// `DB_PASSWORD`.
    pub password: Secret,
}

/// The `database` queue connection (`config/queue.php` → `connections.database`).
#[derive(Debug, Clone)]
pub struct DatabaseQueueSettings {
    /// `DB_QUEUE_TABLE` (default `jobs`).
    pub table: String,
    /// `DB_QUEUE`: the connection's default queue (default `default`).
    pub queue: String,
    /// `DB_QUEUE_RETRY_AFTER` (default 90).
    pub retry_after: u64,
}

/// Everything `larq work` needs from the app's environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_NAME`, source of the default key prefixes.
    pub app_name: String,
    /// `APP_KEY`, to decrypt `ShouldBeEncrypted` commands.
    pub app_key: Option<Secret>,
    /// `APP_PREVIOUS_KEYS` (11.x+ key rotation).
    pub app_previous_keys: Option<Secret>,
    /// `QUEUE_CONNECTION`: the default connection name (`redis` when unset).
    pub queue_connection: String,
    /// `REDIS_QUEUE`: the connection's default queue.
    pub default_queue: String,
    /// The queue connection's `retry_after` (seconds a reservation lasts).
    pub retry_after: u64,
    /// The queue connection's `block_for` (seconds to BLPOP the notify list; `None`: poll).
    pub block_for: Option<u64>,
    /// Redis connections and prefix.
    pub redis: RedisSettings,
    /// `{C}`: the cache key prefix (`CACHE_PREFIX`, else derived from `APP_NAME`).
    pub cache_prefix: String,
    /// Whether the Redis cache store puts `:` after a non-empty prefix (Laravel ≤ 10.x).
    pub cache_prefix_colon: bool,
    /// `QUEUE_FAILED_DRIVER`: `database-uuids` (default) or `null`.
    pub failed_driver: String,
    /// The failed-jobs database (and the `database` queue's).
    pub database: DatabaseSettings,
    /// The `database` queue connection.
    pub database_queue: DatabaseQueueSettings,
    /// `CACHE_STORE`/`CACHE_DRIVER` when set: the restart signal and exception counters are read
    /// from Redis only when the app's cache is `redis` (or unset); with `file`, the restart signal
    /// is read from [`Settings::cache_file_path`].
    pub cache_driver: Option<String>,
    /// The `file` cache store's directory, where `queue:restart` writes with `CACHE_DRIVER=file`:
    /// `LARQ_CACHE_FILE_PATH` (relative to the app), else Laravel's default
    /// `<app>/storage/framework/cache/data`; `None` without either (no `--env`).
    pub cache_file_path: Option<PathBuf>,
    /// `<app>/storage/framework/down`, which `php artisan down` creates (`None` without `--env`).
    pub maintenance_file: Option<PathBuf>,
    /// The Laravel major version whose conventions apply (messages, cache prefix shapes).
    pub laravel_version: u8,
}

impl Settings {
    /// Build settings from an environment. `app_dir` (the directory holding `.env`) anchors a
    /// relative SQLite path, as PHP resolves it from the app's base path.
    pub fn from_env(
        env: &Env,
        app_dir: Option<&Path>,
        laravel_version: u8,
    ) -> Result<Settings, ConfigError> {
        let app_name = env.get_or("APP_NAME", "Laravel").to_owned();
        let prefix = match env.get("REDIS_PREFIX") {
            Some(p) => p.to_owned(),
            None if laravel_version >= 12 => format!("{}-database-", slug(&app_name, '-')),
            None => format!("{}_database_", slug(&app_name, '_')),
        };
        let cache_prefix = match env.get("CACHE_PREFIX") {
            Some(p) => p.to_owned(),
            None if laravel_version >= 12 => format!("{}-cache-", slug(&app_name, '-')),
            None if laravel_version >= 9 => format!("{}_cache_", slug(&app_name, '_')),
            None => format!("{}_cache", slug(&app_name, '_')),
        };
        let redis_db: u32 = env.parse_num("REDIS_DB", 0)?;
        let cache_db: u32 = env.parse_num("REDIS_CACHE_DB", 1)?;
        let (url, cache_url) = match env.get("REDIS_URL").filter(|u| !u.is_empty()) {
            Some(url) => (
                with_default_db(url, redis_db),
                with_default_db(url, cache_db),
            ),
            None => {
                let scheme = match env.get("REDIS_SCHEME") {
                    Some("tls") | Some("rediss") => "rediss",
                    _ => "redis",
                };
                let host = env.get_or("REDIS_HOST", "127.0.0.1");
                let port: u16 = env.parse_num("REDIS_PORT", 6379)?;
                let user = env.get("REDIS_USERNAME").unwrap_or("");
                let auth = match env.get("REDIS_PASSWORD").filter(|p| !p.is_empty()) {
                    Some(pw) => format!("{}:{}@", percent_encode(user), percent_encode(pw)),
                    None if !user.is_empty() => format!("{}@", percent_encode(user)),
                    None => String::new(),
                };
                let base = format!("{scheme}://{auth}{host}:{port}");
                (format!("{base}/{redis_db}"), format!("{base}/{cache_db}"))
            }
        };
        let cluster = cluster_seeds(env.get("LARQ_REDIS_CLUSTER"), &url)?;
        let ca_cert =
            env.get("LARQ_REDIS_CA_CERT")
                .filter(|p| !p.is_empty())
                .map(|p| match app_dir {
                    Some(dir) if Path::new(p).is_relative() => dir.join(p),
                    _ => PathBuf::from(p),
                });
        // Unset DB_CONNECTION: the skeleton's `mysql`, unless the app evidently uses SQLite (its
        // DB_DATABASE names a .sqlite file, or database/database.sqlite exists), since apps that
        // hard-code `sqlite` in config/database.php leave the variable out.
        let connection = match env.get("DB_CONNECTION").filter(|c| !c.is_empty()) {
            Some(c) => c.to_owned(),
            None => {
                let named_sqlite = env
                    .get("DB_DATABASE")
                    .is_some_and(|d| d.ends_with(".sqlite") || d.ends_with(".db"));
                let file_exists =
                    app_dir.is_some_and(|dir| dir.join("database/database.sqlite").is_file());
                if named_sqlite || file_exists {
                    "sqlite".to_owned()
                } else {
                    "mysql".to_owned()
                }
            }
        };
        let mut database = env.get("DB_DATABASE").unwrap_or("").to_owned();
        if connection == "sqlite" {
            if database.is_empty() {
                database = "database/database.sqlite".to_owned();
            }
            if database != ":memory:" && Path::new(&database).is_relative() {
                if let Some(dir) = app_dir {
                    database = dir.join(&database).to_string_lossy().into_owned();
                }
            }
        } else if database.is_empty() {
            database = "forge".to_owned();
        }
        let port = match env.get("DB_PORT").filter(|p| !p.is_empty()) {
            Some(p) => Some(p.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "DB_PORT".to_owned(),
                message: "not a port number".to_owned(),
            })?),
            None => None,
        };
        Ok(Settings {
            app_key: env
                .get("APP_KEY")
                .filter(|k| !k.is_empty())
                .map(Secret::new),
            app_previous_keys: env
                .get("APP_PREVIOUS_KEYS")
                .filter(|k| !k.is_empty())
                .map(Secret::new),
            // Unset means the connection larq works: `redis`.
            queue_connection: env.get_or("QUEUE_CONNECTION", "redis").to_owned(),
            default_queue: env.get_or("REDIS_QUEUE", "default").to_owned(),
            retry_after: env.parse_num("REDIS_QUEUE_RETRY_AFTER", 90)?,
            block_for: match env.get("REDIS_QUEUE_BLOCK_FOR") {
                None | Some("") => None,
                Some(_) => Some(env.parse_num("REDIS_QUEUE_BLOCK_FOR", 0)?),
            },
            redis: RedisSettings {
                url: Secret::new(url),
                cache_url: Secret::new(cache_url),
                prefix,
                cluster,
                ca_cert,
            },
            cache_prefix,
            cache_prefix_colon: laravel_version <= 10,
            // `QUEUE_FAILED_DRIVER=null` is how an app turns failed-job logging off: PHP's `env()`
            // returns null for the word, and a null driver selects the null provider. `Env::get`
            // reads the word as "unset" (which would pick the default), so look at it first.
            failed_driver: match env.vars.get("QUEUE_FAILED_DRIVER").map(String::as_str) {
                Some("null") | Some("(null)") => "null".to_owned(),
                _ => env
                    .get_or("QUEUE_FAILED_DRIVER", "database-uuids")
                    .to_owned(),
            },
            database_queue: DatabaseQueueSettings {
                table: env.get_or("DB_QUEUE_TABLE", "jobs").to_owned(),
                queue: env.get_or("DB_QUEUE", "default").to_owned(),
                retry_after: env.parse_num("DB_QUEUE_RETRY_AFTER", 90)?,
            },
            cache_driver: env
                .get("CACHE_STORE")
                .or_else(|| env.get("CACHE_DRIVER"))
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            database: DatabaseSettings {
                url: env
                    .get("DB_URL")
                    .or_else(|| env.get("DATABASE_URL"))
                    .filter(|u| !u.is_empty())
                    .map(Secret::new),
                host: env.get_or("DB_HOST", "127.0.0.1").to_owned(),
                port,
                database,
                username: env.get_or("DB_USERNAME", "forge").to_owned(),
                password: Secret::new(env.get_or("DB_PASSWORD", "")),
                connection,
            },
            cache_file_path: match env.get("LARQ_CACHE_FILE_PATH").filter(|p| !p.is_empty()) {
                Some(p) => Some(match app_dir {
                    Some(dir) if Path::new(p).is_relative() => dir.join(p),
                    _ => PathBuf::from(p),
                }),
                None => app_dir.map(|dir| dir.join("storage/framework/cache/data")),
            },
            maintenance_file: app_dir.map(|dir| dir.join("storage/framework/down")),
            app_name,
            laravel_version,
        })
    }

    /// The physical Redis key of a cache entry: `{P}{C}:name` (≤ 10.x) or `{P}{C}name` (11.x+).
    pub fn cache_key(&self, name: &str) -> String {
        let colon = if self.cache_prefix_colon && !self.cache_prefix.is_empty() {
            ":"
        } else {
            ""
        };
        format!("{}{}{colon}{name}", self.redis.prefix, self.cache_prefix)
    }
}

/// The parts of a Redis URL: `scheme://user:pass@`, `host:port`, `/path`, and the `?query`
/// and `#fragment` tail (`#insecure` for TLS without verification).
struct UrlParts<'a> {
    head: &'a str,
    host_port: &'a str,
    path: &'a str,
    tail: &'a str,
}

fn split_url(url: &str) -> UrlParts<'_> {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let tail_start = url[after_scheme..]
        .find(['?', '#'])
        .map(|i| after_scheme + i)
        .unwrap_or(url.len());
    let host_start = url[after_scheme..tail_start]
        .rfind('@')
        .map(|i| after_scheme + i + 1)
        .unwrap_or(after_scheme);
    let path_start = url[host_start..tail_start]
        .find('/')
        .map(|i| host_start + i)
        .unwrap_or(tail_start);
    UrlParts {
        head: &url[..host_start],
        host_port: &url[host_start..path_start],
        path: &url[path_start..tail_start],
        tail: &url[tail_start..],
    }
}

/// Append `/db` to a Redis URL that names no database, as Laravel's URL parser lets the config's
/// `database` apply only when the URL has no path.
fn with_default_db(url: &str, db: u32) -> String {
    let parts = split_url(url);
    let path = if parts.path.trim_matches('/').is_empty() {
        format!("/{db}")
    } else {
        parts.path.to_owned()
    };
    format!("{}{}{path}{}", parts.head, parts.host_port, parts.tail)
}

/// `LARQ_REDIS_CLUSTER`: unset, empty or false-ish → one server; `true` → a cluster seeded by the
/// queue connection's own server (`REDIS_URL` or `REDIS_HOST`/`REDIS_PORT`); else a comma list of
/// seeds, each `host:port` (scheme and credentials taken from the queue connection's settings) or
/// a whole `redis://`/`rediss://` URL.
fn cluster_seeds(value: Option<&str>, url: &str) -> Result<Option<Vec<Secret>>, ConfigError> {
    let value = value.map(str::trim).unwrap_or("");
    if value.is_empty()
        || ["false", "0", "no", "off"]
            .iter()
            .any(|f| value.eq_ignore_ascii_case(f))
    {
        return Ok(None);
    }
    let parts = split_url(url);
    let seed = |host_port: &str| format!("{}{host_port}{}", parts.head, parts.tail);
    if ["true", "1", "yes", "on"]
        .iter()
        .any(|t| value.eq_ignore_ascii_case(t))
    {
        return Ok(Some(vec![Secret::new(seed(parts.host_port))]));
    }
    let mut seeds = Vec::new();
    for entry in value.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(ConfigError::Invalid {
                name: "LARQ_REDIS_CLUSTER".to_owned(),
                message: "an empty entry in the seed list (expected host:port,host:port or true)"
                    .to_owned(),
            });
        }
        if entry.contains("://") {
            seeds.push(Secret::new(entry));
        } else {
            seeds.push(Secret::new(seed(entry)));
        }
    }
    Ok(Some(seeds))
}

/// Percent-encode a URL userinfo component.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_quotes_comments_expansion() {
        let text = "# comment\nAPP_NAME=\"My App\"\nexport A=plain # trailing\nB='lit ${A}'\nC=\"${A}-x\\n\"\nD=\nE=\"two\nlines\"\nF=a#b\n";
        let vars = parse_dotenv(text).unwrap();
        assert_eq!(vars["APP_NAME"], "My App");
        assert_eq!(vars["A"], "plain");
        assert_eq!(vars["B"], "lit ${A}");
        assert_eq!(vars["C"], "plain-x\n");
        assert_eq!(vars["D"], "");
        assert_eq!(vars["E"], "two\nlines");
        assert_eq!(vars["F"], "a#b");
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        assert_eq!(parse_dotenv("A=1\nnonsense\n").unwrap_err().0, 2);
        assert_eq!(parse_dotenv("A='x\n").unwrap_err().0, 1);
    }

    #[test]
    fn slug_like_laravel() {
        assert_eq!(slug("Laravel", '_'), "laravel");
        assert_eq!(slug("My App", '_'), "my_app");
        assert_eq!(slug("My-App  2", '_'), "my_app_2");
        assert_eq!(slug("a@b", '_'), "a_at_b");
        assert_eq!(slug("My App", '-'), "my-app");
    }

    #[test]
    fn laravel_8_defaults() {
        let s = Settings::from_env(&Env::from_pairs([("APP_NAME", "Laravel")]), None, 8).unwrap();
        assert_eq!(s.redis.prefix, "laravel_database_");
        assert_eq!(s.redis.url.expose(), "redis://127.0.0.1:6379/0");
        assert_eq!(s.redis.cache_url.expose(), "redis://127.0.0.1:6379/1");
        assert_eq!(
            s.cache_key("illuminate:queue:restart"),
            "laravel_database_laravel_cache:illuminate:queue:restart"
        );
        assert_eq!(s.retry_after, 90);
        assert_eq!(s.failed_driver, "database-uuids");
    }

    #[test]
    fn later_versions_change_cache_prefix_shape() {
        let env = Env::from_pairs([("APP_NAME", "Laravel")]);
        let s11 = Settings::from_env(&env, None, 11).unwrap();
        assert_eq!(s11.cache_key("x"), "laravel_database_laravel_cache_x");
        let s9 = Settings::from_env(&env, None, 9).unwrap();
        assert_eq!(s9.cache_key("x"), "laravel_database_laravel_cache_:x");
    }

    #[test]
    fn redis_credentials_and_explicit_prefix() {
        let env = Env::from_pairs([
            ("REDIS_PREFIX", ""),
            ("REDIS_USERNAME", "u"),
            ("REDIS_PASSWORD", "p@ss/w"),
            ("REDIS_DB", "3"),
            ("REDIS_SCHEME", "tls"),
        ]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        assert_eq!(s.redis.prefix, "");
        assert_eq!(
            s.redis.url.expose(),
            "rediss://u:p%40ss%2Fw@127.0.0.1:6379/3"
        );
        assert_eq!(format!("{:?}", s.redis.url), "***");
        assert!(!format!("{s:?}").contains("p@ss"));
    }

    #[test]
    fn redis_url_database_rules() {
        assert_eq!(with_default_db("redis://h:1", 2), "redis://h:1/2");
        assert_eq!(with_default_db("redis://h:1/", 2), "redis://h:1/2");
        assert_eq!(with_default_db("redis://h:1/5", 2), "redis://h:1/5");
        assert_eq!(
            with_default_db("rediss://u:p/x@h:1?insecure", 2),
            "rediss://u:p/x@h:1/2?insecure"
        );
    }

    #[test]
    fn redis_url_fragment_stays_last() {
        assert_eq!(
            with_default_db("rediss://h:1#insecure", 2),
            "rediss://h:1/2#insecure"
        );
        assert_eq!(
            with_default_db("rediss://u:p@h:1/4?protocol=resp3#insecure", 2),
            "rediss://u:p@h:1/4?protocol=resp3#insecure"
        );
        assert_eq!(
            with_default_db("redis+unix:///run/redis.sock", 2),
            "redis+unix:///run/redis.sock"
        );
    }

    #[test]
    fn cluster_is_off_unless_asked() {
        for value in [None, Some(""), Some("false"), Some("0"), Some("OFF")] {
            let mut pairs = vec![("REDIS_HOST", "10.0.0.1")];
            if let Some(v) = value {
                pairs.push(("LARQ_REDIS_CLUSTER", v));
            }
            let s = Settings::from_env(&Env::from_pairs(pairs), None, 8).unwrap();
            assert!(s.redis.cluster.is_none(), "{value:?}");
            assert!(!s.redis.queue_endpoint().unwrap().is_cluster());
        }
        // The skeleton's REDIS_CLUSTER=redis names phpredis's cluster *kind*, set in every app.
        let env = Env::from_pairs([("REDIS_CLUSTER", "redis")]);
        assert!(Settings::from_env(&env, None, 8)
            .unwrap()
            .redis
            .cluster
            .is_none());
    }

    #[test]
    fn cluster_seeds_from_the_redis_settings() {
        let env = Env::from_pairs([
            ("LARQ_REDIS_CLUSTER", "true"),
            ("REDIS_HOST", "cfg.example"),
            ("REDIS_PORT", "7000"),
            ("REDIS_PASSWORD", "pw"),
            ("REDIS_SCHEME", "tls"),
            ("REDIS_DB", "3"),
        ]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        let seeds: Vec<&str> = s
            .redis
            .cluster
            .iter()
            .flatten()
            .map(Secret::expose)
            .collect();
        assert_eq!(seeds, ["rediss://:pw@cfg.example:7000"]);
        assert!(s.redis.queue_endpoint().unwrap().is_cluster());
        assert!(s.redis.cache_endpoint().unwrap().is_cluster());

        let env = Env::from_pairs([
            (
                "LARQ_REDIS_CLUSTER",
                "10.0.0.1:7000, 10.0.0.2:7001,rediss://u:p@h:7002",
            ),
            ("REDIS_URL", "redis://u:secret@old:6379/2#insecure"),
        ]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        let seeds: Vec<&str> = s
            .redis
            .cluster
            .iter()
            .flatten()
            .map(Secret::expose)
            .collect();
        assert_eq!(
            seeds,
            [
                "redis://u:secret@10.0.0.1:7000#insecure",
                "redis://u:secret@10.0.0.2:7001#insecure",
                "rediss://u:p@h:7002"
            ]
        );
        assert!(!format!("{s:?}").contains("secret"));

        let env = Env::from_pairs([("LARQ_REDIS_CLUSTER", "a:1,,b:2")]);
        let err = Settings::from_env(&env, None, 8).unwrap_err().to_string();
        assert!(err.starts_with("LARQ_REDIS_CLUSTER:"), "{err}");
    }

    #[test]
    fn ca_cert_path_is_anchored_at_the_app_and_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), b"PEM").unwrap();
        let env = Env::from_pairs([("LARQ_REDIS_CA_CERT", "ca.pem")]);
        let s = Settings::from_env(&env, Some(dir.path()), 8).unwrap();
        assert_eq!(
            s.redis.ca_cert.as_deref(),
            Some(dir.path().join("ca.pem").as_path())
        );
        assert!(s.redis.queue_endpoint().is_ok());
        let env = Env::from_pairs([("LARQ_REDIS_CA_CERT", "/nonexistent/ca.pem")]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        let err = s.redis.queue_endpoint().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn sqlite_path_is_anchored_at_the_app() {
        let env = Env::from_pairs([("DB_CONNECTION", "sqlite"), ("DB_DATABASE", "db.sqlite")]);
        let s = Settings::from_env(&env, Some(Path::new("/srv/app")), 8).unwrap();
        assert_eq!(s.database.database, "/srv/app/db.sqlite");
    }

    #[test]
    fn file_cache_directory_defaults_to_the_apps_storage() {
        let app = Some(Path::new("/srv/app"));
        let s = Settings::from_env(&Env::from_pairs([("CACHE_DRIVER", "file")]), app, 8).unwrap();
        assert_eq!(
            s.cache_file_path.as_deref(),
            Some(Path::new("/srv/app/storage/framework/cache/data"))
        );
        let env = Env::from_pairs([("LARQ_CACHE_FILE_PATH", "var/cache")]);
        let s = Settings::from_env(&env, app, 8).unwrap();
        assert_eq!(
            s.cache_file_path.as_deref(),
            Some(Path::new("/srv/app/var/cache"))
        );
        let s = Settings::from_env(&Env::from_pairs([("CACHE_DRIVER", "file")]), None, 8).unwrap();
        assert_eq!(s.cache_file_path, None, "no .env, no app directory");
    }

    #[test]
    fn database_queue_settings() {
        let s =
            Settings::from_env(&Env::from_pairs([("DB_CONNECTION", "pgsql")]), None, 8).unwrap();
        assert_eq!(s.database_queue.table, "jobs");
        assert_eq!(s.database_queue.queue, "default");
        assert_eq!(s.database_queue.retry_after, 90);
        assert_eq!(s.cache_driver, None);
        let env = Env::from_pairs([
            ("DB_QUEUE_TABLE", "queue_jobs"),
            ("DB_QUEUE", "emails"),
            ("DB_QUEUE_RETRY_AFTER", "5"),
            ("CACHE_DRIVER", "file"),
        ]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        assert_eq!(s.database_queue.table, "queue_jobs");
        assert_eq!(s.database_queue.queue, "emails");
        assert_eq!(s.database_queue.retry_after, 5);
        assert_eq!(s.cache_driver.as_deref(), Some("file"));
    }

    #[test]
    fn failed_driver_null_turns_failed_job_logging_off() {
        let unset = Settings::from_env(&Env::from_pairs([("A", "b")]), None, 8).unwrap();
        assert_eq!(unset.failed_driver, "database-uuids");
        for word in ["null", "(null)"] {
            let env = Env::from_pairs([("QUEUE_FAILED_DRIVER", word)]);
            assert_eq!(
                Settings::from_env(&env, None, 8).unwrap().failed_driver,
                "null"
            );
        }
        let env = Env::from_pairs([("QUEUE_FAILED_DRIVER", "database-uuids")]);
        let s = Settings::from_env(&env, None, 8).unwrap();
        assert_eq!(s.failed_driver, "database-uuids");
    }

    #[test]
    fn env_null_and_empty_words() {
        let env = Env::from_pairs([("A", "null"), ("B", "(empty)")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some(""));
    }
}
