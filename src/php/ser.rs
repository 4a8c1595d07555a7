//! The serde Serializer: Rust values to the bytes PHP's `serialize()` writes.
//!
//! larq writes PHP data when it re-dispatches a job (a release with delay, a chained job) and when a
//! Rust producer dispatches a job that PHP workers will run. Either way the bytes must be the ones
//! PHP itself would have written, so that `unserialize()` on the PHP side rebuilds the same objects
//! and so that a payload larq touched cannot be told apart from one PHP wrote.
//!
//! ```
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! #[serde(rename = "App\\Jobs\\SomeJob", rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! let bytes = larq::php::to_vec(&SomeJob { user_id: 42, some_param: "abc".into() })?;
//! assert_eq!(bytes, br#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:42;s:9:"someParam";s:3:"abc";}"#);
//! # Ok::<(), larq::php::Error>(())
//! ```
//!
//! # Mapping
//!
//! | Rust (serde data model) | PHP token written | Notes |
//! |---|---|---|
//! | `bool` | `b:0;` / `b:1;` | |
//! | `i8`..`i64`, `u8`..`u32` | `i:<n>;` | |
//! | `u64`, `i128`, `u128` | `i:<n>;` | error when outside the `i64` range: PHP has no wider integer |
//! | `f64` | `d:<repr>;` | [`float::php_repr`](super::float::php_repr): `d:0.1;`, `d:1.0E+25;`, `d:-0;`, `d:INF;`, `d:NAN;` |
//! | `f32` | `d:<repr>;` | widened to `f64` first, so `0.1f32` is written `d:0.10000000149011612;` (the exact value of the `f32`, as PHP would print it) |
//! | `char`, `&str`, `String` | `s:<byte length>:"<bytes>";` | |
//! | `&[u8]` (`serialize_bytes`) | `s:<length>:"<bytes>";` | any bytes, UTF-8 or not |
//! | `None`, `()`, unit struct | `N;` | |
//! | `Some(x)`, newtype struct | `x` | transparent |
//! | seq, tuple, tuple struct | `a:<n>:{i:0;<v>i:1;<v>...}` | counted afterwards when the length is not known up front |
//! | map | `a:<n>:{<key><v>...}` | integer keys as `i:`; string keys that PHP would turn into integers (canonical decimals in the `i64` range: `"5"`, `"-3"`, not `"05"`, `"-0"`, `" 5"`) as `i:`; other strings as `s:`; any other key type is an error |
//! | struct | `O:<len>:"<serde name>":<n>:{s:<field>;<v>...}` | the serde name is the PHP class; field names are written as they are (see below for visibility); skipped fields are not counted |
//! | unit variant | `E:<len>:"<serde enum name>:<variant>";` | a PHP 8.1 enum case; a case already written in the same value is written `r:<slot>;`, as PHP does |
//! | newtype variant | `a:1:{s:<variant>;<v>}` | externally tagged, like serde_json |
//! | tuple variant | `a:1:{s:<variant>;a:<n>:{i:0;<v>...}}` | |
//! | struct variant | `a:1:{s:<variant>;a:<n>:{s:<field>;<v>...}}` | an array, not an object: the variant has no class |
//! | [`Value`] | its own bytes, exactly | see [`Value`'s `Serialize` impl](#impl-Serialize-for-Value) |
//!
//! [`to_vec_as`] writes the top-level struct or map as an object of the class it is given instead
//! (for a map, keys follow the array-key rule above, which is also what an object written by
//! `__serialize()` looks like). Use it as well for a struct with `#[serde(flatten)]` fields: serde
//! hands such a struct to the serializer as a map, without its name.
//!
//! # Protected and private properties
//!
//! PHP writes the visibility into the property name, and so does larq: a field whose serde name is
//! `"\0*\0name"` is a protected property and `"\0Owner\\Class\0name"` a private property declared
//! by `Owner\Class`. Name the fields with `#[serde(rename = ...)]`:
//!
//! ```
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! #[serde(rename = "App\\Jobs\\Secretive")]
//! struct Secretive {
//!     visible: i64,
//!     #[serde(rename = "\0*\0shared")]
//!     shared: i64,
//!     #[serde(rename = "\0App\\Jobs\\Secretive\0hidden")]
//!     hidden: i64,
//! }
//!
//! let bytes = larq::php::to_vec(&Secretive { visible: 1, shared: 2, hidden: 3 })?;
//! assert_eq!(
//!     bytes,
//!     &b"O:18:\"App\\Jobs\\Secretive\":3:{s:7:\"visible\";i:1;s:9:\"\0*\0shared\";i:2;\
//!        s:26:\"\0App\\Jobs\\Secretive\0hidden\";i:3;}"[..]
//! );
//! # Ok::<(), larq::php::Error>(())
//! ```
//!
//! [`Property::protected`](super::Property::protected) and
//! [`Property::private`](super::Property::private) build the same names for a [`Value`] tree.
//!
//! # Errors
//!
//! Errors carry the path to the offending value, like the deserializer's:
//! `App\Jobs\SomeJob.counts[2]: number out of range: 18446744073709551615 does not fit PHP's
//! 64-bit integer`.

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::error::{Error, ErrorKind, Result};
use super::parse::{is_class_name, Limits, Token, Tokenizer};
use super::value::{push_int, write_string, Key, Value};

/// The newtype name that marks a [`Value`] passing through serde as its finished bytes. Only
/// larq's serializer knows it; any other serializer sees a newtype struct around a byte string.
const RAW_VALUE: &str = "$larq::php::private::RawValue";

/// A serde Serializer that appends PHP `serialize()` bytes to a buffer.
///
/// Most callers want [`to_vec`] or [`to_vec_as`]; the type is public so that several values can
/// be written into one buffer or a buffer reused across jobs.
#[derive(Debug, Default)]
pub struct Serializer {
    out: Vec<u8>,
    /// The class for the next struct or map, set by [`Serializer::with_class`] and used once.
    class: Option<String>,
    /// Slots taken so far (PHP numbers every value written, from 1; see `parse`'s docs), so that
    /// a repeated enum case can be written as `r:<slot>;` the way PHP writes it.
    slots: u64,
    /// Enum cases already written, as (class, case, slot).
    enums: Vec<(String, String, u64)>,
    /// Nesting depth, so that only the outermost object names its class in error paths.
    depth: usize,
    /// Set while a [`Value`]'s finished bytes are on their way to `serialize_bytes`.
    raw: bool,
}

impl Serializer {
    /// A serializer with an empty buffer.
    pub fn new() -> Self {
        Serializer::default()
    }

    /// A serializer that writes the top-level struct or map as an object of `class`; the
    /// building block of [`to_vec_as`].
    pub fn with_class(class: impl Into<String>) -> Self {
        Serializer {
            class: Some(class.into()),
            ..Serializer::default()
        }
    }

    /// The bytes written so far.
    pub fn into_inner(self) -> Vec<u8> {
        self.out
    }

    /// Take the next slot number (every value written takes one).
    fn take_slot(&mut self) -> u64 {
        self.slots += 1;
        self.slots
    }

    /// Fail when [`to_vec_as`]'s class is pending and the value is not something it can name.
    fn no_class(&mut self, found: &str) -> Result<()> {
        match self.class.take() {
            None => Ok(()),
            Some(class) => Err(Error::new(ErrorKind::Type {
                expected: format!("a struct or map to write as an object of class {class}"),
                found: found.to_owned(),
            })),
        }
    }

    fn write_int(&mut self, v: i64) {
        self.out.extend_from_slice(b"i:");
        push_int(&mut self.out, v);
        self.out.push(b';');
    }

    /// Open `a:<n>:{` (or `O:<len>:"<class>":<n>:{`) and return the compound that closes it.
    fn open(
        &mut self,
        class: Option<&str>,
        len: Option<usize>,
        keys: KeyStyle,
    ) -> Result<Compound<'_>> {
        self.take_slot();
        let prefix = match class {
            Some(class) => {
                check_class(class)?;
                self.out.extend_from_slice(b"O:");
                push_int(&mut self.out, class.len() as i64);
                self.out.extend_from_slice(b":\"");
                self.out.extend_from_slice(class.as_bytes());
                self.out.extend_from_slice(b"\":");
                (self.depth == 0).then(|| class.to_owned())
            }
            None => {
                self.out.extend_from_slice(b"a:");
                None
            }
        };
        let count_at = self.out.len();
        push_int(&mut self.out, len.unwrap_or(0) as i64);
        let count_len = self.out.len() - count_at;
        self.out.extend_from_slice(b":{");
        self.depth += 1;
        Ok(Compound {
            ser: self,
            count_at,
            count_len,
            declared: len,
            written: 0,
            keys,
            wrapped: false,
            prefix,
            key_at: 0,
        })
    }

    /// Open the `a:1:{s:<variant>;` wrapper of a non-unit enum variant.
    fn open_variant(&mut self, variant: &str) {
        self.take_slot();
        self.out.extend_from_slice(b"a:1:{");
        write_string(&mut self.out, variant.as_bytes());
        self.depth += 1;
    }

    /// Append a [`Value`]'s finished bytes and account for the slots and enum cases inside.
    fn write_raw(&mut self, raw: &[u8]) -> Result<()> {
        self.out.extend_from_slice(raw);
        let base = self.slots;
        // Walk the tokens without recursion: `open` holds the members left in each container.
        let mut t = Tokenizer::new(
            raw,
            Limits {
                max_depth: usize::MAX,
            },
        );
        let mut open: Vec<usize> = Vec::new();
        loop {
            match t.next_token()? {
                Token::ArrayStart { len } | Token::ObjectStart { len, .. } => open.push(len),
                Token::Enum { class, case } => self.remember_enum(class, case, base + t.slots()),
                _ => {}
            }
            loop {
                match open.last_mut() {
                    None => {
                        self.slots = base + t.slots();
                        return Ok(());
                    }
                    Some(0) => {
                        t.end_container()?;
                        open.pop();
                    }
                    Some(left) => {
                        *left -= 1;
                        t.next_key()?;
                        break;
                    }
                }
            }
        }
    }

    fn remember_enum(&mut self, class: &str, case: &str, slot: u64) {
        if self.enum_slot(class, case).is_none() {
            self.enums.push((class.to_owned(), case.to_owned(), slot));
        }
    }

    fn enum_slot(&self, class: &str, case: &str) -> Option<u64> {
        self.enums
            .iter()
            .find(|(c, k, _)| c == class && k == case)
            .map(|e| e.2)
    }
}

/// A class name PHP's `unserialize()` accepts, or an error naming it.
fn check_class(class: &str) -> Result<()> {
    if is_class_name(class) {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidClassName(class.to_owned())))
    }
}

fn out_of_range(v: impl Display) -> Error {
    Error::new(ErrorKind::NumberOutOfRange(format!(
        "{v} does not fit PHP's 64-bit integer"
    )))
}

/// The integer PHP turns an array key string into, if it does: `-?[1-9][0-9]*` or `0`, within
/// the `i64` range (php-src's `ZEND_HANDLE_NUMERIC_STR`).
fn canonical_int_key(s: &[u8]) -> Option<i64> {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    let first = *digits.first()?;
    if !digits.iter().all(u8::is_ascii_digit) || (first == b'0' && s.len() > 1) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Append an array key for a string: `i:` when PHP would read it as an integer, else `s:`.
fn write_str_key(out: &mut Vec<u8>, s: &[u8]) {
    match canonical_int_key(s) {
        Some(i) => {
            out.extend_from_slice(b"i:");
            push_int(out, i);
            out.push(b';');
        }
        None => write_string(out, s),
    }
}

/// Append `E:<len>:"<class>:<case>";` after checking both names.
fn write_enum(out: &mut Vec<u8>, class: &str, case: &str) -> Result<()> {
    check_class(class)?;
    if !is_class_name(case) || case.contains('\\') {
        return Err(Error::new(ErrorKind::InvalidClassName(format!(
            "{class}:{case}"
        ))));
    }
    out.extend_from_slice(b"E:");
    push_int(out, (class.len() + 1 + case.len()) as i64);
    out.extend_from_slice(b":\"");
    out.extend_from_slice(class.as_bytes());
    out.push(b':');
    out.extend_from_slice(case.as_bytes());
    out.extend_from_slice(b"\";");
    Ok(())
}

/// Write `value` as PHP's `serialize()` would.
///
/// A struct becomes an object whose class is the struct's serde name, so give the struct the PHP
/// class name with `#[serde(rename = "App\\Jobs\\SomeJob")]`. See the [module docs](self) for
/// every mapping.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut ser = Serializer::new();
    value.serialize(&mut ser)?;
    Ok(ser.into_inner())
}

/// Write `value` as an object of `class`, whatever its serde name: for structs whose Rust name
/// should not be the PHP class, maps, and structs with `#[serde(flatten)]` fields (which serde
/// passes on as maps). Anything other than a struct or map at the top is an error.
pub fn to_vec_as<T: Serialize + ?Sized>(class: &str, value: &T) -> Result<Vec<u8>> {
    let mut ser = Serializer::with_class(class);
    value.serialize(&mut ser)?;
    Ok(ser.into_inner())
}

/// Build the [`Value`] tree PHP would unserialize from what [`to_vec`] writes, to edit a payload
/// as a tree before writing it out. It writes the bytes and parses them back (so the tree is
/// exactly what the bytes say, floats' text included).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value<'static>> {
    let bytes = to_vec(value)?;
    // The bytes are our own: no depth limit beyond what the Rust value itself had.
    let limits = Limits {
        max_depth: usize::MAX,
    };
    Ok(super::build::parse_value(&bytes, &limits)?.into_owned())
}

/// A [`Value`] writes itself byte for byte (floats keep their text, references their slots,
/// custom objects their body), so a struct field of type `Value` passes through larq untouched.
///
/// Slot numbers inside the value are kept as written: they are right when the value sits at the
/// same place in the new payload as in the one it was read from (a field that was read with
/// `from_bytes` and is written back in the same struct), or has no `r:`/`R:` in it. Other
/// serializers (JSON, ...) see a newtype struct around the serialized bytes.
impl Serialize for Value<'_> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Raw(Vec<u8>);
        impl Serialize for Raw {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
        serializer.serialize_newtype_struct(RAW_VALUE, &Raw(self.to_bytes()))
    }
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.no_class("a bool")?;
        self.take_slot();
        self.out
            .extend_from_slice(if v { b"b:1;" } else { b"b:0;" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        self.no_class("an integer")?;
        self.take_slot();
        self.write_int(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        self.serialize_i64(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        self.serialize_i64(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        self.serialize_i64(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<()> {
        self.no_class("a float")?;
        self.take_slot();
        self.out.extend_from_slice(b"d:");
        self.out
            .extend_from_slice(super::float::php_repr(v).as_bytes());
        self.out.push(b';');
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        self.no_class("a string")?;
        self.take_slot();
        write_string(&mut self.out, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        if self.raw {
            self.raw = false;
            if self.class.is_some() {
                return self.no_class("a php::Value");
            }
            return self.write_raw(v);
        }
        self.no_class("a byte string")?;
        self.take_slot();
        write_string(&mut self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.no_class("null")?;
        self.take_slot();
        self.out.extend_from_slice(b"N;");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.no_class("an enum case")?;
        let slot = self.take_slot();
        match self.enum_slot(name, variant) {
            Some(first) => {
                self.out.extend_from_slice(b"r:");
                push_int(&mut self.out, first as i64);
                self.out.push(b';');
            }
            None => {
                write_enum(&mut self.out, name, variant)?;
                self.remember_enum(name, variant, slot);
            }
        }
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        if name == RAW_VALUE {
            self.raw = true;
            let result = value.serialize(&mut *self);
            self.raw = false;
            return result;
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.no_class("an enum variant with data")?;
        self.open_variant(variant);
        value
            .serialize(&mut *self)
            .map_err(|e| e.within(format!("[{variant:?}]")))?;
        self.out.push(b'}');
        self.depth -= 1;
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>> {
        self.no_class("a sequence")?;
        self.open(None, len, KeyStyle::Index)
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>> {
        self.no_class("an enum variant with data")?;
        self.open_variant(variant);
        let mut c = self.open(None, Some(len), KeyStyle::Index)?;
        c.wrapped = true;
        Ok(c)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>> {
        let class = self.class.take();
        self.open(class.as_deref(), len, KeyStyle::Map)
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>> {
        let class = self.class.take();
        self.open(
            Some(class.as_deref().unwrap_or(name)),
            Some(len),
            KeyStyle::Field,
        )
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>> {
        self.no_class("an enum variant with data")?;
        self.open_variant(variant);
        let mut c = self.open(None, Some(len), KeyStyle::ArrayField)?;
        c.wrapped = true;
        Ok(c)
    }
}

/// How a compound writes the keys of its members.
#[derive(Debug, Clone, Copy)]
enum KeyStyle {
    /// `i:0;`, `i:1;`, ... (sequences and tuples).
    Index,
    /// Whatever `serialize_key` gives, by the array-key rule (maps).
    Map,
    /// Field names as they are (`s:` always): object properties.
    Field,
    /// Field names by the array-key rule: the fields of a struct variant, which is an array.
    ArrayField,
}

/// An open array or object: counts its members and closes with `}`.
///
/// The count is written up front from the length serde announces and corrected in place at the
/// end if the members written differ (a sequence of unknown length, a hand-written `Serialize`
/// that skips fields), so the usual case copies nothing.
#[derive(Debug)]
pub struct Compound<'a> {
    ser: &'a mut Serializer,
    count_at: usize,
    count_len: usize,
    declared: Option<usize>,
    written: usize,
    keys: KeyStyle,
    /// Inside the `a:1:{s:<variant>;` wrapper of an enum variant: one more `}` to write.
    wrapped: bool,
    /// The class of the outermost object, which starts error paths.
    prefix: Option<String>,
    /// Where the last map key started, to name it in an error path.
    key_at: usize,
}

impl Compound<'_> {
    fn fail(&self, e: Error, segment: String) -> Error {
        let e = e.within(segment);
        match &self.prefix {
            Some(class) => e.within(class.clone()),
            None => e,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<()> {
        match self.keys {
            KeyStyle::ArrayField => write_str_key(&mut self.ser.out, name.as_bytes()),
            _ => write_string(&mut self.ser.out, name.as_bytes()),
        }
        self.written += 1;
        value.serialize(&mut *self.ser).map_err(|e| {
            let shown = super::value::demangle(name.as_bytes()).1;
            self.fail(e, format!(".{}", String::from_utf8_lossy(shown)))
        })
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let index = self.written;
        self.ser.write_int(index as i64);
        self.written += 1;
        value
            .serialize(&mut *self.ser)
            .map_err(|e| self.fail(e, format!("[{index}]")))
    }

    fn finish(self) -> Result<()> {
        if self.declared != Some(self.written) {
            let mut digits = Vec::with_capacity(20);
            push_int(&mut digits, self.written as i64);
            self.ser
                .out
                .splice(self.count_at..self.count_at + self.count_len, digits);
        }
        self.ser.out.push(b'}');
        self.ser.depth -= 1;
        if self.wrapped {
            self.ser.out.push(b'}');
            self.ser.depth -= 1;
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key_at = self.ser.out.len();
        key.serialize(KeySerializer {
            out: &mut self.ser.out,
            raw: false,
        })
        .map_err(|e| self.fail(e, "[key]".to_owned()))?;
        self.written += 1;
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut *self.ser).map_err(|e| {
            // Name the key in the path by reading back the key token just written.
            let key = Tokenizer::new(&self.ser.out[self.key_at..], Limits::default())
                .next_key()
                .unwrap_or(Key::Int(self.written as i64 - 1));
            self.fail(e, format!("[{key}]"))
        })
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

/// Writes one array key: integers and strings only, as PHP arrays allow.
struct KeySerializer<'a> {
    out: &'a mut Vec<u8>,
    /// Set while a [`Value`] key's finished bytes are on their way.
    raw: bool,
}

impl KeySerializer<'_> {
    fn int(self, v: i64) -> Result<()> {
        self.out.extend_from_slice(b"i:");
        push_int(self.out, v);
        self.out.push(b';');
        Ok(())
    }

    fn bad(found: &str) -> Error {
        Error::new(ErrorKind::Type {
            expected: "an integer or string array key".to_owned(),
            found: found.to_owned(),
        })
    }
}

/// Everything but integers, strings and unit variants (written as their name) is refused.
macro_rules! refuse_key {
    ($($method:ident($($arg:ty),*) -> $ret:ty, $found:expr;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret> {
            Err(KeySerializer::bad($found))
        })*
    };
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        self.int(v)
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        self.int(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.int(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        self.int(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        self.int(i64::try_from(v).map_err(|_| out_of_range(v))?)
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        write_str_key(self.out, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        if self.raw {
            // A `Value` key: an `i:` or `s:` token, kept exactly as the value says.
            return match v.first() {
                Some(b'i' | b's') => {
                    self.out.extend_from_slice(v);
                    Ok(())
                }
                _ => Err(KeySerializer::bad(
                    "a php::Value that is not an int or string",
                )),
            };
        }
        write_str_key(self.out, v);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(KeySerializer {
            out: self.out,
            raw: name == RAW_VALUE,
        })
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<()> {
        Err(KeySerializer::bad("an Option"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(KeySerializer::bad("an enum variant with data"))
    }

    refuse_key! {
        serialize_bool(bool) -> (), "a bool";
        serialize_f32(f32) -> (), "a float";
        serialize_f64(f64) -> (), "a float";
        serialize_none() -> (), "an Option";
        serialize_unit() -> (), "unit";
        serialize_unit_struct(&'static str) -> (), "a unit struct";
        serialize_seq(Option<usize>) -> Self::SerializeSeq, "a sequence";
        serialize_tuple(usize) -> Self::SerializeTuple, "a tuple";
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct, "a tuple struct";
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant, "an enum variant with data";
        serialize_map(Option<usize>) -> Self::SerializeMap, "a map";
        serialize_struct(&'static str, usize) -> Self::SerializeStruct, "a struct";
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant, "an enum variant with data";
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;
    use crate::php::value::{Float, Object, Property};

    fn bytes<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        match to_vec(v) {
            Ok(b) => b,
            Err(e) => panic!("to_vec failed: {e}"),
        }
    }

    fn err<T: Serialize + ?Sized>(v: &T) -> String {
        match to_vec(v) {
            Ok(b) => panic!("wrote {:?}", String::from_utf8_lossy(&b)),
            Err(e) => e.to_string(),
        }
    }

    #[track_caller]
    fn check<T: Serialize + ?Sized>(v: &T, want: &[u8]) {
        let got = bytes(v);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "bytes differ"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn scalars() {
        check(&true, b"b:1;");
        check(&false, b"b:0;");
        check(&0i8, b"i:0;");
        check(&-128i8, b"i:-128;");
        check(&65535u16, b"i:65535;");
        check(&u32::MAX, b"i:4294967295;");
        check(&i64::MIN, b"i:-9223372036854775808;");
        check(&(i64::MAX as u64), b"i:9223372036854775807;");
        check(&-5i128, b"i:-5;");
        check(&7u128, b"i:7;");
        check(&(), b"N;");
        check(&None::<i32>, b"N;");
        check(&Some(3), b"i:3;");
        check(&Some(Some("x")), b"s:1:\"x\";");
        check(&'é', b"s:2:\"\xc3\xa9\";");
        check("a\"b;c", b"s:5:\"a\"b;c\";");
        check(&String::new(), b"s:0:\"\";");
    }

    #[test]
    fn floats_match_php() {
        // The same PHP outputs as float.rs's table, through the serializer.
        let cases: &[(f64, &[u8])] = &[
            (0.1, b"d:0.1;"),
            (1e25, b"d:1.0E+25;"),
            (-0.0, b"d:-0;"),
            (0.0, b"d:0;"),
            (1.0, b"d:1;"),
            (1e16, b"d:10000000000000000;"),
            (1e17, b"d:1.0E+17;"),
            (1e-5, b"d:1.0E-5;"),
            (5e-324, b"d:5.0E-324;"),
            (1.0 / 3.0, b"d:0.3333333333333333;"),
            (f64::INFINITY, b"d:INF;"),
            (f64::NEG_INFINITY, b"d:-INF;"),
            (f64::NAN, b"d:NAN;"),
        ];
        for (v, want) in cases {
            check(v, want);
        }
        // f32 is widened: the exact value of 0.1f32, not 0.1.
        check(&0.1f32, b"d:0.10000000149011612;");
        check(&1.5f32, b"d:1.5;");
    }

    #[test]
    fn bytes_are_not_utf8_checked() {
        struct Raw<'a>(&'a [u8]);
        impl Serialize for Raw<'_> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        check(&Raw(b"\x00\xff\""), b"s:3:\"\x00\xff\"\";");
    }

    #[test]
    fn sequences_and_tuples() {
        check(&vec![1, 2, 3], b"a:3:{i:0;i:1;i:1;i:2;i:2;i:3;}");
        check(&Vec::<i32>::new(), b"a:0:{}");
        check(&(1, "a", None::<u8>), b"a:3:{i:0;i:1;i:1;s:1:\"a\";i:2;N;}");
        #[derive(Serialize)]
        struct Pair(i32, bool);
        check(&Pair(4, true), b"a:2:{i:0;i:4;i:1;b:1;}");
        #[derive(Serialize)]
        struct Wrapper(u8);
        check(&Wrapper(9), b"i:9;");
        #[derive(Serialize)]
        struct Nothing;
        check(&Nothing, b"N;");
        check(
            &vec![vec![1], vec![]],
            b"a:2:{i:0;a:1:{i:0;i:1;}i:1;a:0:{}}",
        );
    }

    /// A sequence whose length serde does not know (an iterator with no exact size) gets its count
    /// filled in afterwards, including when the digit count grows.
    #[test]
    fn unknown_length_sequences_are_counted() {
        struct Evens(usize);
        impl Serialize for Evens {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((0..self.0 * 2).filter(|i| i % 2 == 0))
            }
        }
        check(&Evens(2), b"a:2:{i:0;i:0;i:1;i:2;}");
        let many = bytes(&Evens(12));
        assert!(many.starts_with(b"a:12:{i:0;i:0;"), "{many:?}");
        assert!(many.ends_with(b"i:11;i:22;}"));
        let v = Value::parse(&many).unwrap();
        assert!(matches!(&v, Value::Array(items) if items.len() == 12));
    }

    #[test]
    fn map_keys_follow_php_array_rules() {
        let mut m = BTreeMap::new();
        for k in [
            "010",
            "10",
            "-3",
            "-0",
            "0",
            "05",
            " 5",
            "x",
            "9223372036854775807",
        ] {
            m.insert(k, 1);
        }
        m.insert("9223372036854775808", 2);
        m.insert("-9223372036854775808", 3);
        m.insert("-9223372036854775809", 4);
        let got = bytes(&m);
        let v = Value::parse(&got).unwrap();
        let Value::Array(items) = v else {
            panic!("not an array")
        };
        let keys: Vec<String> = items.iter().map(|(k, _)| k.to_string()).collect();
        // BTreeMap order; int keys print bare, string keys quoted.
        assert_eq!(
            keys,
            [
                "\" 5\"",
                "\"-0\"",
                "-3",
                "-9223372036854775808",
                "\"-9223372036854775809\"",
                "0",
                "\"010\"",
                "\"05\"",
                "10",
                "9223372036854775807",
                "\"9223372036854775808\"",
                "\"x\"",
            ]
        );
        let mut ints = BTreeMap::new();
        ints.insert(10u64, "a");
        ints.insert(2, "b");
        check(&ints, b"a:2:{i:2;s:1:\"b\";i:10;s:1:\"a\";}");
        let mut chars = BTreeMap::new();
        chars.insert('7', ());
        chars.insert('k', ());
        check(&chars, b"a:2:{i:7;N;s:1:\"k\";N;}");
    }

    #[test]
    fn structs_become_objects() {
        #[derive(Serialize)]
        #[serde(rename = "App\\Jobs\\SomeJob", rename_all = "camelCase")]
        struct SomeJob {
            user_id: i64,
            some_param: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            maybe: Option<i32>,
            #[serde(skip)]
            _ignored: u8,
            #[serde(rename = "\0*\0queue")]
            queue: Option<String>,
            #[serde(rename = "\0App\\Jobs\\SomeJob\0secret")]
            secret: bool,
        }
        let mut job = SomeJob {
            user_id: 42,
            some_param: "abc".into(),
            maybe: None,
            _ignored: 0,
            queue: None,
            secret: true,
        };
        check(
            &job,
            b"O:16:\"App\\Jobs\\SomeJob\":4:{s:6:\"userId\";i:42;s:9:\"someParam\";s:3:\"abc\";\
              s:8:\"\0*\0queue\";N;s:24:\"\0App\\Jobs\\SomeJob\0secret\";b:1;}",
        );
        job.maybe = Some(5);
        let with = bytes(&job);
        assert!(with.starts_with(b"O:16:\"App\\Jobs\\SomeJob\":5:{"));
        let v = Value::parse(&with).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.get("maybe"), Some(&Value::Int(5)));
        assert_eq!(o.props[3].visibility(), crate::php::Visibility::Protected);
        assert_eq!(
            o.props[4].declaring_class(),
            Some(&b"App\\Jobs\\SomeJob"[..])
        );

        #[derive(Serialize)]
        struct Outer {
            inner: Inner,
            list: Vec<Inner>,
        }
        #[derive(Serialize)]
        struct Inner {
            x: f64,
        }
        check(
            &Outer {
                inner: Inner { x: 0.5 },
                list: vec![Inner { x: 1e100 }],
            },
            b"O:5:\"Outer\":2:{s:5:\"inner\";O:5:\"Inner\":1:{s:1:\"x\";d:0.5;}\
              s:4:\"list\";a:1:{i:0;O:5:\"Inner\":1:{s:1:\"x\";d:1.0E+100;}}}",
        );
    }

    /// A hand-written `Serialize` that announces more fields than it writes still gets the right
    /// count (serde's derive announces the right number; other impls may not).
    #[test]
    fn struct_count_is_what_was_written() {
        struct Liar;
        impl Serialize for Liar {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Liar", 15)?;
                st.serialize_field("a", &1)?;
                st.skip_field("b")?;
                st.end()
            }
        }
        check(&Liar, b"O:4:\"Liar\":1:{s:1:\"a\";i:1;}");
    }

    #[test]
    fn to_vec_as_names_the_class() {
        #[derive(Serialize)]
        struct Local {
            a: i32,
        }
        assert_eq!(
            to_vec_as("App\\Models\\Thing", &Local { a: 1 }).unwrap(),
            b"O:16:\"App\\Models\\Thing\":1:{s:1:\"a\";i:1;}"
        );
        // Only the top level is renamed.
        #[derive(Serialize)]
        struct Holder {
            l: Local,
        }
        assert_eq!(
            to_vec_as("H", &Holder { l: Local { a: 2 } }).unwrap(),
            b"O:1:\"H\":1:{s:1:\"l\";O:5:\"Local\":1:{s:1:\"a\";i:2;}}"
        );
        let mut m = BTreeMap::new();
        m.insert("5", "five");
        m.insert("k", "v");
        assert_eq!(
            to_vec_as("M", &m).unwrap(),
            b"O:1:\"M\":2:{i:5;s:4:\"five\";s:1:\"k\";s:1:\"v\";}"
        );
        // Transparent wrappers pass the class on.
        assert_eq!(
            to_vec_as("W", &Some(Local { a: 3 })).unwrap(),
            b"O:1:\"W\":1:{s:1:\"a\";i:3;}"
        );
        // A map nested in a map stays an array.
        let mut outer = BTreeMap::new();
        outer.insert("in", m.clone());
        assert_eq!(
            to_vec_as("O", &outer).unwrap(),
            b"O:1:\"O\":1:{s:2:\"in\";a:2:{i:5;s:4:\"five\";s:1:\"k\";s:1:\"v\";}}"
        );
        assert_eq!(
            to_vec_as("X", &vec![1]).unwrap_err().to_string(),
            "expected a struct or map to write as an object of class X, found a sequence"
        );
        assert_eq!(
            to_vec_as("bad name", &Local { a: 1 })
                .unwrap_err()
                .to_string(),
            "invalid class name \"bad name\""
        );
    }

    #[test]
    fn enums() {
        #[derive(Serialize, Clone, Copy)]
        #[serde(rename = "App\\Enums\\Status")]
        enum Status {
            Active,
            #[allow(dead_code)]
            Gone,
        }
        check(&Status::Active, b"E:23:\"App\\Enums\\Status:Active\";");
        // PHP writes a case it has already written as a back-reference to its first slot:
        // slot 1 the array, 2 the first case, 3 the r:, 4 the inner array, 5 the second case.
        #[derive(Serialize, Clone, Copy)]
        enum Suit {
            Hearts,
            Spades,
        }
        check(
            &(Suit::Hearts, Suit::Hearts, [Suit::Spades], Suit::Spades),
            b"a:4:{i:0;E:11:\"Suit:Hearts\";i:1;r:2;i:2;a:1:{i:0;E:11:\"Suit:Spades\";}i:3;r:5;}",
        );
        #[derive(Serialize)]
        enum Shape {
            Circle(f64),
            Point(i32, i32),
            Rect {
                w: u8,
                h: u8,
            },
            Named {
                #[serde(rename = "7")]
                seven: bool,
            },
        }
        check(&Shape::Circle(1.5), b"a:1:{s:6:\"Circle\";d:1.5;}");
        check(
            &Shape::Point(1, -2),
            b"a:1:{s:5:\"Point\";a:2:{i:0;i:1;i:1;i:-2;}}",
        );
        check(
            &Shape::Rect { w: 3, h: 4 },
            b"a:1:{s:4:\"Rect\";a:2:{s:1:\"w\";i:3;s:1:\"h\";i:4;}}",
        );
        // A struct variant is an array, so its keys follow the array-key rule.
        check(
            &Shape::Named { seven: true },
            b"a:1:{s:5:\"Named\";a:1:{i:7;b:1;}}",
        );
        // Unit variants as map keys are their names.
        let mut m = BTreeMap::new();
        m.insert(Suit::Spades as u8, Status::Active);
        check(&m, b"a:1:{i:1;E:23:\"App\\Enums\\Status:Active\";}");
        #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
        enum K {
            Alpha,
        }
        let mut by_variant = BTreeMap::new();
        by_variant.insert(K::Alpha, 1);
        check(&by_variant, b"a:1:{s:5:\"Alpha\";i:1;}");
    }

    #[test]
    fn values_write_themselves_exactly() {
        let inputs: &[&[u8]] = &[
            b"d:0.10000000000000001;",
            b"C:3:\"Foo\":5:{a;b}c}",
            b"a:4:{i:0;i:1;i:1;R:2;i:2;i:2;i:3;R:3;}",
            b"O:8:\"stdClass\":1:{s:4:\"self\";r:1;}",
            b"O:1:\"M\":2:{s:1:\"k\";i:1;i:5;s:4:\"five\";}",
        ];
        for input in inputs {
            let v = Value::parse(input).unwrap();
            check(&v, input);
        }
        // Inside a struct, and slots after it continue from the slots it took.
        #[derive(Serialize)]
        enum Suit {
            Hearts,
        }
        #[derive(Serialize)]
        struct Carrier<'a> {
            raw: Value<'a>,
            after: Suit,
            again: Suit,
        }
        let raw = Value::parse(b"a:2:{i:0;E:11:\"Suit:Hearts\";i:1;i:5;}").unwrap();
        // Slots: 1 Carrier, 2 array, 3 E:, 4 i:5, 5 after (r:3), 6 again (r:3).
        check(
            &Carrier {
                raw,
                after: Suit::Hearts,
                again: Suit::Hearts,
            },
            b"O:7:\"Carrier\":3:{s:3:\"raw\";a:2:{i:0;E:11:\"Suit:Hearts\";i:1;i:5;}\
              s:5:\"after\";r:3;s:5:\"again\";r:3;}",
        );
        let mut o = Object::new("stdClass");
        o.props
            .push(Property::protected("p", Value::Float(Float::new(2.0))));
        check(
            &Value::Object(o),
            b"O:8:\"stdClass\":1:{s:4:\"\0*\0p\";d:2;}",
        );
        // A Value as a map key is written as it is (no int-key rule applied to it).
        let vm = vec![(Value::from("05"), 1), (Value::Int(4), 2)];
        struct Pairs<'a>(Vec<(Value<'a>, i32)>);
        impl Serialize for Pairs<'_> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        check(&Pairs(vm), b"a:2:{s:2:\"05\";i:1;i:4;i:2;}");
        assert!(to_vec(&Pairs(vec![(Value::Null, 1)])).is_err());
    }

    #[test]
    fn to_value_parses_what_was_written() {
        #[derive(Serialize)]
        struct P {
            f: f32,
            n: Option<u8>,
        }
        let v = to_value(&P { f: 0.5, n: None }).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.class, "P");
        assert_eq!(o.get("f"), Some(&Value::Float(Float::new(0.5))));
        assert_eq!(o.get("n"), Some(&Value::Null));
        assert_eq!(v.to_bytes(), to_vec(&P { f: 0.5, n: None }).unwrap());
    }

    /// The error-message table for the serializer.
    #[test]
    fn errors() {
        #[derive(Serialize)]
        #[serde(rename = "App\\Jobs\\Counter")]
        struct Counter {
            counts: Vec<u64>,
        }
        assert_eq!(
            err(&Counter {
                counts: vec![1, 2, u64::MAX]
            }),
            "App\\Jobs\\Counter.counts[2]: number out of range: 18446744073709551615 does not fit PHP's 64-bit integer"
        );
        assert_eq!(
            err(&(i128::from(i64::MIN) - 1)),
            "number out of range: -9223372036854775809 does not fit PHP's 64-bit integer"
        );
        assert_eq!(
            err(&u128::MAX),
            "number out of range: 340282366920938463463374607431768211455 does not fit PHP's 64-bit integer"
        );
        let mut fk = BTreeMap::new();
        fk.insert(vec![1], 1);
        assert_eq!(
            err(&fk),
            "[key]: expected an integer or string array key, found a sequence"
        );
        let mut bk = BTreeMap::new();
        bk.insert(true, 1);
        assert_eq!(
            err(&bk),
            "[key]: expected an integer or string array key, found a bool"
        );
        let mut nested = BTreeMap::new();
        nested.insert("k", vec![u64::MAX]);
        assert_eq!(
            err(&nested),
            "[\"k\"][0]: number out of range: 18446744073709551615 does not fit PHP's 64-bit integer"
        );
        #[derive(Serialize)]
        #[serde(rename = "Not A Class")]
        struct Bad;
        // A unit struct is null: its name is never written.
        assert_eq!(bytes(&Bad), b"N;");
        #[derive(Serialize)]
        #[serde(rename = "\\Leading")]
        struct Lead {
            a: u8,
        }
        assert_eq!(err(&Lead { a: 1 }), "invalid class name \"\\\\Leading\"");
        #[derive(Serialize)]
        enum E {
            #[serde(rename = "not-a-case")]
            A,
        }
        assert_eq!(err(&E::A), "invalid class name \"E:not-a-case\"");
        #[derive(Serialize)]
        struct Holder {
            #[serde(rename = "\0*\0guarded")]
            g: E,
        }
        assert_eq!(
            err(&Holder { g: E::A }),
            "Holder.guarded: invalid class name \"E:not-a-case\""
        );
        #[derive(Serialize)]
        enum Wrap {
            V(u64),
        }
        assert_eq!(
            err(&vec![Wrap::V(u64::MAX)]),
            "[0][\"V\"]: number out of range: 18446744073709551615 does not fit PHP's 64-bit integer"
        );
    }

    #[test]
    fn canonical_keys() {
        for (s, want) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("-7", Some(-7)),
            ("-0", None),
            ("00", None),
            ("07", None),
            ("+7", None),
            ("", None),
            ("-", None),
            ("1e3", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(canonical_int_key(s.as_bytes()), want, "{s:?}");
        }
    }
}
