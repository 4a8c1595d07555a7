//! The real Laravel app and larq on one RabbitMQ queue (the fixture app's `rabbitmq` connection,
//! written on Debian's php-amqplib in the format of `vladimir-yuldashev/laravel-queue-rabbitmq`):
//! PHP dispatches, PHP's `queue:work rabbitmq` and larq share the jobs (also with larq killed
//! twenty times), a job larq failed is listed by `queue:failed` and put back by `queue:retry`,
//! and what larq publishes (dispatch, release) PHP's worker runs with the right attempt. Each
//! test has its own vhost, Redis and SQLite file.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::support::bins;
use crate::support::laravel::{self, artisan_command_for, laravel_tests, App};
use crate::support::rabbitmq::Vhost;
use crate::support::wait::{wait_exit, wait_for};

/// The app on Laravel `major` and a vhost of its own.
fn setup(major: u8, tag: &str) -> Option<(App, Vhost)> {
    if !laravel::version_available(major) {
        return None;
    }
    let vhost = Vhost::new(&format!("{tag}-{major}"))?;
    let app = App::start_version(major)?;
    // Build larq's backend before any PHP worker starts: the first build in a test process
    // (30 s and more) otherwise eats into what these tests time against PHP's drain (it once
    // left the kill test one life short of twenty, and a test run on its own with none).
    let _ = bins::recording_backend();
    Some((app, vhost))
}

/// `program` with the app's environment pointed at the vhost.
fn command(app: &App, vhost: &Vhost, program: &Path) -> Command {
    let mut c = app.command(program);
    c.envs(vhost.env());
    c
}

/// `php artisan <args>` on the app's Laravel, pointed at the vhost.
fn artisan(app: &App, vhost: &Vhost, args: &[&str]) -> Command {
    let mut c = artisan_command_for(app.major, args);
    c.envs(
        command(app, vhost, Path::new("php"))
            .get_envs()
            .filter_map(|(k, v)| Some((k, v?))),
    );
    c
}

fn run(c: Command, what: &str) -> String {
    laravel::run(c, what)
}

/// The real app dispatches `count` jobs of `shape` to the `rabbitmq` connection; their uuids.
fn php_dispatch(
    app: &App,
    vhost: &Vhost,
    shape: &str,
    count: usize,
    extra: &[&str],
) -> Vec<String> {
    let count_arg = format!("--count={count}");
    let mut args = vec![
        "larq:dispatch",
        shape,
        count_arg.as_str(),
        "--connection=rabbitmq",
    ];
    args.extend_from_slice(extra);
    run(artisan(app, vhost, &args), "larq:dispatch")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Json = serde_json::from_str(l).expect("dispatch line");
            v["uuid"].as_str().expect("uuid").to_owned()
        })
        .collect()
}

/// PHP's `queue:work rabbitmq` in the background.
fn php_worker(app: &App, vhost: &Vhost, args: &[&str]) -> Child {
    let mut all = vec!["queue:work", "rabbitmq"];
    all.extend_from_slice(args);
    artisan(app, vhost, &all)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn queue:work rabbitmq")
}

/// larq (the recording backend) on the vhost, sharing the app's record file and failed_jobs.
fn larq_worker(app: &App, vhost: &Vhost, args: &[&str]) -> Child {
    let mut c = command(app, vhost, &bins::recording_backend());
    c.envs(bins::LARQ_ENV)
        .arg("work")
        .args(["--sleep", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the recording backend")
}

fn larq_cmd(app: &App, vhost: &Vhost, args: &[&str]) -> String {
    let mut c = command(app, vhost, &bins::recording_backend());
    c.envs(bins::LARQ_ENV).args(args);
    run(c, &format!("larq {args:?}"))
}

fn stop(mut child: Child) -> String {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_exit(&mut child, Duration::from_secs(30));
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// Runs per uuid (PHP's and larq's lines in the one record file), and who ran them.
fn runs_by_uuid(app: &App) -> HashMap<String, Vec<Json>> {
    let mut m: HashMap<String, Vec<Json>> = HashMap::new();
    for r in app.records() {
        if let Some(u) = r["uuid"].as_str() {
            m.entry(u.to_owned()).or_default().push(r);
        }
    }
    m
}

/// A record written by larq's recording backend (it has `userId` at top level; PHP's has
/// `props`).
fn by_larq(r: &Json) -> bool {
    r.get("props").is_none()
}

fn default_empty(vhost: &Vhost) -> bool {
    vhost
        .queues()
        .get("default")
        .is_some_and(|(ready, unacked)| *ready == 0 && *unacked == 0)
}

laravel_tests!(sync php_and_larq_share_one_queue_none_lost_none_twice => share_one_queue; 8 10 13);

/// 10,000 jobs on Laravel 8 (the figure), 1,000 on 10 and 13.
fn share_one_queue(major: u8) {
    let Some((app, vhost)) = setup(major, "share") else {
        return;
    };
    let n = if major == 8 { 10_000 } else { 1_000 };
    let uuids = php_dispatch(&app, &vhost, "SomeJob", n, &["--increment"]);
    assert_eq!(uuids.len(), n);
    let php = php_worker(&app, &vhost, &["--sleep=0"]);
    assert!(
        wait_for(Duration::from_secs(60), || app.records().len() >= 20),
        "PHP ran nothing"
    );
    let larq = larq_worker(&app, &vhost, &["--concurrency", "4"]);
    let drained = wait_for(Duration::from_secs(180), || {
        runs_by_uuid(&app).len() >= n && default_empty(&vhost)
    });
    let larq_err = stop(larq);
    let php_err = stop(php);
    assert!(
        drained,
        "not drained: {} of {n} ran\nlarq: {larq_err}\nphp: {php_err}",
        runs_by_uuid(&app).len()
    );
    let runs = runs_by_uuid(&app);
    let twice: Vec<_> = runs.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{} ran twice, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert!(uuids.iter().all(|u| runs.contains_key(u)), "a job was lost");
    let larq_ran = runs.values().filter(|r| by_larq(&r[0])).count();
    assert!(
        larq_ran > 0 && larq_ran < n,
        "both workers took jobs: larq {larq_ran} of {n}"
    );
    assert!(runs.values().all(|r| r[0]["attempts"] == 1));
    let failed =
        app.php_in_app("echo \\Illuminate\\Support\\Facades\\DB::table('failed_jobs')->count();");
    assert_eq!(failed.trim(), "0", "nothing failed");
    eprintln!(
        "Laravel {major}: {n} jobs, larq ran {larq_ran}, PHP {}",
        n - larq_ran
    );
}

/// The second run: the same sharing while larq is killed with SIGKILL twenty times.
/// The only repeats are deliveries larq held unacknowledged at a kill (at most its prefetch
/// each time), and PHP's worker, which is never killed, repeats nothing.
#[test]
fn php_and_larq_share_10000_jobs_while_larq_is_killed_twenty_times() {
    let Some((app, vhost)) = setup(8, "share-kill") else {
        return;
    };
    const N: usize = 10_000;
    const CONCURRENCY: usize = 2;
    let uuids = php_dispatch(&app, &vhost, "SomeJob", N, &["--increment"]);
    // PHP rests 20 ms between jobs (at most 50 a second) so that twenty larq lives fit before
    // the queue drains even when the suite's other tests slow larq's start-ups: at 2 ms, a full
    // CI run once drained the queue after nineteen.
    let php = php_worker(&app, &vhost, &["--sleep=0", "--rest=0.02"]);
    let mut rng = crate::support::rng::Rng(1515);
    let mut kills = 0;
    while kills < 20 {
        let before = app.records().len();
        if before >= N {
            break;
        }
        let mut child = larq_worker(&app, &vhost, &["--concurrency", &CONCURRENCY.to_string()]);
        wait_for(Duration::from_secs(20), || {
            app.records()
                .iter()
                .skip(before)
                .filter(|r| by_larq(r))
                .count()
                >= 5
        });
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
    }
    let larq = larq_worker(&app, &vhost, &["--concurrency", "4"]);
    let drained = wait_for(Duration::from_secs(180), || {
        runs_by_uuid(&app).len() >= N && default_empty(&vhost)
    });
    let larq_err = stop(larq);
    let php_err = stop(php);
    assert!(drained, "not drained\nlarq: {larq_err}\nphp: {php_err}");
    let runs = runs_by_uuid(&app);
    assert!(uuids.iter().all(|u| runs.contains_key(u)), "a job was lost");
    let repeats: usize = runs.values().map(|r| r.len() - 1).sum();
    assert!(
        repeats <= kills * CONCURRENCY,
        "{repeats} repeats after {kills} kills of a larq holding at most {CONCURRENCY}"
    );
    // A repeat's first run was larq's (killed before its ack); PHP was never killed.
    for r in runs.values().filter(|r| r.len() > 1) {
        assert!(by_larq(&r[0]), "a job PHP ran came back: {r:?}");
    }
    assert_eq!(kills, 20, "the queue drained before twenty kills");
    eprintln!("{kills} kills, {repeats} repeats");
}

laravel_tests!(sync a_job_larq_failed_is_in_queue_failed_and_queue_retry_gives_it_back => failed_and_retried; 8 10 13);

fn failed_and_retried(major: u8) {
    let Some((app, vhost)) = setup(major, "failed") else {
        return;
    };
    let uuid = php_dispatch(&app, &vhost, "FailingJob", 1, &["--tries=1"])
        .pop()
        .unwrap();
    let mut larq = larq_worker(&app, &vhost, &["--stop-when-empty"]);
    assert!(wait_exit(&mut larq, Duration::from_secs(60)).is_some_and(|s| s.success()));
    let listed = run(artisan(&app, &vhost, &["queue:failed"]), "queue:failed");
    let line = listed
        .lines()
        .find(|l| l.contains(&uuid))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        line.contains("rabbitmq") && line.contains("default"),
        "{line}"
    );
    assert_eq!(
        vhost.queues().get("default"),
        Some(&(0, 0)),
        "rejected, not kept"
    );

    run(
        artisan(&app, &vhost, &["queue:retry", &uuid]),
        "queue:retry",
    );
    assert_eq!(
        vhost.queues().get("default"),
        Some(&(1, 0)),
        "queue:retry published it back to RabbitMQ"
    );
    let mut larq = larq_worker(&app, &vhost, &["--stop-when-empty"]);
    assert!(wait_exit(&mut larq, Duration::from_secs(60)).is_some_and(|s| s.success()));
    let runs = runs_by_uuid(&app);
    let mine = &runs[&uuid];
    assert_eq!(
        mine.len(),
        2,
        "larq ran it, and again after queue:retry: {mine:?}"
    );
    assert!(
        mine.iter().all(|r| by_larq(r) && r["attempts"] == 1),
        "{mine:?}"
    );

    // larq's own `failed retry` does the same.
    let listed = larq_cmd(&app, &vhost, &["failed", "list"]);
    assert!(listed.contains(&uuid), "{listed}");
    larq_cmd(&app, &vhost, &["failed", "retry", &uuid]);
    assert_eq!(vhost.queues().get("default"), Some(&(1, 0)));
    let sized = larq_cmd(&app, &vhost, &["size", "default"]);
    assert!(sized.contains("rabbitmq"), "{sized}");
    larq_cmd(&app, &vhost, &["clear", "--force"]);
    assert_eq!(vhost.queues().get("default"), Some(&(0, 0)));
}

laravel_tests!(async php_runs_what_larq_dispatches_and_releases => php_runs_larqs; 8 10 13);

async fn php_runs_larqs(major: u8) {
    use larq::dispatch::{Dispatcher, PendingJob};
    use larq::queue::{Queue, RabbitMqQueue, RabbitMqQueueOptions};
    let Some((app, vhost)) = setup(major, "two-way") else {
        return;
    };
    let queue = RabbitMqQueue::new(vhost.endpoint(), 1, RabbitMqQueueOptions::default());
    let d =
        Dispatcher::for_queue(Arc::new(Queue::from(queue)), "default").with_laravel_version(major);
    let mut sent = Vec::new();
    for n in 0..50 {
        let job = PendingJob::with_class(
            "App\\Jobs\\SomeJob",
            &serde_json::json!({"userId": n, "someParam": format!("from larq {n}")}),
        )
        .unwrap();
        sent.push(d.dispatch(job).await.unwrap().uuid);
    }
    // A FailingJob larq runs once and releases (tries 3, no backoff): PHP's run is attempt 2.
    let failing = d
        .dispatch(
            PendingJob::with_class("App\\Jobs\\FailingJob", &serde_json::json!({"n": 3}))
                .unwrap()
                .tries(3),
        )
        .await
        .unwrap()
        .uuid;
    drop(d);
    // The queue is first in, first out: PHP runs the 50 SomeJobs, larq the FailingJob's first
    // attempt (and releases it), PHP its second.
    let mut php = php_worker(&app, &vhost, &["--stop-when-empty", "--max-jobs=50"]);
    assert!(wait_exit(&mut php, Duration::from_secs(120)).is_some_and(|s| s.success()));
    let runs = runs_by_uuid(&app);
    for u in &sent {
        let r = &runs.get(u).unwrap_or_else(|| panic!("PHP did not run {u}"));
        assert_eq!(r.len(), 1);
        assert!(!by_larq(&r[0]) && r[0]["attempts"] == 1, "{r:?}");
    }
    assert_eq!(
        laravel::prop(&runs[&sent[7]][0], "someParam")["v"]["v"],
        "from larq 7",
        "PHP read larq's command"
    );
    let mut larq = larq_worker(&app, &vhost, &["--max-jobs", "1"]);
    assert!(wait_exit(&mut larq, Duration::from_secs(60)).is_some_and(|s| s.success()));
    let mut php = php_worker(&app, &vhost, &["--once"]);
    assert!(wait_exit(&mut php, Duration::from_secs(60)).is_some());
    let runs = &runs_by_uuid(&app)[&failing];
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(by_larq(&runs[0]) && runs[0]["attempts"] == 1, "{runs:?}");
    assert!(
        !by_larq(&runs[1]) && runs[1]["attempts"] == 2,
        "PHP counts larq's release: {runs:?}"
    );
}

/// The delay queue larq declares is the one PHP declares: same name, same arguments with the
/// same AMQP types (a difference would make the second declare fail with PRECONDITION_FAILED).
#[tokio::test]
async fn larqs_delay_queue_has_the_arguments_php_declares() {
    use larq::dispatch::{Dispatcher, PendingJob};
    use larq::queue::{Queue, RabbitMqQueue, RabbitMqQueueOptions};
    let Some(vhost) = Vhost::new("delay-args") else {
        return;
    };
    let queue = RabbitMqQueue::new(vhost.endpoint(), 1, RabbitMqQueueOptions::default());
    let d = Dispatcher::for_queue(Arc::new(Queue::from(queue)), "default").with_laravel_version(8);
    d.dispatch(
        PendingJob::with_class(
            "App\\Jobs\\SomeJob",
            &serde_json::json!({"userId": 8, "someParam": "later"}),
        )
        .unwrap()
        .delay(60),
    )
    .await
    .unwrap();
    let ours = vhost.queue_arguments("default.delay.60000");
    for major in laravel::VERSIONS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "php-fixtures/corpus/laravel-{major}/rabbitmq/delayed_job.amqp.json"
        ));
        let captured: Json =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut want = captured["queue_arguments"].as_array().unwrap().clone();
        let mut got = ours.clone();
        want.sort_by_key(|a| a[0].to_string());
        got.sort_by_key(|a| a[0].to_string());
        assert_eq!(got, want, "Laravel {major}'s delay queue");
        assert_eq!(captured["queue"], "default.delay.60000");
    }
}
