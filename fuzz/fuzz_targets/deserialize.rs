//! Arbitrary bytes into the serde Deserializer, for an untyped and a typed target. The body lives
//! in `fuzz/replay.rs`, shared with the regression test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../replay.rs"]
mod replay;

fuzz_target!(|data: &[u8]| {
    let _ = replay::deserialize(data);
});
