//! The scheduler and delivery over many open cases, used by
//! `benches/live/run.sh`:
//!
//! ```text
//! scheduler_load sqlite:DIR | postgres://…   [CASES]
//! ```
//!
//! Seeds CASES open cases (default 100,000) straight into the store, with
//! mixed next checks: a tenth overdue (a backlog, as after an outage of the
//! service), 2 % falling due over the next 30 s, the rest tomorrow. Then
//! runs the service's scheduler and delivery (to a webhook sink on
//! loopback that answers 200 at once) on the system clock, and prints one
//! JSON line: how long seeding took, how long the pass over the backlog
//! took and its delivery, and then, in steady state, how late (p50, p99,
//! max) the actions that fell due were delivered after their due instant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a benchmark fails loudly")]

use chrono::{DateTime, Duration as Span, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use triage_http::{AppState, Limits, Sinks, Snapshot};
use triage_store::{Delivery, NewEvent, Store};

/// Rules with SLA clocks of seconds (`fast_sla.yaml`).
const RULES: &str = include_str!("fast_sla.yaml");

/// Seeds the cases `live` picks (the 2 % falling due soon, seeded once the
/// backlog is done; or the rest),
/// their times counted from `now`.
async fn seed(store: &Store, cases: usize, now: DateTime<Utc>, live: bool) {
    // Whole seconds, as the core counts SLA time: the next checks seeded
    // here are the ones its replay would give.
    let now = DateTime::<Utc>::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let workers = if store.backend() == triage_store::Backend::Postgres { 12 } else { 1 };
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..cases).step_by(workers).filter(|i| (i % 50 == 1 && i % 10 != 0) == live) {
                let (created, next) = if i % 10 == 0 {
                    // Overdue: created 60 to 600 s ago, every action due.
                    let c = now - Span::seconds(60 + (i % 540) as i64);
                    (c, c + Span::seconds(10))
                } else if i % 50 == 1 {
                    // Falls due over the 30 s after `now`.
                    let c = now - Span::seconds(10) + Span::seconds(((i * 7_919) % 30) as i64);
                    (c, c + Span::seconds(10))
                } else {
                    (now, now + Span::days(1))
                };
                let id = format!("s{i}");
                let at = created.to_rfc3339();
                let case = format!(r#"{{"id": "{id}", "subject": "help", "created_at": "{at}"}}"#);
                store.open_case(&id, &case, now.timestamp_millis()).await.unwrap();
                let event = NewEvent { id: "created".into(), json: format!(r#"{{"at": "{at}", "kind": "created"}}"#) };
                store.append_events(&id, &[event], now.timestamp_millis()).await.unwrap();
                store.set_next_check(&id, Some(next.timestamp_millis()), now.timestamp_millis()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn sink() -> String {
    let router = axum::Router::new().route("/hook", axum::routing::post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/hook")
}

fn quantile(sorted: &[i64], q: f64) -> i64 {
    sorted.get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let at = args.get(1).expect("usage: scheduler_load sqlite:DIR | postgres://… [CASES]");
    let cases: usize = args.get(2).map_or(100_000, |n| n.parse().unwrap());
    let store = match at.strip_prefix("sqlite:") {
        Some(dir) => Store::open_dir(std::path::Path::new(dir)).await.unwrap(),
        None => Store::connect(at).await.unwrap(),
    };
    let rules = triage_core::compile_sources(&[("rules.yaml", RULES)]).0.unwrap();
    let state = AppState::new(
        Some(Snapshot::new(rules, triage_core::Directory::new(), vec!["rules.yaml".into()])),
        None,
        None,
        Limits::default(),
    );
    state.set_store(store.clone());

    let seeded_at = Instant::now();
    seed(&store, cases, Utc::now(), false).await;
    let seeding = seeded_at.elapsed();

    let url = sink().await;
    let sinks = format!(
        "delivery: {{ timeout: 5s, concurrency: 32 }}\nsinks: [{{ name: hook, type: webhook, url: '{url}', secret_env: S }}]\n"
    );
    let sinks = Sinks::from_text("sinks.yaml", &sinks, std::path::Path::new("."), |_| Some("secret".into())).unwrap();
    let clock: Arc<dyn triage_http::Clock> = Arc::new(triage_http::SystemClock);
    let start = Utc::now();
    let started = Instant::now();
    tokio::spawn(triage_http::run_scheduler(state.clone(), clock.clone(), "bench".into(), triage_http::LEASE));
    tokio::spawn(triage_http::run_delivery(state.clone(), clock, "bench".into(), Arc::new(sinks), triage_http::LEASE));
    // The pass over the backlog ends when no next check is before the start,
    // its delivery when nothing due is pending.
    let backlog = loop {
        let next = store.next_check().await.unwrap().unwrap_or(i64::MAX);
        if next > start.timestamp_millis() {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let drained = async |until: DateTime<Utc>| {
        for _ in 0..6000 {
            let pending = store.outbox(Delivery::Pending, 1).await.unwrap();
            if pending.first().is_none_or(|p| p.action.due > until.timestamp_millis()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    drained(start).await;
    let backlog_delivered = started.elapsed();

    // Steady state: the cases falling due over the next 30 s (from 5 s on).
    let live_start = Utc::now();
    seed(&store, cases, live_start + Span::seconds(5), true).await;
    let end = live_start + Span::seconds(45);
    tokio::time::sleep((end - Utc::now()).to_std().unwrap_or_default()).await;
    drained(end).await;
    let delivered = store.outbox(Delivery::Delivered, i64::MAX).await.unwrap();
    let mut late: Vec<i64> = delivered
        .iter()
        .filter(|e| e.action.due >= live_start.timestamp_millis())
        .filter_map(|e| e.delivered.map(|d| d - e.action.due))
        .collect();
    late.sort_unstable();
    let backlog_cases = cases.div_ceil(10);
    println!(
        "{}",
        serde_json::json!({
            "backend": format!("{:?}", store.backend()),
            "cases": cases,
            "seeding_s": seeding.as_secs_f64(),
            "backlog_cases": backlog_cases,
            "backlog_pass_s": backlog.as_secs_f64(),
            "backlog_cases_per_s": backlog_cases as f64 / backlog.as_secs_f64(),
            "backlog_delivered_s": backlog_delivered.as_secs_f64(),
            "delivered": delivered.len(),
            "on_time_actions": late.len(),
            "late_p50_ms": quantile(&late, 0.5),
            "late_p99_ms": quantile(&late, 0.99),
            "late_max_ms": late.last().copied().unwrap_or(0),
        })
    );
}
