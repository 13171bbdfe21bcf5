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
use crate::decision::{Decision, ManualReview, TraceEntry, TraceLevel, Warning};
use crate::directory::{Directory, Presence, Strategy, Team};
use crate::eval;
use crate::name::Name;
use crate::roster::SkillColumn;
use crate::rules::{CompiledRules, Route, SkillReq};
use crate::text::Piece::{I, N, S};
use crate::text::join_into;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Where a case goes: the plan the caller commits.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    /// The team that takes the case (after any overflow).
    pub team: Name,
    /// The agent, when one is eligible.
    pub agent: Option<Name>,
    /// The queue the case waits in when no agent is.
    pub queue: Option<Name>,
    /// Capacity units the case costs the agent.
    pub units: i64,
    /// The team's strategy.
    pub strategy: &'static str,
    /// The `assignment` rule that chose the first team, if any did.
    pub rule: Option<Name>,
    /// How many agents were eligible in the team that took it.
    pub eligible: usize,
    /// How well the agent suits the case (0 when queued): the priority's
    /// weight times the match quality, the sum the optimal batch plan
    /// maximizes. See the README.
    pub score: i64,
    /// Teams tried before, in order, when they had nobody.
    pub overflowed_from: Vec<Name>,
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
    /// Whether each calendar of the rules is open at `now`, asked once per
    /// batch (every case of a batch is decided at the same `now`).
    open: Vec<Option<bool>>,
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

    /// Whether the rules' calendar `id` is open at `now`; `None` for a
    /// calendar the rules do not define.
    fn open_now(&mut self, rules: &CompiledRules, id: &str, now: DateTime<Utc>) -> Option<bool> {
        let i = rules.calendars.iter().position(|c| c.id() == id)?;
        if self.open.len() != rules.calendars.len() {
            self.open = vec![None; rules.calendars.len()];
        }
        Some(*self.open[i].get_or_insert_with(|| rules.calendars[i].is_open(now)))
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
    let t = crate::text::trim(s);
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

/// How the agent is chosen in each team along the overflow chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The team's strategy picks.
    Strategy,
    /// The optimal batch plan placed the case with this agent (an index
    /// into the directory's agents).
    Agent(usize),
    /// The optimal batch plan gave every eligible agent's capacity to
    /// cases that score higher: the case waits in the queue.
    Nobody,
}

/// What assignment concluded, written into the decision by [`assign`].
enum Outcome {
    Assigned(Assignment),
    Review(ManualReview),
    Nothing,
}

/// The case's needs, its first team and the rule that chose it.
pub(crate) struct Prepared<'a> {
    need: Need<'a>,
    first: usize,
    route: Option<&'a crate::rules::Rule<Route>>,
    /// The priority's weight in match scores.
    weight: i64,
}

/// Assigns the decided case and records the plan, the trace and, when
/// nobody can take it, the manual review.
#[expect(clippy::too_many_arguments, reason = "the last stage of the pipeline, reading what it decided")]
pub(crate) fn assign(
    rules: &CompiledRules,
    case: &crate::Case,
    d: &mut Decision,
    dir: &Directory,
    loads: &mut Loads,
    now: DateTime<Utc>,
    level: TraceLevel,
    choice: Choice,
) {
    // The needs borrow the decision; what assignment writes goes to these
    // and is put back at the end.
    let mut trace = std::mem::take(&mut d.trace);
    let mut warnings = std::mem::take(&mut d.warnings);
    let before = trace.len();
    let outcome = match prepare(rules, case, d, dir, now, &mut trace, &mut warnings) {
        Ok(p) => place(rules, dir, loads, &p, now, level, choice, &mut trace, &mut warnings),
        Err(Some(review)) => Outcome::Review(review),
        Err(None) => Outcome::Nothing,
    };
    // Without a trace the notes of every assignment are skipped where they
    // cost (the eligible and chosen notes) and dropped here.
    if level == TraceLevel::Off {
        trace.truncate(before);
    }
    d.trace = trace;
    d.warnings = warnings;
    match outcome {
        Outcome::Assigned(a) => d.assignment = Some(a),
        Outcome::Review(m) => {
            if d.manual_review.is_none() {
                d.manual_review = Some(m);
            }
        }
        Outcome::Nothing => {}
    }
}

/// The case's needs and first team; else the manual review it needs, or
/// nothing when it is not to be assigned (deflected, no teams).
fn prepare<'a>(
    rules: &'a CompiledRules,
    case: &'a crate::Case,
    d: &'a Decision,
    dir: &Directory,
    now: DateTime<Utc>,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> Result<Prepared<'a>, Option<ManualReview>> {
    if dir.teams.is_empty() {
        if !rules.assignment.rules.is_empty() {
            trace.push(eval::note("assign", "the directory has no teams; the case is not assigned".to_string()));
        }
        return Err(None);
    }
    if d.tier == 0 && !d.deflect.is_empty() {
        trace.push(eval::note("assign", "tier 0: the case is deflected to self-service, not assigned".to_string()));
        return Err(None);
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
                warnings.push(Warning {
                    code: "unknown-team",
                    message: format!("rule `{}` names team `{id}`, which the directory does not list", r.meta.id),
                });
            }
        }
    }
    let team = team.or_else(|| dir.teams.iter().position(|t| team_fits(t, &need)));
    let Some(first) = team else {
        let detail = "no team serves this case's territory, tier, category, product and language".to_string();
        trace.push(eval::note("assign", detail.clone()));
        return Err(Some(ManualReview { reason: "no-team".to_string(), detail }));
    };
    // The relaxation ladder: skills dropped once the case has waited.
    if let Some(r) = route {
        let cal = team_calendar(rules, &dir.teams[first], warnings);
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
            trace.push(eval::note("assign", why));
        }
    }
    let rank = rules.priorities.iter().position(|p| *p == d.priority).unwrap_or(rules.priorities.len());
    let weight = (rules.priorities.len() - rank.min(rules.priorities.len())).max(1) as i64;
    Ok(Prepared { need, first, route, weight })
}

/// How well an agent suits a case, for comparing plans: the priority's
/// weight (P1 on a four-level scale counts 4, P4 counts 1) times the match
/// quality — 20 in the case's own team, 10 in an overflow team, plus the
/// agent's level in each skill the case asks for, plus 10 for the case's
/// previous owner.
pub(crate) fn match_score(p: &Prepared, dir: &Directory, t: usize, k: usize) -> i64 {
    let agent = &dir.agents[dir.members[t][k]];
    let base = if t == p.first { 20 } else { 10 };
    let skills: i64 =
        p.need.skills.iter().map(|s| dir.index[t].skill(&s.skill).map_or(0, |c| i64::from(c.levels[k]))).sum();
    let sticky = if p.need.previous_agent == Some(agent.id.as_str()) { 10 } else { 0 };
    p.weight * (base + skills + sticky)
}

/// Tries the teams along the overflow chain, then the queues, then a
/// person.
#[expect(clippy::too_many_arguments, reason = "one case against the directory and its live state")]
fn place(
    rules: &CompiledRules,
    dir: &Directory,
    loads: &mut Loads,
    p: &Prepared,
    now: DateTime<Utc>,
    level: TraceLevel,
    choice: Choice,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> Outcome {
    let need = &p.need;
    let rule = || p.route.map(|r| Name::from(&r.meta.id));
    let mut tried = Vec::new();
    let mut cur = Some(p.first);
    let mut last_filter = "team";
    while let Some(t) = cur {
        let team = &dir.teams[t];
        let (eligible, removed_by) = eligible(rules, dir, &mut *loads, need, t, now, level, trace, warnings);
        let chosen = match choice {
            Choice::Strategy => pick(dir, t, loads, need, &eligible, now),
            Choice::Agent(a) => eligible.iter().copied().find(|&k| dir.members[t][k] == a),
            Choice::Nobody => None,
        };
        if let Some(k) = chosen {
            let pick = dir.members[t][k];
            let agent = &dir.agents[pick];
            let units = agent.units_lower(need.channel.as_deref());
            loads.take(dir, pick, units, now.timestamp());
            let how = if choice == Choice::Strategy { team.strategy.name() } else { "optimal batch plan" };
            if level != TraceLevel::Off {
                let mut text = String::with_capacity(80);
                join_into(
                    &mut text,
                    &[
                        S("team `"),
                        S(&team.id),
                        S("` ("),
                        S(how),
                        S("): `"),
                        S(&agent.id),
                        S("` chosen among "),
                        N(eligible.len()),
                        S(" eligible, "),
                        I(units),
                        S(" unit(s)"),
                    ],
                );
                trace.push(eval::note("assign", text));
            }
            return Outcome::Assigned(Assignment {
                team: team.id.clone(),
                agent: Some(agent.id.clone()),
                queue: None,
                units,
                strategy: if choice == Choice::Strategy { team.strategy.name() } else { "optimal" },
                rule: rule(),
                eligible: eligible.len(),
                score: match_score(p, dir, t, k),
                overflowed_from: tried,
            });
        }
        if choice == Choice::Nobody {
            let why = "the optimal batch plan gave the eligible agents' capacity to cases scoring higher";
            trace.push(eval::note("assign", why.to_string()));
            break;
        }
        last_filter = removed_by;
        let why = match choice {
            Choice::Agent(a) if !eligible.is_empty() => format!(
                "team `{}`: the optimal batch plan places the case with `{}` further along the overflow chain",
                team.id, dir.agents[a].id
            ),
            _ => format!("team `{}` has no eligible agent (the last were removed by `{removed_by}`)", team.id),
        };
        trace.push(eval::note("assign", why));
        tried.push(team.id.clone());
        cur = dir.overflow[t];
    }
    // Nobody anywhere along the overflow chain: the first queue on it.
    let mut chain = Some(p.first);
    while let Some(t) = chain {
        if let Some(q) = &dir.teams[t].queue {
            let team = &dir.teams[t];
            trace.push(eval::note("assign", format!("queued in `{q}` of team `{}`", team.id)));
            return Outcome::Assigned(Assignment {
                team: team.id.clone(),
                agent: None,
                queue: Some(q.clone()),
                units: 0,
                strategy: team.strategy.name(),
                rule: rule(),
                eligible: 0,
                score: 0,
                overflowed_from: tried,
            });
        }
        chain = dir.overflow[t];
    }
    let detail = if choice == Choice::Nobody {
        "the optimal batch plan left no capacity for this case and no team on its overflow chain has a queue"
            .to_string()
    } else {
        format!(
            "no eligible agent in {} and no queue; the last candidates were removed by `{last_filter}`",
            tried.join(" → ")
        )
    };
    trace.push(eval::note("assign", detail.clone()));
    Outcome::Review(ManualReview { reason: "no-eligible-agent".to_string(), detail })
}

/// A place the optimal batch plan may give a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Candidate {
    /// Index into the directory's agents.
    pub agent: usize,
    /// Units the case costs the agent.
    pub units: i64,
    /// [`match_score`].
    pub score: i64,
}

/// Every agent along the case's overflow chain who could take it with
/// the directory's loads as they are, best team first; an agent in two
/// teams of the chain counts once, in the first. Empty when the case is
/// not assigned at all (deflected, no team).
pub(crate) fn candidates(
    rules: &CompiledRules,
    case: &crate::Case,
    d: &Decision,
    dir: &Directory,
    now: DateTime<Utc>,
) -> Vec<Candidate> {
    let (mut trace, mut warnings) = (Vec::new(), Vec::new());
    let Ok(p) = prepare(rules, case, d, dir, now, &mut trace, &mut warnings) else {
        return Vec::new();
    };
    let mut loads = Loads::default();
    let mut out: Vec<Candidate> = Vec::new();
    let mut cur = Some(p.first);
    while let Some(t) = cur {
        let (eligible, _) =
            eligible(rules, dir, &mut loads, &p.need, t, now, TraceLevel::Off, &mut trace, &mut warnings);
        for k in eligible {
            let agent = dir.members[t][k];
            if out.iter().all(|c| c.agent != agent) {
                let units = dir.agents[agent].units_lower(p.need.channel.as_deref());
                out.push(Candidate { agent, units, score: match_score(&p, dir, t, k) });
            }
        }
        cur = dir.overflow[t];
    }
    out
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
    loads: &mut Loads,
    need: &Need,
    t: usize,
    now: DateTime<Utc>,
    level: TraceLevel,
    trace: &mut Vec<TraceEntry>,
    warnings: &mut Vec<Warning>,
) -> (Vec<usize>, &'static str) {
    let team = &dir.teams[t];
    let ix = &dir.index[t];
    let members = &dir.members[t];
    // The team's hours are the default shift: whether they are open is the
    // same for every agent, so it is asked once.
    let team_shift =
        team_calendar(rules, team, warnings).map(|c| (c.id(), loads.open_now(rules, c.id(), now) == Some(true)));
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
            Some(id) => loads.open_now(rules, id, now) == Some(false),
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
    if level != TraceLevel::Off {
        // One string written in place: this runs for every assignment.
        let mut text = String::with_capacity(96);
        join_into(
            &mut text,
            &[S("team `"), S(&team.id), S("`: "), N(out.len()), S(" of "), N(total), S(" agents eligible")],
        );
        let mut sep = " (";
        for (f, n) in FILTERS.iter().zip(removed).filter(|(_, n)| *n > 0) {
            join_into(&mut text, &[S(sep), S(f), S(" −"), N(n)]);
            sep = ", ";
        }
        if sep == ", " {
            text.push(')');
        }
        if level == TraceLevel::Full {
            for &ai in members {
                if let Some((_, reason)) = failing_filter(rules, dir, ai, loads, need, team, team_shift, now) {
                    let _ = write!(text, "; `{}`: {reason}", dir.agents[ai].id);
                }
            }
        }
        trace.push(eval::note("assign", text));
    }
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
    let mut loads = Loads::default();
    (0..dir.teams.len())
        .map(|t| {
            let (found, _) =
                eligible(rules, dir, &mut loads, need, t, now, TraceLevel::Off, &mut Vec::new(), &mut Vec::new());
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

/// How [`crate::assign_batch`] places a batch of cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BatchMode {
    /// Most urgent first; each case to its team's strategy's pick.
    #[default]
    Greedy,
    /// The plan of greatest total match score, by minimum-cost flow.
    Optimal,
}

impl BatchMode {
    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BatchMode::Greedy => "greedy",
            BatchMode::Optimal => "optimal",
        }
    }
}

/// How close an optimal batch plan is known to be to the best possible.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanQuality {
    /// How the plan was found: `flow` (every agent's candidate cases cost it
    /// the same units, where a minimum-cost flow is exact), `milp` (mixed
    /// units: a mixed-integer program solved by HiGHS) or
    /// `flow-heaviest-units` (mixed units in a batch of more than 10,000
    /// case–agent pairs: the flow with each agent's heaviest units, a plan
    /// that fits, bounded by every case's best candidate).
    pub method: &'static str,
    /// The plan's total match score.
    pub score: i64,
    /// No plan scores more than this (the solver's proven bound).
    pub bound: i64,
    /// Whether the plan is proven to score the most any plan can.
    pub optimal: bool,
    /// `(bound − score) / bound`, 0 when optimal.
    pub gap: f64,
}

impl std::fmt::Display for PlanQuality {
    /// `proven optimal (flow), total match score 58`, or the score, bound
    /// and gap of a plan the solver's budget ended.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.optimal {
            write!(f, "proven optimal ({}), total match score {}", self.method, self.score)
        } else if self.method == "flow-heaviest-units" {
            write!(
                f,
                "too large for the exact solver (over {} case–agent pairs of mixed units): a plan by flow with each \
                 agent's heaviest units, total match score {}, no plan scores more than {} ({:.1} % gap)",
                crate::gap::MAX_VARS,
                self.score,
                self.bound,
                self.gap * 100.0
            )
        } else {
            write!(
                f,
                "best found within the solver's budget ({}): total match score {}, no plan scores more than {} \
                 ({:.1} % gap)",
                self.method,
                self.score,
                self.bound,
                self.gap * 100.0
            )
        }
    }
}

impl PlanQuality {
    pub(crate) fn new(method: &'static str, score: i64, bound: i64) -> PlanQuality {
        let bound = bound.max(score);
        let gap = if bound > 0 { (bound - score) as f64 / bound as f64 } else { 0.0 };
        PlanQuality { method, score, bound, optimal: bound == score, gap }
    }
}

/// The optimal batch plan: for each case, the agent the plan gives it,
/// [`Choice::Nobody`] when the plan leaves it out, and [`Choice::Strategy`]
/// when it has no candidates at all (it will be queued or go to a person as
/// in a single decision); with the plan's proven bound on the score.
///
/// When every agent's candidate cases cost it the same units, a
/// minimum-cost flow is exact: each agent's slots are its spare capacity
/// divided by those units (and at most its window cap's remainder), and
/// among plans of the best score the flow takes the one that fills agents
/// evenly (each further slot of an agent costs a little more). Otherwise
/// capacities with weights make this a generalized assignment problem,
/// solved as a mixed-integer program ([`crate::gap`]).
///
/// `urgency[i]` is case `i`'s place in the greedy order (most urgent
/// first): among cases with the same candidates, which ones a plan serves
/// does not change its score or its fill, so the most urgent are served.
pub(crate) fn optimal_plan(
    rules: &CompiledRules,
    cases: &[crate::Case],
    decided: &[Decision],
    dir: &Directory,
    now: DateTime<Utc>,
    urgency: &[usize],
) -> (Vec<Choice>, PlanQuality) {
    let lists: Vec<Vec<Candidate>> =
        cases.iter().zip(decided).map(|(c, d)| candidates(rules, c, d, dir, now)).collect();
    let (mut plan, quality) = best_plan(&lists, dir);
    serve_most_urgent(&lists, urgency, &mut plan);
    (plan, quality)
}

/// Within each set of cases with the same candidates (same agents, units
/// and scores), gives the places the plan chose to the most urgent of
/// them: the same agents are used, so score, capacity and fill are kept.
fn serve_most_urgent(lists: &[Vec<Candidate>], urgency: &[usize], plan: &mut [Choice]) {
    let mut alike: std::collections::BTreeMap<&[Candidate], Vec<usize>> = std::collections::BTreeMap::new();
    for (i, list) in lists.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        alike.entry(list.as_slice()).or_default().push(i);
    }
    for members in alike.values_mut().filter(|m| m.len() > 1) {
        let places: Vec<Choice> = members.iter().map(|&i| plan[i]).filter(|c| matches!(c, Choice::Agent(_))).collect();
        members.sort_by_key(|&i| urgency.get(i).copied().unwrap_or(usize::MAX));
        for (k, &i) in members.iter().enumerate() {
            plan[i] = places.get(k).copied().unwrap_or(Choice::Nobody);
        }
    }
}

/// The plan of best score (see [`optimal_plan`]), before urgency is
/// applied.
fn best_plan(lists: &[Vec<Candidate>], dir: &Directory) -> (Vec<Choice>, PlanQuality) {
    let mut plan: Vec<Choice> =
        lists.iter().map(|l| if l.is_empty() { Choice::Strategy } else { Choice::Nobody }).collect();
    // The units each agent's candidate cases cost it: one value, or mixed.
    let mut units: Vec<Option<Option<i64>>> = vec![None; dir.agents.len()];
    for c in lists.iter().flatten() {
        units[c.agent] = match units[c.agent] {
            None => Some(Some(c.units)),
            Some(Some(u)) if u == c.units => Some(Some(u)),
            _ => Some(None),
        };
    }
    if units.contains(&Some(None)) {
        let rooms: Vec<crate::gap::Room> = dir
            .agents
            .iter()
            .map(|a| crate::gap::Room {
                load: a.load,
                capacity: a.capacity,
                slots: a.window.map(|w| i64::from(w.max.saturating_sub(w.used))),
            })
            .collect();
        if let Some(solved) = crate::gap::solve(lists, &rooms) {
            for (i, k) in solved.pick.iter().enumerate() {
                if let Some(k) = k {
                    plan[i] = Choice::Agent(lists[i][*k].agent);
                }
            }
            return (plan, PlanQuality::new("milp", solved.score, solved.bound));
        }
        // Too large for the solver (or it failed): the flow with each
        // agent's heaviest units is feasible; its bound is every case's
        // best candidate.
        let score = flow_plan(lists, dir, &mut plan);
        let bound = lists.iter().map(|l| l.iter().map(|c| c.score).max().unwrap_or(0)).sum();
        return (plan, PlanQuality::new("flow-heaviest-units", score, bound));
    }
    let score = flow_plan(lists, dir, &mut plan);
    (plan, PlanQuality::new("flow", score, score))
}

/// The minimum-cost flow plan (see [`optimal_plan`]); returns its score.
fn flow_plan(lists: &[Vec<Candidate>], dir: &Directory, plan: &mut [Choice]) -> i64 {
    use crate::flow::Network;
    // Per agent: the most units a candidate case costs it, and how many
    // cases could come to it.
    let mut heaviest = vec![0i64; dir.agents.len()];
    let mut wanted = vec![0i64; dir.agents.len()];
    for c in lists.iter().flatten() {
        heaviest[c.agent] = heaviest[c.agent].max(c.units);
        wanted[c.agent] += 1;
    }
    let top = lists.iter().flatten().map(|c| c.score + 1).max().unwrap_or(1);
    // Each agent's slots, the fill it starts from and its whole capacity,
    // in slots, for the even-fill tie-break.
    let slots: Vec<(i64, i64, i64)> = dir
        .agents
        .iter()
        .zip(&heaviest)
        .map(|(agent, &u)| {
            if u <= 0 {
                return (0, 0, 1);
            }
            let mut slots = (agent.capacity - agent.load).max(0) / u;
            if let Some(w) = agent.window {
                slots = slots.min(i64::from(w.max.saturating_sub(w.used)));
            }
            (slots, agent.load.max(0) / u, (agent.capacity / u).max(1))
        })
        .collect();
    // The k-th slot costs what it adds to the agent's squared load share,
    // `(2·fill + 1) / capacity` (scaled to whole numbers), so the cheapest
    // plan of a score fills every agent to the same share of its capacity,
    // as `least_loaded` does. A unit of score outweighs any sum of slot
    // costs, so the score comes first.
    const SCALE: i64 = 1024;
    let slot_cost = |fill: i64, capacity: i64| (2 * fill + 1) * SCALE / capacity;
    let dearest = slots.iter().map(|&(n, from, cap)| slot_cost(from + n, cap)).max().unwrap_or(0) + 1;
    let weight = dearest.saturating_mul(lists.len() as i64 + 1).max(1);
    // Nodes: the source, one per case, one per agent who is a candidate
    // for some case, the sink.
    let mut node = vec![usize::MAX; dir.agents.len()];
    let mut next = 1 + lists.len();
    for (a, &u) in heaviest.iter().enumerate() {
        if u > 0 {
            node[a] = next;
            next += 1;
        }
    }
    let sink = next;
    let mut g = Network::new(sink + 1);
    let mut arcs = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        if !list.is_empty() {
            g.add(0, 1 + i, 1, 0);
        }
        for c in list {
            arcs.push((i, c.agent, c.score, g.add(1 + i, node[c.agent], 1, (top - c.score) * weight)));
        }
    }
    for (a, &(n, from, cap)) in slots.iter().enumerate() {
        // One arc per slot the agent's cases could fill, each a little
        // dearer than the last.
        for k in 0..n.min(wanted[a]) {
            g.add(node[a], sink, 1, slot_cost(from + k, cap));
        }
    }
    g.min_cost_flow(0, sink, top * weight);
    let mut score = 0;
    for (i, a, s, arc) in arcs {
        if g.flow_on(arc) > 0 {
            plan[i] = Choice::Agent(a);
            score += s;
        }
    }
    score
}

/// Warnings about a rule set used with a directory: `assignment` rules
/// naming teams the directory lacks, skills the rules ask for that the
/// directory's `skills:` does not declare (or, without the list, that no
/// agent has), and teams or agents naming calendars the rules do not
/// define. Neither side is wrong alone, so these are warnings that
/// `triage check` prints.
///
/// ```
/// use triage_core::{check_directory, compile_sources, Directory};
/// let rules = compile_sources(&[("r.yaml", "categories: [{ id: b, set: { category: billing, skills: [biling] } }]\nassignment: [{ id: r, team: dsk }]")]).0.unwrap();
/// let dir = Directory::from_text("d.yaml", "skills: [billing]\nteams: [{ id: desk }]\nagents: [{ id: ann, teams: [desk], capacity: 1 }]").unwrap();
/// let codes: Vec<&str> = check_directory(&rules, &dir, "d.yaml").iter().map(|d| d.code).collect();
/// assert_eq!(codes, ["unknown-skill", "unknown-team"]);
/// ```
pub fn check_directory(rules: &CompiledRules, dir: &Directory, dir_file: &str) -> Vec<crate::Diagnostic> {
    use crate::diag::{Diagnostic, Pos, Severity, did_you_mean};
    let files: Vec<&str> = rules.files().collect();
    let at_rule = |meta: &crate::rules::RuleMeta, code: &'static str, message: String, help: Option<String>| {
        let file = files.get(meta.file).copied().unwrap_or_default();
        let d =
            Diagnostic::custom(code, Severity::Warning, file, Pos::new(meta.line, 1), message).in_rule(Some(&meta.id));
        match help {
            Some(h) => d.with_help(h),
            None => d,
        }
    };
    let staffed: std::collections::BTreeSet<&str> =
        dir.agents.iter().flat_map(|a| a.skills.keys().map(String::as_str)).collect();
    let skill_warning = |meta: &crate::rules::RuleMeta, skill: &str| -> Option<Diagnostic> {
        let skill = skill.to_lowercase();
        match &dir.skills {
            Some(declared) if !declared.contains(&skill) => {
                let message = format!("skill `{skill}` is not among the directory's `skills:`");
                let help = did_you_mean(&skill, declared.iter().map(String::as_str));
                Some(at_rule(meta, "unknown-skill", message, help))
            }
            None if !dir.agents.is_empty() && !staffed.contains(skill.as_str()) => {
                Some(at_rule(meta, "unstaffed-skill", format!("no agent in the directory has skill `{skill}`"), None))
            }
            _ => None,
        }
    };
    let mut out: Vec<Diagnostic> = Vec::new();
    for r in &rules.categories.rules {
        out.extend(r.action.skills.iter().filter_map(|s| skill_warning(&r.meta, s)));
    }
    for r in &rules.assignment.rules {
        out.extend(r.action.skills.iter().filter_map(|s| skill_warning(&r.meta, &s.skill)));
        if let Some(team) = &r.action.team
            && !dir.teams.is_empty()
            && dir.team_index(team).is_none()
        {
            let help = did_you_mean(team, dir.teams.iter().map(|t| t.id.as_str()));
            out.push(at_rule(&r.meta, "unknown-team", format!("team `{team}` is not in the directory"), help));
        }
    }
    let calendars = dir
        .teams
        .iter()
        .filter_map(|t| t.calendar.as_deref().map(|c| (format!("team `{}`", t.id), c)))
        .chain(dir.agents.iter().filter_map(|a| a.shift.as_deref().map(|c| (format!("agent `{}`", a.id), c))));
    for (who, cal) in calendars.filter(|(_, c)| rules.calendar(c).is_none()) {
        let message = format!("{who} names calendar `{cal}`, which the rules do not define");
        out.push(Diagnostic::custom("unknown-calendar", Severity::Warning, dir_file, Pos::default(), message));
    }
    out
}
