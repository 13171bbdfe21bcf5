//! # triage-core
//!
//! A pure rule engine for customer-support cases: it categorizes,
//! prioritizes and tiers each case from YAML rules, offers knowledge
//! articles for self-service, and explains every step with the rule, file
//! and line that decided it.
//!
//! The core does no I/O, reads no clock and no environment, starts no
//! threads, and never lets hash order reach a decision: rule text, the
//! directory and `now` are inputs, and the same inputs give the same decision
//! on every machine and thread.
//!
//! ```
//! use triage_core::{compile_sources, triage, Case, Directory, Options};
//!
//! let yaml = r#"
//! categories:
//!   - id: password-reset
//!     when: { text: { contains_any: [forgot my password, reset password] } }
//!     set: { category: account-access, priority: P3 }
//!   - id: general
//!     set: { category: general, priority: P4 }
//! tiers:
//!   - id: self-service
//!     when: { category: account-access }
//!     tier: 0
//!   - id: help-desk
//!     tier: 1
//! knowledge:
//!   - id: kb-reset
//!     title: Reset your password
//!     keywords: [password]
//! "#;
//! let (rules, diagnostics) = compile_sources(&[("rules.yaml", yaml)]);
//! assert!(diagnostics.is_empty());
//! let rules = rules.unwrap();
//! let case = Case { id: "42".into(), subject: Some("I forgot my password".into()), ..Default::default() };
//! let now = "2026-03-02T09:00:00Z".parse().unwrap();
//! let decision = triage(&rules, &case, &Directory::new(), now, &Options::default());
//! assert_eq!(decision.tier, 0);
//! assert_eq!(decision.deflect[0].id, "kb-reset");
//! ```
//!
//! Stages, in order: normalize, territory, sentiment, categorize (first
//! match), priority (every match adjusts), tiers (first match; tier 0
//! deflects), SLA policy (first match). [`escalate`] replays a case's
//! history ([`CaseState`]) for the SLA clocks and the escalation actions due,
//! each with an idempotency key, and says when to ask again. See the
//! project's README for the rule language.

// The core reports through return values only; printing is for adapters.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod assign;
mod bits;
mod calendar;
mod case;
pub mod classify;
mod compile;
mod cond;
mod decision;
mod diag;
mod directory;
mod escalate;
mod eval;
pub mod explain;
mod flow;
mod gap;
mod instant;
mod lint;
mod name;
mod normalize;
mod object;
mod record;
mod related;
mod roster;
mod rules;
mod schema;
pub mod similarity;
mod sla;
mod syntax;
mod table;
mod territory;
pub mod testing;
mod text;
mod vader;

pub use assign::{Assignment, BatchMode, FILTERS, PlanQuality, check_directory};
pub use calendar::{Calendar, CalendarError, TZDB_VERSION, Zone};
pub use case::{Case, CaseError, OFFSET_HINT, Requester};
pub use compile::{classifier_files, compile_sources, compile_with_files, content_version};
pub use decision::{
    Action, Decision, Deflection, ManualReview, Options, Outcome, Routing, Sentiment, Sla, SlaTargets, TraceEntry,
    TraceLevel, Warning,
};
pub use diag::{Diagnostic, Pos, Severity, suggest};
pub use directory::{
    Account, Agent, Directory, DirectoryError, MAX_ACCOUNT_DEPTH, Presence, Strategy, Team, Weights, WindowCap,
};
pub use escalate::{Escalation, MAX_CHANNEL_LEN, StateError, escalate, sanitize_channel};
pub use eval::{BatchPlan, assign_batch, assign_batch_plan, reassign, triage};
pub use instant::{Rfc3339, parse_instant};
pub use lint::lint;
pub use name::Name;
pub use normalize::{DetectedLanguage, Normalized};
pub use record::{
    EscalationRecord, Milestone, RecordError, RecordStatus, RecordTransition, Risk, RiskPart, escalation_report,
};
pub use related::{Duplicate, Incident, Recent, Related};
pub use rules::CompiledRules;
pub use schema::{CHANNELS, METRIC_STATES, Metric};
pub use sla::{CaseState, Event, EventKind, MetricState, SlaMetrics};
pub use table::{DecisionTable, TableExplanation, TableInputError, TableMatch};

#[cfg(test)]
mod assign_tests;
#[cfg(test)]
mod escalate_tests;
#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod tests;
