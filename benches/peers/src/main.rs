//! The same routing work on three engines: triage's decision tables, the
//! `zen-engine` crate (GoRules JDM decision table, compiled) and the
//! `json-rules-engine` npm package (one rule per row, first hit by
//! priority). For tables of 20, 200 and 500 rows it renders the canonical
//! seeded table for each engine, checks that all of them give the same team
//! for every one of 10,000 seeded cases, and only then times them.
//!
//! `cargo run --release --manifest-path benches/peers/Cargo.toml`
//! (`npm ci --prefix benches/peers/js` first for the JavaScript engine;
//! without it the JavaScript column is skipped and says so).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use triage_benches::{RouteRow, routing_inputs, routing_rows, routing_rules};

const SIZES: [usize; 3] = [20, 200, 500];
const CASES: usize = 10_000;
const SEED: u64 = 7;
/// Timed passes over the cases; the best pass counts.
const PASSES: usize = 5;

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = here.join("out");
    if let Err(e) = std::fs::create_dir_all(&out) {
        fail(&format!("cannot create {}: {e}", out.display()));
    }
    let cases = routing_inputs(CASES, SEED + 1);
    write(&out.join("cases.json"), &Value::Array(cases.clone()));
    let js = here.join("js");
    let have_js = js.join("node_modules/json-rules-engine").is_dir();
    println!("{CASES} seeded cases, best of {PASSES} passes, µs per decision (lower is better)\n");
    println!("| rows | triage | zen-engine {} | json-rules-engine {} | zen ÷ triage |", ZEN, JRE);
    println!("|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let rows = routing_rows(n, SEED);
        std::fs::write(out.join(format!("triage-{n}.yaml")), triage_benches::routing_yaml(&rows))
            .unwrap_or_else(|e| fail(&format!("cannot write the triage table: {e}")));
        let zen_doc = zen_table(&rows);
        write(&out.join(format!("zen-{n}.json")), &zen_doc);
        let jre_rules = jre_rules(&rows);
        let jre_file = out.join(format!("jre-{n}.json"));
        write(&jre_file, &jre_rules);

        let (triage_answers, triage_us) = run_triage(&rows, &cases);
        let (zen_answers, zen_us) = run_zen(zen_doc, &cases);
        agree("zen-engine", n, &triage_answers, &zen_answers, &cases);
        let jre = have_js.then(|| run_jre(&js, &jre_file, &out.join("cases.json")));
        let jre_cell = match &jre {
            Some((answers, us)) => {
                agree("json-rules-engine", n, &triage_answers, answers, &cases);
                format!("{us:.1}")
            }
            None => "not installed".to_string(),
        };
        println!("| {n} | {triage_us:.2} | {zen_us:.2} | {jre_cell} | {:.1}× |", zen_us / triage_us);
    }
    if !have_js {
        println!("\njson-rules-engine skipped: run `npm ci --prefix benches/peers/js` first");
    }
    println!("\nEvery engine gave the same team for every case before timing.");
}

const ZEN: &str = "2.1.6";
const JRE: &str = "7.3.1";

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

fn write(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

/// The team each case gets, `None` when no row matches.
type Answers = Vec<Option<String>>;

fn agree(engine: &str, n: usize, expected: &Answers, got: &Answers, cases: &[Value]) {
    if let Some(i) = (0..expected.len()).find(|&i| expected[i] != got[i]) {
        fail(&format!(
            "{engine} disagrees with triage on the {n}-row table for case {i} {}: triage {:?}, {engine} {:?}",
            cases[i], expected[i], got[i]
        ));
    }
    if expected.len() != got.len() {
        fail(&format!("{engine} answered {} of {} cases", got.len(), expected.len()));
    }
}

fn best_us(mut pass: impl FnMut() -> f64) -> f64 {
    (0..PASSES).map(|_| pass()).fold(f64::INFINITY, f64::min)
}

fn run_triage(rows: &[RouteRow], cases: &[Value]) -> (Answers, f64) {
    let rules = routing_rules(rows);
    let Some(table) = rules.table("routing") else { fail("the routing table did not compile") };
    let answer = |case: &Value| -> Option<String> {
        let m = table.evaluate(case).unwrap_or_else(|e| fail(&format!("triage: {e}")));
        m.output("team").and_then(|v| v.as_str().map(str::to_string))
    };
    let answers: Answers = cases.iter().map(answer).collect();
    let us = best_us(|| {
        let t = Instant::now();
        for case in cases {
            std::hint::black_box(table.evaluate(case).ok());
        }
        t.elapsed().as_secs_f64() * 1e6 / cases.len() as f64
    });
    (answers, us)
}

/// A JDM cell: the values any of which matches, quoted; empty for "any".
fn zen_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

fn zen_table(rows: &[RouteRow]) -> Value {
    let inputs = json!([
        { "id": "c", "name": "Country", "field": "country" },
        { "id": "s", "name": "Segment", "field": "segment" },
        { "id": "p", "name": "Product", "field": "product" },
        { "id": "q", "name": "Priority", "field": "priority" },
        { "id": "u", "name": "Affected users", "field": "affected_users" }
    ]);
    let outputs = json!([{ "id": "t", "name": "Team", "field": "team" }]);
    let rules: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "_id": format!("r{i}"),
                "c": zen_list(&r.countries),
                "s": zen_list(r.segment.as_slice()),
                "p": zen_list(r.product.as_slice()),
                "q": zen_list(&r.priorities),
                "u": r.users.map_or(String::new(), |(lo, hi)| format!("[{lo}..{hi}]")),
                "t": format!("\"{}\"", r.team),
            })
        })
        .collect();
    json!({
        "nodes": [
            { "id": "in", "name": "request", "type": "inputNode", "content": {} },
            { "id": "dt", "name": "routing", "type": "decisionTableNode", "content": {
                "hitPolicy": "first", "inputs": inputs, "outputs": outputs, "rules": rules, "passThrough": false
            } },
            { "id": "out", "name": "response", "type": "outputNode", "content": {} }
        ],
        "edges": [
            { "id": "e1", "sourceId": "in", "targetId": "dt" },
            { "id": "e2", "sourceId": "dt", "targetId": "out" }
        ]
    })
}

fn run_zen(doc: Value, cases: &[Value]) -> (Answers, f64) {
    use zen_engine::DecisionEngine;
    use zen_engine::model::DecisionContent;
    let content: DecisionContent =
        serde_json::from_value(doc).unwrap_or_else(|e| fail(&format!("zen-engine refused the table: {e}")));
    let engine = DecisionEngine::default();
    let mut decision =
        engine.create_decision(content.into()).unwrap_or_else(|e| fail(&format!("zen-engine: {e:?}")));
    // The engine's own ahead-of-time compilation of expressions and indexes.
    decision.compile();
    let evaluate = |input: zen_engine::Variable| {
        pollster::block_on(decision.evaluate(input)).unwrap_or_else(|e| fail(&format!("zen-engine: {e:?}")))
    };
    let answers: Answers = cases
        .iter()
        .map(|c| {
            let r = evaluate(c.clone().into());
            r.result.dot("team").and_then(|t| t.as_str().map(str::to_string))
        })
        .collect();
    let us = best_us(|| {
        // Inputs are converted to the engine's own values before the clock
        // starts, so only evaluation is timed.
        let inputs: Vec<zen_engine::Variable> = cases.iter().map(|c| c.clone().into()).collect();
        let t = Instant::now();
        for input in inputs {
            std::hint::black_box(evaluate(input));
        }
        t.elapsed().as_secs_f64() * 1e6 / cases.len() as f64
    });
    (answers, us)
}

/// One json-rules-engine rule per row; earlier rows get higher priority and
/// the runner stops at the first success, which makes a first-hit table.
fn jre_rules(rows: &[RouteRow]) -> Value {
    let n = rows.len();
    let rules: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut all = Vec::new();
            if !r.countries.is_empty() {
                all.push(json!({ "fact": "country", "operator": "in", "value": r.countries }));
            }
            if let Some(s) = r.segment {
                all.push(json!({ "fact": "segment", "operator": "equal", "value": s }));
            }
            if let Some(p) = r.product {
                all.push(json!({ "fact": "product", "operator": "equal", "value": p }));
            }
            if !r.priorities.is_empty() {
                all.push(json!({ "fact": "priority", "operator": "in", "value": r.priorities }));
            }
            if let Some((lo, hi)) = r.users {
                all.push(json!({ "fact": "affected_users", "operator": "greaterThanInclusive", "value": lo }));
                all.push(json!({ "fact": "affected_users", "operator": "lessThanInclusive", "value": hi }));
            }
            json!({
                "name": format!("r{i}"),
                "priority": n - i,
                "conditions": { "all": all },
                "event": { "type": "route", "params": { "team": r.team } }
            })
        })
        .collect();
    Value::Array(rules)
}

fn run_jre(js: &Path, rules: &PathBuf, cases: &Path) -> (Answers, f64) {
    let output = Command::new("node")
        .arg(js.join("run.mjs"))
        .arg(rules)
        .arg(cases)
        .arg(PASSES.to_string())
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run node: {e}")));
    if !output.status.success() {
        fail(&format!("json-rules-engine run failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| fail(&format!("json-rules-engine run printed no report: {e}")));
    let answers = report["answers"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    (answers, report["us_per_decision"].as_f64().unwrap_or(f64::NAN))
}
