//! The compiled rule set: fully resolved, immutable, `Send + Sync`.
//!
//! Nothing here refers back to YAML: fields are slots, phrases are automaton
//! pattern ids, priorities are ranks, knowledge articles are indices. After
//! compiling there are no authoring errors left for evaluation to hit.

use crate::bits::{Bits, RowSet};
use crate::calendar::Calendar;
use crate::cond::{Cond, Fact, Op, Pred, Scalar};
use crate::name::Name;
use crate::normalize::Normalizer;
use crate::schema::{Schema, Slot};
use crate::table::Table;
use crate::territory::Territories;
use crate::text::{Hits, TextIndex};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A rule set ready to evaluate cases. Build it with
/// [`compile_sources`](crate::compile_sources); share it across threads in an
/// `Arc`.
#[derive(Debug)]
pub struct CompiledRules {
    pub(crate) files: Vec<Name>,
    pub(crate) schema: Schema,
    /// The priority scale, most urgent first.
    pub(crate) priorities: Vec<Name>,
    /// The same, lower-cased, for comparisons.
    pub(crate) priorities_lower: Vec<String>,
    /// Where the values the engine decides itself live.
    pub(crate) derived: DerivedSlots,
    pub(crate) normalizer: Normalizer,
    pub(crate) territories: Territories,
    pub(crate) calendars: Vec<Calendar>,
    pub(crate) sla: FirstMatch<SlaPolicy>,
    /// For each territory, the calendar it (or its nearest ancestor) names.
    pub(crate) territory_calendars: Vec<Option<usize>>,
    pub(crate) settings: Settings,
    pub(crate) preds: Vec<Pred>,
    pub(crate) text: TextIndex,
    /// Fields read by value operators, in slot order.
    pub(crate) value_slots: Vec<Slot>,
    pub(crate) categories: FirstMatch<CategorySet>,
    pub(crate) adjustments: Vec<Rule<Adjust>>,
    /// The decision tables among `adjustments`, by their first row.
    pub(crate) adjust_tables: Vec<Table>,
    pub(crate) tiers: FirstMatch<TierSet>,
    pub(crate) articles: Vec<Article>,
    pub(crate) sentiment: Lexicon,
    pub(crate) escalation: Escalations,
    pub(crate) assignment: FirstMatch<Route>,
    /// The `duplicates:` section.
    pub(crate) duplicates: Option<crate::related::DuplicateRules>,
    /// The `incidents:` section.
    pub(crate) incidents: Option<crate::related::IncidentRules>,
    /// The `classifiers:` section's models.
    pub(crate) classifiers: Vec<Classifier>,
    pub(crate) version: Name,
}

impl CompiledRules {
    /// Whether `status` stops the SLA clocks (`settings.sla_clock.stop_on`,
    /// by default `solved` and `closed`; compared without regard to ASCII
    /// case): the case is resolved, and a service frees what it held.
    pub fn stops_clock(&self, status: &str) -> bool {
        self.settings.clock.stop_on.iter().any(|s| s.eq_ignore_ascii_case(status.trim()))
    }

    /// A stable hash of the rule sources (names relative to the rule
    /// directory, and text, in order) and of the time zone database release
    /// the calendars use.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The IANA time zone database release the calendars use, e.g. `2026f`
    /// ([`crate::TZDB_VERSION`]).
    pub fn tzdb_version(&self) -> &'static str {
        crate::calendar::TZDB_VERSION
    }

    /// The rule files, in evaluation order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| &**f)
    }

    /// A business calendar by id.
    pub fn calendar(&self, id: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|c| c.id() == id)
    }

    /// The priority scale, most urgent first.
    pub fn priorities(&self) -> &[Name] {
        &self.priorities
    }

    /// How many rules the set has, all stages together (a table's rows
    /// count as rules, side tables' included).
    pub fn rule_count(&self) -> usize {
        self.territories.list.len()
            + self.categories.rules.len()
            + self.adjustments.len()
            + self.tiers.rules.len()
            + self.sla.rules.len()
            + self.escalation.rules.len()
            + self.assignment.rules.len()
            + self.side_tables().map(|(_, t)| t.rules.len()).sum::<usize>()
    }

    /// Every side table with its stage's section name, in pipeline order
    /// (file order within a stage).
    pub(crate) fn side_tables(&self) -> impl Iterator<Item = (&'static str, &SideTable)> {
        let stages: [(&'static str, &[SideTable]); 4] = [
            ("categories", &self.categories.side),
            ("tiers", &self.tiers.side),
            ("sla", &self.sla.side),
            ("assignment", &self.assignment.side),
        ];
        stages.into_iter().flat_map(|(stage, sides)| sides.iter().map(move |s| (stage, s)))
    }
}

/// Rule-set-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Categorization confidence under which a case goes to manual review.
    pub review_below: Option<f64>,
    /// Most knowledge articles offered for deflection.
    pub max_articles: usize,
    /// How SLA clocks pause, stop and follow policy changes.
    pub clock: ClockSettings,
}

/// Where a rule came from.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub id: Arc<str>,
    pub file: usize,
    pub line: u32,
}

#[derive(Debug)]
pub(crate) struct Rule<A> {
    pub meta: RuleMeta,
    pub cond: Cond,
    pub action: A,
}

/// What a categorization rule sets.
#[derive(Debug, Clone)]
pub(crate) struct CategorySet {
    pub category: Name,
    /// Rank on the priority scale.
    pub priority: Option<usize>,
    pub product: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    /// `skills` and `tags` lower-cased, as conditions compare them.
    pub skills_lower: Vec<String>,
    pub tags_lower: Vec<String>,
    pub confidence: f64,
    /// `category: { from: predicted.LABEL }`: the category (and its
    /// confidence) is the guess of this classifier's label (classifier,
    /// head).
    pub from_model: Option<(usize, usize)>,
}

/// A `classifiers:` entry: its name, model and where rules read its
/// guesses.
#[derive(Debug, Clone)]
pub(crate) struct Classifier {
    pub name: Name,
    /// The model file, as the rules name it.
    pub path: String,
    /// The rule file (index) and line that name it.
    pub file: usize,
    pub line: u32,
    pub model: Arc<crate::classify::Model>,
    /// Per label of the model, in its order: the label and the slots of
    /// `predicted.LABEL` and `predicted.LABEL.confidence`.
    pub slots: Vec<(Name, Slot, Slot)>,
}

/// The slots of the values the engine decides itself, looked up once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DerivedSlots {
    pub priority: Slot,
    pub product: Slot,
    pub sentiment: Slot,
    /// `sentiment.score` (the same number) and `sentiment.label`.
    pub sentiment_score: Slot,
    pub sentiment_label: Slot,
    pub category: Slot,
    pub tags: Slot,
    pub skills: Slot,
    pub confidence: Slot,
    pub territory: Slot,
    pub territory_path: Slot,
    pub tier: Slot,
    pub duplicate_score: Slot,
    pub duplicate_of: Slot,
    pub incident_size: Slot,
}

/// What a priority rule does, in ranks (0 is most urgent).
#[derive(Debug, Clone, Copy)]
pub(crate) enum AdjustKind {
    Raise(usize),
    Lower(usize),
    Set(usize),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Adjust {
    pub kind: AdjustKind,
    /// Stop applying later priority rules.
    pub stop: bool,
}

/// What a tier rule sets.
#[derive(Debug, Clone)]
pub(crate) struct TierSet {
    pub tier: u8,
    /// For tier 0, the articles that may be offered (all, when `None`).
    pub articles: Option<Vec<usize>>,
}

/// An SLA policy: business-time targets measured on a calendar.
#[derive(Debug, Clone)]
pub(crate) struct SlaPolicy {
    /// Index into the calendars; `None` takes the territory's.
    pub calendar: Option<usize>,
    pub first_response: Option<chrono::Duration>,
    pub next_response: Option<chrono::Duration>,
    pub resolution: Option<chrono::Duration>,
    pub update: Option<chrono::Duration>,
}

/// Where an `assignment` rule sends a case and whom it looks for.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// A team id of the directory; `None` picks the first team whose
    /// declared territories, tiers, categories, products and languages fit.
    pub team: Option<String>,
    pub skills: Vec<SkillReq>,
    /// Skills dropped once the case has waited long enough.
    pub relax: Vec<Relax>,
}

/// A skill the agent should have.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SkillReq {
    /// Lower-cased.
    pub skill: String,
    pub min_level: u8,
    /// Filters when mandatory; otherwise ranks.
    pub mandatory: bool,
}

/// A step of the relaxation ladder.
#[derive(Debug, Clone)]
pub(crate) struct Relax {
    /// Business time waited (on the team's calendar) since creation.
    pub after: chrono::Duration,
    /// Lower-cased skills no longer looked for.
    pub drop: Vec<String>,
}

/// How SLA clocks react to the case's status and to policy changes.
#[derive(Debug, Clone)]
pub(crate) struct ClockSettings {
    /// Lower-cased statuses that pause every clock (waiting on the customer).
    pub pause_on: Vec<String>,
    /// Lower-cased statuses that stop every clock (the case is resolved).
    pub stop_on: Vec<String>,
    /// When a priority or tier change selects another policy: restart the
    /// unmet clocks at the change (`true`) or keep the original start.
    pub restart_on_change: bool,
    /// Whether the periodic `update` clock starts when the case is created
    /// (`update_starts: created`) rather than at the first agent reply
    /// (`first_reply`, the default: a case owes updates once someone has
    /// answered, as the common helpdesks define it).
    pub update_from_creation: bool,
}

impl Default for ClockSettings {
    fn default() -> Self {
        ClockSettings {
            pause_on: vec!["waiting_on_customer".into(), "on_hold".into()],
            stop_on: vec!["solved".into(), "closed".into()],
            restart_on_change: false,
            update_from_creation: false,
        }
    }
}

/// The escalation rules, risk factors and what the replay must watch.
#[derive(Debug, Default)]
pub(crate) struct Escalations {
    pub rules: Vec<Rule<Ladder>>,
    pub risk: Vec<RiskFactor>,
    /// Per metric, the percentages of the target some condition compares
    /// `used` with: the instants they are crossed are when truth can change.
    pub used_thresholds: [Vec<f64>; 4],
    /// Minutes some condition compares `age_minutes` with.
    pub age_thresholds: Vec<f64>,
}

/// What one escalation rule does when its condition starts to hold.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    pub level: u32,
    pub actions: Vec<EscAction>,
    /// The predicates of the condition that read an SLA metric: the cycles
    /// of the metrics whose tests hold enter the action keys.
    pub metrics: Vec<(u32, crate::schema::Metric)>,
}

#[derive(Debug, Clone)]
pub(crate) struct EscAction {
    pub kind: EscKind,
    /// Deliver at the next opening of the case's calendar.
    pub business_hours: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum EscKind {
    Notify(String),
    /// `notify: { from: FIELD }`: everyone a list field holds when the
    /// action fires (a side table's output, or the case's own value).
    NotifyFrom(Slot),
    RaiseTier(u8),
    SetTier(u8),
    /// `team` or `queue`, and its name.
    Reassign(&'static str, String),
    SetPriority(usize),
    OpenEscalation(RecordSpec),
    Swarm(SwarmSpec),
    AdminAlert(String),
}

impl EscKind {
    pub fn name(&self) -> &'static str {
        match self {
            EscKind::Notify(_) | EscKind::NotifyFrom(_) => "notify",
            EscKind::RaiseTier(_) => "raise_tier",
            EscKind::SetTier(_) => "set_tier",
            EscKind::Reassign(..) => "reassign",
            EscKind::SetPriority(_) => "set_priority",
            EscKind::OpenEscalation(_) => "open_escalation",
            EscKind::Swarm(_) => "swarm",
            EscKind::AdminAlert(_) => "admin_alert",
        }
    }
}

/// The escalation record an `open_escalation` action opens.
#[derive(Debug, Clone)]
pub(crate) struct RecordSpec {
    /// 1 is most severe; `None` takes the priority's rank.
    pub severity: Option<u8>,
    pub owner: String,
    pub members: Vec<String>,
    pub milestones: Vec<MilestoneSpec>,
}

#[derive(Debug, Clone)]
pub(crate) struct MilestoneSpec {
    /// Clock time after the record opens.
    pub after: chrono::Duration,
    pub notify: String,
}

/// A swarm channel: a name template and where to start it.
#[derive(Debug, Clone)]
pub(crate) struct SwarmSpec {
    pub name: Vec<Piece>,
    pub severity: Option<u8>,
    /// First match picks the workspace or parent channel.
    pub routes: Vec<(Cond, String)>,
}

/// A piece of a swarm channel name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Lit(String),
    Var(TemplateVar),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateVar {
    Product,
    Severity,
    Number,
    CaseId,
    Priority,
    Category,
    Territory,
    Tier,
    Account,
}

/// One weighted factor of an escalation record's risk score.
#[derive(Debug, Clone)]
pub(crate) struct RiskFactor {
    pub name: String,
    pub weight: f64,
    pub input: RiskInput,
}

#[derive(Debug, Clone)]
pub(crate) enum RiskInput {
    /// Counts fully when the condition holds.
    When(Cond),
    /// A number field, as a share of `cap` (clipped to 0–1).
    Scaled(Slot, f64),
}

/// A knowledge article for Tier 0 deflection.
#[derive(Debug, Clone)]
pub(crate) struct Article {
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    /// Phrase ids in the `text` automaton.
    pub keywords: Vec<u32>,
    /// Lower-cased products the article applies to (all when empty).
    pub products: Vec<String>,
}

/// Sentiment lexicon: phrase ids in the `text` automaton.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    pub negative: Vec<u32>,
    pub positive: Vec<u32>,
    /// `english: vader`: a case none of the phrases matched is scored by
    /// VADER (its English lexicon and rules).
    pub vader: bool,
}

/// An ordered list of rules of which the first that matches decides, with an
/// index that skips rules whose equality tests cannot hold.
#[derive(Debug)]
pub(crate) struct FirstMatch<A> {
    pub rules: Vec<Rule<A>>,
    pub index: RuleIndex,
    /// Decision tables whose rows are among `rules`, in rule order.
    pub tables: Vec<Table>,
    /// Side tables: tables that decide none of the stage's own answer and
    /// run after it, in file order, adding to lists and custom fields.
    pub side: Vec<SideTable>,
}

/// A table that adds to a stage's decision instead of making it: its rows
/// are rules of their own (for traces and coverage, `action` unused), and
/// each output column feeds a list of the decision or a custom field.
#[derive(Debug)]
pub(crate) struct SideTable {
    pub table: Table,
    pub rules: Vec<Rule<()>>,
    /// Per output column, what it feeds.
    pub feeds: Vec<Feed>,
}

/// Where a side table's output column goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Feed {
    /// The decision's `tags` (categorization).
    Tags,
    /// The decision's `skills` (categorization, assignment).
    Skills,
    /// Knowledge articles offered at tier 0, by index.
    Articles,
    /// A field declared in `fields:`; the decision's `outputs` carries it
    /// and later stages read it.
    Field(Slot),
}

/// A rule and the values its equality test on one field accepts.
type Constraint = (usize, Vec<Scalar>);

/// Below this many rules a linear scan is as fast as the index.
const INDEX_MIN_RULES: usize = 16;
/// Most fields one index consults.
const INDEX_MAX_FIELDS: usize = 8;

/// Which rules can still match a case, computed from its facts and text hits
/// without evaluating conditions.
///
/// Two filters, both sound (they never drop a rule that matches):
/// - per field: a rule whose top-level conjunction contains `field eq v` or
///   `field in [..]` can match only cases whose value is among those; other
///   rules are unconstrained on that field;
/// - per phrase or regex: a rule that needs some phrase or regex to hit (a
///   top-level `contains_any`, `contains_all`, `matches`, or an `any` whose
///   every branch needs one) can match only if one of them hit.
///
/// The candidates are then evaluated in rule order, so the first match is
/// the same as a linear scan's.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    n: usize,
    fields: Vec<FieldIndex>,
    text: Option<TextFilter>,
}

#[derive(Debug)]
struct FieldIndex {
    slot: Slot,
    unconstrained: Bits,
    keys: Keys,
}

#[derive(Debug)]
enum Keys {
    Str(BTreeMap<String, RowSet>),
    /// By the number's bits (`-0` read as `0`), so a lookup is a search.
    Num(BTreeMap<u64, RowSet>),
    Bool([RowSet; 2]),
}

/// A number as an index key: equal numbers, equal keys.
fn num_key(x: f64) -> u64 {
    if x == 0.0 { 0.0f64.to_bits() } else { x.to_bits() }
}

#[derive(Debug)]
struct TextFilter {
    /// Rules that need no phrase or regex.
    free: Bits,
    /// For each phrase id, the rules it can satisfy.
    by_phrase: Vec<Vec<u32>>,
    /// For each regex id, the rules it can satisfy.
    by_regex: Vec<Vec<u32>>,
}

/// The phrases and regexes of which at least one must hit for `cond` to hold.
fn text_requirement(cond: &Cond, preds: &[Pred]) -> Option<(Vec<u32>, Vec<u32>)> {
    match cond {
        Cond::Pred(i) => match &preds.get(*i as usize)?.op {
            Op::Phrases { ids, all: false } => Some((ids.clone(), Vec::new())),
            Op::Phrases { ids, all: true } => Some((ids.first().map(|i| vec![*i])?, Vec::new())),
            Op::Regex(r) => Some((Vec::new(), vec![*r])),
            _ => None,
        },
        Cond::All(items) => items.iter().find_map(|c| text_requirement(c, preds)),
        Cond::Any(items) => {
            let mut out = (Vec::new(), Vec::new());
            for c in items {
                let (p, r) = text_requirement(c, preds)?;
                out.0.extend(p);
                out.1.extend(r);
            }
            Some(out)
        }
        Cond::Not(_) | Cond::True => None,
    }
}

impl RuleIndex {
    pub fn build(conds: &[&Cond], preds: &[Pred], schema: &Schema, phrases: usize, regexes: usize) -> RuleIndex {
        let n = conds.len();
        if n < INDEX_MIN_RULES {
            return RuleIndex { n, fields: Vec::new(), text: None };
        }
        // Per slot: for each rule, the values its first eq/in test accepts.
        let mut per_slot: BTreeMap<Slot, Vec<Constraint>> = BTreeMap::new();
        for (r, cond) in conds.iter().enumerate() {
            let top: &[Cond] = match cond {
                Cond::All(items) => items,
                other => std::slice::from_ref(*other),
            };
            let mut seen: Vec<Slot> = Vec::new();
            for c in top {
                let Cond::Pred(i) = c else { continue };
                let Some(p) = preds.get(*i as usize) else { continue };
                if seen.contains(&p.slot) {
                    continue;
                }
                let values = match &p.op {
                    Op::Eq(s) => vec![s.clone()],
                    Op::In(list) => list.clone(),
                    _ => continue,
                };
                seen.push(p.slot);
                per_slot.entry(p.slot).or_default().push((r, values));
            }
        }
        let mut ranked: Vec<(Slot, Vec<Constraint>)> = per_slot.into_iter().collect();
        ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        ranked.truncate(INDEX_MAX_FIELDS);
        let mut fields = Vec::new();
        for (slot, constrained) in ranked {
            // Rows by value first (rules come in order, so each list is
            // ascending), then each list as a row set.
            let mut strs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            let mut nums: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
            let mut bools: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
            let mut unconstrained = Bits::full(n);
            for (r, values) in &constrained {
                unconstrained.clear(*r);
                let rule = u32::try_from(*r).unwrap_or(u32::MAX);
                for v in values {
                    let list = match v {
                        Scalar::Str(s) => strs.entry(s.clone()).or_default(),
                        Scalar::Num(x) => nums.entry(num_key(*x)).or_default(),
                        Scalar::Bool(b) => &mut bools[usize::from(*b)],
                    };
                    if list.last() != Some(&rule) {
                        list.push(rule);
                    }
                }
            }
            let set = |rows: Vec<u32>| RowSet::of(rows, n);
            let keys = match schema.fields[slot].ty {
                crate::schema::FieldType::Number => Keys::Num(nums.into_iter().map(|(k, v)| (k, set(v))).collect()),
                crate::schema::FieldType::Bool => {
                    let [f, t] = bools;
                    Keys::Bool([set(f), set(t)])
                }
                _ => Keys::Str(strs.into_iter().map(|(k, v)| (k, set(v))).collect()),
            };
            fields.push(FieldIndex { slot, unconstrained, keys });
        }
        let mut text = TextFilter {
            free: Bits::new(n),
            by_phrase: vec![Vec::new(); phrases],
            by_regex: vec![Vec::new(); regexes],
        };
        let mut any_text = false;
        for (r, cond) in conds.iter().enumerate() {
            match text_requirement(cond, preds) {
                Some((ps, rs)) => {
                    any_text = true;
                    let rule = u32::try_from(r).unwrap_or(u32::MAX);
                    for p in ps {
                        if let Some(list) = text.by_phrase.get_mut(p as usize) {
                            list.push(rule);
                        }
                    }
                    for x in rs {
                        if let Some(list) = text.by_regex.get_mut(x as usize) {
                            list.push(rule);
                        }
                    }
                }
                None => text.free.set(r),
            }
        }
        RuleIndex { n, fields, text: any_text.then_some(text) }
    }

    /// The rules that may match, or `None` when every rule must be tried.
    pub fn candidates(&self, facts: &[Fact<'_>], hits: &Hits) -> Option<Bits> {
        if self.fields.is_empty() && self.text.is_none() {
            return None;
        }
        let mut out = Bits::full(self.n);
        for f in &self.fields {
            let fact = facts.get(f.slot).unwrap_or(&Fact::Missing);
            let extra = match (&f.keys, fact) {
                (Keys::Str(map), Fact::Str { lower, .. }) => map.get(lower.as_ref()),
                (Keys::Num(map), Fact::Num(x)) => map.get(&num_key(*x)),
                (Keys::Bool(pair), Fact::Bool(b)) => Some(&pair[usize::from(*b)]),
                _ => None,
            };
            out.and_with_union_set(&f.unconstrained, extra);
        }
        if let Some(t) = &self.text {
            let mut allowed = t.free.clone();
            for p in hits.phrases.iter() {
                for &r in t.by_phrase.get(p).map_or(&[][..], Vec::as_slice) {
                    allowed.set(r as usize);
                }
            }
            for x in hits.regexes.iter() {
                for &r in t.by_regex.get(x).map_or(&[][..], Vec::as_slice) {
                    allowed.set(r as usize);
                }
            }
            out.and_with(&allowed);
        }
        Some(out)
    }
}
