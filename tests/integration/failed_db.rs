//! `failed_jobs` on the real servers Laravel apps use: PostgreSQL and MariaDB (the machine runs
//! both; CI starts them). Each test works in a database of its own, created and dropped here, so it
//! never meets another test's rows. Under `CI=true` a server that does not answer is a failure.

use larq::config::{DatabaseSettings, Secret};
use larq::failed::{FailedJob, FailedJobStore, Recorded};

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("larq_failed_{}_{nanos}", std::process::id())
}

fn settings(connection: &str, port: u16, user: &str, database: &str) -> DatabaseSettings {
    DatabaseSettings {
        connection: connection.to_owned(),
        url: None,
        host: "127.0.0.1".to_owned(),
        port: Some(port),
        database: database.to_owned(),
        username: user.to_owned(),
        password: Secret::new(""),
    }
}

/// Run SQL through the server's own client; false when the server is not there.
fn admin(cmd: &str, args: &[&str]) -> bool {
    let ok = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{cmd} {args:?} failed and CI=true: the database server must run"
        );
        eprintln!("notice: {cmd} is not available; skipping");
    }
    ok
}

async fn exercise(store: FailedJobStore) {
    store.ensure_table().await.expect("create failed_jobs");
    store.ensure_table().await.expect("create is idempotent");
    let payload = r#"{"uuid":"u-1","displayName":"App\\Jobs\\SomeJob","data":{"command":"O:8:\"stdClass\":0:{}"},"attempts":2}"#;
    let first = FailedJob {
        uuid: "u-1",
        connection: "redis",
        queue: "default",
        payload: payload.as_bytes(),
        exception: "RuntimeException: boom é in src/x.rs:1\nStack trace:\n#0 {main}",
    };
    assert_eq!(store.log(&first).await.expect("insert"), Recorded::Inserted);
    // The same uuid again (a crash between the insert and the delete, then a second failure, or
    // another job with the same uuid): the first row stays, as Laravel's unique index keeps it.
    let again = store
        .log(&FailedJob {
            exception: "RuntimeException: boom again",
            ..first.clone()
        })
        .await
        .expect("a duplicate is not an error");
    assert_eq!(again, Recorded::AlreadyThere);
    store
        .log(&FailedJob {
            uuid: "u-2",
            queue: "high",
            ..first.clone()
        })
        .await
        .expect("second row");
    assert!(store.exists("u-1").await.expect("exists"));
    assert!(!store.exists("nope").await.expect("exists"));
    let rows = store.all().await.expect("read back");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].uuid.as_str(), rows[0].queue.as_str()),
        ("u-1", "default")
    );
    assert_eq!(rows[0].payload, payload);
    assert_eq!(rows[0].exception, first.exception, "the first row is kept");
    assert_eq!(
        (rows[1].uuid.as_str(), rows[1].queue.as_str()),
        ("u-2", "high")
    );
    // Laravel's `Y-m-d H:i:s`.
    assert_eq!(rows[0].failed_at.len(), 19, "{}", rows[0].failed_at);
    // What `larq failed show/forget/flush` use.
    let found = store.find("u-2").await.expect("find").expect("u-2 exists");
    assert_eq!(
        (found.queue.as_str(), found.payload.as_str()),
        ("high", payload)
    );
    assert!(store.find("nope").await.expect("find").is_none());
    assert!(store.forget("u-1").await.expect("forget"));
    assert!(!store.forget("u-1").await.expect("forget twice"));
    assert_eq!(store.flush().await.expect("flush"), 1);
    assert!(store.all().await.expect("read back").is_empty());
}

#[tokio::test]
async fn failed_jobs_on_postgresql() {
    let db = unique_name();
    if !admin(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            &format!("CREATE DATABASE {db}"),
        ],
    ) {
        return;
    }
    let store = FailedJobStore::connect(&settings("pgsql", 5432, "postgres", &db))
        .await
        .expect("connect");
    exercise(store).await;
    admin(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            &format!("DROP DATABASE {db} WITH (FORCE)"),
        ],
    );
}

#[tokio::test]
async fn failed_jobs_on_mariadb() {
    let db = unique_name();
    if !admin(
        "mariadb",
        &[
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-e",
            &format!("CREATE DATABASE {db}"),
        ],
    ) {
        return;
    }
    let store = FailedJobStore::connect(&settings("mysql", 3306, "root", &db))
        .await
        .expect("connect");
    exercise(store).await;
    admin(
        "mariadb",
        &[
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-e",
            &format!("DROP DATABASE {db}"),
        ],
    );
}
