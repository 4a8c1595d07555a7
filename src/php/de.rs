//! The serde Deserializer for PHP's `serialize()` format.
//!
//! It streams: every `deserialize_*` call pulls tokens straight from the [`Tokenizer`], strings and
//! names are borrowed from the input, and no [`Value`] tree is built on the way. That is what makes
//! decoding a Laravel job (`O:16:"App\Jobs\SomeJob":12:{...}`) into a Rust struct cheaper than
//! PHP's own `unserialize()`.
//!
//! How PHP values meet the serde data model:
//!
//! * `O:` objects are maps keyed by the **demangled** property name (`\0*\0name` and
//!   `\0Class\0name` are both `name`), so `#[derive(Deserialize)]` structs with
//!   `#[serde(rename_all = "camelCase")]` match Laravel jobs. Properties the struct does not name are
//!   skipped (unless `deny_unknown_fields`); when one name appears twice (a parent's private property
//!   and the child's own), a struct gets the first. A struct field named `__class` receives the
//!   object's class name.
//! * `a:` arrays whose keys are exactly `0, 1, ..., n-1` in order are sequences; any array is a map.
//!   `deserialize_any` (serde_json::Value, untagged enums) picks a sequence only for such dense
//!   arrays. Int keys deserialize as integers or, when a string is asked for, as their decimal text;
//!   string keys holding a decimal integer deserialize into integer map keys.
//! * `E:` enum cases and plain strings are unit variants by name; `N;` is `None` and `()`.
//! * `r:`/`R:` references are followed by re-reading the value they point to; a reference into a
//!   value that is still being read (a cycle) is an error, never a loop, and the total amount of
//!   re-reading is bounded (64 times the input plus 1 MiB) so that nested references cannot make a
//!   small input expand without limit.
//! * `C:` legacy `Serializable` objects are opaque: `deserialize_any` gives `{class, data}`, a struct
//!   target gets an error naming the class.
//!
//! Errors carry the path and the byte offset:
//! `App\Jobs\SomeJob.userId: expected an integer, found string at byte 57`.
//!
//! [`from_bytes`] refuses bytes after the value ([`ErrorKind::TrailingData`]). PHP's `unserialize()`
//! ignores them, but a Laravel `data.command` never has any, so extra bytes mean a corrupt payload.

use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::error::{Error, ErrorKind, Result};
use super::parse::{utf8, Limits, Token, Tokenizer};
use super::value::{demangle, Key, Value};

/// How many bytes references may re-read, per byte of input (plus [`REREAD_SLACK`]).
const REREAD_FACTOR: u64 = 64;
/// Re-reading allowed on top of [`REREAD_FACTOR`] times the input, so small inputs with a few
/// references are never refused.
const REREAD_SLACK: u64 = 1 << 20;

/// A serde Deserializer reading one PHP-serialized value from a byte slice.
///
/// Most callers want [`from_bytes`]; construct one directly to set [`Limits`] and call
/// `T::deserialize(&mut de)` followed by [`Deserializer::end`], the way serde_json's is used.
pub struct Deserializer<'de> {
    tok: Tokenizer<'de>,
    /// A token read and put back (by `deserialize_option`), with its offset.
    peeked: Option<(usize, Token<'de>)>,
    /// Slots of the arrays and objects currently open, so a reference into one is seen as a cycle.
    open: OpenSlots,
    /// Offsets of slots, built only when the first reference is followed.
    slots: Option<Box<SlotWalker<'de>>>,
    /// Bytes that references may still re-read.
    reread_budget: u64,
    /// Density of arrays already scanned by `deserialize_any`, sorted by offset.
    dense: Vec<(usize, bool)>,
}

impl<'de> Deserializer<'de> {
    /// A deserializer over `input` with the default [`Limits`].
    pub fn from_bytes(input: &'de [u8]) -> Self {
        Deserializer::with_limits(input, Limits::default())
    }

    /// A deserializer over `input` with explicit limits (e.g. a deeper nesting bound for trusted
    /// data; the bound also protects the stack, so raise it with care).
    pub fn with_limits(input: &'de [u8], limits: Limits) -> Self {
        Deserializer {
            tok: Tokenizer::new(input, limits),
            peeked: None,
            open: OpenSlots::default(),
            slots: None,
            reread_budget: (input.len() as u64)
                .saturating_mul(REREAD_FACTOR)
                .saturating_add(REREAD_SLACK),
            dense: Vec::new(),
        }
    }

    /// Byte offset of the next unread token, for callers that read a value and then look at what
    /// follows it.
    pub fn offset(&self) -> usize {
        match &self.peeked {
            Some((off, _)) => *off,
            None => self.tok.offset(),
        }
    }

    /// Check that the whole input was consumed; a serialized command never has trailing bytes, so
    /// they mean the payload was cut or glued together wrongly.
    pub fn end(&mut self) -> Result<()> {
        if self.peeked.is_some() || !self.tok.is_at_end() {
            return Err(Error::at(ErrorKind::TrailingData, self.offset()));
        }
        Ok(())
    }

    /// The next value token and its offset.
    #[inline]
    fn next(&mut self) -> Result<(usize, Token<'de>)> {
        if let Some(p) = self.peeked.take() {
            return Ok(p);
        }
        let off = self.tok.offset();
        let tok = self.tok.next_token()?;
        Ok((off, tok))
    }

    /// Skip the rest of a value whose first token was already read (never follows references).
    fn skip_rest(&mut self, tok: &Token<'de>) -> Result<()> {
        if let Token::ArrayStart { len } | Token::ObjectStart { len, .. } = *tok {
            for _ in 0..len {
                self.tok.next_key()?;
                self.tok.skip_value()?;
            }
            self.tok.end_container()?;
        }
        Ok(())
    }

    /// Run `f` over the contents of the container whose start token was just read, then read its
    /// closing `}`. The container counts as open (for cycle detection) meanwhile.
    fn container<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let slot = self.tok.slots();
        self.open.push(slot);
        let r = f(self);
        self.open.pop();
        let r = r?;
        self.tok.end_container()?;
        Ok(r)
    }

    /// Follow `r:n;` (`object_ref`) or `R:n;` found at `off`: re-read the value of slot `n` with a
    /// tokenizer placed there, then carry on after the reference.
    fn follow<R>(
        &mut self,
        off: usize,
        written: u64,
        object_ref: bool,
        f: impl FnOnce(&mut Self) -> Result<R>,
    ) -> Result<R> {
        let bad = |reason: &'static str| {
            Error::at(
                ErrorKind::BadReference {
                    slot: written,
                    reason,
                },
                off,
            )
        };
        // An `r:` has taken a slot of its own, which it cannot point to; `R:` takes none.
        let taken = self.tok.slots();
        let available = if object_ref {
            taken.saturating_sub(1)
        } else {
            taken
        };
        if written == 0 || written > available {
            return Err(bad("no such slot before this point"));
        }
        let input = self.tok.input();
        let limits = self.tok.limits();
        let depth = self.tok.depth();
        let walker = self
            .slots
            .get_or_insert_with(|| Box::new(SlotWalker::new(input, limits)));
        // `r:` may point at another `r:`; walk such chains here, without recursion. Each hop goes
        // to a strictly smaller slot, so the walk ends.
        let mut slot = written;
        let target = loop {
            let at = walker.offset_of(slot).map_err(|_| bad("no such slot"))?;
            let mut probe = Tokenizer::at(input, at, slot - 1, depth, limits);
            match probe.next_token() {
                Ok(Token::ObjectRef(m)) if m < slot && m > 0 => slot = m,
                Ok(Token::ObjectRef(_) | Token::ValueRef(_)) => {
                    return Err(bad("no such slot before this point"))
                }
                Ok(_) => break at,
                Err(e) => return Err(e),
            }
        };
        if self.open.contains(slot) {
            return Err(bad("reference cycle"));
        }
        debug_assert!(self.peeked.is_none());
        let sub = Tokenizer::at(input, target, slot - 1, depth, limits);
        let saved = std::mem::replace(&mut self.tok, sub);
        let r = f(self);
        let used = self.tok.offset().saturating_sub(target) as u64;
        self.tok = saved;
        let r = r?;
        match self.reread_budget.checked_sub(used) {
            Some(left) => self.reread_budget = left,
            None => return Err(bad("references expand beyond the limit (64x the input)")),
        }
        Ok(r)
    }

    /// Whether the array at `off` (its header just read) has keys `0..len` in order. Nested arrays
    /// are remembered, so `deserialize_any` over nested arrays stays linear.
    fn is_dense(&mut self, off: usize, len: usize) -> bool {
        if len == 0 {
            return true;
        }
        if let Ok(i) = self.dense.binary_search_by_key(&off, |&(o, _)| o) {
            return self.dense[i].1;
        }
        let mut probe = self.tok.clone();
        let mut found = Vec::new();
        // On malformed input the real read fails at the same place, with the full path; until
        // then treat the array as a map.
        let dense = scan_array(&mut probe, len, &mut found).unwrap_or(false);
        found.sort_unstable_by_key(|&(o, _)| o);
        let sorted = match (self.dense.last(), found.first()) {
            (Some(a), Some(b)) => a.0 < b.0,
            _ => true,
        };
        self.dense.extend(found);
        if !sorted {
            self.dense.sort_unstable_by_key(|&(o, _)| o);
        }
        dense
    }

    /// An array as a sequence (keys must be `0..len` in order).
    fn visit_array_seq<V: Visitor<'de>>(&mut self, len: usize, v: V) -> Result<V::Value> {
        self.container(|de| {
            let mut access = ArraySeq { de, len, index: 0 };
            let value = v.visit_seq(&mut access)?;
            if access.index < len {
                return Err(de::Error::invalid_length(len, &"fewer elements in array"));
            }
            Ok(value)
        })
    }

    /// An array or object as a map (`object`: demangle names; `fields`: struct rules apply).
    fn visit_members<V: Visitor<'de>>(
        &mut self,
        len: usize,
        object: Option<&'de str>,
        fields: Option<&'static [&'static str]>,
        v: V,
    ) -> Result<V::Value> {
        self.container(|de| {
            let mut access = Members {
                de,
                remaining: len,
                demangle: object.is_some(),
                fields,
                seen: Seen::new(fields.map_or(0, <[_]>::len)),
                class: match (object, fields) {
                    (Some(class), Some(f)) => {
                        f.iter().position(|&n| n == "__class").map(|i| (class, i))
                    }
                    _ => None,
                },
                current: Current::None,
            };
            let value = v.visit_map(&mut access)?;
            // A visitor that stops early (none of serde's do) leaves members behind: skip them.
            while access.remaining > 0 {
                access.remaining -= 1;
                access.de.tok.next_key()?;
                access.de.tok.skip_value()?;
            }
            Ok(value)
        })
    }

    fn object_or_array<V: Visitor<'de>>(
        &mut self,
        off: usize,
        tok: Token<'de>,
        fields: Option<&'static [&'static str]>,
        v: V,
    ) -> Result<V::Value> {
        match tok {
            Token::ObjectStart { class, len } => {
                // The header was read, so the outermost value sits at depth 1 (a re-read through a
                // reference never does: it starts from the referring container's depth).
                let top = self.tok.depth() == 1;
                let r = self.visit_members(len, Some(class), fields, v);
                framed(off, top.then_some(class), r)
            }
            Token::ArrayStart { len } => {
                let r = self.visit_members(len, None, fields, v);
                framed(off, None, r)
            }
            _ => unreachable_token(off),
        }
    }
}

/// The slots of the containers being read, innermost last. The first few live inline: one
/// allocation per `from_bytes` of a small job was a measurable share of its cost.
#[derive(Default)]
struct OpenSlots {
    inline: [u64; 8],
    len: usize,
    more: Vec<u64>,
}

impl OpenSlots {
    #[inline]
    fn push(&mut self, slot: u64) {
        match self.inline.get_mut(self.len) {
            Some(s) => *s = slot,
            None => self.more.push(slot),
        }
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) {
        if self.len > self.inline.len() {
            self.more.pop();
        }
        self.len = self.len.saturating_sub(1);
    }

    fn contains(&self, slot: u64) -> bool {
        let inline = self.len.min(self.inline.len());
        self.inline[..inline].contains(&slot) || self.more.contains(&slot)
    }
}

/// Internal invariant breach reported as an error rather than a panic.
fn unreachable_token<T>(off: usize) -> Result<T> {
    Err(Error::at(
        ErrorKind::Custom("internal error: unexpected token".into()),
        off,
    ))
}

/// Common wrapper for a container read: the offset for serde's own errors (missing field, ...)
/// and, for the outermost object (`top`), its class as the first path segment.
fn framed<R>(off: usize, top_class: Option<&str>, r: Result<R>) -> Result<R> {
    r.map_err(|e| {
        let e = e.or_offset(off);
        match top_class {
            Some(c) => e.within(c),
            None => e,
        }
    })
}

/// Walk an array's members (header already read), recording the density of every array inside.
fn scan_array(t: &mut Tokenizer<'_>, len: usize, out: &mut Vec<(usize, bool)>) -> Result<bool> {
    let mut dense = true;
    for i in 0..len {
        let key = t.next_key()?;
        if dense && !matches!(key, Key::Int(k) if k as u64 == i as u64 && k >= 0) {
            dense = false;
        }
        scan_value(t, out)?;
    }
    t.end_container()?;
    Ok(dense)
}

fn scan_value(t: &mut Tokenizer<'_>, out: &mut Vec<(usize, bool)>) -> Result<()> {
    let off = t.offset();
    match t.next_token()? {
        Token::ArrayStart { len } => {
            let dense = scan_array(t, len, out)?;
            out.push((off, dense));
        }
        Token::ObjectStart { len, .. } => {
            for _ in 0..len {
                t.next_key()?;
                scan_value(t, out)?;
            }
            t.end_container()?;
        }
        _ => {}
    }
    Ok(())
}

/// Finds the byte offset of slot N by walking the input from the start, lazily and only as far as
/// needed, so inputs without references pay nothing for them.
struct SlotWalker<'de> {
    tok: Tokenizer<'de>,
    /// Members left in each open container.
    stack: Vec<usize>,
    /// `offsets[n - 1]` is where slot n starts.
    offsets: Vec<usize>,
}

impl<'de> SlotWalker<'de> {
    fn new(input: &'de [u8], limits: Limits) -> Self {
        SlotWalker {
            tok: Tokenizer::new(input, limits),
            stack: Vec::new(),
            offsets: Vec::new(),
        }
    }

    fn offset_of(&mut self, slot: u64) -> Result<usize> {
        while (self.offsets.len() as u64) < slot {
            match self.stack.last_mut() {
                Some(0) => {
                    self.tok.end_container()?;
                    self.stack.pop();
                    continue;
                }
                Some(left) => {
                    *left -= 1;
                    self.tok.next_key()?;
                }
                None if !self.offsets.is_empty() => {
                    return Err(Error::at(
                        ErrorKind::BadReference {
                            slot,
                            reason: "no such slot",
                        },
                        self.tok.offset(),
                    ))
                }
                None => {}
            }
            let off = self.tok.offset();
            match self.tok.next_token()? {
                Token::ValueRef(_) => {}
                Token::ArrayStart { len } | Token::ObjectStart { len, .. } => {
                    self.offsets.push(off);
                    self.stack.push(len);
                }
                _ => self.offsets.push(off),
            }
        }
        usize::try_from(slot - 1)
            .ok()
            .and_then(|i| self.offsets.get(i).copied())
            .ok_or_else(|| {
                Error::new(ErrorKind::BadReference {
                    slot,
                    reason: "no such slot",
                })
            })
    }
}

/// Which struct fields were already filled (the first of duplicate names wins).
enum Seen {
    Small(u64),
    Large(Vec<bool>),
}

impl Seen {
    fn new(n: usize) -> Self {
        if n <= 64 {
            Seen::Small(0)
        } else {
            Seen::Large(vec![false; n])
        }
    }

    /// Mark field `i`; true if it was already marked.
    fn test_and_set(&mut self, i: usize) -> bool {
        match self {
            Seen::Small(bits) => {
                let mask = 1u64 << i;
                let was = *bits & mask != 0;
                *bits |= mask;
                was
            }
            Seen::Large(v) => std::mem::replace(&mut v[i], true),
        }
    }
}

fn mismatch(expected: &'static str, tok: &Token<'_>, off: usize) -> Error {
    let found = match tok {
        Token::Custom { class, .. } => format!("custom-serialized object {class}"),
        other => other.describe().to_string(),
    };
    Error::at(
        ErrorKind::Type {
            expected: expected.to_string(),
            found,
        },
        off,
    )
}

fn not_utf8(bytes: &[u8], off: usize) -> Error {
    let at = std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to());
    Error::at(
        ErrorKind::Type {
            expected: "a UTF-8 string".to_string(),
            found: format!("a string that is not UTF-8 (invalid byte at index {at})"),
        },
        off,
    )
}

fn out_of_range(i: i64, ty: &str, off: usize) -> Error {
    Error::at(
        ErrorKind::NumberOutOfRange(format!("{i} does not fit in {ty}")),
        off,
    )
}

/// Attach `off` to errors raised by a visitor without a position of their own.
#[inline]
fn at<T>(r: Result<T>, off: usize) -> Result<T> {
    r.map_err(|e| e.or_offset(off))
}

/// Hand a string to a visitor: borrowed when the input holds it as is.
fn visit_str<'de, V: Visitor<'de>>(s: Cow<'de, [u8]>, off: usize, v: V) -> Result<V::Value> {
    match s {
        Cow::Borrowed(b) => match utf8(b) {
            Some(s) => at(v.visit_borrowed_str(s), off),
            None => Err(not_utf8(b, off)),
        },
        Cow::Owned(b) => match String::from_utf8(b) {
            Ok(s) => at(v.visit_string(s), off),
            Err(e) => Err(not_utf8(e.as_bytes(), off)),
        },
    }
}

/// Like [`visit_str`], but text that is not UTF-8 is passed on lossily (for `deserialize_any`,
/// whose consumers, such as serde_json::Value, have no byte strings).
fn visit_text<'de, V: Visitor<'de>>(s: Cow<'de, [u8]>, off: usize, v: V) -> Result<V::Value> {
    match s {
        Cow::Borrowed(b) => match utf8(b) {
            Some(s) => at(v.visit_borrowed_str(s), off),
            None => at(v.visit_string(String::from_utf8_lossy(b).into_owned()), off),
        },
        Cow::Owned(b) => match String::from_utf8(b) {
            Ok(s) => at(v.visit_string(s), off),
            Err(e) => at(
                v.visit_string(String::from_utf8_lossy(e.as_bytes()).into_owned()),
                off,
            ),
        },
    }
}

macro_rules! follow_refs {
    ($self:ident, $off:ident, $tok:ident, $method:ident ( $($arg:expr),* )) => {
        match $tok {
            Token::ObjectRef(n) => return $self.follow($off, n, true, move |de| de.$method($($arg),*)),
            Token::ValueRef(n) => return $self.follow($off, n, false, move |de| de.$method($($arg),*)),
            other => other,
        }
    };
}

macro_rules! de_int {
    ($method:ident, $ty:ty, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
            if self.peeked.is_none() {
                let off = self.tok.offset();
                if let Some(i) = self.tok.take_int() {
                    return match <$ty>::try_from(i) {
                        Ok(x) => at(v.$visit(x), off),
                        Err(_) => Err(out_of_range(i, stringify!($ty), off)),
                    };
                }
            }
            let (off, tok) = self.next()?;
            let tok = follow_refs!(self, off, tok, $method(v));
            match tok {
                Token::Int(i) => match <$ty>::try_from(i) {
                    Ok(x) => at(v.$visit(x), off),
                    Err(_) => Err(out_of_range(i, stringify!($ty), off)),
                },
                other => Err(mismatch("an integer", &other, off)),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_any(v));
        match tok {
            Token::Null => at(v.visit_unit(), off),
            Token::Bool(b) => at(v.visit_bool(b), off),
            Token::Int(i) => at(v.visit_i64(i), off),
            Token::Float(f) => at(v.visit_f64(f.value), off),
            Token::Str(s) => visit_text(s, off, v),
            Token::Enum { case, .. } => at(v.visit_borrowed_str(case), off),
            Token::ArrayStart { len } => {
                if self.is_dense(off, len) {
                    let r = self.visit_array_seq(len, v);
                    framed(off, None, r)
                } else {
                    self.object_or_array(off, tok, None, v)
                }
            }
            Token::ObjectStart { .. } => self.object_or_array(off, tok, None, v),
            Token::Custom { class, data } => at(
                v.visit_map(CustomMap {
                    class,
                    data,
                    state: 0,
                }),
                off,
            ),
            Token::ObjectRef(_) | Token::ValueRef(_) => unreachable_token(off),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_bool(v));
        match tok {
            Token::Bool(b) => at(v.visit_bool(b), off),
            other => Err(mismatch("a bool", &other, off)),
        }
    }

    de_int!(deserialize_i8, i8, visit_i8);
    de_int!(deserialize_i16, i16, visit_i16);
    de_int!(deserialize_i32, i32, visit_i32);
    de_int!(deserialize_i64, i64, visit_i64);
    de_int!(deserialize_i128, i128, visit_i128);
    de_int!(deserialize_u8, u8, visit_u8);
    de_int!(deserialize_u16, u16, visit_u16);
    de_int!(deserialize_u32, u32, visit_u32);
    de_int!(deserialize_u64, u64, visit_u64);
    de_int!(deserialize_u128, u128, visit_u128);

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_f32(v));
        match tok {
            Token::Float(f) => at(v.visit_f32(f.value as f32), off),
            Token::Int(i) => at(v.visit_f32(i as f32), off),
            other => Err(mismatch("a float", &other, off)),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_f64(v));
        match tok {
            Token::Float(f) => at(v.visit_f64(f.value), off),
            Token::Int(i) => at(v.visit_f64(i as f64), off),
            other => Err(mismatch("a float", &other, off)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_char(v));
        match tok {
            Token::Str(s) => visit_str(s, off, v),
            other => Err(mismatch("a one-character string", &other, off)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.peeked.is_none() {
            let off = self.tok.offset();
            if let Some(s) = self.tok.take_str() {
                return visit_str(Cow::Borrowed(s), off, v);
            }
        }
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_str(v));
        match tok {
            Token::Str(s) => visit_str(s, off, v),
            Token::Enum { case, .. } => at(v.visit_borrowed_str(case), off),
            other => Err(mismatch("a string", &other, off)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_bytes(v));
        match tok {
            Token::Str(Cow::Borrowed(b)) => at(v.visit_borrowed_bytes(b), off),
            Token::Str(Cow::Owned(b)) => at(v.visit_byte_buf(b), off),
            other => Err(mismatch("a string", &other, off)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_bytes(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.peeked.is_none() {
            // Decided on the first byte where that is enough, so the token is read once, by
            // whatever deserializes the `Some`; references and malformed `N` go the long way.
            let off = self.tok.offset();
            match self.tok.peek() {
                Some(b'N') if self.tok.take_null() => return at(v.visit_none(), off),
                Some(b'N' | b'r' | b'R') | None => {}
                Some(_) => return at(v.visit_some(self), off),
            }
        }
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_option(v));
        match tok {
            Token::Null => at(v.visit_none(), off),
            other => {
                self.peeked = Some((off, other));
                at(v.visit_some(self), off)
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_unit(v));
        match tok {
            Token::Null => at(v.visit_unit(), off),
            other => Err(mismatch("null", &other, off)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        let off = self.offset();
        at(v.visit_newtype_struct(self), off)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_seq(v));
        match tok {
            Token::ArrayStart { len } => {
                let r = self.visit_array_seq(len, v);
                framed(off, None, r)
            }
            // `Vec<u8>` without serde_bytes asks for a sequence: give it the bytes.
            Token::Str(s) => {
                let mut seq = SeqDeserializer::new(s.iter().copied());
                let value = at(v.visit_seq(&mut seq), off)?;
                at(seq.end(), off)?;
                Ok(value)
            }
            other => Err(mismatch("an array", &other, off)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_map(v));
        match tok {
            Token::ArrayStart { .. } | Token::ObjectStart { .. } => {
                self.object_or_array(off, tok, None, v)
            }
            other => Err(mismatch("an array or object", &other, off)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_struct(name, fields, v));
        match tok {
            Token::ArrayStart { .. } | Token::ObjectStart { .. } => {
                self.object_or_array(off, tok, Some(fields), v)
            }
            other => Err(Error::at(
                ErrorKind::Type {
                    expected: format!("an object (struct {name})"),
                    found: match other {
                        Token::Custom { class, .. } => {
                            format!("custom-serialized object {class} (C:, its data is opaque)")
                        }
                        o => o.describe().to_string(),
                    },
                },
                off,
            )),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let (off, tok) = self.next()?;
        let tok = follow_refs!(self, off, tok, deserialize_enum(name, variants, v));
        match tok {
            Token::Enum { case, .. } => at(
                v.visit_enum(BorrowedStrDeserializer::<Error>::new(case)),
                off,
            ),
            Token::Str(Cow::Borrowed(b)) => match utf8(b) {
                Some(s) => at(v.visit_enum(BorrowedStrDeserializer::<Error>::new(s)), off),
                None => Err(not_utf8(b, off)),
            },
            Token::Str(Cow::Owned(b)) => match String::from_utf8(b) {
                Ok(s) => at(v.visit_enum(StringDeserializer::<Error>::new(s)), off),
                Err(e) => Err(not_utf8(e.as_bytes(), off)),
            },
            // `a:1:{s:7:"Variant";<content>}`: serde's externally tagged form.
            Token::ArrayStart { len: 1 } => {
                let r = self.container(|de| v.visit_enum(MapVariant { de }));
                at(r, off)
            }
            other => Err(mismatch("an enum case or string", &other, off)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.peeked.is_none() {
            let off = self.tok.offset();
            self.tok.skip_value()?;
            return at(v.visit_unit(), off);
        }
        let (off, tok) = self.next()?;
        self.skip_rest(&tok)?;
        at(v.visit_unit(), off)
    }
}

/// Elements of a dense array.
struct ArraySeq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    len: usize,
    index: usize,
}

impl<'de> SeqAccess<'de> for ArraySeq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.index >= self.len {
            return Ok(None);
        }
        let i = self.index;
        let koff = self.de.tok.offset();
        let key = self.de.tok.next_key()?;
        if !matches!(key, Key::Int(k) if k >= 0 && k as u64 == i as u64) {
            return Err(Error::at(
                ErrorKind::Type {
                    expected: "a list (array keys 0, 1, 2, ... in order)".to_string(),
                    found: format!("key {key} at position {i}"),
                },
                koff,
            ));
        }
        self.index += 1;
        let voff = self.de.tok.offset();
        seed.deserialize(&mut *self.de)
            .map(Some)
            .map_err(|e| e.or_offset(voff).within(format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        // Bounded by what the input can hold, so `Vec::with_capacity` on it is safe.
        Some(self.len - self.index)
    }
}

/// The member whose value comes next, for the error path.
enum Current<'de> {
    None,
    Class(&'de str),
    Name(&'de [u8]),
    Owned(Vec<u8>),
    Int(i64),
}

impl Current<'_> {
    fn segment(&self, demangled: bool) -> String {
        match self {
            Current::None => String::new(),
            Current::Class(_) => ".__class".to_string(),
            Current::Name(n) if demangled => format!(".{}", String::from_utf8_lossy(n)),
            Current::Owned(n) if demangled => format!(".{}", String::from_utf8_lossy(n)),
            Current::Name(n) => format!("[{:?}]", String::from_utf8_lossy(n)),
            Current::Owned(n) => format!("[{:?}]", String::from_utf8_lossy(n)),
            Current::Int(i) => format!("[{i}]"),
        }
    }
}

/// Members of an object (demangled names) or an array read as a map.
struct Members<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    remaining: usize,
    demangle: bool,
    /// Set for struct targets: duplicates of these names are skipped after the first.
    fields: Option<&'static [&'static str]>,
    seen: Seen,
    /// The class name still to be handed out as `__class`, and that field's index.
    class: Option<(&'de str, usize)>,
    current: Current<'de>,
}

impl<'de> Members<'_, 'de> {
    /// True when `name` is a struct field that was already filled.
    fn is_duplicate(&mut self, name: &[u8]) -> bool {
        let Some(fields) = self.fields else {
            return false;
        };
        match fields.iter().position(|f| f.as_bytes() == name) {
            Some(i) => self.seen.test_and_set(i),
            None => false,
        }
    }
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if let Some((class, i)) = self.class.take() {
            self.seen.test_and_set(i);
            self.current = Current::Class(class);
            return seed
                .deserialize(BorrowedStrDeserializer::<Error>::new("__class"))
                .map(Some);
        }
        loop {
            if self.remaining == 0 {
                return Ok(None);
            }
            self.remaining -= 1;
            let koff = self.de.tok.offset();
            let key = match self.de.tok.next_key()? {
                Key::Int(i) => {
                    self.current = Current::Int(i);
                    KeyDeserializer::Int(i)
                }
                Key::Str(Cow::Borrowed(raw)) => {
                    let name = if self.demangle { demangle(raw).1 } else { raw };
                    if let Some(fields) = self.fields {
                        if let Some(i) = fields.iter().position(|f| f.as_bytes() == name) {
                            if self.seen.test_and_set(i) {
                                self.de.tok.skip_value()?;
                                continue;
                            }
                            self.current = Current::Name(name);
                            // The field's own name: no need to check the input's bytes as UTF-8.
                            return seed
                                .deserialize(BorrowedStrDeserializer::<Error>::new(fields[i]))
                                .map(Some)
                                .map_err(|e| e.or_offset(koff));
                        }
                    }
                    self.current = Current::Name(name);
                    KeyDeserializer::Borrowed(name)
                }
                Key::Str(Cow::Owned(raw)) => {
                    let name = if self.demangle {
                        demangle(&raw).1.to_vec()
                    } else {
                        raw
                    };
                    if self.is_duplicate(&name) {
                        self.de.tok.skip_value()?;
                        continue;
                    }
                    self.current = Current::Owned(name.clone());
                    KeyDeserializer::Owned(name)
                }
            };
            return seed
                .deserialize(key)
                .map(Some)
                .map_err(|e| e.or_offset(koff));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let voff = self.de.offset();
        if let Current::Class(class) = self.current {
            return seed
                .deserialize(BorrowedStrDeserializer::<Error>::new(class))
                .map_err(|e| e.or_offset(voff).within(".__class"));
        }
        match seed.deserialize(&mut *self.de) {
            Ok(v) => Ok(v),
            Err(e) => Err(e
                .or_offset(voff)
                .within(self.current.segment(self.demangle))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// An array key or member name, on its own.
enum KeyDeserializer<'de> {
    Int(i64),
    Borrowed(&'de [u8]),
    Owned(Vec<u8>),
}

impl KeyDeserializer<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            KeyDeserializer::Int(_) => b"",
            KeyDeserializer::Borrowed(b) => b,
            KeyDeserializer::Owned(b) => b,
        }
    }

    /// The key as an integer: int keys as they are, string keys holding a decimal integer.
    fn integer(&self) -> Result<i64> {
        match self {
            KeyDeserializer::Int(i) => Ok(*i),
            other => {
                let b = other.bytes();
                let digits = b.strip_prefix(b"-").unwrap_or(b);
                let parsed = if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                } else {
                    None
                };
                parsed.ok_or_else(|| {
                    Error::new(ErrorKind::Type {
                        expected: "an integer key".to_string(),
                        found: format!("string key {:?}", String::from_utf8_lossy(b)),
                    })
                })
            }
        }
    }
}

macro_rules! key_int {
    ($method:ident, $ty:ty, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
            let i = self.integer()?;
            match <$ty>::try_from(i) {
                Ok(x) => v.$visit(x),
                Err(_) => Err(Error::new(ErrorKind::NumberOutOfRange(format!(
                    "key {i} does not fit in {}",
                    stringify!($ty)
                )))),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            KeyDeserializer::Int(i) => v.visit_i64(i),
            KeyDeserializer::Borrowed(b) => visit_text(Cow::Borrowed(b), 0, v),
            KeyDeserializer::Owned(b) => visit_text(Cow::Owned(b), 0, v),
        }
        .map_err(strip_offset)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            KeyDeserializer::Int(i) => v.visit_string(i.to_string()),
            KeyDeserializer::Borrowed(b) => visit_str(Cow::Borrowed(b), 0, v).map_err(strip_offset),
            KeyDeserializer::Owned(b) => visit_str(Cow::Owned(b), 0, v).map_err(strip_offset),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            KeyDeserializer::Int(i) => v.visit_string(i.to_string()),
            KeyDeserializer::Borrowed(b) => match utf8(b) {
                Some(s) => v.visit_borrowed_str(s),
                None => v.visit_borrowed_bytes(b),
            },
            KeyDeserializer::Owned(b) => match String::from_utf8(b) {
                Ok(s) => v.visit_string(s),
                Err(e) => v.visit_byte_buf(e.into_bytes()),
            },
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            KeyDeserializer::Int(i) => v.visit_string(i.to_string()),
            KeyDeserializer::Borrowed(b) => v.visit_borrowed_bytes(b),
            KeyDeserializer::Owned(b) => v.visit_byte_buf(b),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_bytes(v)
    }

    key_int!(deserialize_i8, i8, visit_i8);
    key_int!(deserialize_i16, i16, visit_i16);
    key_int!(deserialize_i32, i32, visit_i32);
    key_int!(deserialize_i64, i64, visit_i64);
    key_int!(deserialize_i128, i128, visit_i128);
    key_int!(deserialize_u8, u8, visit_u8);
    key_int!(deserialize_u16, u16, visit_u16);
    key_int!(deserialize_u32, u32, visit_u32);
    key_int!(deserialize_u64, u64, visit_u64);
    key_int!(deserialize_u128, u128, visit_u128);

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self {
            KeyDeserializer::Int(i) => {
                v.visit_enum(StringDeserializer::<Error>::new(i.to_string()))
            }
            KeyDeserializer::Borrowed(b) => match std::str::from_utf8(b) {
                Ok(s) => v.visit_enum(BorrowedStrDeserializer::<Error>::new(s)),
                Err(_) => Err(strip_offset(not_utf8(b, 0))),
            },
            KeyDeserializer::Owned(b) => match String::from_utf8(b) {
                Ok(s) => v.visit_enum(StringDeserializer::<Error>::new(s)),
                Err(e) => Err(strip_offset(not_utf8(e.as_bytes(), 0))),
            },
        }
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char unit unit_struct seq tuple tuple_struct map struct ignored_any
    }
}

/// Key errors are built without a position; the caller adds the key's offset.
fn strip_offset(e: Error) -> Error {
    Error::new(e.kind().clone())
}

/// `C:` as the map `{class, data}` for `deserialize_any`.
struct CustomMap<'de> {
    class: &'de str,
    data: &'de [u8],
    state: u8,
}

impl<'de> MapAccess<'de> for CustomMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let key = match self.state {
            0 => "class",
            2 => "data",
            _ => return Ok(None),
        };
        self.state += 1;
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.state += 1;
        if self.state == 2 {
            seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.class))
        } else {
            match std::str::from_utf8(self.data) {
                Ok(s) => seed.deserialize(BorrowedStrDeserializer::<Error>::new(s)),
                Err(_) => seed.deserialize(
                    String::from_utf8_lossy(self.data)
                        .into_owned()
                        .into_deserializer(),
                ),
            }
        }
    }
}

/// `a:1:{s:4:"Name";<content>}` read as enum variant `Name` with its content.
struct MapVariant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'a, 'de> EnumAccess<'de> for MapVariant<'a, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let koff = self.de.tok.offset();
        let key = match self.de.tok.next_key()? {
            Key::Int(i) => KeyDeserializer::Int(i),
            Key::Str(Cow::Borrowed(b)) => KeyDeserializer::Borrowed(b),
            Key::Str(Cow::Owned(b)) => KeyDeserializer::Owned(b),
        };
        let v = seed
            .deserialize(key.into_enum_name())
            .map_err(|e| e.or_offset(koff))?;
        Ok((v, self))
    }
}

impl<'de> KeyDeserializer<'de> {
    /// Variant names are identifiers: hand them out as such.
    fn into_enum_name(self) -> IdentifierKey<'de> {
        IdentifierKey(self)
    }
}

/// A key that deserializes through `deserialize_identifier` whatever it is asked for.
struct IdentifierKey<'de>(KeyDeserializer<'de>);

impl<'de> de::Deserializer<'de> for IdentifierKey<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.0.deserialize_identifier(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'a, 'de> VariantAccess<'de> for MapVariant<'a, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        <() as de::Deserialize>::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        de::Deserializer::deserialize_seq(&mut *self.de, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_struct(&mut *self.de, "", fields, v)
    }
}

/// Deserialize `T` from PHP `serialize()` bytes, borrowing strings from `input` where `T` wants
/// `&str`/`&[u8]`. Bytes after the value are an error ([`ErrorKind::TrailingData`]).
pub fn from_bytes<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T> {
    from_bytes_with(input, Limits::default())
}

/// [`from_bytes`] with explicit [`Limits`], for inputs nested deeper than the default allows.
pub fn from_bytes_with<'de, T: de::Deserialize<'de>>(
    input: &'de [u8],
    limits: Limits,
) -> Result<T> {
    let mut de = Deserializer::with_limits(input, limits);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Deserialize `T` from a [`Value`] tree, e.g. one a caller has edited. The tree is written back
/// to bytes and read by the same code as [`from_bytes`], so both paths behave identically.
pub fn from_value<T: DeserializeOwned>(value: &Value<'_>) -> Result<T> {
    let bytes = value.to_bytes();
    from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// `serialize()` of a Laravel 8 job (`Dispatchable, InteractsWithQueue, Queueable,
    /// SerializesModels`) with a protected array, a private enum and a float, queued with
    /// `->onQueue('emails')`; produced by PHP 8.2.
    const JOB: &[u8] =
        b"O:16:\"App\\Jobs\\SomeJob\":15:{s:6:\"userId\";i:1;s:9:\"someParam\";s:3:\"abc\";\
s:7:\"\0*\0tags\";a:2:{s:1:\"a\";i:1;s:1:\"b\";a:2:{i:0;i:1;i:1;i:2;}}\
s:24:\"\0App\\Jobs\\SomeJob\0status\";E:22:\"App\\Jobs\\Status:Active\";s:5:\"ratio\";d:0.5;\
s:3:\"job\";N;s:10:\"connection\";N;s:5:\"queue\";s:6:\"emails\";s:15:\"chainConnection\";N;\
s:10:\"chainQueue\";N;s:19:\"chainCatchCallbacks\";N;s:5:\"delay\";N;s:11:\"afterCommit\";N;\
s:10:\"middleware\";a:0:{}s:7:\"chained\";a:0:{}}";

    #[derive(Deserialize, Debug, PartialEq)]
    enum Status {
        Active,
        Gone,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct SomeJob<'a> {
        user_id: i64,
        some_param: String,
        #[serde(borrow)]
        queue: Option<&'a str>,
        tags: BTreeMap<String, serde_json::Value>,
        status: Option<Status>,
        ratio: f64,
        delay: Option<u64>,
        chained: Vec<String>,
        #[serde(rename = "__class")]
        class: String,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Minimal {
        user_id: i64,
        #[allow(dead_code)]
        some_param: String,
    }

    #[test]
    fn laravel_job_into_struct() {
        let job: SomeJob = from_bytes(JOB).unwrap();
        assert_eq!(job.user_id, 1);
        assert_eq!(job.some_param, "abc");
        assert_eq!(job.queue, Some("emails"));
        assert_eq!(job.tags["a"], json!(1));
        assert_eq!(job.tags["b"], json!([1, 2]));
        assert_eq!(job.status, Some(Status::Active));
        assert_eq!(job.ratio, 0.5);
        assert_eq!(job.delay, None);
        assert!(job.chained.is_empty());
        assert_eq!(job.class, "App\\Jobs\\SomeJob");
        // The borrowed &str points into the input.
        let q = job.queue.unwrap().as_ptr() as usize;
        assert!((JOB.as_ptr() as usize..JOB.as_ptr() as usize + JOB.len()).contains(&q));
        let m: Minimal = from_bytes(JOB).unwrap();
        assert_eq!(m.user_id, 1);
    }

    #[test]
    fn laravel_job_into_json_value() {
        let v: serde_json::Value = from_bytes(JOB).unwrap();
        assert_eq!(v["userId"], json!(1));
        assert_eq!(v["tags"], json!({"a": 1, "b": [1, 2]}));
        assert_eq!(v["status"], json!("Active"));
        assert_eq!(v["middleware"], json!([]));
        assert_eq!(v["queue"], json!("emails"));
        assert_eq!(v.as_object().unwrap().len(), 15);
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        a: i64,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Point {
        x: u8,
        y: Vec<i32>,
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(input: &[u8]) -> String {
        match from_bytes::<T>(input) {
            Ok(v) => panic!("{:?} gave {v:?}", String::from_utf8_lossy(input)),
            Err(e) => e.to_string(),
        }
    }

    /// The error-message table: (input, what it was read as, the exact message).
    #[test]
    fn error_messages() {
        type F = fn(&[u8]) -> String;
        let cases: &[(&[u8], F, &str)] = &[
            (
                b"O:16:\"App\\Jobs\\SomeJob\":2:{s:6:\"userId\";s:1:\"7\";s:9:\"someParam\";s:0:\"\";}",
                err::<Minimal>,
                "App\\Jobs\\SomeJob.userId: expected an integer, found string at byte 40",
            ),
            (
                b"O:16:\"App\\Jobs\\SomeJob\":1:{s:6:\"userId\";i:7;}",
                err::<Minimal>,
                "App\\Jobs\\SomeJob: missing field `someParam` at byte 0",
            ),
            (
                b"O:1:\"X\":2:{s:1:\"a\";i:1;s:1:\"b\";i:2;}",
                err::<Strict>,
                "X: unknown field `b`, expected `a` at byte 23",
            ),
            (
                b"O:1:\"P\":2:{s:1:\"x\";i:1;s:1:\"y\";a:2:{i:0;i:1;i:1;b:1;}}",
                err::<Point>,
                "P.y[1]: expected an integer, found bool at byte 48",
            ),
            (
                b"O:1:\"P\":2:{s:1:\"x\";i:300;s:1:\"y\";a:0:{}}",
                err::<Point>,
                "P.x: number out of range: 300 does not fit in u8 at byte 19",
            ),
            (
                b"O:1:\"P\":2:{s:1:\"x\";i:3;s:1:\"y\";a:1:{i:1;i:5;}}",
                err::<Point>,
                "P.y: expected a list (array keys 0, 1, 2, ... in order), found key 1 at position 0 at byte 36",
            ),
            (
                b"a:1:{i:0;O:1:\"P\":1:{s:1:\"x\";s:1:\"a\";}}",
                err::<Vec<Point>>,
                "[0].x: expected an integer, found string at byte 28",
            ),
            (
                b"a:1:{s:3:\"key\";O:1:\"P\":1:{s:1:\"x\";d:1.5;}}",
                err::<HashMap<String, Point>>,
                "[\"key\"].x: expected an integer, found float at byte 34",
            ),
            (b"s:1:\"a\";", err::<i64>, "expected an integer, found string at byte 0"),
            (b"i:1;", err::<String>, "expected a string, found integer at byte 0"),
            (b"i:1;", err::<bool>, "expected a bool, found integer at byte 0"),
            (b"s:1:\"a\";", err::<f64>, "expected a float, found string at byte 0"),
            (b"b:1;", err::<()>, "expected null, found bool at byte 0"),
            (b"N;", err::<Vec<i64>>, "expected an array, found null at byte 0"),
            (b"i:-1;", err::<u64>, "number out of range: -1 does not fit in u64 at byte 0"),
            (
                b"s:2:\"\xff\xfe\";",
                err::<String>,
                "expected a UTF-8 string, found a string that is not UTF-8 (invalid byte at index 0) at byte 0",
            ),
            (
                b"C:3:\"Foo\":4:{abcd}",
                err::<Point>,
                "expected an object (struct Point), found custom-serialized object Foo (C:, its data is opaque) at byte 0",
            ),
            (b"i:5;junk", err::<i64>, "trailing data after the value at byte 4"),
            (b"i:5", err::<i64>, "unexpected end of input, expected ';' after an integer at byte 3"),
            (
                b"O:8:\"stdClass\":1:{s:4:\"self\";r:1;}",
                err::<serde_json::Value>,
                "stdClass.self: invalid reference to slot 1: reference cycle at byte 29",
            ),
            (
                b"a:1:{i:0;a:1:{i:0;R:2;}}",
                err::<serde_json::Value>,
                "[0][0]: invalid reference to slot 2: reference cycle at byte 18",
            ),
            (
                b"a:2:{i:0;i:1;i:1;r:3;}",
                err::<Vec<i64>>,
                "[1]: invalid reference to slot 3: no such slot before this point at byte 17",
            ),
            (
                b"a:2:{i:0;i:1;i:1;R:0;}",
                err::<Vec<i64>>,
                "[1]: invalid reference to slot 0: no such slot before this point at byte 17",
            ),
            (
                b"a:2:{i:0;s:1:\"x\";i:1;r:2;}",
                err::<Vec<i64>>,
                "[0]: expected an integer, found string at byte 9",
            ),
            (
                b"a:2:{i:0;i:1;i:1;i:2;}",
                err::<(i64,)>,
                "invalid length 2, expected fewer elements in array at byte 0",
            ),
            (
                b"a:1:{s:1:\"x\";i:1;}",
                err::<BTreeMap<i64, i64>>,
                "expected an integer key, found string key \"x\" at byte 5",
            ),
            (
                b"E:8:\"S:Purple\";",
                err::<Status>,
                "unknown variant `Purple`, expected `Active` or `Gone` at byte 0",
            ),
            (
                b"s:2:\"ab\";",
                err::<char>,
                "invalid value: string \"ab\", expected a character at byte 0",
            ),
        ];
        for (input, read, want) in cases {
            assert_eq!(
                &read(input),
                want,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn arrays_to_seqs_and_maps() {
        assert_eq!(
            from_bytes::<Vec<i64>>(b"a:2:{i:0;i:7;i:1;i:8;}").unwrap(),
            vec![7, 8]
        );
        assert_eq!(
            from_bytes::<Vec<i64>>(b"a:0:{}").unwrap(),
            Vec::<i64>::new()
        );
        assert!(from_bytes::<BTreeMap<String, i64>>(b"a:0:{}")
            .unwrap()
            .is_empty());
        assert_eq!(
            from_bytes::<(i64, String)>(b"a:2:{i:0;i:7;i:1;s:1:\"x\";}").unwrap(),
            (7, "x".to_string())
        );
        let sparse = b"a:2:{i:3;s:1:\"a\";i:10;s:1:\"b\";}";
        let m: BTreeMap<i64, String> = from_bytes(sparse).unwrap();
        assert_eq!(m, BTreeMap::from([(3, "a".into()), (10, "b".into())]));
        let m: BTreeMap<String, String> = from_bytes(sparse).unwrap();
        assert_eq!(
            m,
            BTreeMap::from([("3".into(), "a".into()), ("10".into(), "b".into())])
        );
        let m: BTreeMap<u8, i64> = from_bytes(b"a:1:{s:2:\"42\";i:1;}").unwrap();
        assert_eq!(m, BTreeMap::from([(42, 1)]));
        // A dense array is a map too, when a map is asked for.
        let m: BTreeMap<i64, i64> = from_bytes(b"a:1:{i:0;i:9;}").unwrap();
        assert_eq!(m, BTreeMap::from([(0, 9)]));
        // An associative array into a struct.
        #[derive(Deserialize)]
        struct Pair {
            a: i64,
            b: String,
        }
        let p: Pair = from_bytes(b"a:2:{s:1:\"a\";i:1;s:1:\"b\";s:2:\"xy\";}").unwrap();
        assert_eq!((p.a, p.b.as_str()), (1, "xy"));
    }

    #[test]
    fn any_picks_seq_only_for_dense_arrays() {
        let cases: &[(&[u8], serde_json::Value)] = &[
            (b"a:0:{}", json!([])),
            (b"a:2:{i:0;i:1;i:1;i:2;}", json!([1, 2])),
            (b"a:2:{i:1;i:1;i:0;i:2;}", json!({"1": 1, "0": 2})),
            (b"a:1:{s:1:\"0\";b:1;}", json!({"0": true})),
            (
                b"a:2:{i:0;a:1:{i:5;N;}i:1;a:1:{i:0;a:1:{i:0;d:1.5;}}}",
                json!([{"5": null}, [[1.5]]]),
            ),
            (b"O:8:\"stdClass\":0:{}", json!({})),
            (
                b"O:1:\"X\":2:{s:4:\"\0*\0a\";i:1;i:0;s:1:\"z\";}",
                json!({"a": 1, "0": "z"}),
            ),
            (b"E:3:\"S:A\";", json!("A")),
            (
                b"C:3:\"Foo\":4:{abcd}",
                json!({"class": "Foo", "data": "abcd"}),
            ),
            (b"d:INF;", json!(null)),
            (b"s:2:\"\xff!\";", json!("\u{fffd}!")),
            (b"S:3:\"a\\00b\";", json!("a\u{0}b")),
        ];
        for (input, want) in cases {
            let got: serde_json::Value = from_bytes(input).unwrap();
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(from_bytes::<Option<i64>>(b"N;").unwrap(), None);
        assert_eq!(from_bytes::<Option<i64>>(b"i:4;").unwrap(), Some(4));
        from_bytes::<()>(b"N;").unwrap();
        assert!(from_bytes::<bool>(b"b:1;").unwrap());
        assert_eq!(from_bytes::<i8>(b"i:-128;").unwrap(), -128);
        assert_eq!(
            from_bytes::<u64>(b"i:9223372036854775807;").unwrap(),
            i64::MAX as u64
        );
        assert_eq!(from_bytes::<i128>(b"i:-5;").unwrap(), -5);
        assert_eq!(from_bytes::<f64>(b"i:3;").unwrap(), 3.0);
        assert_eq!(from_bytes::<f32>(b"d:0.5;").unwrap(), 0.5);
        assert_eq!(from_bytes::<f64>(b"d:INF;").unwrap(), f64::INFINITY);
        assert_eq!(from_bytes::<f64>(b"d:-INF;").unwrap(), f64::NEG_INFINITY);
        assert!(from_bytes::<f64>(b"d:NAN;").unwrap().is_nan());
        let z = from_bytes::<f64>(b"d:-0;").unwrap();
        assert!(z == 0.0 && z.is_sign_negative());
        assert_eq!(from_bytes::<f64>(b"d:1.0E+25;").unwrap(), 1.0e25);
        assert_eq!(from_bytes::<char>(b"s:2:\"\xc3\xa9\";").unwrap(), '\u{e9}');
        let bytes = b"s:3:\"a\xffb\";";
        assert_eq!(from_bytes::<&[u8]>(bytes).unwrap(), b"a\xffb");
        assert_eq!(from_bytes::<Vec<u8>>(bytes).unwrap(), b"a\xffb".to_vec());
        let s: &str = from_bytes(b"s:5:\"h\"i;}\";").unwrap();
        assert_eq!(s, "h\"i;}");
        assert_eq!(from_bytes::<String>(b"S:3:\"a\\00b\";").unwrap(), "a\0b");
        assert_eq!(from_bytes::<String>(b"E:3:\"S:A\";").unwrap(), "A");
    }

    #[derive(Deserialize, Debug, PartialEq)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect { w: i64, h: i64 },
    }

    #[test]
    fn enums() {
        assert_eq!(
            from_bytes::<Status>(b"E:22:\"App\\Jobs\\Status:Active\";").unwrap(),
            Status::Active
        );
        assert_eq!(
            from_bytes::<Status>(b"s:4:\"Gone\";").unwrap(),
            Status::Gone
        );
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Backed {
            Active,
        }
        assert_eq!(
            from_bytes::<Backed>(b"s:6:\"active\";").unwrap(),
            Backed::Active
        );
        assert_eq!(from_bytes::<Shape>(b"s:3:\"Dot\";").unwrap(), Shape::Dot);
        assert_eq!(
            from_bytes::<Shape>(b"a:1:{s:6:\"Circle\";d:2.5;}").unwrap(),
            Shape::Circle(2.5)
        );
        assert_eq!(
            from_bytes::<Shape>(b"a:1:{s:4:\"Rect\";a:2:{s:1:\"w\";i:1;s:1:\"h\";i:2;}}").unwrap(),
            Shape::Rect { w: 1, h: 2 }
        );
        // PHP writes a repeated enum case as `r:`.
        let v: Vec<Status> =
            from_bytes(b"a:3:{i:0;E:8:\"S:Active\";i:1;r:2;i:2;E:6:\"S:Gone\";}").unwrap();
        assert_eq!(v, [Status::Active, Status::Active, Status::Gone]);
    }

    #[test]
    fn duplicate_names_first_wins_for_structs() {
        // class P { private $x = 1; public $y = "p"; } class C extends P { public $x = 2; }
        let input = b"O:1:\"C\":3:{s:4:\"\0P\0x\";i:1;s:1:\"y\";s:1:\"p\";s:1:\"x\";i:2;}";
        #[derive(Deserialize)]
        struct C {
            x: i64,
            y: String,
        }
        let c: C = from_bytes(input).unwrap();
        assert_eq!((c.x, c.y.as_str()), (1, "p"));
        // Maps keep PHP's own rule for maps: the later key wins.
        let m: BTreeMap<String, serde_json::Value> = from_bytes(input).unwrap();
        assert_eq!(m["x"], json!(2));
        // Duplicates are skipped whole, including containers.
        let nested = b"O:1:\"C\":2:{s:1:\"x\";i:1;s:4:\"\0*\0x\";a:1:{i:0;O:1:\"Z\":0:{}}}";
        #[derive(Deserialize)]
        struct X {
            x: i64,
        }
        assert_eq!(from_bytes::<X>(nested).unwrap().x, 1);
    }

    #[test]
    fn class_name_field_only_when_declared() {
        #[derive(Deserialize)]
        struct WithClass {
            #[serde(rename = "__class")]
            class: String,
            a: i64,
        }
        let w: WithClass = from_bytes(b"O:5:\"A\\B\\C\":1:{s:1:\"a\";i:3;}").unwrap();
        assert_eq!((w.class.as_str(), w.a), ("A\\B\\C", 3));
        let v: serde_json::Value = from_bytes(b"O:5:\"A\\B\\C\":1:{s:1:\"a\";i:3;}").unwrap();
        assert_eq!(v, json!({"a": 3}));
    }

    #[test]
    fn references_are_resolved() {
        // $a = new stdClass; $a->n = 5; $b = [1]; serialize([$a, $a, &$b, &$b])
        let input =
            b"a:4:{i:0;O:8:\"stdClass\":1:{s:1:\"n\";i:5;}i:1;r:2;i:2;a:1:{i:0;i:1;}i:3;R:5;}";
        let v: serde_json::Value = from_bytes(input).unwrap();
        assert_eq!(v, json!([{"n": 5}, {"n": 5}, [1], [1]]));
        #[derive(Deserialize, Debug, PartialEq)]
        struct N {
            n: u8,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct T(N, N, Vec<i64>, Vec<i64>);
        let t: T = from_bytes(input).unwrap();
        assert_eq!(t, T(N { n: 5 }, N { n: 5 }, vec![1], vec![1]));
        // A reference to a scalar, and a chain of `r:` through an `r:`.
        let v: Vec<Option<i64>> = from_bytes(b"a:3:{i:0;i:4;i:1;R:2;i:2;N;}").unwrap();
        assert_eq!(v, [Some(4), Some(4), None]);
        let v: serde_json::Value = from_bytes(b"a:3:{i:0;O:1:\"A\":0:{}i:1;r:2;i:2;r:3;}").unwrap();
        assert_eq!(v, json!([{}, {}, {}]));
        // A reference into a property that a struct skipped.
        #[derive(Deserialize, Debug)]
        struct Later {
            b: N,
        }
        let l: Later = from_bytes(
            b"O:1:\"L\":2:{s:1:\"a\";a:1:{i:0;O:1:\"N\":1:{s:1:\"n\";i:9;}}s:1:\"b\";r:3;}",
        )
        .unwrap();
        assert_eq!(l.b, N { n: 9 });
    }

    #[test]
    fn reference_expansion_is_bounded() {
        // Each level holds two references to the level before: 2^60 values if expanded.
        // Level d (slot d) is `[level d+1, &level d+1]`.
        let mut s = String::from("a:2:{i:0;i:1;i:1;i:1;}");
        for d in (1..=60).rev() {
            s = format!("a:2:{{i:0;{s}i:1;R:{};}}", d + 1);
        }
        let input = s;
        let e = from_bytes::<serde_json::Value>(input.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("references expand beyond the limit"),
            "{e}"
        );
    }

    fn deep(n: usize) -> Vec<u8> {
        let mut s = Vec::new();
        for _ in 0..n {
            s.extend_from_slice(b"a:1:{i:0;");
        }
        s.extend_from_slice(b"N;");
        s.extend(std::iter::repeat_n(b'}', n));
        s
    }

    #[test]
    fn depth_is_bounded_and_configurable() {
        let input = deep(200);
        let e = from_bytes::<serde_json::Value>(&input).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::DepthLimit { limit: 128 });
        assert_eq!(e.offset(), Some(128 * 9));
        let v: serde_json::Value = from_bytes_with(&input, Limits { max_depth: 200 }).unwrap();
        assert!(v.is_array());
        assert!(from_bytes::<serde_json::Value>(&deep(128)).is_ok());
    }

    #[test]
    fn custom_objects() {
        let input = b"C:11:\"ArrayObject\":21:{x:i:0;a:0:{};m:a:0:{}}";
        let v: serde_json::Value = from_bytes(input).unwrap();
        assert_eq!(
            v,
            json!({"class": "ArrayObject", "data": "x:i:0;a:0:{};m:a:0:{}"})
        );
    }

    #[test]
    fn streaming_deserializer_and_from_value() {
        let mut de = Deserializer::from_bytes(b"i:1;i:2;");
        let one = i64::deserialize(&mut de).unwrap();
        assert_eq!((one, de.offset()), (1, 4));
        assert_eq!(
            de.end().unwrap_err().to_string(),
            "trailing data after the value at byte 4"
        );
        let value = Value::parse(JOB).unwrap();
        let v: serde_json::Value = from_value(&value).unwrap();
        assert_eq!(v["userId"], json!(1));
        let m: Minimal = from_value(&value).unwrap();
        assert_eq!(m.user_id, 1);
    }
}
