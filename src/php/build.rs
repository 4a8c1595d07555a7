//! The [`Value`] tree builder: reads one serialized value through the [`Tokenizer`] into a tree,
//! with the capacity budget and reference checks that keep hostile input from allocating or
//! pointing where PHP would refuse.
//!
//! It sits above both the tokenizer (`parse.rs`) and the tree types (`value.rs`), so neither of
//! those needs the other's module: `Value::parse` is defined here.

use std::borrow::Cow;

use super::error::{Error, ErrorKind, Result};
use super::parse::{fast, Limits, Token, Tokenizer};
use super::value::{Custom, EnumCase, Float, Key, Object, Property, Value};

impl<'a> Value<'a> {
    /// Parse one value with the default [`Limits`]; trailing bytes are an error.
    pub fn parse(input: &'a [u8]) -> Result<Value<'a>> {
        parse_value(input, &Limits::default())
    }
}

/// Parse exactly one value (no trailing bytes) into a [`Value`] tree.
pub fn parse_value<'a>(input: &'a [u8], limits: &Limits) -> Result<Value<'a>> {
    let mut t = Tokenizer::new(input, *limits);
    let v = build(&mut t, &mut capacity_budget(input))?;
    if !t.is_at_end() {
        return Err(Error::at(ErrorKind::TrailingData, t.offset()));
    }
    Ok(v)
}

/// Parse one value at the front of `input` and return it with the number of bytes it used
/// (PHP itself ignores what follows a complete value).
pub fn parse_prefix<'a>(input: &'a [u8], limits: &Limits) -> Result<(Value<'a>, usize)> {
    let mut t = Tokenizer::new(input, *limits);
    let v = build(&mut t, &mut capacity_budget(input))?;
    Ok((v, t.offset()))
}

/// How many container elements may be allocated ahead of reading them. Every element takes at
/// least 6 bytes (`i:0;N;`), so an honest input never declares more than `len / 6` in total and
/// gets every vector allocated once at its exact size, while declared counts that nest inside
/// each other (each one believable on its own) cannot add up to more than that.
fn capacity_budget(input: &[u8]) -> usize {
    input.len() / 6
}

fn build<'a>(t: &mut Tokenizer<'a>, budget: &mut usize) -> Result<Value<'a>> {
    let mut v = Value::Null;
    build_into(t, budget, &mut v)?;
    Ok(v)
}

/// Read one value into `out`, which already sits where the value belongs (an element of its
/// container's vector): values are written once, in place, instead of being returned through
/// every level. The common tokens are read here directly; the rest go through
/// [`Tokenizer::next_token`].
fn build_into<'a>(t: &mut Tokenizer<'a>, budget: &mut usize, out: &mut Value<'a>) -> Result<()> {
    let rest: &'a [u8] = &t.input[t.pos..];
    match rest.first() {
        Some(b'N') if rest.get(1) == Some(&b';') => {
            put(out, Value::Null);
            t.took_scalar(2);
            return Ok(());
        }
        Some(b'b') => {
            if let Some((used, Token::Bool(b))) = fast::token(rest) {
                put(out, Value::Bool(b));
                t.took_scalar(used);
                return Ok(());
            }
        }
        Some(b'i') => {
            if let Some((used, i)) = fast::int(rest) {
                put(out, Value::Int(i));
                t.took_scalar(used);
                return Ok(());
            }
        }
        Some(b's') => {
            if let Some((used, s)) = fast::string(rest) {
                put(out, Value::String(Cow::Borrowed(s)));
                t.took_scalar(used);
                return Ok(());
            }
        }
        Some(b'd') => {
            if let Some((used, repr, value)) = fast::float(rest) {
                put(
                    out,
                    Value::Float(Float {
                        value,
                        repr: Cow::Borrowed(repr),
                    }),
                );
                t.took_scalar(used);
                return Ok(());
            }
        }
        Some(b'a') => {
            if let Some((len, used)) = fast::array(rest) {
                t.opened(used)?;
                return build_array(t, budget, len, out);
            }
        }
        Some(b'O') => {
            if let Some((used, class, len)) = fast::object(rest) {
                t.opened(used)?;
                return build_object(t, budget, class, len, out);
            }
        }
        _ => {}
    }
    let v = match t.next_token_slow()? {
        Token::Null => Value::Null,
        Token::Bool(b) => Value::Bool(b),
        Token::Int(i) => Value::Int(i),
        Token::Float(f) => Value::Float(f),
        Token::Str(s) => Value::String(s),
        Token::ArrayStart { len } => return build_array(t, budget, len, out),
        Token::ObjectStart { class, len } => return build_object(t, budget, class, len, out),
        Token::Custom { class, data } => Value::Custom(Custom {
            class: Cow::Borrowed(class),
            data: Cow::Borrowed(data),
        }),
        Token::Enum { class, case } => Value::Enum(EnumCase {
            class: Cow::Borrowed(class),
            case: Cow::Borrowed(case),
        }),
        Token::ObjectRef(n) => {
            check_ref(t, n, true)?;
            Value::ObjectRef(n)
        }
        Token::ValueRef(n) => {
            check_ref(t, n, false)?;
            Value::ValueRef(n)
        }
    };
    put(out, v);
    Ok(())
}

/// The `len` pairs and `}` of an array whose header was read.
fn build_array<'a>(
    t: &mut Tokenizer<'a>,
    budget: &mut usize,
    len: usize,
    out: &mut Value<'a>,
) -> Result<()> {
    let reserved = reserve(len, budget);
    put(out, Value::Array(Vec::with_capacity(reserved)));
    let Value::Array(items) = out else {
        return Ok(());
    };
    // Placeholders first, then every pair filled in place: pushing a pair at a time would keep
    // it on the stack across `push`'s possible reallocation and copy it (slowly) from there.
    items.resize_with(reserved, || (Key::Int(0), Value::Null));
    for (k, v) in items.iter_mut() {
        forget_put(k, t.next_key()?);
        build_into(t, budget, v)?;
    }
    // Only when nested counts used up the budget (a forged input, or one near the bound).
    for _ in reserved..len {
        let k = t.next_key()?;
        let mut v = Value::Null;
        build_into(t, budget, &mut v)?;
        items.push((k, v));
    }
    t.end_container()
}

/// The `len` members and `}` of an object whose header was read.
fn build_object<'a>(
    t: &mut Tokenizer<'a>,
    budget: &mut usize,
    class: &'a str,
    len: usize,
    out: &mut Value<'a>,
) -> Result<()> {
    let reserved = reserve(len, budget);
    put(
        out,
        Value::Object(Object {
            class: Cow::Borrowed(class),
            props: Vec::with_capacity(reserved),
        }),
    );
    let Value::Object(Object { props, .. }) = out else {
        return Ok(());
    };
    props.resize_with(reserved, || Property {
        key: Key::Int(0),
        value: Value::Null,
    });
    for p in props.iter_mut() {
        forget_put(&mut p.key, t.next_key()?);
        build_into(t, budget, &mut p.value)?;
    }
    for _ in reserved..len {
        let key = t.next_key()?;
        let mut value = Value::Null;
        build_into(t, budget, &mut value)?;
        props.push(Property { key, value });
    }
    t.end_container()
}

/// Store `v` in `out`, which holds the `Value::Null` placeholder: nothing to drop, so the drop glue
/// an assignment would run is skipped (forgetting a `Null` leaks nothing).
#[inline(always)]
fn put<'a>(out: &mut Value<'a>, v: Value<'a>) {
    debug_assert!(matches!(out, Value::Null));
    std::mem::forget(std::mem::replace(out, v));
}

/// Store `k` over the `Key::Int(0)` placeholder (nothing to drop).
#[inline(always)]
fn forget_put<'a>(out: &mut Key<'a>, k: Key<'a>) {
    std::mem::forget(std::mem::replace(out, k));
}

/// Take `len` elements' worth of capacity from the budget (as much as is left).
#[inline]
fn reserve(len: usize, budget: &mut usize) -> usize {
    let n = len.min(*budget);
    *budget -= n;
    n
}

/// A reference must point to a slot already read (PHP refuses `R:0;` and forward references).
pub(crate) fn check_ref(t: &Tokenizer<'_>, n: u64, takes_slot: bool) -> Result<()> {
    // An `r:` has already taken its own slot, which it cannot point to.
    let available = if takes_slot {
        t.slots().saturating_sub(1)
    } else {
        t.slots()
    };
    if n == 0 || n > available {
        let offset = t.offset();
        return Err(Error::at(
            ErrorKind::BadReference {
                slot: n,
                reason: "no such slot before this point",
            },
            offset,
        ));
    }
    Ok(())
}
