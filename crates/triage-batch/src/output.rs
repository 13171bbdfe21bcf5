//! What a run writes: lean decisions (JSON Lines or flat CSV rows) and
//! rejects (JSON Lines).

use crate::input::Position;
use crate::mail::Message;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use triage_core::{Decision, Escalation, MetricState};

/// How decisions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line ([`LeanDecision`], or the full decision).
    Jsonl,
    /// A header row, then one flat row per case ([`CSV_COLUMNS`]).
    Csv,
}

/// Where a record came from: its input and position in it.
#[derive(Debug, Clone, Serialize)]
pub struct Source<'a> {
    /// The input as named on the command line.
    pub input: &'a str,
    /// Line, row, element, message or file.
    #[serde(flatten)]
    pub position: &'a Position,
}

/// One case's decision as a run writes it by default: what was decided,
/// without the trace (`--detail full` writes the whole decision). Instants
/// are UTC, RFC 3339.
#[derive(Debug, Serialize)]
pub struct LeanDecision<'a> {
    /// The record's index in the run, from 0 (what `--resume` counts).
    pub record: u64,
    /// Where it came from.
    pub source: Source<'a>,
    /// The case's id.
    pub case_id: &'a str,
    /// When the case was opened, as given.
    pub created_at: Option<String>,
    /// The instant it was decided at (`--now`, or its `created_at` with
    /// `--as-of-creation`).
    pub decided_at: DateTime<Utc>,
    /// Territory.
    pub territory: Option<&'a str>,
    /// Category.
    pub category: &'a str,
    /// Priority.
    pub priority: &'a str,
    /// Support tier, 0–3.
    pub tier: u8,
    /// Knowledge articles offered for self-service (tier 0), by id.
    pub deflect: Vec<&'a str>,
    /// Team, agent, queue.
    pub team: Option<&'a str>,
    /// Agent.
    pub agent: Option<&'a str>,
    /// Queue.
    pub queue: Option<&'a str>,
    /// Capacity units the assignment takes.
    pub units: Option<i64>,
    /// SLA policy and due times.
    pub sla: Option<LeanSla<'a>>,
    /// Why the case needs a person to look at it.
    pub manual_review: Option<&'a str>,
    /// Warning codes.
    pub warnings: Vec<&'a str>,
    /// Admin alerts raised (their reasons).
    pub alerts: Vec<&'a str>,
    /// The rule set's version.
    pub rules_version: &'a str,
    /// With a history: its replay (SLA state and the escalation actions
    /// that would have fired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<LeanHistory<'a>>,
    /// For mail: the thread's messages, oldest first, with their original
    /// text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<&'a [Message]>,
}

/// The SLA part of a lean decision.
#[derive(Debug, Serialize)]
pub struct LeanSla<'a> {
    /// Policy id.
    pub policy: &'a str,
    /// Due times.
    pub first_response_due: Option<DateTime<Utc>>,
    /// Next response due.
    pub next_response_due: Option<DateTime<Utc>>,
    /// Resolution due.
    pub resolution_due: Option<DateTime<Utc>>,
}

/// A replayed history, lean.
#[derive(Debug, Serialize)]
pub struct LeanHistory<'a> {
    /// The instant it was replayed at.
    pub at: DateTime<Utc>,
    /// Events in the history.
    pub events: usize,
    /// Status in effect.
    pub status: Option<&'a str>,
    /// Priority and tier in effect.
    pub priority: &'a str,
    /// Tier in effect.
    pub tier: u8,
    /// Times reopened.
    pub reopen_count: u32,
    /// SLA policy in effect.
    pub sla_policy: Option<&'a str>,
    /// Each metric's clock: `running`, `paused`, `met` or `breached`.
    pub metrics: BTreeMap<&'static str, &'a MetricState>,
    /// Actions fired and due by then.
    pub actions: Vec<LeanAction<'a>>,
    /// Actions fired but waiting for business hours.
    pub pending: usize,
    /// When to replay again.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// An escalation action, lean.
#[derive(Debug, Serialize)]
pub struct LeanAction<'a> {
    /// Kind (`notify`, `raise_tier`, …).
    pub kind: &'a str,
    /// Idempotency key.
    pub key: &'a str,
    /// The rule that fired.
    pub rule: Option<&'a str>,
    /// When it fired.
    pub fired_at: Option<DateTime<Utc>>,
    /// Who or where.
    pub target: Option<&'a str>,
}

impl<'a> LeanDecision<'a> {
    /// The lean form of a decision, and of a history's replay with the
    /// number of events it replayed.
    pub fn new(
        record: u64,
        source: Source<'a>,
        d: &'a Decision,
        created_at: Option<String>,
        decided_at: DateTime<Utc>,
        replay: Option<(&'a Escalation, usize)>,
        thread: Option<&'a [Message]>,
    ) -> LeanDecision<'a> {
        LeanDecision {
            record,
            source,
            case_id: &d.case_id,
            created_at,
            decided_at,
            territory: d.territory.as_deref(),
            category: &d.category,
            priority: &d.priority,
            tier: d.tier,
            deflect: d.deflect.iter().map(|a| a.id.as_str()).collect(),
            team: d.team.as_deref(),
            agent: d.agent.as_deref(),
            queue: d.queue.as_deref(),
            units: d.assignment.as_ref().map(|a| a.units),
            sla: d.sla.as_ref().map(|s| LeanSla {
                policy: &s.policy,
                first_response_due: s.first_response_due,
                next_response_due: s.next_response_due,
                resolution_due: s.resolution_due,
            }),
            manual_review: d.manual_review.as_ref().map(|m| m.reason.as_str()),
            warnings: d.warnings.iter().map(|w| w.code).collect(),
            alerts: d.actions.iter().filter(|a| a.kind == "admin_alert").map(|a| a.reason.as_str()).collect(),
            rules_version: &d.rules_version,
            history: replay.map(|(e, events)| LeanHistory {
                at: e.now,
                events,
                status: e.status.as_deref(),
                priority: &e.priority,
                tier: e.tier,
                reopen_count: e.reopen_count,
                sla_policy: e.sla.as_ref().map(|s| &*s.policy),
                metrics: e
                    .sla
                    .as_ref()
                    .map(|s| {
                        [
                            ("first_response", s.metrics.first_response.as_ref()),
                            ("next_response", s.metrics.next_response.as_ref()),
                            ("resolution", s.metrics.resolution.as_ref()),
                            ("update", s.metrics.update.as_ref()),
                        ]
                        .into_iter()
                        .filter_map(|(k, m)| m.map(|m| (k, m)))
                        .collect()
                    })
                    .unwrap_or_default(),
                actions: e
                    .actions
                    .iter()
                    .map(|a| LeanAction {
                        kind: a.kind,
                        key: &a.key,
                        rule: a.rule.as_deref(),
                        fired_at: a.fired_at,
                        target: a.target.as_deref(),
                    })
                    .collect(),
                pending: e.pending.len(),
                next_check_at: e.next_check_at,
            }),
            thread,
        }
    }

    /// The flat CSV row, in the order of [`CSV_COLUMNS`].
    pub fn csv_row(&self) -> Vec<String> {
        let t = |x: Option<DateTime<Utc>>| {
            x.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default()
        };
        let s = |x: Option<&str>| x.unwrap_or_default().to_string();
        let position = match self.source.position {
            Position::Line { line } => format!("line={line}"),
            Position::Row { row, line } => format!("row={row} line={line}"),
            Position::Element { element, line } => format!("element={element} line={line}"),
            Position::Message { message, offset } => format!("message={message} offset={offset}"),
            Position::File { file } => format!("file={file}"),
            Position::Offset { offset } => format!("offset={offset}"),
        };
        let h = self.history.as_ref();
        let metric = |name: &str| h.and_then(|h| h.metrics.get(name)).map(|m| m.state.to_string()).unwrap_or_default();
        vec![
            self.record.to_string(),
            self.source.input.to_string(),
            position,
            self.case_id.to_string(),
            self.created_at.clone().unwrap_or_default(),
            t(Some(self.decided_at)),
            s(self.territory),
            self.category.to_string(),
            self.priority.to_string(),
            self.tier.to_string(),
            self.deflect.join(";"),
            s(self.team),
            s(self.agent),
            s(self.queue),
            self.units.map(|u| u.to_string()).unwrap_or_default(),
            s(self.sla.as_ref().map(|x| x.policy)),
            t(self.sla.as_ref().and_then(|x| x.first_response_due)),
            t(self.sla.as_ref().and_then(|x| x.next_response_due)),
            t(self.sla.as_ref().and_then(|x| x.resolution_due)),
            s(self.manual_review),
            self.warnings.join(";"),
            self.alerts.join(";"),
            self.rules_version.to_string(),
            s(h.and_then(|h| h.status)),
            metric("first_response"),
            metric("next_response"),
            metric("resolution"),
            h.map(|h| h.actions.iter().map(|a| a.kind).collect::<Vec<_>>().join(";")).unwrap_or_default(),
            t(h.and_then(|h| h.next_check_at)),
        ]
    }
}

/// The CSV output's columns. `position` is `line=N`, `row=N line=N`,
/// `element=N line=N`, `message=N offset=N` or `file=NAME`; lists are `;`
/// separated; the last six are empty for a case without a history.
pub const CSV_COLUMNS: &[&str] = &[
    "record",
    "input",
    "position",
    "case_id",
    "created_at",
    "decided_at",
    "territory",
    "category",
    "priority",
    "tier",
    "deflect",
    "team",
    "agent",
    "queue",
    "units",
    "sla_policy",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "manual_review",
    "warnings",
    "alerts",
    "rules_version",
    "status",
    "first_response_state",
    "next_response_state",
    "resolution_state",
    "actions",
    "next_check_at",
];

/// One line of the rejects file.
#[derive(Debug, Serialize)]
pub struct Reject<'a> {
    /// The record's index in the run.
    pub record: u64,
    /// Where it came from.
    pub source: Source<'a>,
    /// Why it was not decided.
    pub reason: &'a str,
    /// The record as read (UTF-8 text), when it is text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    /// The record as read, base64, when it is not UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// For a mail thread that could not be decided: its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<&'a [Message]>,
}

impl<'a> Reject<'a> {
    /// A reject carrying `raw` as text when it is UTF-8, else as base64.
    pub fn new(record: u64, source: Source<'a>, reason: &'a str, raw: &'a [u8]) -> Reject<'a> {
        use base64::Engine as _;
        let (text, b64) = match std::str::from_utf8(raw) {
            Ok(t) => (Some(t), None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(raw))),
        };
        Reject { record, source, reason, raw: text, raw_base64: b64, thread: None }
    }
}
