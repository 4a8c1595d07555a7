//! [`Value`]: a lossless tree of one PHP `serialize()` value.
//!
//! The tree keeps everything a byte-exact rewrite needs: property order, mangled names (and so
//! visibility and declaring class), the exact text of every float, enum cases, the opaque body of
//! legacy `Serializable` objects, and `r:`/`R:` references exactly as written. That is what lets
//! larq re-dispatch a chained job it cannot interpret without changing a byte of it.
//!
//! Strings and names borrow from the input where they can (`Cow`), so parsing a payload copies
//! nothing but the tree's own vectors; [`Value::into_owned`] detaches it from the input.

use std::borrow::Cow;
use std::fmt;

use super::float;

/// One PHP value as written by `serialize()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `N;`
    Null,
    /// `b:0;` / `b:1;`
    Bool(bool),
    /// `i:42;`
    Int(i64),
    /// `d:0.1;`, with its exact text.
    Float(Float<'a>),
    /// `s:5:"hello";`: PHP strings are bytes, not necessarily UTF-8.
    String(Cow<'a, [u8]>),
    /// `a:2:{...}`: an ordered map with int and string keys.
    Array(Vec<(Key<'a>, Value<'a>)>),
    /// `O:8:"stdClass":1:{...}`, including objects written by `__serialize`.
    Object(Object<'a>),
    /// `E:13:"Status:Active";` (PHP 8.1 enum case).
    Enum(EnumCase<'a>),
    /// `C:3:"Foo":4:{data}` (legacy `Serializable`; the body is kept as is).
    Custom(Custom<'a>),
    /// `r:N;`: the same object as the one in slot N.
    ObjectRef(u64),
    /// `R:N;`: a PHP reference (`&`) to the value in slot N.
    ValueRef(u64),
}

/// A float with the exact text it was written with, so `d:1.0E+25;` is written back as read.
#[derive(Debug, Clone)]
pub struct Float<'a> {
    /// The number (`NAN`, `INF`, `-INF` and `-0` included).
    pub value: f64,
    /// The text between `d:` and `;`.
    pub repr: Cow<'a, str>,
}

impl Float<'_> {
    /// A float written the way PHP's `serialize()` writes it (`serialize_precision = -1`).
    pub fn new(value: f64) -> Float<'static> {
        Float {
            value,
            repr: Cow::Owned(float::php_repr(value)),
        }
    }

    /// Detach from the input.
    pub fn into_owned(self) -> Float<'static> {
        Float {
            value: self.value,
            repr: Cow::Owned(self.repr.into_owned()),
        }
    }
}

/// Two floats are equal when they were written the same way (so `NAN == NAN` here, and `0` and `-0`
/// differ): the tree compares representations, not arithmetic.
impl PartialEq for Float<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

/// An array key. `10` and `"010"` are different keys in PHP, and stay different here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// `i:10;`
    Int(i64),
    /// `s:3:"010";` (also the mangled member names of objects).
    Str(Cow<'a, [u8]>),
}

impl Key<'_> {
    /// Detach from the input.
    pub fn into_owned(self) -> Key<'static> {
        match self {
            Key::Int(i) => Key::Int(i),
            Key::Str(s) => Key::Str(Cow::Owned(s.into_owned())),
        }
    }
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => write!(f, "{:?}", String::from_utf8_lossy(s)),
        }
    }
}

/// The visibility PHP encodes in a mangled property name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// plain `name`
    Public,
    /// `\0*\0name`
    Protected,
    /// `\0Class\0name`
    Private,
}

impl Visibility {
    /// The word PHP uses, as in the value tree (`public`, `protected`, `private`).
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Protected => "protected",
            Visibility::Private => "private",
        }
    }
}

/// An object: class name and properties in serialized order.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<'a> {
    /// Fully qualified class name without a leading backslash (`App\Jobs\SomeJob`).
    pub class: Cow<'a, str>,
    /// Members in the order they were written.
    pub props: Vec<Property<'a>>,
}

impl<'a> Object<'a> {
    /// An object with no properties yet.
    pub fn new(class: impl Into<Cow<'a, str>>) -> Self {
        Object {
            class: class.into(),
            props: Vec::new(),
        }
    }

    /// The first property with this (demangled) name, whatever its visibility.
    pub fn get(&self, name: &str) -> Option<&Value<'a>> {
        self.props
            .iter()
            .find(|p| p.name() == name.as_bytes())
            .map(|p| &p.value)
    }

    /// Mutable access to the first property with this (demangled) name.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value<'a>> {
        self.props
            .iter_mut()
            .find(|p| p.name() == name.as_bytes())
            .map(|p| &mut p.value)
    }
}

/// One member of an object, keyed by the name exactly as serialized (mangled).
#[derive(Debug, Clone, PartialEq)]
pub struct Property<'a> {
    /// The serialized member key: mangled for protected/private properties, an int for some
    /// `__serialize` payloads.
    pub key: Key<'a>,
    /// The member's value.
    pub value: Value<'a>,
}

impl<'a> Property<'a> {
    /// A public property.
    pub fn public(name: &str, value: Value<'a>) -> Self {
        Property {
            key: Key::Str(Cow::Owned(name.as_bytes().to_vec())),
            value,
        }
    }

    /// A protected property, mangled as `\0*\0name`.
    pub fn protected(name: &str, value: Value<'a>) -> Self {
        let mut k = b"\0*\0".to_vec();
        k.extend_from_slice(name.as_bytes());
        Property {
            key: Key::Str(Cow::Owned(k)),
            value,
        }
    }

    /// A private property declared by `class`, mangled as `\0Class\0name`.
    pub fn private(class: &str, name: &str, value: Value<'a>) -> Self {
        let mut k = vec![0];
        k.extend_from_slice(class.as_bytes());
        k.push(0);
        k.extend_from_slice(name.as_bytes());
        Property {
            key: Key::Str(Cow::Owned(k)),
            value,
        }
    }

    /// The demangled name (for an int key, empty: use [`Property::key`]).
    pub fn name(&self) -> &[u8] {
        match &self.key {
            Key::Int(_) => b"",
            Key::Str(s) => demangle(s).1,
        }
    }

    /// Visibility encoded in the key.
    pub fn visibility(&self) -> Visibility {
        match &self.key {
            Key::Int(_) => Visibility::Public,
            Key::Str(s) => demangle(s).0,
        }
    }

    /// The declaring class of a private property.
    pub fn declaring_class(&self) -> Option<&[u8]> {
        match &self.key {
            Key::Str(s) if s.first() == Some(&0) => {
                let rest = &s[1..];
                let end = rest.iter().position(|&b| b == 0)?;
                let class = &rest[..end];
                (class != b"*").then_some(class)
            }
            _ => None,
        }
    }
}

/// Split a mangled member name into visibility and plain name. A name that starts with NUL but
/// has no second NUL is not a valid mangling; PHP treats it as a public name, and so do we.
pub(crate) fn demangle(key: &[u8]) -> (Visibility, &[u8]) {
    if key.first() == Some(&0) {
        if let Some(end) = key[1..].iter().position(|&b| b == 0) {
            let scope = &key[1..1 + end];
            let name = &key[2 + end..];
            let vis = if scope == b"*" {
                Visibility::Protected
            } else {
                Visibility::Private
            };
            return (vis, name);
        }
    }
    (Visibility::Public, key)
}

/// A PHP 8.1 enum case, e.g. `App\Enums\Status::Active`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumCase<'a> {
    /// The enum's class name.
    pub class: Cow<'a, str>,
    /// The case name.
    pub case: Cow<'a, str>,
}

/// A legacy `Serializable` object: class name and the body its `serialize()` method produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custom<'a> {
    /// The class name.
    pub class: Cow<'a, str>,
    /// The opaque body between `{` and `}`.
    pub data: Cow<'a, [u8]>,
}

/// `null`, PHP's value of an unset property.
impl Default for Value<'_> {
    fn default() -> Self {
        Value::Null
    }
}

impl<'a> Value<'a> {
    /// Write the value in PHP's `serialize()` format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Append the value in PHP's `serialize()` format to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"N;"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"b:1;" } else { b"b:0;" }),
            Value::Int(i) => {
                out.extend_from_slice(b"i:");
                push_int(out, *i);
                out.push(b';');
            }
            Value::Float(f) => {
                out.extend_from_slice(b"d:");
                out.extend_from_slice(f.repr.as_bytes());
                out.push(b';');
            }
            Value::String(s) => write_string(out, s),
            Value::Array(items) => {
                out.extend_from_slice(b"a:");
                push_int(out, items.len() as i64);
                out.extend_from_slice(b":{");
                for (k, v) in items {
                    write_key(out, k);
                    v.write_to(out);
                }
                out.push(b'}');
            }
            Value::Object(o) => {
                out.extend_from_slice(b"O:");
                write_counted(out, o.class.as_bytes());
                out.push(b':');
                push_int(out, o.props.len() as i64);
                out.extend_from_slice(b":{");
                for p in &o.props {
                    write_key(out, &p.key);
                    p.value.write_to(out);
                }
                out.push(b'}');
            }
            Value::Enum(e) => {
                out.extend_from_slice(b"E:");
                push_int(out, (e.class.len() + 1 + e.case.len()) as i64);
                out.extend_from_slice(b":\"");
                out.extend_from_slice(e.class.as_bytes());
                out.push(b':');
                out.extend_from_slice(e.case.as_bytes());
                out.extend_from_slice(b"\";");
            }
            Value::Custom(c) => {
                out.extend_from_slice(b"C:");
                write_counted(out, c.class.as_bytes());
                out.push(b':');
                push_int(out, c.data.len() as i64);
                out.extend_from_slice(b":{");
                out.extend_from_slice(&c.data);
                out.push(b'}');
            }
            Value::ObjectRef(n) => {
                out.extend_from_slice(b"r:");
                push_int(out, *n as i64);
                out.push(b';');
            }
            Value::ValueRef(n) => {
                out.extend_from_slice(b"R:");
                push_int(out, *n as i64);
                out.push(b';');
            }
        }
    }

    /// Detach the tree from the input it borrows from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f.into_owned()),
            Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
            Value::Object(o) => Value::Object(Object {
                class: Cow::Owned(o.class.into_owned()),
                props: o
                    .props
                    .into_iter()
                    .map(|p| Property {
                        key: p.key.into_owned(),
                        value: p.value.into_owned(),
                    })
                    .collect(),
            }),
            Value::Enum(e) => Value::Enum(EnumCase {
                class: Cow::Owned(e.class.into_owned()),
                case: Cow::Owned(e.case.into_owned()),
            }),
            Value::Custom(c) => Value::Custom(Custom {
                class: Cow::Owned(c.class.into_owned()),
                data: Cow::Owned(c.data.into_owned()),
            }),
            Value::ObjectRef(n) => Value::ObjectRef(n),
            Value::ValueRef(n) => Value::ValueRef(n),
        }
    }

    /// A short name of the value's type, as used in error messages (`an integer`, `string`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Enum(_) => "enum",
            Value::Custom(_) => "custom object",
            Value::ObjectRef(_) => "object reference",
            Value::ValueRef(_) => "reference",
        }
    }

    /// The string's bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The string as UTF-8, if this is a UTF-8 string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object, mutably, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Object<'a>> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::String(Cow::Borrowed(s.as_bytes()))
    }
}

impl From<String> for Value<'static> {
    fn from(s: String) -> Self {
        Value::String(Cow::Owned(s.into_bytes()))
    }
}

impl From<i64> for Value<'static> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value<'static> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value<'static> {
    fn from(f: f64) -> Self {
        Value::Float(Float::new(f))
    }
}

/// Append `i` in decimal, as PHP writes integers in `serialize()` output. `itoa` formats into a
/// stack buffer, so a length or key costs no allocation (every string, array and object writes
/// at least one).
pub(crate) fn push_int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(b"s:");
    write_counted(out, s);
    out.push(b';');
}

/// `<len>:"<bytes>"`
fn write_counted(out: &mut Vec<u8>, s: &[u8]) {
    push_int(out, s.len() as i64);
    out.extend_from_slice(b":\"");
    out.extend_from_slice(s);
    out.push(b'"');
}

pub(crate) fn write_key(out: &mut Vec<u8>, k: &Key<'_>) {
    match k {
        Key::Int(i) => {
            out.extend_from_slice(b"i:");
            push_int(out, *i);
            out.push(b';');
        }
        Key::Str(s) => write_string(out, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_in_decimal_at_both_ends() {
        let mut out = b"i:".to_vec();
        for i in [0, -1, 42, i64::MIN, i64::MAX] {
            push_int(&mut out, i);
            out.push(b';');
        }
        assert_eq!(
            out,
            b"i:0;-1;42;-9223372036854775808;9223372036854775807;".to_vec()
        );
    }

    #[test]
    fn demangles_names() {
        assert_eq!(
            demangle(b"\0*\0secret"),
            (Visibility::Protected, &b"secret"[..])
        );
        assert_eq!(
            demangle(b"\0App\\Jobs\\X\0priv"),
            (Visibility::Private, &b"priv"[..])
        );
        assert_eq!(demangle(b"plain"), (Visibility::Public, &b"plain"[..]));
        assert_eq!(
            demangle(b"\0broken"),
            (Visibility::Public, &b"\0broken"[..])
        );
        let p = Property::private("App\\Jobs\\X", "priv", Value::Null);
        assert_eq!(p.declaring_class(), Some(&b"App\\Jobs\\X"[..]));
        assert_eq!(
            Property::protected("a", Value::Null).declaring_class(),
            None
        );
    }

    #[test]
    fn writes_every_token() {
        let v = Value::Array(vec![
            (Key::Int(0), Value::Null),
            (Key::Str(Cow::Borrowed(b"010")), Value::Bool(true)),
            (Key::Int(-3), Value::Float(Float::new(0.1))),
            (
                Key::Int(1),
                Value::Enum(EnumCase {
                    class: "S".into(),
                    case: "A".into(),
                }),
            ),
            (Key::Int(2), Value::ObjectRef(1)),
            (Key::Int(3), Value::ValueRef(2)),
            (
                Key::Int(4),
                Value::Custom(Custom {
                    class: "C".into(),
                    data: Cow::Borrowed(b"x;y"),
                }),
            ),
        ]);
        assert_eq!(
            v.to_bytes(),
            b"a:7:{i:0;N;s:3:\"010\";b:1;i:-3;d:0.1;i:1;E:3:\"S:A\";i:2;r:1;i:3;R:2;i:4;C:1:\"C\":3:{x;y}}"
        );
    }
}
