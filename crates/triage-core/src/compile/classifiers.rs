//! The `classifiers:` section: models trained by `triage train`, named and
//! loaded from files beside the rules, whose guesses rules read as
//! `predicted.LABEL` and `predicted.LABEL.confidence`.
//!
//! ```yaml
//! classifiers:
//!   support: models/support.json   # relative to the rule directory
//! ```

use super::{Compiler, Sections};
use crate::classify::Model;
use crate::diag::{Diagnostic, Severity};
use crate::name::Name;
use crate::rules::Classifier;
use crate::schema::{Derived, FieldDef, FieldType, Schema, Source, Stage};
use crate::syntax::{self, NodeKind};
use std::sync::Arc;

/// The model files the rules' `classifiers:` sections name, as written
/// (paths relative to the rule directory), in file order without repeats.
/// A loader reads them and passes their text to
/// [`compile_with_files`](crate::compile_with_files); a file that does not
/// parse names nothing here (compiling reports it).
pub fn classifier_files(sources: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, text) in sources {
        let Ok(root) = syntax::parse(name, text) else { continue };
        let NodeKind::Map(top) = &root.kind else { continue };
        for (key, value) in top {
            if key.name != "classifiers" {
                continue;
            }
            let NodeKind::Map(entries) = &value.kind else { continue };
            for (_, path) in entries {
                if let Some(p) = path.as_str().map(str::trim).filter(|p| !p.is_empty())
                    && !out.iter().any(|o| o == p)
                {
                    out.push(p.to_string());
                }
            }
        }
    }
    out
}

/// Whether a model path stays inside the rule directory: relative, with no
/// `..` part.
fn inside(path: &str) -> bool {
    let absolute = path.starts_with('/') || path.starts_with('\\') || path.contains(':');
    !(absolute || path.split(['/', '\\']).any(|part| part == ".."))
}

impl Compiler<'_> {
    /// Loads each named model and adds its labels' fields to the schema.
    pub(super) fn classifiers(&mut self, s: &Sections<'_>, schema: &mut Schema) -> Vec<Classifier> {
        let Some((file, node)) = s.classifiers else { return Vec::new() };
        let NodeKind::Map(entries) = &node.kind else {
            let d = Diagnostic::wrong_type(
                self.file(file),
                node.pos,
                "`classifiers`",
                "a mapping of classifier name to model file (`support: models/support.json`)",
                &node.describe(),
            );
            self.diags.push(d);
            return Vec::new();
        };
        let mut out: Vec<Classifier> = Vec::new();
        for (key, value) in entries {
            let name = key.name.trim();
            if name.is_empty() || name.chars().any(char::is_control) {
                let d = Diagnostic::custom(
                    "invalid-value",
                    Severity::Error,
                    self.file(file),
                    key.pos,
                    format!("`{name}` cannot name a classifier"),
                )
                .with_help("name it as traces will show it, e.g. `support: models/support.json`");
                self.diags.push(d);
                continue;
            }
            // Until it loads, the rules reading this classifier's labels are
            // not checked against them.
            let failed_before = self.model_failed;
            self.model_failed = true;
            let Some(path) = value.as_str().map(str::trim).filter(|p| !p.is_empty()) else {
                let d = Diagnostic::wrong_type(
                    self.file(file),
                    value.pos,
                    &format!("classifier `{name}`"),
                    "the path of a model file, relative to the rule directory",
                    &value.describe(),
                );
                self.diags.push(d);
                continue;
            };
            if !inside(path) {
                let d = Diagnostic::custom(
                    "model-outside",
                    Severity::Error,
                    self.file(file),
                    value.pos,
                    format!(
                        "model file `{path}` of classifier `{name}` is not a path inside the rule directory \
                         (absolute, or with a `..` part)"
                    ),
                )
                .with_help("put the model in the rule directory (e.g. `models/support.json`) and name it from there");
                self.diags.push(d);
                continue;
            }
            if !path.to_ascii_lowercase().ends_with(".json") {
                let d = Diagnostic::custom(
                    "invalid-value",
                    Severity::Error,
                    self.file(file),
                    value.pos,
                    format!("model file `{path}` of classifier `{name}` is not a `.json` file"),
                )
                .with_help("models are the JSON files `triage train --out` writes, e.g. `models/support.json`");
                self.diags.push(d);
                continue;
            }
            let Some((_, text)) = self.attached.iter().find(|(n, _)| *n == path) else {
                let d = Diagnostic::custom(
                    "model-missing",
                    Severity::Error,
                    self.file(file),
                    value.pos,
                    format!("model file `{path}` of classifier `{name}` was not found"),
                )
                .with_help(format!(
                    "the path is relative to the rule directory; train the model with `triage train CASES.jsonl \
                     --label LABEL --out RULES_DIR/{path}`, a `--label` for each `predicted.LABEL` the rules read"
                ));
                self.diags.push(d);
                continue;
            };
            let model = match Model::from_json(text) {
                Ok(m) => m,
                Err(e) => {
                    let d = Diagnostic::custom(
                        "model-unreadable",
                        Severity::Error,
                        self.file(file),
                        value.pos,
                        format!("model file `{path}` of classifier `{name}` cannot be used: {e}"),
                    )
                    .with_help(format!(
                        "train it again: `triage train CASES.jsonl --label LABEL --out RULES_DIR/{path}`"
                    ));
                    self.diags.push(d);
                    continue;
                }
            };
            self.model_failed = failed_before;
            let index = out.len() as u16;
            let mut slots = Vec::new();
            for (head, label) in model.labels().iter().enumerate() {
                let field = format!("predicted.{label}");
                if schema.lookup(&field).is_some() {
                    let d = Diagnostic::custom(
                        "duplicate-definition",
                        Severity::Error,
                        self.file(file),
                        key.pos,
                        format!("`{field}` is predicted by classifier `{name}` and defined before it"),
                    )
                    .with_help(
                        "each label may come from one classifier only; drop one, or train them under other labels",
                    );
                    self.diags.push(d);
                    continue;
                }
                let head = head as u16;
                let from_stage = Stage::Territory;
                let class_slot = schema.len();
                // The model's classes are the field's values: a rule that
                // compares it with another is an error at compile time.
                let classes = model.classes(label).iter().map(|c| c.to_string()).collect();
                schema.push(FieldDef {
                    name: field.clone(),
                    ty: FieldType::Enum(classes),
                    source: Source::Derived(Derived::Predicted { classifier: index, head, confidence: false }),
                    from_stage,
                });
                let confidence_slot = schema.len();
                schema.push(FieldDef {
                    name: format!("{field}.confidence"),
                    ty: FieldType::Number,
                    source: Source::Derived(Derived::Predicted { classifier: index, head, confidence: true }),
                    from_stage,
                });
                slots.push((Name::from(*label), class_slot, confidence_slot));
                self.predicted.push((label.to_string(), out.len(), slots.len() - 1));
            }
            out.push(Classifier {
                name: Name::from(name),
                path: path.to_string(),
                file,
                line: key.pos.line,
                model: Arc::new(model),
                slots,
            });
        }
        out
    }

    /// A categorize rule's `category: { from: predicted.LABEL }`: the
    /// classifier and label it takes the category from.
    pub(super) fn category_from(
        &mut self,
        file: usize,
        node: &crate::syntax::Node,
        rule: &str,
    ) -> Option<(usize, usize)> {
        let obj = self.obj(file, node, "`category`", &["from"], Some(rule))?;
        let Some(from) = obj.get("from") else {
            let d = Diagnostic::missing_key(self.file(file), obj.pos, "from", "`category`");
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        let text = self.text(file, from, "`from`", Some(rule))?;
        if self.model_failed {
            // Already reported: the model did not load.
            return None;
        }
        let label = text.strip_prefix("predicted.").unwrap_or("");
        match self.predicted.iter().find(|(l, _, _)| l == label) {
            Some((_, c, h)) => Some((*c, *h)),
            None => {
                let known: Vec<String> = self.predicted.iter().map(|(l, _, _)| format!("predicted.{l}")).collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let help = if known.is_empty() {
                    "add a `classifiers:` section naming a model trained on this label".to_string()
                } else {
                    format!("the classifiers predict {}", known.join(", "))
                };
                let d = Diagnostic::custom(
                    "unknown-field",
                    Severity::Error,
                    self.file(file),
                    from.pos,
                    format!("`from: {text}` names no label a classifier predicts"),
                )
                .with_help(help);
                self.diags.push(d.in_rule(Some(rule)));
                None
            }
        }
    }
}
