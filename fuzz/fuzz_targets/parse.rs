//! Arbitrary bytes into the tokenizer and the Value tree: no panic, no hang, no unbounded
//! allocation, no error pointing outside the input; and whatever parses writes back to bytes that
//! parse to the same tree. The body lives in `fuzz/replay.rs`, shared with the regression test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../replay.rs"]
mod replay;

fuzz_target!(|data: &[u8]| {
    let _ = replay::parse(data);
});
