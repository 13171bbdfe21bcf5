//! Load for live operations, used by `benches/live/run.sh`: many clients
//! at once against a running `triage serve --data …` (or `--database …`).
//!
//! ```text
//! live_load URL events N CONCURRENCY   # each request opens a new case: append + replay + outbox write
//! live_load URL open N CONCURRENCY     # the same, for cases c0 … c{N-1}
//! live_load URL assign N CONCURRENCY   # each request reserves capacity for case c{i} (opened first)
//! ```
//!
//! URL may be several, comma-separated (replicas): request i goes to the
//! (i mod count)-th.
//!
//! Prints one JSON line: `requests`, `seconds`, `per_second`, `p50_ms`,
//! `p99_ms`, `failed`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a benchmark client fails loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn case_body(id: &str) -> String {
    let created = "2026-03-02T08:55:00Z";
    serde_json::json!({
        "case": {"id": id, "subject": "API is down for all our users", "country": "DE", "account": "acme-de", "created_at": created},
        "events": [{"id": "created", "at": created, "kind": "created"}],
    })
    .to_string()
}

async fn run(url: &str, mode: &str, n: usize, concurrency: usize, tag: &str) -> (Vec<Duration>, usize, Duration) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let urls: Vec<String> = url.split(',').map(str::to_string).collect();
        let (client, next, mode, tag) = (client.clone(), next.clone(), mode.to_string(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut took, mut failed) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (took, failed);
                }
                let id = format!("{tag}{i}");
                let url = &urls[i % urls.len()];
                let t = Instant::now();
                let request = match mode.as_str() {
                    "events" | "open" => client
                        .post(format!("{url}/v1/cases/{id}/events?now=2026-03-02T09:00:00Z"))
                        .header("content-type", "application/json")
                        .body(case_body(&id)),
                    _ => client.post(format!("{url}/v1/cases/{id}/assign?now=2026-03-02T09:00:00Z")),
                };
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        took.push(t.elapsed());
                    }
                    _ => failed += 1,
                }
            }
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for t in tasks {
        let (took, f) = t.await.unwrap();
        all.extend(took);
        failed += f;
    }
    (all, failed, started.elapsed())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, mode, n, concurrency] = &args[..] else {
        panic!("usage: live_load URL events|open|assign N CONCURRENCY");
    };
    let (n, concurrency): (usize, usize) = (n.parse().unwrap(), concurrency.parse().unwrap());
    // Case ids: `events` and `open` use a fresh prefix per run; `assign`
    // reserves for the cases `open` made with the prefix `c`.
    let tag = match mode.as_str() {
        "events" => format!("b{}-", std::process::id()),
        _ => "c".to_string(),
    };
    let (mut took, failed, elapsed) = run(url, mode, n, concurrency, &tag).await;
    took.sort();
    let q = |p: f64| {
        took.get(((took.len() as f64 * p) as usize).min(took.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "requests": took.len(),
            "seconds": elapsed.as_secs_f64(),
            "per_second": took.len() as f64 / elapsed.as_secs_f64(),
            "p50_ms": q(0.50),
            "p99_ms": q(0.99),
            "failed": failed,
        })
    );
}
