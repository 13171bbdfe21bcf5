//! Assignment: the assignment step alone (`reassign` of a decided case) and
//! one full decision (normalize → territory → categorize → tier → SLA →
//! assign) among 1,000 and 10,000 agents; a greedy batch of 100,000 cases
//! over 5,000 agents and an optimal one of 2,000 cases over 500 agents
//! (every case by e-mail: the flow), and an optimal one of 500 cases over
//! 100 agents where a phone case costs 3 units (the MILP).
//!
//! Run: `cargo bench -p triage-benches --bench assign`

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{
    assignable_cases, assignable_cases_mixed, assignment_rules, roster, roster_with_capacity, roster_with_phone_units,
};
use triage_core::{BatchMode, Options, assign_batch, reassign, triage};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_445_600, 0).unwrap_or_default()
}

fn single(c: &mut Criterion) {
    let rules = assignment_rules();
    let cases = assignable_cases(64);
    let mut g = c.benchmark_group("assign_one");
    for agents in [1_000, 10_000] {
        let dir = roster(agents);
        let mut decided: Vec<_> = cases.iter().map(|c| triage(&rules, c, &dir, now(), &Options::default())).collect();
        g.bench_with_input(BenchmarkId::new("assignment_step", agents), &dir, |b, dir| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % cases.len();
                reassign(&rules, &cases[i], &mut decided[i], dir, now(), &Options::default());
                decided[i].agent.is_some()
            })
        });
        g.bench_with_input(BenchmarkId::new("full_pipeline", agents), &dir, |b, dir| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % cases.len();
                triage(&rules, black_box(&cases[i]), dir, now(), &Options::default()).agent.is_some()
            })
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let rules = assignment_rules();
    let dir = roster(5_000);
    let cases = assignable_cases(100_000);
    let mut g = c.benchmark_group("assign_batch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cases.len() as u64));
    // The plan is returned to the caller, who frees it: 100,000 decisions
    // take about a tenth of a second to drop, timed apart from the batch.
    g.bench_function("greedy_100k_cases_5k_agents", |b| {
        b.iter_with_large_drop(|| {
            assign_batch(&rules, black_box(&cases), &dir, now(), BatchMode::Greedy, &Options::default())
        })
    });
    let dir = roster_with_capacity(500, 5);
    let cases = assignable_cases(2_000);
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function("optimal_2k_cases_500_agents_capacity_5", |b| {
        b.iter(|| assign_batch(&rules, black_box(&cases), &dir, now(), BatchMode::Optimal, &Options::default()).len())
    });
    let dir = roster_with_phone_units(100, 6);
    let cases = assignable_cases_mixed(500);
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function("optimal_500_cases_100_agents_mixed_units", |b| {
        b.iter(|| assign_batch(&rules, black_box(&cases), &dir, now(), BatchMode::Optimal, &Options::default()).len())
    });
    // The same batch, greedy: the limit the optimal plan is measured against.
    g.bench_function("greedy_500_cases_100_agents_mixed_units", |b| {
        b.iter(|| assign_batch(&rules, black_box(&cases), &dir, now(), BatchMode::Greedy, &Options::default()).len())
    });
    g.finish();
}

criterion_group!(benches, single, batch);
criterion_main!(benches);
