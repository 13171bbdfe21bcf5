//! Reports for managers from the decisions of a run: where the work is,
//! how the tiers split, how SLAs were kept, what needs a person.
//!
//! [`build`] reads lean decisions (what `triage run` writes by default) and,
//! optionally, escalation states (what `triage escalate` writes, one per
//! line) that replace a case's replayed SLA state; [`Report`] holds the
//! numbers (`--format json` writes it as is) and [`html`] renders one
//! self-contained page: inline CSS, charts as inline SVG drawn with
//! `plotters`, each chart with its table beside it, no script and nothing
//! fetched at view time.
//!
//! The tier targets are the usual ones of tiered support: self-service
//! (tier 0) deflecting about half of all cases, and tier 3 (engineering)
//! about a tenth.

use crate::BatchError;
use chrono::{DateTime, Datelike, NaiveDate};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;

/// The share of cases tier 0 should deflect, percent.
pub const TIER0_TARGET_PERCENT: f64 = 50.0;
/// The share of cases that should reach tier 3, percent.
pub const TIER3_TARGET_PERCENT: f64 = 10.0;

/// The fields of a lean decision the report reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Row {
    case_id: String,
    created_at: Option<String>,
    decided_at: Option<String>,
    territory: Option<String>,
    category: String,
    priority: String,
    tier: u8,
    deflect: Vec<String>,
    team: Option<String>,
    agent: Option<String>,
    queue: Option<String>,
    units: Option<i64>,
    sla: Option<RowSla>,
    manual_review: Option<String>,
    warnings: Vec<String>,
    alerts: Vec<String>,
    rules_version: String,
    history: Option<RowHistory>,
    decision: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowSla {
    policy: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowHistory {
    sla_policy: Option<String>,
    metrics: BTreeMap<String, RowMetric>,
    actions: Vec<RowAction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowMetric {
    state: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowAction {
    kind: String,
}

/// An escalation state line (`triage escalate`'s output).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StateRow {
    case_id: String,
    /// The instant the state was taken: every escalation has one, a
    /// decision does not (it tells a decision file given as states).
    now: Option<serde::de::IgnoredAny>,
    sla: Option<StateSla>,
    actions: Vec<RowAction>,
}

impl StateRow {
    /// Why this is not an escalation state, if it is not.
    fn refusal(&self) -> Option<&'static str> {
        if self.case_id.is_empty() {
            Some("not an escalation state (no `case_id`)")
        } else if self.now.is_none() {
            Some(
                "not an escalation state (no `now`: is it a decision? decisions come first, states after them, as \
                 `triage report DECISIONS.jsonl STATES.jsonl`)",
            )
        } else {
            None
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StateSla {
    policy: String,
    metrics: BTreeMap<String, RowMetric>,
}

/// A name and a count.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    /// What is counted.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// A team's or agent's workload.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    /// Team or agent id.
    pub name: String,
    /// Cases assigned.
    pub cases: u64,
    /// Capacity units those cases take.
    pub units: i64,
    /// The agent's capacity in the directory, units (agents only, with
    /// `--directory`).
    pub capacity: Option<i64>,
    /// Units against capacity, percent.
    pub utilization_percent: Option<f64>,
}

/// A tier's share.
#[derive(Debug, Clone, Serialize)]
pub struct TierShare {
    /// 0–3.
    pub tier: u8,
    /// Cases decided to this tier.
    pub cases: u64,
    /// Share of all cases, percent.
    pub percent: f64,
    /// The usual target share, percent, where there is one.
    pub target_percent: Option<f64>,
}

/// SLA outcomes of one metric for one policy, territory or team.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Compliance {
    /// Policy, territory or team.
    pub name: String,
    /// `first_response`, `next_response`, `resolution` or `update`.
    pub metric: String,
    /// Target met.
    pub met: u64,
    /// Target missed.
    pub breached: u64,
    /// Clock still running (or paused) at the replay instant.
    pub running: u64,
    /// Met of those finished, percent (`None` while none finished).
    pub compliance_percent: Option<f64>,
}

/// Cases per time bucket for one territory or category.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Territory or category.
    pub name: String,
    /// One count per bucket.
    pub counts: Vec<u64>,
}

/// Cases over time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OverTime {
    /// `day`, `week` (ISO, starting Monday), `month`, `year` or `N years`:
    /// chosen so the period spans at most about 62 buckets.
    pub bucket: String,
    /// Each bucket's first day.
    pub buckets: Vec<String>,
    /// The eight busiest territories (the rest as `other`).
    pub by_territory: Vec<Series>,
    /// The eight busiest categories (the rest as `other`).
    pub by_category: Vec<Series>,
}

/// The numbers of a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The decision files read.
    pub inputs: Vec<String>,
    /// Cases read.
    pub cases: u64,
    /// Lines that were not lean decisions (with the first few positions).
    pub unreadable: u64,
    /// `file:line: why` of the first unreadable lines.
    pub unreadable_examples: Vec<String>,
    /// The rules versions the decisions came from, with their cases.
    pub rules_versions: Vec<Count>,
    /// First and last `created_at` (else `decided_at`) day.
    pub period: Option<(String, String)>,
    /// Workload per team, busiest first.
    pub teams: Vec<Load>,
    /// Workload per agent, busiest first.
    pub agents: Vec<Load>,
    /// Cases routed to a queue with no agent.
    pub queued: u64,
    /// Cases with no team.
    pub unrouted: u64,
    /// Tier mix.
    pub tiers: Vec<TierShare>,
    /// Cases offered self-service articles.
    pub deflected: u64,
    /// SLA outcomes per policy.
    pub sla_by_policy: Vec<Compliance>,
    /// Per territory.
    pub sla_by_territory: Vec<Compliance>,
    /// Per team.
    pub sla_by_team: Vec<Compliance>,
    /// Cases with a replayed history (from the run or the states files).
    pub with_history: u64,
    /// Manual reviews by reason.
    pub manual_reviews: Vec<Count>,
    /// Admin alerts by reason.
    pub admin_alerts: Vec<Count>,
    /// Warnings by code.
    pub warnings: Vec<Count>,
    /// Escalation actions that fired, by kind.
    pub escalation_actions: Vec<Count>,
    /// Cases by priority, category, territory.
    pub priorities: Vec<Count>,
    /// By category.
    pub categories: Vec<Count>,
    /// By territory.
    pub territories: Vec<Count>,
    /// Cases over time.
    pub over_time: OverTime,
    /// States (from the states files) whose case no decision has.
    pub states_without_decision: u64,
    /// Decisions whose case id an earlier decision already had (an input
    /// read twice?); each is counted.
    pub repeated_case_ids: u64,
}

/// What one pass over the rows gathers.
#[derive(Default)]
struct Tally {
    cases: u64,
    versions: BTreeMap<String, u64>,
    teams: BTreeMap<String, (u64, i64)>,
    agents: BTreeMap<String, (u64, i64)>,
    queued: u64,
    unrouted: u64,
    tiers: [u64; 4],
    deflected: u64,
    /// (group kind 0 policy / 1 territory / 2 team, name, metric) → [met, breached, running]
    sla: BTreeMap<(u8, String, String), [u64; 3]>,
    with_history: u64,
    reviews: BTreeMap<String, u64>,
    alerts: BTreeMap<String, u64>,
    warnings: BTreeMap<String, u64>,
    actions: BTreeMap<String, u64>,
    priorities: BTreeMap<String, u64>,
    categories: BTreeMap<String, u64>,
    territories: BTreeMap<String, u64>,
    /// (day, territory) and (day, category) counts; days from the CE.
    territory_days: BTreeMap<(i32, String), u64>,
    category_days: BTreeMap<(i32, String), u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// One more case of `units` for a team or agent (the id copied only the
/// first time it is seen).
fn load(map: &mut BTreeMap<String, (u64, i64)>, key: &str, units: i64) {
    let e = match map.get_mut(key) {
        Some(e) => e,
        None => map.entry(key.to_string()).or_default(),
    };
    e.0 += 1;
    e.1 += units;
}

impl Tally {
    fn add(&mut self, row: &Row, state: Option<&StateRow>) {
        self.cases += 1;
        bump(&mut self.versions, &row.rules_version);
        let units = row.units.unwrap_or(0);
        match &row.team {
            Some(t) => load(&mut self.teams, t, units),
            None => self.unrouted += 1,
        }
        match &row.agent {
            Some(a) => load(&mut self.agents, a, units),
            None if row.queue.is_some() => self.queued += 1,
            None => {}
        }
        self.tiers[usize::from(row.tier.min(3))] += 1;
        if !row.deflect.is_empty() {
            self.deflected += 1;
        }
        let territory = row.territory.as_deref().unwrap_or("(none)");
        // The states file's replay, else the run's own.
        let (policy, metrics, actions) = match (state, &row.history) {
            (Some(s), _) => {
                (s.sla.as_ref().map(|x| x.policy.as_str()), s.sla.as_ref().map(|x| &x.metrics), Some(&s.actions))
            }
            (None, Some(h)) => (
                h.sla_policy.as_deref().or(row.sla.as_ref().map(|s| s.policy.as_str())),
                Some(&h.metrics),
                Some(&h.actions),
            ),
            (None, None) => (None, None, None),
        };
        if let Some(metrics) = metrics {
            self.with_history += 1;
            let policy = policy.unwrap_or("(none)");
            let team = row.team.as_deref().unwrap_or("(none)");
            for (metric, m) in metrics {
                let slot = match m.state.as_str() {
                    "met" => 0,
                    "breached" => 1,
                    _ => 2,
                };
                for (kind, name) in [(0u8, policy), (1, territory), (2, team)] {
                    self.sla.entry((kind, name.to_string(), metric.clone())).or_default()[slot] += 1;
                }
            }
        }
        for a in actions.into_iter().flatten() {
            bump(&mut self.actions, &a.kind);
        }
        if let Some(r) = &row.manual_review {
            bump(&mut self.reviews, r);
        }
        for a in &row.alerts {
            bump(&mut self.alerts, a);
        }
        for w in &row.warnings {
            bump(&mut self.warnings, w);
        }
        bump(&mut self.priorities, &row.priority);
        bump(&mut self.categories, &row.category);
        bump(&mut self.territories, territory);
        let day = row
            .created_at
            .as_deref()
            .or(row.decided_at.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.date_naive().num_days_from_ce());
        if let Some(day) = day {
            *self.territory_days.entry((day, territory.to_string())).or_default() += 1;
            *self.category_days.entry((day, row.category.clone())).or_default() += 1;
        }
    }
}

/// Builds a report from decision files and escalation state files.
/// `capacity` gives agents' capacities (from a directory).
///
/// # Errors
/// A file that cannot be read. Lines that are not decisions are counted
/// (`unreadable`), not errors.
pub fn build(
    decisions: &[std::path::PathBuf],
    states: &[std::path::PathBuf],
    capacity: &BTreeMap<String, i64>,
) -> Result<Report, BatchError> {
    let mut report =
        Report { inputs: decisions.iter().map(|p| p.display().to_string()).collect(), ..Report::default() };
    // States first: a case's latest state replaces the run's replay.
    let mut by_case: BTreeMap<String, StateRow> = BTreeMap::new();
    for path in states {
        // States one per line, pretty-printed one after another (as
        // `triage escalate` prints them), or an array of them.
        let whole = std::fs::read(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        // Line numbers counted on from the last document, not from the top
        // each time.
        let (mut counted_to, mut line) = (0usize, 1u64);
        let mut line_at = |offset: usize| {
            let offset = offset.min(whole.len()).max(counted_to);
            line += whole[counted_to..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            counted_to = offset;
            line
        };
        let first = whole.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let mut docs: Vec<(u64, StateRow)> = Vec::new();
        let read_whole = match first {
            Some(b'[') => serde_json::from_slice::<Vec<StateRow>>(&whole).map(|all| {
                docs.extend(all.into_iter().map(|s| (line_at(0), s)));
            }),
            _ => {
                let mut stream = serde_json::Deserializer::from_slice(&whole).into_iter::<StateRow>();
                let mut result = Ok(());
                let mut start = 0;
                while let Some(next) = stream.next() {
                    match next {
                        Ok(s) => docs.push((line_at(start + leading_space(&whole[start..])), s)),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                    start = stream.byte_offset();
                }
                result
            }
        };
        if read_whole.is_ok() {
            for (n, s) in docs {
                match s.refusal() {
                    None => {
                        by_case.insert(s.case_id.clone(), s);
                    }
                    Some(why) => note_unreadable(&mut report, path, n, why),
                }
            }
            continue;
        }
        // Something does not read: line by line, to say which.
        drop(docs);
        drop(whole);
        for_lines(path, |lines| {
            let parsed: Vec<(u64, Result<StateRow, String>)> = lines
                .par_iter()
                .map(|(n, l)| (*n, serde_json::from_slice::<StateRow>(l).map_err(|e| e.to_string())))
                .collect();
            for (n, s) in parsed {
                match s {
                    Ok(s) => match s.refusal() {
                        None => {
                            by_case.insert(s.case_id.clone(), s);
                        }
                        Some(why) => note_unreadable(&mut report, path, n, why),
                    },
                    Err(e) => note_unreadable(&mut report, path, n, &format!("not an escalation state: {e}")),
                }
            }
        })?;
    }
    let mut tally = Tally::default();
    let mut matched = 0u64;
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for path in decisions {
        for_lines(path, |lines| {
            let parsed: Vec<(u64, Result<Row, String>)> = lines
                .par_iter()
                .map(|(n, l)| {
                    let row = serde_json::from_slice::<Row>(l).map_err(|e| {
                        if l.trim_ascii_start().starts_with(b"{") {
                            format!("not a decision: {e}")
                        } else {
                            "not a JSON line; the report reads the JSON Lines `triage run` writes (not --format csv)"
                                .to_string()
                        }
                    });
                    (*n, row)
                })
                .collect();
            for (n, row) in parsed {
                match row {
                    Ok(r) if r.decision.is_some() => note_unreadable(
                        &mut report,
                        path,
                        n,
                        "a decision written with --detail full; the report reads lean decisions (the default)",
                    ),
                    Ok(r) if r.case_id.is_empty() || r.category.is_empty() => {
                        note_unreadable(&mut report, path, n, "not a decision (no `case_id` or `category`)");
                    }
                    Ok(r) => {
                        if !seen.insert(r.case_id.clone()) {
                            report.repeated_case_ids += 1;
                        }
                        let state = by_case.get(&r.case_id);
                        matched += u64::from(state.is_some());
                        tally.add(&r, state);
                    }
                    Err(e) => note_unreadable(&mut report, path, n, &e),
                }
            }
        })?;
    }
    report.states_without_decision = (by_case.len() as u64).saturating_sub(matched);
    finish(&mut report, tally, capacity);
    Ok(report)
}

fn note_unreadable(report: &mut Report, path: &std::path::Path, line: u64, why: &str) {
    report.unreadable += 1;
    if report.unreadable_examples.len() < 10 {
        report.unreadable_examples.push(format!("{}:{line}: {why}", path.display()));
    }
}

/// How many whitespace bytes `bytes` starts with.
fn leading_space(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

/// Calls `each` with numbered non-blank lines, a chunk at a time.
fn for_lines(path: &std::path::Path, mut each: impl FnMut(&[(u64, Vec<u8>)])) -> Result<(), BatchError> {
    let file =
        std::fs::File::open(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut chunk: Vec<(u64, Vec<u8>)> = Vec::with_capacity(8192);
    let mut n = 0u64;
    loop {
        let mut line = Vec::new();
        let got = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        chunk.push((n, line));
        if chunk.len() == 8192 {
            each(&chunk);
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        each(&chunk);
    }
    Ok(())
}

fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map.into_iter().map(|(name, count)| Count { name, count }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 }
}

fn finish(report: &mut Report, t: Tally, capacity: &BTreeMap<String, i64>) {
    report.cases = t.cases;
    report.rules_versions = counts(t.versions);
    let loads = |m: BTreeMap<String, (u64, i64)>, with_capacity: bool| {
        let mut v: Vec<Load> = m
            .into_iter()
            .map(|(name, (cases, units))| {
                let cap = if with_capacity { capacity.get(&name).copied() } else { None };
                Load {
                    utilization_percent: cap
                        .filter(|&c| c > 0)
                        .map(|c| (units as f64 * 1000.0 / c as f64).round() / 10.0),
                    capacity: cap,
                    name,
                    cases,
                    units,
                }
            })
            .collect();
        v.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.name.cmp(&b.name)));
        v
    };
    report.teams = loads(t.teams, false);
    report.agents = loads(t.agents, true);
    report.queued = t.queued;
    report.unrouted = t.unrouted;
    report.tiers = (0u8..4)
        .map(|tier| TierShare {
            tier,
            cases: t.tiers[usize::from(tier)],
            percent: percent(t.tiers[usize::from(tier)], t.cases),
            target_percent: match tier {
                0 => Some(TIER0_TARGET_PERCENT),
                3 => Some(TIER3_TARGET_PERCENT),
                _ => None,
            },
        })
        .collect();
    report.deflected = t.deflected;
    report.with_history = t.with_history;
    for ((kind, name, metric), [met, breached, running]) in t.sla {
        let row = Compliance {
            name,
            metric,
            met,
            breached,
            running,
            compliance_percent: (met + breached > 0).then(|| percent(met, met + breached)),
        };
        match kind {
            0 => report.sla_by_policy.push(row),
            1 => report.sla_by_territory.push(row),
            _ => report.sla_by_team.push(row),
        }
    }
    report.manual_reviews = counts(t.reviews);
    report.admin_alerts = counts(t.alerts);
    report.warnings = counts(t.warnings);
    report.escalation_actions = counts(t.actions);
    report.priorities = counts(t.priorities);
    report.categories = counts(t.categories);
    report.territories = counts(t.territories);
    report.over_time = over_time(&t.territory_days, &t.category_days);
    let first = t.territory_days.keys().map(|k| k.0).min();
    let last = t.territory_days.keys().map(|k| k.0).max();
    if let (Some(a), Some(b)) = (first, last) {
        report.period = Some((day_text(a), day_text(b)));
    }
}

fn day_text(day: i32) -> String {
    NaiveDate::from_num_days_from_ce_opt(day).map(|d| d.to_string()).unwrap_or_default()
}

/// A time bucket: a day, a week (from Monday), a month, or a run of
/// `n` years (from a year divisible by `n`).
#[derive(Clone, Copy, PartialEq)]
enum Bucket {
    Day,
    Week,
    Month,
    Years(i32),
}

impl Bucket {
    /// Its name, as the report shows it ("per …").
    fn name(self) -> String {
        match self {
            Bucket::Day => "day".to_string(),
            Bucket::Week => "week".to_string(),
            Bucket::Month => "month".to_string(),
            Bucket::Years(1) => "year".to_string(),
            Bucket::Years(n) => format!("{n} years"),
        }
    }

    /// The first day of the bucket a day falls in.
    fn start(self, day: i32) -> i32 {
        let Some(d) = NaiveDate::from_num_days_from_ce_opt(day) else { return day };
        match self {
            Bucket::Day => day,
            Bucket::Week => day - d.weekday().num_days_from_monday() as i32,
            Bucket::Month => d.with_day(1).map_or(day, |m| m.num_days_from_ce()),
            Bucket::Years(n) => {
                NaiveDate::from_ymd_opt(d.year() - d.year().rem_euclid(n), 1, 1).map_or(day, |y| y.num_days_from_ce())
            }
        }
    }

    /// The first day of the next bucket.
    fn next(self, start: i32) -> i32 {
        let months = match self {
            Bucket::Day => return start + 1,
            Bucket::Week => return start + 7,
            Bucket::Month => 1,
            Bucket::Years(n) => 12 * n.unsigned_abs(),
        };
        NaiveDate::from_num_days_from_ce_opt(start)
            .and_then(|d| d.checked_add_months(chrono::Months::new(months)))
            .map_or(start + 31, |d| d.num_days_from_ce())
    }
}

fn over_time(territory_days: &BTreeMap<(i32, String), u64>, category_days: &BTreeMap<(i32, String), u64>) -> OverTime {
    let (Some(first), Some(last)) =
        (territory_days.keys().map(|k| k.0).min(), territory_days.keys().map(|k| k.0).max())
    else {
        return OverTime { bucket: "day".to_string(), ..OverTime::default() };
    };
    // At most about 62 buckets, however long the period.
    let span = last - first + 1;
    let bucket = if span <= 62 {
        Bucket::Day
    } else if span <= 7 * 62 {
        Bucket::Week
    } else if span <= 31 * 62 {
        Bucket::Month
    } else {
        Bucket::Years((span / 365 / 62 + 1).max(1))
    };
    let mut starts: Vec<i32> = Vec::new();
    let mut day = bucket.start(first);
    while day <= last {
        starts.push(day);
        day = bucket.next(day);
    }
    let series = |days: &BTreeMap<(i32, String), u64>| -> Vec<Series> {
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, name), n) in days {
            *totals.entry(name.as_str()).or_default() += n;
        }
        let mut ranked: Vec<(&str, u64)> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let top: Vec<&str> = ranked.iter().take(8).map(|r| r.0).collect();
        let mut out: Vec<Series> =
            top.iter().map(|n| Series { name: (*n).to_string(), counts: vec![0; starts.len()] }).collect();
        let mut other = Series { name: "other".to_string(), counts: vec![0; starts.len()] };
        for ((day, name), n) in days {
            let b = bucket.start(*day);
            let Ok(i) = starts.binary_search(&b) else { continue };
            match top.iter().position(|t| *t == name) {
                Some(k) => out[k].counts[i] += n,
                None => other.counts[i] += n,
            }
        }
        if other.counts.iter().any(|&n| n > 0) {
            out.push(other);
        }
        out
    };
    OverTime {
        bucket: bucket.name(),
        buckets: starts.iter().map(|&d| day_text(d)).collect(),
        by_territory: series(territory_days),
        by_category: series(category_days),
    }
}

// ------------------------------------------------------------------ HTML

/// Colours of the charts' series (colour-blind safe, Okabe–Ito).
const PALETTE: [(u8, u8, u8); 9] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (213, 94, 0),
    (204, 121, 167),
    (86, 180, 233),
    (240, 228, 66),
    (0, 0, 0),
    (150, 150, 150),
];

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart as SVG: one bar per label, and optional target
/// marks (a value per label); empty when there is nothing to draw (the
/// table says `none`).
fn bar_chart(caption: &str, labels: &[String], values: &[f64], targets: &[Option<f64>], unit: &str) -> String {
    use plotters::prelude::*;
    if labels.is_empty() {
        return String::new();
    }
    let n = labels.len().max(1);
    let height = (60 + 28 * n as u32).max(150);
    let mut svg = String::new();
    let max = values.iter().chain(targets.iter().flatten()).copied().fold(0.0f64, f64::max).max(1.0) * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4).clamp(4, 28) as u32 * 7 + 10;
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(label_width)
                .build_cartesian_2d(0.0..max, (0..n).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => {
                        labels.get(*i).map(|l| l.chars().take(28).collect()).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .x_desc(unit)
                .draw()?;
            let (r, g, b) = PALETTE[0];
            chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
                Rectangle::new(
                    [(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))],
                    RGBColor(r, g, b).filled(),
                )
            }))?;
            let (r, g, b) = PALETTE[3];
            chart.draw_series(targets.iter().enumerate().filter_map(|(i, t)| {
                t.map(|t| {
                    PathElement::new(
                        vec![(t, SegmentValue::Exact(i)), (t, SegmentValue::Exact(i + 1))],
                        RGBColor(r, g, b).stroke_width(3),
                    )
                })
            }))?;
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return String::new();
        }
    }
    svg
}

/// A line chart over time buckets: one line per series.
fn line_chart(caption: &str, buckets: &[String], series: &[Series]) -> String {
    use plotters::prelude::*;
    if series.is_empty() || buckets.is_empty() {
        return String::new();
    }
    let mut svg = String::new();
    let max = series.iter().flat_map(|s| s.counts.iter()).copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let n = buckets.len().max(2);
    {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(48)
                .build_cartesian_2d(0..n - 1, 0.0..max)?;
            chart
                .configure_mesh()
                .x_labels(6.min(n))
                .x_label_formatter(&|i| buckets.get(*i).cloned().unwrap_or_default())
                .y_desc("cases")
                .draw()?;
            for (k, s) in series.iter().enumerate() {
                let (r, g, b) = PALETTE[k % PALETTE.len()];
                let color = RGBColor(r, g, b);
                chart
                    .draw_series(LineSeries::new(
                        s.counts.iter().enumerate().map(|(i, &c)| (i, c as f64)),
                        color.stroke_width(2),
                    ))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3)));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return String::new();
        }
    }
    svg
}

fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        t.push_str(&format!("<th>{}</th>", esc(h)));
    }
    t.push_str("</tr></thead><tbody>");
    let mut any = false;
    for r in rows {
        any = true;
        t.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if i > 0 && c.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '—') {
                " class=\"n\""
            } else {
                ""
            };
            t.push_str(&format!("<td{class}>{}</td>", esc(c)));
        }
        t.push_str("</tr>");
    }
    if !any {
        t.push_str(&format!("<tr><td colspan=\"{}\">none</td></tr>", head.len()));
    }
    t.push_str("</tbody></table>");
    t
}

fn figure(id: &str, svg: &str, table: &str) -> String {
    if svg.is_empty() {
        return format!("<div class=\"pair\"><div class=\"table\">{table}</div></div>");
    }
    format!(
        "<div class=\"pair\"><figure class=\"chart\" id=\"chart-{id}\" role=\"img\">{svg}</figure><div class=\"table\">{table}</div></div>"
    )
}

fn opt_pct(x: Option<f64>) -> String {
    x.map(|p| format!("{p:.1} %")).unwrap_or_else(|| "—".to_string())
}

/// The report as one self-contained HTML page.
pub fn html(report: &Report) -> String {
    let mut body = String::new();
    let versions =
        report.rules_versions.iter().map(|v| format!("{} ({} cases)", v.name, v.count)).collect::<Vec<_>>().join(", ");
    let period = report.period.as_ref().map(|(a, b)| format!("{a} to {b}")).unwrap_or_else(|| "—".to_string());
    body.push_str(&format!(
        "<header><h1>Support triage report</h1><p>{} cases from {} · period {} · rules version {}</p>{}</header>",
        report.cases,
        esc(&report.inputs.join(", ")),
        esc(&period),
        esc(if versions.is_empty() { "—" } else { &versions }),
        {
            let mut w = String::new();
            if report.unreadable > 0 {
                w.push_str(&format!(
                    "<p class=\"warn\">{} line(s) were not lean decisions and are left out: {}</p>",
                    report.unreadable,
                    esc(&report.unreadable_examples.join("; "))
                ));
            }
            if report.repeated_case_ids > 0 {
                w.push_str(&format!(
                    "<p class=\"warn\">{} decision(s) repeat a case id seen before (was an input read twice?); each \
                     is counted.</p>",
                    report.repeated_case_ids
                ));
            }
            w
        }
    ));

    // Workload.
    body.push_str("<section><h2>Workload</h2>");
    body.push_str(&format!(
        "<p>{} case(s) with no team; {} waiting in a queue with no agent. An agent's units add up every case the rules \
         gave them over the period (each case was decided against the directory as given); capacity is what they can \
         hold at once, so utilization above 100 % says how many times over their capacity the period's work is.</p>",
        report.unrouted, report.queued
    ));
    let teams: Vec<&Load> = report.teams.iter().take(20).collect();
    body.push_str(&figure(
        "teams",
        &bar_chart(
            "Cases per team",
            &teams.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            &teams.iter().map(|t| t.cases as f64).collect::<Vec<_>>(),
            &[],
            "cases",
        ),
        &table(
            &["team", "cases", "units"],
            report.teams.iter().map(|t| vec![t.name.clone(), t.cases.to_string(), t.units.to_string()]),
        ),
    ));
    let agents: Vec<&Load> = report.agents.iter().take(25).collect();
    body.push_str(&figure(
        "agents",
        &bar_chart(
            "Units per agent (capacity marked)",
            &agents.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
            &agents.iter().map(|a| a.units as f64).collect::<Vec<_>>(),
            &agents.iter().map(|a| a.capacity.map(|c| c as f64)).collect::<Vec<_>>(),
            "units",
        ),
        &table(
            &["agent", "cases", "units", "capacity", "utilization"],
            report.agents.iter().map(|a| {
                vec![
                    a.name.clone(),
                    a.cases.to_string(),
                    a.units.to_string(),
                    a.capacity.map(|c| c.to_string()).unwrap_or_else(|| "—".to_string()),
                    opt_pct(a.utilization_percent),
                ]
            }),
        ),
    ));
    body.push_str("</section>");

    // Tiers.
    body.push_str("<section><h2>Tier mix</h2>");
    body.push_str(&format!(
        "<p>Usual targets: tier 0 (self-service) deflects about {TIER0_TARGET_PERCENT:.0} % of cases, tier 3 takes about \
         {TIER3_TARGET_PERCENT:.0} %. {} case(s) ({}) were offered self-service articles.</p>",
        report.deflected,
        opt_pct(Some(percent(report.deflected, report.cases)))
    ));
    body.push_str(&figure(
        "tiers",
        &bar_chart(
            "Share of cases per tier (target marked)",
            &report.tiers.iter().map(|t| format!("tier {}", t.tier)).collect::<Vec<_>>(),
            &report.tiers.iter().map(|t| t.percent).collect::<Vec<_>>(),
            &report.tiers.iter().map(|t| t.target_percent).collect::<Vec<_>>(),
            "% of cases",
        ),
        &table(
            &["tier", "cases", "share", "target"],
            report.tiers.iter().map(|t| {
                vec![
                    format!("tier {}", t.tier),
                    t.cases.to_string(),
                    opt_pct(Some(t.percent)),
                    opt_pct(t.target_percent),
                ]
            }),
        ),
    ));
    body.push_str("</section>");

    // SLA.
    body.push_str("<section><h2>SLA compliance</h2>");
    body.push_str(&format!(
        "<p>From {} replayed case histories: compliance is met ÷ (met + breached); clocks still running are shown apart.</p>",
        report.with_history
    ));
    let sla_rows = |rows: &[Compliance]| {
        rows.iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.metric.replace('_', " "),
                    c.met.to_string(),
                    c.breached.to_string(),
                    c.running.to_string(),
                    opt_pct(c.compliance_percent),
                ]
            })
            .collect::<Vec<_>>()
    };
    let head = ["", "metric", "met", "breached", "running", "compliance"];
    let by_policy: Vec<&Compliance> =
        report.sla_by_policy.iter().filter(|c| c.compliance_percent.is_some()).take(20).collect();
    let mut h = head;
    h[0] = "policy";
    body.push_str(&figure(
        "sla",
        &bar_chart(
            "Compliance per policy and metric",
            &by_policy.iter().map(|c| format!("{} · {}", c.name, c.metric.replace('_', " "))).collect::<Vec<_>>(),
            &by_policy.iter().map(|c| c.compliance_percent.unwrap_or(0.0)).collect::<Vec<_>>(),
            &[],
            "% met",
        ),
        &table(&h, sla_rows(&report.sla_by_policy)),
    ));
    h[0] = "territory";
    body.push_str(&format!("<div class=\"wide\">{}</div>", table(&h, sla_rows(&report.sla_by_territory))));
    h[0] = "team";
    body.push_str(&format!("<div class=\"wide\">{}</div>", table(&h, sla_rows(&report.sla_by_team))));
    body.push_str("</section>");

    // Reviews and alerts.
    body.push_str("<section><h2>Manual reviews and alerts</h2>");
    let reviews: Vec<&Count> = report.manual_reviews.iter().take(20).collect();
    body.push_str(&figure(
        "reviews",
        &bar_chart(
            "Manual reviews by reason",
            &reviews.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            &reviews.iter().map(|c| c.count as f64).collect::<Vec<_>>(),
            &[],
            "cases",
        ),
        &table(&["reason", "cases"], report.manual_reviews.iter().map(|c| vec![c.name.clone(), c.count.to_string()])),
    ));
    let list = |title: &str, rows: &[Count]| {
        format!(
            "<div class=\"wide\"><h3>{}</h3>{}</div>",
            esc(title),
            table(&["", "count"], rows.iter().map(|c| vec![c.name.clone(), c.count.to_string()]))
        )
    };
    body.push_str(&list("Admin alerts by reason", &report.admin_alerts));
    body.push_str(&list("Warnings by code", &report.warnings));
    body.push_str(&list("Escalation actions fired, by kind", &report.escalation_actions));
    body.push_str("</section>");

    // Over time.
    let ot = &report.over_time;
    body.push_str(&format!("<section><h2>Cases over time (per {})</h2>", esc(&ot.bucket)));
    for (id, title, series) in
        [("territories", "Cases by territory", &ot.by_territory), ("categories", "Cases by category", &ot.by_category)]
    {
        let mut head: Vec<&str> = vec!["from"];
        head.extend(series.iter().map(|s| s.name.as_str()));
        let rows = ot.buckets.iter().enumerate().map(|(i, b)| {
            let mut r = vec![b.clone()];
            r.extend(series.iter().map(|s| s.counts[i].to_string()));
            r
        });
        body.push_str(&figure(id, &line_chart(title, &ot.buckets, series), &table(&head, rows)));
    }
    body.push_str(&list("Cases by priority", &report.priorities));
    body.push_str(&list("Cases by category", &report.categories));
    body.push_str(&list("Cases by territory", &report.territories));
    body.push_str("</section>");

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Support triage report</title><style>{CSS}</style></head>\
         <body>{body}<footer>Made by triage report. Every chart has its numbers in the table beside it.</footer></body></html>\n"
    )
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}\
h1{margin:0 0 4px}header p{margin:2px 0;color:#555}.warn{color:#a33}section{margin-top:28px}\
.pair{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;margin:12px 0}figure{margin:0}\
figure svg{max-width:100%;height:auto;border:1px solid #ddd}.table{max-height:420px;overflow:auto}\
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3;position:sticky;top:0}\
.wide{margin:12px 0;overflow:auto}footer{margin-top:32px;color:#777;font-size:12px}";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_span() {
        let mut days = BTreeMap::new();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap().num_days_from_ce();
        days.insert((d(2026, 3, 2), "emea".to_string()), 3);
        days.insert((d(2026, 3, 4), "apac".to_string()), 1);
        let ot = over_time(&days, &days);
        assert_eq!(ot.bucket, "day");
        assert_eq!(ot.buckets, vec!["2026-03-02", "2026-03-03", "2026-03-04"]);
        assert_eq!(ot.by_territory[0].name, "emea");
        assert_eq!(ot.by_territory[0].counts, vec![3, 0, 0]);
        days.insert((d(2028, 3, 4), "apac".to_string()), 1);
        let ot = over_time(&days, &days);
        assert_eq!(ot.bucket, "month");
        assert_eq!(ot.buckets.first().map(String::as_str), Some("2026-03-01"));
    }

    #[test]
    fn html_escapes_what_it_shows() {
        let report = Report { inputs: vec!["<x>.jsonl".to_string()], ..Report::default() };
        let page = html(&report);
        assert!(page.contains("&lt;x&gt;.jsonl") && !page.contains("<x>.jsonl"));
    }
}
