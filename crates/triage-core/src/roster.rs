//! Each team's agents indexed for assignment.
//!
//! The filters that do not depend on live load — territory, skill at a
//! level, language, product, presence, shift — become a few word-wise ANDs
//! over bitsets of the team's members instead of a scan comparing strings
//! agent by agent. Bit `k` of every set is the team's `k`-th member in id
//! order. Built once when the directory is, read-only afterwards.

use crate::bits::Bits;
use crate::directory::{Agent, Presence, Team};
use std::collections::BTreeMap;

/// Highest skill level.
pub(crate) const MAX_LEVEL: u8 = 10;

/// One skill across a team's members.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SkillColumn {
    /// Each member's level; 0 when they lack the skill.
    pub levels: Vec<u8>,
    /// `at_least[l]`: members having the skill at level `l` or above.
    at_least: Vec<Bits>,
}

impl SkillColumn {
    /// Members with the skill at `level` or above; none above the scale.
    pub fn at_least(&self, level: u8) -> Option<&Bits> {
        self.at_least.get(usize::from(level))
    }
}

/// A team's members as sets, by what the static filters ask.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TeamIndex {
    /// Members naming each territory of their own.
    territory: BTreeMap<String, Bits>,
    /// Members without territories of their own: they cover the team's.
    any_territory: Bits,
    skills: BTreeMap<String, SkillColumn>,
    /// Members by language spoken (their own list, else the team's).
    language: BTreeMap<String, Bits>,
    /// Members with no language list at all: they take any language.
    any_language: Bits,
    product: BTreeMap<String, Bits>,
    /// Members without a product list: they know every product.
    any_product: Bits,
    pub online: Bits,
    /// Members grouped by shift calendar; `None` is the team's hours.
    pub shifts: Vec<(Option<String>, Bits)>,
    size: usize,
}

impl TeamIndex {
    /// Indexes `members` (indices into `agents`, in id order) of `team`.
    /// Text is expected lower-cased already.
    pub fn build(team: &Team, agents: &[Agent], members: &[usize]) -> TeamIndex {
        let n = members.len();
        let mut ix = TeamIndex {
            any_territory: Bits::new(n),
            any_language: Bits::new(n),
            any_product: Bits::new(n),
            online: Bits::new(n),
            size: n,
            ..TeamIndex::default()
        };
        let mut shifts: BTreeMap<Option<String>, Bits> = BTreeMap::new();
        for (k, &ai) in members.iter().enumerate() {
            let a = &agents[ai];
            mark(&mut ix.territory, &mut ix.any_territory, &a.territories, k, n);
            let languages = if a.languages.is_empty() { &team.languages } else { &a.languages };
            mark(&mut ix.language, &mut ix.any_language, languages, k, n);
            mark(&mut ix.product, &mut ix.any_product, &a.products, k, n);
            if a.presence == Presence::Online {
                ix.online.set(k);
            }
            shifts.entry(a.shift.clone()).or_insert_with(|| Bits::new(n)).set(k);
            for (skill, &level) in &a.skills {
                let col = ix.skills.entry(skill.clone()).or_insert_with(|| SkillColumn {
                    levels: vec![0; n],
                    at_least: (0..=MAX_LEVEL).map(|_| Bits::new(n)).collect(),
                });
                col.levels[k] = level;
                for l in 0..=level.min(MAX_LEVEL) {
                    col.at_least[usize::from(l)].set(k);
                }
            }
        }
        ix.shifts = shifts.into_iter().collect();
        ix
    }

    /// How many members the team has.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Keeps members covering one of the case's territories (or the team's).
    pub fn keep_territory(&self, cur: &mut Bits, path: &[impl AsRef<str>]) {
        keep_any(cur, &self.any_territory, path.iter().filter_map(|p| self.territory.get(p.as_ref())));
    }

    /// Keeps members who speak `language` (or take any).
    pub fn keep_language(&self, cur: &mut Bits, language: &str) {
        keep_any(cur, &self.any_language, self.language.get(language));
    }

    /// Keeps members who know `product` (or every product).
    pub fn keep_product(&self, cur: &mut Bits, product: &str) {
        keep_any(cur, &self.any_product, self.product.get(product));
    }

    /// The column of one skill, when any member has it.
    pub fn skill(&self, skill: &str) -> Option<&SkillColumn> {
        self.skills.get(skill)
    }
}

fn mark(by: &mut BTreeMap<String, Bits>, none: &mut Bits, values: &[String], k: usize, n: usize) {
    if values.is_empty() {
        none.set(k);
    }
    for v in values {
        by.entry(v.clone()).or_insert_with(|| Bits::new(n)).set(k);
    }
}

/// `cur ∩ (open ∪ sets…)`.
fn keep_any<'a>(cur: &mut Bits, open: &Bits, sets: impl IntoIterator<Item = &'a Bits>) {
    let mut mask = open.clone();
    for s in sets {
        mask.or_with(s);
    }
    cur.and_with(&mask);
}
