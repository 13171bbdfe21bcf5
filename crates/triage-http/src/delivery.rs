//! Delivery of the outbox: each fired action is sent to the sink its kind
//! and target route it to, at least once, in order per case, never before
//! its `due_at`.
//!
//! Sinks come from a small service file (`triage serve --sinks FILE`):
//!
//! ```yaml
//! delivery:                  # all optional
//!   max_attempts: 8          # then the action is a dead letter
//!   first_retry: 5s          # doubled after each failure, up to max_retry
//!   max_retry: 1h
//!   timeout: 10s             # per attempt
//!   concurrency: 16          # cases delivered to at once
//! sinks:                     # the first sink that takes an action gets it
//!   - name: swarm-chat
//!     type: chat             # Slack incoming-webhook messages
//!     url_env: SLACK_WEBHOOK_URL
//!     kinds: [swarm]
//!     case_url: https://desk.example.com/cases/{case_id}
//!   - name: helpdesk
//!     type: webhook          # the action JSON, signed
//!     url: https://desk.example.com/hooks/triage
//!     secret_env: TRIAGE_WEBHOOK_SECRET
//!   - name: rest
//!     type: discard          # taken and dropped on purpose
//! ```
//!
//! A **webhook** sink POSTs the outbox entry's JSON (`case_id`, `priority`,
//! `tier`, `severity` when an escalation record gives one, and the
//! `action`; the same bytes on every attempt) with the headers
//! `Idempotency-Key` (the action's key: a receiver that has seen it acts
//! no more), `Triage-Timestamp` (Unix seconds) and `Triage-Signature:
//! v1=HEX`, the HMAC-SHA256 with the shared secret of
//! `"{timestamp}.{body}"` (the scheme of the large webhook senders:
//! compare in constant time and refuse old timestamps).
//!
//! A **chat** sink posts a message in the Slack incoming-webhook format
//! (`channel`, `text`, `blocks`): a `swarm` action announces its new
//! channel (`support-api-sev1-27343`) in the action's target channel, with
//! the case, severity and a link; other actions post their detail, to
//! their target when it is a `#channel`, else to the sink's `channel`.
//!
//! A 2xx answer is a delivery. Anything else (or no answer within
//! `timeout`) is retried after `first_retry · 2^(attempt-1)`, at most
//! `max_retry`, with full jitter over its upper half, or after the
//! `Retry-After` the sink asked for when that is later; after
//! `max_attempts` the action is dead (a dead letter), shown at
//! `GET /v1/cases/{id}` and counted in `/metrics`. An action no sink
//! takes is dead at once, its error naming the kind and target. A case's
//! actions go one after another (an action waits while an earlier one of
//! its case is undelivered); different cases go at once.

use crate::AppState;
use crate::scheduler::Clock;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use triage_store::{Delivery, OutboxEntry, Store};

/// The action kinds the core fires (`triage_core::Action::kind`).
pub const ACTION_KINDS: &[&str] =
    &["notify", "raise_tier", "set_tier", "reassign", "set_priority", "open_escalation", "swarm", "admin_alert"];

/// How delivery retries, from the sinks file's `delivery` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Attempts before an action is dead. Default 8.
    pub max_attempts: i64,
    /// The wait after the first failure; doubled after each. Default 5 s.
    pub first_retry: Duration,
    /// The longest wait between attempts. Default 1 h.
    pub max_retry: Duration,
    /// How long one attempt may take. Default 10 s.
    pub timeout: Duration,
    /// Cases delivered to at once. Default 16.
    pub concurrency: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: 8,
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

/// What a sink does with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// POST the signed action JSON.
    Webhook,
    /// POST a Slack incoming-webhook message.
    Chat,
    /// Take the action and drop it (counted as delivered).
    Discard,
}

/// One configured sink.
#[derive(Clone)]
pub struct Sink {
    /// Its name, in logs, metrics and errors.
    pub name: String,
    /// What it does.
    pub kind: SinkKind,
    url: Option<reqwest::Url>,
    secret: Option<Vec<u8>>,
    kinds: Vec<String>,
    targets: Vec<String>,
    case_url: Option<String>,
    channel: Option<String>,
}

impl std::fmt::Debug for Sink {
    // The URL (a chat webhook's is a credential) and the secret stay out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("kinds", &self.kinds)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Whether this sink takes an action of `kind` for `target`.
    fn takes(&self, kind: &str, target: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && (self.targets.is_empty() || self.targets.iter().any(|p| glob(p, target)))
    }
}

/// `*` matches any run of characters; everything else itself, ignoring
/// ASCII case.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !t.starts_with(first) || t.len() < first.len() + last.len() || !t.ends_with(last) {
        return false;
    }
    let mut rest = &t[first.len()..t.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The sinks and delivery settings of a service.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    /// In routing order.
    pub sinks: Vec<Sink>,
    /// Retries and timeouts.
    pub settings: DeliverySettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinksFile {
    #[serde(default)]
    delivery: Option<SettingsFile>,
    sinks: Vec<SinkFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    max_attempts: Option<i64>,
    first_retry: Option<String>,
    max_retry: Option<String>,
    timeout: Option<String>,
    concurrency: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkFile {
    name: String,
    #[serde(rename = "type")]
    kind: SinkKind,
    url: Option<String>,
    url_env: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    case_url: Option<String>,
    channel: Option<String>,
}

/// `500ms`, `5s`, `10m`, `1h` or a number of seconds.
fn duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number.parse().ok()?;
    Some(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

impl Sinks {
    /// Reads a sinks file. Secrets and URLs named by `*_env` are read from
    /// the environment; `secret_file` is relative to the file's folder.
    ///
    /// # Errors
    /// A message naming the file, the sink and what to change.
    pub fn from_file(path: &Path) -> Result<Sinks, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Sinks::from_text(&path.display().to_string(), &text, base, |name| std::env::var(name).ok())
    }

    /// [`Sinks::from_file`] over text, with `env` for the environment.
    ///
    /// # Errors
    /// A message naming `file`, the sink and what to change.
    pub fn from_text(
        file: &str,
        text: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Sinks, String> {
        let parsed: SinksFile = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let mut settings = DeliverySettings::default();
        if let Some(d) = parsed.delivery {
            let time = |field: &str, v: Option<String>, default: Duration| match v {
                None => Ok(default),
                Some(v) => match duration(&v) {
                    Some(d) if d.is_zero() => Err(format!("{file}: delivery.{field}: give more than zero")),
                    Some(d) => Ok(d),
                    None => Err(format!(
                        "{file}: delivery.{field}: `{v}` is not a duration; write e.g. `500ms`, `5s`, `10m`, `1h`"
                    )),
                },
            };
            settings.first_retry = time("first_retry", d.first_retry, settings.first_retry)?;
            settings.max_retry = time("max_retry", d.max_retry, settings.max_retry)?;
            settings.timeout = time("timeout", d.timeout, settings.timeout)?;
            if settings.max_retry < settings.first_retry {
                return Err(format!(
                    "{file}: delivery.max_retry ({:?}) is shorter than first_retry ({:?}); the wait only grows",
                    settings.max_retry, settings.first_retry
                ));
            }
            if let Some(n) = d.max_attempts {
                if !(1..=100).contains(&n) {
                    return Err(format!("{file}: delivery.max_attempts: {n}; give 1 to 100"));
                }
                settings.max_attempts = n;
            }
            if let Some(n) = d.concurrency {
                if !(1..=1024).contains(&n) {
                    return Err(format!("{file}: delivery.concurrency: {n}; give 1 to 1024"));
                }
                settings.concurrency = n;
            }
        }
        let mut sinks = Vec::new();
        for (i, s) in parsed.sinks.into_iter().enumerate() {
            let at = format!("{file}: sinks[{i}] (`{}`)", s.name);
            if s.name.trim().is_empty() {
                return Err(format!("{file}: sinks[{i}]: give the sink a `name`"));
            }
            if sinks.iter().any(|o: &Sink| o.name == s.name) {
                return Err(format!("{at}: two sinks are named `{}`; names are unique", s.name));
            }
            for k in &s.kinds {
                if !ACTION_KINDS.contains(&k.as_str()) {
                    return Err(format!("{at}: kinds: `{k}` is not an action kind; use {}", ACTION_KINDS.join(", ")));
                }
            }
            let url = match (&s.url, &s.url_env, s.kind) {
                (_, _, SinkKind::Discard) => None,
                (Some(u), None, _) => Some(u.clone()),
                (None, Some(var), _) => Some(
                    env(var).ok_or_else(|| format!("{at}: url_env: the environment variable `{var}` is not set"))?,
                ),
                _ => return Err(format!("{at}: give exactly one of `url` or `url_env`")),
            };
            let url = match url {
                None => None,
                Some(u) => {
                    let parsed = reqwest::Url::parse(u.trim())
                        .map_err(|e| format!("{at}: the URL is not valid ({e}); give an http:// or https:// URL"))?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(format!("{at}: the URL is not http:// or https://"));
                    }
                    Some(parsed)
                }
            };
            let secret = match (&s.secret_env, &s.secret_file) {
                (Some(var), None) => Some(
                    env(var).ok_or_else(|| format!("{at}: secret_env: the environment variable `{var}` is not set"))?,
                ),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(base.join(f))
                        .map_err(|e| format!("{at}: secret_file `{f}` cannot be read: {e}"))?,
                ),
                (None, None) => None,
                (Some(_), Some(_)) => return Err(format!("{at}: give one of `secret_env` or `secret_file`")),
            }
            .map(|s| s.trim().as_bytes().to_vec());
            if s.kind == SinkKind::Webhook && secret.as_ref().is_none_or(Vec::is_empty) {
                return Err(if secret.is_some() {
                    format!("{at}: the shared secret is empty; put the secret in the variable or file named")
                } else {
                    format!(
                        "{at}: a webhook sink signs what it sends; give `secret_env` or `secret_file` (a shared secret)"
                    )
                });
            }
            if let Some(before) = sinks.iter().find(|o: &&Sink| o.kinds.is_empty() && o.targets.is_empty()) {
                return Err(format!(
                    "{at}: sink `{}` before it takes every action, so this one would never get any; \
                     order the sinks from the most specific to the catch-all",
                    before.name
                ));
            }
            if let Some(c) = &s.case_url
                && !c.contains("{case_id}")
            {
                return Err(format!("{at}: case_url: put `{{case_id}}` where the case id goes"));
            }
            sinks.push(Sink {
                name: s.name,
                kind: s.kind,
                url,
                secret,
                kinds: s.kinds,
                targets: s.targets,
                case_url: s.case_url,
                channel: s.channel,
            });
        }
        if sinks.is_empty() {
            return Err(format!(
                "{file}: no sinks: every action would be a dead letter; list at least one under `sinks` \
                 (a `discard` sink drops actions on purpose)"
            ));
        }
        Ok(Sinks { sinks, settings })
    }

    /// The sink that takes an action of `kind` for `target`: the first
    /// that lists the kind (or no kinds) and a pattern matching the target
    /// (or no targets).
    pub fn route(&self, kind: &str, target: &str) -> Option<&Sink> {
        self.sinks.iter().find(|s| s.takes(kind, target))
    }
}

/// The outbox entry's JSON, as a webhook receives it: the action with the
/// case context it needs.
pub(crate) fn envelope(escalation: &triage_core::Escalation, action: &triage_core::Action) -> String {
    // A swarm or notify of an escalation ladder step shares its rule and
    // level with the step's `open_escalation`, whose record has the severity.
    let severity = escalation
        .actions
        .iter()
        .chain(&escalation.pending)
        .filter(|a| a.rule == action.rule && a.level == action.level)
        .find_map(|a| a.record.as_ref().map(|r| r.severity));
    let mut body = json!({
        "case_id": escalation.case_id,
        "priority": escalation.priority,
        "tier": escalation.tier,
        "action": action,
    });
    if let Some(s) = severity {
        body["severity"] = json!(s);
    }
    body.to_string()
}

/// `HMAC-SHA256(secret, "{timestamp}.{body}")`, hex.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // Any key length is taken; this branch cannot be reached.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Slack's three characters with meaning in message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Slack incoming-webhook message for an outbox entry.
fn chat_message(sink: &Sink, entry: &OutboxEntry, body: &Value) -> Value {
    let action = &body["action"];
    let case_id = body["case_id"].as_str().unwrap_or(&entry.action.case_id);
    let case = match &sink.case_url {
        Some(u) => format!("<{}|{}>", u.replace("{case_id}", case_id), slack_escape(case_id)),
        None => slack_escape(case_id),
    };
    let severity = body["severity"].as_u64();
    let priority = body["priority"].as_str().unwrap_or("");
    let target = entry.action.target.as_str();
    let channel = if target.starts_with('#') { Some(target.to_string()) } else { sink.channel.clone() };
    let text = match (entry.action.kind.as_str(), action["channel"].as_str()) {
        ("swarm", Some(swarm)) => format!(
            ":rotating_light: Swarm on case {case}{}: join #{}",
            severity.map(|s| format!(" (severity {s})")).unwrap_or_default(),
            slack_escape(swarm)
        ),
        _ => format!("{}: {}", slack_escape(&entry.action.kind), slack_escape(action["detail"].as_str().unwrap_or(""))),
    };
    let mut context = vec![format!("case {case}")];
    if let Some(s) = severity {
        context.push(format!("severity {s}"));
    }
    if !priority.is_empty() {
        context.push(format!("priority {}", slack_escape(priority)));
    }
    if let Some(rule) = action["rule"].as_str() {
        context.push(format!("rule `{}`", slack_escape(rule)));
    }
    let mut message = json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context.join(" · ")}]},
        ],
    });
    if let Some(c) = channel {
        message["channel"] = json!(c);
    }
    message
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Failed: why, and the earliest retry the sink asked for.
    Failed(String, Option<Duration>),
}

/// What went wrong on the way, without the URL (a chat webhook's URL is a
/// credential): the kind first, then the causes.
fn transport_error(e: reqwest::Error, timeout: Duration) -> String {
    let kind = if e.is_timeout() {
        format!("no answer within {timeout:?}")
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.dedup();
    if causes.is_empty() { kind } else { format!("{kind}: {}", causes.join(": ")) }
}

async fn attempt(
    client: &reqwest::Client,
    sink: &Sink,
    entry: &OutboxEntry,
    now: DateTime<Utc>,
    timeout: Duration,
) -> Attempt {
    let Some(url) = &sink.url else { return Attempt::Delivered };
    let body_text = entry.action.payload_json.as_bytes().to_vec();
    let request = match sink.kind {
        SinkKind::Discard => return Attempt::Delivered,
        SinkKind::Webhook => {
            let ts = now.timestamp();
            let sig = signature(sink.secret.as_deref().unwrap_or_default(), ts, &body_text);
            client
                .post(url.clone())
                .header("content-type", "application/json")
                .header("idempotency-key", &entry.action.key)
                .header("triage-timestamp", ts.to_string())
                .header("triage-signature", format!("v1={sig}"))
                .header("triage-attempt", (entry.attempts + 1).to_string())
                .body(body_text)
        }
        SinkKind::Chat => {
            let body: Value = serde_json::from_slice(&body_text).unwrap_or(Value::Null);
            let message = chat_message(sink, entry, &body);
            client
                .post(url.clone())
                .header("content-type", "application/json")
                .header("idempotency-key", &entry.action.key)
                .body(message.to_string())
        }
    };
    match request.send().await {
        Ok(answer) if answer.status().is_success() => Attempt::Delivered,
        Ok(answer) => {
            let status = answer.status();
            let after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Failed(format!("sink `{}` answered {status}", sink.name), after)
        }
        Err(e) => Attempt::Failed(format!("sink `{}`: {}", sink.name, transport_error(e, timeout)), None),
    }
}

/// The wait before the next attempt after `attempts` failed ones: doubling
/// from `first`, at most `max`, uniformly jittered over its upper half.
pub fn backoff(settings: &DeliverySettings, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings.first_retry.saturating_mul(1u32 << doublings).min(settings.max_retry);
    let half = full / 2;
    half + Duration::from_millis(fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX)))
}

/// Runs delivery for `state`'s store to `sinks` as replica `owner`, with
/// leases of `lease` (longer than `settings.timeout`), until the task is
/// dropped; returns at once when the service keeps no store.
pub async fn run_delivery(state: AppState, clock: Arc<dyn Clock>, owner: String, sinks: Arc<Sinks>, lease: Duration) {
    let Some(store) = state.store().cloned() else { return };
    let client = match reqwest::Client::builder()
        .timeout(sinks.settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for delivery; actions stay in the outbox");
            return;
        }
    };
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let idle = chrono::Duration::from_std(crate::IDLE).unwrap_or_default();
    // Claimed a few rounds' worth at a time (one claim query for many
    // deliveries), delivered `concurrency` at once.
    let at_once = sinks.settings.concurrency.max(1);
    let limit = i64::try_from(at_once.saturating_mul(8)).unwrap_or(128);
    let mut counted_at: Option<DateTime<Utc>> = None;
    let mut empty_before = false;
    loop {
        let now = clock.now();
        if counted_at.is_none_or(|t| now - t >= chrono::Duration::seconds(5) || now < t) {
            if let Ok(counts) = store.outbox_counts().await {
                state.inner.metrics.outbox(counts);
            }
            counted_at = Some(now);
        }
        let claimed = match store.claim_deliveries(&owner, now.timestamp_millis(), lease_ms, limit).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "delivery could not claim actions; retrying");
                clock.sleep_until(now + chrono::Duration::seconds(1)).await;
                continue;
            }
        };
        let mut running = tokio::task::JoinSet::new();
        for entry in claimed.iter().cloned() {
            if running.len() >= at_once {
                running.join_next().await;
            }
            let (store, state, client, sinks, clock, owner) =
                (store.clone(), state.clone(), client.clone(), sinks.clone(), clock.clone(), owner.clone());
            running.spawn(async move { deliver(&store, &state, &client, &sinks, clock.as_ref(), &owner, entry).await });
        }
        while running.join_next().await.is_some() {}
        if !claimed.is_empty() {
            empty_before = false;
            continue;
        }
        let next = store.next_delivery().await.ok().flatten().and_then(DateTime::<Utc>::from_timestamp_millis);
        let after = clock.now();
        let wake_at = match next {
            Some(t) if t > after => t.min(after + idle),
            // Claimable now but not when the claim looked: put in the
            // outbox meanwhile (the scheduler enqueues actions once they
            // are due, so their due instant is already past). At once,
            // the first time; a second empty claim in a row waits a
            // moment, so a disagreement between the two queries cannot
            // spin.
            Some(_) if !empty_before => {
                empty_before = true;
                continue;
            }
            Some(_) => after + chrono::Duration::milliseconds(50),
            None => after + idle,
        };
        empty_before = false;
        tokio::select! {
            () = clock.sleep_until(wake_at) => {}
            () = state.inner.deliver.notified() => {}
        }
    }
}

async fn deliver(
    store: &Store,
    state: &AppState,
    client: &reqwest::Client,
    sinks: &Sinks,
    clock: &dyn Clock,
    owner: &str,
    entry: OutboxEntry,
) {
    let key = entry.action.key.clone();
    let Some(sink) = sinks.route(&entry.action.kind, &entry.action.target) else {
        let why = format!(
            "no sink takes `{}` actions for `{}`; add one to the sinks file (or a `discard` sink)",
            entry.action.kind, entry.action.target
        );
        tracing::warn!(action = %key, "{why}");
        if let Err(e) = store.failed(&key, owner, &why, clock.now().timestamp_millis(), 1).await {
            tracing::warn!(action = %key, error = %e, "could not record an unroutable action");
        }
        state.inner.metrics.delivery("none", "dead", None);
        return;
    };
    let outcome = attempt(client, sink, &entry, clock.now(), sinks.settings.timeout).await;
    let now = clock.now();
    let at = now.timestamp_millis();
    match outcome {
        Attempt::Delivered => {
            let late = (at - entry.action.due).max(0) as f64 / 1000.0;
            match store.delivered(&key, owner, at).await {
                Ok(_) => state.inner.metrics.delivery(&sink.name, "delivered", Some(late)),
                Err(e) => {
                    tracing::warn!(action = %key, error = %e, "delivered, but not recorded; it will be sent again")
                }
            }
        }
        Attempt::Failed(why, asked) => {
            let wait = backoff(&sinks.settings, entry.attempts + 1).max(asked.unwrap_or_default());
            let retry_at = at.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            match store.failed(&key, owner, &why, retry_at, sinks.settings.max_attempts).await {
                Ok(Some(Delivery::Dead)) => {
                    tracing::warn!(action = %key, sink = %sink.name, "{why}; a dead letter now");
                    state.inner.metrics.delivery(&sink.name, "dead", None);
                }
                Ok(_) => {
                    tracing::info!(action = %key, sink = %sink.name, retry_in_ms = wait.as_millis() as u64, "{why}");
                    state.inner.metrics.delivery(&sink.name, "retry", None);
                }
                Err(e) => tracing::warn!(action = %key, error = %e, "could not record a failed delivery"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn globs_match_targets() {
        assert!(glob("#*", "#swarm-platform"));
        assert!(glob("*@example.com", "VP@example.com"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxcyyb"));
        assert!(!glob("#*", "leadership"));
        assert!(glob("leadership", "Leadership"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn durations_read() {
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(duration("2 days"), None);
        assert_eq!(duration(""), None);
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let s = DeliverySettings {
            first_retry: Duration::from_secs(4),
            max_retry: Duration::from_secs(60),
            ..Default::default()
        };
        for _ in 0..50 {
            let first = backoff(&s, 1);
            assert!(first >= Duration::from_secs(2) && first <= Duration::from_secs(4), "{first:?}");
            let third = backoff(&s, 3);
            assert!(third >= Duration::from_secs(8) && third <= Duration::from_secs(16), "{third:?}");
            let late = backoff(&s, 40);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60), "{late:?}");
        }
    }

    #[test]
    fn a_signature_is_the_hmac_of_timestamp_and_body() {
        let sig = signature(b"Jefe", 0, b"");
        assert_eq!(sig.len(), 64);
        assert_ne!(signature(b"Jefe", 1, b"x"), signature(b"Jefe", 2, b"x"));
        // HMAC-SHA256("key", "1.body"), computed with Python's hmac module.
        assert_eq!(signature(b"key", 1, b"body"), "91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5");
    }

    #[test]
    fn the_example_sinks_file_reads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sinks.example.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let sinks =
            Sinks::from_text("sinks.example.yaml", &text, Path::new("."), |_| Some("http://127.0.0.1:9/x".into()))
                .unwrap();
        assert_eq!(sinks.route("swarm", "#swarm-platform").unwrap().name, "swarm-chat");
        assert_eq!(sinks.route("notify", "#support").unwrap().name, "channels");
        assert_eq!(sinks.route("notify", "leadership").unwrap().name, "helpdesk");
        assert_eq!(sinks.settings.max_attempts, 8);
    }

    #[test]
    fn sinks_files_are_checked() {
        let env = |v: &str| match v {
            "S" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let base = Path::new(".");
        let ok = "sinks:\n  - { name: chat, type: chat, url: 'http://127.0.0.1:1/x', kinds: [swarm] }\n  - { name: hook, type: webhook, url: 'http://127.0.0.1:1/y', secret_env: S, targets: ['#*'] }\n  - { name: rest, type: discard }\n";
        let sinks = Sinks::from_text("s.yaml", ok, base, env).unwrap();
        assert_eq!(sinks.route("swarm", "#x").unwrap().name, "chat");
        assert_eq!(sinks.route("notify", "#x").unwrap().name, "hook");
        assert_eq!(sinks.route("notify", "leadership").unwrap().name, "rest");
        for (text, says) in [
            ("sinks: [{ name: h, type: webhook, url: 'http://x/' }]", "signs what it sends"),
            ("sinks: [{ name: h, type: webhook, url: 'ftp://x/', secret_env: S }]", "not http"),
            ("sinks: [{ name: h, type: chat, url: 'http://x/', kinds: [notfy] }]", "`notfy` is not an action kind"),
            ("sinks: [{ name: h, type: chat, url_env: NOPE }]", "`NOPE` is not set"),
            ("sinks: [{ name: h, type: chat }]", "exactly one of `url` or `url_env`"),
            ("sinks: [{ name: h, type: pager, url: 'http://x/' }]", "s.yaml"),
            ("delivery: { first_retry: soon }\nsinks: []", "delivery.first_retry"),
            ("delivery: { timeout: 0s }\nsinks: []", "more than zero"),
            ("delivery: { first_retry: 1h, max_retry: 1ms }\nsinks: []", "shorter than first_retry"),
            ("sinks: []", "no sinks"),
            ("sinks: [{ name: all, type: discard }, { name: h, type: discard, kinds: [swarm] }]", "never get any"),
            ("sinks: [{ name: h, type: webhook, url: 'http://x/', secret_env: EMPTY }]", "secret is empty"),
            ("sinks: [{ name: h, type: chat, url: 'http://x/', case_url: 'http://d/' }]", "{case_id}"),
            ("sinks: [{ name: h, type: discard }, { name: h, type: discard }]", "two sinks are named"),
        ] {
            let e = Sinks::from_text("s.yaml", text, base, env).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
