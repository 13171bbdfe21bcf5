//! SLA replay and escalation: one case with a 50-event history, and a
//! scheduler's sweep over 10,000 open cases.
//!
//! Run: `cargo bench -p triage-benches --bench escalate`

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{global_support, history, open_cases};
use triage_core::{Options, escalate};

/// Three weeks after the histories start: every clock has had time to run.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_438_400 + 21 * 86_400, 0).unwrap_or_default()
}

fn fifty_events(c: &mut Criterion) {
    let (rules, dir) = global_support();
    let state = history(42, 50);
    let mut g = c.benchmark_group("escalate");
    g.bench_function("sla_and_ladder_50_events", |b| {
        b.iter(|| escalate(&rules, black_box(&state), &dir, now(), &Options::default()).map(|e| e.actions.len()))
    });
    g.finish();
}

fn sweep(c: &mut Criterion) {
    let (rules, dir) = global_support();
    let states = open_cases(10_000);
    let mut g = c.benchmark_group("escalate_sweep");
    g.throughput(Throughput::Elements(states.len() as u64));
    g.sample_size(10);
    g.bench_function("10k_open_cases", |b| {
        b.iter(|| {
            let mut fired = 0usize;
            for s in &states {
                if let Ok(e) = escalate(&rules, black_box(s), &dir, now(), &Options::default()) {
                    fired += e.actions.len();
                }
            }
            fired
        })
    });
    g.finish();
}

criterion_group!(benches, fifty_events, sweep);
criterion_main!(benches);
