//! A private three-primary Redis Cluster per test: three `redis-server --cluster-enabled yes` on
//! free ports in a temp dir, slots assigned by hand (primary i holds `RANGES[i]`), joined with
//! `CLUSTER MEET`; every server is killed on drop, also when the test fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The slots of primary 0, 1 and 2.
pub const RANGES: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A running throw-away cluster.
pub struct TestCluster {
    children: Vec<Child>,
    /// The primaries' ports, in [`RANGES`] order.
    pub ports: Vec<u16>,
    /// With TLS: the directory holding `ca.crt`, `server.crt`, `server.key` (see `tls.rs`).
    tls: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn tool_missing(tool: &str) -> bool {
    let missing = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err();
    if missing {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is not installed, and CI=true: install redis-server/redis-tools");
        }
        eprintln!("notice: {tool} not found; skipping a Redis Cluster test (this would fail under CI=true)");
    }
    missing
}

/// A port that is free, whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    super::ports::fresh_port_where(|port| {
        port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
    })
}

impl TestCluster {
    /// Start one and wait for `cluster_state:ok`; `None` (after a notice) when `redis-server`
    /// or `redis-cli` is missing outside CI. Under `CI=true` a missing tool is a failure.
    pub fn start() -> Option<TestCluster> {
        Self::start_with(None)
    }

    /// The same over TLS only (`--port 0 --tls-port P --tls-cluster yes`), with the certificates
    /// in `certs` (`ca.crt`, `server.crt`, `server.key`); clients are not asked for certificates.
    pub fn start_tls(certs: &Path) -> Option<TestCluster> {
        Self::start_with(Some(certs.to_owned()))
    }

    fn start_with(tls: Option<PathBuf>) -> Option<TestCluster> {
        if tool_missing("redis-server") || tool_missing("redis-cli") {
            return None;
        }
        for _ in 0..3 {
            if let Some(cluster) = Self::try_start(tls.clone()) {
                return Some(cluster);
            }
        }
        panic!("the Redis Cluster did not come up");
    }

    fn try_start(tls: Option<PathBuf>) -> Option<TestCluster> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cluster = TestCluster {
            children: Vec::new(),
            ports: Vec::new(),
            tls,
            _dir: dir,
        };
        for i in 0..3 {
            let port = free_cluster_port();
            let node_dir = cluster._dir.path().join(format!("node{i}"));
            std::fs::create_dir(&node_dir).expect("node dir");
            let mut command = Command::new("redis-server");
            match &cluster.tls {
                None => command.args(["--port", &port.to_string()]),
                Some(certs) => command
                    .args(["--port", "0", "--tls-port", &port.to_string()])
                    .args(["--tls-cluster", "yes", "--tls-auth-clients", "no"])
                    .arg("--tls-cert-file")
                    .arg(certs.join("server.crt"))
                    .arg("--tls-key-file")
                    .arg(certs.join("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(certs.join("ca.crt")),
            };
            let child = command
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "5000"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            cluster.children.push(child);
            cluster.ports.push(port);
        }
        if !cluster.wait(Duration::from_secs(5), |c| {
            (0..3).all(|i| c.cli(i, &["PING"]).trim() == "PONG")
        }) {
            return None; // a port was taken meanwhile: the caller tries again
        }
        for (i, (start, end)) in RANGES.iter().enumerate() {
            let out = cluster.cli(
                i,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &start.to_string(),
                    &end.to_string(),
                ],
            );
            assert_eq!(out.trim(), "OK", "ADDSLOTSRANGE on node {i}: {out}");
        }
        for i in 1..3 {
            let port = cluster.ports[i].to_string();
            let out = cluster.cli(0, &["CLUSTER", "MEET", "127.0.0.1", &port]);
            assert_eq!(out.trim(), "OK", "CLUSTER MEET node {i}: {out}");
        }
        let ok = cluster.wait(Duration::from_secs(30), |c| {
            (0..3).all(|i| {
                let info = c.cli(i, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            })
        });
        assert!(ok, "cluster_state:ok not reached");
        Some(cluster)
    }

    fn wait(&self, limit: Duration, ready: impl Fn(&TestCluster) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if ready(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Seed URLs, one per primary (`rediss://` with TLS).
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        self.ports
            .iter()
            .map(|p| format!("{scheme}://127.0.0.1:{p}"))
            .collect()
    }

    /// `LARQ_REDIS_CLUSTER`'s value: `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`.
    pub fn seed_list(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Run `redis-cli` (not in cluster mode) against primary `node`; stdout.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        if let Some(certs) = &self.tls {
            command
                .arg("--tls")
                .arg("--cacert")
                .arg(certs.join("ca.crt"));
        }
        let out = command
            .args(["-h", "127.0.0.1", "-p", &self.ports[node].to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The primary (index into [`TestCluster::ports`]) that holds `key`.
    pub fn node_of(&self, key: &str) -> usize {
        let slot: u16 = self
            .cli(0, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT");
        RANGES
            .iter()
            .position(|(start, end)| (*start..=*end).contains(&slot))
            .expect("slot in a range")
    }

    /// Every key on every primary (each primary lists only its own), sorted.
    pub fn all_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = (0..3)
            .flat_map(|i| {
                self.cli(i, &["--raw", "KEYS", "*"])
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}
