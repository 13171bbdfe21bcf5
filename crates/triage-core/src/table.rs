//! Decision tables: rows of cells over named input columns, a hit policy,
//! and an index per column so a table decides without testing every row.
//!
//! A table sits in a stage's rule list: each row is also an ordinary rule
//! (its condition is the conjunction of its cells) so that traces, coverage
//! and the stage's checks treat rows like rules. Evaluation goes through the
//! table instead: each column turns the case's value into the set of rows
//! whose cell accepts it — rows with `-`, rows listing the value (a map from
//! value to rows), rows whose intervals hold it (the number line cut at
//! every bound, each piece knowing its rows), and, for the few cells an index
//! cannot answer (`not(…)`, regexes, text ranges), a test of the cell on
//! the rows still alive. The sets are intersected column by column; the
//! hit policy then reads the survivors.

use crate::bits::{Bits, RowSet};
use crate::cond::{Fact, Op, Pred, Range, test_relative, test_value};
use crate::name::Name;
use crate::rules::RuleMeta;
use crate::schema::{Schema, Slot};
use std::collections::BTreeMap;

/// How a table's matching rows make its answer (the DMN hit policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The first matching row, in row order.
    First,
    /// At most one row may match; two is a conflict naming both.
    Unique,
    /// Matching rows must give the same outputs.
    Any,
    /// The matching row whose outputs come first in the declared orders.
    Priority,
    /// Every matching row, or one number aggregated over them.
    Collect(Option<Agg>),
    /// Every matching row, in row order.
    RuleOrder,
    /// Every matching row, ordered by its outputs' places in the declared
    /// orders (DMN's output order, `O`); equal rows keep row order.
    OutputOrder,
}

impl Hit {
    /// Every policy, in the order they are documented.
    pub const ALL: [Hit; 11] = [
        Hit::First,
        Hit::Unique,
        Hit::Any,
        Hit::Priority,
        Hit::Collect(None),
        Hit::Collect(Some(Agg::Sum)),
        Hit::Collect(Some(Agg::Min)),
        Hit::Collect(Some(Agg::Max)),
        Hit::Collect(Some(Agg::Count)),
        Hit::RuleOrder,
        Hit::OutputOrder,
    ];

    /// The policy as rule files write it.
    pub fn name(self) -> &'static str {
        match self {
            Hit::First => "first",
            Hit::Unique => "unique",
            Hit::Any => "any",
            Hit::Priority => "priority",
            Hit::Collect(None) => "collect",
            Hit::Collect(Some(Agg::Sum)) => "collect sum",
            Hit::Collect(Some(Agg::Min)) => "collect min",
            Hit::Collect(Some(Agg::Max)) => "collect max",
            Hit::Collect(Some(Agg::Count)) => "collect count",
            Hit::RuleOrder => "rule_order",
            Hit::OutputOrder => "output_order",
        }
    }

    /// Whether the policy answers with one row.
    pub fn single(self) -> bool {
        matches!(self, Hit::First | Hit::Unique | Hit::Any | Hit::Priority)
    }
}

/// How `collect` folds the matching rows' numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    Sum,
    Min,
    Max,
    Count,
}

/// What a cell accepts, in the shape the column index stores.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CellKey {
    /// `-`: every value, missing included.
    Any,
    /// One of these lower-cased texts.
    Text(Vec<String>),
    /// A list field holding any of these lower-cased items.
    Items(Vec<String>),
    Bool(bool),
    /// A number inside one of the intervals.
    Ranges(Vec<Range>),
    /// Anything else: the cell's predicate is tested row by row.
    Check,
}

/// An input column: a name authors chose and the field it reads.
#[derive(Debug)]
pub(crate) struct Column {
    pub name: Name,
    pub slot: Slot,
    index: ColumnIndex,
}

#[derive(Debug)]
struct ColumnIndex {
    /// Rows whose cell is `-`.
    any: Bits,
    keys: Keys,
    /// Rows whose cell is tested on its own, with its predicate.
    checks: Vec<(u32, u32)>,
}

#[derive(Debug)]
enum Keys {
    None,
    Text(BTreeMap<String, RowSet>),
    Items(BTreeMap<String, RowSet>),
    Bool([Bits; 2]),
    /// The number line cut at `bounds`: piece `2i` lies below `bounds[i]`
    /// (above the previous bound), piece `2i + 1` is `bounds[i]` itself, the
    /// last piece lies above every bound. Each piece knows its rows.
    Num {
        bounds: Vec<f64>,
        pieces: Vec<Bits>,
    },
}

/// One row: its id, where it is written, its cells and its outputs.
#[derive(Debug)]
pub(crate) struct Row {
    pub id: Name,
    pub line: u32,
    /// Per column, the cell's predicate (`None` for `-`).
    pub cells: Vec<Option<u32>>,
    /// Per output column, the value (JSON null when the cell is `-`).
    pub outputs: Vec<serde_json::Value>,
    /// Rows with equal outputs share a class (`any` compares classes).
    pub class: u32,
    /// Per output column, the value's place in the declared order (`priority`).
    pub rank: Vec<u32>,
}

/// A compiled decision table.
#[derive(Debug)]
pub(crate) struct Table {
    pub meta: RuleMeta,
    pub name: Name,
    pub hit: Hit,
    /// Index of the first row in the stage's rule list.
    pub start: usize,
    pub columns: Vec<Column>,
    pub outputs: Vec<Name>,
    pub rows: Vec<Row>,
}

/// A row as the compiler hands it over.
#[derive(Debug)]
pub(crate) struct RowDraft {
    pub id: Name,
    pub line: u32,
    /// Per column: what the cell accepts and its predicate.
    pub cells: Vec<(CellKey, Option<u32>)>,
    pub outputs: Vec<serde_json::Value>,
    pub rank: Vec<u32>,
}

/// What a table's hit policy made of the matching rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    None,
    One(usize),
    /// Two rows that may not both match (`unique`) or disagree (`any`); the
    /// first is used.
    Conflict(usize, usize),
    Many(Vec<usize>),
}

impl Selection {
    /// The rows the answer comes from, in row order.
    pub fn rows(&self) -> &[usize] {
        match self {
            Selection::None => &[],
            Selection::One(r) | Selection::Conflict(r, _) => std::slice::from_ref(r),
            Selection::Many(rows) => rows,
        }
    }
}

fn piece_of(bounds: &[f64], x: f64) -> Option<usize> {
    if x.is_nan() {
        return None;
    }
    let i = bounds.partition_point(|b| *b < x);
    Some(if bounds.get(i) == Some(&x) { 2 * i + 1 } else { 2 * i })
}

/// Most bits a column's number-line index may take (16 MiB); see
/// `ColumnIndex::build`.
const MAX_PIECE_BITS: usize = 1 << 27;

impl ColumnIndex {
    fn build(n: usize, cells: &[(&CellKey, Option<u32>)]) -> ColumnIndex {
        let mut any = Bits::new(n);
        let mut checks = Vec::new();
        // The column's kind is its first indexable cell's; cells of another
        // kind (the compiler makes none) would be tested one by one.
        let kind = cells.iter().find_map(|(k, _)| match k {
            CellKey::Any | CellKey::Check => None,
            other => Some(std::mem::discriminant(*other)),
        });
        let mut text: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut bools = [Bits::new(n), Bits::new(n)];
        let mut ranges: Vec<(usize, Range)> = Vec::new();
        for (r, (key, pred)) in cells.iter().enumerate() {
            let indexed = kind == Some(std::mem::discriminant(*key));
            match key {
                CellKey::Any => any.set(r),
                CellKey::Text(values) | CellKey::Items(values) if indexed => {
                    let row = u32::try_from(r).unwrap_or(u32::MAX);
                    for v in values {
                        let rows = text.entry(v.clone()).or_default();
                        if rows.last() != Some(&row) {
                            rows.push(row);
                        }
                    }
                }
                CellKey::Bool(b) if indexed => bools[usize::from(*b)].set(r),
                CellKey::Ranges(list) if indexed => ranges.extend(list.iter().map(|x| (r, *x))),
                _ => {
                    if let Some(p) = pred {
                        checks.push((u32::try_from(r).unwrap_or(u32::MAX), *p));
                    }
                }
            }
        }
        let keys = match cells.iter().map(|(k, _)| *k).find(|k| kind == Some(std::mem::discriminant(*k))) {
            None => Keys::None,
            Some(CellKey::Text(_)) => Keys::Text(text.into_iter().map(|(k, v)| (k, RowSet::of(v, n))).collect()),
            Some(CellKey::Items(_)) => Keys::Items(text.into_iter().map(|(k, v)| (k, RowSet::of(v, n))).collect()),
            Some(CellKey::Bool(_)) => Keys::Bool(bools),
            Some(_) => {
                let mut bounds: Vec<f64> =
                    ranges.iter().flat_map(|(_, x)| [x.lo, x.hi]).filter(|b| b.is_finite()).collect();
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                // A bitset of every row per piece of the number line is
                // quadratic in the rows when each row has its own bounds;
                // past a budget, the column's ranges are tested row by row.
                if (2 * bounds.len() + 1).saturating_mul(n) > MAX_PIECE_BITS {
                    for (r, (key, pred)) in cells.iter().enumerate() {
                        if let (CellKey::Ranges(_), Some(p)) = (key, pred) {
                            checks.push((u32::try_from(r).unwrap_or(u32::MAX), *p));
                        }
                    }
                    return ColumnIndex { any, keys: Keys::None, checks };
                }
                let mut pieces = vec![Bits::new(n); 2 * bounds.len() + 1];
                for (r, x) in &ranges {
                    if x.is_empty() {
                        continue;
                    }
                    let first = if x.lo == f64::NEG_INFINITY {
                        0
                    } else {
                        let i = bounds.partition_point(|b| *b < x.lo);
                        if x.lo_open { 2 * i + 2 } else { 2 * i + 1 }
                    };
                    let last = if x.hi == f64::INFINITY {
                        2 * bounds.len()
                    } else {
                        let j = bounds.partition_point(|b| *b < x.hi);
                        if x.hi_open { 2 * j } else { 2 * j + 1 }
                    };
                    for piece in pieces.iter_mut().take(last + 1).skip(first) {
                        piece.set(*r);
                    }
                }
                Keys::Num { bounds, pieces }
            }
        };
        ColumnIndex { any, keys, checks }
    }

    /// Keeps in `alive` only the rows whose cell in this column accepts
    /// `fact`. `scratch` is a set of the same size, overwritten.
    fn filter<'f>(
        &self,
        preds: &[Pred],
        fact: &Fact<'_>,
        all: &impl Fn(Slot) -> &'f Fact<'f>,
        alive: &mut Bits,
        scratch: &mut Bits,
    ) {
        scratch.copy_from(&self.any);
        match (&self.keys, fact) {
            (Keys::Text(map), Fact::Str { lower, .. }) => {
                if let Some(rows) = map.get(lower.as_ref()) {
                    rows.or_into(scratch);
                }
            }
            (Keys::Items(map), Fact::List(have)) => {
                for item in have.iter() {
                    if let Some(rows) = map.get(item.as_str()) {
                        rows.or_into(scratch);
                    }
                }
            }
            (Keys::Bool(pair), Fact::Bool(b)) => scratch.or_with(&pair[usize::from(*b)]),
            (Keys::Num { bounds, pieces }, Fact::Num(x)) => {
                if let Some(rows) = piece_of(bounds, *x).and_then(|i| pieces.get(i)) {
                    scratch.or_with(rows);
                }
            }
            _ => {}
        }
        for &(r, p) in &self.checks {
            let r = r as usize;
            let holds = |p: &Pred| match &p.op {
                Op::Relative { ranges, negate } => test_relative(ranges, *negate, fact, all),
                op => test_value(op, fact),
            };
            if alive.get(r) && preds.get(p as usize).is_some_and(holds) {
                scratch.set(r);
            }
        }
        alive.and_with(scratch);
    }
}

impl Table {
    pub fn build(
        meta: RuleMeta,
        hit: Hit,
        start: usize,
        columns: Vec<(Name, Slot)>,
        outputs: Vec<Name>,
        drafts: Vec<RowDraft>,
    ) -> Table {
        let n = drafts.len();
        let columns = columns
            .into_iter()
            .enumerate()
            .map(|(c, (name, slot))| {
                let cells: Vec<(&CellKey, Option<u32>)> =
                    drafts.iter().map(|d| d.cells.get(c).map_or((&CellKey::Any, None), |(k, p)| (k, *p))).collect();
                Column { name, slot, index: ColumnIndex::build(n, &cells) }
            })
            .collect();
        let mut classes: BTreeMap<String, u32> = BTreeMap::new();
        let rows = drafts
            .into_iter()
            .map(|d| {
                // Numbers by value: `1` and `1.0` are one output.
                let key: Vec<String> = d.outputs.iter().map(same_value_key).collect();
                let key = key.join("\u{1f}");
                let next = u32::try_from(classes.len()).unwrap_or(u32::MAX);
                let class = *classes.entry(key).or_insert(next);
                Row {
                    id: d.id,
                    line: d.line,
                    cells: d.cells.into_iter().map(|(_, p)| p).collect(),
                    outputs: d.outputs,
                    class,
                    rank: d.rank,
                }
            })
            .collect();
        let name = Name::from(&meta.id);
        Table { meta, name, hit, start, columns, outputs, rows }
    }

    /// The rows every one of whose cells accepts the case's values; `fact`
    /// gives the value of a column's field.
    pub fn matching<'f>(&self, preds: &[Pred], fact: impl Fn(Slot) -> &'f Fact<'f>) -> Bits {
        let mut alive = Bits::full(self.rows.len());
        let mut scratch = Bits::new(self.rows.len());
        for col in &self.columns {
            col.index.filter(preds, fact(col.slot), &fact, &mut alive, &mut scratch);
            if alive.is_empty() {
                break;
            }
        }
        alive
    }

    /// The matching rows, and for each column the rows it was the first
    /// (in column order) to reject.
    pub fn failing_columns<'f>(&self, preds: &[Pred], fact: impl Fn(Slot) -> &'f Fact<'f>) -> (Bits, Vec<Bits>) {
        let mut alive = Bits::full(self.rows.len());
        let mut scratch = Bits::new(self.rows.len());
        let mut died = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            let mut before = alive.clone();
            col.index.filter(preds, fact(col.slot), &fact, &mut alive, &mut scratch);
            before.and_not(&alive);
            died.push(before);
        }
        (alive, died)
    }

    /// What the hit policy makes of the matching rows.
    pub fn select(&self, matched: &Bits) -> Selection {
        if self.hit == Hit::First {
            return matched.first().map_or(Selection::None, Selection::One);
        }
        let mut rows = matched.iter();
        let Some(first) = rows.next() else { return Selection::None };
        match self.hit {
            Hit::First => Selection::One(first),
            Hit::Unique => match rows.next() {
                None => Selection::One(first),
                Some(other) => Selection::Conflict(first, other),
            },
            Hit::Any => {
                let class = self.rows[first].class;
                match rows.find(|&r| self.rows[r].class != class) {
                    None => Selection::One(first),
                    Some(other) => Selection::Conflict(first, other),
                }
            }
            Hit::Priority => {
                let best = rows.fold(first, |best, r| if self.rows[r].rank < self.rows[best].rank { r } else { best });
                Selection::One(best)
            }
            Hit::Collect(_) | Hit::RuleOrder => Selection::Many(matched.iter().collect()),
            Hit::OutputOrder => {
                let mut rows: Vec<usize> = matched.iter().collect();
                // Stable: rows of equal rank stay in row order.
                rows.sort_by(|&a, &b| self.rows[a].rank.cmp(&self.rows[b].rank));
                Selection::Many(rows)
            }
        }
    }

    /// The number `collect` with an aggregation gives for output `out`:
    /// `count` counts rows, the others fold the numbers the rows give.
    pub fn aggregate(&self, agg: Agg, rows: &[usize], out: usize) -> Option<f64> {
        if agg == Agg::Count {
            return Some(rows.len() as f64);
        }
        let numbers = rows.iter().filter_map(|&r| self.rows[r].outputs.get(out)?.as_f64());
        match agg {
            // In decimal, as `sum` adds.
            Agg::Sum => self.sum(rows, out)?.as_f64(),
            Agg::Min => numbers.reduce(f64::min),
            Agg::Max => numbers.reduce(f64::max),
            Agg::Count => None,
        }
    }

    /// `collect sum` of output `out` over `rows`, in decimal arithmetic: each
    /// number taken as written (its shortest decimal form) and added exactly
    /// at the finest scale among them, up to 18 decimal places and 38
    /// digits (past that, in binary floating point); 0 over no row; `None`
    /// past the largest number.
    pub fn sum(&self, rows: &[usize], out: usize) -> Option<serde_json::Value> {
        let numbers: Vec<&serde_json::Number> =
            rows.iter().filter_map(|&r| self.rows[r].outputs.get(out)?.as_number()).collect();
        let exact = || {
            let terms: Vec<(i128, u32)> = numbers.iter().map(|n| decimal(n)).collect::<Option<_>>()?;
            let scale = terms.iter().map(|t| t.1).max().unwrap_or(0);
            let mut total: i128 = 0;
            for (m, places) in terms {
                let scaled = m.checked_mul(10i128.checked_pow(scale - places)?)?;
                total = total.checked_add(scaled)?;
            }
            Some(decimal_value(total, scale))
        };
        exact().or_else(|| {
            let x = numbers.iter().filter_map(|n| n.as_f64()).fold(0.0, |a, b| a + b) + 0.0;
            x.is_finite().then(|| number_value(x))
        })
    }

    /// Where row `r` sits in the stage's rule list.
    pub fn rule_index(&self, r: usize) -> usize {
        self.start + r
    }

    /// Whether rule `i` of the stage is one of this table's rows.
    pub fn holds(&self, i: usize) -> bool {
        i >= self.start && i < self.start + self.rows.len()
    }
}

/// Test-only view of a column's index kind, to check cells land where
/// the compiler meant them to.
#[cfg(test)]
impl Column {
    pub fn index_kind(&self) -> &'static str {
        match self.index.keys {
            Keys::None => "none",
            Keys::Text(_) => "text",
            Keys::Items(_) => "items",
            Keys::Bool(_) => "bool",
            Keys::Num { .. } => "num",
        }
    }

    pub fn checked_rows(&self) -> usize {
        self.index.checks.len()
    }
}

/// A number as JSON: whole numbers without a fraction (`3`, not `3.0`).
pub(crate) fn number_value(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A JSON number as a decimal: digits and how many of them follow the
/// point (`1.25` is `(125, 2)`); `None` past 18 places or 38 digits.
fn decimal(n: &serde_json::Number) -> Option<(i128, u32)> {
    if let Some(i) = n.as_i64() {
        return Some((i128::from(i), 0));
    }
    if let Some(u) = n.as_u64() {
        return Some((i128::from(u), 0));
    }
    // Rust writes a float in its shortest form that reads back the same,
    // without an exponent.
    let text = format!("{}", n.as_f64()?);
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let places = u32::try_from(fraction.len()).ok().filter(|p| *p <= 18)?;
    let all = format!("{whole}{fraction}");
    if all.len() > 38 || !all.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m: i128 = all.parse().ok()?;
    Some((if negative { -m } else { m }, places))
}

/// The JSON number of `m` × 10^-`places`: whole numbers without a fraction,
/// others the nearest binary float to the exact decimal.
fn decimal_value(mut m: i128, mut places: u32) -> serde_json::Value {
    while places > 0 && m % 10 == 0 {
        m /= 10;
        places -= 1;
    }
    if places == 0 {
        if let Ok(i) = i64::try_from(m) {
            return serde_json::Value::from(i);
        }
        if let Ok(u) = u64::try_from(m) {
            return serde_json::Value::from(u);
        }
    }
    let digits = m.unsigned_abs().to_string();
    let places = places as usize;
    let padded = format!("{digits:0>width$}", width = places + 1);
    let (whole, fraction) = padded.split_at(padded.len() - places);
    let sign = if m < 0 { "-" } else { "" };
    let x: f64 = format!("{sign}{whole}.{fraction}").parse().unwrap_or(0.0);
    number_value(x)
}

/// An output value written so that equal values read the same: numbers
/// by their value (`1`, `1.0`), lists item by item.
fn same_value_key(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => format!("n{}", n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(same_value_key).collect();
            format!("[{}]", inner.join("\u{1e}"))
        }
        other => other.to_string(),
    }
}

/// The op an index stores for a cell, to decide the cell's `CellKey`.
pub(crate) fn key_of(op: &Op) -> CellKey {
    use crate::cond::Scalar;
    match op {
        Op::Eq(Scalar::Str(s)) => CellKey::Text(vec![s.clone()]),
        Op::In(list) if list.iter().all(|v| matches!(v, Scalar::Str(_))) => CellKey::Text(
            list.iter()
                .filter_map(|v| match v {
                    Scalar::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        Op::Eq(Scalar::Bool(b)) => CellKey::Bool(*b),
        Op::Items { items, all: false } => CellKey::Items(items.clone()),
        Op::Ranges { ranges, negate: false } => CellKey::Ranges(ranges.clone()),
        _ => CellKey::Check,
    }
}

/// A decision table of a compiled rule set, evaluated on its own: the
/// inputs are named by field (`{"account.segment": "smb", "priority": "P2"}`,
/// or nested as `{"account": {"segment": "smb"}}`), the values as the
/// pipeline would see them (normalized country codes, priorities on the
/// scale).
///
/// ```
/// use triage_core::compile_sources;
/// let yaml = r#"
/// tiers:
///   - id: tier-matrix
///     table:
///       hit: first
///       inputs: { cat: category, users: affected_users }
///       outputs: [tier]
///       rows: |
///         big:    -               | >= 100 => 3
///         eng:    outage, bug     | -      => 2
///                 -               | -      => 1
/// fields:
///   affected_users: number
/// categories:
///   - id: general
///     set: { category: general }
/// "#;
/// let (rules, diags) = compile_sources(&[("rules.yaml", yaml)]);
/// assert!(diags.is_empty(), "{diags:?}");
/// let rules = rules.unwrap();
/// let table = rules.table("tier-matrix").unwrap();
/// let hit = table.evaluate(&serde_json::json!({ "category": "bug", "affected_users": 3 })).unwrap();
/// assert_eq!(hit.row_ids().collect::<Vec<_>>(), ["eng"]);
/// assert_eq!(hit.output("tier"), Some(serde_json::json!(2)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DecisionTable<'r> {
    preds: &'r [Pred],
    schema: &'r Schema,
    table: &'r Table,
    stage: &'static str,
}

/// A table input of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{field}` should be a {expected}, found `{found}`")]
pub struct TableInputError {
    /// The field the column reads.
    pub field: String,
    /// The field's type.
    pub expected: &'static str,
    /// The value given.
    pub found: String,
}

/// The rows a table chose for one input, and what they say.
#[derive(Debug, Clone)]
pub struct TableMatch<'r> {
    table: &'r Table,
    selection: Selection,
}

/// Why each row of a table did or did not match one input.
#[derive(Debug, Clone)]
pub struct TableExplanation<'a> {
    table: &'a Table,
    preds: &'a [Pred],
    /// Per column, the rows it was the first to reject.
    died: Vec<Bits>,
    /// Per column, the input's value.
    facts: Vec<Fact<'a>>,
    /// The rows the hit policy chose.
    pub chosen: TableMatch<'a>,
}

impl<'r> DecisionTable<'r> {
    pub(crate) fn new(preds: &'r [Pred], schema: &'r Schema, table: &'r Table, stage: &'static str) -> Self {
        DecisionTable { preds, schema, table, stage }
    }

    /// The table's id.
    pub fn id(&self) -> &str {
        &self.table.name
    }

    /// The stage whose rules the table holds (`categories`, `tiers`, …).
    pub fn stage(&self) -> &'static str {
        self.stage
    }

    /// The hit policy, as written (`first`, `collect sum`, …).
    pub fn hit(&self) -> &'static str {
        self.table.hit.name()
    }

    /// The line the table's entry starts on, in its rule file.
    pub fn line(&self) -> u32 {
        self.table.meta.line
    }

    /// How many rows the table has.
    pub fn row_count(&self) -> usize {
        self.table.rows.len()
    }

    /// The row ids, in order.
    pub fn row_ids(&self) -> impl Iterator<Item = &'r str> + use<'r> {
        self.table.rows.iter().map(|r| &*r.id)
    }

    /// The output columns, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &'r str> + use<'r> {
        self.table.outputs.iter().map(|o| &**o)
    }

    fn facts<'i>(&self, input: &'i serde_json::Value) -> Result<Vec<Fact<'i>>, TableInputError> {
        let mut out = Vec::with_capacity(self.table.columns.len());
        for col in &self.table.columns {
            let def = &self.schema.fields[col.slot];
            let value = input.get(&def.name).or_else(|| {
                def.name.split('.').try_fold(input, |v, part| v.get(part)).filter(|_| def.name.contains('.'))
            });
            out.push(match value {
                None | Some(serde_json::Value::Null) => Fact::Missing,
                Some(v) => crate::eval::json_fact(v, &def.ty).ok_or_else(|| TableInputError {
                    field: def.name.clone(),
                    expected: def.ty.name(),
                    found: v.to_string(),
                })?,
            });
        }
        Ok(out)
    }

    fn fact_of<'a>(&self, facts: &'a [Fact<'a>], slot: Slot) -> &'a Fact<'a> {
        self.table.columns.iter().position(|c| c.slot == slot).and_then(|i| facts.get(i)).unwrap_or(&MISSING_FACT)
    }
}

static MISSING_FACT: Fact<'static> = Fact::Missing;

impl crate::rules::CompiledRules {
    /// The decision tables of every stage but `territories` (whose rows
    /// are territories), in pipeline order.
    pub fn tables(&self) -> impl Iterator<Item = DecisionTable<'_>> {
        let (preds, schema) = (&self.preds[..], &self.schema);
        let lists: [(&'static str, &[Table]); 5] = [
            ("categories", &self.categories.tables),
            ("priority", &self.adjust_tables),
            ("tiers", &self.tiers.tables),
            ("sla", &self.sla.tables),
            ("assignment", &self.assignment.tables),
        ];
        let all: Vec<DecisionTable<'_>> = lists
            .into_iter()
            .flat_map(|(stage, tables)| tables.iter().map(move |t| DecisionTable::new(preds, schema, t, stage)))
            .chain(self.side_tables().map(|(stage, s)| DecisionTable::new(preds, schema, &s.table, stage)))
            .collect();
        all.into_iter()
    }

    /// A decision table by id.
    pub fn table(&self, id: &str) -> Option<DecisionTable<'_>> {
        self.tables().find(|t| t.id() == id)
    }
}

impl<'r> DecisionTable<'r> {
    /// The rows the hit policy chooses for `input`, with their outputs.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<TableMatch<'r>, TableInputError> {
        let facts = self.facts(input)?;
        let matched = self.table.matching(self.preds, |slot| self.fact_of(&facts, slot));
        Ok(TableMatch { table: self.table, selection: self.table.select(&matched) })
    }

    /// [`evaluate`](Self::evaluate), and for every row the column that
    /// rejected the input. The reasons are put into words only when asked
    /// for ([`TableExplanation::rows`]).
    pub fn explain<'i>(&self, input: &'i serde_json::Value) -> Result<TableExplanation<'i>, TableInputError>
    where
        'r: 'i,
    {
        let facts = self.facts(input)?;
        let (matched, died) = self.table.failing_columns(self.preds, |slot| self.fact_of(&facts, slot));
        let chosen = TableMatch { table: self.table, selection: self.table.select(&matched) };
        Ok(TableExplanation { table: self.table, preds: self.preds, died, facts, chosen })
    }
}

fn describe_fact(f: &Fact<'_>) -> String {
    match f {
        Fact::Missing => "missing".to_string(),
        Fact::Str { raw, .. } => format!("`{raw}`"),
        Fact::Num(n) => format!("`{n}`"),
        Fact::Bool(b) => format!("`{b}`"),
        Fact::List(items) => format!("`[{}]`", items.join(", ")),
    }
}

impl<'r> TableMatch<'r> {
    /// The chosen rows' ids, in row order.
    pub fn row_ids(&self) -> impl Iterator<Item = &'r str> + '_ {
        self.selection.rows().iter().map(|&r| &*self.table.rows[r].id)
    }

    /// The chosen rows' lines in their file.
    pub fn row_lines(&self) -> impl Iterator<Item = u32> + '_ {
        self.selection.rows().iter().map(|&r| self.table.rows[r].line)
    }

    /// Whether no row answered.
    pub fn is_empty(&self) -> bool {
        self.selection.rows().is_empty()
    }

    /// Two rows that broke a `unique` or `any` policy (the first was used).
    pub fn conflict(&self) -> Option<(&'r str, &'r str)> {
        match self.selection {
            Selection::Conflict(a, b) => Some((&self.table.rows[a].id, &self.table.rows[b].id)),
            _ => None,
        }
    }

    /// An output's value: the chosen row's for single-answer policies; for
    /// `collect` and `rule_order` the list of the rows' values, or the
    /// aggregated number.
    pub fn output(&self, name: &str) -> Option<serde_json::Value> {
        let c = self.table.outputs.iter().position(|o| *o == name)?;
        let rows = self.selection.rows();
        match self.table.hit {
            Hit::Collect(Some(Agg::Sum)) => self.table.sum(rows, c),
            Hit::Collect(Some(agg)) => {
                let x = self.table.aggregate(agg, rows, c)?;
                Some(if x.is_finite() { number_value(x) } else { serde_json::Value::Null })
            }
            Hit::Collect(None) | Hit::RuleOrder | Hit::OutputOrder => {
                Some(serde_json::Value::Array(rows.iter().map(|&r| self.table.rows[r].outputs[c].clone()).collect()))
            }
            _ => rows.first().map(|&r| self.table.rows[r].outputs[c].clone()),
        }
    }

    /// Every output, by column name.
    pub fn outputs(&self) -> serde_json::Map<String, serde_json::Value> {
        self.table.outputs.iter().filter_map(|o| Some((o.to_string(), self.output(o)?))).collect()
    }
}

impl TableExplanation<'_> {
    /// For every row in order: its id, its line, and `None` if it matched
    /// or why not (the failing cell's test and the input's value).
    pub fn rows(&self) -> impl Iterator<Item = (&str, u32, Option<String>)> + '_ {
        self.table.rows.iter().enumerate().map(|(r, row)| {
            let why = self.died.iter().position(|d| d.get(r)).map(|c| {
                let value = self.facts.get(c).map_or_else(|| "missing".to_string(), describe_fact);
                let cell = row.cells.get(c).copied().flatten().and_then(|p| self.preds.get(p as usize));
                match cell {
                    Some(p) => format!("`{}` failed: {value}", p.label),
                    None => format!("column `{}` does not accept {value}", self.table.columns[c].name),
                }
            });
            (&*row.id, row.line, why)
        })
    }
}
