-- Runs, their durable event log, approvals and "always" approvals (PostgreSQL dialect; keep in step
-- with ../sqlite/0004_runs.sql). Times are float Unix seconds; flags are BIGINT 0/1; JSON is TEXT.

CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    status         TEXT NOT NULL,
    created_at     DOUBLE PRECISION NOT NULL,
    updated_at     DOUBLE PRECISION NOT NULL,
    session_id     TEXT NULL,
    model          TEXT NOT NULL,
    last_event     TEXT NULL,
    -- Highest event seq written; the next event gets last_seq + 1 (contiguous from 1).
    last_seq       BIGINT NOT NULL DEFAULT 0,
    output         TEXT NULL,
    input_tokens   BIGINT NULL,
    output_tokens  BIGINT NULL,
    total_tokens   BIGINT NULL,
    error          TEXT NULL,
    -- Instance id of the process executing the run (restart recovery).
    owner          TEXT NULL,
    -- Set by StopRun on any replica; the owner polls it.
    stop_requested BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX idx_runs_status ON runs (status);

CREATE TABLE run_events (
    run_id    TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    event     TEXT NOT NULL,
    timestamp DOUBLE PRECISION NOT NULL,
    -- The event's payload fields as a JSON object.
    payload   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_approvals (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL,
    command      TEXT NOT NULL,
    description  TEXT NOT NULL,
    pattern_key  TEXT NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL,
    -- NULL while pending; then once, session, always or deny.
    choice       TEXT NULL,
    -- Why it was resolved: human, timeout or stopped.
    resolved_by  TEXT NULL,
    resolved_at  DOUBLE PRECISION NULL
);

CREATE INDEX idx_run_approvals_run ON run_approvals (run_id, requested_at);

-- Pattern keys a human answered "always" for: pre-approved for every later run.
CREATE TABLE approved_patterns (
    pattern_key TEXT PRIMARY KEY,
    approved_at DOUBLE PRECISION NOT NULL,
    run_id      TEXT NULL
);
