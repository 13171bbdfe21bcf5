//! The compiled rule set: fully resolved, immutable, `Send + Sync`.
//!
//! Nothing here refers back to YAML: fields are slots, phrases are automaton
//! pattern ids, priorities are ranks, knowledge articles are indices. After
//! compiling there are no authoring errors left for evaluation to hit.

use crate::bits::Bits;
use crate::cond::{Cond, Fact, Op, Pred, Scalar};
use crate::schema::{Schema, Slot};
use crate::text::TextIndex;
use std::collections::BTreeMap;

/// A rule set ready to evaluate cases. Build it with
/// [`compile_sources`](crate::compile_sources); share it across threads in an
/// `Arc`.
#[derive(Debug)]
pub struct CompiledRules {
    pub(crate) files: Vec<String>,
    pub(crate) schema: Schema,
    /// The priority scale, most urgent first.
    pub(crate) priorities: Vec<String>,
    pub(crate) settings: Settings,
    pub(crate) preds: Vec<Pred>,
    pub(crate) text: TextIndex,
    /// Fields read by value operators, in slot order.
    pub(crate) value_slots: Vec<Slot>,
    pub(crate) categories: FirstMatch<CategorySet>,
    pub(crate) adjustments: Vec<Rule<Adjust>>,
    pub(crate) tiers: FirstMatch<TierSet>,
    pub(crate) articles: Vec<Article>,
    pub(crate) sentiment: Lexicon,
    pub(crate) version: String,
}

impl CompiledRules {
    /// A stable hash of the rule sources (names and text, in order).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The rule files, in evaluation order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The priority scale, most urgent first.
    pub fn priorities(&self) -> &[String] {
        &self.priorities
    }

    /// How many rules the set has, all stages together.
    pub fn rule_count(&self) -> usize {
        self.categories.rules.len() + self.adjustments.len() + self.tiers.rules.len()
    }
}

/// Rule-set-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Categorization confidence under which a case goes to manual review.
    pub review_below: Option<f64>,
    /// Most knowledge articles offered for deflection.
    pub max_articles: usize,
}

/// Where a rule came from.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub id: String,
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
    pub category: String,
    /// Rank on the priority scale.
    pub priority: Option<usize>,
    pub product: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    pub confidence: f64,
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
}

/// An ordered list of rules of which the first that matches decides, with an
/// index that skips rules whose equality tests cannot hold.
#[derive(Debug)]
pub(crate) struct FirstMatch<A> {
    pub rules: Vec<Rule<A>>,
    pub index: RuleIndex,
}

/// A rule and the values its equality test on one field accepts.
type Constraint = (usize, Vec<Scalar>);

/// Below this many rules a linear scan is as fast as the index.
const INDEX_MIN_RULES: usize = 16;
/// Most fields one index consults.
const INDEX_MAX_FIELDS: usize = 8;

/// For some fields, which rules can still match given the case's value.
///
/// A rule whose top-level conjunction contains `field eq v` or `field in
/// [..]` can match only cases whose value is among those; every other rule
/// is unconstrained on that field. Intersecting per-field candidate sets
/// leaves a superset of the matching rules, which are then evaluated in
/// order, so the first match is the same as a linear scan's.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    n: usize,
    fields: Vec<FieldIndex>,
}

#[derive(Debug)]
struct FieldIndex {
    slot: Slot,
    unconstrained: Bits,
    keys: Keys,
}

#[derive(Debug)]
enum Keys {
    Str(BTreeMap<String, Bits>),
    Num(Vec<(f64, Bits)>),
    Bool([Bits; 2]),
}

impl RuleIndex {
    pub fn build(conds: &[&Cond], preds: &[Pred], schema: &Schema) -> RuleIndex {
        let n = conds.len();
        if n < INDEX_MIN_RULES {
            return RuleIndex { n, fields: Vec::new() };
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
                let Some(p) = preds.get(*i as usize) else {
                    continue;
                };
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
            let mut unconstrained = Bits::full(n);
            let mut keys = match schema.fields[slot].ty {
                crate::schema::FieldType::Number => Keys::Num(Vec::new()),
                crate::schema::FieldType::Bool => Keys::Bool([Bits::new(n), Bits::new(n)]),
                _ => Keys::Str(BTreeMap::new()),
            };
            let mut cleared = Bits::new(n);
            for (r, values) in &constrained {
                cleared.set(*r);
                for v in values {
                    match (&mut keys, v) {
                        (Keys::Str(map), Scalar::Str(s)) => {
                            map.entry(s.clone()).or_insert_with(|| Bits::new(n)).set(*r)
                        }
                        (Keys::Num(list), Scalar::Num(x)) => match list.iter_mut().find(|(k, _)| k == x) {
                            Some((_, b)) => b.set(*r),
                            None => {
                                let mut b = Bits::new(n);
                                b.set(*r);
                                list.push((*x, b));
                            }
                        },
                        (Keys::Bool(pair), Scalar::Bool(b)) => pair[usize::from(*b)].set(*r),
                        _ => {}
                    }
                }
            }
            // unconstrained = all rules minus the constrained ones.
            let mut keep = Bits::new(n);
            for r in 0..n {
                if !cleared.get(r) {
                    keep.set(r);
                }
            }
            unconstrained.and_with(&keep);
            fields.push(FieldIndex { slot, unconstrained, keys });
        }
        RuleIndex { n, fields }
    }

    /// The rules that may match, or `None` when every rule must be tried.
    pub fn candidates(&self, facts: &[Fact]) -> Option<Bits> {
        if self.fields.is_empty() {
            return None;
        }
        let mut out = Bits::full(self.n);
        for f in &self.fields {
            let mut allowed = f.unconstrained.clone();
            let fact = facts.get(f.slot).unwrap_or(&Fact::Missing);
            let extra = match (&f.keys, fact) {
                (Keys::Str(map), Fact::Str { lower, .. }) => map.get(lower.as_str()),
                (Keys::Num(list), Fact::Num(x)) => list.iter().find(|(k, _)| k == x).map(|(_, b)| b),
                (Keys::Bool(pair), Fact::Bool(b)) => Some(&pair[usize::from(*b)]),
                _ => None,
            };
            if let Some(extra) = extra {
                allowed.or_with(extra);
            }
            out.and_with(&allowed);
        }
        Some(out)
    }
}
