//! Rule tests: `*.test.yaml` files that pin what a rule set decides.
//!
//! A test file is a list of tests. A decision test gives a `case`, an
//! optional `now` (default: the case's `created_at`, else
//! 2026-01-01T00:00:00Z) and an optional inline `directory`, and a partial
//! `expect`: only the keys written are compared. `because` lists rule ids
//! that must have decided: matched and won, or applied and not been
//! overridden by a later `set` (a rule that only matched does not count). A diagnostics test gives `rules` (an
//! inline rule snippet, compiled on its own) and `expect: { diagnostics: [..] }`:
//! each listed diagnostic must be reported; an empty list means none may be.
//! An escalation test gives a `state` (`case` and `events`) and `now`; its
//! `expect` is a partial JSON document matched against the escalation answer
//! (lists match item by item in any order), and `not_fired` lists rules that
//! must not have fired.
//!
//! Parsing and running are pure; the CLI and `cargo test` find and read the
//! files.

use crate::case::Case;
use crate::cond::Cond;
use crate::decision::{Decision, Options};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::directory::Directory;
use crate::name::Name;
use crate::rules::CompiledRules;
use crate::sla::CaseState;
use crate::syntax::{self, Node, NodeKind};
use crate::{compile_sources, escalate, explain, triage};
use chrono::{DateTime, Duration, Utc};

/// One test from a test file.
#[derive(Debug, Clone)]
pub struct RuleTest {
    /// The test's name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Its line.
    pub line: u32,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Decide {
        case: Box<Case>,
        now: Option<DateTime<Utc>>,
        directory: Option<Directory>,
        expect: Vec<(String, Node)>,
        because: Vec<String>,
    },
    Diagnose {
        rules: String,
        expect: Vec<ExpectedDiag>,
    },
    /// A case history replayed at `now`; `expect` is matched as a partial
    /// JSON document against the escalation answer.
    Escalate {
        state: Box<CaseState>,
        now: DateTime<Utc>,
        directory: Option<Directory>,
        expect: serde_json::Value,
        not_fired: Vec<String>,
        because: Vec<String>,
    },
    /// Business-time arithmetic on one of the rule set's calendars.
    Calendar {
        calendar: String,
        query: CalendarQuery,
        expect: Vec<(String, Node)>,
    },
}

#[derive(Debug, Clone)]
enum CalendarQuery {
    Add { from: DateTime<Utc>, duration: Duration },
    Between { from: DateTime<Utc>, to: DateTime<Utc> },
    At { at: DateTime<Utc> },
}

/// The longest duration rules may write: 100 years of 365 days (1,000
/// years of business time does not fit a calendar that ends in 2199).
pub(crate) const MAX_DURATION_HOURS: i64 = 100 * 365 * 24;

/// `4h`, `90m`, `1h30m`, `2h 15m 30s`: a duration of business time, of at
/// most [`MAX_DURATION_HOURS`]; `None` when malformed or longer.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut any = false;
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        let part = match c {
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => return None,
        }?;
        total = total.checked_add(&part)?;
        any = true;
    }
    (any && number.is_empty() && total <= Duration::hours(MAX_DURATION_HOURS)).then_some(total)
}

fn instant(node: &Node) -> Option<DateTime<Utc>> {
    node.as_str().and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok()).map(|t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone)]
struct ExpectedDiag {
    code: String,
    line: Option<u32>,
    severity: Option<String>,
    rule: Option<String>,
}

/// The result of running one test.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// Where the test is, `file:line`.
    pub location: String,
    /// Each expectation that failed, as `key: expected X, got Y`.
    pub failures: Vec<String>,
    /// The decision's readable trace, for failing decision tests.
    pub trace: Option<String>,
    /// The rules (table rows included) that decided or fired in this test,
    /// for coverage.
    pub exercised: Vec<String>,
    /// The rules that matched in this test without deciding (lost, not
    /// chosen by their table, or overridden by a later `set`).
    pub matched: Vec<String>,
    /// For decision tests, each predicate's truth (condition coverage).
    pub(crate) truths: Vec<bool>,
}

impl TestOutcome {
    /// The outcome of a test that decides nothing (diagnostics, calendars).
    fn plain(name: &str, location: String, failures: Vec<String>) -> Self {
        TestOutcome {
            name: name.to_string(),
            location,
            failures,
            trace: None,
            exercised: Vec::new(),
            matched: Vec::new(),
            truths: Vec::new(),
        }
    }

    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

const TEST_KEYS: &[&str] = &[
    "name",
    "now",
    "case",
    "state",
    "directory",
    "expect",
    "not_fired",
    "because",
    "rules",
    "calendar",
    "from",
    "to",
    "add",
    "at",
];
const CALENDAR_EXPECT_KEYS: &[&str] = &["at", "business", "open", "next_opening"];
const EXPECT_KEYS: &[&str] = &[
    "team",
    "agent",
    "queue",
    "territory",
    "territory_path",
    "normalized",
    "actions",
    "sla",
    "category",
    "priority",
    "tier",
    "product",
    "deflect",
    "skills",
    "tags",
    "warnings",
    "manual_review",
    "sentiment",
    "confidence",
    "outputs",
    "predicted",
];

/// Parses a test file. Tests that could not be read are reported as
/// diagnostics; the others are returned.
pub fn parse_tests(file: &str, text: &str) -> (Vec<RuleTest>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let root = match syntax::parse(file, text) {
        Ok(n) => n,
        Err(d) => return (Vec::new(), vec![*d]),
    };
    let items = match &root.kind {
        NodeKind::Seq(items) => items.as_slice(),
        NodeKind::Map(e) if e.is_empty() => &[],
        _ => {
            diags.push(Diagnostic::wrong_type(file, root.pos, "a test file", "a list of tests", &root.describe()));
            return (Vec::new(), diags);
        }
    };
    let mut tests = Vec::new();
    for item in items {
        if let Some(t) = parse_one(file, item, &mut diags) {
            tests.push(t);
        }
    }
    (tests, diags)
}

fn bad(diags: &mut Vec<Diagnostic>, file: &str, pos: Pos, message: String) {
    diags.push(Diagnostic::custom("invalid-test", Severity::Error, file, pos, message));
}

fn parse_one(file: &str, node: &Node, diags: &mut Vec<Diagnostic>) -> Option<RuleTest> {
    let NodeKind::Map(entries) = &node.kind else {
        bad(diags, file, node.pos, format!("a test must be a mapping, found {}", node.describe()));
        return None;
    };
    let get = |k: &str| entries.iter().find(|(key, _)| key.name == k).map(|(_, v)| v);
    let mut ok = true;
    for (k, _) in entries {
        if !TEST_KEYS.contains(&k.name.as_str()) {
            diags.push(Diagnostic::unknown_key(file, k.pos, &k.name, "a test", TEST_KEYS));
            ok = false;
        }
    }
    let name = get("name").and_then(Node::scalar_text).unwrap_or_else(|| format!("test at line {}", node.pos.line));
    let expect_node = get("expect");
    if let Some(rules) = get("rules") {
        let Some(snippet) = rules.as_str() else {
            bad(diags, file, rules.pos, "`rules` must be a YAML snippet in a block string (`rules: |`)".to_string());
            return None;
        };
        let mut expect = Vec::new();
        let list = expect_node.and_then(|e| match &e.kind {
            NodeKind::Map(m) => m.iter().find(|(k, _)| k.name == "diagnostics").map(|(_, v)| v),
            _ => None,
        });
        let Some(list) = list else {
            bad(diags, file, node.pos, "a `rules` test needs `expect: { diagnostics: [...] }`".to_string());
            return None;
        };
        let NodeKind::Seq(items) = &list.kind else {
            bad(diags, file, list.pos, "`diagnostics` must be a list".to_string());
            return None;
        };
        for item in items {
            let NodeKind::Map(m) = &item.kind else {
                bad(diags, file, item.pos, "each expected diagnostic is a mapping with `code`".to_string());
                continue;
            };
            let field = |k: &str| m.iter().find(|(key, _)| key.name == k).and_then(|(_, v)| v.scalar_text());
            let Some(code) = field("code") else {
                bad(diags, file, item.pos, "an expected diagnostic needs `code`".to_string());
                continue;
            };
            expect.push(ExpectedDiag {
                code,
                line: field("line").and_then(|l| l.parse().ok()),
                severity: field("severity"),
                rule: field("rule"),
            });
        }
        return ok.then(|| RuleTest {
            name,
            file: file.to_string(),
            line: node.pos.line,
            kind: Kind::Diagnose { rules: snippet.to_string(), expect },
        });
    }
    if let Some(cal) = get("calendar") {
        let Some(calendar) = cal.scalar_text() else {
            bad(diags, file, cal.pos, "`calendar` must name a calendar".to_string());
            return None;
        };
        let when = |key: &str| -> Result<Option<DateTime<Utc>>, Pos> {
            match get(key) {
                None => Ok(None),
                Some(n) => instant(n).map(Some).ok_or(n.pos),
            }
        };
        let (from, to, at) = match (when("from"), when("to"), when("at")) {
            (Ok(f), Ok(t), Ok(a)) => (f, t, a),
            (Err(pos), _, _) | (_, Err(pos), _) | (_, _, Err(pos)) => {
                bad(diags, file, pos, "instants are RFC 3339, like `2026-03-06T16:00:00-05:00`".to_string());
                return None;
            }
        };
        let duration = match get("add") {
            None => None,
            Some(n) => match n.scalar_text().and_then(|t| parse_duration(&t)) {
                Some(d) => Some(d),
                None => {
                    bad(diags, file, n.pos, "`add` is a duration like `4h`, `90m` or `1h30m`".to_string());
                    return None;
                }
            },
        };
        let query = match (from, duration, to, at) {
            (Some(from), Some(duration), None, None) => CalendarQuery::Add { from, duration },
            (Some(from), None, Some(to), None) => CalendarQuery::Between { from, to },
            (None, None, None, Some(at)) => CalendarQuery::At { at },
            _ => {
                bad(
                    diags,
                    file,
                    node.pos,
                    format!("calendar test `{name}` needs `from` with `add` or `to`, or `at` alone"),
                );
                return None;
            }
        };
        let mut expect = Vec::new();
        match expect_node.map(|e| &e.kind) {
            Some(NodeKind::Map(m)) if !m.is_empty() => {
                for (k, v) in m {
                    if CALENDAR_EXPECT_KEYS.contains(&k.name.as_str()) {
                        expect.push((k.name.clone(), v.clone()));
                    } else {
                        diags.push(Diagnostic::unknown_key(
                            file,
                            k.pos,
                            &k.name,
                            "a calendar test's `expect`",
                            CALENDAR_EXPECT_KEYS,
                        ));
                        ok = false;
                    }
                }
            }
            _ => {
                bad(
                    diags,
                    file,
                    node.pos,
                    format!(
                        "calendar test `{name}` needs `expect` with one of `at`, `business`, `open`, `next_opening`"
                    ),
                );
                return None;
            }
        }
        return ok.then(|| RuleTest {
            name,
            file: file.to_string(),
            line: node.pos.line,
            kind: Kind::Calendar { calendar, query, expect },
        });
    }
    let now = match get("now") {
        None => None,
        Some(n) => match n.as_str().and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok()) {
            Some(t) => Some(t.with_timezone(&Utc)),
            None => {
                bad(diags, file, n.pos, format!("`now` must be an RFC 3339 instant, found {}", n.describe()));
                return None;
            }
        },
    };
    let directory = match get("directory") {
        None => None,
        Some(d) => match Directory::from_node(file, d) {
            Ok(dir) => Some(dir),
            Err(e) => {
                bad(diags, file, d.pos, format!("test `{name}`: {e}"));
                return None;
            }
        },
    };
    if let Some(state_node) = get("state") {
        let state = match CaseState::from_value(state_node.to_json()) {
            Ok(s) => s,
            Err(e) => {
                bad(diags, file, state_node.pos, format!("test `{name}`: state: {e}"));
                return None;
            }
        };
        let Some(now) = now else {
            bad(diags, file, node.pos, format!("escalation test `{name}` needs `now`"));
            return None;
        };
        let expect = expect_node.map_or(serde_json::Value::Object(Default::default()), Node::to_json);
        let not_fired = get("not_fired").map(texts).unwrap_or_default();
        let because = get("because").map(texts).unwrap_or_default();
        if !expect.is_object()
            || (expect.as_object().is_some_and(|m| m.is_empty()) && not_fired.is_empty() && because.is_empty())
        {
            bad(diags, file, node.pos, format!("escalation test `{name}` needs `expect` with what to check"));
            return None;
        }
        return ok.then(|| RuleTest {
            name,
            file: file.to_string(),
            line: node.pos.line,
            kind: Kind::Escalate { state: Box::new(state), now, directory, expect, not_fired, because },
        });
    }
    let Some(case_node) = get("case") else {
        bad(
            diags,
            file,
            node.pos,
            format!(
                "test `{name}` needs a `case`, a `state` to escalate, a `calendar`, or `rules` to test diagnostics"
            ),
        );
        return None;
    };
    let case = match Case::from_value(case_node.to_json()) {
        Ok(c) => c,
        Err(e) => {
            bad(diags, file, case_node.pos, format!("test `{name}`: {e}"));
            return None;
        }
    };
    let mut expect = Vec::new();
    match expect_node.map(|e| &e.kind) {
        Some(NodeKind::Map(m)) => {
            for (k, v) in m {
                if EXPECT_KEYS.contains(&k.name.as_str()) {
                    expect.push((k.name.clone(), v.clone()));
                } else {
                    diags.push(Diagnostic::unknown_key(file, k.pos, &k.name, "`expect`", EXPECT_KEYS));
                    ok = false;
                }
            }
        }
        None => {}
        Some(_) => {
            bad(diags, file, node.pos, "`expect` must be a mapping".to_string());
            return None;
        }
    }
    let because = match get("because") {
        None => Vec::new(),
        Some(b) => match &b.kind {
            NodeKind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => b.scalar_text().into_iter().collect(),
        },
    };
    if expect.is_empty() && because.is_empty() {
        bad(diags, file, node.pos, format!("test `{name}` expects nothing; add `expect` or `because`"));
        return None;
    }
    ok.then(|| RuleTest {
        name,
        file: file.to_string(),
        line: node.pos.line,
        kind: Kind::Decide { case: Box::new(case), now, directory, expect, because },
    })
}

/// The default `now` for tests that give none and whose case has no
/// `created_at`.
pub fn default_now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

impl RuleTest {
    /// Runs the test against `rules`, with `directory` unless the test brings
    /// its own.
    pub fn run(&self, rules: &CompiledRules, directory: &Directory) -> TestOutcome {
        let location = format!("{}:{}", self.file, self.line);
        match &self.kind {
            Kind::Diagnose { rules: snippet, expect } => {
                let name = format!("{}#{}", self.file, self.name);
                let (_, diags) = compile_sources(&[(&name, snippet)]);
                let mut failures = Vec::new();
                if expect.is_empty() && !diags.is_empty() {
                    failures.push(format!(
                        "diagnostics: expected none, got {}",
                        diags
                            .iter()
                            .map(|d| format!("{}:{} {}", d.line, d.column, d.code))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                for e in expect {
                    let found = diags.iter().any(|d| {
                        d.code == e.code
                            && e.line.is_none_or(|l| l == d.line)
                            && e.severity.as_deref().is_none_or(|s| s == d.severity.to_string())
                            && e.rule.as_deref().is_none_or(|r| d.rule.as_deref() == Some(r))
                    });
                    if !found {
                        let got: Vec<String> =
                            diags.iter().map(|d| format!("line {} `{}` ({})", d.line, d.code, d.message)).collect();
                        failures.push(format!(
                            "diagnostics: expected `{}`{}, got [{}]",
                            e.code,
                            e.line.map(|l| format!(" at line {l}")).unwrap_or_default(),
                            got.join("; ")
                        ));
                    }
                }
                TestOutcome::plain(&self.name, location, failures)
            }
            Kind::Calendar { calendar, query, expect } => {
                let failures = match rules.calendar(calendar) {
                    None => vec![format!("calendar `{calendar}` is not defined in the rules")],
                    Some(cal) => calendar_failures(cal, query, expect),
                };
                TestOutcome::plain(&self.name, location, failures)
            }
            Kind::Escalate { state, now, directory: own, expect, not_fired, because } => {
                let dir = own.as_ref().unwrap_or(directory);
                let mut failures = Vec::new();
                let mut exercised = Vec::new();
                let trace = match escalate(rules, state, dir, *now, &Options::full_trace()) {
                    Err(e) => {
                        failures.push(format!("the history cannot be replayed: {e}"));
                        None
                    }
                    Ok(esc) => {
                        exercised.extend(esc.actions.iter().chain(&esc.pending).filter_map(|a| a.rule.clone()));
                        exercised.extend(decided_rules(&esc.trace));
                        let got = serde_json::to_value(&esc).unwrap_or_default();
                        subset(expect, &got, "", &mut failures);
                        failures.extend(because_failures(rules, &esc.trace, because));
                        for rule in not_fired {
                            let fired: Vec<&str> = esc
                                .actions
                                .iter()
                                .chain(&esc.pending)
                                .filter(|a| a.rule.as_deref() == Some(rule.as_str()))
                                .map(|a| a.key.as_str())
                                .collect();
                            if !fired.is_empty() {
                                failures.push(format!("not_fired: rule `{rule}` fired: {}", fired.join(", ")));
                            }
                        }
                        (!failures.is_empty()).then(|| {
                            let keys: Vec<String> = esc
                                .actions
                                .iter()
                                .chain(&esc.pending)
                                .map(|a| {
                                    format!("  {} at {}", a.key, a.fired_at.map(|t| t.to_rfc3339()).unwrap_or_default())
                                })
                                .collect();
                            format!("actions fired:\n{}\n", keys.join("\n"))
                        })
                    }
                };
                let matched = Vec::new();
                TestOutcome {
                    name: self.name.clone(),
                    location,
                    failures,
                    trace,
                    exercised,
                    matched,
                    truths: Vec::new(),
                }
            }
            Kind::Decide { case, now, directory: own, expect, because } => {
                let now = now.or(case.created_at.map(|t| t.with_timezone(&Utc))).unwrap_or_else(default_now);
                let dir = own.as_ref().unwrap_or(directory);
                let d = triage(rules, case, dir, now, &Options::full_trace());
                let mut failures = Vec::new();
                for (key, want) in expect {
                    if let Some(f) = compare(&d, key, want) {
                        failures.push(f);
                    }
                    // A label no model predicts, or a guess that is not a
                    // class, is a mistake in the test.
                    if let ("predicted", NodeKind::Map(entries)) = (key.as_str(), &want.kind) {
                        for (k, v) in entries {
                            let label = rules.schema.lookup(&format!("predicted.{}", k.name));
                            if label.is_none() || k.name.ends_with("confidence") {
                                failures.push(format!(
                                    "predicted.{}: the rules' models predict no label `{}`",
                                    k.name, k.name
                                ));
                            } else if !matches!(v.kind, NodeKind::Null) && v.scalar_text().is_none() {
                                failures.push(format!(
                                    "predicted.{}: expected a class (or null for no guess), not {}",
                                    k.name,
                                    v.describe()
                                ));
                            }
                        }
                    }
                    // An output no table could decide is a typo, whatever
                    // the decision says.
                    if let ("outputs", NodeKind::Map(entries)) = (key.as_str(), &want.kind) {
                        for (k, _) in entries {
                            let declared = rules
                                .schema
                                .lookup(&k.name)
                                .is_some_and(|s| rules.schema.fields[s].source == crate::schema::Source::Custom);
                            if !declared {
                                failures.push(format!("outputs.{}: no such field is declared in `fields:`", k.name));
                            }
                        }
                    }
                }
                failures.extend(because_failures(rules, &d.trace, because));
                let trace = (!failures.is_empty()).then(|| explain::render(&d));
                let exercised = decided_rules(&d.trace);
                let matched = matched_rules(&d.trace);
                let truths = crate::eval::condition_truths(rules, case, dir, now, &d);
                TestOutcome { name: self.name.clone(), location, failures, trace, exercised, matched, truths }
            }
        }
    }
}

fn calendar_failures(cal: &crate::Calendar, query: &CalendarQuery, expect: &[(String, Node)]) -> Vec<String> {
    let local = |t: DateTime<Utc>| t.with_timezone(&cal.zone().utc_offset(t)).to_rfc3339();
    let mut out = Vec::new();
    for (key, want) in expect {
        let problem = match (key.as_str(), query) {
            ("at", CalendarQuery::Add { from, duration }) => match (cal.add(*from, *duration), instant(want)) {
                (Ok(got), Some(w)) if got == w => None,
                (Ok(got), Some(w)) => Some(format!("at: expected {}, got {}", local(w), local(got))),
                (Err(e), _) => Some(format!("at: {e}")),
                (_, None) => Some("at: expected an RFC 3339 instant".to_string()),
            },
            ("business", CalendarQuery::Between { from, to }) => {
                match (cal.between(*from, *to), want.scalar_text().and_then(|t| parse_duration(&t))) {
                    (Ok(got), Some(w)) if got == w => None,
                    (Ok(got), Some(w)) => {
                        Some(format!("business: expected {}m, got {}m", w.num_minutes(), got.num_minutes()))
                    }
                    (Err(e), _) => Some(format!("business: {e}")),
                    (_, None) => Some("business: expected a duration like `1h30m`".to_string()),
                }
            }
            ("open", CalendarQuery::At { at }) => {
                let got = cal.is_open(*at);
                match want.kind {
                    NodeKind::Bool(w) if w == got => None,
                    _ => Some(format!("open: expected {}, got {got}", want.describe())),
                }
            }
            ("next_opening", CalendarQuery::At { at }) => match (cal.next_opening(*at), instant(want)) {
                (Ok(got), Some(w)) if got == w => None,
                (Ok(got), Some(w)) => Some(format!("next_opening: expected {}, got {}", local(w), local(got))),
                (Err(e), _) => Some(format!("next_opening: {e}")),
                (_, None) => Some("next_opening: expected an RFC 3339 instant".to_string()),
            },
            (key, _) => Some(format!("{key}: does not go with this kind of calendar test")),
        };
        out.extend(problem);
    }
    out
}

/// Whether `got` holds everything `want` says: mappings key by key, lists
/// item by item in any order (an empty list wants an empty one), instants
/// as instants and numbers as numbers. Failures name the path.
fn subset(want: &serde_json::Value, got: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    let here = |p: &str| if p.is_empty() { "expect".to_string() } else { p.to_string() };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match g.get(k) {
                    Some(gv) => subset(v, gv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(format!("{p}: expected {v}, got nothing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.is_empty() && !g.is_empty() {
                out.push(format!("{}: expected none, got {}", here(path), g.len()));
            }
            for (i, item) in w.iter().enumerate() {
                let found = g.iter().any(|x| {
                    let mut probe = Vec::new();
                    subset(item, x, "", &mut probe);
                    probe.is_empty()
                });
                if !found {
                    out.push(format!(
                        "{}[{i}]: expected an item like {item}, none of the {} matches",
                        here(path),
                        g.len()
                    ));
                }
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (Value::String(a), Value::String(b)) => {
            let same_instant = match (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
            if a != b && !same_instant {
                out.push(format!("{}: expected {want}, got {got}", here(path)));
            }
        }
        // A single value stands for a list holding it.
        (w, Value::Array(g)) if !w.is_array() && !w.is_object() => {
            if !g.contains(w) {
                out.push(format!("{}: expected {w} among {got}", here(path)));
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{}: expected {w}, got {g}", here(path))),
    }
}

fn texts(n: &Node) -> Vec<String> {
    match &n.kind {
        NodeKind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
        NodeKind::Null => Vec::new(),
        _ => n.scalar_text().into_iter().collect(),
    }
}

/// Whether a side table's output is the value a test expects: numbers
/// equal to 1e-9, lists item by item in order, anything else exactly.
fn same_output(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_output(x, y)),
        (a, b) => a == b,
    }
}

/// Checks each entry of an expected mapping; `not_a_map` when it is not
/// one. Every entry's problem, joined, or `None`.
fn each_entry(want: &Node, not_a_map: &str, check: impl Fn(&syntax::Key, &Node) -> Option<String>) -> Option<String> {
    let NodeKind::Map(entries) = &want.kind else { return Some(not_a_map.to_string()) };
    let problems: Vec<String> = entries.iter().filter_map(|(k, v)| check(k, v)).collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn compare(d: &Decision, key: &str, want: &Node) -> Option<String> {
    let text = want.scalar_text().unwrap_or_default();
    let mismatch = |got: String, want: String| Some(format!("{key}: expected {want}, got {got}"));
    // An optional text value; `null` on either side means "none".
    let nullable = |got: Option<&str>, want_null: bool| {
        let got = got.unwrap_or("null");
        let want = if want_null { "null" } else { text.as_str() };
        (got != want).then(|| format!("{key}: expected `{want}`, got `{got}`"))
    };
    let is_null = matches!(want.kind, NodeKind::Null);
    match key {
        "category" => nullable(Some(&d.category), false),
        "priority" => {
            (!d.priority.eq_ignore_ascii_case(&text)).then(|| format!("{key}: expected {text}, got {}", d.priority))
        }
        "tier" => (d.tier.to_string() != text).then(|| format!("{key}: expected {text}, got {}", d.tier)),
        "product" => nullable(d.product.as_deref(), is_null),
        "sentiment" => (d.sentiment.label != text)
            .then(|| format!("{key}: expected {text}, got {} ({})", d.sentiment.label, d.sentiment.score)),
        "confidence" => {
            let ok = match want.kind {
                NodeKind::Int(i) => (d.confidence - i as f64).abs() < 1e-9,
                NodeKind::Float(x) => (d.confidence - x).abs() < 1e-9,
                _ => false,
            };
            (!ok).then(|| format!("{key}: expected {text}, got {}", d.confidence))
        }
        "manual_review" => nullable(d.manual_review.as_ref().map(|m| m.reason.as_str()), is_null || text == "false"),
        "deflect" => {
            let got: Vec<String> = d.deflect.iter().map(|a| a.id.clone()).collect();
            let want = texts(want);
            if got == want { None } else { mismatch(format!("[{}]", got.join(", ")), format!("[{}]", want.join(", "))) }
        }
        "skills" | "tags" => {
            let got = if key == "skills" { &d.skills } else { &d.tags };
            let want = texts(want);
            let mut g = got.clone();
            let mut w = want.clone();
            g.sort();
            w.sort();
            if g == w { None } else { mismatch(format!("[{}]", got.join(", ")), format!("[{}]", want.join(", "))) }
        }
        "predicted" => each_entry(want, "predicted: expected a mapping of label to class", |k, v| {
            // A guess made on no feature of the model is no guess.
            let got = d.predicted.iter().find(|p| *p.label == *k.name && p.features > 0);
            let want = (!matches!(v.kind, NodeKind::Null)).then(|| v.scalar_text()).flatten();
            match (got, want) {
                (Some(p), Some(w)) if p.class.eq_ignore_ascii_case(&w) => None,
                (None, None) => None,
                (Some(p), w) => Some(format!(
                    "predicted.{}: expected {}, got `{}` ({:.2})",
                    k.name,
                    w.map_or_else(|| "no guess".to_string(), |w| format!("`{w}`")),
                    p.class,
                    p.confidence
                )),
                (None, Some(w)) => Some(format!("predicted.{}: expected `{w}`, got no guess", k.name)),
            }
        }),
        "outputs" => each_entry(want, "outputs: expected a mapping of field to value", |k, v| {
            let want = v.to_json();
            let got = d.outputs.get(&k.name).cloned().unwrap_or(serde_json::Value::Null);
            (!same_output(&want, &got)).then(|| format!("outputs.{}: expected {want}, got {got}", k.name))
        }),
        "territory" => nullable(d.territory.as_deref(), is_null),
        "team" => nullable(d.team.as_deref(), is_null),
        "agent" => nullable(d.agent.as_deref(), is_null),
        "queue" => nullable(d.queue.as_deref(), is_null),
        "territory_path" => {
            let want = texts(want);
            if d.territory_path == want {
                None
            } else {
                mismatch(format!("[{}]", d.territory_path.join(", ")), format!("[{}]", want.join(", ")))
            }
        }
        "normalized" => {
            let NodeKind::Map(entries) = &want.kind else {
                return Some("normalized: expected a mapping of field to value".to_string());
            };
            let n = &d.normalized;
            let mut problems = Vec::new();
            for (k, v) in entries {
                let got = match k.name.as_str() {
                    "country" => &n.country,
                    "region" => &n.region,
                    "postal_code" => &n.postal_code,
                    "language" => &n.language,
                    "email" => &n.email,
                    other => {
                        problems.push(format!("normalized.{other}: no such field"));
                        continue;
                    }
                };
                let want = if matches!(v.kind, NodeKind::Null) { None } else { v.scalar_text() };
                if *got != want {
                    problems.push(format!(
                        "normalized.{}: expected {}, got {}",
                        k.name,
                        want.as_deref().unwrap_or("null"),
                        got.as_deref().unwrap_or("null")
                    ));
                }
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        }
        "sla" => {
            let Some(sla) = &d.sla else {
                return (!matches!(want.kind, NodeKind::Null)).then(|| "sla: expected a policy, got none".to_string());
            };
            let NodeKind::Map(entries) = &want.kind else {
                return Some("sla: expected a mapping (or null)".to_string());
            };
            let mut problems = Vec::new();
            for (k, v) in entries {
                let text_of = |t: Option<DateTime<Utc>>| t.map_or("null".to_string(), |t| t.to_rfc3339());
                let (got, want) = match k.name.as_str() {
                    "policy" => (sla.policy.to_string(), v.scalar_text().unwrap_or_default()),
                    "calendar" => (
                        sla.calendar.as_ref().map_or_else(|| "null".into(), Name::to_string),
                        v.scalar_text().unwrap_or_else(|| "null".into()),
                    ),
                    key @ ("started_at" | "first_response_due" | "resolution_due" | "update_due") => {
                        let got = match key {
                            "started_at" => Some(sla.started_at),
                            "first_response_due" => sla.first_response_due,
                            "resolution_due" => sla.resolution_due,
                            _ => sla.update_due,
                        };
                        let want = if matches!(v.kind, NodeKind::Null) { None } else { instant(v) };
                        if want.is_none() && !matches!(v.kind, NodeKind::Null) {
                            problems.push(format!("sla.{key}: expected an RFC 3339 instant"));
                            continue;
                        }
                        (text_of(got), text_of(want))
                    }
                    other => {
                        problems.push(format!("sla.{other}: no such field"));
                        continue;
                    }
                };
                if got != want {
                    problems.push(format!("sla.{}: expected {want}, got {got}", k.name));
                }
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        }
        "actions" => {
            let got: Vec<&str> = d.actions.iter().map(|a| a.kind).collect();
            let want = texts(want);
            let missing = want.iter().any(|w| !got.contains(&w.as_str()));
            if missing || (want.is_empty() && !got.is_empty()) {
                mismatch(format!("[{}]", got.join(", ")), format!("[{}]", want.join(", ")))
            } else {
                None
            }
        }
        "warnings" => {
            let got: Vec<&str> = d.warnings.iter().map(|w| w.code).collect();
            let want = texts(want);
            let missing: Vec<&String> = want.iter().filter(|w| !got.contains(&w.as_str())).collect();
            let exact_empty = want.is_empty() && !got.is_empty();
            if missing.is_empty() && !exact_empty {
                None
            } else {
                mismatch(format!("[{}]", got.join(", ")), format!("[{}]", want.join(", ")))
            }
        }
        _ => Some(format!("{key}: cannot be checked")),
    }
}

/// The rules a trace says decided or applied.
/// `because` means "this rule decided": a rule that matched but lost, was
/// not chosen by its table, or was overridden by a later `set` (or the
/// case's history) does not count. One failure per rule that did not.
fn because_failures(rules: &CompiledRules, trace: &[crate::TraceEntry], because: &[String]) -> Vec<String> {
    use crate::decision::Outcome;
    // A history is decided again at each change: a rule's last word counts.
    let decided = |id: &str| {
        let last = trace.iter().rev().find(|t| t.rule.as_deref() == Some(id)).map(|t| t.outcome);
        matches!(last, Some(Outcome::Matched | Outcome::Applied))
    };
    let mut failures = Vec::new();
    for id in because {
        let mine: Vec<&crate::TraceEntry> = trace.iter().filter(|t| t.rule.as_deref() == Some(id.as_str())).collect();
        let last = mine.last().map(|t| t.outcome);
        if matches!(last, Some(Outcome::Matched | Outcome::Applied)) {
            continue;
        }
        // A table's id stands for "one of its rows decided".
        if mine.is_empty()
            && let Some(table) = rules.table(id)
        {
            if !table.row_ids().any(decided) {
                failures.push(format!("because: expected a row of table `{id}` to decide, but none did"));
            }
            continue;
        }
        let how = if let Some(t) = mine.last().filter(|t| t.outcome == Outcome::Overridden) {
            let by = t.why.as_deref().and_then(|w| w.rsplit_once("overridden by ")).map(|(_, by)| by.to_string());
            format!(
                " (it applied, but was overridden by {})",
                by.as_deref().unwrap_or("a later rule or the case's history")
            )
        } else if last == Some(Outcome::Lost) {
            " (it matched, but lost: another row or candidate was chosen)".to_string()
        } else if mine.is_empty() {
            " (it is not in the trace: no such rule, or its stage never ran)".to_string()
        } else {
            String::new()
        };
        failures.push(format!("because: expected rule `{id}` to decide, but it did not{how}"));
    }
    failures
}

/// The rules that matched without deciding: lost, overridden, or not
/// chosen by their table.
fn matched_rules(trace: &[crate::TraceEntry]) -> Vec<String> {
    use crate::decision::Outcome;
    trace
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Lost | Outcome::Overridden))
        .filter_map(|t| t.rule.as_ref().map(ToString::to_string))
        .collect()
}

fn decided_rules(trace: &[crate::TraceEntry]) -> Vec<String> {
    trace
        .iter()
        .filter(|t| matches!(t.outcome, crate::decision::Outcome::Matched | crate::decision::Outcome::Applied))
        .filter_map(|t| t.rule.as_ref().map(ToString::to_string))
        .collect()
}

/// One rule (or table row) of a rule set, as coverage counts it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CoverageItem {
    /// The stage's section (`categories`, `tiers`, …).
    pub stage: &'static str,
    /// The rule's or row's id.
    pub id: String,
    /// The file and line it is written at.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The table the row belongs to, for table rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Whether some test made it decide or fire.
    pub covered: bool,
    /// Whether some test saw it match without deciding (it lost, its table
    /// chose another row, or a later `set` overrode it); a rule only
    /// matched is not covered.
    pub matched: bool,
    /// The distinct tests (leaves) of its condition, or of its cells.
    pub conditions: usize,
    /// Of which some decision test saw true and some saw false.
    pub conditions_covered: usize,
    /// The others, as written, with the truth no test gave them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions_missed: Vec<String>,
}

/// Per file: rules and table rows, and how many tests exercised.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileCoverage {
    /// The rule file.
    pub file: String,
    /// Rules outside tables.
    pub rules: usize,
    /// Of which exercised.
    pub rules_covered: usize,
    /// Table rows.
    pub rows: usize,
    /// Of which exercised.
    pub rows_covered: usize,
    /// Conditions of its rules and rows.
    pub conditions: usize,
    /// Of which seen both true and false.
    pub conditions_covered: usize,
}

/// What a test run exercised of a rule set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CoverageReport {
    /// Every rule and table row, in file order.
    pub items: Vec<CoverageItem>,
    /// Per file totals.
    pub files: Vec<FileCoverage>,
    /// Rules and rows exercised, as a percentage of all of them.
    pub percent: f64,
    /// Conditions seen both true and false, as a percentage of all of them.
    pub conditions_percent: f64,
}

/// `part` of `whole` in percent, rounded down to a tenth so that only
/// everything makes 100; nothing of nothing is 100.
fn share(part: usize, whole: usize) -> f64 {
    (part * 1000).checked_div(whole).map_or(100.0, |x| x as f64 / 10.0)
}

/// Which rules and table rows the tests' outcomes exercised. Territories
/// that only group others (no `when`, with children) never decide and are
/// not counted; neither are risk factors and knowledge articles.
pub fn coverage(rules: &CompiledRules, outcomes: &[TestOutcome]) -> CoverageReport {
    let seen: std::collections::BTreeSet<&str> =
        outcomes.iter().flat_map(|o| o.exercised.iter().map(String::as_str)).collect();
    let only_matched: std::collections::BTreeSet<&str> =
        outcomes.iter().flat_map(|o| o.matched.iter().map(String::as_str)).collect();
    // Per predicate: seen true, seen false, by some decision test.
    let mut both = vec![[false; 2]; rules.preds.len()];
    for o in outcomes {
        for (p, t) in o.truths.iter().enumerate() {
            if let Some(b) = both.get_mut(p) {
                b[usize::from(*t)] = true;
            }
        }
    }
    let mut items = Vec::new();
    let file = |i: usize| rules.files.get(i).map_or_else(String::new, ToString::to_string);
    let mut push = |stage: &'static str, meta: &crate::rules::RuleMeta, cond: Option<&Cond>, table: Option<&str>| {
        let mut leaves = Vec::new();
        if let Some(c) = cond {
            leaf_preds(c, &mut leaves);
        }
        let mut missed = Vec::new();
        for &p in &leaves {
            let [f, t] = both.get(p as usize).copied().unwrap_or_default();
            if !(f && t) {
                let label = rules.preds.get(p as usize).map_or("?", |x| x.label.as_str());
                let never = if t {
                    "never false"
                } else if f {
                    "never true"
                } else {
                    "never evaluated"
                };
                missed.push(format!("`{label}` {never}"));
            }
        }
        items.push(CoverageItem {
            stage,
            id: meta.id.to_string(),
            file: file(meta.file),
            line: meta.line,
            table: table.map(str::to_string),
            covered: seen.contains(&*meta.id),
            matched: only_matched.contains(&*meta.id),
            conditions: leaves.len(),
            conditions_covered: leaves.len() - missed.len(),
            conditions_missed: missed,
        });
    };
    for t in &rules.territories.list {
        if t.cond.is_some() || t.children.is_empty() {
            push("territories", &t.meta, t.cond.as_ref(), None);
        }
    }
    fn list<A>(
        push: &mut impl FnMut(&'static str, &crate::rules::RuleMeta, Option<&Cond>, Option<&str>),
        stage: &'static str,
        rules: &[crate::rules::Rule<A>],
        tables: &[crate::table::Table],
    ) {
        // Escalation conditions read SLA clocks of a replay, which a
        // decision test does not have: only their firing is counted.
        let conditions = stage != "escalation";
        for (i, r) in rules.iter().enumerate() {
            let table = tables.iter().find(|t| t.holds(i)).map(|t| &*t.name);
            push(stage, &r.meta, conditions.then_some(&r.cond), table);
        }
    }
    list(&mut push, "categories", &rules.categories.rules, &rules.categories.tables);
    list(&mut push, "priority", &rules.adjustments, &rules.adjust_tables);
    list(&mut push, "tiers", &rules.tiers.rules, &rules.tiers.tables);
    list(&mut push, "sla", &rules.sla.rules, &rules.sla.tables);
    list(&mut push, "escalation", &rules.escalation.rules, &[]);
    list(&mut push, "assignment", &rules.assignment.rules, &rules.assignment.tables);
    for (stage, side) in rules.side_tables() {
        list(&mut push, stage, &side.rules, std::slice::from_ref(&side.table));
    }
    let order = |f: &str| rules.files.iter().position(|x| **x == *f).unwrap_or(usize::MAX);
    items.sort_by_key(|a| (order(&a.file), a.line));
    let mut files: Vec<FileCoverage> = Vec::new();
    for it in &items {
        if files.last().is_none_or(|f| f.file != it.file) {
            files.push(FileCoverage { file: it.file.clone(), ..FileCoverage::default() });
        }
        if let Some(f) = files.last_mut() {
            f.conditions += it.conditions;
            f.conditions_covered += it.conditions_covered;
            if it.table.is_some() {
                f.rows += 1;
                f.rows_covered += usize::from(it.covered);
            } else {
                f.rules += 1;
                f.rules_covered += usize::from(it.covered);
            }
        }
    }
    let covered = items.iter().filter(|i| i.covered).count();
    let percent = share(covered, items.len());
    let conditions = items.iter().map(|i| i.conditions).sum();
    let conditions_percent = share(items.iter().map(|i| i.conditions_covered).sum(), conditions);
    CoverageReport { items, files, percent, conditions_percent }
}

/// The distinct predicates a condition tests, in order.
fn leaf_preds(c: &Cond, out: &mut Vec<u32>) {
    match c {
        Cond::True => {}
        Cond::Pred(p) => {
            if !out.contains(p) {
                out.push(*p);
            }
        }
        Cond::All(items) | Cond::Any(items) => items.iter().for_each(|c| leaf_preds(c, out)),
        Cond::Not(inner) => leaf_preds(inner, out),
    }
}

impl CoverageReport {
    /// The report for people: per file, then what no test reached.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("coverage (rules and table rows a test made decide or fire):\n");
        for f in &self.files {
            let _ = write!(
                out,
                "  {:<40} rules {:>3}/{:<3} ({:>5.1} %)",
                f.file,
                f.rules_covered,
                f.rules,
                share(f.rules_covered, f.rules)
            );
            if f.rows > 0 {
                let _ =
                    write!(out, "   table rows {}/{} ({:.1} %)", f.rows_covered, f.rows, share(f.rows_covered, f.rows));
            }
            if f.conditions > 0 {
                let (c, n) = (f.conditions_covered, f.conditions);
                let _ = write!(out, "   conditions {c}/{n} ({:.1} %)", share(c, n));
            }
            out.push('\n');
        }
        let missed: Vec<&CoverageItem> = self.items.iter().filter(|i| !i.covered).collect();
        if !missed.is_empty() {
            out.push_str("not exercised by any test:\n");
            for m in missed {
                let what =
                    m.table.as_ref().map_or_else(|| format!("{} rule", m.stage), |t| format!("row of table `{t}`"));
                let matched = if m.matched { "; matched, but never decided" } else { "" };
                let _ = writeln!(out, "  {}:{}  {}  ({what}{matched})", m.file, m.line, m.id);
            }
        }
        let halfway: Vec<&CoverageItem> = self.items.iter().filter(|i| !i.conditions_missed.is_empty()).collect();
        if !halfway.is_empty() {
            out.push_str("conditions no test saw both true and false:\n");
            for m in halfway {
                let _ = writeln!(out, "  {}:{}  {}: {}", m.file, m.line, m.id, m.conditions_missed.join(", "));
            }
        }
        let covered = self.items.iter().filter(|i| i.covered).count();
        let (c, n) = (
            self.items.iter().map(|i| i.conditions_covered).sum::<usize>(),
            self.items.iter().map(|i| i.conditions).sum::<usize>(),
        );
        let _ = writeln!(
            out,
            "total: {covered}/{} rules and rows ({:.1} %); conditions {c}/{n} ({:.1} %)",
            self.items.len(),
            self.percent,
            self.conditions_percent
        );
        out
    }
}
