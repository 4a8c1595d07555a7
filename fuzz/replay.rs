//! The bodies of the fuzz targets, in one file that both the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the regression test (`tests/fuzz_regressions.rs`) include with
//! `#[path]`. A crash saved under `fuzz/regressions/` therefore replays in `cargo test` through the
//! very code that found it, not through a copy that could drift.
//!
//! Each body panics on a bug (a panic in larq, a write-back that does not parse back to the same
//! tree, an error that points outside the input or whose message outgrows it) and returns larq's
//! error, if any, for the caller to look at; a clean rejection of hostile bytes is not a bug.
// Each fuzz target uses one of the two bodies.
#![allow(dead_code)]

use larq::php;

/// Laravel job shape for the typed target: camelCase properties the way `SerializesModels` jobs
/// carry them, with optional fields so that most well-formed objects reach every field's
/// Deserialize instead of failing on the first missing one.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Job {
    user_id: Option<i64>,
    some_param: Option<String>,
    items: Option<Vec<serde_json::Value>>,
    chained: Option<Vec<String>>,
}

/// The `parse` target: tokenizer and Value tree; whatever parses must write back to bytes that
/// parse to the same tree, and must convert to the JSON tree view.
pub fn parse(data: &[u8]) -> Result<(), php::Error> {
    let value = php::Value::parse(data).map_err(|e| bounded(e, data))?;
    let written = value.to_bytes();
    let again = php::Value::parse(&written).expect("our own output must parse");
    assert_eq!(again, value, "write-back changed the tree");
    let _ = php::tree::to_tree(&value);
    Ok(())
}

/// The `deserialize` target: the serde Deserializer into an untyped and a typed target (both run,
/// whatever the first one returned). Returns the two outcomes in that order.
pub fn deserialize(data: &[u8]) -> [Result<(), php::Error>; 2] {
    let untyped = php::from_bytes::<serde_json::Value>(data)
        .map(drop)
        .map_err(|e| bounded(e, data));
    let typed = php::from_bytes::<Job>(data)
        .map(drop)
        .map_err(|e| bounded(e, data));
    [untyped, typed]
}

/// Panics unless the error is one a failed job can carry: its byte offset lies within the input
/// (the end counts, for "unexpected end") and its message is at most a constant plus a small
/// multiple of the input's length (property paths, class names and found-strings are quoted from
/// the input, escaped; nothing may repeat them without bound).
fn bounded(error: php::Error, data: &[u8]) -> php::Error {
    if let Some(offset) = error.offset() {
        assert!(
            offset <= data.len(),
            "error offset {offset} is past the {}-byte input: {error}",
            data.len()
        );
    }
    let message = error.to_string();
    let limit = 1024 + 12 * data.len();
    assert!(
        message.len() <= limit,
        "error message of {} bytes for a {}-byte input (limit {limit})",
        message.len(),
        data.len()
    );
    error
}
