-- Scheduled jobs (PostgreSQL dialect; keep in step with ../sqlite/0005_jobs.sql). Times are float
-- Unix seconds; flags are BIGINT 0/1; lists are JSON TEXT.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    prompt           TEXT NOT NULL,
    skills           TEXT NOT NULL,
    -- once, interval or cron; display is what the client wrote.
    schedule_kind    TEXT NOT NULL,
    schedule_display TEXT NOT NULL,
    -- NULL = unlimited.
    repeat_times     BIGINT NULL,
    repeat_completed BIGINT NOT NULL DEFAULT 0,
    enabled          BIGINT NOT NULL,
    -- scheduled, paused or completed.
    state            TEXT NOT NULL,
    deliver          TEXT NULL,
    created_at       DOUBLE PRECISION NOT NULL,
    -- The scheduler fires a job when next_run_at <= now, claiming it with a compare-and-set on
    -- this column so that several processes on one database fire it once.
    next_run_at      DOUBLE PRECISION NULL,
    last_run_at      DOUBLE PRECISION NULL,
    last_status      TEXT NULL,
    last_error       TEXT NULL,
    last_run_id      TEXT NULL
);

CREATE INDEX idx_jobs_due ON jobs (state, next_run_at);
CREATE INDEX idx_jobs_last_run ON jobs (last_run_id);
