//! The endpoints, their limits and the middleware around them.

use crate::problem::Problem;
use crate::{AppState, Snapshot};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tower::{BoxError, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use triage_core::{BatchMode, Case, CaseState, Options, TraceLevel};

/// Every route the service answers, as `(method, path)`; the OpenAPI
/// document describes exactly these (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/triage"),
    ("POST", "/v1/triage/batch"),
    ("POST", "/v1/explain"),
    ("POST", "/v1/escalate"),
    ("POST", "/v1/assign"),
    ("POST", "/v1/check"),
    ("POST", "/v1/cases/{id}/events"),
    ("GET", "/v1/cases/{id}"),
    ("POST", "/v1/cases/{id}/assign"),
    ("DELETE", "/v1/cases/{id}/assignment"),
    ("GET", "/v1/agents"),
    ("PUT", "/v1/agents/{id}/presence"),
    ("GET", "/v1/escalations"),
    ("POST", "/v1/outbox/redeliver"),
    ("GET", "/v1/rules"),
    ("POST", "/v1/rules/reload"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// The header naming the rule set an answer was decided with.
pub const VERSION_HEADER: &str = "triage-rules-version";

/// The header naming the directory an answer was decided with.
pub const DIRECTORY_VERSION_HEADER: &str = "triage-directory-version";

pub(crate) type Answer = Result<Response, Problem>;

pub(crate) fn router(state: AppState) -> Router {
    let limits = state.inner.limits.clone();
    // One limit over all routes (axum gives each route its own copy of a
    // layer, and a plain concurrency limit would then be per route), kept
    // in the state so every router over it shares it.
    let in_progress = tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(state.inner.in_progress.clone());
    // Health, readiness, metrics and the document answer whatever load the
    // decision routes are under, so probes never see `overloaded`.
    let operations = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi));
    let decisions = Router::new()
        .route("/v1/triage", post(triage_one))
        .route("/v1/triage/batch", post(triage_batch))
        .route("/v1/explain", post(explain))
        .route("/v1/escalate", post(escalate))
        .route("/v1/assign", post(assign))
        .route("/v1/check", post(check))
        .route("/v1/cases/{id}/events", post(crate::cases::append_events))
        .route("/v1/cases/{id}", get(crate::cases::case))
        .route("/v1/cases/{id}/assign", post(crate::agents::assign_case))
        .route("/v1/cases/{id}/assignment", axum::routing::delete(crate::agents::release_case))
        .route("/v1/agents", get(crate::agents::agents))
        .route("/v1/agents/{id}/presence", axum::routing::put(crate::agents::set_presence))
        .route("/v1/escalations", get(crate::agents::escalations))
        .route("/v1/outbox/redeliver", post(crate::cases::redeliver))
        .route("/v1/rules", get(rules))
        .route("/v1/rules/reload", post(reload))
        // `read_body` reads every body within its route's limit before the
        // handler runs; the extractors need no limit of their own.
        .layer(DefaultBodyLimit::disable())
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(state.clone(), read_body))
                .layer(HandleErrorLayer::new(limit_problem))
                .load_shed()
                .layer(in_progress)
                .timeout(limits.timeout),
        );
    let routes = decisions
        .merge(operations)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    // The middleware every request passes wraps the routes once, as one
    // stack (`Router::layer` would wrap each route apart, and each wrapper
    // is cloned for every request).
    let around = ServiceBuilder::new()
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE))),
        )
        .map_request(fair_request_id)
        .layer(SetRequestIdLayer::x_request_id(Sequence::default()))
        .layer(PropagateRequestIdLayer::x_request_id())
        // 5xx answers are counted in the metrics; a burst of `overloaded`
        // must not flood the log at ERROR.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked; answered 500");
            Problem::internal().into_response()
        }))
        // Outside the limits, so shed and timed-out requests are counted.
        .layer(middleware::from_fn_with_state(state, observe))
        .service(routes);
    Router::new().fallback_service(around)
}

/// Answers at least this long (bytes) are compressed when the client
/// accepts gzip; a single decision (about 3 KB) is not: deflating it took
/// more of the service's time than deciding it (`benches/http/`).
pub const COMPRESS_ABOVE: u16 = 16 * 1024;

/// Request ids for requests that come without one: a random tag drawn
/// when the router is built, then a sequence (`3f09a1c2-000000000001`), so
/// ids differ across replicas and restarts and still sort within one.
#[derive(Clone)]
struct Sequence(Arc<AtomicU64>, u32);

impl Default for Sequence {
    fn default() -> Self {
        Sequence(Arc::default(), fastrand::u32(..))
    }
}

impl MakeRequestId for Sequence {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        // `{tag:08x}-{n:012x}`, written in place (a `format!` per request
        // cost more than the rest of the layer).
        let mut id = [b'-'; 21];
        let hex = |slot: &mut [u8], mut v: u64| {
            for b in slot.iter_mut().rev() {
                *b = b"0123456789abcdef"[(v & 15) as usize];
                v >>= 4;
            }
        };
        hex(&mut id[..8], u64::from(self.1));
        hex(&mut id[9..], n & 0xffff_ffff_ffff);
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

/// The longest `x-request-id` a client may give (bytes).
pub const MAX_REQUEST_ID: usize = 128;

/// Drops a client's `x-request-id` that is empty, longer than
/// [`MAX_REQUEST_ID`] bytes or not printable ASCII, so the service gives
/// the request one of its own: an empty id traces nothing, and a long one
/// would be sent back with every answer.
fn fair_request_id(mut request: Request) -> Request {
    let fair = |v: &HeaderValue| {
        (1..=MAX_REQUEST_ID).contains(&v.len()) && v.as_bytes().iter().all(|b| (b' '..=b'~').contains(b))
    };
    if request.headers().get_all("x-request-id").iter().any(|v| !fair(v)) {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// A request whose client left before its answer was made (the
/// connection closed, so the work was dropped) is counted with this
/// status, nginx's "client closed request", so every request counts.
pub const CLIENT_CLOSED: u16 = 499;

/// Counts and times every request by route and status ([`CLIENT_CLOSED`]
/// when it is dropped unanswered).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path()).unwrap_or("unmatched");
    let mut pending = Pending { metrics: &state.inner.metrics, route, started: Instant::now(), answered: false };
    let response = next.run(request).await;
    pending.answered = true;
    state.inner.metrics.request(route, response.status().as_u16(), pending.started.elapsed());
    response
}

/// Counts a request [`CLIENT_CLOSED`] when its work is dropped unanswered.
struct Pending<'a> {
    metrics: &'a crate::metrics::Metrics,
    route: &'static str,
    started: Instant,
    answered: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.metrics.request(self.route, CLIENT_CLOSED, self.started.elapsed());
        }
    }
}

/// Routes whose body is one case (or nothing): the smaller body limit.
const ONE_CASE_ROUTES: &[&str] =
    &["/v1/triage", "/v1/explain", "/v1/escalate", "/v1/rules/reload", "/v1/cases/{id}/events", "/v1/cases/{id}"];

/// The route of [`ROUTES`] a path falls under, as the router places it:
/// `{id}` takes one segment, which may be empty only before another
/// (`/v1/cases//events` reaches its handler, which refuses the empty id;
/// `/v1/cases/` reaches none).
fn route_of(path: &str) -> Option<&'static str> {
    // Most requests name a route exactly; only the rest are split.
    if let Some(route) = ROUTES.iter().map(|(_, route)| *route).find(|route| *route == path) {
        return Some(route);
    }
    ROUTES.iter().map(|(_, route)| *route).find(|route| {
        let (mut a, mut b) = (route.split('/'), path.split('/'));
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(r), Some(p))
                    if r == p || (r.starts_with('{') && (!p.is_empty() || a.clone().next().is_some())) =>
                {
                    continue;
                }
                _ => return false,
            }
        }
    })
}

/// Reads a decision route's body before the request takes a place among
/// those in progress: refuses a compressed body (`Content-Encoding` other
/// than `identity`) with 415 `unsupported-encoding` rather than reading
/// gzip as JSON, a declared `Content-Length` over the route's limit with
/// 413 at once, a body that grows past it with 413, and a client that takes
/// longer than [`crate::Limits::body_timeout`] to send it with 408
/// `body-timeout`.
async fn read_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.inner.limits;
    // Every Content-Encoding header, and every coding listed in each; and
    // a transfer coding other than chunked (`Transfer-Encoding: gzip,
    // chunked`), which HTTP/1.1 servers need not undo.
    let headers = request.headers();
    let codings = |name: header::HeaderName, plain: &'static [&'static str]| {
        headers
            .get_all(name)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("?").split(','))
            .map(str::trim)
            .find(|e| !e.is_empty() && !plain.iter().any(|p| e.eq_ignore_ascii_case(p)))
            .map(str::to_string)
    };
    let encoding = codings(header::CONTENT_ENCODING, &["identity"])
        .map(|e| ("Content-Encoding", e))
        .or_else(|| codings(header::TRANSFER_ENCODING, &["identity", "chunked"]).map(|e| ("Transfer-Encoding", e)));
    if let Some((name, e)) = encoding {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-encoding",
            "The body's content encoding is not supported",
            format!("send the body uncompressed (`{name}: {}` is not taken)", e.chars().take(40).collect::<String>()),
        )
        .into_response();
    }
    let one = route_of(request.uri().path()).is_some_and(|r| ONE_CASE_ROUTES.contains(&r));
    let limit = if one { limits.body_bytes } else { limits.batch_body_bytes };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Problem::too_large(limit).into_response();
    }
    let (parts, body) = request.into_parts();
    let budget = &state.inner.buffered;
    let read = tokio::time::timeout(limits.body_timeout, collect_within(body, limit, declared, budget));
    match read.await {
        Err(_) => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            "The body was not sent in time",
            format!("the whole body must arrive within {} s of the headers", limits.body_timeout.as_secs_f64()),
        )
        .into_response(),
        Ok(Err(problem)) => problem.into_response(),
        // The permit is held until the answer is made: the body lives
        // that long.
        Ok(Ok((bytes, _held))) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// Bytes of request bodies held at once are counted in units this large.
const BUFFER_UNIT: usize = 64 * 1024;

/// Reads a body of at most `limit` bytes, taking its size from the
/// service's budget of buffered bytes as it arrives (all at once for a
/// declared length): when the budget is spent, the request is answered
/// 503 `overloaded` rather than held in memory.
async fn collect_within<'a>(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
    budget: &'a tokio::sync::Semaphore,
) -> Result<(Bytes, Option<tokio::sync::SemaphorePermit<'a>>), Problem> {
    use http_body_util::BodyExt as _;
    let spent = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service holds as many request bodies as it may",
            "retry shortly; request bodies in memory at once are limited (--max-buffered)",
        )
    };
    let units = |bytes: usize| u32::try_from(bytes.div_ceil(BUFFER_UNIT)).unwrap_or(u32::MAX);
    let mut held: Option<tokio::sync::SemaphorePermit<'a>> = None;
    let take = |bytes: usize, held: &mut Option<tokio::sync::SemaphorePermit<'a>>| -> Result<(), Problem> {
        let have = held.as_ref().map_or(0, |p| p.num_permits());
        let need = (units(bytes) as usize).saturating_sub(have);
        if need > 0 {
            let more = budget.try_acquire_many(u32::try_from(need).unwrap_or(u32::MAX)).map_err(|_| spent())?;
            match held {
                Some(p) => p.merge(more),
                None => *held = Some(more),
            }
        }
        Ok(())
    };
    let expected = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)).min(limit);
    take(expected, &mut held)?;
    let mut buf = Vec::with_capacity(expected);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Problem::new(StatusCode::BAD_REQUEST, "unreadable-body", "The body could not be read", e.to_string())
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Problem::too_large(limit));
            }
            take(buf.len() + data.len(), &mut held)?;
            buf.extend_from_slice(&data);
        }
    }
    Ok((Bytes::from(buf), held))
}

/// The answer to a request the limits turned away: 503 with `Retry-After`.
async fn limit_problem(e: BoxError) -> Response {
    let problem = if e.is::<tower::timeout::error::Elapsed>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long",
            "it was abandoned at the service's time limit (a batch stops at the case it had reached); \
             send fewer cases per request",
        )
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service is at its limit of requests in progress",
            "retry shortly; requests beyond the limit are turned away at once rather than queued",
        )
    } else {
        tracing::error!(error = %e, "middleware error");
        return Problem::internal().into_response();
    };
    // A 503 problem carries `Retry-After` itself.
    problem.into_response()
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "No such endpoint", "see GET /openapi.json for the endpoints")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "This endpoint does not take that method",
        "see GET /openapi.json for each endpoint's method",
    )
}

// ---------------------------------------------------------------- inputs

/// `?trace=decisions|full&now=RFC3339&mode=greedy|optimal`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    trace: Option<String>,
    now: Option<String>,
    mode: Option<String>,
    /// `/v1/outbox/redeliver`: only this case's dead letters.
    pub(crate) case: Option<String>,
}

impl Params {
    /// The query, refusing parameters the endpoint does not take.
    pub(crate) fn read(q: Result<Query<Params>, QueryRejection>, takes: &[&str]) -> Result<Params, Problem> {
        let takes_text = || if takes.is_empty() { "none".to_string() } else { takes.join(", ") };
        let p = q.map(|Query(p)| p).map_err(|e| {
            let text = e.body_text();
            // serde names every parameter any endpoint takes; say this one's.
            match text.split("unknown field `").nth(1).and_then(|rest| rest.split('`').next()) {
                Some(name) => {
                    Problem::invalid_query(format!("this endpoint does not take `{name}` (it takes: {})", takes_text()))
                        .at(name.to_string())
                }
                None => match text.split("duplicate field `").nth(1).and_then(|rest| rest.split('`').next()) {
                    Some(name) => Problem::invalid_query(format!("`{name}` is given more than once; give it once"))
                        .at(name.to_string()),
                    None => Problem::invalid_query(text),
                },
            }
        })?;
        let given = [
            ("trace", p.trace.is_some()),
            ("now", p.now.is_some()),
            ("mode", p.mode.is_some()),
            ("case", p.case.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(name, set)| *set && !takes.contains(name)) {
            return Err(Problem::invalid_query(format!(
                "this endpoint does not take `{name}` (it takes: {})",
                takes_text()
            ))
            .at(*name));
        }
        Ok(p)
    }

    pub(crate) fn now(&self) -> Result<DateTime<Utc>, Problem> {
        match &self.now {
            None => Ok(Utc::now()),
            Some(s) => triage_core::parse_instant(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| {
                // `?now=…T09:00:00+01:00` unencoded: the query's `+` is a space.
                let plus = if s.trim().contains(' ') {
                    "; in a URL a `+` is read as a space, so write an offset's `+` as `%2B` \
                         (`now=2026-03-02T09:00:00%2B01:00`)"
                } else {
                    ""
                };
                Problem::invalid_query(format!("`now`: {e}; {}{plus}", triage_core::OFFSET_HINT)).at("now")
            }),
        }
    }

    pub(crate) fn options(&self) -> Result<Options, Problem> {
        match self.trace.as_deref() {
            None | Some("decisions") => Ok(Options::default()),
            Some("full") => Ok(Options::with_trace(TraceLevel::Full)),
            Some(other) => {
                Err(Problem::invalid_query(format!("`trace` is `decisions` or `full`, not `{other}`")).at("trace"))
            }
        }
    }

    fn mode(&self) -> Result<BatchMode, Problem> {
        match self.mode.as_deref() {
            None | Some("greedy") => Ok(BatchMode::Greedy),
            Some("optimal") => Ok(BatchMode::Optimal),
            Some(other) => {
                Err(Problem::invalid_query(format!("`mode` is `greedy` or `optimal`, not `{other}`")).at("mode"))
            }
        }
    }
}

/// The body `read_body` has read (within its route's limit).
fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    b.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "unreadable-body", "The body could not be read", e.body_text()))
}

/// The body as one JSON value (serde_json refuses 128 levels of nesting
/// or more).
pub(crate) fn json_value(bytes: &[u8]) -> Result<Value, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Problem::invalid_json(format!("the body is not UTF-8 text (an invalid byte at offset {})", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| {
        let mut why = e.to_string();
        if why.starts_with("recursion limit exceeded") {
            why.push_str(" (arrays and objects may nest at most 127 deep)");
        }
        Problem::invalid_json(why)
    })
}

/// The case a request's body holds: a well-formed case is read in one
/// pass; anything else is read again as a JSON value and then a case, for
/// the exact problem.
pub(crate) fn case_from_body(bytes: &[u8]) -> Result<Case, Problem> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(case) = Case::from_json(text)
    {
        return Ok(case);
    }
    case_of(json_value(bytes)?)
}

pub(crate) fn case_of(value: Value) -> Result<Case, Problem> {
    Case::from_value(value).map_err(|e| Problem::invalid_input("invalid-case", "The body is not a valid case", &e))
}

/// One input of many: its index (from 0), its line for JSON Lines (from
/// 1), and its value or the problem with it.
type Item = (usize, Option<usize>, Result<Value, Problem>);

/// Many inputs: a JSON array, or JSON Lines (one per non-blank line).
/// Each item is its index and its value, or the problem with it (a line
/// that is not JSON is that line's problem; an array that is not JSON is
/// the whole request's).
fn items(bytes: &[u8]) -> Result<Vec<Item>, Problem> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if start.is_some_and(|i| bytes[i] == b'[') {
        let list: Vec<Value> = match json_value(bytes)? {
            Value::Array(list) => list,
            _ => return Err(Problem::invalid_json("expected a JSON array of cases, or one case per line")),
        };
        return Ok(list.into_iter().enumerate().map(|(i, v)| (i, None, Ok(v))).collect());
    }
    let mut out = Vec::new();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // Only JSON's own white space makes a blank line; a line of other
        // spaces is an item, and a problem.
        if raw.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            continue;
        }
        out.push((out.len(), Some(n + 1), json_value(raw)));
    }
    // One case written over several lines (pretty-printed) is a batch of
    // one, not a problem on every line.
    if out.len() > 1 && out.iter().all(|(_, _, item)| item.is_err()) {
        match json_value(bytes) {
            Ok(value @ Value::Object(_)) => return Ok(vec![(0, None, Ok(value))]),
            // A document opened by a lone `{` line and broken further on:
            // its one problem, with its line and column, not one per line.
            Err(problem)
                if bytes.split(|&b| b == b'\n').find(|l| !l.trim_ascii().is_empty()).map(<[u8]>::trim_ascii)
                    == Some(b"{") =>
            {
                return Ok(vec![(0, None, Err(problem))]);
            }
            _ => {}
        }
    }
    Ok(out)
}

pub(crate) fn live(state: &AppState) -> Result<Arc<Snapshot>, Problem> {
    state.snapshot().ok_or_else(Problem::not_ready)
}

/// A JSON answer that names the rule set it came from.
fn answer(snapshot: &Snapshot, body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(snapshot.rules.version()) {
        headers.insert(VERSION_HEADER, v);
    }
    if let Some(v) = snapshot.directory_version.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(DIRECTORY_VERSION_HEADER, v);
    }
    response
}

pub(crate) fn json_answer(snapshot: &Snapshot, value: &impl Serialize) -> Answer {
    // A decision is about 3 KB: start there rather than grow by doubling.
    let mut body = Vec::with_capacity(4096);
    serde_json::to_writer(&mut body, value).map_err(|_| Problem::internal())?;
    Ok(answer(snapshot, body, "application/json"))
}

/// Waits for a turn to read and decide a request of many cases (see
/// `Inner::batches`); the request timeout bounds the wait.
async fn batch_turn(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, Problem> {
    state.inner.batches.clone().acquire_owned().await.map_err(|_| Problem::internal())
}

/// Runs CPU-heavy work (batches, plans, compiles) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "a blocking task failed");
        Problem::internal()
    })
}

// ---------------------------------------------------------------- decisions

/// What every decision endpoint starts from: the live rules, the query
/// (refusing parameters the endpoint does not `take`) and the body.
pub(crate) fn inputs(
    state: &AppState,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
    takes: &[&str],
) -> Result<(Arc<Snapshot>, Params, Bytes), Problem> {
    Ok((live(state)?, Params::read(q, takes)?, body(b)?))
}

/// Decides one case on `snapshot`, counting it in the metrics.
fn decide(
    snapshot: &Snapshot,
    metrics: &crate::metrics::Metrics,
    case: &Case,
    now: DateTime<Utc>,
    options: &Options,
) -> triage_core::Decision {
    let started = Instant::now();
    let decision = triage_core::triage(&snapshot.rules, case, &snapshot.directory, now, options);
    metrics.decision(&decision, started.elapsed());
    decision
}

/// The answer for an item of many that could not be read.
fn rejected(index: usize, line: Option<usize>, problem: Problem) -> Value {
    json!({ "index": index, "line": line, "error": problem })
}

async fn triage_one(
    State(state): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let (snapshot, q, bytes) = inputs(&state, q, b, &["trace", "now"])?;
    let (now, options) = (q.now()?, q.options()?);
    let case = case_from_body(&bytes)?;
    let mut decision = decide(&snapshot, &state.inner.metrics, &case, now, &options);
    remember(&snapshot, &case, &mut decision, now);
    json_answer(&snapshot, &decision)
}

/// Compares a case `POST /v1/triage` decided with the ones it decided
/// before (the rules' `duplicates:` and `incidents:`), in arrival order,
/// and remembers it; returns what it found.
fn remember(
    snapshot: &Snapshot,
    case: &Case,
    decision: &mut triage_core::Decision,
    now: DateTime<Utc>,
) -> triage_core::Related {
    // Rules without the sections take no lock.
    if triage_core::Recent::window_secs(&snapshot.rules) == 0 {
        return triage_core::Related::default();
    }
    // The fingerprint is the costly part: taken before the lock.
    let text = triage_core::Recent::signature(case);
    match snapshot.recent.lock() {
        Ok(mut recent) => recent.observe(
            &snapshot.rules,
            &snapshot.directory,
            &triage_core::Options::default(),
            case,
            text.as_ref(),
            decision,
            now,
        ),
        Err(_) => triage_core::Related::default(),
    }
}

/// A case `POST /v1/cases/{id}/events` starts tracking, decided and
/// compared with the recent cases as `POST /v1/triage` would, and
/// remembered among them: what it is like, and the decision (with the
/// `incident_suspected` action when it completes an incident). Nothing
/// when the rules have no `duplicates:` or `incidents:`, or the JSON is
/// not a case.
pub(crate) fn compare_tracked(
    snapshot: &Snapshot,
    metrics: &crate::metrics::Metrics,
    case: serde_json::Value,
    now: DateTime<Utc>,
) -> (triage_core::Related, Option<triage_core::Decision>) {
    if triage_core::Recent::window_secs(&snapshot.rules) == 0 {
        return (triage_core::Related::default(), None);
    }
    let Ok(case) = case_of(case) else { return (triage_core::Related::default(), None) };
    let mut decision = decide(snapshot, metrics, &case, now, &Options::default());
    let related = remember(snapshot, &case, &mut decision, now);
    (related, Some(decision))
}

async fn explain(
    State(state): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let (snapshot, q, bytes) = inputs(&state, q, b, &["now"])?;
    let case = case_from_body(&bytes)?;
    let decision = decide(&snapshot, &state.inner.metrics, &case, q.now()?, &Options::full_trace());
    let text = triage_core::explain::render(&decision);
    Ok(answer(&snapshot, text.into_bytes(), "text/plain; charset=utf-8"))
}

async fn triage_batch(
    State(state): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let (snapshot, q, bytes) = inputs(&state, q, b, &["trace", "now"])?;
    let (now, options) = (q.now()?, q.options()?);
    // One batch a core at a time, deciding: its turn is held until its
    // last line is out, but not while it waits for a slow client.
    let turn = batch_turn(&state).await?;
    let items = blocking(move || items(&bytes)).await??;
    // The answer streams: lines go out in chunks as they are decided, so a
    // batch's answer is never held whole. The work keeps a place among the
    // requests in progress while it runs, stops at the service's time
    // limit with a last line saying where (send the rest again), and stops
    // when the client goes.
    let place = state.inner.in_progress.clone().try_acquire_owned().ok();
    let deadline = Instant::now() + state.inner.limits.timeout;
    let (metrics, decided) = (state.inner.metrics.clone(), snapshot.clone());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (turns, runtime) = (state.inner.batches.clone(), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || {
        let (_place, mut turn) = (place, Some(turn));
        // Sends a chunk; a client slower than the batch is waited for
        // without the turn, which another batch takes meanwhile (two
        // clients that never read must not stop every batch).
        let mut send = |bytes: Bytes| -> bool {
            match tx.try_send(Ok(bytes)) {
                Ok(()) => true,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
                Err(tokio::sync::mpsc::error::TrySendError::Full(bytes)) => {
                    drop(turn.take());
                    if tx.blocking_send(bytes).is_err() {
                        return false;
                    }
                    turn = runtime.block_on(turns.clone().acquire_owned()).ok();
                    true
                }
            }
        };
        let mut chunk = Vec::with_capacity(STREAM_CHUNK + 8192);
        for (index, line, item) in items {
            let late = Instant::now() > deadline;
            let out = if late {
                let stop = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    "The batch stopped at the service's time limit",
                    format!("this case and those after it were not decided; send them again from index {index}"),
                );
                serde_json::to_writer(&mut chunk, &rejected(index, line, stop))
            } else {
                match item.and_then(case_of) {
                    Ok(case) => serde_json::to_writer(&mut chunk, &decide(&decided, &metrics, &case, now, &options)),
                    Err(p) => serde_json::to_writer(&mut chunk, &rejected(index, line, p)),
                }
            };
            if out.is_err() {
                tracing::error!("a batch line could not be written");
                return;
            }
            chunk.push(b'\n');
            if late {
                break;
            }
            if chunk.len() >= STREAM_CHUNK && !send(Bytes::from(std::mem::take(&mut chunk))) {
                return; // the client went away
            }
        }
        if !chunk.is_empty() {
            send(Bytes::from(chunk));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(answer(&snapshot, body, "application/x-ndjson"))
}

/// Bytes of a streamed answer sent at a time.
const STREAM_CHUNK: usize = 64 * 1024;

async fn escalate(
    State(state): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let (snapshot, q, bytes) = inputs(&state, q, b, &["trace", "now"])?;
    let (now, options) = (q.now()?, q.options()?);
    let history = CaseState::from_value(json_value(&bytes)?)
        .map_err(|e| Problem::invalid_input("invalid-case-state", "The body is not a valid case state", &e))?;
    json_answer(&snapshot, &escalate_on(&snapshot, &history, now, &options)?)
}

/// Replays `history` on `snapshot` at `now`; a history that cannot be
/// replayed is 422 `invalid-history`.
pub(crate) fn escalate_on(
    snapshot: &Snapshot,
    history: &CaseState,
    now: DateTime<Utc>,
    options: &Options,
) -> Result<triage_core::Escalation, Problem> {
    triage_core::escalate(&snapshot.rules, history, &snapshot.directory, now, options).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-history",
            "The case history cannot be replayed",
            e.to_string(),
        )
    })
}

/// `/v1/assign`'s answer.
#[derive(Serialize)]
struct Plan {
    rules_version: String,
    mode: &'static str,
    /// `read = decided + rejected`; the five outcomes add up to `decided`.
    summary: Summary,
    quality: Option<triage_core::PlanQuality>,
    decisions: Vec<triage_core::Decision>,
    rejected: Vec<Value>,
}

#[derive(Default, Serialize)]
struct Summary {
    read: usize,
    decided: usize,
    assigned: usize,
    queued: usize,
    manual_review: usize,
    deflected: usize,
    no_team: usize,
    rejected: usize,
}

async fn assign(
    State(state): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let (snapshot, q, bytes) = inputs(&state, q, b, &["mode", "now"])?;
    let (now, mode) = (q.now()?, q.mode()?);
    let planned = snapshot.clone();
    let metrics = state.inner.metrics.clone();
    let _turn = batch_turn(&state).await?;
    let plan = blocking(move || -> Result<Plan, Problem> {
        let mut cases = Vec::new();
        let mut refused = Vec::new();
        for (index, line, item) in items(&bytes)? {
            match item.and_then(case_of) {
                Ok(c) => cases.push(c),
                Err(p) => refused.push(rejected(index, line, p)),
            }
        }
        let started = Instant::now();
        let plan =
            triage_core::assign_batch_plan(&planned.rules, &cases, &planned.directory, now, mode, &Options::default());
        // Each decision counted as `/v1/triage` counts it, timed as its
        // share of the plan.
        let each = started.elapsed() / u32::try_from(plan.decisions.len().max(1)).unwrap_or(u32::MAX);
        for d in &plan.decisions {
            metrics.decision(d, each);
        }
        let mut s = Summary {
            read: cases.len() + refused.len(),
            decided: cases.len(),
            rejected: refused.len(),
            ..Summary::default()
        };
        for d in &plan.decisions {
            let count = match d.routing() {
                triage_core::Routing::ManualReview => &mut s.manual_review,
                triage_core::Routing::Assigned => &mut s.assigned,
                triage_core::Routing::Queued => &mut s.queued,
                triage_core::Routing::Deflected => &mut s.deflected,
                triage_core::Routing::NoTeam => &mut s.no_team,
            };
            *count += 1;
        }
        Ok(Plan {
            rules_version: planned.rules.version().to_string(),
            mode: if mode == BatchMode::Optimal { "optimal" } else { "greedy" },
            summary: s,
            quality: plan.quality,
            decisions: plan.decisions,
            rejected: refused,
        })
    })
    .await??;
    json_answer(&snapshot, &plan)
}

// ---------------------------------------------------------------- rules

/// `/v1/check`'s body: rule files by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object `{\"files\": {\"name.yaml\": \"text\", …}}`")]
struct CheckBody {
    files: std::collections::BTreeMap<String, String>,
}

async fn check(q: Result<Query<Params>, QueryRejection>, b: Result<Bytes, BytesRejection>) -> Answer {
    Params::read(q, &[])?;
    let value = json_value(&body(b)?)?;
    let files: CheckBody = serde_json::from_value(value).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-check",
            "The body is not a set of rule files",
            format!("expected `{{\"files\": {{\"name.yaml\": \"text\", …}}}}`: {e}"),
        )
    })?;
    let report = blocking(move || {
        // `*.json` files are the ones the rules name (models); the rest are
        // rule files.
        let yaml = |n: &str| !n.ends_with(".json");
        let sources: Vec<(&str, &str)> =
            files.files.iter().filter(|(n, _)| yaml(n)).map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let attached: Vec<(&str, &str)> =
            files.files.iter().filter(|(n, _)| !yaml(n)).map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let (rules, mut diagnostics) = triage_core::compile_with_files(&sources, &attached);
        if let Some(r) = &rules {
            diagnostics.extend(triage_core::lint(r));
        }
        let errors = diagnostics.iter().filter(|d| d.severity == triage_core::Severity::Error).count();
        json!({
            "ok": rules.is_some(),
            "rules_version": rules.as_ref().map(|r| r.version().to_string()),
            "errors": errors,
            "warnings": diagnostics.len() - errors,
            "diagnostics": diagnostics,
        })
    })
    .await?;
    let body = serde_json::to_vec(&report).map_err(|_| Problem::internal())?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn rules(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    let snapshot = state.snapshot();
    let body = json!({
        "ready": snapshot.is_some(),
        "version": snapshot.as_ref().map(|s| s.rules.version().to_string()),
        "tzdb": triage_core::TZDB_VERSION,
        "rule_count": snapshot.as_ref().map(|s| s.rules.rule_count()),
        "files": snapshot.as_ref().map(|s| s.files.clone()),
        "loaded_at": snapshot.as_ref().map(|s| s.loaded_at),
        "agents": snapshot.as_ref().map(|s| s.directory.agent_count()),
        "directory_version": snapshot.as_ref().and_then(|s| s.directory_version.clone()),
        "last_reload": state.last_reload(),
    });
    Ok(axum::Json(body).into_response())
}

/// Refuses a request without the admin token (`Authorization: Bearer …`,
/// compared in constant time) with 401.
pub(crate) fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(token) = &state.inner.admin_token else { return Err(Problem::unauthorized()) };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map_or("", |(_, token)| token.trim());
    if !bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), token.as_bytes())) {
        return Err(Problem::unauthorized());
    }
    Ok(())
}

async fn reload(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>, headers: HeaderMap) -> Answer {
    admin(&state, &headers)?;
    Params::read(q, &[])?;
    let attempt = state.reload().await;
    match attempt.refused {
        None => Ok(axum::Json(json!({ "ok": true, "version": attempt.version, "at": attempt.at })).into_response()),
        Some(refused) => {
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reload-refused",
                "The new rules were refused; the previous rules keep serving",
                refused.message,
            );
            p.diagnostics = Some(refused.diagnostics);
            Err(p)
        }
    }
}

// ---------------------------------------------------------------- operations

async fn healthz(q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    Ok(axum::Json(json!({ "status": "ok" })).into_response())
}

async fn readyz(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    let snapshot = live(&state)?;
    Ok(axum::Json(json!({ "status": "ready", "version": snapshot.rules.version() })).into_response())
}

async fn metrics(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.inner.metrics.render()).into_response())
}

async fn openapi(q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    Ok(axum::Json(crate::openapi()).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_refused_at_128_levels_saying_so() {
        let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(json_value(nested(127).as_bytes()).is_ok());
        let refused = json_value(nested(128).as_bytes()).unwrap_err();
        assert!(format!("{refused:?}").contains("at most 127 deep"), "{refused:?}");
    }

    #[test]
    fn a_batch_body_may_start_with_a_bom_or_be_one_pretty_printed_case() {
        let listed = items(b"\xEF\xBB\xBF[{\"id\": \"a\"}, {\"id\": \"b\"}]").unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|(_, line, item)| line.is_none() && item.is_ok()));
        let pretty = items(b"{\n  \"id\": \"a\",\n  \"subject\": \"hi\"\n}\n").unwrap();
        assert_eq!(pretty.len(), 1);
        assert_eq!(pretty[0].2.as_ref().unwrap()["id"], "a");
        let broken = items(b"{\n  \"id\": \"a\",\n  \"subject\": \"hi\",\n}\n").unwrap();
        assert_eq!(broken.len(), 1);
        assert!(format!("{:?}", broken[0].2).contains("line 4"), "{:?}", broken[0].2);
        // Lines of which some are cases stay lines, each answered.
        let mixed = items(b"{\"id\": \"a\"}\n{\n").unwrap();
        assert_eq!(mixed.len(), 2);
        assert!(mixed[0].2.is_ok() && mixed[1].2.is_err());
    }

    #[test]
    fn request_ids_are_the_tag_then_the_sequence_in_hex() {
        let mut ids = Sequence(Arc::new(AtomicU64::new(0x1234)), 0x3f09_a1c2);
        let request = axum::http::Request::new(());
        let first = ids.make_request_id(&request).unwrap();
        let second = ids.make_request_id(&request).unwrap();
        assert_eq!(first.header_value(), "3f09a1c2-000000001234");
        assert_eq!(second.header_value(), "3f09a1c2-000000001235");
        let mut late = Sequence(Arc::new(AtomicU64::new(u64::MAX)), 0);
        assert_eq!(late.make_request_id(&request).unwrap().header_value(), "00000000-ffffffffffff");
    }

    #[test]
    fn unfair_client_request_ids_are_dropped() {
        let with = |id: &[u8]| {
            let mut r = Request::new(Body::empty());
            r.headers_mut().insert("x-request-id", HeaderValue::from_bytes(id).unwrap());
            fair_request_id(r).headers().get("x-request-id").map(|v| v.as_bytes().to_vec())
        };
        assert_eq!(with(b"abc-123 x"), Some(b"abc-123 x".to_vec()));
        assert_eq!(with(&[b'a'; MAX_REQUEST_ID]), Some(vec![b'a'; MAX_REQUEST_ID]));
        assert_eq!(with(&[b'a'; MAX_REQUEST_ID + 1]), None);
        assert_eq!(with(b""), None);
        assert_eq!(with("é".as_bytes()), None);
    }

    #[test]
    fn paths_fall_under_their_route() {
        assert_eq!(route_of("/v1/triage"), Some("/v1/triage"));
        assert_eq!(route_of("/v1/triage/batch"), Some("/v1/triage/batch"));
        assert_eq!(route_of("/v1/cases/c-1/events"), Some("/v1/cases/{id}/events"));
        assert_eq!(route_of("/v1/cases/c-1"), Some("/v1/cases/{id}"));
        assert_eq!(route_of("/v1/cases//events"), Some("/v1/cases/{id}/events"));
        assert_eq!(route_of("/v1/cases/"), None);
        assert_eq!(route_of("/v1/cases//"), None);
        assert_eq!(route_of("/v1/triage/"), None);
        assert_eq!(route_of("/nowhere"), None);
    }
}
