//! Duplicate detection: a text's fingerprint, and a query and an insert
//! against a `SimilarityIndex` of 1,000,000 cases (200,000 requesters with
//! 5 cases each, 12 words each from a 5,000-word vocabulary). The index's
//! memory per case is printed: the bytes it holds on the heap (counted by
//! the allocator), and the growth of resident memory while it is built.
//!
//! Run: `cargo bench -p triage-benches --bench similarity`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::hint::black_box;
use triage_core::similarity::{Fingerprint, SimilarityIndex};

const CASES: usize = 1_000_000;
const REQUESTERS: usize = 200_000;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A deterministic word stream (an LCG: the same texts on every run).
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn text(&mut self) -> String {
        (0..12).map(|_| format!("w{}", self.next() % 5000)).collect::<Vec<_>>().join(" ")
    }
}

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn resident() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn index(c: &mut Criterion) {
    let mut words = Words(42);
    let texts: Vec<String> = (0..1000).map(|_| words.text()).collect();
    let mut g = c.benchmark_group("similarity");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fingerprint", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % texts.len();
            Fingerprint::of(Some("Invoice charged twice"), Some(black_box(&texts[i])))
        })
    });
    let prints: Vec<Fingerprint> = (0..CASES).filter_map(|_| Fingerprint::of(None, Some(&words.text()))).collect();
    let keys: Vec<String> = (0..REQUESTERS).map(|r| format!("user{r}@example.com")).collect();
    let ids: Vec<String> = (0..CASES).map(|i| format!("C-{i:07}")).collect();
    let before = resident();
    let region = Region::new(ALLOCATOR);
    let mut index = SimilarityIndex::new(0.4).with_identifiers();
    for (i, p) in prints.iter().enumerate() {
        index.insert(&ids[i], (i / 100) as i64, &[&keys[i % REQUESTERS]], *p);
    }
    let held = region.change();
    let after = resident();
    // A reallocation counts its growth in `bytes_allocated` already.
    let heap = held.bytes_allocated as f64 - held.bytes_deallocated as f64;
    println!(
        "similarity index: {} cases, {:.0} bytes held per case, {:.0} bytes of resident memory per case",
        index.len(),
        heap / CASES as f64,
        after.saturating_sub(before) as f64 / CASES as f64
    );
    let queries: Vec<Fingerprint> = (0..1000).filter_map(|_| Fingerprint::of(None, Some(&words.text()))).collect();
    g.bench_function("query_1m", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            index.query_within(10_000, 259_200, &[&keys[(i * 7919) % REQUESTERS]], black_box(&queries[i])).len()
        })
    });
    let mut next = CASES;
    g.bench_function("insert_1m", |b| {
        b.iter_batched(
            || {
                next += 1;
                (format!("C-{next:07}"), queries[next % queries.len()], &keys[next % REQUESTERS])
            },
            |(id, p, key)| index.insert(&id, 10_000, &[key], p),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
