//! Properties of the PHP serialize layer that must hold for every input, not just the ones we
//! thought of: the writer and the parser are exact inverses, hostile bytes never panic or blow the
//! stack, and the serde Serializer writes the tree a Rust value describes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use larq::php::{to_vec, Custom, EnumCase, ErrorKind, Float, Key, Limits, Object, Property, Value};
use proptest::prelude::*;
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Strategies

/// `[A-Za-z_][A-Za-z0-9_]*` segments joined by `\`: what PHP accepts as a class name.
fn class_name() -> impl Strategy<Value = String> {
    "[A-Za-z_\u{80}-\u{10ffff}][A-Za-z0-9_]{0,6}(\\\\[A-Za-z_][A-Za-z0-9_]{0,6}){0,2}"
}

fn identifier() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,8}"
}

/// Floats with the exact text PHP writes, plus the other spellings PHP reads (`{:e}`, a
/// 17-digit `serialize_precision`), so the tree must keep the text and not just the number.
fn float() -> impl Strategy<Value = Float<'static>> {
    let special = prop_oneof![
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(f64::MAX),
        (1u64..(1 << 52)).prop_map(f64::from_bits), // subnormals
        (1u64..(1 << 52)).prop_map(|b| -f64::from_bits(b)),
    ];
    let value = prop_oneof![3 => any::<f64>(), 2 => special, 2 => -1e6..1e6f64];
    (value, 0..3u8).prop_map(|(v, style)| match style {
        1 if v.is_finite() => Float {
            value: v,
            repr: Cow::Owned(format!("{v:e}")),
        },
        2 if v.is_finite() => Float {
            value: v,
            repr: Cow::Owned(format!("{v:.16e}")),
        },
        _ => Float::new(v),
    })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12),
        "[a-z0-9\";:{}\\\\]{0,8}".prop_map(String::into_bytes),
        "\\PC{0,6}".prop_map(String::into_bytes),
    ]
}

fn key() -> impl Strategy<Value = Key<'static>> {
    prop_oneof![
        any::<i64>().prop_map(Key::Int),
        (-3i64..20).prop_map(Key::Int),
        bytes().prop_map(|b| Key::Str(Cow::Owned(b))),
        prop_oneof![Just("010"), Just("10"), Just("-0"), Just("5")]
            .prop_map(|s| Key::Str(Cow::Owned(s.as_bytes().to_vec()))),
    ]
}

/// A member key as PHP writes them: public, protected, private (mangled), or an int key from
/// `__serialize`.
fn member() -> impl Strategy<Value = Key<'static>> {
    prop_oneof![
        identifier().prop_map(|n| Property::public(&n, Value::Null).key),
        identifier().prop_map(|n| Property::protected(&n, Value::Null).key),
        (class_name(), identifier()).prop_map(|(c, n)| Property::private(&c, &n, Value::Null).key),
        any::<i64>().prop_map(Key::Int),
        bytes().prop_map(|b| Key::Str(Cow::Owned(b))),
    ]
}

fn leaf() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        float().prop_map(Value::Float),
        bytes().prop_map(|b| Value::String(Cow::Owned(b))),
        (class_name(), identifier()).prop_map(|(class, case)| Value::Enum(EnumCase {
            class: class.into(),
            case: case.into(),
        })),
        (class_name(), bytes()).prop_map(|(class, data)| Value::Custom(Custom {
            class: class.into(),
            data: Cow::Owned(data),
        })),
        // Placeholders: `fix_refs` turns the number into a slot that exists at that point.
        any::<u64>().prop_map(Value::ObjectRef),
        any::<u64>().prop_map(Value::ValueRef),
    ]
}

/// Any tree, with every `r:`/`R:` pointing to a slot before it (what the parser demands).
fn value() -> impl Strategy<Value = Value<'static>> {
    leaf()
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec((key(), inner.clone()), 0..6).prop_map(Value::Array),
                (
                    class_name(),
                    proptest::collection::vec((member(), inner), 0..6)
                )
                    .prop_map(|(class, props)| {
                        Value::Object(Object {
                            class: class.into(),
                            props: props
                                .into_iter()
                                .map(|(key, value)| Property { key, value })
                                .collect(),
                        })
                    }),
            ]
        })
        .prop_map(|mut v| {
            let mut slots = 0;
            fix_refs(&mut v, &mut slots);
            v
        })
}

/// Walk the tree in PHP's slot order and make each reference point to a slot already taken
/// (`1 + placeholder % taken`), or turn it into null at the very start where there is none.
fn fix_refs(v: &mut Value<'static>, slots: &mut u64) {
    match v {
        Value::ValueRef(_) | Value::ObjectRef(_) if *slots == 0 => {
            *v = Value::Null;
            *slots += 1;
        }
        Value::ValueRef(n) => *n = 1 + *n % *slots,
        Value::ObjectRef(n) => {
            *n = 1 + *n % *slots;
            *slots += 1;
        }
        Value::Array(items) => {
            *slots += 1;
            for (_, child) in items {
                fix_refs(child, slots);
            }
        }
        Value::Object(o) => {
            *slots += 1;
            for p in &mut o.props {
                fix_refs(&mut p.value, slots);
            }
        }
        _ => *slots += 1,
    }
}

// ---------------------------------------------------------------------------------------------
// (a) write → parse is the identity, and parse → write gives the same bytes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn value_write_parse_is_identity(v in value()) {
        let bytes = v.to_bytes();
        let parsed = match Value::parse(&bytes) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!(
                "{e} in {:?}", String::from_utf8_lossy(&bytes)))),
        };
        prop_assert_eq!(&parsed, &v);
        prop_assert_eq!(parsed.to_bytes(), bytes.clone());
        // The serde path writes a Value byte for byte too.
        prop_assert_eq!(to_vec(&v).unwrap(), bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) hostile input: never a panic, never a stack overflow

/// Ways to damage a valid serialization.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    /// Replace the n-th run of digits with a huge number.
    HugeCount(usize, &'static str),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Damage::Flip(i, x)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(i, b)| Damage::Insert(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just("99999999999"),
                Just("18446744073709551615"),
                Just("18446744073709551616"),
                Just("4294967296"),
                Just("0"),
            ]
        )
            .prop_map(|(i, n)| Damage::HugeCount(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    match d {
        Damage::Truncate(i) => bytes.truncate(i % bytes.len()),
        Damage::Flip(i, x) => {
            let i = i % bytes.len();
            bytes[i] ^= x;
        }
        Damage::Insert(i, b) => {
            let i = i % (bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Damage::HugeCount(i, n) => {
            let runs: Vec<(usize, usize)> = digit_runs(&bytes);
            if !runs.is_empty() {
                let (s, e) = runs[i % runs.len()];
                bytes.splice(s..e, n.bytes());
            }
        }
    }
    bytes
}

fn digit_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Value::parse(&input);
    }

    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("a:1:{"), Just("a:2:{"), Just("}"), Just("i:0;"), Just("s:1:\"x\";"), Just("N;"),
        Just("O:8:\"stdClass\":1:{"), Just("r:1;"), Just("R:2;"), Just("E:3:\"A:B\";"),
        Just("d:1.5;"), Just("C:1:\"C\":0:{}"), Just("S:1:\"\\41\";"), Just("b:1;"),
    ], 0..24)) {
        let input = parts.concat();
        let _ = Value::parse(input.as_bytes());
    }

    #[test]
    fn damaged_serializations_never_panic(v in value(), ds in proptest::collection::vec(damage(), 1..4)) {
        let mut bytes = v.to_bytes();
        for d in &ds {
            bytes = apply(bytes, d);
        }
        if let Ok(parsed) = Value::parse(&bytes) {
            // Whatever still parses must write back to the very same bytes... unless the damage
            // hit a lenient spelling PHP also reads (`i:05;`, `S:` strings, a float spelled
            // differently): then at least the rewrite is stable.
            let again = parsed.to_bytes();
            let reparsed = Value::parse(&again);
            prop_assert!(reparsed.is_ok(), "rewrite of a parsed value does not parse: {:?}", String::from_utf8_lossy(&again));
            prop_assert_eq!(reparsed.unwrap().to_bytes(), again);
        }
    }
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> Vec<u8> {
    let mut b = open.repeat(depth).into_bytes();
    b.extend_from_slice(inner.as_bytes());
    b.extend_from_slice(close.repeat(depth).as_bytes());
    b
}

#[test]
fn ten_thousand_levels_fail_with_the_depth_error() {
    for (open, close) in [("a:1:{i:0;", "}"), ("O:8:\"stdClass\":1:{s:1:\"p\";", "}")] {
        let input = nested(open, "N;", close, 10_000);
        let err = Value::parse(&input).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::DepthLimit { limit: 128 }, "{err}");
        // Unclosed as well: the limit triggers before the missing brackets are noticed.
        let err = Value::parse(open.repeat(10_000).as_bytes()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::DepthLimit { limit: 128 }, "{err}");
    }
    // Exactly at the limit still parses.
    let ok = nested("a:1:{i:0;", "N;", "}", 128);
    assert!(Value::parse(&ok).is_ok());
    assert!(larq::php::parse_value(
        &nested("a:1:{i:0;", "N;", "}", 129),
        &Limits { max_depth: 129 }
    )
    .is_ok());
}

#[test]
fn huge_declared_sizes_fail_without_allocating() {
    for input in [
        &b"a:99999999999:{}"[..],
        b"a:4611686018427387903:{i:0;N;}",
        b"s:18446744073709551615:\"\";",
        b"s:18446744073709551616:\"\";",
        b"O:8:\"stdClass\":999999999999:{}",
        b"C:1:\"C\":99999999999:{}",
        b"S:99999999999:\"\";",
        b"E:99999999999:\"A:B\";",
    ] {
        assert!(
            Value::parse(input).is_err(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (c) the Serializer writes the tree the Rust value describes

#[derive(Serialize, Debug, Clone, Copy)]
#[serde(rename = "App\\Enums\\Suit")]
enum Suit {
    Hearts,
    Spades,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename = "App\\Jobs\\Inner")]
struct Inner {
    label: String,
    weight: f64,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename = "App\\Jobs\\Everything", rename_all = "camelCase")]
struct Everything {
    flag: bool,
    small: i8,
    big: i64,
    unsigned: u32,
    ratio: f64,
    text: String,
    letter: char,
    maybe: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_when_none: Option<u8>,
    names: Vec<String>,
    lookup: BTreeMap<String, i64>,
    suit: Suit,
    #[serde(rename = "\0*\0inner")]
    inner: Inner,
    #[serde(rename = "\0App\\Jobs\\Everything\0pair")]
    pair: (u8, bool),
}

fn everything() -> impl Strategy<Value = Everything> {
    let a = (
        any::<bool>(),
        any::<i8>(),
        any::<i64>(),
        any::<u32>(),
        any::<f64>(),
        "\\PC{0,8}",
        any::<char>(),
    );
    let b = (
        any::<Option<i16>>(),
        any::<Option<u8>>(),
        proptest::collection::vec("[a-z]{0,4}", 0..4),
        proptest::collection::btree_map("[a-z]{1,3}|-?[0-9]{1,3}|0[0-9]", any::<i64>(), 0..5),
        any::<bool>(),
        ("\\PC{0,5}", any::<f64>()),
        (any::<u8>(), any::<bool>()),
    );
    (a, b).prop_map(
        |(
            (flag, small, big, unsigned, ratio, text, letter),
            (maybe, skipped, names, lookup, hearts, (label, weight), pair),
        )| Everything {
            flag,
            small,
            big,
            unsigned,
            ratio,
            text,
            letter,
            maybe,
            skipped_when_none: skipped,
            names,
            lookup,
            suit: if hearts { Suit::Hearts } else { Suit::Spades },
            inner: Inner { label, weight },
            pair,
        },
    )
}

fn s(text: &str) -> Value<'static> {
    Value::String(Cow::Owned(text.as_bytes().to_vec()))
}

/// The tree `e` should become, built by hand from PHP's rules.
fn expected_tree(e: &Everything) -> Value<'static> {
    let mut props = vec![
        Property::public("flag", Value::Bool(e.flag)),
        Property::public("small", Value::Int(e.small.into())),
        Property::public("big", Value::Int(e.big)),
        Property::public("unsigned", Value::Int(e.unsigned.into())),
        Property::public("ratio", Value::Float(Float::new(e.ratio))),
        Property::public("text", s(&e.text)),
        Property::public("letter", s(&e.letter.to_string())),
        Property::public(
            "maybe",
            e.maybe.map_or(Value::Null, |m| Value::Int(m.into())),
        ),
    ];
    if let Some(x) = e.skipped_when_none {
        props.push(Property::public("skippedWhenNone", Value::Int(x.into())));
    }
    props.push(Property::public(
        "names",
        Value::Array(
            e.names
                .iter()
                .enumerate()
                .map(|(i, n)| (Key::Int(i as i64), s(n)))
                .collect(),
        ),
    ));
    // PHP's array-key rule, stated independently: a key is an int when it reads back as the
    // same text.
    let lookup = e
        .lookup
        .iter()
        .map(|(k, v)| {
            let key = match k.parse::<i64>() {
                Ok(i) if i.to_string() == *k => Key::Int(i),
                _ => Key::Str(Cow::Owned(k.as_bytes().to_vec())),
            };
            (key, Value::Int(*v))
        })
        .collect();
    props.push(Property::public("lookup", Value::Array(lookup)));
    let case = match e.suit {
        Suit::Hearts => "Hearts",
        Suit::Spades => "Spades",
    };
    props.push(Property::public(
        "suit",
        Value::Enum(EnumCase {
            class: "App\\Enums\\Suit".into(),
            case: case.into(),
        }),
    ));
    props.push(Property::protected(
        "inner",
        Value::Object(Object {
            class: "App\\Jobs\\Inner".into(),
            props: vec![
                Property::public("label", s(&e.inner.label)),
                Property::public("weight", Value::Float(Float::new(e.inner.weight))),
            ],
        }),
    ));
    props.push(Property::private(
        "App\\Jobs\\Everything",
        "pair",
        Value::Array(vec![
            (Key::Int(0), Value::Int(e.pair.0.into())),
            (Key::Int(1), Value::Bool(e.pair.1)),
        ]),
    ));
    Value::Object(Object {
        class: "App\\Jobs\\Everything".into(),
        props,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn to_vec_writes_the_expected_tree(e in everything()) {
        let bytes = to_vec(&e).unwrap();
        let parsed = Value::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &expected_tree(&e));
        prop_assert_eq!(larq::php::to_value(&e).unwrap(), parsed);
    }
}

/// Depends on `larq::php::from_bytes` (branch `de`): a struct survives to_vec → from_bytes.
#[test]
fn to_vec_then_from_bytes_roundtrips() {
    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(rename = "App\\Jobs\\Plain", rename_all = "camelCase")]
    struct Plain {
        user_id: i64,
        name: String,
        tags: Vec<String>,
        score: Option<f64>,
    }
    let p = Plain {
        user_id: 7,
        name: "é\"x".into(),
        tags: vec!["a".into(), "b".into()],
        score: Some(0.1),
    };
    let bytes = to_vec(&p).unwrap();
    let back: Plain = larq::php::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
}
