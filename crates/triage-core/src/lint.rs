//! Lint: what a rule set's conditions say about one another.
//!
//! Every condition is read as a formula over a small model of the case: a
//! field that rules compare by value takes one of a few representative
//! values (each value a rule names, a point between and beyond every number
//! bound, another value, missing), and every text or pattern test (a phrase,
//! a regex, `starts_with`, a text range, a list item) is a yes/no atom of its
//! own. A backtracking search over that model answers "can these conditions
//! hold together?" with an example when they can.
//!
//! The model admits every real case and some impossible ones (two phrases
//! that overlap are independent here), so "no case" is a proof — a rule
//! found unreachable is unreachable — while an example that leans on text
//! atoms may need its wording adjusted. A search that runs out of steps or
//! work (each question, and the whole lint, may evaluate only so many
//! condition nodes, so lint time is bounded whatever the rule set) reports
//! nothing.

use crate::cond::{Cond, Fact, Op, Pred, Scalar, test_value};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::rules::{CompiledRules, RuleMeta};
use crate::schema::{CHANNELS, FieldType, Slot};
use crate::table::{Hit, Table};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Pairs of overlapping (`unique`) or disagreeing (`any`) rows reported per
/// table; past it one more finding says there are more (5,000 identical
/// rows would otherwise be 12.5 million warnings).
const MAX_PAIRS_PER_TABLE: usize = 20;

/// Steps one question may take before the search gives up.
const BUDGET: u32 = 50_000;

/// Condition nodes one question may evaluate before the search gives up:
/// each step re-reads the goals, so steps alone do not bound the time of a
/// condition with 100,000 items (that took 30 s).
const WORK_PER_QUESTION: u64 = 4_000_000;

/// Condition nodes a whole lint may evaluate (about a second on a 2020s
/// core); questions asked after that are left unanswered and report nothing.
const WORK_PER_LINT: u64 = 100_000_000;

/// Lints a compiled rule set: rules no case can reach, conditions that can
/// never hold, gaps and overlaps in decision tables, table columns that
/// never discriminate. Each finding is a warning with a code, the rule's
/// file and line and, where one exists, an example case (by field).
///
/// ```
/// use triage_core::{compile_sources, lint};
/// let src = "fields:\n  affected_users: number\ncategories:\n  - id: any\n    set: { category: general }\ntiers:\n  - id: big\n    when: { affected_users: { gte: 10 } }\n    tier: 2\n  - id: huge\n    when: { affected_users: { gte: 100 } }\n    tier: 3\n  - id: rest\n    tier: 1\n";
/// let (rules, _) = compile_sources(&[("tiers.yaml", src)]);
/// let found = lint(&rules.unwrap());
/// assert_eq!(found[0].code, "unreachable-rule");
/// assert_eq!(found[0].rule.as_deref(), Some("huge"));
/// ```
pub fn lint(rules: &CompiledRules) -> Vec<Diagnostic> {
    let model = Model::new(rules);
    let mut out = Vec::new();
    let stages: [(&str, Vec<Item<'_>>, &[Table], bool); 5] = [
        ("categories", items(&rules.categories.rules, |_| true), &rules.categories.tables, true),
        ("priority", items(&rules.adjustments, |a| a.stop), &rules.adjust_tables, false),
        ("tiers", items(&rules.tiers.rules, |_| true), &rules.tiers.tables, true),
        ("sla", items(&rules.sla.rules, |_| true), &rules.sla.tables, true),
        ("assignment", items(&rules.assignment.rules, |_| true), &rules.assignment.tables, true),
    ];
    for (stage, list, tables, single) in &stages {
        model.stage(stage, list, tables, *single, false, &mut out);
    }
    // Side tables stand alone: their rows are the whole list.
    for (stage, side) in rules.side_tables() {
        let rows = items(&side.rules, |_| false);
        model.stage(stage, &rows, std::slice::from_ref(&side.table), false, true, &mut out);
    }
    for t in &rules.territories.list {
        if let Some(cond) = &t.cond {
            model.never_true(&t.meta, &model.tree(cond), &mut out);
        }
    }
    for r in &rules.escalation.rules {
        model.never_true(&r.meta, &model.tree(&r.cond), &mut out);
    }
    out
}

/// A rule of a stage as the lint sees it: where it is, its condition, and
/// whether a match ends the stage for the rules after it.
struct Item<'r> {
    meta: &'r RuleMeta,
    cond: &'r Cond,
    stops: bool,
}

fn items<A>(rules: &[crate::rules::Rule<A>], stops: impl Fn(&A) -> bool) -> Vec<Item<'_>> {
    rules.iter().map(|r| Item { meta: &r.meta, cond: &r.cond, stops: stops(&r.action) }).collect()
}

/// A condition over the model: value tests read a field's representative,
/// atoms are free yes/no choices.
#[derive(Debug, Clone)]
enum Tree {
    True,
    Value(u32),
    Atom(u32),
    All(Vec<Tree>),
    Any(Vec<Tree>),
    Not(Box<Tree>),
}

/// How an atom shows in an example.
#[derive(Debug, Clone)]
enum AtomShow {
    /// The field's text contains this phrase.
    Phrase(Slot, String),
    /// The list field holds this item.
    Item(Slot, String),
    /// The list field holds something.
    NonEmpty(Slot),
    /// Any other test, as its author wrote it, and the predicate when it
    /// reads the field's value (so a chosen value must agree with it).
    Label(String, Option<u32>),
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Field(Slot),
    Atom(u32),
}

struct Model<'r> {
    rules: &'r CompiledRules,
    /// Per slot, the representative values (empty when no rule reads it by value).
    domains: Vec<Vec<Fact<'static>>>,
    atoms: Vec<AtomShow>,
    /// Per predicate, its tree.
    preds: Vec<Tree>,
    /// Condition nodes the lint may still evaluate ([`WORK_PER_LINT`]).
    work_left: std::cell::Cell<u64>,
}

fn num_reps(bounds: &mut Vec<f64>) -> Vec<f64> {
    bounds.retain(|b| b.is_finite());
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    let Some((&lo, &hi)) = bounds.first().zip(bounds.last()) else {
        return vec![0.0];
    };
    // Beyond each end by one, or by the least step where one is lost to
    // rounding (1e300 + 1 is 1e300): "no value" must stay a proof.
    let below = if lo - 1.0 < lo { lo - 1.0 } else { lo.next_down() };
    let above = if hi + 1.0 > hi { hi + 1.0 } else { hi.next_up() };
    let mut out = vec![below];
    for w in bounds.windows(2) {
        out.push(w[0]);
        // A whole number between when there is one, for readable examples.
        let mid = (w[0] + 1.0).floor();
        let half = (w[0] + w[1]) / 2.0;
        out.push(if mid < w[1] && mid > w[0] {
            mid
        } else if half > w[0] && half < w[1] {
            half
        } else {
            w[0].next_up()
        });
    }
    out.push(hi);
    out.push(above);
    out
}

impl<'r> Model<'r> {
    fn new(rules: &'r CompiledRules) -> Self {
        let schema = &rules.schema;
        let mut strings: Vec<Vec<String>> = vec![Vec::new(); schema.fields.len()];
        let mut numbers: Vec<Vec<f64>> = vec![Vec::new(); schema.fields.len()];
        let mut keys: BTreeMap<String, u32> = BTreeMap::new();
        let mut atoms: Vec<AtomShow> = Vec::new();
        let mut atom = |key: String, show: AtomShow| -> Tree {
            let next = u32::try_from(atoms.len()).unwrap_or(u32::MAX);
            let id = *keys.entry(key).or_insert(next);
            if id == next {
                atoms.push(show);
            }
            Tree::Atom(id)
        };
        let mut preds = Vec::with_capacity(rules.preds.len());
        for (i, p) in rules.preds.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let field = schema.fields.get(p.slot);
            let list = matches!(field.map(|f| &f.ty), Some(FieldType::List));
            // Fields of a few known values are tested value by value, whatever the test.
            let finite = field.is_some_and(|f| {
                matches!(f.ty, FieldType::Enum(_) | FieldType::Priority | FieldType::Bool) || f.name == "channel"
            });
            let tree = match &p.op {
                Op::Phrases { ids, all } => {
                    let parts = ids
                        .iter()
                        .map(|&id| {
                            let text = rules.text.phrase_text.get(id as usize).cloned().unwrap_or_default();
                            atom(format!("phrase {id}"), AtomShow::Phrase(p.slot, text))
                        })
                        .collect();
                    if *all { Tree::All(parts) } else { Tree::Any(parts) }
                }
                Op::Items { items, all } => {
                    let parts = items
                        .iter()
                        .map(|it| atom(format!("item {} {it}", p.slot), AtomShow::Item(p.slot, it.clone())))
                        .collect();
                    if *all { Tree::All(parts) } else { Tree::Any(parts) }
                }
                Op::Exists | Op::Missing if list => {
                    let some = atom(format!("nonempty {}", p.slot), AtomShow::NonEmpty(p.slot));
                    if matches!(p.op, Op::Exists) { some } else { Tree::Not(Box::new(some)) }
                }
                Op::Regex(_) => atom(format!("regex {:?}", p.op), AtomShow::Label(p.label.clone(), None)),
                // A cell that compares with another input depends on two
                // fields; the search treats its truth as free.
                Op::Relative { ranges, .. } => {
                    numbers[p.slot].extend(ranges.iter().flat_map(|r| [r.range.lo, r.range.hi]));
                    atom(format!("relative {i}"), AtomShow::Label(p.label.clone(), None))
                }
                Op::Pattern { .. } | Op::StartsWith(_) | Op::EndsWith(_) | Op::TextCmp(..) | Op::TextBetween(..)
                    if !finite =>
                {
                    collect_values(&p.op, &mut strings[p.slot], &mut numbers[p.slot]);
                    atom(format!("{} {:?}", p.slot, p.op), AtomShow::Label(p.label.clone(), Some(i)))
                }
                op => {
                    collect_values(op, &mut strings[p.slot], &mut numbers[p.slot]);
                    Tree::Value(i)
                }
            };
            preds.push(tree);
        }
        let domains = schema
            .fields
            .iter()
            .enumerate()
            .map(|(slot, f)| {
                // Values before `missing`, so examples read like real cases.
                let mut d = Vec::new();
                let used = !strings[slot].is_empty() || !numbers[slot].is_empty();
                match &f.ty {
                    FieldType::Bool => d.extend([Fact::Bool(true), Fact::Bool(false)]),
                    FieldType::Enum(values) => d.extend(values.iter().map(|v| Fact::owned(v.clone()))),
                    FieldType::Priority => d.extend(rules.priorities.iter().map(|p| Fact::owned(p.to_string()))),
                    FieldType::Number | FieldType::DateTime | FieldType::Date => {
                        d.extend(num_reps(&mut numbers[slot]).into_iter().map(Fact::Num));
                    }
                    FieldType::String => {
                        let mut values = std::mem::take(&mut strings[slot]);
                        if f.name == "channel" {
                            values.extend(CHANNELS.iter().map(|c| c.to_string()));
                        }
                        values.sort();
                        values.dedup();
                        let mut other = "other".to_string();
                        while values.contains(&other) {
                            other.push('x');
                        }
                        if f.name != "channel" {
                            values.push(other);
                        }
                        d.extend(values.into_iter().map(Fact::owned));
                    }
                    FieldType::List => {}
                }
                if !used && !matches!(f.ty, FieldType::Bool | FieldType::Enum(_) | FieldType::Priority) {
                    d.truncate(1);
                }
                d.push(Fact::Missing);
                d
            })
            .collect();
        Model { rules, domains, atoms, preds, work_left: std::cell::Cell::new(WORK_PER_LINT) }
    }

    fn tree(&self, c: &Cond) -> Tree {
        match c {
            Cond::True => Tree::True,
            Cond::Pred(i) => self.preds.get(*i as usize).cloned().unwrap_or(Tree::True),
            Cond::All(items) => Tree::All(items.iter().map(|c| self.tree(c)).collect()),
            Cond::Any(items) => Tree::Any(items.iter().map(|c| self.tree(c)).collect()),
            Cond::Not(inner) => Tree::Not(Box::new(self.tree(inner))),
        }
    }

    fn file(&self, meta: &RuleMeta) -> &str {
        self.rules.files.get(meta.file).map_or("", |f| f)
    }

    fn at(&self, meta: &RuleMeta) -> (&str, Pos) {
        (self.file(meta), Pos::new(meta.line, 1))
    }

    /// Whether the goals (each a tree and the truth it must have) can hold
    /// together: `Some(example)` when they can, `None` when they cannot,
    /// `Err` when the search gave up.
    fn solve(&self, goals: &[(&Tree, bool)]) -> Result<Option<Value>, ()> {
        let allowed = self.work_left.get().min(WORK_PER_QUESTION);
        if allowed == 0 {
            return Err(());
        }
        let mut s = Search {
            m: self,
            fields: vec![None; self.domains.len()],
            atoms: vec![None; self.atoms.len()],
            steps: BUDGET,
            work: std::cell::Cell::new(allowed),
            unsure: false,
        };
        let found = s.dfs(goals);
        self.work_left.set(self.work_left.get() - (allowed - s.work.get()));
        match found {
            Some(true) => Ok(Some(s.example())),
            Some(false) if !s.unsure => Ok(None),
            _ => Err(()),
        }
    }

    /// Charges `n` condition nodes' worth of other work to the lint's
    /// budget; `false` once the budget is spent.
    fn spend(&self, n: usize) -> bool {
        let left = self.work_left.get();
        self.work_left.set(left.saturating_sub(n as u64));
        left > 0
    }

    /// `impossible-condition` when a condition holds for no case at all.
    fn never_true(&self, meta: &RuleMeta, t: &Tree, out: &mut Vec<Diagnostic>) -> bool {
        if !matches!(self.solve(&[(t, true)]), Ok(None)) {
            return false;
        }
        let (file, pos) = self.at(meta);
        let d = Diagnostic::custom(
            "impossible-condition",
            Severity::Warning,
            file,
            pos,
            format!("the condition of `{}` can never hold: its tests contradict each other", meta.id),
        )
        .with_help("no case can satisfy every test at once (e.g. `gt: 5` with `lt: 3`); fix or remove the rule");
        out.push(d.in_rule(Some(&meta.id)));
        true
    }

    /// Unreachable rules of one stage's list, then its tables' gaps and
    /// overlaps; `side` for a side table's rows on their own.
    fn stage(
        &self,
        stage: &str,
        list: &[Item<'_>],
        tables: &[Table],
        first: bool,
        side: bool,
        out: &mut Vec<Diagnostic>,
    ) {
        let table_of: Vec<Option<usize>> =
            (0..list.len()).map(|i| tables.iter().position(|t| i >= t.start && i < t.start + t.rows.len())).collect();
        let trees: Vec<Tree> = list.iter().map(|it| self.tree(it.cond)).collect();
        // Which earlier rules take a case before rule `i` sees it.
        let before = |i: usize| -> Vec<usize> {
            let ti = table_of[i];
            (0..i)
                .filter(|&j| match (ti, table_of[j]) {
                    (Some(a), Some(b)) if a == b => tables[a].hit == Hit::First,
                    _ => first || list[j].stops,
                })
                .collect()
        };
        for (i, item) in list.iter().enumerate() {
            // Listing the rules before it is work too (50,000 rules would
            // list a billion).
            if !self.spend(i) {
                break;
            }
            let earlier = before(i);
            // After a catch-all the compiler already reports `shadowed-rule`.
            if earlier.iter().any(|&j| matches!(trees[j], Tree::True)) {
                continue;
            }
            if self.never_true(item.meta, &trees[i], out) || earlier.is_empty() {
                continue;
            }
            let mut goals: Vec<(&Tree, bool)> = vec![(&trees[i], true)];
            goals.extend(earlier.iter().map(|&j| (&trees[j], false)));
            if !matches!(self.solve(&goals), Ok(None)) {
                continue;
            }
            // The earlier rules that share cases with it, then as few of
            // them as still cover it.
            let mut cover: Vec<usize> = earlier
                .iter()
                .copied()
                .filter(|&j| matches!(self.solve(&[(&trees[i], true), (&trees[j], true)]), Ok(Some(_))))
                .collect();
            let mut k = 0;
            while k < cover.len() && cover.len() > 1 {
                let mut goals: Vec<(&Tree, bool)> = vec![(&trees[i], true)];
                goals.extend(cover.iter().enumerate().filter(|(n, _)| *n != k).map(|(_, &j)| (&trees[j], false)));
                if matches!(self.solve(&goals), Ok(None)) {
                    cover.remove(k);
                } else {
                    k += 1;
                }
            }
            let names: Vec<String> =
                cover.iter().map(|&j| format!("`{}` (line {})", list[j].meta.id, list[j].meta.line)).collect();
            let (file, pos) = self.at(item.meta);
            let d = Diagnostic::custom(
                "unreachable-rule",
                Severity::Warning,
                file,
                pos,
                format!(
                    "`{}` can never decide in `{stage}`: every case it matches is taken first by {}",
                    item.meta.id,
                    names.join(", ")
                ),
            )
            .with_help("remove it, narrow the earlier rules, or move it above them");
            out.push(d.in_rule(Some(&item.meta.id)));
        }
        for table in tables {
            let rows: Vec<usize> = (table.start..table.start + table.rows.len()).collect();
            let context: Vec<usize> = before(table.start).into_iter().filter(|j| !rows.contains(j)).collect();
            self.table(table, &rows, &context, &trees, (first, side), out);
        }
    }

    fn table(
        &self,
        table: &Table,
        rows: &[usize],
        context: &[usize],
        trees: &[Tree],
        (single, side): (bool, bool),
        out: &mut Vec<Diagnostic>,
    ) {
        let (file, _) = self.at(&table.meta);
        let here = |line: u32| Pos::new(line, 1);
        let outside: Vec<(&Tree, bool)> = context.iter().map(|&j| (&trees[j], false)).collect();
        let answers_one = matches!(table.hit, Hit::First | Hit::Unique | Hit::Any | Hit::Priority);
        // A cell comparing two inputs is a free yes/no to the search, which
        // knows nothing of `x`, `> x`, `< x` covering every case: rows with
        // one are left out of gaps and overlaps, and the inputs they name
        // are not idle columns.
        let relative: Vec<bool> = table
            .rows
            .iter()
            .map(|row| {
                row.cells
                    .iter()
                    .flatten()
                    .any(|&p| matches!(self.rules.preds.get(p as usize).map(|p| &p.op), Some(Op::Relative { .. })))
            })
            .collect();
        let named: Vec<crate::schema::Slot> = table
            .rows
            .iter()
            .flat_map(|row| row.cells.iter().flatten())
            .filter_map(|&p| match self.rules.preds.get(p as usize).map(|p| &p.op) {
                Some(Op::Relative { ranges, .. }) => Some(ranges.iter().flat_map(|r| [r.lo, r.hi]).flatten()),
                _ => None,
            })
            .flatten()
            .collect();
        let any_relative = relative.contains(&true);
        // Gaps: cases that reach the table and that no row takes.
        if answers_one && !any_relative && !rows.iter().any(|&r| matches!(trees[r], Tree::True)) {
            let mut goals = outside.clone();
            goals.extend(rows.iter().map(|&r| (&trees[r], false)));
            if let Ok(Some(example)) = self.solve(&goals) {
                let then = if single {
                    "such cases fall through to the rules after the table"
                } else if side {
                    "its outputs are left unset for such cases"
                } else {
                    "such cases get no adjustment from it"
                };
                let d = Diagnostic::custom(
                    "table-gap",
                    Severity::Warning,
                    file,
                    here(table.meta.line),
                    format!("no row of table `{}` matches some cases that reach it; {then}", table.meta.id),
                )
                .with_help("add a row for them, or end the table with a row of `-` cells")
                .with_example(example);
                out.push(d.in_rule(Some(&table.meta.id)));
            }
        }
        // Overlaps under `unique`, disagreements under `any`.
        if matches!(table.hit, Hit::Unique | Hit::Any) {
            let mut found = 0;
            'pairs: for (a, &ra) in rows.iter().enumerate() {
                for (b, &rb) in rows.iter().enumerate().skip(a + 1) {
                    let (row_a, row_b) = (&table.rows[a], &table.rows[b]);
                    if (table.hit == Hit::Any && row_a.class == row_b.class) || relative[a] || relative[b] {
                        continue;
                    }
                    if !self.spend(outside.len() + 2) {
                        break 'pairs;
                    }
                    let mut goals = outside.clone();
                    goals.extend([(&trees[ra], true), (&trees[rb], true)]);
                    let Ok(Some(example)) = self.solve(&goals) else { continue };
                    if found == MAX_PAIRS_PER_TABLE {
                        let d = Diagnostic::custom(
                            "too-many-findings",
                            Severity::Warning,
                            file,
                            here(table.meta.line),
                            format!(
                                "table `{}` has more pairs of rows that {} than the {MAX_PAIRS_PER_TABLE} shown",
                                table.meta.id,
                                if table.hit == Hit::Unique { "overlap" } else { "disagree" }
                            ),
                        )
                        .with_help("fix the pairs shown and lint again");
                        out.push(d.in_rule(Some(&table.meta.id)));
                        break 'pairs;
                    }
                    found += 1;
                    let (code, what) = if table.hit == Hit::Unique {
                        ("table-overlap", "both match some cases, but the hit policy is `unique`")
                    } else {
                        ("table-conflict", "both match some cases with different outputs, but the hit policy is `any`")
                    };
                    let d = Diagnostic::custom(
                        code,
                        Severity::Warning,
                        file,
                        here(row_b.line),
                        format!(
                            "rows `{}` (line {}) and `{}` (line {}) of table `{}` {what}",
                            row_a.id, row_a.line, row_b.id, row_b.line, table.meta.id
                        ),
                    )
                    .with_help("narrow one of the rows, or choose hit policy `first` or `priority`")
                    .with_example(example);
                    out.push(d.in_rule(Some(&row_b.id)));
                }
            }
        }
        // Columns whose cells are all the same tell no row from another.
        if table.rows.len() > 1 {
            for (c, column) in table.columns.iter().enumerate() {
                if named.contains(&column.slot) {
                    continue;
                }
                let cell = |r: usize| table.rows[r].cells.get(c).copied().flatten();
                let same = (1..table.rows.len()).all(|r| match (cell(0), cell(r)) {
                    (None, None) => true,
                    (Some(x), Some(y)) => self.same_pred(x, y),
                    _ => false,
                });
                if same {
                    let shown = cell(0)
                        .and_then(|p| self.rules.preds.get(p as usize))
                        .map_or_else(|| "-".to_string(), |p| p.label.clone());
                    let d = Diagnostic::custom(
                        "non-discriminating-column",
                        Severity::Warning,
                        file,
                        here(table.meta.line),
                        format!(
                            "column `{}` of table `{}` never tells rows apart: every row says {}",
                            column.name,
                            table.meta.id,
                            if shown == "-" { "`-`".to_string() } else { format!("`{shown}`") }
                        ),
                    )
                    .with_help("drop the column, or move its test into the rule that uses the table");
                    out.push(d.in_rule(Some(&table.meta.id)));
                }
            }
        }
    }

    fn same_pred(&self, x: u32, y: u32) -> bool {
        let get = |i: u32| self.rules.preds.get(i as usize).map(|p: &Pred| (p.slot, &p.op));
        x == y || get(x).zip(get(y)).is_some_and(|(a, b)| a == b)
    }
}

fn collect_values(op: &Op, strings: &mut Vec<String>, numbers: &mut Vec<f64>) {
    let mut scalar = |s: &Scalar| match s {
        Scalar::Str(v) => strings.push(v.clone()),
        Scalar::Num(n) => numbers.push(*n),
        Scalar::Bool(_) => {}
    };
    match op {
        Op::Eq(s) | Op::Ne(s) => scalar(s),
        Op::In(list) | Op::NotIn(list) => list.iter().for_each(scalar),
        Op::Cmp(_, v) => numbers.push(*v),
        Op::Between(lo, hi) => numbers.extend([*lo, *hi]),
        Op::Ranges { ranges, .. } => {
            for r in ranges {
                numbers.extend([r.lo, r.hi]);
            }
        }
        // Text in order: each bound and a text just above it.
        Op::TextCmp(_, b) => strings.extend([b.clone(), format!("{b}0")]),
        Op::TextBetween(lo, hi) => strings.extend([lo.clone(), format!("{lo}0"), hi.clone(), format!("{hi}0")]),
        Op::StartsWith(list) | Op::EndsWith(list) => strings.extend(list.iter().cloned()),
        _ => {}
    }
}

struct Search<'m, 'r> {
    m: &'m Model<'r>,
    /// Per slot, the index of the chosen representative.
    fields: Vec<Option<u16>>,
    atoms: Vec<Option<bool>>,
    steps: u32,
    /// Condition nodes this question may still evaluate.
    work: std::cell::Cell<u64>,
    /// A model-only answer was set aside.
    unsure: bool,
}

impl Search<'_, '_> {
    /// The tree's truth under the choices so far, `None` while undecided.
    fn value(&self, t: &Tree) -> Option<bool> {
        self.work.set(self.work.get().saturating_sub(1));
        match t {
            Tree::True => Some(true),
            Tree::Atom(a) => self.atoms[*a as usize],
            Tree::Value(p) => {
                let pred = &self.m.rules.preds[*p as usize];
                let chosen = self.fields[pred.slot]?;
                Some(test_value(&pred.op, &self.m.domains[pred.slot][usize::from(chosen)]))
            }
            Tree::All(items) => self.junction(items, false),
            Tree::Any(items) => self.junction(items, true),
            Tree::Not(inner) => self.value(inner).map(|v| !v),
        }
    }

    /// `all` (decided by any false item) or `any` (by any true item): the
    /// deciding truth once one item has it, the other once every item is
    /// decided, `None` before.
    fn junction(&self, items: &[Tree], decides: bool) -> Option<bool> {
        let mut open = false;
        for i in items {
            match self.value(i) {
                Some(v) if v == decides => return Some(decides),
                Some(_) => {}
                None => open = true,
            }
        }
        if open { None } else { Some(!decides) }
    }

    /// An unchosen variable the undecided tree depends on.
    fn pick(&self, t: &Tree) -> Option<Var> {
        match t {
            Tree::True => None,
            Tree::Atom(a) => self.atoms[*a as usize].is_none().then_some(Var::Atom(*a)),
            Tree::Value(p) => {
                let slot = self.m.rules.preds[*p as usize].slot;
                self.fields[slot].is_none().then_some(Var::Field(slot))
            }
            Tree::All(items) | Tree::Any(items) => {
                items.iter().filter(|i| self.value(i).is_none()).find_map(|i| self.pick(i))
            }
            Tree::Not(inner) => self.pick(inner),
        }
    }

    /// `Some(true)`: the goals hold under the choices now made; `Some(false)`:
    /// no choice makes them hold; `None`: out of steps.
    fn dfs(&mut self, goals: &[(&Tree, bool)]) -> Option<bool> {
        if self.steps == 0 || self.work.get() == 0 {
            return None;
        }
        self.steps -= 1;
        let mut open = None;
        for (t, want) in goals {
            match self.value(t) {
                Some(v) if v != *want => return Some(false),
                Some(_) => {}
                None => {
                    if open.is_none() {
                        open = Some(*t);
                    }
                }
            }
        }
        let Some(t) = open else {
            if self.consistent() {
                return Some(true);
            }
            // The choices hold in the model only: keep looking, but an
            // exhausted search now proves nothing.
            self.unsure = true;
            return Some(false);
        };
        let var = self.pick(t)?;
        let mut gave_up = false;
        match var {
            Var::Atom(a) => {
                for v in [false, true] {
                    self.atoms[a as usize] = Some(v);
                    match self.dfs(goals) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => gave_up = true,
                    }
                }
                self.atoms[a as usize] = None;
            }
            Var::Field(slot) => {
                let n = u16::try_from(self.m.domains[slot].len()).unwrap_or(u16::MAX);
                for v in 0..n {
                    self.fields[slot] = Some(v);
                    match self.dfs(goals) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => gave_up = true,
                    }
                }
                self.fields[slot] = None;
            }
        }
        if gave_up { None } else { Some(false) }
    }

    /// Whether every test atom on a field whose value was chosen agrees with
    /// that value.
    fn consistent(&self) -> bool {
        self.atoms.iter().enumerate().all(|(a, chosen)| match (chosen, &self.m.atoms[a]) {
            (Some(v), AtomShow::Label(_, Some(p))) => {
                let pred = &self.m.rules.preds[*p as usize];
                self.fields[pred.slot]
                    .is_none_or(|c| test_value(&pred.op, &self.m.domains[pred.slot][usize::from(c)]) == *v)
            }
            _ => true,
        })
    }

    /// The choices made, as a case by field name.
    fn example(&self) -> Value {
        let schema = &self.m.rules.schema;
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let name = |slot: Slot| schema.fields.get(slot).map_or_else(|| "?".to_string(), |f| f.name.clone());
        for (slot, chosen) in self.fields.iter().enumerate() {
            let Some(v) = chosen else { continue };
            let fact = &self.m.domains[slot][usize::from(*v)];
            let dt = matches!(schema.fields[slot].ty, FieldType::DateTime);
            let date = matches!(schema.fields[slot].ty, FieldType::Date);
            let value = match fact {
                Fact::Missing => Value::Null,
                Fact::Str { raw, .. } => Value::String(raw.to_string()),
                Fact::Num(n) if dt => chrono::DateTime::from_timestamp(*n as i64, 0)
                    .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
                Fact::Num(n) if date => chrono::DateTime::from_timestamp(*n as i64, 0)
                    .map_or(Value::Null, |t| Value::String(t.format("%Y-%m-%d").to_string())),
                Fact::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(*n as i64),
                Fact::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
                Fact::Bool(b) => Value::Bool(*b),
                Fact::List(items) => Value::Array(items.iter().map(|i| Value::String(i.clone())).collect()),
            };
            out.insert(name(slot), value);
        }
        let mut texts: BTreeMap<Slot, Vec<String>> = BTreeMap::new();
        let mut lists: BTreeMap<Slot, Vec<String>> = BTreeMap::new();
        let mut holding = Vec::new();
        for (a, chosen) in self.atoms.iter().enumerate() {
            if let (Some(false), AtomShow::Label(label, Some(p))) = (chosen, &self.m.atoms[a])
                && self.fields[self.m.rules.preds[*p as usize].slot].is_none()
            {
                holding.push(Value::String(format!("not {label}")));
            }
            if *chosen != Some(true) {
                continue;
            }
            match &self.m.atoms[a] {
                AtomShow::Phrase(slot, text) => texts.entry(*slot).or_default().push(text.clone()),
                AtomShow::Item(slot, item) => lists.entry(*slot).or_default().push(item.clone()),
                AtomShow::NonEmpty(slot) => {
                    lists.entry(*slot).or_default();
                }
                AtomShow::Label(label, _) => holding.push(Value::String(label.clone())),
            }
        }
        for (slot, parts) in texts {
            out.insert(name(slot), Value::String(parts.join(" … ")));
        }
        for (slot, mut items) in lists {
            if items.is_empty() {
                items.push("other".to_string());
            }
            out.insert(name(slot), Value::Array(items.into_iter().map(Value::String).collect()));
        }
        if !holding.is_empty() {
            out.insert("such that".to_string(), Value::Array(holding));
        }
        Value::Object(out.into_iter().collect::<Map<String, Value>>())
    }
}

#[cfg(test)]
mod tests {
    use super::num_reps;

    /// Representatives beyond, between and at every bound exist even where
    /// adding one is lost to rounding, so "no value satisfies" stays true.
    #[test]
    fn number_representatives_survive_rounding() {
        for bounds in [vec![1e300], vec![-1e300, 1e300], vec![1.0, 1.0f64.next_up()], vec![9e15, 9e15 + 2.0]] {
            let reps = num_reps(&mut bounds.clone());
            let (lo, hi) = (bounds[0], bounds[bounds.len() - 1]);
            assert!(reps.iter().any(|&r| r > hi), "{bounds:?}: {reps:?}");
            assert!(reps.iter().any(|&r| r < lo), "{bounds:?}: {reps:?}");
            for w in bounds.windows(2) {
                if w[0].next_up() < w[1] {
                    assert!(reps.iter().any(|&r| r > w[0] && r < w[1]), "{bounds:?}: {reps:?}");
                }
            }
        }
    }
}
