//! A service embedding the core: compile the rules once at start-up, share
//! them across worker threads behind an `Arc`, triage cases, and print the
//! trace of one decision.
//!
//! Run: `cargo run -p triage-examples --example embed [RULES_DIR]`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use triage_core::{Case, CompiledRules, Directory, Options, compile_sources, explain, triage};

fn load(dir: &Path) -> Result<(CompiledRules, Directory), String> {
    // The embedding service owns I/O: it reads the files and hands the text
    // to the core.
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.file_name().is_some_and(|n| n != "directory.yaml"))
        .collect();
    paths.sort();
    let mut sources = Vec::new();
    for p in &paths {
        sources
            .push((p.display().to_string(), std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?));
    }
    let pairs: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let (rules, diagnostics) = compile_sources(&pairs);
    let rules = rules.ok_or_else(|| diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    let dir_text = std::fs::read_to_string(dir.join("directory.yaml")).unwrap_or_default();
    let directory = Directory::from_text("directory.yaml", &dir_text).map_err(|e| e.to_string())?;
    Ok((rules, directory))
}

fn main() -> std::process::ExitCode {
    let dir = std::env::args().nth(1).map_or_else(|| PathBuf::from("rules/global-support"), PathBuf::from);
    let (rules, directory) = match load(&dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("cannot load rules: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Compiled once; `CompiledRules` is immutable and `Send + Sync`.
    let shared = Arc::new((rules, directory));
    // The service reads the clock once per request and passes it in.
    let now = chrono::Utc::now();
    let subjects: [&'static str; 4] =
        ["API is down", "Forgot my password", "Refund for last invoice", "Feature request: dark mode"];
    let workers: Vec<_> = subjects
        .into_iter()
        .enumerate()
        .map(|(i, subject)| {
            let shared = Arc::clone(&shared);
            let case = Case {
                id: format!("case-{i}"),
                channel: Some("web".into()),
                subject: Some(subject.to_string()),
                ..Default::default()
            };
            std::thread::spawn(move || {
                let (rules, directory) = &*shared;
                let d = triage(rules, &case, directory, now, &Options::default());
                format!("{:<8} {:<28} → {:<14} {} tier {}", d.case_id, subject, d.category, d.priority, d.tier)
            })
        })
        .collect();
    for w in workers {
        match w.join() {
            Ok(line) => println!("{line}"),
            Err(_) => eprintln!("a worker failed"),
        }
    }
    let (rules, directory) = &*shared;
    let case = Case {
        id: "explained".into(),
        channel: Some("email".into()),
        subject: Some("Charged twice, want a refund".into()),
        ..Default::default()
    };
    println!("\n{}", explain::render(&triage(rules, &case, directory, now, &Options::full_trace())));
    std::process::ExitCode::SUCCESS
}
