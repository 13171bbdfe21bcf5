//! Decision tables: the cell language, hit policies, the column index
//! against a row-by-row scan, tables in each stage, and their diagnostics.

use crate::cond::{self, Fact};
use crate::{Case, CompiledRules, Directory, Options, TraceLevel, compile_sources, triage};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

fn compile(yaml: &str) -> CompiledRules {
    let (rules, diags) = compile_sources(&[("rules.yaml", yaml)]);
    assert!(rules.is_some(), "{diags:#?}");
    rules.unwrap()
}

fn codes(yaml: &str) -> Vec<(u32, String)> {
    let (_, diags) = compile_sources(&[("rules.yaml", yaml)]);
    diags.iter().map(|d| (d.line, d.code.to_string())).collect()
}

const HEAD: &str = "fields:\n  users: number\n  plan: { type: enum, values: [free, pro, enterprise] }\n  vip: bool\n  zip: string\n  labels: list\ncategories:\n  - id: general\n    set: { category: general }\n";

/// A priority table (the stage that takes every hit policy) with the given
/// policy, inputs and rows (output: raise).
fn tiers(hit: &str, inputs: &str, rows: &str) -> CompiledRules {
    let rows: String = rows.lines().map(|l| format!("        {l}\n")).collect();
    let outputs = if hit == "priority" || hit == "output_order" { "[{raise: [2, 3, 1]}]" } else { "[raise]" };
    compile(&format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      hit: {hit}\n      inputs: {inputs}\n      outputs: {outputs}\n      rows: |\n{rows}"
    ))
}

fn rows_for(rules: &CompiledRules, input: serde_json::Value) -> Vec<String> {
    let t = rules.table("t").unwrap();
    t.evaluate(&input).unwrap().row_ids().map(str::to_string).collect()
}

#[test]
fn number_cells_cover_comparisons_intervals_unions_and_negation() {
    let rules = tiers(
        "collect",
        "[users]",
        "gt5: > 5 => 1\nclosed: [1..5] => 1\nhalf: (1..5] => 1\nopen: (1..5) => 1\nouter: < 1, > 10 => 1\nnot: not([1..5]) => 1\nexact: 3 => 1\nlist: 1, 2 => 1\nany: - => 1",
    );
    let at = |x: serde_json::Value| rows_for(&rules, json!({ "users": x }));
    assert_eq!(at(json!(1)), ["closed", "list", "any"]);
    assert_eq!(at(json!(3)), ["closed", "half", "open", "exact", "any"]);
    assert_eq!(at(json!(5)), ["closed", "half", "any"]);
    assert_eq!(at(json!(5.5)), ["gt5", "not", "any"]);
    assert_eq!(at(json!(11)), ["gt5", "outer", "not", "any"]);
    assert_eq!(at(json!(0)), ["outer", "not", "any"]);
    // A missing number is in no interval; `not(…)` and `-` hold.
    assert_eq!(rows_for(&rules, json!({})), ["not", "any"]);
    // Every cell but the negated one is answered by the interval index.
    let col = &rules.adjust_tables[0].columns[0];
    assert_eq!((col.index_kind(), col.checked_rows()), ("num", 1));
}

#[test]
fn text_cells_cover_lists_negation_regex_and_text_ranges() {
    let rules = tiers(
        "collect",
        "{ p: plan, z: zip, v: vip, l: labels }",
        "quoted: \"pro\", \"enterprise\" | - | - | - => 1\nbare: free | - | - | - => 1\nnotfree: not(free) | - | - | - => 1\nre: - | /^1[0-9]{4}$/ | - | - => 1\nrange: - | [\"20000\"..\"29999\"] | - | - => 1\nvip: - | - | true | - => 1\nlab: - | - | - | urgent, \"vip customer\" => 1",
    );
    let at = |v: serde_json::Value| rows_for(&rules, v);
    assert_eq!(at(json!({ "plan": "Enterprise" })), ["quoted", "notfree"]);
    assert_eq!(at(json!({ "plan": "free", "zip": "12345" })), ["bare", "re"]);
    assert_eq!(at(json!({ "zip": "25000", "vip": true })), ["notfree", "range", "vip"]);
    assert_eq!(at(json!({ "labels": ["VIP customer"] })), ["notfree", "lab"]);
    assert_eq!(at(json!({ "zip": "123456" })), ["notfree"]);
    let kinds: Vec<(&str, usize)> =
        rules.adjust_tables[0].columns.iter().map(|c| (c.index_kind(), c.checked_rows())).collect();
    assert_eq!(kinds, [("text", 1), ("none", 2), ("bool", 0), ("items", 0)]);
}

#[test]
fn hit_policies_choose_as_declared() {
    let rows = "a: > 10 => 3\nb: > 5 => 2\nc: > 5 => 2\nd: - => 1";
    let first = tiers("first", "[users]", rows);
    assert_eq!(rows_for(&first, json!({ "users": 20 })), ["a"]);
    assert_eq!(rows_for(&first, json!({ "users": 1 })), ["d"]);

    let unique = tiers("unique", "[users]", "a: > 10 => 3\nb: [6..10] => 2\nc: <= 5 => 1");
    let t = unique.table("t").unwrap();
    assert_eq!(t.evaluate(&json!({ "users": 7 })).unwrap().conflict(), None);
    let overlapping = tiers("unique", "[users]", "a: > 10 => 3\nb: > 5 => 2\nc: - => 1");
    let m = overlapping.table("t").unwrap().evaluate(&json!({ "users": 20 })).unwrap();
    assert_eq!(m.conflict(), Some(("a", "b")));

    // `any`: rows that agree are fine, rows that disagree conflict.
    let any = tiers("any", "[users]", "a: > 10 => 3\nb: > 5 => 2\nc: > 5 => 2\nd: <= 5 => 1");
    let m = any.table("t").unwrap().evaluate(&json!({ "users": 7 })).unwrap();
    assert_eq!((m.conflict(), m.output("raise")), (None, Some(json!(2))));
    let m = any.table("t").unwrap().evaluate(&json!({ "users": 20 })).unwrap();
    assert_eq!(m.conflict(), Some(("a", "b")));

    // `priority`: the output first in the declared order (2, 3, 1) wins,
    // whatever the row order.
    let prio = tiers("priority", "[users]", "a: > 10 => 3\nb: > 5 => 2\nc: - => 1");
    assert_eq!(rows_for(&prio, json!({ "users": 20 })), ["b"]);
    assert_eq!(rows_for(&prio, json!({ "users": 1 })), ["c"]);
}

#[test]
fn collect_aggregates_and_rule_order_lists() {
    let yaml = |hit: &str| {
        format!(
            "{HEAD}priority:\n  - id: t\n    table:\n      hit: {hit}\n      inputs: [users, vip]\n      outputs: [raise]\n      rows: |\n        a: > 10 | -    => 1\n        b: > 50 | -    => 2\n        c: -    | true => 1\n"
        )
    };
    let out = |hit: &str, input: serde_json::Value| {
        let rules = compile(&yaml(hit));
        rules.table("t").unwrap().evaluate(&input).unwrap().output("raise")
    };
    let case = json!({ "users": 60, "vip": true });
    assert_eq!(out("collect sum", case.clone()), Some(json!(4)));
    assert_eq!(out("collect max", case.clone()), Some(json!(2)));
    assert_eq!(out("collect min", case.clone()), Some(json!(1)));
    assert_eq!(out("collect count", case.clone()), Some(json!(3)));
    assert_eq!(out("collect", case.clone()), Some(json!([1, 2, 1])));
    assert_eq!(out("rule_order", json!({ "users": 20 })), Some(json!([1])));
}

fn decide(rules: &CompiledRules, case: serde_json::Value, trace: TraceLevel) -> crate::Decision {
    let case: Case = serde_json::from_value(case).unwrap();
    let options = Options { trace, ..Options::default() };
    triage(rules, &case, &Directory::new(), now(), &options)
}

const STAGES: &str = r#"
fields:
  users: number
  plan: { type: enum, values: [free, pro, enterprise] }
categories:
  - id: outage
    when: { subject: { contains: outage } }
    set: { category: outage, priority: P2 }
  - id: cat-table
    table:
      inputs: [plan, channel]
      outputs: [category, priority, tags]
      rows: |
        sales-lead:  free        | chat  => sales   | P4 | lead, web
        billing:     pro, enterprise | email => billing | P3 | -
  - id: general
    set: { category: general, priority: P4 }
priority:
  - id: bumps
    table:
      hit: collect sum
      inputs: [users, plan]
      outputs: [raise]
      rows: |
        crowd:      >= 100 | -          => 1
        big-client: -      | enterprise => 1
tiers:
  - id: tier-table
    table:
      hit: unique
      inputs: [category, priority]
      outputs: [tier]
      rows: |
        eng:   outage        | P1, P2 => 3
        spec:  billing       | -      => 2
        desk:  not(outage, billing) | - => 1
        late:  outage        | P3, P4 => 2
  - id: tier-default
    tier: 1
sla:
  - id: sla-table
    table:
      inputs: [priority]
      outputs: [first_response, resolution]
      rows: |
        urgent: P1, P2 => 1h | 8h
        normal: -      => 8h | 40h
"#;

#[test]
fn tables_decide_in_every_stage_and_name_their_rows() {
    let rules = compile(STAGES);
    let d = decide(
        &rules,
        json!({ "id": "1", "subject": "outage!", "fields": { "users": 500, "plan": "enterprise" } }),
        TraceLevel::Decisions,
    );
    assert_eq!((d.category.as_str(), d.priority.as_str(), d.tier), ("outage", "P1", 3));
    let rules_in_trace: Vec<(&str, Option<&str>, Option<u32>)> =
        d.trace.iter().map(|t| (t.stage, t.rule.as_deref(), t.line)).collect();
    assert!(rules_in_trace.contains(&("priority", Some("crowd"), Some(25))), "{rules_in_trace:?}");
    assert!(rules_in_trace.contains(&("priority", Some("big-client"), Some(26))), "{rules_in_trace:?}");
    assert!(rules_in_trace.contains(&("tier", Some("eng"), Some(34))), "{rules_in_trace:?}");
    assert!(rules_in_trace.contains(&("sla", Some("urgent"), Some(46))), "{rules_in_trace:?}");
    assert_eq!(d.sla.as_ref().unwrap().policy, "urgent");

    let d =
        decide(&rules, json!({ "id": "2", "channel": "chat", "fields": { "plan": "free" } }), TraceLevel::Decisions);
    assert_eq!((d.category.as_str(), d.priority.as_str(), d.tier), ("sales", "P4", 1));
    assert_eq!(d.tags, ["lead", "web"]);

    // No row of the categories table matches: the rule after it decides.
    let d = decide(&rules, json!({ "id": "3", "channel": "phone" }), TraceLevel::Decisions);
    assert_eq!(d.category, "general");
}

#[test]
fn the_full_trace_explains_each_row_with_the_cell_that_failed() {
    let rules = compile(STAGES);
    let d = decide(&rules, json!({ "id": "1", "channel": "email", "fields": { "plan": "pro" } }), TraceLevel::Full);
    let sales = d.trace.iter().find(|t| t.rule.as_deref() == Some("sales-lead")).unwrap();
    let why = sales.why.as_deref().unwrap();
    assert!(why.contains("plan: free") && why.contains("`pro`"), "{why}");
    let billing = d.trace.iter().find(|t| t.rule.as_deref() == Some("billing")).unwrap();
    assert_eq!(billing.outcome, crate::Outcome::Matched);
    assert!(billing.why.as_deref().unwrap().contains("chose this row"));
    assert_eq!(d.category, "billing");
}

#[test]
fn a_broken_unique_table_warns_with_both_rows_and_asks_a_person() {
    let rules = tiers("unique", "[users]", "a: > 10 => 3\nb: > 5 => 2\nc: - => 1");
    let d = decide(&rules, json!({ "id": "1", "priority": "P4", "fields": { "users": 20 } }), TraceLevel::Decisions);
    assert_eq!(d.priority, "P1");
    let w = d.warnings.iter().find(|w| w.code == "table-conflict").unwrap();
    assert!(w.message.contains("`a` (line 17)") && w.message.contains("`b` (line 18)"), "{}", w.message);
    assert_eq!(d.manual_review.unwrap().reason, "table-conflict");
}

#[test]
fn territory_and_assignment_tables_expand_into_their_stages() {
    let yaml = r#"
territories:
  - id: world
  - id: places
    table:
      inputs: [country, postal_code]
      outputs: [parent, priority]
      rows: |
        de-north: DE | ["20000".."29999"] => world | 1
        de:       DE | -                 => world | 0
        fr:       FR | -                 => world | 0
categories:
  - id: general
    set: { category: general }
assignment:
  - id: routing
    table:
      inputs: [territory]
      outputs: [team, skills]
      rows: |
        north: de-north => hamburg | german
        rest:  -        => global  | -
"#;
    let rules = compile(yaml);
    let d = decide(&rules, json!({ "id": "1", "country": "Germany", "postal_code": "20095" }), TraceLevel::Decisions);
    assert_eq!(d.territory.as_deref(), Some("de-north"));
    assert!(d.trace.iter().any(|t| t.stage == "assign" && t.rule.as_deref() == Some("north")), "{:?}", d.trace);
    let d = decide(&rules, json!({ "id": "2", "country": "FR" }), TraceLevel::Decisions);
    assert_eq!(d.territory.as_deref(), Some("fr"));
}

#[test]
fn table_mistakes_are_reported_where_they_are_written() {
    let yaml = |hit: &str, inputs: &str, outputs: &str, rows: &str| {
        format!(
            "{HEAD}tiers:\n  - id: t\n    table:\n      hit: {hit}\n      inputs: {inputs}\n      outputs: {outputs}\n      rows: |\n{rows}\n  - id: tier-1\n    tier: 1\n"
        )
    };
    // Wrong cell types, each at its row's line.
    let found = codes(&yaml(
        "first",
        "[users, plan, vip]",
        "[tier]",
        "        a: > x | free | true => 3\n        b: - | gold | - => 2\n        c: - | - | yes => 1\n        d: [5..1] | - | - => 1",
    ));
    assert_eq!(
        found,
        [
            (17, "value-type".to_string()),
            (18, "invalid-value".to_string()),
            (19, "invalid-cell".to_string()),
            (20, "impossible-condition".to_string())
        ]
    );
    // Rows of the wrong width, a missing arrow, a bad output.
    let found = codes(&yaml("first", "[users]", "[tier]", "        a: 1 | 2 => 3\n        b: 1 3\n        c: 1 => 7"));
    assert_eq!(
        found,
        [(17, "invalid-row".to_string()), (18, "invalid-row".to_string()), (19, "invalid-value".to_string())]
    );
    // A policy the stage cannot use; a priority policy without an order.
    assert_eq!(
        codes(&yaml("collect", "[users]", "[tier]", "        a: 1 => 3")),
        [(13, "table-hit-policy".to_string())]
    );
    assert_eq!(
        codes(&yaml("priority", "[users]", "[tier]", "        a: 1 => 3")),
        [(13, "table-hit-policy".to_string())]
    );
    assert_eq!(codes(&yaml("fastest", "[users]", "[tier]", "        a: 1 => 3")), [(13, "invalid-value".to_string())]);
    // Unknown columns and outputs, a field of a later stage.
    let found = codes(&yaml("first", "[usrs, tier]", "[tier, team]", "        a: 1 | 1 => 3 | x"));
    assert_eq!(
        found,
        [(14, "unknown-field".to_string()), (14, "field-not-available".to_string()), (15, "unknown-key".to_string())]
    );
    // Duplicate row ids, a regex that does not compile.
    let found =
        codes(&yaml("first", "[zip]", "[tier]", "        a: /x/ => 3\n        a: /y/ => 2\n        b: /(/ => 1"));
    assert_eq!(found, [(18, "duplicate-definition".to_string()), (19, "invalid-regex".to_string())]);
}

// ---------------------------------------------------------- properties

/// A random table over a number, an enum and a string column, with every
/// kind of cell.
fn cell_strategy(col: usize) -> BoxedStrategy<String> {
    match col {
        0 => prop_oneof![
            Just("-".to_string()),
            (0i32..20).prop_map(|x| x.to_string()),
            (0i32..20).prop_map(|x| format!("> {x}")),
            (0i32..20).prop_map(|x| format!("<= {x}")),
            (0i32..20, 0i32..10).prop_map(|(a, w)| format!("[{a}..{}]", a + w)),
            (0i32..20, 1i32..10).prop_map(|(a, w)| format!("({a}..{})", a + w)),
            (0i32..20, 0i32..10).prop_map(|(a, w)| format!("not([{a}..{}])", a + w)),
            (0i32..10, 10i32..20).prop_map(|(a, b)| format!("< {a}, >= {b}")),
        ]
        .boxed(),
        1 => prop_oneof![
            Just("-".to_string()),
            Just("free".to_string()),
            Just("pro, enterprise".to_string()),
            Just("not(pro)".to_string()),
            Just("/^(free|pro)$/".to_string()),
        ]
        .boxed(),
        _ => prop_oneof![
            Just("-".to_string()),
            Just("\"a\"".to_string()),
            Just("a, b".to_string()),
            Just("not(\"c\")".to_string()),
            Just("[\"b\"..\"d\"]".to_string()),
            Just("> \"b\"".to_string()),
        ]
        .boxed(),
    }
}

fn input_strategy() -> impl Strategy<Value = serde_json::Value> {
    (
        prop::option::of(0i32..25),
        prop::option::of(prop::sample::select(vec!["free", "pro", "enterprise"])),
        prop::option::of(prop::sample::select(vec!["a", "b", "c", "d", "e"])),
    )
        .prop_map(|(n, p, z)| {
            let mut m = serde_json::Map::new();
            if let Some(n) = n {
                m.insert("users".into(), json!(n));
            }
            if let Some(p) = p {
                m.insert("plan".into(), json!(p));
            }
            if let Some(z) = z {
                m.insert("zip".into(), json!(z));
            }
            serde_json::Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The column index finds exactly the rows a row-by-row test of every
    /// cell finds, and the explanation's failing columns agree with both.
    #[test]
    fn the_index_matches_a_row_by_row_scan(
        rows in prop::collection::vec((cell_strategy(0), cell_strategy(1), cell_strategy(2)), 1..40),
        inputs in prop::collection::vec(input_strategy(), 1..20),
    ) {
        let text: String = rows.iter().map(|(a, b, c)| format!("{a} | {b} | {c} => 1\n")).collect();
        let rules = tiers("collect", "[users, plan, zip]", &text);
        let table = rules.table("t").unwrap();
        let inner = &rules.adjust_tables[0];
        for input in &inputs {
            let found: Vec<String> = table.evaluate(input).unwrap().row_ids().map(str::to_string).collect();
            let facts = table_facts(&rules, input);
            let hits = crate::text::Hits { phrases: crate::bits::Bits::new(0), regexes: crate::bits::Bits::new(0) };
            let scanned: Vec<String> = rules.adjustments.iter()
                .filter(|r| cond::eval(&r.cond, &rules.preds, &facts, &hits))
                .map(|r| r.meta.id.to_string())
                .collect();
            prop_assert_eq!(&found, &scanned, "input {}", input);
            let explained = table.explain(input).unwrap();
            let matched: Vec<String> = explained.rows().filter(|(_, _, why)| why.is_none()).map(|(id, _, _)| id.to_string()).collect();
            prop_assert_eq!(&matched, &scanned);
            prop_assert_eq!(inner.rows.len(), rows.len());
        }
    }
}

/// The facts a table input gives, in schema slots.
fn table_facts<'a>(rules: &'a CompiledRules, input: &'a serde_json::Value) -> Vec<Fact<'a>> {
    let mut facts = vec![Fact::Missing; rules.schema.len()];
    for name in ["users", "plan", "zip"] {
        let slot = rules.schema.lookup(name).unwrap();
        if let Some(v) = input.get(name) {
            facts[slot] = crate::eval::json_fact(v, &rules.schema.fields[slot].ty).unwrap();
        }
    }
    facts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// The lint against random tables and inputs: a row it calls
    /// unreachable is never chosen; a gap's or overlap's example shows what
    /// it says; a table it finds no gap (overlap) in has none for any input.
    #[test]
    fn the_lint_agrees_with_evaluation(
        rows in prop::collection::vec((cell_strategy(0), cell_strategy(1), cell_strategy(2)), 1..25),
        inputs in prop::collection::vec(input_strategy(), 1..40),
        unique in any::<bool>(),
    ) {
        let text: String = rows.iter().map(|(a, b, c)| format!("{a} | {b} | {c} => 1\n")).collect();
        let rules = tiers(if unique { "unique" } else { "first" }, "[users, plan, zip]", &text);
        let table = rules.table("t").unwrap();
        let found = crate::lint(&rules);
        let with = |code: &str| found.iter().filter(|d| d.code == code).collect::<Vec<_>>();
        let matched = |input: &serde_json::Value| -> Vec<String> {
            table.explain(input).unwrap().rows().filter(|(_, _, why)| why.is_none()).map(|(id, _, _)| id.to_string()).collect()
        };
        let unreachable: Vec<&str> = with("unreachable-rule").iter().filter_map(|d| d.rule.as_deref()).collect();
        for input in &inputs {
            let hit = matched(input);
            if !unique {
                prop_assert!(hit.first().is_none_or(|r| !unreachable.contains(&r.as_str())), "{} chose an unreachable row", input);
            }
            if with("table-gap").is_empty() {
                prop_assert!(!hit.is_empty(), "no gap reported, yet {} matches no row", input);
            }
            if unique && with("table-overlap").is_empty() {
                prop_assert!(hit.len() < 2, "no overlap reported, yet {} matches {:?}", input, hit);
            }
        }
        for d in with("table-gap").into_iter().chain(with("table-overlap")) {
            let example = d.example.clone().unwrap();
            if example.get("such that").is_some() {
                continue;
            }
            let hit = matched(&example);
            if d.code == "table-gap" {
                prop_assert!(hit.is_empty(), "gap example {} matches {:?}", example, hit);
            } else {
                prop_assert!(hit.len() >= 2 && hit.contains(d.rule.as_ref().unwrap()), "overlap example {} matches {:?}", example, hit);
            }
        }
    }
}

#[test]
fn because_means_decided_and_coverage_tells_matched_from_decided() {
    let rules = compile(
        r#"
fields:
  users: number
categories:
  - id: general
    set: { category: general, priority: P4 }
priority:
  - id: moves
    table:
      hit: rule_order
      inputs: [users]
      outputs: [set]
      rows: |
        small: -      => P3
        crowd: >= 100 => P1
"#,
    );
    let tests = r#"
- name: the crowd row decides
  case: { id: "1", fields: { users: 500 } }
  expect: { priority: P1 }
  because: [crowd]
- name: a wrong because
  case: { id: "2", fields: { users: 500 } }
  because: [small]
"#;
    let (parsed, diags) = crate::testing::parse_tests("t.test.yaml", tests);
    assert!(diags.is_empty(), "{diags:?}");
    let outcomes: Vec<_> = parsed.iter().map(|t| t.run(&rules, &Directory::new())).collect();
    assert!(outcomes[0].failures.is_empty(), "{:?}", outcomes[0].failures);
    assert_eq!(outcomes[1].failures.len(), 1, "{:?}", outcomes[1].failures);
    assert!(outcomes[1].failures[0].contains("overridden by rule `crowd`"), "{:?}", outcomes[1].failures);
    // The overridden row is traced as such, with what overrode it.
    let d = decide(&rules, json!({ "id": "3", "fields": { "users": 500 } }), TraceLevel::Full);
    let small = d.trace.iter().find(|t| t.rule.as_deref() == Some("small")).unwrap();
    assert_eq!(small.outcome, crate::decision::Outcome::Overridden);
    assert!(small.why.as_deref().unwrap_or("").contains("overridden by rule `crowd`"), "{small:?}");
    // Coverage: `small` matched in both tests but never decided.
    let report = crate::testing::coverage(&rules, &outcomes);
    let item = |id: &str| report.items.iter().find(|i| i.id == id).unwrap();
    assert!(item("crowd").covered);
    assert!(!item("small").covered && item("small").matched, "{:?}", item("small"));
    assert!(
        report.render().contains("small  (row of table `moves`; matched, but never decided)"),
        "{}",
        report.render()
    );
}

#[test]
fn a_table_without_its_output_names_every_output_it_may_have() {
    let yaml = format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      inputs: [users]\n      outputs: [stop]\n      rows: |\n        a: >= 1 => true\n"
    );
    let (_, diags) = compile_sources(&[("rules.yaml", &yaml)]);
    let d = diags.iter().find(|d| d.code == "missing-key").unwrap_or_else(|| panic!("{diags:#?}"));
    assert_eq!(d.message, "a `priority` table needs an output column `raise`, `lower` or `set`");
    assert_eq!(d.help.as_deref(), Some("a `priority` table's outputs are `raise`, `lower`, `set`, `stop`"));
}

#[test]
fn an_sla_table_without_a_target_and_a_dmn_open_interval_are_told_so_once() {
    let sla = format!(
        "{HEAD}sla:\n  - id: s\n    table:\n      inputs: [priority]\n      outputs: [calendar]\n      rows: |\n        P1 => -\n        -  => -\n"
    );
    let (_, diags) = compile_sources(&[("rules.yaml", &sla)]);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(
        diags[0].message,
        "an `sla` table needs an output column `first_response`, `next_response`, `resolution` or `update`"
    );
    let tiers = format!(
        "{HEAD}tiers:\n  - id: t\n    table:\n      inputs: [users]\n      outputs: [tier]\n      rows: |\n        [1..5[ => 2\n        -      => 1\n"
    );
    let (_, diags) = compile_sources(&[("rules.yaml", &tiers)]);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0].message.contains("written `[1..5)`, not DMN's `[1..5[`"), "{}", diags[0].message);
}

#[test]
fn a_row_its_table_did_not_choose_lost_and_does_not_satisfy_because() {
    let rules = compile(&format!(
        "{HEAD}tiers:\n  - id: t\n    table:\n      hit: priority\n      inputs: [users]\n      outputs: [{{tier: [3, 2, 1]}}]\n      rows: |\n        some: >= 1 => 2\n        many: >= 100 => 3\n  - id: rest\n    tier: 1\n"
    ));
    let tests = "- name: wrong row\n  case: { id: \"1\", fields: { users: 500 } }\n  because: [some]\n- name: right row\n  case: { id: \"2\", fields: { users: 500 } }\n  expect: { tier: 3 }\n  because: [many]\n";
    let (parsed, diags) = crate::testing::parse_tests("t.test.yaml", tests);
    assert!(diags.is_empty(), "{diags:?}");
    let outcomes: Vec<_> = parsed.iter().map(|t| t.run(&rules, &Directory::new())).collect();
    assert_eq!(outcomes[0].failures.len(), 1, "{:?}", outcomes[0].failures);
    assert!(outcomes[0].failures[0].contains("it matched, but lost"), "{:?}", outcomes[0].failures);
    assert!(outcomes[1].failures.is_empty(), "{:?}", outcomes[1].failures);
    let report = crate::testing::coverage(&rules, &outcomes);
    let some = report.items.iter().find(|i| i.id == "some").unwrap();
    assert!(!some.covered && some.matched, "{some:?}");
}

#[test]
fn output_order_lists_matching_rows_by_their_outputs_declared_order() {
    // Declared order of `raise`: 2, then 3, then 1.
    let rules = tiers("output_order", "[users]", "a: > 10 => 1\nb: > 50 => 3\nc: > 0 => 2\nd: > 5 => 1");
    assert_eq!(rows_for(&rules, json!({ "users": 60 })), ["c", "b", "a", "d"]);
    assert_eq!(
        rules.table("t").unwrap().evaluate(&json!({ "users": 60 })).unwrap().output("raise"),
        Some(json!([2, 3, 1, 1]))
    );
    assert_eq!(rows_for(&rules, json!({ "users": 7 })), ["c", "d"]);
    assert!(rows_for(&rules, json!({ "users": 0 })).is_empty());
    // In the priority stage the rows apply in that order.
    let d = decide(&rules, json!({ "id": "1", "fields": { "users": 60 } }), TraceLevel::Decisions);
    let applied: Vec<&str> =
        d.trace.iter().filter(|t| t.stage == "priority").filter_map(|t| t.rule.as_deref()).collect();
    assert_eq!(applied, ["c", "b", "a", "d"]);
    // Without a declared order it is refused, saying why.
    let no_order = format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      hit: output_order\n      inputs: [users]\n      outputs: [raise]\n      rows: |\n        a: > 1 => 1\n"
    );
    assert!(codes(&no_order).contains(&(13, "table-hit-policy".to_string())), "{:?}", codes(&no_order));
}

#[test]
fn because_in_a_history_test_is_checked_and_the_history_overrides() {
    let rules = compile(
        "categories:\n  - id: general\n    set: { category: general, priority: P4 }\npriority:\n  - id: up\n    raise: 1\n",
    );
    let tests = r#"
- name: the history set the priority
  state:
    case: { id: "1", created_at: "2026-03-02T09:00:00Z" }
    events:
      - { at: "2026-03-02T09:00:00Z", kind: created }
      - { at: "2026-03-02T09:05:00Z", kind: priority_changed, priority: P1 }
  now: "2026-03-02T09:10:00Z"
  because: [up]
- name: no such rule
  state:
    case: { id: "2", created_at: "2026-03-02T09:00:00Z" }
    events:
      - { at: "2026-03-02T09:00:00Z", kind: created }
  now: "2026-03-02T09:10:00Z"
  because: [upp]
- name: the rule decided
  state:
    case: { id: "3", created_at: "2026-03-02T09:00:00Z" }
    events:
      - { at: "2026-03-02T09:00:00Z", kind: created }
  now: "2026-03-02T09:10:00Z"
  because: [up]
"#;
    let (parsed, diags) = crate::testing::parse_tests("t.test.yaml", tests);
    assert!(diags.is_empty(), "{diags:?}");
    let outcomes: Vec<_> = parsed.iter().map(|t| t.run(&rules, &Directory::new())).collect();
    assert!(
        outcomes[0].failures.iter().any(|f| f.contains("overridden by the case's history")),
        "{:?}",
        outcomes[0].failures
    );
    assert!(outcomes[1].failures.iter().any(|f| f.contains("not in the trace")), "{:?}", outcomes[1].failures);
    assert!(outcomes[2].failures.is_empty(), "{:?}", outcomes[2].failures);
}

#[test]
fn declared_orders_are_checked_and_min_max_rows_that_lost_are_traced_so() {
    let with_order = |order: &str| {
        format!(
            "{HEAD}priority:\n  - id: t\n    table:\n      hit: output_order\n      inputs: [users]\n      outputs: [{{set: {order}}}]\n      rows: |\n        a: > 1 => P2\n"
        )
    };
    assert!(codes(&with_order("[P5, P2]")).iter().any(|(_, c)| c == "invalid-value"));
    assert!(codes(&with_order("[P2, P2]")).iter().any(|(_, c)| c == "invalid-value"));
    assert!(codes(&with_order("[]")).iter().any(|(_, c)| c == "invalid-value"));
    assert!(codes(&with_order("[P1, P2, P3, P4]")).is_empty(), "{:?}", codes(&with_order("[P1, P2, P3, P4]")));
    // `collect max` takes one row's step: the other row lost.
    let rules = compile(&format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      hit: collect max\n      inputs: [users]\n      outputs: [raise]\n      rows: |\n        g: > 1 => 1\n        h: > 2 => 2\n"
    ));
    let d = decide(&rules, json!({ "id": "1", "fields": { "users": 5 } }), TraceLevel::Decisions);
    let outcome = |id: &str| d.trace.iter().find(|t| t.rule.as_deref() == Some(id)).map(|t| t.outcome);
    assert_eq!(outcome("h"), Some(crate::decision::Outcome::Applied));
    assert_eq!(outcome("g"), Some(crate::decision::Outcome::Lost));
}

#[test]
fn rows_after_a_stopping_row_are_traced_lost() {
    let rules = compile(&format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      hit: rule_order\n      inputs: [users]\n      outputs: [raise, stop]\n      rows: |\n        first: > 1 => 1 | true\n        second: > 2 => 1 | -\n"
    ));
    let d = decide(&rules, json!({ "id": "1", "fields": { "users": 5 } }), TraceLevel::Full);
    let second = d.trace.iter().find(|t| t.rule.as_deref() == Some("second")).unwrap();
    assert_eq!(second.outcome, crate::decision::Outcome::Lost);
    assert!(second.why.as_deref().unwrap_or("").contains("row `first` stopped"), "{second:?}");
}

#[test]
fn a_priority_rule_that_always_stops_shadows_the_rules_after_it() {
    let yaml = format!(
        "{HEAD}priority:\n  - id: always\n    raise: 1\n    stop: true\n  - id: later\n    when: {{ users: {{ gte: 10 }} }}\n    raise: 1\n"
    );
    assert!(codes(&yaml).contains(&(14, "shadowed-rule".to_string())), "{:?}", codes(&yaml));
    let guarded =
        yaml.replace("    raise: 1\n    stop: true\n", "    when: { vip: true }\n    raise: 1\n    stop: true\n");
    assert!(codes(&guarded).is_empty(), "{:?}", codes(&guarded));
}

const SIDE: &str = r#"
fields:
  amount: number
  risk: number
  labels: list
  band: { type: enum, values: [low, mid, high] }
knowledge:
  - id: kb-refunds
    title: Refunds
    url: https://help.example.com/refunds
    keywords: [refund]
  - id: kb-invoices
    title: Invoices
    url: https://help.example.com/invoices
    keywords: [invoice]
categories:
  - id: cat
    table:
      inputs: [subject]
      outputs: [category]
      rows: |
        billing: /invoice/ => billing
                 -         => general
  - id: tagger
    table:
      hit: rule_order
      inputs: { cat: category, amt: amount }
      outputs: [tags, labels]
      rows: |
        t1: billing | >= 100 => money, big | x
        t2: billing | -      => finance    | y
        t3: -       | < 0    => refund     | z
  - id: risk-sum
    table:
      hit: collect sum
      inputs: { amt: amount }
      outputs: [risk]
      rows: |
        r1: > 10   => 1.5
        r2: > 100  => -0.25
        r3: < 0    => -2
  - id: banding
    table:
      inputs: { r: risk }
      outputs: [band]
      rows: |
        b-low:  <= 0   => low
        b-mid:  < 1.5  => mid
        b-high: -      => high
tiers:
  - id: self-service
    when: { band: low }
    tier: 0
    articles: [kb-invoices]
  - id: tier-1
    tier: 1
  - id: offer
    table:
      hit: output_order
      inputs: { b: band, t: tier }
      outputs: [{articles: [kb-refunds, kb-invoices]}]
      rows: |
        o1: low | 0 => kb-invoices
        o2: low | - => kb-refunds
assignment:
  - id: desk
    team: desk
  - id: skill-table
    table:
      hit: collect
      inputs: { t: tags }
      outputs: [skills]
      rows: |
        s1: refund => refunds
        s2: money  => finance, refunds
"#;

#[test]
fn side_tables_add_lists_and_decide_custom_fields_that_later_rules_read() {
    let rules = compile(SIDE);
    let case = |id: &str, subject: &str, amount: Option<f64>| {
        let mut c = json!({ "id": id, "subject": subject, "body": "x" });
        if let Some(a) = amount {
            c["fields"] = json!({ "amount": a });
        }
        decide(&rules, c, TraceLevel::Full)
    };
    // rule_order: the rows' tags in row order, added to the category's
    // (none here) without repeats; the custom list in the same order.
    let d = case("a", "invoice 7", Some(150.0));
    assert_eq!(d.category.as_ref(), "billing");
    assert_eq!(d.tags, ["money", "big", "finance"]);
    assert_eq!(d.outputs["labels"], json!(["x", "y"]));
    // collect sum with decimals and a negative; a later table reads it.
    assert_eq!(d.outputs["risk"], json!(1.25));
    assert_eq!(d.outputs["band"], json!("mid"));
    // Assignment skills from the tags categorization decided.
    assert_eq!(d.skills, ["finance", "refunds"]);
    // Every collected row is traced matched; the row that did not is not.
    let outcome = |id: &str| d.trace.iter().find(|t| t.rule.as_deref() == Some(id)).map(|t| t.outcome);
    assert_eq!(outcome("t1"), Some(crate::Outcome::Matched));
    assert_eq!(outcome("t3"), Some(crate::Outcome::NotMatched));
    assert_eq!(outcome("b-high"), Some(crate::Outcome::Lost));

    // No row: the sum is 0 (not -0), the list empty, and the band low,
    // which a tiers rule reads: tier 0 offers the side table's articles
    // first, in the declared output order, then those the words find.
    let d = case("b", "hello", None);
    assert_eq!(serde_json::to_string(&d.outputs["risk"]).unwrap(), "0");
    assert_eq!(d.outputs["labels"], json!([]));
    assert_eq!(d.tier, 0);
    let offered: Vec<&str> = d.deflect.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(offered, ["kb-refunds", "kb-invoices"]);

    let d = case("c", "hello", Some(-5.0));
    assert_eq!(d.tags, ["refund"]);
    assert_eq!(d.outputs["risk"], json!(-2));
    assert_eq!(d.skills, ["refunds"]);
    // The lean trace names every collected row too, for coverage.
    let lean = decide(
        &rules,
        json!({ "id": "d", "subject": "invoice", "body": "x", "fields": { "amount": 150 } }),
        TraceLevel::Decisions,
    );
    let named: Vec<&str> = lean.trace.iter().filter_map(|t| t.rule.as_deref()).collect();
    for id in ["t1", "t2", "r1", "r2", "b-mid", "s2"] {
        assert!(named.contains(&id), "{id} missing from {named:?}");
    }
    // The table is listed with the others and evaluates on its own.
    let t = rules.table("risk-sum").unwrap();
    assert_eq!(t.stage(), "categories");
    assert_eq!(t.evaluate(&json!({ "amount": 50 })).unwrap().output("risk"), Some(json!(1.5)));
}

#[test]
fn side_table_outputs_are_checked_against_the_policy_and_the_fields_types() {
    let yaml = |hit: &str, outputs: &str, rows: &str| {
        format!(
            "fields:\n  amount: number\n  total: number\n  band: {{ type: enum, values: [low, high] }}\n  labels: list\ncategories:\n  - id: general\n    set: {{ category: general }}\n  - id: t\n    table:\n      hit: {hit}\n      inputs: [amount]\n      outputs: {outputs}\n      rows: |\n        {rows}\n"
        )
    };
    assert!(codes(&yaml("collect sum", "[total]", "a: > 1 => -1.5")).is_empty());
    assert!(codes(&yaml("collect", "[labels, tags]", "a: > 1 => x | y, z")).is_empty());
    // A number field gathers no list; an aggregate needs a number field;
    // a multi-hit table decides no category.
    assert_eq!(codes(&yaml("collect", "[total]", "a: > 1 => 1")), [(13, "table-hit-policy".to_string())]);
    assert_eq!(codes(&yaml("collect max", "[labels]", "a: > 1 => 1")), [(13, "table-hit-policy".to_string())]);
    assert_eq!(codes(&yaml("rule_order", "[category]", "a: > 1 => x")), [(11, "table-hit-policy".to_string())]);
    // Values of the field's type, at their cell.
    assert_eq!(codes(&yaml("first", "[band]", "a: > 1 => medium")), [(15, "invalid-value".to_string())]);
    assert_eq!(codes(&yaml("collect sum", "[total]", "a: > 1 => lots")), [(15, "invalid-value".to_string())]);
    // A table that decides the category fills no custom field.
    assert_eq!(codes(&yaml("first", "[category, band]", "a: > 1 => x | low")), [(13, "table-hit-policy".to_string())]);
}

const RELATIVE: &str = r#"
fields:
  amount: number
  min_amount: number
  max_amount: number
  opened: datetime
  due: date
categories:
  - id: general
    set: { category: general }
tiers:
  - id: t
    table:
      inputs: { amt: amount, lo: min_amount, hi: max_amount, at: opened, due: due }
      outputs: [tier]
      rows: |
        inside:  [lo..hi]     | - | - | -            | -                        => 3
        above:   > max_amount | - | - | -            | -                        => 2
        expired: -            | - | - | > due        | -                        => 2
        early:   -            | - | - | < 2026-03-02 | -                        => 2
        q1:      -            | - | - | -            | [2026-01-01..2026-03-31] => 3
        rest:    -            | - | - | -            | -                        => 1
"#;

#[test]
fn cells_compare_with_other_inputs_and_dates_compare_with_instants_at_midnight_utc() {
    let rules = compile(RELATIVE);
    let t = rules.table("t").unwrap();
    let rows = |input: serde_json::Value| -> Vec<String> {
        t.evaluate(&input).unwrap().row_ids().map(str::to_string).collect()
    };
    assert_eq!(rows(json!({ "amount": 5, "min_amount": 1, "max_amount": 10 })), ["inside"]);
    assert_eq!(rows(json!({ "amount": 10, "min_amount": 1, "max_amount": 10 })), ["inside"]);
    assert_eq!(rows(json!({ "amount": 11, "min_amount": 1, "max_amount": 10 })), ["above"]);
    // A missing bound holds no value: neither interval nor comparison holds.
    assert_eq!(rows(json!({ "amount": 5, "min_amount": 1 })), ["rest"]);
    // A date is midnight UTC at its start, against an instant in any offset.
    assert_eq!(rows(json!({ "due": "2026-03-01", "opened": "2026-03-01T00:00:01Z" })), ["expired"]);
    assert_eq!(rows(json!({ "due": "2026-03-01", "opened": "2026-03-01T01:00:00+01:00" })), ["early"]);
    assert_eq!(rows(json!({ "due": "2026-03-31" })), ["q1"]);
    assert_eq!(rows(json!({ "due": "2026-04-01" })), ["rest"]);
    // An instant field given a date takes its midnight UTC too.
    assert_eq!(rows(json!({ "opened": "2026-03-01" })), ["early"]);
    // Only the rows that compare inputs are tested one by one.
    let col = &rules.tiers.tables[0].columns[0];
    assert_eq!(col.checked_rows(), 2);
    // The full trace names the other input's value, dates as dates.
    let case = json!({ "id": "x", "subject": "s", "body": "b", "fields": { "opened": "2026-03-05T10:00:00Z", "due": "2026-03-04" } });
    let d = decide(&rules, case, TraceLevel::Full);
    let why = d.trace.iter().find(|e| e.rule.as_deref() == Some("expired")).and_then(|e| e.why.clone()).unwrap();
    assert!(why.contains("`opened` is `2026-03-05T10:00:00+00:00`, `due` is `2026-03-04`"), "{why}");
    // A date field refuses an instant.
    assert!(t.evaluate(&json!({ "due": "2026-03-01T00:00:00Z" })).is_err());
}

#[test]
fn a_cell_naming_an_input_is_checked_for_the_input_and_its_type() {
    let with = |row: &str| {
        let rest = "        rest:    -            | - | - | -            | -                        => 1";
        codes(&RELATIVE.replace(rest, &format!("{row}\n{rest}")))
    };
    // An input that is not there; one of a type that does not order alike.
    assert_eq!(with("        r: > min_amt | - | - | - | - => 1"), [(22, "value-type".to_string())]);
    assert_eq!(with("        r: > at | - | - | - | - => 1"), [(22, "value-type".to_string())]);
    assert_eq!(with("        r: - | - | - | - | > 2026-02-30 => 1"), [(22, "value-type".to_string())]);
    // A literal interval that holds nothing is still found.
    assert_eq!(
        with("        r: - | - | - | - | [2026-03-02..2026-03-01] => 1"),
        [(22, "impossible-condition".to_string())]
    );
}

#[test]
fn a_side_tables_field_is_read_only_after_it_is_decided_and_by_one_table() {
    let base = "fields:\n  amount: number\n  risk: number\n  band: { type: enum, values: [low, high] }\ncategories:\n  - id: general\n    set: { category: general }\n";
    let points = "  - id: points\n    table:\n      hit: collect sum\n      inputs: [amount]\n      outputs: [risk]\n      rows: |\n        big: > 100 => 1.5\n";
    let band = "  - id: band\n    table:\n      inputs: [risk]\n      outputs: [band]\n      rows: |\n        > 1 => high\n        - => low\n";
    // Read before it is decided (the table above the one deciding it), by
    // a rule of the same stage, and by the table itself.
    assert_eq!(codes(&format!("{base}{band}{points}")), [(10, "field-not-available".to_string())]);
    assert!(codes(&format!("{base}{points}{band}")).is_empty());
    let rule = "  - id: early\n    when: { risk: { gt: 1 } }\n    set: { category: risky }\n";
    assert_eq!(
        codes(&format!("{base}{points}{band}").replace("categories:\n", &format!("categories:\n{rule}"))),
        [(7, "field-not-available".to_string())]
    );
    let own = points.replace("inputs: [amount]", "inputs: [risk]");
    assert_eq!(codes(&format!("{base}{own}")), [(11, "field-not-available".to_string())]);
    // Two tables deciding one field.
    let again = points.replace("id: points", "id: points-2").replace("big:", "big-2:");
    assert_eq!(codes(&format!("{base}{points}{again}")), [(19, "duplicate-definition".to_string())]);
}

#[test]
fn several_gathered_outputs_line_up_sums_are_decimal_and_min_rows_that_lost_say_so() {
    let rules = compile(
        r#"
fields:
  amount: number
  sts: list
  rts: list
  total: number
  least: number
categories:
  - id: general
    set: { category: general }
  - id: gather
    table:
      hit: collect
      inputs: [amount]
      outputs: [sts, rts]
      rows: |
        r1: > 0 => Approved | -
        r2: > 1 => Declined | Standard
  - id: sum
    table:
      hit: collect sum
      inputs: [amount]
      outputs: [total]
      rows: |
        s1: > 0 => 0.1
        s2: > 0 => 0.2
        s3: > 0 => -0.3
  - id: min
    table:
      hit: collect min
      inputs: [amount]
      outputs: [least]
      rows: |
        m1: > 0 => 5
        m2: > 0 => 3
"#,
    );
    let d = decide(&rules, json!({ "id": "a", "subject": "s", "fields": { "amount": 5 } }), TraceLevel::Full);
    assert_eq!(d.outputs["sts"], json!(["Approved", "Declined"]));
    assert_eq!(d.outputs["rts"], json!([null, "Standard"]));
    assert_eq!(d.outputs["total"], json!(0));
    assert_eq!(d.outputs["least"], json!(3));
    let outcome = |id: &str| d.trace.iter().find(|t| t.rule.as_deref() == Some(id)).map(|t| t.outcome);
    assert_eq!((outcome("m1"), outcome("m2")), (Some(crate::Outcome::Lost), Some(crate::Outcome::Matched)));
    // One row giving several values would break the lines.
    let yaml = r#"
fields: { amount: number, sts: list, rts: list }
categories:
  - id: general
    set: { category: general }
  - id: gather
    table:
      hit: collect
      inputs: [amount]
      outputs: [sts, rts]
      rows: |
        r1: > 0 => Approved, Declined | Basic
"#;
    assert_eq!(codes(yaml), [(12, "invalid-value".to_string())]);
}

#[test]
fn second_break_test_findings_stay_fixed() {
    // One row no value can pass drops that row only, not its side table.
    let rules = compile(
        "fields: { amount: number, r: string }\ncategories:\n  - id: general\n    set: { category: general }\n  - id: t\n    table:\n      inputs: [amount]\n      outputs: [r]\n      rows: |\n        a: [5..1] => x\n        b: > 10   => big\n        c: -      => other\n",
    );
    let d = decide(&rules, json!({ "id": "a", "subject": "s", "fields": { "amount": 30 } }), TraceLevel::Decisions);
    assert_eq!(d.outputs["r"], json!("big"));
    // A field a table leaves unset is missing, whatever the case said.
    let rules = compile(
        "fields: { amount: number, least: number }\ncategories:\n  - id: general\n    set: { category: general }\n  - id: t\n    table:\n      hit: collect min\n      inputs: [amount]\n      outputs: [least]\n      rows: |\n        a: > 10 => 5\ntiers:\n  - id: low\n    when: { least: { lt: -100 } }\n    tier: 3\n  - id: rest\n    tier: 1\n",
    );
    let d = decide(
        &rules,
        json!({ "id": "a", "subject": "s", "fields": { "amount": 1, "least": -999 } }),
        TraceLevel::Decisions,
    );
    assert_eq!((d.tier, d.outputs.get("least")), (1, None));
    assert!(d.warnings.iter().any(|w| w.code == "field-decided-by-table"), "{:?}", d.warnings);
    // Sums are exact in decimal, even past a float's 53 bits.
    let sum = |rows: &str| {
        let rules = compile(&format!(
            "fields: {{ amount: number, total: number }}\ncategories:\n  - id: general\n    set: {{ category: general }}\n  - id: t\n    table:\n      hit: collect sum\n      inputs: [amount]\n      outputs: [total]\n      rows: |\n{rows}"
        ));
        decide(&rules, json!({ "id": "a", "subject": "s", "fields": { "amount": 1 } }), TraceLevel::Decisions).outputs["total"].clone()
    };
    assert_eq!(sum("        a: - => 1e20\n        b: - => 1\n        c: - => -1e20\n"), json!(1));
    assert_eq!(sum("        a: - => 9007199254740993\n        b: - => 1\n"), json!(9_007_199_254_740_994_i64));
    assert_eq!(sum("        a: - => 0.1\n        b: - => 0.2\n"), json!(0.3));
    // A bound names a column before it names a column's field.
    let rules = compile(
        "fields: { amount: number, lo: number, hi: number, r: string }\ncategories:\n  - id: general\n    set: { category: general }\n  - id: t\n    table:\n      inputs: { amount: amount, lo: hi, hi: lo }\n      outputs: [r]\n      rows: |\n        above: > hi | - | - => above\n        other: -    | - | - => other\n",
    );
    let t = rules.table("t").unwrap();
    let row = t.evaluate(&json!({ "amount": 5, "lo": 1, "hi": 10 })).unwrap().row_ids().next().map(str::to_string);
    assert_eq!(row.as_deref(), Some("above"));
    // `1` and `1.0` are one output to `any`.
    let rules = compile(
        "fields: { amount: number, n: number }\ncategories:\n  - id: general\n    set: { category: general }\n  - id: t\n    table:\n      hit: any\n      inputs: [amount]\n      outputs: [n]\n      rows: |\n        a: > 0 => 1\n        b: > 1 => 1.0\n",
    );
    let d = decide(&rules, json!({ "id": "a", "subject": "s", "fields": { "amount": 5 } }), TraceLevel::Decisions);
    assert!(d.manual_review.is_none(), "{:?}", d.warnings);
    // A comment where a cell's value should be is refused.
    let chan = "fields: { amount: number, c: list }\ncategories:\n  - id: general\n    set: { category: general }\n  - id: t\n    table:\n      hit: collect\n      inputs: [amount]\n      outputs: [c]\n      rows: |\n        a: > 0 => #ops\n";
    assert_eq!(codes(chan), [(11, "invalid-row".to_string())]);
    assert!(codes(&chan.replace("#ops", "\"#ops\"")).is_empty());
    // A date field takes equality in a condition.
    let rules = compile(
        "fields: { due: date }\ncategories:\n  - id: due-day\n    when: { due: 2026-04-01 }\n    set: { category: due }\n  - id: general\n    set: { category: general }\n",
    );
    let d =
        decide(&rules, json!({ "id": "a", "subject": "s", "fields": { "due": "2026-04-01" } }), TraceLevel::Decisions);
    assert_eq!(d.category.as_ref(), "due");
    // A side table reads the tags an earlier one in its stage added.
    let rules = compile(
        "fields: { seen: bool }\ncategories:\n  - id: general\n    set: { category: general, tags: [t0] }\n  - id: tagger\n    table:\n      hit: collect\n      inputs: [category]\n      outputs: [tags]\n      rows: |\n        - => t1\n  - id: reader\n    table:\n      inputs: [tags]\n      outputs: [seen]\n      rows: |\n        t1 => true\n        -  => false\n",
    );
    let d = decide(&rules, json!({ "id": "a", "subject": "s" }), TraceLevel::Decisions);
    assert_eq!((d.tags.clone(), d.outputs["seen"].clone()), (vec!["t0".to_string(), "t1".to_string()], json!(true)));
}

#[test]
fn collect_count_in_a_priority_table_counts_lowering_rows_down() {
    let rules = compile(&format!(
        "{HEAD}priority:\n  - id: t\n    table:\n      hit: collect count\n      inputs: [users]\n      outputs: [raise, lower]\n      rows: |\n        r1: > 0 => 1 | -\n        r2: > 0 => 1 | -\n        r3: > 0 => - | 1\n"
    ));
    let d = decide(
        &rules,
        json!({ "id": "a", "subject": "s", "priority": "P3", "fields": { "users": 5 } }),
        TraceLevel::Decisions,
    );
    // Two raises and one lowering: one step up.
    assert_eq!(d.priority.as_ref(), "P2");
}

/// An end of a generated interval: a number, or one of the table's other
/// inputs `lo` and `hi`.
#[derive(Debug, Clone, Copy)]
enum End {
    Lit(i32),
    Lo,
    Hi,
}

/// A generated cell of the `users` column, with the semantics the README
/// gives it, to judge the table by.
#[derive(Debug, Clone)]
enum RelCell {
    Any,
    Between(End, End, bool, bool),
    Gt(End),
    Lte(End),
    Eq(End),
    Not(Box<RelCell>),
}

impl End {
    fn text(self) -> String {
        match self {
            End::Lit(x) => x.to_string(),
            End::Lo => "lo".to_string(),
            End::Hi => "hi".to_string(),
        }
    }

    fn value(self, lo: Option<i32>, hi: Option<i32>) -> Option<i32> {
        match self {
            End::Lit(x) => Some(x),
            End::Lo => lo,
            End::Hi => hi,
        }
    }
}

impl RelCell {
    fn text(&self) -> String {
        match self {
            RelCell::Any => "-".to_string(),
            RelCell::Between(a, b, lo_open, hi_open) => format!(
                "{}{}..{}{}",
                if *lo_open { "(" } else { "[" },
                a.text(),
                b.text(),
                if *hi_open { ")" } else { "]" }
            ),
            RelCell::Gt(e) => format!("> {}", e.text()),
            RelCell::Lte(e) => format!("<= {}", e.text()),
            RelCell::Eq(e) => e.text(),
            RelCell::Not(inner) => format!("not({})", inner.text()),
        }
    }

    /// Whether the cell accepts `users` given `lo` and `hi`: a missing value
    /// or bound holds nothing; `not(…)` holds where its cell does not.
    fn holds(&self, users: Option<i32>, lo: Option<i32>, hi: Option<i32>) -> bool {
        let v = |e: &End| e.value(lo, hi);
        match self {
            RelCell::Any => true,
            RelCell::Not(inner) => !inner.holds(users, lo, hi),
            _ if users.is_none() => false,
            RelCell::Between(a, b, lo_open, hi_open) => match (users, v(a), v(b)) {
                (Some(x), Some(a), Some(b)) => {
                    (if *lo_open { x > a } else { x >= a }) && (if *hi_open { x < b } else { x <= b })
                }
                _ => false,
            },
            RelCell::Gt(e) => matches!((users, v(e)), (Some(x), Some(b)) if x > b),
            RelCell::Lte(e) => matches!((users, v(e)), (Some(x), Some(b)) if x <= b),
            RelCell::Eq(e) => matches!((users, v(e)), (Some(x), Some(b)) if x == b),
        }
    }

    /// A literal interval no number can be in is refused when compiling.
    fn compiles(&self) -> bool {
        match self {
            RelCell::Between(End::Lit(a), End::Lit(b), lo_open, hi_open) => a < b || (a == b && !lo_open && !hi_open),
            RelCell::Not(inner) => inner.compiles(),
            _ => true,
        }
    }
}

fn end_strategy() -> impl Strategy<Value = End> {
    prop_oneof![(0i32..20).prop_map(End::Lit), Just(End::Lo), Just(End::Hi)]
}

fn rel_cell_strategy() -> impl Strategy<Value = RelCell> {
    let plain = prop_oneof![
        Just(RelCell::Any),
        (end_strategy(), end_strategy(), any::<bool>(), any::<bool>())
            .prop_map(|(a, b, lo, hi)| RelCell::Between(a, b, lo, hi)),
        end_strategy().prop_map(RelCell::Gt),
        end_strategy().prop_map(RelCell::Lte),
        end_strategy().prop_map(RelCell::Eq),
    ];
    plain.prop_flat_map(|c| {
        let negated = match &c {
            RelCell::Any => RelCell::Any,
            other => RelCell::Not(Box::new(other.clone())),
        };
        prop_oneof![Just(c), Just(negated)]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Cells that name other inputs, mixed with literal ones: the table
    /// (its index and its row-by-row checks) matches exactly the rows the
    /// cells' documented meaning gives, for inputs with and without each
    /// value.
    #[test]
    fn cells_naming_inputs_decide_as_documented(
        cells in prop::collection::vec(rel_cell_strategy().prop_filter("compiles", RelCell::compiles), 1..30),
        inputs in prop::collection::vec(
            (prop::option::of(0i32..25), prop::option::of(0i32..25), prop::option::of(0i32..25)),
            1..20,
        ),
    ) {
        let rows: String = cells.iter().enumerate().map(|(i, c)| format!("        r{i}: {} | - | - => 1\n", c.text())).collect();
        let yaml = format!(
            "fields:\n  users: number\n  lo: number\n  hi: number\n  n: list\ncategories:\n  - id: general\n    set: {{ category: general }}\n  - id: t\n    table:\n      hit: collect\n      inputs: {{ users: users, lo: lo, hi: hi }}\n      outputs: [n]\n      rows: |\n{rows}"
        );
        let (rules, diags) = compile_sources(&[("rules.yaml", &yaml)]);
        let rules = rules.unwrap_or_else(|| panic!("{diags:#?}\n{yaml}"));
        let table = rules.table("t").unwrap();
        for (users, lo, hi) in &inputs {
            let mut input = serde_json::Map::new();
            for (k, v) in [("users", users), ("lo", lo), ("hi", hi)] {
                if let Some(v) = v {
                    input.insert(k.to_string(), json!(v));
                }
            }
            let input = serde_json::Value::Object(input);
            let found: Vec<String> = table.evaluate(&input).unwrap().row_ids().map(str::to_string).collect();
            let expected: Vec<String> = cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c.holds(*users, *lo, *hi))
                .map(|(i, _)| format!("r{i}"))
                .collect();
            prop_assert_eq!(&found, &expected, "input {} rows\n{}", input, rows);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// `collect sum` is exact decimal arithmetic: numbers of up to three
    /// places, of either sign, add to the nearest float to their exact
    /// sum, and a whole sum is written without a fraction.
    #[test]
    fn sums_are_exact_in_decimal(thousandths in prop::collection::vec(-5_000_000i64..5_000_000, 1..12)) {
        let decimal = |t: i64| format!("{}{}.{:03}", if t < 0 { "-" } else { "" }, t.abs() / 1000, t.abs() % 1000);
        let rows: String = thousandths.iter().enumerate().map(|(i, t)| format!("        r{i}: - => {}\n", decimal(*t))).collect();
        let rules = compile(&format!(
            "fields: {{ amount: number, total: number }}\ncategories:\n  - id: general\n    set: {{ category: general }}\n  - id: t\n    table:\n      hit: collect sum\n      inputs: [amount]\n      outputs: [total]\n      rows: |\n{rows}"
        ));
        let d = decide(&rules, json!({ "id": "a", "subject": "s" }), TraceLevel::Decisions);
        let exact: i64 = thousandths.iter().sum();
        let want: f64 = decimal(exact).parse().unwrap();
        let got = &d.outputs["total"];
        prop_assert_eq!(got.as_f64(), Some(want), "{} from {:?}", got, thousandths);
        prop_assert_eq!(got.is_i64(), exact % 1000 == 0, "{}", got);
    }
}
