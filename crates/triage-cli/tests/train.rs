//! `triage train` as a user runs it: a model trained twice is the same
//! file, bad records are skipped and counted, bad options and label-less
//! tests are refused, and a rule set reads the model it names.

#![allow(clippy::unwrap_used, clippy::panic, reason = "a test that cannot set up its files should fail loudly")]

use std::path::Path;
use std::process::{Command, Output};

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage")).args(args).output().unwrap()
}

/// 300 labelled cases of three kinds, plus `bad` unusable records.
fn labelled(dir: &Path, bad: bool) -> String {
    let kinds = [
        ("billing", "refund invoice charged twice money back"),
        ("login", "password reset locked out cannot sign in"),
        ("outage", "site down error 502 nothing loads"),
    ];
    let mut text = String::from("\u{feff}");
    for i in 0..300 {
        let (label, words) = kinds[i % 3];
        let w: Vec<&str> = words.split(' ').collect();
        let subject = format!("{} {}", w[i % w.len()], w[(i / 3) % w.len()]);
        let body = format!("Hello, {} and {} please. Thanks", w[(i + 1) % w.len()], w[(i + 2) % w.len()]);
        text.push_str(&serde_json::json!({"id": i, "subject": subject, "body": body, "category": label}).to_string());
        text.push('\n');
        if bad && i % 100 == 0 {
            text.push_str("{not json\n[1, 2]\n{\"id\": 1}\n{\"subject\": \"x\", \"category\": {\"a\": 1}}\n");
        }
    }
    let path = dir.join(if bad { "bad.jsonl" } else { "cases.jsonl" });
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_model_is_the_same_file_each_time_and_the_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let cases = labelled(dir.path(), true);
    let (a, b) = (dir.path().join("a/m.json"), dir.path().join("b.json"));
    for out in [&a, &b] {
        let o = triage(&["train", &cases, "--label", "category", "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        // 300 good, and 4 × 3 unusable (the object label is a case with
        // text whose label is ignored, so it counts as a case).
        assert!(err.contains("read 312 record(s) = 303 with text + 9 skipped; 3 without `category`"), "{err}");
        assert!(err.contains("ignored") && err.contains("is an object or a list"), "{err}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn bad_options_and_a_test_file_without_labels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = labelled(dir.path(), false);
    let out = dir.path().join("m.json");
    let out = out.to_str().unwrap();
    let refused = |args: &[&str], says: &str| {
        let o = triage(args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(&["train", &cases, "--label", "category", "--alpha", "0", "--out", out], "--alpha 0");
    refused(&["train", &cases, "--label", "a b", "--out", out], "cannot name a field");
    refused(&["train", &cases, "--label", "x.confidence", "--out", out], "cannot end in `confidence`");
    refused(&["train", &cases, "--label", "category", "--eval", "1"], "folds");
    refused(&["train", &cases, "--label", "category", "--min-count", "100000", "--out", out], "--min-count");
    refused(&["train", &cases, "--label", "category", "--out", dir.path().to_str().unwrap()], "is a folder");
    let unlabelled = dir.path().join("unlabelled.jsonl");
    std::fs::write(&unlabelled, "{\"subject\": \"refund\"}\n").unwrap();
    refused(&["train", &cases, "--label", "category", "--test", unlabelled.to_str().unwrap()], "no case has");
}

#[test]
fn rules_read_the_model_they_name_and_a_case_without_its_words_gets_no_guess() {
    let dir = tempfile::tempdir().unwrap();
    let cases = labelled(dir.path(), false);
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let yaml = "classifiers:\n  support: models/support.json\ncategories:\n  - id: learned\n    when: { predicted.category: { exists: true } }\n    set: { category: { from: predicted.category } }\n  - id: general\n    set: { category: general }\n";
    std::fs::write(rules.join("rules.yaml"), yaml).unwrap();
    let check = triage(&["check", rules.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("model-missing"), "{check:?}");
    let model = rules.join("models/support.json");
    let o = triage(&["train", &cases, "--label", "category", "--out", model.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let decide = |case: &str| {
        let path = dir.path().join("case.json");
        std::fs::write(&path, case).unwrap();
        let o = triage(&[
            "eval",
            rules.to_str().unwrap(),
            "--case",
            path.to_str().unwrap(),
            "--now",
            "2026-03-02T09:00:00Z",
        ]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let d = decide(r#"{"id": "c1", "subject": "refund please", "body": "charged twice"}"#);
    assert_eq!(d["category"], "billing", "{d}");
    assert_eq!(d["predicted"][0]["model"], "support", "{d}");
    let d = decide(r#"{"id": "c2", "subject": "1234", "body": "🙂"}"#);
    assert_eq!(d["category"], "general", "{d}");
    assert!(d.get("predicted").is_none(), "{d}"); // The loaded set names the model file beside the rule files (what
    // `GET /v1/rules` lists).
    let set = triage_cli::load_relative(&rules).unwrap();
    assert_eq!(set.models, ["models/support.json"]);
    // Tests check guesses; a label no model predicts, or a guess that is
    // not a class, fails by name.
    std::fs::create_dir(rules.join("tests")).unwrap();
    let tests = "- name: right\n  case: { id: t1, subject: refund please, body: charged twice }\n  expect: { predicted: { category: BILLING } }\n- name: typo\n  case: { id: t2, subject: refund please, body: charged twice }\n  expect: { predicted: { categroy: billing, category: { class: billing } } }\n";
    std::fs::write(rules.join("tests/guesses.test.yaml"), tests).unwrap();
    let o = triage(&["test", rules.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    assert!(out.contains("predicted.categroy: the rules' models predict no label `categroy`"), "{out}");
    assert!(out.contains("predicted.category: expected a class (or null for no guess)"), "{out}");
}
