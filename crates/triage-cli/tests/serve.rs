//! `triage serve` end to end: the real binary on a free port, called with a
//! real HTTP client, reloaded by endpoint and by watching the files while a
//! client keeps asking, then stopped with SIGTERM.

#![allow(clippy::unwrap_used, clippy::panic, reason = "a test that cannot set up its service should fail loudly")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "a-token-for-the-end-to-end-test";
const CASE: &str = r#"{"id": "e1", "subject": "API is down for all our users", "country": "DE", "created_at": "2026-03-02T08:55:00Z"}"#;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copies the example rule files (not tests or cases) into `to`.
fn copy_rules(to: &Path) {
    for entry in std::fs::read_dir(repo().join("rules/global-support")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// Starts the service and returns it with its base URL.
fn start(rules: &Path, token: &Path) -> (Child, String) {
    start_in(Path::new("."), rules, token)
}

/// Starts the service in the folder `cwd` (`rules` may be relative to it).
fn start_in(cwd: &Path, rules: &Path, token: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .current_dir(cwd)
        .args(["serve", rules.to_str().unwrap(), "--listen", "127.0.0.1:0", "--watch", "--admin-token-file"])
        .arg(token)
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
    // Keep draining the logs so the service never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

/// When an answer came, and its status and rules version (or why none came).
type Answer = (Instant, Result<(u16, String), String>);

fn triage(client: &reqwest::blocking::Client, url: &str) -> Result<(u16, String), String> {
    let r = client
        .post(format!("{url}/v1/triage?now=2026-03-02T09:00:00Z"))
        .body(CASE)
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let version = r.headers().get("triage-rules-version").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    Ok((status, version))
}

#[test]
fn serve_reload_under_load_and_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    copy_rules(&rules);
    let token = tmp.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let (mut child, url) = start(&rules, &token);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let (status, first) = triage(&client, &url).unwrap();
    assert_eq!(status, 200);
    let body = client.get(format!("{url}/v1/rules")).send().unwrap().text().unwrap();
    assert!(body.contains(&first), "{body}");
    // Neither the rules nor a decision's trace names where the rules live.
    let server_path = tmp.path().display().to_string();
    assert!(!body.contains(&server_path), "{body}");
    let case = std::fs::read_to_string(repo().join("rules/global-support/cases/outage-acme-de.json")).unwrap();
    let traced = client.post(format!("{url}/v1/triage?trace=full")).body(case).send().unwrap().text().unwrap();
    assert!(traced.contains("\"file\":\"10-categories.yaml\""), "{traced}");
    assert!(!traced.contains(&server_path), "{traced}");
    let problem = client.post(format!("{url}/v1/triage")).body("{").send().unwrap();
    assert_eq!(problem.status().as_u16(), 400);
    assert_eq!(problem.headers()["content-type"], "application/problem+json");
    let unauthorized = client.post(format!("{url}/v1/rules/reload")).send().unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);

    // A client keeps asking while the rules are broken, then replaced.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Answer>>> = Arc::new(Mutex::new(Vec::new()));
    let asker = std::thread::spawn({
        let (stop, seen, url, client) = (stop.clone(), seen.clone(), url.clone(), client.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                let answer = triage(&client, &url);
                seen.lock().unwrap().push((Instant::now(), answer));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let categories = rules.join("10-categories.yaml");
    let good = std::fs::read_to_string(&categories).unwrap();
    std::fs::write(&categories, good.replacen("categories:", "categories:\n  - id: broken\n    when: { nope: 1 }", 1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let refused = client.post(format!("{url}/v1/rules/reload")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let changed = good.clone() + "\n# a comment changes the version\n";
    let landed = Instant::now();
    std::fs::write(&categories, changed).unwrap();
    let mut new_version = None;
    while landed.elapsed() < Duration::from_secs(10) && new_version.is_none() {
        std::thread::sleep(Duration::from_millis(50));
        new_version = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(at, a)| *at > landed && a.as_ref().is_ok_and(|(_, v)| *v != first))
            .map(|(at, a)| (at.duration_since(landed), a.clone().unwrap().1));
    }
    stop.store(true, Ordering::Relaxed);
    asker.join().unwrap();
    let (after, second) = new_version.unwrap_or_else(|| panic!("the new rules were never served"));
    eprintln!("the new version answered {} ms after its file landed", after.as_millis());
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "only {} requests", seen.len());
    for (_, answer) in seen.iter() {
        let (status, version) = answer.as_ref().unwrap_or_else(|e| panic!("a request failed: {e}"));
        assert_eq!(*status, 200);
        assert!(*version == first || *version == second, "{version}");
    }
    drop(seen);

    // directory.yaml vanishing (an editor mid-save) is refused, not served
    // as an empty directory.
    std::fs::rename(rules.join("directory.yaml"), tmp.path().join("directory.yaml")).unwrap();
    let gone = client.post(format!("{url}/v1/rules/reload")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(gone.status().as_u16(), 422);
    assert!(gone.text().unwrap().contains("directory.yaml is gone"));
    std::fs::rename(tmp.path().join("directory.yaml"), rules.join("directory.yaml")).unwrap();
    // The whole rule directory gone is said so, not taken for its
    // directory file.
    std::fs::rename(&rules, tmp.path().join("away")).unwrap();
    let gone = client.post(format!("{url}/v1/rules/reload")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(gone.status().as_u16(), 422);
    assert!(gone.text().unwrap().contains("the rule directory is gone"));
    std::fs::rename(tmp.path().join("away"), &rules).unwrap();
    // A directory change shows in the answers' directory version, not the
    // rules version.
    let versions = |client: &reqwest::blocking::Client| {
        let r = client.post(format!("{url}/v1/triage")).body(r#"{"id": "v"}"#).send().unwrap();
        let header = |name: &str| r.headers()[name].to_str().unwrap().to_string();
        (header("triage-rules-version"), header("triage-directory-version"))
    };
    let before = versions(&client);
    let mut directory = std::fs::read_to_string(rules.join("directory.yaml")).unwrap();
    directory.push_str("\n# an agent changed\n");
    std::fs::write(rules.join("directory.yaml"), directory).unwrap();
    assert_eq!(client.post(format!("{url}/v1/rules/reload")).bearer_auth(TOKEN).send().unwrap().status().as_u16(), 200);
    let after = versions(&client);
    assert_eq!(before.0, after.0);
    assert_ne!(before.1, after.1);

    // A client that stops in the middle of its headers is disconnected
    // (after the 10 s header timeout), so it cannot hold the service.
    let mut stalled = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    std::io::Write::write_all(&mut stalled, b"GET /heal").unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 256];
    let closed = std::io::Read::read(&mut stalled, &mut buf);
    // Our read timing out would mean the service kept the connection open.
    let timed_out = closed
        .as_ref()
        .is_err_and(|e| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    assert!(!timed_out, "the stalled connection was kept open");
    assert!(matches!(closed, Ok(0) | Err(_)) || buf.starts_with(b"HTTP/1.1 408"), "{closed:?}");

    // SIGTERM: the service stops cleanly.
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the service did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_rule_directory_given_by_a_relative_path_is_watched_too() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    copy_rules(&rules);
    let token = tmp.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let (mut child, url) = start_in(tmp.path(), Path::new("rules"), &token);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (_, first) = triage(&client, &url).unwrap();
    let categories = rules.join("10-categories.yaml");
    let text = std::fs::read_to_string(&categories).unwrap() + "\n# changed\n";
    std::fs::write(&categories, text).unwrap();
    let started = Instant::now();
    let mut now = first.clone();
    while now == first && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        now = triage(&client, &url).unwrap().1;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(now, first, "the change was not picked up");
}

/// Waits up to 10 s for the served rules version to differ from `old`.
fn next_version(client: &reqwest::blocking::Client, url: &str, old: &str) -> String {
    let started = Instant::now();
    let mut now = old.to_string();
    while now == old && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        now = triage(client, url).unwrap().1;
    }
    now
}

/// A release copied beside the rules and renamed over them, a symbolic
/// link repointed at another release, and an edit inside the directory
/// that replaced the watched one: each is served.
#[test]
fn a_replaced_rule_directory_is_watched_in_its_new_place() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let release = |name: &str, comment: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        copy_rules(&dir);
        let categories = dir.join("10-categories.yaml");
        let text = std::fs::read_to_string(&categories).unwrap() + comment;
        std::fs::write(&categories, text).unwrap();
        dir
    };
    let live = release("live", "");
    let (mut child, url) = start(&live, &token);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (_, first) = triage(&client, &url).unwrap();
    // A new folder renamed into place; the old one removed.
    let next = release("live.new", "\n# release 2\n");
    std::fs::rename(&live, tmp.path().join("live.old")).unwrap();
    std::fs::rename(&next, &live).unwrap();
    let second = next_version(&client, &url, &first);
    assert_ne!(second, first, "the replaced directory was not picked up");
    std::fs::remove_dir_all(tmp.path().join("live.old")).unwrap();
    // An edit inside the new folder.
    let categories = live.join("10-categories.yaml");
    std::fs::write(&categories, std::fs::read_to_string(&categories).unwrap() + "\n# edited\n").unwrap();
    let third = next_version(&client, &url, &second);
    assert_ne!(third, second, "an edit in the new directory was not picked up");
    child.kill().unwrap();
    child.wait().unwrap();

    // A symbolic link repointed from one release to another.
    #[cfg(unix)]
    {
        let one = release("one", "\n# one\n");
        let two = release("two", "\n# two\n");
        let current = tmp.path().join("current");
        std::os::unix::fs::symlink(&one, &current).unwrap();
        let (mut child, url) = start(&current, &token);
        let (_, first) = triage(&client, &url).unwrap();
        let swap = tmp.path().join("current.tmp");
        std::os::unix::fs::symlink(&two, &swap).unwrap();
        std::fs::rename(&swap, &current).unwrap();
        let second = next_version(&client, &url, &first);
        assert_ne!(second, first, "the repointed link was not picked up");
        let categories = two.join("10-categories.yaml");
        std::fs::write(&categories, std::fs::read_to_string(&categories).unwrap() + "\n# edited\n").unwrap();
        assert_ne!(next_version(&client, &url, &second), second, "an edit in the new release was not picked up");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A DMN conformance model served: the decision carries the side table's
/// outputs over HTTP, as `triage test` checks them.
#[test]
fn a_decision_over_http_carries_what_side_tables_decided() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let model = repo().join("crates/triage-core/testdata/dmn-tck/0119-multi-collect-hitpolicy");
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::copy(model.join("rules.yaml"), rules.join("rules.yaml")).unwrap();
    let (mut child, url) = start(&rules, &token);
    let client = reqwest::blocking::Client::new();
    let case = r#"{"id": "001", "subject": "case 001", "fields": {"age": 17, "risk_category": "High", "is_affordable": true}}"#;
    let r = client.post(format!("{url}/v1/triage?now=2026-03-02T09:00:00Z")).body(case).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d: serde_json::Value = r.json().unwrap();
    assert_eq!(d["outputs"]["statuses"], serde_json::json!(["Declined", "Approved"]));
    assert_eq!(d["outputs"]["rates"], serde_json::json!(["Standard", "Standard"]));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Limits that could never serve are refused at start, naming the flag.
#[test]
fn limits_that_cannot_serve_are_refused_at_start() {
    for (flags, says) in [
        (&["--concurrency", "0"][..], "--concurrency"),
        (&["--timeout", "0"], "--timeout"),
        (&["--max-body", "0"], "--max-body"),
        (&["--max-buffered", "1000", "--max-batch-body", "2000"], "--max-buffered (1000 bytes) must be at least"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_triage"))
            .args(["serve", repo().join("rules/global-support").to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{flags:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}
