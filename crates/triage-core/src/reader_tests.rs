//! Every reader against hostile input: arbitrary bytes and random edits of
//! valid inputs (cases, case states, directories, rule files) never panic,
//! and whatever is read is then decided, replayed or linted without a
//! panic. (That the tests finish is the evidence nothing hangs.)

use crate::{Case, CaseState, CompiledRules, Directory, Options, compile_sources, escalate, lint, triage};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use std::sync::OnceLock;

/// The example rule set, file by file.
pub(crate) const RULE_FILES: &[(&str, &str)] = &[
    ("00-settings.yaml", include_str!("../../../rules/global-support/00-settings.yaml")),
    ("01-normalize.yaml", include_str!("../../../rules/global-support/01-normalize.yaml")),
    ("04-calendars.yaml", include_str!("../../../rules/global-support/04-calendars.yaml")),
    ("05-territories.yaml", include_str!("../../../rules/global-support/05-territories.yaml")),
    ("10-categories.yaml", include_str!("../../../rules/global-support/10-categories.yaml")),
    ("20-priority.yaml", include_str!("../../../rules/global-support/20-priority.yaml")),
    ("30-tiers.yaml", include_str!("../../../rules/global-support/30-tiers.yaml")),
    ("35-sla.yaml", include_str!("../../../rules/global-support/35-sla.yaml")),
    ("40-knowledge.yaml", include_str!("../../../rules/global-support/40-knowledge.yaml")),
    ("50-escalation.yaml", include_str!("../../../rules/global-support/50-escalation.yaml")),
    ("60-assignment.yaml", include_str!("../../../rules/global-support/60-assignment.yaml")),
];
const DIRECTORY: &str = include_str!("../../../rules/global-support/directory.yaml");
const CORPUS: &str = include_str!("../../../rules/global-support/cases/corpus.jsonl");
const STATE: &str = include_str!("../../../rules/global-support/states/outage-acme-de.json");

fn rules() -> &'static CompiledRules {
    static RULES: OnceLock<CompiledRules> = OnceLock::new();
    RULES.get_or_init(|| compile_sources(RULE_FILES).0.expect("the example rules compile"))
}

fn directory() -> &'static Directory {
    static DIR: OnceLock<Directory> = OnceLock::new();
    DIR.get_or_init(|| Directory::from_text("directory.yaml", DIRECTORY).expect("the example directory loads"))
}

fn now() -> DateTime<Utc> {
    "2026-03-09T09:00:00Z".parse().unwrap_or_default()
}

/// What a careless user or an attacker puts into a document.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\n",
    " ",
    "-",
    "&a ",
    "*a",
    "#",
    "null",
    "true",
    "1e999",
    "-0",
    "99999999999999999999",
    "\\u0000",
    "\\ud800",
    "é",
    "\u{feff}",
    "\u{202e}",
    "ı",
    "２",
    "2026-13-45T25:61:61Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "\t",
    "\r",
    "'",
    "!!binary ",
    "? ",
    "---\n",
    "...",
    "<<: *a",
    "[[[[[[[[",
    "\"requester\": [1, 2]",
    "\"events\": [{}]",
    "\"kind\": \"priority_changed\"",
    "9223372036854775807",
    "153722867280912930h",
    "99999999999999999999m",
    "1e308",
    "-1e308",
    "0.0000001",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
            (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(a, p)| Edit::Insert(a, p)),
            (any::<usize>(), 0usize..200).prop_map(|(a, n)| Edit::Duplicate(a, n)),
            any::<usize>().prop_map(Edit::Truncate),
        ],
        1..6,
    )
}

/// `base` with the edits applied; positions wrap around the text and move
/// back to a character boundary.
fn mutate(base: &str, edits: &[Edit]) -> String {
    fn at(s: &str, i: usize) -> usize {
        let mut i = i % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
    let mut s = base.to_string();
    for e in edits {
        match *e {
            Edit::Delete(a, n) => {
                let a = at(&s, a);
                let b = at(&s, a.saturating_add(n).min(s.len()));
                s.replace_range(a..b, "");
            }
            Edit::Insert(a, piece) => {
                let a = at(&s, a);
                s.insert_str(a, piece);
            }
            Edit::Duplicate(a, n) => {
                let a = at(&s, a);
                let b = at(&s, a.saturating_add(n).min(s.len()));
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
            Edit::Truncate(a) => {
                let a = at(&s, a);
                s.truncate(a);
            }
        }
    }
    s
}

/// Decides a case read from hostile text: the decision answers for it.
fn decide(case: &Case) -> Result<(), TestCaseError> {
    let d = triage(rules(), case, directory(), now(), &Options::default());
    prop_assert_eq!(&d.case_id, &case.id);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_any_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(case) = Case::from_json(&text) {
            decide(&case)?;
        }
        if let Ok(state) = CaseState::from_json(&text) {
            let _ = escalate(rules(), &state, directory(), now(), &Options::default());
        }
        let _ = Directory::from_text("d.yaml", &text);
        let _ = Directory::from_text("d.json", &format!("{{{text}"));
        if let (Some(r), _) = compile_sources(&[("r.yaml", &text)]) {
            let _ = lint(&r);
        }
    }

    #[test]
    fn edited_cases_are_read_or_refused_and_then_decided(line in 0usize..1000, edits in edits()) {
        let base = CORPUS.lines().nth(line).unwrap_or("{}");
        if let Ok(case) = Case::from_json(&mutate(base, &edits)) {
            decide(&case)?;
        }
    }

    #[test]
    fn edited_case_states_are_read_or_refused_and_then_replayed(edits in edits()) {
        if let Ok(state) = CaseState::from_json(&mutate(STATE, &edits))
            && let Ok(e) = escalate(rules(), &state, directory(), now(), &Options::default())
        {
            prop_assert_eq!(&e.case_id, &state.case.id);
        }
    }

    #[test]
    fn edited_directories_are_read_or_refused_and_then_used(edits in edits(), json in any::<bool>()) {
        let base = if json { directory_json() } else { DIRECTORY.to_string() };
        if let Ok(dir) = Directory::from_text(if json { "d.json" } else { "d.yaml" }, &mutate(&base, &edits)) {
            let case = Case::from_json(CORPUS.lines().next().unwrap_or("{}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let d = triage(rules(), &case, &dir, now(), &Options::default());
            prop_assert_eq!(&d.case_id, &case.id);
        }
    }

    #[test]
    fn edited_rule_files_compile_or_are_refused_and_then_lint_and_decide(file in 0usize..RULE_FILES.len(), edits in edits()) {
        let edited = mutate(RULE_FILES[file].1, &edits);
        let sources: Vec<(&str, &str)> =
            RULE_FILES.iter().enumerate().map(|(i, (n, t))| (*n, if i == file { edited.as_str() } else { *t })).collect();
        let (compiled, diags) = compile_sources(&sources);
        match compiled {
            Some(r) => {
                let _ = lint(&r);
                let case = Case::from_json(CORPUS.lines().nth(file).unwrap_or("{}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let d = triage(&r, &case, directory(), now(), &Options::default());
                prop_assert_eq!(&d.case_id, &case.id);
            }
            // A refused rule set says why, at a place in a file.
            None => prop_assert!(diags.iter().any(|d| d.severity == crate::Severity::Error && d.line >= 1)),
        }
    }
}

/// The example directory as JSON, the form exports usually take.
fn directory_json() -> String {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let node = crate::syntax::parse("directory.yaml", DIRECTORY).expect("the example directory parses");
        serde_json::to_string_pretty(&node.to_json()).unwrap_or_default()
    })
    .clone()
}

/// A decision, escalation or batch as JSON without its trace.
fn untraced<T: serde::Serialize>(value: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    let strip = |v: &mut serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("trace");
        }
    };
    match &mut v {
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        other => strip(other),
    }
    v
}

/// `TraceLevel::Off` leaves the trace empty and changes nothing else: every
/// corpus case decided at instants inside and outside business hours and
/// near a change of offset, the corpus assigned as a batch both ways, and
/// the example history replayed at several instants.
#[test]
fn no_trace_changes_nothing_but_the_trace() {
    use crate::{BatchMode, TraceLevel, assign_batch};
    let (on, off) = (Options::default(), Options::with_trace(TraceLevel::Off));
    let cases: Vec<Case> = CORPUS.lines().filter_map(|l| Case::from_json(l).ok()).collect();
    assert!(cases.len() > 100);
    let instants = ["2026-03-02T09:00:00Z", "2026-03-07T23:30:00Z", "2026-03-29T01:30:00Z", "2026-10-25T00:59:59Z"];
    let mut traced = 0;
    for at in instants {
        let at: DateTime<Utc> = at.parse().unwrap_or_default();
        for case in &cases {
            let (a, b) = (triage(rules(), case, directory(), at, &on), triage(rules(), case, directory(), at, &off));
            assert!(b.trace.is_empty(), "{}", case.id);
            traced += usize::from(!a.trace.is_empty());
            assert_eq!(untraced(&a), untraced(&b), "{} at {at}", case.id);
        }
        for mode in [BatchMode::Greedy, BatchMode::Optimal] {
            let a = assign_batch(rules(), &cases, directory(), at, mode, &on);
            let b = assign_batch(rules(), &cases, directory(), at, mode, &off);
            assert!(b.iter().all(|d| d.trace.is_empty()));
            assert_eq!(untraced(&a), untraced(&b), "{mode:?} at {at}");
        }
    }
    assert_eq!(traced, instants.len() * cases.len(), "a traced decision always notes something");
    let state: CaseState = serde_json::from_str(STATE).unwrap_or_else(|e| panic!("{e}"));
    for at in ["2026-03-02T08:00:00Z", "2026-03-02T12:00:00Z", "2026-03-04T09:00:00Z", "2026-03-20T09:00:00Z"] {
        let at: DateTime<Utc> = at.parse().unwrap_or_default();
        let a = escalate(rules(), &state, directory(), at, &on).unwrap_or_else(|e| panic!("{e}"));
        let b = escalate(rules(), &state, directory(), at, &off).unwrap_or_else(|e| panic!("{e}"));
        assert!(b.trace.is_empty());
        assert_eq!(untraced(&a), untraced(&b), "replayed at {at}");
    }
}
