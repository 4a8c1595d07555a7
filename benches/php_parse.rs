//! Criterion benches for the PHP serialize layer: the captured Laravel corpus and a large synthetic
//! job, read into a `Value` tree, into an untyped `serde_json::Value`, into a typed struct, and
//! written back. `bench/parse_vs_php.sh` compares the same bytes against PHP's `unserialize()`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Deserialize;

use larq::php::{self, Key, Object, Property, Value};

/// The `data.command` of every captured payload that is not encrypted.
fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/php-fixtures/corpus/laravel-8");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.to_string_lossy();
        if !name.ends_with(".json") || name.ends_with(".expect.json") {
            continue;
        }
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&raw) else {
            continue;
        };
        if let Some(cmd) = json.pointer("/data/command").and_then(|c| c.as_str()) {
            if cmd.starts_with("O:") {
                out.push(cmd.as_bytes().to_vec());
            }
        }
    }
    out
}

fn synthetic() -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..20_000i64 {
        items.push((
            Key::Int(i),
            Value::Array(vec![
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
            ]),
        ));
    }
    let mut o = Object::new("App\\Jobs\\ImportUsers");
    o.props.push(Property::public("rows", Value::Array(items)));
    Value::Object(o).to_bytes()
}

/// What a typical handler asks for: two fields out of a Laravel job's dozen.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SomeJob {
    user_id: Option<i64>,
    some_param: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Row<'a> {
    id: i64,
    name: &'a str,
    score: f64,
    active: bool,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ImportUsers<'a> {
    #[serde(borrow)]
    rows: Vec<Row<'a>>,
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let total: usize = corpus.iter().map(Vec::len).sum();
    if !corpus.is_empty() {
        let mut g = c.benchmark_group("corpus");
        g.throughput(Throughput::Bytes(total as u64));
        g.bench_function("value_parse", |b| {
            b.iter(|| {
                for cmd in &corpus {
                    black_box(Value::parse(cmd).ok());
                }
            })
        });
        g.bench_function("from_bytes_json_value", |b| {
            b.iter(|| {
                for cmd in &corpus {
                    black_box(php::from_bytes::<serde_json::Value>(cmd).ok());
                }
            })
        });
        g.bench_function("from_bytes_typed", |b| {
            b.iter(|| {
                for cmd in &corpus {
                    black_box(php::from_bytes::<SomeJob>(cmd).ok());
                }
            })
        });
        let parsed: Vec<Value<'_>> = corpus.iter().filter_map(|c| Value::parse(c).ok()).collect();
        g.bench_function("write", |b| {
            b.iter(|| {
                for v in &parsed {
                    black_box(v.to_bytes());
                }
            })
        });
        g.finish();
    }
    let big = synthetic();
    let mut g = c.benchmark_group("synthetic_20k_rows");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("value_parse", |b| {
        b.iter(|| black_box(Value::parse(&big).ok()))
    });
    g.bench_function("from_bytes_typed", |b| {
        b.iter(|| black_box(php::from_bytes::<ImportUsers<'_>>(&big).ok()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
