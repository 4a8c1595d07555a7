//! Integration tests of `larq::php::from_bytes`: a differential test against real PHP (values
//! PHP serializes read back as the JSON PHP's own `json_encode` gives for them, references
//! included), a Laravel-shaped job decoded into a struct, and properties over arbitrary bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use proptest::prelude::*;
use serde::Deserialize;

use larq::php::{from_bytes, from_bytes_with, Limits};

/// Run a PHP script given on stdin; `None` (after a notice) when PHP is missing outside CI.
fn php(script: &str, args: &[&str]) -> Option<Vec<u8>> {
    let child = Command::new("php")
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("php is required in CI: {e}");
            }
            eprintln!("skipping: php not available ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "php failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// Random nested values (arrays dense and sparse, stdClass objects shared between places, PHP
/// `&` references); each line is `base64(serialize($v))<TAB>json_encode($v)`.
const GENERATOR: &str = r#"<?php
mt_srand((int)$argv[1]);
$pool = [];
function rnd_str() {
    $chars = "abcXYZ019 ;:\"{}\\\u{e9}\n";
    $s = '';
    for ($i = mt_rand(0, 6); $i > 0; $i--) { $s .= mb_substr($chars, mt_rand(0, mb_strlen($chars) - 1), 1); }
    return $s;
}
function gen($d) {
    global $pool;
    switch (mt_rand(0, $d > 3 ? 5 : 9)) {
        case 0: return null;
        case 1: return (bool)mt_rand(0, 1);
        case 2: return mt_rand(-1000, 1000) * (mt_rand(0, 1) ? 1 : 9007199254740);
        case 3: return mt_rand(-100000, 100000) / 64;
        case 4: case 5: return rnd_str();
        case 6: $a = []; for ($i = mt_rand(0, 4); $i > 0; $i--) { $a[] = gen($d + 1); } return $a;
        case 7: $a = [];
            for ($i = mt_rand(0, 4); $i > 0; $i--) { $a[mt_rand(0, 1) ? mt_rand(-3, 20) : rnd_str()] = gen($d + 1); }
            return $a;
        case 8: $o = new stdClass;
            for ($i = mt_rand(0, 3); $i > 0; $i--) { $o->{"p" . mt_rand(0, 5)} = gen($d + 1); }
            $pool[] = $o;
            return $o;
        default: return $pool && mt_rand(0, 1) ? $pool[mt_rand(0, count($pool) - 1)] : gen($d + 1);
    }
}
for ($i = 0; $i < (int)$argv[2]; $i++) {
    $pool = [];
    $v = gen(0);
    if (mt_rand(0, 2) == 0) { $x = gen(1); $v = [&$x, gen(1), $v, &$x]; }
    echo base64_encode(serialize($v)), "\t", json_encode($v, JSON_PRESERVE_ZERO_FRACTION), "\n";
}
"#;

#[test]
fn php_values_read_back_as_php_json_encodes_them() {
    let Some(out) = php(GENERATOR, &["20240601", "400"]) else {
        return;
    };
    let text = String::from_utf8(out).unwrap();
    let mut n = 0;
    let mut with_refs = 0;
    for line in text.lines() {
        let (b64, json) = line.split_once('\t').unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let want: serde_json::Value = serde_json::from_str(json).unwrap();
        let got: serde_json::Value = from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&bytes)));
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&bytes));
        n += 1;
        if bytes.windows(3).any(|w| w == b";r:" || w == b";R:") {
            with_refs += 1;
        }
    }
    assert_eq!(n, 400);
    assert!(with_refs > 20, "only {with_refs} inputs had references");
}

/// A job class shaped like a Laravel one (public, protected and private properties, a parent's
/// private property shadowed by the child, an enum, the Queueable fields), serialized by PHP.
const JOB_SCRIPT: &str = r#"<?php
namespace App\Jobs;
enum Status: string { case Active = 'active'; case Gone = 'gone'; }
class Base { private $secret = 'parent'; protected $queue = 'default'; }
class SomeJob extends Base {
    public $connection = null;
    public $chained = [];
    private $secret = 'child';
    public function __construct(public int $userId, protected string $someParam, private array $ids, public Status $status, public ?float $ratio = null) {}
}
$job = new SomeJob(1, "abc", [10, 20, 30], Status::Gone, 0.25);
echo serialize($job);
"#;

#[derive(Deserialize, Debug, PartialEq)]
enum Status {
    Active,
    Gone,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct SomeJob<'a> {
    #[serde(rename = "__class")]
    class: &'a str,
    user_id: i64,
    some_param: &'a str,
    ids: Vec<u32>,
    status: Status,
    ratio: Option<f64>,
    queue: Option<String>,
    connection: Option<String>,
    secret: String,
    chained: Vec<String>,
}

#[test]
fn php_job_into_struct() {
    let Some(bytes) = php(JOB_SCRIPT, &[]) else {
        return;
    };
    let job: SomeJob =
        from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&bytes)));
    assert_eq!(job.class, "App\\Jobs\\SomeJob");
    assert_eq!((job.user_id, job.some_param), (1, "abc"));
    assert_eq!(job.ids, [10, 20, 30]);
    assert_eq!(job.status, Status::Gone);
    assert_eq!(job.ratio, Some(0.25));
    assert_eq!(job.queue.as_deref(), Some("default"));
    assert_eq!(job.connection, None);
    assert!(job.chained.is_empty());
    // Whichever `secret` PHP wrote first is the one a struct gets.
    let first = if find(&bytes, b"\0App\\Jobs\\Base\0secret")
        < find(&bytes, b"\0App\\Jobs\\SomeJob\0secret")
    {
        "parent"
    } else {
        "child"
    };
    assert_eq!(job.secret, first);

    // The same bytes with `userId` as a string: the error names the path and the byte.
    let bad = String::from_utf8(bytes.clone())
        .unwrap()
        .replace("s:6:\"userId\";i:1;", "s:6:\"userId\";s:1:\"1\";");
    let at = find(bad.as_bytes(), b"s:6:\"userId\";") + 13;
    let e = from_bytes::<SomeJob>(bad.as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("App\\Jobs\\SomeJob.userId: expected an integer, found string at byte {at}")
    );
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Target {
    a: Option<i64>,
    b: Vec<String>,
    c: BTreeMap<i64, f64>,
    d: Option<Box<Target>>,
}

/// Byte soup biased towards the format's own characters, so the parser gets past the first token.
fn php_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> = b"NbidsSaOCErR:;{}\"0123456789-.abcd\\\0".to_vec();
    prop::collection::vec(
        prop_oneof![3 => prop::sample::select(alphabet), 1 => any::<u8>()],
        0..200,
    )
}

/// A model of a PHP value, written as `serialize()` would, with the JSON `deserialize_any` must give.
#[derive(Debug, Clone)]
enum Model {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Model>),
    Map(Vec<(i64, Model)>),
    Object(Vec<(String, Model)>),
}

fn model() -> impl Strategy<Value = Model> {
    let leaf = prop_oneof![
        Just(Model::Null),
        any::<bool>().prop_map(Model::Bool),
        any::<i64>().prop_map(Model::Int),
        ".{0,8}".prop_map(Model::Str),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Model::List),
            prop::collection::btree_map(1i64..50, inner.clone(), 1..6)
                .prop_map(|m| Model::Map(m.into_iter().rev().collect())),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..5)
                .prop_map(|m| Model::Object(m.into_iter().collect())),
        ]
    })
}

impl Model {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Model::Null => out.extend_from_slice(b"N;"),
            Model::Bool(b) => out.extend_from_slice(if *b { b"b:1;" } else { b"b:0;" }),
            Model::Int(i) => out.extend_from_slice(format!("i:{i};").as_bytes()),
            Model::Str(s) => {
                out.extend_from_slice(format!("s:{}:\"", s.len()).as_bytes());
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\";");
            }
            Model::List(items) => {
                out.extend_from_slice(format!("a:{}:{{", items.len()).as_bytes());
                for (i, v) in items.iter().enumerate() {
                    out.extend_from_slice(format!("i:{i};").as_bytes());
                    v.write(out);
                }
                out.push(b'}');
            }
            Model::Map(items) => {
                out.extend_from_slice(format!("a:{}:{{", items.len()).as_bytes());
                for (k, v) in items {
                    out.extend_from_slice(format!("i:{k};").as_bytes());
                    v.write(out);
                }
                out.push(b'}');
            }
            Model::Object(props) => {
                out.extend_from_slice(format!("O:1:\"X\":{}:{{", props.len()).as_bytes());
                for (k, v) in props {
                    // Alternate visibilities: the name must come out demangled either way.
                    let key = match k.len() % 3 {
                        0 => k.clone(),
                        1 => format!("\0*\0{k}"),
                        _ => format!("\0X\0{k}"),
                    };
                    out.extend_from_slice(format!("s:{}:\"{key}\";", key.len()).as_bytes());
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Model::Null => J::Null,
            Model::Bool(b) => J::Bool(*b),
            Model::Int(i) => J::from(*i),
            Model::Str(s) => J::from(s.as_str()),
            Model::List(items) => J::Array(items.iter().map(Model::json).collect()),
            Model::Map(items) => J::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.json()))
                    .collect(),
            ),
            Model::Object(props) => {
                J::Object(props.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in php_ish_bytes()) {
        let _ = from_bytes::<serde_json::Value>(&bytes);
        let _ = from_bytes::<Target>(&bytes);
        let _ = from_bytes::<Vec<Option<&str>>>(&bytes);
        let _ = from_bytes_with::<serde_json::Value>(&bytes, Limits { max_depth: 4 });
    }

    #[test]
    fn mutated_values_never_panic(m in model(), pos in any::<prop::sample::Index>(), byte in prop::sample::select(b"rR0123456789;:{}\"aO".to_vec()), refslot in 0u8..12) {
        let mut bytes = Vec::new();
        m.write(&mut bytes);
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        // Splice a reference in front of a random value boundary as well.
        let mut with_ref = Vec::new();
        m.write(&mut with_ref);
        if let Some(p) = with_ref.iter().position(|&b| b == b';') {
            with_ref.splice(p + 1..p + 1, format!("i:99;r:{refslot};").bytes());
        }
        for input in [&bytes, &with_ref] {
            let _ = from_bytes::<serde_json::Value>(input);
            let _ = from_bytes::<Target>(input);
        }
    }

    #[test]
    fn values_read_as_json_match_the_model(m in model()) {
        let mut bytes = Vec::new();
        m.write(&mut bytes);
        let got: serde_json::Value = from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, m.json());
    }
}
