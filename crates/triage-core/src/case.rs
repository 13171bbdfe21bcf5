//! The case: what arrives from a channel, as the caller hands it over.

use crate::object::Object;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An incoming support case. Everything but `id` is optional.
///
/// ```
/// let case = triage_core::Case::from_json(r#"{"id": "c1", "subject": "API is down"}"#).unwrap();
/// assert_eq!(case.subject.as_deref(), Some("API is down"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The caller's id for the case.
    pub id: String,
    /// A human-facing case number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// When the case was opened.
    #[serde(default, deserialize_with = "crate::instant::fixed_opt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<FixedOffset>>,
    /// `email`, `web`, `phone`, `chat`, `slack`, …
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Message body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Who wrote in.
    #[serde(default, deserialize_with = "crate::object::optional", skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    /// Country as given (any spelling).
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Region or subdivision as given.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code as given.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Account id in the directory.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Product as given.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Priority as given by the requester or channel.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Status, e.g. `new`, `open`, `waiting_on_customer`.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The agent who last owned the case: kept when still eligible.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub previous_agent: Option<String>,
    /// Custom fields declared under `fields:` in the rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// The person who opened the case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// E-mail address.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Preferred language, e.g. `de`.
    #[serde(default, deserialize_with = "crate::object::short_text", skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A case that could not be read, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid case: {message}")]
pub struct CaseError {
    /// The JSON path of the offending field (`.` for the whole case).
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl Case {
    /// Reads a case from JSON text; a wrong type names the field.
    pub fn from_json(text: &str) -> Result<Case, CaseError> {
        one_document(text, "case")
    }

    /// Reads a case from an already-parsed JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Case, CaseError> {
        from_value(value)
    }
}

/// Reads one JSON document of `what`; anything after it but white space
/// (a second case on the same line, the rest of a JSON Lines file) is an
/// error rather than silently ignored.
pub(crate) fn one_document<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, CaseError> {
    // A byte-order mark (as Windows editors write) is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Most documents are well formed: read them without tracking the path,
    // and read again with it only to say where a bad one goes wrong.
    if let Ok(Object(value)) = serde_json::from_str::<Object<T>>(text) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let Object(value) = serde_path_to_error::deserialize(&mut *de).map_err(|e| path_error(&e))?;
    de.end().map_err(|e| CaseError {
        path: ".".to_string(),
        message: format!(
            "more after the {what} at line {}, column {}: one {what} per document (commands that take many read \
             JSON Lines, one per line)",
            e.line(),
            e.column()
        ),
    })?;
    Ok(value)
}

/// Reads one object of `T` from an already-parsed JSON value.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, CaseError> {
    serde_path_to_error::deserialize(value).map(|Object(v)| v).map_err(|e| path_error(&e))
}

pub(crate) fn path_error<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> CaseError {
    let path = e.path().to_string();
    // `?` is where the input ended before a field could be named.
    let path = if path == "?" { ".".to_string() } else { path };
    // A path through 100,000 nested lists is not worth printing whole.
    let path = if path.len() > 200 {
        let cut = (0..=200).rev().find(|&i| path.is_char_boundary(i)).unwrap_or(0);
        format!("{}…", &path[..cut])
    } else {
        path
    };
    let inner = plain_types(&e.inner().to_string());
    // The date-time parser's own words say nothing of what is wrong.
    let inner = if inner.starts_with("premature end of input")
        || inner.starts_with("input contains invalid characters")
        || inner.starts_with("input is out of range")
        || inner.starts_with("input is not enough for unique date and time")
        || inner.starts_with("trailing input")
    {
        format!("{inner}; {OFFSET_HINT}")
    } else {
        inner
    };
    let message = if path.starts_with('[') || (path == "." && inner.starts_with("invalid type: sequence")) {
        format!(
            "the input is a JSON array, where one object is expected; commands that take many cases read JSON Lines, \
             one case per line ({inner})"
        )
    } else if path == "." {
        inner
    } else {
        format!("field `{path}`: {inner}")
    };
    CaseError { path, message }
}

/// What a date-time needs, for messages: RFC 3339 with an offset.
pub const OFFSET_HINT: &str = "a date-time needs a UTC offset or `Z`, as in `2026-03-02T09:00:00Z` or \
                               `2026-03-02T09:00:00+01:00`, and must be a real date and time (no February 30, no 24:00)";

/// A deserializer's message with Rust's number types said in words
/// (`expected i64` → `expected a whole number`).
pub(crate) fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 9] = [
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected u64", "expected a whole number of at least 0"),
        ("expected u32", "expected a whole number of at least 0"),
        ("expected u16", "expected a whole number of at least 0"),
        ("expected usize", "expected a whole number of at least 0"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ];
    WORDS.iter().fold(message.to_string(), |m, (rust, words)| m.replace(rust, words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_lose_invisible_ends_and_nothing_left_is_no_value() {
        let c = Case::from_json(
            "{\"id\": \"a\", \"account\": \"acme-de\\u200b\", \"priority\": \"\\u00adP2\\u00ad\", \
             \"postal_code\": \" 10115\\u200b\", \"previous_agent\": \" raj \", \"country\": \"\\ufeff\", \
             \"channel\": \"   \", \"subject\": \" Hi\\u200b\", \
             \"requester\": {\"email\": \"\\u200bops@acme.example\\u200e\", \"language\": \"de\\u2060\", \"name\": \" Dana \"}}",
        )
        .unwrap();
        assert_eq!(c.account.as_deref(), Some("acme-de"));
        assert_eq!(c.priority.as_deref(), Some("P2"));
        assert_eq!(c.postal_code.as_deref(), Some("10115"));
        assert_eq!(c.previous_agent.as_deref(), Some("raj"));
        assert_eq!((c.country, c.channel), (None, None));
        let r = c.requester.unwrap();
        assert_eq!((r.email.as_deref(), r.language.as_deref()), (Some("ops@acme.example"), Some("de")));
        // Free text is the customer's, as written.
        assert_eq!((c.subject.as_deref(), r.name.as_deref()), (Some(" Hi\u{200b}"), Some(" Dana ")));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = Case::from_json(r#"{"id": "a", "created_at": "2026-03-02T09:00:00"}"#).unwrap_err();
        assert!(e.message.contains("needs a UTC offset or `Z`"), "{}", e.message);
        let e = Case::from_json(r#"[{"id": "a"}]"#).unwrap_err();
        assert!(e.message.contains("is a JSON array") && e.message.contains("JSON Lines"), "{}", e.message);
    }

    #[test]
    fn content_after_the_case_is_an_error() {
        let e = Case::from_json("{\"id\": \"a\"} {\"id\": \"b\"}").unwrap_err();
        assert!(e.message.contains("more after the case at line 1, column"), "{}", e.message);
        let e = Case::from_json("{\"id\": \"a\"}\n{\"id\": \"b\"}\n").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(Case::from_json("{\"id\": \"a\"}\n\n").is_ok());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = Case::from_json(r#"{"id": "1", "requester": {"email": 5}}"#).unwrap_err();
        assert_eq!(e.path, "requester.email");
        assert!(e.message.contains("requester.email"), "{}", e.message);
    }

    #[test]
    fn structs_written_as_lists_are_refused() {
        let e = Case::from_json(r#"{"id": "1", "requester": ["ann@example.com", "Ann"]}"#).unwrap_err();
        assert_eq!(e.path, "requester");
        assert!(e.message.contains("invalid type: sequence, expected an object"), "{}", e.message);
        assert!(Case::from_json(r#"["1"]"#).is_err());
        let state = r#"{"case": {"id": "1"}, "events": [["2026-03-02T09:00:00Z", "created"]]}"#;
        let e = crate::CaseState::from_json(state).unwrap_err();
        assert_eq!(e.path, "events[0]");
        let e = crate::CaseState::from_json(r#"{"case": ["1"]}"#).unwrap_err();
        assert_eq!(e.path, "case");
        let e = crate::CaseState::from_json(r#"[{"id": "1"}, []]"#).unwrap_err();
        assert!(e.message.contains("is a JSON array"), "{}", e.message);
        let dir = "agents:\n  - [ann, [desk]]\n  - { id: bo, window: [6, 4] }\n";
        let e = crate::Directory::from_text("d.yaml", dir).unwrap_err().to_string();
        assert!(e.contains("d.yaml:2:5") && e.contains("agent #1: invalid type: sequence"), "{e}");
        assert!(e.contains("d.yaml:3:") && e.contains("agent `bo`: `window`: invalid type: sequence"), "{e}");
    }

    #[test]
    fn unknown_field_is_an_error() {
        let e = Case::from_json(r#"{"id": "1", "subjet": "x"}"#).unwrap_err();
        assert!(e.message.contains("subjet"), "{}", e.message);
    }

    #[test]
    fn only_id_is_required() {
        assert!(Case::from_json(r#"{"id": "1"}"#).is_ok());
        assert!(Case::from_json(r#"{}"#).is_err());
    }
}
