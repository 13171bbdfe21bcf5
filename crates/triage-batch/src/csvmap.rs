//! Which CSV column fills which case field.
//!
//! By default a column fills the case field of the same name, compared
//! without case and with spaces, dashes and dots as underscores
//! (`Created At` → `created_at`, `Requester Email` → `requester.email`). A
//! mapping (`--map COLUMN=FIELD`, or a YAML file of `COLUMN: FIELD` pairs
//! under `columns:`) names the others; `--map COLUMN=` ignores a column.
//! Columns that fill nothing are listed once at the start of the run.

use crate::BatchError;
use std::collections::BTreeMap;

/// The case fields a column can fill. `fields.NAME` fills a custom field.
pub const CASE_FIELDS: &[&str] = &[
    "id",
    "number",
    "created_at",
    "channel",
    "subject",
    "body",
    "requester.email",
    "requester.name",
    "requester.language",
    "country",
    "region",
    "postal_code",
    "account",
    "product",
    "priority",
    "status",
    "previous_agent",
];

/// Column names → case fields, as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// Column name → field (`None`: ignore the column).
    pub columns: BTreeMap<String, Option<String>>,
}

/// The mapping file's shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    columns: BTreeMap<String, Option<String>>,
}

impl ColumnMap {
    /// Adds `COLUMN=FIELD` pairs from the command line. A pair overrides the mapping file for its column; two pairs for one
    /// column must agree.
    ///
    /// # Errors
    /// A pair without `=`, a field that is not a case field, or a column
    /// given two different fields.
    pub fn add_pairs<'a>(&mut self, pairs: impl IntoIterator<Item = &'a str>) -> Result<(), BatchError> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for pair in pairs {
            let Some((column, field)) = pair.split_once('=') else {
                return Err(BatchError(format!("--map `{pair}` is not COLUMN=FIELD (e.g. `--map \"Ticket ID=id\"`)")));
            };
            let (column, field) = (column.trim(), field.trim());
            if let Some(before) = given.insert(column, field)
                && before != field
            {
                return Err(BatchError(format!(
                    "--map gives column `{column}` two fields, `{before}` and `{field}`; a column fills one field \
                     (keep one of them)"
                )));
            }
            self.insert(column, field, "--map")?;
        }
        Ok(())
    }

    /// Reads a mapping file: YAML with `columns:`, a map of column → field
    /// (`~` or an empty value to ignore a column).
    ///
    /// # Errors
    /// A file that cannot be read, is not such YAML, or names a field that
    /// is not a case field.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<(), BatchError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        let file: MapFile = serde_saphyr::from_str(&text).map_err(|e| {
            BatchError(format!("{}: not a column mapping (`columns:` of COLUMN: FIELD): {e}", path.display()))
        })?;
        let what = path.display().to_string();
        for (column, field) in file.columns {
            self.insert(&column, field.as_deref().unwrap_or(""), &what)?;
        }
        Ok(())
    }

    fn insert(&mut self, column: &str, field: &str, what: &str) -> Result<(), BatchError> {
        if field.is_empty() {
            self.columns.insert(column.to_string(), None);
            return Ok(());
        }
        if !is_case_field(field) {
            return Err(BatchError(format!(
                "{what}: `{field}` (for column `{column}`) is not a case field; use one of {} or fields.NAME",
                CASE_FIELDS.join(", ")
            )));
        }
        self.columns.insert(column.to_string(), Some(field.to_string()));
        Ok(())
    }

    /// The field each header column fills (`None`: ignored), and the names
    /// of the columns that fill nothing without being told to.
    ///
    /// # Errors
    /// A mapped column missing from the header, or two columns filling the
    /// same field.
    pub fn resolve(&self, header: &[String], input: &str) -> Result<(Vec<Option<String>>, Vec<String>), BatchError> {
        for column in self.columns.keys() {
            if !header.iter().any(|h| h == column) {
                return Err(BatchError(format!(
                    "{input}: the mapping names column `{column}`, which the header does not have (it has: {})",
                    header.join(", ")
                )));
            }
        }
        let mut fields = Vec::with_capacity(header.len());
        let mut unused = Vec::new();
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for column in header {
            let field = match self.columns.get(column) {
                Some(f) => f.clone(),
                None => {
                    let f = default_field(column);
                    if f.is_none() {
                        unused.push(column.clone());
                    }
                    f
                }
            };
            if let Some(f) = &field
                && let Some(other) = seen.insert(f.clone(), column)
            {
                return Err(BatchError(format!(
                    "{input}: columns `{other}` and `{column}` both fill `{f}`; map one of them elsewhere or ignore it \
                     with --map \"{column}=\""
                )));
            }
            fields.push(field);
        }
        if !fields.iter().any(|f| f.as_deref() == Some("id")) {
            return Err(BatchError(format!(
                "{input}: no column fills the case's `id`; map one, e.g. --map \"Ticket ID=id\" (the header has: {})",
                header.join(", ")
            )));
        }
        Ok((fields, unused))
    }
}

fn is_case_field(field: &str) -> bool {
    CASE_FIELDS.contains(&field) || field.strip_prefix("fields.").is_some_and(|n| !n.is_empty())
}

/// The case field a column of this name fills without a mapping.
fn default_field(column: &str) -> Option<String> {
    let key: String =
        column.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
    let dotted = key.replacen("requester_", "requester.", 1);
    for candidate in [key.as_str(), dotted.as_str()] {
        if CASE_FIELDS.contains(&candidate) {
            return Some(candidate.to_string());
        }
    }
    key.strip_prefix("fields.").filter(|n| !n.is_empty()).map(|n| format!("fields.{n}"))
}

/// A row as a case's JSON: each filled field from its cell (an empty cell
/// leaves the field out). `number` must be a whole number; `created_at`
/// takes RFC 3339 and the common export forms (`2026-03-02 09:00:00+01:00`,
/// `2026-03-02 09:00:00 +0100`, `2026-03-02 09:00:00 UTC`); a custom field
/// that reads as a number or `true`/`false` is one.
///
/// # Errors
/// The column and why its cell cannot fill its field.
pub(crate) fn row_to_json(
    fields: &[Option<String>],
    header: &[String],
    row: &[&str],
) -> Result<serde_json::Value, String> {
    use serde_json::{Map, Value};
    let mut case = Map::new();
    let mut requester = Map::new();
    let mut custom = Map::new();
    for (i, cell) in row.iter().enumerate() {
        let Some(Some(field)) = fields.get(i) else { continue };
        let column = header.get(i).map(String::as_str).unwrap_or("?");
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = match field.as_str() {
            "number" => match cell.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(format!("column `{column}` (number): `{cell}` is not a whole number")),
            },
            "created_at" => match parse_instant(cell) {
                Some(t) => Value::String(t),
                None => {
                    return Err(format!(
                        "column `{column}` (created_at): `{cell}` is not a date-time with a UTC offset; {}",
                        triage_core::OFFSET_HINT
                    ));
                }
            },
            f if f.starts_with("fields.") => typed(cell),
            _ => Value::String(cell.to_string()),
        };
        if let Some(name) = field.strip_prefix("requester.") {
            requester.insert(name.to_string(), value);
        } else if let Some(name) = field.strip_prefix("fields.") {
            custom.insert(name.to_string(), value);
        } else {
            case.insert(field.clone(), value);
        }
    }
    if !requester.is_empty() {
        case.insert("requester".to_string(), Value::Object(requester));
    }
    if !custom.is_empty() {
        case.insert("fields".to_string(), Value::Object(custom));
    }
    Ok(Value::Object(case))
}

/// A custom field's cell: a number when the number's own text is the
/// cell's (`12`, `1.5`; not `0012` or `1.50`, which a text field must keep
/// as written and a number field still reads), `true`/`false`, or the text.
fn typed(cell: &str) -> serde_json::Value {
    if let Ok(n) = cell.parse::<i64>()
        && n.to_string() == cell
    {
        return n.into();
    }
    if let Ok(x) = cell.parse::<f64>()
        && x.is_finite()
        && serde_json::to_string(&x).is_ok_and(|text| text == cell)
    {
        return x.into();
    }
    match cell {
        "true" | "TRUE" | "True" => true.into(),
        "false" | "FALSE" | "False" => false.into(),
        _ => cell.into(),
    }
}

/// An instant in RFC 3339 or a common export form, as RFC 3339.
pub(crate) fn parse_instant(text: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_rfc3339());
    }
    for format in ["%Y-%m-%d %H:%M:%S%:z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.to_rfc3339());
        }
    }
    let utc = text.strip_suffix(" UTC").or_else(|| text.strip_suffix(" GMT"))?;
    NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S").ok().map(|t| t.and_utc().to_rfc3339())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_a_number_only_when_written_as_one() {
        assert_eq!(typed("12"), serde_json::json!(12));
        assert_eq!(typed("1.5"), serde_json::json!(1.5));
        assert_eq!(typed("-3"), serde_json::json!(-3));
        for kept in ["0012", "1.50", "+7", "1e2", " 12", "12abc"] {
            assert_eq!(typed(kept), serde_json::json!(kept), "{kept}");
        }
        assert_eq!(typed("TRUE"), serde_json::json!(true));
    }

    #[test]
    fn headers_fill_fields_by_name_and_by_mapping() {
        let mut map = ColumnMap::default();
        map.add_pairs(["Ticket ID=id", "Notes="]).unwrap();
        let header: Vec<String> =
            ["Ticket ID", "Subject", "Requester Email", "Created At", "Notes", "Colour"].map(String::from).to_vec();
        let (fields, unused) = map.resolve(&header, "x.csv").unwrap();
        assert_eq!(fields[0].as_deref(), Some("id"));
        assert_eq!(fields[2].as_deref(), Some("requester.email"));
        assert_eq!(fields[3].as_deref(), Some("created_at"));
        assert_eq!(fields[4], None);
        assert_eq!(unused, vec!["Colour".to_string()]);
        let json = row_to_json(&fields, &header, &["7", "Hi", "a@b.example", "2026-03-02 09:00:00 +0100", "x", "red"])
            .unwrap();
        assert_eq!(json["requester"]["email"], "a@b.example");
        assert_eq!(json["created_at"], "2026-03-02T09:00:00+01:00");
        assert!(row_to_json(&fields, &header, &["7", "", "", "yesterday", "", ""]).unwrap_err().contains("Created At"));
    }

    #[test]
    fn a_missing_id_or_unknown_field_is_refused() {
        let header: Vec<String> = ["Subject"].map(String::from).to_vec();
        assert!(ColumnMap::default().resolve(&header, "x.csv").unwrap_err().0.contains("`id`"));
        assert!(ColumnMap::default().add_pairs(["Subject=subjct"]).unwrap_err().0.contains("not a case field"));
    }
}
