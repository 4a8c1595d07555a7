//! What `php artisan queue:retry` does to a failed job's stored payload before it pushes it back
//! (`Illuminate\Queue\Console\RetryCommand::retryJob`), so every driver's retry pushes the same bytes PHP would.
//!
//! Laravel's `RetryCommand::retryJob` calls `pushRaw(refreshRetryUntil(resetAttempts(payload)),
//! record.queue)` on the row's connection. `resetAttempts` decodes the JSON as a PHP array, sets
//! `attempts` to 0 only when it is set (`isset`: present and not null; Redis payloads carry it,
//! database payloads do not) and encodes it again with plain `json_encode`. `refreshRetryUntil`
//! decodes and encodes once more, and replaces `retryUntil` only when the job class has a
//! `retryUntil()` method: PHP code larq cannot run, so the stored value is kept and reported in
//! [`RetryPayload::retry_until`] for the caller to warn about.
//!
//! The re-encoding matters: PHP's plain `json_encode` escapes `/` and every non-ASCII character
//! (`\u00e9`), writes an empty object as `[]` (a decoded `{}` is an empty PHP array) and numbers
//! the way PHP prints them. `php_json_encode` writes exactly that.
//!
//! Where ours differs: PHP turns a payload that is not JSON into the text `null` and pushes that
//! (a job no worker can run), and pushes a JSON list or scalar as it is; we refuse anything but a
//! JSON object with [`QueueError::RetryPayload`] and push nothing.

use serde_json::Value as Json;

use super::QueueError;

/// A failed job's payload rewritten as `queue:retry` pushes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPayload {
    /// The JSON to push: `attempts` reset when it was set, re-encoded as PHP's `json_encode`.
    pub payload: String,
    /// The payload's `retryUntil` (unix seconds) as pushed. PHP would have recomputed it when the
    /// class has a `retryUntil()` method; a value already in the past makes the job fail again at
    /// once, which the caller should say.
    pub retry_until: Option<i64>,
}

/// Rewrite a failed job's stored payload (`failed_jobs.payload`) the way `queue:retry` does
/// before `pushRaw`: `attempts` = 0 when set, then PHP's plain `json_encode`.
pub fn retry_payload(stored: &[u8]) -> Result<RetryPayload, QueueError> {
    let mut json: Json = serde_json::from_slice(stored).map_err(|e| QueueError::RetryPayload {
        reason: format!("it is not valid JSON ({e})"),
    })?;
    let Json::Object(map) = &mut json else {
        return Err(QueueError::RetryPayload {
            reason: "it is not a JSON object".to_owned(),
        });
    };
    if let Some(attempts) = map.get_mut("attempts") {
        if !attempts.is_null() {
            *attempts = Json::from(0);
        }
    }
    let retry_until = map.get("retryUntil").and_then(Json::as_i64);
    let mut payload = String::with_capacity(stored.len() + 16);
    php_json_encode(&json, &mut payload);
    Ok(RetryPayload {
        payload,
        retry_until,
    })
}

/// PHP's `json_encode($value)` without flags, for a value that went through
/// `json_decode($text, true)`: objects became PHP arrays, so `{}` and objects keyed `"0".."n-1"`
/// in order come out as JSON lists.
pub(crate) fn php_json_encode(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(f) = n.as_f64() {
                // Integers beyond i64 are floats in PHP, as every other non-integer number.
                out.push_str(&crate::php::float::php_repr(f).replace('E', "e"));
            }
        }
        Json::String(s) => php_json_string(s, out),
        Json::Array(items) => php_json_list(items.iter(), out),
        Json::Object(map) => {
            let is_list = map
                .keys()
                .enumerate()
                .all(|(i, k)| k.parse::<usize>().ok() == Some(i) && *k == i.to_string());
            if is_list {
                php_json_list(map.values(), out);
                return;
            }
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                php_json_string(k, out);
                out.push(':');
                php_json_encode(item, out);
            }
            out.push('}');
        }
    }
}

fn php_json_list<'a>(items: impl Iterator<Item = &'a Json>, out: &mut String) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        php_json_encode(item, out);
    }
    out.push(']');
}

/// A string as `json_encode` writes it: `/` escaped, everything outside ASCII and the control
/// characters as `\uXXXX` (UTF-16 units), DEL as itself.
fn php_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(stored: &str) -> String {
        retry_payload(stored.as_bytes()).unwrap().payload
    }

    #[test]
    fn attempts_are_reset_only_when_set() {
        assert_eq!(
            rewritten(r#"{"uuid":"u","attempts":3,"x":null}"#),
            r#"{"uuid":"u","attempts":0,"x":null}"#
        );
        assert_eq!(
            rewritten(r#"{"uuid":"u","attempts":null}"#),
            r#"{"uuid":"u","attempts":null}"#
        );
        // A database payload has no attempts: only the re-encoding changes it.
        assert_eq!(
            rewritten(r#"{"uuid":"u","job":"A/B","data":{}}"#),
            r#"{"uuid":"u","job":"A\/B","data":[]}"#
        );
    }

    #[test]
    fn what_php_would_push_as_null_is_refused() {
        for bad in ["null", "{", "[1,2]", "\"x\"", ""] {
            let err = retry_payload(bad.as_bytes()).unwrap_err();
            assert!(
                matches!(err, QueueError::RetryPayload { .. }),
                "{bad}: {err}"
            );
        }
        assert!(retry_payload(b"{\"a\":\"\xff\"}").is_err(), "not UTF-8");
    }

    #[test]
    fn retry_until_is_reported_as_pushed() {
        let r = retry_payload(br#"{"retryUntil":1700000000,"attempts":2}"#).unwrap();
        assert_eq!(r.retry_until, Some(1_700_000_000));
        assert_eq!(r.payload, r#"{"retryUntil":1700000000,"attempts":0}"#);
        assert_eq!(
            retry_payload(br#"{"retryUntil":null}"#)
                .unwrap()
                .retry_until,
            None
        );
    }

    #[test]
    fn php_json_encode_quirks() {
        // Values checked against PHP 8.2's json_encode(json_decode($x, true)).
        let input = "{\"a\":[1.0,1e100,0.1,1e16,-0.0,1.5e-7,12345678901234567890],\"b\":{},\"c\":{\"0\":1,\"1\":2},\"d\":{\"1\":1},\"e\":\"é/\u{2028}😀\u{7f}\"}";
        assert_eq!(
            rewritten(input),
            "{\"a\":[1,1.0e+100,0.1,10000000000000000,-0,1.5e-7,1.2345678901234567e+19],\"b\":[],\"c\":[1,2],\"d\":{\"1\":1},\"e\":\"\\u00e9\\/\\u2028\\ud83d\\ude00\u{7f}\"}"
        );
    }
}
