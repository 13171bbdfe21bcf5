//! `triage run` and `triage report` as a user runs them: a run killed with
//! SIGKILL and resumed writes what an uninterrupted run writes; the HTML
//! report renders in a real headless Chromium with every chart shown.
//!
//! The browser test runs when Chromium is installed (`TRIAGE_TEST_CHROMIUM`
//! names it, else `chromium` or `chromium-browser` on the PATH; `.ci/run`
//! installs it); with `TRIAGE_REQUIRE_BROWSER=1` a missing browser fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

/// `n` distinct cases from the example corpus.
fn corpus(dir: &Path, n: usize) -> PathBuf {
    let base = std::fs::read_to_string(root().join("rules/global-support/cases/corpus.jsonl")).unwrap();
    let base: Vec<&str> = base.lines().collect();
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&base[i % base.len()].replace("\"id\": \"c", &format!("\"id\": \"{i}-c")));
        text.push('\n');
        if i % 997 == 0 {
            text.push_str("{\"id\": broken\n");
        }
    }
    let p = dir.join("cases.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_args(input: &Path, out: &Path) -> Vec<String> {
    vec![
        "run".into(),
        root().join("rules/global-support").display().to_string(),
        input.display().to_string(),
        "--now".into(),
        "2026-03-02T09:00:00Z".into(),
        "--out".into(),
        out.display().to_string(),
        "--chunk".into(),
        "256".into(),
    ]
}

#[test]
fn a_killed_run_resumed_writes_what_an_uninterrupted_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 40_000);
    for format in ["out.jsonl", "out.csv"] {
        let whole = dir.path().join(format!("whole-{format}"));
        let started = Instant::now();
        let status = triage().args(run_args(&input, &whole)).stderr(Stdio::piped()).output().unwrap();
        let took = started.elapsed();
        assert_eq!(status.status.code(), Some(1), "some records are rejected");
        let stderr = String::from_utf8_lossy(&status.stderr);
        assert!(stderr.contains("read 40041 = decided 40000 + rejected 41"), "{stderr}");
        let whole_out = std::fs::read(&whole).unwrap();
        let whole_rejects = std::fs::read(format!("{}.rejects.jsonl", whole.display())).unwrap();
        let mut interrupted = 0;
        for fraction in [0.2, 0.5, 0.8] {
            let out = dir.path().join(format!("killed-{fraction}-{format}"));
            let mut child = triage().args(run_args(&input, &out)).stderr(Stdio::null()).spawn().unwrap();
            // Killed once the run has begun (its run file is written
            // first): before that there is nothing to resume, and
            // `--resume` rightly refuses.
            let run_file = format!("{}.run.json", out.display());
            let begun = std::time::Instant::now();
            while !std::path::Path::new(&run_file).exists() && begun.elapsed() < std::time::Duration::from_secs(30) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::thread::sleep(took.mul_f64(fraction));
            // SIGKILL: no chance to flush or clean up.
            child.kill().unwrap();
            child.wait().unwrap();
            let partial = std::fs::read(&out).unwrap_or_default().len();
            if partial < whole_out.len() {
                interrupted += 1;
            }
            let mut args = run_args(&input, &out);
            args.push("--resume".into());
            let resumed = triage().args(args).stderr(Stdio::piped()).output().unwrap();
            let stderr = String::from_utf8_lossy(&resumed.stderr);
            assert_eq!(resumed.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("read 40041 = decided 40000 + rejected 41"), "{stderr}");
            assert!(std::fs::read(&out).unwrap() == whole_out, "{format} resumed after {fraction}: the output differs");
            let rejects = std::fs::read(format!("{}.rejects.jsonl", out.display())).unwrap();
            assert!(rejects == whole_rejects, "{format} resumed after {fraction}: the rejects differ");
        }
        assert!(interrupted > 0, "no run was killed before it finished; the test did not test");
    }
}

/// A batch over a DMN conformance model: the side tables' outputs are in
/// the lean JSON Lines and in the CSV's `outputs` column.
#[test]
fn a_run_writes_what_side_tables_decided() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"subject\": \"s\", \"fields\": {\"num_of_years\": 6}}\n{\"id\": \"b\", \"subject\": \"s\", \"fields\": {\"num_of_years\": 2}}\n",
    )
    .unwrap();
    let rules = root().join("crates/triage-core/testdata/dmn-tck/0115-sum-collect-hitpolicy");
    for (out, format) in [("out.jsonl", "jsonl"), ("out.csv", "csv")] {
        let out = dir.path().join(out);
        let o = triage()
            .args(["run", rules.to_str().unwrap(), input.to_str().unwrap(), "--now", "2026-03-02T09:00:00Z"])
            .args(["--out", out.to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        if format == "jsonl" {
            let sums: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outputs"]["salary"].clone())
                .collect();
            assert_eq!(sums, [serde_json::json!(1100), serde_json::json!(100)]);
        } else {
            // The last column, quoted as CSV quotes a cell with `"` and `,`.
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[0].ends_with(",outputs"), "{}", lines[0]);
            assert!(lines[1].ends_with(r#","{""salary"":1100}""#), "{}", lines[1]);
            assert!(lines[2].ends_with(r#","{""salary"":100}""#), "{}", lines[2]);
        }
    }
}

#[test]
fn resume_refuses_an_output_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 10);
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "{\"not\": \"ours\"}\n").unwrap();
    let mut args = run_args(&input, &out);
    args.push("--resume".into());
    let o = triage().args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("its run file"), "{}", String::from_utf8_lossy(&o.stderr));
}

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRIAGE_TEST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
            .unwrap_or_default();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Runs headless Chromium with `args`; its standard output and error.
fn browse(browser: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            // Nothing may be fetched: every name resolves nowhere.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_html_report_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("TRIAGE_REQUIRE_BROWSER").is_err(),
            "TRIAGE_REQUIRE_BROWSER is set but no Chromium found"
        );
        eprintln!("HTML report NOT TESTED in a browser: install chromium (.ci/run does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Cases with histories, over four weeks, so every chart has data.
    let base = std::fs::read_to_string(root().join("rules/global-support/cases/corpus.jsonl")).unwrap();
    let mut states = String::new();
    for (i, line) in base.lines().enumerate() {
        let mut case: serde_json::Value = serde_json::from_str(line).unwrap();
        if i % 50 == 0 {
            // No country: manual review, so that chart has data too.
            case.as_object_mut().unwrap().remove("country");
        }
        let day = 1 + i % 28;
        case["created_at"] = format!("2026-02-{day:02}T09:00:00Z").into();
        let events = if i % 3 == 0 {
            serde_json::json!([{ "at": format!("2026-02-{day:02}T09:20:00Z"), "kind": "agent_replied" }])
        } else {
            serde_json::json!([])
        };
        states.push_str(&serde_json::json!({ "case": case, "events": events }).to_string());
        states.push('\n');
    }
    let input = dir.path().join("states.jsonl");
    std::fs::write(&input, states).unwrap();
    let decisions = dir.path().join("decisions.jsonl");
    let o = triage()
        .args(["run", &root().join("rules/global-support").display().to_string(), &input.display().to_string()])
        .args(["--as-of-creation", "--out", &decisions.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let html = dir.path().join("report.html");
    let o = triage()
        .args(["report", &decisions.display().to_string(), "--out", &html.display().to_string()])
        .args(["--directory", &root().join("rules/global-support/directory.yaml").display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    // `--out -` writes the same page to standard output.
    let o = triage()
        .args(["report", &decisions.display().to_string(), "--out", "-", "--format", "html"])
        .args(["--directory", &root().join("rules/global-support/directory.yaml").display().to_string()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&page[..page.len().min(200)]));
    assert!(!dir.path().join("-").exists());
    // Self-contained: nothing to load (the SVG namespace is a name, not a fetch).
    for fetch in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!page.contains(fetch), "the report holds `{fetch}`");
    }

    // Rendered: a page that frames the report counts the charts drawn.
    let check = dir.path().join("check.html");
    std::fs::write(
        &check,
        r#"<!DOCTYPE html><html><body><pre id="result">not loaded</pre>
<iframe id="f" src="report.html" style="width:1400px;height:6000px"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const out = document.getElementById('result');
  try {
    const d = document.getElementById('f').contentDocument;
    const figures = [...d.querySelectorAll('figure.chart')];
    const shown = figures.filter(f => {
      const s = f.querySelector('svg');
      if (!s) return false;
      const r = s.getBoundingClientRect();
      return r.width > 200 && r.height > 100 && s.querySelectorAll('rect, polyline, path, line').length > 3;
    });
    out.textContent = 'figures=' + figures.length + ' shown=' + shown.length + ' tables=' + d.querySelectorAll('table').length;
  } catch (e) { out.textContent = 'error: ' + e; }
});
</script></body></html>"#,
    )
    .unwrap();
    let profile = dir.path().join("profile");
    let (dom, log) = browse(
        &browser,
        &profile,
        &[
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
            &format!("file://{}", check.display()),
        ],
    );
    let result = dom.split("<pre id=\"result\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap_or(&dom);
    assert!(result.starts_with("figures=7 shown=7 tables="), "{result}\n{log}");
    // The browser logged no error about the page (console or loading).
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("report.html"))
        .filter(|l| l.contains("rror") || l.contains("Uncaught") || l.contains("Failed"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // A screenshot shows the charts: their bars' blue covers a fair area.
    let shot = dir.path().join("shot.png");
    let _ = browse(
        &browser,
        &profile,
        &[
            "--window-size=1400,2400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", html.display()),
        ],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let (mut blue, mut inked) = (0usize, 0usize);
    for p in pixels.chunks(channels) {
        let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
        if r < 12 && (g - 114).abs() < 12 && (b - 178).abs() < 12 {
            blue += 1;
        }
        if r + g + b < 600 {
            inked += 1;
        }
    }
    let total = pixels.len() / channels;
    assert!(blue > 20_000, "only {blue} pixels of the bars' blue in the screenshot");
    assert!(inked * 100 / total >= 3, "the screenshot is nearly blank ({inked} of {total} pixels inked)");
}

#[test]
fn a_run_refuses_what_would_lose_data_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 3000);
    let before = std::fs::read(&input).unwrap();
    // The output is the input: refused, the input untouched.
    let o = triage().args(run_args(&input, &input)).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("would destroy it"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&input).unwrap() == before);
    // A resume under other settings is refused and cuts nothing.
    let out = dir.path().join("out.jsonl");
    assert_eq!(triage().args(run_args(&input, &out)).output().unwrap().status.code(), Some(1));
    let written = std::fs::read(&out).unwrap();
    let mut args = run_args(&input, &out);
    args[4] = "2026-03-03T09:00:00Z".into();
    args.push("--resume".into());
    let o = triage().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--now/--as-of-creation: 2026-03-02T09:00:00Z then, 2026-03-03T09:00:00Z now"), "{stderr}");
    assert!(std::fs::read(&out).unwrap() == written);
    // A resume whose rejects file is gone would lose the rejects: refused.
    std::fs::remove_file(format!("{}.rejects.jsonl", out.display())).unwrap();
    let mut args = run_args(&input, &out);
    args.push("--resume".into());
    let o = triage().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("are in neither"), "{}", String::from_utf8_lossy(&o.stderr));
    // A CSV export read from standard input.
    let csv = "Id,Subject,Country,Created at\n1,API is down,DE,2026-03-02T09:00:00Z\n2,Refund please,DE,2026-03-02T09:00:00Z\n";
    let mut child = triage()
        .args(["run", &root().join("rules/global-support").display().to_string(), "-", "--input-format", "csv"])
        .args([
            "--map",
            "Id=id",
            "--now",
            "2026-03-02T09:00:00Z",
            "--rejects",
            &dir.path().join("r.jsonl").display().to_string(),
            // `-` is standard output, not a file of that name.
            "--out",
            "-",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), csv.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("-: read 2 = decided 2 + rejected 0"));
    assert!(!dir.path().join("-").exists());
    for (flags, says) in [
        (&["--resume", "--out", "o.jsonl"][..], "reading standard input cannot be resumed"),
        (&["--rejects", "-"], "--rejects needs a file"),
    ] {
        let o = triage()
            .args(["run", &root().join("rules/global-support").display().to_string(), "-"])
            .args(flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{flags:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(!dir.path().join("-").exists());
}

/// A copy of the example rule directory (outputs must not go into the
/// real one).
fn rules_copy(dir: &Path) -> PathBuf {
    let to = dir.join("rules");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(root().join("rules/global-support")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    to
}

#[test]
fn no_output_goes_over_a_file_the_run_reads_or_into_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_copy(dir.path());
    let input = corpus(dir.path(), 20);
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, "columns: {}\n").unwrap();
    let refused = |extra: &[&str], says: &str| {
        let mut args: Vec<String> =
            vec!["run".into(), rules.display().to_string(), input.display().to_string(), "--now".into()];
        args.push("2026-03-02T09:00:00Z".into());
        args.extend(extra.iter().map(|s| (*s).to_string()));
        let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&rules)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        let o = triage().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        let after: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&rules)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        assert!(before == after, "{args:?} changed the rule directory");
    };
    let s = |p: PathBuf| p.display().to_string();
    refused(&["--out", &s(rules.join("out.jsonl"))], "inside the rule directory");
    refused(&["--out", &s(rules.join("routing.yaml"))], "inside the rule directory");
    let out = s(dir.path().join("out.jsonl"));
    refused(&["--out", &out, "--rejects", &s(rules.join("directory.yaml"))], "inside the rule directory");
    let elsewhere = dir.path().join("directory.yaml");
    std::fs::copy(rules.join("directory.yaml"), &elsewhere).unwrap();
    refused(&["--out", &s(elsewhere.clone()), "--directory", &s(elsewhere)], "is the --directory file");
    refused(&["--out", &s(map.clone()), "--map-file", &s(map)], "is the --map-file");
    refused(&["--out", &out, "--rejects", &format!("{out}.run.json")], "the run file");
    // Through a link (to a rule file, or to a file still to be made there),
    // or a hard link to a rule file.
    #[cfg(unix)]
    {
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(rules.join("10-categories.yaml"), &link).unwrap();
        refused(&["--out", &s(link)], "inside the rule directory");
        let dangling = dir.path().join("dangling.jsonl");
        std::os::unix::fs::symlink(rules.join("new.jsonl"), &dangling).unwrap();
        refused(&["--out", &s(dangling)], "inside the rule directory");
        assert!(!rules.join("new.jsonl").exists());
        let hard = dir.path().join("hard.jsonl");
        std::fs::hard_link(rules.join("directory.yaml"), &hard).unwrap();
        refused(&["--out", &s(hard)], "inside the rule directory");
    }
    // The report: not over the decisions' run file, and one writer at a time.
    let ok = triage().args(run_args(&input, Path::new(&out))).output().unwrap();
    assert_eq!(ok.status.code(), Some(1));
    // A run that cannot open its rejects file leaves the earlier output.
    let kept_out = std::fs::read(&out).unwrap();
    let mut args = run_args(&input, Path::new(&out));
    args.extend(["--rejects".to_string(), dir.path().display().to_string()]);
    assert_eq!(triage().args(&args).output().unwrap().status.code(), Some(2));
    assert!(std::fs::read(&out).unwrap() == kept_out, "a refused run cut the earlier output");
    let run_file = format!("{out}.run.json");
    let kept = std::fs::read(&run_file).unwrap();
    let o = triage().args(["report", &out, "--out", &run_file]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run file"));
    assert!(std::fs::read(&run_file).unwrap() == kept);
}

#[test]
fn a_full_detail_run_resumes_and_a_changed_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 3000);
    let whole = dir.path().join("whole.jsonl");
    let mut args = run_args(&input, &whole);
    args.extend(["--detail".into(), "full".into()]);
    assert_eq!(triage().args(&args).output().unwrap().status.code(), Some(1));
    let whole_out = std::fs::read(&whole).unwrap();
    // A run cut in the middle of a line (as a kill leaves it).
    let out = dir.path().join("cut.jsonl");
    let mut args = run_args(&input, &out);
    args.extend(["--detail".into(), "full".into()]);
    assert_eq!(triage().args(&args).output().unwrap().status.code(), Some(1));
    let len = std::fs::metadata(&out).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&out).unwrap().set_len(len * 2 / 5).unwrap();
    args.push("--resume".into());
    let o = triage().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("written by the earlier run"));
    assert!(std::fs::read(&out).unwrap() == whole_out, "a resumed --detail full run differs");
    // A kept line changed (still numbered in order) is refused, nothing cut.
    let text = String::from_utf8(whole_out).unwrap();
    let mut changed: Vec<String> = text.lines().map(str::to_string).collect();
    let half = changed[5].len() / 2;
    changed[5].truncate(half);
    let changed = changed.join("\n") + "\n";
    std::fs::write(&out, &changed).unwrap();
    let o = triage().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 6 of"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&out).unwrap() == changed.as_bytes());
}

#[test]
fn an_as_of_creation_run_resumes_without_the_flag_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 500);
    let out = dir.path().join("out.jsonl");
    let mut args = run_args(&input, &out);
    args.splice(3..5, ["--as-of-creation".to_string()]);
    assert_eq!(triage().args(&args).output().unwrap().status.code(), Some(1));
    let whole = std::fs::read(&out).unwrap();
    let len = whole.len() as u64;
    std::fs::OpenOptions::new().write(true).open(&out).unwrap().set_len(len / 2).unwrap();
    let resume = [
        "run".to_string(),
        args[1].clone(),
        args[2].clone(),
        "--out".into(),
        out.display().to_string(),
        "--chunk".into(),
        "256".into(),
        "--resume".into(),
    ];
    let o = triage().args(resume).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&out).unwrap() == whole);
}

#[cfg(unix)]
#[test]
fn a_folder_that_links_to_itself_and_a_named_pipe_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    std::fs::copy(root().join("crates/triage-batch/tests/data/eml/0001.eml"), mail.join("0001.eml")).unwrap();
    std::os::unix::fs::symlink(&mail, mail.join("loop")).unwrap();
    let o = triage()
        .args(["run", &root().join("rules/global-support").display().to_string(), &mail.display().to_string()])
        .args(["--now", "2026-03-02T09:00:00Z", "--rejects", &dir.path().join("r.jsonl").display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    // A pipe, and a link to nothing, named like mail inside the folder are
    // no mail: rejected as such, not opened (a pipe would block) and not
    // passed over in silence.
    assert!(Command::new("mkfifo").arg(mail.join("pipe.eml")).status().unwrap().success());
    std::os::unix::fs::symlink(dir.path().join("nothing"), mail.join("gone.eml")).unwrap();
    let o = triage()
        .args(["run", &root().join("rules/global-support").display().to_string(), &mail.display().to_string()])
        .args(["--now", "2026-03-02T09:00:00Z", "--rejects", &dir.path().join("r.jsonl").display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("read 3 = decided 1 + rejected 2"));
    let rejects = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert!(rejects.contains(r#""file":"pipe.eml""#) && rejects.contains("not a regular file"), "{rejects}");
    assert!(rejects.contains(r#""file":"gone.eml""#) && rejects.contains("a link to nothing"), "{rejects}");
    // A named pipe: read once, by the reader (not opened before it).
    let fifo = dir.path().join("cases.pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let source = corpus(dir.path(), 300);
    for _ in 0..3 {
        let mut child = triage()
            .args(["run", &root().join("rules/global-support").display().to_string(), &fifo.display().to_string()])
            .args(["--input-format", "jsonl", "--now", "2026-03-02T09:00:00Z"])
            .args(["--out", &dir.path().join("fifo-out.jsonl").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let bytes = std::fs::read(&source).unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("a run reading a named pipe did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.join().unwrap().unwrap();
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("read 301 = decided 300 + rejected 1"), "{stderr}");
    }
}

#[test]
fn a_history_in_a_run_escalates_on_what_the_run_found_and_an_empty_id_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let yaml = std::fs::read_to_string(root().join("examples/duplicates/rules/rules.yaml")).unwrap()
        + "sla: [{ id: standard, targets: { first_response: 8h } }]\n\
           escalation:\n  - id: on-call\n    when: { incident.size: { gte: 4 } }\n    do: [{ notify: on_call }]\n";
    std::fs::write(rules.join("rules.yaml"), yaml).unwrap();
    let mut lines: Vec<String> = std::fs::read_to_string(root().join("examples/duplicates/cases.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // The fourth report of the outage (107), sent as a history.
    let last: serde_json::Value = serde_json::from_str(&lines[6]).unwrap();
    let at = last["created_at"].clone();
    lines[6] = serde_json::json!({"case": last, "events": [{"at": at, "kind": "created"}]}).to_string();
    // A history that says what was found, alone in its run: it is read.
    let told = serde_json::json!({"case": {"id": "told", "created_at": at, "subject": "hello"},
        "events": [{"at": at, "kind": "created"}], "related": {"incident_size": 9}});
    lines.push(told.to_string());
    lines.push(r#"{"id": " ", "subject": "no id"}"#.to_string());
    let input = dir.path().join("cases.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("out.jsonl");
    let rejects = dir.path().join("rejects.jsonl");
    let o = triage()
        .args(["run", rules.to_str().unwrap(), input.to_str().unwrap(), "--as-of-creation", "--detail", "full"])
        .args(["--out", out.to_str().unwrap(), "--rejects", rejects.to_str().unwrap()])
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let decided: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let notified = |d: &serde_json::Value| {
        d["escalation"]["actions"].as_array().is_some_and(|a| a.iter().any(|x| x["target"] == "on_call"))
    };
    let by_id = |id: &str| decided.iter().find(|d| d["decision"]["case_id"] == id).unwrap();
    assert!(notified(by_id("107")), "{}", by_id("107"));
    assert!(notified(by_id("told")), "{}", by_id("told"));
    assert_eq!(decided.len(), 9);
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(rejected.contains("`id` is empty"), "{rejected}");
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_run_refused_for_its_rejects_file_leaves_no_output_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.jsonl");
    let refused = || {
        let o = triage()
            .args(["run", &root().join("rules/global-support").display().to_string()])
            .arg(root().join("rules/global-support/cases/corpus.jsonl"))
            .args(["--now", "2026-03-02T09:00:00Z", "--out", &out.display().to_string()])
            .args(["--rejects", &dir.path().join("no/such/folder/r.jsonl").display().to_string()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    };
    refused();
    assert!(!out.exists(), "an empty output was left behind");
    // An output that was there before is left as it was.
    std::fs::write(&out, "kept\n").unwrap();
    refused();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
}
