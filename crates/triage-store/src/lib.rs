//! The decision service's durable state: each tracked case's history and
//! next check, the outbox of fired actions and their delivery, each agent's
//! live load and presence, and open assignments.
//!
//! Two backends over one schema and one set of migrations
//! (`migrations/`), through sqlx's `Any` driver:
//!
//! - **SQLite**, embedded, the default: one file (`triage.db`) in a data
//!   directory, in WAL mode. The store keeps a single connection, so its
//!   writes never wait on one another inside SQLite (no `SQLITE_BUSY`);
//!   one process owns the file.
//! - **PostgreSQL**, for several replicas sharing one database: claims use
//!   `FOR UPDATE SKIP LOCKED`, and capacity is reserved by a conditional
//!   update, so two replicas never both take an agent's last unit.
//!
//! All SQL of the project lives in this crate. Instants are milliseconds
//! since 1970-01-01 UTC ([`Millis`]); the store reads no clock, the caller
//! passes `now`. JSON documents (cases, events, action payloads) are text the
//! caller writes and reads.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::Path;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// The migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres://`.
    #[error("`{0}` is not a database URL this service takes (sqlite:PATH or postgres://…)")]
    Url(String),
    /// The database could not be reached or opened.
    #[error("the database could not be opened: {0}")]
    Open(String),
    /// The schema could not be brought up to date.
    #[error("the database schema could not be brought up to date: {0}")]
    Migrate(String),
    /// The case is not tracked (events and actions need it opened first).
    #[error("case `{0}` is not tracked")]
    UnknownCase(String),
    /// Any other database failure.
    #[error("a database operation failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which database the store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The data directory's lock (`open_dir`), held while the store lives.
    _lock: Option<std::sync::Arc<std::fs::File>>,
}

/// An event to append: the caller's id for it (what makes a retry add
/// nothing) and its JSON (a `CaseState` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event's id, unique within its case.
    pub id: String,
    /// The event as JSON.
    pub json: String,
}

/// An event as stored: its place in the case's history (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event's id.
    pub id: String,
    /// Its place in the history, from 1.
    pub seq: i64,
    /// The event as JSON.
    pub json: String,
}

/// What an append did: the ids it stored, and those it had already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// Ids stored by this call, in order.
    pub added: Vec<String>,
    /// Ids already in the history (a retried request), left as they were.
    pub repeated: Vec<String>,
}

/// A case to start tracking with [`Store::record`]: the case as JSON,
/// what duplicate and incident detection found for it (a JSON object, see
/// `triage_core::Related`), if anything, and the actions deciding it fired
/// (an `incident_suspected`), to deliver.
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    /// The case as JSON.
    pub case_json: &'a str,
    /// What was found, as JSON.
    pub related_json: Option<&'a str>,
    /// Actions to enqueue with it (each stored once by its key).
    pub actions: &'a [NewAction],
}

/// What [`Store::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored: whether the case was opened by this call, and the events.
    Stored {
        /// Whether this call started tracking the case.
        opened: bool,
        /// The events stored and those the case had already.
        appended: Appended,
        /// The keys of the opening's actions this call enqueued.
        enqueued: Vec<String>,
    },
    /// Nothing was stored: the case changed since its history was read
    /// (another request opened it or added events). Read it again, check
    /// the request against it again, and retry.
    Changed,
}

/// A fired action to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    /// The action's idempotency key: stored once, whatever the retries.
    pub key: String,
    /// The case it belongs to.
    pub case_id: String,
    /// Its kind (`notify`, `swarm`, `reassign`…).
    pub kind: String,
    /// Who or where it goes (`#channel`, a team, an address).
    pub target: String,
    /// When it may be delivered, not before.
    pub due: Millis,
    /// The action as JSON, as it is delivered.
    pub payload_json: String,
}

/// Delivery state of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not delivered yet (waiting for its due time, a retry, or a sink).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up after the last allowed attempt (dead letter).
    Dead,
}

impl Delivery {
    /// The state as stored and shown: `pending`, `delivered`, `dead`.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Delivered => "delivered",
            Delivery::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Delivery {
        match s {
            "delivered" => Delivery::Delivered,
            "dead" => Delivery::Dead,
            _ => Delivery::Pending,
        }
    }
}

/// An outbox entry: the action as stored, and its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The action, as enqueued.
    pub action: NewAction,
    /// Its place among the case's actions, from 1.
    pub seq: i64,
    /// Delivery state.
    pub state: Delivery,
    /// Delivery attempts made.
    pub attempts: i64,
    /// When the next attempt may be made.
    pub next_attempt: Millis,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered: Option<Millis>,
}

/// A case as tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    /// The case id.
    pub id: String,
    /// The case as opened, JSON.
    pub case_json: String,
    /// When it was opened in the store.
    pub opened: Millis,
    /// When the scheduler replays it next (`None`: nothing more to check).
    pub next_check: Option<Millis>,
    /// Its history, oldest first.
    pub events: Vec<StoredEvent>,
    /// Its actions, in order.
    pub actions: Vec<OutboxEntry>,
    /// The agent it holds capacity of.
    pub assignment: Option<Assignment>,
}

/// An open assignment: `units` of `agent_id`'s capacity held by a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The case.
    pub case_id: String,
    /// The agent.
    pub agent_id: String,
    /// Capacity units held.
    pub units: i64,
    /// When it was made.
    pub at: Millis,
}

/// An agent's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    /// The agent id (as in the directory).
    pub id: String,
    /// Capacity in units (from the directory).
    pub capacity: i64,
    /// Units held by open assignments.
    pub load: i64,
    /// `online`, `away` or `offline`.
    pub presence: String,
}

/// The outcome of [`Store::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The units are the case's; the agent's load went up by them.
    Reserved,
    /// The agent has no room for the units (or is not in the store).
    NoRoom,
    /// The case already holds an assignment (this one), left as it is.
    AlreadyAssigned(Assignment),
}

impl Store {
    /// Opens (creating it if needed) the embedded store in `dir`: the file
    /// `dir/triage.db`, brought up to the current schema.
    ///
    /// # Errors
    /// When the directory or file cannot be created or opened, or the
    /// schema cannot be migrated.
    pub async fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let file = dir.join("triage.db");
        Store::connect(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    /// Connects to `url` (`sqlite:PATH…` or `postgres://…`) and brings its
    /// schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Url`] for another scheme; [`StoreError::Open`] when the
    /// database cannot be reached; [`StoreError::Migrate`] when the schema
    /// cannot be migrated.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Url(url.split('@').next_back().unwrap_or_default().to_string()));
        };
        let options = match backend {
            Backend::Sqlite => AnyPoolOptions::new().max_connections(1).after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in
                        ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA busy_timeout = 10000"]
                    {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let mut lock = None;
        if backend == Backend::Sqlite {
            // One process per database file: a second would contend for its
            // write lock on every request, and each would take back the
            // other's leases at start.
            let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !path.is_empty() && !path.contains(":memory:") {
                if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Open(format!("{}: {e}", parent.display())))?;
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(format!("{path}.lock"))
                    .map_err(|e| StoreError::Open(format!("{path}.lock: {e}")))?;
                if file.try_lock().is_err() {
                    return Err(StoreError::Open(format!(
                        "another process is using the database {path} (one service per SQLite file; use PostgreSQL \
                         for several)"
                    )));
                }
                lock = Some(std::sync::Arc::new(file));
            }
            // One plain connection first: a file that is not a database is
            // named at once, not after the pool's retries.
            use sqlx::Connection as _;
            let mut probe = sqlx::AnyConnection::connect(url).await.map_err(|e| StoreError::Open(e.to_string()))?;
            sqlx::query("SELECT COUNT(*) FROM sqlite_master")
                .execute(&mut probe)
                .await
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let _ = probe.close().await;
        }
        let options = options.acquire_timeout(std::time::Duration::from_secs(10));
        let pool = options.connect(url).await.map_err(|e| StoreError::Open(e.to_string()))?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Migrate(e.to_string()))?;
        if lock.is_some() {
            // This process alone uses the file: leases left by one that
            // died (SIGKILL mid-delivery) are its own to take back at once,
            // not after they run out.
            for table in ["cases", "outbox"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner IS NOT NULL"
                ))
                .execute(&pool)
                .await?;
            }
        }
        Ok(Store { pool, backend, _lock: lock })
    }

    /// Creates an empty PostgreSQL database `name` (dropping one of that
    /// name first) on the server `url` points at, and returns its URL:
    /// for tests and benchmarks that each want a database of their own.
    ///
    /// # Errors
    /// When `name` is not a plain identifier (letters, digits, `_`), or the
    /// server refuses.
    pub async fn create_database(url: &str, name: &str) -> Result<String, StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Url(format!("database name `{name}`")));
        }
        sqlx::any::install_default_drivers();
        let admin = AnyPool::connect(url).await.map_err(|e| StoreError::Open(e.to_string()))?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
        admin.close().await;
        let base = url.split('?').next().unwrap_or(url);
        let (server, _) = base.rsplit_once('/').unwrap_or((base, ""));
        Ok(format!("{server}/{name}"))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so another process holding the file makes it
    /// wait (busy timeout 10 s) rather than fail mid-transaction.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Locks a tracked case's row in `tx` and reads the last `seq` of its
    /// rows in `table` (`events` or `outbox`; 0 when none).
    async fn last_seq(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        table: &'static str,
        case_id: &str,
    ) -> Result<i64, StoreError> {
        let lock = format!("SELECT id FROM cases WHERE id = $1{}", self.for_update(false));
        if sqlx::query(&lock).bind(case_id).fetch_optional(&mut **tx).await?.is_none() {
            return Err(StoreError::UnknownCase(case_id.to_string()));
        }
        let last = format!("SELECT COALESCE(MAX(seq), 0) AS last FROM {table} WHERE case_id = $1");
        Ok(sqlx::query(&last).bind(case_id).fetch_one(&mut **tx).await?.try_get("last")?)
    }

    /// `FOR UPDATE` on PostgreSQL (row locks); nothing on SQLite, whose one
    /// connection already runs one transaction at a time.
    fn for_update(&self, skip_locked: bool) -> &'static str {
        match (self.backend, skip_locked) {
            (Backend::Sqlite, _) => "",
            (Backend::Postgres, false) => " FOR UPDATE",
            (Backend::Postgres, true) => " FOR UPDATE SKIP LOCKED",
        }
    }

    // ------------------------------------------------------------ cases

    /// Starts tracking a case. Returns `false` (and changes nothing) when it
    /// is tracked already.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn open_case(&self, id: &str, case_json: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO cases (id, case_json, opened_ms, updated_ms) VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(case_json)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps what duplicate and incident detection found when a tracked
    /// case was first decided (a JSON object, see `triage_core::Related`),
    /// replacing what was kept before.
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`] when the case is not tracked; a database
    /// failure.
    pub async fn set_related(&self, id: &str, related_json: &str, now: Millis) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE cases SET related_json = $2, updated_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(related_json)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownCase(id.to_string()));
        }
        Ok(())
    }

    /// What [`Store::set_related`] kept for a case (`None`: nothing, or the
    /// case is not tracked).
    ///
    /// # Errors
    /// On a database failure.
    pub async fn related(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT related_json FROM cases WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>("related_json")?,
            None => None,
        })
    }

    /// Opens a case (when `open` is given) and appends events to its
    /// history, all in one transaction, provided the history is still the
    /// one the caller checked the request against: the case was not tracked
    /// (`open` given) or held exactly `expected_events` events (`open` not
    /// given). Otherwise nothing is stored and the answer is
    /// [`Recorded::Changed`]. Two requests racing to open one case, or to
    /// add to it, so never both pass their checks on a history that the
    /// other then changes; and a crash stores the case with all of the
    /// request's events or with none.
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`] when `open` is not given and the case is
    /// not tracked; a database failure.
    pub async fn record(
        &self,
        id: &str,
        open: Option<Opening<'_>>,
        expected_events: usize,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.write().await?;
        let mut opened = false;
        if let Some(o) = open {
            let done = sqlx::query(
                "INSERT INTO cases (id, case_json, related_json, opened_ms, updated_ms) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(o.case_json)
            .bind(o.related_json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            opened = done.rows_affected() == 1;
            if !opened {
                return Ok(Recorded::Changed);
            }
        }
        let seq = self.last_seq(&mut tx, "events", id).await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM events WHERE case_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if usize::try_from(count).ok() != Some(expected_events) {
            return Ok(Recorded::Changed);
        }
        let appended = Self::insert_events(&mut tx, id, seq, events, now).await?;
        let enqueued = match open {
            Some(o) => self.enqueue_in(&mut tx, o.actions, now).await?,
            None => Vec::new(),
        };
        tx.commit().await?;
        Ok(Recorded::Stored { opened, appended, enqueued })
    }

    /// Appends events to a tracked case's history, in order; an event whose
    /// id the case has already is left out (and listed as repeated).
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`] when the case is not tracked; a database
    /// failure.
    pub async fn append_events(&self, case_id: &str, events: &[NewEvent], now: Millis) -> Result<Appended, StoreError> {
        let mut tx = self.write().await?;
        let seq = self.last_seq(&mut tx, "events", case_id).await?;
        let appended = Self::insert_events(&mut tx, case_id, seq, events, now).await?;
        tx.commit().await?;
        Ok(appended)
    }

    /// Inserts events after `seq` in `tx` (an id the case has is left out
    /// and listed as repeated) and marks the case updated.
    async fn insert_events(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        case_id: &str,
        mut seq: i64,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<Appended, StoreError> {
        let mut appended = Appended::default();
        for event in events {
            let done = sqlx::query(
                "INSERT INTO events (case_id, event_id, seq, event_json, stored_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (case_id, event_id) DO NOTHING",
            )
            .bind(case_id)
            .bind(&event.id)
            .bind(seq + 1)
            .bind(&event.json)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 1 {
                seq += 1;
                appended.added.push(event.id.clone());
            } else {
                appended.repeated.push(event.id.clone());
            }
        }
        sqlx::query("UPDATE cases SET updated_ms = $2 WHERE id = $1")
            .bind(case_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(appended)
    }

    /// A tracked case with its history, actions and assignment.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn case(&self, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, case_json, opened_ms, next_check_ms FROM cases WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let events = self.events_of(id).await?;
        let actions = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE case_id = $1 ORDER BY seq"))
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(outbox_entry)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let assignment = self.assignment(id).await?;
        Ok(Some(CaseRecord {
            id: row.try_get("id")?,
            case_json: row.try_get("case_json")?,
            opened: row.try_get("opened_ms")?,
            next_check: row.try_get("next_check_ms")?,
            events,
            actions,
            assignment,
        }))
    }

    /// The cases opened at or after `since`, oldest first (then by id):
    /// `(id, case JSON, opened)`, at most `limit` of them (the newest when
    /// there are more). What a restarted service compares new cases with.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn cases_opened_since(
        &self,
        since: Millis,
        limit: i64,
    ) -> Result<Vec<(String, String, Millis)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_json, opened_ms FROM cases WHERE opened_ms >= $1 ORDER BY opened_ms DESC, id DESC LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("case_json")?, r.try_get("opened_ms")?)))
            .collect::<Result<Vec<(String, String, Millis)>, sqlx::Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// A case's events in the order they were appended.
    async fn events_of(&self, id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(sqlx::query("SELECT event_id, seq, event_json FROM events WHERE case_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(StoredEvent { id: r.try_get("event_id")?, seq: r.try_get("seq")?, json: r.try_get("event_json")? })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// A tracked case's history: the case as opened and its events in the
    /// order they were appended (`None`: not tracked). Lighter than
    /// [`Store::case`], which reads the outbox and assignment too.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn history(&self, id: &str) -> Result<Option<(String, Vec<StoredEvent>)>, StoreError> {
        let Some(row) =
            sqlx::query("SELECT case_json FROM cases WHERE id = $1").bind(id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let events = self.events_of(id).await?;
        Ok(Some((row.try_get("case_json")?, events)))
    }

    /// Sets when the scheduler replays the case next (`None`: never) and
    /// ends any lease on it.
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`]; a database failure.
    pub async fn set_next_check(&self, id: &str, next: Option<Millis>, now: Millis) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE cases SET next_check_ms = $2, lease_owner = NULL, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownCase(id.to_string()));
        }
        Ok(())
    }

    /// The earliest next check of any case: when the scheduler should wake.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn next_check(&self) -> Result<Option<Millis>, StoreError> {
        let row = sqlx::query("SELECT MIN(next_check_ms) AS next FROM cases WHERE next_check_ms IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("next")?)
    }

    /// Claims up to `limit` cases due at `now` (earliest first) for `owner`
    /// until `now + lease`: a case leased to another replica is skipped
    /// until its lease runs out (the replica died, say). The owner replays
    /// each and calls [`Store::set_next_check`], which ends the lease.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn claim_due_cases(
        &self,
        owner: &str,
        now: Millis,
        lease: Millis,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "UPDATE cases SET lease_owner = $1, lease_until_ms = $2 WHERE id IN (\
               SELECT id FROM cases WHERE next_check_ms IS NOT NULL AND next_check_ms <= $3 \
               AND (lease_until_ms IS NULL OR lease_until_ms <= $3) ORDER BY next_check_ms, id LIMIT $4{}) \
             RETURNING id",
            self.for_update(true)
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(now.saturating_add(lease))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut ids = rows.iter().map(|r| r.try_get::<String, _>("id")).collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        Ok(ids)
    }

    // ------------------------------------------------------------ outbox

    /// Stores fired actions in the outbox; an action whose key is there
    /// already is left as it is. Returns the keys stored by this call.
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`] when an action's case is not tracked; a
    /// database failure (then nothing is stored).
    pub async fn enqueue(&self, actions: &[NewAction], now: Millis) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write().await?;
        let stored = self.enqueue_in(&mut tx, actions, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// What a replay of case `id` gave, stored in one transaction: its
    /// actions put in the outbox (as [`Store::enqueue`]) and its next check
    /// set, ending any lease (as [`Store::set_next_check`]). Returns the
    /// keys new to the outbox.
    ///
    /// # Errors
    /// [`StoreError::UnknownCase`]; a database failure (then nothing is
    /// stored).
    pub async fn record_replay(
        &self,
        id: &str,
        actions: &[NewAction],
        next: Option<Millis>,
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write().await?;
        let stored = self.enqueue_in(&mut tx, actions, now).await?;
        let done = sqlx::query(
            "UPDATE cases SET next_check_ms = $2, lease_owner = NULL, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(next)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownCase(id.to_string()));
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn enqueue_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        actions: &[NewAction],
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        let mut stored = Vec::new();
        // Each case's last place, read (and the case locked) once.
        let mut last_of = std::collections::BTreeMap::<&str, i64>::new();
        for action in actions {
            let last = match last_of.get(action.case_id.as_str()) {
                Some(last) => *last,
                None => self.last_seq(tx, "outbox", &action.case_id).await?,
            };
            let done = sqlx::query(
                "INSERT INTO outbox (action_key, case_id, seq, kind, target, due_ms, payload_json, state, attempts, \
                 next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $6, $8) \
                 ON CONFLICT (action_key) DO NOTHING",
            )
            .bind(&action.key)
            .bind(&action.case_id)
            .bind(last + 1)
            .bind(&action.kind)
            .bind(&action.target)
            .bind(action.due)
            .bind(&action.payload_json)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let placed = done.rows_affected() == 1;
            if placed {
                stored.push(action.key.clone());
            }
            last_of.insert(&action.case_id, last + i64::from(placed));
        }
        Ok(stored)
    }

    /// Claims up to `limit` actions ready for delivery at `now` for `owner`
    /// until `now + lease`: pending, due, past their retry time, not leased
    /// to a live owner, and first in their case (an action waits while an
    /// earlier one of its case, by due time then order, is undelivered), so
    /// a case's actions are delivered in order.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_until_ms = $2 WHERE action_key IN (\
               SELECT o.action_key FROM outbox o WHERE o.state = 'pending' AND o.due_ms <= $3 \
               AND o.next_attempt_ms <= $3 AND (o.lease_until_ms IS NULL OR o.lease_until_ms <= $3) \
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id AND p.state = 'pending' \
                 AND (p.due_ms < o.due_ms OR (p.due_ms = o.due_ms AND p.seq < o.seq))) \
               ORDER BY o.due_ms, o.case_id, o.seq LIMIT $4{}) \
             RETURNING {OUTBOX_COLUMNS}",
            self.for_update(true)
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(now.saturating_add(lease))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut entries = rows.iter().map(outbox_entry).collect::<Result<Vec<_>, _>>()?;
        entries.sort_by(|a, b| (a.action.due, &a.action.case_id, a.seq).cmp(&(b.action.due, &b.action.case_id, b.seq)));
        Ok(entries)
    }

    /// Records a delivery. Returns `false` when `owner` no longer holds the
    /// action's lease (it ran out and another replica took it); the
    /// delivery happened anyway, and the other replica's will repeat it
    /// with the same idempotency key.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn delivered(&self, key: &str, owner: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_ms = $3, last_error = NULL, \
             lease_owner = NULL, lease_until_ms = NULL WHERE action_key = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(key)
        .bind(owner)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: the action is retried at `retry_at`, or
    /// becomes dead (a dead letter) when this was attempt `max_attempts`.
    /// Returns the state it is left in (`None`: `owner` no longer held it).
    ///
    /// # Errors
    /// On a database failure.
    pub async fn failed(
        &self,
        key: &str,
        owner: &str,
        error: &str,
        retry_at: Millis,
        max_attempts: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $3, next_attempt_ms = $4, \
             state = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END, \
             lease_owner = NULL, lease_until_ms = NULL \
             WHERE action_key = $1 AND lease_owner = $2 AND state = 'pending' RETURNING state",
        )
        .bind(key)
        .bind(owner)
        .bind(error)
        .bind(retry_at)
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Delivery::parse(&r.try_get::<String, _>("state")?)),
            None => None,
        })
    }

    /// When the next pending action can be delivered: for each action first
    /// in its case (as [`Store::claim_deliveries`] takes them), the latest
    /// of its due time, its retry time and the end of another owner's
    /// lease; the earliest of those. The delivery loop sleeps until then.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn next_delivery(&self) -> Result<Option<Millis>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN w.ready > COALESCE(w.lease_until_ms, 0) THEN w.ready \
                        ELSE w.lease_until_ms END) AS next FROM (\
               SELECT CASE WHEN o.next_attempt_ms > o.due_ms THEN o.next_attempt_ms ELSE o.due_ms END AS ready, \
                      o.lease_until_ms FROM outbox o WHERE o.state = 'pending' \
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id AND p.state = 'pending' \
                 AND (p.due_ms < o.due_ms OR (p.due_ms = o.due_ms AND p.seq < o.seq)))) w",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("next")?)
    }

    /// Sends dead letters (of `case_id`, or all) back to pending with no
    /// attempts, to be delivered from `now`: after a broken sink is fixed.
    /// Returns how many.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn redeliver_dead(&self, case_id: Option<&str>, now: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = $1, lease_owner = NULL, \
             lease_until_ms = NULL WHERE state = 'dead' AND ($2 = '' OR case_id = $2)",
        )
        .bind(now)
        .bind(case_id.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every outbox entry of `kind` (say `open_escalation`), in any state,
    /// oldest due first, at most `limit`.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn outbox_of_kind(&self, kind: &str, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE kind = $1 ORDER BY due_ms, case_id, seq LIMIT $2");
        let rows = sqlx::query(&sql).bind(kind).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(outbox_entry).collect::<Result<Vec<_>, _>>()?)
    }

    /// Outbox entries in `state`, oldest due first, at most `limit`.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn outbox(&self, state: Delivery, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql =
            format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = $1 ORDER BY due_ms, case_id, seq LIMIT $2");
        let rows = sqlx::query(&sql).bind(state.name()).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(outbox_entry).collect::<Result<Vec<_>, _>>()?)
    }

    /// How many outbox entries are in each state: `(pending, delivered, dead)`.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn outbox_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state").fetch_all(&self.pool).await?;
        let mut counts = (0, 0, 0);
        for row in &rows {
            let n: i64 = row.try_get("n")?;
            match Delivery::parse(&row.try_get::<String, _>("state")?) {
                Delivery::Pending => counts.0 = n,
                Delivery::Delivered => counts.1 = n,
                Delivery::Dead => counts.2 = n,
            }
        }
        Ok(counts)
    }

    // ------------------------------------------------------------ agents

    /// Makes the store know an agent with `capacity` (from the directory):
    /// added with no load and `presence` (the directory's), or its capacity
    /// updated (load and live presence kept).
    ///
    /// # Errors
    /// On a database failure.
    pub async fn sync_agent(&self, id: &str, capacity: i64, presence: &str, now: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agents (id, capacity, load_units, presence, updated_ms) VALUES ($1, $2, 0, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET capacity = excluded.capacity, updated_ms = excluded.updated_ms",
        )
        .bind(id)
        .bind(capacity)
        .bind(presence)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets an agent's presence. Returns `false` when the agent is unknown.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn set_presence(&self, id: &str, presence: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE agents SET presence = $2, updated_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(presence)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every agent's live state, by id.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn agents(&self) -> Result<Vec<AgentState>, StoreError> {
        let rows = sqlx::query("SELECT id, capacity, load_units, presence FROM agents ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(AgentState {
                    id: r.try_get("id")?,
                    capacity: r.try_get("capacity")?,
                    load: r.try_get("load_units")?,
                    presence: r.try_get("presence")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// Reserves `units` of `agent_id`'s capacity for `case_id`: the agent's
    /// load goes up only if it stays within capacity (one conditional
    /// update, so concurrent reservations, from any replica, can never
    /// both take the last units), and the case may hold one assignment.
    ///
    /// # Errors
    /// On a database failure (then nothing changed).
    pub async fn reserve(
        &self,
        case_id: &str,
        agent_id: &str,
        units: i64,
        now: Millis,
    ) -> Result<Reservation, StoreError> {
        if let Some(existing) = self.assignment(case_id).await? {
            return Ok(Reservation::AlreadyAssigned(existing));
        }
        let mut tx = self.write().await?;
        let taken = sqlx::query(
            "UPDATE agents SET load_units = load_units + $2, updated_ms = $3 \
             WHERE id = $1 AND load_units + $2 <= capacity",
        )
        .bind(agent_id)
        .bind(units)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Reservation::NoRoom);
        }
        let held = sqlx::query(
            "INSERT INTO assignments (case_id, agent_id, units, at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(agent_id)
        .bind(units)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            // Another request assigned the case meanwhile: give the units back.
            tx.rollback().await?;
            return match self.assignment(case_id).await? {
                Some(existing) => Ok(Reservation::AlreadyAssigned(existing)),
                None => Ok(Reservation::NoRoom),
            };
        }
        tx.commit().await?;
        Ok(Reservation::Reserved)
    }

    /// Ends a case's assignment and gives its units back to the agent.
    /// Returns the assignment ended (`None`: the case held none).
    ///
    /// # Errors
    /// On a database failure (then nothing changed).
    pub async fn release(&self, case_id: &str, now: Millis) -> Result<Option<Assignment>, StoreError> {
        let mut tx = self.write().await?;
        let Some(row) =
            sqlx::query("DELETE FROM assignments WHERE case_id = $1 RETURNING case_id, agent_id, units, at_ms")
                .bind(case_id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let ended = assignment(&row)?;
        sqlx::query(
            "UPDATE agents SET load_units = CASE WHEN load_units >= $2 THEN load_units - $2 ELSE 0 END, \
             updated_ms = $3 WHERE id = $1",
        )
        .bind(&ended.agent_id)
        .bind(ended.units)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// The case's open assignment.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn assignment(&self, case_id: &str) -> Result<Option<Assignment>, StoreError> {
        let row = sqlx::query("SELECT case_id, agent_id, units, at_ms FROM assignments WHERE case_id = $1")
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(assignment(&r)?),
            None => None,
        })
    }
}

const OUTBOX_COLUMNS: &str = "action_key, case_id, seq, kind, target, due_ms, payload_json, state, attempts, \
                              next_attempt_ms, last_error, delivered_ms";

fn outbox_entry(r: &AnyRow) -> Result<OutboxEntry, sqlx::Error> {
    Ok(OutboxEntry {
        action: NewAction {
            key: r.try_get("action_key")?,
            case_id: r.try_get("case_id")?,
            kind: r.try_get("kind")?,
            target: r.try_get("target")?,
            due: r.try_get("due_ms")?,
            payload_json: r.try_get("payload_json")?,
        },
        seq: r.try_get("seq")?,
        state: Delivery::parse(&r.try_get::<String, _>("state")?),
        attempts: r.try_get("attempts")?,
        next_attempt: r.try_get("next_attempt_ms")?,
        last_error: r.try_get("last_error")?,
        delivered: r.try_get("delivered_ms")?,
    })
}

fn assignment(r: &AnyRow) -> Result<Assignment, sqlx::Error> {
    Ok(Assignment {
        case_id: r.try_get("case_id")?,
        agent_id: r.try_get("agent_id")?,
        units: r.try_get("units")?,
        at: r.try_get("at_ms")?,
    })
}
