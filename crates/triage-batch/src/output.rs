//! What a run writes: lean decisions (JSON Lines or flat CSV rows) and
//! rejects (JSON Lines).

use crate::input::Position;
use crate::mail::Message;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use triage_core::{Decision, Escalation, MetricState, Rfc3339};

/// How decisions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line ([`LeanDecision`], or the full decision).
    Jsonl,
    /// A header row, then one flat row per case ([`CSV_COLUMNS`]).
    Csv,
}

/// Where a record came from: its input and position in it, written as one
/// object: `{"input": "cases.jsonl", "line": 3}`.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The input as named on the command line.
    pub input: &'a str,
    /// Line, row, element, message or file: its fields follow `input`.
    pub position: &'a Position,
}

impl Serialize for Source<'_> {
    /// By hand rather than with `#[serde(flatten)]`, which goes through a
    /// map serializer of its own: every lean line writes a source, and the
    /// flattened one cost a tenth of writing the line.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("input", self.input)?;
        match self.position {
            Position::Line { line } => m.serialize_entry("line", line)?,
            Position::Row { row, line } => {
                m.serialize_entry("row", row)?;
                m.serialize_entry("line", line)?;
            }
            Position::Element { element, line } => {
                m.serialize_entry("element", element)?;
                m.serialize_entry("line", line)?;
            }
            Position::Message { message, offset } => {
                m.serialize_entry("message", message)?;
                m.serialize_entry("offset", offset)?;
            }
            Position::File { file } => m.serialize_entry("file", file)?,
            Position::Offset { offset } => m.serialize_entry("offset", offset)?,
        }
        m.end()
    }
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
    #[serde(serialize_with = "instant")]
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
    /// Warning codes: the decision's, then those of its history's replay
    /// (`future-events`, `status-disagrees-with-history`) it does not
    /// already give.
    pub warnings: Vec<&'a str>,
    /// Admin alerts raised (their reasons).
    pub alerts: Vec<&'a str>,
    /// The rule set's version.
    pub rules_version: &'a str,
    /// The earlier case this one repeats, the most similar (the rules'
    /// `duplicates:` section): its id, score, shared keys and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<&'a triage_core::Duplicate>,
    /// The suspected incident the case belongs to (`incidents:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<&'a triage_core::Incident>,
    /// What the rules' side tables decided for custom fields, by field.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: &'a std::collections::BTreeMap<String, serde_json::Value>,
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
    #[serde(serialize_with = "maybe_instant")]
    pub first_response_due: Option<DateTime<Utc>>,
    /// Next response due.
    #[serde(serialize_with = "maybe_instant")]
    pub next_response_due: Option<DateTime<Utc>>,
    /// Resolution due.
    #[serde(serialize_with = "maybe_instant")]
    pub resolution_due: Option<DateTime<Utc>>,
}

/// A replayed history, lean.
#[derive(Debug, Serialize)]
pub struct LeanHistory<'a> {
    /// The instant it was replayed at.
    #[serde(serialize_with = "instant")]
    pub at: DateTime<Utc>,
    /// Events replayed: those of the history up to `at` (later ones are
    /// left out, with the `future-events` warning).
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
    #[serde(serialize_with = "maybe_instant")]
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
    #[serde(serialize_with = "maybe_instant")]
    pub fired_at: Option<DateTime<Utc>>,
    /// Who or where.
    pub target: Option<&'a str>,
}

/// The codes of a decision's warnings, then of its replay's that are not
/// among them, each once, in order.
fn warning_codes<'a>(d: &'a Decision, replay: Option<&'a Escalation>) -> Vec<&'a str> {
    let mut codes: Vec<&str> = d.warnings.iter().map(|w| w.code).collect();
    for w in replay.map_or(&[][..], |e| &e.warnings[..]) {
        if !codes.contains(&w.code) {
            codes.push(w.code);
        }
    }
    codes
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
            warnings: warning_codes(d, replay.map(|(e, _)| e)),
            alerts: d.actions.iter().filter(|a| a.kind == "admin_alert").map(|a| a.reason.as_str()).collect(),
            rules_version: &d.rules_version,
            duplicate: d.duplicates.first(),
            incident: d.incident.as_ref(),
            outputs: &d.outputs,
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

    /// Appends the line's JSON object (no newline) to `out`: the bytes
    /// `serde_json::to_writer(out, self)` writes, but with the keys as
    /// literals and plain strings copied whole. serde_json escapes every
    /// key and value a byte at a time, which was most of what a lean line
    /// cost to write; the nested parts a case seldom has (duplicate,
    /// incident, outputs, history, thread) still go through it.
    ///
    /// # Errors
    /// Only what serde_json reports for those nested parts.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(b"{\"record\":");
        out.extend_from_slice(num.format(self.record).as_bytes());
        out.extend_from_slice(b",\"source\":{\"input\":");
        json_str(out, self.source.input);
        let mut field = |out: &mut Vec<u8>, key: &[u8], n: u64| {
            out.extend_from_slice(key);
            out.extend_from_slice(num.format(n).as_bytes());
        };
        match self.source.position {
            Position::Line { line } => field(out, b",\"line\":", *line),
            Position::Row { row, line } => {
                field(out, b",\"row\":", *row);
                field(out, b",\"line\":", *line);
            }
            Position::Element { element, line } => {
                field(out, b",\"element\":", *element);
                field(out, b",\"line\":", *line);
            }
            Position::Message { message, offset } => {
                field(out, b",\"message\":", *message);
                field(out, b",\"offset\":", *offset);
            }
            Position::File { file } => {
                out.extend_from_slice(b",\"file\":");
                json_str(out, file);
            }
            Position::Offset { offset } => field(out, b",\"offset\":", *offset),
        }
        out.extend_from_slice(b"},\"case_id\":");
        json_str(out, self.case_id);
        out.extend_from_slice(b",\"created_at\":");
        json_opt_str(out, self.created_at.as_deref());
        out.extend_from_slice(b",\"decided_at\":");
        json_instant(out, &self.decided_at)?;
        let texts = |out: &mut Vec<u8>, fields: &[(&[u8], Option<&str>)]| {
            for (key, value) in fields {
                out.extend_from_slice(key);
                json_opt_str(out, *value);
            }
        };
        let (category, priority) = (Some(self.category), Some(self.priority));
        texts(
            out,
            &[(b",\"territory\":", self.territory), (b",\"category\":", category), (b",\"priority\":", priority)],
        );
        out.extend_from_slice(b",\"tier\":");
        out.extend_from_slice(num.format(self.tier).as_bytes());
        out.extend_from_slice(b",\"deflect\":");
        json_strs(out, &self.deflect);
        texts(out, &[(b",\"team\":", self.team), (b",\"agent\":", self.agent), (b",\"queue\":", self.queue)]);
        out.extend_from_slice(b",\"units\":");
        match self.units {
            Some(u) => out.extend_from_slice(num.format(u).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"sla\":");
        match &self.sla {
            Some(sla) => {
                out.extend_from_slice(b"{\"policy\":");
                json_str(out, sla.policy);
                out.extend_from_slice(b",\"first_response_due\":");
                json_opt_instant(out, sla.first_response_due.as_ref())?;
                out.extend_from_slice(b",\"next_response_due\":");
                json_opt_instant(out, sla.next_response_due.as_ref())?;
                out.extend_from_slice(b",\"resolution_due\":");
                json_opt_instant(out, sla.resolution_due.as_ref())?;
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"manual_review\":");
        json_opt_str(out, self.manual_review);
        out.extend_from_slice(b",\"warnings\":");
        json_strs(out, &self.warnings);
        out.extend_from_slice(b",\"alerts\":");
        json_strs(out, &self.alerts);
        out.extend_from_slice(b",\"rules_version\":");
        json_str(out, self.rules_version);
        if let Some(d) = self.duplicate {
            out.extend_from_slice(b",\"duplicate\":");
            serde_json::to_writer(&mut *out, d)?;
        }
        if let Some(i) = self.incident {
            out.extend_from_slice(b",\"incident\":");
            serde_json::to_writer(&mut *out, i)?;
        }
        if !self.outputs.is_empty() {
            out.extend_from_slice(b",\"outputs\":");
            serde_json::to_writer(&mut *out, self.outputs)?;
        }
        if let Some(h) = &self.history {
            out.extend_from_slice(b",\"history\":");
            serde_json::to_writer(&mut *out, h)?;
        }
        if let Some(t) = self.thread {
            out.extend_from_slice(b",\"thread\":");
            serde_json::to_writer(&mut *out, t)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// The flat CSV row, in the order of [`CSV_COLUMNS`].
    pub fn csv_row(&self) -> Vec<String> {
        let t = |x: Option<DateTime<Utc>>| {
            x.map(|t| match Rfc3339::utc(&t) {
                Some(text) => text.as_str().to_string(),
                None => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .unwrap_or_default()
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
            self.duplicate.map(|d| d.case_id.clone()).unwrap_or_default(),
            self.incident.map(|i| i.cluster.clone()).unwrap_or_default(),
            if self.outputs.is_empty() {
                String::new()
            } else {
                serde_json::to_string(self.outputs).unwrap_or_default()
            },
        ]
        .into_iter()
        .map(spreadsheet_safe)
        .collect()
    }
}

/// A CSV cell a spreadsheet would not run as a formula: one that begins
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` before
/// it, as OWASP's advice on CSV injection has it. Every cell is checked:
/// ids come from the input, the directory (often another system's export)
/// and the rules alike. JSON Lines output is never changed.
fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

/// Appends `s` as a JSON string, byte for byte as serde_json writes it:
/// copied whole when nothing in it needs an escape (a control character,
/// `"` or `\\`; serde_json leaves DEL and non-ASCII as they are), else
/// written by serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // No early exit: the test runs over every byte, which vectorizes.
    let plain = s.bytes().fold(true, |plain, b| plain & (b >= 0x20 && b != b'"' && b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a vector cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// [`json_str`], or `null`.
fn json_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON array of strings.
fn json_strs(out: &mut Vec<u8>, list: &[&str]) {
    out.push(b'[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, s);
    }
    out.push(b']');
}

/// [`instant`] written into a JSON line.
fn json_instant(out: &mut Vec<u8>, t: &DateTime<Utc>) -> serde_json::Result<()> {
    match Rfc3339::utc(t) {
        // Digits and separators: nothing to escape.
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
            Ok(())
        }
        None => serde_json::to_writer(&mut *out, t),
    }
}

/// [`json_instant`], or `null`.
fn json_opt_instant(out: &mut Vec<u8>, t: Option<&DateTime<Utc>>) -> serde_json::Result<()> {
    match t {
        Some(t) => json_instant(out, t),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

/// An instant as RFC 3339 text (UTC, `Z`), as chrono writes it.
fn instant<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match Rfc3339::utc(t) {
        Some(text) => s.serialize_str(text.as_str()),
        None => t.serialize(s),
    }
}

/// [`instant`], or `null`.
#[allow(clippy::ref_option)] // serde's serialize_with hands a reference
fn maybe_instant<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => instant(t, s),
        None => s.serialize_none(),
    }
}

/// The CSV output's columns. `position` is `line=N`, `row=N line=N`,
/// `element=N line=N`, `message=N offset=N` or `file=NAME`; lists are `;`
/// separated; `status` to `next_check_at` are empty for a case without a
/// history; `duplicate_of` (the most similar earlier case) and `incident`
/// (the suspected incident's cluster) are empty unless the rules'
/// `duplicates:` or `incidents:` section found one; `outputs` is the JSON
/// object of what side tables decided (`{"risk":1.5}`), empty if nothing.
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
    "duplicate_of",
    "incident",
    "outputs",
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
            // Text cut at `MAX_RAW_BYTES` inside a character is still text:
            // the character's first bytes are dropped, not the text's form.
            Err(e) if e.error_len().is_none() && raw.len() == crate::input::MAX_RAW_BYTES => {
                (std::str::from_utf8(&raw[..e.valid_up_to()]).ok(), None)
            }
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(raw))),
        };
        Reject { record, source, reason, raw: text, raw_base64: b64, thread: None }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_source_is_written_as_its_flattened_fields() {
        #[derive(Serialize)]
        struct Flattened<'a> {
            input: &'a str,
            #[serde(flatten)]
            position: &'a Position,
        }
        let positions = [
            Position::Line { line: 3 },
            Position::Row { row: 2, line: 5 },
            Position::Element { element: 0, line: 1 },
            Position::Message { message: 7, offset: 1024 },
            Position::File { file: "in/\"a\".eml".to_string() },
            Position::Offset { offset: 99 },
        ];
        for position in &positions {
            let input = "cases \"1\".jsonl";
            let ours = serde_json::to_string(&Source { input, position }).unwrap();
            assert_eq!(ours, serde_json::to_string(&Flattened { input, position }).unwrap());
        }
    }

    /// Text with what JSON must escape (quotes, backslashes, control
    /// characters), what it need not (DEL, non-ASCII) and plain words.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9-]{0,12}",
            "[ -~]{0,12}",
            // Any control character, not only the few a regex class favours.
            prop::collection::vec(
                prop_oneof![any::<char>(), (0u8..0x20).prop_map(char::from), Just('"'), Just('\\'), Just('\x7f'),],
                0..12,
            )
            .prop_map(String::from_iter),
        ]
    }

    fn position() -> impl Strategy<Value = Position> {
        let n = || 0u64..u64::MAX;
        prop_oneof![
            n().prop_map(|line| Position::Line { line }),
            (n(), n()).prop_map(|(row, line)| Position::Row { row, line }),
            (n(), n()).prop_map(|(element, line)| Position::Element { element, line }),
            (n(), n()).prop_map(|(message, offset)| Position::Message { message, offset }),
            text().prop_map(|file| Position::File { file }),
            n().prop_map(|offset| Position::Offset { offset }),
        ]
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (-62_167_219_200i64..253_402_300_799, prop_oneof![Just(0u32), 0u32..1_000_000_000])
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
    }

    #[test]
    fn a_reject_cut_inside_a_character_is_still_text() {
        // 21,845 three-byte characters and the first byte of another.
        let text = "€".repeat(crate::input::MAX_RAW_BYTES);
        let pos = Position::Line { line: 1 };
        let mut cut = text.as_bytes()[..crate::input::MAX_RAW_BYTES].to_vec();
        let reject = Reject::new(0, Source { input: "a", position: &pos }, "r", &cut);
        assert_eq!(reject.raw.map(str::len), Some(crate::input::MAX_RAW_BYTES - 1));
        assert!(reject.raw_base64.is_none());
        // Bytes that are not UTF-8 within the record stay base64.
        cut[10] = 0xff;
        let reject = Reject::new(0, Source { input: "a", position: &pos }, "r", &cut);
        assert!(reject.raw.is_none() && reject.raw_base64.is_some());
    }

    proptest! {
        /// A lean line written by hand is the line serde_json writes for
        /// the same fields.
        #[test]
        fn a_lean_line_is_what_serde_json_writes(
            record in 0u64..u64::MAX,
            position in position(),
            strings in prop::collection::vec(text(), 12),
            present in prop::collection::vec(any::<bool>(), 10),
            lists in prop::collection::vec(prop::collection::vec(text(), 0..3), 3),
            tier in any::<u8>(),
            units in any::<i64>(),
            instants in prop::collection::vec(any_instant(), 4),
            with_outputs in any::<bool>(),
        ) {
            let mut outputs = BTreeMap::new();
            if with_outputs {
                outputs.insert(strings[11].clone(), serde_json::json!({"risk": 1.5, "why": strings[0]}));
            }
            let opt = |i: usize| present[i].then_some(strings[[0, 3, 6, 7, 8, 0, 0, 0, 0, 10][i]].as_str());
            let list = |i: usize| lists[i].iter().map(String::as_str).collect::<Vec<_>>();
            let lean = LeanDecision {
                record,
                source: Source { input: &strings[0], position: &position },
                case_id: &strings[1],
                created_at: present[0].then(|| strings[2].clone()),
                decided_at: instants[0],
                territory: opt(1),
                category: &strings[4],
                priority: &strings[5],
                tier,
                deflect: list(0),
                team: opt(2),
                agent: opt(3),
                queue: opt(4),
                units: present[5].then_some(units),
                sla: present[6].then(|| LeanSla {
                    policy: &strings[9],
                    first_response_due: present[7].then_some(instants[1]),
                    next_response_due: present[8].then_some(instants[2]),
                    resolution_due: present[9].then_some(instants[3]),
                }),
                manual_review: opt(9),
                warnings: list(1),
                alerts: list(2),
                rules_version: &strings[11],
                duplicate: None,
                incident: None,
                outputs: &outputs,
                history: None,
                thread: None,
            };
            let mut ours = Vec::new();
            lean.write_json(&mut ours).unwrap();
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&lean).unwrap());
            // Whatever the values, no CSV cell begins a spreadsheet formula,
            // and a cell is its value with at most a `'` before it.
            let row = lean.csv_row();
            prop_assert_eq!(row.len(), CSV_COLUMNS.len());
            for cell in &row {
                prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{:?}", cell);
            }
            let case_id = row[3].strip_prefix('\'').filter(|_| strings[1].starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert_eq!(case_id.unwrap_or(&row[3]), strings[1].as_str());
        }

        /// Instants in a lean line and through serde are chrono's text
        /// (the writer itself is tested in the core).
        #[test]
        fn instants_are_written_as_chrono_writes_them(
            secs in -62_167_219_200i64..253_402_300_799,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let mut fast = Vec::new();
            instant(&t, &mut serde_json::Serializer::new(&mut fast)).unwrap();
            prop_assert_eq!(String::from_utf8(fast).unwrap(), serde_json::to_string(&t).unwrap());
            let mut line = Vec::new();
            json_instant(&mut line, &t).unwrap();
            prop_assert_eq!(String::from_utf8(line).unwrap(), serde_json::to_string(&t).unwrap());
        }
    }
}
