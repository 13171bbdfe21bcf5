//! The decision service: triage over HTTP.
//!
//! [`app`] builds an axum [`Router`] over an [`AppState`] (mount it in your
//! own axum service, or run it with [`serve`]); the `triage serve` command
//! is this crate with the rule directory read from disk. The core stays
//! pure: each request reads the clock once (or takes `now` from the query)
//! and hands it down.
//!
//! The live rules and directory are one immutable [`Snapshot`] behind an
//! atomic pointer ([`arc_swap`]). A reload loads and compiles a new
//! snapshot completely, off the async threads, and swaps it in only when it
//! compiled without errors; a refused reload leaves the old snapshot
//! serving and is reported at `GET /v1/rules` and in `/metrics`. A request
//! takes the pointer once, so every answer comes from one rule set, whose
//! `rules_version` it names (in the body and in the `triage-rules-version`
//! header).
//!
//! Errors are `application/problem+json` (RFC 9457) with a stable `code`;
//! see [`problem`].
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use triage_http::{AppState, Limits, Snapshot};
//! let (rules, _) = triage_core::compile_sources(&[("r.yaml", "categories: [{ id: g, set: { category: general } }]")]);
//! let snapshot = Snapshot::new(rules.expect("compiles"), triage_core::Directory::new(), vec!["r.yaml".into()]);
//! let state = AppState::new(Some(snapshot), None, None, Limits::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! triage_http::serve(listener, state, std::future::pending()).await
//! # }
//! ```

mod agents;
mod cases;
mod delivery;
mod metrics;
mod openapi;
pub mod problem;
mod routes;
mod scheduler;
mod watch;

pub use delivery::{ACTION_KINDS, DeliverySettings, Sink, SinkKind, Sinks, backoff, run_delivery, signature};
pub use openapi::openapi;
pub use routes::ROUTES;
pub use scheduler::{Clock, IDLE, LEASE, SystemClock, TestClock, run_scheduler};
pub use watch::watch;

use arc_swap::ArcSwapOption;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use triage_core::{CompiledRules, Diagnostic, Directory};

/// A rule set and directory that serve together, with what they came from.
#[derive(Debug)]
pub struct Snapshot {
    /// The compiled rules.
    pub rules: CompiledRules,
    /// The directory (accounts, teams, agents) decisions and plans use.
    pub directory: Directory,
    /// The rule files, in evaluation order, as their names should be shown.
    pub files: Vec<String>,
    /// When this snapshot was loaded.
    pub loaded_at: DateTime<Utc>,
    /// The version of the directory's source (`triage_core::content_version`
    /// of its file), shown in the `triage-directory-version` header of every
    /// answer and at `GET /v1/rules`: the same case can be answered
    /// differently under one `rules_version` when an agent's presence or
    /// load changed, and this says so.
    pub directory_version: Option<String>,
    /// The cases `POST /v1/triage` decided under these rules, within the
    /// longest window of their `duplicates:` and `incidents:` sections:
    /// what a new case is compared with. A reload starts an empty one.
    pub recent: Mutex<triage_core::Recent>,
}

impl Snapshot {
    /// A snapshot loaded now.
    pub fn new(rules: CompiledRules, directory: Directory, files: Vec<String>) -> Self {
        let recent = Mutex::new(triage_core::Recent::new(&rules));
        Snapshot { rules, directory, files, loaded_at: Utc::now(), directory_version: None, recent }
    }

    /// The same, naming the version of the directory's source.
    #[must_use]
    pub fn with_directory_version(mut self, version: impl Into<String>) -> Self {
        self.directory_version = Some(version.into());
        self
    }
}

/// Why a load was refused: the rule set's diagnostics (errors and the
/// warnings beside them), or a message when the files could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Refused {
    /// What went wrong, in a sentence.
    pub message: String,
    /// Every diagnostic of the refused rule set.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads a fresh snapshot (reads and compiles the rules and directory).
/// Called off the async threads; it may take as long as a compile does.
pub type Loader = Arc<dyn Fn() -> Result<Snapshot, Refused> + Send + Sync>;

/// Request limits. Every limit answers with a problem, never a hang.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body of a one-case request (`/v1/triage`, `/v1/explain`,
    /// `/v1/escalate`), bytes. Default 1 MiB.
    pub body_bytes: usize,
    /// Largest body of a many-case or many-file request (`/v1/triage/batch`,
    /// `/v1/assign`, `/v1/check`), bytes. Default 64 MiB.
    pub batch_body_bytes: usize,
    /// Longest a request may take before it is answered 503 `timeout`.
    /// Default 30 s.
    pub timeout: Duration,
    /// Requests in progress at once; beyond it requests are answered 503
    /// `overloaded` at once rather than queued. Default 512.
    pub concurrency: usize,
    /// Longest a client may take to send a request's body once its headers
    /// are in; a slower one is answered 408 `body-timeout`. Bodies are read
    /// before a request counts against `concurrency`, so a slow sender
    /// holds no place. Default 20 s.
    pub body_timeout: Duration,
    /// Bytes of request bodies the service holds in memory at once, over
    /// all requests (bodies are read whole before they are decided); a
    /// body that would go past it is answered 503 `overloaded`. Default
    /// 256 MiB.
    pub buffered_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1 << 20,
            batch_body_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            concurrency: 512,
            body_timeout: Duration::from_secs(20),
            buffered_bytes: 256 << 20,
        }
    }
}

/// The last reload attempt, as `GET /v1/rules` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadAttempt {
    /// When it was tried.
    pub at: DateTime<Utc>,
    /// Whether the new rule set went live.
    pub ok: bool,
    /// The version that went live, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it was refused, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    live: ArcSwapOption<Snapshot>,
    loader: Option<Loader>,
    /// One reload at a time; later ones wait and then load again.
    reloading: tokio::sync::Mutex<()>,
    last_reload: Mutex<Option<ReloadAttempt>>,
    admin_token: Option<String>,
    limits: Limits,
    /// Case histories, the outbox and agent capacity, when the service
    /// keeps them (`--data`, `--database`).
    store: std::sync::OnceLock<triage_store::Store>,
    /// Wakes the scheduler when a request changed a case.
    wake: tokio::sync::Notify,
    /// Wakes delivery when actions entered the outbox.
    deliver: tokio::sync::Notify,
    /// Requests in progress (see [`Limits::concurrency`]).
    in_progress: Arc<tokio::sync::Semaphore>,
    /// Requests of many cases (`/v1/triage/batch`, `/v1/assign`) being
    /// read and decided: one per core. Each holds its cases read and its
    /// answer in the making (megabytes for a thousand cases), so more at
    /// once would only share the cores and multiply the memory; the rest
    /// wait their turn, within the request timeout.
    batches: Arc<tokio::sync::Semaphore>,
    /// Request body bytes held, in 64 KiB units (see [`Limits::buffered_bytes`]).
    buffered: tokio::sync::Semaphore,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("version", &self.snapshot().map(|s| s.rules.version().to_string()))
            .field("limits", &self.inner.limits)
            .field("reloads", &self.inner.loader.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a service: the first snapshot (`None` until one loads:
    /// `/readyz` answers 503 and decisions 503 `not-ready`), the loader
    /// reloads use (`None`: reloading is refused), the admin token that
    /// `POST /v1/rules/reload` requires (`None`: the endpoint is refused
    /// with 401 whatever is sent), and the limits.
    pub fn new(first: Option<Snapshot>, loader: Option<Loader>, admin_token: Option<String>, limits: Limits) -> Self {
        let metrics = metrics::Metrics::new();
        if let Some(s) = &first {
            metrics.rules_loaded(s.rules.version());
        }
        AppState {
            inner: Arc::new(Inner {
                live: ArcSwapOption::new(first.map(Arc::new)),
                loader,
                reloading: tokio::sync::Mutex::new(()),
                last_reload: Mutex::new(None),
                admin_token: admin_token.filter(|t| !t.is_empty()),
                in_progress: Arc::new(tokio::sync::Semaphore::new(limits.concurrency.max(1))),
                batches: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
                )),
                buffered: tokio::sync::Semaphore::new(
                    limits.buffered_bytes.div_ceil(64 * 1024).clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
                ),
                limits,
                metrics,
                store: std::sync::OnceLock::new(),
                wake: tokio::sync::Notify::new(),
                deliver: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Gives the service a store: `/v1/cases/…` keep case histories and
    /// the outbox in it. Returns `false` (and keeps the first) when it has
    /// one already.
    pub fn set_store(&self, store: triage_store::Store) -> bool {
        self.inner.store.set(store).is_ok()
    }

    /// The store, when the service keeps one.
    pub fn store(&self) -> Option<&triage_store::Store> {
        self.inner.store.get()
    }

    /// Fills the live snapshot's memory of recent cases (what
    /// `POST /v1/triage` compares a case with for the rules' `duplicates:`
    /// and `incidents:`) from the store: the cases opened within the rules'
    /// longest window, oldest first, at most 200,000, each decided at its
    /// `created_at` (else when it was opened). Called when the service
    /// starts and after each reload; returns how many cases it read.
    pub async fn recall_recent(&self) -> usize {
        let (Some(store), Some(snapshot)) = (self.store(), self.snapshot()) else { return 0 };
        let window = triage_core::Recent::window_secs(&snapshot.rules);
        if window == 0 {
            return 0;
        }
        let since = Utc::now().timestamp_millis().saturating_sub(window.saturating_mul(1000));
        let cases = match store.cases_opened_since(since, 200_000).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read recent cases from the store; duplicates are found among new ones only");
                return 0;
            }
        };
        let n = cases.len();
        let work = tokio::task::spawn_blocking(move || {
            let options = triage_core::Options::default();
            for (id, json, opened) in cases {
                let Ok(case) = triage_core::Case::from_json(&json) else {
                    tracing::warn!(case = %id, "a stored case does not read as a case; left out of the recent cases");
                    continue;
                };
                let at = case
                    .created_at
                    .map(|t| t.with_timezone(&Utc))
                    .or_else(|| DateTime::from_timestamp_millis(opened))
                    .unwrap_or_default();
                let mut d = triage_core::triage(&snapshot.rules, &case, &snapshot.directory, at, &options);
                let text = triage_core::Recent::signature(&case);
                if let Ok(mut recent) = snapshot.recent.lock() {
                    recent.observe(&snapshot.rules, &snapshot.directory, &options, &case, text.as_ref(), &mut d, at);
                }
            }
        });
        if work.await.is_err() {
            return 0;
        }
        tracing::info!(cases = n, "recent cases read from the store for duplicates and incidents");
        n
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.inner.live.load_full()
    }

    /// Loads and compiles a new snapshot and, when it has no errors, makes
    /// it live; otherwise the old one keeps serving. Either way the attempt
    /// is recorded for `GET /v1/rules`, logged and counted.
    pub async fn reload(&self) -> ReloadAttempt {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let attempt = match self.inner.loader.clone() {
            None => {
                Err(Refused { message: "this service has no rule source to reload from".into(), ..Refused::default() })
            }
            Some(load) => match tokio::task::spawn_blocking(move || load()).await {
                Ok(result) => result,
                Err(e) => Err(Refused { message: format!("the reload failed: {e}"), ..Refused::default() }),
            },
        };
        let at = Utc::now();
        let attempt = match attempt {
            Ok(snapshot) => {
                let version = snapshot.rules.version().to_string();
                self.inner.live.store(Some(Arc::new(snapshot)));
                self.inner.metrics.rules_loaded(&version);
                self.inner.metrics.reload(true);
                tracing::info!(version = %version, "rules reloaded");
                // The new rules' memory of recent cases starts from the store.
                self.recall_recent().await;
                ReloadAttempt { at, ok: true, version: Some(version), refused: None }
            }
            Err(refused) => {
                self.inner.metrics.reload(false);
                tracing::warn!(reason = %refused.message, diagnostics = refused.diagnostics.len(), "reload refused; the previous rules keep serving");
                for d in &refused.diagnostics {
                    tracing::warn!(code = %d.code, file = %d.file, line = d.line, column = d.column, "{}", d.message);
                }
                ReloadAttempt { at, ok: false, version: None, refused: Some(refused) }
            }
        };
        if let Ok(mut last) = self.inner.last_reload.lock() {
            *last = Some(attempt.clone());
        }
        attempt
    }

    fn last_reload(&self) -> Option<ReloadAttempt> {
        self.inner.last_reload.lock().ok().and_then(|l| l.clone())
    }
}

/// The service's routes, limits and middleware over `state`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// How long a client may take to send a request's headers, and how long an
/// idle kept-alive connection stays open: a client that stops mid-headers
/// (or never sends any) is disconnected, not waited for.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` (HTTP/1.1) until `shutdown` completes;
/// then new connections are refused and requests in flight finish, for at
/// most the request timeout and five seconds more, after which the
/// remaining connections are dropped.
///
/// # Errors
/// Never at present: a failed `accept` (too many open files, say) is
/// logged and retried after a pause.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.inner.limits.timeout + Duration::from_secs(5);
    let router = app(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("connections still open after the grace period were dropped"),
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM: the usual
/// `shutdown` for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
