//! Tests through data: the diagnostics corpus, operator semantics as
//! `check(rules, case, expected)` tables, and properties (determinism, the
//! evaluator against a plain reference, the rule index against a linear
//! scan, the parser never panicking).

use crate::{Case, Directory, Options, compile_sources, triage};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn now() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

// ---------------------------------------------------------------- corpus

const CORPUS: &[(&str, &str)] = &[
    ("alias-bomb.yaml", include_str!("../testdata/diagnostics/alias-bomb.yaml")),
    ("defaults.yaml", include_str!("../testdata/diagnostics/defaults.yaml")),
    ("duplicate-ids.yaml", include_str!("../testdata/diagnostics/duplicate-ids.yaml")),
    ("duplicate-key.yaml", include_str!("../testdata/diagnostics/duplicate-key.yaml")),
    ("fields.yaml", include_str!("../testdata/diagnostics/fields.yaml")),
    ("operators.yaml", include_str!("../testdata/diagnostics/operators.yaml")),
    ("references.yaml", include_str!("../testdata/diagnostics/references.yaml")),
    ("regex.yaml", include_str!("../testdata/diagnostics/regex.yaml")),
    ("shapes.yaml", include_str!("../testdata/diagnostics/shapes.yaml")),
    ("unknown-field.yaml", include_str!("../testdata/diagnostics/unknown-field.yaml")),
    ("unknown-keys.yaml", include_str!("../testdata/diagnostics/unknown-keys.yaml")),
    ("value-types.yaml", include_str!("../testdata/diagnostics/value-types.yaml")),
    ("yaml-syntax.yaml", include_str!("../testdata/diagnostics/yaml-syntax.yaml")),
    ("territories.yaml", include_str!("../testdata/diagnostics/territories.yaml")),
    ("territory-cycle.yaml", include_str!("../testdata/diagnostics/territory-cycle.yaml")),
    ("territory-overlap.yaml", include_str!("../testdata/diagnostics/territory-overlap.yaml")),
    ("normalize.yaml", include_str!("../testdata/diagnostics/normalize.yaml")),
    ("calendars.yaml", include_str!("../testdata/diagnostics/calendars.yaml")),
];

fn expected_markers(text: &str) -> BTreeSet<(u32, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((_, codes)) = line.split_once("# expect:") {
            for code in codes.split(',') {
                out.insert((i as u32 + 1, code.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn diagnostics_corpus_reports_exactly_what_is_marked() {
    let mut failures = Vec::new();
    for (name, text) in CORPUS {
        let (rules, diags) = compile_sources(&[(name, text)]);
        let expected = expected_markers(text);
        assert!(!expected.is_empty(), "{name} marks no expected diagnostic");
        let actual: BTreeSet<(u32, String)> = diags.iter().map(|d| (d.line, d.code.to_string())).collect();
        if actual != expected {
            let shown: Vec<String> = diags.iter().map(|d| format!("  {d}")).collect();
            failures.push(format!(
                "{name}\n  missing: {:?}\n  unexpected: {:?}\n{}",
                expected.difference(&actual).collect::<Vec<_>>(),
                actual.difference(&expected).collect::<Vec<_>>(),
                shown.join("\n")
            ));
        }
        if diags.iter().any(|d| d.is_error()) {
            assert!(rules.is_none(), "{name}: rules with errors must be refused");
        }
        for d in &diags {
            assert_eq!(d.file, *name);
            assert!(d.line >= 1 && d.column >= 1, "{name}: {d} has no position");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn diagnostics_carry_rule_ids_and_suggestions() {
    let text = CORPUS.iter().find(|(n, _)| *n == "unknown-field.yaml").unwrap().1;
    let (_, diags) = compile_sources(&[("unknown-field.yaml", text)]);
    let d = diags.iter().find(|d| d.code == "unknown-field").unwrap();
    assert_eq!(d.rule.as_deref(), Some("outage"));
    assert_eq!(d.help.as_deref(), Some("did you mean `product`?"));
    assert_eq!((d.line, d.column), (4, 7));
    let json = serde_json::to_value(d).unwrap();
    for key in ["code", "severity", "message", "file", "line", "column", "rule", "help"] {
        assert!(json.get(key).is_some(), "json diagnostic lacks `{key}`");
    }
}

#[test]
fn every_file_of_a_set_is_checked_not_just_the_first() {
    let (_, diags) = compile_sources(&[
        ("a.yaml", "categories:\n  - id: x\n    when: { chanel: web }\n    set: { category: x }\n"),
        ("b.yaml", "categories:\n  - id: y\n    set: { category: y, priority: P9 }\n"),
    ]);
    let files: BTreeSet<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    assert_eq!(files, BTreeSet::from(["a.yaml", "b.yaml"]));
}

// ------------------------------------------------------ operator semantics

const FIELDS: &str = "fields:\n  score: number\n  opened: datetime\n  labels: list\n  vip: bool\n";

/// Compiles `when` as the only rule's condition and reports whether `case`
/// (JSON) matches it.
fn matches(when: &str, case: &str) -> bool {
    let yaml = format!(
        "{FIELDS}categories:\n  - id: hit\n    when: {when}\n    set: {{ category: hit }}\n  - id: miss\n    set: {{ category: miss }}\n"
    );
    let (rules, diags) = compile_sources(&[("t.yaml", &yaml)]);
    let rules = rules.unwrap_or_else(|| panic!("{when}: {diags:?}"));
    let case = Case::from_json(case).unwrap();
    let d = triage(&rules, &case, &Directory::new(), now(), &Options::default());
    d.category == "hit"
}

#[test]
fn operators_behave_as_documented() {
    let table: &[(&str, &str, bool)] = &[
        ("{ channel: Email }", r#"{"id":"1","channel":"email"}"#, true),
        ("{ channel: { ne: email } }", r#"{"id":"1"}"#, true),
        ("{ channel: { eq: email } }", r#"{"id":"1"}"#, false),
        ("{ channel: [web, chat] }", r#"{"id":"1","channel":"chat"}"#, true),
        ("{ channel: { not_in: [web, chat] } }", r#"{"id":"1","channel":"chat"}"#, false),
        ("{ subject: { starts_with: 're:' } }", r#"{"id":"1","subject":"RE: invoice"}"#, true),
        ("{ requester.email: { ends_with: '@acme.com' } }", r#"{"id":"1","requester":{"email":"A@ACME.com"}}"#, true),
        ("{ subject: { contains: log in } }", r#"{"id":"1","subject":"cannot log  in"}"#, true),
        ("{ subject: { contains: log } }", r#"{"id":"1","subject":"login page"}"#, false),
        ("{ subject: { contains: 'log*' } }", r#"{"id":"1","subject":"login page"}"#, true),
        ("{ text: { contains_all: [api, down] } }", r#"{"id":"1","subject":"API","body":"is down"}"#, true),
        ("{ text: { contains_all: [api, down] } }", r#"{"id":"1","subject":"API"}"#, false),
        ("{ body: { matches: 'order #\\d+' } }", r#"{"id":"1","body":"ORDER #123"}"#, true),
        ("{ score: { gt: 5 } }", r#"{"id":"1","fields":{"score":5}}"#, false),
        ("{ score: { gte: 5 } }", r#"{"id":"1","fields":{"score":5}}"#, true),
        ("{ score: { between: [1, 5] } }", r#"{"id":"1","fields":{"score":1}}"#, true),
        ("{ score: { lt: 0 } }", r#"{"id":"1"}"#, false),
        ("{ score: { exists: true } }", r#"{"id":"1","fields":{"score":0}}"#, true),
        ("{ score: { missing: true } }", r#"{"id":"1"}"#, true),
        ("{ score: { exists: false } }", r#"{"id":"1"}"#, true),
        (
            "{ opened: { gt: '2026-01-01T00:00:00Z' } }",
            r#"{"id":"1","fields":{"opened":"2026-02-01T00:00:00+01:00"}}"#,
            true,
        ),
        ("{ labels: { contains: VIP } }", r#"{"id":"1","fields":{"labels":["vip","beta"]}}"#, true),
        ("{ labels: { contains_all: [vip, gold] } }", r#"{"id":"1","fields":{"labels":["vip","beta"]}}"#, false),
        ("{ vip: true }", r#"{"id":"1","fields":{"vip":true}}"#, true),
        ("{ not: { vip: true } }", r#"{"id":"1"}"#, true),
        ("{ any: [{ channel: web }, { vip: true }] }", r#"{"id":"1","channel":"web"}"#, true),
        ("[{ channel: web }, { vip: true }]", r#"{"id":"1","channel":"web"}"#, false),
        ("{ country: NO }", r#"{"id":"1","country":"no"}"#, true),
        ("{ postal_code: 01234 }", r#"{"id":"1","postal_code":"01234"}"#, true),
        ("{ number: { gt: 27000 } }", r#"{"id":"1","number":27343}"#, true),
        ("{ age_minutes: { gte: 60 } }", r#"{"id":"1","created_at":"2026-03-02T07:30:00Z"}"#, true),
    ];
    for (when, case, want) in table {
        assert_eq!(matches(when, case), *want, "when {when} on {case}");
    }
}

#[test]
fn full_trace_explains_failed_conditions_with_actual_values() {
    let yaml = "categories:\n  - id: email-only\n    when: { channel: email }\n    set: { category: e }\n  - id: other\n    set: { category: o }\n";
    let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
    let case = Case::from_json(r#"{"id":"1","channel":"chat"}"#).unwrap();
    let d = triage(&rules, &case, &Directory::new(), now(), &Options::full_trace());
    let first = &d.trace[0];
    assert_eq!(first.rule.as_deref(), Some("email-only"));
    assert_eq!(first.line, Some(2));
    assert_eq!(first.why.as_deref(), Some("channel eq email failed: `channel` is `chat`"));
    let lean = triage(&rules, &case, &Directory::new(), now(), &Options::default());
    let rules_in_trace = lean.trace.iter().filter(|t| t.rule.is_some()).count();
    assert_eq!(rules_in_trace, 1, "without full tracing only deciding rules are recorded");
}

// -------------------------------------------------------------- properties

const WORDS: &[&str] =
    &["api", "down", "invoice", "refund", "refunded", "log", "in", "login", "slow", "the", "is", "ärger", "x_y"];

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (prop::sample::select(WORDS), prop::sample::select(&[" ", "  ", ", ", "\n", "-", "."][..])),
        0..12,
    )
    .prop_map(|parts| parts.into_iter().map(|(w, sep)| format!("{w}{sep}")).collect())
}

/// A naive phrase search: every occurrence, checked for word boundaries.
fn naive_contains(text: &str, phrase: &str) -> bool {
    let t = crate::text::normalize(text);
    let (p, prefix) = match phrase.strip_suffix('*') {
        Some(p) => (crate::text::normalize(p), true),
        None => (crate::text::normalize(phrase), false),
    };
    let word = |c: char| c.is_alphanumeric() || c == '_';
    t.match_indices(p.as_str()).any(|(i, m)| {
        let before = t[..i].chars().next_back().is_none_or(|c| !word(c));
        let after = prefix || t[i + m.len()..].chars().next().is_none_or(|c| !word(c));
        before && after
    })
}

/// A condition in a tiny language, rendered to YAML and evaluated directly.
#[derive(Debug, Clone)]
enum R {
    Channel(&'static str),
    ScoreGt(i64),
    Contains(&'static str),
    All(Vec<R>),
    Any(Vec<R>),
    Not(Box<R>),
}

fn r_strategy() -> impl Strategy<Value = R> {
    let leaf = prop_oneof![
        prop::sample::select(&["web", "email", "chat"][..]).prop_map(R::Channel),
        (-2i64..8).prop_map(R::ScoreGt),
        prop::sample::select(&["api", "down", "log in", "refund*", "ärger", "is down"][..]).prop_map(R::Contains),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(R::All),
            prop::collection::vec(inner.clone(), 1..3).prop_map(R::Any),
            inner.prop_map(|r| R::Not(Box::new(r))),
        ]
    })
}

fn r_yaml(r: &R) -> String {
    match r {
        R::Channel(c) => format!("{{ channel: {{ eq: {c} }} }}"),
        R::ScoreGt(n) => format!("{{ score: {{ gt: {n} }} }}"),
        R::Contains(p) => format!("{{ text: {{ contains: '{p}' }} }}"),
        R::All(items) => format!("{{ all: [{}] }}", items.iter().map(r_yaml).collect::<Vec<_>>().join(", ")),
        R::Any(items) => format!("{{ any: [{}] }}", items.iter().map(r_yaml).collect::<Vec<_>>().join(", ")),
        R::Not(inner) => format!("{{ not: {} }}", r_yaml(inner)),
    }
}

/// `text` is subject and body, each searched on its own: a phrase never
/// spans the two.
fn r_eval(r: &R, channel: &str, score: Option<i64>, text: &[&str; 2]) -> bool {
    match r {
        R::Channel(c) => channel == *c,
        R::ScoreGt(n) => score.is_some_and(|s| s > *n),
        R::Contains(p) => text.iter().any(|part| naive_contains(part, p)),
        R::All(items) => items.iter().all(|i| r_eval(i, channel, score, text)),
        R::Any(items) => items.iter().any(|i| r_eval(i, channel, score, text)),
        R::Not(inner) => !r_eval(inner, channel, score, text),
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(&["web", "email", "chat", "phone"][..]),
        prop::option::of(-3i64..10),
        text_strategy(),
        text_strategy(),
        prop::sample::select(&["acme-de", "smallco", "nobody", ""][..]),
    )
        .prop_map(|(channel, score, subject, body, account)| {
            let mut case = Case {
                id: "p".into(),
                channel: Some(channel.into()),
                subject: Some(subject),
                body: Some(body),
                account: (!account.is_empty()).then(|| account.to_string()),
                ..Default::default()
            };
            if let Some(s) = score {
                case.fields.insert("score".into(), serde_json::json!(s));
            }
            case
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn evaluator_agrees_with_reference(r in r_strategy(), case in case_strategy()) {
        let yaml = format!(
            "fields:\n  score: number\ncategories:\n  - id: hit\n    when: {}\n    set: {{ category: hit }}\n  - id: miss\n    set: {{ category: miss }}\n",
            r_yaml(&r)
        );
        let (rules, diags) = compile_sources(&[("p.yaml", &yaml)]);
        let rules = rules.unwrap_or_else(|| panic!("{yaml}\n{diags:?}"));
        let text = [case.subject.as_deref().unwrap_or(""), case.body.as_deref().unwrap_or("")];
        let score = case.fields.get("score").and_then(serde_json::Value::as_i64);
        let want = r_eval(&r, case.channel.as_deref().unwrap_or(""), score, &text);
        for opts in [Options::default(), Options::full_trace()] {
            let d = triage(&rules, &case, &Directory::new(), now(), &opts);
            prop_assert_eq!(d.category == "hit", want, "{}", yaml);
        }
    }

    #[test]
    fn phrase_automaton_agrees_with_naive_search(text in text_strategy(), picks in prop::collection::vec(0usize..WORDS.len(), 1..4), prefix in any::<bool>()) {
        let mut phrase = picks.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ");
        if prefix {
            phrase.push('*');
        }
        let mut b = crate::text::TextBuilder::default();
        let id = b.phrase(0, &phrase).unwrap();
        let idx = b.build().unwrap();
        let hits = idx.scan(|_| [Some(text.as_str()), None]);
        prop_assert_eq!(hits.phrases.get(id as usize), naive_contains(&text, &phrase), "{:?} in {:?}", phrase, text);
    }

    #[test]
    fn decisions_are_deterministic(case in case_strategy()) {
        // Two independent compiles of the same sources, made once.
        static TWICE: std::sync::OnceLock<(crate::CompiledRules, crate::CompiledRules)> = std::sync::OnceLock::new();
        let (rules_a, rules_b) = TWICE.get_or_init(|| (global_rules(), global_rules()));
        let dir = global_directory();
        let a = serde_json::to_string(&triage(rules_a, &case, &dir, now(), &Options::full_trace())).unwrap();
        let b = serde_json::to_string(&triage(rules_b, &case, &dir, now(), &Options::full_trace())).unwrap();
        prop_assert_eq!(&a, &b);
        let c = std::thread::scope(|s| {
            s.spawn(|| serde_json::to_string(&triage(rules_a, &case, &dir, now(), &Options::full_trace())).unwrap())
                .join()
                .unwrap()
        });
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn rule_index_picks_the_same_rule_as_a_linear_scan(
        rules_spec in prop::collection::vec((0usize..4, 0usize..4, 0usize..3, any::<bool>()), 16..60),
        case_pick in (0usize..5, 0usize..5, 0usize..3, text_strategy()),
    ) {
        let channels = ["web", "email", "chat", "phone"];
        let regions = ["emea", "amer", "apac", "latam"];
        let mut yaml = String::from("fields:\n  zone: string\n  level: number\ncategories:\n");
        for (i, (ch, rg, tier, word)) in rules_spec.iter().enumerate() {
            let mut conds = vec![format!("channel: {}", channels[*ch])];
            if *rg < 3 { conds.push(format!("zone: {{ in: [{}, {}] }}", regions[*rg], regions[rg + 1])); }
            if *tier < 2 { conds.push(format!("level: {tier}")); }
            if *word { conds.push("text: { contains: down }".to_string()); }
            yaml.push_str(&format!("  - id: r{i}\n    when: {{ {} }}\n    set: {{ category: r{i} }}\n", conds.join(", ")));
        }
        yaml.push_str("  - id: default\n    set: { category: default }\n");
        let rules = compile_sources(&[("i.yaml", &yaml)]).0.unwrap();
        let (ch, rg, tier, text) = case_pick;
        let mut case = Case { id: "i".into(), subject: Some(text), ..Default::default() };
        if ch < 4 { case.channel = Some(channels[ch].to_uppercase()); }
        if rg < 4 { case.fields.insert("zone".into(), serde_json::json!(regions[rg])); }
        case.fields.insert("level".into(), serde_json::json!(tier));
        let d = triage(&rules, &case, &Directory::new(), now(), &Options::default());
        let linear = crate::eval::first_category_linear(&rules, &case, &Directory::new(), now());
        prop_assert_eq!(Some(d.category.to_string()), linear);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = compile_sources(&[("fuzz.yaml", &text)]);
        let _ = crate::testing::parse_tests("fuzz.test.yaml", &text);
    }

    #[test]
    fn parser_never_panics_on_yamlish_text(parts in prop::collection::vec(prop::sample::select(&[
        "categories:", "\n", "  - ", "id: x", "when:", "{", "}", "[", "]", ",", ": ", "&a ", "*a", "all:", "any:", "not:",
        "subject:", "contains_any:", "matches: '(", "set:", "category: y", "tier: 0", "'", "\"", "#", "? ", "- ", "!!str ",
    ][..]), 0..40)) {
        let text: String = parts.concat();
        let _ = compile_sources(&[("fuzz.yaml", &text)]);
    }
}

fn global_rules() -> crate::CompiledRules {
    // The example set up to its knowledge articles (escalation and
    // assignment rules are tested elsewhere).
    let (rules, diags) = compile_sources(&crate::reader_tests::RULE_FILES[..9]);
    rules.unwrap_or_else(|| panic!("{diags:?}"))
}

fn global_directory() -> Directory {
    Directory::from_text("directory.yaml", include_str!("../../../rules/global-support/directory.yaml")).unwrap()
}

#[test]
fn the_rules_version_is_a_stable_hash_of_the_sources() {
    let a = global_rules();
    assert_eq!(a.version(), global_rules().version());
    let (b, _) = compile_sources(&[("x.yaml", "categories:\n  - id: a\n    set: { category: a }\n")]);
    assert_ne!(a.version(), b.unwrap().version());
}

#[test]
fn compiled_rules_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<crate::CompiledRules>();
    shareable::<Directory>();
}

// ---------------------------------------------------------- normalization

fn normalizer() -> crate::normalize::Normalizer {
    crate::normalize::Normalizer::build(&[], &mut Vec::new())
}

#[test]
fn every_iso_code_and_english_name_normalizes_to_its_alpha2() {
    let n = normalizer();
    let mut wrong = Vec::new();
    for c in rust_iso3166::ALL {
        for raw in
            [c.alpha2.to_string(), c.alpha3.to_string(), c.alpha3.to_lowercase(), c.name.to_string(), c.numeric_str()]
        {
            let got = n.country(&raw).map(|x| x.0);
            if got.as_deref() != Some(c.alpha2) {
                wrong.push(format!("{raw} → {got:?}, want {}", c.alpha2));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn built_in_names_never_contradict_iso_names() {
    // An alias must not steal an ISO name or code from its country.
    let n = normalizer();
    for c in rust_iso3166::ALL {
        assert_eq!(n.country(c.name).map(|x| x.0).as_deref(), Some(c.alpha2), "{}", c.name);
    }
}

fn location_strategy() -> impl Strategy<Value = (Option<String>, Option<String>, Option<String>, Option<String>)> {
    let countries = prop::sample::select(
        &[
            "Deutschland",
            "DEU",
            "germany ",
            "U.S.A.",
            "uk",
            "Österreich",
            "Schweiz",
            "日本",
            "Atlantis",
            "",
            "NO",
            "826",
            "Brasil",
            "south korea",
        ][..],
    );
    let regions = prop::sample::select(&["Bayern", "DE-BY", "California", "by", "Narnia", ""][..]);
    let postal = prop::sample::select(&[" 80331 ", "sw1a 1aa", "8001", "ABC", "10001-1234", ""][..]);
    let languages = prop::sample::select(&["German", "de_de", "Deutsch", "pt-br", "xx", "日本語", ""][..]);
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    (countries, regions, postal, languages).prop_map(move |(c, r, p, l)| (some(c), some(r), some(p), some(l)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn normalization_is_idempotent((country, region, postal, language) in location_strategy()) {
        let n = normalizer();
        let (once, _) = n.normalize(country.as_deref(), region.as_deref(), postal.as_deref(), language.as_deref(), None, None);
        let (twice, _) = n.normalize(
            once.country.as_deref(),
            once.region.as_deref(),
            once.postal_code.as_deref(),
            once.language.as_deref(),
            None,
            None,
        );
        prop_assert_eq!(&once, &twice);
    }

    #[test]
    fn territory_does_not_depend_on_directory_order(
        (country, region, postal, _) in location_strategy(),
        account in prop::sample::select(&["acme-de", "acme-global", "jbl-pro", "initech-uk", "smallco", "none"][..]),
        seed in any::<u64>(),
    ) {
        static RULES: std::sync::OnceLock<crate::CompiledRules> = std::sync::OnceLock::new();
        let rules = RULES.get_or_init(global_rules);
        let text = include_str!("../../../rules/global-support/directory.yaml");
        let node = crate::syntax::parse("d", text).unwrap().to_json();
        let mut accounts: Vec<crate::Account> = serde_json::from_value(node["accounts"].clone()).unwrap();
        let forward = Directory::from_accounts(accounts.clone()).unwrap();
        // A seeded shuffle: the same on every machine.
        let mut state = seed;
        for i in (1..accounts.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            accounts.swap(i, (state >> 33) as usize % (i + 1));
        }
        let shuffled = Directory::from_accounts(accounts).unwrap();
        let case = Case { id: "o".into(), country, region, postal_code: postal, account: Some(account.into()), ..Default::default() };
        let a = triage(rules, &case, &forward, now(), &Options::full_trace());
        let b = triage(rules, &case, &shuffled, now(), &Options::full_trace());
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}

// ---------------------------------------------------------- business time

/// Calendars that stress the arithmetic: DST in both hemispheres, windows
/// inside the spring gap and the autumn overlap, a night shift, split shifts
/// with holidays, and 24x7.
fn calendars() -> crate::CompiledRules {
    let yaml = r#"
calendars:
  - id: new-york
    timezone: America/New_York
    hours: { mon-fri: ["08:00-12:00", "13:00-17:00"], sun: ["01:30-03:30"] }
    holidays: [2026-11-26, { date: 2026-12-24, from: "12:00" }]
  - id: berlin-nights
    timezone: Europe/Berlin
    hours: { daily: ["22:00-06:00"] }
    holidays: [2026-12-25]
  - id: sydney
    timezone: Australia/Sydney
    hours: { weekdays: ["00:00-03:00", "09:00-17:00"], sun: ["02:00-24:00"] }
    include_holidays: [berlin-nights]
  - id: always
    hours: 24x7
categories:
  - id: general
    set: { category: general }
"#;
    compile_sources(&[("cal.yaml", yaml)]).0.unwrap()
}

const CALENDARS: [&str; 4] = ["new-york", "berlin-nights", "sydney", "always"];

/// Instants around 2026's DST changes (US: Mar 8, Nov 1; EU: Mar 29, Oct
/// 25; Sydney: Apr 5, Oct 4), holidays, and a plain stretch.
fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    let anchors = prop::sample::select(
        &[
            "2026-03-07T00:00:00Z",
            "2026-03-28T12:00:00Z",
            "2026-04-04T00:00:00Z",
            "2026-10-03T12:00:00Z",
            "2026-10-24T12:00:00Z",
            "2026-10-31T12:00:00Z",
            "2026-11-25T00:00:00Z",
            "2026-12-23T00:00:00Z",
            "2026-06-10T08:00:00Z",
        ][..],
    );
    (anchors, 0i64..(4 * 24 * 60))
        .prop_map(|(a, minutes)| a.parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(minutes))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn add_then_measure_returns_the_duration(cal in prop::sample::select(&CALENDARS[..]), start in instant_strategy(), minutes in 0i64..(3 * 24 * 60)) {
        let rules = calendars();
        let cal = rules.calendar(cal).unwrap();
        let d = chrono::Duration::minutes(minutes);
        let end = cal.add(start, d).unwrap();
        prop_assert!(end >= start);
        prop_assert_eq!(cal.between(start, end).unwrap(), d);
    }

    #[test]
    fn long_durations_measure_back_exactly(cal in prop::sample::select(&CALENDARS[..]), start in instant_strategy(), hours in 0i64..250) {
        // Long enough to skip whole weeks across DST changes and holidays.
        let rules = calendars();
        let cal = rules.calendar(cal).unwrap();
        let d = chrono::Duration::hours(hours) + chrono::Duration::minutes(hours % 60);
        let end = cal.add(start, d).unwrap();
        prop_assert_eq!(cal.between(start, end).unwrap(), d);
        // A deadline falls on business time: the minute before it was open.
        if hours > 0 {
            prop_assert!(cal.between(end - chrono::Duration::minutes(1), end).unwrap() > chrono::Duration::zero());
        }
    }

    #[test]
    fn add_is_monotonic_in_both_arguments(
        cal in prop::sample::select(&CALENDARS[..]),
        s1 in instant_strategy(),
        gap in 0i64..(2 * 24 * 60),
        d1 in 0i64..(2 * 24 * 60),
        extra in 0i64..600,
    ) {
        let rules = calendars();
        let cal = rules.calendar(cal).unwrap();
        let s2 = s1 + chrono::Duration::minutes(gap);
        let (d1, d2) = (chrono::Duration::minutes(d1), chrono::Duration::minutes(d1 + extra));
        prop_assert!(cal.add(s1, d1).unwrap() <= cal.add(s1, d2).unwrap());
        prop_assert!(cal.add(s1, d1).unwrap() <= cal.add(s2, d1).unwrap());
        let end = s2 + chrono::Duration::minutes(extra);
        prop_assert!(cal.between(s1, end).unwrap() >= cal.between(s2, end).unwrap());
        prop_assert!(cal.between(s1, end).unwrap() >= cal.between(s1, s2).unwrap());
    }

    #[test]
    fn open_instants_and_next_opening_agree(cal in prop::sample::select(&CALENDARS[..]), t in instant_strategy()) {
        let rules = calendars();
        let cal = rules.calendar(cal).unwrap();
        let next = cal.next_opening(t).unwrap();
        prop_assert!(next >= t);
        prop_assert!(cal.is_open(next));
        prop_assert_eq!(cal.is_open(t), next == t);
        // Nothing is open between `t` and the next opening.
        prop_assert_eq!(cal.between(t, next).unwrap(), chrono::Duration::zero());
    }

    #[test]
    fn the_ends_of_the_supported_years_error_instead_of_looping(cal in prop::sample::select(&CALENDARS[..]), minutes in 0i64..(60 * 24 * 60)) {
        let rules = calendars();
        let cal = rules.calendar(cal).unwrap();
        let late: DateTime<Utc> = "2199-12-01T00:00:00Z".parse().unwrap();
        let r = cal.add(late, chrono::Duration::minutes(minutes) * 2);
        prop_assert!(r.is_ok() || r == Err(crate::CalendarError::OutOfRange));
        let early: DateTime<Utc> = "1969-12-31T23:00:00Z".parse().unwrap();
        prop_assert_eq!(cal.add(early, chrono::Duration::minutes(minutes)), Err(crate::CalendarError::OutOfRange));
    }
}

#[test]
fn business_hours_across_daylight_saving_changes() {
    let rules = calendars();
    let ny = rules.calendar("new-york").unwrap();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // Sunday 01:30-03:30 on the spring-forward night (02:00 → 03:00):
    // only 01:30-02:00 and 03:00-03:30 exist, one real hour.
    assert_eq!(ny.between(t("2026-03-07T12:00:00Z"), t("2026-03-08T12:00:00Z")).unwrap(), chrono::Duration::hours(1));
    // The same window on the fall-back night (02:00 → 01:00): from the first
    // 01:30 to 03:30 is three real hours.
    assert_eq!(ny.between(t("2026-10-31T12:00:00Z"), t("2026-11-01T12:00:00Z")).unwrap(), chrono::Duration::hours(3));
    // Thanksgiving is closed; Christmas Eve closes at noon.
    assert_eq!(ny.between(t("2026-11-26T00:00:00Z"), t("2026-11-27T00:00:00Z")).unwrap(), chrono::Duration::zero());
    assert_eq!(ny.between(t("2026-12-24T00:00:00Z"), t("2026-12-25T00:00:00Z")).unwrap(), chrono::Duration::hours(4));
    // Sydney includes Berlin's holidays: 25 December is closed there too.
    let syd = rules.calendar("sydney").unwrap();
    assert!(!syd.is_open(t("2026-12-24T23:00:00Z")), "10:00 on 25 December in Sydney");
}

#[test]
fn rules_version_hashes_content_and_paths_inside_the_rule_directory_only() {
    let a = "categories: [{ id: g, set: { category: general } }]";
    let b = "priority: []";
    let version = |names: [&str; 2]| {
        let (rules, diags) = compile_sources(&[(names[0], a), (names[1], b)]);
        rules.unwrap_or_else(|| panic!("{diags:?}")).version().to_string()
    };
    let typed = version(["rules/10-a.yaml", "rules/20-b.yaml"]);
    for names in [
        ["./rules/10-a.yaml", "./rules/20-b.yaml"],
        ["/srv/support/rules/10-a.yaml", "/srv/support/rules/20-b.yaml"],
        ["10-a.yaml", "20-b.yaml"],
        ["./10-a.yaml", "./20-b.yaml"],
    ] {
        assert_eq!(version(names), typed, "{names:?}");
    }
    // The layout inside the directory and the content still count.
    assert_ne!(version(["rules/10-a.yaml", "rules/sub/20-b.yaml"]), typed);
    assert_ne!(version(["rules/10-a.yaml", "rules/21-b.yaml"]), typed);
    let (changed, _) = compile_sources(&[("rules/10-a.yaml", a), ("rules/20-b.yaml", "priority: [] # note")]);
    assert_ne!(changed.map(|r| r.version().to_string()), Some(typed));
}

#[test]
fn keywords_in_chinese_and_japanese_match_as_rule_authors_write_them() {
    let yaml = r#"
categories:
  - id: outage-ja
    when: { body: { contains: 障害 } }
    set: { category: outage }
  - id: refund-zh
    when: { body: { contains: 退款 } }
    set: { category: billing }
  - id: refund-en
    when: { body: { contains: refund } }
    set: { category: billing-en }
  - id: care
    when: { body: { contains: car } }
    set: { category: vehicles }
  - id: other
    set: { category: general }
"#;
    let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
    for (body, want) in [
        ("システム障害が発生しました", "outage"),
        ("我要申请退款", "billing"),
        ("请帮我refund这个订单", "billing-en"),
        ("our daycare booking", "general"),
    ] {
        let case = Case { id: "c".into(), body: Some(body.into()), ..Default::default() };
        let d = triage(&rules, &case, &Directory::new(), now(), &Options::default());
        assert_eq!(d.category.as_str(), want, "{body}");
    }
}

#[test]
fn an_enum_value_outside_the_declared_list_is_a_field_type_warning() {
    let yaml = r#"
fields:
  severity: { type: enum, values: [sev1, sev2, sev3, sev4] }
categories:
  - id: sev1
    when: { severity: sev1 }
    set: { category: incident }
  - id: other
    set: { category: general }
"#;
    let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
    let decide = |value: serde_json::Value| {
        let case = Case {
            id: "c".into(),
            fields: [("severity".to_string(), value)].into_iter().collect(),
            ..Default::default()
        };
        triage(&rules, &case, &Directory::new(), now(), &Options::default())
    };
    let d = decide(serde_json::json!("sev9"));
    let w = d.warnings.iter().find(|w| w.code == "field-type").unwrap_or_else(|| panic!("{:?}", d.warnings));
    assert!(w.message.contains("one of sev1, sev2, sev3, sev4") && w.message.contains("sev9"), "{}", w.message);
    assert_eq!(d.category.as_str(), "general");
    let d = decide(serde_json::json!(" SEV1 "));
    assert!(d.warnings.iter().all(|w| w.code != "field-type"), "{:?}", d.warnings);
    assert_eq!(d.category.as_str(), "incident");
    assert!(decide(serde_json::json!(3)).warnings.iter().any(|w| w.code == "field-type"));
    assert!(decide(serde_json::json!(true)).warnings.iter().any(|w| w.code == "field-type"));
}

/// A text field given `true` or a number (as a CSV cell reads) takes its
/// text.
#[test]
fn a_text_field_takes_a_number_or_a_truth_value_as_its_text() {
    let yaml = r#"
fields:
  error_code: { type: string }
  users: { type: number }
categories:
  - id: many
    when: { users: { gte: 12 } }
    set: { category: many }
  - id: flagged
    when: { error_code: "true" }
    set: { category: flagged }
  - id: numbered
    when: { error_code: "404" }
    set: { category: numbered }
  - id: other
    set: { category: general }
"#;
    let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
    let decide = |field: &str, value: serde_json::Value| {
        let case =
            Case { id: "c".into(), fields: [(field.to_string(), value)].into_iter().collect(), ..Default::default() };
        triage(&rules, &case, &Directory::new(), now(), &Options::default())
    };
    // A number field reads a number written as text.
    assert_eq!(decide("users", serde_json::json!("0012")).category.as_str(), "many");
    for (value, category) in [(serde_json::json!(true), "flagged"), (serde_json::json!(404), "numbered")] {
        let d = decide("error_code", value);
        assert!(d.warnings.iter().all(|w| w.code != "field-type"), "{:?}", d.warnings);
        assert_eq!(d.category.as_str(), category);
    }
}

// ------------------------------------------------------- hostile rule sets

/// Rule sets that once took tens of seconds (see the `hostile` benchmark
/// for their time): they compile, decide and lint correctly.
#[test]
fn hostile_rule_sets_compile_decide_and_lint() {
    let keywords: Vec<String> = (1..=20_000).map(|i| format!("kw{i}")).collect();
    let periodic = "ab ".repeat(10_000);
    let yaml = format!(
        "categories:\n  - id: many\n    when: {{ subject: {{ contains_any: [{}] }} }}\n    set: {{ category: many }}\n  - id: periodic\n    when: {{ body: {{ contains: \"{}\" }} }}\n    set: {{ category: periodic }}\n  - id: refund\n    when: {{ subject: {{ contains: refund }} }}\n    set: {{ category: billing }}\n  - id: refund-again\n    when: {{ subject: {{ contains: refund }} }}\n    set: {{ category: other }}\n  - id: general\n    set: {{ category: general }}\n",
        keywords.join(", "),
        periodic.trim()
    );
    let (rules, diags) = compile_sources(&[("hostile.yaml", &yaml)]);
    let rules = rules.unwrap_or_else(|| panic!("{diags:?}"));
    let category = |subject: &str, body: &str| {
        let case =
            Case::from_json(&serde_json::json!({"id": "c", "subject": subject, "body": body}).to_string()).unwrap();
        triage(&rules, &case, &Directory::default(), now(), &Options::default()).category.to_string()
    };
    assert_eq!(category("about kw19999 again", ""), "many");
    assert_eq!(category("about kw200000", &periodic), "periodic");
    assert_eq!(category("a refund", "ab ab"), "billing");
    // The lint's time is bounded, and the big `any` leaves it budget for
    // the rest: the copy of `refund` is still found unreachable.
    let found = crate::lint(&rules);
    let unreachable: Vec<_> =
        found.iter().filter(|d| d.code == "unreachable-rule").filter_map(|d| d.rule.clone()).collect();
    assert_eq!(unreachable, ["refund-again"]);
}
