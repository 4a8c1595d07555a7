//! The JSON envelope Laravel pushes for every queued job (`Illuminate\Queue\Queue::createPayloadArray`).
//!
//! The worker reads the envelope for its scheduling facts (tries, backoff, timeout, retryUntil...)
//! and hands `data.command` to [`crate::php`]. Several writers touch a payload on its way (PHP's
//! `json_encode`, Redis's cjson on every reserve, `queue:retry`, Horizon), so the model is
//! deliberately lenient: every field is optional, numbers may arrive as floats or numeric strings,
//! an empty object may stand for an empty array, and unknown keys are kept in [`Payload::extra`].
//!
//! The model is for *reading*. The bytes a worker later removes from Redis are never rebuilt from
//! it (Redis matches reserved jobs by value); see [`crate::queue::redis`].

pub mod framework;
pub mod queueable;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `job` of every payload Laravel's bus pushes (commands, and through them listeners, mail,
/// notifications): PHP's worker calls `CallQueuedHandler::call`, which unserializes
/// `data.command`. A payload naming anything else is run by PHP as that class's method, never
/// as the command, so larq runs the command only under this name.
pub const CALL_QUEUED_HANDLER: &str = "Illuminate\\Queue\\CallQueuedHandler@call";

/// Why a payload could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The bytes are not a JSON object Laravel could have written.
    #[error("the payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// One Laravel job payload, as written by Laravel 8 to 12 (and Horizon 5).
///
/// Field order follows Laravel 8's `createPayloadArray` so that [`Payload::to_json`] writes the
/// same key order PHP does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `Str::uuid()`: the job's identity in failed_jobs, the `job-exceptions:` counter, batches.
    #[serde(default, deserialize_with = "lenient_string")]
    pub uuid: Option<String>,
    /// What `queue:work` prints; the user's class even when `commandName` is a framework wrapper.
    #[serde(rename = "displayName", default, deserialize_with = "lenient_string")]
    pub display_name: Option<String>,
    /// `Class@method` the PHP worker resolves (`Illuminate\Queue\CallQueuedHandler@call`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub job: Option<String>,
    /// The job's `$tries`; overrides `--tries`; `0` means unlimited.
    #[serde(rename = "maxTries", default, deserialize_with = "lenient_int")]
    pub max_tries: Option<i64>,
    /// The job's `$maxExceptions`.
    #[serde(rename = "maxExceptions", default, deserialize_with = "lenient_int")]
    pub max_exceptions: Option<i64>,
    /// The job's `$failOnTimeout`.
    #[serde(rename = "failOnTimeout", default, deserialize_with = "lenient_bool")]
    pub fail_on_timeout: Option<bool>,
    /// The job's backoff as Laravel writes it: a comma list of seconds (`"10,30,60"`).
    #[serde(default, deserialize_with = "lenient_backoff")]
    pub backoff: Option<String>,
    /// The job's `$timeout` in seconds; overrides `--timeout`.
    #[serde(default, deserialize_with = "lenient_int")]
    pub timeout: Option<i64>,
    /// Unix time after which the job must not be retried; overrides tries entirely.
    #[serde(rename = "retryUntil", default, deserialize_with = "lenient_int")]
    pub retry_until: Option<i64>,
    /// Pre-8 name of `retryUntil`, still honoured by Laravel 8's `Job::retryUntil()`.
    #[serde(
        rename = "timeoutAt",
        default,
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout_at: Option<i64>,
    /// 12.x+: whether a job whose models are gone is deleted instead of failed (the job's
    /// `$deleteWhenMissingModels`); written before `data`, as 13 does.
    #[serde(
        rename = "deleteWhenMissingModels",
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub delete_when_missing_models: Option<bool>,
    /// `commandName` and the serialized `command` (a string payload's non-object `data` is kept
    /// under `data.extra["value"]`).
    #[serde(default, deserialize_with = "lenient_data")]
    pub data: PayloadData,
    /// 12.11+: when the payload was created (unix seconds).
    #[serde(
        rename = "createdAt",
        default,
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<i64>,
    /// Redis driver: `Str::random(32)` (Horizon: the uuid); what `queue:work` prints in brackets.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Redis driver: reserves so far (0 at push, incremented inside Redis at every reserve).
    #[serde(
        default,
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub attempts: Option<i64>,
    /// 12.11+: the dispatch delay in seconds (and, in 12.x, a fallback backoff).
    #[serde(
        default,
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<i64>,
    /// Horizon: `job`, `mail`, `notification`, `broadcast` or `event`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Horizon: the job's tags (an empty list may arrive as `{}` after cjson).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// Horizon: `microtime(true)` at push, as a string.
    #[serde(rename = "pushedAt", default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<Value>,
    /// Keys added by `createPayloadUsing` hooks, 11.x's `illuminate:log:context`, later versions.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `data` member: which class to run and its serialized state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PayloadData {
    /// The class `data.command` unserializes to (a wrapper class for listeners, mail...).
    #[serde(
        rename = "commandName",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub command_name: Option<String>,
    /// `serialize($job)`, or Laravel's encrypter envelope for `ShouldBeEncrypted` jobs.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub command: Option<String>,
    /// 12.51+: the batch the job belongs to.
    #[serde(
        rename = "batchId",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_id: Option<String>,
    /// Anything else (string payloads carry arbitrary data here).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Payload {
    /// Read a payload from the bytes popped off a queue.
    pub fn from_slice(bytes: &[u8]) -> Result<Payload, PayloadError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// A fresh Laravel 8-shaped payload for an object job, as `dispatch()` would push it to Redis:
    /// new uuid and id, `attempts` 0, options unset.
    pub fn for_command(class: &str, command: impl Into<String>) -> Payload {
        Payload {
            uuid: Some(uuid::Uuid::new_v4().to_string()),
            display_name: Some(class.to_owned()),
            job: Some(CALL_QUEUED_HANDLER.to_owned()),
            fail_on_timeout: Some(false),
            data: PayloadData {
                command_name: Some(class.to_owned()),
                command: Some(command.into()),
                ..PayloadData::default()
            },
            id: Some(random_id()),
            attempts: Some(0),
            ..Payload::default()
        }
    }

    /// Add what Laravel 13 writes into a fresh object payload besides Laravel 8's fields
    /// (`Queue::createObjectPayload`, `Queue::createPayload`): `deleteWhenMissingModels` before
    /// `data`, `data.batchId`, `createdAt` (the dispatch time, unix seconds) after `data`, and
    /// `delay` (seconds, or null) at the very end. A PHP worker of 13 reads them, and a chain link
    /// larq pushes then has the fields of the one PHP pushes.
    ///
    /// 13 writes an unset `delay` and `batchId` as `null`, which the typed fields (skipped when
    /// `None`) cannot; those nulls go into [`Payload::extra`] / [`PayloadData::extra`], which are
    /// written last in their object, exactly where 13 has them.
    pub fn add_laravel_13_fields(
        &mut self,
        created_at: i64,
        delay: Option<i64>,
        batch_id: Option<String>,
        delete_when_missing_models: bool,
    ) {
        self.delete_when_missing_models = Some(delete_when_missing_models);
        self.created_at = Some(created_at);
        match delay {
            Some(d) => self.delay = Some(d),
            None => {
                self.extra.insert("delay".to_owned(), Value::Null);
            }
        }
        match batch_id {
            Some(id) => self.data.batch_id = Some(id),
            None => {
                self.data.extra.insert("batchId".to_owned(), Value::Null);
            }
        }
    }

    /// The JSON text, keys in Laravel's order. Only for pushing *new* jobs: a popped job is
    /// deleted and released by its exact reserved bytes, never by a re-encoding.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// What `queue:work` prints: `displayName` if non-empty, else `job` (`Job::resolveName`).
    pub fn resolve_name(&self) -> &str {
        match self.display_name.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => self.job.as_deref().unwrap_or(""),
        }
    }

    /// `retryUntil ?? timeoutAt`, as Laravel 8's `Job::retryUntil()`; 0 counts as unset there
    /// (PHP tests it for truthiness), so it does here.
    pub fn retry_until(&self) -> Option<i64> {
        self.retry_until.or(self.timeout_at).filter(|&t| t != 0)
    }

    /// The backoff for a given attempt from the payload's list (`"10,30,60"`: index attempts−1,
    /// else the last); `None` when the payload has no backoff, so the worker's `--backoff` applies.
    pub fn backoff_for(&self, attempts: i64) -> Option<u64> {
        self.backoff
            .as_deref()
            .map(|list| pick_backoff(list, attempts))
    }
}

/// Pick the delay for `attempts` from a comma list the way `Worker::calculateBackoff` does: split on
/// `,`, element `attempts − 1`, else the last; each cast like PHP's `(int)` (leading digits, else 0).
pub fn pick_backoff(list: &str, attempts: i64) -> u64 {
    let items: Vec<&str> = list.split(',').collect();
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(0);
    let item = items
        .get(index)
        .or_else(|| items.last())
        .copied()
        .unwrap_or("");
    php_int_cast(item).max(0) as u64
}

/// PHP's `(int)` on a string: optional whitespace and sign, leading digits, anything after ignored.
fn php_int_cast(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits[..end]
        .parse()
        .unwrap_or(if end > 0 { i64::MAX } else { 0 });
    if neg {
        -n
    } else {
        n
    }
}

/// `Str::random(32)`: the Redis driver's job id.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .chain(more.iter())
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            // cjson prints integers past 14 significant digits as floats.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(b)),
        _ => None,
    })
}

fn lenient_data<'de, D: Deserializer<'de>>(d: D) -> Result<PayloadData, D::Error> {
    match Value::deserialize(d)? {
        v @ Value::Object(_) => serde_json::from_value(v).map_err(de::Error::custom),
        Value::Null => Ok(PayloadData::default()),
        other => {
            let mut extra = Map::new();
            extra.insert("value".to_owned(), other);
            Ok(PayloadData {
                extra,
                ..PayloadData::default()
            })
        }
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => Some(!(s.is_empty() || s == "0")),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// `backoff` is a comma string, but an int (or, from hand-written producers, an array) is read too.
fn lenient_backoff<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Null => None,
        other => {
            return Err(de::Error::custom(format!(
                "backoff must be a comma list, found {other}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LARAVEL8: &str = r#"{"uuid":"0e3a8a1b-2f57-4d7e-9a52-6d1e3c1f2a10","displayName":"App\\Jobs\\PlainJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":3,"maxExceptions":null,"failOnTimeout":false,"backoff":"5,10","timeout":null,"retryUntil":null,"data":{"commandName":"App\\Jobs\\PlainJob","command":"O:17:\"App\\Jobs\\PlainJob\":0:{}"},"id":"HS3J2kKzrljvvvs6YQtTtpmiUs3kaVrz","attempts":0}"#;

    #[test]
    fn reads_a_laravel_8_payload() {
        let p = Payload::from_slice(LARAVEL8.as_bytes()).unwrap();
        assert_eq!(p.max_tries, Some(3));
        assert_eq!(p.max_exceptions, None);
        assert_eq!(p.fail_on_timeout, Some(false));
        assert_eq!(p.data.command_name.as_deref(), Some("App\\Jobs\\PlainJob"));
        assert_eq!(
            p.data.command.as_deref(),
            Some("O:17:\"App\\Jobs\\PlainJob\":0:{}")
        );
        assert_eq!(p.id.as_deref(), Some("HS3J2kKzrljvvvs6YQtTtpmiUs3kaVrz"));
        assert_eq!(p.attempts, Some(0));
        assert!(p.extra.is_empty());
        assert_eq!(p.resolve_name(), "App\\Jobs\\PlainJob");
    }

    #[test]
    fn writes_laravel_8_key_order() {
        let p = Payload::from_slice(LARAVEL8.as_bytes()).unwrap();
        assert_eq!(p.to_json(), LARAVEL8);
    }

    #[test]
    fn reads_cjson_and_12x_shapes_and_keeps_unknown_keys() {
        let json = r#"{"attempts":2.0,"maxTries":"4","backoff":7,"data":{"command":"x","batchId":"b","commandName":"C"},"createdAt":1700000000,"delay":null,"illuminate:log:context":{"data":{},"hidden":{}},"type":"job","tags":{},"pushedAt":"1700000000.1234","retryUntil":1.7e9}"#;
        let p = Payload::from_slice(json.as_bytes()).unwrap();
        assert_eq!(p.attempts, Some(2));
        assert_eq!(p.max_tries, Some(4));
        assert_eq!(p.backoff.as_deref(), Some("7"));
        assert_eq!(p.retry_until(), Some(1_700_000_000));
        assert_eq!(p.data.batch_id.as_deref(), Some("b"));
        assert_eq!(p.created_at, Some(1_700_000_000));
        assert_eq!(p.kind.as_deref(), Some("job"));
        assert!(p.extra.contains_key("illuminate:log:context"));
        assert_eq!(p.resolve_name(), "");
    }

    #[test]
    fn backoff_index_is_attempts_minus_one_else_last() {
        assert_eq!(pick_backoff("10,30,60", 1), 10);
        assert_eq!(pick_backoff("10,30,60", 3), 60);
        assert_eq!(pick_backoff("10,30,60", 9), 60);
        assert_eq!(pick_backoff("5", 4), 5);
        assert_eq!(pick_backoff("", 1), 0);
        assert_eq!(pick_backoff(" 7s", 1), 7);
    }

    #[test]
    fn retry_until_falls_back_to_timeout_at_and_ignores_zero() {
        let p: Payload = serde_json::from_str(r#"{"timeoutAt":5}"#).unwrap();
        assert_eq!(p.retry_until(), Some(5));
        let p: Payload = serde_json::from_str(r#"{"retryUntil":0}"#).unwrap();
        assert_eq!(p.retry_until(), None);
    }

    #[test]
    fn new_payload_has_laravel_shape() {
        let p = Payload::for_command("App\\Jobs\\X", "O:10:\"App\\Jobs\\X\":0:{}");
        let v: Value = serde_json::from_str(&p.to_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "uuid",
                "displayName",
                "job",
                "maxTries",
                "maxExceptions",
                "failOnTimeout",
                "backoff",
                "timeout",
                "retryUntil",
                "data",
                "id",
                "attempts"
            ]
        );
        assert_eq!(v["id"].as_str().unwrap().len(), 32);
        assert_eq!(v["attempts"], 0);
    }

    #[test]
    fn laravel_13_fields_are_where_13_writes_them() {
        // The key order of php-fixtures/corpus/laravel-13/some_job.json.
        let mut p = Payload::for_command("App\\Jobs\\X", "O:10:\"App\\Jobs\\X\":0:{}");
        p.add_laravel_13_fields(1_796_457_444, None, None, false);
        let v: Value = serde_json::from_str(&p.to_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "uuid",
                "displayName",
                "job",
                "maxTries",
                "maxExceptions",
                "failOnTimeout",
                "backoff",
                "timeout",
                "retryUntil",
                "deleteWhenMissingModels",
                "data",
                "createdAt",
                "id",
                "attempts",
                "delay"
            ]
        );
        let data: Vec<&str> = v["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(data, ["commandName", "command", "batchId"]);
        assert_eq!(v["delay"], Value::Null);
        assert_eq!(v["data"]["batchId"], Value::Null);
        assert_eq!(v["deleteWhenMissingModels"], false);
        // A delay and a batch are written in the same places.
        let mut p = Payload::for_command("C", "x");
        p.add_laravel_13_fields(1, Some(5), Some("b-1".into()), true);
        let v: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(
            v.as_object()
                .unwrap()
                .keys()
                .next_back()
                .map(String::as_str),
            Some("delay")
        );
        assert_eq!(
            (v["delay"].as_i64(), v["data"]["batchId"].as_str()),
            (Some(5), Some("b-1"))
        );
        assert_eq!(v["deleteWhenMissingModels"], true);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(Payload::from_slice(b"not json").is_err());
    }
}
