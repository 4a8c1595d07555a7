//! The metrics hot path (a job starts, ends, leaves the in-flight gauge) allocates nothing once its
//! `(class, queue)` label set exists: counted with a global allocator that counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use larq::metrics::{Metrics, Outcome};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_known_label_set_costs_no_allocation_per_job() {
    let metrics = Metrics::new();
    // The first job of a label set creates it (allocates).
    metrics
        .job_started("App\\Jobs\\SomeJob", "default")
        .finish(Outcome::Processed);
    let class = String::from("App\\Jobs\\SomeJob");
    let queue = String::from("default");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..1000 {
        let job = metrics.job_started(&class, &queue);
        job.finish(if i % 2 == 0 {
            Outcome::Processed
        } else {
            Outcome::Failed
        });
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the hot path");
    let totals = metrics.totals();
    assert_eq!((totals.processed, totals.failed), (501, 500));
}
