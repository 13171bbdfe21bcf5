-- The service's durable state. One schema for SQLite and PostgreSQL: only
-- TEXT and BIGINT columns; instants are milliseconds since 1970-01-01 UTC;
-- JSON documents are TEXT written and read by the service.

-- Each case the service tracks: the case as opened, when the scheduler
-- should replay it next, and the lease of the replica replaying it now.
CREATE TABLE cases (
    id              TEXT PRIMARY KEY,
    case_json       TEXT NOT NULL,
    opened_ms       BIGINT NOT NULL,
    next_check_ms   BIGINT,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    updated_ms      BIGINT NOT NULL
);
CREATE INDEX cases_next_check ON cases (next_check_ms);

-- A case's history, in the order it was appended; an event id is taken
-- once per case, so a retried request adds nothing.
CREATE TABLE events (
    case_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event_json  TEXT NOT NULL,
    stored_ms   BIGINT NOT NULL,
    PRIMARY KEY (case_id, event_id)
);
CREATE UNIQUE INDEX events_order ON events (case_id, seq);

-- Fired actions waiting for, in, or done with delivery. The idempotency key
-- is the primary key: an action already there is never stored twice.
-- state: pending | delivered | dead.
CREATE TABLE outbox (
    action_key       TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    target           TEXT NOT NULL,
    due_ms           BIGINT NOT NULL,
    payload_json     TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until_ms   BIGINT,
    created_ms       BIGINT NOT NULL,
    delivered_ms     BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms);
CREATE INDEX outbox_case ON outbox (case_id, seq);

-- Each agent's live state; the directory file gives the static data.
CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    capacity    BIGINT NOT NULL,
    load_units  BIGINT NOT NULL,
    presence    TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

-- Open assignments: the units a case holds of an agent's capacity.
CREATE TABLE assignments (
    case_id   TEXT PRIMARY KEY,
    agent_id  TEXT NOT NULL,
    units     BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX assignments_agent ON assignments (agent_id);
