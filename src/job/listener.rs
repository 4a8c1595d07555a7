//! Queued event listeners (`Illuminate\Events\CallQueuedListener` payloads) run by a Rust
//! [`Listener`]: the registry finds the listener by the PHP class and method the payload names.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{exceptions, BoxFuture, Handler, JobContext, JobError, Registry, Resolved};
use crate::payload::framework::CALL_QUEUED_LISTENER;
use crate::payload::Payload;
use crate::php::Value;

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
