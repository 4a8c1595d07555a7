//! Where a Redis queue lives (one server, or a Redis Cluster) and the one connection type every
//! queue and cache operation goes through.
//!
//! The queue's operations are written once, against [`redis::aio::ConnectionLike`]. A
//! [`RedisConnection`] is either a single-node connection or redis-rs's async cluster client, so
//! the same scripts, EVALSHA with NOSCRIPT reload, and commands run unchanged on both: the cluster
//! client routes each command by its first key (a script by `KEYS[1]`) and loads scripts on every
//! primary.
//!
//! On a cluster a script may only touch keys of one hash slot. Laravel asks for hash-tagged queue
//! names there (`{default}`, so `…queues:{default}` and `…queues:{default}:reserved` share a slot).
//! A script whose keys span slots is refused by the connection itself, before it is sent, with an
//! error that says how to name the queue, instead of the server's bare `CROSSSLOT`.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, TlsCertificates, Value,
};

use super::QueueError;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one reply may take: long enough for a migration script over a large set.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the app's Redis is: one server (`redis://`, `rediss://`, `redis+unix://` URL) or a Redis
/// Cluster (seed node URLs; the rest of the cluster is discovered), optionally with the CA that
/// signed the servers' TLS certificates.
///
/// It exists so that what to connect to is decided once, from the app's settings
/// ([`crate::config::RedisSettings`]), and every part of larq that opens Redis (queue, blocking
/// wait, cache store, unique locks) opens the same kind of connection.
#[derive(Clone)]
pub struct RedisEndpoint {
    nodes: Vec<String>,
    cluster: bool,
    ca_cert: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URLs may carry a password: only their number is shown.
        f.debug_struct("RedisEndpoint")
            .field("cluster", &self.cluster)
            .field("nodes", &self.nodes.len())
            .field("ca_cert", &self.ca_cert.is_some())
            .finish()
    }
}

impl RedisEndpoint {
    /// One Redis server at `url` (`user:password@` and `/db` allowed; `rediss://` for TLS,
    /// `rediss://…#insecure` to skip certificate verification).
    pub fn node(url: impl Into<String>) -> RedisEndpoint {
        RedisEndpoint {
            nodes: vec![url.into()],
            cluster: false,
            ca_cert: None,
        }
    }

    /// A Redis Cluster reached through these seed nodes (URLs as for [`RedisEndpoint::node`];
    /// all must share credentials and scheme). A cluster has only database 0, so a `/db` in a
    /// seed URL is ignored, as phpredis's `RedisCluster` ignores `database`.
    pub fn cluster<I, S>(seeds: I) -> RedisEndpoint
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisEndpoint {
            nodes: seeds.into_iter().map(Into::into).collect(),
            cluster: true,
            ca_cert: None,
        }
    }

    /// Verify the servers' TLS certificates against these CA certificates (PEM) instead of the
    /// public web roots, for a private CA. Only valid with `rediss://` URLs.
    pub fn with_ca_cert(mut self, pem: Vec<u8>) -> RedisEndpoint {
        self.ca_cert = Some(pem);
        self
    }

    /// Whether this is a Redis Cluster, where every queue name needs a hash tag.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The connection for commands and scripts: it reconnects by itself, with a reply timeout
    /// fit for scripts over large sets. Connection failures are [`QueueError::Redis`] with op
    /// `connect`; unusable settings are [`QueueError::Config`].
    pub async fn connect(&self) -> Result<RedisConnection, QueueError> {
        self.open(false).await
    }

    /// A connection of its own for `BLPOP`, with no reply timeout, so a long block neither times
    /// out nor holds up the commands on the shared connection.
    pub async fn connect_blocking(&self) -> Result<RedisConnection, QueueError> {
        self.open(true).await
    }

    fn check_tls(&self) -> Result<(), QueueError> {
        let tls = self.nodes.iter().any(|n| n.starts_with("rediss://"));
        if tls {
            // rustls needs a process-wide crypto provider; an earlier install is fine.
            // rustls 0.23.48 deprecates the ring provider (no post-quantum key exchange); redis-rs's
            // rustls support is built on ring here, and a scaffold built without this lockfile
            // gets the newer rustls, so the call must not warn there.
            #[allow(deprecated)]
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        if self.ca_cert.is_some() && !self.nodes.iter().all(|n| n.starts_with("rediss://")) {
            return Err(QueueError::Config(
                "a CA certificate is set but the Redis URL is not rediss:// (set REDIS_SCHEME=tls)"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    fn certificates(&self) -> Option<TlsCertificates> {
        self.ca_cert.as_ref().map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        })
    }

    /// What to call the server in messages: `host:port`, the socket path, or the cluster's seed
    /// nodes; never a password.
    pub fn server(&self) -> String {
        let addr = |url: &String| {
            url.as_str()
                .into_connection_info()
                .map(|info| info.addr().to_string())
                .unwrap_or_else(|_| "(an invalid URL)".to_owned())
        };
        let nodes: Vec<String> = self.nodes.iter().map(addr).collect();
        if self.cluster {
            format!("the cluster of {}", nodes.join(", "))
        } else {
            nodes.join(", ")
        }
    }

    /// Connect, all within [`CONNECT_TIMEOUT`] plus the client's own retries, and (for the
    /// command connection) see one `PING` answered: a server that accepts connections but never
    /// answers fails start-up with its address instead of hanging it.
    async fn open(&self, blocking: bool) -> Result<RedisConnection, QueueError> {
        self.check_tls()?;
        let server = self.server();
        let limit = CONNECT_TIMEOUT * 2;
        match tokio::time::timeout(limit, self.open_checked(blocking)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(source)) if source.is_timeout() => Err(QueueError::ConnectTimeout {
                server,
                timeout: CONNECT_TIMEOUT,
            }),
            Ok(Err(source)) => Err(QueueError::Connect { server, source }),
            Err(_) => Err(QueueError::ConnectTimeout {
                server,
                timeout: limit,
            }),
        }
        .map_err(|e| match e {
            QueueError::Connect { source, .. }
                if source.kind() == ErrorKind::InvalidClientConfig =>
            {
                config_error(source)
            }
            other => other,
        })
    }

    async fn open_checked(&self, blocking: bool) -> Result<RedisConnection, RedisError> {
        if self.cluster {
            let client = self.cluster_client(blocking)?;
            let conn = client.get_async_connection().await?;
            return Ok(RedisConnection::Cluster(conn));
        }
        let Some(url) = self.nodes.first() else {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "no Redis server given",
            )));
        };
        let client = match self.certificates() {
            Some(certs) => Client::build_with_tls(url.as_str(), certs),
            None => Client::open(url.as_str()),
        }?;
        if blocking {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(None);
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            Ok(RedisConnection::Direct(conn))
        } else {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(3);
            let mut conn = client.get_connection_manager_with_config(config).await?;
            match tokio::time::timeout(CONNECT_TIMEOUT, redis::cmd("PING").exec_async(&mut conn))
                .await
            {
                Ok(result) => result?,
                Err(_) => {
                    return Err(RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer to PING",
                    )))
                }
            }
            Ok(RedisConnection::Node(conn))
        }
    }

    fn cluster_client(&self, blocking: bool) -> Result<ClusterClient, RedisError> {
        if self.nodes.is_empty() {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "no Redis Cluster seed nodes given",
            )));
        }
        let mut seeds = Vec::with_capacity(self.nodes.len());
        for url in &self.nodes {
            let info = url.as_str().into_connection_info()?;
            // A cluster has only database 0 (SELECT is refused there).
            let settings = info.redis_settings().clone().set_db(0);
            seeds.push(info.set_redis_settings(settings));
        }
        let mut builder = ClusterClient::builder(seeds).connection_timeout(CONNECT_TIMEOUT);
        if !blocking {
            builder = builder.response_timeout(RESPONSE_TIMEOUT);
        }
        if let Some(certs) = self.certificates() {
            builder = builder.certs(certs);
        }
        builder.build()
    }
}

/// The client's complaint about settings, without the text (it may quote a URL with a password).
fn config_error(e: RedisError) -> QueueError {
    QueueError::Config(format!("{:?}", e.kind()))
}

/// A connection to the app's Redis, whatever its shape; cheap to clone (clones share the
/// underlying connections). Every queue and cache operation runs through it.
#[derive(Clone)]
#[non_exhaustive]
pub enum RedisConnection {
    /// One server, reconnecting by itself.
    Node(ConnectionManager),
    /// One server, one multiplexed connection without reply timeout (for `BLPOP`).
    Direct(MultiplexedConnection),
    /// A Redis Cluster: commands are routed to the primary of their key's slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisConnection::Node(_) => "RedisConnection::Node",
            RedisConnection::Direct(_) => "RedisConnection::Direct",
            RedisConnection::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Node(c) => c.req_packed_command(cmd),
            RedisConnection::Direct(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => match script_keys_share_a_slot(cmd) {
                Ok(()) => c.req_packed_command(cmd),
                Err(e) => Box::pin(std::future::ready(Err(e))),
            },
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Node(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Direct(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => match pipeline_keys_share_a_slot(pipeline) {
                Ok(()) => c.req_packed_commands(pipeline, offset, count),
                Err(e) => Box::pin(std::future::ready(Err(e))),
            },
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Node(c) => c.get_db(),
            RedisConnection::Direct(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConnection {
    /// Whether this talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConnection::Cluster(_))
    }

    /// Every key matching the glob `pattern`, found with `SCAN` (never blocking the server). On a
    /// cluster each primary holds its own keys, so each one is scanned.
    pub async fn scan_match(&mut self, pattern: &str) -> Result<Vec<Vec<u8>>, RedisError> {
        let scan = |cursor: u64| {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(500);
            cmd
        };
        let mut keys = Vec::new();
        let RedisConnection::Cluster(cluster) = self else {
            let mut cursor = 0;
            loop {
                let (next, batch): (u64, Vec<Vec<u8>>) = scan(cursor).query_async(self).await?;
                keys.extend(batch);
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        };
        for slot in primary_slots(cluster).await? {
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
                slot,
                SlotAddr::Master,
            )));
            let mut cursor = 0;
            loop {
                let reply = cluster.route_command(scan(cursor), route.clone()).await?;
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }
}

/// One slot served by each primary (from `CLUSTER SLOTS`), so a command routed to that slot
/// reaches that primary.
async fn primary_slots(cluster: &mut ClusterConnection) -> Result<Vec<u16>, RedisError> {
    let reply = cluster
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await?;
    let bad_reply = || RedisError::from((ErrorKind::UnexpectedReturnType, "CLUSTER SLOTS reply"));
    let Value::Array(ranges) = reply else {
        return Err(bad_reply());
    };
    // Primary "host:port" → the first slot of one of its ranges.
    let mut primaries: BTreeMap<String, u16> = BTreeMap::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(bad_reply());
        };
        let (Some(Value::Int(start)), Some(Value::Array(primary))) =
            (fields.first(), fields.get(2))
        else {
            return Err(bad_reply());
        };
        let address = match (primary.first(), primary.get(1)) {
            (Some(Value::BulkString(host)), Some(Value::Int(port))) => {
                format!("{}:{port}", String::from_utf8_lossy(host))
            }
            _ => return Err(bad_reply()),
        };
        let start = u16::try_from(*start).map_err(|_| bad_reply())?;
        primaries.entry(address).or_insert(start);
    }
    Ok(primaries.into_values().collect())
}

/// The error for keys of one script that land in different cluster slots.
fn cross_slot(first: &[u8], other: &[u8]) -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "keys of one queue hash to different Redis Cluster slots",
        format!(
            "{} and {} (on a cluster, name the queue with a hash tag: {{name}}, e.g. {{default}}, as Laravel requires)",
            String::from_utf8_lossy(first),
            String::from_utf8_lossy(other)
        ),
    ))
}

/// `EVALSHA sha numkeys key...` / `EVAL`: all keys in one slot, else [`cross_slot`].
fn script_keys_share_a_slot(cmd: &Cmd) -> Result<(), RedisError> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(s) => Some(s),
        _ => None,
    });
    let is_script = args
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"EVALSHA") || n.eq_ignore_ascii_case(b"EVAL"));
    if !is_script {
        return Ok(());
    }
    let _script = args.next();
    let numkeys = args
        .next()
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    keys_share_a_slot(args.take(numkeys))
}

/// A pipeline (`MULTI … EXEC` of the sizes): the first key of every command in one slot.
fn pipeline_keys_share_a_slot(pipeline: &Pipeline) -> Result<(), RedisError> {
    keys_share_a_slot(
        pipeline
            .cmd_iter()
            .filter_map(|cmd| match cmd.args_iter().nth(1) {
                Some(redis::Arg::Simple(key)) => Some(key),
                _ => None,
            }),
    )
}

fn keys_share_a_slot<'k>(mut keys: impl Iterator<Item = &'k [u8]>) -> Result<(), RedisError> {
    let Some(first) = keys.next() else {
        return Ok(());
    };
    let slot = Slot::for_key(first);
    for key in keys {
        if Slot::for_key(key) != slot {
            return Err(cross_slot(first, key));
        }
    }
    Ok(())
}

/// Whether all keys of `queue` (ready list, `:delayed`, `:reserved`, `:notify`) under `prefix`
/// hash to one cluster slot, which every queue script needs on a Redis Cluster.
pub fn queue_keys_share_a_slot(prefix: &str, queue: &str) -> bool {
    let ready = format!("{prefix}queues:{queue}");
    let slot = Slot::for_key(&ready);
    ["delayed", "reserved", "notify"]
        .iter()
        .all(|suffix| Slot::for_key(format!("{ready}:{suffix}")) == slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tagged_queue_names_share_a_slot() {
        assert!(queue_keys_share_a_slot("laravel_database_", "{default}"));
        assert!(queue_keys_share_a_slot("laravel_database_", "emails{x}"));
        assert!(!queue_keys_share_a_slot("laravel_database_", "default"));
        // `{}` is no hash tag; a tag in the prefix puts every queue in one slot.
        assert!(!queue_keys_share_a_slot("laravel_database_", "{}default"));
        assert!(queue_keys_share_a_slot("{app}:", "default"));
    }

    #[test]
    fn scripts_over_slots_are_refused_before_sending() {
        let mut ok = redis::cmd("EVALSHA");
        ok.arg("abc")
            .arg(2)
            .arg("q:{a}")
            .arg("q:{a}:reserved")
            .arg("x");
        assert!(script_keys_share_a_slot(&ok).is_ok());
        let mut bad = redis::cmd("EVALSHA");
        bad.arg("abc").arg(2).arg("q:a").arg("q:a:reserved");
        let err = script_keys_share_a_slot(&bad).unwrap_err().to_string();
        assert!(err.contains("q:a and q:a:reserved"), "{err}");
        assert!(err.contains("{default}"), "{err}");
        // Arguments after the keys do not count; other commands are not looked at.
        let mut args = redis::cmd("EVALSHA");
        args.arg("abc").arg(1).arg("q:a").arg("q:b");
        assert!(script_keys_share_a_slot(&args).is_ok());
        let mut plain = redis::cmd("ZREM");
        plain.arg("q:a").arg("q:b");
        assert!(script_keys_share_a_slot(&plain).is_ok());
    }

    #[test]
    fn endpoint_debug_hides_urls() {
        let e = RedisEndpoint::cluster(["redis://:secret@h:1", "redis://:secret@h:2"]);
        let text = format!("{e:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("nodes: 2"), "{text}");
    }
}
