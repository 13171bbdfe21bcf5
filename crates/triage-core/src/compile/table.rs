//! `table:` entries: a stage's rules written as a decision table.
//!
//! ```yaml
//! tiers:
//!   - id: tier-matrix
//!     table:
//!       hit: first
//!       inputs: { cat: category, pri: priority, users: affected_users }
//!       outputs: [tier]
//!       rows: |
//!         eng-p1:  outage, security | P1      | -       => 3
//!         crowd:   -                | -       | >= 100  => 2
//!                  -                | -       | -       => 1
//! ```
//!
//! Each row becomes a rule of the stage (id: the row's, else
//! `{table}#{line}`), its condition the conjunction of its cells, its action
//! what the stage's own keys would say with the output cells as values; the
//! table keeps the hit policy and the column index that evaluation uses.

use super::{Compiler, Obj, Shape};
use crate::cond::{Cmp, Cond, CondCompiler, Op, Pattern, Range, RelRange, Scalar, Site};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::name::Name;
use crate::rules::{Feed, Rule, RuleMeta, SideTable};
use crate::schema::{FieldType, Slot, Source, Stage};
use crate::syntax::{Key, Node, NodeKind};
use crate::table::{CellKey, Hit, RowDraft, Table, key_of};
use std::collections::BTreeMap;
use std::sync::Arc;

const CELL_HELP: &str = "a cell is `-` (any value), values `\"gold\", \"platinum\"`, a comparison `> 5`, an interval \
                         `[1..5]` or `(1..5]`, `not(…)` around any of these, or a regex `/…/`";
const ROW_HELP: &str = "write a row as `id: cell | cell => output | output` (the id is optional)";

/// An output column a stage's tables may fill: its name, the mapping it
/// belongs in (`set.category`), and whether it takes a list.
type OutputKey = (&'static str, Option<&'static str>, bool);

fn outputs_for(stage: Stage) -> &'static [OutputKey] {
    match stage {
        Stage::Categorize => &[
            ("category", Some("set"), false),
            ("priority", Some("set"), false),
            ("product", Some("set"), false),
            ("skills", Some("set"), true),
            ("tags", Some("set"), true),
            ("confidence", None, false),
        ],
        Stage::Priority => {
            &[("raise", None, false), ("lower", None, false), ("set", None, false), ("stop", None, false)]
        }
        Stage::Tiers => &[("tier", None, false), ("articles", None, true)],
        Stage::Sla => &[
            ("calendar", None, false),
            ("first_response", Some("targets"), false),
            ("next_response", Some("targets"), false),
            ("resolution", Some("targets"), false),
            ("update", Some("targets"), false),
        ],
        Stage::Assignment => &[("team", None, false), ("skills", None, true)],
        Stage::Territory => &[("parent", None, false), ("priority", None, false), ("calendar", None, false)],
        Stage::Escalation | Stage::Risk => &[],
    }
}

/// An output column as declared.
struct OutCol {
    name: String,
    parent: Option<&'static str>,
    list: bool,
    /// Declared order of values, lower-cased, for the `priority` policy.
    order: Option<Vec<String>>,
    /// A field declared in `fields:`, and its type.
    custom: Option<(Slot, FieldType)>,
    pos: Pos,
}

/// The list outputs of a stage's tables, for messages: "`tags`, `skills`".
fn list_names(allowed: &[OutputKey]) -> String {
    let names: Vec<String> = allowed.iter().filter(|(_, _, list)| *list).map(|(n, _, _)| format!("`{n}`")).collect();
    if names.is_empty() { "none of the stage's own".to_string() } else { names.join(", ") }
}

/// What a side table fills, and the rows' values for it.
pub(super) enum TableOut {
    /// A table among the stage's rules.
    Stage(Table),
    /// A side table (see [`SideTable`]).
    Side(SideTable),
}

/// An output cell of a custom field as the JSON value the field holds.
fn custom_value(ty: &FieldType, node: &Node) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let text = node.scalar_text().unwrap_or_default();
    match (ty, &node.kind) {
        (FieldType::Number, NodeKind::Int(i)) => Ok(Value::from(*i)),
        (FieldType::Number, NodeKind::Float(x)) if x.is_finite() => Ok(Value::from(*x)),
        (FieldType::Number, _) => Err(format!("`{text}` is not a finite number")),
        (FieldType::Bool, NodeKind::Bool(b)) => Ok(Value::Bool(*b)),
        (FieldType::Bool, _) => Err(format!("`{text}` is not `true` or `false`")),
        (FieldType::List, NodeKind::Seq(_)) => Ok(node.to_json()),
        (FieldType::List, _) => Ok(Value::Array(vec![Value::String(text)])),
        (FieldType::Enum(values), _) => match values.iter().find(|v| v.eq_ignore_ascii_case(&text)) {
            Some(v) => Ok(Value::String(v.clone())),
            None => Err(format!("`{text}` is not one of the field's values ({})", values.join(", "))),
        },
        (FieldType::Date, _) => match crate::cond::time_value(&text, true) {
            Some(_) => Ok(Value::String(text.trim().to_string())),
            None => Err(format!("`{text}` is not a date like `2026-03-02`")),
        },
        (FieldType::DateTime, _) => match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Ok(Value::String(t.with_timezone(&chrono::Utc).to_rfc3339())),
            Err(_) => Err(format!("`{text}` is not an RFC 3339 instant like `2026-03-01T09:00:00Z`")),
        },
        _ => Ok(Value::String(text)),
    }
}

/// A row split into its parts, each with its position.
struct RawRow {
    id: Option<(String, Pos)>,
    pos: Pos,
    inputs: Vec<(String, Pos)>,
    outputs: Vec<(String, Pos)>,
}

/// Splits `text` at top-level `sep` characters (outside quotes, regexes,
/// brackets and parentheses). Returns each part with its character offset.
fn split_top(text: &str, seps: &[&str]) -> Result<Vec<(usize, String, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut quote, mut regex, mut depth) = (false, false, 0i32);
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quote {
            if c == '\\' {
                i += 1;
            } else if c == '"' {
                quote = false;
            }
        } else if regex {
            if c == '\\' {
                i += 1;
            } else if c == '/' {
                regex = false;
            }
        } else {
            // A `/` opens a regex at the start of a part, or after `(` or `,`.
            let lead = chars[start..i].iter().rev().find(|c| !c.is_whitespace());
            match c {
                '"' => quote = true,
                '/' if matches!(lead, None | Some('(' | ',')) => regex = true,
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ => {}
            }
            if depth <= 0 && !quote && !regex {
                let rest: String = chars[i..].iter().take(2).collect();
                if let Some((k, sep)) = seps.iter().enumerate().find(|(_, s)| rest.starts_with(**s)) {
                    out.push((start, chars[start..i].iter().collect(), k));
                    i += sep.chars().count();
                    start = i;
                    depth = 0;
                    continue;
                }
            }
        }
        i += 1;
    }
    if quote {
        return Err("a quoted value is not closed".to_string());
    }
    if regex {
        return Err("a regex `/…/` is not closed".to_string());
    }
    out.push((start, chars[start..].iter().collect(), usize::MAX));
    Ok(out)
}

/// `text` without its surrounding quotes, escapes resolved.
fn unquote(text: &str) -> String {
    let t = text.trim();
    match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => t.to_string(),
    }
}

fn at(pos: Pos, offset: usize) -> Pos {
    Pos::new(pos.line, pos.column + u32::try_from(offset).unwrap_or(0))
}

/// Splits one row's text: an optional `id:` prefix, input cells, `=>`,
/// output cells.
fn split_row(text: &str, pos: Pos) -> Result<RawRow, (Pos, String)> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim_start();
    let mut id = None;
    let mut offset = lead;
    let id_len = body.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))).unwrap_or(0);
    if id_len > 0
        && body[id_len..].starts_with(':')
        && body[id_len + 1..].chars().next().is_none_or(char::is_whitespace)
    {
        id = Some((body[..id_len].to_string(), at(pos, lead)));
        offset = lead + id_len + 1;
    }
    let rest: String = text.chars().skip(offset).collect();
    let parts = split_top(&rest, &["=>", "|"]).map_err(|e| (at(pos, offset), e))?;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut in_outputs = false;
    let mut arrows = 0;
    for (start, cell, sep) in parts {
        let trimmed_lead = cell.len() - cell.trim_start().len();
        let cell_pos = at(pos, offset + start + cell[..trimmed_lead].chars().count());
        let value = cell.trim().to_string();
        if in_outputs {
            outputs.push((value, cell_pos))
        } else {
            inputs.push((value, cell_pos))
        }
        if sep == 0 {
            arrows += 1;
            in_outputs = true;
        }
    }
    if arrows != 1 {
        let opened = rest.matches(['[', '(']).count();
        let closed = rest.matches([']', ')']).count();
        let why = if arrows == 0 && rest.contains("=>") && opened > closed {
            "has a bracket that is not closed, so its `=>` is read inside the interval (an interval open at its \
             end is written `[1..5)`, not DMN's `[1..5[`)"
        } else if arrows == 0 {
            "has no `=>` between its inputs and outputs"
        } else {
            "has more than one `=>`"
        };
        return Err((pos, format!("this row {why}")));
    }
    Ok(RawRow { id, pos: at(pos, lead), inputs, outputs })
}

/// An output cell as the YAML value the stage's key would hold; `None`
/// for `-`.
fn output_node(text: &str, pos: Pos, list: bool) -> Result<Option<Node>, String> {
    let t = text.trim();
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    if list {
        let items = split_top(t, &[","])?
            .into_iter()
            .map(|(off, item, _)| Node { pos: at(pos, off), kind: NodeKind::Str(unquote(&item)) })
            .collect();
        return Ok(Some(Node { pos, kind: NodeKind::Seq(items) }));
    }
    let kind = if t.starts_with('"') {
        NodeKind::Str(unquote(t))
    } else if t == "true" || t == "false" {
        NodeKind::Bool(t == "true")
    } else if let Ok(i) = t.parse::<i64>() {
        NodeKind::Int(i)
    } else if let Ok(x) = t.parse::<f64>()
        && x.is_finite()
    {
        NodeKind::Float(x)
    } else {
        NodeKind::Str(t.to_string())
    };
    Ok(Some(Node { pos, kind }))
}

/// A cell starting with `>=`, `<=`, `>` or `<`: the comparison and the rest.
fn comparison(cell: &str) -> Option<(Cmp, &str)> {
    [(">=", Cmp::Gte), ("<=", Cmp::Lte), (">", Cmp::Gt), ("<", Cmp::Lt)]
        .into_iter()
        .find_map(|(op, c)| cell.strip_prefix(op).map(|rest| (c, rest)))
}

/// `a` or `an` before a section's name as spoken (`an sla`).
fn article(section: &str) -> &'static str {
    if section == "sla" || section.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// What a column of this type holds, for messages.
fn ty_values(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Date => "date",
        FieldType::DateTime => "instant",
        _ => "number",
    }
}

/// The output columns of a `table:` entry's spec (`node`), with their
/// positions, when the table is a side table of `stage`: a multi-hit
/// policy, or no output that decides the stage. Read before anything is
/// compiled, so that the fields side tables decide are known to every rule.
pub(super) fn side_outputs(stage: Stage, node: &Node) -> Option<Vec<(String, Pos)>> {
    if !side_capable(stage) {
        return None;
    }
    let NodeKind::Map(entries) = &node.kind else { return None };
    let get = |key: &str| entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v);
    let hit = match get("hit") {
        Some(h) => parse_hit(&h.scalar_text()?)?,
        None => Hit::First,
    };
    let names: Vec<(String, Pos)> = match get("outputs").map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items
            .iter()
            .filter_map(|i| match &i.kind {
                NodeKind::Map(e) => e.first().map(|(k, _)| (k.name.clone(), k.pos)),
                _ => i.scalar_text().map(|t| (t, i.pos)),
            })
            .collect(),
        _ => Vec::new(),
    };
    let deciding = names.iter().any(|(n, _)| outputs_for(stage).iter().any(|(o, _, list)| o == n && !list));
    (!hit.single() || !deciding).then_some(names)
}

/// [`side_outputs`] of a stage's entry (a rule, or `id` and `table:`),
/// when it is a side table.
pub(super) fn side_entry_outputs(stage: Stage, entry: &Node) -> Option<Vec<(String, Pos)>> {
    let NodeKind::Map(entries) = &entry.kind else { return None };
    let (_, spec) = entries.iter().find(|(key, _)| key.name == "table")?;
    side_outputs(stage, spec)
}

/// Whether a stage's tables may be side tables (the stages whose answer
/// is one rule's, with lists and custom fields beside it).
fn side_capable(stage: Stage) -> bool {
    matches!(stage, Stage::Categorize | Stage::Tiers | Stage::Sla | Stage::Assignment)
}

/// A hit policy by its written name, white space and case aside.
fn parse_hit(text: &str) -> Option<Hit> {
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    let name = words.join(" ");
    Hit::ALL.into_iter().find(|h| h.name() == name)
}

impl Compiler<'_> {
    /// Compiles a `table:` entry of a stage: its rows become rules appended
    /// to `out` (and shapes to `shapes`); returns the table, or `None` after
    /// reporting its problems.
    #[expect(clippy::too_many_arguments, reason = "the stage walk's state, handed to one of its entries")]
    pub(super) fn table_item<'c, A>(
        &mut self,
        stage: Stage,
        file: usize,
        obj: &Obj<'_>,
        table_id: &str,
        cc: &mut CondCompiler<'c>,
        ids: &mut BTreeMap<String, (usize, u32)>,
        action: &mut impl FnMut(&mut Self, &mut CondCompiler<'c>, usize, &Obj<'_>, &str) -> Option<A>,
        out: &mut Vec<Rule<A>>,
        shapes: &mut Vec<Shape>,
    ) -> Option<TableOut> {
        let rule = Some(table_id);
        let node = obj.get("table")?;
        let side_capable = side_capable(stage);
        let spec = self.obj(file, node, "a `table`", &["hit", "inputs", "outputs", "rows"], rule)?;

        // Hit policy, and whether this stage can use it.
        let hit = match spec.get("hit") {
            None => Hit::First,
            Some(h) => {
                let text = h.scalar_text().unwrap_or_default();
                match parse_hit(&text) {
                    Some(hit) => hit,
                    None => {
                        let names: Vec<&str> = Hit::ALL.iter().map(|h| h.name()).collect();
                        let d = Diagnostic::invalid_value(
                            self.file(file),
                            h.pos,
                            format!("`{text}` is not a hit policy"),
                            &names,
                            &text,
                        );
                        self.diags.push(d.in_rule(rule));
                        return None;
                    }
                }
            }
        };
        let hit_pos = spec.get("hit").map_or(spec.pos, |h| h.pos);
        // A table that decides none of its stage's own answer is a side
        // table: it runs after the stage and adds to lists and custom
        // fields. A multi-hit table can only be one. Its cells read what the
        // stage decided, as the next stage's rules do.
        let side = side_outputs(stage, node).is_some();
        let read_stage = match stage {
            Stage::Categorize if side => Stage::Priority,
            Stage::Tiers if side => Stage::Sla,
            Stage::Sla if side => Stage::Assignment,
            Stage::Assignment if side => Stage::Escalation,
            other => other,
        };
        let site = Site { file: self.file(file), rule, stage: read_stage };
        let refuse = match stage {
            Stage::Territory if hit != Hit::First => Some((
                "territories are resolved by depth, then `priority`, then file order; a territories table takes no \
                 hit policy"
                    .to_string(),
                "a `territories` table lists territories by row, first to last",
            )),
            Stage::Escalation | Stage::Risk => Some((
                format!("`{}` has no tables", stage.section()),
                "write escalation rules with `when` and `do`; a side table elsewhere can fill a field they read",
            )),
            _ => None,
        };
        if let Some((why, help)) = refuse {
            self.refuse(file, hit_pos, rule, why, help);
            return None;
        }

        // Input columns: a list of fields, or a mapping of names to fields.
        let mut columns: Vec<(String, Slot, Pos)> = Vec::new();
        let mut ok = true;
        match spec.get("inputs").map(|n| (&n.kind, n)) {
            Some((NodeKind::Seq(items), _)) => {
                for item in items {
                    let Some(field) = self.text(file, item, "an input column", rule) else {
                        ok = false;
                        continue;
                    };
                    match cc.field_slot(site, &field, item.pos) {
                        Some(slot) => columns.push((field, slot, item.pos)),
                        None => ok = false,
                    }
                }
            }
            Some((NodeKind::Map(entries), _)) => {
                for (k, v) in entries {
                    let Some(field) = self.text(file, v, "an input column's field", rule) else {
                        ok = false;
                        continue;
                    };
                    match cc.field_slot(site, &field, v.pos) {
                        Some(slot) => columns.push((k.name.clone(), slot, k.pos)),
                        None => ok = false,
                    }
                }
            }
            Some((_, n)) => {
                let d = Diagnostic::wrong_type(
                    self.file(file),
                    n.pos,
                    "`inputs`",
                    "a list of fields or a mapping of column names to fields",
                    &n.describe(),
                );
                self.diags.push(d.in_rule(rule));
                return None;
            }
            None => {
                self.diags
                    .push(Diagnostic::missing_key(self.file(file), spec.pos, "inputs", "a `table`").in_rule(rule));
                return None;
            }
        }
        for (i, (name, _, pos)) in columns.iter().enumerate() {
            if columns[..i].iter().any(|(n, _, _)| n == name) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), *pos, "column", name).in_rule(rule));
                ok = false;
            }
        }

        // Output columns: names, each optionally with its order of values.
        let allowed = outputs_for(stage);
        let allowed_names: Vec<&str> = allowed.iter().map(|(n, _, _)| *n).collect();
        let mut outs: Vec<OutCol> = Vec::new();
        let out_items = match spec.get("outputs") {
            Some(n) => self.list(file, n, "`outputs`"),
            None if stage == Stage::Territory => &[],
            None => {
                self.diags
                    .push(Diagnostic::missing_key(self.file(file), spec.pos, "outputs", "a `table`").in_rule(rule));
                return None;
            }
        };
        for item in out_items {
            let (name, pos, order) = match &item.kind {
                NodeKind::Map(entries) if entries.len() == 1 => {
                    let (k, v) = &entries[0];
                    let listed = self.text_list(file, v, "an output's order", rule);
                    let order: Vec<String> = listed.iter().map(|(t, _)| t.to_lowercase()).collect();
                    // The order itself: some values, each once, and
                    // priorities on the scale.
                    let is_priority = (stage == Stage::Categorize && k.name == "priority")
                        || (stage == Stage::Priority && k.name == "set");
                    let mut problem = None;
                    if listed.is_empty() && matches!(v.kind, NodeKind::Seq(_)) {
                        problem = Some((v.pos, format!("the declared order of output `{}` lists no value", k.name)));
                    }
                    for (i, (text, at)) in listed.iter().enumerate() {
                        if order[..i].contains(&order[i]) {
                            problem =
                                Some((*at, format!("`{text}` is listed twice in the order of output `{}`", k.name)));
                        } else if is_priority && !cc.priorities.iter().any(|p| p.eq_ignore_ascii_case(text)) {
                            problem =
                                Some((*at, format!("`{text}` in the order of output `{}` is not a priority", k.name)));
                        }
                    }
                    if let Some((at, message)) = problem {
                        let d = Diagnostic::custom("invalid-value", Severity::Error, self.file(file), at, message)
                            .with_help("list each value once, most wanted first, e.g. `outputs: [{tier: [3, 2, 1]}]`");
                        self.diags.push(d.in_rule(rule));
                        ok = false;
                    }
                    (k.name.clone(), k.pos, Some(order))
                }
                _ => match self.text(file, item, "an output column", rule) {
                    Some(t) => (t, item.pos, None),
                    None => {
                        ok = false;
                        continue;
                    }
                },
            };
            // A field declared in `fields:` may be a side table's output.
            let custom = cc
                .schema
                .lookup(&name)
                .filter(|&slot| side_capable && cc.schema.fields[slot].source == Source::Custom)
                .map(|slot| (slot, cc.schema.fields[slot].ty.clone()));
            let (parent, list) = match (allowed.iter().find(|(n, _, _)| *n == name), &custom) {
                (Some((_, parent, list)), _) => (*parent, *list),
                (None, Some((_, ty))) => (None, *ty == FieldType::List),
                (None, None) => {
                    let context = format!("the outputs of a `{}` table", stage.section());
                    let mut d = Diagnostic::unknown_key(self.file(file), pos, &name, &context, &allowed_names);
                    if side_capable {
                        d = d.with_help(format!(
                            "a `{}` table's outputs are {}, or a field declared in `fields:`",
                            stage.section(),
                            allowed_names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    self.diags.push(d.in_rule(rule));
                    ok = false;
                    continue;
                }
            };
            if outs.iter().any(|o| o.name == name) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), pos, "output", &name).in_rule(rule));
                ok = false;
                continue;
            }
            // A declared order of a custom field lists values of its type.
            if let (Some(order), Some((_, ty))) = (&order, &custom) {
                let stray = order.iter().find(|v| match ty {
                    FieldType::Enum(values) => !values.iter().any(|x| x.eq_ignore_ascii_case(v)),
                    FieldType::Number => v.parse::<f64>().map_or(true, |x| !x.is_finite()),
                    _ => false,
                });
                if let Some(v) = stray {
                    let d = Diagnostic::custom(
                        "invalid-value",
                        Severity::Error,
                        self.file(file),
                        pos,
                        format!("`{v}` in the order of output `{name}` is not a value of its `{}` field", ty.name()),
                    )
                    .with_help("list the field's own values, most wanted first");
                    self.diags.push(d.in_rule(rule));
                    ok = false;
                }
            }
            outs.push(OutCol { name, parent, list, order, custom, pos });
        }
        let deciding: Vec<&OutCol> = outs.iter().filter(|o| o.custom.is_none() && !o.list).collect();
        if side {
            if let Some(o) = deciding.first() {
                let message = format!(
                    "hit `{}` gives every matching row, and `{}` takes one value; the outputs of a `{}` table with \
                     this policy are lists ({}) or fields declared in `fields:`",
                    hit.name(),
                    o.name,
                    stage.section(),
                    list_names(allowed),
                );
                let help = format!("decide `{}` in a `first`, `unique`, `any` or `priority` table of its own", o.name);
                self.refuse(file, hit_pos, rule, message, help);
                ok = false;
            }
            for o in &outs {
                let problem = match (&o.custom, hit) {
                    (Some((_, FieldType::Number)), Hit::Collect(Some(_))) => None,
                    (_, Hit::Collect(Some(_))) => Some(format!(
                        "hit `{}` makes one number, and `{}` is not a field of type `number` declared in `fields:`",
                        hit.name(),
                        o.name
                    )),
                    (Some((_, ty)), h) if !h.single() && *ty != FieldType::List => Some(format!(
                        "hit `{}` gives every matching row, and `{}` is {} `{}` field holding one value",
                        hit.name(),
                        o.name,
                        article(ty.name()),
                        ty.name()
                    )),
                    _ => None,
                };
                if let Some(message) = problem {
                    let help = "aggregate into a `number` field with `collect sum`, `min`, `max` or `count`; gather \
                                rows into a `list` field with `collect`, `rule_order` or `output_order`";
                    self.refuse(file, o.pos, rule, message, help);
                    ok = false;
                }
            }
        } else if side_capable && let Some(o) = outs.iter().find(|o| o.custom.is_some()) {
            let message = format!(
                "`{}` is a field declared in `fields:`; this table decides `{}`, and a table that decides a stage's \
                 answer fills only the stage's own outputs",
                o.name,
                deciding.first().map_or("", |d| d.name.as_str())
            );
            let help = format!("decide `{}` in a table of its own (a side table), in the same stage", o.name);
            self.refuse(file, o.pos, rule, message, help);
            ok = false;
        }
        let has = |n: &str| outs.iter().any(|o| o.name == n);
        let needed = if side {
            None
        } else {
            match stage {
                Stage::Categorize if !has("category") => Some("`category`"),
                Stage::Tiers if !has("tier") => Some("`tier`"),
                Stage::Priority if !(has("raise") || has("lower") || has("set")) => Some("`raise`, `lower` or `set`"),
                Stage::Sla if !["first_response", "next_response", "resolution", "update"].iter().any(|t| has(t)) => {
                    Some("`first_response`, `next_response`, `resolution` or `update`")
                }
                _ => None,
            }
        };
        if let Some(what) = needed {
            let all: Vec<String> = allowed_names.iter().map(|n| format!("`{n}`")).collect();
            let d = Diagnostic::custom(
                "missing-key",
                Severity::Error,
                self.file(file),
                spec.pos,
                format!("{} `{}` table needs an output column {what}", article(stage.section()), stage.section()),
            )
            .with_help(format!(
                "{} `{}` table's outputs are {}",
                article(stage.section()),
                stage.section(),
                all.join(", ")
            ));
            self.diags.push(d.in_rule(rule));
            ok = false;
        }
        if let Hit::Collect(Some(_)) = hit
            && has("set")
        {
            let d = Diagnostic::custom(
                "table-hit-policy",
                Severity::Error,
                self.file(file),
                hit_pos,
                format!("hit `{}` adds up steps; `set` names a priority and cannot be added", hit.name()),
            )
            .with_help("aggregate `raise` or `lower`, or use `first` or `priority` with `set`");
            self.diags.push(d.in_rule(rule));
            ok = false;
        }
        // The priority policy ranks rows by the declared orders; a priority
        // output is ordered by the scale when no order is written.
        if matches!(hit, Hit::Priority | Hit::OutputOrder) {
            for o in &mut outs {
                let is_priority = (stage == Stage::Categorize && o.name == "priority")
                    || (stage == Stage::Priority && o.name == "set");
                if o.order.is_none() && is_priority {
                    o.order = Some(cc.priorities.iter().map(|p| p.to_lowercase()).collect());
                }
            }
            if !outs.iter().any(|o| o.order.is_some()) {
                let first = outs.first().map_or("tier", |o| o.name.as_str()).to_string();
                let d = Diagnostic::custom(
                    "table-hit-policy",
                    Severity::Error,
                    self.file(file),
                    hit_pos,
                    format!(
                        "hit `{}` orders rows by their outputs' places in a declared order, and no output declares one",
                        hit.name()
                    ),
                )
                .with_help(format!(
                    "declare it in `outputs`, most wanted first, e.g. `outputs: [{{{first}: [a, b, c]}}]`"
                ));
                self.diags.push(d.in_rule(rule));
                ok = false;
            }
        }

        // Rows: a block of lines, or a list of one-line strings.
        let mut raw_rows: Vec<(String, Pos)> = Vec::new();
        match spec.get("rows") {
            Some(Node { kind: NodeKind::Str(text), pos }) => {
                for (i, line) in text.lines().enumerate() {
                    // A `#` after white space outside quotes and regexes
                    // starts a comment.
                    let full = line;
                    let line = match split_top(line, &[" #", "\t#"]) {
                        Ok(parts) => parts.into_iter().next().map_or(String::new(), |(_, t, _)| t),
                        Err(_) => line.to_string(),
                    };
                    let t = line.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    let line_no = pos.line + u32::try_from(i).unwrap_or(0);
                    // A comment where a cell's value should be: `=> #chan`.
                    if line.len() < full.len() && (t.ends_with("=>") || t.ends_with('|')) {
                        let at = Pos::new(line_no, pos.column + u32::try_from(line.len()).unwrap_or(0));
                        let d = Diagnostic::custom(
                            "invalid-row",
                            Severity::Error,
                            self.file(file),
                            at,
                            "a `#` after a space starts a comment, and this one leaves the cell before it empty"
                                .to_string(),
                        )
                        .with_help("quote a value that starts with `#`: `\"#support\"`");
                        self.diags.push(d.in_rule(rule));
                        ok = false;
                        continue;
                    }
                    raw_rows.push((line.to_string(), Pos::new(line_no, pos.column)));
                }
            }
            Some(Node { kind: NodeKind::Seq(items), .. }) => {
                for item in items {
                    match self.text(file, item, "a table row", rule) {
                        Some(t) => raw_rows.push((t, item.pos)),
                        None => ok = false,
                    }
                }
            }
            Some(n) => {
                let d = Diagnostic::wrong_type(
                    self.file(file),
                    n.pos,
                    "`rows`",
                    "a block of rows (`rows: |`) or a list of rows",
                    &n.describe(),
                );
                self.diags.push(d.in_rule(rule));
                return None;
            }
            None => {
                self.diags.push(Diagnostic::missing_key(self.file(file), spec.pos, "rows", "a `table`").in_rule(rule));
                return None;
            }
        }
        if raw_rows.is_empty() && !ok {
            return None;
        }
        if raw_rows.is_empty() {
            self.diags.push(
                Diagnostic::custom(
                    "empty-table",
                    Severity::Error,
                    self.file(file),
                    spec.pos,
                    "this table has no rows".to_string(),
                )
                .with_help(ROW_HELP)
                .in_rule(rule),
            );
            return None;
        }
        if !ok {
            return None;
        }

        let inputs: Vec<(String, Slot)> = columns.iter().map(|(n, slot, _)| (n.clone(), *slot)).collect();
        let start = if side { 0 } else { out.len() };
        let mut side_rules: Vec<Rule<()>> = Vec::new();
        let mut drafts: Vec<RowDraft> = Vec::new();
        let mut row_shapes: Vec<Shape> = Vec::new();
        let mut row_ids: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (text, pos) in raw_rows {
            let row = match split_row(&text, pos) {
                Ok(r) => r,
                Err((p, why)) => {
                    let d =
                        Diagnostic::custom("invalid-row", Severity::Error, self.file(file), p, why).with_help(ROW_HELP);
                    self.diags.push(d.in_rule(rule));
                    ok = false;
                    continue;
                }
            };
            if row.inputs.len() != columns.len() || row.outputs.len() != outs.len() {
                let d = Diagnostic::custom(
                    "invalid-row",
                    Severity::Error,
                    self.file(file),
                    row.pos,
                    format!(
                        "this row has {} input and {} output cells; the table has {} inputs ({}) and {} outputs ({})",
                        row.inputs.len(),
                        row.outputs.len(),
                        columns.len(),
                        columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", "),
                        outs.len(),
                        outs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", "),
                    ),
                )
                .with_help(ROW_HELP);
                self.diags.push(d.in_rule(rule));
                ok = false;
                continue;
            }
            let row_id = match &row.id {
                Some((id, id_pos)) => {
                    if row_ids.contains(id) {
                        let d = Diagnostic::duplicate_definition(self.file(file), *id_pos, "row", id);
                        self.diags.push(d.in_rule(rule));
                        ok = false;
                    } else if let Some((f0, l0)) = ids.get(id) {
                        let d = Diagnostic::duplicate_rule_id(self.file(file), *id_pos, id, self.file(*f0), *l0);
                        self.diags.push(d.in_rule(Some(id)));
                        ok = false;
                    } else {
                        ids.insert(id.clone(), (file, row.pos.line));
                    }
                    id.clone()
                }
                None if stage == Stage::Territory => {
                    let d = Diagnostic::missing_key(
                        self.file(file),
                        row.pos,
                        "an id (`id: cells => outputs`)",
                        "a territories table row",
                    )
                    .with_help("the row's id is the territory's name");
                    self.diags.push(d.in_rule(rule));
                    ok = false;
                    continue;
                }
                None => {
                    let id = format!("{table_id}#{}", row.pos.line);
                    if let Some((f0, l0)) = ids.get(&id) {
                        let d = Diagnostic::duplicate_rule_id(self.file(file), row.pos, &id, self.file(*f0), *l0)
                            .with_help("give this row an id of its own (`my-id: cells => outputs`)");
                        self.diags.push(d.in_rule(Some(&id)));
                        ok = false;
                    } else {
                        ids.insert(id.clone(), (file, row.pos.line));
                    }
                    id
                }
            };
            row_ids.insert(row_id.clone());
            let row_site = Site { file: self.file(file), rule: Some(&row_id), stage: read_stage };
            // A row dropped for a warning alone (a cell no value can pass)
            // leaves the table standing; one with an error does not.
            let said_before = (self.diags.len(), cc.diags.len());
            let no_new_error = |c: &Self, cc: &CondCompiler<'_>| {
                !c.diags[said_before.0..].iter().chain(&cc.diags[said_before.1..]).any(Diagnostic::is_error)
            };

            // Cells.
            let mut cells: Vec<(CellKey, Option<u32>)> = Vec::new();
            let mut conds: Vec<Cond> = Vec::new();
            let mut row_ok = true;
            for ((text, cpos), (name, slot, _)) in row.inputs.iter().zip(&columns) {
                match cc.cell(row_site, *slot, name, text, *cpos, &inputs) {
                    Some((key, pred)) => {
                        if let Some(p) = pred {
                            conds.push(Cond::Pred(p));
                        }
                        cells.push((key, pred));
                    }
                    None => row_ok = false,
                }
            }

            // Outputs, as the stage's own keys.
            let mut top: Vec<(Key, Node)> = Vec::new();
            let mut nested: Vec<(&'static str, Vec<(Key, Node)>)> = Vec::new();
            let mut values = Vec::new();
            let mut rank = Vec::new();
            for ((text, cpos), col) in row.outputs.iter().zip(&outs) {
                let node = match output_node(text, *cpos, col.list) {
                    Ok(n) => n,
                    Err(why) => {
                        let d = Diagnostic::custom("invalid-cell", Severity::Error, self.file(file), *cpos, why)
                            .with_help(CELL_HELP);
                        self.diags.push(d.in_rule(Some(&row_id)));
                        row_ok = false;
                        continue;
                    }
                };
                if let Some(order) = &col.order {
                    let value = unquote(text).to_lowercase();
                    // Numbers by value: `1.0` is in an order that says `1`.
                    let number = value.parse::<f64>().ok();
                    let same = |o: &String| *o == value || (number.is_some() && o.parse::<f64>().ok() == number);
                    match order.iter().position(same) {
                        Some(i) => rank.push(u32::try_from(i).unwrap_or(u32::MAX)),
                        None if node.is_none() => rank.push(u32::MAX),
                        None => {
                            let allowed: Vec<&str> = order.iter().map(String::as_str).collect();
                            let d = Diagnostic::invalid_value(
                                self.file(file),
                                *cpos,
                                format!("`{}` is not in the declared order of output `{}`", unquote(text), col.name),
                                &allowed,
                                &value,
                            );
                            self.diags.push(d.in_rule(Some(&row_id)));
                            row_ok = false;
                        }
                    }
                }
                let value = match (&node, &col.custom) {
                    (None, _) => Ok(serde_json::Value::Null),
                    (Some(n), Some((_, ty))) => custom_value(ty, n),
                    (Some(n), None) if side && col.name == "articles" => {
                        let ids = n.to_json();
                        let unknown = ids
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str())
                            .find(|id| !self.article_ids.iter().any(|a| a == id));
                        if let Some(id) = unknown {
                            let known: Vec<&str> = self.article_ids.iter().map(String::as_str).collect();
                            let d = Diagnostic::unknown_article(self.file(file), *cpos, id, &known);
                            self.diags.push(d.in_rule(Some(&row_id)));
                            row_ok = false;
                        }
                        Ok(ids)
                    }
                    (Some(n), None) => Ok(n.to_json()),
                };
                // Rows gathered into several list fields line up item by
                // item: one value per row and output.
                let several = matches!(&value, Ok(serde_json::Value::Array(items)) if items.len() > 1);
                if several && side && !hit.single() && col.custom.is_some() && outs.len() > 1 {
                    let d = Diagnostic::custom(
                        "invalid-value",
                        Severity::Error,
                        self.file(file),
                        *cpos,
                        format!(
                            "`{}` gives several values; in a `{}` table of several outputs each row gives one value \
                             per output, so that item i of every list comes from the same row",
                            text.trim(),
                            hit.name()
                        ),
                    )
                    .with_help("give the row one value here, or gather this output in a table of its own");
                    self.diags.push(d.in_rule(Some(&row_id)));
                    row_ok = false;
                }
                match value {
                    Ok(v) => values.push(v),
                    Err(why) => {
                        let message = format!("{why}, the type of output `{}`", col.name);
                        let d = match &col.custom {
                            Some((_, FieldType::Enum(allowed))) => {
                                let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
                                Diagnostic::invalid_value(
                                    self.file(file),
                                    *cpos,
                                    message,
                                    &allowed,
                                    unquote(text).trim(),
                                )
                            }
                            Some((_, ty)) => {
                                Diagnostic::custom("invalid-value", Severity::Error, self.file(file), *cpos, message)
                                    .with_help(format!("`{}` is a `{}` field", col.name, ty.name()))
                            }
                            None => {
                                Diagnostic::custom("invalid-value", Severity::Error, self.file(file), *cpos, message)
                            }
                        };
                        self.diags.push(d.in_rule(Some(&row_id)));
                        row_ok = false;
                        values.push(serde_json::Value::Null);
                    }
                }
                let Some(node) = node else { continue };
                if side {
                    continue;
                }
                let key = Key { pos: *cpos, name: col.name.clone() };
                match col.parent {
                    None => top.push((key, node)),
                    Some(p) => match nested.iter_mut().find(|(n, _)| *n == p) {
                        Some((_, list)) => list.push((key, node)),
                        None => nested.push((p, vec![(key, node)])),
                    },
                }
            }
            for (p, entries) in nested {
                top.push((
                    Key { pos: row.pos, name: p.to_string() },
                    Node { pos: row.pos, kind: NodeKind::Map(entries) },
                ));
            }
            // Judged by what is written, so a broken cell does not make a
            // catch-all.
            let catch_all = row.inputs.iter().all(|(t, _)| t.is_empty() || t == "-");
            if stage == Stage::Territory && !catch_all {
                // The territory compiler reads a `when` as "this territory
                // has its own condition".
                top.push((Key { pos: row.pos, name: "when".to_string() }, Node { pos: row.pos, kind: NodeKind::Null }));
            }
            let meta = RuleMeta { id: Arc::from(row_id.as_str()), file, line: row.pos.line };
            if side {
                if !row_ok {
                    ok &= no_new_error(self, cc);
                    continue;
                }
                side_rules.push(Rule { meta, cond: crate::cond::simplify_all(conds), action: () });
            } else {
                let synthetic = Obj { pos: row.pos, entries: top.iter().map(|(k, v)| (k, v)).collect() };
                let act = action(self, cc, file, &synthetic, &row_id);
                row_shapes.push(Shape { meta: meta.clone(), catch_all: catch_all && hit == Hit::First });
                let (Some(action), true) = (act, row_ok) else {
                    ok &= no_new_error(self, cc);
                    continue;
                };
                out.push(Rule { meta, cond: crate::cond::simplify_all(conds), action });
            }
            drafts.push(RowDraft { id: Name::from(row_id.as_str()), line: row.pos.line, cells, outputs: values, rank });
        }
        // In a first-hit side table, rows after one of all `-` cells never
        // answer (the stage's own rows are checked with its rules).
        if side
            && hit == Hit::First
            && let Some(at) = drafts.iter().position(|d| d.cells.iter().all(|(k, _)| *k == CellKey::Any))
        {
            let (by, by_line) = (drafts[at].id.to_string(), drafts[at].line);
            for d in &drafts[at + 1..] {
                let diag = Diagnostic::shadowed_rule(self.file(file), Pos::new(d.line, 1), &d.id, &by, by_line);
                self.diags.push(diag.in_rule(Some(&d.id)));
            }
        }
        // In a table that is not first-hit a catch-all row means the table
        // always answers: what follows the table is shadowed, its own rows
        // are not.
        if hit != Hit::First
            && drafts.iter().any(|d| d.cells.iter().all(|(k, _)| *k == CellKey::Any))
            && let Some(last) = row_shapes.last_mut()
        {
            last.catch_all = true;
        }
        shapes.extend(row_shapes);
        if !ok {
            return None;
        }
        let meta = RuleMeta { id: Arc::from(table_id), file, line: obj.pos.line };
        let cols = columns.into_iter().map(|(n, s, _)| (Name::from(n.as_str()), s)).collect();
        let feeds: Vec<Feed> = outs
            .iter()
            .map(|o| match (&o.custom, o.name.as_str()) {
                (Some((slot, _)), _) => Feed::Field(*slot),
                (None, "tags") => Feed::Tags,
                (None, "articles") => Feed::Articles,
                _ => Feed::Skills,
            })
            .collect();
        let outputs = outs.into_iter().map(|o| Name::from(o.name.as_str())).collect();
        let table = Table::build(meta, hit, start, cols, outputs, drafts);
        Some(if side { TableOut::Side(SideTable { table, rules: side_rules, feeds }) } else { TableOut::Stage(table) })
    }
}

impl Compiler<'_> {
    /// Reports a hit policy or output a table cannot have (`table-hit-policy`).
    fn refuse(&mut self, file: usize, pos: Pos, rule: Option<&str>, message: String, help: impl Into<String>) {
        let d = Diagnostic::custom("table-hit-policy", Severity::Error, self.file(file), pos, message).with_help(help);
        self.diags.push(d.in_rule(rule));
    }
}

impl CondCompiler<'_> {
    fn cell_error(&mut self, site: Site<'_>, pos: Pos, message: String) {
        let d = Diagnostic::custom("invalid-cell", Severity::Error, site.file, pos, message).with_help(CELL_HELP);
        self.diags.push(d.in_rule(site.rule));
    }

    /// A number (or, for instants, an RFC 3339 time) written in a cell.
    fn cell_number(&mut self, site: Site<'_>, field: &str, ty: &FieldType, text: &str, pos: Pos) -> Option<f64> {
        let t = unquote(text);
        let kind = match (ty, t.parse::<i64>(), t.parse::<f64>()) {
            (FieldType::DateTime | FieldType::Date, _, _) => NodeKind::Str(t),
            (_, Ok(i), _) => NodeKind::Int(i),
            (_, _, Ok(x)) if x.is_finite() => NodeKind::Float(x),
            _ => NodeKind::Str(t),
        };
        self.number(site, field, ty, "in a table cell", &Node { pos, kind })
    }

    /// A bound written in a number, instant or date cell: a value, or the
    /// name of another input of the table (by column name or field) of a
    /// type that compares with the column's, which the case fills in.
    fn cell_bound(
        &mut self,
        site: Site<'_>,
        field: &str,
        ty: &FieldType,
        text: &str,
        pos: Pos,
        inputs: &[(String, Slot)],
    ) -> Option<(f64, Option<Slot>)> {
        let t = text.trim();
        let named = t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && t.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
            && !(*ty == FieldType::Number && t.parse::<f64>().is_ok());
        if !named {
            return Some((self.cell_number(site, field, ty, text, pos)?, None));
        }
        // A column's name first, then a column's field.
        let found = inputs
            .iter()
            .find(|(name, _)| name == t)
            .or_else(|| inputs.iter().find(|(_, slot)| self.schema.fields[*slot].name == t));
        let Some(&(_, slot)) = found else {
            let names: Vec<String> = inputs.iter().map(|(n, _)| format!("`{n}`")).collect();
            let kind = match ty {
                FieldType::Number => "a number",
                FieldType::Date => "a date",
                _ => "an instant",
            };
            let d = Diagnostic::custom(
                "value-type",
                Severity::Error,
                site.file,
                pos,
                format!("`{t}` is neither {kind} nor an input of this table (its inputs are {})", names.join(", ")),
            )
            .with_help(CELL_HELP);
            self.diags.push(d.in_rule(site.rule));
            return None;
        };
        if self.schema.fields[slot].name == field {
            let d = Diagnostic::custom(
                "impossible-condition",
                Severity::Error,
                site.file,
                pos,
                format!("this cell compares `{field}` with itself"),
            )
            .with_help("name another input of the table, or write a value");
            self.diags.push(d.in_rule(site.rule));
            return None;
        }
        let other = &self.schema.fields[slot].ty;
        let agree = match ty {
            FieldType::Number => *other == FieldType::Number,
            _ => matches!(other, FieldType::DateTime | FieldType::Date),
        };
        if !agree {
            let d = Diagnostic::custom(
                "value-type",
                Severity::Error,
                site.file,
                pos,
                format!(
                    "`{t}` is a `{}` input and `{field}` a `{}` field; a cell compares inputs of types that order \
                     alike",
                    other.name(),
                    ty.name()
                ),
            )
            .with_help("compare a number with a number, and an instant or a date with an instant or a date");
            self.diags.push(d.in_rule(site.rule));
            return None;
        }
        // The case's value of the named input is read like any other.
        self.value_slots.insert(slot);
        Some((0.0, Some(slot)))
    }

    /// One comparison, interval or value of a number, instant or date
    /// column as an interval, whose ends may name other inputs.
    fn cell_range(
        &mut self,
        site: Site<'_>,
        field: &str,
        ty: &FieldType,
        atom: &str,
        pos: Pos,
        inputs: &[(String, Slot)],
    ) -> Option<RelRange> {
        let a = atom.trim();
        let inf = f64::INFINITY;
        let compared = match a.strip_prefix('=') {
            Some(rest) => Some((None, rest)),
            None => comparison(a).map(|(c, rest)| (Some(c), rest)),
        };
        if let Some((c, rest)) = compared {
            let (x, at) = self.cell_bound(site, field, ty, rest, pos, inputs)?;
            let (lo, lo_open, hi, hi_open) = match c {
                Some(Cmp::Gte) => (x, false, inf, true),
                Some(Cmp::Gt) => (x, true, inf, true),
                Some(Cmp::Lte) => (-inf, true, x, false),
                Some(Cmp::Lt) => (-inf, true, x, true),
                None => (x, false, x, false),
            };
            let (lo_at, hi_at) = match c {
                Some(Cmp::Gte | Cmp::Gt) => (at, None),
                Some(Cmp::Lte | Cmp::Lt) => (None, at),
                None => (at, at),
            };
            return Some(RelRange { range: Range { lo, lo_open, hi, hi_open }, lo: lo_at, hi: hi_at });
        }
        let first = a.chars().next();
        let last = a.chars().next_back();
        if matches!(first, Some('[' | '(' | ']')) && matches!(last, Some(']' | ')' | '[')) && a.len() >= 2 {
            let inner = &a[1..a.len() - 1];
            let Some((lo, hi)) = inner.split_once("..") else {
                self.cell_error(site, pos, format!("`{a}` is not an interval like `[1..5]`"));
                return None;
            };
            let (lo_x, lo_at) = self.cell_bound(site, field, ty, lo, pos, inputs)?;
            let (hi_x, hi_at) = self.cell_bound(site, field, ty, hi, pos, inputs)?;
            let r = Range { lo: lo_x, lo_open: first != Some('['), hi: hi_x, hi_open: last != Some(']') };
            if lo_at.is_none() && hi_at.is_none() && r.is_empty() {
                let d = Diagnostic::impossible_condition(
                    site.file,
                    pos,
                    format!("the interval `{a}` of `{field}` holds no {}", ty_values(ty)),
                );
                self.diags.push(d.in_rule(site.rule));
                return None;
            }
            return Some(RelRange { range: r, lo: lo_at, hi: hi_at });
        }
        let (x, at) = self.cell_bound(site, field, ty, a, pos, inputs)?;
        Some(RelRange { range: Range { lo: x, lo_open: false, hi: x, hi_open: false }, lo: at, hi: at })
    }

    /// Compiles one input cell against its column's field: what the index
    /// keeps and the cell's predicate (`None` for `-`).
    pub(crate) fn cell(
        &mut self,
        site: Site<'_>,
        slot: Slot,
        column: &str,
        text: &str,
        pos: Pos,
        inputs: &[(String, Slot)],
    ) -> Option<(CellKey, Option<u32>)> {
        let t = text.trim();
        if t.is_empty() || t == "-" {
            return Some((CellKey::Any, None));
        }
        let def = &self.schema.fields[slot];
        let (field, ty) = (def.name.clone(), def.ty.clone());
        let (negate, body) = match t.strip_prefix("not(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) => (true, inner.trim()),
            None => (false, t),
        };
        if body.is_empty() {
            self.cell_error(site, pos, format!("`{t}` names no value"));
            return None;
        }
        let atoms = match split_top(body, &[","]) {
            Ok(parts) => parts.into_iter().map(|(_, a, _)| a.trim().to_string()).collect::<Vec<_>>(),
            Err(why) => {
                self.cell_error(site, pos, why);
                return None;
            }
        };
        if atoms.iter().any(String::is_empty) {
            self.cell_error(site, pos, format!("`{t}` has an empty value between commas"));
            return None;
        }
        let label = format!("{column}: {t}");
        let op = match ty {
            FieldType::Number | FieldType::DateTime | FieldType::Date => {
                let mut ranges = Vec::new();
                for a in &atoms {
                    ranges.push(self.cell_range(site, &field, &ty, a, pos, inputs)?);
                }
                if ranges.iter().all(|r| r.lo.is_none() && r.hi.is_none()) {
                    Op::Ranges { ranges: ranges.into_iter().map(|r| r.range).collect(), negate }
                } else {
                    Op::Relative { ranges, negate }
                }
            }
            FieldType::Bool => match (atoms.as_slice(), negate) {
                ([one], false) if one == "true" || one == "false" => Op::Eq(Scalar::Bool(one == "true")),
                _ => {
                    self.cell_error(
                        site,
                        pos,
                        format!("`{column}` is a true/false field; its cells are `true`, `false` or `-`, found `{t}`"),
                    );
                    return None;
                }
            },
            FieldType::List => {
                if negate {
                    self.cell_error(site, pos, format!("`{column}` is a list field; `not(…)` is not available for it"));
                    return None;
                }
                Op::Items { items: atoms.iter().map(|a| unquote(a).to_lowercase()).collect(), all: false }
            }
            FieldType::String | FieldType::Enum(_) | FieldType::Priority => {
                if let [one] = atoms.as_slice()
                    && one.starts_with('/')
                {
                    let Some(pattern) = one.strip_prefix('/').and_then(|p| p.strip_suffix('/')) else {
                        self.cell_error(site, pos, format!("`{one}` is not a regex like `/^api-/`"));
                        return None;
                    };
                    let pattern = pattern.replace("\\/", "/");
                    match regex::RegexBuilder::new(&pattern).case_insensitive(true).size_limit(1 << 20).build() {
                        Ok(re) => Op::Pattern { re: Pattern(re), negate },
                        Err(e) => {
                            let d = Diagnostic::invalid_regex(site.file, pos, &e.to_string());
                            self.diags.push(d.in_rule(site.rule));
                            return None;
                        }
                    }
                } else if let [one] = atoms.as_slice()
                    && matches!(ty, FieldType::String)
                    && !negate
                    && (one.starts_with(['<', '>', '[']) || (one.starts_with('(') && one.contains("..")))
                {
                    // Text order: postal-code ranges and the like.
                    let bound = |s: &str| unquote(s).to_lowercase();
                    if let Some(inner) = one.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                        let Some((lo, hi)) = inner.split_once("..") else {
                            self.cell_error(
                                site,
                                pos,
                                format!("`{one}` is not a text interval like `[\"10000\"..\"19999\"]`"),
                            );
                            return None;
                        };
                        Op::TextBetween(bound(lo), bound(hi))
                    } else {
                        let Some((c, rest)) = comparison(one) else {
                            self.cell_error(
                                site,
                                pos,
                                format!("text intervals are closed, like `[\"10000\"..\"19999\"]`; found `{one}`"),
                            );
                            return None;
                        };
                        Op::TextCmp(c, bound(rest))
                    }
                } else {
                    let mut values = Vec::new();
                    for a in &atoms {
                        let node = Node { pos, kind: NodeKind::Str(unquote(a)) };
                        values.push(self.scalar(site, &field, &ty, "in a table cell", &node)?);
                    }
                    crate::cond::sort_scalars(&mut values);
                    match (values.len(), negate) {
                        (1, false) => Op::Eq(values.remove(0)),
                        (1, true) => Op::Ne(values.remove(0)),
                        (_, false) => Op::In(values),
                        (_, true) => Op::NotIn(values),
                    }
                }
            }
        };
        let key = key_of(&op);
        match self.push_value(slot, op, label) {
            Cond::Pred(id) => Some((key, Some(id))),
            _ => None,
        }
    }
}
