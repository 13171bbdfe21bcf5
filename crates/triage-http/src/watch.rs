//! `--watch`: reload when the rule directory or the directory file changes.
//!
//! Editors save by writing a new file and renaming it over the old one, so
//! the parent directories are watched, not the files. A deployment may
//! also replace the whole rule directory (a new folder renamed into place,
//! a symbolic link pointed at another release), so the folder the rule
//! directory is in is watched too, and the directory is watched again
//! wherever its path then leads. Events are debounced: a reload starts
//! once nothing has changed for the quiet period, so a `git checkout` of
//! many files is one reload.

use crate::AppState;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::WeakUnboundedSender;

/// How long the files must stay unchanged before a reload.
pub const QUIET: Duration = Duration::from_millis(250);

/// Watches `paths` (directories recursively; a file through its parent
/// directory) and reloads `state` after each burst of changes that touch
/// a `*.yaml` (or `*.yml`) file or a `*.json` file (a classifier's model)
/// under a watched directory, a subdirectory, or a watched file itself
/// (other files beside them, logs, notes, editor swap files, are ignored),
/// or that replace a watched directory itself (renamed over, or a symbolic
/// link to it repointed): then the directory now at that path is watched
/// instead. Runs until the returned watcher is dropped.
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
    // The returned watcher: the folders of the files and of the rule
    // directories, one level each.
    let mut folders: Vec<PathBuf> = Vec::new();
    for path in files.iter().chain(&dirs) {
        let folder = path.parent().map_or_else(|| PathBuf::from("."), PathBuf::from);
        if !folders.contains(&folder) {
            folders.push(folder);
        }
    }
    // The rule directories themselves are watched, recursively, by a
    // watcher the reload task owns and makes anew when a directory is
    // replaced. It holds a weak sender: once the returned watcher (which
    // holds the only strong one) is dropped, the task ends.
    let weak = tx.downgrade();
    let replaceable = dirs.clone();
    let relevant = move |path: &Path| {
        files.iter().any(|f| f == path || f.file_name() == path.file_name() && f.parent() == path.parent())
            || replaceable.iter().any(|d| d == path)
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access() && e.paths.iter().any(|p| relevant(p))) {
            let _ = tx.send(());
        }
    })?;
    for folder in &folders {
        watcher.watch(folder, RecursiveMode::NonRecursive)?;
    }
    let mut inner = Some(DirWatch::new(&dirs, weak.clone())?);
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
            if inner.as_ref().is_none_or(|w| w.identities != identities(&dirs)) {
                // The old watcher goes first: its directory may be gone.
                drop(inner.take());
                inner = match DirWatch::new(&dirs, weak.clone()) {
                    Ok(w) => {
                        tracing::info!("a watched rule directory was replaced; watching the new one");
                        Some(w)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot watch the rule directory; watching again at its next change");
                        None
                    }
                };
            }
            let attempt = state.reload().await;
            tracing::info!(ok = attempt.ok, version = ?attempt.version, "reload after a file change");
        }
    });
    Ok(watcher)
}

/// The recursive watch of the rule directories, and which directories
/// (by device and inode) it watches.
struct DirWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    identities: Vec<Option<(u64, u64)>>,
}

impl DirWatch {
    fn new(dirs: &[PathBuf], sender: WeakUnboundedSender<()>) -> notify::Result<DirWatch> {
        let identities = identities(dirs);
        if dirs.is_empty() {
            return Ok(DirWatch { _watcher: None, identities });
        }
        let canonical: Vec<PathBuf> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
        let within: Vec<PathBuf> = dirs.iter().chain(&canonical).cloned().collect();
        let relevant = move |path: &Path| {
            within.iter().any(|d| path.starts_with(d))
                && (path.extension().is_some_and(|e| ["yaml", "yml", "json"].iter().any(|x| e.eq_ignore_ascii_case(x)))
                    || path.is_dir())
        };
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access() && e.paths.iter().any(|p| relevant(p)))
                && let Some(tx) = sender.upgrade()
            {
                let _ = tx.send(());
            }
        })?;
        for d in dirs {
            watcher.watch(d, RecursiveMode::Recursive)?;
        }
        Ok(DirWatch { _watcher: Some(watcher), identities })
    }
}

/// Which directory each path leads to now (`None` when none does).
fn identities(dirs: &[PathBuf]) -> Vec<Option<(u64, u64)>> {
    dirs.iter()
        .map(|d| {
            let meta = std::fs::metadata(d).ok()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt as _;
                Some((meta.dev(), meta.ino()))
            }
            #[cfg(not(unix))]
            {
                let _ = meta;
                Some((0, 0))
            }
        })
        .collect()
}
