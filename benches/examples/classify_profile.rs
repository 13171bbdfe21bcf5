//! Predictions in a loop, for a profiler: `perf record` this example.
//!
//! Run: `cargo run --release -p triage-benches --example classify_profile`

use std::hint::black_box;
use std::path::Path;
use triage_core::classify::{Example, TrainOptions, train};

fn main() -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("classify/make_cases.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(["--seed", "7", "--cases", "21000"])
        .output()
        .map_err(|e| format!("python3 make_cases.py: {e}"))?;
    let rows: Vec<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("subject"), s("body"), s("category"))
        })
        .collect();
    let (train_rows, held) = rows.split_at(20_000);
    let examples: Vec<Example<'_>> =
        train_rows.iter().map(|(s, b, c)| Example { subject: Some(s), body: Some(b), labels: vec![Some(c)] }).collect();
    let model = train(&examples, &["category"], &TrainOptions::default()).map_err(|e| e.to_string())?;
    let rounds = 2_000;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        for (s, b, _) in held {
            black_box(model.predict(Some(s), Some(b)));
        }
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / (rounds * held.len()) as f64;
    println!("{per:.2} µs per prediction");
    Ok(())
}
