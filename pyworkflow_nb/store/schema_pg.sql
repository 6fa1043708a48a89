-- pyworkflow_nb store on PostgreSQL, schema version 7: the tables, columns and views of
-- schema.sql (the DuckDB store's), so queries port between the two. Keys make concurrent
-- writers safe: a run's events are unique by (run_id, seq), a run by its id.

CREATE TABLE IF NOT EXISTS pw_meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);

-- PostgreSQL only: which process executes an unfinished run, until when. The owner renews
-- its leases while it lives; another process takes a run over once its lease expired.
CREATE TABLE IF NOT EXISTS leases (
    run_id     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS leases_owner ON leases (owner);

-- PostgreSQL only: messages (events, signals, cancels, ...) another process sent to a run;
-- the run's owner applies each one and deletes it in the commit of what it recorded.
CREATE TABLE IF NOT EXISTS inbox (
    id      BIGSERIAL PRIMARY KEY,
    run_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    name    TEXT,
    data    TEXT,
    sender  TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS inbox_run ON inbox (run_id);

-- PostgreSQL only: which process plays a role for the whole store (the scheduler: it alone
-- fires schedules), until when; renewed like a lease, taken over once expired.
CREATE TABLE IF NOT EXISTS roles (
    role       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    workflow        TEXT NOT NULL,
    version         TEXT,
    status          TEXT NOT NULL,
    input           JSON,
    result          JSON,
    error           JSON,
    parent_run_id   TEXT,
    schedule_id     TEXT,
    scheduled_at    TIMESTAMP,
    idempotency_key TEXT,
    created_at      TIMESTAMP NOT NULL,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL,
    continued_from  TEXT,
    forked_from     TEXT,
    attempt_of      TEXT
);

CREATE INDEX IF NOT EXISTS runs_status ON runs (status);

CREATE TABLE IF NOT EXISTS events (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    ts      TIMESTAMP NOT NULL,
    type    TEXT NOT NULL,
    step    TEXT,
    attempt INTEGER,
    data    JSON,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS workflows (
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    module     TEXT,
    source     TEXT,
    defined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS schedules (
    schedule_id  TEXT PRIMARY KEY,
    workflow     TEXT NOT NULL,
    status       TEXT NOT NULL,
    spec         JSON NOT NULL,
    input        JSON,
    note         TEXT,
    next_fire_at TIMESTAMP,
    last_fire_at TIMESTAMP,
    fire_count   BIGINT NOT NULL,
    last_run_id  TEXT,
    buffered     JSON,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

CREATE OR REPLACE VIEW steps AS
SELECT
    run_id,
    step                                                        AS step_id,
    split_part(step, '#', 1)                                    AS name,
    CASE
        WHEN bool_or(type = 'step.completed') THEN 'completed'
        WHEN bool_or(type = 'step.cancelled') THEN 'cancelled'
        WHEN bool_or(type = 'step.failed' AND (data ->> 'final')::BOOLEAN) THEN 'failed'
        WHEN (array_agg(type ORDER BY seq DESC))[1] = 'step.failed' THEN 'retrying'
        ELSE 'running'
    END                                                         AS status,
    max(attempt)                                                AS attempts,
    min(ts)                                                     AS started_at,
    max(ts) FILTER (WHERE type <> 'step.started')               AS finished_at,
    floor(extract(epoch FROM max(ts) FILTER (WHERE type <> 'step.started') - min(ts))
          * 1000)::BIGINT                                       AS duration_ms,
    (array_agg(data -> 'input') FILTER (WHERE type = 'step.started'))[1]      AS input,
    (array_agg(data -> 'result') FILTER (WHERE type = 'step.completed'))[1]   AS result,
    CASE WHEN NOT bool_or(type = 'step.completed')
         THEN (array_agg(data -> 'error' ORDER BY seq DESC)
               FILTER (WHERE type = 'step.failed'))[1]
    END                                                         AS error
FROM events
WHERE type LIKE 'step.%'
GROUP BY run_id, step;

CREATE OR REPLACE VIEW timers AS
SELECT
    run_id,
    step                                                        AS timer_id,
    min(ts)                                                     AS started_at,
    to_timestamp(min((data ->> 'until')::DOUBLE PRECISION)
                 FILTER (WHERE type = 'timer.started')) AT TIME ZONE 'UTC' AS fires_at,
    max(ts) FILTER (WHERE type = 'timer.fired')                 AS fired_at,
    CASE
        WHEN bool_or(type = 'timer.fired') THEN 'fired'
        WHEN bool_or(type = 'timer.cancelled') THEN 'cancelled'
        ELSE 'pending'
    END                                                         AS status
FROM events
WHERE type LIKE 'timer.%'
GROUP BY run_id, step;

CREATE OR REPLACE VIEW waits AS
SELECT
    run_id,
    step                                                        AS wait_id,
    min(data ->> 'event')                                       AS event,
    min(ts)                                                     AS started_at,
    to_timestamp(min((data ->> 'timeout_at')::DOUBLE PRECISION)
                 FILTER (WHERE type = 'wait.started')) AT TIME ZONE 'UTC' AS timeout_at,
    max(ts) FILTER (WHERE type <> 'wait.started')               AS finished_at,
    CASE
        WHEN bool_or(type = 'wait.completed') THEN 'received'
        WHEN bool_or(type = 'wait.timed_out') THEN 'timed_out'
        ELSE 'waiting'
    END                                                         AS status,
    (array_agg(data -> 'payload') FILTER (WHERE type = 'wait.completed'))[1] AS payload
FROM events
WHERE type LIKE 'wait.%'
GROUP BY run_id, step;

-- version 7: DataFrames that steps return, one table each: pw_frames.f<id>, where frame_tables
-- maps (run_id, step_id) to the id (PostgreSQL names are at most 63 bytes, too short for
-- "<run_id>/<step_id>" as the DuckDB store names them)
CREATE SCHEMA IF NOT EXISTS pw_frames;

CREATE TABLE IF NOT EXISTS frame_tables (
    id      BIGSERIAL PRIMARY KEY,
    run_id  TEXT NOT NULL,
    step_id TEXT NOT NULL,
    rows    BIGINT NOT NULL,
    columns INTEGER NOT NULL,
    UNIQUE (run_id, step_id)
);

CREATE OR REPLACE VIEW frames AS
SELECT run_id, step_id, rows, columns, 'pw_frames.f' || id AS table_name
FROM frame_tables;
