//! The README's command examples, run as written: every ```` ```console ````
//! block's `$ ` lines are run from the repository root with this build's
//! `triage` first on `PATH`, and what they print (standard output, then
//! standard error) must match the lines below them. A line that is only `…`
//! stands for any number of lines; `…` inside a line stands for any text.
//! So the README cannot drift from the program again.

#![allow(clippy::unwrap_used, clippy::panic, reason = "a test that cannot read its fixture should fail loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One example: the command and the lines it should print.
#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_block = false;
    for (n, line) in readme.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            out.push(Example { line: n + 1, command: command.to_string(), expected: Vec::new() });
        } else if let Some(last) = out.last_mut() {
            last.expected.push(line.to_string());
        }
    }
    out
}

/// Whether one printed line fits one expected line (`…` is any text).
fn line_fits(expected: &str, actual: &str) -> bool {
    let (expected, actual) = (expected.trim_end(), actual.trim_end());
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() || !actual.ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the printed lines fit the expected ones (a lone `…` line is any
/// number of lines).
fn fits(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.iter().all(|l| l.trim().is_empty()),
        Some((e, rest)) if e.trim() == "…" => (0..=actual.len()).any(|skip| fits(rest, &actual[skip..])),
        Some((e, rest)) => actual.split_first().is_some_and(|(a, more)| line_fits(e, a) && fits(rest, more)),
    }
}

#[test]
fn readme_commands_print_what_the_readme_says() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let list = examples(&readme);
    assert!(list.len() >= 4, "only {} console examples found", list.len());
    let bin = Path::new(env!("CARGO_BIN_EXE_triage")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut failures = Vec::new();
    for ex in &list {
        let out =
            Command::new("sh").arg("-c").arg(&ex.command).current_dir(repo()).env("PATH", &path).output().unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = printed.lines().collect();
        if !fits(&ex.expected, &lines) {
            failures.push(format!(
                "README.md:{}: `{}`\n--- expected\n{}\n--- printed\n{printed}",
                ex.line,
                ex.command,
                ex.expected.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_matcher_elides_lines_and_text() {
    let e = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(fits(&e(&["a", "…", "d"]), &["a", "b", "c", "d"]));
    assert!(fits(&e(&["a…z"]), &["abcz"]));
    assert!(!fits(&e(&["a", "d"]), &["a", "b", "d"]));
    assert!(!fits(&e(&["a…z"]), &["abc"]));
    assert!(fits(&e(&["x…y…z"]), &["x1y2z"]));
    assert!(!fits(&e(&["x…y…z"]), &["x1z2y"]));
}
