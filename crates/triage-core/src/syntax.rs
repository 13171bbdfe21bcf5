//! YAML text to a spanned syntax tree. The only module that knows the YAML
//! library.
//!
//! Rule files are read into [`Node`]s: maps keep their keys in source order
//! with positions, scalars keep enough of their type for the compiler to
//! interpret them against the schema. YAML 1.2 core rules apply: `NO`, `on`
//! and `yes` stay strings (only `true`/`false` are booleans), `01234` stays
//! the string `"01234"`, duplicate keys are an error, nesting is capped at 32
//! levels, and a document may hold at most 200,000 nodes more than it has
//! bytes: no file is too large for what it spells out, while aliases that
//! expand it beyond that (a "billion laughs" file) are refused quickly
//! rather than exhausting memory or the stack.

use crate::diag::{Diagnostic, Pos};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Deepest nesting a rule file may use. Kept low enough that parsing fits a
/// 2 MiB thread stack in a debug build.
const MAX_DEPTH: usize = 32;
/// Nodes a document may expand to beyond its length in bytes, aliases
/// included. A node takes at least one byte to write, so only aliases can
/// reach the limit: the budget scales with the input and refuses expansion,
/// not size.
const MAX_EXPANSION: usize = 200_000;

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub kind: NodeKind,
}

/// The shape of a YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer written plainly.
    Int(i64),
    /// A float written plainly.
    Float(f64),
    /// Any other scalar, quoted or not.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in source order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Where the key is.
    pub pos: Pos,
    /// The key's text.
    pub name: String,
}

impl Node {
    /// A short description of the value's kind for error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Null => "nothing".to_string(),
            NodeKind::Bool(b) => format!("the boolean `{b}`"),
            NodeKind::Int(i) => format!("the number `{i}`"),
            NodeKind::Float(x) => format!("the number `{x}`"),
            NodeKind::Str(s) => format!("the text `{s}`"),
            NodeKind::Seq(_) => "a list".to_string(),
            NodeKind::Map(_) => "a mapping".to_string(),
        }
    }

    /// The scalar's text, whatever its YAML type; `None` for collections and null.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(x) => Some(x.to_string()),
            NodeKind::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON, dropping positions (for data such as test cases).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(file: &str, text: &str) -> Result<Node, Box<Diagnostic>> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = text.len().saturating_add(MAX_EXPANSION);
    // Each node is two events at most (a collection's start and end), and
    // each comment an event; the library's own limits (one million events,
    // 32 comment lines in a row before a nested value) refuse long but
    // ordinary files.
    budget.max_events = text.len().saturating_mul(2).saturating_add(2 * MAX_EXPANSION);
    budget.max_buffered_comment_events = text.len();
    budget.max_total_scalar_bytes = text.len().saturating_add(64 << 20);
    options.budget = Some(budget);
    if text.trim().is_empty() {
        return Ok(Node { pos: Pos::new(1, 1), kind: NodeKind::Map(Vec::new()) });
    }
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        // Only comments (or `~`): an empty file, as one with nothing in it.
        Ok(root) if matches!(root.value, Raw::Null) => {
            Ok(Node { pos: Pos::new(1, 1), kind: NodeKind::Map(Vec::new()) })
        }
        Ok(root) => Ok(convert(root)),
        Err(e) => Err(Box::new(to_diagnostic(file, text, &e))),
    }
}

fn to_diagnostic(file: &str, text: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let pos = e.location().map(|l| Pos::new(clamp(l.line()), clamp(l.column()))).unwrap_or(Pos::new(1, 1));
    let full = e.to_string();
    // The library appends " at line L, column C" and sometimes more; the
    // position is reported separately, so keep only the message.
    let message = full.split(" at line ").next().unwrap_or(&full).trim().to_string();
    if message.starts_with("budget breached")
        || message.contains("recursion limit")
        || message.contains("nesting limit")
    {
        return Diagnostic::yaml_limit(file, pos, limit_words(&message));
    }
    if message.contains("multiple YAML documents") {
        return second_document(file, text, pos);
    }
    if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(',').next().unwrap_or(key);
        return Diagnostic::duplicate_key(file, pos, key);
    }
    Diagnostic::yaml_syntax(file, pos, &message)
}

/// Which of the YAML library's limits was reached, in words.
fn limit_words(message: &str) -> &'static str {
    if message.contains("Depth") || message.contains("recursion") || message.contains("nesting") {
        "it nests deeper than 32 levels"
    } else if message.contains("Nodes") {
        "its aliases expand it by more than 200,000 nodes"
    } else if message.contains("Alias") || message.contains("Anchor") || message.contains("Merge") {
        "it uses aliases and anchors beyond the limits (50,000 aliases, 50,000 anchors, a million copied parts)"
    } else {
        "it is larger than the YAML reader's limits allow"
    }
}

/// A file with a second YAML document, reported at the `---` that starts it.
fn second_document(file: &str, text: &str, content: Pos) -> Diagnostic {
    // The library points at the second document's first content; the
    // `---` that opened it is the last one before that.
    let marker = text
        .lines()
        .take(content.line as usize)
        .enumerate()
        .filter(|(_, l)| l.starts_with("---"))
        .map(|(i, _)| i + 1)
        .last();
    let at = marker.map_or(content, |line| Pos::new(u32::try_from(line).unwrap_or(u32::MAX), 1));
    Diagnostic::custom(
        "multiple-documents",
        crate::diag::Severity::Error,
        file,
        at,
        format!("a second YAML document begins at line {}: a file holds one document", at.line),
    )
    .with_help("move what follows this `---` into a file of its own, or delete the `---` to merge the two")
}

fn clamp(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos::new(clamp(s.referenced.line()), clamp(s.referenced.column()))
}

fn convert(raw: Spanned<Raw>) -> Node {
    let pos = pos_of(&raw);
    let kind = match raw.value {
        Raw::Null => NodeKind::Null,
        Raw::Bool(b) => NodeKind::Bool(b),
        Raw::Int(i) => NodeKind::Int(i),
        Raw::Float(x) => NodeKind::Float(x),
        Raw::Str(s) => NodeKind::Str(s),
        Raw::Seq(items) => NodeKind::Seq(items.into_iter().map(convert).collect()),
        Raw::Map(entries) => NodeKind::Map(
            entries.into_iter().map(|(k, v)| (Key { pos: pos_of(&k), name: k.value }, convert(v))).collect(),
        ),
    };
    Node { pos, kind }
}

/// What the YAML library hands over, before positions are made ours.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Raw, E> {
        Ok(Raw::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Raw, E> {
        Ok(i64::try_from(u).map_or(Raw::Str(u.to_string()), Raw::Int))
    }
    fn visit_i128<E>(self, i: i128) -> Result<Raw, E> {
        Ok(Raw::Str(i.to_string()))
    }
    fn visit_u128<E>(self, u: u128) -> Result<Raw, E> {
        Ok(Raw::Str(u.to_string()))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Raw, E> {
        Ok(Raw::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Raw, E> {
        Ok(Raw::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Raw, E> {
        Ok(Raw::Str(s))
    }
    fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(b).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            let key = Spanned { value: key.value.0, referenced: key.referenced, defined: key.defined };
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// A mapping key read as text whatever its YAML type (`1:` and `true:` are
/// keys too).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyText, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Null => Ok(KeyText("null".to_string())),
            Raw::Bool(b) => Ok(KeyText(b.to_string())),
            Raw::Int(i) => Ok(KeyText(i.to_string())),
            Raw::Float(x) => Ok(KeyText(x.to_string())),
            Raw::Str(s) => Ok(KeyText(s)),
            Raw::Seq(_) | Raw::Map(_) => Err(serde::de::Error::custom("a mapping key must be a scalar")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.kind {
            NodeKind::Map(entries) => &entries.iter().find(|(k, _)| k.name == key).expect("key").1,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn yaml_1_1_traps_stay_strings() {
        let n = parse("t.yaml", "norway: NO\non: on\nyes: yes\nzip: 01234\nreal: true\nn: 12\n").unwrap();
        assert_eq!(get(&n, "norway").kind, NodeKind::Str("NO".into()));
        assert_eq!(get(&n, "on").kind, NodeKind::Str("on".into()));
        assert_eq!(get(&n, "yes").kind, NodeKind::Str("yes".into()));
        assert_eq!(get(&n, "zip").kind, NodeKind::Str("01234".into()));
        assert_eq!(get(&n, "real").kind, NodeKind::Bool(true));
        assert_eq!(get(&n, "n").kind, NodeKind::Int(12));
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse("t.yaml", "a:\n  b: [x, y]\n").unwrap();
        let b = get(get(&n, "a"), "b");
        assert_eq!(b.pos, Pos::new(2, 6));
        match &n.kind {
            NodeKind::Map(e) => assert_eq!(e[0].0.pos, Pos::new(1, 1)),
            _ => panic!(),
        }
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let d = parse("t.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(d.code, "duplicate-key");
        assert_eq!(d.line, 3);
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].windows(2).map(|w| (w[0], w[1])) {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let d = parse("bomb.yaml", &text).unwrap_err();
        assert_eq!(d.code, "yaml-too-large");
    }

    #[test]
    fn long_comment_runs_and_large_documents_are_read() {
        // The YAML library refuses more than 32 comment lines in a row
        // before a nested value by default.
        let comments: String = (0..40).map(|i| format!("  # note {i}\n")).collect();
        let n = parse("t.yaml", &format!("a:\n{comments}  b: 1\n")).unwrap();
        assert_eq!(get(get(&n, "a"), "b").kind, NodeKind::Int(1));
        // 250,000 nodes written out (more than a fixed budget allowed).
        let items = vec!["x"; 250_000].join(", ");
        let n = parse("big.yaml", &format!("list: [{items}]\n")).unwrap();
        assert!(matches!(&get(&n, "list").kind, NodeKind::Seq(v) if v.len() == 250_000));
    }

    #[test]
    fn a_second_document_is_named_where_it_begins() {
        let d = parse("t.yaml", "a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!((d.code, d.line, d.column), ("multiple-documents", 2, 1));
        assert!(d.message.contains("a second YAML document begins at line 2"), "{}", d.message);
        let d = parse("t.yaml", "---\na: 1\n# note\n---\n\nb: 2\n").unwrap_err();
        assert_eq!((d.code, d.line), ("multiple-documents", 4));
        assert!(!d.message.contains("from_str"), "{}", d.message);
        assert!(parse("t.yaml", "---\na: 1\n").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(500) + &"]".repeat(500);
        let d = parse("deep.yaml", &text).unwrap_err();
        assert_eq!(d.code, "yaml-too-large");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let d = parse("t.yaml", "a: [1, 2\nb: x\n").unwrap_err();
        assert_eq!(d.code, "yaml-syntax");
        assert_eq!(d.line, 2);
    }
}
