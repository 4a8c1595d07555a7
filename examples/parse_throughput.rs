//! Measures how fast larq reads PHP-serialized commands, in MB/s, for `bench/parse_vs_php.sh`,
//! which runs PHP's native `unserialize()` over the very same files beside it.
//!
//! Usage: `parse_throughput [--write-synthetic DIR] [--only parse|typed] FILE...` where each FILE
//! is either a Laravel payload JSON (its `data.command` is used) or a bare serialized value.
//! `--only` runs one of the two readers (for `perf record` on one of them); `--rounds N` runs
//! exactly N rounds instead of 2 s (for instruction counts under `valgrind`).

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

/// What a typical handler asks for: two fields out of a Laravel job's dozen (the rest skipped).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SomeJob {
    user_id: Option<i64>,
    some_param: Option<String>,
}

/// The group a file is reported in (the same rule as `bench/unserialize.php`).
fn group_of(file: &str) -> String {
    if file.ends_with(".json") {
        "corpus".into()
    } else if let Some(stem) = file.strip_suffix(".job.ser") {
        let base = stem.rsplit('/').next().unwrap_or(stem);
        format!("job-{base}")
    } else {
        "synthetic".into()
    }
}

/// CPU time this process has used (user + system). The machine is shared, so throughput is
/// reported per CPU-second as well as per wall-second: other jobs then cost less accuracy.
fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes the struct it is given, which is valid and zeroed.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Run `f` over every input for 2 s and print the throughput (same layout as
/// `bench/unserialize.php`).
fn measure(
    tool: &str,
    group: &str,
    inputs: &[Vec<u8>],
    rounds_wanted: Option<u64>,
    f: impl Fn(&[u8]),
) {
    let total: usize = inputs.iter().map(Vec::len).sum();
    let mut rounds = 0u64;
    let start = Instant::now();
    let cpu_start = cpu_time();
    while match rounds_wanted {
        Some(n) => rounds < n,
        None => start.elapsed() < Duration::from_secs(2),
    } {
        for input in inputs {
            f(input);
        }
        rounds += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu_start).as_secs_f64();
    let bytes = total as f64 * rounds as f64;
    println!(
        "{tool} {group}: {} inputs, {total} bytes, {rounds} rounds, wall {:.1} MB/s, cpu {:.1} MB/s",
        inputs.len(),
        bytes / wall / 1e6,
        bytes / cpu / 1e6,
    );
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
    let mut only = None;
    if args.first().map(String::as_str) == Some("--only") {
        only = args.get(1).cloned();
        args.drain(..2);
    }
    let mut rounds = None;
    if args.first().map(String::as_str) == Some("--rounds") {
        rounds = args.get(1).and_then(|n| n.parse().ok());
        args.drain(..2);
    }
    let run = |mode: &str| only.as_deref().is_none_or(|o| o == mode);
    let mut groups: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for f in &args {
        let g = group_of(f);
        let raw = std::fs::read(f).unwrap_or_else(|e| panic!("reading {f}: {e}"));
        let Some(bytes) = command_bytes(&raw) else {
            continue;
        };
        match groups.iter_mut().find(|(name, _)| *name == g) {
            Some((_, inputs)) => inputs.push(bytes),
            None => groups.push((g, vec![bytes])),
        }
    }
    for (group, inputs) in &groups {
        if run("parse") {
            measure("larq", group, inputs, rounds, |input| {
                let v = larq::php::Value::parse(input).unwrap_or_else(|e| panic!("parse: {e}"));
                std::hint::black_box(v);
            });
        }
        if run("typed") {
            let failing = inputs
                .iter()
                .filter(|i| larq::php::from_bytes::<SomeJob>(i).is_err())
                .count();
            if failing > 0 {
                eprintln!("{group}: {failing} inputs do not fit SomeJob (timed as errors)");
            }
            measure("larq-typed", group, inputs, rounds, |input| {
                std::hint::black_box(larq::php::from_bytes::<SomeJob>(input).ok());
            });
        }
    }
}
