//! PLACEHOLDER being replaced in this session: serde Deserializer.
use super::{Limits, Result, Value};

/// serde Deserializer over PHP serialize bytes.
pub struct Deserializer<'de> {
    _input: &'de [u8],
}

/// Deserialize `T` from PHP serialize bytes.
pub fn from_bytes<'de, T: serde::Deserialize<'de>>(input: &'de [u8]) -> Result<T> {
    from_bytes_with(input, Limits::default())
}

/// Deserialize `T` with explicit limits.
pub fn from_bytes_with<'de, T: serde::Deserialize<'de>>(
    _input: &'de [u8],
    _limits: Limits,
) -> Result<T> {
    Err(<super::Error as serde::de::Error>::custom(
        "not implemented",
    ))
}

/// Deserialize `T` from a parsed value.
pub fn from_value<'de, T: serde::Deserialize<'de>>(_v: &Value<'de>) -> Result<T> {
    Err(<super::Error as serde::de::Error>::custom(
        "not implemented",
    ))
}
