//! Arbitrary bytes into the tokenizer and the Value tree: no panic, no hang, no unbounded
//! allocation; and whatever parses writes back to bytes that parse to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = larq::php::Value::parse(data) {
        let written = value.to_bytes();
        let again = larq::php::Value::parse(&written).expect("our own output must parse");
        assert_eq!(again, value);
        let _ = larq::php::tree::to_tree(&value);
    }
});
