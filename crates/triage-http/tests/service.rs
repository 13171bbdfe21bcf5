//! The service in process, through `app()` with `tower::ServiceExt::oneshot`:
//! every endpoint, every error path, reloads, limits and the OpenAPI
//! document against the routes.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used, reason = "tests fail loudly")]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tower::ServiceExt as _;
use triage_http::{AppState, Limits, Loader, Refused, Snapshot, app};

const NOW: &str = "2026-03-02T09:00:00Z";
const TOKEN: &str = "an-admin-token-of-some-length";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/global-support")
}

/// The example rules and directory, read the way `triage serve` reads them.
fn example() -> Snapshot {
    let root = example_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && p.file_name().is_some_and(|n| n != "directory.yaml"))
        .collect();
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let pairs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let (rules, diags) = triage_core::compile_sources(&pairs);
    let rules = rules.unwrap_or_else(|| panic!("{diags:?}"));
    let dir = std::fs::read_to_string(root.join("directory.yaml")).unwrap();
    let directory = triage_core::Directory::from_text("directory.yaml", &dir).unwrap();
    Snapshot::new(rules, directory, texts.into_iter().map(|(n, _)| n).collect())
}

/// Rules of one file: `general` for every case, under `version`.
fn tiny(category: &str) -> Snapshot {
    let yaml = format!("categories:\n  - id: all\n    set: {{ category: {category} }}\n");
    let rules = triage_core::compile_sources(&[("r.yaml", &yaml)]).0.unwrap();
    Snapshot::new(rules, triage_core::Directory::new(), vec!["r.yaml".into()])
}

fn state_with(first: Option<Snapshot>, loader: Option<Loader>, limits: Limits) -> AppState {
    AppState::new(first, loader, Some(TOKEN.into()), limits)
}

fn state() -> AppState {
    state_with(Some(example()), None, Limits::default())
}

async fn call(state: &AppState, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, String, String) {
    call_with(state, Request::builder().method(method).uri(uri).body(body.into()).unwrap()).await
}

async fn call_with(state: &AppState, request: Request<Body>) -> (StatusCode, String, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let kind =
        response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, kind, String::from_utf8_lossy(&bytes).into_owned())
}

fn problem(status: StatusCode, kind: &str, body: &str) -> Value {
    assert_eq!(kind, "application/problem+json", "{status} {body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["status"], status.as_u16());
    assert_eq!(v["type"], format!("https://triage.invalid/problems/{}", v["code"].as_str().unwrap()));
    v
}

const CASE: &str = r#"{"id": "c1", "subject": "API is down for all our users", "country": "Deutschland", "account": "acme-de", "created_at": "2026-03-02T08:55:00+01:00"}"#;

#[tokio::test]
async fn triage_decides_and_names_its_rules_version() {
    let s = state();
    let version = s.snapshot().unwrap().rules.version().to_string();
    let response = app(s.clone())
        .oneshot(Request::post(format!("/v1/triage?now={NOW}")).body(Body::from(CASE)).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["triage-rules-version"], version.as_str());
    // A request id of the service's own: a random tag, then a sequence.
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.len() == 21 && id.as_bytes()[8] == b'-', "{id}");
    // A client's own id comes back; one that is empty or too long is
    // replaced by the service's.
    for (sent, kept) in [("trace-42", true), ("", false), (&*"x".repeat(129), false)] {
        let request =
            Request::post(format!("/v1/triage?now={NOW}")).header("x-request-id", sent).body(Body::from(CASE));
        let response = app(s.clone()).oneshot(request.unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let back = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(back == sent, kept, "{sent:?} came back as {back:?}");
        assert!(kept || back.len() == 21, "{back}");
    }
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let d: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(d["case_id"], "c1");
    assert_eq!(d["category"], "outage");
    assert_eq!(d["rules_version"], version.as_str());
    // One decision goes uncompressed even to a client that takes gzip; a
    // large answer is compressed.
    let one = Request::post(format!("/v1/triage?now={NOW}"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::from(CASE))
        .unwrap();
    let response = app(s.clone()).oneshot(one).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
    let many = format!("[{}]", vec![CASE; 20].join(","));
    let many = Request::post(format!("/v1/triage/batch?now={NOW}"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::from(many))
        .unwrap();
    let response = app(s.clone()).oneshot(many).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let (_, _, full) = call(&s, "POST", &format!("/v1/triage?trace=full&now={NOW}"), CASE).await;
    let full: Value = serde_json::from_str(&full).unwrap();
    assert!(full["trace"].as_array().unwrap().len() > d["trace"].as_array().unwrap().len());
}

#[tokio::test]
async fn bad_requests_get_problems_that_name_what_is_wrong() {
    let s = state();
    let (st, kind, body) = call(&s, "POST", "/v1/triage", "{\"id\": ").await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-json");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, kind, body) = call(&s, "POST", "/v1/triage", r#"{"id": "x", "requester": {"email": 5}}"#).await;
    let p = problem(st, &kind, &body);
    assert_eq!(
        (st, p["code"].as_str(), p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-case"), Some("requester.email"))
    );
    let (st, kind, body) = call(&s, "POST", "/v1/triage", r#"{"id": "x", "requester": ["a@b.c"]}"#).await;
    assert_eq!(problem(st, &kind, &body)["field"], "requester");
    let (st, kind, body) = call(&s, "POST", "/v1/triage?now=2026-03-02T09:00", CASE).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("now")));
    assert!(p["detail"].as_str().unwrap().contains("UTC offset"));
    assert!(!p["detail"].as_str().unwrap().contains("%2B"));
    // An offset's `+` sent unencoded arrives as a space: the answer says so.
    let (st, kind, body) = call(&s, "POST", "/v1/triage?now=2026-03-02T09:00:00+01:00", CASE).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("now")));
    assert!(p["detail"].as_str().unwrap().contains("`%2B`"), "{p}");
    let (st, _, _) = call(&s, "POST", "/v1/triage?now=2026-03-02T09:00:00%2B01:00", CASE).await;
    assert_eq!(st, StatusCode::OK);
    let (st, kind, body) = call(&s, "POST", "/v1/check", "null").await;
    let p = problem(st, &kind, &body);
    assert!(!p["detail"].as_str().unwrap().contains("CheckBody"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains(r#"{"files""#), "{p}");
    // A parameter given twice, and one an endpoint does not take, anywhere.
    let (st, kind, body) = call(&s, "POST", &format!("/v1/triage?now={NOW}&now={NOW}"), CASE).await;
    let p = problem(st, &kind, &body);
    assert_eq!(
        (p["field"].as_str(), p["detail"].as_str()),
        (Some("now"), Some("`now` is given more than once; give it once"))
    );
    for (method, uri) in [
        ("POST", "/v1/check?now=x"),
        ("GET", "/v1/rules?foo=1"),
        ("GET", "/healthz?x=1"),
        ("GET", "/readyz?x=1"),
        ("GET", "/metrics?x=1"),
        ("GET", "/openapi.json?x=1"),
    ] {
        let (st, kind, body) = call(&s, method, uri, r#"{"files": {}}"#).await;
        assert_eq!(problem(st, &kind, &body)["code"], "invalid-query", "{uri}");
    }
    let (st, kind, body) = call(&s, "POST", "/v1/triage?trace=all", CASE).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-query");
    let (st, kind, body) = call(&s, "POST", "/v1/triage?colour=red", CASE).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-query");
    let (st, kind, body) = call(&s, "POST", "/v1/triage?mode=optimal", CASE).await;
    assert_eq!(problem(st, &kind, &body)["field"], "mode");
    let (st, _, _) = call(&s, "POST", &format!("/v1/triage?now={NOW}"), format!("\u{feff}{CASE}")).await;
    assert_eq!(st, StatusCode::OK, "a byte-order mark is not part of the JSON");
    let (st, kind, body) = call(&s, "POST", "/v1/triage", vec![b'{', 0xff, b'}']).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-json");
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let (st, kind, body) = call(&s, "POST", "/v1/triage", deep).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid-json")));
    let (st, kind, body) = call(&s, "GET", "/v1/nothing", Body::empty()).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::NOT_FOUND, Some("not-found")));
    let (st, kind, body) = call(&s, "GET", "/v1/triage", Body::empty()).await;
    assert_eq!(
        (st, problem(st, &kind, &body)["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method-not-allowed"))
    );
    // No problem names a path on the server.
    assert!(!body.contains(&*example_dir().to_string_lossy()));
    // A compressed body is refused, not read as JSON.
    let gzip = Request::post("/v1/triage").header(header::CONTENT_ENCODING, "gzip").body(Body::from(CASE)).unwrap();
    let (st, kind, body) = call_with(&s, gzip).await;
    assert_eq!(
        (st, problem(st, &kind, &body)["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported-encoding"))
    );
    let transfer =
        Request::post("/v1/triage").header(header::TRANSFER_ENCODING, "gzip, chunked").body(Body::from(CASE)).unwrap();
    let (st, kind, body) = call_with(&s, transfer).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported-encoding")));
    assert!(p["detail"].as_str().unwrap().contains("Transfer-Encoding: gzip"), "{p}");
    let twice = Request::post("/v1/triage")
        .header(header::CONTENT_ENCODING, "identity")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(CASE))
        .unwrap();
    assert_eq!(call_with(&s, twice).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let plain = Request::post(format!("/v1/triage?now={NOW}"))
        .header(header::CONTENT_ENCODING, "identity")
        .body(Body::from(CASE))
        .unwrap();
    assert_eq!(call_with(&s, plain).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let s = state_with(Some(example()), None, Limits { body_bytes: 64, ..Limits::default() });
    let (st, kind, body) = call(&s, "POST", "/v1/triage", CASE).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body-too-large")));
    assert!(p["detail"].as_str().unwrap().contains("at most 64 bytes"));
    // The batch endpoint has its own, larger limit.
    let (st, _, _) = call(&s, "POST", "/v1/triage/batch", format!("[{CASE}]")).await;
    assert_eq!(st, StatusCode::OK);
    // A declared length over the limit is refused before any byte is read
    // (this body would never end).
    let declared =
        Request::post("/v1/triage").header(header::CONTENT_LENGTH, "1000000").body(Body::new(Stalled)).unwrap();
    let (st, kind, body) = tokio::time::timeout(Duration::from_secs(5), call_with(&s, declared)).await.unwrap();
    assert_eq!(problem(st, &kind, &body)["code"], "body-too-large");
}

/// A body whose sender has stopped sending.
struct Stalled;

impl axum::body::HttpBody for Stalled {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn bodies_held_at_once_are_limited_over_all_requests() {
    // Room for one body of 64 KiB at a time.
    let s = state_with(Some(example()), None, Limits { buffered_bytes: 64 * 1024, ..Limits::default() });
    // One body declared at the whole budget is held (it never ends) …
    let holder = tokio::spawn({
        let s = s.clone();
        async move {
            let r = Request::post("/v1/triage/batch").header(header::CONTENT_LENGTH, "65536");
            call_with(&s, r.body(Body::new(Stalled)).unwrap()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // … so another is turned away, not buffered.
    let (st, kind, body) = call(&s, "POST", &format!("/v1/triage?now={NOW}"), CASE).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("overloaded")));
    holder.abort();
    let _ = holder.await;
    // The budget comes back when the holder goes.
    let (st, _, _) = call(&s, "POST", &format!("/v1/triage?now={NOW}"), CASE).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_body_not_sent_in_time_is_answered_408_and_holds_no_place() {
    let limits = Limits { body_timeout: Duration::from_millis(200), concurrency: 1, ..Limits::default() };
    let s = state_with(Some(example()), None, limits);
    let stalled = tokio::spawn({
        let s = s.clone();
        async move { call_with(&s, Request::post("/v1/triage").body(Body::new(Stalled)).unwrap()).await }
    });
    // While it stalls, the one place in progress is free for others.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (st, _, _) = call(&s, "POST", &format!("/v1/triage?now={NOW}"), CASE).await;
    assert_eq!(st, StatusCode::OK);
    let (st, kind, body) = tokio::time::timeout(Duration::from_secs(5), stalled).await.unwrap().unwrap();
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["code"].as_str()), (StatusCode::REQUEST_TIMEOUT, Some("body-timeout")));
}

#[tokio::test]
async fn a_request_whose_client_leaves_is_counted_499() {
    let s = state();
    // The client goes (its request's work is dropped) while the body stalls.
    let gone = tokio::time::timeout(
        Duration::from_millis(100),
        app(s.clone()).oneshot(Request::post("/v1/triage").body(Body::new(Stalled)).unwrap()),
    )
    .await;
    assert!(gone.is_err(), "the stalled request was answered");
    let (_, _, metrics) = call(&s, "GET", "/metrics", Body::empty()).await;
    assert!(metrics.contains("triage_http_requests_total{route=\"/v1/triage\",status=\"499\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_batch_answers_every_case_in_order_and_each_bad_one_on_its_line() {
    let s = state();
    let ndjson = format!("{CASE}\n\nnot json\n{{\"id\": 5}}\n{}\n", CASE.replace("c1", "c2"));
    let (st, kind, body) = call(&s, "POST", &format!("/v1/triage/batch?now={NOW}"), ndjson).await;
    assert_eq!((st, kind.as_str()), (StatusCode::OK, "application/x-ndjson"));
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["case_id"], "c1");
    assert_eq!((lines[1]["index"].as_u64(), lines[1]["line"].as_u64()), (Some(1), Some(3)));
    assert_eq!(lines[1]["error"]["code"], "invalid-json");
    assert_eq!(lines[2]["error"]["code"], "invalid-case");
    assert_eq!(lines[3]["case_id"], "c2");
    let (st, _, body) = call(&s, "POST", "/v1/triage/batch", format!("[{CASE}, 7]")).await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines[0]["case_id"].as_str(), lines[1]["index"].as_u64()), (Some("c1"), Some(1)));
    let (st, kind, body) = call(&s, "POST", "/v1/triage/batch", format!("[{CASE},")).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-json");
}

#[tokio::test]
async fn explain_escalate_assign_and_check_answer() {
    let s = state();
    let (st, kind, text) = call(&s, "POST", &format!("/v1/explain?now={NOW}"), CASE).await;
    assert_eq!((st, kind.as_str()), (StatusCode::OK, "text/plain; charset=utf-8"));
    assert!(text.starts_with("case `c1`: category `outage`"), "{text}");

    let history = std::fs::read_to_string(example_dir().join("states/outage-acme-de.json")).unwrap();
    let (st, _, body) = call(&s, "POST", "/v1/escalate?now=2026-03-03T09:00:00Z", history).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["case_id"], "case-27343");
    let actions = e["actions"].as_array().unwrap();
    assert!(!actions.is_empty() && actions.iter().all(|a| a["key"].is_string()), "{body}");
    let bad = r#"{"case": {"id": "h"}, "events": [{"at": "2026-03-02T10:00:00Z", "kind": "created"}, {"at": "2026-03-02T09:00:00Z", "kind": "agent_replied"}]}"#;
    let (st, kind, body) = call(&s, "POST", "/v1/escalate", bad).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-history");

    let corpus = std::fs::read_to_string(example_dir().join("cases/corpus.jsonl")).unwrap();
    let first: String = corpus.lines().take(40).collect::<Vec<_>>().join("\n") + "\nnot a case\n";
    let (st, _, body) = call(&s, "POST", &format!("/v1/assign?mode=optimal&now={NOW}"), first).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let plan: Value = serde_json::from_str(&body).unwrap();
    let sum = &plan["summary"];
    let n = |k: &str| sum[k].as_u64().unwrap();
    assert_eq!((n("read"), n("decided"), n("rejected")), (41, 40, 1));
    // The plan's decisions are counted as single ones are.
    let before = decided(&s).await;
    let (st, _, _) =
        call(&s, "POST", &format!("/v1/assign?now={NOW}"), corpus.lines().take(7).collect::<Vec<_>>().join("\n")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(decided(&s).await - before, 7.0);
    assert_eq!(n("assigned") + n("queued") + n("manual_review") + n("deflected") + n("no_team"), 40);
    assert_eq!(plan["decisions"].as_array().unwrap().len(), 40);
    assert_eq!(plan["rejected"][0]["line"], 41);
    assert_eq!(plan["mode"], "optimal");

    let files = json!({"files": {"a.yaml": "categories:\n  - id: x\n    when: { subjct: { contains: a } }\n    set: { category: x }\n"}});
    let (st, _, body) = call(&s, "POST", "/v1/check", files.to_string()).await;
    assert_eq!(st, StatusCode::OK);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ok"], false);
    let d = report["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "unknown-field").unwrap();
    assert_eq!((d["file"].as_str(), d["line"].as_u64(), d["rule"].as_str()), (Some("a.yaml"), Some(3), Some("x")));
    let good = json!({"files": {"a.yaml": "categories:\n  - id: g\n    set: { category: general }\n"}});
    let (_, _, body) = call(&s, "POST", "/v1/check", good.to_string()).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["ok"], true);
    let (st, kind, body) = call(&s, "POST", "/v1/check", r#"{"a.yaml": "x"}"#).await;
    assert_eq!(problem(st, &kind, &body)["code"], "invalid-check");
}

/// What the next reload will load.
type Next = Arc<Mutex<Option<Result<Snapshot, Refused>>>>;

/// A loader that serves what the test puts in it.
fn swappable(first: Snapshot) -> (AppState, Next) {
    let next: Next = Arc::new(Mutex::new(None));
    let source = next.clone();
    let loader: Loader = Arc::new(move || source.lock().unwrap().take().unwrap_or_else(|| Err(Refused::default())));
    (state_with(Some(first), Some(loader), Limits::default()), next)
}

#[tokio::test]
async fn reloads_need_the_token_and_a_refused_one_keeps_the_old_rules() {
    let (s, next) = swappable(tiny("first"));
    let old = s.snapshot().unwrap().rules.version().to_string();
    let reload = |token: Option<&str>| {
        let mut r = Request::post("/v1/rules/reload");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    for token in [None, Some("wrong"), Some("an-admin-token-of-some-lengtH")] {
        let (st, kind, body) = call_with(&s, reload(token)).await;
        assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    }
    // A broken set is refused; the old rules keep answering.
    let broken = triage_core::compile_sources(&[("r.yaml", "categories: [{ id: x, when: { nope: 1 } }]")]).1;
    *next.lock().unwrap() = Some(Err(Refused { message: "the rule set has 1 error(s)".into(), diagnostics: broken }));
    let (st, kind, body) = call_with(&s, reload(Some(TOKEN))).await;
    let p = problem(st, &kind, &body);
    assert_eq!((st, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reload-refused")));
    assert!(!p["diagnostics"].as_array().unwrap().is_empty());
    let (_, _, body) = call(&s, "POST", "/v1/triage", r#"{"id": "a"}"#).await;
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((d["category"].as_str(), d["rules_version"].as_str()), (Some("first"), Some(old.as_str())));
    let (_, _, body) = call(&s, "GET", "/v1/rules", Body::empty()).await;
    let rules: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((rules["version"].as_str(), rules["last_reload"]["ok"].as_bool()), (Some(old.as_str()), Some(false)));
    // A good set goes live at once (the scheme's case does not matter).
    *next.lock().unwrap() = Some(Ok(tiny("second")));
    let lower = Request::post("/v1/rules/reload").header(header::AUTHORIZATION, format!("bearer {TOKEN}"));
    let (st, _, body) = call_with(&s, lower.body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (_, _, body) = call(&s, "POST", "/v1/triage", r#"{"id": "a"}"#).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["category"], "second");
    let (_, _, metrics) = call(&s, "GET", "/metrics", Body::empty()).await;
    assert!(metrics.contains(r#"triage_reloads_total{outcome="refused"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"triage_reloads_total{outcome="ok"} 1"#), "{metrics}");
    assert!(!metrics.contains(&format!(r#"triage_rules_info{{version="{old}"}}"#)), "{metrics}");
    assert_eq!(metrics.matches("triage_rules_info{").count(), 1, "{metrics}");
    // Without a token configured, reloading is refused whatever is sent.
    let s = AppState::new(Some(tiny("x")), None, None, Limits::default());
    let (st, _, _) = call_with(&s, reload(Some(""))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_readiness_metrics_and_the_document() {
    let s = state();
    let (st, _, _) = call(&s, "GET", "/healthz", Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, body) = call(&s, "GET", "/readyz", Body::empty()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    call(&s, "POST", &format!("/v1/triage?now={NOW}"), CASE).await;
    let (st, kind, metrics) = call(&s, "GET", "/metrics", Body::empty()).await;
    assert_eq!((st, kind.as_str()), (StatusCode::OK, "text/plain; version=0.0.4"));
    for needle in [
        r#"triage_http_requests_total{route="/v1/triage",status="200"} 1"#,
        r#"triage_decisions_total{category="outage",tier="3",team="engineering"} 1"#,
        "triage_decision_duration_seconds_bucket",
        "triage_rules_info{version=",
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
    let not_ready = AppState::new(None, None, None, Limits::default());
    let (st, kind, body) = call(&not_ready, "GET", "/readyz", Body::empty()).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("not-ready")));
    let (st, _, _) = call(&not_ready, "POST", "/v1/triage", CASE).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);

    let (st, _, body) = call(&s, "GET", "/openapi.json", Body::empty()).await;
    assert_eq!(st, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    documented.sort();
    let mut routes: Vec<(String, String)> =
        triage_http::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    routes.sort();
    assert_eq!(documented, routes);
    assert!(doc["components"]["schemas"]["Case"]["properties"]["requester"].is_object());
    // The endpoints that need a store say what they answer without one.
    for (path, method) in [("/v1/agents", "get"), ("/v1/agents/{id}/presence", "put"), ("/v1/escalations", "get")] {
        assert!(doc["paths"][path][method]["responses"]["501"].is_object(), "{path}");
    }
    // Every documented route answers something other than 404.
    for (method, path) in &routes {
        let (st, _, _) = call(&s, method, path, Body::empty()).await;
        assert_ne!(st, StatusCode::NOT_FOUND, "{method} {path}");
    }
}

/// A loader that waits for the test, so a reload stays in flight.
fn held() -> (AppState, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let started_tx = Mutex::new(started_tx);
    let loader: Loader = Arc::new(move || {
        started_tx.lock().unwrap().send(()).unwrap();
        let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(20));
        Ok(tiny("later"))
    });
    let limits = Limits { concurrency: 1, timeout: Duration::from_secs(10), ..Limits::default() };
    (state_with(Some(tiny("now")), Some(loader), limits), started_rx, release_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_limit_are_shed_not_queued() {
    let (s, started, release) = held();
    let in_flight = tokio::spawn({
        let s = s.clone();
        async move {
            let r = Request::post("/v1/rules/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
            call_with(&s, r.body(Body::empty()).unwrap()).await
        }
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)).unwrap()).await.unwrap();
    let (st, kind, body) = call(&s, "POST", "/v1/triage", r#"{"id": "a"}"#).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("overloaded")));
    // Probes and metrics answer whatever the load, and count what was shed.
    assert_eq!(call(&s, "GET", "/healthz", Body::empty()).await.0, StatusCode::OK);
    assert_eq!(call(&s, "GET", "/readyz", Body::empty()).await.0, StatusCode::OK);
    let (_, _, metrics) = call(&s, "GET", "/metrics", Body::empty()).await;
    assert!(metrics.contains(r#"triage_http_requests_total{route="/v1/triage",status="503"} 1"#), "{metrics}");
    release.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap().0, StatusCode::OK);
    let (st, _, _) = call(&s, "POST", "/v1/triage", r#"{"id": "a"}"#).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_time_limit_is_answered_503() {
    let loader: Loader = Arc::new(|| {
        std::thread::sleep(Duration::from_millis(600));
        Ok(tiny("later"))
    });
    let limits = Limits { timeout: Duration::from_millis(100), ..Limits::default() };
    let s = state_with(Some(tiny("now")), Some(loader), limits);
    let r = Request::post("/v1/rules/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let (st, kind, body) = call_with(&s, r.body(Body::empty()).unwrap()).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("timeout")));
    // A batch past the limit stops deciding: its answer streams, and ends
    // with a line naming where it stopped.
    // (Reading 10,000 lines fits in the second; deciding them, traced, not.)
    let s = state_with(Some(example()), None, Limits { timeout: Duration::from_secs(1), ..Limits::default() });
    let batch = vec![CASE; 10_000].join("\n");
    let request = Request::post(format!("/v1/triage/batch?now={NOW}&trace=full")).body(Body::from(batch)).unwrap();
    let (st, _, body) = call_with(&s, request).await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() < 10_000, "all {} decided within a second", lines.len());
    let last = lines.last().unwrap();
    assert_eq!(
        (last["index"].as_u64(), last["error"]["code"].as_str()),
        (Some(lines.len() as u64 - 1), Some("timeout"))
    );
    assert!(lines[..lines.len() - 1].iter().all(|l| l["case_id"] == "c1"));
    assert_eq!(decided(&s).await, (lines.len() - 1) as f64);
    // A client that leaves stops the work too.
    let batch = vec![CASE; 50_000].join("\n");
    let s = state_with(Some(example()), None, Limits::default());
    let request = Request::post(format!("/v1/triage/batch?now={NOW}")).body(Body::from(batch)).unwrap();
    let response = app(s.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let soon = decided(&s).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(soon, decided(&s).await, "the batch went on without its client");
    assert!(soon < 50_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_batches_at_once_take_turns_and_each_answers_whole() {
    // More batches than cores: they are decided a core at a time, and
    // every one still answers every line, in order.
    let s = state();
    let corpus = std::fs::read_to_string(example_dir().join("cases/corpus.jsonl")).unwrap();
    let body: String = corpus.lines().take(300).collect::<Vec<_>>().join("\n");
    let before = decided(&s).await;
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (s, body) = (s.clone(), body.clone());
            tokio::spawn(async move { call(&s, "POST", &format!("/v1/triage/batch?now={NOW}"), body).await })
        })
        .collect();
    for answer in calls {
        let (st, _, text) = answer.await.unwrap();
        assert_eq!(st, StatusCode::OK);
        let ids: Vec<String> =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["case_id"].to_string()).collect();
        let sent: Vec<String> =
            body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].to_string()).collect();
        assert_eq!(ids, sent);
    }
    assert_eq!(decided(&s).await - before, 12.0 * 300.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_their_batch_answers_do_not_stop_other_batches() {
    let s = state();
    let corpus = std::fs::read_to_string(example_dir().join("cases/corpus.jsonl")).unwrap();
    // Four batches whose answers (megabytes each) nobody reads: each
    // fills its stream and waits for its client.
    let stuck: Vec<_> = (0..4)
        .map(|_| {
            let (s, body) = (s.clone(), corpus.clone());
            let request = Request::post(format!("/v1/triage/batch?now={NOW}")).body(Body::from(body)).unwrap();
            tokio::spawn(async move { app(s).oneshot(request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let few: String = corpus.lines().take(10).collect::<Vec<_>>().join("\n");
    let (st, _, body) =
        tokio::time::timeout(Duration::from_secs(10), call(&s, "POST", &format!("/v1/triage/batch?now={NOW}"), few))
            .await
            .expect("a batch waited behind clients that do not read");
    assert_eq!((st, body.lines().count()), (StatusCode::OK, 10));
    drop(stuck);
}

/// Decisions counted in the metrics.
async fn decided(s: &AppState) -> f64 {
    let (_, _, metrics) = call(s, "GET", "/metrics", Body::empty()).await;
    metrics
        .lines()
        .filter(|l| l.starts_with("triage_decisions_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum::<f64>()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Nothing a client sends as a body gives a 5xx.
    #[test]
    fn arbitrary_bodies_never_give_a_server_error(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        route in 0usize..6,
    ) {
        let paths = ["/v1/triage", "/v1/triage/batch", "/v1/explain", "/v1/escalate", "/v1/assign", "/v1/check"];
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = shared_state();
        let status = runtime.block_on(async { call(&s, "POST", paths[route], bytes.clone()).await.0 });
        proptest::prop_assert!(!status.is_server_error(), "{} gave {}", paths[route], status);
    }
}

fn shared_state() -> AppState {
    static STATE: std::sync::OnceLock<AppState> = std::sync::OnceLock::new();
    STATE.get_or_init(state).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_case_keeps_its_history_and_stores_each_action_once() {
    let s = state();
    // Without a store the endpoints say so.
    let (st, kind, body) = call(&s, "GET", "/v1/cases/x", Body::empty()).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::NOT_IMPLEMENTED, Some("no-store")));
    // A request's own problem comes first, with a store or without.
    for (method, uri) in [
        ("POST", "/v1/cases/x/events?foo=1"),
        ("POST", "/v1/cases/x/assign?foo=1"),
        ("PUT", "/v1/agents/ana/presence?foo=1"),
    ] {
        let (st, kind, body) = call(&s, method, uri, "{}").await;
        assert_eq!(problem(st, &kind, &body)["code"], "invalid-query", "{uri}");
    }

    let dir = tempfile::tempdir().unwrap();
    let s = state();
    assert!(s.set_store(triage_store::Store::open_dir(dir.path()).await.unwrap()));
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(example_dir().join("states/outage-acme-de.json")).unwrap())
            .unwrap();
    let events: Vec<Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            e["id"] = json!(format!("e{i}"));
            e
        })
        .collect();
    let url = "/v1/cases/case-27343/events?now=2026-03-03T09:00:00Z";
    // Events for a case never sent are refused, naming what to send.
    let (st, kind, body) = call(&s, "POST", url, json!({"events": events[..1]}).to_string()).await;
    assert_eq!((st, problem(st, &kind, &body)["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-case")));
    let first = json!({"case": history["case"], "events": events[..3]}).to_string();
    let (st, _, body) = call(&s, "POST", url, first.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["appended"], json!(["e0", "e1", "e2"]));
    let enqueued = answer["enqueued"].as_array().unwrap().clone();
    assert!(!enqueued.is_empty(), "{body}");
    // The same request again adds no event and no action.
    let (_, _, body) = call(&s, "POST", url, first).await;
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((again["appended"].as_array().unwrap().len(), again["repeated"].as_array().unwrap().len()), (0, 3));
    assert_eq!(again["enqueued"], json!([]));
    // The rest of the history, later.
    let rest = json!({"events": events[3..]}).to_string();
    let (st, _, body) = call(&s, "POST", url, rest).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, _, body) = call(&s, "GET", "/v1/cases/case-27343", Body::empty()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let case: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = case["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4", "e5"]);
    let actions = case["actions"].as_array().unwrap();
    assert!(actions.len() >= enqueued.len());
    assert!(actions.iter().all(|a| a["delivery"] == "pending" && a["action"]["key"] == a["key"]), "{body}");
    let mut keys: Vec<&str> = actions.iter().map(|a| a["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), actions.len(), "an action stored twice");
    // A request whose history cannot be replayed stores nothing, and the
    // case goes on taking events; events arriving out of order are
    // replayed in the order they happened.
    let bad = json!({"events": [{"id": "b1", "at": "2026-03-02T06:00:00Z", "kind": "created"}]});
    let (st, kind, text) = call(&s, "POST", url, bad.to_string()).await;
    assert_eq!(
        (st, problem(st, &kind, &text)["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-history")),
        "{text}"
    );
    let late = json!({"events": [
        {"id": "o2", "at": "2026-03-02T12:00:00+01:00", "kind": "agent_replied"},
        {"id": "o1", "at": "2026-03-02T11:00:00+01:00", "kind": "customer_replied"},
    ]});
    let (st, _, text) = call(&s, "POST", url, late.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let (_, _, body) = call(&s, "GET", "/v1/cases/case-27343", Body::empty()).await;
    let case: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = case["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4", "e5", "o2", "o1"], "b1 was stored");
    // Bad bodies name the field.
    for (body, field) in [
        (json!({"events": [{"at": "2026-03-02T10:00:00Z", "kind": "created"}]}), "events[0].id"),
        (json!({"events": [{"id": "x", "at": "2026-03-02T10:00:00Z", "kind": "exploded"}]}), "events[0]"),
        (json!({"case": {"id": "other"}}), "case.id"),
        (json!({"evnts": []}), "evnts"),
    ] {
        let (st, kind, text) = call(&s, "POST", url, body.to_string()).await;
        let p = problem(st, &kind, &text);
        assert_eq!((st, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_replays_a_case_when_its_check_falls_due() {
    let dir = tempfile::tempdir().unwrap();
    let s = state();
    let store = triage_store::Store::open_dir(dir.path()).await.unwrap();
    assert!(s.set_store(store.clone()));
    let t0: chrono::DateTime<chrono::Utc> = "2026-03-02T07:56:00Z".parse().unwrap();
    let clock = triage_http::TestClock::new(t0);
    let scheduler =
        tokio::spawn(triage_http::run_scheduler(s.clone(), Arc::new(clock.clone()), "r1".into(), triage_http::LEASE));
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(example_dir().join("states/outage-acme-de.json")).unwrap())
            .unwrap();
    let created = json!({"case": history["case"], "events": [{"id": "e0", "at": "2026-03-02T08:55:00+01:00", "kind": "created"}]});
    let url = "/v1/cases/case-27343/events?now=2026-03-02T07:56:00Z";
    let (st, _, body) = call(&s, "POST", url, created.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let at_first = answer["enqueued"].as_array().unwrap().len();
    let next: chrono::DateTime<chrono::Utc> = answer["next_check_at"].as_str().unwrap().parse().unwrap();
    assert!(next > t0);
    // Nothing happens before the check falls due …
    clock.set(next - chrono::Duration::seconds(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.case("case-27343").await.unwrap().unwrap().actions.len(), at_first);
    // … and at it, the scheduler replays the case by itself.
    clock.set(next);
    let mut actions = Vec::new();
    for _ in 0..100 {
        actions = store.case("case-27343").await.unwrap().unwrap().actions;
        if actions.len() > at_first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(actions.len() > at_first, "nothing fell due at {next}");
    assert!(actions.iter().all(|a| a.action.due <= next.timestamp_millis()));
    let later = store.case("case-27343").await.unwrap().unwrap().next_check.unwrap();
    assert!(later > next.timestamp_millis(), "the next check moved on");
    scheduler.abort();
}

#[tokio::test]
async fn the_service_finds_a_repeat_and_an_incident_among_the_cases_it_decided() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/duplicates");
    let yaml = std::fs::read_to_string(root.join("rules/rules.yaml")).unwrap();
    let rules = triage_core::compile_sources(&[("rules.yaml", &yaml)]).0.unwrap();
    let state = state_with(
        Some(Snapshot::new(rules, triage_core::Directory::new(), vec!["rules.yaml".into()])),
        None,
        Limits::default(),
    );
    let cases = std::fs::read_to_string(root.join("cases.jsonl")).unwrap();
    let mut answers = Vec::new();
    for line in cases.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let now = case["created_at"].as_str().unwrap().to_string();
        let (status, _, body) = call(&state, "POST", &format!("/v1/triage?now={now}"), line.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(serde_json::from_str::<Value>(&body).unwrap());
    }
    assert_eq!(answers[1]["duplicates"][0]["case_id"], "101");
    assert_eq!(answers[1]["manual_review"]["reason"], "possible-duplicate");
    assert!(answers[0].get("duplicates").is_none());
    assert_eq!(answers[6]["incident"]["cluster"], "104");
    let action = answers[6]["actions"].as_array().unwrap().iter().find(|a| a["kind"] == "incident_suspected").unwrap();
    assert_eq!(action["key"], "incident_suspected:104");
    // Explaining a case compares nothing and remembers nothing.
    let (_, _, text) = call(&state, "POST", "/v1/explain", cases.lines().next().unwrap().to_string()).await;
    assert!(!text.contains("duplicates"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_case_is_compared_when_it_is_opened_and_its_escalation_reads_what_was_found() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/duplicates");
    let yaml = std::fs::read_to_string(root.join("rules/rules.yaml")).unwrap()
        + "sla: [{ id: standard, targets: { first_response: 8h } }]\n\
           escalation:\n  - id: outage-on-call\n    when: { incident.size: { gte: 4 } }\n    do: [{ notify: on_call }]\n";
    let (rules, diags) = triage_core::compile_sources(&[("rules.yaml", &yaml)]);
    let rules = rules.unwrap_or_else(|| panic!("{diags:?}"));
    let s = state_with(
        Some(Snapshot::new(rules, triage_core::Directory::new(), vec!["rules.yaml".into()])),
        None,
        Limits::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = triage_store::Store::open_dir(dir.path()).await.unwrap();
    assert!(s.set_store(store.clone()));
    let mut answers = Vec::new();
    for line in std::fs::read_to_string(root.join("cases.jsonl")).unwrap().lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let (id, at) = (case["id"].as_str().unwrap(), case["created_at"].as_str().unwrap());
        let body = json!({"case": case, "events": [{"id": "e0", "at": at, "kind": "created"}]});
        let url = format!("/v1/cases/{id}/events?now={at}");
        let (st, _, text) = call(&s, "POST", &url, body.to_string()).await;
        assert_eq!(st, StatusCode::OK, "{text}");
        answers.push(serde_json::from_str::<Value>(&text).unwrap());
    }
    // The repeat is kept with what it repeats.
    let (_, _, text) = call(&s, "GET", "/v1/cases/102", Body::empty()).await;
    let case: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(case["related"]["duplicate_of"], "101", "{text}");
    // The fourth report of the outage is in a cluster of 4 (P1 by the
    // section's `then`), and its escalation tells the on-call engineer.
    let (_, _, text) = call(&s, "GET", "/v1/cases/107", Body::empty()).await;
    let case: Value = serde_json::from_str(&text).unwrap();
    assert!(case["related"]["incident_size"].as_u64().unwrap() >= 4, "{text}");
    assert_eq!(case["related"]["priority"], "P1", "{text}");
    let notified = |a: &Value| {
        a["escalation"]["actions"].as_array().unwrap().iter().any(|x| x["target"] == "on_call" && x["kind"] == "notify")
    };
    assert!(notified(&answers[6]), "{}", answers[6]);
    assert!(!notified(&answers[0]), "{}", answers[0]);
    // The case that completes the incident tells it once, by the cluster's
    // key, in the outbox.
    let told = |a: &Value| a["enqueued"].as_array().unwrap().iter().any(|k| k == "incident_suspected:104");
    assert!(told(&answers[6]), "{}", answers[6]);
    assert_eq!(answers.iter().filter(|a| told(a)).count(), 1);
    let (_, _, text) = call(&s, "GET", "/v1/cases/107", Body::empty()).await;
    assert!(text.contains("incident_suspected:104"), "{text}");
    // The same case sent again is tracked already: it is not compared with itself.
    let line = std::fs::read_to_string(root.join("cases.jsonl")).unwrap().lines().next().unwrap().to_string();
    let again = json!({"case": serde_json::from_str::<Value>(&line).unwrap(), "events": []});
    let (st, _, _) = call(&s, "POST", "/v1/cases/101/events?now=2026-03-02T08:10:00Z", again.to_string()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(store.related("101").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_to_open_one_case_leave_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = state();
    assert!(s.set_store(triage_store::Store::open_dir(dir.path()).await.unwrap()));
    let at = "2026-03-03T08:00:00Z";
    let post = |s: AppState, body: Value| async move {
        call(&s, "POST", &format!("/v1/cases/race/events?now={at}"), body.to_string()).await
    };
    // Each request opens the case with a `created` event of its own id: at
    // most one history may start, and it holds one `created`.
    let case = json!({"id": "race", "created_at": at, "subject": "printer on fire"});
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let body = json!({"case": case, "events": [{"id": format!("e{i}"), "at": at, "kind": "created"}]});
            tokio::spawn(post(s.clone(), body))
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (st, _, text) = t.await.unwrap();
        match st {
            StatusCode::OK => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {}
            other => panic!("{other}: {text}"),
        }
    }
    assert_eq!(ok, 1);
    let (st, _, text) = call(&s, "GET", "/v1/cases/race", Body::empty()).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["events"].as_array().unwrap().len(), 1, "{text}");
    // The case still takes events.
    let more = json!({"events": [{"id": "r1", "at": at, "kind": "agent_replied"}]});
    assert_eq!(post(s.clone(), more).await.0, StatusCode::OK);

    // Different cases under one id: one is tracked, the others conflict.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let case = json!({"id": "race2", "created_at": at, "subject": format!("variant {i}")});
            let body = json!({"case": case, "events": [{"id": "e1", "at": at, "kind": "created"}]});
            let s = s.clone();
            tokio::spawn(async move {
                let (st, _, text) =
                    call(&s, "POST", &format!("/v1/cases/race2/events?now={at}"), body.to_string()).await;
                (i, st, text)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, st, text) = t.await.unwrap();
        match st {
            StatusCode::OK => winners.push(i),
            StatusCode::CONFLICT => assert!(text.contains("case-changed") || text.contains("case-busy"), "{text}"),
            other => panic!("{other}: {text}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (_, _, text) = call(&s, "GET", "/v1/cases/race2", Body::empty()).await;
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["case"]["subject"], format!("variant {}", winners[0]), "{text}");
}
