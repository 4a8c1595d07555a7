//! `larq failed list|show|retry|forget|flush`: artisan's `queue:failed`, `queue:retry`,
//! `queue:forget` and `queue:flush` on the app's `failed_jobs` table (`database-uuids` provider,
//! `DatabaseUuidFailedJobProvider`).
//!
//! `retry` rewrites the stored payload the way `queue:retry` does: JSON-decode it as a PHP array,
//! set `attempts` to 0 when it is set, JSON-encode it with PHP's plain `json_encode` (non-ASCII as
//! `\uXXXX`, `/` as `\/`, empty objects as `[]`), push it onto the row's queue on the row's
//! connection (list + notify token, as Redis `pushRaw` does) and delete the row. What it cannot do:
//! PHP recomputes `retryUntil` when the job class has a `retryUntil()` **method**; that is PHP code,
//! so larq keeps the stored value and warns when it is already in the past.

use std::collections::HashMap;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value as Json;

use crate::display::{printable, printable_lines, FIELD_LIMIT};
use crate::failed::FailedRow;
use crate::php::Value;
use crate::queue::Queue;

use super::app::{block_on, table, App, AppArgs};
use super::inspect;

/// `larq failed <action>`.
#[derive(Debug, Args)]
pub struct FailedArgs {
    /// What to do with the failed jobs.
    #[command(subcommand)]
    pub action: FailedAction,
    #[command(flatten)]
    pub app: AppArgs,
}

/// The `failed` actions, each named after its artisan command.
#[derive(Debug, Subcommand)]
pub enum FailedAction {
    /// List all of the failed queue jobs, newest first (like `queue:failed`)
    List,
    /// Show one failed job: its exception and its decoded payload
    Show {
        /// The UUID of the failed job
        uuid: String,
    },
    /// Retry failed jobs: push them back onto their queue with attempts reset (like `queue:retry`)
    Retry(RetryArgs),
    /// Delete a failed queue job (like `queue:forget`)
    Forget {
        /// The UUID of the failed job
        uuid: String,
    },
    /// Flush all of the failed queue jobs (like `queue:flush`)
    Flush,
}

/// `larq failed retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The UUIDs of the failed jobs, or `all` [default: none; required unless --queue is given]
    #[arg(value_name = "ID|all", required_unless_present = "queue")]
    pub ids: Vec<String>,
    /// Retry only the failed jobs of this queue (with `all` or without ids) [default: every queue]
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
}

/// Run `larq failed`.
pub fn run(args: FailedArgs) -> Result<()> {
    let app = args.app.load()?;
    let code = block_on(async move {
        match args.action {
            FailedAction::List => list(&app).await,
            FailedAction::Show { uuid } => show(&app, &uuid).await,
            FailedAction::Retry(retry_args) => retry(&app, &retry_args).await,
            FailedAction::Forget { uuid } => forget(&app, &uuid).await,
            FailedAction::Flush => flush(&app).await,
        }
    })??;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn list(app: &App) -> Result<i32> {
    let store = app.failed_store().await?;
    let mut rows = store.all().await?;
    // queue:failed lists newest (highest id) first.
    rows.reverse();
    if crate::laravel::Laravel::nearest(app.laravel_version()).failed_list_as_lines() {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .unwrap_or(80);
        print!("{}", component_lines(&rows, app.laravel_version(), width));
        return Ok(0);
    }
    if rows.is_empty() {
        println!("No failed jobs!");
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            [
                r.uuid.as_str(),
                &r.connection,
                &r.queue,
                &job_name(&r.payload),
                &r.failed_at,
            ]
            .iter()
            .map(|cell| shown(cell))
            .collect()
        })
        .collect();
    print!(
        "{}",
        table(&["ID", "Connection", "Queue", "Class", "Failed At"], &cells)
    );
    Ok(0)
}

/// `queue:failed` of Laravel 10+: a line per job as the `twoColumnDetail` component renders it
/// (`  {failed_at} {uuid} {dots} {connection}@{queue} {class}  `, dots filling the line to the
/// terminal width, at most 150), between empty lines; or the `info` component's "No failed jobs
/// found.". `width` is the terminal's: `list` takes `COLUMNS`, else 80 (PHP asks `stty` when it
/// runs on a terminal).
fn component_lines(rows: &[crate::failed::FailedRow], laravel_version: u8, width: usize) -> String {
    if rows.is_empty() {
        return "\n   INFO  No failed jobs found.  \n\n".to_owned();
    }
    let width = width.min(150);
    let mut out = String::from("\n");
    for r in rows {
        let first = format!("{} {}", shown(&r.failed_at), shown(&r.uuid));
        let class =
            if crate::laravel::Laravel::nearest(laravel_version).failed_list_shows_display_name() {
                display_name(&r.payload).unwrap_or_else(|| job_name(&r.payload))
            } else {
                job_name(&r.payload)
            };
        let second = format!(
            "{}@{} {}",
            shown(&r.connection),
            shown(&r.queue),
            shown(&class)
        );
        // Two margins of 2 and a space on each side of the dots.
        let used = 6 + first.chars().count() + second.chars().count();
        let dots = ".".repeat(width.saturating_sub(used));
        out.push_str(&format!("  {first} {dots} {second}  \n"));
    }
    out.push('\n');
    out
}

/// A payload's `displayName` when it is a non-empty string and the payload has a command (13's
/// `queue:failed` shows the job of a payload without one).
fn display_name(payload: &str) -> Option<String> {
    let json = serde_json::from_str::<Json>(payload).ok()?;
    json.pointer("/data/command").filter(|c| !c.is_null())?;
    json.get("displayName")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// The class `queue:failed` shows: the first double-quoted text of `data.command` (the class of a
/// plain command), else the payload's `job`, else nothing.
fn job_name(payload: &str) -> String {
    let Ok(json) = serde_json::from_str::<Json>(payload) else {
        return String::new();
    };
    let job = || {
        json.get("job")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match json.pointer("/data/command").and_then(Json::as_str) {
        Some(command) => {
            let mut parts = command.split('"');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(_), Some(name), Some(_)) if !name.is_empty() => name.to_owned(),
                _ => job(),
            }
        }
        None => job(),
    }
}

async fn show(app: &App, uuid: &str) -> Result<i32> {
    let store = app.failed_store().await?;
    let Some(row) = store.find(uuid).await? else {
        eprintln!("No failed job matches the given ID [{uuid}].");
        return Ok(1);
    };
    let mut out = String::new();
    out.push_str(&format!(
        "uuid:        {}\nconnection:  {}\nqueue:       {}\nclass:       {}\nfailed at:   {}\n\nexception:\n",
        shown(&row.uuid),
        shown(&row.connection),
        shown(&row.queue),
        shown(&job_name(&row.payload)),
        shown(&row.failed_at)
    ));
    for line in row.exception.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    let key = app.settings.app_key.as_ref().map(|k| k.expose().to_owned());
    let previous = app
        .settings
        .app_previous_keys
        .as_ref()
        .map(|k| k.expose().to_owned())
        .unwrap_or_default();
    match inspect::decode(row.payload.as_bytes(), key.as_deref(), &previous) {
        Ok(decoded) => {
            if let Some(payload) = &decoded.payload {
                inspect::print_payload(&mut out, payload);
            }
            match decoded.command.as_deref().map(Value::parse) {
                Some(Ok(v)) => {
                    out.push_str(if decoded.encrypted {
                        "command (decrypted):\n"
                    } else {
                        "command:\n"
                    });
                    inspect::dump(&mut out, &v, 0);
                    out.push('\n');
                }
                Some(Err(e)) => out.push_str(&format!("command: cannot decode: {e}\n")),
                None if decoded.encrypted => {
                    out.push_str("command: encrypted (APP_KEY is not set)\n")
                }
                None => out.push_str("command: none (a string payload)\n"),
            }
        }
        Err(e) => out.push_str(&format!(
            "payload: cannot decode: {e:#}\nraw payload:\n  {}\n",
            row.payload
        )),
    }
    // The exception and the payload's values keep their lines; no control byte reaches the
    // terminal.
    print!("{}", printable_lines(&out));
    Ok(0)
}

/// One cell or field from a failed job's row: on one line, escaped and cut.
fn shown(text: &str) -> String {
    printable(text, FIELD_LIMIT).into_owned()
}

async fn retry(app: &App, args: &RetryArgs) -> Result<i32> {
    let store = app.failed_store().await?;
    let all = args.ids.len() == 1 && args.ids[0] == "all";
    let ids: Vec<String> = if all || args.ids.is_empty() {
        let mut rows = store.all().await?;
        rows.reverse();
        let ids: Vec<String> = rows
            .into_iter()
            .filter(|r| args.queue.as_ref().is_none_or(|q| &r.queue == q))
            .map(|r| r.uuid)
            .collect();
        if let (Some(q), true) = (&args.queue, ids.is_empty()) {
            eprintln!("Unable to find failed jobs for queue [{q}].");
            return Ok(1);
        }
        ids
    } else {
        let mut seen = Vec::new();
        for id in &args.ids {
            if !id.is_empty() && !seen.contains(id) {
                seen.push(id.clone());
            }
        }
        seen
    };
    let mut queues: HashMap<String, Queue> = HashMap::new();
    let mut code = 0;
    for id in ids {
        let Some(row) = store.find(&id).await? else {
            eprintln!("Unable to find failed job with ID [{id}].");
            code = 1;
            continue;
        };
        if let Err(e) = retry_one(app, &mut queues, &row).await {
            eprintln!("Failed job [{id}] was not retried: {e:#}");
            code = 1;
            continue;
        }
        store
            .forget(&id)
            .await
            .with_context(|| format!("job [{id}] was pushed back, but its row stays"))?;
        println!("The failed job [{id}] has been pushed back onto the queue!");
    }
    Ok(code)
}

async fn retry_one(app: &App, queues: &mut HashMap<String, Queue>, row: &FailedRow) -> Result<()> {
    app.check_connection(&row.connection)?;
    if !queues.contains_key(&row.connection) {
        let queue = app.queue(&row.connection).await?;
        queues.insert(row.connection.clone(), queue);
    }
    let queue = queues
        .get(&row.connection)
        .ok_or_else(|| anyhow!("connection {:?} not open", row.connection))?;
    // queue:retry's rewrite (attempts reset when set, PHP's json_encode), then pushRaw.
    let retried = queue
        .retry_failed(&row.queue, row.payload.as_bytes())
        .await?;
    if let Some(until) = retried.retry_until {
        if until <= crate::queue::now() as i64 {
            eprintln!(
                "warning: job [{}] has retryUntil {until}, already past: it will fail again at once unless its PHP class recomputes it (larq cannot run retryUntil() methods)",
                row.uuid
            );
        }
    }
    Ok(())
}

async fn forget(app: &App, uuid: &str) -> Result<i32> {
    let store = app.failed_store().await?;
    if store.forget(uuid).await? {
        println!("Failed job deleted successfully!");
        Ok(0)
    } else {
        eprintln!("No failed job matches the given ID.");
        Ok(1)
    }
}

async fn flush(app: &App) -> Result<i32> {
    let store = app.failed_store().await?;
    let n = store.flush().await?;
    println!("All failed jobs deleted successfully! ({n} deleted)");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_column_like_queue_failed() {
        assert_eq!(
            job_name(
                r#"{"job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"command":"O:16:\"App\\Jobs\\SomeJob\":0:{}"}}"#
            ),
            "App\\Jobs\\SomeJob"
        );
        assert_eq!(
            job_name(
                r#"{"job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"command":"eyJpdiI6"}}"#
            ),
            "Illuminate\\Queue\\CallQueuedHandler@call"
        );
        assert_eq!(
            job_name(r#"{"job":"App\\Jobs\\Legacy@handle","data":{"a":1}}"#),
            "App\\Jobs\\Legacy@handle"
        );
        assert_eq!(job_name("not json"), "");
    }

    fn row(uuid: &str, payload: &str) -> crate::failed::FailedRow {
        crate::failed::FailedRow {
            uuid: uuid.into(),
            connection: "redis".into(),
            queue: "default".into(),
            payload: payload.into(),
            exception: String::new(),
            failed_at: "2026-12-05 08:16:12".into(),
        }
    }

    #[test]
    fn laravel_10_lists_a_line_per_job() {
        // What Laravel 10's and 13's `queue:failed` print at COLUMNS=80 (dots fill the line;
        // a line longer than the width has none).
        let payload = r#"{"displayName":"Shown","data":{"command":"O:1:\"X\":0:{}"}}"#;
        assert_eq!(
            component_lines(&[row("u1", payload)], 10, 80),
            "\n  2026-12-05 08:16:12 u1 ..................................... redis@default X  \n\n"
        );
        assert_eq!(
            component_lines(&[row("c4ed30ea-7858-4186-b0d2-af0456a53c54", payload)], 13, 80),
            "\n  2026-12-05 08:16:12 c4ed30ea-7858-4186-b0d2-af0456a53c54  redis@default Shown  \n\n"
        );
        assert_eq!(
            component_lines(&[], 10, 80),
            "\n   INFO  No failed jobs found.  \n\n"
        );
    }
}
