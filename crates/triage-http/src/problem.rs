//! Errors as `application/problem+json` (RFC 9457, "Problem Details for
//! HTTP APIs").
//!
//! Every error the service gives has this shape:
//!
//! ```json
//! {"type": "https://triage.invalid/problems/invalid-case", "title": "The case is not valid",
//!  "status": 422, "code": "invalid-case", "detail": "field `requester.email`: invalid type: …",
//!  "field": "requester.email"}
//! ```
//!
//! `code` is stable and is what clients should branch on; `detail` is for
//! people. No problem names a file path on the server or an internal type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Where problem types are documented (`type` is this followed by `code`).
pub const TYPE_BASE: &str = "https://triage.invalid/problems/";

/// One problem. Serialized with `type`: [`TYPE_BASE`] followed by `code`.
#[derive(Debug, Clone)]
pub struct Problem {
    /// A short, fixed summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine-readable code.
    pub code: &'static str,
    /// What went wrong with this request.
    pub detail: String,
    /// The JSON path of the offending field, when there is one.
    pub field: Option<String>,
    /// Rule diagnostics (a refused reload).
    pub diagnostics: Option<Vec<triage_core::Diagnostic>>,
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(rename = "type")]
            kind: String,
            title: &'a str,
            status: u16,
            code: &'a str,
            detail: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            diagnostics: Option<&'a [triage_core::Diagnostic]>,
        }
        Shown {
            kind: format!("{TYPE_BASE}{}", self.code),
            title: self.title,
            status: self.status,
            code: self.code,
            detail: &self.detail,
            field: self.field.as_deref(),
            diagnostics: self.diagnostics.as_deref(),
        }
        .serialize(s)
    }
}

impl Problem {
    /// A problem of `code` with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem { title, status: status.as_u16(), code, detail: detail.into(), field: None, diagnostics: None }
    }

    /// The same problem, naming the field at fault.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if !field.is_empty() && field != "." {
            self.field = Some(field);
        }
        self
    }

    /// 400 `invalid-json`: the body is not JSON (or too deeply nested).
    pub fn invalid_json(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-json", "The body is not valid JSON", detail)
    }

    /// 422 `invalid-case`: JSON, but not a case (or case state).
    pub fn invalid_input(code: &'static str, title: &'static str, e: &triage_core::CaseError) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, title, e.message.clone()).at(e.path.clone())
    }

    /// 400 `invalid-query`.
    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-query", "A query parameter is not valid", detail)
    }

    /// 413 `body-too-large`.
    pub fn too_large(limit: usize) -> Self {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The body is larger than this endpoint accepts",
            format!(
                "this endpoint takes at most {limit} bytes; send one case to /v1/triage, many to /v1/triage/batch, \
                 in several requests if need be"
            ),
        )
    }

    /// 503 `not-ready`: no rule set has loaded yet.
    pub fn not_ready() -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "No rule set is loaded yet",
            "the service has not loaded a rule set that compiles; see GET /v1/rules",
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "This endpoint needs the admin token",
            "send `Authorization: Bearer <token>` with the token the service was started with",
        )
    }

    /// 500 `internal`: a bug; the detail says nothing of the internals.
    pub fn internal() -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The service failed to answer",
            "an internal error occurred and was logged; the service keeps serving",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        // Every 503 is passing (not ready yet, overloaded, a timeout, the
        // database away): say when to come back.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
