//! `triage serve`: the decision service over a rule directory on disk.

use crate::{Exit, InputError, load_directory_versioned, load_relative, render_diagnostic};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use triage_http::{AppState, Limits, Loader, Refused, Snapshot};

/// What `triage serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The rule directory.
    pub rules_dir: PathBuf,
    /// A directory file instead of `RULES_DIR/directory.yaml`.
    pub directory: Option<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Reload when the files change.
    pub watch: bool,
    /// A file holding the admin token for `POST /v1/rules/reload`.
    pub admin_token_file: Option<PathBuf>,
    /// Logs as JSON lines instead of text.
    pub json_logs: bool,
    /// Request limits.
    pub limits: Limits,
    /// Where case histories and the outbox are kept, if anywhere.
    pub store: Option<StoreAt>,
    /// The sinks file: where the outbox is delivered.
    pub sinks: Option<PathBuf>,
    /// How long a replica holds what it claimed.
    pub lease: Duration,
}

/// Where the service keeps its state.
#[derive(Debug, Clone)]
pub enum StoreAt {
    /// An embedded SQLite database in this folder.
    Dir(PathBuf),
    /// A database URL (`postgres://…`, or `sqlite:…`).
    Url(String),
}

/// Reads and compiles the rules and directory into a snapshot; a rule set
/// with errors (or a directory the rules do not fit) is refused with its
/// diagnostics.
/// `keep_directory_file`: the service started with `RULES_DIR/directory.yaml`,
/// so a reload that finds it gone (an editor mid-save, a bad checkout) is
/// refused rather than serving with no agents or accounts.
fn load_snapshot(rules_dir: &Path, directory: Option<&Path>, keep_directory_file: bool) -> Result<Snapshot, Refused> {
    // What the service shows (diagnostics, decision traces, messages) names
    // files relative to the rule directory: clients need not learn where
    // it lives on the server.
    let root = rules_dir.display().to_string();
    let refused =
        |message: String| Refused { message: message.replace(&root, "the rule directory"), diagnostics: Vec::new() };
    if !rules_dir.is_dir() {
        return Err(refused(
            "the rule directory is gone (renamed or removed, or not a directory now); put it back and reload".into(),
        ));
    }
    if keep_directory_file && directory.is_none() && !rules_dir.join("directory.yaml").is_file() {
        return Err(refused(
            "directory.yaml is gone from the rule directory; restore it, or restart the service to serve without one"
                .into(),
        ));
    }
    let set = load_relative(rules_dir).map_err(|e| refused(e.0))?;
    // The rule files, then the model files they name.
    let files: Vec<String> = set.sources.iter().map(|s| s.name.clone()).chain(set.models.iter().cloned()).collect();
    let Some(rules) = set.rules else {
        let errors = set.diagnostics.iter().filter(|d| d.severity == triage_core::Severity::Error).count();
        return Err(Refused { message: format!("the rule set has {errors} error(s)"), diagnostics: set.diagnostics });
    };
    let (dir, dir_file, dir_version) = match directory {
        Some(file) => {
            let shown =
                file.file_name().map_or_else(|| "the directory file".to_string(), |n| n.to_string_lossy().into_owned());
            let (dir, version) = load_directory_versioned(file)
                .map_err(|e| refused(e.0.replace(&file.display().to_string(), &shown)))?;
            (dir, shown, Some(version))
        }
        None => (set.directory, "directory.yaml".to_string(), set.directory_version),
    };
    let problems = triage_core::check_directory(&rules, &dir, &dir_file);
    if problems.iter().any(|d| d.severity == triage_core::Severity::Error) {
        return Err(Refused { message: "the directory does not fit the rules".into(), diagnostics: problems });
    }
    let snapshot = Snapshot::new(rules, dir, files);
    Ok(match dir_version {
        Some(v) => snapshot.with_directory_version(v),
        None => snapshot,
    })
}

/// Runs the service until SIGINT or SIGTERM.
///
/// # Errors
/// When the first load is refused, the token file cannot be read, or the
/// address cannot be bound.
pub fn serve(args: ServeArgs) -> Result<Exit, InputError> {
    init_logs(args.json_logs);
    let token = match &args.admin_token_file {
        Some(f) => {
            let t =
                std::fs::read_to_string(f).map_err(|e| InputError(format!("cannot read `{}`: {e}", f.display())))?;
            let t = t.trim().to_string();
            if t.len() < 16 {
                return Err(InputError(format!("the admin token in `{}` must be at least 16 characters", f.display())));
            }
            Some(t)
        }
        None => None,
    };
    let had_directory_file = args.rules_dir.join("directory.yaml").is_file();
    let first = match load_snapshot(&args.rules_dir, args.directory.as_deref(), false) {
        Ok(s) => s,
        Err(refused) => {
            let sources: Vec<crate::Source> = Vec::new();
            for d in &refused.diagnostics {
                eprintln!("{}\n", render_diagnostic(d, &sources));
            }
            eprintln!("error: not serving: {}", refused.message);
            return Ok(Exit::Failed);
        }
    };
    let (rules_dir, directory) = (args.rules_dir.clone(), args.directory.clone());
    let loader: Loader = Arc::new(move || load_snapshot(&rules_dir, directory.as_deref(), had_directory_file));
    let sinks = match &args.sinks {
        Some(_) if args.store.is_none() => {
            return Err(InputError(
                "--sinks delivers the outbox of live cases; give --data DIR or --database URL too".into(),
            ));
        }
        Some(file) => {
            let sinks = triage_http::Sinks::from_file(file).map_err(InputError)?;
            if sinks.settings.timeout >= args.lease {
                return Err(InputError(format!(
                    "{}: delivery.timeout ({:?}) must be shorter than --lease ({:?}), or another replica would \
                     take over an attempt still running",
                    file.display(),
                    sinks.settings.timeout,
                    args.lease
                )));
            }
            Some(sinks)
        }
        None => None,
    };
    let version = first.rules.version().to_string();
    let state = AppState::new(Some(first), Some(loader), token, args.limits.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| InputError(format!("cannot start the service: {e}")))?;
    runtime.block_on(async move {
        if let Some(at) = &args.store {
            let store = match at {
                StoreAt::Dir(dir) => triage_store::Store::open_dir(dir).await,
                StoreAt::Url(url) => triage_store::Store::connect(url).await,
            }
            .map_err(|e| InputError(format!("cannot open the case store: {e}")))?;
            state.set_store(store);
            state.recall_recent().await;
            let owner = format!("{}/{}/{:08x}", args.listen, std::process::id(), fastrand::u32(..));
            let clock: Arc<dyn triage_http::Clock> = Arc::new(triage_http::SystemClock);
            tokio::spawn(triage_http::run_scheduler(state.clone(), clock.clone(), owner.clone(), args.lease));
            if let Some(sinks) = sinks {
                tokio::spawn(triage_http::run_delivery(state.clone(), clock, owner, Arc::new(sinks), args.lease));
            }
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| InputError(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener.local_addr().map_err(|e| InputError(e.to_string()))?;
        let _watcher = if args.watch {
            let mut paths = vec![args.rules_dir.clone()];
            paths.extend(linked_dirs(&args.rules_dir));
            paths.extend(args.directory.clone());
            Some(
                triage_http::watch(state.clone(), paths)
                    .map_err(|e| InputError(format!("cannot watch the files: {e}")))?,
            )
        } else {
            None
        };
        eprintln!(
            "triage: serving rules {version} on http://{addr}{}",
            if args.watch { " (watching for changes)" } else { "" }
        );
        triage_http::serve(listener, state, triage_http::shutdown_signal())
            .await
            .map_err(|e| InputError(format!("the service stopped: {e}")))?;
        // Give the log line for a clean stop a moment to be written.
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(Exit::Ok)
    })
}

/// Folders outside `root` that rule files are read through (symlinked
/// subfolders): watched too, since a watch does not follow links. Hidden
/// entries are skipped, as the rule loader skips them.
fn linked_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(root_real) = root.canonicalize() else { return Vec::new() };
    let mut seen = std::collections::BTreeSet::from([root_real.clone()]);
    let (mut pending, mut linked) = (vec![root.to_path_buf()], Vec::new());
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) || !path.is_dir() {
                continue;
            }
            let Ok(real) = path.canonicalize() else { continue };
            if !seen.insert(real.clone()) {
                continue;
            }
            if !real.starts_with(&root_real) {
                linked.push(real);
            }
            pending.push(path);
        }
    }
    linked
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
