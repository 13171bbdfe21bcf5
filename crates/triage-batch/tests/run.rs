//! Batch runs on real-world-shaped inputs: CSV exports, mbox and .eml
//! mail, corrupted records; output independent of threads; resume after a
//! kill at any record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use triage_batch::run::Resume;
use triage_batch::{At, ColumnMap, Detail, InputFormat, InputSpec, MailOptions, OutputFormat, RunConfig, Summary};
use triage_core::{CompiledRules, Directory};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// The example rules and directory, compiled once.
fn rules() -> &'static (CompiledRules, Directory) {
    static RULES: OnceLock<(CompiledRules, Directory)> = OnceLock::new();
    RULES.get_or_init(|| {
        let dir = root().join("rules/global-support");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("directory.yaml"))
            .collect();
        files.sort();
        let texts: Vec<(String, String)> =
            files.iter().map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap())).collect();
        let sources: Vec<(&str, &str)> = texts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (compiled, diags) = triage_core::compile_sources(&sources);
        let rules = compiled.unwrap_or_else(|| panic!("{diags:?}"));
        let text = std::fs::read_to_string(dir.join("directory.yaml")).unwrap();
        (rules, Directory::from_text("directory.yaml", &text).unwrap())
    })
}

fn config(inputs: Vec<InputSpec>) -> RunConfig {
    RunConfig {
        inputs,
        format: OutputFormat::Jsonl,
        detail: Detail::Lean,
        at: At::Now("2026-03-02T09:00:00Z".parse().unwrap()),
        threads: 2,
        columns: ColumnMap::default(),
        mail: MailOptions { support: vec!["*@acme-help.example".into()], ..MailOptions::default() },
        chunk: 64,
        resume: Resume::default(),
        parse_only: false,
    }
}

fn spec(path: PathBuf) -> InputSpec {
    InputSpec::new(path, None).unwrap()
}

/// Runs and returns (decisions, rejects, summary).
fn run(config: &RunConfig) -> (Vec<u8>, Vec<u8>, Summary) {
    let (rules, directory) = rules();
    let (mut out, mut rejects) = (Vec::new(), Vec::new());
    let summary = triage_batch::run(rules, directory, config, &mut out, &mut rejects, &mut |_| {}).unwrap();
    assert!(summary.adds_up(), "{summary:?}");
    assert_eq!(summary.records - summary.resumed_after.min(summary.records), summary.records - summary.resumed_after);
    (out, rejects, summary)
}

fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn csv_with_a_bom_semicolons_and_quoted_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "\u{feff}Ticket ID;Subject;Body;Requester Email;Created At;Country\n\
               T-1;\"API is down\";\"Since 08:40\nevery request returns 503; all users\";ops@acme.example;2026-03-02 08:55:00 +0100;Deutschland\n\
               T-2;Refund please;\"He said \"\"twice\"\"\";a@b.example;yesterday;DE\n\
               T-3;Short row\n\
               T-4;Invoice missing;;kim@globex.example;2026-03-02T09:00:00Z;UK\n";
    let path = write(dir.path(), "export.csv", csv.as_bytes());
    let mut c = config(vec![spec(path)]);
    c.columns.add_pairs(["Ticket ID=id"]).unwrap();
    let (out, rejects, summary) = run(&c);
    let out = lines(&out);
    let rejects = lines(&rejects);
    assert_eq!(summary.inputs[0].read, 4);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["case_id"], "T-1");
    assert_eq!(out[0]["category"], "outage");
    assert_eq!(out[0]["source"]["row"], 1);
    assert_eq!(out[1]["case_id"], "T-4");
    assert_eq!(out[1]["source"]["line"], 6, "a row's line counts the quoted newline before it");
    assert_eq!(rejects.len(), 2);
    assert!(rejects[0]["reason"].as_str().unwrap().contains("Created At"), "{:?}", rejects[0]);
    assert_eq!(rejects[0]["source"]["row"], 2);
    assert!(rejects[0]["raw"].as_str().unwrap().contains("\"\"twice\"\""));
    assert!(rejects[1]["reason"].as_str().unwrap().contains("2 field(s) where the header has 6"));
}

#[test]
fn csv_output_is_one_flat_row_per_case() {
    let mut c = config(vec![spec(root().join("rules/global-support/cases/corpus.jsonl"))]);
    c.format = OutputFormat::Csv;
    let (out, _, summary) = run(&c);
    let mut reader = csv::Reader::from_reader(&out[..]);
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), triage_batch::output::CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, summary.decided);
    assert_eq!(&rows[0][3], "c0");
    assert_eq!(&rows[0][2], "line=1");
}

#[test]
fn mail_becomes_threaded_cases_with_histories() {
    let c = config(vec![spec(data("inbox.mbox")), spec(data("sent.mbox")), spec(data("eml"))]);
    let (out, rejects, summary) = run(&c);
    let out = lines(&out);
    let rejects = lines(&rejects);
    // 7 messages in the inbox, 1 sent, 2 .eml files: 10 read.
    let read: Vec<u64> = summary.inputs.iter().map(|c| c.read).collect();
    assert_eq!(read, vec![7, 1, 2]);
    assert_eq!(out.len(), 4, "{out:#?}");
    // The outage thread: 2 inbox messages linked by References, one by
    // subject (`AW:`) and participants, and the agent's reply from the sent
    // folder (another file).
    let outage = &out[0];
    assert_eq!(outage["category"], "outage");
    let thread = outage["thread"].as_array().unwrap();
    assert_eq!(thread.len(), 4);
    assert_eq!(thread[3]["input_name"].as_str().unwrap(), data("sent.mbox").display().to_string());
    // Decided at 09:00: created and the agent's first reply are replayed;
    // the customer's answer and the second reply come later.
    assert_eq!(outage["history"]["events"], 2, "created, agent");
    assert!(outage["warnings"].as_array().unwrap().contains(&serde_json::json!("future-events")), "{outage}");
    assert_eq!(outage["history"]["metrics"]["first_response"]["state"], "met");
    // The body the rules saw had no signature; the original keeps it.
    assert!(thread[0]["original"].as_str().unwrap().contains("Dana Ops\nACME"));
    // `From ` in a body did not split the message; `>From ` was unquoted.
    assert!(thread[0]["original"].as_str().unwrap().contains("\nFrom what we see"));
    assert!(thread[0]["original"].as_str().unwrap().contains("\nFrom the logs"));
    // HTML-only Windows-1252 mail, and its reply from an .eml file.
    assert_eq!(out[1]["category"], "billing");
    assert!(out[1]["thread"][0]["original"].as_str().unwrap().contains("wrong charge – please refund"));
    assert_eq!(out[1]["thread"].as_array().unwrap().len(), 2);
    // Shift-JIS, with an RFC 2047 subject.
    assert_eq!(out[2]["thread"][0]["subject"], "ログインできません");
    // Broken MIME still yields its text.
    assert_eq!(out[3]["category"], "bug");
    // No Date, and not mail at all: rejected with where they were.
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["source"]["message"], 6);
    assert!(rejects[0]["reason"].as_str().unwrap().contains("no Date header"));
    assert_eq!(rejects[1]["source"]["file"], "0002.eml");
    assert_eq!(summary.inputs[2].rejected, 1);
}

#[test]
fn as_of_creation_decides_each_case_at_its_own_instant() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"id\": \"a\", \"created_at\": \"2026-03-07T10:00:00+01:00\"}\n{\"id\": \"b\"}\n";
    let mut c = config(vec![spec(write(dir.path(), "c.jsonl", text.as_bytes()))]);
    c.at = At::Creation;
    let (out, rejects, _) = run(&c);
    assert_eq!(lines(&out)[0]["decided_at"], "2026-03-07T09:00:00Z");
    assert!(lines(&rejects)[0]["reason"].as_str().unwrap().contains("no `created_at`"));
    // A history's `created` event stands in for a missing `created_at`;
    // a history starting otherwise does not.
    let text = concat!(
        r#"{"case": {"id": "h"}, "events": [{"at": "2026-03-07T10:00:00+01:00", "kind": "created"}]}"#,
        "\n",
        r#"{"case": {"id": "i"}, "events": [{"at": "2026-03-07T10:00:00+01:00", "kind": "agent_replied"}]}"#,
        "\n"
    );
    let mut c = config(vec![spec(write(dir.path(), "h.jsonl", text.as_bytes()))]);
    c.at = At::Creation;
    let (out, rejects, summary) = run(&c);
    assert_eq!((summary.decided, summary.rejected), (1, 1));
    assert_eq!(lines(&out)[0]["decided_at"], "2026-03-07T09:00:00Z");
    assert_eq!(lines(&out)[0]["history"]["metrics"]["first_response"]["state"], "running");
    assert!(lines(&rejects)[0]["reason"].as_str().unwrap().contains("no `created_at`"));
}

#[test]
fn a_csv_row_does_not_hand_a_spreadsheet_a_formula_from_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ["=HYPERLINK(\"http://x.example\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx", "plain-id", "a=b"];
    let text: String = ids.iter().map(|id| format!("{}\n", serde_json::json!({ "id": id, "subject": "hi" }))).collect();
    let path = write(dir.path(), "ids.jsonl", text.as_bytes());
    let mut c = config(vec![spec(path.clone())]);
    c.format = OutputFormat::Csv;
    let (out, _, summary) = run(&c);
    assert_eq!(summary.decided, ids.len() as u64);
    let mut reader = csv::Reader::from_reader(&out[..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let cells: Vec<&str> = rows.iter().map(|r| &r[3]).collect();
    assert_eq!(
        cells,
        ["'=HYPERLINK(\"http://x.example\",\"y\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "plain-id", "a=b"]
    );
    // JSON Lines keep the ids as given.
    let (out, _, _) = run(&config(vec![spec(path)]));
    let got: Vec<String> = lines(&out).iter().map(|l| l["case_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, ids);
}

#[test]
fn a_case_state_nested_too_deep_is_rejected_for_what_is_wrong_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        r#"{{"case": {{"id": "d", "created_at": "2026-03-02T08:00:00Z"}}, "events": [{{"at": "2026-03-02T08:00:00Z", "kind": "created", "note": {}{}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let (_, rejects, summary) =
        run(&config(vec![spec(write(dir.path(), "deep.jsonl", format!("{deep}\n").as_bytes()))]));
    assert_eq!(summary.rejected, 1);
    let reason = lines(&rejects)[0]["reason"].as_str().unwrap().to_string();
    assert!(reason.starts_with("case state:") && reason.contains("events[0]"), "{reason}");
}

#[test]
fn a_replay_that_ignores_later_events_says_so_in_lean_lines_and_csv_rows() {
    let dir = tempfile::tempdir().unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("rules/global-support/states/outage-acme-de.json")).unwrap())
            .unwrap();
    let path = write(dir.path(), "s.jsonl", format!("{state}\n").as_bytes());
    // The case opened at 07:55Z; its later events come after 08:00Z.
    let mut c = config(vec![spec(path.clone())]);
    c.at = At::Now("2026-03-02T08:00:00Z".parse().unwrap());
    let (out, _, _) = run(&c);
    let line = &lines(&out)[0];
    assert_eq!(line["warnings"], serde_json::json!(["future-events"]), "{line}");
    assert_eq!(line["history"]["events"], 1, "the created event only: {line}");
    c.format = OutputFormat::Csv;
    let (out, _, _) = run(&c);
    let mut reader = csv::Reader::from_reader(&out[..]);
    let at = reader.headers().unwrap().iter().position(|h| h == "warnings").unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[at], "future-events");
    // Replayed after every event: nothing to say.
    let mut c = config(vec![spec(path)]);
    c.at = At::Now("2026-03-03T08:00:00Z".parse().unwrap());
    let (out, _, _) = run(&c);
    assert_eq!(lines(&out)[0]["warnings"], serde_json::json!([]));
}

/// A JSON Lines corpus of `n` cases with about 1 % of them corrupted in
/// different ways; the corrupted lines' numbers.
fn corrupted_corpus(n: usize, seed: u64) -> (Vec<u8>, Vec<u64>) {
    let base: Vec<String> = std::fs::read_to_string(root().join("rules/global-support/cases/corpus.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut rng = seed;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut bytes = Vec::new();
    let mut bad = Vec::new();
    for i in 0..n {
        let line = base[i % base.len()].replace("\"id\": \"c", &format!("\"id\": \"{i}-c"));
        if next() % 100 == 0 {
            bad.push(i as u64 + 1);
            match next() % 5 {
                0 => bytes.extend_from_slice(&line.as_bytes()[..line.len() / 2]),
                1 => bytes.extend_from_slice(b"\xff\xfe not utf-8"),
                2 => bytes.extend_from_slice(line.replace("\"id\": \"", "\"id\": 7, \"x\": \"").as_bytes()),
                3 => bytes.extend_from_slice(b"[1, 2, 3]"),
                _ => bytes.extend_from_slice(line.replace("\"created_at\": \"", "\"created_at\": \"not ").as_bytes()),
            }
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
        bytes.push(b'\n');
    }
    (bytes, bad)
}

#[test]
fn one_percent_corrupted_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, bad) = corrupted_corpus(20_000, 0x9e37_79b9);
    let path = write(dir.path(), "big.jsonl", &bytes);
    let (out, rejects, summary) = run(&config(vec![spec(path)]));
    let out = lines(&out);
    let rejects = lines(&rejects);
    assert!(bad.len() > 100, "{}", bad.len());
    assert_eq!(summary.inputs[0].read, 20_000);
    assert_eq!(rejects.len(), bad.len());
    assert_eq!(out.len() + rejects.len(), 20_000);
    let reject_lines: Vec<u64> = rejects.iter().map(|r| r["source"]["line"].as_u64().unwrap()).collect();
    assert_eq!(reject_lines, bad);
    assert!(rejects.iter().all(|r| r["raw"].is_string() || r["raw_base64"].is_string()));
    // Records are numbered in input order across decisions and rejects.
    let mut records: Vec<u64> = out.iter().chain(&rejects).map(|r| r["record"].as_u64().unwrap()).collect();
    records.sort_unstable();
    assert_eq!(records, (0..20_000).collect::<Vec<_>>());
}

#[test]
fn a_json_array_and_a_stream_of_documents() {
    let dir = tempfile::tempdir().unwrap();
    let array = "[\n {\"id\": \"a\"},\n {\"id\": \"b\", \"subject\": 5},\n {\"id\": \"c\"}\n]\n";
    let stream = "{\n \"id\": \"d\"\n}\n{\"id\": \"e\"} {\"id\": oops";
    let c = config(vec![
        InputSpec::new(write(dir.path(), "a.json", array.as_bytes()), Some(InputFormat::Json)).unwrap(),
        InputSpec::new(write(dir.path(), "s.json", stream.as_bytes()), Some(InputFormat::Json)).unwrap(),
    ]);
    let (out, rejects, summary) = run(&c);
    let ids: Vec<String> = lines(&out).iter().map(|d| d["case_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["a", "c", "d", "e"]);
    let rejects = lines(&rejects);
    assert_eq!(rejects[0]["source"]["element"], 1);
    assert_eq!(rejects[0]["source"]["line"], 3);
    assert_eq!(rejects[1]["source"]["element"], 2);
    assert_eq!(rejects[1]["source"]["line"], 4);
    assert_eq!(summary.inputs[1].read, 3);
}

#[test]
fn a_syntax_error_in_a_json_array_loses_only_its_element() {
    let dir = tempfile::tempdir().unwrap();
    let array = "[{\"id\": \"a\"},\n {\"id\": \"b\", oops},\n {\"id\": \"c\"}, {\"id\": \"d\"},]";
    let c =
        config(vec![InputSpec::new(write(dir.path(), "a.json", array.as_bytes()), Some(InputFormat::Json)).unwrap()]);
    let (out, rejects, summary) = run(&c);
    let ids: Vec<String> = lines(&out).iter().map(|d| d["case_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["a", "c", "d"]);
    let rejects = lines(&rejects);
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert_eq!(rejects[0]["source"]["element"], 1);
    assert!(rejects[0]["reason"].as_str().unwrap().contains("at line 2, column"), "{:?}", rejects[0]);
    assert_eq!(rejects[0]["raw"], "{\"id\": \"b\", oops},\n ");
    assert!(rejects[1]["reason"].as_str().unwrap().contains("a comma before the closing `]`"));
    assert_eq!(summary.inputs[0].read, 5);
}

#[test]
fn csv_in_crlf_counts_lines_like_lf_and_an_mbox_must_start_with_a_postmark() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "Id,Subject,Country,Created at\r\n1,a,DE,2026-03-02T09:00:00Z\r\n2,\"b\r\nc\",DE,2026-03-02T09:00:00Z\r\n3,d,DE,2026-03-02T09:00:00Z\r\n";
    let mut c = config(vec![spec(write(dir.path(), "w.csv", csv.as_bytes()))]);
    c.columns.add_pairs(["Id=id"]).unwrap();
    let (out, _, _) = run(&c);
    let out = lines(&out);
    let lines_of: Vec<u64> = out.iter().map(|d| d["source"]["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_of, vec![2, 3, 5]);
    assert_eq!(out[2]["case_id"], "3");
    let mbox = "Subject: no postmark\nDate: Mon, 2 Mar 2026 09:00:00 +0000\n\nhello\n";
    let (out, rejects, _) = run(&config(vec![spec(write(dir.path(), "x.mbox", mbox.as_bytes()))]));
    assert!(out.is_empty());
    assert!(lines(&rejects)[0]["reason"].as_str().unwrap().contains("before the first `From ` postmark"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The output is the same whatever the threads and chunk size.
    #[test]
    fn output_does_not_depend_on_threads(threads in 1usize..4, chunk in 1usize..300, seed in 1u64..1000) {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = corrupted_corpus(600, seed);
        let path = write(dir.path(), "c.jsonl", &bytes);
        let one = run(&config(vec![spec(path.clone())]));
        let mut c = config(vec![spec(path)]);
        c.threads = threads;
        c.chunk = chunk;
        let other = run(&c);
        prop_assert_eq!(one.0, other.0);
        prop_assert_eq!(one.1, other.1);
    }

    /// A run killed at any byte of its output (its rejects written up to
    /// that chunk, as the runner writes them first) and resumed writes what
    /// an uninterrupted run writes.
    #[test]
    fn resume_after_a_kill_anywhere(cut in 0.0f64..1.0, extra in 0.0f64..1.0, chunk in 1usize..100, csv in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = corrupted_corpus(400, 7);
        let path = write(dir.path(), "c.jsonl", &bytes);
        let mut c = config(vec![spec(path)]);
        c.chunk = chunk;
        let format = if csv { OutputFormat::Csv } else { OutputFormat::Jsonl };
        c.format = format;
        let (full_out, full_rejects, full_summary) = run(&c);
        // The kill: output cut at any byte; rejects hold every line before
        // the first record the output lacks, and maybe some after.
        let at = (full_out.len() as f64 * cut) as usize;
        let out_path = write(dir.path(), "out", &full_out[..at]);
        let kept_records = if csv {
            let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(&full_out[..at]);
            let mut last = None;
            for rec in r.records().flatten() {
                if rec.len() == triage_batch::output::CSV_COLUMNS.len() { last = rec[0].parse::<u64>().ok(); }
            }
            last
        } else {
            std::str::from_utf8(&full_out[..at]).ok().and_then(|t| {
                t.rsplit_once('\n').and_then(|(done, _)| done.lines().last()).and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()).and_then(|v| v["record"].as_u64())
            })
        };
        let next = kept_records.map_or(0, |r| r + 1);
        let needed = std::str::from_utf8(&full_rejects).unwrap().lines().take_while(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].as_u64().unwrap() < next).map(|l| l.len() + 1).sum::<usize>();
        let r_at = needed + ((full_rejects.len() - needed) as f64 * extra) as usize;
        let rejects_path = write(dir.path(), "rejects", &full_rejects[..r_at]);
        c.resume = triage_batch::resume_point(&out_path, &rejects_path, format).unwrap();
        let (mut out, mut rejects) = (std::fs::read(&out_path).unwrap(), std::fs::read(&rejects_path).unwrap());
        let (rules, directory) = rules();
        let summary = triage_batch::run(rules, directory, &c, &mut out, &mut rejects, &mut |_| {}).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&full_out));
        prop_assert_eq!(String::from_utf8_lossy(&rejects), String::from_utf8_lossy(&full_rejects));
        prop_assert_eq!(summary.inputs[0].decided, full_summary.inputs[0].decided);
        prop_assert_eq!(summary.inputs[0].rejected, full_summary.inputs[0].rejected);
    }
}

#[test]
fn report_numbers_add_up_and_states_replace_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    // Histories for every corpus case: a third answered within minutes.
    let base = std::fs::read_to_string(root().join("rules/global-support/cases/corpus.jsonl")).unwrap();
    let mut states = String::new();
    for (i, line) in base.lines().enumerate() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let events = if i % 3 == 0 {
            serde_json::json!([{ "at": "2026-03-02T09:05:00Z", "kind": "agent_replied" }])
        } else {
            serde_json::json!([])
        };
        states.push_str(&serde_json::json!({ "case": case, "events": events }).to_string());
        states.push('\n');
    }
    let input = write(dir.path(), "states.jsonl", states.as_bytes());
    let mut c = config(vec![spec(input)]);
    c.at = At::Now("2026-03-02T12:00:00Z".parse().unwrap());
    let (out, _, summary) = run(&c);
    assert_eq!(summary.decided, 1000);
    let decisions = write(dir.path(), "decisions.jsonl", &out);
    let none = std::collections::BTreeMap::new();
    let report = triage_batch::report::build(std::slice::from_ref(&decisions), &[], &none).unwrap();
    assert_eq!(report.cases, 1000);
    assert_eq!(report.unreadable, 0);
    assert_eq!(report.tiers.iter().map(|t| t.cases).sum::<u64>(), 1000);
    assert_eq!(report.teams.iter().map(|t| t.cases).sum::<u64>() + report.unrouted, 1000);
    assert_eq!(report.with_history, 1000);
    let first = |r: &triage_batch::report::Report| -> (u64, u64, u64) {
        r.sla_by_policy
            .iter()
            .filter(|c| c.metric == "first_response")
            .fold((0, 0, 0), |a, c| (a.0 + c.met, a.1 + c.breached, a.2 + c.running))
    };
    let (met, breached, running) = first(&report);
    assert_eq!(met + breached + running, 1000, "each case has one first-response clock");
    assert!(met >= 300, "a third were answered within minutes: {met}");
    // A state for c0 (answered, so met) that says breached replaces the replay.
    let c0 = lines(&out).into_iter().find(|d| d["case_id"] == "c0").unwrap();
    assert_eq!(c0["history"]["metrics"]["first_response"]["state"], "met");
    let state = r#"{"case_id": "c0", "now": "2026-03-02T12:00:00Z", "sla": {"policy": "standard", "metrics": {"first_response": {"state": "breached"}}}, "actions": [{"kind": "notify"}]}
{"case_id": "nobody", "now": "2026-03-02T12:00:00Z", "sla": null, "actions": []}
not json
"#;
    let states = write(dir.path(), "esc.jsonl", state.as_bytes());
    let again = triage_batch::report::build(std::slice::from_ref(&decisions), &[states], &none).unwrap();
    let (met2, breached2, _) = first(&again);
    assert_eq!((met2, breached2), (met - 1, breached + 1));
    assert_eq!(again.states_without_decision, 1);
    assert_eq!(again.unreadable, 1);
    let json = serde_json::to_value(&again).unwrap();
    assert_eq!(json["cases"], 1000);
    let page = triage_batch::report::html(&again);
    assert_eq!(page.matches("<figure class=\"chart\"").count(), 6, "no manual reviews in this corpus: 6 charts");
}

#[test]
fn an_unclosed_csv_quote_is_rejected_not_swallowed() {
    let dir = tempfile::tempdir().unwrap();
    // Row 1 opens a quote that a later row's quote "closes": without the
    // check, rows 1 to 3 would be one row with the right field count.
    let csv = "Id,Subject,Country\n\n1,\"outage,DE\n2,refund,DE\n3,\"login\",DE\n4,\"two\nlines\",DE\n\n5,last,DE\n";
    let mut c = config(vec![spec(write(dir.path(), "q.csv", csv.as_bytes()))]);
    c.columns.add_pairs(["Id=id"]).unwrap();
    let (out, rejects, summary) = run(&c);
    let out = lines(&out);
    let ids: Vec<&str> = out.iter().map(|d| d["case_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["4", "5"]);
    // Line numbers count the blank lines.
    let at: Vec<u64> = out.iter().map(|d| d["source"]["line"].as_u64().unwrap()).collect();
    assert_eq!(at, vec![6, 9]);
    let rejects = lines(&rejects);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["source"]["line"], 3);
    assert!(rejects[0]["reason"].as_str().unwrap().contains("lines 3 to 5 were read as one row"), "{:?}", rejects[0]);
    assert_eq!(rejects[0]["raw"], "1,\"outage,DE\n2,refund,DE\n3,\"login\",DE");
    assert_eq!((summary.records, summary.decided, summary.rejected), (3, 2, 1));
    // A quote left open to the end of the file.
    let csv = "Id,Subject,Country\n1,a,DE\n2,\"b,DE\n3,c,DE\n";
    let mut c = config(vec![spec(write(dir.path(), "e.csv", csv.as_bytes()))]);
    c.columns.add_pairs(["Id=id"]).unwrap();
    let (out, rejects, _) = run(&c);
    assert_eq!(lines(&out).len(), 1);
    assert!(lines(&rejects)[0]["reason"].as_str().unwrap().contains("lines 3 to 4"));
    // Classic Mac line ends (CR only) are rows, not one long header.
    let csv = "Id,Subject,Country\r1,a,DE\r2,b,DE\r";
    let mut c = config(vec![spec(write(dir.path(), "m.csv", csv.as_bytes()))]);
    c.columns.add_pairs(["Id=id"]).unwrap();
    let (out, _, _) = run(&c);
    let at: Vec<u64> = lines(&out).iter().map(|d| d["source"]["line"].as_u64().unwrap()).collect();
    assert_eq!(at, vec![2, 3]);
    // LF, CR and CRLF mixed in one file, and a blank CRLF line.
    let csv = "Id,Subject,Country\n1,a,DE\r2,b,DE\n3,c,DE\n\r\n4,d,DE\r\n";
    let mut c = config(vec![spec(write(dir.path(), "x.csv", csv.as_bytes()))]);
    c.columns.add_pairs(["Id=id"]).unwrap();
    let (out, rejects, _) = run(&c);
    assert!(rejects.is_empty(), "{}", String::from_utf8_lossy(&rejects));
    let at: Vec<u64> = lines(&out).iter().map(|d| d["source"]["line"].as_u64().unwrap()).collect();
    assert_eq!(at, vec![2, 3, 4, 6]);
}

#[test]
fn a_missing_comma_or_a_brace_in_a_broken_string_costs_one_element() {
    let dir = tempfile::tempdir().unwrap();
    let array = r#"[{"id": "a"} {"id": "b"}, {"id": "c", "subject": "x},{y", oops}, {"id": "d"}]"#;
    let c =
        config(vec![InputSpec::new(write(dir.path(), "a.json", array.as_bytes()), Some(InputFormat::Json)).unwrap()]);
    let (out, rejects, summary) = run(&c);
    let ids: Vec<String> = lines(&out).iter().map(|d| d["case_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["a", "d"]);
    let rejects = lines(&rejects);
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(rejects[0]["reason"].as_str().unwrap().contains("no `,` between element 0 and element 1"));
    assert_eq!(rejects[0]["raw"], r#"{"id": "b"}"#);
    assert_eq!(rejects[1]["source"]["element"], 2);
    assert!(rejects[1]["raw"].as_str().unwrap().contains("oops"));
    assert_eq!(summary.inputs[0].read, 4);
}

#[test]
fn a_reused_message_id_does_not_merge_unrelated_mail() {
    let dir = tempfile::tempdir().unwrap();
    let mail = |from: &str, subject: &str, date: &str| {
        format!(
            "From {from} Mon Mar  2 09:00:00 2026\nFrom: {from}\nTo: help@acme-help.example\nSubject: {subject}\n\
             Date: {date}\nMessage-ID: <same@client>\n\nPlease help with {subject}.\n\n"
        )
    };
    let mbox = mail("ann@one.example", "Invoice wrong", "Mon, 2 Mar 2026 09:00:00 +0000")
        + &mail("bob@two.example", "Cannot log in", "Mon, 2 Mar 2026 10:00:00 +0000")
        // The first message again (an export that holds it twice).
        + &mail("ann@one.example", "Invoice wrong", "Mon, 2 Mar 2026 09:00:00 +0000");
    let (out, rejects, summary) = run(&config(vec![spec(write(dir.path(), "r.mbox", mbox.as_bytes()))]));
    assert!(rejects.is_empty());
    let out = lines(&out);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0]["thread"].as_array().unwrap().len(), 2, "the copy joins its original");
    assert_eq!(out[0]["thread"][1]["duplicate"], true);
    assert_eq!(out[1]["thread"][0]["from"], "bob@two.example");
    assert_ne!(out[0]["case_id"], out[1]["case_id"]);
    assert_eq!(summary.inputs[0].read, 3);
}

#[test]
fn report_states_pretty_one_after_another_and_decisions_given_as_states() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("rules/global-support/cases/corpus.jsonl")).unwrap();
    // Cases created in year 1 and in year 9999: the chart keeps few buckets.
    let mut text = String::new();
    for (i, line) in base.lines().take(20).enumerate() {
        let mut case: serde_json::Value = serde_json::from_str(line).unwrap();
        case["created_at"] = if i % 2 == 0 { "0001-01-01T00:00:00Z" } else { "9999-12-31T00:00:00Z" }.into();
        text.push_str(&case.to_string());
        text.push('\n');
    }
    let (out, _, _) = run(&config(vec![spec(write(dir.path(), "y.jsonl", text.as_bytes()))]));
    let decisions = write(dir.path(), "d.jsonl", &out);
    let none = std::collections::BTreeMap::new();
    let report = triage_batch::report::build(std::slice::from_ref(&decisions), &[], &none).unwrap();
    assert_eq!(report.cases, 20);
    assert!(report.over_time.buckets.len() <= 64, "{}", report.over_time.buckets.len());
    assert!(report.over_time.bucket.ends_with("years"), "{}", report.over_time.bucket);
    assert!(triage_batch::report::html(&report).len() < 2_000_000);
    // Two pretty-printed states one after the other, as `triage escalate`
    // prints them, are both read.
    let first = lines(&out)[0]["case_id"].as_str().unwrap().to_string();
    let second = lines(&out)[1]["case_id"].as_str().unwrap().to_string();
    let state = |id: &str| {
        serde_json::to_string_pretty(&serde_json::json!({
            "case_id": id, "now": "2026-03-02T12:00:00Z",
            "sla": {"policy": "standard", "metrics": {"first_response": {"state": "breached"}}}, "actions": []
        }))
        .unwrap()
    };
    let states = write(dir.path(), "s.json", format!("{}\n{}\n", state(&first), state(&second)).as_bytes());
    let with = triage_batch::report::build(std::slice::from_ref(&decisions), &[states], &none).unwrap();
    assert_eq!(with.unreadable, 0, "{:?}", with.unreadable_examples);
    assert_eq!(with.with_history, 2);
    // The decisions given again as states: every line is refused as a
    // state, none replaces a replay.
    let wrong =
        triage_batch::report::build(std::slice::from_ref(&decisions), std::slice::from_ref(&decisions), &none).unwrap();
    assert_eq!(wrong.unreadable, 20);
    assert!(wrong.unreadable_examples[0].contains("is it a decision?"), "{:?}", wrong.unreadable_examples);
    assert_eq!(wrong.with_history, 0);
}

#[test]
fn mail_dates_in_every_legal_form_and_impossible_ones_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let message = |date: &str| {
        format!(
            "From a@b.example Mon Mar  2 09:00:00 2026\nFrom: ann@one.example\nDate: {date}\nSubject: API is down \
             ({date})\nMessage-ID: <{}@one.example>\n\nThe API is down.\n\n",
            date.len()
        )
    };
    let good = ["Mon, 2 Mar 2026 08:55:00 UT", "Mon, 2 Mar 2026 08:55:01 Z", "Mon, 2 Mar 2026 08:55 EST"];
    let bad = ["Mon, 30 Feb 2026 08:55:00 +0000", "Mon, 2 Mar 2026 08:55:00 +9999", "Mon, 2 Mar 2026 08:55:00 -0060"];
    for (date, ok) in good.iter().map(|d| (d, true)).chain(bad.iter().map(|d| (d, false))) {
        let path = write(dir.path(), "d.mbox", message(date).as_bytes());
        let (out, rejects, _) = run(&config(vec![spec(path)]));
        if ok {
            let out = lines(&out);
            assert_eq!(out.len(), 1, "{date}: {}", String::from_utf8_lossy(&rejects));
            // The header after Date is kept (the parser used to take it in).
            assert!(out[0]["thread"][0]["subject"].as_str().unwrap().starts_with("API is down"), "{date}");
            assert!(out[0]["thread"][0]["message_id"].as_str().is_some(), "{date}");
        } else {
            assert!(out.is_empty(), "{date} was taken for a date");
            assert!(lines(&rejects)[0]["reason"].as_str().unwrap().contains("is not a date"), "{date}");
        }
    }
    // A year is read as written: four digits as they stand, two as RFC 5322
    // says (the parser took `0049` for 2049).
    let path = write(dir.path(), "y.mbox", message("Sat, 1 Jan 0049 00:00:00 +0000").as_bytes());
    let (out, rejects, _) = run(&config(vec![spec(path)]));
    assert!(out.is_empty());
    let reason = lines(&rejects)[0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("0049-01-01") && reason.contains("outside the supported years"), "{reason}");
    for (date, year) in [
        ("Mon, 2 Mar 26 08:55:00 +0000", "2026"),
        ("Mon, 2 Mar 99 08:55:00 +0000", "1999"),
        ("Mon, 2 Mar 2026 08:55:00 +0000", "2026"),
    ] {
        let path = write(dir.path(), "y.mbox", message(date).as_bytes());
        let (out, rejects, _) = run(&config(vec![spec(path)]));
        assert!(!out.is_empty(), "{date}: {}", String::from_utf8_lossy(&rejects));
        let thread_date = lines(&out)[0]["thread"][0]["date"].as_str().unwrap().to_string();
        assert!(thread_date.starts_with(year), "{date}: {thread_date}");
    }
}

/// `examples/duplicates/rules`, compiled once.
fn duplicate_rules() -> &'static CompiledRules {
    static RULES: OnceLock<CompiledRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let path = root().join("examples/duplicates/rules/rules.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let (rules, diags) = triage_core::compile_sources(&[("rules.yaml", &text)]);
        rules.unwrap_or_else(|| panic!("{diags:?}"))
    })
}

/// The example's eight cases in `blocks` copies, four hours apart, each
/// copy with its own requesters.
fn repeated_example(blocks: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(root().join("examples/duplicates/cases.jsonl")).unwrap();
    let mut out = String::new();
    for b in 0..blocks {
        for line in text.lines() {
            let mut case: serde_json::Value = serde_json::from_str(line).unwrap();
            case["id"] = format!("{b}-{}", case["id"].as_str().unwrap()).into();
            let at: chrono::DateTime<chrono::Utc> = case["created_at"].as_str().unwrap().parse().unwrap();
            case["created_at"] = (at + chrono::Duration::hours(4 * b as i64)).to_rfc3339().into();
            let email = case["requester"]["email"].as_str().unwrap().to_string();
            case["requester"]["email"] = email.replacen('@', &format!("+{b}@"), 1).into();
            out.push_str(&case.to_string());
            out.push('\n');
        }
    }
    out.into_bytes()
}

#[test]
fn duplicates_and_incidents_in_a_run_do_not_depend_on_threads_chunks_or_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.jsonl", &repeated_example(60));
    let directory = Directory::new();
    let go = |c: &RunConfig, out: &mut Vec<u8>, rejects: &mut Vec<u8>| {
        triage_batch::run(duplicate_rules(), &directory, c, out, rejects, &mut |_| {}).unwrap()
    };
    let mut c = config(vec![spec(path.clone())]);
    c.at = At::Creation;
    c.threads = 1;
    c.chunk = 5;
    let (mut one, mut one_rejects) = (Vec::new(), Vec::new());
    go(&c, &mut one, &mut one_rejects);
    let decisions = lines(&one);
    assert_eq!(decisions.len(), 480);
    // In every copy: 102 repeats 101, and the fourth outage report (107)
    // opens an incident named after the first (104).
    for b in 0..60 {
        let of = |id: &str| decisions.iter().find(|d| d["case_id"] == format!("{b}-{id}")).unwrap();
        assert_eq!(of("102")["duplicate"]["case_id"], format!("{b}-101"), "copy {b}");
        assert_eq!(of("107")["incident"]["cluster"], format!("{b}-104"), "copy {b}");
        assert!(of("103")["duplicate"].is_null(), "another request of the same requester");
    }
    let mut other = c.clone();
    other.threads = 3;
    other.chunk = 64;
    let (mut two, mut two_rejects) = (Vec::new(), Vec::new());
    go(&other, &mut two, &mut two_rejects);
    assert!(one == two, "the output depends on threads or chunks");
    // Killed after 137 records and resumed: the resumed part still knows
    // the cases before it.
    let cut: usize = one.split_inclusive(|&b| b == b'\n').take(137).map(<[u8]>::len).sum();
    let out_path = write(dir.path(), "out", &one[..cut]);
    let rejects_path = write(dir.path(), "rejects", b"");
    c.resume = triage_batch::resume_point(&out_path, &rejects_path, OutputFormat::Jsonl).unwrap();
    let mut resumed = std::fs::read(&out_path).unwrap();
    go(&c, &mut resumed, &mut Vec::new());
    assert!(resumed == one, "a resumed run differs");
}
