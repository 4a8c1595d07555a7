//! Free TCP ports that no other test of this process has been given.
//!
//! All integration tests share one process. A test that stops its Redis for an outage leaves its
//! port free while its worker keeps reconnecting to it; if another test then started a server on
//! that port, the first test's worker would take the second test's jobs. So a port handed out here
//! is never handed out again in the same process, whether or not something still listens on it.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port free right now and never given to another caller in this process.
pub fn fresh_port() -> u16 {
    fresh_port_where(|_| true)
}

/// [`fresh_port`] that also satisfies `ok` (e.g. a Redis Cluster's bus port, +10000, is free).
pub fn fresh_port_where(mut ok: impl FnMut(u16) -> bool) -> u16 {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if !given.contains(&port) && ok(port) {
            given.insert(port);
            return port;
        }
    }
}
