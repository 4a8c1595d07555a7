//! Laravel's framework job wrappers (`CallQueuedListener`, `SendQueuedMailable`, ...) and what larq does with each.
//!
//! Several things an app queues are not its own job classes but framework wrappers around them:
//!
//! | `data.commandName` | what it wraps | larq |
//! |---|---|---|
//! | `Illuminate\Events\CallQueuedListener` | a queued event listener | runs a Rust [`Listener`] registered for the listener class and method |
//! | `Illuminate\Mail\SendQueuedMailable` | a `Mailable` | PHP only (views, mail transport) |
//! | `Illuminate\Notifications\SendQueuedNotifications` | a notification | PHP only (channels) |
//! | `Illuminate\Queue\CallQueuedClosure` | a closure | PHP only (PHP source code) |
//! | `Illuminate\Broadcasting\BroadcastEvent` | a broadcast event | PHP only (broadcasters) |
//!
//! A PHP-only job reaching a larq worker follows the queue's [`WrapperPolicy`]:
//!
//! * [`WrapperPolicy::Fail`] (default): the job fails at once with a message that says it can only
//!   run in PHP, like any class larq has no handler for.
//! * [`WrapperPolicy::HandBack`]: the job is put back for a PHP worker, **untouched**: the original
//!   bytes (so `attempts` is not consumed) go to `:delayed`, due after a delay. The delay is what
//!   keeps a queue served only by larq workers from spinning: the job is then seen once per delay,
//!   not in a hot loop. With a cache store, hand-backs are also counted per job uuid and, past
//!   [`HandBack::max`], the job fails with a message that no PHP worker took it.

use std::collections::HashMap;

use crate::payload::Payload;

pub use crate::job::Listener;
pub use crate::payload::framework::{
    is_php_only, php_only_message, BROADCAST_EVENT, CALL_QUEUED_CLOSURE, CALL_QUEUED_LISTENER,
    SEND_QUEUED_MAILABLE, SEND_QUEUED_NOTIFICATIONS,
};

/// What a larq worker does with a job only PHP can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WrapperPolicy {
    /// Fail it now with a clear message (the default: nothing waits forever unnoticed).
    #[default]
    Fail,
    /// Put the original bytes back for a PHP worker (see [`HandBack`]).
    HandBack,
}

/// How handing back behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandBack {
    /// Seconds before the handed-back job is due again (in `:delayed`).
    pub delay: u64,
    /// Hand-backs of one job (counted in the cache store by uuid, for a day) before it fails
    /// because no PHP worker took it; 0 = no limit.
    pub max: u64,
}

impl Default for HandBack {
    fn default() -> Self {
        // Ten seconds apart, for an hour.
        HandBack {
            delay: 10,
            max: 360,
        }
    }
}

/// The wrapper policy of each queue.
#[derive(Debug, Clone, Default)]
pub struct WrapperPolicies {
    default: WrapperPolicy,
    per_queue: HashMap<String, WrapperPolicy>,
    /// Hand-back timing.
    pub hand_back: HandBack,
}

impl WrapperPolicies {
    /// Every queue fails PHP-only jobs.
    pub fn new() -> WrapperPolicies {
        WrapperPolicies::default()
    }

    /// The policy of queues not named with [`WrapperPolicies::queue`].
    pub fn default_policy(mut self, policy: WrapperPolicy) -> WrapperPolicies {
        self.default = policy;
        self
    }

    /// The policy of one queue.
    pub fn queue(mut self, queue: impl Into<String>, policy: WrapperPolicy) -> WrapperPolicies {
        self.per_queue.insert(queue.into(), policy);
        self
    }

    /// The policy for `queue`.
    pub fn for_queue(&self, queue: &str) -> WrapperPolicy {
        self.per_queue.get(queue).copied().unwrap_or(self.default)
    }
}

/// Whether a resolve error is "only PHP can run this" (a framework wrapper, or a listener with no
/// Rust handler), the case a [`WrapperPolicy`] decides.
pub fn is_php_only_payload(payload: &Payload) -> bool {
    match payload.data.command_name.as_deref() {
        Some(CALL_QUEUED_LISTENER) => true,
        Some(class) => is_php_only(class),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::job::{JobContext, JobError, Registry};

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct OrderShipped {
        order_id: i64,
    }

    struct SendShipmentNotification;

    impl Listener for SendShipmentNotification {
        const CLASS: &'static str = "App\\Listeners\\SendShipmentNotification";
        type Event = OrderShipped;
        async fn handle(event: OrderShipped, ctx: &mut JobContext) -> Result<(), JobError> {
            ctx.release(u64::try_from(event.order_id).unwrap_or(0));
            Ok(())
        }
    }

    fn corpus(name: &str) -> Payload {
        let path = format!(
            "{}/php-fixtures/corpus/laravel-8/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Payload::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_registered_listener_runs_with_its_event() {
        let mut reg = Registry::new();
        reg.register_listener::<SendShipmentNotification>();
        let p = corpus("listener");
        let resolved = reg.resolve(&p).unwrap();
        let mut ctx = JobContext::new(Arc::new(p), Arc::from(&b"{}"[..]), 1, "default", "redis");
        resolved.run(&mut ctx).await.unwrap();
        assert!(format!("{:?}", ctx.action).contains("Release(5)"));
    }

    #[test]
    fn php_only_wrappers_say_so() {
        let reg = Registry::new();
        for (name, class) in [
            ("mailable", SEND_QUEUED_MAILABLE),
            ("notification_0", SEND_QUEUED_NOTIFICATIONS),
            ("closure", CALL_QUEUED_CLOSURE),
            ("listener", CALL_QUEUED_LISTENER),
        ] {
            let p = corpus(name);
            assert!(is_php_only_payload(&p), "{name}");
            let err = reg.resolve(&p).unwrap_err();
            assert!(err.is_permanent());
            assert!(err.message().contains(class), "{}", err.message());
            assert!(
                err.message().contains("only run in PHP"),
                "{}",
                err.message()
            );
        }
        assert!(!is_php_only_payload(&corpus("some_job")));
    }

    #[test]
    fn policies_per_queue() {
        let p = WrapperPolicies::new().queue("mail", WrapperPolicy::HandBack);
        assert_eq!(p.for_queue("mail"), WrapperPolicy::HandBack);
        assert_eq!(p.for_queue("default"), WrapperPolicy::Fail);
    }
}
