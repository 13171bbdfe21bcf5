//! Live cases, kept in the store (`--data DIR` or `--database URL`):
//! `POST /v1/cases/{id}/events` appends to a case's history, replays it and
//! puts the actions due in the outbox; `GET /v1/cases/{id}` shows the
//! history, the actions and their delivery.

use crate::problem::Problem;
use crate::routes::{Answer, Params, case_of, inputs, json_answer, json_value};
use crate::{AppState, Snapshot};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use triage_core::{CaseState, Options};
use triage_store::{Appended, NewAction, NewEvent, Opening, Recorded, Store, StoreError};

/// Longest event id taken, bytes.
const MAX_EVENT_ID: usize = 200;

pub(crate) fn store(state: &AppState) -> Result<&Store, Problem> {
    state.store().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "no-store",
            "This service keeps no case state",
            "start it with --data DIR (an embedded database) or --database postgres://…",
        )
    })
}

pub(crate) fn case_id(p: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path_id(p, "invalid-case-id", "The case id in the path is not valid", "case")
}

/// The id in the path: 1 to [`MAX_EVENT_ID`] bytes without control
/// characters, else 400 with `code`.
pub(crate) fn path_id(
    p: Result<Path<String>, PathRejection>,
    code: &'static str,
    title: &'static str,
    what: &str,
) -> Result<String, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, code, title, detail).at("id");
    let Path(id) = p.map_err(|e| bad(e.body_text()))?;
    if id.trim().is_empty() || id.len() > MAX_EVENT_ID || id.chars().any(char::is_control) {
        return Err(bad(format!("a {what} id is 1 to {MAX_EVENT_ID} bytes, without control characters")));
    }
    Ok(id)
}

/// A store failure: logged, and answered without internal detail.
pub(crate) fn failed(e: StoreError) -> Problem {
    match e {
        StoreError::UnknownCase(id) => unknown(&id),
        other => {
            tracing::error!(error = %other, "the store failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "The case store could not be used",
                "retry shortly with the same event ids: what this request stored is not stored twice",
            )
        }
    }
}

pub(crate) fn unknown(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-case",
        "The service does not track this case",
        format!("send case `{id}` itself with its first events: {{\"case\": {{…}}, \"events\": […]}}"),
    )
}

fn invalid(detail: impl Into<String>, field: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-events", "The events are not valid", detail).at(field)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn instant(ms: i64) -> Value {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or(Value::Null, |t| json!(t))
}

/// The body: `{"case": {…}?, "events": [{"id": "…", "at": "…", "kind": "…", …}]}`.
/// Each event is checked as a `CaseState` event; its `id` makes a retry
/// add nothing.
fn read_events(body: Value, id: &str) -> Result<(Option<Value>, Vec<NewEvent>), Problem> {
    let Value::Object(mut body) = body else {
        return Err(invalid("expected an object with `events` (and `case` the first time)", ""));
    };
    let case = body.remove("case");
    let events = match body.remove("events") {
        None => Vec::new(),
        Some(Value::Array(events)) => events,
        Some(_) => return Err(invalid("`events` is a list", "events")),
    };
    if let Some(key) = body.keys().next() {
        return Err(invalid(format!("unknown field `{key}`, expected `case` or `events`"), key.clone()));
    }
    if let Some(case) = &case {
        let parsed = case_of(case.clone())?;
        if parsed.id != id {
            return Err(invalid(format!("the case's id is `{}`, not `{id}` as in the path", parsed.id), "case.id"));
        }
        if parsed.created_at.is_none() {
            return Err(invalid(
                "a tracked case needs `created_at` (RFC 3339 with an offset): its SLA clocks start there",
                "case.created_at",
            ));
        }
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let Value::Object(mut event) = event else {
            return Err(invalid("an event is an object", format!("events[{i}]")));
        };
        let event_id = match event.remove("id") {
            Some(Value::String(s))
                if !s.trim().is_empty() && s.len() <= MAX_EVENT_ID && !s.chars().any(char::is_control) =>
            {
                s
            }
            _ => {
                return Err(invalid(
                    format!(
                        "each event needs an `id` (1 to {MAX_EVENT_ID} bytes): a retry with the same id adds nothing"
                    ),
                    format!("events[{i}].id"),
                ));
            }
        };
        let checked = Value::Object(event);
        if let Err(e) = serde_json::from_value::<triage_core::Event>(checked.clone()) {
            return Err(invalid(e.to_string(), format!("events[{i}]")));
        }
        out.push(NewEvent { id: event_id, json: checked.to_string() });
    }
    Ok((case, out))
}

/// `POST /v1/cases/{id}/events`.
pub(crate) async fn append_events(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let id = case_id(p)?;
    // The request's own problems first, then whether the service keeps cases.
    let (snapshot, q, bytes) = inputs(&state, q, b, &["trace", "now"])?;
    let store = store(&state)?.clone();
    let (now, options) = (q.now()?, q.options()?);
    if now > Utc::now() + chrono::Duration::minutes(1) {
        return Err(Problem::invalid_query(
            "`now` is later than the service's clock: this endpoint stores the actions that fire, so it cannot \
             look ahead; ask /v1/escalate for what would fire later",
        )
        .at("now"));
    }
    let (case, events) = read_events(json_value(&bytes)?, &id)?;
    let at = millis(now);
    // Checked and stored together: when another request changes the case
    // between this one's check and its write, nothing is written and the
    // request is checked again against the history as it now is.
    let mut appended = None;
    for _ in 0..MAX_ATTEMPTS {
        if let Some(a) = check_and_record(&state, &store, &snapshot, &id, case.as_ref(), &events, now, &options).await?
        {
            appended = Some(a);
            break;
        }
    }
    let Some(appended) = appended else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case-busy",
            "The case kept changing while this request was checked",
            format!("{MAX_ATTEMPTS} other requests changed the case meanwhile; send this one again"),
        ));
    };
    let (appended, intake) = appended;
    let (escalation, mut enqueued) = replay(&store, &snapshot, &id, now, &options).await?;
    enqueued.splice(0..0, intake);
    // The next check may now be earlier than the scheduler's wake-up.
    state.inner.wake.notify_one();
    state.inner.metrics.enqueued(enqueued.len());
    if !enqueued.is_empty() {
        state.inner.deliver.notify_one();
    }
    // A stop status (`solved`, `closed`) ends the case's hold on capacity.
    let released = match &escalation.status {
        Some(s) if snapshot.rules.stops_clock(s) => store.release(&id, at).await.map_err(failed)?,
        _ => None,
    };
    json_answer(
        &snapshot,
        &json!({
            "case_id": id,
            "appended": appended.added,
            "repeated": appended.repeated,
            "enqueued": enqueued,
            "next_check_at": escalation.next_check_at,
            "released": released.map(|a| json!({ "agent": a.agent_id, "units": a.units })),
            "escalation": escalation,
        }),
    )
}

/// How often a request is checked again when other requests keep changing
/// its case between its check and its write.
const MAX_ATTEMPTS: usize = 8;

/// Checks a request's events against the case's stored history and, if
/// they can be replayed, stores them (opening the case first when it is
/// new) in one transaction. `Ok(None)`: the case changed meanwhile and
/// nothing was stored.
#[allow(clippy::too_many_arguments)]
async fn check_and_record(
    state: &AppState,
    store: &Store,
    snapshot: &Snapshot,
    id: &str,
    case: Option<&Value>,
    events: &[NewEvent],
    now: DateTime<Utc>,
    options: &Options,
) -> Result<Option<(Appended, Vec<String>)>, Problem> {
    let at = millis(now);
    // The history as it would be, replayed before anything is stored: a
    // request refused here stores nothing, so a bad event cannot break the
    // case for the requests after it.
    let record = store.history(id).await.map_err(failed)?;
    if let (Some((case_json, _)), Some(sent)) = (&record, case)
        && serde_json::from_str::<Value>(case_json).ok().as_ref() != Some(sent)
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "case-changed",
            "The case is tracked already, with other fields",
            "a tracked case keeps the case it was opened with; send changes as events (`status_changed`, \
             `priority_changed`, `tier_changed`, `reassigned`…), or leave `case` out after the first request",
        )
        .at("case"));
    }
    let (case_value, mut candidate, mut known) = match (&record, case) {
        (Some((case_json, stored)), _) => (
            serde_json::from_str(case_json).unwrap_or(Value::Null),
            stored.iter().map(|e| serde_json::from_str(&e.json).unwrap_or(Value::Null)).collect::<Vec<Value>>(),
            stored.iter().map(|e| e.id.clone()).collect::<std::collections::BTreeSet<String>>(),
        ),
        (None, Some(c)) => (c.clone(), Vec::new(), std::collections::BTreeSet::new()),
        (None, None) => return Err(unknown(id)),
    };
    // An event id is the event: the same id with other content is a
    // client bug (two events given one id), not a retry.
    let reused = |i: usize, detail: String| {
        Problem::new(StatusCode::CONFLICT, "event-id-reused", "An event id was reused for another event", detail)
            .at(format!("events[{i}].id"))
    };
    if let Some((_, stored)) = &record {
        let stored: std::collections::BTreeMap<&str, &str> =
            stored.iter().map(|e| (e.id.as_str(), e.json.as_str())).collect();
        if let Some((i, e)) =
            events.iter().enumerate().find(|(_, e)| stored.get(e.id.as_str()).is_some_and(|j| !same_event(j, &e.json)))
        {
            return Err(reused(
                i,
                format!(
                    "the case already has an event `{}` with other content; a retry sends the same event, \
                     a new event needs a new id",
                    e.id
                ),
            ));
        }
    }
    let mut batch = std::collections::BTreeMap::<&str, &str>::new();
    for (i, e) in events.iter().enumerate() {
        if batch.insert(&e.id, &e.json).is_some_and(|j| !same_event(j, &e.json)) {
            return Err(reused(i, format!("two events of this request have the id `{}`; give each its own", e.id)));
        }
        if known.insert(e.id.clone()) {
            candidate.push(serde_json::from_str(&e.json).unwrap_or(Value::Null));
        }
    }
    if candidate.len() > MAX_EVENTS_PER_CASE {
        return Err(invalid(
            format!("a case holds at most {MAX_EVENTS_PER_CASE} events; this would make {}", candidate.len()),
            "events",
        ));
    }
    crate::routes::escalate_on(snapshot, &history(case_value, candidate, None)?, now, options)?;
    let case_json;
    let related_json;
    let intake: Vec<NewAction>;
    let open = match (&record, case) {
        // A case already tracked keeps what it was opened with.
        (Some(_), _) | (None, None) => None,
        (None, Some(case)) => {
            // A newly tracked case joins the window of recent cases, and what
            // it is like there stays with its history for the escalation
            // rules; an incident it completes is told once, by its cluster's
            // key, as `POST /v1/triage` says it.
            let (related, decision) = crate::routes::compare_tracked(snapshot, &state.inner.metrics, case.clone(), now);
            intake = decision.map(|d| incident_actions(id, &d, at)).unwrap_or_default();
            case_json = case.to_string();
            related_json = (!related.is_empty()).then(|| serde_json::to_string(&related).unwrap_or_default());
            Some(Opening { case_json: &case_json, related_json: related_json.as_deref(), actions: &intake })
        }
    };
    let expected = record.as_ref().map_or(0, |(_, stored)| stored.len());
    match store.record(id, open, expected, events, at).await.map_err(failed)? {
        Recorded::Stored { appended, enqueued, .. } => Ok(Some((appended, enqueued))),
        Recorded::Changed => Ok(None),
    }
}

/// The `incident_suspected` actions of a tracked case's intake decision,
/// as outbox entries due at once: the body says the case, its priority and
/// tier, and the action (with the cluster's key).
fn incident_actions(id: &str, d: &triage_core::Decision, at: i64) -> Vec<NewAction> {
    d.actions
        .iter()
        .filter(|a| a.kind == "incident_suspected")
        .map(|a| NewAction {
            key: a.key.clone(),
            case_id: id.to_string(),
            kind: a.kind.to_string(),
            target: a.target.clone().unwrap_or_default(),
            due: at,
            payload_json: json!({"case_id": id, "priority": d.priority, "tier": d.tier, "action": a}).to_string(),
        })
        .collect()
}

/// Whether two stored event texts are the same event: equal once read
/// (`Z` and `+00:00`, `.000`, a `null` field and a missing one are the same).
fn same_event(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<triage_core::Event>(a), serde_json::from_str::<triage_core::Event>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Most events a case may hold: a longer history is refused, so one case
/// cannot make every write slow.
pub const MAX_EVENTS_PER_CASE: usize = 10_000;

/// A case state from a case and its events, the events in time order
/// (stable for equal instants): events that arrive out of order (webhooks
/// do) are replayed in the order they happened.
fn history(case: Value, mut events: Vec<Value>, related: Option<Value>) -> Result<CaseState, Problem> {
    let at =
        |e: &Value| e["at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis());
    events.sort_by_key(|e| at(e));
    let mut state = Map::new();
    state.insert("case".into(), case);
    state.insert("events".into(), Value::Array(events));
    if let Some(related) = related {
        state.insert("related".into(), related);
    }
    CaseState::from_value(Value::Object(state))
        .map_err(|e| Problem::invalid_input("invalid-case-state", "The history is not valid", &e))
}

/// A tracked case's stored history as a case state, and the instant of its
/// latest event.
async fn stored_history(store: &Store, id: &str) -> Result<(CaseState, Option<DateTime<Utc>>), Problem> {
    let (case_json, stored) = store.history(id).await.map_err(failed)?.ok_or_else(|| unknown(id))?;
    let events: Vec<Value> = stored.iter().map(|e| serde_json::from_str(&e.json).unwrap_or(Value::Null)).collect();
    let related = store.related(id).await.map_err(failed)?.and_then(|r| serde_json::from_str(&r).ok());
    let history = history(serde_json::from_str(&case_json).unwrap_or(Value::Null), events, related)?;
    let last = history.events.iter().map(|e| e.at.with_timezone(&Utc)).max();
    Ok((history, last))
}

/// Replays a tracked case's stored history at `now` on `snapshot`, puts
/// the actions due (and those waiting for business hours) in the outbox,
/// each once by its key, and stores the next check. Returns the
/// escalation and the keys new to the outbox.
pub(crate) async fn replay(
    store: &Store,
    snapshot: &crate::Snapshot,
    id: &str,
    now: DateTime<Utc>,
    options: &triage_core::Options,
) -> Result<(triage_core::Escalation, Vec<String>), Problem> {
    let at = millis(now);
    let (history, _) = stored_history(store, id).await?;
    let escalation = crate::routes::escalate_on(snapshot, &history, now, options)?;
    let actions: Vec<NewAction> = escalation
        .actions
        .iter()
        .chain(&escalation.pending)
        .map(|a| NewAction {
            key: a.key.clone(),
            case_id: id.to_string(),
            kind: a.kind.to_string(),
            target: a.target.clone().unwrap_or_default(),
            due: millis(a.due_at.unwrap_or(now)),
            payload_json: crate::delivery::envelope(&escalation, a),
        })
        .collect();
    let enqueued = store.record_replay(id, &actions, escalation.next_check_at.map(millis), at).await.map_err(failed)?;
    Ok((escalation, enqueued))
}

/// Whether the tracked case is resolved at `now`: its history's status in
/// effect stops the SLA clocks (`solved`, `closed`…); that status, or
/// `None`.
pub(crate) async fn resolved(
    store: &Store,
    snapshot: &crate::Snapshot,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, Problem> {
    let (history, last) = stored_history(store, id).await?;
    // At `now`, or at the last event when it is later: a status event
    // stamped after the asking instant counts too.
    let at = last.map_or(now, |l| l.max(now));
    let escalation = crate::routes::escalate_on(snapshot, &history, at, &triage_core::Options::default())?;
    Ok(escalation.status.filter(|s| snapshot.rules.stops_clock(s)))
}

/// `GET /v1/cases/{id}`.
pub(crate) async fn case(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Params>, QueryRejection>,
) -> Answer {
    let id = case_id(p)?;
    Params::read(q, &[])?;
    let store = store(&state)?;
    let record = store.case(&id).await.map_err(failed)?.ok_or_else(|| unknown(&id))?;
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let events: Vec<Value> = record
        .events
        .iter()
        .map(|e| {
            let mut v = parse(&e.json);
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), json!(e.id));
                m.insert("seq".into(), json!(e.seq));
            }
            v
        })
        .collect();
    let actions: Vec<Value> = record
        .actions
        .iter()
        .map(|a| {
            json!({
                "key": a.action.key,
                "kind": a.action.kind,
                "target": a.action.target,
                "due_at": instant(a.action.due),
                "delivery": a.state.name(),
                "attempts": a.attempts,
                "next_attempt_at": (a.state == triage_store::Delivery::Pending).then(|| instant(a.next_attempt)),
                "last_error": a.last_error,
                "delivered_at": a.delivered.map(instant),
                "action": parse(&a.action.payload_json)["action"],
            })
        })
        .collect();
    let assignment =
        record.assignment.as_ref().map(|a| json!({ "agent": a.agent_id, "units": a.units, "at": instant(a.at) }));
    let related = store.related(&id).await.map_err(failed)?.map_or(Value::Null, |r| parse(&r));
    let body = json!({
        "case_id": record.id,
        "case": parse(&record.case_json),
        "related": related,
        "opened_at": instant(record.opened),
        "next_check_at": record.next_check.map(instant),
        "events": events,
        "actions": actions,
        "assignment": assignment,
    });
    Ok(axum::Json(body).into_response())
}

/// `POST /v1/outbox/redeliver[?case=ID]` (admin token): dead letters (of
/// one case, or all) go back to pending with their attempts reset, for
/// after a sink is fixed. Answers `{"redelivering": N}`.
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<Query<Params>, QueryRejection>,
) -> Answer {
    crate::routes::admin(&state, &headers)?;
    let q = Params::read(q, &["case", "now"])?;
    let store = store(&state)?;
    if let Some(id) = &q.case
        && store.history(id).await.map_err(failed)?.is_none()
    {
        return Err(unknown(id));
    }
    let n = store.redeliver_dead(q.case.as_deref(), millis(q.now()?)).await.map_err(failed)?;
    if n > 0 {
        state.inner.deliver.notify_one();
    }
    tracing::info!(case = ?q.case, actions = n, "dead letters sent back for delivery");
    Ok(axum::Json(json!({ "redelivering": n })).into_response())
}
