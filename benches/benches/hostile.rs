//! Pathological rule sets and histories: each once took 7 to 60 seconds
//! and must now take about a second at most (the bounds the README states).
//!
//! Run: `cargo bench -p triage-benches --bench hostile`

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{global_support, hostile};
use triage_core::{Options, compile_sources, escalate, lint};

fn compile_time(c: &mut Criterion) {
    let mut g = c.benchmark_group("hostile_compile");
    g.sample_size(10);
    let prefixes = hostile::prefix_keywords(100_000);
    g.bench_function("100k_prefix_keywords", |b| {
        b.iter(|| compile_sources(&[("hostile.yaml", black_box(&prefixes))]).0.is_some())
    });
    let periodic = hostile::periodic_phrase(100_000);
    g.bench_function("100kb_periodic_phrase", |b| {
        b.iter(|| compile_sources(&[("hostile.yaml", black_box(&periodic))]).0.is_some())
    });
    g.finish();
}

fn lint_time(c: &mut Criterion) {
    let mut g = c.benchmark_group("hostile_lint");
    g.sample_size(10);
    let rules = hostile::compile(&hostile::prefix_keywords(100_000));
    g.bench_function("100k_keyword_contains_any", |b| b.iter(|| lint(black_box(&rules)).len()));
    g.finish();
}

fn replay_time(c: &mut Criterion) {
    let (rules, dir) = global_support();
    // A week after the history starts.
    let now = DateTime::<Utc>::from_timestamp(1_772_438_400 + 7 * 86_400, 0).unwrap_or_default();
    let mut g = c.benchmark_group("hostile_replay");
    g.sample_size(10);
    for n in [10_000, 100_000] {
        let state = hostile::policy_changes(n);
        g.bench_function(format!("{n}_policy_changes"), |b| {
            b.iter(|| escalate(&rules, black_box(&state), &dir, now, &Options::default()).map(|e| e.actions.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, compile_time, lint_time, replay_time);
criterion_main!(benches);
