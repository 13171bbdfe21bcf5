//! Diagnostics: what compiling a rule set found wrong, as plain data.
//!
//! Every diagnostic has a stable kebab-case code, a severity, a position in a
//! named file, the id of the rule it concerns (when there is one), a one-line
//! message and, where one can be given, a help line. The wording of each kind
//! of problem lives in one constructor below so that the CLI, the HTTP
//! service and the rule tests all say the same thing.

use serde::Serialize;
use std::fmt;

/// How bad a diagnostic is. Errors refuse the rule set; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The rule set cannot be used.
    Error,
    /// The rule set works, but probably not as its author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A line and column in a source file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    /// Line, from 1 (0 when unknown).
    pub line: u32,
    /// Column in characters, from 1 (0 when unknown).
    pub column: u32,
}

impl Pos {
    /// A position at `line`, `column`.
    pub const fn new(line: u32, column: u32) -> Self {
        Pos { line, column }
    }
}

/// One problem found in a rule set, test file or directory file.
///
/// ```
/// use triage_core::compile_sources;
/// let (rules, diags) = compile_sources(&[("bad.yaml", "categories: 5\n")]);
/// assert!(rules.is_none());
/// assert_eq!(diags[0].code, "wrong-type");
/// assert_eq!((diags[0].line, diags[0].column), (1, 13));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable kebab-case code, e.g. `unknown-field`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One line, lowercase, user input in backticks.
    pub message: String,
    /// The file the problem is in, as the caller named it.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// The rule the problem concerns, if any.
    pub rule: Option<String>,
    /// A suggestion, if one can be made.
    pub help: Option<String>,
    /// A case (by field name) that shows the problem, when the lint found one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<serde_json::Value>,
}

impl Diagnostic {
    fn new(code: &'static str, severity: Severity, file: &str, pos: Pos, message: String) -> Self {
        Diagnostic {
            code,
            severity,
            message,
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            rule: None,
            help: None,
            example: None,
        }
    }

    /// Whether this diagnostic refuses the rule set.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Attaches the rule id the problem belongs to.
    pub fn in_rule(mut self, rule: Option<&str>) -> Self {
        if self.rule.is_none() {
            self.rule = rule.map(str::to_string);
        }
        self
    }

    /// Attaches a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches an example case.
    pub fn with_example(mut self, example: serde_json::Value) -> Self {
        self.example = Some(example);
        self
    }

    fn with_suggestion(mut self, wrong: &str, candidates: &[&str]) -> Self {
        if let Some(help) = did_you_mean(wrong, candidates.iter().copied()) {
            self.help = Some(help);
        }
        self
    }

    pub(crate) fn yaml_syntax(file: &str, pos: Pos, message: &str) -> Self {
        Self::new("yaml-syntax", Severity::Error, file, pos, format!("invalid YAML: {message}"))
    }

    pub(crate) fn yaml_limit(file: &str, pos: Pos, message: &str) -> Self {
        Self::new(
            "yaml-too-large",
            Severity::Error,
            file,
            pos,
            format!("refused: the document is beyond a safe size or depth: {message}"),
        )
        .with_help(
            "rule files may nest at most 32 levels, and aliases may add at most 200,000 nodes to what the file spells \
             out; avoid deep alias chains",
        )
    }

    pub(crate) fn duplicate_key(file: &str, pos: Pos, key: &str) -> Self {
        Self::new("duplicate-key", Severity::Error, file, pos, format!("duplicate key `{key}`"))
            .with_help("each key may appear once in a mapping; YAML would silently keep only one")
    }

    pub(crate) fn unknown_key(file: &str, pos: Pos, key: &str, context: &str, known: &[&str]) -> Self {
        Self::new("unknown-key", Severity::Error, file, pos, format!("unknown key `{key}` in {context}"))
            .with_suggestion(key, known)
            .or_help(format!("expected one of {}", list(known)))
    }

    pub(crate) fn missing_key(file: &str, pos: Pos, key: &str, context: &str) -> Self {
        Self::new("missing-key", Severity::Error, file, pos, format!("{context} needs `{key}`"))
    }

    pub(crate) fn wrong_type(file: &str, pos: Pos, what: &str, expected: &str, found: &str) -> Self {
        Self::new("wrong-type", Severity::Error, file, pos, format!("{what} must be {expected}, found {found}"))
    }

    pub(crate) fn unknown_field(file: &str, pos: Pos, field: &str, known: &[&str]) -> Self {
        let d = Self::new("unknown-field", Severity::Error, file, pos, format!("unknown field `{field}`"))
            .with_suggestion(field, known);
        if field.starts_with("predicted.") {
            let predicted: Vec<&str> =
                known.iter().copied().filter(|k| k.starts_with("predicted.") && !k.ends_with(".confidence")).collect();
            let label = field.trim_start_matches("predicted.").trim_end_matches(".confidence");
            return d.or_help(if predicted.is_empty() {
                format!(
                    "`predicted.*` fields come from models: name one under `classifiers:` (trained with \
                     `triage train CASES.jsonl --label {label} --out RULES_DIR/models/NAME.json`)"
                )
            } else {
                format!(
                    "the classifiers predict {}; train a model with `--label {label}` to predict `{label}`",
                    list(&predicted)
                )
            });
        }
        d.or_help("declare custom case fields under `fields:`, account attributes as `account.<name>`")
    }

    pub(crate) fn field_not_available(file: &str, pos: Pos, field: &str, stage: &str, decided_by: &str) -> Self {
        Self::new(
            "field-not-available",
            Severity::Error,
            file,
            pos,
            format!("`{field}` is not known yet in `{stage}` rules"),
        )
        .with_help(format!("`{field}` is decided by the `{decided_by}` stage, which runs later"))
    }

    pub(crate) fn unknown_operator(file: &str, pos: Pos, op: &str, known: &[&str]) -> Self {
        Self::new("unknown-operator", Severity::Error, file, pos, format!("unknown operator `{op}`"))
            .with_suggestion(op, known)
            .or_help(format!("operators are {}", list(known)))
    }

    pub(crate) fn operator_not_applicable(
        file: &str,
        pos: Pos,
        op: &str,
        field: &str,
        ty: &str,
        fits: &[&str],
    ) -> Self {
        Self::new(
            "operator-not-applicable",
            Severity::Error,
            file,
            pos,
            format!("operator `{op}` does not apply to `{field}`, {} {ty} field", article(ty)),
        )
        .with_help(format!("for {} {ty} field use {}", article(ty), list(fits)))
    }

    pub(crate) fn value_type(file: &str, pos: Pos, field: &str, op: &str, expected: &str, found: &str) -> Self {
        // `op` is an operator (`gte`), or where the value stands (`in a
        // table cell`), which is not code.
        let op = if op.contains(' ') { op.to_string() } else { format!("`{op}`") };
        Self::new("value-type", Severity::Error, file, pos, format!("`{field}` {op} needs {expected}, found {found}"))
    }

    pub(crate) fn invalid_value(file: &str, pos: Pos, message: String, allowed: &[&str], wrong: &str) -> Self {
        Self::new("invalid-value", Severity::Error, file, pos, message)
            .with_suggestion(wrong, allowed)
            .or_help(format!("allowed values are {}", list(allowed)))
    }

    pub(crate) fn unknown_channel(file: &str, pos: Pos, channel: &str, known: &[&str]) -> Self {
        Self::new(
            "unknown-channel",
            Severity::Warning,
            file,
            pos,
            format!("channel `{channel}` is not one the engine knows; no case will carry it"),
        )
        .with_suggestion(channel, known)
    }

    pub(crate) fn invalid_regex(file: &str, pos: Pos, error: &str) -> Self {
        let first = error.lines().last().unwrap_or(error).trim();
        Self::new("invalid-regex", Severity::Error, file, pos, format!("invalid regular expression: {first}"))
            .with_help("the syntax is that of the `regex` crate; lookaround and backreferences are not supported")
    }

    pub(crate) fn empty_phrase(file: &str, pos: Pos) -> Self {
        Self::new("empty-phrase", Severity::Error, file, pos, "empty keyword or phrase".to_string())
            .with_help("an empty phrase would match every case; remove it")
    }

    pub(crate) fn duplicate_rule_id(file: &str, pos: Pos, id: &str, first_file: &str, first_line: u32) -> Self {
        Self::new(
            "duplicate-rule-id",
            Severity::Error,
            file,
            pos,
            format!("rule id `{id}` is already used at {first_file}:{first_line}"),
        )
        .with_help("rule ids must be unique across the rule set; traces and tests refer to them")
    }

    pub(crate) fn duplicate_definition(file: &str, pos: Pos, what: &str, id: &str) -> Self {
        Self::new("duplicate-definition", Severity::Error, file, pos, format!("{what} `{id}` is defined twice"))
    }

    pub(crate) fn missing_default(file: &str, pos: Pos, stage: &str, example: &str) -> Self {
        Self::new(
            "missing-default",
            Severity::Error,
            file,
            pos,
            format!("`{stage}` has no default rule, so some cases would get no answer"),
        )
        .with_help(format!("end `{stage}` with a rule that has no `when`, e.g. {example}"))
    }

    pub(crate) fn shadowed_rule(file: &str, pos: Pos, id: &str, by: &str, by_line: u32) -> Self {
        Self::new(
            "shadowed-rule",
            Severity::Warning,
            file,
            pos,
            format!("rule `{id}` can never match: rule `{by}` (line {by_line}) above it matches every case"),
        )
        .with_help(format!("move `{id}` above `{by}`, or give `{by}` a `when`"))
    }

    pub(crate) fn unknown_article(file: &str, pos: Pos, id: &str, known: &[&str]) -> Self {
        Self::new("unknown-article", Severity::Error, file, pos, format!("unknown knowledge article `{id}`"))
            .with_suggestion(id, known)
            .or_help("declare articles under `knowledge:`")
    }

    pub(crate) fn unknown_priority(file: &str, pos: Pos, p: &str, known: &[&str]) -> Self {
        Self::new("unknown-priority", Severity::Error, file, pos, format!("`{p}` is not on the priority scale"))
            .with_suggestion(p, known)
            .or_help(format!("the scale is {}", list(known)))
    }

    pub(crate) fn invalid_field_decl(file: &str, pos: Pos, message: String) -> Self {
        Self::new("invalid-field", Severity::Error, file, pos, message)
    }

    pub(crate) fn duplicate_section(file: &str, pos: Pos, key: &str) -> Self {
        Self::new(
            "duplicate-section",
            Severity::Error,
            file,
            pos,
            format!("`{key}` may be declared only once in a rule set"),
        )
    }

    pub(crate) fn impossible_condition(file: &str, pos: Pos, why: String) -> Self {
        Self::new("impossible-condition", Severity::Warning, file, pos, why)
            .with_help("this rule can never match; check the bounds")
    }

    fn or_help(mut self, help: impl Into<String>) -> Self {
        if self.help.is_none() {
            self.help = Some(help.into());
        }
        self
    }

    /// Builds a diagnostic for rule tests and other callers outside the
    /// compiler that need the same shape (e.g. a bad test file).
    pub(crate) fn custom(code: &'static str, severity: Severity, file: &str, pos: Pos, message: String) -> Self {
        Self::new(code, severity, file, pos, message)
    }
}

fn list(items: &[&str]) -> String {
    let shown: Vec<String> = items.iter().take(12).map(|s| format!("`{s}`")).collect();
    let more = if items.len() > 12 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// "did you mean `x`?" for the closest candidate, when one is close enough.
pub(crate) fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    suggest(wrong, candidates).map(|s| format!("did you mean `{s}`?"))
}

/// The candidate closest to `wrong` by edit distance, if it is close enough
/// to be what the author meant.
pub fn suggest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_l = wrong.to_lowercase();
    let limit = (wrong.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&wrong_l, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}[{}]: {}", self.file, self.line, self.column, self.severity, self.code, self.message)?;
        if let Some(rule) = &self.rule {
            write!(f, " (rule `{rule}`)")?;
        }
        Ok(())
    }
}

/// `a` or `an` before a type name (`an enum`, `a number`).
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("prodcut", ["product", "priority", "channel"]), Some("product"));
        assert_eq!(suggest("contians_any", ["contains_any", "contains"]), Some("contains_any"));
        assert_eq!(suggest("zebra", ["product", "priority"]), None);
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
