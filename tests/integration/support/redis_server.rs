//! A private `redis-server` per test: a free port, a temp dir, killed on drop. Tests never touch
//! the shared Redis on 6379.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running throw-away Redis.
pub struct TestRedis {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl TestRedis {
    /// Start one; `None` (after a notice) when `redis-server` is missing outside CI. Under
    /// `CI=true` a missing server is a failure.
    pub fn start() -> Option<TestRedis> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("redis-server is not installed, and CI=true");
            }
            eprintln!("notice: redis-server not found; skipping (this would fail under CI=true)");
            return None;
        }
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = super::ports::fresh_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // DEBUG SLEEP stalls the server in the fault tests.
                .args(["--enable-debug-command", "local"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut server = TestRedis {
                child,
                port,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if server.cli(&["PING"]).trim() == "PONG" {
                    return Some(server);
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start");
    }

    /// `redis://127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Run `redis-cli` against it (DB 0) and return stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_db(0, args)
    }

    /// Run `redis-cli -n DB` against it and return stdout.
    pub fn cli_db(&self, db: u32, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "-n", &db.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A synchronous client connection for assertions.
    pub fn conn(&self, db: u32) -> redis::Connection {
        redis::Client::open(self.url(db))
            .expect("client")
            .get_connection()
            .expect("connect")
    }
}

impl TestRedis {
    /// Stop the server for an outage: `SHUTDOWN SAVE` writes its data to `dump.rdb` in its
    /// directory (even with `--save ""`), so [`TestRedis::start_again`] comes back with the same
    /// keys, as a restarted production server with persistence would. Clients see connections
    /// refused until then.
    pub fn stop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "SAVE"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same port and directory (loading what [`TestRedis::stop`] saved);
    /// true once it answers PING.
    pub fn start_again(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            self.child = Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // DEBUG SLEEP stalls the server in the fault tests.
                .args(["--enable-debug-command", "local"])
                .arg("--dir")
                .arg(self._dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) {
                if self.cli(&["PING"]).trim() == "PONG" {
                    return true;
                }
                if let Ok(Some(_)) = self.child.try_wait() {
                    break; // the port is still in TIME_WAIT or taken: try again
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
