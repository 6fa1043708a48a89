-- pyworkflow_nb store, schema version 8 (2 added the schedules table, 3 the events index,
-- 4 runs.continued_from, 5 runs.forked_from and runs.attempt_of, 6 the pw_frames schema with
-- the frames view and the step_frame macro, 7 frames.table_name, 8 the runs index and a steps
-- view that reads one run through the events index).
-- Tables are written only by the engine's single writer; the views are public API.

CREATE TABLE IF NOT EXISTS pw_meta (
    key   VARCHAR,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS runs (
    run_id          VARCHAR NOT NULL,
    workflow        VARCHAR NOT NULL,
    version         VARCHAR,
    status          VARCHAR NOT NULL,
    input           JSON,
    result          JSON,
    error           JSON,
    parent_run_id   VARCHAR,
    schedule_id     VARCHAR,
    scheduled_at    TIMESTAMP,
    idempotency_key VARCHAR,
    created_at      TIMESTAMP NOT NULL,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL,
    continued_from  VARCHAR,                -- the run this one continues (pw.continue_as_new)
    forked_from     VARCHAR,                -- the run this one was forked from (handle.fork)
    attempt_of      VARCHAR                 -- the run this row is an earlier attempt of
);                                          -- (handle.restart)

-- version 4: stores made before it get the column (last, as in the table above)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS continued_from VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS forked_from VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS attempt_of VARCHAR;

-- version 8: one run's row is a point lookup too (a start with a chosen run_id looks it up,
-- one with an idempotency key looks that up). DuckDB adds columns to an indexed table but
-- cannot drop or change one: a migration that must would drop these indexes first.
CREATE INDEX IF NOT EXISTS runs_id ON runs (run_id);
CREATE INDEX IF NOT EXISTS runs_key ON runs (idempotency_key);

CREATE TABLE IF NOT EXISTS events (
    run_id  VARCHAR NOT NULL,
    seq     INTEGER NOT NULL,
    ts      TIMESTAMP NOT NULL,
    type    VARCHAR NOT NULL,
    step    VARCHAR,
    attempt INTEGER,
    data    JSON
);

-- One run's history is a point lookup. DuckDB answers `run_id = ?` from a single-column ART
-- index (a composite (run_id, seq) index is not used for that), and seq is unique per run by
-- construction: one writer assigns it.
CREATE INDEX IF NOT EXISTS events_run ON events (run_id);

CREATE TABLE IF NOT EXISTS workflows (
    name       VARCHAR NOT NULL,
    version    VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    module     VARCHAR,
    source     VARCHAR,
    defined_at TIMESTAMP NOT NULL
);

-- One row per schedule (deleted schedules are removed; their schedule.* events remain).
CREATE TABLE IF NOT EXISTS schedules (
    schedule_id  VARCHAR NOT NULL,
    workflow     VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,          -- active | paused
    spec         JSON NOT NULL,             -- cron/every, timezone, overlap, jitter, catchup, ...
    input        JSON,                      -- {"args": [...], "kwargs": {...}}
    note         VARCHAR,
    next_fire_at TIMESTAMP,                 -- next nominal fire time (UTC), NULL when ended
    last_fire_at TIMESTAMP,
    fire_count   BIGINT NOT NULL,
    last_run_id  VARCHAR,
    buffered     JSON,                      -- nominal times waiting for a running run to end
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- The steps view picks its events with HAVING, not WHERE (version 8): DuckDB reads through
-- the events index only when a query's one filter on the table is run_id = ..., so
-- "FROM steps WHERE run_id = ?" stays a lookup in a store of any size. The event family is
-- part of the group, since a step and a timer may share an id. Timers and waits keep their
-- WHERE: their events are few, so that filter skips most of the table when all runs are read.
CREATE OR REPLACE VIEW steps AS
SELECT
    run_id,
    step                                                        AS step_id,
    split_part(step, '#', 1)                                    AS name,
    CASE
        WHEN bool_or(type = 'step.completed') THEN 'completed'
        WHEN bool_or(type = 'step.cancelled') THEN 'cancelled'
        WHEN bool_or(type = 'step.failed' AND (data ->> 'final')::BOOLEAN) THEN 'failed'
        WHEN arg_max(type, seq) = 'step.failed' THEN 'retrying'
        ELSE 'running'
    END                                                         AS status,
    max(attempt)                                                AS attempts,
    min(ts)                                                     AS started_at,
    max(ts) FILTER (WHERE type <> 'step.started')               AS finished_at,
    date_diff('millisecond', min(ts),
              max(ts) FILTER (WHERE type <> 'step.started'))    AS duration_ms,
    any_value(data -> 'input') FILTER (WHERE type = 'step.started')     AS input,
    any_value(data -> 'result') FILTER (WHERE type = 'step.completed')  AS result,
    CASE WHEN NOT bool_or(type = 'step.completed')  -- a later attempt's success clears it
         THEN arg_max(data -> 'error', seq) FILTER (WHERE type = 'step.failed')
    END                                                         AS error
FROM events
GROUP BY run_id, step, split_part(type, '.', 1)
HAVING bool_and(starts_with(type, 'step.'));

CREATE OR REPLACE VIEW timers AS
SELECT
    run_id,
    step                                                        AS timer_id,
    min(ts)                                                     AS started_at,
    to_timestamp(any_value((data ->> 'until')::DOUBLE)
                 FILTER (WHERE type = 'timer.started'))::TIMESTAMP AS fires_at,
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
    any_value(data ->> 'event')                                 AS event,
    min(ts)                                                     AS started_at,
    to_timestamp(any_value((data ->> 'timeout_at')::DOUBLE)
                 FILTER (WHERE type = 'wait.started'))::TIMESTAMP AS timeout_at,
    max(ts) FILTER (WHERE type <> 'wait.started')               AS finished_at,
    CASE
        WHEN bool_or(type = 'wait.completed') THEN 'received'
        WHEN bool_or(type = 'wait.timed_out') THEN 'timed_out'
        ELSE 'waiting'
    END                                                         AS status,
    any_value(data -> 'payload') FILTER (WHERE type = 'wait.completed') AS payload
FROM events
WHERE type LIKE 'wait.%'
GROUP BY run_id, step;

-- version 6: DataFrames that steps return, one table each, named "<run_id>/<step_id>" (7:
-- the frames view names it in table_name)
-- (names of workflows and steps hold no '/', so the last '/' splits the two)
CREATE SCHEMA IF NOT EXISTS pw_frames;

CREATE OR REPLACE VIEW frames AS
SELECT
    left(table_name, length(table_name) - strpos(reverse(table_name), '/')) AS run_id,
    right(table_name, strpos(reverse(table_name), '/') - 1)                 AS step_id,
    estimated_size                                                         AS rows,
    column_count                                                           AS columns,
    'pw_frames."' || replace(table_name, '"', '""') || '"'                AS table_name
FROM duckdb_tables()
WHERE schema_name = 'pw_frames' AND database_name = current_database();

-- FROM step_frame(run_id, step_id): one frame's rows (a step id without #n means its first call)
CREATE OR REPLACE MACRO step_frame(run_id, step_id) AS TABLE
FROM query_table('pw_frames."' || replace(run_id, '"', '""') || '/'
                 || replace(CASE WHEN contains(step_id, '#') THEN step_id
                                 ELSE step_id || '#1' END, '"', '""') || '"');
