//! The tokenizer for PHP's `serialize()` format, built from nom 8 combinators over `&[u8]`.
//!
//! It is a pull parser: [`Tokenizer::next_token`] reads one value header (a whole scalar, or the
//! opening of an array/object up to its `{`), [`Tokenizer::next_key`] one array key or member name,
//! and [`Tokenizer::end_container`] the closing `}`. Both the [`Value`](super::Value) builder (`build.rs`) and the serde
//! [`Deserializer`](super::Deserializer) sit on it, so the grammar, the limits and the error
//! messages exist once.
//!
//! Limits for hostile input live here too: nesting depth is counted on every container opened, and
//! no declared count is believed before the remaining input could hold it (every array element
//! needs at least 6 bytes, `i:0;N;`), so a forged `a:99999999999:{` fails at once instead of
//! allocating. Lengths are checked against the remaining bytes before any slice is taken.
//!
//! Slots (`r:N;` / `R:N;` targets) are numbered here as PHP numbers them: the outermost value is 1,
//! every value token takes the next number, `r:` included, `R:` and keys excluded.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take, take_while1};
use nom::character::complete::digit1;
use nom::combinator::{opt, recognize};
use nom::error::{ErrorKind as NomKind, ParseError};
use nom::sequence::pair;
use nom::{IResult, Parser};

use super::error::{Error, ErrorKind, Result};
use super::float::parse_php_float;
use super::value::{Float, Key};

/// Bounds applied to untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of arrays and objects (PHP's own default is 4096; ours is 128 like
    /// serde_json, which no Laravel payload comes near).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 128 }
    }
}

/// One token of the format.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    /// `N;`
    Null,
    /// `b:0;` / `b:1;`
    Bool(bool),
    /// `i:<n>;`
    Int(i64),
    /// `d:<repr>;`
    Float(Float<'a>),
    /// `s:` (borrowed) or `S:` (unescaped, owned).
    Str(Cow<'a, [u8]>),
    /// `a:<n>:{`: `len` key/value pairs follow, then `}`.
    ArrayStart {
        /// Declared number of pairs (already checked against the remaining input).
        len: usize,
    },
    /// `O:<l>:"<class>":<n>:{`: `len` member/value pairs follow, then `}`.
    ObjectStart {
        /// The class name.
        class: &'a str,
        /// Declared number of members.
        len: usize,
    },
    /// `C:<l>:"<class>":<n>:{<data>}` in full.
    Custom {
        /// The class name.
        class: &'a str,
        /// The opaque body.
        data: &'a [u8],
    },
    /// `E:<l>:"<class>:<case>";`
    Enum {
        /// The enum's class.
        class: &'a str,
        /// The case.
        case: &'a str,
    },
    /// `r:<n>;`
    ObjectRef(u64),
    /// `R:<n>;`
    ValueRef(u64),
}

impl Token<'_> {
    /// A short description for error messages (`found string`).
    pub fn describe(&self) -> &'static str {
        match self {
            Token::Null => "null",
            Token::Bool(_) => "bool",
            Token::Int(_) => "integer",
            Token::Float(_) => "float",
            Token::Str(_) => "string",
            Token::ArrayStart { .. } => "array",
            Token::ObjectStart { .. } => "object",
            Token::Custom { .. } => "custom-serialized object",
            Token::Enum { .. } => "enum case",
            Token::ObjectRef(_) => "object reference",
            Token::ValueRef(_) => "reference",
        }
    }
}

/// nom's error type for this grammar: where (as remaining length) and what.
///
/// Building the message is deferred (`kind: None` means "expected `expected`, found whatever is at
/// that offset"): nom creates and throws away errors on every failed alternative, and formatting
/// them eagerly cost a sixth of the parse time.
#[derive(Debug)]
struct PError {
    remaining: usize,
    expected: &'static str,
    kind: Option<ErrorKind>,
}

impl<'a> ParseError<&'a [u8]> for PError {
    fn from_error_kind(input: &'a [u8], _kind: NomKind) -> Self {
        PError {
            remaining: input.len(),
            expected: "a valid token",
            kind: None,
        }
    }

    fn append(_input: &'a [u8], _kind: NomKind, other: Self) -> Self {
        other
    }
}

type In<'a> = &'a [u8];
type PResult<'a, T> = IResult<In<'a>, T, PError>;

/// Describe the byte at the front of `input` for an error message.
fn found(input: &[u8], expected: &'static str) -> ErrorKind {
    match input.first() {
        None => ErrorKind::Eof { expected },
        Some(&b) => ErrorKind::Syntax {
            expected,
            found: describe_byte(b),
        },
    }
}

pub(crate) fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

fn fail<T>(input: In<'_>, kind: ErrorKind) -> PResult<'_, T> {
    Err(nom::Err::Failure(PError {
        remaining: input.len(),
        expected: "",
        kind: Some(kind),
    }))
}

/// Fail with "expected `expected`, found <what is at `input`>", formatted only if reported.
fn expected_at<'a, T>(input: In<'a>, expected: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(PError {
        remaining: input.len(),
        expected,
        kind: None,
    }))
}

/// Exactly the byte `c`, or an error saying what was expected.
fn byte<'a>(c: u8, expected: &'static str) -> impl Fn(In<'a>) -> PResult<'a, ()> {
    move |input: In<'a>| match input.first() {
        Some(&b) if b == c => Ok((&input[1..], ())),
        _ => expected_at(input, expected),
    }
}

/// An unsigned decimal (lengths, counts, slots).
fn unsigned<'a>(expected: &'static str) -> impl Fn(In<'a>) -> PResult<'a, u64> {
    move |input: In<'a>| {
        let (rest, digits) = match digit1::<_, PError>(input) {
            Ok(ok) => ok,
            Err(_) => return expected_at(input, expected),
        };
        let mut n: u64 = 0;
        for &d in digits {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
            {
                Some(n) => n,
                None => {
                    return fail(
                        input,
                        ErrorKind::NumberOutOfRange(String::from_utf8_lossy(digits).into_owned()),
                    )
                }
            };
        }
        Ok((rest, n))
    }
}

/// PHP's integer grammar `[+-]?[0-9]+`, clamped to the i64 range like PHP 8.2 does.
fn signed(input: In<'_>) -> PResult<'_, i64> {
    let (rest, text) = match recognize(pair(
        opt(nom::branch::alt((
            tag::<_, _, PError>(&b"-"[..]),
            tag(&b"+"[..]),
        ))),
        digit1,
    ))
    .parse(input)
    {
        Ok(ok) => ok,
        Err(_) => return expected_at(input, "an integer"),
    };
    let negative = text[0] == b'-';
    let digits = if matches!(text[0], b'-' | b'+') {
        &text[1..]
    } else {
        text
    };
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        let next = n.checked_mul(10).and_then(|n| {
            if negative {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        });
        match next {
            Some(v) => n = v,
            None => return Ok((rest, if negative { i64::MIN } else { i64::MAX })),
        }
    }
    Ok((rest, n))
}

/// `<len>:"<bytes>"` with the length checked before the bytes are taken.
fn counted<'a>(what: &'static str) -> impl Fn(In<'a>) -> PResult<'a, &'a [u8]> {
    move |input: In<'a>| {
        let (rest, len) = unsigned("a length")(input)?;
        let (rest, ()) = byte(b':', "':' after the length")(rest)?;
        let (rest, ()) = byte(b'"', "'\"' before the data")(rest)?;
        if len > rest.len() as u64 {
            return fail(
                input,
                ErrorKind::LengthOutOfRange {
                    what,
                    declared: len,
                    remaining: rest.len(),
                },
            );
        }
        let (rest, data) = take::<_, _, PError>(len as usize)(rest)?;
        let (rest, ()) = byte(
            b'"',
            "'\"' after the data (the declared length does not match)",
        )(rest)?;
        Ok((rest, data))
    }
}

fn class_name<'a>(input: In<'a>) -> PResult<'a, &'a str> {
    let (rest, raw) = counted("class name length")(input)?;
    match std::str::from_utf8(raw) {
        Ok(s) if is_class_name(s) => Ok((rest, s)),
        _ => fail(
            input,
            ErrorKind::InvalidClassName(String::from_utf8_lossy(raw).into_owned()),
        ),
    }
}

/// PHP accepts `[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*` segments separated by `\`.
pub(crate) fn is_class_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('\\').all(|seg| {
            let mut bytes = seg.bytes();
            matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80)
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
        })
}

/// `bytes` as text if it is UTF-8. Names and most strings in a payload are short and ASCII; the
/// inline ASCII check costs a fraction of a call to the general validator, which was a fifth of
/// the instructions spent reading a typical job into a struct.
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every byte is ASCII, and ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// The count of a container: `<n>:{`, with `n` checked against the remaining input.
fn container_len<'a>(input: In<'a>) -> PResult<'a, usize> {
    let (rest, n) = unsigned("an element count")(input)?;
    let (rest, ()) = byte(b':', "':' after the element count")(rest)?;
    let (rest, ()) = byte(b'{', "'{'")(rest)?;
    // Every pair needs at least 6 bytes (`i:0;N;`), and the closing `}` one more.
    if n > (rest.len() as u64) / 6 {
        return fail(
            input,
            ErrorKind::LengthOutOfRange {
                what: "element count",
                declared: n,
                remaining: rest.len(),
            },
        );
    }
    Ok((rest, n as usize))
}

/// `S:` strings: `\xx` hex escapes, the length counting decoded bytes.
fn escaped_string<'a>(input: In<'a>) -> PResult<'a, Cow<'a, [u8]>> {
    let (mut rest, len) = unsigned("a length")(input)?;
    rest = byte(b':', "':' after the length")(rest)?.0;
    rest = byte(b'"', "'\"' before the data")(rest)?.0;
    if len > rest.len() as u64 {
        return fail(
            input,
            ErrorKind::LengthOutOfRange {
                what: "string length",
                declared: len,
                remaining: rest.len(),
            },
        );
    }
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        match rest.first() {
            None => return expected_at(rest, "string data"),
            Some(b'\\') => {
                let hex = rest.get(1..3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => out.push(b),
                    None => return expected_at(rest, "a \\xx hex escape"),
                }
                rest = &rest[3..];
            }
            Some(&b) => {
                out.push(b);
                rest = &rest[1..];
            }
        }
    }
    rest = byte(
        b'"',
        "'\"' after the data (the declared length does not match)",
    )(rest)?
    .0;
    Ok((rest, Cow::Owned(out)))
}

fn token<'a>(input: In<'a>) -> PResult<'a, Token<'a>> {
    let Some(&tag_byte) = input.first() else {
        return fail(
            input,
            ErrorKind::Eof {
                expected: "a value",
            },
        );
    };
    if tag_byte == b'N' {
        let (rest, ()) = byte(b';', "';' after N")(&input[1..])?;
        return Ok((rest, Token::Null));
    }
    let expected_tag = "a value (one of N b i d s S a O C E r R)";
    if !b"bidsSaOCErR".contains(&tag_byte) {
        return expected_at(input, expected_tag);
    }
    let (body, ()) = byte(b':', "':' after the type letter")(&input[1..])?;
    let semi = |what: &'static str| byte(b';', what);
    match tag_byte {
        b'b' => {
            let (rest, v) = match body.first() {
                Some(b'0') => (&body[1..], false),
                Some(b'1') => (&body[1..], true),
                _ => return expected_at(body, "0 or 1"),
            };
            let (rest, ()) = semi("';' after a bool")(rest)?;
            Ok((rest, Token::Bool(v)))
        }
        b'i' => {
            let (rest, v) = signed(body)?;
            let (rest, ()) = semi("';' after an integer")(rest)?;
            Ok((rest, Token::Int(v)))
        }
        b'd' => {
            let (rest, text) = match take_while1::<_, _, PError>(|b: u8| b != b';')(body) {
                Ok(ok) => ok,
                Err(_) => return expected_at(body, "a float"),
            };
            let parsed = std::str::from_utf8(text)
                .ok()
                .and_then(|t| parse_php_float(t).map(|v| (t, v)));
            let Some((repr, value)) = parsed else {
                return fail(
                    body,
                    ErrorKind::Syntax {
                        expected: "a float",
                        found: format!("{:?}", String::from_utf8_lossy(text)),
                    },
                );
            };
            let (rest, ()) = semi("';' after a float")(rest)?;
            Ok((
                rest,
                Token::Float(Float {
                    value,
                    repr: Cow::Borrowed(repr),
                }),
            ))
        }
        b's' => {
            let (rest, data) = counted("string length")(body)?;
            let (rest, ()) = semi("';' after a string")(rest)?;
            Ok((rest, Token::Str(Cow::Borrowed(data))))
        }
        b'S' => {
            let (rest, data) = escaped_string(body)?;
            let (rest, ()) = semi("';' after a string")(rest)?;
            Ok((rest, Token::Str(data)))
        }
        b'a' => {
            let (rest, len) = container_len(body)?;
            Ok((rest, Token::ArrayStart { len }))
        }
        b'O' => {
            let (rest, class) = class_name(body)?;
            let (rest, ()) = byte(b':', "':' after the class name")(rest)?;
            let (rest, len) = container_len(rest)?;
            Ok((rest, Token::ObjectStart { class, len }))
        }
        b'C' => {
            let (rest, class) = class_name(body)?;
            let (rest, ()) = byte(b':', "':' after the class name")(rest)?;
            let (after_len, len) = unsigned("a length")(rest)?;
            let (after_len, ()) = byte(b':', "':' after the length")(after_len)?;
            let (after_len, ()) = byte(b'{', "'{'")(after_len)?;
            if len > after_len.len() as u64 {
                return fail(
                    rest,
                    ErrorKind::LengthOutOfRange {
                        what: "custom data length",
                        declared: len,
                        remaining: after_len.len(),
                    },
                );
            }
            let (after, data) = take::<_, _, PError>(len as usize)(after_len)?;
            let (after, ()) = byte(
                b'}',
                "'}' after the custom data (the declared length does not match)",
            )(after)?;
            Ok((after, Token::Custom { class, data }))
        }
        b'E' => {
            let (rest, raw) = counted("enum name length")(body)?;
            let (rest, ()) = semi("';' after an enum case")(rest)?;
            let text = std::str::from_utf8(raw).ok();
            match text.and_then(|t| t.split_once(':')) {
                Some((class, case))
                    if is_class_name(class) && is_class_name(case) && !case.contains('\\') =>
                {
                    Ok((rest, Token::Enum { class, case }))
                }
                _ => fail(
                    body,
                    ErrorKind::InvalidClassName(String::from_utf8_lossy(raw).into_owned()),
                ),
            }
        }
        b'r' | b'R' => {
            let (rest, n) = unsigned("a slot number")(body)?;
            let (rest, ()) = semi("';' after a reference")(rest)?;
            Ok((
                rest,
                if tag_byte == b'r' {
                    Token::ObjectRef(n)
                } else {
                    Token::ValueRef(n)
                },
            ))
        }
        _ => expected_at(input, expected_tag),
    }
}

fn key<'a>(input: In<'a>) -> PResult<'a, Key<'a>> {
    match input.first() {
        Some(b'i') | Some(b's') | Some(b'S') => match token(input)? {
            (rest, Token::Int(i)) => Ok((rest, Key::Int(i))),
            (rest, Token::Str(s)) => Ok((rest, Key::Str(s))),
            _ => expected_at(input, "an array key (i: or s:)"),
        },
        _ => expected_at(input, "an array key (i: or s:)"),
    }
}

/// Hand-written paths for the tokens that make up most payloads (`N;`, `b:`, short `i:` and
/// `s:`, `a:`). Each accepts a strict subset of what the nom grammar accepts and returns the same
/// token; anything else (signs other than `-`, 19+ digit numbers, lengths that do not fit, every
/// error) returns `None` and goes through the grammar, which stays the one source of messages.
pub(crate) mod fast {
    use std::borrow::Cow;

    use super::{Float, Key, Token};

    /// Up to 18 digits from `i` (so no overflow is possible): the number and the index after it.
    #[inline(always)]
    pub(crate) fn digits(input: &[u8], mut i: usize) -> Option<(u64, usize)> {
        let start = i;
        let mut n: u64 = 0;
        while let Some(&b) = input.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            if i - start == 18 {
                return None;
            }
            n = n * 10 + u64::from(b - b'0');
            i += 1;
        }
        (i > start).then_some((n, i))
    }

    /// `i:<n>;` with `input[0] == b'i'`.
    #[inline(always)]
    pub(crate) fn int(input: &[u8]) -> Option<(usize, i64)> {
        if input.get(1) != Some(&b':') {
            return None;
        }
        let negative = input.get(2) == Some(&b'-');
        let (n, end) = digits(input, if negative { 3 } else { 2 })?;
        if input.get(end) != Some(&b';') {
            return None;
        }
        // 18 digits fit in i64.
        let n = n as i64;
        Some((end + 1, if negative { -n } else { n }))
    }

    /// `s:<len>:"<bytes>";` with `input[0] == b's'`.
    #[inline(always)]
    pub(crate) fn string(input: &[u8]) -> Option<(usize, &[u8])> {
        if input.get(1) != Some(&b':') {
            return None;
        }
        let (len, i) = digits(input, 2)?;
        if input.get(i) != Some(&b':') || input.get(i + 1) != Some(&b'"') {
            return None;
        }
        let start = i + 2;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        if input.get(end) != Some(&b'"') || input.get(end + 1) != Some(&b';') {
            return None;
        }
        Some((end + 2, &input[start..end]))
    }

    /// Powers of ten that `f64` holds exactly.
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// The shape of a float's text, as scanned by [`float_shape`].
    struct FloatShape {
        /// Index of the `;` after the text.
        end: usize,
        negative: bool,
        /// The digits without the dot (meaningful only when `digits <= 15`).
        mantissa: u64,
        /// Number of mantissa digits.
        digits: usize,
        /// Number of digits after the dot.
        fraction: usize,
        exponent: bool,
    }

    /// `d:` followed by the forms PHP writes: `-`? digits (`.` digits)? ([eE] [+-]? digits)? `;`
    /// (a subset of `parse_php_float`'s grammar: no `+`, no bare dot, no `INF`/`NAN`).
    #[inline]
    fn float_shape(input: &[u8]) -> Option<FloatShape> {
        if input.get(1) != Some(&b':') {
            return None;
        }
        let mut i = 2;
        let negative = input.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let mut mantissa: u64 = 0;
        let int_start = i;
        while let Some(&b) = input.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            i += 1;
        }
        let mut digits = i - int_start;
        if digits == 0 {
            return None;
        }
        let mut fraction = 0;
        if input.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            while let Some(&b) = input.get(i) {
                if !b.is_ascii_digit() {
                    break;
                }
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                i += 1;
            }
            fraction = i - frac_start;
            if fraction == 0 {
                return None;
            }
            digits += fraction;
        }
        let mut exponent = false;
        if matches!(input.get(i), Some(b'e' | b'E')) {
            exponent = true;
            i += 1;
            if matches!(input.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_start = i;
            while input.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == exp_start {
                return None;
            }
        }
        if input.get(i) != Some(&b';') {
            return None;
        }
        Some(FloatShape {
            end: i,
            negative,
            mantissa,
            digits,
            fraction,
            exponent,
        })
    }

    /// `d:<text>;`: bytes used, the text and its value.
    #[inline]
    pub(crate) fn float(input: &[u8]) -> Option<(usize, &str, f64)> {
        let shape = float_shape(input)?;
        // Only ASCII was accepted, so this cannot fail.
        let text = std::str::from_utf8(&input[2..shape.end]).ok()?;
        let value = if !shape.exponent && shape.digits <= 15 {
            // Clinger's fast path: the mantissa (< 10^15 < 2^53) and 10^fraction (fraction < 16)
            // are exact, and IEEE division rounds correctly, so this is the nearest double, as
            // the full algorithm would find.
            let v = shape.mantissa as f64 / POW10[shape.fraction];
            if shape.negative {
                -v
            } else {
                v
            }
        } else {
            text.parse::<f64>().ok()?
        };
        Some((shape.end + 1, text, value))
    }

    /// A class name made of ASCII only, checked like `is_class_name` in one pass.
    #[inline]
    pub(crate) fn ascii_class_name(raw: &[u8]) -> Option<&str> {
        let mut at_start = true;
        for &b in raw {
            if b == b'\\' {
                if at_start {
                    return None;
                }
                at_start = true;
            } else if at_start {
                if !(b.is_ascii_alphabetic() || b == b'_') {
                    return None;
                }
                at_start = false;
            } else if !(b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
        }
        if at_start {
            return None;
        }
        super::utf8(raw)
    }

    /// `<n>:{` at `i`, with the grammar's bound (every pair needs at least 6 bytes): the count
    /// and the index after the `{`.
    #[inline(always)]
    pub(crate) fn count(input: &[u8], i: usize) -> Option<(usize, usize)> {
        let (n, i) = digits(input, i)?;
        if input.get(i) != Some(&b':') || input.get(i + 1) != Some(&b'{') {
            return None;
        }
        let used = i + 2;
        if n > ((input.len() - used) as u64) / 6 {
            return None;
        }
        Some((n as usize, used))
    }

    /// `a:<n>:{`: the count and the bytes used.
    #[inline(always)]
    pub(crate) fn array(input: &[u8]) -> Option<(usize, usize)> {
        if input.get(1) != Some(&b':') {
            return None;
        }
        count(input, 2)
    }

    /// `O:<l>:"<class>":<n>:{` with an ASCII class name.
    #[inline]
    pub(crate) fn object(input: &[u8]) -> Option<(usize, &str, usize)> {
        if input.get(1) != Some(&b':') {
            return None;
        }
        let (class_len, i) = digits(input, 2)?;
        if input.get(i) != Some(&b':') || input.get(i + 1) != Some(&b'"') {
            return None;
        }
        let start = i + 2;
        let end = start.checked_add(usize::try_from(class_len).ok()?)?;
        if input.get(end) != Some(&b'"') || input.get(end + 1) != Some(&b':') {
            return None;
        }
        let class = ascii_class_name(&input[start..end])?;
        let (len, used) = count(input, end + 2)?;
        Some((used, class, len))
    }

    #[inline]
    pub(crate) fn token(input: &[u8]) -> Option<(usize, Token<'_>)> {
        match *input.first()? {
            b'N' if input.get(1) == Some(&b';') => Some((2, Token::Null)),
            b'b' if input.get(1) == Some(&b':') && input.get(3) == Some(&b';') => {
                match input.get(2) {
                    Some(b'0') => Some((4, Token::Bool(false))),
                    Some(b'1') => Some((4, Token::Bool(true))),
                    _ => None,
                }
            }
            b'i' => int(input).map(|(used, n)| (used, Token::Int(n))),
            b's' => string(input).map(|(used, s)| (used, Token::Str(Cow::Borrowed(s)))),
            b'd' => float(input).map(|(used, repr, value)| {
                (
                    used,
                    Token::Float(Float {
                        value,
                        repr: Cow::Borrowed(repr),
                    }),
                )
            }),
            b'a' => array(input).map(|(len, used)| (used, Token::ArrayStart { len })),
            b'O' => {
                object(input).map(|(used, class, len)| (used, Token::ObjectStart { class, len }))
            }
            _ => None,
        }
    }

    /// The length of a scalar token (`N` `b` `i` `d` `s`) at the front of `input`, checked like
    /// [`token`] checks it but without building its value. `None` for containers and for
    /// anything [`token`] would not take.
    #[inline]
    pub(crate) fn scalar_len(input: &[u8]) -> Option<usize> {
        match *input.first()? {
            b'N' => (input.get(1) == Some(&b';')).then_some(2),
            b'b' => (input.get(1) == Some(&b':')
                && matches!(input.get(2), Some(b'0' | b'1'))
                && input.get(3) == Some(&b';'))
            .then_some(4),
            b'i' => int(input).map(|(used, _)| used),
            b's' => string(input).map(|(used, _)| used),
            b'd' => float_shape(input).map(|shape| shape.end + 1),
            _ => None,
        }
    }

    #[inline(always)]
    pub(crate) fn key(input: &[u8]) -> Option<(usize, Key<'_>)> {
        match *input.first()? {
            b'i' => int(input).map(|(used, n)| (used, Key::Int(n))),
            b's' => string(input).map(|(used, s)| (used, Key::Str(Cow::Borrowed(s)))),
            _ => None,
        }
    }
}

/// A pull parser over one serialized value. See the module docs.
#[derive(Debug, Clone)]
pub struct Tokenizer<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) depth: usize,
    pub(crate) limits: Limits,
    pub(crate) slots: u64,
}

impl<'a> Tokenizer<'a> {
    /// A tokenizer at the start of `input`.
    pub fn new(input: &'a [u8], limits: Limits) -> Self {
        Tokenizer {
            input,
            pos: 0,
            depth: 0,
            limits,
            slots: 0,
        }
    }

    /// A tokenizer positioned at `offset` of `input`, with `slots` slots already taken (used to
    /// re-read the value a reference points to).
    pub fn at(input: &'a [u8], offset: usize, slots: u64, depth: usize, limits: Limits) -> Self {
        Tokenizer {
            input,
            pos: offset,
            depth,
            limits,
            slots,
        }
    }

    /// Byte offset of the next token.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The whole input.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    /// Current nesting depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Number of slots taken so far; after [`Tokenizer::next_token`] returned a slot-taking token,
    /// this is that token's slot.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// True once every byte has been consumed.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn run<T>(&mut self, f: impl FnOnce(In<'a>) -> PResult<'a, T>) -> Result<T> {
        let rest = &self.input[self.pos..];
        match f(rest) {
            Ok((r, v)) => {
                self.pos = self.input.len() - r.len();
                Ok(v)
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let offset = self.input.len() - e.remaining;
                let kind = e
                    .kind
                    .unwrap_or_else(|| found(&self.input[offset..], e.expected));
                Err(Error::at(kind, offset))
            }
            Err(nom::Err::Incomplete(_)) => Err(Error::at(
                ErrorKind::Eof {
                    expected: "more input",
                },
                self.input.len(),
            )),
        }
    }

    /// Read the next value token. Containers raise the depth (checked against the limit) until
    /// their [`Tokenizer::end_container`].
    #[inline]
    pub fn next_token(&mut self) -> Result<Token<'a>> {
        let rest: &'a [u8] = &self.input[self.pos..];
        match fast::token(rest) {
            Some((used, tok)) => {
                if matches!(tok, Token::ArrayStart { .. } | Token::ObjectStart { .. }) {
                    if self.depth >= self.limits.max_depth {
                        return Err(self.depth_error(self.pos));
                    }
                    self.depth += 1;
                }
                // The fast paths never return `R:`, the one token that takes no slot.
                self.slots += 1;
                self.pos += used;
                Ok(tok)
            }
            None => self.next_token_slow(),
        }
    }

    /// Account for a scalar token of `used` bytes read by a fast path.
    #[inline]
    pub(crate) fn took_scalar(&mut self, used: usize) {
        self.slots += 1;
        self.pos += used;
    }

    /// Account for a container header of `used` bytes read by a fast path.
    #[inline]
    pub(crate) fn opened(&mut self, used: usize) -> Result<()> {
        if self.depth >= self.limits.max_depth {
            return Err(self.depth_error(self.pos));
        }
        self.depth += 1;
        self.slots += 1;
        self.pos += used;
        Ok(())
    }

    #[cold]
    pub(crate) fn depth_error(&self, offset: usize) -> Error {
        Error::at(
            ErrorKind::DepthLimit {
                limit: self.limits.max_depth,
            },
            offset,
        )
    }

    /// [`Tokenizer::next_token`] through the grammar, for what the fast paths do not take.
    #[inline(never)]
    pub(crate) fn next_token_slow(&mut self) -> Result<Token<'a>> {
        let start = self.pos;
        let tok = self.run(token)?;
        match tok {
            Token::ValueRef(_) => {}
            _ => self.slots += 1,
        }
        if matches!(tok, Token::ArrayStart { .. } | Token::ObjectStart { .. }) {
            if self.depth >= self.limits.max_depth {
                return Err(self.depth_error(start));
            }
            self.depth += 1;
        }
        Ok(tok)
    }

    /// Read an array key or object member name (`i:` or `s:`).
    #[inline(always)]
    pub fn next_key(&mut self) -> Result<Key<'a>> {
        let rest: &'a [u8] = &self.input[self.pos..];
        match fast::key(rest) {
            Some((used, key)) => {
                self.pos += used;
                Ok(key)
            }
            None => self.next_key_slow(),
        }
    }

    #[inline(never)]
    pub(crate) fn next_key_slow(&mut self) -> Result<Key<'a>> {
        self.run(key)
    }

    /// Read the `}` that closes the current container.
    pub fn end_container(&mut self) -> Result<()> {
        if self.input.get(self.pos) == Some(&b'}') {
            self.pos += 1;
        } else {
            self.run(byte(b'}', "'}' (more elements than the declared count?)"))?;
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }

    /// Skip one whole value (the token and, for containers, everything up to its `}`), counting
    /// the slots it takes.
    pub fn skip_value(&mut self) -> Result<()> {
        let rest: &'a [u8] = &self.input[self.pos..];
        if let Some(used) = fast::scalar_len(rest) {
            self.took_scalar(used);
            return Ok(());
        }
        let header = match rest.first() {
            Some(b'a') => fast::array(rest),
            Some(b'O') => fast::object(rest).map(|(used, _, len)| (len, used)),
            _ => None,
        };
        let len = match header {
            Some((len, used)) => {
                self.opened(used)?;
                len
            }
            None => match self.next_token_slow()? {
                Token::ArrayStart { len } | Token::ObjectStart { len, .. } => len,
                _ => return Ok(()),
            },
        };
        for _ in 0..len {
            self.next_key()?;
            self.skip_value()?;
        }
        self.end_container()
    }

    /// `N;` if that is what comes next (consumed, its slot counted).
    #[inline]
    pub(crate) fn take_null(&mut self) -> bool {
        let rest = &self.input[self.pos..];
        let null = rest.first() == Some(&b'N') && rest.get(1) == Some(&b';');
        if null {
            self.took_scalar(2);
        }
        null
    }

    /// The next token if it is an `i:` the fast path reads (consumed); `None` leaves everything
    /// as it was, for [`Tokenizer::next_token`] to read or report.
    #[inline]
    pub(crate) fn take_int(&mut self) -> Option<i64> {
        let rest = &self.input[self.pos..];
        if rest.first() != Some(&b'i') {
            return None;
        }
        let (used, i) = fast::int(rest)?;
        self.took_scalar(used);
        Some(i)
    }

    /// Like [`Tokenizer::take_int`], for an `s:` string.
    #[inline]
    pub(crate) fn take_str(&mut self) -> Option<&'a [u8]> {
        let rest: &'a [u8] = &self.input[self.pos..];
        if rest.first() != Some(&b's') {
            return None;
        }
        let (used, s) = fast::string(rest)?;
        self.took_scalar(used);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The tree builder (php/build.rs) drives the tokenizer in most of these tests.
    use crate::php::build::{check_ref, parse_prefix, parse_value};
    use crate::php::value::{Custom, EnumCase, Object, Property, Value};

    fn err(input: &[u8]) -> String {
        match parse_value(input, &Limits::default()) {
            Ok(v) => panic!("{:?} parsed as {v:?}", String::from_utf8_lossy(input)),
            Err(e) => e.to_string(),
        }
    }

    fn roundtrip(input: &[u8]) {
        let v = parse_value(input, &Limits::default()).unwrap();
        assert_eq!(v.to_bytes(), input, "{v:?}");
    }

    #[test]
    fn roundtrips_every_token() {
        for case in [
            &b"N;"[..],
            b"b:1;",
            b"b:0;",
            b"i:-9223372036854775808;",
            b"i:9223372036854775807;",
            b"d:0.1;",
            b"d:1.0E+25;",
            b"d:5.0E-324;",
            b"d:-0;",
            b"d:INF;",
            b"d:-INF;",
            b"d:NAN;",
            b"d:0.10000000000000001;",
            b"s:0:\"\";",
            b"s:5:\"a\"b;c\";",
            b"s:3:\"\x00\xff\x01\";",
            b"a:0:{}",
            b"a:2:{i:10;s:1:\"x\";s:3:\"010\";N;}",
            b"O:8:\"stdClass\":0:{}",
            b"O:1:\"M\":2:{s:1:\"k\";i:1;i:5;s:4:\"five\";}",
            b"O:3:\"A\\B\":2:{s:4:\"\x00*\x00p\";i:1;s:9:\"\x00A\\B\x00priv\";i:2;}",
            b"C:3:\"Foo\":5:{a;b}c}",
            b"E:13:\"Status:Active\";",
            b"a:4:{i:0;O:8:\"stdClass\":0:{}i:1;r:2;i:2;O:8:\"stdClass\":0:{}i:3;r:4;}",
            b"a:4:{i:0;i:1;i:1;R:2;i:2;i:2;i:3;R:3;}",
            b"O:8:\"stdClass\":1:{s:4:\"self\";r:1;}",
        ] {
            roundtrip(case);
        }
    }

    #[test]
    fn reads_lenient_forms_php_reads() {
        let l = Limits::default();
        assert_eq!(parse_value(b"i:+5;", &l).unwrap(), Value::Int(5));
        assert_eq!(parse_value(b"i:05;", &l).unwrap(), Value::Int(5));
        assert_eq!(parse_value(b"i:-0;", &l).unwrap(), Value::Int(0));
        assert_eq!(
            parse_value(b"i:99999999999999999999;", &l).unwrap(),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            parse_value(b"i:-99999999999999999999;", &l).unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            parse_value(b"S:3:\"a\\00b\";", &l).unwrap(),
            Value::String(Cow::Owned(b"a\0b".to_vec()))
        );
        assert_eq!(parse_prefix(b"i:5;junk", &l).unwrap(), (Value::Int(5), 4));
    }

    /// The error-message table: a change to any message is a visible diff here.
    #[test]
    fn error_messages() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "unexpected end of input, expected a value at byte 0"),
            (b"x", "expected a value (one of N b i d s S a O C E r R), found 'x' at byte 0"),
            (b"N", "unexpected end of input, expected ';' after N at byte 1"),
            (b"b:2;", "expected 0 or 1, found '2' at byte 2"),
            (b"i:12", "unexpected end of input, expected ';' after an integer at byte 4"),
            (b"i:1x;", "expected ';' after an integer, found 'x' at byte 3"),
            (b"i:;", "expected an integer, found ';' at byte 2"),
            (b"d:inf;", "expected a float, found \"inf\" at byte 2"),
            (b"d:0x1A;", "expected a float, found \"0x1A\" at byte 2"),
            (b"s:10:\"abc\";", "declared string length 10 exceeds the 5 bytes left at byte 2"),
            (b"s:2:\"abc\";", "expected '\"' after the data (the declared length does not match), found 'c' at byte 7"),
            (b"s:3:\"abc\"", "unexpected end of input, expected ';' after a string at byte 9"),
            (b"a:1:{i:0;i:1;", "unexpected end of input, expected '}' (more elements than the declared count?) at byte 13"),
            (b"a:2:{i:0;i:1;}", "declared element count 2 exceeds the 9 bytes left at byte 2"),
            (b"a:99999999999999:{}", "declared element count 99999999999999 exceeds the 1 bytes left at byte 2"),
            (b"a:99999999999999999999:{}", "number out of range: 99999999999999999999 at byte 2"),
            (b"a:1:{d:1;i:1;}", "expected an array key (i: or s:), found 'd' at byte 5"),
            (b"O:0:\"\":0:{}", "invalid class name \"\" at byte 2"),
            (b"O:4:\"\\Foo\":0:{}", "invalid class name \"\\\\Foo\" at byte 2"),
            (b"E:6:\"NoCase\";", "invalid class name \"NoCase\" at byte 2"),
            (b"r:1;", "invalid reference to slot 1: no such slot before this point at byte 4"),
            (b"a:1:{i:0;R:0;}", "invalid reference to slot 0: no such slot before this point at byte 13"),
            (b"a:1:{i:0;R:5;}", "invalid reference to slot 5: no such slot before this point at byte 13"),
            (b"i:5;junk", "trailing data after the value at byte 4"),
            (b"C:3:\"Foo\":9:{ab}", "declared custom data length 9 exceeds the 3 bytes left at byte 10"),
        ];
        for (input, want) in cases {
            assert_eq!(
                &err(input),
                want,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = |n: usize| {
            let mut s = Vec::new();
            for _ in 0..n {
                s.extend_from_slice(b"a:1:{i:0;");
            }
            s.extend_from_slice(b"N;");
            s.extend(std::iter::repeat_n(b'}', n));
            s
        };
        assert!(parse_value(&deep(128), &Limits::default()).is_ok());
        let e = parse_value(&deep(129), &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nesting deeper than the limit of 128 at byte 1152"
        );
        assert!(parse_value(&deep(300), &Limits { max_depth: 300 }).is_ok());
    }

    #[test]
    fn slots_follow_php_numbering() {
        // [$a, $a, $b, $b] : slot 1 array, 2 $a, 3 r:2, 4 $b, 5 r:4.
        let mut t = Tokenizer::new(
            b"a:4:{i:0;O:8:\"stdClass\":0:{}i:1;r:2;i:2;O:8:\"stdClass\":0:{}i:3;r:4;}",
            Limits::default(),
        );
        t.skip_value().unwrap();
        assert_eq!(t.slots(), 5);
        let mut t = Tokenizer::new(b"a:4:{i:0;i:1;i:1;R:2;i:2;i:2;i:3;R:3;}", Limits::default());
        t.skip_value().unwrap();
        assert_eq!(t.slots(), 3);
    }

    /// The fast-path token must be the grammar's token, float values (which `Float`'s equality
    /// does not look at) included.
    fn same_token(fast: &Token<'_>, want: &Token<'_>) -> std::result::Result<(), String> {
        if fast != want {
            return Err(format!("{fast:?} != {want:?}"));
        }
        if let (Token::Float(a), Token::Float(b)) = (fast, want) {
            if a.value.to_bits() != b.value.to_bits() {
                return Err(format!("{a:?}: {} != {}", a.value, b.value));
            }
        }
        Ok(())
    }

    fn check_fast_paths(
        input: &[u8],
    ) -> std::result::Result<(), proptest::test_runner::TestCaseError> {
        use proptest::test_runner::TestCaseError;
        if let Some((used, tok)) = fast::token(input) {
            let (rest, want) = token(input).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            same_token(&tok, &want).map_err(TestCaseError::fail)?;
            proptest::prop_assert_eq!(used, input.len() - rest.len());
        }
        if let Some(used) = fast::scalar_len(input) {
            let (rest, want) = token(input).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            proptest::prop_assert!(
                !matches!(want, Token::ArrayStart { .. } | Token::ObjectStart { .. }),
                "scalar_len took a container"
            );
            proptest::prop_assert_eq!(used, input.len() - rest.len());
        }
        if let Some((used, k)) = fast::key(input) {
            let (rest, want) = key(input).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            proptest::prop_assert_eq!(k, want);
            proptest::prop_assert_eq!(used, input.len() - rest.len());
        }
        Ok(())
    }

    #[test]
    fn fast_paths_take_the_common_tokens() {
        for input in [
            &b"d:0.1;"[..],
            b"d:-1.5E+25;",
            b"d:-0;",
            b"d:123456789.12345678;",
            b"O:16:\"App\\Jobs\\SomeJob\":12:{" as &[u8],
        ] {
            let mut padded = input.to_vec();
            padded.extend_from_slice(&[b'N'; 80]);
            assert!(
                fast::token(&padded).is_some(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            check_fast_paths(&padded).unwrap();
        }
    }

    /// The builder as it was before its fast paths: tokens only, for the equivalence proptest.
    fn build_with_tokens<'a>(t: &mut Tokenizer<'a>) -> Result<Value<'a>> {
        Ok(match t.next_token()? {
            Token::Null => Value::Null,
            Token::Bool(b) => Value::Bool(b),
            Token::Int(i) => Value::Int(i),
            Token::Float(f) => Value::Float(f),
            Token::Str(s) => Value::String(s),
            Token::ArrayStart { len } => {
                let mut items = Vec::new();
                for _ in 0..len {
                    let k = t.next_key()?;
                    items.push((k, build_with_tokens(t)?));
                }
                t.end_container()?;
                Value::Array(items)
            }
            Token::ObjectStart { class, len } => {
                let mut props = Vec::new();
                for _ in 0..len {
                    let key = t.next_key()?;
                    let value = build_with_tokens(t)?;
                    props.push(Property { key, value });
                }
                t.end_container()?;
                Value::Object(Object {
                    class: Cow::Borrowed(class),
                    props,
                })
            }
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
        })
    }

    fn soup() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::strategy::Strategy;
        let fragment = proptest::sample::select(vec![
            "a:0:{",
            "a:1:{",
            "a:2:{",
            "a:3:{",
            "O:8:\"stdClass\":1:{",
            "O:3:\"A\\B\":2:{",
            "O:1:\"1\":0:{",
            "}",
            "i:0;",
            "i:1;",
            "i:-7;",
            "i:+3;",
            "s:1:\"k\";",
            "s:0:\"\";",
            "s:3:\"\0*\0\";",
            "s:2:\"x\";",
            "S:1:\"\\41\";",
            "N;",
            "b:1;",
            "b:2;",
            "d:0.5;",
            "d:-1.0E+25;",
            "d:INF;",
            "d:1.;",
            "r:1;",
            "r:2;",
            "R:1;",
            "R:3;",
            "E:3:\"A:B\";",
            "C:1:\"C\":2:{xy}",
            "x",
            ";",
            ":",
        ]);
        proptest::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat().into_bytes())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(20_000))]
        /// The in-place builder gives exactly what reading token by token gives: the same tree,
        /// or the same error at the same offset (depth limit included).
        #[test]
        fn builder_agrees_with_the_tokens(input in soup(), depth in 1usize..5) {
            let limits = Limits { max_depth: depth };
            let mut t = Tokenizer::new(&input, limits);
            let want = build_with_tokens(&mut t).map(|v| (v, t.offset()));
            let got = parse_prefix(&input, &limits);
            match (got, want) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => proptest::prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }
    }

    proptest::proptest! {
        /// The ASCII shortcut answers exactly like the UTF-8 validator.
        #[test]
        fn utf8_is_from_utf8(bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'\\', 0, 0x7f, 0x80, 0xc3, 0xa9, 0xe4, 0xb8, 0xad, 0xff]),
            0..40,
        )) {
            proptest::prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(20_000))]
        /// The fast paths agree with the grammar wherever they answer at all.
        #[test]
        fn fast_paths_agree_with_the_grammar(
            head in proptest::sample::select(vec![
                "N", "b:", "i:", "i:-", "s:", "s:1:\"", "a:", "a:1:{", "d:", "d:-", "d:1.", "O:",
                "O:1:\"", "O:3:\"A\\B\":", "O:8:\"stdClass\":1:{",
            ]),
            tail in proptest::collection::vec(
                proptest::sample::select(b"Nbisa:;{}\"-+0123456789.eEdOA_\\\x80".to_vec()),
                0..40,
            )
        ) {
            let mut input = head.as_bytes().to_vec();
            input.extend(tail);
            check_fast_paths(&input)?;
        }

        /// Every float PHP writes, and decimal texts of every length, read to the same double as
        /// the full float grammar.
        #[test]
        fn fast_floats_agree_with_the_grammar(
            bits in proptest::num::u64::ANY,
            int in "-?[0-9]{1,20}",
            frac in proptest::option::of("[0-9]{1,20}"),
            exp in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
        ) {
            let texts = [
                super::super::float::php_repr(f64::from_bits(bits)),
                format!("{int}{}{}", frac.map(|f| format!(".{f}")).unwrap_or_default(), exp.unwrap_or_default()),
            ];
            for text in texts {
                let input = format!("d:{text};N;");
                check_fast_paths(input.as_bytes())?;
            }
        }
    }
}
