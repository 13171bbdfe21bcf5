//! `--watch`: reload when the rule directory or the directory file changes.
//!
//! Editors save by writing a new file and renaming it over the old one, so
//! the parent directories are watched, not the files. Events are
//! debounced: a reload starts once nothing has changed for the quiet
//! period, so a `git checkout` of many files is one reload.

use crate::AppState;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::time::Duration;

/// How long the files must stay unchanged before a reload.
pub const QUIET: Duration = Duration::from_millis(250);

/// Watches `paths` (directories recursively; a file through its parent
/// directory) and reloads `state` after each burst of changes. Runs until
/// the returned watcher is dropped.
///
/// # Errors
/// When the operating system refuses to watch a path.
pub fn watch(state: AppState, paths: Vec<PathBuf>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
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
