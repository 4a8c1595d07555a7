//! `rediss://` against a private TLS-only redis-server whose certificate is signed by a CA made
//! for the test (the `openssl` CLI): the queue, its blocking wait and the cache store over TLS
//! with verification against that CA (`LARQ_REDIS_CA_CERT`) and an ACL user; a wrong or missing CA
//! and a wrong password fail with a clear error; `#insecure` connects without verifying.

use crate::support::bins;
use crate::support::tls;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use larq::cache::CacheStore;
use larq::config::{Env, Settings};
use larq::queue::redis::RedisEndpoint;
use larq::queue::{QueueError, RedisQueue, RedisQueueOptions};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret/pw";

/// A TLS-only redis-server with `ca`-signed `server.crt` (SAN IP 127.0.0.1 and localhost), the
/// ACL user alice and the default user disabled; killed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Option<TlsRedis> {
        if tls::missing("openssl", "openssl is not installed")
            || tls::missing("redis-server", "redis-server is not installed")
        {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        tls::make_certs(dir.path());
        for _ in 0..5 {
            let port = crate::support::ports::fresh_port();
            let mut child = Command::new("redis-server")
                .current_dir(dir.path())
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args([
                    "--tls-cert-file",
                    "server.crt",
                    "--tls-key-file",
                    "server.key",
                ])
                .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
                .args(["--user", "default", "off"])
                .args([
                    "--user",
                    USER,
                    "on",
                    &format!(">{PASSWORD}"),
                    "~*",
                    "&*",
                    "+@all",
                ])
                .args(["--logfile", "redis.log", "--dir"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(TlsRedis { child, port, dir });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
            if log.contains("tls") && !log.contains("Address already in use") {
                tls::skip_or_fail(&format!(
                    "this redis-server cannot serve TLS ({})",
                    log.lines().last().unwrap_or("")
                ));
                return None;
            }
        }
        panic!("the TLS redis-server did not start");
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn pem(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).expect("read pem")
    }

    /// `rediss://alice:…@127.0.0.1:PORT/db`, the password percent-encoded.
    fn url(&self, db: u32) -> String {
        format!(
            "rediss://{USER}:{}@127.0.0.1:{}/{db}",
            PASSWORD.replace('/', "%2F"),
            self.port
        )
    }

    /// The app's `.env` for this server, as a Laravel team writes it, plus larq's CA setting.
    fn env(&self, ca: &str) -> Vec<(String, String)> {
        [
            ("REDIS_SCHEME", "tls".to_owned()),
            ("REDIS_HOST", "127.0.0.1".to_owned()),
            ("REDIS_PORT", self.port.to_string()),
            ("REDIS_USERNAME", USER.to_owned()),
            ("REDIS_PASSWORD", PASSWORD.to_owned()),
            ("LARQ_REDIS_CA_CERT", self.path(ca).display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn settings(&self, ca: &str) -> Settings {
        Settings::from_env(&Env::from_pairs(self.env(ca)), None, 8).expect("settings")
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(user_id: i64) -> Vec<u8> {
    format!(
        r#"{{"uuid":"{}","displayName":"App\\Jobs\\SomeJob","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"data":{{"commandName":"App\\Jobs\\SomeJob","command":"O:16:\"App\\Jobs\\SomeJob\":2:{{s:6:\"userId\";i:{user_id};s:9:\"someParam\";s:3:\"tls\";}}"}},"id":"tls{user_id}","attempts":0}}"#,
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

#[tokio::test]
async fn the_queue_works_over_tls_verified_against_a_private_ca_with_an_acl_user() {
    let Some(server) = TlsRedis::start() else {
        return;
    };
    let settings = server.settings("ca.crt");
    let q = RedisQueue::connect_to(
        &settings.redis.queue_endpoint().unwrap(),
        RedisQueueOptions::default(),
    )
    .await
    .expect("connect over TLS");
    q.push("default", &payload(1)).await.unwrap();
    let job = q.reserve("default").await.unwrap().expect("a job");
    assert_eq!(job.attempts, 1);
    assert!(q.release(&job, 0).await.unwrap());
    assert_eq!(q.migrate("default").await.unwrap(), 1);
    let job = q
        .reserve("default")
        .await
        .unwrap()
        .expect("the released job");
    assert_eq!(job.attempts, 2);
    assert!(q.delete(&job).await.unwrap());
    assert_eq!(q.size("default").await.unwrap(), 0);

    // The blocking wait opens its own TLS connection with the same CA.
    let pusher = {
        let endpoint = settings.redis.queue_endpoint().unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let q = RedisQueue::connect_to(&endpoint, RedisQueueOptions::default())
                .await
                .unwrap();
            q.push("default", &payload(2)).await.unwrap();
        })
    };
    assert!(q.wait_for_notify("default", 10).await.unwrap());
    pusher.await.unwrap();
    assert_eq!(q.clear("default").await.unwrap(), 1);

    // The cache store (restart signal) on the cache database, over TLS.
    let cache = CacheStore::connect_to(
        &settings.redis.cache_endpoint().unwrap(),
        settings.cache_key(""),
    )
    .await
    .expect("cache over TLS");
    cache
        .forever_int("illuminate:queue:restart", 42)
        .await
        .unwrap();
    assert_eq!(
        cache.get("illuminate:queue:restart").await.unwrap(),
        Some(b"42".to_vec())
    );

    // The binary, configured from the same environment, runs a job over TLS.
    q.push("default", &payload(7)).await.unwrap();
    let out = bins::command(bins::recording_backend())
        .args(["work", "--stop-when-empty"])
        .envs(server.env("ca.crt"))
        .env("QUEUE_FAILED_DRIVER", "null")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Processing user ID: 7 with param: tls"),
        "{stdout}"
    );
    assert_eq!(q.size("default").await.unwrap(), 0);
}

fn connect_error(err: QueueError) -> String {
    assert!(matches!(err, QueueError::Connect { .. }), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn a_wrong_or_missing_ca_and_a_wrong_password_are_refused_clearly() {
    let Some(server) = TlsRedis::start() else {
        return;
    };
    // Signed by another CA than the one given.
    let wrong_ca = RedisEndpoint::node(server.url(0)).with_ca_cert(server.pem("other.crt"));
    let text = connect_error(wrong_ca.connect().await.unwrap_err());
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    // No CA given: the public web roots do not know the test CA either.
    let text = connect_error(
        RedisEndpoint::node(server.url(0))
            .connect()
            .await
            .unwrap_err(),
    );
    assert!(text.contains("UnknownIssuer"), "{text}");
    // The binary says the same, through the settings.
    let out = bins::larq()
        .args(["size", "default"])
        .envs(server.env("other.crt"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // A CA with a plain-TCP URL is a settings mistake, not a silent plaintext connection.
    let plain = RedisEndpoint::node(format!("redis://127.0.0.1:{}/0", server.port))
        .with_ca_cert(server.pem("ca.crt"));
    let err = plain.connect().await.unwrap_err();
    assert!(matches!(err, QueueError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("rediss://"), "{err}");

    // Right CA, wrong password; right CA, no user (the default user is disabled).
    let wrong_pw = format!("rediss://{USER}:nope@127.0.0.1:{}/0", server.port);
    let text = connect_error(
        RedisEndpoint::node(wrong_pw)
            .with_ca_cert(server.pem("ca.crt"))
            .connect()
            .await
            .unwrap_err(),
    );
    assert!(text.contains("AuthenticationFailed"), "{text}");
    assert!(!text.contains("nope"), "{text}");
    let anonymous = RedisEndpoint::node(format!("rediss://127.0.0.1:{}/0", server.port))
        .with_ca_cert(server.pem("ca.crt"));
    let refused = match anonymous.connect().await {
        Err(_) => true,
        Ok(mut conn) => redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_err(),
    };
    assert!(refused, "the disabled default user must not get in");
}

#[tokio::test]
async fn insecure_fragment_connects_without_verifying() {
    let Some(server) = TlsRedis::start() else {
        return;
    };
    let url = format!("{}#insecure", server.url(0));
    let q = RedisQueue::connect(&url, RedisQueueOptions::default())
        .await
        .expect("#insecure skips verification");
    q.push("default", &payload(1)).await.unwrap();
    assert_eq!(q.size("default").await.unwrap(), 1);

    // Through the settings: REDIS_URL without a database keeps `#insecure` last.
    let env = Env::from_pairs([(
        "REDIS_URL",
        format!(
            "rediss://{USER}:{}@127.0.0.1:{}#insecure",
            PASSWORD.replace('/', "%2F"),
            server.port
        ),
    )]);
    let settings = Settings::from_env(&env, None, 8).unwrap();
    let q = RedisQueue::connect_to(
        &settings.redis.queue_endpoint().unwrap(),
        RedisQueueOptions::default(),
    )
    .await
    .expect("REDIS_URL with #insecure");
    assert_eq!(q.size("default").await.unwrap(), 1);
    let cache = CacheStore::connect_to(&settings.redis.cache_endpoint().unwrap(), "")
        .await
        .expect("cache URL with #insecure and /1");
    cache.forever_int("probe", 1).await.unwrap();
}
