//! A private RabbitMQ vhost on the shared broker (127.0.0.1:5672, guest/guest) per test: made
//! with `rabbitmqctl`, deleted on drop, so a test's queues, its closed connections and its
//! leftovers never touch another test's (or anyone's) vhost.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One vhost of the shared broker, deleted (with everything in it) on drop.
pub struct Vhost {
    /// The vhost's name.
    pub name: String,
}

fn ctl(args: &[&str]) -> Option<String> {
    let out = Command::new("rabbitmqctl").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the shared broker answers. Under `CI=true` a missing broker is a failure.
pub fn available() -> bool {
    let ok = ctl(&["-q", "list_vhosts"]).is_some();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("rabbitmqctl cannot reach the RabbitMQ broker, and CI=true: the machine runs RabbitMQ on 127.0.0.1:5672 (apt-get install rabbitmq-server)");
        }
        eprintln!(
            "notice: no RabbitMQ broker; skipping a RabbitMQ test (it would fail under CI=true)"
        );
    }
    ok
}

impl Vhost {
    /// A fresh vhost named after the test (`larq-test-<tag>-<pid>-<n>`), with guest's
    /// permissions; `None` without a broker outside CI.
    pub fn new(tag: &str) -> Option<Vhost> {
        static N: AtomicU32 = AtomicU32::new(0);
        if !available() {
            return None;
        }
        let name = format!(
            "larq-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let _ = ctl(&["-q", "delete_vhost", &name]);
        ctl(&["-q", "add_vhost", &name]).expect("rabbitmqctl add_vhost");
        ctl(&[
            "-q",
            "set_permissions",
            "-p",
            &name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])
        .expect("rabbitmqctl set_permissions");
        Some(Vhost { name })
    }

    /// The variables that point larq (and the fixture app) at this vhost.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("QUEUE_CONNECTION", "rabbitmq".to_owned()),
            ("RABBITMQ_HOST", "127.0.0.1".to_owned()),
            ("RABBITMQ_PORT", "5672".to_owned()),
            ("RABBITMQ_USER", "guest".to_owned()),
            ("RABBITMQ_PASSWORD", "guest".to_owned()),
            ("RABBITMQ_VHOST", self.name.clone()),
        ]
    }

    /// An endpoint for the library.
    pub fn endpoint(&self) -> larq::amqp::AmqpEndpoint {
        larq::amqp::AmqpEndpoint::new("127.0.0.1", 5672, "guest", "guest", &self.name, false, 0)
    }

    /// Each queue's (ready, unacknowledged) messages.
    pub fn queues(&self) -> HashMap<String, (u64, u64)> {
        let out = ctl(&[
            "-q",
            "list_queues",
            "-p",
            &self.name,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ])
        .unwrap_or_default();
        out.lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let name = f.next()?.to_owned();
                let ready = f.next()?.trim().parse().ok()?;
                let unacked = f.next()?.trim().parse().ok()?;
                Some((name, (ready, unacked)))
            })
            .collect()
    }

    /// A queue's x-arguments as `[name, type, value]` triples (`rabbitmqctl list_queues
    /// --formatter json`), the form the RabbitMQ corpus records.
    pub fn queue_arguments(&self, queue: &str) -> Vec<serde_json::Value> {
        let out = ctl(&[
            "-q",
            "list_queues",
            "-p",
            &self.name,
            "name",
            "arguments",
            "--formatter",
            "json",
        ])
        .unwrap_or_default();
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        all.into_iter()
            .find(|q| q["name"] == queue)
            .and_then(|q| q["arguments"].as_array().cloned())
            .unwrap_or_default()
    }

    /// How many connections to this vhost the broker has open now.
    pub fn connections(&self) -> usize {
        ctl(&["-q", "list_connections", "vhost"])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.trim() == self.name)
            .count()
    }

    /// `rabbitmqctl close_all_connections -p <vhost>`: the broker drops every client of this
    /// vhost, as a restart or a network cut would; other vhosts are untouched.
    pub fn close_all_connections(&self) {
        ctl(&[
            "-q",
            "close_all_connections",
            "-p",
            &self.name,
            "larq test: connections closed on purpose",
        ])
        .expect("rabbitmqctl close_all_connections");
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = ctl(&["-q", "delete_vhost", &self.name]);
    }
}
