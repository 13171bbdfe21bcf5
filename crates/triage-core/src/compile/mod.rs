//! Rule files to [`CompiledRules`], reporting every problem found.
//!
//! Compiling reads each file's syntax tree once, gathers the sections of all
//! files in file order, builds the field schema, compiles every condition
//! (phrases into one automaton per field, regexes into one set per field),
//! checks the stage-level rules (unique ids, a default at the end of each
//! first-match stage, nothing after a catch-all) and builds the rule indexes.
//! Problems never stop the walk: the result is the rule set, if there were no
//! errors, and every diagnostic.

mod assignment;
mod classifiers;
mod escalation;
pub(crate) use escalation::is_recipient;
mod related;
mod table;

use crate::calendar::{self, Calendar};
use crate::cond::{Cond, CondCompiler, Site};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::name::Name;
use crate::normalize::Normalizer;
use crate::rules::{
    Adjust, AdjustKind, Article, CategorySet, CompiledRules, DerivedSlots, Escalations, FirstMatch, Lexicon, Rule,
    RuleIndex, RuleMeta, Settings, SideTable, SlaPolicy, TierSet,
};
use crate::schema::{Schema, Stage};
use crate::syntax::{self, Key, Node, NodeKind};
use crate::table::Table;
use crate::territory::{Draft, Territories};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::Arc;

const TOP_KEYS: &[&str] = &[
    "settings",
    "priorities",
    "fields",
    "normalize",
    "sentiment",
    "territories",
    "calendars",
    "sla",
    "categories",
    "priority",
    "tiers",
    "knowledge",
    "escalation",
    "risk",
    "assignment",
    "duplicates",
    "incidents",
    "classifiers",
];
const DEFAULT_PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4"];

/// Compiles a rule set from `(file name, YAML text)` pairs, in evaluation
/// order. Returns the rules when there is no error, and every diagnostic
/// (errors and warnings) in file and line order.
///
/// ```
/// use triage_core::compile_sources;
/// let yaml = "categories:\n  - id: outage\n    when: { subject: { contains: outage } }\n    set: { category: outage, priority: P1 }\n  - id: other\n    set: { category: general }\n";
/// let (rules, diags) = compile_sources(&[("rules.yaml", yaml)]);
/// assert!(diags.is_empty(), "{diags:?}");
/// assert_eq!(rules.unwrap().rule_count(), 2);
/// ```
pub fn compile_sources(sources: &[(&str, &str)]) -> (Option<CompiledRules>, Vec<Diagnostic>) {
    compile_with_files(sources, &[])
}

pub use classifiers::classifier_files;

/// As [`compile_sources`], with the other files the rules name: the model
/// files of a `classifiers:` section, as `(path as written in the rules,
/// text)` pairs ([`classifier_files`] lists the paths to read). Their text
/// is part of the rules version, as the rule files' is.
pub fn compile_with_files(
    sources: &[(&str, &str)],
    attached: &[(&str, &str)],
) -> (Option<CompiledRules>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut roots: Vec<(usize, Node)> = Vec::new();
    for (i, (name, text)) in sources.iter().enumerate() {
        match syntax::parse(name, text) {
            Ok(node) => roots.push((i, node)),
            Err(d) => diags.push(*d),
        }
    }
    let files: Vec<String> = sources.iter().map(|(n, _)| n.to_string()).collect();
    let parse_failed = !diags.is_empty();
    let mut c = Compiler {
        files: &files,
        diags: Vec::new(),
        parse_failed,
        attached,
        predicted: Vec::new(),
        model_failed: false,
        article_ids: Vec::new(),
    };
    let rules = c.compile(&roots);
    if c.model_failed {
        // Without the model its labels are unknown: the rules that read them
        // would each say so, though the one cause is already reported.
        c.diags.retain(|d| !(d.code == "unknown-field" && d.message.contains("`predicted.")));
    }
    diags.append(&mut c.diags);
    let order = |file: &str| files.iter().position(|f| f == file).unwrap_or(usize::MAX);
    diags.sort_by(|a, b| {
        (order(&a.file), a.line, a.column, a.severity).cmp(&(order(&b.file), b.line, b.column, b.severity))
    });
    diags.dedup();
    let ok = !diags.iter().any(|d| d.severity == Severity::Error);
    let rules = if ok {
        rules.map(|mut r| {
            r.version = version_hash(sources, attached).into();
            r
        })
    } else {
        None
    };
    (rules, diags)
}

/// FNV-1a over the time zone database's release and each file's name and
/// text: stable across machines and releases, which the standard library's
/// hasher does not promise. Names count from the directory all the files
/// share, so `rules/a.yaml`, `./rules/a.yaml` and `/srv/rules/a.yaml` give
/// the same version; only content and the layout inside the rule directory
/// do.
fn version_hash(sources: &[(&str, &str)], attached: &[(&str, &str)]) -> String {
    let shared = shared_dir_len(sources.iter().map(|(n, _)| *n));
    let inputs = sources.iter().map(|(name, text)| (name.get(shared..).unwrap_or(name), *text));
    // Model files are named relative to the rule directory already.
    fnv1a([("tzdb", crate::calendar::TZDB_VERSION)].into_iter().chain(inputs).chain(attached.iter().copied()))
}

/// A version for any named texts, as rule sets get theirs: FNV-1a over
/// each name and text, 16 hex digits. The service names the directory it
/// decides with this way (`content_version(&[("directory", text)])`), so
/// an answer that changed because an agent went offline says so.
pub fn content_version(parts: &[(&str, &str)]) -> String {
    fnv1a(parts.iter().copied())
}

fn fnv1a<'a>(parts: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in parts {
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The length of the directory prefix (up to and including a `/` or `\\`)
/// that every name shares.
fn shared_dir_len<'a>(mut names: impl Iterator<Item = &'a str>) -> usize {
    let Some(first) = names.next() else { return 0 };
    let mut common = first.rfind(['/', '\\']).map_or(0, |i| i + 1);
    for name in names {
        let same = first.bytes().zip(name.bytes()).take(common).take_while(|(a, b)| a == b).count();
        common = first[..same].rfind(['/', '\\']).map_or(0, |i| i + 1);
    }
    common
}

/// The top-level sections of all files, in file order.
#[derive(Default)]
struct Sections<'n> {
    settings: Option<(usize, &'n Node)>,
    priorities: Option<(usize, &'n Node)>,
    sentiment: Option<(usize, &'n Node)>,
    duplicates: Option<(usize, &'n Node)>,
    incidents: Option<(usize, &'n Node)>,
    classifiers: Option<(usize, &'n Node)>,
    fields: Vec<(usize, &'n Node)>,
    categories: Vec<(usize, &'n Node)>,
    /// Whether any file has a `categories` key, even a malformed one.
    categories_declared: bool,
    priority: Vec<(usize, &'n Node)>,
    tiers: Vec<(usize, &'n Node)>,
    knowledge: Vec<(usize, &'n Node)>,
    territories: Vec<(usize, &'n Node)>,
    calendars: Vec<(usize, &'n Node)>,
    sla: Vec<(usize, &'n Node)>,
    normalize: Vec<(usize, &'n Node)>,
    escalation: Vec<(usize, &'n Node)>,
    risk: Vec<(usize, &'n Node)>,
    assignment: Vec<(usize, &'n Node)>,
}

struct Compiler<'f> {
    files: &'f [String],
    diags: Vec<Diagnostic>,
    /// A file did not parse, so sections may be missing for that reason
    /// alone; "missing section" diagnostics would only be noise.
    parse_failed: bool,
    /// Other files the rules name (model files), by path as written.
    attached: &'f [(&'f str, &'f str)],
    /// The labels the classifiers predict: (label, classifier, head).
    predicted: Vec<(String, usize, usize)>,
    /// A classifier's model could not be loaded.
    model_failed: bool,
    /// The knowledge articles' ids, for side tables that offer them.
    article_ids: Vec<String>,
}

/// What a territory entry adds to the common rule keys.
struct TerritoryExtra {
    parent: Option<(String, Pos)>,
    priority: i64,
    has_when: bool,
    calendar: Option<usize>,
}

/// A rule's place and whether it matches every case, for the checks of
/// first-match stages.
struct Shape {
    meta: RuleMeta,
    catch_all: bool,
}

/// A mapping whose keys were checked against the allowed ones.
struct Obj<'n> {
    pos: Pos,
    entries: Vec<(&'n Key, &'n Node)>,
}

impl<'n> Obj<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| *v)
    }
}

impl<'f> Compiler<'f> {
    fn file(&self, i: usize) -> &'f str {
        self.files.get(i).map_or("", String::as_str)
    }

    fn obj<'n>(
        &mut self,
        file: usize,
        node: &'n Node,
        context: &str,
        allowed: &[&str],
        rule: Option<&str>,
    ) -> Option<Obj<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            let d = Diagnostic::wrong_type(self.file(file), node.pos, context, "a mapping", &node.describe());
            self.diags.push(d.in_rule(rule));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if allowed.contains(&k.name.as_str()) {
                out.push((k, v));
            } else {
                let d = Diagnostic::unknown_key(self.file(file), k.pos, &k.name, context, allowed);
                self.diags.push(d.in_rule(rule));
            }
        }
        Some(Obj { pos: node.pos, entries: out })
    }

    /// A scalar that `parse` accepts, or a `wrong-type` diagnostic saying
    /// what was expected.
    fn typed<T>(
        &mut self,
        file: usize,
        node: &Node,
        what: &str,
        expected: &str,
        rule: Option<&str>,
        parse: impl FnOnce(&NodeKind) -> Option<T>,
    ) -> Option<T> {
        let value = parse(&node.kind);
        if value.is_none() {
            let d = Diagnostic::wrong_type(self.file(file), node.pos, what, expected, &node.describe());
            self.diags.push(d.in_rule(rule));
        }
        value
    }

    fn text(&mut self, file: usize, node: &Node, what: &str, rule: Option<&str>) -> Option<String> {
        match node.scalar_text() {
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => {
                let d = Diagnostic::wrong_type(self.file(file), node.pos, what, "non-empty text", &node.describe());
                self.diags.push(d.in_rule(rule));
                None
            }
        }
    }

    fn text_list(&mut self, file: usize, node: &Node, what: &str, rule: Option<&str>) -> Vec<(String, Pos)> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| self.text(file, i, &format!("an item of {what}"), rule).map(|t| (t, i.pos)))
                .collect(),
            _ => match self.text(file, node, what, rule) {
                Some(t) => vec![(t, node.pos)],
                None => Vec::new(),
            },
        }
    }

    fn list<'n>(&mut self, file: usize, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => &[],
            _ => {
                self.diags.push(Diagnostic::wrong_type(self.file(file), node.pos, what, "a list", &node.describe()));
                &[]
            }
        }
    }

    fn gather<'n>(&mut self, roots: &'n [(usize, Node)]) -> Sections<'n> {
        let mut s = Sections::default();
        for (file, root) in roots {
            let file = *file;
            let Some(obj) = self.obj(file, root, "a rule file", TOP_KEYS, None) else {
                continue;
            };
            for (key, value) in obj.entries {
                let once = |slot: &mut Option<(usize, &'n Node)>, diags: &mut Vec<Diagnostic>, name: &str| {
                    if slot.is_some() {
                        diags.push(Diagnostic::duplicate_section(&self.files[file], key.pos, name));
                    } else {
                        *slot = Some((file, value));
                    }
                };
                match key.name.as_str() {
                    "settings" => once(&mut s.settings, &mut self.diags, "settings"),
                    "priorities" => once(&mut s.priorities, &mut self.diags, "priorities"),
                    "sentiment" => once(&mut s.sentiment, &mut self.diags, "sentiment"),
                    "duplicates" => once(&mut s.duplicates, &mut self.diags, "duplicates"),
                    "incidents" => once(&mut s.incidents, &mut self.diags, "incidents"),
                    "classifiers" => once(&mut s.classifiers, &mut self.diags, "classifiers"),
                    "fields" => s.fields.push((file, value)),
                    "normalize" => s.normalize.push((file, value)),
                    name => {
                        if name == "categories" {
                            s.categories_declared = true;
                        }
                        let what = format!("`{name}`");
                        let items = self.list(file, value, &what);
                        let target = match name {
                            "categories" => &mut s.categories,
                            "priority" => &mut s.priority,
                            "tiers" => &mut s.tiers,
                            "territories" => &mut s.territories,
                            "sla" => &mut s.sla,
                            "calendars" => &mut s.calendars,
                            "escalation" => &mut s.escalation,
                            "risk" => &mut s.risk,
                            "assignment" => &mut s.assignment,
                            _ => &mut s.knowledge,
                        };
                        target.extend(items.iter().map(|n| (file, n)));
                    }
                }
            }
        }
        s
    }

    fn priorities(&mut self, s: &Sections<'_>) -> Vec<String> {
        let Some((file, node)) = s.priorities else {
            return DEFAULT_PRIORITIES.iter().map(|p| p.to_string()).collect();
        };
        let mut out: Vec<String> = Vec::new();
        for (p, pos) in self.text_list(file, node, "`priorities`", None) {
            if out.iter().any(|q| q.eq_ignore_ascii_case(&p)) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), pos, "priority", &p));
            } else {
                out.push(p);
            }
        }
        if out.is_empty() {
            self.diags.push(Diagnostic::wrong_type(
                self.file(file),
                node.pos,
                "`priorities`",
                "a non-empty list, most urgent first",
                &node.describe(),
            ));
            return DEFAULT_PRIORITIES.iter().map(|p| p.to_string()).collect();
        }
        out
    }

    fn settings(&mut self, s: &Sections<'_>) -> Settings {
        let mut out = Settings { review_below: None, max_articles: 3, clock: Default::default() };
        let Some((file, node)) = s.settings else {
            return out;
        };
        let Some(obj) = self.obj(file, node, "`settings`", &["review_below", "max_articles", "sla_clock"], None) else {
            return out;
        };
        if let Some(v) = obj.get("sla_clock") {
            out.clock = self.clock_settings(file, v);
        }
        if let Some(v) = obj.get("review_below") {
            out.review_below = self.typed(file, v, "`review_below`", "a number from 0 to 1", None, fraction);
        }
        if let Some(v) = obj.get("max_articles") {
            let n = self.typed(file, v, "`max_articles`", "a whole number of at least 1", None, at_least_one);
            out.max_articles = n.unwrap_or(out.max_articles);
        }
        out
    }

    fn compile(&mut self, roots: &[(usize, Node)]) -> Option<CompiledRules> {
        let sections = self.gather(roots);
        let priorities = self.priorities(&sections);
        let settings = self.settings(&sections);
        let decls: Vec<(String, &Node)> =
            sections.fields.iter().map(|(f, n)| (self.file(*f).to_string(), *n)).collect();
        let mut schema = Schema::build(&decls, &mut self.diags);
        let classifiers = self.classifiers(&sections, &mut schema);
        let mut cc = CondCompiler::new(&schema, &priorities);
        let text_slot = schema.lookup("text").unwrap_or(0);

        let articles = self.knowledge(&sections, &mut cc, text_slot);
        self.article_ids = articles.iter().map(|a| a.id.clone()).collect();
        let sentiment = self.sentiment(&sections, &mut cc, text_slot);

        let calendars = self.calendars(&sections.calendars);
        let norm_sections: Vec<(&str, &Node)> = sections.normalize.iter().map(|(f, n)| (self.file(*f), *n)).collect();
        let normalizer = Normalizer::build(&norm_sections, &mut self.diags);

        let mut ids: BTreeMap<String, (usize, u32)> = BTreeMap::new();
        self.side_decisions(&sections, &mut cc);
        let (territory_rules, _, _, _) =
            self.stage(&sections.territories, Stage::Territory, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.territory_extra(file, obj, rule, &calendars)
            });
        let drafts = territory_rules
            .into_iter()
            .map(|r| Draft {
                cond: r.action.has_when.then_some(r.cond),
                meta: r.meta,
                parent: r.action.parent,
                priority: r.action.priority,
                calendar: r.action.calendar,
            })
            .collect();
        let territories = Territories::build(drafts, self.files, &mut self.diags);
        let (categories, category_shapes, category_tables, category_sides) =
            self.stage(&sections.categories, Stage::Categorize, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.category_set(file, obj, rule, &priorities)
            });
        let (adjustments, _, adjust_tables, _) =
            self.stage(&sections.priority, Stage::Priority, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.adjust(file, obj, rule, &priorities)
            });
        // A priority rule (not a table row) that always applies and stops
        // the stage leaves every later priority rule unreachable.
        if let Some(stopper) = adjustments
            .iter()
            .enumerate()
            .find(|(i, r)| r.action.stop && r.cond == Cond::True && !adjust_tables.iter().any(|t| t.holds(*i)))
        {
            let (at, by) = stopper;
            for r in &adjustments[at + 1..] {
                let d = Diagnostic::custom(
                    "shadowed-rule",
                    Severity::Warning,
                    self.file(r.meta.file),
                    Pos::new(r.meta.line, 1),
                    format!(
                        "rule `{}` can never apply: rule `{}` (line {}) above it applies to every case and stops the \
                         priority stage",
                        r.meta.id, by.meta.id, by.meta.line
                    ),
                )
                .with_help(format!("give `{}` a `when`, or move `{}` above it", by.meta.id, r.meta.id));
                self.diags.push(d.in_rule(Some(&r.meta.id)));
            }
        }
        let (tiers, tier_shapes, tier_tables, tier_sides) =
            self.stage(&sections.tiers, Stage::Tiers, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.tier_set(file, obj, rule, &articles)
            });

        if !sections.categories_declared && !self.parse_failed {
            let file = roots.first().map_or(0, |(f, _)| *f);
            self.diags.push(Diagnostic::missing_default(
                self.file(file),
                Pos::new(1, 1),
                "categories",
                "`- id: general` with `set: { category: general }`",
            ));
        }
        self.first_match_checks(&category_shapes, "categories", "`- id: general` with `set: { category: general }`");
        // Side tables decide no category: a section of them alone has no
        // default either.
        if category_shapes.is_empty()
            && let Some(side) = category_sides.first()
        {
            let meta = &side.table.meta;
            let d = Diagnostic::missing_default(
                self.file(meta.file),
                Pos::new(meta.line, 1),
                "categories",
                "`- id: general` with `set: { category: general }`",
            );
            self.diags.push(d.in_rule(Some(&meta.id)));
        }
        self.first_match_checks(&tier_shapes, "tiers", "`- id: tier-1` with `tier: 1`");
        let (sla, sla_shapes, sla_tables, sla_sides) =
            self.stage(&sections.sla, Stage::Sla, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.sla_policy(file, obj, rule, &calendars)
            });
        self.first_match_checks(&sla_shapes, "sla", "`- id: standard` with `targets: { first_response: 8h }`");
        let (routes, _, route_tables, route_sides) =
            self.stage(&sections.assignment, Stage::Assignment, &mut cc, &mut ids, |c, _, file, obj, rule| {
                c.route(file, obj, rule)
            });
        let (mut ladders, _, _, _) =
            self.stage(&sections.escalation, Stage::Escalation, &mut cc, &mut ids, |c, cc, file, obj, rule| {
                c.ladder(cc, file, obj, rule, &priorities)
            });
        cc.reader = (Stage::Risk, 0);
        let risk = self.risk(&sections.risk, &mut cc);

        let CondCompiler { text, preds, value_slots, diags, related_reads, sentiment_reads, .. } = cc;
        self.diags.extend(diags);
        if sections.sentiment.is_none() {
            self.diags.extend(sentiment_reads);
        }
        for (duplicates, d) in related_reads {
            let found_by = if duplicates { sections.duplicates.is_some() } else { sections.incidents.is_some() };
            if !found_by {
                self.diags.push(d);
            }
        }
        self.sla_clock_checks(&sla, &preds, &schema, &settings.clock);
        let (used_thresholds, age_thresholds) = escalation::thresholds(&preds, &schema);
        for rule in &mut ladders {
            rule.action.metrics = escalation::metrics_read(&rule.cond, &preds, &schema);
        }
        self.diags.extend(territories.overlaps(&preds, &schema, self.files));
        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        let text = match text.build() {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::custom(
                    "automaton-too-large",
                    Severity::Error,
                    self.file(0),
                    Pos::new(1, 1),
                    format!("the phrases and patterns of this rule set do not fit in memory: {e}"),
                ));
                return None;
            }
        };
        let counts = (text.phrase_count, text.regex_count);
        let mut territories = territories;
        territories.build_index(&preds, &schema, counts);
        let categories = first_match(categories, category_tables, category_sides, &preds, &schema, counts);
        let tiers = first_match(tiers, tier_tables, tier_sides, &preds, &schema, counts);
        let sla = first_match(sla, sla_tables, sla_sides, &preds, &schema, counts);
        let assignment = first_match(routes, route_tables, route_sides, &preds, &schema, counts);
        let territory_calendars = territories.calendars();
        let (duplicates, incidents) = self.related(&sections, &priorities);
        let slot = |name: &str| schema.lookup(name).unwrap_or(0);
        let derived = DerivedSlots {
            priority: slot("priority"),
            product: slot("product"),
            sentiment: slot("sentiment"),
            sentiment_score: slot("sentiment.score"),
            sentiment_label: slot("sentiment.label"),
            category: slot("category"),
            tags: slot("tags"),
            skills: slot("skills"),
            confidence: slot("confidence"),
            territory: slot("territory"),
            territory_path: slot("territory_path"),
            tier: slot("tier"),
            duplicate_score: slot("duplicate.score"),
            duplicate_of: slot("duplicate_of"),
            incident_size: slot("incident.size"),
        };
        Some(CompiledRules {
            files: self.files.iter().map(Name::from).collect(),
            priorities_lower: priorities.iter().map(|p| p.to_lowercase()).collect(),
            priorities: priorities.into_iter().map(Name::from).collect(),
            derived,
            normalizer,
            territories,
            calendars,
            settings,
            text,
            value_slots: value_slots.into_iter().collect(),
            categories,
            adjustments,
            adjust_tables,
            tiers,
            sla,
            territory_calendars,
            articles,
            sentiment,
            escalation: Escalations { rules: ladders, risk, used_thresholds, age_thresholds },
            assignment,
            duplicates,
            incidents,
            classifiers,
            version: Name::default(),
            preds,
            schema,
        })
    }

    /// Compiles one stage's rules: common keys (`id`, `when`, `description`)
    /// here, the stage's own keys in `action`.
    fn stage<'c, A>(
        &mut self,
        items: &[(usize, &Node)],
        stage: Stage,
        cc: &mut CondCompiler<'c>,
        ids: &mut BTreeMap<String, (usize, u32)>,
        mut action: impl FnMut(&mut Self, &mut CondCompiler<'c>, usize, &Obj<'_>, &str) -> Option<A>,
    ) -> (Vec<Rule<A>>, Vec<Shape>, Vec<Table>, Vec<SideTable>) {
        let allowed: &[&str] = match stage {
            Stage::Territory => &["id", "description", "when", "parent", "priority", "calendar"],
            Stage::Categorize => &["id", "description", "when", "set", "confidence"],
            Stage::Priority => &["id", "description", "when", "raise", "lower", "set", "stop"],
            Stage::Tiers => &["id", "description", "when", "tier", "articles"],
            Stage::Sla => &["id", "description", "when", "calendar", "targets"],
            Stage::Assignment => &["id", "description", "when", "team", "skills", "relax"],
            Stage::Escalation => &["id", "description", "when", "level", "do"],
            Stage::Risk => &["factor", "description", "weight", "when", "field", "cap"],
        };
        let context = format!("a `{}` rule", stage.section());
        let mut out = Vec::new();
        let mut shapes = Vec::new();
        let mut tables = Vec::new();
        let mut sides = Vec::new();
        let mut side_count = 0;
        for (file, node) in items {
            let file = *file;
            // Which side table this is, if one: fields it decides are not
            // read before it.
            cc.reader = match table::side_entry_outputs(stage, node) {
                Some(_) => {
                    side_count += 1;
                    (stage, side_count)
                }
                None => (stage, 0),
            };
            let (id, is_table) = match &node.kind {
                NodeKind::Map(entries) => (
                    entries.iter().find(|(k, _)| k.name == "id").and_then(|(_, v)| v.scalar_text()),
                    entries.iter().any(|(k, _)| k.name == "table"),
                ),
                _ => (None, false),
            };
            let keys = if is_table { &["id", "description", "table"][..] } else { allowed };
            let Some(obj) = self.obj(file, node, &context, keys, id.as_deref()) else {
                continue;
            };
            let Some(id) = id.filter(|i| !i.trim().is_empty()) else {
                self.diags.push(Diagnostic::missing_key(self.file(file), obj.pos, "id", &context));
                continue;
            };
            let id = id.trim().to_string();
            let id_pos = obj.entries.iter().find(|(k, _)| k.name == "id").map_or(obj.pos, |(_, v)| v.pos);
            if let Some((f0, l0)) = ids.get(&id) {
                let d = Diagnostic::duplicate_rule_id(self.file(file), id_pos, &id, self.file(*f0), *l0);
                self.diags.push(d.in_rule(Some(&id)));
            } else {
                ids.insert(id.clone(), (file, obj.pos.line));
            }
            if is_table {
                match self.table_item(stage, file, &obj, &id, cc, ids, &mut action, &mut out, &mut shapes) {
                    Some(table::TableOut::Stage(t)) => tables.push(t),
                    Some(table::TableOut::Side(t)) => sides.push(t),
                    None => {}
                }
                continue;
            }
            let site = Site { file: self.file(file), rule: Some(&id), stage };
            let cond = match obj.get("when") {
                Some(w) => cc.compile(site, w),
                None => Some(Cond::True),
            };
            let act = action(self, cc, file, &obj, &id);
            let meta = RuleMeta { id: Arc::from(id), file, line: obj.pos.line };
            // A rule is a catch-all by its shape, whether or not it compiled,
            // so one broken rule neither hides nor invents a missing default.
            let catch_all = obj.get("when").is_none() || cond.as_ref() == Some(&Cond::True);
            shapes.push(Shape { meta: meta.clone(), catch_all });
            if let (Some(cond), Some(action)) = (cond, act) {
                out.push(Rule { meta, cond, action });
            }
        }
        (out, shapes, tables, sides)
    }

    /// Finds, before any rule is compiled, the fields each side table
    /// decides, so that no rule reads one before it is decided; a field two
    /// side tables decide is an error naming both.
    fn side_decisions(&mut self, sections: &Sections<'_>, cc: &mut CondCompiler<'_>) {
        let stages = [
            (Stage::Categorize, &sections.categories),
            (Stage::Tiers, &sections.tiers),
            (Stage::Sla, &sections.sla),
            (Stage::Assignment, &sections.assignment),
        ];
        for (stage, items) in stages {
            let mut k = 0;
            for (file, node) in items.iter() {
                let Some(outputs) = table::side_entry_outputs(stage, node) else { continue };
                k += 1;
                let id = match &node.kind {
                    NodeKind::Map(entries) => entries.iter().find(|(key, _)| key.name == "id"),
                    _ => None,
                };
                let id = id.and_then(|(_, v)| v.scalar_text()).unwrap_or_default();
                for (name, pos) in outputs {
                    let Some(slot) = cc.schema.lookup(&name) else { continue };
                    if cc.schema.fields[slot].source != crate::schema::Source::Custom {
                        continue;
                    }
                    if let Some((s0, _, t0)) = cc.decided.get(&slot) {
                        let d = Diagnostic::custom(
                            "duplicate-definition",
                            Severity::Error,
                            self.file(*file),
                            pos,
                            format!(
                                "`{name}` is decided by two side tables, `{t0}` (in `{}`) and `{id}`",
                                s0.section()
                            ),
                        )
                        .with_help(format!(
                            "let one table decide `{name}`, or give the second its own field and read both"
                        ));
                        self.diags.push(d.in_rule(Some(&id)));
                        continue;
                    }
                    cc.decided.insert(slot, (stage, k, id.clone()));
                }
            }
        }
    }

    fn first_match_checks(&mut self, rules: &[Shape], stage: &str, example: &str) {
        let mut catch_all: Option<&RuleMeta> = None;
        for r in rules {
            if let Some(by) = catch_all {
                let d = Diagnostic::shadowed_rule(
                    self.file(r.meta.file),
                    Pos::new(r.meta.line, 1),
                    &r.meta.id,
                    &by.id,
                    by.line,
                );
                self.diags.push(d.in_rule(Some(&r.meta.id)));
            } else if r.catch_all {
                catch_all = Some(&r.meta);
            }
        }
        if let Some(last) = rules.last()
            && catch_all.is_none()
        {
            let d = Diagnostic::missing_default(self.file(last.meta.file), Pos::new(last.meta.line, 1), stage, example);
            self.diags.push(d.in_rule(Some(&last.meta.id)));
        }
    }

    fn priority_rank(&mut self, file: usize, node: &Node, rule: &str, priorities: &[String]) -> Option<usize> {
        let text = self.text(file, node, "a priority", Some(rule))?;
        match priorities.iter().position(|p| p.eq_ignore_ascii_case(&text)) {
            Some(r) => Some(r),
            None => {
                let known: Vec<&str> = priorities.iter().map(String::as_str).collect();
                let d = Diagnostic::unknown_priority(self.file(file), node.pos, &text, &known);
                self.diags.push(d.in_rule(Some(rule)));
                None
            }
        }
    }

    fn category_set(&mut self, file: usize, obj: &Obj<'_>, rule: &str, priorities: &[String]) -> Option<CategorySet> {
        let Some(set) = obj.get("set") else {
            self.diags.push(
                Diagnostic::missing_key(self.file(file), obj.pos, "set", "a `categories` rule").in_rule(Some(rule)),
            );
            return None;
        };
        let set = self.obj(file, set, "`set`", &["category", "priority", "product", "skills", "tags"], Some(rule))?;
        let mut from_model = None;
        let category = match set.get("category") {
            Some(c) if matches!(c.kind, NodeKind::Map(_)) => {
                from_model = Some(self.category_from(file, c, rule)?);
                String::new()
            }
            Some(c) => self.text(file, c, "`category`", Some(rule))?,
            None => {
                self.diags
                    .push(Diagnostic::missing_key(self.file(file), set.pos, "category", "`set`").in_rule(Some(rule)));
                return None;
            }
        };
        let priority = match set.get("priority") {
            Some(p) => Some(self.priority_rank(file, p, rule, priorities)?),
            None => None,
        };
        let product = match set.get("product") {
            Some(p) => Some(self.text(file, p, "`product`", Some(rule))?),
            None => None,
        };
        let skills = set.get("skills").map(|n| self.text_list(file, n, "`skills`", Some(rule))).unwrap_or_default();
        let tags = set.get("tags").map(|n| self.text_list(file, n, "`tags`", Some(rule))).unwrap_or_default();
        let confidence = match obj.get("confidence") {
            None => 1.0,
            Some(n) => self.typed(file, n, "`confidence`", "a number from 0 to 1", Some(rule), fraction)?,
        };
        let skills: Vec<String> = skills.into_iter().map(|(s, _)| s).collect();
        let tags: Vec<String> = tags.into_iter().map(|(s, _)| s).collect();
        Some(CategorySet {
            category: category.into(),
            priority,
            product,
            skills_lower: skills.iter().map(|s| s.to_lowercase()).collect(),
            tags_lower: tags.iter().map(|s| s.to_lowercase()).collect(),
            skills,
            tags,
            confidence,
            from_model,
        })
    }

    fn calendar_ref(
        &mut self,
        file: usize,
        obj: &Obj<'_>,
        rule: &str,
        calendars: &[Calendar],
    ) -> Result<Option<usize>, ()> {
        let Some(node) = obj.get("calendar") else { return Ok(None) };
        let name = node.scalar_text().unwrap_or_default();
        match calendars.iter().position(|c| c.id() == name) {
            Some(i) => Ok(Some(i)),
            None => {
                let known: Vec<&str> = calendars.iter().map(Calendar::id).collect();
                let d = Diagnostic::invalid_value(
                    self.file(file),
                    node.pos,
                    format!("unknown calendar `{name}`"),
                    &known,
                    &name,
                );
                self.diags.push(d.in_rule(Some(rule)));
                Err(())
            }
        }
    }

    /// An SLA policy's calendar and business-time targets.
    fn sla_policy(&mut self, file: usize, obj: &Obj<'_>, rule: &str, calendars: &[Calendar]) -> Option<SlaPolicy> {
        // An unknown calendar does not stop the targets being checked.
        let calendar = self.calendar_ref(file, obj, rule, calendars);
        let Some(targets) = obj.get("targets") else {
            self.diags.push(
                Diagnostic::missing_key(self.file(file), obj.pos, "targets", "an `sla` policy").in_rule(Some(rule)),
            );
            return None;
        };
        let keys = ["first_response", "next_response", "resolution", "update"];
        let targets = self.obj(file, targets, "`targets`", &keys, Some(rule))?;
        let mut out = [None; 4];
        let mut ok = true;
        for (i, key) in keys.iter().enumerate() {
            let Some(node) = targets.get(key) else { continue };
            match self.duration(file, node, &format!("`{key}`"), rule) {
                Some(d) => out[i] = Some(d),
                None => ok = false,
            }
        }
        if ok && out.iter().all(Option::is_none) {
            let d = Diagnostic::missing_key(self.file(file), targets.pos, "at least one target", "`targets`");
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        }
        let calendar = calendar.ok()?;
        ok.then_some(SlaPolicy {
            calendar,
            first_response: out[0],
            next_response: out[1],
            resolution: out[2],
            update: out[3],
        })
    }

    fn territory_extra(
        &mut self,
        file: usize,
        obj: &Obj<'_>,
        rule: &str,
        calendars: &[Calendar],
    ) -> Option<TerritoryExtra> {
        let calendar = self.calendar_ref(file, obj, rule, calendars).ok()?;
        let parent = match obj.get("parent") {
            Some(p) => Some((self.text(file, p, "`parent`", Some(rule))?, p.pos)),
            None => None,
        };
        let priority = match obj.get("priority") {
            None => 0,
            Some(n) => self.typed(file, n, "`priority`", "a whole number", Some(rule), |k| match k {
                NodeKind::Int(i) => Some(*i),
                _ => None,
            })?,
        };
        Some(TerritoryExtra { parent, priority, has_when: obj.get("when").is_some(), calendar })
    }

    /// Compiles `calendars:`: zones, weekly windows, holidays (own and
    /// included), each problem reported with its position.
    fn calendars(&mut self, items: &[(usize, &Node)]) -> Vec<Calendar> {
        struct Raw {
            id: String,
            file: usize,
            zone: crate::calendar::Zone,
            week: [Vec<(u16, u16)>; 7],
            holidays: BTreeMap<NaiveDate, Vec<(u16, u16)>>,
            include: Vec<(String, Pos)>,
        }
        let keys = ["id", "description", "timezone", "hours", "holidays", "include_holidays"];
        let mut raws: Vec<Raw> = Vec::new();
        for (file, node) in items {
            let file = *file;
            let id = match &node.kind {
                NodeKind::Map(e) => e.iter().find(|(k, _)| k.name == "id").and_then(|(_, v)| v.scalar_text()),
                _ => None,
            };
            let Some(obj) = self.obj(file, node, "a calendar", &keys, id.as_deref()) else { continue };
            let Some(id) = id else {
                self.diags.push(Diagnostic::missing_key(self.file(file), obj.pos, "id", "a calendar"));
                continue;
            };
            if raws.iter().any(|r| r.id == id) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), obj.pos, "calendar", &id));
                continue;
            }
            let rule = Some(id.as_str());
            let mut week: [Vec<(u16, u16)>; 7] = Default::default();
            let hours = obj.get("hours");
            let always = hours.and_then(Node::as_str).is_some_and(|h| h.trim().eq_ignore_ascii_case("24x7"));
            let zone = match obj.get("timezone") {
                Some(z) => match z.as_str().and_then(crate::calendar::Zone::get) {
                    Some(tz) => tz,
                    None => {
                        let wrong = z.scalar_text().unwrap_or_default();
                        let names: Vec<&str> = crate::calendar::Zone::names().collect();
                        let d = Diagnostic::invalid_value(
                            self.file(file),
                            z.pos,
                            format!("unknown time zone `{wrong}`"),
                            &names,
                            &wrong,
                        )
                        .with_help(
                            crate::diag::did_you_mean(&wrong, names.iter().copied()).unwrap_or_else(|| {
                                "use an IANA zone name such as `Europe/Berlin` or `America/New_York`".to_string()
                            }),
                        );
                        self.diags.push(d.in_rule(rule));
                        continue;
                    }
                },
                None if always => crate::calendar::Zone::utc(),
                None => {
                    self.diags.push(
                        Diagnostic::missing_key(self.file(file), obj.pos, "timezone", "a calendar").in_rule(rule),
                    );
                    continue;
                }
            };
            match hours {
                None => {
                    self.diags
                        .push(Diagnostic::missing_key(self.file(file), obj.pos, "hours", "a calendar").in_rule(rule));
                    continue;
                }
                Some(_) if always => {
                    for day in &mut week {
                        day.push((0, 24 * 60));
                    }
                }
                Some(h) => self.calendar_hours(file, h, rule, &mut week),
            }
            if week.iter().all(Vec::is_empty) && !self.diags.iter().any(|d| d.is_error() && d.rule.as_deref() == rule) {
                let d = Diagnostic::custom(
                    "no-open-time",
                    Severity::Error,
                    self.file(file),
                    hours.map_or(obj.pos, |h| h.pos),
                    format!("calendar `{id}` is never open, so no deadline could ever be computed"),
                )
                .with_help("give it at least one window, e.g. `mon-fri: [\"09:00-17:00\"]`, or `hours: 24x7`");
                self.diags.push(d.in_rule(rule));
            }
            let mut holidays: BTreeMap<NaiveDate, Vec<(u16, u16)>> = BTreeMap::new();
            if let Some(list) = obj.get("holidays") {
                for item in self.list(file, list, "`holidays`") {
                    if let Some((date, span)) = self.holiday(file, item, rule) {
                        holidays.entry(date).or_default().push(span);
                    }
                }
            }
            let include = obj
                .get("include_holidays")
                .map(|n| self.text_list(file, n, "`include_holidays`", rule))
                .unwrap_or_default();
            raws.push(Raw { id, file, zone, week, holidays, include });
        }
        // Included holidays, transitively; a cycle is an error.
        let ids: Vec<String> = raws.iter().map(|r| r.id.clone()).collect();
        let mut merged: Vec<BTreeMap<NaiveDate, Vec<(u16, u16)>>> = raws.iter().map(|r| r.holidays.clone()).collect();
        for (i, r) in raws.iter().enumerate() {
            let mut seen = vec![i];
            let mut stack: Vec<(String, Pos)> = r.include.clone();
            while let Some((name, pos)) = stack.pop() {
                let Some(j) = ids.iter().position(|x| *x == name) else {
                    let known: Vec<&str> = ids.iter().map(String::as_str).collect();
                    let d = Diagnostic::invalid_value(
                        self.file(r.file),
                        pos,
                        format!("unknown calendar `{name}`"),
                        &known,
                        &name,
                    );
                    self.diags.push(d.in_rule(Some(&r.id)));
                    continue;
                };
                if j == i {
                    let d = Diagnostic::custom(
                        "calendar-cycle",
                        Severity::Error,
                        self.file(r.file),
                        pos,
                        format!("calendar `{}` includes its own holidays through `include_holidays`", r.id),
                    );
                    self.diags.push(d.in_rule(Some(&r.id)));
                    continue;
                }
                if seen.contains(&j) {
                    continue;
                }
                seen.push(j);
                for (date, spans) in &raws[j].holidays {
                    merged[i].entry(*date).or_default().extend(spans.iter().copied());
                }
                stack.extend(raws[j].include.iter().cloned());
            }
        }
        raws.into_iter().zip(merged).map(|(r, h)| Calendar::new(r.id, r.zone, r.week, h)).collect()
    }

    fn calendar_hours(&mut self, file: usize, node: &Node, rule: Option<&str>, week: &mut [Vec<(u16, u16)>; 7]) {
        let NodeKind::Map(entries) = &node.kind else {
            let d = Diagnostic::wrong_type(
                self.file(file),
                node.pos,
                "`hours`",
                "`24x7` or a mapping of days to windows",
                &node.describe(),
            );
            self.diags.push(d.in_rule(rule));
            return;
        };
        for (key, windows) in entries {
            let Some(days) = calendar::parse_days(&key.name) else {
                let d = Diagnostic::custom(
                    "invalid-hours",
                    Severity::Error,
                    self.file(file),
                    key.pos,
                    format!("`{}` is not a day or range of days", key.name),
                )
                .with_help("write days like `mon`, `mon-fri`, `sat, sun`, `weekdays`, `weekend` or `daily`");
                self.diags.push(d.in_rule(rule));
                continue;
            };
            if windows.as_str().is_some_and(|w| w.trim().eq_ignore_ascii_case("closed")) {
                continue;
            }
            for (text, pos) in self.text_list(file, windows, "a list of windows", rule) {
                let parsed = text.split_once('-').and_then(|(a, b)| {
                    let (s, e) = (calendar::parse_clock(a, false)?, calendar::parse_clock(b, true)?);
                    (s != e).then_some((s, e))
                });
                match parsed {
                    Some((s, e)) => {
                        for &d in &days {
                            calendar::add_window(week, d, s, e);
                        }
                    }
                    None => {
                        let d = Diagnostic::custom(
                            "invalid-hours",
                            Severity::Error,
                            self.file(file),
                            pos,
                            format!("`{text}` is not a window like `09:00-17:30`"),
                        )
                        .with_help("times are HH:MM; a window may end at `24:00` or after midnight (`22:00-06:00`)");
                        self.diags.push(d.in_rule(rule));
                    }
                }
            }
        }
    }

    /// A holiday: a date (closed all day) or `{ date, from, to }`.
    fn holiday(&mut self, file: usize, node: &Node, rule: Option<&str>) -> Option<(NaiveDate, (u16, u16))> {
        let (date_node, from, to) = match &node.kind {
            NodeKind::Map(_) => {
                let obj = self.obj(file, node, "a holiday", &["date", "from", "to", "name"], rule)?;
                let Some(d) = obj.get("date") else {
                    self.diags
                        .push(Diagnostic::missing_key(self.file(file), obj.pos, "date", "a holiday").in_rule(rule));
                    return None;
                };
                (d, obj.get("from"), obj.get("to"))
            }
            _ => (node, None, None),
        };
        let date = date_node.scalar_text().and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok());
        let Some(date) = date else {
            let d = Diagnostic::wrong_type(
                self.file(file),
                date_node.pos,
                "a holiday date",
                "a date like `2026-12-25`",
                &date_node.describe(),
            );
            self.diags.push(d.in_rule(rule));
            return None;
        };
        let clock = |c: &mut Self, n: Option<&Node>, default: u16, allow_24: bool| -> Option<u16> {
            match n {
                None => Some(default),
                Some(n) => match n.scalar_text().and_then(|t| calendar::parse_clock(&t, allow_24)) {
                    Some(m) => Some(m),
                    None => {
                        let d = Diagnostic::wrong_type(
                            c.file(file),
                            n.pos,
                            "a holiday time",
                            "a time like `13:00`",
                            &n.describe(),
                        );
                        c.diags.push(d.in_rule(rule));
                        None
                    }
                },
            }
        };
        let from = clock(self, from, 0, false)?;
        let to = clock(self, to, 24 * 60, true)?;
        Some((date, (from, to)))
    }

    fn adjust(&mut self, file: usize, obj: &Obj<'_>, rule: &str, priorities: &[String]) -> Option<Adjust> {
        let present: Vec<(&str, &Node)> =
            ["raise", "lower", "set"].iter().filter_map(|k| obj.get(k).map(|v| (*k, v))).collect();
        if present.len() != 1 {
            let d = if present.is_empty() {
                Diagnostic::custom(
                    "missing-key",
                    Severity::Error,
                    self.file(file),
                    obj.pos,
                    "a `priority` rule needs one of `raise`, `lower` or `set`".to_string(),
                )
                .with_help("add the move, e.g. `raise: 1`; `stop: true` alone moves nothing")
            } else {
                let keys: Vec<String> = present.iter().map(|(k, _)| format!("`{k}`")).collect();
                Diagnostic::custom(
                    "conflicting-moves",
                    Severity::Error,
                    self.file(file),
                    obj.pos,
                    format!("a `priority` rule moves the priority once, and this one has {}", keys.join(" and ")),
                )
                .with_help("keep one of them; write a second rule for a second move")
            };
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        }
        let (key, value) = present[0];
        let kind = if key == "set" {
            AdjustKind::Set(self.priority_rank(file, value, rule, priorities)?)
        } else {
            let what = format!("`{key}`");
            let steps =
                self.typed(file, value, &what, "a whole number of steps (at least 1)", Some(rule), at_least_one)?;
            if key == "raise" { AdjustKind::Raise(steps) } else { AdjustKind::Lower(steps) }
        };
        let stop = match obj.get("stop") {
            None => false,
            Some(n) => self.typed(file, n, "`stop`", "`true` or `false`", Some(rule), |k| match k {
                NodeKind::Bool(b) => Some(*b),
                _ => None,
            })?,
        };
        Some(Adjust { kind, stop })
    }

    fn tier_set(&mut self, file: usize, obj: &Obj<'_>, rule: &str, articles: &[Article]) -> Option<TierSet> {
        let Some(t) = obj.get("tier") else {
            self.diags
                .push(Diagnostic::missing_key(self.file(file), obj.pos, "tier", "a `tiers` rule").in_rule(Some(rule)));
            return None;
        };
        let tier = match t.kind {
            NodeKind::Int(i @ 0..=3) => i as u8,
            _ => {
                let d = Diagnostic::invalid_value(
                    self.file(file),
                    t.pos,
                    format!("tier must be 0, 1, 2 or 3, found {}", t.describe()),
                    &["0", "1", "2", "3"],
                    "",
                );
                self.diags.push(d.in_rule(Some(rule)));
                return None;
            }
        };
        let list = match obj.get("articles") {
            None => None,
            Some(node) => {
                let known: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
                let mut out = Vec::new();
                for (id, pos) in self.text_list(file, node, "`articles`", Some(rule)) {
                    match articles.iter().position(|a| a.id == id) {
                        Some(i) => out.push(i),
                        None => {
                            let d = Diagnostic::unknown_article(self.file(file), pos, &id, &known);
                            self.diags.push(d.in_rule(Some(rule)));
                        }
                    }
                }
                if tier != 0 {
                    let d = Diagnostic::custom(
                        "articles-need-tier-0",
                        Severity::Warning,
                        self.file(file),
                        node.pos,
                        format!("`articles` only take effect at tier 0; this rule sets tier {tier}"),
                    );
                    self.diags.push(d.in_rule(Some(rule)));
                }
                Some(out)
            }
        };
        Some(TierSet { tier, articles: list })
    }

    fn knowledge(&mut self, s: &Sections<'_>, cc: &mut CondCompiler<'_>, text_slot: usize) -> Vec<Article> {
        let mut out: Vec<Article> = Vec::new();
        for (file, node) in &s.knowledge {
            let file = *file;
            let id = match &node.kind {
                NodeKind::Map(e) => e.iter().find(|(k, _)| k.name == "id").and_then(|(_, v)| v.scalar_text()),
                _ => None,
            };
            let Some(obj) = self.obj(
                file,
                node,
                "a knowledge article",
                &["id", "title", "url", "keywords", "products"],
                id.as_deref(),
            ) else {
                continue;
            };
            let Some(id) = id else {
                self.diags.push(Diagnostic::missing_key(self.file(file), obj.pos, "id", "a knowledge article"));
                continue;
            };
            if out.iter().any(|a| a.id == id) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), obj.pos, "knowledge article", &id));
                continue;
            }
            let title = match obj.get("title") {
                Some(t) => self.text(file, t, "`title`", Some(&id)),
                None => {
                    self.diags.push(
                        Diagnostic::missing_key(self.file(file), obj.pos, "title", "a knowledge article")
                            .in_rule(Some(&id)),
                    );
                    None
                }
            };
            let url = obj.get("url").and_then(|u| self.text(file, u, "`url`", Some(&id)));
            let keywords = match obj.get("keywords") {
                Some(k) => self.text_list(file, k, "`keywords`", Some(&id)),
                None => {
                    self.diags.push(
                        Diagnostic::missing_key(self.file(file), obj.pos, "keywords", "a knowledge article")
                            .in_rule(Some(&id)),
                    );
                    Vec::new()
                }
            };
            let keyword_ids = keywords.iter().filter_map(|(k, _)| cc.text.phrase(text_slot, k)).collect();
            let products = obj
                .get("products")
                .map(|p| self.text_list(file, p, "`products`", Some(&id)))
                .unwrap_or_default()
                .into_iter()
                .map(|(p, _)| p.to_lowercase())
                .collect();
            if let Some(title) = title {
                out.push(Article { id, title, url, keywords: keyword_ids, products });
            }
        }
        out
    }

    fn sentiment(&mut self, s: &Sections<'_>, cc: &mut CondCompiler<'_>, text_slot: usize) -> Lexicon {
        let mut lex = Lexicon::default();
        let Some((file, node)) = s.sentiment else {
            return lex;
        };
        let Some(obj) = self.obj(file, node, "`sentiment`", &["negative", "positive", "english"], None) else {
            return lex;
        };
        if let Some(n) = obj.get("english") {
            match n.scalar_text().as_deref() {
                Some("vader") => lex.vader = true,
                Some("lexicon") => {}
                _ => {
                    let d = Diagnostic::invalid_value(
                        self.file(file),
                        n.pos,
                        format!("`english` is `vader` or `lexicon`, not {}", n.describe()),
                        &["vader", "lexicon"],
                        &n.scalar_text().unwrap_or_default(),
                    )
                    .with_help("`vader` scores English text by VADER when none of the phrases match; `lexicon` by the phrases only");
                    self.diags.push(d);
                }
            }
        }
        for (name, target) in [("negative", &mut lex.negative), ("positive", &mut lex.positive)] {
            if let Some(list) = obj.get(name) {
                for (phrase, _) in self.text_list(file, list, &format!("`{name}`"), None) {
                    if let Some(id) = cc.text.phrase(text_slot, &phrase) {
                        target.push(id);
                    }
                }
            }
        }
        lex
    }
}

/// A number from 0 to 1.
fn fraction(kind: &NodeKind) -> Option<f64> {
    match *kind {
        NodeKind::Int(i) if (0..=1).contains(&i) => Some(i as f64),
        NodeKind::Float(x) if (0.0..=1.0).contains(&x) => Some(x),
        _ => None,
    }
}

/// A whole number of at least 1.
fn at_least_one(kind: &NodeKind) -> Option<usize> {
    match *kind {
        NodeKind::Int(i) if i >= 1 => Some(usize::try_from(i).unwrap_or(usize::MAX)),
        _ => None,
    }
}

fn first_match<A>(
    rules: Vec<Rule<A>>,
    tables: Vec<Table>,
    side: Vec<SideTable>,
    preds: &[crate::cond::Pred],
    schema: &Schema,
    (phrases, regexes): (usize, usize),
) -> FirstMatch<A> {
    let conds: Vec<&Cond> = rules.iter().map(|r| &r.cond).collect();
    let index = RuleIndex::build(&conds, preds, schema, phrases, regexes);
    FirstMatch { rules, index, tables, side }
}
