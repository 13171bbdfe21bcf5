//! Evaluation: a case, the directory and `now` in, a decision out. A pure
//! function of its inputs.

use crate::assign::{BatchMode, Choice, Loads};
use crate::case::Case;
use crate::classify::Prediction;
use crate::cond::{self, Explainer, Fact};
use crate::decision::{
    Action, Decision, Deflection, ManualReview, Options, Outcome, Sentiment, Sla, SlaTargets, TraceEntry, TraceLevel,
    Warning,
};
use crate::directory::{Directory, ResolvedAccount};
use crate::name::Name;
use crate::normalize::{Finding, Normalized};
use crate::rules::{Adjust, AdjustKind, CompiledRules, Feed, FirstMatch, Rule, RuleMeta, SideTable};
use crate::schema::{AccountField, CHANNELS, CaseField, Derived, FieldType, Metric, Slot, Source};
use crate::sla::Clocks;
use crate::table::{Agg, Hit, Selection, Table};
use crate::territory::Verdict;
use crate::text::Hits;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Decides category, priority, tier and deflection for one case, with a
/// trace naming the rule, file and line behind each step.
///
/// The same inputs give the same decision on every machine and thread; `now`
/// is an input, never read from a clock.
///
/// ```
/// use triage_core::{compile_sources, triage, Case, Directory, Options};
/// let yaml = "categories:\n  - id: outage\n    when: { subject: { contains_any: [outage, is down] } }\n    set: { category: outage, priority: P1 }\n  - id: other\n    set: { category: general }\n";
/// let (rules, _) = compile_sources(&[("rules.yaml", yaml)]);
/// let rules = rules.unwrap();
/// let case = Case { id: "c1".into(), subject: Some("The API is DOWN".into()), ..Default::default() };
/// let now = "2026-03-02T09:00:00Z".parse().unwrap();
/// let d = triage(&rules, &case, &Directory::new(), now, &Options::default());
/// assert_eq!((d.category.as_str(), d.priority.as_str()), ("outage", "P1"));
/// assert_eq!(d.trace[0].rule.as_deref(), Some("outage"));
/// ```
pub fn triage(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
) -> Decision {
    triage_seen(rules, case, directory, now, options, None)
}

/// [`triage`], with what [`crate::Recent`] found (`duplicate.score`,
/// `duplicate_of`, `incident.size`) for the rules to read.
pub(crate) fn triage_seen(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
    seen: Option<&crate::related::Related>,
) -> Decision {
    let mut decision = decide_with_sla(rules, case, directory, now, options, seen);
    finish_assignment(
        rules,
        case,
        &mut decision,
        directory,
        &mut Loads::default(),
        now,
        options.trace,
        Choice::Strategy,
    );
    decision
}

/// Assigns an already-decided case again, against the directory as it is
/// now: when the chosen agent declines or goes offline, when loads have
/// moved, or when the case has waited long enough for a rule's relaxation
/// ladder to drop a skill. Only the assignment part of the decision is
/// replaced — team, agent, queue, `assignment`, the assignment trace and a
/// manual review that assignment asked for; categorization, tier and SLA
/// stay as decided.
///
/// ```
/// use triage_core::{compile_sources, reassign, triage, Case, Directory, Options};
/// let rules = compile_sources(&[("r.yaml", "categories: [{ id: g, set: { category: general } }]")]).0.unwrap();
/// let text = "teams: [{ id: desk }]\nagents: [{ id: ann, teams: [desk], capacity: 2 }, { id: bob, teams: [desk], capacity: 2, load: 1 }]";
/// let dir = Directory::from_text("d.yaml", text).unwrap();
/// let case = Case { id: "a".into(), ..Default::default() };
/// let now = "2026-03-02T09:00:00Z".parse().unwrap();
/// let mut d = triage(&rules, &case, &dir, now, &Options::default());
/// assert_eq!(d.agent.as_deref(), Some("ann"));
/// // Ann went offline before accepting.
/// let dir = Directory::from_text("d.yaml", &text.replace("capacity: 2 }", "capacity: 2, presence: offline }")).unwrap();
/// reassign(&rules, &case, &mut d, &dir, now, &Options::default());
/// assert_eq!(d.agent.as_deref(), Some("bob"));
/// ```
pub fn reassign(
    rules: &CompiledRules,
    case: &Case,
    decision: &mut Decision,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
) {
    if let Some((trace, warnings)) = decision.before_assign {
        decision.trace.truncate(trace);
        decision.warnings.truncate(warnings);
    }
    if decision.manual_review.as_ref().is_some_and(|m| ASSIGNMENT_REVIEWS.contains(&m.reason.as_str())) {
        decision.manual_review = None;
    }
    decision.team = None;
    decision.agent = None;
    decision.queue = None;
    decision.assignment = None;
    finish_assignment(rules, case, decision, directory, &mut Loads::default(), now, options.trace, Choice::Strategy);
}

/// Manual-review reasons that only assignment gives.
const ASSIGNMENT_REVIEWS: [&str; 2] = ["no-team", "no-eligible-agent"];

/// Decides a batch of cases and assigns them to agents; decisions come
/// back in input order.
///
/// [`BatchMode::Greedy`] takes the most urgent priority first, then the
/// earliest SLA deadline, then the oldest, then input order, and gives each
/// case to its team's strategy's pick, updating the agents' loads as it
/// goes. [`BatchMode::Optimal`] chooses the plan of greatest total match
/// score (see [`Assignment::score`](crate::Assignment)) over the same
/// eligibility, capacities and window caps — by minimum-cost flow when each
/// agent's cases cost it the same units, else by a mixed-integer program
/// (HiGHS) within a budget of branch-and-bound nodes — and among plans of
/// that score the one that fills agents most evenly. Either way no agent
/// ever goes over capacity. [`assign_batch_plan`] also says how close the
/// optimal plan is proven to be.
///
/// ```
/// use triage_core::{assign_batch, compile_sources, BatchMode, Case, Directory, Options};
/// let rules = compile_sources(&[("r.yaml", "categories: [{ id: g, set: { category: general } }]")]).0.unwrap();
/// let dir = Directory::from_text("d.yaml", "teams: [{ id: desk }]\nagents: [{ id: ann, teams: [desk], capacity: 1 }]").unwrap();
/// let cases = [Case { id: "a".into(), ..Default::default() }, Case { id: "b".into(), ..Default::default() }];
/// let now = "2026-03-02T09:00:00Z".parse().unwrap();
/// let out = assign_batch(&rules, &cases, &dir, now, BatchMode::Greedy, &Options::default());
/// assert_eq!(out[0].agent.as_deref(), Some("ann"));
/// assert_eq!(out[1].manual_review.as_ref().unwrap().reason, "no-eligible-agent");
/// ```
pub fn assign_batch(
    rules: &CompiledRules,
    cases: &[Case],
    directory: &Directory,
    now: DateTime<Utc>,
    mode: BatchMode,
    options: &Options,
) -> Vec<Decision> {
    assign_batch_plan(rules, cases, directory, now, mode, options).decisions
}

/// A batch's decisions and, for [`BatchMode::Optimal`], how good the plan is
/// known to be.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// The decisions, in input order.
    pub decisions: Vec<Decision>,
    /// The optimal plan's method, score, proven bound and gap; `None` for a
    /// greedy batch.
    pub quality: Option<crate::assign::PlanQuality>,
}

/// [`assign_batch`], with the plan's quality.
///
/// ```
/// use triage_core::{assign_batch_plan, compile_sources, BatchMode, Case, Directory, Options};
/// let rules = compile_sources(&[("r.yaml", "categories: [{ id: g, set: { category: general } }]")]).0.unwrap();
/// let dir = Directory::from_text("d.yaml", "teams: [{ id: desk }]\nagents: [{ id: ann, teams: [desk], capacity: 1 }]").unwrap();
/// let cases = [Case { id: "a".into(), ..Default::default() }];
/// let now = "2026-03-02T09:00:00Z".parse().unwrap();
/// let plan = assign_batch_plan(&rules, &cases, &dir, now, BatchMode::Optimal, &Options::default());
/// let quality = plan.quality.unwrap();
/// assert!(quality.optimal && quality.gap == 0.0);
/// assert_eq!(plan.decisions[0].agent.as_deref(), Some("ann"));
/// ```
pub fn assign_batch_plan(
    rules: &CompiledRules,
    cases: &[Case],
    directory: &Directory,
    now: DateTime<Utc>,
    mode: BatchMode,
    options: &Options,
) -> BatchPlan {
    let mut decided: Vec<Decision> =
        cases.iter().map(|c| decide_with_sla(rules, c, directory, now, options, None)).collect();
    let rank = |d: &Decision| rules.priorities.iter().position(|p| *p == d.priority).unwrap_or(usize::MAX);
    let due = |d: &Decision| {
        d.sla.as_ref().and_then(|s| s.first_response_due.or(s.resolution_due)).map_or(i64::MAX, |t| t.timestamp())
    };
    let created = |i: usize| cases[i].created_at.map_or(i64::MAX, |t| t.timestamp());
    let mut order: Vec<usize> = (0..cases.len()).collect();
    // Keys computed once per case, not once per comparison.
    order.sort_by_cached_key(|&i| (rank(&decided[i]), due(&decided[i]), created(i), i));
    let finish = |decided: &mut [Decision], choice: &dyn Fn(usize) -> Choice| {
        let mut loads = Loads::tracking();
        for &i in &order {
            finish_assignment(rules, &cases[i], &mut decided[i], directory, &mut loads, now, options.trace, choice(i));
        }
    };
    match mode {
        BatchMode::Greedy => finish(&mut decided, &|_| Choice::Strategy),
        BatchMode::Optimal => {
            let mut urgency = vec![0; cases.len()];
            for (place, &i) in order.iter().enumerate() {
                urgency[i] = place;
            }
            let (choices, plan) = crate::assign::optimal_plan(rules, cases, &decided, directory, now, &urgency);
            finish(&mut decided, &|i| choices[i]);
            let total = |ds: &[Decision]| ds.iter().filter_map(|d| d.assignment.as_ref()).map(|a| a.score).sum::<i64>();
            let optimal_score = total(&decided);
            let mut quality = crate::assign::PlanQuality::new(plan.method, optimal_score, plan.bound);
            // A plan the solver could not prove within its budget may lose
            // to the greedy plan; the better one is kept.
            if !quality.optimal {
                let mut greedy = decided.clone();
                finish(&mut greedy, &|_| Choice::Strategy);
                let greedy_score = total(&greedy);
                if greedy_score > optimal_score {
                    let why = format!(
                        "the greedy plan scores {greedy_score} against the solver's best {optimal_score} within its \
                         budget, so the greedy plan is kept"
                    );
                    for d in greedy.iter_mut().filter(|_| options.trace != TraceLevel::Off) {
                        d.trace.push(note("assign", why.clone()));
                    }
                    decided = greedy;
                    quality = crate::assign::PlanQuality::new(plan.method, greedy_score, plan.bound);
                }
            }
            let why = format!("the batch plan is {quality}");
            for d in decided.iter_mut().filter(|_| options.trace != TraceLevel::Off) {
                d.trace.push(note("assign", why.clone()));
            }
            return BatchPlan { decisions: decided, quality: Some(quality) };
        }
    }
    BatchPlan { decisions: decided, quality: None }
}

/// The decision with its SLA clocks at `now` (and, kept in it, the
/// assignment rule that matched); assignment itself is left to the caller.
pub(crate) fn decide_with_sla(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
    seen: Option<&crate::related::Related>,
) -> Decision {
    // The SLA policy comes back through `selected`, not with the decision
    // in a pair, so that the decision is made where it is returned.
    let mut selected = None;
    let mut decision = decide(rules, case, directory, now, options, Pins::default(), seen, &mut selected);
    // Business time is computed for 1970–2199 only: a date outside (a
    // database's zero date, a mistyped year) would leave the due times empty
    // or count clock time on a business calendar, so a person looks first.
    let mut outside = false;
    for (what, t) in [("`now`", Some(now)), ("`created_at`", case.created_at.map(|t| t.with_timezone(&Utc)))] {
        if let Some(t) = t.filter(|t| !crate::calendar::supported(t.timestamp())) {
            let message =
                format!("{what} {} is outside the supported years 1970–2199; no SLA due time is given", t.to_rfc3339());
            review_date(&mut decision, Warning { code: "date-out-of-range", message });
            outside = true;
        }
    }
    // No clock at all rather than one measured in the wrong time.
    if let Some(sel) = selected.filter(|_| !outside) {
        // Without a history the clocks run from the case's creation in the
        // status it has now.
        let start = match case.created_at {
            Some(t) => t.timestamp(),
            None => {
                let why = "the case has no `created_at`; the SLA clocks start at `now`".to_string();
                decision.trace.push(note("sla", why));
                now.timestamp()
            }
        };
        let policy = &rules.sla.rules[sel.policy].action;
        let cal = sel.calendar.and_then(|c| rules.calendars.get(c));
        let clocks = Clocks::start(&rules.settings.clock, cal, policy, start, case.status.as_deref());
        // Written in place: an SLA is a few hundred bytes.
        let sla = decision.sla.insert(sla_output(rules, &sel, &clocks, start, now.timestamp()));
        if let Some(w) = due_beyond_range(sla) {
            review_date(&mut decision, w);
        }
    }
    // No trace asked for: what the stages noted is dropped (the costly
    // notes are not written at all).
    if options.trace == TraceLevel::Off {
        decision.trace = Vec::new();
    }
    decision
}

/// A date problem: the warning, and manual review with its message unless
/// something else already sent the case to a person.
fn review_date(decision: &mut Decision, warning: Warning) {
    if decision.manual_review.is_none() {
        decision.manual_review =
            Some(ManualReview { reason: "date-out-of-range".to_string(), detail: warning.message.clone() });
    }
    decision.warnings.push(warning);
}

/// A warning when a running clock falls due after 2199, past the years
/// business time is computed for: its due time is unknown, and a scheduler
/// would never ask again.
pub(crate) fn due_beyond_range(sla: &Sla) -> Option<Warning> {
    let late: Vec<&str> = Metric::ALL
        .into_iter()
        .filter(|&m| sla.metrics.get(m).is_some_and(|s| s.state == "running" && s.due_at.is_none()))
        .map(Metric::name)
        .collect();
    (!late.is_empty()).then(|| Warning {
        code: "date-out-of-range",
        message: format!(
            "the {} clock falls due after 2199, outside the supported years; no due time is given",
            late.join(" and ")
        ),
    })
}

/// Runs the assignment stage and copies its outcome to the decision's
/// top-level `team`, `agent` and `queue`.
#[expect(clippy::too_many_arguments, reason = "the assignment stage over a decided case")]
pub(crate) fn finish_assignment(
    rules: &CompiledRules,
    case: &Case,
    decision: &mut Decision,
    directory: &Directory,
    loads: &mut Loads,
    now: DateTime<Utc>,
    level: TraceLevel,
    choice: Choice,
) {
    decision.before_assign = Some((decision.trace.len(), decision.warnings.len()));
    crate::assign::assign(rules, case, decision, directory, loads, now, level, choice);
    if let Some(a) = &decision.assignment {
        decision.team = Some(a.team.clone());
        decision.agent.clone_from(&a.agent);
        decision.queue.clone_from(&a.queue);
    }
}

/// Values fixed by the case's history rather than by rules: a priority or
/// tier an agent set.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pins {
    /// Rank on the priority scale.
    pub priority: Option<usize>,
    pub tier: Option<u8>,
}

/// The SLA policy a decision chose and the calendar it measures on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selected {
    /// Index into `rules.sla.rules`.
    pub policy: usize,
    /// Index into `rules.calendars`; `None` is clock time.
    pub calendar: Option<usize>,
}

/// The SLA part of a decision: the policy, its targets and each metric's
/// state at `now`.
pub(crate) fn sla_output(rules: &CompiledRules, sel: &Selected, clocks: &Clocks<'_>, start: i64, now: i64) -> Sla {
    let rule = &rules.sla.rules[sel.policy];
    let policy = &rule.action;
    let metrics = clocks.metrics(now);
    let due = |m: Metric| metrics.get(m).and_then(|s| s.due_at);
    Sla {
        policy: Name::from(&rule.meta.id),
        calendar: sel.calendar.and_then(|c| rules.calendars.get(c)).map(|c| c.name().clone()),
        started_at: crate::sla::utc(start),
        first_response_due: due(Metric::FirstResponse),
        next_response_due: due(Metric::NextResponse),
        resolution_due: due(Metric::Resolution),
        update_due: due(Metric::Update),
        targets: SlaTargets {
            first_response: policy.first_response.map(|d| d.num_minutes()),
            next_response: policy.next_response.map(|d| d.num_minutes()),
            resolution: policy.resolution.map(|d| d.num_minutes()),
            update: policy.update.map(|d| d.num_minutes()),
        },
        metrics,
    }
}

/// Schemas up to this many fields keep a decision's facts on the stack.
const STACK_FACTS: usize = 64;

/// The decision pipeline; the SLA clocks are left to the caller, which
/// knows whether there is a history to replay. The SLA policy chosen (and
/// its calendar) is written to `chosen`.
#[expect(clippy::too_many_arguments, reason = "the pipeline's inputs, and the policy it chose")]
pub(crate) fn decide(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
    options: &Options,
    pins: Pins,
    seen: Option<&crate::related::Related>,
    chosen: &mut Option<Selected>,
) -> Decision {
    let full = options.trace == TraceLevel::Full;
    let slots = rules.derived;
    let mut warnings = Vec::new();
    // Room for a lean trace of every stage without growing.
    let mut trace = Vec::with_capacity(8);
    let mut actions = Vec::new();

    // Normalize: the cleaned values are what rules read.
    let mut steps = full.then(Vec::new);
    let (normalized, findings) = rules.normalizer.normalize_case(case, steps.as_mut());
    for s in steps.into_iter().flatten() {
        trace.push(note("normalize", format!("{} `{}` → `{}` ({})", s.field, s.from, s.to, s.how)));
    }
    warnings.extend(findings.iter().map(|f| Warning { code: f.code, message: f.message.clone() }));

    let account = case.account.as_deref().map(str::trim).filter(|a| !a.is_empty()).and_then(|id| {
        let found = directory.account(id);
        if found.is_none() {
            warnings
                .push(Warning { code: "unknown-account", message: format!("account `{id}` is not in the directory") });
        }
        found
    });
    // The facts live on the stack for any schema of ordinary size: one
    // allocation of a few kilobytes per case would otherwise make the
    // allocator sweep its small free lists every time.
    // The array is not dropped whole: dropping it would run a fact's drop
    // glue for each of its 64 slots (a call each, about 3 % of a decision
    // of the sample case); the slots that hold something are dropped
    // before the decision is made instead.
    let (mut on_stack, mut on_heap);
    let facts: &mut [Fact<'_>] = if rules.schema.len() <= STACK_FACTS {
        on_stack = std::mem::ManuallyDrop::new(std::array::from_fn::<_, STACK_FACTS, _>(|_| Fact::Missing));
        &mut on_stack[..rules.schema.len()]
    } else {
        on_heap = vec![Fact::Missing; rules.schema.len()];
        &mut on_heap
    };
    fill_facts(rules, case, &normalized, account, now, facts, &mut warnings);
    if let Some(seen) = seen {
        seen.fill(&rules.derived, facts);
    }
    // Learned triage: each classifier's guesses, which rules read as
    // `predicted.LABEL` from the first stage on.
    let own = OwnText::new(case);
    let predicted = predict(rules, case, &own);
    fill_predicted(rules, &predicted, facts);
    trace.extend(classify_trace(rules, &predicted, full));
    let hits = rules.text.scan(|slot| raw_text(rules, case, &normalized, slot));

    // Sentiment: distinct negative and positive phrases found.
    let sentiment = sentiment(rules, &hits, case, &own, normalized.language.as_deref());
    fill_sentiment(rules, &sentiment, facts);

    // Territory: the deepest match, then priority, then file order.
    let territory = stamp_territory(
        rules,
        case,
        account,
        &normalized,
        &findings,
        facts,
        &hits,
        options.trace,
        &mut trace,
        &mut warnings,
    );
    let mut manual_review = territory.review;
    actions.extend(territory.alert);
    let territory = territory.winner;
    let territory_path = territory.map(|t| rules.territories.path(t).to_vec()).unwrap_or_default();
    if let Some(t) = territory {
        Fact::set(facts, slots.territory, Fact::str(&rules.territories.list[t].meta.id));
        Fact::set(facts, slots.territory_path, Fact::List(Cow::Borrowed(rules.territories.path_lower(t))));
    }

    // Categorize.
    let mut priority_rank = facts_priority(rules, facts);
    let mut product: Option<&str> = case.product.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let mut lists: (&[String], &[String]) = (&[], &[]);
    let category_rule =
        first_match(rules, &rules.categories, facts, &hits, options.trace, "categorize", &mut trace, &mut warnings);
    let (category, confidence, mut skills, mut tags) = match category_rule {
        Some(rule) => {
            let set = &rule.action;
            if set.priority.is_some() {
                priority_rank = set.priority;
            }
            if let Some(p) = &set.product {
                product = Some(p);
            }
            lists = (&set.skills_lower, &set.tags_lower);
            let (category, confidence) = match set.from_model.and_then(|(c, h)| guess_of(rules, &predicted, c, h)) {
                Some(p) => (p.class.as_str(), p.confidence),
                None => (set.category.as_str(), set.confidence),
            };
            (category, confidence, set.skills.clone(), set.tags.clone())
        }
        // Unreachable for a compiled set (a default is required), but a
        // decision is still owed.
        None => ("uncategorized", 0.0, Vec::new(), Vec::new()),
    };
    let lowest = rules.priorities.len().saturating_sub(1);
    let mut rank = priority_rank.unwrap_or(lowest);
    Fact::set(facts, slots.category, Fact::str(category));
    Fact::set(facts, slots.confidence, Fact::Num(confidence));
    Fact::set(facts, slots.skills, Fact::List(Cow::Borrowed(lists.0)));
    Fact::set(facts, slots.tags, Fact::List(Cow::Borrowed(lists.1)));
    Fact::set(facts, slots.product, product.map_or(Fact::Missing, Fact::str));
    Fact::set(facts, slots.priority, priority_fact(rules, rank));
    let mut outputs = BTreeMap::new();
    let mut added =
        Lists { tags: std::mem::take(&mut tags), skills: std::mem::take(&mut skills), articles: Vec::new() };
    let sides = &rules.categories.side;
    if !sides.is_empty() {
        let out = (&mut outputs, &mut added);
        side_tables(rules, sides, facts, &hits, full, "categorize", &mut trace, &mut warnings, out);
    }
    // Said after categorization's side tables, which belong with its rules
    // in the trace.
    if priority_rank.is_none() {
        trace.push(note(
            "priority",
            format!(
                "no priority from the case or categorization; starting at the lowest, `{}`",
                rules.priorities[lowest]
            ),
        ));
    }

    // Priority: every matching rule applies, in order, clamped to the scale.
    // A table applies the rows its hit policy chooses; `collect` with an
    // aggregation applies one move, the rows' steps folded.
    let mut i = 0;
    'rules: while i < rules.adjustments.len() {
        if let Some(table) = rules.adjust_tables.iter().find(|t| t.start == i) {
            i += table.rows.len();
            let fact = |slot: Slot| facts.get(slot).unwrap_or(&MISSING);
            let sel = table.select(&table.matching(&rules.preds, fact));
            if full {
                let ex = explainer(rules, facts, &hits);
                for r in (0..table.rows.len()).filter(|r| !sel.rows().contains(r)) {
                    let rule = &rules.adjustments[table.rule_index(r)];
                    let (outcome, why) = unchosen_row(&ex, &rule.cond, table);
                    trace.push(entry(rules, "priority", &rule.meta, outcome, Some(why)));
                }
            }
            table_conflict(table, &sel, &mut warnings);
            let chosen: Vec<&Rule<Adjust>> =
                sel.rows().iter().map(|&r| &rules.adjustments[table.rule_index(r)]).collect();
            if let Hit::Collect(Some(agg)) = table.hit {
                if chosen.is_empty() {
                    continue;
                }
                let steps: Vec<i64> = chosen
                    .iter()
                    .map(|r| match r.action.kind {
                        AdjustKind::Raise(n) => i64::try_from(n).unwrap_or(i64::MAX),
                        AdjustKind::Lower(n) => -i64::try_from(n).unwrap_or(i64::MAX),
                        AdjustKind::Set(_) => 0,
                    })
                    .collect();
                let total = match agg {
                    Agg::Sum => steps.iter().sum(),
                    Agg::Min => steps.iter().copied().min().unwrap_or(0),
                    Agg::Max => steps.iter().copied().max().unwrap_or(0),
                    // A raising row counts one step up, a lowering one down.
                    Agg::Count => steps.iter().map(|s| s.signum()).sum(),
                };
                let before = rank;
                rank = if total >= 0 {
                    rank.saturating_sub(usize::try_from(total).unwrap_or(usize::MAX))
                } else {
                    (rank + usize::try_from(-total).unwrap_or(usize::MAX)).min(lowest)
                };
                let ids: Vec<&str> = chosen.iter().map(|r| &*r.meta.id).collect();
                let why = full.then(|| {
                    format!(
                        "table `{}` (hit `{}`) over rows {}: {total:+} steps, {} → {}",
                        table.name,
                        table.hit.name(),
                        ids.join(", "),
                        rules.priorities[before],
                        rules.priorities[rank]
                    )
                });
                // `min` and `max` take one row's step: the rows whose step
                // it is decided, the others lost.
                for (r, step) in chosen.iter().zip(&steps) {
                    let decided = !matches!(agg, Agg::Min | Agg::Max) || *step == total;
                    let outcome = if decided { Outcome::Applied } else { Outcome::Lost };
                    trace.push(entry(rules, "priority", &r.meta, outcome, why.clone()));
                }
                Fact::set(facts, slots.priority, priority_fact(rules, rank));
                if chosen.iter().any(|r| r.action.stop) {
                    break 'rules;
                }
                continue;
            }
            for (k, rule) in chosen.iter().enumerate() {
                if apply_adjust(rules, rule, &mut rank, lowest, facts, &hits, full, &mut trace) {
                    // The rows after a stopping one matched but never moved.
                    if full {
                        for later in &chosen[k + 1..] {
                            let why = format!("matched, but row `{}` stopped the priority stage first", rule.meta.id);
                            trace.push(entry(rules, "priority", &later.meta, Outcome::Lost, Some(why)));
                        }
                    }
                    break 'rules;
                }
            }
            continue;
        }
        let rule = &rules.adjustments[i];
        i += 1;
        if cond::eval(&rule.cond, &rules.preds, facts, &hits) {
            if apply_adjust(rules, rule, &mut rank, lowest, facts, &hits, full, &mut trace) {
                break;
            }
        } else if full {
            let why = explainer(rules, facts, &hits).why_not(&rule.cond);
            trace.push(entry(rules, "priority", &rule.meta, Outcome::NotMatched, why));
        }
    }

    // A `duplicates:` or `incidents:` section's `then: { priority }`, before
    // the history's own changes.
    if let Some(r) = seen
        .and_then(|s| s.priority.as_deref())
        .and_then(|p| rules.priorities.iter().position(|x| x.eq_ignore_ascii_case(p.trim())))
    {
        if r != rank {
            let by = seen.and_then(|s| s.priority_by).map_or_else(
                || "the case's `related`".to_string(),
                |section| format!("the `{section}:` section's `then`"),
            );
            overridden(&mut trace, &by);
            trace.push(note("priority", format!("priority set to `{}` by {by}", rules.priorities[r])));
        }
        rank = r;
        Fact::set(facts, slots.priority, priority_fact(rules, rank));
    }

    if let Some(r) = pins.priority {
        if r != rank {
            let why = format!("priority set to `{}` in the case's history", rules.priorities[r]);
            overridden(&mut trace, "the case's history");
            trace.push(note("priority", why));
        }
        rank = r;
        Fact::set(facts, slots.priority, priority_fact(rules, rank));
    }

    // Tier, and deflection at tier 0.
    let mut tier = 1;
    let mut deflect = Vec::new();
    let tier_rule = first_match(rules, &rules.tiers, facts, &hits, options.trace, "tier", &mut trace, &mut warnings);
    if !rules.tiers.side.is_empty() {
        Fact::set(facts, slots.tier, Fact::Num(f64::from(tier_rule.map_or(1, |r| r.action.tier))));
        let (sides, out) = (&rules.tiers.side, (&mut outputs, &mut added));
        side_tables(rules, sides, facts, &hits, full, "tier", &mut trace, &mut warnings, out);
    }
    let offered = std::mem::take(&mut added.articles);
    if let Some(rule) = tier_rule {
        tier = rule.action.tier;
        if tier == 0 {
            deflect = deflection(rules, rule.action.articles.as_deref(), &offered, product, &hits);
            if deflect.is_empty() {
                tier = 1;
                trace.push(note(
                    "deflect",
                    "no knowledge article matches the case; tier 0 cannot deflect, so tier 1".to_string(),
                ));
            } else if options.trace != TraceLevel::Off {
                let ids: Vec<&str> = deflect.iter().map(|d: &Deflection| d.id.as_str()).collect();
                trace.push(note("deflect", format!("offered {}", ids.join(", "))));
            }
        }
    } else if rules.tiers.rules.is_empty() {
        trace.push(note("tier", "the rule set has no `tiers`; every case is tier 1".to_string()));
    }

    if let Some(t) = pins.tier {
        if t != tier {
            trace.push(note("tier", format!("tier set to {t} in the case's history")));
        }
        tier = t;
        if tier != 0 {
            deflect.clear();
        }
    }

    // SLA: the first matching policy, measured on its calendar, else the
    // territory's, else clock time.
    Fact::set(facts, slots.tier, Fact::Num(f64::from(tier)));
    let selected =
        first_match(rules, &rules.sla, facts, &hits, options.trace, "sla", &mut trace, &mut warnings).map(|rule| {
            let calendar = rule.action.calendar.or_else(|| territory.and_then(|t| rules.territory_calendars[t]));
            if calendar.is_none() {
                trace.push(note(
                    "sla",
                    "no calendar for this policy or territory; deadlines are in clock time".to_string(),
                ));
            }
            let policy = rules.sla.rules.iter().position(|r| std::ptr::eq(r, rule)).unwrap_or(0);
            Selected { policy, calendar }
        });
    if !rules.sla.side.is_empty() {
        let (sides, out) = (&rules.sla.side, (&mut outputs, &mut added));
        side_tables(rules, sides, facts, &hits, full, "sla", &mut trace, &mut warnings, out);
    }
    let route = first_match(rules, &rules.assignment, facts, &hits, options.trace, "assign", &mut trace, &mut warnings)
        .map(|rule| rules.assignment.rules.iter().position(|r| std::ptr::eq(r, rule)).unwrap_or(0));
    if !rules.assignment.side.is_empty() {
        let (sides, out) = (&rules.assignment.side, (&mut outputs, &mut added));
        side_tables(rules, sides, facts, &hits, full, "assign", &mut trace, &mut warnings, out);
    }
    let Lists { tags, skills, .. } = added;

    // Low confidence goes to a person, unless the territory already sent it.
    if let Some(threshold) = rules.settings.review_below
        && confidence < threshold
    {
        let detail = format!(
            "categorized as `{category}` by rule `{}` with confidence {confidence}, below {threshold}",
            category_rule.map(|r| &*r.meta.id).unwrap_or_default()
        );
        trace.push(note("review", detail.clone()));
        if manual_review.is_none() {
            manual_review = Some(ManualReview { reason: "low-confidence".to_string(), detail });
        }
    }

    // A table whose `unique` or `any` policy broke decided by its first
    // matching row; a person should look.
    if manual_review.is_none()
        && let Some(w) = warnings.iter().find(|w| w.code == TABLE_CONFLICT)
    {
        manual_review = Some(ManualReview { reason: TABLE_CONFLICT.to_string(), detail: w.message.clone() });
    }

    // The facts are done with: drop those that hold something.
    for fact in facts.iter_mut().filter(|f| f.owns()) {
        drop(std::mem::replace(fact, Fact::Missing));
    }
    *chosen = selected;
    Decision {
        case_id: case.id.clone(),
        normalized,
        territory: territory.map(|t| Name::from(&rules.territories.list[t].meta.id)),
        territory_path,
        category: match category_rule {
            Some(r) if r.action.from_model.is_none() => r.action.category.clone(),
            _ => Name::from(category),
        },
        priority: rules.priorities[rank].clone(),
        product: product.map(str::to_string),
        sentiment,
        confidence,
        tier,
        deflect,
        sla: None,
        skills,
        tags,
        team: None,
        agent: None,
        queue: None,
        assignment: None,
        manual_review,
        duplicates: Vec::new(),
        incident: None,
        predicted: predicted.clone(),
        outputs,
        actions,
        warnings,
        rules_version: rules.version.clone(),
        trace,
        route,
        before_assign: None,
    }
}

/// Applies one matching priority rule: moves `rank`, updates the priority
/// fact and the trace. Returns whether later priority rules are skipped.
#[expect(clippy::too_many_arguments, reason = "the priority stage's running state")]
fn apply_adjust<'a>(
    rules: &'a CompiledRules,
    rule: &'a Rule<Adjust>,
    rank: &mut usize,
    lowest: usize,
    facts: &mut [Fact<'a>],
    hits: &Hits,
    full: bool,
    trace: &mut Vec<TraceEntry>,
) -> bool {
    let before = *rank;
    *rank = match rule.action.kind {
        AdjustKind::Raise(n) => rank.saturating_sub(n),
        AdjustKind::Lower(n) => (*rank + n).min(lowest),
        AdjustKind::Set(r) => r,
    };
    // The lean trace names the rule; the full one says what it did.
    let why = full.then(|| {
        format!(
            "{} → {}; {}",
            rules.priorities[before],
            rules.priorities[*rank],
            explainer(rules, facts, hits).why_matched(&rule.cond)
        )
    });
    if matches!(rule.action.kind, AdjustKind::Set(_)) {
        overridden(trace, &format!("rule `{}`", rule.meta.id));
    }
    trace.push(entry(rules, "priority", &rule.meta, Outcome::Applied, why));
    Fact::set(facts, rules.derived.priority, priority_fact(rules, *rank));
    rule.action.stop
}

/// Marks the priority rules applied so far as overridden (a later `set`,
/// or the case's history, decided the priority instead): they matched,
/// but did not decide.
fn overridden(trace: &mut [TraceEntry], by: &str) {
    for t in trace.iter_mut().filter(|t| t.stage == "priority" && t.outcome == Outcome::Applied) {
        t.outcome = Outcome::Overridden;
        if let Some(why) = &mut t.why {
            why.push_str(&format!("; overridden by {by}"));
        }
    }
}

/// What the territory stage decided.
struct Stamped {
    winner: Option<usize>,
    /// Set when no territory matches.
    review: Option<ManualReview>,
    /// Raised when no territory matches because the location data is wrong.
    alert: Option<Action>,
}

/// The territory stage: an account's override, else the deepest matching
/// territory (then priority, then file order); none sends the case to a
/// person, with an admin alert when bad data is the cause.
#[expect(clippy::too_many_arguments, reason = "one stage of `triage`, reading the state it has built so far")]
fn stamp_territory(
    rules: &CompiledRules,
    case: &Case,
    account: Option<&ResolvedAccount>,
    normalized: &Normalized,
    findings: &[Finding],
    facts: &[Fact<'_>],
    hits: &Hits,
    level: TraceLevel,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> Stamped {
    let mut out = Stamped { winner: None, review: None, alert: None };
    if rules.territories.is_empty() {
        return out;
    }
    let overridden = account.and_then(|a| {
        let id = a.account.territory.as_deref()?;
        let found = rules.territories.find(id);
        if found.is_none() {
            warnings.push(Warning {
                code: "unknown-territory",
                message: format!("account `{}` names territory `{id}`, which the rules do not define", a.account.id),
            });
        }
        found.map(|t| (t, &a.account.id))
    });
    let full = level == TraceLevel::Full;
    if let Some((t, by)) = overridden {
        if level != TraceLevel::Off {
            trace.push(TraceEntry {
                why: Some(format!("set by account `{by}` (territory override)")),
                ..entry(rules, "territory", &rules.territories.list[t].meta, Outcome::Matched, None)
            });
        }
        out.winner = Some(t);
        return out;
    }
    let (matched, winner) = rules.territories.resolve(&rules.preds, facts, hits);
    if full {
        let ex = explainer(rules, facts, hits);
        let verdicts = rules.territories.verdicts(&matched, winner, &ex);
        for (t, verdict) in rules.territories.list.iter().zip(verdicts) {
            let (outcome, why) = match verdict {
                Verdict::Won => (
                    Outcome::Matched,
                    t.cond
                        .as_ref()
                        .map_or_else(|| "matches through its territories".to_string(), |c| ex.why_matched(c)),
                ),
                Verdict::Lost(why) => (Outcome::Lost, why),
                Verdict::NoMatch(why) => (Outcome::NotMatched, why),
            };
            trace.push(entry(rules, "territory", &t.meta, outcome, Some(why)));
        }
    } else if let Some(w) = winner.filter(|_| level != TraceLevel::Off) {
        trace.push(entry(rules, "territory", &rules.territories.list[w].meta, Outcome::Matched, None));
    }
    out.winner = winner;
    if winner.is_none() {
        let detail = format!("no territory matches {}", describe_place(normalized, case));
        trace.push(note("territory", detail.clone()));
        out.review = Some(ManualReview { reason: "territory-unmatched".to_string(), detail });
        let bad: Vec<&Finding> = findings.iter().filter(|f| f.bad_data).collect();
        if !bad.is_empty() {
            let codes: Vec<&str> = bad.iter().map(|f| f.code).collect();
            let messages: Vec<&str> = bad.iter().map(|f| f.message.as_str()).collect();
            out.alert = Some(Action::new(
                "admin_alert",
                format!("{}/admin_alert/{}", case.id, codes.join("+")),
                codes.join(", "),
                format!("case `{}` cannot be placed in a territory: {}", case.id, messages.join("; ")),
            ));
        }
    }
    out
}

/// The location a case gave, for messages.
fn describe_place(n: &Normalized, case: &Case) -> String {
    let mut parts = Vec::new();
    match (&n.country, &case.country) {
        (Some(c), _) => parts.push(format!("country `{c}`")),
        (None, Some(raw)) if !raw.trim().is_empty() => {
            parts.push(format!("country `{}` (unrecognised)", crate::normalize::shown(raw.trim())))
        }
        _ => parts.push("a case without a country".to_string()),
    }
    if let Some(r) = &n.region {
        parts.push(format!("region `{r}`"));
    }
    if let Some(p) = &n.postal_code {
        parts.push(format!("postal code `{}`", crate::normalize::shown(p)));
    }
    parts.join(", ")
}

/// The decision's lists as side tables add to them.
#[derive(Debug, Default)]
struct Lists {
    tags: Vec<String>,
    skills: Vec<String>,
    /// Article indices side tables offer, in the order they gave them.
    articles: Vec<usize>,
}

/// Runs a stage's side tables in file order: traces their rows, sets the
/// custom fields they decide (the fact, for later rules and tables, and
/// `outputs`; a field a table leaves unset is missing, whatever the case
/// said) and adds their items to the decision's lists, each table seeing
/// what the ones before it added.
#[expect(clippy::too_many_arguments, reason = "one stage's side tables and the decision's trace and warnings")]
fn side_tables<'a>(
    rules: &'a CompiledRules,
    sides: &'a [SideTable],
    facts: &mut [Fact<'a>],
    hits: &Hits,
    full: bool,
    stage: &'static str,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
    (outputs, lists): (&mut BTreeMap<String, serde_json::Value>, &mut Lists),
) {
    use serde_json::Value;
    for side in sides {
        let table = &side.table;
        let sel = {
            let fact = |slot: Slot| facts.get(slot).unwrap_or(&MISSING);
            table.select(&table.matching(&rules.preds, fact))
        };
        let chosen = sel.rows();
        // `collect min|max` is decided by the rows whose number it took;
        // the others matched and lost.
        let mut deciders: Vec<usize> = match table.hit {
            Hit::Collect(Some(agg @ (Agg::Min | Agg::Max))) => {
                let best: Vec<Option<f64>> =
                    (0..table.outputs.len()).map(|c| table.aggregate(agg, chosen, c)).collect();
                chosen
                    .iter()
                    .copied()
                    .filter(|&r| {
                        table.rows[r].outputs.iter().zip(&best).any(|(v, b)| v.as_f64().is_some_and(|x| Some(x) == *b))
                    })
                    .collect()
            }
            _ => chosen.to_vec(),
        };
        if full {
            // What became of each row: not chosen, chosen but its number not
            // taken (`collect min|max`), or chosen and deciding.
            #[derive(Clone, Copy, PartialEq)]
            enum Role {
                Unchosen,
                Lost,
                Decided,
            }
            let mut role = vec![Role::Unchosen; side.rules.len()];
            for &r in chosen {
                role[r] = Role::Lost;
            }
            for &r in &deciders {
                role[r] = Role::Decided;
            }
            let ex = explainer(rules, facts, hits);
            for (r, rule) in side.rules.iter().enumerate() {
                let picked = match role[r] {
                    Role::Lost => Some((Outcome::Lost, "took another row's number")),
                    Role::Decided if table.hit.single() => Some((Outcome::Matched, "chose this row")),
                    Role::Decided => Some((Outcome::Matched, "collected this row")),
                    Role::Unchosen => None,
                };
                let (outcome, why) = match picked {
                    Some((outcome, what)) => {
                        let (name, hit) = (&table.name, table.hit.name());
                        let but = if outcome == Outcome::Lost { "matched, but " } else { "" };
                        (outcome, format!("{}; {but}table `{name}` (hit `{hit}`) {what}", ex.why_matched(&rule.cond)))
                    }
                    None => unchosen_row(&ex, &rule.cond, table),
                };
                trace.push(entry(rules, stage, &rule.meta, outcome, Some(why)));
            }
        } else {
            deciders.sort_unstable();
            for &r in &deciders {
                trace.push(entry(rules, stage, &side.rules[r].meta, Outcome::Matched, None));
            }
        }
        table_conflict(table, &sel, warnings);
        let (mut tags_added, mut skills_added) = (false, false);
        for (c, feed) in side.feeds.iter().enumerate() {
            let value: Option<Value> = match table.hit {
                Hit::Collect(Some(Agg::Sum)) => match table.sum(chosen, c) {
                    Some(v) => Some(v),
                    None => {
                        warnings.push(Warning {
                            code: "aggregate-overflow",
                            message: format!(
                                "table `{}` (hit `{}`): `{}` is beyond the largest number; the field is left out",
                                table.name,
                                table.hit.name(),
                                table.outputs[c]
                            ),
                        });
                        None
                    }
                },
                Hit::Collect(Some(agg)) => table.aggregate(agg, chosen, c).map(crate::table::number_value),
                h if h.single() => chosen.first().map(|&r| &table.rows[r].outputs[c]).filter(|v| !v.is_null()).cloned(),
                _ => {
                    // With several outputs a row's `-` keeps its place, so
                    // item i of every list comes from the same row.
                    let aligned = table.outputs.len() > 1 && matches!(feed, Feed::Field(_));
                    let mut items = Vec::new();
                    for &r in chosen {
                        match &table.rows[r].outputs[c] {
                            Value::Null if aligned => items.push(Value::Null),
                            Value::Null => {}
                            Value::Array(list) => items.extend(list.iter().cloned()),
                            other => items.push(other.clone()),
                        }
                    }
                    Some(Value::Array(items))
                }
            };
            let texts = || {
                value
                    .iter()
                    .flat_map(|v| v.as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .map(str::to_string)
            };
            match feed {
                Feed::Field(slot) => {
                    let def = &rules.schema.fields[*slot];
                    if !matches!(facts[*slot], Fact::Missing) {
                        warnings.push(Warning {
                            code: "field-decided-by-table",
                            message: format!(
                                "the case's `{}` is not used: table `{}` decides it",
                                def.name, table.name
                            ),
                        });
                    }
                    Fact::set(
                        facts,
                        *slot,
                        value.as_ref().and_then(|v| output_fact(v, &def.ty)).unwrap_or(Fact::Missing),
                    );
                    if let Some(v) = value {
                        outputs.insert(def.name.clone(), v);
                    }
                }
                Feed::Tags => tags_added |= merge_items(&mut lists.tags, texts().collect()),
                Feed::Skills => skills_added |= merge_items(&mut lists.skills, texts().collect()),
                Feed::Articles => {
                    for a in texts().filter_map(|id| rules.articles.iter().position(|a| a.id == id)) {
                        if !lists.articles.contains(&a) {
                            lists.articles.push(a);
                        }
                    }
                }
            }
        }
        // The next table, and the stage after, read the lists as they are.
        let lower = |items: &[String]| Fact::List(Cow::Owned(items.iter().map(|t| t.to_lowercase()).collect()));
        if tags_added {
            Fact::set(facts, rules.derived.tags, lower(&lists.tags));
        }
        if skills_added {
            Fact::set(facts, rules.derived.skills, lower(&lists.skills));
        }
    }
}

/// The fact a side table's output makes for rules to read: a list's `-`
/// places (nulls) are no items.
pub(crate) fn output_fact(value: &serde_json::Value, ty: &FieldType) -> Option<Fact<'static>> {
    match value {
        serde_json::Value::Array(items) if items.iter().any(serde_json::Value::is_null) => {
            let kept: Vec<serde_json::Value> = items.iter().filter(|v| !v.is_null()).cloned().collect();
            json_fact(&serde_json::Value::Array(kept), ty).map(Fact::into_owned)
        }
        v => json_fact(v, ty).map(Fact::into_owned),
    }
}

/// `list` with the items of `more` it does not hold yet (letter case
/// aside), in order; whether any was added.
fn merge_items(list: &mut Vec<String>, more: Vec<String>) -> bool {
    let before = list.len();
    let mut held: std::collections::BTreeSet<String> = list.iter().map(|x| x.to_ascii_lowercase()).collect();
    for item in more {
        if held.insert(item.to_ascii_lowercase()) {
            list.push(item);
        }
    }
    list.len() > before
}

/// The outcome of a table row its hit policy did not choose: not matched
/// (with the cell that failed), or lost when it matched.
fn unchosen_row(ex: &Explainer<'_>, cond: &crate::cond::Cond, table: &Table) -> (Outcome, String) {
    match ex.why_not(cond) {
        Some(why) => (Outcome::NotMatched, why),
        None => (
            Outcome::Lost,
            format!(
                "{}; matched, but table `{}` (hit `{}`) chose another row",
                ex.why_matched(cond),
                table.name,
                table.hit.name()
            ),
        ),
    }
}

pub(crate) fn explainer<'a>(rules: &'a CompiledRules, facts: &'a [Fact<'a>], hits: &'a Hits) -> Explainer<'a> {
    Explainer { preds: &rules.preds, facts, hits, phrase_text: &rules.text.phrase_text, schema: &rules.schema }
}

pub(crate) fn entry(
    rules: &CompiledRules,
    stage: &'static str,
    meta: &RuleMeta,
    outcome: Outcome,
    why: Option<String>,
) -> TraceEntry {
    TraceEntry {
        stage,
        rule: Some(Name::from(&meta.id)),
        file: rules.files.get(meta.file).cloned(),
        line: Some(meta.line),
        outcome,
        why,
    }
}

/// A case body's own text ([`crate::similarity::own_text`]: quoted mail
/// left out), made the first time a stage asks (the classifier, then
/// VADER) and then shared.
pub(crate) struct OwnText<'c> {
    body: Option<&'c str>,
    own: std::cell::OnceCell<Option<String>>,
}

impl<'c> OwnText<'c> {
    pub(crate) fn new(case: &'c Case) -> OwnText<'c> {
        OwnText { body: case.body.as_deref(), own: std::cell::OnceCell::new() }
    }

    /// `Some` exactly when the case has a body.
    pub(crate) fn get(&self) -> Option<&str> {
        self.own.get_or_init(|| self.body.map(crate::similarity::own_text)).as_deref()
    }
}

/// Every classifier's guesses for a case, in the order of the
/// `classifiers:` section and of each model's labels.
/// A case with none of a model's words gets no guess from it (its fields
/// stay missing): the prior alone would name the same class for every
/// such case.
pub(crate) fn predict(rules: &CompiledRules, case: &Case, own: &OwnText<'_>) -> Vec<Prediction> {
    let mut out = Vec::new();
    for c in &rules.classifiers {
        for mut p in c.model.predict_own(case.subject.as_deref(), case.body.as_deref(), own.get()) {
            if p.features > 0 {
                p.model = c.name.clone();
                out.push(p);
            }
        }
    }
    out
}

/// Each guess among `predicted` with the classifier that made it and the
/// slots its label's fields live in.
pub(crate) fn guesses<'p, 'r>(
    rules: &'r CompiledRules,
    predicted: &'p [Prediction],
) -> impl Iterator<Item = (&'r crate::rules::Classifier, (Slot, Slot), &'p Prediction)> {
    rules.classifiers.iter().flat_map(move |c| {
        c.slots.iter().filter_map(move |(label, class, confidence)| {
            predicted.iter().find(|p| p.model == c.name && p.label == *label).map(|p| (c, (*class, *confidence), p))
        })
    })
}

/// A classifier's guess of one of its labels among `predicted` (which
/// [`predict`] made, so it follows the classifiers' order).
fn guess_of<'p>(
    rules: &CompiledRules,
    predicted: &'p [Prediction],
    classifier: usize,
    head: usize,
) -> Option<&'p Prediction> {
    let c = rules.classifiers.get(classifier)?;
    let (label, _, _) = c.slots.get(head)?;
    predicted.iter().find(|p| p.model == c.name && p.label == *label)
}

/// Puts the guesses where rules read them (`predicted.LABEL` and
/// `predicted.LABEL.confidence`). A compiled classifier has a pair of
/// slots for each label of its model, in the model's order.
pub(crate) fn fill_predicted<'a>(rules: &CompiledRules, predicted: &'a [Prediction], facts: &mut [Fact<'a>]) {
    for (_, (class, confidence), p) in guesses(rules, predicted) {
        Fact::set(facts, class, Fact::str(&p.class));
        Fact::set(facts, confidence, Fact::Num(p.confidence));
    }
}

/// A trace note per guess, at the line that names the classifier.
/// The guess itself is in the decision's `predicted`; a full trace also
/// says it in words.
fn classify_trace(rules: &CompiledRules, predicted: &[Prediction], full: bool) -> Vec<TraceEntry> {
    guesses(rules, predicted)
        .map(|(c, _, p)| TraceEntry {
            stage: "classify",
            rule: Some(c.name.clone()),
            file: rules.files.get(c.file).cloned(),
            line: Some(c.line),
            outcome: Outcome::Note,
            why: full.then(|| guessed(p, &c.path)),
        })
        .collect()
}

/// The trace's words for a guess: the classifier, the three best classes
/// and the words that weighed most.
fn guessed(p: &Prediction, path: &str) -> String {
    let others: Vec<String> = p.top.iter().skip(1).map(|g| format!("`{}` {:.2}", g.class, g.confidence)).collect();
    let mut why = format!("classifier `{}` ({path}) guessed {} `{}` ({:.2}", p.model, p.label, p.class, p.confidence);
    if !others.is_empty() {
        why.push_str(&format!("; then {}", others.join(", ")));
    }
    why.push(')');
    if !p.words.is_empty() {
        why.push_str(&format!(
            " from the words {}",
            p.words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    why
}

pub(crate) fn note(stage: &'static str, why: String) -> TraceEntry {
    TraceEntry { stage, rule: None, file: None, line: None, outcome: Outcome::Note, why: Some(why) }
}

/// A missing value, for columns whose slot a fact array lacks.
static MISSING: Fact<'static> = Fact::Missing;

/// Warns when a table's `unique` or `any` policy was broken.
fn table_conflict(table: &Table, sel: &Selection, warnings: &mut Vec<Warning>) {
    if let Selection::Conflict(a, b) = sel {
        let (ra, rb) = (&table.rows[*a], &table.rows[*b]);
        let how = if table.hit == Hit::Unique { "both match" } else { "match with different outputs" };
        warnings.push(Warning {
            code: TABLE_CONFLICT,
            message: format!(
                "table `{}` (hit `{}`): rows `{}` (line {}) and `{}` (line {}) {how}; `{}` was used",
                table.name,
                table.hit.name(),
                ra.id,
                ra.line,
                rb.id,
                rb.line,
                ra.id
            ),
        });
    }
}

/// The warning code of a table whose `unique` or `any` policy was broken.
pub(crate) const TABLE_CONFLICT: &str = "table-conflict";

/// The first rule whose condition holds. With full tracing every earlier
/// rule is evaluated and explained; otherwise the index skips rules that
/// cannot match. A decision table among the rules answers through its own
/// index and hit policy when evaluation reaches it.
#[expect(clippy::too_many_arguments, reason = "one stage's evaluation and the decision's trace and warnings")]
fn first_match<'r, A>(
    rules: &'r CompiledRules,
    list: &'r FirstMatch<A>,
    facts: &[Fact<'_>],
    hits: &Hits,
    level: TraceLevel,
    stage: &'static str,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> Option<&'r Rule<A>> {
    let fact = |slot: Slot| facts.get(slot).unwrap_or(&MISSING);
    let full = level == TraceLevel::Full;
    if full {
        let ex = explainer(rules, facts, hits);
        let mut i = 0;
        while i < list.rules.len() {
            if let Some(table) = list.tables.iter().find(|t| t.start == i) {
                let matched = table.matching(&rules.preds, fact);
                let sel = table.select(&matched);
                // Rows are explained up to the chosen one for `first`, all
                // of them for the other policies.
                let last = match (&sel, table.hit) {
                    (Selection::One(r), Hit::First) => *r,
                    _ => table.rows.len() - 1,
                };
                for r in 0..=last {
                    let rule = &list.rules[table.rule_index(r)];
                    let (outcome, why) = unchosen_row(&ex, &rule.cond, table);
                    if sel.rows().first().is_none_or(|c| *c != r) {
                        trace.push(entry(rules, stage, &rule.meta, outcome, Some(why)));
                    }
                }
                if let Some(&chosen) = sel.rows().first() {
                    let why = format!(
                        "{}; table `{}` (hit `{}`) chose this row",
                        ex.why_matched(&list.rules[table.rule_index(chosen)].cond),
                        table.name,
                        table.hit.name()
                    );
                    let rule = &list.rules[table.rule_index(chosen)];
                    trace.push(entry(rules, stage, &rule.meta, Outcome::Matched, Some(why)));
                    table_conflict(table, &sel, warnings);
                    return Some(rule);
                }
                i += table.rows.len();
                continue;
            }
            let rule = &list.rules[i];
            match ex.why_not(&rule.cond) {
                None => {
                    trace.push(entry(rules, stage, &rule.meta, Outcome::Matched, Some(ex.why_matched(&rule.cond))));
                    return Some(rule);
                }
                Some(why) => trace.push(entry(rules, stage, &rule.meta, Outcome::NotMatched, Some(why))),
            }
            i += 1;
        }
        return None;
    }
    let mut skip_until = 0;
    let mut visit = |i: usize| -> Option<&'r Rule<A>> {
        if i < skip_until {
            return None;
        }
        if !list.tables.is_empty()
            && let Some(table) = list.tables.iter().find(|t| t.holds(i))
        {
            let sel = table.select(&table.matching(&rules.preds, fact));
            let Some(&chosen) = sel.rows().first() else {
                skip_until = table.start + table.rows.len();
                return None;
            };
            table_conflict(table, &sel, warnings);
            return Some(&list.rules[table.rule_index(chosen)]);
        }
        let rule = &list.rules[i];
        cond::eval(&rule.cond, &rules.preds, facts, hits).then_some(rule)
    };
    let found = match list.index.candidates(facts, hits) {
        Some(cands) => cands.iter().find_map(&mut visit),
        None => (0..list.rules.len()).find_map(&mut visit),
    };
    if let Some(rule) = found.filter(|_| level != TraceLevel::Off) {
        trace.push(entry(rules, stage, &rule.meta, Outcome::Matched, None));
    }
    found
}

/// The first matching rule by plain linear scan, for checking the index.
#[cfg(test)]
pub(crate) fn first_category_linear(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
) -> Option<String> {
    let mut facts = vec![Fact::Missing; rules.schema.len()];
    let mut warnings = Vec::new();
    let (normalized, _) = rules.normalizer.normalize_case(case, None);
    let account = case.account.as_deref().and_then(|a| directory.account(a.trim()));
    fill_facts(rules, case, &normalized, account, now, &mut facts, &mut warnings);
    let hits = rules.text.scan(|slot| raw_text(rules, case, &normalized, slot));
    let s = sentiment(rules, &hits, case, &OwnText::new(case), normalized.language.as_deref());
    fill_sentiment(rules, &s, &mut facts);
    rules
        .categories
        .rules
        .iter()
        .find(|r| cond::eval(&r.cond, &rules.preds, &facts, &hits))
        .map(|r| r.meta.id.to_string())
}

/// Puts a sentiment where rules read it (`sentiment`, `sentiment.score`,
/// `sentiment.label`).
pub(crate) fn fill_sentiment(rules: &CompiledRules, s: &Sentiment, facts: &mut [Fact<'_>]) {
    let d = &rules.derived;
    Fact::set(facts, d.sentiment, Fact::Num(s.score));
    Fact::set(facts, d.sentiment_score, Fact::Num(s.score));
    Fact::set(facts, d.sentiment_label, Fact::str(s.label));
}

/// The rule authors' phrases decide when any matches (they are in the
/// languages and words of the team's customers); otherwise, with
/// `english: vader`, VADER's compound score of the subject and the body's
/// own text (quoted mail left out), labelled as VADER's authors advise
/// (at least 0.05 positive, at most -0.05 negative), for a case in English
/// or in no known language (VADER reads German `Problem` as English).
fn sentiment(rules: &CompiledRules, hits: &Hits, case: &Case, own: &OwnText<'_>, language: Option<&str>) -> Sentiment {
    let count = |ids: &[u32]| ids.iter().filter(|&&i| hits.phrases.get(i as usize)).count() as f64;
    let neg = count(&rules.sentiment.negative);
    let pos = count(&rules.sentiment.positive);
    let english = language.is_none_or(|l| l == "en" || l.starts_with("en-"));
    if neg + pos == 0.0 && rules.sentiment.vader && english {
        let subject = case.subject.as_deref().unwrap_or_default();
        let own = own.get();
        let mut text = String::with_capacity(subject.len() + 2 + own.map_or(0, str::len));
        text.push_str(subject);
        if let Some(b) = own {
            text.push_str(".\n");
            text.push_str(b);
        }
        let score = crate::vader::score(&text);
        let label = if score >= 0.05 {
            "positive"
        } else if score <= -0.05 {
            "negative"
        } else {
            "neutral"
        };
        return Sentiment { score, label };
    }
    // One negative phrase gives -0.5, two -0.67, three -0.75: more distinct
    // phrases, stronger sentiment, never reaching ±1.
    let raw = (pos - neg) / (pos + neg + 1.0);
    let score = (raw * 100.0).round() / 100.0;
    let label = if neg > pos {
        "negative"
    } else if pos > neg {
        "positive"
    } else {
        "neutral"
    };
    Sentiment { score, label }
}

fn deflection(
    rules: &CompiledRules,
    allowed: Option<&[usize]>,
    offered: &[usize],
    product: Option<&str>,
    hits: &Hits,
) -> Vec<Deflection> {
    let product = product.map(str::to_lowercase);
    let fits =
        |a: &crate::rules::Article| a.products.is_empty() || product.as_ref().is_some_and(|p| a.products.contains(p));
    let mut scored: Vec<(usize, usize)> = Vec::new();
    let all: Vec<usize>;
    let candidates = match allowed {
        Some(list) => list,
        None => {
            all = (0..rules.articles.len()).collect();
            &all
        }
    };
    for &i in candidates {
        let a = &rules.articles[i];
        if !fits(a) || offered.contains(&i) {
            continue;
        }
        let score = a.keywords.iter().filter(|&&k| hits.phrases.get(k as usize)).count();
        if score > 0 {
            scored.push((score, i));
        }
    }
    // Most keywords found first; declaration order breaks ties. Articles a
    // side table offers come before them all, in its order, whatever their
    // keywords.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    offered
        .iter()
        .copied()
        .filter(|&i| fits(&rules.articles[i]))
        .chain(scored.into_iter().map(|(_, i)| i))
        .take(rules.settings.max_articles)
        .map(|i| {
            let a = &rules.articles[i];
            Deflection { id: a.id.clone(), title: a.title.clone(), url: a.url.clone() }
        })
        .collect()
}

pub(crate) fn priority_fact(rules: &CompiledRules, rank: usize) -> Fact<'_> {
    Fact::pair(&rules.priorities[rank], &rules.priorities_lower[rank])
}

fn facts_priority(rules: &CompiledRules, facts: &[Fact<'_>]) -> Option<usize> {
    match &facts[rules.derived.priority] {
        Fact::Str { lower, .. } => rules.priorities_lower.iter().position(|p| p == lower),
        _ => None,
    }
}

/// The raw text of a field scanned for phrases and regexes: one part, or
/// subject and body for `text`.
pub(crate) fn raw_text<'a>(
    rules: &CompiledRules,
    case: &'a Case,
    n: &'a Normalized,
    slot: Slot,
) -> [Option<&'a str>; 2] {
    let Some(def) = rules.schema.fields.get(slot) else { return [None, None] };
    let field = match def.source {
        Source::Case(field) => field,
        Source::Custom => return [case.fields.get(&def.name).and_then(|v| v.as_str()), None],
        Source::Derived(Derived::Product) => return [case.product.as_deref(), None],
        _ => return [None, None],
    };
    let req = case.requester.as_ref();
    let one = match field {
        // Its patterns live in the subject's and body's matchers.
        CaseField::Text => None,
        CaseField::Subject => case.subject.as_deref(),
        CaseField::Body => case.body.as_deref(),
        CaseField::RequesterName => req.and_then(|r| r.name.as_deref()),
        CaseField::RequesterEmail => n.email.as_deref(),
        CaseField::Id => Some(case.id.as_str()),
        CaseField::Channel => case.channel.as_deref(),
        CaseField::Country => n.country.as_deref(),
        CaseField::Region => n.region.as_deref(),
        CaseField::PostalCode => n.postal_code.as_deref(),
        CaseField::Account => case.account.as_deref(),
        CaseField::Status => case.status.as_deref(),
        CaseField::RequesterLanguage => n.language.as_deref(),
        CaseField::Number | CaseField::CreatedAt => None,
    };
    [one, None]
}

fn opt_str(v: Option<&str>) -> Fact<'_> {
    v.map_or(Fact::Missing, Fact::str)
}

pub(crate) fn fill_facts<'a>(
    rules: &'a CompiledRules,
    case: &'a Case,
    normalized: &'a Normalized,
    account: Option<&'a ResolvedAccount>,
    now: DateTime<Utc>,
    facts: &mut [Fact<'a>],
    warnings: &mut Vec<Warning>,
) {
    // Data checks that hold whatever the rules read.
    if let Some(ch) = case.channel.as_deref().map(str::trim).filter(|c| !c.is_empty())
        && !CHANNELS.iter().any(|k| k.eq_ignore_ascii_case(ch))
    {
        warnings
            .push(Warning { code: "unknown-channel", message: format!("channel `{ch}` is not one the engine knows") });
    }
    // The case's own priority seeds the priority stage, whether or not a
    // rule tests it; one off the scale is ignored with a warning.
    if let Some(p) = case.priority.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        match rules.priorities.iter().position(|q| q.eq_ignore_ascii_case(p)) {
            Some(rank) => Fact::set(facts, rules.derived.priority, priority_fact(rules, rank)),
            None => warnings.push(Warning {
                code: "unknown-priority",
                message: format!("case priority `{p}` is not on the scale {}; ignored", rules.priorities.join(", ")),
            }),
        }
    }
    if !case.fields.is_empty() {
        let undeclared: Vec<&str> = case
            .fields
            .keys()
            .filter(|k| rules.schema.lookup(k).is_none_or(|slot| rules.schema.fields[slot].source != Source::Custom))
            .map(String::as_str)
            .collect();
        if !undeclared.is_empty() {
            warnings.push(Warning {
                code: "undeclared-field",
                message: format!("custom fields not declared in the rules were ignored: {}", undeclared.join(", ")),
            });
        }
    }

    // Only the fields some value test reads; phrase and regex tests scan
    // the raw text instead.
    for &slot in &rules.value_slots {
        let def = &rules.schema.fields[slot];
        let fact = match def.source {
            Source::Case(f) => case_fact(case, normalized, f),
            // Seeded above from the case's priority.
            Source::Derived(Derived::Priority) => continue,
            Source::Derived(Derived::Product) => opt_str(case.product.as_deref()),
            Source::Derived(Derived::AgeMinutes) => match case.created_at {
                Some(t) => Fact::Num(((now.timestamp() - t.timestamp()) / 60) as f64),
                None => Fact::Missing,
            },
            Source::Derived(_) => Fact::Missing,
            Source::Account(a) => match account {
                None => Fact::Missing,
                Some(acc) => account_fact(acc, a, &def.name, &def.ty),
            },
            Source::Custom => match case.fields.get(&def.name) {
                None | Some(serde_json::Value::Null) => Fact::Missing,
                Some(v) => json_fact(v, &def.ty).unwrap_or_else(|| {
                    let expected = match &def.ty {
                        FieldType::Enum(values) => format!("one of {}", values.join(", ")),
                        ty => format!("a {}", ty.name()),
                    };
                    warnings.push(Warning {
                        code: "field-type",
                        message: format!("field `{}` should be {expected}, found `{v}`; ignored", def.name),
                    });
                    Fact::Missing
                }),
            },
        };
        Fact::set(facts, slot, fact);
    }
}

fn case_fact<'a>(case: &'a Case, n: &'a Normalized, f: CaseField) -> Fact<'a> {
    let req = case.requester.as_ref();
    match f {
        CaseField::Id => Fact::str(&case.id),
        CaseField::Number => case.number.map_or(Fact::Missing, |n| Fact::Num(n as f64)),
        CaseField::CreatedAt => case.created_at.map_or(Fact::Missing, |t| Fact::Num(t.timestamp() as f64)),
        CaseField::Channel => opt_str(case.channel.as_deref()),
        CaseField::Subject => opt_str(case.subject.as_deref()),
        CaseField::Body => opt_str(case.body.as_deref()),
        CaseField::Text => match (&case.subject, &case.body) {
            (Some(a), Some(b)) => Fact::owned(format!("{a}\n{b}")),
            (a, b) => opt_str(a.as_deref().or(b.as_deref())),
        },
        CaseField::RequesterEmail => opt_str(n.email.as_deref()),
        CaseField::RequesterName => opt_str(req.and_then(|r| r.name.as_deref())),
        CaseField::RequesterLanguage => opt_str(n.language.as_deref()),
        CaseField::Country => opt_str(n.country.as_deref()),
        CaseField::Region => opt_str(n.region.as_deref()),
        CaseField::PostalCode => opt_str(n.postal_code.as_deref()),
        CaseField::Account => opt_str(case.account.as_deref()),
        CaseField::Status => opt_str(case.status.as_deref()),
    }
}

fn account_fact<'a>(acc: &'a ResolvedAccount, field: AccountField, name: &str, ty: &FieldType) -> Fact<'a> {
    let a = &acc.account;
    match field {
        AccountField::Id => Fact::str(&a.id),
        AccountField::Name => opt_str(a.name.as_deref()),
        AccountField::Segment => opt_str(a.segment.as_deref()),
        AccountField::Strategic => a.strategic.map_or(Fact::Missing, Fact::Bool),
        AccountField::Entitlement => opt_str(a.entitlement.as_deref()),
        AccountField::Language => opt_str(a.language.as_deref()),
        AccountField::Country => opt_str(a.country.as_deref()),
        AccountField::Territory => opt_str(a.territory.as_deref()),
        AccountField::Path => Fact::List(Cow::Owned(acc.path.iter().map(|p| p.to_lowercase()).collect())),
        AccountField::Custom => {
            let key = name.strip_prefix("account.").unwrap_or(name);
            a.attributes.get(key).and_then(|v| json_fact(v, ty)).unwrap_or(Fact::Missing)
        }
    }
}

pub(crate) fn json_fact<'a>(v: &'a serde_json::Value, ty: &FieldType) -> Option<Fact<'a>> {
    use serde_json::Value;
    Some(match (ty, v) {
        (FieldType::Number, Value::Number(n)) => Fact::Num(n.as_f64()?),
        // A number written as text (`"0012"`, a CSV cell kept as written).
        (FieldType::Number, Value::String(s)) => Fact::Num(s.trim().parse::<f64>().ok().filter(|x| x.is_finite())?),
        (FieldType::Bool, Value::Bool(b)) => Fact::Bool(*b),
        (FieldType::List, Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(match i {
                    Value::String(s) => s.trim().to_lowercase(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                });
            }
            Fact::List(Cow::Owned(out))
        }
        // A date given for an instant is its midnight UTC (FEEL's rule).
        (FieldType::DateTime, Value::String(s)) => Fact::Num(cond::time_value(s, false)?),
        (FieldType::Date, Value::String(s)) => Fact::Num(cond::time_value(s, true)?),
        // An enum value outside the declared list could never match a rule
        // and would pass unnoticed; it is a type error like any other.
        (FieldType::Enum(values), Value::String(s)) => {
            let s = s.trim();
            values.iter().any(|v| v.eq_ignore_ascii_case(s)).then(|| Fact::str(s))?
        }
        (FieldType::Enum(values), Value::Number(n)) => {
            let s = n.to_string();
            values.contains(&s).then(|| Fact::owned(s))?
        }
        (FieldType::String | FieldType::Priority, Value::String(s)) => Fact::str(s),
        (FieldType::String, Value::Number(n)) => Fact::owned(n.to_string()),
        // A CSV cell `true` reads as JSON's true; a text field takes its word,
        // as it takes a number's digits.
        (FieldType::String, Value::Bool(b)) => Fact::owned(b.to_string()),
        (FieldType::Enum(values), Value::Bool(b)) => {
            let s = b.to_string();
            values.iter().any(|v| v.eq_ignore_ascii_case(&s)).then(|| Fact::owned(s))?
        }
        _ => return None,
    })
}

/// Each predicate's truth for a decided case, read against the case's
/// facts with the derived values (territory, category, priority, tier, …)
/// as the decision ended. Rule tests use it for condition coverage.
pub(crate) fn condition_truths(
    rules: &CompiledRules,
    case: &Case,
    directory: &Directory,
    now: DateTime<Utc>,
    d: &Decision,
) -> Vec<bool> {
    let (normalized, _) = rules.normalizer.normalize_case(case, None);
    let account = case.account.as_deref().map(str::trim).and_then(|id| directory.account(id));
    let mut facts = vec![Fact::Missing; rules.schema.len()];
    fill_facts(rules, case, &normalized, account, now, &mut facts, &mut Vec::new());
    let hits = rules.text.scan(|slot| raw_text(rules, case, &normalized, slot));
    let s = rules.derived;
    let lower = |items: &[String]| items.iter().map(|i| i.to_lowercase()).collect::<Vec<_>>();
    let path: Vec<String> = d.territory_path.iter().map(|t| t.to_lowercase()).collect();
    fill_predicted(rules, &d.predicted, &mut facts);
    fill_sentiment(rules, &d.sentiment, &mut facts);
    Fact::set(&mut facts, s.territory, d.territory.as_deref().map_or(Fact::Missing, Fact::str));
    Fact::set(&mut facts, s.territory_path, Fact::List(Cow::Owned(path)));
    Fact::set(&mut facts, s.category, Fact::str(&d.category));
    Fact::set(&mut facts, s.confidence, Fact::Num(d.confidence));
    Fact::set(&mut facts, s.skills, Fact::List(Cow::Owned(lower(&d.skills))));
    Fact::set(&mut facts, s.tags, Fact::List(Cow::Owned(lower(&d.tags))));
    Fact::set(&mut facts, s.product, d.product.as_deref().map_or(Fact::Missing, Fact::str));
    if let Some(rank) = rules.priorities.iter().position(|p| *p == *d.priority) {
        Fact::set(&mut facts, s.priority, priority_fact(rules, rank));
    }
    Fact::set(&mut facts, s.tier, Fact::Num(f64::from(d.tier)));
    for (name, value) in &d.outputs {
        if let Some(slot) = rules.schema.lookup(name)
            && let Some(f) = output_fact(value, &rules.schema.fields[slot].ty)
        {
            Fact::set(&mut facts, slot, f);
        }
    }
    rules.preds.iter().map(|p| crate::cond::test(p, &facts, &hits)).collect()
}
