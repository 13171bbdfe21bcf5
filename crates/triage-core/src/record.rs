//! Escalation records: the "escalation as a project" object an
//! `open_escalation` action opens, its lifecycle and the report of open ones.
//!
//! The core never stores a record. `escalate` returns a new one inside the
//! action; the caller keeps it and moves it through its lifecycle with
//! [`EscalationRecord::transition`], a pure function that refuses invalid
//! moves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an escalation record is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Opened by a rule; nobody has taken it on yet.
    Open,
    /// An owner is working it.
    Active,
    /// The customer's problem is solved; lessons are still to be written.
    Resolved,
    /// Done, with lessons learned. Final.
    Closed,
}

impl RecordStatus {
    /// The status as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            RecordStatus::Open => "open",
            RecordStatus::Active => "active",
            RecordStatus::Resolved => "resolved",
            RecordStatus::Closed => "closed",
        }
    }

    /// Reads a status name.
    pub fn parse(s: &str) -> Option<RecordStatus> {
        [RecordStatus::Open, RecordStatus::Active, RecordStatus::Resolved, RecordStatus::Closed]
            .into_iter()
            .find(|x| x.name() == s.trim())
    }

    /// The moves the lifecycle allows from here.
    pub fn next(self) -> &'static [RecordStatus] {
        match self {
            RecordStatus::Open => &[RecordStatus::Active, RecordStatus::Resolved],
            RecordStatus::Active => &[RecordStatus::Resolved],
            RecordStatus::Resolved => &[RecordStatus::Active, RecordStatus::Closed],
            RecordStatus::Closed => &[],
        }
    }
}

/// A weighted factor's part of a risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskPart {
    /// The factor's name from `risk:`.
    pub factor: String,
    /// Its weight.
    pub weight: f64,
    /// How much of the weight applied, 0 to 1.
    pub share: f64,
}

/// A risk score from 0 to 100 and what made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// Weighted share of all factors, 0 to 100, one decimal.
    pub score: f64,
    /// Every factor, in rule order.
    pub factors: Vec<RiskPart>,
}

/// A point at which leadership hears about a record that is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// Minutes after the record opened.
    pub after_minutes: i64,
    /// Who is told.
    pub notify: String,
    /// When.
    pub due_at: DateTime<Utc>,
}

/// One move of a record's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTransition {
    /// Status before.
    pub from: RecordStatus,
    /// Status after.
    pub to: RecordStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// What the person moving it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An escalation handled as a project: severity, risk, owner, members,
/// milestones and a lifecycle.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationRecord {
    /// The opening action's idempotency key.
    pub id: String,
    /// The case escalated.
    pub case_id: String,
    /// The rule that opened it.
    pub rule: String,
    /// 1 (worst) to 4.
    pub severity: u8,
    /// Risk when it opened.
    pub risk: Risk,
    /// The role that owns it.
    pub owner: String,
    /// Roles or people working it.
    pub members: Vec<String>,
    /// When leadership is told if it is still open.
    pub milestones: Vec<Milestone>,
    /// Where it is in its lifecycle.
    pub status: RecordStatus,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Every move since.
    #[serde(default)]
    pub history: Vec<RecordTransition>,
    /// Required to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lessons_learned: Option<String>,
}

/// A lifecycle move that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The lifecycle has no such move.
    #[error("an escalation record cannot go from `{}` to `{}`; from `{}` it may go to {}", from.name(), to.name(), from.name(), allowed(*from))]
    InvalidMove {
        /// Status now.
        from: RecordStatus,
        /// Status asked for.
        to: RecordStatus,
    },
    /// Closing needs what was learned.
    #[error("closing escalation `{id}` needs a lessons-learned note")]
    LessonsRequired {
        /// The record.
        id: String,
    },
    /// Moves happen in time order.
    #[error("the move at {at} is earlier than the record's last change at {last}")]
    OutOfOrder {
        /// When the move was asked for.
        at: DateTime<Utc>,
        /// The last change.
        last: DateTime<Utc>,
    },
}

fn allowed(from: RecordStatus) -> String {
    let next = from.next();
    if next.is_empty() {
        return "nothing (it is final)".to_string();
    }
    next.iter().map(|s| format!("`{}`", s.name())).collect::<Vec<_>>().join(" or ")
}

impl EscalationRecord {
    /// The record after moving it to `to` at `at`. Closing requires a
    /// non-empty lessons-learned `note`; other moves keep `note` in the
    /// history.
    ///
    /// ```
    /// use triage_core::{RecordStatus, EscalationRecord};
    /// # let json = r#"{"id":"k","case_id":"c","rule":"r","severity":1,"risk":{"score":50.0,"factors":[]},
    /// #   "owner":"escalation_manager","members":[],"milestones":[],"status":"open","opened_at":"2026-03-02T09:00:00Z"}"#;
    /// let rec: EscalationRecord = serde_json::from_str(json).unwrap();
    /// let at = "2026-03-02T10:00:00Z".parse().unwrap();
    /// let active = rec.transition(RecordStatus::Active, at, None).unwrap();
    /// assert!(active.transition(RecordStatus::Closed, at, None).is_err());
    /// ```
    pub fn transition(
        &self,
        to: RecordStatus,
        at: DateTime<Utc>,
        note: Option<&str>,
    ) -> Result<EscalationRecord, RecordError> {
        if !self.status.next().contains(&to) {
            return Err(RecordError::InvalidMove { from: self.status, to });
        }
        let last = self.history.last().map_or(self.opened_at, |h| h.at);
        if at < last {
            return Err(RecordError::OutOfOrder { at, last });
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let mut out = self.clone();
        if to == RecordStatus::Closed {
            let Some(lessons) = note else {
                return Err(RecordError::LessonsRequired { id: self.id.clone() });
            };
            out.lessons_learned = Some(lessons.to_string());
        }
        out.history.push(RecordTransition { from: self.status, to, at, note: note.map(str::to_string) });
        out.status = to;
        Ok(out)
    }
}

/// The records not yet closed, highest risk first (then most severe, then
/// oldest, then id: a stated order, never input order).
pub fn escalation_report(records: &[EscalationRecord]) -> Vec<&EscalationRecord> {
    let mut open: Vec<&EscalationRecord> = records.iter().filter(|r| r.status != RecordStatus::Closed).collect();
    open.sort_by(|a, b| {
        b.risk
            .score
            .total_cmp(&a.risk.score)
            .then(a.severity.cmp(&b.severity))
            .then(a.opened_at.cmp(&b.opened_at))
            .then(a.id.cmp(&b.id))
    });
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, score: f64, severity: u8) -> EscalationRecord {
        EscalationRecord {
            id: id.into(),
            case_id: "c".into(),
            rule: "r".into(),
            severity,
            risk: Risk { score, factors: Vec::new() },
            owner: "escalation_manager".into(),
            members: Vec::new(),
            milestones: Vec::new(),
            status: RecordStatus::Open,
            opened_at: "2026-03-02T09:00:00Z".parse().unwrap(),
            history: Vec::new(),
            lessons_learned: None,
        }
    }

    fn at(h: u32) -> DateTime<Utc> {
        format!("2026-03-02T{h:02}:00:00Z").parse().unwrap()
    }

    #[test]
    fn lifecycle_moves_and_refusals() {
        let r = record("a", 10.0, 2);
        let active = r.transition(RecordStatus::Active, at(10), Some("taking it")).unwrap();
        assert_eq!(active.status, RecordStatus::Active);
        let e = active.transition(RecordStatus::Closed, at(11), Some("x")).unwrap_err();
        assert!(e.to_string().contains("from `active` it may go to `resolved`"), "{e}");
        let resolved = active.transition(RecordStatus::Resolved, at(12), None).unwrap();
        assert_eq!(
            resolved.transition(RecordStatus::Closed, at(13), Some("  ")).unwrap_err(),
            RecordError::LessonsRequired { id: "a".into() }
        );
        assert!(matches!(
            resolved.transition(RecordStatus::Closed, at(11), Some("late")).unwrap_err(),
            RecordError::OutOfOrder { .. }
        ));
        let closed = resolved.transition(RecordStatus::Closed, at(13), Some("page on-call sooner")).unwrap();
        assert_eq!(closed.lessons_learned.as_deref(), Some("page on-call sooner"));
        assert_eq!(closed.history.len(), 3);
        assert!(closed.transition(RecordStatus::Active, at(14), None).unwrap_err().to_string().contains("final"));
        // The original is untouched: transitions are pure.
        assert_eq!(r.status, RecordStatus::Open);
    }

    #[test]
    fn report_orders_by_risk_then_severity_and_drops_closed() {
        let mut closed = record("z", 99.0, 1);
        closed.status = RecordStatus::Closed;
        let records = vec![record("b", 40.0, 2), record("a", 40.0, 1), record("c", 70.0, 3), closed];
        let ids: Vec<&str> = escalation_report(&records).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }
}
