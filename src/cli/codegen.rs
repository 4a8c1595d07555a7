//! `larq codegen FILE`: from one captured payload (or a bare serialized command), print the Rust
//! twin of the job class: a `#[derive(Deserialize)]` struct with the serde attributes that make
//! larq's PHP deserializer fill it, nested structs for nested objects, enums for PHP enums, and an
//! `impl larq::job::Job` skeleton.
//!
//! Types are inferred from the values of that one sample: `i:` → `i64`, `d:` → `f64` (ints and
//! floats together → `f64`), `s:` → `String`, `b:` → `bool`, `N;` → `Option<T>` (T from other
//! samples of the same place, else `serde_json::Value`), dense arrays (`0..n-1`) → `Vec<T>`, other
//! arrays → `BTreeMap<i64|String, T>`, objects → structs, `E:` → enums, anything mixed →
//! `serde_json::Value` (larq's `php::Value` has no `Deserialize`; serde_json's value takes any
//! PHP value through `deserialize_any`). `r:`/`R:` references take the type of what they point to.
//! Laravel's Queueable properties of the job object are left out behind a comment: serde skips
//! properties a struct does not name.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::php::{Key, Value, Visibility};

use super::inspect;

/// The properties `Queueable` (and `Batchable`) add to every job: plumbing, not job data.
const QUEUEABLE: &[&str] = &[
    "job",
    "connection",
    "queue",
    "chainConnection",
    "chainQueue",
    "chainCatchCallbacks",
    "delay",
    "afterCommit",
    "middleware",
    "chained",
    "batchId",
];

/// `larq codegen`.
#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// A captured payload (the JSON stored in Redis or failed_jobs) or a bare serialized command,
    /// or `-` for standard input
    pub file: PathBuf,
    /// The app's APP_KEY (`base64:...`), to decrypt `ShouldBeEncrypted` commands [default: none]
    #[arg(long, env = "APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,
    /// Previous keys (APP_PREVIOUS_KEYS, comma separated), tried after the app key [default: none]
    #[arg(
        long,
        env = "APP_PREVIOUS_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub previous_keys: String,
    /// Read APP_KEY and APP_PREVIOUS_KEYS from the PHP app's .env file [default: none]
    #[arg(long = "env", value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// Run `larq codegen`.
pub fn run(args: CodegenArgs) -> Result<()> {
    let input = inspect::read_input(&args.file)?;
    let (key, previous) = inspect::load_keys(
        args.app_key.clone(),
        args.previous_keys.clone(),
        args.env_file.as_deref(),
    )?;
    let decoded = inspect::decode(&input, key.as_deref(), &previous)?;
    let Some(command) = decoded.command else {
        if decoded.encrypted {
            bail!("data.command is encrypted: pass --app-key or --env to decrypt it");
        }
        bail!("the payload has no data.command (a string payload has no job class to generate)");
    };
    print!("{}", generate(&command)?);
    Ok(())
}

/// Generate the Rust code for a serialized command.
pub fn generate(command: &[u8]) -> Result<String> {
    let value = Value::parse(command)
        .map_err(|e| anyhow::anyhow!(e))
        .context("data.command")?;
    let Value::Object(top) = &value else {
        bail!("data.command is not an object (O:...), so there is no job class to generate");
    };
    let mut gen = Gen::default();
    gen.collect_slots(&value);
    let top_class = top.class.to_string();
    let top_ty = gen.infer(&value, &mut HashSet::new());
    debug_assert!(matches!(top_ty, Ty::Struct(_)));
    Ok(gen.render(&top_class))
}

/// An inferred Rust type.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    /// No sample (elements of an empty array).
    Unknown,
    Null,
    Bool,
    Int,
    Float,
    Str,
    Seq(Box<Ty>),
    /// Map with integer keys only (`true`) or any keys.
    Map(bool, Box<Ty>),
    Struct(String),
    Enum(String),
    Opt(Box<Ty>),
    Any,
}

fn unify(a: Ty, b: Ty) -> Ty {
    use Ty::*;
    match (a, b) {
        (a, b) if a == b => a,
        (Unknown, x) | (x, Unknown) => x,
        (Null, Opt(x)) | (Opt(x), Null) => Opt(x),
        (Null, x) | (x, Null) => Opt(Box::new(x)),
        (Opt(a), Opt(b)) => Opt(Box::new(unify(*a, *b))),
        (Opt(a), b) | (b, Opt(a)) => Opt(Box::new(unify(*a, b))),
        (Int, Float) | (Float, Int) => Float,
        (Seq(a), Seq(b)) => Seq(Box::new(unify(*a, *b))),
        (Map(ka, a), Map(kb, b)) => Map(ka && kb, Box::new(unify(*a, *b))),
        // An empty array is both; a dense array is also a map with keys 0..n-1.
        (Seq(a), Map(k, b)) | (Map(k, b), Seq(a)) => Map(k, Box::new(unify(*a, *b))),
        _ => Any,
    }
}

#[derive(Debug, Default)]
struct Field {
    php_name: String,
    ty: Option<Ty>,
    visibility: Option<String>,
    /// Samples of the struct that had this property.
    seen: usize,
    /// The name occurred twice in one object (a parent's private and the child's own).
    duplicate: bool,
}

#[derive(Debug, Default)]
struct StructDef {
    class: String,
    fields: Vec<Field>,
    samples: usize,
    skipped: Vec<String>,
}

#[derive(Debug, Default)]
struct Gen<'v> {
    slots: Vec<Option<&'v Value<'v>>>,
    structs: Vec<StructDef>,
    enums: BTreeMap<String, BTreeSet<String>>,
    enum_order: Vec<String>,
    top: Option<String>,
}

impl<'v> Gen<'v> {
    /// Number values the way serialize() does, so `r:N`/`R:N` can be looked up: the top value is
    /// slot 1, every value after it takes the next, except `R:` references.
    fn collect_slots(&mut self, v: &'v Value<'v>) {
        if self.slots.is_empty() {
            self.slots.push(None);
        }
        if matches!(v, Value::ValueRef(_)) {
            return;
        }
        self.slots.push(Some(v));
        match v {
            Value::Array(items) => items.iter().for_each(|(_, x)| self.collect_slots(x)),
            Value::Object(o) => o.props.iter().for_each(|p| self.collect_slots(&p.value)),
            _ => {}
        }
    }

    fn infer(&mut self, v: &'v Value<'v>, following: &mut HashSet<u64>) -> Ty {
        match v {
            Value::Null => Ty::Null,
            Value::Bool(_) => Ty::Bool,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::String(_) => Ty::Str,
            Value::Array(items) => {
                if items.is_empty() {
                    return Ty::Seq(Box::new(Ty::Unknown));
                }
                let dense = items
                    .iter()
                    .enumerate()
                    .all(|(i, (k, _))| matches!(k, Key::Int(n) if *n == i as i64));
                let int_keys = items.iter().all(|(k, _)| matches!(k, Key::Int(_)));
                let mut elem = Ty::Unknown;
                for (_, x) in items {
                    let t = self.infer(x, following);
                    elem = unify(elem, t);
                }
                if dense {
                    Ty::Seq(Box::new(elem))
                } else {
                    Ty::Map(int_keys, Box::new(elem))
                }
            }
            Value::Object(o) => {
                let class = o.class.to_string();
                let is_top = self.top.is_none();
                if is_top {
                    self.top = Some(class.clone());
                }
                let idx = match self.structs.iter().position(|s| s.class == class) {
                    Some(i) => i,
                    None => {
                        self.structs.push(StructDef {
                            class: class.clone(),
                            ..StructDef::default()
                        });
                        self.structs.len() - 1
                    }
                };
                self.structs[idx].samples += 1;
                let mut seen_here: Vec<String> = Vec::new();
                for p in &o.props {
                    let name = String::from_utf8_lossy(p.name()).into_owned();
                    if is_top && QUEUEABLE.contains(&name.as_str()) {
                        if !self.structs[idx].skipped.contains(&name) {
                            self.structs[idx].skipped.push(name);
                        }
                        continue;
                    }
                    let ty = self.infer(&p.value, following);
                    let vis = match (&p.key, p.visibility()) {
                        (Key::Str(_), Visibility::Protected) => Some("protected".to_owned()),
                        (Key::Str(_), Visibility::Private) => Some(format!(
                            "private to {}",
                            p.declaring_class()
                                .map(String::from_utf8_lossy)
                                .unwrap_or_default()
                        )),
                        _ => None,
                    };
                    let def = &mut self.structs[idx];
                    if seen_here.contains(&name) {
                        if let Some(f) = def.fields.iter_mut().find(|f| f.php_name == name) {
                            f.duplicate = true;
                        }
                        continue;
                    }
                    seen_here.push(name.clone());
                    match def.fields.iter_mut().find(|f| f.php_name == name) {
                        Some(f) => {
                            f.ty = Some(match f.ty.take() {
                                Some(old) => unify(old, ty),
                                None => ty,
                            });
                            f.seen += 1;
                        }
                        None => def.fields.push(Field {
                            php_name: name,
                            ty: Some(ty),
                            visibility: vis,
                            seen: 1,
                            duplicate: false,
                        }),
                    }
                }
                Ty::Struct(class)
            }
            Value::Enum(e) => {
                let class = e.class.to_string();
                if !self.enums.contains_key(&class) {
                    self.enum_order.push(class.clone());
                }
                self.enums
                    .entry(class.clone())
                    .or_default()
                    .insert(e.case.to_string());
                Ty::Enum(class)
            }
            Value::Custom(_) => Ty::Any,
            Value::ObjectRef(n) | Value::ValueRef(n) => {
                if !following.insert(*n) {
                    return Ty::Any;
                }
                let target = self.slots.get(*n as usize).copied().flatten();
                let ty = match target {
                    // The referenced object was already described where it first appeared.
                    Some(Value::Object(o)) => Ty::Struct(o.class.to_string()),
                    Some(Value::Enum(e)) => Ty::Enum(e.class.to_string()),
                    Some(other) => self.infer(other, following),
                    None => Ty::Any,
                };
                following.remove(n);
                ty
            }
        }
    }

    fn render(&self, top_class: &str) -> String {
        let mut names = TypeNames::default();
        for s in &self.structs {
            names.assign(&s.class);
        }
        for e in &self.enum_order {
            names.assign(e);
        }
        let mut body = String::new();
        let mut uses_map = false;
        for s in &self.structs {
            self.render_struct(s, &names, &mut body, &mut uses_map);
        }
        for class in &self.enum_order {
            render_enum(class, &self.enums[class], &names, &mut body);
        }
        let top_name = names.get(top_class);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "// Generated by `larq codegen` from one `{top_class}` payload. Field types are inferred from\n\
             // the values in that payload: widen them if other dispatches carry other types (e.g. a\n\
             // property that can be null needs Option<T>). `serde_json::Value` marks mixed values."
        );
        out.push('\n');
        if uses_map {
            out.push_str("use std::collections::BTreeMap;\n\n");
        }
        out.push_str("use larq::job::{Job, JobContext, JobError};\nuse serde::Deserialize;\n\n");
        out.push_str(&body);
        let _ = write!(
            out,
            "impl Job for {top_name} {{\n    const CLASS: &'static str = \"{}\";\n\n    async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {{\n        // Port `{top_class}::handle()` here.\n        let _ = ctx;\n        Ok(())\n    }}\n}}\n",
            rust_str(top_class)
        );
        out
    }

    fn render_struct(&self, s: &StructDef, names: &TypeNames, out: &mut String, map: &mut bool) {
        let mut idents: Vec<String> = Vec::new();
        for f in &s.fields {
            let mut ident = field_ident(&f.php_name);
            let base = ident.clone();
            let mut n = 2;
            while idents.contains(&ident) {
                ident = format!("{base}_{n}");
                n += 1;
            }
            idents.push(ident);
        }
        let needs_rename = s
            .fields
            .iter()
            .zip(&idents)
            .any(|(f, id)| raw_name(id) != f.php_name);
        let camel_all = needs_rename
            && s.fields
                .iter()
                .zip(&idents)
                .all(|(f, id)| serde_camel(raw_name(id)) == f.php_name);
        let _ = writeln!(out, "/// `{}`.", s.class);
        out.push_str("#[derive(Debug, Deserialize)]\n");
        if camel_all {
            out.push_str("#[serde(rename_all = \"camelCase\")]\n");
        }
        let _ = writeln!(out, "pub struct {} {{", names.get(&s.class));
        for (f, ident) in s.fields.iter().zip(&idents) {
            let mut ty = f.ty.clone().unwrap_or(Ty::Unknown);
            if f.seen < s.samples && !matches!(ty, Ty::Opt(_) | Ty::Null) {
                ty = Ty::Opt(Box::new(ty)); // missing from some samples
            }
            let mut doc = format!("`${}`", f.php_name);
            if let Some(v) = &f.visibility {
                let _ = write!(doc, " ({v})");
            }
            if f.duplicate {
                doc.push_str(
                    "; the object has this name twice (a parent's private property and its own), serde gets the first",
                );
            }
            if ty == Ty::Null {
                doc.push_str("; always null in the sample, so its type is unknown");
            }
            let _ = writeln!(out, "    /// {doc}.");
            let explicit = if camel_all {
                serde_camel(raw_name(ident)) != f.php_name
            } else {
                raw_name(ident) != f.php_name
            };
            if explicit {
                let _ = writeln!(out, "    #[serde(rename = \"{}\")]", rust_str(&f.php_name));
            }
            let rendered = render_ty(&ty, names, map, Some(&s.class));
            let _ = writeln!(out, "    pub {ident}: {rendered},");
        }
        if !s.skipped.is_empty() {
            out.push_str(
                "    // Not fields: Laravel's Queueable properties (serde skips what a struct does not name):",
            );
            let mut line_len = 100;
            for (i, name) in s.skipped.iter().enumerate() {
                let sep = if i + 1 == s.skipped.len() { "." } else { "," };
                if line_len + name.len() + 2 > 96 {
                    out.push_str("\n    //");
                    line_len = 6;
                }
                let _ = write!(out, " {name}{sep}");
                line_len += name.len() + 2;
            }
            out.push('\n');
        }
        out.push_str("}\n\n");
    }
}

fn render_enum(class: &str, cases: &BTreeSet<String>, names: &TypeNames, out: &mut String) {
    let _ = writeln!(
        out,
        "/// `{class}` (only the cases seen in the sample are listed)."
    );
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]\n");
    let _ = writeln!(out, "pub enum {} {{", names.get(class));
    let mut used = Vec::new();
    for case in cases {
        let mut variant = type_ident(case);
        while used.contains(&variant) {
            variant.push('_');
        }
        used.push(variant.clone());
        if &variant != case {
            let _ = writeln!(out, "    #[serde(rename = \"{}\")]", rust_str(case));
        }
        let _ = writeln!(out, "    {variant},");
    }
    out.push_str("}\n\n");
}

/// `inside` is the struct being written while no `Vec`/`BTreeMap` lies in between: a field of its
/// own type there must be boxed, or the struct would have an infinite size.
fn render_ty(ty: &Ty, names: &TypeNames, map: &mut bool, inside: Option<&str>) -> String {
    match ty {
        Ty::Unknown | Ty::Any => "serde_json::Value".to_owned(),
        Ty::Null => "Option<serde_json::Value>".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::Int => "i64".to_owned(),
        Ty::Float => "f64".to_owned(),
        Ty::Str => "String".to_owned(),
        Ty::Seq(t) => format!("Vec<{}>", render_ty(t, names, map, None)),
        Ty::Map(int_keys, t) => {
            *map = true;
            let k = if *int_keys { "i64" } else { "String" };
            format!("BTreeMap<{k}, {}>", render_ty(t, names, map, None))
        }
        Ty::Struct(c) if inside == Some(c.as_str()) => format!("Box<{}>", names.get(c)),
        Ty::Struct(c) | Ty::Enum(c) => names.get(c),
        Ty::Opt(t) => match **t {
            Ty::Opt(_) => render_ty(t, names, map, inside),
            _ => format!("Option<{}>", render_ty(t, names, map, inside)),
        },
    }
}

/// Rust type names for PHP classes: the short class name, numbered when two namespaces collide.
#[derive(Debug, Default)]
struct TypeNames {
    by_class: BTreeMap<String, String>,
}

impl TypeNames {
    fn assign(&mut self, class: &str) {
        if self.by_class.contains_key(class) {
            return;
        }
        let short = class.rsplit('\\').next().unwrap_or(class);
        let base = type_ident(short);
        let mut name = base.clone();
        let mut n = 2;
        while self.by_class.values().any(|v| v == &name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.by_class.insert(class.to_owned(), name);
    }

    fn get(&self, class: &str) -> String {
        self.by_class
            .get(class)
            .cloned()
            .unwrap_or_else(|| "serde_json::Value".to_owned())
    }
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "typeof", "unsized", "virtual", "yield", "try", "union",
];

/// A snake_case field name for a PHP property name (`userId` → `user_id`, `URLPath` → `url_path`);
/// keywords get a trailing `_`, names starting with a digit a `field_` prefix.
fn field_ident(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() {
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let next = chars.get(i + 1).copied();
                let boundary = match prev {
                    Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                    Some(p) if p.is_ascii_uppercase() => {
                        next.is_some_and(|n| n.is_ascii_lowercase())
                    }
                    _ => false,
                };
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_owned();
    if out.is_empty() {
        out = "field".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("field_{out}");
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// The name serde sees for a field ident (it is the ident itself; kept as a function so the
/// comparison reads as what it is).
fn raw_name(ident: &str) -> &str {
    ident
}

/// serde's `rename_all = "camelCase"` applied to a snake_case field name.
fn serde_camel(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A CamelCase type or variant name for a PHP class or enum case name.
fn type_ident(name: &str) -> String {
    let valid = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if valid {
        return name.to_owned();
    }
    let mut out = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            let rest: String = chars.collect();
            if word.chars().all(|c| !c.is_ascii_lowercase()) {
                out.push_str(&rest.to_ascii_lowercase());
            } else {
                out.push_str(&rest);
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("T{out}");
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// Text for a Rust string literal.
fn rust_str(s: &str) -> String {
    s.escape_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        assert_eq!(field_ident("userId"), "user_id");
        assert_eq!(field_ident("URLPath"), "url_path");
        assert_eq!(field_ident("emptyArray"), "empty_array");
        assert_eq!(field_ident("priv"), "priv_");
        assert_eq!(field_ident("0"), "field_0");
        assert_eq!(field_ident("snake_case"), "snake_case");
        assert_eq!(field_ident(""), "field");
        assert_eq!(serde_camel("user_id"), "userId");
        assert_eq!(serde_camel("priv_"), "priv");
        assert_eq!(type_ident("SomeJob"), "SomeJob");
        assert_eq!(type_ident("ACTIVE"), "Active");
        assert_eq!(type_ident("in_progress"), "InProgress");
    }

    #[test]
    fn unify_rules() {
        assert_eq!(unify(Ty::Null, Ty::Int), Ty::Opt(Box::new(Ty::Int)));
        assert_eq!(unify(Ty::Int, Ty::Float), Ty::Float);
        assert_eq!(unify(Ty::Str, Ty::Int), Ty::Any);
        assert_eq!(
            unify(
                Ty::Seq(Box::new(Ty::Unknown)),
                Ty::Map(false, Box::new(Ty::Str))
            ),
            Ty::Map(false, Box::new(Ty::Str))
        );
    }

    #[test]
    fn snake_names_need_no_attributes_and_mixed_names_get_renames() {
        let code =
            generate(br#"O:7:"App\A\J":3:{s:7:"user_id";i:1;s:6:"camelX";i:2;s:3:"job";N;}"#)
                .unwrap();
        assert!(!code.contains("rename_all"), "{code}");
        assert!(
            code.contains("#[serde(rename = \"camelX\")]\n    pub camel_x: i64,"),
            "{code}"
        );
        assert!(code.contains("pub user_id: i64,"), "{code}");
        assert!(code.contains("not name):\n    // job."), "{code}");
        assert!(
            code.contains("const CLASS: &'static str = \"App\\\\A\\\\J\";"),
            "{code}"
        );
    }

    #[test]
    fn refs_take_the_referenced_type() {
        let code =
            generate(br#"O:1:"J":3:{s:1:"a";O:1:"M":1:{s:1:"v";i:1;}s:1:"b";r:2;s:1:"c";R:3;}"#)
                .unwrap();
        assert!(code.contains("pub a: M,"), "{code}");
        assert!(code.contains("pub b: M,"), "{code}");
        assert!(code.contains("pub c: i64,"), "{code}");
    }
}
