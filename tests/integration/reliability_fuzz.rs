//! Property tests for the two places hostile queue bytes go first (in CI instead of cargo-fuzz,
//! which needs a nightly toolchain): the worker's decode path (payload JSON → PHP command →
//! handler struct) must never panic, and the reserve script's fast in-place `attempts` edit
//! must give exactly what the full scan gives, on payloads of any key order and nesting.
//! (Arbitrary bytes into `Value::parse`/`from_bytes` alone are covered by tests/integration/php_roundtrip.rs
//! and tests/integration/php_de.rs.)

use crate::support::redis_server;

use larq::job::{Job, JobContext, JobError, Registry};
use larq::payload::Payload;
use proptest::prelude::*;

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SomeJob {
    user_id: i64,
    some_param: String,
    #[serde(default)]
    tags: Vec<String>,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

/// Bytes that look like a PHP-serialized SomeJob, then damaged.
fn command_bytes() -> impl Strategy<Value = Vec<u8>> {
    let good = br#"O:16:"App\Jobs\SomeJob":3:{s:6:"userId";i:7;s:9:"someParam";s:2:"hi";s:4:"tags";a:1:{i:0;s:1:"x";}}"#.to_vec();
    (
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(move |(edits, cut, junk)| {
            let mut b = good.clone();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            if junk.len() > 20 {
                b.truncate(cut.index(b.len() + 1));
                b.extend_from_slice(&junk);
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_decode_path_never_panics_on_damaged_commands(cmd in command_bytes()) {
        let registry = Registry::new().with::<SomeJob>();
        let command = String::from_utf8_lossy(&cmd).into_owned();
        let json = Payload::for_command("App\\Jobs\\SomeJob", command).to_json();
        let payload = Payload::from_slice(json.as_bytes()).expect("our own JSON parses");
        let _ = registry.resolve(&payload);
    }

    #[test]
    fn arbitrary_payload_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let registry = Registry::new().with::<SomeJob>();
        if let Ok(payload) = Payload::from_slice(&bytes) {
            let _ = payload.resolve_name();
            let _ = payload.retry_until();
            let _ = payload.backoff_for(1);
            let _ = registry.resolve(&payload);
        }
    }
}

/// A JSON payload with `attempts` somewhere at top level, other keys in any order, nested
/// objects that may hold their own `attempts`, and strings that contain `"attempts":`.
fn payload_json() -> impl Strategy<Value = (String, i64)> {
    let field = prop_oneof![
        Just(r#""uuid":"u-1""#.to_owned()),
        Just(r#""data":{"command":"O:1:\"A\":0:{}","attempts":5}"#.to_owned()),
        Just(r#""note":"say \"attempts\":3 here""#.to_owned()),
        Just(r#""list":[{"attempts":1},[],{}]"#.to_owned()),
        Just(r#""k\"attempts":9"#.to_owned()),
        Just(r#""id":"abc""#.to_owned()),
    ];
    (
        proptest::collection::vec(field, 0..5),
        any::<prop::sample::Index>(),
        0i64..1000,
    )
        .prop_map(|(mut fields, at, n)| {
            let i = at.index(fields.len() + 1);
            fields.insert(i, format!(r#""attempts":{n}"#));
            (format!("{{{}}}", fields.join(",")), n)
        })
}

/// 200 layouts against one private redis-server (started here, so it is stopped at the end).
#[test]
fn reserve_counts_the_top_level_attempts_whatever_the_layout() {
    let Some(server) = redis_server::TestRedis::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let q = rt
        .block_on(larq::queue::RedisQueue::connect(
            &server.url(0),
            Default::default(),
        ))
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
    runner
        .run(&payload_json(), |(json, n)| {
            rt.block_on(async {
                q.clear("fuzz").await.unwrap();
                q.push("fuzz", json.as_bytes()).await.unwrap();
                let job = q.reserve("fuzz").await.unwrap().expect("a job");
                prop_assert_eq!(job.attempts, n + 1);
                prop_assert_eq!(job.reservation, larq::queue::Reservation::InPlace);
                let before: serde_json::Value = serde_json::from_str(&json).unwrap();
                let mut after: serde_json::Value = serde_json::from_slice(&job.reserved).unwrap();
                prop_assert_eq!(&after["attempts"], &serde_json::json!(n + 1));
                after["attempts"] = serde_json::json!(n);
                prop_assert_eq!(
                    after,
                    before,
                    "only the top-level attempts changed: {}",
                    json
                );
                prop_assert_eq!(
                    job.reserved.len(),
                    json.len() + (n + 1).to_string().len() - n.to_string().len()
                );
                prop_assert!(q.delete(&job).await.unwrap());
                Ok(())
            })
        })
        .unwrap();
}
