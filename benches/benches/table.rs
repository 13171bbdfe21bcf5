//! Decision tables: a 500-row first-hit routing table evaluated on its own
//! (the matched row ids come with every answer), and with the why-not
//! explanation of every row.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use triage_benches::{routing_input_for, routing_inputs, routing_rows, routing_rules, routing_rules_with_bounds};

fn table_500(c: &mut Criterion) {
    let mut g = c.benchmark_group("table_500");
    for size in [20usize, 200, 500] {
        let rows = routing_rows(size, 7);
        let rules = routing_rules(&rows);
        let Some(table) = rules.table("routing") else { return };
        let inputs = routing_inputs(1000, 11);
        g.bench_with_input(BenchmarkId::new("first_hit/mixed_1000_inputs", size), &inputs, |b, inputs| {
            b.iter(|| {
                for input in inputs {
                    let _ = black_box(table.evaluate(black_box(input)));
                }
            })
        });
        if size == 500 {
            for (name, k) in [("first", 0usize), ("middle", 250), ("last", 499)] {
                let input = routing_input_for(&rows[k]);
                g.bench_with_input(BenchmarkId::new("first_hit/row", name), &input, |b, input| {
                    b.iter(|| table.evaluate(black_box(input)))
                });
            }
            g.bench_with_input(BenchmarkId::new("explain/mixed_1000_inputs", size), &inputs, |b, inputs| {
                b.iter(|| {
                    for input in inputs {
                        let _ = black_box(table.explain(black_box(input)));
                    }
                })
            });
        }
    }
    g.finish();
}

/// The 500-row table with two more inputs, without and with every 10th
/// user-count row comparing against them: what cells naming inputs cost.
fn table_500_input_bounds(c: &mut Criterion) {
    let mut g = c.benchmark_group("table_500_input_bounds");
    let rows = routing_rows(500, 7);
    let mut inputs = routing_inputs(1000, 11);
    for (i, input) in inputs.iter_mut().enumerate() {
        input["min_users"] = serde_json::json!(i % 300);
        input["max_users"] = serde_json::json!(i % 300 + 200);
    }
    for (name, every) in [("literal_only", None), ("every_10th_row_names_inputs", Some(10))] {
        let rules = routing_rules_with_bounds(&rows, every);
        let Some(table) = rules.table("routing") else { return };
        g.bench_with_input(BenchmarkId::new("first_hit/mixed_1000_inputs", name), &inputs, |b, inputs| {
            b.iter(|| {
                for input in inputs {
                    let _ = black_box(table.evaluate(black_box(input)));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, table_500, table_500_input_bounds);
criterion_main!(benches);
