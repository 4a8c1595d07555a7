//! Measures how fast larq reads PHP-serialized commands, in MB/s, for `bench/parse_vs_php.sh`,
//! which runs PHP's native `unserialize()` over the very same files beside it.
//!
//! Usage: `parse_throughput [--write-synthetic DIR] FILE...` where each FILE is either a Laravel
//! payload JSON (its `data.command` is used) or a bare serialized value.

use std::time::{Duration, Instant};

/// The serialized command of a payload file; None for encrypted commands and string payloads
/// (the PHP side skips the same files).
fn command_bytes(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.first() != Some(&b'{') {
        return Some(raw.to_vec());
    }
    let json = serde_json::from_slice::<serde_json::Value>(raw).ok()?;
    let cmd = json.pointer("/data/command")?.as_str()?;
    cmd.starts_with("O:").then(|| cmd.as_bytes().to_vec())
}

/// Deterministic large inputs: a job holding many items, long strings and nested maps.
fn synthetic() -> Vec<(String, Vec<u8>)> {
    use larq::php::{Key, Object, Property, Value};
    let mut items = Vec::new();
    for i in 0..20_000i64 {
        let row = Value::Array(vec![
            (Key::Str(b"id".as_slice().into()), Value::Int(i)),
            (
                Key::Str(b"name".as_slice().into()),
                Value::from(format!("user-{i}-é中")),
            ),
            (
                Key::Str(b"score".as_slice().into()),
                Value::from(i as f64 * 0.37),
            ),
            (
                Key::Str(b"active".as_slice().into()),
                Value::Bool(i % 3 == 0),
            ),
        ]);
        items.push((Key::Int(i), row));
    }
    let mut big = Object::new("App\\Jobs\\ImportUsers");
    big.props
        .push(Property::public("rows", Value::Array(items)));
    big.props.push(Property::protected(
        "blob",
        Value::from("x".repeat(1 << 20)),
    ));
    vec![(
        "synthetic-20k-rows.ser".into(),
        Value::Object(big).to_bytes(),
    )]
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--write-synthetic") {
        let dir = args.get(1).cloned().unwrap_or_else(|| ".".into());
        for (name, bytes) in synthetic() {
            let path = std::path::Path::new(&dir).join(name);
            std::fs::write(&path, bytes)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            println!("{}", path.display());
        }
        args.drain(..2);
    }
    for group in ["corpus", "synthetic"] {
        let files: Vec<&String> = args
            .iter()
            .filter(|f| f.ends_with(".ser") == (group == "synthetic"))
            .collect();
        if files.is_empty() {
            continue;
        }
        let inputs: Vec<Vec<u8>> = files
            .iter()
            .filter_map(|f| {
                command_bytes(&std::fs::read(f).unwrap_or_else(|e| panic!("reading {f}: {e}")))
            })
            .collect();
        let total: usize = inputs.iter().map(Vec::len).sum();
        let mut rounds = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            for input in &inputs {
                let v = larq::php::Value::parse(input).unwrap_or_else(|e| panic!("parse: {e}"));
                std::hint::black_box(v);
            }
            rounds += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let mbs = (total as f64 * rounds as f64) / secs / 1e6;
        println!(
            "larq {group}: {} inputs, {total} bytes, {rounds} rounds, {mbs:.1} MB/s",
            inputs.len()
        );
    }
}
