//! Live operations with the real binary: a service killed with SIGKILL
//! mid-delivery and restarted loses no action (SQLite, one process; and
//! PostgreSQL, replicas sharing the database), and three replicas on one
//! PostgreSQL answering 10,000 concurrent assignment requests never put an
//! agent over capacity nor assign a case twice.
//!
//! The PostgreSQL tests run when `TRIAGE_TEST_POSTGRES` names a server
//! (`.ci/run` starts one and sets it); without it they say so and pass.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rules with SLA clocks of seconds, so escalations fall due while the test
/// runs: a warning at half the first-response target (10 s), a breach at
/// 20 s, a resolution breach at 40 s. Every case goes to one desk.
const RULES: &str = include_str!("../../triage-http/examples/fast_sla.yaml");

/// A rule directory with `RULES` and a desk of `agents` agents of
/// `capacity` units each.
fn rules_dir(root: &Path, agents: usize, capacity: usize) -> std::path::PathBuf {
    let dir = root.join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yaml"), RULES).unwrap();
    let list: String = (0..agents)
        .map(|i| format!("  - {{ id: agent-{i:03}, teams: [desk], capacity: {capacity}, presence: online }}\n"))
        .collect();
    std::fs::write(
        dir.join("directory.yaml"),
        format!("teams:\n  - {{ id: desk, strategy: least_loaded, queue: desk-queue }}\nagents:\n{list}"),
    )
    .unwrap();
    dir
}

/// A service that is killed when dropped, so a failing test leaves no
/// process behind.
struct Service(std::process::Child);

impl Service {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }
    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `triage serve` with `args` and returns it with its base URL.
fn start(rules: &Path, args: &[&str]) -> (Service, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["serve", rules.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(args)
        .env("TRIAGE_TEST_SECRET", "a-shared-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap_or_else(|| panic!("the service stopped before serving")).unwrap();
        if let Some(rest) = line.split(" on http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (Service(child), url)
}

/// A webhook receiver on loopback (plain std, one thread per connection):
/// records each request's idempotency key and answers 200 after `delay`,
/// so a kill often lands mid-delivery.
fn sink(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut key, mut length) = (String::new(), 0usize);
                let mut line = String::new();
                // Only a request whose headers arrived whole is a delivery:
                // the killed service may have opened a connection or sent
                // part of a request and died (a whole request without a
                // key is recorded, as "").
                let mut whole = false;
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        whole = true;
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("idempotency-key:") {
                        key = line[line.len() - v.len()..].trim().to_string();
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if !whole || reader.read_exact(&mut body).is_err() {
                    return;
                }
                std::thread::sleep(delay);
                let mut stream = stream;
                if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").is_ok() {
                    log.lock().unwrap().push(key);
                }
            });
        }
    });
    (url, seen)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &Value) -> Value {
    let r = client.post(url).header("content-type", "application/json").body(body.to_string()).send().unwrap();
    let status = r.status();
    let answer: Value = r.json().unwrap();
    assert!(status.is_success(), "{url}: {status} {answer}");
    answer
}

/// A fresh PostgreSQL database, or `None` (and a note) without a server.
fn postgres(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("TRIAGE_TEST_POSTGRES") else {
        eprintln!("PostgreSQL NOT TESTED: set TRIAGE_TEST_POSTGRES=postgres://user@host/db (.ci/run does)");
        return None;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let name = format!("{name}_{}", std::process::id());
    Some(runtime.block_on(triage_store::Store::create_database(&url, &name)).unwrap())
}

/// Opens `cases` cases created between 0 and 30 s ago, so their actions
/// fall due over the next 40 s; returns their ids.
fn open_cases(client: &reqwest::blocking::Client, urls: &[String], cases: usize) -> Vec<String> {
    let now = chrono::Utc::now();
    (0..cases)
        .map(|i| {
            let id = format!("case-{i:03}");
            let created = (now - chrono::Duration::seconds((i % 31) as i64)).to_rfc3339();
            let body = json!({"case": {"id": id, "subject": "help", "created_at": created},
                              "events": [{"id": "created", "at": created, "kind": "created"}]});
            post(client, &format!("{}/v1/cases/{id}/events", urls[i % urls.len()]), &body);
            id
        })
        .collect()
}

/// Waits until every case's three actions are delivered (or `limit`
/// passes) and returns each case's actions as (key, delivery, attempts).
fn settled(
    client: &reqwest::blocking::Client,
    url: &str,
    ids: &[String],
    limit: Duration,
) -> Vec<(String, String, i64)> {
    let until = Instant::now() + limit;
    loop {
        let mut all = Vec::new();
        for id in ids {
            let case: Value = client.get(format!("{url}/v1/cases/{id}")).send().unwrap().json().unwrap();
            for a in case["actions"].as_array().unwrap() {
                all.push((
                    a["key"].as_str().unwrap().to_string(),
                    a["delivery"].as_str().unwrap().to_string(),
                    a["attempts"].as_i64().unwrap(),
                ));
            }
        }
        let done = all.len() == ids.len() * 3 && all.iter().all(|(_, d, _)| d == "delivered");
        if done || Instant::now() > until {
            return all;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What a crash test checks: every action that fell due was delivered and
/// reached the sink; the sink saw no key it had not been sent for a stored
/// action (so a repeat is always the same key).
fn nothing_lost(actions: &[(String, String, i64)], seen: &[String], cases: usize) {
    assert_eq!(actions.len(), cases * 3, "actions that fell due are missing from the outbox");
    let undelivered: Vec<_> = actions.iter().filter(|(_, d, _)| d != "delivered").collect();
    assert!(undelivered.is_empty(), "not delivered: {undelivered:?}");
    let stored: BTreeSet<&str> = actions.iter().map(|(k, _, _)| k.as_str()).collect();
    let received: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(stored, received, "the sink's keys differ from the outbox's");
    let repeats = seen.len() - received.len();
    eprintln!("{} actions delivered; {repeats} repeated delivery(ies), each with its own key again", stored.len());
}

fn sinks_file(dir: &Path, url: &str) -> std::path::PathBuf {
    let file = dir.join("sinks.yaml");
    std::fs::write(
        &file,
        format!(
            "delivery: {{ first_retry: 500ms, max_retry: 2s, timeout: 2s, concurrency: 8 }}\n\
             sinks:\n  - {{ name: hook, type: webhook, url: '{url}', secret_env: TRIAGE_TEST_SECRET }}\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn sqlite_a_service_killed_mid_delivery_loses_no_action() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = rules_dir(tmp.path(), 4, 10);
    let (hook, seen) = sink(Duration::from_millis(30));
    let sinks = sinks_file(tmp.path(), &hook);
    let data = tmp.path().join("data");
    let args = ["--data", data.to_str().unwrap(), "--sinks", sinks.to_str().unwrap(), "--lease", "5"];
    let (mut service, url) = start(&rules, &args);
    let client = client();
    let ids = open_cases(&client, std::slice::from_ref(&url), 40);
    // Deliveries are under way (actions fall due every second): kill it.
    std::thread::sleep(Duration::from_secs(6));
    let before = seen.lock().unwrap().len();
    service.kill().unwrap();
    service.wait().unwrap();
    assert!(before > 0, "nothing was delivered before the kill");
    let (mut service, url) = start(&rules, &args);
    let actions = settled(&client, &url, &ids, Duration::from_secs(90));
    service.kill().unwrap();
    nothing_lost(&actions, &seen.lock().unwrap(), ids.len());
}

#[test]
fn postgres_a_replica_killed_mid_delivery_loses_no_action() {
    let Some(db) = postgres("triage_crash") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let rules = rules_dir(tmp.path(), 4, 10);
    let (hook, seen) = sink(Duration::from_millis(30));
    let sinks = sinks_file(tmp.path(), &hook);
    let args = ["--database", db.as_str(), "--sinks", sinks.to_str().unwrap(), "--lease", "3"];
    let (mut a, url_a) = start(&rules, &args);
    let (mut b, url_b) = start(&rules, &args);
    let client = client();
    let ids = open_cases(&client, &[url_a.clone(), url_b.clone()], 40);
    std::thread::sleep(Duration::from_secs(6));
    a.kill().unwrap();
    a.wait().unwrap();
    // The other replica takes over the dead one's leases when they run
    // out; the killed one comes back too.
    std::thread::sleep(Duration::from_secs(2));
    let (mut a, _) = start(&rules, &args);
    let actions = settled(&client, &url_b, &ids, Duration::from_secs(90));
    a.kill().unwrap();
    b.kill().unwrap();
    nothing_lost(&actions, &seen.lock().unwrap(), ids.len());
}

#[test]
fn postgres_three_replicas_never_over_fill_an_agent() {
    let Some(db) = postgres("triage_replicas") else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 40 agents of 25 units: 1,000 units for 5,000 cases, each asked for
    // twice (10,000 requests), spread over three replicas.
    let (agents, capacity, cases) = (40usize, 25usize, 5_000usize);
    let rules = rules_dir(tmp.path(), agents, capacity);
    let args = ["--database", db.as_str()];
    let replicas: Vec<(Service, String)> = (0..3).map(|_| start(&rules, &args)).collect();
    let urls: Vec<String> = replicas.iter().map(|(_, u)| u.clone()).collect();
    let client = client();
    let created = "2026-03-02T09:00:00Z";
    let threads = 48;
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (client, urls, opened) = (client.clone(), urls.clone(), opened.clone());
            s.spawn(move || {
                for i in (t..cases).step_by(threads) {
                    let body = json!({"case": {"id": format!("c{i}"), "subject": "help", "created_at": created},
                                      "events": [{"id": "created", "at": created, "kind": "created"}]});
                    post(&client, &format!("{}/v1/cases/c{i}/events?now={created}", urls[i % 3]), &body);
                    opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(opened.load(std::sync::atomic::Ordering::Relaxed), cases);
    let outcomes: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (client, urls, outcomes) = (client.clone(), urls.clone(), &outcomes);
            s.spawn(move || {
                for n in (t..2 * cases).step_by(threads) {
                    let (case, replica) = (n % cases, (n / cases + n) % 3);
                    let url = format!("{}/v1/cases/c{case}/assign?now=2026-03-02T10:00:00Z", urls[replica]);
                    let r = client.post(url).send().unwrap();
                    let status = r.status();
                    let a: Value = r.json().unwrap();
                    assert!(status.is_success(), "{status} {a}");
                    outcomes
                        .lock()
                        .unwrap()
                        .entry(format!("c{case}"))
                        .or_default()
                        .push(a["outcome"].as_str().unwrap().into());
                }
            });
        }
    });
    let took = started.elapsed();
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.values().map(Vec::len).sum::<usize>(), 2 * cases);
    let mut assigned = 0;
    for (case, o) in &outcomes {
        let once = o.iter().filter(|x| *x == "assigned").count();
        assert!(once <= 1, "{case} assigned twice: {o:?}");
        assert!(o.iter().all(|x| matches!(x.as_str(), "assigned" | "already_assigned" | "queued")), "{case}: {o:?}");
        assigned += once;
    }
    let live: Value = client.get(format!("{}/v1/agents", urls[0])).send().unwrap().json().unwrap();
    let loads: Vec<i64> = live["agents"].as_array().unwrap().iter().map(|a| a["load"].as_i64().unwrap()).collect();
    assert_eq!(loads.len(), agents);
    assert!(loads.iter().all(|l| *l <= capacity as i64), "over capacity: {loads:?}");
    assert_eq!(loads.iter().sum::<i64>(), assigned as i64, "units held differ from cases assigned");
    assert_eq!(assigned, agents * capacity, "demand exceeds capacity, so every unit is taken");
    eprintln!(
        "{} assignment requests over 3 replicas in {:.1} s ({:.0}/s): {assigned} assigned, none twice, no agent over capacity",
        2 * cases,
        took.as_secs_f64(),
        (2 * cases) as f64 / took.as_secs_f64()
    );
    for (mut child, _) in replicas {
        child.kill().unwrap();
    }
}
