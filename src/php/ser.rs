//! PLACEHOLDER being replaced in this session: serde Serializer.
use super::{Result, Value};

/// serde Serializer producing PHP serialize bytes.
pub struct Serializer;

/// Serialize `T` (structs become objects named after the struct).
pub fn to_vec<T: serde::Serialize + ?Sized>(_v: &T) -> Result<Vec<u8>> {
    Err(<super::Error as serde::ser::Error>::custom(
        "not implemented",
    ))
}

/// Serialize `T` as an object of the given PHP class.
pub fn to_vec_as<T: serde::Serialize + ?Sized>(_class: &str, _v: &T) -> Result<Vec<u8>> {
    Err(<super::Error as serde::ser::Error>::custom(
        "not implemented",
    ))
}

/// Serialize `T` into a [`Value`].
pub fn to_value<T: serde::Serialize + ?Sized>(_v: &T) -> Result<Value<'static>> {
    Err(<super::Error as serde::ser::Error>::custom(
        "not implemented",
    ))
}
