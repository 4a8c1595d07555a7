//! `larq inspect`: print a job payload the way an operator needs to read it.
//!
//! Input is either a Laravel payload (the JSON stored in Redis or a `jobs` row; its `data.command`
//! is decoded, decrypted first when a key is at hand) or a bare serialized string. `--tree` prints
//! the lossless value tree (`docs/value-tree.md`), the contract tests and tools consume; without it
//! the output is an indented dump meant for eyes.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};

use crate::crypt::Encrypter;
use crate::display::{printable, FIELD_LIMIT};
use crate::php::{self, Key, Value};

/// Arguments of `larq inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A payload file, or `-` for standard input.
    pub file: PathBuf,
    /// Print the lossless JSON value tree instead of the readable dump.
    #[arg(long)]
    pub tree: bool,
    /// The app's APP_KEY (`base64:...`), to decrypt `ShouldBeEncrypted` commands.
    #[arg(long, env = "APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,
    /// Previous keys (`APP_PREVIOUS_KEYS`, comma separated), tried after the app key.
    #[arg(
        long,
        env = "APP_PREVIOUS_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub previous_keys: String,
    /// Read APP_KEY and APP_PREVIOUS_KEYS from the PHP app's `.env` file.
    #[arg(long = "env", value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// What the input turned out to be, decoded.
pub(crate) struct Decoded {
    /// The payload JSON, when the input was one.
    pub(crate) payload: Option<Json>,
    /// The serialized command bytes (after decryption), or None when it stayed encrypted.
    pub(crate) command: Option<Vec<u8>>,
    /// Whether data.command was encrypted.
    pub(crate) encrypted: bool,
}

/// Run `larq inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let input = read_input(&args.file)?;
    let (app_key, previous) = keys(&args)?;
    let decoded = decode(&input, app_key.as_deref(), &previous)?;
    let command = match &decoded.command {
        Some(bytes) => Some(
            Value::parse(bytes)
                .map_err(|e| anyhow::anyhow!(e))
                .context(if decoded.payload.is_some() {
                    "data.command"
                } else {
                    "serialized value"
                })?,
        ),
        None => None,
    };
    if args.tree {
        let command_node = match &command {
            Some(v) => php::tree::to_tree(v),
            None if decoded.encrypted => json!({"t": "encrypted"}),
            None => Json::Null,
        };
        let out = json!({"payload": decoded.payload.clone().unwrap_or(Json::Null), "command": command_node});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut out = String::new();
    if let Some(payload) = &decoded.payload {
        print_payload(&mut out, payload);
    }
    match &command {
        Some(v) => {
            if decoded.encrypted {
                out.push_str("command (decrypted):\n");
            } else if decoded.payload.is_some() {
                out.push_str("command:\n");
            }
            dump(&mut out, v, 0);
            out.push('\n');
        }
        None if decoded.encrypted => {
            out.push_str("command: encrypted (pass --app-key or --env to decrypt)\n")
        }
        None => out.push_str("command: none (a string payload; its data is shown above)\n"),
    }
    print!("{out}");
    Ok(())
}

pub(crate) fn read_input(file: &PathBuf) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        buf = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(buf)
}

fn keys(args: &InspectArgs) -> Result<(Option<String>, String)> {
    load_keys(
        args.app_key.clone(),
        args.previous_keys.clone(),
        args.env_file.as_deref(),
    )
}

/// APP_KEY and APP_PREVIOUS_KEYS from flags (or their variables), else from the app's `.env`.
pub(crate) fn load_keys(
    mut key: Option<String>,
    mut previous: String,
    env_file: Option<&std::path::Path>,
) -> Result<(Option<String>, String)> {
    if let Some(path) = env_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let Some((name, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
            match name.trim() {
                "APP_KEY" if key.is_none() => key = Some(value),
                "APP_PREVIOUS_KEYS" if previous.is_empty() => previous = value,
                _ => {}
            }
        }
    }
    Ok((key.filter(|k| !k.is_empty()), previous))
}

pub(crate) fn decode(input: &[u8], app_key: Option<&str>, previous: &str) -> Result<Decoded> {
    let trimmed = input.trim_ascii();
    if !trimmed.starts_with(b"{") {
        // A bare serialized value (e.g. a `data.command` copied out by hand).
        return Ok(Decoded {
            payload: None,
            command: Some(trimmed.to_vec()),
            encrypted: false,
        });
    }
    let payload: Json = serde_json::from_slice(trimmed).context("the payload is not valid JSON")?;
    let Some(command) = payload.pointer("/data/command") else {
        // String payloads (`Queue::push('Class@method', $data)`) carry plain JSON data, no command.
        if payload.get("data").is_some() {
            return Ok(Decoded {
                payload: Some(payload),
                command: None,
                encrypted: false,
            });
        }
        bail!("the payload has no data.command");
    };
    let Some(command) = command.as_str() else {
        bail!("data.command is not a string")
    };
    // Laravel's own test (CallQueuedHandler::getCommand): plaintext commands start with `O:`.
    if command.starts_with("O:") {
        return Ok(Decoded {
            payload: Some(payload.clone()),
            command: Some(command.as_bytes().to_vec()),
            encrypted: false,
        });
    }
    let Some(key) = app_key else {
        return Ok(Decoded {
            payload: Some(payload.clone()),
            command: None,
            encrypted: true,
        });
    };
    let enc = Encrypter::new(key, previous, None).context("APP_KEY")?;
    let plain = enc
        .decrypt_command(command)
        .context("decrypting data.command")?;
    Ok(Decoded {
        payload: Some(payload.clone()),
        command: Some(plain),
        encrypted: true,
    })
}

pub(crate) fn print_payload(out: &mut String, payload: &Json) {
    out.push_str("payload:\n");
    if let Json::Object(map) = payload {
        let width = map.keys().map(|k| k.len()).max().unwrap_or(0).max(11);
        for (k, v) in map {
            if k == "data" {
                if let Some(name) = v.get("commandName").and_then(Json::as_str) {
                    let name = printable(name, FIELD_LIMIT);
                    out.push_str(&format!("  {:width$}  {name}\n", "commandName"));
                }
                continue;
            }
            // Keys and values are the producer's: one line each, no control bytes.
            let k = printable(k, FIELD_LIMIT);
            match v {
                Json::String(text) => {
                    let text = printable(text, FIELD_LIMIT);
                    out.push_str(&format!("  {k:width$}  {text}\n"))
                }
                other => out.push_str(&format!("  {k:width$}  {other}\n")),
            }
        }
    }
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('"');
    s
}

/// Readable dump: one member per line, PHP-like notation.
pub(crate) fn dump(out: &mut String, v: &Value<'_>, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&f.repr),
        Value::String(s) => {
            out.push_str(&quote(s));
            // A serialized object inside a string (chained jobs, encrypted layers): show it too.
            if s.starts_with(b"O:") {
                if let Ok(inner) = Value::parse(s) {
                    out.push_str(" = serialized ");
                    dump(out, &inner, level);
                }
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (k, v) in items {
                indent(out, level + 1);
                match k {
                    Key::Int(i) => out.push_str(&i.to_string()),
                    Key::Str(s) => out.push_str(&quote(s)),
                }
                out.push_str(" => ");
                dump(out, v, level + 1);
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(o) => {
            out.push_str(&o.class);
            if o.props.is_empty() {
                out.push_str(" {}");
                return;
            }
            out.push_str(" {\n");
            for p in &o.props {
                indent(out, level + 1);
                match &p.key {
                    Key::Int(i) => out.push_str(&i.to_string()),
                    Key::Str(_) => {
                        out.push_str(&String::from_utf8_lossy(p.name()));
                        match p.visibility() {
                            php::Visibility::Public => {}
                            php::Visibility::Protected => out.push_str(" (protected)"),
                            php::Visibility::Private => {
                                let class = p
                                    .declaring_class()
                                    .map(String::from_utf8_lossy)
                                    .unwrap_or_default();
                                out.push_str(&format!(" (private {class})"));
                            }
                        }
                    }
                }
                out.push_str(": ");
                dump(out, &p.value, level + 1);
                out.push('\n');
            }
            indent(out, level);
            out.push('}');
        }
        Value::Enum(e) => out.push_str(&format!("{}::{}", e.class, e.case)),
        Value::Custom(c) => out.push_str(&format!("{} (Serializable) {}", c.class, quote(&c.data))),
        Value::ObjectRef(n) => out.push_str(&format!("*same object as slot {n}*")),
        Value::ValueRef(n) => out.push_str(&format!("&reference to slot {n}")),
    }
}
