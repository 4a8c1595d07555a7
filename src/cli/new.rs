//! `larq new DIR`: scaffold the crate a deployment builds, so a team starts from something that
//! already compiles, decodes its own captured payloads and works the app's queue, instead of
//! assembling `Cargo.toml`, `main.rs` and the job structs from the guide by hand.
//!
//! The crate has one module per job class, generated from captured payloads by the same code as
//! `larq codegen` (several payloads of one class widen one struct), a `main.rs` that registers
//! them all with `larq::cli::run`, a test that decodes every captured payload into its struct,
//! and a README with the next steps. Without `--payload` the module is the SomeJob example, so
//! the crate still builds and runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::codegen::{self, Handler, JobModule};
use super::inspect;
use crate::payload::Payload;

/// `larq new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The directory to create (it may exist if empty); its name is the crate's name
    pub dir: PathBuf,
    /// A captured payload (the JSON `redis-cli LRANGE` prints, or a failed_jobs payload); repeat
    /// it for every job class [default: the SomeJob example]
    #[arg(long = "payload", value_name = "FILE")]
    pub payloads: Vec<PathBuf>,
    /// Depend on a larq checkout at PATH instead of on larq's version from the registry
    #[arg(long, value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// One captured payload: its file as given (copied into the crate as is) and its job object.
struct Sample {
    source: String,
    bytes: Vec<u8>,
    command: Vec<u8>,
}

/// One job class: its module and the payloads it came from.
struct JobCrateModule {
    module: String,
    job: JobModule,
    /// File names under `tests/payloads/`, with the bytes to write there.
    payloads: Vec<(String, Vec<u8>)>,
}

/// Run `larq new`.
pub fn run(args: NewArgs) -> Result<()> {
    check_empty(&args.dir)?;
    let name = crate_name(&args.dir)?;
    let larq_dep = match &args.path {
        Some(path) => {
            let path =
                std::path::absolute(path).with_context(|| format!("--path {}", path.display()))?;
            if !path.join("Cargo.toml").is_file() {
                bail!(
                    "--path {}: no Cargo.toml there (it should be a larq checkout)",
                    path.display()
                );
            }
            format!("{{ path = {} }}", toml_str(&path.to_string_lossy()))
        }
        None => toml_str(env!("CARGO_PKG_VERSION")),
    };
    // Everything is read and generated before the first file is written, so a bad payload leaves
    // no half-made crate behind.
    let samples = if args.payloads.is_empty() {
        vec![example_sample()]
    } else {
        args.payloads
            .iter()
            .map(|p| read_sample(p))
            .collect::<Result<Vec<_>>>()?
    };
    let modules = job_modules(samples)?;
    // Cargo refuses to build a package that sits under another workspace's root without being one
    // of its members; an empty [workspace] makes the new crate its own root there. Elsewhere the
    // table would only be noise.
    let workspace = std::path::absolute(&args.dir)
        .ok()
        .is_some_and(|dir| inside_workspace(&dir));

    let dir = &args.dir;
    std::fs::create_dir_all(dir.join("src"))
        .and_then(|()| std::fs::create_dir_all(dir.join("tests/payloads")))
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![
        (
            dir.join("Cargo.toml"),
            cargo_toml(&name, &larq_dep, workspace).into_bytes(),
        ),
        (dir.join(".gitignore"), b"/target\n".to_vec()),
        (dir.join("src/main.rs"), main_rs(&modules).into_bytes()),
        (
            dir.join("tests/payloads.rs"),
            payloads_test(&modules).into_bytes(),
        ),
        (dir.join("README.md"), readme(&name, &modules).into_bytes()),
    ];
    for m in &modules {
        files.push((
            dir.join("src").join(format!("{}.rs", m.module)),
            module_file(m).into_bytes(),
        ));
        for (file, bytes) in &m.payloads {
            files.push((dir.join("tests/payloads").join(file), bytes.clone()));
        }
    }
    for (path, bytes) in files {
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("Created the crate {name} in {}:", dir.display());
    for m in &modules {
        println!(
            "  src/{}.rs  {}  ({})",
            m.module, m.job.type_name, m.job.class
        );
    }
    println!(
        "Next: cd {} && cargo test && cargo run -- work --env /path/to/app/.env",
        dir.display()
    );
    Ok(())
}

/// A new crate goes into a fresh directory: writing over someone's files is never what was meant.
fn check_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} exists and is not empty", dir.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{} is not a directory to create", dir.display())),
    }
}

/// The package name: DIR's last component, made into what cargo accepts (letters, digits, `-`,
/// `_`, not starting with a digit).
fn crate_name(dir: &Path) -> Result<String> {
    let absolute = std::path::absolute(dir).with_context(|| dir.display().to_string())?;
    let Some(last) = absolute.file_name() else {
        bail!("{} has no name to give the crate", dir.display());
    };
    let mut name: String = last
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        bail!(
            "{}: the directory name has nothing cargo accepts as a package name",
            dir.display()
        );
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "backend-");
    }
    Ok(name)
}

/// Read a captured payload and take its job object out.
fn read_sample(path: &Path) -> Result<Sample> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = || format!("--payload {}", path.display());
    let decoded = inspect::decode(&bytes, None, "").with_context(what)?;
    if decoded.payload.is_none() {
        bail!(
            "{}: not a Laravel payload (JSON with data.command); the crate's test needs the whole payload",
            what()
        );
    }
    let Some(command) = decoded.command else {
        if decoded.encrypted {
            bail!(
                "{}: data.command is encrypted (ShouldBeEncrypted); generate that job with \
                 `larq codegen --env /path/to/app/.env FILE` and add it by hand (the README says how)",
                what()
            );
        }
        bail!(
            "{}: the payload has no data.command (a string payload has no job class to generate)",
            what()
        );
    };
    Ok(Sample {
        source: path.display().to_string(),
        bytes,
        command,
    })
}

/// The SomeJob example: a payload of the shape Laravel 8 pushes for `SomeJob::dispatch(42,
/// 'hello')`, so the crate without `--payload` has a job, and its test has a payload to decode.
fn example_sample() -> Sample {
    let command = concat!(
        r#"O:16:"App\Jobs\SomeJob":12:{s:6:"userId";i:42;s:9:"someParam";s:5:"hello";"#,
        r#"s:3:"job";N;s:10:"connection";N;s:5:"queue";N;s:15:"chainConnection";N;"#,
        r#"s:10:"chainQueue";N;s:19:"chainCatchCallbacks";N;s:5:"delay";N;"#,
        r#"s:11:"afterCommit";N;s:10:"middleware";a:0:{}s:7:"chained";a:0:{}}"#,
    );
    let mut bytes = Payload::for_command("App\\Jobs\\SomeJob", command)
        .to_json()
        .into_bytes();
    bytes.push(b'\n');
    Sample {
        source: "the SomeJob example".to_owned(),
        bytes,
        command: command.as_bytes().to_vec(),
    }
}

/// Group the samples by class (first appearance first) and generate one module per class.
fn job_modules(samples: Vec<Sample>) -> Result<Vec<JobCrateModule>> {
    let mut groups: Vec<(String, Vec<Sample>)> = Vec::new();
    for sample in samples {
        let class = codegen::command_class(&sample.command)
            .with_context(|| format!("--payload {}", sample.source))?;
        match groups.iter_mut().find(|(c, _)| *c == class) {
            Some((_, group)) => group.push(sample),
            None => groups.push((class, vec![sample])),
        }
    }
    let mut modules: Vec<JobCrateModule> = Vec::new();
    for (class, group) in groups {
        let commands: Vec<&[u8]> = group.iter().map(|s| s.command.as_slice()).collect();
        let job = codegen::generate_module(&commands, Handler::Show)
            .with_context(|| format!("generating {class}"))?;
        let base = module_name(&class);
        let mut module = base.clone();
        let mut n = 2;
        while modules.iter().any(|m| m.module == module) {
            module = format!("{base}_{n}");
            n += 1;
        }
        let payloads = group
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let file = if i == 0 {
                    format!("{module}.json")
                } else {
                    format!("{module}-{}.json", i + 1)
                };
                (file, s.bytes)
            })
            .collect();
        modules.push(JobCrateModule {
            module,
            job,
            payloads,
        });
    }
    Ok(modules)
}

/// Module names a job's module must not take: `main.rs` itself, and the crates the generated code
/// names by path (a module `serde` would make `use serde::Deserialize` ambiguous).
const TAKEN: &[&str] = &[
    "main",
    "lib",
    "larq",
    "serde",
    "serde_json",
    "std",
    "core",
    "alloc",
    "crate",
    "self",
    "super",
];

/// `App\Jobs\SomeJob` → `some_job`.
fn module_name(class: &str) -> String {
    let short = class.rsplit('\\').next().unwrap_or(class);
    let mut name = codegen::field_ident(short);
    if TAKEN.contains(&name.trim_end_matches('_')) {
        name = format!("{}_job", name.trim_end_matches('_'));
    }
    name
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when a directory above `dir` holds a Cargo.toml with a `[workspace]` table, whose root
/// cargo would take the new crate for an unlisted member of.
fn inside_workspace(dir: &Path) -> bool {
    dir.ancestors().skip(1).any(|d| {
        std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|text| {
            text.lines()
                .any(|l| l.trim_start().starts_with("[workspace"))
        })
    })
}

fn cargo_toml(name: &str, larq: &str, workspace: bool) -> String {
    let mut out = format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         larq = {larq}\n\
         # The job structs derive Deserialize; larq's PHP deserializer fills them.\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\
         # serde_json::Value is what generated code uses for values of mixed or unknown type.\n\
         serde_json = \"1\"\n"
    );
    if workspace {
        out.push_str(
            "\n# `larq new` found a cargo workspace in a directory above this one: this empty table makes\n\
             # the crate its own workspace. Delete it if you add the crate to that workspace's members.\n\
             [workspace]\n",
        );
    }
    out
}

fn main_rs(modules: &[JobCrateModule]) -> String {
    let mut out = String::from(
        "//! The backend's binary: the job classes it runs, and larq's command line around them (`work`\n\
         //! with `queue:work`'s flags, `failed`, `size`, `restart`, `codegen`, ...). Made by `larq new`.\n\n",
    );
    // In rustfmt's order (it sorts `mod` items), so a first `cargo fmt` changes nothing.
    out.push_str(
        "// Each job struct mirrors its PHP class's properties, read by a handler or not.\n",
    );
    for module in sorted_modules(modules) {
        let _ = writeln!(out, "#[allow(dead_code)]\nmod {module};");
    }
    out.push_str("\nuse larq::Registry;\n\nfn main() -> std::process::ExitCode {\n");
    let jobs: Vec<String> = modules
        .iter()
        .map(|m| format!(".with::<{}::{}>()", m.module, m.job.type_name))
        .collect();
    // rustfmt's layout: the chain on one line while it is short (its chain_width is 60).
    let chain = format!("Registry::new(){}", jobs.concat());
    if chain.len() <= 60 {
        let _ = writeln!(out, "    larq::cli::run({chain})");
    } else {
        out.push_str("    larq::cli::run(\n        Registry::new()\n");
        for (i, with) in jobs.iter().enumerate() {
            let comma = if i + 1 == jobs.len() { "," } else { "" };
            let _ = writeln!(out, "            {with}{comma}");
        }
        out.push_str("    )\n");
    }
    out.push_str("}\n");
    out
}

/// The module names, sorted as rustfmt orders `mod` items.
fn sorted_modules(modules: &[JobCrateModule]) -> Vec<&str> {
    let mut names: Vec<&str> = modules.iter().map(|m| m.module.as_str()).collect();
    names.sort_unstable();
    names
}

fn module_file(m: &JobCrateModule) -> String {
    let files: Vec<&str> = m.payloads.iter().map(|(f, _)| f.as_str()).collect();
    format!(
        "// Generated by `larq new` for `{}` from the payloads in tests/payloads/\n\
         // ({}). Field types are inferred from their values: widen them if other\n\
         // dispatches carry other types (e.g. a property that can be null needs Option<T>).\n\
         // `serde_json::Value` marks mixed values.\n\n{}",
        m.job.class,
        files.join(", "),
        m.job.code
    )
}

fn payloads_test(modules: &[JobCrateModule]) -> String {
    let mut out = String::from(
        "//! Every captured payload in tests/payloads/ decodes into its job struct, the way `work`\n\
         //! decodes it: a property whose type changed on the PHP side fails here, not in production.\n\
         //! Add a payload of each new shape a job can take (`redis-cli LRANGE ... > tests/payloads/x.json`).\n\n",
    );
    for module in sorted_modules(modules) {
        let _ = writeln!(
            out,
            "#[allow(dead_code)]\n#[path = \"../src/{module}.rs\"]\nmod {module};"
        );
    }
    out.push_str(
        r#"
use std::path::Path;

use larq::{Job, Payload, Registry};

/// Decode the captured payload `file` into `J`, after checking it is a `J::CLASS` job.
fn decode<J: Job>(file: &str) -> J {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/payloads")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let payload = Payload::from_slice(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(
        payload.data.command_name.as_deref(),
        Some(J::CLASS),
        "{file} is not a {} payload",
        J::CLASS
    );
    // The registry takes the command out of the payload as the worker does.
    let command = Registry::new()
        .with::<J>()
        .command_bytes(&payload)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    larq::php::from_bytes(&command).unwrap_or_else(|e| panic!("{file}: {e}"))
}
"#,
    );
    for m in modules {
        let files: Vec<String> = m.payloads.iter().map(|(f, _)| format!("\"{f}\"")).collect();
        let _ = write!(
            out,
            "\n#[test]\nfn {module}_payloads_decode() {{\n    for file in [{files}] {{\n        \
             let job: {module}::{ty} = decode(file);\n        println!(\"{{file}}: {{job:?}}\");\n    }}\n}}\n",
            module = m.module,
            ty = m.job.type_name,
            files = files.join(", ")
        );
    }
    out
}

fn readme(name: &str, modules: &[JobCrateModule]) -> String {
    let mut jobs = String::new();
    for m in modules {
        let payloads: Vec<String> = m
            .payloads
            .iter()
            .map(|(f, _)| format!("`tests/payloads/{f}`"))
            .collect();
        let _ = writeln!(
            jobs,
            "| `{}` | `src/{}.rs` | `{}` | {} |",
            m.job.class,
            m.module,
            m.job.type_name,
            payloads.join(", ")
        );
    }
    format!(
        r#"# {name}

A Rust worker for a Laravel app's queued jobs, built on larq: it takes jobs from the same Redis
(or database) queue `php artisan queue:work` does, decodes each PHP job object into a Rust struct
and runs its `handle`, with Laravel's semantics (tries, backoff, timeouts, `failed_jobs`). PHP
workers can keep running on the same queue.

| PHP class | module | struct | captured payloads |
|---|---|---|---|
{jobs}
`src/main.rs` registers every job with `larq::cli::run`, which gives the binary all of larq's
subcommands. Until you port a job's PHP `handle()` into its `handle`, the job prints what it
received.

## Run

```sh
cargo test                                             # every captured payload decodes
cargo run -- work --env /path/to/app/.env              # like php artisan queue:work
cargo run -- work --env /path/to/app/.env --queue=high,default --tries=3
cargo run -- size --env /path/to/app/.env              # ready / delayed / reserved per queue
cargo run -- --help                                    # failed, retry, monitor, restart, ...
```

`--env` is the Laravel app's `.env`: the worker reads its Redis, queue, cache and database settings
from it (and from the environment, which wins, as in Laravel). Each job prints Laravel's lines:

```
[2024-05-01 12:00:00][MPzGtxsf0Y2qsluisQZWfyp6Re0MdzBs] Processing: App\Jobs\SomeJob
[2024-05-01 12:00:00][MPzGtxsf0Y2qsluisQZWfyp6Re0MdzBs] Processed:  App\Jobs\SomeJob
```

## Deploy

```sh
cargo build --release
install target/release/{name} /usr/local/bin/
```

Run one process per worker slot under a supervisor, and let it restart the worker when it exits
(after `--max-time`, `--memory` or `{name} restart`). Give it a stop timeout longer than your
longest job: SIGTERM lets the running job finish first. Supervisor
(`/etc/supervisor/conf.d/{name}.conf`):

```ini
[program:{name}]
command=/usr/local/bin/{name} work --env /srv/app/.env --queue=default --tries=3 --max-time=3600
process_name=%(program_name)s_%(process_num)02d
numprocs=2
user=www-data
autorestart=true
stopasgroup=true
stopwaitsecs=120
```

systemd (`/etc/systemd/system/{name}@.service`, started as `{name}@1`, `{name}@2`, ...):

```ini
[Service]
User=www-data
ExecStart=/usr/local/bin/{name} work --env /srv/app/.env --queue=default --tries=3 --max-time=3600
Restart=always
KillSignal=SIGTERM
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
```

After a deploy, `{name} restart --env /srv/app/.env`
(like `php artisan queue:restart`) makes every worker, PHP's and this one, exit after its current
job.

## Add a job

1. Capture one payload of the class the app dispatches (with no worker running, so it stays in
   the queue):

   ```sh
   redis-cli LRANGE laravel_database_queues:default 0 0 > tests/payloads/invoice_paid.json
   ```

   (the key is `<REDIS_PREFIX>queues:<queue>`; a payload from `failed_jobs` works too.)
2. Generate its struct, with this binary or the `larq` one:

   ```sh
   cargo run -- codegen tests/payloads/invoice_paid.json > src/invoice_paid.rs
   ```

   An encrypted (`ShouldBeEncrypted`) job needs the app's key: `codegen --env /path/to/app/.env`.
3. In `src/main.rs`, add `mod invoice_paid;` and `.with::<invoice_paid::InvoicePaid>()`.
4. In `tests/payloads.rs`, add the module (`#[path = "../src/invoice_paid.rs"] mod invoice_paid;`)
   and a test that decodes the payload; run `cargo test`.
5. Port the PHP `handle()`. Returning `Err(...)` (any `std::error::Error` converts with `?`)
   retries or fails the job as `queue:work` would.

Types are inferred from the captured values: a property that can be `null` needs `Option<T>`, one
that holds different types `serde_json::Value`. The captured payloads are real job data: check
them for anything private before committing them.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_come_from_the_short_class_name() {
        assert_eq!(module_name("App\\Jobs\\SomeJob"), "some_job");
        assert_eq!(module_name("App\\Jobs\\SendURLReport"), "send_url_report");
        assert_eq!(module_name("Main"), "main_job");
        assert_eq!(module_name("App\\Serde"), "serde_job");
        assert_eq!(module_name("App\\Jobs\\Match"), "match_");
    }

    #[test]
    fn crate_names_are_what_cargo_accepts() {
        assert_eq!(
            crate_name(Path::new("/tmp/my-backend")).unwrap(),
            "my-backend"
        );
        assert_eq!(
            crate_name(Path::new("/tmp/my backend!")).unwrap(),
            "my-backend"
        );
        assert_eq!(crate_name(Path::new("/tmp/2024")).unwrap(), "backend-2024");
        assert!(crate_name(Path::new("/tmp/+++")).is_err());
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_str(r#"C:\larq "x""#), r#""C:\\larq \"x\"""#);
    }

    #[test]
    fn main_registers_every_job_in_rustfmt_layout() {
        let sample = example_sample();
        let mut modules = job_modules(vec![sample]).unwrap();
        let one = main_rs(&modules);
        assert!(
            one.contains("    larq::cli::run(Registry::new().with::<some_job::SomeJob>())\n"),
            "{one}"
        );
        let mut second = job_modules(vec![example_sample()]).unwrap().remove(0);
        second.module = "other_job".into();
        modules.push(second);
        let two = main_rs(&modules);
        assert!(
            two.contains(
                "    larq::cli::run(\n        Registry::new()\n            .with::<some_job::SomeJob>()\n            .with::<other_job::SomeJob>(),\n    )\n"
            ),
            "{two}"
        );
    }

    #[test]
    fn samples_of_one_class_share_a_module_and_widen_its_types() {
        let null_param = Payload::for_command(
            "App\\Jobs\\SomeJob",
            r#"O:16:"App\Jobs\SomeJob":2:{s:6:"userId";i:7;s:9:"someParam";N;}"#,
        )
        .to_json();
        let second = Sample {
            source: "second".into(),
            command: Payload::from_slice(null_param.as_bytes())
                .unwrap()
                .data
                .command
                .unwrap()
                .into_bytes(),
            bytes: null_param.into_bytes(),
        };
        let modules = job_modules(vec![example_sample(), second]).unwrap();
        assert_eq!(modules.len(), 1);
        let m = &modules[0];
        assert_eq!(m.module, "some_job");
        let files: Vec<&str> = m.payloads.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(files, ["some_job.json", "some_job-2.json"]);
        assert!(
            m.job.code.contains("pub some_param: Option<String>,"),
            "{}",
            m.job.code
        );
        // The Queueable properties of the first sample stay out of the struct.
        assert!(!m.job.code.contains("pub chained"), "{}", m.job.code);
    }

    #[test]
    fn a_non_empty_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_empty(dir.path()).is_ok());
        assert!(check_empty(&dir.path().join("new")).is_ok());
        std::fs::write(dir.path().join("x"), "").unwrap();
        let e = check_empty(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
        assert!(check_empty(&dir.path().join("x")).is_err());
    }

    #[test]
    fn a_workspace_above_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        assert!(inside_workspace(&dir.path().join("a/b")));
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert!(!inside_workspace(&dir.path().join("a/b")));
    }
}
