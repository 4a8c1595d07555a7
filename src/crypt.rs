//! Laravel's `Encrypter`, for jobs that implement `ShouldBeEncrypted`.
//!
//! Laravel stores such a job's `data.command` as `base64(JSON{iv, value, mac, tag})`: AES-CBC with
//! an HMAC-SHA256 over the base64 `iv` and `value` strings (hex, lowercase), or AES-GCM with the
//! tag and no MAC. The plaintext is serialized twice (`s:N:"O:...";`), because `encrypt()` calls
//! `serialize()` on the already-serialized command; [`Encrypter::decrypt_command`] peels both layers.
//!
//! Keys come from `APP_KEY` (with the `base64:` prefix, as Laravel writes it) and
//! `APP_PREVIOUS_KEYS` (comma separated, Laravel 11+): decryption tries each key in turn, the way
//! Laravel does, so a key rotation does not strand queued jobs. Only RustCrypto crates do the
//! cryptography; the MAC comparison is constant time.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, KeyInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::php;

/// Why a payload could not be decrypted (or a key not used).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptError {
    /// The key is neither 16 nor 32 bytes, or its `base64:` part does not decode.
    #[error("invalid app key: {0}")]
    InvalidKey(String),
    /// The envelope is not base64 JSON with `iv`, `value` and `mac`.
    #[error("the payload is invalid: {0}")]
    InvalidPayload(String),
    /// No key's MAC matched: wrong `APP_KEY`, or the payload was tampered with.
    #[error("the MAC is invalid (wrong APP_KEY or tampered payload)")]
    InvalidMac,
    /// The cipher rejected the data (bad padding, or a GCM tag that does not verify).
    #[error("could not decrypt the data (wrong APP_KEY or tampered payload)")]
    DecryptFailed,
    /// The plaintext is not the PHP string Laravel wraps commands in.
    #[error("decrypted data is not a serialized string: {0}")]
    Unserialize(#[from] php::Error),
    /// The system random generator failed.
    #[error("no randomness for an IV: {0}")]
    Random(String),
}

/// The four ciphers Laravel's Encrypter supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// `AES-128-CBC` (16-byte key)
    Aes128Cbc,
    /// `AES-256-CBC` (32-byte key), the skeleton's default
    Aes256Cbc,
    /// `AES-128-GCM` (16-byte key)
    Aes128Gcm,
    /// `AES-256-GCM` (32-byte key)
    Aes256Gcm,
}

impl Cipher {
    /// Parse Laravel's `app.cipher` name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Cipher> {
        match name.to_ascii_lowercase().as_str() {
            "aes-128-cbc" => Some(Cipher::Aes128Cbc),
            "aes-256-cbc" => Some(Cipher::Aes256Cbc),
            "aes-128-gcm" => Some(Cipher::Aes128Gcm),
            "aes-256-gcm" => Some(Cipher::Aes256Gcm),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Cbc | Cipher::Aes128Gcm => 16,
            Cipher::Aes256Cbc | Cipher::Aes256Gcm => 32,
        }
    }

    fn is_gcm(self) -> bool {
        matches!(self, Cipher::Aes128Gcm | Cipher::Aes256Gcm)
    }
}

/// Parse an `APP_KEY` value: `base64:...` is decoded, anything else is used as raw bytes.
pub fn parse_key(key: &str) -> Result<Vec<u8>, CryptError> {
    let key = key.trim();
    let bytes = match key.strip_prefix("base64:") {
        Some(b64) => B64
            .decode(b64)
            .map_err(|e| CryptError::InvalidKey(format!("base64: {e}")))?,
        None => key.as_bytes().to_vec(),
    };
    match bytes.len() {
        16 | 32 => Ok(bytes),
        n => Err(CryptError::InvalidKey(format!(
            "{n} bytes; AES needs 16 or 32"
        ))),
    }
}

/// Laravel's encrypter: one current key (used to encrypt) and any previous keys (also tried when
/// decrypting).
#[derive(Clone)]
pub struct Encrypter {
    keys: Vec<Vec<u8>>,
    cipher: Cipher,
}

impl std::fmt::Debug for Encrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Encrypter")
            .field("cipher", &self.cipher)
            .field("keys", &self.keys.len())
            .finish()
    }
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Envelope {
    iv: String,
    value: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    tag: String,
}

type HmacSha256 = Hmac<Sha256>;

impl Encrypter {
    /// An encrypter for `APP_KEY` and `APP_PREVIOUS_KEYS` (comma separated, may be empty). The
    /// cipher defaults to AES-CBC of the key's size, as in Laravel's skeleton config.
    pub fn new(
        app_key: &str,
        previous_keys: &str,
        cipher: Option<Cipher>,
    ) -> Result<Self, CryptError> {
        let mut keys = vec![parse_key(app_key)?];
        for k in previous_keys
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            keys.push(parse_key(k)?);
        }
        let cipher = cipher.unwrap_or(if keys[0].len() == 16 {
            Cipher::Aes128Cbc
        } else {
            Cipher::Aes256Cbc
        });
        if keys[0].len() != cipher.key_len() {
            return Err(CryptError::InvalidKey(format!(
                "{} bytes does not fit {cipher:?}",
                keys[0].len()
            )));
        }
        Ok(Encrypter { keys, cipher })
    }

    /// Decrypt a Laravel envelope to the raw plaintext bytes (still PHP-serialized).
    pub fn decrypt(&self, payload: &str) -> Result<Vec<u8>, CryptError> {
        let json = B64
            .decode(payload.trim())
            .map_err(|e| CryptError::InvalidPayload(format!("not base64: {e}")))?;
        let env: Envelope = serde_json::from_slice(&json)
            .map_err(|e| CryptError::InvalidPayload(format!("not the iv/value/mac JSON: {e}")))?;
        let iv = B64
            .decode(&env.iv)
            .map_err(|e| CryptError::InvalidPayload(format!("iv: {e}")))?;
        let data = B64
            .decode(&env.value)
            .map_err(|e| CryptError::InvalidPayload(format!("value: {e}")))?;
        let gcm = !env.tag.is_empty();
        if gcm {
            let tag = B64
                .decode(&env.tag)
                .map_err(|e| CryptError::InvalidPayload(format!("tag: {e}")))?;
            if iv.len() != 12 || tag.len() != 16 {
                return Err(CryptError::InvalidPayload(
                    "GCM needs a 12-byte iv and a 16-byte tag".into(),
                ));
            }
            let mut sealed = data.clone();
            sealed.extend_from_slice(&tag);
            for key in &self.keys {
                if let Some(plain) = gcm_open(key, &iv, &sealed) {
                    return Ok(plain);
                }
            }
            return Err(CryptError::DecryptFailed);
        }
        if iv.len() != 16 {
            return Err(CryptError::InvalidPayload(format!(
                "CBC needs a 16-byte iv, got {}",
                iv.len()
            )));
        }
        // PHP compares its own lower-case hex HMAC with `hash_equals`, so any other spelling of
        // the same bytes (upper case, a sign) is an invalid MAC there, and so here.
        let mac = decode_hex(&env.mac).ok_or(CryptError::InvalidMac)?;
        for key in &self.keys {
            let mut h = <HmacSha256 as Mac>::new_from_slice(key)
                .map_err(|e| CryptError::InvalidKey(e.to_string()))?;
            h.update(env.iv.as_bytes());
            h.update(env.value.as_bytes());
            if h.verify_slice(&mac).is_ok() {
                return cbc_decrypt(key, &iv, &data).ok_or(CryptError::DecryptFailed);
            }
        }
        Err(CryptError::InvalidMac)
    }

    /// Decrypt a `data.command` and remove Laravel's extra serialization layer, giving the
    /// serialized job object (`O:...`).
    pub fn decrypt_command(&self, command: &str) -> Result<Vec<u8>, CryptError> {
        let plain = self.decrypt(command)?;
        match php::Value::parse(&plain)? {
            php::Value::String(inner) => Ok(inner.into_owned()),
            other => Err(CryptError::InvalidPayload(format!(
                "expected the serialized command as a PHP string, found {}",
                other.type_name()
            ))),
        }
    }

    /// Encrypt raw plaintext bytes into a Laravel envelope (with a fresh random IV).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, CryptError> {
        let key = &self.keys[0];
        let mut iv = vec![0u8; if self.cipher.is_gcm() { 12 } else { 16 }];
        getrandom::getrandom(&mut iv).map_err(|e| CryptError::Random(e.to_string()))?;
        let iv_b64 = B64.encode(&iv);
        let env = if self.cipher.is_gcm() {
            let mut sealed = gcm_seal(key, &iv, plaintext).ok_or(CryptError::DecryptFailed)?;
            let tag = sealed.split_off(sealed.len() - 16);
            Envelope {
                iv: iv_b64,
                value: B64.encode(&sealed),
                mac: String::new(),
                tag: B64.encode(tag),
            }
        } else {
            let value = B64.encode(cbc_encrypt(key, &iv, plaintext));
            let mut h = <HmacSha256 as Mac>::new_from_slice(key)
                .map_err(|e| CryptError::InvalidKey(e.to_string()))?;
            h.update(iv_b64.as_bytes());
            h.update(value.as_bytes());
            let mac = encode_hex(&h.finalize().into_bytes());
            Envelope {
                iv: iv_b64,
                value,
                mac,
                tag: String::new(),
            }
        };
        // Laravel writes JSON_UNESCAPED_SLASHES; serde_json never escapes '/', so it matches.
        let json =
            serde_json::to_vec(&env).map_err(|e| CryptError::InvalidPayload(e.to_string()))?;
        Ok(B64.encode(json))
    }

    /// Encrypt a serialized job object the way `ShouldBeEncrypted` does (wrapping it in a PHP string
    /// first).
    pub fn encrypt_command(&self, serialized_command: &[u8]) -> Result<String, CryptError> {
        let mut wrapped = Vec::with_capacity(serialized_command.len() + 16);
        php::Value::String(std::borrow::Cow::Borrowed(serialized_command)).write_to(&mut wrapped);
        self.encrypt(&wrapped)
    }
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut buf = data.to_vec();
    let len = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?
            .len(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?
            .len(),
        _ => return None,
    };
    buf.truncate(len);
    Some(buf)
}

fn cbc_encrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    buf.resize(data.len() + 16 - data.len() % 16, 0);
    let len = match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()
            .and_then(|c| {
                c.encrypt_padded_mut::<Pkcs7>(&mut buf, data.len())
                    .ok()
                    .map(|c| c.len())
            }),
        _ => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()
            .and_then(|c| {
                c.encrypt_padded_mut::<Pkcs7>(&mut buf, data.len())
                    .ok()
                    .map(|c| c.len())
            }),
    };
    buf.truncate(len.unwrap_or(0));
    buf
}

fn gcm_open(key: &[u8], iv: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let nonce = aes_gcm::Nonce::from_slice(iv);
    match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, sealed)
            .ok(),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, sealed)
            .ok(),
        _ => None,
    }
}

fn gcm_seal(key: &[u8], iv: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    let nonce = aes_gcm::Nonce::from_slice(iv);
    match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .ok()?
            .encrypt(nonce, plain)
            .ok(),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .ok()?
            .encrypt(nonce, plain)
            .ok(),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Lower-case hex only, as PHP's `hash_hmac` writes it.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn hex_is_lower_case_only() {
        assert_eq!(decode_hex("00ff7a"), Some(vec![0, 255, 0x7a]));
        for bad in ["00FF", "+f", "0", "zz"] {
            assert_eq!(decode_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn cbc_and_gcm_round_trip_and_reject_tampering() {
        for cipher in [Cipher::Aes256Cbc, Cipher::Aes256Gcm] {
            let e = Encrypter::new(KEY, "", Some(cipher)).unwrap();
            let sealed = e.encrypt_command(b"O:8:\"stdClass\":0:{}").unwrap();
            assert_eq!(
                e.decrypt_command(&sealed).unwrap(),
                b"O:8:\"stdClass\":0:{}"
            );
            // Flip one character of the ciphertext inside the envelope.
            let json = String::from_utf8(B64.decode(&sealed).unwrap()).unwrap();
            let mut env: serde_json::Value = serde_json::from_str(&json).unwrap();
            let v = env["value"].as_str().unwrap().to_owned();
            let flipped = if v.starts_with('A') {
                v.replacen('A', "B", 1)
            } else {
                format!("A{}", &v[1..])
            };
            env["value"] = flipped.into();
            let bad = B64.encode(env.to_string());
            assert!(
                e.decrypt(&bad).is_err(),
                "{cipher:?} accepted a tampered payload"
            );
        }
    }

    #[test]
    fn wrong_key_says_so_and_previous_keys_work() {
        let old = Encrypter::new(KEY, "", None).unwrap();
        let sealed = old.encrypt(b"s:1:\"x\";").unwrap();
        let other = Encrypter::new(
            "base64:HxkaGxwdHh8QERITFBUWFwgJCgsMDQ4PAAECAwQFBgc=",
            "",
            None,
        )
        .unwrap();
        assert_eq!(
            other.decrypt(&sealed).unwrap_err().to_string(),
            "the MAC is invalid (wrong APP_KEY or tampered payload)"
        );
        let rotated = Encrypter::new(
            "base64:HxkaGxwdHh8QERITFBUWFwgJCgsMDQ4PAAECAwQFBgc=",
            KEY,
            None,
        )
        .unwrap();
        assert_eq!(rotated.decrypt(&sealed).unwrap(), b"s:1:\"x\";");
    }

    #[test]
    fn key_parsing() {
        assert_eq!(parse_key(KEY).unwrap().len(), 32);
        assert_eq!(parse_key("0123456789abcdef").unwrap().len(), 16);
        assert!(parse_key("short").is_err());
        assert!(parse_key("base64:!!!").is_err());
    }
}
