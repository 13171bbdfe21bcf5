//! The same suite against both backends: SQLite in a temporary directory,
//! always; PostgreSQL when `TRIAGE_TEST_POSTGRES` names a server to create
//! test databases on (`.ci/run` starts one and sets it). Without it the
//! PostgreSQL tests say so and pass.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::atomic::{AtomicUsize, Ordering};
use triage_store::{Appended, Delivery, NewAction, NewEvent, Opening, Recorded, Reservation, Store, StoreError};

/// A fresh SQLite store, and the directory that must outlive it.
async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open_dir(dir.path()).await.unwrap(), dir)
}

/// A fresh database on the PostgreSQL server of `TRIAGE_TEST_POSTGRES`.
async fn postgres() -> Option<Store> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Ok(url) = std::env::var("TRIAGE_TEST_POSTGRES") else {
        eprintln!("PostgreSQL NOT TESTED: set TRIAGE_TEST_POSTGRES=postgres://user@host/db (.ci/run does)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    let name = format!("triage_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    admin.close().await;
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(Store::connect(&format!("{base}/{name}")).await.unwrap())
}

fn event(id: &str, kind: &str) -> NewEvent {
    NewEvent { id: id.into(), json: format!(r#"{{"at": "2026-03-02T09:00:00Z", "kind": "{kind}"}}"#) }
}

fn action(key: &str, case: &str, due: i64) -> NewAction {
    NewAction {
        key: key.into(),
        case_id: case.into(),
        kind: "notify".into(),
        target: "#support".into(),
        due,
        payload_json: format!(r#"{{"key": "{key}"}}"#),
    }
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$name(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(store) = super::postgres().await {
                    super::$name(store).await;
                }
            }
        }
    };
}

both!(a_case_and_its_events_are_recorded_together_only_on_the_history_checked);
async fn a_case_and_its_events_are_recorded_together_only_on_the_history_checked(store: Store) {
    let swarm = [action("incident_suspected:r0", "r1", 1_000)];
    let open = Opening { case_json: r#"{"id": "r1"}"#, related_json: Some(r#"{"incident_size": 3}"#), actions: &swarm };
    let first = store.record("r1", Some(open), 0, &[event("e1", "created")], 1_000).await.unwrap();
    let added = Appended { added: vec!["e1".into()], repeated: vec![] };
    assert_eq!(
        first,
        Recorded::Stored { opened: true, appended: added, enqueued: vec!["incident_suspected:r0".into()] }
    );
    assert_eq!(store.related("r1").await.unwrap().as_deref(), Some(r#"{"incident_size": 3}"#));
    // Another request checked against "not tracked yet": it stores nothing.
    let late = Opening { case_json: r#"{"id": "r1", "other": true}"#, related_json: None, actions: &[] };
    assert_eq!(store.record("r1", Some(late), 0, &[event("e9", "created")], 2_000).await.unwrap(), Recorded::Changed);
    // One checked against an older history stores nothing either.
    assert_eq!(store.record("r1", None, 0, &[event("e2", "agent_replied")], 2_000).await.unwrap(), Recorded::Changed);
    let (case_json, events) = store.history("r1").await.unwrap().unwrap();
    assert_eq!((case_json.as_str(), events.len()), (r#"{"id": "r1"}"#, 1));
    // Checked against the history as it is: stored.
    let next = store.record("r1", None, 1, &[event("e2", "agent_replied")], 3_000).await.unwrap();
    assert!(matches!(next, Recorded::Stored { opened: false, .. }), "{next:?}");
    assert!(matches!(
        store.record("nope", None, 0, &[event("x", "created")], 0).await,
        Err(StoreError::UnknownCase(id)) if id == "nope"
    ));
}

both!(a_retried_append_adds_nothing_and_the_history_keeps_its_order);
async fn a_retried_append_adds_nothing_and_the_history_keeps_its_order(store: Store) {
    assert!(store.open_case("c1", r#"{"id": "c1"}"#, 1_000).await.unwrap());
    assert!(!store.open_case("c1", r#"{"id": "other"}"#, 2_000).await.unwrap(), "opened twice");
    let first =
        store.append_events("c1", &[event("e1", "created"), event("e2", "agent_replied")], 3_000).await.unwrap();
    assert_eq!(first.added, ["e1", "e2"]);
    // The same request again, and one more event.
    let retry = [event("e2", "agent_replied"), event("e3", "customer_replied")];
    let again = store.append_events("c1", &retry, 4_000).await.unwrap();
    assert_eq!((again.added, again.repeated), (vec!["e3".to_string()], vec!["e2".to_string()]));
    let record = store.case("c1").await.unwrap().unwrap();
    assert_eq!(record.case_json, r#"{"id": "c1"}"#);
    let order: Vec<(String, i64)> = record.events.iter().map(|e| (e.id.clone(), e.seq)).collect();
    assert_eq!(order, [("e1".into(), 1), ("e2".into(), 2), ("e3".into(), 3)]);
    assert!(matches!(
        store.append_events("nope", &[event("x", "created")], 0).await,
        Err(StoreError::UnknownCase(id)) if id == "nope"
    ));
    assert!(store.case("nope").await.unwrap().is_none());
    let (case_json, events) = store.history("c1").await.unwrap().unwrap();
    assert_eq!((case_json.as_str(), events.len()), (r#"{"id": "c1"}"#, 3));
    assert!(store.history("nope").await.unwrap().is_none());
    // What intake found is kept with the case, and replaced as a whole.
    assert_eq!(store.related("c1").await.unwrap(), None);
    store.set_related("c1", r#"{"incident_size": 6}"#, 4_500).await.unwrap();
    assert_eq!(store.related("c1").await.unwrap().as_deref(), Some(r#"{"incident_size": 6}"#));
    assert!(matches!(
        store.set_related("nope", "{}", 4_500).await,
        Err(StoreError::UnknownCase(id)) if id == "nope"
    ));
    // A replay's actions and next check land together, or not at all.
    assert_eq!(store.record_replay("c1", &[action("k1", "c1", 5)], Some(9_000), 5_000).await.unwrap(), ["k1"]);
    assert_eq!(store.next_check().await.unwrap(), Some(9_000));
    assert!(store.record_replay("c1", &[action("k1", "c1", 5)], None, 6_000).await.unwrap().is_empty());
    assert!(matches!(
        store.record_replay("nope", &[], Some(1), 7_000).await,
        Err(StoreError::UnknownCase(id)) if id == "nope"
    ));
}

both!(due_cases_are_claimed_once_until_their_lease_runs_out);
async fn due_cases_are_claimed_once_until_their_lease_runs_out(store: Store) {
    for (id, due) in [("a", Some(100)), ("b", Some(200)), ("c", Some(5_000)), ("d", None)] {
        store.open_case(id, "{}", 0).await.unwrap();
        store.set_next_check(id, due, 0).await.unwrap();
    }
    assert_eq!(store.next_check().await.unwrap(), Some(100));
    assert_eq!(store.claim_due_cases("r1", 1_000, 60_000, 10).await.unwrap(), ["a", "b"]);
    // Leased: another replica gets nothing until the lease runs out.
    assert!(store.claim_due_cases("r2", 2_000, 60_000, 10).await.unwrap().is_empty());
    // r1 finishes `a`; `b`'s owner died, so r2 takes it after the lease.
    store.set_next_check("a", Some(90_000), 2_500).await.unwrap();
    assert_eq!(store.claim_due_cases("r2", 61_000, 60_000, 10).await.unwrap(), ["b", "c"]);
    assert!(matches!(store.set_next_check("zz", None, 0).await, Err(StoreError::UnknownCase(_))));
}

both!(an_action_is_stored_once_and_delivered_in_order_per_case);
async fn an_action_is_stored_once_and_delivered_in_order_per_case(store: Store) {
    store.open_case("c1", "{}", 0).await.unwrap();
    store.open_case("c2", "{}", 0).await.unwrap();
    let stored = store
        .enqueue(&[action("c1-a", "c1", 100), action("c1-b", "c1", 100), action("c2-a", "c2", 50_000)], 10)
        .await
        .unwrap();
    assert_eq!(stored, ["c1-a", "c1-b", "c2-a"]);
    // A replay fires the same actions again: nothing new is stored.
    assert!(store.enqueue(&[action("c1-a", "c1", 100), action("c2-a", "c2", 50_000)], 20).await.unwrap().is_empty());
    assert!(matches!(store.enqueue(&[action("x", "nope", 0)], 0).await, Err(StoreError::UnknownCase(_))));

    assert_eq!(store.next_delivery().await.unwrap(), Some(100));
    assert_eq!(store.outbox_of_kind("notify", 10).await.unwrap().len(), 3);
    assert!(store.outbox_of_kind("swarm", 10).await.unwrap().is_empty());
    // Only the first of c1's is ready; c2's is not due.
    let ready = store.claim_deliveries("r1", 1_000, 30_000, 10).await.unwrap();
    assert_eq!(ready.iter().map(|e| e.action.key.as_str()).collect::<Vec<_>>(), ["c1-a"]);
    // It fails twice (retried after its backoff), then is delivered.
    assert_eq!(store.failed("c1-a", "r1", "503 from sink", 2_000, 5).await.unwrap(), Some(Delivery::Pending));
    assert!(store.claim_deliveries("r1", 1_500, 30_000, 10).await.unwrap().is_empty(), "retried before its time");
    // c1-b waits behind c1-a: the next delivery is c1-a's retry.
    assert_eq!(store.next_delivery().await.unwrap(), Some(2_000));
    let ready = store.claim_deliveries("r1", 2_000, 30_000, 10).await.unwrap();
    assert_eq!(ready[0].action.key, "c1-a");
    assert_eq!(ready[0].last_error.as_deref(), Some("503 from sink"));
    // The lease runs out: r2 takes it, and r1's late report is not counted.
    let taken = store.claim_deliveries("r2", 40_000, 30_000, 10).await.unwrap();
    assert_eq!(taken[0].action.key, "c1-a");
    assert!(!store.delivered("c1-a", "r1", 40_001).await.unwrap());
    assert!(store.delivered("c1-a", "r2", 40_002).await.unwrap());
    // Now c1-b is first in its case; c2-a comes when due.
    let ready = store.claim_deliveries("r2", 41_000, 30_000, 10).await.unwrap();
    assert_eq!(ready.iter().map(|e| e.action.key.as_str()).collect::<Vec<_>>(), ["c1-b"]);
    for attempt in 1..=3 {
        let left = store.failed("c1-b", "r2", "timeout", 0, 3).await.unwrap();
        let expected = if attempt == 3 { Delivery::Dead } else { Delivery::Pending };
        assert_eq!(left, Some(expected), "attempt {attempt}");
        store.claim_deliveries("r2", 41_000 + attempt, 30_000, 10).await.unwrap();
    }
    assert_eq!(store.outbox(Delivery::Dead, 10).await.unwrap()[0].attempts, 3);
    let ready = store.claim_deliveries("r2", 50_000, 30_000, 10).await.unwrap();
    assert_eq!(ready.iter().map(|e| e.action.key.as_str()).collect::<Vec<_>>(), ["c2-a"]);
    assert!(store.delivered("c2-a", "r2", 50_001).await.unwrap());
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 2, 1));
    let record = store.case("c1").await.unwrap().unwrap();
    let states: Vec<_> = record.actions.iter().map(|a| (a.action.key.as_str(), a.state)).collect();
    assert_eq!(states, [("c1-a", Delivery::Delivered), ("c1-b", Delivery::Dead)]);
}

both!(reservations_never_take_more_than_an_agents_capacity);
async fn reservations_never_take_more_than_an_agents_capacity(store: Store) {
    for id in ["ana", "ben", "chen"] {
        store.sync_agent(id, 5, "online", 0).await.unwrap();
    }
    // 60 cases race for 15 units, each trying the agents in turn.
    let mut tasks = Vec::new();
    for n in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let case = format!("case-{n}");
            for agent in ["ana", "ben", "chen"] {
                match store.reserve(&case, agent, 1, n).await.unwrap() {
                    Reservation::Reserved => return Some(agent),
                    Reservation::NoRoom => continue,
                    Reservation::AlreadyAssigned(a) => panic!("{case} already held {a:?}"),
                }
            }
            None
        }));
    }
    let mut placed = 0;
    for t in tasks {
        placed += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(placed, 15);
    let agents = store.agents().await.unwrap();
    assert!(agents.iter().all(|a| a.load == 5 && a.capacity == 5), "{agents:?}");
    // A case holds one assignment; releasing it gives the units back.
    let mut held = None;
    for n in 0..60 {
        let case = format!("case-{n}");
        if store.assignment(&case).await.unwrap().is_some() {
            held = Some(case);
            break;
        }
    }
    let held = held.unwrap();
    assert!(matches!(store.reserve(&held, "ana", 1, 99).await.unwrap(), Reservation::AlreadyAssigned(_)));
    let ended = store.release(&held, 100).await.unwrap().unwrap();
    assert_eq!(ended.units, 1);
    assert!(store.release(&held, 101).await.unwrap().is_none(), "released twice");
    let agents = store.agents().await.unwrap();
    assert_eq!(agents.iter().map(|a| a.load).sum::<i64>(), 14);
    assert_eq!(store.reserve("late", &ended.agent_id, 1, 102).await.unwrap(), Reservation::Reserved);
    assert_eq!(store.reserve("later", &ended.agent_id, 1, 103).await.unwrap(), Reservation::NoRoom);
    // Capacity follows the directory; load and presence stay.
    store.sync_agent("ana", 7, "online", 104).await.unwrap();
    assert!(store.set_presence("ana", "away", 105).await.unwrap());
    assert!(!store.set_presence("nobody", "away", 105).await.unwrap());
    let ana = store.agents().await.unwrap().into_iter().find(|a| a.id == "ana").unwrap();
    assert_eq!((ana.capacity, ana.load, ana.presence.as_str()), (7, 5, "away"));
}

#[tokio::test]
async fn the_embedded_store_keeps_everything_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_dir(dir.path()).await.unwrap();
        store.open_case("c1", "{}", 0).await.unwrap();
        store.append_events("c1", &[event("e1", "created")], 1).await.unwrap();
        store.enqueue(&[action("k1", "c1", 5)], 2).await.unwrap();
        store.close().await;
    }
    let store = Store::open_dir(dir.path()).await.unwrap();
    // One process (one store) per data directory.
    let second = Store::open_dir(dir.path()).await.unwrap_err();
    assert!(second.to_string().contains("another process is using the database"), "{second}");
    let by_url = Store::connect(&format!("sqlite://{}", dir.path().join("triage.db").display())).await.unwrap_err();
    assert!(by_url.to_string().contains("another process is using the database"), "{by_url}");
    let record = store.case("c1").await.unwrap().unwrap();
    assert_eq!((record.events.len(), record.actions.len()), (1, 1));
    assert!(dir.path().join("triage.db").is_file());
}

#[tokio::test]
async fn a_url_of_another_kind_is_refused_without_echoing_credentials() {
    let e = Store::connect("mysql://root:secret@db/triage").await.unwrap_err();
    assert!(matches!(e, StoreError::Url(_)));
    assert!(!e.to_string().contains("secret"), "{e}");
}
