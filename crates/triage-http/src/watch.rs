//! `--watch`: reload when the rule directory or the directory file changes.
//!
//! Editors save by writing a new file and renaming it over the old one, so
//! the parent directories are watched, not the files. Events are
//! debounced: a reload starts once nothing has changed for the quiet
//! period, so a `git checkout` of many files is one reload.

use crate::AppState;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the files must stay unchanged before a reload.
pub const QUIET: Duration = Duration::from_millis(250);

/// Watches `paths` (directories recursively; a file through its parent
/// directory) and reloads `state` after each burst of changes that touch
/// a `*.yaml` (or `*.yml`) file or a `*.json` file (a classifier's model)
/// under a watched directory, a subdirectory, or a watched file itself
/// (other files beside them, logs, notes, editor swap files, are ignored). Runs until the returned watcher is dropped.
///
/// # Errors
/// When the operating system refuses to watch a path.
pub fn watch(state: AppState, paths: Vec<PathBuf>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Events name absolute paths: a relative path given (`rules`) is made
    // absolute, or it would match none of them.
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let files: Vec<PathBuf> = paths.iter().filter(|p| !p.is_dir()).map(absolute).collect();
    let dirs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).map(absolute).collect();
    let canonical: Vec<PathBuf> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    let relevant = move |path: &Path| {
        files.iter().any(|f| f == path || f.file_name() == path.file_name() && f.parent() == path.parent())
            || dirs.iter().chain(&canonical).any(|d| path.starts_with(d))
                && (path.extension().is_some_and(|e| ["yaml", "yml", "json"].iter().any(|x| e.eq_ignore_ascii_case(x)))
                    || path.is_dir())
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access() && e.paths.iter().any(|p| relevant(p))) {
            let _ = tx.send(());
        }
    })?;
    for path in &paths {
        let target =
            if path.is_dir() { path.clone() } else { path.parent().map_or_else(|| PathBuf::from("."), PathBuf::from) };
        let mode = if path.is_dir() { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        watcher.watch(&target, mode)?;
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait for the burst to end.
            loop {
                match tokio::time::timeout(QUIET, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let attempt = state.reload().await;
            tracing::info!(ok = attempt.ok, version = ?attempt.version, "reload after a file change");
        }
    });
    Ok(watcher)
}
