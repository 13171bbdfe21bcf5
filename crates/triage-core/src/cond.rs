//! Conditions: compiled from `when:` nodes, evaluated against a case's facts,
//! and explained when they do not hold.
//!
//! Grammar: a mapping whose entries all hold (`all`), where each entry is
//! `all: [..]`, `any: [..]`, `not: cond`, or `<field>: {<op>: value, ..}`.
//! `<field>: value` is short for `eq`, `<field>: [a, b]` for `in`. A list at
//! the top of `when` means `all`.

use crate::diag::{Diagnostic, Pos, Severity};
use crate::schema::{FieldType, Schema, Slot, Stage};
use crate::syntax::{Node, NodeKind};
use crate::text::{Hits, TextBuilder};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A compiled condition tree. Leaves index the predicate table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    True,
    Pred(u32),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

/// A comparison value, strings lower-cased.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Exists,
    Missing,
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    NotIn(Vec<Scalar>),
    Cmp(Cmp, f64),
    Between(f64, f64),
    Phrases {
        ids: Vec<u32>,
        all: bool,
    },
    Items {
        items: Vec<String>,
        all: bool,
    },
    Regex(u32),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    /// Text ordered as text: postal-code ranges and the like.
    TextCmp(Cmp, String),
    TextBetween(String, String),
    /// A decision-table number cell: inside any of the intervals (outside
    /// all of them when negated; a missing value is outside every one).
    Ranges {
        ranges: Vec<Range>,
        negate: bool,
    },
    /// A decision-table regex cell on a field's value.
    Pattern {
        re: Pattern,
        negate: bool,
    },
    /// A decision-table number cell whose bounds name other inputs of the
    /// table (`[min_amount..max_amount]`, `> contract_end`): as `Ranges`,
    /// with each named bound read from the case; a missing bound holds no
    /// value, so its interval holds none either.
    Relative {
        ranges: Vec<RelRange>,
        negate: bool,
    },
}

/// An interval of a cell whose ends may name other fields; a named end
/// replaces the number in `range` on that side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RelRange {
    pub range: Range,
    pub lo: Option<Slot>,
    pub hi: Option<Slot>,
}

/// Whether `fact` lies inside any of `ranges` with their named ends read
/// by `other` (flipped by `negate`).
pub(crate) fn test_relative<'f>(
    ranges: &[RelRange],
    negate: bool,
    fact: &Fact<'_>,
    other: impl Fn(Slot) -> &'f Fact<'f>,
) -> bool {
    let number = |slot: Slot| match other(slot) {
        Fact::Num(x) => Some(*x),
        _ => None,
    };
    let inside = matches!(fact, Fact::Num(x) if ranges.iter().any(|r| {
        let mut range = r.range;
        if let Some(s) = r.lo {
            match number(s) {
                Some(v) => range.lo = v,
                None => return false,
            }
        }
        if let Some(s) = r.hi {
            match number(s) {
                Some(v) => range.hi = v,
                None => return false,
            }
        }
        range.contains(*x)
    }));
    inside != negate
}

/// An interval of numbers; infinite ends are open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub lo: f64,
    pub lo_open: bool,
    pub hi: f64,
    pub hi_open: bool,
}

impl Range {
    pub fn contains(&self, x: f64) -> bool {
        let above = if self.lo_open { x > self.lo } else { x >= self.lo };
        let below = if self.hi_open { x < self.hi } else { x <= self.hi };
        above && below
    }

    /// Whether no number lies inside.
    pub fn is_empty(&self) -> bool {
        self.lo > self.hi || (self.lo == self.hi && (self.lo_open || self.hi_open))
    }
}

/// A compiled regex compared by its pattern text.
#[derive(Debug, Clone)]
pub(crate) struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// One leaf test: a field, an operator and a value.
#[derive(Debug, Clone)]
pub(crate) struct Pred {
    pub slot: Slot,
    pub op: Op,
    /// `field op value` as the author wrote it, for traces.
    pub label: String,
}

/// A field's value for one case. Strings are kept raw (for display) and
/// lower-cased (for comparison); instants are seconds since the epoch.
///
/// A plain one-byte tag rather than one folded into the text's spare bits:
/// which kind a fact is gets asked for every slot of every decision (see
/// [`Fact::owns`]), and one byte answers it in one comparison.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(crate) enum Fact<'a> {
    Missing,
    Str { raw: Cow<'a, str>, lower: Cow<'a, str> },
    Num(f64),
    Bool(bool),
    List(Cow<'a, [String]>),
}

/// An instant or a date as seconds since the epoch: an RFC 3339 instant,
/// or a date `YYYY-MM-DD` standing for midnight UTC at its start (DMN FEEL's
/// rule for comparing a date with a date and time). `date_only` refuses
/// instants.
pub(crate) fn time_value(text: &str, date_only: bool) -> Option<f64> {
    let t = text.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && t.len() == 10
    {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp() as f64);
    }
    if date_only {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|x| x.timestamp() as f64)
}

/// Lower-cases without allocating when the text already is.
pub(crate) fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

impl<'a> Fact<'a> {
    /// Whether the fact owns memory that dropping it frees: text or a list
    /// of its own rather than one borrowed from the case or the rules.
    #[inline]
    pub fn owns(&self) -> bool {
        match self {
            Fact::Str { raw, lower } => matches!(raw, Cow::Owned(_)) || matches!(lower, Cow::Owned(_)),
            Fact::List(l) => matches!(l, Cow::Owned(_)),
            Fact::Missing | Fact::Num(_) | Fact::Bool(_) => false,
        }
    }

    /// Puts `fact` in `slot`, dropping what was there only when it owns
    /// memory. A plain assignment calls the drop glue of every slot it
    /// overwrites, empty or not: a call for each of the thirty or so facts a
    /// decision sets, about 4 % of a decision (`examples/profile corpus`).
    #[inline]
    pub fn set(facts: &mut [Fact<'a>], slot: usize, fact: Fact<'a>) {
        let old = std::mem::replace(&mut facts[slot], fact);
        if old.owns() {
            drop(old);
        } else {
            // Nothing to free: a borrowed text or list, a number, nothing.
            std::mem::forget(old);
        }
    }

    /// The same fact, owning its text.
    pub fn into_owned(self) -> Fact<'static> {
        match self {
            Fact::Missing => Fact::Missing,
            Fact::Str { raw, lower } => {
                Fact::Str { raw: Cow::Owned(raw.into_owned()), lower: Cow::Owned(lower.into_owned()) }
            }
            Fact::Num(x) => Fact::Num(x),
            Fact::Bool(b) => Fact::Bool(b),
            Fact::List(items) => Fact::List(Cow::Owned(items.into_owned())),
        }
    }

    /// A text fact borrowing from the case or rules where it can.
    pub fn str(raw: &'a str) -> Fact<'a> {
        let trimmed = crate::text::trim(raw);
        if trimmed.is_empty() {
            return Fact::Missing;
        }
        Fact::Str { raw: Cow::Borrowed(trimmed), lower: lowercase(trimmed) }
    }

    /// A text fact whose lower-case form is known already.
    pub fn pair(raw: &'a str, lower: &'a str) -> Fact<'a> {
        Fact::Str { raw: Cow::Borrowed(raw), lower: Cow::Borrowed(lower) }
    }

    /// A text fact built at evaluation time.
    pub fn owned(raw: String) -> Fact<'a> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Fact::Missing;
        }
        let lower = trimmed.to_lowercase();
        Fact::Str { raw: Cow::Owned(trimmed.to_string()), lower: Cow::Owned(lower) }
    }

    fn describe(&self) -> String {
        match self {
            Fact::Missing => "missing".to_string(),
            Fact::Str { raw, .. } => {
                let shown: String = raw.chars().take(80).collect();
                let more = if raw.chars().count() > 80 { "…" } else { "" };
                format!("`{shown}{more}`")
            }
            Fact::Num(n) => format!("`{n}`"),
            Fact::Bool(b) => format!("`{b}`"),
            Fact::List(items) => format!("`[{}]`", items.join(", ")),
        }
    }
}

const OPS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "contains_any",
    "contains_all",
    "starts_with",
    "ends_with",
    "matches",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
    "missing",
];

fn ops_for(ty: &FieldType) -> &'static [&'static str] {
    match ty {
        FieldType::String => &[
            "eq",
            "ne",
            "in",
            "not_in",
            "contains",
            "contains_any",
            "contains_all",
            "starts_with",
            "ends_with",
            "matches",
            "gt",
            "gte",
            "lt",
            "lte",
            "between",
            "exists",
            "missing",
        ],
        FieldType::Enum(_) | FieldType::Priority => &["eq", "ne", "in", "not_in", "exists", "missing"],
        FieldType::Number => &["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "missing"],
        FieldType::Bool => &["eq", "ne", "exists", "missing"],
        FieldType::DateTime => &["gt", "gte", "lt", "lte", "between", "exists", "missing"],
        FieldType::Date => &["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "missing"],
        FieldType::List => &["contains", "contains_any", "contains_all", "exists", "missing"],
    }
}

/// Shared state while compiling every condition of a rule set.
#[derive(Debug)]
pub(crate) struct CondCompiler<'s> {
    pub schema: &'s Schema,
    pub priorities: &'s [String],
    pub text: TextBuilder,
    pub preds: Vec<Pred>,
    /// Fields read by value operators (the others are only scanned as text).
    pub value_slots: BTreeSet<Slot>,
    pub diags: Vec<Diagnostic>,
    /// Where rules read `duplicate.score` and `duplicate_of` (`true`) or
    /// `incident.size` (`false`): a warning when the rule set has no
    /// section that finds them.
    pub related_reads: Vec<(bool, Diagnostic)>,
    /// Where rules read the sentiment: a warning when the rule set has no
    /// `sentiment:` section to score it.
    pub sentiment_reads: Vec<Diagnostic>,
    /// Fields a side table decides: its stage, its place among the stage's
    /// side tables (from 1) and its id.
    pub decided: BTreeMap<Slot, (Stage, usize, String)>,
    /// Where the rule being compiled runs: its stage, and 0 for the stage's
    /// rules or `k` for its `k`-th side table. A field a side table decides
    /// can be read only after it.
    pub reader: (Stage, usize),
}

/// Where the condition being compiled sits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    pub file: &'a str,
    pub rule: Option<&'a str>,
    pub stage: Stage,
}

impl<'s> CondCompiler<'s> {
    pub fn new(schema: &'s Schema, priorities: &'s [String]) -> Self {
        CondCompiler {
            schema,
            priorities,
            text: match (schema.lookup("text"), schema.lookup("subject"), schema.lookup("body")) {
                (Some(t), Some(a), Some(b)) => TextBuilder::with_compound(t, [a, b]),
                _ => TextBuilder::default(),
            },
            preds: Vec::new(),
            value_slots: BTreeSet::new(),
            diags: Vec::new(),
            related_reads: Vec::new(),
            sentiment_reads: Vec::new(),
            decided: BTreeMap::new(),
            reader: (Stage::Territory, 0),
        }
    }

    fn err(&mut self, site: Site<'_>, d: Diagnostic) {
        self.diags.push(d.in_rule(site.rule));
    }

    /// Compiles a `when:` node. Returns `None` after reporting errors.
    pub fn compile(&mut self, site: Site<'_>, node: &Node) -> Option<Cond> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.compile(site, item) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then(|| simplify_all(out))
            }
            NodeKind::Map(entries) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (key, value) in entries {
                    let c = match key.name.as_str() {
                        "all" | "any" => self.compile_list(site, &key.name, value),
                        "not" => self.compile(site, value).map(|c| Cond::Not(Box::new(c))),
                        field => self.compile_field(site, field, key.pos, value),
                    };
                    match c {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then(|| simplify_all(out))
            }
            _ => {
                self.err(
                    site,
                    Diagnostic::wrong_type(
                        site.file,
                        node.pos,
                        "a condition",
                        "a mapping or a list of conditions",
                        &node.describe(),
                    ),
                );
                None
            }
        }
    }

    fn compile_list(&mut self, site: Site<'_>, which: &str, node: &Node) -> Option<Cond> {
        let NodeKind::Seq(items) = &node.kind else {
            self.err(
                site,
                Diagnostic::wrong_type(
                    site.file,
                    node.pos,
                    &format!("`{which}`"),
                    "a list of conditions",
                    &node.describe(),
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.compile(site, item) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(if which == "all" { simplify_all(out) } else { Cond::Any(out) })
    }

    /// The slot of a field a rule of `site`'s stage may read, or `None`
    /// after reporting why not.
    /// Notes that a rule reads `duplicate.score`, `duplicate_of` or
    /// `incident.size` (the field at `slot`): a `never-found` warning when
    /// no section finds it (kept until the sections are known).
    pub(crate) fn note_related_read(&mut self, site: Site<'_>, pos: Pos, slot: usize) {
        let def = &self.schema.fields[slot];
        let source = |d| def.source == crate::schema::Source::Derived(d);
        use crate::schema::Derived as D;
        if !(source(D::DuplicateScore) || source(D::DuplicateOf) || source(D::IncidentSize)) {
            return;
        }
        let duplicates = !source(D::IncidentSize);
        let (section, article) = if duplicates { ("duplicates", "a") } else { ("incidents", "an") };
        let d = Diagnostic::custom(
            "never-found",
            Severity::Warning,
            site.file,
            pos,
            format!("`{}` is read, but no `{section}:` section finds it: the test never holds", def.name),
        )
        .in_rule(site.rule)
        .with_help(format!(
            "add {article} `{section}:` section (its `window`, `keys` and `threshold`), or remove the test; in \
             escalation a history's `related` can still give it"
        ));
        self.related_reads.push((duplicates, d));
    }

    pub(crate) fn field_slot(&mut self, site: Site<'_>, field: &str, pos: Pos) -> Option<Slot> {
        let Some(slot) = self.schema.lookup(field) else {
            let mut known = self.schema.names();
            known.extend(["all", "any", "not"]);
            self.err(site, Diagnostic::unknown_field(site.file, pos, field, &known));
            return None;
        };
        let def = &self.schema.fields[slot];
        let related = matches!(
            def.source,
            crate::schema::Source::Derived(
                crate::schema::Derived::DuplicateScore
                    | crate::schema::Derived::DuplicateOf
                    | crate::schema::Derived::IncidentSize
            )
        );
        if related && def.from_stage > site.stage {
            let d = Diagnostic::field_not_available(
                site.file,
                pos,
                &def.name,
                site.stage.section(),
                "duplicates and incidents",
            )
            .with_help(format!(
                "`{}` is found by the `duplicates:` or `incidents:` section when a case is decided, and can be \
                 read from the `priority` stage on (and in escalation, from the history's `related`)",
                def.name
            ));
            self.err(site, d);
            return None;
        }
        if related {
            self.note_related_read(site, pos, slot);
        }
        if matches!(
            def.source,
            crate::schema::Source::Derived(crate::schema::Derived::Sentiment | crate::schema::Derived::SentimentLabel)
        ) {
            let d = Diagnostic::custom(
                "no-sentiment",
                Severity::Warning,
                site.file,
                pos,
                format!(
                    "`{}` is read, but the rule set has no `sentiment:` section: every case is `neutral`, score 0",
                    def.name
                ),
            )
            .in_rule(site.rule)
            .with_help(
                "add `sentiment: { english: vader }` (VADER for English) and the team's own `negative:` and \
                 `positive:` phrases for other languages",
            );
            self.sentiment_reads.push(d);
        }
        if let Some((stage, k, table)) = self.decided.get(&slot)
            && self.reader <= (*stage, *k)
        {
            let when = if self.reader == (*stage, *k) {
                "it is this table's own output".to_string()
            } else {
                format!("side table `{table}` (in `{}`) decides it, after this runs", stage.section())
            };
            let d = Diagnostic::custom(
                "field-not-available",
                Severity::Error,
                site.file,
                pos,
                format!("`{}` is not decided yet here: {when}", def.name),
            )
            .with_help(format!(
                "read `{}` in a later stage, or in a side table written after `{table}`; side tables run after \
                 their stage's rules, in file order",
                def.name
            ));
            self.err(site, d);
            return None;
        }
        if def.from_stage > site.stage {
            let decided_by = match def.from_stage {
                Stage::Territory | Stage::Categorize => "territory",
                Stage::Priority => "categorize",
                Stage::Tiers | Stage::Sla | Stage::Assignment => "tiers",
                Stage::Escalation | Stage::Risk => "escalation",
            };
            self.err(
                site,
                Diagnostic::field_not_available(site.file, pos, &def.name, site.stage.section(), decided_by),
            );
            return None;
        }
        Some(slot)
    }

    fn compile_field(&mut self, site: Site<'_>, field: &str, pos: Pos, spec: &Node) -> Option<Cond> {
        let slot = self.field_slot(site, field, pos)?;
        let def = &self.schema.fields[slot];
        match &spec.kind {
            NodeKind::Map(entries) if !entries.is_empty() => {
                let mut out = Vec::new();
                let mut ok = true;
                for (op_key, value) in entries {
                    match self.compile_op(site, slot, &op_key.name, op_key.pos, value) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then(|| simplify_all(out))
            }
            NodeKind::Map(_) | NodeKind::Null => {
                self.err(
                    site,
                    Diagnostic::wrong_type(
                        site.file,
                        spec.pos,
                        &format!("the test on `{field}`"),
                        "an operator such as `{ eq: … }`",
                        &spec.describe(),
                    ),
                );
                None
            }
            NodeKind::Seq(_) => self.compile_op(site, slot, "in", spec.pos, spec),
            _ => {
                let op = if matches!(def.ty, FieldType::List) { "contains" } else { "eq" };
                self.compile_op(site, slot, op, spec.pos, spec)
            }
        }
    }

    fn compile_op(&mut self, site: Site<'_>, slot: Slot, op: &str, pos: Pos, value: &Node) -> Option<Cond> {
        let def = &self.schema.fields[slot];
        let ty = def.ty.clone();
        let field = def.name.clone();
        if !OPS.contains(&op) {
            self.err(site, Diagnostic::unknown_operator(site.file, pos, op, OPS));
            return None;
        }
        let fits = ops_for(&ty);
        if !fits.contains(&op) {
            self.err(site, Diagnostic::operator_not_applicable(site.file, pos, op, &field, ty.name(), fits));
            return None;
        }
        let label = format!("{field} {op} {}", render(value));
        let op = match op {
            "exists" | "missing" => {
                let NodeKind::Bool(b) = value.kind else {
                    self.err(
                        site,
                        Diagnostic::value_type(
                            site.file,
                            value.pos,
                            &field,
                            op,
                            "`true` or `false`",
                            &value.describe(),
                        ),
                    );
                    return None;
                };
                if (op == "exists") == b { Op::Exists } else { Op::Missing }
            }
            "eq" | "ne" => {
                let s = self.scalar(site, &field, &ty, op, value)?;
                if op == "eq" { Op::Eq(s) } else { Op::Ne(s) }
            }
            "in" | "not_in" => {
                let mut out = Vec::new();
                for item in self.items(site, &field, op, value)? {
                    out.push(self.scalar(site, &field, &ty, op, item)?);
                }
                sort_scalars(&mut out);
                if op == "in" { Op::In(out) } else { Op::NotIn(out) }
            }
            "gt" | "gte" | "lt" | "lte" => {
                let c = match op {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                if matches!(ty, FieldType::String) {
                    Op::TextCmp(c, self.text_bound(site, &field, op, value)?)
                } else {
                    let x = self.number(site, &field, &ty, op, value)?;
                    // A bound outside the range a score can take (a
                    // confidence of 60 meant as a percent) never matches.
                    if let Some((lo, hi)) = score_range(&field) {
                        let never = match c {
                            Cmp::Gt => x >= hi,
                            Cmp::Gte => x > hi,
                            Cmp::Lt => x <= lo,
                            Cmp::Lte => x < lo,
                        };
                        if never {
                            let d = Diagnostic::impossible_condition(
                                site.file,
                                value.pos,
                                format!("`{field}` runs from {lo} to {hi}, so `{op}: {x}` never holds"),
                            );
                            self.err(site, d);
                        }
                    }
                    Op::Cmp(c, x)
                }
            }
            "between" => {
                let items = self.items(site, &field, op, value)?;
                if items.len() != 2 {
                    self.err(
                        site,
                        Diagnostic::value_type(
                            site.file,
                            value.pos,
                            &field,
                            op,
                            "a list of two bounds `[low, high]`",
                            &value.describe(),
                        ),
                    );
                    return None;
                }
                let empty = |lo: &dyn std::fmt::Display, hi: &dyn std::fmt::Display| {
                    Diagnostic::impossible_condition(
                        site.file,
                        value.pos,
                        format!("`{field}` between `{lo}` and `{hi}` is empty: the low bound comes after the high one"),
                    )
                };
                if matches!(ty, FieldType::String) {
                    let lo = self.text_bound(site, &field, op, items[0])?;
                    let hi = self.text_bound(site, &field, op, items[1])?;
                    if lo > hi {
                        self.err(site, empty(&lo, &hi));
                    }
                    return Some(self.push_value(slot, Op::TextBetween(lo, hi), label));
                }
                let lo = self.number(site, &field, &ty, op, items[0])?;
                let hi = self.number(site, &field, &ty, op, items[1])?;
                if lo > hi {
                    self.err(site, empty(&lo, &hi));
                }
                Op::Between(lo, hi)
            }
            "contains" | "contains_any" | "contains_all" => {
                let items: Vec<&Node> =
                    if op == "contains" { vec![value] } else { self.items(site, &field, op, value)? };
                let mut texts = Vec::new();
                for item in items {
                    let Some(t) = item.scalar_text() else {
                        self.err(
                            site,
                            Diagnostic::value_type(site.file, item.pos, &field, op, "text", &item.describe()),
                        );
                        return None;
                    };
                    if t.trim().is_empty() || t.trim() == "*" {
                        self.err(site, Diagnostic::empty_phrase(site.file, item.pos));
                        return None;
                    }
                    texts.push(t);
                }
                let all = op == "contains_all";
                if matches!(ty, FieldType::List) {
                    Op::Items { items: texts.iter().map(|t| t.trim().to_lowercase()).collect(), all }
                } else {
                    let ids = texts.iter().filter_map(|t| self.text.phrase(slot, t)).collect();
                    return Some(self.push(Pred { slot, op: Op::Phrases { ids, all }, label }));
                }
            }
            "matches" => {
                let Some(pattern) = value.as_str() else {
                    self.err(
                        site,
                        Diagnostic::value_type(
                            site.file,
                            value.pos,
                            &field,
                            op,
                            "a regular expression in quotes",
                            &value.describe(),
                        ),
                    );
                    return None;
                };
                match self.text.regex(slot, pattern) {
                    Ok(id) => {
                        return Some(self.push(Pred { slot, op: Op::Regex(id), label }));
                    }
                    Err(e) => {
                        self.err(site, Diagnostic::invalid_regex(site.file, value.pos, &e));
                        return None;
                    }
                }
            }
            "starts_with" | "ends_with" => {
                let mut texts = Vec::new();
                for item in self.items(site, &field, op, value)? {
                    let Some(t) = item.scalar_text() else {
                        self.err(
                            site,
                            Diagnostic::value_type(site.file, item.pos, &field, op, "text", &item.describe()),
                        );
                        return None;
                    };
                    texts.push(t.trim().to_lowercase());
                }
                if op == "starts_with" { Op::StartsWith(texts) } else { Op::EndsWith(texts) }
            }
            _ => return None,
        };
        Some(self.push_value(slot, op, label))
    }

    /// Registers a predicate that reads the field's value.
    pub(crate) fn push_value(&mut self, slot: Slot, op: Op, label: String) -> Cond {
        self.value_slots.insert(slot);
        self.push(Pred { slot, op, label })
    }

    fn text_bound(&mut self, site: Site<'_>, field: &str, op: &str, value: &Node) -> Option<String> {
        match value.scalar_text() {
            Some(t) if !matches!(value.kind, NodeKind::Bool(_)) => Some(t.trim().to_lowercase()),
            _ => {
                self.err(
                    site,
                    Diagnostic::value_type(site.file, value.pos, field, op, "text or a number", &value.describe()),
                );
                None
            }
        }
    }

    fn push(&mut self, p: Pred) -> Cond {
        let id = u32::try_from(self.preds.len()).unwrap_or(u32::MAX);
        self.preds.push(p);
        Cond::Pred(id)
    }

    fn items<'n>(&mut self, site: Site<'_>, field: &str, op: &str, value: &'n Node) -> Option<Vec<&'n Node>> {
        match &value.kind {
            NodeKind::Seq(items) if !items.is_empty() => Some(items.iter().collect()),
            NodeKind::Seq(_) => {
                self.err(
                    site,
                    Diagnostic::value_type(site.file, value.pos, field, op, "a non-empty list", "an empty list"),
                );
                None
            }
            NodeKind::Map(_) | NodeKind::Null => {
                self.err(site, Diagnostic::value_type(site.file, value.pos, field, op, "a list", &value.describe()));
                None
            }
            _ => Some(vec![value]),
        }
    }

    pub(crate) fn number(
        &mut self,
        site: Site<'_>,
        field: &str,
        ty: &FieldType,
        op: &str,
        value: &Node,
    ) -> Option<f64> {
        if matches!(ty, FieldType::DateTime | FieldType::Date) {
            let date_only = *ty == FieldType::Date;
            let parsed = value.as_str().and_then(|s| time_value(s, date_only));
            if parsed.is_none() {
                let expected = if date_only {
                    "a date like `2026-03-02`"
                } else {
                    "an RFC 3339 instant like `2026-03-02T09:00:00+01:00`, or a date like `2026-03-02` (its midnight \
                     UTC)"
                };
                let d = Diagnostic::value_type(site.file, value.pos, field, op, expected, &value.describe());
                self.err(site, d);
            }
            return parsed;
        }
        match &value.kind {
            NodeKind::Int(i) => Some(*i as f64),
            NodeKind::Float(x) => Some(*x),
            // `80%` reads as 80: percentages are how SLA use is written.
            NodeKind::Str(s) if s.trim().strip_suffix('%').is_some_and(|n| n.trim().parse::<f64>().is_ok()) => {
                s.trim().trim_end_matches('%').trim().parse().ok()
            }
            _ => {
                self.err(site, Diagnostic::value_type(site.file, value.pos, field, op, "a number", &value.describe()));
                None
            }
        }
    }

    pub(crate) fn scalar(
        &mut self,
        site: Site<'_>,
        field: &str,
        ty: &FieldType,
        op: &str,
        value: &Node,
    ) -> Option<Scalar> {
        match ty {
            FieldType::Number | FieldType::Date => self.number(site, field, ty, op, value).map(Scalar::Num),
            FieldType::Bool => match value.kind {
                NodeKind::Bool(b) => Some(Scalar::Bool(b)),
                _ => {
                    let d = Diagnostic::value_type(
                        site.file,
                        value.pos,
                        field,
                        op,
                        "`true` or `false`",
                        &value.describe(),
                    )
                    .with_help(
                        "YAML 1.2 reads only `true` and `false` as booleans; `yes`, `no`, `on` and `off` are text",
                    );
                    self.err(site, d);
                    None
                }
            },
            FieldType::String | FieldType::Enum(_) | FieldType::Priority | FieldType::List | FieldType::DateTime => {
                let Some(text) = value.scalar_text() else {
                    self.err(
                        site,
                        Diagnostic::value_type(site.file, value.pos, field, op, "a single value", &value.describe()),
                    );
                    return None;
                };
                let text = text.trim().to_string();
                match ty {
                    FieldType::Enum(values) => {
                        if !values.iter().any(|v| v.eq_ignore_ascii_case(&text)) {
                            let allowed: Vec<&str> = values.iter().map(String::as_str).collect();
                            let d = Diagnostic::invalid_value(
                                site.file,
                                value.pos,
                                format!("`{text}` is not a value of `{field}`"),
                                &allowed,
                                &text,
                            );
                            self.err(site, d);
                            return None;
                        }
                    }
                    FieldType::Priority => {
                        if !self.priorities.iter().any(|p| p.eq_ignore_ascii_case(&text)) {
                            let known: Vec<&str> = self.priorities.iter().map(String::as_str).collect();
                            self.err(site, Diagnostic::unknown_priority(site.file, value.pos, &text, &known));
                            return None;
                        }
                    }
                    _ => {
                        if field == "channel" && !crate::schema::CHANNELS.contains(&text.to_lowercase().as_str()) {
                            let d = Diagnostic::unknown_channel(site.file, value.pos, &text, crate::schema::CHANNELS);
                            self.err(site, d);
                        }
                    }
                }
                Some(Scalar::Str(text.to_lowercase()))
            }
        }
    }
}

/// The range a derived score takes: a model's confidence and a duplicate's
/// score 0 to 1, sentiment −1 to 1.
fn score_range(field: &str) -> Option<(f64, f64)> {
    if (field.starts_with("predicted.") && field.ends_with(".confidence")) || field == "duplicate.score" {
        Some((0.0, 1.0))
    } else if field == "sentiment" || field == "sentiment.score" {
        Some((-1.0, 1.0))
    } else {
        None
    }
}

pub(crate) fn simplify_all(mut items: Vec<Cond>) -> Cond {
    match items.len() {
        0 => Cond::True,
        1 => items.pop().unwrap_or(Cond::True),
        _ => Cond::All(items),
    }
}

/// Renders a YAML value compactly for labels.
fn render(node: &Node) -> String {
    match &node.kind {
        NodeKind::Seq(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        NodeKind::Map(entries) => format!(
            "{{{}}}",
            entries.iter().map(|(k, v)| format!("{}: {}", k.name, render(v))).collect::<Vec<_>>().join(", ")
        ),
        NodeKind::Null => "null".to_string(),
        _ => node.scalar_text().unwrap_or_default(),
    }
}

fn scalar_eq(fact: &Fact<'_>, s: &Scalar) -> bool {
    match (fact, s) {
        (Fact::Str { lower, .. }, Scalar::Str(v)) => lower.as_ref() == v.as_str(),
        (Fact::Num(n), Scalar::Num(v)) => n == v,
        (Fact::Bool(b), Scalar::Bool(v)) => b == v,
        _ => false,
    }
}

/// Puts a value list in the order [`in_list`] searches: text first, sorted
/// and without repeats, then numbers and booleans as written.
pub(crate) fn sort_scalars(list: &mut Vec<Scalar>) {
    list.sort_by(|a, b| match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => x.cmp(y),
        (Scalar::Str(_), _) => std::cmp::Ordering::Less,
        (_, Scalar::Str(_)) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    });
    list.dedup();
}

/// Membership. Lists are in [`sort_scalars`] order, so text is found by
/// binary search however long the list (100,000 accounts cost no more
/// than a few comparisons).
fn in_list(fact: &Fact<'_>, list: &[Scalar]) -> bool {
    match fact {
        Fact::Str { lower, .. } => list
            .binary_search_by(|v| match v {
                Scalar::Str(x) => x.as_str().cmp(lower.as_ref()),
                _ => std::cmp::Ordering::Greater,
            })
            .is_ok(),
        _ => list.iter().any(|s| scalar_eq(fact, s)),
    }
}

/// Evaluates one predicate.
pub(crate) fn test(p: &Pred, facts: &[Fact<'_>], hits: &Hits) -> bool {
    match &p.op {
        Op::Phrases { ids, all } => {
            if *all {
                ids.iter().all(|&i| hits.phrases.get(i as usize))
            } else {
                ids.iter().any(|&i| hits.phrases.get(i as usize))
            }
        }
        Op::Regex(id) => hits.regexes.get(*id as usize),
        Op::Relative { ranges, negate } => {
            test_relative(ranges, *negate, facts.get(p.slot).unwrap_or(&Fact::Missing), |s| {
                facts.get(s).unwrap_or(&Fact::Missing)
            })
        }
        op => test_value(op, facts.get(p.slot).unwrap_or(&Fact::Missing)),
    }
}

/// Evaluates an operator that reads the field's value (phrase and regex
/// tests read the text scan instead, and are false here).
pub(crate) fn test_value(op: &Op, fact: &Fact<'_>) -> bool {
    match op {
        Op::Phrases { .. } | Op::Regex(_) | Op::Relative { .. } => false,
        Op::Ranges { ranges, negate } => {
            let inside = matches!(fact, Fact::Num(x) if ranges.iter().any(|r| r.contains(*x)));
            inside != *negate
        }
        Op::Pattern { re, negate } => {
            let found = matches!(fact, Fact::Str { raw, .. } if re.0.is_match(raw));
            found != *negate
        }
        Op::Exists => !matches!(fact, Fact::Missing),
        Op::Missing => matches!(fact, Fact::Missing),
        Op::Eq(s) => scalar_eq(fact, s),
        Op::Ne(s) => !scalar_eq(fact, s),
        Op::In(list) => in_list(fact, list),
        Op::NotIn(list) => !in_list(fact, list),
        Op::Cmp(c, v) => match fact {
            Fact::Num(n) => match c {
                Cmp::Gt => n > v,
                Cmp::Gte => n >= v,
                Cmp::Lt => n < v,
                Cmp::Lte => n <= v,
            },
            _ => false,
        },
        Op::Between(lo, hi) => matches!(fact, Fact::Num(n) if n >= lo && n <= hi),
        Op::Items { items, all } => match fact {
            Fact::List(have) => {
                if *all {
                    items.iter().all(|i| have.contains(i))
                } else {
                    items.iter().any(|i| have.contains(i))
                }
            }
            _ => false,
        },
        Op::StartsWith(list) => {
            matches!(fact, Fact::Str { lower, .. } if list.iter().any(|t| lower.starts_with(t.as_str())))
        }
        Op::EndsWith(list) => {
            matches!(fact, Fact::Str { lower, .. } if list.iter().any(|t| lower.ends_with(t.as_str())))
        }
        Op::TextCmp(c, bound) => match fact {
            Fact::Str { lower, .. } => {
                let v: &str = lower;
                match c {
                    Cmp::Gt => v > bound.as_str(),
                    Cmp::Gte => v >= bound.as_str(),
                    Cmp::Lt => v < bound.as_str(),
                    Cmp::Lte => v <= bound.as_str(),
                }
            }
            _ => false,
        },
        Op::TextBetween(lo, hi) => {
            matches!(fact, Fact::Str { lower, .. } if lower.as_ref() >= lo.as_str() && lower.as_ref() <= hi.as_str())
        }
    }
}

/// Evaluates a condition tree.
pub(crate) fn eval(c: &Cond, preds: &[Pred], facts: &[Fact<'_>], hits: &Hits) -> bool {
    match c {
        Cond::True => true,
        Cond::Pred(i) => preds.get(*i as usize).is_some_and(|p| test(p, facts, hits)),
        Cond::All(items) => items.iter().all(|c| eval(c, preds, facts, hits)),
        Cond::Any(items) => items.iter().any(|c| eval(c, preds, facts, hits)),
        Cond::Not(inner) => !eval(inner, preds, facts, hits),
    }
}

/// Context for explaining conditions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Explainer<'a> {
    pub preds: &'a [Pred],
    pub facts: &'a [Fact<'a>],
    pub hits: &'a Hits,
    pub phrase_text: &'a [String],
    pub schema: &'a Schema,
}

impl Explainer<'_> {
    fn actual(&self, p: &Pred) -> String {
        let field = &self.schema.fields[p.slot].name;
        match &p.op {
            Op::Phrases { ids, all } => {
                let found: Vec<&str> = ids
                    .iter()
                    .filter(|&&i| self.hits.phrases.get(i as usize))
                    .filter_map(|&i| self.phrase_text.get(i as usize).map(String::as_str))
                    .collect();
                if *all {
                    let missing: Vec<&str> = ids
                        .iter()
                        .filter(|&&i| !self.hits.phrases.get(i as usize))
                        .filter_map(|&i| self.phrase_text.get(i as usize).map(String::as_str))
                        .collect();
                    if missing.is_empty() {
                        format!("all found in `{field}`")
                    } else {
                        format!("`{field}` lacks {}", quote_list(&missing))
                    }
                } else if found.is_empty() {
                    format!("none found in `{field}`")
                } else {
                    format!("found {}", quote_list(&found))
                }
            }
            Op::Regex(_) => {
                if self.hits.regexes.get(match p.op {
                    Op::Regex(i) => i as usize,
                    _ => 0,
                }) {
                    format!("`{field}` matches")
                } else {
                    format!("`{field}` does not match")
                }
            }
            Op::Relative { ranges, .. } => {
                // The other inputs the cell compares with, by their values.
                let mut shown = vec![format!("`{field}` is {}", self.value(p.slot))];
                for slot in ranges.iter().flat_map(|r| [r.lo, r.hi]).flatten() {
                    let text = format!("`{}` is {}", self.schema.fields[slot].name, self.value(slot));
                    if !shown.contains(&text) {
                        shown.push(text);
                    }
                }
                shown.join(", ")
            }
            _ => format!("`{field}` is {}", self.value(p.slot)),
        }
    }

    /// A field's value as a trace shows it: instants in RFC 3339, dates
    /// as dates.
    fn value(&self, slot: Slot) -> String {
        let fact = self.facts.get(slot).unwrap_or(&Fact::Missing);
        match (fact, &self.schema.fields[slot].ty) {
            (Fact::Num(n), FieldType::DateTime) => chrono::DateTime::from_timestamp(*n as i64, 0)
                .map_or_else(|| fact.describe(), |t| format!("`{}`", t.to_rfc3339())),
            (Fact::Num(n), FieldType::Date) => chrono::DateTime::from_timestamp(*n as i64, 0)
                .map_or_else(|| fact.describe(), |t| format!("`{}`", t.format("%Y-%m-%d"))),
            _ => fact.describe(),
        }
    }

    /// Why a condition that held, held: the leaves that decided it.
    pub fn why_matched(&self, c: &Cond) -> String {
        let mut out = Vec::new();
        self.collect_true(c, &mut out);
        if out.is_empty() { "no condition (matches every case)".to_string() } else { out.join("; ") }
    }

    fn collect_true(&self, c: &Cond, out: &mut Vec<String>) {
        match c {
            Cond::True => {}
            Cond::Pred(i) => {
                if let Some(p) = self.preds.get(*i as usize) {
                    out.push(format!("{} ({})", p.label, self.actual(p)));
                }
            }
            Cond::All(items) => items.iter().for_each(|c| self.collect_true(c, out)),
            Cond::Any(items) => {
                if let Some(first) = items.iter().find(|c| eval(c, self.preds, self.facts, self.hits)) {
                    self.collect_true(first, out);
                }
            }
            Cond::Not(inner) => out.push(format!("not ({})", self.why_not(inner).unwrap_or_default())),
        }
    }

    /// Why a condition did not hold: the first leaf that failed, with the
    /// actual value. `None` if it holds.
    pub fn why_not(&self, c: &Cond) -> Option<String> {
        if eval(c, self.preds, self.facts, self.hits) {
            return None;
        }
        Some(match c {
            Cond::True => String::new(),
            Cond::Pred(i) => match self.preds.get(*i as usize) {
                Some(p) => format!("{} failed: {}", p.label, self.actual(p)),
                None => String::new(),
            },
            Cond::All(items) => items.iter().find_map(|c| self.why_not(c)).unwrap_or_default(),
            Cond::Any(items) => {
                let mut s = String::from("none of the alternatives held: ");
                let parts: Vec<String> = items.iter().filter_map(|c| self.why_not(c)).collect();
                let _ = write!(s, "{}", parts.join(" | "));
                s
            }
            Cond::Not(inner) => format!("`not` failed because {}", self.why_matched(inner)),
        })
    }
}

fn quote_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}
