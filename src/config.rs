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

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::laravel::Laravel;
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
            vars: process_vars().collect(),
        }
    }

    /// A `.env` file, overlaid with the process environment (which wins, as in Laravel).
    pub fn from_file_and_process(path: &Path) -> Result<Env, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Env::from_dotenv_str(&text, process_vars()).map_err(|(line, message)| ConfigError::Syntax {
            path: path.to_owned(),
            line,
            message,
        })
    }

    /// A `.env` text read against a given process environment, which wins over the file and is
    /// what `${NAME}` sees first, as with Laravel's immutable phpdotenv repository
    /// ([`parse_dotenv_with`]). Separate from [`Env::from_file_and_process`] so the phpdotenv
    /// corpus can pin the process environment. Errors: 1-based line and message.
    pub fn from_dotenv_str<I>(text: &str, process: I) -> Result<Env, (usize, String)>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let process: HashMap<String, String> = process.into_iter().collect();
        let file = parse_dotenv_with(text, &|name: &str| process.get(name).cloned())?;
        let mut vars: HashMap<String, String> = file
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect();
        vars.extend(process);
        Ok(Env { vars })
    }

    /// A variable exactly as stored, before [`Env::get`]'s `null`/`empty` words apply.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
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

/// The process environment, skipping variables whose name or value is not UTF-8 (no setting
/// larq reads can be one, and `std::env::vars` would panic on them).
fn process_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// Parse a `.env` text with the real process environment (the unit tests' shorthand); see
/// [`parse_dotenv_with`].
///
/// Returns the values the file sets (a name the file clears, or never gives a value, is absent).
/// Errors carry the 1-based line number and phpdotenv's own wording.
#[cfg(test)]
fn parse_dotenv(text: &str) -> Result<HashMap<String, String>, (usize, String)> {
    let entries = parse_dotenv_with(text, &|name: &str| std::env::var(name).ok())?;
    Ok(entries
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect())
}

/// What a `.env` file does to each name it mentions, in first-mention order: `Some(value)`, or
/// `None` when a bare `NAME` line clears it.
pub type DotenvEntries = Vec<(String, Option<String>)>;

/// Read a `.env` text the way Laravel does: vlucas/phpdotenv 5 behind an *immutable* repository.
///
/// Matching phpdotenv rather than some common `.env` dialect matters because the PHP side and
/// larq must derive the same Redis prefixes and credentials from one file; every rule below is
/// pinned by the corpus in `php-fixtures/dotenv/`, whose expectations the real library wrote
/// (`tests/integration/dotenv_corpus.rs`). In short:
///
/// * lines end at `\r\n`, `\n` or `\r`; blank lines and lines starting with `#` are skipped;
/// * a value opened with `="` and not closed on its line runs over the following lines (an
///   unclosed one at the end of the file is dropped silently, as phpdotenv drops it);
/// * `NAME=value`: name and value are trimmed; `export ` is dropped only from names of more than
///   8 characters; a name may be quoted; names are `[A-Za-z0-9_.]+`; a bare `NAME` clears it;
/// * unquoted values end at whitespace or `#` (after whitespace only a comment may follow);
///   `'…'` is literal; `"…"` knows `\" \\ \$ \f \n \r \t \v` and nothing else;
/// * `${NAME}` (not `$NAME`) in unquoted and double-quoted values is replaced by the process
///   value of NAME if it has one (the process environment wins and is never overwritten), else by
///   the value an earlier line gave it; an unknown name stays literally `${NAME}`.
///
/// `process` looks a name up in the process environment. The result lists every name the file
/// gives a value or clears, in first-mention order, with the file's last word on it (`None` when
/// cleared); whether the process value overrides it is the caller's business ([`Env`]).
pub fn parse_dotenv_with(
    text: &str,
    process: &dyn Fn(&str) -> Option<String>,
) -> Result<DotenvEntries, (usize, String)> {
    // phpdotenv parses the whole file before it sets anything, so one bad line sets nothing.
    let mut parsed = Vec::new();
    for (line_no, raw) in dotenv_entries(text) {
        let entry = parse_entry(&raw).map_err(|message| (line_no, message))?;
        parsed.push(entry);
    }
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for (name, value) in parsed {
        let value = value.map(|v| {
            v.resolve(|var| {
                process(var).or_else(|| {
                    out.iter()
                        .find(|(n, _)| n == var)
                        .and_then(|(_, v)| v.clone())
                })
            })
        });
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    Ok(out)
}

/// The file's entries with the 1-based line each starts on: comment and blank lines dropped, a
/// multi-line double-quoted value joined with `\n`. phpdotenv decides where such a value ends by
/// counting quotes per line (not by parsing), and so does this, quirks included: a commented-out
/// `# A="…` with one quote swallows lines up to the next line holding a quote.
fn dotenv_entries(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut buffer: Vec<&str> = Vec::new();
    let mut buffer_start = 0;
    for (i, line) in split_lines(text).enumerate() {
        let started = line.contains("=\"") && !closes_quote(line, true);
        if started && buffer.is_empty() {
            buffer_start = i + 1;
        }
        if started || !buffer.is_empty() {
            buffer.push(line);
            if closes_quote(line, started) {
                let joined = buffer.join("\n");
                buffer.clear();
                if !is_comment_or_blank(&joined) {
                    out.push((buffer_start, joined));
                }
            }
        } else if !is_comment_or_blank(line) {
            out.push((i + 1, line.to_owned()));
        }
    }
    out
}

/// Lines split at `\r\n`, `\n` or a lone `\r`.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// Whether `line` ends a multi-line value: it is a lone `"`, or (after dropping `\\` pairs) holds
/// a `"` not preceded by a backslash; twice when the same line also opened the value.
fn closes_quote(line: &str, started: bool) -> bool {
    if line == "\"" {
        return true;
    }
    let bytes = line.replace("\\\\", "").into_bytes();
    let quotes = bytes
        .windows(2)
        .filter(|w| w[0] != b'\\' && w[1] == b'"')
        .count();
    if started {
        quotes > 1
    } else {
        quotes >= 1
    }
}

/// PHP's `trim()` set: space, `\t`, `\n`, `\r`, NUL and vertical tab (not form feed).
fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
}

fn is_comment_or_blank(line: &str) -> bool {
    let t = php_trim(line);
    t.is_empty() || t.starts_with('#')
}

/// phpdotenv's error text, which names the first line of what it could not read.
fn encountered(cause: &str, subject: &str) -> String {
    let first = subject.split('\n').find(|s| !s.is_empty()).unwrap_or("");
    format!("Encountered {cause} at [{first}].")
}

/// One entry: its name and, unless it is a bare name, its value before `${…}` resolution.
fn parse_entry(entry: &str) -> Result<(String, Option<RawValue>), String> {
    let (name, value) = match entry.split_once('=') {
        Some((n, v)) => (php_trim(n), Some(php_trim(v))),
        None => (php_trim(entry), None),
    };
    if name.is_empty() {
        return Err(encountered("an unexpected equals", entry));
    }
    let name = entry_name(name);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(encountered("an invalid name", name));
    }
    let value = match value {
        Some(v) => Some(parse_value(v).map_err(|cause| encountered(cause, v))?),
        None => None,
    };
    Ok((name.to_owned(), value))
}

/// Drop `export` + whitespace (only from names longer than 8 characters, so `export A` stays an
/// invalid name as in phpdotenv) and one pair of surrounding quotes.
fn entry_name(name: &str) -> &str {
    let mut name = name;
    if name.chars().count() > 8 {
        if let Some(rest) = name.strip_prefix("export") {
            if rest.starts_with([' ', '\t', '\n', '\r', '\x0B', '\x0C']) {
                name = rest.trim_start_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
            }
        }
    }
    if name.chars().count() >= 3
        && ((name.starts_with('"') && name.ends_with('"'))
            || (name.starts_with('\'') && name.ends_with('\'')))
    {
        name = &name[1..name.len() - 1];
    }
    name
}

/// A value's text and the byte offsets of the `$` signs that may start a `${NAME}` reference
/// (a `$` from `\$` or inside single quotes is not one).
struct RawValue {
    text: String,
    vars: Vec<usize>,
}

impl RawValue {
    /// Replace the references right to left, so a replacement never shifts one still to do and
    /// a value brought in is not scanned again.
    fn resolve(self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut text = self.text;
        for &at in self.vars.iter().rev() {
            let Some(body) = text[at..].strip_prefix("${") else {
                continue;
            };
            let len = body
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
                .count();
            if len == 0 || body.as_bytes().get(len) != Some(&b'}') {
                continue;
            }
            if let Some(value) = lookup(&body[..len]) {
                text.replace_range(at..at + 2 + len + 1, &value);
            }
        }
        text
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ValueState {
    Initial,
    Unquoted,
    Single,
    Double,
    Escape,
    /// After a closing quote or inside unquoted whitespace: only whitespace or a comment may follow.
    Whitespace,
    Comment,
}

/// The token kinds phpdotenv's lexer cuts a value into.
#[derive(Clone, Copy, PartialEq)]
enum Token<'a> {
    /// A run of whitespace (line breaks included).
    Space(&'a str),
    Backslash,
    Single,
    Double,
    Hash,
    Dollar,
    /// A run of any other characters.
    Text(&'a str),
}

impl<'a> Token<'a> {
    /// The token's text as written.
    fn as_str(self) -> &'a str {
        match self {
            Token::Space(s) | Token::Text(s) => s,
            Token::Backslash => "\\",
            Token::Single => "'",
            Token::Double => "\"",
            Token::Hash => "#",
            Token::Dollar => "$",
        }
    }
}

fn tokens(s: &str) -> impl Iterator<Item = Token<'_>> {
    // phpdotenv keeps line breaks and other whitespace apart, but no state tells them apart.
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C');
    let mut rest = s;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        let (token, len) = match c {
            '\\' => (Token::Backslash, 1),
            '\'' => (Token::Single, 1),
            '"' => (Token::Double, 1),
            '#' => (Token::Hash, 1),
            '$' => (Token::Dollar, 1),
            c if is_space(c) => {
                let len = rest.find(|c| !is_space(c)).unwrap_or(rest.len());
                (Token::Space(&rest[..len]), len)
            }
            _ => {
                let len = rest
                    .find(|c| is_space(c) || matches!(c, '\\' | '\'' | '"' | '#' | '$'))
                    .unwrap_or(rest.len());
                (Token::Text(&rest[..len]), len)
            }
        };
        rest = &rest[len..];
        Some(token)
    })
}

/// phpdotenv's value state machine; the error is its cause wording.
fn parse_value(value: &str) -> Result<RawValue, &'static str> {
    use ValueState::*;
    let mut out = RawValue {
        text: String::new(),
        vars: Vec::new(),
    };
    let mut state = Initial;
    for token in tokens(value) {
        state = match (state, token) {
            (Initial, Token::Single) => Single,
            (Initial, Token::Double) => Double,
            (Initial | Unquoted, Token::Hash) => Comment,
            (Unquoted, Token::Space(_)) => Whitespace,
            (Initial | Unquoted | Double, Token::Dollar) => {
                out.vars.push(out.text.len());
                out.text.push('$');
                if state == Double {
                    Double
                } else {
                    Unquoted
                }
            }
            (Initial | Unquoted, t) => {
                out.text.push_str(t.as_str());
                Unquoted
            }
            (Single, Token::Single) | (Double, Token::Double) => Whitespace,
            (Single, t) => {
                out.text.push_str(t.as_str());
                Single
            }
            (Double, Token::Backslash) => Escape,
            (Double, t) => {
                out.text.push_str(t.as_str());
                Double
            }
            (Escape, t @ (Token::Double | Token::Backslash | Token::Dollar)) => {
                out.text.push_str(t.as_str());
                Double
            }
            (Escape, Token::Text(s)) => {
                let mut chars = s.chars();
                let control = match chars.next() {
                    Some('f') => '\x0C',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('v') => '\x0B',
                    _ => return Err("an unexpected escape sequence"),
                };
                out.text.push(control);
                out.text.push_str(chars.as_str());
                Double
            }
            (Escape, _) => return Err("an unexpected escape sequence"),
            (Whitespace, Token::Hash) => Comment,
            (Whitespace, Token::Space(_)) => Whitespace,
            (Whitespace, _) => return Err("unexpected whitespace"),
            (Comment, _) => Comment,
        };
    }
    match state {
        Single | Double | Escape => Err("a missing closing quote"),
        _ => Ok(out),
    }
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

/// The `database` cache store (`config/cache.php` → `stores.database`).
#[derive(Debug, Clone)]
pub struct DatabaseCacheSettings {
    /// `DB_CACHE_TABLE` (default `cache`; 8–10's skeleton hard-codes `cache`).
    pub table: String,
    /// `DB_CACHE_LOCK_TABLE` (default `cache_locks`), where unique locks live.
    pub lock_table: String,
    /// `DB_CACHE_CONNECTION`: the store's connection when it is not the default one.
    pub connection: Option<String>,
    /// `DB_CACHE_LOCK_CONNECTION`: the locks' connection when it is not the store's.
    pub lock_connection: Option<String>,
}

/// The `rabbitmq` queue connection (`config/queue.php` → `connections.rabbitmq` of
/// `vladimir-yuldashev/laravel-queue-rabbitmq`). The host, port, user, password, vhost and queue
/// come from the package's own variables; its `options.queue.*` are PHP config with no variable,
/// so larq reads them from `RABBITMQ_<OPTION>` (the fixture app's config/queue.php reads the same
/// names). As in the package, an empty, `0` or `false` option keeps the default.
#[derive(Debug, Clone)]
pub struct RabbitMqSettings {
    /// `RABBITMQ_HOST` (127.0.0.1).
    pub host: String,
    /// `RABBITMQ_PORT` (5672).
    pub port: u16,
    /// `RABBITMQ_USER` (guest).
    pub user: String,
    /// `RABBITMQ_PASSWORD` (guest).
    pub password: Secret,
    /// `RABBITMQ_VHOST` (`/`).
    pub vhost: String,
    /// `RABBITMQ_QUEUE`: the connection's default queue (`default`).
    pub queue: String,
    /// `RABBITMQ_SECURE`: TLS (`amqps`).
    pub secure: bool,
    /// `RABBITMQ_HEARTBEAT` seconds (0: larq's 30).
    pub heartbeat: u16,
    /// `RABBITMQ_EXCHANGE` (the default exchange).
    pub exchange: String,
    /// `RABBITMQ_EXCHANGE_TYPE` (`direct`).
    pub exchange_type: String,
    /// `RABBITMQ_EXCHANGE_ROUTING_KEY` (`%s`).
    pub exchange_routing_key: String,
    /// `RABBITMQ_PRIORITIZE_DELAYED`.
    pub prioritize_delayed: bool,
    /// `RABBITMQ_QUEUE_MAX_PRIORITY` (2).
    pub queue_max_priority: u8,
    /// `RABBITMQ_REROUTE_FAILED`.
    pub reroute_failed: bool,
    /// `RABBITMQ_FAILED_EXCHANGE` (the default exchange).
    pub failed_exchange: String,
    /// `RABBITMQ_FAILED_ROUTING_KEY` (`%s.failed`).
    pub failed_routing_key: String,
    /// `RABBITMQ_QUORUM`: quorum queues.
    pub quorum: bool,
}

impl RabbitMqSettings {
    /// Read the connection's settings.
    pub fn from_env(env: &Env) -> Result<RabbitMqSettings, ConfigError> {
        let truthy = |name: &str| {
            env.get(name).is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
        };
        // The package's `if ($v = Arr::pull(...))`: a falsy value keeps the default.
        let text = |name: &str, default: &str| {
            env.get(name)
                .filter(|v| !v.is_empty() && *v != "0" && !v.eq_ignore_ascii_case("false"))
                .unwrap_or(default)
                .to_owned()
        };
        Ok(RabbitMqSettings {
            host: text("RABBITMQ_HOST", "127.0.0.1"),
            port: env.parse_num("RABBITMQ_PORT", 5672)?,
            user: text("RABBITMQ_USER", "guest"),
            password: Secret::new(text("RABBITMQ_PASSWORD", "guest")),
            vhost: text("RABBITMQ_VHOST", "/"),
            queue: text("RABBITMQ_QUEUE", "default"),
            secure: truthy("RABBITMQ_SECURE"),
            heartbeat: env.parse_num("RABBITMQ_HEARTBEAT", 0)?,
            exchange: text("RABBITMQ_EXCHANGE", ""),
            exchange_type: text("RABBITMQ_EXCHANGE_TYPE", "direct"),
            exchange_routing_key: text("RABBITMQ_EXCHANGE_ROUTING_KEY", "%s"),
            prioritize_delayed: truthy("RABBITMQ_PRIORITIZE_DELAYED"),
            queue_max_priority: env.parse_num("RABBITMQ_QUEUE_MAX_PRIORITY", 2)?,
            reroute_failed: truthy("RABBITMQ_REROUTE_FAILED"),
            failed_exchange: text("RABBITMQ_FAILED_EXCHANGE", ""),
            failed_routing_key: text("RABBITMQ_FAILED_ROUTING_KEY", "%s.failed"),
            quorum: truthy("RABBITMQ_QUORUM"),
        })
    }
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
    /// `QUEUE_CONNECTION`: the default connection name (unset: [`Laravel::default_queue_connection`]).
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
    /// The `rabbitmq` queue connection.
    pub rabbitmq: RabbitMqSettings,
    /// The cache store the app names (the version's variable, `CACHE_DRIVER` up to 10 and
    /// `CACHE_STORE` from 11, else the other one), `None` when unset: see
    /// [`Settings::cache_store`] for the store that means.
    pub cache_driver: Option<String>,
    /// The `database` cache store's tables and connections.
    pub database_cache: DatabaseCacheSettings,
    /// The `file` cache store's directory, where `queue:restart` writes with `CACHE_DRIVER=file`:
    /// `LARQ_CACHE_FILE_PATH` (relative to the app), else Laravel's default
    /// `<app>/storage/framework/cache/data`; `None` without either (no `--env`).
    pub cache_file_path: Option<PathBuf>,
    /// `<app>/storage/framework/down`, which `php artisan down` creates (`None` without `--env`).
    pub maintenance_file: Option<PathBuf>,
    /// The Laravel version whose conventions apply (defaults, key shapes, messages).
    pub laravel: Laravel,
}

impl Settings {
    /// Build settings from an environment. `app_dir` (the directory holding `.env`) anchors a
    /// relative SQLite path, as PHP resolves it from the app's base path.
    pub fn from_env(
        env: &Env,
        app_dir: Option<&Path>,
        laravel: impl Into<Laravel>,
    ) -> Result<Settings, ConfigError> {
        let laravel = laravel.into();
        let app_name = env.get_or("APP_NAME", "Laravel").to_owned();
        let prefix = match env.get("REDIS_PREFIX") {
            Some(p) => p.to_owned(),
            None => laravel.redis_prefix(&app_name),
        };
        let cache_prefix = match env.get("CACHE_PREFIX") {
            Some(p) => p.to_owned(),
            None => laravel.cache_prefix(&app_name),
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
        // Unset DB_CONNECTION: the version's default (`sqlite` from 11). Up to 10 that is
        // `mysql`, unless the app evidently uses SQLite (its DB_DATABASE names a .sqlite file, or
        // database/database.sqlite exists), since apps that hard-code `sqlite` in
        // config/database.php leave the variable out.
        let connection = match env.get("DB_CONNECTION").filter(|c| !c.is_empty()) {
            Some(c) => c.to_owned(),
            None if laravel.default_db_connection() == "sqlite" => "sqlite".to_owned(),
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
            // Unset: the version's default (`database` from 11; up to 10 the skeleton's `sync` is
            // nothing to work, so the connection larq works: `redis`).
            queue_connection: env
                .get_or("QUEUE_CONNECTION", laravel.default_queue_connection())
                .to_owned(),
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
            cache_prefix_colon: laravel.redis_cache_colon(),
            // `QUEUE_FAILED_DRIVER=null` is how an app turns failed-job logging off: PHP's `env()`
            // returns null for the word, and a null driver selects the null provider. `Env::get`
            // reads the word as "unset" (which would pick the default), so look at it first.
            failed_driver: match env.vars.get("QUEUE_FAILED_DRIVER").map(String::as_str) {
                Some("null") | Some("(null)") => "null".to_owned(),
                _ => env
                    .get_or("QUEUE_FAILED_DRIVER", "database-uuids")
                    .to_owned(),
            },
            rabbitmq: RabbitMqSettings::from_env(env)?,
            database_queue: DatabaseQueueSettings {
                table: env.get_or("DB_QUEUE_TABLE", "jobs").to_owned(),
                queue: env.get_or("DB_QUEUE", "default").to_owned(),
                retry_after: env.parse_num("DB_QUEUE_RETRY_AFTER", 90)?,
            },
            cache_driver: [
                laravel.cache_store_var(),
                laravel.cache_store_fallback_var(),
            ]
            .into_iter()
            .find_map(|var| env.get(var).filter(|d| !d.is_empty()))
            .map(str::to_owned),
            database_cache: DatabaseCacheSettings {
                table: env.get_or("DB_CACHE_TABLE", "cache").to_owned(),
                lock_table: env.get_or("DB_CACHE_LOCK_TABLE", "cache_locks").to_owned(),
                connection: env
                    .get("DB_CACHE_CONNECTION")
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
                lock_connection: env
                    .get("DB_CACHE_LOCK_CONNECTION")
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            },
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
            laravel,
        })
    }

    /// The app's cache store: the one it names, else the version's default (`file` up to 10,
    /// `database` from 11); never Redis by assumption.
    pub fn cache_store(&self) -> &str {
        self.cache_driver
            .as_deref()
            .unwrap_or(self.laravel.default_cache_store())
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
///
/// Split by hand rather than with the `url` crate: WHATWG parsing refuses URLs PHP's
/// `parse_url` takes (a raw `/` in the password, `rediss://u:p/x@h:1`, reads as host `u`, port
/// `p`), and re-serialising would rewrite the user's text; here every byte not touched is kept.
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

/// RFC 3986's unreserved characters, the only ones a userinfo component may carry unencoded
/// whatever the password holds (`@`, `/`, `:` and `%` must not end or split it).
const USERINFO_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode a URL userinfo component (upper-case hex, every byte of non-ASCII text).
pub(crate) fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, USERINFO_KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_quotes_comments_expansion() {
        // `export` is dropped only from names of more than 8 characters (phpdotenv 5.4).
        let text = "# comment\nAPP_NAME=\"My App\"\nexport AA=plain # trailing\nB='lit ${AA}'\nC=\"${AA}-x\\n\"\nD=\nE=\"two\nlines\"\nF=a#b\n";
        let vars = parse_dotenv(text).unwrap();
        assert_eq!(vars["APP_NAME"], "My App");
        assert_eq!(vars["AA"], "plain");
        assert_eq!(vars["B"], "lit ${AA}");
        assert_eq!(vars["C"], "plain-x\n");
        assert_eq!(vars["D"], "");
        assert_eq!(vars["E"], "two\nlines");
        // phpdotenv 5 starts a comment at any `#` of an unquoted value.
        assert_eq!(vars["F"], "a");
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let (line, message) = parse_dotenv("A=1\nnonsense here\n").unwrap_err();
        assert_eq!(line, 2);
        assert_eq!(message, "Encountered an invalid name at [nonsense here].");
        assert_eq!(parse_dotenv("A='x\n").unwrap_err().0, 1);
        assert_eq!(parse_dotenv("A=1\nB=\"x\ny\" z\n").unwrap_err().0, 2);
    }

    #[test]
    fn dotenv_process_environment_wins_and_is_seen_by_references() {
        let process = [("P".to_owned(), "proc".to_owned())];
        let env = Env::from_dotenv_str("P=file\nQ=${P}\nR\n", process).unwrap();
        assert_eq!(env.raw("P"), Some("proc"));
        assert_eq!(env.raw("Q"), Some("proc"));
        assert_eq!(env.raw("R"), None);
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
    fn the_cache_store_and_connections_default_per_version() {
        let app = Some(Path::new("/srv/app"));
        let empty = Env::from_pairs([("APP_NAME", "Laravel")]);
        let s10 = Settings::from_env(&empty, app, 10).unwrap();
        assert_eq!(s10.cache_store(), "file");
        assert_eq!(s10.database.connection, "mysql");
        assert_eq!(s10.queue_connection, "redis");
        let s13 = Settings::from_env(&empty, app, 13).unwrap();
        assert_eq!(s13.cache_store(), "database");
        assert_eq!(s13.database.connection, "sqlite");
        assert_eq!(s13.database.database, "/srv/app/database/database.sqlite");
        assert_eq!(s13.queue_connection, "database");
        assert_eq!(s13.cache_prefix, "laravel-cache-");
        assert_eq!(s13.database_cache.table, "cache");
        assert_eq!(s13.database_cache.lock_table, "cache_locks");
        assert_eq!(s13.database_cache.connection, None);

        // Each version's own variable first, the other family's when it alone is set.
        let both = Env::from_pairs([("CACHE_DRIVER", "redis"), ("CACHE_STORE", "array")]);
        assert_eq!(
            Settings::from_env(&both, None, 10).unwrap().cache_store(),
            "redis"
        );
        assert_eq!(
            Settings::from_env(&both, None, 11).unwrap().cache_store(),
            "array"
        );
        let old = Env::from_pairs([("CACHE_DRIVER", "redis")]);
        assert_eq!(
            Settings::from_env(&old, None, 13).unwrap().cache_store(),
            "redis"
        );

        let env = Env::from_pairs([
            ("DB_CACHE_TABLE", "kv"),
            ("DB_CACHE_LOCK_TABLE", "kv_locks"),
            ("DB_CACHE_CONNECTION", "pgsql"),
        ]);
        let s = Settings::from_env(&env, None, 13).unwrap();
        assert_eq!(
            (
                s.database_cache.table.as_str(),
                s.database_cache.lock_table.as_str()
            ),
            ("kv", "kv_locks")
        );
        assert_eq!(s.database_cache.connection.as_deref(), Some("pgsql"));
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
    fn userinfo_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("p@ss/w:%é "), "p%40ss%2Fw%3A%25%C3%A9%20");
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
