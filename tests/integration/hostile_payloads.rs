//! Payloads written by a hostile producer, through the real `larq` binary and, where PHP has an
//! opinion, the real `php artisan queue:work` on the same bytes: jobs PHP refuses must be
//! refused by larq too, payload text never reaches a terminal raw, and one big payload neither
//! stops the worker on memory nor floods its output.

use crate::support::bins;
use crate::support::laravel;
use crate::support::some_job;

use std::process::{Command, Output};

use laravel::App;
use larq::failed::{FailedJobStore, FailedRow};

const KEY: &str = "base64:bGFycSBmaXh0dXJlczogdGVzdCBrZXksIHB1YmxpYyE=";
const Q: &str = "laravel_database_queues:default";

/// A SomeJob payload as JSON, with `edit` applied to its JSON object.
fn some_job_with(user_id: i64, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&some_job::some_job_payload(user_id, "hostile").to_json()).unwrap();
    edit(&mut json);
    json.to_string()
}

fn push(app: &App, payload: &str) {
    let mut c = app.conn(0);
    let _: () = redis::pipe()
        .rpush(Q, payload)
        .rpush(format!("{Q}:notify"), 1)
        .query(&mut c)
        .unwrap();
}

/// `recording_backend work redis --stop-when-empty <args>` (larq with the SomeJob handler) against the app's Redis and
/// SQLite file, under `/usr/bin/time` for its peak memory; (output, peak RSS in kB).
fn larq_work(app: &App, args: &[&str]) -> (Output, u64) {
    let time = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(time.path())
        .arg(bins::recording_backend())
        .envs(bins::LARQ_ENV)
        .args(["work", "redis", "--stop-when-empty"])
        .args(["--sleep", "0.1"])
        .args(args)
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", app.redis.port.to_string())
        .env("DB_CONNECTION", "sqlite")
        .env("DB_DATABASE", app.db())
        .env("LARQ_RECORD_FILE", app.record_file())
        .env("APP_KEY", KEY)
        .output()
        .expect("run larq under /usr/bin/time");
    let peak = std::fs::read_to_string(time.path())
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (out, peak)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn failed(app: &App) -> Vec<FailedRow> {
    FailedJobStore::sqlite(&app.db())
        .await
        .unwrap()
        .all()
        .await
        .unwrap()
}

/// Run `payload` once through larq and once through PHP's `queue:work` (each on its own app);
/// both must fail it unrun; returns (larq's exception, PHP's exception).
async fn both_refuse(payload: &str) -> Option<(String, String)> {
    let larq_app = App::start()?;
    let php_app = App::start()?;
    push(&larq_app, payload);
    let (out, _) = larq_work(&larq_app, &["--tries", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    push(&php_app, payload);
    php_app.artisan(&["queue:work", "redis", "--once", "--tries=1", "--sleep=0"]);
    let mut exceptions = Vec::new();
    for app in [&larq_app, &php_app] {
        assert!(app.records().is_empty(), "the job ran: {:?}", app.records());
        let rows = failed(app).await;
        assert_eq!(rows.len(), 1, "{stdout}\n{stderr}");
        exceptions.push(rows[0].exception.lines().next().unwrap_or("").to_owned());
        let left: i64 = redis::cmd("EXISTS")
            .arg(Q)
            .arg(format!("{Q}:reserved"))
            .arg(format!("{Q}:delayed"))
            .query(&mut app.conn(0))
            .unwrap();
        assert_eq!(left, 0, "the job is still queued");
    }
    let php = exceptions.pop().unwrap_or_default();
    let larq = exceptions.pop().unwrap_or_default();
    println!("larq: {larq}\nPHP:  {php}");
    Some((larq, php))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_whose_job_names_another_handler_is_refused_like_php() {
    let payload = some_job_with(1, |j| j["job"] = "App\\Evil@handle".into());
    let Some((larq, php)) = both_refuse(&payload).await else {
        return;
    };
    // Laravel 8 on PHP 8 says `Class "App\Evil" does not exist`; later versions
    // `Target class [App\Evil] does not exist.`
    assert!(
        php.contains("App\\Evil") && php.contains("does not exist"),
        "{php}"
    );
    assert!(larq.contains("App\\Evil@handle"), "{larq}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_past_the_64_bit_range_fail_as_max_attempts_like_php() {
    for attempts in ["9223372036854775807", "9300000000000000000", "1e300"] {
        let payload = some_job_with(1, |_| ())
            .replace(r#""attempts":0}"#, &format!(r#""attempts":{attempts}}}"#));
        assert!(payload.contains(attempts));
        let Some((larq, php)) = both_refuse(&payload).await else {
            return;
        };
        for e in [&larq, &php] {
            assert!(
                e.contains("MaxAttemptsExceededException"),
                "{attempts}: {e}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upper_case_mac_is_invalid_like_php() {
    use base64::Engine as _;
    let enc = larq::crypt::Encrypter::new(KEY, "", None).unwrap();
    let command = some_job::some_job_payload(1, "sealed")
        .data
        .command
        .unwrap_or_default();
    let sealed = enc.encrypt_command(command.as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&b64.decode(&sealed).unwrap()).unwrap();
    let mac = envelope["mac"].as_str().unwrap().to_uppercase();
    envelope["mac"] = mac.into();
    let tampered = b64.encode(envelope.to_string());
    let payload = some_job_with(1, |j| j["data"]["command"] = tampered.into());
    let Some((larq, php)) = both_refuse(&payload).await else {
        return;
    };
    assert!(php.contains("The MAC is invalid."), "{php}");
    assert!(larq.contains("MAC is invalid"), "{larq}");
}

/// Bytes a terminal acts on (ESC, BEL, CR, C1, other C0 but newline and tab).
fn has_raw_controls(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_a_payload_never_reach_the_terminal_raw() {
    let Some(app) = App::start() else { return };
    let forged = "x\n[2026-12-04 00:00:00][forged] Processed:  App\\Jobs\\SomeJob";
    let runs = some_job_with(1, |j| {
        j["id"] = forged.into();
        j["displayName"] = "App\\Jobs\\SomeJob\x1b]0;owned\x07\x1b[2J\u{9b}".into();
    });
    // And one that fails, so `larq failed` has a row to show.
    let fails = some_job_with(2, |j| {
        j["id"] = "bad\x1b[31m\nid".into();
        j["displayName"] = "Evil\x07\r\nName".into();
        j["job"] = "App\\Evil\x1b[2J@handle".into();
    });
    push(&app, &runs);
    push(&app, &fails);
    let (out, _) = larq_work(&app, &["--tries", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!has_raw_controls(&out.stdout), "{stdout:?}");
    assert!(!has_raw_controls(&out.stderr), "{stderr:?}");
    // One line per event: Processing and Processed of the first job, Processing and Failed of
    // the second, and the handler's own line; no forged line.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        !stdout.contains("\n[2026-12-04 00:00:00][forged]"),
        "{stdout}"
    );
    assert!(stdout.contains("Processed:"), "{stdout}");
    assert_eq!(failed(&app).await.len(), 1);
    let uuid = failed(&app).await[0].uuid.clone();
    for args in [
        vec!["failed", "list"],
        vec!["failed", "show", uuid.as_str()],
    ] {
        let out = bins::larq()
            .args(&args)
            .env("DB_CONNECTION", "sqlite")
            .env("DB_DATABASE", app.db())
            .env("REDIS_PORT", app.redis.port.to_string())
            .env("APP_KEY", KEY)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        assert!(!has_raw_controls(&out.stdout), "{args:?}: {stdout:?}");
        assert!(stdout.contains(&uuid), "{args:?}: {stdout}");
        if args[1] == "show" {
            // The hostile displayName is shown, escaped.
            assert!(stdout.contains("Evil\\x07\\r\\nName"), "{stdout}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_job_runs_under_the_default_memory_limit() {
    let Some(app) = App::start() else { return };
    let big = "x".repeat(10 << 20);
    push(&app, &some_job::some_job_payload(7, &big).to_json());
    push(&app, &some_job::some_job_payload(8, "after").to_json());
    // No --memory: queue:work's default of 128 MB applies.
    let (out, peak_kb) = larq_work(&app, &[]);
    let (stdout, stderr) = text(&out);
    println!("10 MB job: peak RSS {peak_kb} kB");
    assert!(
        out.status.success(),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    // The worker checks its own RSS against --memory (128 MB by default) after every job and
    // exits 12 past it: a success with both jobs run is the limit kept. The peak itself is a
    // figure, not a test target (it moves with the machine's load: 124 MB alone, 133 MB measured
    // once with the whole suite running beside it); docs/reliability.md reports it.
    assert_eq!(app.records().len(), 2, "{stderr}");
    assert!(stdout.contains("with param: after"));
    assert!(peak_kb > 0, "no peak RSS measured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_over_max_payload_bytes_fails_unrun_and_the_worker_goes_on() {
    let Some(app) = App::start() else { return };
    push(
        &app,
        &some_job::some_job_payload(7, &"x".repeat(2 << 20)).to_json(),
    );
    push(&app, &some_job::some_job_payload(8, "small").to_json());
    let (out, _) = larq_work(&app, &["--max-payload-bytes", "1000000"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let records = app.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(stdout.contains("with param: small"), "{stdout}");
    let rows = failed(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].exception.contains("1000000"),
        "{}",
        rows[0].exception
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_class_name_is_cut_in_every_line() {
    let Some(app) = App::start() else { return };
    let name = format!("App\\Jobs\\{}", "N".repeat(5 << 20));
    push(
        &app,
        &some_job_with(1, |j| {
            j["displayName"] = name.clone().into();
            j["data"]["commandName"] = name.clone().into();
        }),
    );
    let (out, _) = larq_work(&app, &["--tries", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let printed = out.stdout.len() + out.stderr.len();
    assert!(printed < 64 * 1024, "{printed} bytes printed");
    assert!(stdout.contains("bytes in all)"), "{stdout}");
    assert_eq!(failed(&app).await.len(), 1);
}
