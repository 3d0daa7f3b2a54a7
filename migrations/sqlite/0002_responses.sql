-- Stored Responses API objects and their stream events (SQLite dialect; keep in step with
-- ../postgres/0002_responses.sql). Times are float Unix seconds; booleans INTEGER 0/1; protobuf
-- payloads are hex TEXT (the Any driver's portable types); the transcript is JSON TEXT.

CREATE TABLE responses (
    id                   TEXT PRIMARY KEY NOT NULL,
    status               TEXT NOT NULL,
    background           INTEGER NOT NULL DEFAULT 0,
    session_id           TEXT NOT NULL,
    conversation         TEXT NULL,
    previous_response_id TEXT NULL,
    created_at           REAL NOT NULL,
    updated_at           REAL NOT NULL,
    -- Least-recently-used eviction: bumped on creation, GET and chaining.
    last_used            REAL NOT NULL,
    -- caduceus.v1.Response, protobuf-encoded, hex.
    object               TEXT NOT NULL,
    -- Chat messages (history + this turn), JSON: what a chained response continues from.
    transcript           TEXT NOT NULL,
    -- caduceus.v1.ListResponseInputItemsResponse, protobuf-encoded, hex.
    input_items          TEXT NOT NULL
);

CREATE INDEX idx_responses_last_used ON responses (last_used);
CREATE INDEX idx_responses_conversation ON responses (conversation, created_at);

CREATE TABLE response_events (
    response_id     TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    sequence_number INTEGER NOT NULL,
    -- The event type, e.g. response.output_text.delta.
    kind            TEXT NOT NULL,
    -- caduceus.v1.ResponseStreamEvent, protobuf-encoded, hex.
    event           TEXT NOT NULL,
    PRIMARY KEY (response_id, sequence_number)
);
