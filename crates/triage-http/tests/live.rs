//! Live operations in process: delivery of the outbox to a real HTTP sink
//! on loopback (signed, in order per case, retried, dead-lettered, never
//! before its due instant), driven by a test clock; and capacity
//! reservation under concurrent requests, on SQLite and, when
//! `TRIAGE_TEST_POSTGRES` is set (`.ci/run` sets it), on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used, reason = "tests fail loudly")]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt as _;
use triage_http::{AppState, Limits, Sinks, Snapshot, TestClock, app};
use triage_store::Store;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/global-support")
}

fn snapshot(dir: &Path) -> Snapshot {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
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
    let rules = triage_core::compile_sources(&pairs).0.unwrap();
    let directory = triage_core::Directory::from_text(
        "directory.yaml",
        &std::fs::read_to_string(dir.join("directory.yaml")).unwrap(),
    )
    .unwrap();
    Snapshot::new(rules, directory, texts.into_iter().map(|(n, _)| n).collect())
}

async fn call(state: &AppState, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(uri).body(body.into()).unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A store of its own: SQLite in a temporary folder, or a fresh
/// PostgreSQL database.
async fn store(postgres: bool, dir: &Path) -> Option<Store> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    if !postgres {
        return Some(Store::open_dir(dir).await.unwrap());
    }
    let Ok(url) = std::env::var("TRIAGE_TEST_POSTGRES") else {
        eprintln!("PostgreSQL NOT TESTED: set TRIAGE_TEST_POSTGRES=postgres://user@host/db (.ci/run does)");
        return None;
    };
    let name = format!("triage_live_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    Some(Store::connect(&Store::create_database(&url, &name).await.unwrap()).await.unwrap())
}

/// What the sink received: path, idempotency key, whether the signature
/// held, the body, and the test clock when it arrived.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    key: String,
    signed: bool,
    body: Value,
    at: DateTime<Utc>,
}

const SECRET: &str = "a-shared-secret";

/// A webhook receiver on loopback: `/hook` answers 503 to the first
/// attempt of a key ending in `open_escalation`, then 200; `/broken`
/// always 500; `/slack` 200.
async fn sink(clock: TestClock) -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen = Arc::new(Mutex::new(Vec::<Received>::new()));
    let log = seen.clone();
    let handler = move |path: axum::extract::Path<String>, headers: HeaderMap, body: axum::body::Bytes| {
        let (log, clock) = (log.clone(), clock.clone());
        async move {
            let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let key = header("idempotency-key");
            let signed = header("triage-timestamp").parse::<i64>().is_ok_and(|ts| {
                header("triage-signature") == format!("v1={}", triage_http::signature(SECRET.as_bytes(), ts, &body))
            });
            let mut log = log.lock().unwrap();
            let first = !log.iter().any(|r| r.key == key);
            log.push(Received {
                path: path.0.clone(),
                key: key.clone(),
                signed,
                body: serde_json::from_slice(&body).unwrap(),
                at: triage_http::Clock::now(&clock),
            });
            match path.0.as_str() {
                "broken" => StatusCode::INTERNAL_SERVER_ERROR,
                "hook" if first && key.ends_with("open_escalation") => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            }
        }
    };
    let router = axum::Router::new().route("/{path}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn delivery_is_signed_ordered_retried_and_dead_lettered(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = store(postgres, dir.path()).await else { return };
    let s = AppState::new(Some(snapshot(&example_dir())), None, Some("admin-token".into()), Limits::default());
    s.set_store(store.clone());
    let t0: DateTime<Utc> = "2026-03-02T07:56:00Z".parse().unwrap();
    let clock = TestClock::new(t0);
    let (base, seen) = sink(clock.clone()).await;
    let sinks = format!(
        "delivery: {{ max_attempts: 3, first_retry: 1s, max_retry: 4s, timeout: 2s }}\n\
         sinks:\n\
         - {{ name: swarms, type: chat, url: '{base}/slack', kinds: [swarm], case_url: 'https://desk.example.com/c/{{case_id}}' }}\n\
         - {{ name: broken, type: webhook, url: '{base}/broken', secret_env: S, targets: [leadership] }}\n\
         - {{ name: hook, type: webhook, url: '{base}/hook', secret_env: S }}\n"
    );
    let sinks = Sinks::from_text("sinks.yaml", &sinks, dir.path(), |_| Some(SECRET.to_string())).unwrap();
    let shared: Arc<dyn triage_http::Clock> = Arc::new(clock.clone());
    let scheduler =
        tokio::spawn(triage_http::run_scheduler(s.clone(), shared.clone(), "r1".into(), triage_http::LEASE));
    let delivery =
        tokio::spawn(triage_http::run_delivery(s.clone(), shared, "r1".into(), Arc::new(sinks), triage_http::LEASE));

    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(example_dir().join("states/outage-acme-de.json")).unwrap())
            .unwrap();
    let created = json!({"case": history["case"], "events": [{"id": "e0", "at": "2026-03-02T08:55:00+01:00", "kind": "created"}]});
    let (st, answer) =
        call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-02T07:56:00Z", created.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    // Time passes, 20 s at a step, to 08:20: the scheduler fires the
    // first-response warning (08:07) and breach (08:10) on the way.
    let end: DateTime<Utc> = "2026-03-02T08:20:00Z".parse().unwrap();
    while triage_http::Clock::now(&clock) < end {
        clock.set(triage_http::Clock::now(&clock) + chrono::Duration::seconds(20));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut pending = usize::MAX;
    for _ in 0..200 {
        pending = store.outbox(triage_store::Delivery::Pending, 100).await.unwrap().len();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0, "actions left pending");
    scheduler.abort();
    delivery.abort();

    let seen = seen.lock().unwrap().clone();
    let record = store.case("case-27343").await.unwrap().unwrap();
    let fired: Vec<&str> = record.actions.iter().map(|a| a.action.key.as_str()).collect();
    assert!(fired.iter().any(|k| k.contains("first-response-warning")), "{fired:?}");
    for a in &record.actions {
        let got: Vec<&Received> = seen.iter().filter(|r| r.key == a.action.key).collect();
        assert!(!got.is_empty(), "{} never reached a sink", a.action.key);
        // Never before it was due; every webhook attempt signed.
        assert!(got.iter().all(|r| r.at.timestamp_millis() >= a.action.due), "{} early", a.action.key);
        assert!(got.iter().all(|r| r.path == "slack" || r.signed), "{} unsigned", a.action.key);
        let target = a.action.target.as_str();
        match (a.action.kind.as_str(), target) {
            ("swarm", _) => {
                assert_eq!(a.state, triage_store::Delivery::Delivered);
                let text = got[0].body["text"].as_str().unwrap();
                assert!(text.contains("#support-api-sev1-27343") && text.contains("severity 1"), "{text}");
                assert_eq!(got[0].body["channel"], "#swarm-platform");
            }
            (_, "leadership") => {
                // The broken sink: three attempts, then a dead letter.
                assert_eq!((a.state, a.attempts, got.len()), (triage_store::Delivery::Dead, 3, 3), "{}", a.action.key);
                assert!(a.last_error.as_deref().unwrap().contains("500"), "{:?}", a.last_error);
            }
            ("open_escalation", _) => {
                // Refused once, then taken: the same key and the same body.
                assert_eq!((a.state, got.len()), (triage_store::Delivery::Delivered, 2));
                assert_eq!(got[0].body, got[1].body);
                assert_eq!(got[0].body["severity"], 1);
                assert!(got[1].at > got[0].at, "retried before its backoff");
            }
            _ => assert_eq!((a.state, got.len()), (triage_store::Delivery::Delivered, 1), "{}", a.action.key),
        }
    }
    // In order per case: each action's first arrival after the previous
    // action (by due instant, then place) was settled.
    let mut order: Vec<&triage_store::OutboxEntry> = record.actions.iter().collect();
    order.sort_by_key(|a| (a.action.due, a.seq));
    let first_at = |key: &str| seen.iter().position(|r| r.key == key).unwrap();
    let last_at = |key: &str| seen.iter().rposition(|r| r.key == key).unwrap();
    for pair in order.windows(2) {
        assert!(
            last_at(&pair[0].action.key) < first_at(&pair[1].action.key),
            "{} went before {} was settled",
            pair[1].action.key,
            pair[0].action.key
        );
    }
    // The dead letter shows in the case, and goes back for delivery when
    // the operator asks (with the admin token).
    let (_, case) = call(&s, "GET", "/v1/cases/case-27343", Body::empty()).await;
    assert!(case["actions"].as_array().unwrap().iter().any(|a| a["delivery"] == "dead"), "{case}");
    let (st, _) = call(&s, "POST", "/v1/outbox/redeliver?case=case-27343", Body::empty()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let request = Request::builder()
        .method("POST")
        .uri("/v1/outbox/redeliver?case=case-27343")
        .header("authorization", "Bearer admin-token")
        .body(Body::empty())
        .unwrap();
    let response = app(s.clone()).oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json!({"redelivering": 1}));
    assert_eq!(store.outbox(triage_store::Delivery::Dead, 10).await.unwrap().len(), 0);
    let revived = store.outbox(triage_store::Delivery::Pending, 10).await.unwrap();
    assert_eq!((revived.len(), revived[0].attempts, revived[0].action.target.as_str()), (1, 0, "leadership"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_sqlite() {
    delivery_is_signed_ordered_retried_and_dead_lettered(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_postgres() {
    delivery_is_signed_ordered_retried_and_dead_lettered(true).await;
}

/// Rules and a directory where every case goes to one desk of four agents
/// with 3 units each (12 in all), with a queue.
fn desk(dir: &Path) -> Snapshot {
    std::fs::write(
        dir.join("rules.yaml"),
        "categories:\n  - id: general\n    set: { category: general, priority: P3 }\nassignment:\n  - id: rest\n    team: desk\n",
    )
    .unwrap();
    let agents: String =
        (0..4).map(|i| format!("  - {{ id: agent-{i}, teams: [desk], capacity: 3, presence: online }}\n")).collect();
    std::fs::write(
        dir.join("directory.yaml"),
        format!("teams:\n  - {{ id: desk, strategy: least_loaded, queue: desk-queue }}\nagents:\n{agents}"),
    )
    .unwrap();
    snapshot(dir)
}

async fn reservations_never_over_fill_an_agent(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    let Some(store) = store(postgres, dir.path()).await else { return };
    let s = AppState::new(Some(desk(rules.path())), None, None, Limits::default());
    s.set_store(store.clone());
    let now = "now=2026-03-02T10:00:00Z";
    for i in 0..30 {
        let body = json!({"case": {"id": format!("c{i}"), "subject": "help", "created_at": "2026-03-02T09:00:00Z"},
                          "events": [{"id": "e0", "at": "2026-03-02T09:00:00Z", "kind": "created"}]});
        let (st, a) = call(&s, "POST", &format!("/v1/cases/c{i}/events?{now}"), body.to_string()).await;
        assert_eq!(st, StatusCode::OK, "{a}");
    }
    // An agent away takes nothing.
    let (st, a) = call(&s, "PUT", "/v1/agents/agent-3/presence", r#"{"presence": "away"}"#).await;
    assert_eq!((st, a["presence"].as_str()), (StatusCode::OK, Some("away")), "{a}");
    // 30 cases, each asked for twice at once, race for 9 units.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = s.clone();
        let uri = format!("/v1/cases/c{}/assign?{now}", i % 30);
        tasks.push(tokio::spawn(async move { call(&s, "POST", &uri, Body::empty()).await }));
    }
    let mut by_case = std::collections::BTreeMap::<String, Vec<String>>::new();
    for t in tasks {
        let (st, a) = t.await.unwrap();
        assert_eq!(st, StatusCode::OK, "{a}");
        by_case
            .entry(a["case_id"].as_str().unwrap().to_string())
            .or_default()
            .push(a["outcome"].as_str().unwrap().into());
    }
    let assigned = by_case.values().filter(|o| o.iter().any(|x| x == "assigned")).count();
    assert_eq!(assigned, 9, "{by_case:?}");
    for (case, outcomes) in &by_case {
        let once = outcomes.iter().filter(|x| *x == "assigned").count();
        assert!(once <= 1, "{case} assigned twice: {outcomes:?}");
        let queued = outcomes.iter().all(|x| x == "queued");
        assert!(once == 1 || queued, "{case}: {outcomes:?}");
    }
    let (_, agents) = call(&s, "GET", "/v1/agents", Body::empty()).await;
    let loads: Vec<(String, i64)> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["agent_id"].as_str().unwrap().to_string(), a["load"].as_i64().unwrap()))
        .collect();
    assert_eq!(loads, [("agent-0".into(), 3), ("agent-1".into(), 3), ("agent-2".into(), 3), ("agent-3".into(), 0)]);
    // Solving a case gives its units back; so does DELETE.
    let held: Vec<&String> =
        by_case.iter().filter(|(_, o)| o.iter().any(|x| x == "assigned")).map(|(c, _)| c).collect();
    let solved =
        json!({"events": [{"id": "e1", "at": "2026-03-02T09:30:00Z", "kind": "status_changed", "status": "solved"}]});
    let (st, a) = call(&s, "POST", &format!("/v1/cases/{}/events?{now}", held[0]), solved.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(a["released"]["units"], 1, "{a}");
    let (st, a) = call(&s, "DELETE", &format!("/v1/cases/{}/assignment", held[1]), Body::empty()).await;
    assert_eq!((st, a["released"]["units"].as_i64()), (StatusCode::OK, Some(1)), "{a}");
    let total: i64 = store.agents().await.unwrap().iter().map(|a| a.load).sum();
    assert_eq!(total, 7);
    // A resolved case takes no capacity.
    let (st, a) = call(&s, "POST", &format!("/v1/cases/{}/assign?{now}", held[0]), Body::empty()).await;
    assert_eq!((st, a["code"].as_str()), (StatusCode::CONFLICT, Some("case-resolved")), "{a}");
    // The freed units go to the next case asked for.
    let (_, a) = call(&s, "POST", &format!("/v1/cases/{}/assign?{now}", "c29"), Body::empty()).await;
    assert!(matches!(a["outcome"].as_str(), Some("assigned" | "already_assigned")), "{a}");
    // Bad requests.
    let (st, a) = call(&s, "POST", &format!("/v1/cases/nope/assign?{now}"), Body::empty()).await;
    assert_eq!((st, a["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-case")));
    let (st, a) = call(&s, "PUT", "/v1/agents/agent-9/presence", r#"{"presence": "away"}"#).await;
    assert_eq!((st, a["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-agent")));
    let (st, a) = call(&s, "PUT", "/v1/agents/agent-1/presence?foo=1", r#"{"presence": "away"}"#).await;
    assert_eq!((st, a["field"].as_str()), (StatusCode::BAD_REQUEST, Some("foo")), "{a}");
    assert!(a["detail"].as_str().unwrap().ends_with("(it takes: now)"), "{a}");
    let (st, a) = call(&s, "PUT", "/v1/agents/agent-1/presence", r#"{"presence": "asleep"}"#).await;
    assert_eq!((st, a["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-presence")));
    let (st, a) = call(&s, "POST", &format!("/v1/cases/c1/assign?{now}"), r#"{"agent": "x"}"#).await;
    assert_eq!((st, a["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-body")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_sqlite() {
    reservations_never_over_fill_an_agent(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_postgres() {
    reservations_never_over_fill_an_agent(true).await;
}

#[tokio::test]
async fn the_escalation_report_lists_open_records_by_risk() {
    let dir = tempfile::tempdir().unwrap();
    let s = AppState::new(Some(snapshot(&example_dir())), None, None, Limits::default());
    s.set_store(Store::open_dir(dir.path()).await.unwrap());
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
    let body = json!({"case": history["case"], "events": events});
    let (st, _) = call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z", body.to_string()).await;
    assert_eq!(st, StatusCode::OK);
    // A tracked case keeps the case it was opened with; a case without
    // `created_at` (its clocks' start) is refused; `now` cannot run ahead
    // of the service's clock on an endpoint that stores what fires.
    let mut changed = history["case"].clone();
    changed["subject"] = json!("something else");
    let (st, p) =
        call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z", json!({"case": changed}).to_string())
            .await;
    assert_eq!((st, p["code"].as_str()), (StatusCode::CONFLICT, Some("case-changed")), "{p}");
    let same = json!({"case": history["case"]});
    let (st, p) = call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z", same.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let bare = json!({"case": {"id": "n1", "subject": "x"}, "events": []});
    let (st, p) = call(&s, "POST", "/v1/cases/n1/events", bare.to_string()).await;
    assert_eq!((st, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("case.created_at")), "{p}");
    let (st, p) = call(&s, "POST", "/v1/cases/case-27343/events?now=2099-01-01T00:00:00Z", "{}").await;
    assert_eq!((st, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("now")), "{p}");
    // The same event written another way is the same event.
    let mut rewritten = events[0].clone();
    assert_eq!(rewritten["at"], "2026-03-02T08:55:00+01:00");
    rewritten["at"] = json!("2026-03-02T07:55:00.000Z");
    let (st, p) = call(
        &s,
        "POST",
        "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z",
        json!({"events": [rewritten]}).to_string(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    // The same event id with other content is refused, naming the event;
    // the same event again is a retry.
    let reused = json!({"events": [{"id": "e0", "at": "2026-03-02T10:00:00Z", "kind": "agent_replied"}]});
    let (st, p) = call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z", reused.to_string()).await;
    assert_eq!(
        (st, p["code"].as_str(), p["field"].as_str()),
        (StatusCode::CONFLICT, Some("event-id-reused"), Some("events[0].id")),
        "{p}"
    );
    let again = json!({"events": [events[0]]});
    let (st, a) = call(&s, "POST", "/v1/cases/case-27343/events?now=2026-03-03T12:00:00Z", again.to_string()).await;
    assert_eq!((st, a["repeated"].clone()), (StatusCode::OK, json!(["e0"])), "{a}");
    let (st, report) = call(&s, "GET", "/v1/escalations", Body::empty()).await;
    assert_eq!(st, StatusCode::OK, "{report}");
    assert_eq!(report["count"], 1, "{report}");
    assert_eq!(report["records"][0]["case_id"], "case-27343");
    assert_eq!(report["records"][0]["severity"], 1);
}

/// The duplicates example's rules.
fn duplicates_snapshot() -> Snapshot {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/duplicates/rules/rules.yaml");
    let yaml = std::fs::read_to_string(root).unwrap();
    let rules = triage_core::compile_sources(&[("rules.yaml", &yaml)]).0.unwrap();
    Snapshot::new(rules, triage_core::Directory::new(), vec!["rules.yaml".into()])
}

#[tokio::test]
async fn a_restarted_service_finds_duplicates_of_the_cases_it_tracked_before() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let at =
        |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let first = json!({
        "id": "101", "channel": "email", "created_at": at(30), "account": "acme",
        "requester": {"email": "dana@acme.example"}, "subject": "Invoice 4411 charged twice",
        "body": "Our card was charged twice for invoice 4411 this month. Please refund one of the charges."
    });
    {
        let s = AppState::new(Some(duplicates_snapshot()), None, None, Limits::default());
        s.set_store(Store::open_dir(dir.path()).await.unwrap());
        let (st, body) = call(&s, "POST", "/v1/cases/101/events", json!({ "case": first }).to_string()).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        s.store().unwrap().close().await;
    }
    // The service starts again on the same store.
    let s = AppState::new(Some(duplicates_snapshot()), None, None, Limits::default());
    s.set_store(Store::open_dir(dir.path()).await.unwrap());
    assert_eq!(s.recall_recent().await, 1);
    let second = json!({
        "id": "102", "channel": "web", "created_at": at(1), "account": "acme",
        "requester": {"email": "Dana@ACME.example"}, "subject": "Charged twice for invoice 4411",
        "body": "We were charged two times for invoice 4411. Could you refund the second charge?"
    });
    let (st, d) = call(&s, "POST", "/v1/triage", second.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["duplicates"][0]["case_id"], "101", "{d}");
    assert_eq!(d["manual_review"]["reason"], "possible-duplicate");
}
