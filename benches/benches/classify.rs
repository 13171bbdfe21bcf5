//! Learned triage (issue #20): training on 100,000 labelled cases, one
//! prediction for 20 classes, and a whole decision of `examples/learned`
//! with and without its classifier (the ratio is what the model costs).
//!
//! The cases come from `benches/classify/make_cases.py` (seeded; run with
//! `python3`): 100,000 to train, 1,000 more to predict and decide.
//!
//! Run: `cargo bench -p triage-benches --bench classify`

#![allow(clippy::panic, reason = "a benchmark without its data or model cannot run")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use triage_core::classify::{Example, TrainOptions, train};
use triage_core::{Case, Directory, Options, compile_with_files, triage};

struct Labelled {
    subject: String,
    body: String,
    category: String,
    priority: String,
    json: String,
    /// The language the generator wrote the case in.
    language: String,
}

fn cases(n: usize, seed: u64) -> Vec<Labelled> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("classify/make_cases.py");
    let out = std::process::Command::new("python3")
        .arg(root)
        .args(["--seed", &seed.to_string(), "--cases", &n.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("python3 make_cases.py: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            // The case without its labels (the language label included).
            let mut case = v.clone();
            if let Some(o) = case.as_object_mut() {
                for k in ["category", "priority", "language"] {
                    o.remove(k);
                }
            }
            Labelled {
                subject: s("subject"),
                body: s("body"),
                category: s("category"),
                priority: s("priority"),
                json: case.to_string(),
                language: s("language"),
            }
        })
        .collect()
}

fn examples(cases: &[Labelled]) -> Vec<Example<'_>> {
    cases
        .iter()
        .map(|c| Example {
            subject: Some(&c.subject),
            body: Some(&c.body),
            labels: vec![Some(c.category.as_str()), Some(c.priority.as_str())],
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let training = cases(100_000, 7);
    let held = cases(1_000, 8);
    let examples = examples(&training);
    let labels = ["category", "priority"];

    // Training once, timed by the clock (seconds, not microseconds).
    let started = Instant::now();
    let model = train(&examples, &labels, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "train 100,000 cases, 2 labels: {:.2} s ({} features)",
        started.elapsed().as_secs_f64(),
        model.vocabulary_len()
    );
    let started = Instant::now();
    let category_only: Vec<Example<'_>> =
        examples.iter().map(|e| Example { labels: vec![e.labels[0]], ..e.clone() }).collect();
    let one = train(&category_only, &["category"], &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    println!("train 100,000 cases, category only: {:.2} s", started.elapsed().as_secs_f64());
    // Predicted with as the rules use a model: read from its file.
    let one = triage_core::classify::Model::from_json(&one.to_json()).unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(held.len() as u64));
    g.bench_function("predict category (20 classes), per 1,000 cases", |b| {
        b.iter(|| {
            for c in &held {
                black_box(one.predict(Some(&c.subject), Some(&c.body)));
            }
        })
    });
    g.finish();

    // Whole decisions of the example rules, with the model and with the
    // classifier section taken out.
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/learned/rules/rules.yaml");
    let yaml = std::fs::read_to_string(rules_dir).unwrap_or_default();
    let json = model.to_json();
    let (with, diags) = compile_with_files(&[("rules.yaml", &yaml)], &[("models/support.json", &json)]);
    let with = with.unwrap_or_else(|| panic!("{diags:?}"));
    let plain_yaml = yaml
        .replace("classifiers:\n  support: models/support.json\n", "")
        .replace("predicted.category.confidence: { gte: 0.6 }", "subject: { contains: refund }")
        .replace("{ from: predicted.category }", "refund")
        .replace(
            "predicted.priority: P1, predicted.priority.confidence: { gte: 0.7 }",
            "subject: { contains: urgent }",
        );
    let (without, diags) = compile_with_files(&[("rules.yaml", &plain_yaml)], &[]);
    let without = without.unwrap_or_else(|| panic!("{diags:?}"));
    let decided: Vec<Case> = held.iter().filter_map(|c| Case::from_json(&c.json).ok()).collect();
    assert_eq!(decided.len(), held.len(), "every generated case reads as a case");
    let dir = Directory::new();
    let now = "2026-03-02T09:00:00Z".parse().unwrap_or_default();
    let lean = Options::default();
    let mut g = c.benchmark_group("decide examples/learned");
    g.throughput(Throughput::Elements(decided.len() as u64));
    g.bench_function("with the classifier, per 1,000 cases", |b| {
        b.iter(|| {
            for c in &decided {
                black_box(triage(&with, c, &dir, now, &lean));
            }
        })
    });
    g.bench_function("without it, per 1,000 cases", |b| {
        b.iter(|| {
            for c in &decided {
                black_box(triage(&without, c, &dir, now, &lean));
            }
        })
    });
    g.finish();

    // Language detection on a 2 KB body: a decision with
    // `normalize.detect_languages` against the same without it.
    let body = "Guten Tag, leider wurde unsere Rechnung zweimal abgebucht und niemand antwortet. ".repeat(26)[..2048]
        .to_string();
    let long = Case::from_json(&serde_json::json!({"id": "l", "subject": "Rechnung", "body": body}).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let base = "categories: [{ id: all, set: { category: general } }]\n";
    let detecting = format!("normalize:\n  detect_languages: [en, de, fr, es]\n{base}");
    let (plain, _) = compile_with_files(&[("r.yaml", base)], &[]);
    let (detect, _) = compile_with_files(&[("r.yaml", &detecting)], &[]);
    let (plain, detect) = (plain.unwrap_or_else(|| panic!("rules")), detect.unwrap_or_else(|| panic!("rules")));
    // How often the language is read right: each held case with its
    // stated language taken out, by the rules (the function-word vote,
    // then whatlang) and by whatlang alone on the same text.
    let unstated: Vec<(Case, &str)> = held
        .iter()
        .filter_map(|h| {
            let mut v: serde_json::Value = serde_json::from_str(&h.json).ok()?;
            if let Some(r) = v.get_mut("requester").and_then(|r| r.as_object_mut()) {
                r.remove("language");
            }
            Some((Case::from_json(&v.to_string()).ok()?, h.language.as_str()))
        })
        .collect();
    let whatlang_only = whatlang::Detector::with_allowlist(vec![
        whatlang::Lang::Eng,
        whatlang::Lang::Deu,
        whatlang::Lang::Fra,
        whatlang::Lang::Spa,
    ]);
    let (mut by_rules, mut by_whatlang) = (0, 0);
    for (case, want) in &unstated {
        let d = triage(&detect, case, &dir, now, &lean);
        by_rules += usize::from(d.normalized.language.as_deref() == Some(*want));
        // The text the rules read: the subject, then the own text of the
        // body's first 1,024 bytes, cut at 256.
        let cut = |t: &str, most: usize| {
            let mut end = t.len().min(most);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            end
        };
        let body = case.body.as_deref().unwrap_or_default();
        let mut text = case.subject.clone().unwrap_or_default();
        text.push_str(".\n");
        text.push_str(&triage_core::similarity::own_text(&body[..cut(body, 1024)]));
        let end = cut(&text, 256);
        let code = whatlang_only.detect_lang(&text[..end]).map(|l| l.code()).unwrap_or_default();
        let tag = match code {
            "eng" => "en",
            "deu" => "de",
            "fra" => "fr",
            "spa" => "es",
            _ => "",
        };
        by_whatlang += usize::from(tag == *want);
    }
    println!(
        "language of {} held cases read right: {} by the rules (function words, then whatlang), {} by whatlang alone",
        unstated.len(),
        by_rules,
        by_whatlang
    );
    let mut g = c.benchmark_group("language");
    g.bench_function("decide a 2 KB body, detecting its language", |b| {
        b.iter(|| black_box(triage(&detect, &long, &dir, now, &lean)))
    });
    g.bench_function("decide a 2 KB body, not detecting", |b| {
        b.iter(|| black_box(triage(&plain, &long, &dir, now, &lean)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
