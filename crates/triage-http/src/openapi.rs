//! The OpenAPI 3.1 document of the service, served at `GET /openapi.json`.
//!
//! Request bodies are generated from the core's input types (`Case`,
//! `CaseState`, with every field and its doc comment); answers that are
//! large trees (a decision, an escalation, a plan) are described as
//! objects with their fields named in the description. A test checks that
//! the document's paths are exactly the router's [`crate::ROUTES`].

#![allow(dead_code, reason = "the functions below exist only to carry their OpenAPI attributes")]

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "triage decision service",
        description = "Decides each support case's territory, category, priority, tier, SLA, team and agent, \
                       replays case histories for the escalations due, plans batch assignments, and checks \
                       rule files. Every answer names the `rules_version` it was decided with (and the \
                       `triage-rules-version` and `triage-directory-version` headers); every error is \
                       `application/problem+json` with a stable `code`."
    ),
    paths(triage, triage_batch, explain, escalate, assign, check, case_events, case, case_assign, case_release, agents, agent_presence, escalations, redeliver, rules, reload, healthz, readyz, metrics, openapi_json),
    components(schemas(ProblemSchema, triage_core::Case, triage_core::Requester, triage_core::CaseState, triage_core::Event, triage_core::EventKind)),
    modifiers(&AdminToken)
)]
struct Doc;

/// The admin token: `Authorization: Bearer <token>`.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        doc.components.get_or_insert_with(Default::default).add_security_scheme("admin_token", scheme);
    }
}

/// The document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Doc::openapi()
}

/// An error (RFC 9457).
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
struct ProblemSchema {
    /// `https://triage.invalid/problems/` followed by `code`.
    #[schema(rename = "type")]
    kind: String,
    /// A short summary of the kind of problem.
    title: String,
    /// The HTTP status.
    status: u16,
    /// The stable code clients branch on: `invalid-json`, `invalid-case`, `invalid-case-state`,
    /// `invalid-history`, `invalid-query`, `invalid-check`, `body-too-large`, `body-timeout`, `unsupported-encoding`,
    /// `unreadable-body`,
    /// `not-ready`, `unauthorized`, `reload-refused`, `not-found`, `method-not-allowed`, `no-store`,
    /// `unknown-case`, `invalid-events`, `store-unavailable`,
    /// `timeout`, `overloaded`, `internal`.
    code: String,
    /// What went wrong with this request.
    detail: String,
    /// The JSON path of the offending field.
    field: Option<String>,
    /// Rule diagnostics (a refused reload).
    diagnostics: Option<Vec<serde_json::Value>>,
}

/// Decide one case.
#[utoipa::path(post, path = "/v1/triage", tag = "decide",
    params(
        ("trace" = Option<String>, Query, description = "`decisions` (default): the rule behind each step; `full`: also why every other rule did not match"),
        ("now" = Option<String>, Query, description = "the instant to decide at, RFC 3339 with an offset; default: the service's clock"),
    ),
    request_body(content = triage_core::Case, content_type = "application/json"),
    responses(
        (status = 200, description = "The decision: `case_id`, `normalized`, `territory`, `category`, `priority`, `tier`, `deflect`, `sla`, `skills`, `team`, `agent`, `queue`, `assignment`, `manual_review`, `actions`, `warnings`, `rules_version`, `trace`", body = Object),
        (status = 400, description = "Not JSON, or a bad query parameter", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "JSON, but not a case (the field is named)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "No rule set loaded, overloaded, or too slow", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn triage() {}

/// Decide many cases: a JSON array or one case per line; one line out per
/// case, in input order; a bad case is answered on its line with
/// `{"index", "line", "error"}` and the rest go on.
#[utoipa::path(post, path = "/v1/triage/batch", tag = "decide",
    params(("trace" = Option<String>, Query, description = "as for /v1/triage"), ("now" = Option<String>, Query, description = "as for /v1/triage")),
    request_body(content = Vec<triage_core::Case>, content_type = "application/json", description = "a JSON array of cases, or JSON Lines (`application/x-ndjson`)"),
    responses(
        (status = 200, description = "JSON Lines: a decision or `{\"index\", \"line\", \"error\": Problem}` per case", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "A JSON array that is not valid JSON", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, description = "Body over the batch limit", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn triage_batch() {}

/// Decide one case and explain the decision as text.
#[utoipa::path(post, path = "/v1/explain", tag = "decide",
    params(("now" = Option<String>, Query, description = "as for /v1/triage")),
    request_body(content = triage_core::Case, content_type = "application/json"),
    responses(
        (status = 200, description = "The decision, step by step, with why other rules did not match", content_type = "text/plain", body = String),
        (status = 422, description = "Not a case", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn explain() {}

/// Replay a case's history: the escalation actions due (each with its
/// idempotency key), the SLA state and when to ask again.
#[utoipa::path(post, path = "/v1/escalate", tag = "decide",
    params(("trace" = Option<String>, Query, description = "as for /v1/triage"), ("now" = Option<String>, Query, description = "the instant to replay to")),
    request_body(content = triage_core::CaseState, content_type = "application/json"),
    responses(
        (status = 200, description = "`case_id`, `now`, `priority`, `tier`, `sla`, `actions` (with `idempotency_key`), `next_check_at`, `rules_version`, `trace`", body = Object),
        (status = 422, description = "Not a case state, or a history that cannot be replayed", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn escalate() {}

/// Append events to a tracked case (send the case itself the first time),
/// replay its history and put the actions due in the outbox, each stored
/// once by its idempotency key. Needs a store (`--data`, `--database`).
#[utoipa::path(post, path = "/v1/cases/{id}/events", tag = "cases",
    params(
        ("id" = String, Path, description = "the case id"),
        ("trace" = Option<String>, Query, description = "as for /v1/triage"),
        ("now" = Option<String>, Query, description = "the instant to replay to"),
    ),
    request_body(content = Object, content_type = "application/json", description = "`{\"case\": Case (first time), \"events\": [Event with an `id`, …]}`; an event id the case has already is left out"),
    responses(
        (status = 200, description = "`case_id`, `appended`, `repeated` (event ids), `enqueued` (action keys new to the outbox), `next_check_at`, `escalation`", body = Object),
        (status = 404, description = "`unknown-case`: send the case with its first events", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-events`, `invalid-case`, `invalid-history`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn case_events() {}

/// A tracked case: its history, actions and their delivery, assignment.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "the case id")),
    responses(
        (status = 200, description = "`case_id`, `case`, `opened_at`, `next_check_at`, `events` (with `id`, `seq`), `actions` (`key`, `kind`, `target`, `due_at`, `delivery`: pending/delivered/dead, `attempts`, `next_attempt_at`, `last_error`, `delivered_at`, `action`), `assignment`", body = Object),
        (status = 404, description = "`unknown-case`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn case() {}

/// Decide a tracked case on the agents' live load and presence and reserve
/// the units: an agent's load goes up only while it stays within capacity
/// (one conditional update), so replicas never over-fill an agent.
#[utoipa::path(post, path = "/v1/cases/{id}/assign", tag = "cases",
    params(("id" = String, Path, description = "the case id"), ("now" = Option<String>, Query, description = "as for /v1/triage")),
    responses(
        (status = 200, description = "`case_id`, `outcome` (`assigned`, `already_assigned`, `queued`, `manual_review`, `deflected`, `no_team`), `assignment` (`agent`, `units`, `team`, `at`), `full` (agents that filled up meanwhile), `decision`", body = Object),
        (status = 404, description = "`unknown-case`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "`assignment-contended`: agents kept filling up; retry", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn case_assign() {}

/// End a case's assignment and give its units back (a stop status such as
/// `solved` does it too).
#[utoipa::path(delete, path = "/v1/cases/{id}/assignment", tag = "cases",
    params(("id" = String, Path, description = "the case id"), ("now" = Option<String>, Query, description = "as for /v1/triage")),
    responses(
        (status = 200, description = "`case_id`, `released` (`agent`, `units`, `at`, or null when the case held none)", body = Object),
        (status = 404, description = "`unknown-case`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn case_release() {}

/// Every agent of the served directory with its live presence, load and capacity.
#[utoipa::path(get, path = "/v1/agents", tag = "cases",
    responses(
        (status = 200, description = "`agents`: `agent_id`, `presence`, `load`, `capacity`", body = Object),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn agents() {}

/// Set an agent's presence: `online` agents take cases, `away` and `offline` do not.
#[utoipa::path(put, path = "/v1/agents/{id}/presence", tag = "cases",
    params(("id" = String, Path, description = "the agent id, as in the directory"), ("now" = Option<String>, Query, description = "as for /v1/triage")),
    request_body(content = Object, content_type = "application/json", description = "`{\"presence\": \"online\" | \"away\" | \"offline\"}`"),
    responses(
        (status = 200, description = "`agent_id`, `presence`, `load`, `capacity`", body = Object),
        (status = 404, description = "`unknown-agent`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-presence`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn agent_presence() {}

/// The escalation records opened for tracked cases and not closed, highest risk first.
#[utoipa::path(get, path = "/v1/escalations", tag = "cases",
    responses(
        (status = 200, description = "`count`, `records` (as `triage escalate --report`)", body = Object),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn escalations() {}

/// Send dead letters back for delivery (after a sink is fixed): all, or one case's.
#[utoipa::path(post, path = "/v1/outbox/redeliver", tag = "cases",
    security(("admin_token" = [])),
    params(("case" = Option<String>, Query, description = "only this case's dead letters"), ("now" = Option<String>, Query, description = "as for /v1/triage")),
    responses(
        (status = 200, description = "`redelivering`: how many went back to pending, attempts reset", body = Object),
        (status = 401, description = "No or wrong admin token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "`unknown-case`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 501, description = "`no-store`: the service keeps no case state", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn redeliver() {}

/// Decide a batch and plan its assignment over the served directory.
#[utoipa::path(post, path = "/v1/assign", tag = "decide",
    params(
        ("mode" = Option<String>, Query, description = "`greedy` (default: most urgent first) or `optimal` (greatest total match score)"),
        ("now" = Option<String>, Query, description = "as for /v1/triage"),
    ),
    request_body(content = Vec<triage_core::Case>, content_type = "application/json", description = "a JSON array of cases, or JSON Lines"),
    responses(
        (status = 200, description = "`rules_version`, `mode`, `summary` (`read = decided + rejected`; `assigned + queued + manual_review + deflected + no_team = decided`), `quality` (optimal plans), `decisions`, `rejected` (`index`, `line`, `error`)", body = Object),
        (status = 400, description = "`invalid-json`, `invalid-query` (a `mode` or `now` that cannot be read)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, description = "`body-too-large`", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "`not-ready`, `overloaded`, `timeout`", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn assign() {}

/// Compile and lint rule files sent in the body, as `triage check --format json`.
#[utoipa::path(post, path = "/v1/check", tag = "rules",
    request_body(content = Object, content_type = "application/json", description = "`{\"files\": {\"name.yaml\": \"text\", …}}`; files are read in name order"),
    responses(
        (status = 200, description = "`ok`, `rules_version`, `errors`, `warnings`, `diagnostics` (each with file, line, column, rule, message, help)", body = Object),
        (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not a set of files", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn check() {}

/// The live rule set and the last reload attempt.
#[utoipa::path(get, path = "/v1/rules", tag = "rules",
    responses(
        (status = 200, description = "`ready`, `version`, `tzdb`, `rule_count`, `files`, `loaded_at`, `agents`, `last_reload` (`at`, `ok`, `version` or `refused` with its diagnostics)", body = Object),
        (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn rules() {}

/// Reload the rules and directory now (needs the admin token).
#[utoipa::path(post, path = "/v1/rules/reload", tag = "rules",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "`ok`, `version`, `at`: the new rules are live", body = Object),
        (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong admin token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "`reload-refused`: the new rules did not compile; the previous rules keep serving", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn reload() {}

/// Alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object), (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json")))]
fn healthz() {}

/// Ready: a rule set is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "`status`, `version`", body = Object),
        (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "No rule set loaded yet", body = ProblemSchema, content_type = "application/problem+json"),
    ))]
fn readyz() {}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format: `triage_http_requests_total`, `triage_http_request_duration_seconds`, `triage_decision_duration_seconds`, `triage_decisions_total`, `triage_manual_reviews_total`, `triage_reloads_total`, `triage_rules_info`", content_type = "text/plain", body = String), (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json")))]
fn metrics() {}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1", body = Object), (status = 400, description = "`invalid-query`: a query parameter the endpoint does not take", body = ProblemSchema, content_type = "application/problem+json")))]
fn openapi_json() {}
