//! Laravel's framework job wrappers (wire spec §2.6) and what larq does with each.
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
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::job::{exceptions, BoxFuture, Handler, JobContext, JobError, Registry, Resolved};
use crate::payload::Payload;
use crate::php::Value;

/// `data.commandName` of a queued event listener.
pub const CALL_QUEUED_LISTENER: &str = "Illuminate\\Events\\CallQueuedListener";
/// `data.commandName` of a queued mailable.
pub const SEND_QUEUED_MAILABLE: &str = "Illuminate\\Mail\\SendQueuedMailable";
/// `data.commandName` of a queued notification.
pub const SEND_QUEUED_NOTIFICATIONS: &str = "Illuminate\\Notifications\\SendQueuedNotifications";
/// `data.commandName` of a queued closure.
pub const CALL_QUEUED_CLOSURE: &str = "Illuminate\\Queue\\CallQueuedClosure";
/// `data.commandName` of a broadcast event.
pub const BROADCAST_EVENT: &str = "Illuminate\\Broadcasting\\BroadcastEvent";

/// Why a wrapper class cannot run outside PHP.
fn php_only_reason(class: &str) -> Option<&'static str> {
    Some(match class {
        SEND_QUEUED_MAILABLE => "a queued mailable needs Laravel's views and mail transport",
        SEND_QUEUED_NOTIFICATIONS => "a queued notification needs Laravel's notification channels",
        CALL_QUEUED_CLOSURE => "a queued closure is PHP source code",
        BROADCAST_EVENT => "a broadcast event needs Laravel's broadcasters",
        _ => return None,
    })
}

/// Whether `class` is a framework wrapper only PHP can run (a listener without a Rust
/// [`Listener`] counts too, see [`Registry::resolve`]).
pub fn is_php_only(class: &str) -> bool {
    php_only_reason(class).is_some()
}

/// The failure message for a PHP-only wrapper, naming the user class it wraps.
pub fn php_only_message(class: &str, display_name: &str) -> Option<String> {
    php_only_reason(class).map(|why| {
        let display_name = crate::display::printable(display_name, crate::display::FIELD_LIMIT);
        format!(
            "{class} ({display_name}) can only run in PHP: {why}. Run a PHP worker on this queue, \
             or set larq's wrapper policy for the queue to hand-back"
        )
    })
}

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

/// A queued event listener run in Rust: the twin of a PHP listener class implementing
/// `ShouldQueue`. The event (the first argument PHP passed to the listener) is decoded into
/// [`Listener::Event`].
pub trait Listener: Send + Sync + 'static {
    /// The PHP listener class (`App\Listeners\SendShipmentNotification`).
    const CLASS: &'static str;
    /// The listener method (`handle` unless the listener was registered as `Class@method`).
    const METHOD: &'static str = "handle";
    /// The event type, a serde struct with the PHP event's properties.
    type Event: DeserializeOwned + Send + 'static;

    /// Handle the event; an `Err` counts as an exception (tries, backoff...).
    fn handle(
        event: Self::Event,
        ctx: &mut JobContext,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// The listener's `failed($event, $exception)`.
    fn failed(
        event: Self::Event,
        ctx: &JobContext,
        error: &JobError,
    ) -> impl Future<Output = ()> + Send {
        let _ = (event, ctx, error);
        async {}
    }
}

struct ListenerHandler<L>(PhantomData<fn() -> L>);

fn listener_event<L: Listener>(command: &[u8]) -> Result<L::Event, JobError> {
    let undecodable = |what: String| {
        JobError::with_class(
            exceptions::UNDECODABLE,
            format!("cannot decode the event for {}: {what}", L::CLASS),
        )
        .permanent()
    };
    let value = Value::parse(command).map_err(|e| undecodable(e.to_string()))?;
    let first = value
        .as_object()
        .and_then(|o| o.get("data"))
        .and_then(|d| match d {
            Value::Array(items) => items.first().map(|(_, v)| v),
            _ => None,
        })
        .ok_or_else(|| undecodable("the listener's data holds no event".to_owned()))?;
    crate::php::from_value::<L::Event>(first).map_err(|e| undecodable(e.to_string()))
}

impl<L: Listener> Handler for ListenerHandler<L> {
    fn handle<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { L::handle(listener_event::<L>(command)?, ctx).await })
    }

    fn failed<'a>(
        &'a self,
        command: &'a [u8],
        ctx: &'a JobContext,
        error: &'a JobError,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(event) = listener_event::<L>(command) {
                L::failed(event, ctx, error).await;
            }
        })
    }
}

fn listener_key(class: &str, method: &str) -> String {
    format!("{class}@{method}")
}

impl Registry {
    /// Run queued listener `L` (`CallQueuedListener` payloads naming `L::CLASS` and `L::METHOD`).
    pub fn register_listener<L: Listener>(&mut self) -> &mut Registry {
        self.listeners.insert(
            listener_key(L::CLASS, L::METHOD),
            Arc::new(ListenerHandler::<L>(PhantomData)),
        );
        self
    }

    /// Whether a listener class and method has a Rust handler.
    pub fn contains_listener(&self, class: &str, method: &str) -> bool {
        self.listeners.contains_key(&listener_key(class, method))
    }
}

/// Find the Rust listener for a `CallQueuedListener` command.
pub(crate) fn resolve_listener(
    registry: &Registry,
    payload: &Payload,
    command: &[u8],
) -> Result<Resolved, JobError> {
    let value = Value::parse(command).map_err(|e| {
        JobError::with_class(
            exceptions::UNDECODABLE,
            format!("cannot decode the {CALL_QUEUED_LISTENER} command: {e}"),
        )
        .permanent()
    })?;
    let obj = value.as_object();
    let text = |name: &str| {
        obj.and_then(|o| o.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let class = text("class").unwrap_or_else(|| payload.resolve_name().to_owned());
    let method = text("method").unwrap_or_else(|| "handle".to_owned());
    match registry.listeners.get(&listener_key(&class, &method)) {
        Some(handler) => Ok(Registry::resolved(Arc::clone(handler), command)),
        None => Err(JobError::with_class(
            exceptions::UNKNOWN,
            format!(
                "{CALL_QUEUED_LISTENER} ({class}@{method}) has no Rust listener, so it can only run in PHP. \
                 Register one with Registry::register_listener, run a PHP worker on this queue, \
                 or set larq's wrapper policy for the queue to hand-back"
            ),
        )
        .permanent()),
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
    use super::*;

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
            "{}/php-fixtures/corpus/{name}.json",
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
