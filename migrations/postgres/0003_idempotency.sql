-- Idempotency-Key records (PostgreSQL dialect; keep in step with ../sqlite/0003_idempotency.sql).
-- One row per (API-key fingerprint, route, key): claimed `in_flight` by the first request (with a
-- renewable lease so a crashed owner's claim can be taken over), then `done` with the encoded
-- answer for 24 hours. Times are float Unix seconds.

CREATE TABLE idempotency_keys (
    -- SHA-256 (hex) of the caller's `authorization` value: never the key itself.
    scope       TEXT NOT NULL,
    -- The RPC, e.g. caduceus.v1.ChatService/CreateChatCompletion.
    route       TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    -- SHA-256 (hex) of the canonical request.
    fingerprint TEXT NOT NULL,
    -- in_flight | done
    state       TEXT NOT NULL,
    -- Random token of the request that claimed the row.
    owner       TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL,
    -- The answer: protobuf-encoded, hex; and its response metadata as a JSON object.
    response    TEXT NULL,
    metadata    TEXT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, route, idem_key)
);

CREATE INDEX idx_idempotency_expires ON idempotency_keys (expires_at);
