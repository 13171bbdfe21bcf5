//! The `duplicates:` and `incidents:` sections.

use super::{Compiler, Obj, Sections, fraction};
use crate::diag::{Diagnostic, Severity};
use crate::name::Name;
use crate::related::{DuplicateRules, Effects, IncidentRules, KEYS, Key};
use crate::syntax::{Node, NodeKind};

/// The default similarity threshold for duplicates (estimated Jaccard of
/// the shingle sets).
const DUPLICATE_THRESHOLD: f64 = 0.4;
/// The default similarity threshold for incidents.
const INCIDENT_THRESHOLD: f64 = 0.15;

impl Compiler<'_> {
    pub(super) fn related(
        &mut self,
        s: &Sections<'_>,
        priorities: &[String],
    ) -> (Option<DuplicateRules>, Option<IncidentRules>) {
        let duplicates = s.duplicates.and_then(|(file, node)| self.duplicates(file, node, priorities));
        let incidents = s.incidents.and_then(|(file, node)| self.incidents(file, node, priorities));
        (duplicates, incidents)
    }

    fn duplicates(&mut self, file: usize, node: &Node, priorities: &[String]) -> Option<DuplicateRules> {
        const WHAT: &str = "duplicates";
        let obj = self.obj(file, node, "`duplicates`", &["window", "keys", "threshold", "then"], None)?;
        let window = self.window(file, &obj, WHAT)?;
        let keys = self.keys(file, &obj, WHAT)?;
        let threshold = self.threshold(file, &obj, DUPLICATE_THRESHOLD, WHAT)?;
        let then = self.effects(file, &obj, priorities, WHAT)?;
        Some(DuplicateRules {
            window_secs: window,
            keys,
            threshold,
            then,
            file: Name::from(self.file(file)),
            line: obj.pos.line,
        })
    }

    fn incidents(&mut self, file: usize, node: &Node, priorities: &[String]) -> Option<IncidentRules> {
        const WHAT: &str = "incidents";
        let allowed = ["window", "keys", "distinct", "min_cases", "min_distinct", "threshold", "then"];
        let obj = self.obj(file, node, "`incidents`", &allowed, None)?;
        let window = self.window(file, &obj, WHAT)?;
        let keys = self.keys(file, &obj, WHAT)?;
        let distinct = match obj.get("distinct") {
            None => Key::Account,
            Some(n) => self.key(file, n, WHAT)?,
        };
        let count = |c: &mut Self, name: &str, default: usize| match obj.get(name) {
            None => Some(default),
            Some(n) => {
                c.typed(file, n, &format!("`{name}`"), "a whole number of at least 1", Some(WHAT), |k| match *k {
                    NodeKind::Int(i) if i >= 1 => usize::try_from(i).ok(),
                    _ => None,
                })
            }
        };
        let min_cases = count(self, "min_cases", 5)?;
        let min_distinct = count(self, "min_distinct", 3)?;
        if min_distinct > min_cases {
            // Point at the number the author wrote.
            let d = match (obj.get("min_distinct"), obj.get("min_cases")) {
                (None, Some(n)) => Diagnostic::wrong_type(
                    self.file(file),
                    n.pos,
                    "`min_cases`",
                    &format!("at least `min_distinct` ({min_distinct}, the default): each case has one sender"),
                    &min_cases.to_string(),
                ),
                (at, _) => Diagnostic::wrong_type(
                    self.file(file),
                    at.map_or(obj.pos, |n| n.pos),
                    "`min_distinct`",
                    &format!("at most `min_cases` ({min_cases}): each case has one sender"),
                    &min_distinct.to_string(),
                ),
            };
            self.diags.push(d.in_rule(Some(WHAT)));
            return None;
        }
        if min_distinct > 1 && keys.contains(&distinct) {
            let at = obj.get("distinct").or_else(|| obj.get("keys")).map_or(obj.pos, |n| n.pos);
            let name = KEYS.iter().find(|(_, k)| *k == distinct).map_or("", |(n, _)| *n);
            let d = Diagnostic::custom(
                "never-forms",
                Severity::Error,
                self.file(file),
                at,
                format!(
                    "`{name}` is both a key and what is counted as distinct: the cases of a cluster share it, so \
                     no incident reaches `min_distinct` ({min_distinct})"
                ),
            )
            .with_help(format!("take `{name}` out of `keys`, or count another field as `distinct`"));
            self.diags.push(d.in_rule(Some(WHAT)));
            return None;
        }
        let threshold = self.threshold(file, &obj, INCIDENT_THRESHOLD, WHAT)?;
        let then = self.effects(file, &obj, priorities, WHAT)?;
        Some(IncidentRules {
            window_secs: window,
            keys,
            distinct,
            min_cases,
            min_distinct,
            threshold,
            then,
            file: Name::from(self.file(file)),
            line: obj.pos.line,
        })
    }

    fn window(&mut self, file: usize, obj: &Obj<'_>, what: &str) -> Option<i64> {
        let Some(n) = obj.get("window") else {
            let d = Diagnostic::missing_key(self.file(file), obj.pos, "window", &format!("`{what}`"));
            self.diags.push(d.with_help("how far apart two cases may be, e.g. `window: 72h`"));
            return None;
        };
        let parsed =
            n.scalar_text().and_then(|t| crate::testing::parse_duration(&t)).filter(|d| *d > chrono::Duration::zero());
        if parsed.is_none() {
            let d = Diagnostic::wrong_type(
                self.file(file),
                n.pos,
                "`window`",
                "a duration above zero like `72h`, `15m` or `1h30m` (clock time: how far apart two cases may be)",
                &n.describe(),
            );
            self.diags.push(d.in_rule(Some(what)));
        }
        parsed.map(|d| d.num_seconds())
    }

    fn keys(&mut self, file: usize, obj: &Obj<'_>, what: &str) -> Option<Vec<Key>> {
        let Some(n) = obj.get("keys") else { return Some(Vec::new()) };
        let items: Vec<&Node> = match &n.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        for item in items {
            let k = self.key(file, item, what)?;
            if out.contains(&k) {
                let text = item.scalar_text().unwrap_or_default();
                let d = Diagnostic::custom(
                    "duplicate-key",
                    Severity::Warning,
                    self.file(file),
                    item.pos,
                    format!("key `{text}` is listed twice in `{what}`"),
                )
                .with_help("list each key once");
                self.diags.push(d.in_rule(Some(what)));
            } else {
                out.push(k);
            }
        }
        Some(out)
    }

    fn key(&mut self, file: usize, node: &Node, what: &str) -> Option<Key> {
        let text = self.text(file, node, "a key", Some(what))?;
        match KEYS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&text)) {
            Some((_, k)) => Some(*k),
            None => {
                let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
                let d = Diagnostic::invalid_value(
                    self.file(file),
                    node.pos,
                    format!("`{text}` is not a key cases can be matched on"),
                    &names,
                    &text,
                );
                self.diags.push(d.in_rule(Some(what)));
                None
            }
        }
    }

    fn threshold(&mut self, file: usize, obj: &Obj<'_>, default: f64, what: &str) -> Option<f64> {
        match obj.get("threshold") {
            None => Some(default),
            Some(n) => {
                let t = self.typed(file, n, "`threshold`", "a number above 0 and at most 1", Some(what), fraction)?;
                if t <= 0.0 {
                    let d = Diagnostic::wrong_type(
                        self.file(file),
                        n.pos,
                        "`threshold`",
                        "a number above 0 and at most 1 (0 would match every case)",
                        "0",
                    );
                    self.diags.push(d.in_rule(Some(what)));
                    return None;
                }
                Some(t)
            }
        }
    }

    fn effects(&mut self, file: usize, obj: &Obj<'_>, priorities: &[String], what: &str) -> Option<Effects> {
        let Some(n) = obj.get("then") else { return Some(Effects::default()) };
        let then = self.obj(file, n, "`then`", &["manual_review", "tag", "priority"], Some(what))?;
        let mut out = Effects::default();
        if let Some(v) = then.get("manual_review") {
            out.manual_review = self.typed(file, v, "`manual_review`", "true or false", Some(what), |k| match *k {
                NodeKind::Bool(b) => Some(b),
                _ => None,
            })?;
        }
        if let Some(v) = then.get("tag") {
            out.tag = Some(self.text(file, v, "`tag`", Some(what))?);
        }
        if let Some(v) = then.get("priority") {
            out.priority = Some(self.priority_rank(file, v, what, priorities)?);
        }
        Some(out)
    }
}
