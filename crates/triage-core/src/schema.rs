//! The fields rules may name: built-in case fields, declared custom fields,
//! account attributes and values decided by earlier stages. Each field gets a
//! slot number at compile time so evaluation indexes a vector instead of
//! looking names up.

use crate::diag::Diagnostic;
use crate::syntax::{Node, NodeKind};
use std::collections::BTreeMap;

/// The index of a field in a [`Schema`].
pub(crate) type Slot = usize;

/// A field's value type, which decides the operators it accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// Free text; phrase operators match whole words.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// One of a declared set of values.
    Enum(Vec<String>),
    /// A list of strings (tags, skills).
    List,
    /// An RFC 3339 instant.
    DateTime,
    /// A calendar date, `2026-03-02`, held as midnight UTC at its start (the
    /// rule DMN's FEEL uses to compare a date with an instant).
    Date,
    /// A value on the rule set's priority scale.
    Priority,
}

impl FieldType {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            FieldType::Enum(_) => "enum",
            FieldType::List => "list",
            FieldType::DateTime => "datetime",
            FieldType::Date => "date",
            FieldType::Priority => "priority",
        }
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Case(CaseField),
    Custom,
    Account(AccountField),
    Derived(Derived),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseField {
    Id,
    Number,
    CreatedAt,
    Channel,
    Subject,
    Body,
    Text,
    RequesterEmail,
    RequesterName,
    RequesterLanguage,
    Country,
    Region,
    PostalCode,
    Account,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountField {
    Id,
    Name,
    Segment,
    Strategic,
    Entitlement,
    Language,
    Country,
    Territory,
    Path,
    Custom,
}

/// Values decided by the engine itself, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    /// Case priority, then as set by categorize and priority rules.
    Priority,
    /// Case product, then as set by categorize.
    Product,
    Sentiment,
    /// `negative`, `neutral` or `positive`.
    SentimentLabel,
    AgeMinutes,
    Category,
    Tags,
    Skills,
    Confidence,
    Territory,
    TerritoryPath,
    Tier,
    /// The SLA policy in effect (escalation only).
    SlaPolicy,
    /// How often the case was reopened (escalation only).
    ReopenCount,
    /// A metric's clock at the instant escalation looks (escalation only).
    Sla(Metric, MetricField),
    /// The best duplicate's similarity (`duplicates:`; decisions only).
    DuplicateScore,
    /// The best duplicate's case id.
    DuplicateOf,
    /// The suspected incident's size (`incidents:`).
    IncidentSize,
    /// A `classifiers:` model's guess of one of its labels (the class, or
    /// the confidence in it).
    Predicted {
        /// Index in the rules' classifiers.
        classifier: u16,
        /// Index of the label in the model.
        head: u16,
        /// The confidence rather than the class.
        confidence: bool,
    },
}

/// The SLA clocks a policy may set targets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// From the case's start to the first agent reply.
    FirstResponse,
    /// From the oldest unanswered customer message to the next agent reply.
    NextResponse,
    /// From the case's start to a resolved status, paused while waiting.
    Resolution,
    /// Between agent updates, while the case is open.
    Update,
}

impl Metric {
    /// All metrics, in output order.
    pub const ALL: [Metric; 4] = [Metric::FirstResponse, Metric::NextResponse, Metric::Resolution, Metric::Update];

    /// The metric's name in rule files and output.
    pub fn name(self) -> &'static str {
        match self {
            Metric::FirstResponse => "first_response",
            Metric::NextResponse => "next_response",
            Metric::Resolution => "resolution",
            Metric::Update => "update",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What escalation rules may read of one SLA metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricField {
    /// Percent of the target used, business time.
    Used,
    /// `running`, `paused`, `met` or `breached`.
    State,
    /// Whether the target was missed.
    Breached,
}

/// The states of an SLA metric, as rules and output name them.
pub const METRIC_STATES: &[&str] = &["running", "paused", "met", "breached"];

/// The stages of the pipeline that run rules, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The territory tree: deepest match wins.
    Territory,
    /// First match wins: category, priority, product, skills, tags.
    Categorize,
    /// Every matching rule raises, lowers or sets the priority.
    Priority,
    /// First match wins: tier 0–3.
    Tiers,
    /// First match wins: the SLA policy.
    Sla,
    /// First match wins: the team and the skills to look for.
    Assignment,
    /// Every matching rule fires its actions, over the case's history.
    Escalation,
    /// Risk factors of escalation records.
    Risk,
}

impl Stage {
    /// The stage's section name in rule files.
    pub fn section(self) -> &'static str {
        match self {
            Stage::Territory => "territories",
            Stage::Categorize => "categories",
            Stage::Priority => "priority",
            Stage::Tiers => "tiers",
            Stage::Sla => "sla",
            Stage::Assignment => "assignment",
            Stage::Escalation => "escalation",
            Stage::Risk => "risk",
        }
    }
}

/// One field rules may name.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub name: String,
    pub ty: FieldType,
    pub source: Source,
    /// The first stage whose rules may read it.
    pub from_stage: Stage,
}

/// The channels the engine knows. A rule naming another channel is warned
/// about; a case carrying another channel gets a warning.
pub const CHANNELS: &[&str] = &["api", "chat", "email", "phone", "portal", "slack", "social", "web"];

/// All fields of a rule set.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub fields: Vec<FieldDef>,
    by_name: BTreeMap<String, Slot>,
}

impl Schema {
    fn builtin() -> Schema {
        use AccountField as A;
        use CaseField as C;
        use Derived as D;
        use FieldType as T;
        let p = T::Priority;
        let s = Stage::Territory;
        let list: Vec<(&str, FieldType, Source, Stage)> = vec![
            ("id", T::String, Source::Case(C::Id), s),
            ("number", T::Number, Source::Case(C::Number), s),
            ("created_at", T::DateTime, Source::Case(C::CreatedAt), s),
            ("channel", T::String, Source::Case(C::Channel), s),
            ("subject", T::String, Source::Case(C::Subject), s),
            ("body", T::String, Source::Case(C::Body), s),
            ("text", T::String, Source::Case(C::Text), s),
            ("requester.email", T::String, Source::Case(C::RequesterEmail), s),
            ("requester.name", T::String, Source::Case(C::RequesterName), s),
            ("requester.language", T::String, Source::Case(C::RequesterLanguage), s),
            ("country", T::String, Source::Case(C::Country), s),
            ("region", T::String, Source::Case(C::Region), s),
            ("postal_code", T::String, Source::Case(C::PostalCode), s),
            ("account", T::String, Source::Case(C::Account), s),
            ("status", T::String, Source::Case(C::Status), s),
            ("priority", p, Source::Derived(D::Priority), s),
            ("product", T::String, Source::Derived(D::Product), s),
            ("sentiment", T::Number, Source::Derived(D::Sentiment), s),
            ("sentiment.score", T::Number, Source::Derived(D::Sentiment), s),
            (
                "sentiment.label",
                T::Enum(["negative", "neutral", "positive"].iter().map(|s| s.to_string()).collect()),
                Source::Derived(D::SentimentLabel),
                s,
            ),
            ("age_minutes", T::Number, Source::Derived(D::AgeMinutes), s),
            ("category", T::String, Source::Derived(D::Category), Stage::Priority),
            ("tags", T::List, Source::Derived(D::Tags), Stage::Priority),
            ("skills", T::List, Source::Derived(D::Skills), Stage::Priority),
            ("confidence", T::Number, Source::Derived(D::Confidence), Stage::Priority),
            ("territory", T::String, Source::Derived(D::Territory), Stage::Categorize),
            ("territory_path", T::List, Source::Derived(D::TerritoryPath), Stage::Categorize),
            ("tier", T::Number, Source::Derived(D::Tier), Stage::Sla),
            ("duplicate.score", T::Number, Source::Derived(D::DuplicateScore), Stage::Priority),
            ("duplicate_of", T::String, Source::Derived(D::DuplicateOf), Stage::Priority),
            ("incident.size", T::Number, Source::Derived(D::IncidentSize), Stage::Priority),
            ("account.id", T::String, Source::Account(A::Id), s),
            ("account.name", T::String, Source::Account(A::Name), s),
            ("account.segment", T::String, Source::Account(A::Segment), s),
            ("account.strategic", T::Bool, Source::Account(A::Strategic), s),
            ("account.entitlement", T::String, Source::Account(A::Entitlement), s),
            ("account.language", T::String, Source::Account(A::Language), s),
            ("account.country", T::String, Source::Account(A::Country), s),
            ("account.territory", T::String, Source::Account(A::Territory), s),
            ("account.path", T::List, Source::Account(A::Path), s),
        ];
        let mut schema = Schema { fields: Vec::new(), by_name: BTreeMap::new() };
        for (name, ty, source, from_stage) in list {
            schema.push(FieldDef { name: name.to_string(), ty, source, from_stage });
        }
        let e = Stage::Escalation;
        schema.push(FieldDef {
            name: "sla.policy".into(),
            ty: T::String,
            source: Source::Derived(D::SlaPolicy),
            from_stage: e,
        });
        schema.push(FieldDef {
            name: "reopen_count".into(),
            ty: T::Number,
            source: Source::Derived(D::ReopenCount),
            from_stage: e,
        });
        let states = T::Enum(METRIC_STATES.iter().map(|s| s.to_string()).collect());
        for m in Metric::ALL {
            for (field, ty) in [("used", T::Number), ("state", states.clone()), ("breached", T::Bool)] {
                let which = match field {
                    "used" => MetricField::Used,
                    "state" => MetricField::State,
                    _ => MetricField::Breached,
                };
                schema.push(FieldDef {
                    name: format!("sla.{}.{field}", m.name()),
                    ty,
                    source: Source::Derived(D::Sla(m, which)),
                    from_stage: e,
                });
            }
        }
        schema
    }

    pub(crate) fn push(&mut self, def: FieldDef) {
        self.by_name.insert(def.name.clone(), self.fields.len());
        self.fields.push(def);
    }

    /// Builds the schema from the built-ins plus `fields:` declarations.
    pub fn build(decls: &[(String, &Node)], diags: &mut Vec<Diagnostic>) -> Schema {
        let mut schema = Schema::builtin();
        for (file, node) in decls {
            let NodeKind::Map(entries) = &node.kind else {
                diags.push(Diagnostic::wrong_type(
                    file,
                    node.pos,
                    "`fields`",
                    "a mapping of field name to type",
                    &node.describe(),
                ));
                continue;
            };
            for (key, spec) in entries {
                let name = key.name.strip_prefix("fields.").unwrap_or(&key.name);
                if let Some(&slot) = schema.by_name.get(name) {
                    let what =
                        if matches!(schema.fields[slot].source, Source::Custom | Source::Account(AccountField::Custom))
                        {
                            "is declared twice"
                        } else {
                            "is a built-in field"
                        };
                    diags.push(Diagnostic::invalid_field_decl(file, key.pos, format!("field `{name}` {what}")));
                    continue;
                }
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    diags.push(Diagnostic::invalid_field_decl(
                        file,
                        key.pos,
                        format!("field name `{name}` may use only letters, digits, `_` and `.`"),
                    ));
                    continue;
                }
                let source = if name.starts_with("account.") {
                    Source::Account(AccountField::Custom)
                } else if name.contains('.') {
                    diags.push(Diagnostic::invalid_field_decl(
                        file,
                        key.pos,
                        format!("field name `{name}` may contain `.` only as `account.<name>`"),
                    ));
                    continue;
                } else {
                    Source::Custom
                };
                if let Some(ty) = parse_type(file, spec, diags) {
                    schema.push(FieldDef { name: name.to_string(), ty, source, from_stage: Stage::Territory });
                }
            }
        }
        schema
    }

    pub fn lookup(&self, name: &str) -> Option<Slot> {
        let name = name.strip_prefix("fields.").unwrap_or(name);
        self.by_name.get(name).copied()
    }

    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }
}

const TYPES: &[&str] = &["string", "number", "bool", "enum", "list", "datetime", "date"];

fn parse_type(file: &str, spec: &Node, diags: &mut Vec<Diagnostic>) -> Option<FieldType> {
    let (name_node, values) = match &spec.kind {
        NodeKind::Str(_) => (spec, None),
        NodeKind::Map(entries) => {
            let mut ty = None;
            let mut values = None;
            for (k, v) in entries {
                match k.name.as_str() {
                    "type" => ty = Some(v),
                    "values" => values = Some(v),
                    "description" => {}
                    other => diags.push(Diagnostic::unknown_key(
                        file,
                        k.pos,
                        other,
                        "a field declaration",
                        &["type", "values", "description"],
                    )),
                }
            }
            let Some(ty) = ty else {
                diags.push(Diagnostic::missing_key(file, spec.pos, "type", "a field declaration"));
                return None;
            };
            (ty, values)
        }
        _ => {
            diags.push(Diagnostic::wrong_type(
                file,
                spec.pos,
                "a field type",
                "a type name or a mapping with `type`",
                &spec.describe(),
            ));
            return None;
        }
    };
    let Some(name) = name_node.as_str() else {
        diags.push(Diagnostic::wrong_type(file, name_node.pos, "a field type", "a type name", &name_node.describe()));
        return None;
    };
    let ty = match name {
        "string" => FieldType::String,
        "number" => FieldType::Number,
        "bool" => FieldType::Bool,
        "list" => FieldType::List,
        "datetime" => FieldType::DateTime,
        "date" => FieldType::Date,
        "enum" => {
            let Some(values) = values else {
                diags.push(Diagnostic::missing_key(file, spec.pos, "values", "an enum field"));
                return None;
            };
            let NodeKind::Seq(items) = &values.kind else {
                diags.push(Diagnostic::wrong_type(file, values.pos, "`values`", "a list", &values.describe()));
                return None;
            };
            let mut out = Vec::new();
            for item in items {
                match item.scalar_text() {
                    Some(t) => out.push(t),
                    None => diags.push(Diagnostic::wrong_type(
                        file,
                        item.pos,
                        "an enum value",
                        "a scalar",
                        &item.describe(),
                    )),
                }
            }
            return Some(FieldType::Enum(out));
        }
        other => {
            diags.push(Diagnostic::invalid_value(
                file,
                name_node.pos,
                format!("unknown field type `{other}`"),
                TYPES,
                other,
            ));
            return None;
        }
    };
    if let Some(v) = values {
        diags.push(Diagnostic::unknown_key(
            file,
            v.pos,
            "values",
            "a non-enum field declaration",
            &["type", "description"],
        ));
    }
    Some(ty)
}
