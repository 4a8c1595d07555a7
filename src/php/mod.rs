//! PHP's `serialize()` format as a serde data format.
//!
//! Laid out like serde_json: [`parse`] is the tokenizer (nom), [`value`] the lossless tree with its
//! writer, [`de`] and [`ser`] the serde Deserializer and Serializer, [`tree`] the JSON value-tree view
//! that `larq inspect --tree` prints, and [`error`] the one error type they share.
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! struct SomeJob { user_id: i64, some_param: String }
//!
//! let bytes = br#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:7;s:9:"someParam";s:2:"hi";}"#;
//! let job: SomeJob = larq::php::from_bytes(bytes).unwrap();
//! assert_eq!((job.user_id, job.some_param.as_str()), (7, "hi"));
//! ```

pub mod build;
pub mod de;
pub mod error;
pub mod float;
pub mod parse;
pub mod ser;
pub mod tree;
pub mod value;

pub use build::{parse_prefix, parse_value};
pub use de::{from_bytes, from_bytes_with, from_value, Deserializer};
pub use error::{Error, ErrorKind, Result};
pub use parse::{Limits, Token, Tokenizer};
pub use ser::{to_value, to_vec, to_vec_as, Serializer};
pub use value::{Custom, EnumCase, Float, Key, Object, Property, Value, Visibility};
