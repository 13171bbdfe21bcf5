//! Duplicates and suspected incidents: the `duplicates:` and `incidents:`
//! sections, and [`Recent`], the caller-owned memory of recent cases a
//! decision is compared with.
//!
//! A *duplicate* is an earlier case whose blocking keys agree with this
//! one's (the same requester, say) and whose text is similar enough, within
//! the section's window. A *suspected incident* is a cluster of similar
//! cases within a short window whose keys agree (the same product, say)
//! from at least `min_distinct` different senders (accounts or
//! requesters): the decision names the cluster by its first case, and an
//! `incident_suspected` action with the idempotency key
//! `incident_suspected:CLUSTER` tells the caller once per cluster.
//!
//! The caller decides a case, then calls [`Recent::observe`] in the order
//! cases arrive; `observe` compares the case with those seen before it,
//! applies what the sections say to the decision, and remembers the case.
//! The expensive part, [`Recent::signature`], depends on the case alone and
//! may run in parallel beforehand.

use crate::case::Case;
use crate::decision::{Action, Decision, ManualReview, Outcome, TraceEntry};
use crate::name::Name;
use crate::rules::CompiledRules;
use crate::similarity::{Fingerprint, Similar, SimilarityIndex};
use crate::{Directory, Options};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A value cases are blocked on: it must be equal (and present) for two
/// cases to be compared. Values are compared without case
/// (`Dana@ACME.example` is `dana@acme.example`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    RequesterEmail,
    Account,
    Product,
    Channel,
    Category,
    Territory,
    Team,
}

/// The names keys are written with in rules.
pub(crate) const KEYS: &[(&str, Key)] = &[
    ("requester.email", Key::RequesterEmail),
    ("account", Key::Account),
    ("product", Key::Product),
    ("channel", Key::Channel),
    ("category", Key::Category),
    ("territory", Key::Territory),
    ("team", Key::Team),
];

impl Key {
    /// The key's value for a decided case; `None` when it has none.
    fn value<'a>(self, case: &'a Case, d: &'a Decision) -> Option<&'a str> {
        let v = match self {
            Key::RequesterEmail => {
                d.normalized.email.as_deref().or_else(|| case.requester.as_ref().and_then(|r| r.email.as_deref()))
            }
            Key::Account => case.account.as_deref(),
            Key::Product => d.product.as_deref(),
            Key::Channel => case.channel.as_deref(),
            Key::Category => Some(d.category.as_str()),
            Key::Territory => d.territory.as_deref(),
            Key::Team => d.team.as_deref(),
        };
        v.map(str::trim).filter(|v| !v.is_empty())
    }
}

/// What a match does to the decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Effects {
    /// Send the case to manual review (unless it already is).
    pub manual_review: bool,
    /// Add this tag.
    pub tag: Option<String>,
    /// Set this priority (a rank on the scale).
    pub priority: Option<usize>,
}

/// The `duplicates:` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DuplicateRules {
    pub window_secs: i64,
    pub keys: Vec<Key>,
    pub threshold: f64,
    pub then: Effects,
    pub file: Name,
    pub line: u32,
}

/// The `incidents:` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncidentRules {
    pub window_secs: i64,
    pub keys: Vec<Key>,
    pub distinct: Key,
    pub min_cases: usize,
    pub min_distinct: usize,
    pub threshold: f64,
    pub then: Effects,
    pub file: Name,
    pub line: u32,
}

/// An earlier case this one repeats.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// The earlier case's id.
    pub case_id: String,
    /// Estimated Jaccard similarity of the two texts, 0 to 1.
    pub score: f64,
    /// The blocking keys both share, as `key=value`.
    pub shared: Vec<String>,
    /// Why, in words.
    pub reason: String,
}

/// A suspected incident the case belongs to.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    /// The cluster's id: its first case's id.
    pub cluster: String,
    /// Cases in the cluster within the window, this one included.
    pub size: usize,
    /// Different senders (accounts or requesters) among them.
    pub distinct: usize,
    /// The cluster's first case.
    pub first_case: String,
}

/// The memory of recent cases that duplicates and incidents are found in:
/// one [`SimilarityIndex`] per section. Owned by the caller (a batch run
/// keeps one for the run, a service one per replica), no I/O, no clock.
#[derive(Debug, Clone)]
pub struct Recent {
    duplicates: Option<SimilarityIndex>,
    incidents: Option<SimilarityIndex>,
    /// Incident clusters.
    clusters: Clusters,
    /// Subject and body of each case remembered, when kept
    /// ([`Recent::keeping_texts`]) for a full trace's shared words.
    texts: Option<BTreeMap<String, SubjectAndBody>>,
    /// The eviction clocks of the duplicates and incidents sections (Unix
    /// seconds; see [`advance`]).
    latest: [i64; 2],
}

/// Incident clusters: a case joins the cluster of the cases it is like
/// (merging theirs), so a cluster grows by similarity to any member.
#[derive(Debug, Clone, Default)]
struct Clusters {
    /// Cluster id (its first case) → its members.
    members: BTreeMap<String, Cluster>,
    /// Case id → its cluster and its time.
    cluster_of: BTreeMap<String, (String, i64)>,
    /// (time, case id) of every member, for eviction.
    by_time: BTreeSet<(i64, String)>,
}

/// One incident cluster: its members by (time, id), each with its sender.
#[derive(Debug, Clone, Default)]
struct Cluster {
    members: BTreeMap<(i64, String), Option<String>>,
}

impl Cluster {
    /// The earliest member: (time, id).
    fn first(&self) -> Option<&(i64, String)> {
        self.members.keys().next()
    }
}

/// A case's subject and body, as kept for a full trace.
type SubjectAndBody = (Option<String>, Option<String>);

impl Recent {
    /// An empty memory for a rule set's sections (none when it has neither).
    pub fn new(rules: &CompiledRules) -> Recent {
        Recent {
            duplicates: rules.duplicates.as_ref().map(|d| SimilarityIndex::new(d.threshold).with_identifiers()),
            incidents: rules.incidents.as_ref().map(|i| SimilarityIndex::new(i.threshold)),
            clusters: Clusters::default(),
            texts: None,
            latest: [i64::MIN; 2],
        }
    }

    /// The same memory, keeping each case's subject and body so that a
    /// full trace ([`crate::TraceLevel::Full`]) names the words a
    /// duplicate shares with the case it repeats. For small indexes (`triage
    /// eval --index`): it holds every text of the window.
    pub fn keeping_texts(mut self) -> Recent {
        self.texts = Some(BTreeMap::new());
        self
    }

    /// The longest window of a rule set's `duplicates:` and `incidents:`
    /// sections, in seconds (0 without either): how far back a memory
    /// rebuilt from stored cases must reach.
    pub fn window_secs(rules: &CompiledRules) -> i64 {
        rules
            .duplicates
            .iter()
            .map(|d| d.window_secs)
            .chain(rules.incidents.iter().map(|i| i.window_secs))
            .max()
            .unwrap_or(0)
    }

    /// Whether the rules ask for either kind of match.
    pub fn enabled(&self) -> bool {
        self.duplicates.is_some() || self.incidents.is_some()
    }

    /// Cases remembered (the larger of the two indexes).
    pub fn len(&self) -> usize {
        self.duplicates.as_ref().map_or(0, SimilarityIndex::len).max(self.incidents.as_ref().map_or(0, |i| i.len()))
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text signature a case is compared by (subject and body, quotes
    /// and signature left out); `None` when it has no words.
    pub fn signature(case: &Case) -> Option<Fingerprint> {
        Fingerprint::of(case.subject.as_deref(), case.body.as_deref())
    }

    /// Compares a decided case with the cases observed before it, applies
    /// what the rules say to `decision` (its `duplicates`, `incident`,
    /// manual review, tag, priority, the `incident_suspected` action and a
    /// trace line), and remembers the case. `signature` is
    /// [`Recent::signature`] of the case; the case's time is its
    /// `created_at`, else `now`. Cases older than a section's window
    /// behind the latest one seen are forgotten by that section.
    ///
    /// When something was found and the rules read `duplicate.score`,
    /// `duplicate_of` or `incident.size`, the case is decided again (on
    /// `directory`, with `options`) with those values, and that decision
    /// replaces `decision`; the keys it was compared by stay those of the
    /// first.
    ///
    /// Returns what was found ([`Related`]): keep it with the case's
    /// history so that escalation rules read the same values.
    #[expect(clippy::too_many_arguments, reason = "a decision's inputs, and what to compare")]
    pub fn observe(
        &mut self,
        rules: &CompiledRules,
        directory: &Directory,
        options: &Options,
        case: &Case,
        signature: Option<&Fingerprint>,
        decision: &mut Decision,
        now: DateTime<Utc>,
    ) -> Related {
        let at = case.created_at.map_or(now.timestamp(), |t| t.timestamp());
        // Each section forgets the cases its window no longer reaches, by a
        // clock that follows the cases but moves at most a quarter of the
        // window per case and forgets a quarter window late: one case dated
        // years ahead cannot empty the memory the cases around it need.
        if let (Some(spec), Some(index)) = (&rules.duplicates, &mut self.duplicates)
            && let Some(before) = advance(&mut self.latest[0], at, spec.window_secs)
        {
            index.evict_before(before);
        }
        if let (Some(spec), Some(index)) = (&rules.incidents, &mut self.incidents)
            && let Some(before) = advance(&mut self.latest[1], at, spec.window_secs)
        {
            index.evict_before(before);
            self.clusters.forget_before(before);
        }
        let Some(signature) = signature else { return Related::default() };
        let id = case.id.trim();
        let keys_of = |keys: &[Key], d: &Decision| -> Option<Vec<String>> {
            keys.iter().map(|k| k.value(case, d).map(crate::text::normalize)).collect()
        };
        // Duplicates: the earlier cases like this one.
        let dup = match (&rules.duplicates, &self.duplicates) {
            (Some(spec), Some(index)) => keys_of(&spec.keys, decision).map(|values| {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                let found: Vec<Similar> = index
                    .query_best(at, spec.window_secs, &refs, signature, MATCHES)
                    .into_iter()
                    // A duplicate repeats a case opened before it.
                    .filter(|m| m.case_id != id && m.at <= at)
                    .collect();
                (values, found)
            }),
            _ => None,
        };
        // Incidents: the cluster this case joins.
        let inc = match (&rules.incidents, &self.incidents) {
            (Some(spec), Some(index)) => keys_of(&spec.keys, decision).map(|values| {
                let own = spec.distinct.value(case, decision).map(crate::text::normalize);
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                let found: Vec<Similar> = index
                    .query_best(at, spec.window_secs, &refs, signature, MATCHES)
                    .into_iter()
                    .filter(|m| m.case_id != id)
                    .collect();
                // The cluster's size and senders count its members within the
                // window of this case.
                let cluster = self.clusters.join(id, at, own.as_deref(), &found);
                let w = spec.window_secs;
                let (size, distinct, first_case) = self.clusters.members.get(&cluster).map_or((1, 0, id), |c| {
                    let near: Vec<(&(i64, String), &Option<String>)> = c
                        .members
                        .range((at.saturating_sub(w), String::new())..=(at.saturating_add(w), "\u{10FFFF}".to_string()))
                        .collect();
                    let mut senders: Vec<&str> = near.iter().filter_map(|(_, s)| s.as_deref()).collect();
                    senders.sort_unstable();
                    senders.dedup();
                    (near.len(), senders.len(), near.first().map_or(id, |((_, f), _)| f.as_str()))
                });
                let incident = (size >= spec.min_cases && distinct >= spec.min_distinct).then(|| Incident {
                    cluster: cluster.clone(),
                    size,
                    distinct,
                    first_case: first_case.to_string(),
                });
                (values, size, incident)
            }),
            _ => None,
        };
        // What the rules may read, the priority a section's `then` gives
        // (an incident's over a duplicate's), and a second decision that
        // reads them: the tier, SLA and assignment follow that priority.
        let then_priority = |then: &Effects| then.priority.and_then(|r| rules.priorities.get(r)).map(|p| p.to_string());
        let (priority, priority_by) = match (&rules.incidents, &inc, &rules.duplicates, &dup) {
            (Some(spec), Some((_, _, Some(_))), _, _) if spec.then.priority.is_some() => {
                (then_priority(&spec.then), Some("incidents"))
            }
            (_, _, Some(spec), Some((_, found))) if !found.is_empty() && spec.then.priority.is_some() => {
                (then_priority(&spec.then), Some("duplicates"))
            }
            _ => (None, None),
        };
        let seen = Related {
            duplicate_score: dup.as_ref().and_then(|(_, f)| f.first()).map(|m| m.score),
            duplicate_of: dup.as_ref().and_then(|(_, f)| f.first()).map(|m| m.case_id.clone()),
            incident_size: inc.as_ref().map(|(_, size, _)| *size).filter(|&n| n >= 2),
            priority,
            priority_by,
        };
        if !seen.is_empty() && (seen.read_by(rules) || seen.priority.is_some()) {
            *decision = crate::eval::triage_seen(rules, case, directory, now, options, Some(&seen));
        }
        if let (Some(spec), Some((values, found))) = (&rules.duplicates, &dup)
            && !found.is_empty()
        {
            let shared: Vec<String> =
                spec.keys.iter().zip(values).map(|(k, v)| format!("{}={v}", key_name(*k))).collect();
            decision.duplicates = found
                .iter()
                .map(|m| Duplicate {
                    case_id: m.case_id.clone(),
                    score: m.score,
                    shared: shared.clone(),
                    reason: format!(
                        "text {:.0} % alike (threshold {:.0} %), {}{} apart",
                        m.score * 100.0,
                        spec.threshold * 100.0,
                        if shared.is_empty() { String::new() } else { format!("same {}, ", shared.join(", ")) },
                        span(m.at.abs_diff(at))
                    ),
                })
                .collect();
            let best = &decision.duplicates[0];
            let mut why = format!("duplicate of {}: {}", best.case_id, best.reason);
            if options.trace == crate::TraceLevel::Full
                && let Some((subject, body)) = self.texts.as_ref().and_then(|t| t.get(&best.case_id))
            {
                let words = crate::similarity::shared_words(
                    (case.subject.as_deref(), case.body.as_deref()),
                    (subject.as_deref(), body.as_deref()),
                );
                why.push_str(&format!("; words in common: {}", words.join(", ")));
            }
            apply(&spec.then, decision, "possible-duplicate", &why);
            if options.trace != crate::TraceLevel::Off {
                decision.trace.push(section_matched("duplicates", &spec.file, spec.line, why));
            }
        }
        if let (Some(spec), Some((_, _, Some(incident)))) = (&rules.incidents, &inc) {
            let why = format!(
                "{} similar cases from {} different {} within {}{}",
                incident.size,
                incident.distinct,
                if spec.distinct == Key::Account { "accounts" } else { "senders" },
                span(spec.window_secs.unsigned_abs()),
                if spec.keys.is_empty() {
                    String::new()
                } else {
                    format!(" about the same {}", spec.keys.iter().map(|k| key_name(*k)).collect::<Vec<_>>().join(", "))
                }
            );
            let mut action = Action::new(
                "incident_suspected",
                format!("incident_suspected:{}", incident.cluster),
                "incident-suspected".to_string(),
                why.clone(),
            );
            action.target = Some(incident.cluster.clone());
            decision.actions.push(action);
            decision.incident = Some(incident.clone());
            apply(&spec.then, decision, "incident-suspected", &why);
            if options.trace != crate::TraceLevel::Off {
                decision.trace.push(section_matched("incidents", &spec.file, spec.line, why));
            }
        }
        if let Some(texts) = &mut self.texts {
            texts.insert(id.to_string(), (case.subject.clone(), case.body.clone()));
        }
        // Remembered under the keys it was compared by.
        if let (Some(index), Some((values, _))) = (&mut self.duplicates, &dup) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            index.insert(id, at, &refs, *signature);
        }
        if let (Some(index), Some((values, _, _))) = (&mut self.incidents, &inc) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            index.insert(id, at, &refs, *signature);
        }
        seen
    }
}

impl Clusters {
    /// Puts a case in the cluster of the cases it is like: the one with the
    /// earliest first case among theirs, into which the others merge; a
    /// case like none starts its own. Returns the cluster's id.
    fn join(&mut self, id: &str, at: i64, sender: Option<&str>, like: &[crate::similarity::Similar]) -> String {
        // A case observed again leaves its old place first.
        if let Some((old, old_at)) = self.cluster_of.remove(id) {
            self.by_time.remove(&(old_at, id.to_string()));
            if let Some(c) = self.members.get_mut(&old) {
                c.members.remove(&(old_at, id.to_string()));
                if c.members.is_empty() {
                    self.members.remove(&old);
                }
            }
        }
        let mut theirs: Vec<&str> =
            like.iter().filter_map(|m| self.cluster_of.get(&m.case_id).map(|(c, _)| c.as_str())).collect();
        theirs.sort_unstable();
        theirs.dedup();
        let target = theirs
            .iter()
            .min_by_key(|c| self.members.get(**c).and_then(Cluster::first))
            .map_or_else(|| id.to_string(), |c| (*c).to_string());
        let others: Vec<String> = theirs.iter().filter(|c| **c != target).map(|c| (*c).to_string()).collect();
        for other in others {
            if let Some(moved) = self.members.remove(&other) {
                let into = self.members.entry(target.clone()).or_default();
                for ((m_at, m_id), m_sender) in moved.members {
                    self.cluster_of.insert(m_id.clone(), (target.clone(), m_at));
                    into.members.insert((m_at, m_id), m_sender);
                }
            }
        }
        self.members
            .entry(target.clone())
            .or_default()
            .members
            .insert((at, id.to_string()), sender.map(str::to_string));
        self.cluster_of.insert(id.to_string(), (target.clone(), at));
        self.by_time.insert((at, id.to_string()));
        target
    }

    /// Forgets members opened before `before` (Unix seconds).
    fn forget_before(&mut self, before: i64) {
        while let Some((at, id)) = self.by_time.first().cloned() {
            if at >= before {
                break;
            }
            self.by_time.remove(&(at, id.clone()));
            if let Some((cluster, _)) = self.cluster_of.remove(&id)
                && let Some(c) = self.members.get_mut(&cluster)
            {
                c.members.remove(&(at, id.clone()));
                if c.members.is_empty() {
                    self.members.remove(&cluster);
                }
            }
        }
    }
}

/// What [`Recent::observe`] found for a case when it was decided, for the
/// rules to read: `duplicate.score`, `duplicate_of` (the most similar
/// earlier case) and `incident.size` (the case's cluster within the
/// window, when it has others). A [`crate::CaseState`] carries it as
/// `related`, so that escalation rules read what intake found.
///
/// JSON: `{"duplicate_of": "C-1001", "duplicate_score": 0.82,
/// "incident_size": 7}`, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Related {
    /// The most similar earlier case in the `duplicates:` window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Its estimated similarity, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_score: Option<f64>,
    /// Cases in the case's `incidents:` cluster within the window, itself
    /// included (2 or more; absent when it is alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_size: Option<usize>,
    /// The priority a matching section's `then: { priority }` gave the
    /// case (a name on the rule set's scale): the decision keeps it, and
    /// escalation replays keep it until the history changes the priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Which section gave `priority` (`duplicates` or `incidents`), for the
    /// trace; not kept in JSON.
    #[serde(skip)]
    pub(crate) priority_by: Option<&'static str>,
}

impl Related {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.duplicate_score.is_none()
            && self.duplicate_of.is_none()
            && self.incident_size.is_none()
            && self.priority.is_none()
    }

    /// Whether any rule reads one of the values.
    fn read_by(&self, rules: &CompiledRules) -> bool {
        let d = &rules.derived;
        rules.value_slots.iter().any(|s| [d.duplicate_score, d.duplicate_of, d.incident_size].contains(s))
    }

    /// Puts the values in their slots.
    pub(crate) fn fill(&self, slots: &crate::rules::DerivedSlots, facts: &mut [crate::cond::Fact<'_>]) {
        use crate::cond::Fact;
        if let Some(score) = self.duplicate_score {
            Fact::set(facts, slots.duplicate_score, Fact::Num(score));
        }
        if let Some(id) = &self.duplicate_of {
            let fact = Fact::Str {
                raw: std::borrow::Cow::Owned(id.clone()),
                lower: std::borrow::Cow::Owned(id.to_lowercase()),
            };
            Fact::set(facts, slots.duplicate_of, fact);
        }
        if let Some(size) = self.incident_size {
            Fact::set(facts, slots.incident_size, Fact::Num(size as f64));
        }
    }
}

/// The most similar earlier cases a case is compared with (and an
/// incident cluster joined through): enough to name the duplicates and
/// link the clusters, few enough that a busy window costs little.
const MATCHES: usize = 32;

/// Moves an eviction clock towards a case's time `at`, by at most a
/// quarter of `window`; returns the instant before which cases are
/// forgotten when it moved.
fn advance(clock: &mut i64, at: i64, window: i64) -> Option<i64> {
    if at <= *clock {
        return None;
    }
    let step = (window / 4).max(1);
    *clock = if *clock == i64::MIN { at } else { at.min(clock.saturating_add(step)) };
    Some(clock.saturating_sub(step).saturating_sub(window))
}

/// The name a key is written with.
fn key_name(k: Key) -> &'static str {
    KEYS.iter().find(|(_, v)| *v == k).map_or("?", |(n, _)| n)
}

/// A span of seconds in words (`3 h 5 min`, `40 s`).
fn span(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Applies a section's effects.
fn apply(then: &Effects, d: &mut Decision, reason: &str, why: &str) {
    if then.manual_review && d.manual_review.is_none() {
        d.manual_review = Some(ManualReview { reason: reason.to_string(), detail: why.to_string() });
    }
    if let Some(tag) = &then.tag
        && !d.tags.iter().any(|t| t == tag)
    {
        d.tags.push(tag.clone());
    }
    // `then.priority` was applied by deciding again (see `observe`).
}

/// The trace entry of a `duplicates:` or `incidents:` section that found
/// something: its file and line, and why.
fn section_matched(stage: &'static str, file: &crate::Name, line: u32, why: String) -> TraceEntry {
    TraceEntry {
        stage,
        rule: None,
        file: Some(file.clone()),
        line: Some(line),
        outcome: Outcome::Matched,
        why: Some(why),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::{Case, Directory, Options, Recent, compile_sources, triage};

    const RULES: &str = r#"
categories:
  - id: all
    set: { category: general, priority: P3 }
duplicates:
  window: 72h
  keys: [requester.email]
  threshold: 0.5
  then: { manual_review: true, tag: duplicate, priority: P4 }
incidents:
  window: 15m
  keys: [product]
  distinct: account
  min_cases: 4
  min_distinct: 3
  threshold: 0.3
  then: { priority: P1 }
"#;

    /// Each case decided at its creation and observed, in order.
    fn observe_all(rules: &crate::CompiledRules, cases: &[Case]) -> Vec<crate::Decision> {
        let dir = Directory::new();
        let mut recent = Recent::new(rules);
        cases
            .iter()
            .map(|c| {
                let now = c.created_at.unwrap().with_timezone(&chrono::Utc);
                let mut d = triage(rules, c, &dir, now, &Options::default());
                recent.observe(rules, &dir, &Options::default(), c, Recent::signature(c).as_ref(), &mut d, now);
                d
            })
            .collect()
    }

    fn case(id: &str, email: &str, account: &str, minute: u32, subject: &str, body: &str) -> Case {
        serde_json::from_value(serde_json::json!({
            "id": id, "subject": subject, "body": body, "account": account, "product": "api",
            "created_at": format!("2026-03-02T09:{minute:02}:00Z"),
            "requester": { "email": email }
        }))
        .unwrap()
    }

    #[test]
    fn a_repeat_from_the_same_requester_is_a_duplicate_and_a_burst_is_an_incident() {
        let (rules, diags) = compile_sources(&[("r.yaml", RULES)]);
        assert!(diags.is_empty(), "{diags:?}");
        let rules = rules.unwrap();
        let cases = [
            case("1", "ann@a.example", "a", 0, "Invoice 4411 charged twice", "We were charged twice for invoice 4411."),
            case(
                "2",
                "ann@a.example",
                "a",
                5,
                "Re: invoice 4411 charged twice",
                "We were charged twice for invoice 4411.\n-- \nAnn",
            ),
            case("3", "bob@b.example", "b", 6, "API returns 503", "Every API call returns 503 since 9:00."),
            case("4", "cy@c.example", "c", 7, "API 503 errors", "All API calls return 503 errors since 9:00."),
            case("5", "di@d.example", "d", 8, "503 from the API", "Every call to the API returns 503."),
            case("6", "ed@b.example", "b", 9, "API down: 503", "The API returns 503 on every call since 9:00."),
            // Half an hour later, past the 15-minute window: alone again.
            case("7", "fay@e.example", "e", 40, "API down: 503", "The API returns 503 on every call since 9:00."),
        ];
        let decisions = observe_all(&rules, &cases);
        assert!(decisions[0].duplicates.is_empty());
        let dup = &decisions[1];
        assert_eq!(dup.duplicates.len(), 1, "{:?}", dup.trace);
        assert_eq!(dup.duplicates[0].case_id, "1");
        assert_eq!(dup.duplicates[0].shared, vec!["requester.email=ann@a.example"]);
        assert_eq!(dup.manual_review.as_ref().unwrap().reason, "possible-duplicate");
        assert!(dup.tags.contains(&"duplicate".to_string()));
        assert_eq!(dup.priority.as_str(), "P4");
        // The priority was given before the SLA was chosen, and says so.
        let said = "priority set to `P4` by the `duplicates:` section's `then`";
        assert!(dup.trace.iter().any(|t| t.why.as_deref() == Some(said)), "{:?}", dup.trace);
        assert!(dup.trace.iter().any(|t| t.stage == "duplicates"));
        // The outage: the fourth report (3 accounts) opens the incident.
        assert!(decisions[4].incident.is_none() || decisions[4].incident.as_ref().unwrap().size >= 4);
        let last = &decisions[5];
        let incident = last.incident.as_ref().expect("an incident");
        assert_eq!(incident.cluster, "3");
        assert!(incident.size >= 4 && incident.distinct >= 3, "{incident:?}");
        assert_eq!(last.priority.as_str(), "P1");
        let action = last.actions.iter().find(|a| a.kind == "incident_suspected").unwrap();
        assert_eq!(action.key, "incident_suspected:3");
        assert!(decisions[6].incident.is_none(), "{:?}", decisions[6].incident);
        // Different requesters' cases are not each other's duplicates.
        assert!(decisions[2..].iter().all(|d| d.duplicates.is_empty()));
    }

    #[test]
    fn later_stages_read_what_was_found() {
        let rules = format!(
            "{RULES}\npriority:\n  - id: repeat\n    when: {{ duplicate.score: {{ gte: 0.4 }}, duplicate_of: {{ exists: true }} }}\n    lower: 1\n  - id: big\n    when: {{ incident.size: {{ gte: 3 }} }}\n    set: P1\n"
        )
        .replace("then: { manual_review: true, tag: duplicate, priority: P4 }", "then: { tag: duplicate }")
        .replace("then: { priority: P1 }", "then: {}");
        let (rules, diags) = compile_sources(&[("r.yaml", &rules)]);
        assert!(diags.is_empty(), "{diags:?}");
        let rules = rules.unwrap();
        let cases = [
            case("1", "ann@a.example", "a", 0, "Invoice 4411 charged twice", "We were charged twice for invoice 4411."),
            case(
                "2",
                "ann@a.example",
                "a",
                5,
                "Re: invoice 4411 charged twice",
                "We were charged twice for invoice 4411.",
            ),
            case("3", "bob@b.example", "b", 6, "API returns 503", "Every API call returns 503 since 9:00."),
            case("4", "cy@c.example", "c", 7, "API 503 errors", "All API calls return 503 errors since 9:00."),
            case("5", "di@d.example", "d", 8, "503 from the API", "Every call to the API returns 503 since 9:00."),
        ];
        let decisions = observe_all(&rules, &cases);
        assert_eq!(decisions[0].priority.as_str(), "P3");
        // The repeat is lowered by a priority rule reading duplicate.score.
        assert_eq!(decisions[1].priority.as_str(), "P4", "{:?}", decisions[1].trace);
        assert!(decisions[1].trace.iter().any(|t| t.rule.as_deref() == Some("repeat")));
        // The third report of the outage is in a cluster of 3: set to P1.
        assert_eq!(decisions[4].priority.as_str(), "P1", "{:?}", decisions[4].trace);
        assert_eq!(decisions[2].priority.as_str(), "P3");
    }

    #[test]
    fn escalation_reads_what_intake_found() {
        let yaml = "categories: [{ id: all, set: { category: general, priority: P3 } }]\n\
                    incidents: { window: 15m }\nduplicates: { window: 72h }\n\
                    sla: [{ id: standard, targets: { first_response: 8h } }]\n\
                    escalation:\n  \
                    - id: outage\n    when: { incident.size: { gte: 5 }, age_minutes: { gte: 30 } }\n    \
                    do: [{ notify: on_call }]\n  \
                    - id: repeat\n    when: { duplicate_of: { exists: true } }\n    do: [{ notify: team_lead }]\n";
        let (rules, diags) = compile_sources(&[("r.yaml", yaml)]);
        assert!(diags.is_empty(), "{diags:?}");
        let rules = rules.unwrap();
        let state = |related: &str| {
            crate::CaseState::from_json(&format!(
                r#"{{"case": {{"id": "c9", "created_at": "2026-03-02T09:00:00Z"}}, "related": {related}}}"#
            ))
            .unwrap()
        };
        let now = "2026-03-02T10:00:00Z".parse().unwrap();
        let fired = |related: &str| {
            let out = crate::escalate(&rules, &state(related), &Directory::new(), now, &Options::default()).unwrap();
            out.actions.iter().map(|a| a.target.clone().unwrap_or_default()).collect::<Vec<_>>()
        };
        assert_eq!(fired(r#"{"incident_size": 7}"#), vec!["on_call"]);
        assert_eq!(fired(r#"{"incident_size": 4, "duplicate_of": "c1", "duplicate_score": 0.9}"#), vec!["team_lead"]);
        assert!(fired("{}").is_empty());
        // A misspelt field is refused, not ignored.
        let bad = r#"{"case": {"id": "c9"}, "related": {"incident": 7}}"#;
        assert!(crate::CaseState::from_json(bad).unwrap_err().to_string().contains("incident"));
    }

    #[test]
    fn an_incident_that_could_never_form_is_an_error_at_the_line_that_makes_it_so() {
        let base = "categories: [{ id: all, set: { category: general } }]\n";
        let diag = |section: &str| {
            let yaml = format!("{base}{section}");
            let (_, diags) = compile_sources(&[("r.yaml", &yaml)]);
            diags.into_iter().map(|d| (d.code, d.line, d.severity)).collect::<Vec<_>>()
        };
        use crate::diag::Severity::{Error, Warning};
        assert_eq!(
            diag("incidents:\n  window: 15m\n  keys: [account]\n  distinct: account\n"),
            [("never-forms", 5, Error)]
        );
        // One distinct sender is enough: then the key may be the same.
        assert!(
            diag("incidents:\n  window: 15m\n  keys: [account]\n  distinct: account\n  min_distinct: 1\n").is_empty()
        );
        assert_eq!(diag("incidents:\n  window: 15m\n  min_cases: 1\n"), [("wrong-type", 4, Error)]);
        assert_eq!(diag("duplicates:\n  window: 1h\n  keys: [account, Account]\n"), [("duplicate-key", 4, Warning)]);
    }

    #[test]
    fn a_value_no_section_finds_is_a_warning() {
        let yaml = "categories: [{ id: all, set: { category: general } }]\n\
                    priority:\n  - id: repeat\n    when: { duplicate_of: { exists: true } }\n    lower: 1\n";
        let (rules, diags) = compile_sources(&[("r.yaml", yaml)]);
        assert!(rules.is_some(), "{diags:?}");
        assert_eq!(diags.len(), 1, "{diags:?}");
        let d = &diags[0];
        assert_eq!((d.code, d.line, d.rule.as_deref()), ("never-found", 4, Some("repeat")), "{d:?}");
        assert!(d.message.contains("`duplicates:`"), "{d:?}");
        let with = format!("{yaml}duplicates: {{ window: 1h }}\n");
        assert!(compile_sources(&[("r.yaml", &with)]).1.is_empty());
        // A scaled risk factor reads it too.
        let risk = "categories: [{ id: all, set: { category: general } }]\n\
                    risk: [{ factor: swarm, field: incident.size, cap: 10, weight: 5 }]\n";
        let diags = compile_sources(&[("r.yaml", risk)]).1;
        assert_eq!(diags.iter().map(|d| (d.code, d.line)).collect::<Vec<_>>(), [("never-found", 2)], "{diags:?}");
        assert!(diags[0].help.as_deref().unwrap_or("").starts_with("add an `incidents:` section"), "{diags:?}");
    }

    #[test]
    fn outliers_years_time_order_and_other_mailers_forwards() {
        let (rules, _) = compile_sources(&[("r.yaml", RULES)]);
        let rules = rules.unwrap();
        let text = "We were charged twice for invoice 4411 on 2026-03-01, please refund one.";
        let mut future = case("x", "zed@z.example", "z", 1, "Something else", "Unrelated request about a login.");
        future.created_at = Some("2036-03-02T09:01:00Z".parse().unwrap());
        let mut earlier = case("e", "ann@a.example", "a", 0, "Invoice charged twice", text);
        earlier.created_at = Some("2026-03-01T09:00:00Z".parse().unwrap());
        let gmail = "Any news?\n\n---------- Forwarded message ---------\nFrom: Ann <ann@a.example>\nDate: Mon, 2 Mar 2026\n\
                     Subject: Invoice charged twice\nTo: help@example.com\n\n";
        let decisions = observe_all(
            &rules,
            &[
                case("1", "ann@a.example", "a", 0, "Invoice charged twice", text),
                future,
                // The same words about another invoice: another request.
                case("2", "ann@a.example", "a", 10, "Invoice charged twice", &text.replace("4411", "5532")),
                case("3", "ann@a.example", "a", 20, "Invoice charged twice", text),
                // Opened before case 1, read after it: it repeats nothing.
                earlier,
                case("4", "ann@a.example", "a", 30, "Fwd: Invoice charged twice", &format!("{gmail}{text}")),
            ],
        );
        let dup = |i: usize| decisions[i].duplicates.first().map(|d| d.case_id.clone());
        assert_eq!(dup(2), None, "another invoice, the same year");
        assert_eq!(dup(3).as_deref(), Some("1"), "a case dated 2036 emptied the memory");
        assert_eq!(dup(4), None, "a case opened earlier repeats nothing");
        assert!(decisions[5].duplicates.iter().any(|d| d.case_id == "1"), "{:?}", decisions[5].duplicates);
    }

    #[test]
    fn sections_are_checked_like_every_other() {
        let bad = [
            ("duplicates: { keys: [requester.email] }", "window"),
            ("duplicates: { window: 1h, keys: [requester.mail] }", "requester.email"),
            ("duplicates: { window: soon }", "a duration"),
            ("duplicates: { window: 0h, keys: [account] }", "above zero"),
            (
                "categories: [{ id: c, when: { duplicate.score: { gte: 0.5 } }, set: { category: general } }]\nduplicates: { window: 1h }",
                "from the `priority` stage on",
            ),
            ("duplicates: { window: 1h, threshold: 0 }", "above 0"),
            ("duplicates: { window: 1h, then: { priority: P9 } }", "P9"),
            ("incidents: { window: 15m, min_cases: 2, min_distinct: 3 }", "min_distinct"),
            ("incidents: { window: 15m, distinct: acount }", "account"),
            ("duplicates: { window: 1h, similarity: 0.5 }", "similarity"),
        ];
        for (yaml, says) in bad {
            let text = if yaml.starts_with("categories") {
                yaml.to_string()
            } else {
                format!("categories: [{{ id: all, set: {{ category: general }} }}]\n{yaml}")
            };
            let (rules, diags) = compile_sources(&[("r.yaml", &text)]);
            assert!(rules.is_none(), "{yaml}");
            let text = format!("{diags:?}");
            assert!(text.contains(says), "{yaml}: {text}");
            assert!(diags.iter().all(|d| d.line > 0 && d.file == "r.yaml"), "{yaml}: {text}");
        }
    }
}
