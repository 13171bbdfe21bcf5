//! One triage decision, measured on the example rule set, on 500 generated
//! field rules (first, middle, last and no rule matching), and on 1,000
//! keyword rules over a 2 KB body.
//!
//! Run: `cargo bench -p triage-benches`

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{body_with, case, field_case, field_rules, global_support, keyword_rules};
use triage_core::{Directory, Options, triage};

/// A fixed instant: benchmarks must not depend on the clock either.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_438_400, 0).unwrap_or_default()
}

fn example_set(c: &mut Criterion) {
    let (rules, dir) = global_support();
    let cases = [
        ("outage", include_str!("../../rules/global-support/cases/outage-acme-de.json").to_string()),
        (
            "password-deflect",
            r#"{"id":"b2","channel":"web","country":"Deutschland","postal_code":"80331","subject":"Forgot my password","body":"I am locked out of my account since this morning, please help me reset it."}"#.to_string(),
        ),
        ("default-review", r#"{"id":"b3","channel":"email","country":"U.S.A.","postal_code":"10001","subject":"Hello","body":"Please call me back about our contract."}"#.to_string()),
    ];
    let mut g = c.benchmark_group("example_set");
    for (name, json) in &cases {
        let case = case(json);
        g.bench_with_input(BenchmarkId::new("decision", name), &case, |b, case| {
            b.iter(|| triage(black_box(&rules), black_box(case), &dir, now(), &Options::default()))
        });
        g.bench_with_input(BenchmarkId::new("full_trace", name), &case, |b, case| {
            b.iter(|| triage(black_box(&rules), black_box(case), &dir, now(), &Options::full_trace()))
        });
    }
    g.finish();
}

fn field_rules_500(c: &mut Criterion) {
    let (rules, specs) = field_rules(500);
    let dir = Directory::new();
    let mut g = c.benchmark_group("field_rules_500");
    for (name, k) in [("first", 0usize), ("middle", 250), ("last", 499)] {
        let case = field_case(&specs[k]);
        let d = triage(&rules, &case, &dir, now(), &Options::default());
        assert_eq!(d.category, format!("c{k}"), "the generated case must hit rule {k}");
        g.bench_with_input(BenchmarkId::new("match", name), &case, |b, case| {
            b.iter(|| triage(black_box(&rules), black_box(case), &dir, now(), &Options::default()))
        });
    }
    let none = case(r#"{"id":"n","channel":"fax","fields":{"level":9}}"#);
    g.bench_function("match/none", |b| {
        b.iter(|| triage(black_box(&rules), black_box(&none), &dir, now(), &Options::default()))
    });
    g.finish();
}

fn keyword_rules_1000(c: &mut Criterion) {
    let (rules, words) = keyword_rules(1000);
    let dir = Directory::new();
    let mut g = c.benchmark_group("keyword_rules_1000");
    for (name, k) in [("first", 0usize), ("middle", 1000), ("last", 1999)] {
        let json = serde_json::json!({ "id": "k", "subject": "Export", "body": body_with(&words[k]) }).to_string();
        let case = case(&json);
        let d = triage(&rules, &case, &dir, now(), &Options::default());
        assert_eq!(d.category, format!("k{}", k / 2), "the body must hit rule {}", k / 2);
        g.bench_with_input(BenchmarkId::new("match", name), &case, |b, case| {
            b.iter(|| triage(black_box(&rules), black_box(case), &dir, now(), &Options::default()))
        });
    }
    g.finish();
}

criterion_group!(benches, example_set, field_rules_500, keyword_rules_1000);
criterion_main!(benches);
