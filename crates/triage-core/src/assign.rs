//! Assignment: a team, then an agent, from the directory's live state.
//!
//! The team comes from the first matching `assignment` rule, else from the
//! first team (in id order) whose declared territories, tiers, categories,
//! products and languages fit the case. Agents then pass filters in a stated
//! order — team, territory, mandatory skills at level, language, product,
//! presence, shift, spare capacity for the channel, window cap — and the
//! team's strategy ranks the survivors; ties go to optional skills, then to
//! the agent id. Nobody eligible: the overflow team, then the queue, then a
//! person. The answer is a plan: the directory is never changed.

use crate::bits::Bits;
use crate::calendar::Calendar;
use crate::decision::{Decision, ManualReview, TraceEntry, Warning};
use crate::directory::{Directory, Presence, Strategy, Team};
use crate::eval;
use crate::roster::SkillColumn;
use crate::rules::{CompiledRules, Route, SkillReq};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Where a case goes: the plan the caller commits.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    /// The team that takes the case (after any overflow).
    pub team: String,
    /// The agent, when one is eligible.
    pub agent: Option<String>,
    /// The queue the case waits in when no agent is.
    pub queue: Option<String>,
    /// Capacity units the case costs the agent.
    pub units: i64,
    /// The team's strategy.
    pub strategy: &'static str,
    /// The `assignment` rule that chose the first team, if any did.
    pub rule: Option<String>,
    /// How many agents were eligible in the team that took it.
    pub eligible: usize,
    /// Teams tried before, in order, when they had nobody.
    pub overflowed_from: Vec<String>,
}

/// The filters, in the order they apply. `failing_filter` reports a
/// filter by its index here.
pub const FILTERS: &[&str] =
    &["team", "territory", "skills", "language", "product", "presence", "shift", "capacity", "window_cap"];

/// Agents' load, window use and last assignment as a batch goes. A single
/// decision reads the directory as it is and tracks nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loads {
    /// Empty until a batch records its first assignment.
    load: Vec<i64>,
    window_used: Vec<u32>,
    last: Vec<Option<i64>>,
    /// The order of assignments within the batch, which all happen at
    /// `now`: round robin needs it to tell them apart.
    seq: Vec<u64>,
    counter: u64,
    track: bool,
}

impl Loads {
    /// Loads that follow a batch's assignments.
    pub fn tracking() -> Loads {
        Loads { track: true, ..Loads::default() }
    }

    fn load(&self, dir: &Directory, i: usize) -> i64 {
        self.load.get(i).copied().unwrap_or(dir.agents[i].load)
    }

    fn window_used(&self, dir: &Directory, i: usize) -> u32 {
        self.window_used.get(i).copied().unwrap_or_else(|| dir.agents[i].window.map_or(0, |w| w.used))
    }

    fn last(&self, dir: &Directory, i: usize) -> Option<i64> {
        match self.last.get(i) {
            Some(t) => *t,
            None => dir.agents[i].last_assigned_at.map(|t| t.timestamp()),
        }
    }

    fn take(&mut self, dir: &Directory, agent: usize, units: i64, now: i64) {
        if !self.track {
            return;
        }
        if self.load.is_empty() {
            self.load = dir.agents.iter().map(|a| a.load).collect();
            self.window_used = dir.agents.iter().map(|a| a.window.map_or(0, |w| w.used)).collect();
            self.last = dir.agents.iter().map(|a| a.last_assigned_at.map(|t| t.timestamp())).collect();
            self.seq = vec![0; dir.agents.len()];
        }
        self.counter += 1;
        self.load[agent] += units;
        self.window_used[agent] += 1;
        self.last[agent] = Some(now);
        self.seq[agent] = self.counter;
    }

    fn seq(&self, i: usize) -> u64 {
        self.seq.get(i).copied().unwrap_or(0)
    }
}

/// What the case asks of an agent, lower-cased (borrowed when it already
/// is, which is the usual case).
#[derive(Debug, Clone, Default)]
pub(crate) struct Need<'a> {
    pub territory_path: Vec<Cow<'a, str>>,
    pub tier: u8,
    pub category: Cow<'a, str>,
    pub product: Option<Cow<'a, str>>,
    pub language: Option<Cow<'a, str>>,
    pub channel: Option<Cow<'a, str>>,
    pub skills: Vec<NeedSkill<'a>>,
    pub previous_agent: Option<&'a str>,
}

/// A skill the case asks for.
#[derive(Debug, Clone)]
pub(crate) struct NeedSkill<'a> {
    pub skill: Cow<'a, str>,
    pub min_level: u8,
    /// Mandatory skills filter; optional ones rank.
    pub mandatory: bool,
}

impl<'a> NeedSkill<'a> {
    fn from_rule(s: &'a SkillReq) -> Self {
        NeedSkill { skill: Cow::Borrowed(&s.skill), min_level: s.min_level, mandatory: s.mandatory }
    }
}

/// The text lower-cased and trimmed, borrowed when it already is.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(t.to_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

fn fits(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

fn team_fits(t: &Team, n: &Need) -> bool {
    (t.territories.is_empty() || n.territory_path.iter().any(|p| t.territories.iter().any(|x| x == p)))
        && (t.tiers.is_empty() || t.tiers.contains(&n.tier))
        && fits(&t.categories, Some(&n.category))
        && (t.products.is_empty() || fits(&t.products, n.product.as_deref()))
        && (t.languages.is_empty() || n.language.is_none() || fits(&t.languages, n.language.as_deref()))
}

/// Assigns the decided case and records the plan, the trace and, when
/// nobody can take it, the manual review.
pub(crate) fn assign(
    rules: &CompiledRules,
    case: &crate::Case,
    d: &mut Decision,
    dir: &Directory,
    loads: &mut Loads,
    now: DateTime<Utc>,
    full: bool,
) {
    if dir.teams.is_empty() {
        if !rules.assignment.rules.is_empty() {
            d.trace.push(eval::note("assign", "the directory has no teams; the case is not assigned".to_string()));
        }
        return;
    }
    if d.tier == 0 && !d.deflect.is_empty() {
        d.trace.push(eval::note("assign", "tier 0: the case is deflected to self-service, not assigned".to_string()));
        return;
    }
    let route: Option<&crate::rules::Rule<Route>> = d.route.and_then(|i| rules.assignment.rules.get(i));
    let mut need = Need {
        territory_path: d.territory_path.iter().map(|t| lower(t)).collect(),
        tier: d.tier,
        category: lower(&d.category),
        product: d.product.as_deref().map(lower),
        language: d.normalized.language.as_deref().map(lower),
        channel: case.channel.as_deref().map(lower),
        skills: d.skills.iter().map(|s| NeedSkill { skill: lower(s), min_level: 1, mandatory: true }).collect(),
        previous_agent: case.previous_agent.as_deref(),
    };
    let mut team = None;
    if let Some(r) = route {
        for s in &r.action.skills {
            match need.skills.iter_mut().find(|x| x.skill == s.skill) {
                Some(x) => *x = NeedSkill::from_rule(s),
                None => need.skills.push(NeedSkill::from_rule(s)),
            }
        }
        if let Some(id) = &r.action.team {
            team = dir.team_index(id);
            if team.is_none() {
                d.warnings.push(Warning {
                    code: "unknown-team",
                    message: format!("rule `{}` names team `{id}`, which the directory does not list", r.meta.id),
                });
            }
        }
    }
    let team = team.or_else(|| dir.teams.iter().position(|t| team_fits(t, &need)));
    let Some(first) = team else {
        let detail = "no team serves this case's territory, tier, category, product and language".to_string();
        d.trace.push(eval::note("assign", detail.clone()));
        if d.manual_review.is_none() {
            d.manual_review = Some(ManualReview { reason: "no-team".to_string(), detail });
        }
        return;
    };
    // The relaxation ladder: skills dropped once the case has waited.
    if let Some(r) = route {
        let cal = team_calendar(rules, &dir.teams[first], &mut d.warnings);
        let created = case.created_at.map_or(now, |t| t.with_timezone(&Utc));
        let waited = match cal {
            Some(c) => c.between(created, now).unwrap_or_default(),
            None => now - created,
        };
        for step in r.action.relax.iter().filter(|s| s.after <= waited) {
            need.skills.retain(|s| !step.drop.iter().any(|x| *x == s.skill));
            let why = format!(
                "waited {} business minutes (≥ {}): no longer looking for {}",
                waited.num_minutes(),
                step.after.num_minutes(),
                step.drop.join(", ")
            );
            d.trace.push(eval::note("assign", why));
        }
    }

    let mut tried = Vec::new();
    let mut cur = Some(first);
    let mut last_filter = "team";
    while let Some(t) = cur {
        let team = &dir.teams[t];
        let (eligible, removed_by) = eligible(rules, dir, loads, &need, t, now, full, &mut d.trace, &mut d.warnings);
        if let Some(k) = pick(dir, t, loads, &need, &eligible, now) {
            let pick = dir.members[t][k];
            let agent = &dir.agents[pick];
            let units = agent.units(need.channel.as_deref());
            loads.take(dir, pick, units, now.timestamp());
            d.trace.push(eval::note(
                "assign",
                format!(
                    "team `{}` ({}): `{}` chosen among {} eligible, {} unit(s)",
                    team.id,
                    team.strategy.name(),
                    agent.id,
                    eligible.len(),
                    units
                ),
            ));
            d.assignment = Some(Assignment {
                team: team.id.clone(),
                agent: Some(agent.id.clone()),
                queue: None,
                units,
                strategy: team.strategy.name(),
                rule: route.map(|r| r.meta.id.to_string()),
                eligible: eligible.len(),
                overflowed_from: tried,
            });
            return;
        }
        last_filter = removed_by;
        d.trace.push(eval::note(
            "assign",
            format!("team `{}` has no eligible agent (the last were removed by `{removed_by}`)", team.id),
        ));
        tried.push(team.id.clone());
        cur = dir.overflow[t];
    }
    // Nobody anywhere along the overflow chain: the first queue on it.
    let mut chain = Some(first);
    while let Some(t) = chain {
        if let Some(q) = &dir.teams[t].queue {
            let team = &dir.teams[t];
            d.trace.push(eval::note("assign", format!("queued in `{q}` of team `{}`", team.id)));
            d.assignment = Some(Assignment {
                team: team.id.clone(),
                agent: None,
                queue: Some(q.clone()),
                units: 0,
                strategy: team.strategy.name(),
                rule: route.map(|r| r.meta.id.to_string()),
                eligible: 0,
                overflowed_from: tried,
            });
            return;
        }
        chain = dir.overflow[t];
    }
    let detail = format!(
        "no eligible agent in {} and no queue; the last candidates were removed by `{last_filter}`",
        tried.join(" → ")
    );
    d.trace.push(eval::note("assign", detail.clone()));
    if d.manual_review.is_none() {
        d.manual_review = Some(ManualReview { reason: "no-eligible-agent".to_string(), detail });
    }
}

fn team_calendar<'r>(rules: &'r CompiledRules, team: &Team, warnings: &mut Vec<Warning>) -> Option<&'r Calendar> {
    let id = team.calendar.as_deref()?;
    let cal = rules.calendar(id);
    if cal.is_none() {
        warnings.push(Warning {
            code: "unknown-calendar",
            message: format!("team `{}` names calendar `{id}`, which the rules do not define", team.id),
        });
    }
    cal
}

/// The team's agents that pass every filter (as positions among its
/// members), and the filter that removed the last candidates when none do.
///
/// The static filters are bitset operations on the team's index; only the
/// survivors are checked one by one against their live load. With a full
/// trace, each removed agent's reason comes from [`failing_filter`].
#[expect(clippy::too_many_arguments, reason = "the filters read the case, the directory and its live state")]
fn eligible(
    rules: &CompiledRules,
    dir: &Directory,
    loads: &Loads,
    need: &Need,
    t: usize,
    now: DateTime<Utc>,
    full: bool,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> (Vec<usize>, &'static str) {
    let team = &dir.teams[t];
    let ix = &dir.index[t];
    let members = &dir.members[t];
    // The team's hours are the default shift: whether they are open is the
    // same for every agent, so it is asked once.
    let team_shift = team_calendar(rules, team, warnings).map(|c| (c.id(), c.is_open(now)));
    let total = ix.size();
    let mut removed = [0usize; 9];
    let mut cur = Bits::full(total);
    let mut left = total;
    let mut tally = |cur: &Bits, filter: usize| {
        let now_left = cur.count();
        removed[filter] = left - now_left;
        left = now_left;
    };
    ix.keep_territory(&mut cur, &need.territory_path);
    tally(&cur, 1);
    for s in need.skills.iter().filter(|s| s.mandatory) {
        match ix.skill(&s.skill).and_then(|c| c.at_least(s.min_level)) {
            Some(b) => cur.and_with(b),
            None => cur = Bits::new(total),
        }
    }
    tally(&cur, 2);
    if let Some(l) = &need.language {
        ix.keep_language(&mut cur, l);
    }
    tally(&cur, 3);
    if let Some(p) = &need.product {
        ix.keep_product(&mut cur, p);
    }
    tally(&cur, 4);
    cur.and_with(&ix.online);
    tally(&cur, 5);
    for (calendar, group) in &ix.shifts {
        let closed = match calendar {
            Some(id) => rules.calendar(id).is_some_and(|c| !c.is_open(now)),
            None => team_shift.is_some_and(|(_, open)| !open),
        };
        if closed {
            cur.and_not(group);
        }
    }
    tally(&cur, 6);
    let mut out = Vec::with_capacity(left);
    for k in cur.iter() {
        let ai = members[k];
        let a = &dir.agents[ai];
        if a.capacity - loads.load(dir, ai) < a.units_lower(need.channel.as_deref()) {
            removed[7] += 1;
        } else if a.window.is_some_and(|w| loads.window_used(dir, ai) >= w.max) {
            removed[8] += 1;
        } else {
            out.push(k);
        }
    }
    // One string written in place: this runs for every assignment.
    let mut text = String::with_capacity(96);
    let _ = write!(text, "team `{}`: {} of {total} agents eligible", team.id, out.len());
    let mut sep = " (";
    for (f, n) in FILTERS.iter().zip(removed).filter(|(_, n)| *n > 0) {
        let _ = write!(text, "{sep}{f} −{n}");
        sep = ", ";
    }
    if sep == ", " {
        text.push(')');
    }
    if full {
        for &ai in members {
            if let Some((_, reason)) = failing_filter(rules, dir, ai, loads, need, team, team_shift, now) {
                let _ = write!(text, "; `{}`: {reason}", dir.agents[ai].id);
            }
        }
    }
    trace.push(eval::note("assign", text));
    let last = FILTERS.iter().zip(removed).rev().find(|(_, n)| *n > 0).map_or("team", |(f, _)| *f);
    (out, last)
}

/// The first filter an agent fails, with why.
#[expect(clippy::too_many_arguments, reason = "one agent against the case, the team and the live state")]
fn failing_filter(
    rules: &CompiledRules,
    dir: &Directory,
    ai: usize,
    loads: &Loads,
    need: &Need,
    team: &Team,
    team_shift: Option<(&str, bool)>,
    now: DateTime<Utc>,
) -> Option<(usize, String)> {
    let a = &dir.agents[ai];
    if !a.territories.is_empty() && !need.territory_path.iter().any(|p| a.territories.iter().any(|x| x == p)) {
        return Some((1, format!("covers {}", a.territories.join(", "))));
    }
    for s in need.skills.iter().filter(|s| s.mandatory) {
        let level = a.skills.get(s.skill.as_ref()).copied();
        if level.is_none_or(|l| l < s.min_level) {
            return Some((2, format!("`{}` at {} < {}", s.skill, level.unwrap_or(0), s.min_level)));
        }
    }
    let languages = if a.languages.is_empty() { &team.languages } else { &a.languages };
    if let Some(l) = &need.language
        && !languages.is_empty()
        && !languages.iter().any(|x| x == l)
    {
        return Some((3, format!("does not speak `{l}`")));
    }
    if let Some(p) = &need.product
        && !a.products.is_empty()
        && !a.products.iter().any(|x| x == p)
    {
        return Some((4, format!("does not know `{p}`")));
    }
    if a.presence != Presence::Online {
        let p = if a.presence == Presence::Away { "away" } else { "offline" };
        return Some((5, p.to_string()));
    }
    let shift = match &a.shift {
        Some(id) => rules.calendar(id).map(|c| (c.id(), c.is_open(now))),
        None => team_shift,
    };
    if let Some((id, false)) = shift {
        return Some((6, format!("out of shift (`{id}`)")));
    }
    let units = a.units_lower(need.channel.as_deref());
    let spare = a.capacity - loads.load(dir, ai);
    if spare < units {
        return Some((7, format!("{spare} unit(s) free, needs {units}")));
    }
    if let Some(w) = a.window
        && loads.window_used(dir, ai) >= w.max
    {
        return Some((8, format!("window cap {} reached", w.max)));
    }
    None
}

/// The best eligible agent (a position among the team's members): the
/// previous owner when eligible, else the strategy's best, then optional
/// skills, then the lowest id.
fn pick(
    dir: &Directory,
    t: usize,
    loads: &Loads,
    need: &Need,
    eligible: &[usize],
    now: DateTime<Utc>,
) -> Option<usize> {
    let team = &dir.teams[t];
    let members = &dir.members[t];
    if let Some(prev) = &need.previous_agent
        && let Some(&k) = eligible.iter().find(|&&k| dir.agents[members[k]].id == *prev)
    {
        return Some(k);
    }
    let now = now.timestamp();
    let columns: Vec<(Option<&SkillColumn>, bool)> =
        need.skills.iter().map(|s| (dir.index[t].skill(&s.skill), s.mandatory)).collect();
    let skill_sum = |k: usize, optional_only: bool| -> f64 {
        columns
            .iter()
            .filter(|(_, mandatory)| !optional_only || !mandatory)
            .map(|(c, _)| f64::from(c.map_or(0, |c| c.levels[k])))
            .sum()
    };
    let weights = team.weights.unwrap_or(crate::directory::Weights { spare: 1.0, skill: 1.0, idle: 1.0 });
    // Higher is better; the second number breaks ties within a strategy.
    let score = |k: usize| -> (f64, f64) {
        let i = members[k];
        let a = &dir.agents[i];
        let spare = if a.capacity > 0 { (a.capacity - loads.load(dir, i)) as f64 / a.capacity as f64 } else { 0.0 };
        let single = |x: f64| (x, 0.0);
        match team.strategy {
            Strategy::LeastLoaded => single(spare),
            // Never assigned counts as the longest wait; within a batch
            // (all at `now`) the earlier assignment waited longer.
            Strategy::RoundRobin => {
                (loads.last(dir, i).map_or(f64::INFINITY, |t| (now - t) as f64), -(loads.seq(i) as f64))
            }
            Strategy::MostSkilled => single(skill_sum(k, false)),
            Strategy::Weighted => {
                let n = need.skills.len().max(1) as f64;
                let idle = loads.last(dir, i).map_or(1.0, |t| ((now - t) as f64 / 28_800.0).clamp(0.0, 1.0));
                single(weights.spare * spare + weights.skill * skill_sum(k, false) / (10.0 * n) + weights.idle * idle)
            }
        }
    };
    // Members come in id order, so keeping the first best breaks ties by id.
    let mut best: Option<(usize, (f64, f64, f64))> = None;
    for &k in eligible {
        let (s, t) = score(k);
        let key = (s, t, skill_sum(k, true));
        if best.is_none_or(|(_, b)| key > b) {
            best = Some((k, key));
        }
    }
    best.map(|(k, _)| k)
}

/// Each team's eligible agents found twice: through the index, and by
/// asking every member [`failing_filter`]. The two must agree.
#[cfg(test)]
pub(crate) fn eligible_two_ways(
    rules: &CompiledRules,
    dir: &Directory,
    need: &Need,
    now: DateTime<Utc>,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let loads = Loads::default();
    (0..dir.teams.len())
        .map(|t| {
            let (found, _) = eligible(rules, dir, &loads, need, t, now, false, &mut Vec::new(), &mut Vec::new());
            let indexed = found.into_iter().map(|k| dir.members[t][k]).collect();
            let team_shift =
                dir.teams[t].calendar.as_deref().and_then(|id| rules.calendar(id)).map(|c| (c.id(), c.is_open(now)));
            let scanned = dir.members[t]
                .iter()
                .copied()
                .filter(|&ai| failing_filter(rules, dir, ai, &loads, need, &dir.teams[t], team_shift, now).is_none())
                .collect();
            (indexed, scanned)
        })
        .collect()
}
