//! The `triage` command as a user runs it: exit codes, output formats, and
//! the example rule sets' own tests.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test helper that cannot set up its fixture should fail the test loudly"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn triage(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.args(args).current_dir(repo()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Every rule set under `rules/` passes its own tests: the same files
/// `triage test` runs.
#[test]
fn example_rule_sets_pass_their_tests() {
    let mut sets = 0;
    for entry in std::fs::read_dir(repo().join("rules")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        sets += 1;
        let report = triage_cli::run_tests(&dir, None).unwrap().unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(report.failed() == 0, "{}:\n{}", dir.display(), report.render(false));
        assert!(report.passed() >= 40, "{} has only {} tests", dir.display(), report.passed());
    }
    assert!(sets >= 1);
}

#[test]
fn check_accepts_the_example_rules() {
    let o = triage(&["check", "rules/global-support"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
}

/// A copy of the tour's rules in a temporary directory.
fn tour_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/tour/my-support/categories.yaml")).unwrap();
    std::fs::write(dir.path().join("categories.yaml"), text).unwrap();
    dir
}

#[test]
fn symlinks_back_into_the_rule_directory_are_followed_once() {
    let dir = tour_copy();
    let root = dir.path();
    std::os::unix::fs::symlink(".", root.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(root, root.join("loop-b")).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("categories.yaml", root.join("same.yaml")).unwrap();
    let o = triage(&["check", root.to_str().unwrap()], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("ok: 2 rules in 1 files"), "{out}");
}

#[test]
fn hidden_entries_are_skipped_as_in_a_kubernetes_config_map() {
    // A ConfigMap mounts `..2026_11_30/` with the files, `..data` linking to
    // it, and each file as a link through `..data`.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..2026_11_30")).unwrap();
    let rules = std::fs::read_to_string(repo().join("examples/tour/my-support/categories.yaml")).unwrap();
    std::fs::write(root.join("..2026_11_30/categories.yaml"), rules).unwrap();
    std::fs::write(root.join("..2026_11_30/broken.yaml"), "nope: [").unwrap();
    std::os::unix::fs::symlink("..2026_11_30", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/categories.yaml", root.join("categories.yaml")).unwrap();
    std::fs::write(root.join(".categories.yaml.swp"), "\0\0binary").unwrap();
    let o = triage(&["check", root.to_str().unwrap()], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("ok: 2 rules in 1 files"), "{out}");
}

#[test]
fn a_rule_file_that_is_not_a_regular_file_or_too_big_is_refused() {
    for (name, make) in [
        ("zero.yaml", "ln -s /dev/zero zero.yaml"),
        ("pipe.yaml", "mkfifo pipe.yaml"),
        ("huge.yaml", "head -c 70000000 /dev/zero | tr '\\0' '#' > huge.yaml"),
    ] {
        let dir = tour_copy();
        let made = Command::new("sh").arg("-c").arg(make).current_dir(dir.path()).status().unwrap();
        assert!(made.success(), "{make}");
        let o = triage(&["check", dir.path().to_str().unwrap()], None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {out}{err}");
        let why = if name == "huge.yaml" { "larger than 64 MiB" } else { "not a regular file" };
        assert!(err.contains(name) && err.contains(why), "{name}: {err}");
    }
}

#[test]
fn test_without_tests_fails_and_says_where_it_looked() {
    let dir = tour_copy();
    std::fs::create_dir(dir.path().join("test")).unwrap();
    std::fs::write(
        dir.path().join("test/a.test.yaml"),
        "- name: x\n  case: { id: c }\n  expect: { category: general }\n",
    )
    .unwrap();
    let o = triage(&["test", dir.path().to_str().unwrap()], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("no tests found: looked in") && out.contains("/**/tests/*.test.yaml"), "{out}");
    let o = triage(&["test", "rules/global-support", "--filter", "no such test"], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("no test name contains `no such test`"), "{out}");
}

#[test]
fn a_case_file_holding_more_than_one_case_is_refused() {
    let o = triage(&["eval", "rules/global-support", "--case", "rules/global-support/cases/corpus.jsonl"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("more after the case at line 2, column 1"), "{err}");
}

#[test]
fn a_line_that_is_not_utf8_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    let mut bytes = b"{\"id\":\"a\",\"subject\":\"hello\"}\n{\"id\":\"b\",\"subject\":\"bad \xff byte\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"id\":\"c\",\"subject\":\"hello\"}\n");
    std::fs::write(&cases, &bytes).unwrap();
    let path = cases.to_str().unwrap();
    let now = "2026-03-02T09:00:00Z";
    for args in [
        vec!["assign", "rules/global-support", "--cases", path, "--now", now],
        vec!["diff", "rules/global-support", "rules/global-support", path, "--now", now],
        vec!["bench", "rules/global-support", path, "--now", now, "--rounds", "1"],
        vec!["escalate", "rules/global-support", "--state", path, "--now", now],
    ] {
        let o = triage(&args, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!("{path}:2: not UTF-8 text")) || err.contains("line 2: not UTF-8"),
            "{args:?}: {err}"
        );
        if args[0] == "assign" {
            assert!(err.contains("3 case(s) read: 2 decided") && err.contains("1 rejected"), "{err}");
            assert_eq!(out.lines().count(), 2, "{out}");
        }
    }
}

#[test]
fn a_directory_number_too_large_is_refused_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.yaml");
    std::fs::write(&file, "teams: [{ id: desk }]\nagents:\n  - { id: big, teams: [desk], capacity: 99999999999999 }\n")
        .unwrap();
    let o = triage(
        &["assign", "rules/global-support", "--cases", "-", "--directory", file.to_str().unwrap()],
        Some("{\"id\":\"a\"}"),
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("d.yaml:3:") && err.contains("number-out-of-range"), "{err}");
}

#[test]
fn assign_counts_every_case_once() {
    let cases = "{\"id\":\"a\",\"subject\":\"API is down\"}\n{\"id\":\"b\",\"subject\":\"hello\"}\nnot json\n";
    let o =
        triage(&["assign", "examples/tour/my-support", "--cases", "-", "--now", "2026-03-02T10:00:00Z"], Some(cases));
    let (_, err) = text(&o);
    assert!(
        err.contains(
            "3 case(s) read: 2 decided (0 assigned, 0 queued, 1 for manual review, 0 deflected to self-service, 1 with \
             no team), 1 rejected"
        ),
        "{err}"
    );
}

/// The bundled corpus: every case decided lands in one count (126 are
/// deflected at tier 0), and an agent in two teams adds the units taken to
/// both teams' load.
#[test]
fn assign_summary_adds_up_and_counts_shared_agents_in_each_team() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(repo().join("rules/global-support/directory.yaml")).unwrap();
    let shared = original.replace("teams: [emea-t1]", "teams: [emea-t1, emea-t2]");
    assert_ne!(shared, original);
    let file = dir.path().join("directory.yaml");
    std::fs::write(&file, &shared).unwrap();
    let o = triage(
        &[
            "assign",
            "rules/global-support",
            "--cases",
            "rules/global-support/cases/corpus.jsonl",
            "--directory",
            file.to_str().unwrap(),
            "--now",
            "2026-03-02T09:00:00Z",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let first = err.lines().next().unwrap();
    let numbers: Vec<usize> =
        first.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect();
    // read, decided, assigned, queued, review, deflected, no team, rejected
    assert_eq!(numbers[0], 1000, "{first}");
    assert_eq!(numbers[1], numbers[2..7].iter().sum::<usize>(), "{first}");
    assert_eq!(numbers[5], 126, "{first}");
    assert_eq!(numbers[0], numbers[1] + numbers[7], "{first}");
    // Units each agent took, from the decisions.
    let mut took: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for line in out.lines() {
        let d: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(agent), Some(units)) = (d["agent"].as_str(), d["assignment"]["units"].as_i64()) {
            *took.entry(agent.to_string()).or_default() += units;
        }
    }
    for team in ["emea-t1", "emea-t2"] {
        let members: Vec<&str> = shared
            .lines()
            .filter(|l| {
                l.contains("teams: [") && l.split("teams: [").nth(1).unwrap().split(']').next().unwrap().contains(team)
            })
            .map(|l| l.split("id: ").nth(1).unwrap().split(',').next().unwrap())
            .collect();
        let added: i64 = members.iter().map(|m| took.get(*m).copied().unwrap_or(0)).sum();
        let row = err.lines().find(|l| l.trim_start().starts_with(&format!("{team} "))).unwrap();
        let loads: Vec<i64> =
            row.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect();
        // The team's name holds a digit: "emea-t1 load B → A of C units (N …)".
        assert_eq!(loads[2] - loads[1], added, "{row}");
        assert!(added > 0, "{row}");
    }
}

#[test]
fn rules_version_does_not_depend_on_how_the_directory_is_typed() {
    let version = |dir: &str, cwd: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_triage")).args(["check", dir]).current_dir(cwd).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(0), "{out}");
        out.split("version ").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
    };
    let root = repo().canonicalize().unwrap();
    let set = root.join("rules/global-support");
    let first = version("rules/global-support", &root);
    assert_eq!(version("./rules/global-support/", &root), first);
    assert_eq!(version(set.to_str().unwrap(), &root), first);
    assert_eq!(version(".", &set), first);
    assert_eq!(version("global-support", &root.join("rules")), first);
}

#[test]
fn version_names_the_time_zone_database() {
    let o = triage(&["--version"], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.contains(&format!("IANA tzdb {}", triage_core::TZDB_VERSION)), "{out}");
    assert!(triage_core::TZDB_VERSION.starts_with("2026"), "{}", triage_core::TZDB_VERSION);
}

fn broken_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "categories:\n  - id: outage\n    when: { prodcut: api }\n    set: { category: outage }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.yaml"), "tiers:\n  - id: t\n    tier: 7\n").unwrap();
    dir
}

#[test]
fn check_reports_every_problem_as_json() {
    let dir = broken_dir();
    let o = triage(&["check", dir.path().to_str().unwrap(), "--format", "json"], None);
    assert_eq!(o.status.code(), Some(1));
    let diags: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"unknown-field"), "{codes:?}");
    assert!(codes.contains(&"invalid-value"), "{codes:?}");
    assert!(codes.contains(&"missing-default"), "{codes:?}");
    let d = diags.iter().find(|d| d["code"] == "unknown-field").unwrap();
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 13);
    assert_eq!(d["rule"], "outage");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["help"], "did you mean `product`?");
    assert!(d["file"].as_str().unwrap().ends_with("a.yaml"));
}

/// A rule set that compiles but says less than its author meant.
fn lint_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"fields:
  users: number
  plan: { type: enum, values: [free, pro, enterprise] }
categories:
  - id: odd
    when: { users: { gt: 5, lt: 3 } }
    set: { category: odd }
  - id: general
    set: { category: general }
tiers:
  - id: plans
    table:
      hit: unique
      inputs: [plan, users]
      outputs: [tier]
      rows: |
        free-small: free | < 10 => 1
        free-big: free | >= 5 => 2
        pro: pro | - => 2
  - id: free-rest
    when: { plan: free }
    tier: 1
  - id: pro-rest
    when: { plan: pro }
    tier: 1
  - id: rest
    tier: 1
"#;
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    dir
}

#[test]
fn lint_reports_contradictions_unreachable_rules_gaps_and_overlaps_with_examples() {
    let dir = lint_dir();
    let o = triage(&["lint", dir.path().to_str().unwrap(), "--format", "json"], None);
    assert_eq!(o.status.code(), Some(1), "lint fails on findings");
    let found: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let by = |code: &str| found.iter().filter(|d| d["code"] == code).collect::<Vec<_>>();
    assert_eq!(by("impossible-condition")[0]["rule"], "odd");
    let unreachable: Vec<&str> = by("unreachable-rule").iter().map(|d| d["rule"].as_str().unwrap()).collect();
    assert_eq!(unreachable, ["pro-rest"], "{found:#?}");
    assert!(by("unreachable-rule")[0]["message"].as_str().unwrap().contains("`pro` (line 19)"), "{found:#?}");
    let gap = by("table-gap");
    // Either an enterprise case or a free one without a user count.
    let example = &gap[0]["example"];
    assert!(example["plan"] == "enterprise" || example["users"].is_null(), "{found:#?}");
    let overlap = by("table-overlap");
    assert_eq!((overlap[0]["rule"].as_str(), overlap[0]["line"].as_u64()), (Some("free-big"), Some(18)));
    assert_eq!(overlap[0]["example"]["plan"], "free");
    let users = overlap[0]["example"]["users"].as_f64().unwrap();
    assert!((5.0..10.0).contains(&users), "{users}");
    // `check` shows the same findings as warnings and accepts the rules.
    let o = triage(&["check", dir.path().to_str().unwrap()], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("warning[table-overlap]") && out.contains("= example: {\"plan\":\"free\""), "{out}");
    // The example rules lint clean.
    let o = triage(&["lint", "rules/global-support"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);
}

#[test]
fn check_renders_the_offending_line_for_people() {
    let dir = broken_dir();
    let o = triage(&["check", dir.path().to_str().unwrap()], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.contains("error[unknown-field]: unknown field `prodcut`"), "{out}");
    assert!(out.contains(" 3 |     when: { prodcut: api }"), "{out}");
    assert!(out.contains("= help: did you mean `product`?"), "{out}");
    assert!(out.contains("the rule set is refused"), "{out}");
}

#[test]
fn missing_rule_directory_is_an_input_error() {
    let o = triage(&["check", "no/such/dir"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not a directory"));
}

#[test]
fn eval_prints_the_decision_as_json() {
    let o = triage(
        &[
            "eval",
            "rules/global-support",
            "--case",
            "rules/global-support/cases/outage-acme-de.json",
            "--now",
            "2026-03-02T09:00:00+01:00",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["case_id"], "case-27343");
    assert_eq!(d["category"], "outage");
    assert_eq!(d["priority"], "P1");
    assert_eq!(d["tier"], 3);
    assert_eq!(d["territory"], "emea-enterprise");
    assert_eq!(d["territory_path"], serde_json::json!(["global", "emea", "emea-enterprise"]));
    assert_eq!(d["normalized"]["country"], "DE");
    let trace = d["trace"].as_array().unwrap();
    let categorize = trace.iter().find(|t| t["stage"] == "categorize").unwrap();
    assert_eq!(categorize["rule"], "outage");
    assert!(categorize["file"].as_str().unwrap().ends_with("10-categories.yaml"));
    assert_eq!(d["rules_version"].as_str().unwrap().len(), 16);
}

#[test]
fn eval_reads_the_case_from_stdin() {
    let o = triage(
        &["eval", "rules/global-support", "--case", "-", "--now", "2026-03-02T09:00:00Z", "--trace", "full"],
        Some(r#"{"id": "s1", "channel": "web", "subject": "Forgot my password"}"#),
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["tier"], 0);
    assert_eq!(d["deflect"][0]["id"], "kb-reset-password");
    assert!(d["trace"].as_array().unwrap().iter().any(|t| t["outcome"] == "not-matched" && t["why"].is_string()));
}

#[test]
fn a_bad_case_is_an_input_error_naming_the_field() {
    let o = triage(
        &["eval", "rules/global-support", "--case", "-", "--now", "2026-03-02T09:00:00Z"],
        Some(r#"{"id": "s1", "requester": {"email": 42}}"#),
    );
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.contains("requester.email"), "{err}");
}

#[test]
fn a_bad_now_is_an_input_error() {
    let o = triage(&["eval", "rules/global-support", "--case", "-", "--now", "yesterday"], Some(r#"{"id": "x"}"#));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("RFC 3339"));
    let o =
        triage(&["eval", "rules/global-support", "--case", "-", "--now", "2026-03-02T09:00"], Some(r#"{"id": "x"}"#));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("needs a UTC offset or `Z`"), "{}", text(&o).1);
}

#[test]
fn explain_names_rules_files_and_lines() {
    let o = triage(
        &[
            "explain",
            "rules/global-support",
            "--case",
            "rules/global-support/cases/outage-acme-de.json",
            "--now",
            "2026-03-02T09:00:00Z",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("case `case-27343`: category `outage`, priority P1, tier 3"), "{out}");
    assert!(out.contains("matched     outage"), "{out}");
    assert!(out.contains("10-categories.yaml:28"), "{out}");
    assert!(out.contains("severity eq sev1 failed: `severity` is `sev2`"), "{out}");
}

#[test]
fn failing_tests_exit_1_and_show_expected_actual_and_trace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "categories:\n  - id: billing\n    when: { subject: { contains: invoice } }\n    set: { category: billing }\n  - id: other\n    set: { category: general }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("tests/a.test.yaml"),
        "- name: right\n  case: { id: a, subject: invoice }\n  expect: { category: billing }\n- name: wrong\n  case: { id: b, subject: hello }\n  expect: { category: billing }\n",
    )
    .unwrap();
    let o = triage(&["test", dir.path().to_str().unwrap()], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED  wrong"), "{out}");
    assert!(out.contains("category: expected `billing`, got `general`"), "{out}");
    assert!(out.contains("subject contains invoice failed"), "{out}");
    assert!(out.trim_end().ends_with("1 passed, 1 failed"), "{out}");

    let o = triage(&["test", dir.path().to_str().unwrap(), "--filter", "right"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.trim_end().ends_with("1 passed, 0 failed"));
}

#[test]
fn a_broken_test_file_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "categories:\n  - id: other\n    set: { category: general }\n")
        .unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("tests/a.test.yaml"),
        "- name: typo\n  case: { id: a }\n  expcet: { category: general }\n",
    )
    .unwrap();
    let o = triage(&["test", dir.path().to_str().unwrap()], None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("unknown key `expcet`"), "{out}");
    assert!(out.contains("did you mean `expect`?"), "{out}");
}

/// `triage escalate` on the example outage's history, three hours in.
fn escalate_outage() -> Output {
    let state = "rules/global-support/states/outage-acme-de.json";
    triage(&["escalate", "rules/global-support", "--state", state, "--now", "2026-03-02T12:00:00+01:00"], None)
}

#[test]
fn escalate_replays_a_history_and_reports_the_swarm() {
    let o = escalate_outage();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let channels: Vec<&str> = v["actions"].as_array().unwrap().iter().filter_map(|a| a["channel"].as_str()).collect();
    assert_eq!(channels, ["support-api-sev1-27343"]);
    assert_eq!(v["sla"]["metrics"]["next_response"]["state"], "breached");
    assert!(v["next_check_at"].is_string(), "{out}");
}

#[test]
fn escalate_reads_json_lines_rejects_bad_lines_and_reports_open_escalations() {
    let good = std::fs::read_to_string(repo().join("rules/global-support/states/outage-acme-de.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let input =
        format!("{}\n{{\"case\": {{\"id\": 5}}}}\n{}\n", good, good.to_string().replace("case-27343", "case-9"));
    let args = ["escalate", "rules/global-support", "--state", "-", "--now", "2026-03-02T12:00:00+01:00"];
    let o = triage(&args, Some(&input));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("-:2: invalid case: field `case.id`"), "{err}");
    let mut with_report = args.to_vec();
    with_report.push("--report");
    let o = triage(&with_report, Some(&input));
    let (out, _) = text(&o);
    assert!(out.starts_with(" risk  sev"), "{out}");
    assert!(out.contains("case-27343") && out.contains("case-9"), "{out}");
}

#[test]
fn record_moves_through_its_lifecycle_and_refuses_a_close_without_lessons() {
    let o = escalate_outage();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let record = v["actions"].as_array().unwrap().iter().find_map(|a| a.get("record")).unwrap().to_string();
    let step = |rec: &str, to: &str, note: Option<&str>| {
        let mut args = vec!["record", "-", "--to", to, "--at", "2026-03-02T13:00:00Z"];
        if let Some(n) = note {
            args.extend(["--note", n]);
        }
        triage(&args, Some(rec))
    };
    let active = step(&record, "active", None);
    assert_eq!(active.status.code(), Some(0), "{:?}", text(&active));
    let resolved = step(&String::from_utf8_lossy(&active.stdout), "resolved", None);
    let resolved = String::from_utf8_lossy(&resolved.stdout).into_owned();
    let refused = step(&resolved, "closed", None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).1.contains("needs a lessons-learned note"), "{:?}", text(&refused));
    let closed = step(&resolved, "closed", Some("alert on 5xx rate, not on tickets"));
    let v: serde_json::Value = serde_json::from_slice(&closed.stdout).unwrap();
    assert_eq!(v["status"], "closed");
    assert_eq!(v["lessons_learned"], "alert on 5xx rate, not on tickets");
}

#[test]
fn assign_reads_json_lines_assigns_greedily_and_summarizes_loads() {
    let input = concat!(
        r#"{"id":"x1","channel":"email","country":"US","subject":"Hello","body":"Please call me back"}"#,
        "\n{\"id\": 5}\n",
        r#"{"id":"x3","channel":"email","country":"JP","requester":{"language":"ja"},"subject":"Hello","body":"Please call me back"}"#,
        "\n"
    );
    let o = triage(&["assign", "rules/global-support", "--cases", "-", "--now", "2026-03-02T15:00:00Z"], Some(input));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let agents: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["agent"].as_str().unwrap_or("-").to_string())
        .collect();
    // 15:00 UTC is night in Sydney: the APAC case waits in its queue.
    assert_eq!(agents, ["ana", "-"], "{out}");
    assert!(err.contains("-:2: invalid case"), "{err}");
    // Both are flagged for manual review (the first also got `ana`, the
    // second a queue): each counts once, as manual review, whatever the mode.
    assert!(err.contains("3 case(s) read: 2 decided (0 assigned, 0 queued, 2 for manual review"), "{err}");
    assert!(err.contains("amer-t1          load 25 → 26 of 64 units (1 case(s) assigned through it)"), "{err}");
}

/// Greedy serves the urgent general case first and gives it the only
/// billing expert; the optimal plan gives it the generalist and keeps the
/// expert for the billing case, so both are served.
#[test]
fn assign_optimal_mode_beats_greedy_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "categories:\n  - id: billing\n    when: { subject: { contains: invoice } }\n    set: { category: billing, priority: P3, skills: [billing] }\n  - id: other\n    set: { category: general, priority: P1 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("directory.yaml"),
        "teams: [{ id: desk, strategy: most_skilled }]\nagents:\n  - { id: ann, teams: [desk], capacity: 1, skills: { billing: 9 } }\n  - { id: bob, teams: [desk], capacity: 1 }\n",
    )
    .unwrap();
    let cases = "{\"id\":\"urgent\",\"subject\":\"help\"}\n{\"id\":\"bill\",\"subject\":\"invoice wrong\"}\n";
    let root = dir.path().to_str().unwrap();
    let agents = |mode: &str| {
        let o = triage(&["assign", root, "--cases", "-", "--mode", mode, "--now", "2026-03-02T10:00:00Z"], Some(cases));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        let agents: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["agent"].as_str().unwrap_or("-").to_string())
            .collect();
        (agents, err)
    };
    let (greedy, err) = agents("greedy");
    assert_eq!(greedy, ["ann", "-"]);
    assert!(err.contains("1 assigned, 0 queued, 1 for manual review"), "{err}");
    let (optimal, err) = agents("optimal");
    assert_eq!(optimal, ["bob", "ann"]);
    assert!(err.contains("2 assigned") && err.contains("optimal plan, total match score"), "{err}");
}

/// A directory with several problems names each one with its line and
/// column, and nothing runs.
#[test]
fn a_bad_directory_reports_every_problem_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.yaml");
    std::fs::write(
        &file,
        "teams: [{ id: desk }]\nagents:\n  - { id: ann, teams: [dessk], capacity: 1 }\n  - { id: bob, teams: [desk], capacity: -2 }\n",
    )
    .unwrap();
    let o = triage(
        &["assign", "rules/global-support", "--cases", "-", "--directory", file.to_str().unwrap()],
        Some("{\"id\":\"a\"}\n"),
    );
    let (out, err) = text(&o);
    assert_ne!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("directory.yaml:3:24: error[unknown-team]: agent `ann` names unknown team `dessk` (help: did you mean `desk`?)"), "{err}");
    assert!(err.contains("directory.yaml:4:41: error[negative-capacity]"), "{err}");
}

/// `check` reads the rules against the default directory: a team or a
/// skill the directory does not know is a warning at the rule's line.
#[test]
fn check_warns_about_teams_and_skills_the_directory_lacks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "categories:\n  - id: billing\n    set: { category: billing, skills: [biling] }\nassignment:\n  - id: to-desk\n    team: dsek\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("directory.yaml"),
        "skills: [billing]\nteams: [{ id: desk }]\nagents: [{ id: ann, teams: [desk], capacity: 1, skills: { billing: 5 } }]\n",
    )
    .unwrap();
    let o = triage(&["check", dir.path().to_str().unwrap()], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("warning[unknown-skill]: skill `biling` is not among the directory's `skills:`"), "{out}");
    assert!(out.contains("rules.yaml:2:1 (rule `billing`)"), "{out}");
    assert!(out.contains("= help: did you mean `billing`?"), "{out}");
    assert!(out.contains("warning[unknown-team]: team `dsek` is not in the directory"), "{out}");
    assert!(out.contains("2 warning(s)"), "{out}");
}

/// The example set's tests exercise every rule and table row; a filtered
/// run does not, and `--threshold` turns that into exit 1.
#[test]
fn test_coverage_reports_rules_and_rows_and_enforces_a_threshold() {
    let o = triage(&["test", "rules/global-support", "--coverage", "--threshold", "100", "--format", "json"], None);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["percent"], 100.0);
    assert_eq!(report["conditions_percent"], 100.0, "every condition seen true and false");
    let rows: Vec<&serde_json::Value> =
        report["items"].as_array().unwrap().iter().filter(|i| i["table"] == "entitlement-matrix").collect();
    assert_eq!(rows.len(), 6);

    let o = triage(&["test", "rules/global-support", "--filter", "postal", "--coverage", "--threshold", "50"], None);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stderr.contains("below the threshold of 50 %"), "{stderr}");
    assert!(stdout.contains("not exercised by any test:") && stdout.contains("10-categories.yaml"), "{stdout}");
    // The postal tests never make a case a trial or a free-plan customer.
    assert!(stdout.contains("trial-users: `is_trial eq true` never true"), "{stdout}");
}

/// `diff` reports each changed field with the rule on each side, and counts.
#[test]
fn bench_times_each_decision_and_rejects_bad_lines() {
    let cases = "{\"id\":\"a\",\"subject\":\"Refund please\",\"country\":\"BR\"}\nnot json\n{\"id\":\"b\",\"subject\":\"hi\"}\n";
    let args =
        ["bench", "rules/global-support", "-", "--now", "2026-03-02T10:00:00Z", "--rounds", "2", "--format", "json"];
    let o = triage(&args, Some(cases));
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "a rejected line fails the run: {stderr}");
    assert!(stderr.contains("-:2:"), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((r["cases"].as_u64(), r["rejected"].as_u64(), r["decisions"].as_u64()), (Some(2), Some(1), Some(4)));
    let (p50, p99, max) = (r["p50_us"].as_f64().unwrap(), r["p99_us"].as_f64().unwrap(), r["max_us"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{r}");
    assert!(r["decisions_per_second"].as_f64().unwrap() > 0.0);
    // The bundled corpus, read by people.
    let o =
        triage(&["bench", "rules/global-support", "rules/global-support/cases/corpus.jsonl", "--rounds", "1"], None);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("1000 decisions (1000 case(s) × 1 round(s), one core)") && stdout.contains("p99"),
        "{stdout}"
    );
}

#[test]
fn diff_names_changed_fields_and_the_rules_behind_them() {
    let tmp = tempfile::tempdir().unwrap();
    let new = tmp.path().join("new");
    std::fs::create_dir(&new).unwrap();
    for entry in std::fs::read_dir(repo().join("rules/global-support")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, new.join(p.file_name().unwrap())).unwrap();
        }
    }
    let sla = std::fs::read_to_string(new.join("35-sla.yaml")).unwrap();
    std::fs::write(new.join("35-sla.yaml"), sla.replace("gold        | P1, P2", "gold        | P1    ")).unwrap();
    let cases = "{\"id\":\"a\",\"channel\":\"chat\",\"subject\":\"Refund please\",\"account\":\"harman\",\"country\":\"BR\"}\n{\"id\":\"b\",\"subject\":\"hi\"}\nnot json\n";
    let o = triage(
        &[
            "diff",
            "rules/global-support",
            new.to_str().unwrap(),
            "-",
            "--now",
            "2026-03-02T10:00:00Z",
            "--format",
            "json",
        ],
        Some(cases),
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "a rejected line fails the run: {stderr}");
    assert!(stderr.contains("-:3:"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["case_id"], "a");
    let change = &lines[0]["changes"][0];
    assert_eq!(
        (&change["field"], &change["old_rule"], &change["new_rule"]),
        (&"sla_policy".into(), &"gold-urgent".into(), &"gold".into())
    );
    assert_eq!(lines[1]["summary"]["changed"], 1);
    assert_eq!(lines[1]["summary"]["per_field"]["sla_policy"], 1);
}
