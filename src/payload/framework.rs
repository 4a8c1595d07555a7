//! Laravel's framework job wrappers as they appear in a payload's `data.commandName`, and which
//! of them only PHP can run (the `data.commandName` each wrapper writes). Facts about payloads, shared by the registry (which
//! refuses them with a clear message) and the bus's wrapper policies (which may hand them back).

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
/// [`crate::job::Listener`] counts too, see [`crate::job::Registry::resolve`]).
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
