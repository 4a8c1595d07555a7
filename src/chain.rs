//! Job chains (`Bus::chain([...])`; Laravel's `Queueable::dispatchNextJobInChain`): continuing a chain after a link larq ran.
//!
//! A chained job carries the rest of the chain in its `chained` property: a list of complete
//! `serialize($nextJob)` **strings**. When the job succeeds (it was neither released nor failed),
//! Laravel's `dispatchNextJobInChain` unserializes the first string, gives that job the remaining
//! strings, its connection/queue from `chainConnection`/`chainQueue` when it has none of its own,
//! copies `chainConnection`, `chainQueue` and `chainCatchCallbacks`, and dispatches it as a brand
//! new job, before the current one is deleted.
//!
//! [`next_link`] does the same on the lossless [`Value`] tree, so the next job's class does not
//! need to be known to larq and every property larq does not touch keeps its exact bytes; the
//! worker then pushes it with [`crate::dispatch::Dispatcher::push_command`] (new uuid, `attempts`
//! 0, the link's own `delay` honoured). Whichever worker owns the next class runs it.
//!
//! Catch callbacks are PHP closures: a failed link's callbacks cannot run in Rust.
//! [`Queueable::catch_callbacks`] counts them so the failure can say so (the worker appends a note to the
//! failed_jobs exception text).

use crate::dispatch::{options_from_command, set_prop, string_list, JobOptions};
use crate::payload::queueable::{Queueable, QUEUEABLE_PROPERTIES};
use crate::php::{self, Value};

/// Why the chain could not be continued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The current command or the next link could not be parsed.
    #[error("cannot read the chain: {0}")]
    Parse(#[from] php::Error),
    /// `chained` holds something other than serialized strings.
    #[error("chained[0] is {0}, not a serialized job string")]
    NotAString(&'static str),
    /// The next link is not an object.
    #[error("the next chain link is {0}, not a job object")]
    NotAnObject(&'static str),
    /// Moving the catch callbacks would break `r:`/`R:` slot numbers, which only PHP can renumber.
    #[error(
        "the chain's catch callbacks contain PHP references; larq cannot move them byte-exact"
    )]
    References,
}

/// The next job of a chain, ready to push.
#[derive(Debug, Clone)]
pub struct NextLink {
    /// Its PHP class (`data.commandName`).
    pub class: String,
    /// Its serialized command with the chain properties rewritten.
    pub command: Vec<u8>,
    /// Options PHP would derive from its properties (queue, connection, delay, tries...).
    pub options: JobOptions,
}

fn has_refs(v: &Value<'_>) -> bool {
    match v {
        Value::ObjectRef(_) | Value::ValueRef(_) => true,
        Value::Array(items) => items.iter().any(|(_, v)| has_refs(v)),
        Value::Object(o) => o.props.iter().any(|p| has_refs(&p.value)),
        _ => false,
    }
}

fn empty(v: Option<&Value<'_>>) -> bool {
    // PHP's `?:`: null, "", "0", false, 0 and [] are all empty.
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) | Some(Value::Int(0)) => true,
        Some(Value::String(s)) => s.is_empty() || s.as_ref() == b"0",
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// The next link of the chain whose current job has the trait properties `current`, rewritten as
/// Laravel's `dispatchNextJobInChain` does; `None` when the chain is over (or the job has none).
pub fn next_link(current: &Queueable) -> Result<Option<NextLink>, ChainError> {
    let Some((first, rest)) = current.chained.split_first() else {
        return Ok(None);
    };
    let Value::String(first) = first else {
        return Err(ChainError::NotAString(first.type_name()));
    };
    let next = Value::parse(first)?.into_owned();
    let Value::Object(mut next) = next else {
        return Err(ChainError::NotAnObject(next.type_name()));
    };
    let mut remaining = Vec::with_capacity(rest.len());
    for v in rest {
        match v {
            Value::String(s) => remaining.push(s.to_vec()),
            other => return Err(ChainError::NotAString(other.type_name())),
        }
    }
    let chain_connection = current.chain_connection.clone();
    let chain_queue = current.chain_queue.clone();
    let catch = current.chain_catch_callbacks.clone();
    if has_refs(&catch) || next.props.iter().any(|p| has_refs(&p.value)) {
        // Slot numbers change when properties grow; only a reference-free tree is safe to edit.
        return Err(ChainError::References);
    }

    // version: Laravel 10+'s `SerializesModels::__serialize` leaves out every property still at
    // its declared default (8.x writes them all), so a link serialized that way lacks some of the
    // Queueable properties (`job` at least: null until a worker sets it). PHP's next link then
    // leaves out the chain properties it sets to a default too; so does larq, keeping the link
    // the one PHP would push. Read from the link itself, since a class without SerializesModels
    // is written whole by PHP on every version.
    let (connection_empty, queue_empty) = (empty(next.get("connection")), empty(next.get("queue")));
    let omits_defaults = QUEUEABLE_PROPERTIES
        .iter()
        .any(|name| next.get(name).is_none());
    let mut put = |name: &str, value: Value<'static>| {
        let is_default = match name {
            "chained" | "middleware" => matches!(&value, Value::Array(a) if a.is_empty()),
            _ => value == Value::Null,
        };
        if omits_defaults && is_default {
            next.props.retain(|p| p.name() != name.as_bytes());
        } else {
            set_prop(&mut next, name, value);
        }
    };
    put("chained", string_list(remaining));
    if connection_empty {
        put("connection", chain_connection.clone());
    }
    if queue_empty {
        put("queue", chain_queue.clone());
    }
    put("chainConnection", chain_connection);
    put("chainQueue", chain_queue);
    put("chainCatchCallbacks", catch);

    let options = options_from_command(&next);
    let class = next.class.to_string();
    Ok(Some(NextLink {
        class,
        command: Value::Object(next).to_bytes(),
        options,
    }))
}

/// The note appended to a failed link's exception text when PHP catch callbacks were skipped.
pub fn catch_note(count: usize) -> Option<String> {
    (count > 0).then(|| {
        format!(
            "larq: this job's chain has {count} catch callback{} (PHP closures); they were not run, \
             and the rest of the chain was dropped as Laravel does.",
            if count == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_command(name: &str) -> Vec<u8> {
        corpus_command_of(8, name)
    }

    fn corpus_command_of(major: u8, name: &str) -> Vec<u8> {
        let path = format!(
            "{}/php-fixtures/corpus/laravel-{major}/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let p = crate::payload::Payload::from_slice(&std::fs::read(path).unwrap()).unwrap();
        p.data.command.unwrap().into_bytes()
    }

    #[test]
    fn the_corpus_chain_continues_like_laravel() {
        let a = corpus_command("chain");
        let next = next_link(&Queueable::from_command(&a).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(next.class, "App\\Jobs\\ChainStep");
        assert_eq!(next.options.queue.as_deref(), Some("chains"));
        let b = Value::parse(&next.command).unwrap();
        let b = b.as_object().unwrap();
        assert_eq!(b.get("step").and_then(Value::as_i64), Some(2));
        assert_eq!(b.get("queue").and_then(Value::as_str), Some("chains"));
        assert_eq!(b.get("chainQueue").and_then(Value::as_str), Some("chains"));
        assert_eq!(b.get("connection"), Some(&Value::Null));
        // The catch closure moved over byte for byte.
        let a_tree = Value::parse(&a).unwrap();
        assert_eq!(
            b.get("chainCatchCallbacks").unwrap().to_bytes(),
            a_tree
                .as_object()
                .unwrap()
                .get("chainCatchCallbacks")
                .unwrap()
                .to_bytes()
        );
        let Some(Value::Array(rest)) = b.get("chained") else {
            panic!("no chained")
        };
        assert_eq!(rest.len(), 1);
        // Property order is unchanged (only values were rewritten).
        let names: Vec<&[u8]> = b.props.iter().map(|p| p.name()).collect();
        assert_eq!(names[0], b"step");
        assert_eq!(names.last().copied(), Some(&b"chained"[..]));
        assert_eq!(Queueable::from_command(&a).unwrap().catch_callbacks(), 1);
        // The last link ends the chain.
        let c = next_link(&Queueable::from_command(&next.command).unwrap())
            .unwrap()
            .unwrap();
        assert!(next_link(&Queueable::from_command(&c.command).unwrap())
            .unwrap()
            .is_none());
    }

    #[test]
    fn links_serialized_without_defaults_stay_without_defaults() {
        // Laravel 10 and 13 leave out properties at their default: the next link PHP pushes has
        // no null `connection` or `chainConnection`, and neither has larq's.
        for major in [10, 13] {
            let a = corpus_command_of(major, "chain");
            let next = next_link(&Queueable::from_command(&a).unwrap())
                .unwrap()
                .unwrap();
            let b = Value::parse(&next.command).unwrap();
            let mut names: Vec<String> = b
                .as_object()
                .unwrap()
                .props
                .iter()
                .map(|p| String::from_utf8_lossy(p.name()).into_owned())
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "chainCatchCallbacks",
                    "chainQueue",
                    "chained",
                    "queue",
                    "step"
                ],
                "Laravel {major}"
            );
            // The last link has an empty chain: left out too.
            let c = next_link(&Queueable::from_command(&next.command).unwrap())
                .unwrap()
                .unwrap();
            let c = Value::parse(&c.command).unwrap();
            assert!(
                c.as_object().unwrap().get("chained").is_none(),
                "Laravel {major}"
            );
        }
    }

    #[test]
    fn a_job_without_a_chain_has_no_next_link() {
        assert!(
            next_link(&Queueable::from_command(&corpus_command("some_job")).unwrap())
                .unwrap()
                .is_none()
        );
        assert_eq!(
            Queueable::from_command(&corpus_command("some_job"))
                .unwrap()
                .catch_callbacks(),
            0
        );
        assert!(catch_note(0).is_none());
    }

    #[test]
    fn a_links_own_queue_wins() {
        let inner = br#"O:1:"B":2:{s:5:"queue";s:3:"own";s:7:"chained";a:0:{}}"#;
        let mut a = br#"O:1:"A":3:{s:10:"chainQueue";s:5:"chain";s:19:"chainCatchCallbacks";N;s:7:"chained";a:1:{i:0;"#.to_vec();
        a.extend_from_slice(format!("s:{}:\"", inner.len()).as_bytes());
        a.extend_from_slice(inner);
        a.extend_from_slice(b"\";}}");
        let next = next_link(&Queueable::from_command(&a).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(next.options.queue.as_deref(), Some("own"));
    }
}
