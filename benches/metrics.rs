//! What the metrics add to each job: `Metrics::job_started` (in-flight +1, a read-locked lookup of
//! the `(class, queue)` series), `JobTracker::finish` (outcome counter, histogram bucket, sum) and
//! the tracker's drop (in-flight −1). Compare with `job_path` (the work larq does per job anyway).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use larq::metrics::{Metrics, Outcome};

fn metrics(c: &mut Criterion) {
    let m = Metrics::new();
    // A realistic map: a few queues and classes already seen.
    for q in ["high", "default", "low"] {
        for i in 0..20 {
            m.job_started(&format!("App\\Jobs\\Job{i}"), q)
                .finish(Outcome::Processed);
        }
    }
    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(1));
    group.bench_function("job_started_finish_drop", |b| {
        b.iter(|| {
            let t = m.job_started(black_box("App\\Jobs\\Job7"), black_box("default"));
            t.finish(Outcome::Processed);
        })
    });
    group.bench_function("totals_60_series", |b| {
        b.iter(|| black_box(m.totals()));
    });
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
