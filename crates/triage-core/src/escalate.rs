//! Escalation over time: a case's history and `now` in; the actions due,
//! the SLA state and the next instant anything could change out.
//!
//! The history is replayed from the case's start. Between two events the
//! facts rules read are constant except the SLA clocks and the case's age,
//! which only grow, so a condition can only change truth at an event or
//! where a clock or the age crosses a number some rule compares it with.
//! Those instants are computed exactly (business time on the policy's
//! calendar) and the rules are evaluated at each, in time order. An action
//! fires at the first instant its rule holds, once per key; the answer lists
//! every action fired up to `now`, so asking often or rarely gives the same
//! keys.

use crate::case::Case;
use crate::cond::{self, Fact};
use crate::decision::{Action, Options, Outcome, Sla, TraceEntry, TraceLevel, Warning};
use crate::directory::Directory;
use crate::eval::{self, Pins, Selected};
use crate::name::Name;
use crate::record::{EscalationRecord, Milestone, RecordStatus, Risk, RiskPart};
use crate::rules::{CompiledRules, EscKind, Ladder, Piece, RiskInput, Rule, TemplateVar};
use crate::schema::{Derived, Metric, MetricField, Slot, Source};
use crate::sla::{CaseState, Clocks, EventKind, Phase, utc};
use crate::text::Hits;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Longest swarm channel name; chat tools cap names at 80 characters.
pub const MAX_CHANNEL_LEN: usize = 80;

/// What `escalate` answers for one case at `now`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    /// The case's id.
    pub case_id: String,
    /// The instant asked about.
    pub now: DateTime<Utc>,
    /// The priority in effect (the history's last change, else triage's).
    pub priority: Name,
    /// The tier in effect.
    pub tier: u8,
    /// The status in effect, if any was given.
    pub status: Option<String>,
    /// How often the case was reopened.
    pub reopen_count: u32,
    /// The SLA policy in effect and each metric's clock at `now`.
    pub sla: Option<Sla>,
    /// Every action fired up to `now` and due by then, in firing order. A
    /// scheduler carries out the keys it has not carried out before.
    pub actions: Vec<Action>,
    /// Fired, but waiting for business hours (`due_at` is later than `now`).
    pub pending: Vec<Action>,
    /// The earliest instant after `now` at which, without new events, an
    /// action could fire or fall due. `None` when nothing could.
    pub next_check_at: Option<DateTime<Utc>>,
    /// Problems with the case or its history; the case was still escalated.
    pub warnings: Vec<Warning>,
    /// Hash of the rule set that decided.
    pub rules_version: Name,
    /// Which rules fired and when; with full tracing, the policy changes.
    pub trace: Vec<TraceEntry>,
}

/// A history that cannot be replayed, naming the event at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", event.map(|i| format!("event {i}: ")).unwrap_or_default())]
pub struct StateError {
    /// The index of the offending event in `events`, from 0.
    pub event: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A milestone waiting for its instant.
#[derive(Debug, Clone)]
struct Scheduled {
    at: i64,
    key: String,
    notify: String,
    rule: usize,
    record: String,
}

/// Replays a case's history and returns the escalation actions fired up to
/// `now`, the SLA state at `now`, and when to ask again.
///
/// ```
/// use triage_core::{compile_sources, escalate, CaseState, Directory, Options};
/// let yaml = r#"
/// categories: [{ id: general, set: { category: general, priority: P2 } }]
/// sla: [{ id: standard, targets: { first_response: 1h } }]
/// escalation:
///   - id: warn-lead
///     when: { sla.first_response.used: { gte: 80% } }
///     do: [{ notify: team_lead }]
/// "#;
/// let rules = compile_sources(&[("rules.yaml", yaml)]).0.unwrap();
/// let state = CaseState::from_json(r#"{"case": {"id": "c1", "created_at": "2026-03-02T09:00:00Z"}}"#).unwrap();
/// let now = "2026-03-02T09:50:00Z".parse().unwrap();
/// let out = escalate(&rules, &state, &Directory::new(), now, &Options::default()).unwrap();
/// assert_eq!(out.actions[0].kind, "notify");
/// assert_eq!(out.actions[0].fired_at, Some("2026-03-02T09:48:00Z".parse().unwrap()));
/// assert_eq!(out.next_check_at, Some("2026-03-02T10:00:00Z".parse().unwrap()));
/// ```
pub fn escalate(
    rules: &CompiledRules,
    state: &CaseState,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
) -> Result<Escalation, StateError> {
    let case = &state.case;
    let now_s = now.timestamp();
    let mut warnings = Vec::new();
    let mut trace = Vec::new();
    let full = options.trace == TraceLevel::Full;

    // Check the history before anything else is decided from it.
    if !crate::calendar::supported(now_s) {
        return Err(StateError { event: None, message: out_of_range("`now`", &now.to_rfc3339()) });
    }
    if let Some(t) = case.created_at.filter(|t| !crate::calendar::supported(t.timestamp())) {
        return Err(StateError { event: None, message: out_of_range("`case.created_at`", &t.to_rfc3339()) });
    }
    if let Some(p) = state.related.priority.as_deref()
        && rank_of(rules, p).is_none()
    {
        return Err(StateError {
            event: None,
            message: format!("`related.priority` `{p}` is not on the scale {}", rules.priorities.join(", ")),
        });
    }
    related_checks(&state.related, &case.id)?;
    // Order and `now` are judged to the nanosecond given; the clocks then
    // count whole seconds.
    let mut last: Option<DateTime<FixedOffset>> = None;
    for (i, e) in state.events.iter().enumerate() {
        let at = e.at.timestamp();
        if !crate::calendar::supported(at) {
            return Err(StateError {
                event: Some(i),
                message: out_of_range(&format!("`{}`", e.kind.name()), &e.at.to_rfc3339()),
            });
        }
        if last.is_some_and(|last| e.at < last) {
            return Err(StateError {
                event: Some(i),
                message: format!(
                    "`{}` at {} is earlier than the event before it; list events oldest first",
                    e.kind.name(),
                    e.at
                ),
            });
        }
        last = Some(e.at);
        let missing =
            |what: &str| StateError { event: Some(i), message: format!("`{}` needs `{what}`", e.kind.name()) };
        // A field the kind does not read would be lost without a word;
        // `status` is read on every kind (a reply that reopens a case).
        let unread = [
            ("priority", e.priority.is_some() && e.kind != EventKind::PriorityChanged, "priority_changed"),
            ("tier", e.tier.is_some() && e.kind != EventKind::TierChanged, "tier_changed"),
            ("team", e.team.is_some() && e.kind != EventKind::Assigned, "assigned"),
            ("agent", e.agent.is_some() && e.kind != EventKind::Assigned, "assigned"),
        ];
        if let Some((field, _, kind)) = unread.iter().find(|(_, bad, _)| *bad) {
            let also = if e.kind == EventKind::Created { " or give it on the case" } else { "" };
            return Err(StateError {
                event: Some(i),
                message: format!(
                    "`{}` does not read `{field}`; send a `{kind}` event at the same instant{also}",
                    e.kind.name()
                ),
            });
        }
        match e.kind {
            EventKind::StatusChanged if e.status.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                return Err(missing("status"));
            }
            EventKind::PriorityChanged => {
                let p = e.priority.as_deref().ok_or_else(|| missing("priority"))?;
                if rank_of(rules, p).is_none() {
                    return Err(StateError {
                        event: Some(i),
                        message: format!("priority `{p}` is not on the scale {}", rules.priorities.join(", ")),
                    });
                }
            }
            EventKind::TierChanged => match e.tier {
                Some(0..=3) => {}
                Some(t) => {
                    return Err(StateError { event: Some(i), message: format!("tier must be 0 to 3, found {t}") });
                }
                None => return Err(missing("tier")),
            },
            EventKind::Created if i > 0 => {
                return Err(StateError { event: Some(i), message: "`created` must be the first event".to_string() });
            }
            _ => {}
        }
    }
    let known: Vec<_> = state.events.iter().filter(|e| e.at <= now).collect();
    if known.len() < state.events.len() {
        warnings.push(Warning {
            code: "future-events",
            message: format!("{} event(s) after `now` were ignored", state.events.len() - known.len()),
        });
    }
    let start = match (state.events.first(), case.created_at) {
        (Some(e), _) if e.kind == EventKind::Created => e.at.timestamp(),
        (_, Some(t)) => t.timestamp(),
        (Some(e), None) => e.at.timestamp(),
        (None, None) => now_s,
    };
    if let Some((i, e)) = state.events.iter().enumerate().find(|(_, e)| e.at.timestamp() < start) {
        return Err(StateError {
            event: Some(i),
            message: format!("`{}` at {} is before the case was created", e.kind.name(), e.at),
        });
    }

    // What never changes over the history: the cleaned case, its account,
    // the text hits and the facts that do not depend on time.
    let (normalized, _) = rules.normalizer.normalize_case(case, None);
    let account = case.account.as_deref().map(str::trim).and_then(|a| directory.account(a));
    let hits = rules.text.scan(|slot| eval::raw_text(rules, case, &normalized, slot));
    let mut facts = vec![Fact::Missing; rules.schema.len()];
    let mut ignored = Vec::new();
    eval::fill_facts(rules, case, &normalized, account, utc(start), &mut facts, &mut ignored);
    // What intake found by comparing the case with others.
    state.related.fill(&rules.derived, &mut facts);
    let moving = rules
        .schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            matches!(
                d.source,
                Source::Derived(Derived::AgeMinutes | Derived::ReopenCount | Derived::SlaPolicy | Derived::Sla(..))
            )
        })
        .map(|(i, d)| (i, d.source))
        .collect();

    let initial_status = initial_status(state, &rules.settings.clock.stop_on, &mut warnings);
    let mut run = Run {
        rules,
        case,
        related: (!state.related.is_empty()).then_some(&state.related),
        directory,
        options,
        hits: &hits,
        facts,
        moving,
        pins: Pins::default(),
        start,
        status: initial_status.clone(),
        seg: Segment::default(),
        fired: BTreeSet::new(),
        milestones_fired: BTreeSet::new(),
        actions: Vec::new(),
        scheduled: Vec::new(),
        trace: &mut trace,
        full,
    };
    let (seg, first_decision) = run.segment(start);
    warnings.extend(first_decision.warnings.iter().cloned());
    run.install(seg);
    if let Some(st) = initial_status.as_deref() {
        run.set_status(st);
    }
    let mut clocks = run.seg.selected.map(|sel| {
        let cal = sel.calendar.and_then(|c| rules.calendars.get(c));
        Clocks::start(&rules.settings.clock, cal, &rules.sla.rules[sel.policy].action, start, initial_status.as_deref())
    });

    let mut i = 0;
    // Events at the very start belong to the starting instant.
    while i < known.len() && known[i].at.timestamp() <= start {
        run.apply(known[i], &mut clocks, start);
        i += 1;
    }
    run.evaluate(start, clocks.as_ref());
    let mut next_check: Option<i64> = None;
    let mut t = start;
    loop {
        let seg_end = known.get(i).map(|e| e.at.timestamp());
        let crossings = run.crossings(clocks.as_ref(), t);
        let mut cur = t;
        loop {
            let next_crossing = crossings.iter().copied().find(|&c| c > cur);
            let next_milestone = run.scheduled.iter().map(|s| s.at).filter(|&a| a > cur).min();
            let Some(next) = [next_crossing, next_milestone].into_iter().flatten().min() else { break };
            if seg_end.is_some_and(|e| next >= e) {
                break;
            }
            if next > now_s {
                next_check = Some(next);
                break;
            }
            if let Some(c) = clocks.as_mut() {
                c.advance(next);
            }
            run.evaluate(next, clocks.as_ref());
            cur = next;
        }
        let Some(end) = seg_end else { break };
        if let Some(c) = clocks.as_mut() {
            c.advance(end);
        }
        while i < known.len() && known[i].at.timestamp() == end {
            run.apply(known[i], &mut clocks, end);
            i += 1;
        }
        run.evaluate(end, clocks.as_ref());
        t = end;
    }
    if let Some(c) = clocks.as_mut() {
        c.advance(now_s.max(t));
    }

    let (actions, pending): (Vec<Action>, Vec<Action>) =
        run.actions.drain(..).partition(|a| a.due_at.is_none_or(|d| d <= now));
    let waiting = pending.iter().filter_map(|a| a.due_at).map(|d| d.timestamp()).min();
    let next_check_at = [next_check, waiting].into_iter().flatten().min().map(utc);
    let sla = match (run.seg.selected, clocks.as_ref()) {
        (Some(sel), Some(c)) => Some(eval::sla_output(rules, &sel, c, start, now_s)),
        _ => None,
    };
    if let Some(w) = sla.as_ref().and_then(eval::due_beyond_range) {
        warnings.push(w);
    }
    Ok(Escalation {
        case_id: case.id.clone(),
        now,
        priority: rules.priorities[run.seg.rank].clone(),
        tier: run.seg.tier,
        status: run.status.clone(),
        reopen_count: clocks.as_ref().map_or(0, |c| c.reopen_count),
        sla,
        actions,
        pending,
        next_check_at,
        warnings,
        rules_version: rules.version.clone(),
        trace: if options.trace == TraceLevel::Off { Vec::new() } else { trace },
    })
}

/// The refusal for an instant outside the years business time is computed
/// for.
fn out_of_range(what: &str, at: &str) -> String {
    format!(
        "{what} {at} is outside the supported years 1970–2199, so no SLA clock can be measured; \
         fix the date (a database's zero date is not a real one)"
    )
}

/// The status a case was opened in: the `created` event's `status`, else
/// `case.status` — unless the history's status changes end in that very
/// status, which makes it the status the case has now. A `case.status` the
/// history contradicts is a warning: one the created event disagrees with,
/// or a resolving status the history does not end in.
fn initial_status(state: &CaseState, stop_on: &[String], warnings: &mut Vec<Warning>) -> Option<String> {
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let created = state.events.first().filter(|e| e.kind == EventKind::Created).and_then(|e| given(&e.status));
    let last_change = state.events.iter().rev().filter(|e| e.kind != EventKind::Created).find_map(|e| given(&e.status));
    let case_status = given(&state.case.status);
    let mut disagree = |why: String| warnings.push(Warning { code: "status-disagrees-with-history", message: why });
    match (created, case_status) {
        (Some(opened), Some(cs)) => {
            if !same(&opened, &cs) && last_change.as_deref().is_none_or(|l| !same(l, &cs)) {
                disagree(format!(
                    "`case.status` is `{cs}` but the case was created `{opened}` and no later event sets `{cs}`; \
                     the history is followed"
                ));
            }
            Some(opened)
        }
        (Some(opened), None) => Some(opened),
        (None, Some(cs)) => match last_change {
            // A resolving status with a history of work after creation is
            // the status the case has now, not the one it was opened in.
            None if stop_on.iter().any(|s| same(s, &cs))
                && state.events.iter().any(|e| e.kind != EventKind::Created) =>
            {
                disagree(format!(
                    "`case.status` is `{cs}`, which resolves the case, but no event of the history resolves it; \
                     the history is followed"
                ));
                None
            }
            None => Some(cs),
            Some(l) if same(&l, &cs) => None,
            Some(l) if stop_on.iter().any(|s| same(s, &cs)) => {
                disagree(format!(
                    "`case.status` is `{cs}`, which resolves the case, but the history's last status is `{l}`; \
                     the history is followed"
                ));
                None
            }
            Some(_) => Some(cs),
        },
        (None, None) => None,
    }
}

/// What a case state's `related` may hold: a score from 0 to 1, an
/// incident of at least two cases, and a duplicate that is another case.
fn related_checks(r: &crate::Related, own_id: &str) -> Result<(), StateError> {
    let refuse = |message: String| Err(StateError { event: None, message });
    if let Some(s) = r.duplicate_score
        && !(0.0..=1.0).contains(&s)
    {
        return refuse(format!("`related.duplicate_score` is a similarity from 0 to 1, not {s}"));
    }
    if let Some(n) = r.incident_size
        && n < 2
    {
        return refuse(format!("`related.incident_size` counts the cases of an incident, at least 2, not {n}"));
    }
    match r.duplicate_of.as_deref().map(str::trim) {
        Some("") => refuse("`related.duplicate_of` is empty; name the earlier case, or leave it out".into()),
        Some(id) if id == own_id.trim() => {
            refuse(format!("`related.duplicate_of` names the case itself (`{id}`); a duplicate is of another case"))
        }
        _ => Ok(()),
    }
}

fn rank_of(rules: &CompiledRules, p: &str) -> Option<usize> {
    rules.priorities.iter().position(|q| q.eq_ignore_ascii_case(p.trim()))
}

/// What the decision pipeline said for the current stretch of history.
#[derive(Debug, Clone, Default)]
struct Segment {
    selected: Option<Selected>,
    rank: usize,
    tier: u8,
    category: Name,
    product: Option<String>,
    territory: Option<Name>,
    /// The calendar of the team's working hours: the territory's, else the
    /// policy's.
    hours: Option<usize>,
    /// Decided facts, owned: priority, product, category, tier and so on.
    decided: Vec<(usize, Fact<'static>)>,
}

struct Run<'a> {
    rules: &'a CompiledRules,
    case: &'a Case,
    /// What intake found by comparing the case with others, if anything.
    related: Option<&'a crate::Related>,
    directory: &'a Directory,
    options: &'a Options,
    hits: &'a Hits,
    /// The facts rules read, updated in place as the replay moves.
    facts: Vec<Fact<'a>>,
    /// The slots whose facts change with time, and where they come from.
    moving: Vec<(usize, Source)>,
    pins: Pins,
    start: i64,
    status: Option<String>,
    seg: Segment,
    /// Rule actions fired: rule, the cycle of each metric in the key
    /// (`u32::MAX` when not in it), action.
    fired: BTreeSet<(usize, [u32; 4], usize)>,
    /// Milestones fired.
    milestones_fired: BTreeSet<String>,
    actions: Vec<Action>,
    scheduled: Vec<Scheduled>,
    trace: &'a mut Vec<TraceEntry>,
    full: bool,
}

/// Most recipients one `notify: { from: FIELD }` action tells; the rest
/// are named in a note (a list field is the case's or a table's, and a
/// notification storm is no escalation).
const MAX_RECIPIENTS: usize = 100;

impl<'a> Run<'a> {
    /// Decides the case as of `at` with the history's pins.
    fn segment(&mut self, at: i64) -> (Segment, crate::decision::Decision) {
        let rules = self.rules;
        let opts = Options::with_trace(self.options.trace);
        let mut selected = None;
        let d = eval::decide(rules, self.case, self.directory, utc(at), &opts, self.pins, self.related, &mut selected);
        let s = rules.derived;
        let rank = rank_of(rules, &d.priority).unwrap_or(0);
        fn lower<S: AsRef<str>>(v: &[S]) -> Fact<'static> {
            Fact::List(Cow::Owned(v.iter().map(|x| x.as_ref().to_lowercase()).collect()))
        }
        let mut decided = vec![
            (s.priority, Fact::owned(d.priority.to_string())),
            (s.sentiment, Fact::Num(d.sentiment.score)),
            (s.sentiment_score, Fact::Num(d.sentiment.score)),
            (s.sentiment_label, Fact::owned(d.sentiment.label.to_string())),
            (s.category, Fact::owned(d.category.to_string())),
            (s.confidence, Fact::Num(d.confidence)),
            (s.skills, lower(&d.skills)),
            (s.tags, lower(&d.tags)),
            (s.territory_path, lower(&d.territory_path)),
            (s.tier, Fact::Num(f64::from(d.tier))),
        ];
        decided.push((s.product, d.product.clone().map_or(Fact::Missing, Fact::owned)));
        decided.push((s.territory, d.territory.as_ref().map_or(Fact::Missing, |t| Fact::owned(t.to_string()))));
        // Fields side tables decided, for escalation rules that read them.
        for (name, value) in &d.outputs {
            if let Some(slot) = rules.schema.lookup(name)
                && let Some(f) = eval::output_fact(value, &rules.schema.fields[slot].ty)
            {
                decided.push((slot, f));
            }
        }
        for (_, (class, confidence), p) in eval::guesses(rules, &d.predicted) {
            decided.push((class, Fact::owned(p.class.to_string())));
            decided.push((confidence, Fact::Num(p.confidence)));
        }
        if self.full {
            self.trace.extend(d.trace.iter().cloned());
        }
        let territory_cal =
            d.territory.as_deref().and_then(|t| rules.territories.find(t)).and_then(|t| rules.territory_calendars[t]);
        let seg = Segment {
            hours: territory_cal.or(selected.and_then(|s| s.calendar)),
            selected,
            rank,
            tier: d.tier,
            category: d.category.clone(),
            product: d.product.clone(),
            territory: d.territory.clone(),
            decided,
        };
        (seg, d)
    }

    /// A status change at `at`.
    fn change_status(&mut self, status: &str, clocks: &mut Option<Clocks<'a>>, at: i64) {
        if let Some(c) = clocks.as_mut() {
            c.status(status, at);
        }
        self.set_status(status);
        self.status = Some(status.to_string());
    }

    /// Applies one event at `at` (`at` is the event's instant). A `status`
    /// on a kind other than `status_changed` (a customer reply that
    /// reopens the case) takes effect right after the event itself; on
    /// `created` it is the status the case was opened in.
    fn apply(&mut self, e: &crate::sla::Event, clocks: &mut Option<Clocks<'a>>, at: i64) {
        self.apply_kind(e, clocks, at);
        if !matches!(e.kind, EventKind::StatusChanged | EventKind::Created)
            && let Some(s) = e.status.as_deref().filter(|s| !s.trim().is_empty())
        {
            self.change_status(s, clocks, at);
        }
    }

    fn apply_kind(&mut self, e: &crate::sla::Event, clocks: &mut Option<Clocks<'a>>, at: i64) {
        match e.kind {
            EventKind::Created | EventKind::Assigned => {}
            EventKind::StatusChanged => {
                let s = e.status.clone().unwrap_or_default();
                self.change_status(&s, clocks, at);
            }
            EventKind::AgentReplied => {
                if let Some(c) = clocks.as_mut() {
                    c.agent_replied(at);
                }
            }
            EventKind::CustomerReplied => {
                if let Some(c) = clocks.as_mut() {
                    c.customer_replied(at);
                }
            }
            EventKind::PriorityChanged | EventKind::TierChanged => {
                if e.kind == EventKind::PriorityChanged {
                    self.pins.priority = e.priority.as_deref().and_then(|p| rank_of(self.rules, p));
                } else {
                    self.pins.tier = e.tier;
                }
                let before = self.seg.selected;
                let (seg, _) = self.segment(at);
                self.install(seg);
                if let (Some(sel), Some(c)) = (self.seg.selected, clocks.as_mut())
                    && Some(sel) != before
                {
                    let rule = &self.rules.sla.rules[sel.policy];
                    let cal = sel.calendar.and_then(|i| self.rules.calendars.get(i));
                    c.change_policy(cal, &rule.action, at);
                    let how = if self.rules.settings.clock.restart_on_change {
                        "unmet clocks restart"
                    } else {
                        "clocks keep their start and pauses"
                    };
                    self.trace.push(TraceEntry {
                        why: Some(format!(
                            "`{}` at {} selects policy `{}`; {how}",
                            e.kind.name(),
                            utc(at),
                            rule.meta.id
                        )),
                        ..eval::entry(self.rules, "sla", &rule.meta, Outcome::Matched, None)
                    });
                }
            }
        }
    }

    /// The instants after `from` at which, without new events, a clock or
    /// the case's age crosses a number some rule compares it with.
    fn crossings(&self, clocks: Option<&Clocks<'_>>, from: i64) -> Vec<i64> {
        let mut out = Vec::new();
        if let Some(c) = clocks {
            for m in Metric::ALL {
                let Some(target) = c.target(m) else { continue };
                let percents = self.rules.escalation.used_thresholds[m.index()].iter().copied().chain([100.0]);
                for p in percents {
                    let x = p * target as f64 / 100.0;
                    // `as` saturates; a threshold beyond any clock is never reached.
                    for need in [x.ceil() as i64, (x.floor() as i64).saturating_add(1)] {
                        out.extend(c.reaches(m, need).filter(|&t| t > from));
                    }
                }
            }
        }
        // The age counts from `created_at`, else from the start of the
        // history, as `refresh` measures it.
        let created = self.case.created_at.map_or(self.start, |t| t.timestamp());
        for &v in &self.rules.escalation.age_thresholds {
            for minutes in [v.ceil() as i64, (v.floor() as i64).saturating_add(1)] {
                out.extend(minutes.checked_mul(60).and_then(|s| created.checked_add(s)).filter(|&t| t > from));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Makes a new stretch of history current: its decided facts replace
    /// the old ones.
    fn install(&mut self, seg: Segment) {
        for (slot, f) in &seg.decided {
            self.facts[*slot] = f.clone();
        }
        self.seg = seg;
    }

    fn set_status(&mut self, status: &str) {
        if let Some(slot) = self.rules.schema.lookup("status") {
            self.facts[slot] = Fact::owned(status.to_string());
        }
    }

    /// Brings the facts that move with time to instant `t`.
    fn refresh(&mut self, t: i64, clocks: Option<&Clocks<'_>>) {
        let rules = self.rules;
        let looks = Metric::ALL.map(|m| clocks.and_then(|c| c.look(m, t)));
        for &(slot, source) in &self.moving {
            self.facts[slot] = match source {
                Source::Derived(Derived::AgeMinutes) => {
                    let created = self.case.created_at.map_or(self.start, |c| c.timestamp());
                    Fact::Num(((t - created) / 60) as f64)
                }
                Source::Derived(Derived::ReopenCount) => Fact::Num(f64::from(clocks.map_or(0, |c| c.reopen_count))),
                Source::Derived(Derived::SlaPolicy) => match self.seg.selected {
                    Some(sel) => Fact::str(&rules.sla.rules[sel.policy].meta.id),
                    None => Fact::Missing,
                },
                Source::Derived(Derived::Sla(m, which)) => match looks[m.index()] {
                    None => Fact::Missing,
                    Some((elapsed, target, phase)) => match which {
                        MetricField::Used => Fact::Num(elapsed as f64 * 100.0 / target as f64),
                        MetricField::State => Fact::pair(phase.name(), phase.name()),
                        MetricField::Breached => Fact::Bool(phase == Phase::Breached),
                    },
                },
                _ => continue,
            };
        }
    }

    /// Evaluates every escalation rule at `t` and fires what holds.
    fn evaluate(&mut self, t: i64, clocks: Option<&Clocks<'_>>) {
        let rules = self.rules;
        if rules.escalation.rules.is_empty() {
            return;
        }
        self.refresh(t, clocks);
        let facts = std::mem::take(&mut self.facts);
        // Milestones of records still open when their time comes.
        let due: Vec<Scheduled> = if self.scheduled.iter().any(|s| s.at <= t) {
            let (now, later) = std::mem::take(&mut self.scheduled).into_iter().partition(|s| s.at <= t);
            self.scheduled = later;
            now
        } else {
            Vec::new()
        };
        for s in due {
            if clocks.is_some_and(Clocks::resolved) || !self.milestones_fired.insert(s.key.clone()) {
                continue;
            }
            let rule = &rules.escalation.rules[s.rule];
            let mut a = Action::new(
                "notify",
                s.key,
                "milestone".to_string(),
                format!("escalation `{}` for case `{}` is still open: tell `{}`", s.record, self.case.id, s.notify),
            );
            a.target = Some(s.notify);
            a.rule = Some(rule.meta.id.to_string());
            a.level = Some(rule.action.level);
            a.fired_at = Some(utc(s.at));
            a.due_at = a.fired_at;
            self.actions.push(a);
        }
        for (ri, rule) in rules.escalation.rules.iter().enumerate() {
            if !cond::eval(&rule.cond, &rules.preds, &facts, self.hits) {
                continue;
            }
            let cycles = cycles(&rule.action, rules, &facts, self.hits, clocks);
            if (0..rule.action.actions.len()).all(|ai| self.fired.contains(&(ri, cycles, ai))) {
                continue;
            }
            let why = eval::explainer(rules, &facts, self.hits).why_matched(&rule.cond);
            for (ai, act) in rule.action.actions.iter().enumerate() {
                if !self.fired.insert((ri, cycles, ai)) {
                    continue;
                }
                let key = format!(
                    "{}/{}/L{}/{}/{ai}-{}",
                    self.case.id,
                    rule.meta.id,
                    rule.action.level,
                    cycle_tag(&cycles),
                    act.kind.name()
                );
                if let EscKind::NotifyFrom(slot) = act.kind {
                    self.notify_each(ri, rule, ai, &key, t, &facts, (slot, &why));
                    continue;
                }
                let action = self.build(ri, rule, ai, key, t, &facts, why.clone());
                // Moving a case where it already is changes nothing.
                let no_op = match action.kind {
                    "raise_tier" | "set_tier" => action.tier == Some(self.seg.tier),
                    "set_priority" => action.priority.as_deref() == Some(rules.priorities[self.seg.rank].as_str()),
                    _ => false,
                };
                if no_op {
                    let why = format!("at {}: `{}` skipped: {}", utc(t), action.kind, action.detail);
                    self.trace.push(eval::note("escalation", why));
                } else {
                    self.actions.push(action);
                }
            }
            self.trace.push(TraceEntry {
                why: Some(format!("at {}: {why}", utc(t))),
                ..eval::entry(rules, "escalation", &rule.meta, Outcome::Matched, None)
            });
        }
        self.facts = facts;
    }

    /// A `notify: { from: FIELD }` action: one notification to each
    /// recipient the field holds at `t`, each with its own idempotency key
    /// (the action's, then `/` and the recipient); an item that is not a
    /// role, an e-mail address or a `#channel` is skipped with a note.
    #[expect(clippy::too_many_arguments, reason = "one action, from the state of the replay at its instant")]
    fn notify_each(
        &mut self,
        ri: usize,
        rule: &Rule<Ladder>,
        ai: usize,
        key: &str,
        t: i64,
        facts: &[Fact<'_>],
        (slot, why): (Slot, &str),
    ) {
        let field = &self.rules.schema.fields[slot].name;
        let recipients: Vec<String> = match facts.get(slot) {
            Some(Fact::List(items)) => items.to_vec(),
            Some(Fact::Str { raw, .. }) => vec![raw.to_string()],
            _ => Vec::new(),
        };
        if recipients.is_empty() {
            let note = format!("at {}: `{}` names no recipient in `{field}`", utc(t), rule.meta.id);
            self.trace.push(eval::note("escalation", note));
        }
        let mut told: BTreeSet<String> = BTreeSet::new();
        let (mut sent, mut skipped) = (0usize, 0usize);
        for to in recipients {
            // The list's items are lower-cased: `A@X.example` and
            // `a@x.example` are one recipient, told once.
            if !told.insert(to.clone()) {
                continue;
            }
            if !crate::compile::is_recipient(&to) {
                let note = format!(
                    "at {}: `{to}` in `{field}` is not a role, an e-mail address or a `#channel`; not notified",
                    utc(t)
                );
                self.trace.push(eval::note("escalation", note));
                continue;
            }
            if sent == MAX_RECIPIENTS {
                skipped += 1;
                continue;
            }
            sent += 1;
            // A recipient holds no `/`, the key's separator.
            let mut a = self.build(ri, rule, ai, format!("{key}/{to}"), t, facts, why.to_string());
            a.detail = format!(
                "tell `{to}` (from `{field}`): rule `{}` (level {}) holds for case `{}`",
                rule.meta.id, rule.action.level, self.case.id
            );
            a.target = Some(to);
            self.actions.push(a);
        }
        if skipped > 0 {
            let note = format!(
                "at {}: `{field}` names {skipped} recipient(s) more than the {MAX_RECIPIENTS} one action tells; not \
                 notified",
                utc(t)
            );
            self.trace.push(eval::note("escalation", note));
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one action, from the state of the replay at its instant")]
    fn build(
        &mut self,
        ri: usize,
        rule: &Rule<Ladder>,
        ai: usize,
        key: String,
        t: i64,
        facts: &[Fact<'_>],
        reason: String,
    ) -> Action {
        let rules = self.rules;
        let act = &rule.action.actions[ai];
        let id = &self.case.id;
        let mut a = Action::new(act.kind.name(), key.clone(), reason, String::new());
        a.rule = Some(rule.meta.id.to_string());
        a.level = Some(rule.action.level);
        a.fired_at = Some(utc(t));
        let seg = &self.seg;
        let priority_sev = u8::try_from(seg.rank + 1).unwrap_or(4).clamp(1, 4);
        match &act.kind {
            EscKind::NotifyFrom(_) => {}
            EscKind::Notify(to) => {
                a.target = Some(to.clone());
                a.detail =
                    format!("tell `{to}`: rule `{}` (level {}) holds for case `{id}`", rule.meta.id, rule.action.level);
            }
            EscKind::RaiseTier(n) => {
                let to = (seg.tier + n).min(3);
                a.tier = Some(to);
                a.detail = format!("move case `{id}` from tier {} to tier {to}", seg.tier);
            }
            EscKind::SetTier(to) => {
                a.tier = Some(*to);
                a.detail = format!("move case `{id}` from tier {} to tier {to}", seg.tier);
            }
            EscKind::Reassign(what, name) => {
                a.target = Some(name.clone());
                a.detail = format!("reassign case `{id}` to {what} `{name}`");
            }
            EscKind::SetPriority(r) => {
                let p = &rules.priorities[*r];
                a.priority = Some(p.to_string());
                a.detail = format!("change case `{id}` priority from {} to {p}", rules.priorities[seg.rank]);
            }
            EscKind::AdminAlert(message) => {
                a.target = Some("admin".to_string());
                a.detail = message.clone();
            }
            EscKind::OpenEscalation(spec) => {
                let severity = spec.severity.unwrap_or(priority_sev);
                let risk = risk(rules, facts, self.hits);
                let milestones: Vec<Milestone> = spec
                    .milestones
                    .iter()
                    .map(|m| Milestone {
                        after_minutes: m.after.num_minutes(),
                        notify: m.notify.clone(),
                        due_at: utc(t + m.after.num_seconds()),
                    })
                    .collect();
                for (mi, m) in milestones.iter().enumerate() {
                    self.scheduled.push(Scheduled {
                        at: m.due_at.timestamp(),
                        key: format!("{key}/milestone-{}", mi + 1),
                        notify: m.notify.clone(),
                        rule: ri,
                        record: key.clone(),
                    });
                }
                a.target = Some(spec.owner.clone());
                a.detail = format!(
                    "open a severity {severity} escalation for case `{id}` owned by `{}`, risk {}",
                    spec.owner, risk.score
                );
                a.record = Some(Box::new(EscalationRecord {
                    id: key,
                    case_id: id.clone(),
                    rule: rule.meta.id.to_string(),
                    severity,
                    risk,
                    owner: spec.owner.clone(),
                    members: spec.members.clone(),
                    milestones,
                    status: RecordStatus::Open,
                    opened_at: utc(t),
                    history: Vec::new(),
                    lessons_learned: None,
                }));
            }
            EscKind::Swarm(spec) => {
                // The swarm's own severity, else the record this rule opens,
                // else the priority's rank.
                let severity = spec
                    .severity
                    .or_else(|| {
                        rule.action.actions.iter().find_map(|x| match &x.kind {
                            EscKind::OpenEscalation(r) => r.severity,
                            _ => None,
                        })
                    })
                    .unwrap_or(priority_sev);
                let name = channel_name(&spec.name, self.case, seg, rules, severity);
                let route = spec.routes.iter().find(|(c, _)| cond::eval(c, &rules.preds, facts, self.hits));
                a.target = route.map(|(_, to)| to.clone());
                a.detail = match &a.target {
                    Some(to) => format!("start swarm channel `{name}` in `{to}` for case `{id}`"),
                    None => format!("start swarm channel `{name}` for case `{id}` (no route matched)"),
                };
                a.channel = Some(name);
            }
        }
        // Actions that wait for business hours fall due at the next opening
        // of the team's calendar: the territory's, else the policy's (a
        // 24x7 platinum clock does not make the lead work nights).
        a.due_at = a.fired_at;
        if act.business_hours
            && let Some(cal) = seg.hours.and_then(|c| rules.calendars.get(c))
            && let Ok(open) = cal.next_opening(utc(t))
        {
            a.due_at = Some(open);
        }
        a
    }
}

/// The SLA cycles behind a firing, per metric (`u32::MAX` for a metric
/// not in the key): the metrics whose tests hold (all the rule reads, if
/// none does), so a rule about the next response fires again for each
/// unanswered message, and a rule on two clocks fires again when the second
/// one trips.
fn cycles(
    ladder: &Ladder,
    rules: &CompiledRules,
    facts: &[Fact<'_>],
    hits: &Hits,
    clocks: Option<&Clocks<'_>>,
) -> [u32; 4] {
    let mut out = [u32::MAX; 4];
    let cycle = |m: Metric| clocks.map_or(0, |c| c.cycle(m));
    for (p, m) in &ladder.metrics {
        if rules.preds.get(*p as usize).is_some_and(|p| cond::test(p, facts, hits)) {
            out[m.index()] = cycle(*m);
        }
    }
    if out == [u32::MAX; 4] {
        for (_, m) in &ladder.metrics {
            out[m.index()] = cycle(*m);
        }
    }
    out
}

/// The cycles as they appear in a key: `first_response#1+next_response#2`,
/// or `case` for a rule that reads no clock.
fn cycle_tag(cycles: &[u32; 4]) -> String {
    let parts: Vec<String> = Metric::ALL
        .iter()
        .filter(|m| cycles[m.index()] != u32::MAX)
        .map(|m| format!("{}#{}", m.name(), cycles[m.index()]))
        .collect();
    if parts.is_empty() { "case".to_string() } else { parts.join("+") }
}

/// The risk score from the rule set's factors, 0 to 100.
fn risk(rules: &CompiledRules, facts: &[Fact<'_>], hits: &Hits) -> Risk {
    let mut parts = Vec::new();
    let (mut got, mut total) = (0.0, 0.0);
    for f in &rules.escalation.risk {
        let share = match &f.input {
            RiskInput::When(c) => {
                if cond::eval(c, &rules.preds, facts, hits) {
                    1.0
                } else {
                    0.0
                }
            }
            RiskInput::Scaled(slot, cap) => match facts.get(*slot) {
                Some(Fact::Num(v)) => (v / cap).clamp(0.0, 1.0),
                _ => 0.0,
            },
        };
        got += f.weight * share;
        total += f.weight;
        parts.push(RiskPart { factor: f.name.clone(), weight: f.weight, share: (share * 1000.0).round() / 1000.0 });
    }
    let score = if total > 0.0 { (got / total * 1000.0).round() / 10.0 } else { 0.0 };
    Risk { score, factors: parts }
}

fn channel_name(pieces: &[Piece], case: &Case, seg: &Segment, rules: &CompiledRules, severity: u8) -> String {
    let mut raw = String::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => raw.push_str(s),
            Piece::Var(v) => {
                let value = match v {
                    TemplateVar::Product => seg.product.clone(),
                    TemplateVar::Severity => Some(severity.to_string()),
                    TemplateVar::Number => case.number.map(|n| n.to_string()).or_else(|| Some(case.id.clone())),
                    TemplateVar::CaseId => Some(case.id.clone()),
                    TemplateVar::Priority => Some(rules.priorities[seg.rank].to_string()),
                    TemplateVar::Category => Some(seg.category.to_string()),
                    TemplateVar::Territory => seg.territory.as_ref().map(Name::to_string),
                    TemplateVar::Tier => Some(seg.tier.to_string()),
                    TemplateVar::Account => case.account.clone(),
                };
                raw.push_str(value.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("unknown"));
            }
        }
    }
    sanitize_channel(&raw)
}

/// A channel name chat tools accept: lower case letters, digits, `-` and
/// `_`, no leading, trailing or doubled `-`, at most 80 characters.
///
/// ```
/// assert_eq!(triage_core::sanitize_channel("Support API / Sev1 #27343"), "support-api-sev1-27343");
/// ```
pub fn sanitize_channel(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(MAX_CHANNEL_LEN);
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "support-case".to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_sanitized() {
        assert_eq!(sanitize_channel("Support-API-sev1-27343"), "support-api-sev1-27343");
        assert_eq!(sanitize_channel("--Ünïcode  name--"), "n-code-name");
        assert_eq!(sanitize_channel("!!!"), "support-case");
        let long = sanitize_channel(&"a-".repeat(100));
        assert!(long.len() <= MAX_CHANNEL_LEN && !long.ends_with('-'), "{long}");
    }
}
