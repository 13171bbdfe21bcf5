//! A decision rendered for people: what was decided, by which rule of which
//! file, and (with a full trace) why the other rules did not match.

use crate::decision::{Decision, Outcome};
use std::fmt::Write as _;

/// Text from a case as it may be shown on a terminal: control characters
/// (line breaks, escape sequences, NUL) and bidirectional overrides are
/// written as `\u{…}`, so a case id cannot forge a line or recolour a
/// terminal.
///
/// ```
/// assert_eq!(triage_core::explain::printable("a\nb\u{1b}[31m"), "a\\u{a}b\\u{1b}[31m");
/// ```
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Renders a decision and its trace as plain text.
///
/// ```
/// use triage_core::{compile_sources, explain, triage, Case, Directory, Options};
/// let yaml = "categories:\n  - id: other\n    set: { category: general }\n";
/// let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
/// let case = Case { id: "c1".into(), ..Default::default() };
/// let d = triage(&rules, &case, &Directory::new(), "2026-01-01T00:00:00Z".parse().unwrap(), &Options::full_trace());
/// assert!(explain::render(&d).contains("categorize"));
/// ```
pub fn render(d: &Decision) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "case `{}`: category `{}`, priority {}, tier {}",
        printable(&d.case_id),
        d.category,
        d.priority,
        d.tier
    );
    let n = &d.normalized;
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let _ = writeln!(
        out,
        "  territory: {} ({})",
        d.territory.as_deref().unwrap_or("none"),
        if d.territory_path.is_empty() { "-".to_string() } else { d.territory_path.join(" → ") }
    );
    let _ = writeln!(
        out,
        "  normalized: country {} · region {} · postal code {} · language {} · e-mail {}",
        shown(&n.country),
        shown(&n.region),
        shown(&n.postal_code),
        shown(&n.language),
        shown(&n.email)
    );
    let _ = writeln!(
        out,
        "  product: {} · sentiment: {} ({}) · confidence: {}",
        d.product.as_deref().unwrap_or("-"),
        d.sentiment.label,
        d.sentiment.score,
        d.confidence
    );
    for p in &d.predicted {
        let top: Vec<String> = p.top.iter().map(|g| format!("{} {:.2}", g.class, g.confidence)).collect();
        let _ = writeln!(
            out,
            "  predicted {} by `{}`: {} · words: {}",
            p.label,
            p.model,
            top.join(", "),
            if p.words.is_empty() { "-".to_string() } else { p.words.join(", ") }
        );
    }
    if !d.skills.is_empty() || !d.tags.is_empty() {
        let _ = writeln!(out, "  skills: [{}] · tags: [{}]", d.skills.join(", "), d.tags.join(", "));
    }
    if !d.outputs.is_empty() {
        let shown: Vec<String> = d.outputs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(out, "  outputs: {}", shown.join(" · "));
    }
    if let Some(sla) = &d.sla {
        let show = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or_else(|| "-".to_string(), |t| t.to_rfc3339());
        let _ = writeln!(
            out,
            "  sla: {} on {} · first response {} · resolution {}",
            sla.policy,
            sla.calendar.as_deref().unwrap_or("clock time"),
            show(sla.first_response_due),
            show(sla.resolution_due)
        );
    }
    if let Some(a) = &d.assignment {
        let who = match (&a.agent, &a.queue) {
            (Some(agent), _) => format!("agent `{agent}` ({} unit(s), {})", a.units, a.strategy),
            (None, Some(q)) => format!("queue `{q}`"),
            (None, None) => "nobody".to_string(),
        };
        let via = if a.overflowed_from.is_empty() {
            String::new()
        } else {
            format!(" after {}", a.overflowed_from.join(" → "))
        };
        let _ = writeln!(out, "  assigned: team `{}` · {who}{via}", a.team);
    }
    for a in &d.deflect {
        let _ = writeln!(
            out,
            "  deflect: {} — {}{}",
            a.id,
            a.title,
            a.url.as_deref().map(|u| format!(" <{u}>")).unwrap_or_default()
        );
    }
    if let Some(m) = &d.manual_review {
        let _ = writeln!(out, "  manual review: {} — {}", m.reason, m.detail);
    }
    for a in &d.actions {
        let _ = writeln!(out, "  action {} [{}]: {} — {}", a.kind, a.key, a.reason, a.detail);
    }
    for w in &d.warnings {
        let _ = writeln!(out, "  warning[{}]: {}", w.code, w.message);
    }
    let _ = writeln!(out, "why:");
    let width = d.trace.iter().filter_map(|t| t.rule.as_ref().map(|r| r.chars().count())).max().unwrap_or(0);
    for t in &d.trace {
        let mark = match t.outcome {
            Outcome::Matched => "matched    ",
            Outcome::Applied => "applied    ",
            Outcome::NotMatched => "not matched",
            Outcome::Lost => "lost       ",
            Outcome::Overridden => "overridden ",
            Outcome::Note => "note       ",
        };
        let place = match (&t.file, t.line) {
            (Some(f), Some(l)) => format!(" {f}:{l}"),
            _ => String::new(),
        };
        match (&t.rule, &t.why) {
            // A note has no rule: its reason fits on the line.
            (None, Some(why)) => {
                let _ = write!(out, "  {:<10} {mark} {why}", t.stage);
            }
            (rule, why) => {
                let rule = rule.as_deref().unwrap_or("-");
                let _ = write!(out, "  {:<10} {mark} {rule:<width$}{place}", t.stage);
                if let Some(why) = why {
                    let _ = write!(out, "\n      {why}");
                }
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "rules version {}", d.rules_version);
    out
}
