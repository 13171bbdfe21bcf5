//! Territories: a tree (global → EMEA → DACH → DE-north) whose nodes match
//! cases through the condition language, and a stated rule for overlaps.
//!
//! Matching is containment: a territory with `when` matches a case when its
//! condition holds and its parent admits the case (the parent's own `when`,
//! if any, holds, and so on up). A territory without `when` that has
//! children is a grouping: it matches when one of its children does. One
//! without `when` and without children matches everything its parent
//! admits — the explicit "catch the rest" a rule author must write; nothing
//! is defaulted silently.
//!
//! Several territories may match. The winner is the deepest; among equally
//! deep ones the highest `priority`; then the first in file order. Two
//! territories the rules cannot separate (same depth and priority, and a
//! case can be built that matches both from their equality tests) are a
//! compile-time warning naming both, with that case.

use crate::cond::{self, Cond, Explainer, Fact, Op, Pred, Scalar};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::name::Name;
use crate::rules::{RuleIndex, RuleMeta};
use crate::schema::{Schema, Slot};
use crate::text::Hits;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

/// One territory of the tree.
#[derive(Debug)]
pub(crate) struct Territory {
    pub meta: RuleMeta,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// `None`: no `when` (a grouping, or a catch-the-rest leaf).
    pub cond: Option<Cond>,
    pub priority: i64,
    pub depth: usize,
    /// The calendar this territory names, if any.
    pub calendar: Option<usize>,
}

/// The compiled tree, with a parents-first order for evaluation.
#[derive(Debug, Default)]
pub(crate) struct Territories {
    pub list: Vec<Territory>,
    /// For each territory, the ids from the root down to it, and the same
    /// lower-cased (as conditions compare lists).
    paths: Vec<Vec<Name>>,
    paths_lower: Vec<Vec<String>>,
    /// Skips territories whose own condition cannot hold (by equality
    /// tests such as `country in [..]`); see [`RuleIndex`].
    index: RuleIndex,
    /// Indices, parents before children.
    order: Vec<usize>,
}

/// A territory before its parent is resolved.
#[derive(Debug)]
pub(crate) struct Draft {
    pub meta: RuleMeta,
    pub parent: Option<(String, Pos)>,
    pub cond: Option<Cond>,
    pub priority: i64,
    pub calendar: Option<usize>,
}

/// Why each territory did or did not match, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Won,
    /// Matched but lost to the winner, with the reason.
    Lost(String),
    /// Did not match, with the reason.
    NoMatch(String),
}

impl Territories {
    /// Links drafts into a tree: unknown parents (with suggestions) and
    /// cycles are errors.
    pub fn build(drafts: Vec<Draft>, files: &[String], diags: &mut Vec<Diagnostic>) -> Territories {
        let ids: Vec<&str> = drafts.iter().map(|d| &*d.meta.id).collect();
        let mut graph: DiGraph<usize, ()> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..drafts.len()).map(|i| graph.add_node(i)).collect();
        let mut parents = vec![None; drafts.len()];
        let mut ok = true;
        for (i, d) in drafts.iter().enumerate() {
            let Some((name, pos)) = &d.parent else { continue };
            let file = files.get(d.meta.file).map_or("", String::as_str);
            match ids.iter().position(|id| id == name) {
                Some(p) => {
                    parents[i] = Some(p);
                    graph.add_edge(nodes[p], nodes[i], ());
                }
                None => {
                    ok = false;
                    diags.push(
                        Diagnostic::custom(
                            "unknown-parent",
                            Severity::Error,
                            file,
                            *pos,
                            format!("unknown parent territory `{name}`"),
                        )
                        .in_rule(Some(&d.meta.id))
                        .with_help(
                            crate::diag::did_you_mean(name, ids.iter().copied())
                                .unwrap_or_else(|| "declare the parent under `territories:`".to_string()),
                        ),
                    );
                }
            }
        }
        let order = match toposort(&graph, None) {
            Ok(order) => order.into_iter().map(|n| graph[n]).collect::<Vec<usize>>(),
            Err(cycle) => {
                let i = graph[cycle.node_id()];
                let d = &drafts[i];
                let file = files.get(d.meta.file).map_or("", String::as_str);
                let mut chain = vec![d.meta.id.to_string()];
                let mut cur = parents[i];
                while let Some(p) = cur {
                    chain.push(drafts[p].meta.id.to_string());
                    if p == i || chain.len() > drafts.len() {
                        break;
                    }
                    cur = parents[p];
                }
                diags.push(
                    Diagnostic::custom(
                        "territory-cycle",
                        Severity::Error,
                        file,
                        Pos::new(d.meta.line, 1),
                        format!("territories form a cycle: {}", chain.join(" → ")),
                    )
                    .in_rule(Some(&d.meta.id)),
                );
                return Territories::default();
            }
        };
        if !ok {
            return Territories::default();
        }
        let mut list: Vec<Territory> = drafts
            .into_iter()
            .zip(&parents)
            .map(|(d, p)| Territory {
                meta: d.meta,
                parent: *p,
                children: Vec::new(),
                cond: d.cond,
                priority: d.priority,
                depth: 0,
                calendar: d.calendar,
            })
            .collect();
        for &i in &order {
            if let Some(p) = list[i].parent {
                list[i].depth = list[p].depth + 1;
                list[p].children.push(i);
            }
        }
        for t in &mut list {
            t.children.sort_unstable();
        }
        let paths: Vec<Vec<Name>> = (0..list.len())
            .map(|i| {
                let mut out = vec![Name::from(&list[i].meta.id)];
                let mut cur = list[i].parent;
                while let Some(p) = cur {
                    out.push(Name::from(&list[p].meta.id));
                    cur = list[p].parent;
                }
                out.reverse();
                out
            })
            .collect();
        let paths_lower = paths.iter().map(|p| p.iter().map(|s| s.to_lowercase()).collect()).collect();
        Territories { list, order, paths, paths_lower, index: RuleIndex::default() }
    }

    /// Indexes the territories' own conditions, once predicates are final.
    pub fn build_index(&mut self, preds: &[Pred], schema: &Schema, counts: (usize, usize)) {
        let always = Cond::True;
        let conds: Vec<&Cond> = self.list.iter().map(|t| t.cond.as_ref().unwrap_or(&always)).collect();
        self.index = RuleIndex::build(&conds, preds, schema, counts.0, counts.1);
    }

    /// For each territory, its own calendar or its nearest ancestor's.
    pub fn calendars(&self) -> Vec<Option<usize>> {
        (0..self.list.len())
            .map(|i| {
                let mut cur = Some(i);
                while let Some(t) = cur.map(|c| &self.list[c]) {
                    if t.calendar.is_some() {
                        return t.calendar;
                    }
                    cur = t.parent;
                }
                None
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Ids from the root down to `i`.
    pub fn path(&self, i: usize) -> &[Name] {
        &self.paths[i]
    }

    /// The same, lower-cased.
    pub fn path_lower(&self, i: usize) -> &[String] {
        &self.paths_lower[i]
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|t| &*t.meta.id == id)
    }

    /// Which territories match, and the winner.
    pub fn resolve(&self, preds: &[Pred], facts: &[Fact<'_>], hits: &Hits) -> (Vec<bool>, Option<usize>) {
        let n = self.list.len();
        let candidates = self.index.candidates(facts, hits);
        let mut admits = vec![false; n];
        for &i in &self.order {
            let t = &self.list[i];
            let parent_ok = t.parent.is_none_or(|p| admits[p]);
            let possible = candidates.as_ref().is_none_or(|c| c.get(i));
            admits[i] = parent_ok && possible && t.cond.as_ref().is_none_or(|c| cond::eval(c, preds, facts, hits));
        }
        let mut matched = vec![false; n];
        for &i in self.order.iter().rev() {
            let t = &self.list[i];
            matched[i] =
                admits[i] && (t.cond.is_some() || t.children.is_empty() || t.children.iter().any(|&c| matched[c]));
        }
        let winner = (0..n).filter(|&i| matched[i]).max_by(|&a, &b| {
            let (ta, tb) = (&self.list[a], &self.list[b]);
            ta.depth.cmp(&tb.depth).then(ta.priority.cmp(&tb.priority)).then(b.cmp(&a))
        });
        (matched, winner)
    }

    /// A verdict for every territory, in file order, for the full trace.
    pub fn verdicts(&self, matched: &[bool], winner: Option<usize>, ex: &Explainer<'_>) -> Vec<Verdict> {
        (0..self.list.len())
            .map(|i| {
                let t = &self.list[i];
                if Some(i) == winner {
                    return Verdict::Won;
                }
                if matched[i] {
                    let Some(w) = winner.map(|w| &self.list[w]) else { return Verdict::Won };
                    let why = if w.depth > t.depth {
                        format!("lost to `{}`: it is more specific (depth {} > {})", w.meta.id, w.depth, t.depth)
                    } else if w.priority > t.priority {
                        format!(
                            "lost to `{}`: same depth, higher priority ({} > {})",
                            w.meta.id, w.priority, t.priority
                        )
                    } else {
                        format!("lost to `{}`: same depth and priority, earlier in file order", w.meta.id)
                    };
                    return Verdict::Lost(why);
                }
                if let Some(p) = t.parent
                    && !self.admits(p, ex)
                {
                    return Verdict::NoMatch(format!("parent `{}` does not match", self.list[p].meta.id));
                }
                match &t.cond {
                    Some(c) => {
                        Verdict::NoMatch(ex.why_not(c).unwrap_or_else(|| "no child territory matches".to_string()))
                    }
                    None => Verdict::NoMatch("a grouping, and none of its territories matches".to_string()),
                }
            })
            .collect()
    }

    fn admits(&self, i: usize, ex: &Explainer<'_>) -> bool {
        let t = &self.list[i];
        t.parent.is_none_or(|p| self.admits(p, ex)) && t.cond.as_ref().is_none_or(|c| ex.why_not(c).is_none())
    }

    /// Warnings for pairs of territories that the rules cannot separate.
    pub fn overlaps(&self, preds: &[Pred], schema: &Schema, files: &[String]) -> Vec<Diagnostic> {
        let constraints: Vec<Option<BTreeMap<Slot, Vec<Scalar>>>> =
            (0..self.list.len()).map(|i| self.equality_constraints(i, preds)).collect();
        let mut out = Vec::new();
        for a in 0..self.list.len() {
            for b in a + 1..self.list.len() {
                let (ta, tb) = (&self.list[a], &self.list[b]);
                // Groupings are decided by their members; different depth or
                // priority is a stated tie-break.
                let grouping = |t: &Territory| t.cond.is_none() && !t.children.is_empty();
                if ta.depth != tb.depth || ta.priority != tb.priority || grouping(ta) || grouping(tb) {
                    continue;
                }
                let (Some(ca), Some(cb)) = (&constraints[a], &constraints[b]) else { continue };
                let Some(example) = common_case(ca, cb) else { continue };
                let shown: Vec<String> = example
                    .iter()
                    .map(|(slot, v)| format!("{}: {}", schema.fields[*slot].name, scalar_text(v)))
                    .collect();
                let file = files.get(tb.meta.file).map_or("", String::as_str);
                let example =
                    if shown.is_empty() { "any case".to_string() } else { format!("{{ {} }}", shown.join(", ")) };
                out.push(
                    Diagnostic::custom(
                        "ambiguous-territories",
                        Severity::Warning,
                        file,
                        Pos::new(tb.meta.line, 1),
                        format!(
                            "territories `{}` and `{}` can both match, e.g. {example}; file order picks `{}`",
                            ta.meta.id, tb.meta.id, ta.meta.id
                        ),
                    )
                    .in_rule(Some(&tb.meta.id))
                    .with_help("give one of them a `priority`, or make their conditions exclusive"),
                );
            }
        }
        out
    }

    /// The equality tests a case must pass to match territory `i` (its own
    /// and its ancestors'), or `None` when some test is not an equality
    /// test, so no example can be built cheaply.
    fn equality_constraints(&self, i: usize, preds: &[Pred]) -> Option<BTreeMap<Slot, Vec<Scalar>>> {
        let mut out: BTreeMap<Slot, Vec<Scalar>> = BTreeMap::new();
        let mut cur = Some(i);
        while let Some(t) = cur.map(|c| &self.list[c]) {
            if let Some(c) = &t.cond {
                let top: &[Cond] = match c {
                    Cond::All(items) => items,
                    other => std::slice::from_ref(other),
                };
                for c in top {
                    let Cond::Pred(p) = c else { return None };
                    let p = preds.get(*p as usize)?;
                    let values = match &p.op {
                        Op::Eq(s) => vec![s.clone()],
                        Op::In(list) => list.clone(),
                        _ => return None,
                    };
                    let entry = out.entry(p.slot).or_insert_with(|| values.clone());
                    entry.retain(|v| values.contains(v));
                    if entry.is_empty() {
                        return None;
                    }
                }
            }
            cur = t.parent;
        }
        Some(out)
    }
}

fn common_case(a: &BTreeMap<Slot, Vec<Scalar>>, b: &BTreeMap<Slot, Vec<Scalar>>) -> Option<Vec<(Slot, Scalar)>> {
    let mut out = Vec::new();
    for (slot, va) in a {
        match b.get(slot) {
            Some(vb) => out.push((*slot, va.iter().find(|v| vb.contains(v))?.clone())),
            None => out.push((*slot, va.first()?.clone())),
        }
    }
    for (slot, vb) in b {
        if !a.contains_key(slot) {
            out.push((*slot, vb.first()?.clone()));
        }
    }
    out.sort_by_key(|(s, _)| *s);
    Some(out)
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        // Two-letter values are shown as codes (`de` → `DE`): they are
        // almost always countries.
        Scalar::Str(t) if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) => t.to_uppercase(),
        Scalar::Str(t) => t.clone(),
        Scalar::Num(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}
