//! Normalization and territory stamping over 10,000 varied cases, and the
//! account hierarchy resolved for 100,000 accounts, and a directory file of
//! 10,000 agents and 100,000 accounts loaded.
//!
//! Run: `cargo bench -p triage-benches --bench territory`

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{accounts, directory_text, global_support, territory_only, varied_cases};
use triage_core::{Directory, Options, triage};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_438_400, 0).unwrap_or_default()
}

fn stamping(c: &mut Criterion) {
    let rules = territory_only();
    let (_, dir) = global_support();
    let cases = varied_cases(10_000);
    let mut g = c.benchmark_group("normalize_and_territory");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.sample_size(20);
    g.bench_function("10k_varied_cases", |b| {
        b.iter(|| {
            let mut stamped = 0usize;
            for case in &cases {
                stamped +=
                    usize::from(triage(&rules, black_box(case), &dir, now(), &Options::default()).territory.is_some());
            }
            stamped
        })
    });
    g.finish();
}

fn hierarchy(c: &mut Criterion) {
    let list = accounts(100_000);
    let mut g = c.benchmark_group("account_hierarchy");
    g.sample_size(10);
    g.throughput(Throughput::Elements(list.len() as u64));
    g.bench_function("resolve_100k_accounts", |b| {
        b.iter_batched(
            || list.clone(),
            |l| Directory::from_accounts(l).map(|d| d.len()).unwrap_or(0),
            BatchSize::LargeInput,
        )
    });
    g.finish();
    // A whole directory file as a caller loads it at start-up: parsing,
    // checking every entry, the hierarchy and the assignment index.
    let text = directory_text(10_000, 100_000);
    let mut g = c.benchmark_group("directory_load");
    g.sample_size(10);
    g.bench_function("json_10k_agents_100k_accounts", |b| {
        b.iter(|| Directory::from_text("directory.json", black_box(&text)).map(|d| d.agent_count()).unwrap_or(0))
    });
    g.finish();
}

criterion_group!(benches, stamping, hierarchy);
criterion_main!(benches);
