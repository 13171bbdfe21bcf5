//! The scheduler: replays each tracked case when its next check falls due
//! and puts what fired in the outbox, so escalations happen on time without
//! anyone asking.
//!
//! It wakes at the earliest next check in the store (not on a polling
//! grid), or when a request changed a case, or after [`IDLE`] at most
//! (other replicas add cases too). It claims due cases with a lease
//! ([`LEASE`]): a replica that dies mid-claim loses them when the lease
//! runs out, and another finishes the work. Time comes from a [`Clock`]:
//! the system's, or a [`TestClock`] a test moves by hand.

use crate::AppState;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Where the service reads the time (the core never does).
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
    /// Completes at `at`, at once when it has passed.
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told: tests drive the scheduler with it.
#[derive(Debug, Clone)]
pub struct TestClock {
    now: Arc<tokio::sync::watch::Sender<DateTime<Utc>>>,
}

impl TestClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        TestClock { now: Arc::new(tokio::sync::watch::Sender::new(at)) }
    }

    /// Moves the clock to `at` (never back).
    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let later = at > *now;
            if later {
                *now = at;
            }
            later
        });
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut moves = self.now.subscribe();
        Box::pin(async move {
            while *moves.borrow_and_update() < at {
                if moves.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// How long a replica holds the cases it claimed.
pub const LEASE: Duration = Duration::from_secs(60);

/// The longest the scheduler waits before looking again.
pub const IDLE: Duration = Duration::from_secs(5);

/// Cases claimed at a time.
const CLAIM: i64 = 100;

/// Claimed cases replayed at once.
const REPLAYS_AT_ONCE: usize = 8;

/// Runs the scheduler of `state` as replica `owner`, holding what it claims
/// for `lease` ([`LEASE`] by default), until the task is dropped; returns at
/// once when the service keeps no store.
pub async fn run_scheduler(state: AppState, clock: Arc<dyn Clock>, owner: String, lease: Duration) {
    let Some(store) = state.store().cloned() else { return };
    let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let idle = chrono::Duration::from_std(IDLE).unwrap_or_default();
    loop {
        let now = clock.now();
        let claimed = match store.claim_due_cases(&owner, now.timestamp_millis(), lease, CLAIM).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "the scheduler could not claim due cases; retrying");
                clock.sleep_until(now + chrono::Duration::seconds(1)).await;
                continue;
            }
        };
        if let Some(snapshot) = state.snapshot() {
            // Cases replay independently: several at once (on PostgreSQL
            // each waits mostly on the database).
            let mut running = tokio::task::JoinSet::new();
            for id in claimed.clone() {
                if running.len() >= REPLAYS_AT_ONCE {
                    running.join_next().await;
                }
                let (store, snapshot, state) = (store.clone(), snapshot.clone(), state.clone());
                running.spawn(async move {
                    let options = triage_core::Options::default();
                    match crate::cases::replay(&store, &snapshot, &id, now, &options).await {
                        Ok((_, enqueued)) => {
                            state.inner.metrics.scheduled(enqueued.len());
                            if !enqueued.is_empty() {
                                state.inner.deliver.notify_one();
                                tracing::info!(case = %id, actions = enqueued.len(), "actions fell due");
                            }
                        }
                        Err(problem) => {
                            // Not retried until the case changes: a history the
                            // rules cannot replay would otherwise spin.
                            tracing::warn!(case = %id, code = problem.code, "{}", problem.detail);
                            let _ = store.set_next_check(&id, None, now.timestamp_millis()).await;
                        }
                    }
                });
            }
            while running.join_next().await.is_some() {}
        }
        if i64::try_from(claimed.len()).unwrap_or(i64::MAX) >= CLAIM {
            continue;
        }
        let next = store.next_check().await.ok().flatten().and_then(DateTime::<Utc>::from_timestamp_millis);
        let after = clock.now();
        let wake_at = match next {
            Some(t) if t > after => t.min(after + idle),
            // Fell due while this pass ran, or after the claim looked:
            // at once.
            Some(t) if t > now || !claimed.is_empty() => continue,
            // Due, but leased to another replica: look again a second
            // later, not at once.
            Some(_) => after + chrono::Duration::seconds(1),
            None => after + idle,
        };
        tokio::select! {
            () = clock.sleep_until(wake_at) => {}
            () = state.inner.wake.notified() => {}
        }
    }
}
