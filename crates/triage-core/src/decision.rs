//! What `triage` answers: the decision and the trace that explains it.

use crate::assign::Assignment;
use crate::name::Name;
use crate::normalize::Normalized;
use crate::record::EscalationRecord;
use crate::sla::SlaMetrics;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How much of the reasoning to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceLevel {
    /// The rule that decided each stage (id, file, line). Nearly free.
    #[default]
    Decisions,
    /// Also every rule that did not match and why (the failing condition and
    /// the actual value), and why the deciding rules matched.
    Full,
    /// No reasoning: `trace` stays empty (a decision's, an escalation's).
    /// Every decided field, warning, manual review and action is what
    /// `Decisions` gives. For callers that never show the trace, such as
    /// batch runs writing lean lines: the assignment notes alone were a
    /// twentieth of a decision's work.
    Off,
}

/// Evaluation options.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// How much reasoning to record.
    pub trace: TraceLevel,
}

impl Options {
    /// Options recording the full why-not trace.
    pub fn full_trace() -> Self {
        Options { trace: TraceLevel::Full }
    }

    /// Options with the given trace level.
    pub fn with_trace(trace: TraceLevel) -> Self {
        Options { trace }
    }
}

/// The decision for one case. Field names are part of the public contract.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The case's id.
    pub case_id: String,
    /// The case's location, language and e-mail, cleaned.
    pub normalized: Normalized,
    /// The territory that won, if any matched.
    pub territory: Option<Name>,
    /// The winner's ancestry, from the root down to it.
    pub territory_path: Vec<Name>,
    /// The category the first matching `categories` rule set.
    pub category: Name,
    /// The final priority, on the rule set's scale.
    pub priority: Name,
    /// The product, from the case or the categorization rule.
    pub product: Option<String>,
    /// Sentiment of the subject and body.
    pub sentiment: Sentiment,
    /// Confidence of the categorization, 0 to 1.
    pub confidence: f64,
    /// Support tier, 0 (self-service) to 3 (engineering).
    pub tier: u8,
    /// Knowledge articles offered at Tier 0.
    pub deflect: Vec<Deflection>,
    /// The SLA policy and its deadlines, if the rules define SLAs.
    pub sla: Option<Sla>,
    /// Skills the case needs.
    pub skills: Vec<String>,
    /// Tags set by categorization.
    pub tags: Vec<String>,
    /// The team that takes the case, from `assignment`.
    pub team: Option<Name>,
    /// The agent chosen, if one was eligible.
    pub agent: Option<Name>,
    /// The queue the case waits in when no agent was.
    pub queue: Option<Name>,
    /// The assignment in full: units, strategy, rule, overflow.
    pub assignment: Option<Assignment>,
    /// Set when a person must look at the case.
    pub manual_review: Option<ManualReview>,
    /// Earlier cases this one repeats, most similar first (the rules'
    /// `duplicates:` section, found by [`crate::Recent::observe`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<crate::related::Duplicate>,
    /// The suspected incident the case belongs to (`incidents:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<crate::related::Incident>,
    /// What the rules' `classifiers:` guessed, one entry per classifier
    /// and label, in the section's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub predicted: Vec<crate::classify::Prediction>,
    /// What side tables decided for fields declared in `fields:`, by field
    /// name: a number, text, `true`/`false` or a list, as the field's type
    /// says (a `collect sum` over no row is 0; `min`/`max` over none leave
    /// the field out).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Side effects the caller should carry out, each with an idempotency key.
    pub actions: Vec<Action>,
    /// Problems with the case's data; the case was still decided.
    pub warnings: Vec<Warning>,
    /// Hash of the rule set that decided.
    pub rules_version: Name,
    /// Which rule decided each stage, and with full tracing, why others did not.
    pub trace: Vec<TraceEntry>,
    /// The `assignment` rule that matched (an index), kept for [`crate::reassign`].
    #[serde(skip)]
    pub(crate) route: Option<usize>,
    /// The trace's and warnings' lengths before assignment ran, so
    /// [`crate::reassign`] replaces only what assignment wrote.
    #[serde(skip)]
    pub(crate) before_assign: Option<(usize, usize)>,
}

/// Where a decided case went, for counts that add up: every decision is
/// exactly one of these, in this order of precedence (a case flagged for
/// manual review counts there even when it also got an agent or a queue,
/// so the count does not depend on how a batch was planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// `manual_review` is set.
    ManualReview,
    /// An agent was assigned.
    Assigned,
    /// Waiting in a team's queue.
    Queued,
    /// Tier 0: offered self-service, no team.
    Deflected,
    /// No team took it.
    NoTeam,
}

impl Decision {
    /// Where the case went (see [`Routing`]).
    pub fn routing(&self) -> Routing {
        if self.manual_review.is_some() {
            Routing::ManualReview
        } else if self.agent.is_some() {
            Routing::Assigned
        } else if self.queue.is_some() {
            Routing::Queued
        } else if self.tier == 0 {
            Routing::Deflected
        } else {
            Routing::NoTeam
        }
    }
}

/// The SLA policy in effect for a case and each metric's clock.
///
/// Deadlines count business time on the calendar from `started_at` (the
/// case's `created_at`, else `now`), excluding pauses. At triage there is no
/// history, so the next-response clock (which runs from the oldest
/// unanswered customer message) is not running; `escalate` replays the
/// history and sets it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sla {
    /// The policy's id.
    pub policy: Name,
    /// The calendar the deadlines are measured on; `None` is clock time.
    pub calendar: Option<Name>,
    /// When the clocks started.
    #[serde(serialize_with = "crate::instant::utc")]
    pub started_at: DateTime<Utc>,
    /// First response due.
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub first_response_due: Option<DateTime<Utc>>,
    /// Next response due (from the event history; not set at triage).
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub next_response_due: Option<DateTime<Utc>>,
    /// Resolution due.
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub resolution_due: Option<DateTime<Utc>>,
    /// First periodic update due.
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub update_due: Option<DateTime<Utc>>,
    /// The policy's targets, in business minutes.
    pub targets: SlaTargets,
    /// Each metric's clock at `now`: elapsed, remaining, percent used, state.
    pub metrics: SlaMetrics,
}

/// An SLA policy's targets in business minutes; `None` where the policy
/// sets none.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaTargets {
    /// First response.
    pub first_response: Option<i64>,
    /// Each next response, from the oldest unanswered customer message.
    pub next_response: Option<i64>,
    /// Resolution.
    pub resolution: Option<i64>,
    /// Periodic update interval.
    pub update: Option<i64>,
}

/// Sentiment score and label.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    /// From -1 (very negative) to 1 (very positive).
    pub score: f64,
    /// `negative`, `neutral` or `positive`.
    pub label: &'static str,
}

/// A knowledge article offered for self-service.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deflection {
    /// Article id.
    pub id: String,
    /// Article title.
    pub title: String,
    /// Where to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Why a case needs a person.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualReview {
    /// Stable kebab-case reason, e.g. `low-confidence`.
    pub reason: String,
    /// Details for the reviewer.
    pub detail: String,
}

/// An intent for the caller: the core never carries out side effects.
///
/// Triage raises `admin_alert`s; escalation raises every kind its rules
/// name, with the rule, level and instants filled in.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// `notify`, `raise_tier`, `set_tier`, `reassign`, `set_priority`,
    /// `open_escalation`, `swarm` or `admin_alert`.
    pub kind: &'static str,
    /// Stable idempotency key: asking twice must not act twice.
    pub key: String,
    /// Why: a stable code, or the condition that held.
    pub reason: String,
    /// Details for whoever acts.
    pub detail: String,
    /// The escalation rule that fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The rule's level on the escalation ladder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// When the condition started to hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub fired_at: Option<DateTime<Utc>>,
    /// When to carry it out (later than `fired_at` when it waits for
    /// business hours).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::instant::utc_opt")]
    pub due_at: Option<DateTime<Utc>>,
    /// Who or where: the recipient, team, queue or swarm workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The tier to move the case to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<u8>,
    /// The priority to set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// The swarm channel's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The escalation record to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<EscalationRecord>>,
}

impl Action {
    pub(crate) fn new(kind: &'static str, key: String, reason: String, detail: String) -> Action {
        Action {
            kind,
            key,
            reason,
            detail,
            rule: None,
            level: None,
            fired_at: None,
            due_at: None,
            target: None,
            tier: None,
            priority: None,
            channel: None,
            record: None,
        }
    }
}

/// A problem with a case's data.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable kebab-case code, e.g. `unknown-account`.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

/// The outcome of one rule or step in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The rule matched and decided the stage.
    Matched,
    /// The rule was applied (priority rules, which all apply).
    Applied,
    /// The rule's condition did not hold.
    NotMatched,
    /// Matched, but another candidate won (territories, and table rows
    /// their table's hit policy did not choose).
    Lost,
    /// Applied, but its effect did not last: a later rule set the value
    /// again, or the case's history did (priority rules and rows). Rule
    /// tests' `because` does not count it as deciding.
    Overridden,
    /// A step the engine took by itself (a fallback or default).
    Note,
}

/// One line of the trace.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEntry {
    /// `normalize`, `territory`, `categorize`, `priority`, `tier`, `deflect`, `review`.
    pub stage: &'static str,
    /// The rule, if a rule was involved.
    pub rule: Option<Name>,
    /// The rule's file.
    pub file: Option<Name>,
    /// The rule's line.
    pub line: Option<u32>,
    /// What happened.
    pub outcome: Outcome,
    /// Why, with the conditions and actual values (full tracing, or notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}
