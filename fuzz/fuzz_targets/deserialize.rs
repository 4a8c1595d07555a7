//! Arbitrary bytes into the serde Deserializer, for an untyped and a typed target.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Job {
    user_id: Option<i64>,
    some_param: Option<String>,
    items: Option<Vec<serde_json::Value>>,
    chained: Option<Vec<String>>,
}

fuzz_target!(|data: &[u8]| {
    let _ = larq::php::from_bytes::<serde_json::Value>(data);
    let _ = larq::php::from_bytes::<Job>(data);
});
