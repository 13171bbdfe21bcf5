//! The hostile-input corpus (`testdata/hostile/manifest.tsv`) and generated
//! pathological inputs, run through the real binary: every run ends, none
//! panics, each gives the exit code and message expected, and every batch
//! accounts for each line it read.

#![allow(clippy::unwrap_used, clippy::panic, reason = "a test that cannot run its input should fail loudly")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/hostile")
}

/// Runs `triage` with a watchdog: a run that has not ended after a minute
/// is killed and fails the test as a hang (no other use of time here).
fn run(args: &[String]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Drain the pipes while waiting, so a large output cannot block the child.
    let out = std::thread::spawn({
        let mut pipe = child.stdout.take().unwrap();
        move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut pipe, &mut v).unwrap();
            v
        }
    });
    let err = std::thread::spawn({
        let mut pipe = child.stderr.take().unwrap();
        move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut pipe, &mut v).unwrap();
            v
        }
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`triage {}` hung", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// The numbers of the first summary line of `assign`: read, decided, the
/// five outcomes, rejected.
fn assign_counts(stderr: &str) -> Option<Vec<usize>> {
    let line = stderr.lines().find(|l| l.contains(" case(s) read: "))?;
    let head = line.split(';').next()?;
    Some(head.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).filter_map(|w| w.parse().ok()).collect())
}

#[test]
fn every_hostile_input_of_the_corpus_gets_its_answer() {
    let manifest = std::fs::read_to_string(corpus().join("manifest.tsv")).unwrap();
    let mut ran = 0;
    for line in manifest.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, exit, args, expect] = cols[..] else { panic!("bad manifest line: {line}") };
        let args: Vec<String> = args
            .split(' ')
            .map(|a| match a.strip_prefix('@') {
                Some(file) => corpus().join(file).to_string_lossy().into_owned(),
                None => a.to_string(),
            })
            .collect();
        let o = run(&args);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let code = o.status.code();
        assert_ne!(code, Some(101), "{name} panicked: {err}");
        assert_eq!(code, Some(exit.parse().unwrap()), "{name}: {out}{err}");
        assert!(out.contains(expect) || err.contains(expect), "{name}: expected `{expect}` in\n{out}{err}");
        if args[0] == "assign" {
            let n = assign_counts(&err).unwrap_or_else(|| panic!("{name}: no summary in {err}"));
            assert_eq!(n[0], n[1] + n[7], "{name}: read = decided + rejected: {err}");
            assert_eq!(n[1], n[2..7].iter().sum::<usize>(), "{name}: the outcomes add up to decided: {err}");
            assert_eq!(out.lines().count(), n[1], "{name}: one decision line per decided case");
            let file = std::fs::read(&args[3]).unwrap();
            let lines = file.split(|&b| b == b'\n').filter(|l| !triage_cli::is_blank(l)).count();
            assert_eq!(n[0], lines, "{name}: every non-blank line is read: {err}");
        }
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} corpus entries ran");
}

/// `triage eval` of the example rules on `case` with the directory `file`.
fn eval_with_directory(case: &Path, file: &Path) -> Output {
    let arg = |p: &Path| p.to_string_lossy().into_owned();
    run(&["eval".into(), "rules/global-support".into(), "--case".into(), arg(case), "--directory".into(), arg(file)])
}

/// Writes a rule directory holding one file.
fn rule_dir(root: &Path, name: &str, yaml: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join("categories.yaml")).unwrap().write_all(yaml.as_bytes()).unwrap();
    dir.to_string_lossy().into_owned()
}

fn categories(when: &str) -> String {
    format!(
        "categories:\n  - id: hostile\n    when: {{ {when} }}\n    set: {{ category: hostile }}\n  - id: general\n    set: {{ category: general }}\n"
    )
}

/// Inputs too large to commit, generated: each once took 7 s to over a
/// minute (their time is measured by `cargo bench --bench hostile`).
#[test]
fn generated_pathological_inputs_are_handled() {
    let tmp = tempfile::tempdir().unwrap();
    let keywords: Vec<String> = (1..=100_000).map(|i| format!("kw{i}")).collect();
    let prefixes = rule_dir(
        tmp.path(),
        "prefixes",
        &categories(&format!("subject: {{ contains_any: [{}] }}", keywords.join(", "))),
    );
    let periodic = rule_dir(
        tmp.path(),
        "periodic",
        &categories(&format!("subject: {{ contains: \"{}\" }}", "ab ".repeat(33_000).trim())),
    );
    let many: String = (0..20_000)
        .map(|i| {
            format!(
                "  - id: r{i}\n    when: {{ subject: {{ contains: 'w{i} x{i}' }} }}\n    set: {{ category: c{i} }}\n"
            )
        })
        .collect();
    let many = rule_dir(
        tmp.path(),
        "many",
        &format!("categories:\n{many}  - id: general\n    set: {{ category: general }}\n"),
    );
    for dir in [&prefixes, &periodic, &many] {
        let o = run(&["check".to_string(), dir.clone()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{dir}: {out}{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.starts_with("ok: "), "{out}");
    }
    let case = tmp.path().join("case.json");
    std::fs::write(&case, r#"{"id": "k", "subject": "about kw99999 today"}"#).unwrap();
    let o = run(&["eval".into(), prefixes, "--case".into(), case.to_string_lossy().into_owned()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"category\": \"hostile\""));

    // A history whose priority changes 10,000 times, each selecting
    // another SLA policy.
    let mut events = vec![r#"{"at": "2026-03-02T08:00:00Z", "kind": "created"}"#.to_string()];
    for i in 0..10_000 {
        let at = chrono::DateTime::from_timestamp(1_772_438_400 + 10 * (i + 1), 0).unwrap().to_rfc3339();
        let p = if i % 2 == 0 { "P1" } else { "P3" };
        events.push(format!(r#"{{"at": "{at}", "kind": "priority_changed", "priority": "{p}"}}"#));
    }
    let state = tmp.path().join("storm.json");
    std::fs::write(
        &state,
        format!(
            r#"{{"case": {{"id": "s", "created_at": "2026-03-02T08:00:00Z", "subject": "API is down", "country": "DE", "account": "acme-de"}}, "events": [{}]}}"#,
            events.join(",\n")
        ),
    )
    .unwrap();
    // A first-hit table of 30,000 rows with their own bounds, and a
    // `unique` table of 5,000 identical rows: compiled in linear memory,
    // linted with at most 20 overlap findings and a note that there are more.
    let rows: String = (0..30_000).map(|i| format!("        r{i}: [{}..{}] => c{i}\n", i * 10, i * 10 + 15)).collect();
    let wide = rule_dir(
        tmp.path(),
        "wide-table",
        &format!(
            "fields:\n  users: number\ncategories:\n  - id: t\n    table:\n      hit: first\n      inputs: [users]\n      outputs: [category]\n      rows: |\n{rows}        dflt: - => general\n  - id: d\n    set: {{ category: general }}\n"
        ),
    );
    let case = tmp.path().join("users.json");
    std::fs::write(&case, r#"{"id": "u", "fields": {"users": 299995}}"#).unwrap();
    let o = run(&["eval".into(), wide, "--case".into(), case.to_string_lossy().into_owned()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"category\": \"c29998\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let same: String = (0..5_000).map(|i| format!("        r{i}: - => c\n")).collect();
    let same = rule_dir(
        tmp.path(),
        "same-rows",
        &format!(
            "fields:\n  users: number\ncategories:\n  - id: t\n    table:\n      hit: unique\n      inputs: [users]\n      outputs: [category]\n      rows: |\n{same}\n  - id: d\n    set: {{ category: general }}\n"
        ),
    );
    let o = run(&["lint".into(), same]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("warning[table-overlap]").count(), 20, "{}", &out[..out.len().min(2000)]);
    assert!(
        out.contains("warning[too-many-findings]: table `t` has more pairs of rows that overlap than the 20 shown")
    );

    // 3,000 teams each overflowing to the next, and accounts 100,000 deep.
    let teams: Vec<String> = (0..3_000)
        .map(|i| {
            format!(
                r#"{{"id": "t{i}", "queue": "q{i}"{}}}"#,
                if i < 2_999 { format!(r#", "overflow": "t{}""#, i + 1) } else { String::new() }
            )
        })
        .collect();
    let chain = tmp.path().join("chain.json");
    std::fs::write(
        &chain,
        format!(r#"{{"teams": [{}], "agents": [{{"id": "a", "teams": ["t0"], "capacity": 5}}]}}"#, teams.join(", ")),
    )
    .unwrap();
    let o = eval_with_directory(&case, &chain);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let accounts: Vec<String> = (0..100_000)
        .map(|i| {
            if i == 0 { r#"{"id": "x0"}"#.to_string() } else { format!(r#"{{"id": "x{i}", "parent": "x{}"}}"#, i - 1) }
        })
        .collect();
    let deep = tmp.path().join("deep.json");
    std::fs::write(&deep, format!(r#"{{"accounts": [{}]}}"#, accounts.join(", "))).unwrap();
    let o = eval_with_directory(&case, &deep);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("an account hierarchy may be at most 64 levels deep"));

    let o = run(&[
        "escalate".into(),
        "rules/global-support".into(),
        "--state".into(),
        state.to_string_lossy().into_owned(),
        "--now".into(),
        "2026-03-09T09:00:00Z".into(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["case_id"], "s");
    assert_eq!(v["priority"], "P3", "the last change holds");
}

/// Lines a JSON Lines input may hold: cases, broken JSON, a second case on
/// one line, bytes that are not UTF-8, blank lines, `\r`.
const LINE_PIECES: &[&[u8]] = &[
    br#"{"id": "a", "subject": "API is down"}"#,
    br#"{"id": "b"} {"id": "c"}"#,
    br#"{"id": 5}"#,
    br#"[{"id": "d"}]"#,
    br#"{"id": "e", "requester": ["x"]}"#,
    b"{\"id\": \"f\", \"subject\": \"caf\xe9\"}",
    b"\xff\xfe",
    b"",
    b"   \t",
    b"\r",
    b"not json",
    br#"{"id": "g", "created_at": "2026-03-02T09:00:00"}"#,
    "{\"id\": \"h\", \"subject\": \"障害\u{feff}\"}".as_bytes(),
    "\u{a0}".as_bytes(),
    "\u{3000}\u{2028}".as_bytes(),
    b"\x0b\x0c",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// Every non-blank line is read exactly once, with its number, as a
    /// case or as the reason it is not one; nothing is dropped or merged.
    #[test]
    fn every_json_lines_line_is_a_case_or_a_numbered_rejection(
        picks in proptest::collection::vec((0..LINE_PIECES.len(), proptest::bool::ANY), 0..30),
        tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
    ) {
        let mut bytes = Vec::new();
        for (i, crlf) in &picks {
            bytes.extend_from_slice(LINE_PIECES[*i]);
            bytes.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        bytes.extend_from_slice(&tail);
        let expected: Vec<usize> = bytes
            .strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&bytes)
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')))
            .map(|(n, _)| n + 1)
            .collect();
        let read = triage_cli::parse_case_lines(&bytes);
        let numbers: Vec<usize> = read.iter().map(|(n, _)| *n).collect();
        proptest::prop_assert_eq!(numbers, expected);
        for (n, r) in &read {
            if let Err(why) = r {
                proptest::prop_assert!(!why.is_empty(), "line {} rejected without a reason", n);
            }
        }
    }
}

proptest::proptest! {
    /// Diagnostics show their line through an index (20,000 diagnostics on
    /// one file once took 24 s to render); it gives what `str::lines` gives.
    #[test]
    fn a_source_gives_each_line_as_str_lines_does(text in "[a-c\\r\\n ]{0,60}", n in 0usize..20) {
        let source = triage_cli::Source::new("f.yaml".into(), text.clone());
        proptest::prop_assert_eq!(source.line(n), n.checked_sub(1).and_then(|i| text.lines().nth(i)));
    }
}
