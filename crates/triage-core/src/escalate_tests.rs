//! Properties and edge cases of SLA replay and escalation: asking often or
//! rarely fires the same keys, `next_check_at` never sleeps through a
//! firing, and histories that cannot be replayed are refused by event.

use crate::{CaseState, CompiledRules, Directory, Escalation, Options, compile_sources, escalate};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const RULES: &str = r#"
calendars:
  - id: office
    timezone: America/New_York
    hours: { mon-fri: ["08:00-12:00", "13:00-18:00"] }
sla:
  - id: urgent
    when: { priority: P1 }
    calendar: office
    targets: { first_response: 30m, next_response: 1h, resolution: 4h, update: 45m }
  - id: normal
    calendar: office
    targets: { first_response: 1h, next_response: 2h, resolution: 8h }
categories: [{ id: general, set: { category: general, priority: P3 } }]
escalation:
  - id: warn
    when: { sla.first_response.used: { gte: 50% }, sla.first_response.state: running }
    do: [{ notify: team_lead, business_hours: true }]
  - id: next-warn
    level: 2
    when: { sla.next_response.used: { gt: 75% } }
    do: [{ notify: team_lead }]
  - id: breach
    level: 3
    when:
      any:
        - sla.first_response.breached: true
        - sla.resolution.breached: true
        - sla.update.state: breached
    do: [{ notify: manager }, { raise_tier: 1 }]
  - id: big
    level: 4
    when: { priority: P1 }
    do: [{ open_escalation: { milestones: [{ after: 1h, notify: leadership }] } }]
  - id: aged
    when: { age_minutes: { gte: 150 } }
    do: [{ admin_alert: old }]
  - id: reopened
    when: { reopen_count: { gte: 1 } }
    do: [{ set_tier: 3 }]
"#;

fn rules() -> &'static CompiledRules {
    static RULES_ONCE: OnceLock<CompiledRules> = OnceLock::new();
    RULES_ONCE.get_or_init(|| {
        let (rules, diags) = compile_sources(&[("escalation.yaml", RULES)]);
        assert!(diags.is_empty(), "{diags:?}");
        rules.unwrap()
    })
}

/// Monday 2026-03-09 07:30 in New York, the day after the spring change.
fn start() -> DateTime<Utc> {
    "2026-03-09T07:30:00-04:00".parse().unwrap()
}

fn state(events: &[(i64, &str)]) -> CaseState {
    let mut list = vec![format!(r#"{{"at": "{}", "kind": "created"}}"#, start().to_rfc3339())];
    for (minute, what) in events {
        let at = (start() + Duration::minutes(*minute)).to_rfc3339();
        let body = match *what {
            "waiting" => r#""kind": "status_changed", "status": "waiting_on_customer""#.to_string(),
            "open" => r#""kind": "status_changed", "status": "open""#.to_string(),
            "solved" => r#""kind": "status_changed", "status": "solved""#.to_string(),
            "P1" | "P3" => format!(r#""kind": "priority_changed", "priority": "{what}""#),
            kind => format!(r#""kind": "{kind}""#),
        };
        list.push(format!(r#"{{"at": "{at}", {body}}}"#));
    }
    let json = format!(
        r#"{{"case": {{"id": "c1", "number": 7, "created_at": "{}", "subject": "help"}}, "events": [{}]}}"#,
        start().to_rfc3339(),
        list.join(", ")
    );
    CaseState::from_json(&json).unwrap()
}

fn ask(s: &CaseState, now: DateTime<Utc>) -> Escalation {
    escalate(rules(), s, &Directory::new(), now, &Options::default()).unwrap()
}

/// Every key fired (due or waiting) and when it fired.
fn fired(e: &Escalation) -> BTreeMap<String, Option<DateTime<Utc>>> {
    e.actions.iter().chain(&e.pending).map(|a| (a.key.clone(), a.fired_at)).collect()
}

fn events_strategy() -> impl Strategy<Value = Vec<(i64, &'static str)>> {
    let kinds = prop::sample::select(
        &["agent_replied", "customer_replied", "waiting", "open", "solved", "P1", "P3", "assigned"][..],
    );
    prop::collection::vec((0i64..60, kinds), 0..8).prop_map(|steps| {
        let mut t = 0;
        steps
            .into_iter()
            .map(|(gap, k)| {
                t += gap;
                (t, k)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Asking every minute fires exactly the keys that asking once at the
    /// end does, at the same instants; nothing is missed or doubled.
    #[test]
    fn the_asking_cadence_changes_nothing(events in events_strategy()) {
        let s = state(&events);
        let end = start() + Duration::minutes(300);
        let once = fired(&ask(&s, end));
        let mut seen: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
        let mut previous: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
        for minute in 0..=300 {
            let now = start() + Duration::minutes(minute);
            let got = fired(&ask(&s, now));
            for (k, at) in &previous {
                prop_assert_eq!(got.get(k), Some(at), "key {} changed or vanished at {}", k, now);
            }
            for (k, at) in &got {
                if let Some(before) = seen.insert(k.clone(), *at) {
                    prop_assert_eq!(before, *at);
                }
            }
            previous = got;
        }
        prop_assert_eq!(seen, once);
    }

    /// Between `now` and `next_check_at` (or the next event) nothing new
    /// fires or falls due: a scheduler may sleep until then.
    #[test]
    fn next_check_at_never_sleeps_through_a_firing(events in events_strategy(), from in 0i64..240) {
        let s = state(&events);
        let t0 = start() + Duration::minutes(from);
        let first = ask(&s, t0);
        let due = |e: &Escalation| e.actions.iter().map(|a| a.key.clone()).collect::<Vec<_>>();
        let next_event = events.iter().map(|(m, _)| start() + Duration::minutes(*m)).find(|t| *t > t0);
        let until = [first.next_check_at, next_event].into_iter().flatten().min();
        let until = until.unwrap_or(t0 + Duration::minutes(300));
        let mut t = t0 + Duration::seconds(30);
        while t < until && t < t0 + Duration::minutes(300) {
            let later = ask(&s, t);
            prop_assert_eq!(due(&later), due(&first), "something fired at {} before {}", t, until);
            t += Duration::seconds(30);
        }
    }

    /// The same history gives the same answer, byte for byte.
    #[test]
    fn escalation_is_deterministic(events in events_strategy(), at in 0i64..400) {
        let s = state(&events);
        let now = start() + Duration::minutes(at);
        let a = serde_json::to_string(&ask(&s, now)).unwrap();
        let b = serde_json::to_string(&ask(&s, now)).unwrap();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn a_business_hours_notification_waits_for_the_opening() {
    // 50 % of an hour's first response is 08:30, inside hours; a case
    // opened at 11:45 reaches it at 13:15 after lunch.
    let s = CaseState::from_json(r#"{"case": {"id": "c2", "created_at": "2026-03-09T11:45:00-04:00"}, "events": []}"#)
        .unwrap();
    let e = ask(&s, "2026-03-09T13:20:00-04:00".parse().unwrap());
    let warn = e.actions.iter().find(|a| a.rule.as_deref() == Some("warn")).unwrap();
    assert_eq!(warn.fired_at, Some("2026-03-09T13:15:00-04:00".parse().unwrap()));
    assert_eq!(warn.due_at, warn.fired_at);
}

#[test]
fn restart_on_priority_change_opens_new_cycles() {
    let yaml = RULES.replace("calendars:", "settings: { sla_clock: { on_priority_change: restart } }\ncalendars:");
    let rules = compile_sources(&[("r.yaml", &yaml)]).0.unwrap();
    let s = state(&[(60, "P1")]);
    let e = escalate(&rules, &s, &Directory::new(), start() + Duration::minutes(90), &Options::default()).unwrap();
    let sla = e.sla.unwrap();
    assert_eq!(sla.policy, "urgent");
    let fr = sla.metrics.first_response.unwrap();
    assert_eq!((fr.cycle, fr.started_at), (2, start() + Duration::minutes(60)));
    assert_eq!(fr.elapsed_minutes, 30);
    // Kept start: the urgent target is measured from the original start.
    let kept = ask(&s, start() + Duration::minutes(90)).sla.unwrap().metrics.first_response.unwrap();
    assert_eq!((kept.cycle, kept.state), (1, "breached"));
}

#[test]
fn histories_that_cannot_be_replayed_name_the_event() {
    let bad = |events: &str| {
        let json = format!(r#"{{"case": {{"id": "c", "created_at": "2026-03-09T08:00:00Z"}}, "events": [{events}]}}"#);
        let s = CaseState::from_json(&json).unwrap();
        escalate(rules(), &s, &Directory::new(), "2026-03-10T00:00:00Z".parse().unwrap(), &Options::default())
            .unwrap_err()
    };
    let e = bad(
        r#"{"at": "2026-03-09T10:00:00Z", "kind": "agent_replied"}, {"at": "2026-03-09T09:00:00Z", "kind": "customer_replied"}"#,
    );
    assert_eq!(e.event, Some(1));
    assert!(e.to_string().contains("earlier than the event before"), "{e}");
    let e = bad(r#"{"at": "2026-03-09T10:00:00Z", "kind": "priority_changed", "priority": "P9"}"#);
    assert!(e.to_string().starts_with("event 0: priority `P9` is not on the scale"), "{e}");
    let e = bad(r#"{"at": "2026-03-09T10:00:00Z", "kind": "status_changed"}"#);
    assert!(e.to_string().contains("needs `status`"), "{e}");
    let e = bad(r#"{"at": "2026-03-09T07:00:00Z", "kind": "agent_replied"}"#);
    assert!(e.to_string().contains("before the case was created"), "{e}");
    let e = bad(r#"{"at": "2026-03-09T09:00:00Z", "kind": "tier_changed", "tier": 7}"#);
    assert!(e.to_string().contains("tier must be 0 to 3"), "{e}");
    let parse = CaseState::from_json(r#"{"case": {"id": "c"}, "events": [{"at": "soon", "kind": "created"}]}"#);
    assert!(parse.unwrap_err().message.contains("events[0].at"));
    let parse =
        CaseState::from_json(r#"{"case": {"id": "c"}, "events": [{"at": "2026-03-09T09:00:00Z", "kind": "phoned"}]}"#);
    assert!(parse.unwrap_err().message.contains("phoned"));
}

#[test]
fn related_values_out_of_range_are_refused_and_null_is_nothing() {
    let with = |related: &str| {
        CaseState::from_json(&format!(
            r#"{{"case": {{"id": "c", "created_at": "2026-03-09T08:00:00Z"}}, "events": [], "related": {related}}}"#
        ))
    };
    let refused = |related: &str| {
        let s = with(related).unwrap();
        escalate(rules(), &s, &Directory::new(), "2026-03-10T00:00:00Z".parse().unwrap(), &Options::default())
            .unwrap_err()
            .to_string()
    };
    assert!(refused(r#"{"duplicate_score": 1.5}"#).contains("from 0 to 1"));
    assert!(refused(r#"{"duplicate_score": -0.1}"#).contains("from 0 to 1"));
    assert!(refused(r#"{"incident_size": 1}"#).contains("at least 2"));
    assert!(refused(r#"{"duplicate_of": " "}"#).contains("is empty"));
    assert!(refused(r#"{"duplicate_of": "c"}"#).contains("the case itself"));
    assert!(refused(r#"{"priority": "P9"}"#).contains("not on the scale"));
    // A list is not read by position.
    assert!(with(r#"["101", 0.9, 4, "P1"]"#).unwrap_err().message.contains("expected an object"));
    assert!(with("null").unwrap().related.is_empty());
    // A priority written in another case is the scale's.
    let s = with(r#"{"priority": " p1"}"#).unwrap();
    let e =
        escalate(rules(), &s, &Directory::new(), "2026-03-09T09:00:00Z".parse().unwrap(), &Options::default()).unwrap();
    assert_eq!(e.priority.as_str(), "P1", "{e:?}");
}

#[test]
fn events_after_now_are_ignored_with_a_warning() {
    let s = state(&[(30, "agent_replied")]);
    let e = ask(&s, start() + Duration::minutes(10));
    assert_eq!(e.warnings[0].code, "future-events");
    assert_eq!(e.sla.unwrap().metrics.first_response.unwrap().state, "running");
}

#[test]
fn fractions_of_a_second_order_events_and_place_them_against_now() {
    let json = |a: &str, b: &str| {
        format!(
            r#"{{"case": {{"id": "c", "created_at": "2026-03-09T08:00:00Z"}}, "events": [
                {{"at": "2026-03-09T08:00:00Z", "kind": "created"}},
                {{"at": "{a}", "kind": "customer_replied"}}, {{"at": "{b}", "kind": "agent_replied"}}]}}"#
        )
    };
    let at = |t: &str| -> DateTime<Utc> { t.parse().unwrap() };
    // Within one second, the later one listed first is out of order.
    let s = CaseState::from_json(&json("2026-03-09T08:10:00.7Z", "2026-03-09T08:10:00.3Z")).unwrap();
    let e = escalate(rules(), &s, &Directory::new(), at("2026-03-10T00:00:00Z"), &Options::default()).unwrap_err();
    assert_eq!(e.event, Some(2));
    // A reply half a second after `now` has not happened yet.
    let s = CaseState::from_json(&json("2026-03-09T08:10:00Z", "2026-03-09T09:00:00.5Z")).unwrap();
    let e = escalate(rules(), &s, &Directory::new(), at("2026-03-09T09:00:00.4Z"), &Options::default()).unwrap();
    assert_eq!(e.warnings.first().map(|w| w.code), Some("future-events"));
    assert_eq!(e.sla.unwrap().metrics.first_response.unwrap().met_at, None);
    let e = escalate(rules(), &s, &Directory::new(), at("2026-03-09T09:00:00.5Z"), &Options::default()).unwrap();
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn triage_reports_each_metric_at_now() {
    let case = crate::Case::from_json(
        r#"{"id": "c", "created_at": "2026-03-09T08:00:00-04:00", "status": "waiting_on_customer"}"#,
    )
    .unwrap();
    let d = crate::triage(
        rules(),
        &case,
        &Directory::new(),
        "2026-03-09T10:00:00-04:00".parse().unwrap(),
        &Options::default(),
    );
    let sla = d.sla.unwrap();
    // Waiting on the customer from the start: nothing used, nothing due.
    let fr = sla.metrics.first_response.unwrap();
    assert_eq!((fr.state, fr.elapsed_minutes, fr.due_at), ("paused", 0, None));
    assert_eq!(sla.first_response_due, None);
}

#[test]
fn an_untouched_case_climbs_the_whole_ladder() {
    let e = ask(&state(&[(20, "P1")]), start() + Duration::minutes(300));
    let rules: Vec<&str> = e.actions.iter().filter_map(|a| a.rule.as_deref()).collect();
    for r in ["warn", "breach", "big", "aged"] {
        assert!(rules.contains(&r), "{r} did not fire: {rules:?}");
    }
    // The milestone an hour after the record opened.
    assert!(e.actions.iter().any(|a| a.key.ends_with("/milestone-1")), "{:?}", e.actions);
}

// ------------------------------------------- histories as helpdesks record them

const HISTORY_RULES: &str = r#"
settings:
  sla_clock: { pause_on: [awaiting_client], stop_on: [solved, closed] }
sla:
  - id: around-the-clock
    targets: { first_response: 4h, next_response: 1h, resolution: 8h, update: 1h }
categories: [{ id: general, set: { category: general, priority: P3 } }]
"#;

fn history_rules() -> CompiledRules {
    let (rules, diags) = compile_sources(&[("history.yaml", HISTORY_RULES)]);
    rules.unwrap_or_else(|| panic!("{diags:?}"))
}

fn replay(rules: &CompiledRules, json: &str, now: &str) -> Result<Escalation, crate::StateError> {
    let state = CaseState::from_json(json).unwrap();
    escalate(rules, &state, &Directory::new(), now.parse().unwrap(), &Options::default())
}

fn metric(out: &Escalation, m: crate::Metric) -> crate::MetricState {
    out.sla.as_ref().and_then(|s| s.metrics.get(m).cloned()).unwrap_or_else(|| panic!("no {m:?} in {out:?}"))
}

#[test]
fn a_case_created_waiting_on_the_client_counts_no_time_until_it_opens() {
    let rules = history_rules();
    // The status on the `created` event.
    let on_event = r#"{"case": {"id": "c"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created", "status": "awaiting_client"},
        {"at": "2026-03-02T12:00:00Z", "kind": "status_changed", "status": "open"}]}"#;
    // The case's status together with later status changes.
    let on_case = r#"{"case": {"id": "c", "status": "awaiting_client", "created_at": "2026-03-02T09:00:00Z"}, "events": [
        {"at": "2026-03-02T12:00:00Z", "kind": "status_changed", "status": "open"}]}"#;
    for json in [on_event, on_case] {
        let out = replay(&rules, json, "2026-03-02T13:00:00Z").unwrap();
        assert_eq!(metric(&out, crate::Metric::Resolution).elapsed_minutes, 60, "{json}");
        assert!(out.warnings.iter().all(|w| w.code != "status-disagrees-with-history"), "{:?}", out.warnings);
    }
    // A case exported with its current status agrees with its history.
    let current = r#"{"case": {"id": "c", "status": "open", "created_at": "2026-03-02T09:00:00Z"}, "events": [
        {"at": "2026-03-02T10:00:00Z", "kind": "status_changed", "status": "awaiting_client"},
        {"at": "2026-03-02T12:00:00Z", "kind": "status_changed", "status": "open"}]}"#;
    let out = replay(&rules, current, "2026-03-02T13:00:00Z").unwrap();
    assert_eq!(metric(&out, crate::Metric::Resolution).elapsed_minutes, 120);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn a_case_status_the_history_contradicts_is_a_warning() {
    let rules = history_rules();
    let json = r#"{"case": {"id": "c", "status": "solved"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created"},
        {"at": "2026-03-02T10:00:00Z", "kind": "status_changed", "status": "open"}]}"#;
    let out = replay(&rules, json, "2026-03-02T11:00:00Z").unwrap();
    assert!(out.warnings.iter().any(|w| w.code == "status-disagrees-with-history"), "{:?}", out.warnings);
    // The history is followed: the clocks ran from creation.
    assert_eq!(metric(&out, crate::Metric::Resolution).elapsed_minutes, 120);
    let json = r#"{"case": {"id": "c", "status": "open"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created", "status": "awaiting_client"}]}"#;
    let out = replay(&rules, json, "2026-03-02T11:00:00Z").unwrap();
    assert!(out.warnings.iter().any(|w| w.code == "status-disagrees-with-history"), "{:?}", out.warnings);
    assert_eq!(metric(&out, crate::Metric::Resolution).elapsed_minutes, 0);
}

#[test]
fn a_status_on_any_event_is_read_and_fields_a_kind_ignores_are_refused() {
    let rules = history_rules();
    // A reply that reopens the case carries the new status.
    let json = r#"{"case": {"id": "c"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created"},
        {"at": "2026-03-02T09:10:00Z", "kind": "agent_replied", "status": "awaiting_client"},
        {"at": "2026-03-02T11:10:00Z", "kind": "customer_replied", "status": "open"}]}"#;
    let out = replay(&rules, json, "2026-03-02T12:10:00Z").unwrap();
    assert_eq!(out.status.as_deref(), Some("open"));
    assert_eq!(metric(&out, crate::Metric::Resolution).elapsed_minutes, 70);
    for (field, value) in [("priority", r#""P1""#), ("tier", "2"), ("team", r#""desk""#), ("agent", r#""ann""#)] {
        let json = format!(
            r#"{{"case": {{"id": "c"}}, "events": [{{"at": "2026-03-02T09:00:00Z", "kind": "created"}},
            {{"at": "2026-03-02T09:10:00Z", "kind": "customer_replied", "{field}": {value}}}]}}"#
        );
        let err = replay(&rules, &json, "2026-03-02T10:00:00Z").unwrap_err();
        assert_eq!(err.event, Some(1), "{field}");
        assert!(err.message.contains(&format!("does not read `{field}`")), "{}", err.message);
    }
}

#[test]
fn a_customer_reply_logged_with_the_reopen_of_a_solved_case_starts_a_next_response_cycle() {
    let rules = history_rules();
    for (reply, reopen, started) in [
        ("09:30:00", "09:30:00", "09:30:00"),
        ("09:29:58", "09:30:00", "09:29:58"),
        ("09:00:00", "09:30:00", "09:30:00"),
    ] {
        let json = format!(
            r#"{{"case": {{"id": "c"}}, "events": [
            {{"at": "2026-03-02T08:00:00Z", "kind": "created"}},
            {{"at": "2026-03-02T08:10:00Z", "kind": "agent_replied"}},
            {{"at": "2026-03-02T08:20:00Z", "kind": "status_changed", "status": "solved"}},
            {{"at": "2026-03-02T{reply}Z", "kind": "customer_replied"}},
            {{"at": "2026-03-02T{reopen}Z", "kind": "status_changed", "status": "open"}}]}}"#
        );
        let out = replay(&rules, &json, "2026-03-02T11:00:00Z").unwrap();
        let next = metric(&out, crate::Metric::NextResponse);
        assert_eq!(next.started_at, format!("2026-03-02T{started}Z").parse::<DateTime<Utc>>().unwrap(), "{reply}");
        assert_eq!(next.state, "breached", "{reply}");
    }
    // The reopen first, then the reply at the same instant: the same cycle.
    let json = r#"{"case": {"id": "c"}, "events": [
        {"at": "2026-03-02T08:00:00Z", "kind": "created"},
        {"at": "2026-03-02T08:10:00Z", "kind": "agent_replied"},
        {"at": "2026-03-02T08:20:00Z", "kind": "status_changed", "status": "solved"},
        {"at": "2026-03-02T09:30:00Z", "kind": "status_changed", "status": "open"},
        {"at": "2026-03-02T09:30:00Z", "kind": "customer_replied"}]}"#;
    let out = replay(&rules, json, "2026-03-02T10:00:00Z").unwrap();
    assert_eq!(metric(&out, crate::Metric::NextResponse).elapsed_minutes, 30);
}

#[test]
fn the_update_clock_starts_at_the_first_agent_reply_unless_told_otherwise() {
    let json = r#"{"case": {"id": "c"}, "events": [{"at": "2026-03-02T09:00:00Z", "kind": "created"}]}"#;
    // First response 4h, update 1h: no reply at all after two hours is not
    // an update breach.
    let out = replay(&history_rules(), json, "2026-03-02T11:00:00Z").unwrap();
    assert!(out.sla.as_ref().unwrap().metrics.update.is_none(), "{out:?}");
    let replied = r#"{"case": {"id": "c"}, "events": [{"at": "2026-03-02T09:00:00Z", "kind": "created"},
        {"at": "2026-03-02T09:30:00Z", "kind": "agent_replied"}]}"#;
    let out = replay(&history_rules(), replied, "2026-03-02T11:00:00Z").unwrap();
    let update = metric(&out, crate::Metric::Update);
    assert_eq!((update.started_at, update.state), ("2026-03-02T09:30:00Z".parse().unwrap(), "breached"));
    // The old behaviour on request.
    let old =
        HISTORY_RULES.replace("stop_on: [solved, closed] }", "stop_on: [solved, closed], update_starts: created }");
    let (rules, diags) = compile_sources(&[("history.yaml", &old)]);
    assert!(diags.iter().any(|d| d.code == "update-shorter-than-first-response"), "{diags:?}");
    let out = replay(&rules.unwrap(), json, "2026-03-02T11:00:00Z").unwrap();
    assert_eq!(metric(&out, crate::Metric::Update).state, "breached");
}

#[test]
fn dates_outside_the_supported_years_are_refused_or_reviewed() {
    let rules = history_rules();
    let zero = r#"{"case": {"id": "c"}, "events": [{"at": "0001-01-01T00:00:00Z", "kind": "created"}]}"#;
    let err = replay(&rules, zero, "2026-03-02T10:00:00Z").unwrap_err();
    assert_eq!(err.event, Some(0));
    assert!(err.message.contains("outside the supported years"), "{}", err.message);
    let far = r#"{"case": {"id": "c", "created_at": "9999-12-31T00:00:00Z"}}"#;
    assert!(replay(&rules, far, "2026-03-02T10:00:00Z").unwrap_err().message.contains("created_at"));
    let fine = r#"{"case": {"id": "c", "created_at": "2026-03-02T09:00:00Z"}}"#;
    assert!(replay(&rules, fine, "2200-01-01T00:00:00Z").unwrap_err().message.contains("`now`"));
    // A single decision goes to a person with a warning.
    for (created, now) in
        [("0001-01-01T00:00:00Z", "2026-03-02T10:00:00Z"), ("2026-03-02T09:00:00Z", "2200-06-01T00:00:00Z")]
    {
        let case = crate::Case { id: "c".into(), created_at: Some(created.parse().unwrap()), ..Default::default() };
        let d = crate::triage(&rules, &case, &Directory::new(), now.parse().unwrap(), &Options::default());
        assert!(d.warnings.iter().any(|w| w.code == "date-out-of-range"), "{:?}", d.warnings);
        assert_eq!(d.manual_review.as_ref().map(|m| m.reason.as_str()), Some("date-out-of-range"));
        assert!(d.sla.is_none(), "no clock rather than a wrong one: {:?}", d.sla);
    }
    // A clock that falls due after 2199 says so instead of going quiet: a
    // resolution target of 8 business hours from Tuesday 31 December 2199,
    // 15:00, ends in 2200.
    let text = format!(
        "{}calendars: [{{ id: office, timezone: UTC, hours: {{ mon-fri: [\"09:00-17:00\"] }} }}]\n",
        HISTORY_RULES.replace("  - id: around-the-clock\n", "  - id: around-the-clock\n    calendar: office\n")
    );
    let office = compile_sources(&[("h.yaml", &text)]).0.unwrap();
    let late = r#"{"case": {"id": "c", "created_at": "2199-12-31T15:00:00Z"}}"#;
    let out = replay(&office, late, "2199-12-31T16:00:00Z").unwrap();
    assert!(out.warnings.iter().any(|w| w.code == "date-out-of-range"), "{:?}", out.warnings);
    let case =
        crate::Case { id: "c".into(), created_at: Some("2199-12-31T15:00:00Z".parse().unwrap()), ..Default::default() };
    let d =
        crate::triage(&office, &case, &Directory::new(), "2199-12-31T16:00:00Z".parse().unwrap(), &Options::default());
    assert_eq!(d.manual_review.as_ref().map(|m| m.reason.as_str()), Some("date-out-of-range"));
}

#[test]
fn solving_a_case_nobody_answered_pauses_its_first_response_until_a_reopen() {
    let rules = history_rules();
    let json = r#"{"case": {"id": "c"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created"},
        {"at": "2026-03-02T09:30:00Z", "kind": "status_changed", "status": "solved"},
        {"at": "2026-03-02T10:00:00Z", "kind": "status_changed", "status": "open"}]}"#;
    let out = replay(&rules, json, "2026-03-02T11:00:00Z").unwrap();
    let first = metric(&out, crate::Metric::FirstResponse);
    assert_eq!((first.state, first.elapsed_minutes), ("running", 90));
    assert!(out.sla.as_ref().unwrap().metrics.update.is_none());
}

#[test]
fn a_resolving_case_status_without_a_resolving_event_is_the_current_status() {
    let rules = history_rules();
    let json = r#"{"case": {"id": "c", "status": "solved"}, "events": [
        {"at": "2026-03-02T09:00:00Z", "kind": "created"},
        {"at": "2026-03-02T09:40:00Z", "kind": "agent_replied"}]}"#;
    let out = replay(&rules, json, "2026-03-02T10:00:00Z").unwrap();
    assert!(out.warnings.iter().any(|w| w.code == "status-disagrees-with-history"), "{:?}", out.warnings);
    let first = metric(&out, crate::Metric::FirstResponse);
    assert_eq!((first.state, first.elapsed_minutes), ("met", 40));
}

#[test]
fn notify_from_a_list_field_tells_each_recipient_a_collect_table_gathered() {
    let yaml = r##"
fields:
  contacts: list
  desk: string
categories:
  - id: general
    set: { category: general, priority: P3 }
  - id: who-to-tell
    table:
      hit: collect
      inputs: [desk, priority]
      outputs: [contacts]
      rows: |
        emea-desk: emea | -  => "emea-leads@example.com"
        p3-watch:  -    | P3 => manager, "#support-p3", "not a recipient"
        apac-desk: apac | -  => "apac-leads@example.com"
escalation:
  - id: aged
    when: { age_minutes: { gte: 30 } }
    do: [{ notify: { from: contacts } }]
"##;
    let (rules, diags) = compile_sources(&[("r.yaml", yaml)]);
    let rules = rules.unwrap_or_else(|| panic!("{diags:#?}"));
    let s = CaseState::from_json(&format!(
        r#"{{"case": {{"id": "c9", "created_at": "{}", "subject": "help", "fields": {{"desk": "emea"}}}}, "events": []}}"#,
        start().to_rfc3339()
    ))
    .unwrap();
    let e = escalate(&rules, &s, &Directory::new(), start() + Duration::minutes(45), &Options::full_trace()).unwrap();
    let told: Vec<(&str, &str)> =
        e.actions.iter().map(|a| (a.target.as_deref().unwrap_or(""), a.key.as_str())).collect();
    assert_eq!(
        told,
        [
            ("emea-leads@example.com", "c9/aged/L1/case/0-notify/emea-leads@example.com"),
            ("manager", "c9/aged/L1/case/0-notify/manager"),
            ("#support-p3", "c9/aged/L1/case/0-notify/#support-p3"),
        ]
    );
    assert!(e.trace.iter().any(|t| t.why.as_deref().is_some_and(|w| w.contains("`not a recipient` in `contacts`"))));
    // A field that is not a declared list is refused where it is named.
    let bad = yaml.replace("{ from: contacts }", "{ from: desk }");
    let (_, diags) = compile_sources(&[("r.yaml", &bad)]);
    assert_eq!(diags.iter().map(|d| (d.line, d.code)).collect::<Vec<_>>(), [(20, "invalid-value")]);
}

#[test]
fn notify_from_a_huge_list_tells_at_most_a_hundred_and_says_so() {
    let yaml = "fields:\n  contacts: list\ncategories:\n  - id: general\n    set: { category: general }\nescalation:\n  - id: aged\n    when: { age_minutes: { gte: 30 } }\n    do: [{ notify: { from: contacts } }]\n";
    let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
    // 20,000 items, each twice in two letter cases: linear work, capped.
    let list: Vec<String> = (0..20_000).flat_map(|i| [format!("p{i}@x.example"), format!("P{i}@X.example")]).collect();
    let s = CaseState::from_json(&format!(
        r#"{{"case": {{"id": "c9", "created_at": "{}", "subject": "help", "fields": {{"contacts": {}}}}}, "events": []}}"#,
        start().to_rfc3339(),
        serde_json::to_string(&list).unwrap()
    ))
    .unwrap();
    let e = escalate(&rules, &s, &Directory::new(), start() + Duration::minutes(45), &Options::full_trace()).unwrap();
    assert_eq!(e.actions.len(), 100);
    let notes: Vec<&str> =
        e.trace.iter().filter_map(|t| t.why.as_deref()).filter(|w| w.contains("recipient")).collect();
    assert!(notes.iter().any(|w| w.contains("19900 recipient(s) more than the 100")), "{notes:?}");
}
