//! SLA clocks replayed from a case's history.
//!
//! A case's SLA state is never stored: it is derived by replaying the event
//! log (created, status changes, replies, priority and tier changes) over the
//! policy's business calendar. Each metric runs in cycles: one for the first
//! response and resolution, one per unanswered customer message for the
//! next response, one per agent update for periodic updates. Clocks pause on
//! the statuses `settings.sla_clock.pause_on` lists and stop on `stop_on`.

use crate::calendar::Calendar;
use crate::case::{Case, CaseError};
use crate::rules::{ClockSettings, SlaPolicy};
use crate::schema::Metric;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// A case and its history, as `escalate` reads it.
///
/// ```
/// let state = triage_core::CaseState::from_json(r#"{
///   "case": {"id": "c1", "created_at": "2026-03-02T09:00:00Z"},
///   "events": [{"at": "2026-03-02T09:30:00Z", "kind": "agent_replied"}]
/// }"#).unwrap();
/// assert_eq!(state.events.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaseState {
    /// The case as it was opened.
    #[serde(deserialize_with = "crate::object::required")]
    pub case: Case,
    /// What happened since, oldest first.
    #[serde(default, deserialize_with = "crate::object::list")]
    pub events: Vec<Event>,
    /// What duplicate and incident detection found when the case was
    /// decided ([`crate::Recent::observe`]): escalation and risk rules read
    /// it as `duplicate.score`, `duplicate_of` and `incident.size`.
    #[serde(default, deserialize_with = "crate::object::or_default", skip_serializing_if = "crate::Related::is_empty")]
    pub related: crate::Related,
}

/// One entry of a case's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When it happened.
    #[serde(deserialize_with = "crate::instant::fixed")]
    pub at: DateTime<FixedOffset>,
    /// What happened.
    pub kind: EventKind,
    /// The new status (`status_changed`).
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The new priority (`priority_changed`).
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The new tier (`tier_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u8>,
    /// The team (`assigned`).
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The agent (`assigned`).
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// The kinds of event a history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The case was opened; the clocks start.
    Created,
    /// The status changed (`status`).
    StatusChanged,
    /// An agent answered the customer.
    AgentReplied,
    /// The customer wrote.
    CustomerReplied,
    /// The priority changed (`priority`).
    PriorityChanged,
    /// The case was assigned (`team`, `agent`).
    Assigned,
    /// The tier changed (`tier`).
    TierChanged,
}

impl EventKind {
    /// The kind as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StatusChanged => "status_changed",
            EventKind::AgentReplied => "agent_replied",
            EventKind::CustomerReplied => "customer_replied",
            EventKind::PriorityChanged => "priority_changed",
            EventKind::Assigned => "assigned",
            EventKind::TierChanged => "tier_changed",
        }
    }
}

impl CaseState {
    /// Reads a case state from JSON text; a wrong type names the field.
    pub fn from_json(text: &str) -> Result<CaseState, CaseError> {
        crate::case::one_document(text, "case state")
    }

    /// Reads a case state from an already-parsed JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<CaseState, CaseError> {
        crate::case::from_value(value)
    }
}

/// One metric's clock, at the instant asked about.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricState {
    /// Which cycle of the metric this is, from 1.
    pub cycle: u32,
    /// When this cycle's clock started.
    #[serde(serialize_with = "crate::instant::utc")]
    pub started_at: DateTime<Utc>,
    /// The policy's target, business minutes.
    pub target_minutes: i64,
    /// Business time used so far, minutes.
    pub elapsed_minutes: i64,
    /// Business time left, minutes (negative once breached).
    pub remaining_minutes: i64,
    /// Share of the target used, percent (one decimal).
    pub used_percent: f64,
    /// `running`, `paused`, `met` or `breached`.
    pub state: &'static str,
    /// When the target falls due, while the clock runs.
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub due_at: Option<DateTime<Utc>>,
    /// When the clock stopped (an agent replied, the case was resolved).
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub met_at: Option<DateTime<Utc>>,
    /// When the target was missed.
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub breached_at: Option<DateTime<Utc>>,
}

/// The state of each metric the policy sets a target for.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SlaMetrics {
    /// First response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_response: Option<MetricState>,
    /// The current or last next-response cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_response: Option<MetricState>,
    /// Resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<MetricState>,
    /// The current or last update interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<MetricState>,
}

impl SlaMetrics {
    /// A metric's state by metric.
    pub fn get(&self, m: Metric) -> Option<&MetricState> {
        match m {
            Metric::FirstResponse => self.first_response.as_ref(),
            Metric::NextResponse => self.next_response.as_ref(),
            Metric::Resolution => self.resolution.as_ref(),
            Metric::Update => self.update.as_ref(),
        }
    }

    fn slot(&mut self, m: Metric) -> &mut Option<MetricState> {
        match m {
            Metric::FirstResponse => &mut self.first_response,
            Metric::NextResponse => &mut self.next_response,
            Metric::Resolution => &mut self.resolution,
            Metric::Update => &mut self.update,
        }
    }
}

/// A metric's state without the instants, for conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Paused,
    Met,
    Breached,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Paused => "paused",
            Phase::Met => "met",
            Phase::Breached => "breached",
        }
    }
}

/// Business seconds between two instants (clock seconds without a
/// calendar). Instants out of the calendar's range count as clock time.
pub(crate) fn between(cal: Option<&Calendar>, a: i64, b: i64) -> i64 {
    if b <= a {
        return 0;
    }
    match (cal, DateTime::from_timestamp(a, 0), DateTime::from_timestamp(b, 0)) {
        (Some(c), Some(x), Some(y)) => c.between(x, y).map_or(b - a, |d| d.num_seconds()),
        _ => b - a,
    }
}

/// The instant `secs` business seconds after `a`.
pub(crate) fn add(cal: Option<&Calendar>, a: i64, secs: i64) -> Option<i64> {
    let start = DateTime::from_timestamp(a, 0)?;
    match cal {
        Some(c) => c.add(start, chrono::Duration::try_seconds(secs)?).ok().map(|t| t.timestamp()),
        None => a.checked_add(secs),
    }
}

/// How long before a reopen a customer message written while the case was
/// resolved still counts as the reply that reopened it, seconds. Helpdesks
/// log the message and the reopen it causes within moments of each other,
/// in either order.
pub(crate) const REOPEN_GRACE: i64 = 300;

#[derive(Debug, Clone)]
struct Cycle<'r> {
    n: u32,
    started: i64,
    /// Closed running intervals.
    runs: Vec<(i64, i64)>,
    /// Per calendar the runs were measured on (`None`: wall-clock time),
    /// running totals: entry `k` is the business seconds of `runs[..=k]`.
    /// Extended as runs are added, so a policy change re-measures only the
    /// runs since the last change to the same calendar and a replay stays
    /// linear in the history however often the policy changes.
    measured: Vec<(Option<&'r Calendar>, Vec<i64>)>,
    /// Running since, while the clock runs.
    open: Option<i64>,
    /// Business seconds of `runs` on the current calendar.
    closed: i64,
    stopped: Option<i64>,
    breached_at: Option<i64>,
}

impl<'r> Cycle<'r> {
    /// Ends the running interval, if any, at `at`, adding its business time.
    fn close(&mut self, cal: Option<&Calendar>, at: i64) {
        if let Some(a) = self.open.take() {
            self.runs.push((a, at));
            self.closed += between(cal, a, at);
        }
    }

    /// The running totals of the runs on `cal` (see `measured`).
    fn totals(&mut self, cal: Option<&'r Calendar>) -> &[i64] {
        let same = |c: &Option<&Calendar>| match (c, cal) {
            (None, None) => true,
            (Some(x), Some(y)) => std::ptr::eq(*x, y),
            _ => false,
        };
        let k = match self.measured.iter().position(|(c, _)| same(c)) {
            Some(k) => k,
            None => {
                self.measured.push((cal, Vec::new()));
                self.measured.len() - 1
            }
        };
        let sums = &mut self.measured[k].1;
        let mut total = sums.last().copied().unwrap_or(0);
        for &(a, b) in &self.runs[sums.len()..] {
            total += between(cal, a, b);
            sums.push(total);
        }
        sums
    }

    /// Re-measures the closed runs on `cal` and finds where `target`
    /// business seconds were reached in them, by binary search.
    fn remeasure(&mut self, cal: Option<&'r Calendar>, target: Option<i64>) {
        let sums = self.totals(cal);
        let closed = sums.last().copied().unwrap_or(0);
        let reached = target.map(|t| (t, sums.partition_point(|&s| s < t)));
        let before = |k: usize| if k == 0 { 0 } else { sums[k - 1] };
        let breached_at = reached.filter(|&(_, k)| k < sums.len()).map(|(t, k)| (t - before(k), k));
        self.closed = closed;
        self.breached_at = breached_at.and_then(|(rest, k)| {
            let (a, b) = self.runs[k];
            add(cal, a, rest).map(|t| t.min(b))
        });
    }
}

/// The clocks of one case, advanced event by event.
#[derive(Debug, Clone)]
pub(crate) struct Clocks<'r> {
    cal: Option<&'r Calendar>,
    /// Seconds, per metric.
    targets: [Option<i64>; 4],
    settings: &'r ClockSettings,
    paused: bool,
    resolved: bool,
    answered: bool,
    /// A customer message that came while the case was resolved: it starts
    /// the next-response cycle if the case reopens within
    /// [`REOPEN_GRACE`] of it.
    reply_while_resolved: Option<i64>,
    pub reopen_count: u32,
    cycles: [Option<Cycle<'r>>; 4],
    counts: [u32; 4],
}

fn targets_of(p: &SlaPolicy) -> [Option<i64>; 4] {
    [p.first_response, p.next_response, p.resolution, p.update].map(|d| d.map(|d| d.num_seconds()))
}

impl<'r> Clocks<'r> {
    /// Clocks started at `start` under a policy, in the given status.
    pub fn start(
        settings: &'r ClockSettings,
        cal: Option<&'r Calendar>,
        policy: &SlaPolicy,
        start: i64,
        status: Option<&str>,
    ) -> Self {
        let mut c = Clocks {
            cal,
            targets: targets_of(policy),
            settings,
            paused: false,
            resolved: false,
            answered: false,
            reply_while_resolved: None,
            reopen_count: 0,
            cycles: Default::default(),
            counts: [0; 4],
        };
        c.begin(Metric::FirstResponse, start);
        c.begin(Metric::Resolution, start);
        if settings.update_from_creation {
            c.begin(Metric::Update, start);
        }
        if let Some(s) = status {
            c.status(s, start);
        }
        c
    }

    fn begin(&mut self, m: Metric, at: i64) {
        let i = m.index();
        self.counts[i] += 1;
        self.cycles[i] = Some(Cycle {
            n: self.counts[i],
            started: at,
            runs: Vec::new(),
            measured: Vec::new(),
            open: None,
            closed: 0,
            stopped: None,
            breached_at: None,
        });
        self.sync(m, at);
    }

    /// Opens or closes a cycle's running interval to match the status.
    fn sync(&mut self, m: Metric, at: i64) {
        let run = !self.paused && !self.resolved;
        let cal = self.cal;
        let Some(c) = self.cycles[m.index()].as_mut() else { return };
        let live = run && c.stopped.is_none();
        match (live, c.open) {
            (true, None) => c.open = Some(at),
            (false, Some(_)) => c.close(cal, at),
            _ => {}
        }
    }

    fn stop(&mut self, m: Metric, at: i64) {
        if let Some(c) = self.cycles[m.index()].as_mut()
            && c.stopped.is_none()
        {
            c.close(self.cal, at);
            c.stopped = Some(at);
        }
    }

    /// Runs the clocks up to `to`, which must not be earlier than the last
    /// event applied: records breaches on the way and folds the running
    /// time into each cycle, so later measurements start from `to`.
    pub fn advance(&mut self, to: i64) {
        for m in Metric::ALL {
            let target = self.targets[m.index()];
            let cal = self.cal;
            let Some(c) = self.cycles[m.index()].as_mut() else { continue };
            let Some(a) = c.open.filter(|&a| a < to) else { continue };
            let before = c.closed;
            c.close(cal, to);
            if let Some(target) = target
                && c.breached_at.is_none()
                && c.closed >= target
            {
                c.breached_at = add(cal, a, target - before).map(|t| t.min(to));
            }
            c.open = Some(to);
        }
    }

    /// A status change at `at`.
    pub fn status(&mut self, status: &str, at: i64) {
        let s = status.trim().to_lowercase();
        let was_resolved = self.resolved;
        self.paused = self.settings.pause_on.contains(&s);
        self.resolved = self.settings.stop_on.contains(&s);
        if self.resolved && !was_resolved {
            self.reply_while_resolved = None;
            for m in Metric::ALL {
                self.stop(m, at);
            }
        } else if was_resolved && !self.resolved {
            // A reopened case resumes its resolution clock where it stopped
            // and owes a fresh update once it has been answered; the
            // customer's message that reopened it starts a next-response
            // cycle.
            self.reopen_count += 1;
            if let Some(c) = self.cycles[Metric::Resolution.index()].as_mut() {
                c.stopped = None;
            }
            // Solving a case nobody answered paused its first response; a
            // reopen owes it still.
            if !self.answered
                && let Some(c) = self.cycles[Metric::FirstResponse.index()].as_mut()
            {
                c.stopped = None;
            }
            if self.answered || self.settings.update_from_creation {
                self.begin(Metric::Update, at);
            }
            if let Some(reply) = self.reply_while_resolved.take()
                && self.answered
            {
                self.begin(Metric::NextResponse, if at - reply <= REOPEN_GRACE { reply } else { at });
            }
        }
        for m in Metric::ALL {
            self.sync(m, at);
        }
    }

    /// An agent replied: the first response and any unanswered customer
    /// message are answered, and a new update interval begins.
    pub fn agent_replied(&mut self, at: i64) {
        self.answered = true;
        self.stop(Metric::FirstResponse, at);
        self.stop(Metric::NextResponse, at);
        self.stop(Metric::Update, at);
        if !self.resolved {
            self.begin(Metric::Update, at);
        }
    }

    /// The customer wrote: after the first response, the oldest unanswered
    /// message starts a next-response cycle.
    pub fn customer_replied(&mut self, at: i64) {
        if self.resolved {
            // Kept for the reopen that usually follows.
            self.reply_while_resolved.get_or_insert(at);
            return;
        }
        if !self.answered {
            return;
        }
        let open = self.cycles[Metric::NextResponse.index()].as_ref().is_some_and(|c| c.stopped.is_none());
        if !open {
            self.begin(Metric::NextResponse, at);
        }
    }

    /// Another policy took over at `at`.
    pub fn change_policy(&mut self, cal: Option<&'r Calendar>, policy: &SlaPolicy, at: i64) {
        let restart = self.settings.restart_on_change;
        for m in Metric::ALL {
            self.sync_close(m, at);
        }
        self.cal = cal;
        self.targets = targets_of(policy);
        for m in Metric::ALL {
            let i = m.index();
            let live = self.cycles[i].as_ref().is_some_and(|c| c.stopped.is_none());
            if restart && live {
                self.begin(m, at);
                continue;
            }
            let target = self.targets[i];
            let Some(c) = self.cycles[i].as_mut() else { continue };
            // Keep the original start: re-measure on the new calendar and
            // find where the new target was crossed.
            c.remeasure(cal, target);
        }
        for m in Metric::ALL {
            self.sync(m, at);
        }
    }

    /// Closes a running interval at `at` (to be reopened by `sync`).
    fn sync_close(&mut self, m: Metric, at: i64) {
        if let Some(c) = self.cycles[m.index()].as_mut() {
            c.close(self.cal, at);
        }
    }

    /// Whether the case is resolved.
    pub fn resolved(&self) -> bool {
        self.resolved
    }

    /// The current cycle number of a metric (0 before it first starts).
    pub fn cycle(&self, m: Metric) -> u32 {
        self.cycles[m.index()].as_ref().map_or(0, |c| c.n)
    }

    /// Business seconds a metric's cycle has used by `t`, its target and
    /// phase; `None` when the metric has no cycle or no target.
    pub fn look(&self, m: Metric, t: i64) -> Option<(i64, i64, Phase)> {
        let target = self.targets[m.index()]?;
        let c = self.cycles[m.index()].as_ref()?;
        let elapsed = c.closed + c.open.map_or(0, |a| between(self.cal, a, t));
        let phase = match c.stopped {
            Some(s) => {
                if c.breached_at.is_some_and(|b| b <= s) {
                    Phase::Breached
                } else {
                    Phase::Met
                }
            }
            None if elapsed >= target => Phase::Breached,
            None if c.open.is_none() => Phase::Paused,
            None => Phase::Running,
        };
        Some((elapsed, target, phase))
    }

    /// The instant a running metric reaches `secs` business seconds, if it
    /// has not yet.
    pub fn reaches(&self, m: Metric, secs: i64) -> Option<i64> {
        let c = self.cycles[m.index()].as_ref()?;
        let a = c.open?;
        if secs <= c.closed {
            return None;
        }
        add(self.cal, a, secs - c.closed)
    }

    /// The target of a metric, business seconds.
    pub fn target(&self, m: Metric) -> Option<i64> {
        self.targets[m.index()]
    }

    /// Every metric's state at `now`.
    pub fn metrics(&self, now: i64) -> SlaMetrics {
        let mut out = SlaMetrics::default();
        let dues = self.dues();
        for m in Metric::ALL {
            let (Some((elapsed, target, phase)), Some(c)) = (self.look(m, now), self.cycles[m.index()].as_ref()) else {
                continue;
            };
            let due = match c.open {
                Some(_) if c.stopped.is_none() => {
                    if target > c.closed {
                        dues[m.index()]
                    } else {
                        c.breached_at
                    }
                }
                _ => None,
            };
            let breached_at = c.breached_at.or_else(|| (phase == Phase::Breached).then_some(due).flatten());
            let used = if target > 0 { (elapsed as f64 * 1000.0 / target as f64).round() / 10.0 } else { 0.0 };
            *out.slot(m) = Some(MetricState {
                cycle: c.n,
                started_at: utc(c.started),
                target_minutes: target / 60,
                elapsed_minutes: elapsed / 60,
                remaining_minutes: (target - elapsed).div_euclid(60),
                used_percent: used,
                state: phase.name(),
                due_at: due.map(utc),
                met_at: c.stopped.map(utc),
                breached_at: breached_at.map(utc),
            });
        }
        out
    }

    /// When each running metric short of its target will reach it; metrics
    /// running since the same instant share one walk over the calendar.
    fn dues(&self) -> [Option<i64>; 4] {
        let mut dues = [None; 4];
        // (running since, business seconds to go, metric), at most four.
        let mut pending = [(0i64, 0i64, 0usize); 4];
        let mut n = 0;
        for m in Metric::ALL {
            let (Some(c), Some(target)) = (self.cycles[m.index()].as_ref(), self.targets[m.index()]) else {
                continue;
            };
            if let Some(a) = c.open.filter(|_| c.stopped.is_none() && target > c.closed) {
                pending[n] = (a, target - c.closed, m.index());
                n += 1;
            }
        }
        let pending = &mut pending[..n];
        pending.sort_unstable();
        for group in pending.chunk_by(|x, y| x.0 == y.0) {
            let Some(cal) = self.cal else {
                for &(a, secs, i) in group {
                    dues[i] = a.checked_add(secs);
                }
                continue;
            };
            let mut targets = [0i64; 4];
            let mut found = [None; 4];
            for (t, g) in targets.iter_mut().zip(group) {
                *t = g.1;
            }
            // An error leaves the later deadlines unset, as `add` would.
            let _ = cal.deadlines(group[0].0, &targets[..group.len()], &mut found[..group.len()]);
            for (g, due) in group.iter().zip(found) {
                dues[g.2] = due;
            }
        }
        dues
    }
}

pub(crate) fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn event_values_lose_invisible_ends() {
        let state = CaseState::from_json(
            "{\"case\": {\"id\": \"a\"}, \"events\": [{\"at\": \"2026-03-02T09:00:00Z\", \"kind\": \"assigned\", \
             \"team\": \"support\\u200b\", \"agent\": \" raj \", \"priority\": \"\\ufeffP1\", \"status\": \"\\u200b\"}]}",
        )
        .unwrap();
        let e = &state.events[0];
        assert_eq!(
            (e.team.as_deref(), e.agent.as_deref(), e.priority.as_deref()),
            (Some("support"), Some("raj"), Some("P1"))
        );
        assert_eq!(e.status, None);
    }

    /// Where `target` business seconds are reached walking `runs` from the
    /// start: the plain reading `Cycle::remeasure` must agree with.
    fn reference(cal: Option<&Calendar>, runs: &[(i64, i64)], target: i64) -> (i64, Option<i64>) {
        let mut used = 0;
        let mut at = None;
        for &(a, b) in runs {
            let len = between(cal, a, b);
            if at.is_none() && used + len >= target {
                at = add(cal, a, target - used).map(|t| t.min(b));
            }
            used += len;
        }
        (used, at)
    }

    fn office() -> Calendar {
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for day in week.iter_mut().take(5) {
            day.push((9 * 60, 17 * 60));
        }
        Calendar::new("office".into(), crate::calendar::Zone::utc(), week, BTreeMap::new())
    }

    fn cycle<'r>(runs: Vec<(i64, i64)>) -> Cycle<'r> {
        Cycle { n: 1, started: 0, runs, measured: Vec::new(), open: None, closed: 0, stopped: None, breached_at: None }
    }

    proptest::proptest! {
        /// Re-measuring after each of many policy changes, on alternating
        /// calendars, gives what walking every run from the start gives.
        #[test]
        fn remeasuring_by_running_totals_agrees_with_walking_the_runs(
            gaps in proptest::collection::vec((0i64..200_000, 1i64..200_000), 1..40),
            changes in proptest::collection::vec((proptest::bool::ANY, 0i64..2_000_000), 1..12),
        ) {
            let office = office();
            let mut t = 1_772_438_400; // 2026-03-02, a Monday
            let mut runs = Vec::new();
            for (pause, run) in gaps {
                t += pause;
                runs.push((t, t + run));
                t += run;
            }
            let mut c = cycle(Vec::new());
            let step = runs.len().div_ceil(changes.len());
            for (i, (on_office, target)) in changes.into_iter().enumerate() {
                // Runs arrive between policy changes, as a replay adds them.
                c.runs = runs[..runs.len().min((i + 1) * step)].to_vec();
                let cal = on_office.then_some(&office);
                c.remeasure(cal, Some(target));
                let (closed, at) = reference(cal, &c.runs, target);
                proptest::prop_assert_eq!(c.closed, closed);
                proptest::prop_assert_eq!(c.breached_at, at);
            }
        }
    }
}
