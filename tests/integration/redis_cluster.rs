//! The Redis driver on a private three-primary Redis Cluster: every queue operation on two
//! hash-tagged queues that live on different primaries (also on a TLS-only cluster, verified
//! against its CA), SCAN over all primaries, scripts reloaded after `SCRIPT FLUSH`, the refusal of
//! a queue name whose keys span slots, and the real Laravel
//! app dispatching through phpredis's `RedisCluster` while `larq work` drains the jobs and obeys
//! `php artisan queue:restart` (the cache store on the cluster), on Laravel 8 and on Laravel 13
//! (whose prefixes, `laravel-database-` and `laravel-cache-`, differ from 8's).

use crate::support::bins;
use crate::support::laravel;
use crate::support::redis_cluster;
use crate::support::tls;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larq::queue::redis::RedisEndpoint;
use larq::queue::{QueueError, RedisQueue, RedisQueueOptions};
use redis_cluster::TestCluster;

const PREFIX: &str = "laravel_database_queues:";

async fn queue(cluster: &TestCluster) -> RedisQueue {
    RedisQueue::connect_to(
        &RedisEndpoint::cluster(cluster.urls()),
        RedisQueueOptions::default(),
    )
    .await
    .expect("connect to the cluster")
}

/// A payload as Laravel 8 writes it, with `n` in it so jobs are told apart.
fn payload(n: u32) -> Vec<u8> {
    format!(
        r#"{{"uuid":"{}","displayName":"App\\Jobs\\SomeJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"data":{{"commandName":"App\\Jobs\\SomeJob","command":"O:16:\"App\\Jobs\\SomeJob\":2:{{s:6:\"userId\";i:{n};s:9:\"someParam\";s:1:\"x\";}}"}},"id":"id{n}","attempts":0}}"#,
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

/// A hash-tagged queue whose keys live on another primary than `{default}`'s.
fn queue_on_another_primary(cluster: &TestCluster) -> String {
    let default_node = cluster.node_of(&format!("{PREFIX}{{default}}"));
    (0..100)
        .map(|i| format!("{{emails{i}}}"))
        .find(|q| cluster.node_of(&format!("{PREFIX}{q}")) != default_node)
        .expect("a queue on another primary")
}

/// Keys of larq's queues left anywhere in the cluster.
fn queue_keys(cluster: &TestCluster) -> Vec<String> {
    queue_keys_with(cluster, PREFIX)
}

/// Keys under `prefix` (a version's `{prefix}queues:`) left anywhere in the cluster.
fn queue_keys_with(cluster: &TestCluster, prefix: &str) -> Vec<String> {
    cluster
        .all_keys()
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn every_queue_operation_works_on_two_primaries() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    exercise(&cluster, RedisEndpoint::cluster(cluster.urls())).await;
}

#[tokio::test]
async fn every_queue_operation_works_on_a_tls_cluster_verified_against_its_ca() {
    if tls::missing("openssl", "openssl is not installed") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    tls::make_certs(certs.path());
    let Some(cluster) = TestCluster::start_tls(certs.path()) else {
        return;
    };
    let ca = std::fs::read(certs.path().join("ca.crt")).unwrap();
    exercise(
        &cluster,
        RedisEndpoint::cluster(cluster.urls()).with_ca_cert(ca),
    )
    .await;
    // Another CA: every primary's certificate is refused.
    let other = std::fs::read(certs.path().join("other.crt")).unwrap();
    let err = RedisEndpoint::cluster(cluster.urls())
        .with_ca_cert(other)
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

/// Every queue operation on `{default}` and on a queue of another primary, then SCAN and
/// NOSCRIPT recovery, through `endpoint`.
async fn exercise(cluster: &TestCluster, endpoint: RedisEndpoint) {
    let q = RedisQueue::connect_to(&endpoint, RedisQueueOptions::default())
        .await
        .expect("connect to the cluster");
    assert!(q.is_cluster());
    let other = queue_on_another_primary(cluster);
    for name in ["{default}", other.as_str()] {
        q.check_queue(name).expect("a tagged name is fine");
        let key = format!("{PREFIX}{name}");
        let node = cluster.node_of(&key);

        // push → reserve → delete
        for n in 1..=3 {
            q.push(name, &payload(n)).await.unwrap();
        }
        assert_eq!(cluster.cli(node, &["LLEN", &key]).trim(), "3", "{name}");
        let sizes = q.sizes(name).await.unwrap();
        assert_eq!((sizes.ready, sizes.delayed, sizes.reserved), (3, 0, 0));
        let job = q.reserve(name).await.unwrap().expect("a job");
        assert_eq!(job.attempts, 1);
        assert!(String::from_utf8_lossy(&job.reserved).ends_with(r#""attempts":1}"#));
        assert!(q.delete(&job).await.unwrap());

        // reserve_many → release one, hand the other back → migrate → both again
        let jobs = q.reserve_many(name, 5).await.unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(q.sizes(name).await.unwrap().reserved, 2);
        assert!(q.release(&jobs[0], 0).await.unwrap());
        assert!(q.hand_back(&jobs[1], 0).await.unwrap());
        assert!(!q.release(&jobs[0], 0).await.unwrap(), "no longer held");
        let sizes = q.sizes(name).await.unwrap();
        assert_eq!((sizes.ready, sizes.delayed, sizes.reserved), (0, 2, 0));
        assert_eq!(q.migrate(name).await.unwrap(), 2);
        let again = q.reserve_many(name, 5).await.unwrap();
        let mut attempts: Vec<i64> = again.iter().map(|j| j.attempts).collect();
        attempts.sort_unstable();
        assert_eq!(attempts, [1, 2], "released counts, handed back does not");
        for job in &again {
            assert!(q.delete(job).await.unwrap());
        }

        // later → migrate → pop (Laravel's pop: migrate + reserve)
        q.later(name, 0, &payload(4)).await.unwrap();
        let job = q.pop(name).await.unwrap().expect("the due delayed job");
        assert!(q.delete(&job).await.unwrap());

        // BLPOP on the notify list wakes when a job is pushed
        let pusher = {
            let endpoint = endpoint.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let q = RedisQueue::connect_to(&endpoint, RedisQueueOptions::default())
                    .await
                    .unwrap();
                q.push(&name, &payload(5)).await.unwrap();
            })
        };
        assert!(
            q.wait_for_notify(name, 10).await.unwrap(),
            "woken by the push"
        );
        pusher.await.unwrap();
        let job = q.reserve(name).await.unwrap().expect("the pushed job");
        assert!(q.delete(&job).await.unwrap());
        assert_eq!(q.size(name).await.unwrap(), 0);
    }
    assert_eq!(queue_keys(cluster), Vec::<String>::new());

    // SCAN reaches every primary: one queue on each of two primaries.
    q.push("{default}", &payload(6)).await.unwrap();
    q.push(&other, &payload(7)).await.unwrap();
    let mut expected = vec!["{default}".to_owned(), other.clone()];
    expected.sort();
    assert_eq!(q.queue_names().await.unwrap(), expected);

    // Scripts flushed on every primary are loaded again (EVALSHA → NOSCRIPT → SCRIPT LOAD).
    for node in 0..3 {
        assert_eq!(cluster.cli(node, &["SCRIPT", "FLUSH"]).trim(), "OK");
    }
    let job = q.reserve(&other).await.unwrap().expect("a job");
    assert!(q.delete(&job).await.unwrap());
    assert_eq!(q.clear("{default}").await.unwrap(), 1);
    assert_eq!(q.clear(&other).await.unwrap(), 0);
    assert_eq!(queue_keys(cluster), Vec::<String>::new());
}

#[tokio::test]
async fn a_queue_name_whose_keys_span_slots_is_refused_with_advice() {
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    let q = queue(&cluster).await;
    let err = q.check_queue("default").unwrap_err();
    assert!(matches!(err, QueueError::CrossSlot { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(r#"queue "default""#), "{text}");
    assert!(text.contains("{default}"), "{text}");
    q.check_queue("emails{x}")
        .expect("a tag anywhere in the name will do");

    // Even without the check, no script over several slots reaches the server.
    for err in [
        q.push("default", &payload(1)).await.unwrap_err(),
        q.reserve("default").await.map(|_| ()).unwrap_err(),
        q.migrate("default").await.map(|_| ()).unwrap_err(),
        q.sizes("default").await.map(|_| ()).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(text.contains("hash tag"), "{text}");
        assert!(
            !text.contains("CROSSSLOT"),
            "refused before sending: {text}"
        );
    }
    assert_eq!(queue_keys(&cluster), Vec::<String>::new());

    // The binary refuses at start.
    let out = bins::larq()
        .args(["work", "--queue", "{default},default", "--once"])
        .env("LARQ_REDIS_CLUSTER", cluster.seed_list())
        .env("QUEUE_FAILED_DRIVER", "null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"queue "default" cannot be used on a Redis Cluster"#),
        "{stderr}"
    );
}

fn artisan(major: u8, cluster: &TestCluster, scratch: &Path, args: &[&str]) -> String {
    let mut c = laravel::artisan_command_for(major, args);
    c.env("LARQ_REDIS_CLUSTER", cluster.seed_list())
        .env("DB_DATABASE", scratch.join("db.sqlite"))
        .env("LOG_PATH", scratch.join("laravel.log"));
    laravel::run(c, &format!("artisan {args:?}"))
}

/// `work` of the tests' backend (larq's command line with the SomeJob handler) on the cluster,
/// for an app on Laravel `major` whose cache store is Redis (as the fixture's .env says).
fn larq_work(major: u8, cluster: &TestCluster, scratch: &Path, args: &[&str]) -> Command {
    let mut c = bins::command(bins::recording_backend());
    // The connection is named: 13's default (QUEUE_CONNECTION unset) is `database`.
    c.args(["work", "redis"])
        .args(["--laravel-version", &major.to_string()])
        .args(args)
        .env("LARQ_REDIS_CLUSTER", cluster.seed_list())
        .env("CACHE_DRIVER", "redis")
        .env("CACHE_STORE", "redis")
        .env("DB_DATABASE", scratch.join("db.sqlite"));
    c
}

#[test]
fn laravel_dispatches_to_the_cluster_and_larq_work_drains_it() {
    cluster_round_trip(8);
}

/// Laravel 13's own cluster layout: its prefixes, its phpredis (6.x) `RedisCluster` client.
#[test]
fn laravel_13_dispatches_to_the_cluster_and_larq_work_drains_it() {
    cluster_round_trip(13);
}

fn cluster_round_trip(major: u8) {
    if !laravel::version_available(major) {
        return;
    }
    let Some(cluster) = TestCluster::start() else {
        return;
    };
    let queues = format!("{}queues:", laravel::redis_prefix(major));
    let scratch = tempfile::tempdir().unwrap();
    let other = queue_on_another_primary(&cluster);
    let dispatched = |queue: &str, count: u32, first_id: u32| {
        let out = artisan(
            major,
            &cluster,
            scratch.path(),
            &[
                "larq:dispatch",
                "SomeJob",
                &format!("--count={count}"),
                &format!("--user-id={first_id}"),
                "--increment",
                &format!("--queue={queue}"),
            ],
        );
        assert_eq!(out.lines().count(), count as usize);
    };
    dispatched("{default}", 300, 1);
    dispatched(&other, 100, 1001);
    assert_eq!(
        cluster
            .cli(
                cluster.node_of(&format!("{queues}{other}")),
                &["LLEN", &format!("{queues}{other}")]
            )
            .trim(),
        "100",
        "phpredis put the second queue on its own primary"
    );

    let out = larq_work(major, &cluster, scratch.path(), &[])
        .args(["--queue", &format!("{{default}},{other}")])
        .args(["--stop-when-empty", "--concurrency", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut runs: BTreeMap<u32, usize> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("Processing user ID: ") {
            let id: u32 = rest.split(' ').next().unwrap().parse().unwrap();
            *runs.entry(id).or_default() += 1;
        }
    }
    let expected: BTreeMap<u32, usize> = (1..=300).chain(1001..=1100).map(|i| (i, 1)).collect();
    assert_eq!(
        runs,
        expected,
        "every job exactly once; larq said:\n{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        queue_keys_with(&cluster, &queues),
        Vec::<String>::new(),
        "nothing left in ready, delayed, reserved or notify"
    );

    // `php artisan queue:restart` writes the signal through phpredis's cluster client; the
    // worker's cache store reads it from the cluster and stops.
    let mut worker = larq_work(major, &cluster, scratch.path(), &[])
        .args(["--queue", "{default}", "--sleep", "0.2"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The signal is a unix second: let the worker's start value be an older one.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(worker.try_wait().unwrap().is_none(), "still working");
    artisan(major, &cluster, scratch.path(), &["queue:restart"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = worker.kill();
            panic!("larq did not stop after queue:restart");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}
