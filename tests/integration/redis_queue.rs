//! The Redis driver against a private redis-server: keys, push, reserve (attempts counted in place),
//! release, migrate, delete by exact bytes, size/clear, blocking, and payloads Laravel's own script
//! would lose or damage.

use crate::support::redis_server;

use larq::payload::Payload;
use larq::queue::now;
use larq::queue::{RedisQueue, RedisQueueOptions, Reservation};
use redis::Commands;
use redis_server::TestRedis;

const Q: &str = "laravel_database_queues:default";

async fn queue(server: &TestRedis, retry_after: u64) -> RedisQueue {
    RedisQueue::connect(
        &server.url(0),
        RedisQueueOptions {
            retry_after,
            ..RedisQueueOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A payload exactly as Laravel 8 writes it (escaped slashes, raw UTF-8, an empty array in data).
fn php_payload(attempts: i64) -> String {
    format!(
        r#"{{"uuid":"{}","displayName":"App\\Jobs\\SomeJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"retryUntil":null,"data":{{"commandName":"App\\Jobs\\SomeJob","command":"O:16:\"App\\Jobs\\SomeJob\":3:{{s:6:\"userId\";i:1;s:9:\"someParam\";s:7:\"h\u00e9\\\/llo\";s:10:\"middleware\";a:0:{{}}}}","tags":[]}},"id":"{}","attempts":{attempts}}}"#,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4().simple()
    )
}

#[tokio::test]
async fn push_reserve_counts_attempts_in_place() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    let payload = php_payload(0);
    assert_eq!(q.push("default", payload.as_bytes()).await.unwrap(), 1);
    let mut c = server.conn(0);
    assert_eq!(c.llen::<_, i64>(Q).unwrap(), 1);
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 1);

    let job = q.reserve("default").await.unwrap().expect("a job");
    assert_eq!(job.original, payload.as_bytes());
    assert_eq!(job.attempts, 1);
    assert_eq!(job.reservation, Reservation::InPlace);
    let expected = payload.replace(r#""attempts":0}"#, r#""attempts":1}"#);
    assert_eq!(String::from_utf8(job.reserved.clone()).unwrap(), expected);
    // The empty array survives (cjson would have written {}), and so do the escapes.
    assert!(expected.contains(r#""tags":[]"#));

    assert_eq!(c.llen::<_, i64>(Q).unwrap(), 0);
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 0);
    let members: Vec<(Vec<u8>, f64)> = c.zrange_withscores(format!("{Q}:reserved"), 0, -1).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].0, job.reserved);
    let expiry = members[0].1 as u64;
    assert!((now() + 89..=now() + 91).contains(&expiry), "{expiry}");

    assert!(q.delete(&job).await.unwrap());
    assert!(!q.delete(&job).await.unwrap());
    assert_eq!(q.size("default").await.unwrap(), 0);
    assert!(q.reserve("default").await.unwrap().is_none());
}

#[tokio::test]
async fn nested_or_duplicate_attempts_fall_back_to_cjson() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    // A nested "attempts" and a float top-level one: not a plain unique integer, so cjson counts.
    let payload = r#"{"uuid":"u","data":{"attempts":7},"attempts":2.0}"#;
    q.push("default", payload.as_bytes()).await.unwrap();
    let job = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(job.reservation, Reservation::Reencoded);
    assert_eq!(job.attempts, 3);
    let reserved: Payload = Payload::from_slice(&job.reserved).unwrap();
    assert_eq!(reserved.attempts, Some(3));
    assert_eq!(reserved.data.extra["attempts"], 7);
    assert!(
        q.delete(&job).await.unwrap(),
        "the re-encoded copy is removable"
    );

    // A nested attempts with a unique top-level integer: the top-level one is edited in place.
    let payload = r#"{"data":{"attempts":7,"s":"\"attempts\":9"},"attempts":4}"#;
    q.push("default", payload.as_bytes()).await.unwrap();
    let job = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(job.reservation, Reservation::InPlace);
    assert_eq!(
        String::from_utf8(job.reserved.clone()).unwrap(),
        r#"{"data":{"attempts":7,"s":"\"attempts\":9"},"attempts":5}"#
    );
    // A repeated top-level key (only a hostile payload has one): the last is counted in place,
    // the one PHP's json_decode reads.
    let payload = r#"{"attempts":1,"x":[],"attempts":4}"#;
    q.push("default", payload.as_bytes()).await.unwrap();
    let job = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(job.reservation, Reservation::InPlace);
    assert_eq!(job.attempts, 5);
    assert_eq!(
        String::from_utf8(job.reserved.clone()).unwrap(),
        r#"{"attempts":1,"x":[],"attempts":5}"#
    );
}

#[tokio::test]
async fn a_payload_without_attempts_is_parked_not_lost() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    for bad in [
        r#"{"uuid":"x","data":{}}"#,
        "not json at all",
        r#"{"attempts":null}"#,
    ] {
        q.push("default", bad.as_bytes()).await.unwrap();
        let job = q.reserve("default").await.unwrap().unwrap();
        assert_eq!(job.reservation, Reservation::Invalid, "{bad}");
        assert_eq!(job.reserved, bad.as_bytes());
        assert_eq!(
            q.size("default").await.unwrap(),
            1,
            "still held in :reserved"
        );
        assert!(q.delete(&job).await.unwrap());
    }
}

#[tokio::test]
async fn release_goes_through_delayed_and_comes_back_when_due() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    let job = q.reserve("default").await.unwrap().unwrap();
    assert!(q.release(&job, 0).await.unwrap());
    let mut c = server.conn(0);
    assert_eq!(c.zcard::<_, i64>(format!("{Q}:reserved")).unwrap(), 0);
    let delayed: Vec<(Vec<u8>, f64)> = c.zrange_withscores(format!("{Q}:delayed"), 0, -1).unwrap();
    assert_eq!(delayed.len(), 1);
    assert_eq!(delayed[0].0, job.reserved, "the exact reserved bytes move");
    // Not yet migrated: reserve sees nothing.
    assert!(q.reserve("default").await.unwrap().is_none());
    assert_eq!(q.migrate("default").await.unwrap(), 1);
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 1);
    let again = q.reserve("default").await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(again.original, job.reserved);
    // A second release is refused once the job is no longer reserved under those bytes.
    assert!(!q.release(&job, 0).await.unwrap());

    // With a delay, migration leaves it until due.
    assert!(q.release(&again, 30).await.unwrap());
    assert_eq!(q.migrate("default").await.unwrap(), 0);
    let score: f64 = c.zscore(format!("{Q}:delayed"), &again.reserved).unwrap();
    assert!((now() + 29..=now() + 31).contains(&(score as u64)));
}

#[tokio::test]
async fn expired_reservations_return_with_one_more_attempt() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 0).await; // reservations expire at once
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    let first = q.reserve("default").await.unwrap().unwrap();
    let job = q.pop("default").await.unwrap().expect("migrated back");
    assert_eq!(job.attempts, 2);
    assert_eq!(job.original, first.reserved);
    assert_eq!(q.size("default").await.unwrap(), 1);
}

#[tokio::test]
async fn php_pop_script_accepts_what_larq_reserved() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 0).await;
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    let _ = q.reserve("default").await.unwrap().unwrap();
    q.migrate("default").await.unwrap();
    // Laravel's reserve, as the spec describes it: LPOP, cjson round trip with attempts+1, ZADD.
    let php_pop = r"local job = redis.call('lpop', KEYS[1])
local reserved = false
if job ~= false then
  reserved = cjson.decode(job)
  reserved['attempts'] = reserved['attempts'] + 1
  reserved = cjson.encode(reserved)
  redis.call('zadd', KEYS[2], ARGV[1], reserved)
  redis.call('lpop', KEYS[3])
end
return {job, reserved}";
    let mut c = server.conn(0);
    let (job, reserved): (String, String) = redis::Script::new(php_pop)
        .key(Q)
        .key(format!("{Q}:reserved"))
        .key(format!("{Q}:notify"))
        .arg(now() + 90)
        .invoke(&mut c)
        .unwrap();
    let decoded: Payload = Payload::from_slice(job.as_bytes()).unwrap();
    assert_eq!(decoded.attempts, Some(1), "PHP sees attempts() = 2");
    assert_eq!(
        Payload::from_slice(reserved.as_bytes()).unwrap().attempts,
        Some(2)
    );
    // PHP's delete is a ZREM of its own reserved string.
    assert_eq!(
        c.zrem::<_, _, i64>(format!("{Q}:reserved"), &reserved)
            .unwrap(),
        1
    );
    assert_eq!(q.size("default").await.unwrap(), 0);
}

#[tokio::test]
async fn size_clear_later_and_blocking() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = RedisQueue::connect(
        &server.url(0),
        RedisQueueOptions {
            block_for: Some(1),
            prefix: "my_app_database_".to_owned(),
            ..RedisQueueOptions::default()
        },
    )
    .await
    .unwrap();
    q.push("high", php_payload(0).as_bytes()).await.unwrap();
    q.later("high", 60, php_payload(0).as_bytes())
        .await
        .unwrap();
    let mut c = server.conn(0);
    assert_eq!(
        c.zcard::<_, i64>("my_app_database_queues:high:delayed")
            .unwrap(),
        1
    );
    assert_eq!(q.size("high").await.unwrap(), 2);
    assert_eq!(q.clear("high").await.unwrap(), 2);
    assert_eq!(q.size("high").await.unwrap(), 0);
    assert!(!c
        .exists::<_, bool>("my_app_database_queues:high:notify")
        .unwrap());

    // An empty queue blocks about block_for seconds, then answers None.
    let started = std::time::Instant::now();
    assert!(q.pop("high").await.unwrap().is_none());
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    // A push during the block wakes it.
    let url = server.url(0);
    let pusher = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let q2 = RedisQueue::connect(
            &url,
            RedisQueueOptions {
                prefix: "my_app_database_".to_owned(),
                ..RedisQueueOptions::default()
            },
        )
        .await
        .unwrap();
        q2.push("high", php_payload(0).as_bytes()).await.unwrap();
    });
    let job = q.pop("high").await.unwrap();
    pusher.await.unwrap();
    let job = match job {
        Some(j) => j,
        None => q.pop("high").await.unwrap().expect("the pushed job"),
    };
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn scripts_reload_after_script_flush() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    server.cli(&["SCRIPT", "FLUSH"]);
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    assert_eq!(q.size("default").await.unwrap(), 2);
}

#[tokio::test]
async fn delete_and_reserve_deletes_finished_jobs_then_reserves_in_one_call() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    for _ in 0..4 {
        q.push("default", php_payload(0).as_bytes()).await.unwrap();
    }
    let first = q.reserve_many("default", 2).await.unwrap();
    assert_eq!(first.len(), 2);
    // A member that is not reserved (its reservation expired and another worker took it) is
    // reported as such and leaves the set alone.
    let gone = php_payload(1);
    let finished: Vec<&[u8]> = vec![&first[0].reserved, gone.as_bytes(), &first[1].reserved];
    let (deleted, next) = q.delete_and_reserve("default", &finished, 5).await.unwrap();
    assert_eq!(deleted, [true, false, true]);
    assert_eq!(next.len(), 2, "only two jobs were left");
    assert!(next.iter().all(|j| j.attempts == 1));
    let mut c = server.conn(0);
    let mut reserved: Vec<Vec<u8>> = c.zrange(format!("{Q}:reserved"), 0, -1).unwrap();
    reserved.sort();
    let mut expected: Vec<Vec<u8>> = next.iter().map(|j| j.reserved.clone()).collect();
    expected.sort();
    assert_eq!(reserved, expected);
    assert_eq!(c.llen::<_, i64>(Q).unwrap(), 0);
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 0);
    // Deletes only (n = 0): nothing is reserved, nothing else moves.
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    let finished: Vec<&[u8]> = next.iter().map(|j| j.reserved.as_slice()).collect();
    let (deleted, none) = q.delete_and_reserve("default", &finished, 0).await.unwrap();
    assert_eq!(deleted, [true, true]);
    assert!(none.is_empty());
    assert_eq!(c.zcard::<_, i64>(format!("{Q}:reserved")).unwrap(), 0);
    assert_eq!(c.llen::<_, i64>(Q).unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_migrate_reserve_deletes_before_it_migrates_expired_reservations() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 90).await;
    let mut c = server.conn(0);
    // Two reservations that expired long ago: one of a job that finished (its delete is in the
    // call), one of a job whose worker died (it must be migrated back and reserved again).
    let done = php_payload(1);
    let dead = php_payload(1);
    let past = now() - 100;
    let _: () = c
        .zadd_multiple(format!("{Q}:reserved"), &[(past, &done), (past, &dead)])
        .unwrap();
    let (deleted, jobs) = q
        .delete_migrate_reserve("default", &[done.as_bytes()], true, 5)
        .await
        .unwrap();
    assert_eq!(
        deleted,
        [true],
        "the finished job was deleted, not migrated"
    );
    assert_eq!(jobs.len(), 1, "only the dead worker's job comes back");
    assert_eq!(jobs[0].original, dead.as_bytes());
    assert_eq!(jobs[0].attempts, 2);
    assert_eq!(c.zcard::<_, i64>(format!("{Q}:reserved")).unwrap(), 1);
    assert_eq!(c.llen::<_, i64>(Q).unwrap(), 0);
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_reply_that_comes_back_after_retry_after_renews_its_reservation() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = queue(&server, 2).await;
    q.push("default", php_payload(0).as_bytes()).await.unwrap();
    // Stall the server for 3 s; the reserve sent meanwhile stamps its expiry (now + 2) before
    // the stall and gets its reply after it.
    let port = server.port;
    let stall = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "DEBUG", "SLEEP", "3"])
            .output()
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (_, jobs) = q
        .delete_migrate_reserve("default", &[], true, 1)
        .await
        .unwrap();
    assert!(stall.join().unwrap().status.success());
    assert_eq!(jobs.len(), 1);
    // Renewed: a migration now (by any worker) leaves the job reserved.
    assert_eq!(q.migrate("default").await.unwrap(), 0, "handed out twice");
    let mut c = server.conn(0);
    let score: f64 = c
        .zscore(format!("{Q}:reserved"), &jobs[0].reserved)
        .unwrap();
    assert!(score as u64 > now(), "expiry {score} is not renewed");
}

/// The operator operations through the `Queue` enum on Redis: `retry_failed` (what `queue:retry`
/// pushes: attempts 0, PHP's json_encode, list + notify token, the payload's id returned),
/// `push_raw`, `size`, `clear` and the name check the database driver shares.
#[tokio::test]
async fn queue_enum_retry_size_and_clear_on_redis() {
    let Some(server) = TestRedis::start() else {
        return;
    };
    let q = larq::queue::Queue::from(queue(&server, 90).await);
    let stored = php_payload(2);
    let retried = q.retry_failed("default", stored.as_bytes()).await.unwrap();
    let id: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(retried.job_id.as_deref(), id["id"].as_str());
    assert_eq!(
        retried.payload,
        larq::queue::retry_payload(stored.as_bytes())
            .unwrap()
            .payload
    );
    assert!(retried.payload.ends_with(r#""attempts":0}"#));
    assert!(
        retried.payload.contains(r#"h\u00e9\\\/llo"#),
        "{}",
        retried.payload
    );
    let mut c = server.conn(0);
    let list: Vec<String> = c.lrange(Q, 0, -1).unwrap();
    assert_eq!(list, std::slice::from_ref(&retried.payload));
    assert_eq!(c.llen::<_, i64>(format!("{Q}:notify")).unwrap(), 1);
    let job = q.reserve("default").await.unwrap().expect("pushed back");
    assert_eq!(job.attempts, 1, "attempts start again");
    assert_eq!(
        q.push_raw("default", b"{\"id\":7,\"attempts\":0}")
            .await
            .unwrap(),
        Some("7".into())
    );
    assert_eq!(
        q.push_raw("default", b"{\"attempts\":0}").await.unwrap(),
        None
    );
    q.later("default", 300, b"{\"attempts\":0}").await.unwrap();
    assert_eq!(
        q.size("default").await.unwrap(),
        4,
        "ready, delayed and reserved"
    );
    // An empty name is refused (Laravel would have used the default queue); on one server any
    // other name is fine.
    assert!(matches!(
        q.clear("").await.unwrap_err(),
        larq::queue::QueueError::QueueName { .. }
    ));
    assert!(q.check_queue(&"q".repeat(300)).is_ok());
    assert!(matches!(
        q.retry_failed("default", b"null").await.unwrap_err(),
        larq::queue::QueueError::RetryPayload { .. }
    ));
    assert_eq!(
        q.size("default").await.unwrap(),
        4,
        "nothing pushed or cleared"
    );
    assert_eq!(q.clear("default").await.unwrap(), 4);
    assert_eq!(q.size("default").await.unwrap(), 0);
    let keys: Vec<String> = c.keys("*").unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}
