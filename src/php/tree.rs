//! The value tree: the lossless JSON view of a [`Value`] that `larq inspect --tree` prints.
//!
//! The format is a contract shared with the fixture expectations PHP writes in `php-fixtures/` and
//! with operators' tooling, so it is spelled out in `docs/value-tree.md` and never changes
//! silently. Every node carries `t`; the tree keeps enough (float `repr`, mangled-name parts,
//! reference slots) to write the original bytes back, which [`from_tree`] does.
//!
//! Two extensions beyond the shared contract, for bytes that are not UTF-8 where the contract has a
//! string: a member name becomes `"name_b64"`, and a custom body becomes `"data_b64"`.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use super::value::{demangle, Custom, EnumCase, Float, Key, Object, Property, Value, Visibility};

/// Why a JSON document is not a valid value tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value tree at {path}: {message}")]
pub struct TreeError {
    /// JSON-pointer-like path to the offending node.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// Render `value` as a value-tree node.
pub fn to_tree(value: &Value<'_>) -> Json {
    match value {
        Value::Null => json!({"t": "null"}),
        Value::Bool(b) => json!({"t": "bool", "v": b}),
        Value::Int(i) => json!({"t": "int", "v": i}),
        Value::Float(f) => {
            let v = if f.value.is_nan() {
                json!("NAN")
            } else if f.value.is_infinite() {
                json!(if f.value > 0.0 { "INF" } else { "-INF" })
            } else if f.value == 0.0 && f.value.is_sign_negative() {
                json!("-0")
            } else {
                serde_json::Number::from_f64(f.value)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            };
            json!({"t": "float", "v": v, "repr": f.repr})
        }
        Value::String(s) => string_node(s),
        Value::Array(items) => {
            let items: Vec<Json> = items
                .iter()
                .map(|(k, v)| json!([key_json(k), to_tree(v)]))
                .collect();
            json!({"t": "array", "items": items})
        }
        Value::Object(o) => {
            let props: Vec<Json> = o.props.iter().map(prop_json).collect();
            json!({"t": "object", "class": o.class, "props": props})
        }
        Value::Enum(e) => json!({"t": "enum", "class": e.class, "case": e.case}),
        Value::Custom(c) => match std::str::from_utf8(&c.data) {
            Ok(s) => json!({"t": "custom", "class": c.class, "data": s}),
            Err(_) => json!({"t": "custom", "class": c.class, "data_b64": B64.encode(&c.data)}),
        },
        Value::ObjectRef(n) => json!({"t": "ref", "kind": "object", "slot": n}),
        Value::ValueRef(n) => json!({"t": "ref", "kind": "value", "slot": n}),
    }
}

fn string_node(s: &[u8]) -> Json {
    match std::str::from_utf8(s) {
        Ok(text) => json!({"t": "string", "v": text}),
        Err(_) => json!({"t": "string", "b64": B64.encode(s)}),
    }
}

fn key_json(k: &Key<'_>) -> Json {
    match k {
        Key::Int(i) => json!(i),
        // Array keys are bytes; the contract has them as JSON strings, lossy only for non-UTF-8.
        Key::Str(s) => json!(String::from_utf8_lossy(s)),
    }
}

fn prop_json(p: &Property<'_>) -> Json {
    let mut m = Map::new();
    match &p.key {
        Key::Int(i) => {
            m.insert("name".into(), json!(i));
            m.insert("vis".into(), json!("public"));
        }
        Key::Str(raw) => {
            let (vis, name) = demangle(raw);
            match std::str::from_utf8(name) {
                Ok(n) => m.insert("name".into(), json!(n)),
                Err(_) => m.insert("name_b64".into(), json!(B64.encode(name))),
            };
            m.insert("vis".into(), json!(vis.as_str()));
            if vis == Visibility::Private {
                if let Some(class) = p.declaring_class() {
                    m.insert("class".into(), json!(String::from_utf8_lossy(class)));
                }
            }
        }
    }
    m.insert("v".into(), to_tree(&p.value));
    Json::Object(m)
}

/// Rebuild a [`Value`] from a value-tree node (the inverse of [`to_tree`]).
pub fn from_tree(node: &Json) -> Result<Value<'static>, TreeError> {
    build(node, "")
}

fn err(path: &str, message: impl Into<String>) -> TreeError {
    TreeError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

fn field<'j>(node: &'j Json, name: &str, path: &str) -> Result<&'j Json, TreeError> {
    node.get(name)
        .ok_or_else(|| err(path, format!("missing \"{name}\"")))
}

fn str_field<'j>(node: &'j Json, name: &str, path: &str) -> Result<&'j str, TreeError> {
    field(node, name, path)?
        .as_str()
        .ok_or_else(|| err(path, format!("\"{name}\" must be a string")))
}

fn build(node: &Json, path: &str) -> Result<Value<'static>, TreeError> {
    let t = str_field(node, "t", path)?;
    Ok(match t {
        "null" => Value::Null,
        "bool" => Value::Bool(
            field(node, "v", path)?
                .as_bool()
                .ok_or_else(|| err(path, "bool v"))?,
        ),
        "int" => Value::Int(
            field(node, "v", path)?
                .as_i64()
                .ok_or_else(|| err(path, "int v must be an i64"))?,
        ),
        "float" => {
            let repr = str_field(node, "repr", path)?;
            let value = super::float::parse_php_float(repr)
                .ok_or_else(|| err(path, format!("repr {repr:?} is not a PHP float")))?;
            Value::Float(Float {
                value,
                repr: Cow::Owned(repr.to_owned()),
            })
        }
        "string" => {
            if let Some(b64) = node.get("b64") {
                let text = b64
                    .as_str()
                    .ok_or_else(|| err(path, "b64 must be a string"))?;
                Value::String(Cow::Owned(
                    B64.decode(text).map_err(|e| err(path, e.to_string()))?,
                ))
            } else {
                Value::String(Cow::Owned(str_field(node, "v", path)?.as_bytes().to_vec()))
            }
        }
        "array" => {
            let items = field(node, "items", path)?
                .as_array()
                .ok_or_else(|| err(path, "items must be a list"))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}/items/{i}");
                let pair = item
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| err(&p, "item must be [key, node]"))?;
                let key = match &pair[0] {
                    Json::Number(n) if n.is_i64() => Key::Int(n.as_i64().unwrap_or_default()),
                    Json::String(s) => Key::Str(Cow::Owned(s.as_bytes().to_vec())),
                    _ => return Err(err(&p, "key must be an integer or a string")),
                };
                out.push((key, build(&pair[1], &format!("{p}/1"))?));
            }
            Value::Array(out)
        }
        "object" => {
            let class = str_field(node, "class", path)?.to_owned();
            let props = field(node, "props", path)?
                .as_array()
                .ok_or_else(|| err(path, "props must be a list"))?;
            let mut obj = Object::new(class);
            for (i, prop) in props.iter().enumerate() {
                let p = format!("{path}/props/{i}");
                let value = build(field(prop, "v", &p)?, &format!("{p}/v"))?;
                let name_bytes: Vec<u8> = match (prop.get("name"), prop.get("name_b64")) {
                    (Some(Json::Number(n)), _) => {
                        let k = n.as_i64().ok_or_else(|| err(&p, "int name out of range"))?;
                        obj.props.push(Property {
                            key: Key::Int(k),
                            value,
                        });
                        continue;
                    }
                    (Some(Json::String(s)), _) => s.as_bytes().to_vec(),
                    (None, Some(Json::String(b))) => {
                        B64.decode(b).map_err(|e| err(&p, e.to_string()))?
                    }
                    _ => return Err(err(&p, "missing \"name\"")),
                };
                let key = match str_field(prop, "vis", &p)? {
                    "public" => name_bytes,
                    "protected" => [&b"\0*\0"[..], &name_bytes].concat(),
                    "private" => {
                        let owner = str_field(prop, "class", &p)?;
                        [&b"\0"[..], owner.as_bytes(), b"\0", &name_bytes].concat()
                    }
                    other => return Err(err(&p, format!("unknown vis {other:?}"))),
                };
                obj.props.push(Property {
                    key: Key::Str(Cow::Owned(key)),
                    value,
                });
            }
            Value::Object(obj)
        }
        "enum" => Value::Enum(EnumCase {
            class: Cow::Owned(str_field(node, "class", path)?.to_owned()),
            case: Cow::Owned(str_field(node, "case", path)?.to_owned()),
        }),
        "custom" => {
            let data = match (node.get("data"), node.get("data_b64")) {
                (Some(Json::String(s)), _) => s.as_bytes().to_vec(),
                (None, Some(Json::String(b))) => {
                    B64.decode(b).map_err(|e| err(path, e.to_string()))?
                }
                _ => return Err(err(path, "missing \"data\"")),
            };
            Value::Custom(Custom {
                class: Cow::Owned(str_field(node, "class", path)?.to_owned()),
                data: Cow::Owned(data),
            })
        }
        "ref" => {
            let slot = field(node, "slot", path)?
                .as_u64()
                .ok_or_else(|| err(path, "slot must be a positive integer"))?;
            match str_field(node, "kind", path)? {
                "object" => Value::ObjectRef(slot),
                "value" => Value::ValueRef(slot),
                other => return Err(err(path, format!("unknown ref kind {other:?}"))),
            }
        }
        other => return Err(err(path, format!("unknown node type {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_matches_the_contract() {
        let v = Value::parse(
            b"O:3:\"A\\B\":4:{s:1:\"x\";d:1.0E+25;s:4:\"\x00*\x00p\";a:2:{i:10;N;s:3:\"010\";b:1;}s:6:\"\x00A\\B\x00q\";E:3:\"S:C\";i:5;r:1;}",
        )
        .unwrap();
        let want = json!({"t":"object","class":"A\\B","props":[
            {"name":"x","vis":"public","v":{"t":"float","v":1e25,"repr":"1.0E+25"}},
            {"name":"p","vis":"protected","v":{"t":"array","items":[[10,{"t":"null"}],["010",{"t":"bool","v":true}]]}},
            {"name":"q","vis":"private","class":"A\\B","v":{"t":"enum","class":"S","case":"C"}},
            {"name":5,"vis":"public","v":{"t":"ref","kind":"object","slot":1}}
        ]});
        assert_eq!(to_tree(&v), want);
        assert_eq!(from_tree(&want).unwrap().to_bytes(), v.to_bytes());
    }

    #[test]
    fn special_floats_and_binary_strings() {
        for (input, v) in [
            (&b"d:INF;"[..], json!("INF")),
            (b"d:-INF;", json!("-INF")),
            (b"d:NAN;", json!("NAN")),
            (b"d:-0;", json!("-0")),
        ] {
            let tree = to_tree(&Value::parse(input).unwrap());
            assert_eq!(tree["v"], v);
            assert_eq!(from_tree(&tree).unwrap().to_bytes(), input);
        }
        let tree = to_tree(&Value::parse(b"s:2:\"\xff\x00\";").unwrap());
        assert_eq!(tree, json!({"t":"string","b64":"/wA="}));
        assert_eq!(from_tree(&tree).unwrap().to_bytes(), b"s:2:\"\xff\x00\";");
    }

    #[test]
    fn rejects_malformed_trees() {
        let e = from_tree(&json!({"t":"array","items":[[1.5,{"t":"null"}]]})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value tree at /items/0: key must be an integer or a string"
        );
        let e = from_tree(&json!({"t":"wat"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value tree at /: unknown node type \"wat\""
        );
    }
}
