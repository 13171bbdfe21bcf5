//! Learned triage in a loop, for a profiler: `perf record` this example.
//!
//! Run: `cargo run --release -p triage-benches --example classify_profile [-- MODE]`
//! where MODE is `predict` (the default: one 20-class prediction),
//! `decide` (a whole decision of `examples/learned`, with its classifier,
//! VADER and language detection) or `own` (the body's own text alone,
//! which a prediction makes first).

use std::hint::black_box;
use std::path::Path;
use triage_core::classify::{Example, TrainOptions, train};
use triage_core::{Case, Directory, Options, compile_with_files, triage};

struct Row {
    subject: String,
    body: String,
    category: String,
    priority: String,
    json: String,
}

fn main() -> Result<(), String> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "predict".to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("classify/make_cases.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(["--seed", "7", "--cases", "21000"])
        .output()
        .map_err(|e| format!("python3 make_cases.py: {e}"))?;
    let rows: Vec<Row> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let mut case = v.clone();
            if let Some(o) = case.as_object_mut() {
                for k in ["category", "priority", "language"] {
                    o.remove(k);
                }
            }
            Row {
                subject: s("subject"),
                body: s("body"),
                category: s("category"),
                priority: s("priority"),
                json: case.to_string(),
            }
        })
        .collect();
    let (train_rows, held) = rows.split_at(20_000);
    let labels: &[&str] = if mode == "decide" { &["category", "priority"] } else { &["category"] };
    let examples: Vec<Example<'_>> = train_rows
        .iter()
        .map(|r| Example {
            subject: Some(&r.subject),
            body: Some(&r.body),
            labels: [Some(r.category.as_str()), Some(r.priority.as_str())][..labels.len()].to_vec(),
        })
        .collect();
    let model = train(&examples, labels, &TrainOptions::default()).map_err(|e| e.to_string())?;
    // `TRIAGE_PROFILE_ROUNDS` makes the loop shorter (for valgrind).
    let rounds = std::env::var("TRIAGE_PROFILE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2_000);
    let started = std::time::Instant::now();
    if mode == "decide" {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/learned/rules/rules.yaml");
        let mut yaml = std::fs::read_to_string(rules).map_err(|e| e.to_string())?;
        // `TRIAGE_PROFILE_DROP` (comma-separated: `language`, `vader`)
        // takes parts out, to see what each costs.
        let drop = std::env::var("TRIAGE_PROFILE_DROP").unwrap_or_default();
        if drop.contains("language") {
            yaml = yaml.replace("  detect_languages: [en, de, fr, es]\n", "  countries: {}\n");
        }
        if drop.contains("vader") {
            yaml = yaml.replace("  english: vader\n", "");
        }
        let json = model.to_json();
        let (compiled, diags) = compile_with_files(&[("rules.yaml", &yaml)], &[("models/support.json", &json)]);
        let compiled = compiled.ok_or_else(|| format!("{diags:?}"))?;
        let cases: Vec<Case> = held.iter().filter_map(|r| Case::from_json(&r.json).ok()).collect();
        let dir = Directory::new();
        let now = "2026-03-02T09:00:00Z".parse().unwrap_or_default();
        let lean = Options::default();
        let started = std::time::Instant::now();
        for _ in 0..rounds / 4 {
            for c in &cases {
                black_box(triage(&compiled, c, &dir, now, &lean));
            }
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / (rounds / 4 * cases.len()) as f64;
        println!("{per:.2} µs per decision");
        return Ok(());
    }
    if mode == "own" {
        // The body's own text alone, which every prediction makes first.
        for _ in 0..rounds {
            for r in held {
                black_box(triage_core::similarity::own_text(&r.body));
            }
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / (rounds * held.len()) as f64;
        println!("{per:.2} µs per own text");
        return Ok(());
    }
    for _ in 0..rounds {
        for r in held {
            black_box(model.predict(Some(&r.subject), Some(&r.body)));
        }
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / (rounds * held.len()) as f64;
    println!("{per:.2} µs per prediction");
    Ok(())
}
