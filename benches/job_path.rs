//! Criterion bench for larq's own work per job, without Redis: read the payload JSON Laravel
//! stored (`php-fixtures/corpus/laravel-8/some_job.json`), resolve the handler, decode the PHP command into
//! the job struct and run a no-op `handle`. `bench/e2e.sh` measures the whole worker against
//! Redis and PHP; this isolates the CPU part of it.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use larq::job::{Job, JobContext, JobError, Registry};
use larq::payload::Payload;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SomeJob {
    user_id: i64,
    some_param: String,
}

impl Job for SomeJob {
    const CLASS: &'static str = "App\\Jobs\\SomeJob";

    async fn handle(self, _ctx: &mut JobContext) -> Result<(), JobError> {
        black_box((self.user_id, self.some_param.len()));
        Ok(())
    }
}

fn job_path(c: &mut Criterion) {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/php-fixtures/corpus/laravel-8/some_job.json"
    ))
    .expect("the captured some_job payload");
    let registry = Registry::new().with::<SomeJob>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("job_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("payload_json", |b| {
        b.iter(|| Payload::from_slice(black_box(&raw)).expect("payload"))
    });
    group.bench_function("payload_resolve_decode_handle", |b| {
        b.iter(|| {
            let payload = Arc::new(Payload::from_slice(black_box(&raw)).expect("payload"));
            let resolved = registry.resolve(&payload).expect("resolved");
            let mut ctx =
                JobContext::new(payload, Arc::from(raw.as_slice()), 1, "default", "redis");
            rt.block_on(resolved.run(&mut ctx)).expect("handled");
        })
    });
    group.finish();
}

criterion_group!(benches, job_path);
criterion_main!(benches);
