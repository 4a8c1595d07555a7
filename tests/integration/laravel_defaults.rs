//! A Laravel 13 app on its skeleton's defaults, with nothing but its own `.env`: the `database`
//! queue connection, the `database` cache store (tables `cache` and `cache_locks`) and SQLite at
//! `database/database.sqlite` (no `DB_DATABASE`). `larq work --env <app>/.env` with no other
//! setting must find all three as PHP does: it runs what the app dispatches, obeys `php artisan
//! queue:pause` / `queue:resume` on that queue, and stops on `php artisan queue:restart`.
//!
//! The app is a copy of the fixture app in a temp dir, so its `database/database.sqlite` is its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::bins;
use crate::support::laravel;
use crate::support::wait::{wait_exit, wait_for};

/// What a new Laravel 11+ app's `.env` holds that matters here (the skeleton's `.env.example`):
/// no queue, cache or database settings beyond the connection names.
const SKELETON_ENV: &str = "APP_NAME=Laravel
APP_ENV=local
APP_KEY=base64:bGFycSBmaXh0dXJlczogdGVzdCBrZXksIHB1YmxpYyE=
DB_CONNECTION=sqlite
QUEUE_CONNECTION=database
CACHE_STORE=database
";

/// A private copy of the fixture app on the skeleton's `.env`.
struct SkeletonApp {
    dir: tempfile::TempDir,
    major: u8,
}

impl SkeletonApp {
    fn new(major: u8) -> SkeletonApp {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_app(&laravel::app_dir(), &dir.path().join("app"));
        std::fs::write(dir.path().join("app/.env"), SKELETON_ENV).expect("write .env");
        let app = SkeletonApp { dir, major };
        app.artisan(&["larq:setup-db"]);
        app
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    fn record_file(&self) -> PathBuf {
        self.dir.path().join("record.jsonl")
    }

    fn artisan(&self, args: &[&str]) -> String {
        let mut c = Command::new(laravel::php_for());
        c.arg(self.major.to_string())
            .arg(self.root().join("artisan"))
            .args(args)
            .env("LARQ_RECORD_FILE", self.record_file());
        laravel::run(c, &format!("artisan {args:?}"))
    }

    fn dispatch(&self, count: usize) {
        let out = self.artisan(&["larq:dispatch", "SomeJob", &format!("--count={count}")]);
        assert_eq!(
            out.lines().filter(|l| l.starts_with('{')).count(),
            count,
            "{out}"
        );
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.record_file())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// `larq work` of the tests' backend with only `--env`: no version, connection or store.
    fn larq_work(&self) -> Child {
        Command::new(bins::recording_backend())
            .args(["work", "--sleep", "0.2", "--env"])
            .arg(self.root().join(".env"))
            .env_remove("LARQ_LARAVEL_VERSION")
            .env("LARQ_RECORD_FILE", self.record_file())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn larq work")
    }
}

/// Copy the fixture app, leaving out what a run writes (its SQLite file, logs, caches).
fn copy_app(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read app dir") {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let target = to.join(&*name);
        if entry.file_type().expect("file type").is_dir() {
            copy_app(&path, &target);
        } else if !(name.ends_with(".sqlite")
            || name.ends_with(".log")
            || name.ends_with(".php")
                && path
                    .parent()
                    .is_some_and(|p| p.ends_with("bootstrap/cache")))
        {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn laravel_13_skeleton_defaults_pause_resume_and_restart_reach_larq() {
    if !laravel::version_available(13) {
        return;
    }
    let app = SkeletonApp::new(13);
    assert!(
        app.root().join("database/database.sqlite").exists(),
        "the app's own SQLite file is where the skeleton keeps it"
    );

    let mut worker = app.larq_work();
    app.dispatch(3);
    assert!(
        wait_for(Duration::from_secs(20), || app.runs() == 3),
        "larq ran {} of the 3 jobs the app put in its jobs table",
        app.runs()
    );

    // Paused: larq takes nothing from database:default.
    app.artisan(&["queue:pause", "database:default"]);
    // A reserve round that began before the pause may still take one job; give it time to end.
    std::thread::sleep(Duration::from_millis(500));
    app.dispatch(2);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(app.runs(), 3, "larq ran a job from a paused queue");
    app.artisan(&["queue:resume", "database:default"]);
    assert!(
        wait_for(Duration::from_secs(20), || app.runs() == 5),
        "after queue:resume larq ran {} of 5",
        app.runs()
    );

    // The restart signal is a row in the `cache` table; a unix second, so let the worker's own
    // start value be an older one.
    std::thread::sleep(Duration::from_millis(1100));
    app.artisan(&["queue:restart"]);
    let status = wait_exit(&mut worker, Duration::from_secs(10))
        .expect("larq did not stop within 10 s of queue:restart");
    let mut stderr = String::new();
    if let Some(mut e) = worker.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{status:?}\n{stderr}");
}
