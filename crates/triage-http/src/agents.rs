//! Capacity held in the store: `POST /v1/cases/{id}/assign` decides a
//! tracked case on the directory as it is now (each agent's live load and
//! presence) and reserves the units in one conditional update, so replicas
//! sharing a database never put an agent over capacity;
//! `DELETE /v1/cases/{id}/assignment` gives the units back (a stop status
//! does too); `PUT /v1/agents/{id}/presence` and `GET /v1/agents` keep and
//! show agents' live state; `GET /v1/escalations` lists the open
//! escalation records by risk.

use crate::AppState;
use crate::cases::{case_id, failed, instant, path_id, resolved, store, unknown};
use crate::problem::Problem;
use crate::routes::{Answer, Params, case_of, inputs, json_answer, json_value};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use triage_core::{Presence, Routing};
use triage_store::{AgentState, Reservation, Store};

/// Most agents tried for one case: each refusal (another request took the
/// last units first) reads the agents' loads again, rules that agent out
/// and decides again.
const MAX_TRIES: usize = 64;

fn presence_name(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Away => "away",
        Presence::Offline => "offline",
    }
}

fn presence_of(name: &str) -> Option<Presence> {
    match name {
        "online" => Some(Presence::Online),
        "away" => Some(Presence::Away),
        "offline" => Some(Presence::Offline),
        _ => None,
    }
}

/// The answer for a case that holds an assignment already.
fn already_assigned(snapshot: &crate::Snapshot, id: &str, held: &triage_store::Assignment) -> Answer {
    json_answer(
        snapshot,
        &json!({
            "case_id": id,
            "outcome": "already_assigned",
            "assignment": { "agent": held.agent_id, "units": held.units, "at": instant(held.at) },
        }),
    )
}

/// Every agent of the served directory in the store (added with the
/// directory's capacity and presence; a changed capacity updated), and
/// their live state by id.
async fn live_agents(
    store: &Store,
    snapshot: &crate::Snapshot,
    at: i64,
) -> Result<BTreeMap<String, AgentState>, Problem> {
    let mut live: BTreeMap<String, AgentState> =
        store.agents().await.map_err(failed)?.into_iter().map(|a| (a.id.clone(), a)).collect();
    for agent in snapshot.directory.agents() {
        let id = agent.id.to_string();
        let known = live.get(&id).is_some_and(|a| a.capacity == agent.capacity);
        if !known {
            store.sync_agent(&id, agent.capacity, presence_name(agent.presence), at).await.map_err(failed)?;
            let entry = live.entry(id.clone()).or_insert_with(|| AgentState {
                id,
                capacity: agent.capacity,
                load: 0,
                presence: presence_name(agent.presence).to_string(),
            });
            entry.capacity = agent.capacity;
        }
    }
    Ok(live)
}

/// `POST /v1/cases/{id}/assign`.
pub(crate) async fn assign_case(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let id = case_id(p)?;
    // The request's own problems first, then whether the service keeps cases.
    let (snapshot, q, bytes) = inputs(&state, q, b, &["now"])?;
    let store = store(&state)?.clone();
    if !bytes.iter().all(u8::is_ascii_whitespace) && json_value(&bytes)? != json!({}) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "This endpoint takes no body",
            "send no body (or `{}`): the case is the one tracked under the id in the path",
        ));
    }
    let now = q.now()?;
    let at = now.timestamp_millis();
    let record = store.case(&id).await.map_err(failed)?.ok_or_else(|| unknown(&id))?;
    if let Some(held) = &record.assignment {
        return already_assigned(&snapshot, &id, held);
    }
    let refuse_resolved = |status: String| {
        Problem::new(
            StatusCode::CONFLICT,
            "case-resolved",
            "The case is resolved",
            format!("case `{id}` is `{status}`: a resolved case holds no capacity; reopen it first"),
        )
    };
    if let Some(status) = resolved(&store, &snapshot, &id, now).await? {
        return Err(refuse_resolved(status));
    }
    let case = case_of(serde_json::from_str(&record.case_json).unwrap_or(Value::Null))?;
    let mut live = live_agents(&store, &snapshot, at).await?;
    let mut full = Vec::new();
    for _ in 0..MAX_TRIES {
        let directory = snapshot.directory.with_agent_state(|a| {
            live.get(a.id.as_str()).map(|s| (s.load, presence_of(&s.presence).unwrap_or(Presence::Offline)))
        });
        let decision = triage_core::triage(&snapshot.rules, &case, &directory, now, &triage_core::Options::default());
        let (Some(agent), Some(plan)) = (decision.agent.clone(), decision.assignment.clone()) else {
            let outcome = match decision.routing() {
                Routing::ManualReview => "manual_review",
                Routing::Queued => "queued",
                Routing::Deflected => "deflected",
                Routing::NoTeam | Routing::Assigned => "no_team",
            };
            return json_answer(
                &snapshot,
                &json!({ "case_id": id, "outcome": outcome, "queue": decision.queue, "team": decision.team,
                         "full": full, "decision": decision }),
            );
        };
        match store.reserve(&id, agent.as_str(), plan.units, at).await.map_err(failed)? {
            Reservation::Reserved => {
                // A stop status that landed while this was decided: its
                // request released before these units were held, so give
                // them back here (the events are stored before the release,
                // and read again after the reservation, so one of the two
                // sees the other).
                if let Some(status) = resolved(&store, &snapshot, &id, now).await? {
                    store.release(&id, at).await.map_err(failed)?;
                    return Err(refuse_resolved(status));
                }
                return json_answer(
                    &snapshot,
                    &json!({
                        "case_id": id,
                        "outcome": "assigned",
                        "assignment": { "agent": agent, "units": plan.units, "team": plan.team, "at": instant(at) },
                        "full": full,
                        "decision": decision,
                    }),
                );
            }
            Reservation::AlreadyAssigned(held) => return already_assigned(&snapshot, &id, &held),
            Reservation::NoRoom => {
                // Another request (here or on another replica) took the
                // room first: the loads have moved on, and this agent is
                // full as far as this case goes.
                full.push(agent.to_string());
                live = live_agents(&store, &snapshot, at).await?;
                for id in &full {
                    if let Some(s) = live.get_mut(id.as_str()) {
                        s.load = s.capacity;
                    }
                }
            }
        }
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "assignment-contended",
        "Other assignments kept taking the room first",
        format!("{MAX_TRIES} agents filled up while this case was being placed; retry"),
    ))
}

/// `DELETE /v1/cases/{id}/assignment`.
pub(crate) async fn release_case(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Params>, QueryRejection>,
) -> Answer {
    let id = case_id(p)?;
    let q = Params::read(q, &["now"])?;
    let store = store(&state)?;
    let snapshot = crate::routes::live(&state)?;
    if store.history(&id).await.map_err(failed)?.is_none() {
        return Err(unknown(&id));
    }
    let released = store.release(&id, q.now()?.timestamp_millis()).await.map_err(failed)?;
    let released = released.map(|a| json!({ "agent": a.agent_id, "units": a.units, "at": instant(a.at) }));
    json_answer(&snapshot, &json!({ "case_id": id, "released": released }))
}

fn agent_json(a: &AgentState) -> Value {
    json!({ "agent_id": a.id, "presence": a.presence, "load": a.load, "capacity": a.capacity })
}

/// `PUT /v1/agents/{id}/presence` with `{"presence": "online" | "away" | "offline"}`.
pub(crate) async fn set_presence(
    State(state): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<Params>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let id = path_id(p, "invalid-agent-id", "The agent id in the path is not valid", "agent")?;
    // The request's own problems first, then whether the service keeps cases.
    let (snapshot, q, bytes) = inputs(&state, q, b, &["now"])?;
    let store = store(&state)?.clone();
    let bad = |detail: String| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-presence", "The presence is not valid", detail)
            .at("presence")
    };
    let body = json_value(&bytes)?;
    let presence = match &body {
        Value::Object(m) if m.len() == 1 => m.get("presence").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| bad("send {\"presence\": \"online\" | \"away\" | \"offline\"}".into()))?;
    let Some(p) = presence_of(presence) else {
        return Err(bad(format!("`{presence}` is not `online`, `away` or `offline`")));
    };
    if !snapshot.directory.agents().iter().any(|a| a.id.as_str() == id) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-agent",
            "The directory has no such agent",
            format!("agent `{id}` is not in the served directory; add it there first"),
        ));
    }
    let at = q.now()?.timestamp_millis();
    // Brings the agent into the store first, then sets what it shows.
    let mut live = live_agents(&store, &snapshot, at).await?;
    store.set_presence(&id, presence_name(p), at).await.map_err(failed)?;
    let agent = live.get_mut(&id).map_or(Value::Null, |a| {
        a.presence = presence_name(p).to_string();
        agent_json(a)
    });
    json_answer(&snapshot, &agent)
}

/// `GET /v1/agents`: every agent of the served directory, live.
pub(crate) async fn agents(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    let store = store(&state)?;
    let snapshot = crate::routes::live(&state)?;
    let live = live_agents(store, &snapshot, Utc::now().timestamp_millis()).await?;
    let served: Vec<Value> =
        snapshot.directory.agents().iter().filter_map(|a| live.get(a.id.as_str())).map(agent_json).collect();
    json_answer(&snapshot, &json!({ "agents": served }))
}

/// Most records `GET /v1/escalations` reads.
const MAX_RECORDS: i64 = 10_000;

/// `GET /v1/escalations`: the escalation records opened for tracked cases
/// and not closed, highest risk first (as `triage escalate --report`).
pub(crate) async fn escalations(State(state): State<AppState>, q: Result<Query<Params>, QueryRejection>) -> Answer {
    Params::read(q, &[])?;
    let store = store(&state)?;
    let snapshot = crate::routes::live(&state)?;
    let entries = store.outbox_of_kind("open_escalation", MAX_RECORDS).await.map_err(failed)?;
    let records: Vec<triage_core::EscalationRecord> = entries
        .iter()
        .filter_map(|e| {
            let body: Value = serde_json::from_str(&e.action.payload_json).ok()?;
            serde_json::from_value(body["action"]["record"].clone()).ok()
        })
        .collect();
    let open = triage_core::escalation_report(&records);
    json_answer(&snapshot, &json!({ "count": open.len(), "records": open }))
}
