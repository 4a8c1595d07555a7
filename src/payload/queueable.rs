//! The properties Laravel's `Queueable`, `InteractsWithQueue` and `Batchable` traits add to every
//! job object, read once from the serialized command.
//!
//! They are plumbing, not the job's data: where the job goes (`connection`, `queue`, `delay`),
//! the rest of its chain (`chained`, `chainConnection`, `chainQueue`, `chainCatchCallbacks`), its
//! batch (`batchId`) and its middleware. Chains, batches, unique locks, dispatching from Rust and
//! `larq codegen` all need some of them; they share this one reading and this one list instead of
//! each parsing the command again and keeping a list of its own.
//!
//! Values that are moved into another job byte-exact (the chain's properties) stay lossless
//! [`Value`] trees.

use crate::php::{self, Object, Value};

/// The properties `Queueable` (and `InteractsWithQueue`) give a Laravel 8 job, in the order PHP
/// serializes them. A job dispatched from Rust carries exactly these.
pub const QUEUEABLE_PROPERTIES: [&str; 10] = [
    "job",
    "connection",
    "queue",
    "chainConnection",
    "chainQueue",
    "chainCatchCallbacks",
    "delay",
    "afterCommit",
    "middleware",
    "chained",
];

/// What `Batchable` adds.
pub const BATCHABLE_PROPERTIES: [&str; 1] = ["batchId"];

/// What Laravel 13's `Queueable` adds to 8's (and 10's) list: SQS FIFO message groups and
/// deduplication, the debounce and unique-lock owners.
pub const LATER_QUEUEABLE_PROPERTIES: [&str; 4] = [
    "messageGroup",
    "deduplicator",
    "debounceOwner",
    "uniqueLockOwner",
];

/// Whether a property is trait plumbing rather than the job's own data (code generation leaves
/// these out of a job's struct).
pub fn is_plumbing(name: &str) -> bool {
    QUEUEABLE_PROPERTIES.contains(&name)
        || BATCHABLE_PROPERTIES.contains(&name)
        || LATER_QUEUEABLE_PROPERTIES.contains(&name)
}

/// A job's trait properties. Missing properties read as `Value::Null` / `None` / empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Queueable {
    /// `$connection`.
    pub connection: Value<'static>,
    /// `$queue`.
    pub queue: Value<'static>,
    /// `$chainConnection`: the connection of the chain's next links.
    pub chain_connection: Value<'static>,
    /// `$chainQueue`: the queue of the chain's next links.
    pub chain_queue: Value<'static>,
    /// `$chainCatchCallbacks`: PHP closures run when a link fails.
    pub chain_catch_callbacks: Value<'static>,
    /// `$delay`: seconds, a `DateTime` or a `DateInterval`.
    pub delay: Value<'static>,
    /// `$middleware`: job middleware added with `->through([...])` at dispatch.
    pub middleware: Value<'static>,
    /// `$chained`: the rest of the chain, each a complete `serialize($job)` string.
    pub chained: Vec<Value<'static>>,
    /// `$batchId` (`Batchable`), when not empty.
    pub batch_id: Option<String>,
    /// `$uniqueId`, a `ShouldBeUnique` job's lock id when the class declares it as a property.
    pub unique_id: Option<String>,
    /// `$uniqueLockOwner` (Laravel 13's `Queueable`): the owner of the unique lock taken at
    /// dispatch, which Laravel then releases only while it still owns it.
    pub unique_lock_owner: Option<String>,
    /// `$deleteWhenMissingModels` as the command carries it (a class property, not the
    /// trait's; see [`crate::job::Job::DELETE_WHEN_MISSING_MODELS`] for when it is there).
    pub delete_when_missing_models: Option<bool>,
}

impl Queueable {
    /// Read the properties of a job object.
    pub fn from_object(obj: &Object<'_>) -> Queueable {
        let owned = |name: &str| {
            obj.get(name)
                .cloned()
                .map(Value::into_owned)
                .unwrap_or(Value::Null)
        };
        let text = |name: &str| match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {
                Some(String::from_utf8_lossy(s).into_owned())
            }
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        let chained = match obj.get("chained") {
            Some(Value::Array(items)) => {
                items.iter().map(|(_, v)| v.clone().into_owned()).collect()
            }
            _ => Vec::new(),
        };
        Queueable {
            connection: owned("connection"),
            queue: owned("queue"),
            chain_connection: owned("chainConnection"),
            chain_queue: owned("chainQueue"),
            chain_catch_callbacks: owned("chainCatchCallbacks"),
            delay: owned("delay"),
            middleware: owned("middleware"),
            chained,
            batch_id: text("batchId"),
            unique_id: text("uniqueId"),
            unique_lock_owner: text("uniqueLockOwner"),
            delete_when_missing_models: match obj.get("deleteWhenMissingModels") {
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            },
        }
    }

    /// Read the properties of a serialized command; a command that is not an object has none.
    pub fn from_command(command: &[u8]) -> Result<Queueable, php::Error> {
        Ok(match Value::parse(command)? {
            Value::Object(obj) => Queueable::from_object(&obj),
            _ => Queueable::default(),
        })
    }

    /// How many chain catch callbacks (PHP closures) the job carries.
    pub fn catch_callbacks(&self) -> usize {
        match &self.chain_catch_callbacks {
            Value::Array(items) => items.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trait_properties_and_nothing_else() {
        let command = br#"O:10:"App\Jobs\X":6:{s:6:"userId";i:7;s:5:"queue";s:4:"high";s:7:"batchId";s:3:"b-1";s:7:"chained";a:1:{i:0;s:6:"N;abcd";}s:8:"uniqueId";i:42;s:15:"uniqueLockOwner";s:2:"o1";}"#;
        let q = Queueable::from_command(command).unwrap();
        assert_eq!(q.queue, Value::String(b"high".to_vec().into()));
        assert_eq!(q.connection, Value::Null);
        assert_eq!(q.batch_id.as_deref(), Some("b-1"));
        assert_eq!(q.unique_id.as_deref(), Some("42"));
        assert_eq!(q.unique_lock_owner.as_deref(), Some("o1"));
        assert_eq!(q.chained.len(), 1);
        assert_eq!(q.catch_callbacks(), 0);
        assert!(is_plumbing("chainQueue") && is_plumbing("batchId") && !is_plumbing("userId"));
        assert!(is_plumbing("uniqueLockOwner") && is_plumbing("messageGroup"));
    }
}
