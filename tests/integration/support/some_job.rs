//! `App\Jobs\SomeJob(userId, someParam)` payloads built by larq's own Laravel-8-shaped encoder,
//! for tests that need many distinct jobs (each call has its own uuid and id). Not captured
//! payloads: the captured ones are in php-fixtures/corpus.

use larq::payload::Payload;
use larq::php::{Object, Property, Value};

/// The payload for one SomeJob, with the properties Laravel 8 serializes for it.
pub fn some_job_payload(user_id: i64, param: &str) -> Payload {
    let mut obj = Object::new("App\\Jobs\\SomeJob");
    obj.props = vec![
        Property::public("userId", Value::Int(user_id)),
        Property::public("someParam", Value::String(param.as_bytes().to_vec().into())),
        Property::public("job", Value::Null),
        Property::public("connection", Value::Null),
        Property::public("queue", Value::Null),
        Property::public("delay", Value::Null),
        Property::public("middleware", Value::Array(vec![])),
        Property::public("chained", Value::Array(vec![])),
    ];
    let command = String::from_utf8(Value::Object(obj).to_bytes()).unwrap();
    Payload::for_command("App\\Jobs\\SomeJob", command)
}
